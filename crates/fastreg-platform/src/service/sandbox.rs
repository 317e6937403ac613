//! The sandbox control API's operations (spec §8) and seeding. These stand in for what, on
//! WeChat, happens on open.weixin.qq.com and in the admin's browser and phone: creating
//! components and accounts, authorising, confirming a fast registration, moving the clock.
//!
//! Inputs refuse unknown fields (`deny_unknown_fields`): a misspelt `publised = true` in a seed
//! file must fail loudly, not silently create an unpublished component.

use fastreg_wire::ErrCode;
use serde::{Deserialize, Deserializer, Serialize};

use super::outbox;
use super::{fresh_appid, issue_code};
use fastreg_wire::push::PushEvent;

use crate::domain::*;
use crate::error::{Error, Result};
use crate::rules;
use crate::secrets;
use crate::settings::Lifetimes;
use crate::store::Tx;

fn bad(detail: impl Into<String>) -> Error {
    Error::sandbox(400, ErrCode::DataFormatError, detail)
}

fn not_found(code: ErrCode, detail: impl Into<String>) -> Error {
    Error::sandbox(404, code, detail)
}

/// For PATCH bodies: distinguishes an absent field (`None`) from an explicit `null`
/// (`Some(None)`, which clears the value).
fn double_option<'de, T: Deserialize<'de>, D: Deserializer<'de>>(
    d: D,
) -> std::result::Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// Accepts `0`/`1`, `"0"`/`"1"` and `false`/`true` for copy_wx_verify.
fn de_zero_one<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<bool, D::Error> {
    use serde::de::Error as _;
    match serde_json::Value::deserialize(d)? {
        serde_json::Value::Bool(b) => Ok(b),
        serde_json::Value::Number(n) if n.as_i64() == Some(1) => Ok(true),
        serde_json::Value::Number(n) if n.as_i64() == Some(0) => Ok(false),
        serde_json::Value::String(s) if s == "1" => Ok(true),
        serde_json::Value::String(s) if s == "0" => Ok(false),
        other => Err(D::Error::custom(format!(
            "copy_wx_verify must be 0 or 1, not {other}"
        ))),
    }
}

fn check_appid_shape(appid: &str) -> Result<()> {
    let ok = !appid.is_empty()
        && appid.len() <= 64
        && appid
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if ok {
        Ok(())
    } else {
        Err(bad(format!(
            "appid {appid:?} must be 1-64 of [A-Za-z0-9_-]"
        )))
    }
}

fn check_aes_key(key: &str) -> Result<()> {
    if key.len() == 43 && key.chars().all(|c| c.is_ascii_alphanumeric()) {
        Ok(())
    } else {
        Err(bad("encoding_aes_key must be 43 characters of [A-Za-z0-9]"))
    }
}

fn check_event_url(url: &str) -> Result<()> {
    match url::Url::parse(url) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host_str().is_some() => Ok(()),
        // Not echoed: a URL may carry credentials, and refusals are logged.
        _ => Err(bad("event_url must be an absolute http(s) URL")),
    }
}

fn check_sets(sets: &[i64]) -> Result<()> {
    if sets.iter().all(|&s| (1..=1000).contains(&s)) {
        Ok(())
    } else {
        Err(bad("permission set ids are between 1 and 1000"))
    }
}

/// Reserves the appid the caller chose (409 when taken) or draws a fresh one.
fn given_or_fresh_appid(tx: &mut dyn Tx, given: Option<String>, kind: &str) -> Result<String> {
    let Some(appid) = given else {
        return fresh_appid(tx, kind);
    };
    check_appid_shape(&appid)?;
    if !tx.reserve_appid(&appid, kind)? {
        return Err(Error::sandbox(
            409,
            ErrCode::InvalidAppId,
            format!("appid {appid} is taken"),
        ));
    }
    Ok(appid)
}

