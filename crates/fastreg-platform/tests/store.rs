//! The storage conformance suite: one story over [`Store`] and the [`Tx`] primitives, run on
//! every backend. A backend is correct when it passes this and the API tests pass on it.
//!
//! Backends: a SQLite file at both durability levels and in-memory SQLite (always), and
//! PostgreSQL at both levels when `FASTREG_TEST_PG` names a server (each run gets scratch
//! databases of its own, dropped at the end).

use fastreg_platform::domain::*;
use fastreg_platform::error::Error;
use fastreg_platform::store::{Durability, ReadAhead, Store, SuccessWrites};
use fastreg_platform::testing::ScratchDatabase;
use fastreg_wire::ErrCode;
use futures_util::future::join_all;

async fn backends() -> Vec<(&'static str, Store, tempfile::TempDir)> {
    let mut out = Vec::new();
    for (name, durability) in [
        ("sqlite file, process durability", Durability::Process),
        ("sqlite file, full durability", Durability::Full),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("conformance.db").display());
        out.push((name, Store::open(&url, durability).await.unwrap(), dir));
    }
    let dir = tempfile::tempdir().unwrap();
    let memory = Store::open("sqlite::memory:", Durability::Process)
        .await
        .unwrap();
    out.push(("sqlite memory", memory, dir));
    out
}

/// Scratch PostgreSQL databases for one test, dropped when it ends.
struct Scratch {
    base: String,
    databases: Vec<ScratchDatabase>,
}

impl Scratch {
    /// `None` (with the reason printed) when `FASTREG_TEST_PG` is unset.
    fn new() -> Option<Scratch> {
        match std::env::var("FASTREG_TEST_PG") {
            Ok(base) if !base.is_empty() => Some(Scratch {
                base,
                databases: Vec::new(),
            }),
            _ => {
                eprintln!("skipping the PostgreSQL backend: FASTREG_TEST_PG is not set");
                None
            }
        }
    }

    fn database(&mut self) -> String {
        let db = ScratchDatabase::create(&self.base)
            .unwrap_or_else(|e| panic!("FASTREG_TEST_PG is set but unusable: {e:#}"));
        let url = db.url().to_string();
        self.databases.push(db);
        url
    }
}

async fn postgres_backends(scratch: &mut Scratch) -> Vec<(&'static str, Store)> {
    let mut out = Vec::new();
    for (name, durability) in [
        ("postgres, process durability", Durability::Process),
        ("postgres, full durability", Durability::Full),
    ] {
        let url = scratch.database();
        out.push((name, Store::open(&url, durability).await.unwrap()));
    }
    out
}

fn component(appid: &str) -> Component {
    Component {
        appid: appid.into(),
        appsecret: "secret".into(),
        token: "token".into(),
        encoding_aes_key: "k".repeat(43),
        event_url: None,
        auth_domain: "example.com".into(),
        published: true,
        permission_sets: vec![3, 27],
        mp_permission_sets: vec![17],
        ip_whitelist: vec!["127.0.0.1".into()],
        created_at: 100,
    }
}

fn registration(ticket: &str, oa: &str, status: RegistrationStatus) -> Registration {
    Registration {
        id: 0,
        ticket: ticket.into(),
        oa_appid: oa.into(),
        entity_id: 1,
        component_appid: "wxc".into(),
        status,
        mp_appid: None,
        authorization_code: None,
        is_wx_verify_succ: false,
        is_link_succ: false,
        created_at: 1,
        completed_at: None,
        month: None,
    }
}

#[tokio::test]
async fn every_backend_passes_the_storage_story() {
    let mut stores: Vec<(&str, Store)> = Vec::new();
    let mut dirs = Vec::new();
    for (name, store, dir) in backends().await {
        stores.push((name, store));
        dirs.push(dir);
    }
    let mut scratch = Scratch::new();
    if let Some(scratch) = scratch.as_mut() {
        stores.extend(postgres_backends(scratch).await);
    }
    for (name, store) in stores {
        story(&store)
            .await
            .unwrap_or_else(|e| panic!("{name}: {e:#}"));
        group_commit_isolates_failing_jobs(&store).await;
        a_job_that_said_it_fails_only_before_writing_loses_nothing_when_it_fails_after(&store)
            .await;
        token_replacements_supersede_in_the_order_they_commit(&store, "chain", false).await;
        token_replacements_supersede_in_the_order_they_commit(&store, "queued", true).await;
        a_key_replaced_within_one_second_after_a_revocation_keeps_one_current_token(&store).await;
        a_write_refused_at_the_commit_fails_its_job_and_nothing_answered_is_lost(&store).await;
        successes_are_written_whole_or_not_at_all(&store).await;
        pushes_are_claimed_once(&store).await;
        eprintln!("{name}: ok");
    }
}

