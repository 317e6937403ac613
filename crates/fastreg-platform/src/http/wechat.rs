//! The WeChat-compatible endpoints (spec §4). Handlers are thin: read the token and body off
//! the [`WxCall`], run one service function in one transaction, shape the answer.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post, MethodRouter};
use axum::Router;
use fastreg_wire::account::FastRegisterRequest;
use fastreg_wire::{paths, ErrCode};

use super::{json_bytes, token_ok, wx_ok, AppState, WxCall};
use crate::error::{Error, Result};
use crate::rules::{Decision, TicketBody};
use crate::service::wechat::{self as svc, Body, FastRegisterStep};

/// Routes of the WeChat-compatible JSON endpoints.
pub fn router(state: Arc<AppState>) -> Router<Arc<AppState>> {
    fn post_only(h: MethodRouter<Arc<AppState>>) -> MethodRouter<Arc<AppState>> {
        h.fallback(|| async { Error::wx(ErrCode::RequirePostMethod) })
    }
    Router::new()
        .route(paths::API_COMPONENT_TOKEN, post_only(post(component_token)))
        .route(
            paths::API_START_PUSH_TICKET,
            post_only(post(start_push_ticket)),
        )
        .route(
            paths::API_CREATE_PREAUTHCODE,
            post_only(post(create_pre_auth_code)),
        )
        .route(paths::API_QUERY_AUTH, post_only(post(query_auth)))
        .route(
            paths::API_AUTHORIZER_TOKEN,
            post_only(post(authorizer_token)),
        )
        .route(
            paths::API_GET_AUTHORIZER_INFO,
            post_only(post(authorizer_info)),
        )
        .route(
            paths::API_GET_AUTHORIZER_LIST,
            post_only(post(authorizer_list)),
        )
        .route(paths::FAST_REGISTER, post_only(post(fast_register)))
        .route(paths::WXAMP_LINK_GET, post_only(post(linked_mini_programs)))
        .route(
            paths::GET_ACCOUNT_BASIC_INFO,
            get(account_basic_info)
                .post(account_basic_info)
                .fallback(|| async { Error::wx(ErrCode::RequireGetMethod) }),
        )
        .layer(axum::middleware::from_fn_with_state(state, super::faults))
}

/// Parses a JSON body, logging why it did not parse.
fn parse<T: serde::de::DeserializeOwned>(call: &WxCall) -> Body<T> {
    call.body.json().map_err(|(code, why)| {
        tracing::info!(errcode = code.code(), why, "body refused");
        code
    })
}

async fn component_token(State(app): State<Arc<AppState>>, call: WxCall) -> Result<Response> {
    let req = parse(&call);
    let now = app.clock.now();
    let lifetimes = app.settings.lifetimes.clone();
    let ip = call.client_ip;
    let out = app
        .store
        .write(move |tx| svc::component_token(tx, req, ip, now, &lifetimes))
        .await?;
    Ok(token_ok(&out))
}

async fn start_push_ticket(State(app): State<Arc<AppState>>, call: WxCall) -> Result<Response> {
    let req = parse(&call);
    let now = app.clock.now();
    let lifetimes = app.settings.lifetimes.clone();
    app.store
        .write(move |tx| svc::start_push_ticket(tx, req, now, &lifetimes))
        .await?;
    app.push_wake.notify_one();
    Ok(wx_ok(&serde_json::json!({})))
}

async fn create_pre_auth_code(State(app): State<Arc<AppState>>, call: WxCall) -> Result<Response> {
    let (token, req, now) = (call.component_token(), parse(&call), app.clock.now());
    let (lifetimes, policy) = (app.settings.lifetimes.clone(), app.runtime().rules);
    let out = app
        .store
        .write(move |tx| {
            svc::create_pre_auth_code(tx, token.as_deref(), req, now, &lifetimes, &policy)
        })
        .await?;
    Ok(token_ok(&out))
}

async fn query_auth(State(app): State<Arc<AppState>>, call: WxCall) -> Result<Response> {
    let (token, req, now) = (call.component_token(), parse(&call), app.clock.now());
    let (lifetimes, policy) = (app.settings.lifetimes.clone(), app.runtime().rules);
    let out = app
        .store
        .write(move |tx| svc::query_auth(tx, token.as_deref(), req, now, &lifetimes, &policy))
        .await?;
    Ok(token_ok(&out))
}

async fn authorizer_token(State(app): State<Arc<AppState>>, call: WxCall) -> Result<Response> {
    let (token, req, now) = (call.component_token(), parse(&call), app.clock.now());
    let (lifetimes, policy) = (app.settings.lifetimes.clone(), app.runtime().rules);
    let out = app
        .store
        .write(move |tx| svc::authorizer_token(tx, token.as_deref(), req, now, &lifetimes, &policy))
        .await?;
    Ok(token_ok(&out))
}

