//! `/openapi.json` and the router agree: every documented operation is served, every method a
//! path does not document is refused, no path is served that the document lacks, and
//! `docs/openapi.json` is what the code generates (`FASTREG_BLESS=1 cargo test -p
//! fastreg-platform --test api openapi` rewrites it after a deliberate change).

use std::collections::BTreeSet;

use fastreg_platform::http;
use serde_json::{json, Value};

use crate::helpers::*;

const METHODS: [&str; 5] = ["GET", "POST", "PUT", "PATCH", "DELETE"];

impl TestApp {
    /// The served document.
    async fn openapi(&self) -> Value {
        let resp = self
            .http
            .get(format!("{}/openapi.json", self.base))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        resp.json().await.unwrap()
    }

    /// Sends `method` to `path` (parameters filled in) with the admin token and an empty body;
    /// true when a handler answered, false when the router's fallback refused the method or
    /// the path.
    async fn routed(&self, method: &str, path: &str) -> bool {
        let path = path
            .replace("{appid}", C)
            .replace("{id}", &ACME_ENTITY.to_string());
        let resp = self
            .http
            .request(method.parse().unwrap(), format!("{}{path}", self.base))
            .bearer_auth(ADMIN)
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        let body: Value = serde_json::from_str(&resp.text().await.unwrap()).unwrap_or_default();
        let errcode = body["errcode"].as_i64();
        let refused_by_router = matches!(status, 404 | 405) && errcode == Some(40066)
            || matches!(errcode, Some(43001 | 43002));
        !refused_by_router
    }
}

fn documented(doc: &Value) -> Vec<(String, BTreeSet<String>)> {
    doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(path, item)| {
            let methods = item
                .as_object()
                .unwrap()
                .keys()
                .map(|m| m.to_uppercase())
                .collect();
            (path.clone(), methods)
        })
        .collect()
}

#[tokio::test]
async fn openapi_json_is_an_openapi_3_1_document_of_every_area() {
    let app = spawn_app().await;

    let doc = app.openapi().await;

    assert_eq!(doc["openapi"], "3.1.0");
    for path in [
        "/cgi-bin/account/fastregister",
        "/cgi-bin/component/api_component_token",
        "/cgi-bin/fastregisterauth",
        "/sandbox/v1/components/{appid}",
        "/sandbox/v1/clock/advance",
        "/healthz",
        "/readyz",
        "/metrics",
        "/openapi.json",
    ] {
        assert!(doc["paths"][path].is_object(), "{path} is documented");
    }
    let fastregister = &doc["paths"]["/cgi-bin/account/fastregister"]["post"];
    assert_eq!(
        fastregister["security"][0]["accessToken"],
        Value::Array(vec![])
    );
    let body_ref = fastregister["requestBody"]["content"]["application/json"]["schema"]["$ref"]
        .as_str()
        .unwrap();
    let body_schema = &doc["components"]["schemas"][body_ref.rsplit('/').next().unwrap()];
    assert_eq!(body_schema["required"], serde_json::json!(["ticket"]));
    assert_eq!(
        doc["paths"]["/sandbox/v1/components"]["post"]["security"][0]["adminToken"],
        Value::Array(vec![])
    );
}

#[tokio::test]
async fn every_documented_operation_is_routed() {
    let app = spawn_app().await;
    let doc = app.openapi().await;

    let mut unrouted = Vec::new();
    for (path, methods) in documented(&doc) {
        for method in methods {
            if !app.routed(&method, &path).await {
                unrouted.push(format!("{method} {path}"));
            }
        }
    }

    assert!(
        unrouted.is_empty(),
        "documented but not routed: {unrouted:?}"
    );
}

#[tokio::test]
async fn every_method_a_path_does_not_document_is_refused() {
    let app = spawn_app().await;
    let doc = app.openapi().await;

    let mut undocumented = Vec::new();
    for (path, methods) in documented(&doc) {
        for method in METHODS.iter().filter(|m| !methods.contains(**m)) {
            if app.routed(method, &path).await {
                undocumented.push(format!("{method} {path}"));
            }
        }
    }

    assert!(
        undocumented.is_empty(),
        "routed but not documented: {undocumented:?}"
    );
}

