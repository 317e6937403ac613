//! schemathesis (pinned, from PyPI: `compat/schemathesis/requirements.txt`) against the real
//! binary: `fastreg serve` on port 0 with a fresh SQLite database, and `st run` on its
//! `/openapi.json` with every check and every phase (examples, coverage, fuzzing, stateful),
//! bounded to a few minutes. Zero failures are allowed; the only allowances are WeChat's own
//! conventions, told to schemathesis in `compat/schemathesis/schemathesis.toml` and explained in
//! docs/behaviour.md ("What schemathesis checks, and WeChat's conventions").
//!
//! After the run, no line the server logged may be longer than a few KiB (a log line carries
//! at most a few bounded request strings; `tests/api/echoes.rs` checks that no value sent is
//! repeated at all).
//!
//! `.ci/run` makes the venv and sets `FASTREG_TEST_SCHEMATHESIS` to its `st`; the test skips
//! with a printed reason when it is unset.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};

use crate::common::fastreg;

const ADMIN: &str = "schemathesis-test-admin";
/// The longest log line allowed.
const MAX_LINE: usize = 4096;

/// `fastreg serve` on port 0, killed when dropped; what it printed is collected.
struct Served {
    child: std::process::Child,
    base: String,
    output: Arc<Mutex<String>>,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve(dir: &Path) -> Served {
    let mut child = fastreg()
        .args(["serve", "--addr", "127.0.0.1:0", "--db", "sqlite://st.db"])
        .args(["--admin-token", ADMIN])
        .env("FASTREG_LOG", "info")
        .current_dir(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("fastreg starts");
    let output = Arc::new(Mutex::new(String::new()));
    let sink = output.clone();
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            sink.lock().unwrap().push_str(&format!("{line}\n"));
        }
    });
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut base = None;
    for line in lines.by_ref() {
        let line = line.expect("stdout line");
        output.lock().unwrap().push_str(&format!("{line}\n"));
        if let Some(rest) = line.strip_prefix("fastreg platform listening on ") {
            base = Some(rest.trim().to_string());
            break;
        }
    }
    let sink = output.clone();
    std::thread::spawn(move || {
        for line in lines.map_while(Result::ok) {
            sink.lock().unwrap().push_str(&format!("{line}\n"));
        }
    });
    Served {
        child,
        base: base
            .unwrap_or_else(|| panic!("serve printed no address:\n{}", output.lock().unwrap())),
        output,
    }
}

#[test]
fn schemathesis_finds_no_failure_in_any_phase_against_the_served_document() {
    let Some(st) = std::env::var_os("FASTREG_TEST_SCHEMATHESIS") else {
        eprintln!(
            "skipped: FASTREG_TEST_SCHEMATHESIS is unset (the `st` of a venv with compat/schemathesis/requirements.txt installed; .ci/run makes one)"
        );
        return;
    };
    // Arrange
    let dir = tempfile::tempdir().unwrap();
    let served = serve(dir.path());
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let reports = dir.path().join("reports");

    // Act
    let out = Command::new(st)
        .arg("--config-file")
        .arg(root.join("compat/schemathesis/schemathesis.toml"))
        .arg("run")
        .arg(format!("{}/openapi.json", served.base))
        // Every check is on in the configuration (`[checks] enabled = true`); `--checks all`
        // here would also override its allowances.
        .args(["--phases", "examples,coverage,fuzzing,stateful"])
        .args(["--header", &format!("Authorization: Bearer {ADMIN}")])
        // Bounded: at most 40 cases an operation and phase, 150 s in all; reproducible.
        .args(["--max-examples", "40", "--max-time", "150"])
        .args(["--seed", "19", "--generation-database", "none"])
        // One worker: the stateful phase's sequences must not interleave (a sequence's
        // objects are its own), and Python 3.11's parser is not safe in threads.
        .args(["--workers", "1", "--no-color", "--request-timeout", "30"])
        .arg("--report-dir")
        .arg(&reports)
        .current_dir(dir.path())
        .output()
        .expect("running schemathesis");

    // Assert
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    println!("{text}");
    assert!(out.status.success(), "schemathesis failed:\n{text}");
    assert!(
        text.contains("passed"),
        "schemathesis tested nothing:\n{text}"
    );
    let log = served.output.lock().unwrap().clone();
    let longest = log.lines().map(str::len).max().unwrap_or(0);
    assert!(
        longest <= MAX_LINE,
        "a log line of {longest} bytes (at most {MAX_LINE})"
    );
}
