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

use axum::extract::Request;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use fastreg_wire::{paths, ErrCode};
use maud::html;

use super::body::{read_body, BodyRead};
use super::envelope::Rid;
use super::extract::{parse_query, Here};
use super::route::{optional, required, Method, Op, Param, ParamSchema, Reply, RequestBody, Route};
use crate::error::Error;
use crate::secrets;
use crate::service::pages::{self as svc, LoginRequest};
use crate::service::sandbox::PERMISSION_SET_MAX;
use crate::state::AppState;

mod console;
mod render;

use console::{console, console_login, console_logout};
use render::{
    acting_note, entity_type_label, found, hidden, kind_label, layout, page, set_label, Refusal,
};

/// How long a rendered confirmation form stays valid (system clock).
const FORM_MAX_AGE: i64 = 30 * 60;

const LOGIN_PAGE_QUERY: &[Param] = &[
    required("component_appid", "The component asking to be authorised"),
    required("pre_auth_code", "From api_create_preauthcode"),
    required(
        "redirect_uri",
        "Where to send the admin back (URL-encoded); its host must be the component's auth_domain",
    ),
    optional(
        "auth_type",
        "1 Official Accounts, 2 Mini Programs, 3 both (the default: absent, empty or 0 is 3), 4, 5, 6, 8 other kinds",
    )
    .schema(ParamSchema::IntegerOf(svc::AUTH_TYPES)),
    optional(
        "biz_appid",
        "Fixes the account instead of letting the admin choose",
    ),
    optional(
        "category_id_list",
        "Permission sets offered, separated by |",
    )
    .schema(ParamSchema::Pattern(svc::CATEGORY_ID_LIST_PATTERN)),
];

/// What the confirm button of componentloginpage posts: the link's parameters, the sets
/// ticked and the form's token.
const LOGIN_CONFIRM_FORM: &[Param] = &[
    LOGIN_PAGE_QUERY[0],
    LOGIN_PAGE_QUERY[1],
    LOGIN_PAGE_QUERY[2],
    LOGIN_PAGE_QUERY[3],
    LOGIN_PAGE_QUERY[4],
    LOGIN_PAGE_QUERY[5],
    optional("set", "A permission set ticked (repeated: set=3&set=27)").schema(
        ParamSchema::Integers {
            min: 1,
            max: PERMISSION_SET_MAX,
        },
    ),
    CSRF,
];

/// The token a confirmation form carries (bound to the parameters the page showed).
const CSRF: Param = required(
    "csrf",
    "The token the page put in its form: bound to the parameters shown, valid 30 minutes",
);

const FAST_REGISTER_PAGE_QUERY: &[Param] = &[
    required("appid", "The Official Account"),
    required("component_appid", "The component"),
    required(
        "copy_wx_verify",
        "1 to reuse the Official Account's WeChat verification, 0 not to",
    )
    .schema(ParamSchema::IntegerOf(&[0, 1])),
    required(
        "redirect_uri",
        "Where to send the admin back with the ticket (URL-encoded)",
    ),
];

