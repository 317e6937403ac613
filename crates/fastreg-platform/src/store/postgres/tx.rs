//! [`Tx`] for PostgreSQL: the store's row operations as prepared statements on a connection
//! inside a transaction (the writer's, under the write lock, or a reader's snapshot).
//!
//! As on SQLite, the writer names the keys each write changes ([`PgTx::touch`]) to the
//! in-process [`View`], before the commit; here it also collects them for the change feed
//! (`feed.rs`), which tells the other instances. The writer also reads tokens and
//! authorisations through the view and remembers there what it read from the database
//! (`ahead.rs` says why that is safe), and inserts a registration under an id drawn for its
//! batch, so that neither waits for a round trip.
//!
//! How a statement is run and its rows read (`one`, `all`, `count`, `exec`) is in `query.rs`.

use std::collections::{BTreeSet, VecDeque};
use std::sync::Arc;

use super::deferred::{Deferred, Put};
use super::prefetch::{Known, KnownEntity, Prefetched};
use super::tokens;
use super::{feed, Conn};
use crate::clock::system_now_ms;
use crate::domain::*;
use crate::error::Result;
use crate::store::rows::{self, cols, sets_to_json, to_u32, Cells as _};
use crate::store::view::{Key, View};
use crate::store::{sql, SuccessWrites, Tx};

/// `Tx::insert_mini_program`: the SQLite statements `INSERT_MINI_PROGRAM` and
/// `COUNT_ENTITY_MINI_PROGRAM` as one (one round trip instead of two).
const INSERT_MINI_PROGRAM: &str = concat!(
    "WITH counted AS (
        UPDATE entities SET mini_program_count = mini_program_count + 1
        WHERE world = fw() AND id = $4)
    INSERT INTO mini_programs (world, ",
    cols!(mini_program),
    ") VALUES (fw(), $1, $2, $3, $4, $5, $6, $7, $8)"
);

/// `Tx::insert_registration`, the id drawn by the sequence.
const INSERT_REGISTRATION: &str = concat!(
    "INSERT INTO registrations (world, ",
    cols!(registration_fields),
    ", claimed_at_ms, claimed_by)
     VALUES (fw(),$1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,
       current_setting('fastreg.instance', TRUE)::INTEGER) RETURNING id"
);

/// `Tx::insert_registration` with an id the writer drew beforehand.
const INSERT_REGISTRATION_WITH_ID: &str = concat!(
    "INSERT INTO registrations (world, ",
    cols!(registration_fields),
    ", claimed_at_ms, claimed_by, id)
     VALUES (fw(),$1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,
       current_setting('fastreg.instance', TRUE)::INTEGER, $14)"
);

/// A Mini Program's fields, in the order of `cols!(mini_program)`.
fn mini_program_params(mp: &MiniProgram) -> [&(dyn postgres::types::ToSql + Sync); 8] {
    [
        &mp.appid,
        &mp.user_name,
        &mp.nickname,
        &mp.entity_id,
        &mp.registered_by_oa,
        &mp.linked_oa,
        &mp.verified,
        &mp.created_at,
    ]
}

/// A registration's fields (its status as `status` names it) and `claimed_at_ms`, in the order
/// of `INSERT_REGISTRATION`'s parameters.
fn registration_params<'a>(
    r: &'a Registration,
    status: &'a &'static str,
    claimed_at_ms: &'a i64,
) -> [&'a (dyn postgres::types::ToSql + Sync); 13] {
    [
        &r.ticket,
        &r.oa_appid,
        &r.entity_id,
        &r.component_appid,
        status,
        &r.mp_appid,
        &r.authorization_code,
        &r.is_wx_verify_succ,
        &r.is_link_succ,
        &r.created_at,
        &r.completed_at,
        &r.month,
        claimed_at_ms,
    ]
}

/// What a transaction is to the in-process view.
pub(super) enum Role<'c> {
    /// The writer's: what it changes is pending in the view, and collected for the feed.
    Writer {
        view: &'c Arc<View>,
        changed: &'c mut BTreeSet<String>,
        /// Registration ids drawn for the batch, in the sequence's order (`ahead.rs`).
        ids: &'c mut VecDeque<i64>,
        /// Entities and linked counts as the batch has left them (`prefetch.rs`).
        known: &'c mut Known,
        /// Writes put off (`deferred.rs`).
        deferred: &'c mut Vec<Deferred>,
    },
    /// A reader's snapshot, which began after `epoch` was published.
    Reader { view: &'c Arc<View>, epoch: u64 },
}

