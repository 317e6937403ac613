//! fastregister under faults: never a duplicate registration, and a correct verdict.

use std::time::Duration;

use fastreg_client::{Client, Error, Evidence, FastRegisterOutcome};

use crate::helpers::*;

const PATH: &str = "/cgi-bin/account/fastregister";

async fn ready(p: &Platform) -> (Client, String) {
    let client = p.client().await;
    p.authorize(&client, OA).await;
    let ticket = p.confirm(OA).await;
    (client, ticket)
}

#[tokio::test]
async fn minus_one_before_anything_happened_is_not_registered_and_the_ticket_still_works() {
    let p = platform().await;
    let (client, ticket) = ready(&p).await;
    p.fault(PATH, -1, 1, "before").await;

    let first = client.fast_register(OA, &ticket).await;

    let FastRegisterOutcome::NotRegistered(e) = first else {
        panic!("{first:?}")
    };
    assert_eq!(e.code(), Some(fastreg_client::ErrCode::SystemError));
    assert!(p.registrations(OA).await.is_empty());
    let again = client.fast_register(OA, &ticket).await;
    assert!(again.registered().is_some(), "{again:?}");
    assert_eq!(p.registrations(OA).await.len(), 1);
}

#[tokio::test]
async fn minus_one_after_the_mini_program_was_created_is_reconciled_as_registered() {
    let p = platform().await;
    let (client, ticket) = ready(&p).await;
    p.fault(PATH, -1, 1, "after").await;

    let outcome = client.fast_register(OA, &ticket).await;

    let FastRegisterOutcome::Registered(mp) = outcome else {
        panic!("{outcome:?}")
    };
    assert_eq!(mp.evidence, Evidence::Reconciled);
    assert!(mp.refresh_token_saved, "recovered from the authorizer list");
    assert!(client.refresh_token(&mp.appid).await.unwrap().is_some());
    let regs = p.registrations(OA).await;
    assert_eq!(regs.len(), 1, "no duplicate");
    assert_eq!(regs[0]["mp_appid"], mp.appid.as_str());
}

#[tokio::test]
async fn a_timeout_while_registering_is_unknown_and_a_later_retry_learns_the_single_registration() {
    let p = platform_with(|s| s.processing_delay_ms = 1500).await;
    let client = Client::builder(C, p.secret().await)
        .base_url(&p.base)
        .auth_domain("localhost")
        .fast_register_timeout(Duration::from_millis(300))
        .fast_register_retry_interval(Duration::from_millis(300))
        .build()
        .unwrap();
    client
        .set_verify_ticket(&p.verify_ticket().await)
        .await
        .unwrap();
    p.authorize(&client, OA).await;
    let ticket = p.confirm(OA).await;

    let first = client.fast_register(OA, &ticket).await;
    assert!(
        matches!(first, FastRegisterOutcome::Unknown(Error::Timeout(_))),
        "{first:?}"
    );

    // Retries while it runs stay unknown (61058 after a timeout); once done, the success.
    let mut outcome = client.fast_register(OA, &ticket).await;
    for _ in 0..10 {
        if outcome.registered().is_some() {
            break;
        }
        assert!(
            matches!(outcome, FastRegisterOutcome::Unknown(_)),
            "{outcome:?}"
        );
        outcome = client.fast_register(OA, &ticket).await;
    }
    let mp = outcome.registered().expect("registered in the end").clone();
    assert!(mp.refresh_token_saved);
    let regs = p.registrations(OA).await;
    assert_eq!(regs.len(), 1, "one registration however often it was asked");
    assert_eq!(regs[0]["mp_appid"], mp.appid.as_str());
}

#[tokio::test]
async fn a_caller_retry_waits_the_retry_interval_since_the_last_attempt() {
    let p = platform().await;
    let client = Client::builder(C, p.secret().await)
        .base_url(&p.base)
        .auth_domain("localhost")
        .fast_register_retry_interval(Duration::from_millis(800))
        .build()
        .unwrap();
    client
        .set_verify_ticket(&p.verify_ticket().await)
        .await
        .unwrap();
    p.authorize(&client, OA).await;
    let ticket = p.confirm(OA).await;
    p.fault(PATH, -1, 1, "before").await;
    let _ = client.fast_register(OA, &ticket).await;

    let started = std::time::Instant::now();
    let again = client.fast_register(OA, &ticket).await;

    assert!(
        started.elapsed() >= Duration::from_millis(700),
        "{:?}",
        started.elapsed()
    );
    assert!(again.registered().is_some());
}

#[tokio::test]
async fn a_40001_on_fastregister_is_not_retried_and_nothing_is_registered() {
    let p = platform().await;
    let (client, ticket) = ready(&p).await;
    p.fault(PATH, 40001, 1, "before").await;

    let first = client.fast_register(OA, &ticket).await;

    assert!(
        matches!(first, FastRegisterOutcome::NotRegistered(ref e) if e.is_stale_token()),
        "{first:?}"
    );
    assert!(p.registrations(OA).await.is_empty());
    // The rejected token was dropped; the caller's retry uses a fresh one.
    let again = client.fast_register(OA, &ticket).await;
    assert!(again.registered().is_some(), "{again:?}");
}

#[tokio::test]
async fn an_unreachable_server_is_not_registered_because_nothing_was_sent() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = closed.local_addr().unwrap();
    drop(closed);
    let client = Client::builder(C, "secret")
        .base_url(format!("http://{addr}"))
        .build()
        .unwrap();
    client.set_verify_ticket("ticket@@@x").await.unwrap();
    client
        .set_refresh_token(OA, "refreshtoken@@@x")
        .await
        .unwrap();

    let outcome = client
        .fast_register(OA, "b25519093b1e97239eff9d2bfc07e08e")
        .await;

    assert!(
        matches!(
            outcome,
            FastRegisterOutcome::NotRegistered(Error::Transport {
                maybe_sent: false,
                ..
            })
        ),
        "{outcome:?}"
    );
}
