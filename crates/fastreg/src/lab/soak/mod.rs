//! `fastreg soak`: crash the platform with `kill -9` at random moments while it registers Mini
//! Programs under contested load, restart it, and check that nothing answered was lost and
//! that the invariants of the spec's §5 held across every crash.
//!
//! One run: [`world`] seeds a SQLite file in a temporary directory (or, with `--db
//! postgres://…`, a world of its own on that database); each round of [`rounds`] starts
//! `fastreg serve` on it as a child process (`--instances N` of them on PostgreSQL, the load
//! spread over them), drives it with the contested calls of [`load`], kills each instance at a
//! random moment of its own, and checks the database as the kills left it with [`checks`], then
//! the restarted servers through the sandbox API; [`summary`] reports. The seed of every random
//! choice is printed first: `--seed` replays the same kill moments, processing delays and
//! request choices (thread scheduling still varies). RELIABILITY.md ("Crash safety") describes
//! the world, the rounds and every check, with the figures of the last runs.

use std::sync::Arc;
use std::time::Instant;

use anyhow::{bail, Context};
use clap::Args;
use fastreg_platform::secrets;

use crate::config::DurabilityArg;
use crate::lab::world::OAS_PER_ENTITY;

mod checks;
mod load;
mod rounds;
mod summary;
#[cfg(test)]
mod tests;
mod world;

use load::Load;
use rounds::Soak;
use summary::Summary;

/// Processing delays a round may set (milliseconds), picked at random.
pub(super) const DELAYS_MS: [u64; 5] = [0, 0, 10, 50, 200];
/// Mini Programs of a nearly full entity before the run, and its cap.
pub(super) const NEAR_FULL: (usize, u32) = (17, 20);
/// The cap of an entity that fills up within a few rounds.
pub(super) const FILLS_UP: u32 = 60;
/// Replays of answered successes sent after each restart.
pub(super) const REPLAYS_AFTER_RESTART: usize = 16;
/// How far the clock moves to reach another month (31 days always does).
pub(super) const A_MONTH: i64 = 31 * 86_400;

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
    /// The database: a new SQLite file in a temporary directory by default, or
    /// `postgres://USER@HOST/DB` (the run then works in a world of its own, deleted at the end,
    /// so the database may hold other data).
    #[arg(long)]
    pub db: Option<String>,
    /// `fastreg serve` processes sharing the database (PostgreSQL only), each killed at a random
    /// moment of its own every round while the others go on.
    #[arg(long, default_value_t = 1)]
    pub instances: usize,
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
    let postgres = args
        .db
        .as_deref()
        .is_some_and(|d| d.starts_with("postgres://") || d.starts_with("postgresql://"));
    if args.instances == 0 || (args.instances > 1 && !postgres) {
        bail!("--instances must be 1, or more with --db postgres://… (a SQLite file serves one)");
    }
    if args.db.is_some() && !postgres {
        bail!("--db takes a postgres:// URL (the SQLite soak makes its own file)");
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
    let db = match &args.db {
        Some(url) => url.clone(),
        None => format!("sqlite://{}", dir.path().join("soak.db").display()),
    };
    let admin = secrets::alnum(32);
    let exe = std::env::current_exe().context("locating the fastreg executable")?;

    let seeding = Instant::now();
    let place = world::seed_world(&db, &args, postgres).await?;
    let oas = place.oas.clone();
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
        db: db.clone(),
        admin,
        exe,
        load: Arc::new(Load::new(oas, place.prefix())),
        world: place.world.clone(),
        policy: None,
        starts: 0,
        summary: Summary::default(),
        args: &args,
    };
    let mut outcome = soak.run().await;
    let Soak {
        mut summary, load, ..
    } = soak;
    if let Some(w) = &place.world {
        progress(&args, format_args!("deleting the run's world…"));
        if let Err(e) = world::delete_world(&db, &args, w).await {
            outcome = outcome.and(Err(e));
        }
    }
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

pub(super) fn progress(args: &SoakArgs, what: std::fmt::Arguments<'_>) {
    if !args.json {
        eprintln!("{what}");
    }
}

/// SplitMix64: small, seedable, good enough to pick moments and requests.
pub(super) struct Rng(u64);

impl Rng {
    pub(super) fn new(seed: u64) -> Rng {
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
    pub(super) fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// Uniform in `[0, 1)`.
    pub(super) fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}
