//! The envelope every request passes through ([`EnvelopeLayer`]): its request id and span, the
//! rendering of recorded failures, injected faults, a panic's answer, the access-log line and
//! the request metrics.
//!
//! How errors become answers: a handler returns [`Error`]; its `IntoResponse` only records the
//! failure in the response's extensions. The envelope, which made the request id, renders the
//! errcode JSON with ` rid: …` appended and logs it in the request's span. So no code path can
//! answer an error without a rid, and no handler needs to know it; a handler that panics is
//! answered the same way, as a system error.
//!
//! The envelope also opens the request's span (rid, method, path and query without their
//! values), so every line logged while handling it carries the rid, writes the one access-log
//! line, and records the request's metrics under its route template.

use std::convert::Infallible;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use anyhow::anyhow;
use axum::body::Body;
use axum::extract::{FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use fastreg_wire::ErrCode;
use futures_util::future::BoxFuture;
use futures_util::FutureExt as _;
use tower::{Layer, Service, ServiceExt as _};
use tracing::Instrument;

use super::body::buffer_body;
use super::extract::Scope;
use super::reply::{json_bytes, WX_CONTENT_TYPE};
use super::route::Templates;
use crate::error::Error;
use crate::metrics;
use crate::redact;
use crate::state::{AppState, FaultWhen, World};

static RID_COUNTER: AtomicU32 = AtomicU32::new(0);

/// A request id, `xxxxxxxx-xxxxxxxx-xxxxxxxx` (lowercase hex): time, randomness and a
/// process-wide counter, so ids never repeat within a process and practically never across
/// processes. Copied, not shared: its 26 ASCII bytes need no allocation. Handlers take the
/// current request's as an extractor (from its [`Scope`]).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Rid([u8; 26]);

impl Rid {
    /// A fresh request id.
    pub fn new() -> Rid {
        let t = crate::clock::system_now() as u32;
        let r: u32 = rand::random();
        let n = RID_COUNTER.fetch_add(1, Ordering::Relaxed);
        let mut rid = [b'-'; 26];
        for (part, digits) in [t, r, n].into_iter().zip(rid.chunks_mut(9)) {
            // Four bytes are always eight hex digits, so the slice always fits.
            let _ = hex::encode_to_slice(part.to_be_bytes(), &mut digits[..8]);
        }
        Rid(rid)
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        // Only ASCII hex digits and dashes are ever written.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

impl Default for Rid {
    fn default() -> Rid {
        Rid::new()
    }
}

impl std::fmt::Display for Rid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::fmt::Debug for Rid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Rid({})", self.as_str())
    }
}

impl<S: Sync> FromRequestParts<S> for Rid {
    type Rejection = Infallible;

    /// The rid the envelope gave the request (a fresh one outside the envelope).
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Rid, Infallible> {
        let rid = parts.extensions.get::<Scope>().and_then(|s| s.rid);
        Ok(rid.unwrap_or_default())
    }
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
        let mut resp = Response::new(Body::new(Unrendered));
        *resp.status_mut() = status;
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(WX_CONTENT_TYPE),
        );
        resp.extensions_mut().insert(failure);
        resp
    }
}

/// The body of a recorded failure until the envelope renders it: empty, and of a length not
/// known, so that the router does not give the response a `content-length` that the rendered
/// body would contradict.
struct Unrendered;

impl hyper::body::Body for Unrendered {
    type Data = bytes::Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<hyper::body::Frame<bytes::Bytes>, Infallible>>> {
        Poll::Ready(None)
    }
}

