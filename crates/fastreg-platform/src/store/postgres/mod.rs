//! The PostgreSQL backend: for a team's shared server, and for several fastreg instances on one
//! database.
//!
//! It keeps the SQLite backend's model, so the service layer and every rule stay the same:
//! one writer thread per instance runs batches of jobs in one transaction (group commit, see
//! `super::batch`), and every batch first takes one transaction-scoped advisory lock. Writes
//! are therefore serial across all instances, exactly as on SQLite's single writer: a rule
//! checked in a write transaction holds until its commit, whichever instance checks it. The
//! cost is that writes do not run in parallel across instances; for a sandbox, correctness
//! wins. Reads run on a small pool of reader threads in `REPEATABLE READ READ ONLY`
//! snapshots and never take the lock. A fastregister call the in-process view cannot decide
//! goes to the writer through one more such thread (`ahead_loop`), which reads the whole
//! contexts of every call queued there in one statement, beside the writer's running batch,
//! so that the serial chain reads only what changed since. An instance that finds itself
//! alone on the database (`alone`) answers fastregister from its in-process view without
//! asking the change feed.
//!
//! The client is tokio-postgres driven from this module's own threads, each with a small
//! runtime of its own (which must not be nested in tokio's), with the synchronous `postgres`
//! crate's calls (`client.rs`). The writer sends a job's savepoint and its writes whose answer
//! nothing reads without waiting for them, so they share the round trip of the next statement
//! that is waited for.
//!
//! Durability: `process` commits with `synchronous_commit = off` (the commit is in the
//! server's memory and visible to everyone when fastreg answers, so `kill -9` of fastreg loses
//! nothing; a crash of PostgreSQL itself may lose the last few hundred milliseconds); `full`
//! waits for PostgreSQL's WAL flush before answering.

use std::any::Any;
use std::collections::{BTreeSet, HashMap, VecDeque};
use std::str::FromStr;
use std::sync::{mpsc, Arc, Mutex};
use std::time::Instant;

use anyhow::{anyhow, Context};
use async_trait::async_trait;
use postgres::{Client, NoTls, Statement};

use client::PgClient;

use super::batch::{
    fail_all, run_batch, run_caught, submit, BatchConn, Control, NotBegun, Request,
};
use super::view::View;
use super::{Backend, Durability, Fails, Job, ReadAhead};
use crate::error::{Error, Result};

mod ahead;
mod alone;
mod client;
mod deferred;
mod feed;
mod prefetch;
mod query;
// Test support only: an empty database per test, reached through `crate::testing`.
#[cfg(any(test, feature = "test-support"))]
pub(crate) mod scratch;
mod success;
mod tokens;
mod tx;
use deferred::Deferred;
use feed::Feed;
use prefetch::Known;
use tx::PgTx;

/// Schema migrations, applied in order; `fastreg_schema.version` records how many ran.
const MIGRATIONS: &[&str] = &[
    include_str!("../../../migrations/postgres/0001_init.sql"),
    include_str!("../../../migrations/postgres/0002_worlds.sql"),
    include_str!("../../../migrations/postgres/0003_feed.sql"),
    include_str!("../../../migrations/postgres/0004_foreign_key_indexes.sql"),
    include_str!("../../../migrations/postgres/0005_claims_by_instance.sql"),
    include_str!("../../../migrations/postgres/0006_authorization_lookup.sql"),
    include_str!("../../../migrations/postgres/0007_hot_tables_without_foreign_keys.sql"),
    include_str!("../../../migrations/postgres/0008_tokens_superseded_in_place.sql"),
    include_str!("../../../migrations/postgres/0009_authorizations_without_foreign_key.sql"),
    include_str!("../../../migrations/postgres/0010_tokens_by_authorizer_first.sql"),
];

/// The advisory lock every write transaction takes (any constant; "fastreg" in ASCII).
const WRITE_LOCK: i64 = 0x0066_6173_7472_6567;

/// The advisory lock migrations take, so that instances starting together migrate once.
const MIGRATE_LOCK: i64 = WRITE_LOCK + 1;

/// The first key of the advisory lock each instance holds while it lives (the second is its
/// number, which its claims record: see `0005_claims_by_instance.sql`).
const INSTANCE_LOCK_CLASS: i32 = 0x6672;

/// Most jobs committed together.
const MAX_BATCH: usize = 512;

/// Reader threads (each with its own connection).
const READERS: usize = 4;

/// Most read jobs one reader runs on one snapshot.
const MAX_READ_BATCH: usize = 16;

