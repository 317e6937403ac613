//! No secret in the logs, at any level: `fastreg serve` runs as a real process with
//! `FASTREG_LOG=trace`, in each log format, while a client walks the whole flow (the pages
//! included), calls the sandbox API and logs in to the console; then none of the secrets that
//! crossed the wire (admin token, AppSecret, push token, EncodingAESKey, verify tickets, every
//! access and refresh token, pre_auth_code, auth codes, the fastregister ticket, the console
//! session) appears in anything the process printed.

use std::io::Read;
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex};

use serde_json::{json, Value};

use crate::common;

const C: &str = "wxc0ffee0000000001";
const OA: &str = "wx0a00000000000001";
const ADMIN: &str = "logs-test-admin-token-5d1f7a0c9e2b";

struct Server {
    child: Child,
    output: Arc<Mutex<Vec<u8>>>,
    readers: Vec<std::thread::JoinHandle<()>>,
}

impl Server {
    /// Stops the process and returns everything it printed on stdout and stderr.
    fn stop(mut self) -> String {
        let _ = self.child.kill();
        let _ = self.child.wait();
        for r in self.readers.drain(..) {
            let _ = r.join();
        }
        let out = self.output.lock().unwrap();
        String::from_utf8_lossy(&out).into_owned()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `fastreg serve` on port 0 with trace logging; returns it and its base URL.
fn serve(dir: &std::path::Path, log_format: &str, db: &str) -> (Server, String) {
    let mut child = common::fastreg()
        .env_remove("RUST_LOG")
        .args(["--log-format", log_format, "serve", "--addr", "127.0.0.1:0"])
        .args(["--db", db])
        .env("FASTREG_LOG", "trace")
        .env("RUST_LOG", "trace")
        .env("FASTREG_ADMIN_TOKEN", ADMIN)
        .current_dir(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("fastreg starts");
    let output = Arc::new(Mutex::new(Vec::new()));
    let (base_tx, base_rx) = std::sync::mpsc::channel();
    let mut readers = Vec::new();
    let stdout = child.stdout.take().unwrap();
    let stderr = child.stderr.take().unwrap();
    for (pipe, is_stdout) in [
        (Box::new(stdout) as Box<dyn Read + Send>, true),
        (Box::new(stderr), false),
    ] {
        let output = output.clone();
        let base_tx = base_tx.clone();
        readers.push(std::thread::spawn(move || {
            let mut pipe = pipe;
            let mut line = Vec::new();
            let mut byte = [0u8; 1];
            while let Ok(1) = pipe.read(&mut byte) {
                output.lock().unwrap().push(byte[0]);
                if byte[0] != b'\n' {
                    line.push(byte[0]);
                    continue;
                }
                let text = String::from_utf8_lossy(&line).into_owned();
                if let Some(base) = text.strip_prefix("fastreg platform listening on ") {
                    if is_stdout {
                        let _ = base_tx.send(base.trim().to_string());
                    }
                }
                line.clear();
            }
        }));
    }
    let base = base_rx
        .recv_timeout(std::time::Duration::from_secs(60))
        .expect("the server prints its address");
    (
        Server {
            child,
            output,
            readers,
        },
        base,
    )
}

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// Opens the confirmation page `page` with `pairs` as its query, then submits its form: the same
/// pairs, `extra` and the page's CSRF token. Returns the answer (a redirect).
async fn confirm_page(
    http: &reqwest::Client,
    base: &str,
    page: &str,
    pairs: &[(&str, &str)],
    extra: &[(&str, &str)],
) -> reqwest::Response {
    let q: String = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish();
    let html = http
        .get(format!("{base}{page}?{q}"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let token = csrf(&html);
    let mut form = pairs.to_vec();
    form.extend_from_slice(extra);
    form.push(("csrf", &token));
    http.post(format!("{base}{page}/confirm"))
        .form(&form)
        .send()
        .await
        .unwrap()
}

fn csrf(html: &str) -> String {
    let marker = r#"name="csrf" value=""#;
    let start = html.find(marker).expect("a csrf field") + marker.len();
    html[start..start + html[start..].find('"').unwrap()].to_string()
}

/// A query parameter of a redirect's Location.
fn location_param(resp: &reqwest::Response, name: &str) -> String {
    let location = resp.headers()["location"].to_str().unwrap();
    url::Url::parse(location)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == name)
        .unwrap_or_else(|| panic!("no {name} in {location}"))
        .1
        .into_owned()
}

fn str_of(v: &Value, what: &str) -> String {
    v.as_str()
        .unwrap_or_else(|| panic!("no {what}"))
        .to_string()
}

/// Walks the whole flow against `base`; returns every secret that crossed the wire.
async fn walk_the_flow(base: &str) -> Vec<(&'static str, String)> {
    let http = no_redirects();
    let mut secrets: Vec<(&'static str, String)> = vec![("admin token", ADMIN.into())];
    let admin = format!("Bearer {ADMIN}");
    let sandbox = |method: &str, path: String, body: Option<Value>| {
        common::sandbox_ok(&http, base, ADMIN, method, &path, body)
    };
    let wx = |path: String, body: Value| {
        let r = http.post(format!("{base}{path}")).body(body.to_string());
        async move { r.send().await.unwrap().json::<Value>().await.unwrap() }
    };

    // The component's secrets, and a push that fails (logged at info) to an unreachable URL.
    let c = sandbox(
        "PATCH",
        format!("/components/{C}"),
        Some(json!({"event_url": "http://127.0.0.1:9/events"})),
    )
    .await;
    let secret = str_of(&c["appsecret"], "appsecret");
    secrets.push(("AppSecret", secret.clone()));
    secrets.push(("push token", str_of(&c["token"], "token")));
    secrets.push((
        "EncodingAESKey",
        str_of(&c["encoding_aes_key"], "encoding_aes_key"),
    ));
    let v = wx(
        "/cgi-bin/component/api_start_push_ticket".into(),
        json!({"component_appid": C, "component_secret": secret}),
    )
    .await;
    assert_eq!(v["errcode"], 0, "{v}");
    let vt = sandbox("GET", format!("/components/{C}/verify-ticket"), None).await;
    let vt = str_of(&vt["component_verify_ticket"], "verify ticket");
    secrets.push(("verify ticket", vt.clone()));

    // Component token, pre_auth_code.
    let v = wx(
        "/cgi-bin/component/api_component_token".into(),
        json!({"component_appid": C, "component_appsecret": secret, "component_verify_ticket": vt}),
    )
    .await;
    let ct = str_of(&v["component_access_token"], "component_access_token");
    secrets.push(("component_access_token", ct.clone()));
    let v = wx(
        format!("/cgi-bin/component/api_create_preauthcode?component_access_token={ct}"),
        json!({"component_appid": C}),
    )
    .await;
    let pre_auth_code = str_of(&v["pre_auth_code"], "pre_auth_code");
    secrets.push(("pre_auth_code", pre_auth_code.clone()));

    // componentloginpage: the OA's admin grants sets 1, 15, 27; the redirect carries auth_code.
    let pairs = [
        ("component_appid", C),
        ("pre_auth_code", &pre_auth_code),
        ("redirect_uri", "https://localhost/cb"),
        ("auth_type", "1"),
        ("biz_appid", OA),
    ];
    let sets = [("set", "1"), ("set", "15"), ("set", "27")];
    let resp = confirm_page(&http, base, "/cgi-bin/componentloginpage", &pairs, &sets).await;
    assert_eq!(resp.status(), 302);
    let auth_code = location_param(&resp, "auth_code");
    secrets.push(("auth_code", auth_code.clone()));

    // api_query_auth, then a refresh: the OA's tokens.
    let v = wx(
        format!("/cgi-bin/component/api_query_auth?component_access_token={ct}"),
        json!({"component_appid": C, "authorization_code": auth_code}),
    )
    .await;
    let info = &v["authorization_info"];
    secrets.push((
        "OA access token",
        str_of(&info["authorizer_access_token"], "OA token"),
    ));
    let refresh = str_of(&info["authorizer_refresh_token"], "OA refresh token");
    secrets.push(("OA refresh token", refresh.clone()));
    let v = wx(
        format!("/cgi-bin/component/api_authorizer_token?access_token={ct}"),
        json!({"component_appid": C, "authorizer_appid": OA, "authorizer_refresh_token": refresh}),
    )
    .await;
    let oat = str_of(&v["authorizer_access_token"], "refreshed OA token");
    secrets.push(("refreshed OA access token", oat.clone()));

    // fastregisterauth: the OA's admin confirms; the redirect carries the ticket.
    let pairs = [
        ("appid", OA),
        ("component_appid", C),
        ("copy_wx_verify", "1"),
        ("redirect_uri", "https://localhost/cb?from=logs"),
    ];
    let resp = confirm_page(&http, base, "/cgi-bin/fastregisterauth", &pairs, &[]).await;
    assert_eq!(resp.status(), 302);
    let ticket = location_param(&resp, "ticket");
    secrets.push(("fastregister ticket", ticket.clone()));

    // fastregister, and its replay; the new Mini Program's tokens.
    for _ in 0..2 {
        let v = wx(
            format!("/cgi-bin/account/fastregister?access_token={oat}"),
            json!({"ticket": ticket}),
        )
        .await;
        assert_eq!(v["errcode"], 0, "{v}");
        secrets.push((
            "authorization_code",
            str_of(&v["authorization_code"], "authorization_code"),
        ));
    }
    let code = secrets.last().unwrap().1.clone();
    let v = wx(
        format!("/cgi-bin/component/api_query_auth?component_access_token={ct}"),
        json!({"component_appid": C, "authorization_code": code}),
    )
    .await;
    let info = &v["authorization_info"];
    let mpt = str_of(&info["authorizer_access_token"], "MP token");
    secrets.push(("MP access token", mpt.clone()));
    secrets.push((
        "MP refresh token",
        str_of(&info["authorizer_refresh_token"], "MP refresh token"),
    ));

    // The other endpoints, each with a secret in its query or body.
    let v = http
        .get(format!(
            "{base}/cgi-bin/account/getaccountbasicinfo?access_token={mpt}"
        ))
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    assert_eq!(v["errcode"], 0, "{v}");
    let v = wx(
        format!("/cgi-bin/wxopen/wxamplinkget?access_token={oat}"),
        json!({}),
    )
    .await;
    assert_eq!(v["errcode"], 0, "{v}");
    for path in ["api_get_authorizer_info", "api_get_authorizer_list"] {
        let v = wx(
            format!("/cgi-bin/component/{path}?component_access_token={ct}"),
            json!({"component_appid": C, "authorizer_appid": OA, "offset": 0, "count": 10}),
        )
        .await;
        assert_eq!(v["errcode"], 0, "{path}: {v}");
    }

    // Refusals that carry secrets: a spent code, a wrong refresh token, a token of the wrong
    // kind, a secret in a field of the wrong type.
    for (path, body) in [
        (
            format!("/cgi-bin/component/api_query_auth?component_access_token={ct}"),
            json!({"component_appid": C, "authorization_code": code}),
        ),
        (
            format!("/cgi-bin/component/api_authorizer_token?component_access_token={ct}"),
            json!({"component_appid": C, "authorizer_appid": OA,
                   "authorizer_refresh_token": format!("{refresh}x")}),
        ),
        (
            format!("/cgi-bin/account/fastregister?access_token={ct}"),
            json!({"ticket": ticket}),
        ),
        (
            format!("/cgi-bin/account/fastregister?access_token={oat}"),
            json!({"ticket": [ticket]}),
        ),
        (
            "/cgi-bin/component/api_component_token".to_string(),
            json!({"component_appid": C, "component_appsecret": [secret], "component_verify_ticket": vt}),
        ),
    ] {
        let v = wx(path, body).await;
        assert_ne!(v["errcode"], 0, "{v}");
    }

    // Secrets as values of fields of another type: parsers like to quote what they refuse.
    let v = wx(
        format!("/cgi-bin/component/api_get_authorizer_list?component_access_token={ct}"),
        json!({"component_appid": C, "offset": 0, "count": refresh}),
    )
    .await;
    assert_eq!(v["errcode"], 47001, "{v}");
    for (method, path, body) in [
        ("PATCH", "/config".to_string(), json!({"booleans": ADMIN})),
        (
            "PATCH",
            format!("/components/{C}"),
            json!({"published": secret}),
        ),
        (
            "POST",
            "/fastregister-confirmations".to_string(),
            json!({"component_appid": C, "appid": OA, "copy_wx_verify": ticket,
                   "redirect_uri": "https://localhost/cb"}),
        ),
    ] {
        let resp = http
            .request(method.parse().unwrap(), format!("{base}/sandbox/v1{path}"))
            .header("authorization", &admin)
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 400, "{path}");
    }

    // The console.
    let resp = http
        .post(format!("{base}/console/login"))
        .form(&[("token", ADMIN)])
        .send()
        .await
        .unwrap();
    let cookie = resp.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    secrets.push((
        "console session",
        cookie.split_once('=').unwrap().1.to_string(),
    ));
    let page = http
        .get(format!("{base}/"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("Components ("), "the console opened");

    // Let the push to the unreachable URL use its three attempts (0.5 s, then 2 s apart).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        let pushes = sandbox("GET", format!("/pushes?component_appid={C}"), None).await;
        let done = pushes
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["status"] == "failed");
        if done || std::time::Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    secrets
}

async fn nothing_secret_is_logged(log_format: &str, trace_marker: &str, db: &str) {
    let dir = tempfile::tempdir().unwrap();
    let (server, base) = serve(dir.path(), log_format, db);
    let secrets = walk_the_flow(&base).await;
    let output = server.stop();

    // The logs are really at trace level and really cover the requests.
    assert!(
        output.contains(trace_marker),
        "no trace-level line:\n{output}"
    );
    assert!(output.contains("refused"), "no refusal logged:\n{output}");
    assert!(output.contains("fast registration answered"), "{output}");
    let lines = output.lines().count();
    let mut leaks = Vec::new();
    for (what, secret) in &secrets {
        assert!(
            secret.len() >= 16,
            "{what}: {secret:?} is too short to search for"
        );
        if let Some(line) = output.lines().find(|l| l.contains(secret.as_str())) {
            leaks.push(format!("{what} ({secret}) in: {line}"));
        }
    }
    assert!(
        leaks.is_empty(),
        "secrets in the {log_format} logs:\n{}",
        leaks.join("\n")
    );
    eprintln!(
        "logs ({log_format}, trace): {lines} lines, {} secrets searched, none found",
        secrets.len()
    );
}

#[tokio::test]
async fn no_secret_appears_in_the_pretty_logs_at_trace_level_during_a_whole_flow() {
    nothing_secret_is_logged("pretty", "TRACE", "sqlite://logs.db").await;
}

/// The PostgreSQL client logs each statement's parameters at debug level, where the tickets,
/// refresh tokens and secrets are.
#[tokio::test]
async fn no_secret_appears_in_the_logs_at_trace_level_on_postgresql() {
    let Some(scratch) = common::scratch_postgres() else {
        return;
    };
    nothing_secret_is_logged("pretty", "TRACE", scratch.url()).await;
}

#[tokio::test]
async fn no_secret_appears_in_the_json_logs_at_trace_level_during_a_whole_flow() {
    nothing_secret_is_logged("json", r#""level":"TRACE""#, "sqlite://logs.db").await;
}
