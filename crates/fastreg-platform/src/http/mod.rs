//! The HTTP face of the platform: axum routers, the one extractor every WeChat-compatible
//! handler uses, and the middleware that gives every answer its request id.
//!
//! How errors become answers: a handler returns [`Error`]; its `IntoResponse` only records the
//! failure in the response's extensions. The [`envelope`] middleware, which made the request id,
//! renders the errcode JSON with ` rid: …` appended and logs it in the request's span. So no
//! code path can answer an error without a rid, and no handler needs to know it.
//!
//! The envelope also opens the request's span (rid, method, path, masked query), so every line
//! logged while handling it carries the rid, writes the one access-log line, and records the
//! request's metrics under its route template.
//!
//! Every route is declared once, in a route table next to its handlers ([`openapi::Route`]);
//! the routers and the OpenAPI document are both built from those tables.
//!
//! HTTP status policy: WeChat-compatible endpoints answer 200 with an errcode, as WeChat does
//! (bad input is never a 5xx); the sandbox API uses real statuses (400, 401, 404, 409) with
//! the same errcode body; an unknown path is 404 with errcode 40066. The one deliberate 5xx is
//! `/readyz`'s 503.

pub mod openapi;
pub mod ops;
pub mod pages;
pub mod sandbox;
pub mod wechat;

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::body::Body;
use axum::extract::{ConnectInfo, FromRequest, MatchedPath, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Router;
use fastreg_wire::account::BoolStyle;
use fastreg_wire::ErrCode;
use http_body_util::BodyExt;
use serde::{Deserialize, Serialize};
use tracing::Instrument;

use crate::clock::Clock;
use crate::error::Error;
use crate::metrics;
use crate::redact;
use crate::rules::Policy;
use crate::settings::Settings;
use crate::store::Store;

/// WeChat's (non-standard) content type for JSON replies.
pub const WX_CONTENT_TYPE: &str = "application/json; encoding=utf-8";

/// What handlers share.
pub struct AppState {
    /// Storage.
    pub store: Store,
    /// The sandbox clock.
    pub clock: Clock,
    /// Settings as started.
    pub settings: Settings,
    /// Settings the sandbox API may change while running. Read by every call, changed
    /// rarely: reading it writes no memory that other cores' calls also write.
    pub runtime: arc_swap::ArcSwap<RuntimeConfig>,
    /// Serialises changes to `runtime` (read, merge, store).
    pub runtime_change: Mutex<()>,
    /// The sandbox API's bearer token.
    pub admin_token: String,
    /// Injected faults.
    pub faults: Faults,
    /// Serialises clock advances so offsets add up.
    pub clock_lock: tokio::sync::Mutex<()>,
    /// Wakes the push deliverer when pushes were recorded.
    pub push_wake: tokio::sync::Notify,
    /// Keys the pages' form tokens and the console session (persisted, so forms survive a
    /// restart and several instances on one database agree).
    pub page_secret: Vec<u8>,
    /// Set when shutdown begins: `/readyz` answers 503 from then on.
    pub stopping: AtomicBool,
}

/// Settings that `PATCH /sandbox/v1/config` can change at run time.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct RuntimeConfig {
    /// The rule numbers.
    pub rules: Policy,
    /// fastregister's processing delay.
    pub processing_delay_ms: u64,
    /// How fastregister writes its booleans.
    pub booleans: BoolStyle,
}

impl AppState {
    /// The current runtime config (a short-lived guard: copy out what outlives the moment).
    pub fn runtime(&self) -> arc_swap::Guard<Arc<RuntimeConfig>> {
        self.runtime.load()
    }
}

/// The injected faults. Every call asks whether one is armed for it: the answer is read from an
/// atomic count, so that the (usual) answer "none" takes no lock.
#[derive(Debug, Default)]
pub struct Faults {
    armed: std::sync::atomic::AtomicUsize,
    list: Mutex<Vec<Fault>>,
}

impl Faults {
    /// Whether any fault is armed.
    pub fn any(&self) -> bool {
        self.armed.load(Ordering::Acquire) > 0
    }

    /// Arms a fault.
    pub fn add(&self, fault: Fault) {
        let mut list = self.list.lock().expect("faults lock");
        list.push(fault);
        self.armed.store(list.len(), Ordering::Release);
    }