#[tokio::test]
async fn the_router_serves_no_path_the_document_lacks() {
    // Arrange
    let app = spawn_app().await;
    let doc = app.openapi().await;

    // Act
    let served = served_paths(&app);

    // Assert
    let documented: BTreeSet<String> = documented(&doc).into_iter().map(|(p, _)| p).collect();
    assert!(served.len() > 30, "read the router's paths: {served:?}");
    let mut missing = Vec::new();
    for path in served.difference(&documented) {
        // The document's second server: every path of a world's surface under `/w/{world}`.
        if path
            .strip_prefix("/w/{world}")
            .is_some_and(|rest| documented.contains(if rest.is_empty() { "/" } else { rest }))
        {
            continue;
        }
        // The sandbox API's own path with a trailing slash answers what its fallback answers
        // (`sandbox::trailing_slash`): the admin check, then an unknown path.
        if path.ends_with(&format!("{}/", fastreg_platform::http::sandbox::PREFIX)) {
            continue;
        }
        // axum adds routes of its own for a nested router's fallback; they route nothing.
        let concrete = path.replace("{*__private__axum_nest_tail_param}", "x");
        for method in METHODS {
            if app.routed(method, &concrete).await {
                missing.push(format!("{method} {path}"));
            }
        }
    }
    assert!(missing.is_empty(), "served but not documented: {missing:?}");
}

/// The router's own list of path templates (axum prints it in its Debug output).
fn served_paths(app: &TestApp) -> BTreeSet<String> {
    let (routes, fallbacks) = router_paths(app);
    routes.union(&fallbacks).cloned().collect()
}

/// The path templates of the router's routes, then those of its fallbacks (a nested router's
/// fallback is routed by paths of its own), as axum's Debug output lists them.
fn router_paths(app: &TestApp) -> (BTreeSet<String>, BTreeSet<String>) {
    let router = format!("{:?}", http::router(app.state.clone()));
    let (routes, fallbacks) = router
        .split_once("fallback_router:")
        .expect("axum prints the router's routes, then its fallbacks'");
    let paths = |text: &str| -> BTreeSet<String> {
        text.split("RouteId(")
            .filter_map(|s| s.split_once("): \"")?.1.split_once('"'))
            .map(|(path, _)| path.to_string())
            .collect()
    };
    (paths(routes), paths(fallbacks))
}

#[tokio::test]
async fn the_envelope_names_a_request_by_the_template_the_router_routes_it_by() {
    // Arrange
    let app = spawn_app().await;

    // Act
    let (routes, fallbacks) = router_paths(&app);
    let named: BTreeSet<String> = http::TEMPLATES.iter().map(str::to_string).collect();

    // Assert: the same templates. A path only a fallback serves is named as no route's.
    assert!(routes.len() > 30, "read the router's paths: {routes:?}");
    assert_eq!(routes, named);
    for template in &routes {
        // A template's own text is a path it serves (`{appid}` is a segment like any other).
        assert_eq!(http::TEMPLATES.find(template), Some(template.as_str()));
    }
    let fallbacks: Vec<_> = fallbacks.difference(&routes).collect();
    assert!(!fallbacks.is_empty(), "read the fallbacks' paths");
    for template in fallbacks {
        let concrete = template.replace("{*__private__axum_fallback}", "no/such/api");
        assert_eq!(http::TEMPLATES.find(&concrete), None, "{concrete}");
    }
}

#[test]
fn docs_openapi_json_is_the_document_the_code_generates() {
    let file = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/openapi.json");
    let generated = http::openapi_json();
    if std::env::var_os("FASTREG_BLESS").is_some() {
        std::fs::write(&file, generated).unwrap();
    }
    let on_disk = std::fs::read_to_string(&file).unwrap_or_default();
    assert!(
        on_disk == generated,
        "docs/openapi.json is stale: run FASTREG_BLESS=1 cargo test -p fastreg-platform --test api openapi"
    );
}

