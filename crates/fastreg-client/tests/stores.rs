//! One conformance suite for every [`TokenStore`]: the memory store, the SQLite store (a temp
//! file) and the Redis store.
//!
//! The Redis tests need a live Redis; they run only when `FASTREG_TEST_REDIS` names one:
//!
//! ```sh
//! FASTREG_TEST_REDIS=redis://127.0.0.1:6379 cargo test -p fastreg-client --test stores
//! ```
//!
//! Each Redis test writes under its own random prefix (`fastreg-test-<random>`) and deletes
//! its keys afterwards, so runs never collide and leave nothing behind.

use std::time::Duration;

use fastreg_client::store::{unix_now, MemoryStore, Stored, TokenStore};
use futures_util::future::join_all;

// ---------------------------------------------------------------------------------------------
// The suite
// ---------------------------------------------------------------------------------------------

/// Everything a [`TokenStore`] promises. `store` must be empty.
async fn conformance(store: &dyn TokenStore) {
    entries_round_trip_with_and_without_expiry(store).await;
    put_replaces_the_previous_entry(store).await;
    delete_if_deletes_only_the_expected_value(store).await;
    a_lock_is_exclusive_and_only_its_holder_can_release_it(store).await;
    an_expired_lease_can_be_taken_again_and_its_old_holder_cannot_release_it(store).await;
    fifty_concurrent_try_locks_on_one_key_give_exactly_one_lease(store).await;
    fifty_concurrent_delete_ifs_on_one_key_delete_exactly_once(store).await;
}

async fn entries_round_trip_with_and_without_expiry(store: &dyn TokenStore) {
    let b = store.backend();
    assert_eq!(
        store.get("rt:missing").await.unwrap(),
        None,
        "{b}: missing key"
    );

    let expiring = Stored {
        value: "access-token-1".into(),
        expires_at: Some(unix_now() + 7200),
    };
    store.put("rt:expiring", expiring.clone()).await.unwrap();
    assert_eq!(
        store.get("rt:expiring").await.unwrap(),
        Some(expiring),
        "{b}: entry with expiry"
    );

    let durable = Stored {
        value: "refresh-token-1".into(),
        expires_at: None,
    };
    store.put("rt:durable", durable.clone()).await.unwrap();
    assert_eq!(
        store.get("rt:durable").await.unwrap(),
        Some(durable),
        "{b}: entry without expiry"
    );

    // Values are opaque: quotes, backslashes, newlines, non-ASCII, JSON look-alikes.
    let odd = Stored {
        value: "tök\"en\\\n✓ {\"value\":\"x\"} ' -- ".into(),
        expires_at: Some(4_000_000_000),
    };
    store.put("rt:odd", odd.clone()).await.unwrap();
    assert_eq!(
        store.get("rt:odd").await.unwrap(),
        Some(odd),
        "{b}: value with special characters"
    );
}

async fn put_replaces_the_previous_entry(store: &dyn TokenStore) {
    let b = store.backend();
    store
        .put(
            "replace",
            Stored {
                value: "v1".into(),
                expires_at: Some(unix_now() + 60),
            },
        )
        .await
        .unwrap();
    let v2 = Stored {
        value: "v2".into(),
        expires_at: None,
    };
    store.put("replace", v2.clone()).await.unwrap();
    assert_eq!(
        store.get("replace").await.unwrap(),
        Some(v2),
        "{b}: put replaces value and expiry"
    );
    let v3 = Stored {
        value: "v3".into(),
        expires_at: Some(unix_now() + 3600),
    };
    store.put("replace", v3.clone()).await.unwrap();
    assert_eq!(
        store.get("replace").await.unwrap(),
        Some(v3),
        "{b}: put adds an expiry"
    );
}

