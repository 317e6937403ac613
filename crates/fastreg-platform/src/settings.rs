//! The platform's settings. The CLI layers them (defaults → config file → `FASTREG_*`
//! environment → flags); tests build them directly with a temp database and port 0.

use std::fmt;

use fastreg_wire::account::BoolStyle;
use serde::{Deserialize, Serialize};

use crate::rules::Policy;
use crate::store::Durability;

/// Everything `fastreg serve` can be told.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// Address to listen on. Loopback unless told otherwise.
    pub addr: String,
    /// Database URL: `sqlite://PATH` (created if missing) or `sqlite::memory:`.
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
        }
    }
}

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Settings")
            .field("addr", &self.addr)
            .field("db", &self.db)
            .field("seed", &self.seed)
            .field("admin_token", &self.admin_token.as_ref().map(|_| "***"))
            .field("durability", &self.durability)
            .field("lifetimes", &self.lifetimes)
            .field("rules", &self.rules)
            .field("processing_delay_ms", &self.processing_delay_ms)
            .field("booleans", &self.booleans)
            .field("max_body_bytes", &self.max_body_bytes)
            .finish()
    }
}

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
