//! The rounds of a soak. Each starts `fastreg serve` on the database as a child process (this
//! executable) and waits for its first answer (the start time); every other round moves the
//! sandbox clock to the next month, so quotas refill, and the rounds in between test the quota
//! across a crash; some set a processing delay, so that kills land while registrations are in
//! progress. At a random moment the child gets SIGKILL. After the kill the database file is
//! read as the crash left it and checked; after the restart the server is asked through the
//! sandbox API (nothing in progress, every answered success listed, a sample replayed). The
//! server must answer within `--start-bound` seconds of its spawn and log no error.
//!
//! With `--instances N` (PostgreSQL) a round starts N servers on the database and spreads the
//! connections over them; each is killed at a random moment of its own, the others answering
//! on until theirs. A clock or config change made through one is awaited on the others before
//! the load starts (they take it from the database within a second).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use fastreg_platform::domain::WorldKey;
use fastreg_platform::rules::Policy;
use fastreg_platform::settings::RuntimeConfig;
use fastreg_platform::store::Store;
use fastreg_wire::paths;
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, BufReader};

use super::checks::{check, Snapshot};
use super::load::{worker, Answer, Load};
use super::summary::Summary;
use super::{progress, Rng, SoakArgs, A_MONTH, DELAYS_MS, REPLAYS_AFTER_RESTART};
use crate::lab::world::SeedOa;

pub(super) struct Soak<'a> {
    pub(super) args: &'a SoakArgs,
    pub(super) seed: u64,
    pub(super) rng: Rng,
    pub(super) dir: PathBuf,
    pub(super) db: String,
    pub(super) admin: String,
    pub(super) exe: PathBuf,
    pub(super) load: Arc<Load>,
    /// The run's world (id, key), when it has one (PostgreSQL).
    pub(super) world: Option<(String, WorldKey)>,
    /// The rules the server runs with (read at the first start).
    pub(super) policy: Option<Policy>,
    pub(super) starts: usize,
    pub(super) summary: Summary,
}

/// A running `fastreg serve`.
struct Server {
    child: tokio::process::Child,
    addr: SocketAddr,
    base: String,
    http: reqwest::Client,
    log: PathBuf,
}