/// A driver error as the platform's fault. The client's `Display` is often just "db error";
/// the cause is in the source chain, so the message carries the whole chain.
fn fault(e: postgres::Error) -> Error {
    Error::Internal(anyhow!("{}", causes(&e)))
}

/// An error with its causes, `: `-separated.
fn causes(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut next = e.source();
    while let Some(cause) = next {
        let text = cause.to_string();
        if !out.ends_with(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        next = cause.source();
    }
    out
}

/// The PostgreSQL backend.
pub struct PgBackend {
    writer: mpsc::Sender<Request>,
    /// Write jobs that name whole fastregister contexts: read ahead outside the lock first
    /// ([`ahead_loop`]), then queued for the writer.
    ahead: mpsc::Sender<Request>,
    readers: mpsc::Sender<Request>,
    feed: Arc<Feed>,
    /// Dropped with the backend: the thread watching for other instances then stops.
    _alone: mpsc::Sender<()>,
    /// Dropped with the backend: the thread holding this instance's lock then closes its
    /// session (a client of the `postgres` crate is dropped on its own thread, never in tokio).
    _instance: mpsc::Sender<()>,
}

/// A connection and its prepared statements.
struct Conn {
    client: PgClient,
    statements: HashMap<String, Statement>,
}

impl Conn {
    fn connect(config: &tokio_postgres::Config, durability: Durability) -> Result<Conn> {
        let mut client = PgClient::connect(config)
            .map_err(|e| Error::Internal(anyhow!("connecting to PostgreSQL: {}", causes(&e))))?;
        let commit = match durability {
            Durability::Process => "off",
            Durability::Full => "on",
        };
        client
            .batch_execute(&format!(
                "SET synchronous_commit = {commit}; SET TIME ZONE 'UTC';"
            ))
            .map_err(fault)?;
        Ok(Conn {
            client,
            statements: HashMap::new(),
        })
    }

    fn statement(&mut self, sql: &str) -> Result<Statement> {
        if let Some(s) = self.statements.get(sql) {
            return Ok(s.clone());
        }
        let s = self.client.prepare(&placeholders(sql)).map_err(fault)?;
        self.statements.insert(sql.to_string(), s.clone());
        Ok(s)
    }
}

/// A statement of [`super::sql`] in PostgreSQL's placeholder style: `?N` becomes `$N` (no
/// statement has a `?` anywhere else), and `fw()`, the transaction's world (SQLite's function
/// of that name), becomes the parameter after the statement's last one, which
/// [`PgTx`](tx::PgTx) binds to its world.
fn placeholders(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut chars = sql.chars().peekable();
    let mut last = 0u32;
    while let Some(c) = chars.next() {
        let numbered = matches!(c, '?' | '$') && chars.peek().is_some_and(char::is_ascii_digit);
        out.push(if numbered { '$' } else { c });
        if numbered {
            let mut n = 0u32;
            while let Some(d) = chars.peek().and_then(|d| d.to_digit(10)) {
                n = n * 10 + d;
                out.push(chars.next().unwrap_or('0'));
            }
            last = last.max(n);
        }
    }
    out.replace("fw()", &format!("${}", last + 1))
}

/// The writer's read-ahead for a whole batch (`ahead.rs`) runs with the one plan PostgreSQL
/// made for each of its statements (its generic plan) rather than one planned again for every
/// batch's arrays: left to choose, PostgreSQL went over to planning them for each execution
/// once the tables had statistics (`perf` of the writer's backend in `fastreg bench --db`
/// after the refusal scenarios: 7.7 % of it in `GetCachedPlan`, and a fifth fewer tokens per
/// second; generic plans for the token replacements alone gained nothing). Its lookups are by
/// key, so one plan fits every argument. Only around it: a statement whose best plan depends
/// on its argument, such as a world's purge (a small world's rows by index, a large one's by a
/// scan), keeps PostgreSQL's choice.
const GENERIC_PLAN: &str = "SET plan_cache_mode = force_generic_plan";
/// Back to PostgreSQL's choice of plan, after [`GENERIC_PLAN`].
const CHOSEN_PLAN: &str = "RESET plan_cache_mode";

/// A connection that is (re)opened on demand: a thread outlives a dropped connection or a
/// PostgreSQL restart, failing only the jobs that met the fault.
struct Lazy {
    config: tokio_postgres::Config,
    durability: Durability,
    conn: Option<Conn>,
    /// For the writer: the instance's standing, whose lock each new session takes (see
    /// [`alone`]), and when that session may begin its first transaction.
    writer: Option<(Arc<Feed>, Instant)>,
}

impl Lazy {
    fn get(&mut self) -> Result<&mut Conn> {
        if self.conn.as_ref().is_some_and(|c| c.client.is_closed()) {
            self.conn = None;
            if let Some((feed, _)) = &self.writer {
                feed.alone.set_writer(0);
            }
        }
        if self.conn.is_none() {
            let mut conn = Conn::connect(&self.config, self.durability)?;
            if let Some((feed, not_before)) = &mut self.writer {
                let pid = alone::hold_writers_lock(&mut conn)?;
                feed.alone.set_writer(pid);
                *not_before = Instant::now() + alone::GRACE;
            }
            self.conn = Some(conn);
        }
        Ok(self.conn.as_mut().expect("connected above"))
    }

    /// A writer's new session waits out [`alone::GRACE`] before its first transaction.
    fn wait_grace(&self) {
        if let Some((_, not_before)) = &self.writer {
            let wait = not_before.saturating_duration_since(Instant::now());
            if !wait.is_zero() {
                std::thread::sleep(wait);
            }
        }
    }

    /// Opens a transaction with `begin` and runs `first` in it, on a new connection if that
    /// fails (once). A connection dropped while idle (a PostgreSQL restart, an idle timeout, a
    /// terminated backend) is only noticed at its next statement; these are the first of a
    /// transaction, before any job ran, so the reconnect costs no job its answer. `begin` is
    /// sent without waiting (`client.rs`): it shares the round trip of `first`'s first
    /// statement.
    fn begin(
        &mut self,
        begin: &'static str,
        mut first: impl FnMut(&mut Conn) -> Result<()>,
    ) -> Result<&mut Conn> {
        if let Err(e) = self.open(begin, &mut first) {
            tracing::warn!(error = %e, "a PostgreSQL transaction could not begin; retrying on a new connection");
            self.conn = None;
            self.open(begin, &mut first)?;
        }
        self.conn()
    }

    fn open(
        &mut self,
        begin: &'static str,
        first: &mut impl FnMut(&mut Conn) -> Result<()>,
    ) -> Result<()> {
        self.get()?;
        self.wait_grace();
        let conn = self.get()?;
        conn.client.batch_execute_later(begin);
        first(conn)
    }

    fn conn(&mut self) -> Result<&mut Conn> {
        self.conn
            .as_mut()
            .ok_or_else(|| Error::Internal(anyhow!("no PostgreSQL transaction is open")))
    }
}

fn parse_config(url: &str) -> Result<tokio_postgres::Config> {
    let mut config = tokio_postgres::Config::from_str(url).map_err(|e| {
        Error::Internal(anyhow!(
            "invalid PostgreSQL URL {}: {e}",
            super::redact_url(url)
        ))
    })?;
    // An unreachable server must fail a start or a request, not hang it for the OS's TCP
    // timeout; a URL's own connect_timeout wins.
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(std::time::Duration::from_secs(5));
    }
    Ok(config)
}

