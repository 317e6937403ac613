//! What other crates' tests (and this crate's own) need to run against a real platform: a
//! platform spawned in-process ([`spawn_platform`]), the demo world's ids ([`demo`]), and an
//! empty PostgreSQL database per test ([`ScratchDatabase`]).
//!
//! Built only for tests: with the cargo feature `test-support` (add
//! `fastreg-platform = { workspace = true, features = ["test-support"] }` to a crate's
//! `[dev-dependencies]`) or in this crate's own unit tests.

pub mod demo;

use std::future::Future;

use serde_json::Value;
use tempfile::TempDir;

use crate::app::Application;
use crate::settings::Settings;

#[cfg(feature = "postgres")]
pub use crate::store::postgres::scratch::ScratchDatabase;

/// The admin token a spawned platform accepts on the sandbox API and the console.
pub const ADMIN: &str = "test-admin-token";

/// A platform serving the demo world on `127.0.0.1` port 0, with a SQLite database in a
/// temporary directory; stopped (and the directory removed) when dropped.
#[derive(Debug)]
pub struct Platform {
    /// Its base URL, `http://127.0.0.1:PORT`.
    pub base: String,
    /// The admin token it accepts ([`ADMIN`] unless the test's `adjust` changed it).
    pub admin: String,
    /// An HTTP client for calls to it.
    pub http: reqwest::Client,
    _dir: TempDir,
    _stop: tokio::sync::oneshot::Sender<()>,
}

/// Starts a platform (see [`Platform`]) with its settings changed by `adjust` first; call it
/// inside a tokio runtime, which serves the platform.
///
/// # Panics
/// If the platform cannot start: a test has nothing to run against.
pub async fn spawn_platform(adjust: impl FnOnce(&mut Settings)) -> Platform {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let mut settings = Settings {
        addr: "127.0.0.1:0".into(),
        db: format!("sqlite://{}", dir.path().join("p.db").display()),
        admin_token: Some(ADMIN.into()),
        ..Settings::default()
    };
    adjust(&mut settings);
    let admin = settings.admin_token.clone().unwrap_or_default();
    let app = Application::build(settings)
        .await
        .expect("the platform starts");
    let base = format!("http://{}", app.local_addr());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(app.run_until_stopped(async {
        let _ = stopped.await;
    }));
    Platform {
        base,
        admin,
        http: reqwest::Client::new(),
        _dir: dir,
        _stop: stop,
    }
}

impl Platform {
    /// A sandbox API call (`/sandbox/v1{path}`) that must succeed; its JSON answer (`Null` for
    /// an empty one). The request is built before the future, which therefore borrows nothing
    /// (it may be spawned).
    ///
    /// # Panics
    /// On a non-2xx answer or an answer that is not JSON, with the method, path and answer.
    pub fn sandbox(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> impl Future<Output = Value> + Send + 'static {
        let mut req = self
            .http
            .request(
                method.parse().expect("an HTTP method"),
                format!("{}/sandbox/v1{path}", self.base),
            )
            .bearer_auth(&self.admin);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let what = format!("{method} {path}");
        async move {
            let resp = req.send().await.expect("sandbox call sent");
            let status = resp.status();
            let text = resp.text().await.expect("sandbox answer read");
            assert!(status.is_success(), "{what}: {status} {text}");
            if text.is_empty() {
                return Value::Null;
            }
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{what}: not JSON ({e}): {text}"))
        }
    }

    /// The demo component's secret ([`demo::COMPONENT`]).
    pub async fn component_secret(&self) -> String {
        let c = self
            .sandbox("GET", &format!("/components/{}", demo::COMPONENT), None)
            .await;
        c["appsecret"].as_str().expect("an appsecret").into()
    }
}
