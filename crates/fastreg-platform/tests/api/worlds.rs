//! Worlds (platform.md §9): isolation of objects, credentials, clocks, faults and settings
//! between worlds driven at once; restart, export → create, reset, delete; on SQLite and
//! PostgreSQL.

use std::time::Duration;

use fastreg_platform::app::DEMO_WORLD;
use fastreg_platform::service::sandbox::SeedWorld;
use serde_json::{json, Value};

use crate::helpers::*;
use crate::on_every_backend;

/// 2026-03-31 12:00 in Shanghai (04:00 UTC): 12 hours before April there.
const START: i64 = 1_774_929_600;
const MONTHLY_QUOTA: usize = 5;
const COMPONENT_TOKEN: &str = "/cgi-bin/component/api_component_token";

/// The demo world, as the JSON a world is created from.
fn demo_seed() -> Value {
    serde_json::to_value(SeedWorld::from_toml(DEMO_WORLD).unwrap()).unwrap()
}

/// A frozen world at [`START`] seeded with the demo world (the same fixed appids in each).
fn frozen_demo(name: &str) -> Value {
    json!({"name": name, "clock": {"start": START, "frozen": true}, "seed": demo_seed()})
}

/// Registers with a fresh ticket; the errcode (0: registered) and the answer.
async fn register_once(w: &TestApp, oa_token: &str) -> (i64, Value) {
    let (status, v) = w
        .sandbox(
            "POST",
            "/fastregister-confirmations",
            Some(
                &json!({"component_appid": C, "appid": OA, "copy_wx_verify": 1,
                         "redirect_uri": "https://localhost/callback"}),
            ),
        )
        .await;
    if status != 201 {
        // The confirmation page refuses what fastregister would (quota included).
        return (errcode(&v), v);
    }
    let r = w
        .fastregister(oa_token, v["ticket"].as_str().unwrap())
        .await;
    (errcode(&r), r)
}

/// What one test suite does in its own world, `i` of many running at once.
async fn one_suite(root: TestApp, i: i64) -> Result<(), String> {
    let (created, w) = root.create_world(frozen_demo(&format!("suite-{i}"))).await;
    let id = created["id"].as_str().unwrap().to_string();
    if created["base_path"] != json!(format!("/w/{id}")) || created["now"] != json!(START) {
        return Err(format!("created {created}"));
    }
    let ct = w.component_token(C).await;
    let (oa_token, _) = w.authorize(&ct, C, OA, &[1, 15, 27]).await;
    for n in 0..MONTHLY_QUOTA {
        let (code, v) = register_once(&w, &oa_token).await;
        if code != 0 {
            return Err(format!("world {i}: registration {n}: {v}"));
        }
    }
    let (code, v) = register_once(&w, &oa_token).await;
    if code != 61055 {
        return Err(format!("world {i}: over quota answered {v}"));
    }
    // Even worlds arm a fault for one call to the token endpoint; odd ones do not.
    if i % 2 == 0 {
        w.sandbox_ok(
            "POST",
            "/faults",
            Some(&json!({"path": COMPONENT_TOKEN, "inject_errcode": 45009, "times": 1})),
        )
        .await;
    }
    tokio::task::yield_now().await;
    let (secret, ticket) = w.component_credentials(C).await;
    let token_call = json!({"component_appid": C, "component_appsecret": secret,
                            "component_verify_ticket": ticket});
    let first = w.post(COMPONENT_TOKEN, &token_call).await;
    let expected = if i % 2 == 0 { 45009 } else { 0 };
    if errcode(&first) != expected {
        return Err(format!("world {i}: the token call answered {first}"));
    }
    let second = w.post(COMPONENT_TOKEN, &token_call).await;
    if errcode(&second) != 0 {
        return Err(format!("world {i}: the fault struck twice: {second}"));
    }
    // Even worlds cross into April (Shanghai); odd ones move a few seconds.
    let step = if i % 2 == 0 { 13 * 3600 + i } else { i };
    let now = w.advance(step).await;
    if now != START + step {
        return Err(format!("world {i}: now {now}, expected {}", START + step));
    }
    let clock = w.sandbox_ok("GET", "/clock", None).await;
    if clock["now"] != json!(START + step) || clock["frozen"] != json!(true) {
        return Err(format!("world {i}: clock {clock}"));
    }
    // Its tokens expired with its clock (even worlds): new ones, from its own credentials.
    let ct = w.component_token(C).await;
    let (oa_token, _) = w.authorize(&ct, C, OA, &[1, 15, 27]).await;
    let (code, v) = register_once(&w, &oa_token).await;
    let expected = if i % 2 == 0 { 0 } else { 61055 };
    if code != expected {
        return Err(format!("world {i}: after the clock moved: {v}"));
    }
    let registered = w
        .registrations(OA)
        .await
        .iter()
        .filter(|r| r["status"] == "succeeded")
        .count();
    let expected = MONTHLY_QUOTA + usize::from(i % 2 == 0);
    if registered != expected {
        return Err(format!(
            "world {i}: {registered} registrations, expected {expected}"
        ));
    }
    // Its credentials are unknown at the root and in any other world.
    let elsewhere = root
        .post(
            &format!("/cgi-bin/component/api_create_preauthcode?component_access_token={ct}"),
            &json!({"component_appid": C}),
        )
        .await;
    if errcode(&elsewhere) != 40001 {
        return Err(format!(
            "world {i}: its token worked at the root: {elsewhere}"
        ));
    }
    Ok(())
}