    /// The faults still armed.
    pub fn list(&self) -> Vec<Fault> {
        self.list.lock().expect("faults lock").clone()
    }

    /// Disarms every fault.
    pub fn clear(&self) {
        let mut list = self.list.lock().expect("faults lock");
        list.clear();
        self.armed.store(0, Ordering::Release);
    }

    /// Takes one use of a fault armed for `path` at `when`, if any.
    pub fn take(&self, path: &str, when: FaultWhen) -> Option<i64> {
        if !self.any() {
            return None;
        }
        let mut faults = self.list.lock().expect("faults lock");
        let i = faults
            .iter()
            .position(|f| f.path == path && f.when == when && f.remaining > 0)?;
        faults[i].remaining -= 1;
        let code = faults[i].errcode;
        if faults[i].remaining == 0 {
            faults.remove(i);
        }
        self.armed.store(faults.len(), Ordering::Release);
        Some(code)
    }
}

/// When an injected fault strikes.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum FaultWhen {
    /// Instead of the call: nothing happens, the errcode is answered.
    #[default]
    Before,
    /// After the call did its work (committed): the errcode replaces the real answer. This is
    /// WeChat's "-1 system error, yet the Mini Program was created".
    After,
}

/// An injected fault: the next `remaining` calls to `path` answer `errcode`.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Fault {
    /// The endpoint path, e.g. `/cgi-bin/account/fastregister`.
    pub path: String,
    /// The errcode to answer.
    pub errcode: i64,
    /// How many more calls it applies to.
    pub remaining: u32,
    /// Before or after the call's own work.
    pub when: FaultWhen,
}

/// The request id of the current request, `xxxxxxxx-xxxxxxxx-xxxxxxxx` (lowercase hex).
#[derive(Debug, Clone)]
pub struct Rid(pub String);

static RID_COUNTER: AtomicU32 = AtomicU32::new(0);

/// A fresh request id: time, randomness and a process-wide counter, so ids never repeat
/// within a process and practically never across processes.
pub fn new_rid() -> String {
    let t = crate::clock::system_now() as u32;
    let r: u32 = rand::random();
    let n = RID_COUNTER.fetch_add(1, Ordering::Relaxed);
    // By hand rather than `format!`: this runs for every request.
    let mut rid = String::with_capacity(26);
    for (i, part) in [t, r, n].into_iter().enumerate() {
        if i > 0 {
            rid.push('-');
        }
        for shift in (0..8).rev() {
            let digit = (part >> (shift * 4)) & 0xf;
            rid.push(char::from_digit(digit, 16).unwrap_or('0'));
        }
    }
    rid
}

/// A failure recorded by `IntoResponse`, rendered by [`envelope`].
#[derive(Debug, Clone)]
struct Failure {
    code: ErrCode,
    detail: Option<String>,
    /// Sandbox failures show their detail to the caller; WeChat ones keep WeChat's text.
    show_detail: bool,
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let (status, failure) = match self {
            Error::Wx {
                code,
                status,
                detail,
            } => (
                StatusCode::from_u16(status).unwrap_or(StatusCode::OK),
                Failure {
                    code,
                    detail,
                    show_detail: status != 200,
                },
            ),
            Error::Internal(e) => {
                tracing::error!(error = format!("{e:#}"), "internal error");
                (
                    StatusCode::OK,
                    Failure {
                        code: ErrCode::SystemError,
                        detail: None,
                        show_detail: false,
                    },
                )
            }
        };
        let mut resp = status.into_response();
        resp.extensions_mut().insert(failure);
        resp
    }
}

/// Renders a failure as WeChat's errcode JSON.
fn render_failure(f: &Failure, rid: &str) -> Vec<u8> {
    #[derive(Serialize)]
    struct Body<'a> {
        errcode: i64,
        errmsg: &'a str,
    }
    let mut errmsg = String::with_capacity(96);
    errmsg.push_str(f.code.errmsg());
    if let (Some(d), true) = (&f.detail, f.show_detail) {
        errmsg.push_str(": ");
        errmsg.push_str(d);
    }
    errmsg.push_str(" rid: ");
    errmsg.push_str(rid);
    serde_json::to_vec(&Body {
        errcode: f.code.code(),
        errmsg: &errmsg,
    })
    .unwrap_or_default()
}

