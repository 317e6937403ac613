//! Hostile input as properties, over every route of the router: random bytes, truncated JSON,
//! wrong types, huge numbers, odd unicode, bodies over the limit, missing, repeated, empty or
//! garbled query parameters, any method. Whatever arrives, the answer is never a 5xx, has the
//! documented shape (WeChat's errcode JSON, the sandbox API's errcode JSON, an HTML page that
//! shows its errcode and never redirects), never hides an internal fault (-1) behind bad input,
//! and the platform keeps serving.
//!
//! Each test spawns one platform and lets proptest draw the requests. Every test prints how many
//! requests it sent (`cargo test --test api hostile -- --nocapture`).

use std::sync::atomic::{AtomicU64, Ordering};

use proptest::prelude::*;
use proptest::sample::select;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use serde_json::{json, Value};

use super::helpers::*;

const WX_CT: &str = "application/json; encoding=utf-8";
const CB: &str = "https://localhost/cb?from=test";

/// Requests sent by all the tests of this module, for the summary line each prints.
static TRIED: AtomicU64 = AtomicU64::new(0);

/// Every WeChat-compatible JSON endpoint, with the query names it reads, the body fields it
/// reads and, for the token endpoints, the field a success carries instead of an errcode.
struct WxEndpoint {
    path: &'static str,
    token: Token,
    fields: Vec<(&'static str, String)>,
    success_key: Option<&'static str>,
}

#[derive(Clone, Copy)]
enum Token {
    None,
    Component,
    Oa,
    MiniProgram,
}

/// What a test needs to build valid requests, so that mutations of them reach deep checks.
struct World {
    ct: String,
    oat: String,
    mpt: String,
    secret: String,
    verify_ticket: String,
    refresh: String,
    pre_auth_code: String,
}

/// The runtime, the platform and a valid world, set up once per test.
struct Harness {
    rt: tokio::runtime::Runtime,
    app: TestApp,
    world: World,
    client: reqwest::Client,
    /// Hostile requests sent (the health checks after them not counted).
    hostile: AtomicU64,
}

fn harness() -> Harness {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    let (app, world) = rt.block_on(async {
        let app = spawn_app().await;
        let ct = app.component_token(C).await;
        let (oat, refresh) = app.authorize(&ct, C, OA, &[1, 15, 27]).await;
        let ticket = app.confirm(C, OA, 1).await;
        let reg = app.fastregister(&oat, &ticket).await;
        let mp = app
            .query_auth(&ct, C, reg["authorization_code"].as_str().expect("a code"))
            .await;
        let mpt = mp["authorization_info"]["authorizer_access_token"]
            .as_str()
            .expect("an MP token")
            .to_string();
        let (secret, verify_ticket) = app.component_credentials(C).await;
        let pre_auth_code = app
            .post(
                &format!("/cgi-bin/component/api_create_preauthcode?component_access_token={ct}"),
                &json!({"component_appid": C}),
            )
            .await["pre_auth_code"]
            .as_str()
            .expect("a pre_auth_code")
            .to_string();
        let world = World {
            ct,
            oat,
            mpt,
            secret,
            verify_ticket,
            refresh,
            pre_auth_code,
        };
        (app, world)
    });
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("a client");
    Harness {
        rt,
        app,
        world,
        client,
        hostile: AtomicU64::new(0),
    }
}

fn runner(cases: u32) -> TestRunner {
    TestRunner::new(Config {
        cases,
        max_shrink_iters: 256,
        failure_persistence: None,
        ..Config::default()
    })
}

/// One request as drawn.
#[derive(Clone)]
struct Req {
    method: String,
    path_and_query: String,
    headers: Vec<(&'static str, String)>,
    body: Vec<u8>,
}

/// Short enough to read in a failure report.
impl std::fmt::Debug for Req {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let cut = |s: &str| s.chars().take(300).collect::<String>();
        write!(
            f,
            "{} {} {:?} body ({} bytes) {:?}",
            self.method,
            cut(&self.path_and_query),
            self.headers
                .iter()
                .map(|(k, v)| format!("{k}: {}", cut(v)))
                .collect::<Vec<_>>(),
            self.body.len(),
            cut(&String::from_utf8_lossy(&self.body))
        )
    }
}

/// What came back.
struct Resp {
    status: u16,
    content_type: String,
    location: Option<String>,
    set_cookie: bool,
    body: Vec<u8>,
}

impl Resp {
    fn text(&self) -> String {
        let t = String::from_utf8_lossy(&self.body);
        t.chars().take(300).collect()
    }
}

impl Harness {
    /// Sends a hostile request.
    fn send(&self, req: &Req) -> Result<Resp, TestCaseError> {
        self.hostile.fetch_add(1, Ordering::Relaxed);
        TRIED.fetch_add(1, Ordering::Relaxed);
        self.send_good(req)
    }

    fn send_good(&self, req: &Req) -> Result<Resp, TestCaseError> {
        self.rt.block_on(async {
            let method = reqwest::Method::from_bytes(req.method.as_bytes())
                .map_err(|e| TestCaseError::fail(format!("method {}: {e}", req.method)))?;
            let mut r = self
                .client
                .request(method, format!("{}{}", self.app.base, req.path_and_query));
            for (k, v) in &req.headers {
                r = r.header(*k, v.as_str());
            }
            let resp = r
                .body(req.body.clone())
                .send()
                .await
                .map_err(|e| TestCaseError::fail(format!("no answer (did it crash?): {e}")))?;
            let header = |name: &str| {
                resp.headers()
                    .get(name)
                    .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            };
            let (status, content_type, location, set_cookie) = (
                resp.status().as_u16(),
                header("content-type").unwrap_or_default(),
                header("location"),
                resp.headers().contains_key("set-cookie"),
            );
            let body = resp
                .bytes()
                .await
                .map_err(|e| TestCaseError::fail(format!("body cut off: {e}")))?
                .to_vec();
            Ok(Resp {
                status,
                content_type,
                location,
                set_cookie,
                body,
            })
        })
    }

