//! The [`Client`], its builder, and the one function every call goes through ([`Client::send`]):
//! it sends, reads the body, checks `errcode` even on HTTP 200, and only then decodes the
//! expected type. Nothing else in the crate talks HTTP.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use fastreg_wire::{redact, ApiStatus, ErrCode};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::{Error, Result};
use crate::store::{MemoryStore, TokenStore};

/// WeChat's API host.
pub const WECHAT_API: &str = "https://api.weixin.qq.com";
/// WeChat's host of the admin-facing pages (componentloginpage, fastregisterauth).
pub const WECHAT_PAGES: &str = "https://mp.weixin.qq.com";

/// A secret whose `Debug` never shows it.
#[derive(Clone)]
pub(crate) struct Secret(pub(crate) String);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"***\"")
    }
}

/// A client of WeChat's fast-registration flow, for one component (third-party platform).
/// Cheap to clone; clones share caches and in-flight refreshes.
///
/// # Examples
/// ```no_run
/// # async fn run() -> Result<(), fastreg_client::Error> {
/// use std::sync::Arc;
/// use fastreg_client::{Client, store::SqliteStore};
///
/// let client = Client::builder("wxc0ffee0000000001", "the-component-secret")
///     .auth_domain("platform.example.com")
///     .store(Arc::new(SqliteStore::open("tokens.db")?))
///     .build()?;
/// let token = client.component_token().await?;
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct Client {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) http: reqwest::Client,
    pub(crate) api_base: url::Url,
    pub(crate) page_base: url::Url,
    pub(crate) component_appid: String,
    pub(crate) component_secret: Secret,
    pub(crate) auth_domain: Option<String>,
    pub(crate) store: Arc<dyn TokenStore>,
    pub(crate) refresh_store: Arc<dyn TokenStore>,
    pub(crate) namespace: String,
    pub(crate) timeout: Duration,
    pub(crate) fast_register_timeout: Duration,
    pub(crate) refresh_margin: Duration,
    pub(crate) lock_ttl: Duration,
    pub(crate) retry_interval: Duration,
    /// One mutex per credential key: callers in this process wait for one refresh.
    pub(crate) flights: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

/// `Debug` shows the configuration, never the secret or anything from the stores.
impl fmt::Debug for Inner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("api_base", &self.api_base.as_str())
            .field("page_base", &self.page_base.as_str())
            .field("component_appid", &self.component_appid)
            .field("component_secret", &self.component_secret)
            .field("auth_domain", &self.auth_domain)
            .field("store", &self.store)
            .field("refresh_store", &self.refresh_store)
            .field("namespace", &self.namespace)
            .field("timeout", &self.timeout)
            .field("fast_register_timeout", &self.fast_register_timeout)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for dyn TokenStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TokenStore({})", self.backend())
    }
}

/// Builds a [`Client`]; see [`Client::builder`].
///
/// # Examples
/// ```no_run
/// let builder = fastreg_client::Client::builder("wxc0ffee0000000001", "secret");
/// let client = builder.build()?;
/// # Ok::<(), fastreg_client::Error>(())
/// ```
#[derive(Debug)]
pub struct ClientBuilder {
    component_appid: String,
    component_secret: Secret,
    api_base: String,
    page_base: Option<String>,
    auth_domain: Option<String>,
    store: Option<Arc<dyn TokenStore>>,
    refresh_store: Option<Arc<dyn TokenStore>>,
    namespace: String,
    timeout: Duration,
    fast_register_timeout: Duration,
    refresh_margin: Duration,
    lock_ttl: Duration,
    retry_interval: Duration,
    http: Option<reqwest::Client>,
}

impl Client {
    /// Starts building a client for the component `component_appid` with its AppSecret.
    ///
    /// # Examples
    /// ```no_run
    /// let client = fastreg_client::Client::builder("wxc0ffee0000000001", "secret")
    ///     .base_url("http://127.0.0.1:8080") // the fastreg platform instead of WeChat
    ///     .auth_domain("localhost")
    ///     .build()?;
    /// # Ok::<(), fastreg_client::Error>(())
    /// ```
    pub fn builder(
        component_appid: impl Into<String>,
        component_secret: impl Into<String>,
    ) -> ClientBuilder {
        ClientBuilder {
            component_appid: component_appid.into(),
            component_secret: Secret(component_secret.into()),
            api_base: WECHAT_API.into(),
            page_base: None,
            auth_domain: None,
            store: None,
            refresh_store: None,
            namespace: "fastreg".into(),
            timeout: Duration::from_secs(10),
            fast_register_timeout: Duration::from_secs(30),
            refresh_margin: Duration::from_secs(300),
            lock_ttl: Duration::from_secs(15),
            retry_interval: Duration::from_secs(5),
            http: None,
        }
    }

