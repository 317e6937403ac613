//! Worlds (platform.md §9): each [`World`] is a sandbox of its own inside one server, with its
//! own rows (its store handle is scoped to its key), clock, faults and settings; [`Worlds`] is
//! the registry requests resolve `/w/{id}` in.
//!
//! What a world changes while it lives (clock, faults, settings) is kept in its own meta values,
//! so that a restart keeps it; the copy here is what every request reads without a query. On a
//! database several instances share, each change also bumps the world's version, and every
//! instance reloads the worlds whose version moved ([`Worlds::refresh`], once a second), and
//! takes a fault from the database, so that a fault armed for `times` calls strikes `times`
//! calls whichever instance answers them.

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Arc;

use crate::clock::Clock;
use crate::domain::*;
use crate::error::{Error, Result};
use crate::secrets;
use crate::settings::{RuntimeConfig, Settings};
use crate::store::Store;

use super::{Fault, FaultWhen, Faults};

/// Meta key of a world's settings (JSON [`RuntimeConfig`]); absent: the server's.
pub const CONFIG_KEY: &str = "config";

/// Meta key of a world's armed faults (JSON list of [`Fault`]).
pub const FAULTS_KEY: &str = "faults";

/// Meta key of a world's clock (see [`Clock::offset`]), the key the default world always used.
pub const CLOCK_KEY: &str = "clock_offset";

/// One world: its identity, its scoped store and what it changes at run time.
pub struct World {
    /// Storage key.
    pub key: WorldKey,
    /// What URLs name it by.
    pub id: String,
    /// Free text for people.
    pub name: String,
    /// Where its surface is served: `""` for the default world, `/w/{id}` for the others.
    pub base_path: String,
    /// When it was created (system clock).
    pub created_at: UnixTime,
    /// Its time at creation (a reset returns to it).
    pub clock_start: Option<UnixTime>,
    /// The creation request as JSON (a reset applies it again).
    pub spec: String,
    /// Storage, scoped to this world.
    pub store: Store,
    /// Its clock.
    pub clock: Clock,
    /// Settings the sandbox API may change while running. Read by every call, changed
    /// rarely: reading it writes no memory that other cores' calls also write.
    pub runtime: arc_swap::ArcSwap<RuntimeConfig>,
    /// Serialises changes to `runtime` (read, merge, store).
    pub runtime_change: tokio::sync::Mutex<()>,
    /// Injected faults.
    pub faults: Faults,
    /// Serialises clock advances so that they add up.
    pub clock_lock: tokio::sync::Mutex<()>,
    /// SHA-256 of its admin token; none for the default world (the server's token only).
    token_hash: Option<String>,
    /// The version of its row this copy reflects.
    version: AtomicI64,
    /// The server's settings, what a reset returns a world without settings of its own to.
    server_config: RuntimeConfig,
    /// Deleted: no request reaches it any more.
    gone: AtomicBool,
    /// When this instance loaded it.
    loaded: std::time::Instant,
    /// When (its clock) its next verify ticket falls due; `i64::MIN`: not known yet.
    ticket_due: AtomicI64,
}

impl std::fmt::Debug for World {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("World")
            .field("key", &self.key)
            .field("id", &self.id)
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// The server's settings as a world's runtime config.
pub fn server_runtime(settings: &Settings) -> RuntimeConfig {
    RuntimeConfig {
        rules: settings.rules.clone(),
        processing_delay_ms: settings.processing_delay_ms,
        booleans: settings.booleans,
    }
}

/// What a world keeps in its meta values.
struct Changing {
    clock: i64,
    config: Option<RuntimeConfig>,
    faults: Vec<Fault>,
}

fn corrupt(what: &str) -> Error {
    Error::Internal(anyhow::anyhow!("the stored {what} of a world is corrupt"))
}

impl Changing {
    async fn read(store: &Store) -> Result<Changing> {
        store
            .read(|tx| {
                let config = match tx.meta(CONFIG_KEY)? {
                    Some(v) => Some(serde_json::from_str(&v).map_err(|_| corrupt("settings"))?),
                    None => None,
                };
                Ok(Changing {
                    clock: stored_clock(tx)?,
                    config,
                    faults: stored_faults(tx)?,
                })
            })
            .await
    }
}

impl World {
    /// The world a row describes, with what its meta values hold.
    ///
    /// # Errors
    /// Storage faults, or corrupt values.
    pub async fn load(store: &Store, row: WorldRow, settings: &Settings) -> Result<World> {
        let store = store.in_world(row.key);
        let changing = Changing::read(&store).await?;
        let clock = if row.frozen {
            Clock::frozen_at(changing.clock)
        } else {
            Clock::with_offset(changing.clock)
        };
        let server_config = server_runtime(settings);
        let runtime = changing.config.unwrap_or_else(|| server_config.clone());
        Ok(World {
            key: row.key,
            base_path: if row.key == DEFAULT_WORLD {
                String::new()
            } else {
                format!("/w/{}", row.id)
            },
            id: row.id,
            name: row.name,
            created_at: row.created_at,
            clock_start: row.clock_start,
            spec: row.spec,
            store,
            clock,
            runtime: arc_swap::ArcSwap::from_pointee(runtime),
            runtime_change: tokio::sync::Mutex::new(()),
            faults: Faults::with(changing.faults),
            clock_lock: tokio::sync::Mutex::new(()),
            token_hash: row.token_hash,
            version: AtomicI64::new(row.version),
            server_config,
            gone: AtomicBool::new(row.deleted),
            loaded: std::time::Instant::now(),
            ticket_due: AtomicI64::new(i64::MIN),
        })
    }

