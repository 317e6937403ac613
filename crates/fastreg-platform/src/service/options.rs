//! The authorizer options (`api_get_authorizer_option`, `api_set_authorizer_option` and their
//! newer twins without the `api_` prefix): WeChat's three per-account switches, their allowed
//! values and the permission set each needs, checked in WeChat's order inside one transaction.
//!
//! A value belongs to the account (the OA or MP), not to the component asking: two components
//! authorised with the right set see the same value. Values are kept in the store's key/value
//! meta table under `authorizer_option/{appid}/{name}` (no table of their own; an option never
//! set reads as `"0"`).

use fastreg_wire::options::{
    AuthorizerOptionResponse, GetAuthorizerOptionRequest, SetAuthorizerOptionRequest,
};
use fastreg_wire::ErrCode;

use super::authenticate;
use super::wechat::{component_request, live_authorization, Body};
use crate::domain::{Authorization, TokenKind, UnixTime};
use crate::error::{Error, Result};
use crate::rules::Policy;
use crate::store::Tx;

/// One of WeChat's options: its name, its allowed values and the permission set it needs
/// (WeChat's documentation: without the set, 61007).
struct OptionSpec {
    name: &'static str,
    values: &'static [&'static str],
    permission_set: i64,
}

/// The three options WeChat documents.
const OPTIONS: [OptionSpec; 3] = [
    OptionSpec {
        name: "location_report",
        values: &["0", "1", "2"],
        permission_set: 2,
    },
    OptionSpec {
        name: "voice_recognize",
        values: &["0", "1"],
        permission_set: 1,
    },
    OptionSpec {
        name: "customer_service",
        values: &["0", "1"],
        permission_set: 6,
    },
];

/// The value of an option never set.
const UNSET: &str = "0";

fn meta_key(authorizer_appid: &str, option: &str) -> String {
    format!("authorizer_option/{authorizer_appid}/{option}")
}

/// Which path a call came by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    /// `api_get_authorizer_option` / `api_set_authorizer_option`: a component token only.
    Component,
    /// `get_authorizer_option` / `set_authorizer_option`: the authorizer's token, or the
    /// component's own (WeChat documents both).
    Authorizer,
}

/// The token's check and the authorisation the call acts on. A component token names the
/// authorizer in the body after its own component_appid; an authorizer token names itself,
/// and the body's appids are ignored.
fn authorisation_for(
    tx: &mut dyn Tx,
    form: Form,
    token: Option<&str>,
    appids: Body<(String, String)>,
    now: UnixTime,
    policy: &Policy,
) -> Result<Authorization> {
    let record = authenticate(tx, token, now, policy.superseded_grace_secs)?;
    if form == Form::Component && record.kind != TokenKind::Component {
        return Err(Error::wx(ErrCode::ApiUnauthorized));
    }
    match record.kind {
        TokenKind::Component => {
            let (record, (_, authorizer)) =
                component_request(tx, token, appids, now, policy, |(c, _)| c.as_str())?;
            live_authorization(tx, &record.component_appid, &authorizer)
        }
        TokenKind::Authorizer(_) => {
            appids.map_err(Error::wx)?;
            live_authorization(tx, &record.component_appid, &record.authorizer_appid)
        }
    }
}

/// The named option, if the authorisation grants its set: unknown name 61012, set missing
/// 61007.
fn option<'a>(auth: &Authorization, name: &str) -> Result<&'a OptionSpec> {
    let spec = OPTIONS
        .iter()
        .find(|o| o.name == name)
        .ok_or(ErrCode::InvalidOptionName)?;
    if !auth.grants(spec.permission_set) {
        return Err(Error::wx_detail(
            ErrCode::ApiUnauthorizedToComponent,
            format!(
                "{} needs permission set {} granted to the component",
                spec.name, spec.permission_set
            ),
        ));
    }
    Ok(spec)
}

/// `api_get_authorizer_option` / `get_authorizer_option`.
///
/// # Errors
/// Token checks (41001, 40001, 42001; 48001 for an authorizer token on the `api_` paths); body (44002, 47001); 41002 / 40013 component_appid; 41002 / 61003 the
/// authorizer; 61012 unknown option; 61007 its permission set not granted.
pub fn get_option(
    tx: &mut dyn Tx,
    form: Form,
    token: Option<&str>,
    req: Body<GetAuthorizerOptionRequest>,
    now: UnixTime,
    policy: &Policy,
) -> Result<AuthorizerOptionResponse> {
    let (appids, name) = split(req.map(|r| (r.component_appid, r.authorizer_appid, r.option_name)));
    let auth = authorisation_for(tx, form, token, appids, now, policy)?;
    let spec = option(&auth, &name)?;
    let value = tx
        .meta(&meta_key(&auth.authorizer_appid, spec.name))?
        .unwrap_or_else(|| UNSET.to_string());
    Ok(AuthorizerOptionResponse {
        authorizer_appid: auth.authorizer_appid,
        option_name: spec.name.to_string(),
        option_value: value,
    })
}

/// `api_set_authorizer_option` / `set_authorizer_option`.
///
/// # Errors
/// As [`get_option`]; then 61013 when `option_value` is missing or not allowed.
pub fn set_option(
    tx: &mut dyn Tx,
    form: Form,
    token: Option<&str>,
    req: Body<SetAuthorizerOptionRequest>,
    now: UnixTime,
    policy: &Policy,
) -> Result<()> {
    let value = req.as_ref().ok().and_then(|r| r.option_value.clone());
    let (appids, name) = split(req.map(|r| (r.component_appid, r.authorizer_appid, r.option_name)));
    let auth = authorisation_for(tx, form, token, appids, now, policy)?;
    let spec = option(&auth, &name)?;
    let value = value
        .map(|v| v.trim().to_string())
        .filter(|v| spec.values.contains(&v.as_str()))
        .ok_or(ErrCode::InvalidOptionValue)?;
    tx.set_meta(&meta_key(&auth.authorizer_appid, spec.name), &value)
}

/// Splits a parsed body into its appids (or the body's errcode) and the option name.
fn split(req: Body<(String, String, String)>) -> (Body<(String, String)>, String) {
    match req {
        Ok((component, authorizer, name)) => (Ok((component, authorizer)), name),
        Err(code) => (Err(code), String::new()),
    }
}
