//! Security properties as tests: the sandbox API refuses every near miss of the admin token
//! and changes nothing; tokens, codes and tickets are long, from the documented alphabet,
//! unbiased and never repeat; `redirect_uri` cannot send the admin's browser (and the code or
//! ticket appended to it) off the component's auth domain.
//!
//! What sandbox.rs and pages.rs already cover is not repeated here: no header, an empty one,
//! `Basic`, a wrong token of another length (sandbox.rs); `evil.com` and `localhost@evil.com` on
//! the pages, and the confirmation table of the sandbox API (pages.rs, sandbox.rs).

use std::collections::HashSet;

use fastreg_platform::secrets;
use serde_json::{json, Value};

use super::helpers::*;
use super::pages::{csrf, errcode_on_page, get, no_redirects, pre_auth_code};
use super::sandbox::{assert_sandbox_refused, every_call, sandbox_as};

// ---------------------------------------------------------------------------------------------
// (a) The sandbox API's admin token
// ---------------------------------------------------------------------------------------------

/// Everything the sandbox API can show, but the moving clock: a change anywhere shows here.
async fn world_state(app: &TestApp) -> Value {
    let mut state = serde_json::Map::new();
    for path in [
        "/components",
        "/entities",
        "/official-accounts",
        "/authorizations",
        "/registrations",
        "/pushes",
        "/faults",
        "/config",
        &format!("/components/{C}/verify-ticket"),
        &format!("/components/{C}/token-counts"),
    ] {
        state.insert(path.into(), app.sandbox_ok("GET", path, None).await);
    }
    let clock = app.sandbox_ok("GET", "/clock", None).await;
    state.insert("clock offset".into(), clock["offset"].clone());
    Value::Object(state)
}

/// The admin token with the character at `i` replaced by another of the same kind.
fn one_char_off(token: &str, i: usize) -> String {
    token
        .char_indices()
        .map(|(j, c)| match (j == i, c) {
            (false, c) => c,
            (true, 'z') => 'y',
            (true, 'Z') => 'Y',
            (true, '9') => '8',
            (true, '-') => '_',
            (true, c) if c.is_ascii_alphanumeric() => (c as u8 + 1) as char,
            (true, _) => 'a',
        })
        .collect()
}

#[tokio::test]
async fn sandbox_routes_refuse_a_bearer_token_of_the_right_length_that_differs_in_one_character() {
    let app = spawn_app().await;
    let before = world_state(&app).await;
    let near_misses: Vec<String> = [0, ADMIN.len() / 2, ADMIN.len() - 1]
        .iter()
        .map(|&i| one_char_off(ADMIN, i))
        .chain([ADMIN.to_uppercase(), ADMIN.replace('-', "_")])
        .collect();
    for t in &near_misses {
        assert_eq!(t.len(), ADMIN.len());
        assert_ne!(t, ADMIN);
    }

    for (method, path, body) in every_call() {
        for token in &near_misses {
            let got = sandbox_as(
                &app,
                Some(&format!("Bearer {token}")),
                method,
                &path,
                body.as_ref(),
            )
            .await;
            assert_sandbox_refused(&got, 401, 40001);
        }
    }

    assert_eq!(
        world_state(&app).await,
        before,
        "a refused call changed nothing"
    );
}

