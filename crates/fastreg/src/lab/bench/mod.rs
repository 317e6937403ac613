//! `fastreg bench`: how fast the platform answers, measured on this machine.
//!
//! Starts the platform in-process on a SQLite file in a temporary directory, seeds it straight
//! through the store (many rows per transaction, not over HTTP): N Official Accounts with an
//! authorisation of the demo component, an OA access token and five fastregister tickets each;
//! a tenth as many OAs that have used this month's quota; and optionally M succeeded
//! registrations of past months, so the tables have the size of a platform that has been
//! running a while. Then it drives the platform over loopback HTTP/1.1 keep-alive with C
//! connections for a fixed time per scenario, after a short warm-up that is not counted (the
//! first call for each OA fills the platform's in-process view; successes, whose tickets are
//! limited, have none), and the same harness against a static JSON handler in the same binary
//! (the ceiling of HTTP handling on this machine). With the ceiling among the scenarios, each
//! other scenario's time is cut into slices of at most a second, each followed by as long a
//! slice of the ceiling, and its ratio is to the ceiling of those slices: a 2-core virtual
//! machine changes speed within a run (after the seed, PostgreSQL's autovacuum runs), and a
//! ceiling measured once, after every scenario, compared each with a different machine.
//! Every answer's errcode is checked against the one the scenario expects, warm-up included; a
//! mismatch is a bug.
//!
//! The load generator shares the process (and the cores) with the server. This file holds the
//! flags, the seeding and the report; [`load`] the static ceiling and the load generator.

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::{Args, ValueEnum};
use fastreg_platform::app::Application;
use fastreg_platform::clock::shanghai_month;
use fastreg_platform::domain::UnixTime;
use fastreg_platform::secrets;
use fastreg_platform::settings::Settings;
use fastreg_platform::store::Store;
use serde::Serialize;

use super::world::{self, demo_world, store_registrations, SeedOa, OAS_PER_ENTITY, REG_BATCH};
use crate::config::DurabilityArg;

mod load;

use load::{drive, start_static, Measured, Target, Work};

/// The longest slice of a scenario measured before a slice of the static ceiling beside it.
const SLICE: Duration = Duration::from_secs(1);

/// The static ceiling measured in slices beside the scenarios, and every slice of it so far.
struct Ceiling {
    targets: [Target; 1],
    work: Arc<Work>,
    connections: usize,
    /// The first slice's warm-up; later slices find the ceiling warm.
    warmup: Duration,
    every: Option<Measured>,
}

impl Ceiling {
    /// One slice of `d`, also added to every slice so far.
    async fn slice(&mut self, d: Duration) -> anyhow::Result<Measured> {
        let warmup = if self.every.is_none() {
            self.warmup
        } else {
            Duration::ZERO
        };
        let m = drive(
            &self.targets,
            self.work.clone(),
            self.connections,
            warmup,
            d,
        )
        .await?;
        self.every.get_or_insert_with(Measured::new).merge(&m)?;
        Ok(m)
    }
}

/// One scenario's `work` against `targets` for `duration` after `warmup`. Beside `ceiling`
/// when given: the duration cut into slices of at most [`SLICE`], each followed by as long a
/// slice of the ceiling, so that both meet the host in the same state (a ceiling measured
/// once, after every scenario, met a host that had finished the seed's autovacuum, and two
/// ceilings 13 s apart differed by −25 % to +60 %). What the scenario measured, and the
/// ceiling's throughput in its slices.
async fn measure(
    targets: &[Target],
    work: &Arc<Work>,
    connections: usize,
    warmup: Duration,
    duration: Duration,
    mut ceiling: Option<&mut Ceiling>,
) -> anyhow::Result<(Measured, Option<f64>)> {
    let slices = match ceiling {
        Some(_) => (duration.as_secs_f64() / SLICE.as_secs_f64())
            .ceil()
            .max(1.0) as u32,
        None => 1,
    };
    let slice = duration / slices;
    let mut mine = drive(targets, work.clone(), connections, warmup, slice).await?;
    let mut beside: Option<Measured> = None;
    for i in 0..slices {
        if i > 0 {
            let part = drive(targets, work.clone(), connections, Duration::ZERO, slice).await?;
            mine.merge(&part)?;
        }
        if let Some(c) = ceiling.as_deref_mut() {
            let part = c.slice(slice).await?;
            beside.get_or_insert_with(Measured::new).merge(&part)?;
        }
        if mine.exhausted() {
            break;
        }
    }
    Ok((mine, beside.as_ref().map(Measured::throughput_per_sec)))
}

