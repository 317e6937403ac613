//! What an operator relies on: health and readiness probes, Prometheus metrics, and a stop
//! that loses nothing.
//!
//! Metrics are process-wide and the tests of this binary run in parallel, so assertions on
//! counters compare a value before and after, and ask for "at least".

use std::time::Duration;

use serde_json::{json, Value};

use crate::helpers::*;

impl TestApp {
    /// A GET without any credential: (status, content type, body).
    async fn get_plain(&self, path: &str) -> (u16, String, String) {
        let resp = self
            .http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .expect("request sent");
        let status = resp.status().as_u16();
        let ct = resp
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default();
        (status, ct, resp.text().await.unwrap())
    }

    async fn metrics_text(&self) -> String {
        let (status, ct, body) = self.get_plain("/metrics").await;
        assert_eq!(status, 200, "{body}");
        assert!(ct.starts_with("application/openmetrics-text"), "{ct}");
        body
    }
}

/// The value of one sample (`name{labels}`) in an exposition; 0 when absent.
fn sample(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .map(|v| v.split(' ').next().unwrap().parse().unwrap())
        .unwrap_or(0.0)
}

#[tokio::test]
async fn healthz_answers_ok_without_any_token() {
    // Arrange
    let app = spawn_app().await;

    // Act
    let (status, _, body) = app.get_plain("/healthz").await;

    // Assert
    assert_eq!(status, 200);
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap(),
        json!({"status": "ok"})
    );
}

#[tokio::test]
async fn readyz_answers_200_when_the_store_answers() {
    let app = spawn_app().await;

    let (status, _, body) = app.get_plain("/readyz").await;

    assert_eq!(status, 200, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["status"], "ready");
    assert_eq!(v["backend"], "sqlite");
}

#[tokio::test]
async fn readyz_answers_503_with_the_reason_when_the_store_cannot_read_its_schema() {
    // Arrange: sabotage the schema under the running server.
    let app = spawn_app().await;
    let conn = rusqlite::Connection::open(&app.db_path).unwrap();
    conn.execute_batch("DROP TABLE meta").unwrap();

    // Act
    let (status, ct, body) = app.get_plain("/readyz").await;

    // Assert
    assert_eq!(status, 503, "{body}");
    assert!(ct.starts_with("application/json"), "{ct}");
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["status"], "unavailable");
    assert!(
        v["reason"]
            .as_str()
            .unwrap()
            .contains("no such table: meta"),
        "{v}"
    );
    // Liveness is unaffected: the process still serves.
    assert_eq!(app.get_plain("/healthz").await.0, 200);
}

#[tokio::test]
async fn metrics_count_requests_by_route_template_and_errcode_never_by_raw_path() {
    // Arrange
    let app = spawn_app().await;
    let before = app.metrics_text().await;
    let series_ok = r#"fastreg_http_requests_total{endpoint="/sandbox/v1/components/{appid}",method="GET",errcode="0"}"#;
    let series_41001 = r#"fastreg_http_requests_total{endpoint="/cgi-bin/account/fastregister",method="POST",errcode="41001"}"#;
    let series_unmatched =
        r#"fastreg_http_requests_total{endpoint="unmatched",method="GET",errcode="40066"}"#;
    let series_page = r#"fastreg_http_requests_total{endpoint="/cgi-bin/fastregisterauth",method="GET",errcode="47001"}"#;

    // Act
    app.sandbox_ok("GET", &format!("/components/{C}"), None)
        .await;
    app.post("/cgi-bin/account/fastregister", &json!({"ticket": "x"}))
        .await;
    app.get_plain("/no/such/path-7f3a").await;
    let (page_status, _, _) = app.get_plain("/cgi-bin/fastregisterauth").await;
    let after = app.metrics_text().await;

    // Assert
    assert!(sample(&after, series_ok) >= sample(&before, series_ok) + 1.0);
    assert!(sample(&after, series_41001) >= sample(&before, series_41001) + 1.0);
    assert!(sample(&after, series_unmatched) >= sample(&before, series_unmatched) + 1.0);
    assert_eq!(page_status, 400, "a page without its parameters is refused");
    assert!(
        sample(&after, series_page) >= sample(&before, series_page) + 1.0,
        "a page's refusal is counted with its errcode"
    );
    assert!(
        after.contains(
            r#"fastreg_http_request_duration_seconds_count{endpoint="/cgi-bin/account/fastregister",method="POST"}"#
        ),
        "{after}"
    );
    assert!(!after.contains(C), "an appid became a label value");
    assert!(
        !after.contains("path-7f3a"),
        "a raw path became a label value"
    );
}

