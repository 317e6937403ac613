//! The HTTP face of the platform: the axum router, built from route tables, and the list of
//! areas it serves. What every request passes through lives beside it: the [`envelope`]
//! (request id, failure rendering, faults, access log, metrics), request [`body`] reading,
//! the [`extract`]or handlers read calls with, and the [`reply`] shapes of successes; the
//! listener's accept loop is [`serve`].
//!
//! Every route is declared once, in a route table next to its handlers ([`route::Route`]);
//! the router and the OpenAPI document ([`openapi`]) are both built from the tables [`AREAS`]
//! lists.
//!
//! HTTP status policy: WeChat-compatible endpoints answer 200 with an errcode, as WeChat does
//! (bad input is never a 5xx); the sandbox API uses real statuses (400, 401, 404, 409) with
//! the same errcode body; an unknown path is 404 with errcode 40066. The one deliberate 5xx is
//! `/readyz`'s 503.

pub mod body;
pub mod envelope;
pub mod extract;
pub mod openapi;
pub mod ops;
pub mod options;
pub mod pages;
pub mod reply;
pub mod route;
pub mod sandbox;
pub mod serve;
pub mod wechat;

use std::sync::{Arc, LazyLock};

use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use fastreg_wire::ErrCode;
use tower::Layer as _;

use self::route::{Area, Method, Op, Reply, Route};
use crate::error::Error;
use crate::state::AppState;

/// Where a world other than the default one serves the whole surface (its base URL).
pub const WORLD_PREFIX: &str = "/w/{world}";

/// Every area the platform serves, in the OpenAPI document's order.
pub static AREAS: [Area; 4] = [
    Area {
        tag: "wechat",
        description: "WeChat-compatible JSON endpoints, paths exactly as WeChat's. HTTP 200 \
                      even for errors, which are `{\"errcode\":N,\"errmsg\":\"<text> rid: \
                      xxxxxxxx-xxxxxxxx-xxxxxxxx\"}`; content type `application/json; \
                      encoding=utf-8`; an empty body is 44002, bad JSON or wrong types 47001.",
        prefix: "",
        routes: &[wechat::ROUTES, options::ROUTES],
    },
    Area {
        tag: "pages",
        description: "The account admin's HTML pages (componentloginpage, fastregisterauth) \
                      and the sandbox console. Refusals are pages showing the errcode; they \
                      never redirect.",
        prefix: "",
        routes: &[pages::ROUTES],
    },
    Area {
        tag: "sandbox",
        description: "The sandbox control API (not WeChat's): create and change the world, \
                      move the clock, inject faults. Every call needs `Authorization: Bearer \
                      <admin token>`. Real HTTP statuses; failures use the errcode shape \
                      with the reason spelled out.",
        prefix: sandbox::PREFIX,
        routes: &sandbox::TABLES,
    },
    Area {
        tag: "operations",
        description: "For operators: liveness, readiness, Prometheus metrics, this document.",
        prefix: "",
        routes: OPERATIONS,
    },
];

/// The operations area: the probes, the metrics and this API's document.
const OPERATIONS: &[&[Route]] = &[ops::ROUTES, OPENAPI_ROUTES];

/// `/openapi.json`, served here because the document covers every area.
const OPENAPI_ROUTES: &[Route] = &[Route {
    path: "/openapi.json",
    methods: || get(serve_openapi_json),
    ops: &[Op::new(
        Method::Get,
        "openapi",
        "This OpenAPI 3.1 document",
        Reply::OpenApi,
    )],
}];

/// The OpenAPI document of [`AREAS`] as pretty-printed JSON (what `/openapi.json` serves and
/// `docs/openapi.json` holds), built once.
pub fn openapi_json() -> &'static str {
    static JSON: LazyLock<String> = LazyLock::new(|| openapi::document_json(&AREAS));
    &JSON
}

