//! The WeChat-compatible operations. Each takes the token from the query (if the endpoint has
//! one) and the body as already parsed — `Err(44002 | 47001)` when it did not parse — so that
//! the checks run in WeChat's order inside one transaction: token first, then body, then the
//! endpoint's own rules.

use std::sync::Arc;

use fastreg_wire::account::*;
use fastreg_wire::component::*;
use fastreg_wire::ErrCode;

use super::{
    authenticate, authenticate_component, fresh_appid, issue_code, issue_token, same_component,
};
use crate::clock::shanghai_month;
use crate::domain::*;
use crate::error::{Error, Result};
use crate::rules::{self, Decision, FastRegisterContext, Policy, TicketBody};
use crate::secrets;
use crate::settings::Lifetimes;
use crate::store::view::{Lookup, View};
use crate::store::Tx;

/// A parsed body, or the errcode its parsing earned.
pub type Body<T> = std::result::Result<T, ErrCode>;

fn body<T>(b: Body<T>) -> Result<T> {
    b.map_err(Error::wx)
}

/// The checks every component endpoint makes first, in WeChat's order: the component token,
/// then the body, then the body's component_appid against the token's component.
fn component_request<T>(
    tx: &mut dyn Tx,
    token: Option<&str>,
    req: Body<T>,
    now: UnixTime,
    policy: &Policy,
    component_appid: impl Fn(&T) -> &str,
) -> Result<(TokenRecord, T)> {
    let record = authenticate_component(tx, token, now, policy.superseded_grace_secs)?;
    let req = body(req)?;
    same_component(&record, component_appid(&req))?;
    Ok((record, req))
}

/// The live authorisation of `authorizer_appid` (missing 41002; none or revoked 61003).
fn live_authorization(
    tx: &mut dyn Tx,
    component_appid: &str,
    authorizer_appid: &str,
) -> Result<Authorization> {
    if authorizer_appid.is_empty() {
        return Err(Error::wx(ErrCode::AppIdMissing));
    }
    Ok(tx
        .authorization(component_appid, authorizer_appid)?
        .filter(|a| !a.revoked)
        .ok_or(ErrCode::ComponentNotAuthorized)?)
}

/// `api_component_token`.
///
/// # Errors
/// 41002 / 61011 unknown component, 61004 IP not whitelisted, 41004 / 40125 secret,
/// 61006 / 61005 verify ticket.
pub fn component_token(
    tx: &mut dyn Tx,
    req: Body<ComponentTokenRequest>,
    client_ip: Option<std::net::IpAddr>,
    now: UnixTime,
    lifetimes: &Lifetimes,
) -> Result<ComponentTokenResponse> {
    let req = body(req)?;
    if req.component_appid.is_empty() {
        return Err(Error::wx(ErrCode::AppIdMissing));
    }
    let component = tx
        .component(&req.component_appid)?
        .ok_or(ErrCode::InvalidComponent)?;
    if !component.ip_whitelist.is_empty() {
        let allowed = client_ip.is_some_and(|ip| {
            component
                .ip_whitelist
                .iter()
                .any(|w| w.trim().parse::<std::net::IpAddr>().is_ok_and(|w| w == ip))
        });
        if !allowed {
            return Err(Error::wx_detail(
                ErrCode::ClientIpNotRegistered,
                format!("caller {client_ip:?} is not whitelisted"),
            ));
        }
    }
    if req.component_appsecret.is_empty() {
        return Err(Error::wx(ErrCode::AppSecretMissing));
    }
    if !secrets::ct_eq(&req.component_appsecret, &component.appsecret) {
        return Err(Error::wx(ErrCode::InvalidAppSecret));
    }
    let ticket = tx
        .verify_ticket(&req.component_verify_ticket)?
        .filter(|t| t.component_appid == component.appid)
        .ok_or(ErrCode::ComponentTicketInvalid)?;
    if now >= ticket.expires_at {
        return Err(Error::wx(ErrCode::ComponentTicketExpired));
    }
    let token = issue_token(
        tx,
        TokenKind::Component,
        &component.appid,
        "",
        now,
        lifetimes.component_access_token,
    )?;
    Ok(ComponentTokenResponse {
        component_access_token: token,
        expires_in: lifetimes.component_access_token,
    })
}

