//! The admin-facing pages in a real headless Chromium, driven with fantoccini through
//! chromedriver: a component's own site links to the platform's page, the "admin" reads it and
//! confirms, and the browser lands back on the component's callback, whose code or ticket the
//! SDK then uses. Every page seen is saved to `target/screenshots/<test>-<step>.png`.
//!
//! Each test spawns the platform in-process (port 0, temporary SQLite database, demo world), a
//! tiny component site on port 0, its own chromedriver on a free port and one browser session
//! with its own profile directory, so tests run in parallel. Without `/usr/bin/chromium` and
//! `/usr/bin/chromedriver` the tests print `SKIPPED: chromium/chromedriver not installed` and
//! pass; CI installs both (`.ci/run`).

use std::future::Future;
use std::net::TcpListener as StdListener;
use std::ops::Deref;
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use fantoccini::{ClientBuilder, Locator};
use fastreg_client::store::MemoryStore;
use fastreg_client::{AuthType, Client, Error as SdkError, FastRegisterOutcome};
use fastreg_platform::testing::demo::{COMPONENT as C, OA};
use fastreg_platform::testing::{self, spawn_platform};
use fastreg_wire::component::FuncInfo;
use futures_util::FutureExt;
use serde_json::{json, Value};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// How long a page may take to appear.
const PAGE_WAIT: Duration = Duration::from_secs(30);

// ------------------------------------------------------------------ the platform

/// The platform, in-process on port 0 with a temporary database and the demo world
/// ([`testing::Platform`]: `base`, `admin`, `sandbox`), with the calls these tests make.
struct Platform(testing::Platform);

impl Deref for Platform {
    type Target = testing::Platform;

    fn deref(&self) -> &testing::Platform {
        &self.0
    }
}

async fn platform() -> Platform {
    Platform(spawn_platform(|_| {}).await)
}

impl Platform {
    /// A client for `component`, pointed at this platform, with its verify ticket stored.
    async fn client_for(&self, component: &str) -> Client {
        let c = self
            .sandbox("GET", &format!("/components/{component}"), None)
            .await;
        let client = Client::builder(component, c["appsecret"].as_str().unwrap())
            .base_url(&self.base)
            .auth_domain("localhost")
            .store(Arc::new(MemoryStore::new()))
            .build()
            .unwrap();
        let ticket = self
            .sandbox(
                "GET",
                &format!("/components/{component}/verify-ticket"),
                None,
            )
            .await;
        client
            .set_verify_ticket(ticket["component_verify_ticket"].as_str().unwrap())
            .await
            .unwrap();
        client
    }

    /// A new verified Official Account of the demo's enterprise entity, authorised to the
    /// demo component with `sets`.
    async fn official_account(&self, nickname: &str, sets: &[i64]) -> String {
        let oa = self
            .sandbox(
                "POST",
                "/official-accounts",
                Some(json!({"nickname": nickname, "entity_id": 1, "verified": true})),
            )
            .await;
        let appid = oa["appid"].as_str().unwrap().to_string();
        self.sandbox(
            "POST",
            "/authorizations",
            Some(json!({"component_appid": C, "authorizer_appid": appid, "permission_sets": sets})),
        )
        .await;
        appid
    }
}

// ------------------------------------------------------------------ the component's site

/// The component's own site: `/` links to a platform page (`<a id="go">`), `/cb` records the
/// query strings it receives and shows the last one. Served on 127.0.0.1 but addressed as
/// `localhost`, the demo component's auth domain.
struct Site {
    port: u16,
    link: Arc<Mutex<String>>,
    hits: Arc<Mutex<Vec<String>>>,
}

