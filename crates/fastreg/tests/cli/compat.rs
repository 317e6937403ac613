//! Other people's clients against the real binary. `compat/wechatpy` (wechatpy from PyPI,
//! pinned) walks the flow against `fastreg serve` twice: with only its base URLs changed, and
//! with nothing changed but `HTTPS_PROXY` and `REQUESTS_CA_BUNDLE` (the proxy mode). A plain JDK
//! program (`compat/jdk`, compiled here with javac) and curl call WeChat's own
//! `https://api.weixin.qq.com` URLs through the proxy with the CA `fastreg ca` prints.
//! `.ci/run` makes the venv and sets `FASTREG_TEST_PYTHON`; a missing python, JDK or curl skips
//! its test with a printed reason.

use std::path::Path;
use std::process::Command;

#[test]
fn wechatpy_walks_the_whole_flow_with_its_base_urls_changed_and_again_through_the_proxy() {
    let Some(python) = std::env::var_os("FASTREG_TEST_PYTHON") else {
        eprintln!(
            "skipped: FASTREG_TEST_PYTHON is unset (a python with compat/wechatpy/requirements.txt installed; .ci/run makes one)"
        );
        return;
    };
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let out = Command::new(python)
        .args([
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "compat/wechatpy",
        ])
        .env("FASTREG_BIN", env!("CARGO_BIN_EXE_fastreg"))
        .current_dir(&root)
        .output()
        .expect("running pytest");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "the wechatpy suite failed:\n{text}");
    assert!(text.contains(" passed"), "pytest ran no test:\n{text}");
}

// --- through the proxy: WeChat's own URLs, nothing changed but a proxy and a trusted CA --------

/// Whether `program --version`-style probing runs; prints why a test skips otherwise.
fn have(program: &str, probe: &str, test: &str) -> bool {
    let found = Command::new(program)
        .arg(probe)
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        eprintln!("skipped {test}: `{program}` is not installed on this machine");
    }
    found
}

/// Writes the CA of the server in `dir` (database `p.db`) to `out` with `fastreg ca`.
fn write_ca(dir: &Path, out: &Path) {
    let printed = crate::common::fastreg()
        .args(["ca", "--db", "sqlite://p.db", "--quiet"])
        .current_dir(dir)
        .output()
        .expect("fastreg ca runs");
    assert!(printed.status.success(), "{printed:?}");
    std::fs::write(out, &printed.stdout).unwrap();
}

#[test]
fn a_plain_jdk_program_walks_the_flow_through_the_proxy_with_wechats_own_urls() {
    let test = "the JDK compatibility test";
    if !have("javac", "-version", test)
        || !have("java", "-version", test)
        || !have("keytool", "-help", test)
    {
        return;
    }
    // Arrange: the platform, its CA in a JVM truststore made by keytool, the program compiled.
    let dir = tempfile::tempdir().unwrap();
    let served = crate::proxy::serve_with_proxy(dir.path(), "sqlite://p.db");
    let work = tempfile::tempdir().unwrap();
    let (pem, store) = (work.path().join("ca.pem"), work.path().join("trust.p12"));
    write_ca(dir.path(), &pem);
    let keytool = Command::new("keytool")
        .args(["-importcert", "-noprompt", "-alias", "fastreg", "-file"])
        .arg(&pem)
        .arg("-keystore")
        .arg(&store)
        .args(["-storepass", "changeit"])
        .output()
        .unwrap();
    assert!(keytool.status.success(), "keytool: {keytool:?}");
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../compat/jdk/FastregFlow.java");
    let javac = Command::new("javac")
        .arg("-d")
        .arg(work.path())
        .arg(&source)
        .output()
        .unwrap();
    assert!(javac.status.success(), "javac: {javac:?}");
    let (host, port) = served
        .proxy
        .trim_start_matches("http://")
        .rsplit_once(':')
        .unwrap();

    // Act
    let out = Command::new("java")
        .arg(format!("-Djavax.net.ssl.trustStore={}", store.display()))
        .arg("-Djavax.net.ssl.trustStorePassword=changeit")
        .arg("-cp")
        .arg(work.path())
        .args(["FastregFlow", &served.base, "proxy-test-admin", host, port])
        .output()
        .unwrap();

    // Assert
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "the JDK program failed:\n{text}");
    assert!(text.contains("refused: 61058"), "{text}");
    assert!(text.contains("flow complete"), "{text}");
}

#[test]
fn curl_through_the_proxy_gets_a_component_token_and_a_connect_elsewhere_is_refused() {
    if !have("curl", "--version", "the curl compatibility test") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let served = crate::proxy::serve_with_proxy(dir.path(), "sqlite://p.db");
    let work = tempfile::tempdir().unwrap();
    let pem = work.path().join("ca.pem");
    write_ca(dir.path(), &pem);
    let sandbox = |path: &str| {
        let out = Command::new("curl")
            .args(["-sf", "-H", "Authorization: Bearer proxy-test-admin"])
            .arg(format!("{}/sandbox/v1{path}", served.base))
            .output()
            .unwrap();
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()
    };
    let c = "wxc0ffee0000000001";
    let secret = sandbox(&format!("/components/{c}"))["appsecret"].clone();
    let ticket =
        sandbox(&format!("/components/{c}/verify-ticket"))["component_verify_ticket"].clone();
    let body = serde_json::json!({
        "component_appid": c, "component_appsecret": secret, "component_verify_ticket": ticket,
    });
    let curl = |url: &str, data: Option<String>| {
        let mut cmd = Command::new("curl");
        cmd.args([
            "-s",
            "--max-time",
            "10",
            "--proxy",
            &served.proxy,
            "--cacert",
        ])
        .arg(&pem)
        .arg(url);
        if let Some(d) = data {
            cmd.args(["-d", &d]);
        }
        cmd.output().unwrap()
    };

    let token = curl(
        "https://api.weixin.qq.com/cgi-bin/component/api_component_token",
        Some(body.to_string()),
    );
    let elsewhere = curl("https://example.com/", None);

    let answer: serde_json::Value =
        serde_json::from_slice(&token.stdout).unwrap_or_else(|e| panic!("{e}: {token:?}"));
    assert!(answer["component_access_token"].is_string(), "{answer}");
    assert_eq!(answer["expires_in"], 7200);
    // curl's exit 56: the proxy answered CONNECT with a failure (403).
    assert_eq!(elsewhere.status.code(), Some(56), "{elsewhere:?}");
}
