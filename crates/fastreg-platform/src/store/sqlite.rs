//! The SQLite backend: one file in WAL mode, one writer thread, a few reader threads.
//!
//! Why one writer thread: SQLite allows one writer at a time anyway, and owning the write
//! connection on a dedicated thread lets it take every job queued while the previous commit
//! ran and execute them in one transaction, each inside its own SAVEPOINT (a job that fails
//! rolls back alone), then commit once and only then answer every job. Under load that is many
//! registrations per commit (group commit); idle, it is one job per commit with no waiting.
//!
//! Durability: `process` runs `synchronous=NORMAL` (in WAL mode a commit is written to the OS
//! before it returns, so it survives `kill -9`); `full` runs `synchronous=FULL` (fsync per
//! commit, which group commit amortises).
//!
//! Checkpoints (copying the WAL into the database file) run on a thread of their own, not in
//! the writer's commits: at `synchronous=NORMAL` a checkpoint fsyncs the WAL and then the
//! database, and a commit that checkpointed held up its whole batch for those fsyncs (the
//! success p99 was twice the p50; BENCHMARKS.md). The writer only waits for the checkpointer
//! every `WAL_RESTART_FRAMES` frames, for one last short pass with nothing appended, so that
//! the WAL can start over rather than grow (see `Checkpoints`).

use std::any::Any;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};

use anyhow::{anyhow, Context};
use async_trait::async_trait;
use rusqlite::{params, Connection, OpenFlags, OptionalExtension, Row};

use super::batch::{run_batch, run_caught, submit, BatchConn, Control, Request};
use super::view::{ticket_hash, Key, View};
use super::{Backend, Durability, Job, Tx};
use crate::clock::system_now_ms;
use crate::domain::*;
use crate::error::{Error, Result};

/// Schema migrations, applied in order; `PRAGMA user_version` records how many ran.
const MIGRATIONS: &[&str] = &[
    include_str!("../../migrations/sqlite/0001_init.sql"),
    include_str!("../../migrations/sqlite/0002_pushes.sql"),
    include_str!("../../migrations/sqlite/0003_entity_counts.sql"),
    include_str!("../../migrations/sqlite/0004_registration_claims.sql"),
];

/// Most jobs committed together.
const MAX_BATCH: usize = 512;

/// WAL length, in frames (pages), past which the writer lets the checkpointer catch up
/// completely so that the WAL starts over: about 32 MB.
const WAL_RESTART_FRAMES: u64 = 8192;

/// Prepared statements kept per connection: more than the store has distinct statements.
const STATEMENT_CACHE: usize = 256;

/// Runs a transaction-control statement through the statement cache (`execute_batch` would
/// parse it again on every call).
fn control(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.execute([])?;
    Ok(())
}

/// Reader threads, each owning one read-only connection for its whole life: a connection
/// keeps its prepared statements and page cache, and a fixed count bounds how many threads
/// compete for the cores. (A pool of connections borrowed from `spawn_blocking` threads opened
/// and closed connections under load, re-preparing every statement, and ran up to one thread
/// per concurrent request.)
const READERS: usize = 4;

/// Most read jobs one reader runs on one snapshot; small, so that queued reads spread over the
/// reader threads.
const MAX_READ_BATCH: usize = 8;

/// The SQLite backend.
pub struct SqliteBackend {
    writer: mpsc::Sender<Request>,
    /// The reader threads' queue; `None` for an in-memory database, whose only connection is
    /// the writer's.
    readers: Option<mpsc::Sender<Request>>,
    /// What fastregister's checks read (not for an in-memory database: no readers fill it).
    view: Option<Arc<View>>,
}

impl SqliteBackend {
    /// Opens (creating if needed) and migrates the database at `path` (`:memory:` for a
    /// private in-memory database), and starts the writer thread.
    ///
    /// # Errors
    /// The file cannot be opened, is not a fastreg database, or a migration fails.
    pub fn open(path: &str, durability: Durability) -> Result<SqliteBackend> {
        let memory = path.is_empty() || path == ":memory:" || path == "memory:";
        let mut lock = None;
        let conn = if memory {
            Connection::open_in_memory()?
        } else {
            if let Some(dir) = std::path::Path::new(path).parent() {
                if !dir.as_os_str().is_empty() {
                    std::fs::create_dir_all(dir)
                        .with_context(|| format!("creating directory {}", dir.display()))?;
                }
            }
            lock = Some(lock_exclusively(path)?);
            Connection::open_with_flags(
                path,
                OpenFlags::SQLITE_OPEN_READ_WRITE
                    | OpenFlags::SQLITE_OPEN_CREATE
                    | OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )
            .with_context(|| format!("opening SQLite database {path}"))?
        };
        let sync = match durability {
            Durability::Process => "NORMAL",
            Durability::Full => "FULL",
        };
        conn.execute_batch(&format!(
            "PRAGMA journal_mode = WAL;
             PRAGMA synchronous = {sync};
             PRAGMA foreign_keys = ON;
             PRAGMA busy_timeout = 5000;
             PRAGMA temp_store = MEMORY;"
        ))
        .context("configuring SQLite")?;
        // The checkpointer thread checkpoints a file database; the writer's commits never do.
        let checkpoints = if memory {
            None
        } else {
            conn.execute_batch("PRAGMA wal_autocheckpoint = 0;")
                .context("configuring SQLite")?;
            Some(Checkpoints::start(path, sync)?)
        };
        // rusqlite caches 16 prepared statements by default; one fastregister uses more, and
        // an evicted statement is parsed again on every request (a third of all CPU in the
        // benchmark's profile).
        conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        migrate(&conn).with_context(|| format!("migrating {path}"))?;

        let view = (!memory).then(|| Arc::new(View::new()));
        let (tx, rx) = mpsc::channel::<Request>();
        let writer_view = view.clone();
        std::thread::Builder::new()
            .name("fastreg-sqlite-writer".into())
            .spawn(move || {
                // The lock lives as long as the writer: until its last commit.
                let _lock = lock;
                writer_loop(conn, rx, writer_view.as_ref(), checkpoints);
            })
            .context("starting the SQLite writer thread")?;
        let readers = match &view {
            None => None,
            Some(view) => {
                let (readers, readers_rx) = mpsc::channel::<Request>();
                let readers_rx = Arc::new(Mutex::new(readers_rx));
                for i in 0..READERS {
                    // Opened here, not on the thread, so that a failure fails the start.
                    let conn = open_reader(path).with_context(|| format!("opening reader {i}"))?;
                    let (rx, view) = (readers_rx.clone(), view.clone());
                    std::thread::Builder::new()
                        .name(format!("fastreg-sqlite-reader-{i}"))
                        .spawn(move || reader_loop(conn, rx, &view))
                        .context("starting a SQLite reader thread")?;
                }
                // The known-tickets scan (see the view's docs), off the start-up path.
                let conn = open_reader(path).context("opening the ticket scan")?;
                let view = view.clone();
                std::thread::Builder::new()
                    .name("fastreg-sqlite-tickets".into())
                    .spawn(move || {
                        if let Err(e) = scan_tickets(&conn, &view) {
                            tracing::warn!(error = %e, "could not list the tickets; unknown tickets are read from the database");
                        }
                    })
                    .context("starting the ticket scan")?;
                Some(readers)
            }
        };
        Ok(SqliteBackend {
            writer: tx,
            readers,
            view,
        })
    }
}

