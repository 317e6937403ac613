//! What the tests of the `fastreg` binary share: the binary without the caller's settings, a
//! sandbox API call, a scratch PostgreSQL database, and a platform run in-process on port 0 with the demo world
//! (`fastreg_platform::testing`, the one spawn helper every crate's tests use).

use std::process::Command;

use fastreg_platform::settings::Settings;

/// The `fastreg` binary with none of the tests' own `FASTREG_*` settings (they must not leak
/// in), warnings-only logs, and no proxy (its default port would be shared by every test's
/// server; `--proxy-addr 127.0.0.1:0` turns it on again).
pub fn fastreg() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_fastreg"));
    for (k, _) in std::env::vars() {
        if k.starts_with("FASTREG_") {
            c.env_remove(k);
        }
    }
    c.env("FASTREG_LOG", "warn");
    c.env("FASTREG_PROXY", "false");
    c
}

/// A new empty database on the PostgreSQL server `FASTREG_TEST_PG` names, dropped with the
/// value; `None`, with the skip printed, when it is unset. A set but unusable URL panics.
pub fn scratch_postgres() -> Option<fastreg_platform::testing::ScratchDatabase> {
    let Ok(base_url) = std::env::var("FASTREG_TEST_PG") else {
        eprintln!("skipped: FASTREG_TEST_PG is not set");
        return None;
    };
    let scratch = fastreg_platform::testing::ScratchDatabase::create(&base_url)
        .unwrap_or_else(|e| panic!("FASTREG_TEST_PG is set but unusable: {e:#}"));
    Some(scratch)
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

/// A platform serving the demo world, stopped when dropped: the shared helper's platform, in a
/// local type so that test modules can give it their own calls.
pub struct Platform(fastreg_platform::testing::Platform);

impl std::ops::Deref for Platform {
    type Target = fastreg_platform::testing::Platform;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

/// A platform serving the demo world with the default settings.
pub async fn platform() -> Platform {
    platform_with(|_| {}).await
}

/// A platform serving the demo world with `adjust`ed settings.
pub async fn platform_with(adjust: impl FnOnce(&mut Settings)) -> Platform {
    Platform(fastreg_platform::testing::spawn_platform(adjust).await)
}
