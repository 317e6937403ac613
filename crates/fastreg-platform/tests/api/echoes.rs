//! No answer that refuses a request and no log line repeats a value the request carried: a
//! value may be a secret sent in the wrong field, and may be 200 KB long (docs/sandbox-api.md,
//! "Errors").
//!
//! The property, over every operation of the OpenAPI document (so every route of the route
//! tables): each body field, query parameter, path parameter and header in turn carries a value
//! with a unique marker in it, short (`SECRET:<hex>`) and large (200,000 bytes in a body or a
//! header, 60,000 in a URL, the client's URI limit), as a string, inside an array, as an
//! object's key and value, as an unknown field's name, and as a number. The other fields carry
//! valid values (tokens, appids, a pre_auth_code), so refusals come from every depth: parsing,
//! credentials, lookups, the rules. Then: no answer is a 5xx, no refusal's body contains a
//! marker, no line the platform logged at trace level contains one, and no line is longer than
//! a few KiB.
//!
//! Deterministic rather than sampled: every (operation, field, shape) is sent, a few thousand
//! requests. Successes are not checked: a created object is answered with what was sent.

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::{Arc, Mutex};

use serde_json::{json, Value};

use crate::helpers::*;

/// Bytes of a large value in a body or a header.
const LARGE: usize = 200_000;
/// Bytes of a large value in a URL (reqwest refuses a URI over 64 KiB).
const LARGE_IN_URL: usize = 60_000;
/// The longest log line allowed (a line carries at most a few bounded request strings).
const MAX_LINE: usize = 4096;

/// What the platform logged, as text.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

/// The values a run sends: every one carries `SECRET:<hex>` (or, as a number, `number`).
struct Markers {
    hex: String,
    number: u64,
    sent: std::cell::Cell<u32>,
}

impl Markers {
    fn new() -> Markers {
        Markers {
            hex: format!(
                "{:016x}{:08x}",
                rand::random::<u64>(),
                rand::random::<u32>()
            ),
            number: 7_000_000_000_000_000 + rand::random::<u64>() % 1_000_000_000_000_000,
            sent: std::cell::Cell::new(0),
        }
    }

    fn short(&self) -> String {
        self.sent.set(self.sent.get() + 1);
        format!("SECRET:{}{:05}", self.hex, self.sent.get())
    }

    /// `len` bytes with the marker at the start, the middle and the end.
    fn large(&self, len: usize) -> String {
        let m = self.short();
        let pad = "A".repeat((len - 3 * m.len()) / 2);
        format!("{m}{pad}{m}{pad}{m}")
    }

    /// Whether `text` carries any marker of this run.
    fn found_in(&self, text: &str) -> bool {
        text.contains(&self.hex) || text.contains(&self.number.to_string())
    }
}

/// One request to send.
struct Probe {
    what: String,
    method: String,
    path: String,
    query: Vec<(String, String)>,
    headers: Vec<(String, String)>,
    body: Option<(String, Vec<u8>)>,
}

