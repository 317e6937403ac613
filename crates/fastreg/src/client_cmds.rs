//! Client commands: `auth-url`, `register`, `token`, `authorizers` and `errcode`.
//!
//! They work against any base URL (the real WeChat by default, or a fastreg platform) and are
//! built on the SDK (`fastreg-client`): no command talks HTTP itself. Settings come from flags,
//! then `FASTREG_*` environment variables, then a TOML file (`--config`). Tokens, refresh
//! tokens and the verify ticket live in an SDK `SqliteStore` (`--store`, default
//! `./fastreg-tokens.db`), so they persist between runs.
//!
//! Output contract: results on stdout (tokens alone, so `$(fastreg token component)` works),
//! errors as ONE line on stderr (`error: …`, printed by `main`), exit status 0 on success, 1 on
//! an error, 2 when a fastregister outcome is not known yet. The SDK's own log lines are
//! silenced unless `FASTREG_LOG` is set.

use std::fmt;
use std::io::{IsTerminal as _, Write as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, Context as _};
use clap::{Args, Subcommand};
use fastreg_client::store::{unix_now, SqliteStore, Stored, TokenStore};
use fastreg_client::{
    AuthType, Client, ClientBuilder, ErrCode, Error as SdkError, Evidence, FastRegisterOutcome,
    RegisteredMiniProgram, WECHAT_API,
};
use fastreg_wire::errcode::{ErrCodeInfo, Retry, TABLE};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tracing::instrument::WithSubscriber as _;

/// Writes a line to stdout, ignoring a closed pipe (`fastreg errcode --all | head` must not
/// panic as `println!` would).
macro_rules! out {
    ($($arg:tt)*) => {{
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

/// How settings are found; appended to the help of every command that talks to WeChat.
macro_rules! settings_help {
    () => {
        "\nSettings: a flag wins over its FASTREG_* environment variable, which wins over the \
         --config file (TOML; keys: base_url, component_appid, component_secret, auth_domain, \
         store, verify_ticket; unknown keys are an error). Tokens and refresh tokens are kept \
         in the --store file between runs. Set FASTREG_LOG=info to see the SDK's log on stderr."
    };
}

/// Client commands (flattened into `fastreg`'s top-level subcommands).
#[derive(Debug, Subcommand)]
pub enum ClientCommand {
    /// Print the link an Official Account's admin opens to confirm a fast registration
    /// (fastregisterauth), or with --login the componentloginpage link where an account's
    /// admin authorises the component.
    ///
    /// Send the link to the admin as a link on a page of your auth domain (WeChat refuses it
    /// when reached through a server-side redirect). After confirming, the browser comes back
    /// to --redirect-uri with `ticket=…` appended: pass that ticket to `fastreg register`.
    /// A redirect off the component's auth domain is refused here (WeChat would show 61060).
    #[command(after_help = concat!(
        "Examples:\n",
        "  fastreg auth-url --oa wx0a00000000000001 --redirect-uri https://platform.example.com/fastregister/done\n",
        "  fastreg auth-url --oa wx0a00000000000002 --copy-wx-verify 0 --redirect-uri 'https://platform.example.com/cb?merchant=42'\n",
        "  fastreg auth-url --login --auth-type 1 --redirect-uri https://platform.example.com/authorized\n",
        "  fastreg auth-url --login --pre-auth-code preauthcode@@@… --redirect-uri https://platform.example.com/authorized\n",
        settings_help!()
    ))]
    AuthUrl(AuthUrlArgs),

    /// Register a Mini Program that reuses an Official Account's entity (fastregister), with
    /// the ticket of the admin's fastregisterauth confirmation.
    ///
    /// Sent once, never repeated automatically. Prints the outcome: registered (exit 0; the new
    /// Mini Program's refresh token is saved in the store), not registered (exit 1; the errcode
    /// with its meaning and what to do), or not known yet (exit 2; e.g. a timeout while WeChat
    /// may still be creating it: run the same command again after 5 s, and a finished
    /// registration is answered again, never registered twice).
    #[command(after_help = concat!(
        "Examples:\n",
        "  fastreg register --oa wx0a00000000000001 --ticket b25519093b1e97239eff9d2bfc07e08e\n",
        "  FASTREG_BASE_URL=http://127.0.0.1:8080 fastreg register --oa wx0a00000000000001 --ticket b25519093b1e97239eff9d2bfc07e08e --json\n",
        "\nExit status: 0 registered, 1 not registered (or another error), 2 outcome not known yet.\n",
        settings_help!()
    ))]
    Register(RegisterArgs),

    /// Print a valid access token: the component's, or an authorizer's (cached in the store,
    /// refreshed when needed).
    #[command(
        subcommand,
        after_help = concat!(
            "Examples:\n",
            "  fastreg token component\n",
            "  fastreg token authorizer --appid wx0a00000000000001 --json\n",
            settings_help!()
        )
    )]
    Token(TokenCommand),

    /// The accounts (Official Accounts and Mini Programs) that authorised the component.
    #[command(
        subcommand,
        after_help = concat!(
            "Examples:\n",
            "  fastreg authorizers list\n",
            "  fastreg authorizers list --offset 100 --count 500 --json\n",
            settings_help!()
        )
    )]
    Authorizers(AuthorizersCommand),

    /// Explain a WeChat errcode: meaning and likely cause, what to do, and whether a retry
    /// helps, in English and Chinese.
    ///
    /// Knows every code of the fast-registration flow (the spec's §6 table and a few more).
    /// Needs no credentials and makes no call.
    #[command(after_help = concat!(
        "Examples:\n",
        "  fastreg errcode 61058\n",
        "  fastreg errcode -1 --json\n",
        "  fastreg errcode --all\n",
    ))]
    Errcode(ErrcodeArgs),
}