/// The errcode an HTML page refused with (the page renders it; [`envelope`] counts it).
#[derive(Debug, Clone, Copy)]
pub struct PageErrcode(pub ErrCode);

/// The `endpoint` label and log field of a request no route matched.
pub const UNMATCHED: &str = "unmatched";

/// Gives the request its rid and a span carrying it (so every line logged while handling it
/// names the rid), reads its body ([`buffer_body`]), applies injected faults, renders recorded
/// failures, logs one line per request and records its metrics.
///
/// The span and the line name the route template (`endpoint`), the raw path and the query
/// with credentials masked ([`redact::query`]): tokens travel in query strings.
///
/// One middleware rather than one per concern: each axum middleware layer clones and boxes the
/// route's service and boxes a future for every request, which a refusal answered from memory
/// noticeably paid for (BENCHMARKS.md).
pub async fn envelope(State(app): State<Arc<AppState>>, mut req: Request, next: Next) -> Response {
    let rid = new_rid();
    req.extensions_mut().insert(Rid(rid.clone()));
    let endpoint = req
        .extensions()
        .get::<MatchedPath>()
        .map_or(UNMATCHED, MatchedPath::as_str)
        .to_string();
    let method = metric_method(req.method());
    let span = tracing::info_span!(
        "request",
        rid = %rid,
        method,
        path = %req.uri().path(),
        query = tracing::field::Empty,
    );
    if let Some(q) = req.uri().query().filter(|_| !span.is_disabled()) {
        span.record("query", redact::query(q));
    }
    async move {
        let _in_flight = metrics::in_flight();
        let started = Instant::now();
        let mut resp = with_faults(&app, buffer_body(&app, req).await, next).await;
        let elapsed = started.elapsed();
        let status = resp.status().as_u16();
        let elapsed_us = elapsed.as_micros() as u64;
        let errcode = if let Some(f) = resp.extensions_mut().remove::<Failure>() {
            *resp.body_mut() = Body::from(render_failure(&f, &rid));
            resp.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static(WX_CONTENT_TYPE),
            );
            tracing::info!(
                endpoint,
                status,
                errcode = f.code.code(),
                detail = f.detail.as_deref().unwrap_or(""),
                elapsed_us,
                "refused"
            );
            f.code.code()
        } else {
            // A page shows its refusal itself (and logged it); the metric still counts it.
            let errcode = resp
                .extensions_mut()
                .remove::<PageErrcode>()
                .map_or(0, |PageErrcode(code)| code.code());
            if ops::is_quiet(&endpoint) {
                tracing::debug!(endpoint, status, elapsed_us, "answered");
            } else {
                tracing::info!(endpoint, status, elapsed_us, "answered");
            }
            errcode
        };
        metrics::request(endpoint, method, errcode, elapsed);
        resp
    }
    .instrument(span)
    .await
}

/// The method as a metric label: one of the standard methods, or `other` (a client must not
/// be able to mint label values).
fn metric_method(m: &axum::http::Method) -> &'static str {
    use axum::http::Method as M;
    match *m {
        M::GET => "GET",
        M::POST => "POST",
        M::PUT => "PUT",
        M::PATCH => "PATCH",
        M::DELETE => "DELETE",
        M::HEAD => "HEAD",
        M::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

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

/// How a request body read. [`buffer_body`] puts it in the request's extensions when the body
/// was over the limit or broken off.
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
            BodyRead::Bytes(b) => serde_json::from_slice(b)
                .map_err(|e| (ErrCode::DataFormatError, without_values(&e.to_string()))),
        }
    }
}

/// A parser's message without the values it quotes from the body: `string "…"`, `not "…"`,
/// `unknown variant `…``. They can be credentials sent in a field of another type, and the
/// message is logged (and, on the sandbox API, answered). Field names, types and the line and
/// column stay.
fn without_values(msg: &str) -> String {
    let mut out = String::with_capacity(msg.len());
    let mut chars = msg.chars();
    while let Some(c) = chars.next() {
        let close = match c {
            '"' => '"',
            '`' if out.ends_with("unknown variant ") => '`',
            _ => {
                out.push(c);
                continue;
            }
        };
        out.push(c);
        out.push('…');
        out.push(close);
        let mut escaped = false;
        for c in chars.by_ref() {
            match c {
                '\\' if !escaped => escaped = true,
                c if c == close && !escaped => break,
                _ => escaped = false,
            }
        }
    }
    out
}

