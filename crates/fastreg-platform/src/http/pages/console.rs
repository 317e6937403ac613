//! The sandbox console at `/`: a login with the admin token (a session cookie keyed by the
//! page secret) and one page showing the world, the clock, recent registrations and pushes.

use axum::extract::Request;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Extension;
use maud::{html, Markup};

use super::form;
use super::render::{entity_type_label, kind_label, layout, page, time, Refusal};
use crate::http::envelope::Rid;
use crate::http::extract::Here;
use crate::secrets;
use crate::state::AppState;

/// The console's session cookie.
const SESSION_COOKIE: &str = "fastreg_console";

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

pub(super) async fn console_login(Here { app, .. }: Here, req: Request) -> Response {
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

pub(super) async fn console_logout() -> Response {
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

pub(super) async fn console(
    Here { app, w }: Here,
    Extension(rid): Extension<Rid>,
    headers: HeaderMap,
) -> Response {
    if !has_session(&app, &headers) {
        return page(StatusCode::OK, login_form(false));
    }
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
        Err(e) => return Refusal::new(e, &rid).into_response(),
    };
    let now = w.clock.now();
    let body = html! {
        div.card {
            h1 { "Console" }
            dl {
                dt { "Sandbox clock" } dd { (time(now)) " Asia/Shanghai (offset " (w.clock.offset()) " s)" }
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
