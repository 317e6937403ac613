//! `fastreg world create|list|reset|export|delete`: manage the worlds of a running fastreg
//! server (platform.md §9) through its sandbox API.
//!
//! Unlike the client commands (`cmds`), which speak WeChat's API through the SDK to any base
//! URL, these speak fastreg's own sandbox API, so they call it over HTTP here. They need the
//! server's URL (`--server`, `FASTREG_SERVER`, default `http://127.0.0.1:8080`) and its admin
//! token (`--admin-token`, `FASTREG_ADMIN_TOKEN`, the variable `fastreg serve` reads too).
//!
//! Output contract, as the client commands': results on stdout (a table or lines for people,
//! one JSON document with `--json`), errors as ONE line on stderr naming the cause, exit 1.
//! The admin token never appears in an error.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{anyhow, bail, Context as _};
use clap::{Args, Subcommand};
use serde_json::{json, Map, Value};

use crate::cmds::{error_chain, one_line};

/// Writes a line to stdout, ignoring a closed pipe.
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

/// The server's address when none is given: `fastreg serve`'s default.
const DEFAULT_SERVER: &str = "http://127.0.0.1:8080";

/// How the commands find the server.
macro_rules! server_help {
    () => {
        "\nServer: --server (env FASTREG_SERVER, default http://127.0.0.1:8080) and the server's \
         admin token, --admin-token (env FASTREG_ADMIN_TOKEN, the one `fastreg serve` printed \
         or was given)."
    };
}

/// `fastreg world …`.
#[derive(Debug, Subcommand)]
pub enum WorldCommand {
    /// Create a world: an isolated sandbox with its own objects, clock and settings, served
    /// under its own base URL. Prints its id, base URL and admin token (shown only once).
    ///
    /// Without --seed the world is empty. A seed is a seed file (the shapes of
    /// `fastreg serve --seed`) or an export (`fastreg world export`), TOML or JSON.
    #[command(after_help = concat!(
        "Examples:\n",
        "  fastreg world create --name ci-run-42\n",
        "  fastreg world create --seed demo_world.toml --start 2024-03-01T00:00:00+08:00 --frozen\n",
        "  fastreg world create --seed saved.toml --config rules.monthly_quota=1 --config processing_delay_ms=200 --json\n",
        server_help!()
    ))]
    Create(CreateArgs),
    /// List the worlds: id, name, the world's clock (RFC 3339, UTC) and whether it is frozen.
    /// The default world comes first.
    #[command(after_help = concat!(
        "Examples:\n",
        "  fastreg world list\n",
        "  fastreg world list --json\n",
        server_help!()
    ))]
    List(ListArgs),
    /// Put a world back to the state right after its creation: its seed, its start time, its
    /// settings, no faults.
    #[command(after_help = concat!(
        "Examples:\n",
        "  fastreg world reset k3j9x0c2\n",
        "  fastreg world reset default\n",
        server_help!()
    ))]
    Reset(IdArgs),
    /// Print a world as a seed document (its objects, clock, settings and registrations; no
    /// credentials), TOML by default: `fastreg world create --seed` makes a copy of it.
    #[command(after_help = concat!(
        "Examples:\n",
        "  fastreg world export k3j9x0c2 -o saved.toml\n",
        "  fastreg world export default --format json\n",
        server_help!()
    ))]
    Export(ExportArgs),
    /// Delete a world: its credentials stop working at once. The default world cannot be
    /// deleted (reset it instead).
    #[command(after_help = concat!(
        "Examples:\n",
        "  fastreg world delete k3j9x0c2\n",
        server_help!()
    ))]
    Delete(IdArgs),
}

/// Where the server is and how to prove being its admin.
#[derive(Debug, Args)]
#[command(next_help_heading = "Server")]
pub struct ServerArgs {
    /// The fastreg server's URL.
    #[arg(long, env = "FASTREG_SERVER", value_name = "URL", default_value = DEFAULT_SERVER)]
    server: String,
    /// The server's admin token. Never printed.
    #[arg(
        long,
        env = "FASTREG_ADMIN_TOKEN",
        value_name = "TOKEN",
        hide_env_values = true
    )]
    admin_token: Option<Secret>,
}

/// A token: `Debug` never shows it.
#[derive(Clone)]
pub struct Secret(String);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"***\"")
    }
}

