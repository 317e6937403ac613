//! A store in Redis, shared by every instance of an application (and by several applications).
//!
//! - **Namespaced keys.** Every key is written as `{prefix}:{key}` (prefix `fastreg` unless
//!   [`RedisStore::with_prefix`] says otherwise), so several applications, or test and
//!   production, can share one Redis without touching each other's tokens or locks.
//! - **Entries** are JSON strings `{"value":"…","expires_at":1700000000}` written with one
//!   `SET`. When `expires_at` is set the key also gets a Redis expiry at that instant
//!   (`PXAT`), so dead tokens vanish by themselves; entries without expiry (refresh tokens) get
//!   none.
//! - **Compare-and-delete** ([`TokenStore::delete_if`], [`TokenStore::unlock`]) runs as a Lua
//!   script, which Redis executes atomically: nothing can replace the value between the
//!   comparison and the `DEL`.
//! - **Locks** are `SET {prefix}:{key} {lease} NX PX {ttl}`: one round trip, exclusive, and a
//!   lock left by a crashed instance expires by itself. Nothing ever waits for a lock; a caller
//!   that gets `None` decides whether to retry.
//! - **Never blocks, never hangs.** All calls are async through a
//!   [`redis::aio::ConnectionManager`], which reconnects after a connection drops; connection
//!   attempts and replies time out ([`RedisStore::CONNECTION_TIMEOUT`],
//!   [`RedisStore::RESPONSE_TIMEOUT`]) so a dead Redis surfaces as a [`StoreError`] instead of
//!   a stuck refresh. The store never issues `KEYS`.
//!
//! Entries and locks share the Redis key space, so a key must not be used both for an entry
//! and for a lock (the client's key scheme never does).
//!
//! Redis often runs without persistence: keep refresh tokens in a durable store as well (see
//! [`crate::store`]).

use std::fmt;
use std::sync::LazyLock;
use std::time::Duration;

use async_trait::async_trait;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::Script;
use serde::{Deserialize, Serialize};

use super::{new_lease, StoreError, Stored, TokenStore};

const BACKEND: &str = "redis";

/// The last second Redis is asked to expire an entry at (9999-12-31T23:59:59Z); an entry that
/// expires later is kept without a Redis expiry.
const MAX_EXPIRES_AT: i64 = 253_402_300_799;

/// The longest lock lease sent to Redis (100 years); longer ones are shortened to it.
const MAX_LOCK_TTL_MS: u128 = 100 * 365 * 24 * 3600 * 1000;

/// Deletes `KEYS[1]` if it is an entry whose value is `ARGV[1]`; returns 1 if it deleted.
static DELETE_IF: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local raw = redis.call('GET', KEYS[1])
if not raw then return 0 end
local ok, entry = pcall(cjson.decode, raw)
if ok and type(entry) == 'table' and entry.value == ARGV[1] then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
",
    )
});

/// Deletes the lock `KEYS[1]` if it still holds the lease `ARGV[1]`; returns 1 if it deleted.
static UNLOCK: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
",
    )
});

/// How an entry is kept in Redis.
#[derive(Serialize, Deserialize)]
struct Entry {
    value: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    expires_at: Option<i64>,
}

/// A [`TokenStore`] in Redis, shared by many instances.
///
/// - Every key is written as `{prefix}:{key}` (prefix [`RedisStore::DEFAULT_PREFIX`] unless
///   [`RedisStore::with_prefix`] sets another), so several applications can share one Redis.
/// - An entry is a JSON string `{"value":…,"expires_at":…}`; when `expires_at` is set the key
///   also expires in Redis at that instant, so dead tokens vanish.
/// - `delete_if` and `unlock` are Lua compare-and-delete scripts; `try_lock` is
///   `SET key lease NX PX ttl`. All are atomic, and no call ever waits for a lock.
/// - Calls are async over a [`redis::aio::ConnectionManager`] that reconnects by itself, with
///   connection and response timeouts, so an unreachable Redis is an error, not a hang.
/// - Entries and locks share the key space: do not use one key for both.
///
/// Redis often runs without persistence: keep refresh tokens in a durable store too (see
/// [`crate::store`]). Cloning is cheap and shares the connection.
///
/// # Examples
/// ```no_run
/// # async fn run() -> Result<(), fastreg_client::store::StoreError> {
/// use std::time::Duration;
/// use fastreg_client::store::{RedisStore, TokenStore};
///
/// let store = RedisStore::connect("redis://127.0.0.1:6379").await?.with_prefix("shop-prod");
/// // Stored in Redis as `shop-prod:ns:wx1:lock:component_token`.
/// if let Some(lease) = store.try_lock("ns:wx1:lock:component_token", Duration::from_secs(10)).await? {
///     // refresh the token, then:
///     store.unlock("ns:wx1:lock:component_token", &lease).await?;
/// }
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct RedisStore {
    conn: ConnectionManager,
    prefix: String,
}

