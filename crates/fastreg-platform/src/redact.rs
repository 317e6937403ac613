//! Keeping credentials and request values out of logs, error texts and printed settings.
//!
//! Tokens, codes and tickets travel in query strings (`?component_access_token=…`,
//! `?access_token=…`, the pages' `pre_auth_code=…`), so anything that prints a URI for people
//! prints it through [`query`]; database URLs may carry a password, so anything that prints one
//! prints it through [`db_url`]. The rule is by name and errs on the side of hiding: a parameter
//! whose name mentions a token, secret, code, ticket, key, password or signature is masked. The
//! rule itself lives in [`fastreg_wire::redact`], which the SDK shares.
//!
//! The access log goes further: no log line and no error text repeats a value the request
//! carried (a value may be a secret sent in the wrong field, and may be 200 KB long). The log
//! shows a query as its parameter names ([`query_for_log`]), a path as its route template
//! ([`path_for_log`]), every such string at most [`LOG_MAX_CHARS`] characters long
//! ([`bounded`]); a JSON parser's message loses the values it quotes ([`serde_error`]).

pub use fastreg_wire::redact::{is_sensitive, query, MASK};

/// A path and query with sensitive query values masked.
pub fn uri(path_and_query: &str) -> String {
    match path_and_query.split_once('?') {
        Some((path, q)) => format!("{path}?{}", query(q)),
        None => path_and_query.to_string(),
    }
}

/// A database URL with its password (in the authority or as a query parameter) masked:
/// `postgres://fastreg:s3cret@db/fastreg` → `postgres://fastreg:***@db/fastreg`.
pub fn db_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let authority = match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _password)) => format!("{user}:{MASK}@{host}"),
            None => format!("{userinfo}@{host}"),
        },
        None => authority.to_string(),
    };
    format!("{scheme}://{authority}{}", uri(tail))
}

/// The password of a database URL, if it has one (so an error message that quotes the URL
/// can be scrubbed).
pub fn db_password(url: &str) -> Option<&str> {
    let rest = url.split_once("://")?.1;
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let userinfo = rest[..end].rsplit_once('@')?.0;
    userinfo
        .split_once(':')
        .map(|(_, p)| p)
        .filter(|p| !p.is_empty())
}

/// The most characters of a request-derived string (a path, a query) a log line carries.
pub const LOG_MAX_CHARS: usize = 256;

/// `s` cut to at most `max` characters, `…` marking the cut.
pub fn bounded(s: &str, max: usize) -> std::borrow::Cow<'_, str> {
    match s.char_indices().nth(max) {
        None => s.into(),
        Some((end, _)) => {
            let keep = s[..end]
                .char_indices()
                .nth(max.saturating_sub(1))
                .map_or(end, |(i, _)| i);
            format!("{}…", &s[..keep]).into()
        }
    }
}

/// A query string as a log line shows it: the names of its parameters, each value replaced by
/// [`MASK`] (nothing for an empty one), a name `known` does not accept shown as `?` (a name the
/// platform does not read is text the client chose: it could be a token sent as a name);
/// at most [`LOG_MAX_CHARS`] characters.
pub fn query_for_log(q: &str, known: impl Fn(&str) -> bool) -> String {
    let mut out = String::new();
    for pair in q.split('&') {
        if !out.is_empty() {
            out.push('&');
        }
        let (name, value) = match pair.split_once('=') {
            Some((n, v)) => (n, Some(v)),
            None => (pair, None),
        };
        out.push_str(if name.is_empty() || known(name) {
            name
        } else {
            "?"
        });
        if let Some(v) = value {
            out.push('=');
            if !v.is_empty() {
                out.push_str(MASK);
            }
        }
        if out.len() > LOG_MAX_CHARS {
            break;
        }
    }
    bounded(&out, LOG_MAX_CHARS).into_owned()
}

/// A path as a log line shows it: the route it matched, its parameters named rather than
/// shown (`/sandbox/v1/components/{appid}`), except a world's id once the world is known
/// (the server issued it); a path no route matched, cut to [`LOG_MAX_CHARS`] characters.
pub fn path_for_log(path: &str, template: Option<&str>, world: Option<&str>) -> String {
    match template {
        Some(t) => match (t.strip_prefix("/w/{world}"), world) {
            (Some(rest), Some(id)) => {
                bounded(&format!("/w/{id}{rest}"), LOG_MAX_CHARS).into_owned()
            }
            _ => t.to_string(),
        },
        None => bounded(path, LOG_MAX_CHARS).into_owned(),
    }
}

/// A JSON parser's message without anything it quotes from the body, so that it can be logged
/// and (on the sandbox API) answered: a value sent in a field of another type may be a
/// credential, and a field name or value may be 200 KB long.
///
/// Kept: serde_json's own syntax messages (they quote nothing), the field names and types the
/// message names from the target type (`missing field `style``, `expected u32`), the kind of
/// value that was refused (`string`, `integer`), an unknown field's or variant's name when it
/// is shaped like the platform's own (short snake_case: a misspelling), and the line and
/// column. Dropped: the value itself, any other unknown name, and anything a custom
/// deserializer appended after a colon.
pub fn serde_error(e: &serde_json::Error) -> String {
    let full = e.to_string();
    let at = format!(" at line {} column {}", e.line(), e.column());
    let msg = full.strip_suffix(at.as_str()).unwrap_or(&full);
    let at = if e.line() == 0 { "" } else { at.as_str() };
    match e.classify() {
        serde_json::error::Category::Data => format!("{}{at}", data_message(msg)),
        // serde_json's syntax and end-of-input messages name no value.
        _ => format!("{msg}{at}"),
    }
}