impl PgBackend {
    /// Connects to the database `url` names, migrates it, and starts the writer and reader
    /// threads. Blocks: call it from a blocking context.
    ///
    /// # Errors
    /// The server cannot be reached, the database is from a newer fastreg, or a migration
    /// fails.
    pub fn open(url: &str, durability: Durability) -> Result<PgBackend> {
        let mut config = parse_config(url)?;
        let (feed, fences) = Feed::new(Arc::new(View::new()));
        let (instance, number) = hold_instance_lock(&config, &feed)?;
        // Every session of this instance knows its number (`claimed_by` of its claims).
        let options = match config.get_options() {
            Some(o) => format!("{o} -c fastreg.instance={number}"),
            None => format!("-c fastreg.instance={number}"),
        };
        config.options(&options);
        // Connect and migrate on the writer's own thread (see the module docs), and wait for
        // the outcome so that a bad URL fails start-up with its cause.
        let (ready_tx, ready_rx) = mpsc::channel::<Result<()>>();
        let (writer, writer_rx) = mpsc::channel::<Request>();
        let wconfig = config.clone();
        let wfeed = feed.clone();
        std::thread::Builder::new()
            .name("fastreg-pg-writer".into())
            .spawn(move || {
                let mut lazy = Lazy {
                    config: wconfig,
                    durability,
                    conn: None,
                    writer: Some((wfeed.clone(), Instant::now())),
                };
                let first = lazy.get().and_then(|c| migrate(&mut c.client));
                let ok = first.is_ok();
                let _ = ready_tx.send(first);
                if ok {
                    writer_loop(lazy, &wfeed, writer_rx);
                }
            })
            .context("starting the PostgreSQL writer thread")?;
        ready_rx
            .recv()
            .map_err(|_| Error::Internal(anyhow!("the PostgreSQL writer thread stopped")))??;

        let (readers, readers_rx) = mpsc::channel::<Request>();
        let readers_rx = Arc::new(Mutex::new(readers_rx));
        for i in 0..READERS {
            let rx = readers_rx.clone();
            let config = config.clone();
            let feed = feed.clone();
            std::thread::Builder::new()
                .name(format!("fastreg-pg-reader-{i}"))
                .spawn(move || reader_loop(config, durability, &feed, rx))
                .context("starting a PostgreSQL reader thread")?;
        }
        let (ahead, ahead_rx) = mpsc::channel::<Request>();
        let (hconfig, hfeed, hwriter) = (config.clone(), feed.clone(), writer.clone());
        std::thread::Builder::new()
            .name("fastreg-pg-ahead".into())
            .spawn(move || ahead_loop(hconfig, durability, &hfeed, &ahead_rx, &hwriter))
            .context("starting the PostgreSQL read-ahead thread")?;
        let (fconfig, ffeed) = (config.clone(), feed.clone());
        std::thread::Builder::new()
            .name("fastreg-pg-feed".into())
            .spawn(move || {
                let connect = || Conn::connect(&fconfig, durability);
                feed::fence_loop(ffeed, connect, fences);
            })
            .context("starting the PostgreSQL change-feed thread")?;
        let (alone, stop) = mpsc::channel::<()>();
        let (aconfig, afeed) = (config.clone(), feed.clone());
        std::thread::Builder::new()
            .name("fastreg-pg-alone".into())
            .spawn(move || {
                let connect = || Conn::connect(&aconfig, durability);
                alone::watch(&afeed, connect, &stop);
            })
            .context("starting the PostgreSQL instance-watching thread")?;
        Ok(PgBackend {
            writer,
            ahead,
            readers,
            feed,
            _alone: alone,
            _instance: instance,
        })
    }
}

