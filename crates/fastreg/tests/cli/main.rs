//! The `fastreg` binary's tests, one test binary (`cargo test -p fastreg --test cli`): each
//! module runs the real executable (or the platform in-process beside it) for one area.

mod bench;
mod cli;
mod client_cmds;
mod common;
mod compat;
mod instances;
mod logs;
mod operations;
mod proxy;
mod schemathesis;
mod soak;
mod wheel;
mod worlds;
