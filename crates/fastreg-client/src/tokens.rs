//! Token management: the component_access_token from the latest verify ticket, authorizer
//! access tokens from persisted refresh tokens.
//!
//! The rules that keep many instances from fighting (the 40001 storms of other SDKs):
//! - a token is cached in the store until `expires_in - margin`;
//! - within a process, callers of one key wait for one refresh (a mutex per key);
//! - across processes, the refresher holds a lease in the store; the others wait for the new
//!   token to appear instead of refreshing themselves, and whoever takes the lease checks the
//!   store again first (someone may have refreshed meanwhile);
//! - a token that WeChat rejects is dropped only if it is still the one that failed
//!   (compare-and-expire), so a slow instance cannot evict the token another just stored;
//! - refresh tokens are saved whenever they change, and recovered from
//!   `api_get_authorizer_list` when missing.
//!
//! It calls WeChat only through `endpoints.rs` (never through the managed calls of `api.rs`,
//! which sit on top of it), and `Client::with_token` here is the one place where a rejected
//! token is dropped and a call repeated.

use std::future::Future;
use std::time::Duration;

use fastreg_wire::{paths, ErrCode};

use crate::client::Client;
use crate::endpoints;
use crate::error::{Error, Result};
use crate::store::{unix_now, Stored, TokenStore};

/// Which access token a call needs.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Auth<'a> {
    /// The component_access_token, sent as `component_access_token=`.
    Component,
    /// An authorizer's access token, sent as `access_token=`.
    Authorizer(&'a str),
}

impl Client {
    fn verify_ticket_key(&self) -> String {
        self.key("verify_ticket")
    }

    fn component_token_key(&self) -> String {
        self.key("component_token")
    }

    fn authorizer_token_key(&self, appid: &str) -> String {
        self.key(&format!("authorizer_token:{appid}"))
    }

    fn refresh_token_key(&self, appid: &str) -> String {
        self.key(&format!("refresh_token:{appid}"))
    }

    /// Stores the latest component_verify_ticket (what the push handler does with every
    /// `component_verify_ticket` push).
    ///
    /// # Errors
    /// The store failed.
    ///
    /// # Examples
    /// ```no_run
    /// # async fn run(client: fastreg_client::Client) -> Result<(), fastreg_client::Error> {
    /// client.set_verify_ticket("ticket@@@…").await?;
    /// # Ok(()) }
    /// ```
    pub async fn set_verify_ticket(&self, ticket: &str) -> Result<()> {
        self.inner
            .store
            .put(
                &self.verify_ticket_key(),
                Stored {
                    value: ticket.to_string(),
                    expires_at: Some(unix_now() + 12 * 3600),
                },
            )
            .await?;
        Ok(())
    }

    /// Stores a pushed ticket issued at `create_time` (valid 12 h from then), unless the
    /// stored one is newer.
    pub(crate) async fn store_verify_ticket(&self, ticket: &str, create_time: i64) -> Result<()> {
        let expires_at = create_time + 12 * 3600;
        let key = self.verify_ticket_key();
        if let Some(current) = self.inner.store.get(&key).await? {
            if current.expires_at.is_some_and(|at| at > expires_at) {
                tracing::info!("ignored a push of an older component_verify_ticket");
                return Ok(());
            }
        }
        self.inner
            .store
            .put(
                &key,
                Stored {
                    value: ticket.to_string(),
                    expires_at: Some(expires_at),
                },
            )
            .await?;
        Ok(())
    }

