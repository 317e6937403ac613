//! The sandbox control API of spec §8: the admin token here; the world's accounts
//! (`world.rs`), authorisations, confirmations and registrations (`authorizations.rs`), and the
//! clock, injected faults and the run-time config (`clock_faults_config.rs`). The helpers below
//! are shared with `security.rs`.

mod authorizations;
mod clock_faults_config;
mod world;

use serde_json::{json, Value};

use super::helpers::*;
use super::wechat::second_component;

const FAST_REGISTER: &str = "/cgi-bin/account/fastregister";
const COMPONENT_TOKEN: &str = "/cgi-bin/component/api_component_token";
const AUTHORIZER_TOKEN: &str = "/cgi-bin/component/api_authorizer_token";
const LINK_GET: &str = "/cgi-bin/wxopen/wxamplinkget";

/// A sandbox call with the given Authorization header (or none): (status, JSON or Null).
pub(super) async fn sandbox_as(
    app: &TestApp,
    authorization: Option<&str>,
    method: &str,
    path: &str,
    body: Option<&Value>,
) -> (u16, Value) {
    let mut req = app.http.request(
        method.parse().unwrap(),
        format!("{}/sandbox/v1{path}", app.base),
    );
    if let Some(a) = authorization {
        req = req.header("authorization", a);
    }
    if let Some(b) = body {
        req = req.body(b.to_string());
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// Asserts a sandbox refusal: status, errcode, and a rid-suffixed errmsg that starts with the
/// code's text (the sandbox may add why).
#[track_caller]
pub(super) fn assert_sandbox_refused(got: &(u16, Value), status: u16, code: i64) {
    let (s, v) = got;
    assert_eq!((*s, errcode(v)), (status, code), "{v}");
    let text = errmsg_text(v);
    assert!(
        text.starts_with(super::wechat::spec_errmsg(code)),
        "errmsg {text:?} for {code}"
    );
}

fn is_wx_appid(s: &str) -> bool {
    s.len() == 18
        && s.starts_with("wx")
        && s[2..].chars().all(|c| matches!(c, '0'..='9' | 'a'..='f'))
}

fn is_lower_hex(s: &str, len: usize) -> bool {
    s.len() == len && s.chars().all(|c| matches!(c, '0'..='9' | 'a'..='f'))
}

/// Every sandbox call, with a body that would be valid.
pub(super) fn every_call() -> Vec<(&'static str, String, Option<Value>)> {
    let component = json!({"auth_domain": "localhost", "published": true, "permission_sets": [1]});
    vec![
        ("POST", "/components".into(), Some(component)),
        ("GET", "/components".into(), None),
        ("GET", format!("/components/{C}"), None),
        (
            "PATCH",
            format!("/components/{C}"),
            Some(json!({"published": false})),
        ),
        ("GET", format!("/components/{C}/verify-ticket"), None),
        ("GET", format!("/components/{C}/token-counts"), None),
        (
            "POST",
            "/entities".into(),
            Some(json!({"name": "X", "type": "enterprise"})),
        ),
        ("GET", "/entities".into(), None),
        ("GET", "/entities/1".into(), None),
        (
            "PATCH",
            "/entities/1".into(),
            Some(json!({"blacklisted": true})),
        ),
        (
            "POST",
            "/official-accounts".into(),
            Some(json!({"nickname": "X", "entity_id": 1, "verified": true})),
        ),
        ("GET", "/official-accounts".into(), None),
        ("GET", format!("/official-accounts/{OA}"), None),
        (
            "PATCH",
            format!("/official-accounts/{OA}"),
            Some(json!({"verified": false})),
        ),
        (
            "POST",
            "/authorizations".into(),
            Some(json!({"component_appid": C, "authorizer_appid": OA, "permission_sets": [1]})),
        ),
        ("GET", "/authorizations".into(), None),
        (
            "POST",
            "/fastregister-confirmations".into(),
            Some(
                json!({"component_appid": C, "appid": OA, "copy_wx_verify": 1,
                        "redirect_uri": "https://localhost/cb"}),
            ),
        ),
        ("GET", format!("/registrations?appid={OA}"), None),
        ("GET", "/clock".into(), None),
        (
            "POST",
            "/clock/advance".into(),
            Some(json!({"seconds": 86400})),
        ),
        (
            "POST",
            "/faults".into(),
            Some(json!({"path": FAST_REGISTER, "errcode": -1, "times": 1})),
        ),
        ("GET", "/faults".into(), None),
        ("DELETE", "/faults".into(), None),
        ("GET", "/config".into(), None),
        ("PATCH", "/config".into(), Some(json!({"booleans": "json"}))),
        ("GET", "/no-such-call".into(), None),
    ]
}

// ---------------------------------------------------------------------------------------------
// The admin token
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn every_sandbox_call_without_the_admin_token_is_refused_with_401_and_41001() {
    let app = spawn_app().await;
    let clock = app.sandbox_ok("GET", "/clock", None).await["offset"].clone();
    for (method, path, body) in every_call() {
        for auth in [
            None,
            Some(""),
            Some("Bearer"),
            Some(&format!("Basic {ADMIN}")[..]),
        ] {
            let got = sandbox_as(&app, auth, method, &path, body.as_ref()).await;
            assert_eq!(got.0, 401, "{method} {path} with {auth:?}: {}", got.1);
            assert_sandbox_refused(&got, 401, 41001);
        }
    }
    // Nothing happened.
    assert_eq!(app.sandbox_ok("GET", "/clock", None).await["offset"], clock);
    let c = app
        .sandbox_ok("GET", &format!("/components/{C}"), None)
        .await;
    assert_eq!(c["published"], true);
    assert_eq!(
        app.sandbox_ok("GET", "/components", None)
            .await
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn the_sandbox_api_path_with_a_trailing_slash_is_refused_without_the_admin_token_and_unknown_with_it(
) {
    let app = spawn_app().await;
    // What a client makes of `/sandbox/v1/entities/..`.
    for method in ["GET", "PATCH", "DELETE"] {
        let got = sandbox_as(&app, None, method, "/", None).await;
        assert_sandbox_refused(&got, 401, 41001);
        let got = sandbox_as(&app, Some(&format!("Bearer {ADMIN}")), method, "/", None).await;
        assert_sandbox_refused(&got, 404, 40066);
    }
}

#[tokio::test]
async fn every_sandbox_call_with_a_wrong_admin_token_is_refused_with_401_and_40001() {
    let app = spawn_app().await;
    let wrong_tokens = [
        "Bearer wrong".to_string(),
        format!("Bearer {ADMIN}x"),
        format!("Bearer {}", &ADMIN[..ADMIN.len() - 1]),
        format!("Bearer {}", ADMIN.to_uppercase()),
    ];
    for (method, path, body) in every_call() {
        for auth in &wrong_tokens {
            let got = sandbox_as(&app, Some(auth), method, &path, body.as_ref()).await;
            assert_sandbox_refused(&got, 401, 40001);
        }
    }
    let c = app
        .sandbox_ok("GET", &format!("/components/{C}"), None)
        .await;
    assert_eq!(c["published"], true);
    assert_eq!(app.sandbox_ok("GET", "/faults", None).await, json!([]));
}

#[tokio::test]
async fn an_unknown_sandbox_call_with_the_admin_token_answers_404() {
    let app = spawn_app().await;
    let got = app.sandbox("GET", "/no-such-call", None).await;
    assert_sandbox_refused(&got, 404, 40066);
}

// ---------------------------------------------------------------------------------------------
