//! The statements both backends run, written once in SQLite's placeholder style (`?1`, `?2`,
//! …); the PostgreSQL backend rewrites them to `$1`, `$2`, … once, when it prepares each one
//! (see `postgres::placeholders`). A statement the two dialects write differently (booleans,
//! `RETURNING`, arrays) stays in its backend's `tx.rs`, next to its use.
//!
//! Each constant is named after the `Tx` method that runs it.

use crate::store::rows::cols;

/// `Tx::meta`.
pub(crate) const META: &str = "SELECT value FROM meta WHERE world = fw() AND key = ?1";

/// `Tx::set_meta`.
pub(crate) const SET_META: &str = "INSERT INTO meta (world, key, value) VALUES (fw(), ?1, ?2)
    ON CONFLICT (world, key) DO UPDATE SET value = excluded.value";

/// `Tx::reserve_appid`.
pub(crate) const RESERVE_APPID: &str =
    "INSERT INTO appids (world, appid, kind) VALUES (fw(), ?1, ?2) ON CONFLICT DO NOTHING";

/// `Tx::insert_component`.
pub(crate) const INSERT_COMPONENT: &str = concat!(
    "INSERT INTO components (world, ",
    cols!(component),
    ") VALUES (fw(),?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11)"
);

/// `Tx::update_component`.
pub(crate) const UPDATE_COMPONENT: &str =
    "UPDATE components SET appsecret=?2, token=?3, encoding_aes_key=?4, event_url=?5,
    auth_domain=?6, published=?7, permission_sets=?8, mp_permission_sets=?9,
    ip_whitelist=?10 WHERE world = fw() AND appid=?1";

/// `Tx::component`.
pub(crate) const COMPONENT: &str = concat!(
    "SELECT ",
    cols!(component),
    " FROM components WHERE world = fw() AND appid = ?1"
);

/// `Tx::components`.
pub(crate) const COMPONENTS: &str = concat!(
    "SELECT ",
    cols!(component),
    " FROM components WHERE world = fw() ORDER BY created_at, appid"
);

/// `Tx::insert_verify_ticket`.
pub(crate) const INSERT_VERIFY_TICKET: &str = concat!(
    "INSERT INTO verify_tickets (world, ",
    cols!(verify_ticket),
    ") VALUES (fw(), ?1, ?2, ?3, ?4)"
);

/// `Tx::verify_ticket`.
pub(crate) const VERIFY_TICKET: &str = concat!(
    "SELECT ",
    cols!(verify_ticket),
    " FROM verify_tickets WHERE world = fw() AND ticket = ?1"
);

/// `Tx::update_entity`.
pub(crate) const UPDATE_ENTITY: &str =
    "UPDATE entities SET name=?2, type=?3, overseas=?4, blacklisted=?5,
    mini_program_cap=?6 WHERE world = fw() AND id=?1";

/// `Tx::entity`.
pub(crate) const ENTITY: &str = concat!(
    "SELECT ",
    cols!(entity),
    " FROM entities WHERE world = fw() AND id = ?1"
);

/// `Tx::entities`.
pub(crate) const ENTITIES: &str = concat!(
    "SELECT ",
    cols!(entity),
    " FROM entities WHERE world = fw() ORDER BY id"
);

/// `Tx::insert_official_account`.
pub(crate) const INSERT_OFFICIAL_ACCOUNT: &str = concat!(
    "INSERT INTO official_accounts (world, ",
    cols!(official_account),
    ") VALUES (fw(),?1,?2,?3,?4,?5,?6,?7,?8)"
);

/// `Tx::update_official_account`.
pub(crate) const UPDATE_OFFICIAL_ACCOUNT: &str =
    "UPDATE official_accounts SET nickname=?2, entity_id=?3, verified=?4,
    pending_registration=?5, link_cap=?6 WHERE world = fw() AND appid=?1";

/// `Tx::official_account`.
pub(crate) const OFFICIAL_ACCOUNT: &str = concat!(
    "SELECT ",
    cols!(official_account),
    " FROM official_accounts WHERE world = fw() AND appid = ?1"
);

