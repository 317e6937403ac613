//! The WeChat-compatible endpoints (spec §4). Handlers are thin: read the token and body off
//! the [`Call`], run one service function in one transaction, shape the answer. fastregister
//! is the one call that is several steps; its handler still makes one call,
//! [`fast_register::register`], which owns them.

use std::sync::Arc;

use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post, MethodRouter};
use fastreg_wire::account::{AccountBasicInfoResponse, FastRegisterRequest, WxampLinkGetResponse};
use fastreg_wire::component::{
    AuthorizerInfoRequest, AuthorizerInfoResponse, AuthorizerListRequest, AuthorizerListResponse,
    AuthorizerTokenRequest, AuthorizerTokenResponse, ComponentTokenRequest, ComponentTokenResponse,
    PreAuthCodeRequest, PreAuthCodeResponse, QueryAuthRequest, QueryAuthResponse,
    StartPushTicketRequest,
};
use fastreg_wire::{paths, ErrCode};

use super::extract::{Call, Here};
use super::reply::{json_bytes, token_ok, wx_ok};
use super::route::{link, schema, Auth, Method, Op, Reply, RequestBody, Route};
use crate::error::{Error, Result};
use crate::metrics::{self, IssuedToken, RegistrationOutcome};
use crate::rules::TicketBody;
use crate::service::fast_register;
use crate::service::wechat::{self as svc, Body};
use crate::state::AppState;

fn post_only(h: MethodRouter<Arc<AppState>>) -> MethodRouter<Arc<AppState>> {
    h.fallback(|| async { Error::wx(ErrCode::RequirePostMethod) })
}

