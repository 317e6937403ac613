//! What the tests of the `fastreg` binary share: the binary without the caller's settings, a
//! sandbox API call, and a platform run in-process on port 0 with the demo world.

use std::process::Command;

use fastreg_platform::app::Application;
use fastreg_platform::settings::Settings;
use serde_json::Value;
use tempfile::TempDir;

/// The `fastreg` binary with none of the tests' own `FASTREG_*` settings (they must not leak
/// in) and warnings-only logs.
pub fn fastreg() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_fastreg"));
    for (k, _) in std::env::vars() {
        if k.starts_with("FASTREG_") {
            c.env_remove(k);
        }
    }
    c.env("FASTREG_LOG", "warn");
    c
}

/// A sandbox API call to the platform at `base` that must succeed with a JSON answer, which it
/// returns. The request is built before the future, so the future borrows nothing.
pub fn sandbox_ok(
    http: &reqwest::Client,
    base: &str,
    admin: &str,
    method: &str,
    path: &str,
    body: Option<serde_json::Value>,
) -> impl std::future::Future<Output = serde_json::Value> {
    let mut req = http
        .request(
            method.parse().expect("an HTTP method"),
            format!("{base}/sandbox/v1{path}"),
        )
        .bearer_auth(admin);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let what = format!("{method} {path}");
    async move {
        let resp = req.send().await.expect("sandbox call sent");
        let status = resp.status();
        let text = resp.text().await.expect("sandbox answer read");
        assert!(status.is_success(), "{what}: {status} {text}");
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{what}: not JSON ({e}): {text}"))
    }
}

/// The admin token of [`platform`]'s sandbox API.
const PLATFORM_ADMIN: &str = "client-cmds-test-admin";

/// A platform serving the demo world, stopped when dropped.
pub struct Platform {
    pub base: String,
    pub http: reqwest::Client,
    _db: TempDir,
    _stop: tokio::sync::oneshot::Sender<()>,
}

/// A platform serving the demo world with the default settings.
pub async fn platform() -> Platform {
    platform_with(|_| {}).await
}

/// A platform serving the demo world with `adjust`ed settings.
pub async fn platform_with(adjust: impl FnOnce(&mut Settings)) -> Platform {
    let db = tempfile::tempdir().unwrap();
    let mut settings = Settings {
        addr: "127.0.0.1:0".into(),
        db: format!("sqlite://{}", db.path().join("p.db").display()),
        admin_token: Some(PLATFORM_ADMIN.into()),
        ..Settings::default()
    };
    adjust(&mut settings);
    let app = Application::build(settings).await.unwrap();
    let base = format!("http://{}", app.local_addr());
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(app.run_until_stopped(async {
        let _ = rx.await;
    }));
    Platform {
        base,
        http: reqwest::Client::new(),
        _db: db,
        _stop: tx,
    }
}

impl Platform {
    /// A sandbox API call that must succeed.
    pub async fn sandbox(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        sandbox_ok(&self.http, &self.base, PLATFORM_ADMIN, method, path, body).await
    }
}