/// A delivery pass claims due pushes: a second pass (another instance) finds none of them
/// until the lease runs out.
async fn pushes_are_claimed_once(store: &Store) {
    let push = Push {
        id: 0,
        component_appid: "wxc".into(),
        info_type: "component_verify_ticket".into(),
        event_url: "https://example.com/push".into(),
        encrypt: "AAAA".into(),
        created_at: 1,
        status: PushStatus::Pending,
        attempts: 0,
        next_attempt_at_ms: 1_000,
        last_status: None,
        last_attempt_at_ms: None,
        delivered_at_ms: None,
        world: DEFAULT_WORLD,
    };
    let id = store.write(move |tx| tx.insert_push(&push)).await.unwrap();
    let first = store
        .write(|tx| tx.claim_due_pushes(2_000, 30_000, 64))
        .await
        .unwrap();
    assert_eq!(first.iter().map(|p| p.id).collect::<Vec<_>>(), vec![id]);
    let second = store
        .write(|tx| tx.claim_due_pushes(2_000, 30_000, 64))
        .await
        .unwrap();
    assert!(second.is_empty(), "claimed twice: {second:?}");
    let after_lease = store
        .write(|tx| tx.claim_due_pushes(32_000, 30_000, 64))
        .await
        .unwrap();
    assert_eq!(after_lease.len(), 1, "a lapsed claim is taken over");
    let mut delivered = after_lease[0].clone();
    delivered.status = PushStatus::Delivered;
    store
        .write(move |tx| tx.update_push(&delivered))
        .await
        .unwrap();
    assert!(store
        .write(|tx| tx.claim_due_pushes(i64::MAX / 2, 30_000, 64))
        .await
        .unwrap()
        .is_empty());
}

