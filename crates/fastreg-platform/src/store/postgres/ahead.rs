//! The writer's read-ahead ([`crate::store::ReadAhead`]): before a batch's first job runs, the
//! tokens and authorisations its jobs said they will read, and the view does not hold, are read
//! in one statement each and remembered in the view. A job of the batch then reads them from
//! memory instead of waiting for a round trip of its own: the writer runs its jobs one after
//! another, so a round trip per job is a round trip per answer. Those reads go out with the
//! batch's opening, after the write lock and before the catch-up, and share its round trip;
//! only what the catch-up then outdates is read again in one more. (Read after the catch-up
//! alone, they cost a second round trip in most batches of api_authorizer_token calls, which
//! each named a few authorisations the view did not hold as current: one asked for the first
//! time, or one whose stamp's slot a token key changed by an earlier batch also hashes to.)
//!
//! The whole contexts of the fastregister calls the view could not decide (token,
//! authorisation, component, ticket, OA, entity and counts) are read in one statement and
//! remembered in the view, where each call's checks then find them; and the entities (row and
//! counts) and OAs' linked counts that fastregister jobs named, or that those contexts hold,
//! are read in one statement too, into the batch's own memory of them (`prefetch::Known`),
//! which the batch's writes keep current: a success whose entity an earlier success of the
//! batch changed then reads nothing.
//!
//! It also draws, from the registrations' sequence, an id for each registration the jobs may
//! insert, so that an insert need not wait for the id it is given. The ids are drawn under the
//! write lock and those left over are dropped with the batch, so that ids still grow in the
//! order batches commit, across instances.
//!
//! Remembering is safe here for the reason the writer's own reads are
//! ([`View::remember_settled_token`]): under the write lock, with the change feed caught up and
//! nothing of the batch pending yet, what the database holds is what every instance committed.

use std::collections::{BTreeMap, BTreeSet};

use super::prefetch::{EntityPart, Prefetched};
use super::query::Later;
use super::tx::{PgTx, Role};
use super::{CHOSEN_PLAN, GENERIC_PLAN};
use crate::domain::{Authorization, AuthorizerKind, TokenKind, TokenRecord, WorldKey};
use crate::error::Result;
use crate::store::rows::{self, cols, Cells as _};
use crate::store::view::{Lookup, View};
use crate::store::{ContextRead, ReadAhead, Tx as _};

const TOKENS: &str = concat!(
    "SELECT ",
    cols!(token),
    " FROM tokens WHERE world = fw() AND hash = ANY($1)"
);

/// The sequence is looked up once (`OFFSET 0` keeps the subquery from being pulled up into
/// the outer one): `pg_get_serial_sequence` per row took 0.3 ms for 32 ids, once 0.07 ms.
const NEXT_IDS: &str = "SELECT nextval(q.s)
    FROM (SELECT pg_get_serial_sequence('registrations', 'id')::REGCLASS AS s OFFSET 0) AS q,
        generate_series(1, $1::BIGINT)";

const AUTHORIZATIONS: &str = concat!(
    "SELECT ",
    cols!(authorization),
    " FROM authorizations AS a
     JOIN unnest($1::TEXT[], $2::TEXT[]) AS q(c, z)
       ON a.world = fw() AND a.component_appid = q.c AND a.authorizer_appid = q.z"
);

/// What to read in one world: the reads of every job, without repeats.
#[derive(Default)]
struct Wanted {
    tokens: BTreeSet<String>,
    authorizations: BTreeSet<Pair>,
    contexts: BTreeSet<ContextRead>,
}

/// What the writer's opening sent ahead ([`PgTx::send_ahead`]).
#[derive(Default)]
pub(super) struct Sent {
    ids: Option<Later<i64>>,
    entities: Vec<(WorldKey, Later<EntityPart>)>,
    /// The tokens and authorisations the view lacked before the catch-up.
    reads: Vec<SentReads>,
}

