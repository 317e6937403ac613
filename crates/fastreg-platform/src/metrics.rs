//! Prometheus metrics, served at `GET /metrics` in the OpenMetrics text format.
//!
//! One registry per process (like the log subscriber): every platform started in the process
//! records into it, so a test binary that starts several platforms sees their sum, and a
//! server process sees its own. Each family is typed here, with its labels, so a caller cannot
//! invent a label by accident.
//!
//! Label values are bounded on purpose (cardinality): `endpoint` is the route template
//! (`/sandbox/v1/components/{appid}`, never a raw path; `unmatched` for unknown paths),
//! `errcode` is from the errcode table, and the other labels are closed sets named below.
//!
//! | metric | labels | what |
//! |---|---|---|
//! | `fastreg_http_requests_total` | endpoint, method, errcode | answered requests (errcode 0 = success) |
//! | `fastreg_http_request_duration_seconds` | endpoint, method | latency, request in to response out |
//! | `fastreg_http_requests_in_flight` | – | requests being handled now |
//! | `fastreg_registrations_total` | outcome | fastregister calls: `registered`, `replayed`, `refused`, `failed` |
//! | `fastreg_tokens_issued_total` | kind, endpoint | access tokens issued |
//! | `fastreg_push_deliveries_total` | info_type, outcome | push attempts: `delivered`, `retrying`, `failed` (gave up) |
//! | `fastreg_storage_duration_seconds` | op | one storage transaction (`read` / `write`), queueing included |
//! | `fastreg_build_info` | version | always 1 |

use std::sync::{LazyLock, OnceLock};
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::{Registry, Unit};

/// The content type of [`render`]'s output.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Labels of `fastreg_http_requests_total`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    /// Route template, or `unmatched`.
    pub endpoint: String,
    /// HTTP method (one of a fixed set: no allocation per request).
    pub method: &'static str,
    /// The answer's errcode; 0 for a success.
    pub errcode: i64,
}

/// Labels of `fastreg_http_request_duration_seconds`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct EndpointLabels {
    /// Route template, or `unmatched`.
    pub endpoint: String,
    /// HTTP method (one of a fixed set: no allocation per request).
    pub method: &'static str,
}

/// How a fastregister call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegistrationOutcome {
    /// A new Mini Program.
    Registered,
    /// A spent ticket's success answered again (no new Mini Program).
    Replayed,
    /// A WeChat errcode (token, body, ticket or a business rule).
    Refused,
    /// An internal error (-1).
    Failed,
}

impl RegistrationOutcome {
    fn label(self) -> &'static str {
        match self {
            RegistrationOutcome::Registered => "registered",
            RegistrationOutcome::Replayed => "replayed",
            RegistrationOutcome::Refused => "refused",
            RegistrationOutcome::Failed => "failed",
        }
    }
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: &'static str,
}

/// Which access token was issued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IssuedToken {
    /// `component_access_token`.
    ComponentAccessToken,
    /// `authorizer_access_token` (an Official Account's or a Mini Program's).
    AuthorizerAccessToken,
}

impl IssuedToken {
    fn label(self) -> &'static str {
        match self {
            IssuedToken::ComponentAccessToken => "component_access_token",
            IssuedToken::AuthorizerAccessToken => "authorizer_access_token",
        }
    }
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TokenLabels {
    kind: &'static str,
    endpoint: &'static str,
}

/// How a push delivery attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushOutcome {
    /// The receiver answered `success`.
    Delivered,
    /// Failed; another attempt is scheduled.
    Retrying,
    /// Failed for the last time (or could not be sent at all).
    Failed,
}

