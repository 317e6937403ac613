//! `fastreg token component|authorizer`: a valid access token, cached in the store and
//! refreshed by the SDK when needed; the token alone on stdout.

use std::io::Write as _;

use clap::{Args, Subcommand};
use fastreg_client::store::{unix_now, Stored, TokenStore};
use serde_json::json;

use super::settings::{ClientArgs, Profile, Session};
use super::shanghai_time;

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

/// Runs `fastreg token …`.
pub(super) async fn run(cmd: TokenCommand) -> anyhow::Result<()> {
    match cmd {
        TokenCommand::Component(args) => token_component(args).await,
        TokenCommand::Authorizer(args) => token_authorizer(args).await,
    }
}

async fn token_component(args: TokenComponentArgs) -> anyhow::Result<()> {
    let session = Profile::resolve(&args.client)?.connect(|b| b).await?;
    let token = session
        .client
        .component_token()
        .await
        .map_err(|e| session.profile.sdk_error(e))?;
    let key = format!(
        "fastreg:{}:component_token",
        session.client.component_appid()
    );
    print_token(&session, &key, &token, "component", None, args.json).await
}

async fn token_authorizer(args: TokenAuthorizerArgs) -> anyhow::Result<()> {
    let session = Profile::resolve(&args.client)?.connect(|b| b).await?;
    let token = session
        .client
        .authorizer_token(&args.appid)
        .await
        .map_err(|e| session.profile.sdk_error(e))?;
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