/// `api_start_push_ticket`: checks the secret, records a fresh verify ticket.
///
/// # Errors
/// 41002 / 61011 component, 41004 / 40125 secret.
pub fn start_push_ticket(
    tx: &mut dyn Tx,
    req: Body<StartPushTicketRequest>,
    now: UnixTime,
    lifetimes: &Lifetimes,
) -> Result<VerifyTicket> {
    let req = body(req)?;
    if req.component_appid.is_empty() {
        return Err(Error::wx(ErrCode::AppIdMissing));
    }
    let component = tx
        .component(&req.component_appid)?
        .ok_or(ErrCode::InvalidComponent)?;
    if req.component_secret.is_empty() {
        return Err(Error::wx(ErrCode::AppSecretMissing));
    }
    if !secrets::ct_eq(&req.component_secret, &component.appsecret) {
        return Err(Error::wx(ErrCode::InvalidAppSecret));
    }
    super::sandbox::issue_verify_ticket(tx, &component, now, lifetimes)
}

/// `api_create_preauthcode`.
///
/// # Errors
/// Token and component_appid checks.
pub fn create_pre_auth_code(
    tx: &mut dyn Tx,
    token: Option<&str>,
    req: Body<PreAuthCodeRequest>,
    now: UnixTime,
    lifetimes: &Lifetimes,
    policy: &Policy,
) -> Result<PreAuthCodeResponse> {
    let (record, _) = component_request(tx, token, req, now, policy, |r| &r.component_appid)?;
    let code = issue_code(
        tx,
        CodeKind::PreAuth,
        &record.component_appid,
        "",
        now,
        lifetimes.pre_auth_code,
    )?;
    Ok(PreAuthCodeResponse {
        pre_auth_code: code,
        expires_in: lifetimes.pre_auth_code,
    })
}

/// `api_query_auth`: spends an auth_code / authorization_code and issues the authorizer's
/// tokens.
///
/// # Errors
/// Token checks; 61009 unknown, used or another component's code; 61010 expired; 61003 the
/// authorisation was revoked since.
pub fn query_auth(
    tx: &mut dyn Tx,
    token: Option<&str>,
    req: Body<QueryAuthRequest>,
    now: UnixTime,
    lifetimes: &Lifetimes,
    policy: &Policy,
) -> Result<QueryAuthResponse> {
    let (record, req) = component_request(tx, token, req, now, policy, |r| &r.component_appid)?;
    let hash = secrets::hash(&req.authorization_code);
    let code = tx
        .code(&hash)?
        .filter(|c| {
            c.kind == CodeKind::Authorization
                && c.component_appid == record.component_appid
                && c.used_at.is_none()
        })
        .ok_or(ErrCode::CodeInvalid)?;
    if now >= code.expires_at {
        return Err(Error::wx(ErrCode::CodeExpired));
    }
    let auth = tx
        .authorization(&code.component_appid, &code.authorizer_appid)?
        .filter(|a| !a.revoked)
        .ok_or(ErrCode::ComponentNotAuthorized)?;
    tx.spend_code(&hash, now)?;
    let access = issue_token(
        tx,
        TokenKind::Authorizer(auth.authorizer_kind),
        &auth.component_appid,
        &auth.authorizer_appid,
        now,
        lifetimes.authorizer_access_token,
    )?;
    Ok(QueryAuthResponse {
        authorization_info: AuthorizationInfo {
            authorizer_appid: auth.authorizer_appid,
            authorizer_access_token: access,
            expires_in: lifetimes.authorizer_access_token,
            authorizer_refresh_token: auth.refresh_token,
            func_info: FuncInfo::list(&auth.permission_sets),
        },
    })
}

/// `api_authorizer_token`: a fresh authorizer_access_token from the refresh token.
///
/// # Errors
/// Token checks; 41002 no authorizer_appid; 61003 not (or no longer) authorised; 61023 wrong
/// or replaced refresh token.
pub fn authorizer_token(
    tx: &mut dyn Tx,
    token: Option<&str>,
    req: Body<AuthorizerTokenRequest>,
    now: UnixTime,
    lifetimes: &Lifetimes,
    policy: &Policy,
) -> Result<AuthorizerTokenResponse> {
    let (record, req) = component_request(tx, token, req, now, policy, |r| &r.component_appid)?;
    let auth = live_authorization(tx, &record.component_appid, &req.authorizer_appid)?;
    if req.authorizer_refresh_token.is_empty()
        || !secrets::ct_eq(&req.authorizer_refresh_token, &auth.refresh_token)
    {
        return Err(Error::wx(ErrCode::RefreshTokenInvalid));
    }
    let access = issue_token(
        tx,
        TokenKind::Authorizer(auth.authorizer_kind),
        &auth.component_appid,
        &auth.authorizer_appid,
        now,
        lifetimes.authorizer_access_token,
    )?;
    Ok(AuthorizerTokenResponse {
        authorizer_access_token: access,
        expires_in: lifetimes.authorizer_access_token,
        authorizer_refresh_token: auth.refresh_token,
    })
}

