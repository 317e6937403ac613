//! The worlds API (platform.md §9): create, list, show and delete worlds at the server's root
//! with the server's admin token; reset and export a world under its own base URL with its
//! admin token (or the server's).

use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Json;
use fastreg_wire::ErrCode;

use super::{created, input, PathParam};
use crate::domain::WORLD_ID_PATTERN;
use crate::error::{Error, Result};
use crate::http::extract::{parse_query, Call, Here};
use crate::http::route::{
    link, optional, required, schema, Auth, Method, Op, Param, ParamSchema, Reply, RequestBody,
    Route,
};
use crate::secrets;
use crate::service::sandbox::SeedWorld;
use crate::service::worlds::{self as svc, WorldIn, WorldOut};

/// `{id}` of `/worlds/{id}`: a world id.
const WORLD_ID: &[Param] = &[
    required("id", "The world's id (`default`: the default world)")
        .schema(ParamSchema::Pattern(WORLD_ID_PATTERN)),
];

/// The worlds API's routes (relative to the sandbox API's prefix).
pub const ROUTES: &[Route] = &[
    Route {
        path: "/worlds",
        methods: || post(create_world).get(list_worlds),
        ops: &[
            Op::new(Method::Post, "create_world", "Create a world: empty, or from a seed document or an export; with its own clock (a start time, frozen or running) and settings. Answers its id, base path and admin token (shown once). Server's admin token, at the root only", Reply::Json(201, schema::<WorldOut>))
                .auth(Auth::Admin)
                .body(RequestBody::OptionalJson(schema::<WorldIn>))
                .links(&[
                    link("world", "get_world").parameters(&[("id", "$response.body#/id")]),
                    link("delete", "delete_world").parameters(&[("id", "$response.body#/id")]),
                ]),
            Op::new(Method::Get, "list_worlds", "Every world, the default one first", Reply::Json(200, schema::<Vec<WorldOut>>))
                .auth(Auth::Admin),
        ],
    },
    Route {
        path: "/worlds/{id}",
        methods: || get(get_world).delete(delete_world),
        ops: &[
            Op::new(Method::Get, "get_world", "A world", Reply::Json(200, schema::<WorldOut>))
                .auth(Auth::Admin)
                .path(WORLD_ID),
            Op::new(Method::Delete, "delete_world", "Delete a world: its credentials stop working at once, its undelivered pushes are dropped, its rows are removed in the background. The default world cannot be deleted", Reply::NoContent)
                .auth(Auth::Admin)
                .path(WORLD_ID),
        ],
    },
    Route {
        path: "/reset",
        methods: || post(reset_world),
        ops: &[Op::new(Method::Post, "reset_world", "Put this world back to the state right after its creation: its seed, its start time, its settings, no faults (the default world: the server's seed)", Reply::Json(200, schema::<WorldOut>))
            .auth(Auth::Admin)],
    },
    Route {
        path: "/export",
        methods: || get(export_world),
        ops: &[Op::new(Method::Get, "export_world", "This world as a seed document: its objects, clock, settings, Mini Programs and successful registrations (no credentials). `POST /sandbox/v1/worlds {\"seed\": …}` creates a world that refuses exactly what this one refuses", Reply::JsonOrToml(schema::<SeedWorld>))
            .auth(Auth::Admin)
            .query(&[optional("format", "`json` (the default) or `toml`").schema(ParamSchema::OneOf(&["json", "toml"]))])],
    },
];

/// Worlds are made and removed at the server's root, with the server's token: a world's own
/// token reaches that world only.
fn at_root_with_server_token(here: &Here, headers: &HeaderMap) -> Result<()> {
    if !here.w.is_default() {
        return Err(Error::sandbox(
            404,
            ErrCode::InvalidUrl,
            "worlds are managed at the server's root: /sandbox/v1/worlds",
        ));
    }
    let presented = super::bearer(headers).unwrap_or_default();
    if !secrets::ct_eq(presented, &here.app.admin_token) {
        return Err(Error::sandbox(
            403,
            ErrCode::ApiUnauthorized,
            "worlds are managed with the server's admin token",
        ));
    }
    Ok(())
}

async fn create_world(here: Here, headers: HeaderMap, call: Call) -> Result<Response> {
    at_root_with_server_token(&here, &headers)?;
    let body: WorldIn = if call.body.is_empty() {
        WorldIn::default()
    } else {
        input(&call)?
    };
    let (world, token) = svc::create(&here.app, body).await?;
    let mut out = WorldOut::of(&world);
    out.admin_token = Some(token);
    Ok(created(out))
}

async fn list_worlds(here: Here, headers: HeaderMap) -> Result<Json<Vec<WorldOut>>> {
    at_root_with_server_token(&here, &headers)?;
    Ok(Json(
        here.app
            .worlds
            .all()
            .iter()
            .map(|w| WorldOut::of(w))
            .collect(),
    ))
}

async fn get_world(
    here: Here,
    headers: HeaderMap,
    PathParam(id): PathParam,
) -> Result<Json<WorldOut>> {
    at_root_with_server_token(&here, &headers)?;
    let app = &here.app;
    let world = app
        .worlds
        .resolve(&id, &app.store, &app.settings)
        .await?
        .ok_or_else(|| Error::sandbox(404, ErrCode::InvalidCredential, "no such world"))?;
    Ok(Json(WorldOut::of(&world)))
}

async fn delete_world(
    here: Here,
    headers: HeaderMap,
    PathParam(id): PathParam,
) -> Result<StatusCode> {
    at_root_with_server_token(&here, &headers)?;
    svc::delete(&here.app, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn reset_world(Here { app, w }: Here) -> Result<Json<WorldOut>> {
    let seed = if w.is_default() {
        svc::server_seed(&app.settings)?
    } else {
        SeedWorld::default()
    };
    svc::reset(&app, &w, seed).await?;
    Ok(Json(WorldOut::of(&w)))
}

async fn export_world(Here { w, .. }: Here, call: Call) -> Result<Response> {
    let format = parse_query(Some(call.raw_query()))
        .remove("format")
        .unwrap_or_else(|| "json".into());
    let seed = svc::export(&w).await?;
    match format.as_str() {
        "json" => Ok(Json(seed).into_response()),
        "toml" => {
            let text = toml::to_string(&seed).map_err(|e| Error::Internal(e.into()))?;
            let mut resp = text.into_response();
            resp.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/toml; charset=utf-8"),
            );
            Ok(resp)
        }
        _ => Err(Error::sandbox(
            400,
            ErrCode::DataFormatError,
            "format is json or toml",
        )),
    }
}
