//! Many simultaneous calls: the invariants of spec §5 hold exactly — per OA one registration
//! in progress and five successes a month, per entity its cap, one Mini Program per ticket.
//! Every scenario runs on SQLite and on PostgreSQL.

use std::collections::{BTreeMap, HashSet};

use futures_util::future::join_all;
use serde_json::{json, Value};

use crate::helpers::*;

crate::on_every_backend!(
    simultaneous_calls_for_one_oa_register_exactly_the_monthly_quota,
    simultaneous_calls_while_one_is_in_progress_are_refused_with_61057,
    simultaneous_calls_with_one_ticket_in_progress_get_61058_and_a_later_call_replays,
    simultaneous_calls_with_one_ticket_create_one_mini_program_and_replay_it,
    simultaneous_calls_for_one_entity_never_exceed_its_cap,
    calls_for_one_entity_decided_in_one_write_batch_never_exceed_its_cap,
    claims_for_one_entity_decided_in_one_write_batch_never_exceed_its_cap,
    successes_of_one_oa_decided_in_one_write_batch_link_up_to_its_cap,
    successes_of_an_oa_the_view_holds_link_up_to_its_cap,
    registrations_in_progress_count_toward_the_entity_cap,
);

const N: usize = 40;

/// Counts answers by errcode.
fn tally(answers: &[Value]) -> BTreeMap<i64, usize> {
    let mut t = BTreeMap::new();
    for a in answers {
        *t.entry(errcode(a)).or_default() += 1;
    }
    t
}

async fn fire(app: &TestApp, calls: Vec<(String, String)>) -> Vec<Value> {
    join_all(
        calls
            .iter()
            .map(|(token, ticket)| app.fastregister(token, ticket)),
    )
    .await
}

async fn fresh_tickets(app: &TestApp, oa: &str, n: usize) -> Vec<String> {
    let mut t = Vec::with_capacity(n);
    for _ in 0..n {
        t.push(app.confirm(C, oa, 1).await);
    }
    t
}

async fn simultaneous_calls_for_one_oa_register_exactly_the_monthly_quota(db: Db) {
    let Some(app) = spawn_app_on(db, |_| {}).await else {
        return;
    };
    let token = app.oa_token(OA).await;
    let tickets = fresh_tickets(&app, OA, N).await;

    let answers = fire(
        &app,
        tickets.into_iter().map(|t| (token.clone(), t)).collect(),
    )
    .await;

    assert_eq!(
        tally(&answers),
        BTreeMap::from([(0, 5), (61055, N - 5)]),
        "{answers:?}"
    );
    let appids: HashSet<&str> = answers.iter().filter_map(|a| a["appid"].as_str()).collect();
    assert_eq!(appids.len(), 5, "five distinct Mini Programs");
    assert_eq!(app.registrations(OA).await.len(), 5);
}

async fn simultaneous_calls_while_one_is_in_progress_are_refused_with_61057(db: Db) {
    let Some(app) = spawn_app_on(db, |s| s.processing_delay_ms = 400).await else {
        return;
    };
    let token = app.oa_token(OA).await;
    let tickets = fresh_tickets(&app, OA, N).await;

    let answers = fire(
        &app,
        tickets.into_iter().map(|t| (token.clone(), t)).collect(),
    )
    .await;

    assert_eq!(
        tally(&answers),
        BTreeMap::from([(0, 1), (61057, N - 1)]),
        "{answers:?}"
    );
    let regs = app.registrations(OA).await;
    assert_eq!(regs.len(), 1);
    assert_eq!(regs[0]["status"], "succeeded");
}

async fn simultaneous_calls_with_one_ticket_in_progress_get_61058_and_a_later_call_replays(db: Db) {
    let Some(app) = spawn_app_on(db, |s| s.processing_delay_ms = 400).await else {
        return;
    };
    let token = app.oa_token(OA).await;
    let ticket = app.confirm(C, OA, 1).await;

    let answers = fire(&app, vec![(token.clone(), ticket.clone()); N]).await;

    assert_eq!(
        tally(&answers),
        BTreeMap::from([(0, 1), (61058, N - 1)]),
        "{answers:?}"
    );
    let first = answers.iter().find(|a| errcode(a) == 0).unwrap();
    // A client that retries after the call finished learns its result: the same answer.
    let replay = app.fastregister(&token, &ticket).await;
    assert_eq!(replay["appid"], first["appid"]);
    assert_eq!(replay["authorization_code"], first["authorization_code"]);
    assert_eq!(
        app.registrations(OA).await.len(),
        1,
        "one Mini Program per ticket"
    );
}

async fn simultaneous_calls_with_one_ticket_create_one_mini_program_and_replay_it(db: Db) {
    let Some(app) = spawn_app_on(db, |_| {}).await else {
        return;
    };
    let token = app.oa_token(OA).await;
    let ticket = app.confirm(C, OA, 1).await;

    let answers = fire(&app, vec![(token.clone(), ticket.clone()); N]).await;

    // Without a processing delay every call after the first sees the ticket spent by a
    // success of the same OA, and replays it.
    assert_eq!(tally(&answers), BTreeMap::from([(0, N)]), "{answers:?}");
    let appids: HashSet<&str> = answers.iter().filter_map(|a| a["appid"].as_str()).collect();
    assert_eq!(appids.len(), 1);
    assert_eq!(app.registrations(OA).await.len(), 1);
}

