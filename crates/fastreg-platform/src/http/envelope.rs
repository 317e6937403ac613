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
use axum::extract::{MatchedPath, Request};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use fastreg_wire::ErrCode;
use futures_util::future::BoxFuture;
use futures_util::FutureExt as _;
use serde::Serialize;
use tower::{Layer, Service, ServiceExt as _};
use tracing::Instrument;

use super::body::buffer_body;
use super::extract::InWorld;
use super::reply::{json_bytes, WX_CONTENT_TYPE};
use crate::error::Error;
use crate::metrics;
use crate::redact;
use crate::state::{AppState, FaultWhen, World};

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

/// The errcode an HTML page refused with (the page renders it; the envelope counts it).
#[derive(Debug, Clone, Copy)]
pub struct PageErrcode(pub ErrCode);

/// The `endpoint` label and log field of a request no route matched.
pub const UNMATCHED: &str = "unmatched";

/// The envelope as a layer, for `Router::layer` (which wraps every route and the fallback in
/// it): around each request's route, it gives the request its rid and span, reads its body,
/// applies injected faults, answers a panic of the route as a system error, renders recorded
/// failures, logs one line per request and records its metrics.
///
/// Its own service rather than `axum::middleware::from_fn`, and it catches a route's panic
/// itself rather than a second layer (tower-http's `CatchPanicLayer`): `Router::layer` wraps
/// every route in each layer, and each layer clones and boxes the route's service and boxes a
/// future for every request, which a refusal answered from memory noticeably paid for
/// (BENCHMARKS.md). Caught here, a route's panic is also answered under the request's own rid,
/// logged in its span, and counted in its access-log line and metrics like any other system
/// error; a panic of the envelope's own code is answered too, under a fresh rid.
#[derive(Clone)]
pub struct EnvelopeLayer {
    app: Arc<AppState>,
}

impl EnvelopeLayer {
    pub fn new(app: Arc<AppState>) -> EnvelopeLayer {
        EnvelopeLayer { app }
    }
}

impl<S> Layer<S> for EnvelopeLayer {
    type Service = Envelope<S>;

    fn layer(&self, route: S) -> Envelope<S> {
        Envelope {
            app: self.app.clone(),
            route,
        }
    }
}

/// A route in the envelope ([`EnvelopeLayer`]).
#[derive(Clone)]
pub struct Envelope<S> {
    app: Arc<AppState>,
    route: S,
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
        let app = self.app.clone();
        Box::pin(async move {
            // The route's panic is answered inside, under the request's rid (`envelope`);
            // this answers one of the envelope's own code (the redaction of what the request
            // sent, say), whose span and rid are gone with it.
            let answer = AssertUnwindSafe(envelope(app, req, route)).catch_unwind();
            Ok(answer.await.unwrap_or_else(|_| envelope_panicked()))
        })
    }
}

/// The answer when the envelope's own code panicked: a system error under a fresh rid.
fn envelope_panicked() -> Response {
    let rid = new_rid();
    tracing::error!(rid, "the request's envelope panicked");
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
async fn envelope<S>(app: Arc<AppState>, mut req: Request, route: S) -> Response
where
    S: Service<Request, Response = Response, Error = Infallible>,
{
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
        path = tracing::field::Empty,
        query = tracing::field::Empty,
    );
    if let Some(q) = req.uri().query().filter(|_| !span.is_disabled()) {
        span.record(
            "query",
            redact::query_for_log(q, super::is_known_query_name),
        );
    }
    async move {
        let _in_flight = metrics::in_flight();
        let started = Instant::now();
        let world = in_world(&app, &mut req).await;
        if !tracing::Span::current().is_disabled() {
            let template = Some(endpoint.as_str())
                .filter(|t| *t != UNMATCHED && !t.contains("__private__axum"));
            let known = world.as_ref().ok().filter(|w| !w.is_default());
            tracing::Span::current().record(
                "path",
                redact::path_for_log(req.uri().path(), template, known.map(|w| w.id.as_str())),
            );
        }
        let mut resp = match world {
            Ok(world) => {
                let answer =
                    async { with_faults(&world, buffer_body(&app, req).await, route).await };
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
            *resp.body_mut() = Body::from(render_failure(&f, &rid));
            resp.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static(WX_CONTENT_TYPE),
            );
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
            if super::is_quiet(&endpoint) {
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

/// The world a request acts in, from its `/w/{id}` prefix (the default world without one),
/// recorded in the request's extensions for the handlers ([`super::extract::Here`]).
///
/// A world that does not exist (or no longer does) answers as WeChat answers a credential it
/// does not know: every credential issued there is unknown from the moment it is deleted.
/// The sandbox API under it answers 404.
async fn in_world(app: &Arc<AppState>, req: &mut Request) -> Result<Arc<World>, Error> {
    // A path no route serves is answered 404 whatever the world (axum's own routes for a
    // nested router's fallback route nothing).
    let routed = req
        .extensions()
        .get::<MatchedPath>()
        .is_some_and(|m| !m.as_str().contains("__private__axum"));
    let id = world_of_path(req.uri().path()).filter(|_| routed);
    let Some(id) = id else {
        let world = app.worlds.default_world().clone();
        req.extensions_mut().insert(InWorld(world.clone()));
        return Ok(world);
    };
    match app.worlds.resolve(id, &app.store, &app.settings).await? {
        Some(world) => {
            req.extensions_mut().insert(InWorld(world.clone()));
            Ok(world)
        }
        None if req.uri().path().contains("/sandbox/") => Err(Error::sandbox(
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
