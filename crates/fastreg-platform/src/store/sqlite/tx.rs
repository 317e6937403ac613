//! [`Tx`] for SQLite: the store's row operations as statements on a connection inside a
//! transaction (the writer's, or a reader's snapshot).
//!
//! The writer also tells the in-process [`View`] which keys each write changes
//! ([`SqliteTx::touch`]): every write method touches the keys of the values it may change,
//! before the commit, or the view could answer from a stale value.
//!
//! How a statement is run and its rows read (`one`, `all`, `count`, `exec`) is in `query.rs`.

use std::sync::Arc;

use rusqlite::{params, Connection};

use crate::clock::system_now_ms;
use crate::domain::*;
use crate::error::Result;
use crate::store::rows::{self, cols, sets_to_json, Cells as _};
use crate::store::view::{Key, View};
use crate::store::{sql, Tx};

/// [`Tx`] over a connection inside a transaction.
pub(super) struct SqliteTx<'c> {
    pub(super) conn: &'c Connection,
    /// The world the transaction acts in (what `fw()` answers on this thread too).
    pub(super) world: WorldKey,
    /// The writer names the keys it changes to it; a reader remembers fastregister's reads.
    pub(super) view: Option<&'c Arc<View>>,
    /// A reader's: the view's epoch published before its snapshot began.
    pub(super) read_epoch: Option<u64>,
}

impl SqliteTx<'_> {
    /// Writer: this transaction changes values under `key`.
    fn touch(&self, key: Key<'_>) {
        if let (Some(view), None) = (self.view, self.read_epoch) {
            view.touch_in(self.world, key);
        }
    }

    fn touch_registration(&self, r: &Registration) {
        self.touch(Key::OfficialAccount(&r.oa_appid));
        self.touch(Key::Entity(r.entity_id));
        self.touch(Key::Ticket(&r.ticket));
    }
}