/// `POST /sandbox/v1/components` (and a seed's `[[components]]`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ComponentIn {
    /// Generated when absent.
    #[serde(default)]
    pub appid: Option<String>,
    /// Generated when absent.
    #[serde(default)]
    pub appsecret: Option<String>,
    /// Push signature token; generated when absent.
    #[serde(default)]
    pub token: Option<String>,
    /// Generated when absent.
    #[serde(default)]
    pub encoding_aes_key: Option<String>,
    /// Where pushes go.
    #[serde(default)]
    pub event_url: Option<String>,
    /// The host redirect_uris must use.
    pub auth_domain: String,
    /// Fully released.
    pub published: bool,
    /// Sets the component holds.
    pub permission_sets: Vec<i64>,
    /// Sets its fast-registered Mini Programs grant it; defaults to `permission_sets`.
    #[serde(default)]
    pub mp_permission_sets: Option<Vec<i64>>,
    /// IPs allowed to call api_component_token; empty = any.
    #[serde(default)]
    pub ip_whitelist: Option<Vec<String>>,
}

/// `PATCH /sandbox/v1/components/{appid}`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ComponentPatch {
    /// New secret.
    #[serde(default)]
    pub appsecret: Option<String>,
    /// New push token.
    #[serde(default)]
    pub token: Option<String>,
    /// New EncodingAESKey.
    #[serde(default)]
    pub encoding_aes_key: Option<String>,
    /// New event URL (`null` removes it).
    #[serde(default, deserialize_with = "double_option")]
    pub event_url: Option<Option<String>>,
    /// New auth domain.
    #[serde(default)]
    pub auth_domain: Option<String>,
    /// Published or not.
    #[serde(default)]
    pub published: Option<bool>,
    /// New sets.
    #[serde(default)]
    pub permission_sets: Option<Vec<i64>>,
    /// New MP sets.
    #[serde(default)]
    pub mp_permission_sets: Option<Vec<i64>>,
    /// New whitelist.
    #[serde(default)]
    pub ip_whitelist: Option<Vec<String>>,
}

/// Creates a component and issues its first verify ticket.
///
/// # Errors
/// 47001 for malformed fields, 409 when the appid is taken.
pub fn create_component(
    tx: &mut dyn Tx,
    input: ComponentIn,
    now: UnixTime,
    lifetimes: &Lifetimes,
) -> Result<Component> {
    if input.auth_domain.trim().is_empty() {
        return Err(bad("auth_domain is required"));
    }
    check_sets(&input.permission_sets)?;
    if let Some(k) = &input.encoding_aes_key {
        check_aes_key(k)?;
    }
    if let Some(u) = &input.event_url {
        check_event_url(u)?;
    }
    let appid = given_or_fresh_appid(tx, input.appid, "component")?;
    let mp_sets = input
        .mp_permission_sets
        .unwrap_or_else(|| input.permission_sets.clone());
    check_sets(&mp_sets)?;
    let c = Component {
        appid,
        appsecret: input.appsecret.unwrap_or_else(secrets::appsecret),
        token: input.token.unwrap_or_else(|| secrets::alnum(32)),
        encoding_aes_key: input
            .encoding_aes_key
            .unwrap_or_else(secrets::encoding_aes_key),
        event_url: input.event_url,
        auth_domain: input.auth_domain.trim().to_string(),
        published: input.published,
        permission_sets: input.permission_sets,
        mp_permission_sets: mp_sets,
        ip_whitelist: input.ip_whitelist.unwrap_or_default(),
        created_at: now,
    };
    tx.insert_component(&c)?;
    issue_verify_ticket(tx, &c, now, lifetimes)?;
    Ok(c)
}

