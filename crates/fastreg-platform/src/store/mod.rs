//! Storage: the [`Tx`] trait every backend implements, and [`Store`], the handle the rest of
//! the platform uses to run work in a transaction.
//!
//! The service layer ([`crate::service`]) is written once, as synchronous functions over
//! `&mut dyn Tx`; a backend only supplies typed row operations and a way to run a closure in a
//! transaction. That keeps every business rule in one place whatever the backend, and lets the
//! SQLite backend run all writes on one thread, where it can batch many transactions into one
//! commit (group commit) without anything above it knowing.
//!
//! Contract of [`Store::write`]: the closure runs in a serializable write transaction; if it
//! returns `Err`, everything it wrote is rolled back; if it returns `Ok`, the result is handed
//! back only after the transaction is committed at the configured durability. Callers may
//! therefore answer a success as soon as `write` returns.
//!
//! # Layout
//! - `batch.rs`: group commit, shared by both backends' writer threads.
//! - `rows.rs`: each table's column list and each row's decoder, written once.
//! - `sql.rs`: the statements both dialects share, written once.
//! - [`sqlite`]: threads, checkpoints, the lock file and migrations (`mod.rs`), `impl Tx`
//!   (`tx.rs`), how a statement runs (`query.rs`).
//! - `postgres` (cargo feature `postgres`, on by default): the same three files, plus
//!   `scratch.rs` (`ScratchDatabase`, a test helper reached through `crate::testing`).
//! - [`view`]: the in-process cache of fastregister's reads (on PostgreSQL kept coherent
//!   across instances by `postgres/feed.rs`).

mod batch;
#[cfg(feature = "postgres")]
pub mod postgres;
mod rows;
mod sql;
pub mod sqlite;
pub mod view;

use std::any::Any;
use std::sync::Arc;

use async_trait::async_trait;

use crate::domain::*;
use crate::error::{Error, Result};

/// Typed row operations inside one transaction. Every backend implements all of them; the
/// conformance suite (`tests/store.rs`) runs the same story on each.
pub trait Tx {
    // --- worlds ---
    /// Scopes what follows to `world`: every row operation below, except those said to act
    /// across worlds, reads and writes that world's rows only. [`Store`] calls it before each
    /// job.
    fn set_world(&mut self, world: WorldKey);
    /// The world this transaction acts in.
    fn world(&self) -> WorldKey;
    /// Every world, deleted ones included, by key (across worlds).
    fn worlds(&mut self) -> Result<Vec<WorldRow>>;
    /// Every world's key, id, version and whether it is deleted (across worlds).
    fn world_versions(&mut self) -> Result<Vec<(WorldKey, String, i64, bool)>>;
    /// A world by id, deleted or not.
    fn world_row(&mut self, id: &str) -> Result<Option<WorldRow>>;
    /// Records a new world.
    fn insert_world(&mut self, w: &WorldRow) -> Result<()>;
    /// The key a new world gets.
    fn next_world_key(&mut self) -> Result<WorldKey>;
    /// Gives a world a version above every other's (instances sharing the database reload
    /// it); returns it.
    fn bump_world_version(&mut self, key: WorldKey) -> Result<i64>;
    /// Marks a world deleted (never the default one); `false` if it already was or is unknown.
    fn mark_world_deleted(&mut self, key: WorldKey) -> Result<bool>;
    /// Removes a deleted world's own row, once its rows are gone.
    fn delete_world_row(&mut self, key: WorldKey) -> Result<bool>;
    /// Deletes about `limit` rows of world `key`, children before what they refer to; returns
    /// how many (0: nothing is left).
    fn purge_world(&mut self, key: WorldKey, limit: u32) -> Result<u64>;
    /// Every component of every world, with its newest verify ticket's time (across worlds).
    fn verify_ticket_ages(&mut self) -> Result<Vec<(WorldKey, String, Option<UnixTime>)>>;

    // --- meta ---
    /// A value of the key/value meta table.
    fn meta(&mut self, key: &str) -> Result<Option<String>>;
    /// Sets a meta value.
    fn set_meta(&mut self, key: &str, value: &str) -> Result<()>;

