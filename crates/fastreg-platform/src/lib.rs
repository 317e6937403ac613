//! The platform: a faithful, stateful stand-in for WeChat's side of the fast-registration flow.
//!
//! # Layout
//! Listed bottom-up: each module imports only modules listed before it (the leaves only
//! [`domain`]); `tests/api/layers.rs` checks it.
//! - [`domain`]: the nouns (components, entities, accounts, credentials, registrations).
//! - Leaves: [`clock`] (the sandbox clock and the Asia/Shanghai quota month), [`secrets`]
//!   (CSPRNG identifiers, hashing and constant-time comparison of credentials), [`redact`]
//!   (masking credentials in logged URIs and printed database URLs), [`metrics`] (the
//!   Prometheus metrics), [`error`] (the one error type and its errcode), [`input`] (what
//!   every reader of client input shares with the OpenAPI document: patterns, integers).
//! - [`rules`]: the spec's checks as pure functions, table-tested.
//! - [`store`]: the storage trait with its SQLite and PostgreSQL backends, their migrations,
//!   group commit and the in-process view.
//! - [`settings`]: configuration as started, and [`settings::RuntimeConfig`], what the sandbox
//!   API may change while running.
//! - [`state`]: what handlers and jobs share ([`state::AppState`]) and the injected faults.
//! - [`service`]: each operation over a transaction, calling the rules; fastregister's steps
//!   and their orchestration ([`service::fast_register`]); the push outbox.
//! - [`jobs`]: what runs beside requests: the push deliverer, the work that falls due with the
//!   sandbox clock.
//! - [`http`]: the axum router built from route tables: WeChat-compatible endpoints, pages,
//!   the sandbox control API, the operations endpoints (`/healthz`, `/readyz`, `/metrics`,
//!   `/openapi.json`), and the OpenAPI document built from the same tables.
//! - [`app`]: start-up and shutdown.
//! - `testing` (feature `test-support`): a platform spawned in-process, the demo world's ids and
//!   scratch PostgreSQL databases, for other crates' tests.

pub mod domain;

pub mod clock;
pub mod error;
pub mod input;
pub mod metrics;
pub mod redact;
pub mod secrets;

pub mod rules;
pub mod store;

pub mod settings;
pub mod state;

pub mod service;

pub mod jobs;

pub mod http;

pub mod app;

#[cfg(any(test, feature = "test-support"))]
pub mod testing;
