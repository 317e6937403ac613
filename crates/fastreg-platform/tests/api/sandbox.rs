//! The sandbox control API of spec §8: the admin token, the world's accounts, authorisations
//! and confirmations, registrations, the clock, injected faults and the run-time config.

use serde_json::{json, Value};

use super::helpers::*;
use super::wechat::assert_refused;

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
// Components
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn creating_a_component_fills_in_the_generated_fields() {
    let app = spawn_app().await;
    let (status, c) = app
        .sandbox(
            "POST",
            "/components",
            Some(&json!({"auth_domain": "example.com", "published": false,
                         "permission_sets": [3, 17, 18, 27, 30, 31]})),
        )
        .await;
    assert_eq!(status, 201, "{c}");
    let appid = c["appid"].as_str().unwrap();
    assert!(is_wx_appid(appid), "{appid}");
    assert!(is_lower_hex(c["appsecret"].as_str().unwrap(), 32), "{c}");
    assert!(!c["token"].as_str().unwrap().is_empty(), "{c}");
    let key = c["encoding_aes_key"].as_str().unwrap();
    assert_eq!(key.len(), 43, "{key}");
    assert!(key.chars().all(|ch| ch.is_ascii_alphanumeric()), "{key}");
    assert_eq!(c["mp_permission_sets"], c["permission_sets"]);
    assert_eq!(c["ip_whitelist"], json!([]));
    assert_eq!(c["event_url"], Value::Null);
    // It is readable, and has a verify ticket its secret can use.
    let got = app
        .sandbox_ok("GET", &format!("/components/{appid}"), None)
        .await;
    assert_eq!(got, c);
    let ct = app.component_token(appid).await;
    assert!(!ct.is_empty());

    // Two components never share generated values.
    let other = app
        .sandbox_ok(
            "POST",
            "/components",
            Some(&json!({"auth_domain": "example.com", "published": false, "permission_sets": []})),
        )
        .await;
    for field in ["appid", "appsecret", "token", "encoding_aes_key"] {
        assert_ne!(other[field], c[field], "{field}");
    }
}