    /// The component's appid.
    ///
    /// # Examples
    /// ```no_run
    /// let client = fastreg_client::Client::builder("wxc0ffee0000000001", "secret").build()?;
    /// assert_eq!(client.component_appid(), "wxc0ffee0000000001");
    /// # Ok::<(), fastreg_client::Error>(())
    /// ```
    pub fn component_appid(&self) -> &str {
        &self.inner.component_appid
    }
}

impl ClientBuilder {
    /// The API base URL: `https://api.weixin.qq.com` (default) or a fastreg platform.
    ///
    /// It may carry a path: a fastreg world's base URL (`http://127.0.0.1:8080/w/{id}`) serves
    /// that world's endpoints and pages below it.
    ///
    /// # Examples
    /// ```no_run
    /// let client = fastreg_client::Client::builder("wxc0ffee0000000001", "secret").base_url("http://127.0.0.1:8080").build()?;
    /// # Ok::<(), fastreg_client::Error>(())
    /// ```
    pub fn base_url(mut self, url: impl Into<String>) -> Self {
        self.api_base = url.into();
        self
    }

    /// The base URL of the admin-facing pages: `https://mp.weixin.qq.com` by default, or the
    /// API base URL when that was changed (a fastreg platform serves both).
    ///
    /// # Examples
    /// ```no_run
    /// let client = fastreg_client::Client::builder("wxc0ffee0000000001", "secret").page_base_url("https://mp.weixin.qq.com").build()?;
    /// # Ok::<(), fastreg_client::Error>(())
    /// ```
    pub fn page_base_url(mut self, url: impl Into<String>) -> Self {
        self.page_base = Some(url.into());
        self
    }

    /// The component's auth domain (登录授权的发起页域名): the only host redirect URIs may use.
    ///
    /// # Examples
    /// ```no_run
    /// let client = fastreg_client::Client::builder("wxc0ffee0000000001", "secret").auth_domain("platform.example.com").build()?;
    /// # Ok::<(), fastreg_client::Error>(())
    /// ```
    pub fn auth_domain(mut self, domain: impl Into<String>) -> Self {
        self.auth_domain = Some(domain.into());
        self
    }

    /// Where tokens, tickets and locks live (default: an in-process [`MemoryStore`]). Share
    /// one [`crate::store::RedisStore`] between instances so they refresh once.
    ///
    /// # Examples
    /// ```no_run
    /// # async fn run() -> Result<(), fastreg_client::Error> {
    /// let redis = fastreg_client::store::RedisStore::connect("redis://127.0.0.1:6379").await?;
    /// let client = fastreg_client::Client::builder("wxc0ffee0000000001", "secret").store(std::sync::Arc::new(redis)).build()?;
    /// # Ok(()) }
    /// ```
    pub fn store(mut self, store: Arc<dyn TokenStore>) -> Self {
        self.store = Some(store);
        self
    }

    /// Where refresh tokens live, if not in [`ClientBuilder::store`]: put them in a durable
    /// store (e.g. [`crate::store::SqliteStore`]) when the shared store is a Redis without
    /// persistence.
    ///
    /// # Examples
    /// ```no_run
    /// # async fn run() -> Result<(), fastreg_client::Error> {
    /// use std::sync::Arc;
    /// use fastreg_client::store::{RedisStore, SqliteStore};
    /// let client = fastreg_client::Client::builder("wxc0ffee0000000001", "secret")
    ///     .store(Arc::new(RedisStore::connect("redis://127.0.0.1:6379").await?))
    ///     .refresh_token_store(Arc::new(SqliteStore::open("refresh-tokens.db")?))
    ///     .build()?;
    /// # Ok(()) }
    /// ```
    pub fn refresh_token_store(mut self, store: Arc<dyn TokenStore>) -> Self {
        self.refresh_store = Some(store);
        self
    }

