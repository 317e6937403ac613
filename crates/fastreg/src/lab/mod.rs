//! The laboratory: `fastreg bench` (how fast the platform answers on this machine) and
//! `fastreg soak` (what survives `kill -9` under load). Both write their world straight into
//! the platform's store ([`world`]) and drive the platform over raw keep-alive HTTP/1.1, so
//! they sit apart from the client commands, which use the SDK only.

pub mod bench;
pub mod soak;
mod world;
