//! `fastreg world create|list|reset|export|delete` as a real process, against a platform run
//! in-process on port 0: a world's whole life through the command line, and each kind of bad
//! input answered with one line and a non-zero exit.

use std::path::Path;
use std::time::Duration;

use serde_json::{json, Value};

use crate::common::{self, platform, Platform};

/// The demo world's seed file, a seed any world can start from.
const DEMO_SEED: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../fastreg-platform/demo_world.toml"
);
/// The demo world's component.
const COMPONENT: &str = "wxc0ffee0000000001";
/// 2024-03-01 00:00:00 in Shanghai.
const START: i64 = 1_709_222_400;

/// What a finished `fastreg` process left behind.
#[derive(Debug)]
struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Run {
    #[track_caller]
    fn ok(self) -> Run {
        assert_eq!(self.code, Some(0), "{self:#?}");
        self
    }

    #[track_caller]
    fn json(self) -> Value {
        let run = self.ok();
        serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {run:#?}"))
    }

    /// Exit status 1 and stderr exactly one `error: …` line, which it returns.
    #[track_caller]
    fn one_error_line(&self) -> &str {
        assert_eq!(self.code, Some(1), "{self:#?}");
        let lines: Vec<&str> = self.stderr.lines().collect();
        assert_eq!(lines.len(), 1, "one line on stderr: {self:#?}");
        assert!(lines[0].starts_with("error: "), "{self:#?}");
        assert!(!self.stderr.contains("panicked"), "{self:#?}");
        lines[0]
    }
}

/// Runs `fastreg world …` in `dir` against `p` (its URL and admin token from the
/// environment, as an operator would set them).
async fn world(p: &Platform, dir: &Path, args: &[&str]) -> Run {
    world_as(p, &p.admin, dir, args).await
}

async fn world_as(p: &Platform, token: &str, dir: &Path, args: &[&str]) -> Run {
    let mut cmd = tokio::process::Command::from(common::fastreg());
    cmd.env_remove("FASTREG_LOG")
        .env("FASTREG_SERVER", &p.base)
        .env("FASTREG_ADMIN_TOKEN", token)
        .arg("world")
        .args(args)
        .current_dir(dir)
        .kill_on_drop(true);
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

/// A sandbox API call under a world's base URL with a token; its status and JSON answer.
async fn in_world(
    p: &Platform,
    base_path: &str,
    token: &str,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = p
        .http
        .request(
            method.parse().unwrap(),
            format!("{}{base_path}/sandbox/v1{path}", p.base),
        )
        .bearer_auth(token);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

fn str_of<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key].as_str().unwrap_or_else(|| panic!("{key} in {v}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_world_is_created_listed_exported_copied_reset_and_deleted_from_the_command_line() {
    let p = platform().await;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();

    // Created from the demo seed, frozen at a given time, with a setting of its own.
    let human = world(
        &p,
        d,
        &[
            "create",
            "--name",
            "ci run 42",
            "--seed",
            DEMO_SEED,
            "--start",
            "2024-03-01T00:00:00+08:00",
            "--frozen",
            "--config",
            "rules.monthly_quota=1",
        ],
    )
    .await
    .ok();
    let line = |key: &str| {
        human
            .stdout
            .lines()
            .find_map(|l| l.strip_prefix(key).map(|v| v.trim().to_string()))
            .unwrap_or_else(|| panic!("{key} in {human:#?}"))
    };
    let (id, url, token) = (line("id "), line("base URL "), line("admin token "));
    assert_eq!(url, format!("{}/w/{id}", p.base));
    assert!(token.len() >= 16, "{human:#?}");
    let base_path = format!("/w/{id}");
    let (status, comp) = in_world(
        &p,
        &base_path,
        &token,
        "GET",
        &format!("/components/{COMPONENT}"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{comp}");
    let (_, clock) = in_world(&p, &base_path, &token, "GET", "/clock", None).await;
    assert_eq!(clock["now"], json!(START), "{clock}");

    // Listed beside the default world, as a table and as JSON.
    let table = world(&p, d, &["list"]).await.ok().stdout;
    let header = table.lines().next().unwrap();
    assert!(
        header.starts_with("ID")
            && header.contains("NAME")
            && header.contains("NOW")
            && header.contains("FROZEN"),
        "{table}"
    );
    let row = table
        .lines()
        .find(|l| l.starts_with(&id))
        .unwrap_or_else(|| panic!("{id} in {table}"));
    assert!(
        row.contains("ci run 42")
            && row.contains("2024-02-29T16:00:00Z")
            && row.trim_end().ends_with("yes"),
        "{row}"
    );
    assert!(
        table.lines().nth(1).unwrap().starts_with("default"),
        "{table}"
    );
    let listed = world(&p, d, &["list", "--json"]).await.json();
    let ids: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|w| str_of(w, "id"))
        .collect();
    assert_eq!(ids, ["default", id.as_str()]);

    // Exported as TOML, to a file; a world created from it has the same objects and clock.
    world(
        &p,
        d,
        &["export", &id, "--format", "toml", "-o", "saved.toml"],
    )
    .await
    .ok();
    let saved = std::fs::read_to_string(d.join("saved.toml")).unwrap();
    assert!(saved.contains(COMPONENT), "{saved}");
    let exported_json = world(&p, d, &["export", &id, "--json"]).await.json();
    assert!(exported_json.is_object(), "{exported_json}");
    let copy = world(&p, d, &["create", "--seed", "saved.toml", "--json"])
        .await
        .json();
    let (copy_id, copy_path, copy_token) = (
        str_of(&copy, "id"),
        str_of(&copy, "base_path"),
        str_of(&copy, "admin_token"),
    );
    assert_ne!(copy_id, id);
    assert_eq!(copy_path, format!("/w/{copy_id}"));
    let (status, _) = in_world(
        &p,
        copy_path,
        copy_token,
        "GET",
        &format!("/components/{COMPONENT}"),
        None,
    )
    .await;
    assert_eq!(status, 200);
    let (_, clock) = in_world(&p, copy_path, copy_token, "GET", "/clock", None).await;
    assert_eq!(clock["now"], json!(START), "{clock}");

    // Reset: the clock advanced in the world goes back to its start.
    let (status, _) = in_world(
        &p,
        &base_path,
        &token,
        "POST",
        "/clock/advance",
        Some(json!({"seconds": 3600})),
    )
    .await;
    assert_eq!(status, 200);
    let reset = world(&p, d, &["reset", &id]).await.ok().stdout;
    assert!(reset.contains(&id), "{reset}");
    let (_, clock) = in_world(&p, &base_path, &token, "GET", "/clock", None).await;
    assert_eq!(clock["now"], json!(START), "{clock}");
    let reset = world(&p, d, &["reset", &id, "--json"]).await.json();
    assert_eq!(reset["now"], json!(START), "{reset}");

    // Deleted: its base URL no longer takes its token, and it is no longer listed.
    world(&p, d, &["delete", &id]).await.ok();
    let (status, _) = in_world(
        &p,
        &base_path,
        &token,
        "GET",
        &format!("/components/{COMPONENT}"),
        None,
    )
    .await;
    assert_eq!(status, 404);
    let listed = world(&p, d, &["list", "--json"]).await.json();
    assert!(!listed.to_string().contains(&id), "{listed}");
    // The copy lives on.
    let (status, _) = in_world(
        &p,
        copy_path,
        copy_token,
        "GET",
        &format!("/components/{COMPONENT}"),
        None,
    )
    .await;
    assert_eq!(status, 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_input_to_world_commands_is_one_line_and_a_non_zero_exit() {
    let p = platform().await;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("broken.toml"), "[[components]\nappid = ").unwrap();
    std::fs::write(d.join("wrong.json"), r#"{"components": [{"appid": 7}]}"#).unwrap();

    let cases: &[(&[&str], &str)] = &[
        (&["reset", "nosuchworld"], "no world \"nosuchworld\""),
        (&["export", "nosuchworld"], "no world \"nosuchworld\""),
        (&["delete", "nosuchworld"], "no world \"nosuchworld\""),
        (&["export", "../etc"], "is not a world id"),
        (&["delete", "default"], "HTTP"),
        (
            &["create", "--seed", "missing.toml"],
            "cannot read the seed file missing.toml",
        ),
        (&["create", "--seed", "broken.toml"], "is not valid TOML"),
        (
            &["create", "--seed", "wrong.json"],
            "refused POST /sandbox/v1/worlds with HTTP 400",
        ),
        (
            &["create", "--start", "tomorrow"],
            "--start \"tomorrow\" is neither",
        ),
        (&["create", "--start", "1"], "HTTP 400"),
        (&["create", "--config", "quota"], "is not KEY=VALUE"),
        (
            &["create", "--config", "processing_delay_ms=9999999"],
            "HTTP 400",
        ),
    ];
    for (args, want) in cases {
        let run = world(&p, d, args).await;
        let line = run.one_error_line();
        assert!(line.contains(want), "{args:?}: {line}");
    }

    // A wrong admin token is named as the likely cause, and not printed.
    let run = world_as(&p, "not-the-token", d, &["list"]).await;
    let line = run.one_error_line();
    assert!(line.contains("--admin-token"), "{line}");
    assert!(!line.contains("not-the-token"), "{line}");

    // No token at all, and a server that is not there.
    let mut cmd = common::fastreg();
    let out = cmd
        .env_remove("FASTREG_LOG")
        .args(["world", "list", "--server", &p.base])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("missing the server's admin token"),
        "{stderr}"
    );
    let out = common::fastreg()
        .env_remove("FASTREG_LOG")
        .args([
            "world",
            "list",
            "--server",
            "http://127.0.0.1:9",
            "--admin-token",
            "secret-token-x",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("cannot reach http://127.0.0.1:9"),
        "{stderr}"
    );
    assert!(!stderr.contains("secret-token-x"), "{stderr}");
}