/// Applies a PATCH to a component.
///
/// # Errors
/// 404 unknown component, 47001 malformed fields.
pub fn patch_component(tx: &mut dyn Tx, appid: &str, p: ComponentPatch) -> Result<Component> {
    let mut c = tx
        .component(appid)?
        .ok_or_else(|| not_found(ErrCode::InvalidComponent, format!("no component {appid}")))?;
    if let Some(v) = p.appsecret {
        c.appsecret = v;
    }
    if let Some(v) = p.token {
        c.token = v;
    }
    if let Some(v) = p.encoding_aes_key {
        check_aes_key(&v)?;
        c.encoding_aes_key = v;
    }
    if let Some(v) = p.event_url {
        if let Some(u) = &v {
            check_event_url(u)?;
        }
        c.event_url = v;
    }
    if let Some(v) = p.auth_domain {
        if v.trim().is_empty() {
            return Err(bad("auth_domain cannot be empty"));
        }
        c.auth_domain = v.trim().to_string();
    }
    if let Some(v) = p.published {
        c.published = v;
    }
    if let Some(v) = p.permission_sets {
        check_sets(&v)?;
        c.permission_sets = v;
    }
    if let Some(v) = p.mp_permission_sets {
        check_sets(&v)?;
        c.mp_permission_sets = v;
    }
    if let Some(v) = p.ip_whitelist {
        c.ip_whitelist = v;
    }
    tx.update_component(&c)?;
    Ok(c)
}

/// A component by appid.
///
/// # Errors
/// 404 when unknown.
pub fn component(tx: &mut dyn Tx, appid: &str) -> Result<Component> {
    tx.component(appid)?
        .ok_or_else(|| not_found(ErrCode::InvalidComponent, format!("no component {appid}")))
}

/// Issues a fresh component_verify_ticket (on creation, every interval, on demand).
///
/// # Errors
/// Storage faults.
pub fn issue_verify_ticket(
    tx: &mut dyn Tx,
    component: &Component,
    now: UnixTime,
    lifetimes: &Lifetimes,
) -> Result<VerifyTicket> {
    let t = VerifyTicket {
        component_appid: component.appid.clone(),
        ticket: secrets::verify_ticket(),
        create_time: now,
        expires_at: now + lifetimes.component_verify_ticket,
    };
    tx.insert_verify_ticket(&t)?;
    outbox::enqueue(
        tx,
        component,
        &PushEvent::ComponentVerifyTicket {
            app_id: component.appid.clone(),
            create_time: now,
            ticket: t.ticket.clone(),
        },
        now,
    )?;
    Ok(t)
}

/// Issues a ticket to every component whose newest one is at least an interval old (one
/// ticket however many intervals passed: only the newest matters). Returns the new tickets.
///
/// # Errors
/// Storage faults.
pub fn issue_due_verify_tickets(
    tx: &mut dyn Tx,
    now: UnixTime,
    lifetimes: &Lifetimes,
) -> Result<Vec<VerifyTicket>> {
    let mut issued = Vec::new();
    for c in tx.components()? {
        let due = tx
            .latest_verify_ticket(&c.appid)?
            .is_none_or(|t| now >= t.create_time + lifetimes.verify_ticket_interval);
        if due {
            issued.push(issue_verify_ticket(tx, &c, now, lifetimes)?);
        }
    }
    Ok(issued)
}

/// The newest verify ticket of a component.
///
/// # Errors
/// 404 unknown component.
pub fn latest_verify_ticket(tx: &mut dyn Tx, appid: &str) -> Result<VerifyTicket> {
    component(tx, appid)?;
    tx.latest_verify_ticket(appid)?.ok_or_else(|| {
        not_found(
            ErrCode::ComponentTicketInvalid,
            "no verify ticket issued yet",
        )
    })
}

/// `POST /sandbox/v1/entities`.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EntityIn {
    /// Seeds may fix the id so OAs can refer to it; assigned when absent.
    #[serde(default)]
    pub id: Option<i64>,
    /// Registered name.
    pub name: String,
    /// Legal form.
    #[serde(rename = "type")]
    pub entity_type: EntityType,
    /// Overseas.
    #[serde(default)]
    pub overseas: bool,
    /// Blacklisted.
    #[serde(default)]
    pub blacklisted: bool,
    /// Its own Mini Program cap.
    #[serde(default)]
    pub mini_program_cap: Option<u32>,
}

