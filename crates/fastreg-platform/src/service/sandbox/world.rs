//! Building the sandbox world: components and their verify tickets, entities, Official
//! Accounts (create, change, read).

use super::*;

/// `POST /sandbox/v1/components` (and a seed's `[[components]]`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(example = serde_json::json!({"auth_domain": "localhost", "published": true, "permission_sets": [3, 17, 18, 27, 30, 31]}))]
pub struct ComponentIn {
    /// Generated when absent.
    #[serde(default)]
    #[schemars(regex(pattern = APPID_PATTERN))]
    pub appid: Option<String>,
    /// Generated when absent.
    #[serde(default)]
    pub appsecret: Option<String>,
    /// Push signature token; generated when absent.
    #[serde(default)]
    pub token: Option<String>,
    /// Generated when absent.
    #[serde(default)]
    #[schemars(regex(pattern = AES_KEY_PATTERN))]
    pub encoding_aes_key: Option<String>,
    /// Where pushes go: an absolute http(s) URL.
    #[serde(default)]
    #[schemars(regex(pattern = EVENT_URL_PATTERN))]
    pub event_url: Option<String>,
    /// The host redirect_uris must use (not blank).
    #[schemars(length(min = 1), regex(pattern = NOT_BLANK))]
    pub auth_domain: String,
    /// Fully released.
    pub published: bool,
    /// Sets the component holds.
    #[schemars(inner(range(min = 1, max = PERMISSION_SET_MAX)))]
    pub permission_sets: Vec<i64>,
    /// Sets its fast-registered Mini Programs grant it; defaults to `permission_sets`.
    #[serde(default)]
    #[schemars(inner(range(min = 1, max = PERMISSION_SET_MAX)))]
    pub mp_permission_sets: Option<Vec<i64>>,
    /// IPs allowed to call api_component_token; empty = any.
    #[serde(default)]
    pub ip_whitelist: Option<Vec<String>>,
}

/// `PATCH /sandbox/v1/components/{appid}`.
#[derive(Clone, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ComponentPatch {
    /// New secret.
    #[serde(default)]
    pub appsecret: Option<String>,
    /// New push token.
    #[serde(default)]
    pub token: Option<String>,
    /// New EncodingAESKey.
    #[serde(default)]
    #[schemars(regex(pattern = AES_KEY_PATTERN))]
    pub encoding_aes_key: Option<String>,
    /// New event URL (`null` removes it).
    #[serde(default, deserialize_with = "double_option")]
    #[schemars(regex(pattern = EVENT_URL_PATTERN))]
    pub event_url: Option<Option<String>>,
    /// New auth domain (not blank).
    #[serde(default)]
    #[schemars(length(min = 1), regex(pattern = NOT_BLANK))]
    pub auth_domain: Option<String>,
    /// Published or not.
    #[serde(default)]
    pub published: Option<bool>,
    /// New sets.
    #[serde(default)]
    #[schemars(inner(range(min = 1, max = PERMISSION_SET_MAX)))]
    pub permission_sets: Option<Vec<i64>>,
    /// New MP sets.
    #[serde(default)]
    #[schemars(inner(range(min = 1, max = PERMISSION_SET_MAX)))]
    pub mp_permission_sets: Option<Vec<i64>>,
    /// New whitelist.
    #[serde(default)]
    pub ip_whitelist: Option<Vec<String>>,
}

fastreg_wire::debug_masked!(ComponentPatch {
    appsecret masked,
    token masked,
    encoding_aes_key masked,
    event_url,
    auth_domain,
    published,
    permission_sets,
    mp_permission_sets,
    ip_whitelist,
});

/// Creates a component and issues its first verify ticket.
///
/// # Errors
/// 47001 for malformed fields, 409 when the appid is taken.
pub fn create_component(
    tx: &mut dyn Tx,
    input: ComponentIn,
    now: UnixTime,
    lifetimes: &Lifetimes,
) -> Result<Component> {
    if !not_blank(&input.auth_domain) {
        return Err(bad("auth_domain is required"));
    }
    check_sets(&input.permission_sets)?;
    if let Some(k) = &input.encoding_aes_key {
        check_aes_key(k)?;
    }
    if let Some(u) = &input.event_url {
        check_event_url(u)?;
    }
    let appid = given_or_fresh_appid(tx, input.appid, "component")?;
    let mp_sets = input
        .mp_permission_sets
        .unwrap_or_else(|| input.permission_sets.clone());
    check_sets(&mp_sets)?;
    let c = Component {
        appid,
        appsecret: input.appsecret.unwrap_or_else(secrets::appsecret),
        token: input.token.unwrap_or_else(|| secrets::alnum(32)),
        encoding_aes_key: input
            .encoding_aes_key
            .unwrap_or_else(secrets::encoding_aes_key),
        event_url: input.event_url,
        auth_domain: input.auth_domain.trim().to_string(),
        published: input.published,
        permission_sets: input.permission_sets,
        mp_permission_sets: mp_sets,
        ip_whitelist: input.ip_whitelist.unwrap_or_default(),
        created_at: now,
    };
    tx.insert_component(&c)?;
    issue_verify_ticket(tx, &c, now, lifetimes)?;
    Ok(c)
}

