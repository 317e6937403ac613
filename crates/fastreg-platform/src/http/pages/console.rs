//! The sandbox console at a world's base URL (`/` for the default world, `/w/{id}` for the
//! others): a login (a session cookie keyed by the page secret) and one page showing the
//! world — which one it is, its clock, its objects, recent registrations and pushes.
//!
//! Two kinds of session: the server's admin token opens every world's console and shows the
//! world switcher (every world, linking to each one's console); a world's own admin token
//! opens that world's console only (its cookie is scoped to the world's path and never
//! admits another world), without the list of other worlds. Every form and redirect is
//! relative to the world's base path, so logging in and out stays in the world.

use axum::extract::Request;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{html, Markup};

use super::form;
use super::render::{entity_type_label, kind_label, layout, page, time, Refusal};
use crate::http::envelope::Rid;
use crate::http::extract::Here;
use crate::secrets;
use crate::state::{AppState, World};

/// The console's session cookie.
const SESSION_COOKIE: &str = "fastreg_console";

/// How many worlds the switcher lists (the rest are counted; `fastreg world list` shows all).
const SWITCHER_MAX: usize = 200;

/// Who a console session belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Session {
    /// The server's admin: every world, and the switcher.
    Server,
    /// The admin of the request's world only.
    World,
}

/// The server admin's session value: valid in every world.
fn server_session(app: &AppState) -> String {
    secrets::form_token(
        &app.page_secret,
        "console-session",
        &[("admin", app.admin_token.clone())],
        0,
    )
}

/// A world admin's session value: valid in that world only (a world made later with the same
/// id, after this one was deleted, has another creation time).
fn world_session(app: &AppState, w: &World) -> String {
    secrets::form_token(
        &app.page_secret,
        "console-world-session",
        &[
            ("admin", app.admin_token.clone()),
            ("world", w.id.clone()),
            ("created", w.created_at.to_string()),
        ],
        0,
    )
}

fn session(app: &AppState, w: &World, headers: &HeaderMap) -> Option<Session> {
    let server = server_session(app);
    let world = (!w.is_default()).then(|| world_session(app, w));
    let mut found = None;
    for (k, v) in headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
    {
        if k != SESSION_COOKIE {
            continue;
        }
        if secrets::ct_eq(v, &server) {
            return Some(Session::Server);
        }
        if world.as_deref().is_some_and(|want| secrets::ct_eq(v, want)) {
            found = Some(Session::World);
        }
    }
    found
}

/// The console's address in world `w`: `/` or `/w/{id}`.
fn home(w: &World) -> String {
    if w.base_path.is_empty() {
        "/".to_string()
    } else {
        w.base_path.clone()
    }
}

/// The path a session cookie is scoped to: the server's everywhere, a world's to its base path.
fn cookie_path(w: &World, kind: Session) -> &str {
    match kind {
        Session::Server => "/",
        Session::World => &w.base_path,
    }
}

fn login_form(w: &World, failed: bool) -> Markup {
    layout(
        "Console",
        html! {
            form.card method="post" action={ (w.base_path) "/console/login" } {
                h1 { "Console" }
                @if !w.is_default() {
                    p { "World " code { (w.id) } @if w.name != w.id { " · " (w.name) } }
                }
                @if failed { p.note.error { "That is not the admin token." } }
                @if w.is_default() {
                    p { "Enter the admin token that " code { "fastreg serve" } " printed (or that you configured)." }
                } @else {
                    p { "Enter the server's admin token, or this world's (the one its creation answered)." }
                }
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

pub(super) async fn console_login(Here { app, w }: Here, req: Request) -> Response {
    let (_, first) = form(req, 4096).await;
    let token = first.get("token").map(String::as_str).unwrap_or_default();
    // The server's token opens every world; a world's own token only that world's console.
    let (kind, value) = if secrets::ct_eq(token, &app.admin_token) {
        (Session::Server, server_session(&app))
    } else if w.admits(token) {
        (Session::World, world_session(&app, &w))
    } else {
        return page(StatusCode::UNAUTHORIZED, login_form(&w, true));
    };
    let mut resp = Redirect::to(&home(&w)).into_response();
    let cookie = format!(
        "{SESSION_COOKIE}={value}; Path={}; HttpOnly; SameSite=Strict; Max-Age=86400",
        cookie_path(&w, kind)
    );
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        resp.headers_mut().insert(header::SET_COOKIE, v);
    }
    resp
}

pub(super) async fn console_logout(Here { w, .. }: Here) -> Response {
    let mut resp = Redirect::to(&home(&w)).into_response();
    // Both sessions a browser may hold here: the server's and this world's.
    let mut paths = vec!["/"];
    if !w.is_default() {
        paths.push(&w.base_path);
    }
    for path in paths {
        let cookie =
            format!("{SESSION_COOKIE}=; Path={path}; HttpOnly; SameSite=Strict; Max-Age=0");
        if let Ok(v) = HeaderValue::from_str(&cookie) {
            resp.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    resp
}

/// Which world this is: id, name, clock.
fn world_indicator(w: &World) -> Markup {
    let now = w.clock.now();
    html! {
        dt { "World" }
        dd #world {
            code { (w.id) }
            @if w.name != w.id { " · " (w.name) }
            @if w.is_default() { " " small { "(the default world)" } }
        }
        dt { "Sandbox clock" }
        dd {
            (time(now)) " Asia/Shanghai"
            @if w.frozen() { " · frozen (moves only when advanced)" }
            @else { " (offset " (w.clock.offset()) " s)" }
        }
    }
}

/// The world switcher: every world (up to [`SWITCHER_MAX`]), each linking to its console.
fn world_switcher(app: &AppState, here: &World) -> Markup {
    let worlds = app.worlds.all();
    let more = worlds.len().saturating_sub(SWITCHER_MAX);
    html! {
        nav.card.scroll #worlds aria-label="Worlds" {
            h2 { "Worlds (" (worlds.len()) ")" }
            table {
                tr { th { "id" } th { "name" } th { "clock" } th {} }
                @for o in worlds.iter().take(SWITCHER_MAX) { tr {
                    td {
                        @if o.id == here.id { b { code { (o.id) } } }
                        @else { a href=(home(o)) { code { (o.id) } } }
                    }
                    td { (o.name) }
                    td { (time(o.clock.now())) @if o.frozen() { " · frozen" } }
                    td { @if o.id == here.id { small { "you are here" } } }
                } }
            }
            @if more > 0 {
                p { small { (more) " more: " code { "fastreg world list" } " or " code { "GET /sandbox/v1/worlds" } " lists them all." } }
            }
        }
    }
}

/// A database URL with any password masked: the console must not show credentials.
fn redacted_db_url(url: &str) -> String {
    crate::redact::db_url(url)
}

pub(super) async fn console(Here { app, w }: Here, rid: Rid, headers: HeaderMap) -> Response {
    let Some(kind) = session(&app, &w, &headers) else {
        return page(StatusCode::OK, login_form(&w, false));
    };
    let data = w
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
        Err(e) => return Refusal::new(e, rid).into_response(),
    };
    let body = html! {
        div.card {
            h1 { "Console" }
            dl {
                (world_indicator(&w))
                @if kind == Session::Server {
                    dt { "Database" } dd { (redacted_db_url(&app.settings.db)) }
                }
            }
            form method="post" action={ (w.base_path) "/console/logout" } { div.actions { button.secondary type="submit" { "Log out" } } }
        }
        @if kind == Session::Server { (world_switcher(&app, &w)) }
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
