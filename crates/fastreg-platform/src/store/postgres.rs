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
//! snapshots and never take the lock.
//!
//! The client is the synchronous `postgres` crate, used only on this module's own threads
//! (it runs its own small runtime, which must not be nested in tokio's).
//!
//! Durability: `process` commits with `synchronous_commit = off` (the commit is in the
//! server's memory and visible to everyone when fastreg answers, so `kill -9` of fastreg loses
//! nothing; a crash of PostgreSQL itself may lose the last few hundred milliseconds); `full`
//! waits for PostgreSQL's WAL flush before answering.

use std::any::Any;
use std::collections::HashMap;
use std::str::FromStr;
use std::sync::{mpsc, Arc, Mutex};

use anyhow::{anyhow, Context};
use async_trait::async_trait;
use postgres::types::ToSql;
use postgres::{Client, NoTls, Row, Statement};

use super::batch::{run_batch, run_caught, submit, BatchConn, Control, Request};
use super::{Backend, Durability, Job, Tx};
use crate::clock::system_now_ms;
use crate::domain::*;
use crate::error::{causes, Error, Result};

/// Schema migrations, applied in order; `fastreg_schema.version` records how many ran.
const MIGRATIONS: &[&str] = &[include_str!("../../migrations/postgres/0001_init.sql")];

/// The advisory lock every write transaction takes (any constant; "fastreg" in ASCII).
const WRITE_LOCK: i64 = 0x0066_6173_7472_6567;

/// The advisory lock migrations take, so that instances starting together migrate once.
const MIGRATE_LOCK: i64 = WRITE_LOCK + 1;

/// Most jobs committed together.
const MAX_BATCH: usize = 512;

/// Reader threads (each with its own connection).
const READERS: usize = 4;

/// The PostgreSQL backend.
pub struct PgBackend {
    writer: mpsc::Sender<Request>,
    readers: mpsc::Sender<Request>,
}

/// A connection and its prepared statements.
struct Conn {
    client: Client,
    statements: HashMap<String, Statement>,
}

impl Conn {
    fn connect(config: &postgres::Config, durability: Durability) -> Result<Conn> {
        let mut client = config
            .connect(NoTls)
            .map_err(|e| Error::Internal(anyhow!("connecting to PostgreSQL: {}", causes(&e))))?;
        let commit = match durability {
            Durability::Process => "off",
            Durability::Full => "on",
        };
        client.batch_execute(&format!(
            "SET synchronous_commit = {commit}; SET TIME ZONE 'UTC';"
        ))?;
        Ok(Conn {
            client,
            statements: HashMap::new(),
        })
    }

    fn statement(&mut self, sql: &str) -> Result<Statement> {
        if let Some(s) = self.statements.get(sql) {
            return Ok(s.clone());
        }
        let s = self.client.prepare(sql)?;
        self.statements.insert(sql.to_string(), s.clone());
        Ok(s)
    }
}

/// A connection that is (re)opened on demand: a thread outlives a dropped connection or a
/// PostgreSQL restart, failing only the jobs that met the fault.
struct Lazy {
    config: postgres::Config,
    durability: Durability,
    conn: Option<Conn>,
}

impl Lazy {
    fn get(&mut self) -> Result<&mut Conn> {
        if self.conn.as_ref().is_some_and(|c| c.client.is_closed()) {
            self.conn = None;
        }
        if self.conn.is_none() {
            self.conn = Some(Conn::connect(&self.config, self.durability)?);
        }
        Ok(self.conn.as_mut().expect("connected above"))
    }

    /// Opens a transaction with `begin`, on a new connection if the current one turns out to be
    /// dead. A connection dropped while idle (a PostgreSQL restart, an idle timeout, a
    /// terminated backend) is only noticed at its next statement; this is the first statement
    /// of a transaction, before any job ran, so the reconnect costs no job its answer.
    fn begin(&mut self, begin: &str) -> Result<&mut Conn> {
        let first = self.get()?.client.batch_execute(begin);
        if let Err(e) = first {
            tracing::warn!(error = %causes(&e), "a PostgreSQL connection failed; reconnecting");
            self.conn = None;
            self.get()?.client.batch_execute(begin)?;
        }
        Ok(self.conn.as_mut().expect("connected above"))
    }

    fn conn(&mut self) -> Result<&mut Conn> {
        self.conn
            .as_mut()
            .ok_or_else(|| Error::Internal(anyhow!("no PostgreSQL transaction is open")))
    }
}