impl Tx for SqliteTx<'_> {
    fn set_world(&mut self, world: WorldKey) {
        self.world = world;
        super::enter_world(world);
    }

    fn world(&self) -> WorldKey {
        self.world
    }

    fn worlds(&mut self) -> Result<Vec<WorldRow>> {
        self.all(sql::WORLDS, [], |r| rows::world(r))
    }

    fn world_versions(&mut self) -> Result<Vec<(WorldKey, String, i64, bool)>> {
        self.all(sql::WORLD_VERSIONS, [], |r| {
            Ok((r.int(0)?, r.text(1)?, r.int(2)?, r.flag(3)?))
        })
    }

    fn world_row(&mut self, id: &str) -> Result<Option<WorldRow>> {
        self.one(sql::WORLD, [id], |r| rows::world(r))
    }

    fn insert_world(&mut self, w: &WorldRow) -> Result<()> {
        self.exec(
            sql::INSERT_WORLD,
            params![
                w.key,
                w.id,
                w.name,
                w.token_hash,
                w.created_at,
                w.frozen,
                w.clock_start,
                w.spec,
                w.version,
                w.deleted
            ],
        )?;
        Ok(())
    }

    fn next_world_key(&mut self) -> Result<WorldKey> {
        self.count(sql::NEXT_WORLD_KEY, [])
    }

    fn bump_world_version(&mut self, key: WorldKey) -> Result<i64> {
        self.count(
            "UPDATE worlds SET version = (SELECT MAX(version) + 1 FROM worlds) WHERE key = ?1
             RETURNING version",
            [key],
        )
    }

    fn mark_world_deleted(&mut self, key: WorldKey) -> Result<bool> {
        self.bump_world_version(key)?;
        let marked = self.exec(
            "UPDATE worlds SET deleted = 1, token_hash = NULL
             WHERE key = ?1 AND key <> 0 AND deleted = 0",
            [key],
        )?;
        Ok(marked == 1)
    }

    fn delete_world_row(&mut self, key: WorldKey) -> Result<bool> {
        Ok(self.exec(sql::DELETE_WORLD, [key])? == 1)
    }

    fn purge_world(&mut self, key: WorldKey, limit: u32) -> Result<u64> {
        // Everything of a deleted world may go: the view forgets it wholesale.
        self.touch(Key::All);
        sql::purge_walk(limit, |table| {
            let statement = format!(
                "DELETE FROM {table} WHERE rowid IN
                 (SELECT rowid FROM {table} WHERE world = ?1 LIMIT ?2)"
            );
            Ok(self.exec(&statement, params![key, limit])? as u64)
        })
    }

    fn verify_ticket_ages(&mut self) -> Result<Vec<(WorldKey, String, Option<UnixTime>)>> {
        self.all(sql::VERIFY_TICKET_AGES, [], |r| {
            Ok((r.int(0)?, r.text(1)?, r.opt_int(2)?))
        })
    }

    fn view(&self) -> Option<(Arc<View>, u64)> {
        Some((self.view?.clone(), self.read_epoch?))
    }

    fn writer_view(&self) -> Option<Arc<View>> {
        match self.read_epoch {
            None => self.view.cloned(),
            Some(_) => None,
        }
    }

    fn meta(&mut self, key: &str) -> Result<Option<String>> {
        self.one(sql::META, [key], |r| r.text(0))
    }

    fn set_meta(&mut self, key: &str, value: &str) -> Result<()> {
        self.exec(sql::SET_META, [key, value])?;
        Ok(())
    }

    fn reserve_appid(&mut self, appid: &str, kind: &str) -> Result<bool> {
        Ok(self.exec(sql::RESERVE_APPID, [appid, kind])? == 1)
    }

    fn insert_component(&mut self, c: &Component) -> Result<()> {
        self.touch(Key::Component(&c.appid));
        self.exec(
            sql::INSERT_COMPONENT,
            params![
                c.appid,
                c.appsecret,
                c.token,
                c.encoding_aes_key,
                c.event_url,
                c.auth_domain,
                c.published,
                sets_to_json(&c.permission_sets),
                sets_to_json(&c.mp_permission_sets),
                serde_json::to_string(&c.ip_whitelist)?,
                c.created_at
            ],
        )?;
        Ok(())
    }

    fn update_component(&mut self, c: &Component) -> Result<()> {
        self.touch(Key::Component(&c.appid));
        self.exec(
            sql::UPDATE_COMPONENT,
            params![
                c.appid,
                c.appsecret,
                c.token,
                c.encoding_aes_key,
                c.event_url,
                c.auth_domain,
                c.published,
                sets_to_json(&c.permission_sets),
                sets_to_json(&c.mp_permission_sets),
                serde_json::to_string(&c.ip_whitelist)?,
            ],
        )?;
        Ok(())
    }

    fn component(&mut self, appid: &str) -> Result<Option<Component>> {
        self.one(sql::COMPONENT, [appid], |r| rows::component(r))
    }

    fn components(&mut self) -> Result<Vec<Component>> {
        self.all(sql::COMPONENTS, [], |r| rows::component(r))
    }

    fn insert_verify_ticket(&mut self, t: &VerifyTicket) -> Result<()> {
        self.exec(
            sql::INSERT_VERIFY_TICKET,
            params![t.component_appid, t.ticket, t.create_time, t.expires_at],
        )?;
        Ok(())
    }

    fn verify_ticket(&mut self, ticket: &str) -> Result<Option<VerifyTicket>> {
        self.one(sql::VERIFY_TICKET, [ticket], |r| rows::verify_ticket(r))
    }

    fn latest_verify_ticket(&mut self, component_appid: &str) -> Result<Option<VerifyTicket>> {
        self.one(
            concat!(
                "SELECT ",
                cols!(verify_ticket),
                " FROM verify_tickets WHERE world = fw() AND component_appid = ?1
                 ORDER BY create_time DESC, rowid DESC LIMIT 1"
            ),
            [component_appid],
            |r| rows::verify_ticket(r),
        )
    }

    fn insert_entity(&mut self, e: &Entity) -> Result<i64> {
        // Ids count from 1 in each world.
        let id = (e.id > 0).then_some(e.id);
        self.exec(
            concat!(
                "INSERT INTO entities (world, ",
                cols!(entity),
                ") VALUES (fw(), COALESCE(?1,
                    (SELECT COALESCE(MAX(id), 0) + 1 FROM entities WHERE world = fw())),
                    ?2, ?3, ?4, ?5, ?6)"
            ),
            params![
                id,
                e.name,
                e.entity_type.as_str(),
                e.overseas,
                e.blacklisted,
                e.mini_program_cap
            ],
        )?;
        let id = self
            .one(
                "SELECT id FROM entities WHERE rowid = last_insert_rowid()",
                [],
                |r| r.int(0),
            )?
            .unwrap_or_default();
        // Under the id it got (before the commit, like every touch).
        self.touch(Key::Entity(id));
        Ok(id)
    }

    fn update_entity(&mut self, e: &Entity) -> Result<()> {
        self.touch(Key::Entity(e.id));
        self.exec(
            sql::UPDATE_ENTITY,
            params![
                e.id,
                e.name,
                e.entity_type.as_str(),
                e.overseas,
                e.blacklisted,
                e.mini_program_cap
            ],
        )?;
        Ok(())
    }

    fn entity(&mut self, id: i64) -> Result<Option<Entity>> {
        self.one(sql::ENTITY, [id], |r| rows::entity(r))
    }

    fn entities(&mut self) -> Result<Vec<Entity>> {
        self.all(sql::ENTITIES, [], |r| rows::entity(r))
    }

    fn lock_entity(&mut self, _id: i64) -> Result<()> {
        // The single writer connection already serialises every write transaction.
        Ok(())
    }

    fn insert_official_account(&mut self, oa: &OfficialAccount) -> Result<()> {
        self.touch(Key::OfficialAccount(&oa.appid));
        self.exec(
            sql::INSERT_OFFICIAL_ACCOUNT,
            params![
                oa.appid,
                oa.user_name,
                oa.nickname,
                oa.entity_id,
                oa.verified,
                oa.pending_registration,
                oa.link_cap,
                oa.created_at
            ],
        )?;
        Ok(())
    }

    fn update_official_account(&mut self, oa: &OfficialAccount) -> Result<()> {
        self.touch(Key::OfficialAccount(&oa.appid));
        self.exec(
            sql::UPDATE_OFFICIAL_ACCOUNT,
            params![
                oa.appid,
                oa.nickname,
                oa.entity_id,
                oa.verified,
                oa.pending_registration,
                oa.link_cap
            ],
        )?;
        Ok(())
    }

    fn official_account(&mut self, appid: &str) -> Result<Option<OfficialAccount>> {
        self.one(sql::OFFICIAL_ACCOUNT, [appid], |r| {
            rows::official_account(r)
        })
    }

    fn official_accounts(&mut self) -> Result<Vec<OfficialAccount>> {
        self.all(sql::OFFICIAL_ACCOUNTS, [], |r| rows::official_account(r))
    }

    fn lock_official_account(&mut self, _appid: &str) -> Result<()> {
        Ok(())
    }

    fn insert_mini_program(&mut self, mp: &MiniProgram) -> Result<()> {
        self.touch(Key::Entity(mp.entity_id));
        self.exec(
            sql::INSERT_MINI_PROGRAM,
            params![
                mp.appid,
                mp.user_name,
                mp.nickname,
                mp.entity_id,
                mp.registered_by_oa,
                mp.linked_oa,
                mp.verified,
                mp.created_at
            ],
        )?;
        self.exec(sql::COUNT_ENTITY_MINI_PROGRAM, [mp.entity_id])?;
        Ok(())
    }

    fn mini_program(&mut self, appid: &str) -> Result<Option<MiniProgram>> {
        self.one(sql::MINI_PROGRAM, [appid], |r| rows::mini_program(r))
    }

    fn mini_programs(&mut self, limit: u32) -> Result<Vec<MiniProgram>> {
        self.all(sql::MINI_PROGRAMS, [limit], |r| rows::mini_program(r))
    }

    fn count_entity_mini_programs(&mut self, entity_id: i64) -> Result<u32> {
        Ok(self
            .one(
                "SELECT mini_program_count FROM entities WHERE world = fw() AND id = ?1",
                [entity_id],
                |r| r.int(0),
            )?
            .unwrap_or(0) as u32)
    }

    fn linked_mini_programs(&mut self, oa_appid: &str) -> Result<Vec<MiniProgram>> {
        self.all(sql::LINKED_MINI_PROGRAMS, [oa_appid], |r| {
            rows::mini_program(r)
        })
    }

    fn count_linked_mini_programs(&mut self, oa_appid: &str) -> Result<u32> {
        Ok(self.count(sql::COUNT_LINKED_MINI_PROGRAMS, [oa_appid])? as u32)
    }

    fn put_authorization(&mut self, a: &Authorization) -> Result<()> {
        self.touch(Key::Authorization(&a.component_appid, &a.authorizer_appid));
        self.exec(
            sql::PUT_AUTHORIZATION,
            params![
                a.component_appid,
                a.authorizer_appid,
                a.authorizer_kind.as_str(),
                sets_to_json(&a.permission_sets),
                a.refresh_token,
                a.auth_time,
                a.revoked
            ],
        )?;
        Ok(())
    }

    fn authorization(
        &mut self,
        component_appid: &str,
        authorizer_appid: &str,
    ) -> Result<Option<Authorization>> {
        self.one(
            sql::AUTHORIZATION,
            [component_appid, authorizer_appid],
            |r| rows::authorization(r),
        )
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
                 WHERE world = fw() AND authorizer_appid = ?1 AND component_appid <> ?2
                 AND revoked = 0"
            ),
            [authorizer_appid, except],
            |r| rows::authorization(r),
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
                 WHERE world = fw() AND component_appid = ?1 AND revoked = 0
                 ORDER BY auth_time, authorizer_appid LIMIT ?2 OFFSET ?3"
            ),
            params![component_appid, count, offset],
            |r| rows::authorization(r),
        )
    }

    fn count_authorizations_of_component(&mut self, component_appid: &str) -> Result<i64> {
        self.count(
            "SELECT COUNT(*) FROM authorizations
             WHERE world = fw() AND component_appid = ?1 AND revoked = 0",
            [component_appid],
        )
    }

    fn all_authorizations(&mut self) -> Result<Vec<Authorization>> {
        self.all(sql::ALL_AUTHORIZATIONS, [], |r| rows::authorization(r))
    }

    fn insert_token(&mut self, t: &TokenRecord) -> Result<()> {
        self.touch(Key::Tokens(&t.component_appid, &t.authorizer_appid));
        self.exec(
            sql::INSERT_TOKEN,
            params![
                t.hash,
                t.kind.as_str(),
                t.component_appid,
                t.authorizer_appid,
                t.issued_at,
                t.expires_at,
                t.superseded_at
            ],
        )?;
        Ok(())
    }

    fn token(&mut self, hash: &str) -> Result<Option<TokenRecord>> {
        self.one(sql::TOKEN, [hash], |r| rows::token(r))
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
            params![component_appid, authorizer_appid, kind.as_str(), now],
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
            params![component_appid, authorizer_appid, kind.as_str()],
        )?;
        Ok(())
    }

    fn count_tokens(&mut self, kind: TokenKind, component_appid: &str) -> Result<i64> {
        self.count(sql::COUNT_TOKENS, [kind.as_str(), component_appid])
    }

    fn insert_code(&mut self, c: &CodeRecord) -> Result<()> {
        self.exec(
            sql::INSERT_CODE,
            params![
                c.hash,
                c.kind.as_str(),
                c.component_appid,
                c.authorizer_appid,
                c.issued_at,
                c.expires_at,
                c.used_at
            ],
        )?;
        Ok(())
    }

    fn code(&mut self, hash: &str) -> Result<Option<CodeRecord>> {
        self.one(sql::CODE, [hash], |r| rows::code(r))
    }

    fn spend_code(&mut self, hash: &str, now: UnixTime) -> Result<()> {
        self.exec(sql::SPEND_CODE, params![hash, now])?;
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
            params![component_appid, authorizer_appid, now],
        )?;
        Ok(())
    }

    fn insert_fastregister_ticket(&mut self, t: &FastRegisterTicket) -> Result<()> {
        self.touch(Key::Ticket(&t.ticket));
        self.exec(
            sql::INSERT_FASTREGISTER_TICKET,
            params![
                t.ticket,
                t.component_appid,
                t.oa_appid,
                t.copy_wx_verify,
                t.issued_at,
                t.expires_at
            ],
        )?;
        Ok(())
    }

    fn fastregister_ticket(&mut self, ticket: &str) -> Result<Option<FastRegisterTicket>> {
        self.one(sql::FASTREGISTER_TICKET, [ticket], |r| {
            rows::fastregister_ticket(r)
        })
    }

    fn insert_registration(&mut self, r: &Registration) -> Result<i64> {
        self.touch_registration(r);
        self.exec(
            concat!(
                "INSERT INTO registrations (world, ",
                cols!(registration_fields),
                ", claimed_at_ms) VALUES (fw(),?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13)"
            ),
            params![
                r.ticket,
                r.oa_appid,
                r.entity_id,
                r.component_appid,
                r.status.as_str(),
                r.mp_appid,
                r.authorization_code,
                r.is_wx_verify_succ,
                r.is_link_succ,
                r.created_at,
                r.completed_at,
                r.month,
                system_now_ms()
            ],
        )?;
        Ok(self.conn.last_insert_rowid())
    }

    fn update_registration(&mut self, r: &Registration) -> Result<()> {
        self.touch_registration(r);
        self.exec(
            sql::UPDATE_REGISTRATION,
            params![
                r.id,
                r.status.as_str(),
                r.mp_appid,
                r.authorization_code,
                r.is_wx_verify_succ,
                r.is_link_succ,
                r.completed_at,
                r.month
            ],
        )?;
        Ok(())
    }

    fn registration(&mut self, id: i64) -> Result<Option<Registration>> {
        self.one(sql::REGISTRATION, [id], |r| rows::registration(r))
    }

    fn live_registration_of_ticket(&mut self, ticket: &str) -> Result<Option<Registration>> {
        self.one(sql::LIVE_REGISTRATION_OF_TICKET, [ticket], |r| {
            rows::registration(r)
        })
    }

    fn oa_has_registration_in_progress(&mut self, oa_appid: &str) -> Result<bool> {
        Ok(self.count(sql::OA_HAS_REGISTRATION_IN_PROGRESS, [oa_appid])? > 0)
    }

    fn count_successes_in_month(&mut self, oa_appid: &str, month: &str) -> Result<u32> {
        Ok(self.count(sql::COUNT_SUCCESSES_IN_MONTH, [oa_appid, month])? as u32)
    }

    fn count_entity_registrations_in_progress(&mut self, entity_id: i64) -> Result<u32> {
        Ok(self.count(sql::COUNT_ENTITY_REGISTRATIONS_IN_PROGRESS, [entity_id])? as u32)
    }

    fn registrations(&mut self, oa_appid: Option<&str>, limit: u32) -> Result<Vec<Registration>> {
        match oa_appid {
            Some(oa) => self.all(sql::REGISTRATIONS_OF_OA, params![oa, limit], |r| {
                rows::registration(r)
            }),
            None => self.all(sql::REGISTRATIONS, params![limit], |r| {
                rows::registration(r)
            }),
        }
    }

    fn insert_push(&mut self, p: &Push) -> Result<i64> {
        self.exec(
            concat!(
                "INSERT INTO pushes (world, ",
                cols!(push_fields),
                ") VALUES (fw(),?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11)"
            ),
            params![
                p.component_appid,
                p.info_type,
                p.event_url,
                p.encrypt,
                p.created_at,
                p.status.as_str(),
                p.attempts,
                p.next_attempt_at_ms,
                p.last_status,
                p.last_attempt_at_ms,
                p.delivered_at_ms
            ],
        )?;
        Ok(self.conn.last_insert_rowid())
    }

    fn update_push(&mut self, p: &Push) -> Result<()> {
        self.exec(
            sql::UPDATE_PUSH,
            params![
                p.id,
                p.status.as_str(),
                p.attempts,
                p.next_attempt_at_ms,
                p.last_status,
                p.last_attempt_at_ms,
                p.delivered_at_ms
            ],
        )?;
        Ok(())
    }

    fn due_pushes(&mut self, now_ms: i64, limit: u32) -> Result<Vec<Push>> {
        self.all(sql::DUE_PUSHES, params![now_ms, limit], |r| rows::push(r))
    }

    fn claim_due_pushes(&mut self, now_ms: i64, lease_ms: i64, limit: u32) -> Result<Vec<Push>> {
        let due = self.due_pushes(now_ms, limit)?;
        for p in &due {
            self.exec(
                "UPDATE pushes SET next_attempt_at_ms = ?2 WHERE id = ?1",
                [p.id, now_ms + lease_ms],
            )?;
        }
        Ok(due)
    }

    fn pushes(&mut self, component_appid: Option<&str>, limit: u32) -> Result<Vec<Push>> {
        match component_appid {
            Some(c) => self.all(sql::PUSHES_OF_COMPONENT, params![c, limit], |r| {
                rows::push(r)
            }),
            None => self.all(sql::PUSHES, params![limit], |r| rows::push(r)),
        }
    }

    fn abandon_registrations_in_progress(&mut self, claimed_before_ms: i64) -> Result<u64> {
        self.touch(Key::All);
        Ok(self.exec(sql::ABANDON_REGISTRATIONS_IN_PROGRESS, [claimed_before_ms])? as u64)
    }
}
