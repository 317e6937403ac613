//! The sandbox control API's operations (spec §8) and seeding. These stand in for what, on
//! WeChat, happens on open.weixin.qq.com and in the admin's browser and phone: creating
//! components and accounts, authorising, confirming a fast registration, moving the clock.
//!
//! Inputs refuse unknown fields (`deny_unknown_fields`): a misspelt `publised = true` in a seed
//! file must fail loudly, not silently create an unpublished component.
//!
//! Here: the input checks every operation shares, the clock and seeding; `world.rs` builds the
//! world (components, verify tickets, entities, Official Accounts) and `authorizations.rs`
//! changes it as admins do (authorising, revoking, confirming fast registrations). Both are
//! re-exported, so every operation is `service::sandbox::…`.

mod authorizations;
mod world;

pub use authorizations::*;
pub use world::*;

use fastreg_wire::ErrCode;
use serde::{Deserialize, Deserializer, Serialize};

use fastreg_wire::push::PushEvent;

use super::outbox;
use super::{fresh_appid, issue_code};

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
