//! fastregister's refusals, each reached over real HTTP from the demo world, in the order of
//! spec §5 (the token, whose token and set 27, the body, the component, the ticket, the entity
//! and the account), and the ticket's outcomes (replay, the authorization code, a refusal
//! leaving the ticket usable, the first failing rule winning, `is_link_succ`).

use chrono::{Datelike, TimeZone};
use chrono_tz::Asia::Shanghai;
use serde_json::json;

use crate::helpers::*;
use crate::wechat::*;

// ---------------------------------------------------------------------------------------------
// fastregister, rule 1: the token
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn fastregister_without_an_access_token_answers_41001() {
    let app = spawn_app().await;
    let ticket = app.confirm(C, OA, 1).await;
    let body = json!({ "ticket": ticket });
    assert_refused(&app.post(FAST_REGISTER, &body).await, 41001);
    assert_refused(
        &app.post(&format!("{FAST_REGISTER}?access_token="), &body)
            .await,
        41001,
    );
}

#[tokio::test]
async fn fastregister_with_an_unknown_access_token_answers_40001() {
    let app = spawn_app().await;
    let ticket = app.confirm(C, OA, 1).await;
    assert_refused(&app.fastregister("not-a-token", &ticket).await, 40001);
}

#[tokio::test]
async fn a_superseded_oa_token_still_registers_within_300_seconds_and_answers_40001_after() {
    let (app, ct, old) = world().await;
    let list = app
        .post(
            &component_query(AUTHORIZER_LIST, &ct),
            &json!({"component_appid": C, "offset": 0, "count": 100}),
        )
        .await;
    let refresh = list["list"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["authorizer_appid"] == OA)
        .unwrap()["refresh_token"]
        .clone();
    let v = app
        .post(
            &component_query(AUTHORIZER_TOKEN, &ct),
            &json!({"component_appid": C, "authorizer_appid": OA,
                    "authorizer_refresh_token": refresh}),
        )
        .await;
    let new = v["authorizer_access_token"].as_str().unwrap().to_string();
    assert_ne!(new, old);

    app.advance(290).await;
    register(&app, &old, OA, 1).await;

    app.advance(20).await;
    let ticket = app.confirm(C, OA, 1).await;
    assert_refused(&app.fastregister(&old, &ticket).await, 40001);
    assert_eq!(errcode(&app.fastregister(&new, &ticket).await), 0);
}

#[tokio::test]
async fn fastregister_with_an_expired_oa_token_answers_42001() {
    let (app, _ct, oat) = world().await;
    app.advance(7200).await;
    let ticket = app.confirm(C, OA, 1).await;
    assert_refused(&app.fastregister(&oat, &ticket).await, 42001);
}

// ---------------------------------------------------------------------------------------------
// fastregister, rules 2 and 3: whose token, and set 27
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn fastregister_refuses_a_component_token_and_a_mini_program_token_with_48001() {
    let (app, ct, oat) = world().await;
    let (_, mpt) = registered_mini_program(&app, &ct, &oat, 1).await;
    let ticket = app.confirm(C, OA, 1).await;
    assert_refused(&app.fastregister(&ct, &ticket).await, 48001);
    assert_refused(&app.fastregister(&mpt, &ticket).await, 48001);
    // The ticket is untouched: the OA's own token still registers with it.
    assert_eq!(errcode(&app.fastregister(&oat, &ticket).await), 0);
}

#[tokio::test]
async fn fastregister_answers_61007_when_the_oa_did_not_grant_set_27() {
    let (app, ct, _) = world().await;
    let ticket = app.confirm(C, OA, 1).await;
    // The admin re-authorises without set 27.
    let (oat, _) = app.authorize(&ct, C, OA, &[1, 15]).await;
    assert_refused(&app.fastregister(&oat, &ticket).await, 61007);
}