impl From<String> for Secret {
    fn from(s: String) -> Self {
        Secret(s)
    }
}

/// Flags of `fastreg world create`.
#[derive(Debug, Args)]
pub struct CreateArgs {
    /// Free text for people (at most 200 characters) [default: the id].
    #[arg(long)]
    name: Option<String>,
    /// The world's time at creation: unix seconds or RFC 3339 (2024-03-01T00:00:00+08:00)
    /// [default: the seed's, else now].
    #[arg(long, value_name = "TIME")]
    start: Option<String>,
    /// Its clock moves only when advanced (POST {base URL}/sandbox/v1/clock/advance).
    #[arg(long)]
    frozen: bool,
    /// A seed file or an export to start from (.toml or .json).
    #[arg(long, value_name = "FILE")]
    seed: Option<PathBuf>,
    /// A setting, as PATCH /sandbox/v1/config takes it: KEY=VALUE, dots for nesting, VALUE
    /// as JSON when it parses (numbers, true/false), else a string. Repeatable.
    /// E.g. rules.monthly_quota=1, processing_delay_ms=200, booleans=string.
    #[arg(long = "config", value_name = "KEY=VALUE")]
    config: Vec<String>,
    /// Print the server's JSON answer instead.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    server: ServerArgs,
}

/// Flags of `fastreg world list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// Print the server's JSON answer instead of a table.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    server: ServerArgs,
}

/// Flags of `fastreg world reset` and `delete`.
#[derive(Debug, Args)]
pub struct IdArgs {
    /// The world's id (`default` for the default world).
    id: String,
    /// Print the answer as JSON (reset: the world; delete: `{"deleted": id}`).
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    server: ServerArgs,
}

/// Flags of `fastreg world export`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The world's id (`default` for the default world).
    id: String,
    /// The document's format.
    #[arg(long, value_enum, default_value = "toml")]
    format: Format,
    /// Same as --format json.
    #[arg(long)]
    json: bool,
    /// Write the document to FILE instead of stdout.
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    output: Option<PathBuf>,
    #[command(flatten)]
    server: ServerArgs,
}

/// An export's format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Format {
    Toml,
    Json,
}

/// Runs a `fastreg world` command.
///
/// # Errors
/// Whatever went wrong, as one line.
pub async fn run(cmd: WorldCommand) -> anyhow::Result<()> {
    let result = match cmd {
        WorldCommand::Create(a) => create(a).await,
        WorldCommand::List(a) => list(a).await,
        WorldCommand::Reset(a) => reset(a).await,
        WorldCommand::Export(a) => export(a).await,
        WorldCommand::Delete(a) => delete(a).await,
    };
    result.map_err(|e| anyhow!(one_line(&format!("{e:#}"))))
}

/// A connection to the server's sandbox API.
struct Server {
    url: String,
    token: String,
    http: reqwest::Client,
}

/// An answer: its status and body.
struct Answer {
    status: reqwest::StatusCode,
    body: String,
}

impl Answer {
    /// A success: a 2xx status and not WeChat's error shape (the platform answers an internal
    /// error as `{"errcode": -1, …}`, with status 200 as WeChat does).
    fn succeeded(&self) -> bool {
        self.status.is_success()
            && serde_json::from_str::<Value>(&self.body)
                .ok()
                .and_then(|v| v.get("errcode").and_then(Value::as_i64))
                .is_none_or(|c| c == 0)
    }
}