// --- what the server enforces is in the document (issue 19) ------------------------------------

/// The schema of a component in the document, by name.
fn component_schema<'a>(doc: &'a Value, name: &str) -> &'a Value {
    let s = &doc["components"]["schemas"][name];
    assert!(s.is_object(), "components/schemas/{name} exists");
    s
}

/// The schema a JSON request body refers to.
fn body_schema<'a>(doc: &'a Value, path: &str, method: &str) -> &'a Value {
    let r = doc["paths"][path][method]["requestBody"]["content"]["application/json"]["schema"]
        ["$ref"]
        .as_str()
        .unwrap_or_else(|| panic!("{method} {path} has a JSON body"));
    component_schema(doc, r.rsplit('/').next().unwrap())
}

/// A parameter of an operation, by name.
fn parameter<'a>(doc: &'a Value, path: &str, method: &str, name: &str) -> &'a Value {
    doc["paths"][path][method]["parameters"]
        .as_array()
        .unwrap_or_else(|| panic!("{method} {path} has parameters"))
        .iter()
        .find(|p| p["name"] == name)
        .unwrap_or_else(|| panic!("{method} {path} has parameter {name}"))
}

#[test]
fn every_bounded_query_and_path_parameter_has_the_bounds_the_server_checks() {
    let doc = document();

    for path in ["/sandbox/v1/pushes", "/sandbox/v1/registrations"] {
        let limit = &parameter(&doc, path, "get", "limit")["schema"];
        assert_eq!(limit["type"], "integer", "{path}");
        assert_eq!(limit["minimum"], 1, "{path}");
        assert_eq!(limit["maximum"], 10_000, "{path}");
        assert_eq!(limit["default"], 100, "{path}");
    }
    for method in ["get", "patch"] {
        let id = &parameter(&doc, "/sandbox/v1/entities/{id}", method, "id")["schema"];
        assert_eq!(
            (&id["type"], &id["minimum"]),
            (&json!("integer"), &json!(1))
        );
    }
    let world = &parameter(&doc, "/sandbox/v1/worlds/{id}", "get", "id")["schema"];
    assert_eq!(world["pattern"], fastreg_platform::domain::WORLD_ID_PATTERN);
    let auth_type = &parameter(&doc, "/cgi-bin/componentloginpage", "get", "auth_type");
    assert_eq!(auth_type["required"], false);
    assert_eq!(auth_type["schema"]["enum"], json!([1, 2, 3, 4, 5, 6, 8]));
    let copy = &parameter(&doc, "/cgi-bin/fastregisterauth", "get", "copy_wx_verify");
    assert_eq!(copy["schema"]["enum"], json!([0, 1]));
    let format = &parameter(&doc, "/sandbox/v1/export", "get", "format");
    assert_eq!(format["schema"]["enum"], json!(["json", "toml"]));
}

