//! `spawn_app()` and typed helpers over the platform's HTTP API.

#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::Arc;

use fastreg_platform::app::Application;
use fastreg_platform::settings::Settings;
use fastreg_platform::state::AppState;
use fastreg_platform::testing::ScratchDatabase;
use serde_json::{json, Value};
use tempfile::TempDir;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// The demo world's ids (`C` is its component).
pub use fastreg_platform::testing::demo::{
    ACME_ENTITY, COMPONENT as C, OA, OA_BLACKLISTED, OA_MEDIA, OA_OVERSEAS, OA_PENDING,
    OA_PERSONAL, OA_UNVERIFIED,
};

pub use fastreg_platform::testing::ADMIN;

pub struct TestApp {
    pub base: String,
    pub http: reqwest::Client,
    pub state: Arc<AppState>,
    pub dir: Arc<TempDir>,
    pub db_path: PathBuf,
    /// The scratch PostgreSQL database, when the platform runs on one.
    pub pg: Option<Arc<ScratchDatabase>>,
    /// The admin token sandbox calls send ([`ADMIN`]; a world's own in [`TestApp::world`]).
    pub token: String,
    shutdown: Option<oneshot::Sender<()>>,
    handle: Option<JoinHandle<()>>,
}

/// A platform on port 0 with a fresh temporary database and the demo world.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// Same, with settings adjusted first.
pub async fn spawn_app_with(adjust: impl FnOnce(&mut Settings)) -> TestApp {
    let dir = Arc::new(tempfile::tempdir().expect("temp dir"));
    spawn_on(dir, adjust).await
}

/// The database a test's platform runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Db {
    /// A SQLite file in a temporary directory.
    Sqlite,
    /// A scratch database on the server `FASTREG_TEST_PG` names, dropped after the test.
    Postgres,
}

/// A platform on port 0 with a fresh database of the given kind and the demo world; `None`
/// (with the reason printed) for PostgreSQL when `FASTREG_TEST_PG` is unset.
pub async fn spawn_app_on(db: Db, adjust: impl FnOnce(&mut Settings)) -> Option<TestApp> {
    match db {
        Db::Sqlite => Some(spawn_app_with(adjust).await),
        Db::Postgres => {
            let base = match std::env::var("FASTREG_TEST_PG") {
                Ok(b) if !b.is_empty() => b,
                _ => {
                    eprintln!("skipped: FASTREG_TEST_PG is not set");
                    return None;
                }
            };
            let scratch = Arc::new(
                ScratchDatabase::create(&base)
                    .unwrap_or_else(|e| panic!("FASTREG_TEST_PG is set but unusable: {e:#}")),
            );
            let dir = Arc::new(tempfile::tempdir().expect("temp dir"));
            Some(spawn_on_pg(dir, scratch, adjust).await)
        }
    }
}

/// A platform on an existing scratch PostgreSQL database (for restarts and second instances).
pub async fn spawn_on_pg(
    dir: Arc<TempDir>,
    scratch: Arc<ScratchDatabase>,
    adjust: impl FnOnce(&mut Settings),
) -> TestApp {
    let url = scratch.url().to_string();
    let mut app = spawn_on(dir, |s| {
        s.db = url;
        adjust(s);
    })
    .await;
    app.pg = Some(scratch);
    app
}

/// Generates, for each named scenario `async fn NAME(db: Db)`, a module `NAME` with the tests
/// `on_sqlite` and `on_postgres`.
#[macro_export]
macro_rules! on_every_backend {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test]
            async fn on_sqlite() {
                super::$name($crate::helpers::Db::Sqlite).await
            }
            #[tokio::test]
            async fn on_postgres() {
                super::$name($crate::helpers::Db::Postgres).await
            }
        }
    )*};
}

/// A platform on an existing directory's database (for restarts).
pub async fn spawn_on(dir: Arc<TempDir>, adjust: impl FnOnce(&mut Settings)) -> TestApp {
    let db_path = dir.path().join("fastreg.db");
    let mut settings = Settings {
        addr: "127.0.0.1:0".into(),
        db: format!("sqlite://{}", db_path.display()),
        admin_token: Some(ADMIN.into()),
        ..Settings::default()
    };
    adjust(&mut settings);
    let app = Application::build(settings).await.expect("platform builds");
    let base = format!("http://{}", app.local_addr());
    let state = app.state();
    let (tx, rx) = oneshot::channel::<()>();
    let handle = tokio::spawn(app.run_until_stopped(async {
        let _ = rx.await;
    }));
    TestApp {
        base,
        http: reqwest::Client::new(),
        state,
        dir,
        db_path,
        pg: None,
        token: ADMIN.into(),
        shutdown: Some(tx),
        handle: Some(handle),
    }
}

