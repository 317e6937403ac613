//! The OpenAPI 3.1 document, built from the route tables ([`super::route`]) of the areas
//! `super::AREAS` lists.
//!
//! The schemas are derived from the Rust types the handlers read and write (`schemars`, JSON
//! Schema 2020-12, which is what OpenAPI 3.1 uses); requests are described as they are read
//! (fields with defaults are optional; a type read differently from how it is written is
//! `{name}Input`, and requests refer to that) and replies as they are written. What the server
//! enforces is in the document, from the code that enforces it: the types' `schemars`
//! attributes name the checks' constants and patterns, parameters carry a
//! [`ParamSchema`], and every integer is bounded by its type.
//!
//! WeChat's conventions are described too: each WeChat-compatible operation's `default` is the
//! shared `components/responses/WxError` (HTTP 200 with the errcode for malformed input,
//! credentials and other methods, which its description spells out), and the flow is walked
//! by OpenAPI `links` (the route tables' [`Link`]s).
//!
//! The tests in `tests/api/openapi.rs` check the other direction: each documented method is
//! routed, each undocumented one is refused, the bounds and links are there, and
//! `docs/openapi.json` is this document; `crates/fastreg/tests/cli/schemathesis.rs` checks the
//! served document against the running server.

use std::collections::BTreeSet;

use schemars::generate::SchemaSettings;
use schemars::SchemaGenerator;
use serde_json::{json, Map, Value};

use super::route::{Area, Auth, Link, Op, Param, ParamSchema, Reply, RequestBody, Route};

/// Every served path (prefixed) with its route, in document order.
pub fn routes(areas: &[Area]) -> Vec<(String, &'static Route)> {
    areas
        .iter()
        .flat_map(|a| {
            a.routes
                .iter()
                .flat_map(|table| table.iter())
                .map(move |r| (format!("{}{}", a.prefix, r.path), r))
        })
        .collect()
}

/// The document as pretty-printed JSON (what `/openapi.json` serves and `docs/openapi.json`
/// holds), with a final newline.
pub fn document_json(areas: &[Area]) -> String {
    let mut s = serde_json::to_string_pretty(&document(areas)).unwrap_or_default();
    s.push('\n');
    s
}

fn generator(settings: SchemaSettings) -> SchemaGenerator {
    settings
        .with(|s| s.definitions_path = "#/components/schemas/".into())
        .into_generator()
}

