//! Every errcode the WeChat-compatible endpoints answer, each reached over real HTTP from the
//! demo world: fastregister's rules in the order of spec §5, the ticket's outcomes, and the
//! refusals of the component, authorizer and account endpoints (§3, §4).

use chrono::{Datelike, TimeZone};
use chrono_tz::Asia::Shanghai;
use serde_json::{json, Value};

use super::helpers::*;

const FAST_REGISTER: &str = "/cgi-bin/account/fastregister";
const COMPONENT_TOKEN: &str = "/cgi-bin/component/api_component_token";
const PRE_AUTH_CODE: &str = "/cgi-bin/component/api_create_preauthcode";
const AUTHORIZER_TOKEN: &str = "/cgi-bin/component/api_authorizer_token";
const AUTHORIZER_INFO: &str = "/cgi-bin/component/api_get_authorizer_info";
const AUTHORIZER_LIST: &str = "/cgi-bin/component/api_get_authorizer_list";
const LINK_GET: &str = "/cgi-bin/wxopen/wxamplinkget";
const BASIC_INFO: &str = "/cgi-bin/account/getaccountbasicinfo";

/// The errmsg text (before the rid) of an errcode: spec §6, plus the few codes the spec's table
/// leaves out, with WeChat's texts.
pub(super) fn spec_errmsg(code: i64) -> &'static str {
    match code {
        -1 => "system error",
        40001 => "invalid credential, access_token is invalid or not latest",
        40013 => "invalid appid",
        40066 => "invalid url",
        40125 => "invalid appsecret",
        41001 => "access_token missing",
        41002 => "appid missing",
        41004 => "appsecret missing",
        42001 => "access_token expired",
        43001 => "require GET method",
        43002 => "require POST method",
        44002 => "empty post data",
        47001 => "data format error",
        48001 => "api unauthorized",
        61003 => "component is not authorized by this account",
        61004 => "access clientip is not registered",
        61005 => "component ticket is expired",
        61006 => "component ticket is invalid",
        61007 => "api is unauthorized to component",
        61009 => "code is invalid",
        61010 => "code is expired",
        61011 => "invalid component",
        61023 => "refresh_token is invalid",
        61028 => "component is unpublished",
        61029 => "component need republish with base category",
        61051 => "invalid realname type",
        61052 => "need to be certified",
        61053 => "realname exceed limits",
        61054 => "realname in black list",
        61055 => "exceed quota per month",
        61056 => "copy_wx_verify is required option",
        61057 => "there is still a fast registration in progress",
        61058 => "invalid ticket",
        61060 => "redirect uri is illegal",
        61061 => "overseas access deny",
        other => panic!("no spec text for errcode {other}"),
    }
}

/// Asserts a WeChat-style refusal: the errcode, and the spec's exact text with a rid suffix.
#[track_caller]
pub(super) fn assert_refused(v: &Value, code: i64) {
    assert_eq!(errcode(v), code, "expected errcode {code}, got {v}");
    assert_eq!(errmsg_text(v), spec_errmsg(code), "{v}");
}

/// A fresh platform with a component token and the registering OA's token.
async fn world() -> (TestApp, String, String) {
    let app = spawn_app().await;
    let ct = app.component_token(C).await;
    let (oat, _) = app.authorize(&ct, C, OA, &[1, 15, 27]).await;
    (app, ct, oat)
}

/// fastregister with a raw body.
async fn fastregister_raw(app: &TestApp, token: &str, body: impl Into<reqwest::Body>) -> Value {
    app.post_raw(&format!("{FAST_REGISTER}?access_token={token}"), body)
        .await
}

/// Confirms a ticket for `oa` and registers with it; asserts success.
async fn register(app: &TestApp, oat: &str, oa: &str, copy_wx_verify: u8) -> Value {
    let ticket = app.confirm(C, oa, copy_wx_verify).await;
    let v = app.fastregister(oat, &ticket).await;
    assert_eq!(errcode(&v), 0, "{v}");
    v
}

