//! The platform's settings. The CLI layers them (defaults → config file → `FASTREG_*`
//! environment → flags); tests build them directly with a temp database and port 0.

use std::fmt;

use fastreg_wire::account::BoolStyle;
use serde::{Deserialize, Serialize};

use crate::redact::{self, MASK};
use crate::rules::Policy;
use crate::store::Durability;

/// Everything `fastreg serve` can be told.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// Address to listen on. Loopback unless told otherwise.
    pub addr: String,
    /// Database URL: `sqlite://PATH` (created if missing), `sqlite::memory:`, or
    /// `postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE` (an existing database several
    /// instances may share).
    pub db: String,
    /// A TOML seed file applied to a new database; none = the built-in demo world.
    pub seed: Option<String>,
    /// Bearer token of the sandbox API; generated (and printed) when unset.
    pub admin_token: Option<String>,
    /// `process` (survives kill -9) or `full` (survives power loss).
    pub durability: Durability,
    /// Credential lifetimes.
    pub lifetimes: Lifetimes,
    /// Business-rule numbers.
    pub rules: Policy,
    /// How long fastregister takes to create a Mini Program, in milliseconds (makes "in
    /// progress" observable; changeable at run time through the sandbox API).
    pub processing_delay_ms: u64,
    /// How fastregister writes its booleans: `string` (documented example) or `json`.
    pub booleans: BoolStyle,
    /// Largest request body accepted, in bytes (larger: 47001).
    pub max_body_bytes: usize,
    /// Bearer token `/metrics` requires; unset or empty: `/metrics` is open.
    pub metrics_token: Option<String>,
    /// After a stop signal, how long in-flight requests may take to finish before the server
    /// exits anyway, in seconds.
    pub shutdown_timeout_secs: u64,
    /// Log filter (`tracing` directives: `info`, `warn,fastreg_platform=debug`).
    pub log: String,
    /// Log line format.
    pub log_format: LogFormat,
    /// Proxy mode (spec §10): `fastreg serve` also answers as an HTTP forward proxy for
    /// WeChat's hosts only, on its own listener. `fastreg serve` runs it; the platform does not.
    pub proxy: bool,
    /// The proxy's address. Loopback unless told otherwise.
    pub proxy_addr: String,
    /// Where the proxy's local CA (`fastreg-ca.pem`, `fastreg-ca.key`) is kept; unset: beside
    /// a SQLite database file, else the per-user data directory (`fastreg ca` says which).
    pub ca_dir: Option<String>,
}

/// How log lines are written (to stderr).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    /// One human-readable line per event, with the request's span (rid, method, path).
    #[default]
    Pretty,
    /// One JSON object per line; the request's fields are under `span`.
    Json,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            addr: "127.0.0.1:8080".into(),
            db: "sqlite://fastreg.db".into(),
            seed: None,
            admin_token: None,
            durability: Durability::Process,
            lifetimes: Lifetimes::default(),
            rules: Policy::default(),
            processing_delay_ms: 0,
            booleans: BoolStyle::String,
            max_body_bytes: 1024 * 1024,
            metrics_token: None,
            shutdown_timeout_secs: 30,
            log: "info".into(),
            log_format: LogFormat::Pretty,
            proxy: true,
            proxy_addr: "127.0.0.1:8443".into(),
            ca_dir: None,
        }
    }
}

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Settings")
            .field("addr", &self.addr)
            .field("db", &redact::db_url(&self.db))
            .field("seed", &self.seed)
            .field("admin_token", &self.admin_token.as_ref().map(|_| "***"))
            .field("durability", &self.durability)
            .field("lifetimes", &self.lifetimes)
            .field("rules", &self.rules)
            .field("processing_delay_ms", &self.processing_delay_ms)
            .field("booleans", &self.booleans)
            .field("max_body_bytes", &self.max_body_bytes)
            .field("metrics_token", &self.metrics_token.as_ref().map(|_| MASK))
            .field("shutdown_timeout_secs", &self.shutdown_timeout_secs)
            .field("log", &self.log)
            .field("log_format", &self.log_format)
            .field("proxy", &self.proxy)
            .field("proxy_addr", &self.proxy_addr)
            .field("ca_dir", &self.ca_dir)
            .finish()
    }
}

