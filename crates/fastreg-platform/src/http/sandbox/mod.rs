//! The sandbox control API (spec §8), under `/sandbox/v1`, behind the admin bearer token.
//! Successes are plain JSON objects with real HTTP statuses; failures use the errcode shape,
//! with the reason spelled out in `errmsg` (this API is ours, not WeChat's, so it may say more).
//!
//! Here: the route table, the admin check, and the handlers that build the world (components,
//! entities, Official Accounts); `control.rs` holds the rest.

use std::sync::Arc;

use axum::extract::{FromRequestParts, Path, Request};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use fastreg_wire::ErrCode;
use serde::Serialize;

use super::extract::{Call, Here};
use super::route::{
    self, link, optional, required, schema, Auth, Method, Op, Param, ParamSchema, Reply,
    RequestBody, Route,
};
use crate::domain::*;
use crate::error::{Error, Result};
use crate::secrets;
use crate::service::sandbox::{self as svc, *};
use crate::settings::RuntimeConfig;
use crate::state::{AppState, Fault};

mod control;
mod worlds;

use control::{
    add_fault, advance_clock, authorize, clear_faults, clock, confirm, get_config,
    list_authorizations, list_faults, patch_config, pushes, registrations, revoke, AdvanceIn,
    AuthorizationListed, AuthorizationOut, ClockOut, FaultIn, RegistrationOut,
};

/// Where the sandbox API is nested.
pub const PREFIX: &str = "/sandbox/v1";

const LIMIT: Param =
    optional("limit", "At most this many, newest first").schema(ParamSchema::Integer {
        min: 1,
        max: control::LIMIT_MAX as i64,
        default: Some(control::LIMIT_DEFAULT as i64),
    });

/// `{id}` of `/entities/{id}`: an entity's id, a positive integer.
const ENTITY_ID: &[Param] = &[
    required("id", "The entity's id").schema(ParamSchema::Integer {
        min: 1,
        max: i64::MAX,
        default: None,
    }),
];

