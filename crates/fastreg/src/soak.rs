//! `fastreg soak`: crash the platform with `kill -9` at random moments while it registers Mini
//! Programs under contested load, restart it, and check that nothing answered was lost and
//! that the invariants of the spec's §5 held across every crash.
//!
//! The world is written straight into a SQLite file in a temporary directory (as `fastreg
//! bench` does): N Official Accounts, ten per entity, each with a never-expiring token and
//! enough tickets for the run. One entity in four is nearly at its Mini Program cap (17 of
//! 20), one in four fills up within a few rounds (cap 60), the others have room; in those,
//! the last OA has used all but one of this month's quota.
//!
//! Each round starts `fastreg serve` on that file as a child process (this executable),
//! waits for its first answer (the start time), and drives fastregister over C keep-alive
//! connections: mostly the next unused ticket of a random OA (sometimes the one after it, so
//! that one OA has two registrations racing), a third of the time the very call another
//! connection just made (the same ticket contested by several callers), and one call in ten a
//! replay of a ticket answered as a success earlier, which must answer the same appid and
//! authorization_code. Some rounds set a processing delay, so that kills land while
//! registrations are in progress; every other round moves the sandbox clock to the next
//! month, so quotas refill, and the rounds in between test the quota across a crash. At a
//! random moment the child gets SIGKILL.
//!
//! After each kill the database file is read as the crash left it, and after each restart the
//! server is asked through the sandbox API. The checks:
//! (a) every success the server answered exists, succeeded, with the same appid and
//! authorization_code; (b) no ticket has two live registrations, every Mini Program exactly one
//! succeeded registration; (c) no OA has more successes in a month than the quota, no entity
//! more Mini Programs (plus registrations in progress) than its cap, and each entity's Mini
//! Program counter equals its Mini Programs; (d) at most one registration in progress per OA,
//! none after a restart, and the server answers within `--start-bound` seconds of its spawn
//! and logs no error; (e) no answer is a 5xx and every errcode is one the rules allow.
//!
//! The seed of every random choice is printed first: `--seed` replays the same kill moments,
//! processing delays and request choices (thread scheduling still varies).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use bytes::Bytes;
use clap::Args;
use fastreg_platform::app::Application;
use fastreg_platform::clock::shanghai_month;
use fastreg_platform::domain::*;
use fastreg_platform::rules::Policy;
use fastreg_platform::secrets;
use fastreg_platform::settings::RuntimeConfig;
use fastreg_platform::settings::Settings;
use fastreg_platform::store::Store;
use fastreg_wire::paths;
use http_body_util::BodyExt;
use serde::Serialize;
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::bench::DurabilityArg;
use crate::world::{self, connect, SeedOa, OAS_PER_ENTITY};

/// Processing delays a round may set (milliseconds), picked at random.
const DELAYS_MS: [u64; 5] = [0, 0, 10, 50, 200];
/// Mini Programs of a nearly full entity before the run, and its cap.
const NEAR_FULL: (usize, u32) = (17, 20);
/// The cap of an entity that fills up within a few rounds.
const FILLS_UP: u32 = 60;
/// Replays of answered successes sent after each restart.
const REPLAYS_AFTER_RESTART: usize = 16;
/// How far the clock moves to reach another month (31 days always does).
const A_MONTH: i64 = 31 * 86_400;

/// Flags of `fastreg soak`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  fastreg soak\n  \
    fastreg soak --rounds 100 --seconds 5 --oas 1000\n  \
    fastreg soak --seed 1234567 --json")]
pub struct SoakArgs {
    /// Rounds: (re)start the server, load it, kill -9 it at a random moment, check.
    #[arg(long, default_value_t = 20)]
    pub rounds: usize,
    /// Longest load of one round, in seconds: the kill lands at a random moment in its last
    /// three quarters.
    #[arg(long, default_value_t = 3.0)]
    pub seconds: f64,
    /// Seed of every random choice [default: from the clock; printed first].
    #[arg(long)]
    pub seed: Option<u64>,
    /// Official Accounts to seed (ten per entity).
    #[arg(long, default_value_t = 1_000)]
    pub oas: usize,
    /// Concurrent keep-alive connections of the load.
    #[arg(long, default_value_t = 32)]
    pub connections: usize,
    /// Durability of the server.
    #[arg(long, value_enum, default_value_t = DurabilityArg::Process)]
    pub durability: DurabilityArg,
    /// Longest acceptable time from spawning the server to its first answer, in seconds.
    #[arg(long, default_value_t = 20.0)]
    pub start_bound: f64,
    /// Print one JSON object with every figure instead of a summary.
    #[arg(long)]
    pub json: bool,
}

