//! Layered settings for `fastreg serve`: defaults → config file → `FASTREG_*` env → flags;
//! and `fastreg config check`, which shows the result.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;
use fastreg_platform::settings::{LogFormat, Settings};
use fastreg_platform::store::Durability;
use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;

/// Flags of `fastreg serve`. Each overrides the config file and the environment.
#[derive(Default, Args)]
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
    /// Address of the proxy for WeChat's hosts (proxy mode); giving it turns the proxy on
    /// [default: 127.0.0.1:8443; env: FASTREG_PROXY_ADDR].
    #[arg(long, conflicts_with = "no_proxy")]
    pub proxy_addr: Option<String>,
    /// Do not run the proxy for WeChat's hosts [env: FASTREG_PROXY=false].
    #[arg(long)]
    pub no_proxy: bool,
    /// Directory of the proxy's local CA [default: beside a SQLite database file, else the
    /// user's data directory; env: FASTREG_CA_DIR].
    #[arg(long)]
    pub ca_dir: Option<String>,
    /// Config file (TOML, the keys of `fastreg.example.toml`) [default: ./fastreg.toml if
    /// present; env: FASTREG_CONFIG].
    #[arg(long, env = "FASTREG_CONFIG")]
    pub config: Option<PathBuf>,
}

fastreg_wire::debug_masked!(ServeArgs {
    addr,
    db,
    seed,
    admin_token masked,
    durability,
    processing_delay_ms,
    proxy_addr,
    no_proxy,
    ca_dir,
    config,
});

/// `--durability`, of `fastreg serve` and of the platforms `fastreg bench` and `fastreg soak`
/// run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DurabilityArg {
    /// Committed to the OS before answering: survives kill -9 of the server.
    Process,
    /// Fsynced before answering (once per commit group): also survives power loss.
    Full,
}

impl DurabilityArg {
    /// The store's durability.
    pub fn store(self) -> Durability {
        match self {
            DurabilityArg::Process => Durability::Process,
            DurabilityArg::Full => Durability::Full,
        }
    }

    /// The flag's value, as `fastreg serve --durability` takes it.
    pub fn name(self) -> &'static str {
        match self {
            DurabilityArg::Process => "process",
            DurabilityArg::Full => "full",
        }
    }
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
    "metrics_token",
    "shutdown_timeout_secs",
    "log",
    "log_format",
    "proxy",
    "proxy_addr",
    "ca_dir",
];

/// The config file read when `--config` is not given (if it exists).
const DEFAULT_FILE: &str = "fastreg.toml";

/// Effective settings and where they came from.
#[derive(Debug)]
pub struct Loaded {
    /// The settings, validated.
    pub settings: Settings,
    /// The config file read, if any.
    pub file: Option<PathBuf>,
}

/// Builds the effective settings and validates them. `log_format` is the global
/// `--log-format` flag (or `FASTREG_LOG_FORMAT`), which beats the file.
///
/// # Errors
/// A named config file is missing, a config file is not valid TOML, a key is unknown, a value
/// has the wrong type or is unusable. Each error is one line.
pub fn load(args: &ServeArgs, log_format: Option<LogFormat>) -> anyhow::Result<Loaded> {
    let mut fig = Figment::from(Serialized::defaults(Settings::default()));
    let file = match &args.config {
        Some(path) => {
            if !path.exists() {
                anyhow::bail!("config file {} does not exist", path.display());
            }
            Some(path.clone())
        }
        None => Some(PathBuf::from(DEFAULT_FILE)).filter(|p| p.exists()),
    };
    if let Some(path) = &file {
        check_toml(path)?;
        fig = fig.merge(Toml::file(path));
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
    let mut settings: Settings = fig
        .extract()
        .map_err(|e| anyhow::anyhow!("invalid settings: {}", one_line(&e.to_string())))?;
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
        settings.durability = v.store();
    }
    if let Some(v) = args.processing_delay_ms {
        settings.processing_delay_ms = v;
    }
    if let Some(v) = &args.proxy_addr {
        settings.proxy = true;
        settings.proxy_addr = v.clone();
    }
    if args.no_proxy {
        settings.proxy = false;
    }
    if let Some(v) = &args.ca_dir {
        settings.ca_dir = Some(v.clone());
    }
    if let Some(v) = log_format {
        settings.log_format = v;
    }
    settings
        .validate()
        .map_err(|e| anyhow::anyhow!("invalid settings: {e}"))?;
    tracing_subscriber::EnvFilter::try_new(&settings.log)
        .map_err(|e| anyhow::anyhow!("invalid settings: log {:?}: {e}", settings.log))?;
    Ok(Loaded { settings, file })
}

/// Refuses a file that is not TOML with one line: where and what (figment's own message
/// quotes the file over several lines).
fn check_toml(path: &Path) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading config file {}", path.display()))?;
    if let Err(e) = toml::from_str::<toml::Table>(&text) {
        let at = e
            .span()
            .map(|span| {
                let before = &text[..span.start.min(text.len())];
                let line = before.matches('\n').count() + 1;
                let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
                format!(" at line {line}, column {column}")
            })
            .unwrap_or_default();
        anyhow::bail!(
            "config file {} is not valid TOML{at}: {}",
            path.display(),
            one_line(e.message())
        );
    }
    Ok(())
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// `fastreg config check`: the effective settings as a config file, secrets masked.
///
/// # Errors
/// As [`load`]; also a seed file that does not exist.
pub fn check(args: &ServeArgs, log_format: Option<LogFormat>) -> anyhow::Result<String> {
    let Loaded { settings, file } = load(args, log_format)?;
    if let Some(seed) = &settings.seed {
        if !Path::new(seed).is_file() {
            anyhow::bail!("invalid settings: seed file {seed} does not exist");
        }
    }
    let body =
        toml::to_string(&settings.masked()).context("writing the effective settings as TOML")?;
    let source = match &file {
        Some(f) => f.display().to_string(),
        None => format!("no config file (./{DEFAULT_FILE} is absent)"),
    };
    let mut out = format!(
        "# fastreg: the settings `fastreg serve` would run with; they are valid.\n\
         # Sources, later wins: built-in defaults, {source}, FASTREG_* environment, flags.\n\
         # Secrets are masked as ***.\n"
    );
    for (key, unset, meaning) in [
        (
            "seed",
            settings.seed.is_none(),
            "the built-in demo world seeds a new database",
        ),
        (
            "admin_token",
            settings.admin_token.as_deref().is_none_or(str::is_empty),
            "a random admin token is generated at each start and printed",
        ),
        (
            "metrics_token",
            settings.metrics_token.as_deref().is_none_or(str::is_empty),
            "/metrics is open",
        ),
    ] {
        if unset {
            out.push_str(&format!("# {key} is unset: {meaning}\n"));
        }
    }
    out.push('\n');
    out.push_str(&body);
    Ok(out)
}