/// The WeChat-compatible JSON endpoints.
pub const ROUTES: &[Route] = &[
    Route {
        path: paths::API_COMPONENT_TOKEN,
        methods: || post_only(post(component_token)),
        ops: &[Op::new(
            Method::Post,
            "api_component_token",
            "A component_access_token, from the component's secret and an unexpired verify ticket",
            Reply::WxToken(schema::<ComponentTokenResponse>),
        )
        .body(RequestBody::Json(schema::<ComponentTokenRequest>))
        .links(&[
            link("pre_auth_code", "api_create_preauthcode")
                .parameters(&[("component_access_token", "$response.body#/component_access_token")])
                .body(&[("component_appid", "$request.body#/component_appid")]),
            link("authorizer_list", "api_get_authorizer_list")
                .parameters(&[("component_access_token", "$response.body#/component_access_token")])
                .body(&[("component_appid", "$request.body#/component_appid")]),
            link("start_push_ticket", "api_start_push_ticket").body(&[
                ("component_appid", "$request.body#/component_appid"),
                ("component_secret", "$request.body#/component_appsecret"),
            ]),
        ])],
    },
    Route {
        path: paths::API_START_PUSH_TICKET,
        methods: || post_only(post(start_push_ticket)),
        ops: &[Op::new(
            Method::Post,
            "api_start_push_ticket",
            "Push a fresh component_verify_ticket to the component's event URL now",
            Reply::WxOk(schema::<Empty>),
        )
        .body(RequestBody::Json(schema::<StartPushTicketRequest>))],
    },
    Route {
        path: paths::API_CREATE_PREAUTHCODE,
        methods: || post_only(post(create_pre_auth_code)),
        ops: &[Op::new(
            Method::Post,
            "api_create_preauthcode",
            "A pre_auth_code for componentloginpage",
            Reply::WxToken(schema::<PreAuthCodeResponse>),
        )
        .auth(Auth::ComponentToken)
        .body(RequestBody::Json(schema::<PreAuthCodeRequest>))
        // Only what the success answers: a WeChat refusal is HTTP 200 too, so the link is
        // followed after one, and a value taken from the request may be anything the caller
        // sent (an empty component_appid), which the page refuses.
        .links(&[link("login_page", "componentloginpage")
            .parameters(&[("pre_auth_code", "$response.body#/pre_auth_code")])])],
    },
    Route {
        path: paths::API_QUERY_AUTH,
        methods: || post_only(post(query_auth)),
        ops: &[Op::new(
            Method::Post,
            "api_query_auth",
            "Exchange an auth_code or fastregister's authorization_code for the authorizer's tokens",
            Reply::WxToken(schema::<QueryAuthResponse>),
        )
        .auth(Auth::ComponentToken)
        .body(RequestBody::Json(schema::<QueryAuthRequest>))
        .links(&[
            link("fastregister", "fastregister").parameters(&[(
                "access_token",
                "$response.body#/authorization_info/authorizer_access_token",
            )]),
            link("linked_mini_programs", "wxamplinkget").parameters(&[(
                "access_token",
                "$response.body#/authorization_info/authorizer_access_token",
            )]),
            link("account_basic_info", "getaccountbasicinfo").parameters(&[(
                "access_token",
                "$response.body#/authorization_info/authorizer_access_token",
            )]),
            link("refresh", "api_authorizer_token")
                .parameters(&[("component_access_token", "$request.query.component_access_token")])
                .body(&[
                    ("component_appid", "$request.body#/component_appid"),
                    ("authorizer_appid", "$response.body#/authorization_info/authorizer_appid"),
                    (
                        "authorizer_refresh_token",
                        "$response.body#/authorization_info/authorizer_refresh_token",
                    ),
                ]),
            link("authorizer_info", "api_get_authorizer_info")
                .parameters(&[("component_access_token", "$request.query.component_access_token")])
                .body(&[
                    ("component_appid", "$request.body#/component_appid"),
                    ("authorizer_appid", "$response.body#/authorization_info/authorizer_appid"),
                ]),
        ])],
    },
    Route {
        path: paths::API_AUTHORIZER_TOKEN,
        methods: || post_only(post(authorizer_token)),
        ops: &[Op::new(
            Method::Post,
            "api_authorizer_token",
            "A new authorizer_access_token from the authorizer_refresh_token",
            Reply::WxToken(schema::<AuthorizerTokenResponse>),
        )
        .auth(Auth::ComponentToken)
        .body(RequestBody::Json(schema::<AuthorizerTokenRequest>))
        .links(&[
            link("fastregister", "fastregister")
                .parameters(&[("access_token", "$response.body#/authorizer_access_token")]),
            link("linked_mini_programs", "wxamplinkget")
                .parameters(&[("access_token", "$response.body#/authorizer_access_token")]),
        ])],
    },
    Route {
        path: paths::API_GET_AUTHORIZER_INFO,
        methods: || post_only(post(authorizer_info)),
        ops: &[Op::new(
            Method::Post,
            "api_get_authorizer_info",
            "An authorizer's account and its authorisation of the component",
            Reply::WxOk(schema::<AuthorizerInfoResponse>),
        )
        .auth(Auth::ComponentToken)
        .body(RequestBody::Json(schema::<AuthorizerInfoRequest>))],
    },
    Route {
        path: paths::API_GET_AUTHORIZER_LIST,
        methods: || post_only(post(authorizer_list)),
        ops: &[Op::new(
            Method::Post,
            "api_get_authorizer_list",
            "A page of the component's authorizers with their refresh tokens (how a lost one is recovered)",
            Reply::WxOk(schema::<AuthorizerListResponse>),
        )
        .auth(Auth::ComponentToken)
        .body(RequestBody::Json(schema::<AuthorizerListRequest>))
        .links(&[link("refresh_first", "api_authorizer_token")
            .parameters(&[("component_access_token", "$request.query.component_access_token")])
            .body(&[
                ("component_appid", "$request.body#/component_appid"),
                ("authorizer_appid", "$response.body#/list/0/authorizer_appid"),
                ("authorizer_refresh_token", "$response.body#/list/0/refresh_token"),
            ])])],
    },
    Route {
        path: paths::FAST_REGISTER,
        methods: || post_only(post(fast_register)),
        ops: &[Op::new(
            Method::Post,
            "fastregister",
            "Register a Mini Program reusing the Official Account's entity (permission set 27), with the fastregisterauth ticket",
            Reply::WxFastRegister,
        )
        .auth(Auth::AccessToken)
        .body(RequestBody::Json(schema::<FastRegisterRequest>))
        .links(&[link("query_auth", "api_query_auth")
            .body(&[("authorization_code", "$response.body#/authorization_code")])])],
    },
    Route {
        path: paths::WXAMP_LINK_GET,
        methods: || post_only(post(linked_mini_programs)),
        ops: &[Op::new(
            Method::Post,
            "wxamplinkget",
            "The Mini Programs linked to the Official Account whose token is given",
            Reply::WxOk(schema::<WxampLinkGetResponse>),
        )
        .auth(Auth::AccessToken)],
    },
    Route {
        path: paths::GET_ACCOUNT_BASIC_INFO,
        methods: || {
            get(account_basic_info)
                .post(account_basic_info)
                .fallback(|| async { Error::wx(ErrCode::RequireGetMethod) })
        },
        ops: &[
            Op::new(
                Method::Get,
                "getaccountbasicinfo",
                "The Mini Program's basic account information (its own token)",
                Reply::WxOk(schema::<AccountBasicInfoResponse>),
            )
            .auth(Auth::AccessToken),
            Op::new(
                Method::Post,
                "getaccountbasicinfo_post",
                "The same, by POST (WeChat accepts both)",
                Reply::WxOk(schema::<AccountBasicInfoResponse>),
            )
            .auth(Auth::AccessToken),
        ],
    },
];

/// An empty object (a success with no fields beyond errcode and errmsg).
#[derive(serde::Serialize, schemars::JsonSchema)]
struct Empty {}

/// Parses a JSON body, logging why it did not parse.
fn parse<T: serde::de::DeserializeOwned>(call: &Call) -> Body<T> {
    call.body.json().map_err(|(code, why)| {
        tracing::info!(errcode = code.code(), why, "body refused");
        code
    })
}

async fn component_token(Here { app, w }: Here, call: Call) -> Result<Response> {
    let req = parse(&call);
    let now = w.clock.now();
    let lifetimes = app.settings.lifetimes.clone();
    let ip = call.client_ip;
    let out = w
        .store
        .write(move |tx| svc::component_token(tx, req, ip, now, &lifetimes))
        .await?;
    metrics::token_issued(
        IssuedToken::ComponentAccessToken,
        paths::API_COMPONENT_TOKEN,
    );
    Ok(token_ok(&out))
}

