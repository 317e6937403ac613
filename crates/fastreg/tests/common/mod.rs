//! What the tests that run the `fastreg` binary share.

use std::process::Command;

/// The `fastreg` binary with none of the tests' own `FASTREG_*` settings (they must not leak
/// in) and warnings-only logs.
pub fn fastreg() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_fastreg"));
    for (k, _) in std::env::vars() {
        if k.starts_with("FASTREG_") {
            c.env_remove(k);
        }
    }
    c.env("FASTREG_LOG", "warn");
    c
}
