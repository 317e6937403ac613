//! The business rules of the spec's §3 and §5 as pure functions over plain data.
//!
//! [`check_fast_register`] is fastregister's whole decision: it reads a snapshot of the state
//! that one request touches ([`FastRegisterContext`]) and returns the first refusal in the
//! spec's order, a replay of an earlier success, or a go-ahead. The store loads the snapshot and
//! calls it inside its write transaction, so what is checked is what is committed. No I/O, no
//! clock: `now` is passed in, which is what makes the table test in this module possible.

use fastreg_wire::ErrCode;
use serde::{Deserialize, Serialize};

use crate::domain::{
    Authorization, AuthorizerKind, Component, Entity, FastRegisterTicket, OfficialAccount,
    Registration, RegistrationStatus, TokenKind, TokenRecord, UnixTime, FAST_REGISTER_SET,
};

/// Whether a fast-registered Mini Program inherits the OA's WeChat verification.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum VerificationPolicy {
    /// `is_wx_verify_succ` is true when `copy_wx_verify=1` and the OA is verified (the seed
    /// document's behaviour).
    #[default]
    Reuse,
    /// Never: WeChat's behaviour since 2023-12-25, when new registrations start unverified.
    Unverified,
}

/// The tunable numbers behind the rules.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct Policy {
    /// Sets a component must hold to fast-register (61029).
    pub required_component_sets: Vec<i64>,
    /// Successful fast registrations per OA per Asia/Shanghai calendar month (61055).
    pub monthly_quota: u32,
    /// Mini Programs an entity may own unless it sets its own cap (61053).
    pub entity_mini_program_cap: u32,
    /// Mini Programs an OA may have linked unless it sets its own cap (`is_link_succ`).
    pub oa_link_cap: u32,
    /// Whether registrations reuse the OA's verification.
    pub verification_policy: VerificationPolicy,
    /// Seconds a superseded access token keeps working after a newer one is issued.
    pub superseded_grace_secs: i64,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            required_component_sets: vec![3, 17, 18, 30, 31],
            monthly_quota: 5,
            entity_mini_program_cap: 50,
            oa_link_cap: 500,
            verification_policy: VerificationPolicy::Reuse,
            superseded_grace_secs: 300,
        }
    }
}

/// Rule 1 of every token-authenticated endpoint: missing 41001, unknown or superseded beyond
/// the grace period 40001, expired 42001.
///
/// # Errors
/// The errcode to answer.
pub fn check_token(
    present: bool,
    record: Option<&TokenRecord>,
    now: UnixTime,
    grace_secs: i64,
) -> Result<&TokenRecord, ErrCode> {
    if !present {
        return Err(ErrCode::AccessTokenMissing);
    }
    let record = record.ok_or(ErrCode::InvalidCredential)?;
    if let Some(at) = record.superseded_at {
        if now >= at + grace_secs {
            return Err(ErrCode::InvalidCredential);
        }
    }
    if now >= record.expires_at {
        return Err(ErrCode::AccessTokenExpired);
    }
    Ok(record)
}

/// How fastregister's body parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TicketBody {
    /// No bytes (44002).
    Empty,
    /// Not JSON, `ticket` missing or not a string, or over the size limit (47001).
    Malformed,
    /// The ticket sent.
    Ticket(String),
}

/// Everything fastregister's checks read, loaded in one transaction.
#[derive(Debug, Clone, Default)]
pub struct FastRegisterContext {
    /// Whether `access_token` was in the query.
    pub token_present: bool,
    /// The token's record, if it is known.
    pub token: Option<std::sync::Arc<TokenRecord>>,
    /// The OA's authorisation of the token's component.
    pub authorization: Option<std::sync::Arc<Authorization>>,
    /// The body (None is treated as empty).
    pub body: Option<TicketBody>,
    /// The token's component. (The rows are shared: the in-process view hands out the copies
    /// it holds rather than a clone of every field.)
    pub component: Option<std::sync::Arc<Component>>,
    /// The ticket sent, if known.
    pub ticket: Option<FastRegisterTicket>,
    /// The registration that claims or consumed the ticket (in progress or succeeded).
    pub ticket_registration: Option<Registration>,
    /// The token's OA.
    pub official_account: Option<std::sync::Arc<OfficialAccount>>,
    /// The OA's entity.
    pub entity: Option<std::sync::Arc<Entity>>,
    /// Whether the OA has a registration in progress.
    pub oa_in_progress: bool,
    /// The OA's successes in the current Asia/Shanghai month.
    pub oa_successes_this_month: u32,
    /// Mini Programs the entity owns plus registrations of it in progress.
    pub entity_mini_programs: u32,
}

/// What fastregister does with a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Answer this errcode; nothing changes.
    Refuse(ErrCode),
    /// The ticket already produced this success for this OA: answer it again, change nothing.
    Replay(Registration),
    /// Every check passed: create the Mini Program.
    Proceed(Approval),
}