/// What the confirm button of fastregisterauth posts: the link's parameters and the form's
/// token.
const FAST_REGISTER_CONFIRM_FORM: &[Param] = &[
    FAST_REGISTER_PAGE_QUERY[0],
    FAST_REGISTER_PAGE_QUERY[1],
    FAST_REGISTER_PAGE_QUERY[2],
    FAST_REGISTER_PAGE_QUERY[3],
    CSRF,
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
    // WeChat's H5 authorisation links (opened inside WeChat on a phone) reach the same page;
    // wechatpy's get_pre_auth_url_m, EasyWeChat 5 and PowerWeChat build the first, WxJava the
    // second.
    Route {
        path: paths::BIND_COMPONENT_PAGE,
        methods: || get(login_page),
        ops: &[Op::new(
            Method::Get,
            "bindcomponent",
            "The H5 (mobile) authorisation link, older path: the same page and parameters as componentloginpage (`action=bindcomponent&no_scan=1` accepted, not needed)",
            Reply::Html,
        )
        .query(LOGIN_PAGE_QUERY)],
    },
    Route {
        path: paths::WXAOPEN_BIND_COMPONENT_PAGE,
        methods: || get(login_page),
        ops: &[Op::new(
            Method::Get,
            "wxaopen_bindcomponent",
            "The H5 (mobile) authorisation link, newer path: the same page and parameters as componentloginpage (`action=bindcomponent&no_scan=1` accepted, not needed)",
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
        .body(RequestBody::Form(LOGIN_CONFIRM_FORM))],
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
        .body(RequestBody::Form(FAST_REGISTER_CONFIRM_FORM))],
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
        .body(RequestBody::Form(&[required("token", "The admin token")]))],
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

fn ticked_sets(form: &[(String, String)]) -> Result<Vec<i64>, Error> {
    form.iter()
        .filter(|(k, _)| k == "set")
        .map(|(_, v)| {
            crate::input::integer(v).ok_or_else(|| {
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
pub(super) async fn form(
    req: Request,
    limit: usize,
) -> (Vec<(String, String)>, HashMap<String, String>) {
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

async fn login_page(Here { app, w }: Here, rid: Rid, req: Request) -> Response {
    let q = parse_query(req.uri().query());
    let result = async {
        let parsed = LoginRequest::parse(&q)?;
        let now = w.clock.now();
        let r = parsed.clone();
        let shown = w.store.read(move |tx| svc::login_page(tx, &r, now)).await?;
        Ok::<_, Error>((parsed, shown))
    }
    .await;
    let (req, shown) = match result {
        Ok(v) => v,
        Err(e) => return Refusal::new(e, rid).into_response(),
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
                        @let link = account_link(&w.base_path, &pairs, &a.appid);
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
                form.card method="post" action=(format!("{}{}/confirm", w.base_path, paths::COMPONENT_LOGIN_PAGE)) {
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
                        a.button.secondary href=(format!("{}/cgi-bin/cancelled", w.base_path)) { "Cancel" }
                    }
                }
            }
        }
    };
    page(StatusCode::OK, layout("Authorise", body))
}

/// componentloginpage's link with `biz_appid` fixed to one account.
fn account_link(base: &str, pairs: &[(&'static str, String)], appid: &str) -> String {
    let query = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs.iter().map(|(k, v)| (*k, v.as_str())))
        .append_pair("biz_appid", appid)
        .finish();
    format!("{base}{}?{query}", paths::COMPONENT_LOGIN_PAGE)
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

async fn login_confirm(Here { app, w }: Here, rid: Rid, req: Request) -> Response {
    let (all, first) = form(req, app.settings.max_body_bytes).await;
    let result = async {
        let parsed = LoginRequest::parse(&first)?;
        check_form(&app, "componentloginpage", &parsed.pairs(), &first)?;
        let ticked = ticked_sets(&all)?;
        let (now, lifetimes) = (w.clock.now(), app.settings.lifetimes.clone());
        let (url, _) = w
            .store
            .write(move |tx| svc::confirm_login(tx, &parsed, &ticked, now, &lifetimes))
            .await?;
        app.push_wake.notify_one();
        Ok::<_, Error>(url)
    }
    .await;
    match result {
        Ok(url) => found(&url),
        Err(e) => Refusal::new(e, rid).into_response(),
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

async fn fast_register_page(Here { app, w }: Here, rid: Rid, req: Request) -> Response {
    let q = parse_query(req.uri().query());
    let result = async {
        let parsed = svc::fast_register_request(&q)?;
        let r = parsed.clone();
        let shown = w
            .store
            .read(move |tx| svc::fast_register_page(tx, &r))
            .await?;
        Ok::<_, Error>((parsed, shown))
    }
    .await;
    let (req, shown) = match result {
        Ok(v) => v,
        Err(e) => return Refusal::new(e, rid).into_response(),
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
        form.card method="post" action=(format!("{}{}/confirm", w.base_path, paths::FAST_REGISTER_AUTH)) {
            p { "Confirming lets the component create a Mini Program owned by this entity, linked to this Official Account and authorised to the component." }
            (hidden(&pairs))
            input type="hidden" name="csrf" value=(token);
            div.actions {
                button.primary type="submit" { "Confirm registration" }
                a.button.secondary href=(format!("{}/cgi-bin/cancelled", w.base_path)) { "Cancel" }
            }
        }
    };
    page(StatusCode::OK, layout("Confirm fast registration", body))
}

async fn fast_register_confirm(Here { app, w }: Here, rid: Rid, req: Request) -> Response {
    let (_, first) = form(req, app.settings.max_body_bytes).await;
    let result = async {
        let parsed = svc::fast_register_request(&first)?;
        check_form(
            &app,
            "fastregisterauth",
            &fast_register_pairs(&parsed),
            &first,
        )?;
        let (now, lifetimes) = (w.clock.now(), app.settings.lifetimes.clone());
        let out = w
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
        Err(e) => Refusal::new(e, rid).into_response(),
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
