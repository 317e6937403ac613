//! What a proxy request asks for, decided before anything is served: which host (WeChat's
//! three, nothing else), which world (the proxy user name), and the path the platform sees.
//! Pure functions over the request line and headers, so every refusal is unit-tested here.

use base64::Engine as _;
use hyper::http::{HeaderMap, Uri};

/// The only hosts the proxy answers for (spec §10). Anything else is refused, never forwarded.
pub const WECHAT_HOSTS: [&str; 3] = [
    "api.weixin.qq.com",
    "mp.weixin.qq.com",
    "open.weixin.qq.com",
];

/// The world a request is served in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum World {
    /// No proxy user (or `default`): the platform's root, as today.
    Default,
    /// A named world: served under `/w/{id}`.
    Named(String),
}

/// Why a request is refused (HTTP 403, this text as the one-line body).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal(pub String);

/// The host of a WeChat host name, case and a trailing dot ignored.
fn wechat_host(host: &str) -> Option<&'static str> {
    let host = host.strip_suffix('.').unwrap_or(host);
    WECHAT_HOSTS
        .into_iter()
        .find(|h| h.eq_ignore_ascii_case(host))
}

fn not_wechat(host: &str) -> Refusal {
    Refusal(format!(
        "fastreg proxy: {host:?} is not one of WeChat's hosts ({}); nothing was forwarded",
        WECHAT_HOSTS.join(", ")
    ))
}

/// The host a `CONNECT host:port` may tunnel to: one of WeChat's, on port 443.
///
/// # Errors
/// Another host or port, or no authority.
pub fn connect_target(uri: &Uri) -> Result<&'static str, Refusal> {
    let Some(authority) = uri.authority() else {
        return Err(Refusal(
            "fastreg proxy: CONNECT needs host:443; nothing was forwarded".into(),
        ));
    };
    let host = wechat_host(authority.host()).ok_or_else(|| not_wechat(authority.host()))?;
    match authority.port_u16() {
        Some(443) => Ok(host),
        _ => Err(Refusal(format!(
            "fastreg proxy: CONNECT to {authority} refused: only port 443 of WeChat's hosts; \
             nothing was forwarded"
        ))),
    }
}

/// The host of an absolute-form plain HTTP request (`GET http://api.weixin.qq.com/… HTTP/1.1`).
///
/// # Errors
/// Origin form (this is a proxy, not the platform), another scheme, host or port.
pub fn absolute_target(uri: &Uri) -> Result<&'static str, Refusal> {
    let (Some(scheme), Some(authority)) = (uri.scheme_str(), uri.authority()) else {
        return Err(Refusal(
            "fastreg proxy: this is a proxy; send absolute-form requests \
             (http://api.weixin.qq.com/…) or CONNECT, or call the platform's own address"
                .into(),
        ));
    };
    let host = wechat_host(authority.host()).ok_or_else(|| not_wechat(authority.host()))?;
    if !scheme.eq_ignore_ascii_case("http") || authority.port_u16().is_some_and(|p| p != 80) {
        return Err(Refusal(format!(
            "fastreg proxy: {scheme}://{authority} refused: plain requests are served for \
             http:// on port 80; use CONNECT for https://"
        )));
    }
    Ok(host)
}

/// The world the proxy user name names (`Proxy-Authorization: Basic base64(user:password)`).
/// No header, an empty user or `default`: the default world. The password is not checked.
///
/// # Errors
/// A header that is not Basic credentials, or a user name that is not a world id (lowercase
/// letters and digits, at most 40). The refusal never quotes the password.
pub fn world(headers: &HeaderMap) -> Result<World, Refusal> {
    let Some(value) = headers.get(hyper::header::PROXY_AUTHORIZATION) else {
        return Ok(World::Default);
    };
    let bad = || {
        Refusal(
            "fastreg proxy: Proxy-Authorization must be Basic credentials whose user name is \
             a world id"
                .into(),
        )
    };
    let text = value.to_str().map_err(|_| bad())?.trim();
    let (scheme, encoded) = text.split_once(' ').ok_or_else(bad)?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(bad());
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .map_err(|_| bad())?;
    let decoded = String::from_utf8(decoded).map_err(|_| bad())?;
    let user = decoded.split_once(':').map_or(decoded.as_str(), |(u, _)| u);
    if user.is_empty() || user == "default" {
        return Ok(World::Default);
    }
    if !fastreg_platform::domain::is_world_id(user) {
        return Err(Refusal(
            "fastreg proxy: the proxy user name is not a world id (lowercase letters and \
             digits, at most 40)"
                .into(),
        ));
    }
    Ok(World::Named(user.to_string()))
}