async fn site() -> Site {
    use axum::extract::RawQuery;

    let link = Arc::new(Mutex::new(String::new()));
    let hits = Arc::new(Mutex::new(Vec::new()));
    let (l, h) = (link.clone(), hits.clone());
    let app = axum::Router::new()
        .route(
            "/",
            axum::routing::get(move || {
                let href = escape(&l.lock().unwrap());
                async move {
                    no_store(format!(
                        "<!doctype html><html><head><meta charset=\"utf-8\"><title>Component site</title></head>\
                         <body><h1>A component's site</h1>\
                         <p><a id=\"go\" href=\"{href}\">Continue on the platform</a></p></body></html>"
                    ))
                }
            }),
        )
        .route(
            "/cb",
            axum::routing::get(move |RawQuery(q): RawQuery| {
                let q = q.unwrap_or_default();
                h.lock().unwrap().push(q.clone());
                async move {
                    no_store(format!(
                        "<!doctype html><html><head><meta charset=\"utf-8\"><title>Callback</title></head>\
                         <body><h1>Back on the component's site</h1><pre id=\"query\">{}</pre></body></html>",
                        escape(&q)
                    ))
                }
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, app).await });
    Site { port, link, hits }
}

/// An HTML answer the browser must fetch again every time (the link changes between visits).
fn no_store(html: String) -> impl axum::response::IntoResponse {
    (
        [(axum::http::header::CACHE_CONTROL, "no-store")],
        axum::response::Html(html),
    )
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

impl Site {
    /// The site's root, on the component's auth domain.
    fn root(&self) -> String {
        format!("http://localhost:{}/", self.port)
    }

    /// A callback URL on the auth domain (`suffix` is appended to `/cb`).
    fn cb(&self, suffix: &str) -> String {
        format!("http://localhost:{}/cb{suffix}", self.port)
    }

    fn set_link(&self, href: &str) {
        *self.link.lock().unwrap() = href.to_string();
    }

    fn hits(&self) -> Vec<String> {
        self.hits.lock().unwrap().clone()
    }
}

// ------------------------------------------------------------------ the browser

/// A chromedriver of this test, on its own port; killed (with its process group) on drop.
struct Driver {
    child: Child,
    url: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        // Its own process group (see `start`): a browser it left behind goes with it.
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.child.id())])
            .stderr(Stdio::null())
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn installed() -> bool {
    Path::new(CHROMIUM).exists() && Path::new(CHROMEDRIVER).exists()
}

fn free_port() -> u16 {
    StdListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Driver {
    /// Starts chromedriver on a free port and waits until it answers ready. A port taken
    /// between choosing and binding it makes chromedriver exit; another port is tried.
    async fn start() -> Driver {
        use std::os::unix::process::CommandExt;

        let http = reqwest::Client::new();
        for _ in 0..5 {
            let port = free_port();
            let child = Command::new(CHROMEDRIVER)
                .arg(format!("--port={port}"))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .process_group(0)
                .spawn()
                .expect("spawn chromedriver");
            let mut driver = Driver {
                child,
                url: format!("http://127.0.0.1:{port}"),
            };
            let deadline = Instant::now() + Duration::from_secs(20);
            while Instant::now() < deadline {
                if driver.child.try_wait().ok().flatten().is_some() {
                    break;
                }
                let status = http
                    .get(format!("{}/status", driver.url))
                    .timeout(Duration::from_secs(2))
                    .send()
                    .await;
                if let Ok(resp) = status {
                    if let Ok(v) = resp.json::<Value>().await {
                        // Ready, and ours: not another chromedriver that had the port.
                        if v["value"]["ready"] == json!(true)
                            && driver.child.try_wait().ok().flatten().is_none()
                        {
                            return driver;
                        }
                    }
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        panic!("chromedriver did not start");
    }
}

/// One browser session of a test, with the test's name for its screenshots.
struct Browser {
    c: fantoccini::Client,
    test: &'static str,
    step: Mutex<u32>,
}

/// Runs `body` with a fresh browser session (its own chromedriver and profile), and always
/// closes the session and stops chromedriver, also when `body` panics.
async fn with_browser<F, Fut>(test: &'static str, body: F)
where
    F: FnOnce(Arc<Browser>) -> Fut,
    Fut: Future<Output = ()>,
{
    if !installed() {
        println!("SKIPPED: chromium/chromedriver not installed");
        return;
    }
    let profile = tempfile::tempdir().unwrap();
    let driver = Driver::start().await;
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": CHROMIUM,
            "args": [
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                format!("--user-data-dir={}", profile.path().display()),
                "--window-size=1280,900",
            ],
        }),
    );
    // chromedriver speaks plain HTTP on localhost: no TLS stack needed.
    let c = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&driver.url)
        .await
        .expect("a browser session");
    let browser = Arc::new(Browser {
        c: c.clone(),
        test,
        step: Mutex::new(0),
    });
    let outcome = AssertUnwindSafe(body(browser)).catch_unwind().await;
    let closed = c.close().await;
    drop(driver);
    drop(profile);
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
    closed.expect("close the browser session");
}

fn screenshot_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/screenshots")
}