fn migrate(conn: &Connection) -> Result<()> {
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    let known = MIGRATIONS.len() as i64;
    if version > known {
        return Err(Error::Internal(anyhow!(
            "database schema version {version} is newer than this fastreg ({known}); upgrade fastreg"
        )));
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
        let n = i + 1;
        conn.execute_batch(&format!(
            "BEGIN IMMEDIATE;\n{sql}\nPRAGMA user_version = {n};\nCOMMIT;"
        ))
        .map_err(|e| {
            let _ = conn.execute_batch("ROLLBACK");
            Error::Internal(anyhow!("migration {n} failed: {e}"))
        })?;
    }
    Ok(())
}

/// How long opening waits for another holder of the database's lock to let go (a store of
/// this process being replaced finishes its last commit first).
const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// Takes the exclusive lock on `PATH.lock` that makes this process the database's only
/// writer, which the in-process [`View`] relies on. A lock file beside the database, not the
/// database itself: closing any descriptor of the database file would drop SQLite's own POSIX
/// locks on it.
fn lock_exclusively(path: &str) -> Result<std::fs::File> {
    let lock_path = format!("{path}.lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .with_context(|| format!("opening the lock file {lock_path}"))?;
    let deadline = std::time::Instant::now() + LOCK_WAIT;
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(file),
            Err(std::fs::TryLockError::WouldBlock) if std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(Error::Internal(anyhow!(
                    "the SQLite database {path} is in use by another fastreg process \
                     (it holds {lock_path}); a SQLite database serves one instance, several \
                     instances share a PostgreSQL database"
                )))
            }
            Err(std::fs::TryLockError::Error(e)) => {
                return Err(Error::Internal(
                    anyhow!(e).context(format!("locking {lock_path}")),
                ))
            }
        }
    }
}

fn writer_loop(
    conn: Connection,
    rx: mpsc::Receiver<Request>,
    view: Option<&Arc<View>>,
    mut checkpoints: Option<Checkpoints>,
) {
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(r) => batch.push(r),
                Err(_) => break,
            }
        }
        run_batch(&mut Writer { conn: &conn, view }, batch);
        if let Some(checkpoints) = &mut checkpoints {
            checkpoints.after_batch();
        }
    }
}

/// What wakes the checkpointer.
enum Wake {
    /// The writer committed: copy what is new.
    Grew,
    /// The writer waits, appending nothing, for one pass; its outcome is sent back.
    CatchUp(mpsc::SyncSender<Option<Pass>>),
}

/// One checkpoint pass: the WAL's length and how much of it is now in the database file, in
/// frames.
#[derive(Debug, Clone, Copy)]
struct Pass {
    wal: u64,
    copied: u64,
}

/// The writer's handle on the checkpointer thread, which owns a connection of its own and runs
/// `PRAGMA wal_checkpoint(PASSIVE)` whenever the writer has committed (passes are coalesced:
/// at most one wake-up waits).
///
/// A WAL starts over only at a write that finds every frame copied and no reader still using
/// it; while the writer appends, a checkpointer running beside it never finds that. So once
/// the WAL is past [`WAL_RESTART_FRAMES`], the writer waits between two batches for one pass,
/// which copies only what the last batches appended; its next write then starts the WAL over.
/// If a reader held that pass back, the writer tries again a quarter of the way further on.
struct Checkpoints {
    wake: mpsc::SyncSender<Wake>,
    /// The WAL's length at the checkpointer's last pass.
    wal_frames: Arc<AtomicU64>,
    /// The length at which the writer next waits for a pass.
    restart_at: u64,
    /// [`WAL_RESTART_FRAMES`] (smaller in tests).
    restart_frames: u64,
}

impl Checkpoints {
    /// Opens the checkpointer's connection (with the writer's `synchronous`, so that a
    /// checkpoint syncs as the writer's own would) and starts its thread.
    fn start(path: &str, sync: &str) -> Result<Checkpoints> {
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .context("opening the checkpointer's connection")?;
        conn.execute_batch(&format!(
            "PRAGMA synchronous = {sync}; PRAGMA busy_timeout = 5000; PRAGMA wal_autocheckpoint = 0;"
        ))
        .context("configuring the checkpointer's connection")?;
        let (wake, rx) = mpsc::sync_channel(1);
        let wal_frames = Arc::new(AtomicU64::new(0));
        let frames = wal_frames.clone();
        std::thread::Builder::new()
            .name("fastreg-sqlite-checkpoint".into())
            .spawn(move || checkpointer_loop(&conn, &rx, &frames))
            .context("starting the SQLite checkpointer thread")?;
        Ok(Checkpoints {
            wake,
            wal_frames,
            restart_at: WAL_RESTART_FRAMES,
            restart_frames: WAL_RESTART_FRAMES,
        })
    }

    /// Writer, after each batch (its jobs already answered).
    fn after_batch(&mut self) {
        if self.wal_frames.load(Ordering::Acquire) < self.restart_at {
            // Full: a pass is already due, and it will copy this batch too.
            let _ = self.wake.try_send(Wake::Grew);
            return;
        }
        let (tx, rx) = mpsc::sync_channel(1);
        if self.wake.send(Wake::CatchUp(tx)).is_err() {
            return;
        }
        match rx.recv() {
            Ok(Some(pass)) if pass.copied >= pass.wal => {
                // The next write starts the WAL over.
                self.wal_frames.store(0, Ordering::Release);
                self.restart_at = self.restart_frames;
            }
            Ok(Some(pass)) => self.restart_at = pass.wal + self.restart_frames / 4,
            Ok(None) | Err(_) => self.restart_at += self.restart_frames / 4,
        }
    }
}

