//! The writer's read-ahead ([`crate::store::ReadAhead`]): before a batch's first job runs, the
//! tokens and authorisations its jobs said they will read, and the view does not hold, are read
//! in one statement each and remembered in the view. A job of the batch then reads them from
//! memory instead of waiting for a round trip of its own: the writer runs its jobs one after
//! another, so a round trip per job is a round trip per answer.
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

use super::prefetch::Prefetched;
use super::tx::{PgTx, Role};
use super::{CHOSEN_PLAN, GENERIC_PLAN};
use crate::domain::{AuthorizerKind, TokenKind, WorldKey};
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
    authorizations: BTreeSet<(String, String)>,
    entities: BTreeSet<(i64, String)>,
    contexts: BTreeSet<ContextRead>,
}

/// The reads of `ahead` to make, by world: the tokens and authorisations the view does not
/// hold, and every entity and whole fastregister context named (the view's copy of an entity
/// may turn pending within the batch; a context is named only when the view lacked some of
/// it).
fn wanted(view: &View, ahead: &[&ReadAhead]) -> BTreeMap<WorldKey, Wanted> {
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
        // The view's copy may be current now, but a success of the entity earlier in the
        // batch makes it pending: the batch's own memory (`Known`) follows it instead.
        for pair in &a.entities {
            by_world
                .entry(a.world)
                .or_default()
                .entities
                .insert(pair.clone());
        }
        // Named only by calls the view could not decide; most were read outside the lock
        // just before ([`PgTx::read_contexts_ahead`]), and read again only if a write has
        // changed some of them since.
        for read in a.contexts.iter().filter(|r| !covered(&lookup, r)) {
            by_world
                .entry(a.world)
                .or_default()
                .contexts
                .insert(read.clone());
        }
    }
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
    /// A reader's transaction, outside the write lock, for the writer's next batch: reads the
    /// whole fastregister contexts `aheads` name in one statement per world, remembers them in
    /// the view as of this snapshot (as a reader's check does), and names each context's
    /// (entity, OA) in its `ReadAhead`, so that the writer reads again, under the lock, only
    /// the entities' counts and whatever a write has changed since this snapshot.
    pub(super) fn read_contexts_ahead(&mut self, aheads: &mut [&mut ReadAhead]) -> Result<()> {
        let Some((view, epoch)) = self.view() else {
            return Ok(());
        };
        let mut by_world: BTreeMap<WorldKey, BTreeSet<ContextRead>> = BTreeMap::new();
        for a in aheads.iter() {
            by_world
                .entry(a.world)
                .or_default()
                .extend(a.contexts.iter().cloned());
        }
        let mut pairs: BTreeMap<(WorldKey, ContextRead), (i64, String)> = BTreeMap::new();
        for (world, reads) in by_world {
            self.world = world;
            let reads: Vec<_> = reads.into_iter().collect();
            for read in Prefetched::read_contexts(self, &reads)? {
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

    /// Reads what `ahead` names and the view lacks, and remembers it there (the writer's
    /// transaction, before its batch's first job), with generic plans ([`GENERIC_PLAN`]).
    pub(super) fn read_ahead(&mut self, ahead: &[&ReadAhead]) -> Result<()> {
        let Some(view) = self.writer_view() else {
            return Ok(());
        };
        self.conn.client.batch_execute_later(GENERIC_PLAN);
        let out = self.read_ahead_into(&view, ahead);
        self.conn.client.batch_execute_later(CHOSEN_PLAN);
        out
    }

    fn read_ahead_into(&mut self, view: &View, ahead: &[&ReadAhead]) -> Result<()> {
        let wanted_ids: i64 = ahead.iter().map(|a| i64::from(a.registrations)).sum();
        if wanted_ids > 0 {
            let drawn = self.all(NEXT_IDS, &[&wanted_ids], |r| r.int(0))?;
            if let Role::Writer { ids, .. } = &mut self.role {
                ids.extend(drawn);
            }
        }
        for (world, w) in wanted(view, ahead) {
            self.world = world;
            if !w.tokens.is_empty() {
                let hashes: Vec<&str> = w.tokens.iter().map(String::as_str).collect();
                for t in self.all(TOKENS, &[&hashes], rows::token)? {
                    view.remember_settled_token(world, std::sync::Arc::new(t));
                }
            }
            if !w.authorizations.is_empty() {
                let (cs, zs): (Vec<&str>, Vec<&str>) = w
                    .authorizations
                    .iter()
                    .map(|(c, z)| (c.as_str(), z.as_str()))
                    .unzip();
                let found = self.all(AUTHORIZATIONS, &[&cs, &zs], rows::authorization)?;
                let mut missing = w.authorizations;
                for a in found {
                    let (c, z) = (a.component_appid.clone(), a.authorizer_appid.clone());
                    view.remember_settled_authorization(world, &c, &z, Some(a));
                    missing.remove(&(c, z));
                }
                // An absence is remembered too: the authorisation's key is touched by the
                // write that would create it.
                for (c, z) in missing {
                    view.remember_settled_authorization(world, &c, &z, None);
                }
            }
            if !w.contexts.is_empty() {
                let reads: Vec<_> = w.contexts.into_iter().collect();
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
            if !w.entities.is_empty() {
                let pairs: Vec<(i64, String)> = w.entities.into_iter().collect();
                let parts = Prefetched::read_entities(self, &pairs)?;
                if let Role::Writer { known, .. } = &mut self.role {
                    for part in &parts {
                        known.learn(world, part);
                    }
                }
            }
        }
        Ok(())
    }
}
