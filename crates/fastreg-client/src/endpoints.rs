//! Every WeChat endpoint the client calls, raw: one function per endpoint that builds the body,
//! sends it once through `Client::send` with the token it is handed, and decodes the answer.
//! Nothing here caches, refreshes or repeats: the token manager (`tokens.rs`) and the managed
//! calls (`api.rs`) add that on top, and fastregister (`register/`) sends its call exactly once.
//!
//! Two of them are public as they were: [`Client::api_component_token`] and
//! [`Client::start_push_ticket`], which need no access token.

use fastreg_wire::account::*;
use fastreg_wire::component::*;
use fastreg_wire::paths;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::client::{Client, Method};
use crate::error::Result;

/// How a call carries its access token.
#[derive(Debug, Clone, Copy)]
pub(crate) enum TokenParam {
    /// `component_access_token=` (component endpoints).
    Component,
    /// `access_token=` (an authorizer's endpoints).
    Authorizer,
}

impl TokenParam {
    fn name(self) -> &'static str {
        match self {
            TokenParam::Component => "component_access_token",
            TokenParam::Authorizer => "access_token",
        }
    }
}

/// One call with the client's ordinary timeout.
async fn call<B: Serialize + ?Sized, T: DeserializeOwned>(
    c: &Client,
    method: Method,
    path: &str,
    token: Option<(TokenParam, &str)>,
    body: Option<&B>,
) -> Result<T> {
    let query: Vec<(&str, &str)> = token.map(|(p, t)| (p.name(), t)).into_iter().collect();
    c.send(method, path, &query, body, c.inner.timeout).await
}

fn component_appid(c: &Client) -> String {
    c.inner.component_appid.clone()
}

/// `api_component_token`: the secret and a verify ticket for a new component token.
pub(crate) async fn component_token(
    c: &Client,
    verify_ticket: &str,
) -> Result<ComponentTokenResponse> {
    let body = ComponentTokenRequest {
        component_appid: component_appid(c),
        component_appsecret: c.inner.component_secret.0.clone(),
        component_verify_ticket: verify_ticket.to_string(),
    };
    call(
        c,
        Method::Post,
        paths::API_COMPONENT_TOKEN,
        None,
        Some(&body),
    )
    .await
}

/// `api_start_push_ticket`: asks for a verify-ticket push now.
pub(crate) async fn start_push_ticket(c: &Client) -> Result<()> {
    let body = StartPushTicketRequest {
        component_appid: component_appid(c),
        component_secret: c.inner.component_secret.0.clone(),
    };
    let _: StatusOnly = call(
        c,
        Method::Post,
        paths::API_START_PUSH_TICKET,
        None,
        Some(&body),
    )
    .await?;
    Ok(())
}

/// `api_create_preauthcode`, with a component token.
pub(crate) async fn create_pre_auth_code(
    c: &Client,
    component_token: String,
) -> Result<PreAuthCodeResponse> {
    let body = PreAuthCodeRequest {
        component_appid: component_appid(c),
    };
    let token = Some((TokenParam::Component, component_token.as_str()));
    call(
        c,
        Method::Post,
        paths::API_CREATE_PREAUTHCODE,
        token,
        Some(&body),
    )
    .await
}

/// `api_query_auth`, with a component token.
pub(crate) async fn query_auth(
    c: &Client,
    component_token: String,
    authorization_code: &str,
) -> Result<QueryAuthResponse> {
    let body = QueryAuthRequest {
        component_appid: component_appid(c),
        authorization_code: authorization_code.to_string(),
    };
    let token = Some((TokenParam::Component, component_token.as_str()));
    call(c, Method::Post, paths::API_QUERY_AUTH, token, Some(&body)).await
}

/// `api_authorizer_token`, with a component token.
pub(crate) async fn authorizer_token(
    c: &Client,
    component_token: String,
    authorizer_appid: &str,
    refresh_token: &str,
) -> Result<AuthorizerTokenResponse> {
    let body = AuthorizerTokenRequest {
        component_appid: component_appid(c),
        authorizer_appid: authorizer_appid.to_string(),
        authorizer_refresh_token: refresh_token.to_string(),
    };
    let token = Some((TokenParam::Component, component_token.as_str()));
    call(
        c,
        Method::Post,
        paths::API_AUTHORIZER_TOKEN,
        token,
        Some(&body),
    )
    .await
}