/// The sandbox API's routes (relative to [`PREFIX`]).
pub const ROUTES: &[Route] = &[
    Route {
        path: "/components",
        methods: || post(create_component).get(list_components),
        ops: &[
            Op::new(Method::Post, "create_component", "Create a component; generated fields (appid, secret, token, key) are filled in", Reply::Json(201, schema::<Component>))
                .auth(Auth::Admin)
                .body(RequestBody::Json(schema::<ComponentIn>))
                .links(&[
                    link("verify_ticket", "get_verify_ticket").parameters(&[("appid", "$response.body#/appid")]),
                    link("component", "get_component").parameters(&[("appid", "$response.body#/appid")]),
                    link("change", "patch_component").parameters(&[("appid", "$response.body#/appid")]),
                    link("token_counts", "get_token_counts").parameters(&[("appid", "$response.body#/appid")]),
                    link("authorize", "authorize").body(&[("component_appid", "$response.body#/appid")]),
                ]),
            Op::new(Method::Get, "list_components", "Every component", Reply::Json(200, schema::<Vec<Component>>))
                .auth(Auth::Admin),
        ],
    },
    Route {
        path: "/components/{appid}",
        methods: || get(get_component).patch(patch_component),
        ops: &[
            Op::new(Method::Get, "get_component", "A component, secret included", Reply::Json(200, schema::<Component>))
                .auth(Auth::Admin),
            Op::new(Method::Patch, "patch_component", "Change the fields given", Reply::Json(200, schema::<Component>))
                .auth(Auth::Admin)
                .body(RequestBody::Json(schema::<ComponentPatch>)),
        ],
    },
    Route {
        path: "/components/{appid}/verify-ticket",
        methods: || get(verify_ticket),
        ops: &[Op::new(Method::Get, "get_verify_ticket", "The component's latest component_verify_ticket (for callers without a reachable event URL), with the component's appid and secret: api_component_token's body", Reply::Json(200, schema::<VerifyTicketOut>))
            .auth(Auth::Admin)
            .links(&[link("component_token", "api_component_token").body(&[
                ("component_appid", "$response.body#/component_appid"),
                ("component_appsecret", "$response.body#/component_appsecret"),
                ("component_verify_ticket", "$response.body#/component_verify_ticket"),
            ])])],
    },
    Route {
        path: "/components/{appid}/token-counts",
        methods: || get(token_counts),
        ops: &[Op::new(Method::Get, "get_token_counts", "How many access tokens the component was issued (proves a client refreshed once)", Reply::Json(200, schema::<TokenCounts>))
            .auth(Auth::Admin)],
    },
    Route {
        path: "/entities",
        methods: || post(create_entity).get(list_entities),
        ops: &[
            Op::new(Method::Post, "create_entity", "Create a legal entity", Reply::Json(201, schema::<Entity>))
                .auth(Auth::Admin)
                .body(RequestBody::Json(schema::<EntityIn>))
                .links(&[
                    link("entity", "get_entity").parameters(&[("id", "$response.body#/id")]),
                    link("change", "patch_entity").parameters(&[("id", "$response.body#/id")]),
                    link("official_account", "create_official_account").body(&[("entity_id", "$response.body#/id")]),
                ]),
            Op::new(Method::Get, "list_entities", "Every entity", Reply::Json(200, schema::<Vec<Entity>>))
                .auth(Auth::Admin),
        ],
    },
    Route {
        path: "/entities/{id}",
        methods: || get(get_entity).patch(patch_entity),
        ops: &[
            Op::new(Method::Get, "get_entity", "An entity", Reply::Json(200, schema::<Entity>))
                .auth(Auth::Admin)
                .path(ENTITY_ID),
            Op::new(Method::Patch, "patch_entity", "Change the fields given", Reply::Json(200, schema::<Entity>))
                .auth(Auth::Admin)
                .path(ENTITY_ID)
                .body(RequestBody::Json(schema::<EntityPatch>)),
        ],
    },
    Route {
        path: "/official-accounts",
        methods: || post(create_oa).get(list_oas),
        ops: &[
            Op::new(Method::Post, "create_official_account", "Create an Official Account", Reply::Json(201, schema::<OfficialAccount>))
                .auth(Auth::Admin)
                .body(RequestBody::Json(schema::<OfficialAccountIn>))
                .links(&[
                    link("official_account", "get_official_account").parameters(&[("appid", "$response.body#/appid")]),
                    link("change", "patch_official_account").parameters(&[("appid", "$response.body#/appid")]),
                    link("authorize", "authorize").body(&[("authorizer_appid", "$response.body#/appid")]),
                ]),
            Op::new(Method::Get, "list_official_accounts", "Every Official Account", Reply::Json(200, schema::<Vec<OfficialAccount>>))
                .auth(Auth::Admin),
        ],
    },
    Route {
        path: "/official-accounts/{appid}",
        methods: || get(get_oa).patch(patch_oa),
        ops: &[
            Op::new(Method::Get, "get_official_account", "An Official Account", Reply::Json(200, schema::<OfficialAccount>))
                .auth(Auth::Admin),
            Op::new(Method::Patch, "patch_official_account", "Change the fields given", Reply::Json(200, schema::<OfficialAccount>))
                .auth(Auth::Admin)
                .body(RequestBody::Json(schema::<OfficialAccountPatch>)),
        ],
    },
    Route {
        path: "/authorizations",
        methods: || post(authorize).get(list_authorizations),
        ops: &[
            Op::new(Method::Post, "authorize", "What confirming on componentloginpage does: grant sets, issue an auth_code, push authorized/updateauthorized", Reply::Json(201, schema::<AuthorizationOut>))
                .auth(Auth::Admin)
                .body(RequestBody::Json(schema::<AuthorizationIn>))
                .links(&[
                    link("query_auth", "api_query_auth").body(&[
                        ("component_appid", "$request.body#/component_appid"),
                        ("authorization_code", "$response.body#/auth_code"),
                    ]),
                    link("confirm_fast_registration", "confirm_fast_registration").body(&[
                        ("component_appid", "$request.body#/component_appid"),
                        ("appid", "$request.body#/authorizer_appid"),
                    ]),
                ]),
            Op::new(Method::Get, "list_authorizations", "Every authorisation (without refresh tokens)", Reply::Json(200, schema::<Vec<AuthorizationListed>>))
                .auth(Auth::Admin),
        ],
    },
    Route {
        path: "/authorizations/revoke",
        methods: || post(revoke),
        ops: &[Op::new(Method::Post, "revoke_authorization", "The account revokes its authorisation: tokens and codes stop working, unauthorized is pushed", Reply::Json(200, schema::<AuthorizationListed>))
            .auth(Auth::Admin)
            .body(RequestBody::Json(schema::<RevocationIn>))],
    },
    Route {
        path: "/pushes",
        methods: || get(pushes),
        ops: &[Op::new(Method::Get, "list_pushes", "The push delivery log: InfoType, attempts, last status", Reply::Json(200, schema::<Vec<Push>>))
            .auth(Auth::Admin)
            .query(&[optional("component_appid", "Only this component's pushes"), LIMIT])],
    },
    Route {
        path: "/fastregister-confirmations",
        methods: || post(confirm),
        ops: &[Op::new(Method::Post, "confirm_fast_registration", "What confirming on fastregisterauth does: a ticket and the redirect URL, with the page's refusals", Reply::Json(201, schema::<ConfirmationOut>))
            .auth(Auth::Admin)
            .body(RequestBody::Json(schema::<ConfirmationIn>))
            .links(&[
                link("fastregister", "fastregister").body(&[("ticket", "$response.body#/ticket")]),
                link("registrations", "list_registrations").parameters(&[("appid", "$request.body#/appid")]),
            ])],
    },
    Route {
        path: "/registrations",
        methods: || get(registrations),
        ops: &[Op::new(Method::Get, "list_registrations", "Fast registrations, newest first", Reply::Json(200, schema::<Vec<RegistrationOut>>))
            .auth(Auth::Admin)
            .query(&[optional("appid", "Only this Official Account's registrations"), LIMIT])],
    },
    Route {
        path: "/clock",
        methods: || get(clock),
        ops: &[Op::new(Method::Get, "get_clock", "The sandbox clock (unix seconds) and its offset from the system clock", Reply::Json(200, schema::<ClockOut>))
            .auth(Auth::Admin)],
    },
    Route {
        path: "/clock/advance",
        methods: || post(advance_clock),
        ops: &[Op::new(Method::Post, "advance_clock", "Move the sandbox clock; expiries, verify tickets and quota months follow it", Reply::Json(200, schema::<ClockOut>))
            .auth(Auth::Admin)
            .body(RequestBody::Json(schema::<AdvanceIn>))],
    },
    Route {
        path: "/faults",
        methods: || post(add_fault).get(list_faults).delete(clear_faults),
        ops: &[
            Op::new(Method::Post, "add_fault", "The next `times` calls to a WeChat-compatible path answer this errcode (before the call, or after it committed)", Reply::Json(201, schema::<Fault>))
                .auth(Auth::Admin)
                .body(RequestBody::Json(schema::<FaultIn>)),
            Op::new(Method::Get, "list_faults", "Faults still armed", Reply::Json(200, schema::<Vec<Fault>>))
                .auth(Auth::Admin),
            Op::new(Method::Delete, "clear_faults", "Disarm every fault", Reply::NoContent)
                .auth(Auth::Admin),
        ],
    },
    Route {
        path: "/config",
        methods: || get(get_config).patch(patch_config),
        ops: &[
            Op::new(Method::Get, "get_config", "The settings changeable at run time", Reply::Json(200, schema::<RuntimeConfig>))
                .auth(Auth::Admin),
            Op::new(Method::Patch, "patch_config", "Change rules (only the keys given), the processing delay or the boolean style", Reply::Json(200, schema::<RuntimeConfig>))
                .auth(Auth::Admin)
                .body(RequestBody::Json(schema::<ConfigPatch>)),
        ],
    },
];

