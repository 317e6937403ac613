//! Proxy mode (spec §10): `fastreg serve` also answers as an HTTP forward proxy for WeChat's
//! hosts only, so a client that hard-codes `https://api.weixin.qq.com` (WxJava has no base URL
//! setting) reaches the sandbox with nothing changed but its proxy and trust settings.
//!
//! - `CONNECT api.weixin.qq.com:443` (or `mp.`, `open.`) → `200`, then TLS is terminated here
//!   with a leaf certificate for that host signed by the local CA ([`ca`]), and the HTTP/1.1
//!   requests inside the tunnel (keep-alive) are served.
//! - Absolute-form plain HTTP (`GET http://api.weixin.qq.com/… HTTP/1.1`) is served as well.
//! - Every other host, port or form is refused with `403` and a one-line reason
//!   ([`target`]). Nothing is ever forwarded: this process opens no outbound connection.
//!
//! Requests are not re-sent over the network: each one is handed, in process, to the same axum
//! router the platform's own listener serves (`fastreg_platform::http::router`), with the
//! client's address as its `ConnectInfo` (the IP whitelist sees the real caller), so the answer
//! is the one the same request gets at the root. The proxy user name picks the world: the
//! request is served as `/w/{user}{path}` (a world's base URL, spec §9); no user, an empty one
//! or `default` is the root. `Proxy-Authorization` is removed before the platform sees it.
//!
//! Its connection and tunnel tasks run in the platform's `PollAgainOnSelfWake`, as the
//! platform's own connections do (`fastreg_platform::http::serve`): every request through a
//! tunnel reads its body, and that wrapper keeps the resulting self-wake out of the tail.
//!
//! This lives in the binary, not the platform: only `fastreg serve` runs a proxy, and the TLS
//! and CA code stays out of the crates other programs embed.

pub mod ca;
pub mod cmd;
pub mod target;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use axum::body::Body;
use fastreg_platform::http::extract::Scope;
use fastreg_platform::http::serve::{backoff_after, PollAgainOnSelfWake};
use fastreg_platform::http::App;
use hyper::body::Incoming;
use hyper::http::{header, Method, Request, Response, StatusCode};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt as _;

use self::ca::Ca;
use self::target::{Refusal, World, WECHAT_HOSTS};

/// How long a client may take to send a request's head (also bounds an idle keep-alive
/// connection).
const HEADER_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a TLS handshake inside a tunnel may take.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// A bound, not yet serving proxy.
pub struct Proxy {
    listener: TcpListener,
    shared: Arc<Shared>,
}

/// What every connection needs: the platform's router and one TLS configuration per host.
struct Shared {
    app: App,
    tls: Vec<(&'static str, Arc<ServerConfig>)>,
}

impl Shared {
    fn tls_for(&self, host: &str) -> Option<Arc<ServerConfig>> {
        self.tls
            .iter()
            .find(|(h, _)| *h == host)
            .map(|(_, c)| c.clone())
    }
}

impl Proxy {
    /// Makes a certificate for each of WeChat's hosts with `ca` and binds `addr`. `app` is the
    /// platform's router (`fastreg_platform::http::router(state)`).
    ///
    /// # Errors
    /// A certificate cannot be made, or the address cannot be bound.
    pub async fn bind(addr: &str, ca: &Ca, app: App) -> anyhow::Result<Proxy> {
        let mut tls = Vec::new();
        for host in WECHAT_HOSTS {
            tls.push((host, tls_config(ca, host)?));
        }
        let listener = TcpListener::bind(addr).await.with_context(|| {
            format!("binding the proxy's address {addr} (set --proxy-addr, or --no-proxy)")
        })?;
        Ok(Proxy {
            listener,
            shared: Arc::new(Shared { app, tls }),
        })
    }