/// Tickets (and so successes) per OA: the monthly quota.
const TICKETS_PER_OA: usize = 5;

/// Flags of `fastreg bench`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  cargo build --release -p fastreg\n  \
    target/release/fastreg bench\n  \
    target/release/fastreg bench --durability full --stored 1000000 --json\n  \
    target/release/fastreg bench --world --stored-worlds 10000")]
pub struct BenchArgs {
    /// Official Accounts to seed (each with an authorisation, a token and 5 tickets).
    #[arg(long, default_value_t = 10_000)]
    pub oas: usize,
    /// Concurrent keep-alive HTTP/1.1 connections.
    #[arg(long, default_value_t = 64)]
    pub connections: usize,
    /// Seconds each scenario is measured. With the static scenario, in slices of at most a
    /// second, each followed by as long a slice of the static ceiling, which the scenario's
    /// ratio is taken against.
    #[arg(long, default_value_t = 5.0)]
    pub duration: f64,
    /// Seconds each scenario runs before it is measured. Its answers are checked but not
    /// counted: the first call for each OA reads the database and fills the platform's
    /// in-process view, and later ones are answered from it (`--warmup 0` measures that start).
    /// Not for the success scenario, whose (token, ticket) pairs are limited: it is measured
    /// from its first call.
    #[arg(long, default_value_t = 0.5)]
    pub warmup: f64,
    /// Succeeded registrations (with their Mini Programs) stored beforehand, in past months.
    #[arg(long, default_value_t = 0)]
    pub stored: usize,
    /// Durability of an answered success.
    #[arg(long, value_enum, default_value_t = DurabilityArg::Process)]
    pub durability: DurabilityArg,
    /// Scenarios to run, in this order.
    #[arg(long, value_enum, value_delimiter = ',', default_values_t = Scenario::ALL)]
    pub scenarios: Vec<Scenario>,
    /// Run the scenarios inside a world created for the run (seeded with the demo world), at
    /// its base URL `/w/{id}`, instead of the default world.
    #[arg(long)]
    pub world: bool,
    /// The database to run on: a new SQLite file in a temporary directory by default, or
    /// `postgres://USER@HOST/DB`. On a database given here, the run always works in a world of
    /// its own (`--world`), deleted at the end, so the database may hold other data.
    #[arg(long)]
    pub db: Option<String>,
    /// `fastreg serve` processes to spawn on the `--db` PostgreSQL database, the connections
    /// spread over them in turn (0: the platform in this process answers, as on SQLite). The
    /// static ceiling and the proxy scenario stay in this process.
    #[arg(long, default_value_t = 0)]
    pub instances: usize,
    /// Other worlds stored beforehand, each seeded with the demo world (the number of worlds
    /// a shared sandbox holds). World creation is then timed too.
    #[arg(long, default_value_t = 0)]
    pub stored_worlds: usize,
    /// Print one JSON object with every figure instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Only serve the static ceiling's handler at this address until interrupted, for an
    /// outside load generator (`scripts/side-by-side.sh` drives it with wrk).
    #[arg(long, hide = true)]
    pub serve_static: Option<String>,
}

