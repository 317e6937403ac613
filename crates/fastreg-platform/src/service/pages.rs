//! What the two admin-facing pages decide: componentloginpage (an account's admin authorises a
//! component) and fastregisterauth (an OA's admin confirms a fast registration). Rendering lives
//! in `http::pages`; here are the checks, shared by the page (GET) and its confirmation (POST),
//! so a confirmation re-checks everything the page showed.

use std::collections::HashMap;

use fastreg_wire::ErrCode;

use super::find_code;
use super::sandbox::{
    self, authorize_with_pre_auth_code, AuthorizationIn, AuthorizeOutcome, ConfirmationIn,
};
use crate::domain::*;
use crate::error::{Error, Result};
use crate::rules;
use crate::settings::Lifetimes;
use crate::store::Tx;

fn bad(detail: impl Into<String>) -> Error {
    Error::sandbox(400, ErrCode::DataFormatError, detail)
}

fn required<'a>(q: &'a HashMap<String, String>, name: &str) -> Result<&'a str> {
    q.get(name)
        .map(String::as_str)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| bad(format!("the link has no {name}")))
}

/// The `auth_type`s componentloginpage accepts (1 OAs, 2 MPs, 3 both, 4/5/6/8 other kinds);
/// a missing, empty or `0` one is 3.
pub const AUTH_TYPES: &[i64] = &[1, 2, 3, 4, 5, 6, 8];

/// `category_id_list`: permission set ids separated by `|` (each parsed as an `i64`).
pub const CATEGORY_ID_LIST_PATTERN: &str = "^[0-9]{1,18}(\\|[0-9]{1,18})*$";

/// componentloginpage's parameters.
#[derive(Clone, PartialEq, Eq)]
pub struct LoginRequest {
    /// The component asking.
    pub component_appid: String,
    /// The single-use code from api_create_preauthcode.
    pub pre_auth_code: String,
    /// Where the browser goes after confirming.
    pub redirect_uri: String,
    /// Which accounts may be chosen (1 OAs, 2 MPs, 3 both, 4/5/6/8 other kinds).
    pub auth_type: u8,
    /// The one account allowed, if fixed.
    pub biz_appid: Option<String>,
    /// The sets asked for (`|`-separated ids); absent: all the component's sets.
    pub category_id_list: Option<Vec<i64>>,
}

fastreg_wire::debug_masked!(LoginRequest {
    component_appid,
    pre_auth_code masked,
    redirect_uri,
    auth_type,
    biz_appid,
    category_id_list,
});

impl LoginRequest {
    /// Reads the parameters of a link or a form.
    ///
    /// # Errors
    /// 47001 for a missing parameter, an unknown `auth_type` or a malformed
    /// `category_id_list`. A missing, empty or `0` `auth_type` is 3 (both kinds), as WeChat's
    /// documentation defines a missing one: wechatpy, WxJava and EasyWeChat leave it out by
    /// default, and silenceper/wechat sends its zero value.
    pub fn parse(q: &HashMap<String, String>) -> Result<LoginRequest> {
        let auth_type = q
            .get("auth_type")
            .map(String::as_str)
            .filter(|v| !v.is_empty() && *v != "0")
            .unwrap_or("3");
        let auth_type = crate::input::integer(auth_type)
            .filter(|t| AUTH_TYPES.contains(t))
            .and_then(|t| u8::try_from(t).ok())
            .ok_or_else(|| bad("auth_type must be 1, 2, 3, 4, 5, 6 or 8"))?;
        let category_id_list = match q.get("category_id_list").filter(|v| !v.is_empty()) {
            None => None,
            Some(list) if crate::input::matches(CATEGORY_ID_LIST_PATTERN, list) => Some(
                list.split('|')
                    .map(|s| s.parse::<i64>())
                    .collect::<std::result::Result<Vec<_>, _>>()
                    .map_err(|_| {
                        bad("category_id_list must be permission set ids separated by |")
                    })?,
            ),
            Some(_) => {
                return Err(bad(
                    "category_id_list must be permission set ids separated by |",
                ))
            }
        };
        Ok(LoginRequest {
            component_appid: required(q, "component_appid")?.into(),
            pre_auth_code: required(q, "pre_auth_code")?.into(),
            redirect_uri: required(q, "redirect_uri")?.into(),
            auth_type,
            biz_appid: q.get("biz_appid").filter(|v| !v.is_empty()).cloned(),
            category_id_list,
        })
    }