/// Applies a PATCH to a component.
///
/// # Errors
/// 404 unknown component, 47001 malformed fields.
pub fn patch_component(tx: &mut dyn Tx, appid: &str, p: ComponentPatch) -> Result<Component> {
    let mut c = tx
        .component(appid)?
        .ok_or_else(|| not_found(ErrCode::InvalidComponent, "appid names no component"))?;
    if let Some(v) = p.appsecret {
        c.appsecret = v;
    }
    if let Some(v) = p.token {
        c.token = v;
    }
    if let Some(v) = p.encoding_aes_key {
        check_aes_key(&v)?;
        c.encoding_aes_key = v;
    }
    if let Some(v) = p.event_url {
        if let Some(u) = &v {
            check_event_url(u)?;
        }
        c.event_url = v;
    }
    if let Some(v) = p.auth_domain {
        if !not_blank(&v) {
            return Err(bad("auth_domain cannot be empty"));
        }
        c.auth_domain = v.trim().to_string();
    }
    if let Some(v) = p.published {
        c.published = v;
    }
    if let Some(v) = p.permission_sets {
        check_sets(&v)?;
        c.permission_sets = v;
    }
    if let Some(v) = p.mp_permission_sets {
        check_sets(&v)?;
        c.mp_permission_sets = v;
    }
    if let Some(v) = p.ip_whitelist {
        c.ip_whitelist = v;
    }
    tx.update_component(&c)?;
    Ok(c)
}

/// A component by appid.
///
/// # Errors
/// 404 when unknown.
pub fn component(tx: &mut dyn Tx, appid: &str) -> Result<Component> {
    tx.component(appid)?
        .ok_or_else(|| not_found(ErrCode::InvalidComponent, "appid names no component"))
}

/// Issues a fresh component_verify_ticket (on creation, every interval, on demand).
///
/// # Errors
/// Storage faults.
pub fn issue_verify_ticket(
    tx: &mut dyn Tx,
    component: &Component,
    now: UnixTime,
    lifetimes: &Lifetimes,
) -> Result<VerifyTicket> {
    let t = VerifyTicket {
        component_appid: component.appid.clone(),
        ticket: secrets::verify_ticket(),
        create_time: now,
        expires_at: now + lifetimes.component_verify_ticket,
    };
    tx.insert_verify_ticket(&t)?;
    outbox::enqueue(
        tx,
        component,
        &PushEvent::ComponentVerifyTicket {
            app_id: component.appid.clone(),
            create_time: now,
            ticket: t.ticket.clone(),
        },
        now,
    )?;
    Ok(t)
}

/// Issues a ticket to every component whose newest one is at least an interval old (one
/// ticket however many intervals passed: only the newest matters). Returns the new tickets.
///
/// # Errors
/// Storage faults.
pub fn issue_due_verify_tickets(
    tx: &mut dyn Tx,
    now: UnixTime,
    lifetimes: &Lifetimes,
) -> Result<Vec<VerifyTicket>> {
    let mut issued = Vec::new();
    for c in tx.components()? {
        let due = tx
            .latest_verify_ticket(&c.appid)?
            .is_none_or(|t| now >= t.create_time + lifetimes.verify_ticket_interval);
        if due {
            issued.push(issue_verify_ticket(tx, &c, now, lifetimes)?);
        }
    }
    Ok(issued)
}

/// When (world clock) the next verify ticket of any component falls due: an interval after
/// its newest, `i64::MIN` for a component without one, `i64::MAX` without components.
///
/// # Errors
/// Storage faults.
pub fn next_verify_ticket_due(tx: &mut dyn Tx, interval: i64) -> Result<UnixTime> {
    let mut due = i64::MAX;
    for c in tx.components()? {
        let at = tx
            .latest_verify_ticket(&c.appid)?
            .map_or(i64::MIN, |t| t.create_time + interval);
        due = due.min(at);
    }
    Ok(due)
}