/// `Tx::official_accounts`.
pub(crate) const OFFICIAL_ACCOUNTS: &str = concat!(
    "SELECT ",
    cols!(official_account),
    " FROM official_accounts WHERE world = fw() ORDER BY created_at, appid"
);

/// `Tx::insert_mini_program`.
pub(crate) const INSERT_MINI_PROGRAM: &str = concat!(
    "INSERT INTO mini_programs (world, ",
    cols!(mini_program),
    ") VALUES (fw(),?1,?2,?3,?4,?5,?6,?7,?8)"
);

/// `Tx::insert_mini_program`, second statement: the entity's Mini Program count (SQLite; PostgreSQL
/// runs both as one statement, in its `tx.rs`).
pub(crate) const COUNT_ENTITY_MINI_PROGRAM: &str =
    "UPDATE entities SET mini_program_count = mini_program_count + 1 WHERE world = fw() AND id = ?1";

/// `Tx::mini_program`.
pub(crate) const MINI_PROGRAM: &str = concat!(
    "SELECT ",
    cols!(mini_program),
    " FROM mini_programs WHERE world = fw() AND appid = ?1"
);

/// `Tx::mini_programs`.
pub(crate) const MINI_PROGRAMS: &str = concat!(
    "SELECT ",
    cols!(mini_program),
    " FROM mini_programs WHERE world = fw() ORDER BY created_at DESC, appid LIMIT ?1"
);

/// `Tx::linked_mini_programs`.
pub(crate) const LINKED_MINI_PROGRAMS: &str = concat!(
    "SELECT ",
    cols!(mini_program),
    " FROM mini_programs WHERE world = fw() AND linked_oa = ?1 ORDER BY created_at, appid"
);

/// `Tx::count_linked_mini_programs`.
pub(crate) const COUNT_LINKED_MINI_PROGRAMS: &str =
    "SELECT COUNT(*) FROM mini_programs WHERE world = fw() AND linked_oa = ?1";

/// `Tx::put_authorization`.
pub(crate) const PUT_AUTHORIZATION: &str = concat!(
    "INSERT INTO authorizations (world, ",
    cols!(authorization),
    ") VALUES (fw(),?1,?2,?3,?4,?5,?6,?7)
    ON CONFLICT (world, component_appid, authorizer_appid) DO UPDATE SET
    authorizer_kind = excluded.authorizer_kind,
    permission_sets = excluded.permission_sets,
    refresh_token = excluded.refresh_token,
    auth_time = excluded.auth_time,
    revoked = excluded.revoked"
);

/// `Tx::authorization`.
pub(crate) const AUTHORIZATION: &str = concat!(
    "SELECT ",
    cols!(authorization),
    " FROM authorizations
    WHERE world = fw() AND component_appid = ?1 AND authorizer_appid = ?2"
);

/// `Tx::all_authorizations`.
pub(crate) const ALL_AUTHORIZATIONS: &str = concat!(
    "SELECT ",
    cols!(authorization),
    " FROM authorizations WHERE world = fw() ORDER BY auth_time, authorizer_appid"
);

/// `Tx::insert_token`.
pub(crate) const INSERT_TOKEN: &str = concat!(
    "INSERT INTO tokens (world, ",
    cols!(token),
    ") VALUES (fw(),?1,?2,?3,?4,?5,?6,?7)"
);

/// `Tx::token`.
pub(crate) const TOKEN: &str = concat!(
    "SELECT ",
    cols!(token),
    " FROM tokens WHERE world = fw() AND hash = ?1"
);

/// `Tx::supersede_tokens`.
pub(crate) const SUPERSEDE_TOKENS: &str = "UPDATE tokens SET superseded_at = ?4
    WHERE world = fw() AND component_appid = ?1 AND authorizer_appid = ?2 AND kind = ?3
    AND superseded_at IS NULL";

/// `Tx::invalidate_tokens`.
pub(crate) const INVALIDATE_TOKENS: &str = "UPDATE tokens SET superseded_at = 0
    WHERE world = fw() AND component_appid = ?1 AND authorizer_appid = ?2 AND kind = ?3";