/// `PATCH /sandbox/v1/entities/{id}`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EntityPatch {
    /// New name.
    #[serde(default)]
    pub name: Option<String>,
    /// New legal form.
    #[serde(default, rename = "type")]
    pub entity_type: Option<EntityType>,
    /// Overseas.
    #[serde(default)]
    pub overseas: Option<bool>,
    /// Blacklisted.
    #[serde(default)]
    pub blacklisted: Option<bool>,
    /// New cap (`null`: the platform default).
    #[serde(default, deserialize_with = "double_option")]
    pub mini_program_cap: Option<Option<u32>>,
}

/// Creates an entity.
///
/// # Errors
/// 47001 empty name or non-positive id, 409 id taken.
pub fn create_entity(tx: &mut dyn Tx, input: EntityIn) -> Result<Entity> {
    if input.name.trim().is_empty() {
        return Err(bad("name is required"));
    }
    if let Some(id) = input.id {
        if id <= 0 {
            return Err(bad("id must be positive"));
        }
        if tx.entity(id)?.is_some() {
            return Err(Error::sandbox(
                409,
                ErrCode::DataFormatError,
                format!("entity {id} exists"),
            ));
        }
    }
    let mut e = Entity {
        id: input.id.unwrap_or(0),
        name: input.name,
        entity_type: input.entity_type,
        overseas: input.overseas,
        blacklisted: input.blacklisted,
        mini_program_cap: input.mini_program_cap,
    };
    e.id = tx.insert_entity(&e)?;
    Ok(e)
}

/// Applies a PATCH to an entity.
///
/// # Errors
/// 404 unknown entity.
pub fn patch_entity(tx: &mut dyn Tx, id: i64, p: EntityPatch) -> Result<Entity> {
    let mut e = entity(tx, id)?;
    if let Some(v) = p.name {
        e.name = v;
    }
    if let Some(v) = p.entity_type {
        e.entity_type = v;
    }
    if let Some(v) = p.overseas {
        e.overseas = v;
    }
    if let Some(v) = p.blacklisted {
        e.blacklisted = v;
    }
    if let Some(v) = p.mini_program_cap {
        e.mini_program_cap = v;
    }
    tx.update_entity(&e)?;
    Ok(e)
}

/// An entity by id.
///
/// # Errors
/// 404 when unknown.
pub fn entity(tx: &mut dyn Tx, id: i64) -> Result<Entity> {
    tx.entity(id)?
        .ok_or_else(|| not_found(ErrCode::DataFormatError, format!("no entity {id}")))
}

/// `POST /sandbox/v1/official-accounts`.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OfficialAccountIn {
    /// Generated when absent.
    #[serde(default)]
    pub appid: Option<String>,
    /// Original id; generated when absent.
    #[serde(default)]
    pub user_name: Option<String>,
    /// Display name.
    pub nickname: String,
    /// Owning entity.
    pub entity_id: i64,
    /// WeChat-verified.
    pub verified: bool,
    /// Has a Mini Program pending registration.
    #[serde(default)]
    pub pending_registration: bool,
    /// Its own link cap.
    #[serde(default)]
    pub link_cap: Option<u32>,
}

/// `PATCH /sandbox/v1/official-accounts/{appid}`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OfficialAccountPatch {
    /// New name.
    #[serde(default)]
    pub nickname: Option<String>,
    /// New entity.
    #[serde(default)]
    pub entity_id: Option<i64>,
    /// Verified.
    #[serde(default)]
    pub verified: Option<bool>,
    /// Pending registration flag.
    #[serde(default)]
    pub pending_registration: Option<bool>,
    /// New link cap (`null`: the platform default).
    #[serde(default, deserialize_with = "double_option")]
    pub link_cap: Option<Option<u32>>,
}

/// Creates an OA.
///
/// # Errors
/// 404 unknown entity, 409 appid taken, 47001 malformed fields.
pub fn create_official_account(
    tx: &mut dyn Tx,
    input: OfficialAccountIn,
    now: UnixTime,
) -> Result<OfficialAccount> {
    if input.nickname.trim().is_empty() {
        return Err(bad("nickname is required"));
    }
    entity(tx, input.entity_id)?;
    let appid = given_or_fresh_appid(tx, input.appid, "oa")?;
    let oa = OfficialAccount {
        appid,
        user_name: input.user_name.unwrap_or_else(secrets::user_name),
        nickname: input.nickname,
        entity_id: input.entity_id,
        verified: input.verified,
        pending_registration: input.pending_registration,
        link_cap: input.link_cap,
        created_at: now,
    };
    tx.insert_official_account(&oa)?;
    Ok(oa)
}