/// Valid values for the fields and parameters the operations read, so that a marker in one
/// field meets the checks behind the others.
struct Good(BTreeMap<&'static str, Value>);

impl Good {
    fn get(&self, name: &str) -> Option<Value> {
        self.0.get(name).cloned()
    }

    fn text(&self, name: &str) -> String {
        match self.get(name) {
            Some(Value::String(s)) => s,
            Some(v) => v.to_string(),
            None => "x".into(),
        }
    }
}

async fn good_values(app: &TestApp) -> Good {
    let ct = app.component_token(C).await;
    let (oat, refresh) = app.authorize(&ct, C, OA, &[1, 15, 27]).await;
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
    let ticket = app.confirm(C, OA, 1).await;
    Good(BTreeMap::from([
        ("component_access_token", json!(ct)),
        ("access_token", json!(oat)),
        ("component_appid", json!(C)),
        ("component_appsecret", json!(secret)),
        ("component_secret", json!(secret)),
        ("component_verify_ticket", json!(verify_ticket)),
        ("authorizer_appid", json!(OA)),
        ("authorizer_refresh_token", json!(refresh)),
        ("authorization_code", json!("not-a-code")),
        ("appid", json!(OA)),
        ("biz_appid", json!(OA)),
        ("pre_auth_code", json!(pre_auth_code)),
        ("redirect_uri", json!("https://localhost/cb")),
        ("auth_type", json!("3")),
        ("category_id_list", json!("1|27")),
        ("copy_wx_verify", json!(1)),
        ("ticket", json!(ticket)),
        ("option_name", json!("voice_recognize")),
        ("option_value", json!("1")),
        ("offset", json!(0)),
        ("count", json!(10)),
        ("permission_sets", json!([1, 27])),
        ("entity_id", json!(ACME_ENTITY)),
        ("nickname", json!("n")),
        ("name", json!("n")),
        ("type", json!("enterprise")),
        ("verified", json!(true)),
        ("published", json!(true)),
        ("auth_domain", json!("localhost")),
        ("seconds", json!(1)),
        ("path", json!("/cgi-bin/component/api_component_token")),
        ("inject_errcode", json!(40001)),
        ("limit", json!("10")),
        ("format", json!("json")),
        ("id", json!(ACME_ENTITY)),
        ("csrf", json!("not-a-token")),
        ("set", json!("1")),
        ("token", json!("not-the-token")),
    ]))
}

/// An operation of the document: what it reads.
struct Operation {
    method: String,
    path: String,
    path_params: Vec<String>,
    query: Vec<String>,
    /// Body fields and whether the body is a form (else JSON); `None` without a body.
    body: Option<(bool, Vec<String>)>,
    /// The token query parameter its security scheme names, if any.
    token: Option<&'static str>,
    admin: bool,
}

/// Fields of the form bodies (the document declares the forms without their fields).
fn form_fields(path: &str) -> Vec<String> {
    let fields: &[&str] = match path {
        "/cgi-bin/componentloginpage/confirm" => &[
            "component_appid",
            "pre_auth_code",
            "redirect_uri",
            "auth_type",
            "biz_appid",
            "category_id_list",
            "csrf",
            "set",
        ],
        "/cgi-bin/fastregisterauth/confirm" => &[
            "component_appid",
            "appid",
            "copy_wx_verify",
            "redirect_uri",
            "csrf",
        ],
        "/console/login" => &["token"],
        _ => &[],
    };
    fields.iter().map(|f| f.to_string()).collect()
}

fn operations() -> Vec<Operation> {
    let doc: Value = serde_json::from_str(fastreg_platform::http::openapi_json()).unwrap();
    let schemas = &doc["components"]["schemas"];
    let mut ops = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let Some(op) = op.as_object().filter(|o| o.contains_key("responses")) else {
                continue;
            };
            let params = |place: &str| -> Vec<String> {
                op.get("parameters")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter(|p| p["in"] == place)
                    .map(|p| p["name"].as_str().unwrap().to_string())
                    .collect()
            };
            let body = op.get("requestBody").map(|rb| {
                let content = rb["content"].as_object().unwrap();
                if content.contains_key("application/x-www-form-urlencoded") {
                    return (true, form_fields(path));
                }
                let mut schema = &content["application/json"]["schema"];
                if let Some(r) = schema["$ref"].as_str() {
                    schema = &schemas[r.rsplit('/').next().unwrap()];
                }
                let fields = schema["properties"]
                    .as_object()
                    .map(|p| p.keys().cloned().collect())
                    .unwrap_or_default();
                (false, fields)
            });
            let security: Vec<String> = op
                .get("security")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|s| s.as_object())
                .flat_map(|s| s.keys().cloned())
                .collect();
            let token = if security.iter().any(|s| s == "componentAccessToken") {
                Some("component_access_token")
            } else if security.iter().any(|s| s == "accessToken") {
                Some("access_token")
            } else {
                None
            };
            ops.push(Operation {
                method: method.to_uppercase(),
                path: path.clone(),
                path_params: params("path"),
                query: params("query"),
                body,
                token,
                admin: security.iter().any(|s| s == "adminToken"),
            });
        }
    }
    // Resetting the default world spends the credentials the other probes use: last.
    ops.sort_by_key(|o| o.path == "/sandbox/v1/reset");
    ops
}

