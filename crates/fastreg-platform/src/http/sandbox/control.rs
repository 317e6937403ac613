//! The sandbox API's handlers for what happens to the world after it is built: authorisations
//! and revocations, fast-registration confirmations, the pushes and registrations they cause,
//! the clock, injected faults and the runtime config.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use fastreg_wire::ErrCode;
use serde::{Deserialize, Serialize};

use super::{created, input};
use crate::domain::*;
use crate::error::{Error, Result};
use crate::http::extract::Call;
use crate::jobs::due::run_due_work;
use crate::rules::Policy;
use crate::service::sandbox::{self as svc, *};
use crate::settings::RuntimeConfig;
use crate::state::{AppState, Fault, FaultWhen};

#[derive(Serialize, schemars::JsonSchema)]
pub(super) struct AuthorizationOut {
    auth_code: String,
    expires_in: i64,
    change: AuthorizationChange,
    permission_sets: Vec<i64>,
    withheld_sets: Vec<i64>,
}

pub(super) async fn authorize(State(app): State<Arc<AppState>>, call: Call) -> Result<Response> {
    let input: AuthorizationIn = input(&call)?;
    let (now, lifetimes) = (app.clock.now(), app.settings.lifetimes.clone());
    let out = app
        .store
        .write(move |tx| svc::authorize(tx, input, now, &lifetimes))
        .await?;
    app.push_wake.notify_one();
    Ok(created(AuthorizationOut {
        auth_code: out.auth_code,
        expires_in: out.expires_in,
        change: out.change,
        permission_sets: out.authorization.permission_sets,
        withheld_sets: out.withheld_sets,
    }))
}

/// An authorisation as the sandbox lists it: without the refresh token, which only the
/// component may learn (through api_query_auth or api_get_authorizer_list).
#[derive(Serialize, schemars::JsonSchema)]
pub(super) struct AuthorizationListed {
    component_appid: String,
    authorizer_appid: String,
    authorizer_kind: AuthorizerKind,
    permission_sets: Vec<i64>,
    auth_time: UnixTime,
    revoked: bool,
}

impl From<Authorization> for AuthorizationListed {
    fn from(a: Authorization) -> Self {
        AuthorizationListed {
            component_appid: a.component_appid,
            authorizer_appid: a.authorizer_appid,
            authorizer_kind: a.authorizer_kind,
            permission_sets: a.permission_sets,
            auth_time: a.auth_time,
            revoked: a.revoked,
        }
    }
}

pub(super) async fn list_authorizations(
    State(app): State<Arc<AppState>>,
) -> Result<Json<Vec<AuthorizationListed>>> {
    let all = app.store.read(|tx| tx.all_authorizations()).await?;
    Ok(Json(
        all.into_iter().map(AuthorizationListed::from).collect(),
    ))
}

pub(super) async fn revoke(
    State(app): State<Arc<AppState>>,
    call: Call,
) -> Result<Json<AuthorizationListed>> {
    let input: RevocationIn = input(&call)?;
    let now = app.clock.now();
    let a = app
        .store
        .write(move |tx| svc::revoke(tx, input, now))
        .await?;
    app.push_wake.notify_one();
    Ok(Json(a.into()))
}

/// The `limit` query parameter of the listings: 1..=10000, default 100.
pub(super) fn limit_param(call: &Call) -> Result<u32> {
    match call.query("limit") {
        None => Ok(100),
        Some(l) => l
            .parse::<u32>()
            .ok()
            .filter(|&l| (1..=10_000).contains(&l))
            .ok_or_else(|| {
                Error::sandbox(400, ErrCode::DataFormatError, "limit must be 1..=10000")
            }),
    }
}

pub(super) async fn pushes(
    State(app): State<Arc<AppState>>,
    call: Call,
) -> Result<Json<Vec<Push>>> {
    let component = call.query("component_appid").filter(|s| !s.is_empty());
    let limit = limit_param(&call)?;
    Ok(Json(
        app.store
            .read(move |tx| tx.pushes(component.as_deref(), limit))
            .await?,
    ))
}

pub(super) async fn confirm(State(app): State<Arc<AppState>>, call: Call) -> Result<Response> {
    let input: ConfirmationIn = input(&call)?;
    let (now, lifetimes) = (app.clock.now(), app.settings.lifetimes.clone());
    let out = app
        .store
        .write(move |tx| svc::confirm_fast_registration(tx, input, now, &lifetimes))
        .await?;
    Ok(created(out))
}

#[derive(Serialize, schemars::JsonSchema)]
pub(super) struct RegistrationOut {
    ticket: String,
    mp_appid: Option<String>,
    status: RegistrationStatus,
    created_at: UnixTime,
    completed_at: Option<UnixTime>,
    oa_appid: String,
    component_appid: String,
    is_wx_verify_succ: bool,
    is_link_succ: bool,
    month: Option<String>,
}