/// What one scenario asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Scenario {
    /// fastregister successes, each with a fresh (token, ticket): durable before the answer.
    Success,
    /// fastregister refused with 61055: the OA used this month's quota.
    RefusalQuota,
    /// fastregister refused with 61058: an unknown ticket.
    RefusalTicket,
    /// api_authorizer_token: a fresh authorizer_access_token from the refresh token.
    AuthorizerToken,
    /// The 61058 refusal through the proxy (platform.md §10): `CONNECT api.weixin.qq.com:443`,
    /// TLS with a certificate of the local CA, then the requests on that keep-alive tunnel.
    RefusalTicketProxy,
    /// A static `{"errcode":0,"errmsg":"ok"}` handler with no middleware: the ceiling.
    Static,
}

impl Scenario {
    const ALL: [Scenario; 6] = [
        Scenario::Success,
        Scenario::RefusalQuota,
        Scenario::RefusalTicket,
        Scenario::RefusalTicketProxy,
        Scenario::AuthorizerToken,
        Scenario::Static,
    ];

    fn name(self) -> &'static str {
        match self {
            Scenario::Success => "success",
            Scenario::RefusalQuota => "refusal_quota",
            Scenario::RefusalTicket => "refusal_ticket",
            Scenario::AuthorizerToken => "authorizer_token",
            Scenario::RefusalTicketProxy => "refusal_ticket_proxy",
            Scenario::Static => "static",
        }
    }

    pub(super) fn expected_errcode(self) -> i64 {
        match self {
            Scenario::RefusalQuota => 61055,
            Scenario::RefusalTicket | Scenario::RefusalTicketProxy => 61058,
            _ => 0,
        }
    }
}

/// What seeding left for the scenarios.
pub(super) struct Seeded {
    component_token: String,
    /// OAs with five unused tickets each and no registration this month.
    oas: Vec<SeedOa>,
    /// OAs that used this month's quota, each with one unused ticket.
    quota_oas: Vec<SeedOa>,
    rows: u64,
    secs: f64,
    stored_secs: f64,
}

/// The whole report (`--json` prints it as is).
#[derive(Debug, Serialize)]
struct Report {
    machine: Machine,
    config: Config,
    seeding: Seeding,
    scenarios: serde_json::Map<String, serde_json::Value>,
    /// World creation with `--stored-worlds` stored.
    world_creation: Option<WorldCreation>,
    /// The database file after the run, in bytes (WAL included).
    database_bytes: u64,
}

#[derive(Debug, Serialize)]
struct Machine {
    cores: usize,
    cpu: String,
    os: &'static str,
}

#[derive(Debug, Serialize)]
struct Config {
    oas: usize,
    quota_oas: usize,
    connections: usize,
    duration_secs: f64,
    warmup_secs: f64,
    stored: usize,
    durability: &'static str,
    /// Whether the scenarios ran inside a world (`/w/{id}`).
    world: bool,
    /// `sqlite` or `postgres`.
    backend: &'static str,
    /// `fastreg serve` processes answering (0: the platform in the bench's own process).
    instances: usize,
    stored_worlds: usize,
}

/// How long creating a world took (`POST /sandbox/v1/worlds`, one at a time, over HTTP).
#[derive(Debug, Serialize)]
struct WorldCreation {
    worlds_before: usize,
    created: usize,
    p50_ms: f64,
    p99_ms: f64,
    max_ms: f64,
    /// How long storing the other worlds took.
    store_secs: f64,
}

#[derive(Debug, Serialize)]
struct Seeding {
    rows: u64,
    secs: f64,
    /// Of which: the stored registrations.
    stored_secs: f64,
}

/// The figures of one scenario.
#[derive(Debug, Serialize)]
pub(super) struct Figures {
    expected_errcode: i64,
    requests: u64,
    /// Answers whose errcode (or HTTP status) was not the expected one.
    mismatches: u64,
    /// Requests that got no answer (connection errors).
    errors: u64,
    elapsed_secs: f64,
    throughput_per_sec: f64,
    p50_ms: f64,
    p99_ms: f64,
    p999_ms: f64,
    max_ms: f64,
    /// The static ceiling's throughput in the slices measured beside this scenario's (null
    /// without the static scenario; for the static scenario, its own).
    static_beside_per_sec: Option<f64>,
    /// Throughput over `static_beside_per_sec`.
    ratio_to_static: Option<f64>,
    /// The success scenario ran out of unused (token, ticket) pairs before the deadline.
    exhausted: bool,
    /// The first mismatching answer, if any.
    mismatch_sample: Option<String>,
}