#[tokio::test]
async fn sandbox_routes_refuse_the_admin_token_sent_anywhere_but_a_bearer_authorization_header() {
    let app = spawn_app().await;
    // A real console session: the console's cookie must not open the API.
    let login = no_redirects()
        .post(format!("{}/console/login", app.base))
        .form(&[("token", ADMIN)])
        .send()
        .await
        .unwrap();
    let session = login.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let before = world_state(&app).await;
    let elsewhere: Vec<(&str, String)> = vec![
        ("cookie", session.clone()),
        ("cookie", format!("fastreg_console={ADMIN}")),
        ("x-admin-token", ADMIN.into()),
        ("proxy-authorization", format!("Bearer {ADMIN}")),
        ("authorization", format!("Token {ADMIN}")),
        ("authorization", format!("BEARER {ADMIN}")),
        ("authorization", format!("Bearer:{ADMIN}")),
        ("authorization", ADMIN.into()),
    ];

    for (method, path, body) in every_call() {
        for (header, value) in &elsewhere {
            let resp = app
                .http
                .request(
                    method.parse().unwrap(),
                    format!("{}/sandbox/v1{path}", app.base),
                )
                .header(*header, value)
                .body(body.as_ref().map(Value::to_string).unwrap_or_default())
                .send()
                .await
                .unwrap();
            let status = resp.status().as_u16();
            let v: Value = resp.json().await.unwrap();
            assert_sandbox_refused(&(status, v), 401, 41001);
        }
        // In the query string, where logs and proxies would see it.
        let sep = if path.contains('?') { '&' } else { '?' };
        for name in ["access_token", "admin_token", "token"] {
            let got = sandbox_as(
                &app,
                None,
                method,
                &format!("{path}{sep}{name}={ADMIN}"),
                body.as_ref(),
            )
            .await;
            assert_sandbox_refused(&got, 401, 41001);
        }
    }

    assert_eq!(
        world_state(&app).await,
        before,
        "a refused call changed nothing"
    );
}

#[tokio::test]
async fn a_generated_admin_token_is_32_alphanumerics_and_differs_between_starts() {
    let a = spawn_app_with(|s| s.admin_token = None).await;
    let b = spawn_app_with(|s| s.admin_token = Some(String::new())).await;
    let (ta, tb) = (a.state.admin_token.clone(), b.state.admin_token.clone());
    for t in [&ta, &tb] {
        assert_eq!(t.len(), 32, "{t}");
        assert!(t.chars().all(|c| c.is_ascii_alphanumeric()), "{t}");
    }
    assert_ne!(ta, tb);
    // And it is the one that opens the API; the tests' fixed token does not.
    let got = sandbox_as(&a, Some(&format!("Bearer {ADMIN}")), "GET", "/clock", None).await;
    assert_sandbox_refused(&got, 401, 40001);
    let (status, _) = sandbox_as(&a, Some(&format!("Bearer {ta}")), "GET", "/clock", None).await;
    assert_eq!(status, 200);
}

// ---------------------------------------------------------------------------------------------
// (b) Unguessable tokens, codes and tickets
// ---------------------------------------------------------------------------------------------

const ALNUM: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
const HEX: &str = "0123456789abcdef";
const DRAWS: usize = 100_000;

/// A generator's documented shape: a fixed prefix, then `len` characters of `alphabet`, of
/// which the first `clock` tell the time of the draw (an access token's or a code's, in base 62): they are
/// not random, so they count neither as entropy nor in the bias check (the unit tests of
/// `secrets` check that they sort as the times they tell).
struct Shape {
    what: &'static str,
    prefix: &'static str,
    len: usize,
    alphabet: &'static str,
    clock: usize,
}

fn shapes() -> Vec<(Shape, fn() -> String)> {
    let shape = |what, prefix, len, alphabet| Shape {
        what,
        prefix,
        len,
        alphabet,
        clock: 0,
    };
    vec![
        (
            Shape {
                clock: 8,
                ..shape("access token", "", 86, ALNUM)
            },
            secrets::access_token as fn() -> String,
        ),
        (
            shape("refresh token", "refreshtoken@@@", 43, ALNUM),
            secrets::refresh_token,
        ),
        (
            shape("verify ticket", "ticket@@@", 43, ALNUM),
            secrets::verify_ticket,
        ),
        (
            Shape {
                clock: 8,
                ..shape("pre_auth_code", "preauthcode@@@", 43, ALNUM)
            },
            secrets::pre_auth_code,
        ),
        (
            Shape {
                clock: 8,
                ..shape("auth code", "queryauthcode@@@", 43, ALNUM)
            },
            secrets::auth_code,
        ),
        (
            shape("fastregister ticket", "", 32, HEX),
            secrets::fastregister_ticket,
        ),
        (
            shape("EncodingAESKey", "", 43, ALNUM),
            secrets::encoding_aes_key,
        ),
        (shape("AppSecret", "", 32, HEX), secrets::appsecret),
        (shape("admin token", "", 32, ALNUM), || secrets::alnum(32)),
    ]
}