    /// The parameters as name/value pairs (for links, hidden fields and the CSRF binding).
    pub fn pairs(&self) -> Vec<(&'static str, String)> {
        let mut p = vec![
            ("component_appid", self.component_appid.clone()),
            ("pre_auth_code", self.pre_auth_code.clone()),
            ("redirect_uri", self.redirect_uri.clone()),
            ("auth_type", self.auth_type.to_string()),
        ];
        if let Some(b) = &self.biz_appid {
            p.push(("biz_appid", b.clone()));
        }
        if let Some(l) = &self.category_id_list {
            let joined: Vec<String> = l.iter().map(i64::to_string).collect();
            p.push(("category_id_list", joined.join("|")));
        }
        p
    }
}

/// An account the admin can act for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountChoice {
    /// Its appid.
    pub appid: String,
    /// Its name.
    pub nickname: String,
    /// OA or MP.
    pub kind: AuthorizerKind,
    /// Its entity's name.
    pub principal_name: String,
}

/// A permission set on the page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetChoice {
    /// The set id.
    pub id: i64,
    /// Whether it can be granted.
    pub available: bool,
    /// Why not, when unavailable.
    pub reason: Option<String>,
}

/// Everything componentloginpage shows.
#[derive(Debug, Clone)]
pub struct LoginPage {
    /// The component asking.
    pub component: Component,
    /// The account chosen (`biz_appid`), if any.
    pub account: Option<AccountChoice>,
    /// Accounts to choose from when none is chosen.
    pub candidates: Vec<AccountChoice>,
    /// The sets asked for, for the chosen account.
    pub sets: Vec<SetChoice>,
}

fn account_choice(tx: &mut dyn Tx, appid: &str) -> Result<Option<AccountChoice>> {
    if let Some(oa) = tx.official_account(appid)? {
        let principal = tx.entity(oa.entity_id)?.map(|e| e.name).unwrap_or_default();
        return Ok(Some(AccountChoice {
            appid: oa.appid,
            nickname: oa.nickname,
            kind: AuthorizerKind::OfficialAccount,
            principal_name: principal,
        }));
    }
    if let Some(mp) = tx.mini_program(appid)? {
        let principal = tx.entity(mp.entity_id)?.map(|e| e.name).unwrap_or_default();
        return Ok(Some(AccountChoice {
            appid: mp.appid,
            nickname: mp.nickname,
            kind: AuthorizerKind::MiniProgram,
            principal_name: principal,
        }));
    }
    Ok(None)
}

/// componentloginpage's checks and what it shows. Refusals: unknown component 61011; unknown,
/// used or foreign pre_auth_code 61009, expired 61010; redirect off the auth domain 61060;
/// unknown account 47001.
///
/// # Errors
/// As above.
pub fn login_page(tx: &mut dyn Tx, req: &LoginRequest, now: UnixTime) -> Result<LoginPage> {
    Ok(checked_login_page(tx, req, now)?.0)
}

/// [`login_page`], with the pre_auth_code's record (which [`confirm_login`] spends).
fn checked_login_page(
    tx: &mut dyn Tx,
    req: &LoginRequest,
    now: UnixTime,
) -> Result<(LoginPage, CodeRecord)> {
    let component = tx.component(&req.component_appid)?.ok_or_else(|| {
        Error::sandbox(
            404,
            ErrCode::InvalidComponent,
            "component_appid names no component",
        )
    })?;
    let code = find_code(tx, &req.pre_auth_code)?
        .filter(|c| {
            c.kind == CodeKind::PreAuth
                && c.component_appid == component.appid
                && c.used_at.is_none()
        })
        .ok_or_else(|| {
            Error::sandbox(
                403,
                ErrCode::CodeInvalid,
                "the pre_auth_code is unknown, used or another component's",
            )
        })?;
    if now >= code.expires_at {
        return Err(Error::sandbox(
            403,
            ErrCode::CodeExpired,
            "the pre_auth_code has expired",
        ));
    }
    rules::check_redirect_uri(&req.redirect_uri, &component.auth_domain).map_err(|c| {
        Error::sandbox(
            403,
            c,
            "redirect_uri must be on the component's auth_domain",
        )
    })?;
    let account = match &req.biz_appid {
        Some(appid) => Some(account_choice(tx, appid)?.ok_or_else(|| {
            Error::sandbox(
                404,
                ErrCode::DataFormatError,
                "biz_appid names no account in this world",
            )
        })?),
        None => None,
    };
    let mut candidates = Vec::new();
    if account.is_none() {
        if matches!(req.auth_type, 1 | 3 | 6) {
            for oa in tx.official_accounts()? {
                candidates.extend(account_choice(tx, &oa.appid)?);
            }
        }
        if matches!(req.auth_type, 2 | 3 | 6) {
            for mp in tx.mini_programs(200)? {
                candidates.extend(account_choice(tx, &mp.appid)?);
            }
        }
    }
    let requested = req
        .category_id_list
        .clone()
        .unwrap_or_else(|| component.permission_sets.clone());
    let holder = match &account {
        Some(a) => tx.set_holder(&a.appid, FAST_REGISTER_SET, &component.appid)?,
        None => None,
    };
    let mut sets: Vec<SetChoice> = requested
        .iter()
        .map(|&id| match (&holder, id == FAST_REGISTER_SET) {
            (Some(h), true) => SetChoice {
                id,
                available: false,
                reason: Some(format!(
                    "already granted to component {h}: an account grants set 27 to one component at a time"
                )),
            },
            _ => SetChoice {
                id,
                available: true,
                reason: None,
            },
        })
        .collect();
    sets.sort_by_key(|s| s.id);
    sets.dedup_by_key(|s| s.id);
    let page = LoginPage {
        component,
        account,
        candidates,
        sets,
    };
    Ok((page, code))
}