/// The document of these areas.
pub fn document(areas: &[Area]) -> Value {
    // Requests are described as they are read, replies as they are written.
    let mut requests = generator(SchemaSettings::draft2020_12().for_deserialize());
    let mut replies = generator(SchemaSettings::draft2020_12().for_serialize());
    let mut paths = Map::new();
    let mut tags = Vec::new();
    for area in areas {
        tags.push(json!({"name": area.tag, "description": area.description}));
        for route in area.routes.iter().flat_map(|table| table.iter()) {
            let path = format!("{}{}", area.prefix, route.path);
            let mut item = Map::new();
            for op in route.ops {
                item.insert(
                    op.method.key().into(),
                    operation(&path, area.tag, op, &mut requests, &mut replies),
                );
            }
            paths.insert(path, Value::Object(item));
        }
    }
    let mut schemas = replies.take_definitions(true);
    let read = requests.take_definitions(true);
    // One name, two shapes: the reading and the writing of a type differ (fields with defaults
    // are optional when read, always there when written). Both are kept, the reading as
    // `{name}Input`, and every request's reference is pointed at it: so is a type whose shape
    // is the same both ways but which refers to one that differs.
    let mut input: BTreeSet<String> = read
        .iter()
        .filter(|(name, schema)| schemas.get(*name).is_some_and(|s| s != *schema))
        .map(|(name, _)| name.clone())
        .collect();
    loop {
        let more: Vec<String> = read
            .iter()
            .filter(|(name, schema)| {
                !input.contains(*name) && schemas.contains_key(*name) && refers_to(schema, &input)
            })
            .map(|(name, _)| name.clone())
            .collect();
        if more.is_empty() {
            break;
        }
        input.extend(more);
    }
    for (name, mut schema) in read {
        to_input(&mut schema, &input);
        if input.contains(&name) {
            schemas.insert(format!("{name}Input"), schema);
        } else {
            schemas.entry(name).or_insert(schema);
        }
    }
    for item in paths.values_mut() {
        for op in item
            .as_object_mut()
            .into_iter()
            .flat_map(|m| m.values_mut())
        {
            if let Some(body) = op.get_mut("requestBody") {
                to_input(body, &input);
            }
        }
    }
    schemas.extend(fixed_schemas());
    let mut schemas = Value::Object(schemas);
    bound_integers(&mut schemas);
    let mut paths = Value::Object(paths);
    bound_integers(&mut paths);
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "fastreg platform",
            "version": env!("CARGO_PKG_VERSION"),
            "summary": "A faithful sandbox of WeChat's fast registration of Mini Programs (fastregister) for third-party platforms.",
            "description": "WeChat-compatible endpoints of the fastregister flow, the admin's pages, the sandbox control API and the operations endpoints. Generated from the code: the routers and this document are built from the same route tables.",
            "license": {"name": "MIT OR Apache-2.0", "identifier": "MIT OR Apache-2.0"}
        },
        "servers": [
            {"url": "/", "description": "The default world (everything that exists without worlds)."},
            {
                "url": "/w/{world}",
                "description": "A world's base URL: every WeChat-compatible endpoint, page and sandbox call (not the operations endpoints) is also served under it, acting on that world only.",
                "variables": {"world": {"default": "default", "description": "A world id, as `POST /sandbox/v1/worlds` answered it."}}
            }
        ],
        "tags": tags,
        "paths": paths,
        "components": {
            "schemas": schemas,
            "responses": {
                "WxError": {
                    "description": "A WeChat error, as WeChat answers it: the errcode JSON, with HTTP 200 for every refusal of a WeChat-compatible endpoint (a malformed body 44002/47001, a credential 41001/40001/42001, another method 43002/43001, a rule of the endpoint) and HTTP 404 for an unknown path (40066).",
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/WxError"}}}
                }
            },
            "securitySchemes": {
                "adminToken": {"type": "http", "scheme": "bearer", "description": "The sandbox API's admin token: the server's (`--admin-token`, `FASTREG_ADMIN_TOKEN`; generated and printed at start when unset), or under `/w/{world}` that world's own (answered once, when the world was created)."},
                "metricsToken": {"type": "http", "scheme": "bearer", "description": "`metrics_token` from the settings; /metrics is open when it is unset."},
                "componentAccessToken": {"type": "apiKey", "in": "query", "name": "component_access_token", "description": "The component_access_token (api_component_token)."},
                "accessToken": {"type": "apiKey", "in": "query", "name": "access_token", "description": "An access token: the authorizer_access_token of the account the call is about, or, on component endpoints, the component_access_token."}
            }
        }
    })
}

/// Whether `schema` refers to one of `names` (in `components/schemas`).
fn refers_to(schema: &Value, names: &BTreeSet<String>) -> bool {
    match schema {
        Value::Object(m) => m.iter().any(|(k, v)| {
            (k == "$ref" && v.as_str().is_some_and(|r| names.contains(schema_name(r))))
                || refers_to(v, names)
        }),
        Value::Array(a) => a.iter().any(|v| refers_to(v, names)),
        _ => false,
    }
}

/// Points `schema`'s references to one of `names` at its reading (`{name}Input`).
fn to_input(schema: &mut Value, names: &BTreeSet<String>) {
    match schema {
        Value::Object(m) => {
            if let Some(Value::String(r)) = m.get_mut("$ref") {
                if names.contains(schema_name(r)) {
                    r.push_str("Input");
                }
            }
            m.values_mut().for_each(|v| to_input(v, names));
        }
        Value::Array(a) => a.iter_mut().for_each(|v| to_input(v, names)),
        _ => {}
    }
}

/// The name in a `#/components/schemas/{name}` reference.
fn schema_name(reference: &str) -> &str {
    reference.rsplit('/').next().unwrap_or(reference)
}