/// Creates an entity with a cap and `n` verified OAs of it, each authorised with set 27;
/// returns (token, ticket) per OA.
async fn capped_entity_with_oas(app: &TestApp, cap: u32, n: usize) -> Vec<(String, String)> {
    let entity = app
        .sandbox_ok(
            "POST",
            "/entities",
            Some(&json!({"name": "Capped Co.", "type": "enterprise", "mini_program_cap": cap})),
        )
        .await;
    let ct = app.component_token(C).await;
    let mut calls = Vec::new();
    for i in 0..n {
        let oa = app
            .sandbox_ok(
                "POST",
                "/official-accounts",
                Some(&json!({"nickname": format!("Capped {i}"), "entity_id": entity["id"], "verified": true})),
            )
            .await;
        let appid = oa["appid"].as_str().unwrap().to_string();
        let (token, _) = app.authorize(&ct, C, &appid, &[27]).await;
        let ticket = app.confirm(C, &appid, 1).await;
        calls.push((token, ticket));
    }
    calls
}

/// Twelve calls, one per OA of an entity with room for three more Mini Programs, sent at once
/// (`one_batch`: queued behind a held writer, [`fire_into_one_write_batch`]): exactly three
/// succeed (or, with a processing delay, are claimed), and nine are refused with 61053.
async fn twelve_calls_for_an_entity_with_room_for_three(db: Db, delay_ms: u64, one_batch: bool) {
    let Some(app) = spawn_app_on(db, |s| s.processing_delay_ms = delay_ms).await else {
        return;
    };
    let calls = capped_entity_with_oas(&app, 3, 12).await;

    let answers = if one_batch {
        fire_into_one_write_batch(&app, calls).await
    } else {
        fire(&app, calls).await
    };

    assert_eq!(
        tally(&answers),
        BTreeMap::from([(0, 3), (61053, 9)]),
        "{answers:?}"
    );
}

async fn simultaneous_calls_for_one_entity_never_exceed_its_cap(db: Db) {
    twelve_calls_for_an_entity_with_room_for_three(db, 0, false).await;
}

/// [`fire`], with the writer held until every call has had time to queue behind it, so that
/// the go-aheads are decided in one batch: each success there changes what the next call
/// checks (its entity's counts, its OA's linked Mini Programs), which the writer then knows
/// only from its own writes, the view holding those keys pending.
async fn fire_into_one_write_batch(app: &TestApp, calls: Vec<(String, String)>) -> Vec<Value> {
    let (release, held) = std::sync::mpsc::channel::<()>();
    let state = app.state.clone();
    let hold = tokio::spawn(async move {
        state
            .store
            .write(move |_tx| {
                let _ = held.recv_timeout(std::time::Duration::from_secs(10));
                Ok(())
            })
            .await
    });
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    tokio::spawn(async move {
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        let _ = release.send(());
    });
    let answers = fire(app, calls).await;
    hold.await.unwrap().unwrap();
    answers
}

async fn calls_for_one_entity_decided_in_one_write_batch_never_exceed_its_cap(db: Db) {
    twelve_calls_for_an_entity_with_room_for_three(db, 0, true).await;
}

async fn claims_for_one_entity_decided_in_one_write_batch_never_exceed_its_cap(db: Db) {
    twelve_calls_for_an_entity_with_room_for_three(db, 300, true).await;
}

/// An app whose OA may link `cap` Mini Programs; `None` when `db` is not available.
async fn app_with_oa_link_cap(db: Db, cap: u32) -> Option<TestApp> {
    let app = spawn_app_on(db, |_| {}).await?;
    app.sandbox_ok(
        "PATCH",
        &format!("/official-accounts/{OA}"),
        Some(&json!({"link_cap": cap})),
    )
    .await;
    Some(app)
}

async fn successes_of_one_oa_decided_in_one_write_batch_link_up_to_its_cap(db: Db) {
    let Some(app) = app_with_oa_link_cap(db, 2).await else {
        return;
    };
    let token = app.oa_token(OA).await;
    let tickets = fresh_tickets(&app, OA, 5).await;

    let answers = fire_into_one_write_batch(
        &app,
        tickets.into_iter().map(|t| (token.clone(), t)).collect(),
    )
    .await;

    assert_eq!(tally(&answers), BTreeMap::from([(0, 5)]), "{answers:?}");
    let linked = answers
        .iter()
        .filter(|a| a["is_link_succ"] == "true")
        .count();
    assert_eq!(linked, 2, "{answers:?}");
}

/// One success at a time, each after a refusal that leaves the OA and its entity in the view:
/// the writer then decides the success from the view and its batch's read-ahead (the linked
/// count among them) rather than reading the OA's context itself.
async fn successes_of_an_oa_the_view_holds_link_up_to_its_cap(db: Db) {
    let Some(app) = app_with_oa_link_cap(db, 2).await else {
        return;
    };
    let token = app.oa_token(OA).await;
    let mut linked = Vec::new();
    for ticket in fresh_tickets(&app, OA, 3).await {
        let refused = app
            .fastregister(&token, "0123456789abcdef0123456789abcdef")
            .await;
        assert_eq!(errcode(&refused), 61058, "{refused:?}");
        let a = app.fastregister(&token, &ticket).await;
        assert_eq!(errcode(&a), 0, "{a:?}");
        linked.push(a["is_link_succ"].clone());
    }
    assert_eq!(linked, ["true", "true", "false"]);
}

async fn registrations_in_progress_count_toward_the_entity_cap(db: Db) {
    twelve_calls_for_an_entity_with_room_for_three(db, 300, false).await;
}