/// `api_get_authorizer_info`, with a component token.
pub(crate) async fn authorizer_info(
    c: &Client,
    component_token: String,
    authorizer_appid: &str,
) -> Result<AuthorizerInfoResponse> {
    let body = AuthorizerInfoRequest {
        component_appid: component_appid(c),
        authorizer_appid: authorizer_appid.to_string(),
    };
    let token = Some((TokenParam::Component, component_token.as_str()));
    call(
        c,
        Method::Post,
        paths::API_GET_AUTHORIZER_INFO,
        token,
        Some(&body),
    )
    .await
}

/// `api_get_authorizer_list`, with a component token.
pub(crate) async fn authorizer_list(
    c: &Client,
    component_token: String,
    offset: u32,
    count: u32,
) -> Result<AuthorizerListResponse> {
    let body = AuthorizerListRequest {
        component_appid: component_appid(c),
        offset,
        count,
    };
    let token = Some((TokenParam::Component, component_token.as_str()));
    call(
        c,
        Method::Post,
        paths::API_GET_AUTHORIZER_LIST,
        token,
        Some(&body),
    )
    .await
}

/// `wxamplinkget`, with the OA's access token.
pub(crate) async fn wxamp_link_get(
    c: &Client,
    oa_access_token: String,
) -> Result<WxampLinkGetResponse> {
    let token = Some((TokenParam::Authorizer, oa_access_token.as_str()));
    let body = serde_json::json!({});
    call(c, Method::Post, paths::WXAMP_LINK_GET, token, Some(&body)).await
}

/// `getaccountbasicinfo`, with the Mini Program's access token.
pub(crate) async fn account_basic_info(
    c: &Client,
    mp_access_token: String,
) -> Result<AccountBasicInfoResponse> {
    let token = Some((TokenParam::Authorizer, mp_access_token.as_str()));
    call::<(), _>(c, Method::Get, paths::GET_ACCOUNT_BASIC_INFO, token, None).await
}

/// `fastregister`, with the OA's access token and the long fastregister timeout. Sent once.
pub(crate) async fn fast_register(
    c: &Client,
    oa_access_token: &str,
    ticket: &str,
) -> Result<FastRegisterResponse> {
    let body = FastRegisterRequest {
        ticket: ticket.to_string(),
    };
    c.send(
        Method::Post,
        paths::FAST_REGISTER,
        &[(TokenParam::Authorizer.name(), oa_access_token)],
        Some(&body),
        c.inner.fast_register_timeout,
    )
    .await
}

impl Client {
    /// `api_component_token`, raw: exchanges the secret and a verify ticket for a new token.
    /// Prefer [`Client::component_token`], which caches.
    ///
    /// # Errors
    /// WeChat's refusal (61005, 61006, 40125, …), transport failures.
    ///
    /// # Examples
    /// ```no_run
    /// # async fn run(client: fastreg_client::Client) -> Result<(), fastreg_client::Error> {
    /// let answer = client.api_component_token("ticket@@@…").await?;
    /// println!("{} s", answer.expires_in);
    /// # Ok(()) }
    /// ```
    pub async fn api_component_token(&self, verify_ticket: &str) -> Result<ComponentTokenResponse> {
        component_token(self, verify_ticket).await
    }

    /// `api_start_push_ticket`: asks WeChat to push a fresh component_verify_ticket now. To
    /// wait until your receiver has stored it, call [`Client::request_verify_ticket`].
    ///
    /// # Errors
    /// WeChat's refusal, transport failures.
    ///
    /// # Examples
    /// ```no_run
    /// # async fn run(client: fastreg_client::Client) -> Result<(), fastreg_client::Error> {
    /// client.start_push_ticket().await?;
    /// # Ok(()) }
    /// ```
    pub async fn start_push_ticket(&self) -> Result<()> {
        start_push_ticket(self).await
    }
}