/// The worlds API's routes (relative to [`PREFIX`]).
pub const WORLD_ROUTES: &[Route] = worlds::ROUTES;

/// What the sandbox API answers a path it does not serve (behind the admin token).
async fn no_such_api() -> Error {
    Error::sandbox(404, ErrCode::InvalidUrl, "no such sandbox API")
}

/// Every route table of the sandbox API (relative to [`PREFIX`]).
pub const TABLES: [&[Route]; 2] = [ROUTES, WORLD_ROUTES];

/// Routes of the sandbox API (to be nested under [`PREFIX`]).
pub fn router(state: Arc<AppState>) -> Router<Arc<AppState>> {
    TABLES
        .iter()
        .fold(Router::new(), |router, table| {
            router.merge(route::build(table))
        })
        .fallback(no_such_api)
        .method_not_allowed_fallback(|| async {
            Error::sandbox(
                405,
                ErrCode::InvalidUrl,
                "this path does not take that method",
            )
        })
        .layer(axum::middleware::from_fn_with_state(state, require_admin))
}

/// [`PREFIX`] with a trailing slash, which nesting leaves out: an unknown sandbox path,
/// behind the admin token like the others.
pub fn trailing_slash(state: Arc<AppState>) -> axum::routing::MethodRouter<Arc<AppState>> {
    axum::routing::any(no_such_api)
        .layer(axum::middleware::from_fn_with_state(state, require_admin))
}

