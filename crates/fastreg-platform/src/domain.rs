//! The platform's nouns: components, entities, Official Accounts, Mini Programs, authorisations,
//! credentials and registrations, as plain data with no I/O.
//!
//! Storage loads and saves these; [`crate::rules`] decides over them; the HTTP layer turns them
//! into wire shapes. Times are unix seconds on the sandbox clock ([`crate::clock`]).

use serde::{Deserialize, Serialize};

/// Unix seconds on the sandbox clock.
pub type UnixTime = i64;

/// Permission set 27: fast registration of Mini Programs reusing the OA's entity.
pub const FAST_REGISTER_SET: i64 = 27;

/// The legal form of an entity (主体类型).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum EntityType {
    /// 企业
    Enterprise,
    /// 媒体
    Media,
    /// 政府
    Government,
    /// 其他组织
    OtherOrg,
    /// 个人 (may not fast-register: 61051)
    Personal,
}

impl EntityType {
    /// The name used in storage and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            EntityType::Enterprise => "enterprise",
            EntityType::Media => "media",
            EntityType::Government => "government",
            EntityType::OtherOrg => "other_org",
            EntityType::Personal => "personal",
        }
    }

    /// Parses [`EntityType::as_str`]'s output.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "enterprise" => EntityType::Enterprise,
            "media" => EntityType::Media,
            "government" => EntityType::Government,
            "other_org" => EntityType::OtherOrg,
            "personal" => EntityType::Personal,
            _ => return None,
        })
    }

    /// Whether fast registration is open to this type at all (else 61051).
    pub fn may_fast_register(self) -> bool {
        !matches!(self, EntityType::Personal)
    }

    /// Whether the Mini Program must reuse the OA's verification (`copy_wx_verify=1`, else 61056).
    pub fn must_copy_wx_verify(self) -> bool {
        matches!(
            self,
            EntityType::Government | EntityType::Media | EntityType::OtherOrg
        )
    }

    /// `principal_type` of getaccountbasicinfo.
    pub fn principal_type(self) -> i64 {
        match self {
            EntityType::Personal => 0,
            EntityType::Enterprise => 1,
            EntityType::Media => 2,
            EntityType::Government => 3,
            EntityType::OtherOrg => 4,
        }
    }
}

/// A third-party platform (第三方平台).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Component {
    /// `wx` + 16 hex.
    pub appid: String,
    /// Its AppSecret.
    pub appsecret: String,
    /// Message-verification token for push signatures.
    pub token: String,
    /// 43-character EncodingAESKey for push encryption.
    pub encoding_aes_key: String,
    /// Where pushes go (授权事件接收 URL), if anywhere.
    pub event_url: Option<String>,
    /// The only host `redirect_uri`s may point at (登录授权的发起页域名).
    pub auth_domain: String,
    /// Fully released (全网发布); fastregister refuses unpublished components (61028).
    pub published: bool,
    /// Permission sets the component holds; fastregister needs the configured base sets (61029).
    pub permission_sets: Vec<i64>,
    /// Permission sets a Mini Program it fast-registers grants it.
    pub mp_permission_sets: Vec<i64>,
    /// If non-empty, api_component_token only from these IPs (61004).
    pub ip_whitelist: Vec<String>,
    /// When it was created.
    pub created_at: UnixTime,
}

/// A legal entity (主体) that owns accounts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Entity {
    /// Store-assigned id.
    pub id: i64,
    /// Registered name (shown as `principal_name`).
    pub name: String,
    /// Legal form.
    #[serde(rename = "type")]
    pub entity_type: EntityType,
    /// Overseas entities may not fast-register (61061).
    pub overseas: bool,
    /// Blacklisted entities may not register (61054).
    pub blacklisted: bool,
    /// How many Mini Programs it may own; `None` = the platform default (61053).
    pub mini_program_cap: Option<u32>,
}

/// An Official Account (公众号).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct OfficialAccount {
    /// `wx` + 16 hex.
    pub appid: String,
    /// Original id, `gh_` + 12 hex.
    pub user_name: String,
    /// Display name.
    pub nickname: String,
    /// The owning entity.
    pub entity_id: i64,
    /// WeChat-verified (61052 otherwise).
    pub verified: bool,
    /// Has a Mini Program "pending registration" (61057).
    pub pending_registration: bool,
    /// How many Mini Programs may be linked; `None` = the platform default.
    pub link_cap: Option<u32>,
    /// When it was created.
    pub created_at: UnixTime,
}