#[tokio::test]
async fn metrics_count_registrations_token_issues_and_storage_latency() {
    // Arrange
    let app = spawn_app().await;
    let before = app.metrics_text().await;
    let registered = r#"fastreg_registrations_total{outcome="registered"}"#;
    let replayed = r#"fastreg_registrations_total{outcome="replayed"}"#;
    let component_tokens = r#"fastreg_tokens_issued_total{kind="component_access_token",endpoint="/cgi-bin/component/api_component_token"}"#;
    let query_auth_tokens = r#"fastreg_tokens_issued_total{kind="authorizer_access_token",endpoint="/cgi-bin/component/api_query_auth"}"#;
    let writes = r#"fastreg_storage_duration_seconds_count{op="write"}"#;

    // Act: a registration, and its replay.
    let token = app.oa_token(OA).await;
    let ticket = app.confirm(C, OA, 1).await;
    assert_eq!(errcode(&app.fastregister(&token, &ticket).await), 0);
    assert_eq!(errcode(&app.fastregister(&token, &ticket).await), 0);
    let after = app.metrics_text().await;

    // Assert
    assert!(sample(&after, registered) >= sample(&before, registered) + 1.0);
    assert!(sample(&after, replayed) >= sample(&before, replayed) + 1.0);
    assert!(sample(&after, component_tokens) >= sample(&before, component_tokens) + 1.0);
    assert!(sample(&after, query_auth_tokens) >= sample(&before, query_auth_tokens) + 1.0);
    assert!(
        sample(&after, writes) >= sample(&before, writes) + 4.0,
        "{after}"
    );
    assert!(after.contains("fastreg_build_info{version="), "{after}");
}

#[tokio::test]
async fn metrics_require_the_metrics_token_when_one_is_set() {
    let app = spawn_app_with(|s| s.metrics_token = Some("scrape-me".into())).await;
    let url = format!("{}/metrics", app.base);

    let none = app.http.get(&url).send().await.unwrap();
    let admin = app.http.get(&url).bearer_auth(ADMIN).send().await.unwrap();
    let right = app
        .http
        .get(&url)
        .bearer_auth("scrape-me")
        .send()
        .await
        .unwrap();

    assert_eq!(none.status(), 401);
    let v: Value = none.json().await.unwrap();
    assert_eq!(v["errcode"], 41001, "{v}");
    assert_eq!(
        admin.status(),
        401,
        "the admin token is not the metrics token"
    );
    assert_eq!(right.status(), 200);
    assert!(right
        .text()
        .await
        .unwrap()
        .contains("fastreg_http_requests_total"));
    // The probes stay open.
    assert_eq!(app.get_plain("/healthz").await.0, 200);
}

/// A receiver of pushes that answers `success` on `listener` and counts what it received.
async fn receive_pushes(
    listener: tokio::net::TcpListener,
) -> std::sync::Arc<std::sync::atomic::AtomicU32> {
    use std::sync::atomic::{AtomicU32, Ordering};
    let received = std::sync::Arc::new(AtomicU32::new(0));
    let counter = received.clone();
    let app = axum::Router::new().route(
        "/events",
        axum::routing::post(move || {
            let counter = counter.clone();
            async move {
                counter.fetch_add(1, Ordering::SeqCst);
                "success"
            }
        }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await });
    received
}

#[tokio::test]
async fn pushes_pending_at_a_stop_stay_in_the_outbox_and_are_delivered_after_the_next_start() {
    // Arrange: a component whose event URL refuses connections for now.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let app = spawn_app().await;
    let created = app
        .sandbox_ok(
            "POST",
            "/components",
            Some(&json!({"auth_domain": "localhost", "published": true,
                         "permission_sets": [3, 17, 18, 30, 31],
                         "event_url": format!("http://127.0.0.1:{port}/events")})),
        )
        .await;
    let component = created["appid"].as_str().unwrap().to_string();
    let log = format!("/pushes?component_appid={component}");
    let mut attempts = 0;
    for _ in 0..100 {
        let pushes = app.sandbox_ok("GET", &log, None).await;
        attempts = pushes[0]["attempts"].as_u64().unwrap_or(0);
        if attempts >= 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(attempts >= 1, "the first attempt was made and failed");

    // Act: stop, make the receiver reachable, start again on the same database.
    let dir = app.stop().await;
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .unwrap();
    let received = receive_pushes(listener).await;
    let app = spawn_on(dir, |_| {}).await;

    // Assert
    let mut status = Value::Null;
    for _ in 0..200 {
        let pushes = app.sandbox_ok("GET", &log, None).await;
        status = pushes[0]["status"].clone();
        if status == "delivered" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(status, "delivered", "the push left pending was delivered");
    assert!(received.load(std::sync::atomic::Ordering::SeqCst) >= 1);
}