/// Whether `s` has the shape; returns the random part.
fn random_part<'a>(shape: &Shape, s: &'a str) -> Option<&'a str> {
    let rest = s.strip_prefix(shape.prefix)?;
    (rest.len() == shape.len && rest.chars().all(|c| shape.alphabet.contains(c))).then_some(rest)
}

/// Pearson's chi-square statistic of `counts` against a uniform distribution.
fn chi_square(counts: &[u64]) -> f64 {
    let n: u64 = counts.iter().sum();
    let expected = n as f64 / counts.len() as f64;
    counts
        .iter()
        .map(|&c| (c as f64 - expected).powi(2) / expected)
        .sum()
}

/// A bound a uniform source exceeds with probability below 1e-12 (the mean `df` plus 15
/// standard deviations, `sqrt(2 df)`), yet that a generator drawing `byte % 62` (bias 5/256
/// against 4/256) exceeds about threefold over 10^5 draws, as does any stuck position.
fn loose_bound(df: f64) -> f64 {
    df + 15.0 * (2.0 * df).sqrt()
}

#[test]
fn tokens_codes_and_tickets_have_their_length_and_alphabet_never_repeat_and_show_no_bias_over_100_000_draws(
) {
    let mut draws_total = 0;
    for (shape, generate) in shapes() {
        let k = shape.alphabet.len();
        let bits = (shape.len - shape.clock) as f64 * (k as f64).log2();
        assert!(
            bits >= 128.0,
            "{}: {bits:.0} bits of entropy, the spec asks for 128",
            shape.what
        );
        // Character -> index in the alphabet (a table: 33 million look-ups in a debug build).
        let mut index = [usize::MAX; 256];
        for (i, b) in shape.alphabet.bytes().enumerate() {
            index[usize::from(b)] = i;
        }
        let mut seen = HashSet::with_capacity(DRAWS);
        let mut per_position = vec![vec![0u64; k]; shape.len - shape.clock];
        let mut overall = vec![0u64; k];
        for _ in 0..DRAWS {
            let s = generate();
            let part = s
                .strip_prefix(shape.prefix)
                .filter(|p| p.len() == shape.len)
                .unwrap_or_else(|| panic!("{}: {s:?} is not the documented shape", shape.what));
            let (clock, part) = part.split_at(shape.clock);
            assert!(
                clock.chars().all(|c| c.is_ascii_alphanumeric()),
                "{}: {s:?} is not the documented shape",
                shape.what
            );
            for (pos, b) in part.bytes().enumerate() {
                let i = index[usize::from(b)];
                assert!(i < k, "{}: {s:?} is not the documented shape", shape.what);
                per_position[pos][i] += 1;
                overall[i] += 1;
            }
            assert!(seen.insert(s), "{}: a repeat", shape.what);
        }
        draws_total += DRAWS;
        let df = (k - 1) as f64;
        for (pos, counts) in per_position.iter().enumerate() {
            let x2 = chi_square(counts);
            assert!(
                x2 < loose_bound(df),
                "{}: character {pos} is biased: chi-square {x2:.0} with {df} degrees of freedom",
                shape.what
            );
        }
        let x2 = chi_square(&overall);
        assert!(
            x2 < loose_bound(df),
            "{}: the characters are biased overall: chi-square {x2:.0}",
            shape.what
        );
    }
    eprintln!("unguessability: {draws_total} credentials drawn, no repeat, no bias found");
}

#[test]
fn the_chi_square_bound_catches_a_modulo_biased_or_a_stuck_generator() {
    // The check above must be able to fail: the classic `random byte % 62` bias and a position
    // that never changes both exceed the bound.
    let mut biased = vec![0u64; 62];
    for b in 0..=255u32 {
        biased[(b % 62) as usize] += DRAWS as u64 / 256;
    }
    assert!(
        chi_square(&biased) > loose_bound(61.0),
        "{}",
        chi_square(&biased)
    );
    let mut stuck = vec![0u64; 16];
    stuck[3] = DRAWS as u64;
    assert!(chi_square(&stuck) > loose_bound(15.0));
}

