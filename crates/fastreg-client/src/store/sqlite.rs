//! A durable store in one SQLite file: the default home for refresh tokens.
//!
//! A refresh token has no expiry and cannot be fetched again: if it is lost, the merchant must
//! authorise the component again. So this store is built to keep what it was given:
//!
//! - **Durable commits.** The file runs in WAL mode with `synchronous=FULL`, so a `put` that
//!   returned `Ok` survives a crash or a power loss, not only a process exit.
//! - **Atomic across processes.** Several processes (or several [`SqliteStore`]s in one
//!   process) may open the same file. Every read-modify-write ([`TokenStore::delete_if`],
//!   [`TokenStore::try_lock`], [`TokenStore::unlock`]) runs in a `BEGIN IMMEDIATE` transaction,
//!   which takes SQLite's write lock before reading, so two processes can never both see a
//!   lock as free or both delete the same token. Waiting for another writer is bounded by a
//!   busy timeout ([`SqliteStore::BUSY_TIMEOUT`]); past it the call fails instead of hanging.
//! - **Never blocks the runtime.** SQLite calls are blocking, so every operation runs on
//!   [`tokio::task::spawn_blocking`] with the store's single connection behind a
//!   [`std::sync::Mutex`].
//! - **Private file.** On Unix a new database file is created with mode `0600` (SQLite gives
//!   its `-wal` and `-shm` files the same mode), because it holds secrets.
//!
//! The file must be on a local file system: WAL mode shares memory between the processes that
//! open it, which network file systems do not support.
//!
//! Lock leases are compared against the wall clock (unix milliseconds) because processes do not
//! share a monotonic clock; a large clock step on the host can shorten or lengthen a lease.
//!
//! The schema is two tables:
//!
//! ```sql
//! CREATE TABLE kv    (key TEXT PRIMARY KEY, value TEXT NOT NULL, expires_at INTEGER);
//! CREATE TABLE locks (key TEXT PRIMARY KEY, lease TEXT NOT NULL, expires_at_ms INTEGER NOT NULL);
//! ```
//!
//! Entries past their `expires_at` are kept until replaced (callers check expiry, see
//! [`TokenStore::get`]); an expired lock row is taken over by the next `try_lock` on its key.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};

use super::{new_lease, StoreError, Stored, TokenStore};

const BACKEND: &str = "sqlite";

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS kv (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    expires_at INTEGER
);
CREATE TABLE IF NOT EXISTS locks (
    key TEXT PRIMARY KEY,
    lease TEXT NOT NULL,
    expires_at_ms INTEGER NOT NULL
);
";

/// A [`TokenStore`] in a SQLite file, safe to share between processes on one host: the
/// durable home for refresh tokens.
///
/// - Commits are durable: WAL mode with `synchronous=FULL`, so a `put` that returned `Ok`
///   survives a crash or a power loss.
/// - Every operation is atomic across processes opening the same file: `delete_if`,
///   `try_lock` and `unlock` run in `BEGIN IMMEDIATE` transactions. Waiting for another
///   process's write is bounded by [`SqliteStore::BUSY_TIMEOUT`], after which the call fails.
/// - SQLite work runs on [`tokio::task::spawn_blocking`], never on the async runtime's threads.
///   One store holds one connection; cloning is cheap and shares it.
/// - A new file is created with mode `0600` on Unix. The file must be on a local file system.
/// - Lock leases are measured on the wall clock (processes share no monotonic clock).
///
/// Tables: `kv(key, value, expires_at)` and `locks(key, lease, expires_at_ms)`.
///
/// # Examples
/// ```no_run
/// # async fn run() -> Result<(), fastreg_client::store::StoreError> {
/// use fastreg_client::store::{SqliteStore, Stored, TokenStore};
///
/// let store = SqliteStore::open("/var/lib/myapp/fastreg-tokens.db")?;
/// store.put("ns:wx1:refresh_token:wxa", Stored { value: "r1".into(), expires_at: None }).await?;
/// assert_eq!(store.get("ns:wx1:refresh_token:wxa").await?.unwrap().value, "r1");
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct SqliteStore {
    conn: Arc<Mutex<Connection>>,
    path: Arc<PathBuf>,
}

impl fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl SqliteStore {
    /// How long an operation waits for another connection's write lock before it fails.
    ///
    /// # Examples
    /// ```no_run
    /// use fastreg_client::store::SqliteStore;
    /// println!("SQLite waits at most {:?} for a writer", SqliteStore::BUSY_TIMEOUT);
    /// ```
    pub const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