/// A Mini Program (小程序), created by fastregister.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct MiniProgram {
    /// `wx` + 16 hex, unique among all accounts.
    pub appid: String,
    /// Original id, `gh_` + 12 hex.
    pub user_name: String,
    /// Display name (a fresh registration has a placeholder).
    pub nickname: String,
    /// The owning entity (the OA's).
    pub entity_id: i64,
    /// The OA whose entity it reuses.
    pub registered_by_oa: String,
    /// The OA it is linked to, if the link succeeded.
    pub linked_oa: Option<String>,
    /// Whether it reused the OA's WeChat verification.
    pub verified: bool,
    /// When it was created.
    pub created_at: UnixTime,
}

/// What kind of account an authorizer is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum AuthorizerKind {
    /// An Official Account.
    OfficialAccount,
    /// A Mini Program.
    MiniProgram,
}

impl AuthorizerKind {
    /// Storage name.
    pub fn as_str(self) -> &'static str {
        match self {
            AuthorizerKind::OfficialAccount => "oa",
            AuthorizerKind::MiniProgram => "mp",
        }
    }

    /// Parses [`AuthorizerKind::as_str`]'s output.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "oa" => Some(AuthorizerKind::OfficialAccount),
            "mp" => Some(AuthorizerKind::MiniProgram),
            _ => None,
        }
    }
}

/// An authorizer's authorisation of a component.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Authorization {
    /// The component.
    pub component_appid: String,
    /// The OA or MP.
    pub authorizer_appid: String,
    /// OA or MP.
    pub authorizer_kind: AuthorizerKind,
    /// Granted permission sets.
    pub permission_sets: Vec<i64>,
    /// The current refresh token (replaced on re-authorisation).
    pub refresh_token: String,
    /// When it was (last) granted.
    pub auth_time: UnixTime,
    /// Revoked by the account (61003 afterwards).
    pub revoked: bool,
}

impl Authorization {
    /// Whether it is in force and includes `set`.
    pub fn grants(&self, set: i64) -> bool {
        !self.revoked && self.permission_sets.contains(&set)
    }
}

/// A component_verify_ticket issued to a component.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerifyTicket {
    /// The component.
    pub component_appid: String,
    /// The ticket.
    pub ticket: String,
    /// When it was issued.
    pub create_time: UnixTime,
    /// When it stops being accepted (61005).
    pub expires_at: UnixTime,
}

/// Which access token a record is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TokenKind {
    /// component_access_token.
    Component,
    /// authorizer_access_token of an OA or MP.
    Authorizer(AuthorizerKind),
}

impl TokenKind {
    /// Storage name.
    pub fn as_str(self) -> &'static str {
        match self {
            TokenKind::Component => "component",
            TokenKind::Authorizer(AuthorizerKind::OfficialAccount) => "oa",
            TokenKind::Authorizer(AuthorizerKind::MiniProgram) => "mp",
        }
    }

    /// Parses [`TokenKind::as_str`]'s output.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "component" => Some(TokenKind::Component),
            other => AuthorizerKind::parse(other).map(TokenKind::Authorizer),
        }
    }
}

/// An issued access token. The token itself is not stored, only its key.
#[derive(Clone, PartialEq, Eq)]
pub struct TokenRecord {
    /// The token's storage key ([`crate::secrets::storage_key`]): its first 8 characters (the
    /// clock of its issue) and the SHA-256 of the whole token, hex.
    pub hash: String,
    /// What it grants.
    pub kind: TokenKind,
    /// The component it was issued to (or on behalf of).
    pub component_appid: String,
    /// The authorizer it acts for (empty for component tokens).
    pub authorizer_appid: String,
    /// When it was issued.
    pub issued_at: UnixTime,
    /// When it expires (42001 afterwards).
    pub expires_at: UnixTime,
    /// When a newer token for the same key was issued; 40001 after the grace period.
    pub superseded_at: Option<UnixTime>,
}

/// Which single-use code a record is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum CodeKind {
    /// api_create_preauthcode's code, spent by componentloginpage.
    PreAuth,
    /// An auth_code / authorization_code, spent by api_query_auth.
    Authorization,
}

