//! Worlds (platform.md §9) as operations: create (empty, from a seed, or from an export),
//! delete, reset and export. Each writes the world's rows in one transaction of the shared
//! store and keeps the registry ([`crate::state::Worlds`]) in step with what it committed.

use std::sync::Arc;

use fastreg_wire::ErrCode;
use serde::{Deserialize, Serialize};

use crate::clock::system_now;
use crate::domain::*;
use crate::error::{Error, Result};
use crate::secrets;
use crate::service::sandbox::{
    self as sandbox_svc, ClockIn, ConfigPatch, RegistrationIn, SeedWorld,
};
use crate::settings::Lifetimes;
use crate::state::{server_runtime, AppState, World, CLOCK_KEY, CONFIG_KEY};
use crate::store::{Store, Tx};

/// The built-in demo world (a seed file): the default world's seed when the server has none.
pub const DEMO_WORLD: &str = include_str!("../../demo_world.toml");

/// The default world's seed: the server's seed file, else the built-in demo world.
///
/// # Errors
/// An unreadable or invalid seed file.
pub fn server_seed(settings: &crate::settings::Settings) -> Result<SeedWorld> {
    let (name, text) = match &settings.seed {
        Some(path) => (
            path.clone(),
            std::fs::read_to_string(path)
                .map_err(|e| Error::Internal(anyhow::anyhow!("reading seed file {path}: {e}")))?,
        ),
        None => (
            "the built-in demo world".to_string(),
            DEMO_WORLD.to_string(),
        ),
    };
    SeedWorld::from_toml(&text)
        .map_err(|e| Error::Internal(anyhow::anyhow!("seed {name} is not valid: {e}")))
}

/// Longest world name.
pub const MAX_NAME_CHARS: usize = 200;

/// Text without control characters (what `char::is_control` finds: U+0000 to U+001F and
/// U+007F to U+009F), as a pattern.
pub const NO_CONTROL_CHARACTERS: &str = "^[^\\u0000-\\u001f\\u007f-\\u009f]*$";

/// `POST /sandbox/v1/worlds`: every field optional.
#[derive(Debug, Clone, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WorldIn {
    /// Free text for people (at most 200 characters, no control characters); default: the id.
    #[serde(default)]
    #[schemars(length(max = MAX_NAME_CHARS), regex(pattern = NO_CONTROL_CHARACTERS))]
    pub name: Option<String>,
    /// Its clock: start time and whether it is frozen (overrides the seed's).
    #[serde(default, deserialize_with = "crate::service::sandbox::optional_object")]
    pub clock: Option<ClockIn>,
    /// Its settings, as `PATCH /sandbox/v1/config` (over the seed's, over the server's).
    #[serde(default, deserialize_with = "crate::service::sandbox::optional_object")]
    pub config: Option<ConfigPatch>,
    /// What it starts with: a seed document (a seed file's shapes as JSON, or an export).
    /// Without one the world is empty.
    #[serde(default, deserialize_with = "crate::service::sandbox::optional_object")]
    pub seed: Option<SeedWorld>,
}

/// A world as the API shows it.
#[derive(Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct WorldOut {
    /// What URLs name it by.
    pub id: String,
    /// Its admin token: shown once, when it is created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admin_token: Option<String>,
    /// Its base URL, relative to the server: `/w/{id}` (`""` for the default world).
    pub base_path: String,
    /// Free text for people.
    pub name: String,
    /// Its clock's now (unix seconds).
    pub now: UnixTime,
    /// Whether its clock moves only when advanced.
    pub frozen: bool,
    /// When it was created (system clock, unix seconds).
    pub created_at: UnixTime,
}

fastreg_wire::debug_masked!(WorldOut { id, admin_token masked, base_path, name, now, frozen, created_at });

impl WorldOut {
    /// What the API shows of `w`.
    pub fn of(w: &World) -> WorldOut {
        WorldOut {
            id: w.id.clone(),
            admin_token: None,
            base_path: w.base_path.clone(),
            name: w.name.clone(),
            now: w.clock.now(),
            frozen: w.frozen(),
            created_at: w.created_at,
        }
    }
}