/// [`Tx`] over a connection inside a transaction.
pub(super) struct PgTx<'c> {
    pub(super) conn: &'c mut Conn,
    /// The world the transaction acts in: the value of each statement's `fw()` parameter.
    pub(super) world: WorldKey,
    pub(super) role: Role<'c>,
    /// fastregister's reads, read at once ([`Tx::prefetch_fast_register`]); dropped at the
    /// first write.
    pub(super) prefetched: Option<Box<Prefetched>>,
}

impl<'c> PgTx<'c> {
    /// A reader's transaction on `conn`, whose snapshot began after `epoch` was published, in
    /// the default world until a job sets its own.
    pub(super) fn reader(conn: &'c mut Conn, view: &'c Arc<View>, epoch: u64) -> PgTx<'c> {
        PgTx {
            conn,
            world: DEFAULT_WORLD,
            role: Role::Reader { view, epoch },
            prefetched: None,
        }
    }

    /// The writer's transaction on `conn`, over its open batch's memory (see [`Role::Writer`]),
    /// in the default world until a job sets its own.
    pub(super) fn writer(
        conn: &'c mut Conn,
        view: &'c Arc<View>,
        changed: &'c mut BTreeSet<String>,
        ids: &'c mut VecDeque<i64>,
        known: &'c mut Known,
        deferred: &'c mut Vec<Deferred>,
    ) -> PgTx<'c> {
        PgTx {
            conn,
            world: DEFAULT_WORLD,
            role: Role::Writer {
                view,
                changed,
                ids,
                known,
                deferred,
            },
            prefetched: None,
        }
    }
}

impl PgTx<'_> {
    /// Writer: the writes put off (`deferred.rs`).
    pub(super) fn deferred(&mut self) -> Option<&mut Vec<Deferred>> {
        match &mut self.role {
            Role::Writer { deferred, .. } => Some(&mut **deferred),
            Role::Reader { .. } => None,
        }
    }

    /// Writer: this transaction changes values under `key`.
    pub(super) fn touch(&mut self, key: Key<'_>) {
        self.prefetched = None;
        if let Role::Writer {
            view,
            changed,
            known,
            ..
        } = &mut self.role
        {
            view.touch_in(self.world, key);
            changed.insert(feed::encode(self.world, key));
            match key {
                Key::Entity(id) => known.forget_entity(self.world, id),
                Key::All => known.clear(),
                _ => {}
            }
        }
    }

    /// Writer: what it knows of entity `id` in this batch, taken out until the write that
    /// changes it puts it back adjusted.
    fn take_known_entity(&mut self, id: i64) -> Option<KnownEntity> {
        match &mut self.role {
            Role::Writer { known, .. } => known.take_entity(self.world, id),
            Role::Reader { .. } => None,
        }
    }

    /// The insert of `mp`, to the view and the batch's memory: its entity's count changes
    /// (and, if it is linked, its OA's linked count).
    pub(super) fn mini_program_inserting(&mut self, mp: &MiniProgram) {
        let taken = self.take_known_entity(mp.entity_id);
        self.touch(Key::Entity(mp.entity_id));
        if let Role::Writer { known, .. } = &mut self.role {
            known.mini_program_inserted(self.world, mp, taken);
        }
    }

    /// Writer: a registration id drawn for the batch (`ahead.rs`), if one is left.
    pub(super) fn drawn_id(&mut self) -> Option<i64> {
        match &mut self.role {
            Role::Writer { ids, .. } => ids.pop_front(),
            Role::Reader { .. } => None,
        }
    }

    /// The insert of `r`, to the view and the batch's memory.
    pub(super) fn registration_inserting(&mut self, r: &Registration) {
        let taken = self.take_known_entity(r.entity_id);
        self.touch_registration(r);
        if let Role::Writer { known, .. } = &mut self.role {
            known.registration_inserted(self.world, r, taken);
        }
    }

    fn touch_registration(&mut self, r: &Registration) {
        self.touch(Key::OfficialAccount(&r.oa_appid));
        self.touch(Key::Entity(r.entity_id));
        self.touch(Key::Ticket(&r.ticket));
    }

    /// Runs `sql`, an insert of `t` in `INSERT_TOKEN`'s parameter order.
    fn write_token(&mut self, sql: &str, t: &TokenRecord) -> Result<()> {
        self.touch(Key::Tokens(&t.component_appid, &t.authorizer_appid));
        self.exec_later(
            sql,
            &[
                &t.hash,
                &t.kind.as_str(),
                &t.component_appid,
                &t.authorizer_appid,
                &t.issued_at,
                &t.expires_at,
                &t.superseded_at,
            ],
        )
    }
}