/// `api_get_authorizer_info`.
///
/// # Errors
/// Token checks; 41002; 61003 not authorised.
pub fn authorizer_info(
    tx: &mut dyn Tx,
    token: Option<&str>,
    req: Body<AuthorizerInfoRequest>,
    now: UnixTime,
    policy: &Policy,
) -> Result<AuthorizerInfoResponse> {
    let (record, req) = component_request(tx, token, req, now, policy, |r| &r.component_appid)?;
    let auth = live_authorization(tx, &record.component_appid, &req.authorizer_appid)?;
    // (name, original id, entity, verified, service type, MiniProgramInfo) of the account.
    let (nick_name, user_name, entity_id, verified, service_type, mini_program_info) =
        match auth.authorizer_kind {
            AuthorizerKind::OfficialAccount => {
                let oa = tx
                    .official_account(&auth.authorizer_appid)?
                    .ok_or(ErrCode::InvalidAppId)?;
                (
                    oa.nickname,
                    oa.user_name,
                    oa.entity_id,
                    oa.verified,
                    2,
                    None,
                )
            }
            AuthorizerKind::MiniProgram => {
                let mp = tx
                    .mini_program(&auth.authorizer_appid)?
                    .ok_or(ErrCode::InvalidAppId)?;
                let info = Some(MiniProgramInfo::default());
                (
                    mp.nickname,
                    mp.user_name,
                    mp.entity_id,
                    mp.verified,
                    0,
                    info,
                )
            }
        };
    let info = AuthorizerInfo {
        nick_name,
        service_type_info: IdInfo { id: service_type },
        verify_type_info: IdInfo {
            id: if verified { 0 } else { -1 },
        },
        user_name,
        principal_name: tx.entity(entity_id)?.map(|e| e.name).unwrap_or_default(),
        account_status: 1,
        mini_program_info,
        ..AuthorizerInfo::default()
    };
    Ok(AuthorizerInfoResponse {
        authorizer_info: info,
        authorization_info: AuthorizerAuthorization {
            authorizer_appid: auth.authorizer_appid,
            authorizer_refresh_token: auth.refresh_token,
            func_info: FuncInfo::list(&auth.permission_sets),
        },
    })
}

/// `api_get_authorizer_list`: a page of the component's live authorisations.
///
/// # Errors
/// Token checks; 47001 when `count` is 0 or over 500.
pub fn authorizer_list(
    tx: &mut dyn Tx,
    token: Option<&str>,
    req: Body<AuthorizerListRequest>,
    now: UnixTime,
    policy: &Policy,
) -> Result<AuthorizerListResponse> {
    let (record, req) = component_request(tx, token, req, now, policy, |r| &r.component_appid)?;
    if req.count == 0 || req.count > 500 {
        return Err(Error::wx_detail(
            ErrCode::DataFormatError,
            "count must be between 1 and 500",
        ));
    }
    let total = tx.count_authorizations_of_component(&record.component_appid)?;
    let list = tx
        .authorizations_of_component(&record.component_appid, req.offset, req.count)?
        .into_iter()
        .map(|a| AuthorizerListItem {
            authorizer_appid: a.authorizer_appid,
            refresh_token: a.refresh_token,
            auth_time: a.auth_time,
        })
        .collect();
    Ok(AuthorizerListResponse {
        total_count: total,
        list,
    })
}

/// Where one fastregister call got to.
#[derive(Debug, Clone)]
pub enum FastRegisterStep {
    /// Committed success: answer it.
    Done(Registration),
    /// An earlier success of this ticket: answer it again.
    Replay(Registration),
    /// The ticket is claimed and the registration is in progress (a processing delay is
    /// configured): complete it with [`fast_register_complete`] after the delay.
    Claimed(i64),
}