/// The newest verify ticket of a component.
///
/// # Errors
/// 404 unknown component.
pub fn latest_verify_ticket(tx: &mut dyn Tx, appid: &str) -> Result<VerifyTicket> {
    component(tx, appid)?;
    tx.latest_verify_ticket(appid)?.ok_or_else(|| {
        not_found(
            ErrCode::ComponentTicketInvalid,
            "no verify ticket issued yet",
        )
    })
}

/// `POST /sandbox/v1/entities`.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(example = serde_json::json!({"name": "Acme Trading Co., Ltd.", "type": "enterprise"}))]
pub struct EntityIn {
    /// Seeds may fix the id so OAs can refer to it; assigned when absent.
    #[serde(default)]
    #[schemars(range(min = 1, max = MAX_ENTITY_ID))]
    pub id: Option<i64>,
    /// Registered name (not blank).
    #[schemars(length(min = 1), regex(pattern = NOT_BLANK))]
    pub name: String,
    /// Legal form.
    #[serde(rename = "type")]
    pub entity_type: EntityType,
    /// Overseas.
    #[serde(default)]
    pub overseas: bool,
    /// Blacklisted.
    #[serde(default)]
    pub blacklisted: bool,
    /// Its own Mini Program cap.
    #[serde(default)]
    pub mini_program_cap: Option<u32>,
}

/// `PATCH /sandbox/v1/entities/{id}`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EntityPatch {
    /// New name (not blank).
    #[serde(default)]
    #[schemars(length(min = 1), regex(pattern = NOT_BLANK))]
    pub name: Option<String>,
    /// New legal form.
    #[serde(default, rename = "type")]
    pub entity_type: Option<EntityType>,
    /// Overseas.
    #[serde(default)]
    pub overseas: Option<bool>,
    /// Blacklisted.
    #[serde(default)]
    pub blacklisted: Option<bool>,
    /// New cap (`null`: the platform default).
    #[serde(default, deserialize_with = "double_option")]
    pub mini_program_cap: Option<Option<u32>>,
}

/// Creates an entity.
///
/// # Errors
/// 47001 empty name or an id outside 1..=[`MAX_ENTITY_ID`], 409 id taken.
pub fn create_entity(tx: &mut dyn Tx, input: EntityIn) -> Result<Entity> {
    if !not_blank(&input.name) {
        return Err(bad("name is required"));
    }
    if let Some(id) = input.id {
        if !(1..=MAX_ENTITY_ID).contains(&id) {
            return Err(bad("id must be between 1 and 2^53 - 1"));
        }
        if tx.entity(id)?.is_some() {
            return Err(Error::sandbox(
                409,
                ErrCode::DataFormatError,
                "id names an entity that exists",
            ));
        }
    }
    let mut e = Entity {
        id: input.id.unwrap_or(0),
        name: input.name,
        entity_type: input.entity_type,
        overseas: input.overseas,
        blacklisted: input.blacklisted,
        mini_program_cap: input.mini_program_cap,
    };
    e.id = tx.insert_entity(&e)?;
    if e.id > MAX_ENTITY_ID {
        // The next id after the largest would be past the bound every id keeps to (and past
        // what an export could be read back with): refused, and nothing is stored.
        return Err(Error::sandbox(
            409,
            ErrCode::DataFormatError,
            "no entity id is left: ids are at most 2^53 - 1; give one",
        ));
    }
    Ok(e)
}

/// Applies a PATCH to an entity.
///
/// # Errors
/// 404 unknown entity.
pub fn patch_entity(tx: &mut dyn Tx, id: i64, p: EntityPatch) -> Result<Entity> {
    if p.name.as_deref().is_some_and(|n| !not_blank(n)) {
        return Err(bad("name cannot be blank"));
    }
    let mut e = entity(tx, id)?;
    if let Some(v) = p.name {
        e.name = v;
    }
    if let Some(v) = p.entity_type {
        e.entity_type = v;
    }
    if let Some(v) = p.overseas {
        e.overseas = v;
    }
    if let Some(v) = p.blacklisted {
        e.blacklisted = v;
    }
    if let Some(v) = p.mini_program_cap {
        e.mini_program_cap = v;
    }
    tx.update_entity(&e)?;
    Ok(e)
}

