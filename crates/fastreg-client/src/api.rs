//! Typed calls of the component and account endpoints (everything but fastregister, which
//! has its own module). Each uses a managed token and is repeated once on 40001 / 42001.

use fastreg_wire::account::*;
use fastreg_wire::component::*;
use fastreg_wire::paths;

use crate::client::{Client, Method};
use crate::error::Result;
use crate::tokens::Auth;

impl Client {
    /// `api_start_push_ticket`: asks WeChat to push a fresh component_verify_ticket now.
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
        let body = StartPushTicketRequest {
            component_appid: self.inner.component_appid.clone(),
            component_secret: self.inner.component_secret.0.clone(),
        };
        let _: StatusOnly = self
            .send(
                Method::Post,
                paths::API_START_PUSH_TICKET,
                &[],
                Some(&body),
                self.inner.timeout,
            )
            .await?;
        Ok(())
    }

    /// `api_create_preauthcode`: a pre_auth_code for [`Client::component_login_page_url`].
    ///
    /// # Errors
    /// WeChat's refusal, token, transport failures.
    ///
    /// # Examples
    /// ```no_run
    /// # async fn run(client: fastreg_client::Client) -> Result<(), fastreg_client::Error> {
    /// let code = client.create_pre_auth_code().await?.pre_auth_code;
    /// # Ok(()) }
    /// ```
    pub async fn create_pre_auth_code(&self) -> Result<PreAuthCodeResponse> {
        let body = PreAuthCodeRequest {
            component_appid: self.inner.component_appid.clone(),
        };
        self.call(
            Method::Post,
            paths::API_CREATE_PREAUTHCODE,
            Auth::Component,
            Some(&body),
        )
        .await
    }

    /// `api_query_auth`: exchanges an auth_code (componentloginpage redirect, `authorized`
    /// push) or fastregister's authorization_code for the authorizer's tokens, and persists
    /// the refresh token and caches the access token before returning.
    ///
    /// # Errors
    /// 61009 / 61010 for a used, foreign or expired code; token, transport, store failures.
    ///
    /// # Examples
    /// ```no_run
    /// # async fn run(client: fastreg_client::Client) -> Result<(), fastreg_client::Error> {
    /// let info = client.query_auth("queryauthcode@@@…").await?;
    /// println!("{} granted {:?}", info.authorizer_appid, fastreg_wire::component::FuncInfo::ids(&info.func_info));
    /// # Ok(()) }
    /// ```
    pub async fn query_auth(&self, authorization_code: &str) -> Result<AuthorizationInfo> {
        let body = QueryAuthRequest {
            component_appid: self.inner.component_appid.clone(),
            authorization_code: authorization_code.to_string(),
        };
        let answer: QueryAuthResponse = self
            .call(
                Method::Post,
                paths::API_QUERY_AUTH,
                Auth::Component,
                Some(&body),
            )
            .await?;
        let info = answer.authorization_info;
        if !info.authorizer_refresh_token.is_empty() {
            self.set_refresh_token(&info.authorizer_appid, &info.authorizer_refresh_token)
                .await?;
        }
        if !info.authorizer_access_token.is_empty() {
            self.cache_authorizer_token(
                &info.authorizer_appid,
                &info.authorizer_access_token,
                info.expires_in,
            )
            .await?;
        }
        Ok(info)
    }

    /// `api_get_authorizer_info`: an authorizer's account and authorisation (including its
    /// granted permission sets and current refresh token, which is persisted).
    ///
    /// # Errors
    /// 61003 when the account has not authorised the component; token, transport failures.
    ///
    /// # Examples
    /// ```no_run
    /// # async fn run(client: fastreg_client::Client) -> Result<(), fastreg_client::Error> {
    /// let info = client.authorizer_info("wx0a00000000000001").await?;
    /// println!("{}", info.authorizer_info.principal_name);
    /// # Ok(()) }
    /// ```
    pub async fn authorizer_info(&self, authorizer_appid: &str) -> Result<AuthorizerInfoResponse> {
        let body = AuthorizerInfoRequest {
            component_appid: self.inner.component_appid.clone(),
            authorizer_appid: authorizer_appid.to_string(),
        };
        let info: AuthorizerInfoResponse = self
            .call(
                Method::Post,
                paths::API_GET_AUTHORIZER_INFO,
                Auth::Component,
                Some(&body),
            )
            .await?;
        let refresh = &info.authorization_info.authorizer_refresh_token;
        if !refresh.is_empty()
            && self.refresh_token(authorizer_appid).await?.as_ref() != Some(refresh)
        {
            self.set_refresh_token(authorizer_appid, refresh).await?;
        }
        Ok(info)
    }

    /// `api_get_authorizer_list`: a page (`count` ≤ 500) of the component's authorizers with
    /// their refresh tokens.
    ///
    /// # Errors
    /// 47001 for a `count` of 0 or over 500; token, transport failures.
    ///
    /// # Examples
    /// ```no_run
    /// # async fn run(client: fastreg_client::Client) -> Result<(), fastreg_client::Error> {
    /// let page = client.authorizer_list(0, 100).await?;
    /// println!("{} authorizers", page.total_count);
    /// # Ok(()) }
    /// ```
    pub async fn authorizer_list(&self, offset: u32, count: u32) -> Result<AuthorizerListResponse> {
        let body = AuthorizerListRequest {
            component_appid: self.inner.component_appid.clone(),
            offset,
            count,
        };
        self.call(
            Method::Post,
            paths::API_GET_AUTHORIZER_LIST,
            Auth::Component,
            Some(&body),
        )
        .await
    }

    /// `wxamplinkget`: the Mini Programs linked to an Official Account (with the OA's token).
    ///
    /// # Errors
    /// 48001 when `oa_appid` is not an OA; token, transport failures.
    ///
    /// # Examples
    /// ```no_run
    /// # async fn run(client: fastreg_client::Client) -> Result<(), fastreg_client::Error> {
    /// for mp in client.linked_mini_programs("wx0a00000000000001").await? {
    ///     println!("{} {}", mp.appid, mp.nickname);
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn linked_mini_programs(&self, oa_appid: &str) -> Result<Vec<LinkedMiniProgram>> {
        let answer: WxampLinkGetResponse = self
            .call(
                Method::Post,
                paths::WXAMP_LINK_GET,
                Auth::Authorizer(oa_appid),
                Some(&serde_json::json!({})),
            )
            .await?;
        Ok(answer.wxopens.items)
    }

    /// `getaccountbasicinfo`: a Mini Program's basic information (with its token).
    ///
    /// # Errors
    /// 48001 when `mp_appid` is not a Mini Program; token, transport failures.
    ///
    /// # Examples
    /// ```no_run
    /// # async fn run(client: fastreg_client::Client) -> Result<(), fastreg_client::Error> {
    /// let info = client.account_basic_info("wx5e1c000000000001").await?;
    /// println!("verified: {}", info.wx_verify_info.qualification_verify);
    /// # Ok(()) }
    /// ```
    pub async fn account_basic_info(&self, mp_appid: &str) -> Result<AccountBasicInfoResponse> {
        self.call::<(), _>(
            Method::Get,
            paths::GET_ACCOUNT_BASIC_INFO,
            Auth::Authorizer(mp_appid),
            None,
        )
        .await
    }
}