/// The checkpointer thread: one pass per wake-up, until the writer is gone.
fn checkpointer_loop(conn: &Connection, rx: &mpsc::Receiver<Wake>, wal_frames: &AtomicU64) {
    while let Ok(wake) = rx.recv() {
        let pass = conn
            .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
                let (wal, copied): (i64, i64) = (r.get(1)?, r.get(2)?);
                Ok(Pass {
                    wal: wal.max(0) as u64,
                    copied: copied.max(0) as u64,
                })
            })
            .map_err(|e| tracing::warn!(error = %e, "WAL checkpoint failed"))
            .ok();
        if let Some(pass) = pass {
            wal_frames.store(pass.wal, Ordering::Release);
        }
        if let Wake::CatchUp(reply) = wake {
            let _ = reply.send(pass);
        }
    }
}

/// The writer's connection as a [`BatchConn`].
struct Writer<'c> {
    conn: &'c Connection,
    view: Option<&'c Arc<View>>,
}

impl BatchConn for Writer<'_> {
    fn control(&mut self, what: Control) -> Result<()> {
        let sql = match what {
            Control::Begin => "BEGIN IMMEDIATE",
            Control::Savepoint => "SAVEPOINT job",
            Control::Release => "RELEASE job",
            Control::RollbackTo => "ROLLBACK TO job",
            Control::Commit => "COMMIT",
            Control::Rollback => "ROLLBACK",
        };
        Ok(control(self.conn, sql)?)
    }

    fn run(&mut self, job: Job) -> Result<Box<dyn Any + Send>> {
        let mut tx = SqliteTx {
            conn: self.conn,
            view: self.view,
            read_epoch: None,
        };
        run_caught(&mut tx, job)
    }

    fn ended(&mut self) {
        if let Some(view) = self.view {
            view.publish();
        }
    }
}

fn open_reader(path: &str) -> rusqlite::Result<Connection> {
    let c = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    c.execute_batch("PRAGMA busy_timeout = 5000; PRAGMA query_only = ON;")?;
    c.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    Ok(c)
}

/// One reader thread: takes the read jobs queued at that moment (at most
/// [`MAX_READ_BATCH`]) and runs them on one snapshot. Sharing it is sound: the snapshot
/// starts after every one of them was queued, so each still sees every write committed before
/// it was asked.
fn reader_loop(conn: Connection, rx: Arc<Mutex<mpsc::Receiver<Request>>>, view: &Arc<View>) {
    loop {
        let batch = {
            let Ok(rx) = rx.lock() else { return };
            let Ok(first) = rx.recv() else { return };
            let mut batch = vec![first];
            while batch.len() < MAX_READ_BATCH {
                match rx.try_recv() {
                    Ok(r) => batch.push(r),
                    Err(_) => break,
                }
            }
            batch
        };
        // Before the snapshot begins (see the view's docs).
        let read_epoch = view.epoch();
        // The snapshot begins at the first read, not at BEGIN; read now, so that it begins
        // before any value of the view is used next to it.
        let begun = control(&conn, "BEGIN").and_then(|()| {
            conn.prepare_cached("SELECT 1 FROM sqlite_master LIMIT 1")?
                .query([])?
                .next()
                .map(|_| ())
        });
        if let Err(e) = begun {
            let _ = control(&conn, "ROLLBACK");
            let why = format!("{e}");
            for r in batch {
                let _ = r
                    .reply
                    .send(Err(Error::Internal(anyhow!("BEGIN failed: {why}"))));
            }
            continue;
        }
        for r in batch {
            let mut tx = SqliteTx {
                conn: &conn,
                view: Some(view),
                read_epoch: Some(read_epoch),
            };
            let out = run_caught(&mut tx, r.job);
            let _ = r.reply.send(out);
        }
        // A read-only transaction has nothing to lose; ending it releases the snapshot so
        // that checkpoints can proceed.
        let _ = control(&conn, "COMMIT");
    }
}

/// Gives the view every ticket of one snapshot.
fn scan_tickets(conn: &Connection, view: &View) -> rusqlite::Result<()> {
    let mut st = conn.prepare("SELECT ticket FROM fastregister_tickets")?;
    let mut rows = st.query([])?;
    let mut hashes = Vec::new();
    while let Some(row) = rows.next()? {
        let ticket = row.get_ref(0)?.as_str()?;
        hashes.push(ticket_hash(ticket));
    }
    view.load_known_tickets(hashes);
    Ok(())
}

#[async_trait]
impl Backend for SqliteBackend {
    async fn write(&self, job: Job) -> Result<Box<dyn Any + Send>> {
        submit(&self.writer, job, "the SQLite writer thread").await
    }

    async fn read(&self, job: Job) -> Result<Box<dyn Any + Send>> {
        match &self.readers {
            Some(readers) => submit(readers, job, "the SQLite reader threads").await,
            None => self.write(job).await,
        }
    }

    fn name(&self) -> &'static str {
        "sqlite"
    }

    fn shared(&self) -> bool {
        false
    }

    fn view(&self) -> Option<&View> {
        self.view.as_deref()
    }
}

/// [`Tx`] over a connection inside a transaction.
struct SqliteTx<'c> {
    conn: &'c Connection,
    /// The writer names the keys it changes to it; a reader remembers fastregister's reads.
    view: Option<&'c Arc<View>>,
    /// A reader's: the view's epoch published before its snapshot began.
    read_epoch: Option<u64>,
}

fn sets_to_json(sets: &[i64]) -> String {
    serde_json::to_string(sets).unwrap_or_else(|_| "[]".into())
}

fn json_vec<T: serde::de::DeserializeOwned>(s: String) -> rusqlite::Result<Vec<T>> {
    serde_json::from_str(&s).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(e))
    })
}

fn bad_value(what: &str, v: &str) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(
        0,
        rusqlite::types::Type::Text,
        format!("unknown {what} {v:?}").into(),
    )
}

macro_rules! component_cols {
    () => {
        "appid, appsecret, token, encoding_aes_key, event_url, auth_domain, \
    published, permission_sets, mp_permission_sets, ip_whitelist, created_at"
    };
}

fn component_row(r: &Row) -> rusqlite::Result<Component> {
    Ok(Component {
        appid: r.get(0)?,
        appsecret: r.get(1)?,
        token: r.get(2)?,
        encoding_aes_key: r.get(3)?,
        event_url: r.get(4)?,
        auth_domain: r.get(5)?,
        published: r.get(6)?,
        permission_sets: json_vec(r.get(7)?)?,
        mp_permission_sets: json_vec(r.get(8)?)?,
        ip_whitelist: json_vec(r.get(9)?)?,
        created_at: r.get(10)?,
    })
}