impl PushOutcome {
    fn label(self) -> &'static str {
        match self {
            PushOutcome::Delivered => "delivered",
            PushOutcome::Retrying => "retrying",
            PushOutcome::Failed => "failed",
        }
    }
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PushLabels {
    info_type: String,
    outcome: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StorageLabels {
    op: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct VersionLabels {
    version: &'static str,
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

/// Every metric of the platform.
struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    request_duration: HistogramFamily<EndpointLabels>,
    in_flight: Gauge,
    registrations: Family<OutcomeLabels, Counter>,
    tokens: Family<TokenLabels, Counter>,
    pushes: Family<PushLabels, Counter>,
    storage: HistogramFamily<StorageLabels>,
}

/// 0.5 ms … 16 s, doubling.
fn request_buckets() -> Histogram {
    Histogram::new(exponential_buckets(0.0005, 2.0, 16))
}

/// 50 µs … 1.6 s, doubling.
fn storage_buckets() -> Histogram {
    Histogram::new(exponential_buckets(0.00005, 2.0, 16))
}

impl Metrics {
    fn new() -> Metrics {
        let mut registry = Registry::with_prefix("fastreg");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "http_requests",
            "Answered HTTP requests by route template, method and errcode (0 = success)",
            requests.clone(),
        );
        let request_duration: HistogramFamily<EndpointLabels> =
            Family::new_with_constructor(request_buckets);
        registry.register_with_unit(
            "http_request_duration",
            "Time from request in to response out, by route template and method",
            Unit::Seconds,
            request_duration.clone(),
        );
        let in_flight = Gauge::default();
        registry.register(
            "http_requests_in_flight",
            "Requests being handled now",
            in_flight.clone(),
        );
        let registrations = Family::<OutcomeLabels, Counter>::default();
        registry.register(
            "registrations",
            "fastregister calls by outcome: registered, replayed, refused, failed",
            registrations.clone(),
        );
        let tokens = Family::<TokenLabels, Counter>::default();
        registry.register(
            "tokens_issued",
            "Access tokens issued, by kind and by the endpoint that issued them",
            tokens.clone(),
        );
        let pushes = Family::<PushLabels, Counter>::default();
        registry.register(
            "push_deliveries",
            "Push delivery attempts by InfoType and outcome: delivered, retrying, failed (gave up)",
            pushes.clone(),
        );
        let storage: HistogramFamily<StorageLabels> = Family::new_with_constructor(storage_buckets);
        registry.register_with_unit(
            "storage_duration",
            "Time of one storage transaction (read or write), waiting for the writer included",
            Unit::Seconds,
            storage.clone(),
        );
        registry.register(
            "build",
            "The running fastreg's version",
            Info::new(VersionLabels {
                version: env!("CARGO_PKG_VERSION"),
            }),
        );
        Metrics {
            registry,
            requests,
            request_duration,
            in_flight,
            registrations,
            tokens,
            pushes,
            storage,
        }
    }
}

static METRICS: LazyLock<Metrics> = LazyLock::new(Metrics::new);

/// A thread's handles to the request metrics it has recorded into, by endpoint, then (method,
/// errcode). A handle shares its metric's value, so a repeated label set skips the families'
/// locks and label hashing; the label sets are bounded (see the module docs), and so is this.
/// Keyed by the endpoint alone first so that a request's template is looked up as the `&str`
/// it is, not copied into a key.
type RequestHandles = ahash::AHashMap<String, Vec<((&'static str, i64), (Histogram, Counter))>>;

thread_local! {
    static REQUEST_HANDLES: std::cell::RefCell<RequestHandles> = Default::default();
}

/// Records an answered request.
pub fn request(endpoint: &str, method: &'static str, errcode: i64, elapsed: Duration) {
    let seconds = elapsed.as_secs_f64();
    REQUEST_HANDLES.with_borrow_mut(|handles| {
        let known = handles.get(endpoint).and_then(|sets| {
            sets.iter()
                .find(|(labels, _)| *labels == (method, errcode))
                .map(|(_, handles)| handles)
        });
        if let Some((duration, count)) = known {
            duration.observe(seconds);
            count.inc();
            return;
        }
        let m = &*METRICS;
        let duration = m.request_duration.get_or_create_owned(&EndpointLabels {
            endpoint: endpoint.to_string(),
            method,
        });
        let count = m.requests.get_or_create_owned(&RequestLabels {
            endpoint: endpoint.to_string(),
            method,
            errcode,
        });
        duration.observe(seconds);
        count.inc();
        handles
            .entry(endpoint.to_string())
            .or_default()
            .push(((method, errcode), (duration, count)));
    });
}

/// Counts a request in flight until the returned guard is dropped (even by a panic).
pub fn in_flight() -> InFlight {
    METRICS.in_flight.inc();
    InFlight(())
}

/// See [`in_flight`].
#[must_use]
pub struct InFlight(());

impl Drop for InFlight {
    fn drop(&mut self) {
        METRICS.in_flight.dec();
    }
}

/// Records how a fastregister call ended.
pub fn registration(outcome: RegistrationOutcome) {
    // The family's entry for each outcome, looked up once (it appears at its first use, as
    // before): a call then counts without the family's lock and label hashing.
    static COUNTERS: [OnceLock<Counter>; 4] = [const { OnceLock::new() }; 4];
    COUNTERS[outcome as usize]
        .get_or_init(|| {
            METRICS.registrations.get_or_create_owned(&OutcomeLabels {
                outcome: outcome.label(),
            })
        })
        .inc();
}

/// Records an access token issued by `endpoint` (a WeChat path).
pub fn token_issued(kind: IssuedToken, endpoint: &'static str) {
    METRICS
        .tokens
        .get_or_create(&TokenLabels {
            kind: kind.label(),
            endpoint,
        })
        .inc();
}

/// Records a push delivery attempt.
pub fn push_attempt(info_type: &str, outcome: PushOutcome) {
    METRICS
        .pushes
        .get_or_create(&PushLabels {
            info_type: info_type.to_string(),
            outcome: outcome.label(),
        })
        .inc();
}

/// Records one storage transaction (`op` is `read` or `write`).
pub fn storage(op: &'static str, elapsed: Duration) {
    METRICS
        .storage
        .get_or_create(&StorageLabels { op })
        .observe(elapsed.as_secs_f64());
}

/// The whole registry in the OpenMetrics text format ([`CONTENT_TYPE`]).
pub fn render() -> String {
    let mut out = String::with_capacity(8 * 1024);
    // Writing to a String cannot fail.
    let _ = prometheus_client::encoding::text::encode(&mut out, &METRICS.registry);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_exposition_names_every_family_with_its_help_and_ends_with_eof() {
        request("/healthz", "GET", 0, Duration::from_millis(1));
        registration(RegistrationOutcome::Refused);
        token_issued(
            IssuedToken::ComponentAccessToken,
            "/cgi-bin/component/api_component_token",
        );
        push_attempt("component_verify_ticket", PushOutcome::Retrying);
        storage("read", Duration::from_micros(80));
        let text = render();
        for family in [
            "fastreg_http_requests_total",
            "fastreg_http_request_duration_seconds_bucket",
            "fastreg_http_requests_in_flight",
            "fastreg_registrations_total",
            "fastreg_tokens_issued_total",
            "fastreg_push_deliveries_total",
            "fastreg_storage_duration_seconds_bucket",
            "fastreg_build_info",
        ] {
            assert!(text.contains(family), "{family} in:\n{text}");
        }
        assert!(text.contains(r#"endpoint="/healthz",method="GET",errcode="0""#));
        assert!(text.contains(r#"outcome="refused""#));
        assert!(text.trim_end().ends_with("# EOF"));
    }
}