/// Starts the thread whose session holds an instance lock of a number no live instance holds,
/// until the returned sender is dropped; the number.
fn hold_instance_lock(
    config: &tokio_postgres::Config,
    feed: &Arc<Feed>,
) -> Result<(mpsc::Sender<()>, i32)> {
    let (ready_tx, ready_rx) = mpsc::channel::<Result<i32>>();
    let (stop, stopped) = mpsc::channel::<()>();
    // The synchronous client: this session only holds a lock.
    let config = postgres::Config::from(config.clone());
    let feed = feed.clone();
    std::thread::Builder::new()
        .name("fastreg-pg-instance".into())
        .spawn(move || {
            let held = config
                .connect(NoTls)
                .map_err(|e| Error::Internal(anyhow!("connecting to PostgreSQL: {}", causes(&e))))
                .and_then(|mut client| Ok((instance_lock(&mut client)?, client)));
            match held {
                Ok((number, mut client)) => {
                    // Its session is one of the instance's own (see `alone`).
                    let pid = client
                        .query_one("SELECT pg_backend_pid()", &[])
                        .and_then(|row| row.try_get(0));
                    match pid {
                        Ok(pid) => feed.alone.set_instance(pid),
                        Err(e) => {
                            let _ = ready_tx.send(Err(fault(e)));
                            return;
                        }
                    }
                    let _ = ready_tx.send(Ok(number));
                    // Until the backend is dropped (the sender with it).
                    let _ = stopped.recv();
                    drop(client);
                }
                Err(e) => {
                    let _ = ready_tx.send(Err(e));
                }
            }
        })
        .context("starting the PostgreSQL instance-lock thread")?;
    let number = ready_rx
        .recv()
        .map_err(|_| Error::Internal(anyhow!("the PostgreSQL instance-lock thread stopped")))??;
    Ok((stop, number))
}

/// Takes an instance lock of a number no live instance holds; the number.
fn instance_lock(client: &mut Client) -> Result<i32> {
    loop {
        let number: i32 = rand::random_range(1..i32::MAX);
        let held: bool = client
            .query_one(
                "SELECT pg_try_advisory_lock($1, $2)",
                &[&INSTANCE_LOCK_CLASS, &number],
            )
            .map_err(fault)?
            .try_get(0)
            .map_err(fault)?;
        if held {
            return Ok(number);
        }
    }
}