/// fastregister, first half: every check of the spec's §5 in order, then either the whole
/// registration (`complete_now`) or only the claim of the ticket (the registration is then
/// "in progress" until [`fast_register_complete`]).
///
/// # Errors
/// The errcode of the first failing rule.
pub fn fast_register_begin(
    tx: &mut dyn Tx,
    token: Option<&str>,
    body: TicketBody,
    now: UnixTime,
    policy: &Policy,
    lifetimes: &Lifetimes,
    complete_now: bool,
) -> Result<FastRegisterStep> {
    // The writer's checks are the authority. The view can serve them too: a value it holds
    // unchanged since the last commit is the committed one, and whatever this batch changed
    // is pending there, so read from the database.
    let ctx = match tx.writer_view() {
        Some(view) => {
            let mut source = ViewThenTx {
                view: view.lookup(),
                tx,
            };
            load_context(&mut source, token, body, now)?
        }
        None => load_context(&mut TxSource(tx), token, body, now)?,
    };
    match rules::check_fast_register(&ctx, now, policy) {
        Decision::Refuse(code) => Err(Error::wx(code)),
        Decision::Replay(reg) => Ok(FastRegisterStep::Replay(reg)),
        Decision::Proceed(ok) => {
            let claim = Registration {
                id: 0,
                ticket: ok.ticket,
                oa_appid: ok.oa_appid,
                entity_id: ok.entity_id,
                component_appid: ok.component_appid,
                status: RegistrationStatus::InProgress,
                mp_appid: None,
                authorization_code: None,
                is_wx_verify_succ: ok.is_wx_verify_succ,
                is_link_succ: false,
                created_at: now,
                completed_at: None,
                month: None,
            };
            if complete_now {
                // Claim and completion in one transaction: the registration is written once,
                // already succeeded, with the OA and component the checks just read.
                let (Some(oa), Some(component)) = (&ctx.official_account, &ctx.component) else {
                    return Err(Error::Internal(anyhow::anyhow!(
                        "an approved registration lacks its OA or component"
                    )));
                };
                let mut reg = complete(tx, claim, oa, component, now, policy, lifetimes)?;
                reg.id = tx.insert_registration(&reg)?;
                Ok(FastRegisterStep::Done(reg))
            } else {
                Ok(FastRegisterStep::Claimed(tx.insert_registration(&claim)?))
            }
        }
    }
}

/// fastregister's checks on a read snapshot, changing nothing. A refusal (or a replay) read from
/// a consistent snapshot is a correct answer at that instant, so the handler answers it
/// without queuing for the writer; only a go-ahead goes on to [`fast_register_begin`], which
/// checks again in the write transaction before committing anything.
///
/// On a backend with an in-process view, what was read is remembered there, for
/// [`fast_register_precheck_in_view`].
///
/// # Errors
/// Storage faults.
pub fn fast_register_precheck(
    tx: &mut dyn Tx,
    token: Option<&str>,
    body: TicketBody,
    now: UnixTime,
    policy: &Policy,
) -> Result<Decision> {
    let Some((view, epoch)) = tx.view() else {
        let ctx = load_context(&mut TxSource(tx), token, body, now)?;
        return Ok(rules::check_fast_register(&ctx, now, policy));
    };
    // What the view holds unchanged since this snapshot began is what the snapshot holds:
    // only the rest is read from the database.
    let mut source = ViewThenTx {
        view: view.lookup_as_of(epoch),
        tx,
    };
    let ctx = load_context(&mut source, token, body, now)?;
    view.remember(&ctx, &shanghai_month(now), epoch);
    Ok(rules::check_fast_register(&ctx, now, policy))
}

/// fastregister's checks on the in-process view alone, on the caller's thread: the same
/// decision as [`fast_register_precheck`] on a snapshot of this instant, or `None` when the
/// view lacks (or holds an outdated copy of) anything the checks read.
pub fn fast_register_precheck_in_view(
    view: &View,
    token: Option<&str>,
    body: TicketBody,
    now: UnixTime,
    policy: &Policy,
) -> Option<Decision> {
    let mut source = ViewSource(view.lookup());
    let ctx = load_context(&mut source, token, body, now).ok()?;
    Some(rules::check_fast_register(&ctx, now, policy))
}

