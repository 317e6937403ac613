//! fastregister (spec §5), the platform's central flow, in one place: [`register`] runs one
//! call from the parsed request to the registration it answers, over the steps in [`steps`],
//! which read what the checks need through [`context`].
//!
//! Unlike every other operation, a call is not one transaction. Most refused calls are decided
//! from the in-process view when it holds everything the checks read (no hop to another
//! thread). What the view cannot decide goes straight to the writer, whose checks decide it
//! and whose reads the view then remembers (on PostgreSQL the writer reads what its batch's
//! calls name in one statement before its first job). A configured processing delay makes
//! the registration observable "in progress": the writer then only claims the ticket, and the
//! completion runs after the delay in its own task.

pub mod context;
pub mod steps;

use std::sync::Arc;
use std::time::Duration;

use fastreg_wire::account::BoolStyle;
use tracing::Instrument;

use crate::domain::{Registration, UnixTime};
use crate::error::{Error, Result};
use crate::metrics::RegistrationOutcome;
use crate::rules::{Decision, Policy, TicketBody};
use crate::state::{AppState, World};
use crate::store::ReadAhead;

pub use steps::{abandon, answer, begin, complete, precheck, precheck_in_view, FastRegisterStep};

/// What a fastregister call that succeeded answers.
#[derive(Debug)]
pub struct Registered {
    /// The registration whose success is answered.
    pub registration: Registration,
    /// Whether this call registered or replayed an earlier success.
    pub outcome: RegistrationOutcome,
    /// How the answer writes its booleans (the runtime config as this call read it).
    pub booleans: BoolStyle,
}

/// fastregister itself: the checks in the view, else by the writer (on a reader first where
/// there is no view, or it cannot be brought up to date); then the writer's checks and the
/// registration (or the claim, completed after the processing delay in a task of its own).
///
/// # Errors
/// The errcode of the first failing rule; storage faults.
pub async fn register(
    app: Arc<AppState>,
    w: Arc<World>,
    token: Option<String>,
    body: TicketBody,
) -> Result<Registered> {
    let view = w.store.synced_view().await;
    let now = w.clock.now();
    // One snapshot of the runtime config serves the whole call.
    let undecided = {
        let runtime = w.runtime();
        let in_view = view.and_then(|view| {
            precheck_in_view(
                view,
                w.key,
                token.as_deref(),
                body.clone(),
                now,
                &runtime.rules,
            )
        });
        if let Some(Decision::Refuse(code)) = in_view {
            return Err(Error::wx(code));
        }
        Undecided {
            token,
            body,
            now,
            in_view,
            has_view: view.is_some(),
            delay: runtime.processing_delay_ms,
            booleans: runtime.booleans,
            policy: runtime.rules.clone(),
        }
    };
    // Boxed: most calls are refused above, from the view, and every layer above moves this
    // future; the rest of the call (a reader, the writer, the completion) would make it the
    // size of theirs.
    Box::pin(beyond_view(app, w, undecided)).await
}

/// A call the view did not refuse, as [`register`] hands it on.
struct Undecided {
    token: Option<String>,
    body: TicketBody,
    now: UnixTime,
    /// The view's decision, if it could decide.
    in_view: Option<Decision>,
    /// Whether the world's store has a view (which the writer's reads then feed).
    has_view: bool,
    /// The processing delay, the answer's booleans and the rules of the runtime config.
    delay: u64,
    booleans: BoolStyle,
    policy: Policy,
}

/// [`register`] past the view: the checks on a reader or by the writer, the registration.
async fn beyond_view(app: Arc<AppState>, w: Arc<World>, call: Undecided) -> Result<Registered> {
    let Undecided {
        token,
        body,
        now,
        in_view,
        has_view,
        delay,
        booleans,
        policy,
    } = call;
    let lifetimes = app.settings.lifetimes.clone();
    // A call the view cannot decide goes straight to the writer, which decides it with its own
    // checks and remembers what it read, so that a refusal repeated is decided in the view.
    // Checked on a reader first, a go-ahead was read twice (there, then by the writer's
    // checks), and on a shared database (PostgreSQL) each reader's check was a transaction of
    // its own: the writer instead reads the contexts of its whole batch in one statement
    // (`ReadAhead::contexts`).
    let to_writer = in_view.is_none() && has_view;
    let contexts = match token.as_deref().filter(|t| !t.is_empty()) {
        Some(t) if to_writer => vec![context::whole_read(t, Some(&body), now)],
        _ => Vec::new(),
    };
    let early = match in_view {
        _ if to_writer => None,
        Some(decision) => Some(decision),
        None => {
            let (t1, b1, p1) = (token.clone(), body.clone(), policy.clone());
            Some(
                w.store
                    .read(move |tx| precheck(tx, t1.as_deref(), b1, now, &p1))
                    .await?,
            )
        }
    };
    let (early_step, approved) = match early {
        Some(Decision::Refuse(code)) => return Err(Error::wx(code)),
        Some(Decision::Replay(reg)) => (Some(FastRegisterStep::Replay(reg)), None),
        Some(Decision::Proceed(ok)) => (None, Some(ok)),
        None => (None, None),
    };
    let (l2, p2) = (lifetimes.clone(), policy.clone());
    let step = match early_step {
        Some(step) => step,
        None => {
            // The go-ahead inserts one registration (its id can be drawn for the batch), and
            // reads its entity and its OA's linked count (which an earlier success of the
            // batch may have changed).
            let ahead = ReadAhead {
                registrations: 1,
                entities: approved
                    .map(|ok| vec![(ok.entity_id, ok.oa_appid)])
                    .unwrap_or_default(),
                contexts,
                ..ReadAhead::default()
            };
            w.store
                .write_after_checks(ahead, move |tx| {
                    begin(tx, token.as_deref(), body, now, &p2, &l2, delay == 0)
                })
                .await?
        }
    };
    let (registration, outcome) = match step {
        FastRegisterStep::Done(reg) => (reg, RegistrationOutcome::Registered),
        FastRegisterStep::Replay(reg) => {
            tracing::info!(
                mp_appid = reg.mp_appid.as_deref(),
                "replayed a spent ticket's success"
            );
            (reg, RegistrationOutcome::Replayed)
        }
        FastRegisterStep::Claimed(id) => {
            // Completion runs in its own task: a caller that gives up waiting must not leave the
            // registration half done; it completes, and the caller can reconcile.
            // The task keeps the request's span, so its log lines carry the rid.
            let w2 = w.clone();
            let reg = tokio::spawn(
                async move {
                    tokio::time::sleep(Duration::from_millis(delay)).await;
                    let now = w2.clock.now();
                    let done = w2
                        .store
                        .write(move |tx| complete(tx, id, now, &policy, &lifetimes))
                        .await;
                    if done.is_err() {
                        // Never answered as a success: release the OA and the ticket rather
                        // than leave the OA refusing with 61057 until a restart.
                        let released = w2.store.write(move |tx| abandon(tx, id)).await;
                        if let Err(e) = released {
                            tracing::error!(error = %e, id, "could not abandon a failed registration");
                        }
                    }
                    done
                }
                .instrument(tracing::Span::current()),
            )
            .await
            .map_err(|e| Error::Internal(anyhow::anyhow!("registration task failed: {e}")))??;
            (reg, RegistrationOutcome::Registered)
        }
    };
    tracing::info!(
        mp_appid = registration.mp_appid.as_deref(),
        oa = registration.oa_appid,
        "fast registration answered"
    );
    Ok(Registered {
        registration,
        outcome,
        booleans,
    })
}
