//! The platform: a faithful, stateful stand-in for WeChat's side of the fast-registration flow.
//!
//! # Layout
//! - [`domain`]: the nouns (components, entities, accounts, credentials, registrations).
//! - [`rules`]: the spec's checks as pure functions, table-tested.
//! - [`clock`]: the sandbox clock and the Asia/Shanghai quota month.
//! - [`store`]: the storage trait, its SQLite implementation, migrations.
//! - [`service`]: each operation as one transaction over the store, calling the rules.
//! - [`http`]: axum routers: WeChat-compatible endpoints, the sandbox control API.
//! - [`push`]: the push outbox and its deliverer (encrypted XML to components' event URLs).
//! - [`settings`], [`app`]: configuration and start-up.
//! - [`secrets`]: CSPRNG identifiers, hashing and constant-time comparison of credentials.
//! - [`error`]: the one error type and its errcode.

pub mod app;
pub mod clock;
pub mod domain;
pub mod error;
pub mod http;
pub mod push;
pub mod rules;
pub mod secrets;
pub mod service;
pub mod settings;
pub mod store;
