//! Every operation of the platform as one synchronous function over a transaction
//! (`&mut dyn Tx`). Handlers call them through [`crate::store::Store::write`] or `read`, so an
//! operation's checks and its writes always see the same state, whichever backend runs it.
//!
//! - [`wechat`]: the WeChat-compatible endpoints, except fastregister.
//! - [`fast_register`]: fastregister, which alone runs as several steps (view, reader,
//!   writer, completion).
//! - [`options`]: the authorizer options (location report, voice recognition, customer
//!   service).
//! - [`outbox`]: recording pushes inside the transaction that causes them.
//! - [`sandbox`]: the sandbox control API and seeding.
//! - [`pages`]: what the admin-facing pages check and show.
//! - [`worlds`]: creating, deleting, resetting and exporting worlds.

pub mod fast_register;
pub mod options;
pub mod outbox;
pub mod pages;
pub mod sandbox;
pub mod wechat;
pub mod worlds;

use fastreg_wire::ErrCode;

use crate::domain::*;
use crate::error::{Error, Result};
use crate::rules;
use crate::secrets;
use crate::store::Tx;

/// Issues a fresh access token for (kind, component, authorizer); earlier ones are superseded
/// and keep working for the grace period. Returns the token's value.
pub fn issue_token(
    tx: &mut dyn Tx,
    kind: TokenKind,
    component_appid: &str,
    authorizer_appid: &str,
    now: UnixTime,
    lifetime: i64,
) -> Result<String> {
    let token = secrets::access_token();
    tx.replace_token(&TokenRecord {
        hash: secrets::storage_key(&token),
        kind,
        component_appid: component_appid.into(),
        authorizer_appid: authorizer_appid.into(),
        issued_at: now,
        expires_at: now + lifetime,
        superseded_at: None,
    })?;
    Ok(token)
}

/// Issues a single-use code; returns its value.
pub fn issue_code(
    tx: &mut dyn Tx,
    kind: CodeKind,
    component_appid: &str,
    authorizer_appid: &str,
    now: UnixTime,
    lifetime: i64,
) -> Result<String> {
    let (code, record) = new_code(kind, component_appid, authorizer_appid, now, lifetime);
    tx.insert_code(&record)?;
    Ok(code)
}

/// A fresh single-use code and its record (which holds its hash).
pub fn new_code(
    kind: CodeKind,
    component_appid: &str,
    authorizer_appid: &str,
    now: UnixTime,
    lifetime: i64,
) -> (String, CodeRecord) {
    let code = match kind {
        CodeKind::PreAuth => secrets::pre_auth_code(),
        CodeKind::Authorization => secrets::auth_code(),
    };
    let record = CodeRecord {
        hash: secrets::storage_key(&code),
        kind,
        component_appid: component_appid.into(),
        authorizer_appid: authorizer_appid.into(),
        issued_at: now,
        expires_at: now + lifetime,
        used_at: None,
    };
    (code, record)
}

/// How many appids are drawn before giving up (each is taken with a chance of about one in
/// 10^12).
pub const APPID_DRAWS: usize = 16;

/// The code `code` names, by its storage key, or else by the key a fastreg before codes were
/// stored by their clock gave it (`secrets::hash`), so that a code issued just before an
/// upgrade (an authorization_code answered with a registration) stays usable for its lifetime.
/// Only codes (not tokens) are looked up twice: they are looked up by the few calls that
/// exchange one, and nothing is lost with a token but a call answered 40001.
///
/// # Errors
/// Storage faults.
pub fn find_code(tx: &mut dyn Tx, code: &str) -> Result<Option<CodeRecord>> {
    match tx.code(&secrets::storage_key(code))? {
        Some(found) => Ok(Some(found)),
        None => tx.code(&secrets::hash(code)),
    }
}

/// The error when [`APPID_DRAWS`] appids were all taken.
pub fn appids_exhausted() -> Error {
    Error::Internal(anyhow::anyhow!(
        "could not draw an unused appid in {APPID_DRAWS} tries"
    ))
}

/// Reserves a fresh appid of `kind` (`component`, `oa`, `mp`), drawing again on the rare
/// collision.
pub fn fresh_appid(tx: &mut dyn Tx, kind: &str) -> Result<String> {
    for _ in 0..APPID_DRAWS {
        let appid = secrets::appid();
        if tx.reserve_drawn_appid(&appid, kind)? {
            return Ok(appid);
        }
    }
    Err(appids_exhausted())
}

/// Looks a token up and applies rule 1 (41001 / 40001 / 42001).
///
/// # Errors
/// The errcode of the first failing check.
pub fn authenticate(
    tx: &mut dyn Tx,
    token: Option<&str>,
    now: UnixTime,
    grace: i64,
) -> Result<TokenRecord> {
    let record = match token {
        Some(t) if !t.is_empty() => tx.token(&secrets::storage_key(t))?,
        _ => None,
    };
    let present = token.is_some_and(|t| !t.is_empty());
    rules::check_token(present, record.as_ref(), now, grace)
        .cloned()
        .map_err(Error::wx)
}

/// Authenticates a component token: rule 1, then anything but a component token is 48001.
///
/// # Errors
/// The errcode of the first failing check.
pub fn authenticate_component(
    tx: &mut dyn Tx,
    token: Option<&str>,
    now: UnixTime,
    grace: i64,
) -> Result<TokenRecord> {
    let record = authenticate(tx, token, now, grace)?;
    if record.kind != TokenKind::Component {
        return Err(Error::wx(ErrCode::ApiUnauthorized));
    }
    Ok(record)
}

/// The body's component_appid must be the token's component: missing 41002, another 40013.
///
/// # Errors
/// 41002 or 40013.
pub fn same_component(record: &TokenRecord, component_appid: &str) -> Result<()> {
    if component_appid.is_empty() {
        return Err(Error::wx(ErrCode::AppIdMissing));
    }
    if component_appid != record.component_appid {
        return Err(Error::wx_detail(
            ErrCode::InvalidAppId,
            "component_appid is not the token's component",
        ));
    }
    Ok(())
}
