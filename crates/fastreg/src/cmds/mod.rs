//! Client commands: `auth-url`, `register`, `token`, `authorizers` and `errcode`, one file
//! each, with their flags.
//!
//! They work against any base URL (the real WeChat by default, or a fastreg platform) and are
//! built on the SDK (`fastreg-client`): no command talks HTTP itself. Settings come from flags,
//! then `FASTREG_*` environment variables, then a TOML file (`--config`); [`settings`] resolves
//! them. Tokens, refresh tokens and the verify ticket live in an SDK `SqliteStore` (`--store`,
//! default `./fastreg-tokens.db`), so they persist between runs.
//!
//! Output contract: results on stdout (tokens alone, so `$(fastreg token component)` works),
//! errors as ONE line on stderr (`error: …`, printed by `main`), exit status 0 on success, 1 on
//! an error, 2 when a fastregister outcome is not known yet. The SDK's own log lines are
//! silenced unless `FASTREG_LOG` is set.

use anyhow::anyhow;
use clap::Subcommand;
use tracing::instrument::WithSubscriber as _;

/// Writes a line to stdout, ignoring a closed pipe (`fastreg errcode --all | head` must not
/// panic as `println!` would).
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
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

mod auth_url;
mod authorizers;
mod errcode;
mod register;
mod settings;
mod token;

use auth_url::AuthUrlArgs;
use authorizers::AuthorizersCommand;
use errcode::ErrcodeArgs;
use register::RegisterArgs;
use token::TokenCommand;

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

/// Runs a client command.
///
/// # Errors
/// Whatever the command reports; printed as one line by `main`.
pub async fn run(cmd: ClientCommand) -> anyhow::Result<()> {
    let work = async move {
        match cmd {
            ClientCommand::AuthUrl(args) => auth_url::run(args).await,
            ClientCommand::Register(args) => register::run(args).await,
            ClientCommand::Token(cmd) => token::run(cmd).await,
            ClientCommand::Authorizers(cmd) => authorizers::run(cmd).await,
            ClientCommand::Errcode(args) => errcode::run(&args),
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

/// Folds any line breaks so an error is exactly one line.
pub(crate) fn one_line(s: &str) -> String {
    s.split(['\n', '\r'])
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// An error and its sources, joined with ": " (a source already in the text before it is
/// left out).
pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
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

/// Unix seconds as Asia/Shanghai wall-clock time, from the time-zone database.
fn shanghai_time(unix: i64) -> String {
    use chrono::TimeZone as _;
    let utc = chrono::DateTime::from_timestamp(unix, 0).unwrap_or(chrono::DateTime::UNIX_EPOCH);
    chrono_tz::Asia::Shanghai
        .from_utc_datetime(&utc.naive_utc())
        .format("%Y-%m-%d %H:%M:%S")
        .to_string()
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
    fn errors_are_folded_into_one_line() {
        assert_eq!(one_line("a\n  b\r\nc\n"), "a b c");
    }
}