/// Where [`load_context`] reads from: a transaction, or the in-process view (which may miss).
trait ContextSource {
    type Error;
    fn token(&mut self, hash: &str) -> std::result::Result<Option<Arc<TokenRecord>>, Self::Error>;
    fn lock_official_account(&mut self, appid: &str) -> std::result::Result<(), Self::Error>;
    fn authorization(
        &mut self,
        component: &str,
        authorizer: &str,
    ) -> std::result::Result<Option<Arc<Authorization>>, Self::Error>;
    fn component(
        &mut self,
        appid: &str,
    ) -> std::result::Result<Option<Arc<Component>>, Self::Error>;
    fn ticket(
        &mut self,
        ticket: &str,
    ) -> std::result::Result<Option<FastRegisterTicket>, Self::Error>;
    fn ticket_registration(
        &mut self,
        ticket: &str,
    ) -> std::result::Result<Option<Registration>, Self::Error>;
    fn official_account(
        &mut self,
        appid: &str,
    ) -> std::result::Result<Option<Arc<OfficialAccount>>, Self::Error>;
    fn lock_entity(&mut self, id: i64) -> std::result::Result<(), Self::Error>;
    fn entity(&mut self, id: i64) -> std::result::Result<Option<Arc<Entity>>, Self::Error>;
    fn oa_in_progress(&mut self, appid: &str) -> std::result::Result<bool, Self::Error>;
    fn oa_successes(&mut self, appid: &str, month: &str) -> std::result::Result<u32, Self::Error>;
    fn entity_mini_programs(&mut self, id: i64) -> std::result::Result<u32, Self::Error>;
}

struct TxSource<'a>(&'a mut dyn Tx);

impl ContextSource for TxSource<'_> {
    type Error = Error;
    fn token(&mut self, hash: &str) -> Result<Option<Arc<TokenRecord>>> {
        Ok(self.0.token(hash)?.map(Arc::new))
    }
    fn lock_official_account(&mut self, appid: &str) -> Result<()> {
        self.0.lock_official_account(appid)
    }
    fn authorization(
        &mut self,
        component: &str,
        authorizer: &str,
    ) -> Result<Option<Arc<Authorization>>> {
        Ok(self.0.authorization(component, authorizer)?.map(Arc::new))
    }
    fn component(&mut self, appid: &str) -> Result<Option<Arc<Component>>> {
        Ok(self.0.component(appid)?.map(Arc::new))
    }
    fn ticket(&mut self, ticket: &str) -> Result<Option<FastRegisterTicket>> {
        self.0.fastregister_ticket(ticket)
    }
    fn ticket_registration(&mut self, ticket: &str) -> Result<Option<Registration>> {
        self.0.live_registration_of_ticket(ticket)
    }
    fn official_account(&mut self, appid: &str) -> Result<Option<Arc<OfficialAccount>>> {
        Ok(self.0.official_account(appid)?.map(Arc::new))
    }
    fn lock_entity(&mut self, id: i64) -> Result<()> {
        self.0.lock_entity(id)
    }
    fn entity(&mut self, id: i64) -> Result<Option<Arc<Entity>>> {
        Ok(self.0.entity(id)?.map(Arc::new))
    }
    fn oa_in_progress(&mut self, appid: &str) -> Result<bool> {
        self.0.oa_has_registration_in_progress(appid)
    }
    fn oa_successes(&mut self, appid: &str, month: &str) -> Result<u32> {
        self.0.count_successes_in_month(appid, month)
    }
    fn entity_mini_programs(&mut self, id: i64) -> Result<u32> {
        Ok(self.0.count_entity_mini_programs(id)?
            + self.0.count_entity_registrations_in_progress(id)?)
    }
}

/// A reader's source: the view where it holds the value as of the snapshot, else the
/// snapshot.
struct ViewThenTx<'a> {
    view: Lookup<'a>,
    tx: &'a mut dyn Tx,
}

