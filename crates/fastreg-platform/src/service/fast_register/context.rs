//! Loading what fastregister's checks read ([`FastRegisterContext`]) from one [`Source`]: the
//! in-process view, a transaction, or the view first and the transaction for what the view
//! does not hold. Which one is a matter of who asks:
//!
//! - the request's own thread asks the view alone ([`Source::view`]); a miss stops the load,
//!   and the call goes on to a reader;
//! - a reader asks the view as of its snapshot, then the snapshot ([`Source::view_then_tx`]);
//! - the writer asks the view as it stands (whatever its batch changed is pending there, so
//!   read from the database), then its transaction; without a view, the transaction alone
//!   ([`Source::tx`]).

use std::sync::Arc;

use crate::clock::shanghai_month;
use crate::domain::*;
use crate::error::{Error, Result};
use crate::rules::{FastRegisterContext, TicketBody};
use crate::secrets;
use crate::store::view::Lookup;
use crate::store::{ContextRead, Tx};

/// Why a load stopped before the end.
#[derive(Debug)]
pub enum Stop {
    /// The view lacks (or holds an outdated copy of) a value, and there is no transaction to
    /// ask instead.
    Miss,
    /// The transaction failed.
    Failed(Error),
}

impl From<Error> for Stop {
    fn from(e: Error) -> Stop {
        Stop::Failed(e)
    }
}

impl From<Stop> for Error {
    fn from(stop: Stop) -> Error {
        match stop {
            Stop::Failed(e) => e,
            Stop::Miss => Error::Internal(anyhow::anyhow!(
                "the fastregister context missed the view with no transaction to read"
            )),
        }
    }
}

/// Where [`load_context`] reads from: the view where it holds a value, else the transaction.
pub struct Source<'a> {
    view: Option<Lookup<'a>>,
    tx: Option<&'a mut dyn Tx>,
    /// What to ask the transaction to read at once before its first read (token key,
    /// ticket, month): see [`Tx::prefetch_fast_register`].
    prefetch: Option<ContextRead>,
    /// The same for the entity's reads alone (entity, OA): see [`Tx::prefetch_entity`].
    prefetch_entity: Option<(i64, String)>,
}