impl Operation {
    /// The operation with valid values everywhere; `tweak` then puts a marker somewhere.
    fn probe(&self, good: &Good, what: String, tweak: impl FnOnce(&mut Probe)) -> Probe {
        let mut query: Vec<(String, String)> = self
            .query
            .iter()
            .map(|q| (q.clone(), good.text(q)))
            .collect();
        if let Some(t) = self.token {
            query.push((t.to_string(), good.text(t)));
        }
        let mut headers = Vec::new();
        if self.admin {
            headers.push(("authorization".to_string(), format!("Bearer {ADMIN}")));
        }
        let body = self.body.as_ref().map(|(form, fields)| {
            if *form {
                let pairs: Vec<(String, String)> =
                    fields.iter().map(|f| (f.clone(), good.text(f))).collect();
                form_body(&pairs)
            } else {
                let obj: serde_json::Map<String, Value> = fields
                    .iter()
                    .filter_map(|f| good.get(f).map(|v| (f.clone(), v)))
                    .collect();
                json_body(&Value::Object(obj))
            }
        });
        let mut p = Probe {
            what: format!("{} {}: {what}", self.method, self.path),
            method: self.method.clone(),
            path: self.path.clone(),
            query,
            headers,
            body,
        };
        for name in &self.path_params {
            let v = good.text(if name == "appid" && self.path.contains("components") {
                "component_appid"
            } else {
                name
            });
            p.path = p.path.replace(&format!("{{{name}}}"), &v);
        }
        tweak(&mut p);
        p
    }

    /// Every probe of this operation.
    fn probes(&self, good: &Good, m: &Markers) -> Vec<Probe> {
        let mut out = Vec::new();
        for name in &self.path_params {
            for value in [m.short(), m.large(LARGE_IN_URL)] {
                let template = self.path.clone();
                out.push(self.probe(good, format!("path parameter {name}"), |p| {
                    // The other parameters valid, this one the marker.
                    let mut path = template.clone();
                    for other in &self.path_params {
                        let v = if other == name {
                            encode(&value)
                        } else {
                            good.text(other)
                        };
                        path = path.replace(&format!("{{{other}}}"), &v);
                    }
                    p.path = path;
                }));
            }
        }
        let mut query_names = self.query.clone();
        query_names.extend(self.token.map(String::from));
        for name in &query_names {
            for value in [m.short(), m.large(LARGE_IN_URL)] {
                out.push(self.probe(good, format!("query parameter {name}"), |p| {
                    p.query.retain(|(k, _)| k != name);
                    p.query.push((name.clone(), value));
                }));
            }
        }
        out.push(self.probe(good, "an unknown query parameter".into(), |p| {
            p.query.push((m.short(), m.short()));
        }));
        if let Some((form, fields)) = &self.body {
            let fields = if fields.is_empty() {
                vec!["x".to_string()]
            } else {
                fields.clone()
            };
            for name in &fields {
                let shapes: Vec<(&str, Value)> = vec![
                    ("short", json!(m.short())),
                    ("large", json!(m.large(LARGE))),
                    ("in an array", json!([m.short()])),
                    ("in an object", json!({ m.short(): m.large(LARGE) })),
                    ("as a number", json!(m.number)),
                    ("as a negative number", json!(-(m.number as i64))),
                ];
                for (shape, value) in shapes {
                    if *form && !value.is_string() {
                        continue;
                    }
                    out.push(
                        self.probe(good, format!("body field {name}, {shape}"), |p| {
                            p.body = Some(with_field(p.body.take(), *form, name, value));
                        }),
                    );
                }
            }
            if !form {
                for key in [m.short(), m.large(LARGE), "publised".to_string()] {
                    out.push(self.probe(good, "an unknown body field".into(), |p| {
                        p.body = Some(with_field(p.body.take(), false, &key, json!(m.short())));
                    }));
                }
                out.push(self.probe(good, "a body that is a marker".into(), |p| {
                    p.body = Some(json_body(&json!(m.large(LARGE))));
                }));
                out.push(self.probe(good, "a broken body".into(), |p| {
                    let text = format!("{{\"{}\": \"{}", m.short(), m.large(LARGE));
                    p.body = Some(("application/json".into(), text.into_bytes()));
                }));
            }
        } else {
            out.push(self.probe(good, "an unexpected body".into(), |p| {
                p.body = Some(json_body(&json!({ m.short(): m.large(LARGE) })));
            }));
        }
        for header in [
            "authorization",
            "cookie",
            "user-agent",
            "x-forwarded-for",
            "referer",
            "content-type",
        ] {
            for value in [m.short(), m.large(LARGE)] {
                let value = match header {
                    "authorization" => format!("Bearer {value}"),
                    "cookie" => format!("fastreg_console={value}"),
                    _ => value,
                };
                out.push(self.probe(good, format!("header {header}"), |p| {
                    p.headers.retain(|(k, _)| k != header);
                    p.headers.push((header.to_string(), value));
                }));
            }
        }
        out
    }
}

