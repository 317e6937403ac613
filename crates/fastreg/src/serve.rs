//! `fastreg serve`: start the platform, print where it listens, its admin token and a curl
//! walk-through of the whole flow, and serve until Ctrl-C or SIGTERM.
//!
//! The walk-through is a bash script printed for a person to paste; it lives here because
//! `serve` is the only thing that prints it.

use fastreg_platform::app::Application;
use fastreg_platform::domain::FAST_REGISTER_SET;
use fastreg_platform::redact;
use fastreg_platform::settings::Settings;

use crate::proxy;

/// Serves the platform with `settings` until a stop signal.
///
/// # Errors
/// The platform cannot be built (database, seed, address) or the server failed.
pub async fn serve(settings: Settings) -> anyhow::Result<()> {
    let generated_token = settings.admin_token.as_deref().is_none_or(str::is_empty);
    let app = Application::build(settings.clone()).await?;
    let addr = app.local_addr();
    let base = format!("http://{addr}");
    let proxy = match settings.proxy {
        true => Some(proxy::start(&settings, app.state()).await?),
        false => None,
    };
    say!("fastreg platform listening on {base}");
    if let Some((proxy, ca)) = &proxy {
        proxy::announce(proxy, ca);
    }
    say!(
        "database: {} (durability: {:?})",
        redact::db_url(&settings.db),
        settings.durability
    );
    if let Some(seed) = app.seeded_now() {
        say!("new database seeded with {seed}");
    }
    if generated_token {
        say!(
            "admin token (generated; set --admin-token or FASTREG_ADMIN_TOKEN to fix it): {}",
            app.admin_token()
        );
    } else {
        say!("admin token: as configured");
    }
    say!("operations: {base}/healthz {base}/readyz {base}/metrics {base}/openapi.json");
    if !addr.ip().is_loopback() && settings.metrics_token.as_deref().is_none_or(str::is_empty) {
        tracing::warn!(
            %addr,
            "listening beyond loopback with /metrics open; set metrics_token (FASTREG_METRICS_TOKEN) to require a bearer token"
        );
    }
    if let Some((component, oa)) = walkthrough_accounts(&app).await? {
        say!("\nWalk the fast-registration flow (paste into bash; needs curl):\n");
        let token = if generated_token {
            app.admin_token().to_string()
        } else {
            say!("(export FASTREG_ADMIN_TOKEN=<the admin token you configured> first)\n");
            "$FASTREG_ADMIN_TOKEN".to_string()
        };
        say!("{}", walkthrough(&base, &token, &component, &oa));
    }
    let (stop, stopping) = tokio::sync::watch::channel(false);
    let proxy = proxy.map(|(proxy, _)| tokio::spawn(proxy.run(stopping)));
    app.run_until_stopped(async move {
        shutdown_signal().await;
        let _ = stop.send(true);
    })
    .await;
    if let Some(proxy) = proxy {
        let grace = std::time::Duration::from_secs(settings.shutdown_timeout_secs);
        if tokio::time::timeout(grace, proxy).await.is_err() {
            tracing::warn!("proxy connections did not finish in time; stopping without them");
        }
    }
    say!("fastreg stopped");
    Ok(())
}

/// Resolves on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => tracing::info!(signal = "SIGINT", "stop requested"),
        () = term => tracing::info!(signal = "SIGTERM", "stop requested"),
    }
}

/// The component and OA a walk-through uses: the first component with an OA that granted it
/// set 27.
///
/// # Errors
/// Storage faults.
async fn walkthrough_accounts(app: &Application) -> anyhow::Result<Option<(String, String)>> {
    let accounts = app
        .state()
        .store
        .read(|tx| {
            for a in tx.all_authorizations()? {
                if a.grants(FAST_REGISTER_SET)
                    && tx.official_account(&a.authorizer_appid)?.is_some()
                {
                    return Ok(Some((a.component_appid, a.authorizer_appid)));
                }
            }
            Ok(None)
        })
        .await?;
    Ok(accounts)
}

