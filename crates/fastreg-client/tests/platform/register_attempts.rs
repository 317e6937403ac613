//! fastregister's attempt memory and what its errors say: attempts are remembered in the token
//! store, so a second client on the same SQLite file waits the retry interval and reads a 61058
//! after an unknown outcome as "ask again with the same ticket"; a 61058 with no such history
//! says "get a new ticket"; an errcode is matched by number or by variant and its text carries
//! the remedy.

use std::sync::Arc;
use std::time::{Duration, Instant};

use fastreg_client::store::SqliteStore;
use fastreg_client::{Client, ErrCode, Error, FastRegisterOutcome};

use crate::helpers::*;

/// A client of the demo component on the SQLite file `path` (one per "process").
async fn client_on_file(p: &Platform, path: &std::path::Path, interval: Duration) -> Client {
    Client::builder(C, p.secret().await)
        .base_url(&p.base)
        .auth_domain("localhost")
        .store(Arc::new(SqliteStore::open(path).unwrap()))
        .fast_register_timeout(Duration::from_millis(300))
        .fast_register_retry_interval(interval)
        .build()
        .unwrap()
}

#[tokio::test]
async fn a_second_client_on_the_same_sqlite_file_waits_the_interval_and_reads_61058_as_unknown() {
    let p = platform_with(|s| s.processing_delay_ms = 4000).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("tokens.db");
    let interval = Duration::from_millis(2000);
    let first = client_on_file(&p, &file, interval).await;
    let second = client_on_file(&p, &file, interval).await;
    first
        .set_verify_ticket(&p.verify_ticket().await)
        .await
        .unwrap();
    p.authorize(&first, OA).await;
    let ticket = p.confirm(OA).await;

    let timed_out = first.fast_register(OA, &ticket).await;
    assert!(
        matches!(timed_out, FastRegisterOutcome::Unknown(Error::Timeout(_))),
        "{timed_out:?}"
    );

    // The other "process" asks at once: it waits for the interval, then hears 61058 while the
    // first attempt still runs, and knows that this is no reason for a new ticket.
    let started = Instant::now();
    let repeated = second.fast_register(OA, &ticket).await;
    assert!(
        started.elapsed() >= Duration::from_millis(1500),
        "waited only {:?}",
        started.elapsed()
    );
    let FastRegisterOutcome::Unknown(e) = &repeated else {
        panic!("{repeated:?}")
    };
    assert!(matches!(e, Error::EarlierAttemptUnsettled { .. }), "{e:?}");
    assert_eq!(e.code(), Some(ErrCode::InvalidTicket));
    assert_eq!(e.errcode(), Some(61058));
    assert!(e.is_transient(), "asking again can help");
    assert!(e.remedy().unwrap().contains("same ticket"), "{e}");
    assert!(
        e.to_string().contains("do not get a new ticket"),
        "the text agrees with the outcome: {e}"
    );

    // Asking again with the same ticket ends in the one registration.
    let mut outcome = repeated;
    for _ in 0..6 {
        if outcome.registered().is_some() {
            break;
        }
        assert!(
            matches!(outcome, FastRegisterOutcome::Unknown(_)),
            "{outcome:?}"
        );
        outcome = second.fast_register(OA, &ticket).await;
    }
    let mp = outcome.registered().expect("registered in the end").clone();
    let regs = p.registrations(OA).await;
    assert_eq!(regs.len(), 1, "one registration however often it was asked");
    assert_eq!(regs[0]["mp_appid"], mp.appid.as_str());
}

#[tokio::test]
async fn a_61058_with_no_unknown_attempt_before_it_is_not_registered_and_says_get_a_new_ticket() {
    let p = platform().await;
    let client = p.client().await;
    p.authorize(&client, OA).await;

    let outcome = client
        .fast_register(OA, "0123456789abcdef0123456789abcdef")
        .await;

    let FastRegisterOutcome::NotRegistered(e) = outcome else {
        panic!("{outcome:?}")
    };
    assert!(
        matches!(
            e,
            Error::Api {
                code: ErrCode::InvalidTicket,
                ..
            }
        ),
        "{e:?}"
    );
    assert!(!e.is_transient());
    assert!(e.remedy().unwrap().contains("new ticket"), "{e}");
}

#[tokio::test]
async fn an_api_error_is_matched_by_number_or_variant_and_its_text_gives_code_errmsg_and_remedy() {
    let p = platform().await;
    let client = p.client().await;
    let oa = "wx0a00000000000003"; // personal entity
    p.authorize(&client, oa).await;
    let ticket = p.confirm(oa).await;

    let FastRegisterOutcome::NotRegistered(e) = client.fast_register(oa, &ticket).await else {
        panic!("a personal entity cannot register")
    };

    assert_eq!(e.errcode(), Some(61051));
    assert!(matches!(e.code(), Some(ErrCode::InvalidRealnameType)));
    let info = ErrCode::InvalidRealnameType.info().unwrap();
    let text = e.to_string();
    assert!(text.contains("61051"), "{text}");
    assert!(text.contains(info.errmsg), "{text}");
    assert!(text.contains(info.remedy), "{text}");
    assert_eq!(e.remedy(), Some(info.remedy));
}
