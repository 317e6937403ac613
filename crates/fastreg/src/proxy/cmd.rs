//! `fastreg ca`: print the proxy's CA certificate (creating the CA if needed, where
//! `fastreg serve` with the same settings keeps it), and on stderr how to trust it.

use std::io::Write as _;
use std::path::PathBuf;

use clap::Args;

use super::ca::{self, Ca};
use crate::config::{self, ServeArgs};

/// Flags of `fastreg ca`: the ones that decide where the CA is, as `fastreg serve` takes them.
#[derive(Debug, Args)]
pub struct CaArgs {
    /// Directory of the CA [default: beside a SQLite database file, else the user's data
    /// directory; env: FASTREG_CA_DIR].
    #[arg(long)]
    pub ca_dir: Option<String>,
    /// The database URL `fastreg serve` uses (a SQLite file's directory holds the CA)
    /// [default: sqlite://fastreg.db; env: FASTREG_DB].
    #[arg(long)]
    pub db: Option<String>,
    /// Config file, as `fastreg serve` reads it [default: ./fastreg.toml if present;
    /// env: FASTREG_CONFIG].
    #[arg(long, env = "FASTREG_CONFIG")]
    pub config: Option<PathBuf>,
    /// Print only the certificate, without the instructions on stderr.
    #[arg(long, short)]
    pub quiet: bool,
}

/// Prints the CA certificate (PEM) on stdout and how to trust it on stderr.
///
/// # Errors
/// The settings are invalid, or the CA can be neither read nor created. One line.
pub fn run(args: CaArgs) -> anyhow::Result<()> {
    let serve_args = ServeArgs {
        db: args.db,
        ca_dir: args.ca_dir,
        config: args.config,
        ..ServeArgs::default()
    };
    let settings = config::load(&serve_args, None)?.settings;
    let dir = ca::ca_dir(&settings)?;
    let ca = Ca::load_or_create(&dir)?;
    let mut out = std::io::stdout().lock();
    out.write_all(ca.cert_pem().as_bytes())?;
    out.flush()?;
    if !args.quiet {
        let mut err = std::io::stderr().lock();
        if ca.created() {
            let _ = writeln!(err, "\nCreated a new CA in {}.", dir.display());
        }
        let _ = write!(
            err,
            "\n{}",
            ca::trust_instructions(&ca.cert_path(), &settings.proxy_addr)
        );
    }
    Ok(())
}