/// Applies a PATCH to an OA.
///
/// # Errors
/// 404 unknown OA or entity.
pub fn patch_official_account(
    tx: &mut dyn Tx,
    appid: &str,
    p: OfficialAccountPatch,
) -> Result<OfficialAccount> {
    let mut oa = official_account(tx, appid)?;
    if let Some(v) = p.nickname {
        oa.nickname = v;
    }
    if let Some(v) = p.entity_id {
        entity(tx, v)?;
        oa.entity_id = v;
    }
    if let Some(v) = p.verified {
        oa.verified = v;
    }
    if let Some(v) = p.pending_registration {
        oa.pending_registration = v;
    }
    if let Some(v) = p.link_cap {
        oa.link_cap = v;
    }
    tx.update_official_account(&oa)?;
    Ok(oa)
}

/// An OA by appid.
///
/// # Errors
/// 404 when unknown.
pub fn official_account(tx: &mut dyn Tx, appid: &str) -> Result<OfficialAccount> {
    tx.official_account(appid)?.ok_or_else(|| {
        not_found(
            ErrCode::InvalidAppId,
            format!("no official account {appid}"),
        )
    })
}

/// `POST /sandbox/v1/authorizations`: what confirming on componentloginpage does.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AuthorizationIn {
    /// The component.
    pub component_appid: String,
    /// The OA (or MP) authorising it.
    pub authorizer_appid: String,
    /// The sets the admin ticks.
    pub permission_sets: Vec<i64>,
}

/// Whether an authorisation is new or changed an existing one (which push it causes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum AuthorizationChange {
    /// A new (or previously revoked) authorisation: `authorized`.
    Authorized,
    /// A re-authorisation with other sets: `updateauthorized`.
    Updated,
    /// A re-authorisation with the same sets (no push; the refresh token is still replaced).
    Unchanged,
}

/// What an authorisation produced.
#[derive(Debug, Clone, Serialize)]
pub struct AuthorizeOutcome {
    /// The auth_code to exchange with api_query_auth.
    pub auth_code: String,
    /// Its lifetime.
    pub expires_in: i64,
    /// The authorisation as stored.
    pub authorization: Authorization,
    /// New, updated or unchanged.
    pub change: AuthorizationChange,
    /// Sets asked for but not granted (27 held by another component).
    pub withheld_sets: Vec<i64>,
}

/// Grants (or re-grants) an authorisation. Set 27 is left out while another component holds
/// it for the account; a re-authorisation replaces the refresh token (the old one answers
/// 61023).
///
/// # Errors
/// 404 unknown component or account, 47001 no sets.
pub fn authorize(
    tx: &mut dyn Tx,
    input: AuthorizationIn,
    now: UnixTime,
    lifetimes: &Lifetimes,
) -> Result<AuthorizeOutcome> {
    authorize_with_pre_auth_code(tx, input, "", now, lifetimes)
}