impl Browser {
    /// Saves what the browser shows as `target/screenshots/<test>-<NN>-<label>.png`.
    async fn shot(&self, label: &str) {
        let n = {
            let mut s = self.step.lock().unwrap();
            *s += 1;
            *s
        };
        let png = self.c.screenshot().await.expect("screenshot");
        let dir = screenshot_dir();
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("{}-{n:02}-{label}.png", self.test)), png).unwrap();
    }

    /// Waits until an element matching `css` is on the page.
    async fn wait_css(&self, css: &str) -> fantoccini::elements::Element {
        match self
            .c
            .wait()
            .at_most(PAGE_WAIT)
            .for_element(Locator::Css(css))
            .await
        {
            Ok(e) => e,
            Err(e) => panic!("no {css} on {}: {e}", self.url().await),
        }
    }

    async fn text(&self, css: &str) -> String {
        self.wait_css(css).await.text().await.unwrap()
    }

    async fn url(&self) -> String {
        self.c
            .current_url()
            .await
            .map(|u| u.to_string())
            .unwrap_or_default()
    }

    /// Opens the component's site (as the admin would, on the component's domain) and clicks
    /// its link to the platform.
    async fn follow_site_link(&self, site: &Site) {
        self.c.goto(&site.root()).await.unwrap();
        let go = self.wait_css("a#go").await;
        self.shot("site").await;
        go.click().await.unwrap();
    }

    /// The visible text of the whole page.
    async fn page_text(&self) -> String {
        self.text("body").await
    }

    /// Clicks the button whose text is `label`.
    async fn click_button(&self, label: &str) {
        self.c
            .find(Locator::XPath(&format!(
                "//button[normalize-space()='{label}']"
            )))
            .await
            .unwrap_or_else(|e| panic!("no button {label:?}: {e}"))
            .click()
            .await
            .unwrap();
    }

    /// Waits for the callback page, and returns its query string.
    async fn callback_query(&self) -> String {
        self.text("pre#query").await
    }

    /// Waits for the platform's refusal page, and returns its errcode.
    async fn refusal_code(&self) -> String {
        self.text("p.code").await
    }
}

