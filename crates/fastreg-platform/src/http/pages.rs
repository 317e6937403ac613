//! The HTML pages: componentloginpage and fastregisterauth (where, on WeChat, an account's
//! admin confirms), and the console at `/`.
//!
//! They work without JavaScript and load nothing from elsewhere. maud escapes every value, so
//! user-controlled names cannot inject markup. Confirmation forms carry a token bound to the
//! rendered parameters (HMAC with a per-database secret), so a forged cross-site form, or one
//! whose hidden fields were edited, is refused. A refusal renders an error page with its
//! errcode and never redirects: an illegal `redirect_uri` must never become an open redirect.
//! Headers forbid framing (clickjacking a confirm button) and referrers (the code or ticket in
//! the URL must not leak to other sites).

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Extension, Router};
use fastreg_wire::{paths, ErrCode};
use maud::{html, Markup, PreEscaped, DOCTYPE};

use super::openapi::{self, optional, required, Method, Op, Param, Reply, RequestBody, Route};
use super::{parse_query, read_body, BodyRead, Rid};
use crate::domain::{AuthorizerKind, EntityType};
use crate::error::Error;
use crate::secrets;
use crate::service::pages::{self as svc, LoginRequest};
use crate::state::AppState;

/// How long a rendered confirmation form stays valid (system clock).
const FORM_MAX_AGE: i64 = 30 * 60;
/// The console's session cookie.
const SESSION_COOKIE: &str = "fastreg_console";

const LOGIN_PAGE_QUERY: &[Param] = &[
    required("component_appid", "The component asking to be authorised"),
    required("pre_auth_code", "From api_create_preauthcode"),
    required(
        "redirect_uri",
        "Where to send the admin back (URL-encoded); its host must be the component's auth_domain",
    ),
    optional(
        "auth_type",
        "1 Official Accounts, 2 Mini Programs, 3 both (default)",
    ),
    optional(
        "biz_appid",
        "Fixes the account instead of letting the admin choose",
    ),
    optional(
        "category_id_list",
        "Permission sets offered, separated by |",
    ),
];

const FAST_REGISTER_PAGE_QUERY: &[Param] = &[
    required("appid", "The Official Account"),
    required("component_appid", "The component"),
    required(
        "copy_wx_verify",
        "1 to reuse the Official Account's WeChat verification, 0 not to",
    ),
    required(
        "redirect_uri",
        "Where to send the admin back with the ticket (URL-encoded)",
    ),
];

/// The pages.
pub const ROUTES: &[Route] = &[
    Route {
        path: paths::COMPONENT_LOGIN_PAGE,
        methods: || get(login_page),
        ops: &[Op::new(
            Method::Get,
            "componentloginpage",
            "The account's admin picks the account and the permission sets to grant the component",
            Reply::Html,
        )
        .query(LOGIN_PAGE_QUERY)],
    },
    Route {
        path: "/cgi-bin/componentloginpage/confirm",
        methods: || post(login_confirm),
        ops: &[Op::new(
            Method::Post,
            "componentloginpage_confirm",
            "The admin confirms (the page's form): 302 to redirect_uri with auth_code and expires_in",
            Reply::Redirect,
        )
        .body(RequestBody::Form)],
    },
    Route {
        path: paths::FAST_REGISTER_AUTH,
        methods: || get(fast_register_page),
        ops: &[Op::new(
            Method::Get,
            "fastregisterauth",
            "The Official Account's admin confirms a fast registration for the component",
            Reply::Html,
        )
        .query(FAST_REGISTER_PAGE_QUERY)],
    },
    Route {
        path: "/cgi-bin/fastregisterauth/confirm",
        methods: || post(fast_register_confirm),
        ops: &[Op::new(
            Method::Post,
            "fastregisterauth_confirm",
            "The admin confirms (the page's form): 302 to redirect_uri with the ticket",
            Reply::Redirect,
        )
        .body(RequestBody::Form)],
    },
    Route {
        path: "/cgi-bin/cancelled",
        methods: || get(cancelled),
        ops: &[Op::new(
            Method::Get,
            "cancelled",
            "Where a cancelled confirmation lands",
            Reply::Html,
        )],
    },
    Route {
        path: "/",
        methods: || get(console),
        ops: &[Op::new(
            Method::Get,
            "console",
            "The sandbox console (log in with the admin token)",
            Reply::Html,
        )],
    },
    Route {
        path: "/console/login",
        methods: || post(console_login),
        ops: &[Op::new(
            Method::Post,
            "console_login",
            "Log in to the console with the admin token (form field `token`)",
            Reply::Redirect,
        )
        .body(RequestBody::Form)],
    },
    Route {
        path: "/console/logout",
        methods: || post(console_logout),
        ops: &[Op::new(
            Method::Post,
            "console_logout",
            "Log out of the console",
            Reply::Redirect,
        )],
    },
];

