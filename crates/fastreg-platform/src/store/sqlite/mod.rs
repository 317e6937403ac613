//! The SQLite backend: one file in WAL mode, one writer thread, a few reader threads.
//!
//! Why one writer thread: SQLite allows one writer at a time anyway, and owning the write
//! connection on a dedicated thread lets it take every job queued while the previous commit
//! ran and execute them in one transaction, each inside its own SAVEPOINT (a job that fails
//! rolls back alone), then commit once and only then answer every job. Under load that is many
//! registrations per commit (group commit); idle, it is one job per commit with no waiting. A
//! job that fails only before its first write (fastregister, api_authorizer_token) runs without
//! a savepoint: the writer counts the rows written (`BatchConn::changes`) to tell whether one
//! that failed left anything to undo (`batch.rs`).
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
use rusqlite::{Connection, OpenFlags};

use super::batch::{fail_all, run_batch, run_caught, submit, BatchConn, Control, Request};
use super::view::{ticket_hash, View};
use super::{Backend, Durability, Fails, Job, ReadAhead};
use crate::domain::DEFAULT_WORLD;
use crate::error::{Error, Result};

mod query;
mod tx;

use tx::SqliteTx;

/// A driver error as the platform's fault.
fn fault(e: rusqlite::Error) -> Error {
    Error::Internal(e.into())
}

thread_local! {
    /// The world the transaction running on this thread acts in: what `fw()` answers.
    static WORLD: std::cell::Cell<i64> = const { std::cell::Cell::new(0) };
}

/// Sets the world `fw()` answers on this thread (each connection lives on one thread).
pub(super) fn enter_world(world: i64) {
    WORLD.with(|w| w.set(world));
}

/// Registers `fw()`, the world of the transaction running on the connection's thread, which
/// every statement of [`crate::store::sql`] filters by. A function rather than a parameter so
/// that the statements and their calls stay as they were: a job sets its world once
/// ([`crate::store::Tx::set_world`]) and every statement it runs is scoped to it.
fn register_world_function(conn: &Connection) -> rusqlite::Result<()> {
    use rusqlite::functions::FunctionFlags;
    conn.create_scalar_function(
        "fw",
        0,
        FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC,
        |_| Ok(WORLD.with(std::cell::Cell::get)),
    )
}

/// Schema migrations, applied in order; `PRAGMA user_version` records how many ran.
const MIGRATIONS: &[&str] = &[
    include_str!("../../../migrations/sqlite/0001_init.sql"),
    include_str!("../../../migrations/sqlite/0002_pushes.sql"),
    include_str!("../../../migrations/sqlite/0003_entity_counts.sql"),
    include_str!("../../../migrations/sqlite/0004_registration_claims.sql"),
    include_str!("../../../migrations/sqlite/0005_worlds.sql"),
    include_str!("../../../migrations/sqlite/0006_month_count_by_oa.sql"),
];

/// Most jobs committed together.
const MAX_BATCH: usize = 512;

/// WAL length, in frames (pages), past which the writer lets the checkpointer catch up
/// completely so that the WAL starts over: about 128 MB. Each catch-up holds the writer for a
/// pass with its fsyncs (about 10 ms on the benchmark's hosts), and a success appends about a
/// dozen frames, so under sustained successes a WAL of 32 MB stopped the writer about nine
/// times a second; 128 MB stops it a quarter as often (BENCHMARKS.md, "How it got here", the
/// seventh session).
const WAL_RESTART_FRAMES: u64 = 32_768;

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
/// compete for the cores.
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
            Connection::open_in_memory().map_err(fault)?
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
        register_world_function(&conn).map_err(fault)?;
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
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(fault)?;
    let known = MIGRATIONS.len() as i64;
    if version > known {
        return Err(Error::Internal(anyhow!(
            "database schema version {version} is newer than this fastreg ({known}); upgrade fastreg"
        )));
    }
    // A migration may rebuild tables that others refer to (0005); foreign keys are checked
    // again as a whole before it commits.
    conn.execute_batch("PRAGMA foreign_keys = OFF;")
        .map_err(fault)?;
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
        let n = i + 1;
        conn.execute_batch(&format!("BEGIN IMMEDIATE;\n{sql}\n"))
            .and_then(|()| {
                let broken = conn
                    .prepare("PRAGMA foreign_key_check")?
                    .query([])?
                    .next()?
                    .is_some();
                if broken {
                    return Err(rusqlite::Error::UserFunctionError(
                        "a foreign key no longer holds".into(),
                    ));
                }
                conn.execute_batch(&format!("PRAGMA user_version = {n};\nCOMMIT;"))
            })
            .map_err(|e| {
                let _ = conn.execute_batch("ROLLBACK");
                Error::Internal(anyhow!("migration {n} failed: {e}"))
            })?;
    }
    conn.execute_batch("PRAGMA foreign_keys = ON;")
        .map_err(fault)?;
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
/// the WAL is past `WAL_RESTART_FRAMES`, the writer waits between two batches for one pass,
/// which copies only what the last batches appended; its next write then starts the WAL over.
/// If a reader held that pass back, the writer tries again a quarter of the way further on.
struct Checkpoints {
    wake: mpsc::SyncSender<Wake>,
    /// The WAL's length at the checkpointer's last pass.
    wal_frames: Arc<AtomicU64>,
    /// The length at which the writer next waits for a pass.
    restart_at: u64,
    /// `WAL_RESTART_FRAMES` (smaller in tests).
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
            Control::ReleaseThenSavepoint => {
                control(self.conn, "RELEASE job").map_err(fault)?;
                "SAVEPOINT job"
            }
            Control::RollbackTo => "ROLLBACK TO job",
            Control::Commit => "COMMIT",
            Control::Rollback => "ROLLBACK",
        };
        control(self.conn, sql).map_err(fault)
    }

    fn run(&mut self, job: Job) -> Result<Box<dyn Any + Send>> {
        enter_world(DEFAULT_WORLD);
        let mut tx = SqliteTx {
            conn: self.conn,
            world: DEFAULT_WORLD,
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

    fn changes(&mut self) -> Option<u64> {
        // Every row an INSERT, UPDATE or DELETE wrote; a statement that failed undid its own.
        Some(self.conn.total_changes())
    }
}

fn open_reader(path: &str) -> rusqlite::Result<Connection> {
    let c = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    c.execute_batch("PRAGMA busy_timeout = 5000; PRAGMA query_only = ON;")?;
    c.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    register_world_function(&c)?;
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
            fail_all(batch, &format!("BEGIN failed: {e}"));
            continue;
        }
        for r in batch {
            enter_world(DEFAULT_WORLD);
            let mut tx = SqliteTx {
                conn: &conn,
                world: DEFAULT_WORLD,
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
    async fn write(
        &self,
        job: Job,
        _ahead: ReadAhead,
        fails: Fails,
    ) -> Result<Box<dyn Any + Send>> {
        // The writer's reads are in-process calls: nothing to gain by reading ahead.
        submit(
            &self.writer,
            job,
            ReadAhead::default(),
            fails,
            "the SQLite writer thread",
        )
        .await
    }

    async fn read(&self, job: Job) -> Result<Box<dyn Any + Send>> {
        match &self.readers {
            Some(readers) => {
                submit(
                    readers,
                    job,
                    ReadAhead::default(),
                    Fails::AnyTime,
                    "the SQLite reader threads",
                )
                .await
            }
            None => self.write(job, ReadAhead::default(), Fails::AnyTime).await,
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