/// The facts a go-ahead carries into the commit.
#[derive(Clone, PartialEq, Eq)]
pub struct Approval {
    /// The OA.
    pub oa_appid: String,
    /// Its entity.
    pub entity_id: i64,
    /// The component.
    pub component_appid: String,
    /// The ticket to consume.
    pub ticket: String,
    /// `is_wx_verify_succ` to answer.
    pub is_wx_verify_succ: bool,
}

fastreg_wire::debug_masked!(Approval { oa_appid, entity_id, component_appid, ticket masked, is_wx_verify_succ });

/// fastregister's checks, in the order of the spec's §5. The first failing rule wins.
pub fn check_fast_register(ctx: &FastRegisterContext, now: UnixTime, policy: &Policy) -> Decision {
    match decide(ctx, now, policy) {
        Ok(d) => d,
        Err(code) => Decision::Refuse(code),
    }
}

fn decide(ctx: &FastRegisterContext, now: UnixTime, policy: &Policy) -> Result<Decision, ErrCode> {
    // 1. The token.
    let token = check_token(
        ctx.token_present,
        ctx.token.as_deref(),
        now,
        policy.superseded_grace_secs,
    )?;
    // 2. Only an OA's authorizer token may register.
    if token.kind != TokenKind::Authorizer(AuthorizerKind::OfficialAccount) {
        return Err(ErrCode::ApiUnauthorized);
    }
    // 3. The OA granted set 27 to this component.
    if !ctx
        .authorization
        .as_ref()
        .is_some_and(|a| a.grants(FAST_REGISTER_SET))
    {
        return Err(ErrCode::ApiUnauthorizedToComponent);
    }
    // 4. The body.
    let sent = match ctx.body.as_ref().unwrap_or(&TicketBody::Empty) {
        TicketBody::Empty => return Err(ErrCode::EmptyPostData),
        TicketBody::Malformed => return Err(ErrCode::DataFormatError),
        TicketBody::Ticket(t) => t,
    };
    // 5. The component.
    let component = ctx.component.as_ref().ok_or(ErrCode::InvalidComponent)?;
    if !component.published {
        return Err(ErrCode::ComponentUnpublished);
    }
    if !policy
        .required_component_sets
        .iter()
        .all(|s| component.permission_sets.contains(s))
    {
        return Err(ErrCode::ComponentNeedsBaseCategory);
    }
    // 6. The ticket: known, unexpired, issued for this OA and component, not claimed by a call
    //    still in progress. A ticket this OA already spent on a success replays that success.
    let ticket = ctx
        .ticket
        .as_ref()
        .filter(|t| &t.ticket == sent)
        .ok_or(ErrCode::InvalidTicket)?;
    if now >= ticket.expires_at
        || ticket.oa_appid != token.authorizer_appid
        || ticket.component_appid != token.component_appid
    {
        return Err(ErrCode::InvalidTicket);
    }
    if let Some(reg) = ctx
        .ticket_registration
        .as_ref()
        .filter(|r| &r.ticket == sent)
    {
        match reg.status {
            RegistrationStatus::InProgress => return Err(ErrCode::InvalidTicket),
            RegistrationStatus::Succeeded if reg.oa_appid == token.authorizer_appid => {
                return Ok(Decision::Replay(reg.clone()))
            }
            RegistrationStatus::Succeeded => return Err(ErrCode::InvalidTicket),
            RegistrationStatus::Abandoned => {}
        }
    }
    // 7. The entity and the account.
    let oa = ctx
        .official_account
        .as_deref()
        .ok_or(ErrCode::InvalidAppId)?;
    let entity = ctx.entity.as_deref().ok_or(ErrCode::InvalidRealnameType)?;
    if entity.overseas {
        return Err(ErrCode::OverseasAccessDeny);
    }
    if !entity.entity_type.may_fast_register() {
        return Err(ErrCode::InvalidRealnameType);
    }
    if !oa.verified {
        return Err(ErrCode::NeedToBeCertified);
    }
    if entity.blacklisted {
        return Err(ErrCode::RealnameInBlackList);
    }
    if entity.entity_type.must_copy_wx_verify() && !ticket.copy_wx_verify {
        return Err(ErrCode::CopyWxVerifyRequired);
    }
    if ctx.oa_in_progress || oa.pending_registration {
        return Err(ErrCode::RegistrationInProgress);
    }
    if ctx.oa_successes_this_month >= policy.monthly_quota {
        return Err(ErrCode::ExceedQuotaPerMonth);
    }
    let cap = entity
        .mini_program_cap
        .unwrap_or(policy.entity_mini_program_cap);
    if ctx.entity_mini_programs >= cap {
        return Err(ErrCode::RealnameExceedLimits);
    }
    // 8. Go ahead.
    Ok(Decision::Proceed(Approval {
        oa_appid: oa.appid.clone(),
        entity_id: entity.id,
        component_appid: component.appid.clone(),
        ticket: ticket.ticket.clone(),
        is_wx_verify_succ: ticket.copy_wx_verify
            && oa.verified
            && policy.verification_policy == VerificationPolicy::Reuse,
    }))
}

