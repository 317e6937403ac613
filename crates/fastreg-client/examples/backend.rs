//! A third-party platform's backend, the shape to copy: one axum app that receives WeChat's
//! pushes, sends an Official Account's admin to authorise it and to confirm a fast
//! registration, and handles the three outcomes of fastregister. Then an "admin" walks through
//! it the way a browser does: follows the links the backend renders, reads the platform's
//! confirmation pages and submits their forms, and lands back on the backend.
//!
//! ```not_rust
//! cargo run -p fastreg-client --example backend
//! cargo run -p fastreg-client --example backend -- --base-url http://127.0.0.1:8080 --admin-token TOKEN
//! ```
//!
//! Without `--base-url` a fastreg platform is started in this process (temporary database, the
//! demo world). With it, the example uses a platform you run (`fastreg serve`); the admin token
//! lets it play the parts that happen outside a backend: configuring the component on
//! open.weixin.qq.com (reading its secret, token and EncodingAESKey, setting its event URL).
//! The backend listens on `localhost`, the demo component's auth domain.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Query, State};
use axum::response::Html;
use axum::routing::get;
use axum::Router;
use fastreg_client::push::{axum_route, PushEvent};
use fastreg_client::store::SqliteStore;
use fastreg_client::{AuthType, Client, FastRegisterOutcome};
use serde::Deserialize;
use serde_json::{json, Value};

/// The demo world's component and its Official Account that may fast-register.
pub const COMPONENT: &str = "wxc0ffee0000000001";
pub const OA: &str = "wx0a00000000000001";

/// How to run the example.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// A platform to use instead of one started in this process.
    pub base_url: Option<String>,
    /// That platform's admin token (for the sandbox API).
    pub admin_token: Option<String>,
    /// For the in-process platform: how long a registration takes (0 by default).
    pub processing_delay_ms: u64,
    /// The client's fastregister timeout (30 s by default).
    pub fast_register_timeout: Option<Duration>,
}

/// What the admin saw.
#[derive(Debug)]
pub struct Walk {
    /// The texts of the backend's outcome pages, in order (`unknown: …` until it is known).
    pub outcomes: Vec<String>,
    /// The registered Mini Program, if the last outcome was a registration.
    pub mini_program: Option<String>,
}

#[cfg_attr(test, allow(dead_code))]
#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut options = Options::default();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--base-url" => options.base_url = args.next(),
            "--admin-token" => options.admin_token = args.next(),
            other => anyhow::bail!("unknown argument {other:?} (--base-url URL --admin-token T)"),
        }
    }
    let walk = run(options).await?;
    for page in &walk.outcomes {
        println!("the admin sees: {page}");
    }
    Ok(())
}

/// Starts (or reaches) the platform, serves the backend, and walks the admin through it.
///
/// # Errors
/// Any step that fails.
pub async fn run(options: Options) -> anyhow::Result<Walk> {
    let dir = tempfile::tempdir()?;
    let (base, admin_token, _platform) = match &options.base_url {
        Some(base) => {
            let token = options
                .admin_token
                .clone()
                .ok_or_else(|| anyhow::anyhow!("--base-url needs --admin-token"))?;
            (base.trim_end_matches('/').to_string(), token, None)
        }
        None => {
            let (base, stop) = start_platform(&dir, options.processing_delay_ms).await?;
            (base, "example-admin".to_string(), Some(stop))
        }
    };
    let operator = Operator {
        base: base.clone(),
        admin_token,
        http: reqwest::Client::new(),
    };

    // The backend's address comes first: the component's event URL points at it.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let site = format!("http://localhost:{}", listener.local_addr()?.port());

    // What the component's owner configured on open.weixin.qq.com.
    let component = operator
        .sandbox("GET", &format!("/components/{COMPONENT}"), None)
        .await?;
    let text = |k: &str| component[k].as_str().unwrap_or_default().to_string();
    operator
        .sandbox(
            "PATCH",
            &format!("/components/{COMPONENT}"),
            Some(json!({"event_url": format!("{site}/wechat/events")})),
        )
        .await?;

    // The backend.
    let mut builder = Client::builder(COMPONENT, text("appsecret"))
        .base_url(&base)
        .auth_domain("localhost")
        .store(Arc::new(SqliteStore::open(dir.path().join("tokens.db"))?));
    if let Some(t) = options.fast_register_timeout {
        builder = builder.fast_register_timeout(t);
    }
    let client = builder.build()?;
    let backend = Backend {
        client: client.clone(),
        site: site.clone(),
        exchanged: Arc::new(Mutex::new(HashSet::new())),
    };
    let receiver = client.push_receiver(text("token"), &text("encoding_aes_key"))?;
    let app = Router::new()
        .route("/", get(home))
        .route("/authorize", get(authorize))
        .route("/authorized", get(authorized))
        .route("/fastregister/start", get(fast_register_start))
        .route("/fastregister/done", get(fast_register_done))
        .with_state(backend.clone())
        .nest_service(
            "/wechat/events",
            axum_route::router(receiver, move |event| on_event(backend.clone(), event)),
        );
    tokio::spawn(async move { axum::serve(listener, app).await });
    // The first ticket was pushed when the component was created, long before this backend
    // knew its token and key: ask for one now rather than wait up to 10 minutes.
    client
        .request_verify_ticket(Duration::from_secs(10))
        .await?;

    admin_walk(&site, &base).await
}

