//! Other people's clients against the real binary: `compat/wechatpy` (wechatpy from PyPI, pinned,
//! unchanged but for its base URLs) walks the flow against `fastreg serve`. `.ci/run` makes the
//! venv and sets `FASTREG_TEST_PYTHON`; without it the test says why it skipped.

use std::path::Path;
use std::process::Command;

#[test]
fn wechatpy_walks_the_whole_flow_against_fastreg_serve_with_only_its_base_urls_changed() {
    let Some(python) = std::env::var_os("FASTREG_TEST_PYTHON") else {
        eprintln!(
            "skipped: FASTREG_TEST_PYTHON is unset (a python with compat/wechatpy/requirements.txt installed; .ci/run makes one)"
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
            "compat/wechatpy",
        ])
        .env("FASTREG_BIN", env!("CARGO_BIN_EXE_fastreg"))
        .current_dir(&root)
        .output()
        .expect("running pytest");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "the wechatpy suite failed:\n{text}");
    assert!(text.contains(" passed"), "pytest ran no test:\n{text}");
}