async fn delete_if_deletes_only_the_expected_value(store: &dyn TokenStore) {
    let b = store.backend();
    assert!(
        !store.delete_if("cas", "anything").await.unwrap(),
        "{b}: delete_if on a missing key"
    );

    let fresh = Stored {
        value: "fresh \"token\" ✓".into(),
        expires_at: Some(unix_now() + 7200),
    };
    store.put("cas", fresh.clone()).await.unwrap();
    assert!(
        !store.delete_if("cas", "stale").await.unwrap(),
        "{b}: delete_if with another value must not delete"
    );
    assert!(
        !store.delete_if("cas", "fresh").await.unwrap(),
        "{b}: delete_if with a prefix of the value must not delete"
    );
    assert_eq!(
        store.get("cas").await.unwrap(),
        Some(fresh.clone()),
        "{b}: entry kept"
    );
    assert!(
        store.delete_if("cas", &fresh.value).await.unwrap(),
        "{b}: delete_if with the stored value deletes"
    );
    assert_eq!(store.get("cas").await.unwrap(), None, "{b}: entry gone");
    assert!(
        !store.delete_if("cas", &fresh.value).await.unwrap(),
        "{b}: a second delete_if finds nothing"
    );

    // Entries without expiry are compared the same way.
    store
        .put(
            "cas:durable",
            Stored {
                value: "r1".into(),
                expires_at: None,
            },
        )
        .await
        .unwrap();
    assert!(!store.delete_if("cas:durable", "r0").await.unwrap(), "{b}");
    assert!(store.delete_if("cas:durable", "r1").await.unwrap(), "{b}");
}

async fn a_lock_is_exclusive_and_only_its_holder_can_release_it(store: &dyn TokenStore) {
    let b = store.backend();
    let ttl = Duration::from_secs(30);
    let lease = store
        .try_lock("lock:a", ttl)
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("{b}: a free lock is taken"));
    assert!(!lease.is_empty(), "{b}: lease is not empty");
    assert_eq!(
        store.try_lock("lock:a", ttl).await.unwrap(),
        None,
        "{b}: a held lock is not taken again"
    );

    // Another key is another lock.
    let other = store.try_lock("lock:b", ttl).await.unwrap();
    assert!(other.is_some(), "{b}: locks are per key");

    store.unlock("lock:a", "not-the-lease").await.unwrap();
    assert_eq!(
        store.try_lock("lock:a", ttl).await.unwrap(),
        None,
        "{b}: another lease cannot unlock"
    );

    store.unlock("lock:a", &lease).await.unwrap();
    let again = store
        .try_lock("lock:a", ttl)
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("{b}: the holder's unlock frees the lock"));
    assert_ne!(again, lease, "{b}: every lease is new");

    store.unlock("lock:a", &again).await.unwrap();
    store.unlock("lock:b", &other.unwrap()).await.unwrap();
    store.unlock("lock:never-taken", "x").await.unwrap();
}

async fn an_expired_lease_can_be_taken_again_and_its_old_holder_cannot_release_it(
    store: &dyn TokenStore,
) {
    let b = store.backend();
    let first = store
        .try_lock("lock:short", Duration::from_millis(200))
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("{b}: a free lock is taken"));
    assert_eq!(
        store
            .try_lock("lock:short", Duration::from_secs(30))
            .await
            .unwrap(),
        None,
        "{b}: held before its lease runs out"
    );

    tokio::time::sleep(Duration::from_millis(300)).await;
    let second = store
        .try_lock("lock:short", Duration::from_secs(30))
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("{b}: an expired lease is taken again"));
    assert_ne!(first, second, "{b}");

    // The first holder wakes up late and unlocks: the new holder's lock must survive.
    store.unlock("lock:short", &first).await.unwrap();
    assert_eq!(
        store
            .try_lock("lock:short", Duration::from_secs(30))
            .await
            .unwrap(),
        None,
        "{b}: a stale lease does not release the new holder's lock"
    );
    store.unlock("lock:short", &second).await.unwrap();
}

async fn fifty_concurrent_try_locks_on_one_key_give_exactly_one_lease(store: &dyn TokenStore) {
    let b = store.backend();
    let results = join_all((0..50).map(|_| store.try_lock("lock:race", Duration::from_secs(30))))
        .await
        .into_iter()
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let leases: Vec<String> = results.into_iter().flatten().collect();
    assert_eq!(leases.len(), 1, "{b}: exactly one of 50 try_locks wins");
    store.unlock("lock:race", &leases[0]).await.unwrap();
}

