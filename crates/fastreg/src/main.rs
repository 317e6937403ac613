//! `fastreg`: run the WeChat fast-registration sandbox platform.
//!
//! Settings are layered, later wins: built-in defaults → a TOML config file (`--config FILE`,
//! `FASTREG_CONFIG`, or `./fastreg.toml` when present) → `FASTREG_*` environment variables
//! (`__` separates nested keys: `FASTREG_RULES__MONTHLY_QUOTA=3`) → command-line flags.
//! Errors print one line and exit non-zero.

mod bench;
mod client_cmds;
mod config;
mod demo;
mod soak;
mod world;

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use fastreg_platform::app::{walkthrough, walkthrough_accounts, Application};

/// fastreg: a faithful, stateful sandbox of WeChat's "register a Mini Program by reusing an
/// Official Account's entity" flow (fastregister, permission set 27).
#[derive(Debug, Parser)]
#[command(name = "fastreg", version, about, long_about = None)]
struct Cli {
    /// Log format.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Pretty, env = "FASTREG_LOG_FORMAT")]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum LogFormat {
    /// Human-readable lines.
    Pretty,
    /// One JSON object per line.
    Json,
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
    Bench(bench::BenchArgs),
    /// Crash the platform under load and check what survived: seed a temporary SQLite
    /// database, then for each round run `fastreg serve` on it as a child process, drive
    /// contested fastregister calls, kill -9 it at a random moment, restart it and check
    /// every answered success and the invariants of fast registration (exit 1 on a violation).
    Soak(soak::SoakArgs),
    /// Client commands against any base URL (the real WeChat included).
    #[command(flatten)]
    Client(client_cmds::ClientCommand),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Only the server logs at info by default; the other commands print their own output.
    let default_filter = match cli.command {
        Command::Serve(_) => "info,tower_http=warn",
        _ => "warn",
    };
    init_tracing(cli.log_format, default_filter);
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
            Command::Serve(args) => serve(args).await,
            Command::Demo(args) => demo::run(args).await,
            Command::Bench(args) => bench::run(args).await,
            Command::Soak(args) => soak::run(args).await,
            Command::Client(cmd) => client_cmds::run(cmd).await,
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

fn init_tracing(format: LogFormat, default_filter: &str) {
    use tracing_subscriber::EnvFilter;
    let filter =
        EnvFilter::try_from_env("FASTREG_LOG").unwrap_or_else(|_| EnvFilter::new(default_filter));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Pretty => builder.compact().init(),
        LogFormat::Json => builder.json().init(),
    }
}

/// Prints a line to stdout, ignoring failures: a server whose stdout was closed (a pipe whose
/// reader went away) must keep serving, not panic as `println!` would.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

async fn serve(args: config::ServeArgs) -> anyhow::Result<()> {
    let settings = config::load(&args)?;
    let generated_token = settings.admin_token.as_deref().is_none_or(str::is_empty);
    let app = Application::build(settings.clone()).await?;
    let addr = app.local_addr();
    let base = format!("http://{addr}");
    say!("fastreg platform listening on {base}");
    say!(
        "database: {} (durability: {:?})",
        fastreg_platform::store::redact_url(&settings.db),
        settings.durability
    );
    if let Some(seed) = app.seeded_now() {
        say!("new database seeded with {seed}");
    }
    if generated_token {
        say!(
            "admin token (generated; set --admin-token or FASTREG_ADMIN_TOKEN to fix it): {}",
            app.admin_token()
        );
    } else {
        say!("admin token: as configured");
    }
    if let Some((component, oa)) = walkthrough_accounts(&app.state()).await? {
        say!("\nWalk the fast-registration flow (paste into bash; needs curl):\n");
        let token = if generated_token {
            app.admin_token().to_string()
        } else {
            say!("(export FASTREG_ADMIN_TOKEN=<the admin token you configured> first)\n");
            "$FASTREG_ADMIN_TOKEN".to_string()
        };
        say!("{}", walkthrough(&base, &token, &component, &oa));
    }
    app.run_until_stopped(shutdown_signal()).await?;
    say!("fastreg stopped");
    Ok(())
}

/// Resolves on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down: finishing in-flight requests");
}