fn parse_config(url: &str) -> Result<postgres::Config> {
    let mut config = postgres::Config::from_str(url).map_err(|e| {
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
        let config = parse_config(url)?;
        // Connect and migrate on the writer's own thread (see the module docs), and wait for
        // the outcome so that a bad URL fails start-up with its cause.
        let (ready_tx, ready_rx) = mpsc::channel::<Result<()>>();
        let (writer, writer_rx) = mpsc::channel::<Request>();
        let wconfig = config.clone();
        std::thread::Builder::new()
            .name("fastreg-pg-writer".into())
            .spawn(move || {
                let mut lazy = Lazy {
                    config: wconfig,
                    durability,
                    conn: None,
                };
                let first = lazy.get().and_then(|c| migrate(&mut c.client));
                let ok = first.is_ok();
                let _ = ready_tx.send(first);
                if ok {
                    writer_loop(lazy, writer_rx);
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
            std::thread::Builder::new()
                .name(format!("fastreg-pg-reader-{i}"))
                .spawn(move || reader_loop(config, durability, rx))
                .context("starting a PostgreSQL reader thread")?;
        }
        Ok(PgBackend { writer, readers })
    }
}

fn migrate(client: &mut Client) -> Result<()> {
    let mut tx = client.transaction()?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATE_LOCK])?;
    tx.batch_execute("CREATE TABLE IF NOT EXISTS fastreg_schema (version BIGINT NOT NULL)")?;
    let version: i64 = match tx.query_opt("SELECT version FROM fastreg_schema", &[])? {
        Some(row) => row.try_get(0)?,
        None => {
            tx.execute("INSERT INTO fastreg_schema (version) VALUES (0)", &[])?;
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
        tx.execute("UPDATE fastreg_schema SET version = $1", &[&n])?;
    }
    tx.commit()?;
    Ok(())
}

fn writer_loop(mut lazy: Lazy, rx: mpsc::Receiver<Request>) {
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(r) => batch.push(r),
                Err(_) => break,
            }
        }
        run_batch(&mut Writer(&mut lazy), batch);
    }
}

fn reader_loop(
    config: postgres::Config,
    durability: Durability,
    rx: Arc<Mutex<mpsc::Receiver<Request>>>,
) {
    let mut lazy = Lazy {
        config,
        durability,
        conn: None,
    };
    loop {
        let next = rx.lock().map(|r| r.recv());
        let Ok(Ok(req)) = next else { return };
        let out = lazy
            .begin("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            .and_then(|conn| {
                let out = run_caught(&mut PgTx { conn }, req.job);
                let _ = conn.client.batch_execute("ROLLBACK");
                out
            });
        let _ = req.reply.send(out);
    }
}

/// The writer's connection as a [`BatchConn`].
struct Writer<'c>(&'c mut Lazy);

impl BatchConn for Writer<'_> {
    fn control(&mut self, what: Control) -> Result<()> {
        let sql = match what {
            Control::Begin => {
                let conn = self.0.begin("BEGIN")?;
                let lock = conn.statement("SELECT pg_advisory_xact_lock($1)")?;
                conn.client.execute(&lock, &[&WRITE_LOCK])?;
                return Ok(());
            }
            Control::Savepoint => "SAVEPOINT job",
            Control::Release => "RELEASE job",
            Control::RollbackTo => "ROLLBACK TO job",
            Control::Commit => "COMMIT",
            Control::Rollback => "ROLLBACK",
        };
        Ok(self.0.conn()?.client.batch_execute(sql)?)
    }

    fn run(&mut self, job: Job) -> Result<Box<dyn Any + Send>> {
        run_caught(
            &mut PgTx {
                conn: self.0.conn()?,
            },
            job,
        )
    }
}

#[async_trait]
impl Backend for PgBackend {
    async fn write(&self, job: Job) -> Result<Box<dyn Any + Send>> {
        submit(&self.writer, job, "the PostgreSQL writer thread").await
    }

    async fn read(&self, job: Job) -> Result<Box<dyn Any + Send>> {
        submit(&self.readers, job, "the PostgreSQL reader pool").await
    }

    fn name(&self) -> &'static str {
        "postgres"
    }

    fn shared(&self) -> bool {
        true
    }
}

/// An empty database of its own, beside the one a server URL names, for a test or a benchmark;
/// dropped (connections and all) with this value. Creating and dropping block; both may be
/// called from async code.
#[derive(Debug)]
pub struct ScratchDatabase {
    base_url: String,
    url: String,
}

impl ScratchDatabase {
    /// Creates the database through the server `base_url` names.
    ///
    /// # Errors
    /// The server cannot be reached or refuses `CREATE DATABASE`.
    pub fn create(base_url: &str) -> Result<ScratchDatabase> {
        Ok(ScratchDatabase {
            url: scratch_database(base_url)?,
            base_url: base_url.to_string(),
        })
    }

    /// The scratch database's URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The URL it was created through.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }
}

impl Drop for ScratchDatabase {
    fn drop(&mut self) {
        if let Err(e) = drop_scratch_database(&self.base_url, &self.url) {
            eprintln!("could not drop the scratch database: {e}");
        }
    }
}

fn scratch_database(base_url: &str) -> Result<String> {
    let config = parse_config(base_url)?;
    let name = format!(
        "fastreg_scratch_{}",
        crate::secrets::alnum(12).to_lowercase()
    );
    let sql = format!("CREATE DATABASE {name}");
    on_own_thread(move || {
        let mut client = config.connect(NoTls)?;
        client.batch_execute(&sql)?;
        Ok(())
    })?;
    let mut url = url::Url::parse(base_url)
        .map_err(|e| Error::Internal(anyhow!("invalid PostgreSQL URL: {e}")))?;
    url.set_path(&name);
    Ok(url.to_string())
}

fn drop_scratch_database(base_url: &str, scratch_url: &str) -> Result<()> {
    let config = parse_config(base_url)?;
    let name = url::Url::parse(scratch_url)
        .map_err(|e| Error::Internal(anyhow!("invalid PostgreSQL URL: {e}")))?
        .path()
        .trim_start_matches('/')
        .to_string();
    if !name.starts_with("fastreg_scratch_")
        || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    {
        return Err(Error::Internal(anyhow!(
            "{name:?} is not a scratch database"
        )));
    }
    on_own_thread(move || {
        let mut client = config.connect(NoTls)?;
        client.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))?;
        Ok(())
    })
}

