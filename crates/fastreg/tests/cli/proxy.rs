//! Proxy mode (spec §10) through the real binary: `fastreg serve --proxy-addr`, a client that
//! keeps WeChat's own URLs and only sets a proxy and trusts the CA, refusals for every other
//! host, the CA kept across restarts, and `fastreg ca`.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::common::fastreg;

const ADMIN: &str = "proxy-test-admin";
const C: &str = "wxc0ffee0000000001";

/// A `fastreg serve` with its proxy on a free port; everything it wrote to stdout and stderr is
/// kept (the tests look for the CA key in it).
pub struct Served {
    child: Child,
    pub base: String,
    pub proxy: String,
    pub ca: String,
    output: Arc<Mutex<String>>,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Served {
    /// Everything printed or logged so far.
    pub fn output(&self) -> String {
        self.output.lock().unwrap().clone()
    }

    /// Stops the server and waits for it to exit.
    pub fn stop(mut self) -> String {
        let _ = self.child.kill();
        let _ = self.child.wait();
        std::thread::sleep(Duration::from_millis(100));
        self.output()
    }
}

/// Starts `fastreg serve` in `dir` on the database `db` with debug logs and its proxy on.
pub fn serve_with_proxy(dir: &Path, db: &str) -> Served {
    let mut child = fastreg()
        .args([
            "serve",
            "--addr",
            "127.0.0.1:0",
            "--proxy-addr",
            "127.0.0.1:0",
        ])
        .args(["--db", db, "--admin-token", ADMIN])
        .env("FASTREG_LOG", "debug")
        .current_dir(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("fastreg starts");
    let output = Arc::new(Mutex::new(String::new()));
    let stderr = child.stderr.take().unwrap();
    let sink = output.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            sink.lock().unwrap().push_str(&format!("{line}\n"));
        }
    });
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let (mut base, mut proxy, mut ca) = (None, None, None);
    for line in lines.by_ref() {
        let line = line.expect("stdout line");
        output.lock().unwrap().push_str(&format!("{line}\n"));
        if let Some(rest) = line.strip_prefix("fastreg platform listening on ") {
            base = Some(rest.trim().to_string());
        }
        if line.starts_with("proxy for ") {
            let after = line.split("listening on ").nth(1).unwrap();
            proxy = after.split_whitespace().next().map(String::from);
            let ca_part = line.split("(CA: ").nth(1).unwrap();
            ca = ca_part.split(';').next().map(String::from);
        }
        if base.is_some() && proxy.is_some() {
            break;
        }
    }
    let sink = output.clone();
    std::thread::spawn(move || {
        for line in lines.map_while(Result::ok) {
            sink.lock().unwrap().push_str(&format!("{line}\n"));
        }
    });
    let ca = ca.expect("the proxy line names the CA");
    let ca = if Path::new(&ca).is_absolute() {
        ca
    } else {
        dir.join(ca).display().to_string()
    };
    Served {
        child,
        base: base.expect("serve printed its address"),
        proxy: proxy.expect("serve printed its proxy's address"),
        ca,
        output,
    }
}

/// A client that talks to WeChat's hosts through `served`'s proxy, trusting only its CA.
fn through_proxy(served: &Served) -> reqwest::Client {
    let pem = std::fs::read(&served.ca).expect("the CA file exists");
    reqwest::Client::builder()
        .proxy(reqwest::Proxy::all(&served.proxy).unwrap())
        .add_root_certificate(reqwest::Certificate::from_pem(&pem).unwrap())
        .tls_built_in_root_certs(false)
        .build()
        .unwrap()
}

/// An answer with its rid (unique per request) blanked, for comparing two answers.
fn without_rid(body: &str) -> String {
    match body.find(" rid: ") {
        Some(at) => format!("{}{}", &body[..at], &body[at + 32..]),
        None => body.to_string(),
    }
}