#[test]
fn body_fields_carry_the_bounds_the_server_checks_taken_from_its_constants() {
    let doc = document();

    let advance = body_schema(&doc, "/sandbox/v1/clock/advance", "post");
    assert_eq!(advance["properties"]["seconds"]["minimum"], 0);
    assert_eq!(
        advance["properties"]["seconds"]["maximum"],
        fastreg_platform::clock::MAX_ADVANCE_SECS
    );
    let config = body_schema(&doc, "/sandbox/v1/config", "patch");
    assert_eq!(
        config["properties"]["processing_delay_ms"]["maximum"],
        fastreg_platform::settings::MAX_PROCESSING_DELAY_MS
    );
    let rules = config["properties"]["rules"].to_string();
    assert!(
        rules.contains("Policy"),
        "rules are the policy's keys: {rules}"
    );
    let fault = body_schema(&doc, "/sandbox/v1/faults", "post");
    assert_eq!(fault["properties"]["times"]["minimum"], 1);
    assert_eq!(
        fault["properties"]["path"]["enum"],
        json!(fastreg_wire::paths::JSON_ENDPOINTS)
    );
    assert_eq!(
        fault["properties"]["inject_errcode"]["not"],
        json!({"const": 0})
    );
    let sets =
        &body_schema(&doc, "/sandbox/v1/authorizations", "post")["properties"]["permission_sets"];
    assert_eq!(sets["minItems"], 1);
    assert_eq!(sets["items"]["minimum"], 1);
    assert_eq!(
        sets["items"]["maximum"],
        fastreg_platform::service::sandbox::PERMISSION_SET_MAX
    );
    let entity = body_schema(&doc, "/sandbox/v1/entities", "post");
    assert_eq!(entity["properties"]["id"]["minimum"], 1);
    assert_eq!(entity["properties"]["name"]["minLength"], 1);
    assert_eq!(
        entity["properties"]["mini_program_cap"]["maximum"],
        u32::MAX,
        "a u32 is bounded by its type"
    );
    let oa = body_schema(&doc, "/sandbox/v1/official-accounts", "post");
    assert_eq!(oa["properties"]["nickname"]["minLength"], 1);
    assert_eq!(oa["properties"]["link_cap"]["maximum"], u32::MAX);
    let component = body_schema(&doc, "/sandbox/v1/components", "post");
    assert_eq!(component["properties"]["auth_domain"]["minLength"], 1);
    assert!(component["properties"]["auth_domain"]["pattern"].is_string());
}

#[test]
fn every_pattern_in_the_document_is_one_the_server_runs() {
    fn patterns(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(m) => {
                if let Some(Value::String(p)) = m.get("pattern") {
                    out.push(p.clone());
                }
                m.values().for_each(|v| patterns(v, out));
            }
            Value::Array(a) => a.iter().for_each(|v| patterns(v, out)),
            _ => {}
        }
    }
    let mut all = Vec::new();
    patterns(&document(), &mut all);

    assert!(all.len() >= 8, "{all:?}");
    for p in all {
        assert!(
            fastreg_platform::input::is_pattern(&p),
            "{p} does not compile"
        );
    }
}

#[test]
fn request_bodies_refer_to_the_shape_that_is_read_not_the_one_that_is_written() {
    let doc = document();

    // An entity is written with every field; it is read with only name and type needed.
    let read = body_schema(&doc, "/sandbox/v1/entities", "post");
    assert_eq!(read["required"], json!(["name", "type"]));
    // A type read the same way but holding one read differently is read as well.
    let world = body_schema(&doc, "/sandbox/v1/worlds", "post").to_string();
    assert!(world.contains("SeedWorldInput"), "{world}");
}

#[test]
fn the_confirm_forms_and_the_console_login_declare_their_fields() {
    let doc = document();

    for (path, fields) in [
        (
            "/cgi-bin/componentloginpage/confirm",
            &["component_appid", "pre_auth_code", "redirect_uri", "csrf"][..],
        ),
        (
            "/cgi-bin/fastregisterauth/confirm",
            &[
                "appid",
                "component_appid",
                "copy_wx_verify",
                "redirect_uri",
                "csrf",
            ][..],
        ),
        ("/console/login", &["token"][..]),
    ] {
        let form = &doc["paths"][path]["post"]["requestBody"]["content"]
            ["application/x-www-form-urlencoded"]["schema"];
        for f in fields {
            assert!(form["properties"][f].is_object(), "{path} declares {f}");
            assert!(
                form["required"].as_array().unwrap().contains(&json!(f)),
                "{path} requires {f}"
            );
        }
    }
    let sets = &doc["paths"]["/cgi-bin/componentloginpage/confirm"]["post"]["requestBody"]
        ["content"]["application/x-www-form-urlencoded"]["schema"]["properties"]["set"];
    assert_eq!(sets["type"], "array");
}

