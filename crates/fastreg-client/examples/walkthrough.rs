//! The whole fast-registration flow through the SDK, against a fastreg platform started in
//! this process (temporary database, the demo world). Run with
//!
//! ```not_rust
//! cargo run -p fastreg-client --example walkthrough
//! ```
//!
//! Against a platform you run yourself (`fastreg serve`), the same calls work with
//! `.base_url("http://127.0.0.1:8080")`; against WeChat, leave the base URL out.

use std::sync::Arc;

use fastreg_client::store::SqliteStore;
use fastreg_client::{Client, FastRegisterOutcome};
use fastreg_platform::app::Application;
use fastreg_platform::settings::Settings;
use serde_json::{json, Value};

const COMPONENT: &str = "wxc0ffee0000000001";
const OA: &str = "wx0a00000000000001";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // The platform, standing in for WeChat.
    let dir = tempfile::tempdir()?;
    let app = Application::build(Settings {
        addr: "127.0.0.1:0".into(),
        db: format!("sqlite://{}", dir.path().join("platform.db").display()),
        admin_token: Some("example-admin".into()),
        ..Settings::default()
    })
    .await?;
    let base = format!("http://{}", app.local_addr());
    tokio::spawn(app.run_until_stopped(std::future::pending()));
    println!("platform at {base}");
    // The sandbox API plays the parts that happen outside our code: open.weixin.qq.com
    // (the secret), WeChat's ticket push, and the OA admin's confirmations.
    let sandbox = |method: &'static str, path: String, body: Option<Value>| {
        let base = base.clone();
        async move {
            let mut req = reqwest::Client::new()
                .request(method.parse().unwrap(), format!("{base}/sandbox/v1{path}"))
                .bearer_auth("example-admin");
            if let Some(b) = body {
                req = req.json(&b);
            }
            req.send().await?.json::<Value>().await
        }
    };
    let component = sandbox("GET", format!("/components/{COMPONENT}"), None).await?;
    let secret = component["appsecret"]
        .as_str()
        .unwrap_or_default()
        .to_string();

    // The third-party platform's side: the SDK, with tokens in a SQLite file.
    let client = Client::builder(COMPONENT, secret)
        .base_url(&base)
        .auth_domain("localhost")
        .store(Arc::new(SqliteStore::open(dir.path().join("tokens.db"))?))
        .build()?;

    let pushed = sandbox(
        "GET",
        format!("/components/{COMPONENT}/verify-ticket"),
        None,
    )
    .await?;
    client
        .set_verify_ticket(
            pushed["component_verify_ticket"]
                .as_str()
                .unwrap_or_default(),
        )
        .await?;
    println!("1. verify ticket stored");
    client.component_token().await?;
    println!("2. component_access_token fetched (and cached)");

    let code = client.create_pre_auth_code().await?.pre_auth_code;
    let login = client.component_login_page_url(
        &code,
        "https://localhost/authorized",
        fastreg_client::AuthType::OfficialAccounts,
        Some(OA),
    )?;
    println!("3. the OA's admin would open {login}");
    let granted = sandbox(
        "POST",
        "/authorizations".into(),
        Some(json!({"component_appid": COMPONENT, "authorizer_appid": OA, "permission_sets": [1, 15, 27]})),
    )
    .await?;
    let info = client
        .query_auth(granted["auth_code"].as_str().unwrap_or_default())
        .await?;
    println!(
        "4. {} authorised the component; its refresh token is stored",
        info.authorizer_appid
    );

    let link = client.fast_register_auth_url(OA, true, "https://localhost/fastregister/done")?;
    println!("5. the admin would confirm at {link}");
    let confirmed = sandbox(
        "POST",
        "/fastregister-confirmations".into(),
        Some(
            json!({"component_appid": COMPONENT, "appid": OA, "copy_wx_verify": 1,
                    "redirect_uri": "https://localhost/fastregister/done"}),
        ),
    )
    .await?;
    let ticket = confirmed["ticket"].as_str().unwrap_or_default();
    println!("   ... and come back to {}", confirmed["redirect_url"]);

    match client.fast_register(OA, ticket).await {
        FastRegisterOutcome::Registered(mp) => {
            println!(
                "6. registered Mini Program {} (verification reused: {:?}, linked: {:?}, refresh token saved: {})",
                mp.appid, mp.is_wx_verify_succ, mp.is_link_succ, mp.refresh_token_saved
            );
            let basic = client.account_basic_info(&mp.appid).await?;
            println!("7. it belongs to {:?}", basic.principal_name);
        }
        FastRegisterOutcome::NotRegistered(e) => println!("6. refused: {e}"),
        FastRegisterOutcome::Unknown(e) => println!("6. unknown yet: {e}"),
    }
    Ok(())
}