/// The token of an `Authorization: Bearer <token>` header (`bearer ` too), trimmed.
fn bearer(headers: &axum::http::HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim)
}

/// Refuses any call without `Authorization: Bearer <admin token>`: the server's, or (under
/// `/w/{id}`) that world's own (compared in constant time).
async fn require_admin(Here { app, w }: Here, req: Request, next: Next) -> Response {
    match bearer(req.headers()) {
        None => Error::sandbox(
            401,
            ErrCode::AccessTokenMissing,
            "send Authorization: Bearer <admin token>",
        )
        .into_response(),
        Some(t) if !secrets::ct_eq(t, &app.admin_token) && !w.admits(t) => {
            Error::sandbox(401, ErrCode::InvalidCredential, "wrong admin token").into_response()
        }
        Some(_) => next.run(req).await,
    }
}

/// The `{appid}` or `{id}` of a path. axum's `Path` refuses a malformed one (broken
/// percent-encoding, invalid UTF-8) with a plain-text 400; this refuses it in the errcode shape.
struct PathParam(String);

impl<S: Send + Sync> FromRequestParts<S> for PathParam {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self> {
        // Under `/w/{world}` the path has the world too: the parameter is the other one.
        let Path(params) =
            Path::<std::collections::HashMap<String, String>>::from_request_parts(parts, state)
                .await
                // axum's text quotes the parameter: name the rule instead.
                .map_err(|_| {
                    Error::sandbox(
                        400,
                        ErrCode::DataFormatError,
                        "a path parameter must be percent-encoded UTF-8",
                    )
                })?;
        params
            .into_iter()
            .find(|(name, _)| name != "world")
            .map(|(_, value)| PathParam(value))
            .ok_or_else(|| {
                Error::sandbox(400, ErrCode::DataFormatError, "a path parameter is missing")
            })
    }
}

pub(super) fn input<T: serde::de::DeserializeOwned>(call: &Call) -> Result<T> {
    call.body
        .json()
        .map_err(|(code, why)| Error::sandbox(400, code, why))
}

pub(super) fn created<T: Serialize>(v: T) -> Response {
    (StatusCode::CREATED, Json(v)).into_response()
}

async fn create_component(Here { app, w }: Here, call: Call) -> Result<Response> {
    let input: ComponentIn = input(&call)?;
    let (now, lifetimes) = (w.clock.now(), app.settings.lifetimes.clone());
    let c = w
        .store
        .write(move |tx| svc::create_component(tx, input, now, &lifetimes))
        .await?;
    // Its tickets fall due on the world's schedule from now on: look it up again.
    w.set_ticket_due(i64::MIN);
    app.push_wake.notify_one();
    Ok(created(c))
}

async fn list_components(Here { w, .. }: Here) -> Result<Json<Vec<Component>>> {
    Ok(Json(w.store.read(|tx| tx.components()).await?))
}

async fn get_component(
    Here { w, .. }: Here,
    PathParam(appid): PathParam,
) -> Result<Json<Component>> {
    Ok(Json(
        w.store.read(move |tx| svc::component(tx, &appid)).await?,
    ))
}

async fn patch_component(
    Here { w, .. }: Here,
    PathParam(appid): PathParam,
    call: Call,
) -> Result<Json<Component>> {
    let patch: ComponentPatch = input(&call)?;
    Ok(Json(
        w.store
            .write(move |tx| svc::patch_component(tx, &appid, patch))
            .await?,
    ))
}

