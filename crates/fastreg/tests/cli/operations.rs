//! `fastreg` as an operator runs it: `config check`, logs, and stopping with SIGTERM or Ctrl-C
//! while a request is in flight.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::common::{self, fastreg};

// --- config check --------------------------------------------------------------------------

/// Runs `fastreg config check` in `dir`: (success, stdout, stderr).
fn config_check(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> (bool, String, String) {
    let mut cmd = fastreg();
    // FASTREG_LOG would beat a `log` key in the file.
    cmd.env_remove("FASTREG_LOG");
    cmd.args(["config", "check"]).args(args).current_dir(dir);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("fastreg runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Asserts a failed `config check` printed exactly one line, an error containing `expect`.
fn refuses_with_one_line(file: &str, expect: &str) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("fastreg.toml"), file).unwrap();
    let (ok, stdout, stderr) = config_check(dir.path(), &[], &[]);
    assert!(!ok, "accepted:\n{file}\n{stdout}");
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "one line:\n{stderr}");
    assert!(lines[0].starts_with("error: "), "{stderr}");
    assert!(lines[0].contains(expect), "{expect:?} in {stderr}");
}

fn example_file() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fastreg.example.toml")
}

#[test]
fn config_check_prints_the_effective_settings_in_order_of_precedence_with_secrets_masked() {
    // Arrange
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("fastreg.toml"),
        "admin_token = \"file-admin-secret\"\nmetrics_token = \"file-metrics-secret\"\n\
         db = \"postgres://fastreg:db-pass-secret@db.internal/fastreg\"\n\
         processing_delay_ms = 5\n[rules]\nmonthly_quota = 2\n",
    )
    .unwrap();

    // Act
    let (ok, stdout, stderr) = config_check(
        dir.path(),
        &["--processing-delay-ms", "7", "--log-format", "json"],
        &[("FASTREG_RULES__MONTHLY_QUOTA", "3")],
    );

    // Assert
    assert!(ok, "{stderr}");
    let settings: toml::Table = toml::from_str(&stdout).expect("the output is a config file");
    assert_eq!(
        settings["rules"]["monthly_quota"].as_integer(),
        Some(3),
        "env beats the file"
    );
    assert_eq!(
        settings["processing_delay_ms"].as_integer(),
        Some(7),
        "the flag beats the file"
    );
    assert_eq!(settings["log_format"].as_str(), Some("json"));
    assert_eq!(settings["admin_token"].as_str(), Some("***"));
    assert_eq!(settings["metrics_token"].as_str(), Some("***"));
    assert_eq!(
        settings["db"].as_str(),
        Some("postgres://fastreg:***@db.internal/fastreg")
    );
    for secret in ["file-admin-secret", "file-metrics-secret", "db-pass-secret"] {
        assert!(!stdout.contains(secret), "{secret} printed:\n{stdout}");
    }
    assert!(
        stdout.contains("fastreg.toml"),
        "names the file read:\n{stdout}"
    );
}

#[test]
fn config_check_without_a_file_prints_the_defaults_and_says_what_is_unset() {
    let dir = tempfile::tempdir().unwrap();

    let (ok, stdout, stderr) = config_check(dir.path(), &[], &[]);

    assert!(ok, "{stderr}");
    let settings: toml::Table = toml::from_str(&stdout).unwrap();
    assert_eq!(settings["addr"].as_str(), Some("127.0.0.1:8080"));
    assert!(!settings.contains_key("admin_token"));
    assert!(stdout.contains("# admin_token is unset"), "{stdout}");
    assert!(
        stdout.contains("# metrics_token is unset: /metrics is open"),
        "{stdout}"
    );
}

#[test]
fn config_check_refuses_a_file_that_is_not_toml_with_one_line() {
    refuses_with_one_line(
        "addr = \"127.0.0.1:8080\"\nrules monthly_quota = 3\n",
        "is not valid TOML at line 2",
    );
}

#[test]
fn config_check_refuses_an_unknown_key_with_one_line() {
    refuses_with_one_line(
        "[rules]\nmonthly_qouta = 3\n",
        "unknown field: found `monthly_qouta`",
    );
}