/// A bash walk-through of the whole flow with curl, for the given server, admin token,
/// component and OA. Each step stores what it needs from the answer in a shell variable, so
/// it runs pasted as is; `j KEY` pulls a string field out of a JSON answer without jq.
fn walkthrough(base: &str, admin_token: &str, component: &str, oa: &str) -> String {
    format!(
        r#"B={base}; A="Authorization: Bearer {admin_token}"; C={component}; OA={oa}
j() {{ sed -E "s/.*\"$1\":\"([^\"]*)\".*/\1/"; }}
# 0. The component's secret (from the sandbox; on WeChat you copy it from open.weixin.qq.com)
SECRET=$(curl -s -H "$A" $B/sandbox/v1/components/$C | j appsecret)
# 1. The component_verify_ticket WeChat pushes every 10 minutes
VT=$(curl -s -H "$A" $B/sandbox/v1/components/$C/verify-ticket | j component_verify_ticket)
# 2. component_access_token
CT=$(curl -s $B/cgi-bin/component/api_component_token -d "{{\"component_appid\":\"$C\",\"component_appsecret\":\"$SECRET\",\"component_verify_ticket\":\"$VT\"}}" | j component_access_token)
# 3. The OA's admin authorises the component with set 27 (componentloginpage's confirm)
CODE=$(curl -s -H "$A" $B/sandbox/v1/authorizations -d "{{\"component_appid\":\"$C\",\"authorizer_appid\":\"$OA\",\"permission_sets\":[1,15,27]}}" | j auth_code)
# 4. Exchange the auth_code for the OA's authorizer_access_token
OAT=$(curl -s "$B/cgi-bin/component/api_query_auth?component_access_token=$CT" -d "{{\"component_appid\":\"$C\",\"authorization_code\":\"$CODE\"}}" | j authorizer_access_token)
# 5. The OA's admin confirms the fast registration (fastregisterauth's confirm) -> ticket
TICKET=$(curl -s -H "$A" $B/sandbox/v1/fastregister-confirmations -d "{{\"component_appid\":\"$C\",\"appid\":\"$OA\",\"copy_wx_verify\":1,\"redirect_uri\":\"http://localhost/callback\"}}" | j ticket)
# 6. fastregister: a new Mini Program
R=$(curl -s "$B/cgi-bin/account/fastregister?access_token=$OAT" -d "{{\"ticket\":\"$TICKET\"}}"); echo "$R"
# 7. Exchange its authorization_code for the new Mini Program's refresh token (store it!)
curl -s "$B/cgi-bin/component/api_query_auth?component_access_token=$CT" -d "{{\"component_appid\":\"$C\",\"authorization_code\":\"$(j authorization_code <<< "$R")\"}}"; echo
"#
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const ADMIN: &str = "serve-test-admin";
    const C: &str = "wxc0ffee0000000001";
    const OA: &str = "wx0a00000000000001";

    #[tokio::test]
    async fn the_walkthrough_printed_by_serve_runs_in_bash_and_registers_a_mini_program() {
        if std::process::Command::new("curl")
            .arg("--version")
            .output()
            .is_err()
        {
            eprintln!("SKIPPED: curl is not installed; the walk-through needs it");
            return;
        }
        let db = tempfile::tempdir().unwrap();
        let app = Application::build(Settings {
            addr: "127.0.0.1:0".into(),
            db: format!("sqlite://{}", db.path().join("walk.db").display()),
            admin_token: Some(ADMIN.into()),
            ..Settings::default()
        })
        .await
        .unwrap();
        assert_eq!(
            walkthrough_accounts(&app).await.unwrap(),
            Some((C.to_string(), OA.to_string())),
            "the demo world's first component and OA with set 27"
        );
        let base = format!("http://{}", app.local_addr());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(app.run_until_stopped(async {
            let _ = stopped.await;
        }));
        let script = walkthrough(&base, ADMIN, C, OA);
        let out = tokio::process::Command::new("bash")
            .arg("-euo")
            .arg("pipefail")
            .arg("-c")
            .arg(&script)
            .output()
            .await
            .expect("bash runs");
        let _ = stop.send(());
        let _ = server.await;
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "walk-through failed:\n{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let lines: Vec<&str> = stdout.lines().filter(|l| !l.is_empty()).collect();
        let registered: serde_json::Value =
            serde_json::from_str(lines[0]).expect("fastregister JSON");
        let errcode = registered
            .get("errcode")
            .and_then(serde_json::Value::as_i64);
        assert_eq!(errcode.unwrap_or(0), 0, "{stdout}");
        let mp = registered["appid"].as_str().unwrap();
        let exchanged: serde_json::Value =
            serde_json::from_str(lines[1]).expect("api_query_auth JSON");
        assert_eq!(exchanged["authorization_info"]["authorizer_appid"], mp);
        assert!(exchanged["authorization_info"]["authorizer_refresh_token"]
            .as_str()
            .unwrap()
            .starts_with("refreshtoken@@@"));
    }
}
