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
use crate::settings::{Lifetimes, RuntimeConfig};
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

/// `rules` of a config patch: an object whose numbers are integers (every rule is). A float is
/// refused here, so that the body is read again with `52.0` written as 52 (`http::body`),
/// where a float is told from an integer literal out of range.
fn integer_rules<'de, D: Deserializer<'de>>(
    d: D,
) -> std::result::Result<Option<serde_json::Map<String, serde_json::Value>>, D::Error> {
    use serde::de::Error as _;
    fn has_float(v: &serde_json::Value) -> bool {
        match v {
            serde_json::Value::Number(n) => n.is_f64(),
            serde_json::Value::Array(a) => a.iter().any(has_float),
            serde_json::Value::Object(m) => m.values().any(has_float),
            _ => false,
        }
    }
    let rules = Option::<serde_json::Map<String, serde_json::Value>>::deserialize(d)?;
    if rules.as_ref().is_some_and(|m| m.values().any(has_float)) {
        return Err(D::Error::custom(
            "invalid type: floating point, expected an integer",
        ));
    }
    Ok(rules)
}

/// An object only. serde's derived structs also read an array (fields by position); a seed's
/// parts are objects in the document, so an array is refused where one is asked for.
fn object<'de, T: serde::de::DeserializeOwned, D: Deserializer<'de>>(
    d: D,
) -> std::result::Result<T, D::Error> {
    use serde::de::Error as _;
    match serde_json::Value::deserialize(d)? {
        v @ serde_json::Value::Object(_) => T::deserialize(v).map_err(D::Error::custom),
        _ => Err(D::Error::custom("expected an object")),
    }
}

/// [`object`], or `null` (absent).
pub(crate) fn optional_object<'de, T: serde::de::DeserializeOwned, D: Deserializer<'de>>(
    d: D,
) -> std::result::Result<Option<T>, D::Error> {
    use serde::de::Error as _;
    match Option::<serde_json::Value>::deserialize(d)? {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(v @ serde_json::Value::Object(_)) => {
            T::deserialize(v).map(Some).map_err(D::Error::custom)
        }
        Some(_) => Err(D::Error::custom("expected an object")),
    }
}

/// A list of [`object`]s.
fn objects<'de, T: serde::de::DeserializeOwned, D: Deserializer<'de>>(
    d: D,
) -> std::result::Result<Vec<T>, D::Error> {
    use serde::de::Error as _;
    Vec::<serde_json::Value>::deserialize(d)?
        .into_iter()
        .map(|v| object(v).map_err(D::Error::custom))
        .collect()
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
        _ => Err(D::Error::custom("copy_wx_verify must be 0 or 1")),
    }
}

/// The highest permission set id (sets are 1 to this).
pub const PERMISSION_SET_MAX: i64 = 1000;

/// The largest entity id a caller may choose: 2^53 − 1, what a JavaScript number holds
/// exactly, and far enough from `i64::MAX` that the id drawn after it (the largest + 1) is one
/// too.
pub const MAX_ENTITY_ID: i64 = (1 << 53) - 1;

/// An appid the caller may choose: what `check_appid_shape` accepts.
pub const APPID_PATTERN: &str = "^[A-Za-z0-9_-]{1,64}$";

/// An EncodingAESKey: what `check_aes_key` accepts.
pub const AES_KEY_PATTERN: &str = "^[A-Za-z0-9]{43}$";

/// A name that is not blank: a character other than white space (Unicode's White_Space, what
/// `str::trim` removes, spelled out so that every regex dialect reads it alike). What the
/// checks of `name`, `nickname` and `auth_domain` accept.
pub const NOT_BLANK: &str = "[^\\t\\n\\u000b\\f\\r \\u0085\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]";

/// An event URL: `http` or `https`, a host (a dotted IPv4 address, or lowercase DNS labels whose
/// last starts with a letter), an optional port (1 to 65535), an optional path and query. What
/// `check_event_url` accepts (every such URL also parses as one).
pub const EVENT_URL_PATTERN: &str = concat!(
    "^https?://",
    "(((25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])\\.){3}(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])",
    "|([a-z0-9]+(-[a-z0-9]+)*\\.)*[a-z][a-z0-9]*(-[a-z0-9]+)*)",
    "(:(6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[1-9][0-9]{0,3}))?",
    "(/[A-Za-z0-9._~!$&'()*+,;=:@/?%-]*)?$",
);

/// Whether `s` has a character other than white space ([`NOT_BLANK`]).
fn not_blank(s: &str) -> bool {
    crate::input::matches(NOT_BLANK, s)
}

/// What [`de_zero_one`] accepts.
fn zero_one_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({"enum": [0, 1, "0", "1", false, true]})
}