impl Tx for PgTx<'_> {
    fn set_world(&mut self, world: WorldKey) {
        self.world = world;
    }

    fn world(&self) -> WorldKey {
        self.world
    }

    fn worlds(&mut self) -> Result<Vec<WorldRow>> {
        self.all(sql::WORLDS, &[], rows::world)
    }

    fn world_versions(&mut self) -> Result<Vec<(WorldKey, String, i64, bool)>> {
        self.all(sql::WORLD_VERSIONS, &[], |r| {
            Ok((r.int(0)?, r.text(1)?, r.int(2)?, r.flag(3)?))
        })
    }

    fn world_row(&mut self, id: &str) -> Result<Option<WorldRow>> {
        self.one(sql::WORLD, &[&id], rows::world)
    }

    fn insert_world(&mut self, w: &WorldRow) -> Result<()> {
        self.exec(
            sql::INSERT_WORLD,
            &[
                &w.key,
                &w.id,
                &w.name,
                &w.token_hash,
                &w.created_at,
                &w.frozen,
                &w.clock_start,
                &w.spec,
                &w.version,
                &w.deleted,
            ],
        )?;
        Ok(())
    }

    fn next_world_key(&mut self) -> Result<WorldKey> {
        self.count(sql::NEXT_WORLD_KEY, &[])
    }

    fn bump_world_version(&mut self, key: WorldKey) -> Result<i64> {
        self.count(
            "UPDATE worlds SET version = nextval('world_versions') WHERE key = $1
             RETURNING version",
            &[&key],
        )
    }

    fn mark_world_deleted(&mut self, key: WorldKey) -> Result<bool> {
        let marked = self.exec(
            "UPDATE worlds SET deleted = TRUE, token_hash = NULL,
             version = nextval('world_versions')
             WHERE key = $1 AND key <> 0 AND NOT deleted",
            &[&key],
        )?;
        Ok(marked == 1)
    }

    fn delete_world_row(&mut self, key: WorldKey) -> Result<bool> {
        Ok(self.exec(sql::DELETE_WORLD, &[&key])? == 1)
    }

    fn purge_world(&mut self, key: WorldKey, limit: u32) -> Result<u64> {
        self.touch(Key::All);
        let rows = i64::from(limit);
        sql::purge_walk(limit, |table| {
            let statement = format!(
                "DELETE FROM {table} WHERE ctid IN
                 (SELECT ctid FROM {table} WHERE world = $1 LIMIT $2)"
            );
            self.exec(&statement, &[&key, &rows])
        })
    }

    fn verify_ticket_ages(&mut self) -> Result<Vec<(WorldKey, String, Option<UnixTime>)>> {
        self.all(sql::VERIFY_TICKET_AGES, &[], |r| {
            Ok((r.int(0)?, r.text(1)?, r.opt_int(2)?))
        })
    }

    fn prefetch_fast_register(
        &mut self,
        token_hash: &str,
        ticket: Option<&str>,
        month: &str,
    ) -> Result<()> {
        let read = Prefetched::read(self, token_hash, ticket, month)?;
        self.prefetched = Some(Box::new(read));
        Ok(())
    }

    fn prefetch_entity(&mut self, entity_id: i64, oa_appid: &str) -> Result<()> {
        // The writer may know it from its read-ahead, or from an earlier job of the batch.
        if let Role::Writer { known, .. } = &self.role {
            if let Some(part) = known.part(self.world, entity_id, oa_appid) {
                self.prefetched = Some(Box::new(Prefetched::entity_only(part)));
                return Ok(());
            }
        }
        let part = Prefetched::read_entity(self, entity_id, oa_appid)?;
        if let Role::Writer { known, .. } = &mut self.role {
            known.learn(self.world, &part);
        }
        self.prefetched = Some(Box::new(Prefetched::entity_only(part)));
        Ok(())
    }

    fn view(&self) -> Option<(Arc<View>, u64)> {
        match &self.role {
            Role::Reader { view, epoch } => Some(((*view).clone(), *epoch)),
            Role::Writer { .. } => None,
        }
    }

    fn writer_view(&self) -> Option<Arc<View>> {
        match &self.role {
            Role::Writer { view, .. } => Some((*view).clone()),
            Role::Reader { .. } => None,
        }
    }

    fn meta(&mut self, key: &str) -> Result<Option<String>> {
        self.one(sql::META, &[&key], |r| r.text(0))
    }

    fn set_meta(&mut self, key: &str, value: &str) -> Result<()> {
        self.exec_later(sql::SET_META, &[&key, &value])?;
        Ok(())
    }

    fn reserve_appid(&mut self, appid: &str, kind: &str) -> Result<bool> {
        Ok(self.exec(sql::RESERVE_APPID, &[&appid, &kind])? == 1)
    }

    /// Sent without waiting: the plain insert fails on a taken appid, and with it the job.
    fn reserve_drawn_appid(&mut self, appid: &str, kind: &str) -> Result<bool> {
        self.exec_later(
            "INSERT INTO appids (world, appid, kind) VALUES (fw(), $1, $2)",
            &[&appid, &kind],
        )?;
        Ok(true)
    }

    fn insert_component(&mut self, c: &Component) -> Result<()> {
        self.touch(Key::Component(&c.appid));
        self.exec(
            sql::INSERT_COMPONENT,
            &[
                &c.appid,
                &c.appsecret,
                &c.token,
                &c.encoding_aes_key,
                &c.event_url,
                &c.auth_domain,
                &c.published,
                &sets_to_json(&c.permission_sets),
                &sets_to_json(&c.mp_permission_sets),
                &serde_json::to_string(&c.ip_whitelist)?,
                &c.created_at,
            ],
        )?;
        Ok(())
    }

    fn update_component(&mut self, c: &Component) -> Result<()> {
        self.touch(Key::Component(&c.appid));
        self.exec(
            sql::UPDATE_COMPONENT,
            &[
                &c.appid,
                &c.appsecret,
                &c.token,
                &c.encoding_aes_key,
                &c.event_url,
                &c.auth_domain,
                &c.published,
                &sets_to_json(&c.permission_sets),
                &sets_to_json(&c.mp_permission_sets),
                &serde_json::to_string(&c.ip_whitelist)?,
            ],
        )?;
        Ok(())
    }

    fn component(&mut self, appid: &str) -> Result<Option<Component>> {
        if let Some(c) = self.prefetched.as_ref().and_then(|p| p.component(appid)) {
            return Ok(c);
        }
        self.one(sql::COMPONENT, &[&appid], rows::component)
    }

    fn components(&mut self) -> Result<Vec<Component>> {
        self.all(sql::COMPONENTS, &[], rows::component)
    }

    fn insert_verify_ticket(&mut self, t: &VerifyTicket) -> Result<()> {
        self.exec(
            sql::INSERT_VERIFY_TICKET,
            &[&t.component_appid, &t.ticket, &t.create_time, &t.expires_at],
        )?;
        Ok(())
    }

    fn verify_ticket(&mut self, ticket: &str) -> Result<Option<VerifyTicket>> {
        self.one(sql::VERIFY_TICKET, &[&ticket], rows::verify_ticket)
    }

    fn latest_verify_ticket(&mut self, component_appid: &str) -> Result<Option<VerifyTicket>> {
        self.one(
            concat!(
                "SELECT ",
                cols!(verify_ticket),
                " FROM verify_tickets WHERE world = fw() AND component_appid = $1
                 ORDER BY create_time DESC, seq DESC LIMIT 1"
            ),
            &[&component_appid],
            rows::verify_ticket,
        )
    }

    fn insert_entity(&mut self, e: &Entity) -> Result<i64> {
        let cap = e.mini_program_cap.map(i64::from);
        // Ids count from 1 in each world (writes are serial: see the module docs).
        let id = (e.id > 0).then_some(e.id);
        let id = self.count(
            concat!(
                "INSERT INTO entities (world, ",
                cols!(entity),
                ") VALUES (fw(), COALESCE($1,
                    (SELECT COALESCE(MAX(id), 0) + 1 FROM entities WHERE world = fw())),
                    $2, $3, $4, $5, $6) RETURNING id"
            ),
            &[
                &id,
                &e.name,
                &e.entity_type.as_str(),
                &e.overseas,
                &e.blacklisted,
                &cap,
            ],
        )?;
        // Under the id it got (before the commit, like every touch).
        self.touch(Key::Entity(id));
        Ok(id)
    }

    fn update_entity(&mut self, e: &Entity) -> Result<()> {
        self.touch(Key::Entity(e.id));
        self.exec(
            sql::UPDATE_ENTITY,
            &[
                &e.id,
                &e.name,
                &e.entity_type.as_str(),
                &e.overseas,
                &e.blacklisted,
                &e.mini_program_cap.map(i64::from),
            ],
        )?;
        Ok(())
    }

    fn entity(&mut self, id: i64) -> Result<Option<Entity>> {
        if let Some(e) = self.prefetched.as_ref().and_then(|p| p.entity(id)) {
            return Ok(e);
        }
        self.one(sql::ENTITY, &[&id], rows::entity)
    }

    fn entities(&mut self) -> Result<Vec<Entity>> {
        self.all(sql::ENTITIES, &[], rows::entity)
    }

    fn lock_entity(&mut self, _id: i64) -> Result<()> {
        // Every write transaction holds the global write lock already (see the module docs).
        Ok(())
    }

    fn insert_official_account(&mut self, oa: &OfficialAccount) -> Result<()> {
        self.touch(Key::OfficialAccount(&oa.appid));
        self.exec(
            sql::INSERT_OFFICIAL_ACCOUNT,
            &[
                &oa.appid,
                &oa.user_name,
                &oa.nickname,
                &oa.entity_id,
                &oa.verified,
                &oa.pending_registration,
                &oa.link_cap.map(i64::from),
                &oa.created_at,
            ],
        )?;
        Ok(())
    }

    fn update_official_account(&mut self, oa: &OfficialAccount) -> Result<()> {
        self.touch(Key::OfficialAccount(&oa.appid));
        self.exec(
            sql::UPDATE_OFFICIAL_ACCOUNT,
            &[
                &oa.appid,
                &oa.nickname,
                &oa.entity_id,
                &oa.verified,
                &oa.pending_registration,
                &oa.link_cap.map(i64::from),
            ],
        )?;
        Ok(())
    }

    fn official_account(&mut self, appid: &str) -> Result<Option<OfficialAccount>> {
        if let Some(oa) = self
            .prefetched
            .as_ref()
            .and_then(|p| p.official_account(appid))
        {
            return Ok(oa);
        }
        self.one(sql::OFFICIAL_ACCOUNT, &[&appid], rows::official_account)
    }

    fn official_accounts(&mut self) -> Result<Vec<OfficialAccount>> {
        self.all(sql::OFFICIAL_ACCOUNTS, &[], rows::official_account)
    }

    fn lock_official_account(&mut self, _appid: &str) -> Result<()> {
        Ok(())
    }

    fn insert_mini_program(&mut self, mp: &MiniProgram) -> Result<()> {
        self.mini_program_inserting(mp);
        self.exec_later(INSERT_MINI_PROGRAM, &mini_program_params(mp))?;
        Ok(())
    }

    fn mini_program(&mut self, appid: &str) -> Result<Option<MiniProgram>> {
        self.one(sql::MINI_PROGRAM, &[&appid], rows::mini_program)
    }

    fn mini_programs(&mut self, limit: u32) -> Result<Vec<MiniProgram>> {
        self.all(sql::MINI_PROGRAMS, &[&i64::from(limit)], rows::mini_program)
    }

    fn count_entity_mini_programs(&mut self, entity_id: i64) -> Result<u32> {
        if let Some(n) = self
            .prefetched
            .as_ref()
            .and_then(|p| p.entity_mini_programs(entity_id))
        {
            return Ok(n);
        }
        Ok(self
            .one(
                "SELECT mini_program_count FROM entities WHERE world = fw() AND id = $1",
                &[&entity_id],
                |r| r.int(0),
            )?
            .map(to_u32)
            .unwrap_or(0))
    }

    fn linked_mini_programs(&mut self, oa_appid: &str) -> Result<Vec<MiniProgram>> {
        self.all(sql::LINKED_MINI_PROGRAMS, &[&oa_appid], rows::mini_program)
    }

    fn count_linked_mini_programs(&mut self, oa_appid: &str) -> Result<u32> {
        if let Some(n) = self.prefetched.as_ref().and_then(|p| p.linked(oa_appid)) {
            return Ok(n);
        }
        // The writer may know it from its read-ahead even when the view held the rest of the
        // job's reads (then nothing was prefetched for the job).
        if let Role::Writer { known, .. } = &self.role {
            if let Some(n) = known.linked(self.world, oa_appid) {
                return Ok(to_u32(n));
            }
        }
        Ok(to_u32(
            self.count(sql::COUNT_LINKED_MINI_PROGRAMS, &[&oa_appid])?,
        ))
    }

    fn put_authorization(&mut self, a: &Authorization) -> Result<()> {
        self.touch(Key::Authorization(&a.component_appid, &a.authorizer_appid));
        self.exec_later(
            sql::PUT_AUTHORIZATION,
            &[
                &a.component_appid,
                &a.authorizer_appid,
                &a.authorizer_kind.as_str(),
                &sets_to_json(&a.permission_sets),
                &a.refresh_token,
                &a.auth_time,
                &a.revoked,
            ],
        )?;
        Ok(())
    }

    fn authorization(
        &mut self,
        component_appid: &str,
        authorizer_appid: &str,
    ) -> Result<Option<Authorization>> {
        let memo = self.prefetched.as_ref();
        if let Some(a) = memo.and_then(|p| p.authorization(component_appid, authorizer_appid)) {
            return Ok(a);
        }
        let view = self.writer_view();
        if let Some(view) = &view {
            let lookup = view.lookup_in(self.world);
            if let Some(a) = lookup.any_authorization(component_appid, authorizer_appid) {
                return Ok(a);
            }
        }
        let read = self.one(
            sql::AUTHORIZATION,
            &[&component_appid, &authorizer_appid],
            rows::authorization,
        )?;
        if let Some(view) = view {
            view.remember_settled_authorization(
                self.world,
                component_appid,
                authorizer_appid,
                read.clone(),
            );
        }
        Ok(read)
    }

    fn set_holder(
        &mut self,
        authorizer_appid: &str,
        set: i64,
        except: &str,
    ) -> Result<Option<String>> {
        let all = self.all(
            concat!(
                "SELECT ",
                cols!(authorization),
                " FROM authorizations
                 WHERE world = fw() AND authorizer_appid = $1 AND component_appid <> $2
                 AND NOT revoked"
            ),
            &[&authorizer_appid, &except],
            rows::authorization,
        )?;
        Ok(all
            .into_iter()
            .find(|a| a.grants(set))
            .map(|a| a.component_appid))
    }

    fn authorizations_of_component(
        &mut self,
        component_appid: &str,
        offset: u32,
        count: u32,
    ) -> Result<Vec<Authorization>> {
        self.all(
            concat!(
                "SELECT ",
                cols!(authorization),
                " FROM authorizations
                 WHERE world = fw() AND component_appid = $1 AND NOT revoked
                 ORDER BY auth_time, authorizer_appid LIMIT $2 OFFSET $3"
            ),
            &[&component_appid, &i64::from(count), &i64::from(offset)],
            rows::authorization,
        )
    }

    fn count_authorizations_of_component(&mut self, component_appid: &str) -> Result<i64> {
        self.count(
            "SELECT COUNT(*) FROM authorizations
             WHERE world = fw() AND component_appid = $1 AND NOT revoked",
            &[&component_appid],
        )
    }

    fn all_authorizations(&mut self) -> Result<Vec<Authorization>> {
        self.all(sql::ALL_AUTHORIZATIONS, &[], rows::authorization)
    }

    fn insert_token(&mut self, t: &TokenRecord) -> Result<()> {
        self.write_token(sql::INSERT_TOKEN, t)
    }

    /// The superseding update and the insert as one statement (`tokens.rs`): they see the
    /// same snapshot, so the new token is not superseded by its own statement.
    fn replace_token(&mut self, t: &TokenRecord) -> Result<()> {
        self.touch(Key::Tokens(&t.component_appid, &t.authorizer_appid));
        // The writer puts it off, to write it with others; anywhere else it goes out now, by
        // the same statement (`tokens.rs`).
        if self.defer(|| Put::Token(t.clone())) {
            return Ok(());
        }
        self.before_statement()?;
        tokens::send_later(self.conn, self.world, &[t])
    }

    fn token(&mut self, hash: &str) -> Result<Option<TokenRecord>> {
        if let Some(t) = self.prefetched.as_ref().and_then(|p| p.token(hash)) {
            return Ok(t);
        }
        let view = self.writer_view();
        if let Some(t) = view
            .as_ref()
            .and_then(|v| v.lookup_in(self.world).token(hash))
        {
            return Ok(Some((*t).clone()));
        }
        let read = self.one(sql::TOKEN, &[&hash], rows::token)?;
        // An unknown token is not remembered: it names no key a write would touch.
        if let (Some(view), Some(t)) = (view, &read) {
            view.remember_settled_token(self.world, Arc::new(t.clone()));
        }
        Ok(read)
    }

    fn supersede_tokens(
        &mut self,
        kind: TokenKind,
        component_appid: &str,
        authorizer_appid: &str,
        now: UnixTime,
    ) -> Result<()> {
        self.touch(Key::Tokens(component_appid, authorizer_appid));
        self.exec(
            sql::SUPERSEDE_TOKENS,
            &[&component_appid, &authorizer_appid, &kind.as_str(), &now],
        )?;
        Ok(())
    }

    fn invalidate_tokens(
        &mut self,
        kind: TokenKind,
        component_appid: &str,
        authorizer_appid: &str,
    ) -> Result<()> {
        self.touch(Key::Tokens(component_appid, authorizer_appid));
        // Superseded at the epoch: past any grace period, now and after a config change.
        self.exec(
            sql::INVALIDATE_TOKENS,
            &[&component_appid, &authorizer_appid, &kind.as_str()],
        )?;
        Ok(())
    }

    fn count_tokens(&mut self, kind: TokenKind, component_appid: &str) -> Result<i64> {
        self.count(sql::COUNT_TOKENS, &[&kind.as_str(), &component_appid])
    }

    fn insert_code(&mut self, c: &CodeRecord) -> Result<()> {
        self.exec_later(
            sql::INSERT_CODE,
            &[
                &c.hash,
                &c.kind.as_str(),
                &c.component_appid,
                &c.authorizer_appid,
                &c.issued_at,
                &c.expires_at,
                &c.used_at,
            ],
        )?;
        Ok(())
    }

    fn code(&mut self, hash: &str) -> Result<Option<CodeRecord>> {
        self.one(sql::CODE, &[&hash], rows::code)
    }

    fn spend_code(&mut self, hash: &str, now: UnixTime) -> Result<()> {
        self.exec_later(sql::SPEND_CODE, &[&hash, &now])?;
        Ok(())
    }

    fn spend_codes_of(
        &mut self,
        component_appid: &str,
        authorizer_appid: &str,
        now: UnixTime,
    ) -> Result<()> {
        self.exec(
            sql::SPEND_CODES_OF,
            &[&component_appid, &authorizer_appid, &now],
        )?;
        Ok(())
    }

    fn insert_fastregister_ticket(&mut self, t: &FastRegisterTicket) -> Result<()> {
        self.touch(Key::Ticket(&t.ticket));
        self.exec_later(
            sql::INSERT_FASTREGISTER_TICKET,
            &[
                &t.ticket,
                &t.component_appid,
                &t.oa_appid,
                &t.copy_wx_verify,
                &t.issued_at,
                &t.expires_at,
            ],
        )?;
        Ok(())
    }

    fn fastregister_ticket(&mut self, ticket: &str) -> Result<Option<FastRegisterTicket>> {
        if let Some(t) = self.prefetched.as_ref().and_then(|p| p.ticket(ticket)) {
            return Ok(t);
        }
        self.one(
            sql::FASTREGISTER_TICKET,
            &[&ticket],
            rows::fastregister_ticket,
        )
    }

    fn insert_registration(&mut self, r: &Registration) -> Result<i64> {
        self.registration_inserting(r);
        let (status, claimed_at_ms) = (r.status.as_str(), system_now_ms());
        let fields = registration_params(r, &status, &claimed_at_ms);
        // An id the writer drew for its batch (`ahead.rs`) lets the insert go without waiting.
        if let Some(id) = self.drawn_id() {
            let mut params = fields.to_vec();
            params.push(&id);
            self.exec_later(INSERT_REGISTRATION_WITH_ID, &params)?;
            return Ok(id);
        }
        self.count(INSERT_REGISTRATION, &fields)
    }

    fn insert_success(&mut self, s: &SuccessWrites) -> Result<Option<i64>> {
        self.write_success(s)
    }

    fn update_registration(&mut self, r: &Registration) -> Result<()> {
        self.touch_registration(r);
        self.exec(
            sql::UPDATE_REGISTRATION,
            &[
                &r.id,
                &r.status.as_str(),
                &r.mp_appid,
                &r.authorization_code,
                &r.is_wx_verify_succ,
                &r.is_link_succ,
                &r.completed_at,
                &r.month,
            ],
        )?;
        Ok(())
    }

    fn registration(&mut self, id: i64) -> Result<Option<Registration>> {
        self.one(sql::REGISTRATION, &[&id], rows::registration)
    }

    fn live_registration_of_ticket(&mut self, ticket: &str) -> Result<Option<Registration>> {
        if let Some(r) = self
            .prefetched
            .as_ref()
            .and_then(|p| p.live_registration(ticket))
        {
            return Ok(r);
        }
        self.one(
            sql::LIVE_REGISTRATION_OF_TICKET,
            &[&ticket],
            rows::registration,
        )
    }

    fn oa_has_registration_in_progress(&mut self, oa_appid: &str) -> Result<bool> {
        if let Some(b) = self
            .prefetched
            .as_ref()
            .and_then(|p| p.oa_in_progress(oa_appid))
        {
            return Ok(b);
        }
        Ok(self.count(sql::OA_HAS_REGISTRATION_IN_PROGRESS, &[&oa_appid])? > 0)
    }

    fn count_successes_in_month(&mut self, oa_appid: &str, month: &str) -> Result<u32> {
        if let Some(n) = self
            .prefetched
            .as_ref()
            .and_then(|p| p.oa_successes(oa_appid, month))
        {
            return Ok(n);
        }
        Ok(to_u32(self.count(
            sql::COUNT_SUCCESSES_IN_MONTH,
            &[&oa_appid, &month],
        )?))
    }

    fn count_entity_registrations_in_progress(&mut self, entity_id: i64) -> Result<u32> {
        if let Some(n) = self
            .prefetched
            .as_ref()
            .and_then(|p| p.entity_in_progress(entity_id))
        {
            return Ok(n);
        }
        Ok(to_u32(self.count(
            sql::COUNT_ENTITY_REGISTRATIONS_IN_PROGRESS,
            &[&entity_id],
        )?))
    }

    fn registrations(&mut self, oa_appid: Option<&str>, limit: u32) -> Result<Vec<Registration>> {
        let limit = i64::from(limit);
        match oa_appid {
            Some(oa) => self.all(sql::REGISTRATIONS_OF_OA, &[&oa, &limit], rows::registration),
            None => self.all(sql::REGISTRATIONS, &[&limit], rows::registration),
        }
    }

    fn abandon_registrations_in_progress(&mut self, claimed_before_ms: i64) -> Result<u64> {
        // Also the claims of instances that are gone: the instance lock their number names is
        // held by no session (see `0005_claims_by_instance.sql`).
        let abandoned = self.all(
            "UPDATE registrations SET status = 'abandoned'
             WHERE status = 'in_progress' AND (claimed_at_ms < $1 OR (claimed_by IS NOT NULL
               AND NOT EXISTS (SELECT 1 FROM pg_locks
                 WHERE locktype = 'advisory' AND granted AND classid::BIGINT = $2
                   AND objid::BIGINT = claimed_by AND objsubid = 2
                   AND database = (SELECT oid FROM pg_database
                                   WHERE datname = current_database()))))
             RETURNING world, ticket, oa_appid, entity_id",
            &[&claimed_before_ms, &i64::from(super::INSTANCE_LOCK_CLASS)],
            |r| Ok((r.int(0)?, r.text(1)?, r.text(2)?, r.int(3)?)),
        )?;
        let world = self.world;
        for (w, ticket, oa, entity) in &abandoned {
            self.world = *w;
            self.touch(Key::OfficialAccount(oa));
            self.touch(Key::Entity(*entity));
            self.touch(Key::Ticket(ticket));
        }
        self.world = world;
        Ok(abandoned.len() as u64)
    }

    fn insert_push(&mut self, p: &Push) -> Result<i64> {
        self.count(
            concat!(
                "INSERT INTO pushes (world, ",
                cols!(push_fields),
                ") VALUES (fw(),$1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11) RETURNING id"
            ),
            &[
                &p.component_appid,
                &p.info_type,
                &p.event_url,
                &p.encrypt,
                &p.created_at,
                &p.status.as_str(),
                &i64::from(p.attempts),
                &p.next_attempt_at_ms,
                &p.last_status,
                &p.last_attempt_at_ms,
                &p.delivered_at_ms,
            ],
        )
    }

    fn update_push(&mut self, p: &Push) -> Result<()> {
        self.exec(
            sql::UPDATE_PUSH,
            &[
                &p.id,
                &p.status.as_str(),
                &i64::from(p.attempts),
                &p.next_attempt_at_ms,
                &p.last_status,
                &p.last_attempt_at_ms,
                &p.delivered_at_ms,
            ],
        )?;
        Ok(())
    }

    fn due_pushes(&mut self, now_ms: i64, limit: u32) -> Result<Vec<Push>> {
        self.all(sql::DUE_PUSHES, &[&now_ms, &i64::from(limit)], rows::push)
    }

    fn claim_due_pushes(&mut self, now_ms: i64, lease_ms: i64, limit: u32) -> Result<Vec<Push>> {
        let due = self.due_pushes(now_ms, limit)?;
        let ids: Vec<i64> = due.iter().map(|p| p.id).collect();
        self.exec(
            "UPDATE pushes SET next_attempt_at_ms = $2 WHERE id = ANY($1)",
            &[&ids, &(now_ms + lease_ms)],
        )?;
        Ok(due)
    }

    fn pushes(&mut self, component_appid: Option<&str>, limit: u32) -> Result<Vec<Push>> {
        let limit = i64::from(limit);
        match component_appid {
            Some(c) => self.all(sql::PUSHES_OF_COMPONENT, &[&c, &limit], rows::push),
            None => self.all(sql::PUSHES, &[&limit], rows::push),
        }
    }
}