impl Settings {
    /// Checks what the types cannot: every setting is usable. `fastreg serve` and
    /// `fastreg config check` both call it.
    ///
    /// # Errors
    /// The first unusable setting, named by its key.
    pub fn validate(&self) -> Result<(), String> {
        for (key, addr, example, checked) in [
            ("addr", &self.addr, "127.0.0.1:8080", true),
            ("proxy_addr", &self.proxy_addr, "127.0.0.1:8443", self.proxy),
        ] {
            let port = addr
                .rsplit_once(':')
                .filter(|(host, _)| !host.is_empty())
                .and_then(|(_, port)| port.parse::<u16>().ok());
            if checked && port.is_none() {
                return Err(format!("{key} {addr:?} is not HOST:PORT (e.g. {example})"));
            }
        }
        if !["sqlite:", "postgres://", "postgresql://"]
            .iter()
            .any(|scheme| self.db.starts_with(scheme))
        {
            return Err(format!(
                "db {:?} is not a database URL: expected sqlite://PATH or sqlite::memory:",
                redact::db_url(&self.db)
            ));
        }
        let l = &self.lifetimes;
        for (key, secs) in [
            ("component_verify_ticket", l.component_verify_ticket),
            ("verify_ticket_interval", l.verify_ticket_interval),
            ("component_access_token", l.component_access_token),
            ("pre_auth_code", l.pre_auth_code),
            ("auth_code", l.auth_code),
            ("authorizer_access_token", l.authorizer_access_token),
            ("fastregister_ticket", l.fastregister_ticket),
        ] {
            if secs <= 0 {
                return Err(format!("lifetimes.{key} must be positive, not {secs}"));
            }
        }
        if self.max_body_bytes == 0 {
            return Err("max_body_bytes must be positive".into());
        }
        if self.processing_delay_ms > MAX_PROCESSING_DELAY_MS {
            return Err(format!(
                "processing_delay_ms is at most {MAX_PROCESSING_DELAY_MS}, not {}",
                self.processing_delay_ms
            ));
        }
        Ok(())
    }

    /// A copy fit to print: tokens replaced by `***`, the database password masked.
    pub fn masked(&self) -> Settings {
        let mask = |t: &Option<String>| t.as_ref().filter(|t| !t.is_empty()).map(|_| MASK.into());
        Settings {
            db: redact::db_url(&self.db),
            admin_token: mask(&self.admin_token),
            metrics_token: mask(&self.metrics_token),
            ..self.clone()
        }
    }
}

/// The longest fastregister processing delay, in milliseconds (also the limit of
/// `PATCH /sandbox/v1/config`).
pub const MAX_PROCESSING_DELAY_MS: u64 = 600_000;

/// Credential lifetimes in seconds (spec §3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Lifetimes {
    /// component_verify_ticket validity.
    pub component_verify_ticket: i64,
    /// A new verify ticket is issued (and pushed) this often.
    pub verify_ticket_interval: i64,
    /// component_access_token.
    pub component_access_token: i64,
    /// pre_auth_code.
    pub pre_auth_code: i64,
    /// auth_code and fastregister's authorization_code.
    pub auth_code: i64,
    /// authorizer_access_token.
    pub authorizer_access_token: i64,
    /// fastregister ticket.
    pub fastregister_ticket: i64,
}

impl Default for Lifetimes {
    fn default() -> Self {
        Lifetimes {
            component_verify_ticket: 12 * 3600,
            verify_ticket_interval: 600,
            component_access_token: 7200,
            pre_auth_code: 1800,
            auth_code: 3600,
            authorizer_access_token: 7200,
            fastregister_ticket: 1800,
        }
    }
}

/// Settings that `PATCH /sandbox/v1/config` can change at run time.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct RuntimeConfig {
    /// The rule numbers.
    pub rules: Policy,
    /// fastregister's processing delay.
    pub processing_delay_ms: u64,
    /// How fastregister writes its booleans.
    pub booleans: BoolStyle,
}