impl Soak<'_> {
    pub(super) async fn run(&mut self) -> anyhow::Result<()> {
        for round in 0..self.args.rounds {
            let Some(mut servers) = self.start_all(round).await? else {
                return Ok(());
            };
            if round > 0 {
                self.after_restart(round, &servers).await?;
            }
            self.load_and_kill(round, &mut servers).await?;
            self.after_kill(round, false).await?;
            if !self.summary.violation_list.is_empty() {
                return Ok(());
            }
        }
        // A last start: the state the last kill left must come up clean too.
        let round = self.args.rounds;
        let Some(mut servers) = self.start_all(round).await? else {
            return Ok(());
        };
        self.after_restart(round, &servers).await?;
        for server in &mut servers {
            server.child.start_kill()?;
            server.child.wait().await?;
            self.check_log(round, &server.log);
        }
        // Nothing may be in progress now: the last start abandoned what the kill left.
        self.after_kill(round, true).await
    }

    fn violation(&mut self, round: usize, what: impl std::fmt::Display) {
        let line = format!("round {round}: {what}");
        progress(self.args, format_args!("VIOLATION {line}"));
        self.summary.violation_list.push(line);
    }

    /// Starts `--instances` servers, one after the other (each migrates and abandons what
    /// the last kills left in progress before it answers). `None` when one does not start.
    async fn start_all(&mut self, round: usize) -> anyhow::Result<Option<Vec<Server>>> {
        let mut servers = Vec::with_capacity(self.args.instances);
        for _ in 0..self.args.instances {
            match self.start(round).await? {
                Some(s) => servers.push(s),
                None => return Ok(None),
            }
        }
        Ok(Some(servers))
    }

    /// The URL of sandbox API `path` on `server`, in the run's world.
    fn sandbox_url(&self, server: &Server, path: &str) -> String {
        format!("{}{}/sandbox/v1{path}", server.base, self.load.prefix)
    }

    /// Spawns `fastreg serve` and waits for its first answer. `None` (with a violation
    /// recorded) when it does not start cleanly.
    async fn start(&mut self, round: usize) -> anyhow::Result<Option<Server>> {
        self.starts += 1;
        let log = self.dir.join(format!("server-{:03}.log", self.starts));
        let log_file = std::fs::File::create(&log).context("creating a server log file")?;
        let mut cmd = tokio::process::Command::new(&self.exe);
        // The run is hermetic: no settings from the caller's environment or directory.
        for (k, _) in std::env::vars() {
            if k.starts_with("FASTREG_") {
                cmd.env_remove(k);
            }
        }
        cmd.env("FASTREG_LOG", "warn")
            .args([
                "--log-format",
                "json",
                "serve",
                "--addr",
                "127.0.0.1:0",
                "--no-proxy",
            ])
            .args(["--db", &self.db, "--admin-token", &self.admin])
            .args(["--durability", self.args.durability.name()])
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log_file))
            .kill_on_drop(true);
        let spawned = Instant::now();
        let bound = Duration::from_secs_f64(self.args.start_bound);
        let mut child = cmd.spawn().context("spawning fastreg serve")?;
        let stdout = child.stdout.take().context("the server's stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let banner = tokio::time::timeout(bound, async {
            while let Some(line) = lines.next_line().await? {
                if let Some(rest) = line.strip_prefix("fastreg platform listening on http://") {
                    return Ok::<_, anyhow::Error>(Some(rest.trim().parse::<SocketAddr>()?));
                }
            }
            Ok(None)
        })
        .await;
        let addr = match banner {
            Ok(Ok(Some(addr))) => addr,
            other => {
                let why = match other {
                    Err(_) => format!("printed no address within {bound:?}"),
                    Ok(Err(e)) => format!("printed a bad address: {e}"),
                    Ok(Ok(_)) => format!("exited: {:?}", child.wait().await.ok()),
                };
                let _ = child.start_kill();
                let tail = log_tail(&log);
                self.violation(
                    round,
                    format_args!("the server did not start: {why}; log: {tail}"),
                );
                return Ok(None);
            }
        };
        // Whatever else it prints is read, as a terminal would.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()?;
        let base = format!("http://{addr}");
        let server = Server {
            child,
            addr,
            base,
            http,
            log,
        };
        loop {
            let answered = server
                .http
                .get(self.sandbox_url(&server, "/clock"))
                .bearer_auth(&self.admin)
                .send()
                .await
                .is_ok_and(|r| r.status().is_success());
            if answered {
                break;
            }
            if spawned.elapsed() > bound {
                self.violation(
                    round,
                    format_args!("the server did not answer within {bound:?}"),
                );
                return Ok(None);
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let secs = spawned.elapsed().as_secs_f64();
        self.summary.start_secs.push(secs);
        if self.policy.is_none() {
            let config: RuntimeConfig = self.admin_call(&server, "GET", "/config", None).await?;
            self.policy = Some(config.rules);
        }
        Ok(Some(server))
    }

    /// A sandbox API call that must succeed.
    async fn admin_call<T: serde::de::DeserializeOwned>(
        &self,
        server: &Server,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<T> {
        let mut req = server
            .http
            .request(method.parse()?, self.sandbox_url(server, path))
            .bearer_auth(&self.admin);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req
            .send()
            .await
            .with_context(|| format!("{method} {path}"))?;
        let status = resp.status();
        let text = resp.text().await?;
        if !status.is_success() {
            bail!("{method} {path} answered {status}: {text}");
        }
        serde_json::from_str(&text).with_context(|| format!("{method} {path}: {text}"))
    }

    /// Every OA's registrations as the sandbox API lists them (eight calls at a time).
    async fn listings(&self, server: &Server, oas: &[SeedOa]) -> anyhow::Result<Vec<Vec<Value>>> {
        let permits = Arc::new(tokio::sync::Semaphore::new(8));
        let mut calls = tokio::task::JoinSet::new();
        for (k, oa) in oas.iter().enumerate() {
            let (http, permits) = (server.http.clone(), permits.clone());
            let url = self.sandbox_url(
                server,
                &format!("/registrations?appid={}&limit=10000", oa.appid),
            );
            let admin = self.admin.clone();
            calls.spawn(async move {
                let _permit = permits.acquire_owned().await?;
                let resp = http.get(&url).bearer_auth(admin).send().await?;
                let status = resp.status();
                let text = resp.text().await?;
                if !status.is_success() {
                    bail!("GET {url} answered {status}: {text}");
                }
                let listed: Vec<Value> = serde_json::from_str(&text)?;
                Ok((k, listed))
            });
        }
        let mut out = vec![Vec::new(); oas.len()];
        while let Some(done) = calls.join_next().await {
            let (k, listed) = done??;
            out[k] = listed;
        }
        Ok(out)
    }

    /// Loads the servers and kills each with SIGKILL at a random moment of its own.
    async fn load_and_kill(&mut self, round: usize, servers: &mut [Server]) -> anyhow::Result<()> {
        let first = &servers[0];
        if round > 0 && round.is_multiple_of(2) {
            let _: Value = self
                .admin_call(
                    first,
                    "POST",
                    "/clock/advance",
                    Some(json!({"seconds": A_MONTH})),
                )
                .await?;
            self.summary.months += 1;
        }
        let delay = DELAYS_MS[self.rng.below(DELAYS_MS.len() as u64) as usize];
        if delay > 0 {
            let _: Value = self
                .admin_call(
                    first,
                    "PATCH",
                    "/config",
                    Some(json!({"processing_delay_ms": delay})),
                )
                .await?;
        }
        self.agree(servers).await?;
        self.summary.delays_ms.push(delay);
        let mut kills: Vec<(f64, usize)> = (0..servers.len())
            .map(|k| (self.args.seconds * (0.25 + 0.75 * self.rng.unit()), k))
            .collect();
        kills.sort_by(|a, b| a.0.total_cmp(&b.0));
        let load = self.load.clone();
        load.begin_round();
        let flags: Vec<Arc<AtomicBool>> = servers
            .iter()
            .map(|_| Arc::new(AtomicBool::new(false)))
            .collect();
        let workers: Vec<_> = (0..self.args.connections)
            .map(|w| {
                let rng = Rng::new(
                    self.seed
                        ^ ((round as u64) << 32 | w as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15),
                );
                let k = w % servers.len();
                tokio::spawn(worker(load.clone(), servers[k].addr, flags[k].clone(), rng))
            })
            .collect();
        let before = load.totals();
        let started = Instant::now();
        for &(at, k) in &kills {
            let server = &mut servers[k];
            let wait = Duration::from_secs_f64(at).saturating_sub(started.elapsed());
            let exited = tokio::select! {
                () = tokio::time::sleep(wait) => None,
                status = server.child.wait() => Some(status),
            };
            if let Some(status) = exited {
                let tail = log_tail(&server.log);
                self.violation(
                    round,
                    format_args!("a server exited by itself: {status:?}; log: {tail}"),
                );
            }
            flags[k].store(true, Ordering::SeqCst);
            let _ = server.child.start_kill();
            server.child.wait().await?;
            self.summary.kills += 1;
        }
        for w in workers {
            w.await?;
        }
        for server in servers.iter() {
            self.check_log(round, &server.log);
        }
        for v in load.take_violations() {
            self.violation(round, v);
        }
        let after = load.totals();
        let moments: Vec<String> = kills.iter().map(|(at, _)| format!("{at:.2}")).collect();
        progress(
            self.args,
            format_args!(
                "round {round}: delay {delay} ms, killed after {} s: {} answers, {} new successes, {} cut by the kills",
                moments.join(" and "),
                after.requests - before.requests,
                after.new_successes - before.new_successes,
                after.unanswered - before.unanswered
            ),
        );
        Ok(())
    }

    /// Waits until every server has the first one's clock and config (the others take a
    /// change from the database within a second).
    async fn agree(&self, servers: &[Server]) -> anyhow::Result<()> {
        let Some((first, others)) = servers.split_first() else {
            return Ok(());
        };
        let want: (Value, Value) = (
            self.admin_call(first, "GET", "/clock", None).await?,
            self.admin_call(first, "GET", "/config", None).await?,
        );
        for other in others {
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                let clock: Value = self.admin_call(other, "GET", "/clock", None).await?;
                let config: Value = self.admin_call(other, "GET", "/config", None).await?;
                if clock["offset"] == want.0["offset"] && config == want.1 {
                    break;
                }
                if Instant::now() > deadline {
                    bail!("the instances did not agree on the clock and config within 10 s");
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        Ok(())
    }

    /// Errors the server logged are violations (a 5xx is logged as one).
    fn check_log(&mut self, round: usize, log: &Path) {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        for line in text.lines().filter(|l| l.contains(r#""level":"ERROR""#)) {
            self.violation(round, format_args!("the server logged an error: {line}"));
        }
    }

    /// Reads the database as the kill left it and checks every invariant.
    async fn after_kill(&mut self, round: usize, restarted: bool) -> anyhow::Result<()> {
        let store = Store::open(&self.db, self.args.durability.store())
            .await
            .context("opening the database after the kill")?;
        let store = match &self.world {
            Some((_, key)) => store.in_world(*key),
            None => store,
        };
        let snapshot = store
            .read(|tx| {
                let mut entities = Vec::new();
                for e in tx.entities()? {
                    let counted = tx.count_entity_mini_programs(e.id)?;
                    entities.push((e, counted));
                }
                Ok(Snapshot {
                    entities,
                    mini_programs: tx.mini_programs(u32::MAX)?,
                    registrations: tx.registrations(None, u32::MAX)?,
                })
            })
            .await?;
        drop(store);
        let answered = self.load.answered_copy();
        let policy = self.policy.clone().unwrap_or_default();
        let findings = check(&snapshot, &answered, &policy, restarted);
        self.summary.checked_after_kills += findings.checked;
        if !restarted {
            self.summary.in_progress_at_kills += findings.in_progress;
        }
        self.summary.registrations_in_database = snapshot.registrations.len();
        self.summary.mini_programs_in_database = snapshot.mini_programs.len();
        for v in findings.violations {
            self.violation(round, v);
        }
        Ok(())
    }

    /// After a restart, through the sandbox API: nothing in progress, every answered success
    /// listed with its appid, and a sample of them replayed.
    async fn after_restart(&mut self, round: usize, servers: &[Server]) -> anyhow::Result<()> {
        let server = &servers[0];
        let answered = self.load.answered_copy();
        let mut by_oa: HashMap<&str, Vec<(&str, &Answer)>> = HashMap::new();
        for (ticket, a) in &answered {
            by_oa
                .entry(a.oa_appid.as_str())
                .or_default()
                .push((ticket.as_str(), a));
        }
        let load = self.load.clone();
        let listings = self.listings(server, &load.oas).await?;
        for (oa, listed) in load.oas.iter().zip(listings) {
            for r in listed.iter().filter(|r| r["status"] == "in_progress") {
                self.violation(
                    round,
                    format_args!(
                        "after the restart {} still has a registration in progress: {r}",
                        oa.appid
                    ),
                );
            }
            for &(ticket, a) in by_oa.get(oa.appid.as_str()).map_or(&[][..], Vec::as_slice) {
                let found = listed.iter().find(|r| r["ticket"] == ticket);
                match found {
                    Some(r) if r["status"] == "succeeded" && r["mp_appid"] == a.appid.as_str() => {
                        self.summary.checked_after_restarts += 1;
                    }
                    _ => self.violation(
                        round,
                        format_args!(
                            "after the restart the success answered for ticket {ticket} ({}) is listed as {found:?}",
                            a.appid
                        ),
                    ),
                }
            }
        }
        // Replays: the same appid and authorization_code, whatever happened since.
        let tickets: Vec<&String> = answered.keys().collect();
        let token_of: HashMap<&str, &str> = load
            .oas
            .iter()
            .map(|o| (o.appid.as_str(), o.token.as_str()))
            .collect();
        // Spread over the instances: each replays what any of them answered.
        for k in 0..REPLAYS_AFTER_RESTART.min(tickets.len()) {
            let server = &servers[k % servers.len()];
            let ticket = tickets[self.rng.below(tickets.len() as u64) as usize];
            let a = &answered[ticket];
            let resp = server
                .http
                .post(format!(
                    "{}{}{}?access_token={}",
                    server.base,
                    load.prefix,
                    paths::FAST_REGISTER,
                    token_of[a.oa_appid.as_str()]
                ))
                .json(&json!({ "ticket": ticket }))
                .send()
                .await?;
            let status = resp.status();
            let v: Value = resp.json().await.unwrap_or(Value::Null);
            if status.is_success()
                && v.get("errcode").and_then(Value::as_i64) == Some(0)
                && v["appid"] == a.appid.as_str()
                && v["authorization_code"] == a.authorization_code.as_str()
            {
                self.summary.replays_after_restarts += 1;
            } else {
                self.violation(
                    round,
                    format_args!(
                        "after the restart a replay of ticket {ticket} (answered {}) got HTTP {status} {v}",
                        a.appid
                    ),
                );
            }
        }
        Ok(())
    }
}

fn log_tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(3)..].join(" | ")
}
