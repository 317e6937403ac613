//! An instance alone on a PostgreSQL database answers fastregister from memory, without the
//! change feed's fence; a second instance's very first writes are still seen by it at once.

use std::time::Duration;

use crate::helpers::*;

/// Waits up to 5 s for `app`'s store to say whether it is alone; whether it said `want`.
async fn becomes_alone(app: &TestApp, want: bool) -> bool {
    for _ in 0..100 {
        if app.state.store.alone() == Some(want) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

#[tokio::test]
async fn a_newcomers_first_writes_are_seen_at_once_by_an_instance_that_was_alone() {
    let Some(a) = spawn_app_on(Db::Postgres, |_| {}).await else {
        return;
    };
    assert!(becomes_alone(&a, true).await, "A, alone, says so");
    let oa_token = a.oa_token(OA).await;
    // A's view now answers for the OA from memory.
    for _ in 0..3 {
        let v = a
            .fastregister(&oa_token, "0000000000000000no-such-ticket")
            .await;
        assert_eq!(errcode(&v), 61058, "{v}");
    }

    // B writes a ticket as soon as it can; A, asked right after, knows it.
    let dir = std::sync::Arc::new(tempfile::tempdir().unwrap());
    let b = spawn_on_pg(dir, a.pg.clone().unwrap(), |_| {}).await;
    let ticket = b.confirm(C, OA, 1).await;
    let v = a.fastregister(&oa_token, &ticket).await;
    assert_eq!(errcode(&v), 0, "A registers the ticket B issued: {v}");
    assert!(becomes_alone(&a, false).await, "A knows B is there");
    assert_eq!(b.state.store.alone(), Some(false), "B knows A is there");

    // B gone, A is alone again.
    b.stop().await;
    assert!(becomes_alone(&a, true).await, "A, alone again, says so");
    let again = a.fastregister(&oa_token, &ticket).await;
    assert_eq!(again["appid"], v["appid"], "a replay: {again}");
}

#[tokio::test]
async fn a_sqlite_store_is_never_shared_and_says_nothing_of_being_alone() {
    let app = spawn_app().await;
    assert_eq!(app.state.store.alone(), None);
}