fn bad(detail: impl Into<String>) -> Error {
    Error::sandbox(400, ErrCode::DataFormatError, detail)
}

/// What a world is created with, checked: its clock, settings and seed.
struct Plan {
    frozen: bool,
    start: Option<UnixTime>,
    config: Option<String>,
    seed: SeedWorld,
}

fn plan(app: &AppState, input: &WorldIn) -> Result<Plan> {
    let mut seed = input.seed.clone().unwrap_or_default();
    let clock = input.clock.or(seed.clock.take()).unwrap_or_default();
    if let Some(start) = clock.start {
        // What the calendar and every expiry can count from: 2000 to 2200.
        if !(crate::clock::EARLIEST_START..=crate::clock::LATEST_START).contains(&start) {
            return Err(bad("clock.start must be a unix time between 2000 and 2200"));
        }
    }
    let mut config = None;
    let patches = [seed.config.take(), input.config.clone()];
    if patches.iter().any(Option::is_some) {
        let mut rt = server_runtime(&app.settings);
        for p in patches.into_iter().flatten() {
            rt = p.apply(rt)?;
        }
        config = Some(serde_json::to_string(&rt).map_err(|e| Error::Internal(e.into()))?);
    }
    Ok(Plan {
        frozen: clock.frozen,
        start: clock.start,
        config,
        seed,
    })
}

/// Writes a world's clock, settings and seed into its (empty) rows.
fn apply_plan(tx: &mut dyn Tx, plan: Plan, lifetimes: &Lifetimes) -> Result<()> {
    let real = system_now();
    let start = plan.start.unwrap_or(real);
    let clock = if plan.frozen { start } else { start - real };
    tx.set_meta(CLOCK_KEY, &clock.to_string())?;
    if let Some(config) = &plan.config {
        tx.set_meta(CONFIG_KEY, config)?;
    }
    sandbox_svc::apply_seed(tx, plan.seed, start, lifetimes).map_err(|e| match e {
        // An item the store refused (a repeated ticket or appid, say): named by its place, not
        // by the store's text, which may quote the values.
        Error::Internal(e) => match e.downcast_ref::<sandbox_svc::SeedItem>() {
            Some(item) => Error::sandbox(
                409,
                ErrCode::DataFormatError,
                format!("seed {item} could not be stored: it repeats or contradicts another item"),
            ),
            None => Error::Internal(e),
        },
        other => other,
    })
}

/// Creates a world; returns it and its admin token.
///
/// # Errors
/// 400 for a malformed name, clock, setting or seed (the seed's first failing item named);
/// storage faults.
pub async fn create(app: &AppState, input: WorldIn) -> Result<(Arc<World>, String)> {
    if let Some(name) = &input.name {
        if name.chars().count() > MAX_NAME_CHARS || name.chars().any(char::is_control) {
            return Err(bad(
                "name is at most 200 characters, without control characters",
            ));
        }
    }
    let spec = serde_json::to_string(&input).map_err(|e| Error::Internal(e.into()))?;
    let plan = plan(app, &input)?;
    let token = secrets::alnum(32);
    let id = secrets::world_id();
    let row = WorldRow {
        key: 0,
        name: input.name.clone().unwrap_or_else(|| id.clone()),
        id,
        token_hash: Some(secrets::hash(&token)),
        created_at: system_now(),
        frozen: plan.frozen,
        clock_start: plan.start,
        spec,
        version: 0,
        deleted: false,
    };
    let lifetimes = app.settings.lifetimes.clone();
    let row = app
        .store
        .write(move |tx| {
            let mut row = row;
            row.key = tx.next_world_key()?;
            tx.insert_world(&row)?;
            tx.set_world(row.key);
            apply_plan(tx, plan, &lifetimes)?;
            row.version = tx.bump_world_version(row.key)?;
            Ok(row)
        })
        .await?;
    let world = Arc::new(World::load(&app.store, row, &app.settings).await?);
    app.worlds.insert(world.clone());
    app.push_wake.notify_one();
    // Not its name: free text the client sent.
    tracing::info!(world = world.id, "created a world");
    Ok((world, token))
}