/// Starts a platform in this process; returns its base URL and what keeps it running.
async fn start_platform(
    dir: &tempfile::TempDir,
    processing_delay_ms: u64,
) -> anyhow::Result<(String, tokio::sync::oneshot::Sender<()>)> {
    use fastreg_platform::app::Application;
    use fastreg_platform::settings::Settings;
    let app = Application::build(Settings {
        addr: "127.0.0.1:0".into(),
        db: format!("sqlite://{}", dir.path().join("platform.db").display()),
        admin_token: Some("example-admin".into()),
        processing_delay_ms,
        ..Settings::default()
    })
    .await?;
    let base = format!("http://{}", app.local_addr());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(app.run_until_stopped(async {
        let _ = stopped.await;
    }));
    Ok((base, stop))
}

/// The sandbox API: the parts played outside a backend (open.weixin.qq.com's settings).
struct Operator {
    base: String,
    admin_token: String,
    http: reqwest::Client,
}

impl Operator {
    async fn sandbox(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<Value> {
        let mut req = self
            .http
            .request(method.parse()?, format!("{}/sandbox/v1{path}", self.base))
            .bearer_auth(&self.admin_token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await?;
        let status = resp.status();
        let v: Value = resp.json().await.unwrap_or(Value::Null);
        anyhow::ensure!(status.is_success(), "{method} {path}: {status} {v}");
        Ok(v)
    }
}

// ------------------------------------------------------------------------------- the backend

#[derive(Clone)]
struct Backend {
    client: Client,
    /// Where the admin reaches this backend (on the component's auth domain).
    site: String,
    /// Authorisation codes already exchanged: the redirect and the `authorized` push carry the
    /// same code, and a code works once.
    exchanged: Arc<Mutex<HashSet<String>>>,
}

impl Backend {
    /// Exchanges an authorisation code once (it persists the account's refresh token).
    async fn exchange(&self, code: &str) -> fastreg_client::Result<Option<String>> {
        if !self.exchanged.lock().unwrap().insert(code.to_string()) {
            return Ok(None);
        }
        let info = self.client.query_auth(code).await?;
        Ok(Some(info.authorizer_appid))
    }
}

/// Pushes, after the receiver checked and decrypted them (a verify ticket is already stored).
async fn on_event(backend: Backend, event: PushEvent) {
    match event {
        PushEvent::Authorized {
            authorization_code, ..
        }
        | PushEvent::UpdateAuthorized {
            authorization_code, ..
        } => {
            if let Err(e) = backend.exchange(&authorization_code).await {
                eprintln!("exchanging a pushed authorisation code: {e}");
            }
        }
        PushEvent::Unauthorized {
            authorizer_appid, ..
        } => eprintln!("{authorizer_appid} revoked its authorisation"),
        _ => {}
    }
}

fn page(body: String) -> Html<String> {
    Html(format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>Backend</title></head><body>{body}</body></html>"
    ))
}

/// Escapes text and attribute values.
fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn failure(e: impl std::fmt::Display) -> Html<String> {
    page(format!("<p id=\"error\">{}</p>", esc(&e.to_string())))
}

/// The admin's start page: authorise, then register for each authorised Official Account.
async fn home(State(b): State<Backend>) -> Html<String> {
    let list = match b.client.authorizer_list(0, 100).await {
        Ok(l) => l,
        Err(e) => return failure(e),
    };
    let mut links = String::from(
        "<p><a id=\"authorize\" href=\"/authorize\">Authorise our platform</a></p><ul>",
    );
    for item in &list.list {
        let appid = esc(&item.authorizer_appid);
        links.push_str(&format!(
            "<li><a id=\"register-{appid}\" href=\"/fastregister/start?oa={appid}\">Register a Mini Program for {appid}</a></li>"
        ));
    }
    page(links + "</ul>")
}

/// WeChat wants its pages reached by a link on a page of the auth domain, not a redirect.
fn go(link: &str, label: &str) -> Html<String> {
    page(format!(
        "<p><a id=\"go\" href=\"{}\">{label}</a></p>",
        esc(link)
    ))
}

async fn authorize(State(b): State<Backend>) -> Html<String> {
    let link = async {
        let code = b.client.create_pre_auth_code().await?.pre_auth_code;
        b.client.component_login_page_url(
            &code,
            &format!("{}/authorized", b.site),
            AuthType::OfficialAccounts,
            None,
        )
    }
    .await;
    match link {
        Ok(link) => go(&link, "Authorise on WeChat"),
        Err(e) => failure(e),
    }
}

#[derive(Deserialize)]
struct AuthorizedQuery {
    auth_code: String,
}

async fn authorized(State(b): State<Backend>, Query(q): Query<AuthorizedQuery>) -> Html<String> {
    match b.exchange(&q.auth_code).await {
        Ok(_) => page("<p id=\"authorized\">Authorised. <a href=\"/\">Continue</a></p>".into()),
        Err(e) => failure(e),
    }
}

#[derive(Deserialize)]
struct StartQuery {
    oa: String,
}

async fn fast_register_start(
    State(b): State<Backend>,
    Query(q): Query<StartQuery>,
) -> Html<String> {
    let done = format!("{}/fastregister/done?oa={}", b.site, q.oa);
    match b.client.fast_register_auth_url(&q.oa, true, &done) {
        Ok(link) => go(&link, "Confirm on WeChat"),
        Err(e) => failure(e),
    }
}

#[derive(Deserialize)]
struct DoneQuery {
    oa: String,
    ticket: String,
}

/// The redirect after the admin confirmed: the one place fastregister is called.
async fn fast_register_done(State(b): State<Backend>, Query(q): Query<DoneQuery>) -> Html<String> {
    match b.client.fast_register(&q.oa, &q.ticket).await {
        FastRegisterOutcome::Registered(mp) => page(format!(
            "<p id=\"outcome\">registered: Mini Program {} (refresh token saved: {})</p>",
            esc(&mp.appid),
            mp.refresh_token_saved
        )),
        // Refused: the error says why and what to do; for a dead ticket, start over.
        FastRegisterOutcome::NotRegistered(e) => page(format!(
            "<p id=\"outcome\">refused: {}</p><p><a id=\"start\" href=\"/fastregister/start?oa={}\">Start again</a></p>",
            esc(&e.to_string()),
            esc(&q.oa)
        )),
        // Not known yet: ask again with the SAME ticket (the client waits the retry interval).
        // A new ticket could register a second Mini Program.
        FastRegisterOutcome::Unknown(e) => page(format!(
            "<p id=\"outcome\">unknown: {}</p><p><a id=\"again\" href=\"/fastregister/done?oa={}&amp;ticket={}\">Check again</a></p>",
            esc(&e.to_string()),
            esc(&q.oa),
            esc(&q.ticket)
        )),
    }
}

// --------------------------------------------------------------------------------- the admin

/// The admin's browser: follows links, submits forms, follows redirects.
async fn admin_walk(site: &str, platform: &str) -> anyhow::Result<Walk> {
    let browser = reqwest::Client::new();
    let get = |url: String| {
        let browser = browser.clone();
        async move {
            let resp = browser.get(&url).send().await?;
            let at = resp.url().clone();
            anyhow::Ok((at, resp.text().await?))
        }
    };

    // Authorise the component, choosing the Official Account and keeping every offered set.
    let (at, home) = get(format!("{site}/")).await?;
    let (at, page) = get(link(&at, &home, "id", "authorize")?).await?;
    let (at, login) = get(link(&at, &page, "id", "go")?).await?;
    anyhow::ensure!(at.as_str().starts_with(platform), "left for {at}");
    let (at, confirm) = get(link(
        &at,
        &login,
        "href-contains",
        &format!("biz_appid={OA}"),
    )?)
    .await?;
    let (_, done) = submit(&browser, &at, &confirm).await?;
    anyhow::ensure!(done.contains("id=\"authorized\""), "not authorised: {done}");

    // Register a Mini Program for it.
    let (at, home) = get(format!("{site}/")).await?;
    let (at, page) = get(link(&at, &home, "id", &format!("register-{OA}"))?).await?;
    let (at, confirm) = get(link(&at, &page, "id", "go")?).await?;
    let (mut at, mut outcome) = submit(&browser, &at, &confirm).await?;
    let mut outcomes = vec![outcome_text(&outcome)?];
    while outcomes.last().is_some_and(|o| o.starts_with("unknown")) && outcomes.len() < 6 {
        (at, outcome) = get(link(&at, &outcome, "id", "again")?).await?;
        outcomes.push(outcome_text(&outcome)?);
    }
    let mini_program = outcomes
        .last()
        .and_then(|o| o.strip_prefix("registered: Mini Program "))
        .and_then(|rest| rest.split_whitespace().next())
        .map(String::from);
    Ok(Walk {
        outcomes,
        mini_program,
    })
}

fn outcome_text(html: &str) -> anyhow::Result<String> {
    let start = html
        .find("<p id=\"outcome\">")
        .ok_or_else(|| anyhow::anyhow!("no outcome on {html}"))?
        + "<p id=\"outcome\">".len();
    let end = html[start..].find("</p>").unwrap_or(0) + start;
    Ok(unescape(&html[start..end]))
}

/// The tags named `tag` in `html` (their text from `<tag` to `>`).
fn tags<'a>(html: &'a str, tag: &str) -> Vec<&'a str> {
    let open = format!("<{tag} ");
    let mut out = Vec::new();
    let mut rest = html;
    while let Some(i) = rest.find(&open) {
        let end = rest[i..].find('>').map_or(rest.len(), |e| i + e + 1);
        out.push(&rest[i..end]);
        rest = &rest[end..];
    }
    out
}