/// Confirms a ticket for `oa` (authorising it with set 27 first) and returns fastregister's
/// answer.
async fn refusal_for(app: &TestApp, ct: &str, oa: &str, copy_wx_verify: u8) -> Value {
    let (oat, _) = app.authorize(ct, C, oa, &[1, 15, 27]).await;
    let ticket = app.confirm(C, oa, copy_wx_verify).await;
    app.fastregister(&oat, &ticket).await
}

/// Exchanges an authorization_code for the authorizer's access token.
async fn exchange(app: &TestApp, ct: &str, component: &str, code: &str) -> String {
    let v = app.query_auth(ct, component, code).await;
    v["authorization_info"]["authorizer_access_token"]
        .as_str()
        .unwrap_or_else(|| panic!("no authorizer token: {v}"))
        .into()
}

/// Registers a Mini Program for the demo OA and returns (fastregister answer, MP token).
async fn registered_mini_program(app: &TestApp, ct: &str, oat: &str, copy: u8) -> (Value, String) {
    let v = register(app, oat, OA, copy).await;
    let code = v["authorization_code"].as_str().unwrap();
    let mpt = exchange(app, ct, C, code).await;
    (v, mpt)
}

/// A second published component holding every required set, on the same auth domain.
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

/// Waits (at most ~1.4 s) until the OA has a registration in progress.
async fn wait_for_in_progress(app: &TestApp, oa: &str) {
    for _ in 0..140 {
        if app
            .registrations(oa)
            .await
            .iter()
            .any(|r| r["status"] == "in_progress")
        {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("no registration of {oa} went in progress");
}

async fn linked_items(app: &TestApp, oat: &str) -> Vec<Value> {
    let v = app
        .post(&format!("{LINK_GET}?access_token={oat}"), &json!({}))
        .await;
    assert_eq!(errcode(&v), 0, "{v}");
    v["wxopens"]["items"].as_array().unwrap().clone()
}

fn component_query(path: &str, ct: &str) -> String {
    format!("{path}?component_access_token={ct}")
}

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

// ---------------------------------------------------------------------------------------------
// api_component_token
// ---------------------------------------------------------------------------------------------

async fn component_token_call(app: &TestApp, appid: &str, secret: &str, ticket: &str) -> Value {
    app.post(
        COMPONENT_TOKEN,
        &json!({"component_appid": appid, "component_appsecret": secret,
                "component_verify_ticket": ticket}),
    )
    .await
}

#[tokio::test]
async fn api_component_token_answers_41002_61011_41004_and_40125_for_bad_credentials() {
    let app = spawn_app().await;
    let (secret, ticket) = app.component_credentials(C).await;
    assert_refused(
        &component_token_call(&app, "", &secret, &ticket).await,
        41002,
    );
    let v = app
        .post(COMPONENT_TOKEN, &json!({"component_appsecret": secret}))
        .await;
    assert_refused(&v, 41002);
    assert_refused(
        &component_token_call(&app, "wx0000000000000bad", &secret, &ticket).await,
        61011,
    );
    assert_refused(&component_token_call(&app, C, "", &ticket).await, 41004);
    assert_refused(
        &component_token_call(&app, C, "0123456789abcdef0123456789abcdef", &ticket).await,
        40125,
    );
    let ok = component_token_call(&app, C, &secret, &ticket).await;
    assert!(ok["component_access_token"].is_string(), "{ok}");
    assert_eq!(ok["expires_in"], 7200);
}

#[tokio::test]
async fn api_component_token_answers_61006_for_an_unknown_ticket_or_another_components_ticket() {
    let app = spawn_app().await;
    let (secret, _) = app.component_credentials(C).await;
    assert_refused(
        &component_token_call(&app, C, &secret, "ticket@@@unknown").await,
        61006,
    );
    assert_refused(&component_token_call(&app, C, &secret, "").await, 61006);
    let c2 = second_component(&app).await;
    let (_, other_ticket) = app.component_credentials(&c2).await;
    assert_refused(
        &component_token_call(&app, C, &secret, &other_ticket).await,
        61006,
    );
}

#[tokio::test]
async fn api_component_token_accepts_an_older_ticket_and_answers_61005_after_12_hours() {
    let app = spawn_app().await;
    let (secret, old) = app.component_credentials(C).await;
    app.advance(601).await;
    let (_, newer) = app.component_credentials(C).await;
    assert_ne!(old, newer, "a new verify ticket every 600 s");
    // Any unexpired ticket, not only the latest.
    let v = component_token_call(&app, C, &secret, &old).await;
    assert!(v["component_access_token"].is_string(), "{v}");
    app.advance(12 * 3600 - 601).await;
    assert_refused(&component_token_call(&app, C, &secret, &old).await, 61005);
    let (_, latest) = app.component_credentials(C).await;
    let v = component_token_call(&app, C, &secret, &latest).await;
    assert!(v["component_access_token"].is_string(), "{v}");
}

#[tokio::test]
async fn api_component_token_answers_61004_from_an_ip_outside_the_whitelist() {
    let app = spawn_app().await;
    let (secret, ticket) = app.component_credentials(C).await;
    let path = format!("/components/{C}");
    app.sandbox_ok("PATCH", &path, Some(&json!({"ip_whitelist": ["10.1.2.3"]})))
        .await;
    assert_refused(
        &component_token_call(&app, C, &secret, &ticket).await,
        61004,
    );
    app.sandbox_ok(
        "PATCH",
        &path,
        Some(&json!({"ip_whitelist": ["10.1.2.3", "127.0.0.1"]})),
    )
    .await;
    let v = component_token_call(&app, C, &secret, &ticket).await;
    assert!(v["component_access_token"].is_string(), "{v}");
}

#[tokio::test]
async fn a_superseded_component_token_works_for_300_seconds_then_answers_40001_and_expires_with_42001(
) {
    let app = spawn_app().await;
    let old = app.component_token(C).await;
    let new = app.component_token(C).await;
    assert_ne!(old, new);
    let body = json!({ "component_appid": C });
    let call = |token: String| {
        let (app, body) = (&app, &body);
        async move {
            app.post(&component_query(PRE_AUTH_CODE, &token), body)
                .await
        }
    };
    app.advance(290).await;
    assert!(call(old.clone()).await["pre_auth_code"].is_string());
    app.advance(20).await;
    assert_refused(&call(old.clone()).await, 40001);
    assert!(call(new.clone()).await["pre_auth_code"].is_string());
    app.advance(7200 - 310).await;
    assert_refused(&call(new).await, 42001);
    assert_refused(&call(old).await, 40001);
}

#[tokio::test]
async fn api_start_push_ticket_checks_the_component_and_its_secret() {
    let app = spawn_app().await;
    let (secret, before) = app.component_credentials(C).await;
    let path = "/cgi-bin/component/api_start_push_ticket";
    let call = |appid: &str, secret: &str| {
        let body = json!({"component_appid": appid, "component_secret": secret});
        let app = &app;
        async move { app.post(path, &body).await }
    };
    assert_refused(&call("", &secret).await, 41002);
    assert_refused(&call("wx0000000000000bad", &secret).await, 61011);
    assert_refused(&call(C, "").await, 41004);
    assert_refused(&call(C, "wrong").await, 40125);
    let (_, unchanged) = app.component_credentials(C).await;
    assert_eq!(unchanged, before);
    let v = call(C, &secret).await;
    assert_eq!((errcode(&v), v["errmsg"].as_str()), (0, Some("ok")), "{v}");
    let (_, after) = app.component_credentials(C).await;
    assert_ne!(after, before, "a fresh verify ticket was issued");
}

// ---------------------------------------------------------------------------------------------
// api_create_preauthcode
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn api_create_preauthcode_answers_41001_48001_41002_and_40013() {
    let (app, ct, oat) = world().await;
    let body = json!({ "component_appid": C });
    assert_refused(&app.post(PRE_AUTH_CODE, &body).await, 41001);
    assert_refused(
        &app.post(&component_query(PRE_AUTH_CODE, &oat), &body).await,
        48001,
    );
    assert_refused(
        &app.post(&component_query(PRE_AUTH_CODE, &ct), &json!({}))
            .await,
        41002,
    );
    let c2 = second_component(&app).await;
    let v = app
        .post(
            &component_query(PRE_AUTH_CODE, &ct),
            &json!({ "component_appid": c2 }),
        )
        .await;
    assert_refused(&v, 40013);
    let ok = app.post(&component_query(PRE_AUTH_CODE, &ct), &body).await;
    assert!(ok["pre_auth_code"].is_string(), "{ok}");
    assert_eq!(ok["expires_in"], 1800);
}

// ---------------------------------------------------------------------------------------------
// api_query_auth
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn api_query_auth_answers_61009_for_an_unknown_a_used_and_another_components_code() {
    let app = spawn_app().await;
    let ct = app.component_token(C).await;
    assert_refused(&app.query_auth(&ct, C, "queryauthcode@@@nope").await, 61009);

    let grant = app
        .sandbox_ok(
            "POST",
            "/authorizations",
            Some(&json!({"component_appid": C, "authorizer_appid": OA,
                         "permission_sets": [1, 15, 27]})),
        )
        .await;
    let code = grant["auth_code"].as_str().unwrap();
    let first = app.query_auth(&ct, C, code).await;
    assert_eq!(first["authorization_info"]["authorizer_appid"], OA);
    assert_refused(&app.query_auth(&ct, C, code).await, 61009);

    let c2 = second_component(&app).await;
    let grant2 = app
        .sandbox_ok(
            "POST",
            "/authorizations",
            Some(&json!({"component_appid": c2, "authorizer_appid": OA_MEDIA,
                         "permission_sets": [1, 15]})),
        )
        .await;
    let code2 = grant2["auth_code"].as_str().unwrap();
    assert_refused(&app.query_auth(&ct, C, code2).await, 61009);
    // The refusal spent nothing: its own component can still exchange it.
    let ct2 = app.component_token(&c2).await;
    let v = app.query_auth(&ct2, &c2, code2).await;
    assert_eq!(v["authorization_info"]["authorizer_appid"], OA_MEDIA, "{v}");
}

#[tokio::test]
async fn api_query_auth_answers_61010_for_a_code_older_than_3600_seconds() {
    let app = spawn_app().await;
    let grant = app
        .sandbox_ok(
            "POST",
            "/authorizations",
            Some(&json!({"component_appid": C, "authorizer_appid": OA,
                         "permission_sets": [1, 15, 27]})),
        )
        .await;
    app.advance(3600).await;
    let ct = app.component_token(C).await;
    let v = app
        .query_auth(&ct, C, grant["auth_code"].as_str().unwrap())
        .await;
    assert_refused(&v, 61010);
}

// ---------------------------------------------------------------------------------------------
// api_authorizer_token
// ---------------------------------------------------------------------------------------------

async fn refresh_call(app: &TestApp, ct: &str, authorizer: &str, refresh: &str) -> Value {
    app.post(
        &component_query(AUTHORIZER_TOKEN, ct),
        &json!({"component_appid": C, "authorizer_appid": authorizer,
                "authorizer_refresh_token": refresh}),
    )
    .await
}

#[tokio::test]
async fn api_authorizer_token_answers_61003_for_an_account_that_has_not_authorised_the_component() {
    let (app, ct, _) = world().await;
    // An OA that authorised only a second component: its refresh token is no use to the first.
    let new_oa = app
        .sandbox_ok(
            "POST",
            "/official-accounts",
            Some(&json!({"nickname": "Fresh", "entity_id": ACME_ENTITY, "verified": true})),
        )
        .await;
    let appid = new_oa["appid"].as_str().unwrap();
    let c2 = second_component(&app).await;
    let ct2 = app.component_token(&c2).await;
    let (_, refresh) = app.authorize(&ct2, &c2, appid, &[1, 15]).await;
    assert_refused(&refresh_call(&app, &ct, appid, &refresh).await, 61003);
    assert_refused(
        &refresh_call(&app, &ct, "wx00000000000000ff", &refresh).await,
        61003,
    );
    assert_refused(
        &app.post(
            &component_query(AUTHORIZER_TOKEN, &ct),
            &json!({"component_appid": C, "authorizer_refresh_token": refresh}),
        )
        .await,
        41002,
    );
}

#[tokio::test]
async fn api_authorizer_token_answers_61023_for_a_wrong_refresh_token_and_the_one_replaced_by_reauthorisation(
) {
    let app = spawn_app().await;
    let ct = app.component_token(C).await;
    let (_, old_refresh) = app.authorize(&ct, C, OA, &[1, 15, 27]).await;
    assert_refused(
        &refresh_call(&app, &ct, OA, "refreshtoken@@@wrong").await,
        61023,
    );
    assert_refused(&refresh_call(&app, &ct, OA, "").await, 61023);
    let ok = refresh_call(&app, &ct, OA, &old_refresh).await;
    assert_eq!(ok["authorizer_refresh_token"], old_refresh.as_str(), "{ok}");

    let (_, new_refresh) = app.authorize(&ct, C, OA, &[1, 15, 27]).await;
    assert_ne!(new_refresh, old_refresh);
    assert_refused(&refresh_call(&app, &ct, OA, &old_refresh).await, 61023);
    let ok = refresh_call(&app, &ct, OA, &new_refresh).await;
    assert!(ok["authorizer_access_token"].is_string(), "{ok}");
}

#[tokio::test]
async fn refreshing_keeps_the_refresh_token_and_the_previous_access_token_works_for_300_seconds() {
    let (app, ct, first) = world().await;
    let list = app
        .post(
            &component_query(AUTHORIZER_LIST, &ct),
            &json!({"component_appid": C, "offset": 0, "count": 500}),
        )
        .await;
    let refresh = list["list"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["authorizer_appid"] == OA)
        .unwrap()["refresh_token"]
        .as_str()
        .unwrap()
        .to_string();
    let v = refresh_call(&app, &ct, OA, &refresh).await;
    assert!(v.get("errcode").is_none(), "{v}");
    assert_eq!(v["expires_in"], 7200);
    assert_eq!(v["authorizer_refresh_token"], refresh.as_str());
    let second = v["authorizer_access_token"].as_str().unwrap().to_string();
    assert_ne!(second, first);

    app.advance(290).await;
    linked_items(&app, &first).await;
    linked_items(&app, &second).await;
    app.advance(20).await;
    let v = app
        .post(&format!("{LINK_GET}?access_token={first}"), &json!({}))
        .await;
    assert_refused(&v, 40001);
    linked_items(&app, &second).await;
    // And the refresh token still is the same after all that.
    let v = refresh_call(&app, &ct, OA, &refresh).await;
    assert_eq!(v["authorizer_refresh_token"], refresh.as_str());
}

// ---------------------------------------------------------------------------------------------
// api_get_authorizer_info and api_get_authorizer_list
// ---------------------------------------------------------------------------------------------

fn set_ids(func_info: &Value) -> Vec<i64> {
    func_info
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["funcscope_category"]["id"].as_i64().unwrap())
        .collect()
}

fn is_wx_appid(s: &str) -> bool {
    s.len() == 18
        && s.starts_with("wx")
        && s[2..].chars().all(|c| matches!(c, '0'..='9' | 'a'..='f'))
}

#[tokio::test]
async fn api_get_authorizer_info_describes_an_oa_and_a_fast_registered_mini_program() {
    let app = spawn_app().await;
    let ct = app.component_token(C).await;
    let (oat, refresh) = app.authorize(&ct, C, OA, &[1, 15, 27]).await;
    let info = |appid: String| {
        let (app, ct) = (&app, &ct);
        async move {
            app.post(
                &component_query(AUTHORIZER_INFO, ct),
                &json!({"component_appid": C, "authorizer_appid": appid}),
            )
            .await
        }
    };

    let v = info(OA.into()).await;
    assert_eq!(errcode(&v), 0, "{v}");
    assert_eq!(v["errmsg"], "ok");
    let a = &v["authorizer_info"];
    assert_eq!(a["nick_name"], "Acme Official");
    assert_eq!(a["principal_name"], "Acme Trading Co., Ltd.");
    assert_eq!(a["service_type_info"]["id"], 2);
    assert_eq!(a["verify_type_info"]["id"], 0);
    assert_eq!(a["account_status"], 1);
    assert!(a["user_name"].as_str().unwrap().starts_with("gh_"), "{a}");
    assert!(a.get("MiniProgramInfo").is_none(), "{a}");
    assert_eq!(v["authorization_info"]["authorizer_appid"], OA);
    assert_eq!(
        v["authorization_info"]["authorizer_refresh_token"],
        refresh.as_str()
    );
    assert_eq!(
        set_ids(&v["authorization_info"]["func_info"]),
        vec![1, 15, 27]
    );

    let reg = register(&app, &oat, OA, 1).await;
    let mp = reg["appid"].as_str().unwrap().to_string();
    assert!(is_wx_appid(&mp), "{mp}");
    let v = info(mp.clone()).await;
    assert_eq!(errcode(&v), 0, "{v}");
    let a = &v["authorizer_info"];
    assert_eq!(a["principal_name"], "Acme Trading Co., Ltd.");
    assert_eq!(a["verify_type_info"]["id"], 0);
    assert!(a["MiniProgramInfo"].is_object(), "{a}");
    assert_eq!(v["authorization_info"]["authorizer_appid"], mp.as_str());
    assert!(v["authorization_info"]["authorizer_refresh_token"].is_string());
    assert_eq!(
        set_ids(&v["authorization_info"]["func_info"]),
        vec![17, 18, 19, 25, 30, 31]
    );

    assert_refused(&info("wx00000000000000ff".into()).await, 61003);
    assert_refused(
        &app.post(
            &component_query(AUTHORIZER_INFO, &ct),
            &json!({"component_appid": C}),
        )
        .await,
        41002,
    );
}

#[tokio::test]
async fn api_get_authorizer_list_pages_through_the_authorizers_with_their_refresh_tokens() {
    let app = spawn_app().await;
    let ct = app.component_token(C).await;
    let (_, refresh) = app.authorize(&ct, C, OA, &[1, 15, 27]).await;
    let page = |offset: u32, count: u32| {
        let (app, ct) = (&app, &ct);
        async move {
            app.post(
                &component_query(AUTHORIZER_LIST, ct),
                &json!({"component_appid": C, "offset": offset, "count": count}),
            )
            .await
        }
    };
    let mut seen = Vec::new();
    for offset in [0, 3, 6] {
        let v = page(offset, 3).await;
        assert_eq!(errcode(&v), 0, "{v}");
        assert_eq!(v["total_count"], 7, "{v}");
        let list = v["list"].as_array().unwrap();
        assert_eq!(list.len(), if offset == 6 { 1 } else { 3 }, "{v}");
        seen.extend(list.iter().cloned());
    }
    let mut appids: Vec<&str> = seen
        .iter()
        .map(|i| i["authorizer_appid"].as_str().unwrap())
        .collect();
    appids.sort_unstable();
    appids.dedup();
    assert_eq!(appids.len(), 7);
    let oa = seen.iter().find(|i| i["authorizer_appid"] == OA).unwrap();
    assert_eq!(oa["refresh_token"], refresh.as_str());
    assert!(oa["auth_time"].as_i64().unwrap() > 0);
    assert!(page(7, 10).await["list"].as_array().unwrap().is_empty());

    assert_refused(&page(0, 0).await, 47001);
    assert_refused(&page(0, 501).await, 47001);
    assert_eq!(page(0, 500).await["list"].as_array().unwrap().len(), 7);
}

// ---------------------------------------------------------------------------------------------
// wxamplinkget and getaccountbasicinfo
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn wxamplinkget_lists_a_registered_mini_program_and_refuses_a_component_token_with_48001() {
    let (app, ct, oat) = world().await;
    assert!(linked_items(&app, &oat).await.is_empty());
    let (reg, mpt) = registered_mini_program(&app, &ct, &oat, 1).await;
    let items = linked_items(&app, &oat).await;
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["appid"], reg["appid"]);
    assert_eq!(items[0]["status"], 1);
    assert_eq!(items[0]["copy_verify_status"], 1);
    assert_eq!(items[0]["source"], "fastregister");
    let v = app
        .post(&format!("{LINK_GET}?access_token={ct}"), &json!({}))
        .await;
    assert_refused(&v, 48001);
    let v = app
        .post(&format!("{LINK_GET}?access_token={mpt}"), &json!({}))
        .await;
    assert_refused(&v, 48001);
    assert_refused(&app.post(LINK_GET, &json!({})).await, 41001);
}