/// Schemas of shapes the handlers write by hand.
fn fixed_schemas() -> Map<String, Value> {
    let mut m = Map::new();
    m.insert(
        "WxError".into(),
        json!({
            "description": "A WeChat-style error. The text is followed by ` rid: ` and the request id (3 groups of 8 lowercase hex).",
            "type": "object",
            "properties": {
                "errcode": {"type": "integer", "not": {"const": 0}, "description": "Non-zero (a success is 0, which no error is); see `fastreg errcode --all`."},
                "errmsg": {"type": "string", "examples": ["invalid credential, access_token is invalid or not latest rid: 6740a1b2-3c4d5e6f-00000001"]}
            },
            "required": ["errcode", "errmsg"]
        }),
    );
    m.insert(
        "WxOk".into(),
        json!({
            "description": "The status part of a WeChat success.",
            "type": "object",
            "properties": {
                "errcode": {"const": 0},
                "errmsg": {"const": "ok"}
            },
            "required": ["errcode", "errmsg"]
        }),
    );
    let flag = json!({
        "description": "`\"true\"`/`\"false\"` (WeChat's documented example, the default) or JSON booleans (`booleans = \"json\"`).",
        "oneOf": [{"type": "string", "enum": ["true", "false"]}, {"type": "boolean"}]
    });
    m.insert(
        "FastRegisterSuccess".into(),
        json!({
            "description": "fastregister's success, exactly as WeChat's example (note the empty errmsg).",
            "type": "object",
            "properties": {
                "errcode": {"const": 0},
                "errmsg": {"const": ""},
                "appid": {"type": "string", "description": "The new Mini Program's appid."},
                "authorization_code": {"type": "string", "description": "Exchange it at once with api_query_auth for the Mini Program's refresh token."},
                "is_wx_verify_succ": flag,
                "is_link_succ": flag
            },
            "required": ["errcode", "errmsg", "appid", "authorization_code", "is_wx_verify_succ", "is_link_succ"]
        }),
    );
    m
}

fn reference(name: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{name}")})
}

fn json_content(schema: Value) -> Value {
    json!({"application/json": {"schema": schema}})
}

fn html_content() -> Value {
    json!({"text/html": {"schema": {"type": "string"}}})
}