/// The errcode of a reply (0 when absent, as WeChat's token endpoints).
pub fn errcode(v: &Value) -> i64 {
    v.get("errcode").and_then(Value::as_i64).unwrap_or(0)
}

/// Asserts an errmsg ends in ` rid: xxxxxxxx-xxxxxxxx-xxxxxxxx` and returns the text before it.
pub fn errmsg_text(v: &Value) -> String {
    let msg = v["errmsg"].as_str().expect("errmsg is a string");
    let (text, rid) = msg
        .rsplit_once(" rid: ")
        .unwrap_or_else(|| panic!("no rid in {msg:?}"));
    let groups: Vec<&str> = rid.split('-').collect();
    assert_eq!(groups.len(), 3, "rid {rid:?}");
    for g in groups {
        assert_eq!(g.len(), 8, "rid {rid:?}");
        assert!(
            g.chars().all(|c| matches!(c, '0'..='9' | 'a'..='f')),
            "rid {rid:?}"
        );
    }
    text.to_string()
}

impl TestApp {
    /// The same server seen through a world's base URL (`/w/{id}`), with `token` on its
    /// sandbox calls: every helper then acts in that world. Stopping it stops nothing.
    pub fn world(&self, id: &str, token: &str) -> TestApp {
        TestApp {
            base: format!("{}/w/{id}", self.base),
            http: self.http.clone(),
            state: self.state.clone(),
            dir: self.dir.clone(),
            db_path: self.db_path.clone(),
            pg: self.pg.clone(),
            token: token.into(),
            shutdown: None,
            handle: None,
        }
    }

    /// Creates a world (`POST /sandbox/v1/worlds` at the root) and returns its answer and a
    /// view of the server through it.
    pub async fn create_world(&self, body: Value) -> (Value, TestApp) {
        let w = self.sandbox_ok("POST", "/worlds", Some(&body)).await;
        let view = self.world(
            w["id"].as_str().unwrap(),
            w["admin_token"].as_str().unwrap(),
        );
        (w, view)
    }

