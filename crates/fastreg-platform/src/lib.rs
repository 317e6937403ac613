//! The platform: a faithful, stateful stand-in for WeChat's side of the fast-registration flow.
//!
//! # Layout
//! - [`domain`]: the nouns (components, entities, accounts, credentials, registrations).
//! - [`rules`]: the spec's checks as pure functions, table-tested.
//! - [`clock`]: the sandbox clock and the Asia/Shanghai quota month.
//! - [`store`]: the storage trait, its SQLite implementation, migrations.
//! - [`service`]: each operation as one transaction over the store, calling the rules.
//! - [`http`]: axum routers: WeChat-compatible endpoints, the sandbox control API.
//! - [`settings`], [`seed`], [`app`]: configuration, seed worlds, start-up.

pub mod domain;
pub mod rules;
