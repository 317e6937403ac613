//! `fastreg register`: one fastregister call with the admin's ticket, never repeated by
//! itself, and its outcome (registered, not registered, or not known yet: exit 2).

use std::io::Write as _;
use std::time::Duration;

use anyhow::anyhow;
use clap::Args;
use fastreg_client::{
    ErrCode, Error as SdkError, Evidence, FastRegisterOutcome, RegisteredMiniProgram,
};
use serde_json::{json, Value};

use super::errcode::retry_name;
use super::one_line;
use super::settings::{ClientArgs, Profile};

/// Flags of `fastreg register`.
#[derive(Args)]
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

fastreg_wire::debug_masked!(RegisterArgs { oa, ticket masked, timeout, json, client });

/// Runs `fastreg register`.
pub(super) async fn run(args: RegisterArgs) -> anyhow::Result<()> {
    let profile = Profile::resolve(&args.client)?;
    let timeout = Duration::from_secs(args.timeout);
    let session = profile
        .connect(|b| {
            b.fast_register_timeout(timeout)
                .fast_register_retry_interval(Duration::from_secs(5))
        })
        .await?;
    let s = &session.profile;
    // The SDK keeps the attempt in the token store: a second run waits out the 5 s between
    // attempts and reads a 61058 after an unknown outcome as still unknown.
    let outcome = session.client.fast_register(&args.oa, &args.ticket).await;

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
            let cause = if matches!(e, SdkError::EarlierAttemptUnsettled { .. }) {
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

fn print_registered(s: &Profile, args: &RegisterArgs, mp: &RegisteredMiniProgram) {
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