/// `fastreg token …`.
#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Print a valid component_access_token (from the component secret and verify ticket).
    ///
    /// Only the token goes to stdout (its remaining lifetime goes to stderr), unless --json.
    /// Tokens are secrets: do not paste them into tickets or chats.
    #[command(after_help = concat!(
        "Examples:\n",
        "  fastreg token component --component-appid wxc0ffee0000000001 --verify-ticket 'ticket@@@…'\n",
        "  curl \"https://api.weixin.qq.com/cgi-bin/component/api_get_authorizer_list?component_access_token=$(fastreg token component)\" …\n",
        settings_help!()
    ))]
    Component(TokenComponentArgs),

    /// Print a valid authorizer_access_token of an Official Account or Mini Program that
    /// authorised the component.
    ///
    /// Refreshed with the refresh token in the store; a missing or replaced refresh token is
    /// recovered from api_get_authorizer_list. Only the token goes to stdout (its remaining
    /// lifetime goes to stderr), unless --json.
    #[command(after_help = concat!(
        "Examples:\n",
        "  fastreg token authorizer --appid wx0a00000000000001\n",
        "  fastreg token authorizer --appid wx5e1c000000000001 --json\n",
        settings_help!()
    ))]
    Authorizer(TokenAuthorizerArgs),
}

/// `fastreg authorizers …`.
#[derive(Debug, Subcommand)]
pub enum AuthorizersCommand {
    /// List the accounts that authorised the component (api_get_authorizer_list): appid, when
    /// it authorised (Asia/Shanghai time), and the start of its refresh token.
    #[command(after_help = concat!(
        "Examples:\n",
        "  fastreg authorizers list\n",
        "  fastreg authorizers list --offset 500 --count 500\n",
        "  fastreg authorizers list --json --show-refresh-tokens > authorizers.json\n",
        settings_help!()
    ))]
    List(ListArgs),
}

/// Connection and credential flags shared by the commands that talk to WeChat.
#[derive(Debug, Args)]
#[command(next_help_heading = "Connection and credentials")]
pub struct ClientArgs {
    /// API base URL: WeChat (<https://api.weixin.qq.com>, the default) or a fastreg platform,
    /// e.g. http://127.0.0.1:8080.
    #[arg(long, env = "FASTREG_BASE_URL", value_name = "URL")]
    base_url: Option<String>,
    /// The component's (third-party platform's) appid.
    #[arg(long, env = "FASTREG_COMPONENT_APPID", value_name = "APPID")]
    component_appid: Option<String>,
    /// The component's AppSecret. Never printed.
    #[arg(
        long,
        env = "FASTREG_COMPONENT_SECRET",
        value_name = "SECRET",
        hide_env_values = true
    )]
    component_secret: Option<Secret>,
    /// The component's auth domain (登录授权的发起页域名): the only host a redirect URI may
    /// use, e.g. platform.example.com (or localhost for a fastreg platform's demo world).
    #[arg(long, env = "FASTREG_AUTH_DOMAIN", value_name = "HOST[:PORT]")]
    auth_domain: Option<String>,
    /// SQLite file keeping tokens, refresh tokens and the verify ticket between runs
    /// [default: fastreg-tokens.db in the current directory]. Created with mode 0600.
    #[arg(long, env = "FASTREG_STORE", value_name = "PATH")]
    store: Option<PathBuf>,
    /// The latest component_verify_ticket WeChat pushed to the component; stored before use,
    /// so later runs need it only when it changed.
    #[arg(
        long,
        env = "FASTREG_VERIFY_TICKET",
        value_name = "TICKET",
        hide_env_values = true
    )]
    verify_ticket: Option<Secret>,
    /// A TOML file with any of: base_url, component_appid, component_secret, auth_domain,
    /// store, verify_ticket. Flags and FASTREG_* variables override it.
    #[arg(long = "config", env = "FASTREG_CLIENT_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,
}

