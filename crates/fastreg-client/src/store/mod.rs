//! Where the client keeps credentials: verify tickets, access tokens, refresh tokens, and the
//! locks that make many instances refresh a token once.
//!
//! A store is a small key/value map with two extra operations that make sharing safe:
//! [`TokenStore::delete_if`] (compare-and-expire: drop a token only if it is still the one that
//! failed, so an instance holding a stale token cannot evict the fresh one another instance just
//! stored) and [`TokenStore::try_lock`] / [`TokenStore::unlock`] (a lease with a fencing value,
//! so only one instance refreshes at a time and a lock left by a crashed instance expires).
//!
//! Implementations: [`MemoryStore`] (one process), [`SqliteStore`] (a durable file; several
//! processes on one host), [`RedisStore`] (many instances). The client keys everything as
//! `{namespace}:{component_appid}:{kind}[:{appid}]`, so one store can serve several components.
//!
//! Durability matters for refresh tokens: losing one means the merchant must authorise again.
//! Redis often runs without persistence, so [`crate::ClientBuilder::refresh_token_store`] lets
//! refresh tokens live in a durable store while access tokens are shared through Redis.

mod memory;
#[cfg(feature = "redis")]
mod redis;
#[cfg(feature = "sqlite")]
mod sqlite;

use std::time::Duration;

use async_trait::async_trait;

#[cfg(feature = "redis")]
pub use self::redis::RedisStore;
#[cfg(feature = "sqlite")]
pub use self::sqlite::SqliteStore;
pub use memory::MemoryStore;

/// A stored credential.
///
/// # Examples
/// ```no_run
/// let entry = fastreg_client::store::Stored { value: "token".into(), expires_at: Some(4_000_000_000) };
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Stored {
    /// The credential itself.
    pub value: String,
    /// Unix seconds after which it is no longer valid; `None` for credentials without expiry
    /// (refresh tokens). A store may forget an entry after this time.
    pub expires_at: Option<i64>,
}

/// The value is a credential: `Debug` shows only its expiry.
impl std::fmt::Debug for Stored {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stored")
            .field("value", &fastreg_wire::redact::MASK)
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// A store failure (the backend is unreachable, corrupt, …).
///
/// # Examples
/// ```no_run
/// let e = fastreg_client::store::StoreError::new("redis", "connection refused");
/// assert_eq!(e.to_string(), "token store (redis): connection refused");
/// ```
#[derive(Debug, thiserror::Error)]
#[error("token store ({backend}): {message}")]
pub struct StoreError {
    /// Which backend.
    pub backend: &'static str,
    /// What went wrong.
    pub message: String,
}

impl StoreError {
    /// A new error of `backend`.
    ///
    /// # Examples
    /// ```no_run
    /// let e = fastreg_client::store::StoreError::new("sqlite", "disk full");
    /// ```
    pub fn new(backend: &'static str, message: impl std::fmt::Display) -> Self {
        // A driver's message may quote what it was given: scrub it before it is kept.
        StoreError {
            backend,
            message: fastreg_wire::redact::text(&message.to_string()),
        }
    }
}

/// The storage every client instance shares. All operations are atomic per key.
///
/// # Examples
/// ```no_run
/// # async fn run() -> Result<(), fastreg_client::store::StoreError> {
/// use std::time::Duration;
/// use fastreg_client::store::{MemoryStore, Stored, TokenStore};
///
/// let store = MemoryStore::new();
/// store.put("ns:wx1:component_token", Stored { value: "t1".into(), expires_at: Some(4_000_000_000) }).await?;
/// // Another instance found "t1" rejected (40001): it drops it only if it is still "t1".
/// assert!(store.delete_if("ns:wx1:component_token", "t1").await?);
/// if let Some(lease) = store.try_lock("ns:wx1:lock:component_token", Duration::from_secs(10)).await? {
///     // refresh, then:
///     store.unlock("ns:wx1:lock:component_token", &lease).await?;
/// }
/// # Ok(()) }
/// ```
#[async_trait]
pub trait TokenStore: Send + Sync + 'static {
    /// The entry under `key`, if any (possibly past its `expires_at`: callers check).
    ///
    /// # Errors
    /// The backend failed.
    async fn get(&self, key: &str) -> Result<Option<Stored>, StoreError>;

    /// Stores `value` under `key`, replacing any entry.
    ///
    /// # Errors
    /// The backend failed.
    async fn put(&self, key: &str, value: Stored) -> Result<(), StoreError>;

    /// Deletes `key` only if its value is `expected`; returns whether it deleted.
    ///
    /// # Errors
    /// The backend failed.
    async fn delete_if(&self, key: &str, expected: &str) -> Result<bool, StoreError>;

    /// Takes the lock `key` for `ttl` if nobody holds it (or the holder's lease ran out);
    /// returns the lease value to unlock with, or `None` when someone else holds it.
    ///
    /// # Errors
    /// The backend failed.
    async fn try_lock(&self, key: &str, ttl: Duration) -> Result<Option<String>, StoreError>;

    /// Releases the lock `key` if it is still held with `lease` (a lease that ran out and was
    /// taken by another holder is left alone).
    ///
    /// # Errors
    /// The backend failed.
    async fn unlock(&self, key: &str, lease: &str) -> Result<(), StoreError>;

    /// A short name for errors and logs.
    fn backend(&self) -> &'static str;
}

/// A fresh lease value: random, so a holder can only release its own lock.
///
/// # Examples
/// ```no_run
/// let lease = fastreg_client::store::new_lease();
/// assert_eq!(lease.len(), 32);
/// ```
pub fn new_lease() -> String {
    format!("{:032x}", rand::random::<u128>())
}

/// Now in unix seconds (stores use it to expire leases and entries).
///
/// # Examples
/// ```no_run
/// let now = fastreg_client::store::unix_now();
/// ```
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}