/// The admin confirms componentloginpage with the sets ticked: the pre_auth_code is spent,
/// the authorisation granted (set 27 left out while another component holds it; a push to
/// the component), and the browser is sent to `redirect_uri?auth_code=…&expires_in=…`.
///
/// # Errors
/// [`login_page`]'s refusals (re-checked), 47001 when no account is chosen or a ticked set was
/// not offered or none is available.
pub fn confirm_login(
    tx: &mut dyn Tx,
    req: &LoginRequest,
    ticked: &[i64],
    now: UnixTime,
    lifetimes: &Lifetimes,
) -> Result<(String, AuthorizeOutcome)> {
    let (page, code) = checked_login_page(tx, req, now)?;
    let account = page
        .account
        .ok_or_else(|| bad("choose the account to authorise"))?;
    if ticked.is_empty() {
        return Err(bad("tick at least one permission set"));
    }
    for id in ticked {
        if !page.sets.iter().any(|s| s.id == *id && s.available) {
            return Err(bad("a ticked permission set was not offered"));
        }
    }
    tx.spend_code(&code.hash, now)?;
    let outcome = authorize_with_pre_auth_code(
        tx,
        AuthorizationIn {
            component_appid: page.component.appid,
            authorizer_appid: account.appid,
            permission_sets: ticked.to_vec(),
        },
        &req.pre_auth_code,
        now,
        lifetimes,
    )?;
    let url = rules::append_query(
        &req.redirect_uri,
        &[
            ("auth_code", &outcome.auth_code),
            ("expires_in", &lifetimes.auth_code.to_string()),
        ],
    );
    Ok((url, outcome))
}

/// fastregisterauth's parameters (`copy_wx_verify` must be `0` or `1`).
///
/// # Errors
/// 47001 for a missing parameter or another `copy_wx_verify`.
pub fn fast_register_request(q: &HashMap<String, String>) -> Result<ConfirmationIn> {
    let copy = match crate::input::integer(required(q, "copy_wx_verify")?) {
        Some(1) => true,
        Some(0) => false,
        _ => return Err(bad("copy_wx_verify must be 0 or 1")),
    };
    Ok(ConfirmationIn {
        component_appid: required(q, "component_appid")?.into(),
        appid: required(q, "appid")?.into(),
        copy_wx_verify: copy,
        redirect_uri: required(q, "redirect_uri")?.into(),
    })
}

/// Everything fastregisterauth shows.
#[derive(Debug, Clone)]
pub struct FastRegisterPage {
    /// The component asking.
    pub component: Component,
    /// The OA.
    pub official_account: OfficialAccount,
    /// Its entity.
    pub entity: Option<Entity>,
}

/// fastregisterauth's checks (the same as the sandbox confirmation's) and what it shows.
///
/// # Errors
/// 47001 unknown accounts, 61060 redirect, 61007 set 27 not granted.
pub fn fast_register_page(tx: &mut dyn Tx, req: &ConfirmationIn) -> Result<FastRegisterPage> {
    let (component, official_account) = sandbox::check_fast_registration(tx, req)?;
    let entity = tx.entity(official_account.entity_id)?;
    Ok(FastRegisterPage {
        component,
        official_account,
        entity,
    })
}