/// Runs blocking client work on a thread of its own, so that it may be called from anywhere,
/// async code included.
fn on_own_thread(
    f: impl FnOnce() -> std::result::Result<(), postgres::Error> + Send + 'static,
) -> Result<()> {
    std::thread::spawn(f)
        .join()
        .map_err(|_| Error::Internal(anyhow!("PostgreSQL helper thread panicked")))?
        .map_err(|e| Error::Internal(anyhow!("PostgreSQL: {e}")))
}

/// [`Tx`] over a connection inside a transaction.
struct PgTx<'c> {
    conn: &'c mut Conn,
}

type Params<'a> = &'a [&'a (dyn ToSql + Sync)];

fn sets_to_json(sets: &[i64]) -> String {
    serde_json::to_string(sets).unwrap_or_else(|_| "[]".into())
}

fn json_vec<T: serde::de::DeserializeOwned>(s: &str) -> Result<Vec<T>> {
    Ok(serde_json::from_str(s)?)
}

fn bad_value(what: &str, v: &str) -> Error {
    Error::Internal(anyhow!("unknown {what} {v:?} in the database"))
}

/// A stored non-negative count or cap as the domain's `u32`.
fn to_u32(v: i64) -> u32 {
    u32::try_from(v.max(0)).unwrap_or(u32::MAX)
}

const COMPONENT_COLS: &str = "appid, appsecret, token, encoding_aes_key, event_url, auth_domain, \
    published, permission_sets, mp_permission_sets, ip_whitelist, created_at";

fn component_row(r: &Row) -> Result<Component> {
    Ok(Component {
        appid: r.try_get(0)?,
        appsecret: r.try_get(1)?,
        token: r.try_get(2)?,
        encoding_aes_key: r.try_get(3)?,
        event_url: r.try_get(4)?,
        auth_domain: r.try_get(5)?,
        published: r.try_get(6)?,
        permission_sets: json_vec(r.try_get(7)?)?,
        mp_permission_sets: json_vec(r.try_get(8)?)?,
        ip_whitelist: json_vec(r.try_get(9)?)?,
        created_at: r.try_get(10)?,
    })
}

const ENTITY_COLS: &str = "id, name, type, overseas, blacklisted, mini_program_cap";

fn entity_row(r: &Row) -> Result<Entity> {
    let t: &str = r.try_get(2)?;
    Ok(Entity {
        id: r.try_get(0)?,
        name: r.try_get(1)?,
        entity_type: EntityType::parse(t).ok_or_else(|| bad_value("entity type", t))?,
        overseas: r.try_get(3)?,
        blacklisted: r.try_get(4)?,
        mini_program_cap: r.try_get::<_, Option<i64>>(5)?.map(to_u32),
    })
}

const OA_COLS: &str =
    "appid, user_name, nickname, entity_id, verified, pending_registration, link_cap, created_at";

fn oa_row(r: &Row) -> Result<OfficialAccount> {
    Ok(OfficialAccount {
        appid: r.try_get(0)?,
        user_name: r.try_get(1)?,
        nickname: r.try_get(2)?,
        entity_id: r.try_get(3)?,
        verified: r.try_get(4)?,
        pending_registration: r.try_get(5)?,
        link_cap: r.try_get::<_, Option<i64>>(6)?.map(to_u32),
        created_at: r.try_get(7)?,
    })
}

const MP_COLS: &str =
    "appid, user_name, nickname, entity_id, registered_by_oa, linked_oa, verified, created_at";

fn mp_row(r: &Row) -> Result<MiniProgram> {
    Ok(MiniProgram {
        appid: r.try_get(0)?,
        user_name: r.try_get(1)?,
        nickname: r.try_get(2)?,
        entity_id: r.try_get(3)?,
        registered_by_oa: r.try_get(4)?,
        linked_oa: r.try_get(5)?,
        verified: r.try_get(6)?,
        created_at: r.try_get(7)?,
    })
}

const AUTH_COLS: &str = "component_appid, authorizer_appid, authorizer_kind, permission_sets, \
    refresh_token, auth_time, revoked";

fn auth_row(r: &Row) -> Result<Authorization> {
    let kind: &str = r.try_get(2)?;
    Ok(Authorization {
        component_appid: r.try_get(0)?,
        authorizer_appid: r.try_get(1)?,
        authorizer_kind: AuthorizerKind::parse(kind)
            .ok_or_else(|| bad_value("authorizer kind", kind))?,
        permission_sets: json_vec(r.try_get(3)?)?,
        refresh_token: r.try_get(4)?,
        auth_time: r.try_get(5)?,
        revoked: r.try_get(6)?,
    })
}

const TOKEN_COLS: &str =
    "hash, kind, component_appid, authorizer_appid, issued_at, expires_at, superseded_at";

fn token_row(r: &Row) -> Result<TokenRecord> {
    let kind: &str = r.try_get(1)?;
    Ok(TokenRecord {
        hash: r.try_get(0)?,
        kind: TokenKind::parse(kind).ok_or_else(|| bad_value("token kind", kind))?,
        component_appid: r.try_get(2)?,
        authorizer_appid: r.try_get(3)?,
        issued_at: r.try_get(4)?,
        expires_at: r.try_get(5)?,
        superseded_at: r.try_get(6)?,
    })
}

const CODE_COLS: &str =
    "hash, kind, component_appid, authorizer_appid, issued_at, expires_at, used_at";

fn code_row(r: &Row) -> Result<CodeRecord> {
    let kind: &str = r.try_get(1)?;
    Ok(CodeRecord {
        hash: r.try_get(0)?,
        kind: CodeKind::parse(kind).ok_or_else(|| bad_value("code kind", kind))?,
        component_appid: r.try_get(2)?,
        authorizer_appid: r.try_get(3)?,
        issued_at: r.try_get(4)?,
        expires_at: r.try_get(5)?,
        used_at: r.try_get(6)?,
    })
}

const VERIFY_TICKET_COLS: &str = "component_appid, ticket, create_time, expires_at";

fn verify_ticket_row(r: &Row) -> Result<VerifyTicket> {
    Ok(VerifyTicket {
        component_appid: r.try_get(0)?,
        ticket: r.try_get(1)?,
        create_time: r.try_get(2)?,
        expires_at: r.try_get(3)?,
    })
}

const FR_TICKET_COLS: &str =
    "ticket, component_appid, oa_appid, copy_wx_verify, issued_at, expires_at";

fn fr_ticket_row(r: &Row) -> Result<FastRegisterTicket> {
    Ok(FastRegisterTicket {
        ticket: r.try_get(0)?,
        component_appid: r.try_get(1)?,
        oa_appid: r.try_get(2)?,
        copy_wx_verify: r.try_get(3)?,
        issued_at: r.try_get(4)?,
        expires_at: r.try_get(5)?,
    })
}

const REG_COLS: &str = "id, ticket, oa_appid, entity_id, component_appid, status, mp_appid, \
    authorization_code, is_wx_verify_succ, is_link_succ, created_at, completed_at, month";

fn reg_row(r: &Row) -> Result<Registration> {
    let status: &str = r.try_get(5)?;
    Ok(Registration {
        id: r.try_get(0)?,
        ticket: r.try_get(1)?,
        oa_appid: r.try_get(2)?,
        entity_id: r.try_get(3)?,
        component_appid: r.try_get(4)?,
        status: RegistrationStatus::parse(status)
            .ok_or_else(|| bad_value("registration status", status))?,
        mp_appid: r.try_get(6)?,
        authorization_code: r.try_get(7)?,
        is_wx_verify_succ: r.try_get(8)?,
        is_link_succ: r.try_get(9)?,
        created_at: r.try_get(10)?,
        completed_at: r.try_get(11)?,
        month: r.try_get(12)?,
    })
}

const PUSH_COLS: &str = "id, component_appid, info_type, event_url, encrypt, created_at, \
    status, attempts, next_attempt_at_ms, last_status, last_attempt_at_ms, delivered_at_ms";

fn push_row(r: &Row) -> Result<Push> {
    let status: &str = r.try_get(6)?;
    Ok(Push {
        id: r.try_get(0)?,
        component_appid: r.try_get(1)?,
        info_type: r.try_get(2)?,
        event_url: r.try_get(3)?,
        encrypt: r.try_get(4)?,
        created_at: r.try_get(5)?,
        status: PushStatus::parse(status).ok_or_else(|| bad_value("push status", status))?,
        attempts: to_u32(r.try_get(7)?),
        next_attempt_at_ms: r.try_get(8)?,
        last_status: r.try_get(9)?,
        last_attempt_at_ms: r.try_get(10)?,
        delivered_at_ms: r.try_get(11)?,
    })
}

impl PgTx<'_> {
    fn one<T>(
        &mut self,
        sql: &str,
        p: Params,
        f: impl FnOnce(&Row) -> Result<T>,
    ) -> Result<Option<T>> {
        let st = self.conn.statement(sql)?;
        match self.conn.client.query_opt(&st, p)? {
            Some(row) => Ok(Some(f(&row)?)),
            None => Ok(None),
        }
    }

    fn all<T>(&mut self, sql: &str, p: Params, f: impl FnMut(&Row) -> Result<T>) -> Result<Vec<T>> {
        let st = self.conn.statement(sql)?;
        self.conn.client.query(&st, p)?.iter().map(f).collect()
    }

    fn count(&mut self, sql: &str, p: Params) -> Result<i64> {
        let st = self.conn.statement(sql)?;
        Ok(self.conn.client.query_one(&st, p)?.try_get(0)?)
    }

    fn exec(&mut self, sql: &str, p: Params) -> Result<u64> {
        let st = self.conn.statement(sql)?;
        Ok(self.conn.client.execute(&st, p)?)
    }
}