fn migrate(client: &mut PgClient) -> Result<()> {
    client.batch_execute("BEGIN").map_err(fault)?;
    match migrate_in(client) {
        Ok(()) => client.batch_execute("COMMIT").map_err(fault),
        Err(e) => {
            let _ = client.batch_execute("ROLLBACK");
            Err(e)
        }
    }
}

fn migrate_in(tx: &mut PgClient) -> Result<()> {
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATE_LOCK])
        .map_err(fault)?;
    tx.batch_execute("CREATE TABLE IF NOT EXISTS fastreg_schema (version BIGINT NOT NULL)")
        .map_err(fault)?;
    let version: i64 = match tx
        .query_opt("SELECT version FROM fastreg_schema", &[])
        .map_err(fault)?
    {
        Some(row) => row.try_get(0).map_err(fault)?,
        None => {
            tx.execute("INSERT INTO fastreg_schema (version) VALUES (0)", &[])
                .map_err(fault)?;
            0
        }
    };
    let known = MIGRATIONS.len() as i64;
    if version > known {
        return Err(Error::Internal(anyhow!(
            "database schema version {version} is newer than this fastreg ({known}); upgrade fastreg"
        )));
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
        let n = i as i64 + 1;
        tx.batch_execute(sql)
            .map_err(|e| Error::Internal(anyhow!("migration {n} failed: {e}")))?;
        tx.execute("UPDATE fastreg_schema SET version = $1", &[&n])
            .map_err(fault)?;
    }
    Ok(())
}

fn writer_loop(mut lazy: Lazy, feed: &Arc<Feed>, rx: mpsc::Receiver<Request>) {
    let mut writer = Writer {
        lazy: &mut lazy,
        feed,
        changed: BTreeSet::new(),
        committed: None,
        next: 0,
        savepoints: false,
        opening: None,
        made: None,
        to_release: None,
        failed_from: None,
        ids: VecDeque::new(),
        known: Known::default(),
        deferred: Vec::new(),
    };
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(r) => batch.push(r),
                Err(_) => break,
            }
        }
        run_batch(&mut writer, batch);
    }
}

fn reader_loop(
    config: tokio_postgres::Config,
    durability: Durability,
    feed: &Feed,
    rx: Arc<Mutex<mpsc::Receiver<Request>>>,
) {
    let mut lazy = Lazy {
        config,
        durability,
        conn: None,
        writer: None,
    };
    loop {
        // The jobs queued at this moment share one snapshot, which begins after each of them
        // was queued (so each still sees every write committed before it asked).
        let batch = {
            let Ok(rx) = rx.lock() else { return };
            let Ok(first) = rx.recv() else { return };
            let mut batch = vec![first];
            batch.extend(rx.try_iter().take(MAX_READ_BATCH - 1));
            batch
        };
        // Before the snapshot begins (see the view's docs); the catch-up is its first read, so
        // the view then holds every ticket the snapshot holds. Even an instance alone catches
        // up here: its snapshot begins later than a check of being alone, and a newcomer's
        // first commit could fall between the two after a long enough stall.
        let epoch = feed.view.epoch();
        let begun = lazy
            .begin("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY", |conn| {
                feed.catch_up(conn)
            })
            .map(|_| ());
        let conn = match begun {
            Ok(()) => lazy.conn(),
            Err(e) => Err(e),
        };
        let conn = match conn {
            Ok(conn) => conn,
            Err(e) => {
                fail_all(batch, &e.to_string());
                if let Ok(conn) = lazy.conn() {
                    let _ = conn.client.batch_execute("ROLLBACK");
                }
                continue;
            }
        };
        for r in batch {
            let mut tx = PgTx::reader(conn, &feed.view, epoch);
            let out = run_caught(&mut tx, r.job);
            let _ = r.reply.send(out);
        }
        let _ = conn.client.batch_execute("ROLLBACK");
    }
}