/// A component's latest verify ticket, with what else api_component_token's body needs: the
/// three fields are that body, ready to send.
#[derive(Serialize, schemars::JsonSchema)]
struct VerifyTicketOut {
    /// The component's appid.
    component_appid: String,
    /// The component's secret.
    component_appsecret: String,
    /// Its latest component_verify_ticket.
    component_verify_ticket: String,
    /// When the ticket was issued.
    create_time: UnixTime,
    /// When it stops being accepted.
    expires_at: UnixTime,
}

async fn verify_ticket(
    Here { w, .. }: Here,
    PathParam(appid): PathParam,
) -> Result<Json<VerifyTicketOut>> {
    let (c, t) = w
        .store
        .read(move |tx| {
            Ok((
                svc::component(tx, &appid)?,
                svc::latest_verify_ticket(tx, &appid)?,
            ))
        })
        .await?;
    Ok(Json(VerifyTicketOut {
        component_appid: c.appid,
        component_appsecret: c.appsecret,
        component_verify_ticket: t.ticket,
        create_time: t.create_time,
        expires_at: t.expires_at,
    }))
}

#[derive(Serialize, schemars::JsonSchema)]
struct TokenCounts {
    component_access_tokens: i64,
    authorizer_access_tokens: i64,
}

/// How many access tokens the platform issued to a component: how a test proves that a
/// client refreshed once, not once per caller.
async fn token_counts(
    Here { w, .. }: Here,
    PathParam(appid): PathParam,
) -> Result<Json<TokenCounts>> {
    let out = w
        .store
        .read(move |tx| {
            svc::component(tx, &appid)?;
            Ok(TokenCounts {
                component_access_tokens: tx.count_tokens(TokenKind::Component, &appid)?,
                authorizer_access_tokens: tx.count_tokens(
                    TokenKind::Authorizer(AuthorizerKind::OfficialAccount),
                    &appid,
                )? + tx
                    .count_tokens(TokenKind::Authorizer(AuthorizerKind::MiniProgram), &appid)?,
            })
        })
        .await?;
    Ok(Json(out))
}

fn entity_id(raw: &str) -> Result<i64> {
    crate::input::integer(raw).ok_or_else(|| {
        Error::sandbox(
            400,
            ErrCode::DataFormatError,
            "entity id must be an integer",
        )
    })
}

async fn create_entity(Here { w, .. }: Here, call: Call) -> Result<Response> {
    let input: EntityIn = input(&call)?;
    let e = w
        .store
        .write(move |tx| svc::create_entity(tx, input))
        .await?;
    Ok(created(e))
}

async fn list_entities(Here { w, .. }: Here) -> Result<Json<Vec<Entity>>> {
    Ok(Json(w.store.read(|tx| tx.entities()).await?))
}

async fn get_entity(Here { w, .. }: Here, PathParam(id): PathParam) -> Result<Json<Entity>> {
    let id = entity_id(&id)?;
    Ok(Json(w.store.read(move |tx| svc::entity(tx, id)).await?))
}

async fn patch_entity(
    Here { w, .. }: Here,
    PathParam(id): PathParam,
    call: Call,
) -> Result<Json<Entity>> {
    let id = entity_id(&id)?;
    let patch: EntityPatch = input(&call)?;
    Ok(Json(
        w.store
            .write(move |tx| svc::patch_entity(tx, id, patch))
            .await?,
    ))
}

async fn create_oa(Here { w, .. }: Here, call: Call) -> Result<Response> {
    let input: OfficialAccountIn = input(&call)?;
    let now = w.clock.now();
    let oa = w
        .store
        .write(move |tx| svc::create_official_account(tx, input, now))
        .await?;
    Ok(created(oa))
}

async fn list_oas(Here { w, .. }: Here) -> Result<Json<Vec<OfficialAccount>>> {
    Ok(Json(w.store.read(|tx| tx.official_accounts()).await?))
}

async fn get_oa(
    Here { w, .. }: Here,
    PathParam(appid): PathParam,
) -> Result<Json<OfficialAccount>> {
    Ok(Json(
        w.store
            .read(move |tx| svc::official_account(tx, &appid))
            .await?,
    ))
}

async fn patch_oa(
    Here { w, .. }: Here,
    PathParam(appid): PathParam,
    call: Call,
) -> Result<Json<OfficialAccount>> {
    let patch: OfficialAccountPatch = input(&call)?;
    Ok(Json(
        w.store
            .write(move |tx| svc::patch_official_account(tx, &appid, patch))
            .await?,
    ))
}
