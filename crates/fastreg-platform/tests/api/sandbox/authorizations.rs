//! The sandbox's authorisations (set 27 at one component at a time, re-authorisation),
//! fast-registration confirmations (the redirect, the checks) and the registrations list.

use serde_json::{json, Value};

use super::*;
use crate::helpers::*;
use crate::wechat::assert_refused;

// Authorisations
// ---------------------------------------------------------------------------------------------

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
    assert_sandbox_refused(&got, 403, 61007);

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
        assert_eq!(got.0, 403, "{uri:?}: {}", got.1);
        assert_sandbox_refused(&got, 403, 61060);
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
    assert_sandbox_refused(&got, 403, 61007);
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
    assert_sandbox_refused(&confirm_raw(&app, body).await, 403, 61007);
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

#[tokio::test]
async fn a_second_revocation_is_a_conflict_and_a_pair_never_authorised_is_not_found() {
    let app = spawn_app().await;
    grant(&app, C, OA, &[1, 27]).await;
    let pair = json!({"component_appid": C, "authorizer_appid": OA});
    let never = json!({"component_appid": C, "authorizer_appid": "wx00000000000000ff"});

    let first = app
        .sandbox("POST", "/authorizations/revoke", Some(&pair))
        .await;
    let second = app
        .sandbox("POST", "/authorizations/revoke", Some(&pair))
        .await;
    let missing = app
        .sandbox("POST", "/authorizations/revoke", Some(&never))
        .await;

    assert_eq!(first.0, 200, "{}", first.1);
    assert_sandbox_refused(&second, 409, 61003);
    assert_sandbox_refused(&missing, 404, 61003);
}