    // --- appids (unique across components, OAs and MPs) ---
    /// Reserves an appid; `false` if it is taken.
    fn reserve_appid(&mut self, appid: &str, kind: &str) -> Result<bool>;
    /// Reserves an appid drawn at random ([`crate::secrets::appid`], 64 bits): as
    /// [`Tx::reserve_appid`], except that a backend may send the reservation without waiting
    /// and answer `true`; the job then fails at its end if the appid was taken (about once in
    /// 10^12 draws with ten million appids stored).
    fn reserve_drawn_appid(&mut self, appid: &str, kind: &str) -> Result<bool> {
        self.reserve_appid(appid, kind)
    }

    // --- components ---
    /// Inserts a component whose appid is already reserved.
    fn insert_component(&mut self, c: &Component) -> Result<()>;
    /// Replaces a component's fields.
    fn update_component(&mut self, c: &Component) -> Result<()>;
    /// A component by appid.
    fn component(&mut self, appid: &str) -> Result<Option<Component>>;
    /// All components, oldest first.
    fn components(&mut self) -> Result<Vec<Component>>;

    // --- component verify tickets ---
    /// Records a verify ticket.
    fn insert_verify_ticket(&mut self, t: &VerifyTicket) -> Result<()>;
    /// A verify ticket by value.
    fn verify_ticket(&mut self, ticket: &str) -> Result<Option<VerifyTicket>>;
    /// The newest verify ticket of a component.
    fn latest_verify_ticket(&mut self, component_appid: &str) -> Result<Option<VerifyTicket>>;

    // --- entities ---
    /// Inserts an entity; `e.id` is used when positive, else one is assigned. Returns the id.
    fn insert_entity(&mut self, e: &Entity) -> Result<i64>;
    /// Replaces an entity's fields.
    fn update_entity(&mut self, e: &Entity) -> Result<()>;
    /// An entity by id.
    fn entity(&mut self, id: i64) -> Result<Option<Entity>>;
    /// All entities by id.
    fn entities(&mut self) -> Result<Vec<Entity>>;
    /// Serialises concurrent registrations of one entity (a row lock where the backend has
    /// them; SQLite's single writer already serialises).
    fn lock_entity(&mut self, id: i64) -> Result<()>;

    // --- official accounts ---
    /// Inserts an OA whose appid is already reserved.
    fn insert_official_account(&mut self, oa: &OfficialAccount) -> Result<()>;
    /// Replaces an OA's fields.
    fn update_official_account(&mut self, oa: &OfficialAccount) -> Result<()>;
    /// An OA by appid.
    fn official_account(&mut self, appid: &str) -> Result<Option<OfficialAccount>>;
    /// All OAs, oldest first.
    fn official_accounts(&mut self) -> Result<Vec<OfficialAccount>>;
    /// Serialises concurrent registrations of one OA.
    fn lock_official_account(&mut self, appid: &str) -> Result<()>;

    // --- mini programs ---
    /// Inserts an MP whose appid is already reserved.
    fn insert_mini_program(&mut self, mp: &MiniProgram) -> Result<()>;
    /// An MP by appid.
    fn mini_program(&mut self, appid: &str) -> Result<Option<MiniProgram>>;
    /// The newest MPs, at most `limit`.
    fn mini_programs(&mut self, limit: u32) -> Result<Vec<MiniProgram>>;
    /// MPs owned by an entity.
    fn count_entity_mini_programs(&mut self, entity_id: i64) -> Result<u32>;
    /// MPs linked to an OA, oldest first.
    fn linked_mini_programs(&mut self, oa_appid: &str) -> Result<Vec<MiniProgram>>;
    /// How many MPs are linked to an OA.
    fn count_linked_mini_programs(&mut self, oa_appid: &str) -> Result<u32>;