async fn fifty_concurrent_delete_ifs_on_one_key_delete_exactly_once(store: &dyn TokenStore) {
    let b = store.backend();
    store
        .put(
            "race:token",
            Stored {
                value: "rejected".into(),
                expires_at: Some(unix_now() + 7200),
            },
        )
        .await
        .unwrap();
    let results = join_all((0..50).map(|_| store.delete_if("race:token", "rejected")))
        .await
        .into_iter()
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let deleted = results.iter().filter(|d| **d).count();
    assert_eq!(deleted, 1, "{b}: exactly one of 50 delete_ifs deletes");
    assert_eq!(store.get("race:token").await.unwrap(), None, "{b}");
}

// ---------------------------------------------------------------------------------------------
// Memory
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_memory_store_passes_the_conformance_suite() {
    let store = MemoryStore::new();
    assert_eq!(store.backend(), "memory");
    conformance(&store).await;
}

// ---------------------------------------------------------------------------------------------
// SQLite
// ---------------------------------------------------------------------------------------------

#[cfg(feature = "sqlite")]
mod sqlite {
    use super::*;
    use fastreg_client::store::SqliteStore;

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn the_sqlite_store_passes_the_conformance_suite() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path().join("tokens.db")).unwrap();
        assert_eq!(store.backend(), "sqlite");
        conformance(&store).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn two_sqlite_stores_on_one_file_see_each_others_writes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tokens.db");
        let a = SqliteStore::open(&path).unwrap();
        let b = SqliteStore::open(&path).unwrap();

        let token = Stored {
            value: "t1".into(),
            expires_at: Some(unix_now() + 7200),
        };
        a.put("k", token.clone()).await.unwrap();
        assert_eq!(b.get("k").await.unwrap(), Some(token));

        let replaced = Stored {
            value: "t2".into(),
            expires_at: None,
        };
        b.put("k", replaced.clone()).await.unwrap();
        assert_eq!(a.get("k").await.unwrap(), Some(replaced));

        // A stale "t1" seen by `a` cannot evict the "t2" written by `b`.
        assert!(!a.delete_if("k", "t1").await.unwrap());
        assert!(a.delete_if("k", "t2").await.unwrap());
        assert_eq!(b.get("k").await.unwrap(), None);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn two_sqlite_stores_on_one_file_exclude_each_other_on_try_lock() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tokens.db");
        let a = SqliteStore::open(&path).unwrap();
        let b = SqliteStore::open(&path).unwrap();
        let ttl = Duration::from_secs(30);

        let lease = a.try_lock("lock", ttl).await.unwrap().expect("a takes it");
        assert_eq!(b.try_lock("lock", ttl).await.unwrap(), None);
        b.unlock("lock", "not-the-lease").await.unwrap();
        assert_eq!(b.try_lock("lock", ttl).await.unwrap(), None);
        a.unlock("lock", &lease).await.unwrap();
        let lease = b.try_lock("lock", ttl).await.unwrap().expect("b takes it");
        assert_eq!(a.try_lock("lock", ttl).await.unwrap(), None);
        b.unlock("lock", &lease).await.unwrap();

        // 50 racing calls split across the two connections: one winner.
        let stores: [&dyn TokenStore; 2] = [&a, &b];
        let results = join_all((0..50).map(|i| stores[i % 2].try_lock("race", ttl)))
            .await
            .into_iter()
            .collect::<Result<Vec<_>, _>>()
            .unwrap();
        assert_eq!(results.iter().flatten().count(), 1);

        // And 50 racing delete_ifs across both: one deletes.
        a.put(
            "token",
            Stored {
                value: "rejected".into(),
                expires_at: None,
            },
        )
        .await
        .unwrap();
        let results = join_all((0..50).map(|i| stores[i % 2].delete_if("token", "rejected")))
            .await
            .into_iter()
            .collect::<Result<Vec<_>, _>>()
            .unwrap();
        assert_eq!(results.iter().filter(|d| **d).count(), 1);
    }

    #[tokio::test]
    async fn sqlite_entries_survive_closing_and_reopening_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tokens.db");
        let refresh = Stored {
            value: "refresh-token".into(),
            expires_at: None,
        };
        {
            let store = SqliteStore::open(&path).unwrap();
            store.put("refresh", refresh.clone()).await.unwrap();
        }
        let store = SqliteStore::open(&path).unwrap();
        assert_eq!(store.get("refresh").await.unwrap(), Some(refresh));
    }

    #[tokio::test]
    async fn sqlite_open_creates_missing_parent_directories() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a").join("b").join("tokens.db");
        let store = SqliteStore::open(&path).unwrap();
        assert_eq!(store.path(), path);
        assert!(path.is_file());
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn a_new_sqlite_file_is_readable_only_by_its_owner() {
        use std::os::unix::fs::PermissionsExt;

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tokens.db");
        let store = SqliteStore::open(&path).unwrap();
        store
            .put(
                "k",
                Stored {
                    value: "secret".into(),
                    expires_at: None,
                },
            )
            .await
            .unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "mode {mode:o}");
    }

    #[test]
    fn opening_something_that_is_not_a_database_fails_with_a_sqlite_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tokens.db");
        std::fs::write(&path, vec![b'x'; 4096]).unwrap();
        let err = SqliteStore::open(&path).unwrap_err();
        assert_eq!(err.backend, "sqlite");
    }
}

