//! `fastreg demo`: a newcomer's first command. Starts the platform in-process (temporary
//! SQLite database, the demo world) and plays a third-party platform end to end through the
//! SDK: verify ticket by push to its own callback, component token, the OA's authorisation on
//! componentloginpage, the fastregisterauth confirmation, fastregister, the authorization_code
//! exchange and the new Mini Program's refresh token stored. The admin's two confirmations are
//! made on the real pages over HTTP, as a browser would. Each step is one line (what was
//! called, what came back, how long it took), or one JSON object with `--json`. Then it shows a
//! refusal: 61055 after the fifth registration of the month.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};
use clap::Args;
use fastreg_client::push::{axum_route, PushEvent};
use fastreg_client::store::SqliteStore;
use fastreg_client::{AuthType, Client, FastRegisterOutcome};
use fastreg_platform::app::Application;
use fastreg_platform::settings::Settings;
use serde::Serialize;
use serde_json::{json, Value};

const COMPONENT: &str = "wxc0ffee0000000001";
const OA: &str = "wx0a00000000000001";
const CALLBACK: &str = "http://localhost/fastreg-demo/callback";

/// Flags of `fastreg demo`.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  fastreg demo\n  fastreg demo --json | jq .mini_program\n  fastreg demo --db sqlite://demo.db"
)]
pub struct DemoArgs {
    /// Database URL [default: a temporary SQLite file, deleted afterwards].
    #[arg(long)]
    pub db: Option<String>,
    /// Print one JSON object with every step instead of readable lines.
    #[arg(long)]
    pub json: bool,
}

/// One step of the demo.
#[derive(Debug, Serialize)]
struct Step {
    /// What was called.
    call: String,
    /// What came back.
    result: String,
    /// How long it took, in milliseconds.
    ms: u128,
}

struct Steps {
    json: bool,
    steps: Vec<Step>,
}

impl Steps {
    fn record(&mut self, call: &str, started: Instant, result: impl Into<String>) {
        let step = Step {
            call: call.to_string(),
            result: result.into(),
            ms: started.elapsed().as_millis(),
        };
        if !self.json {
            use std::io::Write as _;
            let n = self.steps.len() + 1;
            let _ = writeln!(
                std::io::stdout(),
                "{n:>2}. {:<48} {}  ({} ms)",
                step.call,
                step.result,
                step.ms
            );
        }
        self.steps.push(step);
    }
}

/// The sandbox API and the admin's browser: the parts of the flow that are not the third-party
/// platform's (and so not the SDK's).
struct World {
    base: String,
    admin: String,
    http: reqwest::Client,
}

impl World {
    async fn sandbox(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<Value> {
        let mut req = self
            .http
            .request(method.clone(), format!("{}/sandbox/v1{path}", self.base))
            .bearer_auth(&self.admin);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req
            .send()
            .await
            .with_context(|| format!("{method} {path}"))?;
        let status = resp.status();
        let v: Value = resp.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            bail!("{method} {path}: HTTP {status}: {}", v["errmsg"]);
        }
        Ok(v)
    }

    /// Opens a confirmation page, presses its confirm button (with the ticked sets), and
    /// returns where the platform redirects the browser.
    async fn confirm_page(&self, url: &str, sets: &[i64]) -> anyhow::Result<String> {
        let page = self.http.get(url).send().await?.text().await?;
        let action = attribute(&page, "form", "action").ok_or_else(|| {
            anyhow!(
                "the page at {url} has no confirmation form: {}",
                refusal_text(&page)
            )
        })?;
        let mut form: Vec<(String, String)> = hidden_inputs(&page);
        form.extend(sets.iter().map(|s| ("set".to_string(), s.to_string())));
        let resp = self
            .http
            .post(format!("{}{action}", self.base))
            .form(&form)
            .send()
            .await?;
        if resp.status() != reqwest::StatusCode::FOUND {
            bail!("confirming {action} answered HTTP {}", resp.status());
        }
        resp.headers()
            .get(reqwest::header::LOCATION)
            .and_then(|l| l.to_str().ok())
            .map(str::to_string)
            .ok_or_else(|| anyhow!("no redirect after confirming {action}"))
    }
}

/// The first `name="…"` attribute of the first `<tag` in a page rendered by the platform.
fn attribute(page: &str, tag: &str, name: &str) -> Option<String> {
    let at = page.find(&format!("<{tag} "))?;
    let rest = &page[at..page[at..].find('>')? + at];
    let key = format!("{name}=\"");
    let start = rest.find(&key)? + key.len();
    Some(unescape(&rest[start..start + rest[start..].find('"')?]))
}

/// The hidden inputs of the platform's confirmation form, unescaped.
fn hidden_inputs(page: &str) -> Vec<(String, String)> {
    page.split("<input type=\"hidden\" ")
        .skip(1)
        .filter_map(|chunk| {
            let name = chunk.split("name=\"").nth(1)?.split('"').next()?;
            let value = chunk.split("value=\"").nth(1)?.split('"').next()?;
            Some((unescape(name), unescape(value)))
        })
        .collect()
}