/// Routes of the pages.
pub fn router() -> Router<Arc<AppState>> {
    openapi::build(ROUTES)
}

/// `302 Found` to `url`, as WeChat answers a confirmation. (axum's `Redirect::to` is 303; a
/// 307 would make the browser repeat the POST at the component's URL.)
fn found(url: &str) -> Response {
    match HeaderValue::from_str(url) {
        Ok(v) => {
            let mut resp = StatusCode::FOUND.into_response();
            resp.headers_mut().insert(header::LOCATION, v);
            resp.headers_mut().insert(
                header::REFERRER_POLICY,
                HeaderValue::from_static("no-referrer"),
            );
            resp
        }
        Err(_) => page(
            StatusCode::BAD_REQUEST,
            layout(
                "Cannot continue",
                html! { div.card.error { h1 { "The redirect address cannot be used" } } },
            ),
        ),
    }
}

/// A page answer with the headers every page carries.
fn page(status: StatusCode, body: Markup) -> Response {
    let mut resp = (status, body).into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    resp
}

const STYLE: &str = r#"
*{box-sizing:border-box}body{margin:0;font:16px/1.5 system-ui,-apple-system,"Segoe UI",sans-serif;background:#f4f5f7;color:#1d2129}
main{max-width:44rem;margin:0 auto;padding:1rem}header{background:#07c160;color:#fff;padding:.75rem 1rem}
header b{font-size:1.1rem}.card{background:#fff;border-radius:8px;padding:1rem 1.25rem;margin:1rem 0;box-shadow:0 1px 2px rgba(0,0,0,.08)}
h1{font-size:1.35rem;margin:.25rem 0 1rem}h2{font-size:1.05rem;margin:0 0 .5rem}dl{display:grid;grid-template-columns:max-content 1fr;gap:.25rem 1rem;margin:0}
dt{color:#6b7280}dd{margin:0;overflow-wrap:anywhere}.note{background:#fffbe6;border:1px solid #f5d76e;border-radius:8px;padding:.75rem 1rem}
.error{background:#fff1f0;border:1px solid #ffa39e}.code{font-family:ui-monospace,monospace;font-size:1.6rem;font-weight:600}
button,.button{font:inherit;border:0;border-radius:6px;padding:.6rem 1.2rem;cursor:pointer;text-decoration:none;display:inline-block}
.primary{background:#07c160;color:#fff}.secondary{background:#e5e7eb;color:#1d2129}.actions{display:flex;gap:.75rem;flex-wrap:wrap;margin-top:1rem}
label.set{display:block;padding:.35rem 0}label.set.off{color:#9ca3af}small{color:#6b7280}ul.accounts{list-style:none;padding:0;margin:0}
ul.accounts li{padding:.5rem 0;border-bottom:1px solid #eee}table{border-collapse:collapse;width:100%;font-size:.9rem}
th,td{text-align:left;padding:.35rem .5rem;border-bottom:1px solid #eee;vertical-align:top}
td{overflow-wrap:anywhere}th{white-space:nowrap}.scroll td{white-space:nowrap}
.scroll{overflow-x:auto}input[type=password]{font:inherit;padding:.5rem;width:100%;max-width:24rem;border:1px solid #d1d5db;border-radius:6px}
@media (max-width:600px){dl{grid-template-columns:1fr}dt{margin-top:.4rem}}
"#;

fn layout(title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · fastreg" }
                style { (PreEscaped(STYLE)) }
            }
            body {
                header { b { "fastreg" } " · WeChat fast-registration sandbox" }
                main { (body) }
            }
        }
    }
}

/// A refusal, rendered as a page that shows the errcode and never redirects.
struct Refusal {
    code: ErrCode,
    detail: Option<String>,
    status: StatusCode,
    rid: String,
}

impl Refusal {
    fn new(e: Error, rid: &Rid) -> Refusal {
        match e {
            Error::Wx {
                code,
                detail,
                status,
            } => Refusal {
                code,
                detail,
                status: StatusCode::from_u16(status)
                    .ok()
                    .filter(|s| s.is_client_error())
                    .unwrap_or(StatusCode::BAD_REQUEST),
                rid: rid.0.clone(),
            },
            Error::Internal(e) => {
                tracing::error!(error = format!("{e:#}"), "internal error on a page");
                Refusal {
                    code: ErrCode::SystemError,
                    detail: None,
                    status: StatusCode::INTERNAL_SERVER_ERROR,
                    rid: rid.0.clone(),
                }
            }
        }
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        tracing::info!(
            errcode = self.code.code(),
            detail = self.detail.as_deref().unwrap_or(""),
            "page refused"
        );
        let body = layout(
            "Cannot continue",
            html! {
                div.card.error {
                    h1 { "This request cannot continue" }
                    p.code { (self.code.code()) }
                    p { b { (self.code.errmsg()) } }
                    @if let Some(d) = &self.detail { p { (d) } }
                    // 47001's generic meaning ("the body is not valid JSON…") would mislead on a
                    // page; its detail says what is wrong.
                    @if let Some(info) = self.code.info().filter(|_| self.detail.is_none() || self.code != ErrCode::DataFormatError) {
                        @if self.detail.is_none() { p { (info.meaning) } }
                        p { small { "What to do: " (info.remedy) } }
                    }
                    p { small { "Nothing was sent to the redirect address. rid: " (self.rid) } }
                }
            },
        );
        let mut resp = page(self.status, body);
        resp.extensions_mut().insert(super::PageErrcode(self.code));
        resp
    }
}

fn ticked_sets(form: &[(String, String)]) -> Result<Vec<i64>, Error> {
    form.iter()
        .filter(|(k, _)| k == "set")
        .map(|(_, v)| {
            v.parse::<i64>().map_err(|_| {
                Error::sandbox(
                    400,
                    ErrCode::DataFormatError,
                    "a permission set must be a number",
                )
            })
        })
        .collect()
}

/// A form body as pairs (repeated names kept), and the first value of each name.
async fn form(req: Request, limit: usize) -> (Vec<(String, String)>, HashMap<String, String>) {
    let bytes = match read_body(req.into_body(), limit).await {
        BodyRead::Bytes(b) => b,
        _ => Default::default(),
    };
    let pairs: Vec<(String, String)> = form_urlencoded::parse(&bytes)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let mut first = HashMap::new();
    for (k, v) in &pairs {
        first.entry(k.clone()).or_insert_with(|| v.clone());
    }
    (pairs, first)
}

fn now_secs() -> i64 {
    crate::clock::system_now()
}

fn entity_type_label(t: EntityType) -> &'static str {
    match t {
        EntityType::Enterprise => "enterprise (企业)",
        EntityType::Media => "media (媒体)",
        EntityType::Government => "government (政府)",
        EntityType::OtherOrg => "other organisation (其他组织)",
        EntityType::Personal => "personal (个人)",
    }
}

fn acting_note(who: &str) -> Markup {
    html! {
        p.note {
            "On WeChat, " (who) " scans a QR code here and confirms on their phone. "
            "In this sandbox you act as that administrator: confirming below does exactly what "
            "their confirmation does."
        }
    }
}

fn hidden(pairs: &[(&'static str, String)]) -> Markup {
    html! { @for (k, v) in pairs { input type="hidden" name=(k) value=(v); } }
}

async fn login_page(
    State(app): State<Arc<AppState>>,
    Extension(rid): Extension<Rid>,
    req: Request,
) -> Response {
    let q = parse_query(req.uri().query());
    let result = async {
        let parsed = LoginRequest::parse(&q)?;
        let now = app.clock.now();
        let r = parsed.clone();
        let shown = app
            .store
            .read(move |tx| svc::login_page(tx, &r, now))
            .await?;
        Ok::<_, Error>((parsed, shown))
    }
    .await;
    let (req, shown) = match result {
        Ok(v) => v,
        Err(e) => return Refusal::new(e, &rid).into_response(),
    };
    let pairs = req.pairs();
    let body = match &shown.account {
        None => html! {
            div.card {
                h1 { "Authorise a third-party platform" }
                p { "Component " code { (shown.component.appid) } " (" (shown.component.auth_domain) ") asks an account to authorise it." }
                (acting_note("the account's administrator"))
                h2 { "Choose the account" }
                @if shown.candidates.is_empty() {
                    p { "No account of the kind this link asks for (auth_type " (req.auth_type) ") exists." }
                }
                ul.accounts {
                    @for a in &shown.candidates {
                        @let link = account_link(&pairs, &a.appid);
                        li {
                            a href=(link) { b { (a.nickname) } }
                            br;
                            small { (kind_label(a.kind)) " · " code { (a.appid) } " · " (a.principal_name) }
                        }
                    }
                }
            }
        },
        Some(account) => {
            let token =
                secrets::form_token(&app.page_secret, "componentloginpage", &pairs, now_secs());
            html! {
                div.card {
                    h1 { "Authorise a third-party platform" }
                    (acting_note("the administrator of this account"))
                    dl {
                        dt { "Component" } dd { code { (shown.component.appid) } }
                        dt { "Its domain" } dd { (shown.component.auth_domain) }
                        dt { "Account" } dd { b { (account.nickname) } " (" (kind_label(account.kind)) ")" }
                        dt { "Appid" } dd { code { (account.appid) } }
                        dt { "Entity" } dd { (account.principal_name) }
                    }
                }
                form.card method="post" action=(format!("{}/confirm", paths::COMPONENT_LOGIN_PAGE)) {
                    h2 { "Permission sets to grant" }
                    @for s in &shown.sets {
                        @if s.available {
                            label.set { input type="checkbox" name="set" value=(s.id) checked; " " (set_label(s.id)) }
                        } @else {
                            label.set.off {
                                input type="checkbox" disabled; " " (set_label(s.id)) " — unavailable"
                                @if let Some(r) = &s.reason { br; small { (r) } }
                            }
                        }
                    }
                    (hidden(&pairs))
                    input type="hidden" name="csrf" value=(token);
                    div.actions {
                        button.primary type="submit" { "Confirm authorisation" }
                        a.button.secondary href="/cgi-bin/cancelled" { "Cancel" }
                    }
                }
            }
        }
    };
    page(StatusCode::OK, layout("Authorise", body))
}

/// componentloginpage's link with `biz_appid` fixed to one account.
fn account_link(pairs: &[(&'static str, String)], appid: &str) -> String {
    let query = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs.iter().map(|(k, v)| (*k, v.as_str())))
        .append_pair("biz_appid", appid)
        .finish();
    format!("{}?{query}", paths::COMPONENT_LOGIN_PAGE)
}

fn kind_label(k: AuthorizerKind) -> &'static str {
    match k {
        AuthorizerKind::OfficialAccount => "Official Account",
        AuthorizerKind::MiniProgram => "Mini Program",
    }
}

fn set_label(id: i64) -> String {
    let name = match id {
        1 => "message management",
        2 => "user management",
        3 => "account services",
        15 => "custom menu",
        17 => "Mini Program account management",
        18 => "Mini Program development and data analysis",
        27 => "fast registration of Mini Programs (快速注册小程序)",
        30 => "Mini Program basic information",
        31 => "Mini Program verification",
        _ => "",
    };
    if name.is_empty() {
        format!("set {id}")
    } else {
        format!("set {id}: {name}")
    }
}

/// Checks a confirmation form's token against the parameters it carries.
fn check_form(
    app: &AppState,
    purpose: &str,
    pairs: &[(&str, String)],
    first: &HashMap<String, String>,
) -> Result<(), Error> {
    let token = first.get("csrf").map(String::as_str).unwrap_or_default();
    if secrets::verify_form_token(
        &app.page_secret,
        purpose,
        pairs,
        token,
        now_secs(),
        FORM_MAX_AGE,
    ) {
        Ok(())
    } else {
        Err(Error::sandbox(
            403,
            ErrCode::DataFormatError,
            "this confirmation does not come from the page as it was shown (forged, altered or older than 30 minutes); open the link again",
        ))
    }
}

async fn login_confirm(
    State(app): State<Arc<AppState>>,
    Extension(rid): Extension<Rid>,
    req: Request,
) -> Response {
    let (all, first) = form(req, app.settings.max_body_bytes).await;
    let result = async {
        let parsed = LoginRequest::parse(&first)?;
        check_form(&app, "componentloginpage", &parsed.pairs(), &first)?;
        let ticked = ticked_sets(&all)?;
        let (now, lifetimes) = (app.clock.now(), app.settings.lifetimes.clone());
        let (url, _) = app
            .store
            .write(move |tx| svc::confirm_login(tx, &parsed, &ticked, now, &lifetimes))
            .await?;
        app.push_wake.notify_one();
        Ok::<_, Error>(url)
    }
    .await;
    match result {
        Ok(url) => found(&url),
        Err(e) => Refusal::new(e, &rid).into_response(),
    }
}

fn fast_register_pairs(r: &crate::service::sandbox::ConfirmationIn) -> Vec<(&'static str, String)> {
    vec![
        ("appid", r.appid.clone()),
        ("component_appid", r.component_appid.clone()),
        (
            "copy_wx_verify",
            if r.copy_wx_verify { "1" } else { "0" }.to_string(),
        ),
        ("redirect_uri", r.redirect_uri.clone()),
    ]
}

async fn fast_register_page(
    State(app): State<Arc<AppState>>,
    Extension(rid): Extension<Rid>,
    req: Request,
) -> Response {
    let q = parse_query(req.uri().query());
    let result = async {
        let parsed = svc::fast_register_request(&q)?;
        let r = parsed.clone();
        let shown = app
            .store
            .read(move |tx| svc::fast_register_page(tx, &r))
            .await?;
        Ok::<_, Error>((parsed, shown))
    }
    .await;
    let (req, shown) = match result {
        Ok(v) => v,
        Err(e) => return Refusal::new(e, &rid).into_response(),
    };
    let pairs = fast_register_pairs(&req);
    let token = secrets::form_token(&app.page_secret, "fastregisterauth", &pairs, now_secs());
    let oa = &shown.official_account;
    let body = html! {
        div.card {
            h1 { "Register a Mini Program with this Official Account's entity" }
            (acting_note("the Official Account's administrator"))
            dl {
                dt { "Official Account" } dd { b { (oa.nickname) } }
                dt { "Appid" } dd { code { (oa.appid) } }
                dt { "Verified" } dd { @if oa.verified { "yes (已认证)" } @else { "no" } }
                @if let Some(e) = &shown.entity {
                    dt { "Entity" } dd { (e.name) }
                    dt { "Entity type" } dd { (entity_type_label(e.entity_type)) }
                }
                dt { "Asked by component" } dd { code { (shown.component.appid) } " (" (shown.component.auth_domain) ")" }
                dt { "Reuse verification" } dd {
                    @if req.copy_wx_verify { "yes: the Mini Program reuses the OA's WeChat verification (copy_wx_verify=1)" }
                    @else { "no: the Mini Program starts unverified (copy_wx_verify=0)" }
                }
            }
        }
        form.card method="post" action=(format!("{}/confirm", paths::FAST_REGISTER_AUTH)) {
            p { "Confirming lets the component create a Mini Program owned by this entity, linked to this Official Account and authorised to the component." }
            (hidden(&pairs))
            input type="hidden" name="csrf" value=(token);
            div.actions {
                button.primary type="submit" { "Confirm registration" }
                a.button.secondary href="/cgi-bin/cancelled" { "Cancel" }
            }
        }
    };
    page(StatusCode::OK, layout("Confirm fast registration", body))
}

async fn fast_register_confirm(
    State(app): State<Arc<AppState>>,
    Extension(rid): Extension<Rid>,
    req: Request,
) -> Response {
    let (_, first) = form(req, app.settings.max_body_bytes).await;
    let result = async {
        let parsed = svc::fast_register_request(&first)?;
        check_form(
            &app,
            "fastregisterauth",
            &fast_register_pairs(&parsed),
            &first,
        )?;
        let (now, lifetimes) = (app.clock.now(), app.settings.lifetimes.clone());
        let out = app
            .store
            .write(move |tx| {
                crate::service::sandbox::confirm_fast_registration(tx, parsed, now, &lifetimes)
            })
            .await?;
        Ok::<_, Error>(out.redirect_url)
    }
    .await;
    match result {
        Ok(url) => found(&url),
        Err(e) => Refusal::new(e, &rid).into_response(),
    }
}

/// The page Cancel leads to: nothing happens, nothing is sent anywhere.
pub async fn cancelled() -> Response {
    page(
        StatusCode::OK,
        layout(
            "Cancelled",
            html! { div.card { h1 { "Cancelled" } p { "Nothing was authorised and nothing was sent to the component." } } },
        ),
    )
}

// ---------------------------------------------------------------- console

fn session_value(app: &AppState) -> String {
    secrets::form_token(
        &app.page_secret,
        "console-session",
        &[("admin", app.admin_token.clone())],
        0,
    )
}

fn has_session(app: &AppState, headers: &HeaderMap) -> bool {
    let want = session_value(app);
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .any(|(k, v)| k == SESSION_COOKIE && secrets::ct_eq(v, &want))
}

fn login_form(failed: bool) -> Markup {
    layout(
        "Console",
        html! {
            form.card method="post" action="/console/login" {
                h1 { "Console" }
                @if failed { p.note.error { "That is not the admin token." } }
                p { "Enter the admin token that " code { "fastreg serve" } " printed (or that you configured)." }
                p {
                    label for="token" { "Admin token" }
                    br;
                    input #token type="password" name="token" autocomplete="current-password" autofocus;
                }
                div.actions { button.primary type="submit" { "Open the console" } }
            }
        },
    )
}

async fn console_login(State(app): State<Arc<AppState>>, req: Request) -> Response {
    let (_, first) = form(req, 4096).await;
    let token = first.get("token").map(String::as_str).unwrap_or_default();
    if !secrets::ct_eq(token, &app.admin_token) {
        return page(StatusCode::UNAUTHORIZED, login_form(true));
    }
    let mut resp = Redirect::to("/").into_response();
    let cookie = format!(
        "{SESSION_COOKIE}={}; Path=/; HttpOnly; SameSite=Strict; Max-Age=86400",
        session_value(&app)
    );
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        resp.headers_mut().insert(header::SET_COOKIE, v);
    }
    resp
}

async fn console_logout() -> Response {
    let mut resp = Redirect::to("/").into_response();
    resp.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_static("fastreg_console=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0"),
    );
    resp
}

/// A database URL with any password masked: the console must not show credentials.
fn redacted_db_url(url: &str) -> String {
    crate::redact::db_url(url)
}

fn time(t: i64) -> String {
    chrono::DateTime::from_timestamp(t, 0)
        .map(|d| {
            d.with_timezone(&chrono_tz::Asia::Shanghai)
                .format("%Y-%m-%d %H:%M:%S")
                .to_string()
        })
        .unwrap_or_else(|| t.to_string())
}

async fn console(
    State(app): State<Arc<AppState>>,
    Extension(rid): Extension<Rid>,
    headers: HeaderMap,
) -> Response {
    if !has_session(&app, &headers) {
        return page(StatusCode::OK, login_form(false));
    }
    let data = app
        .store
        .read(|tx| {
            Ok((
                tx.components()?,
                tx.entities()?,
                tx.official_accounts()?,
                tx.all_authorizations()?,
                tx.registrations(None, 50)?,
                tx.pushes(None, 20)?,
            ))
        })
        .await;
    let (components, entities, oas, auths, regs, pushes) = match data {
        Ok(d) => d,
        Err(e) => return Refusal::new(e, &rid).into_response(),
    };
    let now = app.clock.now();
    let body = html! {
        div.card {
            h1 { "Console" }
            dl {
                dt { "Sandbox clock" } dd { (time(now)) " Asia/Shanghai (offset " (app.clock.offset()) " s)" }
                dt { "Database" } dd { (redacted_db_url(&app.settings.db)) }
            }
            form method="post" action="/console/logout" { div.actions { button.secondary type="submit" { "Log out" } } }
        }
        div.card.scroll {
            h2 { "Components (" (components.len()) ")" }
            table { tr { th { "appid" } th { "auth domain" } th { "published" } th { "sets" } th { "event URL" } }
                @for c in &components { tr {
                    td { code { (c.appid) } } td { (c.auth_domain) } td { @if c.published { "yes" } @else { "no" } }
                    td { (format!("{:?}", c.permission_sets)) } td { (c.event_url.as_deref().unwrap_or("—")) }
                } }
            }
        }
        div.card.scroll {
            h2 { "Entities (" (entities.len()) ")" }
            table { tr { th { "id" } th { "name" } th { "type" } th { "flags" } }
                @for e in &entities { tr {
                    td { (e.id) } td { (e.name) } td { (entity_type_label(e.entity_type)) }
                    td { @if e.overseas { "overseas " } @if e.blacklisted { "blacklisted " } @if let Some(c) = e.mini_program_cap { "cap " (c) } }
                } }
            }
        }
        div.card.scroll {
            h2 { "Official Accounts (" (oas.len()) ")" }
            table { tr { th { "appid" } th { "nickname" } th { "entity" } th { "verified" } }
                @for o in &oas { tr {
                    td { code { (o.appid) } } td { (o.nickname) } td { (o.entity_id) }
                    td { @if o.verified { "yes" } @else { "no" } @if o.pending_registration { " · pending registration" } }
                } }
            }
        }
        div.card.scroll {
            h2 { "Authorisations (" (auths.len()) ")" }
            table { tr { th { "component" } th { "account" } th { "sets" } th { "since" } }
                @for a in &auths { tr {
                    td { code { (a.component_appid) } } td { code { (a.authorizer_appid) } " " small { (kind_label(a.authorizer_kind)) } }
                    td { (format!("{:?}", a.permission_sets)) @if a.revoked { " (revoked)" } } td { (time(a.auth_time)) }
                } }
            }
        }
        div.card.scroll {
            h2 { "Registrations, newest first" }
            @if regs.is_empty() { p { small { "None yet." } } }
            table { tr { th { "when" } th { "OA" } th { "Mini Program" } th { "status" } }
                @for r in &regs { tr {
                    td { (time(r.created_at)) } td { code { (r.oa_appid) } } td { code { (r.mp_appid.as_deref().unwrap_or("—")) } }
                    td { (r.status.as_str()) }
                } }
            }
        }
        div.card.scroll {
            h2 { "Recent pushes" }
            @if pushes.is_empty() { p { small { "None yet (components without an event URL get no pushes)." } } }
            table { tr { th { "component" } th { "InfoType" } th { "status" } th { "attempts" } th { "last" } }
                @for p in &pushes { tr {
                    td { code { (p.component_appid) } } td { (p.info_type) } td { (p.status.as_str()) } td { (p.attempts) }
                    td { (p.last_status.as_deref().unwrap_or("—")) }
                } }
            }
        }
    };
    page(StatusCode::OK, layout("Console", body))
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_database_password_is_masked_on_the_console() {
        assert_eq!(
            super::redacted_db_url("postgres://app:s3cret@db.internal:5432/fastreg"),
            "postgres://app:***@db.internal:5432/fastreg"
        );
        assert_eq!(
            super::redacted_db_url("sqlite://fastreg.db"),
            "sqlite://fastreg.db"
        );
    }
}