impl CodeKind {
    /// Storage name.
    pub fn as_str(self) -> &'static str {
        match self {
            CodeKind::PreAuth => "pre_auth",
            CodeKind::Authorization => "authorization",
        }
    }

    /// Parses [`CodeKind::as_str`]'s output.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "pre_auth" => Some(CodeKind::PreAuth),
            "authorization" => Some(CodeKind::Authorization),
            _ => None,
        }
    }
}

/// A single-use code. The code itself is not stored, only its key.
#[derive(Clone, PartialEq, Eq)]
pub struct CodeRecord {
    /// The code's storage key ([`crate::secrets::storage_key`]): the 8 characters after its
    /// prefix (the clock of its issue) and the SHA-256 of the whole code, hex; or, for a code
    /// issued before codes were stored so, the SHA-256 alone.
    pub hash: String,
    /// What it is for.
    pub kind: CodeKind,
    /// The component it was issued to.
    pub component_appid: String,
    /// The authorizer it stands for (empty for pre-auth codes).
    pub authorizer_appid: String,
    /// When it was issued.
    pub issued_at: UnixTime,
    /// When it expires (61010).
    pub expires_at: UnixTime,
    /// When it was spent (61009 afterwards).
    pub used_at: Option<UnixTime>,
}

/// A fastregister ticket: the OA admin's confirmation on fastregisterauth.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct FastRegisterTicket {
    /// 32 lowercase hex.
    pub ticket: String,
    /// The component that asked.
    pub component_appid: String,
    /// The OA whose admin confirmed.
    pub oa_appid: String,
    /// Whether the admin agreed to reuse the OA's verification.
    pub copy_wx_verify: bool,
    /// When it was issued.
    pub issued_at: UnixTime,
    /// When it stops being accepted (61058).
    pub expires_at: UnixTime,
}

/// Where a registration stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RegistrationStatus {
    /// Claimed its ticket; the Mini Program is being created.
    InProgress,
    /// Answered as a success; counts toward quota and caps.
    Succeeded,
    /// Was in progress when the server stopped; never answered as a success, so its ticket is
    /// usable again.
    Abandoned,
}

impl RegistrationStatus {
    /// Storage name.
    pub fn as_str(self) -> &'static str {
        match self {
            RegistrationStatus::InProgress => "in_progress",
            RegistrationStatus::Succeeded => "succeeded",
            RegistrationStatus::Abandoned => "abandoned",
        }
    }

    /// Parses [`RegistrationStatus::as_str`]'s output.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "in_progress" => RegistrationStatus::InProgress,
            "succeeded" => RegistrationStatus::Succeeded,
            "abandoned" => RegistrationStatus::Abandoned,
            _ => return None,
        })
    }
}

/// One fastregister attempt that got past every check.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Registration {
    /// Store-assigned id.
    pub id: i64,
    /// The ticket it consumed (or claims, while in progress).
    pub ticket: String,
    /// The OA.
    pub oa_appid: String,
    /// The OA's entity (counts toward its cap while in progress).
    pub entity_id: i64,
    /// The component that called.
    pub component_appid: String,
    /// Where it stands.
    pub status: RegistrationStatus,
    /// The new Mini Program (set on success).
    pub mp_appid: Option<String>,
    /// The authorization_code answered (set on success), kept so a replay answers the same.
    pub authorization_code: Option<String>,
    /// `is_wx_verify_succ` answered.
    pub is_wx_verify_succ: bool,
    /// `is_link_succ` answered.
    pub is_link_succ: bool,
    /// When the ticket was claimed.
    pub created_at: UnixTime,
    /// When it succeeded.
    pub completed_at: Option<UnixTime>,
    /// The Asia/Shanghai calendar month of the success, `YYYY-MM` (the quota's unit).
    pub month: Option<String>,
}