fn unescape(s: &str) -> String {
    s.replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

fn refusal_text(page: &str) -> String {
    page.split("class=\"code\">")
        .nth(1)
        .and_then(|s| s.split('<').next())
        .map(|c| format!("refused with errcode {c}"))
        .unwrap_or_else(|| "no form on the page".into())
}

fn query_param(url: &str, name: &str) -> Option<String> {
    let query = url.split_once('?')?.1;
    form_urlencoded_pairs(query).remove(name)
}

fn form_urlencoded_pairs(query: &str) -> HashMap<String, String> {
    url::form_urlencoded::parse(query.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// Runs the demo.
///
/// # Errors
/// The first step that fails, in one line.
pub async fn run(args: DemoArgs) -> anyhow::Result<()> {
    let mut out = Steps {
        json: args.json,
        steps: Vec::new(),
    };
    let dir = tempfile::tempdir().context("creating a temporary directory")?;
    let db = args
        .db
        .clone()
        .unwrap_or_else(|| format!("sqlite://{}", dir.path().join("platform.db").display()));
    let admin = fastreg_platform::secrets::alnum(32);

    // The platform, standing in for WeChat.
    let t = Instant::now();
    let app = Application::build(Settings {
        addr: "127.0.0.1:0".into(),
        db: db.clone(),
        admin_token: Some(admin.clone()),
        ..Settings::default()
    })
    .await?;
    let base = format!("http://{}", app.local_addr());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until_stopped(async {
        let _ = stopped.await;
    }));
    out.record("start the platform", t, format!("{base} on {db}"));
    let world = World {
        base: base.clone(),
        admin,
        http: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()?,
    };
    let result = play(&mut out, &world, dir.path()).await;
    let _ = stop.send(());
    let _ = server.await;
    let summary = result?;
    if args.json {
        let body = json!({
            "ok": true,
            "platform": base,
            "steps": out.steps,
            "mini_program": summary.mini_program,
            "refusal": summary.refusal,
        });
        println!("{}", serde_json::to_string_pretty(&body)?);
    } else {
        println!(
            "\nDone: Mini Program {} is registered and its refresh token is stored.",
            summary.mini_program
        );
        let r = &summary.refusal;
        println!(
            "The refusal, as a client sees it: {} {}\n  meaning: {}\n  what to do: {}",
            r["errcode"],
            r["errmsg"].as_str().unwrap_or_default(),
            r["meaning"].as_str().unwrap_or_default(),
            r["remedy"].as_str().unwrap_or_default()
        );
    }
    Ok(())
}

struct Summary {
    mini_program: String,
    refusal: Value,
}

async fn play(out: &mut Steps, world: &World, dir: &std::path::Path) -> anyhow::Result<Summary> {
    use reqwest::Method;

    // What the component's developer copies from open.weixin.qq.com.
    let t = Instant::now();
    let component = world
        .sandbox(Method::GET, &format!("/components/{COMPONENT}"), None)
        .await?;
    let text = |k: &str| component[k].as_str().unwrap_or_default().to_string();
    let client = Client::builder(COMPONENT, text("appsecret"))
        .base_url(&world.base)
        .auth_domain("localhost")
        .store(Arc::new(SqliteStore::open(dir.join("tokens.db"))?))
        .build()?;
    out.record(
        "configure the SDK client",
        t,
        format!("component {COMPONENT}, tokens in a SQLite file"),
    );

    // Its authorisation-event URL: the SDK's push route.
    let t = Instant::now();
    let receiver = client.push_receiver(text("token"), &text("encoding_aes_key"))?;
    let (events_tx, mut events) = tokio::sync::mpsc::unbounded_channel::<PushEvent>();
    let routes = axum::Router::new().nest(
        "/events",
        axum_route::router(receiver, move |e: PushEvent| {
            let tx = events_tx.clone();
            async move {
                let _ = tx.send(e);
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let event_url = format!("http://{}/events", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, routes).await });
    world
        .sandbox(
            Method::PATCH,
            &format!("/components/{COMPONENT}"),
            Some(json!({"event_url": event_url})),
        )
        .await?;
    out.record("serve the push callback", t, event_url.clone());

    let t = Instant::now();
    client.start_push_ticket().await?;
    let wait = |what: &'static str| async move { anyhow!("no {what} push arrived within 10 s") };
    let ticket_arrived = tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(e) = events.recv().await {
            if let PushEvent::ComponentVerifyTicket { .. } = e {
                return true;
            }
        }
        false
    })
    .await
    .unwrap_or(false);
    if !ticket_arrived {
        return Err(wait("component_verify_ticket").await);
    }
    out.record(
        "api_start_push_ticket",
        t,
        "component_verify_ticket pushed, verified, stored",
    );

    let t = Instant::now();
    client.component_token().await?;
    out.record(
        "api_component_token",
        t,
        "component_access_token issued (cached until expiry)",
    );

    let t = Instant::now();
    let pre_auth_code = client.create_pre_auth_code().await?.pre_auth_code;
    let login_url = client.component_login_page_url(
        &pre_auth_code,
        CALLBACK,
        AuthType::OfficialAccounts,
        Some(OA),
    )?;
    out.record(
        "api_create_preauthcode",
        t,
        "pre_auth_code for componentloginpage",
    );

    let t = Instant::now();
    let landed = world.confirm_page(&login_url, &[1, 15, 27]).await?;
    let auth_code = query_param(&landed, "auth_code")
        .ok_or_else(|| anyhow!("componentloginpage redirected to {landed} without auth_code"))?;
    out.record(
        "componentloginpage (the OA's admin)",
        t,
        "confirmed sets 1, 15, 27 → redirect with auth_code",
    );

    let t = Instant::now();
    let authorized = tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(e) = events.recv().await {
            if e.info_type() == "authorized" || e.info_type() == "updateauthorized" {
                return Some(e.info_type().to_string());
            }
        }
        None
    })
    .await
    .ok()
    .flatten()
    .ok_or_else(|| anyhow!("no authorized push arrived within 10 s"))?;
    let info = client.query_auth(&auth_code).await?;
    out.record(
        "api_query_auth",
        t,
        format!(
            "{} push received; {} authorised, refresh token stored",
            authorized, info.authorizer_appid
        ),
    );

    let t = Instant::now();
    let fast_url = client.fast_register_auth_url(OA, true, CALLBACK)?;
    let landed = world.confirm_page(&fast_url, &[]).await?;
    let ticket = query_param(&landed, "ticket")
        .ok_or_else(|| anyhow!("fastregisterauth redirected to {landed} without a ticket"))?;
    out.record(
        "fastregisterauth (the OA's admin)",
        t,
        "confirmed → redirect with ticket",
    );

    let t = Instant::now();
    let mp = match client.fast_register(OA, &ticket).await {
        FastRegisterOutcome::Registered(mp) => mp,
        FastRegisterOutcome::NotRegistered(e) | FastRegisterOutcome::Unknown(e) => {
            return Err(e.into())
        }
    };
    out.record(
        "fastregister + api_query_auth",
        t,
        format!(
            "Mini Program {} (verification reused: {}, linked: {}); its authorization_code exchanged and refresh token stored",
            mp.appid,
            mp.is_wx_verify_succ.unwrap_or(false),
            mp.is_link_succ.unwrap_or(false)
        ),
    );
    if !mp.refresh_token_saved {
        bail!("the new Mini Program's refresh token was not stored");
    }

    let t = Instant::now();
    let basic = client.account_basic_info(&mp.appid).await?;
    out.record(
        "getaccountbasicinfo (the Mini Program's token)",
        t,
        format!(
            "owned by {:?}, verified: {}",
            basic.principal_name, basic.wx_verify_info.qualification_verify
        ),
    );

    // Four more registrations use up the month's quota; the sixth is refused.
    let t = Instant::now();
    for _ in 0..4 {
        let confirmed = world
            .sandbox(
                Method::POST,
                "/fastregister-confirmations",
                Some(json!({"component_appid": COMPONENT, "appid": OA, "copy_wx_verify": 1, "redirect_uri": CALLBACK})),
            )
            .await?;
        let ticket = confirmed["ticket"].as_str().unwrap_or_default().to_string();
        client.fast_register(OA, &ticket).await.into_result()?;
    }
    out.record(
        "fastregister × 4",
        t,
        "registered: five this month, the quota",
    );

    let t = Instant::now();
    let confirmed = world
        .sandbox(
            Method::POST,
            "/fastregister-confirmations",
            Some(json!({"component_appid": COMPONENT, "appid": OA, "copy_wx_verify": 1, "redirect_uri": CALLBACK})),
        )
        .await?;
    let ticket = confirmed["ticket"].as_str().unwrap_or_default().to_string();
    let refusal = match client.fast_register(OA, &ticket).await {
        FastRegisterOutcome::NotRegistered(e) => e,
        other => bail!("the sixth registration should be refused, got {other:?}"),
    };
    let code = refusal
        .code()
        .ok_or_else(|| anyhow!("the sixth registration failed without an errcode: {refusal}"))?;
    out.record(
        "fastregister (the sixth this month)",
        t,
        format!("refused: {code}"),
    );
    let info = code.info();
    Ok(Summary {
        mini_program: mp.appid,
        refusal: json!({
            "errcode": code.code(),
            "errmsg": code.errmsg(),
            "meaning": info.map(|i| i.meaning),
            "remedy": info.map(|i| i.remedy),
            "meaning_zh": info.map(|i| i.meaning_zh),
        }),
    })
}