fn check_shape(
    what: &str,
    value: &Value,
    prefix: &'static str,
    len: usize,
    alphabet: &'static str,
) -> String {
    let s = value
        .as_str()
        .unwrap_or_else(|| panic!("{what}: {value}"))
        .to_string();
    let shape = Shape {
        what: "",
        prefix,
        len,
        alphabet,
        clock: 0,
    };
    assert!(
        random_part(&shape, &s).is_some(),
        "{what}: {s:?} is not {prefix}+{len} of {alphabet}"
    );
    s
}

#[tokio::test]
async fn credentials_issued_over_http_have_the_documented_length_and_alphabet_and_are_fresh_each_time(
) {
    let app = spawn_app().await;
    let mut issued = HashSet::new();
    let mut fresh = |s: String| assert!(issued.insert(s.clone()), "issued twice: {s}");

    let (secret, vt) = app.component_credentials(C).await;
    fresh(check_shape("appsecret", &json!(secret), "", 32, HEX));
    fresh(check_shape(
        "verify ticket",
        &json!(vt),
        "ticket@@@",
        43,
        ALNUM,
    ));
    let c = app
        .sandbox_ok("GET", &format!("/components/{C}"), None)
        .await;
    fresh(check_shape(
        "encoding_aes_key",
        &c["encoding_aes_key"],
        "",
        43,
        ALNUM,
    ));
    let mut ct = String::new();
    for _ in 0..20 {
        ct = check_shape(
            "component_access_token",
            &json!(app.component_token(C).await),
            "",
            86,
            ALNUM,
        );
        fresh(ct.clone());
    }
    for _ in 0..20 {
        let v = app
            .post(
                &format!("/cgi-bin/component/api_create_preauthcode?component_access_token={ct}"),
                &json!({"component_appid": C}),
            )
            .await;
        fresh(check_shape(
            "pre_auth_code",
            &v["pre_auth_code"],
            "preauthcode@@@",
            43,
            ALNUM,
        ));
    }
    let a = app
        .sandbox_ok(
            "POST",
            "/authorizations",
            Some(
                &json!({"component_appid": C, "authorizer_appid": OA, "permission_sets": [1, 27]}),
            ),
        )
        .await;
    let auth_code = check_shape("auth_code", &a["auth_code"], "queryauthcode@@@", 43, ALNUM);
    fresh(auth_code.clone());
    let info = &app.query_auth(&ct, C, &auth_code).await["authorization_info"];
    let oat = check_shape(
        "authorizer_access_token",
        &info["authorizer_access_token"],
        "",
        86,
        ALNUM,
    );
    fresh(oat.clone());
    fresh(check_shape(
        "authorizer_refresh_token",
        &info["authorizer_refresh_token"],
        "refreshtoken@@@",
        43,
        ALNUM,
    ));
    for _ in 0..20 {
        let ticket = check_shape(
            "fastregister ticket",
            &json!(app.confirm(C, OA, 1).await),
            "",
            32,
            HEX,
        );
        fresh(ticket);
    }
    let ticket = app.confirm(C, OA, 1).await;
    let reg = app.fastregister(&oat, &ticket).await;
    fresh(check_shape(
        "authorization_code",
        &reg["authorization_code"],
        "queryauthcode@@@",
        43,
        ALNUM,
    ));
}

// ---------------------------------------------------------------------------------------------
// (c) redirect_uri stays on the component's auth domain
// ---------------------------------------------------------------------------------------------