impl fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisStore")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl RedisStore {
    /// The prefix used unless [`RedisStore::with_prefix`] sets another.
    ///
    /// # Examples
    /// ```no_run
    /// use fastreg_client::store::RedisStore;
    /// println!("{:?}", RedisStore::DEFAULT_PREFIX);
    /// ```
    pub const DEFAULT_PREFIX: &'static str = "fastreg";

    /// How long one connection attempt may take.
    ///
    /// # Examples
    /// ```no_run
    /// use fastreg_client::store::RedisStore;
    /// println!("{:?}", RedisStore::CONNECTION_TIMEOUT);
    /// ```
    pub const CONNECTION_TIMEOUT: Duration = Duration::from_secs(5);

    /// How long Redis may take to answer one command.
    ///
    /// # Examples
    /// ```no_run
    /// use fastreg_client::store::RedisStore;
    /// println!("{:?}", RedisStore::RESPONSE_TIMEOUT);
    /// ```
    pub const RESPONSE_TIMEOUT: Duration = Duration::from_secs(5);

    /// Connects to the Redis at `url` (`redis://[user:password@]host:port[/db]`, or `rediss://`
    /// when the `redis` crate is built with TLS), with the prefix
    /// [`RedisStore::DEFAULT_PREFIX`].
    ///
    /// The connection is re-established automatically if it drops later.
    ///
    /// # Errors
    /// The URL is invalid, or Redis cannot be reached (after a few retries).
    ///
    /// # Examples
    /// ```no_run
    /// # async fn run() -> Result<(), fastreg_client::store::StoreError> {
    /// let store = fastreg_client::store::RedisStore::connect("redis://127.0.0.1:6379/0").await?;
    /// # Ok(()) }
    /// ```
    pub async fn connect(url: &str) -> Result<RedisStore, StoreError> {
        // The URL may carry a password: never echo it in errors.
        let client = redis::Client::open(url)
            .map_err(|e| StoreError::new(BACKEND, format!("invalid Redis URL: {e}")))?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Self::CONNECTION_TIMEOUT)
            .set_response_timeout(Self::RESPONSE_TIMEOUT);
        let conn = ConnectionManager::new_with_config(client, config)
            .await
            .map_err(|e| StoreError::new(BACKEND, format!("connecting: {e}")))?;
        Ok(RedisStore {
            conn,
            prefix: Self::DEFAULT_PREFIX.to_owned(),
        })
    }

    /// The same store with every key written as `{prefix}:{key}`, so that several
    /// applications (or environments) can share one Redis.
    ///
    /// # Examples
    /// ```no_run
    /// # async fn run() -> Result<(), fastreg_client::store::StoreError> {
    /// use fastreg_client::store::RedisStore;
    ///
    /// let prod = RedisStore::connect("redis://127.0.0.1:6379").await?.with_prefix("shop-prod");
    /// let test = prod.clone().with_prefix("shop-test"); // same connection, separate keys
    /// assert_eq!(test.prefix(), "shop-test");
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn with_prefix(mut self, prefix: impl Into<String>) -> RedisStore {
        self.prefix = prefix.into();
        self
    }

    /// The prefix every key is written under.
    ///
    /// # Examples
    /// ```no_run
    /// # async fn run() -> Result<(), fastreg_client::store::StoreError> {
    /// let store = fastreg_client::store::RedisStore::connect("redis://127.0.0.1:6379").await?;
    /// assert_eq!(store.prefix(), "fastreg");
    /// # Ok(()) }
    /// ```
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    fn key(&self, key: &str) -> String {
        format!("{}:{key}", self.prefix)
    }
}

fn redis_error(e: redis::RedisError) -> StoreError {
    StoreError::new(BACKEND, e)
}

#[async_trait]
impl TokenStore for RedisStore {
    async fn get(&self, key: &str) -> Result<Option<Stored>, StoreError> {
        let full = self.key(key);
        let raw: Option<String> = redis::cmd("GET")
            .arg(&full)
            .query_async(&mut self.conn.clone())
            .await
            .map_err(redis_error)?;
        let Some(raw) = raw else { return Ok(None) };
        let entry: Entry = serde_json::from_str(&raw).map_err(|e| {
            StoreError::new(BACKEND, format!("{full} does not hold a token entry: {e}"))
        })?;
        Ok(Some(Stored {
            value: entry.value,
            expires_at: entry.expires_at,
        }))
    }

    async fn put(&self, key: &str, value: Stored) -> Result<(), StoreError> {
        let expires_at = value.expires_at;
        let json = serde_json::to_string(&Entry {
            value: value.value,
            expires_at,
        })
        .map_err(|e| StoreError::new(BACKEND, e))?;
        // A plain SET also clears the expiry of the entry it replaces.
        let mut cmd = redis::cmd("SET");
        cmd.arg(self.key(key)).arg(json);
        if let Some(at) = expires_at.filter(|at| *at <= MAX_EXPIRES_AT) {
            // An instant already past (or before 1970) makes Redis drop the entry at once,
            // which the contract allows ("a store may forget an entry after this time").
            cmd.arg("PXAT").arg(at.max(1) * 1000);
        }
        cmd.query_async::<()>(&mut self.conn.clone())
            .await
            .map_err(redis_error)
    }

    async fn delete_if(&self, key: &str, expected: &str) -> Result<bool, StoreError> {
        let deleted: i64 = DELETE_IF
            .key(self.key(key))
            .arg(expected)
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(redis_error)?;
        Ok(deleted == 1)
    }

    async fn try_lock(&self, key: &str, ttl: Duration) -> Result<Option<String>, StoreError> {
        let lease = new_lease();
        let ttl_ms = ttl.as_millis().clamp(1, MAX_LOCK_TTL_MS) as u64;
        let set: Option<String> = redis::cmd("SET")
            .arg(self.key(key))
            .arg(&lease)
            .arg("NX")
            .arg("PX")
            .arg(ttl_ms)
            .query_async(&mut self.conn.clone())
            .await
            .map_err(redis_error)?;
        Ok(set.map(|_| lease))
    }

    async fn unlock(&self, key: &str, lease: &str) -> Result<(), StoreError> {
        UNLOCK
            .key(self.key(key))
            .arg(lease)
            .invoke_async::<i64>(&mut self.conn.clone())
            .await
            .map_err(redis_error)?;
        Ok(())
    }

    fn backend(&self) -> &'static str {
        BACKEND
    }
}
