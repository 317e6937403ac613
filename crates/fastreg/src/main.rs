//! `fastreg`: run the WeChat fast-registration sandbox platform.
//!
//! Settings are layered, later wins: built-in defaults → a TOML config file (`--config FILE`,
//! `FASTREG_CONFIG`, or `./fastreg.toml` when present) → `FASTREG_*` environment variables
//! (`__` separates nested keys: `FASTREG_RULES__MONTHLY_QUOTA=3`) → command-line flags.
//! Errors print one line and exit non-zero.

/// Prints a line to stdout, ignoring failures: a server whose stdout was closed (a pipe whose
/// reader went away) must keep serving, not panic as `println!` would.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

mod cmds;
mod config;
mod demo;
mod lab;
mod proxy;
mod serve;
mod world;

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use fastreg_platform::settings::LogFormat;
use tracing_subscriber::EnvFilter;

/// mimalloc instead of glibc's malloc: the request path allocates and frees many small
/// buffers across threads (tokio workers, the SQLite reader threads, the writer), and callgrind
/// put glibc's malloc and free at about a sixth of all instructions of a refusal (BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// fastreg: a faithful, stateful sandbox of WeChat's "register a Mini Program by reusing an
/// Official Account's entity" flow (fastregister, permission set 27).
#[derive(Debug, Parser)]
#[command(name = "fastreg", version, about, long_about = None)]
struct Cli {
    /// Log format, on stderr [default: pretty, or `log_format` from the config file;
    /// env: FASTREG_LOG_FORMAT].
    #[arg(long, global = true, value_enum, env = "FASTREG_LOG_FORMAT")]
    log_format: Option<LogFormatArg>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum LogFormatArg {
    /// Human-readable lines.
    Pretty,
    /// One JSON object per line.
    Json,
}

impl From<LogFormatArg> for LogFormat {
    fn from(f: LogFormatArg) -> Self {
        match f {
            LogFormatArg::Pretty => LogFormat::Pretty,
            LogFormatArg::Json => LogFormat::Json,
        }
    }
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the platform: WeChat-compatible endpoints and the sandbox control API.
    ///
    /// On a new database it seeds the given seed file, or the built-in demo world, and prints
    /// the address, the admin token and a curl walk-through of the whole flow.
    Serve(config::ServeArgs),
    /// Show the whole system working: start the platform in-process and play a third-party
    /// platform end to end through the SDK, one line per step; then show a refusal.
    Demo(demo::DemoArgs),
    /// Measure the platform on this machine: seed a temporary database, drive it over loopback
    /// HTTP/1.1 keep-alive and report throughput and p50/p99/p999 latency per scenario, next to
    /// a static JSON handler's (build with --release).
    Bench(lab::bench::BenchArgs),
    /// Crash the platform under load and check what survived: seed a temporary SQLite
    /// database, then for each round run `fastreg serve` on it as a child process, drive
    /// contested fastregister calls, kill -9 it at a random moment, restart it and check
    /// every answered success and the invariants of fast registration (exit 1 on a violation).
    Soak(lab::soak::SoakArgs),
    /// Print the proxy's local CA certificate (PEM) and, on stderr, how to trust it.
    ///
    /// The CA is created if missing, where `fastreg serve` with the same settings keeps it:
    /// --ca-dir, else beside a SQLite database file, else the user's data directory.
    ///
    /// Examples:
    ///   fastreg ca > fastreg-ca.pem
    ///   fastreg ca --db sqlite:///var/lib/fastreg/fastreg.db
    #[command(verbatim_doc_comment)]
    Ca(proxy::cmd::CaArgs),
    /// Check the settings of `fastreg serve` without serving.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Manage the worlds of a running fastreg server: isolated sandboxes, each with its own
    /// objects, clock and settings under its own base URL (create, list, reset, export, delete).
    #[command(subcommand)]
    World(world::WorldCommand),
    /// Client commands against any base URL (the real WeChat included).
    #[command(flatten)]
    Client(cmds::ClientCommand),
}

#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// Validate the settings `fastreg serve` would run with (defaults, the config file,
    /// FASTREG_* environment variables and the flags given here) and print them as a config
    /// file, secrets masked. Exits non-zero with one line naming the problem otherwise.
    ///
    /// Examples:
    ///   fastreg config check
    ///   fastreg config check --config /etc/fastreg/fastreg.toml
    ///   FASTREG_RULES__MONTHLY_QUOTA=3 fastreg config check --addr 0.0.0.0:8080
    #[command(verbatim_doc_comment)]
    Check(config::ServeArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let log_format = cli.log_format.map(LogFormat::from);
    // `serve` logs as its settings say (info by default); the other commands print their own
    // output and log only warnings, unless FASTREG_LOG says otherwise.
    let serve_settings = match &cli.command {
        Command::Serve(args) => match config::load(args, log_format) {
            Ok(loaded) => Some(loaded.settings),
            Err(e) => {
                eprintln!("error: {e:#}");
                return ExitCode::FAILURE;
            }
        },
        _ => None,
    };
    match &serve_settings {
        Some(s) => init_tracing(s.log_format, EnvFilter::new(&s.log)),
        None => init_tracing(
            log_format.unwrap_or_default(),
            EnvFilter::try_from_env("FASTREG_LOG").unwrap_or_else(|_| EnvFilter::new("warn")),
        ),
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Serve(_) => match serve_settings {
                Some(settings) => serve::serve(settings).await,
                None => unreachable!("serve's settings were loaded above"),
            },
            Command::Demo(args) => demo::run(args).await,
            Command::Bench(args) => lab::bench::run(args).await,
            Command::Soak(args) => lab::soak::run(args).await,
            Command::Ca(args) => proxy::cmd::run(args),
            Command::Config(ConfigCommand::Check(args)) => {
                config::check(&args, log_format).map(|out| say!("{out}"))
            }
            Command::World(cmd) => world::run(cmd).await,
            Command::Client(cmd) => cmds::run(cmd).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Logs to stderr. Pretty: one line per event, prefixed with the span it happened in
/// (`INFO request{rid=… method=… path=…}: target: message fields`). JSON: one object per line, the span's fields (the rid
/// among them) under `span`.
fn init_tracing(format: LogFormat, filter: EnvFilter) {
    use std::io::IsTerminal as _;
    // tokio-postgres logs every statement's parameters at debug level (tickets, refresh tokens,
    // secrets, hashes of tokens): never, whatever the filter asks. A directive for the same
    // target replaces the user's.
    let filter = filter.add_directive(
        "tokio_postgres::query=info"
            .parse()
            .expect("a valid directive"),
    );
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colours only for a person at a terminal, never into a file or the journal.
        .with_ansi(std::io::stderr().is_terminal());
    match format {
        LogFormat::Pretty => builder.init(),
        LogFormat::Json => builder.json().with_span_list(false).init(),
    }
}