/// The entity a body refers to: 409 when there is none (the body conflicts with the world; a
/// 404 would say the path named nothing).
fn referenced_entity(tx: &mut dyn Tx, id: i64) -> Result<Entity> {
    tx.entity(id)?.ok_or_else(|| {
        Error::sandbox(
            409,
            ErrCode::DataFormatError,
            "entity_id names no entity in this world",
        )
    })
}

/// An entity by id.
///
/// # Errors
/// 404 when unknown.
pub fn entity(tx: &mut dyn Tx, id: i64) -> Result<Entity> {
    tx.entity(id)?
        .ok_or_else(|| not_found(ErrCode::DataFormatError, "no entity has this id"))
}

/// `POST /sandbox/v1/official-accounts`.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(example = serde_json::json!({"nickname": "Acme Official", "entity_id": 1, "verified": true}))]
pub struct OfficialAccountIn {
    /// Generated when absent.
    #[serde(default)]
    #[schemars(regex(pattern = APPID_PATTERN))]
    pub appid: Option<String>,
    /// Original id; generated when absent.
    #[serde(default)]
    pub user_name: Option<String>,
    /// Display name (not blank).
    #[schemars(length(min = 1), regex(pattern = NOT_BLANK))]
    pub nickname: String,
    /// Owning entity.
    pub entity_id: i64,
    /// WeChat-verified.
    pub verified: bool,
    /// Has a Mini Program pending registration.
    #[serde(default)]
    pub pending_registration: bool,
    /// Its own link cap.
    #[serde(default)]
    pub link_cap: Option<u32>,
}

/// `PATCH /sandbox/v1/official-accounts/{appid}`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OfficialAccountPatch {
    /// New name (not blank).
    #[serde(default)]
    #[schemars(length(min = 1), regex(pattern = NOT_BLANK))]
    pub nickname: Option<String>,
    /// New entity.
    #[serde(default)]
    pub entity_id: Option<i64>,
    /// Verified.
    #[serde(default)]
    pub verified: Option<bool>,
    /// Pending registration flag.
    #[serde(default)]
    pub pending_registration: Option<bool>,
    /// New link cap (`null`: the platform default).
    #[serde(default, deserialize_with = "double_option")]
    pub link_cap: Option<Option<u32>>,
}

/// Creates an OA.
///
/// # Errors
/// 409 unknown entity or appid taken, 47001 malformed fields.
pub fn create_official_account(
    tx: &mut dyn Tx,
    input: OfficialAccountIn,
    now: UnixTime,
) -> Result<OfficialAccount> {
    if !not_blank(&input.nickname) {
        return Err(bad("nickname is required"));
    }
    referenced_entity(tx, input.entity_id)?;
    let appid = given_or_fresh_appid(tx, input.appid, "oa")?;
    let oa = OfficialAccount {
        appid,
        user_name: input.user_name.unwrap_or_else(secrets::user_name),
        nickname: input.nickname,
        entity_id: input.entity_id,
        verified: input.verified,
        pending_registration: input.pending_registration,
        link_cap: input.link_cap,
        created_at: now,
    };
    tx.insert_official_account(&oa)?;
    Ok(oa)
}

/// Applies a PATCH to an OA.
///
/// # Errors
/// 404 unknown OA, 409 unknown entity.
pub fn patch_official_account(
    tx: &mut dyn Tx,
    appid: &str,
    p: OfficialAccountPatch,
) -> Result<OfficialAccount> {
    if p.nickname.as_deref().is_some_and(|n| !not_blank(n)) {
        return Err(bad("nickname cannot be blank"));
    }
    let mut oa = official_account(tx, appid)?;
    if let Some(v) = p.nickname {
        oa.nickname = v;
    }
    if let Some(v) = p.entity_id {
        referenced_entity(tx, v)?;
        oa.entity_id = v;
    }
    if let Some(v) = p.verified {
        oa.verified = v;
    }
    if let Some(v) = p.pending_registration {
        oa.pending_registration = v;
    }
    if let Some(v) = p.link_cap {
        oa.link_cap = v;
    }
    tx.update_official_account(&oa)?;
    Ok(oa)
}

/// An OA by appid.
///
/// # Errors
/// 404 when unknown.
pub fn official_account(tx: &mut dyn Tx, appid: &str) -> Result<OfficialAccount> {
    tx.official_account(appid)?
        .ok_or_else(|| not_found(ErrCode::InvalidAppId, "appid names no Official Account"))
}