    /// Whether this is the default world.
    pub fn is_default(&self) -> bool {
        self.key == DEFAULT_WORLD
    }

    /// Whether this world was frozen at creation.
    pub fn frozen(&self) -> bool {
        self.clock.is_frozen()
    }

    /// The current runtime config (a short-lived guard: copy out what outlives the moment).
    pub fn runtime(&self) -> arc_swap::Guard<Arc<RuntimeConfig>> {
        self.runtime.load()
    }

    /// Whether `token` is this world's admin token (compared in constant time, as hashes).
    pub fn admits(&self, token: &str) -> bool {
        self.token_hash
            .as_deref()
            .is_some_and(|h| secrets::ct_eq(&secrets::hash(token), h))
    }

    /// When (its clock) its next verify ticket falls due, as last looked up.
    pub fn ticket_due(&self) -> i64 {
        self.ticket_due.load(Ordering::Acquire)
    }

    /// Records when its next verify ticket falls due.
    pub fn set_ticket_due(&self, at: i64) {
        self.ticket_due.store(at, Ordering::Release);
    }

    /// Whether the world was deleted.
    pub fn is_gone(&self) -> bool {
        self.gone.load(Ordering::Acquire)
    }

    /// Marks the world deleted: requests no longer reach it.
    pub fn mark_gone(&self) {
        self.gone.store(true, Ordering::Release);
    }

    /// Stores the faults as they are now (after arming or clearing), for a restart and for
    /// the other instances.
    ///
    /// # Errors
    /// Storage faults.
    pub async fn save_faults(&self) -> Result<()> {
        let json = to_json(&self.faults.list())?;
        let key = self.key;
        self.store
            .write(move |tx| {
                tx.set_meta(FAULTS_KEY, &json)?;
                tx.bump_world_version(key)
            })
            .await
            .map(|v| self.saw_version(v))
    }

    /// Arms a fault and stores the list.
    ///
    /// # Errors
    /// Storage faults.
    pub async fn arm_fault(&self, fault: Fault) -> Result<()> {
        if self.store.shared() {
            // Another instance may have armed or used faults since this copy was read.
            let key = self.key;
            let (list, version) = self
                .store
                .write(move |tx| {
                    let mut list = stored_faults(tx)?;
                    list.push(fault);
                    tx.set_meta(FAULTS_KEY, &to_json(&list)?)?;
                    Ok((list, tx.bump_world_version(key)?))
                })
                .await?;
            self.faults.replace(list);
            self.saw_version(version);
            return Ok(());
        }
        self.faults.add(fault);
        self.save_faults().await
    }

    /// Takes one use of a fault armed for `path` at `when`, if any: from the database when
    /// other instances share it (so that `times` counts calls to any of them), else here.
    ///
    /// # Errors
    /// Storage faults.
    pub async fn take_fault(&self, path: &str, when: FaultWhen) -> Result<Option<i64>> {
        if !self.faults.any() {
            return Ok(None);
        }
        if self.store.shared() {
            let (key, path) = (self.key, path.to_string());
            let (code, list, version) = self
                .store
                .write(move |tx| {
                    let stored = Faults::with(stored_faults(tx)?);
                    let code = stored.take(&path, when);
                    let list = stored.list();
                    if code.is_some() {
                        tx.set_meta(FAULTS_KEY, &to_json(&list)?)?;
                        let version = tx.bump_world_version(key)?;
                        return Ok((code, list, Some(version)));
                    }
                    Ok((code, list, None))
                })
                .await?;
            self.faults.replace(list);
            if let Some(v) = version {
                self.saw_version(v);
            }
            return Ok(code);
        }
        let code = self.faults.take(path, when);
        if code.is_some() {
            self.save_faults().await?;
        }
        Ok(code)
    }

