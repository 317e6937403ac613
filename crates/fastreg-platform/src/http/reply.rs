//! How successes are written: WeChat's content type and its two success shapes (a token
//! endpoint's bare object, every other endpoint's `errcode 0` object).

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// WeChat's (non-standard) content type for JSON replies.
pub const WX_CONTENT_TYPE: &str = "application/json; encoding=utf-8";

/// A JSON answer with WeChat's content type.
pub fn json_bytes(status: StatusCode, body: Vec<u8>) -> Response {
    let mut resp = (status, body).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(WX_CONTENT_TYPE),
    );
    resp
}

/// A success of a token endpoint: the object as is (no errcode), as WeChat sends it.
pub fn token_ok<T: Serialize>(value: &T) -> Response {
    json_bytes(
        StatusCode::OK,
        serde_json::to_vec(value).unwrap_or_default(),
    )
}

/// A success of any other endpoint: `{"errcode":0,"errmsg":"ok", …fields}`.
pub fn wx_ok<T: Serialize>(value: &T) -> Response {
    let fields = serde_json::to_string(value).unwrap_or_else(|_| "{}".into());
    let rest = fields.strip_prefix('{').unwrap_or("}");
    let body = if rest.trim_start().starts_with('}') {
        r#"{"errcode":0,"errmsg":"ok"}"#.to_string()
    } else {
        format!(r#"{{"errcode":0,"errmsg":"ok",{rest}"#)
    };
    json_bytes(StatusCode::OK, body.into_bytes())
}