/// `Tx::count_tokens`.
pub(crate) const COUNT_TOKENS: &str =
    "SELECT COUNT(*) FROM tokens WHERE world = fw() AND kind = ?1 AND component_appid = ?2";

/// `Tx::insert_code`.
pub(crate) const INSERT_CODE: &str = concat!(
    "INSERT INTO codes (world, ",
    cols!(code),
    ") VALUES (fw(),?1,?2,?3,?4,?5,?6,?7)"
);

/// `Tx::code`.
pub(crate) const CODE: &str = concat!(
    "SELECT ",
    cols!(code),
    " FROM codes WHERE world = fw() AND hash = ?1"
);

/// `Tx::spend_code`.
pub(crate) const SPEND_CODE: &str =
    "UPDATE codes SET used_at = ?2 WHERE world = fw() AND hash = ?1 AND used_at IS NULL";

/// `Tx::spend_codes_of`.
pub(crate) const SPEND_CODES_OF: &str = "UPDATE codes SET used_at = ?3
    WHERE world = fw() AND component_appid = ?1 AND authorizer_appid = ?2 AND used_at IS NULL";

/// `Tx::insert_fastregister_ticket`.
pub(crate) const INSERT_FASTREGISTER_TICKET: &str = concat!(
    "INSERT INTO fastregister_tickets (world, ",
    cols!(fastregister_ticket),
    ") VALUES (fw(),?1,?2,?3,?4,?5,?6)"
);

/// `Tx::fastregister_ticket`.
pub(crate) const FASTREGISTER_TICKET: &str = concat!(
    "SELECT ",
    cols!(fastregister_ticket),
    " FROM fastregister_tickets WHERE world = fw() AND ticket = ?1"
);

/// `Tx::update_registration`.
pub(crate) const UPDATE_REGISTRATION: &str =
    "UPDATE registrations SET status=?2, mp_appid=?3, authorization_code=?4,
    is_wx_verify_succ=?5, is_link_succ=?6, completed_at=?7, month=?8 WHERE world = fw() AND id=?1";

/// `Tx::registration`.
pub(crate) const REGISTRATION: &str = concat!(
    "SELECT ",
    cols!(registration),
    " FROM registrations WHERE world = fw() AND id = ?1"
);

/// `Tx::live_registration_of_ticket`.
pub(crate) const LIVE_REGISTRATION_OF_TICKET: &str = concat!(
    "SELECT ",
    cols!(registration),
    " FROM registrations
    WHERE world = fw() AND ticket = ?1 AND status IN ('in_progress', 'succeeded')"
);

/// `Tx::oa_has_registration_in_progress`.
pub(crate) const OA_HAS_REGISTRATION_IN_PROGRESS: &str = "SELECT COUNT(*) FROM registrations
    WHERE world = fw() AND oa_appid = ?1 AND status = 'in_progress'";

/// `Tx::count_successes_in_month`.
pub(crate) const COUNT_SUCCESSES_IN_MONTH: &str = "SELECT COUNT(*) FROM registrations
    WHERE world = fw() AND oa_appid = ?1 AND month = ?2 AND status = 'succeeded'";

/// `Tx::count_entity_registrations_in_progress`.
pub(crate) const COUNT_ENTITY_REGISTRATIONS_IN_PROGRESS: &str = "SELECT COUNT(*) FROM registrations
    WHERE world = fw() AND entity_id = ?1 AND status = 'in_progress'";

/// `Tx::registrations` of one OA.
pub(crate) const REGISTRATIONS_OF_OA: &str = concat!(
    "SELECT ",
    cols!(registration),
    " FROM registrations WHERE world = fw() AND oa_appid = ?1
    ORDER BY id DESC LIMIT ?2"
);

/// `Tx::registrations` of every OA.
pub(crate) const REGISTRATIONS: &str = concat!(
    "SELECT ",
    cols!(registration),
    " FROM registrations WHERE world = fw() ORDER BY id DESC LIMIT ?1"
);