    /// Where it listens.
    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    /// Serves until `stop` turns true (or its sender is dropped): then it accepts nothing new,
    /// lets every connection finish the request it is in, and returns when all have closed.
    pub async fn run(self, stop: watch::Receiver<bool>) {
        // Every connection and tunnel task holds a clone; `recv` returns None once all are gone.
        let (alive, mut all_closed) = mpsc::channel::<()>(1);
        let mut stopping = stop.clone();
        loop {
            tokio::select! {
                () = stopped(&mut stopping) => break,
                accepted = self.listener.accept() => match accepted {
                    Ok((tcp, peer)) => {
                        let _ = tcp.set_nodelay(true);
                        let ctx = Ctx {
                            shared: self.shared.clone(),
                            peer,
                            stop: stop.clone(),
                            _alive: alive.clone(),
                        };
                        tokio::spawn(PollAgainOnSelfWake::new(serve_client(tcp, ctx)));
                    }
                    Err(e) => backoff_after(&e).await,
                },
            }
        }
        drop(self.listener);
        drop(alive);
        let _ = all_closed.recv().await;
    }
}

/// Resolves once `stop` is true or its sender is gone.
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

/// One client connection's context.
#[derive(Clone)]
struct Ctx {
    shared: Arc<Shared>,
    peer: SocketAddr,
    stop: watch::Receiver<bool>,
    /// Held while the task runs (see [`Proxy::run`]).
    _alive: mpsc::Sender<()>,
}

/// Serves `conn` (a hyper connection future) until it ends; on stop, asks it to finish the
/// request in flight and close.
macro_rules! serve_gracefully {
    ($conn:expr, $stop:expr) => {{
        let mut conn = std::pin::pin!($conn);
        let mut stop = $stop;
        tokio::select! {
            served = conn.as_mut() => served,
            () = stopped(&mut stop) => {
                conn.as_mut().graceful_shutdown();
                conn.await
            }
        }
    }};
}

/// A client's connection to the proxy: CONNECT requests and absolute-form requests.
async fn serve_client(tcp: tokio::net::TcpStream, ctx: Ctx) {
    let stop = ctx.stop.clone();
    let svc_ctx = ctx.clone();
    let svc = service_fn(move |req| proxy_request(req, svc_ctx.clone()));
    let conn = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT)
        .serve_connection(TokioIo::new(tcp), svc)
        .with_upgrades();
    if let Err(e) = serve_gracefully!(conn, stop) {
        tracing::debug!(error = %e, peer = %ctx.peer, "proxy connection ended with an error");
    }
}

/// One request to the proxy itself.
async fn proxy_request(req: Request<Incoming>, ctx: Ctx) -> Result<Response<Body>, Infallible> {
    if req.method() == Method::CONNECT {
        let host = match target::connect_target(req.uri()) {
            Ok(host) => host,
            Err(refusal) => return Ok(refuse(&refusal, req.uri())),
        };
        let world = match target::world(req.headers()) {
            Ok(world) => world,
            Err(refusal) => return Ok(refuse(&refusal, req.uri())),
        };
        let Some(tls) = ctx.shared.tls_for(host) else {
            // connect_target only names hosts that have a configuration.
            return Ok(status(StatusCode::INTERNAL_SERVER_ERROR, "no certificate"));
        };
        tokio::spawn(PollAgainOnSelfWake::new(async move {
            match hyper::upgrade::on(req).await {
                Ok(upgraded) => tunnel(upgraded, host, tls, world, ctx).await,
                Err(e) => tracing::debug!(error = %e, "a CONNECT tunnel was not opened"),
            }
        }));
        return Ok(Response::new(Body::empty()));
    }
    if let Err(refusal) = target::absolute_target(req.uri()) {
        return Ok(refuse(&refusal, req.uri()));
    }
    match target::world(req.headers()) {
        Ok(world) => Ok(to_platform(req, &world, &ctx).await),
        Err(refusal) => Ok(refuse(&refusal, req.uri())),
    }
}