    /// Stores a new runtime config (the caller holds `runtime_change`) and uses it.
    ///
    /// # Errors
    /// Storage faults.
    pub async fn save_config(&self, config: RuntimeConfig) -> Result<()> {
        let json = serde_json::to_string(&config).map_err(|e| Error::Internal(e.into()))?;
        let key = self.key;
        let version = self
            .store
            .write(move |tx| {
                tx.set_meta(CONFIG_KEY, &json)?;
                tx.bump_world_version(key)
            })
            .await?;
        self.runtime.store(Arc::new(config));
        self.saw_version(version);
        Ok(())
    }

    /// Moves the clock `seconds` forward and stores it (the caller holds `clock_lock`);
    /// returns the new now.
    ///
    /// # Errors
    /// 47001 for a step out of range; storage faults.
    pub async fn advance_clock(&self, seconds: i64) -> Result<UnixTime> {
        if !(0..=crate::clock::MAX_ADVANCE_SECS).contains(&seconds) {
            return Err(Error::sandbox(
                400,
                fastreg_wire::ErrCode::DataFormatError,
                "seconds must be between 0 and 100 years",
            ));
        }
        let key = self.key;
        let (value, version) = self
            .store
            .write(move |tx| {
                let value = stored_clock(tx)? + seconds;
                tx.set_meta(CLOCK_KEY, &value.to_string())?;
                Ok((value, tx.bump_world_version(key)?))
            })
            .await?;
        self.clock.set_offset(value);
        self.saw_version(version);
        Ok(self.clock.now())
    }

    fn saw_version(&self, version: i64) {
        self.version.fetch_max(version, Ordering::AcqRel);
    }

    /// Takes what the store holds now: what another instance changed, or what a reset wrote
    /// (the one time a clock goes back). Settings the world never changed are the server's.
    ///
    /// # Errors
    /// Storage faults, or corrupt values.
    pub async fn reload(&self) -> Result<()> {
        let changing = Changing::read(&self.store).await?;
        self.clock.set_offset(changing.clock);
        let config = changing
            .config
            .unwrap_or_else(|| self.server_config.clone());
        self.runtime.store(Arc::new(config));
        self.faults.replace(changing.faults);
        // A reset may have changed its components and tickets: look again.
        self.set_ticket_due(i64::MIN);
        Ok(())
    }
}

fn to_json(list: &[Fault]) -> Result<String> {
    serde_json::to_string(list).map_err(|e| Error::Internal(e.into()))
}

/// A world's stored clock value (0: never moved).
fn stored_clock(tx: &mut dyn crate::store::Tx) -> Result<i64> {
    match tx.meta(CLOCK_KEY)? {
        Some(v) => v.parse().map_err(|_| corrupt("clock")),
        None => Ok(0),
    }
}

/// A world's stored faults.
fn stored_faults(tx: &mut dyn crate::store::Tx) -> Result<Vec<Fault>> {
    match tx.meta(FAULTS_KEY)? {
        Some(v) => serde_json::from_str(&v).map_err(|_| corrupt("faults")),
        None => Ok(Vec::new()),
    }
}

/// The worlds of this instance: the default one, and the others by id and by key.
pub struct Worlds {
    default: Arc<World>,
    others: papaya::HashMap<String, Arc<World>>,
    by_key: papaya::HashMap<WorldKey, Arc<World>>,
}

impl std::fmt::Debug for Worlds {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Worlds")
            .field("count", &(self.others.len() + 1))
            .finish()
    }
}

impl Worlds {
    /// Every world the store holds that is not deleted (the default one is created when
    /// missing, which only a database older than worlds lacks).
    ///
    /// # Errors
    /// Storage faults, or corrupt values.
    pub async fn load(store: &Store, settings: &Settings) -> Result<Worlds> {
        let rows = store.read(|tx| tx.worlds()).await?;
        let mut default = None;
        let mut others = Vec::new();
        for row in rows {
            if row.deleted {
                continue;
            }
            let world = Arc::new(World::load(store, row, settings).await?);
            if world.is_default() {
                default = Some(world);
            } else {
                others.push(world);
            }
        }
        let default = default
            .ok_or_else(|| Error::Internal(anyhow::anyhow!("the database has no default world")))?;
        let worlds = Worlds {
            default,
            others: papaya::HashMap::new(),
            by_key: papaya::HashMap::new(),
        };
        for w in others {
            worlds.insert(w);
        }
        Ok(worlds)
    }