    /// Prefix of every store key (default `fastreg`).
    ///
    /// # Examples
    /// ```no_run
    /// let client = fastreg_client::Client::builder("wxc0ffee0000000001", "secret").namespace("shop-a").build()?;
    /// # Ok::<(), fastreg_client::Error>(())
    /// ```
    pub fn namespace(mut self, ns: impl Into<String>) -> Self {
        self.namespace = ns.into();
        self
    }

    /// Timeout of ordinary calls (default 10 s).
    ///
    /// # Examples
    /// ```no_run
    /// let client = fastreg_client::Client::builder("wxc0ffee0000000001", "secret").timeout(std::time::Duration::from_secs(5)).build()?;
    /// # Ok::<(), fastreg_client::Error>(())
    /// ```
    pub fn timeout(mut self, t: Duration) -> Self {
        self.timeout = t;
        self
    }

    /// Timeout of fastregister (default 30 s: a short timeout turns a slow success into an
    /// unknown outcome).
    ///
    /// # Examples
    /// ```no_run
    /// let client = fastreg_client::Client::builder("wxc0ffee0000000001", "secret").fast_register_timeout(std::time::Duration::from_secs(60)).build()?;
    /// # Ok::<(), fastreg_client::Error>(())
    /// ```
    pub fn fast_register_timeout(mut self, t: Duration) -> Self {
        self.fast_register_timeout = t;
        self
    }

    /// Refresh tokens this long before they expire (default 300 s).
    ///
    /// # Examples
    /// ```no_run
    /// let client = fastreg_client::Client::builder("wxc0ffee0000000001", "secret").token_refresh_margin(std::time::Duration::from_secs(600)).build()?;
    /// # Ok::<(), fastreg_client::Error>(())
    /// ```
    pub fn token_refresh_margin(mut self, m: Duration) -> Self {
        self.refresh_margin = m;
        self
    }

    /// How long a refresh lock is held at most (default 15 s).
    ///
    /// # Examples
    /// ```no_run
    /// let client = fastreg_client::Client::builder("wxc0ffee0000000001", "secret").lock_ttl(std::time::Duration::from_secs(30)).build()?;
    /// # Ok::<(), fastreg_client::Error>(())
    /// ```
    pub fn lock_ttl(mut self, t: Duration) -> Self {
        self.lock_ttl = t;
        self
    }

    /// The least time between two fastregister attempts with one ticket (default and minimum
    /// 5 s: WeChat answers 61058 to a retry within 5 s). Smaller values are raised to 5 s
    /// unless the `base_url` was changed (tests against the platform may go faster).
    ///
    /// # Examples
    /// ```no_run
    /// let client = fastreg_client::Client::builder("wxc0ffee0000000001", "secret").fast_register_retry_interval(std::time::Duration::from_secs(10)).build()?;
    /// # Ok::<(), fastreg_client::Error>(())
    /// ```
    pub fn fast_register_retry_interval(mut self, t: Duration) -> Self {
        self.retry_interval = t;
        self
    }

    /// Use this `reqwest::Client` (proxies, TLS settings).
    ///
    /// # Examples
    /// ```no_run
    /// let http = reqwest::Client::builder().build().unwrap();
    /// let client = fastreg_client::Client::builder("wxc0ffee0000000001", "secret").http_client(http).build()?;
    /// # Ok::<(), fastreg_client::Error>(())
    /// ```
    pub fn http_client(mut self, http: reqwest::Client) -> Self {
        self.http = Some(http);
        self
    }

