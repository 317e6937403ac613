//! Request and response bodies of the authorizer option endpoints: `api_get_authorizer_option`
//! and `api_set_authorizer_option` (component token, the authorizer named in the body), and
//! their newer twins `get_authorizer_option` and `set_authorizer_option` (the authorizer's own
//! token; the same bodies, whose appids are then optional). The options are WeChat's three:
//! `location_report` (0, 1, 2), `voice_recognize` (0, 1) and `customer_service` (0, 1).
//!
//! WeChat documents `option_value` as a string; wechatpy passes the caller's value through,
//! so it may also arrive as a JSON number. Both read as the same text.

use serde::{Deserialize, Deserializer, Serialize};

/// `api_get_authorizer_option` / `get_authorizer_option` request.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(default)]
pub struct GetAuthorizerOptionRequest {
    /// The component's appid (required with a component token).
    pub component_appid: String,
    /// The OA's or MP's appid (required with a component token).
    pub authorizer_appid: String,
    /// `location_report`, `voice_recognize` or `customer_service`.
    pub option_name: String,
}

/// `api_set_authorizer_option` / `set_authorizer_option` request.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(default)]
pub struct SetAuthorizerOptionRequest {
    /// The component's appid (required with a component token).
    pub component_appid: String,
    /// The OA's or MP's appid (required with a component token).
    pub authorizer_appid: String,
    /// `location_report`, `voice_recognize` or `customer_service`.
    pub option_name: String,
    /// The new value, as a string (`"1"`) or a number (`1`).
    #[serde(
        deserialize_with = "de_text_or_number",
        skip_serializing_if = "Option::is_none"
    )]
    pub option_value: Option<String>,
}

/// The get endpoints' reply.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(default)]
pub struct AuthorizerOptionResponse {
    /// The OA's or MP's appid.
    pub authorizer_appid: String,
    /// The option's name.
    pub option_name: String,
    /// Its value, as a string (`"0"`, `"1"`, `"2"`).
    #[serde(deserialize_with = "de_text_or_number_plain")]
    pub option_value: String,
}

/// A string, or an integer read as its decimal text; `null` is absent. Anything else (a
/// boolean, a fraction, an object) is a wrong type.
fn de_text_or_number<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    use serde::de::Error;
    match serde_json::Value::deserialize(d)? {
        serde_json::Value::Null => Ok(None),
        serde_json::Value::String(s) => Ok(Some(s)),
        serde_json::Value::Number(n) if n.is_i64() || n.is_u64() => Ok(Some(n.to_string())),
        other => Err(D::Error::custom(format!(
            "option_value is not a string or an integer: {other}"
        ))),
    }
}

fn de_text_or_number_plain<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    de_text_or_number(d).map(Option::unwrap_or_default)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn option_value_reads_the_same_from_a_string_or_a_number() {
        let text: SetAuthorizerOptionRequest =
            serde_json::from_str(r#"{"option_name":"voice_recognize","option_value":"1"}"#)
                .unwrap();
        let number: SetAuthorizerOptionRequest =
            serde_json::from_str(r#"{"option_name":"voice_recognize","option_value":1}"#).unwrap();
        assert_eq!(text.option_value.as_deref(), Some("1"));
        assert_eq!(text, number);
        let missing: SetAuthorizerOptionRequest =
            serde_json::from_str(r#"{"option_name":"voice_recognize"}"#).unwrap();
        assert_eq!(missing.option_value, None);
    }

    #[test]
    fn option_value_of_another_type_is_a_decode_error() {
        for v in ["true", "1.5", "[1]", "{}"] {
            let body = format!(r#"{{"option_name":"voice_recognize","option_value":{v}}}"#);
            assert!(
                serde_json::from_str::<SetAuthorizerOptionRequest>(&body).is_err(),
                "{v}"
            );
        }
    }
}