/// The reads of tokens and authorisations of one world, sent without waiting
/// ([`PgTx::send_reads`]).
struct SentReads {
    world: WorldKey,
    tokens: Option<Later<TokenRecord>>,
    /// The pairs asked for (an absence is remembered too), and the rows found.
    authorizations: Option<(BTreeSet<Pair>, Later<Authorization>)>,
}

/// A (component, authorizer) pair.
type Pair = (String, String);

/// The reads of `ahead` that the view decides, by world: the tokens and authorisations it does
/// not hold, and, with `contexts`, the whole fastregister contexts it does not cover (a context
/// is named only when the view lacked some of it).
fn wanted(view: &View, ahead: &[&ReadAhead], contexts: bool) -> BTreeMap<WorldKey, Wanted> {
    let mut by_world: BTreeMap<WorldKey, Wanted> = BTreeMap::new();
    for a in ahead {
        let lookup = view.lookup_in(a.world);
        for hash in &a.tokens {
            if lookup.token(hash).is_none() {
                by_world
                    .entry(a.world)
                    .or_default()
                    .tokens
                    .insert(hash.clone());
            }
        }
        for (c, z) in &a.authorizations {
            if lookup.any_authorization(c, z).is_none() {
                let w = by_world.entry(a.world).or_default();
                w.authorizations.insert((c.clone(), z.clone()));
            }
        }
        // Named only by calls the view could not decide; most were read outside the lock
        // just before ([`PgTx::send_contexts_ahead`]), and read again only if a write has
        // changed some of them since.
        let named = if contexts { &a.contexts[..] } else { &[] };
        for read in named.iter().filter(|r| !covered(&lookup, r)) {
            by_world
                .entry(a.world)
                .or_default()
                .contexts
                .insert(read.clone());
        }
    }
    by_world
}

/// Every entity `ahead` names, with its OA, by world: read whatever the view holds, since the
/// view's copy may be current now, but a success of the entity earlier in the batch makes it
/// pending: the batch's own memory (`Known`) follows it instead.
fn named_entities(ahead: &[&ReadAhead]) -> BTreeMap<WorldKey, BTreeSet<(i64, String)>> {
    let mut by_world: BTreeMap<WorldKey, BTreeSet<(i64, String)>> = BTreeMap::new();
    for a in ahead {
        by_world
            .entry(a.world)
            .or_default()
            .extend(a.entities.iter().cloned());
    }
    by_world.retain(|_, pairs| !pairs.is_empty());
    by_world
}

/// Whether the view holds, current, what fastregister's checks read for the whole-context
/// read `read` names, but the entity's part (which the batch reads with the entities named).
/// A miss the check does not foresee only costs the call a read of its own.
fn covered(lookup: &Lookup<'_>, (hash, ticket, month): &ContextRead) -> bool {
    let Some(token) = lookup.token(hash) else {
        return false;
    };
    if token.kind != TokenKind::Authorizer(AuthorizerKind::OfficialAccount) {
        return true;
    }
    let (c, a) = (&token.component_appid, &token.authorizer_appid);
    let ticket = match ticket.as_deref().map(|t| (t, lookup.ticket(t))) {
        None | Some((_, Some(None))) => true,
        Some((t, Some(Some(_)))) => lookup.ticket_registration(t).is_some(),
        Some((_, None)) => false,
    };
    ticket
        && lookup.authorization(c, a).is_some()
        && lookup.component(c).is_some()
        && lookup.official_account(a).is_some()
        && lookup.oa_in_progress(a).is_some()
        && lookup.oa_successes(a, month).is_some()
}