/// Flags of `fastreg auth-url`.
#[derive(Debug, Args)]
pub struct AuthUrlArgs {
    /// The Official Account whose admin confirms the fast registration (fastregisterauth).
    #[arg(
        long,
        value_name = "APPID",
        required_unless_present = "login",
        conflicts_with = "login"
    )]
    oa: Option<String>,
    /// Where the admin's browser returns; must be on the component's auth domain. It is
    /// percent-encoded in the link; WeChat appends `ticket=…` (fastregisterauth) or
    /// `auth_code=…` (componentloginpage).
    #[arg(long, value_name = "URI")]
    redirect_uri: String,
    /// Reuse the OA's WeChat verification for the new Mini Program: 1 or 0 [default: 1].
    /// Government, media and other organisations must use 1 (else 61056).
    #[arg(long, value_name = "1|0", value_parser = ["1", "0"], conflicts_with = "login")]
    copy_wx_verify: Option<String>,
    /// Print the componentloginpage link instead (where an account's admin authorises the
    /// component, granting permission set 27 among others).
    #[arg(long)]
    login: bool,
    /// With --login: the pre_auth_code to use. When omitted, one is created
    /// (api_create_preauthcode; needs the component secret and a verify ticket).
    #[arg(long, value_name = "CODE", requires = "login")]
    pre_auth_code: Option<String>,
    /// With --login: which accounts the page offers: 1 Official Accounts, 2 Mini Programs,
    /// 3 both [default: 3].
    #[arg(long, value_name = "1|2|3", value_parser = ["1", "2", "3"], requires = "login")]
    auth_type: Option<String>,
    /// With --login: fix the account to authorise (its appid).
    #[arg(long, value_name = "APPID", requires = "login")]
    biz_appid: Option<String>,
    #[command(flatten)]
    client: ClientArgs,
}

/// Flags of `fastreg register`.
#[derive(Debug, Args)]
pub struct RegisterArgs {
    /// The Official Account whose entity the new Mini Program reuses (it must have granted
    /// permission set 27 to the component).
    #[arg(long, value_name = "APPID")]
    oa: String,
    /// The ticket the admin's confirmation appended to the redirect URI (`ticket=…`).
    #[arg(long, value_name = "TICKET")]
    ticket: String,
    /// How long to wait for WeChat's answer, in seconds. A short timeout turns a slow success
    /// into an unknown outcome (exit 2).
    #[arg(long, value_name = "SECONDS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=600))]
    timeout: u64,
    /// Print one JSON object instead of readable lines.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    client: ClientArgs,
}

/// Flags of `fastreg token component`.
#[derive(Debug, Args)]
pub struct TokenComponentArgs {
    /// Print one JSON object (token, expires_in, expires_at) instead of the bare token.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    client: ClientArgs,
}

/// Flags of `fastreg token authorizer`.
#[derive(Debug, Args)]
pub struct TokenAuthorizerArgs {
    /// The authorizer's appid (an Official Account or a Mini Program).
    #[arg(long, value_name = "APPID")]
    appid: String,
    /// Print one JSON object (token, expires_in, expires_at) instead of the bare token.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    client: ClientArgs,
}

/// Flags of `fastreg authorizers list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// Index of the first authorizer to list.
    #[arg(long, value_name = "N", default_value_t = 0)]
    offset: u32,
    /// How many to list (1 to 500).
    #[arg(long, value_name = "N", default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=500))]
    count: u32,
    /// Show whole refresh tokens (secrets) instead of their first 12 characters.
    #[arg(long)]
    show_refresh_tokens: bool,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    client: ClientArgs,
}

/// Flags of `fastreg errcode`.
#[derive(Debug, Args)]
pub struct ErrcodeArgs {
    /// The errcode, e.g. 61058 (or -1).
    #[arg(
        allow_negative_numbers = true,
        required_unless_present = "all",
        conflicts_with = "all"
    )]
    code: Option<i64>,
    /// List every errcode fastreg knows instead.
    #[arg(long)]
    all: bool,
    /// Print JSON instead of readable lines.
    #[arg(long)]
    json: bool,
}

/// A secret from the command line, the environment or the config file: `Debug` never shows it.
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

/// Runs a client command.
///
/// # Errors
/// Whatever the command reports; printed as one line by `main`.
pub async fn run(cmd: ClientCommand) -> anyhow::Result<()> {
    let work = async move {
        match cmd {
            ClientCommand::AuthUrl(args) => auth_url(args).await,
            ClientCommand::Register(args) => register(args).await,
            ClientCommand::Token(TokenCommand::Component(args)) => token_component(args).await,
            ClientCommand::Token(TokenCommand::Authorizer(args)) => token_authorizer(args).await,
            ClientCommand::Authorizers(AuthorizersCommand::List(args)) => list(args).await,
            ClientCommand::Errcode(args) => errcode(&args),
        }
    };
    // The commands report every outcome themselves, in one line for an error; the SDK's log
    // lines would break that contract, so they show only when asked for.
    let result = if std::env::var_os("FASTREG_LOG").is_some() {
        work.await
    } else {
        work.with_subscriber(tracing::subscriber::NoSubscriber::default())
            .await
    };
    result.map_err(|e| anyhow!(one_line(&format!("{e:#}"))))
}

// ---------------------------------------------------------------------------------------------
// Settings

/// The `--config` file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    base_url: Option<String>,
    component_appid: Option<String>,
    component_secret: Option<String>,
    auth_domain: Option<String>,
    store: Option<PathBuf>,
    verify_ticket: Option<String>,
}

