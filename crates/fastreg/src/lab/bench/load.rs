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
use crate::lab::world::{self, connect, errcode, Sender, COMPONENT};

// ---------------------------------------------------------------------------------------------
// The static ceiling
// ---------------------------------------------------------------------------------------------

pub(super) async fn start_static() -> anyhow::Result<SocketAddr> {
    use axum::http::header::CONTENT_TYPE;
    async fn ok() -> impl axum::response::IntoResponse {
        (
            [(CONTENT_TYPE, "application/json")],
            r#"{"errcode":0,"errmsg":"ok"}"#,
        )
    }
    let router = axum::Router::new().route("/", axum::routing::get(ok).post(ok));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
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
}

/// Unknown tickets drawn per 61058 run.
const UNKNOWN_TICKETS: usize = 16_384;

impl Work {
    pub(super) fn new(scenario: Scenario, seeded: &Arc<Seeded>, prefix: &str) -> Arc<Work> {
        let unknown_tickets = match scenario {
            Scenario::RefusalTicket => (0..UNKNOWN_TICKETS)
                .map(|_| secrets::fastregister_ticket())
                .collect(),
            _ => Vec::new(),
        };
        Arc::new(Work {
            scenario,
            seeded: seeded.clone(),
            prefix: prefix.to_string(),
            next: AtomicUsize::new(0),
            unknown_tickets,
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
            Scenario::RefusalTicket => {
                let o = &s.oas[k % s.oas.len()];
                let ticket = &self.unknown_tickets[k % self.unknown_tickets.len()];
                fast_register(&o.token, ticket)
            }
            Scenario::AuthorizerToken => {
                let o = &s.oas[k % s.oas.len()];
                (
                    format!(
                        "{}{}?component_access_token={}",
                        self.prefix,
                        paths::API_AUTHORIZER_TOKEN,
                        s.component_token
                    ),
                    Bytes::from(
                        serde_json::json!({
                            "component_appid": COMPONENT,
                            "authorizer_appid": o.appid,
                            "authorizer_refresh_token": o.refresh_token,
                        })
                        .to_string(),
                    ),
                )
            }
            Scenario::Static => ("/".to_string(), Bytes::from_static(b"{}")),
        })
    }
}

/// What one connection measured.
struct Tally {
    hist: Histogram<u64>,
    requests: u64,
    mismatches: u64,
    errors: u64,
    exhausted: bool,
    sample: Option<String>,
}

/// Runs one scenario: `connections` connections, each sending its next request when the
/// previous answer arrived, for `warmup` (answers checked, not counted) and then `duration`.
pub(super) async fn drive(
    addr: SocketAddr,
    work: Arc<Work>,
    scenario: Scenario,
    connections: usize,
    warmup: Duration,
    duration: Duration,
) -> anyhow::Result<Figures> {
    let mut senders = Vec::with_capacity(connections);
    for _ in 0..connections {
        senders.push(connect(addr).await?);
    }
    let started = Instant::now() + warmup;
    let window = Window {
        from: started,
        until: started + duration,
    };
    let expected = scenario.expected_errcode();
    let tasks: Vec<_> = senders
        .into_iter()
        .map(|sender| {
            let work = work.clone();
            tokio::spawn(one_connection(addr, sender, work, expected, window))
        })
        .collect();
    let mut hist = new_histogram();
    let (mut requests, mut mismatches, mut errors, mut exhausted) = (0, 0, 0, false);
    let mut sample = None;
    for t in tasks {
        let t = t.await?;
        hist.add(&t.hist)?;
        requests += t.requests;
        mismatches += t.mismatches;
        errors += t.errors;
        exhausted |= t.exhausted;
        sample = sample.or(t.sample);
    }
    // From the start of the window (a success scenario out of tickets may end before it).
    let elapsed = Instant::now()
        .saturating_duration_since(started)
        .as_secs_f64()
        .max(1e-6);
    let ms = |q: f64| round(hist.value_at_quantile(q) as f64 / 1000.0, 3);
    Ok(Figures {
        expected_errcode: expected,
        requests,
        mismatches,
        errors,
        elapsed_secs: round(elapsed, 3),
        throughput_per_sec: round(requests as f64 / elapsed, 1),
        p50_ms: ms(0.5),
        p99_ms: ms(0.99),
        p999_ms: ms(0.999),
        max_ms: round(hist.max() as f64 / 1000.0, 3),
        ratio_to_static: None,
        exhausted,
        mismatch_sample: sample,
    })
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
    addr: SocketAddr,
    mut sender: Sender,
    work: Arc<Work>,
    expected: i64,
    window: Window,
) -> Tally {
    let mut t = Tally {
        hist: new_histogram(),
        requests: 0,
        mismatches: 0,
        errors: 0,
        exhausted: false,
        sample: None,
    };
    while Instant::now() < window.until {
        let Some((uri, body)) = work.next() else {
            t.exhausted = true;
            break;
        };
        let request = world::post(uri, body);
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
                match connect(addr).await {
                    Ok(s) => sender = s,
                    Err(_) => break,
                }
            }
        }
    }
    t
}