/// The inside of a CONNECT tunnel: TLS as `host`, then HTTP/1.1 requests served by the
/// platform in `world`.
async fn tunnel(
    upgraded: hyper::upgrade::Upgraded,
    host: &'static str,
    tls: Arc<ServerConfig>,
    world: World,
    ctx: Ctx,
) {
    let accepting = TlsAcceptor::from(tls).accept(TokioIo::new(upgraded));
    let stream = match tokio::time::timeout(HANDSHAKE_TIMEOUT, accepting).await {
        Ok(Ok(stream)) => stream,
        Ok(Err(e)) => {
            tracing::warn!(
                host,
                peer = %ctx.peer,
                error = %e,
                "TLS handshake in a proxy tunnel failed; does the client trust fastreg's CA \
                 (`fastreg ca`)?"
            );
            return;
        }
        Err(_) => {
            tracing::debug!(host, peer = %ctx.peer, "TLS handshake in a proxy tunnel timed out");
            return;
        }
    };
    let stop = ctx.stop.clone();
    let peer = ctx.peer;
    let world = Arc::new(world);
    let svc = service_fn(move |req| {
        let (world, ctx) = (world.clone(), ctx.clone());
        async move { Ok::<_, Infallible>(to_platform(req, &world, &ctx).await) }
    });
    let conn = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT)
        .serve_connection(TokioIo::new(stream), svc);
    if let Err(e) = serve_gracefully!(conn, stop) {
        tracing::debug!(error = %e, host, %peer, "proxy tunnel ended with an error");
    }
}

/// Hands a request to the platform's router, in process, as the same request at the root (or
/// at the world's base path) with the client's address.
async fn to_platform(req: Request<Incoming>, world: &World, ctx: &Ctx) -> Response<Body> {
    let (mut parts, body) = req.into_parts();
    parts.uri = match target::platform_path(&parts.uri, world).parse() {
        Ok(uri) => uri,
        Err(_) => return status(StatusCode::BAD_REQUEST, "fastreg proxy: a malformed path"),
    };
    parts.headers.remove(header::PROXY_AUTHORIZATION);
    parts.headers.remove("proxy-connection");
    parts.extensions.insert(Scope::from_peer(ctx.peer));
    let req = Request::from_parts(parts, Body::new(body));
    match ctx.shared.app.clone().oneshot(req).await {
        Ok(response) => response,
        Err(never) => match never {},
    }
}

/// 403 with the refusal as a one-line body, logged with what was asked for.
fn refuse(refusal: &Refusal, uri: &hyper::http::Uri) -> Response<Body> {
    // Debug formatting escapes whatever control characters a client put in its target.
    tracing::info!(target_uri = ?uri.to_string(), "proxy refused a request: {}", refusal.0);
    status(StatusCode::FORBIDDEN, &refusal.0)
}

fn status(code: StatusCode, line: &str) -> Response<Body> {
    let mut response = Response::new(Body::from(format!("{line}\n")));
    *response.status_mut() = code;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

/// rustls (ring provider) serving a fresh certificate for `host`, HTTP/1.1 only.
fn tls_config(ca: &Ca, host: &str) -> anyhow::Result<Arc<ServerConfig>> {
    let (chain, key) = ca.leaf(host)?;
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .with_context(|| format!("the TLS certificate for {host}"))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// The proxy `fastreg serve` runs for `settings` beside the platform whose state is `state`,
/// with its CA (loaded, or created on first start).
///
/// # Errors
/// The CA cannot be read or made, or the address cannot be bound.
pub async fn start(
    settings: &fastreg_platform::settings::Settings,
    state: Arc<fastreg_platform::state::AppState>,
) -> anyhow::Result<(Proxy, Ca)> {
    let dir = ca::ca_dir(settings)?;
    let ca = Ca::load_or_create(&dir)?;
    let proxy = Proxy::bind(
        &settings.proxy_addr,
        &ca,
        fastreg_platform::http::router(state),
    )
    .await?;
    Ok((proxy, ca))
}

/// What `fastreg serve` prints (and logs) about a started proxy: its address and the CA to
/// trust. Never the key.
pub fn announce(proxy: &Proxy, ca: &Ca) {
    let addr = proxy.local_addr();
    let cert = ca.cert_path();
    if ca.created() {
        say!("created the proxy's CA in {}", cert.display());
    }
    say!(
        "proxy for api/mp/open.weixin.qq.com listening on http://{addr} (CA: {}; `fastreg ca` shows how to trust it)",
        cert.display()
    );
    tracing::info!(%addr, ca = %cert.display(), "proxy for WeChat's hosts listening");
    if !addr.ip().is_loopback() {
        tracing::warn!(
            %addr,
            "the proxy listens beyond loopback: whoever reaches it is served as WeChat by this sandbox"
        );
    }
}
