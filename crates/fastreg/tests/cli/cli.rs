//! `fastreg` as a real process: what a newcomer sees, and what a mistake looks like.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use crate::common::fastreg;

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `fastreg serve` and reads its banner up to the end of the printed walk-through.
fn serve(args: &[&str], dir: &std::path::Path) -> (Server, Vec<String>) {
    let mut child = fastreg()
        .arg("serve")
        .args(args)
        .current_dir(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("fastreg starts");
    let stdout = child.stdout.take().unwrap();
    let server = Server(child);
    let mut lines = Vec::new();
    let mut after_last_step = false;
    let mut reader = BufReader::new(stdout).lines();
    for line in reader.by_ref() {
        let line = line.expect("stdout line");
        let done = after_last_step && !line.starts_with('#');
        after_last_step |= line.starts_with("# 7.");
        lines.push(line);
        if done {
            break;
        }
    }
    // Keep reading whatever else the server prints, as a terminal would.
    std::thread::spawn(move || reader.for_each(drop));
    (server, lines)
}

#[test]
fn serve_prints_its_address_the_admin_token_and_a_walkthrough_that_registers_a_mini_program() {
    let dir = tempfile::tempdir().unwrap();
    let (_server, lines) = serve(
        &["--addr", "127.0.0.1:0", "--db", "sqlite://walk.db"],
        dir.path(),
    );
    let banner = lines.join("\n");
    assert!(
        lines[0].starts_with("fastreg platform listening on http://127.0.0.1:"),
        "{banner}"
    );
    assert!(banner.contains("admin token (generated"), "{banner}");
    assert!(
        dir.path().join("walk.db").exists(),
        "the database is the named file"
    );

    let script: String = lines
        .iter()
        .skip_while(|l| !l.starts_with("B="))
        .map(|l| format!("{l}\n"))
        .collect();
    let out = Command::new("bash")
        .args(["-euo", "pipefail", "-c", &script])
        .output()
        .expect("bash runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "the walk-through failed:\n{script}\n--- stdout\n{stdout}\n--- stderr\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let first = stdout.lines().next().unwrap_or_default();
    let reg: serde_json::Value = serde_json::from_str(first).expect("fastregister's JSON");
    assert_eq!(reg["errcode"], 0, "{stdout}");
    assert!(reg["appid"].as_str().unwrap().starts_with("wx"));
}

fn fails_with(args: &[&str], env: &[(&str, &str)], expect: &str) {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = fastreg();
    cmd.args(args).current_dir(dir.path());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("fastreg runs");
    // A mistake must end the process; one that serves instead would hang the suite.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("fastreg {args:?} kept running instead of failing");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "expected failure for {args:?}");
    let errors: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("error: "))
        .collect();
    assert_eq!(errors.len(), 1, "one error line:\n{stderr}");
    assert!(errors[0].contains(expect), "{stderr}");
}

#[test]
fn serve_refuses_a_missing_seed_file_with_one_line() {
    fails_with(
        &[
            "serve",
            "--addr",
            "127.0.0.1:0",
            "--db",
            "sqlite://x.db",
            "--seed",
            "nope.toml",
        ],
        &[],
        "reading seed file nope.toml",
    );
}

#[test]
fn serve_refuses_an_invalid_seed_file_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let seed = dir.path().join("bad.toml");
    std::fs::write(
        &seed,
        "[[components]]\nauth_domain = \"x\"\npublised = true\n",
    )
    .unwrap();
    fails_with(
        &[
            "serve",
            "--addr",
            "127.0.0.1:0",
            "--db",
            "sqlite://x.db",
            "--seed",
            seed.to_str().unwrap(),
        ],
        &[],
        "is not valid",
    );
}

#[test]
fn serve_refuses_a_malformed_setting_from_the_environment_with_one_line() {
    fails_with(
        &["serve", "--addr", "127.0.0.1:0", "--db", "sqlite://x.db"],
        &[("FASTREG_RULES__MONTHLY_QUOTA", "lots")],
        "invalid settings",
    );
}

#[test]
fn serve_refuses_a_missing_config_file_with_one_line() {
    fails_with(
        &["serve", "--config", "missing.toml"],
        &[],
        "missing.toml does not exist",
    );
}

#[test]
fn serve_refuses_an_unreachable_postgres_server_with_one_line_that_masks_the_password() {
    // Port 1 on loopback: nothing listens there. fails_with also asserts the one line.
    fails_with(
        &[
            "serve",
            "--addr",
            "127.0.0.1:0",
            "--db",
            "postgres://fastreg:hunter2@127.0.0.1:1/fastreg",
        ],
        &[],
        "opening database postgres://fastreg:***@127.0.0.1:1/fastreg",
    );
}