async fn thirty_two_worlds_driven_at_once_see_only_their_own_time_faults_objects_and_credentials(
    db: Db,
) {
    let Some(app) = spawn_app_on(db, |_| {}).await else {
        return;
    };
    let suites: Vec<_> = (0..32)
        .map(|i| tokio::spawn(one_suite(app.world_path(), i)))
        .collect();
    let mut failures = Vec::new();
    for s in suites {
        if let Err(e) = s.await.unwrap() {
            failures.push(e);
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
    // The default world saw none of it.
    assert!(app.registrations(OA).await.is_empty());
    assert_eq!(
        app.sandbox_ok("GET", "/worlds", None)
            .await
            .as_array()
            .unwrap()
            .len(),
        33
    );
    // Tokens of one world are unknown in another.
    let worlds = app.sandbox_ok("GET", "/worlds", None).await;
    let (a, b) = (&worlds[1]["id"], &worlds[2]["id"]);
    let wa = app.world(a.as_str().unwrap(), ADMIN);
    let wb = app.world(b.as_str().unwrap(), ADMIN);
    let ct = wa.component_token(C).await;
    let v = wb
        .post(
            &format!("/cgi-bin/component/api_create_preauthcode?component_access_token={ct}"),
            &json!({"component_appid": C}),
        )
        .await;
    assert_eq!(errcode(&v), 40001, "{v}");
}

async fn worlds_keep_their_objects_clock_faults_and_settings_across_a_restart(db: Db) {
    let Some(app) = spawn_app_on(db, |_| {}).await else {
        return;
    };
    let (created, w) = app.create_world(frozen_demo("kept")).await;
    let id = created["id"].as_str().unwrap().to_string();
    let token = w.token.clone();
    let ct = w.component_token(C).await;
    w.advance(3600).await;
    w.sandbox_ok(
        "POST",
        "/faults",
        Some(&json!({"path": "/cgi-bin/account/fastregister", "inject_errcode": -1, "times": 2})),
    )
    .await;
    w.sandbox_ok(
        "PATCH",
        "/config",
        Some(&json!({"rules": {"monthly_quota": 2}})),
    )
    .await;

    // A view of the server holds its state, and so its database: let go of it first.
    drop(w);
    let app = app.restart(|_| {}).await;

    let w = app.world(&id, &token);
    let clock = w.sandbox_ok("GET", "/clock", None).await;
    assert_eq!(clock["now"], json!(START + 3600));
    let faults = w.sandbox_ok("GET", "/faults", None).await;
    assert_eq!(faults[0]["remaining"], json!(2), "{faults}");
    let config = w.sandbox_ok("GET", "/config", None).await;
    assert_eq!(config["rules"]["monthly_quota"], json!(2));
    // The default world kept the server's settings and no faults.
    assert_eq!(
        app.sandbox_ok("GET", "/config", None).await["rules"]["monthly_quota"],
        json!(5)
    );
    assert_eq!(app.sandbox_ok("GET", "/faults", None).await, json!([]));
    // Credentials issued before the restart still work in their world.
    let v = w
        .post(
            &format!("/cgi-bin/component/api_create_preauthcode?component_access_token={ct}"),
            &json!({"component_appid": C}),
        )
        .await;
    assert_eq!(errcode(&v), 0, "{v}");
}

async fn an_export_creates_a_world_that_refuses_exactly_what_the_original_refuses(db: Db) {
    let Some(app) = spawn_app_on(db, |_| {}).await else {
        return;
    };
    let (_, a) = app.create_world(frozen_demo("original")).await;
    let ct = a.component_token(C).await;
    let (oa_token, _) = a.authorize(&ct, C, OA, &[1, 15, 27]).await;
    let mut first_ticket = String::new();
    let mut first_mp = Value::Null;
    for n in 0..MONTHLY_QUOTA {
        let ticket = a.confirm(C, OA, 1).await;
        let v = a.fastregister(&oa_token, &ticket).await;
        assert_eq!(errcode(&v), 0, "{v}");
        if n == 0 {
            first_ticket = ticket;
            first_mp = v["appid"].clone();
        }
    }
    let (code, _) = register_once(&a, &oa_token).await;
    assert_eq!(code, 61055);

    let export = a.sandbox_ok("GET", "/export", None).await;
    let toml = a
        .http
        .get(format!("{}/sandbox/v1/export?format=toml", a.base))
        .bearer_auth(&a.token)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(SeedWorld::from_toml(&toml).is_ok(), "{toml}");
    assert!(!export.to_string().contains(&oa_token), "no credentials");
    let (created, b) = app.create_world(json!({"seed": export})).await;
    assert_eq!(created["now"], json!(START));
    assert_eq!(created["frozen"], json!(true));

    // The same refusal of the sixth, a replay of a spent ticket, the same entity count.
    let ct = b.component_token(C).await;
    let (oa_token_b, _) = b.authorize(&ct, C, OA, &[1, 15, 27]).await;
    let (code, v) = register_once(&b, &oa_token_b).await;
    assert_eq!(code, 61055, "{v}");
    let replay = b.fastregister(&oa_token_b, &first_ticket).await;
    assert_eq!(errcode(&replay), 0, "{replay}");
    assert_eq!(replay["appid"], first_mp);
    let entity = |w: &TestApp| {
        let w = w.world_path();
        async move { w.sandbox_ok("GET", "/entities/1", None).await }
    };
    assert_eq!(entity(&a).await, entity(&b).await);
    // The exported world's token means nothing in the new one.
    let v = b
        .post(
            &format!(
                "/cgi-bin/component/api_create_preauthcode?component_access_token={}",
                a.component_token(C).await
            ),
            &json!({"component_appid": C}),
        )
        .await;
    assert_eq!(errcode(&v), 40001, "{v}");
}

impl TestApp {
    /// A copy of this view (the same world and token).
    fn world_path(&self) -> TestApp {
        let mut copy = self.world("x", &self.token);
        copy.base = self.base.clone();
        copy
    }
}

async fn a_deleted_worlds_credentials_are_unknown_at_once_and_the_others_carry_on(db: Db) {
    let Some(app) = spawn_app_on(db, |_| {}).await else {
        return;
    };
    let (a_created, a) = app.create_world(frozen_demo("doomed")).await;
    let (_, b) = app.create_world(frozen_demo("survivor")).await;
    let id = a_created["id"].as_str().unwrap();
    let ct = a.component_token(C).await;
    let ct_b = b.component_token(C).await;

    let (status, _) = app.sandbox("DELETE", &format!("/worlds/{id}"), None).await;
    assert_eq!(status, 204);

    let call = |w: &TestApp, ct: &str| {
        let (w, ct) = (w.world_path(), ct.to_string());
        async move {
            w.post(
                &format!("/cgi-bin/component/api_create_preauthcode?component_access_token={ct}"),
                &json!({"component_appid": C}),
            )
            .await
        }
    };
    assert_eq!(errcode(&call(&a, &ct).await), 40001);
    assert_eq!(a.sandbox("GET", "/clock", None).await.0, 404);
    assert_eq!(errcode(&call(&b, &ct_b).await), 0);
    let listed = app.sandbox_ok("GET", "/worlds", None).await;
    assert!(!listed.to_string().contains(id), "{listed}");
    assert_eq!(
        app.sandbox("DELETE", &format!("/worlds/{id}"), None)
            .await
            .0,
        404
    );
    assert_eq!(app.sandbox("DELETE", "/worlds/default", None).await.0, 403);
    // Its rows go in the background.
    let gone = async {
        loop {
            let rows: bool = app
                .state
                .store
                .read(|tx| Ok(tx.worlds()?.len() == 2))
                .await
                .unwrap();
            if rows {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(10), gone)
        .await
        .expect("the deleted world's rows are removed");
}

on_every_backend!(
    thirty_two_worlds_driven_at_once_see_only_their_own_time_faults_objects_and_credentials,
    worlds_keep_their_objects_clock_faults_and_settings_across_a_restart,
    an_export_creates_a_world_that_refuses_exactly_what_the_original_refuses,
    a_deleted_worlds_credentials_are_unknown_at_once_and_the_others_carry_on,
);

#[tokio::test]
async fn a_worlds_admin_token_reaches_that_world_only() {
    let app = spawn_app().await;
    let (_, a) = app.create_world(json!({})).await;
    let (_, b) = app.create_world(json!({})).await;

    assert_eq!(a.sandbox("GET", "/clock", None).await.0, 200);
    let mut stray = b.world_path();
    stray.token = a.token.clone();
    assert_eq!(stray.sandbox("GET", "/clock", None).await.0, 401);
    let mut at_root = app.world_path();
    at_root.token = a.token.clone();
    assert_eq!(at_root.sandbox("GET", "/clock", None).await.0, 401);
    assert_eq!(
        at_root.sandbox("POST", "/worlds", Some(&json!({}))).await.0,
        401
    );
    // Worlds are managed at the root only.
    assert_eq!(a.sandbox("GET", "/worlds", None).await.0, 404);
}

#[tokio::test]
async fn a_world_starts_empty_without_a_seed_and_running_without_a_frozen_clock() {
    let app = spawn_app().await;
    let (created, w) = app
        .create_world(json!({"clock": {"start": START}, "config": {"processing_delay_ms": 0}}))
        .await;
    assert_eq!(created["frozen"], json!(false));
    assert_eq!(w.sandbox_ok("GET", "/components", None).await, json!([]));
    assert_eq!(
        w.sandbox_ok("GET", "/official-accounts", None).await,
        json!([])
    );
    let now = w.sandbox_ok("GET", "/clock", None).await["now"]
        .as_i64()
        .unwrap();
    assert!((START..START + 60).contains(&now), "{now}");
    // The default world is its own, also by its id.
    let by_id = app.world("default", ADMIN);
    assert_eq!(
        by_id.sandbox_ok("GET", "/components", None).await,
        app.sandbox_ok("GET", "/components", None).await
    );
    // Malformed creations are refused with the field named.
    for (body, needle) in [
        (json!({"clock": {"start": 5}}), "clock.start"),
        (json!({"name": "x".repeat(201)}), "name"),
        (
            json!({"config": {"processing_delay_ms": 10_000_000}}),
            "processing_delay_ms",
        ),
        (json!({"colour": "red"}), "colour"),
        (json!({"seed": [null, null]}), "object"),
    ] {
        let (status, v) = app.sandbox("POST", "/worlds", Some(&body)).await;
        assert_eq!(status, 400, "{body} -> {v}");
        assert!(v["errmsg"].as_str().unwrap().contains(needle), "{v}");
    }
    // A seed item that refers to nothing conflicts with the rest of the seed: 409, named.
    let body = json!({"seed": {"official_accounts": [{"nickname": "n", "entity_id": 9, "verified": true}]}});
    let (status, v) = app.sandbox("POST", "/worlds", Some(&body)).await;
    assert_eq!(status, 409, "{v}");
    assert!(
        v["errmsg"]
            .as_str()
            .unwrap()
            .contains("official_accounts[0]"),
        "{v}"
    );
}

#[tokio::test]
async fn reset_puts_a_world_back_as_it_was_created() {
    let app = spawn_app().await;
    let (_, w) = app.create_world(frozen_demo("reset me")).await;
    let ct = w.component_token(C).await;
    let (oa_token, _) = w.authorize(&ct, C, OA, &[1, 15, 27]).await;
    assert_eq!(register_once(&w, &oa_token).await.0, 0);
    w.advance(86_400).await;
    w.sandbox_ok(
        "POST",
        "/faults",
        Some(&json!({"path": COMPONENT_TOKEN, "inject_errcode": -1, "times": 3})),
    )
    .await;
    w.sandbox_ok("PATCH", "/config", Some(&json!({"processing_delay_ms": 5})))
        .await;

    let reset = w.sandbox_ok("POST", "/reset", None).await;

    assert_eq!(reset["now"], json!(START));
    assert!(w.registrations(OA).await.is_empty());
    assert_eq!(w.sandbox_ok("GET", "/faults", None).await, json!([]));
    assert_eq!(
        w.sandbox_ok("GET", "/config", None).await["processing_delay_ms"],
        json!(0)
    );
    let v = w
        .post(
            &format!("/cgi-bin/component/api_create_preauthcode?component_access_token={ct}"),
            &json!({"component_appid": C}),
        )
        .await;
    assert_eq!(errcode(&v), 40001, "{v}");
    // Its seed is back: the same OA registers again.
    let ct = w.component_token(C).await;
    let (oa_token, _) = w.authorize(&ct, C, OA, &[1, 15, 27]).await;
    assert_eq!(register_once(&w, &oa_token).await.0, 0);
}

#[tokio::test]
async fn instances_sharing_postgresql_agree_on_a_worlds_faults_clock_and_existence() {
    let Some(a) = spawn_app_on(Db::Postgres, |_| {}).await else {
        return;
    };
    let b = spawn_on_pg(
        std::sync::Arc::new(tempfile::tempdir().unwrap()),
        a.pg.clone().unwrap(),
        |_| {},
    )
    .await;
    // Created through A, used through B at once.
    let (created, wa) = a.create_world(frozen_demo("shared")).await;
    let id = created["id"].as_str().unwrap();
    let wb = b.world(id, &wa.token);
    let (secret, ticket) = wb.component_credentials(C).await;
    let call = json!({"component_appid": C, "component_appsecret": secret,
                      "component_verify_ticket": ticket});
    assert_eq!(errcode(&wb.post(COMPONENT_TOKEN, &call).await), 0);

    // A fault armed through A for two calls strikes two calls, whichever instance answers.
    wa.sandbox_ok(
        "POST",
        "/faults",
        Some(&json!({"path": COMPONENT_TOKEN, "inject_errcode": 45009, "times": 2})),
    )
    .await;
    let struck_b = async {
        loop {
            if errcode(&wb.post(COMPONENT_TOKEN, &call).await) == 45009 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(5), struck_b)
        .await
        .expect("B picks up the fault armed through A");
    assert_eq!(errcode(&wa.post(COMPONENT_TOKEN, &call).await), 45009);
    assert_eq!(errcode(&wa.post(COMPONENT_TOKEN, &call).await), 0);
    assert_eq!(errcode(&wb.post(COMPONENT_TOKEN, &call).await), 0);

    // The clock moved through A is B's clock.
    wa.advance(7200).await;
    let moved = async {
        loop {
            if wb.sandbox_ok("GET", "/clock", None).await["now"] == json!(START + 7200) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(5), moved)
        .await
        .expect("B's clock follows A's advance");

    // Reset through A: B's clock goes back with it (the one time a clock goes back).
    wa.sandbox_ok("POST", "/reset", None).await;
    let back = async {
        loop {
            if wb.sandbox_ok("GET", "/clock", None).await["now"] == json!(START) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(5), back)
        .await
        .expect("B's clock follows A's reset");

    // Deleted through A: unknown through B.
    assert_eq!(
        a.sandbox("DELETE", &format!("/worlds/{id}"), None).await.0,
        204
    );
    let unknown = async {
        loop {
            if errcode(&wb.post(COMPONENT_TOKEN, &call).await) == 40001 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(5), unknown)
        .await
        .expect("B forgets the deleted world");
}
