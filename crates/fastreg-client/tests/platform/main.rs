//! The SDK against the real platform, spawned in-process on port 0 with a temporary SQLite
//! database and the demo world. One test binary; one module per area.

mod backend_example;
mod faults;
mod flow;
mod helpers;
mod leaks;
mod pushes;
mod receiving;
mod register_attempts;
mod tokens;
mod worlds;
