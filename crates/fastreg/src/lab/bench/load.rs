//! The load of `fastreg bench`: where each scenario's requests come from, the connections that
//! send them and time the answers, and a static JSON handler in the same binary as the ceiling
//! of HTTP handling on this machine.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use fastreg_platform::secrets;
use fastreg_wire::paths;
use hdrhistogram::Histogram;
use http_body_util::BodyExt;

use super::{round, Figures, Scenario, Seeded, TICKETS_PER_OA};
use crate::lab::world::{self, connect, errcode, SeedOa, Sender, COMPONENT};

// ---------------------------------------------------------------------------------------------
// The static ceiling
// ---------------------------------------------------------------------------------------------

pub(super) async fn start_static() -> anyhow::Result<SocketAddr> {
    serve_static("127.0.0.1:0").await
}

/// The static handler at `addr`, in a task of its own; the address it listens on.
///
/// `/` answers without reading a request body (the ceiling every figure is measured against);
/// `/body` reads the body first, as every WeChat API call's handler must. Both are plain
/// `axum::serve`: taking the body wakes the connection's own task, which tokio then queues
/// behind its worker's other tasks, and under saturation on two cores that shows in `/body`'s
/// tail. The platform polls such a task again in place (`fastreg_platform::http::serve`); the
/// ceiling stays as axum serves it, so the side by side shows what that is worth
/// (scripts/side-by-side.sh, BENCHMARKS.md).
pub(super) async fn serve_static(addr: &str) -> anyhow::Result<SocketAddr> {
    use axum::http::header::CONTENT_TYPE;
    async fn ok() -> impl axum::response::IntoResponse {
        (
            [(CONTENT_TYPE, "application/json")],
            r#"{"errcode":0,"errmsg":"ok"}"#,
        )
    }
    async fn ok_after_body(_body: Bytes) -> impl axum::response::IntoResponse {
        ok().await
    }
    let router = axum::Router::new()
        .route("/", axum::routing::get(ok).post(ok))
        .route("/body", axum::routing::post(ok_after_body));
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    Ok(addr)
}

// ---------------------------------------------------------------------------------------------
// The load generator
// ---------------------------------------------------------------------------------------------

/// Where a scenario's requests come from. Shared by every connection.
pub(super) struct Work {
    scenario: Scenario,
    seeded: Arc<Seeded>,
    /// The world's base path (`/w/{id}`; empty for the default world).
    prefix: String,
    next: AtomicUsize,
    /// Random tickets nobody issued, drawn before the clock starts and used in turn, so that
    /// the load generator's own CSPRNG draws do not count against the 61058 scenario. (The
    /// platform keeps nothing about an unknown ticket, so a repeated one costs it the same.)
    unknown_tickets: Vec<String>,
    /// api_authorizer_token's request for each OA, built before the clock starts for the same
    /// reason: the load generator's JSON is not the platform's work.
    refreshes: Vec<(String, Bytes)>,
}

/// Unknown tickets drawn per 61058 run.
const UNKNOWN_TICKETS: usize = 16_384;

impl Work {
    pub(super) fn new(scenario: Scenario, seeded: &Arc<Seeded>, prefix: &str) -> Arc<Work> {
        let unknown_tickets = match scenario {
            Scenario::RefusalTicket | Scenario::RefusalTicketProxy => (0..UNKNOWN_TICKETS)
                .map(|_| secrets::fastregister_ticket())
                .collect(),
            _ => Vec::new(),
        };
        let refreshes = match scenario {
            Scenario::AuthorizerToken => seeded
                .oas
                .iter()
                .map(|o| refresh_request(prefix, &seeded.component_token, o))
                .collect(),
            _ => Vec::new(),
        };
        Arc::new(Work {
            scenario,
            seeded: seeded.clone(),
            prefix: prefix.to_string(),
            next: AtomicUsize::new(0),
            unknown_tickets,
            refreshes,
        })
    }

