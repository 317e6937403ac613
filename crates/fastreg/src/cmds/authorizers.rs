//! `fastreg authorizers list`: the accounts that authorised the component
//! (api_get_authorizer_list), with refresh tokens cut short unless asked for.

use clap::{Args, Subcommand};
use serde_json::{json, Value};

use super::settings::{ClientArgs, Profile};
use super::shanghai_time;

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

/// Runs `fastreg authorizers …`.
pub(super) async fn run(cmd: AuthorizersCommand) -> anyhow::Result<()> {
    match cmd {
        AuthorizersCommand::List(args) => list(args).await,
    }
}

async fn list(args: ListArgs) -> anyhow::Result<()> {
    let session = Profile::resolve(&args.client)?.connect(|b| b).await?;
    let page = session
        .client
        .authorizer_list(args.offset, args.count)
        .await
        .map_err(|e| session.profile.sdk_error(e))?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refresh_tokens_are_cut_to_twelve_characters() {
        assert_eq!(
            refresh_prefix("refreshtoken@@@abcdefghijklmnop"),
            "abcdefghijkl…"
        );
        assert_eq!(refresh_prefix("short"), "sh…");
    }
}