/// An attribute's value, unescaped.
fn attr(tag: &str, name: &str) -> Option<String> {
    let key = format!(" {name}=\"");
    let start = tag.find(&key)? + key.len();
    let end = tag[start..].find('"')? + start;
    Some(unescape(&tag[start..end]))
}

fn unescape(s: &str) -> String {
    s.replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

/// The absolute URL of a link, found by its `id` or by a piece of its `href`.
fn link(at: &url::Url, html: &str, by: &str, what: &str) -> anyhow::Result<String> {
    let found = tags(html, "a").into_iter().find_map(|a| {
        let href = attr(a, "href")?;
        let hit = match by {
            "id" => attr(a, "id").as_deref() == Some(what),
            _ => href.contains(what),
        };
        hit.then_some(href)
    });
    let href = found.ok_or_else(|| anyhow::anyhow!("no link {by} {what:?} on {at}: {html}"))?;
    Ok(at.join(&href)?.to_string())
}

/// Submits the page's first form as a browser would: its hidden fields and the checked boxes.
async fn submit(
    browser: &reqwest::Client,
    at: &url::Url,
    html: &str,
) -> anyhow::Result<(url::Url, String)> {
    let start = html
        .find("<form ")
        .ok_or_else(|| anyhow::anyhow!("no form on {at}: {html}"))?;
    let end = html[start..]
        .find("</form>")
        .map_or(html.len(), |e| start + e);
    let form = &html[start..end];
    let action = tags(form, "form")
        .first()
        .and_then(|f| attr(f, "action"))
        .unwrap_or_default();
    let mut fields: Vec<(String, String)> = Vec::new();
    for input in tags(form, "input") {
        let (Some(name), kind) = (attr(input, "name"), attr(input, "type")) else {
            continue;
        };
        let value = attr(input, "value").unwrap_or_default();
        match kind.as_deref() {
            Some("checkbox") if !input.contains(" checked") => {}
            _ => fields.push((name, value)),
        }
    }
    let resp = browser.post(at.join(&action)?).form(&fields).send().await?;
    let landed = resp.url().clone();
    Ok((landed, resp.text().await?))
}