#[test]
fn config_check_refuses_a_value_of_the_wrong_type_with_one_line() {
    refuses_with_one_line(
        "shutdown_timeout_secs = \"soon\"\n",
        "shutdown_timeout_secs",
    );
}

#[test]
fn config_check_refuses_an_unusable_value_with_one_line() {
    refuses_with_one_line(
        "[lifetimes]\nauth_code = 0\n",
        "lifetimes.auth_code must be positive",
    );
    refuses_with_one_line("addr = \"8080\"\n", "addr \"8080\" is not HOST:PORT");
    refuses_with_one_line("log = \"info,[\"\n", "log \"info,[\"");
}

#[test]
fn config_check_refuses_a_missing_named_file_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, _, stderr) = config_check(dir.path(), &["--config", "nope.toml"], &[]);
    assert!(!ok);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("config file nope.toml does not exist"),
        "{stderr}"
    );
}

#[test]
fn the_example_config_file_holds_the_defaults_and_explains_every_key() {
    // Arrange
    let dir = tempfile::tempdir().unwrap();
    let example = example_file();
    let text = std::fs::read_to_string(&example).unwrap();

    // Act
    let (ok, with_example, stderr) =
        config_check(dir.path(), &["--config", example.to_str().unwrap()], &[]);
    let (_, defaults, _) = config_check(dir.path(), &[], &[]);

    // Assert: the example's values are the built-in defaults…
    assert!(ok, "{stderr}");
    let with_example: toml::Table = toml::from_str(&with_example).unwrap();
    let defaults: toml::Table = toml::from_str(&defaults).unwrap();
    assert_eq!(with_example, defaults);
    // …and every key, the optional ones included, is in it under a comment.
    let mut keys: Vec<String> = Vec::new();
    for (k, v) in &defaults {
        match v.as_table() {
            Some(t) => keys.extend(t.keys().cloned()),
            None => keys.push(k.clone()),
        }
    }
    keys.extend(["seed", "admin_token", "metrics_token", "ca_dir"].map(String::from));
    let lines: Vec<&str> = text.lines().collect();
    for key in keys {
        let at = lines
            .iter()
            .position(|l| {
                let l = l.trim_start_matches("# ");
                l.starts_with(&format!("{key} = "))
            })
            .unwrap_or_else(|| panic!("{key} is not in fastreg.example.toml"));
        assert!(
            at > 0 && lines[at - 1].starts_with('#'),
            "{key} has no comment above it in fastreg.example.toml"
        );
    }
}

// --- a running server: logs and stopping -----------------------------------------------------

const C: &str = "wxc0ffee0000000001";
const OA: &str = "wx0a00000000000001";
const ADMIN: &str = "operations-admin-secret";

struct Served {
    child: Child,
    base: String,
    stderr: std::sync::mpsc::Receiver<String>,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Served {
    /// `fastreg serve` on port 0 in `dir`, with extra flags and environment.
    fn start(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Served {
        let mut cmd = fastreg();
        cmd.args(["serve", "--addr", "127.0.0.1:0", "--db", "sqlite://ops.db"])
            .args(["--admin-token", ADMIN])
            .args(args)
            .current_dir(dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("fastreg starts");
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut first = String::new();
        out.read_line(&mut first).unwrap();
        let base = first.trim().rsplit(' ').next().unwrap().to_string();
        assert!(base.starts_with("http://"), "{first}");
        std::thread::spawn(move || out.lines().for_each(drop));
        let mut err = child.stderr.take().unwrap();
        let (tx, stderr) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut all = String::new();
            let _ = err.read_to_string(&mut all);
            let _ = tx.send(all);
        });
        Served {
            child,
            base,
            stderr,
        }
    }

    fn signal(&self, signal: &str) {
        let ok = Command::new("kill")
            .args([&format!("-{signal}"), &self.child.id().to_string()])
            .status()
            .expect("kill runs")
            .success();
        assert!(ok, "kill -{signal}");
    }

    /// Waits for the process to exit by itself.
    fn exit_status(&mut self, within: Duration) -> ExitStatus {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "fastreg did not exit");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Everything it wrote to stderr (after it exited).
    fn stderr(&self) -> String {
        self.stderr
            .recv_timeout(Duration::from_secs(10))
            .unwrap_or_default()
    }
}

/// The JSON calls of the flow, over HTTP.
struct Flow {
    http: reqwest::Client,
    base: String,
}

impl Flow {
    async fn sandbox(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        common::sandbox_ok(&self.http, &self.base, ADMIN, method, path, body).await
    }