/// The effective settings of a command.
struct Settings {
    base_url: String,
    component_appid: Option<String>,
    component_secret: Option<Secret>,
    auth_domain: Option<String>,
    store: PathBuf,
    verify_ticket: Option<Secret>,
}

/// A client with its store open and the verify ticket stored.
struct Session {
    client: Client,
    store: Arc<SqliteStore>,
    settings: Settings,
}

fn non_empty(s: Option<String>) -> Option<String> {
    s.filter(|v| !v.trim().is_empty())
}

fn load_file(path: &Path) -> anyhow::Result<FileConfig> {
    use figment::providers::{Format, Toml};
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the config file {}", path.display()))?;
    figment::Figment::from(Toml::string(&text))
        .extract::<FileConfig>()
        .map_err(|e| anyhow!("invalid config file {}: {e}", path.display()))
}

impl Settings {
    /// Flags and environment (clap already put flags over env), then the file, then defaults.
    fn resolve(args: &ClientArgs) -> anyhow::Result<Settings> {
        let file = match &args.config {
            Some(path) => load_file(path)?,
            None => FileConfig::default(),
        };
        let pick = |flag: &Option<String>, file: Option<String>| {
            non_empty(flag.clone()).or_else(|| non_empty(file))
        };
        let secret = |flag: &Option<Secret>, file: Option<String>| {
            pick(&flag.as_ref().map(|s| s.0.clone()), file).map(Secret)
        };
        let base_url = pick(&args.base_url, file.base_url)
            .unwrap_or_else(|| WECHAT_API.to_string())
            .trim()
            .trim_end_matches('/')
            .to_string();
        let store = args
            .store
            .clone()
            .filter(|p| !p.as_os_str().is_empty())
            .or(file.store.filter(|p| !p.as_os_str().is_empty()))
            .unwrap_or_else(|| PathBuf::from("fastreg-tokens.db"));
        Ok(Settings {
            base_url,
            component_appid: pick(&args.component_appid, file.component_appid)
                .map(|s| s.trim().to_string()),
            component_secret: secret(&args.component_secret, file.component_secret),
            auth_domain: pick(&args.auth_domain, file.auth_domain).map(|s| s.trim().to_string()),
            store,
            verify_ticket: secret(&args.verify_ticket, file.verify_ticket),
        })
    }

    fn component_appid(&self) -> anyhow::Result<&str> {
        self.component_appid.as_deref().ok_or_else(|| {
            anyhow!(
                "missing the component's appid: pass --component-appid or set \
                 FASTREG_COMPONENT_APPID (or component_appid in the --config file)"
            )
        })
    }

    fn component_secret(&self) -> anyhow::Result<&str> {
        self.component_secret
            .as_ref()
            .map(|s| s.0.as_str())
            .ok_or_else(|| {
                anyhow!(
                    "missing the component's AppSecret: pass --component-secret or set \
                     FASTREG_COMPONENT_SECRET (or component_secret in the --config file)"
                )
            })
    }

    fn auth_domain(&self) -> anyhow::Result<&str> {
        self.auth_domain.as_deref().ok_or_else(|| {
            anyhow!(
                "missing the component's auth domain (登录授权的发起页域名): pass --auth-domain \
                 or set FASTREG_AUTH_DOMAIN (or auth_domain in the --config file)"
            )
        })
    }

    fn builder(&self, appid: &str, secret: &str) -> ClientBuilder {
        let mut b = Client::builder(appid, secret).base_url(&self.base_url);
        if let Some(d) = &self.auth_domain {
            b = b.auth_domain(d);
        }
        b
    }

    /// A client that can call WeChat: credentials checked, store open, verify ticket stored.
    async fn connect(
        self,
        adjust: impl FnOnce(ClientBuilder) -> ClientBuilder,
    ) -> anyhow::Result<Session> {
        let appid = self.component_appid()?.to_string();
        let secret = self.component_secret()?.to_string();
        let path = self.store.clone();
        let store = tokio::task::spawn_blocking(move || SqliteStore::open(&path))
            .await
            .context("opening the token store")?
            .map_err(|e| {
                anyhow!(
                    "cannot open the token store {}: {}",
                    self.store.display(),
                    e.message
                )
            })?;
        let store = Arc::new(store);
        let client = adjust(self.builder(&appid, &secret))
            .store(store.clone())
            .build()
            .map_err(|e| self.sdk_error(e))?;
        if let Some(ticket) = &self.verify_ticket {
            client
                .set_verify_ticket(&ticket.0)
                .await
                .map_err(|e| self.sdk_error(e))?;
        }
        Ok(Session {
            client,
            store,
            settings: self,
        })
    }

    /// An SDK error as one line that says what to do.
    fn sdk_error(&self, e: SdkError) -> anyhow::Error {
        anyhow!(self.describe(e))
    }