    // --- authorizations ---
    /// Inserts or replaces the authorisation of (component, authorizer).
    fn put_authorization(&mut self, a: &Authorization) -> Result<()>;
    /// The authorisation of (component, authorizer).
    fn authorization(
        &mut self,
        component_appid: &str,
        authorizer_appid: &str,
    ) -> Result<Option<Authorization>>;
    /// The component other than `except` that holds `set` for `authorizer`, if any.
    fn set_holder(
        &mut self,
        authorizer_appid: &str,
        set: i64,
        except: &str,
    ) -> Result<Option<String>>;
    /// A page of a component's live authorisations, by auth_time then appid.
    fn authorizations_of_component(
        &mut self,
        component_appid: &str,
        offset: u32,
        count: u32,
    ) -> Result<Vec<Authorization>>;
    /// How many live authorisations a component has.
    fn count_authorizations_of_component(&mut self, component_appid: &str) -> Result<i64>;
    /// Every authorisation (for the sandbox listing).
    fn all_authorizations(&mut self) -> Result<Vec<Authorization>>;

    // --- access tokens ---
    /// Records a token.
    fn insert_token(&mut self, t: &TokenRecord) -> Result<()>;
    /// A token by the hash of its value.
    fn token(&mut self, hash: &str) -> Result<Option<TokenRecord>>;
    /// Marks every unsuperseded token of (kind, component, authorizer) superseded at `now`.
    fn supersede_tokens(
        &mut self,
        kind: TokenKind,
        component_appid: &str,
        authorizer_appid: &str,
        now: UnixTime,
    ) -> Result<()>;
    /// Records `t` as the one current token of its (kind, component, authorizer): every
    /// earlier unsuperseded one is superseded at its `issued_at`. A backend may do both in one
    /// statement.
    fn replace_token(&mut self, t: &TokenRecord) -> Result<()> {
        self.supersede_tokens(t.kind, &t.component_appid, &t.authorizer_appid, t.issued_at)?;
        self.insert_token(t)
    }
    /// Makes every token of (kind, component, authorizer) unusable now, whatever its state and
    /// whatever the grace period (revocation).
    fn invalidate_tokens(
        &mut self,
        kind: TokenKind,
        component_appid: &str,
        authorizer_appid: &str,
    ) -> Result<()>;
    /// Counts tokens of a kind issued to a component (for tests and metrics).
    fn count_tokens(&mut self, kind: TokenKind, component_appid: &str) -> Result<i64>;

    // --- single-use codes ---
    /// Records a code.
    fn insert_code(&mut self, c: &CodeRecord) -> Result<()>;
    /// A code by the hash of its value.
    fn code(&mut self, hash: &str) -> Result<Option<CodeRecord>>;
    /// Marks a code spent.
    fn spend_code(&mut self, hash: &str, now: UnixTime) -> Result<()>;
    /// Marks every unspent code of (component, authorizer) spent (revocation).
    fn spend_codes_of(
        &mut self,
        component_appid: &str,
        authorizer_appid: &str,
        now: UnixTime,
    ) -> Result<()>;

    // --- fastregister tickets ---
    /// Records a ticket.
    fn insert_fastregister_ticket(&mut self, t: &FastRegisterTicket) -> Result<()>;
    /// A ticket by value.
    fn fastregister_ticket(&mut self, ticket: &str) -> Result<Option<FastRegisterTicket>>;

