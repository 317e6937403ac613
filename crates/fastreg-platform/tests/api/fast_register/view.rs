//! The in-process view (SQLite): a refusal decided from it must follow every change to what
//! the checks read, as soon as the change is acknowledged, also while other calls keep the
//! view warm.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use serde_json::{json, Value};

use crate::helpers::*;

/// The platform, the OA's token, and a valid ticket of an OA that used this month's quota.
async fn at_quota() -> (TestApp, String, String) {
    let app = spawn_app().await;
    let ct = app.component_token(C).await;
    let (oat, _) = app.authorize(&ct, C, OA, &[1, 15, 27]).await;
    for _ in 0..5 {
        let ticket = app.confirm(C, OA, 1).await;
        assert_eq!(errcode(&app.fastregister(&oat, &ticket).await), 0);
    }
    let ticket = app.confirm(C, OA, 1).await;
    (app, oat, ticket)
}

/// Three calls: the first is read from the database (and remembered), the others can be
/// answered from the view. All must agree.
async fn thrice(app: &TestApp, oat: &str, ticket: &str) -> i64 {
    let first = errcode(&app.fastregister(oat, ticket).await);
    for _ in 0..2 {
        assert_eq!(errcode(&app.fastregister(oat, ticket).await), first);
    }
    first
}

async fn patch(app: &TestApp, path: &str, body: Value) {
    app.sandbox_ok("PATCH", path, Some(&body)).await;
}

#[tokio::test]
async fn a_refusal_from_the_view_follows_every_change_to_what_the_checks_read() {
    let (app, oat, ticket) = at_quota().await;
    assert_eq!(thrice(&app, &oat, &ticket).await, 61055);

    // The entity.
    let entity = format!("/entities/{ACME_ENTITY}");
    patch(&app, &entity, json!({"blacklisted": true})).await;
    assert_eq!(thrice(&app, &oat, &ticket).await, 61054);
    patch(&app, &entity, json!({"blacklisted": false})).await;
    assert_eq!(thrice(&app, &oat, &ticket).await, 61055);

    // The OA.
    let oa = format!("/official-accounts/{OA}");
    patch(&app, &oa, json!({"verified": false})).await;
    assert_eq!(thrice(&app, &oat, &ticket).await, 61052);
    patch(&app, &oa, json!({"verified": true})).await;
    assert_eq!(thrice(&app, &oat, &ticket).await, 61055);

    // The component.
    let component = format!("/components/{C}");
    patch(&app, &component, json!({"published": false})).await;
    assert_eq!(thrice(&app, &oat, &ticket).await, 61028);
    patch(&app, &component, json!({"published": true})).await;
    assert_eq!(thrice(&app, &oat, &ticket).await, 61055);

    // The quota (a setting, not a row) lets the ticket register; then it replays.
    let mut rules = app.sandbox_ok("GET", "/config", None).await["rules"].clone();
    rules["monthly_quota"] = json!(6);
    patch(&app, "/config", json!({ "rules": rules })).await;
    let done = app.fastregister(&oat, &ticket).await;
    assert_eq!(errcode(&done), 0, "{done}");
    for _ in 0..3 {
        let again = app.fastregister(&oat, &ticket).await;
        assert_eq!(again["appid"], done["appid"], "a replay: {again}");
    }
    // Six successes now: a new ticket is refused, from the view too.
    let next = app.confirm(C, OA, 1).await;
    assert_eq!(thrice(&app, &oat, &next).await, 61055);

    // A new month resets the count.
    app.advance(32 * 86_400).await;
    let ct = app.component_token(C).await;
    let (oat, _) = app.authorize(&ct, C, OA, &[1, 15, 27]).await;
    let fresh = app.confirm(C, OA, 1).await;
    assert_eq!(errcode(&app.fastregister(&oat, &fresh).await), 0);

    // The authorisation: revoked, the OA's token stops working at once.
    let late = app.confirm(C, OA, 1).await;
    let code = thrice(&app, &oat, &late).await;
    assert_eq!(code, 0, "the second success of the month");
    let late = app.confirm(C, OA, 1).await;
    app.sandbox_ok(
        "POST",
        "/authorizations/revoke",
        Some(&json!({"component_appid": C, "authorizer_appid": OA})),
    )
    .await;
    let revoked = thrice(&app, &oat, &late).await;
    assert_ne!(revoked, 0);
    assert_ne!(revoked, 61055);
}

#[tokio::test]
async fn a_change_acknowledged_while_other_calls_keep_the_view_warm_is_seen_by_the_next_call() {
    let (app, oat, ticket) = at_quota().await;
    let app = Arc::new(app);
    let stop = Arc::new(AtomicBool::new(false));
    // Four callers keep asking with the same token and ticket: they fill the view and race
    // every change below.
    let mut callers = Vec::new();
    for _ in 0..4 {
        let (app, oat, ticket, stop) = (app.clone(), oat.clone(), ticket.clone(), stop.clone());
        callers.push(tokio::spawn(async move {
            let mut answered = 0u32;
            while !stop.load(Ordering::Relaxed) {
                let code = errcode(&app.fastregister(&oat, &ticket).await);
                assert!(code == 61055 || code == 61054, "unexpected errcode {code}");
                answered += 1;
            }
            answered
        }));
    }
    let entity = format!("/entities/{ACME_ENTITY}");
    for round in 0..25 {
        let blacklisted = round % 2 == 0;
        patch(&app, &entity, json!({ "blacklisted": blacklisted })).await;
        let want = if blacklisted { 61054 } else { 61055 };
        for _ in 0..3 {
            let got = errcode(&app.fastregister(&oat, &ticket).await);
            assert_eq!(got, want, "round {round}: blacklisted = {blacklisted}");
        }
    }
    stop.store(true, Ordering::Relaxed);
    let mut answered = 0;
    for c in callers {
        answered += c.await.unwrap();
    }
    assert!(answered > 0);
}

#[tokio::test]
async fn a_ticket_nobody_issued_refused_first_leaves_the_account_registrable() {
    // The first call for the OA is read from the database and remembered in the view; the
    // rules stop at the unknown ticket, but what is remembered must still be the whole
    // account, or the view would answer the next call as if the OA did not exist (40013).
    let app = spawn_app().await;
    let ct = app.component_token(C).await;
    let (oat, _) = app.authorize(&ct, C, OA, &[1, 15, 27]).await;
    let unknown = "0".repeat(32);
    assert_eq!(thrice(&app, &oat, &unknown).await, 61058);
    let ticket = app.confirm(C, OA, 1).await;
    let done = app.fastregister(&oat, &ticket).await;
    assert_eq!(errcode(&done), 0, "{done}");
}