// ---------------------------------------------------------------------------------------------
// Redis
// ---------------------------------------------------------------------------------------------

#[cfg(feature = "redis")]
mod redis_backend {
    use std::future::Future;

    use super::*;
    use fastreg_client::store::{new_lease, RedisStore};

    /// Runs `test` with the Redis URL and a fresh random prefix, then deletes every key under
    /// that prefix (also when `test` panics). Skips when `FASTREG_TEST_REDIS` is not set.
    async fn with_redis<F, Fut>(test: F)
    where
        F: FnOnce(String, String) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let Ok(url) = std::env::var("FASTREG_TEST_REDIS") else {
            println!("SKIPPED: FASTREG_TEST_REDIS is not set");
            return;
        };
        let prefix = format!("fastreg-test-{}", new_lease());
        let outcome = tokio::spawn(test(url.clone(), prefix.clone())).await;
        delete_prefix(&url, &prefix).await;
        if let Err(e) = outcome {
            std::panic::resume_unwind(e.into_panic());
        }
    }

    async fn raw_connection(url: &str) -> redis::aio::MultiplexedConnection {
        redis::Client::open(url)
            .unwrap()
            .get_multiplexed_async_connection()
            .await
            .unwrap()
    }

    async fn delete_prefix(url: &str, prefix: &str) {
        let mut conn = raw_connection(url).await;
        let mut cursor: u64 = 0;
        loop {
            let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(format!("{prefix}:*"))
                .arg("COUNT")
                .arg(500)
                .query_async(&mut conn)
                .await
                .unwrap();
            if !keys.is_empty() {
                redis::cmd("DEL")
                    .arg(&keys)
                    .query_async::<()>(&mut conn)
                    .await
                    .unwrap();
            }
            if next == 0 {
                break;
            }
            cursor = next;
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn the_redis_store_passes_the_conformance_suite() {
        with_redis(|url, prefix| async move {
            let store = RedisStore::connect(&url).await.unwrap().with_prefix(prefix);
            assert_eq!(store.backend(), "redis");
            conformance(&store).await;
        })
        .await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn two_redis_stores_on_two_connections_exclude_each_other_on_try_lock() {
        with_redis(|url, prefix| async move {
            let a = RedisStore::connect(&url)
                .await
                .unwrap()
                .with_prefix(prefix.clone());
            let b = RedisStore::connect(&url).await.unwrap().with_prefix(prefix);
            let ttl = Duration::from_secs(30);

            let lease = a.try_lock("lock", ttl).await.unwrap().expect("a takes it");
            assert_eq!(b.try_lock("lock", ttl).await.unwrap(), None);
            b.unlock("lock", "not-the-lease").await.unwrap();
            assert_eq!(b.try_lock("lock", ttl).await.unwrap(), None);
            a.unlock("lock", &lease).await.unwrap();
            let lease = b.try_lock("lock", ttl).await.unwrap().expect("b takes it");
            assert_eq!(a.try_lock("lock", ttl).await.unwrap(), None);
            b.unlock("lock", &lease).await.unwrap();

            let stores: [&dyn TokenStore; 2] = [&a, &b];
            let results = join_all((0..50).map(|i| stores[i % 2].try_lock("race", ttl)))
                .await
                .into_iter()
                .collect::<Result<Vec<_>, _>>()
                .unwrap();
            assert_eq!(results.iter().flatten().count(), 1);

            // Writes through one connection are seen through the other.
            let token = Stored {
                value: "t1".into(),
                expires_at: Some(unix_now() + 7200),
            };
            a.put("token", token.clone()).await.unwrap();
            assert_eq!(b.get("token").await.unwrap(), Some(token));
        })
        .await;
    }

    #[tokio::test]
    async fn redis_keys_are_prefixed_and_expiring_entries_get_a_redis_ttl() {
        with_redis(|url, prefix| async move {
            let store = RedisStore::connect(&url)
                .await
                .unwrap()
                .with_prefix(prefix.clone());
            assert_eq!(store.prefix(), prefix);
            let mut raw = raw_connection(&url).await;
            let pttl = |key: String, mut raw: redis::aio::MultiplexedConnection| async move {
                redis::cmd("PTTL")
                    .arg(key)
                    .query_async::<i64>(&mut raw)
                    .await
                    .unwrap()
            };

            store
                .put(
                    "access",
                    Stored {
                        value: "a1".into(),
                        expires_at: Some(unix_now() + 100),
                    },
                )
                .await
                .unwrap();
            let ttl = pttl(format!("{prefix}:access"), raw.clone()).await;
            assert!((90_000..=101_000).contains(&ttl), "pttl {ttl}");

            // Replacing it with a durable entry removes the Redis TTL.
            store
                .put(
                    "access",
                    Stored {
                        value: "a2".into(),
                        expires_at: None,
                    },
                )
                .await
                .unwrap();
            assert_eq!(pttl(format!("{prefix}:access"), raw.clone()).await, -1);

            // Locks live under the prefix too, with the lease's TTL.
            let lease = store
                .try_lock("lock", Duration::from_secs(10))
                .await
                .unwrap()
                .unwrap();
            let held: Option<String> = redis::cmd("GET")
                .arg(format!("{prefix}:lock"))
                .query_async(&mut raw)
                .await
                .unwrap();
            assert_eq!(held, Some(lease));
            let ttl = pttl(format!("{prefix}:lock"), raw.clone()).await;
            assert!((1..=10_000).contains(&ttl), "pttl {ttl}");
        })
        .await;
    }

    #[tokio::test]
    async fn redis_stores_with_different_prefixes_do_not_share_entries_or_locks() {
        with_redis(|url, prefix| async move {
            let prod = RedisStore::connect(&url)
                .await
                .unwrap()
                .with_prefix(format!("{prefix}:prod"));
            let test = prod.clone().with_prefix(format!("{prefix}:test"));
            let ttl = Duration::from_secs(30);

            prod.put(
                "token",
                Stored {
                    value: "p".into(),
                    expires_at: None,
                },
            )
            .await
            .unwrap();
            assert_eq!(test.get("token").await.unwrap(), None);
            assert!(!test.delete_if("token", "p").await.unwrap());

            let lease = prod.try_lock("lock", ttl).await.unwrap().unwrap();
            let other = test.try_lock("lock", ttl).await.unwrap();
            assert!(
                other.is_some(),
                "the same lock name under another prefix is free"
            );
            prod.unlock("lock", &lease).await.unwrap();
        })
        .await;
    }

    #[tokio::test]
    async fn a_redis_entry_already_past_its_expiry_is_returned_as_stored_or_forgotten() {
        with_redis(|url, prefix| async move {
            let store = RedisStore::connect(&url).await.unwrap().with_prefix(prefix);
            for expires_at in [unix_now() - 10, 0, -5] {
                let stale = Stored {
                    value: "old".into(),
                    expires_at: Some(expires_at),
                };
                store.put("stale", stale.clone()).await.unwrap();
                let got = store.get("stale").await.unwrap();
                assert!(got.is_none() || got == Some(stale), "{got:?}");
            }
        })
        .await;
    }

    #[tokio::test]
    async fn connecting_to_an_invalid_redis_url_fails_with_a_redis_error() {
        let err = RedisStore::connect("not a url").await.unwrap_err();
        assert_eq!(err.backend, "redis");
    }
}
