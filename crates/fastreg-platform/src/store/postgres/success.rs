//! Fastregister successes' writes (`Tx::insert_success`) as one statement for every success a
//! row of the writer's batch's jobs made (put off and sent by `deferred.rs`): the appids'
//! reservations, the Mini Programs with their entities' counts, their authorisations, their
//! authorization_codes and the registrations, instead of five statements per success.
//!
//! Each statement the writer sends costs the database its own round of protocol (a bind, an
//! executor started and ended, an answer written to the socket), and the writer's database
//! session is the cluster's one serial chain: successes written by one statement leave it more
//! time for the next. The statement's parts touch five tables, none another's rows, so their
//! seeing one snapshot changes nothing; a taken appid fails the whole statement.

use std::collections::BTreeMap;

use super::deferred::Put;
use super::tx::PgTx;
use super::Conn;
use crate::clock::system_now_ms;
use crate::domain::WorldKey;
use crate::error::Result;
use crate::store::rows::{cols, sets_to_json};
use crate::store::view::Key;
use crate::store::{insert_success_one_by_one, SuccessWrites};

/// A success put off: its writes, the registration's id drawn for the batch, and when it was
/// claimed (`claimed_at_ms`).
pub(super) struct Success {
    pub writes: SuccessWrites,
    pub id: i64,
    pub claimed_at_ms: i64,
}

/// `$1`..`$8` the Mini Programs, `$9`..`$15` their authorisations, `$16`..`$22` their codes,
/// `$23`..`$35` the registrations (their fields and `claimed_at_ms`), `$36` their ids, and
/// `$37`, `$38` each entity with how many Mini Programs it gains. An entity gains them in one
/// update (an `UPDATE … FROM` changes a row once however many rows of its source match).
/// Its `e.id = ANY($37)` repeats the join's condition so that the entities are looked up by
/// their key: without it PostgreSQL planned, for a world it had no statistics of yet (a new
/// one), a hash join over every entity of the world, a quarter of the statement's time in the
/// benchmark (1,105 entities; `auto_explain`, BENCHMARKS.md).
const INSERT_SUCCESSES: &str = concat!(
    "WITH appid AS (INSERT INTO appids (world, appid, kind)
        SELECT fw(), a, 'mp' FROM unnest($1::TEXT[]) AS u(a)),
    counted AS (UPDATE entities AS e SET mini_program_count = e.mini_program_count + u.n
        FROM unnest($37::BIGINT[], $38::BIGINT[]) AS u(id, n)
        WHERE e.world = fw() AND e.id = ANY($37::BIGINT[]) AND e.id = u.id),
    mp AS (INSERT INTO mini_programs (world, ",
    cols!(mini_program),
    ") SELECT fw(), * FROM unnest($1::TEXT[], $2::TEXT[], $3::TEXT[], $4::BIGINT[],
        $5::TEXT[], $6::TEXT[], $7::BOOLEAN[], $8::BIGINT[])),
    au AS (INSERT INTO authorizations (world, ",
    cols!(authorization),
    ") SELECT fw(), * FROM unnest($9::TEXT[], $10::TEXT[], $11::TEXT[], $12::TEXT[],
        $13::TEXT[], $14::BIGINT[], $15::BOOLEAN[])
        ON CONFLICT (world, component_appid, authorizer_appid) DO UPDATE SET
        authorizer_kind = excluded.authorizer_kind,
        permission_sets = excluded.permission_sets,
        refresh_token = excluded.refresh_token,
        auth_time = excluded.auth_time,
        revoked = excluded.revoked),
    co AS (INSERT INTO codes (world, ",
    cols!(code),
    ") SELECT fw(), * FROM unnest($16::TEXT[], $17::TEXT[], $18::TEXT[], $19::TEXT[],
        $20::BIGINT[], $21::BIGINT[], $22::BIGINT[]))
    INSERT INTO registrations (world, ",
    cols!(registration_fields),
    ", claimed_at_ms, claimed_by, id)
    SELECT fw(), t, o, e, c, s, m, ac, v, l, cr, co, mo, cl,
        current_setting('fastreg.instance', TRUE)::INTEGER, id
    FROM unnest($23::TEXT[], $24::TEXT[], $25::BIGINT[], $26::TEXT[], $27::TEXT[], $28::TEXT[],
        $29::TEXT[], $30::BOOLEAN[], $31::BOOLEAN[], $32::BIGINT[], $33::BIGINT[], $34::TEXT[],
        $35::BIGINT[], $36::BIGINT[]) AS u(t, o, e, c, s, m, ac, v, l, cr, co, mo, cl, id)"
);

