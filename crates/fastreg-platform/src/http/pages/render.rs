//! How the pages look: the frame and style every page shares, the headers every page
//! carries, the refusal page, and the labels the pages show.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use fastreg_wire::ErrCode;
use maud::{html, Markup, PreEscaped, DOCTYPE};

use crate::domain::{AuthorizerKind, EntityType};
use crate::error::Error;
use crate::http::envelope::{PageErrcode, Rid};

/// `302 Found` to `url`, as WeChat answers a confirmation. (axum's `Redirect::to` is 303; a
/// 307 would make the browser repeat the POST at the component's URL.)
pub(super) fn found(url: &str) -> Response {
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
pub(super) fn page(status: StatusCode, body: Markup) -> Response {
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

/// The page frame: title, style, header.
pub(super) fn layout(title: &str, body: Markup) -> Markup {
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
pub(super) struct Refusal {
    code: ErrCode,
    detail: Option<String>,
    status: StatusCode,
    rid: Rid,
}

impl Refusal {
    pub(super) fn new(e: Error, rid: Rid) -> Refusal {
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
                rid,
            },
            Error::Internal(e) => {
                tracing::error!(error = format!("{e:#}"), "internal error on a page");
                Refusal {
                    code: ErrCode::SystemError,
                    detail: None,
                    status: StatusCode::INTERNAL_SERVER_ERROR,
                    rid,
                }
            }
        }
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        tracing::info!(
            errcode = self.code.code(),
            detail = &*crate::redact::bounded(
                self.detail.as_deref().unwrap_or(""),
                crate::redact::LOG_MAX_CHARS
            ),
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
                    p { small { "Nothing was sent to the redirect address. rid: " (self.rid.as_str()) } }
                }
            },
        );
        let mut resp = page(self.status, body);
        resp.extensions_mut().insert(PageErrcode(self.code));
        resp
    }
}

/// An entity type as the pages name it.
pub(super) fn entity_type_label(t: EntityType) -> &'static str {
    match t {
        EntityType::Enterprise => "enterprise (企业)",
        EntityType::Media => "media (媒体)",
        EntityType::Government => "government (政府)",
        EntityType::OtherOrg => "other organisation (其他组织)",
        EntityType::Personal => "personal (个人)",
    }
}

/// The note saying who the visitor acts as.
pub(super) fn acting_note(who: &str) -> Markup {
    html! {
        p.note {
            "On WeChat, " (who) " scans a QR code here and confirms on their phone. "
            "In this sandbox you act as that administrator: confirming below does exactly what "
            "their confirmation does."
        }
    }
}

/// Hidden form fields carrying the rendered parameters.
pub(super) fn hidden(pairs: &[(&'static str, String)]) -> Markup {
    html! { @for (k, v) in pairs { input type="hidden" name=(k) value=(v); } }
}

/// An authorizer kind as the pages name it.
pub(super) fn kind_label(k: AuthorizerKind) -> &'static str {
    match k {
        AuthorizerKind::OfficialAccount => "Official Account",
        AuthorizerKind::MiniProgram => "Mini Program",
    }
}

/// A permission set with its name.
pub(super) fn set_label(id: i64) -> String {
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

/// A time on the sandbox clock as Asia/Shanghai wall time.
pub(super) fn time(t: i64) -> String {
    chrono::DateTime::from_timestamp(t, 0)
        .map(|d| {
            d.with_timezone(&chrono_tz::Asia::Shanghai)
                .format("%Y-%m-%d %H:%M:%S")
                .to_string()
        })
        .unwrap_or_else(|| t.to_string())
}