/// A serde data error's message (see [`serde_error`]) with the values removed.
fn data_message(msg: &str) -> String {
    // The expected part comes from the target type, and is last: what precedes the last
    // `, expected ` is what was sent.
    let expected = |rest: &str| {
        rest.rfind(", expected ")
            .map_or("", |i| &rest[i..])
            .to_string()
    };
    for kind in ["missing field `", "duplicate field `"] {
        if let Some(rest) = msg.strip_prefix(kind) {
            // Names from the target type, not from the body.
            if rest.len() <= 64 && rest.ends_with('`') && !rest[..rest.len() - 1].contains('`') {
                return msg.to_string();
            }
        }
    }
    for kind in ["unknown field ", "unknown variant "] {
        if let Some(rest) = msg.strip_prefix(kind) {
            let tail = match (rest.rfind("`, expected "), rest.rfind("`, there are no ")) {
                (Some(a), Some(b)) => &rest[a.max(b) + 1..],
                (Some(i), None) | (None, Some(i)) => &rest[i + 1..],
                (None, None) => "",
            };
            // A name shaped like the platform's own (snake_case, short) is shown: it is what a
            // misspelt field looks like (`publised`), and no credential does. Anything else
            // might be a value sent as a name.
            let name = rest
                .strip_prefix('`')
                .and_then(|r| r.get(..(r.len().checked_sub(tail.len() + 1))?));
            let shown = name.filter(|n| {
                n.len() <= 32
                    && n.starts_with(|c: char| c.is_ascii_lowercase())
                    && n.chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
            });
            return format!("{kind}`{}`{tail}", shown.unwrap_or("…"));
        }
    }
    for kind in ["invalid type: ", "invalid value: "] {
        if let Some(rest) = msg.strip_prefix(kind) {
            // serde names the kind of value first: `string "…"`, `integer `7``, `map`.
            let what: String = rest
                .chars()
                .take_while(|c| c.is_ascii_lowercase() || *c == ' ')
                .collect();
            let what = what.trim_end();
            let what = if what.is_empty() || what.len() > 20 {
                "a value"
            } else {
                what
            };
            return format!("{kind}{what}{}", expected(rest));
        }
    }
    if let Some(rest) = msg.strip_prefix("invalid length ") {
        let n: String = rest.chars().take_while(char::is_ascii_digit).collect();
        return format!("invalid length {n}{}", expected(rest));
    }
    // A custom deserializer's message: what it says before a colon (the value, if it names
    // one, comes after it), if that is short and quotes nothing.
    let head = msg.split_once(':').map_or(msg, |(head, _)| head);
    if head.len() <= 80 && !head.contains(['"', '`', '\'']) {
        head.to_string()
    } else {
        "a field has a value of the wrong type or form".to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uri_masks_only_the_query() {
        assert_eq!(
            uri("/cgi-bin/account/fastregister?access_token=secret"),
            "/cgi-bin/account/fastregister?access_token=***"
        );
        assert_eq!(uri("/healthz"), "/healthz");
    }

    #[test]
    fn db_url_masks_the_password_wherever_it_is() {
        assert_eq!(
            db_url("postgres://fastreg:s3cret@db.internal:5432/fastreg"),
            "postgres://fastreg:***@db.internal:5432/fastreg"
        );
        assert_eq!(
            db_url("postgres://db/fastreg?user=f&password=s3cret&sslmode=require"),
            "postgres://db/fastreg?user=f&password=***&sslmode=require"
        );
        assert_eq!(db_url("sqlite://fastreg.db"), "sqlite://fastreg.db");
        assert_eq!(db_url("sqlite::memory:"), "sqlite::memory:");
        assert_eq!(db_url("postgres://u@h/d"), "postgres://u@h/d");
        assert_eq!(db_password("postgres://u:p%40ss@h/d"), Some("p%40ss"));
        assert_eq!(db_password("sqlite://fastreg.db"), None);
    }

    #[test]
    fn log_forms_show_names_and_templates_not_values_and_are_bounded() {
        let long = "x".repeat(200_000);
        assert_eq!(bounded("abc", 3), "abc");
        assert_eq!(bounded("abcd", 3), "ab…");
        assert_eq!(bounded(&long, LOG_MAX_CHARS).chars().count(), LOG_MAX_CHARS);
        assert_eq!(bounded("中文测试", 3), "中文…");
        let known = |n: &str| matches!(n, "access_token" | "limit");
        assert_eq!(
            query_for_log("access_token=s3cret&limit=10&SECRET-x=1&flag&limit=", known),
            "access_token=***&limit=***&?=***&?&limit="
        );
        let q = format!("limit={long}&{long}=1&limit=1");
        let logged = query_for_log(&q, known);
        assert!(
            logged.chars().count() <= LOG_MAX_CHARS && !logged.contains("xx"),
            "{logged}"
        );
        let q = "limit=1&".repeat(100_000);
        assert!(query_for_log(&q, known).chars().count() <= LOG_MAX_CHARS);
        assert_eq!(
            path_for_log(
                "/sandbox/v1/components/SECRET",
                Some("/sandbox/v1/components/{appid}"),
                None
            ),
            "/sandbox/v1/components/{appid}"
        );
        assert_eq!(
            path_for_log(
                "/w/abc/sandbox/v1/components/S",
                Some("/w/{world}/sandbox/v1/components/{appid}"),
                Some("abc")
            ),
            "/w/abc/sandbox/v1/components/{appid}"
        );
        assert_eq!(
            path_for_log("/w/SECRET/healthz", Some("/w/{world}/healthz"), None),
            "/w/{world}/healthz"
        );
        assert_eq!(
            path_for_log(&format!("/{long}"), None, None)
                .chars()
                .count(),
            LOG_MAX_CHARS
        );
    }
}
