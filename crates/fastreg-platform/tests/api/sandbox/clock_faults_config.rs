//! The sandbox's clock, injected faults, run-time config and token counts, and revocation.

use serde_json::json;

use super::*;
use crate::helpers::*;
use crate::wechat::assert_refused;

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
    // A success carries no `errcode`, which generic clients would read as a refusal.
    assert_eq!(f["inject_errcode"], -1, "{f}");
    assert!(f.get("errcode").is_none(), "{f}");
    let listed = app.sandbox_ok("GET", "/faults", None).await;
    assert_eq!(listed[0]["remaining"], 2);
    assert_eq!(listed[0]["inject_errcode"], -1);
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

    assert_eq!(status, 409, "{v}");
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