/// Deletes a world: from this moment no request reaches it (its credentials are unknown),
/// its undelivered pushes are dropped, and its rows are removed in the background, a batch
/// at a time, so that other worlds' calls never wait for the whole of it.
///
/// # Errors
/// 400 for the default world, 404 for an unknown one; storage faults.
pub async fn delete(app: &AppState, id: &str) -> Result<()> {
    if id == "default" {
        return Err(Error::sandbox(
            403,
            ErrCode::DataFormatError,
            "the default world cannot be deleted (reset it: POST /sandbox/v1/reset)",
        ));
    }
    let world = app
        .worlds
        .resolve(id, &app.store, &app.settings)
        .await?
        .ok_or_else(unknown)?;
    let key = world.key;
    app.worlds.remove(id);
    let marked = app
        .store
        .write(move |tx| tx.mark_world_deleted(key))
        .await?;
    if !marked {
        return Err(unknown());
    }
    let store = app.store.clone();
    let id = id.to_string();
    tokio::spawn(async move {
        match purge(&store, key).await {
            Ok(rows) => tracing::info!(world = id, rows, "removed a deleted world's rows"),
            Err(e) => {
                tracing::warn!(error = %e, world = id, "could not remove a deleted world's rows; retrying at the next start")
            }
        }
    });
    Ok(())
}

/// Rows of a deleted world removed per transaction: small enough that the writer answers
/// other worlds' calls between two of them.
pub const PURGE_BATCH: u32 = 500;

/// Removes a deleted world's rows, a batch per transaction, then its own row; returns how
/// many rows.
///
/// # Errors
/// Storage faults (what is left is removed at the next start).
pub async fn purge(store: &Store, key: WorldKey) -> Result<u64> {
    let removed = purge_rows(store, key).await?;
    store.write(move |tx| tx.delete_world_row(key)).await?;
    Ok(removed)
}

/// Removes every row of world `key` (its own `worlds` row aside), a batch per transaction;
/// returns how many.
async fn purge_rows(store: &Store, key: WorldKey) -> Result<u64> {
    let mut removed = 0;
    loop {
        let n = store
            .write(move |tx| tx.purge_world(key, PURGE_BATCH))
            .await?;
        removed += n;
        if n == 0 {
            return Ok(removed);
        }
        tokio::task::yield_now().await;
    }
}

fn unknown() -> Error {
    Error::sandbox(404, ErrCode::InvalidCredential, "no such world")
}

/// Resets a world to the state right after its creation: its rows, clock, settings and
/// faults as its creation request made them (the default world: the server's seed).
///
/// # Errors
/// Storage faults, or a seed that no longer applies.
pub async fn reset(app: &AppState, w: &World, server_seed: SeedWorld) -> Result<()> {
    let _clock = w.clock_lock.lock().await;
    let _config = w.runtime_change.lock().await;
    let input: WorldIn = if w.is_default() {
        WorldIn {
            seed: Some(server_seed),
            ..WorldIn::default()
        }
    } else {
        serde_json::from_str(&w.spec).map_err(|e| Error::Internal(e.into()))?
    };
    let plan = plan(app, &input)?;
    // The default world's meta also holds what the server keeps there (the pages' secret).
    let keep = if w.is_default() {
        Some(hex::encode(&app.page_secret))
    } else {
        None
    };
    let (key, lifetimes) = (w.key, app.settings.lifetimes.clone());
    purge_rows(&w.store, key).await?;
    w.store
        .write(move |tx| {
            if let Some(secret) = keep {
                tx.set_meta("page_secret", &secret)?;
            }
            apply_plan(tx, plan, &lifetimes)?;
            tx.bump_world_version(key)
        })
        .await?;
    w.reload().await?;
    app.push_wake.notify_one();
    tracing::info!(world = w.id, "reset a world");
    Ok(())
}

