//! `fastreg bench` is not a test, but a seconds-long run of it is, so that it cannot rot: every
//! scenario answers, every answer has the expected errcode, every figure is in the JSON.

use serde_json::Value;

use crate::common::fastreg;

#[test]
fn a_short_bench_run_measures_every_scenario_without_a_wrong_answer() {
    let out = fastreg()
        .args([
            "bench",
            "--oas",
            "200",
            "--connections",
            "4",
            "--duration",
            "1",
            "--stored",
            "500",
            "--json",
        ])
        .output()
        .expect("fastreg runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "bench failed: {stderr}");
    let report: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is one JSON object ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    });

    assert!(report["machine"]["cores"].as_u64().unwrap() >= 1);
    assert!(report["machine"]["cpu"].is_string());
    assert_eq!(report["config"]["oas"], 200);
    assert_eq!(report["config"]["connections"], 4);
    assert_eq!(report["config"]["warmup_secs"], 0.5);
    assert_eq!(report["config"]["stored"], 500);
    assert_eq!(report["config"]["durability"], "process");
    assert!(report["seeding"]["rows"].as_u64().unwrap() > 2_000);
    assert!(report["seeding"]["secs"].is_number());
    assert!(report["database_bytes"].as_u64().unwrap() > 0);

    let expected = [
        ("success", 0),
        ("refusal_quota", 61055),
        ("refusal_ticket", 61058),
        ("refusal_ticket_proxy", 61058),
        ("authorizer_token", 0),
        ("static", 0),
    ];
    for (name, errcode) in expected {
        let s = &report["scenarios"][name];
        assert_eq!(s["expected_errcode"], errcode, "{name}: {s}");
        assert!(s["requests"].as_u64().unwrap() > 0, "{name}: {s}");
        assert_eq!(s["mismatches"], 0, "{name}: {s}");
        assert_eq!(s["errors"], 0, "{name}: {s}");
        for field in [
            "throughput_per_sec",
            "p50_ms",
            "p99_ms",
            "p999_ms",
            "max_ms",
            "static_beside_per_sec",
            "ratio_to_static",
        ] {
            assert!(s[field].is_number(), "{name}.{field}: {s}");
        }
        assert!(s["p50_ms"].as_f64() <= s["p99_ms"].as_f64(), "{name}: {s}");
        // The ratio is to the ceiling measured beside the scenario, not to the static row.
        let (tput, beside, ratio) = (
            s["throughput_per_sec"].as_f64().unwrap(),
            s["static_beside_per_sec"].as_f64().unwrap(),
            s["ratio_to_static"].as_f64().unwrap(),
        );
        assert!(beside > 0.0, "{name}: {s}");
        assert!((ratio - tput / beside).abs() < 0.002, "{name}: {s}");
    }
    let ceiling = &report["scenarios"]["static"];
    assert_eq!(ceiling["ratio_to_static"], 1.0);
    assert_eq!(
        ceiling["static_beside_per_sec"],
        ceiling["throughput_per_sec"]
    );
    // The static row holds every slice of the ceiling: one beside each of the five others.
    assert!(
        ceiling["elapsed_secs"].as_f64().unwrap() >= 4.0,
        "static: {ceiling}"
    );
}

#[test]
fn a_short_bench_run_inside_a_world_among_stored_worlds_answers_as_at_the_root() {
    let out = fastreg()
        .args([
            "bench",
            "--oas",
            "100",
            "--connections",
            "2",
            "--duration",
            "0.5",
            "--warmup",
            "0.2",
            "--world",
            "--stored-worlds",
            "20",
            "--scenarios",
            "refusal-ticket,success",
            "--json",
        ])
        .output()
        .expect("fastreg runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "bench failed: {stderr}");
    let report: Value = serde_json::from_slice(&out.stdout).expect("one JSON object");
    assert_eq!(report["config"]["world"], true);
    assert_eq!(report["config"]["stored_worlds"], 20);
    for name in ["refusal_ticket", "success"] {
        let s = &report["scenarios"][name];
        assert!(s["requests"].as_u64().unwrap() > 0, "{name}: {s}");
        assert_eq!(s["mismatches"], 0, "{name}: {s}");
        assert_eq!(s["errors"], 0, "{name}: {s}");
    }
    let w = &report["world_creation"];
    assert_eq!(w["worlds_before"], 20, "{w}");
    assert!(
        w["p99_ms"].as_f64().unwrap() >= w["p50_ms"].as_f64().unwrap(),
        "{w}"
    );
}

#[test]
fn a_short_bench_run_on_postgresql_works_in_a_world_of_its_own_and_removes_it() {
    let Some(pg) = std::env::var("FASTREG_TEST_PG")
        .ok()
        .filter(|u| !u.is_empty())
    else {
        eprintln!("skipped: FASTREG_TEST_PG is not set");
        return;
    };
    let scratch =
        fastreg_platform::testing::ScratchDatabase::create(&pg).expect("a scratch database");
    let out = fastreg()
        .args([
            "bench",
            "--db",
            scratch.url(),
            "--oas",
            "50",
            "--connections",
            "2",
            "--duration",
            "0.5",
            "--warmup",
            "0.2",
            "--scenarios",
            "refusal-quota,success,static",
            "--json",
        ])
        .output()
        .expect("fastreg runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "bench failed: {stderr}");
    let report: Value = serde_json::from_slice(&out.stdout).expect("one JSON object");
    assert_eq!(report["config"]["backend"], "postgres");
    assert_eq!(report["config"]["world"], true);
    for name in ["refusal_quota", "success"] {
        let s = &report["scenarios"][name];
        assert!(s["requests"].as_u64().unwrap() > 0, "{name}: {s}");
        assert_eq!(s["mismatches"], 0, "{name}: {s}");
    }
}

#[test]
fn bench_refuses_nonsense_flags() {
    let out = fastreg()
        .args(["bench", "--connections", "0"])
        .output()
        .expect("fastreg runs");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("must be positive"));
}