    /// A good request after each hostile one: the platform still reads its store and answers.
    fn still_healthy(&self) -> Result<(), TestCaseError> {
        let r = self.send_good(&Req {
            method: "GET".into(),
            path_and_query: format!("/sandbox/v1/components/{C}"),
            headers: vec![("authorization", format!("Bearer {ADMIN}"))],
            body: vec![],
        })?;
        let v: Value = serde_json::from_slice(&r.body).unwrap_or(Value::Null);
        if r.status != 200 || v["appid"] != C {
            return Err(TestCaseError::fail(format!(
                "the platform stopped serving: HTTP {} {}",
                r.status,
                r.text()
            )));
        }
        Ok(())
    }

    fn run<S: Strategy>(
        &self,
        what: &str,
        cases: u32,
        strategy: S,
        check: impl Fn(&S::Value) -> Result<(), TestCaseError>,
    ) where
        S::Value: std::fmt::Debug,
    {
        let result = runner(cases).run(&strategy, |input| {
            check(&input)?;
            self.still_healthy()
        });
        if let Err(e) = result {
            panic!("{what}: {e}");
        }
    }
}

fn fail<T>(req: &Req, resp: &Resp, why: impl std::fmt::Display) -> Result<T, TestCaseError> {
    Err(TestCaseError::fail(format!(
        "{} {} ({} body bytes) -> HTTP {} {:?}: {why}: {}",
        req.method,
        req.path_and_query.chars().take(200).collect::<String>(),
        req.body.len(),
        resp.status,
        resp.content_type,
        resp.text()
    )))
}

impl Harness {
    /// Prints how many hostile requests this test sent, each followed by a good one.
    fn report(&self, what: &str) {
        eprintln!(
            "hostile input: {what}: {} requests, each followed by a good one that succeeded; \
             {} so far in this module",
            self.hostile.load(Ordering::Relaxed),
            TRIED.load(Ordering::Relaxed)
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Strategies
// ---------------------------------------------------------------------------------------------

/// Strings people do not expect: NUL, bidi controls, BOM, emoji sequences, the last code
/// point, CJK, 10 000 characters, anything at all.
fn odd_string() -> BoxedStrategy<String> {
    prop_oneof![
        3 => any::<String>(),
        2 => select(vec![
            "\u{0}".to_string(),
            "a\u{0}b".into(),
            "\u{202e}lacol\u{202c}".into(),
            "\u{200f}\u{200e}\u{2066}".into(),
            "\u{feff}".into(),
            "😀👨‍👩‍👧‍👦🏳️‍🌈".into(),
            "\u{10ffff}\u{fffd}\u{fffe}".into(),
            "中文测试".into(),
            "\r\n\t ".into(),
            "' OR 1=1 --".into(),
            "<script>alert(1)</script>".into(),
            "é".repeat(10_000),
            "x".repeat(10_000),
        ]),
    ]
    .boxed()
}

/// JSON values of the wrong type, out of every integer range, or odd, as raw JSON text (some,
/// like 1e400 or u64::MAX + 1, have no serde_json::Value), and a few that are not JSON at all.
fn hostile_value() -> BoxedStrategy<String> {
    prop_oneof![
        4 => select(
            [
                "1e400", "-1e400", "1e-400", "18446744073709551616", "-9223372036854775809",
                "9223372036854775808", "340282366920938463463374607431768211456", "-0", "-0.0",
                "0.5", "1.5", "0", "-1", "1", "9007199254740993", "\"NaN\"", "\"Infinity\"",
                "\"-0\"", "\"1e400\"", "\"18446744073709551616\"", "NaN", "Infinity", "null",
                "true", "false", "[]", "{}", "[\"a\",1]", "{\"a\":{\"b\":[]}}", "\"\"",
                "\"\\ud800\"", "\"\\udfff\\ud800\"", "\"\\u0000\"", "\"\\u202e\\u200f\"",
                "\"\\uffff\"", "'single'", "undefined", "0x10", "01",
            ]
            .map(String::from)
            .to_vec()
        ),
        1 => any::<i64>().prop_map(|n| n.to_string()),
        1 => any::<f64>().prop_map(|f| serde_json::to_string(&f).expect("f64 to JSON")),
        1 => "[1-9][0-9]{19,400}",
        3 => odd_string().prop_map(|s| serde_json::to_string(&s).expect("string to JSON")),
    ]
    .boxed()
}

/// A JSON object from (already quoted key, raw value) pairs.
fn object(fields: &[(String, String)]) -> Vec<u8> {
    let inner: Vec<String> = fields.iter().map(|(k, v)| format!("{k}:{v}")).collect();
    format!("{{{}}}", inner.join(",")).into_bytes()
}

/// Bodies for an endpoint whose valid body has `fields` (name, valid raw JSON value).
fn hostile_body(fields: Vec<(&'static str, String)>, limit: usize) -> BoxedStrategy<Vec<u8>> {
    let fields: Vec<(String, String)> = fields.into_iter().map(|(k, v)| (q(k), v)).collect();
    let valid = object(&fields);
    let n = fields.len();
    let mistyped_fields = fields.clone();
    let extra_fields = fields;
    prop_oneof![
        // Random bytes.
        2 => proptest::collection::vec(any::<u8>(), 0..512),
        // A valid body cut off anywhere (also inside a UTF-8 sequence).
        2 => (0..valid.len()).prop_map(move |cut| valid[..cut].to_vec()),
        // Each field dropped, kept, or replaced by a hostile value.
        5 => proptest::collection::vec((0u8..4, hostile_value()), n..=n).prop_map(
            move |choices| {
                let fields: Vec<(String, String)> = mistyped_fields
                    .iter()
                    .zip(choices)
                    .filter_map(|((k, good), (choice, bad))| match choice {
                        0 => None,
                        1 => Some((k.clone(), good.clone())),
                        _ => Some((k.clone(), bad)),
                    })
                    .collect();
                object(&fields)
            }
        ),
        // Unknown, odd and repeated field names.
        1 => proptest::collection::vec((odd_string(), hostile_value()), 1..6).prop_map(
            move |extra| {
                let mut fields = extra_fields.clone();
                fields.extend(extra.into_iter().map(|(k, v)| (q(&k), v)));
                if let Some(first) = fields.first().cloned() {
                    fields.push(first);
                }
                object(&fields)
            }
        ),
        // Whole documents that are not what anyone expects.
        2 => select(vec![
            Vec::new(),
            b" \r\n\t".to_vec(),
            b"null".to_vec(),
            b"[]".to_vec(),
            b"[{}]".to_vec(),
            b"\"{}\"".to_vec(),
            b"{}".to_vec(),
            b"{}{}".to_vec(),
            b"\xef\xbb\xbf{}".to_vec(),
            b"\xff\xfe{\x00}\x00".to_vec(),
            b"{\"a\":\"\xc0\x80\"}".to_vec(),
            b"{\"a\":1e400}".to_vec(),
            "[".repeat(10_000).into_bytes(),
            "{\"a\":".repeat(10_000).into_bytes(),
            b"<xml><ticket>x</ticket></xml>".to_vec(),
            b"ticket=x&component_appid=y".to_vec(),
        ]),
        // Bodies at, just over and far over the size limit.
        1 => select(vec![limit, limit + 1, 2 * limit + 7]).prop_map(|len| {
            let mut b = br#"{"ticket":""#.to_vec();
            b.resize(len.saturating_sub(2), b'a');
            b.extend(br#""}"#);
            b
        }),
    ]
    .boxed()
}

/// Percent-encodes anything for a query value or path segment.
fn encode(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// Percent-encodes for a URL, at most 12 000 characters (several long values must still fit the
/// client's 64 KiB URI limit); the cut may leave a broken escape, which is hostile too.
fn encode_for_url(s: &str) -> String {
    let mut e = encode(s);
    e.truncate(12_000);
    e
}

/// Query values: valid ones, empty, percent-encoded oddities, broken percent-encoding, 10 000
/// characters.
fn query_value(good: Vec<String>) -> BoxedStrategy<String> {
    let good = if good.is_empty() {
        vec!["x".to_string()]
    } else {
        good
    };
    prop_oneof![
        3 => select(good).prop_map(|g| encode(&g)),
        1 => Just(String::new()),
        2 => odd_string().prop_map(|s| encode_for_url(&s)),
        2 => select(
            ["%", "%z", "%zz", "%ff%fe", "%e4%b8", "%00", "%C0%80", "%ED%A0%80", "+", "%2B%2b", "a=b=c", "%%%", "%25"]
                .map(String::from)
                .to_vec()
        ),
        1 => proptest::collection::vec(any::<u8>(), 0..64)
            .prop_map(|b| b.iter().map(|x| format!("%{x:02x}")).collect::<String>()),
    ]
    .boxed()
}

/// A query string: the given names (valid values sometimes), any number of times (missing,
/// repeated), in any order, plus names nobody reads and stray separators.
fn hostile_query(names: Vec<&'static str>, good: Vec<String>) -> BoxedStrategy<String> {
    let mut all_names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    all_names.extend(["", "%", "x", "access_token%00", "ACCESS_TOKEN"].map(String::from));
    prop_oneof![
        1 => Just(String::new()),
        6 => (
            proptest::collection::vec((select(all_names), query_value(good)), 0..4),
            select(["", "&", "&&", "=", "&=", "#frag", "&access_token", "&access_token=", ";access_token=x", "?"].map(String::from).to_vec()),
        )
            .prop_map(|(pairs, tail)| {
                let q: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect();
                format!("?{}{tail}", q.join("&"))
            }),
    ]
    .boxed()
}

/// A method: mostly `usual`, otherwise any standard or made-up one.
fn hostile_method(usual: &'static str) -> BoxedStrategy<String> {
    prop_oneof![
        3 => Just(usual.to_string()),
        2 => select(
            ["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "TRACE", "PURGE", "FOO", "M-SEARCH"]
                .map(String::from)
                .to_vec()
        ),
    ]
    .boxed()
}

fn hostile_content_type() -> BoxedStrategy<Vec<(&'static str, String)>> {
    select(vec![
        vec![],
        vec![("content-type", "application/json".to_string())],
        vec![("content-type", "application/x-www-form-urlencoded".into())],
        vec![("content-type", "text/xml; charset=gbk".into())],
        vec![("content-type", "multipart/form-data; boundary=--x".into())],
        vec![("content-type", "application/json; charset=utf-16".into())],
        vec![("content-type", "???".into())],
        vec![("content-encoding", "gzip".into())],
    ])
    .boxed()
}

/// A path segment: valid, or anything percent-encoded (invalid UTF-8 and NUL included).
fn hostile_segment(good: &'static str) -> BoxedStrategy<String> {
    prop_oneof![
        2 => Just(good.to_string()),
        2 => odd_string().prop_map(|s| encode_for_url(&s)),
        1 => proptest::collection::vec(any::<u8>(), 1..32)
            .prop_map(|b| b.iter().map(|x| format!("%{x:02x}")).collect::<String>()),
        1 => select(
            ["%", "%zz", "%00", "0", "-1", "99999999999999999999", "1e3", &"x".repeat(10_000)]
                .map(String::from)
                .to_vec()
        ),
    ]
    .boxed()
}

// ---------------------------------------------------------------------------------------------
// Checks
// ---------------------------------------------------------------------------------------------

/// Whether an errmsg ends in ` rid: xxxxxxxx-xxxxxxxx-xxxxxxxx`.
fn has_rid(msg: &str) -> bool {
    msg.rsplit_once(" rid: ").is_some_and(|(_, rid)| {
        let groups: Vec<&str> = rid.split('-').collect();
        groups.len() == 3
            && groups
                .iter()
                .all(|g| g.len() == 8 && g.chars().all(|c| matches!(c, '0'..='9' | 'a'..='f')))
    })
}

/// An errcode answer: a JSON object with an integer errcode other than 0 and -1 (a -1 to bad
/// input is an internal fault) and an errmsg ending in a rid.
fn check_errcode_json(req: &Req, resp: &Resp) -> Result<i64, TestCaseError> {
    if resp.content_type != WX_CT {
        return fail(req, resp, "not WeChat's JSON content type");
    }
    if req.method == "HEAD" {
        // No body to read.
        return Ok(0);
    }
    let v: Value = match serde_json::from_slice(&resp.body) {
        Ok(v) => v,
        Err(e) => return fail(req, resp, format!("not JSON: {e}")),
    };
    let Some(code) = v.get("errcode").and_then(Value::as_i64) else {
        return fail(req, resp, "no integer errcode");
    };
    let msg = v.get("errmsg").and_then(Value::as_str).unwrap_or_default();
    if code == 0 || code == -1 {
        return fail(req, resp, format!("errcode {code} for a refusal"));
    }
    if !has_rid(msg) {
        return fail(req, resp, "errmsg without a rid");
    }
    Ok(code)
}

/// A WeChat-compatible endpoint's answer: HTTP 200, WeChat's content type, and either an
/// errcode JSON or (token endpoints only) the success object.
fn check_wechat(ep: &WxEndpoint, req: &Req, resp: &Resp) -> Result<(), TestCaseError> {
    if resp.status != 200 {
        return fail(req, resp, "a WeChat-compatible endpoint answers HTTP 200");
    }
    if resp.content_type != WX_CT {
        return fail(req, resp, "not WeChat's JSON content type");
    }
    if req.method == "HEAD" {
        return Ok(());
    }
    let v: Value = match serde_json::from_slice(&resp.body) {
        Ok(v) => v,
        Err(e) => return fail(req, resp, format!("not JSON: {e}")),
    };
    match v.get("errcode") {
        Some(code) => {
            let Some(code) = code.as_i64() else {
                return fail(req, resp, "errcode is not an integer");
            };
            if v.get("errmsg").and_then(Value::as_str).is_none() {
                return fail(req, resp, "no errmsg");
            }
            if code != 0 {
                check_errcode_json(req, resp)?;
            }
            Ok(())
        }
        None => match ep.success_key {
            Some(key) if v.get(key).is_some() => Ok(()),
            _ => fail(req, resp, "neither an errcode nor the endpoint's success"),
        },
    }
}

fn errcode_on_page(html: &str) -> Option<i64> {
    let start = html.find(r#"class="code">"#)? + r#"class="code">"#.len();
    html[start..start + html[start..].find('<')?].parse().ok()
}

/// A page's answer to a hostile request: with one of the page's `methods`, 200 (when
/// `allow_ok`) or a 4xx HTML page that shows its errcode; with another method, 405 in the
/// errcode shape. Never a redirect.
fn check_page(
    req: &Req,
    resp: &Resp,
    methods: &[&str],
    allow_ok: bool,
) -> Result<(), TestCaseError> {
    if resp.location.is_some() || (300..400).contains(&resp.status) {
        return fail(
            req,
            resp,
            "a page answered a hostile request with a redirect",
        );
    }
    if !methods.contains(&req.method.as_str()) {
        if resp.status != 405 {
            return fail(req, resp, "another method on a page is 405");
        }
        return check_errcode_json(req, resp).map(drop);
    }
    if !resp.content_type.starts_with("text/html") {
        return fail(req, resp, "not an HTML page");
    }
    match resp.status {
        200 if allow_ok => Ok(()),
        400..=499 if req.method == "HEAD" => Ok(()),
        400..=499 => match errcode_on_page(&String::from_utf8_lossy(&resp.body)) {
            Some(code) if code > 0 => Ok(()),
            other => fail(req, resp, format!("the error page shows errcode {other:?}")),
        },
        _ => fail(req, resp, "expected a 4xx error page"),
    }
}

// ---------------------------------------------------------------------------------------------
// The WeChat-compatible endpoints
// ---------------------------------------------------------------------------------------------

fn q(s: &str) -> String {
    serde_json::to_string(s).expect("string to JSON")
}

fn wx_endpoints(w: &World) -> Vec<WxEndpoint> {
    let c = || ("component_appid", q(C));
    vec![
        WxEndpoint {
            path: "/cgi-bin/component/api_component_token",
            token: Token::None,
            fields: vec![
                c(),
                ("component_appsecret", q(&w.secret)),
                ("component_verify_ticket", q(&w.verify_ticket)),
            ],
            success_key: Some("component_access_token"),
        },
        WxEndpoint {
            path: "/cgi-bin/component/api_start_push_ticket",
            token: Token::None,
            fields: vec![c(), ("component_secret", q(&w.secret))],
            success_key: None,
        },
        WxEndpoint {
            path: "/cgi-bin/component/api_create_preauthcode",
            token: Token::Component,
            fields: vec![c()],
            success_key: Some("pre_auth_code"),
        },
        WxEndpoint {
            path: "/cgi-bin/component/api_query_auth",
            token: Token::Component,
            fields: vec![
                c(),
                (
                    "authorization_code",
                    q("queryauthcode@@@0000000000000000000000000000000000000000000"),
                ),
            ],
            success_key: Some("authorization_info"),
        },
        WxEndpoint {
            path: "/cgi-bin/component/api_authorizer_token",
            token: Token::Component,
            fields: vec![
                c(),
                ("authorizer_appid", q(OA)),
                ("authorizer_refresh_token", q(&w.refresh)),
            ],
            success_key: Some("authorizer_access_token"),
        },
        WxEndpoint {
            path: "/cgi-bin/component/api_get_authorizer_info",
            token: Token::Component,
            fields: vec![c(), ("authorizer_appid", q(OA))],
            success_key: None,
        },
        WxEndpoint {
            path: "/cgi-bin/component/api_get_authorizer_list",
            token: Token::Component,
            fields: vec![c(), ("offset", "0".into()), ("count", "10".into())],
            success_key: None,
        },
        WxEndpoint {
            path: "/cgi-bin/account/fastregister",
            token: Token::Oa,
            fields: vec![("ticket", q("0123456789abcdef0123456789abcdef"))],
            success_key: None,
        },
        WxEndpoint {
            path: "/cgi-bin/wxopen/wxamplinkget",
            token: Token::Oa,
            fields: vec![],
            success_key: None,
        },
        WxEndpoint {
            path: "/cgi-bin/account/getaccountbasicinfo",
            token: Token::MiniProgram,
            fields: vec![],
            success_key: None,
        },
    ]
}

#[test]
fn hostile_requests_to_the_wechat_endpoints_always_get_http_200_and_an_errcode_json() {
    let h = harness();
    let limit = h.app.state.settings.max_body_bytes;
    for ep in wx_endpoints(&h.world) {
        let (names, good): (Vec<&'static str>, Vec<String>) = match ep.token {
            Token::None => (vec!["component_access_token", "access_token"], vec![]),
            Token::Component => (
                vec!["component_access_token", "access_token"],
                vec![h.world.ct.clone(), h.world.oat.clone()],
            ),
            Token::Oa => (
                vec!["access_token", "component_access_token"],
                vec![h.world.oat.clone(), h.world.ct.clone()],
            ),
            Token::MiniProgram => (
                vec!["access_token"],
                vec![h.world.mpt.clone(), h.world.oat.clone()],
            ),
        };
        let usual = if ep.path.ends_with("getaccountbasicinfo") {
            "GET"
        } else {
            "POST"
        };
        let path = ep.path;
        let strategy = (
            hostile_method(usual),
            hostile_query(names, good),
            hostile_content_type(),
            hostile_body(ep.fields.clone(), limit),
        )
            .prop_map(move |(method, query, headers, body)| Req {
                method,
                path_and_query: format!("{path}{query}"),
                headers,
                body,
            });
        h.run(ep.path, 512, strategy, |req| {
            let resp = h.send(req)?;
            check_wechat(&ep, req, &resp)
        });
    }
    // After all that, the whole flow still works.
    h.rt.block_on(async {
        let oat = h.app.oa_token(OA).await;
        let ticket = h.app.confirm(C, OA, 1).await;
        let v = h.app.fastregister(&oat, &ticket).await;
        assert_eq!(v["errcode"], 0, "{v}");
    });
    h.report("WeChat-compatible endpoints");
}

// ---------------------------------------------------------------------------------------------
// The sandbox API
// ---------------------------------------------------------------------------------------------

/// A sandbox route: method, path (`{}` for its parameter), the parameter's valid value, the
/// fields of a valid body.
type Route = (
    &'static str,
    &'static str,
    &'static str,
    Vec<(&'static str, String)>,
);

/// Every sandbox route of http/sandbox/.
fn sandbox_routes() -> Vec<Route> {
    let fr = "/cgi-bin/account/fastregister";
    vec![
        (
            "POST",
            "/components",
            "",
            vec![
                ("auth_domain", q("localhost")),
                ("published", "true".into()),
                ("permission_sets", "[1,27]".into()),
                ("mp_permission_sets", "[17]".into()),
                ("ip_whitelist", "[]".into()),
                ("appid", q("wxhostile0000001")),
            ],
        ),
        ("GET", "/components", "", vec![]),
        ("GET", "/components/{}", C, vec![]),
        (
            "PATCH",
            "/components/{}",
            C,
            vec![
                ("published", "true".into()),
                ("auth_domain", q("localhost")),
                ("permission_sets", "[1,2,3,4,7,11,15,17,18,27,30,31]".into()),
            ],
        ),
        ("GET", "/components/{}/verify-ticket", C, vec![]),
        ("GET", "/components/{}/token-counts", C, vec![]),
        (
            "POST",
            "/entities",
            "",
            vec![
                ("name", q("Hostile Co.")),
                ("type", q("enterprise")),
                ("overseas", "false".into()),
                ("mini_program_cap", "null".into()),
            ],
        ),
        ("GET", "/entities", "", vec![]),
        ("GET", "/entities/{}", "1", vec![]),
        (
            "PATCH",
            "/entities/{}",
            "1",
            vec![("blacklisted", "false".into()), ("name", q("Acme"))],
        ),
        (
            "POST",
            "/official-accounts",
            "",
            vec![
                ("nickname", q("Hostile")),
                ("entity_id", "1".into()),
                ("verified", "true".into()),
            ],
        ),
        ("GET", "/official-accounts", "", vec![]),
        ("GET", "/official-accounts/{}", OA, vec![]),
        (
            "PATCH",
            "/official-accounts/{}",
            OA,
            vec![("verified", "true".into()), ("link_cap", "null".into())],
        ),
        (
            "POST",
            "/authorizations",
            "",
            vec![
                ("component_appid", q(C)),
                ("authorizer_appid", q(OA)),
                ("permission_sets", "[1,15,27]".into()),
            ],
        ),
        ("GET", "/authorizations", "", vec![]),
        (
            "POST",
            "/authorizations/revoke",
            "",
            vec![
                ("component_appid", q(C)),
                ("authorizer_appid", q(OA_PENDING)),
            ],
        ),
        ("GET", "/pushes", "", vec![]),
        (
            "POST",
            "/fastregister-confirmations",
            "",
            vec![
                ("component_appid", q(C)),
                ("appid", q(OA)),
                ("copy_wx_verify", "1".into()),
                ("redirect_uri", q(CB)),
            ],
        ),
        ("GET", "/registrations", "", vec![]),
        ("GET", "/clock", "", vec![]),
        ("POST", "/clock/advance", "", vec![("seconds", "60".into())]),
        (
            "POST",
            "/faults",
            "",
            vec![
                ("path", q(fr)),
                ("errcode", "61058".into()),
                ("times", "1".into()),
                ("when", q("before")),
            ],
        ),
        ("GET", "/faults", "", vec![]),
        ("DELETE", "/faults", "", vec![]),
        ("GET", "/config", "", vec![]),
        (
            "PATCH",
            "/config",
            "",
            vec![
                ("booleans", q("json")),
                ("rules", r#"{"monthly_quota":5}"#.into()),
            ],
        ),
    ]
}

/// The Authorization header: none, the admin token (also trimmed, lower-case scheme), or wrong.
fn hostile_authorization() -> BoxedStrategy<(Vec<(&'static str, String)>, bool)> {
    let ok = |v: String| (vec![("authorization", v)], true);
    let bad = |v: String| (vec![("authorization", v)], false);
    select(vec![
        ok(format!("Bearer {ADMIN}")),
        ok(format!("Bearer {ADMIN}")),
        ok(format!("Bearer {ADMIN}")),
        ok(format!("bearer  {ADMIN} ")),
        (vec![], false),
        bad("Bearer".into()),
        bad(format!("Basic {ADMIN}")),
        bad(format!("Bearer {ADMIN}x")),
        bad(format!("Bearer {}", &ADMIN[1..])),
        bad(format!("Bearer {ADMIN} {ADMIN}")),
    ])
    .boxed()
}

#[test]
fn hostile_requests_to_the_sandbox_api_get_a_4xx_errcode_json_or_a_success_never_a_5xx() {
    let h = harness();
    let limit = h.app.state.settings.max_body_bytes;
    for (method, template, param, fields) in sandbox_routes() {
        let segment = if param.is_empty() {
            Just(String::new()).boxed()
        } else {
            hostile_segment(param)
        };
        let strategy = (
            hostile_method(method),
            segment,
            hostile_query(
                vec!["limit", "appid", "component_appid"],
                vec!["10".into(), OA.into(), C.into()],
            ),
            hostile_authorization(),
            hostile_body(fields, limit),
        )
            .prop_map(move |(method, segment, query, (headers, _), body)| Req {
                method,
                path_and_query: format!("/sandbox/v1{}{query}", template.replace("{}", &segment)),
                headers,
                body,
            });
        h.run(template, 192, strategy, |req| {
            let resp = h.send(req)?;
            let authorised = req.headers.iter().any(|(k, v)| {
                *k == "authorization"
                    && (v
                        .strip_prefix("Bearer ")
                        .or_else(|| v.strip_prefix("bearer ")))
                    .is_some_and(|t| t.trim() == ADMIN)
            });
            if !authorised {
                if resp.status != 401 {
                    return fail(req, &resp, "no admin token, yet not 401");
                }
                let code = check_errcode_json(req, &resp)?;
                if req.method != "HEAD" && ![41001, 40001].contains(&code) {
                    return fail(req, &resp, "401 with another errcode than 41001 / 40001");
                }
                return Ok(());
            }
            match resp.status {
                200 | 201 | 204 if req.method == "HEAD" || resp.status == 204 => Ok(()),
                200 | 201 => match serde_json::from_slice::<Value>(&resp.body) {
                    Ok(v) if v.is_object() || v.is_array() => Ok(()),
                    _ => fail(req, &resp, "a success that is not a JSON object or array"),
                },
                400 | 404 | 405 | 409 if req.method == "HEAD" => Ok(()),
                400 | 404 | 405 | 409 => check_errcode_json(req, &resp).map(drop),
                _ => fail(req, &resp, "a status the sandbox API does not document"),
            }
        });
    }
    h.report("sandbox API");
}

// ---------------------------------------------------------------------------------------------
// The pages, the console, unknown paths
// ---------------------------------------------------------------------------------------------

/// A page's parameters, drawn from its names (valid values sometimes) and others.
fn page_query(names: Vec<(&'static str, String)>) -> BoxedStrategy<String> {
    let (names, good): (Vec<&'static str>, Vec<String>) = names.into_iter().unzip();
    hostile_query(names, good)
}

fn page_form(names: Vec<(&'static str, String)>) -> BoxedStrategy<Vec<u8>> {
    prop_oneof![
        4 => page_query(names).prop_map(|q| q.trim_start_matches('?').as_bytes().to_vec()),
        1 => proptest::collection::vec(any::<u8>(), 0..512),
        1 => Just(format!("csrf={}&appid={OA}", "9".repeat(2_000_000)).into_bytes()),
    ]
    .boxed()
}

#[test]
fn hostile_requests_to_the_pages_get_a_page_or_a_4xx_error_page_and_never_a_redirect() {
    let h = harness();
    let login = vec![
        ("component_appid", C.to_string()),
        ("pre_auth_code", h.world.pre_auth_code.clone()),
        ("redirect_uri", CB.to_string()),
        ("auth_type", "1".to_string()),
        ("biz_appid", OA.to_string()),
        ("category_id_list", "1|27".to_string()),
        ("set", "27".to_string()),
        ("csrf", "1700000000.00".to_string()),
    ];
    let register = vec![
        ("appid", OA.to_string()),
        ("component_appid", C.to_string()),
        ("copy_wx_verify", "1".to_string()),
        ("redirect_uri", CB.to_string()),
        ("csrf", "1700000000.00".to_string()),
    ];
    for (path, names) in [
        ("/cgi-bin/componentloginpage", login),
        ("/cgi-bin/fastregisterauth", register),
    ] {
        // The page itself.
        let strategy =
            (hostile_method("GET"), page_query(names.clone())).prop_map(move |(method, query)| {
                Req {
                    method,
                    path_and_query: format!("{path}{query}"),
                    headers: vec![],
                    body: vec![],
                }
            });
        h.run(path, 512, strategy, |req| {
            let resp = h.send(req)?;
            check_page(req, &resp, &["GET", "HEAD"], true)
        });
        // Its confirmation: without the page's token nothing is confirmed, and nothing redirects.
        let confirm = format!("{path}/confirm");
        let strategy = (
            hostile_method("POST"),
            hostile_query(vec!["csrf"], vec![]),
            page_form(names),
        )
            .prop_map(move |(method, query, body)| Req {
                method,
                path_and_query: format!("{confirm}{query}"),
                headers: vec![(
                    "content-type",
                    "application/x-www-form-urlencoded".to_string(),
                )],
                body,
            });
        h.run(path, 512, strategy, |req| {
            let resp = h.send(req)?;
            if req.method == "POST" && resp.status == 200 {
                return fail(req, &resp, "a confirmation without its token answered 200");
            }
            check_page(req, &resp, &["POST"], false)
        });
    }
    // Nothing was confirmed: the pre_auth_code is still unspent.
    let link = format!(
        "/cgi-bin/componentloginpage?component_appid={C}&pre_auth_code={}&redirect_uri={}&auth_type=1&biz_appid={OA}",
        encode(&h.world.pre_auth_code),
        encode(CB)
    );
    let page = h
        .send_good(&Req {
            method: "GET".into(),
            path_and_query: link,
            headers: vec![],
            body: vec![],
        })
        .expect("the page answers");
    assert_eq!(page.status, 200, "{}", page.text());
    h.report("componentloginpage and fastregisterauth");
}

#[test]
fn hostile_requests_to_the_console_never_open_it_and_never_get_a_5xx() {
    let h = harness();
    let cookie = prop_oneof![
        Just(vec![]),
        odd_string().prop_map(|s| vec![("cookie", encode(&s))]),
        hostile_value().prop_map(|v| vec![("cookie", format!("fastreg_console={}", encode(&v)))]),
        Just(vec![("cookie", "fastreg_console=0.".to_string())]),
        Just(vec![("cookie", format!("fastreg_console={ADMIN}"))]),
        Just(vec![(
            "cookie",
            "fastreg_console=; fastreg_console=1.abc; a=b".to_string()
        )]),
    ];
    let strategy = (
        hostile_method("GET"),
        select(vec![
            "/",
            "/console/login",
            "/console/logout",
            "/cgi-bin/cancelled",
        ]),
        hostile_query(vec!["token"], vec![ADMIN.to_string()]),
        cookie,
        page_form(vec![("token", "wrong".to_string())]),
    )
        .prop_map(|(method, path, query, headers, body)| Req {
            method,
            path_and_query: format!("{path}{query}"),
            headers,
            body,
        });
    h.run("console", 1024, strategy, |req| {
        let resp = h.send(req)?;
        let path = req.path_and_query.split('?').next().unwrap_or_default();
        let text = String::from_utf8_lossy(&resp.body);
        let expected = match (req.method.as_str(), path) {
            ("GET" | "HEAD", "/") | ("GET" | "HEAD", "/cgi-bin/cancelled") => 200,
            ("POST", "/console/login") => 401,
            ("POST", "/console/logout") => 303,
            _ => 405,
        };
        if resp.status != expected {
            return fail(req, &resp, format!("expected HTTP {expected}"));
        }
        if text.contains("Components (") {
            return fail(req, &resp, "the console opened without the admin token");
        }
        if path == "/console/login" && resp.set_cookie {
            return fail(req, &resp, "a session cookie for a wrong token");
        }
        if expected == 405 {
            check_errcode_json(req, &resp)?;
        }
        Ok(())
    });
    h.report("console");
}

#[test]
fn hostile_unknown_paths_get_404_with_errcode_40066_or_the_sandbox_401() {
    let h = harness();
    // Prefixes under which no route starts with "zz".
    let prefixes = vec![
        "/",
        "/cgi-bin/",
        "/cgi-bin/component/",
        "/cgi-bin/account/fastregister/",
        "/cgi-bin/componentloginpage/",
        "/console/",
        "/sandbox/",
        "/sandbox/v1/",
        "/sandbox/v1/components/wxc0ffee0000000001/",
        "/sandbox/v1/clock/",
    ];
    let tail = prop_oneof![
        2 => odd_string().prop_map(|s| encode_for_url(&s)),
        1 => proptest::collection::vec(any::<u8>(), 0..64)
            .prop_map(|b| b.iter().map(|x| format!("%{x:02x}")).collect::<String>()),
        1 => select(
            ["%", "%zz", "%2e%2e%2f", "%2F%2Fevil.com", ";x=1", "a//b", &"x".repeat(10_000)]
                .map(String::from)
                .to_vec()
        ),
    ];
    let strategy = (
        hostile_method("GET"),
        select(prefixes),
        tail,
        hostile_query(vec!["access_token"], vec![]),
        prop_oneof![
            Just(vec![]),
            Just(vec![("authorization", format!("Bearer {ADMIN}"))])
        ],
    )
        .prop_map(|(method, prefix, tail, query, headers)| Req {
            method,
            path_and_query: format!("{prefix}zz{tail}{query}"),
            headers,
            body: b"{}".to_vec(),
        });
    h.run("unknown paths", 1024, strategy, |req| {
        let resp = h.send(req)?;
        let sandbox = req.path_and_query.starts_with("/sandbox/v1/");
        let expected = if sandbox && req.headers.is_empty() {
            401
        } else {
            404
        };
        if resp.status != expected {
            return fail(req, &resp, format!("expected HTTP {expected}"));
        }
        let code = check_errcode_json(req, &resp)?;
        if req.method != "HEAD" && expected == 404 && code != 40066 {
            return fail(req, &resp, "an unknown path answers 40066");
        }
        Ok(())
    });
    h.report("unknown paths");
}

// ---------------------------------------------------------------------------------------------
// Oversized bodies on one connection
// ---------------------------------------------------------------------------------------------

/// Reads one HTTP/1.1 response (headers and a Content-Length body) off a raw connection.
async fn read_response(stream: &mut tokio::net::TcpStream) -> std::io::Result<(u16, String)> {
    use tokio::io::AsyncReadExt;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
    let status = head[9..12].parse().unwrap_or(0);
    let len: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    while buf.len() < head_end + len {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    Ok((
        status,
        String::from_utf8_lossy(&buf[head_end..head_end + len]).into_owned(),
    ))
}

#[tokio::test]
async fn an_oversized_body_is_answered_and_the_connection_stays_usable_whether_or_not_the_route_reads_bodies(
) {
    use tokio::io::AsyncWriteExt;
    let app = spawn_app().await;
    let oat = app.oa_token(OA).await;
    let limit = app.state.settings.max_body_bytes;
    let addr = app.base.trim_start_matches("http://").to_string();
    for (method, target, auth, status, errcode) in [
        // Reads its body: refused with 47001.
        (
            "POST",
            format!("/cgi-bin/account/fastregister?access_token={oat}"),
            "",
            200,
            Some(47001),
        ),
        // Takes no body.
        (
            "GET",
            "/cgi-bin/account/getaccountbasicinfo".into(),
            "",
            200,
            Some(41001),
        ),
        ("GET", "/cgi-bin/cancelled".into(), "", 200, None),
        (
            "GET",
            "/sandbox/v1/clock".into(),
            "authorization: Bearer test-admin-token\r\n",
            200,
            None,
        ),
        // Refused before any handler.
        (
            "POST",
            "/sandbox/v1/clock/advance".into(),
            "",
            401,
            Some(41001),
        ),
    ] {
        let mut stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
        let body = vec![b'a'; 2 * limit + 7];
        let head = format!(
            "{method} {target} HTTP/1.1\r\nhost: {addr}\r\n{auth}content-length: {}\r\n\r\n",
            body.len()
        );
        stream.write_all(head.as_bytes()).await.unwrap();
        stream
            .write_all(&body)
            .await
            .unwrap_or_else(|e| panic!("{method} {target}: the server hung up mid-body: {e}"));
        let (got, text) = read_response(&mut stream)
            .await
            .unwrap_or_else(|e| panic!("{method} {target}: no answer: {e}"));
        assert_eq!(got, status, "{method} {target}: {text}");
        if let Some(code) = errcode {
            let v: Value = serde_json::from_str(&text).unwrap();
            assert_eq!(v["errcode"], code, "{method} {target}: {v}");
        }
        // The same connection serves the next request.
        let next = format!(
            "GET /sandbox/v1/clock HTTP/1.1\r\nhost: {addr}\r\nauthorization: Bearer {ADMIN}\r\n\r\n"
        );
        stream.write_all(next.as_bytes()).await.unwrap();
        let (got, text) = read_response(&mut stream)
            .await
            .unwrap_or_else(|e| panic!("after {method} {target}: the connection was closed: {e}"));
        assert_eq!(got, 200, "{text}");
    }
}