/// Hostile redirect URIs for the demo component, whose auth domain is `localhost`: other hosts,
/// userinfo and path tricks, schemes that run code, backslashes (browsers read `\` as `/`,
/// other clients do not), a missing `//` (browsers accept `https:evil.com`), look-alike hosts,
/// encodings, whitespace and header injection.
const REFUSED: &[&str] = &[
    "https://evil.com/cb",
    "http://evil.com",
    "https://localhost@evil.com/cb",
    "https://localhost:443@evil.com/cb",
    "https://user:pass@evil.com/cb",
    "https://evil.com/localhost",
    "https://evil.com?https://localhost/",
    "https://evil.com#https://localhost/",
    "https://localhost.evil.com/cb",
    "https://LOCALHOST.evil.com/cb",
    "https://evillocalhost/cb",
    "https://sub.localhost/cb",
    "https://localhost./cb",
    "https://localhost:8080.evil.com/cb",
    "https://localhost%2eevil.com/cb",
    "https://localhost%252eevil.com/cb",
    "https://%65vil.com/cb",
    "https://evil\u{3002}com/cb",
    "https://\u{217c}ocalhost.evil.com/cb",
    "https://xn--localhost-9n3d.com/cb",
    "https://127.0.0.1/cb",
    "https://[::1]/cb",
    "https://0x7f000001/cb",
    "https://2130706433/cb",
    "//evil.com/cb",
    "//localhost/cb",
    "///evil.com",
    "/cb",
    "cb",
    "localhost/cb",
    "evil.com",
    "javascript:alert(document.domain)//localhost",
    "javascript://localhost/%0aalert(1)",
    "JaVaScRiPt://localhost/%0aalert(1)",
    "data:text/html,<script>alert(1)</script>",
    "data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==",
    "vbscript:msgbox(1)",
    "file://localhost/etc/passwd",
    "ftp://localhost/cb",
    "ws://localhost/cb",
    "https:\\\\evil.com\\cb",
    "https:/\\evil.com/cb",
    "https:\\/evil.com/cb",
    "https://evil.com\\@localhost/cb",
    "https://localhost\\@evil.com/cb",
    "https://localhost\\.evil.com/cb",
    "https:evil.com/cb",
    "https:localhost/cb",
    "https:/localhost/cb",
    "https:///localhost/cb",
    " https://evil.com/cb",
    "\thttps://localhost/cb",
    "https://local\thost/cb",
    "https://evil.com\t@localhost/cb",
    "https://localhost/cb\r\nLocation: https://evil.com/",
    "https://localhost/cb\nSet-Cookie: session=evil",
    "https://localhost/\u{0}",
    "https://localhost\u{0}.evil.com/cb",
    "https://localhost%00.evil.com/cb",
    "https://localhost/cb\u{85}",
];

/// Redirect URIs on the auth domain that must work, whose Location must then name `localhost`
/// for every reader: browsers (WHATWG, the `url` crate) and a plain RFC 3986 split.
const ACCEPTED: &[&str] = &[
    "https://localhost/cb",
    "http://localhost/cb?from=test",
    "https://LOCALHOST/cb",
    "HTTPS://LocalHost/cb",
    "https://localhost:8443/cb",
    "https://user:pw@localhost/cb",
    "https://evil.com@localhost/cb",
    "https://evil.com%2F@localhost/cb",
    "https://localhost/cb#@evil.com",
    "https://localhost/%2F%2Fevil.com",
    "https://localhost//evil.com/cb",
    "https://localhost/cb?next=https://evil.com/",
    "https://%6c%6f%63%61%6c%68%6f%73%74/cb",
    "https://\u{ff4c}\u{ff4f}\u{ff43}\u{ff41}\u{ff4c}\u{ff48}\u{ff4f}\u{ff53}\u{ff54}/cb",
    "https://localhost/\u{4e2d}\u{6587}?q=\u{1f600}",
];

/// The host a plain RFC 3986 reader takes from a Location: between `//` and the next `/`, `?`
/// or `#`, after the last `@`, without a port; normalised like a host (percent-decoding, IDNA).
fn rfc3986_host(location: &str) -> Option<String> {
    let (_, rest) = location.split_once("://")?;
    let authority = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = match host_port.rsplit_once(':') {
        Some((h, p)) if p.chars().all(|c| c.is_ascii_digit()) => h,
        _ => host_port,
    };
    url::Host::parse(host).ok().map(|h| h.to_string())
}

fn fast_register_link(redirect: &str) -> String {
    let q: String = form_urlencoded::Serializer::new(String::new())
        .extend_pairs([
            ("appid", OA),
            ("component_appid", C),
            ("copy_wx_verify", "1"),
            ("redirect_uri", redirect),
        ])
        .finish();
    format!("/cgi-bin/fastregisterauth?{q}")
}

