//! Layered settings for `fastreg serve`: defaults → config file → `FASTREG_*` env → flags.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use fastreg_platform::settings::Settings;
use fastreg_platform::store::Durability;
use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;

/// Flags of `fastreg serve`. Each overrides the config file and the environment.
#[derive(Debug, Default, Args)]
pub struct ServeArgs {
    /// Address to listen on [default: 127.0.0.1:8080; env: FASTREG_ADDR].
    #[arg(long)]
    pub addr: Option<String>,
    /// Database URL [default: sqlite://fastreg.db; env: FASTREG_DB].
    #[arg(long)]
    pub db: Option<String>,
    /// TOML seed file applied to a new database [default: the built-in demo world;
    /// env: FASTREG_SEED].
    #[arg(long)]
    pub seed: Option<String>,
    /// Bearer token of the sandbox API [default: generated and printed;
    /// env: FASTREG_ADMIN_TOKEN].
    #[arg(long)]
    pub admin_token: Option<String>,
    /// How durable an answered success is [default: process; env: FASTREG_DURABILITY].
    #[arg(long, value_enum)]
    pub durability: Option<DurabilityArg>,
    /// fastregister processing delay in milliseconds [default: 0;
    /// env: FASTREG_PROCESSING_DELAY_MS].
    #[arg(long)]
    pub processing_delay_ms: Option<u64>,
    /// Config file (TOML, the keys of `fastreg.example.toml`) [default: ./fastreg.toml if
    /// present; env: FASTREG_CONFIG].
    #[arg(long, env = "FASTREG_CONFIG")]
    pub config: Option<PathBuf>,
}

/// `--durability`.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum DurabilityArg {
    /// Survives kill -9 of the server.
    Process,
    /// Also survives power loss (fsync per commit group).
    Full,
}

/// Top-level settings keys; other `FASTREG_*` variables (FASTREG_LOG, FASTREG_TEST_PG, …)
/// belong to other parts and are not settings.
const KEYS: &[&str] = &[
    "addr",
    "db",
    "seed",
    "admin_token",
    "durability",
    "lifetimes",
    "rules",
    "processing_delay_ms",
    "booleans",
    "max_body_bytes",
];

/// Builds the effective settings.
///
/// # Errors
/// A named config file is missing or invalid, or a value has the wrong type.
pub fn load(args: &ServeArgs) -> anyhow::Result<Settings> {
    let mut fig = Figment::from(Serialized::defaults(Settings::default()));
    match &args.config {
        Some(path) => {
            if !path.exists() {
                anyhow::bail!("config file {} does not exist", path.display());
            }
            fig = fig.merge(Toml::file(path));
        }
        None => fig = fig.merge(Toml::file("fastreg.toml")),
    }
    fig = fig.merge(
        Env::prefixed("FASTREG_")
            .filter(|k| {
                // figment hands keys over as written in the environment (upper case).
                let k = k.as_str().to_ascii_lowercase();
                KEYS.iter()
                    .any(|top| k == *top || k.starts_with(&format!("{top}__")))
            })
            .split("__"),
    );
    let mut settings: Settings = fig.extract().context("invalid settings")?;
    if let Some(v) = &args.addr {
        settings.addr = v.clone();
    }
    if let Some(v) = &args.db {
        settings.db = v.clone();
    }
    if let Some(v) = &args.seed {
        settings.seed = Some(v.clone());
    }
    if let Some(v) = &args.admin_token {
        settings.admin_token = Some(v.clone());
    }
    if let Some(v) = args.durability {
        settings.durability = match v {
            DurabilityArg::Process => Durability::Process,
            DurabilityArg::Full => Durability::Full,
        };
    }
    if let Some(v) = args.processing_delay_ms {
        settings.processing_delay_ms = v;
    }
    Ok(settings)
}
