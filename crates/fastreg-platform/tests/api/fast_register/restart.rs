//! Restarts: everything answered survives, tokens stay valid, the sandbox clock keeps its
//! offset, and a registration interrupted mid-way is abandoned with its ticket usable again.

use fastreg_platform::domain::{Registration, RegistrationStatus};
use serde_json::json;

use crate::helpers::*;

crate::on_every_backend!(state_tokens_and_the_clock_survive_a_restart);

async fn state_tokens_and_the_clock_survive_a_restart(db: Db) {
    let Some(app) = spawn_app_on(db, |_| {}).await else {
        return;
    };
    let ct = app.component_token(C).await;
    let (oa_token, oa_refresh) = app.authorize(&ct, C, OA, &[1, 15, 27]).await;
    let ticket = app.confirm(C, OA, 1).await;
    let reg = app.fastregister(&oa_token, &ticket).await;
    assert_eq!(errcode(&reg), 0, "{reg}");
    let now_before = app.advance(1000).await;

    let app = app.restart(|_| {}).await;

    // Tokens issued before the restart are honoured after it.
    let pre = app
        .post(
            &format!("/cgi-bin/component/api_create_preauthcode?component_access_token={ct}"),
            &json!({"component_appid": C}),
        )
        .await;
    assert!(pre["pre_auth_code"].is_string(), "{pre}");
    let linked = app
        .post(
            &format!("/cgi-bin/wxopen/wxamplinkget?access_token={oa_token}"),
            &json!({}),
        )
        .await;
    assert_eq!(
        linked["wxopens"]["items"][0]["appid"], reg["appid"],
        "{linked}"
    );
    // The refresh token still refreshes.
    let refreshed = app
        .post(
            &format!("/cgi-bin/component/api_authorizer_token?component_access_token={ct}"),
            &json!({"component_appid": C, "authorizer_appid": OA, "authorizer_refresh_token": oa_refresh}),
        )
        .await;
    assert!(
        refreshed["authorizer_access_token"].is_string(),
        "{refreshed}"
    );
    // The ticket still replays its success; nothing was registered twice.
    let replay = app.fastregister(&oa_token, &ticket).await;
    assert_eq!(replay["appid"], reg["appid"]);
    assert_eq!(replay["authorization_code"], reg["authorization_code"]);
    assert_eq!(app.registrations(OA).await.len(), 1);
    // The clock kept its offset.
    let clock = app.sandbox_ok("GET", "/clock", None).await;
    assert!(clock["now"].as_i64().unwrap() >= now_before, "{clock}");
    // The demo world was not seeded a second time.
    let components = app.sandbox_ok("GET", "/components", None).await;
    assert_eq!(components.as_array().unwrap().len(), 1);
    app.stop().await;
}

#[tokio::test]
async fn a_registration_in_progress_at_a_stop_is_abandoned_and_its_ticket_is_usable_again() {
    let app = spawn_app().await;
    let oa_token = app.oa_token(OA).await;
    let ticket = app.confirm(C, OA, 1).await;
    // What a crash between claiming the ticket and completing leaves behind.
    let t = ticket.clone();
    app.state
        .store
        .write(move |tx| {
            tx.insert_registration(&Registration {
                id: 0,
                ticket: t,
                oa_appid: OA.into(),
                entity_id: ACME_ENTITY,
                component_appid: C.into(),
                status: RegistrationStatus::InProgress,
                mp_appid: None,
                authorization_code: None,
                is_wx_verify_succ: true,
                is_link_succ: false,
                created_at: 0,
                completed_at: None,
                month: None,
            })
        })
        .await
        .unwrap();
    assert_eq!(errcode(&app.fastregister(&oa_token, &ticket).await), 61058);
    let dir = app.stop().await;

    let app = spawn_on(dir, |_| {}).await;

    let regs = app.registrations(OA).await;
    assert_eq!(regs[0]["status"], "abandoned");
    let reg = app.fastregister(&oa_token, &ticket).await;
    assert_eq!(errcode(&reg), 0, "{reg}");
    app.stop().await;
}