impl ContextSource for ViewThenTx<'_> {
    type Error = Error;
    fn token(&mut self, hash: &str) -> Result<Option<Arc<TokenRecord>>> {
        match self.view.token(hash) {
            Some(t) => Ok(Some(t)),
            None => TxSource(&mut *self.tx).token(hash),
        }
    }
    fn lock_official_account(&mut self, appid: &str) -> Result<()> {
        self.tx.lock_official_account(appid)
    }
    fn authorization(
        &mut self,
        component: &str,
        authorizer: &str,
    ) -> Result<Option<Arc<Authorization>>> {
        match self.view.authorization(component, authorizer) {
            Some(a) => Ok(a),
            None => TxSource(&mut *self.tx).authorization(component, authorizer),
        }
    }
    fn component(&mut self, appid: &str) -> Result<Option<Arc<Component>>> {
        match self.view.component(appid) {
            Some(c) => Ok(c),
            None => TxSource(&mut *self.tx).component(appid),
        }
    }
    fn ticket(&mut self, ticket: &str) -> Result<Option<FastRegisterTicket>> {
        match self.view.ticket(ticket) {
            Some(t) => Ok(t),
            None => self.tx.fastregister_ticket(ticket),
        }
    }
    fn ticket_registration(&mut self, ticket: &str) -> Result<Option<Registration>> {
        match self.view.ticket_registration(ticket) {
            Some(r) => Ok(r),
            None => self.tx.live_registration_of_ticket(ticket),
        }
    }
    fn official_account(&mut self, appid: &str) -> Result<Option<Arc<OfficialAccount>>> {
        match self.view.official_account(appid) {
            Some(oa) => Ok(oa),
            None => TxSource(&mut *self.tx).official_account(appid),
        }
    }
    fn lock_entity(&mut self, id: i64) -> Result<()> {
        self.tx.lock_entity(id)
    }
    fn entity(&mut self, id: i64) -> Result<Option<Arc<Entity>>> {
        match self.view.entity(id) {
            Some(e) => Ok(e),
            None => TxSource(&mut *self.tx).entity(id),
        }
    }
    fn oa_in_progress(&mut self, appid: &str) -> Result<bool> {
        match self.view.oa_in_progress(appid) {
            Some(b) => Ok(b),
            None => self.tx.oa_has_registration_in_progress(appid),
        }
    }
    fn oa_successes(&mut self, appid: &str, month: &str) -> Result<u32> {
        match self.view.oa_successes(appid, month) {
            Some(n) => Ok(n),
            None => self.tx.count_successes_in_month(appid, month),
        }
    }
    fn entity_mini_programs(&mut self, id: i64) -> Result<u32> {
        match self.view.entity_mini_programs(id) {
            Some(n) => Ok(n),
            None => TxSource(&mut *self.tx).entity_mini_programs(id),
        }
    }
}

/// The view as a source; `Err(())` is a miss.
struct ViewSource<'v>(Lookup<'v>);

impl ContextSource for ViewSource<'_> {
    type Error = ();
    fn token(&mut self, hash: &str) -> std::result::Result<Option<Arc<TokenRecord>>, ()> {
        // An unknown token is not remembered (it names no key a write would touch).
        self.0.token(hash).map(Some).ok_or(())
    }
    fn lock_official_account(&mut self, _appid: &str) -> std::result::Result<(), ()> {
        Ok(())
    }
    fn authorization(
        &mut self,
        component: &str,
        authorizer: &str,
    ) -> std::result::Result<Option<Arc<Authorization>>, ()> {
        self.0.authorization(component, authorizer).ok_or(())
    }
    fn component(&mut self, appid: &str) -> std::result::Result<Option<Arc<Component>>, ()> {
        self.0.component(appid).ok_or(())
    }
    fn ticket(&mut self, ticket: &str) -> std::result::Result<Option<FastRegisterTicket>, ()> {
        self.0.ticket(ticket).ok_or(())
    }
    fn ticket_registration(
        &mut self,
        ticket: &str,
    ) -> std::result::Result<Option<Registration>, ()> {
        self.0.ticket_registration(ticket).ok_or(())
    }
    fn official_account(
        &mut self,
        appid: &str,
    ) -> std::result::Result<Option<Arc<OfficialAccount>>, ()> {
        self.0.official_account(appid).ok_or(())
    }
    fn lock_entity(&mut self, _id: i64) -> std::result::Result<(), ()> {
        Ok(())
    }
    fn entity(&mut self, id: i64) -> std::result::Result<Option<Arc<Entity>>, ()> {
        self.0.entity(id).ok_or(())
    }
    fn oa_in_progress(&mut self, appid: &str) -> std::result::Result<bool, ()> {
        self.0.oa_in_progress(appid).ok_or(())
    }
    fn oa_successes(&mut self, appid: &str, month: &str) -> std::result::Result<u32, ()> {
        self.0.oa_successes(appid, month).ok_or(())
    }
    fn entity_mini_programs(&mut self, id: i64) -> std::result::Result<u32, ()> {
        self.0.entity_mini_programs(id).ok_or(())
    }
}