/// Runs `fastreg soak`.
///
/// # Errors
/// An invariant was violated (the first one is the message), or the run could not be set up.
pub async fn run(args: SoakArgs) -> anyhow::Result<()> {
    if args.rounds == 0
        || args.oas == 0
        || args.connections == 0
        || args.seconds.is_nan()
        || args.seconds <= 0.0
        || args.start_bound.is_nan()
        || args.start_bound <= 0.0
    {
        bail!("--rounds, --oas, --connections, --seconds and --start-bound must be positive");
    }
    let started = Instant::now();
    let seed = args.seed.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64)
    });
    progress(
        &args,
        format_args!("seed {seed} (replay with --seed {seed})"),
    );
    let dir = tempfile::tempdir().context("creating a temporary directory")?;
    let db = format!("sqlite://{}", dir.path().join("soak.db").display());
    let admin = secrets::alnum(32);
    let exe = std::env::current_exe().context("locating the fastreg executable")?;

    let seeding = Instant::now();
    let oas = seed_world(&db, &args).await?;
    progress(
        &args,
        format_args!(
            "seeded {} OAs over {} entities in {:.1} s",
            oas.len(),
            oas.len().div_ceil(OAS_PER_ENTITY),
            seeding.elapsed().as_secs_f64()
        ),
    );

    let mut soak = Soak {
        rng: Rng::new(seed),
        seed,
        dir: dir.path().to_path_buf(),
        db,
        admin,
        exe,
        load: Arc::new(Load::new(oas)),
        policy: None,
        starts: 0,
        summary: Summary::default(),
        args: &args,
    };
    let outcome = soak.run().await;
    let Soak {
        mut summary, load, ..
    } = soak;
    summary.fill(&args, seed, &load, started);
    let violations = summary.violation_list.clone();
    if let Err(e) = outcome {
        summary.aborted = Some(format!("{e:#}"));
    }
    if !violations.is_empty() || summary.aborted.is_some() {
        // Keep the database and the server logs for a post-mortem.
        summary.kept_dir = Some(dir.keep().display().to_string());
    }
    let out = if args.json {
        serde_json::to_string(&summary)?
    } else {
        summary.text()
    };
    {
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), "{out}");
    }
    if let Some(first) = violations.first() {
        bail!(
            "{} invariant violation(s); the first: {first}",
            violations.len()
        );
    }
    if let Some(why) = summary.aborted {
        bail!("the soak could not go on: {why}");
    }
    Ok(())
}

fn progress(args: &SoakArgs, what: std::fmt::Arguments<'_>) {
    if !args.json {
        eprintln!("{what}");
    }
}

// ---------------------------------------------------------------------------------------------
// The world
// ---------------------------------------------------------------------------------------------

/// Creates the database (with the demo world, whose component every seeded OA authorises)
/// and seeds the soak's OAs, entities and nearly full caps.
async fn seed_world(db: &str, args: &SoakArgs) -> anyhow::Result<Vec<SeedOa>> {
    let settings = Settings {
        addr: "127.0.0.1:0".into(),
        db: db.into(),
        durability: args.durability.store(),
        admin_token: Some(secrets::alnum(32)),
        ..Settings::default()
    };
    let app = Application::build(settings).await?;
    let state = app.state();
    drop(app);
    let (store, now) = (&state.store, state.clock.now());
    let quota = state.runtime().rules.monthly_quota as usize;

    let entity_count = args.oas.div_ceil(OAS_PER_ENTITY);
    let caps: Vec<Option<u32>> = (0..entity_count)
        .map(|e| match e % 4 {
            0 => Some(NEAR_FULL.1),
            1 => Some(FILLS_UP),
            _ => Some(1_000_000),
        })
        .collect();
    let entity_ids = world::entities(store, "Soak", caps).await?;
    // Enough tickets for the quota of every month the run reaches, and two to spare.
    let tickets = quota * (args.rounds / 2 + 1) + 2;
    let specs: Vec<(i64, usize)> = (0..args.oas)
        .map(|i| (entity_ids[i / OAS_PER_ENTITY], tickets))
        .collect();
    let oas = world::official_accounts(store, now, "Soak", 0, &specs).await?;
    // The nearly full entities' Mini Programs, registered years ago by their OAs.
    let mut regs = Vec::new();
    for (e, &id) in entity_ids.iter().enumerate().filter(|(e, _)| e % 4 == 0) {
        let members = &oas[e * OAS_PER_ENTITY..((e + 1) * OAS_PER_ENTITY).min(oas.len())];
        for k in 0..NEAR_FULL.0 {
            regs.push((
                members[k % members.len()].appid.clone(),
                id,
                format!("2019-{:02}", k % 12 + 1),
            ));
        }
    }
    let first = regs.len();
    world::store_registrations(store, regs, 0, now).await?;
    // In the roomy entities, the last OA has used all but one of this month's quota.
    let month = shanghai_month(now);
    let regs: Vec<(String, i64, String)> = oas
        .iter()
        .enumerate()
        .filter(|(i, _)| i / OAS_PER_ENTITY % 4 >= 2 && i % OAS_PER_ENTITY == OAS_PER_ENTITY - 1)
        .flat_map(|(_, o)| (1..quota).map(|_| (o.appid.clone(), o.entity_id, month.clone())))
        .collect();
    world::store_registrations(store, regs, first, now).await?;
    Ok(oas)
}