impl Tx for PgTx<'_> {
    fn meta(&mut self, key: &str) -> Result<Option<String>> {
        self.one("SELECT value FROM meta WHERE key = $1", &[&key], |r| {
            Ok(r.try_get(0)?)
        })
    }

    fn set_meta(&mut self, key: &str, value: &str) -> Result<()> {
        self.exec(
            "INSERT INTO meta (key, value) VALUES ($1, $2)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            &[&key, &value],
        )?;
        Ok(())
    }

    fn reserve_appid(&mut self, appid: &str, kind: &str) -> Result<bool> {
        Ok(self.exec(
            "INSERT INTO appids (appid, kind) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            &[&appid, &kind],
        )? == 1)
    }

    fn insert_component(&mut self, c: &Component) -> Result<()> {
        self.exec(
            &format!(
                "INSERT INTO components ({COMPONENT_COLS})
                 VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11)"
            ),
            &[
                &c.appid,
                &c.appsecret,
                &c.token,
                &c.encoding_aes_key,
                &c.event_url,
                &c.auth_domain,
                &c.published,
                &sets_to_json(&c.permission_sets),
                &sets_to_json(&c.mp_permission_sets),
                &serde_json::to_string(&c.ip_whitelist)?,
                &c.created_at,
            ],
        )?;
        Ok(())
    }

    fn update_component(&mut self, c: &Component) -> Result<()> {
        self.exec(
            "UPDATE components SET appsecret=$2, token=$3, encoding_aes_key=$4, event_url=$5,
                auth_domain=$6, published=$7, permission_sets=$8, mp_permission_sets=$9,
                ip_whitelist=$10 WHERE appid=$1",
            &[
                &c.appid,
                &c.appsecret,
                &c.token,
                &c.encoding_aes_key,
                &c.event_url,
                &c.auth_domain,
                &c.published,
                &sets_to_json(&c.permission_sets),
                &sets_to_json(&c.mp_permission_sets),
                &serde_json::to_string(&c.ip_whitelist)?,
            ],
        )?;
        Ok(())
    }

    fn component(&mut self, appid: &str) -> Result<Option<Component>> {
        self.one(
            &format!("SELECT {COMPONENT_COLS} FROM components WHERE appid = $1"),
            &[&appid],
            component_row,
        )
    }

    fn components(&mut self) -> Result<Vec<Component>> {
        self.all(
            &format!("SELECT {COMPONENT_COLS} FROM components ORDER BY created_at, appid"),
            &[],
            component_row,
        )
    }

    fn insert_verify_ticket(&mut self, t: &VerifyTicket) -> Result<()> {
        self.exec(
            "INSERT INTO verify_tickets (ticket, component_appid, create_time, expires_at)
             VALUES ($1, $2, $3, $4)",
            &[&t.ticket, &t.component_appid, &t.create_time, &t.expires_at],
        )?;
        Ok(())
    }

    fn verify_ticket(&mut self, ticket: &str) -> Result<Option<VerifyTicket>> {
        self.one(
            &format!("SELECT {VERIFY_TICKET_COLS} FROM verify_tickets WHERE ticket = $1"),
            &[&ticket],
            verify_ticket_row,
        )
    }

    fn latest_verify_ticket(&mut self, component_appid: &str) -> Result<Option<VerifyTicket>> {
        self.one(
            &format!(
                "SELECT {VERIFY_TICKET_COLS} FROM verify_tickets WHERE component_appid = $1
                 ORDER BY create_time DESC, seq DESC LIMIT 1"
            ),
            &[&component_appid],
            verify_ticket_row,
        )
    }

    fn insert_entity(&mut self, e: &Entity) -> Result<i64> {
        let cap = e.mini_program_cap.map(i64::from);
        let id: i64 = if e.id > 0 {
            let id = self.count(
                "INSERT INTO entities (id, name, type, overseas, blacklisted, mini_program_cap)
                 VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
                &[
                    &e.id,
                    &e.name,
                    &e.entity_type.as_str(),
                    &e.overseas,
                    &e.blacklisted,
                    &cap,
                ],
            )?;
            // An explicit id does not move the identity's sequence: move it past the id, so
            // that the next assigned id does not collide.
            self.exec(
                "SELECT setval(pg_get_serial_sequence('entities', 'id'),
                    (SELECT MAX(id) FROM entities))",
                &[],
            )?;
            id
        } else {
            self.count(
                "INSERT INTO entities (name, type, overseas, blacklisted, mini_program_cap)
                 VALUES ($1, $2, $3, $4, $5) RETURNING id",
                &[
                    &e.name,
                    &e.entity_type.as_str(),
                    &e.overseas,
                    &e.blacklisted,
                    &cap,
                ],
            )?
        };
        Ok(id)
    }

    fn update_entity(&mut self, e: &Entity) -> Result<()> {
        self.exec(
            "UPDATE entities SET name=$2, type=$3, overseas=$4, blacklisted=$5,
                mini_program_cap=$6 WHERE id=$1",
            &[
                &e.id,
                &e.name,
                &e.entity_type.as_str(),
                &e.overseas,
                &e.blacklisted,
                &e.mini_program_cap.map(i64::from),
            ],
        )?;
        Ok(())
    }

    fn entity(&mut self, id: i64) -> Result<Option<Entity>> {
        self.one(
            &format!("SELECT {ENTITY_COLS} FROM entities WHERE id = $1"),
            &[&id],
            entity_row,
        )
    }

    fn entities(&mut self) -> Result<Vec<Entity>> {
        self.all(
            &format!("SELECT {ENTITY_COLS} FROM entities ORDER BY id"),
            &[],
            entity_row,
        )
    }

    fn lock_entity(&mut self, _id: i64) -> Result<()> {
        // Every write transaction holds the global write lock already (see the module docs).
        Ok(())
    }

    fn insert_official_account(&mut self, oa: &OfficialAccount) -> Result<()> {
        self.exec(
            &format!("INSERT INTO official_accounts ({OA_COLS}) VALUES ($1,$2,$3,$4,$5,$6,$7,$8)"),
            &[
                &oa.appid,
                &oa.user_name,
                &oa.nickname,
                &oa.entity_id,
                &oa.verified,
                &oa.pending_registration,
                &oa.link_cap.map(i64::from),
                &oa.created_at,
            ],
        )?;
        Ok(())
    }

    fn update_official_account(&mut self, oa: &OfficialAccount) -> Result<()> {
        self.exec(
            "UPDATE official_accounts SET nickname=$2, entity_id=$3, verified=$4,
                pending_registration=$5, link_cap=$6 WHERE appid=$1",
            &[
                &oa.appid,
                &oa.nickname,
                &oa.entity_id,
                &oa.verified,
                &oa.pending_registration,
                &oa.link_cap.map(i64::from),
            ],
        )?;
        Ok(())
    }

    fn official_account(&mut self, appid: &str) -> Result<Option<OfficialAccount>> {
        self.one(
            &format!("SELECT {OA_COLS} FROM official_accounts WHERE appid = $1"),
            &[&appid],
            oa_row,
        )
    }

    fn official_accounts(&mut self) -> Result<Vec<OfficialAccount>> {
        self.all(
            &format!("SELECT {OA_COLS} FROM official_accounts ORDER BY created_at, appid"),
            &[],
            oa_row,
        )
    }

    fn lock_official_account(&mut self, _appid: &str) -> Result<()> {
        Ok(())
    }

    fn insert_mini_program(&mut self, mp: &MiniProgram) -> Result<()> {
        self.exec(
            &format!("INSERT INTO mini_programs ({MP_COLS}) VALUES ($1,$2,$3,$4,$5,$6,$7,$8)"),
            &[
                &mp.appid,
                &mp.user_name,
                &mp.nickname,
                &mp.entity_id,
                &mp.registered_by_oa,
                &mp.linked_oa,
                &mp.verified,
                &mp.created_at,
            ],
        )?;
        self.exec(
            "UPDATE entities SET mini_program_count = mini_program_count + 1 WHERE id = $1",
            &[&mp.entity_id],
        )?;
        Ok(())
    }

    fn mini_program(&mut self, appid: &str) -> Result<Option<MiniProgram>> {
        self.one(
            &format!("SELECT {MP_COLS} FROM mini_programs WHERE appid = $1"),
            &[&appid],
            mp_row,
        )
    }

    fn mini_programs(&mut self, limit: u32) -> Result<Vec<MiniProgram>> {
        self.all(
            &format!(
                "SELECT {MP_COLS} FROM mini_programs ORDER BY created_at DESC, appid LIMIT $1"
            ),
            &[&i64::from(limit)],
            mp_row,
        )
    }

    fn count_entity_mini_programs(&mut self, entity_id: i64) -> Result<u32> {
        Ok(self
            .one(
                "SELECT mini_program_count FROM entities WHERE id = $1",
                &[&entity_id],
                |r| Ok(r.try_get::<_, i64>(0)?),
            )?
            .map(to_u32)
            .unwrap_or(0))
    }

    fn linked_mini_programs(&mut self, oa_appid: &str) -> Result<Vec<MiniProgram>> {
        self.all(
            &format!(
                "SELECT {MP_COLS} FROM mini_programs WHERE linked_oa = $1
                 ORDER BY created_at, appid"
            ),
            &[&oa_appid],
            mp_row,
        )
    }

    fn count_linked_mini_programs(&mut self, oa_appid: &str) -> Result<u32> {
        Ok(to_u32(self.count(
            "SELECT COUNT(*) FROM mini_programs WHERE linked_oa = $1",
            &[&oa_appid],
        )?))
    }

    fn put_authorization(&mut self, a: &Authorization) -> Result<()> {
        self.exec(
            &format!(
                "INSERT INTO authorizations ({AUTH_COLS}) VALUES ($1,$2,$3,$4,$5,$6,$7)
                 ON CONFLICT (component_appid, authorizer_appid) DO UPDATE SET
                    authorizer_kind = excluded.authorizer_kind,
                    permission_sets = excluded.permission_sets,
                    refresh_token = excluded.refresh_token,
                    auth_time = excluded.auth_time,
                    revoked = excluded.revoked"
            ),
            &[
                &a.component_appid,
                &a.authorizer_appid,
                &a.authorizer_kind.as_str(),
                &sets_to_json(&a.permission_sets),
                &a.refresh_token,
                &a.auth_time,
                &a.revoked,
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
            &format!(
                "SELECT {AUTH_COLS} FROM authorizations
                 WHERE component_appid = $1 AND authorizer_appid = $2"
            ),
            &[&component_appid, &authorizer_appid],
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
            &format!(
                "SELECT {AUTH_COLS} FROM authorizations
                 WHERE authorizer_appid = $1 AND component_appid <> $2 AND NOT revoked"
            ),
            &[&authorizer_appid, &except],
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
            &format!(
                "SELECT {AUTH_COLS} FROM authorizations
                 WHERE component_appid = $1 AND NOT revoked
                 ORDER BY auth_time, authorizer_appid LIMIT $2 OFFSET $3"
            ),
            &[&component_appid, &i64::from(count), &i64::from(offset)],
            auth_row,
        )
    }

    fn count_authorizations_of_component(&mut self, component_appid: &str) -> Result<i64> {
        self.count(
            "SELECT COUNT(*) FROM authorizations WHERE component_appid = $1 AND NOT revoked",
            &[&component_appid],
        )
    }

    fn all_authorizations(&mut self) -> Result<Vec<Authorization>> {
        self.all(
            &format!("SELECT {AUTH_COLS} FROM authorizations ORDER BY auth_time, authorizer_appid"),
            &[],
            auth_row,
        )
    }

    fn insert_token(&mut self, t: &TokenRecord) -> Result<()> {
        self.exec(
            &format!("INSERT INTO tokens ({TOKEN_COLS}) VALUES ($1,$2,$3,$4,$5,$6,$7)"),
            &[
                &t.hash,
                &t.kind.as_str(),
                &t.component_appid,
                &t.authorizer_appid,
                &t.issued_at,
                &t.expires_at,
                &t.superseded_at,
            ],
        )?;
        Ok(())
    }

    fn token(&mut self, hash: &str) -> Result<Option<TokenRecord>> {
        self.one(
            &format!("SELECT {TOKEN_COLS} FROM tokens WHERE hash = $1"),
            &[&hash],
            token_row,
        )
    }

    fn supersede_tokens(
        &mut self,
        kind: TokenKind,
        component_appid: &str,
        authorizer_appid: &str,
        now: UnixTime,
    ) -> Result<()> {
        self.exec(
            "UPDATE tokens SET superseded_at = $4
             WHERE component_appid = $1 AND authorizer_appid = $2 AND kind = $3
               AND superseded_at IS NULL",
            &[&component_appid, &authorizer_appid, &kind.as_str(), &now],
        )?;
        Ok(())
    }

    fn invalidate_tokens(
        &mut self,
        kind: TokenKind,
        component_appid: &str,
        authorizer_appid: &str,
    ) -> Result<()> {
        // Superseded at the epoch: past any grace period, now and after a config change.
        self.exec(
            "UPDATE tokens SET superseded_at = 0
             WHERE component_appid = $1 AND authorizer_appid = $2 AND kind = $3",
            &[&component_appid, &authorizer_appid, &kind.as_str()],
        )?;
        Ok(())
    }

    fn count_tokens(&mut self, kind: TokenKind, component_appid: &str) -> Result<i64> {
        self.count(
            "SELECT COUNT(*) FROM tokens WHERE kind = $1 AND component_appid = $2",
            &[&kind.as_str(), &component_appid],
        )
    }

    fn insert_code(&mut self, c: &CodeRecord) -> Result<()> {
        self.exec(
            &format!("INSERT INTO codes ({CODE_COLS}) VALUES ($1,$2,$3,$4,$5,$6,$7)"),
            &[
                &c.hash,
                &c.kind.as_str(),
                &c.component_appid,
                &c.authorizer_appid,
                &c.issued_at,
                &c.expires_at,
                &c.used_at,
            ],
        )?;
        Ok(())
    }

    fn code(&mut self, hash: &str) -> Result<Option<CodeRecord>> {
        self.one(
            &format!("SELECT {CODE_COLS} FROM codes WHERE hash = $1"),
            &[&hash],
            code_row,
        )
    }

    fn spend_code(&mut self, hash: &str, now: UnixTime) -> Result<()> {
        self.exec(
            "UPDATE codes SET used_at = $2 WHERE hash = $1 AND used_at IS NULL",
            &[&hash, &now],
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
            "UPDATE codes SET used_at = $3
             WHERE component_appid = $1 AND authorizer_appid = $2 AND used_at IS NULL",
            &[&component_appid, &authorizer_appid, &now],
        )?;
        Ok(())
    }

    fn insert_fastregister_ticket(&mut self, t: &FastRegisterTicket) -> Result<()> {
        self.exec(
            &format!(
                "INSERT INTO fastregister_tickets ({FR_TICKET_COLS}) VALUES ($1,$2,$3,$4,$5,$6)"
            ),
            &[
                &t.ticket,
                &t.component_appid,
                &t.oa_appid,
                &t.copy_wx_verify,
                &t.issued_at,
                &t.expires_at,
            ],
        )?;
        Ok(())
    }

    fn fastregister_ticket(&mut self, ticket: &str) -> Result<Option<FastRegisterTicket>> {
        self.one(
            &format!("SELECT {FR_TICKET_COLS} FROM fastregister_tickets WHERE ticket = $1"),
            &[&ticket],
            fr_ticket_row,
        )
    }

    fn insert_registration(&mut self, r: &Registration) -> Result<i64> {
        self.count(
            "INSERT INTO registrations (ticket, oa_appid, entity_id, component_appid, status,
                mp_appid, authorization_code, is_wx_verify_succ, is_link_succ, created_at,
                completed_at, month, claimed_at_ms)
             VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13) RETURNING id",
            &[
                &r.ticket,
                &r.oa_appid,
                &r.entity_id,
                &r.component_appid,
                &r.status.as_str(),
                &r.mp_appid,
                &r.authorization_code,
                &r.is_wx_verify_succ,
                &r.is_link_succ,
                &r.created_at,
                &r.completed_at,
                &r.month,
                &system_now_ms(),
            ],
        )
    }

    fn update_registration(&mut self, r: &Registration) -> Result<()> {
        self.exec(
            "UPDATE registrations SET status=$2, mp_appid=$3, authorization_code=$4,
                is_wx_verify_succ=$5, is_link_succ=$6, completed_at=$7, month=$8 WHERE id=$1",
            &[
                &r.id,
                &r.status.as_str(),
                &r.mp_appid,
                &r.authorization_code,
                &r.is_wx_verify_succ,
                &r.is_link_succ,
                &r.completed_at,
                &r.month,
            ],
        )?;
        Ok(())
    }

    fn registration(&mut self, id: i64) -> Result<Option<Registration>> {
        self.one(
            &format!("SELECT {REG_COLS} FROM registrations WHERE id = $1"),
            &[&id],
            reg_row,
        )
    }

    fn live_registration_of_ticket(&mut self, ticket: &str) -> Result<Option<Registration>> {
        self.one(
            &format!(
                "SELECT {REG_COLS} FROM registrations
                 WHERE ticket = $1 AND status IN ('in_progress', 'succeeded')"
            ),
            &[&ticket],
            reg_row,
        )
    }

    fn oa_has_registration_in_progress(&mut self, oa_appid: &str) -> Result<bool> {
        Ok(self.count(
            "SELECT COUNT(*) FROM registrations WHERE oa_appid = $1 AND status = 'in_progress'",
            &[&oa_appid],
        )? > 0)
    }

    fn count_successes_in_month(&mut self, oa_appid: &str, month: &str) -> Result<u32> {
        Ok(to_u32(self.count(
            "SELECT COUNT(*) FROM registrations
             WHERE oa_appid = $1 AND month = $2 AND status = 'succeeded'",
            &[&oa_appid, &month],
        )?))
    }

    fn count_entity_registrations_in_progress(&mut self, entity_id: i64) -> Result<u32> {
        Ok(to_u32(self.count(
            "SELECT COUNT(*) FROM registrations WHERE entity_id = $1 AND status = 'in_progress'",
            &[&entity_id],
        )?))
    }

    fn registrations(&mut self, oa_appid: Option<&str>, limit: u32) -> Result<Vec<Registration>> {
        let limit = i64::from(limit);
        match oa_appid {
            Some(oa) => self.all(
                &format!(
                    "SELECT {REG_COLS} FROM registrations WHERE oa_appid = $1
                     ORDER BY id DESC LIMIT $2"
                ),
                &[&oa, &limit],
                reg_row,
            ),
            None => self.all(
                &format!("SELECT {REG_COLS} FROM registrations ORDER BY id DESC LIMIT $1"),
                &[&limit],
                reg_row,
            ),
        }
    }

    fn abandon_registrations_in_progress(&mut self, claimed_before_ms: i64) -> Result<u64> {
        self.exec(
            "UPDATE registrations SET status = 'abandoned'
             WHERE status = 'in_progress' AND claimed_at_ms < $1",
            &[&claimed_before_ms],
        )
    }

    fn insert_push(&mut self, p: &Push) -> Result<i64> {
        self.count(
            "INSERT INTO pushes (component_appid, info_type, event_url, encrypt, created_at,
                status, attempts, next_attempt_at_ms, last_status, last_attempt_at_ms,
                delivered_at_ms)
             VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11) RETURNING id",
            &[
                &p.component_appid,
                &p.info_type,
                &p.event_url,
                &p.encrypt,
                &p.created_at,
                &p.status.as_str(),
                &i64::from(p.attempts),
                &p.next_attempt_at_ms,
                &p.last_status,
                &p.last_attempt_at_ms,
                &p.delivered_at_ms,
            ],
        )
    }

    fn update_push(&mut self, p: &Push) -> Result<()> {
        self.exec(
            "UPDATE pushes SET status=$2, attempts=$3, next_attempt_at_ms=$4, last_status=$5,
                last_attempt_at_ms=$6, delivered_at_ms=$7 WHERE id=$1",
            &[
                &p.id,
                &p.status.as_str(),
                &i64::from(p.attempts),
                &p.next_attempt_at_ms,
                &p.last_status,
                &p.last_attempt_at_ms,
                &p.delivered_at_ms,
            ],
        )?;
        Ok(())
    }

    fn due_pushes(&mut self, now_ms: i64, limit: u32) -> Result<Vec<Push>> {
        self.all(
            &format!(
                "SELECT {PUSH_COLS} FROM pushes WHERE status = 'pending' AND next_attempt_at_ms <= $1
                 ORDER BY next_attempt_at_ms, id LIMIT $2"
            ),
            &[&now_ms, &i64::from(limit)],
            push_row,
        )
    }

    fn claim_due_pushes(&mut self, now_ms: i64, lease_ms: i64, limit: u32) -> Result<Vec<Push>> {
        let due = self.due_pushes(now_ms, limit)?;
        let ids: Vec<i64> = due.iter().map(|p| p.id).collect();
        self.exec(
            "UPDATE pushes SET next_attempt_at_ms = $2 WHERE id = ANY($1)",
            &[&ids, &(now_ms + lease_ms)],
        )?;
        Ok(due)
    }

    fn pushes(&mut self, component_appid: Option<&str>, limit: u32) -> Result<Vec<Push>> {
        let limit = i64::from(limit);
        match component_appid {
            Some(c) => self.all(
                &format!(
                    "SELECT {PUSH_COLS} FROM pushes WHERE component_appid = $1
                     ORDER BY id DESC LIMIT $2"
                ),
                &[&c, &limit],
                push_row,
            ),
            None => self.all(
                &format!("SELECT {PUSH_COLS} FROM pushes ORDER BY id DESC LIMIT $1"),
                &[&limit],
                push_row,
            ),
        }
    }
}