// Credentials in rows (secrets, tokens' and codes' hashes, tickets, codes) print masked, so
// that no `{:?}` of a row, of a context holding rows or of a failed assertion repeats one.
fastreg_wire::debug_masked!(Component {
    appid,
    appsecret masked,
    token masked,
    encoding_aes_key masked,
    event_url,
    auth_domain,
    published,
    permission_sets,
    mp_permission_sets,
    ip_whitelist,
    created_at,
});
fastreg_wire::debug_masked!(Authorization {
    component_appid,
    authorizer_appid,
    authorizer_kind,
    permission_sets,
    refresh_token masked,
    auth_time,
    revoked,
});
fastreg_wire::debug_masked!(VerifyTicket { component_appid, ticket masked, create_time, expires_at });
fastreg_wire::debug_masked!(TokenRecord {
    hash masked,
    kind,
    component_appid,
    authorizer_appid,
    issued_at,
    expires_at,
    superseded_at,
});
fastreg_wire::debug_masked!(CodeRecord {
    hash masked,
    kind,
    component_appid,
    authorizer_appid,
    issued_at,
    expires_at,
    used_at,
});
fastreg_wire::debug_masked!(FastRegisterTicket {
    ticket masked,
    component_appid,
    oa_appid,
    copy_wx_verify,
    issued_at,
    expires_at,
});
fastreg_wire::debug_masked!(Registration {
    id,
    ticket masked,
    oa_appid,
    entity_id,
    component_appid,
    status,
    mp_appid,
    authorization_code masked,
    is_wx_verify_succ,
    is_link_succ,
    created_at,
    completed_at,
    month,
});

/// Where a push stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum PushStatus {
    /// Waiting for its (next) attempt.
    Pending,
    /// The receiver answered `success`.
    Delivered,
    /// Every attempt failed.
    Failed,
}

impl PushStatus {
    /// Storage name.
    pub fn as_str(self) -> &'static str {
        match self {
            PushStatus::Pending => "pending",
            PushStatus::Delivered => "delivered",
            PushStatus::Failed => "failed",
        }
    }

    /// Parses [`PushStatus::as_str`]'s output.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "pending" => PushStatus::Pending,
            "delivered" => PushStatus::Delivered,
            "failed" => PushStatus::Failed,
            _ => return None,
        })
    }
}

/// A push to a component's event URL, and its delivery log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Push {
    /// Store-assigned id.
    pub id: i64,
    /// The component pushed to.
    pub component_appid: String,
    /// `component_verify_ticket`, `authorized`, `updateauthorized`, `unauthorized`.
    pub info_type: String,
    /// Where it goes.
    pub event_url: String,
    /// The encrypted message (the envelope's `Encrypt`); the plaintext is never stored.
    #[serde(skip_serializing)]
    pub encrypt: String,
    /// When it was caused (sandbox clock).
    pub created_at: UnixTime,
    /// Where it stands.
    pub status: PushStatus,
    /// Attempts made.
    pub attempts: u32,
    /// When the next attempt is due (system clock, ms).
    pub next_attempt_at_ms: i64,
    /// What the last attempt got (`HTTP 200 success`, `HTTP 500`, `connection refused`, …).
    pub last_status: Option<String>,
    /// When the last attempt was made (system clock, ms).
    pub last_attempt_at_ms: Option<i64>,
    /// When it was delivered (system clock, ms).
    pub delivered_at_ms: Option<i64>,
    /// The world of the component pushed to (its storage key).
    #[serde(skip)]
    pub world: WorldKey,
}

/// A world's storage key: what every row's `world` column holds. The default world is
/// [`DEFAULT_WORLD`]; URLs name worlds by [`WorldRow::id`] instead.
pub type WorldKey = i64;

/// The default world's key (platform.md §9: everything that exists without worlds).
pub const DEFAULT_WORLD: WorldKey = 0;

/// What [`is_world_id`] accepts, as a pattern.
pub const WORLD_ID_PATTERN: &str = "^[a-z0-9]{1,40}$";

/// Whether `id` can name a world (platform.md §9): 1 to 40 lowercase letters and digits.
pub fn is_world_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 40
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
}

/// A world as the store keeps it (platform.md §9). What changes while it lives (clock, faults,
/// settings) is in its own meta values; this row is what names and authorises it.
#[derive(Clone, PartialEq, Eq)]
pub struct WorldRow {
    /// Storage key.
    pub key: WorldKey,
    /// What URLs name it by (`/w/{id}`): lowercase letters and digits.
    pub id: String,
    /// Free text for people.
    pub name: String,
    /// SHA-256 (hex) of its admin token; none for the default world.
    pub token_hash: Option<String>,
    /// When it was created (system clock, unix seconds).
    pub created_at: UnixTime,
    /// Whether its clock moves only when advanced.
    pub frozen: bool,
    /// Its time at creation (a reset returns to it); none: the system clock's.
    pub clock_start: Option<UnixTime>,
    /// The creation request as JSON (a reset applies it again).
    pub spec: String,
    /// Bumped by every change other instances sharing the database must pick up.
    pub version: i64,
    /// Deleted: its rows are being removed, and it answers as unknown.
    pub deleted: bool,
}