impl PgTx<'_> {
    /// A reader's transaction, outside the write lock, for the writer's next batch: sends,
    /// without waiting, the read of the whole fastregister contexts `aheads` name, one
    /// statement per world; [`PgTx::remember_contexts_ahead`] then takes their rows.
    pub(super) fn send_contexts_ahead(
        &mut self,
        aheads: &[&mut ReadAhead],
    ) -> Result<Vec<(WorldKey, Later<Prefetched>)>> {
        let mut by_world: BTreeMap<WorldKey, BTreeSet<ContextRead>> = BTreeMap::new();
        for a in aheads {
            by_world
                .entry(a.world)
                .or_default()
                .extend(a.contexts.iter().cloned());
        }
        let mut sent = Vec::with_capacity(by_world.len());
        for (world, reads) in by_world {
            self.world = world;
            let reads: Vec<_> = reads.into_iter().collect();
            sent.push((world, Prefetched::send_contexts(self, &reads)?));
        }
        Ok(sent)
    }

    /// Once the reads `sent` were answered: remembers the contexts in the view as of this
    /// snapshot (as a reader's check does), and names each context's (entity, OA) in its
    /// `ReadAhead`, so that the writer reads again, under the lock, only the entities' counts
    /// and whatever a write has changed since this snapshot.
    pub(super) fn remember_contexts_ahead(
        &self,
        sent: Vec<(WorldKey, Later<Prefetched>)>,
        aheads: &mut [&mut ReadAhead],
    ) -> Result<()> {
        let Some((view, epoch)) = self.view() else {
            return Ok(());
        };
        let mut pairs: BTreeMap<(WorldKey, ContextRead), (i64, String)> = BTreeMap::new();
        for (world, later) in sent {
            for read in later.take()? {
                if let Some((ctx, month)) = read.context() {
                    view.remember_in(world, &ctx, month, epoch);
                }
                if let Some((args, Some(pair))) = read.read_with() {
                    pairs.insert((world, args), pair);
                }
            }
        }
        for a in aheads.iter_mut() {
            for args in &a.contexts {
                if let Some(pair) = pairs.get(&(a.world, args.clone())) {
                    if !a.entities.contains(pair) {
                        a.entities.push(pair.clone());
                    }
                }
            }
        }
        Ok(())
    }

    /// Writer, with its batch's opening and before the catch-up: sends, without waiting and
    /// with generic plans ([`GENERIC_PLAN`]), the reads of `ahead` that no view decides: the
    /// ids to draw, the entities named, and the tokens and authorisations the view lacks now.
    /// They share the catch-up's round trip, and read what the write lock, taken just before,
    /// lets no one change; [`PgTx::read_ahead`] then takes their rows.
    pub(super) fn send_ahead(&mut self, ahead: &[&ReadAhead]) -> Result<Sent> {
        let wanted_ids: i64 = ahead.iter().map(|a| i64::from(a.registrations)).sum();
        let entities = named_entities(ahead);
        // Contexts are read after the catch-up only: most were read ahead outside the lock.
        let reads = match self.writer_view() {
            Some(view) => wanted(&view, ahead, false),
            None => BTreeMap::new(),
        };
        if wanted_ids == 0 && entities.is_empty() && reads.is_empty() {
            return Ok(Sent::default());
        }
        self.with_generic_plans(|tx| {
            let mut sent = Sent::default();
            if wanted_ids > 0 {
                sent.ids = Some(tx.all_later(NEXT_IDS, &[&wanted_ids], |r| r.int(0))?);
            }
            for (world, pairs) in entities {
                tx.world = world;
                let pairs: Vec<(i64, String)> = pairs.into_iter().collect();
                sent.entities
                    .push((world, Prefetched::send_entities(tx, &pairs)?));
            }
            for (world, w) in reads {
                sent.reads.push(tx.send_reads(world, w)?);
            }
            Ok(sent)
        })
    }

    /// Writer, before its batch's first job: takes what [`PgTx::send_ahead`] sent, then reads
    /// what else `ahead` names and the view still lacks (what the catch-up outdated, and the
    /// contexts), and remembers it there, with generic plans.
    pub(super) fn read_ahead(&mut self, ahead: &[&ReadAhead], sent: Sent) -> Result<()> {
        let Some(view) = self.writer_view() else {
            return Ok(());
        };
        if let Role::Writer { ids, known, .. } = &mut self.role {
            if let Some(drawn) = sent.ids {
                ids.extend(drawn.take()?);
            }
            for (world, parts) in sent.entities {
                for part in &parts.take()? {
                    known.learn(world, part);
                }
            }
        }
        for reads in sent.reads {
            reads.remember(&view)?;
        }
        let wanted = wanted(&view, ahead, true);
        if wanted.is_empty() {
            return Ok(());
        }
        self.with_generic_plans(|tx| tx.read_wanted(&view, wanted))
    }

    /// Runs `f` with generic plans ([`GENERIC_PLAN`]), and PostgreSQL's choice of plan again
    /// after it, whether it failed or not; both settings go out without waiting.
    fn with_generic_plans<T>(&mut self, f: impl FnOnce(&mut Self) -> Result<T>) -> Result<T> {
        self.conn.client.batch_execute_later(GENERIC_PLAN);
        let out = f(self);
        self.conn.client.batch_execute_later(CHOSEN_PLAN);
        out
    }

    /// Sends, without waiting, the reads of the tokens and authorisations `w` names in
    /// `world`.
    fn send_reads(&mut self, world: WorldKey, w: Wanted) -> Result<SentReads> {
        self.world = world;
        let mut sent = SentReads {
            world,
            tokens: None,
            authorizations: None,
        };
        if !w.tokens.is_empty() {
            let hashes: Vec<&str> = w.tokens.iter().map(String::as_str).collect();
            sent.tokens = Some(self.all_later(TOKENS, &[&hashes], rows::token)?);
        }
        if !w.authorizations.is_empty() {
            let (cs, zs): (Vec<&str>, Vec<&str>) = w
                .authorizations
                .iter()
                .map(|(c, z)| (c.as_str(), z.as_str()))
                .unzip();
            let found = self.all_later(AUTHORIZATIONS, &[&cs, &zs], rows::authorization)?;
            sent.authorizations = Some((w.authorizations, found));
        }
        Ok(sent)
    }

    fn read_wanted(&mut self, view: &View, wanted: BTreeMap<WorldKey, Wanted>) -> Result<()> {
        for (world, mut w) in wanted {
            let contexts = std::mem::take(&mut w.contexts);
            let sent = self.send_reads(world, w)?;
            if sent.tokens.is_some() || sent.authorizations.is_some() {
                self.conn.client.settle().map_err(super::fault)?;
                sent.remember(view)?;
            }
            if !contexts.is_empty() {
                self.world = world;
                let reads: Vec<_> = contexts.into_iter().collect();
                for read in Prefetched::read_contexts(self, &reads)? {
                    if let Some((ctx, month)) = read.context() {
                        view.remember_settled_context(world, &ctx, month);
                    }
                    if let (Some(part), Role::Writer { known, .. }) =
                        (read.entity_part_read(), &mut self.role)
                    {
                        known.learn(world, part);
                    }
                }
            }
        }
        Ok(())
    }
}

impl SentReads {
    /// Once the reads were answered: remembers in the view what they found, and the
    /// authorisations they did not find.
    fn remember(self, view: &View) -> Result<()> {
        let world = self.world;
        if let Some(tokens) = self.tokens {
            for t in tokens.take()? {
                view.remember_settled_token(world, std::sync::Arc::new(t));
            }
        }
        if let Some((mut missing, found)) = self.authorizations {
            for a in found.take()? {
                let (c, z) = (a.component_appid.clone(), a.authorizer_appid.clone());
                view.remember_settled_authorization(world, &c, &z, Some(a));
                missing.remove(&(c, z));
            }
            // An absence is remembered too: the authorisation's key is touched by the write
            // that would create it.
            for (c, z) in missing {
                view.remember_settled_authorization(world, &c, &z, None);
            }
        }
        Ok(())
    }
}
