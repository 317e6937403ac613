//! The one extractor every handler with a query or a body uses ([`Call`]), and the query
//! parser of the pages' forms.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;

use super::body::{read_body, BodyRead};
use super::envelope::Rid;
use crate::state::{AppState, World};

/// Everything a WeChat-compatible handler needs from a request. Extraction never fails, so
/// every malformation reaches the handler and is answered in WeChat's order and shape.
#[derive(Debug)]
pub struct Call {
    /// The raw query string (empty without one); see [`Call::query`].
    pub raw_query: String,
    /// The body.
    pub body: BodyRead,
    /// The caller's IP.
    pub client_ip: Option<IpAddr>,
    /// The request id.
    pub rid: String,
}

impl Call {
    /// A query parameter, decoded; the first occurrence of a repeated name wins.
    ///
    /// Parsed on demand rather than into a map up front: a call reads one or two parameters,
    /// and a parameter without escapes is then never copied until it is returned.
    pub fn query(&self, name: &str) -> Option<String> {
        self.raw_query
            .split('&')
            .filter(|pair| !pair.is_empty())
            .find_map(|pair| {
                // What `form_urlencoded` does, without its decoding passes when there is
                // nothing to decode (the usual token in a query).
                if pair.contains(['%', '+']) {
                    let (k, v) = form_urlencoded::parse(pair.as_bytes()).next()?;
                    return (k == name).then(|| v.into_owned());
                }
                let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                (k == name).then(|| v.to_string())
            })
    }

    /// The first present, non-empty query parameter of `names`.
    pub fn param(&self, names: &[&str]) -> Option<String> {
        names
            .iter()
            .find_map(|n| self.query(n).filter(|v| !v.is_empty()))
    }

    /// The component token: `component_access_token`, else `access_token`.
    pub fn component_token(&self) -> Option<String> {
        self.param(&["component_access_token", "access_token"])
    }

    /// The `access_token` parameter.
    pub fn access_token(&self) -> Option<String> {
        self.param(&["access_token"])
    }
}

/// Parses a query string; the first occurrence of a name wins.
pub fn parse_query(q: Option<&str>) -> HashMap<String, String> {
    let mut map = HashMap::new();
    if let Some(q) = q {
        for (k, v) in form_urlencoded::parse(q.as_bytes()) {
            map.entry(k.into_owned()).or_insert_with(|| v.into_owned());
        }
    }
    map
}

/// The world a request acts in: what the envelope resolved from its `/w/{id}` prefix (the
/// default world without one), as a request extension.
#[derive(Debug, Clone)]
pub struct InWorld(pub Arc<World>);

/// What a handler acts on: the shared state and the request's world (its store, clock,
/// faults and settings). Extraction never fails.
#[derive(Debug, Clone)]
pub struct Here {
    /// What every world shares.
    pub app: Arc<AppState>,
    /// The request's world.
    pub w: Arc<World>,
}

impl FromRequestParts<Arc<AppState>> for Here {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, Self::Rejection> {
        let w = match parts.extensions.get::<InWorld>() {
            Some(InWorld(w)) => w.clone(),
            None => state.worlds.default_world().clone(),
        };
        Ok(Here {
            app: state.clone(),
            w,
        })
    }
}

impl FromRequest<Arc<AppState>> for Call {
    type Rejection = std::convert::Infallible;

    async fn from_request(req: Request, state: &Arc<AppState>) -> Result<Self, Self::Rejection> {
        let (parts, body) = req.into_parts();
        let raw_query = parts.uri.query().unwrap_or_default().to_string();
        let client_ip = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip());
        let rid = parts
            .extensions
            .get::<Rid>()
            .map(|r| r.0.clone())
            .unwrap_or_default();
        let body = match parts.extensions.get::<BodyRead>() {
            Some(read) => read.clone(),
            None => read_body(body, state.settings.max_body_bytes).await,
        };
        Ok(Call {
            raw_query,
            body,
            client_ip,
            rid,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_parameters_read_as_form_urlencoded_reads_them() {
        let call = |q: &str| Call {
            raw_query: q.to_string(),
            body: BodyRead::Broken,
            client_ip: None,
            rid: String::new(),
        };
        let queries = [
            "access_token=abc&x=1",
            "x=1&access_token=a%2Bb+c&access_token=second",
            "&&access_token&x",
            "access_token=&access_token=later",
            "access%5Ftoken=encoded%20name",
            "access_token=a=b",
            "access_token=%FF%FE",
            "",
        ];
        for q in queries {
            let expected = form_urlencoded::parse(q.as_bytes())
                .find(|(k, _)| k == "access_token")
                .map(|(_, v)| v.into_owned());
            assert_eq!(call(q).query("access_token"), expected, "{q}");
        }
    }
}
