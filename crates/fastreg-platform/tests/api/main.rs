//! Integration tests of the platform: each test spawns the real server on port 0 with a fresh
//! temporary SQLite database (seeded with the built-in demo world) and talks to it over HTTP.
//! One test binary, one module per area (matklad's "one integration test binary").

mod accounts;
mod authorizers;
mod echoes;
mod fast_register;
mod flow;
mod helpers;
mod hostile;
mod layers;
mod openapi;
mod ops;
mod options;
mod pages;
mod sandbox;
mod security;
mod tokens;
mod wechat;
mod wire;
mod worlds;