impl<'a> Source<'a> {
    fn new(view: Option<Lookup<'a>>, tx: Option<&'a mut dyn Tx>) -> Source<'a> {
        Source {
            view,
            tx,
            prefetch: None,
            prefetch_entity: None,
        }
    }

    /// The view alone: a value it does not hold is a [`Stop::Miss`]; locks are not taken.
    pub fn view(view: Lookup<'a>) -> Source<'a> {
        Source::new(Some(view), None)
    }

    /// The view, then the transaction for what the view does not hold.
    pub fn view_then_tx(view: Lookup<'a>, tx: &'a mut dyn Tx) -> Source<'a> {
        Source::new(Some(view), Some(tx))
    }

    /// The transaction alone.
    pub fn tx(tx: &'a mut dyn Tx) -> Source<'a> {
        Source::new(None, Some(tx))
    }

    /// The view's value if it holds one, else the transaction's.
    fn get<T>(
        &mut self,
        from_view: impl FnOnce(&Lookup<'a>) -> Option<T>,
        from_tx: impl FnOnce(&mut dyn Tx) -> Result<T>,
    ) -> std::result::Result<T, Stop> {
        if let Some(value) = self.view.as_ref().and_then(from_view) {
            return Ok(value);
        }
        match self.tx.as_deref_mut() {
            Some(tx) => {
                if let Some((key, ticket, month)) = self.prefetch.take() {
                    tx.prefetch_fast_register(&key, ticket.as_deref(), &month)?;
                } else if let Some((entity_id, oa_appid)) = self.prefetch_entity.take() {
                    tx.prefetch_entity(entity_id, &oa_appid)?;
                }
                Ok(from_tx(tx)?)
            }
            None => Err(Stop::Miss),
        }
    }

    /// Takes a lock in the transaction; the view alone takes none (it decides nothing that is
    /// written).
    fn lock(
        &mut self,
        lock: impl FnOnce(&mut dyn Tx) -> Result<()>,
    ) -> std::result::Result<(), Stop> {
        match self.tx.as_deref_mut() {
            Some(tx) => Ok(lock(tx)?),
            None => Ok(()),
        }
    }
}

/// What [`load_context`] reads with a non-empty `token`, named as
/// [`Tx::prefetch_fast_register`] takes it: the token's key, the ticket sent (if the body
/// is one) and the Asia/Shanghai month of `now`.
pub fn whole_read(token: &str, body: Option<&TicketBody>, now: UnixTime) -> ContextRead {
    (
        secrets::storage_key(token),
        ticket_sent(body),
        shanghai_month(now),
    )
}

/// The ticket a body sends, if it is one.
fn ticket_sent(body: Option<&TicketBody>) -> Option<String> {
    match body {
        Some(TicketBody::Ticket(t)) => Some(t.clone()),
        _ => None,
    }
}

/// Loads everything [`crate::rules::check_fast_register`] reads. Stops loading where a missing
/// piece makes the rest irrelevant: the rules then refuse on that piece.
///
/// # Errors
/// [`Stop::Miss`] from a view-only source that lacks a value; storage faults.
pub fn load_context(
    src: &mut Source<'_>,
    token: Option<&str>,
    body: TicketBody,
    now: UnixTime,
) -> std::result::Result<FastRegisterContext, Stop> {
    let mut ctx = FastRegisterContext {
        token_present: token.is_some_and(|t| !t.is_empty()),
        body: Some(body),
        ..FastRegisterContext::default()
    };
    let Some(token) = token.filter(|t| !t.is_empty()) else {
        return Ok(ctx);
    };
    // As `whole_read` names it; the view alone (most refusals) needs no copies.
    let key = secrets::storage_key(token);
    if src.tx.is_some() {
        let ticket = ticket_sent(ctx.body.as_ref());
        src.prefetch = Some((key.clone(), ticket, shanghai_month(now)));
    }
    // An unknown token is not remembered by the view (it names no key a write would touch).
    ctx.token = src.get(
        |v| v.token(&key).map(Some),
        |tx| Ok(tx.token(&key)?.map(Arc::new)),
    )?;
    let Some(record) = ctx.token.clone() else {
        return Ok(ctx);
    };
    // The whole-context read is still unsent when the token came from the view, which then
    // likely holds the rest too: what it lacks is what a write changed since (on the writer,
    // most often an entity's counts, which successes of the same entity in one batch keep
    // changing), and reading the whole context again would re-read everything else. Those
    // reads go one by one, the entity's together.
    let token_from_view = src.prefetch.take().is_some();
    if record.kind != TokenKind::Authorizer(AuthorizerKind::OfficialAccount) {
        return Ok(ctx);
    }
    let (component_appid, oa_appid) = (
        record.component_appid.as_str(),
        record.authorizer_appid.as_str(),
    );
    src.lock(|tx| tx.lock_official_account(oa_appid))?;
    ctx.authorization = src.get(
        |v| v.authorization(component_appid, oa_appid),
        |tx| Ok(tx.authorization(component_appid, oa_appid)?.map(Arc::new)),
    )?;
    ctx.component = src.get(
        |v| v.component(component_appid),
        |tx| Ok(tx.component(component_appid)?.map(Arc::new)),
    )?;
    // The rules look no further than a body that is no ticket, or a ticket nobody issued
    // (§5's rules 4 and 6). On the view alone the load ends there; a load that reads a
    // transaction goes on, since the view then remembers it as the account's whole context
    // (an account left unread would be remembered as absent).
    if let Some(TicketBody::Ticket(t)) = &ctx.body {
        ctx.ticket = src.get(|v| v.ticket(t), |tx| tx.fastregister_ticket(t))?;
        // Only a known ticket can be held by a registration.
        if ctx.ticket.is_some() {
            ctx.ticket_registration = src.get(
                |v| v.ticket_registration(t),
                |tx| tx.live_registration_of_ticket(t),
            )?;
        }
    }
    if ctx.ticket.is_none() && src.tx.is_none() {
        return Ok(ctx);
    }
    ctx.official_account = src.get(
        |v| v.official_account(oa_appid),
        |tx| Ok(tx.official_account(oa_appid)?.map(Arc::new)),
    )?;
    if let Some(oa) = &ctx.official_account {
        let entity_id = oa.entity_id;
        if token_from_view {
            src.prefetch_entity = Some((entity_id, oa_appid.to_string()));
        }
        src.lock(|tx| tx.lock_entity(entity_id))?;
        ctx.entity = src.get(
            |v| v.entity(entity_id),
            |tx| Ok(tx.entity(entity_id)?.map(Arc::new)),
        )?;
        ctx.oa_in_progress = src.get(
            |v| v.oa_in_progress(oa_appid),
            |tx| tx.oa_has_registration_in_progress(oa_appid),
        )?;
        let month = shanghai_month(now);
        ctx.oa_successes_this_month = src.get(
            |v| v.oa_successes(oa_appid, &month),
            |tx| tx.count_successes_in_month(oa_appid, &month),
        )?;
        ctx.entity_mini_programs = src.get(
            |v| v.entity_mini_programs(entity_id),
            |tx| {
                Ok(tx.count_entity_mini_programs(entity_id)?
                    + tx.count_entity_registrations_in_progress(entity_id)?)
            },
        )?;
    }
    Ok(ctx)
}
