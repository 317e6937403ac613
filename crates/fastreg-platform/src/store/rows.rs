//! What the backends share about rows: each table's column list, once ([`cols!`]), and each
//! row's decoder, once, over [`Cells`], the few typed reads a decoder makes, which each
//! backend implements for its driver's row.
//!
//! Adding a column therefore means: both migration folders, the list here, the decoder here,
//! and the insert/update statements of each backend's `tx.rs`.
//!
//! The column lists are macros rather than `const`s so that `concat!` splices them into each
//! statement at compile time: every statement stays one `&'static str`, built nowhere at run
//! time, which both statement caches look up by its text.

use anyhow::anyhow;
use serde::de::DeserializeOwned;

use crate::domain::*;
use crate::error::{Error, Result};

/// A table's columns, in the order its decoder reads them (and its inserts bind them).
///
/// `cols!(entity_fields)`, `cols!(registration_fields)` and `cols!(push_fields)` are the same
/// lists without the generated `id`, for inserts that let the database assign it.
macro_rules! cols {
    (component) => {
        "appid, appsecret, token, encoding_aes_key, event_url, auth_domain, \
         published, permission_sets, mp_permission_sets, ip_whitelist, created_at"
    };
    (verify_ticket) => {
        "component_appid, ticket, create_time, expires_at"
    };
    (entity) => {
        concat!("id, ", cols!(entity_fields))
    };
    (entity_fields) => {
        "name, type, overseas, blacklisted, mini_program_cap"
    };
    (official_account) => {
        "appid, user_name, nickname, entity_id, verified, pending_registration, link_cap, \
         created_at"
    };
    (mini_program) => {
        "appid, user_name, nickname, entity_id, registered_by_oa, linked_oa, verified, created_at"
    };
    (authorization) => {
        "component_appid, authorizer_appid, authorizer_kind, permission_sets, \
         refresh_token, auth_time, revoked"
    };
    (token) => {
        "hash, kind, component_appid, authorizer_appid, issued_at, expires_at, superseded_at"
    };
    (code) => {
        "hash, kind, component_appid, authorizer_appid, issued_at, expires_at, used_at"
    };
    (fastregister_ticket) => {
        "ticket, component_appid, oa_appid, copy_wx_verify, issued_at, expires_at"
    };
    (registration) => {
        concat!("id, ", cols!(registration_fields))
    };
    (registration_fields) => {
        "ticket, oa_appid, entity_id, component_appid, status, mp_appid, \
         authorization_code, is_wx_verify_succ, is_link_succ, created_at, completed_at, month"
    };
    (push) => {
        concat!("id, ", cols!(push_fields), ", world")
    };
    (world) => {
        "key, id, name, token_hash, created_at, frozen, clock_start, spec, version, deleted"
    };
    (push_fields) => {
        "component_appid, info_type, event_url, encrypt, created_at, \
         status, attempts, next_attempt_at_ms, last_status, last_attempt_at_ms, delivered_at_ms"
    };
}
pub(crate) use cols;

/// The typed reads a row decoder makes, by column index. Each backend implements it for its
/// driver's row and maps the driver's errors to the platform's there.
pub(crate) trait Cells {
    /// A non-null text column.
    fn text(&self, i: usize) -> Result<String>;
    /// A nullable text column.
    fn opt_text(&self, i: usize) -> Result<Option<String>>;
    /// A non-null integer column.
    fn int(&self, i: usize) -> Result<i64>;
    /// A nullable integer column.
    fn opt_int(&self, i: usize) -> Result<Option<i64>>;
    /// A boolean column (an integer 0/1 in SQLite).
    fn flag(&self, i: usize) -> Result<bool>;
    /// A non-null text column lent to `f` in place, for values parsed rather than kept (enum
    /// names, JSON), so that they are not copied out of the row first.
    fn parse<T>(&self, i: usize, f: impl FnOnce(&str) -> Result<T>) -> Result<T>;
}

/// A JSON array column.
fn json_vec<T: DeserializeOwned>(r: &impl Cells, i: usize) -> Result<Vec<T>> {
    r.parse(i, |s| Ok(serde_json::from_str(s)?))
}

/// A column holding one of an enum's stored names.
fn named<T>(r: &impl Cells, i: usize, what: &str, parse: fn(&str) -> Option<T>) -> Result<T> {
    r.parse(i, |s| {
        parse(s).ok_or_else(|| Error::Internal(anyhow!("unknown {what} {s:?} in the database")))
    })
}

/// A stored non-negative count or cap as the domain's `u32`.
pub(crate) fn to_u32(v: i64) -> u32 {
    u32::try_from(v.max(0)).unwrap_or(u32::MAX)
}

/// A list of permission set ids as stored (a JSON array).
pub(crate) fn sets_to_json(sets: &[i64]) -> String {
    serde_json::to_string(sets).unwrap_or_else(|_| "[]".into())
}

/// A row of `cols!(component)`.
pub(crate) fn component(r: &impl Cells) -> Result<Component> {
    Ok(Component {
        appid: r.text(0)?,
        appsecret: r.text(1)?,
        token: r.text(2)?,
        encoding_aes_key: r.text(3)?,
        event_url: r.opt_text(4)?,
        auth_domain: r.text(5)?,
        published: r.flag(6)?,
        permission_sets: json_vec(r, 7)?,
        mp_permission_sets: json_vec(r, 8)?,
        ip_whitelist: json_vec(r, 9)?,
        created_at: r.int(10)?,
    })
}