/// Loads everything [`rules::check_fast_register`] reads. Stops loading where a missing piece
/// makes the rest irrelevant: the rules then refuse on that piece.
fn load_context<S: ContextSource>(
    src: &mut S,
    token: Option<&str>,
    body: TicketBody,
    now: UnixTime,
) -> std::result::Result<FastRegisterContext, S::Error> {
    let mut ctx = FastRegisterContext {
        token_present: token.is_some_and(|t| !t.is_empty()),
        body: Some(body),
        ..FastRegisterContext::default()
    };
    let Some(token) = token.filter(|t| !t.is_empty()) else {
        return Ok(ctx);
    };
    ctx.token = src.token(&secrets::hash(token))?;
    let Some(record) = ctx.token.clone() else {
        return Ok(ctx);
    };
    if record.kind != TokenKind::Authorizer(AuthorizerKind::OfficialAccount) {
        return Ok(ctx);
    }
    let oa_appid = record.authorizer_appid.as_str();
    src.lock_official_account(oa_appid)?;
    ctx.authorization = src.authorization(&record.component_appid, oa_appid)?;
    ctx.component = src.component(&record.component_appid)?;
    if let Some(TicketBody::Ticket(t)) = &ctx.body {
        ctx.ticket = src.ticket(t)?;
        // Only a known ticket can be held by a registration (and the rules look no further
        // than an unknown one).
        if ctx.ticket.is_some() {
            ctx.ticket_registration = src.ticket_registration(t)?;
        }
    }
    ctx.official_account = src.official_account(oa_appid)?;
    if let Some(oa) = &ctx.official_account {
        src.lock_entity(oa.entity_id)?;
        ctx.entity = src.entity(oa.entity_id)?;
        ctx.oa_in_progress = src.oa_in_progress(oa_appid)?;
        ctx.oa_successes_this_month = src.oa_successes(oa_appid, &shanghai_month(now))?;
        ctx.entity_mini_programs = src.entity_mini_programs(oa.entity_id)?;
    }
    Ok(ctx)
}

/// fastregister, second half: creates the Mini Program of an in-progress registration, links
/// it to the OA (unless the OA is at its link cap), authorises it to the component with the
/// component's MP permission sets, issues the authorization_code and records the success.
///
/// # Errors
/// Storage faults only: the checks were made when the ticket was claimed, and the claim holds
/// the OA's and (through the in-progress count) the entity's place.
pub fn fast_register_complete(
    tx: &mut dyn Tx,
    id: i64,
    now: UnixTime,
    policy: &Policy,
    lifetimes: &Lifetimes,
) -> Result<Registration> {
    let reg = tx
        .registration(id)?
        .filter(|r| r.status == RegistrationStatus::InProgress)
        .ok_or_else(|| Error::Internal(anyhow::anyhow!("registration {id} is not in progress")))?;
    let oa = tx
        .official_account(&reg.oa_appid)?
        .ok_or_else(|| Error::Internal(anyhow::anyhow!("OA {} vanished", reg.oa_appid)))?;
    let component = tx
        .component(&reg.component_appid)?
        .ok_or_else(|| Error::Internal(anyhow::anyhow!("component vanished")))?;
    let done = complete(tx, reg, &oa, &component, now, policy, lifetimes)?;
    tx.update_registration(&done)?;
    Ok(done)
}