    /// The next request's path and query, and body; `None` when the (token, ticket) pairs
    /// of the success scenario are all used.
    fn next(&self) -> Option<(String, Bytes)> {
        let k = self.next.fetch_add(1, Ordering::Relaxed);
        let s = &self.seeded;
        let fast_register = |token: &str, ticket: &str| {
            (
                format!(
                    "{}{}?access_token={token}",
                    self.prefix,
                    paths::FAST_REGISTER
                ),
                Bytes::from(format!(r#"{{"ticket":"{ticket}"}}"#)),
            )
        };
        Some(match self.scenario {
            Scenario::Success => {
                // Ticket-major, so that consecutive requests are for different OAs.
                let n = s.oas.len();
                if k >= n * TICKETS_PER_OA {
                    return None;
                }
                let o = &s.oas[k % n];
                fast_register(&o.token, &o.tickets[k / n])
            }
            Scenario::RefusalQuota => {
                let o = &s.quota_oas[k % s.quota_oas.len()];
                fast_register(&o.token, &o.tickets[0])
            }
            Scenario::RefusalTicket | Scenario::RefusalTicketProxy => {
                let o = &s.oas[k % s.oas.len()];
                let ticket = &self.unknown_tickets[k % self.unknown_tickets.len()];
                fast_register(&o.token, ticket)
            }
            Scenario::AuthorizerToken => self.refreshes[k % self.refreshes.len()].clone(),
            Scenario::Static => ("/".to_string(), Bytes::from_static(b"{}")),
        })
    }
}

/// api_authorizer_token's path and query, and body, for OA `o`.
fn refresh_request(prefix: &str, component_token: &str, o: &SeedOa) -> (String, Bytes) {
    let path = format!(
        "{prefix}{}?component_access_token={component_token}",
        paths::API_AUTHORIZER_TOKEN
    );
    let body = serde_json::json!({
        "component_appid": COMPONENT,
        "authorizer_appid": o.appid,
        "authorizer_refresh_token": o.refresh_token,
    });
    (path, Bytes::from(body.to_string()))
}

/// What one connection, one run of a scenario or several runs of it measured, before it
/// becomes [`Figures`].
pub(super) struct Measured {
    hist: Histogram<u64>,
    requests: u64,
    mismatches: u64,
    errors: u64,
    exhausted: bool,
    sample: Option<String>,
    /// The time the counted requests were sent in, summed over the runs.
    elapsed_secs: f64,
}

impl Measured {
    /// Nothing measured yet.
    pub(super) fn new() -> Measured {
        Measured {
            hist: new_histogram(),
            requests: 0,
            mismatches: 0,
            errors: 0,
            exhausted: false,
            sample: None,
            elapsed_secs: 0.0,
        }
    }

    /// Adds `other`'s requests and time to these.
    pub(super) fn merge(&mut self, other: &Measured) -> anyhow::Result<()> {
        self.hist.add(&other.hist)?;
        self.requests += other.requests;
        self.mismatches += other.mismatches;
        self.errors += other.errors;
        self.exhausted |= other.exhausted;
        self.elapsed_secs += other.elapsed_secs;
        if self.sample.is_none() {
            self.sample.clone_from(&other.sample);
        }
        Ok(())
    }

    /// Whether the success scenario ran out of unused (token, ticket) pairs.
    pub(super) fn exhausted(&self) -> bool {
        self.exhausted
    }

    pub(super) fn throughput_per_sec(&self) -> f64 {
        self.requests as f64 / self.elapsed_secs.max(1e-6)
    }

    /// The figures of `scenario`, whose ceiling measured beside it answered `beside` per second
    /// (the static scenario is its own).
    pub(super) fn figures(&self, scenario: Scenario, beside: Option<f64>) -> Figures {
        let ms = |q: f64| round(self.hist.value_at_quantile(q) as f64 / 1000.0, 3);
        let throughput = self.throughput_per_sec();
        let beside = match scenario {
            Scenario::Static => Some(throughput),
            _ => beside,
        };
        Figures {
            expected_errcode: scenario.expected_errcode(),
            requests: self.requests,
            mismatches: self.mismatches,
            errors: self.errors,
            elapsed_secs: round(self.elapsed_secs, 3),
            throughput_per_sec: round(throughput, 1),
            p50_ms: ms(0.5),
            p99_ms: ms(0.99),
            p999_ms: ms(0.999),
            max_ms: round(self.hist.max() as f64 / 1000.0, 3),
            static_beside_per_sec: beside.map(|b| round(b, 1)),
            ratio_to_static: beside
                .filter(|b| *b > 0.0)
                .map(|b| round(throughput / b, 3)),
            exhausted: self.exhausted,
            mismatch_sample: self.sample.clone(),
        }
    }
}

/// Runs one scenario: `connections` connections, spread over `targets` in turn, each sending
/// its next request when the previous answer arrived, for `warmup` (answers checked, not
/// counted) and then `duration`.
pub(super) async fn drive(
    targets: &[Target],
    work: Arc<Work>,
    connections: usize,
    warmup: Duration,
    duration: Duration,
) -> anyhow::Result<Measured> {
    let mut senders = Vec::with_capacity(connections);
    for i in 0..connections {
        let target = &targets[i % targets.len()];
        senders.push((target.clone(), target.connect().await?));
    }
    let started = Instant::now() + warmup;
    let window = Window {
        from: started,
        until: started + duration,
    };
    let expected = work.scenario.expected_errcode();
    let tasks: Vec<_> = senders
        .into_iter()
        .map(|(target, sender)| {
            let work = work.clone();
            tokio::spawn(one_connection(target, sender, work, expected, window))
        })
        .collect();
    let mut m = Measured::new();
    for t in tasks {
        // Each connection's time is the window's, counted once below.
        m.merge(&t.await?)?;
    }
    // From the start of the window (a success scenario out of tickets may end before it).
    m.elapsed_secs = Instant::now()
        .saturating_duration_since(started)
        .as_secs_f64();
    Ok(m)
}

fn new_histogram() -> Histogram<u64> {
    // 1 µs to 60 s, 3 significant digits.
    Histogram::new_with_bounds(1, 60_000_000, 3).expect("valid histogram bounds")
}

/// When requests count: sent from `from`, until `until`.
#[derive(Debug, Clone, Copy)]
struct Window {
    from: Instant,
    until: Instant,
}

async fn one_connection(
    target: Target,
    mut sender: Sender,
    work: Arc<Work>,
    expected: i64,
    window: Window,
) -> Measured {
    let mut t = Measured::new();
    while Instant::now() < window.until {
        let Some((uri, body)) = work.next() else {
            t.exhausted = true;
            break;
        };
        let mut request = world::post(uri, body);
        if let Target::Proxy { .. } = target {
            request.headers_mut().insert(
                hyper::header::HOST,
                hyper::header::HeaderValue::from_static(PROXIED_HOST),
            );
        }
        let sent = Instant::now();
        let answer = async {
            sender.ready().await?;
            let res = sender.send_request(request).await?;
            let status = res.status();
            let body = res.into_body().collect().await?.to_bytes();
            Ok::<_, hyper::Error>((status, body))
        }
        .await;
        let micros = u64::try_from(sent.elapsed().as_micros()).unwrap_or(u64::MAX);
        match answer {
            Ok((status, body)) => {
                // Every answer is checked; only those sent within the window are counted.
                if sent >= window.from {
                    t.hist.saturating_record(micros.max(1));
                    t.requests += 1;
                }
                if !status.is_success() || errcode(&body) != Some(expected) {
                    t.mismatches += 1;
                    if t.sample.is_none() {
                        t.sample = Some(format!(
                            "HTTP {status}: {}",
                            String::from_utf8_lossy(&body[..body.len().min(300)])
                        ));
                    }
                }
            }
            Err(_) => {
                t.errors += 1;
                match target.connect().await {
                    Ok(s) => sender = s,
                    Err(_) => break,
                }
            }
        }
    }
    t
}

/// The WeChat host the proxy scenario's tunnel is for.
const PROXIED_HOST: &str = "api.weixin.qq.com";

/// Where a scenario's connections go: straight to a listener, or through the proxy.
#[derive(Clone)]
pub(super) enum Target {
    /// A plain HTTP/1.1 listener.
    Direct(SocketAddr),
    /// The proxy: `CONNECT api.weixin.qq.com:443`, then TLS trusting only the run's CA.
    Proxy {
        addr: SocketAddr,
        tls: tokio_rustls::TlsConnector,
    },
}

impl Target {
    /// The proxy at `addr`, whose certificates the CA `ca_pem` signs.
    pub(super) fn proxy(addr: SocketAddr, ca_pem: &str) -> anyhow::Result<Target> {
        use tokio_rustls::rustls;
        let mut roots = rustls::RootCertStore::empty();
        for cert in rustls_pemfile_certs(ca_pem)? {
            roots.add(cert)?;
        }
        let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots)
            .with_no_client_auth();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Target::Proxy {
            addr,
            tls: tokio_rustls::TlsConnector::from(std::sync::Arc::new(config)),
        })
    }