async fn story(store: &Store) -> Result<(), Error> {
    // Appids are unique across kinds.
    assert!(
        store
            .write(|tx| tx.reserve_appid("wxc", "component"))
            .await?
    );
    assert!(!store.write(|tx| tx.reserve_appid("wxc", "oa")).await?);

    // Components round-trip, including their JSON arrays.
    store
        .write(|tx| tx.insert_component(&component("wxc")))
        .await?;
    let mut c = store.read(|tx| tx.component("wxc")).await?.unwrap();
    assert_eq!(c, component("wxc"));
    c.published = false;
    c.event_url = Some("https://example.com/push".into());
    let c2 = c.clone();
    store.write(move |tx| tx.update_component(&c2)).await?;
    assert_eq!(store.read(|tx| tx.component("wxc")).await?, Some(c));

    // Verify tickets: the newest wins.
    for (t, at) in [("t1", 10), ("t2", 20)] {
        store
            .write(move |tx| {
                tx.insert_verify_ticket(&VerifyTicket {
                    component_appid: "wxc".into(),
                    ticket: t.into(),
                    create_time: at,
                    expires_at: at + 100,
                })
            })
            .await?;
    }
    assert_eq!(
        store
            .read(|tx| tx.latest_verify_ticket("wxc"))
            .await?
            .unwrap()
            .ticket,
        "t2"
    );
    assert_eq!(
        store
            .read(|tx| tx.verify_ticket("t1"))
            .await?
            .unwrap()
            .expires_at,
        110
    );

    // Entities: explicit and assigned ids.
    let e = Entity {
        id: 1,
        name: "E".into(),
        entity_type: EntityType::OtherOrg,
        overseas: false,
        blacklisted: true,
        mini_program_cap: Some(3),
    };
    let e2 = e.clone();
    assert_eq!(store.write(move |tx| tx.insert_entity(&e2)).await?, 1);
    let auto = Entity { id: 0, ..e.clone() };
    assert_eq!(store.write(move |tx| tx.insert_entity(&auto)).await?, 2);
    assert_eq!(store.read(|tx| tx.entity(1)).await?, Some(e));

    // OAs and MPs; links and counts.
    store
        .write(|tx| {
            tx.reserve_appid("wxoa", "oa")?;
            tx.insert_official_account(&OfficialAccount {
                appid: "wxoa".into(),
                user_name: "gh_1".into(),
                nickname: "OA".into(),
                entity_id: 1,
                verified: true,
                pending_registration: false,
                link_cap: None,
                created_at: 5,
            })?;
            for (appid, linked) in [("wxmp1", true), ("wxmp2", false)] {
                tx.reserve_appid(appid, "mp")?;
                tx.insert_mini_program(&MiniProgram {
                    appid: appid.into(),
                    user_name: "gh_2".into(),
                    nickname: "MP".into(),
                    entity_id: 1,
                    registered_by_oa: "wxoa".into(),
                    linked_oa: linked.then(|| "wxoa".into()),
                    verified: false,
                    created_at: 6,
                })?;
            }
            Ok(())
        })
        .await?;
    assert_eq!(store.read(|tx| tx.count_entity_mini_programs(1)).await?, 2);
    assert_eq!(
        store
            .read(|tx| tx.count_linked_mini_programs("wxoa"))
            .await?,
        1
    );
    assert_eq!(
        store.read(|tx| tx.linked_mini_programs("wxoa")).await?[0].appid,
        "wxmp1"
    );

    // Authorisations: upsert, paging, set holders.
    for (who, sets, at) in [("wxoa", vec![1, 27], 10), ("wxmp1", vec![17], 11)] {
        store
            .write(move |tx| {
                tx.put_authorization(&Authorization {
                    component_appid: "wxc".into(),
                    authorizer_appid: who.into(),
                    authorizer_kind: AuthorizerKind::OfficialAccount,
                    permission_sets: sets,
                    refresh_token: format!("r-{who}"),
                    auth_time: at,
                    revoked: false,
                })
            })
            .await?;
    }
    assert_eq!(
        store
            .read(|tx| tx.count_authorizations_of_component("wxc"))
            .await?,
        2
    );
    let page = store
        .read(|tx| tx.authorizations_of_component("wxc", 1, 10))
        .await?;
    assert_eq!(page.len(), 1);
    assert_eq!(page[0].authorizer_appid, "wxmp1");
    assert_eq!(
        store
            .read(|tx| tx.set_holder("wxoa", 27, "other"))
            .await?
            .as_deref(),
        Some("wxc")
    );
    assert_eq!(
        store.read(|tx| tx.set_holder("wxoa", 27, "wxc")).await?,
        None
    );

    // Tokens: supersession marks only the live ones of the same key.
    for (hash, authorizer) in [("h1", ""), ("h2", "wxoa")] {
        store
            .write(move |tx| {
                tx.insert_token(&TokenRecord {
                    hash: hash.into(),
                    kind: if authorizer.is_empty() {
                        TokenKind::Component
                    } else {
                        TokenKind::Authorizer(AuthorizerKind::OfficialAccount)
                    },
                    component_appid: "wxc".into(),
                    authorizer_appid: authorizer.into(),
                    issued_at: 1,
                    expires_at: 7201,
                    superseded_at: None,
                })
            })
            .await?;
    }
    store
        .write(|tx| tx.supersede_tokens(TokenKind::Component, "wxc", "", 50))
        .await?;
    assert_eq!(
        store
            .read(|tx| tx.token("h1"))
            .await?
            .unwrap()
            .superseded_at,
        Some(50)
    );
    assert_eq!(
        store
            .read(|tx| tx.token("h2"))
            .await?
            .unwrap()
            .superseded_at,
        None
    );
    assert_eq!(
        store
            .read(|tx| tx.count_tokens(TokenKind::Component, "wxc"))
            .await?,
        1
    );

    // Codes are spent once.
    store
        .write(|tx| {
            tx.insert_code(&CodeRecord {
                hash: "c1".into(),
                kind: CodeKind::Authorization,
                component_appid: "wxc".into(),
                authorizer_appid: "wxoa".into(),
                issued_at: 1,
                expires_at: 3601,
                used_at: None,
            })?;
            tx.spend_code("c1", 9)?;
            tx.spend_code("c1", 10)
        })
        .await?;
    assert_eq!(
        store.read(|tx| tx.code("c1")).await?.unwrap().used_at,
        Some(9)
    );

    // Registrations: the constraints hold under the rules, as a second line of defence.
    store
        .write(|tx| {
            for t in ["k1", "k2", "k3"] {
                tx.insert_fastregister_ticket(&FastRegisterTicket {
                    ticket: t.into(),
                    component_appid: "wxc".into(),
                    oa_appid: "wxoa".into(),
                    copy_wx_verify: true,
                    issued_at: 1,
                    expires_at: 1801,
                })?;
            }
            Ok(())
        })
        .await?;
    let id = store
        .write(|tx| {
            tx.insert_registration(&registration("k1", "wxoa", RegistrationStatus::InProgress))
        })
        .await?;
    let second_in_progress = store
        .write(|tx| {
            tx.insert_registration(&registration("k2", "wxoa", RegistrationStatus::InProgress))
        })
        .await;
    assert!(
        second_in_progress.is_err(),
        "one registration in progress per OA"
    );
    let same_ticket = store
        .write(|tx| {
            tx.insert_registration(&registration("k1", "wxoa", RegistrationStatus::Succeeded))
        })
        .await;
    assert!(same_ticket.is_err(), "one live registration per ticket");
    assert!(
        store
            .read(|tx| tx.oa_has_registration_in_progress("wxoa"))
            .await?
    );
    assert_eq!(
        store
            .read(|tx| tx.count_entity_registrations_in_progress(1))
            .await?,
        1
    );
    // A claim younger than the cutoff is left to the instance working on it.
    let an_hour_ago = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
        - 3_600_000;
    assert_eq!(
        store
            .write(move |tx| tx.abandon_registrations_in_progress(an_hour_ago))
            .await?,
        0
    );
    assert_eq!(
        store
            .write(|tx| tx.abandon_registrations_in_progress(i64::MAX))
            .await?,
        1
    );
    let r = store.read(move |tx| tx.registration(id)).await?.unwrap();
    assert_eq!(r.status, RegistrationStatus::Abandoned);
    assert_eq!(
        store
            .read(|tx| tx.live_registration_of_ticket("k1"))
            .await?,
        None
    );
    let mut done = registration("k1", "wxoa", RegistrationStatus::Succeeded);
    done.month = Some("2026-11".into());
    done.mp_appid = Some("wxmp1".into());
    store.write(move |tx| tx.insert_registration(&done)).await?;
    assert_eq!(
        store
            .read(|tx| tx.count_successes_in_month("wxoa", "2026-11"))
            .await?,
        1
    );
    assert_eq!(
        store
            .read(|tx| tx.count_successes_in_month("wxoa", "2026-12"))
            .await?,
        0
    );
    let listed = store.read(|tx| tx.registrations(Some("wxoa"), 10)).await?;
    assert_eq!(listed.len(), 2);
    assert_eq!(
        listed[0].status,
        RegistrationStatus::Succeeded,
        "newest first"
    );

    // Meta.
    store.write(|tx| tx.set_meta("k", "v1")).await?;
    store.write(|tx| tx.set_meta("k", "v2")).await?;
    assert_eq!(store.read(|tx| tx.meta("k")).await?.as_deref(), Some("v2"));
    Ok(())
}

