//! Work that falls due while the platform runs, beside the requests: verify tickets on the
//! sandbox clock's schedule, and the registrations of instances that stopped mid-way. The
//! ticker in [`crate::app`] runs [`run_due_work`] every second; the sandbox API's clock advance
//! runs it at once.

use crate::domain::WorldKey;
use crate::error::Result;
use crate::service::sandbox as sandbox_svc;
use crate::state::{AppState, World};
use crate::store::Store;

/// How old an in-progress registration on a shared database must be before another instance
/// may abandon it: the longest processing delay the sandbox allows plus a minute. A live
/// instance finishes or abandons its own claims well within that.
pub const SHARED_CLAIM_TIMEOUT_MS: i64 = 600_000 + 60_000;

/// Abandons the in-progress registrations no live instance is working on: on a database of
/// this instance's own, every one (this instance has just started); on a shared database,
/// those older than [`SHARED_CLAIM_TIMEOUT_MS`], since another instance may be in the middle
/// of the others. Returns how many.
///
/// # Errors
/// Storage faults.
pub async fn abandon_dead_registrations(store: &Store) -> Result<u64> {
    let now = crate::clock::system_now_ms();
    let cutoff = if store.shared() {
        now - SHARED_CLAIM_TIMEOUT_MS
    } else {
        now + 1
    };
    store
        .write(move |tx| tx.abandon_registrations_in_progress(cutoff))
        .await
}

/// Work that falls due with the sandbox clocks: a fresh verify ticket for every component, in
/// every world, whose newest one is an interval old on its world's clock. On a shared
/// database also: the worlds other instances created, changed (clock, faults, settings) or
/// deleted, and the claims of instances that died.
///
/// # Errors
/// Storage faults.
pub async fn run_due_work(state: &AppState) -> Result<()> {
    if state.store.shared() {
        state.worlds.refresh(&state.store, &state.settings).await?;
        let abandoned = abandon_dead_registrations(&state.store).await?;
        if abandoned > 0 {
            tracing::warn!(
                abandoned,
                "registrations claimed by an instance that stopped were abandoned; their tickets are usable again"
            );
        }
    }
    let interval = state.settings.lifetimes.verify_ticket_interval;
    // Each world remembers when its next verify ticket falls due on its clock, so that a tick
    // looks at memory, not at every component of every world. A scan of the database sets
    // those times again now and then (a component created since is due an interval after its
    // first ticket, long after the next scan).
    if state.ticket_scan.should_run() {
        let ages = state.store.read(|tx| tx.verify_ticket_ages()).await?;
        let mut due_at: std::collections::HashMap<WorldKey, i64> = Default::default();
        for (key, _appid, latest) in ages {
            let at = latest.map_or(i64::MIN, |t| t + interval);
            due_at
                .entry(key)
                .and_modify(|d| *d = (*d).min(at))
                .or_insert(at);
        }
        for world in state.worlds.unordered() {
            world.set_ticket_due(due_at.get(&world.key).copied().unwrap_or(i64::MAX));
        }
    }
    for world in state.worlds.unordered() {
        if world.ticket_due() <= world.clock.now() {
            issue_due_verify_tickets(state, &world).await?;
        }
    }
    Ok(())
}

/// Issues the verify tickets due in one world, on its clock.
///
/// # Errors
/// Storage faults.
pub async fn issue_due_verify_tickets(state: &AppState, world: &World) -> Result<()> {
    let now = world.clock.now();
    let lifetimes = state.settings.lifetimes.clone();
    let interval = lifetimes.verify_ticket_interval;
    // A read first: the common case is that nothing is due, and that must not take the writer.
    let next_due =
        move |tx: &mut dyn crate::store::Tx| sandbox_svc::next_verify_ticket_due(tx, interval);
    let due = world.store.read(next_due).await?;
    if due > now {
        world.set_ticket_due(due);
        return Ok(());
    }
    let (issued, due) = world
        .store
        .write(move |tx| {
            let issued = sandbox_svc::issue_due_verify_tickets(tx, now, &lifetimes)?;
            Ok((issued, next_due(tx)?))
        })
        .await?;
    world.set_ticket_due(due);
    for t in &issued {
        tracing::info!(
            world = world.id,
            component = t.component_appid,
            "issued a component_verify_ticket"
        );
    }
    if !issued.is_empty() {
        state.push_wake.notify_one();
    }
    Ok(())
}

/// Resumes removing the worlds deleted before the last stop (in the background).
///
/// # Errors
/// Storage faults.
pub async fn purge_deleted_worlds(store: &Store) -> Result<()> {
    let rows = store.read(|tx| tx.worlds()).await?;
    for row in rows.into_iter().filter(|r| r.deleted) {
        let store = store.clone();
        tokio::spawn(async move {
            if let Err(e) = crate::service::worlds::purge(&store, row.key).await {
                tracing::warn!(error = %e, world = row.id, "could not remove a deleted world's rows; retrying at the next start");
            }
        });
    }
    Ok(())
}