/// Runs `fastreg bench`.
///
/// # Errors
/// The platform did not start, seeding failed, or a connection could not be made.
pub async fn run(args: BenchArgs) -> anyhow::Result<()> {
    if let Some(addr) = &args.serve_static {
        let at = load::serve_static(addr).await?;
        eprintln!("static ceiling listening on http://{at}");
        return tokio::signal::ctrl_c().await.context("waiting for Ctrl-C");
    }
    if args.oas == 0 || args.connections == 0 || args.duration.is_nan() || args.duration <= 0.0 {
        bail!("--oas, --connections and --duration must be positive");
    }
    if !args.warmup.is_finite() || args.warmup < 0.0 {
        bail!("--warmup must be zero or more seconds");
    }
    let postgres = args
        .db
        .as_deref()
        .is_some_and(|d| d.starts_with("postgres://") || d.starts_with("postgresql://"));
    if args.instances > 0 && !postgres {
        bail!("--instances needs --db postgres://… (a SQLite file serves one process)");
    }
    let dir = tempfile::tempdir().context("creating a temporary directory")?;
    let db_path = dir.path().join("bench.db");
    let in_world = args.world || args.db.is_some();
    let settings = Settings {
        addr: "127.0.0.1:0".into(),
        db: args
            .db
            .clone()
            .unwrap_or_else(|| format!("sqlite://{}", db_path.display())),
        durability: args.durability.store(),
        admin_token: Some(secrets::alnum(32)),
        ..Settings::default()
    };
    let platform = InProcess::start(settings.clone()).await?;
    let (addr, state) = (platform.addr, platform.state.clone());
    let backend = state.store.backend_name();

    progress(
        &args,
        format_args!(
            "seeding {} OAs, {} stored registrations…",
            args.oas, args.stored
        ),
    );
    let admin = state.admin_token.clone();
    let store_started = Instant::now();
    store_worlds(&state, args.stored_worlds).await?;
    let store_secs = store_started.elapsed().as_secs_f64();
    let world = if in_world {
        let (w, _) = fastreg_platform::service::worlds::create(&state, demo_world()?).await?;
        w
    } else {
        state.worlds.default_world().clone()
    };
    let seeded = seed(&world.store, world.clock.now(), args.oas, args.stored).await?;
    progress(
        &args,
        format_args!("seeded {} rows in {:.1} s", seeded.rows, seeded.secs),
    );
    let (world_id, world_key, base_path) = (world.id.clone(), world.key, world.base_path.clone());
    // From here on the platform's own handle is the only one.
    drop((world, state));
    // The instances are then the database's only sessions, so that one of them alone is
    // measured as alone (it answers from memory without asking the change feed): the bench's
    // own platform closes, and opens again at the end to delete the run's world.
    let mut platform = Some(platform);
    if args.instances > 0 {
        if let Some(p) = platform.take() {
            p.stop().await;
        }
    }
    let mut instances = Vec::with_capacity(args.instances);
    for _ in 0..args.instances {
        instances.push(Instance::spawn(&args, dir.path(), &admin).await?);
    }
    let served: Vec<Target> = if instances.is_empty() {
        vec![Target::Direct(addr)]
    } else {
        progress(
            &args,
            format_args!("{} instances listening", instances.len()),
        );
        instances.iter().map(|i| Target::Direct(i.addr)).collect()
    };

    let static_addr = start_static().await?;
    // The proxy, with a CA of the run's own, in front of the same platform.
    let (stop_proxy, proxy_stopped) = tokio::sync::watch::channel(false);
    let proxied = platform
        .as_ref()
        .map(|p| &p.state)
        .filter(|_| args.scenarios.contains(&Scenario::RefusalTicketProxy));
    if proxied.is_none() && args.scenarios.contains(&Scenario::RefusalTicketProxy) {
        progress(
            &args,
            format_args!("refusal_ticket_proxy skipped: the proxy runs in the bench's process, whose platform is closed while instances serve"),
        );
    }
    let proxy = if let Some(state) = proxied {
        let ca = crate::proxy::ca::Ca::load_or_create(dir.path())?;
        let proxy = crate::proxy::Proxy::bind(
            "127.0.0.1:0",
            &ca,
            fastreg_platform::http::router(state.clone()),
        )
        .await?;
        let at = proxy.local_addr();
        tokio::spawn(proxy.run(proxy_stopped));
        Some(Target::proxy(at, ca.cert_pem())?)
    } else {
        None
    };
    let duration = Duration::from_secs_f64(args.duration);
    let warmup = Duration::from_secs_f64(args.warmup);
    let seeded = Arc::new(seeded);
    // With the static scenario, every other one is measured beside the ceiling (`measure`).
    let paired = args.scenarios.contains(&Scenario::Static)
        && args.scenarios.iter().any(|s| *s != Scenario::Static);
    let mut ceiling = paired.then(|| Ceiling {
        targets: [Target::Direct(static_addr)],
        work: Work::new(Scenario::Static, &seeded, ""),
        connections: args.connections,
        warmup,
        every: None,
    });
    let mut measured: Vec<(Scenario, Measured, Option<f64>)> = Vec::new();
    for &scenario in &args.scenarios {
        if scenario == Scenario::Static && paired {
            continue;
        }
        let targets = match (scenario, &proxy) {
            (Scenario::Static, _) => vec![Target::Direct(static_addr)],
            (Scenario::RefusalTicketProxy, Some(p)) => vec![p.clone()],
            (Scenario::RefusalTicketProxy, None) => continue,
            _ => served.clone(),
        };
        let paired_note = if paired {
            " beside the static ceiling"
        } else {
            ""
        };
        progress(
            &args,
            format_args!("running {}{paired_note}…", scenario.name()),
        );
        // Successes use up their (token, ticket) pairs: none are spent unmeasured.
        let warmup = if scenario == Scenario::Success {
            Duration::ZERO
        } else {
            warmup
        };
        let work = Work::new(scenario, &seeded, &base_path);
        let (m, beside) = measure(
            &targets,
            &work,
            args.connections,
            warmup,
            duration,
            ceiling.as_mut(),
        )
        .await?;
        measured.push((scenario, m, beside));
    }
    if let Some(mut ceiling) = ceiling {
        // Every slice of the ceiling, where the static scenario was asked for; one slice of the
        // whole duration if no other scenario ran (the proxy's is skipped with instances).
        let c = match ceiling.every.take() {
            Some(c) => c,
            None => ceiling.slice(duration).await?,
        };
        let at = args
            .scenarios
            .iter()
            .position(|s| *s == Scenario::Static)
            .map_or(measured.len(), |i| i.min(measured.len()));
        measured.insert(at, (Scenario::Static, c, None));
    }
    let world_creation = if args.stored_worlds > 0 {
        progress(&args, format_args!("timing world creation…"));
        let at = instances.first().map_or(addr, |i| i.addr);
        Some(time_world_creation(at, &admin, args.stored_worlds, store_secs).await?)
    } else {
        None
    };
    drop(instances);
    let _ = stop_proxy.send(true);
    drop(proxy);
    if args.db.is_some() {
        progress(&args, format_args!("deleting the run's world…"));
        let p = match platform.take() {
            Some(p) => p,
            None => InProcess::start(settings).await?,
        };
        fastreg_platform::service::worlds::delete(&p.state, &world_id).await?;
        fastreg_platform::service::worlds::purge(&p.state.store, world_key).await?;
        platform = Some(p);
    }
    if let Some(p) = platform {
        p.stop().await;
    }

    let mut figures: Vec<(Scenario, Figures)> = Vec::new();
    let mut scenarios = serde_json::Map::new();
    for (s, m, beside) in &measured {
        let f = m.figures(*s, *beside);
        scenarios.insert(s.name().into(), serde_json::to_value(&f)?);
        figures.push((*s, f));
    }
    let database_bytes = ["", "-wal"]
        .iter()
        .filter_map(|suffix| {
            std::fs::metadata(format!("{}{suffix}", db_path.display()))
                .ok()
                .map(|m| m.len())
        })
        .sum();
    let report = Report {
        machine: Machine {
            cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
            cpu: cpu_model(),
            os: std::env::consts::OS,
        },
        config: Config {
            oas: args.oas,
            quota_oas: seeded.quota_oas.len(),
            connections: args.connections,
            duration_secs: args.duration,
            warmup_secs: args.warmup,
            stored: args.stored,
            durability: args.durability.name(),
            world: in_world,
            stored_worlds: args.stored_worlds,
            backend,
            instances: args.instances,
        },
        seeding: Seeding {
            rows: seeded.rows,
            secs: round(seeded.secs, 2),
            stored_secs: round(seeded.stored_secs, 2),
        },
        scenarios,
        world_creation,
        database_bytes,
    };
    let out = if args.json {
        serde_json::to_string(&report)?
    } else {
        table(&report, &figures)
    };
    use std::io::Write as _;
    let mut stdout = std::io::stdout();
    let _ = writeln!(stdout, "{out}");
    Ok(())
}

