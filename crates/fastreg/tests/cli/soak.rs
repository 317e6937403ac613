//! `fastreg soak` in a bounded form: the real server as a child process, killed with SIGKILL
//! under contested load several times, restarted, and checked each time. The checker's own
//! ability to fail is tested on hand-made databases in `src/soak.rs`.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::{self, fastreg};

/// The report of a soak that exited 0 with no violation.
fn passed(out: &std::process::Output) -> Value {
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let report: Value = serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("stdout is one JSON object ({e}): {stdout}\n{stderr}"));
    let seed = &report["seed"];
    assert!(
        out.status.success(),
        "soak failed (replay with --seed {seed}): {stderr}\n{report:#}"
    );
    assert_eq!(report["violations"], 0, "{report:#}");
    report
}

#[test]
fn kill_9_under_contested_load_loses_no_answered_success_and_breaks_no_invariant() {
    let started = Instant::now();
    let out = fastreg()
        .args([
            "soak",
            "--rounds",
            "5",
            "--seconds",
            "1.5",
            "--oas",
            "200",
            "--connections",
            "16",
            "--json",
        ])
        .output()
        .expect("fastreg runs");
    let elapsed = started.elapsed();
    let report = passed(&out);
    assert_eq!(report["violation_list"], Value::Array(vec![]), "{report:#}");
    assert!(report["aborted"].is_null(), "{report:#}");

    // The run did what it claims: five kills under load, six starts, successes answered and
    // each of them found again after the kills and after the restarts.
    assert_eq!(report["kills"], 5, "{report:#}");
    assert_eq!(
        report["start_secs"].as_array().unwrap().len(),
        6,
        "{report:#}"
    );
    let positive = |field: &str| report[field].as_u64().unwrap_or(0) > 0;
    for field in [
        "successes_answered",
        "registrations_checked",
        "checked_after_kills",
        "checked_after_restarts",
        "replays_under_load",
        "replays_after_restarts",
        "unanswered",
    ] {
        assert!(positive(field), "{field} is 0: {report:#}");
    }
    // Every answered success is checked after every kill: at least once each.
    assert!(
        report["checked_after_kills"].as_u64() >= report["successes_answered"].as_u64(),
        "{report:#}"
    );
    // Only errcodes the rules allow under contention; contention did happen.
    let by_errcode = report["answers_by_errcode"].as_object().unwrap();
    for code in by_errcode.keys() {
        assert!(
            ["0", "61053", "61055", "61057", "61058"].contains(&code.as_str()),
            "errcode {code}: {report:#}"
        );
    }
    assert!(
        by_errcode.contains_key("61055"),
        "quota reached: {report:#}"
    );
    assert!(by_errcode.contains_key("61053"), "caps reached: {report:#}");
    // The server answers its first request soon after each start.
    assert!(
        report["start_secs_max"].as_f64().unwrap() < 20.0,
        "{report:#}"
    );
    assert!(
        elapsed < Duration::from_secs(60),
        "the bounded soak took {elapsed:?}"
    );
}

#[test]
fn soak_refuses_nonsense_flags() {
    let out = fastreg()
        .args(["soak", "--rounds", "0"])
        .output()
        .expect("fastreg runs");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("must be positive"));
}

#[test]
fn two_instances_on_postgresql_each_killed_under_load_lose_and_duplicate_nothing() {
    let Some(scratch) = common::scratch_postgres() else {
        return;
    };
    let out = fastreg()
        .args(["soak", "--db", scratch.url(), "--instances", "2"])
        .args(["--rounds", "4", "--seconds", "1.5", "--oas", "200"])
        .args(["--connections", "16", "--json"])
        .output()
        .expect("fastreg runs");
    let report = passed(&out);
    // Both instances were killed every round, and started again: 4 × 2 kills, 5 × 2 starts.
    assert_eq!(report["kills"], 8, "{report:#}");
    assert_eq!(
        report["start_secs"].as_array().unwrap().len(),
        10,
        "{report:#}"
    );
    for field in [
        "successes_answered",
        "checked_after_kills",
        "checked_after_restarts",
        "replays_after_restarts",
    ] {
        assert!(
            report[field].as_u64().unwrap_or(0) > 0,
            "{field} is 0: {report:#}"
        );
    }
}

#[test]
fn soak_refuses_several_instances_on_sqlite() {
    let out = fastreg()
        .args(["soak", "--instances", "2"])
        .output()
        .expect("fastreg runs");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--instances"));
}
