//! Work that falls due while the platform runs, beside the requests: verify tickets on the
//! sandbox clock's schedule, and the registrations of instances that stopped mid-way. The
//! ticker in [`crate::app`] runs [`run_due_work`] every second; the sandbox API's clock advance
//! runs it at once.

use crate::error::Result;
use crate::service::sandbox as sandbox_svc;
use crate::state::AppState;
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

/// Work that falls due with the sandbox clock: a fresh verify ticket for every component whose
/// newest one is an interval old. On a shared database also: the sandbox clock as another
/// instance moved it (the database holds the offset; the clock never runs backwards), and the
/// claims of instances that died.
///
/// # Errors
/// Storage faults.
pub async fn run_due_work(state: &AppState) -> Result<()> {
    if state.store.shared() {
        let offset = state.store.read(|tx| sandbox_svc::clock_offset(tx)).await?;
        if offset > state.clock.offset() {
            state.clock.set_offset(offset);
        }
        let abandoned = abandon_dead_registrations(&state.store).await?;
        if abandoned > 0 {
            tracing::warn!(
                abandoned,
                "registrations claimed by an instance that stopped were abandoned; their tickets are usable again"
            );
        }
    }
    let now = state.clock.now();
    let lifetimes = state.settings.lifetimes.clone();
    let interval = lifetimes.verify_ticket_interval;
    // A read first: the common case is that nothing is due, and that must not take the writer.
    let due = state
        .store
        .read(move |tx| {
            for c in tx.components()? {
                let latest = tx.latest_verify_ticket(&c.appid)?;
                if latest.is_none_or(|t| now >= t.create_time + interval) {
                    return Ok(true);
                }
            }
            Ok(false)
        })
        .await?;
    if due {
        let issued = state
            .store
            .write(move |tx| sandbox_svc::issue_due_verify_tickets(tx, now, &lifetimes))
            .await?;
        for t in issued {
            tracing::info!(
                component = t.component_appid,
                "issued a component_verify_ticket"
            );
        }
    }
    Ok(())
}
