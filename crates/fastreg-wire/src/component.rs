//! Request and response bodies of the component (third-party platform) endpoints: the
//! component token, pre-auth codes, and the authorisations of Official Accounts and Mini
//! Programs.
//!
//! Requests default missing string fields to `""` so that a server can answer a missing field
//! with its specific errcode (41002, 41004, …) rather than a generic decode error. Responses
//! default every field so that a client reading a reply from a newer WeChat never fails on a
//! field it does not know or a field WeChat left out.

use serde::{Deserialize, Serialize};

use crate::debug_masked;
use crate::envelope::{de_flexible_i64, ApiStatus};

debug_masked!(ComponentTokenRequest { component_appid, component_appsecret masked, component_verify_ticket masked });
debug_masked!(ComponentTokenResponse { component_access_token masked, expires_in });
debug_masked!(StartPushTicketRequest { component_appid, component_secret masked });
debug_masked!(PreAuthCodeResponse { pre_auth_code masked, expires_in });
debug_masked!(QueryAuthRequest { component_appid, authorization_code masked });
debug_masked!(AuthorizationInfo { authorizer_appid, authorizer_access_token masked, expires_in, authorizer_refresh_token masked, func_info });
debug_masked!(AuthorizerTokenRequest { component_appid, authorizer_appid, authorizer_refresh_token masked });
debug_masked!(AuthorizerTokenResponse { authorizer_access_token masked, expires_in, authorizer_refresh_token masked });
debug_masked!(AuthorizerAuthorization { authorizer_appid, authorizer_refresh_token masked, func_info });
debug_masked!(AuthorizerListItem { authorizer_appid, refresh_token masked, auth_time });

/// `api_component_token` request.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(default)]
pub struct ComponentTokenRequest {
    /// The component's appid.
    pub component_appid: String,
    /// The component's AppSecret.
    pub component_appsecret: String,
    /// Any unexpired component_verify_ticket pushed to the component.
    pub component_verify_ticket: String,
}

/// `api_component_token` reply (success has no errcode).
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct ComponentTokenResponse {
    /// The component_access_token.
    #[serde(default)]
    pub component_access_token: String,
    /// Lifetime in seconds (7200).
    #[serde(default, deserialize_with = "de_flexible_i64")]
    pub expires_in: i64,
}

/// `api_start_push_ticket` request.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(default)]
pub struct StartPushTicketRequest {
    /// The component's appid.
    pub component_appid: String,
    /// The component's AppSecret (named `component_secret` on this endpoint).
    pub component_secret: String,
}

/// A request whose only field is the component's appid (`api_create_preauthcode`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(default)]
pub struct PreAuthCodeRequest {
    /// The component's appid.
    pub component_appid: String,
}

/// `api_create_preauthcode` reply.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct PreAuthCodeResponse {
    /// The single-use pre_auth_code for componentloginpage.
    #[serde(default)]
    pub pre_auth_code: String,
    /// Lifetime in seconds.
    #[serde(default, deserialize_with = "de_flexible_i64")]
    pub expires_in: i64,
}

/// `api_query_auth` request.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(default)]
pub struct QueryAuthRequest {
    /// The component's appid.
    pub component_appid: String,
    /// The auth_code of the componentloginpage redirect or the authorized push, or the
    /// authorization_code returned by fastregister.
    pub authorization_code: String,
}

/// `api_query_auth` reply.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct QueryAuthResponse {
    /// The authorisation that the code stood for.
    #[serde(default)]
    pub authorization_info: AuthorizationInfo,
}

/// The authorisation of one authorizer, with fresh tokens.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(default)]
pub struct AuthorizationInfo {
    /// The OA's or MP's appid.
    pub authorizer_appid: String,
    /// A fresh authorizer_access_token.
    pub authorizer_access_token: String,
    /// Its lifetime in seconds.
    #[serde(deserialize_with = "de_flexible_i64")]
    pub expires_in: i64,
    /// The refresh token: persist it at once, it is the only way to new access tokens.
    pub authorizer_refresh_token: String,
    /// The permission sets granted.
    pub func_info: Vec<FuncInfo>,
}

/// One granted permission set.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(default)]
pub struct FuncInfo {
    /// The set.
    pub funcscope_category: FuncscopeCategory,
}

/// A permission set id (27 = fast registration of Mini Programs).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(default)]
pub struct FuncscopeCategory {
    /// The permission set id.
    #[serde(deserialize_with = "de_flexible_i64")]
    pub id: i64,
}

impl FuncInfo {
    /// The `func_info` list for a set of permission-set ids.
    pub fn list(ids: &[i64]) -> Vec<FuncInfo> {
        ids.iter()
            .map(|&id| FuncInfo {
                funcscope_category: FuncscopeCategory { id },
            })
            .collect()
    }

    /// The permission-set ids of a `func_info` list.
    pub fn ids(list: &[FuncInfo]) -> Vec<i64> {
        list.iter().map(|f| f.funcscope_category.id).collect()
    }
}

/// `api_authorizer_token` request.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(default)]
pub struct AuthorizerTokenRequest {
    /// The component's appid.
    pub component_appid: String,
    /// The OA's or MP's appid.
    pub authorizer_appid: String,
    /// The persisted refresh token.
    pub authorizer_refresh_token: String,
}