/// A world as a seed document: its objects, clock, settings, Mini Programs and successful
/// registrations (with the tickets they spent), so that a world created from it refuses
/// exactly what this one refuses. Credentials (tokens, codes, refresh tokens, unspent
/// tickets) are not in it: the new world issues its own.
///
/// # Errors
/// Storage faults.
pub async fn export(w: &World) -> Result<SeedWorld> {
    let clock = ClockIn {
        start: Some(w.clock.now()),
        frozen: w.frozen(),
    };
    let config = ConfigPatch::of(&w.runtime())?;
    let mut seed = w
        .store
        .read(|tx| {
            let components = tx
                .components()?
                .into_iter()
                .map(|c| sandbox_svc::ComponentIn {
                    appid: Some(c.appid),
                    appsecret: Some(c.appsecret),
                    token: Some(c.token),
                    encoding_aes_key: Some(c.encoding_aes_key),
                    event_url: c.event_url,
                    auth_domain: c.auth_domain,
                    published: c.published,
                    permission_sets: c.permission_sets,
                    mp_permission_sets: Some(c.mp_permission_sets),
                    ip_whitelist: Some(c.ip_whitelist),
                })
                .collect();
            let entities = tx
                .entities()?
                .into_iter()
                .map(|e| sandbox_svc::EntityIn {
                    id: Some(e.id),
                    name: e.name,
                    entity_type: e.entity_type,
                    overseas: e.overseas,
                    blacklisted: e.blacklisted,
                    mini_program_cap: e.mini_program_cap,
                })
                .collect();
            let official_accounts = tx
                .official_accounts()?
                .into_iter()
                .map(|oa| sandbox_svc::OfficialAccountIn {
                    appid: Some(oa.appid),
                    user_name: Some(oa.user_name),
                    nickname: oa.nickname,
                    entity_id: oa.entity_id,
                    verified: oa.verified,
                    pending_registration: oa.pending_registration,
                    link_cap: oa.link_cap,
                })
                .collect();
            let mini_programs = tx.mini_programs(u32::MAX)?;
            let authorizations = tx
                .all_authorizations()?
                .into_iter()
                .filter(|a| !a.revoked)
                .map(|a| sandbox_svc::AuthorizationIn {
                    component_appid: a.component_appid,
                    authorizer_appid: a.authorizer_appid,
                    permission_sets: a.permission_sets,
                })
                .collect();
            let mut registrations = Vec::new();
            let mut fastregister_tickets = Vec::new();
            for r in tx.registrations(None, u32::MAX)? {
                let (Some(mp_appid), Some(completed_at), Some(month)) =
                    (r.mp_appid, r.completed_at, r.month)
                else {
                    continue;
                };
                if r.status != RegistrationStatus::Succeeded {
                    continue;
                }
                if let Some(t) = tx.fastregister_ticket(&r.ticket)? {
                    fastregister_tickets.push(t);
                }
                registrations.push(RegistrationIn {
                    ticket: r.ticket,
                    oa_appid: r.oa_appid,
                    entity_id: r.entity_id,
                    component_appid: r.component_appid,
                    mp_appid,
                    is_wx_verify_succ: r.is_wx_verify_succ,
                    is_link_succ: r.is_link_succ,
                    created_at: r.created_at,
                    completed_at,
                    month,
                });
            }
            // Oldest first, as they happened.
            registrations.reverse();
            fastregister_tickets.reverse();
            let mut mini_programs = mini_programs;
            mini_programs.reverse();
            Ok(SeedWorld {
                clock: None,
                config: None,
                components,
                entities,
                official_accounts,
                mini_programs,
                authorizations,
                fastregister_tickets,
                registrations,
            })
        })
        .await?;
    seed.clock = Some(clock);
    seed.config = Some(config);
    Ok(seed)
}