fn encode(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

fn json_body(v: &Value) -> (String, Vec<u8>) {
    ("application/json".into(), v.to_string().into_bytes())
}

fn form_body(pairs: &[(String, String)]) -> (String, Vec<u8>) {
    let text = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish();
    (
        "application/x-www-form-urlencoded".into(),
        text.into_bytes(),
    )
}

/// `body` with `name` set to `value` (replacing a valid one).
fn with_field(
    body: Option<(String, Vec<u8>)>,
    form: bool,
    name: &str,
    value: Value,
) -> (String, Vec<u8>) {
    let bytes = body.map(|(_, b)| b).unwrap_or_default();
    if form {
        let mut pairs: Vec<(String, String)> = form_urlencoded::parse(&bytes)
            .into_owned()
            .filter(|(k, _)| k != name)
            .collect();
        pairs.push((name.to_string(), value.as_str().unwrap_or_default().into()));
        form_body(&pairs)
    } else {
        let mut obj: serde_json::Map<String, Value> =
            serde_json::from_slice(&bytes).unwrap_or_default();
        obj.insert(name.to_string(), value);
        json_body(&Value::Object(obj))
    }
}

/// Whether an answer refuses: an HTTP error, an errcode other than 0, or a page's refusal.
fn refuses(status: u16, body: &str) -> bool {
    if status >= 400 {
        return true;
    }
    if let Ok(v) = serde_json::from_str::<Value>(body) {
        return v
            .get("errcode")
            .and_then(Value::as_i64)
            .is_some_and(|c| c != 0);
    }
    body.contains(r#"class="code""#)
}

#[test]
fn no_refusal_and_no_log_line_of_any_route_repeats_a_value_sent_in_the_request() {
    let logs = Captured::default();
    let writer = logs.clone();
    let dispatch = tracing::Dispatch::new(
        tracing_subscriber::fmt()
            .with_ansi(false)
            .with_env_filter("fastreg_platform=trace,axum=trace,tower_http=trace")
            .with_writer(move || writer.clone())
            .finish(),
    );
    // Every thread the platform runs on logs into `logs`.
    let on_start = dispatch.clone();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .on_thread_start(move || std::mem::forget(tracing::dispatcher::set_default(&on_start)))
        .build()
        .unwrap();
    let _here = tracing::dispatcher::set_default(&dispatch);

    let m = Markers::new();
    let (sent, leaks) = rt.block_on(async {
        let app = spawn_app().await;
        let good = good_values(&app).await;
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let (mut sent, mut leaks) = (0, Vec::new());
        for op in operations() {
            for p in op.probes(&good, &m) {
                let mut url = reqwest::Url::parse(&format!("{}{}", app.base, p.path)).unwrap();
                if !p.query.is_empty() {
                    url.query_pairs_mut().extend_pairs(&p.query);
                }
                let mut req = client.request(p.method.parse().unwrap(), url);
                for (k, v) in &p.headers {
                    req = req.header(k.as_str(), v.as_str());
                }
                if let Some((ct, body)) = &p.body {
                    if !p.headers.iter().any(|(k, _)| k == "content-type") {
                        req = req.header("content-type", ct.as_str());
                    }
                    req = req.body(body.clone());
                }
                let resp = req
                    .send()
                    .await
                    .unwrap_or_else(|e| panic!("{}: {e}", p.what));
                sent += 1;
                let status = resp.status().as_u16();
                let text = resp.text().await.unwrap_or_default();
                let cut: String = text.chars().take(300).collect();
                assert!(status < 500, "{}: HTTP {status} {cut}", p.what);
                if refuses(status, &text) && m.found_in(&text) {
                    leaks.push(format!("{}: HTTP {status} answered {cut}", p.what));
                }
            }
        }
        app.stop().await;
        (sent, leaks)
    });

    let logs = logs.text();
    let logged: Vec<&str> = logs.lines().collect();
    let mut leaks = leaks;
    for line in &logged {
        let cut: String = line.chars().take(400).collect();
        if m.found_in(line) {
            leaks.push(format!("logged: {cut}"));
        } else if line.len() > MAX_LINE {
            leaks.push(format!("a {}-byte log line: {cut}", line.len()));
        }
    }
    assert!(
        logged.iter().any(|l| l.contains("refused")),
        "the refusals were logged"
    );
    assert!(
        leaks.is_empty(),
        "{} of {sent} requests' values came back:\n{}",
        leaks.len(),
        leaks[..leaks.len().min(40)].join("\n")
    );
    eprintln!(
        "echoes: {sent} requests over every operation, {} log lines, no marker in a refusal or a line",
        logged.len()
    );
}