impl Server {
    fn new(args: &ServerArgs) -> anyhow::Result<Server> {
        let url = args.server.trim().trim_end_matches('/').to_string();
        let parsed =
            url::Url::parse(&url).map_err(|e| anyhow!("--server {url:?} is not a URL: {e}"))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            bail!("--server {url:?} is not an http:// or https:// URL");
        }
        let token = args
            .admin_token
            .as_ref()
            .map(|s| s.0.trim().to_string())
            .filter(|s| !s.is_empty())
            .ok_or_else(|| {
                anyhow!(
                    "missing the server's admin token: pass --admin-token or set \
                     FASTREG_ADMIN_TOKEN"
                )
            })?;
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .context("cannot build the HTTP client")?;
        Ok(Server { url, token, http })
    }

    /// Sends `method path` (relative to the server) and reads the answer, whatever its status.
    async fn send(&self, method: &str, path: &str, body: Option<&Value>) -> anyhow::Result<Answer> {
        let method: reqwest::Method = method.parse().context("an HTTP method")?;
        let mut req = self
            .http
            .request(method.clone(), format!("{}{path}", self.url))
            .bearer_auth(&self.token);
        if let Some(b) = body {
            req = req.json(b);
        }
        let resp = req.send().await.map_err(|e| {
            anyhow!(
                "cannot reach {} ({method} {path}): {}",
                self.url,
                error_chain(&e.without_url())
            )
        })?;
        let status = resp.status();
        let body = resp.text().await.map_err(|e| {
            anyhow!(
                "{} answered {method} {path} but the answer could not be read: {}",
                self.url,
                error_chain(&e.without_url())
            )
        })?;
        Ok(Answer { status, body })
    }

    /// Sends and requires a success; a refusal becomes one line with the server's reason.
    async fn call(&self, method: &str, path: &str, body: Option<&Value>) -> anyhow::Result<String> {
        let a = self.send(method, path, body).await?;
        if a.succeeded() {
            return Ok(a.body);
        }
        Err(self.refusal(method, path, &a))
    }

    /// Sends, requires a success and a JSON answer.
    async fn json(&self, method: &str, path: &str, body: Option<&Value>) -> anyhow::Result<Value> {
        let text = self.call(method, path, body).await?;
        serde_json::from_str(&text).map_err(|_| {
            anyhow!(
                "{} answered {method} {path} with something that is not JSON (is --server a \
                 fastreg server?); it starts with {:?}",
                self.url,
                text.chars().take(120).collect::<String>()
            )
        })
    }

    fn refusal(&self, method: &str, path: &str, a: &Answer) -> anyhow::Error {
        let reason = serde_json::from_str::<Value>(&a.body)
            .ok()
            .and_then(|v| {
                let msg = v.get("errmsg")?.as_str()?.to_string();
                let code = v.get("errcode").and_then(Value::as_i64);
                Some(match code {
                    Some(c) => format!("{msg} (errcode {c})"),
                    None => msg,
                })
            })
            .unwrap_or_else(|| a.body.chars().take(160).collect());
        let hint = match a.status.as_u16() {
            401 | 403 => " — is --admin-token the server's admin token?",
            _ => "",
        };
        if a.status.is_success() {
            anyhow!("{} failed {method} {path}: {reason}", self.url)
        } else {
            anyhow!(
                "{} refused {method} {path} with HTTP {}: {reason}{hint}",
                self.url,
                a.status.as_u16()
            )
        }
    }

    /// The world `id` as the server shows it (so an unknown id is named as such).
    async fn world(&self, id: &str) -> anyhow::Result<Value> {
        check_id(id)?;
        let path = format!("/sandbox/v1/worlds/{id}");
        let a = self.send("GET", &path, None).await?;
        if a.status == reqwest::StatusCode::NOT_FOUND {
            bail!("no world {id:?} on {} (see `fastreg world list`)", self.url);
        }
        if !a.succeeded() {
            return Err(self.refusal("GET", &path, &a));
        }
        serde_json::from_str(&a.body).map_err(|_| {
            anyhow!(
                "{} answered GET {path} with something that is not JSON",
                self.url
            )
        })
    }
}

/// A world id is lowercase letters and digits (the default world's is `default`): anything
/// else is refused before it becomes part of a URL.
fn check_id(id: &str) -> anyhow::Result<()> {
    if !fastreg_platform::domain::is_world_id(id) {
        bail!("{id:?} is not a world id (lowercase letters and digits, at most 40)");
    }
    Ok(())
}

/// `--start`: unix seconds or an RFC 3339 time.
fn parse_start(s: &str) -> anyhow::Result<i64> {
    let s = s.trim();
    if let Ok(n) = s.parse::<i64>() {
        return Ok(n);
    }
    chrono::DateTime::parse_from_rfc3339(s)
        .map(|t| t.timestamp())
        .map_err(|e| {
            anyhow!(
                "--start {s:?} is neither unix seconds nor an RFC 3339 time \
                 (2024-03-01T00:00:00+08:00): {e}"
            )
        })
}