pub(super) async fn registrations(
    State(app): State<Arc<AppState>>,
    call: Call,
) -> Result<Response> {
    let oa = call.query("appid").filter(|s| !s.is_empty());
    let limit = limit_param(&call)?;
    let regs = app
        .store
        .read(move |tx| tx.registrations(oa.as_deref(), limit))
        .await?;
    let out: Vec<RegistrationOut> = regs
        .into_iter()
        .map(|r| RegistrationOut {
            ticket: r.ticket,
            mp_appid: r.mp_appid,
            status: r.status,
            created_at: r.created_at,
            completed_at: r.completed_at,
            oa_appid: r.oa_appid,
            component_appid: r.component_appid,
            is_wx_verify_succ: r.is_wx_verify_succ,
            is_link_succ: r.is_link_succ,
            month: r.month,
        })
        .collect();
    Ok(Json(out).into_response())
}

#[derive(Serialize, schemars::JsonSchema)]
pub(super) struct ClockOut {
    now: UnixTime,
    offset: i64,
}

pub(super) async fn clock(State(app): State<Arc<AppState>>) -> Json<ClockOut> {
    Json(ClockOut {
        now: app.clock.now(),
        offset: app.clock.offset(),
    })
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct AdvanceIn {
    seconds: i64,
}

pub(super) async fn advance_clock(
    State(app): State<Arc<AppState>>,
    call: Call,
) -> Result<Json<ClockOut>> {
    let AdvanceIn { seconds } = input(&call)?;
    let _serial = app.clock_lock.lock().await;
    let offset = app
        .store
        .write(move |tx| svc::advance_clock(tx, seconds))
        .await?;
    app.clock.set_offset(offset);
    // Whatever falls due at the new time (verify tickets) happens before the answer, so a
    // caller that advances and then looks sees the consequences.
    run_due_work(&app).await?;
    Ok(Json(ClockOut {
        now: app.clock.now(),
        offset,
    }))
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct FaultIn {
    path: String,
    /// The errcode the faulted calls answer; `errcode`, its earlier name, is still accepted.
    #[serde(rename = "inject_errcode", alias = "errcode")]
    errcode: i64,
    #[serde(default = "one")]
    times: u32,
    #[serde(default)]
    when: FaultWhen,
}

pub(super) fn one() -> u32 {
    1
}

pub(super) async fn add_fault(State(app): State<Arc<AppState>>, call: Call) -> Result<Response> {
    let f: FaultIn = input(&call)?;
    if !fastreg_wire::paths::JSON_ENDPOINTS.contains(&f.path.as_str()) {
        return Err(Error::sandbox(
            400,
            ErrCode::DataFormatError,
            format!(
                "path must be one of the WeChat-compatible JSON endpoints: {}",
                fastreg_wire::paths::JSON_ENDPOINTS.join(", ")
            ),
        ));
    }
    if f.errcode == 0 || f.times == 0 {
        return Err(Error::sandbox(
            400,
            ErrCode::DataFormatError,
            "inject_errcode must be non-zero and times at least 1",
        ));
    }
    let fault = Fault {
        path: f.path,
        errcode: f.errcode,
        remaining: f.times,
        when: f.when,
    };
    app.faults.add(fault.clone());
    Ok(created(fault))
}

pub(super) async fn list_faults(State(app): State<Arc<AppState>>) -> Json<Vec<Fault>> {
    Json(app.faults.list())
}

pub(super) async fn clear_faults(State(app): State<Arc<AppState>>) -> StatusCode {
    app.faults.clear();
    StatusCode::NO_CONTENT
}

pub(super) async fn get_config(State(app): State<Arc<AppState>>) -> Json<RuntimeConfig> {
    Json(RuntimeConfig::clone(&app.runtime()))
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct ConfigPatch {
    /// Only the keys given change; the others keep their current values.
    #[serde(default)]
    rules: Option<serde_json::Map<String, serde_json::Value>>,
    #[serde(default)]
    processing_delay_ms: Option<u64>,
    #[serde(default)]
    booleans: Option<fastreg_wire::account::BoolStyle>,
}

pub(super) async fn patch_config(
    State(app): State<Arc<AppState>>,
    call: Call,
) -> Result<Json<RuntimeConfig>> {
    let p: ConfigPatch = input(&call)?;
    if p.processing_delay_ms
        .is_some_and(|d| d > crate::settings::MAX_PROCESSING_DELAY_MS)
    {
        return Err(Error::sandbox(
            400,
            ErrCode::DataFormatError,
            "processing_delay_ms is at most 600000",
        ));
    }
    let _changing = app.runtime_change.lock().expect("runtime change lock");
    let mut rt = RuntimeConfig::clone(&app.runtime());
    if let Some(changes) = p.rules {
        let mut merged = serde_json::to_value(&rt.rules).map_err(|e| Error::Internal(e.into()))?;
        if let Some(obj) = merged.as_object_mut() {
            obj.extend(changes);
        }
        rt.rules = serde_json::from_value::<Policy>(merged)
            .map_err(|e| Error::sandbox(400, ErrCode::DataFormatError, format!("rules: {e}")))?;
    }
    if let Some(d) = p.processing_delay_ms {
        rt.processing_delay_ms = d;
    }
    if let Some(b) = p.booleans {
        rt.booleans = b;
    }
    app.runtime.store(Arc::new(rt.clone()));
    Ok(Json(rt))
}