#[tokio::test]
async fn a_component_keeps_given_fields_and_can_be_patched() {
    let app = spawn_app().await;
    let key = "abcdefghijABCDEFGHIJ0123456789abcdefghijKLM";
    let c = app
        .sandbox_ok(
            "POST",
            "/components",
            Some(
                &json!({"appid": "wx00000000000000c2", "appsecret": "s3cret", "token": "tok",
                         "encoding_aes_key": key, "event_url": "http://127.0.0.1:9/events",
                         "auth_domain": "example.com", "published": true,
                         "permission_sets": [1, 2], "mp_permission_sets": [17],
                         "ip_whitelist": ["10.0.0.1"]}),
            ),
        )
        .await;
    assert_eq!(c["appid"], "wx00000000000000c2");
    assert_eq!(c["appsecret"], "s3cret");
    assert_eq!(c["encoding_aes_key"], key);
    assert_eq!(c["mp_permission_sets"], json!([17]));
    let patched = app
        .sandbox_ok(
            "PATCH",
            "/components/wx00000000000000c2",
            Some(
                &json!({"published": false, "event_url": null, "permission_sets": [3, 31],
                         "auth_domain": "other.example.com"}),
            ),
        )
        .await;
    assert_eq!(patched["published"], false);
    assert_eq!(patched["event_url"], Value::Null);
    assert_eq!(patched["permission_sets"], json!([3, 31]));
    assert_eq!(patched["auth_domain"], "other.example.com");
    assert_eq!(patched["appsecret"], "s3cret", "untouched fields stay");
    let got = app
        .sandbox_ok("GET", "/components/wx00000000000000c2", None)
        .await;
    assert_eq!(got, patched);
    let all = app.sandbox_ok("GET", "/components", None).await;
    assert_eq!(all.as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn a_taken_appid_answers_409() {
    let app = spawn_app().await;
    let component = |appid: &str| {
        json!({"appid": appid, "auth_domain": "localhost", "published": true,
               "permission_sets": [1]})
    };
    // Taken by a component, by an OA.
    for appid in [C, OA] {
        let got = app
            .sandbox("POST", "/components", Some(&component(appid)))
            .await;
        assert_eq!(got.0, 409, "{}", got.1);
        assert_eq!(errcode(&got.1), 40013);
        errmsg_text(&got.1);
        let oa = json!({"appid": appid, "nickname": "Dup", "entity_id": 1, "verified": true});
        let got = app.sandbox("POST", "/official-accounts", Some(&oa)).await;
        assert_eq!(got.0, 409, "{}", got.1);
    }
    let got = app
        .sandbox(
            "POST",
            "/entities",
            Some(&json!({"id": 1, "name": "Dup", "type": "media"})),
        )
        .await;
    assert_eq!(got.0, 409, "{}", got.1);
    // A refused create leaves nothing behind.
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
async fn malformed_component_input_answers_400_with_47001() {
    let app = spawn_app().await;
    let base = json!({"auth_domain": "localhost", "published": true, "permission_sets": [1]});
    let with = |k: &str, v: Value| {
        let mut b = base.clone();
        b[k] = v;
        b
    };
    let cases = [
        ("unknown field", with("publised", json!(true))),
        ("bad type", with("published", json!("yes"))),
        ("sets not numbers", with("permission_sets", json!(["3"]))),
        ("set out of range", with("permission_sets", json!([0]))),
        ("short aes key", with("encoding_aes_key", json!("abc"))),
        (
            "44-char aes key",
            with("encoding_aes_key", json!("a".repeat(44))),
        ),
        (
            "aes key with symbols",
            with("encoding_aes_key", json!(format!("{}+/", "a".repeat(41)))),
        ),
        ("relative event_url", with("event_url", json!("/events"))),
        ("empty auth_domain", with("auth_domain", json!(" "))),
        ("bad appid", with("appid", json!("wx/../etc"))),
        (
            "missing auth_domain",
            json!({"published": true, "permission_sets": [1]}),
        ),
        ("not an object", json!([base.clone()])),
    ];
    for (what, body) in cases {
        let got = app.sandbox("POST", "/components", Some(&body)).await;
        assert_eq!(got.0, 400, "{what}: {}", got.1);
        assert_sandbox_refused(&got, 400, 47001);
    }
    let path = format!("/components/{C}");
    for (what, body) in [
        ("unknown field", json!({"publised": false})),
        ("bad type", json!({"published": 1})),
        ("bad aes key", json!({"encoding_aes_key": "short"})),
        ("bad event_url", json!({"event_url": "ftp://x"})),
        (
            "appid is not patchable",
            json!({"appid": "wx0000000000000099"}),
        ),
    ] {
        let got = app.sandbox("PATCH", &path, Some(&body)).await;
        assert_eq!(got.0, 400, "{what}: {}", got.1);
        assert_sandbox_refused(&got, 400, 47001);
    }
    let got = app.sandbox("PATCH", &path, None).await;
    assert_sandbox_refused(&got, 400, 44002);
    // None of it changed the component.
    let c = app.sandbox_ok("GET", &path, None).await;
    assert_eq!(c["published"], true);
}

#[tokio::test]
async fn unknown_ids_answer_404() {
    let app = spawn_app().await;
    let nobody = "wx00000000000000ff";
    for (method, path, body) in [
        ("GET", format!("/components/{nobody}"), None),
        (
            "PATCH",
            format!("/components/{nobody}"),
            Some(json!({"published": true})),
        ),
        ("GET", format!("/components/{nobody}/verify-ticket"), None),
        ("GET", format!("/components/{nobody}/token-counts"), None),
        ("GET", "/entities/999".into(), None),
        ("PATCH", "/entities/999".into(), Some(json!({"name": "x"}))),
        ("GET", format!("/official-accounts/{nobody}"), None),
        (
            "PATCH",
            format!("/official-accounts/{nobody}"),
            Some(json!({"verified": true})),
        ),
        (
            "POST",
            "/official-accounts".into(),
            Some(json!({"nickname": "X", "entity_id": 999, "verified": true})),
        ),
        (
            "PATCH",
            format!("/official-accounts/{OA}"),
            Some(json!({"entity_id": 999})),
        ),
        (
            "POST",
            "/authorizations".into(),
            Some(json!({"component_appid": nobody, "authorizer_appid": OA,
                        "permission_sets": [1]})),
        ),
        (
            "POST",
            "/authorizations".into(),
            Some(json!({"component_appid": C, "authorizer_appid": nobody,
                        "permission_sets": [1]})),
        ),
    ] {
        let (status, v) = app.sandbox(method, &path, body.as_ref()).await;
        assert_eq!(status, 404, "{method} {path}: {v}");
        assert_ne!(errcode(&v), 0, "{v}");
        errmsg_text(&v);
    }
    let got = app.sandbox("GET", "/entities/not-a-number", None).await;
    assert_sandbox_refused(&got, 400, 47001);
}

// ---------------------------------------------------------------------------------------------
// Entities and Official Accounts
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn entities_can_be_created_read_and_patched() {
    let app = spawn_app().await;
    let (status, e) = app
        .sandbox(
            "POST",
            "/entities",
            Some(&json!({"name": "Gov Office", "type": "government"})),
        )
        .await;
    assert_eq!(status, 201, "{e}");
    let id = e["id"].as_i64().unwrap();
    assert!(id > 5, "ids after the demo world's: {id}");
    assert_eq!(e["overseas"], false);
    assert_eq!(e["blacklisted"], false);
    assert_eq!(e["mini_program_cap"], Value::Null);
    let path = format!("/entities/{id}");
    assert_eq!(app.sandbox_ok("GET", &path, None).await, e);
    let p = app
        .sandbox_ok(
            "PATCH",
            &path,
            Some(&json!({"type": "other_org", "overseas": true, "mini_program_cap": 3})),
        )
        .await;
    assert_eq!(p["type"], "other_org");
    assert_eq!(p["overseas"], true);
    assert_eq!(p["mini_program_cap"], 3);
    assert_eq!(p["name"], "Gov Office");
    let p = app
        .sandbox_ok("PATCH", &path, Some(&json!({"mini_program_cap": null})))
        .await;
    assert_eq!(p["mini_program_cap"], Value::Null);
    assert_eq!(
        app.sandbox_ok("GET", "/entities", None)
            .await
            .as_array()
            .unwrap()
            .len(),
        6
    );

    for body in [
        json!({"name": "X", "type": "alien"}),
        json!({"name": "X"}),
        json!({"name": "", "type": "media"}),
        json!({"name": "X", "type": "media", "overseas": "no"}),
        json!({"name": "X", "type": "media", "mini_program_cap": -1}),
        json!({"name": "X", "type": "media", "colour": "red"}),
    ] {
        let got = app.sandbox("POST", "/entities", Some(&body)).await;
        assert_sandbox_refused(&got, 400, 47001);
    }
    let got = app
        .sandbox("PATCH", &path, Some(&json!({"type": "alien"})))
        .await;
    assert_sandbox_refused(&got, 400, 47001);
}

#[tokio::test]
async fn official_accounts_can_be_created_read_and_patched() {
    let app = spawn_app().await;
    let (status, oa) = app
        .sandbox(
            "POST",
            "/official-accounts",
            Some(&json!({"nickname": "New OA", "entity_id": ACME_ENTITY, "verified": true})),
        )
        .await;
    assert_eq!(status, 201, "{oa}");
    let appid = oa["appid"].as_str().unwrap();
    assert!(is_wx_appid(appid), "{appid}");
    let user_name = oa["user_name"].as_str().unwrap();
    assert!(
        user_name.starts_with("gh_") && is_lower_hex(&user_name[3..], 12),
        "{user_name}"
    );
    assert_eq!(oa["pending_registration"], false);
    assert_eq!(oa["link_cap"], Value::Null);
    let path = format!("/official-accounts/{appid}");
    assert_eq!(app.sandbox_ok("GET", &path, None).await, oa);
    let p = app
        .sandbox_ok(
            "PATCH",
            &path,
            Some(
                &json!({"verified": false, "pending_registration": true, "link_cap": 2,
                         "entity_id": 2, "nickname": "Renamed"}),
            ),
        )
        .await;
    assert_eq!(p["verified"], false);
    assert_eq!(p["pending_registration"], true);
    assert_eq!(p["link_cap"], 2);
    assert_eq!(p["entity_id"], 2);
    assert_eq!(p["nickname"], "Renamed");
    assert_eq!(p["user_name"], user_name);
    let all = app.sandbox_ok("GET", "/official-accounts", None).await;
    assert_eq!(all.as_array().unwrap().len(), 8);

    for body in [
        json!({"nickname": "X", "entity_id": 1}),
        json!({"nickname": "X", "entity_id": "1", "verified": true}),
        json!({"nickname": "", "entity_id": 1, "verified": true}),
        json!({"nickname": "X", "entity_id": 1, "verified": true, "verifed": true}),
    ] {
        let got = app.sandbox("POST", "/official-accounts", Some(&body)).await;
        assert_sandbox_refused(&got, 400, 47001);
    }
}

// ---------------------------------------------------------------------------------------------
// Authorisations
// ---------------------------------------------------------------------------------------------

async fn second_component(app: &TestApp) -> String {
    let c = app
        .sandbox_ok(
            "POST",
            "/components",
            Some(&json!({"auth_domain": "localhost", "published": true,
                         "permission_sets": [1, 2, 3, 15, 17, 18, 27, 30, 31]})),
        )
        .await;
    c["appid"].as_str().unwrap().into()
}

async fn grant(app: &TestApp, component: &str, oa: &str, sets: &[i64]) -> Value {
    let (status, v) = app
        .sandbox(
            "POST",
            "/authorizations",
            Some(
                &json!({"component_appid": component, "authorizer_appid": oa,
                         "permission_sets": sets}),
            ),
        )
        .await;
    assert_eq!(status, 201, "{v}");
    v
}

#[tokio::test]
async fn set_27_goes_to_one_component_at_a_time_and_a_second_grant_withholds_it() {
    let app = spawn_app().await;
    let c2 = second_component(&app).await;
    let v = grant(&app, &c2, OA, &[1, 27, 15]).await;
    assert_eq!(v["permission_sets"], json!([1, 15]));
    assert_eq!(v["withheld_sets"], json!([27]));
    assert_eq!(v["change"], "authorized");
    assert_eq!(v["expires_in"], 3600);
    // The second component cannot confirm a fast registration for that OA.
    let got = app
        .sandbox(
            "POST",
            "/fastregister-confirmations",
            Some(
                &json!({"component_appid": c2, "appid": OA, "copy_wx_verify": 1,
                         "redirect_uri": "https://localhost/cb"}),
            ),
        )
        .await;
    assert_sandbox_refused(&got, 400, 61007);

    // Once the first component gives 27 up, the second can have it.
    let v = grant(&app, C, OA, &[1, 15]).await;
    assert_eq!(v["change"], "updated");
    assert_eq!(v["withheld_sets"], json!([]));
    let v = grant(&app, &c2, OA, &[1, 15, 27]).await;
    assert_eq!(v["permission_sets"], json!([1, 15, 27]));
    assert_eq!(v["withheld_sets"], json!([]));
    assert_eq!(v["change"], "updated");
    // And now the first is the one refused.
    let v = grant(&app, C, OA, &[1, 15, 27]).await;
    assert_eq!(v["withheld_sets"], json!([27]));
    assert_eq!(v["change"], "unchanged");

    let all = app.sandbox_ok("GET", "/authorizations", None).await;
    let mine: Vec<&Value> = all
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["authorizer_appid"] == OA)
        .collect();
    assert_eq!(mine.len(), 2);
    for a in &mine {
        assert!(
            a.get("refresh_token").is_none(),
            "the sandbox never lists refresh tokens: {a}"
        );
        let holds_27 = a["permission_sets"]
            .as_array()
            .unwrap()
            .contains(&json!(27));
        assert_eq!(holds_27, a["component_appid"] == c2.as_str(), "{a}");
    }
}

#[tokio::test]
async fn reauthorising_replaces_the_refresh_token() {
    let app = spawn_app().await;
    let ct = app.component_token(C).await;
    let (_, first) = app.authorize(&ct, C, OA, &[1, 15, 27]).await;
    let (_, second) = app.authorize(&ct, C, OA, &[1, 15, 27]).await;
    assert_ne!(first, second);
    let refresh = |token: String| {
        let (app, ct) = (&app, &ct);
        async move {
            app.post(
                &format!("{AUTHORIZER_TOKEN}?component_access_token={ct}"),
                &json!({"component_appid": C, "authorizer_appid": OA,
                        "authorizer_refresh_token": token}),
            )
            .await
        }
    };
    assert_refused(&refresh(first).await, 61023);
    let v = refresh(second.clone()).await;
    assert_eq!(v["authorizer_refresh_token"], second.as_str(), "{v}");
}

#[tokio::test]
async fn malformed_authorizations_answer_400_with_47001() {
    let app = spawn_app().await;
    for body in [
        json!({"component_appid": C, "authorizer_appid": OA, "permission_sets": []}),
        json!({"component_appid": C, "authorizer_appid": OA, "permission_sets": [0]}),
        json!({"component_appid": C, "authorizer_appid": OA}),
        json!({"component_appid": C, "authorizer_appid": OA, "permission_sets": [1], "x": 1}),
    ] {
        let got = app.sandbox("POST", "/authorizations", Some(&body)).await;
        assert_sandbox_refused(&got, 400, 47001);
    }
}

// ---------------------------------------------------------------------------------------------
// Fast-registration confirmations
// ---------------------------------------------------------------------------------------------

async fn confirm_raw(app: &TestApp, body: Value) -> (u16, Value) {
    app.sandbox("POST", "/fastregister-confirmations", Some(&body))
        .await
}

fn confirmation(redirect_uri: &str) -> Value {
    json!({"component_appid": C, "appid": OA, "copy_wx_verify": 1, "redirect_uri": redirect_uri})
}

#[tokio::test]
async fn a_confirmation_refuses_a_redirect_outside_the_auth_domain_with_61060() {
    let app = spawn_app().await;
    for uri in [
        "https://evil.com/cb",
        "https://localhost.evil.com/cb",
        "https://localhost@evil.com/cb",
        "https://evil.com/localhost",
        "https://evil.com/?r=https://localhost/",
        "https://evil.com#localhost",
        "https://evillocalhost/cb",
        "https://sub.localhost/cb",
        "https://localhost%2eevil.com/cb",
        "https://127.0.0.1/cb",
        "//localhost/cb",
        "/cb",
        "localhost/cb",
        "ftp://localhost/cb",
        "javascript://localhost/%0aalert(1)",
        "file://localhost/etc/passwd",
        "",
    ] {
        let got = confirm_raw(&app, confirmation(uri)).await;
        assert_eq!(got.0, 400, "{uri:?}: {}", got.1);
        assert_sandbox_refused(&got, 400, 61060);
    }
    // Only the host matters (any path, port, scheme http/https, host case).
    for uri in [
        "https://localhost/cb",
        "http://localhost:8080/a/b?c=d",
        "https://LOCALHOST/cb",
        "https://user@localhost/cb",
    ] {
        let (status, v) = confirm_raw(&app, confirmation(uri)).await;
        assert_eq!(status, 201, "{uri}: {v}");
    }
    assert!(app.registrations(OA).await.is_empty());
}

#[tokio::test]
async fn a_confirmation_refuses_an_oa_without_set_27_with_61007() {
    let app = spawn_app().await;
    grant(&app, C, OA, &[1, 15]).await;
    let got = confirm_raw(&app, confirmation("https://localhost/cb")).await;
    assert_sandbox_refused(&got, 400, 61007);
    // An OA that never authorised the component at all.
    let oa = app
        .sandbox_ok(
            "POST",
            "/official-accounts",
            Some(&json!({"nickname": "Stranger", "entity_id": 1, "verified": true})),
        )
        .await;
    let mut body = confirmation("https://localhost/cb");
    body["appid"] = oa["appid"].clone();
    assert_sandbox_refused(&confirm_raw(&app, body).await, 400, 61007);
}

#[tokio::test]
async fn a_confirmation_for_an_unknown_oa_or_component_answers_47001() {
    let app = spawn_app().await;
    let mut body = confirmation("https://localhost/cb");
    body["appid"] = json!("wx00000000000000ff");
    assert_sandbox_refused(&confirm_raw(&app, body).await, 404, 47001);
    let mut body = confirmation("https://localhost/cb");
    body["component_appid"] = json!("wx00000000000000ff");
    assert_sandbox_refused(&confirm_raw(&app, body).await, 404, 47001);
}

#[tokio::test]
async fn a_confirmation_with_a_bad_copy_wx_verify_answers_47001() {
    let app = spawn_app().await;
    for bad in [
        json!(2),
        json!(-1),
        json!("yes"),
        json!("2"),
        json!(null),
        json!(1.5),
        json!([1]),
    ] {
        let mut body = confirmation("https://localhost/cb");
        body["copy_wx_verify"] = bad.clone();
        let got = confirm_raw(&app, body).await;
        assert_eq!(got.0, 400, "{bad}: {}", got.1);
        assert_sandbox_refused(&got, 400, 47001);
    }
    let mut body = confirmation("https://localhost/cb");
    body.as_object_mut().unwrap().remove("copy_wx_verify");
    assert_sandbox_refused(&confirm_raw(&app, body).await, 400, 47001);
    for good in [json!(0), json!(1), json!("0"), json!("1")] {
        let mut body = confirmation("https://localhost/cb");
        body["copy_wx_verify"] = good.clone();
        let (status, v) = confirm_raw(&app, body).await;
        assert_eq!(status, 201, "{good}: {v}");
    }
}

#[tokio::test]
async fn the_redirect_url_appends_the_ticket_with_an_ampersand_or_a_question_mark() {
    let app = spawn_app().await;
    for (uri, sep) in [
        ("https://localhost/cb", "?"),
        ("https://localhost/cb?from=test", "&"),
        ("https://localhost/cb?a=1&b=%20x", "&"),
        ("https://localhost", "?"),
    ] {
        let (status, v) = confirm_raw(&app, confirmation(uri)).await;
        assert_eq!(status, 201, "{v}");
        let ticket = v["ticket"].as_str().unwrap();
        assert!(is_lower_hex(ticket, 32), "{ticket}");
        assert_eq!(v["redirect_url"], format!("{uri}{sep}ticket={ticket}"));
    }
    // A fragment stays last.
    let (_, v) = confirm_raw(&app, confirmation("https://localhost/cb?x=1#top")).await;
    let ticket = v["ticket"].as_str().unwrap();
    assert_eq!(
        v["redirect_url"],
        format!("https://localhost/cb?x=1&ticket={ticket}#top")
    );
    // Tickets are fresh each time and expire 1800 s after confirmation.
    let now = app.sandbox_ok("GET", "/clock", None).await["now"]
        .as_i64()
        .unwrap();
    let (_, a) = confirm_raw(&app, confirmation("https://localhost/cb")).await;
    let (_, b) = confirm_raw(&app, confirmation("https://localhost/cb")).await;
    assert_ne!(a["ticket"], b["ticket"]);
    let expires = a["expires_at"].as_i64().unwrap();
    assert!((now + 1800..=now + 1802).contains(&expires), "{a}");
}

// ---------------------------------------------------------------------------------------------
// Registrations
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn registrations_are_listed_newest_first_with_their_status() {
    let app = spawn_app().await;
    let oat = app.oa_token(OA).await;
    let mut tickets = Vec::new();
    let mut appids = Vec::new();
    for _ in 0..2 {
        let ticket = app.confirm(C, OA, 1).await;
        let v = app.fastregister(&oat, &ticket).await;
        appids.push(v["appid"].clone());
        tickets.push(ticket);
    }
    app.sandbox_ok(
        "PATCH",
        "/config",
        Some(&json!({"processing_delay_ms": 1000})),
    )
    .await;
    let third = app.confirm(C, OA, 0).await;
    let (done, listed) = tokio::join!(app.fastregister(&oat, &third), async {
        for _ in 0..90 {
            let regs = app.registrations(OA).await;
            if regs.len() == 3 {
                return regs;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        panic!("the third registration never showed up");
    });
    assert_eq!(listed[0]["ticket"], third.as_str());
    assert_eq!(listed[0]["status"], "in_progress");
    assert_eq!(listed[0]["mp_appid"], Value::Null);
    assert_eq!(listed[1]["ticket"], tickets[1].as_str());
    assert_eq!(listed[1]["status"], "succeeded");
    assert_eq!(listed[1]["mp_appid"], appids[1]);
    assert_eq!(listed[2]["ticket"], tickets[0].as_str());
    assert_eq!(listed[2]["mp_appid"], appids[0]);
    for r in &listed {
        assert!(r["created_at"].as_i64().unwrap() > 0, "{r}");
        assert_eq!(r["oa_appid"], OA);
    }

    assert_eq!(done["errcode"], 0, "{done}");
    let regs = app.registrations(OA).await;
    assert_eq!(regs[0]["status"], "succeeded");
    assert_eq!(regs[0]["mp_appid"], done["appid"]);
    assert_eq!(regs[0]["is_wx_verify_succ"], false);
    assert!(app.registrations(OA_MEDIA).await.is_empty());
    let one = app
        .sandbox_ok("GET", &format!("/registrations?appid={OA}&limit=1"), None)
        .await;
    assert_eq!(one.as_array().unwrap().len(), 1);
    let got = app
        .sandbox("GET", &format!("/registrations?appid={OA}&limit=0"), None)
        .await;
    assert_sandbox_refused(&got, 400, 47001);
}

// ---------------------------------------------------------------------------------------------
// The clock
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn the_clock_moves_only_forward_and_issues_a_verify_ticket_every_600_seconds() {
    let app = spawn_app().await;
    let before = app.sandbox_ok("GET", "/clock", None).await;
    let t0 = before["now"].as_i64().unwrap();
    assert_eq!(before["offset"], 0);
    let path = format!("/components/{C}/verify-ticket");
    let ticket = || app.sandbox_ok("GET", &path, None);
    let first = ticket().await;

    let now = app.advance(300).await;
    assert!((t0 + 300..=t0 + 302).contains(&now), "{now}");
    assert_eq!(ticket().await, first, "no new ticket before 600 s");

    for bad in [
        json!({"seconds": -1}),
        json!({"seconds": "10"}),
        json!({}),
        json!({"secs": 1}),
    ] {
        let got = app.sandbox("POST", "/clock/advance", Some(&bad)).await;
        assert_sandbox_refused(&got, 400, 47001);
    }
    let after_refusals = app.sandbox_ok("GET", "/clock", None).await;
    assert_eq!(after_refusals["offset"], 300);

    let now = app.advance(300).await;
    let second = ticket().await;
    assert_ne!(
        second["component_verify_ticket"],
        first["component_verify_ticket"]
    );
    let created = second["create_time"].as_i64().unwrap();
    assert!(created >= first["create_time"].as_i64().unwrap() + 600);
    assert!(created <= now, "{second}");
    // The new ticket works, and so does the first one (12 h validity).
    let (secret, _) = app.component_credentials(C).await;
    for t in [&first, &second] {
        let v = app
            .post(
                COMPONENT_TOKEN,
                &json!({"component_appid": C, "component_appsecret": secret,
                        "component_verify_ticket": t["component_verify_ticket"]}),
            )
            .await;
        assert!(v["component_access_token"].is_string(), "{v}");
    }
    let clock = app.sandbox_ok("GET", "/clock", None).await;
    assert_eq!(clock["offset"], 600);
    assert!(app.advance(0).await >= now);
}

// ---------------------------------------------------------------------------------------------
// Faults
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_fault_answers_its_errcode_for_the_next_times_calls_and_then_stops() {
    let app = spawn_app().await;
    let oat = app.oa_token(OA).await;
    let (status, f) = app
        .sandbox(
            "POST",
            "/faults",
            Some(&json!({"path": FAST_REGISTER, "errcode": -1, "times": 2})),
        )
        .await;
    assert_eq!(status, 201, "{f}");
    let listed = app.sandbox_ok("GET", "/faults", None).await;
    assert_eq!(listed[0]["remaining"], 2);
    let ticket = app.confirm(C, OA, 1).await;
    for _ in 0..2 {
        assert_refused(&app.fastregister(&oat, &ticket).await, -1);
    }
    // A "before" fault did nothing: no registration, and the ticket still works.
    assert!(app.registrations(OA).await.is_empty());
    assert_eq!(app.sandbox_ok("GET", "/faults", None).await, json!([]));
    let v = app.fastregister(&oat, &ticket).await;
    assert_eq!(v["errcode"], 0, "{v}");

    // Another endpoint, another code; other paths are unaffected.
    app.sandbox_ok(
        "POST",
        "/faults",
        Some(&json!({"path": LINK_GET, "errcode": 61003})),
    )
    .await;
    let ticket = app.confirm(C, OA, 1).await;
    assert_eq!(app.fastregister(&oat, &ticket).await["errcode"], 0);
    let link = format!("{LINK_GET}?access_token={oat}");
    assert_refused(&app.post(&link, &json!({})).await, 61003);
    assert_eq!(app.post(&link, &json!({})).await["errcode"], 0);

    // Faults can be cleared.
    app.sandbox_ok(
        "POST",
        "/faults",
        Some(&json!({"path": LINK_GET, "errcode": -1, "times": 5})),
    )
    .await;
    let (status, _) = app.sandbox("DELETE", "/faults", None).await;
    assert_eq!(status, 204);
    assert_eq!(app.post(&link, &json!({})).await["errcode"], 0);

    for bad in [
        json!({"path": "/sandbox/v1/clock", "errcode": -1}),
        json!({"path": FAST_REGISTER, "errcode": 0}),
        json!({"path": FAST_REGISTER, "errcode": -1, "times": 0}),
        json!({"path": FAST_REGISTER, "errcode": -1, "when": "during"}),
        json!({"path": FAST_REGISTER}),
    ] {
        let got = app.sandbox("POST", "/faults", Some(&bad)).await;
        assert_sandbox_refused(&got, 400, 47001);
    }
}

#[tokio::test]
async fn a_fault_after_fastregister_answers_minus_1_yet_the_registration_is_committed() {
    let app = spawn_app().await;
    let oat = app.oa_token(OA).await;
    app.sandbox_ok(
        "POST",
        "/faults",
        Some(&json!({"path": FAST_REGISTER, "errcode": -1, "times": 1, "when": "after"})),
    )
    .await;
    let ticket = app.confirm(C, OA, 1).await;
    assert_refused(&app.fastregister(&oat, &ticket).await, -1);

    let regs = app.registrations(OA).await;
    assert_eq!(regs.len(), 1);
    assert_eq!(regs[0]["status"], "succeeded");
    let mp = regs[0]["mp_appid"].as_str().unwrap().to_string();
    let items = app
        .post(&format!("{LINK_GET}?access_token={oat}"), &json!({}))
        .await;
    assert_eq!(
        items["wxopens"]["items"][0]["appid"],
        mp.as_str(),
        "{items}"
    );
    // The client that retries with the same ticket learns the result.
    let v = app.fastregister(&oat, &ticket).await;
    assert_eq!(v["errcode"], 0, "{v}");
    assert_eq!(v["appid"], mp.as_str());
    assert_eq!(app.registrations(OA).await.len(), 1);
}

// ---------------------------------------------------------------------------------------------
// Config and token counts
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn the_config_can_be_read_and_patched_at_run_time() {
    let app = spawn_app().await;
    let cfg = app.sandbox_ok("GET", "/config", None).await;
    assert_eq!(
        cfg,
        json!({
            "rules": {
                "required_component_sets": [3, 17, 18, 30, 31],
                "monthly_quota": 5,
                "entity_mini_program_cap": 50,
                "oa_link_cap": 500,
                "verification_policy": "reuse",
                "superseded_grace_secs": 300
            },
            "processing_delay_ms": 0,
            "booleans": "string"
        })
    );
    let mut rules = cfg["rules"].clone();
    rules["required_component_sets"] = json!([3, 17, 18, 30, 31, 99]);
    let patched = app
        .sandbox_ok(
            "PATCH",
            "/config",
            Some(&json!({"rules": rules, "booleans": "json", "processing_delay_ms": 5})),
        )
        .await;
    assert_eq!(patched["rules"], rules);
    assert_eq!(patched["booleans"], "json");
    assert_eq!(patched["processing_delay_ms"], 5);
    assert_eq!(app.sandbox_ok("GET", "/config", None).await, patched);
    // The new rules apply at once: the component now lacks a required set.
    let oat = app.oa_token(OA).await;
    let ticket = app.confirm(C, OA, 1).await;
    assert_refused(&app.fastregister(&oat, &ticket).await, 61029);

    for bad in [
        json!({"booleans": "yes"}),
        json!({"processing_delay_ms": 600_001}),
        json!({"processing_delay_ms": -1}),
        json!({"rules": {"monthly_quota": "5"}}),
        json!({"rules": {"monthly_qouta": 5}}),
        json!({"colour": "red"}),
    ] {
        let got = app.sandbox("PATCH", "/config", Some(&bad)).await;
        assert_sandbox_refused(&got, 400, 47001);
    }
    assert_eq!(app.sandbox_ok("GET", "/config", None).await, patched);
}

#[tokio::test]
async fn token_counts_count_the_access_tokens_issued_to_a_component() {
    let app = spawn_app().await;
    let path = format!("/components/{C}/token-counts");
    let counts = app.sandbox_ok("GET", &path, None).await;
    assert_eq!(
        counts,
        json!({"component_access_tokens": 0, "authorizer_access_tokens": 0})
    );
    let ct = app.component_token(C).await;
    app.component_token(C).await;
    let (oat, refresh) = app.authorize(&ct, C, OA, &[1, 15, 27]).await;
    app.post(
        &format!("{AUTHORIZER_TOKEN}?component_access_token={ct}"),
        &json!({"component_appid": C, "authorizer_appid": OA,
                "authorizer_refresh_token": refresh}),
    )
    .await;
    // A Mini Program's token counts too.
    let ticket = app.confirm(C, OA, 1).await;
    let reg = app.fastregister(&oat, &ticket).await;
    app.query_auth(&ct, C, reg["authorization_code"].as_str().unwrap())
        .await;
    // Refusals issue nothing.
    app.post(
        COMPONENT_TOKEN,
        &json!({"component_appid": C, "component_appsecret": "wrong",
                "component_verify_ticket": "x"}),
    )
    .await;
    let counts = app.sandbox_ok("GET", &path, None).await;
    assert_eq!(
        counts,
        json!({"component_access_tokens": 2, "authorizer_access_tokens": 3})
    );
    let c2 = second_component(&app).await;
    let counts = app
        .sandbox_ok("GET", &format!("/components/{c2}/token-counts"), None)
        .await;
    assert_eq!(counts["component_access_tokens"], 0);
}

#[tokio::test]
async fn an_authorisation_that_would_grant_nothing_but_a_withheld_set_27_is_refused() {
    let app = spawn_app().await;
    let c2 = second_component(&app).await;

    let (status, v) = app
        .sandbox(
            "POST",
            "/authorizations",
            Some(&json!({"component_appid": c2, "authorizer_appid": OA, "permission_sets": [27]})),
        )
        .await;

    assert_eq!(status, 400, "{v}");
    assert_eq!(errcode(&v), 47001);
    assert!(errmsg_text(&v).contains(C), "names the holder: {v}");
    let listed = app.sandbox_ok("GET", "/authorizations", None).await;
    assert!(
        !listed
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["component_appid"] == c2.as_str()),
        "nothing was stored: {listed}"
    );
}

#[tokio::test]
async fn patching_the_rules_changes_only_the_keys_given() {
    let app = spawn_app_with(|s| s.rules.oa_link_cap = 7).await;

    let v = app
        .sandbox_ok(
            "PATCH",
            "/config",
            Some(&json!({"rules": {"monthly_quota": 2}})),
        )
        .await;

    assert_eq!(v["rules"]["monthly_quota"], 2);
    assert_eq!(v["rules"]["oa_link_cap"], 7, "the started value is kept");
    let (status, bad) = app
        .sandbox(
            "PATCH",
            "/config",
            Some(&json!({"rules": {"monthly_qouta": 2}})),
        )
        .await;
    assert_eq!(status, 400, "{bad}");
    assert_eq!(errcode(&bad), 47001);
}

#[tokio::test]
async fn a_sandbox_path_called_with_a_wrong_method_answers_405_in_the_errcode_shape() {
    let app = spawn_app().await;

    let (status, v) = app.sandbox("DELETE", "/clock", None).await;

    assert_eq!(status, 405);
    assert_eq!(errcode(&v), 40066, "{v}");
    errmsg_text(&v);
}

#[tokio::test]
async fn a_fault_for_a_path_that_no_endpoint_serves_is_refused() {
    let app = spawn_app().await;

    let (status, v) = app
        .sandbox(
            "POST",
            "/faults",
            Some(&json!({"path": "/cgi-bin/fastregisterauth", "errcode": -1})),
        )
        .await;

    assert_eq!(status, 400, "{v}");
    assert_eq!(errcode(&v), 47001);
    assert!(
        errmsg_text(&v).contains("/cgi-bin/account/fastregister"),
        "lists the valid paths: {v}"
    );
}

#[tokio::test]
async fn a_revocation_stops_every_token_of_the_authorisation_and_spends_its_codes() {
    let app = spawn_app().await;
    let ct = app.component_token(C).await;
    let (older, refresh) = app.authorize(&ct, C, OA, &[1, 15, 27]).await;
    // A second token supersedes the first, which is still in its 300 s grace period.
    let newer = app
        .post(
            &format!("/cgi-bin/component/api_authorizer_token?component_access_token={ct}"),
            &json!({"component_appid": C, "authorizer_appid": OA, "authorizer_refresh_token": refresh}),
        )
        .await["authorizer_access_token"]
        .as_str()
        .unwrap()
        .to_string();
    // A code issued and never exchanged.
    let unused = app
        .sandbox_ok("POST", "/authorizations", Some(&json!({"component_appid": C, "authorizer_appid": OA, "permission_sets": [1, 15, 27]})))
        .await["auth_code"]
        .as_str()
        .unwrap()
        .to_string();

    app.sandbox_ok(
        "POST",
        "/authorizations/revoke",
        Some(&json!({"component_appid": C, "authorizer_appid": OA})),
    )
    .await;

    for token in [&older, &newer] {
        let v = app
            .post(
                &format!("/cgi-bin/wxopen/wxamplinkget?access_token={token}"),
                &json!({}),
            )
            .await;
        assert_eq!(errcode(&v), 40001, "{v}");
    }
    // Raising the grace period does not bring them back.
    app.sandbox_ok(
        "PATCH",
        "/config",
        Some(&json!({"rules": {"superseded_grace_secs": 100_000_000}})),
    )
    .await;
    let v = app
        .post(
            &format!("/cgi-bin/wxopen/wxamplinkget?access_token={older}"),
            &json!({}),
        )
        .await;
    assert_eq!(errcode(&v), 40001, "{v}");
    // After a new authorisation, the code issued before the revocation stays spent.
    app.sandbox_ok(
        "POST",
        "/authorizations",
        Some(&json!({"component_appid": C, "authorizer_appid": OA, "permission_sets": [27]})),
    )
    .await;
    assert_eq!(errcode(&app.query_auth(&ct, C, &unused).await), 61009);
}