fn query_pairs(query: &str) -> Vec<(String, String)> {
    form_urlencoded::parse(query.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

fn param(query: &str, name: &str) -> Option<String> {
    query_pairs(query)
        .into_iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v)
}

// ------------------------------------------------------------------ the tests

#[tokio::test]
async fn an_admin_confirms_fastregisterauth_and_the_ticket_from_the_redirect_registers_a_mini_program(
) {
    with_browser("fastregisterauth", |b| async move {
        let p = platform().await;
        let site = site().await;
        let client = p.client_for(C).await;
        // A redirect that already has a query: the ticket must come as `&ticket=`.
        let link = client
            .fast_register_auth_url(OA, true, &site.cb("?from=test"))
            .unwrap();
        site.set_link(&link);

        b.follow_site_link(&site).await;
        b.wait_css("form button.primary").await;
        b.shot("confirm").await;
        let text = b.page_text().await;
        assert!(text.contains("Acme Official"), "{text}");
        assert!(text.contains("Acme Trading Co., Ltd."), "{text}");
        assert!(text.contains("enterprise"), "{text}");
        assert!(text.contains(OA), "{text}");
        assert!(text.contains("copy_wx_verify=1"), "{text}");
        assert!(b
            .url()
            .await
            .starts_with(&format!("{}/cgi-bin/fastregisterauth?", p.base)));
        assert!(site.hits().is_empty(), "/cb was called before confirming");

        b.click_button("Confirm registration").await;
        let query = b.callback_query().await;
        b.shot("callback").await;
        let url = b.url().await;
        assert!(url.starts_with(&site.cb("?from=test&ticket=")), "{url}");
        assert_eq!(site.hits(), vec![query.clone()]);
        let pairs = query_pairs(&query);
        assert_eq!(pairs.len(), 2, "{query}");
        assert_eq!(pairs[0], ("from".into(), "test".into()));
        let ticket = param(&query, "ticket").unwrap();
        assert_eq!(ticket.len(), 32, "{ticket}");
        assert!(
            ticket
                .bytes()
                .all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f')),
            "{ticket}"
        );

        let outcome = client.fast_register(OA, &ticket).await;
        let FastRegisterOutcome::Registered(mp) = outcome else {
            panic!("expected a registration, got {outcome:?}");
        };
        assert_eq!(mp.is_wx_verify_succ, Some(true));
        assert_eq!(mp.is_link_succ, Some(true));
        assert!(mp.refresh_token_saved);
        assert!(client.refresh_token(&mp.appid).await.unwrap().is_some());
    })
    .await;
}

#[tokio::test]
async fn an_admin_picks_the_account_on_componentloginpage_and_the_auth_code_works_once() {
    with_browser("componentloginpage", |b| async move {
        let p = platform().await;
        let site = site().await;
        let client = p.client_for(C).await;
        let code = client.create_pre_auth_code().await.unwrap().pre_auth_code;
        let link = client
            .component_login_page_url(&code, &site.cb(""), AuthType::OfficialAccounts, None)
            .unwrap();
        site.set_link(&link);

        b.follow_site_link(&site).await;
        b.wait_css("ul.accounts").await;
        b.shot("accounts").await;
        let account =
            b.c.find(Locator::LinkText("Acme Official"))
                .await
                .expect("the account Acme Official is listed");
        account.click().await.unwrap();

        b.wait_css("form button.primary").await;
        b.shot("confirm").await;
        let text = b.page_text().await;
        assert!(text.contains("Acme Official"), "{text}");
        assert!(text.contains(OA), "{text}");
        // Every set is offered and ticked (this component holds set 27 itself).
        let boxes = b.c.find_all(Locator::Css("input[name=set]")).await.unwrap();
        assert!(!boxes.is_empty());
        for bx in &boxes {
            assert!(bx.is_selected().await.unwrap());
            assert!(bx.is_enabled().await.unwrap());
        }
        assert!(b
            .c
            .find(Locator::Css("input[name=set][value='27']"))
            .await
            .is_ok());
        assert!(site.hits().is_empty(), "/cb was called before confirming");

        b.click_button("Confirm authorisation").await;
        let query = b.callback_query().await;
        b.shot("callback").await;
        assert!(b.url().await.starts_with(&site.cb("?auth_code=")));
        assert_eq!(site.hits(), vec![query.clone()]);
        assert_eq!(
            param(&query, "expires_in").as_deref(),
            Some("3600"),
            "{query}"
        );
        let auth_code = param(&query, "auth_code").unwrap();

        let info = client.query_auth(&auth_code).await.unwrap();
        assert_eq!(info.authorizer_appid, OA);
        assert!(FuncInfo::ids(&info.func_info).contains(&27));
        assert!(client.refresh_token(OA).await.unwrap().is_some());

        // The same link again: the pre_auth_code is spent; the page refuses and stays.
        b.follow_site_link(&site).await;
        assert_eq!(b.refusal_code().await, "61009");
        b.shot("reused").await;
        assert!(b
            .url()
            .await
            .starts_with(&format!("{}/cgi-bin/componentloginpage?", p.base)));
        assert_eq!(site.hits().len(), 1, "a refusal reached /cb");
    })
    .await;
}

#[tokio::test]
async fn set_27_held_by_another_component_is_shown_disabled_with_the_holder() {
    with_browser("set27-exclusive", |b| async move {
        let p = platform().await;
        let site = site().await;
        let other = p
            .sandbox(
                "POST",
                "/components",
                Some(json!({"auth_domain": "localhost", "published": true, "permission_sets": [1, 27]})),
            )
            .await;
        let other = other["appid"].as_str().unwrap().to_string();
        let client = p.client_for(&other).await;
        let code = client.create_pre_auth_code().await.unwrap().pre_auth_code;
        let link = client
            .component_login_page_url(&code, &site.cb(""), AuthType::OfficialAccounts, Some(OA))
            .unwrap();
        site.set_link(&link);

        b.follow_site_link(&site).await;
        let off = b.wait_css("label.set.off").await;
        b.shot("confirm").await;
        let reason = off.text().await.unwrap();
        assert!(reason.contains("set 27"), "{reason}");
        assert!(reason.contains("unavailable"), "{reason}");
        assert!(reason.contains(C), "{reason}");
        let disabled = off.find(Locator::Css("input[type=checkbox]")).await.unwrap();
        assert!(!disabled.is_enabled().await.unwrap());
        assert!(!disabled.is_selected().await.unwrap());
        // Only set 1 can be granted.
        let offered = b.c.find_all(Locator::Css("input[name=set]")).await.unwrap();
        assert_eq!(offered.len(), 1);
        assert_eq!(offered[0].attr("value").await.unwrap().as_deref(), Some("1"));
        assert!(site.hits().is_empty(), "/cb was called before confirming");

        b.click_button("Confirm authorisation").await;
        let query = b.callback_query().await;
        b.shot("callback").await;
        let info = client
            .query_auth(&param(&query, "auth_code").unwrap())
            .await
            .unwrap();
        assert_eq!(FuncInfo::ids(&info.func_info), vec![1]);
    })
    .await;
}

#[tokio::test]
async fn refusal_pages_show_the_errcode_and_never_redirect() {
    with_browser("refusals", |b| async move {
        let p = platform().await;
        let site = site().await;
        let client = p.client_for(C).await;
        let on_platform = |url: String, path: &str| {
            assert!(
                url.starts_with(&format!("{}{path}?", p.base)),
                "left the platform: {url}"
            );
        };

        // A redirect on another host than the auth domain: the SDK refuses to build the link,
        // and the platform refuses a hand-made one with 61060.
        let foreign = format!("http://127.0.0.1:{}/cb", site.port);
        assert!(matches!(
            client.fast_register_auth_url(OA, true, &foreign),
            Err(SdkError::RedirectNotAllowed { .. })
        ));
        let mut link = url::Url::parse(&format!("{}/cgi-bin/fastregisterauth", p.base)).unwrap();
        link.query_pairs_mut()
            .append_pair("appid", OA)
            .append_pair("component_appid", C)
            .append_pair("copy_wx_verify", "1")
            .append_pair("redirect_uri", &foreign);
        site.set_link(link.as_str());
        b.follow_site_link(&site).await;
        assert_eq!(b.refusal_code().await, "61060");
        b.shot("foreign-redirect").await;
        on_platform(b.url().await, "/cgi-bin/fastregisterauth");
        assert!(b.c.find(Locator::Css("form")).await.is_err());

        // An OA that has not granted set 27: 61007.
        let without_27 = p.official_account("No Fast Registration", &[1, 15]).await;
        let link = client
            .fast_register_auth_url(&without_27, true, &site.cb(""))
            .unwrap();
        site.set_link(&link);
        b.follow_site_link(&site).await;
        assert_eq!(b.refusal_code().await, "61007");
        b.shot("no-set-27").await;
        on_platform(b.url().await, "/cgi-bin/fastregisterauth");

        // An expired pre_auth_code: 61010.
        let code = client.create_pre_auth_code().await.unwrap().pre_auth_code;
        p.sandbox("POST", "/clock/advance", Some(json!({"seconds": 1801})))
            .await;
        let link = client
            .component_login_page_url(&code, &site.cb(""), AuthType::OfficialAccounts, None)
            .unwrap();
        site.set_link(&link);
        b.follow_site_link(&site).await;
        assert_eq!(b.refusal_code().await, "61010");
        b.shot("expired-pre-auth-code").await;
        on_platform(b.url().await, "/cgi-bin/componentloginpage");

        assert!(
            site.hits().is_empty(),
            "a refusal reached /cb: {:?}",
            site.hits()
        );
    })
    .await;
}

#[tokio::test]
async fn a_nickname_with_markup_is_shown_as_text_on_fastregisterauth() {
    with_browser("escaping", |b| async move {
        let p = platform().await;
        let site = site().await;
        let client = p.client_for(C).await;
        let nickname = "<img src=x onerror=alert(1)>";
        let oa = p.official_account(nickname, &[1, 15, 27]).await;
        let link = client
            .fast_register_auth_url(&oa, false, &site.cb(""))
            .unwrap();
        site.set_link(&link);

        b.follow_site_link(&site).await;
        b.wait_css("form button.primary").await;
        b.shot("confirm").await;
        let shown = b.text("dl dd b").await;
        assert_eq!(shown, nickname);
        assert!(b.page_text().await.contains("copy_wx_verify=0"));
        let images = b.c.find_all(Locator::Css("img")).await.unwrap();
        assert!(images.is_empty(), "the nickname became markup");
        assert!(
            b.c.get_alert_text().await.is_err(),
            "a script ran from the nickname"
        );
        assert!(site.hits().is_empty());
    })
    .await;
}

#[tokio::test]
async fn the_console_asks_for_the_admin_token_then_shows_the_tables() {
    with_browser("console", |b| async move {
        let p = platform().await;
        b.c.goto(&format!("{}/", p.base)).await.unwrap();
        let token = b.wait_css("input[name=token]").await;
        b.shot("login-desktop").await;

        token.send_keys("not-the-token").await.unwrap();
        b.click_button("Open the console").await;
        let error = b.text("p.note.error").await;
        assert!(error.contains("not the admin token"), "{error}");
        b.shot("wrong-token").await;

        let token = b.wait_css("input[name=token]").await;
        token.send_keys(&p.admin).await.unwrap();
        b.click_button("Open the console").await;
        b.wait_css("table").await;
        b.shot("tables-desktop").await;
        let headings: Vec<String> = {
            let mut v = Vec::new();
            for h in b.c.find_all(Locator::Css("h2")).await.unwrap() {
                v.push(h.text().await.unwrap());
            }
            v
        };
        for want in [
            "Components (",
            "Entities (",
            "Official Accounts (",
            "Authorisations (",
            "Registrations",
            "Recent pushes",
        ] {
            assert!(
                headings.iter().any(|h| h.starts_with(want)),
                "no {want:?} in {headings:?}"
            );
        }
        let text = b.page_text().await;
        assert!(text.contains(C) && text.contains("Acme Official"), "{text}");
        assert!(!text.contains(&p.admin), "the console shows the admin token");

        b.c.set_window_size(390, 844).await.unwrap();
        b.shot("tables-phone").await;
        // No horizontal scrolling of the page itself at phone size (tables scroll in cards).
        let overflow = b
            .c
            .execute(
                "return document.documentElement.scrollWidth - document.documentElement.clientWidth",
                vec![],
            )
            .await
            .unwrap();
        assert_eq!(overflow, json!(0), "the page is wider than a phone");

        b.click_button("Log out").await;
        b.wait_css("input[name=token]").await;
        b.shot("logged-out-phone").await;
    })
    .await;
}
