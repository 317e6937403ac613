//! The managed calls of the component and account endpoints (everything but fastregister, which
//! has its own module): each is an endpoint of `endpoints.rs` run with a managed token
//! (`tokens.rs`), repeated once on 40001 / 42001, plus what the answer obliges the client to keep
//! (refresh tokens are persisted, access tokens cached).

use fastreg_wire::account::*;
use fastreg_wire::component::*;
use fastreg_wire::paths;

use crate::client::Client;
use crate::endpoints;
use crate::error::Result;
use crate::tokens::Auth;

impl Client {
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
        self.with_token(Auth::Component, paths::API_CREATE_PREAUTHCODE, |token| {
            endpoints::create_pre_auth_code(self, token)
        })
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
        let answer = self
            .with_token(Auth::Component, paths::API_QUERY_AUTH, |token| {
                endpoints::query_auth(self, token, authorization_code)
            })
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
        let info = self
            .with_token(Auth::Component, paths::API_GET_AUTHORIZER_INFO, |token| {
                endpoints::authorizer_info(self, token, authorizer_appid)
            })
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
        self.with_token(Auth::Component, paths::API_GET_AUTHORIZER_LIST, |token| {
            endpoints::authorizer_list(self, token, offset, count)
        })
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
        let answer = self
            .with_token(Auth::Authorizer(oa_appid), paths::WXAMP_LINK_GET, |token| {
                endpoints::wxamp_link_get(self, token)
            })
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
        self.with_token(
            Auth::Authorizer(mp_appid),
            paths::GET_ACCOUNT_BASIC_INFO,
            |token| endpoints::account_basic_info(self, token),
        )
        .await
    }

    /// `api_authorizer_token`: a new authorizer access token from a refresh token, with the
    /// managed component token. Prefer [`Client::authorizer_token`], which caches and persists.
    ///
    /// # Errors
    /// WeChat's refusal (61023, 61003, …), transport failures.
    ///
    /// # Examples
    /// ```no_run
    /// # async fn run(client: fastreg_client::Client) -> Result<(), fastreg_client::Error> {
    /// let answer = client.api_authorizer_token("wx0a00000000000001", "refreshtoken@@@…").await?;
    /// # Ok(()) }
    /// ```
    pub async fn api_authorizer_token(
        &self,
        authorizer_appid: &str,
        refresh_token: &str,
    ) -> Result<AuthorizerTokenResponse> {
        self.with_token(Auth::Component, paths::API_AUTHORIZER_TOKEN, |token| {
            endpoints::authorizer_token(self, token, authorizer_appid, refresh_token)
        })
        .await
    }
}