async fn answer(resp: reqwest::Response) -> (u16, String, String) {
    let status = resp.status().as_u16();
    let kind = resp
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    (status, kind, without_rid(&resp.text().await.unwrap()))
}

async fn sandbox_get(base: &str, path: &str) -> serde_json::Value {
    reqwest::Client::new()
        .get(format!("{base}/sandbox/v1{path}"))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_wechat_call_through_the_proxy_answers_exactly_as_at_the_root() {
    // Arrange
    let dir = tempfile::tempdir().unwrap();
    let served = serve_with_proxy(dir.path(), "sqlite://p.db");
    let proxied = through_proxy(&served);
    let direct = reqwest::Client::new();
    let wrong_secret = serde_json::json!({
        "component_appid": C, "component_appsecret": "not-the-secret",
        "component_verify_ticket": "x",
    });
    let url = |base: &str| format!("{base}/cgi-bin/component/api_component_token");

    // Act: the same refusal at the root and through the proxy, over HTTPS to WeChat's host.
    let at_root = answer(
        direct
            .post(url(&served.base))
            .json(&wrong_secret)
            .send()
            .await
            .unwrap(),
    )
    .await;
    let via_proxy = answer(
        proxied
            .post(url("https://api.weixin.qq.com"))
            .json(&wrong_secret)
            .send()
            .await
            .unwrap(),
    )
    .await;

    // Assert
    assert_eq!(via_proxy, at_root);
    assert!(at_root.2.contains("40125"), "{}", at_root.2);

    // And a token issued through the proxy works at the root: one platform, one state.
    let secret = sandbox_get(&served.base, &format!("/components/{C}")).await["appsecret"]
        .as_str()
        .unwrap()
        .to_string();
    let ticket = sandbox_get(&served.base, &format!("/components/{C}/verify-ticket")).await
        ["component_verify_ticket"]
        .as_str()
        .unwrap()
        .to_string();
    let issued: serde_json::Value = proxied
        .post(url("https://api.weixin.qq.com"))
        .json(&serde_json::json!({
            "component_appid": C, "component_appsecret": secret,
            "component_verify_ticket": ticket,
        }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = issued["component_access_token"].as_str().expect("a token");
    for (client, base) in [
        (&direct, served.base.as_str()),
        (&proxied, "https://api.weixin.qq.com"),
    ] {
        let code: serde_json::Value = client
            .post(format!(
                "{base}/cgi-bin/component/api_create_preauthcode?component_access_token={token}"
            ))
            .json(&serde_json::json!({ "component_appid": C }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert!(code["pre_auth_code"].is_string(), "{base}: {code}");
    }
    // The pages' host is served too, by the same tunnel mechanics.
    let page = proxied
        .get("https://mp.weixin.qq.com/healthz")
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
}

#[tokio::test]
async fn absolute_form_plain_http_through_the_proxy_is_served_as_at_the_root() {
    let dir = tempfile::tempdir().unwrap();
    let served = serve_with_proxy(dir.path(), "sqlite://p.db");
    let plain = reqwest::Client::builder()
        .proxy(reqwest::Proxy::http(&served.proxy).unwrap())
        .build()
        .unwrap();
    let body = serde_json::json!({ "component_appid": "wx0000000000000000" });
    let mut answers = Vec::new();
    for (client, base) in [
        (&plain, "http://api.weixin.qq.com"),
        (&reqwest::Client::new(), served.base.as_str()),
    ] {
        let resp = client
            .post(format!("{base}/cgi-bin/component/api_component_token"))
            .json(&body)
            .send()
            .await
            .unwrap();
        answers.push(answer(resp).await);
    }
    assert_eq!(answers[0], answers[1]);
    assert!(answers[0].2.contains("61011"), "{}", answers[0].2);
}

/// Sends `request` to the proxy on a raw connection and returns the status line and body.
fn raw(proxy: &str, request: &str) -> (String, String) {
    let addr = proxy.trim_start_matches("http://");
    let mut tcp = TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    tcp.write_all(request.as_bytes()).unwrap();
    let mut reader = BufReader::new(tcp);
    let mut status = String::new();
    reader.read_line(&mut status).unwrap();
    let mut length = 0;
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        if line.trim().is_empty() {
            break;
        }
        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            length = v.trim().parse().unwrap();
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).unwrap();
    (status.trim().to_string(), String::from_utf8(body).unwrap())
}

#[test]
fn a_request_for_any_other_host_is_refused_with_403_and_nothing_is_forwarded() {
    // Arrange: a server of our own that the proxy must never reach.
    let dir = tempfile::tempdir().unwrap();
    let served = serve_with_proxy(dir.path(), "sqlite://p.db");
    let elsewhere = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    elsewhere.set_nonblocking(true).unwrap();
    let port = elsewhere.local_addr().unwrap().port();

    // Act
    let refused = [
        format!("CONNECT 127.0.0.1:{port} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n"),
        "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n".into(),
        "CONNECT api.weixin.qq.com:8443 HTTP/1.1\r\nHost: api.weixin.qq.com\r\n\r\n".into(),
        format!("GET http://127.0.0.1:{port}/ HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n"),
        "GET http://example.com/ HTTP/1.1\r\nHost: example.com\r\n\r\n".into(),
        "GET /cgi-bin/component/api_component_token HTTP/1.1\r\nHost: x\r\n\r\n".into(),
    ]
    .map(|r| (r.clone(), raw(&served.proxy, &r)));

    // Assert
    for (request, (status, body)) in &refused {
        assert!(status.contains(" 403 "), "{request:?} → {status}");
        assert_eq!(body.lines().count(), 1, "one line: {body:?}");
        assert!(body.starts_with("fastreg proxy: "), "{body:?}");
    }
    std::thread::sleep(Duration::from_millis(200));
    assert!(
        elsewhere.accept().is_err(),
        "the proxy connected to another host"
    );
}

#[test]
fn the_ca_persists_across_restarts_its_key_file_is_0600_and_the_key_is_never_logged() {
    // Arrange
    let dir = tempfile::tempdir().unwrap();

    // Act: two starts on the same database directory, and `fastreg ca` beside them.
    let first = serve_with_proxy(dir.path(), "sqlite://p.db");
    let ca_path = first.ca.clone();
    let pem = std::fs::read_to_string(&ca_path).unwrap();
    let first_output = first.stop();
    let second = serve_with_proxy(dir.path(), "sqlite://p.db");
    let second_ca = second.ca.clone();
    let second_output = second.stop();
    let printed = fastreg()
        .args(["ca", "--db", "sqlite://p.db"])
        .current_dir(dir.path())
        .output()
        .unwrap();

    // Assert
    assert_eq!(Path::new(&ca_path), dir.path().join("fastreg-ca.pem"));
    assert_eq!(second_ca, ca_path);
    assert_eq!(std::fs::read_to_string(&second_ca).unwrap(), pem, "same CA");
    assert!(
        first_output.contains("created the proxy's CA"),
        "{first_output}"
    );
    assert!(!second_output.contains("created the proxy's CA"));
    let key_file = dir.path().join("fastreg-ca.key");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&key_file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
    assert!(printed.status.success());
    assert_eq!(String::from_utf8_lossy(&printed.stdout), pem);
    let help = String::from_utf8_lossy(&printed.stderr);
    for recipe in [
        "keytool -importcert",
        "REQUESTS_CA_BUNDLE",
        "SSL_CERT_FILE",
        "NODE_EXTRA_CA_CERTS",
        "--cacert",
    ] {
        assert!(help.contains(recipe), "{recipe} missing:\n{help}");
    }
    let key = std::fs::read_to_string(&key_file).unwrap();
    for line in key.lines().filter(|l| !l.starts_with("-----")) {
        for (what, text) in [
            ("first run", &first_output),
            ("second run", &second_output),
            (
                "fastreg ca",
                &format!("{}{help}", String::from_utf8_lossy(&printed.stdout)),
            ),
        ] {
            assert!(!text.contains(line), "the CA key is in the {what}'s output");
        }
    }
}

#[test]
fn fastreg_ca_refuses_an_unusable_directory_or_a_damaged_ca_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let blocker = dir.path().join("a-file");
    std::fs::write(&blocker, "not a directory").unwrap();
    let damaged = dir.path().join("damaged");
    std::fs::create_dir(&damaged).unwrap();
    std::fs::write(damaged.join("fastreg-ca.pem"), "garbage").unwrap();
    std::fs::write(damaged.join("fastreg-ca.key"), "garbage").unwrap();
    for (ca_dir, expect) in [
        (blocker.join("sub"), "creating the CA directory"),
        (damaged.clone(), "is not a PEM private key"),
    ] {
        let out = fastreg()
            .args(["ca", "--ca-dir", ca_dir.to_str().unwrap()])
            .current_dir(dir.path())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{ca_dir:?}");
        assert!(out.stdout.is_empty());
        let errors: Vec<&str> = stderr
            .lines()
            .filter(|l| l.starts_with("error: "))
            .collect();
        assert_eq!(errors.len(), 1, "{stderr}");
        assert!(errors[0].contains(expect), "{stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
    }
}

/// A client of `served`'s proxy that names `world` as the proxy user (platform.md §9–§10).
fn through_proxy_as(served: &Served, world: &str) -> reqwest::Client {
    let pem = std::fs::read(&served.ca).expect("the CA file exists");
    reqwest::Client::builder()
        .proxy(
            reqwest::Proxy::all(&served.proxy)
                .unwrap()
                .basic_auth(world, "-"),
        )
        .add_root_certificate(reqwest::Certificate::from_pem(&pem).unwrap())
        .tls_built_in_root_certs(false)
        .build()
        .unwrap()
}

#[tokio::test]
async fn the_proxy_user_name_chooses_the_world_a_client_with_wechats_urls_acts_in() {
    let dir = tempfile::tempdir().unwrap();
    let served = serve_with_proxy(dir.path(), "sqlite://p.db");
    let http = reqwest::Client::new();
    // A world seeded with the demo world: the same component appid as the default world's,
    // with a secret of its own.
    let export = sandbox_get(&served.base, "/export").await;
    let world: serde_json::Value = http
        .post(format!("{}/sandbox/v1/worlds", served.base))
        .bearer_auth(ADMIN)
        .json(&serde_json::json!({"seed": {
            "components": export["components"].as_array().unwrap().iter().map(|c| {
                let mut c = c.clone();
                c["appsecret"] = serde_json::json!("the-worlds-own-secret");
                c
            }).collect::<Vec<_>>(),
        }}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = world["id"].as_str().unwrap();
    let ticket: serde_json::Value = http
        .get(format!(
            "{}/w/{id}/sandbox/v1/components/{C}/verify-ticket",
            served.base
        ))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let call = serde_json::json!({
        "component_appid": C, "component_appsecret": "the-worlds-own-secret",
        "component_verify_ticket": ticket["component_verify_ticket"],
    });
    let url = "https://api.weixin.qq.com/cgi-bin/component/api_component_token";

    // The answer to `call` sent through the proxy by `client`.
    let answer = |client: reqwest::Client| {
        let call = call.clone();
        async move {
            let resp = client.post(url).json(&call).send().await.unwrap();
            resp.text().await.unwrap()
        }
    };

    // The world's credentials work through the proxy as that world...
    let in_world = answer(through_proxy_as(&served, id)).await;
    assert!(in_world.contains("component_access_token"), "{in_world}");
    // ...and not without the user name (the default world), nor as a world that does not exist.
    let default = answer(through_proxy(&served)).await;
    assert!(!default.contains("component_access_token"), "{default}");
    let nowhere = answer(through_proxy_as(&served, "nosuchworld00000")).await;
    assert!(nowhere.contains("40001"), "{nowhere}");
}