async fn basic_info(app: &TestApp, token: &str) -> Value {
    let resp = app
        .http
        .get(format!("{}{BASIC_INFO}?access_token={token}", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    resp.json().await.unwrap()
}

#[tokio::test]
async fn getaccountbasicinfo_describes_the_new_mini_program_as_verified_when_it_copied_the_oas_verification(
) {
    let (app, ct, oat) = world().await;
    let (reg, mpt) = registered_mini_program(&app, &ct, &oat, 1).await;
    let v = basic_info(&app, &mpt).await;
    assert_eq!(errcode(&v), 0, "{v}");
    assert_eq!(v["appid"], reg["appid"]);
    assert_eq!(v["account_type"], 3);
    assert_eq!(v["principal_type"], 1);
    assert_eq!(v["principal_name"], "Acme Trading Co., Ltd.");
    assert_eq!(v["wx_verify_info"]["qualification_verify"], true);

    let (_, unverified) = registered_mini_program(&app, &ct, &oat, 0).await;
    let v = basic_info(&app, &unverified).await;
    assert_eq!(v["wx_verify_info"]["qualification_verify"], false, "{v}");

    assert_refused(&basic_info(&app, &oat).await, 48001);
    assert_refused(&basic_info(&app, &ct).await, 48001);
}

#[tokio::test]
async fn with_the_unverified_policy_a_new_mini_program_is_not_verified_even_when_copying() {
    let (app, ct, oat) = world().await;
    let full_policy = json!({
        "required_component_sets": [3, 17, 18, 30, 31],
        "monthly_quota": 5,
        "entity_mini_program_cap": 50,
        "oa_link_cap": 500,
        "verification_policy": "unverified",
        "superseded_grace_secs": 300
    });
    let cfg = app
        .sandbox_ok("PATCH", "/config", Some(&json!({ "rules": full_policy })))
        .await;
    assert_eq!(cfg["rules"], full_policy);
    let (reg, mpt) = registered_mini_program(&app, &ct, &oat, 1).await;
    assert_eq!(reg["is_wx_verify_succ"], "false");
    let v = basic_info(&app, &mpt).await;
    assert_eq!(v["principal_name"], "Acme Trading Co., Ltd.");
    assert_eq!(v["wx_verify_info"]["qualification_verify"], false, "{v}");
    let items = linked_items(&app, &oat).await;
    assert_eq!(items[0]["copy_verify_status"], 0);
}