    /// Asks WeChat for a verify-ticket push now (`api_start_push_ticket`) and waits, at most
    /// `wait`, until a [`crate::push::PushReceiver`] on this client's store has stored it; returns the ticket.
    ///
    /// This is how a new receiver gets going without waiting up to 10 minutes for the next
    /// scheduled push: creating a component (on a fastreg platform, or configuring the event URL
    /// on open.weixin.qq.com) pushes its first ticket at once, typically before the receiver
    /// knows the token and EncodingAESKey, and that push is refused. Serve the receiver, then
    /// call this once.
    ///
    /// # Errors
    /// WeChat's refusal of `api_start_push_ticket`; [`crate::Error::Timeout`] when no new ticket was
    /// stored within `wait` (the push did not reach a receiver on this store: check the event
    /// URL, the token and the EncodingAESKey); store failures.
    ///
    /// # Examples
    /// ```no_run
    /// # async fn run(client: fastreg_client::Client) -> Result<(), fastreg_client::Error> {
    /// // after starting the push route (see `push::axum_route::router`):
    /// client.request_verify_ticket(std::time::Duration::from_secs(10)).await?;
    /// let token = client.component_token().await?;
    /// # Ok(()) }
    /// ```
    pub async fn request_verify_ticket(&self, wait: Duration) -> Result<String> {
        let key = self.verify_ticket_key();
        let before = self.inner.store.get(&key).await?;
        endpoints::start_push_ticket(self).await?;
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            match self.inner.store.get(&key).await? {
                Some(now) if Some(&now) != before.as_ref() => return Ok(now.value),
                _ if tokio::time::Instant::now() >= deadline => return Err(Error::Timeout(wait)),
                _ => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    }

    /// The stored component_verify_ticket.
    ///
    /// # Errors
    /// [`Error::NoVerifyTicket`] when none was stored; store failures.
    ///
    /// # Examples
    /// ```no_run
    /// # async fn run(client: fastreg_client::Client) -> Result<(), fastreg_client::Error> {
    /// let ticket = client.verify_ticket().await?;
    /// # Ok(()) }
    /// ```
    pub async fn verify_ticket(&self) -> Result<String> {
        self.inner
            .store
            .get(&self.verify_ticket_key())
            .await?
            .map(|s| s.value)
            .ok_or_else(|| Error::NoVerifyTicket(self.inner.component_appid.clone()))
    }

    /// A valid component_access_token: cached, or fetched once for all callers.
    ///
    /// # Errors
    /// [`Error::NoVerifyTicket`], WeChat's refusal of `api_component_token`, transport and
    /// store failures.
    ///
    /// # Examples
    /// ```no_run
    /// # async fn run(client: fastreg_client::Client) -> Result<(), fastreg_client::Error> {
    /// let token = client.component_token().await?;
    /// # Ok(()) }
    /// ```
    pub async fn component_token(&self) -> Result<String> {
        let key = self.component_token_key();
        let store = self.inner.store.clone();
        self.managed_token(store, &key, || async {
            let ticket = self.verify_ticket().await?;
            let r = endpoints::component_token(self, &ticket).await?;
            Ok((r.component_access_token, r.expires_in))
        })
        .await
    }

    /// A valid authorizer_access_token for `authorizer_appid` (an OA or a Mini Program):
    /// cached, or refreshed once for all callers with the persisted refresh token.
    ///
    /// # Errors
    /// [`Error::NoRefreshToken`] when the account's refresh token is unknown and
    /// `api_get_authorizer_list` does not list it; WeChat's refusals; transport and store
    /// failures.
    ///
    /// # Examples
    /// ```no_run
    /// # async fn run(client: fastreg_client::Client) -> Result<(), fastreg_client::Error> {
    /// let token = client.authorizer_token("wx0a00000000000001").await?;
    /// # Ok(()) }
    /// ```
    pub async fn authorizer_token(&self, authorizer_appid: &str) -> Result<String> {
        let key = self.authorizer_token_key(authorizer_appid);
        let store = self.inner.store.clone();
        self.managed_token(store, &key, || {
            self.refresh_authorizer_token(authorizer_appid)
        })
        .await
    }

    /// Refreshes with the stored refresh token; recovers a missing or replaced one (61023)
    /// from the authorizer list once.
    async fn refresh_authorizer_token(&self, appid: &str) -> Result<(String, i64)> {
        let refresh = match self.refresh_token(appid).await? {
            Some(r) => r,
            None => self.recover_refresh_token(appid).await?,
        };
        let exchange = |refresh: String| {
            self.with_token(Auth::Component, paths::API_AUTHORIZER_TOKEN, move |token| {
                let refresh = refresh.clone();
                async move { endpoints::authorizer_token(self, token, appid, &refresh).await }
            })
        };
        let answer = match exchange(refresh.clone()).await {
            Err(e) if e.code() == Some(ErrCode::RefreshTokenInvalid) => {
                tracing::warn!(
                    authorizer = appid,
                    "refresh token rejected (61023); recovering it from api_get_authorizer_list"
                );
                let recovered = self.recover_refresh_token(appid).await?;
                if recovered == refresh {
                    return Err(e);
                }
                exchange(recovered).await?
            }
            other => other?,
        };
        if answer.authorizer_refresh_token != refresh && !answer.authorizer_refresh_token.is_empty()
        {
            self.set_refresh_token(appid, &answer.authorizer_refresh_token)
                .await?;
        }
        Ok((answer.authorizer_access_token, answer.expires_in))
    }

    /// The persisted refresh token of an authorizer, if known.
    ///
    /// # Errors
    /// Store failures.
    ///
    /// # Examples
    /// ```no_run
    /// # async fn run(client: fastreg_client::Client) -> Result<(), fastreg_client::Error> {
    /// let refresh = client.refresh_token("wx0a00000000000001").await?;
    /// # Ok(()) }
    /// ```
    pub async fn refresh_token(&self, authorizer_appid: &str) -> Result<Option<String>> {
        Ok(self
            .inner
            .refresh_store
            .get(&self.refresh_token_key(authorizer_appid))
            .await?
            .map(|s| s.value))
    }

    /// Persists an authorizer's refresh token (no expiry).
    ///
    /// # Errors
    /// Store failures.
    ///
    /// # Examples
    /// ```no_run
    /// # async fn run(client: fastreg_client::Client) -> Result<(), fastreg_client::Error> {
    /// client.set_refresh_token("wx0a00000000000001", "refreshtoken@@@…").await?;
    /// # Ok(()) }
    /// ```
    pub async fn set_refresh_token(&self, authorizer_appid: &str, token: &str) -> Result<()> {
        self.inner
            .refresh_store
            .put(
                &self.refresh_token_key(authorizer_appid),
                Stored {
                    value: token.to_string(),
                    expires_at: None,
                },
            )
            .await?;
        Ok(())
    }

    /// Finds an authorizer's current refresh token in `api_get_authorizer_list` and persists
    /// it: how a lost (or replaced) refresh token comes back without the merchant.
    ///
    /// # Errors
    /// [`Error::NoRefreshToken`] when the list does not contain the account.
    ///
    /// # Examples
    /// ```no_run
    /// # async fn run(client: fastreg_client::Client) -> Result<(), fastreg_client::Error> {
    /// let refresh = client.recover_refresh_token("wx0a00000000000001").await?;
    /// # Ok(()) }
    /// ```
    pub async fn recover_refresh_token(&self, authorizer_appid: &str) -> Result<String> {
        let mut offset = 0u32;
        loop {
            let page = self
                .with_token(
                    Auth::Component,
                    paths::API_GET_AUTHORIZER_LIST,
                    move |token| endpoints::authorizer_list(self, token, offset, 500),
                )
                .await?;
            if let Some(item) = page
                .list
                .iter()
                .find(|i| i.authorizer_appid == authorizer_appid)
            {
                self.set_refresh_token(authorizer_appid, &item.refresh_token)
                    .await?;
                return Ok(item.refresh_token.clone());
            }
            offset += page.list.len() as u32;
            if page.list.is_empty() || i64::from(offset) >= page.total_count {
                return Err(Error::NoRefreshToken(authorizer_appid.to_string()));
            }
        }
    }

    /// Caches a fresh authorizer access token (after api_query_auth).
    pub(crate) async fn cache_authorizer_token(
        &self,
        appid: &str,
        token: &str,
        expires_in: i64,
    ) -> Result<()> {
        self.inner
            .store
            .put(
                &self.authorizer_token_key(appid),
                Stored {
                    value: token.to_string(),
                    expires_at: Some(unix_now() + expires_in),
                },
            )
            .await?;
        Ok(())
    }

    /// Whether a cached entry is still good for at least the refresh margin.
    fn fresh(&self, s: &Stored) -> bool {
        s.expires_at
            .is_none_or(|at| at - self.inner.refresh_margin.as_secs() as i64 > unix_now())
    }

    /// The cache / single-flight / lease dance shared by every managed token.
    async fn managed_token<F, Fut>(
        &self,
        store: std::sync::Arc<dyn TokenStore>,
        key: &str,
        fetch: F,
    ) -> Result<String>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<(String, i64)>>,
    {
        if let Some(s) = store.get(key).await?.filter(|s| self.fresh(s)) {
            return Ok(s.value);
        }
        let flight = self.flight(key);
        let _one_caller_per_process = flight.lock().await;
        if let Some(s) = store.get(key).await?.filter(|s| self.fresh(s)) {
            return Ok(s.value);
        }
        let lock_key = format!("{key}:lock");
        let ttl = self.inner.lock_ttl;
        let deadline = tokio::time::Instant::now() + ttl + Duration::from_secs(5);
        let mut fetch = Some(fetch);
        let mut pause = Duration::from_millis(20);
        loop {
            if let Some(lease) = store.try_lock(&lock_key, ttl).await? {
                // Whoever held the lease before may have stored a token just now.
                let cached = store.get(key).await?.filter(|s| self.fresh(s));
                let result = match cached {
                    Some(s) => Ok(s.value),
                    None => {
                        let fetch = fetch.take().expect("fetched at most once");
                        match fetch().await {
                            Ok((token, expires_in)) => {
                                let stored = Stored {
                                    value: token.clone(),
                                    expires_at: Some(unix_now() + expires_in),
                                };
                                store
                                    .put(key, stored)
                                    .await
                                    .map(|()| token)
                                    .map_err(Error::from)
                            }
                            Err(e) => Err(e),
                        }
                    }
                };
                if let Err(e) = store.unlock(&lock_key, &lease).await {
                    tracing::warn!(error = %e, key, "could not release a refresh lease; it expires by itself");
                }
                return result;
            }
            // Another instance is refreshing: wait for its token rather than refresh too.
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_millis(250));
            if let Some(s) = store.get(key).await?.filter(|s| self.fresh(s)) {
                return Ok(s.value);
            }
            if tokio::time::Instant::now() > deadline {
                tracing::warn!(key, "gave up waiting for another instance's refresh");
                return Err(Error::Timeout(ttl + Duration::from_secs(5)));
            }
        }
    }

