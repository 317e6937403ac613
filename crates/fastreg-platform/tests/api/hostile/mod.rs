//! Hostile input as properties, over every route of the router: random bytes, truncated JSON,
//! wrong types, huge numbers, odd unicode, bodies over the limit, missing, repeated, empty or
//! garbled query parameters, any method. Whatever arrives, the answer is never a 5xx, has the
//! documented shape (WeChat's errcode JSON, the sandbox API's errcode JSON, an HTML page that
//! shows its errcode and never redirects), never hides an internal fault (-1) behind bad input,
//! and the platform keeps serving.
//!
//! One module per surface: the WeChat-compatible endpoints (`wechat.rs`), the sandbox API
//! (`sandbox.rs`), the pages, the console and unknown paths (`pages.rs`), and oversized bodies
//! on one connection (`bodies.rs`); the harness, strategies and checks they share are here.
//!
//! Each test spawns one platform and lets proptest draw the requests. Every test prints how many
//! requests it sent (`cargo test --test api hostile -- --nocapture`).

use std::sync::atomic::{AtomicU64, Ordering};

use proptest::prelude::*;
use proptest::sample::select;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use serde_json::{json, Value};

use crate::helpers::*;

mod bodies;
mod pages;
mod sandbox;
mod wechat;

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

fn q(s: &str) -> String {
    serde_json::to_string(s).expect("string to JSON")
}