/// Many concurrent write jobs of four kinds, in turn: one writes and succeeds, one writes and
/// then fails, one fails having written nothing, one succeeds having written nothing. The
/// failures roll back alone and the successes all commit, whatever batches the backend forms
/// (a PostgreSQL job that sends no statement makes no savepoint).
async fn group_commit_isolates_failing_jobs(store: &Store) {
    let jobs = (0..200).map(|i| {
        let store = store.clone();
        async move {
            store
                .write(move |tx| {
                    if i % 4 < 2 {
                        tx.set_meta(&format!("job{i}"), "written")?;
                    }
                    if i % 2 == 1 {
                        return Err(Error::wx(ErrCode::InvalidTicket));
                    }
                    Ok(i)
                })
                .await
        }
    });
    let results = join_all(jobs).await;
    for (i, r) in results.iter().enumerate() {
        match (i % 2, r) {
            (0, Ok(v)) => assert_eq!(*v, i),
            (1, Err(e)) => assert_eq!(e.code(), ErrCode::InvalidTicket),
            other => panic!("job {i}: {other:?}"),
        }
    }
    for i in 0..200 {
        let v = store
            .read(move |tx| tx.meta(&format!("job{i}")))
            .await
            .unwrap();
        assert_eq!(v.is_some(), i % 4 == 0, "job {i}");
    }
}

/// Jobs queued as failing only before their first write (`Store::write_after_checks`, which a
/// backend may run without a savepoint), in one batch: those that refuse before writing cost
/// the others nothing, and one that breaks its word (writes, then fails) has its write undone.
/// Every job answered with a success is written, every other one is not, and the jobs queued
/// after the one that broke its word are written whatever the backend did with the ones
/// before it (SQLite answers those that nothing of them was written).
async fn a_job_that_said_it_fails_only_before_writing_loses_nothing_when_it_fails_after(
    store: &Store,
) {
    const BROKEN: usize = 20;
    let refuses = |i: usize| i % 3 == 1;
    let slow = hold_the_writer(store).await;
    let jobs = (0..40).map(|i| {
        let store = store.clone();
        async move {
            store
                .write_after_checks(ReadAhead::default(), move |tx| {
                    if refuses(i) {
                        return Err(Error::wx(ErrCode::InvalidTicket));
                    }
                    tx.set_meta(&format!("checked{i}"), "written")?;
                    if i == BROKEN {
                        return Err(Error::wx(ErrCode::InvalidTicket));
                    }
                    Ok(i)
                })
                .await
        }
    });
    let results = join_all(jobs).await;
    slow.await.unwrap().unwrap();
    for (i, r) in results.iter().enumerate() {
        let written = store
            .read(move |tx| tx.meta(&format!("checked{i}")))
            .await
            .unwrap()
            .is_some();
        match r {
            Ok(v) => {
                assert_eq!(*v, i);
                assert!(written, "job {i} was answered a success but not written");
                assert!(!refuses(i) && i != BROKEN, "job {i}: {r:?}");
            }
            Err(e) if refuses(i) || i == BROKEN => {
                assert_eq!(e.code(), ErrCode::InvalidTicket, "job {i}");
                assert!(!written, "job {i} failed and was written");
            }
            Err(e) => {
                assert!(i < BROKEN, "job {i}, after the broken one: {e}");
                assert!(!written, "job {i} failed ({e}) and was written");
            }
        }
    }
}

/// A write job that holds the writer for 300 ms, started 50 ms ago: the jobs queued meanwhile
/// form one large batch after it.
async fn hold_the_writer(store: &Store) -> tokio::task::JoinHandle<Result<(), Error>> {
    let store = store.clone();
    let slow = tokio::spawn(async move {
        store
            .write(|_| {
                std::thread::sleep(std::time::Duration::from_millis(300));
                Ok(())
            })
            .await
    });
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    slow
}