/// A row of `cols!(verify_ticket)`.
pub(crate) fn verify_ticket(r: &impl Cells) -> Result<VerifyTicket> {
    Ok(VerifyTicket {
        component_appid: r.text(0)?,
        ticket: r.text(1)?,
        create_time: r.int(2)?,
        expires_at: r.int(3)?,
    })
}

/// A row of `cols!(entity)`.
pub(crate) fn entity(r: &impl Cells) -> Result<Entity> {
    Ok(Entity {
        id: r.int(0)?,
        name: r.text(1)?,
        entity_type: named(r, 2, "entity type", EntityType::parse)?,
        overseas: r.flag(3)?,
        blacklisted: r.flag(4)?,
        mini_program_cap: r.opt_int(5)?.map(to_u32),
    })
}

/// A row of `cols!(official_account)`.
pub(crate) fn official_account(r: &impl Cells) -> Result<OfficialAccount> {
    Ok(OfficialAccount {
        appid: r.text(0)?,
        user_name: r.text(1)?,
        nickname: r.text(2)?,
        entity_id: r.int(3)?,
        verified: r.flag(4)?,
        pending_registration: r.flag(5)?,
        link_cap: r.opt_int(6)?.map(to_u32),
        created_at: r.int(7)?,
    })
}

/// A row of `cols!(mini_program)`.
pub(crate) fn mini_program(r: &impl Cells) -> Result<MiniProgram> {
    Ok(MiniProgram {
        appid: r.text(0)?,
        user_name: r.text(1)?,
        nickname: r.text(2)?,
        entity_id: r.int(3)?,
        registered_by_oa: r.text(4)?,
        linked_oa: r.opt_text(5)?,
        verified: r.flag(6)?,
        created_at: r.int(7)?,
    })
}

/// A row of `cols!(authorization)`.
pub(crate) fn authorization(r: &impl Cells) -> Result<Authorization> {
    Ok(Authorization {
        component_appid: r.text(0)?,
        authorizer_appid: r.text(1)?,
        authorizer_kind: named(r, 2, "authorizer kind", AuthorizerKind::parse)?,
        permission_sets: json_vec(r, 3)?,
        refresh_token: r.text(4)?,
        auth_time: r.int(5)?,
        revoked: r.flag(6)?,
    })
}

/// A row of `cols!(token)`.
pub(crate) fn token(r: &impl Cells) -> Result<TokenRecord> {
    Ok(TokenRecord {
        hash: r.text(0)?,
        kind: named(r, 1, "token kind", TokenKind::parse)?,
        component_appid: r.text(2)?,
        authorizer_appid: r.text(3)?,
        issued_at: r.int(4)?,
        expires_at: r.int(5)?,
        superseded_at: r.opt_int(6)?,
    })
}

/// A row of `cols!(code)`.
pub(crate) fn code(r: &impl Cells) -> Result<CodeRecord> {
    Ok(CodeRecord {
        hash: r.text(0)?,
        kind: named(r, 1, "code kind", CodeKind::parse)?,
        component_appid: r.text(2)?,
        authorizer_appid: r.text(3)?,
        issued_at: r.int(4)?,
        expires_at: r.int(5)?,
        used_at: r.opt_int(6)?,
    })
}

/// A row of `cols!(fastregister_ticket)`.
pub(crate) fn fastregister_ticket(r: &impl Cells) -> Result<FastRegisterTicket> {
    Ok(FastRegisterTicket {
        ticket: r.text(0)?,
        component_appid: r.text(1)?,
        oa_appid: r.text(2)?,
        copy_wx_verify: r.flag(3)?,
        issued_at: r.int(4)?,
        expires_at: r.int(5)?,
    })
}

/// A row of `cols!(registration)`.
pub(crate) fn registration(r: &impl Cells) -> Result<Registration> {
    Ok(Registration {
        id: r.int(0)?,
        ticket: r.text(1)?,
        oa_appid: r.text(2)?,
        entity_id: r.int(3)?,
        component_appid: r.text(4)?,
        status: named(r, 5, "registration status", RegistrationStatus::parse)?,
        mp_appid: r.opt_text(6)?,
        authorization_code: r.opt_text(7)?,
        is_wx_verify_succ: r.flag(8)?,
        is_link_succ: r.flag(9)?,
        created_at: r.int(10)?,
        completed_at: r.opt_int(11)?,
        month: r.opt_text(12)?,
    })
}

/// A row of `cols!(push)`.
pub(crate) fn push(r: &impl Cells) -> Result<Push> {
    Ok(Push {
        id: r.int(0)?,
        component_appid: r.text(1)?,
        info_type: r.text(2)?,
        event_url: r.text(3)?,
        encrypt: r.text(4)?,
        created_at: r.int(5)?,
        status: named(r, 6, "push status", PushStatus::parse)?,
        attempts: to_u32(r.int(7)?),
        next_attempt_at_ms: r.int(8)?,
        last_status: r.opt_text(9)?,
        last_attempt_at_ms: r.opt_int(10)?,
        delivered_at_ms: r.opt_int(11)?,
        world: r.int(12)?,
    })
}

/// Decodes `cols!(world)`.
pub(crate) fn world(r: &impl Cells) -> Result<WorldRow> {
    Ok(WorldRow {
        key: r.int(0)?,
        id: r.text(1)?,
        name: r.text(2)?,
        token_hash: r.opt_text(3)?,
        created_at: r.int(4)?,
        frozen: r.flag(5)?,
        clock_start: r.opt_int(6)?,
        spec: r.text(7)?,
        version: r.int(8)?,
        deleted: r.flag(9)?,
    })
}