    // --- registrations ---
    /// Inserts a registration and returns its id.
    fn insert_registration(&mut self, r: &Registration) -> Result<i64>;
    /// What a fastregister success writes, at once: reserves the Mini Program's appid (drawn
    /// at random, as [`Tx::reserve_drawn_appid`]), inserts the Mini Program, its authorisation
    /// and its authorization_code, and inserts the registration; the registration's id, or
    /// `None` if the appid is taken (nothing was written). A backend may write it all in one
    /// statement.
    fn insert_success(&mut self, s: &SuccessWrites) -> Result<Option<i64>> {
        insert_success_one_by_one(self, s)
    }
    /// Replaces a registration's fields.
    fn update_registration(&mut self, r: &Registration) -> Result<()>;
    /// A registration by id.
    fn registration(&mut self, id: i64) -> Result<Option<Registration>>;
    /// The in-progress or succeeded registration holding a ticket.
    fn live_registration_of_ticket(&mut self, ticket: &str) -> Result<Option<Registration>>;
    /// Whether an OA has a registration in progress.
    fn oa_has_registration_in_progress(&mut self, oa_appid: &str) -> Result<bool>;
    /// An OA's successes in a `YYYY-MM` month.
    fn count_successes_in_month(&mut self, oa_appid: &str, month: &str) -> Result<u32>;
    /// Registrations of an entity in progress.
    fn count_entity_registrations_in_progress(&mut self, entity_id: i64) -> Result<u32>;
    /// Registrations, newest first, optionally of one OA.
    fn registrations(&mut self, oa_appid: Option<&str>, limit: u32) -> Result<Vec<Registration>>;
    /// Marks abandoned every in-progress registration that claimed its ticket before
    /// `claimed_before_ms` (system clock, unix milliseconds), across worlds; returns how many.
    fn abandon_registrations_in_progress(&mut self, claimed_before_ms: i64) -> Result<u64>;

    // --- pushes (outbox) ---
    /// Records a push to deliver; returns its id.
    fn insert_push(&mut self, p: &Push) -> Result<i64>;
    /// Records a delivery attempt's result (by id, across worlds).
    fn update_push(&mut self, p: &Push) -> Result<()>;
    /// Pending pushes whose next attempt is due, oldest first (across worlds).
    fn due_pushes(&mut self, now_ms: i64, limit: u32) -> Result<Vec<Push>>;
    /// Claims due pushes for one delivery pass: like [`Tx::due_pushes`], and moves each
    /// one's next attempt `lease_ms` ahead, so another instance sharing the database does not
    /// deliver it too (and takes it over if this one dies before recording the attempt).
    fn claim_due_pushes(&mut self, now_ms: i64, lease_ms: i64, limit: u32) -> Result<Vec<Push>>;
    /// The delivery log, newest first, optionally of one component.
    fn pushes(&mut self, component_appid: Option<&str>, limit: u32) -> Result<Vec<Push>>;

    /// fastregister is about to read what its checks need for this token (by hash), ticket
    /// and month (see `service::fast_register::context`): a backend may read it all at once
    /// and answer the reads that follow from that, until its next write (PostgreSQL: one
    /// statement instead of about ten round trips). Nothing, by default.
    fn prefetch_fast_register(
        &mut self,
        _token_hash: &str,
        _ticket: Option<&str>,
        _month: &str,
    ) -> Result<()> {
        Ok(())
    }

    /// fastregister is about to read an entity's row and counts, and the number of Mini
    /// Programs linked to `oa_appid` (whose entity it is), having found the rest in the view:
    /// as [`Tx::prefetch_fast_register`], for those reads alone. Nothing, by default.
    fn prefetch_entity(&mut self, _entity_id: i64, _oa_appid: &str) -> Result<()> {
        Ok(())
    }

    /// On a reader of a backend with an in-process [`view::View`]: the view, and the epoch
    /// published before this snapshot began (what it reads may be remembered under it).
    fn view(&self) -> Option<(Arc<view::View>, u64)> {
        None
    }

    /// On the writer of a backend with an in-process view: the view. What it holds unchanged
    /// since the last commit is what this transaction reads, because the writer publishes every
    /// commit before it begins the next transaction, and what this transaction changes is
    /// pending there (a miss) until it is published.
    fn writer_view(&self) -> Option<Arc<view::View>> {
        None
    }
}

/// A unit of work for a backend: runs in a transaction, returns a type-erased value.
pub type Job = Box<dyn FnOnce(&mut dyn Tx) -> Result<Box<dyn Any + Send>> + Send>;