/// Concurrent replacements of one key's token (the writer may put them off and write them
/// together, `postgres/deferred.rs`), some of which then fail and some of which read their own
/// token back in the same job: a failed job's token is not written and supersedes nothing,
/// a job reads the token it wrote, and the tokens written form one chain, each superseded by
/// the next one at that one's issue time, from the token stored before to one current token.
/// With `queued`, the jobs wait behind a slow job, so that they form one large batch, whose
/// ended jobs' tokens go out in parts while its later jobs run (`deferred::SEND_AT`).
async fn token_replacements_supersede_in_the_order_they_commit(
    store: &Store,
    name: &str,
    queued: bool,
) {
    let token = |hash: String, issued_at: i64| TokenRecord {
        hash,
        kind: TokenKind::Authorizer(AuthorizerKind::OfficialAccount),
        component_appid: format!("wx{name}"),
        authorizer_appid: format!("wx{name}oa"),
        issued_at,
        expires_at: issued_at + 7200,
        superseded_at: None,
    };
    let first = token(format!("{name}-first"), 50);
    store
        .write(move |tx| tx.replace_token(&first))
        .await
        .unwrap();
    let slow = if queued {
        Some(hold_the_writer(store).await)
    } else {
        None
    };
    let jobs = (0..60i64).map(|i| {
        let store = store.clone();
        let t = token(format!("{name}{i}"), 100 + i);
        async move {
            store
                .write(move |tx| {
                    tx.replace_token(&t)?;
                    // Reading sends the tokens put off (`PgTx::before_statement`): queued, the
                    // jobs read rarely, so that more than `SEND_AT` gather before one does.
                    let reads_back = if queued { i == 45 } else { i % 7 == 3 };
                    if reads_back {
                        let own = tx.token(&t.hash)?;
                        if own.as_ref().is_none_or(|o| o.superseded_at.is_some()) {
                            return Err(Error::Internal(anyhow::anyhow!("read back {own:?}")));
                        }
                    }
                    if i % 5 == 4 {
                        return Err(Error::wx(ErrCode::InvalidTicket));
                    }
                    Ok(())
                })
                .await
        }
    });
    let results = join_all(jobs).await;
    if let Some(slow) = slow {
        slow.await.unwrap().unwrap();
    }
    let mut issued = std::collections::BTreeSet::new();
    let mut superseded = std::collections::BTreeSet::new();
    let mut current = Vec::new();
    for (i, r) in results.iter().enumerate() {
        let stored = store
            .read({
                let hash = format!("{name}{i}");
                move |tx| tx.token(&hash)
            })
            .await
            .unwrap();
        match (i % 5, r) {
            (4, Err(e)) => {
                assert_eq!(e.code(), ErrCode::InvalidTicket, "job {i}");
                assert_eq!(stored, None, "job {i} failed, yet its token was written");
            }
            (_, Ok(())) => {
                let t = stored.unwrap_or_else(|| panic!("job {i}'s token was not written"));
                issued.insert(t.issued_at);
                match t.superseded_at {
                    Some(at) => assert!(superseded.insert(at), "superseded twice at {at}"),
                    None => current.push(i),
                }
            }
            other => panic!("job {i}: {other:?}"),
        }
    }
    let first_hash = format!("{name}-first");
    let first = store.read(move |tx| tx.token(&first_hash)).await.unwrap();
    let first_superseded = first.and_then(|t| t.superseded_at);
    assert!(superseded.insert(first_superseded.expect("the first token was not superseded")));
    assert_eq!(current.len(), 1, "current tokens: {current:?}");
    assert_eq!(
        superseded, issued,
        "each token written supersedes exactly one"
    );
}

/// Replacements of a key's token issued in the same second, after the key was revoked with a
/// history of tokens behind it, one by one and then several in one batch: each supersedes the
/// one current token before it (PostgreSQL finds it as the key's newest row not superseded,
/// `postgres/tokens.rs`), the revoked ones stay revoked, and exactly one stays current.
async fn a_key_replaced_within_one_second_after_a_revocation_keeps_one_current_token(
    store: &Store,
) {
    let token = |hash: &str, issued_at: i64| TokenRecord {
        hash: hash.into(),
        kind: TokenKind::Component,
        component_appid: "wxsecond".into(),
        authorizer_appid: String::new(),
        issued_at,
        expires_at: issued_at + 7200,
        superseded_at: None,
    };
    for (i, at) in [10, 20, 20, 30].into_iter().enumerate() {
        let t = token(&format!("old{i}"), at);
        store.write(move |tx| tx.replace_token(&t)).await.unwrap();
    }
    store
        .write(|tx| tx.invalidate_tokens(TokenKind::Component, "wxsecond", ""))
        .await
        .unwrap();
    for hash in ["same0", "same1", "same2"] {
        let t = token(hash, 40);
        store.write(move |tx| tx.replace_token(&t)).await.unwrap();
    }
    let batch = (3..9).map(|i| {
        let store = store.clone();
        let t = token(&format!("same{i}"), 40);
        async move { store.write(move |tx| tx.replace_token(&t)).await }
    });
    for r in join_all(batch).await {
        r.unwrap();
    }
    let superseded_at = |hash: String| {
        let store = store.clone();
        async move {
            let t = store.read(move |tx| tx.token(&hash)).await.unwrap();
            t.expect("every token was written").superseded_at
        }
    };
    for i in 0..4 {
        let at = superseded_at(format!("old{i}")).await;
        assert_eq!(at, Some(0), "old{i} is no longer revoked");
    }
    let mut current = Vec::new();
    for i in 0..9 {
        match superseded_at(format!("same{i}")).await {
            None => current.push(i),
            Some(at) => assert_eq!(at, 40, "same{i}"),
        }
    }
    assert_eq!(current.len(), 1, "current tokens: {current:?}");
    let count = store
        .read(|tx| tx.count_tokens(TokenKind::Component, "wxsecond"))
        .await
        .unwrap();
    assert_eq!(count, 13);
}