macro_rules! entity_cols {
    () => {
        "id, name, type, overseas, blacklisted, mini_program_cap"
    };
}

fn entity_row(r: &Row) -> rusqlite::Result<Entity> {
    let t: String = r.get(2)?;
    Ok(Entity {
        id: r.get(0)?,
        name: r.get(1)?,
        entity_type: EntityType::parse(&t).ok_or_else(|| bad_value("entity type", &t))?,
        overseas: r.get(3)?,
        blacklisted: r.get(4)?,
        mini_program_cap: r.get(5)?,
    })
}

macro_rules! oa_cols {
    () => {
        "appid, user_name, nickname, entity_id, verified, pending_registration, link_cap, created_at"
    };
}

fn oa_row(r: &Row) -> rusqlite::Result<OfficialAccount> {
    Ok(OfficialAccount {
        appid: r.get(0)?,
        user_name: r.get(1)?,
        nickname: r.get(2)?,
        entity_id: r.get(3)?,
        verified: r.get(4)?,
        pending_registration: r.get(5)?,
        link_cap: r.get(6)?,
        created_at: r.get(7)?,
    })
}

macro_rules! mp_cols {
    () => {
        "appid, user_name, nickname, entity_id, registered_by_oa, linked_oa, verified, created_at"
    };
}

fn mp_row(r: &Row) -> rusqlite::Result<MiniProgram> {
    Ok(MiniProgram {
        appid: r.get(0)?,
        user_name: r.get(1)?,
        nickname: r.get(2)?,
        entity_id: r.get(3)?,
        registered_by_oa: r.get(4)?,
        linked_oa: r.get(5)?,
        verified: r.get(6)?,
        created_at: r.get(7)?,
    })
}

macro_rules! auth_cols {
    () => {
        "component_appid, authorizer_appid, authorizer_kind, permission_sets, \
    refresh_token, auth_time, revoked"
    };
}

fn auth_row(r: &Row) -> rusqlite::Result<Authorization> {
    let kind: String = r.get(2)?;
    Ok(Authorization {
        component_appid: r.get(0)?,
        authorizer_appid: r.get(1)?,
        authorizer_kind: AuthorizerKind::parse(&kind)
            .ok_or_else(|| bad_value("authorizer kind", &kind))?,
        permission_sets: json_vec(r.get(3)?)?,
        refresh_token: r.get(4)?,
        auth_time: r.get(5)?,
        revoked: r.get(6)?,
    })
}

macro_rules! reg_cols {
    () => {
        "id, ticket, oa_appid, entity_id, component_appid, status, mp_appid, \
    authorization_code, is_wx_verify_succ, is_link_succ, created_at, completed_at, month"
    };
}

fn reg_row(r: &Row) -> rusqlite::Result<Registration> {
    let status: String = r.get(5)?;
    Ok(Registration {
        id: r.get(0)?,
        ticket: r.get(1)?,
        oa_appid: r.get(2)?,
        entity_id: r.get(3)?,
        component_appid: r.get(4)?,
        status: RegistrationStatus::parse(&status)
            .ok_or_else(|| bad_value("registration status", &status))?,
        mp_appid: r.get(6)?,
        authorization_code: r.get(7)?,
        is_wx_verify_succ: r.get(8)?,
        is_link_succ: r.get(9)?,
        created_at: r.get(10)?,
        completed_at: r.get(11)?,
        month: r.get(12)?,
    })
}

macro_rules! push_insert_cols {
    () => {
        "component_appid, info_type, event_url, encrypt, created_at, \
    status, attempts, next_attempt_at_ms, last_status, last_attempt_at_ms, delivered_at_ms"
    };
}

macro_rules! push_cols {
    () => {
        "id, component_appid, info_type, event_url, encrypt, created_at, \
    status, attempts, next_attempt_at_ms, last_status, last_attempt_at_ms, delivered_at_ms"
    };
}

fn push_row(r: &Row) -> rusqlite::Result<Push> {
    let status: String = r.get(6)?;
    Ok(Push {
        id: r.get(0)?,
        component_appid: r.get(1)?,
        info_type: r.get(2)?,
        event_url: r.get(3)?,
        encrypt: r.get(4)?,
        created_at: r.get(5)?,
        status: PushStatus::parse(&status).ok_or_else(|| bad_value("push status", &status))?,
        attempts: r.get(7)?,
        next_attempt_at_ms: r.get(8)?,
        last_status: r.get(9)?,
        last_attempt_at_ms: r.get(10)?,
        delivered_at_ms: r.get(11)?,
    })
}

impl SqliteTx<'_> {
    /// Writer: this transaction changes values under `key`.
    fn touch(&self, key: Key<'_>) {
        if let (Some(view), None) = (self.view, self.read_epoch) {
            view.touch(key);
        }
    }

    fn touch_registration(&self, r: &Registration) {
        self.touch(Key::OfficialAccount(&r.oa_appid));
        self.touch(Key::Entity(r.entity_id));
        self.touch(Key::Ticket(&r.ticket));
    }

    fn one<T>(
        &self,
        sql: &str,
        p: impl rusqlite::Params,
        f: impl FnOnce(&Row) -> rusqlite::Result<T>,
    ) -> Result<Option<T>> {
        Ok(self.conn.prepare_cached(sql)?.query_row(p, f).optional()?)
    }

    fn all<T>(
        &self,
        sql: &str,
        p: impl rusqlite::Params,
        f: impl FnMut(&Row) -> rusqlite::Result<T>,
    ) -> Result<Vec<T>> {
        let mut st = self.conn.prepare_cached(sql)?;
        let rows = st.query_map(p, f)?;
        Ok(rows.collect::<rusqlite::Result<Vec<T>>>()?)
    }

    fn count(&self, sql: &str, p: impl rusqlite::Params) -> Result<i64> {
        Ok(self.conn.prepare_cached(sql)?.query_row(p, |r| r.get(0))?)
    }

    fn exec(&self, sql: &str, p: impl rusqlite::Params) -> Result<usize> {
        Ok(self.conn.prepare_cached(sql)?.execute(p)?)
    }
}