/// Whether a new Mini Program of an OA with `linked` Mini Programs can be linked to it.
pub fn link_succeeds(oa: &OfficialAccount, linked: u32, policy: &Policy) -> bool {
    linked < oa.link_cap.unwrap_or(policy.oa_link_cap)
}

/// Set 27 is exclusive: an OA can grant it to one component at a time. Returns the sets to
/// grant `component`, with 27 left out while `holder` (another component) has it.
pub fn sets_to_grant(requested: &[i64], component: &str, holder: Option<&str>) -> Vec<i64> {
    let mut sets: Vec<i64> = requested
        .iter()
        .copied()
        .filter(|&s| s != FAST_REGISTER_SET || holder.is_none_or(|h| h == component))
        .collect();
    sets.sort_unstable();
    sets.dedup();
    sets
}

/// Checks a `redirect_uri` for fastregisterauth / componentloginpage: an absolute http(s) URL
/// whose host is the component's auth domain (ports ignored unless the domain names one).
///
/// The URI goes into the `Location` header as given, so the host must be the auth domain for
/// every reader of that header, not only for a browser's (WHATWG) parser, which also reads
/// `https:\\evil.com` or `https:evil.com` as a host, takes `\` for `/` and drops tabs and
/// newlines. So the URI must spell out `scheme://authority`, contain no backslash and no control
/// character, and its authority read plainly (RFC 3986: after the last `@`, before a port) must
/// name the same host as the parsed URL.
///
/// # Errors
/// 61060 for anything else: a relative or unparsable URI, another scheme, another host.
pub fn check_redirect_uri(redirect_uri: &str, auth_domain: &str) -> Result<url::Url, ErrCode> {
    if redirect_uri.contains('\\') || redirect_uri.chars().any(char::is_control) {
        return Err(ErrCode::RedirectUriIllegal);
    }
    let url = url::Url::parse(redirect_uri).map_err(|_| ErrCode::RedirectUriIllegal)?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(ErrCode::RedirectUriIllegal);
    }
    let host = url.host_str().ok_or(ErrCode::RedirectUriIllegal)?;
    let plain_host = plain_authority_host(redirect_uri).ok_or(ErrCode::RedirectUriIllegal)?;
    let domain = auth_domain.trim().trim_end_matches('/');
    let domain = domain
        .strip_prefix("https://")
        .or_else(|| domain.strip_prefix("http://"))
        .unwrap_or(domain);
    let (want_host, want_port) = match domain.rsplit_once(':') {
        Some((h, p)) if !h.is_empty() && p.parse::<u16>().is_ok() => (h, p.parse::<u16>().ok()),
        _ => (domain, None),
    };
    let is_wanted = |h: &str| {
        h.eq_ignore_ascii_case(want_host.trim_matches(['[', ']']))
            || h.eq_ignore_ascii_case(want_host)
    };
    let port_matches = want_port.is_none_or(|p| url.port_or_known_default() == Some(p));
    if domain.is_empty() || !is_wanted(host) || !is_wanted(&plain_host) || !port_matches {
        return Err(ErrCode::RedirectUriIllegal);
    }
    Ok(url)
}

/// The host of `scheme://[userinfo@]host[:port][/?#…]` read from the raw text, as a plain
/// RFC 3986 reader takes it, normalised as a host (percent-decoding, IDNA, IPv4 forms).
fn plain_authority_host(uri: &str) -> Option<String> {
    let rest = uri.split_once(':')?.1.strip_prefix("//")?;
    let authority = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = match host_port.rsplit_once(':') {
        Some((h, p)) if !host_port.ends_with(']') && p.chars().all(|c| c.is_ascii_digit()) => h,
        _ => host_port,
    };
    url::Host::parse(host).ok().map(|h| h.to_string())
}

/// Appends `key=value` (percent-encoded) to a URL's query, before any fragment: `?` when it
/// has no query yet, `&` otherwise. The existing query is kept byte for byte.
pub fn append_query(uri: &str, pairs: &[(&str, &str)]) -> String {
    let (base, fragment) = match uri.split_once('#') {
        Some((b, f)) => (b, Some(f)),
        None => (uri, None),
    };
    let encoded: String = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish();
    let sep = if !base.contains('?') {
        "?"
    } else if base.ends_with('?') || base.ends_with('&') {
        ""
    } else {
        "&"
    };
    let mut out = format!("{base}{sep}{encoded}");
    if let Some(f) = fragment {
        out.push('#');
        out.push_str(f);
    }
    out
}

#[cfg(test)]
mod tests;
