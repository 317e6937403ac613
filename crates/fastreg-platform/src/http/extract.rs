//! What handlers read a request with: the one extractor every handler with a query or a body
//! uses ([`Call`]), the request's world ([`Here`]) and rid ([`Rid`]), all from the request's
//! [`Scope`]; and the query parser of the pages' forms.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::Uri;

use super::body::{read_body, BodyRead};
use super::envelope::Rid;
use crate::state::{AppState, World};

/// What the platform knows of a request beyond the request itself, as one request extension:
/// the client's address, from the accept loop (or the proxy), then the request id, world and
/// body, from the envelope before it runs the route.
///
/// One extension rather than one per item: each extension is a boxed value in a hash map
/// made for the request, and with axum's own two (the path's parameters and template) a
/// fourth makes the map grow. One each for the address, rid, world and body cost a refusal
/// answered from memory about 1,000 instructions of its 44,000 (BENCHMARKS.md).
#[derive(Debug, Clone, Default)]
pub struct Scope {
    /// The client's address (absent for a request handed to the router without one, as tests do).
    pub peer: Option<SocketAddr>,
    /// The request id (absent until the envelope sets it).
    pub rid: Option<Rid>,
    /// The world the request acts in (absent until the envelope resolves it).
    pub world: Option<Arc<World>>,
    /// How the body read (absent until the envelope has read it).
    pub body: Option<BodyRead>,
}

impl Scope {
    /// The scope of a request from `peer`, as the accept loop starts it.
    pub fn from_peer(peer: SocketAddr) -> Scope {
        Scope {
            peer: Some(peer),
            ..Scope::default()
        }
    }

    /// The request's scope, made empty first if it has none.
    pub fn of(req: &mut Request) -> &mut Scope {
        req.extensions_mut().get_or_insert_default()
    }
}

/// Everything a WeChat-compatible handler needs from a request. Extraction never fails, so
/// every malformation reaches the handler and is answered in WeChat's order and shape.
#[derive(Debug)]
pub struct Call {
    /// The request's URI, whose query the call's parameters are read from ([`Call::query`]).
    pub uri: Uri,
    /// The body.
    pub body: BodyRead,
    /// The caller's IP.
    pub client_ip: Option<IpAddr>,
}

impl Call {
    /// The raw query string (empty without one); see [`Call::query`].
    pub fn raw_query(&self) -> &str {
        self.uri.query().unwrap_or_default()
    }

    /// A query parameter, decoded; the first occurrence of a repeated name wins.
    ///
    /// Parsed on demand rather than into a map up front: a call reads one or two parameters,
    /// and a parameter without escapes is then never copied until it is returned.
    pub fn query(&self, name: &str) -> Option<String> {
        self.raw_query()
            .split('&')
            .filter(|pair| !pair.is_empty())
            .find_map(|pair| {
                // What `form_urlencoded` does, without its decoding passes when there is
                // nothing to decode (the usual token in a query).
                if memchr::memchr2(b'%', b'+', pair.as_bytes()).is_some() {
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

/// What a handler acts on: the shared state and the request's world (its store, clock,
/// faults and settings), the one the envelope resolved from its `/w/{id}` prefix (the default
/// world without one). Extraction never fails.
#[derive(Debug, Clone)]
pub struct Here {
    /// What every world shares.
    pub app: Arc<AppState>,
    /// The request's world.
    pub w: Arc<World>,
}

impl FromRequestParts<Arc<AppState>> for Here {
    type Rejection = Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, Self::Rejection> {
        let world = parts
            .extensions
            .get::<Scope>()
            .and_then(|s| s.world.clone());
        let w = world.unwrap_or_else(|| state.worlds.default_world().clone());
        Ok(Here {
            app: state.clone(),
            w,
        })
    }
}

impl FromRequest<Arc<AppState>> for Call {
    type Rejection = Infallible;

    async fn from_request(req: Request, state: &Arc<AppState>) -> Result<Self, Self::Rejection> {
        let (mut parts, body) = req.into_parts();
        let (client_ip, read) = match parts.extensions.get_mut::<Scope>() {
            Some(scope) => (scope.peer.map(|p| p.ip()), scope.body.take()),
            None => (None, None),
        };
        let body = match read {
            Some(read) => read,
            None => read_body(body, state.settings.max_body_bytes).await,
        };
        Ok(Call {
            uri: parts.uri,
            body,
            client_ip,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_parameters_read_as_form_urlencoded_reads_them() {
        let call = |q: &str| Call {
            uri: format!("/?{q}").parse().expect("a URI"),
            body: BodyRead::Broken,
            client_ip: None,
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