/// A `fastreg serve` child process on the run's database, killed when dropped.
/// The platform in the bench's own process, serving on a port of its own.
struct InProcess {
    addr: std::net::SocketAddr,
    state: Arc<fastreg_platform::state::AppState>,
    stop: tokio::sync::oneshot::Sender<()>,
    server: tokio::task::JoinHandle<()>,
}

impl InProcess {
    async fn start(settings: Settings) -> anyhow::Result<InProcess> {
        let app = Application::build(settings).await?;
        let (addr, state) = (app.local_addr(), app.state());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(app.run_until_stopped(async {
            let _ = stopped.await;
        }));
        Ok(InProcess {
            addr,
            state,
            stop,
            server,
        })
    }

    /// Stops serving and closes the store (with the last handle to the platform's state).
    async fn stop(self) {
        let _ = self.stop.send(());
        let _ = self.server.await;
        drop(self.state);
    }
}

struct Instance {
    _child: tokio::process::Child,
    addr: std::net::SocketAddr,
}

impl Instance {
    async fn spawn(
        args: &BenchArgs,
        dir: &std::path::Path,
        admin: &str,
    ) -> anyhow::Result<Instance> {
        use tokio::io::AsyncBufReadExt;
        let exe = std::env::current_exe().context("locating the fastreg executable")?;
        let mut cmd = tokio::process::Command::new(exe);
        for (k, _) in std::env::vars() {
            if k.starts_with("FASTREG_") {
                cmd.env_remove(k);
            }
        }
        let db = args.db.as_deref().unwrap_or_default();
        cmd.env("FASTREG_LOG", "warn")
            .args(["serve", "--addr", "127.0.0.1:0", "--no-proxy", "--db", db])
            .args([
                "--admin-token",
                admin,
                "--durability",
                args.durability.name(),
            ])
            .current_dir(dir)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::inherit())
            .kill_on_drop(true);
        let mut child = cmd.spawn().context("spawning fastreg serve")?;
        let stdout = child.stdout.take().context("the server's stdout")?;
        let mut lines = tokio::io::BufReader::new(stdout).lines();
        let addr = tokio::time::timeout(Duration::from_secs(30), async {
            while let Some(line) = lines.next_line().await? {
                if let Some(rest) = line.strip_prefix("fastreg platform listening on http://") {
                    return Ok::<_, anyhow::Error>(rest.trim().parse::<std::net::SocketAddr>()?);
                }
            }
            bail!("fastreg serve exited before it listened")
        })
        .await
        .context("fastreg serve did not listen within 30 s")??;
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Ok(Instance {
            _child: child,
            addr,
        })
    }
}

