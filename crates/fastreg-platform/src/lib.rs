//! The platform: a faithful, stateful stand-in for WeChat's side of the fast-registration flow.
//!
//! # Layout
//! - [`domain`]: the nouns (components, entities, accounts, credentials, registrations).
//! - [`rules`]: the spec's checks as pure functions, table-tested.
//! - [`clock`]: the sandbox clock and the Asia/Shanghai quota month.
//! - [`store`]: the storage trait, its SQLite implementation, migrations.
//! - [`service`]: each operation as one transaction over the store, calling the rules.
//! - [`http`]: axum routers, built from route tables: WeChat-compatible endpoints, pages, the
//!   sandbox control API, the operations endpoints (`/healthz`, `/readyz`, `/metrics`,
//!   `/openapi.json`), and the OpenAPI document built from the same tables.
//! - [`push`]: the push outbox and its deliverer (encrypted XML to components' event URLs).
//! - [`settings`], [`app`]: configuration and start-up.
//! - [`secrets`]: CSPRNG identifiers, hashing and constant-time comparison of credentials.
//! - [`redact`]: masking credentials in logged URIs and printed database URLs.
//! - [`metrics`]: the Prometheus metrics.
//! - [`error`]: the one error type and its errcode.

pub mod app;
pub mod clock;
pub mod domain;
pub mod error;
pub mod http;
pub mod jobs;
pub mod metrics;
pub mod redact;
pub mod rules;
pub mod secrets;
pub mod service;
pub mod settings;
pub mod state;
pub mod store;