/// `--seed`: a TOML or JSON file (by its extension; otherwise JSON when it parses, else TOML),
/// as JSON.
fn read_seed(path: &Path) -> anyhow::Result<Value> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| anyhow!("cannot read the seed file {}: {e}", path.display()))?;
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    let from_toml = |text: &str| {
        toml::from_str::<Value>(text).map_err(|e| {
            anyhow!(
                "the seed file {} is not valid TOML: {}",
                path.display(),
                one_line(&e.to_string())
            )
        })
    };
    let from_json = |text: &str| {
        serde_json::from_str::<Value>(text)
            .map_err(|e| anyhow!("the seed file {} is not valid JSON: {e}", path.display()))
    };
    let value = match ext.as_deref() {
        Some("toml") => from_toml(&text)?,
        Some("json") => from_json(&text)?,
        _ => from_json(&text).or_else(|_| from_toml(&text))?,
    };
    if !value.is_object() {
        bail!("the seed file {} is not a document of keys", path.display());
    }
    Ok(value)
}

/// `--config KEY=VALUE`s as one PATCH /config object.
fn config_patch(pairs: &[String]) -> anyhow::Result<Option<Value>> {
    if pairs.is_empty() {
        return Ok(None);
    }
    let mut root = Map::new();
    for pair in pairs {
        let (key, raw) = pair
            .split_once('=')
            .ok_or_else(|| anyhow!("--config {pair:?} is not KEY=VALUE"))?;
        let parts: Vec<&str> = key.trim().split('.').map(str::trim).collect();
        if parts.iter().any(|p| p.is_empty()) {
            bail!("--config {pair:?}: the key is empty or has an empty part");
        }
        let value = serde_json::from_str::<Value>(raw.trim())
            .unwrap_or_else(|_| Value::String(raw.to_string()));
        let mut at = &mut root;
        for p in &parts[..parts.len() - 1] {
            let slot = at
                .entry(p.to_string())
                .or_insert_with(|| Value::Object(Map::new()));
            at = slot
                .as_object_mut()
                .ok_or_else(|| anyhow!("--config {pair:?}: {p} is set to a value already"))?;
        }
        at.insert(parts[parts.len() - 1].to_string(), value);
    }
    Ok(Some(Value::Object(root)))
}

/// Unix seconds as RFC 3339 in UTC.
fn rfc3339(unix: i64) -> String {
    chrono::DateTime::from_timestamp(unix, 0)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_else(|| unix.to_string())
}

fn print_json(v: &Value) {
    out!("{}", serde_json::to_string_pretty(v).unwrap_or_default());
}

fn field<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or_default()
}

async fn create(a: CreateArgs) -> anyhow::Result<()> {
    // Everything local is checked before the server is asked.
    let start = a.start.as_deref().map(parse_start).transpose()?;
    let seed = a.seed.as_deref().map(read_seed).transpose()?;
    let config = config_patch(&a.config)?;
    let server = Server::new(&a.server)?;
    let mut body = Map::new();
    if let Some(name) = &a.name {
        body.insert("name".into(), json!(name));
    }
    if start.is_some() || a.frozen {
        let mut clock = Map::new();
        if let Some(s) = start {
            clock.insert("start".into(), json!(s));
        }
        clock.insert("frozen".into(), json!(a.frozen));
        body.insert("clock".into(), Value::Object(clock));
    }
    if let Some(c) = config {
        body.insert("config".into(), c);
    }
    if let Some(s) = seed {
        body.insert("seed".into(), s);
    }
    let world = server
        .json("POST", "/sandbox/v1/worlds", Some(&Value::Object(body)))
        .await?;
    if a.json {
        print_json(&world);
        return Ok(());
    }
    out!("id          {}", field(&world, "id"));
    out!("name        {}", field(&world, "name"));
    out!("base URL    {}{}", server.url, field(&world, "base_path"));
    out!("admin token {}", field(&world, "admin_token"));
    out!(
        "clock       {}{}",
        rfc3339(world.get("now").and_then(Value::as_i64).unwrap_or(0)),
        if world.get("frozen").and_then(Value::as_bool) == Some(true) {
            " (frozen)"
        } else {
            ""
        }
    );
    Ok(())
}