/// `api_authorizer_token` reply.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(default)]
pub struct AuthorizerTokenResponse {
    /// A fresh authorizer_access_token.
    pub authorizer_access_token: String,
    /// Its lifetime in seconds.
    #[serde(deserialize_with = "de_flexible_i64")]
    pub expires_in: i64,
    /// The refresh token (unchanged unless the account re-authorised).
    pub authorizer_refresh_token: String,
}

/// `api_get_authorizer_info` request.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(default)]
pub struct AuthorizerInfoRequest {
    /// The component's appid.
    pub component_appid: String,
    /// The OA's or MP's appid.
    pub authorizer_appid: String,
}

/// `api_get_authorizer_info` reply.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(default)]
pub struct AuthorizerInfoResponse {
    /// The account.
    pub authorizer_info: AuthorizerInfo,
    /// Its authorisation of the component.
    pub authorization_info: AuthorizerAuthorization,
}

/// An authorizer account as `api_get_authorizer_info` describes it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(default)]
pub struct AuthorizerInfo {
    /// Display name.
    pub nick_name: String,
    /// Avatar URL.
    pub head_img: String,
    /// OA: 0 subscription, 1 upgraded subscription, 2 service account; MP: 0.
    pub service_type_info: IdInfo,
    /// -1 unverified, 0 WeChat-verified, …
    pub verify_type_info: IdInfo,
    /// Original id (`gh_` + 12 hex).
    pub user_name: String,
    /// The owning entity's name.
    pub principal_name: String,
    /// WeChat id alias.
    pub alias: String,
    /// QR code URL.
    pub qrcode_url: String,
    /// 1 normal, 14 cancelled, 16 banned, 18 warned, 19 frozen.
    #[serde(deserialize_with = "de_flexible_i64")]
    pub account_status: i64,
    /// Present for Mini Programs only.
    #[serde(rename = "MiniProgramInfo", skip_serializing_if = "Option::is_none")]
    pub mini_program_info: Option<MiniProgramInfo>,
}

/// `{ "id": N }`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(default)]
pub struct IdInfo {
    /// The id.
    #[serde(deserialize_with = "de_flexible_i64")]
    pub id: i64,
}

/// The `MiniProgramInfo` block (PascalCase on the wire).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(default)]
pub struct MiniProgramInfo {
    /// Configured server domains.
    pub network: MiniProgramNetwork,
    /// Service categories.
    pub categories: Vec<MiniProgramCategory>,
    /// Visit status.
    #[serde(deserialize_with = "de_flexible_i64")]
    pub visit_status: i64,
}

/// A Mini Program's server domains.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(default)]
pub struct MiniProgramNetwork {
    /// request domains.
    #[serde(rename = "RequestDomain")]
    pub request_domain: Vec<String>,
    /// socket domains.
    #[serde(rename = "WsRequestDomain")]
    pub ws_request_domain: Vec<String>,
    /// uploadFile domains.
    #[serde(rename = "UploadDomain")]
    pub upload_domain: Vec<String>,
    /// downloadFile domains.
    #[serde(rename = "DownloadDomain")]
    pub download_domain: Vec<String>,
}

/// A Mini Program service category.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(default)]
pub struct MiniProgramCategory {
    /// First-level category.
    pub first: String,
    /// Second-level category.
    pub second: String,
}

/// The authorisation part of `api_get_authorizer_info`.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(default)]
pub struct AuthorizerAuthorization {
    /// The OA's or MP's appid.
    pub authorizer_appid: String,
    /// The current refresh token.
    pub authorizer_refresh_token: String,
    /// The permission sets granted.
    pub func_info: Vec<FuncInfo>,
}

/// `api_get_authorizer_list` request.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(default)]
pub struct AuthorizerListRequest {
    /// The component's appid.
    pub component_appid: String,
    /// Index of the first authorizer to return.
    pub offset: u32,
    /// How many to return (1 to [`AUTHORIZER_LIST_MAX`]).
    #[cfg_attr(
        feature = "schema",
        schemars(required, range(min = 1, max = AUTHORIZER_LIST_MAX))
    )]
    pub count: u32,
}

/// The most `api_get_authorizer_list` answers at once (`count`'s maximum).
pub const AUTHORIZER_LIST_MAX: u32 = 500;

/// `api_get_authorizer_list` reply.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(default)]
pub struct AuthorizerListResponse {
    /// How many authorizers the component has in all.
    #[serde(deserialize_with = "de_flexible_i64")]
    pub total_count: i64,
    /// This page.
    pub list: Vec<AuthorizerListItem>,
}

/// One authorizer in `api_get_authorizer_list`.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(default)]
pub struct AuthorizerListItem {
    /// The OA's or MP's appid.
    pub authorizer_appid: String,
    /// Its current refresh token.
    pub refresh_token: String,
    /// When it authorised the component (unix seconds).
    #[serde(deserialize_with = "de_flexible_i64")]
    pub auth_time: i64,
}

/// A reply that is only a status: `{"errcode":0,"errmsg":"ok"}`.
pub type StatusOnly = ApiStatus;