    /// Opens (or creates) the store at `path`, creating missing parent directories, switching
    /// the file to WAL mode with `synchronous=FULL` and creating the tables if needed.
    ///
    /// This is a **synchronous** call: it touches the file system and may wait up to
    /// [`Self::BUSY_TIMEOUT`] if another process is creating the schema at the same moment.
    /// Call it at start-up, or inside [`tokio::task::spawn_blocking`] from async code that
    /// must not block. Opening the same file more than once (in one process or several) is
    /// supported.
    ///
    /// # Errors
    /// The directory or file cannot be created, the file is not a SQLite database, or the
    /// schema cannot be set up.
    ///
    /// # Examples
    /// ```no_run
    /// # fn run() -> Result<(), fastreg_client::store::StoreError> {
    /// let store = fastreg_client::store::SqliteStore::open("data/tokens.db")?;
    /// assert_eq!(store.path(), std::path::Path::new("data/tokens.db"));
    /// # Ok(()) }
    /// ```
    pub fn open(path: impl AsRef<Path>) -> Result<SqliteStore, StoreError> {
        let path = path.as_ref();
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|e| {
                StoreError::new(BACKEND, format!("creating {}: {e}", parent.display()))
            })?;
        }
        create_private_file(path)?;

        let conn = Connection::open(path)
            .map_err(|e| StoreError::new(BACKEND, format!("opening {}: {e}", path.display())))?;
        init(&conn).map_err(|e| {
            StoreError::new(BACKEND, format!("initialising {}: {e}", path.display()))
        })?;
        Ok(SqliteStore {
            conn: Arc::new(Mutex::new(conn)),
            path: Arc::new(path.to_path_buf()),
        })
    }

    /// The path the store was opened with.
    ///
    /// # Examples
    /// ```no_run
    /// # fn run() -> Result<(), fastreg_client::store::StoreError> {
    /// let store = fastreg_client::store::SqliteStore::open("tokens.db")?;
    /// println!("tokens are kept in {}", store.path().display());
    /// # Ok(()) }
    /// ```
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `f` on the connection on the blocking thread pool.
    async fn run<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        let conn = Arc::clone(&self.conn);
        tokio::task::spawn_blocking(move || {
            // A panic while holding the mutex cannot leave a transaction open (dropping a
            // `Transaction` rolls it back), so a poisoned connection is still consistent.
            let mut conn = conn.lock().unwrap_or_else(PoisonError::into_inner);
            f(&mut conn)
        })
        .await
        .map_err(|e| StoreError::new(BACKEND, format!("blocking task failed: {e}")))?
        .map_err(|e| StoreError::new(BACKEND, e))
    }
}

/// Pre-creates a missing database file with owner-only permissions (it holds secrets).
fn create_private_file(path: &Path) -> Result<(), StoreError> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(StoreError::new(
            BACKEND,
            format!("creating {}: {e}", path.display()),
        )),
    }
}

fn init(conn: &Connection) -> Result<(), String> {
    let sql = |e: rusqlite::Error| e.to_string();
    // The busy timeout first, so the pragmas below wait for a concurrent opener.
    conn.busy_timeout(SqliteStore::BUSY_TIMEOUT).map_err(sql)?;
    let mode: String = conn
        .pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))
        .map_err(sql)?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(format!("journal_mode is {mode}, but WAL is required"));
    }
    conn.pragma_update(None, "synchronous", "FULL")
        .map_err(sql)?;
    conn.execute_batch(SCHEMA).map_err(sql)
}

/// Now in unix milliseconds (lock leases are shared between processes, so wall clock).
fn unix_now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

#[async_trait]
impl TokenStore for SqliteStore {
    async fn get(&self, key: &str) -> Result<Option<Stored>, StoreError> {
        let key = key.to_owned();
        self.run(move |conn| {
            conn.query_row(
                "SELECT value, expires_at FROM kv WHERE key = ?1",
                params![key],
                |row| {
                    Ok(Stored {
                        value: row.get(0)?,
                        expires_at: row.get(1)?,
                    })
                },
            )
            .optional()
        })
        .await
    }

    async fn put(&self, key: &str, value: Stored) -> Result<(), StoreError> {
        let key = key.to_owned();
        self.run(move |conn| {
            // One statement: atomic on its own.
            conn.execute(
                "INSERT INTO kv (key, value, expires_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value,
                                                 expires_at = excluded.expires_at",
                params![key, value.value, value.expires_at],
            )?;
            Ok(())
        })
        .await
    }

    async fn delete_if(&self, key: &str, expected: &str) -> Result<bool, StoreError> {
        let key = key.to_owned();
        let expected = expected.to_owned();
        self.run(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let deleted = tx.execute(
                "DELETE FROM kv WHERE key = ?1 AND value = ?2",
                params![key, expected],
            )?;
            tx.commit()?;
            Ok(deleted > 0)
        })
        .await
    }

    async fn try_lock(&self, key: &str, ttl: Duration) -> Result<Option<String>, StoreError> {
        let key = key.to_owned();
        let ttl_ms = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX);
        self.run(move |conn| {
            // IMMEDIATE takes the write lock before the read, so no other process can take the
            // lock between our check and our write.
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let now = unix_now_ms();
            let held_until: Option<i64> = tx
                .query_row(
                    "SELECT expires_at_ms FROM locks WHERE key = ?1",
                    params![key],
                    |row| row.get(0),
                )
                .optional()?;
            if held_until.is_some_and(|until| until > now) {
                return Ok(None); // dropping `tx` rolls back
            }
            let lease = new_lease();
            tx.execute(
                "INSERT INTO locks (key, lease, expires_at_ms) VALUES (?1, ?2, ?3)
                 ON CONFLICT (key) DO UPDATE SET lease = excluded.lease,
                                                 expires_at_ms = excluded.expires_at_ms",
                params![key, lease, now.saturating_add(ttl_ms)],
            )?;
            tx.commit()?;
            Ok(Some(lease))
        })
        .await
    }

    async fn unlock(&self, key: &str, lease: &str) -> Result<(), StoreError> {
        let key = key.to_owned();
        let lease = lease.to_owned();
        self.run(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            tx.execute(
                "DELETE FROM locks WHERE key = ?1 AND lease = ?2",
                params![key, lease],
            )?;
            tx.commit()
        })
        .await
    }

    fn backend(&self) -> &'static str {
        BACKEND
    }
}