    fn describe(&self, e: SdkError) -> String {
        let line = match e {
            SdkError::Api { code, errmsg, rid } => {
                let rid = rid.map(|r| format!(" (rid {r})")).unwrap_or_default();
                match code.info() {
                    Some(i) => format!(
                        "WeChat refused with {} {}{rid}: {} What to do: {}",
                        i.code, i.errmsg, i.meaning, i.remedy
                    ),
                    None => format!(
                        "WeChat refused with errcode {}{rid}: {errmsg:?} (an errcode fastreg does \
                         not know; see WeChat's documentation of the API)",
                        code.code()
                    ),
                }
            }
            SdkError::Transport {
                source, maybe_sent, ..
            } => {
                let path = source
                    .url()
                    .map(|u| format!(" ({})", u.path()))
                    .unwrap_or_default();
                // The URL may carry an access token: leave it out.
                let chain = error_chain(&source.without_url());
                let sent = if maybe_sent {
                    ""
                } else {
                    " (nothing was sent)"
                };
                format!("cannot reach {}{path}: {chain}{sent}", self.base_url)
            }
            SdkError::Timeout(d) => {
                format!("no answer from {} within {d:?}", self.base_url)
            }
            SdkError::Decode {
                status,
                message,
                body,
            } => {
                let start: String = body.chars().take(160).collect();
                format!(
                    "{} answered something that is not WeChat's JSON (HTTP {status}: {message}); \
                     is --base-url right? The answer starts with {start:?}",
                    self.base_url
                )
            }
            SdkError::NoVerifyTicket(component) => format!(
                "no component_verify_ticket is stored for {component} in {}: pass the latest \
                 ticket WeChat pushed with --verify-ticket or FASTREG_VERIFY_TICKET (a fastreg \
                 platform shows it at GET /sandbox/v1/components/{component}/verify-ticket)",
                self.store.display()
            ),
            SdkError::RedirectNotAllowed { host, auth_domain } => format!(
                "redirect_uri host {host:?} is not the component's auth domain {auth_domain:?} \
                 (WeChat would refuse with 61060): use a redirect on {auth_domain}, or fix \
                 --auth-domain"
            ),
            other => other.to_string(),
        };
        one_line(&line)
    }
}

/// An error and its sources, joined with ": ".
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut parts = vec![e.to_string()];
    let mut next = e.source();
    while let Some(s) = next {
        let text = s.to_string();
        if !parts.last().is_some_and(|p| p.contains(&text)) {
            parts.push(text);
        }
        next = s.source();
    }
    parts.join(": ")
}