async fn start_push_ticket(Here { app, w }: Here, call: Call) -> Result<Response> {
    let req = parse(&call);
    let now = w.clock.now();
    let lifetimes = app.settings.lifetimes.clone();
    w.store
        .write(move |tx| svc::start_push_ticket(tx, req, now, &lifetimes))
        .await?;
    app.push_wake.notify_one();
    Ok(wx_ok(&serde_json::json!({})))
}

async fn create_pre_auth_code(Here { app, w }: Here, call: Call) -> Result<Response> {
    let (token, req, now) = (call.component_token(), parse(&call), w.clock.now());
    let (lifetimes, policy) = (app.settings.lifetimes.clone(), w.runtime().rules.clone());
    let out = w
        .store
        .write(move |tx| {
            svc::create_pre_auth_code(tx, token.as_deref(), req, now, &lifetimes, &policy)
        })
        .await?;
    Ok(token_ok(&out))
}

async fn query_auth(Here { app, w }: Here, call: Call) -> Result<Response> {
    let (token, req, now) = (call.component_token(), parse(&call), w.clock.now());
    let (lifetimes, policy) = (app.settings.lifetimes.clone(), w.runtime().rules.clone());
    let out = w
        .store
        .write(move |tx| svc::query_auth(tx, token.as_deref(), req, now, &lifetimes, &policy))
        .await?;
    metrics::token_issued(IssuedToken::AuthorizerAccessToken, paths::API_QUERY_AUTH);
    Ok(token_ok(&out))
}

async fn authorizer_token(Here { app, w }: Here, call: Call) -> Result<Response> {
    let (token, req, now) = (call.component_token(), parse(&call), w.clock.now());
    let (lifetimes, policy) = (app.settings.lifetimes.clone(), w.runtime().rules.clone());
    let ahead = svc::authorizer_token_reads(token.as_deref(), &req);
    let out = w
        .store
        .write_after_checks(ahead, move |tx| {
            svc::authorizer_token(tx, token.as_deref(), req, now, &lifetimes, &policy)
        })
        .await?;
    metrics::token_issued(
        IssuedToken::AuthorizerAccessToken,
        paths::API_AUTHORIZER_TOKEN,
    );
    Ok(token_ok(&out))
}

async fn authorizer_info(Here { w, .. }: Here, call: Call) -> Result<Response> {
    let (token, req, now) = (call.component_token(), parse(&call), w.clock.now());
    let policy = w.runtime().rules.clone();
    let out = w
        .store
        .read(move |tx| svc::authorizer_info(tx, token.as_deref(), req, now, &policy))
        .await?;
    Ok(wx_ok(&out))
}

async fn authorizer_list(Here { w, .. }: Here, call: Call) -> Result<Response> {
    let (token, req, now) = (call.component_token(), parse(&call), w.clock.now());
    let policy = w.runtime().rules.clone();
    let out = w
        .store
        .read(move |tx| svc::authorizer_list(tx, token.as_deref(), req, now, &policy))
        .await?;
    Ok(wx_ok(&out))
}

/// fastregister's body as its rules read it: the rules place a body refusal among their own
/// checks, so the errcode is theirs to choose.
fn parse_ticket(call: &Call) -> TicketBody {
    match call.body.json::<FastRegisterRequest>() {
        Ok(r) => TicketBody::Ticket(r.ticket),
        Err((ErrCode::EmptyPostData, _)) => TicketBody::Empty,
        Err((_, why)) => {
            tracing::info!(why, "fastregister body refused");
            TicketBody::Malformed
        }
    }
}

async fn fast_register(Here { app, w }: Here, call: Call) -> Result<Response> {
    let (token, body) = (call.access_token(), parse_ticket(&call));
    let answer = fast_register::register(app, w, token, body).await;
    metrics::registration(match &answer {
        Ok(done) => done.outcome,
        Err(Error::Wx { .. }) => RegistrationOutcome::Refused,
        Err(Error::Internal(_)) => RegistrationOutcome::Failed,
    });
    let done = answer?;
    let body = fast_register::answer(&done.registration).to_wire_string(done.booleans);
    Ok(json_bytes(StatusCode::OK, body.into_bytes()))
}

async fn linked_mini_programs(Here { w, .. }: Here, call: Call) -> Result<Response> {
    let (token, now, policy) = (
        call.access_token(),
        w.clock.now(),
        w.runtime().rules.clone(),
    );
    let out = w
        .store
        .read(move |tx| svc::linked_mini_programs(tx, token.as_deref(), now, &policy))
        .await?;
    Ok(wx_ok(&out))
}

async fn account_basic_info(Here { w, .. }: Here, call: Call) -> Result<Response> {
    let (token, now, policy) = (
        call.access_token(),
        w.clock.now(),
        w.runtime().rules.clone(),
    );
    let out = w
        .store
        .read(move |tx| svc::account_basic_info(tx, token.as_deref(), now, &policy))
        .await?;
    Ok(wx_ok(&out))
}