fn operation(
    path: &str,
    tag: &str,
    op: &Op,
    requests: &mut SchemaGenerator,
    replies: &mut SchemaGenerator,
) -> Value {
    let wechat = matches!(
        op.reply,
        Reply::WxToken(_) | Reply::WxOk(_) | Reply::WxFastRegister
    );
    let mut o = Map::new();
    o.insert("operationId".into(), json!(op.id));
    o.insert("summary".into(), json!(op.summary));
    o.insert("tags".into(), json!([tag]));
    let security = match op.auth {
        Auth::None => json!([]),
        Auth::Admin => json!([{"adminToken": []}]),
        Auth::ComponentToken => json!([{"componentAccessToken": []}, {"accessToken": []}]),
        Auth::AccessToken => json!([{"accessToken": []}]),
        Auth::MetricsToken => json!([{}, {"metricsToken": []}]),
    };
    o.insert("security".into(), security);

    let mut parameters: Vec<Value> = path_params(path)
        .map(|name| match op.path.iter().find(|p| p.name == name) {
            Some(p) => json!({"name": name, "in": "path", "required": true,
                              "description": p.description, "schema": param_schema(p)}),
            None => {
                json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}})
            }
        })
        .collect();
    parameters.extend(op.query.iter().map(|p| {
        json!({"name": p.name, "in": "query", "required": p.required,
               "description": p.description, "schema": param_schema(p)})
    }));
    if !parameters.is_empty() {
        o.insert("parameters".into(), Value::Array(parameters));
    }

    match op.body {
        RequestBody::None => {}
        RequestBody::Json(f) => {
            o.insert(
                "requestBody".into(),
                json!({"required": true, "content": json_content(f(requests).to_value())}),
            );
        }
        RequestBody::OptionalJson(f) => {
            o.insert(
                "requestBody".into(),
                json!({"required": false, "content": json_content(f(requests).to_value())}),
            );
        }
        RequestBody::Form(fields) => {
            let properties: Map<String, Value> = fields
                .iter()
                .map(|p| {
                    let mut schema = param_schema(p);
                    schema["description"] = json!(p.description);
                    (p.name.to_string(), schema)
                })
                .collect();
            let required: Vec<&str> = fields
                .iter()
                .filter(|p| p.required)
                .map(|p| p.name)
                .collect();
            o.insert(
                "requestBody".into(),
                json!({"required": true, "content": {"application/x-www-form-urlencoded": {
                    "schema": {"type": "object", "properties": properties, "required": required}}}}),
            );
        }
    }

    let wx_error = reference("WxError");
    let client_error = json!({"description": "Refused: errcode JSON (the reason in errmsg).",
                              "content": json_content(wx_error.clone())});
    let responses = match op.reply {
        Reply::WxToken(f) => json!({"200": {
            "description": "The token object (no errcode) or a WeChat error.",
            "content": json_content(json!({"oneOf": [f(replies).to_value(), wx_error]}))}}),
        Reply::WxOk(f) => json!({"200": {
            "description": "A WeChat success (errcode 0) or a WeChat error.",
            "content": json_content(json!({"oneOf": [
                {"allOf": [reference("WxOk"), f(replies).to_value()]}, wx_error]}))}}),
        Reply::WxFastRegister => json!({"200": {
            "description": "The new Mini Program (or the replayed success of a spent ticket) or a WeChat error.",
            "content": json_content(json!({"oneOf": [reference("FastRegisterSuccess"), wx_error]}))}}),
        Reply::Json(status, f) => {
            let mut m = Map::new();
            m.insert(
                status.to_string(),
                json!({"description": "Success.", "content": json_content(f(replies).to_value())}),
            );
            m.insert("4XX".into(), client_error);
            Value::Object(m)
        }
        Reply::JsonOrToml(f) => json!({
            "200": {"description": "Success: JSON, or with `format=toml` the same document as TOML.",
                    "content": {"application/json": {"schema": f(replies).to_value()},
                                "application/toml": {"schema": {"type": "string"}}}},
            "4XX": client_error}),
        Reply::NoContent => json!({"204": {"description": "Done."}, "4XX": client_error}),
        Reply::Html => json!({
            "200": {"description": "The page.", "content": html_content()},
            "4XX": {"description": "A refusal page with its errcode.", "content": html_content()}}),
        Reply::Redirect => json!({
            "302": {"description": "Confirmed: to the component's redirect_uri with the code or ticket appended.",
                    "headers": {"Location": {"schema": {"type": "string"}}}},
            "303": {"description": "Within the console.", "headers": {"Location": {"schema": {"type": "string"}}}},
            "4XX": {"description": "A refusal page with its errcode; nothing is sent to the redirect address.",
                    "content": html_content()}}),
        Reply::Readiness(f) => {
            let body = json_content(f(replies).to_value());
            json!({
                "200": {"description": "Ready: the store answers and its schema is current.", "content": body},
                "503": {"description": "Not ready (the store does not answer, or the server is stopping).", "content": body}})
        }
        Reply::Metrics => json!({
            "200": {"description": "Every metric, in the OpenMetrics text format.",
                    "content": {"application/openmetrics-text": {"schema": {"type": "string"}}}},
            "401": client_error}),
        Reply::OpenApi => json!({"200": {"description": "This document.",
                                         "content": json_content(json!({"type": "object"}))}}),
    };
    let mut responses = responses;
    if wechat {
        // WeChat's conventions: every refusal is HTTP 200 with the errcode JSON, whatever went
        // wrong (a malformed body, a credential, another method); any other status (404 for an
        // unknown path) has the same body.
        responses["default"] = json!({"$ref": "#/components/responses/WxError"});
        o.insert("description".into(), json!(WECHAT_CONVENTIONS));
    }
    if !op.links.is_empty() {
        let links: Map<String, Value> = op
            .links
            .iter()
            .map(|l| (l.name.to_string(), link(l)))
            .collect();
        if let Some(success) = responses
            .as_object_mut()
            .and_then(|m| m.iter_mut().find(|(status, _)| status.starts_with('2')))
            .map(|(_, r)| r)
        {
            success["links"] = Value::Object(links);
        }
    }
    o.insert("responses".into(), responses);
    Value::Object(o)
}

/// What every WeChat-compatible operation's description says.
const WECHAT_CONVENTIONS: &str = "WeChat's conventions: every answer is HTTP 200 with `Content-Type: application/json`. A refusal is the errcode JSON (`WxError`), whatever was wrong: an empty body 44002, a body that is not JSON or has a field of the wrong type 47001, a missing token 41001, an unknown one 40001, an expired one 42001, another HTTP method than the documented ones 43002 (`require POST method`; 43001 `require GET method` for getaccountbasicinfo). A client reads `errcode`, not the status.";