/// What completing a registration writes, except the registration itself: the Mini Program,
/// its link (unless the OA is at its link cap), its authorisation to the component with the
/// component's MP permission sets, and its authorization_code. Returns the registration as
/// succeeded, for the caller to insert or update.
fn complete(
    tx: &mut dyn Tx,
    mut reg: Registration,
    oa: &OfficialAccount,
    component: &Component,
    now: UnixTime,
    policy: &Policy,
    lifetimes: &Lifetimes,
) -> Result<Registration> {
    let linked = tx.count_linked_mini_programs(&oa.appid)?;
    let is_link_succ = rules::link_succeeds(oa, linked, policy);
    let appid = fresh_appid(tx, "mp")?;
    tx.insert_mini_program(&MiniProgram {
        appid: appid.clone(),
        user_name: secrets::user_name(),
        nickname: format!("小程序{}", &appid[appid.len() - 4..]),
        entity_id: oa.entity_id,
        registered_by_oa: oa.appid.clone(),
        linked_oa: is_link_succ.then(|| oa.appid.clone()),
        verified: reg.is_wx_verify_succ,
        created_at: now,
    })?;
    tx.put_authorization(&Authorization {
        component_appid: component.appid.clone(),
        authorizer_appid: appid.clone(),
        authorizer_kind: AuthorizerKind::MiniProgram,
        permission_sets: component.mp_permission_sets.clone(),
        refresh_token: secrets::refresh_token(),
        auth_time: now,
        revoked: false,
    })?;
    let code = issue_code(
        tx,
        CodeKind::Authorization,
        &component.appid,
        &appid,
        now,
        lifetimes.auth_code,
    )?;
    reg.status = RegistrationStatus::Succeeded;
    reg.mp_appid = Some(appid);
    reg.authorization_code = Some(code);
    reg.is_link_succ = is_link_succ;
    reg.completed_at = Some(now);
    reg.month = Some(shanghai_month(now));
    Ok(reg)
}

/// Marks an in-progress registration abandoned (its completion failed): the OA may register
/// again and the ticket is usable again. A registration no longer in progress is left alone.
///
/// # Errors
/// Storage faults.
pub fn fast_register_abandon(tx: &mut dyn Tx, id: i64) -> Result<()> {
    if let Some(mut reg) = tx
        .registration(id)?
        .filter(|r| r.status == RegistrationStatus::InProgress)
    {
        reg.status = RegistrationStatus::Abandoned;
        tx.update_registration(&reg)?;
    }
    Ok(())
}

/// The fastregister success answer of a registration.
pub fn fast_register_answer(reg: &Registration) -> FastRegisterResponse {
    FastRegisterResponse {
        appid: reg.mp_appid.clone().unwrap_or_default(),
        authorization_code: reg.authorization_code.clone().unwrap_or_default(),
        is_wx_verify_succ: reg.is_wx_verify_succ,
        is_link_succ: reg.is_link_succ,
    }
}

/// `wxamplinkget` (OA token): the Mini Programs linked to the OA.
///
/// # Errors
/// Token checks; 48001 for a component or MP token.
pub fn linked_mini_programs(
    tx: &mut dyn Tx,
    token: Option<&str>,
    now: UnixTime,
    policy: &Policy,
) -> Result<WxampLinkGetResponse> {
    let record = authenticate(tx, token, now, policy.superseded_grace_secs)?;
    if record.kind != TokenKind::Authorizer(AuthorizerKind::OfficialAccount) {
        return Err(Error::wx(ErrCode::ApiUnauthorized));
    }
    let items = tx
        .linked_mini_programs(&record.authorizer_appid)?
        .into_iter()
        .map(|mp| LinkedMiniProgram {
            appid: mp.appid,
            username: mp.user_name,
            nickname: mp.nickname,
            status: 1,
            source: "fastregister".into(),
            copy_verify_status: i64::from(mp.verified),
            selected: 0,
            released: 0,
        })
        .collect();
    Ok(WxampLinkGetResponse {
        wxopens: LinkedMiniPrograms { items },
    })
}

/// `getaccountbasicinfo` (MP token).
///
/// # Errors
/// Token checks; 48001 for a component or OA token.
pub fn account_basic_info(
    tx: &mut dyn Tx,
    token: Option<&str>,
    now: UnixTime,
    policy: &Policy,
) -> Result<AccountBasicInfoResponse> {
    let record = authenticate(tx, token, now, policy.superseded_grace_secs)?;
    if record.kind != TokenKind::Authorizer(AuthorizerKind::MiniProgram) {
        return Err(Error::wx(ErrCode::ApiUnauthorized));
    }
    let mp = tx
        .mini_program(&record.authorizer_appid)?
        .ok_or(ErrCode::InvalidAppId)?;
    let entity = tx
        .entity(mp.entity_id)?
        .ok_or_else(|| Error::Internal(anyhow::anyhow!("entity {} vanished", mp.entity_id)))?;
    Ok(AccountBasicInfoResponse {
        appid: mp.appid,
        account_type: 3,
        principal_type: entity.entity_type.principal_type(),
        principal_name: entity.name,
        realname_status: 1,
        wx_verify_info: WxVerifyInfo {
            qualification_verify: mp.verified,
            naming_verify: mp.verified,
        },
    })
}
