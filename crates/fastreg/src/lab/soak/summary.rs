//! What a soak did and found: one JSON object (`--json`) or a few lines.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Instant;

use serde::Serialize;

use super::load::Load;
use super::SoakArgs;
use crate::lab::world::OAS_PER_ENTITY;

/// What a run did and found (`--json` prints it as is).
#[derive(Debug, Default, Serialize)]
pub(super) struct Summary {
    pub(super) seed: u64,
    pub(super) rounds: usize,
    pub(super) oas: usize,
    pub(super) entities: usize,
    pub(super) connections: usize,
    pub(super) seconds_per_round: f64,
    pub(super) durability: &'static str,
    /// SIGKILLs under load.
    pub(super) kills: usize,
    /// Months the sandbox clock moved.
    pub(super) months: usize,
    /// The processing delay of each round.
    pub(super) delays_ms: Vec<u64>,
    /// fastregister answers received, by errcode.
    pub(super) requests: u64,
    pub(super) answers_by_errcode: BTreeMap<String, u64>,
    /// Calls in flight when the server was killed (no answer).
    pub(super) unanswered: u64,
    /// Distinct tickets answered as a success.
    pub(super) successes_answered: usize,
    /// Replays of answered successes during the load (each must answer the same).
    pub(super) replays_under_load: u64,
    /// Replays sent after restarts.
    pub(super) replays_after_restarts: u64,
    /// Answered successes found as answered in the database after a kill (each kill checks
    /// all of them).
    pub(super) checked_after_kills: u64,
    /// Answered successes found as answered through the sandbox API after a restart.
    pub(super) checked_after_restarts: u64,
    /// Both.
    pub(super) registrations_checked: u64,
    /// Registrations found in progress right after the kills (the kill landed mid-way).
    pub(super) in_progress_at_kills: u64,
    pub(super) registrations_in_database: usize,
    pub(super) mini_programs_in_database: usize,
    /// Seconds from spawn to first answer, every start.
    pub(super) start_secs: Vec<f64>,
    pub(super) start_secs_p50: f64,
    pub(super) start_secs_max: f64,
    pub(super) violations: usize,
    pub(super) violation_list: Vec<String>,
    /// Why the run stopped before its end, if it did (not an invariant).
    pub(super) aborted: Option<String>,
    /// The directory kept for a post-mortem (database and server logs).
    pub(super) kept_dir: Option<String>,
    pub(super) wall_secs: f64,
}

impl Summary {
    pub(super) fn fill(&mut self, args: &SoakArgs, seed: u64, load: &Load, started: Instant) {
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

    pub(super) fn text(&self) -> String {
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