    /// Builds the client.
    ///
    /// # Errors
    /// [`Error::Config`] for an empty appid or secret, or an unparsable base URL.
    ///
    /// # Examples
    /// ```no_run
    /// let client = fastreg_client::Client::builder("wxc0ffee0000000001", "secret").build()?;
    /// # Ok::<(), fastreg_client::Error>(())
    /// ```
    pub fn build(self) -> Result<Client> {
        if self.component_appid.trim().is_empty() || self.component_secret.0.is_empty() {
            return Err(Error::Config(
                "component_appid and component_secret are required".into(),
            ));
        }
        let parse = |s: &str| {
            url::Url::parse(s.trim_end_matches('/'))
                .map_err(|e| Error::Config(format!("base URL {s:?}: {e}")))
        };
        let api_base = parse(&self.api_base)?;
        let custom_base = self.api_base != WECHAT_API;
        let page_base = match &self.page_base {
            Some(p) => parse(p)?,
            None if custom_base => api_base.clone(),
            None => parse(WECHAT_PAGES)?,
        };
        let retry_interval = if custom_base {
            self.retry_interval
        } else {
            self.retry_interval.max(Duration::from_secs(5))
        };
        let http = match self.http {
            Some(h) => h,
            None => reqwest::Client::builder()
                .pool_idle_timeout(Duration::from_secs(60))
                .build()
                .map_err(|e| Error::Config(format!("HTTP client: {e}")))?,
        };
        let store = self
            .store
            .unwrap_or_else(|| Arc::new(MemoryStore::new()) as Arc<dyn TokenStore>);
        let refresh_store = self.refresh_store.unwrap_or_else(|| store.clone());
        Ok(Client {
            inner: Arc::new(Inner {
                http,
                api_base,
                page_base,
                component_appid: self.component_appid,
                component_secret: self.component_secret,
                auth_domain: self.auth_domain,
                store,
                refresh_store,
                namespace: self.namespace,
                timeout: self.timeout,
                fast_register_timeout: self.fast_register_timeout,
                refresh_margin: self.refresh_margin,
                lock_ttl: self.lock_ttl,
                retry_interval,
                flights: Mutex::new(HashMap::new()),
            }),
        })
    }
}

/// HTTP method of a call.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Method {
    Get,
    Post,
}

impl Client {
    /// The store key of a credential: `{namespace}:{component}:{kind}`.
    pub(crate) fn key(&self, kind: &str) -> String {
        format!(
            "{}:{}:{kind}",
            self.inner.namespace, self.inner.component_appid
        )
    }

    /// The in-process single-flight mutex of a key.
    pub(crate) fn flight(&self, key: &str) -> Arc<tokio::sync::Mutex<()>> {
        self.inner
            .flights
            .lock()
            .expect("flights lock")
            .entry(key.to_string())
            .or_default()
            .clone()
    }

    /// Sends one request and decodes its answer. The choke point of the crate: checks
    /// `errcode` before decoding `T`, maps timeouts apart from other transport errors, keeps
    /// the start of an undecodable body for diagnosis.
    pub(crate) async fn send<B: Serialize + ?Sized, T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<&B>,
        timeout: Duration,
    ) -> Result<T> {
        let mut url = with_path(&self.inner.api_base, path);
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        let mut req = match method {
            Method::Get => self.inner.http.get(url),
            Method::Post => self.inner.http.post(url),
        }
        .timeout(timeout);
        if let Some(b) = body {
            req = req.json(b);
        }
        let transport = |e: reqwest::Error| {
            if e.is_timeout() {
                Error::Timeout(timeout)
            } else {
                // The URL carries the access token in its query: never keep it.
                Error::Transport {
                    maybe_sent: !e.is_connect(),
                    source: e.without_url(),
                }
            }
        };
        let resp = req.send().await.map_err(transport)?;
        let status = resp.status().as_u16();
        let bytes = resp.bytes().await.map_err(transport)?;
        // An undecodable body may still carry credentials (a token with a malformed expiry),
        // and serde quotes the values it could not read: both are scrubbed before they are kept.
        let decode = |message: String| Error::Decode {
            status,
            message: redact::quoted(&message),
            body: redact::text(&String::from_utf8_lossy(&bytes[..bytes.len().min(512)])),
        };
        let head: ApiStatus = serde_json::from_slice(&bytes).map_err(|e| decode(e.to_string()))?;
        if head.errcode != 0 {
            let rid = head.parsed().rid;
            return Err(Error::Api {
                code: ErrCode::from_code(head.errcode),
                errmsg: redact::text(&head.errmsg),
                rid,
            });
        }
        serde_json::from_slice(&bytes).map_err(|e| decode(e.to_string()))
    }
}

/// `path` under `base`, keeping what path the base has: a fastreg world's base URL is
/// `http://host:port/w/{id}`, and its endpoints are below it.
pub(crate) fn with_path(base: &url::Url, path: &str) -> url::Url {
    let mut url = base.clone();
    let prefix = base.path().trim_end_matches('/');
    url.set_path(&format!("{prefix}{path}"));
    url
}
