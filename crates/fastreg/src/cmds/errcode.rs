//! `fastreg errcode`: what a WeChat errcode means and what to do, in English and Chinese,
//! from the wire crate's table. No credentials, no call.

use clap::Args;
use fastreg_client::ErrCode;
use fastreg_wire::errcode::{ErrCodeInfo, Retry, TABLE};
use serde_json::{json, Value};

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

pub(super) fn retry_name(r: Retry) -> &'static str {
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

/// Runs `fastreg errcode`.
pub(super) fn run(args: &ErrcodeArgs) -> anyhow::Result<()> {
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