/// `Tx::update_push`.
pub(crate) const UPDATE_PUSH: &str =
    "UPDATE pushes SET status=?2, attempts=?3, next_attempt_at_ms=?4, last_status=?5,
    last_attempt_at_ms=?6, delivered_at_ms=?7 WHERE id=?1";

/// `Tx::due_pushes`.
pub(crate) const DUE_PUSHES: &str = concat!(
    "SELECT ",
    cols!(push),
    " FROM pushes WHERE status = 'pending' AND next_attempt_at_ms <= ?1
    ORDER BY next_attempt_at_ms, id LIMIT ?2"
);

/// `Tx::pushes` of one component.
pub(crate) const PUSHES_OF_COMPONENT: &str = concat!(
    "SELECT ",
    cols!(push),
    " FROM pushes WHERE world = fw() AND component_appid = ?1 ORDER BY id DESC LIMIT ?2"
);

/// `Tx::pushes` of every component.
pub(crate) const PUSHES: &str = concat!(
    "SELECT ",
    cols!(push),
    " FROM pushes WHERE world = fw() ORDER BY id DESC LIMIT ?1"
);

/// `Tx::abandon_registrations_in_progress`.
pub(crate) const ABANDON_REGISTRATIONS_IN_PROGRESS: &str =
    "UPDATE registrations SET status = 'abandoned'
    WHERE status = 'in_progress' AND claimed_at_ms < ?1";

/// `Tx::worlds`: every world, the deleted ones included, by key.
pub(crate) const WORLDS: &str = concat!("SELECT ", cols!(world), " FROM worlds ORDER BY key");

/// `Tx::world_versions`.
pub(crate) const WORLD_VERSIONS: &str = "SELECT key, id, version, deleted FROM worlds";

/// `Tx::world_row`.
pub(crate) const WORLD: &str = concat!("SELECT ", cols!(world), " FROM worlds WHERE id = ?1");

/// `Tx::insert_world`.
pub(crate) const INSERT_WORLD: &str = concat!(
    "INSERT INTO worlds (",
    cols!(world),
    ") VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10)"
);

/// `Tx::next_world_key`.
pub(crate) const NEXT_WORLD_KEY: &str = "SELECT COALESCE(MAX(key), 0) + 1 FROM worlds";

/// `Tx::delete_world_row`: the last step of a delete, once the world's rows are gone.
pub(crate) const DELETE_WORLD: &str = "DELETE FROM worlds WHERE key = ?1 AND key <> 0";

/// The tables whose rows belong to a world, children before the tables they refer to (the
/// order `Tx::purge_world` empties them in).
pub(crate) const WORLD_TABLES: [&str; 13] = [
    "registrations",
    "pushes",
    "tokens",
    "codes",
    "verify_tickets",
    "mini_programs",
    "fastregister_tickets",
    "authorizations",
    "official_accounts",
    "components",
    "entities",
    "appids",
    "meta",
];

/// `Tx::purge_world`'s walk over [`WORLD_TABLES`], for both backends: `delete(table)` removes
/// at most `limit` of the world's rows from one table and says how many. The walk stops once
/// `limit` rows are gone, so it moves past a table only when it emptied it (fewer than `limit`
/// came back): no row outlives a row that refers to it.
pub(crate) fn purge_walk(
    limit: u32,
    mut delete: impl FnMut(&str) -> crate::error::Result<u64>,
) -> crate::error::Result<u64> {
    let mut deleted = 0;
    for table in WORLD_TABLES {
        deleted += delete(table)?;
        if deleted >= u64::from(limit) {
            break;
        }
    }
    Ok(deleted)
}

/// `Tx::verify_ticket_ages`: every component of every world with its newest verify ticket's
/// time.
pub(crate) const VERIFY_TICKET_AGES: &str = "SELECT c.world, c.appid,
    (SELECT MAX(v.create_time) FROM verify_tickets v
     WHERE v.world = c.world AND v.component_appid = c.appid)
    FROM components c";
