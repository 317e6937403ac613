//! Where a client command's settings come from (flags, then `FASTREG_*` variables, then the
//! `--config` file, then defaults), the client and token store they open, and how an SDK error
//! is told to a person in one line.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{anyhow, Context as _};
use clap::Args;
use fastreg_client::store::SqliteStore;
use fastreg_client::{Client, ClientBuilder, Error as SdkError, WECHAT_API};
use serde::Deserialize;

use super::{error_chain, one_line};

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
    component_secret: Option<SecretArg>,
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
    verify_ticket: Option<SecretArg>,
    /// A TOML file with any of: base_url, component_appid, component_secret, auth_domain,
    /// store, verify_ticket. Flags and FASTREG_* variables override it.
    #[arg(long = "config", env = "FASTREG_CLIENT_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,
}

/// A secret from the command line, the environment or the config file: `Debug` never shows it.
#[derive(Clone)]
pub struct SecretArg(pub(super) String);

impl fmt::Debug for SecretArg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"***\"")
    }
}

impl From<String> for SecretArg {
    fn from(s: String) -> Self {
        SecretArg(s)
    }
}

/// The `--config` file.
#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    base_url: Option<String>,
    component_appid: Option<String>,
    component_secret: Option<String>,
    auth_domain: Option<String>,
    store: Option<PathBuf>,
    verify_ticket: Option<String>,
}

fastreg_wire::debug_masked!(FileConfig {
    base_url,
    component_appid,
    component_secret masked,
    auth_domain,
    store,
    verify_ticket masked,
});

/// The effective settings of a command (its profile).
pub(super) struct Profile {
    pub(super) base_url: String,
    pub(super) component_appid: Option<String>,
    pub(super) component_secret: Option<SecretArg>,
    pub(super) auth_domain: Option<String>,
    pub(super) store: PathBuf,
    pub(super) verify_ticket: Option<SecretArg>,
}

/// A client with its store open and the verify ticket stored.
pub(super) struct Session {
    pub(super) client: Client,
    pub(super) store: Arc<SqliteStore>,
    pub(super) profile: Profile,
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

impl Profile {
    /// Flags and environment (clap already put flags over env), then the file, then defaults.
    pub(super) fn resolve(args: &ClientArgs) -> anyhow::Result<Profile> {
        let file = match &args.config {
            Some(path) => load_file(path)?,
            None => FileConfig::default(),
        };
        let pick = |flag: &Option<String>, file: Option<String>| {
            non_empty(flag.clone()).or_else(|| non_empty(file))
        };
        let secret = |flag: &Option<SecretArg>, file: Option<String>| {
            pick(&flag.as_ref().map(|s| s.0.clone()), file).map(SecretArg)
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
        Ok(Profile {
            base_url,
            component_appid: pick(&args.component_appid, file.component_appid)
                .map(|s| s.trim().to_string()),
            component_secret: secret(&args.component_secret, file.component_secret),
            auth_domain: pick(&args.auth_domain, file.auth_domain).map(|s| s.trim().to_string()),
            store,
            verify_ticket: secret(&args.verify_ticket, file.verify_ticket),
        })
    }

    pub(super) fn component_appid(&self) -> anyhow::Result<&str> {
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

    pub(super) fn auth_domain(&self) -> anyhow::Result<&str> {
        self.auth_domain.as_deref().ok_or_else(|| {
            anyhow!(
                "missing the component's auth domain (登录授权的发起页域名): pass --auth-domain \
                 or set FASTREG_AUTH_DOMAIN (or auth_domain in the --config file)"
            )
        })
    }

    pub(super) fn builder(&self, appid: &str, secret: &str) -> ClientBuilder {
        let mut b = Client::builder(appid, secret).base_url(&self.base_url);
        if let Some(d) = &self.auth_domain {
            b = b.auth_domain(d);
        }
        b
    }

    /// A client that can call WeChat: credentials checked, store open, verify ticket stored.
    pub(super) async fn connect(
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
            profile: self,
        })
    }

    /// An SDK error as one line that says what to do.
    pub(super) fn sdk_error(&self, e: SdkError) -> anyhow::Error {
        anyhow!(self.describe(e))
    }

    pub(super) fn describe(&self, e: SdkError) -> String {
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