async fn authorizer_info(State(app): State<Arc<AppState>>, call: WxCall) -> Result<Response> {
    let (token, req, now) = (call.component_token(), parse(&call), app.clock.now());
    let policy = app.runtime().rules;
    let out = app
        .store
        .read(move |tx| svc::authorizer_info(tx, token.as_deref(), req, now, &policy))
        .await?;
    Ok(wx_ok(&out))
}

async fn authorizer_list(State(app): State<Arc<AppState>>, call: WxCall) -> Result<Response> {
    let (token, req, now) = (call.component_token(), parse(&call), app.clock.now());
    let policy = app.runtime().rules;
    let out = app
        .store
        .read(move |tx| svc::authorizer_list(tx, token.as_deref(), req, now, &policy))
        .await?;
    Ok(wx_ok(&out))
}

async fn fast_register(State(app): State<Arc<AppState>>, call: WxCall) -> Result<Response> {
    let token = call.access_token();
    let body = match call.body.json::<FastRegisterRequest>() {
        Ok(r) => TicketBody::Ticket(r.ticket),
        Err((ErrCode::EmptyPostData, _)) => TicketBody::Empty,
        Err((_, why)) => {
            tracing::info!(why, "fastregister body refused");
            TicketBody::Malformed
        }
    };
    let runtime = app.runtime();
    let lifetimes = app.settings.lifetimes.clone();
    let delay = runtime.processing_delay_ms;
    let policy = runtime.rules.clone();
    let now = app.clock.now();
    // Most refused calls are decided by a read, on the reader pool, in parallel; only a
    // go-ahead queues for the single writer (which checks again before committing).
    let (t1, b1, p1) = (token.clone(), body.clone(), policy.clone());
    let early = app
        .store
        .read(move |tx| svc::fast_register_precheck(tx, t1.as_deref(), b1, now, &p1))
        .await?;
    let early_step = match early {
        Decision::Refuse(code) => return Err(Error::wx(code)),
        Decision::Replay(reg) => Some(FastRegisterStep::Replay(reg)),
        Decision::Proceed(_) => None,
    };
    let (l2, p2) = (lifetimes.clone(), policy.clone());
    let step = match early_step {
        Some(step) => step,
        None => {
            app.store
                .write(move |tx| {
                    svc::fast_register_begin(tx, token.as_deref(), body, now, &p2, &l2, delay == 0)
                })
                .await?
        }
    };
    let reg = match step {
        FastRegisterStep::Done(reg) => reg,
        FastRegisterStep::Replay(reg) => {
            tracing::info!(
                mp_appid = reg.mp_appid.as_deref(),
                "replayed a spent ticket's success"
            );
            reg
        }
        FastRegisterStep::Claimed(id) => {
            // Completion runs in its own task: a caller that gives up waiting must not leave the
            // registration half done; it completes, and the caller can reconcile.
            let app2 = app.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(delay)).await;
                let now = app2.clock.now();
                let done = app2
                    .store
                    .write(move |tx| svc::fast_register_complete(tx, id, now, &policy, &lifetimes))
                    .await;
                if done.is_err() {
                    // Never answered as a success: release the OA and the ticket rather than
                    // leave the OA refusing with 61057 until a restart.
                    let released = app2
                        .store
                        .write(move |tx| svc::fast_register_abandon(tx, id))
                        .await;
                    if let Err(e) = released {
                        tracing::error!(error = %e, id, "could not abandon a failed registration");
                    }
                }
                done
            })
            .await
            .map_err(|e| Error::Internal(anyhow::anyhow!("registration task failed: {e}")))??
        }
    };
    tracing::info!(
        mp_appid = reg.mp_appid.as_deref(),
        oa = reg.oa_appid,
        "fast registration answered"
    );
    let body = svc::fast_register_answer(&reg).to_wire_string(runtime.booleans);
    Ok(json_bytes(StatusCode::OK, body.into_bytes()))
}

async fn linked_mini_programs(State(app): State<Arc<AppState>>, call: WxCall) -> Result<Response> {
    let (token, now, policy) = (call.access_token(), app.clock.now(), app.runtime().rules);
    let out = app
        .store
        .read(move |tx| svc::linked_mini_programs(tx, token.as_deref(), now, &policy))
        .await?;
    Ok(wx_ok(&out))
}

async fn account_basic_info(State(app): State<Arc<AppState>>, call: WxCall) -> Result<Response> {
    let (token, now, policy) = (call.access_token(), app.clock.now(), app.runtime().rules);
    let out = app
        .store
        .read(move |tx| svc::account_basic_info(tx, token.as_deref(), now, &policy))
        .await?;
    Ok(wx_ok(&out))
}