/// A write the database refuses only when its batch is settled (PostgreSQL sends a drawn
/// appid's reservation without waiting): concurrent jobs, some of which reserve an appid that
/// is taken. Whatever batches form, each of those fails, every job answered with a success is
/// written, and every job answered with an error wrote nothing.
async fn a_write_refused_at_the_commit_fails_its_job_and_nothing_answered_is_lost(store: &Store) {
    store
        .write(|tx| tx.reserve_appid("wxtakenappid00001", "mp"))
        .await
        .unwrap();
    let jobs = (0..120).map(|i| {
        let store = store.clone();
        async move {
            store
                .write(move |tx| {
                    tx.set_meta(&format!("settled{i}"), "written")?;
                    if i % 10 == 3 && !tx.reserve_drawn_appid("wxtakenappid00001", "mp")? {
                        return Err(Error::wx(ErrCode::InvalidTicket));
                    }
                    Ok(i)
                })
                .await
        }
    });
    let results = join_all(jobs).await;
    for (i, r) in results.iter().enumerate() {
        if i % 10 == 3 {
            assert!(r.is_err(), "job {i} reserved a taken appid: {r:?}");
        }
        let written = store
            .read(move |tx| tx.meta(&format!("settled{i}")))
            .await
            .unwrap();
        assert_eq!(written.is_some(), r.is_ok(), "job {i}: {r:?}");
    }
    let ok = results.iter().filter(|r| r.is_ok()).count();
    assert!(ok >= 1, "every job failed");
}

/// What a fastregister success writes (`Tx::insert_success`) for `n` on `ticket`: the Mini
/// Program `appid` of `entity_id` and the OA `wxsucc_oa`, its authorisation, its code and the
/// succeeded registration.
fn success_writes(n: usize, appid: &str, entity_id: i64) -> SuccessWrites {
    SuccessWrites {
        mini_program: MiniProgram {
            appid: appid.into(),
            user_name: format!("gh_succ{n}"),
            nickname: format!("MP {n}"),
            entity_id,
            registered_by_oa: "wxsucc_oa".into(),
            linked_oa: n.is_multiple_of(2).then(|| "wxsucc_oa".into()),
            verified: n.is_multiple_of(3),
            created_at: 100 + n as i64,
        },
        authorization: Authorization {
            component_appid: "wxsucc".into(),
            authorizer_appid: appid.into(),
            authorizer_kind: AuthorizerKind::MiniProgram,
            permission_sets: vec![17, 18, n as i64],
            refresh_token: format!("refreshtoken@@@succ{n}"),
            auth_time: 100 + n as i64,
            revoked: false,
        },
        code: CodeRecord {
            hash: format!("succ-code-{n}"),
            kind: CodeKind::Authorization,
            component_appid: "wxsucc".into(),
            authorizer_appid: appid.into(),
            issued_at: 100 + n as i64,
            expires_at: 3700 + n as i64,
            used_at: None,
        },
        registration: Registration {
            id: 0,
            ticket: format!("succ-ticket-{n}"),
            oa_appid: "wxsucc_oa".into(),
            entity_id,
            component_appid: "wxsucc".into(),
            status: RegistrationStatus::Succeeded,
            mp_appid: Some(appid.into()),
            authorization_code: Some(format!("queryauthcode@@@succ{n}")),
            is_wx_verify_succ: n.is_multiple_of(3),
            is_link_succ: n.is_multiple_of(2),
            created_at: 100 + n as i64,
            completed_at: Some(100 + n as i64),
            month: Some("2026-12".into()),
        },
    }
}