impl Tx for SqliteTx<'_> {
    fn view(&self) -> Option<(Arc<View>, u64)> {
        Some((self.view?.clone(), self.read_epoch?))
    }

    fn writer_view(&self) -> Option<Arc<View>> {
        match self.read_epoch {
            None => self.view.cloned(),
            Some(_) => None,
        }
    }

    fn meta(&mut self, key: &str) -> Result<Option<String>> {
        self.one("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
    }

    fn set_meta(&mut self, key: &str, value: &str) -> Result<()> {
        self.exec(
            "INSERT INTO meta (key, value) VALUES (?1, ?2)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            [key, value],
        )?;
        Ok(())
    }

    fn reserve_appid(&mut self, appid: &str, kind: &str) -> Result<bool> {
        Ok(self.exec(
            "INSERT INTO appids (appid, kind) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
            [appid, kind],
        )? == 1)
    }

    fn insert_component(&mut self, c: &Component) -> Result<()> {
        self.touch(Key::Component(&c.appid));
        self.exec(
            concat!(
                "INSERT INTO components (",
                component_cols!(),
                ") VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11)"
            ),
            params![
                c.appid,
                c.appsecret,
                c.token,
                c.encoding_aes_key,
                c.event_url,
                c.auth_domain,
                c.published,
                sets_to_json(&c.permission_sets),
                sets_to_json(&c.mp_permission_sets),
                serde_json::to_string(&c.ip_whitelist)?,
                c.created_at
            ],
        )?;
        Ok(())
    }

    fn update_component(&mut self, c: &Component) -> Result<()> {
        self.touch(Key::Component(&c.appid));
        self.exec(
            "UPDATE components SET appsecret=?2, token=?3, encoding_aes_key=?4, event_url=?5,
                auth_domain=?6, published=?7, permission_sets=?8, mp_permission_sets=?9,
                ip_whitelist=?10 WHERE appid=?1",
            params![
                c.appid,
                c.appsecret,
                c.token,
                c.encoding_aes_key,
                c.event_url,
                c.auth_domain,
                c.published,
                sets_to_json(&c.permission_sets),
                sets_to_json(&c.mp_permission_sets),
                serde_json::to_string(&c.ip_whitelist)?,
            ],
        )?;
        Ok(())
    }

    fn component(&mut self, appid: &str) -> Result<Option<Component>> {
        self.one(
            concat!(
                "SELECT ",
                component_cols!(),
                " FROM components WHERE appid = ?1"
            ),
            [appid],
            component_row,
        )
    }

    fn components(&mut self) -> Result<Vec<Component>> {
        self.all(
            concat!(
                "SELECT ",
                component_cols!(),
                " FROM components ORDER BY created_at, appid"
            ),
            [],
            component_row,
        )
    }

    fn insert_verify_ticket(&mut self, t: &VerifyTicket) -> Result<()> {
        self.exec(
            "INSERT INTO verify_tickets (ticket, component_appid, create_time, expires_at)
             VALUES (?1, ?2, ?3, ?4)",
            params![t.ticket, t.component_appid, t.create_time, t.expires_at],
        )?;
        Ok(())
    }

    fn verify_ticket(&mut self, ticket: &str) -> Result<Option<VerifyTicket>> {
        self.one(
            "SELECT component_appid, ticket, create_time, expires_at FROM verify_tickets
             WHERE ticket = ?1",
            [ticket],
            |r| {
                Ok(VerifyTicket {
                    component_appid: r.get(0)?,
                    ticket: r.get(1)?,
                    create_time: r.get(2)?,
                    expires_at: r.get(3)?,
                })
            },
        )
    }

    fn latest_verify_ticket(&mut self, component_appid: &str) -> Result<Option<VerifyTicket>> {
        self.one(
            "SELECT component_appid, ticket, create_time, expires_at FROM verify_tickets
             WHERE component_appid = ?1 ORDER BY create_time DESC, rowid DESC LIMIT 1",
            [component_appid],
            |r| {
                Ok(VerifyTicket {
                    component_appid: r.get(0)?,
                    ticket: r.get(1)?,
                    create_time: r.get(2)?,
                    expires_at: r.get(3)?,
                })
            },
        )
    }

    fn insert_entity(&mut self, e: &Entity) -> Result<i64> {
        let id = (e.id > 0).then_some(e.id);
        self.exec(
            "INSERT INTO entities (id, name, type, overseas, blacklisted, mini_program_cap)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                id,
                e.name,
                e.entity_type.as_str(),
                e.overseas,
                e.blacklisted,
                e.mini_program_cap
            ],
        )?;
        let id = self.conn.last_insert_rowid();
        // Under the id it got (before the commit, like every touch).
        self.touch(Key::Entity(id));
        Ok(id)
    }

    fn update_entity(&mut self, e: &Entity) -> Result<()> {
        self.touch(Key::Entity(e.id));
        self.exec(
            "UPDATE entities SET name=?2, type=?3, overseas=?4, blacklisted=?5,
                mini_program_cap=?6 WHERE id=?1",
            params![
                e.id,
                e.name,
                e.entity_type.as_str(),
                e.overseas,
                e.blacklisted,
                e.mini_program_cap
            ],
        )?;
        Ok(())
    }

    fn entity(&mut self, id: i64) -> Result<Option<Entity>> {
        self.one(
            concat!("SELECT ", entity_cols!(), " FROM entities WHERE id = ?1"),
            [id],
            entity_row,
        )
    }

    fn entities(&mut self) -> Result<Vec<Entity>> {
        self.all(
            concat!("SELECT ", entity_cols!(), " FROM entities ORDER BY id"),
            [],
            entity_row,
        )
    }

    fn lock_entity(&mut self, _id: i64) -> Result<()> {
        // The single writer connection already serialises every write transaction.
        Ok(())
    }

    fn insert_official_account(&mut self, oa: &OfficialAccount) -> Result<()> {
        self.touch(Key::OfficialAccount(&oa.appid));
        self.exec(
            concat!(
                "INSERT INTO official_accounts (",
                oa_cols!(),
                ") VALUES (?1,?2,?3,?4,?5,?6,?7,?8)"
            ),
            params![
                oa.appid,
                oa.user_name,
                oa.nickname,
                oa.entity_id,
                oa.verified,
                oa.pending_registration,
                oa.link_cap,
                oa.created_at
            ],
        )?;
        Ok(())
    }

    fn update_official_account(&mut self, oa: &OfficialAccount) -> Result<()> {
        self.touch(Key::OfficialAccount(&oa.appid));
        self.exec(
            "UPDATE official_accounts SET nickname=?2, entity_id=?3, verified=?4,
                pending_registration=?5, link_cap=?6 WHERE appid=?1",
            params![
                oa.appid,
                oa.nickname,
                oa.entity_id,
                oa.verified,
                oa.pending_registration,
                oa.link_cap
            ],
        )?;
        Ok(())
    }

    fn official_account(&mut self, appid: &str) -> Result<Option<OfficialAccount>> {
        self.one(
            concat!(
                "SELECT ",
                oa_cols!(),
                " FROM official_accounts WHERE appid = ?1"
            ),
            [appid],
            oa_row,
        )
    }

    fn official_accounts(&mut self) -> Result<Vec<OfficialAccount>> {
        self.all(
            concat!(
                "SELECT ",
                oa_cols!(),
                " FROM official_accounts ORDER BY created_at, appid"
            ),
            [],
            oa_row,
        )
    }

    fn lock_official_account(&mut self, _appid: &str) -> Result<()> {
        Ok(())
    }

    fn insert_mini_program(&mut self, mp: &MiniProgram) -> Result<()> {
        self.touch(Key::Entity(mp.entity_id));
        self.exec(
            concat!(
                "INSERT INTO mini_programs (",
                mp_cols!(),
                ") VALUES (?1,?2,?3,?4,?5,?6,?7,?8)"
            ),
            params![
                mp.appid,
                mp.user_name,
                mp.nickname,
                mp.entity_id,
                mp.registered_by_oa,
                mp.linked_oa,
                mp.verified,
                mp.created_at
            ],
        )?;
        self.exec(
            "UPDATE entities SET mini_program_count = mini_program_count + 1 WHERE id = ?1",
            [mp.entity_id],
        )?;
        Ok(())
    }

    fn mini_program(&mut self, appid: &str) -> Result<Option<MiniProgram>> {
        self.one(
            concat!(
                "SELECT ",
                mp_cols!(),
                " FROM mini_programs WHERE appid = ?1"
            ),
            [appid],
            mp_row,
        )
    }

    fn mini_programs(&mut self, limit: u32) -> Result<Vec<MiniProgram>> {
        self.all(
            concat!(
                "SELECT ",
                mp_cols!(),
                " FROM mini_programs ORDER BY created_at DESC, appid LIMIT ?1"
            ),
            [limit],
            mp_row,
        )
    }

    fn count_entity_mini_programs(&mut self, entity_id: i64) -> Result<u32> {
        Ok(self
            .one(
                "SELECT mini_program_count FROM entities WHERE id = ?1",
                [entity_id],
                |r| r.get::<_, i64>(0),
            )?
            .unwrap_or(0) as u32)
    }

    fn linked_mini_programs(&mut self, oa_appid: &str) -> Result<Vec<MiniProgram>> {
        self.all(
            concat!(
                "SELECT ",
                mp_cols!(),
                " FROM mini_programs WHERE linked_oa = ?1 ORDER BY created_at, appid"
            ),
            [oa_appid],
            mp_row,
        )
    }

    fn count_linked_mini_programs(&mut self, oa_appid: &str) -> Result<u32> {
        Ok(self.count(
            "SELECT COUNT(*) FROM mini_programs WHERE linked_oa = ?1",
            [oa_appid],
        )? as u32)
    }

    fn put_authorization(&mut self, a: &Authorization) -> Result<()> {
        self.touch(Key::Authorization(&a.component_appid, &a.authorizer_appid));
        self.exec(
            concat!(
                "INSERT INTO authorizations (",
                auth_cols!(),
                ") VALUES (?1,?2,?3,?4,?5,?6,?7)
                 ON CONFLICT (component_appid, authorizer_appid) DO UPDATE SET
                    authorizer_kind = excluded.authorizer_kind,
                    permission_sets = excluded.permission_sets,
                    refresh_token = excluded.refresh_token,
                    auth_time = excluded.auth_time,
                    revoked = excluded.revoked"
            ),
            params![
                a.component_appid,
                a.authorizer_appid,
                a.authorizer_kind.as_str(),
                sets_to_json(&a.permission_sets),
                a.refresh_token,
                a.auth_time,
                a.revoked
            ],
        )?;
        Ok(())
    }

    fn authorization(
        &mut self,
        component_appid: &str,
        authorizer_appid: &str,
    ) -> Result<Option<Authorization>> {
        self.one(
            concat!(
                "SELECT ",
                auth_cols!(),
                " FROM authorizations
                 WHERE component_appid = ?1 AND authorizer_appid = ?2"
            ),
            [component_appid, authorizer_appid],
            auth_row,
        )
    }

    fn set_holder(
        &mut self,
        authorizer_appid: &str,
        set: i64,
        except: &str,
    ) -> Result<Option<String>> {
        let all = self.all(
            concat!(
                "SELECT ",
                auth_cols!(),
                " FROM authorizations
                 WHERE authorizer_appid = ?1 AND component_appid <> ?2 AND revoked = 0"
            ),
            [authorizer_appid, except],
            auth_row,
        )?;
        Ok(all
            .into_iter()
            .find(|a| a.grants(set))
            .map(|a| a.component_appid))
    }

    fn authorizations_of_component(
        &mut self,
        component_appid: &str,
        offset: u32,
        count: u32,
    ) -> Result<Vec<Authorization>> {
        self.all(
            concat!(
                "SELECT ",
                auth_cols!(),
                " FROM authorizations
                 WHERE component_appid = ?1 AND revoked = 0
                 ORDER BY auth_time, authorizer_appid LIMIT ?2 OFFSET ?3"
            ),
            params![component_appid, count, offset],
            auth_row,
        )
    }

    fn count_authorizations_of_component(&mut self, component_appid: &str) -> Result<i64> {
        self.count(
            "SELECT COUNT(*) FROM authorizations WHERE component_appid = ?1 AND revoked = 0",
            [component_appid],
        )
    }

    fn all_authorizations(&mut self) -> Result<Vec<Authorization>> {
        self.all(
            concat!(
                "SELECT ",
                auth_cols!(),
                " FROM authorizations ORDER BY auth_time, authorizer_appid"
            ),
            [],
            auth_row,
        )
    }

    fn insert_token(&mut self, t: &TokenRecord) -> Result<()> {
        self.touch(Key::Tokens(&t.component_appid, &t.authorizer_appid));
        self.exec(
            "INSERT INTO tokens (hash, kind, component_appid, authorizer_appid, issued_at,
                expires_at, superseded_at) VALUES (?1,?2,?3,?4,?5,?6,?7)",
            params![
                t.hash,
                t.kind.as_str(),
                t.component_appid,
                t.authorizer_appid,
                t.issued_at,
                t.expires_at,
                t.superseded_at
            ],
        )?;
        Ok(())
    }

    fn token(&mut self, hash: &str) -> Result<Option<TokenRecord>> {
        self.one(
            "SELECT hash, kind, component_appid, authorizer_appid, issued_at, expires_at,
                superseded_at FROM tokens WHERE hash = ?1",
            [hash],
            |r| {
                let kind: String = r.get(1)?;
                Ok(TokenRecord {
                    hash: r.get(0)?,
                    kind: TokenKind::parse(&kind).ok_or_else(|| bad_value("token kind", &kind))?,
                    component_appid: r.get(2)?,
                    authorizer_appid: r.get(3)?,
                    issued_at: r.get(4)?,
                    expires_at: r.get(5)?,
                    superseded_at: r.get(6)?,
                })
            },
        )
    }

    fn supersede_tokens(
        &mut self,
        kind: TokenKind,
        component_appid: &str,
        authorizer_appid: &str,
        now: UnixTime,
    ) -> Result<()> {
        self.touch(Key::Tokens(component_appid, authorizer_appid));
        self.exec(
            "UPDATE tokens SET superseded_at = ?4
             WHERE component_appid = ?1 AND authorizer_appid = ?2 AND kind = ?3
               AND superseded_at IS NULL",
            params![component_appid, authorizer_appid, kind.as_str(), now],
        )?;
        Ok(())
    }

    fn invalidate_tokens(
        &mut self,
        kind: TokenKind,
        component_appid: &str,
        authorizer_appid: &str,
    ) -> Result<()> {
        self.touch(Key::Tokens(component_appid, authorizer_appid));
        // Superseded at the epoch: past any grace period, now and after a config change.
        self.exec(
            "UPDATE tokens SET superseded_at = 0
             WHERE component_appid = ?1 AND authorizer_appid = ?2 AND kind = ?3",
            params![component_appid, authorizer_appid, kind.as_str()],
        )?;
        Ok(())
    }

    fn count_tokens(&mut self, kind: TokenKind, component_appid: &str) -> Result<i64> {
        self.count(
            "SELECT COUNT(*) FROM tokens WHERE kind = ?1 AND component_appid = ?2",
            [kind.as_str(), component_appid],
        )
    }

    fn insert_code(&mut self, c: &CodeRecord) -> Result<()> {
        self.exec(
            "INSERT INTO codes (hash, kind, component_appid, authorizer_appid, issued_at,
                expires_at, used_at) VALUES (?1,?2,?3,?4,?5,?6,?7)",
            params![
                c.hash,
                c.kind.as_str(),
                c.component_appid,
                c.authorizer_appid,
                c.issued_at,
                c.expires_at,
                c.used_at
            ],
        )?;
        Ok(())
    }

    fn code(&mut self, hash: &str) -> Result<Option<CodeRecord>> {
        self.one(
            "SELECT hash, kind, component_appid, authorizer_appid, issued_at, expires_at, used_at
             FROM codes WHERE hash = ?1",
            [hash],
            |r| {
                let kind: String = r.get(1)?;
                Ok(CodeRecord {
                    hash: r.get(0)?,
                    kind: CodeKind::parse(&kind).ok_or_else(|| bad_value("code kind", &kind))?,
                    component_appid: r.get(2)?,
                    authorizer_appid: r.get(3)?,
                    issued_at: r.get(4)?,
                    expires_at: r.get(5)?,
                    used_at: r.get(6)?,
                })
            },
        )
    }

    fn spend_code(&mut self, hash: &str, now: UnixTime) -> Result<()> {
        self.exec(
            "UPDATE codes SET used_at = ?2 WHERE hash = ?1 AND used_at IS NULL",
            params![hash, now],
        )?;
        Ok(())
    }

    fn spend_codes_of(
        &mut self,
        component_appid: &str,
        authorizer_appid: &str,
        now: UnixTime,
    ) -> Result<()> {
        self.exec(
            "UPDATE codes SET used_at = ?3
             WHERE component_appid = ?1 AND authorizer_appid = ?2 AND used_at IS NULL",
            params![component_appid, authorizer_appid, now],
        )?;
        Ok(())
    }

    fn insert_fastregister_ticket(&mut self, t: &FastRegisterTicket) -> Result<()> {
        self.touch(Key::Ticket(&t.ticket));
        self.exec(
            "INSERT INTO fastregister_tickets (ticket, component_appid, oa_appid, copy_wx_verify,
                issued_at, expires_at) VALUES (?1,?2,?3,?4,?5,?6)",
            params![
                t.ticket,
                t.component_appid,
                t.oa_appid,
                t.copy_wx_verify,
                t.issued_at,
                t.expires_at
            ],
        )?;
        Ok(())
    }

    fn fastregister_ticket(&mut self, ticket: &str) -> Result<Option<FastRegisterTicket>> {
        self.one(
            "SELECT ticket, component_appid, oa_appid, copy_wx_verify, issued_at, expires_at
             FROM fastregister_tickets WHERE ticket = ?1",
            [ticket],
            |r| {
                Ok(FastRegisterTicket {
                    ticket: r.get(0)?,
                    component_appid: r.get(1)?,
                    oa_appid: r.get(2)?,
                    copy_wx_verify: r.get(3)?,
                    issued_at: r.get(4)?,
                    expires_at: r.get(5)?,
                })
            },
        )
    }

    fn insert_registration(&mut self, r: &Registration) -> Result<i64> {
        self.touch_registration(r);
        self.exec(
            "INSERT INTO registrations (ticket, oa_appid, entity_id, component_appid, status,
                mp_appid, authorization_code, is_wx_verify_succ, is_link_succ, created_at,
                completed_at, month, claimed_at_ms)
             VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13)",
            params![
                r.ticket,
                r.oa_appid,
                r.entity_id,
                r.component_appid,
                r.status.as_str(),
                r.mp_appid,
                r.authorization_code,
                r.is_wx_verify_succ,
                r.is_link_succ,
                r.created_at,
                r.completed_at,
                r.month,
                system_now_ms()
            ],
        )?;
        Ok(self.conn.last_insert_rowid())
    }

    fn update_registration(&mut self, r: &Registration) -> Result<()> {
        self.touch_registration(r);
        self.exec(
            "UPDATE registrations SET status=?2, mp_appid=?3, authorization_code=?4,
                is_wx_verify_succ=?5, is_link_succ=?6, completed_at=?7, month=?8 WHERE id=?1",
            params![
                r.id,
                r.status.as_str(),
                r.mp_appid,
                r.authorization_code,
                r.is_wx_verify_succ,
                r.is_link_succ,
                r.completed_at,
                r.month
            ],
        )?;
        Ok(())
    }

    fn registration(&mut self, id: i64) -> Result<Option<Registration>> {
        self.one(
            concat!("SELECT ", reg_cols!(), " FROM registrations WHERE id = ?1"),
            [id],
            reg_row,
        )
    }

    fn live_registration_of_ticket(&mut self, ticket: &str) -> Result<Option<Registration>> {
        self.one(
            concat!(
                "SELECT ",
                reg_cols!(),
                " FROM registrations
                 WHERE ticket = ?1 AND status IN ('in_progress', 'succeeded')"
            ),
            [ticket],
            reg_row,
        )
    }

    fn oa_has_registration_in_progress(&mut self, oa_appid: &str) -> Result<bool> {
        Ok(self.count(
            "SELECT COUNT(*) FROM registrations WHERE oa_appid = ?1 AND status = 'in_progress'",
            [oa_appid],
        )? > 0)
    }

    fn count_successes_in_month(&mut self, oa_appid: &str, month: &str) -> Result<u32> {
        Ok(self.count(
            "SELECT COUNT(*) FROM registrations
             WHERE oa_appid = ?1 AND month = ?2 AND status = 'succeeded'",
            [oa_appid, month],
        )? as u32)
    }

    fn count_entity_registrations_in_progress(&mut self, entity_id: i64) -> Result<u32> {
        Ok(self.count(
            "SELECT COUNT(*) FROM registrations WHERE entity_id = ?1 AND status = 'in_progress'",
            [entity_id],
        )? as u32)
    }

    fn registrations(&mut self, oa_appid: Option<&str>, limit: u32) -> Result<Vec<Registration>> {
        match oa_appid {
            Some(oa) => self.all(
                concat!(
                    "SELECT ",
                    reg_cols!(),
                    " FROM registrations WHERE oa_appid = ?1
                     ORDER BY id DESC LIMIT ?2"
                ),
                params![oa, limit],
                reg_row,
            ),
            None => self.all(
                concat!(
                    "SELECT ",
                    reg_cols!(),
                    " FROM registrations ORDER BY id DESC LIMIT ?1"
                ),
                params![limit],
                reg_row,
            ),
        }
    }

    fn insert_push(&mut self, p: &Push) -> Result<i64> {
        self.exec(
            concat!(
                "INSERT INTO pushes (",
                push_insert_cols!(),
                ") VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11)"
            ),
            params![
                p.component_appid,
                p.info_type,
                p.event_url,
                p.encrypt,
                p.created_at,
                p.status.as_str(),
                p.attempts,
                p.next_attempt_at_ms,
                p.last_status,
                p.last_attempt_at_ms,
                p.delivered_at_ms
            ],
        )?;
        Ok(self.conn.last_insert_rowid())
    }

    fn update_push(&mut self, p: &Push) -> Result<()> {
        self.exec(
            "UPDATE pushes SET status=?2, attempts=?3, next_attempt_at_ms=?4, last_status=?5,
                last_attempt_at_ms=?6, delivered_at_ms=?7 WHERE id=?1",
            params![
                p.id,
                p.status.as_str(),
                p.attempts,
                p.next_attempt_at_ms,
                p.last_status,
                p.last_attempt_at_ms,
                p.delivered_at_ms
            ],
        )?;
        Ok(())
    }

    fn due_pushes(&mut self, now_ms: i64, limit: u32) -> Result<Vec<Push>> {
        self.all(
            concat!(
                "SELECT ",
                push_cols!(),
                " FROM pushes WHERE status = 'pending' AND next_attempt_at_ms <= ?1
                 ORDER BY next_attempt_at_ms, id LIMIT ?2"
            ),
            params![now_ms, limit],
            push_row,
        )
    }

    fn claim_due_pushes(&mut self, now_ms: i64, lease_ms: i64, limit: u32) -> Result<Vec<Push>> {
        let due = self.due_pushes(now_ms, limit)?;
        for p in &due {
            self.exec(
                "UPDATE pushes SET next_attempt_at_ms = ?2 WHERE id = ?1",
                [p.id, now_ms + lease_ms],
            )?;
        }
        Ok(due)
    }

    fn pushes(&mut self, component_appid: Option<&str>, limit: u32) -> Result<Vec<Push>> {
        match component_appid {
            Some(c) => self.all(
                concat!(
                    "SELECT ",
                    push_cols!(),
                    " FROM pushes WHERE component_appid = ?1 ORDER BY id DESC LIMIT ?2"
                ),
                params![c, limit],
                push_row,
            ),
            None => self.all(
                concat!(
                    "SELECT ",
                    push_cols!(),
                    " FROM pushes ORDER BY id DESC LIMIT ?1"
                ),
                params![limit],
                push_row,
            ),
        }
    }

    fn abandon_registrations_in_progress(&mut self, claimed_before_ms: i64) -> Result<u64> {
        self.touch(Key::All);
        Ok(self.exec(
            "UPDATE registrations SET status = 'abandoned'
             WHERE status = 'in_progress' AND claimed_at_ms < ?1",
            [claimed_before_ms],
        )? as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Commits `commits` 8,000-byte rows on `path` back to back (as a busy writer does), with
    /// a background checkpointer when `threshold` is given; the WAL file's largest size.
    fn busy_writer(path: &str, commits: usize, threshold: Option<u64>) -> u64 {
        let writer = Connection::open(path).expect("open");
        writer
            .execute_batch(
                "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;
                 PRAGMA wal_autocheckpoint = 0; CREATE TABLE t (b BLOB);",
            )
            .expect("configure");
        let mut checkpoints = threshold.map(|frames| {
            let mut c = Checkpoints::start(path, "NORMAL").expect("checkpointer");
            c.restart_frames = frames;
            c.restart_at = frames;
            c
        });
        let mut largest = 0;
        for _ in 0..commits {
            writer
                .execute("INSERT INTO t VALUES (zeroblob(8000))", [])
                .expect("insert");
            if let Some(c) = &mut checkpoints {
                c.after_batch();
            }
            let wal = std::fs::metadata(format!("{path}-wal")).map_or(0, |m| m.len());
            largest = largest.max(wal);
        }
        drop(checkpoints);
        let rows: i64 = writer
            .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
            .expect("count");
        assert_eq!(rows, commits as i64, "every commit is in the database");
        largest
    }

    #[test]
    fn a_busy_writers_wal_starts_over_once_the_checkpointer_caught_up() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = |name: &str| dir.path().join(name).display().to_string();
        // Without checkpoints the WAL holds every frame; a checkpointer running beside a
        // writer that never pauses never finds the WAL all copied, so only the writer's wait
        // for a last pass lets it start over.
        let unchecked = busy_writer(&path("unchecked.db"), 4000, None);
        let checked = busy_writer(&path("checked.db"), 4000, Some(256));
        assert!(
            checked < unchecked / 2,
            "the WAL grew to {checked} bytes, against {unchecked} with no checkpoints at all"
        );
    }
}
