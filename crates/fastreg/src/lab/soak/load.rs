//! The soak's load: fastregister over keep-alive connections, mostly the next unused ticket of
//! a random OA (sometimes the one after it, so that one OA has two registrations racing), a
//! third of the time the very call another connection just made (the same ticket contested by
//! several callers), and one call in ten a replay of a ticket answered as a success earlier,
//! which must answer the same appid and authorization_code. Every answer is judged as it
//! arrives: no 5xx, and only the errcodes the rules allow.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use fastreg_wire::paths;
use http_body_util::BodyExt;
use serde_json::{json, Value};

use super::Rng;
use crate::lab::world::{self, connect, SeedOa, OAS_PER_ENTITY};

/// A success as the server answered it.
#[derive(Clone, PartialEq, Eq)]
pub(super) struct Answer {
    pub(super) oa_appid: String,
    pub(super) appid: String,
    pub(super) authorization_code: String,
}

fastreg_wire::debug_masked!(Answer { oa_appid, appid, authorization_code masked });

/// Where an OA's tickets stand, as far as the driver knows.
#[derive(Default)]
struct Cursor {
    /// The first ticket not known to have succeeded.
    next: usize,
    /// Tickets known to have succeeded.
    done: BTreeSet<usize>,
}

#[derive(Default)]
pub(super) struct Answers {
    pub(super) by_ticket: HashMap<String, Answer>,
    pub(super) tickets: Vec<String>,
}

/// Counts across rounds.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Totals {
    pub(super) requests: u64,
    /// Tickets answered as a success for the first time.
    pub(super) new_successes: u64,
    pub(super) unanswered: u64,
    pub(super) replays: u64,
}

/// What every connection shares, across rounds.
pub(super) struct Load {
    pub(super) oas: Vec<SeedOa>,
    /// The world's base path (`/w/{id}`), or empty for the default world.
    pub(super) prefix: String,
    cursors: Vec<Mutex<Cursor>>,
    pub(super) answers: Mutex<Answers>,
    /// OAs refused for quota or cap this round: picked less.
    pub(super) blocked: Vec<AtomicBool>,
    /// The last fresh call made: contested by the next connection that wants a contest.
    pub(super) last_fresh: Mutex<Option<(usize, usize)>>,
    pub(super) by_errcode: Mutex<BTreeMap<i64, u64>>,
    pub(super) totals: Mutex<Totals>,
    pub(super) violations: Mutex<Vec<String>>,
}

#[derive(Debug, Clone)]
pub(super) enum Call {
    /// A ticket of an OA (index), maybe already answered.
    Fresh { oa: usize, ticket: usize },
    /// A ticket answered as a success earlier.
    Replay { ticket: String },
}

impl Load {
    pub(super) fn new(oas: Vec<SeedOa>, prefix: String) -> Load {
        Load {
            prefix,
            cursors: oas.iter().map(|_| Mutex::default()).collect(),
            blocked: oas.iter().map(|_| AtomicBool::new(false)).collect(),
            oas,
            answers: Mutex::default(),
            last_fresh: Mutex::new(None),
            by_errcode: Mutex::default(),
            totals: Mutex::default(),
            violations: Mutex::default(),
        }
    }

    pub(super) fn begin_round(&self) {
        for b in &self.blocked {
            b.store(false, Ordering::Relaxed);
        }
        *self.last_fresh.lock().expect("lock") = None;
    }

    pub(super) fn totals(&self) -> Totals {
        *self.totals.lock().expect("lock")
    }

    pub(super) fn take_violations(&self) -> Vec<String> {
        std::mem::take(&mut *self.violations.lock().expect("lock"))
    }

    pub(super) fn violation(&self, what: String) {
        self.violations.lock().expect("lock").push(what);
    }

    pub(super) fn answered_copy(&self) -> HashMap<String, Answer> {
        self.answers.lock().expect("lock").by_ticket.clone()
    }

    /// The next call a connection makes; `None` when every ticket is used.
    pub(super) fn next_call(&self, rng: &mut Rng) -> Option<Call> {
        let dice = rng.below(100);
        if dice < 10 {
            let answers = self.answers.lock().expect("lock");
            if !answers.tickets.is_empty() {
                let k = rng.below(answers.tickets.len() as u64) as usize;
                return Some(Call::Replay {
                    ticket: answers.tickets[k].clone(),
                });
            }
        }
        if dice < 40 {
            if let Some((oa, ticket)) = *self.last_fresh.lock().expect("lock") {
                return Some(Call::Fresh { oa, ticket });
            }
        }
        let n = self.oas.len() as u64;
        // An OA not refused this round, if one comes up; else any with tickets left.
        for attempt in 0..16 {
            let oa = rng.below(n) as usize;
            if attempt < 8 && self.blocked[oa].load(Ordering::Relaxed) {
                continue;
            }
            let cursor = self.cursors[oa].lock().expect("lock");
            let mut ticket = cursor.next;
            // Sometimes the ticket after: two registrations of one OA racing.
            if rng.below(4) == 0 {
                ticket += 1;
                while cursor.done.contains(&ticket) {
                    ticket += 1;
                }
            }
            if ticket >= self.oas[oa].tickets.len() {
                continue;
            }
            drop(cursor);
            *self.last_fresh.lock().expect("lock") = Some((oa, ticket));
            return Some(Call::Fresh { oa, ticket });
        }
        None
    }

