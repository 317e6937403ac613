//! Tokens refresh once, however many callers and instances ask; a rejected token is replaced
//! and the call repeated once.

use std::sync::Arc;

use fastreg_client::store::{MemoryStore, TokenStore};
use futures_util::future::join_all;

use crate::helpers::*;

#[tokio::test]
async fn a_hundred_concurrent_calls_on_a_cold_cache_cause_exactly_one_component_token_request() {
    let p = platform().await;
    let client = p.client().await;
    let before = p.token_counts().await.0;

    let answers = join_all((0..100).map(|_| client.authorizer_list(0, 10))).await;

    assert!(answers.iter().all(Result::is_ok), "{answers:?}");
    assert_eq!(p.token_counts().await.0 - before, 1);
}

#[tokio::test]
async fn a_hundred_concurrent_callers_of_one_authorizer_cause_one_refresh() {
    let p = platform().await;
    let client = p.client().await;
    client.recover_refresh_token(OA).await.unwrap();
    let before = p.token_counts().await.1;

    let tokens = join_all((0..100).map(|_| client.authorizer_token(OA))).await;

    let first = tokens[0].as_ref().unwrap();
    assert!(tokens.iter().all(|t| t.as_ref().ok() == Some(first)));
    assert_eq!(p.token_counts().await.1 - before, 1);
}

#[cfg(any(feature = "redis", feature = "sqlite"))]
async fn two_instances_refresh_once(p: &Platform, a: Arc<dyn TokenStore>, b: Arc<dyn TokenStore>) {
    let (ca, cb) = (p.client_on(a).await, p.client_on(b).await);
    let before = p.token_counts().await.0;

    let calls = (0..50).flat_map(|_| [ca.component_token(), cb.component_token()]);
    let tokens = join_all(calls).await;

    let first = tokens[0].as_ref().unwrap();
    assert!(
        tokens.iter().all(|t| t.as_ref().ok() == Some(first)),
        "one token for all"
    );
    assert_eq!(p.token_counts().await.0 - before, 1);
}

#[cfg(feature = "redis")]
#[tokio::test]
async fn two_sdk_instances_sharing_redis_request_one_component_token() {
    let Ok(url) = std::env::var("FASTREG_TEST_REDIS") else {
        eprintln!("SKIPPED: FASTREG_TEST_REDIS is not set");
        return;
    };
    let p = platform().await;
    let prefix = format!("sdk-test-{:x}", rand_u64());
    // Two connections, as two processes would have.
    let a = fastreg_client::store::RedisStore::connect(&url)
        .await
        .unwrap()
        .with_prefix(&prefix);
    let b = fastreg_client::store::RedisStore::connect(&url)
        .await
        .unwrap()
        .with_prefix(&prefix);

    two_instances_refresh_once(&p, Arc::new(a), Arc::new(b)).await;
}

#[cfg(feature = "sqlite")]
#[tokio::test]
async fn two_sdk_instances_sharing_a_sqlite_file_request_one_component_token() {
    use fastreg_client::store::SqliteStore;
    let p = platform().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tokens.db");
    let a = SqliteStore::open(&path).unwrap();
    let b = SqliteStore::open(&path).unwrap();

    two_instances_refresh_once(&p, Arc::new(a), Arc::new(b)).await;
}

#[tokio::test]
async fn a_token_rejected_with_40001_is_replaced_and_the_call_repeated_once() {
    let p = platform().await;
    let client = p.client().await;
    client.component_token().await.unwrap();
    let before = p.token_counts().await.0;
    p.fault(
        "/cgi-bin/component/api_get_authorizer_list",
        40001,
        1,
        "before",
    )
    .await;

    let page = client.authorizer_list(0, 10).await.unwrap();

    assert!(page.total_count > 0);
    assert_eq!(
        p.token_counts().await.0 - before,
        1,
        "one refresh for the rejected token"
    );
}

#[tokio::test]
async fn a_second_rejection_is_returned_not_retried_forever() {
    let p = platform().await;
    let client = p.client().await;
    p.fault(
        "/cgi-bin/component/api_get_authorizer_list",
        40001,
        2,
        "before",
    )
    .await;

    let err = client.authorizer_list(0, 10).await.unwrap_err();

    assert_eq!(err.code(), Some(fastreg_client::ErrCode::InvalidCredential));
}

#[tokio::test]
async fn a_token_the_platform_expired_is_refreshed_when_it_answers_42001() {
    let p = platform().await;
    let client = p.client().await;
    client.component_token().await.unwrap();
    // The platform's clock passes the token's lifetime; the client's cache does not know.
    p.advance(7200).await;
    // The verify ticket is still valid (12 h), so the refresh works.

    let page = client.authorizer_list(0, 10).await;

    assert!(page.is_ok(), "{page:?}");
}

#[tokio::test]
async fn a_stale_instance_does_not_evict_the_token_another_instance_just_stored() {
    let store: Arc<dyn TokenStore> = Arc::new(MemoryStore::new());
    let p = platform().await;
    let a = p.client_on(store.clone()).await;
    let b = p.client_on(store.clone()).await;
    let t1 = a.component_token().await.unwrap();
    // b refreshes (as after its own 40001), storing t2.
    store
        .delete_if(&format!("fastreg:{C}:component_token"), &t1)
        .await
        .unwrap();
    let t2 = b.component_token().await.unwrap();
    assert_ne!(t1, t2);
    // a now fails with t1 (say, 40001) and drops it: t2 must survive.
    let dropped = store
        .delete_if(&format!("fastreg:{C}:component_token"), &t1)
        .await
        .unwrap();

    assert!(!dropped);
    assert_eq!(a.component_token().await.unwrap(), t2);
}

#[cfg(feature = "redis")]
fn rand_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos(),
    );
    h.finish()
}
