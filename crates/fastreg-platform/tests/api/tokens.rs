//! The token endpoints' refusals (spec §3): api_component_token, api_start_push_ticket,
//! api_create_preauthcode, api_query_auth and api_authorizer_token, and how superseded tokens
//! keep working for their grace period.

use serde_json::{json, Value};

use crate::helpers::*;
use crate::wechat::*;

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

/// A new verified OA of the demo entity, which has authorised no component; its appid.
async fn new_oa(app: &TestApp) -> String {
    let oa = app
        .sandbox_ok(
            "POST",
            "/official-accounts",
            Some(&json!({"nickname": "Fresh", "entity_id": ACME_ENTITY, "verified": true})),
        )
        .await;
    oa["appid"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn api_authorizer_token_answers_61003_for_an_account_that_has_not_authorised_the_component() {
    let (app, ct, _) = world().await;
    // An OA that authorised only a second component: its refresh token is no use to the first.
    let appid = &new_oa(&app).await;
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

/// Two platforms on one scratch PostgreSQL database, and the component's token from the first;
/// `None` (with the reason printed) when `FASTREG_TEST_PG` is unset.
async fn two_instances() -> Option<(TestApp, TestApp, String)> {
    let a = spawn_app_on(Db::Postgres, |_| {}).await?;
    let dir = std::sync::Arc::new(tempfile::tempdir().unwrap());
    let b = spawn_on_pg(dir, a.pg.clone().unwrap(), |_| {}).await;
    let ct = a.component_token(C).await;
    Some((a, b, ct))
}

/// PostgreSQL's writer remembers the authorisations it reads (and reads a batch's at once):
/// another instance's re-authorisation must reach it before its next answer.
#[tokio::test]
async fn on_a_shared_postgresql_database_a_refresh_token_replaced_on_one_instance_is_refused_at_once_by_the_other(
) {
    let Some((a, b, ct)) = two_instances().await else {
        return;
    };
    let (_, old_refresh) = a.authorize(&ct, C, OA, &[1, 15, 27]).await;
    // A's writer reads the authorisation, and remembers it, a few times over.
    for _ in 0..3 {
        let ok = refresh_call(&a, &ct, OA, &old_refresh).await;
        assert!(ok["authorizer_access_token"].is_string(), "{ok}");
    }
    // B re-authorises the OA: a new refresh token, the old one replaced.
    let (_, new_refresh) = b.authorize(&ct, C, OA, &[1, 15, 27]).await;
    assert_ne!(new_refresh, old_refresh);
    assert_refused(&refresh_call(&a, &ct, OA, &old_refresh).await, 61023);
    let ok = refresh_call(&a, &ct, OA, &new_refresh).await;
    assert!(ok["authorizer_access_token"].is_string(), "{ok}");
    b.stop().await;
}

/// The writer remembers an authorisation's absence too (it reads what the view lacks with its
/// batch's opening): another instance's authorisation must reach it before its next answer.
#[tokio::test]
async fn on_a_shared_postgresql_database_an_account_authorised_on_one_instance_is_served_at_once_by_the_other(
) {
    let Some((a, b, ct)) = two_instances().await else {
        return;
    };
    let appid = &new_oa(&a).await;
    // A's writer reads the absent authorisation, and remembers its absence, a few times over.
    for _ in 0..3 {
        assert_refused(
            &refresh_call(&a, &ct, appid, "refreshtoken@@@none").await,
            61003,
        );
    }
    let (_, refresh) = b.authorize(&ct, C, appid, &[1, 15, 27]).await;
    let ok = refresh_call(&a, &ct, appid, &refresh).await;
    assert!(ok["authorizer_access_token"].is_string(), "{ok}");
    b.stop().await;
}