/// Concurrent fastregister successes (`Tx::insert_success`; the PostgreSQL writer puts them off
/// and writes those of a row of jobs in one statement, `postgres/success.rs`), queued behind a
/// slow job so that they form one large batch: some then fail, and some read their registration
/// and their entity's count back in the same job. Every job answered with a success wrote all
/// five parts, every job answered with an error wrote none, and the entities count exactly the
/// Mini Programs written. Then a second round in which one job draws an appid that is taken:
/// that job is not answered with a success (the PostgreSQL writer learns it at the commit, and
/// its whole batch fails), and again nothing answered is lost.
async fn successes_are_written_whole_or_not_at_all(store: &Store) {
    let entities = store
        .write(|tx| {
            tx.reserve_appid("wxsucc", "component")?;
            tx.insert_component(&component("wxsucc"))?;
            let mut ids = Vec::new();
            for name in ["succ A", "succ B"] {
                ids.push(tx.insert_entity(&Entity {
                    id: 0,
                    name: name.into(),
                    entity_type: EntityType::Enterprise,
                    overseas: false,
                    blacklisted: false,
                    mini_program_cap: None,
                })?);
            }
            tx.reserve_appid("wxsucc_oa", "oa")?;
            tx.insert_official_account(&OfficialAccount {
                appid: "wxsucc_oa".into(),
                user_name: "gh_succoa".into(),
                nickname: "OA".into(),
                entity_id: ids[0],
                verified: true,
                pending_registration: false,
                link_cap: None,
                created_at: 5,
            })?;
            for n in 0..80 {
                tx.insert_fastregister_ticket(&FastRegisterTicket {
                    ticket: format!("succ-ticket-{n}"),
                    component_appid: "wxsucc".into(),
                    oa_appid: "wxsucc_oa".into(),
                    copy_wx_verify: true,
                    issued_at: 1,
                    expires_at: 1801,
                })?;
            }
            tx.reserve_appid("wxsucctaken00001", "mp")?;
            Ok(ids)
        })
        .await
        .unwrap();
    const TAKEN: usize = 67;
    let appid = |n: usize| match n {
        TAKEN => "wxsucctaken00001".to_string(),
        _ => format!("wxsucc{n:010}"),
    };
    let mut written = [0u32; 2];
    for round in [0..60, 60..80] {
        let slow = hold_the_writer(store).await;
        let jobs = round.clone().map(|n| {
            let store = store.clone();
            let s = success_writes(n, &appid(n), entities[n % 2]);
            // As fastregister says: the writer may draw the registration's id for its batch.
            let ahead = ReadAhead {
                registrations: 1,
                ..ReadAhead::default()
            };
            async move {
                store
                    .write_reading(ahead, move |tx| {
                        let Some(id) = tx.insert_success(&s)? else {
                            return Err(Error::wx(ErrCode::InvalidTicket));
                        };
                        // Reading sends what was put off (`PgTx::before_statement`).
                        if n % 7 == 3 {
                            let own = tx.registration(id)?;
                            if own.as_ref().and_then(|r| r.mp_appid.as_deref())
                                != s.registration.mp_appid.as_deref()
                            {
                                let e = anyhow::anyhow!("read back {own:?}");
                                return Err(Error::Internal(e));
                            }
                            tx.count_entity_mini_programs(s.mini_program.entity_id)?;
                        }
                        if n % 5 == 4 {
                            return Err(Error::wx(ErrCode::InvalidTicket));
                        }
                        Ok(id)
                    })
                    .await
            }
        });
        let results = join_all(jobs).await;
        slow.await.unwrap().unwrap();
        for (n, r) in round.zip(results) {
            if n == TAKEN {
                assert!(r.is_err(), "{n} drew a taken appid: {r:?}");
            } else if n < 60 {
                // No write is refused in the first round: each job ends as it said.
                match &r {
                    Err(e) if n % 5 == 4 => assert_eq!(e.code(), ErrCode::InvalidTicket),
                    Ok(_) if n % 5 != 4 => {}
                    other => panic!("{n}: {other:?}"),
                }
            }
            let (a, ticket, hash) = (
                appid(n),
                format!("succ-ticket-{n}"),
                format!("succ-code-{n}"),
            );
            let (mp, auth, code, reg) = store
                .read(move |tx| {
                    Ok((
                        tx.mini_program(&a)?,
                        tx.authorization("wxsucc", &a)?,
                        tx.code(&hash)?,
                        tx.live_registration_of_ticket(&ticket)?,
                    ))
                })
                .await
                .unwrap();
            let s = success_writes(n, &appid(n), entities[n % 2]);
            match r {
                Ok(id) => {
                    assert_eq!(mp, Some(s.mini_program), "{n}");
                    assert_eq!(auth, Some(s.authorization), "{n}");
                    assert_eq!(code, Some(s.code), "{n}");
                    let expected = Registration {
                        id,
                        ..s.registration
                    };
                    assert_eq!(reg, Some(expected), "{n}");
                    written[n % 2] += 1;
                }
                Err(e) => {
                    // The taken appid's Mini Program is not one: only its appid was reserved.
                    let none = (mp.is_none(), auth.is_none(), code.is_none(), reg.is_none());
                    assert_eq!(none, (true, true, true, true), "{n}: {e}");
                }
            }
        }
    }
    for (i, id) in entities.into_iter().enumerate() {
        let count = store
            .read(move |tx| tx.count_entity_mini_programs(id))
            .await
            .unwrap();
        assert_eq!(count, written[i], "entity {id}");
    }
}

#[tokio::test]
async fn a_database_from_a_newer_fastreg_is_refused_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("future.db");
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch("PRAGMA user_version = 999;").unwrap();
    }
    let err = Store::open(&format!("sqlite://{}", path.display()), Durability::Process)
        .await
        .unwrap_err();
    assert!(
        format!("{err:#}").contains("newer than this fastreg"),
        "{err:#}"
    );
}

#[tokio::test]
async fn an_unsupported_database_url_is_refused_with_a_clear_error() {
    let err = Store::open("mysql://localhost/x", Durability::Process)
        .await
        .unwrap_err();
    assert!(
        format!("{err:#}").contains("unsupported database URL"),
        "{err:#}"
    );
}

