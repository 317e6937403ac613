//! The WeChat-compatible operations except fastregister ([`super::fast_register`]). Each takes the token from the query (if the endpoint has
//! one) and the body as already parsed — `Err(44002 | 47001)` when it did not parse — so that
//! the checks run in WeChat's order inside one transaction: token first, then body, then the
//! endpoint's own rules.

use fastreg_wire::account::*;
use fastreg_wire::component::*;
use fastreg_wire::ErrCode;

use super::{
    authenticate, authenticate_component, find_code, issue_code, issue_token, same_component,
};
use crate::domain::*;
use crate::error::{Error, Result};
use crate::rules::Policy;
use crate::secrets;
use crate::settings::Lifetimes;
use crate::store::{ReadAhead, Tx};

/// A parsed body, or the errcode its parsing earned.
pub type Body<T> = std::result::Result<T, ErrCode>;

fn body<T>(b: Body<T>) -> Result<T> {
    b.map_err(Error::wx)
}

/// The checks every component endpoint makes first, in WeChat's order: the component token,
/// then the body, then the body's component_appid against the token's component.
pub(super) fn component_request<T>(
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
pub(super) fn live_authorization(
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
    let code = find_code(tx, &req.authorization_code)?
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
    tx.spend_code(&code.hash, now)?;
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

/// What [`authorizer_token`] reads, for the writer to read ahead ([`ReadAhead`]): the
/// component token and the authorisation the body names.
pub fn authorizer_token_reads(
    token: Option<&str>,
    req: &Body<AuthorizerTokenRequest>,
) -> ReadAhead {
    let mut ahead = ReadAhead::default();
    if let Some(t) = token.filter(|t| !t.is_empty()) {
        ahead.tokens.push(secrets::storage_key(t));
    }
    if let Ok(r) = req {
        if !r.authorizer_appid.is_empty() {
            let pair = (r.component_appid.clone(), r.authorizer_appid.clone());
            ahead.authorizations.push(pair);
        }
    }
    ahead
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
    if req.count == 0 || req.count > fastreg_wire::component::AUTHORIZER_LIST_MAX {
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
