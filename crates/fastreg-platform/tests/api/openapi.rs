//! `/openapi.json` and the router agree: every documented operation is served, every method a
//! path does not document is refused, no path is served that the document lacks, and
//! `docs/openapi.json` is what the code generates (`FASTREG_BLESS=1 cargo test -p
//! fastreg-platform --test api openapi` rewrites it after a deliberate change).

use std::collections::BTreeSet;

use fastreg_platform::http;
use serde_json::Value;

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

    // Act: the router's own list of paths (axum prints it in its Debug output).
    let router = format!("{:?}", http::router(app.state.clone()));
    let served: BTreeSet<String> = router
        .split("RouteId(")
        .filter_map(|s| s.split_once("): \"")?.1.split_once('"'))
        .map(|(path, _)| path.to_string())
        .collect();

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