#[test]
fn serve_refuses_an_address_in_use_with_one_line() {
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = busy.local_addr().unwrap().to_string();
    fails_with(
        &["serve", "--addr", &addr, "--db", "sqlite://x.db"],
        &[],
        "binding",
    );
}

#[test]
fn settings_come_from_a_config_file_the_environment_and_flags_in_that_order() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("fastreg.toml"),
        "admin_token = \"from-file\"\nprocessing_delay_ms = 5\n[rules]\nmonthly_quota = 2\n",
    )
    .unwrap();
    let mut child = fastreg()
        .args([
            "serve",
            "--addr",
            "127.0.0.1:0",
            "--db",
            "sqlite://cfg.db",
            "--processing-delay-ms",
            "7",
        ])
        .env("FASTREG_RULES__MONTHLY_QUOTA", "3")
        .current_dir(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    let _server = Server(child);
    let base = first.trim().rsplit(' ').next().unwrap().to_string();
    let out = Command::new("curl")
        .args([
            "-s",
            "-H",
            "Authorization: Bearer from-file",
            &format!("{base}/sandbox/v1/config"),
        ])
        .output()
        .expect("curl runs");
    let config: serde_json::Value = serde_json::from_slice(&out.stdout).expect("config JSON");
    assert_eq!(config["rules"]["monthly_quota"], 3, "env beats the file");
    assert_eq!(config["processing_delay_ms"], 7, "the flag beats the file");
}

#[test]
fn serve_keeps_serving_after_whoever_read_its_stdout_went_away() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = fastreg()
        .args([
            "serve",
            "--addr",
            "127.0.0.1:0",
            "--db",
            "sqlite://gone.db",
            "--admin-token",
            "t",
        ])
        .current_dir(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut first = String::new();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    out.read_line(&mut first).unwrap();
    // Close the pipe while the server still has its banner to print.
    drop(out);
    let server = Server(child);
    std::thread::sleep(std::time::Duration::from_millis(300));
    let base = first.trim().rsplit(' ').next().unwrap().to_string();
    let reply = Command::new("curl")
        .args([
            "-s",
            "-H",
            "Authorization: Bearer t",
            &format!("{base}/sandbox/v1/clock"),
        ])
        .output()
        .expect("curl runs");
    let clock: serde_json::Value =
        serde_json::from_slice(&reply.stdout).expect("the server answers");
    assert!(clock["now"].is_i64(), "{clock}");
    drop(server);
}

#[test]
fn demo_plays_the_whole_flow_and_ends_with_the_monthly_quota_refusal() {
    let dir = tempfile::tempdir().unwrap();
    let out = fastreg()
        .args(["demo", "--json"])
        .current_dir(dir.path())
        .output()
        .expect("fastreg demo runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON object");

    assert_eq!(v["ok"], true);
    assert!(v["mini_program"].as_str().unwrap().starts_with("wx"));
    let calls: Vec<&str> = v["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["call"].as_str().unwrap())
        .collect();
    for expected in [
        "api_start_push_ticket",
        "api_component_token",
        "componentloginpage (the OA's admin)",
        "api_query_auth",
        "fastregisterauth (the OA's admin)",
        "fastregister + api_query_auth",
        "getaccountbasicinfo (the Mini Program's token)",
    ] {
        assert!(calls.contains(&expected), "{expected} in {calls:?}");
    }
    assert_eq!(v["refusal"]["errcode"], 61055);
    assert!(v["refusal"]["remedy"]
        .as_str()
        .unwrap()
        .contains("next month"));
}

#[test]
fn demo_prints_one_readable_line_per_step() {
    let dir = tempfile::tempdir().unwrap();
    let out = fastreg()
        .arg("demo")
        .current_dir(dir.path())
        .output()
        .expect("fastreg demo runs");
    let stdout = String::from_utf8_lossy(&out.stdout);

    assert!(out.status.success(), "{stdout}");
    let steps: Vec<&str> = stdout.lines().take_while(|l| !l.is_empty()).collect();
    assert!(steps.len() >= 12, "{stdout}");
    for line in &steps {
        assert!(
            line.ends_with(" ms)"),
            "each step says how long it took: {line}"
        );
    }
    assert!(stdout.contains("Done: Mini Program wx"));
    assert!(stdout.contains("61055 exceed quota per month"));
    assert!(
        out.stderr.is_empty(),
        "no log noise: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn demo_refuses_an_unusable_database_with_one_line() {
    fails_with(
        &["demo", "--db", "mysql://nowhere/x"],
        &[],
        "unsupported database URL",
    );
}