    async fn wechat(&self, path_and_query: &str, body: Value) -> Value {
        self.http
            .post(format!("{}{path_and_query}", self.base))
            .json(&body)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// (component secret, verify ticket, component token, OA token, fastregister ticket).
    async fn up_to_fastregister(&self) -> [String; 5] {
        let secret = self.sandbox("GET", &format!("/components/{C}"), None).await["appsecret"]
            .as_str()
            .unwrap()
            .to_string();
        let vt = self
            .sandbox("GET", &format!("/components/{C}/verify-ticket"), None)
            .await["component_verify_ticket"]
            .as_str()
            .unwrap()
            .to_string();
        let ct = self
            .wechat(
                "/cgi-bin/component/api_component_token",
                json!({"component_appid": C, "component_appsecret": secret,
                       "component_verify_ticket": vt}),
            )
            .await["component_access_token"]
            .as_str()
            .unwrap()
            .to_string();
        let code = self
            .sandbox(
                "POST",
                "/authorizations",
                Some(json!({"component_appid": C, "authorizer_appid": OA,
                            "permission_sets": [1, 15, 27]})),
            )
            .await["auth_code"]
            .as_str()
            .unwrap()
            .to_string();
        let oat = self
            .wechat(
                &format!("/cgi-bin/component/api_query_auth?component_access_token={ct}"),
                json!({"component_appid": C, "authorization_code": code}),
            )
            .await["authorization_info"]["authorizer_access_token"]
            .as_str()
            .unwrap()
            .to_string();
        let ticket = self
            .sandbox(
                "POST",
                "/fastregister-confirmations",
                Some(
                    json!({"component_appid": C, "appid": OA, "copy_wx_verify": 1,
                            "redirect_uri": "https://localhost/cb"}),
                ),
            )
            .await["ticket"]
            .as_str()
            .unwrap()
            .to_string();
        [secret, vt, ct, oat, ticket]
    }

    async fn registration_status(&self) -> Option<String> {
        let regs = self
            .sandbox("GET", &format!("/registrations?appid={OA}"), None)
            .await;
        regs[0]["status"].as_str().map(str::to_string)
    }
}

/// Stops a server with `signal` while a fastregister (2 s processing delay) is in flight:
/// the request gets its success, the process exits 0, and the registration is there after a
/// restart.
async fn stops_gracefully_on(signal: &str) {
    // Arrange
    let dir = tempfile::tempdir().unwrap();
    let mut server = Served::start(dir.path(), &["--processing-delay-ms", "2000"], &[]);
    let flow = Flow {
        http: reqwest::Client::new(),
        base: server.base.clone(),
    };
    let [_, _, _, oa_token, ticket] = flow.up_to_fastregister().await;
    let in_flight = tokio::spawn({
        let http = flow.http.clone();
        let url = format!(
            "{}/cgi-bin/account/fastregister?access_token={oa_token}",
            flow.base
        );
        async move {
            http.post(url)
                .json(&json!({"ticket": ticket}))
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()
        }
    });
    let deadline = Instant::now() + Duration::from_secs(5);
    while flow.registration_status().await.as_deref() != Some("in_progress") {
        assert!(Instant::now() < deadline, "the registration never started");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // Act
    server.signal(signal);
    let answer = in_flight.await.unwrap();
    let status = server.exit_status(Duration::from_secs(20));

    // Assert
    assert_eq!(
        answer["errcode"], 0,
        "the in-flight request finished: {answer}"
    );
    let mp = answer["appid"].as_str().unwrap().to_string();
    assert!(status.success(), "exit status {status:?}");
    let log = server.stderr();
    drop(server);
    assert!(log.is_empty() || !log.contains("ERROR"), "{log}");
    let again = Served::start(dir.path(), &[], &[]);
    let flow = Flow {
        http: reqwest::Client::new(),
        base: again.base.clone(),
    };
    let regs = flow
        .sandbox("GET", &format!("/registrations?appid={OA}"), None)
        .await;
    assert_eq!(regs[0]["status"], "succeeded", "{regs}");
    assert_eq!(regs[0]["mp_appid"], mp.as_str());
}

#[tokio::test]
async fn serve_finishes_an_in_flight_fastregister_on_sigterm_and_exits_0() {
    stops_gracefully_on("TERM").await;
}

#[tokio::test]
async fn serve_finishes_an_in_flight_fastregister_on_ctrl_c_and_exits_0() {
    stops_gracefully_on("INT").await;
}

#[tokio::test]
async fn serve_logs_json_lines_that_carry_the_rid_and_never_a_credential() {
    // Arrange
    let dir = tempfile::tempdir().unwrap();
    let mut server = Served::start(
        dir.path(),
        &["--log-format", "json"],
        &[("FASTREG_LOG", "debug")],
    );
    let flow = Flow {
        http: reqwest::Client::new(),
        base: server.base.clone(),
    };

    // Act: a whole registration, a refusal with a token in the query, a page with a code in it.
    let secrets = flow.up_to_fastregister().await;
    let [_, _, ct, oa_token, ticket] = &secrets;
    let ok = flow
        .wechat(
            &format!("/cgi-bin/account/fastregister?access_token={oa_token}"),
            json!({"ticket": ticket}),
        )
        .await;
    let refused = flow
        .wechat(
            &format!("/cgi-bin/component/api_create_preauthcode?component_access_token={ct}x"),
            json!({"component_appid": C}),
        )
        .await;
    let page = flow
        .http
        .get(format!(
            "{}/cgi-bin/componentloginpage?component_appid={C}&pre_auth_code=preauthcode@@@page-secret&redirect_uri=https%3A%2F%2Flocalhost%2Fcb",
            flow.base
        ))
        .send()
        .await
        .unwrap();
    assert!(page.status().is_client_error());
    server.signal("TERM");
    assert!(server.exit_status(Duration::from_secs(20)).success());
    let log = server.stderr();

    // Assert
    assert_eq!(ok["errcode"], 0, "{ok}");
    let refused_rid = refused["errmsg"]
        .as_str()
        .unwrap()
        .rsplit_once(" rid: ")
        .unwrap()
        .1
        .to_string();
    let lines: Vec<Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|_| panic!("not JSON: {l}")))
        .collect();
    assert!(lines.len() > 10, "{log}");
    let of_requests: Vec<&Value> = lines
        .iter()
        .filter(|l| l["span"]["name"] == "request")
        .collect();
    assert!(!of_requests.is_empty(), "{log}");
    for line in &of_requests {
        let rid = line["span"]["rid"].as_str().unwrap_or_default();
        assert_eq!(rid.len(), 26, "every request line carries its rid: {line}");
    }
    assert!(
        of_requests
            .iter()
            .any(|l| l["span"]["rid"] == refused_rid.as_str() && l["fields"]["errcode"] == 40001),
        "the refusal is logged under the rid it answered with"
    );
    assert!(
        log.contains("component_access_token=***"),
        "the masked query is logged:\n{log}"
    );
    for secret in secrets
        .iter()
        .map(String::as_str)
        .chain([ADMIN, "page-secret"])
    {
        assert!(!log.contains(secret), "{secret} is in the log:\n{log}");
    }
}

#[test]
fn serve_logs_pretty_lines_prefixed_with_the_request_span() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Served::start(dir.path(), &[], &[("FASTREG_LOG", "info")]);
    let out = Command::new("curl")
        .args(["-s", &format!("{}/no/such/path", server.base)])
        .output()
        .expect("curl runs");
    let reply: Value = serde_json::from_slice(&out.stdout).unwrap();
    let rid = reply["errmsg"]
        .as_str()
        .unwrap()
        .rsplit(' ')
        .next()
        .unwrap()
        .to_string();

    server.signal("TERM");
    assert!(server.exit_status(Duration::from_secs(20)).success());
    let log = server.stderr();

    let line = log
        .lines()
        .find(|l| l.contains(&format!("rid={rid}")))
        .unwrap_or_else(|| panic!("no line with rid={rid}:\n{log}"));
    assert!(line.contains("request{rid="), "{line}");
    assert!(line.contains("errcode=40066"), "{line}");
    assert!(log.contains("stopped"), "{log}");
}