/// The path and query the platform is asked for: the request's own, under `/w/{id}` for a
/// named world (spec §9: a world's base URL is `{server}/w/{id}`).
pub fn platform_path(uri: &Uri, world: &World) -> String {
    let own = uri.path_and_query().map_or("/", |pq| pq.as_str());
    let own = if own.starts_with('/') { own } else { "/" };
    match world {
        World::Default => own.to_string(),
        World::Named(id) => format!("/w/{id}{own}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::http::HeaderValue;

    fn uri(s: &str) -> Uri {
        s.parse().unwrap()
    }

    fn basic(user_pass: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        let v = base64::engine::general_purpose::STANDARD.encode(user_pass);
        h.insert(
            hyper::header::PROXY_AUTHORIZATION,
            HeaderValue::from_str(&format!("Basic {v}")).unwrap(),
        );
        h
    }

    #[test]
    fn connect_is_allowed_to_wechats_three_hosts_on_443_only() {
        for host in WECHAT_HOSTS {
            assert_eq!(connect_target(&uri(&format!("{host}:443"))), Ok(host));
        }
        assert_eq!(
            connect_target(&uri("API.Weixin.QQ.com.:443")),
            Ok("api.weixin.qq.com")
        );
        for other in [
            "example.com:443",
            "weixin.qq.com:443",
            "api.weixin.qq.com.evil.test:443",
            "127.0.0.1:443",
            "api.weixin.qq.com:80",
            "api.weixin.qq.com:8443",
        ] {
            let refusal = connect_target(&uri(other)).unwrap_err();
            assert!(refusal.0.contains("nothing was forwarded"), "{other}");
            assert!(!refusal.0.contains('\n'), "one line: {other}");
        }
    }

    #[test]
    fn absolute_form_is_served_for_plain_http_to_wechats_hosts_only() {
        assert_eq!(
            absolute_target(&uri("http://api.weixin.qq.com/cgi-bin/x?a=1")),
            Ok("api.weixin.qq.com")
        );
        assert_eq!(
            absolute_target(&uri(
                "http://mp.weixin.qq.com:80/cgi-bin/componentloginpage"
            )),
            Ok("mp.weixin.qq.com")
        );
        for other in [
            "http://example.com/",
            "http://127.0.0.1:8080/cgi-bin/x",
            "https://api.weixin.qq.com/cgi-bin/x",
            "http://api.weixin.qq.com:8080/",
            "/cgi-bin/component/api_component_token",
        ] {
            assert!(absolute_target(&uri(other)).is_err(), "{other}");
        }
    }

    #[test]
    fn the_proxy_user_name_names_the_world_and_none_means_the_default_world() {
        assert_eq!(world(&HeaderMap::new()), Ok(World::Default));
        assert_eq!(world(&basic("w1abc:")), Ok(World::Named("w1abc".into())));
        assert_eq!(
            world(&basic("w1abc:any-password")),
            Ok(World::Named("w1abc".into()))
        );
        assert_eq!(world(&basic("w1abc")), Ok(World::Named("w1abc".into())));
        assert_eq!(world(&basic(":pw")), Ok(World::Default));
        assert_eq!(world(&basic("default:pw")), Ok(World::Default));
    }

    #[test]
    fn a_user_name_that_is_not_a_world_id_is_refused_without_quoting_the_password() {
        for bad in [
            "Upper:secretpw",
            "a/b:secretpw",
            "a.b:secretpw",
            &"x".repeat(41),
        ] {
            let refusal = world(&basic(bad)).unwrap_err();
            assert!(!refusal.0.contains("secretpw"), "{}", refusal.0);
        }
        let mut h = HeaderMap::new();
        h.insert(
            hyper::header::PROXY_AUTHORIZATION,
            HeaderValue::from_static("Bearer secretpw"),
        );
        assert!(world(&h).is_err());
    }

    #[test]
    fn a_named_world_is_served_under_its_base_path_with_the_query_kept() {
        let u = uri("/cgi-bin/component/api_create_preauthcode?component_access_token=T");
        assert_eq!(
            platform_path(&u, &World::Default),
            "/cgi-bin/component/api_create_preauthcode?component_access_token=T"
        );
        assert_eq!(
            platform_path(&u, &World::Named("w7".into())),
            "/w/w7/cgi-bin/component/api_create_preauthcode?component_access_token=T"
        );
        let absolute = uri("http://mp.weixin.qq.com/cgi-bin/fastregisterauth?appid=wx1");
        assert_eq!(
            platform_path(&absolute, &World::Named("w7".into())),
            "/w/w7/cgi-bin/fastregisterauth?appid=wx1"
        );
        assert_eq!(
            platform_path(&uri("http://api.weixin.qq.com"), &World::Default),
            "/"
        );
    }
}
