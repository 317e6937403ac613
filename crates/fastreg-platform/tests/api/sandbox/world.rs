//! The sandbox's world: components, entities and Official Accounts, created, read and patched,
//! and the refusals of malformed or conflicting input.

use serde_json::{json, Value};

use super::*;
use crate::helpers::*;

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
async fn unknown_ids_in_the_path_answer_404_and_in_the_body_409() {
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
    // An entity_id in a body that names no entity: the body conflicts with the world (the
    // path names something that exists, or nothing at all).
    for (method, path, body) in [
        (
            "POST",
            "/official-accounts".to_string(),
            json!({"nickname": "X", "entity_id": 999, "verified": true}),
        ),
        (
            "PATCH",
            format!("/official-accounts/{OA}"),
            json!({"entity_id": 999}),
        ),
    ] {
        let (status, v) = app.sandbox(method, &path, Some(&body)).await;
        assert_eq!(status, 409, "{method} {path}: {v}");
        assert_eq!(errcode(&v), 47001, "{v}");
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
