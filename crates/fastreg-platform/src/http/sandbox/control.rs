//! The sandbox API's handlers for what happens to the world after it is built: authorisations
//! and revocations, fast-registration confirmations, the pushes and registrations they cause,
//! the clock, injected faults and the runtime config.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use fastreg_wire::ErrCode;
use serde::{Deserialize, Serialize};

use super::{created, input};
use crate::domain::*;
use crate::error::{Error, Result};
use crate::http::extract::{Call, Here};
use crate::jobs::due::issue_due_verify_tickets;
use crate::service::sandbox::{self as svc, *};
use crate::settings::RuntimeConfig;
use crate::state::{Fault, FaultWhen};

#[derive(Serialize, schemars::JsonSchema)]
pub(super) struct AuthorizationOut {
    auth_code: String,
    expires_in: i64,
    change: AuthorizationChange,
    permission_sets: Vec<i64>,
    withheld_sets: Vec<i64>,
}

pub(super) async fn authorize(Here { app, w }: Here, call: Call) -> Result<Response> {
    let input: AuthorizationIn = input(&call)?;
    let (now, lifetimes) = (w.clock.now(), app.settings.lifetimes.clone());
    let out = w
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
    Here { w, .. }: Here,
) -> Result<Json<Vec<AuthorizationListed>>> {
    let all = w.store.read(|tx| tx.all_authorizations()).await?;
    Ok(Json(
        all.into_iter().map(AuthorizationListed::from).collect(),
    ))
}

pub(super) async fn revoke(Here { app, w }: Here, call: Call) -> Result<Json<AuthorizationListed>> {
    let input: RevocationIn = input(&call)?;
    let now = w.clock.now();
    let a = w.store.write(move |tx| svc::revoke(tx, input, now)).await?;
    app.push_wake.notify_one();
    Ok(Json(a.into()))
}

/// The most a listing answers at once (`limit`'s maximum).
pub(super) const LIMIT_MAX: u32 = 10_000;
/// What a listing answers without `limit`.
pub(super) const LIMIT_DEFAULT: u32 = 100;

/// The `limit` query parameter of the listings: 1..=[`LIMIT_MAX`]; absent, [`LIMIT_DEFAULT`].
/// An empty one is refused with the rest of what is not such a number: the document says
/// `integer`, and so does the check.
pub(super) fn limit_param(call: &Call) -> Result<u32> {
    match call.query("limit") {
        None => Ok(LIMIT_DEFAULT),
        Some(l) => crate::input::integer(&l)
            .and_then(|l| u32::try_from(l).ok())
            .filter(|&l| (1..=LIMIT_MAX).contains(&l))
            .ok_or_else(|| {
                Error::sandbox(
                    400,
                    ErrCode::DataFormatError,
                    format!("limit must be 1..={LIMIT_MAX}"),
                )
            }),
    }
}

pub(super) async fn pushes(Here { w, .. }: Here, call: Call) -> Result<Json<Vec<Push>>> {
    let component = call.query("component_appid").filter(|s| !s.is_empty());
    let limit = limit_param(&call)?;
    Ok(Json(
        w.store
            .read(move |tx| tx.pushes(component.as_deref(), limit))
            .await?,
    ))
}

pub(super) async fn confirm(Here { app, w }: Here, call: Call) -> Result<Response> {
    let input: ConfirmationIn = input(&call)?;
    let (now, lifetimes) = (w.clock.now(), app.settings.lifetimes.clone());
    let out = w
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

pub(super) async fn registrations(Here { w, .. }: Here, call: Call) -> Result<Response> {
    let oa = call.query("appid").filter(|s| !s.is_empty());
    let limit = limit_param(&call)?;
    let regs = w
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
    /// The world's now (unix seconds).
    now: UnixTime,
    /// Seconds it runs ahead of the system clock.
    offset: i64,
    /// Whether it moves only when advanced.
    frozen: bool,
}

impl ClockOut {
    fn of(w: &crate::state::World) -> ClockOut {
        let now = w.clock.now();
        ClockOut {
            now,
            offset: now - crate::clock::system_now(),
            frozen: w.frozen(),
        }
    }
}

pub(super) async fn clock(Here { w, .. }: Here) -> Json<ClockOut> {
    Json(ClockOut::of(&w))
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(example = serde_json::json!({"seconds": 1801}))]
pub(super) struct AdvanceIn {
    /// Seconds to move the clock forward (at most 100 years).
    #[schemars(range(min = 0, max = crate::clock::MAX_ADVANCE_SECS))]
    seconds: i64,
}

pub(super) async fn advance_clock(Here { app, w }: Here, call: Call) -> Result<Json<ClockOut>> {
    let AdvanceIn { seconds } = input(&call)?;
    let _serial = w.clock_lock.lock().await;
    w.advance_clock(seconds).await?;
    // Whatever falls due at the new time (verify tickets) happens before the answer, so a
    // caller that advances and then looks sees the consequences.
    issue_due_verify_tickets(&app, &w).await?;
    Ok(Json(ClockOut::of(&w)))
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(example = serde_json::json!({"path": "/cgi-bin/account/fastregister", "inject_errcode": -1, "times": 1, "when": "after"}))]
pub(super) struct FaultIn {
    /// A WeChat-compatible JSON endpoint's path.
    #[schemars(schema_with = "fault_path_schema")]
    path: String,
    /// The errcode the faulted calls answer (not 0); `errcode`, its earlier name, is still
    /// accepted.
    #[serde(rename = "inject_errcode", alias = "errcode")]
    #[schemars(extend("not" = {"const": 0}))]
    errcode: i64,
    /// How many calls it answers (at least 1).
    #[serde(default = "one")]
    #[schemars(range(min = 1))]
    times: u32,
    #[serde(default)]
    when: FaultWhen,
}

pub(super) fn one() -> u32 {
    1
}

/// `path` of a fault: one of the paths `add_fault` accepts.
fn fault_path_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": "string",
        "enum": fastreg_wire::paths::JSON_ENDPOINTS,
    })
}

pub(super) async fn add_fault(Here { w, .. }: Here, call: Call) -> Result<Response> {
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
    w.arm_fault(fault.clone()).await?;
    Ok(created(fault))
}

pub(super) async fn list_faults(Here { w, .. }: Here) -> Json<Vec<Fault>> {
    Json(w.faults.list())
}

pub(super) async fn clear_faults(Here { w, .. }: Here) -> Result<StatusCode> {
    w.faults.clear();
    w.save_faults().await?;
    Ok(StatusCode::NO_CONTENT)
}

pub(super) async fn get_config(Here { w, .. }: Here) -> Json<RuntimeConfig> {
    Json(RuntimeConfig::clone(&w.runtime()))
}

pub(super) async fn patch_config(Here { w, .. }: Here, call: Call) -> Result<Json<RuntimeConfig>> {
    let p: ConfigPatch = input(&call)?;
    let _changing = w.runtime_change.lock().await;
    let rt = p.apply(RuntimeConfig::clone(&w.runtime()))?;
    w.save_config(rt.clone()).await?;
    Ok(Json(rt))
}
