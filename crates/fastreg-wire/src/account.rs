//! Request and response bodies of the account endpoints: fastregister itself, wxamplinkget
//! (how a client reconciles an ambiguous fastregister outcome) and getaccountbasicinfo.

use serde::{Deserialize, Serialize, Serializer};

use crate::debug_masked;
use crate::envelope::{de_flexible_bool, de_flexible_i64};

/// `fastregister` request: only the ticket of the fastregisterauth redirect. The OA's
/// authorizer_access_token goes in the query string, not here.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct FastRegisterRequest {
    /// 32 lowercase hex characters from the redirect's `ticket` parameter.
    pub ticket: String,
}

debug_masked!(FastRegisterRequest { ticket masked });

/// How fastregister's two booleans are written on the wire.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum BoolStyle {
    /// `"true"` / `"false"`, as WeChat's documented example (the default).
    #[default]
    String,
    /// JSON `true` / `false`, as WeChat's field table says.
    Json,
}

/// `fastregister` success. Decoding accepts both boolean styles and `"1"`/`"0"`.
#[derive(Clone, Default, PartialEq, Eq, Deserialize)]
pub struct FastRegisterResponse {
    /// The new Mini Program's appid.
    #[serde(default)]
    pub appid: String,
    /// Exchange at once with api_query_auth for the new Mini Program's refresh token.
    #[serde(default)]
    pub authorization_code: String,
    /// Whether the OA's WeChat verification was reused for the Mini Program.
    #[serde(default, deserialize_with = "de_flexible_bool")]
    pub is_wx_verify_succ: bool,
    /// Whether the Mini Program was linked to the OA.
    #[serde(default, deserialize_with = "de_flexible_bool")]
    pub is_link_succ: bool,
}

debug_masked!(FastRegisterResponse { appid, authorization_code masked, is_wx_verify_succ, is_link_succ });

impl FastRegisterResponse {
    /// Serializes the success exactly as WeChat's example: `errcode` 0, empty `errmsg`, the two
    /// booleans in the given style.
    pub fn to_wire(&self, style: BoolStyle) -> serde_json::Value {
        let flag = |b: bool| match style {
            BoolStyle::String => serde_json::Value::String(b.to_string()),
            BoolStyle::Json => serde_json::Value::Bool(b),
        };
        serde_json::json!({
            "errcode": 0,
            "errmsg": "",
            "appid": self.appid,
            "authorization_code": self.authorization_code,
            "is_wx_verify_succ": flag(self.is_wx_verify_succ),
            "is_link_succ": flag(self.is_link_succ),
        })
    }
}

impl FastRegisterResponse {
    /// The success as WeChat's example writes it, fields in the documented order:
    /// `{"errcode":0,"errmsg":"","appid":…,"authorization_code":…,"is_wx_verify_succ":…,"is_link_succ":…}`.
    pub fn to_wire_string(&self, style: BoolStyle) -> String {
        let flag = |b: bool| match style {
            BoolStyle::String => format!("\"{b}\""),
            BoolStyle::Json => b.to_string(),
        };
        let quote = |s: &str| serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into());
        format!(
            r#"{{"errcode":0,"errmsg":"","appid":{},"authorization_code":{},"is_wx_verify_succ":{},"is_link_succ":{}}}"#,
            quote(&self.appid),
            quote(&self.authorization_code),
            flag(self.is_wx_verify_succ),
            flag(self.is_link_succ),
        )
    }
}

impl Serialize for FastRegisterResponse {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.to_wire(BoolStyle::String).serialize(s)
    }
}

/// `wxamplinkget` reply: the Mini Programs linked to an OA.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(default)]
pub struct WxampLinkGetResponse {
    /// The list wrapper.
    pub wxopens: LinkedMiniPrograms,
}

/// `{ "items": [...] }`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(default)]
pub struct LinkedMiniPrograms {
    /// The linked Mini Programs.
    pub items: Vec<LinkedMiniProgram>,
}

/// One Mini Program linked to an OA.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(default)]
pub struct LinkedMiniProgram {
    /// The Mini Program's appid.
    pub appid: String,
    /// Its original id (`gh_…`).
    pub username: String,
    /// Its name.
    pub nickname: String,
    /// 1 linked, 2 waiting for the MP admin, 3 refused by the MP admin, 12 waiting for the OA admin.
    #[serde(deserialize_with = "de_flexible_i64")]
    pub status: i64,
    /// How the link came about (this platform writes `fastregister`).
    pub source: String,
    /// 1 when the Mini Program reused the OA's verification, else 0.
    #[serde(deserialize_with = "de_flexible_i64")]
    pub copy_verify_status: i64,
    /// Whether it is shown on the OA's profile (0/1).
    #[serde(deserialize_with = "de_flexible_i64")]
    pub selected: i64,
    /// Whether it has a released version (0/1).
    #[serde(deserialize_with = "de_flexible_i64")]
    pub released: i64,
}

/// `getaccountbasicinfo` reply (Mini Program token).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(default)]
pub struct AccountBasicInfoResponse {
    /// The Mini Program's appid.
    pub appid: String,
    /// 1 subscription, 2 service account, 3 Mini Program.
    #[serde(deserialize_with = "de_flexible_i64")]
    pub account_type: i64,
    /// 0 individual, 1 enterprise, 2 media, 3 government, 4 other organisation.
    #[serde(deserialize_with = "de_flexible_i64")]
    pub principal_type: i64,
    /// The owning entity's name.
    pub principal_name: String,
    /// 1 verified, 2 in progress, 3 failed.
    #[serde(deserialize_with = "de_flexible_i64")]
    pub realname_status: i64,
    /// WeChat verification state.
    pub wx_verify_info: WxVerifyInfo,
}

/// WeChat verification of a Mini Program.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(default)]
pub struct WxVerifyInfo {
    /// Qualification verified.
    #[serde(deserialize_with = "de_flexible_bool")]
    pub qualification_verify: bool,
    /// Name verified.
    #[serde(deserialize_with = "de_flexible_bool")]
    pub naming_verify: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documented_success_example_decodes() {
        let raw = r#"{"errcode":0,"errmsg":"","appid":"wxe5f52902cf4de896","authorization_code":"****","is_wx_verify_succ":"true","is_link_succ":"true"}"#;
        let r: FastRegisterResponse = serde_json::from_str(raw).unwrap();
        assert_eq!(r.appid, "wxe5f52902cf4de896");
        assert!(r.is_wx_verify_succ && r.is_link_succ);
    }

    #[test]
    fn booleans_are_written_in_the_chosen_style() {
        let r = FastRegisterResponse {
            appid: "wx1".into(),
            authorization_code: "c".into(),
            is_wx_verify_succ: false,
            is_link_succ: true,
        };
        let s = r.to_wire(BoolStyle::String);
        assert_eq!(s["is_wx_verify_succ"], "false");
        assert_eq!(s["is_link_succ"], "true");
        assert_eq!(s["errmsg"], "");
        let j = r.to_wire(BoolStyle::Json);
        assert_eq!(j["is_link_succ"], true);
        let back: FastRegisterResponse = serde_json::from_value(j).unwrap();
        assert_eq!(back, r);
        for style in [BoolStyle::String, BoolStyle::Json] {
            let text = r.to_wire_string(style);
            assert!(
                text.starts_with(r#"{"errcode":0,"errmsg":"","appid":"wx1""#),
                "{text}"
            );
            let v: serde_json::Value = serde_json::from_str(&text).unwrap();
            assert_eq!(v, r.to_wire(style));
        }
    }
}
