//! The client commands (`auth-url`, `register`, `token`, `authorizers`, `errcode`) as a real
//! process, against a platform run in-process on port 0 with the demo world.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::common::{self, platform, platform_with, Platform};

use fastreg_platform::testing::demo::{
    COMPONENT as C, OA, OAS as DEMO_OAS, OA_PERSONAL as PERSONAL_OA,
};

impl Platform {
    async fn secret(&self) -> String {
        self.sandbox("GET", &format!("/components/{C}"), None).await["appsecret"]
            .as_str()
            .unwrap()
            .into()
    }

    async fn verify_ticket(&self) -> String {
        self.sandbox("GET", &format!("/components/{C}/verify-ticket"), None)
            .await["component_verify_ticket"]
            .as_str()
            .unwrap()
            .into()
    }

    /// The OA's admin confirms a fast registration on fastregisterauth; returns the ticket.
    async fn confirm(&self, oa: &str) -> String {
        self.sandbox(
            "POST",
            "/fastregister-confirmations",
            Some(
                json!({"component_appid": C, "appid": oa, "copy_wx_verify": 1,
                        "redirect_uri": "https://localhost/cb"}),
            ),
        )
        .await["ticket"]
            .as_str()
            .unwrap()
            .into()
    }

    async fn registrations(&self, oa: &str) -> Vec<Value> {
        self.sandbox("GET", &format!("/registrations?appid={oa}"), None)
            .await
            .as_array()
            .unwrap()
            .clone()
    }

    /// The flags that point a client command at this platform with full credentials.
    async fn flags(&self) -> Vec<String> {
        vec![
            "--base-url".into(),
            self.base.clone(),
            "--component-appid".into(),
            C.into(),
            "--component-secret".into(),
            self.secret().await,
            "--auth-domain".into(),
            "localhost".into(),
            "--verify-ticket".into(),
            self.verify_ticket().await,
        ]
    }
}

/// What a finished `fastreg` process left behind.
#[derive(Debug)]
struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Run {
    fn stderr_lines(&self) -> Vec<&str> {
        self.stderr.lines().collect()
    }

    #[track_caller]
    fn assert_ok(&self) {
        assert_eq!(self.code, Some(0), "{self:#?}");
    }

    /// Exit status `code`, and stderr is exactly one `error: …` line.
    #[track_caller]
    fn assert_one_error_line(&self, code: i32) -> &str {
        assert_eq!(self.code, Some(code), "{self:#?}");
        let lines = self.stderr_lines();
        assert_eq!(lines.len(), 1, "one line on stderr: {self:#?}");
        assert!(lines[0].starts_with("error: "), "{self:#?}");
        lines[0]
    }
}

/// Runs the `fastreg` binary in `dir` with `args` and `env`, with none of the test machine's
/// `FASTREG_*` variables.
async fn fastreg<S: AsRef<std::ffi::OsStr>>(dir: &Path, args: &[S], env: &[(&str, &str)]) -> Run {
    let mut cmd = tokio::process::Command::from(common::fastreg());
    // The client commands' own default log level, not the servers' `warn`: their stderr is the
    // one error line under test.
    cmd.env_remove("FASTREG_LOG");
    cmd.args(args).current_dir(dir).kill_on_drop(true);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = tokio::time::timeout(Duration::from_secs(120), cmd.output())
        .await
        .expect("fastreg finishes within 2 minutes")
        .expect("fastreg runs");
    Run {
        code: out.status.code(),
        stdout: String::from_utf8(out.stdout).unwrap(),
        stderr: String::from_utf8(out.stderr).unwrap(),
    }
}