impl std::fmt::Debug for WorldRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorldRow")
            .field("key", &self.key)
            .field("id", &self.id)
            .field("name", &self.name)
            .field("frozen", &self.frozen)
            .field("clock_start", &self.clock_start)
            .field("version", &self.version)
            .field("deleted", &self.deleted)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every credential below contains this, every other string does not.
    const SECRET: &str = "SECRET";

    /// How a set credential prints.
    const MASK_SHOWN: &str = r#""***""#;

    fn s(v: &str) -> String {
        v.to_string()
    }

    /// A succeeded registration of the Mini Program `wxmp` with `authorization_code`.
    fn registration(authorization_code: Option<String>) -> Registration {
        Registration {
            id: 7,
            ticket: s("SECRET-fastregister-ticket"),
            oa_appid: s("wxoa"),
            entity_id: 3,
            component_appid: s("wxcomponent"),
            status: RegistrationStatus::Succeeded,
            mp_appid: Some(s("wxmp")),
            authorization_code,
            is_wx_verify_succ: true,
            is_link_succ: true,
            created_at: 1,
            completed_at: Some(2),
            month: Some(s("2026-12")),
        }
    }

    #[test]
    fn rows_print_their_credentials_masked_and_everything_else_as_is() {
        let shown = [
            format!(
                "{:?}",
                Component {
                    appid: s("wxcomponent"),
                    appsecret: s("SECRET-appsecret"),
                    token: s("SECRET-token"),
                    encoding_aes_key: s("SECRET-aes"),
                    event_url: Some(s("https://example.com/push")),
                    auth_domain: s("example.com"),
                    published: true,
                    permission_sets: vec![1, 27],
                    mp_permission_sets: vec![],
                    ip_whitelist: vec![],
                    created_at: 1,
                }
            ),
            format!(
                "{:?}",
                Authorization {
                    component_appid: s("wxcomponent"),
                    authorizer_appid: s("wxoa"),
                    authorizer_kind: AuthorizerKind::OfficialAccount,
                    permission_sets: vec![27],
                    refresh_token: s("SECRET-refresh"),
                    auth_time: 1,
                    revoked: false,
                }
            ),
            format!(
                "{:?}",
                VerifyTicket {
                    component_appid: s("wxcomponent"),
                    ticket: s("SECRET-verify-ticket"),
                    create_time: 1,
                    expires_at: 2,
                }
            ),
            format!(
                "{:?}",
                TokenRecord {
                    hash: s("SECRET-token-hash"),
                    kind: TokenKind::Component,
                    component_appid: s("wxcomponent"),
                    authorizer_appid: s("wxoa"),
                    issued_at: 1,
                    expires_at: 2,
                    superseded_at: None,
                }
            ),
            format!(
                "{:?}",
                CodeRecord {
                    hash: s("SECRET-code-hash"),
                    kind: CodeKind::Authorization,
                    component_appid: s("wxcomponent"),
                    authorizer_appid: s("wxoa"),
                    issued_at: 1,
                    expires_at: 2,
                    used_at: None,
                }
            ),
            format!(
                "{:?}",
                FastRegisterTicket {
                    ticket: s("SECRET-fastregister-ticket"),
                    component_appid: s("wxcomponent"),
                    oa_appid: s("wxoa"),
                    copy_wx_verify: true,
                    issued_at: 1,
                    expires_at: 2,
                }
            ),
            format!("{:?}", registration(Some(s("SECRET-authorization-code")))),
        ];
        for text in &shown {
            assert!(!text.contains(SECRET), "a credential printed: {text}");
            assert!(text.contains(MASK_SHOWN), "no credential masked: {text}");
            assert!(text.contains("wxcomponent"), "a plain field hidden: {text}");
        }
        assert!(
            shown[6].contains(r#"mp_appid: Some("wxmp")"#),
            "{}",
            shown[6]
        );
    }

    #[test]
    fn an_absent_credential_prints_as_absent() {
        let r = registration(None);
        assert!(
            format!("{r:?}").contains("authorization_code: None"),
            "{r:?}"
        );
    }
}