async fn serve_openapi_json() -> Response {
    let mut resp = openapi_json().into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

/// Whether `name` is a query parameter some route reads (the access log shows such names; any
/// other name is text the client chose, and is not shown).
pub fn is_known_query_name(name: &str) -> bool {
    static NAMES: LazyLock<std::collections::HashSet<&'static str>> = LazyLock::new(|| {
        let mut names: std::collections::HashSet<&'static str> =
            ["access_token", "component_access_token"].into();
        for area in &AREAS {
            for table in area.routes {
                for route in *table {
                    for op in route.ops {
                        names.extend(op.query.iter().map(|p| p.name));
                    }
                }
            }
        }
        names
    });
    NAMES.contains(name)
}

/// Whether requests to `endpoint` (a route template) are probes, scrapes and document
/// fetches (the operations area), logged at debug level rather than info so that they do not
/// drown the log.
pub fn is_quiet(endpoint: &str) -> bool {
    OPERATIONS
        .iter()
        .flat_map(|table| table.iter())
        .any(|r| r.path == endpoint)
}

/// The whole platform as one service: the router of every route in the envelope
/// ([`envelope::Envelope`]), which gives each request its rid, world and body and renders its
/// failures.
pub type App = envelope::Envelope<Router>;

/// The whole router in its envelope: WeChat-compatible endpoints, pages, the sandbox API, the
/// operations endpoints. Every route comes from a route table of [`AREAS`], which is also
/// what `/openapi.json` documents.
///
/// One envelope around the router rather than one around each route (`Router::layer`): axum
/// clones and boxes a layered route's service for every request, which cost a refusal
/// answered from memory about 5 % of its throughput (BENCHMARKS.md). The envelope names the
/// request's route itself ([`TEMPLATES`]) before the router runs.
pub fn router(state: Arc<AppState>) -> App {
    envelope::EnvelopeLayer::new(state.clone(), &TEMPLATES).layer(routes(state))
}

/// The templates of every route [`router`] serves, the same list: a world's surface at the
/// root and under [`WORLD_PREFIX`], then the operations.
pub static TEMPLATES: LazyLock<route::Templates> = LazyLock::new(|| {
    let mut paths = Vec::new();
    for prefix in ["", WORLD_PREFIX] {
        for table in SURFACE {
            paths.extend(route::paths_under(prefix, table));
        }
        let sandbox = route::path_under(prefix, sandbox::PREFIX);
        for table in sandbox::TABLES {
            paths.extend(route::paths_under(&sandbox, table));
        }
        paths.push(format!("{sandbox}/"));
    }
    for table in OPERATIONS {
        paths.extend(route::paths_under("", table));
    }
    route::Templates::new(paths)
});

/// The route tables of a world's surface outside the sandbox API, which is nested.
const SURFACE: [&[Route]; 3] = [wechat::ROUTES, options::ROUTES, pages::ROUTES];

/// The router of every route, without the envelope: what [`router`] wraps.
fn routes(state: Arc<AppState>) -> Router {
    // What a world serves: at the root for the default world, under `/w/{id}` for the others
    // (the envelope resolves the world from the path; platform.md §9).
    let surface = |prefix: &str| {
        let api = route::path_under(prefix, sandbox::PREFIX);
        SURFACE
            .iter()
            .fold(Router::new(), |router, table| {
                router.merge(route::build_under(prefix, table))
            })
            .nest(&api, sandbox::router(state.clone()))
            // `nest` leaves the prefix's own trailing-slash path (what a client makes of
            // `/sandbox/v1/x/..`) to the outer fallback: it is an unknown sandbox path like
            // any other, refused without the admin token.
            .route(&format!("{api}/"), sandbox::trailing_slash(state.clone()))
    };
    let served = Router::new()
        .merge(surface(""))
        .merge(surface(WORLD_PREFIX));
    OPERATIONS
        .iter()
        .fold(served, |router, table| router.merge(route::build(table)))
        .fallback(envelope::unknown_path)
        .method_not_allowed_fallback(|| async {
            Error::Wx {
                code: ErrCode::InvalidUrl,
                status: 405,
                detail: None,
            }
        })
        .with_state(state)
}