fn args(fixed: &[&str], flags: &[String]) -> Vec<String> {
    fixed
        .iter()
        .map(|s| s.to_string())
        .chain(flags.iter().cloned())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn token_component_prints_only_a_token_and_a_second_run_reuses_it_from_the_store() {
    let p = platform().await;
    let dir = tempfile::tempdir().unwrap();
    let run = fastreg(
        dir.path(),
        &args(&["token", "component"], &p.flags().await),
        &[],
    )
    .await;
    run.assert_ok();
    let token = run.stdout.trim_end_matches('\n');
    assert!(
        !token.is_empty() && !token.contains(char::is_whitespace),
        "{run:#?}"
    );
    assert_eq!(
        run.stdout,
        format!("{token}\n"),
        "nothing but the token on stdout"
    );
    assert!(run.stderr.contains("valid for another"), "{run:#?}");
    assert!(
        dir.path().join("fastreg-tokens.db").exists(),
        "the default store is in the current directory"
    );

    // No verify ticket this time: the token (and the ticket) come from the store.
    let secret = p.secret().await;
    let again = fastreg(
        dir.path(),
        &[
            "token",
            "component",
            "--json",
            "--base-url",
            &p.base,
            "--component-appid",
            C,
        ],
        &[("FASTREG_COMPONENT_SECRET", &secret)],
    )
    .await;
    again.assert_ok();
    let v: Value = serde_json::from_str(&again.stdout).expect("one JSON object");
    assert_eq!(v["token"], token);
    assert_eq!(v["kind"], "component");
    let left = v["expires_in"].as_i64().unwrap();
    assert!(left > 7000 && left <= 7200, "{v}");
    assert!(
        !again.stdout.contains(&secret) && !again.stderr.contains(&secret),
        "the secret is never printed"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn token_authorizer_works_for_the_demo_oa_whose_refresh_token_the_sdk_recovers() {
    let p = platform().await;
    let dir = tempfile::tempdir().unwrap();
    let run = fastreg(
        dir.path(),
        &args(&["token", "authorizer", "--appid", OA], &p.flags().await),
        &[],
    )
    .await;
    run.assert_ok();
    let token = run.stdout.trim_end_matches('\n');
    assert!(
        !token.is_empty() && !token.contains(char::is_whitespace),
        "{run:#?}"
    );
    assert_eq!(run.stdout.lines().count(), 1, "{run:#?}");

    let json = fastreg(
        dir.path(),
        &args(
            &["token", "authorizer", "--appid", OA, "--json"],
            &p.flags().await,
        ),
        &[],
    )
    .await;
    json.assert_ok();
    let v: Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(v["token"], token, "cached in the store between runs");
    assert_eq!(v["appid"], OA);
}

#[tokio::test(flavor = "multi_thread")]
async fn token_authorizer_for_an_account_that_never_authorised_fails_with_one_line() {
    let p = platform().await;
    let dir = tempfile::tempdir().unwrap();
    let run = fastreg(
        dir.path(),
        &args(
            &["token", "authorizer", "--appid", "wx0a0000000000ffff"],
            &p.flags().await,
        ),
        &[],
    )
    .await;
    let line = run.assert_one_error_line(1);
    assert!(line.contains("wx0a0000000000ffff"), "{line}");
}

#[tokio::test(flavor = "multi_thread")]
async fn authorizers_list_shows_the_seven_demo_oas_with_refresh_token_prefixes_only() {
    let p = platform().await;
    let dir = tempfile::tempdir().unwrap();
    let flags = p.flags().await;
    let run = fastreg(dir.path(), &args(&["authorizers", "list"], &flags), &[]).await;
    run.assert_ok();
    for oa in DEMO_OAS {
        assert!(run.stdout.contains(oa), "{oa} listed: {}", run.stdout);
    }
    assert!(run.stdout.contains("Asia/Shanghai"), "{}", run.stdout);
    assert!(run.stdout.contains("of 7 authorizers"), "{}", run.stdout);

    let full = fastreg(
        dir.path(),
        &args(
            &["authorizers", "list", "--json", "--show-refresh-tokens"],
            &flags,
        ),
        &[],
    )
    .await;
    full.assert_ok();
    let v: Value = serde_json::from_str(&full.stdout).unwrap();
    assert_eq!(v["total_count"], 7);
    let items = v["authorizers"].as_array().unwrap();
    assert_eq!(items.len(), 7);
    for item in items {
        let token = item["refresh_token"].as_str().unwrap();
        assert!(token.chars().count() > 12, "{item}");
        let after_marker = token.rsplit_once("@@@").map_or(token, |(_, rest)| rest);
        let prefix: String = after_marker.chars().take(12).collect();
        assert!(
            run.stdout.contains(&format!("{prefix}…")),
            "the table shows the first 12 characters after the shared refreshtoken@@@ prefix"
        );
        assert!(
            !run.stdout.contains(token),
            "the table never shows a whole refresh token"
        );
    }

    let page = fastreg(
        dir.path(),
        &args(
            &[
                "authorizers",
                "list",
                "--offset",
                "5",
                "--count",
                "10",
                "--json",
            ],
            &flags,
        ),
        &[],
    )
    .await;
    page.assert_ok();
    let v: Value = serde_json::from_str(&page.stdout).unwrap();
    assert_eq!(v["authorizers"].as_array().unwrap().len(), 2);
    assert!(v["authorizers"][0].get("refresh_token").is_none(), "{v}");

    let too_many = fastreg(
        dir.path(),
        &args(&["authorizers", "list", "--count", "501"], &flags),
        &[],
    )
    .await;
    assert_ne!(too_many.code, Some(0), "{too_many:#?}");
    assert!(too_many.stderr.contains("501"), "{too_many:#?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn auth_url_prints_a_fastregisterauth_link_with_copy_wx_verify_1_and_an_encoded_redirect() {
    let dir = tempfile::tempdir().unwrap();
    // No secret and no platform needed: the link is only built.
    let run = fastreg(
        dir.path(),
        &[
            "auth-url",
            "--oa",
            OA,
            "--redirect-uri",
            "https://localhost/cb?merchant=42&x=a b",
            "--base-url",
            "http://127.0.0.1:8080",
            "--component-appid",
            C,
            "--auth-domain",
            "localhost",
        ],
        &[],
    )
    .await;
    run.assert_ok();
    let url = run.stdout.trim_end();
    assert_eq!(run.stdout.lines().count(), 1, "{run:#?}");
    assert!(
        url.starts_with("http://127.0.0.1:8080/cgi-bin/fastregisterauth?"),
        "{url}"
    );
    assert!(url.contains(&format!("appid={OA}")), "{url}");
    assert!(url.contains(&format!("component_appid={C}")), "{url}");
    assert!(url.contains("copy_wx_verify=1"), "{url}");
    assert!(
        url.contains("redirect_uri=https%3A%2F%2Flocalhost%2Fcb%3Fmerchant%3D42%26x%3Da"),
        "{url}"
    );
    assert!(!url.contains("redirect_uri=https://"), "{url}");
    assert!(
        !dir.path().join("fastreg-tokens.db").exists(),
        "building a link opens no store"
    );

    // The real WeChat's pages host by default; copy_wx_verify=0 when asked.
    let wechat = fastreg(
        dir.path(),
        &[
            "auth-url",
            "--oa",
            OA,
            "--copy-wx-verify",
            "0",
            "--redirect-uri",
            "https://platform.example.com/done",
        ],
        &[
            ("FASTREG_COMPONENT_APPID", C),
            ("FASTREG_AUTH_DOMAIN", "platform.example.com"),
        ],
    )
    .await;
    wechat.assert_ok();
    assert!(
        wechat
            .stdout
            .starts_with("https://mp.weixin.qq.com/cgi-bin/fastregisterauth?"),
        "{wechat:#?}"
    );
    assert!(wechat.stdout.contains("copy_wx_verify=0"), "{wechat:#?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn auth_url_refuses_a_redirect_on_another_host_with_exit_1_and_one_error_line() {
    let dir = tempfile::tempdir().unwrap();
    let run = fastreg(
        dir.path(),
        &[
            "auth-url",
            "--oa",
            OA,
            "--redirect-uri",
            "https://evil.example.com/cb",
            "--component-appid",
            C,
            "--auth-domain",
            "localhost",
        ],
        &[],
    )
    .await;
    let line = run.assert_one_error_line(1);
    assert!(line.contains("evil.example.com"), "{line}");
    assert!(line.contains("61060"), "{line}");
    assert!(run.stdout.is_empty(), "{run:#?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn auth_url_login_prints_a_componentloginpage_link_creating_the_pre_auth_code_when_not_given()
{
    let p = platform().await;
    let dir = tempfile::tempdir().unwrap();
    let flags = p.flags().await;
    let given = fastreg(
        dir.path(),
        &args(
            &[
                "auth-url",
                "--login",
                "--pre-auth-code",
                "preauthcode@@@abc",
                "--auth-type",
                "1",
                "--redirect-uri",
                "https://localhost/authorized",
            ],
            &flags,
        ),
        &[],
    )
    .await;
    given.assert_ok();
    let url = given.stdout.trim_end();
    assert!(
        url.starts_with(&format!("{}/cgi-bin/componentloginpage?", p.base)),
        "{url}"
    );
    assert!(
        url.contains("pre_auth_code=preauthcode%40%40%40abc"),
        "{url}"
    );
    assert!(url.contains("auth_type=1"), "{url}");
    assert!(
        url.contains("redirect_uri=https%3A%2F%2Flocalhost%2Fauthorized"),
        "{url}"
    );

    let created = fastreg(
        dir.path(),
        &args(
            &[
                "auth-url",
                "--login",
                "--redirect-uri",
                "https://localhost/authorized",
            ],
            &flags,
        ),
        &[],
    )
    .await;
    created.assert_ok();
    assert!(created.stdout.contains("pre_auth_code="), "{created:#?}");
    assert!(created.stdout.contains("auth_type=3"), "{created:#?}");
    // The link works: the platform serves the page for it.
    let page = reqwest::get(created.stdout.trim_end()).await.unwrap();
    assert!(page.status().is_success(), "{page:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn register_registers_with_a_confirmed_ticket_and_a_personal_entity_oa_exits_1_with_61051_and_its_remedy(
) {
    let p = platform().await;
    let dir = tempfile::tempdir().unwrap();
    let ticket = p.confirm(OA).await;
    let run = fastreg(
        dir.path(),
        &args(
            &["register", "--oa", OA, "--ticket", &ticket],
            &p.flags().await,
        ),
        &[],
    )
    .await;
    run.assert_ok();
    let regs = p.registrations(OA).await;
    assert_eq!(regs.len(), 1, "{regs:?}");
    let mp = regs[0]["mp_appid"].as_str().unwrap();
    assert!(
        run.stdout.contains(mp),
        "the new appid is printed: {run:#?}"
    );
    assert!(run.stdout.contains("refresh token saved"), "{run:#?}");
    assert!(run.stdout.contains("yes, in fastreg-tokens.db"), "{run:#?}");
    assert!(run.stderr.is_empty(), "{run:#?}");

    // The new Mini Program's refresh token is in the store: its token needs no recovery.
    let token = fastreg(
        dir.path(),
        &args(&["token", "authorizer", "--appid", mp], &p.flags().await),
        &[],
    )
    .await;
    token.assert_ok();

    // A second run, for an OA whose entity is a person.
    let ticket = p.confirm(PERSONAL_OA).await;
    let refused = fastreg(
        dir.path(),
        &args(
            &["register", "--oa", PERSONAL_OA, "--ticket", &ticket],
            &p.flags().await,
        ),
        &[],
    )
    .await;
    let line = refused.assert_one_error_line(1);
    assert!(line.contains("61051"), "{line}");
    assert!(line.contains("invalid realname type"), "{line}");
    assert!(
        line.contains(
            "Use an OA whose entity is an enterprise, media, government or other organisation"
        ),
        "the remedy is in the same line: {line}"
    );
    assert!(p.registrations(PERSONAL_OA).await.is_empty());

    // --json: one object on stdout, the same one line on stderr.
    let json = fastreg(
        dir.path(),
        &args(
            &[
                "register",
                "--oa",
                PERSONAL_OA,
                "--ticket",
                &ticket,
                "--json",
            ],
            &p.flags().await,
        ),
        &[],
    )
    .await;
    json.assert_one_error_line(1);
    let v: Value = serde_json::from_str(&json.stdout).expect("one JSON object");
    assert_eq!(v["outcome"], "not_registered");
    assert_eq!(v["errcode"], 61051);
    assert!(v["remedy_zh"].as_str().unwrap().contains("企业"), "{v}");
}

#[tokio::test(flavor = "multi_thread")]
async fn register_with_json_prints_one_object_for_a_registration() {
    let p = platform().await;
    let dir = tempfile::tempdir().unwrap();
    let ticket = p.confirm(OA).await;
    let run = fastreg(
        dir.path(),
        &args(
            &["register", "--oa", OA, "--ticket", &ticket, "--json"],
            &p.flags().await,
        ),
        &[],
    )
    .await;
    run.assert_ok();
    let v: Value = serde_json::from_str(&run.stdout).expect("one JSON object");
    assert_eq!(v["outcome"], "registered");
    assert_eq!(v["oa"], OA);
    assert_eq!(v["is_wx_verify_succ"], true);
    assert_eq!(v["is_link_succ"], true);
    assert_eq!(v["refresh_token_saved"], true);
    assert_eq!(v["evidence"], "answered");
    assert_eq!(v["appid"], p.registrations(OA).await[0]["mp_appid"], "{v}");
}

#[tokio::test(flavor = "multi_thread")]
async fn register_that_times_out_exits_2_and_running_it_again_after_5_s_reports_the_registration() {
    let p = platform_with(|s| s.processing_delay_ms = 2500).await;
    let dir = tempfile::tempdir().unwrap();
    let ticket = p.confirm(OA).await;
    let flags = p.flags().await;
    let first = fastreg(
        dir.path(),
        &args(
            &[
                "register",
                "--oa",
                OA,
                "--ticket",
                &ticket,
                "--timeout",
                "1",
            ],
            &flags,
        ),
        &[],
    )
    .await;
    let line = first.assert_one_error_line(2);
    assert!(line.contains("not known yet"), "{line}");
    assert!(line.contains("after 5 s"), "{line}");

    let started = Instant::now();
    let second = fastreg(
        dir.path(),
        &args(&["register", "--oa", OA, "--ticket", &ticket], &flags),
        &[],
    )
    .await;
    second.assert_ok();
    let regs = p.registrations(OA).await;
    assert_eq!(regs.len(), 1, "registered once: {regs:?}");
    let mp = regs[0]["mp_appid"].as_str().unwrap();
    assert!(second.stdout.contains(mp), "{second:#?}");
    assert!(
        started.elapsed() >= Duration::from_secs(3),
        "the 5 s rule holds across runs: {second:#?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn register_against_a_closed_port_exits_1_with_one_line() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let dir = tempfile::tempdir().unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let run = fastreg(
        dir.path(),
        &[
            "register",
            "--oa",
            OA,
            "--ticket",
            "b25519093b1e97239eff9d2bfc07e08e",
            "--base-url",
            &base,
            "--component-appid",
            C,
            "--component-secret",
            "s3cret-value",
            "--verify-ticket",
            "ticket@@@x",
        ],
        &[],
    )
    .await;
    let line = run.assert_one_error_line(1);
    assert!(line.contains("not registered"), "{line}");
    assert!(line.contains(&base), "names the base URL: {line}");
    assert!(!line.contains("s3cret-value"), "{line}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_component_secret_is_one_line_naming_the_flag_and_the_variable() {
    let dir = tempfile::tempdir().unwrap();
    for cmd in [
        &["token", "component"][..],
        &["register", "--oa", OA, "--ticket", "t"][..],
        &["authorizers", "list"][..],
    ] {
        let run = fastreg(
            dir.path(),
            &args(cmd, &["--base-url".into(), "http://127.0.0.1:9".into()]),
            &[("FASTREG_COMPONENT_APPID", C)],
        )
        .await;
        let line = run.assert_one_error_line(1);
        assert!(line.contains("--component-secret"), "{line}");
        assert!(line.contains("FASTREG_COMPONENT_SECRET"), "{line}");
    }
    let run = fastreg(
        dir.path(),
        &["token", "component", "--component-secret", "x"],
        &[],
    )
    .await;
    let line = run.assert_one_error_line(1);
    assert!(line.contains("--component-appid"), "{line}");
    assert!(line.contains("FASTREG_COMPONENT_APPID"), "{line}");
}

#[tokio::test(flavor = "multi_thread")]
async fn settings_come_from_flags_over_the_environment_over_the_config_file() {
    let p = platform().await;
    let dir = tempfile::tempdir().unwrap();
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let config = dir.path().join("client.toml");
    std::fs::write(
        &config,
        format!(
            "base_url = \"http://127.0.0.1:{closed}\"\n\
             component_appid = \"{C}\"\n\
             component_secret = \"wrong-from-the-file\"\n\
             verify_ticket = \"{}\"\n\
             store = \"state/tokens.db\"\n",
            p.verify_ticket().await
        ),
    )
    .unwrap();
    let secret = p.secret().await;
    let run = fastreg(
        dir.path(),
        &[
            "token",
            "component",
            "--config",
            config.to_str().unwrap(),
            "--component-secret",
            &secret,
        ],
        &[
            ("FASTREG_BASE_URL", &p.base),
            ("FASTREG_COMPONENT_SECRET", "wrong-from-the-environment"),
        ],
    )
    .await;
    run.assert_ok();
    assert!(
        dir.path().join("state/tokens.db").exists(),
        "the store named in the file"
    );

    // FASTREG_CLIENT_CONFIG names the file too; an unknown key is one line.
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "component_appid = \"wx1\"\nsecret = \"typo\"\n").unwrap();
    let run = fastreg(
        dir.path(),
        &["token", "component"],
        &[("FASTREG_CLIENT_CONFIG", bad.to_str().unwrap())],
    )
    .await;
    let line = run.assert_one_error_line(1);
    assert!(line.contains("secret"), "{line}");
    assert!(line.contains("bad.toml"), "{line}");

    let run = fastreg(
        dir.path(),
        &["token", "component", "--config", "missing.toml"],
        &[],
    )
    .await;
    let line = run.assert_one_error_line(1);
    assert!(line.contains("missing.toml"), "{line}");
}

#[tokio::test(flavor = "multi_thread")]
async fn errcode_61058_prints_english_and_chinese() {
    let dir = tempfile::tempdir().unwrap();
    let run = fastreg(dir.path(), &["errcode", "61058"], &[]).await;
    run.assert_ok();
    let out = &run.stdout;
    assert!(out.contains("61058 invalid ticket"), "{out}");
    assert!(out.contains("Never retry fastregister within 5 s"), "{out}");
    assert!(out.contains("5 秒内不要重试"), "{out}");
    assert!(out.contains("ticket 无效"), "{out}");
    assert!(out.contains("Does a retry help?"), "{out}");

    let minus_one = fastreg(dir.path(), &["errcode", "-1", "--json"], &[]).await;
    minus_one.assert_ok();
    let v: Value = serde_json::from_str(&minus_one.stdout).unwrap();
    assert_eq!(v["errcode"], -1);
    assert_eq!(v["retry"], "later");
    assert!(v["meaning_zh"].as_str().unwrap().contains("系统"), "{v}");
}

#[tokio::test(flavor = "multi_thread")]
async fn errcode_all_lists_every_code_of_the_table() {
    let dir = tempfile::tempdir().unwrap();
    let run = fastreg(dir.path(), &["errcode", "--all"], &[]).await;
    run.assert_ok();
    for info in fastreg_wire::errcode::TABLE {
        assert!(
            run.stdout.contains(&format!("{}  ", info.code)) && run.stdout.contains(info.errmsg),
            "{} listed",
            info.code
        );
    }
    // Every code of the spec's §6 table is in it.
    for code in [
        -1, 40001, 40013, 40125, 41001, 41004, 42001, 44002, 47001, 48001, 61003, 61004, 61005,
        61006, 61007, 61009, 61010, 61011, 61023, 61028, 61029, 61051, 61052, 61053, 61054, 61055,
        61056, 61057, 61058, 61060, 61061,
    ] {
        assert!(run.stdout.contains(&format!("{code}  ")), "{code} listed");
        let one = fastreg(dir.path(), &["errcode", &code.to_string()], &[]).await;
        one.assert_ok();
    }
    let json = fastreg(dir.path(), &["errcode", "--all", "--json"], &[]).await;
    json.assert_ok();
    let v: Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(
        v.as_array().unwrap().len(),
        fastreg_wire::errcode::TABLE.len()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn errcode_12345_is_unknown_with_one_line_and_exit_1() {
    let dir = tempfile::tempdir().unwrap();
    let run = fastreg(dir.path(), &["errcode", "12345"], &[]).await;
    let line = run.assert_one_error_line(1);
    assert!(
        line.contains("errcode 12345 is not known to fastreg"),
        "{line}"
    );
    assert!(run.stdout.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn every_client_subcommand_has_help_with_an_example() {
    let dir = tempfile::tempdir().unwrap();
    for cmd in [
        &["auth-url"][..],
        &["register"][..],
        &["token"][..],
        &["token", "component"][..],
        &["token", "authorizer"][..],
        &["authorizers"][..],
        &["authorizers", "list"][..],
        &["errcode"][..],
    ] {
        let run = fastreg(dir.path(), &args(cmd, &["--help".into()]), &[]).await;
        run.assert_ok();
        assert!(
            run.stdout.contains("Examples:\n  fastreg "),
            "{cmd:?} --help has an example: {}",
            run.stdout
        );
    }
    let run = fastreg(dir.path(), &["register", "--help"], &[]).await;
    for flag in [
        "--oa",
        "--ticket",
        "--json",
        "--base-url",
        "--component-appid",
        "--component-secret",
        "--auth-domain",
        "--store",
        "--verify-ticket",
        "--config",
        "FASTREG_COMPONENT_SECRET",
    ] {
        assert!(run.stdout.contains(flag), "register --help names {flag}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn help_never_shows_the_secret_from_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let run = fastreg(
        dir.path(),
        &["token", "component", "--help"],
        &[
            ("FASTREG_COMPONENT_SECRET", "s3cret-value"),
            ("FASTREG_VERIFY_TICKET", "ticket-value"),
        ],
    )
    .await;
    run.assert_ok();
    assert!(!run.stdout.contains("s3cret-value"), "{}", run.stdout);
    assert!(!run.stdout.contains("ticket-value"), "{}", run.stdout);
}