    /// One keep-alive connection.
    pub(super) async fn connect(&self) -> anyhow::Result<Sender> {
        match self {
            Target::Direct(addr) => connect(*addr).await,
            Target::Proxy { addr, tls } => {
                use tokio::io::{AsyncReadExt, AsyncWriteExt};
                let mut stream = tokio::net::TcpStream::connect(addr).await?;
                stream.set_nodelay(true)?;
                stream
                    .write_all(
                        format!(
                            "CONNECT {PROXIED_HOST}:443 HTTP/1.1\r\nHost: {PROXIED_HOST}:443\r\n\r\n"
                        )
                        .as_bytes(),
                    )
                    .await?;
                // The proxy's answer to CONNECT: a status line and headers, nothing after.
                let mut head = Vec::new();
                while !head.ends_with(b"\r\n\r\n") {
                    let mut byte = [0u8; 1];
                    if stream.read(&mut byte).await? == 0 {
                        anyhow::bail!("the proxy closed the connection during CONNECT");
                    }
                    head.push(byte[0]);
                }
                if !head.starts_with(b"HTTP/1.1 200") {
                    anyhow::bail!(
                        "the proxy refused CONNECT: {}",
                        String::from_utf8_lossy(&head)
                            .lines()
                            .next()
                            .unwrap_or_default()
                    );
                }
                let name = tokio_rustls::rustls::pki_types::ServerName::try_from(PROXIED_HOST)?;
                let tunnel = tls.connect(name, stream).await?;
                let (sender, conn) =
                    hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tunnel))
                        .await?;
                tokio::spawn(async move {
                    let _ = conn.await;
                });
                Ok(sender)
            }
        }
    }
}

/// The certificates of a PEM text.
fn rustls_pemfile_certs(
    pem: &str,
) -> anyhow::Result<Vec<tokio_rustls::rustls::pki_types::CertificateDer<'static>>> {
    use tokio_rustls::rustls::pki_types::pem::PemObject;
    tokio_rustls::rustls::pki_types::CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| anyhow::anyhow!("the CA certificate: {e:?}"))
}