#[tokio::test]
async fn an_older_database_is_migrated_with_its_entity_counts_filled_in() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.db");
    {
        // A database at schema 2 (before the entity counter) with one Mini Program.
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(include_str!("../migrations/sqlite/0001_init.sql"))
            .unwrap();
        conn.execute_batch(include_str!("../migrations/sqlite/0002_pushes.sql"))
            .unwrap();
        conn.execute_batch(
            "PRAGMA user_version = 2;
             INSERT INTO appids VALUES ('wxoa', 'oa'), ('wxmp', 'mp');
             INSERT INTO entities (id, name, type, overseas, blacklisted) VALUES (1, 'E', 'enterprise', 0, 0);
             INSERT INTO official_accounts VALUES ('wxoa', 'gh_1', 'OA', 1, 1, 0, NULL, 0);
             INSERT INTO mini_programs VALUES ('wxmp', 'gh_2', 'MP', 1, 'wxoa', 'wxoa', 0, 0);",
        )
        .unwrap();
    }

    let store = Store::open(&format!("sqlite://{}", path.display()), Durability::Process)
        .await
        .unwrap();

    assert_eq!(
        store
            .read(|tx| tx.count_entity_mini_programs(1))
            .await
            .unwrap(),
        1
    );
}

#[tokio::test]
async fn a_postgres_database_from_a_newer_fastreg_is_refused_with_a_clear_error() {
    let Some(mut scratch) = Scratch::new() else {
        return;
    };
    let url = scratch.database();
    let setup = url.clone();
    tokio::task::spawn_blocking(move || {
        // The client runs its own runtime: off tokio's threads, on a plain one.
        std::thread::spawn(move || {
            let mut c = postgres::Client::connect(&setup, postgres::NoTls).unwrap();
            c.batch_execute(
                "CREATE TABLE fastreg_schema (version BIGINT NOT NULL);
                 INSERT INTO fastreg_schema VALUES (999);",
            )
            .unwrap();
        })
        .join()
        .unwrap();
    })
    .await
    .unwrap();
    let err = Store::open(&url, Durability::Process).await.unwrap_err();
    assert!(
        format!("{err:#}").contains("newer than this fastreg"),
        "{err:#}"
    );
}

#[tokio::test]
async fn an_unreachable_postgres_server_is_refused_with_its_cause() {
    // Port 1 on loopback: nothing listens there.
    let err = Store::open(
        "postgres://fastreg:hunter2@127.0.0.1:1/none",
        Durability::Process,
    )
    .await
    .unwrap_err();
    let text = format!("{err:#}");
    assert!(text.contains("connecting to PostgreSQL"), "{text}");
    assert!(!text.contains("hunter2"), "the password leaked: {text}");
}

#[tokio::test]
async fn a_postgres_store_answers_every_job_after_its_connections_were_dropped() {
    let Some(mut scratch) = Scratch::new() else {
        return;
    };
    let url = scratch.database();
    let store = Store::open(&url, Durability::Process).await.unwrap();
    // Open the writer's connection and every reader's.
    store.write(|tx| tx.set_meta("k", "0")).await.unwrap();
    for r in join_all((0..16).map(|_| store.read(|tx| tx.meta("k")))).await {
        r.unwrap();
    }

    // What a PostgreSQL restart or an idle timeout does to them.
    let (base, name) = (
        scratch.base.clone(),
        url.rsplit('/').next().unwrap().to_string(),
    );
    let terminated = tokio::task::spawn_blocking(move || {
        std::thread::spawn(move || {
            let mut c = postgres::Client::connect(&base, postgres::NoTls).unwrap();
            c.query(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
                 WHERE datname = $1 AND pid <> pg_backend_pid()",
                &[&name],
            )
            .unwrap()
            .len()
        })
        .join()
        .unwrap()
    })
    .await
    .unwrap();
    assert!(terminated >= 2, "terminated {terminated} connections");

    // No job fails: each thread notices at its next BEGIN and reconnects first.
    for i in 1..=3 {
        store
            .write(move |tx| tx.set_meta("k", &i.to_string()))
            .await
            .unwrap();
    }
    for r in join_all((0..16).map(|_| store.read(|tx| tx.meta("k")))).await {
        assert_eq!(r.unwrap().as_deref(), Some("3"));
    }
}

#[tokio::test]
async fn a_sqlite_database_serves_one_store_at_a_time_and_names_the_lock_when_taken() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("one.db").display());
    let first = Store::open(&url, Durability::Process).await.unwrap();
    first.write(|tx| tx.set_meta("k", "v")).await.unwrap();

    // Taken: a second store waits a moment, then fails naming the lock and the way out.
    let started = std::time::Instant::now();
    let err = Store::open(&url, Durability::Process).await.unwrap_err();
    let msg = format!("{err:#}");
    assert!(msg.contains("in use by another fastreg process"), "{msg}");
    assert!(msg.contains("one.db.lock"), "{msg}");
    assert!(msg.contains("PostgreSQL"), "{msg}");
    assert!(started.elapsed() >= std::time::Duration::from_secs(1));

    // Released with the store (once its writer has finished): the next one opens, and sees
    // what the first committed.
    drop(first);
    let second = Store::open(&url, Durability::Process).await.unwrap();
    let v = second.read(|tx| tx.meta("k")).await.unwrap();
    assert_eq!(v.as_deref(), Some("v"));
}