fn progress(args: &BenchArgs, what: std::fmt::Arguments<'_>) {
    if !args.json {
        eprintln!("{what}");
    }
}

pub(super) fn round(x: f64, digits: i32) -> f64 {
    let p = 10f64.powi(digits);
    (x * p).round() / p
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into())
}

fn table(r: &Report, figures: &[(Scenario, Figures)]) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "machine: {} cores, {} ({})",
        r.machine.cores, r.machine.cpu, r.machine.os
    );
    let _ = writeln!(
        s,
        "config: {}{}, {} OAs (+{} at quota), {} connections, {} s per scenario after {} s of warm-up, {} stored registrations, durability {}",
        r.config.backend,
        match r.config.instances {
            0 => String::new(),
            n => format!(" ({n} fastreg serve processes)"),
        },
        r.config.oas,
        r.config.quota_oas,
        r.config.connections,
        r.config.duration_secs,
        r.config.warmup_secs,
        r.config.stored,
        r.config.durability
    );
    let _ = writeln!(
        s,
        "seeding: {} rows in {:.2} s (stored registrations: {:.2} s); database {:.1} MB",
        r.seeding.rows,
        r.seeding.secs,
        r.seeding.stored_secs,
        r.database_bytes as f64 / 1e6
    );
    let _ = writeln!(
        s,
        "\n{:<17} {:>9} {:>6} {:>6} {:>10} {:>8} {:>8} {:>8} {:>8} {:>10} {:>8}",
        "scenario",
        "requests",
        "mism.",
        "errors",
        "req/s",
        "p50 ms",
        "p99 ms",
        "p999 ms",
        "max ms",
        "static/s",
        "/static"
    );
    for (sc, f) in figures {
        let ratio = f
            .ratio_to_static
            .map_or_else(|| "-".to_string(), |x| format!("{x:.2}"));
        let beside = f
            .static_beside_per_sec
            .map_or_else(|| "-".to_string(), |x| format!("{x:.0}"));
        let _ = writeln!(
            s,
            "{:<17} {:>9} {:>6} {:>6} {:>10.0} {:>8.2} {:>8.2} {:>8.2} {:>8.2} {:>10} {:>8}{}",
            sc.name(),
            f.requests,
            f.mismatches,
            f.errors,
            f.throughput_per_sec,
            f.p50_ms,
            f.p99_ms,
            f.p999_ms,
            f.max_ms,
            beside,
            ratio,
            if f.exhausted {
                "  (ran out of tickets)"
            } else {
                ""
            }
        );
        if let Some(sample) = &f.mismatch_sample {
            let _ = writeln!(s, "  first mismatch: {sample}");
        }
    }
    if figures.len() > 1 && figures.iter().any(|(sc, _)| *sc == Scenario::Static) {
        let _ = writeln!(
            s,
            "\nstatic/s: the static ceiling in slices of at most {} s, each after as long a slice of the scenario; /static is the scenario's throughput over it",
            SLICE.as_secs()
        );
    }
    if r.config.world {
        let _ = writeln!(s, "\nscenarios ran inside a world (/w/{{id}})");
    }
    if let Some(w) = &r.world_creation {
        let _ = writeln!(
            s,
            "\nworld creation with {} worlds stored ({:.1} s to store them): {} created one at a time, p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
            w.worlds_before, w.store_secs, w.created, w.p50_ms, w.p99_ms, w.max_ms
        );
    }
    s.trim_end().to_string()
}

