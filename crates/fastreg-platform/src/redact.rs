//! Keeping credentials out of logs and printed settings.
//!
//! Tokens, codes and tickets travel in query strings (`?component_access_token=…`,
//! `?access_token=…`, the pages' `pre_auth_code=…`), so anything that logs a URI logs it through
//! [`query`]; database URLs may carry a password, so anything that prints one prints it through
//! [`db_url`]. The rule is by name and errs on the side of hiding: a parameter whose name
//! mentions a token, secret, code, ticket, key, password or signature is masked. The rule itself
//! lives in [`fastreg_wire::redact`], which the SDK shares.

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
}