fn check_appid_shape(appid: &str) -> Result<()> {
    if crate::input::matches(APPID_PATTERN, appid) {
        Ok(())
    } else {
        Err(bad("appid must be 1-64 of [A-Za-z0-9_-]"))
    }
}

fn check_aes_key(key: &str) -> Result<()> {
    if crate::input::matches(AES_KEY_PATTERN, key) {
        Ok(())
    } else {
        Err(bad("encoding_aes_key must be 43 characters of [A-Za-z0-9]"))
    }
}

fn check_event_url(url: &str) -> Result<()> {
    match url::Url::parse(url) {
        Ok(u)
            if crate::input::matches(EVENT_URL_PATTERN, url)
                && matches!(u.scheme(), "http" | "https")
                && u.host_str().is_some() =>
        {
            Ok(())
        }
        // Not echoed: a URL may carry credentials, and refusals are logged.
        _ => Err(bad(
            "event_url must be an absolute http(s) URL with a lowercase host or an IPv4 address",
        )),
    }
}

fn check_sets(sets: &[i64]) -> Result<()> {
    if sets.iter().all(|&s| (1..=PERMISSION_SET_MAX).contains(&s)) {
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
        return Err(Error::sandbox(409, ErrCode::InvalidAppId, "appid is taken"));
    }
    Ok(appid)
}

/// A seed world: the same shapes as the sandbox API, applied to a new database or world.
/// A world's export (`GET /sandbox/v1/export`) is one too, with what a seed file rarely
/// carries filled in: the clock, the settings, and the Mini Programs and successful
/// registrations that its quota and entity counts come from.
#[derive(Debug, Clone, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SeedWorld {
    /// The world's clock (a world created from this seed; `fastreg serve --seed` ignores it).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "optional_object"
    )]
    pub clock: Option<ClockIn>,
    /// The world's settings (as `PATCH /sandbox/v1/config`; `fastreg serve --seed` ignores
    /// them: its flags set the default world's).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "optional_object"
    )]
    pub config: Option<ConfigPatch>,
    /// Components.
    #[serde(default, deserialize_with = "objects")]
    pub components: Vec<ComponentIn>,
    /// Entities (give them ids so OAs can refer to them).
    #[serde(default, deserialize_with = "objects")]
    pub entities: Vec<EntityIn>,
    /// Official Accounts.
    #[serde(default, deserialize_with = "objects")]
    pub official_accounts: Vec<OfficialAccountIn>,
    /// Mini Programs (fast-registered ones, as exported).
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "objects"
    )]
    pub mini_programs: Vec<MiniProgram>,
    /// Authorisations.
    #[serde(default, deserialize_with = "objects")]
    pub authorizations: Vec<AuthorizationIn>,
    /// Fastregister tickets spent by the registrations below (as exported).
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "objects"
    )]
    pub fastregister_tickets: Vec<FastRegisterTicket>,
    /// Successful fast registrations (as exported): the quota months and replays they hold.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "objects"
    )]
    pub registrations: Vec<RegistrationIn>,
}

/// A world's clock at creation.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ClockIn {
    /// Its time at creation (unix seconds, 2000 to 2200); default: now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = crate::clock::EARLIEST_START, max = crate::clock::LATEST_START))]
    pub start: Option<UnixTime>,
    /// Whether it moves only when advanced; default: false (it runs with real time).
    #[serde(default)]
    pub frozen: bool,
}

/// A successful registration in a seed (an export's).
#[derive(Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RegistrationIn {
    /// The ticket it spent.
    pub ticket: String,
    /// The OA that registered.
    pub oa_appid: String,
    /// The OA's entity.
    pub entity_id: i64,
    /// The component that called.
    pub component_appid: String,
    /// The Mini Program created.
    pub mp_appid: String,
    /// Whether the OA's verification was copied.
    pub is_wx_verify_succ: bool,
    /// Whether it was linked to the OA.
    pub is_link_succ: bool,
    /// When it was called (world clock).
    pub created_at: UnixTime,
    /// When it completed (world clock).
    pub completed_at: UnixTime,
    /// The Asia/Shanghai month its quota counts in (`YYYY-MM`).
    pub month: String,
}

fastreg_wire::debug_masked!(RegistrationIn {
    ticket masked,
    oa_appid,
    entity_id,
    component_appid,
    mp_appid,
    is_wx_verify_succ,
    is_link_succ,
    created_at,
    completed_at,
    month,
});

/// Settings as `PATCH /sandbox/v1/config` changes them: only the keys given change.
#[derive(Debug, Clone, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(example = serde_json::json!({"processing_delay_ms": 2000, "booleans": "json"}))]
pub struct ConfigPatch {
    /// Rule numbers, by name (only the keys given change).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "integer_rules"
    )]
    #[schemars(with = "Option<rules::Policy>")]
    pub rules: Option<serde_json::Map<String, serde_json::Value>>,
    /// fastregister's processing delay, at most 600000.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(max = crate::settings::MAX_PROCESSING_DELAY_MS))]
    pub processing_delay_ms: Option<u64>,
    /// How fastregister writes its booleans.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub booleans: Option<fastreg_wire::account::BoolStyle>,
}