/// What a write job is going to read, named when it is queued: a backend whose reads cost a
/// round trip (PostgreSQL) reads, for a whole batch at once, what its view does not hold yet,
/// and the jobs find it there. Only a hint: a job reads what it reads as usual, and a read
/// named wrongly costs nothing but the reading.
#[derive(Default, Clone, PartialEq, Eq)]
pub struct ReadAhead {
    /// The world of every read.
    pub world: WorldKey,
    /// Tokens, by hash.
    pub tokens: Vec<String>,
    /// Authorisations, by (component, authorizer).
    pub authorizations: Vec<(String, String)>,
    /// How many registrations the job may insert (their ids can be drawn for the batch).
    pub registrations: u32,
    /// Entities and OAs, as (entity id, OA appid): the entity's row and counts and the OA's
    /// linked Mini Programs, which a fastregister go-ahead reads.
    pub entities: Vec<(i64, String)>,
    /// Whole fastregister contexts, as (token hash, ticket, month): what a call the view could
    /// not decide reads, for a backend whose writer reads them for its batch at once.
    pub contexts: Vec<ContextRead>,
}

/// How a write job may fail, said when it is queued: whether its batch must run it in a
/// savepoint of its own (`batch.rs`).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub enum Fails {
    /// At any point, after writes too (a check between two writes, say): it runs in a savepoint
    /// of its own, so that its failure undoes its own writes and nothing else.
    #[default]
    AnyTime,
    /// Only before its first write, unless a storage fault fails it: it makes every check that
    /// may refuse it first, then writes. Its batch may then run it without a savepoint, which on
    /// SQLite saves copying every page the job changes once more (the savepoint's journal).
    /// Should it fail after writing after all, the jobs of its batch before it are answered that
    /// nothing of them was written, and those after it run in a new transaction
    /// (`batch::run_batch`).
    BeforeWriting,
}

/// What a fastregister success writes ([`Tx::insert_success`]): the Mini Program (under a
/// fresh appid), its authorisation to the component, its authorization_code, and the
/// registration as succeeded.
/// (No `Debug`: it holds the code and the refresh token.)
#[derive(Clone)]
pub struct SuccessWrites {
    pub mini_program: MiniProgram,
    pub authorization: Authorization,
    pub code: CodeRecord,
    pub registration: Registration,
}

/// [`Tx::insert_success`] one write at a time (its default).
pub fn insert_success_one_by_one<T: Tx + ?Sized>(
    tx: &mut T,
    s: &SuccessWrites,
) -> Result<Option<i64>> {
    if !insert_success_but_registration(tx, s)? {
        return Ok(None);
    }
    tx.insert_registration(&s.registration).map(Some)
}

/// The writes of [`Tx::insert_success`] but the registration's, one at a time (a success
/// completed after a delay updates its registration instead); `false` if the appid is taken
/// (nothing was written).
pub fn insert_success_but_registration<T: Tx + ?Sized>(
    tx: &mut T,
    s: &SuccessWrites,
) -> Result<bool> {
    if !tx.reserve_drawn_appid(&s.mini_program.appid, "mp")? {
        return Ok(false);
    }
    tx.insert_mini_program(&s.mini_program)?;
    tx.put_authorization(&s.authorization)?;
    tx.insert_code(&s.code)?;
    Ok(true)
}

/// A whole fastregister context to read: the token's key, the ticket sent (if the body is
/// one) and the Asia/Shanghai month its successes are counted in (see
/// [`Tx::prefetch_fast_register`]).
pub type ContextRead = (String, Option<String>, String);

impl ReadAhead {
    /// Whether nothing is named.
    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty()
            && self.authorizations.is_empty()
            && self.registrations == 0
            && self.entities.is_empty()
            && self.contexts.is_empty()
    }
}

impl std::fmt::Debug for ReadAhead {
    // Token hashes are credentials' fingerprints: counted, not shown.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReadAhead")
            .field("world", &self.world)
            .field("tokens", &self.tokens.len())
            .field("authorizations", &self.authorizations)
            .field("registrations", &self.registrations)
            .field("entities", &self.entities)
            .field("contexts", &self.contexts.len())
            .finish()
    }
}