async fn list(a: ListArgs) -> anyhow::Result<()> {
    let server = Server::new(&a.server)?;
    let worlds = server.json("GET", "/sandbox/v1/worlds", None).await?;
    if a.json {
        print_json(&worlds);
        return Ok(());
    }
    let rows: Vec<[String; 4]> = worlds
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .map(|w| {
            [
                field(w, "id").to_string(),
                one_line(field(w, "name")),
                rfc3339(w.get("now").and_then(Value::as_i64).unwrap_or(0)),
                if w.get("frozen").and_then(Value::as_bool) == Some(true) {
                    "yes".into()
                } else {
                    "no".into()
                },
            ]
        })
        .collect();
    let header = ["ID", "NAME", "NOW", "FROZEN"].map(String::from);
    let mut widths = [0usize; 4];
    for row in std::iter::once(&header).chain(&rows) {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    for row in std::iter::once(&header).chain(&rows) {
        let line = row
            .iter()
            .zip(widths)
            .map(|(cell, w)| format!("{cell:<w$}"))
            .collect::<Vec<_>>()
            .join("  ");
        out!("{}", line.trim_end());
    }
    Ok(())
}

async fn reset(a: IdArgs) -> anyhow::Result<()> {
    let server = Server::new(&a.server)?;
    let world = server.world(&a.id).await?;
    let path = format!("{}/sandbox/v1/reset", field(&world, "base_path"));
    let world = server.json("POST", &path, None).await?;
    if a.json {
        print_json(&world);
    } else {
        out!(
            "reset world {} (clock {})",
            field(&world, "id"),
            rfc3339(world.get("now").and_then(Value::as_i64).unwrap_or(0))
        );
    }
    Ok(())
}

async fn export(a: ExportArgs) -> anyhow::Result<()> {
    let server = Server::new(&a.server)?;
    let world = server.world(&a.id).await?;
    let format = if a.json { Format::Json } else { a.format };
    let query = match format {
        Format::Toml => "?format=toml",
        Format::Json => "",
    };
    let path = format!("{}/sandbox/v1/export{query}", field(&world, "base_path"));
    let mut text = server.call("GET", &path, None).await?;
    if format == Format::Json {
        let v: Value = serde_json::from_str(&text).map_err(|_| {
            anyhow!(
                "{} answered GET {path} with something that is not JSON",
                server.url
            )
        })?;
        text = serde_json::to_string_pretty(&v).unwrap_or_default();
    }
    if !text.ends_with('\n') {
        text.push('\n');
    }
    match &a.output {
        Some(file) => std::fs::write(file, &text)
            .map_err(|e| anyhow!("cannot write {}: {e}", file.display()))?,
        None => {
            use std::io::Write as _;
            let _ = std::io::stdout().write_all(text.as_bytes());
        }
    }
    Ok(())
}

async fn delete(a: IdArgs) -> anyhow::Result<()> {
    let server = Server::new(&a.server)?;
    check_id(&a.id)?;
    let path = format!("/sandbox/v1/worlds/{}", a.id);
    let answer = server.send("DELETE", &path, None).await?;
    if answer.status == reqwest::StatusCode::NOT_FOUND {
        bail!(
            "no world {:?} on {} (see `fastreg world list`)",
            a.id,
            server.url
        );
    }
    if !answer.succeeded() {
        return Err(server.refusal("DELETE", &path, &answer));
    }
    if a.json {
        print_json(&json!({ "deleted": a.id }));
    } else {
        out!("deleted world {}", a.id);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_is_unix_seconds_or_rfc3339() {
        assert_eq!(parse_start("1709222400").unwrap(), 1_709_222_400);
        assert_eq!(
            parse_start("2024-03-01T00:00:00+08:00").unwrap(),
            1_709_222_400
        );
        assert!(parse_start("yesterday").is_err());
    }

    #[test]
    fn config_pairs_nest_on_dots_and_read_json_values() {
        let v = config_patch(&[
            "rules.monthly_quota=1".into(),
            "processing_delay_ms=200".into(),
            "booleans=string".into(),
        ])
        .unwrap()
        .unwrap();
        assert_eq!(
            v,
            json!({"rules": {"monthly_quota": 1}, "processing_delay_ms": 200, "booleans": "string"})
        );
        assert!(config_patch(&["novalue".into()]).is_err());
        assert!(config_patch(&["a=1".into(), "a.b=2".into()]).is_err());
    }

    #[test]
    fn a_world_id_is_lowercase_letters_and_digits() {
        assert!(check_id("default").is_ok());
        assert!(check_id("k3j9x0c2").is_ok());
        assert!(check_id("../x").is_err());
        assert!(check_id("").is_err());
    }
}