/// [`authorize`] as componentloginpage does it, naming the pre_auth_code spent (it appears in
/// the `authorized` / `updateauthorized` push).
///
/// # Errors
/// As [`authorize`].
pub fn authorize_with_pre_auth_code(
    tx: &mut dyn Tx,
    input: AuthorizationIn,
    pre_auth_code: &str,
    now: UnixTime,
    lifetimes: &Lifetimes,
) -> Result<AuthorizeOutcome> {
    let component = component(tx, &input.component_appid)?;
    let kind = if tx.official_account(&input.authorizer_appid)?.is_some() {
        AuthorizerKind::OfficialAccount
    } else if tx.mini_program(&input.authorizer_appid)?.is_some() {
        AuthorizerKind::MiniProgram
    } else {
        return Err(not_found(
            ErrCode::InvalidAppId,
            format!("no account {}", input.authorizer_appid),
        ));
    };
    if input.permission_sets.is_empty() {
        return Err(bad("permission_sets must not be empty"));
    }
    check_sets(&input.permission_sets)?;
    let holder = tx.set_holder(
        &input.authorizer_appid,
        FAST_REGISTER_SET,
        &input.component_appid,
    )?;
    let sets = rules::sets_to_grant(
        &input.permission_sets,
        &input.component_appid,
        holder.as_deref(),
    );
    if sets.is_empty() {
        return Err(bad(format!(
            "nothing to grant: permission set 27 is held for {} by component {}",
            input.authorizer_appid,
            holder.as_deref().unwrap_or("another component")
        )));
    }
    let mut withheld: Vec<i64> = input
        .permission_sets
        .iter()
        .copied()
        .filter(|s| !sets.contains(s))
        .collect();
    withheld.sort_unstable();
    withheld.dedup();
    let previous = tx
        .authorization(&input.component_appid, &input.authorizer_appid)?
        .filter(|a| !a.revoked);
    let change = match &previous {
        None => AuthorizationChange::Authorized,
        Some(p) if p.permission_sets == sets => AuthorizationChange::Unchanged,
        Some(_) => AuthorizationChange::Updated,
    };
    let authorization = Authorization {
        component_appid: input.component_appid.clone(),
        authorizer_appid: input.authorizer_appid.clone(),
        authorizer_kind: kind,
        permission_sets: sets,
        refresh_token: secrets::refresh_token(),
        auth_time: now,
        revoked: false,
    };
    tx.put_authorization(&authorization)?;
    let auth_code = issue_code(
        tx,
        CodeKind::Authorization,
        &input.component_appid,
        &input.authorizer_appid,
        now,
        lifetimes.auth_code,
    )?;
    let event = |update: bool| {
        let (app_id, authorizer_appid) = (component.appid.clone(), input.authorizer_appid.clone());
        let (authorization_code, pre_auth_code) = (auth_code.clone(), pre_auth_code.to_string());
        let authorization_code_expired_time = now + lifetimes.auth_code;
        if update {
            PushEvent::UpdateAuthorized {
                app_id,
                create_time: now,
                authorizer_appid,
                authorization_code,
                authorization_code_expired_time,
                pre_auth_code,
            }
        } else {
            PushEvent::Authorized {
                app_id,
                create_time: now,
                authorizer_appid,
                authorization_code,
                authorization_code_expired_time,
                pre_auth_code,
            }
        }
    };
    // WeChat sends no updateauthorized when the granted sets did not change.
    match change {
        AuthorizationChange::Authorized => outbox::enqueue(tx, &component, &event(false), now)?,
        AuthorizationChange::Updated => outbox::enqueue(tx, &component, &event(true), now)?,
        AuthorizationChange::Unchanged => {}
    }
    Ok(AuthorizeOutcome {
        auth_code,
        expires_in: lifetimes.auth_code,
        authorization,
        change,
        withheld_sets: withheld,
    })
}

/// `POST /sandbox/v1/authorizations/revoke`: the account's admin cancels the authorisation.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RevocationIn {
    /// The component.
    pub component_appid: String,
    /// The OA (or MP) revoking it.
    pub authorizer_appid: String,
}

/// Revokes an authorisation: its access tokens stop working at once (40001), its refresh
/// token answers 61003, and an `unauthorized` push goes to the component.
///
/// # Errors
/// 404 when there is no live authorisation of that pair.
pub fn revoke(tx: &mut dyn Tx, input: RevocationIn, now: UnixTime) -> Result<Authorization> {
    let component = component(tx, &input.component_appid)?;
    let mut auth = tx
        .authorization(&input.component_appid, &input.authorizer_appid)?
        .filter(|a| !a.revoked)
        .ok_or_else(|| {
            not_found(
                ErrCode::ComponentNotAuthorized,
                format!(
                    "{} has no live authorisation of {}",
                    input.authorizer_appid, input.component_appid
                ),
            )
        })?;
    auth.revoked = true;
    tx.put_authorization(&auth)?;
    // Every access token of the authorisation stops now (superseded ones in their grace
    // period too), and codes not yet exchanged cannot be exchanged after a re-authorisation.
    tx.invalidate_tokens(
        TokenKind::Authorizer(auth.authorizer_kind),
        &auth.component_appid,
        &auth.authorizer_appid,
    )?;
    tx.spend_codes_of(&auth.component_appid, &auth.authorizer_appid, now)?;
    outbox::enqueue(
        tx,
        &component,
        &PushEvent::Unauthorized {
            app_id: component.appid.clone(),
            create_time: now,
            authorizer_appid: auth.authorizer_appid.clone(),
        },
        now,
    )?;
    Ok(auth)
}

