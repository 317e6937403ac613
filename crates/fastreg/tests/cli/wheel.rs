//! The Python wheel (`python/`, built by maturin with the release `fastreg` binary inside) as a
//! Python project uses it: `python/tests` runs in a venv where only the wheel, pytest,
//! pytest-xdist and wechatpy are installed, four workers at once, each test in a world of its
//! own, the server started by the wheel's own `fastreg_sandbox` fixture from the wheel's binary
//! (`FASTREG_BIN` is removed, so the binary this cargo build made is not used).
//!
//! `.ci/run` builds the wheel, makes the venv and sets `FASTREG_TEST_WHEEL_PYTHON`; the test
//! skips with a printed reason when it is unset.

use std::path::Path;
use std::process::Command;

#[test]
fn the_wheels_fixtures_run_a_parallel_wechatpy_suite_with_a_world_per_test() {
    let Some(python) = std::env::var_os("FASTREG_TEST_WHEEL_PYTHON") else {
        eprintln!(
            "skipped: FASTREG_TEST_WHEEL_PYTHON is unset (a venv with the fastreg wheel and python/tests/requirements.txt installed; .ci/run makes one)"
        );
        return;
    };
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let out = Command::new(python)
        .args([
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-n",
            "4",
            "--dist",
            "loadgroup",
            "python/tests",
        ])
        .env_remove("FASTREG_BIN")
        .env_remove("FASTREG_URL")
        .env_remove("FASTREG_ADMIN_TOKEN")
        .current_dir(&root)
        .output()
        .expect("running pytest");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "the wheel's suite failed:\n{text}");
    assert!(text.contains(" passed"), "pytest ran no test:\n{text}");
    assert!(
        !text.contains("skipped"),
        "a test of the wheel's suite skipped:\n{text}"
    );
}