/// Reads ahead, on a connection of its own and outside the write lock, the whole fastregister
/// contexts that the write jobs queued here name, for as many as are queued at once, then
/// passes the jobs on to the writer (see [`read_contexts_ahead`]). The writer's
/// batch then finds them in the view, and its own transaction, the cluster's one serial chain,
/// reads only what changed since (the reading here runs beside the writer's previous batch).
/// Should the read fail, the jobs go on as they are, and the writer reads the contexts itself.
fn ahead_loop(
    config: tokio_postgres::Config,
    durability: Durability,
    feed: &Feed,
    rx: &mpsc::Receiver<Request>,
    writer: &mpsc::Sender<Request>,
) {
    let mut lazy = Lazy {
        config,
        durability,
        conn: None,
        writer: None,
    };
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        batch.extend(rx.try_iter().take(MAX_BATCH - 1));
        let mut aheads: Vec<&mut ReadAhead> = batch.iter_mut().map(|r| &mut r.ahead).collect();
        if let Err(e) = read_contexts_ahead(&mut lazy, feed, &mut aheads) {
            tracing::warn!(error = %e, "reading fastregister contexts ahead failed; the writer reads them");
        }
        for r in batch {
            if let Err(mpsc::SendError(r)) = writer.send(r) {
                let _ = r.reply.send(Err(Error::Internal(anyhow!(
                    "the PostgreSQL writer thread has stopped"
                ))));
            }
        }
    }
}

/// One read-ahead transaction of [`ahead_loop`], begun as a reader's is, in one round trip:
/// the contexts' read goes out first and the catch-up, which waits for both, after it. Both
/// read the transaction's one snapshot, so the view still holds every ticket of that snapshot
/// before anything read is remembered. The `ROLLBACK` is not waited for either: it goes out
/// at once and is answered with the next transaction's first round trip, so that the jobs go
/// on to the writer without waiting for it.
fn read_contexts_ahead(lazy: &mut Lazy, feed: &Feed, aheads: &mut [&mut ReadAhead]) -> Result<()> {
    let epoch = feed.view.epoch();
    let mut sent = Vec::new();
    let conn = lazy.begin("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY", |conn| {
        sent = PgTx::reader(conn, &feed.view, epoch).send_contexts_ahead(aheads)?;
        feed.catch_up(conn)?;
        conn.client.settle().map_err(fault)
    })?;
    let out = PgTx::reader(conn, &feed.view, epoch).remember_contexts_ahead(sent, aheads);
    conn.client.batch_execute_later("ROLLBACK");
    conn.client.push();
    out
}

/// The writer's connection as a [`BatchConn`], with what its open batch changed.
struct Writer<'c> {
    lazy: &'c mut Lazy,
    feed: &'c Arc<Feed>,
    /// The view keys the open batch touched, for the change feed.
    changed: BTreeSet<String>,
    /// The feed row of the batch that just committed.
    committed: Option<i64>,
    /// The place in the batch of the job that runs next.
    next: usize,
    /// Whether the batch's jobs run in savepoints (a batch of one job does not).
    savepoints: bool,
    /// The job whose savepoint statement waits for its first statement (`PgClient::open`).
    opening: Option<usize>,
    /// The last job whose savepoint was made.
    made: Option<usize>,
    /// A savepoint made and not released yet, released with the next one made.
    to_release: Option<usize>,
    /// After a commit: the first job not written, and why (see `BatchConn::failed_from`).
    failed_from: Option<(usize, String)>,
    /// Registration ids drawn for the open batch and not used yet (`ahead.rs`).
    ids: VecDeque<i64>,
    /// Entities and linked counts as the open batch has left them (`prefetch.rs`).
    known: Known,
    /// Writes put off (`deferred.rs`).
    deferred: Vec<Deferred>,
}

impl Writer<'_> {
    /// The writer's transaction on its connection, in the writer's role.
    fn tx(&mut self) -> Result<PgTx<'_>> {
        let feed = self.feed;
        Ok(PgTx::writer(
            self.lazy.conn()?,
            &feed.view,
            &mut self.changed,
            &mut self.ids,
            &mut self.known,
            &mut self.deferred,
        ))
    }
}