/// Everything a WeChat-compatible handler needs from a request. Extraction never fails, so
/// every malformation reaches the handler and is answered in WeChat's order and shape.
#[derive(Debug)]
pub struct WxCall {
    /// The raw query string (empty without one); see [`WxCall::query`].
    pub raw_query: String,
    /// The body.
    pub body: BodyRead,
    /// The caller's IP.
    pub client_ip: Option<IpAddr>,
    /// The request id.
    pub rid: String,
}

impl WxCall {
    /// A query parameter, decoded; the first occurrence of a repeated name wins.
    ///
    /// Parsed on demand rather than into a map up front: a call reads one or two parameters,
    /// and a parameter without escapes is then never copied until it is returned.
    pub fn query(&self, name: &str) -> Option<String> {
        self.raw_query
            .split('&')
            .filter(|pair| !pair.is_empty())
            .find_map(|pair| {
                // What `form_urlencoded` does, without its decoding passes when there is
                // nothing to decode (the usual token in a query).
                if pair.contains(['%', '+']) {
                    let (k, v) = form_urlencoded::parse(pair.as_bytes()).next()?;
                    return (k == name).then(|| v.into_owned());
                }
                let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                (k == name).then(|| v.to_string())
            })
    }

    /// The first present, non-empty query parameter of `names`.
    pub fn param(&self, names: &[&str]) -> Option<String> {
        names
            .iter()
            .find_map(|n| self.query(n).filter(|v| !v.is_empty()))
    }

    /// The component token: `component_access_token`, else `access_token`.
    pub fn component_token(&self) -> Option<String> {
        self.param(&["component_access_token", "access_token"])
    }

    /// The `access_token` parameter.
    pub fn access_token(&self) -> Option<String> {
        self.param(&["access_token"])
    }
}

/// Parses a query string; the first occurrence of a name wins.
pub fn parse_query(q: Option<&str>) -> HashMap<String, String> {
    let mut map = HashMap::new();
    if let Some(q) = q {
        for (k, v) in form_urlencoded::parse(q.as_bytes()) {
            map.entry(k.into_owned()).or_insert_with(|| v.into_owned());
        }
    }
    map
}

impl FromRequest<Arc<AppState>> for WxCall {
    type Rejection = std::convert::Infallible;

    async fn from_request(req: Request, state: &Arc<AppState>) -> Result<Self, Self::Rejection> {
        let (parts, body) = req.into_parts();
        let raw_query = parts.uri.query().unwrap_or_default().to_string();
        let client_ip = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip());
        let rid = parts
            .extensions
            .get::<Rid>()
            .map(|r| r.0.clone())
            .unwrap_or_default();
        let body = match parts.extensions.get::<BodyRead>() {
            Some(read) => read.clone(),
            None => read_body(body, state.settings.max_body_bytes).await,
        };
        Ok(WxCall {
            raw_query,
            body,
            client_ip,
            rid,
        })
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
/// client can lose the answer: a 47001 must arrive as an answer, not as a reset. Handlers get
/// the buffered body (an empty one when it was over the limit or broken off), and the
/// [`BodyRead`] in the request's extensions. A body declared or found larger than the drain
/// limit is not read on: the answer is sent and the connection closes.
pub async fn buffer_body(app: &AppState, req: Request) -> Request {
    let limit = app.settings.max_body_bytes;
    let drain = limit.saturating_mul(DRAIN_FACTOR);
    let (mut parts, body) = req.into_parts();
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
    // The read also goes into the extensions, where `WxCall` takes it without reading the
    // body again (`Bytes` clones share the buffer).
    let body = match &read {
        BodyRead::Bytes(b) => Body::from(b.clone()),
        _ => Body::empty(),
    };
    parts.extensions.insert(read);
    Request::from_parts(parts, body)
}

/// Reads a body: up to `limit` bytes kept, then discarded up to `drain` bytes in all.
async fn read_body_draining(mut body: Body, limit: usize, drain: usize) -> BodyRead {
    let mut kept = bytes::BytesMut::new();
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
            kept.extend_from_slice(&data);
        } else if total > drain {
            return BodyRead::TooLarge;
        } else if !kept.is_empty() {
            kept = bytes::BytesMut::new();
        }
    }
    if total > limit {
        BodyRead::TooLarge
    } else {
        BodyRead::Bytes(kept.freeze())
    }
}