/// An OpenAPI link object.
fn link(l: &Link) -> Value {
    let mut v = json!({"operationId": l.operation_id});
    if !l.parameters.is_empty() {
        let p: Map<String, Value> = l
            .parameters
            .iter()
            .map(|(k, e)| ((*k).to_string(), json!(e)))
            .collect();
        v["parameters"] = Value::Object(p);
    }
    if !l.body.is_empty() {
        let b: Map<String, Value> = l
            .body
            .iter()
            .map(|(k, e)| ((*k).to_string(), json!(e)))
            .collect();
        v["requestBody"] = Value::Object(b);
    }
    v
}

/// Adds the bounds of its `format` to every integer schema that has none (`int64`, `uint32`,
/// …): what the handler's type can hold, so a larger number is known to be refused.
fn bound_integers(v: &mut Value) {
    match v {
        Value::Object(m) => {
            let bounds: Option<(Value, Value)> = match m.get("format").and_then(Value::as_str) {
                Some("int32") => Some((json!(i32::MIN), json!(i32::MAX))),
                Some("int64") => Some((json!(i64::MIN), json!(i64::MAX))),
                Some("uint32") => Some((json!(0), json!(u32::MAX))),
                Some("uint64") => Some((json!(0), json!(u64::MAX))),
                _ => None,
            };
            if let Some((min, max)) = bounds {
                m.entry("minimum").or_insert(min);
                m.entry("maximum").or_insert(max);
            }
            m.values_mut().for_each(bound_integers);
        }
        Value::Array(a) => a.iter_mut().for_each(bound_integers),
        _ => {}
    }
}

/// The schema of a parameter's values. An empty value counts as absent, so a required text
/// has at least one character.
fn param_schema(p: &Param) -> Value {
    match p.schema {
        ParamSchema::Text if p.required => json!({"type": "string", "minLength": 1}),
        ParamSchema::Text => json!({"type": "string"}),
        ParamSchema::Integer { min, max, default } => {
            let mut s = json!({"type": "integer", "minimum": min, "maximum": max});
            if let Some(d) = default {
                s["default"] = json!(d);
            }
            s
        }
        ParamSchema::IntegerOf(values) => json!({"type": "integer", "enum": values}),
        ParamSchema::OneOf(words) => json!({"type": "string", "enum": words}),
        ParamSchema::Pattern(pattern) => json!({"type": "string", "pattern": pattern}),
        ParamSchema::Integers { min, max } => json!({"type": "array",
            "items": {"type": "integer", "minimum": min, "maximum": max}}),
    }
}

/// The `{name}` segments of a path template.
fn path_params(path: &str) -> impl Iterator<Item = &str> {
    path.split('/')
        .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operation_ids_are_unique_and_every_path_is_routed_once() {
        let mut ids = std::collections::HashSet::new();
        let mut paths = std::collections::HashSet::new();
        for (path, route) in routes(&crate::http::AREAS) {
            assert!(paths.insert(path.clone()), "{path} is in two route tables");
            assert!(!route.ops.is_empty(), "{path} documents no method");
            let mut methods = std::collections::HashSet::new();
            for op in route.ops {
                assert!(ids.insert(op.id), "operation id {} is used twice", op.id);
                assert!(
                    methods.insert(op.method),
                    "{path} documents {:?} twice",
                    op.method
                );
            }
        }
    }

    #[test]
    fn every_schema_reference_in_the_document_resolves() {
        let doc = document(&crate::http::AREAS);
        let mut refs = Vec::new();
        collect_refs(&doc, &mut refs);
        assert!(refs.len() > 20, "{refs:?}");
        for r in refs {
            let (kind, name) = r
                .strip_prefix("#/components/")
                .and_then(|rest| rest.split_once('/'))
                .unwrap_or_else(|| panic!("unexpected $ref {r}"));
            assert!(
                matches!(kind, "schemas" | "responses"),
                "unexpected $ref {r}"
            );
            assert!(
                doc["components"][kind][name].is_object(),
                "{r} does not resolve"
            );
        }
    }

    fn collect_refs(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(m) => {
                if let Some(Value::String(r)) = m.get("$ref") {
                    out.push(r.clone());
                }
                m.values().for_each(|v| collect_refs(v, out));
            }
            Value::Array(a) => a.iter().for_each(|v| collect_refs(v, out)),
            _ => {}
        }
    }

    #[test]
    fn path_parameters_come_from_the_template() {
        let names: Vec<&str> =
            path_params("/sandbox/v1/components/{appid}/verify-ticket").collect();
        assert_eq!(names, ["appid"]);
    }
}