impl Writer<'_> {
    /// Settles the running job's savepoint: made if its statement went out with one of the
    /// job's, else dropped (the job sent nothing, and nothing needs undoing or releasing).
    /// The job, if it was made.
    fn settle_opening(&mut self) -> Result<Option<usize>> {
        let Some(job) = self.opening.take() else {
            return Ok(None);
        };
        if self.lazy.conn()?.client.take_opening().is_some() {
            return Ok(None);
        }
        // What it was to release went out with it.
        self.to_release = None;
        self.made = Some(job);
        Ok(Some(job))
    }

    /// Opens the batch's transaction in one round trip: `BEGIN`, the lock, the reads ahead of
    /// `ahead` that no view decides ([`PgTx::send_ahead`]) and the catch-up run in that order,
    /// and the catch-up waits for them all. Under the lock no other instance commits: the view
    /// is made current, and the batch reads through it.
    fn open(&mut self, ahead: &[&ReadAhead]) -> Result<ahead::Sent> {
        let feed = self.feed;
        let mut sent = ahead::Sent::default();
        self.lazy.begin("BEGIN", |conn| {
            let lock = conn.statement("SELECT pg_advisory_xact_lock($1)")?;
            conn.client.execute_later(&lock, &[&WRITE_LOCK])?;
            sent = PgTx::writer(
                conn,
                &feed.view,
                &mut self.changed,
                &mut self.ids,
                &mut self.known,
                &mut self.deferred,
            )
            .send_ahead(ahead)?;
            feed.catch_up(conn)?;
            conn.client.settle().map_err(fault)
        })?;
        let client = &mut self.lazy.conn()?.client;
        client.clear_failed();
        client.tag(0);
        client.take_opening();
        self.next = 0;
        self.savepoints = false;
        self.opening = None;
        self.made = None;
        self.to_release = None;
        self.failed_from = None;
        self.deferred.clear();
        Ok(sent)
    }
}

impl BatchConn for Writer<'_> {
    fn control(&mut self, what: Control) -> Result<()> {
        // The job a savepoint statement belongs to: the next one for an opening, the one that
        // just ran for its rollback or release.
        let last = self.next.saturating_sub(1);
        let sql = match what {
            Control::Begin => return self.open(&[]).map(|_| ()),
            // A job's savepoint is made only if the job sends a statement, with its first one
            // (`PgClient::open`), so that a job which writes nothing (a refusal, a read, a write
            // put off to the commit) costs the database nothing; should it fail, that statement
            // fails, and with it the job. The last savepoint made is released with the next.
            Control::Savepoint | Control::ReleaseThenSavepoint => {
                let n = self.next;
                let made = self.settle_opening()?;
                if matches!(what, Control::ReleaseThenSavepoint) && made.is_some() {
                    self.to_release = made;
                }
                let sql = match self.to_release {
                    Some(r) => format!("RELEASE j{r}; SAVEPOINT j{n}"),
                    None => format!("SAVEPOINT j{n}"),
                };
                // The jobs before this one have ended, so their writes put off are settled:
                // once enough have gathered they go out, and the database writes them while
                // the writer runs the next jobs, rather than all at the commit.
                if self.deferred.len() >= deferred::SEND_AT {
                    let conn = self.lazy.conn()?;
                    deferred::send(conn, std::mem::take(&mut self.deferred))?;
                    conn.client.push();
                }
                let client = &mut self.lazy.conn()?.client;
                client.tag(n);
                client.set_opening(sql);
                self.opening = Some(n);
                self.savepoints = true;
                return Ok(());
            }
            // A job whose savepoint was never made wrote nothing.
            Control::Release if self.made != Some(last) => return Ok(()),
            Control::Release => format!("RELEASE j{last}"),
            Control::RollbackTo => {
                // Its writes put off and not sent yet are dropped; any it sent went out after
                // its savepoint, and are undone with it.
                self.deferred.retain(|d| d.job != last);
                self.settle_opening()?;
                if self.made != Some(last) {
                    return Ok(());
                }
                let client = &mut self.lazy.conn()?.client;
                // What the jobs before sent without waiting is settled first: a failure of an
                // earlier job's has aborted the transaction, which no rollback to this job's
                // savepoint (never made) repairs; the commit then undoes from that job on.
                let _ = client.settle();
                if let Some((first, why)) = client.failed() {
                    if *first < last {
                        return Err(Error::Internal(anyhow!("{why}")));
                    }
                }
                client.clear_failed();
                // What the job changed is undone, and what the writer knew may have followed it.
                self.known.clear();
                format!("ROLLBACK TO j{last}")
            }
            Control::Commit => {
                self.settle_opening()?;
                let conn = self.lazy.conn()?;
                // Every job's statements are checked here, once for the batch.
                let _ = conn.client.settle();
                if let Some((first, why)) = conn.client.failed().cloned() {
                    // Nothing from that job on was written: back to its savepoint, and the
                    // jobs before it commit. A lone job has none: the batch fails.
                    let healed = self.savepoints
                        && conn
                            .client
                            .batch_execute(&format!("ROLLBACK TO j{first}"))
                            .is_ok();
                    if !healed {
                        return Err(Error::Internal(anyhow!("{why}")));
                    }
                    conn.client.clear_failed();
                    self.deferred.retain(|d| d.job < first);
                    self.failed_from = Some((first, why));
                }
                // The rest of the writes put off, the feed's append and the COMMIT go out
                // together, and the COMMIT's answer settles them all: should a write or the
                // append fail, PostgreSQL ends the failed transaction at the COMMIT without
                // committing anything, and that failure is the batch's.
                deferred::send(conn, std::mem::take(&mut self.deferred))?;
                let appended = Feed::append_later(conn, &self.changed)?;
                conn.client.batch_execute("COMMIT").map_err(fault)?;
                self.committed = appended.and_then(|a| Feed::appended(conn, a));
                return Ok(());
            }
            Control::Rollback => {
                self.deferred.clear();
                if let Ok(conn) = self.lazy.conn() {
                    conn.client.take_opening();
                }
                self.opening = None;
                self.failed_from = None;
                "ROLLBACK".to_string()
            }
        };
        self.lazy.conn()?.client.batch_execute(&sql).map_err(fault)
    }

    fn failed_from(&mut self) -> Option<(usize, String)> {
        self.failed_from.take()
    }

    fn begin(&mut self, ahead: &[&ReadAhead]) -> std::result::Result<(), NotBegun> {
        let sent = self.open(ahead).map_err(NotBegun::Begin)?;
        if ahead.is_empty() {
            return Ok(());
        }
        self.tx()
            .and_then(|mut tx| tx.read_ahead(ahead, sent))
            .map_err(NotBegun::ReadAhead)
    }

    fn run(&mut self, job: Job) -> Result<Box<dyn Any + Send>> {
        let n = self.next;
        self.next += 1;
        let mut tx = self.tx()?;
        tx.conn.client.tag(n);
        // What the job sends without waiting is checked with the next job's first answer, or
        // at the commit (`Control::Commit`): a job costs no round trip of its own when its last
        // statements need no answer. It goes out now, so that the database runs it while the
        // writer runs the next job.
        let out = run_caught(&mut tx, job);
        tx.conn.client.push();
        out
    }

    fn ended(&mut self) {
        self.deferred.clear();
        self.ids.clear();
        self.known.clear();
        self.feed.view.publish();
        if let Some(seq) = self.committed.take() {
            self.feed.committed(seq);
        }
        self.changed.clear();
    }
}