/// Runs the route with injected faults applied. Only the WeChat-compatible JSON endpoints can
/// be armed (the sandbox API refuses any other path), so no other route is ever struck.
async fn with_faults(app: &AppState, req: Request, next: Next) -> Response {
    let path = app.faults.any().then(|| req.uri().path().to_string());
    let Some(path) = path else {
        return next.run(req).await;
    };
    if let Some(code) = app.faults.take(&path, FaultWhen::Before) {
        return Error::wx_detail(ErrCode::from_code(code), "injected fault").into_response();
    }
    let resp = next.run(req).await;
    if let Some(code) = app.faults.take(&path, FaultWhen::After) {
        return Error::wx_detail(ErrCode::from_code(code), "injected fault after the call")
            .into_response();
    }
    resp
}

async fn unknown_path() -> Response {
    // WeChat's exact text (no detail appended), under a 404.
    Error::Wx {
        code: ErrCode::InvalidUrl,
        status: 404,
        detail: None,
    }
    .into_response()
}

/// The whole router: WeChat-compatible endpoints, pages, the sandbox API, the operations
/// endpoints, the envelope. Every route comes from a route table ([`openapi::routes`]), which
/// is also what `/openapi.json` documents.
pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .merge(wechat::router())
        .merge(pages::router())
        .merge(openapi::build(ops::ROUTES))
        .nest(sandbox::PREFIX, sandbox::router(state.clone()))
        .fallback(unknown_path)
        .method_not_allowed_fallback(|| async {
            Error::Wx {
                code: ErrCode::InvalidUrl,
                status: 405,
                detail: None,
            }
        })
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            envelope,
        ))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(
            |_: Box<dyn std::any::Any + Send>| {
                let rid = new_rid();
                tracing::error!(rid, "handler panicked");
                json_bytes(
                    StatusCode::OK,
                    render_failure(
                        &Failure {
                            code: ErrCode::SystemError,
                            detail: None,
                            show_detail: false,
                        },
                        &rid,
                    ),
                )
            },
        ))
        .with_state(state)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_parameters_read_as_form_urlencoded_reads_them() {
        let call = |q: &str| WxCall {
            raw_query: q.to_string(),
            body: BodyRead::Broken,
            client_ip: None,
            rid: String::new(),
        };
        let queries = [
            "access_token=abc&x=1",
            "x=1&access_token=a%2Bb+c&access_token=second",
            "&&access_token&x",
            "access_token=&access_token=later",
            "access%5Ftoken=encoded%20name",
            "access_token=a=b",
            "access_token=%FF%FE",
            "",
        ];
        for q in queries {
            let expected = form_urlencoded::parse(q.as_bytes())
                .find(|(k, _)| k == "access_token")
                .map(|(_, v)| v.into_owned());
            assert_eq!(call(q).query("access_token"), expected, "{q}");
        }
    }

    #[test]
    fn body_errors_name_the_field_and_place_but_not_the_values_sent() {
        #[derive(Debug, Deserialize)]
        #[allow(dead_code)]
        struct B {
            count: u32,
            style: BoolStyle,
        }
        let parse = |body: &'static str| {
            BodyRead::Bytes(bytes::Bytes::from_static(body.as_bytes()))
                .json::<B>()
                .unwrap_err()
                .1
        };
        let msg = parse(r#"{"count":"refreshtoken@@@s3cr\"et","style":"json"}"#);
        assert!(!msg.contains("s3cr"), "{msg}");
        assert!(
            msg.starts_with(r#"invalid type: string "…", expected u32 at line 1"#),
            "{msg}"
        );
        let msg = parse(r#"{"count":1,"style":"s3cret"}"#);
        assert!(!msg.contains("s3cret"), "{msg}");
        assert!(msg.starts_with("unknown variant `…`, expected"), "{msg}");
        let msg = parse(r#"{"count":1}"#);
        assert!(msg.starts_with("missing field `style`"), "{msg}");
    }
}