/// Renders a failure as WeChat's errcode JSON, `{"errcode":N,"errmsg":"<text> rid: <rid>"}`.
///
/// Written out rather than through a derived `Serialize`, which escaped the two keys as well
/// as the message, and with the message's parts copied as they are unless one needs escaping:
/// every refusal is rendered here.
fn render_failure(f: &Failure, rid: Rid) -> Vec<u8> {
    const HEAD: &[u8] = b"{\"errcode\":";
    const MSG: &[u8] = b",\"errmsg\":\"";
    const RID: &[u8] = b" rid: ";
    const TAIL: &[u8] = b"\"}";
    let errmsg = f.code.errmsg();
    let detail = f.detail.as_deref().filter(|_| f.show_detail);
    let mut code = itoa::Buffer::new();
    let code = code.format(f.code.code()).as_bytes();
    // The exact length when nothing needs escaping, so that the body takes the vector as it
    // is (`Bytes` allocates again for a vector with room to spare).
    let len = HEAD.len()
        + code.len()
        + MSG.len()
        + errmsg.len()
        + detail.map_or(0, |d| d.len() + 2)
        + RID.len()
        + rid.0.len()
        + TAIL.len();
    let mut out = Vec::with_capacity(len);
    out.extend_from_slice(HEAD);
    out.extend_from_slice(code);
    out.extend_from_slice(MSG);
    push_json_text(&mut out, errmsg);
    if let Some(d) = detail {
        out.extend_from_slice(b": ");
        push_json_text(&mut out, d);
    }
    out.extend_from_slice(RID);
    // Hex digits and dashes: nothing to escape.
    out.extend_from_slice(&rid.0);
    out.extend_from_slice(TAIL);
    out
}

/// Appends `text` as the inside of a JSON string: as it is when nothing in it needs escaping
/// (WeChat's messages never do), else escaped by `serde_json`.
fn push_json_text(out: &mut Vec<u8>, text: &str) {
    if text.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\') {
        out.extend_from_slice(text.as_bytes());
        return;
    }
    // A string always serialises; its first and last bytes are the quotes.
    let quoted = serde_json::to_vec(text).unwrap_or_default();
    if let [b'"', inner @ .., b'"'] = quoted.as_slice() {
        out.extend_from_slice(inner);
    }
}

/// The errcode an HTML page refused with (the page renders it; the envelope counts it).
#[derive(Debug, Clone, Copy)]
pub struct PageErrcode(pub ErrCode);

/// The `endpoint` label and log field of a request no route matched.
pub const UNMATCHED: &str = "unmatched";

/// The envelope as a layer around a whole router (`http::router`): around each request, it
/// names the request's route by the router's [`Templates`], gives the request its rid and
/// span, reads its body, applies injected faults, runs the router, answers a panic in it as a
/// system error, renders recorded failures, logs one line per request and records its
/// metrics.
///
/// Around the router rather than around each of its routes (`Router::layer`), which clones
/// and boxes the route's service for every request; and its own service rather than
/// `axum::middleware::from_fn`, catching the route's panic itself rather than in a second
/// layer (tower-http's `CatchPanicLayer`), for the same reason: a refusal answered from memory
/// noticeably paid for each (BENCHMARKS.md). Caught here, a route's panic is also answered
/// under the request's own rid, logged in its span, and counted in its access-log line and
/// metrics like any other system error; a panic of the envelope's own code is answered too,
/// under a fresh rid.
#[derive(Clone)]
pub struct EnvelopeLayer {
    app: Arc<AppState>,
    templates: &'static Templates,
}

impl EnvelopeLayer {
    /// The envelope of a router serving `templates`.
    pub fn new(app: Arc<AppState>, templates: &'static Templates) -> EnvelopeLayer {
        EnvelopeLayer { app, templates }
    }
}

impl<S> Layer<S> for EnvelopeLayer {
    type Service = Envelope<S>;

    fn layer(&self, route: S) -> Envelope<S> {
        Envelope {
            app: self.app.clone(),
            templates: self.templates,
            route,
        }
    }
}

/// A router in the envelope ([`EnvelopeLayer`]).
#[derive(Clone)]
pub struct Envelope<S> {
    app: Arc<AppState>,
    templates: &'static Templates,
    route: S,
}

impl<S: std::fmt::Debug> std::fmt::Debug for Envelope<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Envelope")
            .field("route", &self.route)
            .finish_non_exhaustive()
    }
}

impl<S> Service<Request> for Envelope<S>
where
    S: Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Response, Infallible>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.route.poll_ready(cx)
    }

    fn call(&mut self, req: Request) -> Self::Future {
        // The clone takes the place of the service polled ready, which the request takes
        // (tower's contract: `call` goes to the instance that was polled).
        let route = self.route.clone();
        let route = std::mem::replace(&mut self.route, route);
        let (app, templates) = (self.app.clone(), self.templates);
        Box::pin(async move {
            // The route's panic is answered inside, under the request's rid (`envelope`);
            // this answers one of the envelope's own code (the redaction of what the request
            // sent, say), whose span and rid are gone with it.
            let answer = AssertUnwindSafe(envelope(app, templates, req, route)).catch_unwind();
            Ok(answer.await.unwrap_or_else(|_| envelope_panicked()))
        })
    }
}