#[tokio::test]
async fn fastregister_answers_61007_when_set_27_is_held_by_another_component() {
    let app = spawn_app().await;
    let c2 = second_component(&app).await;
    let grant = app
        .sandbox_ok(
            "POST",
            "/authorizations",
            Some(&json!({"component_appid": c2, "authorizer_appid": OA,
                         "permission_sets": [1, 15, 27]})),
        )
        .await;
    assert_eq!(grant["withheld_sets"], json!([27]));
    let ct2 = app.component_token(&c2).await;
    let oat2 = exchange(&app, &ct2, &c2, grant["auth_code"].as_str().unwrap()).await;
    // A ticket of the first component, and any ticket at all: set 27 is checked first.
    let ticket = app.confirm(C, OA, 1).await;
    assert_refused(&app.fastregister(&oat2, &ticket).await, 61007);
    assert_refused(
        &app.fastregister(&oat2, "0123456789abcdef0123456789abcdef")
            .await,
        61007,
    );
}

// ---------------------------------------------------------------------------------------------
// fastregister, rule 4: the body
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn fastregister_with_an_empty_body_answers_44002() {
    let (app, _ct, oat) = world().await;
    assert_refused(&fastregister_raw(&app, &oat, "").await, 44002);
    assert_refused(&fastregister_raw(&app, &oat, " \r\n\t ").await, 44002);
}