/// `POST /sandbox/v1/fastregister-confirmations`: what confirming on fastregisterauth does.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ConfirmationIn {
    /// The component.
    pub component_appid: String,
    /// The OA whose admin confirms.
    pub appid: String,
    /// Reuse the OA's verification (0/1).
    #[serde(deserialize_with = "de_zero_one")]
    pub copy_wx_verify: bool,
    /// Where the admin's browser goes next (host = the component's auth domain).
    pub redirect_uri: String,
}

/// A confirmed fast registration: the ticket and where the browser is sent.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ConfirmationOut {
    /// The fastregister ticket.
    pub ticket: String,
    /// `redirect_uri` with `ticket` appended.
    pub redirect_url: String,
    /// When the ticket expires.
    pub expires_at: UnixTime,
}

/// fastregisterauth's checks, in order: unknown component or OA 47001, redirect host not the
/// auth domain 61060, set 27 not granted to the component 61007. The page and the sandbox call
/// both run them, so they refuse exactly alike.
///
/// # Errors
/// As above.
pub fn check_fast_registration(
    tx: &mut dyn Tx,
    input: &ConfirmationIn,
) -> Result<(Component, OfficialAccount)> {
    let component = tx.component(&input.component_appid)?.ok_or_else(|| {
        not_found(
            ErrCode::DataFormatError,
            format!("no component {}", input.component_appid),
        )
    })?;
    let oa = tx.official_account(&input.appid)?.ok_or_else(|| {
        not_found(
            ErrCode::DataFormatError,
            format!("no official account {}", input.appid),
        )
    })?;
    rules::check_redirect_uri(&input.redirect_uri, &component.auth_domain).map_err(|code| {
        Error::sandbox(
            400,
            code,
            format!(
                "redirect_uri host must be the component's auth domain {}",
                component.auth_domain
            ),
        )
    })?;
    let granted = tx
        .authorization(&component.appid, &oa.appid)?
        .is_some_and(|a| a.grants(FAST_REGISTER_SET));
    if !granted {
        return Err(Error::sandbox(
            400,
            ErrCode::ApiUnauthorizedToComponent,
            "the OA has not granted permission set 27 to this component",
        ));
    }
    Ok((component, oa))
}

/// Confirms a fast registration after [`check_fast_registration`]: issues the ticket and the
/// redirect URL.
///
/// # Errors
/// As above; every refusal leaves nothing behind.
pub fn confirm_fast_registration(
    tx: &mut dyn Tx,
    input: ConfirmationIn,
    now: UnixTime,
    lifetimes: &Lifetimes,
) -> Result<ConfirmationOut> {
    let (component, oa) = check_fast_registration(tx, &input)?;
    let ticket = FastRegisterTicket {
        ticket: secrets::fastregister_ticket(),
        component_appid: component.appid,
        oa_appid: oa.appid,
        copy_wx_verify: input.copy_wx_verify,
        issued_at: now,
        expires_at: now + lifetimes.fastregister_ticket,
    };
    tx.insert_fastregister_ticket(&ticket)?;
    Ok(ConfirmationOut {
        redirect_url: rules::append_query(&input.redirect_uri, &[("ticket", &ticket.ticket)]),
        ticket: ticket.ticket,
        expires_at: ticket.expires_at,
    })
}