/// Folds any line breaks so an error is exactly one line.
fn one_line(s: &str) -> String {
    s.split(['\n', '\r'])
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

// ---------------------------------------------------------------------------------------------
// auth-url

async fn auth_url(args: AuthUrlArgs) -> anyhow::Result<()> {
    let settings = Settings::resolve(&args.client)?;
    let appid = settings.component_appid()?.to_string();
    settings.auth_domain()?;
    if !args.login {
        let oa = args.oa.as_deref().unwrap_or_default();
        let copy = args.copy_wx_verify.as_deref() != Some("0");
        let url = url_only_client(&settings, &appid)?
            .fast_register_auth_url(oa, copy, &args.redirect_uri)
            .map_err(|e| settings.sdk_error(e))?;
        out!("{url}");
        return Ok(());
    }
    let auth_type = match args.auth_type.as_deref() {
        Some("1") => AuthType::OfficialAccounts,
        Some("2") => AuthType::MiniPrograms,
        _ => AuthType::Both,
    };
    let biz = args.biz_appid.as_deref();
    let (settings, client, code) = match args.pre_auth_code.clone() {
        Some(code) => {
            let client = url_only_client(&settings, &appid)?;
            (settings, client, code)
        }
        None => {
            let Session {
                client, settings, ..
            } = settings.connect(|b| b).await?;
            // Check the redirect before spending a pre_auth_code on it.
            client
                .component_login_page_url("-", &args.redirect_uri, auth_type, biz)
                .map_err(|e| settings.sdk_error(e))?;
            let code = client
                .create_pre_auth_code()
                .await
                .map_err(|e| settings.sdk_error(e))?
                .pre_auth_code;
            (settings, client, code)
        }
    };
    let url = client
        .component_login_page_url(&code, &args.redirect_uri, auth_type, biz)
        .map_err(|e| settings.sdk_error(e))?;
    out!("{url}");
    Ok(())
}

/// A client that only builds page URLs: no call is made, so the secret is not needed (the SDK
/// requires a non-empty one; a placeholder stands in when none is configured).
fn url_only_client(settings: &Settings, appid: &str) -> anyhow::Result<Client> {
    let secret = settings
        .component_secret
        .as_ref()
        .map_or("not-needed-for-urls", |s| s.0.as_str());
    settings
        .builder(appid, secret)
        .build()
        .map_err(|e| settings.sdk_error(e))
}

// ---------------------------------------------------------------------------------------------
// register

/// The last fastregister attempt with a ticket, kept in the store so the ≥ 5 s rule and the
/// meaning of a 61058 after an unknown outcome hold across runs (the SDK remembers them only
/// within one process).
#[derive(Debug, Serialize, Deserialize)]
struct AttemptMark {
    finished_ms: i64,
    ambiguous: bool,
}

const RETRY_INTERVAL_MS: i64 = 5_000;

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

async fn register(args: RegisterArgs) -> anyhow::Result<()> {
    let settings = Settings::resolve(&args.client)?;
    let timeout = Duration::from_secs(args.timeout);
    let session = settings
        .connect(|b| {
            b.fast_register_timeout(timeout)
                .fast_register_retry_interval(Duration::from_millis(RETRY_INTERVAL_MS as u64))
        })
        .await?;
    let s = &session.settings;
    let mark_key = format!(
        "fastreg-cli:{}:fastregister_attempt:{}",
        session.client.component_appid(),
        args.ticket
    );
    let previous: Option<AttemptMark> = session
        .store
        .get(&mark_key)
        .await
        .map_err(|e| s.sdk_error(e.into()))?
        .filter(|m| m.expires_at.is_none_or(|at| at > unix_now()))
        .and_then(|m| serde_json::from_str(&m.value).ok());
    if let Some(p) = &previous {
        let wait = p.finished_ms + RETRY_INTERVAL_MS - now_ms();
        if wait > 0 {
            // Said only to a person watching: a script's stderr stays one line on an error.
            if std::io::stderr().is_terminal() {
                let _ = writeln!(
                std::io::stderr(),
                "waiting {:.1} s: fastregister must not be repeated within 5 s with one ticket \
                 (WeChat answers 61058)",
                    wait as f64 / 1000.0
                );
            }
            tokio::time::sleep(Duration::from_millis(wait as u64)).await;
        }
    }

    let outcome = session.client.fast_register(&args.oa, &args.ticket).await;
    let earlier_unknown = previous.as_ref().is_some_and(|p| p.ambiguous);
    let outcome = match outcome {
        FastRegisterOutcome::NotRegistered(e)
            if earlier_unknown && e.code() == Some(ErrCode::InvalidTicket) =>
        {
            FastRegisterOutcome::Unknown(e)
        }
        o => o,
    };
    let mark = AttemptMark {
        finished_ms: now_ms(),
        ambiguous: matches!(outcome, FastRegisterOutcome::Unknown(_)),
    };
    if let Err(e) = session
        .store
        .put(
            &mark_key,
            Stored {
                value: serde_json::to_string(&mark)?,
                expires_at: Some(unix_now() + 1800),
            },
        )
        .await
    {
        let _ = writeln!(
            std::io::stderr(),
            "warning: could not record the attempt in the store: {e}"
        );
    }

    match outcome {
        FastRegisterOutcome::Registered(mp) => {
            print_registered(s, &args, &mp);
            Ok(())
        }
        FastRegisterOutcome::NotRegistered(e) => {
            let code = e.code();
            let line = format!("not registered: {}", s.describe(e));
            if args.json {
                let mut v = json!({"outcome": "not_registered", "oa": args.oa, "error": line});
                add_errcode_fields(&mut v, code);
                out!("{v}");
            }
            Err(anyhow!(line))
        }
        FastRegisterOutcome::Unknown(e) => {
            let cause = if earlier_unknown && e.code() == Some(ErrCode::InvalidTicket) {
                "an earlier attempt with this ticket ended without a known outcome, and WeChat now \
                 answers 61058 invalid ticket: the registration may still be running"
                    .to_string()
            } else {
                s.describe(e)
            };
            let advice = "the Mini Program may still be being created: run the same command again \
                          (same --oa and --ticket) after 5 s; a finished registration is answered \
                          again, never registered twice";
            let line = format!("outcome not known yet: {cause}; {advice}");
            if args.json {
                let v = json!({"outcome": "unknown", "oa": args.oa, "error": line,
                               "advice": advice});
                out!("{v}");
            }
            let _ = writeln!(std::io::stderr(), "error: {}", one_line(&line));
            let _ = std::io::stdout().flush();
            std::process::exit(2);
        }
    }
}

fn print_registered(s: &Settings, args: &RegisterArgs, mp: &RegisteredMiniProgram) {
    let evidence = match mp.evidence {
        Evidence::Answered => "answered",
        Evidence::Reconciled => "reconciled",
    };
    if args.json {
        let v = json!({
            "outcome": "registered",
            "oa": args.oa,
            "appid": mp.appid,
            "is_wx_verify_succ": mp.is_wx_verify_succ,
            "is_link_succ": mp.is_link_succ,
            "refresh_token_saved": mp.refresh_token_saved,
            "evidence": evidence,
            "authorization_code": mp.authorization_code,
            "store": s.store.display().to_string(),
        });
        out!("{v}");
        return;
    }
    let yes_no = |b: Option<bool>| match b {
        Some(true) => "yes",
        Some(false) => "no",
        None => "unknown (found by reconciliation)",
    };
    out!(
        "registered Mini Program {} for Official Account {}",
        mp.appid,
        args.oa
    );
    out!(
        "  reused the OA's verification (is_wx_verify_succ): {}",
        yes_no(mp.is_wx_verify_succ)
    );
    out!(
        "  linked to the OA (is_link_succ):                  {}",
        yes_no(mp.is_link_succ)
    );
    if mp.refresh_token_saved {
        out!(
            "  refresh token saved:                             yes, in {}",
            s.store.display()
        );
    } else {
        out!(
            "  refresh token saved:                             NO: run `fastreg token \
             authorizer --appid {}` soon to recover it from api_get_authorizer_list",
            mp.appid
        );
    }
    out!(
        "  evidence:                                        {}",
        match mp.evidence {
            Evidence::Answered => "answered by WeChat",
            Evidence::Reconciled =>
                "reconciled: the call failed, but the Mini Program appeared linked to the OA",
        }
    );
}

fn add_errcode_fields(v: &mut Value, code: Option<ErrCode>) {
    let Some(code) = code else { return };
    v["errcode"] = json!(code.code());
    v["errmsg"] = json!(code.errmsg());
    if let Some(i) = code.info() {
        v["meaning"] = json!(i.meaning);
        v["remedy"] = json!(i.remedy);
        v["meaning_zh"] = json!(i.meaning_zh);
        v["remedy_zh"] = json!(i.remedy_zh);
        v["retry"] = json!(retry_name(i.retryable));
    }
}

// ---------------------------------------------------------------------------------------------
// token

async fn token_component(args: TokenComponentArgs) -> anyhow::Result<()> {
    let session = Settings::resolve(&args.client)?.connect(|b| b).await?;
    let token = session
        .client
        .component_token()
        .await
        .map_err(|e| session.settings.sdk_error(e))?;
    let key = format!(
        "fastreg:{}:component_token",
        session.client.component_appid()
    );
    print_token(&session, &key, &token, "component", None, args.json).await
}

async fn token_authorizer(args: TokenAuthorizerArgs) -> anyhow::Result<()> {
    let session = Settings::resolve(&args.client)?.connect(|b| b).await?;
    let token = session
        .client
        .authorizer_token(&args.appid)
        .await
        .map_err(|e| session.settings.sdk_error(e))?;
    let key = format!(
        "fastreg:{}:authorizer_token:{}",
        session.client.component_appid(),
        args.appid
    );
    print_token(
        &session,
        &key,
        &token,
        "authorizer",
        Some(&args.appid),
        args.json,
    )
    .await
}

/// Prints a token (alone on stdout unless `json`) and, when the store knows it, its expiry.
async fn print_token(
    session: &Session,
    key: &str,
    token: &str,
    kind: &str,
    appid: Option<&str>,
    json: bool,
) -> anyhow::Result<()> {
    // The SDK caches the token under its documented key `{namespace}:{component}:{kind}`.
    let expires_at = match session.store.get(key).await {
        Ok(Some(Stored {
            value,
            expires_at: Some(at),
        })) if value == token => Some(at),
        _ => None,
    };
    let expires_in = expires_at.map(|at| (at - unix_now()).max(0));
    if json {
        let mut v = json!({
            "kind": kind,
            "component_appid": session.client.component_appid(),
            "token": token,
            "expires_in": expires_in,
            "expires_at": expires_at,
        });
        if let Some(a) = appid {
            v["appid"] = json!(a);
        }
        out!("{v}");
    } else {
        out!("{token}");
        if let (Some(at), Some(left)) = (expires_at, expires_in) {
            let _ = writeln!(
                std::io::stderr(),
                "valid for another {left} s (until {} Asia/Shanghai)",
                shanghai_time(at)
            );
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// authorizers list

async fn list(args: ListArgs) -> anyhow::Result<()> {
    let session = Settings::resolve(&args.client)?.connect(|b| b).await?;
    let page = session
        .client
        .authorizer_list(args.offset, args.count)
        .await
        .map_err(|e| session.settings.sdk_error(e))?;
    let shown = |t: &str| {
        if args.show_refresh_tokens {
            t.to_string()
        } else {
            refresh_prefix(t)
        }
    };
    if args.json {
        let items: Vec<Value> = page
            .list
            .iter()
            .map(|i| {
                let mut v = json!({
                    "authorizer_appid": i.authorizer_appid,
                    "auth_time": i.auth_time,
                    "auth_time_shanghai": shanghai_time(i.auth_time),
                });
                if args.show_refresh_tokens {
                    v["refresh_token"] = json!(i.refresh_token);
                } else {
                    v["refresh_token_prefix"] = json!(refresh_prefix(&i.refresh_token));
                }
                v
            })
            .collect();
        let v = json!({
            "component_appid": session.client.component_appid(),
            "total_count": page.total_count,
            "offset": args.offset,
            "authorizers": items,
        });
        out!("{v}");
        return Ok(());
    }
    if page.list.is_empty() {
        out!(
            "no authorizers from offset {} ({} in all)",
            args.offset,
            page.total_count
        );
        return Ok(());
    }
    let width = page
        .list
        .iter()
        .map(|i| i.authorizer_appid.chars().count())
        .max()
        .unwrap_or(0)
        .max("APPID".len());
    out!(
        "{:<width$}  {:<26}  REFRESH TOKEN",
        "APPID",
        "AUTHORISED (Asia/Shanghai)"
    );
    for i in &page.list {
        out!(
            "{:<width$}  {:<26}  {}",
            i.authorizer_appid,
            shanghai_time(i.auth_time),
            shown(&i.refresh_token)
        );
    }
    let first = u64::from(args.offset) + 1;
    let last = u64::from(args.offset) + page.list.len() as u64;
    out!("{first}–{last} of {} authorizers", page.total_count);
    Ok(())
}

/// The first 12 characters of a refresh token (after WeChat's `refreshtoken@@@`-style prefix,
/// which every token shares) and an ellipsis: enough to tell tokens apart, not enough to use.
fn refresh_prefix(t: &str) -> String {
    let t = t.rsplit_once("@@@").map_or(t, |(_, rest)| rest);
    if t.chars().count() <= 12 {
        // Too short to hide anything by cutting; show only that there is one.
        return format!(
            "{}…",
            t.chars().take(t.chars().count() / 2).collect::<String>()
        );
    }
    format!("{}…", t.chars().take(12).collect::<String>())
}

/// Unix seconds as Asia/Shanghai wall-clock time (UTC+8 all year: no daylight saving time
/// since 1991).
fn shanghai_time(unix: i64) -> String {
    let t = unix + 8 * 3600;
    let (days, secs) = (t.div_euclid(86_400), t.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

/// Days since 1970-01-01 → (year, month, day), proleptic Gregorian (H. Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

// ---------------------------------------------------------------------------------------------
// errcode

fn retry_name(r: Retry) -> &'static str {
    match r {
        Retry::Never => "never",
        Retry::AfterRefresh => "after_refresh",
        Retry::Later => "later",
    }
}

fn retry_text(r: Retry) -> (&'static str, &'static str) {
    match r {
        Retry::Never => (
            "no: the same call cannot succeed until a person or a setting changes something",
            "否：原样重试不会成功，需要人工处理或修改配置",
        ),
        Retry::AfterRefresh => (
            "once, after fetching a fresh token or code (the SDK does this by itself)",
            "获取新的 token 或授权码后可重试一次（SDK 会自动处理）",
        ),
        Retry::Later => (
            "yes, later, with backoff (for fastregister: first check whether it registered)",
            "可以，稍后退避重试（快速注册请先确认是否已注册成功）",
        ),
    }
}

fn info_json(i: &ErrCodeInfo) -> Value {
    json!({
        "errcode": i.code,
        "errmsg": i.errmsg,
        "meaning": i.meaning,
        "remedy": i.remedy,
        "meaning_zh": i.meaning_zh,
        "remedy_zh": i.remedy_zh,
        "retry": retry_name(i.retryable),
        "retry_helps": retry_text(i.retryable).0,
        "retry_helps_zh": retry_text(i.retryable).1,
    })
}

fn errcode(args: &ErrcodeArgs) -> anyhow::Result<()> {
    if args.all {
        if args.json {
            let all: Vec<Value> = TABLE.iter().map(info_json).collect();
            out!("{}", Value::Array(all));
            return Ok(());
        }
        for i in TABLE {
            out!(
                "{:>6}  {:<13}  {}",
                i.code,
                retry_name(i.retryable),
                i.errmsg
            );
            out!("        {}", i.meaning);
            out!("        {}", i.meaning_zh);
        }
        out!(
            "\n{} errcodes. `fastreg errcode N` says what to do about one.",
            TABLE.len()
        );
        return Ok(());
    }
    let code = args.code.unwrap_or_default();
    let Some(i) = ErrCode::from_code(code).info() else {
        anyhow::bail!(
            "errcode {code} is not known to fastreg (`fastreg errcode --all` lists the codes of \
             the fast-registration flow)"
        );
    };
    if args.json {
        out!("{}", info_json(i));
        return Ok(());
    }
    let (retry_en, retry_zh) = retry_text(i.retryable);
    out!("{} {}", i.code, i.errmsg);
    out!();
    out!("Meaning and likely cause: {}", i.meaning);
    out!("What to do:               {}", i.remedy);
    out!("Does a retry help?        {retry_en}");
    out!();
    out!("含义与可能原因：{}", i.meaning_zh);
    out!("处理方法：      {}", i.remedy_zh);
    out!("重试是否有用：  {retry_zh}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shanghai_time_is_utc_plus_eight() {
        assert_eq!(shanghai_time(0), "1970-01-01 08:00:00");
        // 2024-02-29 16:00:00 UTC is midnight of 1 March in Shanghai.
        assert_eq!(shanghai_time(1_709_222_400), "2024-03-01 00:00:00");
        assert_eq!(shanghai_time(1_735_660_799), "2024-12-31 23:59:59");
    }

    #[test]
    fn refresh_tokens_are_cut_to_twelve_characters() {
        assert_eq!(
            refresh_prefix("refreshtoken@@@abcdefghijklmnop"),
            "abcdefghijkl…"
        );
        assert_eq!(refresh_prefix("short"), "sh…");
    }

    #[test]
    fn errors_are_folded_into_one_line() {
        assert_eq!(one_line("a\n  b\r\nc\n"), "a b c");
    }
}
