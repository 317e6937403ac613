//! Request bodies: every body is read once, before routing ([`buffer_body`]), and handed to
//! handlers as a [`BodyRead`] that parses JSON in WeChat's order of refusals (44002, 47001)
//! without quoting the values it was sent ([`crate::redact::serde_error`]).

use axum::body::Body;
use axum::extract::Request;
use axum::http::header;
use fastreg_wire::ErrCode;
use http_body_util::BodyExt;

use crate::state::AppState;

/// How a request body read. The envelope hands what [`buffer_body`] read to the route in the
/// request's [`Scope`](super::extract::Scope).
#[derive(Debug, Clone)]
pub enum BodyRead {
    /// The bytes (within the limit).
    Bytes(bytes::Bytes),
    /// Over the limit.
    TooLarge,
    /// The connection failed mid-body.
    Broken,
}

impl BodyRead {
    /// Whether no body (or only whitespace) was sent.
    pub fn is_empty(&self) -> bool {
        matches!(self, BodyRead::Bytes(b) if b.iter().all(u8::is_ascii_whitespace))
    }

    /// Parses the body as JSON: empty (or only whitespace) 44002; unparsable, wrong field
    /// types, too large or broken 47001.
    ///
    /// # Errors
    /// 44002 or 47001, with serde's message as the detail.
    pub fn json<T: serde::de::DeserializeOwned>(&self) -> Result<T, (ErrCode, String)> {
        match self {
            BodyRead::TooLarge => Err((
                ErrCode::DataFormatError,
                "body is larger than the limit".into(),
            )),
            BodyRead::Broken => Err((ErrCode::DataFormatError, "body could not be read".into())),
            BodyRead::Bytes(b) if b.iter().all(u8::is_ascii_whitespace) => {
                Err((ErrCode::EmptyPostData, "empty body".into()))
            }
            // Every body is a JSON object. serde's derived structs would also accept an array
            // (fields by position), so `["<ticket>"]` must be refused here.
            BodyRead::Bytes(b) if b.iter().find(|c| !c.is_ascii_whitespace()) != Some(&b'{') => {
                Err((ErrCode::DataFormatError, "body is not a JSON object".into()))
            }
            BodyRead::Bytes(b) => serde_json::from_slice(b).or_else(|e| {
                // JSON has one kind of number, and JSON Schema counts `52.0` as the integer 52:
                // read it so where an integer is asked for. Only when the plain reading failed,
                // so a body without such a number is parsed once.
                let refused = || (ErrCode::DataFormatError, crate::redact::serde_error(&e));
                let text = crate::input::integral_floats_as_integers(b).ok_or_else(refused)?;
                serde_json::from_slice(&text)
                    .map_err(|e| (ErrCode::DataFormatError, crate::redact::serde_error(&e)))
            }),
        }
    }
}

/// Reads a body, stopping at `limit` bytes.
pub async fn read_body(body: Body, limit: usize) -> BodyRead {
    match http_body_util::Limited::new(body, limit).collect().await {
        Ok(c) => BodyRead::Bytes(c.to_bytes()),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => BodyRead::TooLarge,
        Err(_) => BodyRead::Broken,
    }
}

/// How far past `max_body_bytes` [`buffer_body`] still reads a body (and throws it away).
const DRAIN_FACTOR: usize = 8;

/// Reads every request body before routing: up to `max_body_bytes` into memory, and past the
/// limit, discarding, up to `DRAIN_FACTOR` times the limit.
///
/// A server that answers without reading the whole body (a refusal of an oversized body, or any
/// route that takes no body) and then closes the connection makes the kernel reset it, and the
/// client can lose the answer: a 47001 must arrive as an answer, not as a reset. Returns the
/// request with the buffered body (an empty one when it was over the limit or broken off), and
/// how it read. A body declared or found larger than the drain limit is not read on: the
/// answer is sent and the connection closes.
pub async fn buffer_body(app: &AppState, req: Request) -> (Request, BodyRead) {
    let limit = app.settings.max_body_bytes;
    let drain = limit.saturating_mul(DRAIN_FACTOR);
    let (parts, body) = req.into_parts();
    let declared = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let read = if declared.is_some_and(|n| n > drain as u64) {
        BodyRead::TooLarge
    } else {
        read_body_draining(body, limit, drain).await
    };
    // `Call` takes the read without reading the body again (`Bytes` clones share the buffer).
    let body = match &read {
        BodyRead::Bytes(b) => Body::from(b.clone()),
        _ => Body::empty(),
    };
    (Request::from_parts(parts, body), read)
}

/// Reads a body: up to `limit` bytes kept, then discarded up to `drain` bytes in all.
///
/// A body that arrives in one frame (every small JSON body does) is kept as that frame,
/// without a copy; the frames of a longer one are joined.
async fn read_body_draining(mut body: Body, limit: usize, drain: usize) -> BodyRead {
    let mut first: Option<bytes::Bytes> = None;
    let mut joined = bytes::BytesMut::new();
    let mut total = 0usize;
    while let Some(frame) = body.frame().await {
        let Ok(frame) = frame else {
            return BodyRead::Broken;
        };
        let Ok(data) = frame.into_data() else {
            continue;
        };
        total = total.saturating_add(data.len());
        if total <= limit {
            if first.is_none() && joined.is_empty() {
                first = Some(data);
            } else {
                if let Some(first) = first.take() {
                    joined.extend_from_slice(&first);
                }
                joined.extend_from_slice(&data);
            }
        } else if total > drain {
            return BodyRead::TooLarge;
        } else {
            first = None;
            joined = bytes::BytesMut::new();
        }
    }
    if total > limit {
        BodyRead::TooLarge
    } else {
        BodyRead::Bytes(first.unwrap_or_else(|| joined.freeze()))
    }
}