/// The columns of [`INSERT_SUCCESSES`], in the order of its parameters.
#[derive(Default)]
struct Columns<'s> {
    mp_appid: Vec<&'s str>,
    mp_user_name: Vec<&'s str>,
    mp_nickname: Vec<&'s str>,
    mp_entity: Vec<i64>,
    mp_registered_by: Vec<&'s str>,
    mp_linked: Vec<Option<&'s str>>,
    mp_verified: Vec<bool>,
    mp_created_at: Vec<i64>,
    au_component: Vec<&'s str>,
    au_authorizer: Vec<&'s str>,
    au_kind: Vec<&'static str>,
    au_sets: Vec<String>,
    au_refresh_token: Vec<&'s str>,
    au_time: Vec<i64>,
    au_revoked: Vec<bool>,
    co_hash: Vec<&'s str>,
    co_kind: Vec<&'static str>,
    co_component: Vec<&'s str>,
    co_authorizer: Vec<&'s str>,
    co_issued_at: Vec<i64>,
    co_expires_at: Vec<i64>,
    co_used_at: Vec<Option<i64>>,
    r_ticket: Vec<&'s str>,
    r_oa: Vec<&'s str>,
    r_entity: Vec<i64>,
    r_component: Vec<&'s str>,
    r_status: Vec<&'static str>,
    r_mp: Vec<Option<&'s str>>,
    r_code: Vec<Option<&'s str>>,
    r_wx_verify: Vec<bool>,
    r_link: Vec<bool>,
    r_created_at: Vec<i64>,
    r_completed_at: Vec<Option<i64>>,
    r_month: Vec<Option<&'s str>>,
    r_claimed_at_ms: Vec<i64>,
    r_id: Vec<i64>,
    entity: Vec<i64>,
    entity_gains: Vec<i64>,
}

/// What `successes` write, column by column; each entity once, with its Mini Programs counted.
fn columns<'s>(successes: &[&'s Success]) -> Columns<'s> {
    let mut c = Columns::default();
    let mut gains: BTreeMap<i64, i64> = BTreeMap::new();
    for s in successes {
        let (mp, a, code, r) = (
            &s.writes.mini_program,
            &s.writes.authorization,
            &s.writes.code,
            &s.writes.registration,
        );
        c.mp_appid.push(&mp.appid);
        c.mp_user_name.push(&mp.user_name);
        c.mp_nickname.push(&mp.nickname);
        c.mp_entity.push(mp.entity_id);
        c.mp_registered_by.push(&mp.registered_by_oa);
        c.mp_linked.push(mp.linked_oa.as_deref());
        c.mp_verified.push(mp.verified);
        c.mp_created_at.push(mp.created_at);
        *gains.entry(mp.entity_id).or_default() += 1;
        c.au_component.push(&a.component_appid);
        c.au_authorizer.push(&a.authorizer_appid);
        c.au_kind.push(a.authorizer_kind.as_str());
        c.au_sets.push(sets_to_json(&a.permission_sets));
        c.au_refresh_token.push(&a.refresh_token);
        c.au_time.push(a.auth_time);
        c.au_revoked.push(a.revoked);
        c.co_hash.push(&code.hash);
        c.co_kind.push(code.kind.as_str());
        c.co_component.push(&code.component_appid);
        c.co_authorizer.push(&code.authorizer_appid);
        c.co_issued_at.push(code.issued_at);
        c.co_expires_at.push(code.expires_at);
        c.co_used_at.push(code.used_at);
        c.r_ticket.push(&r.ticket);
        c.r_oa.push(&r.oa_appid);
        c.r_entity.push(r.entity_id);
        c.r_component.push(&r.component_appid);
        c.r_status.push(r.status.as_str());
        c.r_mp.push(r.mp_appid.as_deref());
        c.r_code.push(r.authorization_code.as_deref());
        c.r_wx_verify.push(r.is_wx_verify_succ);
        c.r_link.push(r.is_link_succ);
        c.r_created_at.push(r.created_at);
        c.r_completed_at.push(r.completed_at);
        c.r_month.push(r.month.as_deref());
        c.r_claimed_at_ms.push(s.claimed_at_ms);
        c.r_id.push(s.id);
    }
    (c.entity, c.entity_gains) = gains.into_iter().unzip();
    c
}