/// Meta key of the sandbox clock's offset.
pub const CLOCK_OFFSET_KEY: &str = "clock_offset";

/// The persisted clock offset (0 when never moved).
///
/// # Errors
/// Storage faults, or a corrupt value.
pub fn clock_offset(tx: &mut dyn Tx) -> Result<i64> {
    match tx.meta(CLOCK_OFFSET_KEY)? {
        None => Ok(0),
        Some(v) => v
            .parse()
            .map_err(|_| Error::Internal(anyhow::anyhow!("corrupt clock offset {v:?}"))),
    }
}

/// Moves the sandbox clock forward; returns the new offset.
///
/// # Errors
/// 47001 for a negative or absurd step (the clock never runs backwards: expiries would
/// un-expire).
pub fn advance_clock(tx: &mut dyn Tx, seconds: i64) -> Result<i64> {
    if !(0..=100 * 365 * 86_400).contains(&seconds) {
        return Err(bad("seconds must be between 0 and 100 years"));
    }
    let offset = clock_offset(tx)? + seconds;
    tx.set_meta(CLOCK_OFFSET_KEY, &offset.to_string())?;
    Ok(offset)
}

/// A seed world: the same shapes as the sandbox API, applied to a new database.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedWorld {
    /// Components.
    #[serde(default)]
    pub components: Vec<ComponentIn>,
    /// Entities (give them ids so OAs can refer to them).
    #[serde(default)]
    pub entities: Vec<EntityIn>,
    /// Official Accounts.
    #[serde(default)]
    pub official_accounts: Vec<OfficialAccountIn>,
    /// Authorisations.
    #[serde(default)]
    pub authorizations: Vec<AuthorizationIn>,
}

impl SeedWorld {
    /// Parses a TOML seed.
    ///
    /// # Errors
    /// The TOML error, with line and column.
    pub fn from_toml(text: &str) -> std::result::Result<SeedWorld, String> {
        toml::from_str(text).map_err(|e| {
            // toml's Display draws the offending line over several lines; keep one line.
            let at = e.span().map(|span| {
                let before = &text[..span.start.min(text.len())];
                let line = before.matches('\n').count() + 1;
                let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
                format!("line {line}, column {column}: ")
            });
            format!("{}{}", at.unwrap_or_default(), e.message().trim())
        })
    }
}

/// Meta key set once a database has been seeded.
pub const INITIALIZED_KEY: &str = "initialized_at";

/// Whether the database was seeded already.
///
/// # Errors
/// Storage faults.
pub fn is_initialized(tx: &mut dyn Tx) -> Result<bool> {
    Ok(tx.meta(INITIALIZED_KEY)?.is_some())
}

/// Applies a seed to a new database, all or nothing, and marks it initialised.
///
/// # Errors
/// The first item that fails, named by its position in the seed.
pub fn apply_seed(
    tx: &mut dyn Tx,
    seed: SeedWorld,
    now: UnixTime,
    lifetimes: &Lifetimes,
) -> Result<()> {
    let ctx = |what: &str, i: usize, e: Error| match e {
        Error::Wx { code, detail, .. } => Error::Internal(anyhow::anyhow!(
            "seed {what}[{i}]: {code}{}",
            detail.map(|d| format!(": {d}")).unwrap_or_default()
        )),
        other => other,
    };
    for (i, c) in seed.components.into_iter().enumerate() {
        create_component(tx, c, now, lifetimes).map_err(|e| ctx("components", i, e))?;
    }
    for (i, e) in seed.entities.into_iter().enumerate() {
        create_entity(tx, e).map_err(|e| ctx("entities", i, e))?;
    }
    for (i, oa) in seed.official_accounts.into_iter().enumerate() {
        create_official_account(tx, oa, now).map_err(|e| ctx("official_accounts", i, e))?;
    }
    for (i, a) in seed.authorizations.into_iter().enumerate() {
        authorize(tx, a, now, lifetimes).map_err(|e| ctx("authorizations", i, e))?;
    }
    tx.set_meta(INITIALIZED_KEY, &now.to_string())?;
    Ok(())
}