// ---------------------------------------------------------------------------------------------
// The rounds
// ---------------------------------------------------------------------------------------------

struct Soak<'a> {
    args: &'a SoakArgs,
    seed: u64,
    rng: Rng,
    dir: PathBuf,
    db: String,
    admin: String,
    exe: PathBuf,
    load: Arc<Load>,
    /// The rules the server runs with (read at the first start).
    policy: Option<Policy>,
    starts: usize,
    summary: Summary,
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
    async fn run(&mut self) -> anyhow::Result<()> {
        for round in 0..self.args.rounds {
            let Some(mut server) = self.start(round).await? else {
                return Ok(());
            };
            if round > 0 {
                self.after_restart(round, &server).await?;
            }
            self.load_and_kill(round, &mut server).await?;
            self.after_kill(round, false).await?;
            if !self.summary.violation_list.is_empty() {
                return Ok(());
            }
        }
        // A last start: the state the last kill left must come up clean too.
        let round = self.args.rounds;
        let Some(mut server) = self.start(round).await? else {
            return Ok(());
        };
        self.after_restart(round, &server).await?;
        server.child.start_kill()?;
        server.child.wait().await?;
        self.check_log(round, &server.log);
        // Nothing may be in progress now: the last start abandoned what the kill left.
        self.after_kill(round, true).await
    }

    fn violation(&mut self, round: usize, what: impl std::fmt::Display) {
        let line = format!("round {round}: {what}");
        progress(self.args, format_args!("VIOLATION {line}"));
        self.summary.violation_list.push(line);
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
            .args(["--log-format", "json", "serve", "--addr", "127.0.0.1:0"])
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
                .get(format!("{}/sandbox/v1/clock", server.base))
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
            .request(method.parse()?, format!("{}/sandbox/v1{path}", server.base))
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
            let url = format!(
                "{}/sandbox/v1/registrations?appid={}&limit=10000",
                server.base, oa.appid
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

    /// Loads the server and kills it with SIGKILL at a random moment.
    async fn load_and_kill(&mut self, round: usize, server: &mut Server) -> anyhow::Result<()> {
        if round > 0 && round.is_multiple_of(2) {
            let _: Value = self
                .admin_call(
                    server,
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
                    server,
                    "PATCH",
                    "/config",
                    Some(json!({"processing_delay_ms": delay})),
                )
                .await?;
        }
        self.summary.delays_ms.push(delay);
        let kill_after = self.args.seconds * (0.25 + 0.75 * self.rng.unit());
        let load = self.load.clone();
        load.begin_round();
        let workers: Vec<_> = (0..self.args.connections)
            .map(|w| {
                let rng = Rng::new(
                    self.seed
                        ^ ((round as u64) << 32 | w as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15),
                );
                tokio::spawn(worker(load.clone(), server.addr, rng))
            })
            .collect();
        let before = load.totals();
        let exited = tokio::select! {
            () = tokio::time::sleep(Duration::from_secs_f64(kill_after)) => None,
            status = server.child.wait() => Some(status),
        };
        if let Some(status) = exited {
            let tail = log_tail(&server.log);
            self.violation(
                round,
                format_args!("the server exited by itself: {status:?}; log: {tail}"),
            );
        }
        load.killed.store(true, Ordering::SeqCst);
        let _ = server.child.start_kill();
        server.child.wait().await?;
        for w in workers {
            w.await?;
        }
        self.summary.kills += 1;
        self.check_log(round, &server.log);
        for v in load.take_violations() {
            self.violation(round, v);
        }
        let after = load.totals();
        progress(
            self.args,
            format_args!(
                "round {round}: delay {delay} ms, killed after {kill_after:.2} s: {} answers, {} new successes, {} cut by the kill",
                after.requests - before.requests,
                after.new_successes - before.new_successes,
                after.unanswered - before.unanswered
            ),
        );
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
    async fn after_restart(&mut self, round: usize, server: &Server) -> anyhow::Result<()> {
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
        for _ in 0..REPLAYS_AFTER_RESTART.min(tickets.len()) {
            let ticket = tickets[self.rng.below(tickets.len() as u64) as usize];
            let a = &answered[ticket];
            let resp = server
                .http
                .post(format!(
                    "{}{}?access_token={}",
                    server.base,
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

// ---------------------------------------------------------------------------------------------
// The load
// ---------------------------------------------------------------------------------------------

/// A success as the server answered it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Answer {
    pub oa_appid: String,
    pub appid: String,
    pub authorization_code: String,
}

/// Where an OA's tickets stand, as far as the driver knows.
#[derive(Default)]
struct Cursor {
    /// The first ticket not known to have succeeded.
    next: usize,
    /// Tickets known to have succeeded.
    done: BTreeSet<usize>,
}

#[derive(Default)]
struct Answers {
    by_ticket: HashMap<String, Answer>,
    tickets: Vec<String>,
}

/// Counts across rounds.
#[derive(Debug, Clone, Copy, Default)]
struct Totals {
    requests: u64,
    /// Tickets answered as a success for the first time.
    new_successes: u64,
    unanswered: u64,
    replays: u64,
}

/// What every connection shares, across rounds.
struct Load {
    oas: Vec<SeedOa>,
    cursors: Vec<Mutex<Cursor>>,
    answers: Mutex<Answers>,
    /// OAs refused for quota or cap this round: picked less.
    blocked: Vec<AtomicBool>,
    /// The last fresh call made: contested by the next connection that wants a contest.
    last_fresh: Mutex<Option<(usize, usize)>>,
    killed: AtomicBool,
    by_errcode: Mutex<BTreeMap<i64, u64>>,
    totals: Mutex<Totals>,
    violations: Mutex<Vec<String>>,
}

#[derive(Debug, Clone)]
enum Call {
    /// A ticket of an OA (index), maybe already answered.
    Fresh { oa: usize, ticket: usize },
    /// A ticket answered as a success earlier.
    Replay { ticket: String },
}

impl Load {
    fn new(oas: Vec<SeedOa>) -> Load {
        Load {
            cursors: oas.iter().map(|_| Mutex::default()).collect(),
            blocked: oas.iter().map(|_| AtomicBool::new(false)).collect(),
            oas,
            answers: Mutex::default(),
            last_fresh: Mutex::new(None),
            killed: AtomicBool::new(false),
            by_errcode: Mutex::default(),
            totals: Mutex::default(),
            violations: Mutex::default(),
        }
    }

    fn begin_round(&self) {
        for b in &self.blocked {
            b.store(false, Ordering::Relaxed);
        }
        *self.last_fresh.lock().expect("lock") = None;
        self.killed.store(false, Ordering::SeqCst);
    }

    fn totals(&self) -> Totals {
        *self.totals.lock().expect("lock")
    }

    fn take_violations(&self) -> Vec<String> {
        std::mem::take(&mut *self.violations.lock().expect("lock"))
    }

    fn violation(&self, what: String) {
        self.violations.lock().expect("lock").push(what);
    }

    fn answered_copy(&self) -> HashMap<String, Answer> {
        self.answers.lock().expect("lock").by_ticket.clone()
    }

    /// The next call a connection makes; `None` when every ticket is used.
    fn next_call(&self, rng: &mut Rng) -> Option<Call> {
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
    fn judge(&self, call: &Call, status: hyper::StatusCode, body: &[u8]) {
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
async fn worker(load: Arc<Load>, addr: SocketAddr, mut rng: Rng) {
    let Ok(mut sender) = connect(addr).await else {
        if !load.killed.load(Ordering::SeqCst) {
            load.violation("could not connect to the running server".into());
        }
        return;
    };
    while !load.killed.load(Ordering::SeqCst) {
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
            format!("{}?access_token={token}", paths::FAST_REGISTER),
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
                if load.killed.load(Ordering::SeqCst) {
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

// ---------------------------------------------------------------------------------------------
// The checks
// ---------------------------------------------------------------------------------------------

/// The database as a kill (or a stop) left it.
#[derive(Debug, Default)]
pub(crate) struct Snapshot {
    /// Every entity with its Mini Program counter.
    pub entities: Vec<(Entity, u32)>,
    pub mini_programs: Vec<MiniProgram>,
    pub registrations: Vec<Registration>,
}

/// What [`check`] found.
#[derive(Debug, Default)]
pub(crate) struct Findings {
    /// One line per broken invariant.
    pub violations: Vec<String>,
    /// Answered successes found as answered.
    pub checked: u64,
    /// Registrations in progress.
    pub in_progress: u64,
}

/// Checks the invariants of the spec's §5 on a database snapshot: every answered success is
/// there as answered; one live registration per ticket and one succeeded registration per
/// Mini Program; per OA and month at most the quota; per entity at most its cap (Mini
/// Programs plus registrations in progress) and a counter equal to its Mini Programs; per
/// OA at most one registration in progress, and none at all when `restarted`.
pub(crate) fn check(
    snap: &Snapshot,
    answered: &HashMap<String, Answer>,
    policy: &Policy,
    restarted: bool,
) -> Findings {
    let mut f = Findings::default();
    let mut v = Vec::new();
    let mps: HashMap<&str, &MiniProgram> = snap
        .mini_programs
        .iter()
        .map(|m| (m.appid.as_str(), m))
        .collect();
    let mut live_by_ticket: HashMap<&str, Vec<&Registration>> = HashMap::new();
    let mut succeeded_by_mp: HashMap<&str, Vec<&Registration>> = HashMap::new();
    let mut per_month: HashMap<(&str, &str), u32> = HashMap::new();
    let mut in_progress_oa: HashMap<&str, u32> = HashMap::new();
    let mut in_progress_entity: HashMap<i64, u32> = HashMap::new();
    for r in &snap.registrations {
        match r.status {
            RegistrationStatus::Abandoned => continue,
            RegistrationStatus::InProgress => {
                f.in_progress += 1;
                *in_progress_oa.entry(&r.oa_appid).or_default() += 1;
                *in_progress_entity.entry(r.entity_id).or_default() += 1;
                if restarted {
                    v.push(format!(
                        "registration #{} of {} is still in progress after a restart",
                        r.id, r.oa_appid
                    ));
                }
            }
            RegistrationStatus::Succeeded => {
                let Some(mp_appid) = r.mp_appid.as_deref() else {
                    v.push(format!(
                        "registration #{} succeeded without a Mini Program",
                        r.id
                    ));
                    continue;
                };
                succeeded_by_mp.entry(mp_appid).or_default().push(r);
                match mps.get(mp_appid) {
                    None => v.push(format!(
                        "registration #{} succeeded with Mini Program {mp_appid}, which does not exist",
                        r.id
                    )),
                    Some(mp) if mp.entity_id != r.entity_id || mp.registered_by_oa != r.oa_appid => {
                        v.push(format!(
                            "Mini Program {mp_appid} belongs to entity {} / OA {}, its registration #{} to {} / {}",
                            mp.entity_id, mp.registered_by_oa, r.id, r.entity_id, r.oa_appid
                        ));
                    }
                    Some(_) => {}
                }
                match r.month.as_deref() {
                    Some(month) => *per_month.entry((&r.oa_appid, month)).or_default() += 1,
                    None => v.push(format!("registration #{} succeeded without a month", r.id)),
                }
            }
        }
        live_by_ticket.entry(&r.ticket).or_default().push(r);
    }
    for (ticket, regs) in &live_by_ticket {
        if regs.len() > 1 {
            let mps: Vec<_> = regs
                .iter()
                .map(|r| r.mp_appid.as_deref().unwrap_or("-"))
                .collect();
            v.push(format!(
                "ticket {ticket} has {} live registrations (Mini Programs {})",
                regs.len(),
                mps.join(", ")
            ));
        }
    }
    for (mp, regs) in &succeeded_by_mp {
        if regs.len() > 1 {
            v.push(format!(
                "Mini Program {mp} is recorded by {} registrations",
                regs.len()
            ));
        }
    }
    for mp in &snap.mini_programs {
        if !succeeded_by_mp.contains_key(mp.appid.as_str()) {
            v.push(format!(
                "Mini Program {} exists without a succeeded registration",
                mp.appid
            ));
        }
    }
    for ((oa, month), n) in &per_month {
        if *n > policy.monthly_quota {
            v.push(format!(
                "{oa} has {n} successes in {month}, over the quota of {}",
                policy.monthly_quota
            ));
        }
    }
    for (oa, n) in &in_progress_oa {
        if *n > 1 {
            v.push(format!("{oa} has {n} registrations in progress at once"));
        }
    }
    let mut owned: HashMap<i64, u32> = HashMap::new();
    for mp in &snap.mini_programs {
        *owned.entry(mp.entity_id).or_default() += 1;
    }
    for (e, counter) in &snap.entities {
        let owned = owned.get(&e.id).copied().unwrap_or(0);
        let pending = in_progress_entity.get(&e.id).copied().unwrap_or(0);
        let cap = e.mini_program_cap.unwrap_or(policy.entity_mini_program_cap);
        if *counter != owned {
            v.push(format!(
                "entity {} counts {counter} Mini Programs but owns {owned}",
                e.id
            ));
        }
        if owned + pending > cap {
            v.push(format!(
                "entity {} owns {owned} Mini Programs and has {pending} in progress, over its cap of {cap}",
                e.id
            ));
        }
    }
    let succeeded_by_ticket: HashMap<&str, &Registration> = snap
        .registrations
        .iter()
        .filter(|r| r.status == RegistrationStatus::Succeeded)
        .map(|r| (r.ticket.as_str(), r))
        .collect();
    for (ticket, a) in answered {
        match succeeded_by_ticket.get(ticket.as_str()) {
            None => v.push(format!(
                "the success answered for ticket {ticket} ({}) is not in the database",
                a.appid
            )),
            Some(r)
                if r.mp_appid.as_deref() != Some(&a.appid)
                    || r.oa_appid != a.oa_appid
                    || r.authorization_code.as_deref() != Some(&a.authorization_code) =>
            {
                v.push(format!(
                    "ticket {ticket} was answered {} for {}, the database has {:?} for {}",
                    a.appid, a.oa_appid, r.mp_appid, r.oa_appid
                ));
            }
            Some(_) => f.checked += 1,
        }
    }
    v.sort();
    f.violations = v;
    f
}

// ---------------------------------------------------------------------------------------------
// The summary
// ---------------------------------------------------------------------------------------------

/// What a run did and found (`--json` prints it as is).
#[derive(Debug, Default, Serialize)]
struct Summary {
    seed: u64,
    rounds: usize,
    oas: usize,
    entities: usize,
    connections: usize,
    seconds_per_round: f64,
    durability: &'static str,
    /// SIGKILLs under load.
    kills: usize,
    /// Months the sandbox clock moved.
    months: usize,
    /// The processing delay of each round.
    delays_ms: Vec<u64>,
    /// fastregister answers received, by errcode.
    requests: u64,
    answers_by_errcode: BTreeMap<String, u64>,
    /// Calls in flight when the server was killed (no answer).
    unanswered: u64,
    /// Distinct tickets answered as a success.
    successes_answered: usize,
    /// Replays of answered successes during the load (each must answer the same).
    replays_under_load: u64,
    /// Replays sent after restarts.
    replays_after_restarts: u64,
    /// Answered successes found as answered in the database after a kill (each kill checks
    /// all of them).
    checked_after_kills: u64,
    /// Answered successes found as answered through the sandbox API after a restart.
    checked_after_restarts: u64,
    /// Both.
    registrations_checked: u64,
    /// Registrations found in progress right after the kills (the kill landed mid-way).
    in_progress_at_kills: u64,
    registrations_in_database: usize,
    mini_programs_in_database: usize,
    /// Seconds from spawn to first answer, every start.
    start_secs: Vec<f64>,
    start_secs_p50: f64,
    start_secs_max: f64,
    violations: usize,
    violation_list: Vec<String>,
    /// Why the run stopped before its end, if it did (not an invariant).
    aborted: Option<String>,
    /// The directory kept for a post-mortem (database and server logs).
    kept_dir: Option<String>,
    wall_secs: f64,
}

impl Summary {
    fn fill(&mut self, args: &SoakArgs, seed: u64, load: &Load, started: Instant) {
        self.seed = seed;
        self.rounds = args.rounds;
        self.oas = load.oas.len();
        self.entities = load.oas.len().div_ceil(OAS_PER_ENTITY);
        self.connections = args.connections;
        self.seconds_per_round = args.seconds;
        self.durability = args.durability.name();
        let totals = load.totals();
        self.requests = totals.requests;
        self.unanswered = totals.unanswered;
        self.replays_under_load = totals.replays;
        self.answers_by_errcode = load
            .by_errcode
            .lock()
            .expect("lock")
            .iter()
            .map(|(k, v)| (k.to_string(), *v))
            .collect();
        self.successes_answered = load.answers.lock().expect("lock").by_ticket.len();
        self.registrations_checked = self.checked_after_kills + self.checked_after_restarts;
        let mut sorted = self.start_secs.clone();
        sorted.sort_by(f64::total_cmp);
        self.start_secs_p50 = sorted.get(sorted.len() / 2).copied().unwrap_or(0.0);
        self.start_secs_max = sorted.last().copied().unwrap_or(0.0);
        self.start_secs = self.start_secs.iter().map(|s| round3(*s)).collect();
        self.start_secs_p50 = round3(self.start_secs_p50);
        self.start_secs_max = round3(self.start_secs_max);
        self.violations = self.violation_list.len();
        self.wall_secs = round3(started.elapsed().as_secs_f64());
    }

    fn text(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "soak: seed {}, {} rounds, {} OAs over {} entities, {} connections, ≤ {} s per round, durability {}",
            self.seed, self.rounds, self.oas, self.entities, self.connections, self.seconds_per_round, self.durability
        );
        let _ = writeln!(
            s,
            "kills: {} (clock moved {} months; delays {:?} ms)",
            self.kills, self.months, self.delays_ms
        );
        let _ = writeln!(
            s,
            "answers: {} {:?}; {} cut by kills",
            self.requests, self.answers_by_errcode, self.unanswered
        );
        let _ = writeln!(
            s,
            "successes answered: {}; replays: {} under load, {} after restarts",
            self.successes_answered, self.replays_under_load, self.replays_after_restarts
        );
        let _ = writeln!(
            s,
            "registrations checked: {} ({} after kills, {} after restarts); {} in progress at kills; database: {} registrations, {} Mini Programs",
            self.registrations_checked,
            self.checked_after_kills,
            self.checked_after_restarts,
            self.in_progress_at_kills,
            self.registrations_in_database,
            self.mini_programs_in_database
        );
        let _ = writeln!(
            s,
            "start to first answer: p50 {:.3} s, max {:.3} s over {} starts",
            self.start_secs_p50,
            self.start_secs_max,
            self.start_secs.len()
        );
        let _ = writeln!(s, "violations: {}", self.violations);
        for line in self.violation_list.iter().take(20) {
            let _ = writeln!(s, "  {line}");
        }
        if let Some(why) = &self.aborted {
            let _ = writeln!(s, "aborted: {why}");
        }
        if let Some(dir) = &self.kept_dir {
            let _ = writeln!(s, "kept for a post-mortem: {dir}");
        }
        let _ = write!(s, "wall time: {:.1} s", self.wall_secs);
        s
    }
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// SplitMix64: small, seedable, good enough to pick moments and requests.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0).
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// Uniform in `[0, 1)`.
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OA_A: &str = "wxbe00000000000000";
    const OA_B: &str = "wxbe00000000000001";

    fn entity(id: i64, cap: u32) -> Entity {
        Entity {
            id,
            name: format!("E{id}"),
            entity_type: EntityType::Enterprise,
            overseas: false,
            blacklisted: false,
            mini_program_cap: Some(cap),
        }
    }

    fn mp(appid: &str, oa: &str) -> MiniProgram {
        MiniProgram {
            appid: appid.into(),
            user_name: "gh_000000000000".into(),
            nickname: "mp".into(),
            entity_id: 1,
            registered_by_oa: oa.into(),
            linked_oa: None,
            verified: true,
            created_at: 0,
        }
    }

    fn reg(
        id: i64,
        ticket: &str,
        oa: &str,
        status: RegistrationStatus,
        mp: Option<&str>,
    ) -> Registration {
        let done = status == RegistrationStatus::Succeeded;
        Registration {
            id,
            ticket: ticket.into(),
            oa_appid: oa.into(),
            entity_id: 1,
            component_appid: world::COMPONENT.into(),
            status,
            mp_appid: mp.map(Into::into),
            authorization_code: mp.map(|m| format!("code-{m}")),
            is_wx_verify_succ: true,
            is_link_succ: true,
            created_at: 0,
            completed_at: done.then_some(0),
            month: done.then(|| "2026-01".into()),
        }
    }

    fn answer(oa: &str, mp: &str) -> Answer {
        Answer {
            oa_appid: oa.into(),
            appid: mp.into(),
            authorization_code: format!("code-{mp}"),
        }
    }

    /// Two successes of OA A, one of OA B, one of B in progress; cap 5; both of A answered.
    fn sound() -> (Snapshot, HashMap<String, Answer>) {
        let snap = Snapshot {
            entities: vec![(entity(1, 5), 3)],
            mini_programs: vec![mp("wxm1", OA_A), mp("wxm2", OA_A), mp("wxm3", OA_B)],
            registrations: vec![
                reg(1, "t1", OA_A, RegistrationStatus::Succeeded, Some("wxm1")),
                reg(2, "t2", OA_A, RegistrationStatus::Succeeded, Some("wxm2")),
                reg(3, "t3", OA_B, RegistrationStatus::Succeeded, Some("wxm3")),
                reg(4, "t4", OA_B, RegistrationStatus::InProgress, None),
                reg(5, "t5", OA_B, RegistrationStatus::Abandoned, None),
            ],
        };
        let answered = HashMap::from([
            ("t1".to_string(), answer(OA_A, "wxm1")),
            ("t2".to_string(), answer(OA_A, "wxm2")),
        ]);
        (snap, answered)
    }

    fn violations(
        snap: &Snapshot,
        answered: &HashMap<String, Answer>,
        restarted: bool,
    ) -> Vec<String> {
        check(snap, answered, &Policy::default(), restarted).violations
    }

    #[test]
    fn a_sound_database_passes_and_counts_what_it_checked() {
        let (snap, answered) = sound();
        let f = check(&snap, &answered, &Policy::default(), false);
        assert_eq!(f.violations, Vec::<String>::new());
        assert_eq!(f.checked, 2);
        assert_eq!(f.in_progress, 1);
    }

    #[test]
    fn an_answered_success_missing_from_the_database_is_a_violation() {
        let (mut snap, answered) = sound();
        snap.registrations.retain(|r| r.ticket != "t2");
        snap.mini_programs.retain(|m| m.appid != "wxm2");
        snap.entities[0].1 = 2;
        let v = violations(&snap, &answered, false);
        assert_eq!(v.len(), 1, "{v:?}");
        assert!(
            v[0].contains("ticket t2 (wxm2) is not in the database"),
            "{v:?}"
        );
    }

    #[test]
    fn an_answered_success_recorded_with_another_appid_is_a_violation() {
        let (snap, mut answered) = sound();
        answered.insert("t1".into(), answer(OA_A, "wxm9"));
        let v = violations(&snap, &answered, false);
        assert!(
            v.iter().any(|l| l.contains("ticket t1 was answered wxm9")),
            "{v:?}"
        );
    }

    #[test]
    fn a_ticket_with_two_mini_programs_is_a_violation() {
        let (mut snap, answered) = sound();
        snap.mini_programs.push(mp("wxm4", OA_A));
        snap.entities[0].1 = 4;
        snap.registrations.push(reg(
            6,
            "t1",
            OA_A,
            RegistrationStatus::Succeeded,
            Some("wxm4"),
        ));
        let v = violations(&snap, &answered, false);
        assert!(
            v.iter()
                .any(|l| l.contains("ticket t1 has 2 live registrations")),
            "{v:?}"
        );
    }

    #[test]
    fn more_successes_in_a_month_than_the_quota_is_a_violation() {
        let (mut snap, answered) = sound();
        snap.entities[0] = (entity(1, 50), 9);
        for k in 0..6 {
            let appid = format!("wxq{k}");
            snap.mini_programs.push(mp(&appid, OA_A));
            snap.registrations.push(reg(
                10 + k,
                &format!("q{k}"),
                OA_A,
                RegistrationStatus::Succeeded,
                Some(&appid),
            ));
        }
        let v = violations(&snap, &answered, false);
        assert_eq!(v.len(), 1, "{v:?}");
        assert!(
            v[0].contains("has 8 successes in 2026-01, over the quota of 5"),
            "{v:?}"
        );
    }

    #[test]
    fn an_entity_over_its_cap_counting_registrations_in_progress_is_a_violation() {
        let (mut snap, answered) = sound();
        snap.entities[0].0.mini_program_cap = Some(3);
        let v = violations(&snap, &answered, false);
        assert_eq!(v.len(), 1, "{v:?}");
        assert!(
            v[0].contains("owns 3 Mini Programs and has 1 in progress, over its cap of 3"),
            "{v:?}"
        );
    }

    #[test]
    fn a_mini_program_counter_that_drifted_is_a_violation() {
        let (mut snap, answered) = sound();
        snap.entities[0].1 = 2;
        let v = violations(&snap, &answered, false);
        assert_eq!(
            v,
            vec!["entity 1 counts 2 Mini Programs but owns 3".to_string()]
        );
    }

    #[test]
    fn a_mini_program_without_its_registration_is_a_violation() {
        let (mut snap, answered) = sound();
        snap.mini_programs.push(mp("wxorphan", OA_B));
        snap.entities[0] = (entity(1, 50), 4);
        let v = violations(&snap, &answered, false);
        assert_eq!(
            v,
            vec!["Mini Program wxorphan exists without a succeeded registration".to_string()]
        );
    }

    #[test]
    fn two_registrations_in_progress_for_one_oa_are_a_violation() {
        let (mut snap, answered) = sound();
        snap.entities[0].0.mini_program_cap = Some(50);
        snap.registrations
            .push(reg(7, "t7", OA_B, RegistrationStatus::InProgress, None));
        let v = violations(&snap, &answered, false);
        assert!(
            v.iter()
                .any(|l| l.contains("has 2 registrations in progress at once")),
            "{v:?}"
        );
    }

    #[test]
    fn a_registration_still_in_progress_after_a_restart_is_a_violation() {
        let (snap, answered) = sound();
        let v = violations(&snap, &answered, true);
        assert_eq!(v.len(), 1, "{v:?}");
        assert!(v[0].contains("still in progress after a restart"), "{v:?}");
    }

    #[test]
    fn the_same_seed_gives_the_same_choices() {
        let (mut a, mut b) = (Rng::new(42), Rng::new(42));
        let xs: Vec<u64> = (0..5).map(|_| a.below(1000)).collect();
        let ys: Vec<u64> = (0..5).map(|_| b.below(1000)).collect();
        assert_eq!(xs, ys);
        assert!((0..1000).map(|_| a.unit()).all(|u| (0.0..1.0).contains(&u)));
    }
}