    /// Judges one answer.
    pub(super) fn judge(&self, call: &Call, status: hyper::StatusCode, body: &[u8]) {
        let text = || String::from_utf8_lossy(&body[..body.len().min(300)]).into_owned();
        let mut totals = self.totals.lock().expect("lock");
        totals.requests += 1;
        if status != hyper::StatusCode::OK {
            drop(totals);
            self.violation(format!("fastregister answered HTTP {status}: {}", text()));
            return;
        }
        let Ok(v) = serde_json::from_slice::<Value>(body) else {
            drop(totals);
            self.violation(format!(
                "fastregister answered something else than JSON: {}",
                text()
            ));
            return;
        };
        let code = v.get("errcode").and_then(Value::as_i64).unwrap_or(0);
        *self
            .by_errcode
            .lock()
            .expect("lock")
            .entry(code)
            .or_default() += 1;
        let answer = |oa: &str| Answer {
            oa_appid: oa.into(),
            appid: v["appid"].as_str().unwrap_or_default().into(),
            authorization_code: v["authorization_code"].as_str().unwrap_or_default().into(),
        };
        match call {
            Call::Replay { ticket } => {
                totals.replays += 1;
                drop(totals);
                let answers = self.answers.lock().expect("lock");
                let first = &answers.by_ticket[ticket];
                if code != 0 || answer(&first.oa_appid) != *first {
                    self.violation(format!(
                        "a replay of ticket {ticket} (answered {}) got {}",
                        first.appid,
                        text()
                    ));
                }
            }
            &Call::Fresh { oa, ticket } => match code {
                0 => {
                    drop(totals);
                    let t = &self.oas[oa].tickets[ticket];
                    let now = answer(&self.oas[oa].appid);
                    if now.appid.is_empty() || now.authorization_code.is_empty() {
                        self.violation(format!("a success without appid or code: {}", text()));
                        return;
                    }
                    let mut answers = self.answers.lock().expect("lock");
                    match answers.by_ticket.get(t) {
                        Some(first) if *first != now => {
                            let first = first.appid.clone();
                            drop(answers);
                            self.violation(format!(
                                "ticket {t} was answered {first}, then {}",
                                now.appid
                            ));
                        }
                        Some(_) => {}
                        None => {
                            self.totals.lock().expect("lock").new_successes += 1;
                            answers.by_ticket.insert(t.clone(), now);
                            answers.tickets.push(t.clone());
                            drop(answers);
                            let mut cursor = self.cursors[oa].lock().expect("lock");
                            cursor.done.insert(ticket);
                            while cursor.done.contains(&cursor.next) {
                                cursor.next += 1;
                            }
                        }
                    }
                }
                61055 => self.blocked[oa].store(true, Ordering::Relaxed),
                61053 => {
                    let first = oa / OAS_PER_ENTITY * OAS_PER_ENTITY;
                    for b in &self.blocked[first..(first + OAS_PER_ENTITY).min(self.oas.len())] {
                        b.store(true, Ordering::Relaxed);
                    }
                }
                61057 | 61058 => {}
                other => {
                    drop(totals);
                    self.violation(format!("fastregister answered errcode {other}: {}", text()));
                }
            },
        }
    }
}

/// One connection: calls until the kill.
/// One connection's calls to the server at `addr` until `killed` (that server's) is set.
pub(super) async fn worker(
    load: Arc<Load>,
    addr: SocketAddr,
    killed: Arc<AtomicBool>,
    mut rng: Rng,
) {
    let Ok(mut sender) = connect(addr).await else {
        if !killed.load(Ordering::SeqCst) {
            load.violation("could not connect to the running server".into());
        }
        return;
    };
    while !killed.load(Ordering::SeqCst) {
        let Some(call) = load.next_call(&mut rng) else {
            tokio::time::sleep(Duration::from_millis(5)).await;
            continue;
        };
        let (token, ticket) = match &call {
            Call::Fresh { oa, ticket } => {
                let o = &load.oas[*oa];
                (o.token.as_str(), o.tickets[*ticket].clone())
            }
            Call::Replay { ticket } => {
                let answers = load.answers.lock().expect("lock");
                let oa = answers.by_ticket[ticket].oa_appid.clone();
                drop(answers);
                let o = load
                    .oas
                    .iter()
                    .find(|o| o.appid == oa)
                    .expect("an answered OA is seeded");
                (o.token.as_str(), ticket.clone())
            }
        };
        let request = world::post(
            format!(
                "{}{}?access_token={token}",
                load.prefix,
                paths::FAST_REGISTER
            ),
            Bytes::from(json!({ "ticket": ticket }).to_string()),
        );
        let answer = async {
            sender.ready().await?;
            let res = sender.send_request(request).await?;
            let status = res.status();
            let body = res.into_body().collect().await?.to_bytes();
            Ok::<_, hyper::Error>((status, body))
        }
        .await;
        match answer {
            Ok((status, body)) => load.judge(&call, status, &body),
            Err(e) => {
                if killed.load(Ordering::SeqCst) {
                    load.totals.lock().expect("lock").unanswered += 1;
                    return;
                }
                load.violation(format!("a connection failed while the server was up: {e}"));
                match connect(addr).await {
                    Ok(s) => sender = s,
                    Err(_) => return,
                }
            }
        }
    }
}
