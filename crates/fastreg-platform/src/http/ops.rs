//! What an operator points probes and scrapers at: `/healthz` (liveness), `/readyz`
//! (readiness), and `/metrics` (Prometheus). `/openapi.json`, the fourth operations route, is served
//! by [`super`], which knows every area the document covers.
//!
//! None of them needs the admin token: probes and scrapers should not hold the key to the
//! sandbox API. `/metrics` is open unless `metrics_token` is set, in which case it needs
//! `Authorization: Bearer <metrics_token>`; the metrics carry no credentials and no account
//! ids (route templates and errcodes only), but on a server reachable beyond loopback they
//! still tell a stranger about its traffic, so set the token there.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Json;
use fastreg_wire::ErrCode;
use serde::Serialize;

use super::route::{schema, Auth, Method, Op, Reply, Route};
use crate::error::Error;
use crate::secrets;
use crate::service::sandbox as sandbox_svc;
use crate::state::AppState;

/// How long `/readyz` waits for the store before calling it unavailable.
const READY_TIMEOUT: Duration = Duration::from_secs(2);

/// The operations routes.
pub const ROUTES: &[Route] = &[
    Route {
        path: "/healthz",
        methods: || get(healthz),
        ops: &[Op::new(
            Method::Get,
            "healthz",
            "Liveness: 200 {\"status\":\"ok\"} while the process serves; touches nothing else",
            Reply::Json(200, schema::<Health>),
        )],
    },
    Route {
        path: "/readyz",
        methods: || get(readyz),
        ops: &[Op::new(
            Method::Get,
            "readyz",
            "Readiness: 200 when the store answers a read of the migrated schema, 503 with the reason otherwise",
            Reply::Readiness(schema::<Readiness>),
        )],
    },
    Route {
        path: "/metrics",
        methods: || get(metrics),
        ops: &[Op::new(
            Method::Get,
            "metrics",
            "Prometheus metrics (OpenMetrics text); needs the metrics token when one is set",
            Reply::Metrics,
        )
        .auth(Auth::MetricsToken)],
    },
];

/// `/healthz`'s answer.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct Health {
    /// Always `ok`.
    pub status: &'static str,
}

async fn healthz() -> Json<Health> {
    Json(Health { status: "ok" })
}

/// `/readyz`'s answer.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct Readiness {
    /// `ready` or `unavailable`.
    pub status: &'static str,
    /// The storage backend (`sqlite` or `postgres`).
    pub backend: &'static str,
    /// PostgreSQL only: whether this instance is the only one on its database at the moment
    /// (it then answers fastregister from memory without asking the change feed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alone: Option<bool>,
    /// Why it is unavailable.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

async fn readyz(State(app): State<Arc<AppState>>) -> Response {
    let backend = app.store.backend_name();
    let alone = app.store.alone();
    let unavailable = |reason: String| {
        tracing::warn!(reason, "not ready");
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(Readiness {
                status: "unavailable",
                backend,
                alone,
                reason: Some(reason),
            }),
        )
            .into_response()
    };
    if app.stopping.load(Ordering::Relaxed) {
        return unavailable("the server is shutting down".into());
    }
    // A read of the meta table: the store answers, and its schema is the migrated one.
    let read = app.store.read(|tx| sandbox_svc::is_initialized(tx));
    match tokio::time::timeout(READY_TIMEOUT, read).await {
        Ok(Ok(true)) => Json(Readiness {
            status: "ready",
            backend,
            alone,
            reason: None,
        })
        .into_response(),
        Ok(Ok(false)) => unavailable("the database has not been initialised".into()),
        Ok(Err(e)) => unavailable(format!("the store failed a read: {e:#}")),
        Err(_) => unavailable(format!(
            "the store did not answer within {} s",
            READY_TIMEOUT.as_secs()
        )),
    }
}

async fn metrics(State(app): State<Arc<AppState>>, req: Request) -> Response {
    if let Some(expected) = app
        .settings
        .metrics_token
        .as_deref()
        .filter(|t| !t.is_empty())
    {
        let presented = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim);
        match presented {
            Some(t) if secrets::ct_eq(t, expected) => {}
            Some(_) => {
                return Error::sandbox(401, ErrCode::InvalidCredential, "wrong metrics token")
                    .into_response()
            }
            None => {
                return Error::sandbox(
                    401,
                    ErrCode::AccessTokenMissing,
                    "send Authorization: Bearer <metrics_token>",
                )
                .into_response()
            }
        }
    }
    let mut resp = crate::metrics::render().into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(crate::metrics::CONTENT_TYPE),
    );
    resp
}