fn login_pairs<'a>(code: &'a str, redirect: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("component_appid", C),
        ("pre_auth_code", code),
        ("redirect_uri", redirect),
        ("auth_type", "1"),
        ("biz_appid", OA),
    ]
}

fn login_link(code: &str, redirect: &str) -> String {
    let q: String = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(login_pairs(code, redirect))
        .finish();
    format!("/cgi-bin/componentloginpage?{q}")
}

#[tokio::test]
async fn hostile_redirect_uris_are_refused_with_61060_on_both_pages_and_the_sandbox_api_and_never_redirect(
) {
    let app = spawn_app().await;
    let code = pre_auth_code(&app).await;
    for uri in REFUSED {
        for (page, link) in [
            ("fastregisterauth", fast_register_link(uri)),
            ("componentloginpage", login_link(&code, uri)),
        ] {
            let (status, headers, html) = get(&app, &link).await;
            assert!(
                (400..500).contains(&status),
                "{page} {uri:?}: HTTP {status}"
            );
            assert!(headers.get("location").is_none(), "{page} {uri:?}");
            assert_eq!(errcode_on_page(&html), 61060, "{page} {uri:?}");
        }
        let got = app
            .sandbox(
                "POST",
                "/fastregister-confirmations",
                Some(
                    &json!({"component_appid": C, "appid": OA, "copy_wx_verify": 1,
                             "redirect_uri": uri}),
                ),
            )
            .await;
        assert_sandbox_refused(&got, 403, 61060);
    }
    // The pre_auth_code was never spent by a refusal.
    let (status, _, _) = get(&app, &login_link(&code, "https://localhost/cb")).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn redirects_after_confirming_either_page_go_to_the_auth_domain_for_browsers_and_other_clients(
) {
    let app = spawn_app().await;
    for uri in ACCEPTED {
        // fastregisterauth, confirmed.
        let (status, _, html) = get(&app, &fast_register_link(uri)).await;
        assert_eq!(status, 200, "fastregisterauth {uri:?}");
        let resp = no_redirects()
            .post(format!("{}/cgi-bin/fastregisterauth/confirm", app.base))
            .form(&[
                ("appid", OA),
                ("component_appid", C),
                ("copy_wx_verify", "1"),
                ("redirect_uri", uri),
                ("csrf", &csrf(&html)),
            ])
            .send()
            .await
            .unwrap();
        let fast_register = (
            resp.status().as_u16(),
            resp.headers().get("location").cloned(),
        );
        // componentloginpage, confirmed.
        let code = pre_auth_code(&app).await;
        let (status, _, html) = get(&app, &login_link(&code, uri)).await;
        assert_eq!(status, 200, "componentloginpage {uri:?}");
        let token = csrf(&html);
        let mut form = login_pairs(&code, uri);
        form.extend([("set", "1"), ("set", "27"), ("csrf", &token)]);
        let resp = no_redirects()
            .post(format!("{}/cgi-bin/componentloginpage/confirm", app.base))
            .form(&form)
            .send()
            .await
            .unwrap();
        let login = (
            resp.status().as_u16(),
            resp.headers().get("location").cloned(),
        );

        for (page, (status, location), param) in [
            ("fastregisterauth", fast_register, "ticket"),
            ("componentloginpage", login, "auth_code"),
        ] {
            assert_eq!(status, 302, "{page} {uri:?}");
            let location = String::from_utf8(location.expect("a Location").as_bytes().to_vec())
                .expect("UTF-8 Location");
            let parsed = url::Url::parse(&location).expect("an absolute URL");
            assert_eq!(parsed.host_str(), Some("localhost"), "{page} {location:?}");
            assert_eq!(
                rfc3986_host(&location).as_deref(),
                Some("localhost"),
                "{page} {location:?}"
            );
            assert!(
                parsed.query_pairs().any(|(k, _)| k == param),
                "{page} {location:?} carries its {param}"
            );
        }
    }
}