    /// The default world.
    pub fn default_world(&self) -> &Arc<World> {
        &self.default
    }

    /// A world by id (`default` is the default world); none if unknown or deleted.
    pub fn get(&self, id: &str) -> Option<Arc<World>> {
        if id == self.default.id {
            return Some(self.default.clone());
        }
        self.others.pin().get(id).filter(|w| !w.is_gone()).cloned()
    }

    /// A world by key.
    pub fn by_key(&self, key: WorldKey) -> Option<Arc<World>> {
        if key == DEFAULT_WORLD {
            return Some(self.default.clone());
        }
        self.by_key
            .pin()
            .get(&key)
            .filter(|w| !w.is_gone())
            .cloned()
    }

    /// A world by id, from the store when this instance does not know it yet and the
    /// database is shared (another instance created it a moment ago).
    ///
    /// # Errors
    /// Storage faults, or corrupt values.
    pub async fn resolve(
        &self,
        id: &str,
        store: &Store,
        settings: &Settings,
    ) -> Result<Option<Arc<World>>> {
        if let Some(w) = self.get(id) {
            return Ok(Some(w));
        }
        // What no world id can be is not looked for.
        if !store.shared() || !is_world_id(id) {
            return Ok(None);
        }
        let wanted = id.to_string();
        let row = store.read(move |tx| tx.world_row(&wanted)).await?;
        let Some(row) = row.filter(|r| !r.deleted) else {
            return Ok(None);
        };
        let world = Arc::new(World::load(store, row, settings).await?);
        self.insert(world.clone());
        Ok(Some(world))
    }

    /// Adds a world.
    pub fn insert(&self, world: Arc<World>) {
        self.by_key.pin().insert(world.key, world.clone());
        self.others.pin().insert(world.id.clone(), world);
    }

    /// Removes a world (never the default one), marking it gone for requests that hold it.
    pub fn remove(&self, id: &str) -> Option<Arc<World>> {
        let removed = self.others.pin().remove(id).cloned();
        if let Some(w) = &removed {
            w.mark_gone();
            self.by_key.pin().remove(&w.key);
        }
        removed
    }

    /// Every world, the default one first, then by key.
    pub fn all(&self) -> Vec<Arc<World>> {
        // The default world's key is the lowest.
        let mut out = self.unordered();
        out.sort_by_key(|w| w.key);
        out
    }

    /// Every world, the default one included, in no order.
    pub fn unordered(&self) -> Vec<Arc<World>> {
        let mut out = Vec::with_capacity(self.others.len() + 1);
        out.push(self.default.clone());
        out.extend(self.others.pin().values().cloned());
        out
    }

    /// How many worlds there are, the default one included.
    pub fn len(&self) -> usize {
        self.others.len() + 1
    }

    /// Always false: the default world always exists.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// On a database other instances share: takes the worlds they created, changed or deleted
    /// since this instance last looked.
    ///
    /// # Errors
    /// Storage faults, or corrupt values.
    pub async fn refresh(&self, store: &Store, settings: &Settings) -> Result<()> {
        let looked = std::time::Instant::now();
        let versions = store.read(|tx| tx.world_versions()).await?;
        // A world whose row is gone altogether was deleted and purged since the last look
        // (unless this instance loaded it after the rows were read: it was just created).
        let stored: std::collections::HashSet<WorldKey> =
            versions.iter().map(|(key, ..)| *key).collect();
        let purged: Vec<String> = self
            .others
            .pin()
            .values()
            .filter(|w| !stored.contains(&w.key) && w.loaded < looked)
            .map(|w| w.id.clone())
            .collect();
        for id in purged {
            self.remove(&id);
        }
        for (key, id, version, deleted) in versions {
            let known = if key == DEFAULT_WORLD {
                Some(self.default.clone())
            } else {
                self.others.pin().get(&id).cloned()
            };
            match known {
                Some(_) if deleted => {
                    self.remove(&id);
                }
                Some(w) if w.version.load(Ordering::Acquire) < version => {
                    w.reload().await?;
                    w.saw_version(version);
                }
                Some(_) => {}
                None if deleted => {}
                None => {
                    let row = store.read(move |tx| tx.world_row(&id)).await?;
                    if let Some(row) = row.filter(|r| !r.deleted) {
                        self.insert(Arc::new(World::load(store, row, settings).await?));
                    }
                }
            }
        }
        Ok(())
    }
}
