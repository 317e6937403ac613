//! fastregister's reads in one statement: what its checks read about a token, its
//! authorisation, component and OA, the OA's entity, a ticket and the counts
//! ([`crate::service::fast_register::context`]) as one row, in one round trip instead of about
//! ten. [`PgTx`] answers the reads that follow from it ([`Prefetched`]) until its next write;
//! any read it does not cover (other arguments) goes to the database as before.
//!
//! Also the writer's memory, for its open batch, of the entities and linked counts the
//! batch's go-aheads read ([`Known`]): a success changes its entity's counts, which the view
//! then holds pending until the batch commits, and the next success of the same entity in the
//! batch would otherwise read them again.

use std::collections::HashMap;
use std::sync::Arc;

use postgres::Row;

use super::query::Later;
use super::tx::PgTx;
use crate::domain::*;
use crate::error::Result;
use crate::rules::FastRegisterContext;
use crate::store::rows::{self, cols, to_u32, Cells};
use crate::store::ContextRead;

/// An entity's part of a read: its row with its Mini Program count (`en`), its registrations
/// in progress (`c3`) and its OA's linked Mini Programs (`c4`), for the entity and the OA the
/// SQL expressions `$entity` and `$oa` name. Selected as `en.*, c3.n, c4.n` and decoded by
/// [`entity_columns`]; one text for the whole-context read and the entities' read.
macro_rules! entity_part_joins {
    ($entity:literal, $oa:literal) => {
        concat!(
            "LEFT JOIN LATERAL (SELECT TRUE AS found, ",
            cols!(entity),
            ", mini_program_count FROM entities WHERE world = fw() AND id = ",
            $entity,
            " LIMIT 1) AS en ON TRUE
    LEFT JOIN LATERAL (SELECT COUNT(*) AS n FROM registrations WHERE world = fw()
        AND entity_id = ",
            $entity,
            " AND status = 'in_progress') AS c3 ON TRUE
    LEFT JOIN LATERAL (SELECT COUNT(*) AS n FROM mini_programs WHERE world = fw()
        AND linked_oa = ",
            $oa,
            ") AS c4 ON TRUE"
        )
    };
}

/// The whole-context read: for the token hash, ticket (or NULL) and month that the SQL
/// expressions `$hash`, `$ticket` and `$month` name, each row of `$from`, and `fw()` the world,
/// what fastregister's checks read, then the columns `$extra` adds. Each part is one row or
/// none (keys are unique), led by a `found` column that is NULL when it is none. Each lookup
/// is a lateral join on the values found before it, so that every one is a point lookup by an
/// index, whatever plan is cached: the `LIMIT 1` (a no-op on a unique key) keeps the planner
/// from turning a lookup into a join, which for a batch of rows it made a hash join over the
/// world's whole table (a new world's statistics say it is tiny).
macro_rules! whole_context_select {
    ($from:literal, $hash:literal, $ticket:literal, $month:literal, $extra:literal) => {
        concat!(
            "SELECT tk.*, au.*, co.*, ft.*, lr.*, oa.*, c1.n, c2.n, en.*, c3.n, c4.n",
            $extra,
            " FROM ",
            $from,
            "
    LEFT JOIN LATERAL (SELECT TRUE AS found, ",
            cols!(token),
            " FROM tokens WHERE world = fw() AND hash = ",
            $hash,
            " LIMIT 1) AS tk ON TRUE
    LEFT JOIN LATERAL (SELECT TRUE AS found, ",
            cols!(authorization),
            " FROM authorizations WHERE world = fw()
        AND component_appid = tk.component_appid AND authorizer_appid = tk.authorizer_appid
        LIMIT 1) AS au ON TRUE
    LEFT JOIN LATERAL (SELECT TRUE AS found, ",
            cols!(component),
            " FROM components WHERE world = fw() AND appid = tk.component_appid LIMIT 1)
        AS co ON TRUE
    LEFT JOIN LATERAL (SELECT TRUE AS found, ",
            cols!(fastregister_ticket),
            " FROM fastregister_tickets WHERE world = fw() AND ticket = ",
            $ticket,
            " LIMIT 1) AS ft ON TRUE
    LEFT JOIN LATERAL (SELECT TRUE AS found, ",
            cols!(registration),
            " FROM registrations WHERE world = fw() AND ticket = ",
            $ticket,
            "
        AND status IN ('in_progress', 'succeeded') LIMIT 1) AS lr ON TRUE
    LEFT JOIN LATERAL (SELECT TRUE AS found, ",
            cols!(official_account),
            " FROM official_accounts WHERE world = fw() AND appid = tk.authorizer_appid
        LIMIT 1) AS oa ON TRUE
    LEFT JOIN LATERAL (SELECT COUNT(*) AS n FROM registrations WHERE world = fw()
        AND oa_appid = tk.authorizer_appid AND status = 'in_progress') AS c1 ON TRUE
    LEFT JOIN LATERAL (SELECT COUNT(*) AS n FROM registrations WHERE world = fw()
        AND oa_appid = tk.authorizer_appid AND month = ",
            $month,
            " AND status = 'succeeded') AS c2 ON TRUE
    ",
            entity_part_joins!("oa.entity_id", "tk.authorizer_appid")
        )
    };
}

/// `$1` the token's key (`secrets::storage_key`), `$2` the ticket (or NULL), `$3` the month:
/// one row.
const STATEMENT: &str = whole_context_select!("(SELECT 1) AS one", "$1", "$2", "$3", "");

/// [`STATEMENT`] for each (hash, ticket, month) of the arrays `$1`, `$2`, `$3`, each row
/// ending with its three arguments: the writer's read-ahead of its batch's calls.
const CONTEXTS_STATEMENT: &str = whole_context_select!(
    "unnest($1::TEXT[], $2::TEXT[], $3::TEXT[]) AS q(h, t, m)",
    "q.h",
    "q.t",
    "q.m",
    ", q.h, q.t, q.m"
);

/// An entity's part for each (entity, OA) pair (`$1` the entities, `$2` the OAs), each row
/// ending with its pair: [`Tx::prefetch_entity`](crate::store::Tx::prefetch_entity) with one
/// pair, the writer's read-ahead with every pair its batch named.
const ENTITIES_STATEMENT: &str = concat!(
    "SELECT en.*, c3.n, c4.n, q.e, q.o FROM unnest($1::BIGINT[], $2::TEXT[]) AS q(e, o)
    ",
    entity_part_joins!("q.e", "q.o")
);

/// Columns of each part, after its `found` column (the lists of `cols!`).
const TOKEN: usize = 7;
const AUTHORIZATION: usize = 7;
const COMPONENT: usize = 11;
const TICKET: usize = 6;
const REGISTRATION: usize = 13;
const OFFICIAL_ACCOUNT: usize = 8;
/// The entity's columns and its `mini_program_count`.
const ENTITY: usize = 7;
/// The columns of a whole-context read: each part's with its `found`, and the four counts.
const WHOLE: usize = 6
    + TOKEN
    + AUTHORIZATION
    + COMPONENT
    + TICKET
    + REGISTRATION
    + OFFICIAL_ACCOUNT
    + 1
    + ENTITY
    + 4;

/// A row's columns from `base` on, as a decoder of `rows` reads them from 0.
struct At<'r> {
    row: &'r Row,
    base: usize,
}

impl Cells for At<'_> {
    fn text(&self, i: usize) -> Result<String> {
        self.row.text(self.base + i)
    }
    fn opt_text(&self, i: usize) -> Result<Option<String>> {
        self.row.opt_text(self.base + i)
    }
    fn int(&self, i: usize) -> Result<i64> {
        self.row.int(self.base + i)
    }
    fn opt_int(&self, i: usize) -> Result<Option<i64>> {
        self.row.opt_int(self.base + i)
    }
    fn flag(&self, i: usize) -> Result<bool> {
        self.row.flag(self.base + i)
    }
    fn parse<T>(&self, i: usize, f: impl FnOnce(&str) -> Result<T>) -> Result<T> {
        self.row.parse(self.base + i, f)
    }
}

/// Reads the parts of a row in order.
struct Parts<'r> {
    row: &'r Row,
    next: usize,
}

impl<'r> Parts<'r> {
    /// The next part of `width` columns, decoded by `f` if it was found.
    fn part<T>(&mut self, width: usize, f: impl FnOnce(&At<'r>) -> Result<T>) -> Result<Option<T>> {
        let found: Option<bool> = self.row.try_get(self.next).map_err(super::fault)?;
        let at = At {
            row: self.row,
            base: self.next + 1,
        };
        self.next += 1 + width;
        match found {
            Some(true) => Ok(Some(f(&at)?)),
            _ => Ok(None),
        }
    }

    fn count(&mut self) -> Result<i64> {
        let n = self.row.int(self.next)?;
        self.next += 1;
        Ok(n)
    }
}

/// What a read found, for the arguments it was read with: the whole context
/// ([`Prefetched::read`]), or an entity's part alone ([`Prefetched::read_entity`]).
pub(super) struct Prefetched {
    /// From the token to the OA's counts; `None` for an entity's part alone.
    whole: Option<Whole>,
    /// The entity's part (with the whole context, only when the OA exists).
    entity: Option<EntityPart>,
}

/// The whole context but the entity's part.
struct Whole {
    hash: String,
    ticket_arg: Option<String>,
    month: String,
    token: Option<TokenRecord>,
    authorization: Option<Authorization>,
    component: Option<Component>,
    ticket: Option<FastRegisterTicket>,
    live_registration: Option<Registration>,
    official_account: Option<OfficialAccount>,
    oa_in_progress: i64,
    oa_successes: i64,
}

/// An entity's row and counts, and the Mini Programs linked to its OA (which a success counts
/// before it links one).
#[derive(Clone)]
pub(super) struct EntityPart {
    id: i64,
    oa_appid: String,
    /// The row and its Mini Program count.
    entity: EntityRow,
    in_progress: i64,
    linked: i64,
}

impl Prefetched {
    /// Runs the statement in `tx`.
    pub(super) fn read(
        tx: &mut PgTx<'_>,
        hash: &str,
        ticket: Option<&str>,
        month: &str,
    ) -> Result<Prefetched> {
        let row = tx.one(STATEMENT, &[&hash, &ticket, &month], |row| {
            Prefetched::whole(row, hash.into(), ticket.map(str::to_string), month.into())
        })?;
        row.ok_or_else(|| {
            crate::error::Error::Internal(anyhow::anyhow!("the fastregister read returned no row"))
        })
    }

    /// [`Prefetched::read`] for every (hash, ticket, month) of `reads` (of `tx`'s world), in
    /// one statement.
    pub(super) fn read_contexts(
        tx: &mut PgTx<'_>,
        reads: &[ContextRead],
    ) -> Result<Vec<Prefetched>> {
        Prefetched::send_contexts(tx, reads)?.wait(tx)
    }

    /// [`Prefetched::read_contexts`], sent now and answered later ([`PgTx::all_later`]).
    pub(super) fn send_contexts(
        tx: &mut PgTx<'_>,
        reads: &[ContextRead],
    ) -> Result<Later<Prefetched>> {
        let hashes: Vec<&str> = reads.iter().map(|r| r.0.as_str()).collect();
        let tickets: Vec<Option<&str>> = reads.iter().map(|r| r.1.as_deref()).collect();
        let months: Vec<&str> = reads.iter().map(|r| r.2.as_str()).collect();
        tx.all_later(
            CONTEXTS_STATEMENT,
            &[&hashes, &tickets, &months],
            Prefetched::whole_row,
        )
    }

    /// A row of a whole-context read, whose arguments close the row.
    fn whole_row(row: &Row) -> Result<Prefetched> {
        let at = WHOLE;
        Prefetched::whole(row, row.text(at)?, row.opt_text(at + 1)?, row.text(at + 2)?)
    }

    /// A row of a whole-context read, read with `hash`, `ticket` and `month`.
    fn whole(row: &Row, hash: String, ticket: Option<String>, month: String) -> Result<Prefetched> {
        let mut p = Parts { row, next: 0 };
        // In the statement's column order.
        let token = p.part(TOKEN, rows::token)?;
        let authorization = p.part(AUTHORIZATION, rows::authorization)?;
        let component = p.part(COMPONENT, rows::component)?;
        let ticket_row = p.part(TICKET, rows::fastregister_ticket)?;
        let live_registration = p.part(REGISTRATION, rows::registration)?;
        let official_account = p.part(OFFICIAL_ACCOUNT, rows::official_account)?;
        let (oa_in_progress, oa_successes) = (p.count()?, p.count()?);
        let (entity, in_progress, linked) = entity_columns(&mut p)?;
        let entity = official_account.as_ref().map(|oa| EntityPart {
            id: oa.entity_id,
            oa_appid: oa.appid.clone(),
            entity,
            in_progress,
            linked,
        });
        let whole = Whole {
            hash,
            ticket_arg: ticket,
            month,
            token,
            authorization,
            component,
            ticket: ticket_row,
            live_registration,
            official_account,
            oa_in_progress,
            oa_successes,
        };
        Ok(Prefetched {
            whole: Some(whole),
            entity,
        })
    }

    /// What fastregister's checks read (as `service::fast_register::context` loads it) that
    /// this whole-context read holds, with the month its successes were counted in; `None`
    /// for an entity's part alone.
    pub(super) fn context(&self) -> Option<(FastRegisterContext, &str)> {
        let w = self.whole.as_ref()?;
        let mut ctx = FastRegisterContext {
            token_present: true,
            token: w.token.clone().map(Arc::new),
            ..FastRegisterContext::default()
        };
        // The checks read no further for another kind of token.
        let oa_token = TokenKind::Authorizer(AuthorizerKind::OfficialAccount);
        if w.token.as_ref().is_none_or(|t| t.kind != oa_token) {
            return Some((ctx, &w.month));
        }
        ctx.authorization = w.authorization.clone().map(Arc::new);
        ctx.component = w.component.clone().map(Arc::new);
        ctx.ticket = w.ticket.clone();
        if ctx.ticket.is_some() {
            ctx.ticket_registration = w.live_registration.clone();
        }
        ctx.official_account = w.official_account.clone().map(Arc::new);
        if ctx.official_account.is_none() {
            return Some((ctx, &w.month));
        }
        ctx.oa_in_progress = w.oa_in_progress > 0;
        ctx.oa_successes_this_month = to_u32(w.oa_successes);
        if let Some(e) = &self.entity {
            ctx.entity = e.entity.as_ref().map(|(e, _)| Arc::new(e.clone()));
            let owned = e.entity.as_ref().map_or(0, |(_, n)| *n);
            ctx.entity_mini_programs = owned + to_u32(e.in_progress);
        }
        Some((ctx, &w.month))
    }

    /// The entity's part, for the writer's memory of its batch.
    pub(super) fn entity_part_read(&self) -> Option<&EntityPart> {
        self.entity.as_ref()
    }

    /// The arguments of a whole-context read, and the (entity, OA) of its entity's part.
    pub(super) fn read_with(&self) -> Option<(ContextRead, Option<(i64, String)>)> {
        let w = self.whole.as_ref()?;
        let args = (w.hash.clone(), w.ticket_arg.clone(), w.month.clone());
        Some((
            args,
            self.entity.as_ref().map(|e| (e.id, e.oa_appid.clone())),
        ))
    }

    /// Runs the entity's part alone in `tx`: the entity and its counts, and the Mini
    /// Programs linked to `oa_appid`.
    pub(super) fn read_entity(
        tx: &mut PgTx<'_>,
        entity_id: i64,
        oa_appid: &str,
    ) -> Result<EntityPart> {
        Prefetched::read_entities(tx, &[(entity_id, oa_appid.to_string())])?
            .pop()
            .ok_or_else(|| {
                crate::error::Error::Internal(anyhow::anyhow!("the entity read returned no row"))
            })
    }

    /// [`Prefetched::read_entity`] for every pair in `pairs` (of `tx`'s world), in one
    /// statement.
    pub(super) fn read_entities(
        tx: &mut PgTx<'_>,
        pairs: &[(i64, String)],
    ) -> Result<Vec<EntityPart>> {
        Prefetched::send_entities(tx, pairs)?.wait(tx)
    }

    /// [`Prefetched::read_entities`], sent now and answered later ([`PgTx::all_later`]).
    pub(super) fn send_entities(
        tx: &mut PgTx<'_>,
        pairs: &[(i64, String)],
    ) -> Result<Later<EntityPart>> {
        let (ids, oas): (Vec<i64>, Vec<&str>) = pairs.iter().map(|(e, o)| (*e, o.as_str())).unzip();
        tx.all_later(ENTITIES_STATEMENT, &[&ids, &oas], entity_row)
    }

    /// An entity's part alone, as read (or as the writer knows it).
    pub(super) fn entity_only(part: EntityPart) -> Prefetched {
        Prefetched {
            whole: None,
            entity: Some(part),
        }
    }

    /// The token's (component, authorizer), if it exists, with the whole context.
    fn pair(&self) -> Option<(&Whole, &str, &str)> {
        let w = self.whole.as_ref()?;
        let t = w.token.as_ref()?;
        Some((w, &t.component_appid, &t.authorizer_appid))
    }

    /// The entity's part, if it is of entity `id`.
    fn entity_part(&self, id: i64) -> Option<&EntityPart> {
        self.entity.as_ref().filter(|e| e.id == id)
    }

    pub(super) fn token(&self, hash: &str) -> Option<Option<TokenRecord>> {
        let w = self.whole.as_ref()?;
        (w.hash == hash).then(|| w.token.clone())
    }

    pub(super) fn authorization(&self, c: &str, a: &str) -> Option<Option<Authorization>> {
        let (w, pc, pa) = self.pair()?;
        ((pc, pa) == (c, a)).then(|| w.authorization.clone())
    }

    pub(super) fn component(&self, appid: &str) -> Option<Option<Component>> {
        let (w, pc, _) = self.pair()?;
        (pc == appid).then(|| w.component.clone())
    }

    pub(super) fn ticket(&self, ticket: &str) -> Option<Option<FastRegisterTicket>> {
        let w = self.whole.as_ref()?;
        (w.ticket_arg.as_deref() == Some(ticket)).then(|| w.ticket.clone())
    }

    pub(super) fn live_registration(&self, ticket: &str) -> Option<Option<Registration>> {
        let w = self.whole.as_ref()?;
        (w.ticket_arg.as_deref() == Some(ticket)).then(|| w.live_registration.clone())
    }

    pub(super) fn official_account(&self, appid: &str) -> Option<Option<OfficialAccount>> {
        let (w, _, pa) = self.pair()?;
        (pa == appid).then(|| w.official_account.clone())
    }

    pub(super) fn oa_in_progress(&self, appid: &str) -> Option<bool> {
        let (w, _, pa) = self.pair()?;
        (pa == appid).then_some(w.oa_in_progress > 0)
    }

    pub(super) fn oa_successes(&self, appid: &str, month: &str) -> Option<u32> {
        let (w, _, pa) = self.pair()?;
        (pa == appid && w.month == month).then_some(to_u32(w.oa_successes))
    }

    pub(super) fn entity(&self, id: i64) -> Option<Option<Entity>> {
        let e = self.entity_part(id)?;
        Some(e.entity.as_ref().map(|(e, _)| e.clone()))
    }

    pub(super) fn entity_mini_programs(&self, id: i64) -> Option<u32> {
        let e = self.entity_part(id)?;
        Some(e.entity.as_ref().map_or(0, |(_, n)| *n))
    }

    pub(super) fn linked(&self, oa_appid: &str) -> Option<u32> {
        let e = self.entity.as_ref().filter(|e| e.oa_appid == oa_appid)?;
        Some(to_u32(e.linked))
    }

    pub(super) fn entity_in_progress(&self, id: i64) -> Option<u32> {
        Some(to_u32(self.entity_part(id)?.in_progress))
    }
}

/// An entity's row and its Mini Program count; `None` if it does not exist.
type EntityRow = Option<(Entity, u32)>;

/// The columns [`entity_part_joins`] selects (`en.*, c3.n, c4.n`), from where `p` stands: the
/// entity's row and Mini Program count, its registrations in progress, its OA's linked count.
fn entity_columns(p: &mut Parts<'_>) -> Result<(EntityRow, i64, i64)> {
    let entity = p.part(ENTITY, |r| Ok((rows::entity(r)?, to_u32(r.int(6)?))))?;
    Ok((entity, p.count()?, p.count()?))
}

/// The entity's part of a row of [`ENTITIES_STATEMENT`].
fn entity_part(row: &Row, entity_id: i64, oa_appid: &str) -> Result<EntityPart> {
    let (entity, in_progress, linked) = entity_columns(&mut Parts { row, next: 0 })?;
    Ok(EntityPart {
        id: entity_id,
        oa_appid: oa_appid.to_string(),
        entity,
        in_progress,
        linked,
    })
}

/// What the writer knows, in its open batch, of entities (the row, its Mini Program count,
/// its registrations in progress) and of OAs' linked Mini Programs: read ahead for the batch
/// or by one of its jobs, then kept current through the batch's own writes, so that a
/// success whose entity an earlier success of the batch changed need not read it again (the
/// view misses there: the key is pending).
///
/// Exact because every change to these values goes through the writer's transaction: an
/// entity is forgotten whenever a write touches it ([`Known::forget_entity`]), except that the
/// two writes of a success adjust it as their statements do ([`Known::mini_program_inserted`],
/// [`Known::registration_inserted`]); a Mini Program's link changes only when it is inserted.
/// Forgotten entirely when a job rolls back and when the batch ends.
#[derive(Default)]
pub(super) struct Known {
    entities: HashMap<(WorldKey, i64), KnownEntity>,
    linked: HashMap<(WorldKey, String), i64>,
}

/// An entity as [`Known`] holds it: the row and its Mini Program count (none if it does not
/// exist), and its registrations in progress.
pub(super) struct KnownEntity {
    entity: EntityRow,
    in_progress: i64,
}

impl Known {
    /// The part of (entity, OA), if both are known.
    pub(super) fn part(&self, world: WorldKey, id: i64, oa_appid: &str) -> Option<EntityPart> {
        let known = self.entities.get(&(world, id))?;
        let linked = self.linked(world, oa_appid)?;
        Some(EntityPart {
            id,
            oa_appid: oa_appid.to_string(),
            entity: known.entity.clone(),
            in_progress: known.in_progress,
            linked,
        })
    }

    /// The Mini Programs linked to `oa_appid`, if known.
    pub(super) fn linked(&self, world: WorldKey, oa_appid: &str) -> Option<i64> {
        self.linked.get(&(world, oa_appid.to_string())).copied()
    }

    /// Records a part read in the batch's transaction now.
    pub(super) fn learn(&mut self, world: WorldKey, part: &EntityPart) {
        let known = KnownEntity {
            entity: part.entity.clone(),
            in_progress: part.in_progress,
        };
        self.entities.insert((world, part.id), known);
        self.linked
            .insert((world, part.oa_appid.clone()), part.linked);
    }

    /// A write changes the entity in a way not followed here.
    pub(super) fn forget_entity(&mut self, world: WorldKey, id: i64) {
        self.entities.remove(&(world, id));
    }

    /// Forgets everything (a job rolled back, the batch ended, a write touched every key).
    pub(super) fn clear(&mut self) {
        self.entities.clear();
        self.linked.clear();
    }

    /// Takes the entity out, to be put back adjusted by [`Known::mini_program_inserted`] or
    /// [`Known::registration_inserted`] after the write touched it.
    pub(super) fn take_entity(&mut self, world: WorldKey, id: i64) -> Option<KnownEntity> {
        self.entities.remove(&(world, id))
    }

    /// The insert of `mp` (`INSERT_MINI_PROGRAM`): its entity's count grows by one (if the
    /// entity exists), and its linked OA's linked count by one.
    pub(super) fn mini_program_inserted(
        &mut self,
        world: WorldKey,
        mp: &MiniProgram,
        taken: Option<KnownEntity>,
    ) {
        if let Some(mut known) = taken {
            if let Some((_, count)) = &mut known.entity {
                *count += 1;
            }
            self.entities.insert((world, mp.entity_id), known);
        }
        if let Some(oa) = &mp.linked_oa {
            if let Some(n) = self.linked.get_mut(&(world, oa.clone())) {
                *n += 1;
            }
        }
    }

    /// The insert of `r`: one more registration in progress of its entity, if it is one.
    pub(super) fn registration_inserted(
        &mut self,
        world: WorldKey,
        r: &Registration,
        taken: Option<KnownEntity>,
    ) {
        if let Some(mut known) = taken {
            if r.status == RegistrationStatus::InProgress {
                known.in_progress += 1;
            }
            self.entities.insert((world, r.entity_id), known);
        }
    }
}

/// A row of the entities' read: the pair closes it, after the part's 1 + `ENTITY` columns and
/// two counts.
fn entity_row(row: &Row) -> Result<EntityPart> {
    let at = ENTITY + 3;
    entity_part(row, row.int(at)?, &row.text(at + 1)?)
}
