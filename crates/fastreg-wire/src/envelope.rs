//! The `{errcode, errmsg}` envelope every WeChat reply carries, and the tolerant decoding rules
//! of the spec's §2: a missing errcode means success, errmsg may end in ` rid: …` or
//! ` hint: […]` (with or without a comma), booleans come as `true`, `"true"` or `"1"`.

use serde::{Deserialize, Deserializer, Serialize};

use crate::errcode::ErrCode;

/// The status part of any reply. `errcode` defaults to 0 (token endpoints omit it on success).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct ApiStatus {
    /// 0 on success.
    #[serde(default, deserialize_with = "de_flexible_i64")]
    pub errcode: i64,
    /// Text with an optional rid/hint suffix.
    #[serde(default)]
    pub errmsg: String,
}

impl ApiStatus {
    /// Whether the reply is a success (`errcode` absent or 0).
    pub fn is_ok(&self) -> bool {
        self.errcode == 0
    }

    /// The errcode as a typed value.
    pub fn code(&self) -> ErrCode {
        ErrCode::from_code(self.errcode)
    }

    /// The errmsg split into its text and its request id / hint.
    pub fn parsed(&self) -> ErrMsg {
        ErrMsg::parse(&self.errmsg)
    }
}

/// An errmsg split into the text and the suffixes WeChat appends for support requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrMsg {
    /// The message without suffixes, e.g. `invalid ticket`.
    pub text: String,
    /// The request id of ` rid: 6142cae2-160a288b-589e1ad2`, if present.
    pub rid: Option<String>,
    /// The token of an older ` hint: [dk4MUA04361975]`, if present.
    pub hint: Option<String>,
}

impl ErrMsg {
    /// Splits `text[,] [hint: [H]] [rid: R]` into its parts. Never fails: a message without
    /// suffixes comes back whole.
    pub fn parse(errmsg: &str) -> ErrMsg {
        let mut rest = errmsg.trim_end();
        let mut rid = None;
        if let Some(pos) = rest.rfind("rid:") {
            let candidate = rest[pos + 4..].trim();
            if !candidate.is_empty() && !candidate.contains(char::is_whitespace) {
                rid = Some(candidate.to_string());
                rest = &rest[..pos];
            }
        }
        let mut hint = None;
        let trimmed = rest.trim_end();
        if let Some(pos) = trimmed.rfind("hint:") {
            let candidate = trimmed[pos + 5..].trim();
            if candidate.starts_with('[') && candidate.ends_with(']') {
                hint = Some(candidate[1..candidate.len() - 1].to_string());
                rest = &trimmed[..pos];
            }
        }
        let text = rest.trim_end().trim_end_matches(',').trim_end().to_string();
        ErrMsg { text, rid, hint }
    }
}

/// The canonical errmsg for a code with a request id: `"<text> rid: <rid>"`.
pub fn errmsg_with_rid(code: ErrCode, rid: &str) -> String {
    format!("{} rid: {rid}", code.errmsg())
}

/// Deserializes a boolean sent as `true`/`false`, `"true"`/`"false"`, `"1"`/`"0"`, or `1`/`0`.
///
/// WeChat documents fastregister's booleans as booleans and sends them as strings; SDKs that
/// accept only one form break on the other.
///
/// # Errors
/// Any other value (e.g. `"yes"`, `2`, `null`) is a decode error.
pub fn de_flexible_bool<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    use serde::de::Error;
    match serde_json::Value::deserialize(d)? {
        serde_json::Value::Bool(b) => Ok(b),
        serde_json::Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
            "true" | "1" => Ok(true),
            "false" | "0" | "" => Ok(false),
            other => Err(D::Error::custom(format!("not a boolean: {other:?}"))),
        },
        serde_json::Value::Number(n) => match n.as_i64() {
            Some(1) => Ok(true),
            Some(0) => Ok(false),
            _ => Err(D::Error::custom(format!("not a boolean: {n}"))),
        },
        other => Err(D::Error::custom(format!("not a boolean: {other}"))),
    }
}

/// Deserializes an integer sent as a number or as a numeric string (`"7200"`).
///
/// # Errors
/// Anything that is not an integer.
pub fn de_flexible_i64<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    use serde::de::Error;
    match serde_json::Value::deserialize(d)? {
        serde_json::Value::Number(n) => n
            .as_i64()
            .ok_or_else(|| D::Error::custom(format!("not an integer: {n}"))),
        serde_json::Value::String(s) => s
            .trim()
            .parse()
            .map_err(|_| D::Error::custom(format!("not an integer: {s:?}"))),
        other => Err(D::Error::custom(format!("not an integer: {other}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_errcode_is_success() {
        let s: ApiStatus = serde_json::from_str(r#"{"component_access_token":"x"}"#).unwrap();
        assert!(s.is_ok());
    }

    #[test]
    fn errmsg_suffixes_are_parsed_off_in_every_observed_form() {
        let cases = [
            ("invalid ticket", "invalid ticket", None, None),
            (
                "refresh_token is invalid rid: 6142cae2-160a288b-589e1ad2",
                "refresh_token is invalid",
                Some("6142cae2-160a288b-589e1ad2"),
                None,
            ),
            (
                "api unauthorized, rid: 65bdbb04-5d1fe295-38ecf4d3",
                "api unauthorized",
                Some("65bdbb04-5d1fe295-38ecf4d3"),
                None,
            ),
            (
                "system error hint: [dk4MUA04361975]",
                "system error",
                None,
                Some("dk4MUA04361975"),
            ),
            (
                "invalid content hint: [bzsJ30451p445] rid: 63901312-73595d7c-3b05195e",
                "invalid content",
                Some("63901312-73595d7c-3b05195e"),
                Some("bzsJ30451p445"),
            ),
        ];
        for (raw, text, rid, hint) in cases {
            let m = ErrMsg::parse(raw);
            assert_eq!(m.text, text, "{raw}");
            assert_eq!(m.rid.as_deref(), rid, "{raw}");
            assert_eq!(m.hint.as_deref(), hint, "{raw}");
        }
    }

    #[derive(Deserialize)]
    struct B {
        #[serde(deserialize_with = "de_flexible_bool")]
        b: bool,
    }

    #[test]
    fn booleans_are_accepted_as_bools_strings_and_digits() {
        for (raw, want) in [
            ("true", true),
            ("false", false),
            ("\"true\"", true),
            ("\"false\"", false),
            ("\"1\"", true),
            ("\"0\"", false),
            ("1", true),
            ("0", false),
        ] {
            let b: B = serde_json::from_str(&format!(r#"{{"b":{raw}}}"#)).unwrap();
            assert_eq!(b.b, want, "{raw}");
        }
        for bad in ["\"yes\"", "2", "null", "[]"] {
            assert!(serde_json::from_str::<B>(&format!(r#"{{"b":{bad}}}"#)).is_err());
        }
    }
}