#[tokio::test]
async fn fastregister_answers_47001_for_bad_json_a_non_string_ticket_a_missing_ticket_and_a_body_over_1_mib(
) {
    let (app, _ct, oat) = world().await;
    let ticket = app.confirm(C, OA, 1).await;
    let too_big = format!(
        r#"{{"ticket":"{ticket}","pad":"{}"}}"#,
        "x".repeat(1024 * 1024)
    );
    let bodies: Vec<(&str, String)> = vec![
        ("bad JSON", format!(r#"{{"ticket":"{ticket}""#)),
        ("not an object", format!(r#"["{ticket}"]"#)),
        (
            "ticket a number",
            r#"{"ticket":12345678901234567890}"#.into(),
        ),
        ("ticket null", r#"{"ticket":null}"#.into()),
        ("ticket an object", r#"{"ticket":{"ticket":"x"}}"#.into()),
        ("ticket missing", r#"{"tiket":"x"}"#.into()),
        ("empty object", "{}".into()),
        ("over 1 MiB", too_big),
    ];
    for (what, body) in bodies {
        let v = fastregister_raw(&app, &oat, body).await;
        assert_eq!(errcode(&v), 47001, "{what}: {v}");
        assert_eq!(errmsg_text(&v), spec_errmsg(47001), "{what}");
    }
    // None of them touched the ticket.
    assert_eq!(errcode(&app.fastregister(&oat, &ticket).await), 0);
}

// ---------------------------------------------------------------------------------------------
// fastregister, rule 5: the component
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn fastregister_answers_61028_when_the_component_is_unpublished() {
    let (app, _ct, oat) = world().await;
    let ticket = app.confirm(C, OA, 1).await;
    app.sandbox_ok(
        "PATCH",
        &format!("/components/{C}"),
        Some(&json!({"published": false})),
    )
    .await;
    assert_refused(&app.fastregister(&oat, &ticket).await, 61028);
    app.sandbox_ok(
        "PATCH",
        &format!("/components/{C}"),
        Some(&json!({"published": true})),
    )
    .await;
    assert_eq!(errcode(&app.fastregister(&oat, &ticket).await), 0);
}

#[tokio::test]
async fn fastregister_answers_61029_when_the_component_lacks_a_required_permission_set() {
    let (app, _ct, oat) = world().await;
    let ticket = app.confirm(C, OA, 1).await;
    app.sandbox_ok(
        "PATCH",
        &format!("/components/{C}"),
        Some(&json!({"permission_sets": [1, 2, 3, 4, 7, 11, 15, 17, 18, 27, 30]})),
    )
    .await;
    assert_refused(&app.fastregister(&oat, &ticket).await, 61029);
}

// ---------------------------------------------------------------------------------------------
// fastregister, rule 6: the ticket
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn fastregister_answers_61058_for_an_unknown_ticket() {
    let (app, _ct, oat) = world().await;
    for ticket in ["0123456789abcdef0123456789abcdef", "", "not hex at all"] {
        assert_refused(&app.fastregister(&oat, ticket).await, 61058);
    }
}

#[tokio::test]
async fn fastregister_answers_61058_for_a_ticket_older_than_1800_seconds() {
    let (app, _ct, oat) = world().await;
    let ticket = app.confirm(C, OA, 1).await;
    app.advance(1800).await;
    assert_refused(&app.fastregister(&oat, &ticket).await, 61058);
}

#[tokio::test]
async fn fastregister_answers_61058_for_a_ticket_confirmed_by_another_oa() {
    let (app, ct, oat) = world().await;
    app.authorize(&ct, C, OA_MEDIA, &[1, 15, 27]).await;
    let media_ticket = app.confirm(C, OA_MEDIA, 1).await;
    assert_refused(&app.fastregister(&oat, &media_ticket).await, 61058);
    assert!(app.registrations(OA).await.is_empty());
    assert!(app.registrations(OA_MEDIA).await.is_empty());
}

#[tokio::test]
async fn fastregister_answers_61058_for_a_ticket_confirmed_for_another_component() {
    let app = spawn_app().await;
    let c2 = second_component(&app).await;
    let ct = app.component_token(C).await;
    // The OA moves set 27 to the second component, confirms there, and moves it back.
    app.authorize(&ct, C, OA, &[1, 15]).await;
    let grant = |component: String, sets: Vec<i64>| {
        let app = &app;
        async move {
            app.sandbox_ok(
                "POST",
                "/authorizations",
                Some(
                    &json!({"component_appid": component, "authorizer_appid": OA,
                             "permission_sets": sets}),
                ),
            )
            .await
        }
    };
    assert_eq!(
        grant(c2.clone(), vec![1, 15, 27]).await["withheld_sets"],
        json!([])
    );
    let other_ticket = app.confirm(&c2, OA, 1).await;
    grant(c2, vec![1, 15]).await;
    let (oat, _) = app.authorize(&ct, C, OA, &[1, 15, 27]).await;
    assert_refused(&app.fastregister(&oat, &other_ticket).await, 61058);
    assert!(app.registrations(OA).await.is_empty());
}

#[tokio::test]
async fn fastregister_answers_61058_for_a_ticket_still_in_progress_and_the_first_call_succeeds() {
    let app = spawn_app_with(|s| s.processing_delay_ms = 1500).await;
    let ct = app.component_token(C).await;
    let (oat, _) = app.authorize(&ct, C, OA, &[1, 15, 27]).await;
    let ticket = app.confirm(C, OA, 1).await;
    let (first, second) = tokio::join!(app.fastregister(&oat, &ticket), async {
        wait_for_in_progress(&app, OA).await;
        app.fastregister(&oat, &ticket).await
    });
    assert_refused(&second, 61058);
    assert_eq!(errcode(&first), 0, "{first}");
    let regs = app.registrations(OA).await;
    assert_eq!(regs.len(), 1, "{regs:?}");
    assert_eq!(regs[0]["status"], "succeeded");
    assert_eq!(regs[0]["mp_appid"], first["appid"]);
}

// ---------------------------------------------------------------------------------------------
// fastregister, rule 7: the entity and the account
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn fastregister_answers_61061_for_an_overseas_entity() {
    let (app, ct, _) = world().await;
    assert_refused(&refusal_for(&app, &ct, OA_OVERSEAS, 1).await, 61061);
}

#[tokio::test]
async fn fastregister_answers_61051_for_a_personal_entity() {
    let (app, ct, _) = world().await;
    assert_refused(&refusal_for(&app, &ct, OA_PERSONAL, 1).await, 61051);
}

#[tokio::test]
async fn fastregister_answers_61052_for_an_unverified_oa() {
    let (app, ct, _) = world().await;
    assert_refused(&refusal_for(&app, &ct, OA_UNVERIFIED, 1).await, 61052);
}

#[tokio::test]
async fn fastregister_answers_61054_for_a_blacklisted_entity() {
    let (app, ct, _) = world().await;
    assert_refused(&refusal_for(&app, &ct, OA_BLACKLISTED, 1).await, 61054);
}

#[tokio::test]
async fn fastregister_answers_61056_for_a_media_oa_that_does_not_copy_its_verification() {
    let (app, ct, _) = world().await;
    assert_refused(&refusal_for(&app, &ct, OA_MEDIA, 0).await, 61056);
    // With copy_wx_verify=1 the same OA registers.
    let v = refusal_for(&app, &ct, OA_MEDIA, 1).await;
    assert_eq!(errcode(&v), 0, "{v}");
    assert_eq!(v["is_wx_verify_succ"], "true");
}

#[tokio::test]
async fn an_enterprise_oa_may_register_without_copying_its_verification() {
    let (app, _ct, oat) = world().await;
    let v = register(&app, &oat, OA, 0).await;
    assert_eq!(v["is_wx_verify_succ"], "false");
}

#[tokio::test]
async fn fastregister_answers_61057_for_an_oa_with_a_pending_registration() {
    let (app, ct, _) = world().await;
    assert_refused(&refusal_for(&app, &ct, OA_PENDING, 1).await, 61057);
}

#[tokio::test]
async fn fastregister_answers_61057_while_another_registration_of_the_oa_is_in_progress() {
    let app = spawn_app_with(|s| s.processing_delay_ms = 1500).await;
    let ct = app.component_token(C).await;
    let (oat, _) = app.authorize(&ct, C, OA, &[1, 15, 27]).await;
    let first_ticket = app.confirm(C, OA, 1).await;
    let second_ticket = app.confirm(C, OA, 1).await;
    let (first, second) = tokio::join!(app.fastregister(&oat, &first_ticket), async {
        wait_for_in_progress(&app, OA).await;
        app.fastregister(&oat, &second_ticket).await
    });
    assert_refused(&second, 61057);
    assert_eq!(errcode(&first), 0, "{first}");
    // Once the first is done the refused ticket registers (a business refusal spends nothing).
    app.sandbox_ok("PATCH", "/config", Some(&json!({"processing_delay_ms": 0})))
        .await;
    let again = app.fastregister(&oat, &second_ticket).await;
    assert_eq!(errcode(&again), 0, "{again}");
    assert_ne!(again["appid"], first["appid"]);
}

#[tokio::test]
async fn fastregister_refuses_a_sixth_registration_in_the_same_month_with_61055() {
    let (app, _ct, oat) = world().await;
    for _ in 0..5 {
        register(&app, &oat, OA, 1).await;
    }
    let ticket = app.confirm(C, OA, 1).await;
    assert_refused(&app.fastregister(&oat, &ticket).await, 61055);
    assert_eq!(app.registrations(OA).await.len(), 5);

    // Past the end of the month in Asia/Shanghai the quota is fresh.
    let now = app.sandbox_ok("GET", "/clock", None).await["now"]
        .as_i64()
        .unwrap();
    let local = Shanghai.timestamp_opt(now, 0).unwrap();
    let (y, m) = if local.month() == 12 {
        (local.year() + 1, 1)
    } else {
        (local.year(), local.month() + 1)
    };
    let next_month = Shanghai
        .with_ymd_and_hms(y, m, 1, 0, 0, 0)
        .unwrap()
        .timestamp();
    app.advance(next_month - now + 60).await;
    let oat = app.oa_token(OA).await;
    for _ in 0..5 {
        register(&app, &oat, OA, 1).await;
    }
    let ticket = app.confirm(C, OA, 1).await;
    assert_refused(&app.fastregister(&oat, &ticket).await, 61055);
    let regs = app.registrations(OA).await;
    assert_eq!(regs.len(), 10);
    let month = format!("{y:04}-{m:02}");
    assert!(
        regs[..5].iter().all(|r| r["month"] == month.as_str()),
        "{regs:?}"
    );
    assert!(
        regs[5..].iter().all(|r| r["month"] != month.as_str()),
        "{regs:?}"
    );
}

#[tokio::test]
async fn fastregister_answers_61053_when_the_entity_owns_its_cap_of_mini_programs() {
    let (app, _ct, oat) = world().await;
    register(&app, &oat, OA, 1).await;
    app.sandbox_ok(
        "PATCH",
        &format!("/entities/{ACME_ENTITY}"),
        Some(&json!({"mini_program_cap": 1})),
    )
    .await;
    let ticket = app.confirm(C, OA, 1).await;
    assert_refused(&app.fastregister(&oat, &ticket).await, 61053);
}

// ---------------------------------------------------------------------------------------------
// fastregister: the ticket's outcomes
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn replaying_a_spent_ticket_answers_the_same_success_and_creates_no_mini_program() {
    let (app, _ct, oat) = world().await;
    let ticket = app.confirm(C, OA, 1).await;
    let first = app.fastregister(&oat, &ticket).await;
    assert_eq!(errcode(&first), 0, "{first}");
    let again = app.fastregister(&oat, &ticket).await;
    assert_eq!(again, first);
    assert_eq!(app.registrations(OA).await.len(), 1);
    let items = linked_items(&app, &oat).await;
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["appid"], first["appid"]);
    // A replay does not count toward the quota: four more still succeed.
    for _ in 0..4 {
        register(&app, &oat, OA, 1).await;
    }
    assert_eq!(app.fastregister(&oat, &ticket).await, first);
}

#[tokio::test]
async fn fastregisters_authorization_code_is_exchanged_once_for_the_new_mini_programs_tokens() {
    let (app, ct, oat) = world().await;
    let reg = register(&app, &oat, OA, 1).await;
    let code = reg["authorization_code"].as_str().unwrap();
    let v = app.query_auth(&ct, C, code).await;
    let info = &v["authorization_info"];
    assert_eq!(info["authorizer_appid"], reg["appid"], "{v}");
    assert!(info["authorizer_refresh_token"].is_string(), "{v}");
    assert_eq!(info["expires_in"], 7200);
    assert_eq!(set_ids(&info["func_info"]), vec![17, 18, 19, 25, 30, 31]);
    assert_refused(&app.query_auth(&ct, C, code).await, 61009);
}

#[tokio::test]
async fn fastregisters_authorization_code_expires_after_3600_seconds() {
    let (app, _ct, oat) = world().await;
    let reg = register(&app, &oat, OA, 1).await;
    app.advance(3600).await;
    let ct = app.component_token(C).await;
    let v = app
        .query_auth(&ct, C, reg["authorization_code"].as_str().unwrap())
        .await;
    assert_refused(&v, 61010);
}

#[tokio::test]
async fn a_business_refusal_leaves_the_ticket_usable() {
    let (app, _ct, oat) = world().await;
    for _ in 0..5 {
        register(&app, &oat, OA, 1).await;
    }
    let ticket = app.confirm(C, OA, 1).await;
    assert_refused(&app.fastregister(&oat, &ticket).await, 61055);
    // The quota is raised: the same ticket now registers.
    let mut rules = app.sandbox_ok("GET", "/config", None).await["rules"].clone();
    rules["monthly_quota"] = json!(6);
    app.sandbox_ok("PATCH", "/config", Some(&json!({ "rules": rules })))
        .await;
    let v = app.fastregister(&oat, &ticket).await;
    assert_eq!(errcode(&v), 0, "{v}");

    // Same with the entity cap.
    let ticket = app.confirm(C, OA, 1).await;
    rules["monthly_quota"] = json!(7);
    app.sandbox_ok("PATCH", "/config", Some(&json!({ "rules": rules })))
        .await;
    let path = format!("/entities/{ACME_ENTITY}");
    app.sandbox_ok("PATCH", &path, Some(&json!({"mini_program_cap": 6})))
        .await;
    assert_refused(&app.fastregister(&oat, &ticket).await, 61053);
    app.sandbox_ok("PATCH", &path, Some(&json!({"mini_program_cap": null})))
        .await;
    assert_eq!(errcode(&app.fastregister(&oat, &ticket).await), 0);
}

#[tokio::test]
async fn the_first_failing_rule_wins_when_a_call_fails_several() {
    let (app, ct, oat) = world().await;
    // Rule 1 before rule 4: no token and no body.
    assert_refused(&app.post_raw(FAST_REGISTER, "").await, 41001);
    // Rule 2 before rule 4: a component token and a malformed body.
    assert_refused(&fastregister_raw(&app, &ct, "{").await, 48001);
    // Rule 4 before rule 5: an empty body to an unpublished component.
    let path = format!("/components/{C}");
    app.sandbox_ok("PATCH", &path, Some(&json!({"published": false})))
        .await;
    assert_refused(&fastregister_raw(&app, &oat, "").await, 44002);
    // Rule 5 before rule 6: an unknown ticket to an unpublished component.
    assert_refused(&app.fastregister(&oat, "nope").await, 61028);
    app.sandbox_ok("PATCH", &path, Some(&json!({"published": true})))
        .await;
    // Rule 6 before rule 7: an unknown ticket from a personal entity's OA.
    let (personal, _) = app.authorize(&ct, C, OA_PERSONAL, &[1, 15, 27]).await;
    assert_refused(&app.fastregister(&personal, "nope").await, 61058);
    // Within rule 7, overseas first, then the entity type, then blacklisting.
    let (overseas, _) = app.authorize(&ct, C, OA_OVERSEAS, &[1, 15, 27]).await;
    app.sandbox_ok(
        "PATCH",
        "/entities/4",
        Some(&json!({"type": "personal", "blacklisted": true})),
    )
    .await;
    let ticket = app.confirm(C, OA_OVERSEAS, 1).await;
    assert_refused(&app.fastregister(&overseas, &ticket).await, 61061);
    app.sandbox_ok("PATCH", "/entities/4", Some(&json!({"overseas": false})))
        .await;
    assert_refused(&app.fastregister(&overseas, &ticket).await, 61051);
    app.sandbox_ok("PATCH", "/entities/4", Some(&json!({"type": "enterprise"})))
        .await;
    assert_refused(&app.fastregister(&overseas, &ticket).await, 61054);
    // Rule 1 before rule 3: an expired token of an OA without set 27.
    let (no27, _) = app.authorize(&ct, C, OA, &[1, 15]).await;
    app.advance(7200).await;
    assert_refused(&app.fastregister(&no27, "nope").await, 42001);
}

#[tokio::test]
async fn is_link_succ_is_false_when_the_oa_is_at_its_link_cap() {
    let (app, _ct, oat) = world().await;
    let first = register(&app, &oat, OA, 1).await;
    assert_eq!(first["is_link_succ"], "true");
    app.sandbox_ok(
        "PATCH",
        &format!("/official-accounts/{OA}"),
        Some(&json!({"link_cap": 1})),
    )
    .await;
    let second = register(&app, &oat, OA, 1).await;
    assert_eq!(second["is_link_succ"], "false");
    assert_eq!(second["is_wx_verify_succ"], "true");
    let items = linked_items(&app, &oat).await;
    assert_eq!(items.len(), 1, "{items:?}");
    assert_eq!(items[0]["appid"], first["appid"]);
    let regs = app.registrations(OA).await;
    assert_eq!(regs[0]["is_link_succ"], false);
}