    /// Drops `failed` from the cache if it is still the cached token (compare-and-expire).
    pub(crate) async fn expire_token(&self, auth: Auth<'_>, failed: &str) -> Result<()> {
        let key = match auth {
            Auth::Component => self.component_token_key(),
            Auth::Authorizer(appid) => self.authorizer_token_key(appid),
        };
        self.inner.store.delete_if(&key, failed).await?;
        Ok(())
    }

    async fn token_for(&self, auth: Auth<'_>) -> Result<String> {
        match auth {
            Auth::Component => self.component_token().await,
            // Boxed: refreshing an authorizer token itself makes component calls.
            Auth::Authorizer(appid) => Box::pin(self.authorizer_token(appid)).await,
        }
    }

    /// Runs `call` with a managed token. When WeChat rejects the token (40001 / 42001), drops it
    /// (compare-and-expire) and runs `call` once more with a fresh one. Every managed call goes
    /// through here; fastregister never does, because it must not be repeated automatically.
    pub(crate) async fn with_token<T, F, Fut>(
        &self,
        auth: Auth<'_>,
        what: &str,
        call: F,
    ) -> Result<T>
    where
        F: Fn(String) -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        let token = self.token_for(auth).await?;
        match call(token.clone()).await {
            Err(e) if e.is_stale_token() => {
                tracing::info!(path = what, code = ?e.code(), "token rejected; refreshing and repeating once");
                self.expire_token(auth, &token).await?;
                let fresh = self.token_for(auth).await?;
                call(fresh).await
            }
            other => other,
        }
    }
}