impl ConfigPatch {
    /// The whole of `config`, as a patch that sets every key.
    ///
    /// # Errors
    /// Never in practice (the config serialises).
    pub fn of(config: &RuntimeConfig) -> Result<ConfigPatch> {
        let rules = serde_json::to_value(&config.rules).map_err(|e| Error::Internal(e.into()))?;
        Ok(ConfigPatch {
            rules: rules.as_object().cloned(),
            processing_delay_ms: Some(config.processing_delay_ms),
            booleans: Some(config.booleans),
        })
    }

    /// `base` with the patch applied.
    ///
    /// # Errors
    /// 47001 for a delay above the maximum or a rule that is not one.
    pub fn apply(self, base: RuntimeConfig) -> Result<RuntimeConfig> {
        if self
            .processing_delay_ms
            .is_some_and(|d| d > crate::settings::MAX_PROCESSING_DELAY_MS)
        {
            return Err(bad("processing_delay_ms is at most 600000"));
        }
        let mut rt = base;
        if let Some(changes) = self.rules {
            let mut merged =
                serde_json::to_value(&rt.rules).map_err(|e| Error::Internal(e.into()))?;
            if let Some(obj) = merged.as_object_mut() {
                obj.extend(changes);
            }
            rt.rules = serde_json::from_value::<rules::Policy>(merged)
                .map_err(|e| bad(format!("rules: {}", crate::redact::serde_error(&e))))?;
        }
        if let Some(d) = self.processing_delay_ms {
            rt.processing_delay_ms = d;
        }
        if let Some(b) = self.booleans {
            rt.booleans = b;
        }
        Ok(rt)
    }
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

/// An item of a seed, by its place (`components[2]`): what a seed's refusal names.
#[derive(Debug, Clone, Copy)]
pub struct SeedItem {
    /// Its list.
    pub what: &'static str,
    /// Its index in the list.
    pub i: usize,
}

impl std::fmt::Display for SeedItem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}[{}]", self.what, self.i)
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
    let ctx = |what: &'static str, i: usize, e: Error| {
        let item = SeedItem { what, i };
        match e {
            Error::Wx {
                code,
                detail,
                status,
            } => Error::Wx {
                code,
                // The request's seed is what is wrong: 400, unless the item was refused for
                // what else is in the world (404 a reference to nothing, 409 a repeat), which
                // no schema can rule out.
                status: if matches!(status, 404 | 409) {
                    status
                } else {
                    400
                },
                detail: Some(match detail {
                    Some(d) => format!("seed {item}: {d}"),
                    None => format!("seed {item}: {}", code.errmsg()),
                }),
            },
            Error::Internal(e) => Error::Internal(e.context(item)),
        }
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
    for (i, mp) in seed.mini_programs.into_iter().enumerate() {
        if !tx.reserve_appid(&mp.appid, "mp")? {
            return Err(ctx(
                "mini_programs",
                i,
                Error::sandbox(409, ErrCode::InvalidAppId, "appid is taken"),
            ));
        }
        tx.insert_mini_program(&mp)
            .map_err(|e| ctx("mini_programs", i, e))?;
    }
    for (i, a) in seed.authorizations.into_iter().enumerate() {
        authorize(tx, a, now, lifetimes).map_err(|e| ctx("authorizations", i, e))?;
    }
    for (i, t) in seed.fastregister_tickets.into_iter().enumerate() {
        tx.insert_fastregister_ticket(&t)
            .map_err(|e| ctx("fastregister_tickets", i, e))?;
    }
    for (i, r) in seed.registrations.into_iter().enumerate() {
        // A credential: a new one, as for every credential of an imported world.
        let code = issue_code(
            tx,
            CodeKind::Authorization,
            &r.component_appid,
            &r.mp_appid,
            now,
            lifetimes.auth_code,
        )?;
        tx.insert_registration(&Registration {
            id: 0,
            ticket: r.ticket,
            oa_appid: r.oa_appid,
            entity_id: r.entity_id,
            component_appid: r.component_appid,
            status: RegistrationStatus::Succeeded,
            mp_appid: Some(r.mp_appid),
            authorization_code: Some(code),
            is_wx_verify_succ: r.is_wx_verify_succ,
            is_link_succ: r.is_link_succ,
            created_at: r.created_at,
            completed_at: Some(r.completed_at),
            month: Some(r.month),
        })
        .map_err(|e| ctx("registrations", i, e))?;
    }
    tx.set_meta(INITIALIZED_KEY, &now.to_string())?;
    Ok(())
}