/// Sends the writes of `successes` (of `world`) without waiting, as one statement
/// (`client.rs`), under the tag the connection has now.
pub(super) fn send_later(conn: &mut Conn, world: WorldKey, successes: &[&Success]) -> Result<()> {
    let st = conn.statement(INSERT_SUCCESSES)?;
    let c = columns(successes);
    conn.client.execute_later(
        &st,
        &[
            &c.mp_appid,
            &c.mp_user_name,
            &c.mp_nickname,
            &c.mp_entity,
            &c.mp_registered_by,
            &c.mp_linked,
            &c.mp_verified,
            &c.mp_created_at,
            &c.au_component,
            &c.au_authorizer,
            &c.au_kind,
            &c.au_sets,
            &c.au_refresh_token,
            &c.au_time,
            &c.au_revoked,
            &c.co_hash,
            &c.co_kind,
            &c.co_component,
            &c.co_authorizer,
            &c.co_issued_at,
            &c.co_expires_at,
            &c.co_used_at,
            &c.r_ticket,
            &c.r_oa,
            &c.r_entity,
            &c.r_component,
            &c.r_status,
            &c.r_mp,
            &c.r_code,
            &c.r_wx_verify,
            &c.r_link,
            &c.r_created_at,
            &c.r_completed_at,
            &c.r_month,
            &c.r_claimed_at_ms,
            &c.r_id,
            &c.entity,
            &c.entity_gains,
            &world,
        ],
    )
}

impl PgTx<'_> {
    /// `Tx::insert_success`: put off to be written with others (`deferred.rs`), under an id
    /// the writer drew for its batch; without one (a reader, or ids run out), the five writes
    /// one by one.
    pub(super) fn write_success(&mut self, s: &SuccessWrites) -> Result<Option<i64>> {
        let Some(id) = self.drawn_id() else {
            return insert_success_one_by_one(self, s);
        };
        let claimed_at_ms = system_now_ms();
        let put = || {
            Put::Success(Box::new(Success {
                writes: s.clone(),
                id,
                claimed_at_ms,
            }))
        };
        if !self.defer(put) {
            // Not reached: only the writer draws ids, and the writer puts off.
            return insert_success_one_by_one(self, s);
        }
        // What each write alone tells the view and the batch's memory, in the same order.
        let (mp, a, r) = (&s.mini_program, &s.authorization, &s.registration);
        self.mini_program_inserting(mp);
        self.touch(Key::Authorization(&a.component_appid, &a.authorizer_appid));
        self.registration_inserting(r);
        Ok(Some(id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::*;

    fn success(appid: &str, entity_id: i64, id: i64) -> Success {
        let registration = Registration {
            id: 0,
            ticket: format!("ticket-{appid}"),
            oa_appid: "wxoa".into(),
            entity_id,
            component_appid: "wxcomponent".into(),
            status: RegistrationStatus::Succeeded,
            mp_appid: Some(appid.into()),
            authorization_code: Some("code".into()),
            is_wx_verify_succ: true,
            is_link_succ: true,
            created_at: 10,
            completed_at: Some(10),
            month: Some("2026-12".into()),
        };
        Success {
            writes: SuccessWrites {
                mini_program: MiniProgram {
                    appid: appid.into(),
                    user_name: "gh_0".into(),
                    nickname: "mp".into(),
                    entity_id,
                    registered_by_oa: "wxoa".into(),
                    linked_oa: Some("wxoa".into()),
                    verified: true,
                    created_at: 10,
                },
                authorization: Authorization {
                    component_appid: "wxcomponent".into(),
                    authorizer_appid: appid.into(),
                    authorizer_kind: AuthorizerKind::MiniProgram,
                    permission_sets: vec![17, 18],
                    refresh_token: "refresh".into(),
                    auth_time: 10,
                    revoked: false,
                },
                code: CodeRecord {
                    hash: format!("hash-{appid}"),
                    kind: CodeKind::Authorization,
                    component_appid: "wxcomponent".into(),
                    authorizer_appid: appid.into(),
                    issued_at: 10,
                    expires_at: 3610,
                    used_at: None,
                },
                registration,
            },
            id,
            claimed_at_ms: 10_000,
        }
    }

    #[test]
    fn successes_put_off_are_one_row_each_and_each_entity_gains_its_mini_programs_once() {
        let (a, b, c) = (
            success("wxa", 7, 1),
            success("wxb", 3, 2),
            success("wxc", 7, 3),
        );
        let cols = columns(&[&a, &b, &c]);
        assert_eq!(cols.mp_appid, ["wxa", "wxb", "wxc"]);
        assert_eq!(cols.r_mp, [Some("wxa"), Some("wxb"), Some("wxc")]);
        assert_eq!(cols.r_id, [1, 2, 3]);
        assert_eq!(cols.au_sets, ["[17,18]"; 3]);
        assert_eq!(cols.entity, [3, 7]);
        assert_eq!(cols.entity_gains, [1, 2]);
    }
}