/// The answer when the envelope's own code panicked: a system error under a fresh rid.
fn envelope_panicked() -> Response {
    let rid = Rid::new();
    tracing::error!(%rid, "the request's envelope panicked");
    json_bytes(
        StatusCode::OK,
        render_failure(
            &Failure {
                code: ErrCode::SystemError,
                detail: None,
                show_detail: false,
            },
            rid,
        ),
    )
}

/// Gives the request its rid and a span carrying it (so every line logged while handling it
/// names the rid), reads its body ([`buffer_body`]), applies injected faults, runs the route,
/// answers a panic of it as a system error, renders recorded failures, logs one line per
/// request and records its metrics.
///
/// The span and the line name the route template (`endpoint`), the path and the query as
/// [`redact::path_for_log`] and [`redact::query_for_log`] show them: parameters by name, no
/// value the request carried (tokens travel in query strings), at most
/// [`redact::LOG_MAX_CHARS`] characters each.
///
/// One envelope rather than a layer per concern: see [`EnvelopeLayer`].
async fn envelope<S>(
    app: Arc<AppState>,
    templates: &'static Templates,
    req: Request,
    route: S,
) -> Response
where
    S: Service<Request, Response = Response, Error = Infallible>,
{
    let rid = Rid::new();
    let matched = templates.find(req.uri().path());
    let method = metric_method(req.method());
    let span = tracing::info_span!(
        "request",
        rid = %rid,
        method,
        path = tracing::field::Empty,
        query = tracing::field::Empty,
    );
    // Whether the span records anything (the access log is on): what only it shows is not made.
    let logged = !span.is_disabled();
    if let Some(q) = req.uri().query().filter(|_| logged) {
        span.record(
            "query",
            redact::query_for_log(q, super::is_known_query_name),
        );
    }
    async move {
        let endpoint = matched.unwrap_or(UNMATCHED);
        let _in_flight = metrics::in_flight();
        let started = Instant::now();
        let world = in_world(&app, req.uri(), matched.is_some()).await;
        if logged {
            let known = world.as_ref().ok().filter(|w| !w.is_default());
            tracing::Span::current().record(
                "path",
                redact::path_for_log(req.uri().path(), matched, known.map(|w| w.id.as_str())),
            );
        }
        let mut resp = match world {
            Ok(world) => {
                let answer = async {
                    let (mut req, read) = buffer_body(&app, req).await;
                    let scope = Scope::of(&mut req);
                    scope.rid = Some(rid);
                    scope.world = Some(world.clone());
                    scope.body = Some(read);
                    with_faults(&world, req, route).await
                };
                // The payload is not logged: a panic's message may carry what the request did.
                AssertUnwindSafe(answer)
                    .catch_unwind()
                    .await
                    .unwrap_or_else(|_| {
                        Error::Internal(anyhow!("the request's handler panicked")).into_response()
                    })
            }
            Err(refusal) => refusal.into_response(),
        };
        let elapsed = started.elapsed();
        let status = resp.status().as_u16();
        let elapsed_us = elapsed.as_micros() as u64;
        let errcode = if let Some(f) = resp.extensions_mut().remove::<Failure>() {
            *resp.body_mut() = Body::from(render_failure(&f, rid));
            tracing::info!(
                endpoint,
                status,
                errcode = f.code.code(),
                detail =
                    &*redact::bounded(f.detail.as_deref().unwrap_or(""), redact::LOG_MAX_CHARS),
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
            if super::is_quiet(endpoint) {
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

/// The world a request acts in, from its `/w/{id}` prefix (the default world without one);
/// `routed` is whether a route serves its path (one that none serves is answered 404 whatever
/// the world).
///
/// A world that does not exist (or no longer does) answers as WeChat answers a credential it
/// does not know: every credential issued there is unknown from the moment it is deleted.
/// The sandbox API under it answers 404.
async fn in_world(app: &Arc<AppState>, uri: &Uri, routed: bool) -> Result<Arc<World>, Error> {
    let id = world_of_path(uri.path()).filter(|_| routed);
    let Some(id) = id else {
        return Ok(app.worlds.default_world().clone());
    };
    match app.worlds.resolve(id, &app.store, &app.settings).await? {
        Some(world) => Ok(world),
        None if uri.path().contains("/sandbox/") => Err(Error::sandbox(
            404,
            ErrCode::InvalidCredential,
            "no such world (it was deleted, or never existed)",
        )),
        None => Err(Error::wx_detail(
            ErrCode::InvalidCredential,
            "no such world",
        )),
    }
}

/// The `{id}` of a path under `/w/{id}/`, if it is one.
pub fn world_of_path(path: &str) -> Option<&str> {
    let rest = path.strip_prefix("/w/")?;
    let id = rest.split('/').next().unwrap_or(rest);
    (!id.is_empty()).then_some(id)
}

/// The path a route of the root serves: without the `/w/{id}` prefix (faults are armed for
/// the root's paths, in every world).
pub fn root_path(path: &str) -> &str {
    match world_of_path(path) {
        Some(id) => &path["/w/".len() + id.len()..],
        None => path,
    }
}

/// Runs the route with the world's injected faults applied. Only the WeChat-compatible JSON
/// endpoints can be armed (the sandbox API refuses any other path), so no other route is ever
/// struck.
async fn with_faults<S>(world: &World, req: Request, route: S) -> Response
where
    S: Service<Request, Response = Response, Error = Infallible>,
{
    let path = world
        .faults
        .any()
        .then(|| root_path(req.uri().path()).to_string());
    let Some(path) = path else {
        return run(route, req).await;
    };
    match world.take_fault(&path, FaultWhen::Before).await {
        Ok(Some(code)) => {
            return Error::wx_detail(ErrCode::from_code(code), "injected fault").into_response()
        }
        Ok(None) => {}
        Err(e) => return e.into_response(),
    }
    let resp = run(route, req).await;
    match world.take_fault(&path, FaultWhen::After).await {
        Ok(Some(code)) => {
            Error::wx_detail(ErrCode::from_code(code), "injected fault after the call")
                .into_response()
        }
        Ok(None) => resp,
        Err(e) => e.into_response(),
    }
}

/// The route's answer to `req`.
async fn run<S>(route: S, req: Request) -> Response
where
    S: Service<Request, Response = Response, Error = Infallible>,
{
    match route.oneshot(req).await {
        Ok(resp) => resp,
        Err(never) => match never {},
    }
}

/// The answer to a path no route serves.
pub async fn unknown_path() -> Response {
    // WeChat's exact text (no detail appended), under a 404.
    Error::Wx {
        code: ErrCode::InvalidUrl,
        status: 404,
        detail: None,
    }
    .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failure_renders_as_wechats_errcode_json_with_its_detail_escaped() {
        let rid = Rid::new();
        let cases = [
            (ErrCode::InvalidTicket, None, false),
            (ErrCode::InvalidTicket, Some("not shown"), false),
            (ErrCode::InvalidCredential, Some("a plain detail"), true),
            (
                ErrCode::InvalidCredential,
                Some("a \"quoted\"\n\\ detail \u{1}"),
                true,
            ),
        ];
        for (code, detail, show_detail) in cases {
            let f = Failure {
                code,
                detail: detail.map(str::to_string),
                show_detail,
            };
            let rendered = render_failure(&f, rid);
            let shown = detail.filter(|_| show_detail);
            let errmsg = match shown {
                Some(d) => format!("{}: {d} rid: {rid}", code.errmsg()),
                None => format!("{} rid: {rid}", code.errmsg()),
            };
            let expected = serde_json::json!({"errcode": code.code(), "errmsg": errmsg});
            assert_eq!(serde_json::to_vec(&expected).expect("json"), rendered);
            if !shown.is_some_and(|d| d.contains(['"', '\\', '\n'])) {
                // Sized exactly: the body takes the vector without a copy.
                assert_eq!(rendered.capacity(), rendered.len(), "{errmsg}");
            }
        }
    }

    #[test]
    fn a_rid_is_three_groups_of_eight_lowercase_hex_digits_and_never_repeats() {
        let (a, b) = (Rid::new(), Rid::new());
        assert_ne!(a, b);
        let groups: Vec<&str> = a.as_str().split('-').collect();
        assert_eq!(groups.len(), 3, "{a}");
        for g in groups {
            assert_eq!(g.len(), 8, "{a}");
            assert!(
                g.bytes().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f')),
                "{a}"
            );
        }
    }
}
