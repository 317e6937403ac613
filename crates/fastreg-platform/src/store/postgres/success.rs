//! A fastregister success's writes as one statement (`Tx::insert_success`): the appid's
//! reservation, the Mini Program with its entity's count, its authorisation, its
//! authorization_code and the registration, instead of five.
//!
//! Each statement the writer sends costs the database its own round of protocol (a `Sync`,
//! an answer written to the socket, a portal and an executor started), and the writer's
//! database session is the cluster's one serial chain: a success that sends one statement
//! instead of five leaves it more time for the next. The statement touches five tables, one
//! row each, none another's, so its parts seeing one snapshot changes nothing; a taken appid
//! fails the whole statement, and with it the job, as the reservation alone did.

use super::tx::{mini_program_params, registration_params, PgTx};
use crate::clock::system_now_ms;
use crate::error::Result;
use crate::store::rows::{cols, sets_to_json};
use crate::store::view::Key;
use crate::store::{insert_success_one_by_one, SuccessWrites};

/// `$1`..`$8` the Mini Program, `$9`..`$15` its authorisation, `$16`..`$22` its code,
/// `$23`..`$35` the registration (its fields and `claimed_at_ms`) and `$36` its id.
const INSERT_SUCCESS: &str = concat!(
    "WITH appid AS (INSERT INTO appids (world, appid, kind) VALUES (fw(), $1, 'mp')),
    counted AS (UPDATE entities SET mini_program_count = mini_program_count + 1
        WHERE world = fw() AND id = $4),
    mp AS (INSERT INTO mini_programs (world, ",
    cols!(mini_program),
    ") VALUES (fw(), $1, $2, $3, $4, $5, $6, $7, $8)),
    au AS (INSERT INTO authorizations (world, ",
    cols!(authorization),
    ") VALUES (fw(), $9, $10, $11, $12, $13, $14, $15)
        ON CONFLICT (world, component_appid, authorizer_appid) DO UPDATE SET
        authorizer_kind = excluded.authorizer_kind,
        permission_sets = excluded.permission_sets,
        refresh_token = excluded.refresh_token,
        auth_time = excluded.auth_time,
        revoked = excluded.revoked),
    co AS (INSERT INTO codes (world, ",
    cols!(code),
    ") VALUES (fw(), $16, $17, $18, $19, $20, $21, $22))
    INSERT INTO registrations (world, ",
    cols!(registration_fields),
    ", claimed_at_ms, claimed_by, id)
    VALUES (fw(), $23, $24, $25, $26, $27, $28, $29, $30, $31, $32, $33, $34, $35,
        current_setting('fastreg.instance', TRUE)::INTEGER, $36)"
);

impl PgTx<'_> {
    /// `Tx::insert_success`: one statement, sent without waiting, under an id the writer drew
    /// for its batch; without one (a reader, or ids run out), the five writes one by one.
    pub(super) fn write_success(&mut self, s: &SuccessWrites) -> Result<Option<i64>> {
        let drawn = self.drawn_id();
        let (mp, a, c, r) = (&s.mini_program, &s.authorization, &s.code, &s.registration);
        let Some(id) = drawn else {
            return insert_success_one_by_one(self, s);
        };
        // What each write alone tells the view and the batch's memory, in the same order.
        self.mini_program_inserting(mp);
        self.touch(Key::Authorization(&a.component_appid, &a.authorizer_appid));
        self.registration_inserting(r);
        let (sets, claimed_at_ms) = (sets_to_json(&a.permission_sets), system_now_ms());
        let status = r.status.as_str();
        let (kind, code_kind) = (a.authorizer_kind.as_str(), c.kind.as_str());
        let mut params: Vec<&(dyn postgres::types::ToSql + Sync)> =
            mini_program_params(mp).to_vec();
        params.extend_from_slice(&[
            &a.component_appid as &(dyn postgres::types::ToSql + Sync),
            &a.authorizer_appid,
            &kind,
            &sets,
            &a.refresh_token,
            &a.auth_time,
            &a.revoked,
            &c.hash,
            &code_kind,
            &c.component_appid,
            &c.authorizer_appid,
            &c.issued_at,
            &c.expires_at,
            &c.used_at,
        ]);
        params.extend(registration_params(r, &status, &claimed_at_ms));
        params.push(&id);
        self.exec_later(INSERT_SUCCESS, &params)?;
        Ok(Some(id))
    }
}