#[tokio::test]
async fn a_seed_file_seeds_a_new_database_and_is_ignored_by_an_existing_one() {
    let dir = std::sync::Arc::new(tempfile::tempdir().unwrap());
    let seed = dir.path().join("seed.toml");
    std::fs::write(
        &seed,
        r#"
[[components]]
appid = "wx1111111111111111"
auth_domain = "platform.example.com"
published = true
permission_sets = [3, 17, 18, 27, 30, 31]

[[entities]]
id = 7
name = "Seeded Co."
type = "government"

[[official_accounts]]
appid = "wx2222222222222222"
nickname = "Seeded OA"
entity_id = 7
verified = true

[[authorizations]]
component_appid = "wx1111111111111111"
authorizer_appid = "wx2222222222222222"
permission_sets = [27]
"#,
    )
    .unwrap();
    let seed_path = seed.display().to_string();
    let app = spawn_on(dir.clone(), |s| s.seed = Some(seed_path.clone())).await;
    let c = app
        .sandbox_ok("GET", "/components/wx1111111111111111", None)
        .await;
    assert_eq!(c["auth_domain"], "platform.example.com");
    let e = app.sandbox_ok("GET", "/entities/7", None).await;
    assert_eq!(e["type"], "government");
    let (status, _) = app.sandbox("GET", &format!("/components/{C}"), None).await;
    assert_eq!(status, 404, "a seed replaces the demo world");
    let dir = app.stop().await;

    std::fs::write(&seed, "this is not toml = [").unwrap();
    let app = spawn_on(dir, |s| s.seed = Some(seed_path)).await;
    let list = app.sandbox_ok("GET", "/official-accounts", None).await;
    assert_eq!(list.as_array().unwrap().len(), 1);
    app.stop().await;
}

/// Two instances on one PostgreSQL database: a start must not abandon what the other instance
/// is in the middle of, while a claim older than any live instance's work is abandoned by the
/// periodic sweep.
#[tokio::test]
async fn on_a_shared_database_a_start_leaves_live_claims_alone_and_the_sweep_abandons_dead_ones() {
    let Some(a) = spawn_app_on(Db::Postgres, |s| s.processing_delay_ms = 2_000).await else {
        return;
    };
    let scratch = a.pg.clone().unwrap();
    let oa_token = a.oa_token(OA).await;
    let ticket = a.confirm(C, OA, 1).await;

    let (answer, b) = tokio::join!(a.fastregister(&oa_token, &ticket), async {
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        let dir = std::sync::Arc::new(tempfile::tempdir().unwrap());
        spawn_on_pg(dir, scratch.clone(), |_| {}).await
    });

    assert_eq!(errcode(&answer), 0, "{answer}");
    // B honours A's tokens and replays A's success.
    let replay = b.fastregister(&oa_token, &ticket).await;
    assert_eq!(replay["appid"], answer["appid"]);

    // A claim left by an instance that died an hour ago.
    let t2 = a.confirm(C, OA_MEDIA, 1).await;
    let id = a
        .state
        .store
        .write(move |tx| {
            tx.insert_registration(&Registration {
                id: 0,
                ticket: t2,
                oa_appid: OA_MEDIA.into(),
                entity_id: 2, // OA_MEDIA's entity
                component_appid: C.into(),
                status: RegistrationStatus::InProgress,
                mp_appid: None,
                authorization_code: None,
                is_wx_verify_succ: true,
                is_link_succ: false,
                created_at: 0,
                completed_at: None,
                month: None,
            })
        })
        .await
        .unwrap();
    let url = scratch.url().to_string();
    std::thread::spawn(move || {
        let mut c = postgres::Client::connect(&url, postgres::NoTls).unwrap();
        c.execute(
            "UPDATE registrations SET claimed_at_ms = claimed_at_ms - 3600000 WHERE id = $1",
            &[&id],
        )
        .unwrap();
    })
    .join()
    .unwrap();

    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let status = b
            .state
            .store
            .read(move |tx| tx.registration(id))
            .await
            .unwrap()
            .unwrap()
            .status;
        if status == RegistrationStatus::Abandoned {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the dead claim is still {status:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}