#[cfg(test)]
mod tests {
    use fastreg_wire::account::BoolStyle;
    use serde::Deserialize;

    use super::*;

    #[test]
    fn body_errors_name_the_field_and_place_but_not_the_values_sent() {
        #[derive(Debug, Deserialize)]
        #[serde(deny_unknown_fields)]
        #[allow(dead_code)]
        struct B {
            count: u32,
            style: BoolStyle,
            #[serde(default)]
            pair: Option<(u8, u8)>,
            #[serde(default)]
            keyed: Option<std::collections::HashMap<u32, u8>>,
            #[serde(default, deserialize_with = "fastreg_wire::envelope::de_flexible_bool")]
            flag: bool,
        }
        let parse = |body: String| {
            BodyRead::Bytes(bytes::Bytes::from(body))
                .json::<B>()
                .unwrap_err()
                .1
        };
        let secret = "s3cr3t-SECRET";
        let cases = [
            (
                format!(r#"{{"count":"refresh@@@{secret}"et","style":"json"}}"#),
                "invalid type: string, expected u32 at line 1",
            ),
            (
                format!(r#"{{"count":1,"style":"{secret}"}}"#),
                "unknown variant `…`, expected `string` or `json`",
            ),
            (r#"{"count":1}"#.to_string(), "missing field `style`"),
            (
                r#"{"count":1,"style":"json","colour":1}"#.to_string(),
                "unknown field `colour`, expected one of `count`",
            ),
            (
                r#"{"count":1,"style":"json","`":1}"#.to_string(),
                "unknown field `…`, expected",
            ),
            (
                r#"{"count":1,"style":"json","":1}"#.to_string(),
                "unknown field `…`, expected",
            ),
            (
                format!(r#"{{"count":1,"style":"json","{secret}`, expected x":1}}"#),
                "unknown field `…`, expected one of `count`",
            ),
            (
                r#"{"count":-7000123,"style":"json"}"#.to_string(),
                "invalid value: integer, expected u32",
            ),
            (
                r#"{"count":70001234567,"style":"json"}"#.to_string(),
                "invalid value: integer, expected u32",
            ),
            (
                r#"{"count":1.5,"style":"json"}"#.to_string(),
                "invalid type: floating point, expected u32",
            ),
            (
                r#"{"count":1,"style":"json","pair":[1]}"#.to_string(),
                "invalid length 1, expected",
            ),
            (
                format!(r#"{{"count":1,"style":"json","keyed":{{"{secret}":1}}}}"#),
                "",
            ),
            (
                format!(r#"{{"count":1,"style":"json","flag":"{secret}"}}"#),
                "not a boolean at line 1",
            ),
            (
                r#"{"count":1,"style":"json","flag":7000123}"#.to_string(),
                "not a boolean at line 1",
            ),
            (format!(r#"{{"count":1,"{secret}"#), "EOF while parsing"),
        ];
        let wrong: Vec<String> = cases
            .into_iter()
            .map(|(body, starts)| (parse(body.clone()), body, starts))
            .filter(|(msg, _, starts)| {
                msg.contains(secret) || msg.contains("7000123") || !msg.starts_with(starts)
            })
            .map(|(msg, body, starts)| format!("{body}: {msg:?}, not {starts:?}…"))
            .collect();
        assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    }

    /// A body sent as these frames.
    fn frames(parts: &[&'static str]) -> Body {
        let frames: Vec<Result<bytes::Bytes, std::io::Error>> = parts
            .iter()
            .map(|p| Ok(bytes::Bytes::from_static(p.as_bytes())))
            .collect();
        Body::from_stream(futures_util::stream::iter(frames))
    }

    #[tokio::test]
    async fn a_body_is_kept_whole_in_one_frame_or_many_and_refused_over_the_limit() {
        let body = r#"{"ticket":"t"}"#;
        for parts in [&[body][..], &[r#"{"ticket""#, r#":"t"#, r#""}"#][..]] {
            match read_body_draining(frames(parts), body.len(), 4 * body.len()).await {
                BodyRead::Bytes(read) => assert_eq!(read, body.as_bytes(), "{parts:?}"),
                other => panic!("{parts:?}: {other:?}"),
            }
        }
        // Over the limit, then over the drain limit too.
        for drain in [64, 8] {
            let read = read_body_draining(frames(&["abcd", "efgh", "ij"]), 6, drain).await;
            assert!(matches!(read, BodyRead::TooLarge), "{read:?}");
        }
        let read = read_body_draining(frames(&[]), 6, 64).await;
        assert!(read.is_empty(), "{read:?}");
    }
}
