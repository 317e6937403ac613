//! The authorizer option endpoints, on both of WeChat's paths: `api_get_authorizer_option` /
//! `api_set_authorizer_option` (component token) and `get_authorizer_option` /
//! `set_authorizer_option` (the authorizer's token, or the component's). Thin handlers over
//! [`crate::service::options`]; a route table of their own so that the WeChat area lists them.

use std::sync::Arc;

use axum::response::Response;
use axum::routing::{post, MethodRouter};
use fastreg_wire::options::{
    AuthorizerOptionResponse, GetAuthorizerOptionRequest, SetAuthorizerOptionRequest,
};
use fastreg_wire::{paths, ErrCode};

use super::extract::{Call, Here};
use super::reply::wx_ok;
use super::route::{schema, Auth, Method, Op, Reply, RequestBody, Route};
use crate::error::{Error, Result};
use crate::service::options::{self as svc, Form};
use crate::state::{AppState, World};

fn post_only(h: MethodRouter<Arc<AppState>>) -> MethodRouter<Arc<AppState>> {
    h.fallback(|| async { Error::wx(ErrCode::RequirePostMethod) })
}

/// An empty object (a success with no fields beyond errcode and errmsg).
#[derive(serde::Serialize, schemars::JsonSchema)]
struct Empty {}

/// The four option routes.
pub const ROUTES: &[Route] = &[
    Route {
        path: paths::API_GET_AUTHORIZER_OPTION,
        methods: || post_only(post(get_component_form)),
        ops: &[Op::new(
            Method::Post,
            "api_get_authorizer_option",
            "An authorizer's option (location_report, voice_recognize, customer_service)",
            Reply::WxOk(schema::<AuthorizerOptionResponse>),
        )
        .auth(Auth::ComponentToken)
        .body(RequestBody::Json(schema::<GetAuthorizerOptionRequest>))],
    },
    Route {
        path: paths::API_SET_AUTHORIZER_OPTION,
        methods: || post_only(post(set_component_form)),
        ops: &[Op::new(
            Method::Post,
            "api_set_authorizer_option",
            "Set an authorizer's option; option_value as a string or a number",
            Reply::WxOk(schema::<Empty>),
        )
        .auth(Auth::ComponentToken)
        .body(RequestBody::Json(schema::<SetAuthorizerOptionRequest>))],
    },
    Route {
        path: paths::GET_AUTHORIZER_OPTION,
        methods: || post_only(post(get_authorizer_form)),
        ops: &[Op::new(
            Method::Post,
            "get_authorizer_option",
            "As api_get_authorizer_option, with the authorizer's own token (the body's appids are then optional)",
            Reply::WxOk(schema::<AuthorizerOptionResponse>),
        )
        .auth(Auth::AccessToken)
        .body(RequestBody::Json(schema::<GetAuthorizerOptionRequest>))],
    },
    Route {
        path: paths::SET_AUTHORIZER_OPTION,
        methods: || post_only(post(set_authorizer_form)),
        ops: &[Op::new(
            Method::Post,
            "set_authorizer_option",
            "As api_set_authorizer_option, with the authorizer's own token (the body's appids are then optional)",
            Reply::WxOk(schema::<Empty>),
        )
        .auth(Auth::AccessToken)
        .body(RequestBody::Json(schema::<SetAuthorizerOptionRequest>))],
    },
];

async fn get_option(w: Arc<World>, call: Call, form: Form) -> Result<Response> {
    let (token, now) = (call.component_token(), w.clock.now());
    let req = call.body.json().map_err(|(code, why)| {
        tracing::info!(errcode = code.code(), why, "body refused");
        code
    });
    let policy = w.runtime().rules.clone();
    let out = w
        .store
        .read(move |tx| svc::get_option(tx, form, token.as_deref(), req, now, &policy))
        .await?;
    Ok(wx_ok(&out))
}

async fn set_option(w: Arc<World>, call: Call, form: Form) -> Result<Response> {
    let (token, now) = (call.component_token(), w.clock.now());
    let req = call.body.json().map_err(|(code, why)| {
        tracing::info!(errcode = code.code(), why, "body refused");
        code
    });
    let policy = w.runtime().rules.clone();
    w.store
        .write(move |tx| svc::set_option(tx, form, token.as_deref(), req, now, &policy))
        .await?;
    Ok(wx_ok(&serde_json::json!({})))
}

async fn get_component_form(Here { w, .. }: Here, call: Call) -> Result<Response> {
    get_option(w, call, Form::Component).await
}

async fn set_component_form(Here { w, .. }: Here, call: Call) -> Result<Response> {
    set_option(w, call, Form::Component).await
}

async fn get_authorizer_form(Here { w, .. }: Here, call: Call) -> Result<Response> {
    get_option(w, call, Form::Authorizer).await
}

async fn set_authorizer_form(Here { w, .. }: Here, call: Call) -> Result<Response> {
    set_option(w, call, Form::Authorizer).await
}