    /// Stops the server and waits for it to finish.
    pub async fn stop(mut self) -> Arc<TempDir> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(h) = self.handle.take() {
            let _ = h.await;
        }
        self.dir.clone()
    }

    /// Stops the server and starts a new one on the same database.
    pub async fn restart(self, adjust: impl FnOnce(&mut Settings)) -> TestApp {
        let pg = self.pg.clone();
        let dir = self.stop().await;
        match pg {
            Some(scratch) => spawn_on_pg(dir, scratch, adjust).await,
            None => spawn_on(dir, adjust).await,
        }
    }

    /// POSTs a raw body to a WeChat-compatible path; asserts HTTP 200 and WeChat's content
    /// type; returns the JSON.
    pub async fn post_raw(&self, path_and_query: &str, body: impl Into<reqwest::Body>) -> Value {
        let resp = self
            .http
            .post(format!("{}{path_and_query}", self.base))
            .body(body)
            .send()
            .await
            .expect("request sent");
        assert_eq!(resp.status(), 200, "POST {path_and_query}");
        let ct = resp.headers()["content-type"].to_str().unwrap().to_string();
        assert_eq!(
            ct, "application/json; encoding=utf-8",
            "POST {path_and_query}"
        );
        resp.json().await.expect("JSON reply")
    }

    /// POSTs JSON to a WeChat-compatible path.
    pub async fn post(&self, path_and_query: &str, body: &Value) -> Value {
        self.post_raw(path_and_query, body.to_string()).await
    }

    /// A sandbox call; returns (status, JSON or Null).
    pub async fn sandbox(&self, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
        let url = format!("{}/sandbox/v1{path}", self.base);
        let mut req = self
            .http
            .request(method.parse().unwrap(), url)
            .bearer_auth(&self.token);
        if let Some(b) = body {
            req = req.body(b.to_string());
        }
        let resp = req.send().await.expect("request sent");
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// A sandbox call that must succeed (2xx); returns the JSON.
    pub async fn sandbox_ok(&self, method: &str, path: &str, body: Option<&Value>) -> Value {
        let (status, v) = self.sandbox(method, path, body).await;
        assert!(
            (200..300).contains(&status),
            "{method} {path} -> {status} {v}"
        );
        v
    }

    /// The component's secret and latest verify ticket.
    pub async fn component_credentials(&self, component: &str) -> (String, String) {
        let c = self
            .sandbox_ok("GET", &format!("/components/{component}"), None)
            .await;
        let t = self
            .sandbox_ok(
                "GET",
                &format!("/components/{component}/verify-ticket"),
                None,
            )
            .await;
        (
            c["appsecret"].as_str().unwrap().into(),
            t["component_verify_ticket"].as_str().unwrap().into(),
        )
    }

    /// A fresh component_access_token.
    pub async fn component_token(&self, component: &str) -> String {
        let (secret, ticket) = self.component_credentials(component).await;
        let v = self
            .post(
                "/cgi-bin/component/api_component_token",
                &json!({"component_appid": component, "component_appsecret": secret,
                        "component_verify_ticket": ticket}),
            )
            .await;
        v["component_access_token"]
            .as_str()
            .unwrap_or_else(|| panic!("no token: {v}"))
            .into()
    }

    /// Authorises `authorizer` with `sets` and exchanges the code: (access, refresh).
    pub async fn authorize(
        &self,
        ct: &str,
        component: &str,
        authorizer: &str,
        sets: &[i64],
    ) -> (String, String) {
        let a = self
            .sandbox_ok(
                "POST",
                "/authorizations",
                Some(
                    &json!({"component_appid": component, "authorizer_appid": authorizer,
                             "permission_sets": sets}),
                ),
            )
            .await;
        let v = self
            .query_auth(ct, component, a["auth_code"].as_str().unwrap())
            .await;
        let info = &v["authorization_info"];
        (
            info["authorizer_access_token"]
                .as_str()
                .unwrap_or_else(|| panic!("{v}"))
                .into(),
            info["authorizer_refresh_token"].as_str().unwrap().into(),
        )
    }

    /// api_query_auth.
    pub async fn query_auth(&self, ct: &str, component: &str, code: &str) -> Value {
        self.post(
            &format!("/cgi-bin/component/api_query_auth?component_access_token={ct}"),
            &json!({"component_appid": component, "authorization_code": code}),
        )
        .await
    }

    /// The demo OA's access token (component token, authorisation with set 27, exchange).
    pub async fn oa_token(&self, oa: &str) -> String {
        let ct = self.component_token(C).await;
        self.authorize(&ct, C, oa, &[1, 15, 27]).await.0
    }

    /// A confirmed fastregister ticket.
    pub async fn confirm(&self, component: &str, oa: &str, copy_wx_verify: u8) -> String {
        let v = self
            .sandbox_ok(
                "POST",
                "/fastregister-confirmations",
                Some(&json!({"component_appid": component, "appid": oa,
                             "copy_wx_verify": copy_wx_verify,
                             "redirect_uri": "https://localhost/callback?from=test"})),
            )
            .await;
        v["ticket"].as_str().unwrap().into()
    }

    /// fastregister.
    pub async fn fastregister(&self, oa_token: &str, ticket: &str) -> Value {
        self.post(
            &format!("/cgi-bin/account/fastregister?access_token={oa_token}"),
            &json!({"ticket": ticket}),
        )
        .await
    }

    /// Moves the sandbox clock.
    pub async fn advance(&self, seconds: i64) -> i64 {
        let v = self
            .sandbox_ok("POST", "/clock/advance", Some(&json!({"seconds": seconds})))
            .await;
        v["now"].as_i64().unwrap()
    }

    /// The OA's registrations as the sandbox lists them.
    pub async fn registrations(&self, oa: &str) -> Vec<Value> {
        self.sandbox_ok("GET", &format!("/registrations?appid={oa}"), None)
            .await
            .as_array()
            .unwrap()
            .clone()
    }
}
