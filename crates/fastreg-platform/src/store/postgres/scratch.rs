//! [`ScratchDatabase`]: an empty PostgreSQL database per test (or benchmark), dropped with it.
//! A test helper, reached as `fastreg_platform::testing::ScratchDatabase`; it sits here because
//! it opens connections the way the backend does ([`super::parse_config`]).

use anyhow::anyhow;
use postgres::NoTls;

use super::parse_config;
use crate::error::{Error, Result};

/// An empty database of its own, beside the one a server URL names, for a test or a benchmark;
/// dropped (connections and all) with this value. Creating and dropping block; both may be
/// called from async code.
#[derive(Debug)]
pub struct ScratchDatabase {
    base_url: String,
    url: String,
}

impl ScratchDatabase {
    /// Creates the database through the server `base_url` names.
    ///
    /// # Errors
    /// The server cannot be reached or refuses `CREATE DATABASE`.
    pub fn create(base_url: &str) -> Result<ScratchDatabase> {
        Ok(ScratchDatabase {
            url: scratch_database(base_url)?,
            base_url: base_url.to_string(),
        })
    }

    /// The scratch database's URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The URL it was created through.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }
}

impl Drop for ScratchDatabase {
    fn drop(&mut self) {
        if let Err(e) = drop_scratch_database(&self.base_url, &self.url) {
            eprintln!("could not drop the scratch database: {e}");
        }
    }
}

fn scratch_database(base_url: &str) -> Result<String> {
    let config = postgres::Config::from(parse_config(base_url)?);
    let name = format!(
        "fastreg_scratch_{}",
        crate::secrets::alnum(12).to_lowercase()
    );
    let sql = format!("CREATE DATABASE {name}");
    on_own_thread(move || {
        let mut client = config.connect(NoTls)?;
        client.batch_execute(&sql)?;
        Ok(())
    })?;
    let mut url = url::Url::parse(base_url)
        .map_err(|e| Error::Internal(anyhow!("invalid PostgreSQL URL: {e}")))?;
    url.set_path(&name);
    Ok(url.to_string())
}

fn drop_scratch_database(base_url: &str, scratch_url: &str) -> Result<()> {
    let config = postgres::Config::from(parse_config(base_url)?);
    let name = url::Url::parse(scratch_url)
        .map_err(|e| Error::Internal(anyhow!("invalid PostgreSQL URL: {e}")))?
        .path()
        .trim_start_matches('/')
        .to_string();
    if !name.starts_with("fastreg_scratch_")
        || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    {
        return Err(Error::Internal(anyhow!(
            "{name:?} is not a scratch database"
        )));
    }
    on_own_thread(move || {
        let mut client = config.connect(NoTls)?;
        client.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))?;
        Ok(())
    })
}

/// Runs blocking client work on a thread of its own, so that it may be called from anywhere,
/// async code included.
fn on_own_thread(
    f: impl FnOnce() -> std::result::Result<(), postgres::Error> + Send + 'static,
) -> Result<()> {
    std::thread::spawn(f)
        .join()
        .map_err(|_| Error::Internal(anyhow!("PostgreSQL helper thread panicked")))?
        .map_err(|e| Error::Internal(anyhow!("PostgreSQL: {e}")))
}