#[test]
fn every_wechat_endpoint_describes_the_errcode_answer_of_its_conventions() {
    let doc = document();

    // A success (errcode 0) is never also an error: the 200's oneOf has one match.
    assert_eq!(
        doc["components"]["schemas"]["WxError"]["properties"]["errcode"]["not"],
        json!({"const": 0})
    );
    let shared = &doc["components"]["responses"]["WxError"];
    assert_eq!(
        shared["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/WxError"
    );
    let mut seen = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            if op["tags"][0] != "wechat" {
                continue;
            }
            seen += 1;
            assert_eq!(
                op["responses"]["default"]["$ref"], "#/components/responses/WxError",
                "{method} {path}"
            );
            let ok = op["responses"]["200"]["content"]["application/json"]["schema"].to_string();
            assert!(
                ok.contains("WxError"),
                "{method} {path}: 200 may be an error"
            );
            let says = op["description"].as_str().unwrap_or_default();
            assert!(
                says.contains("43002") && says.contains("47001") && says.contains("HTTP 200"),
                "{method} {path}"
            );
        }
    }
    assert!(seen >= 10, "{seen} WeChat operations");
}

#[test]
fn links_lead_to_documented_operations_and_walk_the_flow_from_the_component_token_on() {
    let doc = document();
    let mut ids = BTreeSet::new();
    let mut links = Vec::new();
    for item in doc["paths"].as_object().unwrap().values() {
        for op in item.as_object().unwrap().values() {
            ids.insert(op["operationId"].as_str().unwrap().to_string());
            for response in op["responses"].as_object().unwrap().values() {
                for link in response["links"]
                    .as_object()
                    .into_iter()
                    .flat_map(|m| m.values())
                {
                    let to = link["operationId"].as_str().unwrap().to_string();
                    links.push((op["operationId"].as_str().unwrap().to_string(), to));
                }
            }
        }
    }

    for (_, to) in &links {
        assert!(
            ids.contains(to),
            "a link leads to {to}, which is not documented"
        );
    }
    for step in [
        ("create_component", "get_verify_ticket"),
        ("get_verify_ticket", "api_component_token"),
        ("api_component_token", "api_create_preauthcode"),
        ("api_create_preauthcode", "componentloginpage"),
        ("authorize", "api_query_auth"),
        ("api_query_auth", "fastregister"),
        ("confirm_fast_registration", "fastregister"),
        ("fastregister", "api_query_auth"),
    ] {
        assert!(
            links.contains(&(step.0.to_string(), step.1.to_string())),
            "{} links to {}",
            step.0,
            step.1
        );
    }
}

#[tokio::test]
async fn an_empty_limit_or_format_is_refused_as_the_document_says_and_an_absent_one_is_the_default()
{
    let app = spawn_app().await;

    for path in ["/pushes?limit=", "/registrations?limit=", "/export?format="] {
        let (status, body) = app.sandbox("GET", path, None).await;
        assert_eq!(status, 400, "{path}: {body}");
    }
    for path in ["/pushes", "/registrations", "/export"] {
        let (status, body) = app.sandbox("GET", path, None).await;
        assert_eq!(status, 200, "{path}: {body}");
    }
}

#[tokio::test]
async fn integers_written_with_a_zero_fraction_are_read_as_integers() {
    let app = spawn_app().await;

    let (status, body) = app
        .sandbox("POST", "/clock/advance", Some(&json!({"seconds": 60.0})))
        .await;
    let (fraction, _) = app
        .sandbox("POST", "/clock/advance", Some(&json!({"seconds": 60.5})))
        .await;

    assert_eq!(status, 200, "{body}");
    assert_eq!(fraction, 400);
}

#[tokio::test]
async fn the_verify_ticket_answer_is_the_body_api_component_token_takes() {
    let app = spawn_app().await;
    let t = app
        .sandbox_ok("GET", &format!("/components/{C}/verify-ticket"), None)
        .await;

    let token = app.post("/cgi-bin/component/api_component_token", &t).await;

    assert!(token["component_access_token"].is_string(), "{token}");
}

/// The document the code generates.
fn document() -> Value {
    serde_json::from_str(http::openapi_json()).unwrap()
}