/// The demo world as a world's creation request.
/// Stores `n` worlds seeded with the demo world, several at a time.
async fn store_worlds(
    state: &Arc<fastreg_platform::state::AppState>,
    n: usize,
) -> anyhow::Result<()> {
    let spec = demo_world()?;
    let mut made = 0;
    while made < n {
        let batch = (n - made).min(64);
        let mut creations = tokio::task::JoinSet::new();
        for _ in 0..batch {
            let (state, spec) = (state.clone(), spec.clone());
            creations.spawn(async move {
                fastreg_platform::service::worlds::create(&state, spec)
                    .await
                    .map(|_| ())
            });
        }
        while let Some(r) = creations.join_next().await {
            r??;
        }
        made += batch;
    }
    Ok(())
}

/// Creates worlds one at a time over HTTP and reports the latency.
async fn time_world_creation(
    addr: std::net::SocketAddr,
    admin: &str,
    before: usize,
    store_secs: f64,
) -> anyhow::Result<WorldCreation> {
    const CREATED: usize = 200;
    let http = reqwest::Client::new();
    let mut ms = Vec::with_capacity(CREATED);
    for _ in 0..CREATED {
        let started = Instant::now();
        let resp = http
            .post(format!("http://{addr}/sandbox/v1/worlds"))
            .bearer_auth(admin)
            .body("{}")
            .send()
            .await?;
        if resp.status() != 201 {
            bail!("creating a world answered {}", resp.status());
        }
        resp.bytes().await?;
        ms.push(started.elapsed().as_secs_f64() * 1e3);
    }
    ms.sort_by(f64::total_cmp);
    let at = |q: f64| ms[((ms.len() as f64 * q) as usize).min(ms.len() - 1)];
    Ok(WorldCreation {
        worlds_before: before,
        created: CREATED,
        p50_ms: round(at(0.50), 3),
        p99_ms: round(at(0.99), 3),
        max_ms: round(ms[ms.len() - 1], 3),
        store_secs: round(store_secs, 2),
    })
}