/// What a storage backend provides: running jobs in transactions.
#[async_trait]
pub trait Backend: Send + Sync + 'static {
    /// Runs `job` in a write transaction; the result arrives after the commit. `ahead` names
    /// what it will read ([`ReadAhead`]), `fails` when it may fail ([`Fails`]).
    async fn write(&self, job: Job, ahead: ReadAhead, fails: Fails) -> Result<Box<dyn Any + Send>>;
    /// Runs `job` in a read-only snapshot.
    async fn read(&self, job: Job) -> Result<Box<dyn Any + Send>>;
    /// A short name for logs (`sqlite`, `postgres`).
    fn name(&self) -> &'static str;
    /// Whether other fastreg instances may share this database at the same time.
    fn shared(&self) -> bool;
    /// The in-process view of fastregister's reads, where this process alone writes the
    /// database.
    fn view(&self) -> Option<&view::View> {
        None
    }
    /// The in-process view, once it holds every write committed before this call by any
    /// instance sharing the database; `None` where there is no view (or it cannot be brought
    /// up to date: the caller reads the database).
    async fn synced_view(&self) -> Option<&view::View> {
        self.view()
    }
    /// For a backend other instances may share: whether this instance is, at the moment,
    /// the only one on its database.
    fn alone(&self) -> Option<bool> {
        None
    }
}

/// A database URL with any password masked, for logs, errors and the console.
pub fn redact_url(url: &str) -> String {
    crate::redact::db_url(url)
}

#[cfg(feature = "postgres")]
async fn open_postgres(url: &str, durability: Durability) -> Result<Arc<dyn Backend>> {
    let url = url.to_string();
    let b = tokio::task::spawn_blocking(move || postgres::PgBackend::open(&url, durability))
        .await
        .map_err(|e| Error::Internal(e.into()))??;
    Ok(Arc::new(b))
}

#[cfg(not(feature = "postgres"))]
async fn open_postgres(url: &str, _durability: Durability) -> Result<Arc<dyn Backend>> {
    Err(Error::Internal(anyhow::anyhow!(
        "cannot open {}: this fastreg was built without PostgreSQL (cargo feature `postgres`)",
        redact_url(url)
    )))
}

/// The handle to storage that the platform passes around: a backend and the world its jobs
/// act in ([`Store::in_world`]).
#[derive(Clone)]
pub struct Store {
    backend: Arc<dyn Backend>,
    world: WorldKey,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("backend", &self.backend.name())
            .field("world", &self.world)
            .finish()
    }
}

/// How durable an answered success is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Durability {
    /// Survives `kill -9` of the server (committed to the OS before answering).
    #[default]
    Process,
    /// Also survives power loss (fsynced before answering).
    Full,
}

impl Store {
    /// Opens the store a database URL names: `sqlite://PATH` (created if missing),
    /// `sqlite::memory:`, or `postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE` (an existing
    /// database; several instances may share it).
    ///
    /// # Errors
    /// An unsupported scheme, or a database that cannot be opened or migrated.
    pub async fn open(url: &str, durability: Durability) -> Result<Store> {
        let backend: Arc<dyn Backend> = if url.starts_with("postgres://")
            || url.starts_with("postgresql://")
        {
            open_postgres(url, durability).await?
        } else if let Some(rest) = url.strip_prefix("sqlite:") {
            let path = rest.trim_start_matches("//");
            let path = path.split('?').next().unwrap_or_default().to_string();
            let b =
                tokio::task::spawn_blocking(move || sqlite::SqliteBackend::open(&path, durability))
                    .await
                    .map_err(|e| Error::Internal(e.into()))??;
            Arc::new(b)
        } else {
            return Err(Error::Internal(anyhow::anyhow!(
                "unsupported database URL {url:?}: expected sqlite://PATH or postgres://…"
            )));
        };
        Ok(Store {
            backend,
            world: DEFAULT_WORLD,
        })
    }

    /// The same storage, with every job scoped to `world`.
    pub fn in_world(&self, world: WorldKey) -> Store {
        Store {
            backend: self.backend.clone(),
            world,
        }
    }