#[async_trait]
impl Backend for PgBackend {
    async fn write(&self, job: Job, ahead: ReadAhead, fails: Fails) -> Result<Box<dyn Any + Send>> {
        let queue = if ahead.contexts.is_empty() {
            &self.writer
        } else {
            &self.ahead
        };
        submit(queue, job, ahead, fails, "the PostgreSQL writer thread").await
    }

    async fn read(&self, job: Job) -> Result<Box<dyn Any + Send>> {
        submit(
            &self.readers,
            job,
            ReadAhead::default(),
            Fails::AnyTime,
            "the PostgreSQL reader pool",
        )
        .await
    }

    fn name(&self) -> &'static str {
        "postgres"
    }

    fn shared(&self) -> bool {
        true
    }

    async fn synced_view(&self) -> Option<&View> {
        self.feed.fence().await.then_some(&*self.feed.view)
    }

    fn alone(&self) -> Option<bool> {
        Some(self.feed.alone.holds())
    }
}

#[cfg(test)]
mod tests {
    use super::placeholders;

    #[test]
    fn numbered_placeholders_become_dollar_placeholders_and_nothing_else_changes() {
        assert_eq!(
            placeholders("UPDATE t SET a=?2, b='x?' WHERE id=?10 AND c = $3"),
            "UPDATE t SET a=$2, b='x?' WHERE id=$10 AND c = $3"
        );
    }

    #[test]
    fn the_world_function_becomes_the_parameter_after_the_last() {
        assert_eq!(
            placeholders("SELECT a FROM t WHERE world = fw() AND b = ?1 AND c = ?12"),
            "SELECT a FROM t WHERE world = $13 AND b = $1 AND c = $12"
        );
        assert_eq!(
            placeholders("INSERT INTO t (world, a) VALUES (fw(), $1) RETURNING id"),
            "INSERT INTO t (world, a) VALUES ($2, $1) RETURNING id"
        );
        assert_eq!(
            placeholders("SELECT key FROM worlds WHERE world = fw()"),
            "SELECT key FROM worlds WHERE world = $1"
        );
    }
}