// ---------------------------------------------------------------------------------------------
// Seeding
// ---------------------------------------------------------------------------------------------

async fn seed(store: &Store, now: UnixTime, n: usize, stored: usize) -> anyhow::Result<Seeded> {
    let started = Instant::now();
    let quota_n = (n / 10).max(1);
    let total = n + quota_n;
    let mut rows: u64 = 0;

    // The component token of the authorizer-token scenario.
    let component_token = world::component_token(store, now).await?;
    rows += 1;

    // Entities, with room for every Mini Program the run creates.
    let entity_count = total.div_ceil(OAS_PER_ENTITY);
    let entity_ids =
        world::entities(store, "Bench", vec![Some(1_000_000_000); entity_count]).await?;
    rows += entity_count as u64;

    // OAs: authorisation, token and tickets (five for the success OAs, one for the quota OAs).
    let specs: Vec<(i64, usize)> = (0..total)
        .map(|i| {
            let tickets = if i < n { TICKETS_PER_OA } else { 1 };
            (entity_ids[i / OAS_PER_ENTITY], tickets)
        })
        .collect();
    let mut oas = world::official_accounts(store, now, "Bench", 0, &specs).await?;
    rows += oas.iter().map(|o| 4 + o.tickets.len() as u64).sum::<u64>();
    let quota_oas = oas.split_off(n);

    // This month's quota used up by the quota OAs.
    let month = shanghai_month(now);
    let quota_regs: Vec<(String, i64, String)> = quota_oas
        .iter()
        .flat_map(|o| (0..TICKETS_PER_OA).map(|_| (o.appid.clone(), o.entity_id, month.clone())))
        .collect();
    rows += store_registrations(store, quota_regs, 0, now).await?;

    // Registrations of past months, spread over the success OAs.
    let stored_started = Instant::now();
    let mut next = quota_n * TICKETS_PER_OA;
    for start in (0..stored).step_by(REG_BATCH) {
        let regs: Vec<(String, i64, String)> = (start..(start + REG_BATCH).min(stored))
            .map(|j| {
                let o = &oas[j % n];
                // 2010-01 … 2019-12: never this month.
                let month = format!("20{:02}-{:02}", 10 + (j / 12) % 10, j % 12 + 1);
                (o.appid.clone(), o.entity_id, month)
            })
            .collect();
        let count = regs.len();
        rows += store_registrations(store, regs, next, now).await?;
        next += count;
    }
    let stored_secs = stored_started.elapsed().as_secs_f64();

    Ok(Seeded {
        component_token,
        oas,
        quota_oas,
        rows,
        secs: started.elapsed().as_secs_f64(),
        stored_secs,
    })
}