    /// The world this handle's jobs act in.
    pub fn world(&self) -> WorldKey {
        self.world
    }

    /// Runs `f` in a write transaction; see the module docs for the contract.
    ///
    /// # Errors
    /// Whatever `f` returns, or a storage fault.
    pub async fn write<R, F>(&self, f: F) -> Result<R>
    where
        R: Send + 'static,
        F: FnOnce(&mut dyn Tx) -> Result<R> + Send + 'static,
    {
        self.write_reading(ReadAhead::default(), f).await
    }

    /// [`Store::write`] of a job that says what it will read (`ahead`'s world is this
    /// handle's): see [`ReadAhead`].
    ///
    /// # Errors
    /// Whatever `f` returns, or a storage fault.
    pub async fn write_reading<R, F>(&self, ahead: ReadAhead, f: F) -> Result<R>
    where
        R: Send + 'static,
        F: FnOnce(&mut dyn Tx) -> Result<R> + Send + 'static,
    {
        self.write_declared(ahead, Fails::AnyTime, f).await
    }

    /// [`Store::write_reading`] of a job that makes every check that may refuse it before its
    /// first write ([`Fails::BeforeWriting`]): it then costs its batch no savepoint.
    ///
    /// # Errors
    /// Whatever `f` returns, or a storage fault.
    pub async fn write_after_checks<R, F>(&self, ahead: ReadAhead, f: F) -> Result<R>
    where
        R: Send + 'static,
        F: FnOnce(&mut dyn Tx) -> Result<R> + Send + 'static,
    {
        self.write_declared(ahead, Fails::BeforeWriting, f).await
    }

    async fn write_declared<R, F>(&self, mut ahead: ReadAhead, fails: Fails, f: F) -> Result<R>
    where
        R: Send + 'static,
        F: FnOnce(&mut dyn Tx) -> Result<R> + Send + 'static,
    {
        let started = std::time::Instant::now();
        let world = self.world;
        ahead.world = world;
        let out = self
            .backend
            .write(
                Box::new(move |tx| {
                    tx.set_world(world);
                    f(tx).map(|r| Box::new(r) as Box<dyn Any + Send>)
                }),
                ahead,
                fails,
            )
            .await;
        crate::metrics::storage("write", started.elapsed());
        let out = out?;
        Ok(*out
            .downcast::<R>()
            .expect("a job returns the type it was built with"))
    }

    /// Runs `f` in a read-only snapshot.
    ///
    /// # Errors
    /// Whatever `f` returns, or a storage fault.
    pub async fn read<R, F>(&self, f: F) -> Result<R>
    where
        R: Send + 'static,
        F: FnOnce(&mut dyn Tx) -> Result<R> + Send + 'static,
    {
        let started = std::time::Instant::now();
        let world = self.world;
        let out = self
            .backend
            .read(Box::new(move |tx| {
                tx.set_world(world);
                f(tx).map(|r| Box::new(r) as Box<dyn Any + Send>)
            }))
            .await;
        crate::metrics::storage("read", started.elapsed());
        let out = out?;
        Ok(*out
            .downcast::<R>()
            .expect("a job returns the type it was built with"))
    }

    /// The backend's name.
    pub fn backend_name(&self) -> &'static str {
        self.backend.name()
    }

    /// Whether other instances may share the database (see [`Backend::shared`]).
    pub fn shared(&self) -> bool {
        self.backend.shared()
    }

    /// The in-process view, if the backend keeps one and this process alone writes the
    /// database (see [`view`]).
    pub fn view(&self) -> Option<&view::View> {
        self.backend.view()
    }

    /// Whether this instance is the only one on a shared database (`None` for a backend that
    /// is never shared; see [`Backend::alone`]).
    pub fn alone(&self) -> Option<bool> {
        self.backend.alone()
    }

    /// The in-process view, current as of this call across every instance sharing the
    /// database (see [`Backend::synced_view`]).
    pub async fn synced_view(&self) -> Option<&view::View> {
        self.backend.synced_view().await
    }
}
