//! The wire conventions of spec §2, on every WeChat-compatible endpoint: status, content type,
//! errcode shape and rid, success shapes, query parameter names, and that no malformed input
//! ever earns a 5xx.

use std::collections::HashSet;

use serde_json::{json, Value};

use super::helpers::*;
use super::wechat::assert_refused;

const FAST_REGISTER: &str = "/cgi-bin/account/fastregister";
const COMPONENT_TOKEN: &str = "/cgi-bin/component/api_component_token";
const START_PUSH_TICKET: &str = "/cgi-bin/component/api_start_push_ticket";
const PRE_AUTH_CODE: &str = "/cgi-bin/component/api_create_preauthcode";
const QUERY_AUTH: &str = "/cgi-bin/component/api_query_auth";
const AUTHORIZER_TOKEN: &str = "/cgi-bin/component/api_authorizer_token";
const AUTHORIZER_INFO: &str = "/cgi-bin/component/api_get_authorizer_info";
const AUTHORIZER_LIST: &str = "/cgi-bin/component/api_get_authorizer_list";
const LINK_GET: &str = "/cgi-bin/wxopen/wxamplinkget";
const BASIC_INFO: &str = "/cgi-bin/account/getaccountbasicinfo";

/// The POST-only WeChat-compatible endpoints.
const POST_ENDPOINTS: [&str; 9] = [
    COMPONENT_TOKEN,
    START_PUSH_TICKET,
    PRE_AUTH_CODE,
    QUERY_AUTH,
    AUTHORIZER_TOKEN,
    AUTHORIZER_INFO,
    AUTHORIZER_LIST,
    FAST_REGISTER,
    LINK_GET,
];

const JSON_CT: &str = "application/json; encoding=utf-8";

/// Sends any request; returns (status, content type, body text).
async fn send(
    app: &TestApp,
    method: &str,
    path_and_query: &str,
    body: Option<Vec<u8>>,
) -> (u16, String, String) {
    let mut req = app.http.request(
        method.parse().unwrap(),
        format!("{}{path_and_query}", app.base),
    );
    if let Some(b) = body {
        req = req.body(b);
    }
    let resp = req
        .send()
        .await
        .unwrap_or_else(|e| panic!("{method} {path_and_query}: {e}"));
    let status = resp.status().as_u16();
    let ct = resp
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    (status, ct, resp.text().await.unwrap())
}

/// The rid of an error reply.
fn rid(v: &Value) -> String {
    errmsg_text(v);
    let msg = v["errmsg"].as_str().unwrap();
    msg.rsplit_once(" rid: ").unwrap().1.to_string()
}

/// A component token, the registering OA's token and a Mini Program token.
async fn tokens(app: &TestApp) -> (String, String, String) {
    let ct = app.component_token(C).await;
    let (oat, _) = app.authorize(&ct, C, OA, &[1, 15, 27]).await;
    let ticket = app.confirm(C, OA, 1).await;
    let reg = app.fastregister(&oat, &ticket).await;
    let v = app
        .query_auth(&ct, C, reg["authorization_code"].as_str().unwrap())
        .await;
    let mpt = v["authorization_info"]["authorizer_access_token"]
        .as_str()
        .unwrap()
        .to_string();
    (ct, oat, mpt)
}

#[tokio::test]
async fn errors_are_http_200_with_wechats_content_type_and_a_rid() {
    let app = spawn_app().await;
    for path in POST_ENDPOINTS.into_iter().chain([BASIC_INFO]) {
        let (status, ct, text) = send(&app, "POST", path, Some(b"{".to_vec())).await;
        assert_eq!(status, 200, "{path}: {text}");
        assert_eq!(ct, JSON_CT, "{path}");
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_ne!(errcode(&v), 0, "{path}: {v}");
        rid(&v);
        let keys: Vec<&String> = v.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["errcode", "errmsg"], "{path}: {v}");
    }
}

#[tokio::test]
async fn every_request_gets_its_own_rid() {
    let app = spawn_app().await;
    let mut seen = HashSet::new();
    for i in 0..300 {
        let path = POST_ENDPOINTS[i % POST_ENDPOINTS.len()];
        let v = app.post_raw(path, "").await;
        let r = rid(&v);
        assert!(
            seen.insert(r.clone()),
            "rid {r} repeated after {i} requests"
        );
    }
    // Concurrent requests too.
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..100 {
        let (http, url) = (app.http.clone(), format!("{}{FAST_REGISTER}", app.base));
        set.spawn(async move { http.post(url).send().await.unwrap().json::<Value>().await });
    }
    while let Some(v) = set.join_next().await {
        let r = rid(&v.unwrap().unwrap());
        assert!(seen.insert(r.clone()), "rid {r} repeated");
    }
    assert_eq!(seen.len(), 400);
}

#[tokio::test]
async fn token_endpoints_succeed_without_an_errcode_and_the_others_with_errcode_0_and_ok() {
    let app = spawn_app().await;
    let (secret, ticket) = app.component_credentials(C).await;
    let v = app
        .post(
            COMPONENT_TOKEN,
            &json!({"component_appid": C, "component_appsecret": secret,
                    "component_verify_ticket": ticket}),
        )
        .await;
    assert!(
        v.get("errcode").is_none() && v.get("errmsg").is_none(),
        "{v}"
    );
    let ct = v["component_access_token"].as_str().unwrap().to_string();
    assert_eq!(v["expires_in"], 7200);

    let q = |path: &str| format!("{path}?component_access_token={ct}");
    let v = app
        .post(&q(PRE_AUTH_CODE), &json!({ "component_appid": C }))
        .await;
    assert!(v.get("errcode").is_none(), "{v}");
    assert!(v["pre_auth_code"].is_string());

    let grant = app
        .sandbox_ok(
            "POST",
            "/authorizations",
            Some(&json!({"component_appid": C, "authorizer_appid": OA,
                         "permission_sets": [1, 15, 27]})),
        )
        .await;
    let v = app
        .query_auth(&ct, C, grant["auth_code"].as_str().unwrap())
        .await;
    assert!(v.get("errcode").is_none(), "{v}");
    let info = &v["authorization_info"];
    let oat = info["authorizer_access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let refresh = info["authorizer_refresh_token"]
        .as_str()
        .unwrap()
        .to_string();

    let v = app
        .post(
            &q(AUTHORIZER_TOKEN),
            &json!({"component_appid": C, "authorizer_appid": OA,
                    "authorizer_refresh_token": refresh}),
        )
        .await;
    assert!(v.get("errcode").is_none(), "{v}");
    assert!(v["authorizer_access_token"].is_string());
    let oat2 = v["authorizer_access_token"].as_str().unwrap().to_string();
    assert_ne!(oat2, oat);

    let ok = |v: &Value| {
        assert_eq!(v["errcode"], 0, "{v}");
        assert_eq!(v["errmsg"], "ok", "{v}");
    };
    ok(&app
        .post(
            &q(AUTHORIZER_INFO),
            &json!({"component_appid": C, "authorizer_appid": OA}),
        )
        .await);
    ok(&app
        .post(
            &q(AUTHORIZER_LIST),
            &json!({"component_appid": C, "offset": 0, "count": 10}),
        )
        .await);
    ok(&app
        .post(
            START_PUSH_TICKET,
            &json!({"component_appid": C, "component_secret": secret}),
        )
        .await);
    ok(&app
        .post(&format!("{LINK_GET}?access_token={oat2}"), &json!({}))
        .await);
}

#[tokio::test]
async fn fastregister_success_has_an_empty_errmsg_and_string_booleans_by_default() {
    let app = spawn_app().await;
    let oat = app.oa_token(OA).await;
    let ticket = app.confirm(C, OA, 1).await;
    let (status, ct, text) = send(
        &app,
        "POST",
        &format!("{FAST_REGISTER}?access_token={oat}"),
        Some(json!({ "ticket": ticket }).to_string().into_bytes()),
    )
    .await;
    assert_eq!((status, ct.as_str()), (200, JSON_CT));
    // The documented example's field order, too.
    assert!(
        text.starts_with(r#"{"errcode":0,"errmsg":"","appid":"wx"#),
        "{text}"
    );
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["errmsg"], "");
    assert_eq!(v["is_wx_verify_succ"], "true");
    assert_eq!(v["is_link_succ"], "true");
    let ticket = app.confirm(C, OA, 0).await;
    let v = app.fastregister(&oat, &ticket).await;
    assert_eq!(v["is_wx_verify_succ"], "false");
}

#[tokio::test]
async fn fastregister_writes_json_booleans_once_configured_to() {
    let app = spawn_app().await;
    let cfg = app
        .sandbox_ok("PATCH", "/config", Some(&json!({"booleans": "json"})))
        .await;
    assert_eq!(cfg["booleans"], "json");
    let oat = app.oa_token(OA).await;
    let ticket = app.confirm(C, OA, 0).await;
    let v = app.fastregister(&oat, &ticket).await;
    assert_eq!(v["errmsg"], "");
    assert_eq!(v["is_wx_verify_succ"], false, "{v}");
    assert_eq!(v["is_link_succ"], true, "{v}");
    // A replay is written in the current style as well.
    app.sandbox_ok("PATCH", "/config", Some(&json!({"booleans": "string"})))
        .await;
    let v = app.fastregister(&oat, &ticket).await;
    assert_eq!(v["is_link_succ"], "true", "{v}");
}

#[tokio::test]
async fn component_endpoints_take_the_token_as_component_access_token_or_access_token() {
    let app = spawn_app().await;
    let ct = app.component_token(C).await;
    let body = json!({ "component_appid": C });
    for name in ["component_access_token", "access_token"] {
        let v = app
            .post(&format!("{PRE_AUTH_CODE}?{name}={ct}"), &body)
            .await;
        assert!(v["pre_auth_code"].is_string(), "{name}: {v}");
        let v = app
            .post(
                &format!("{AUTHORIZER_LIST}?{name}={ct}"),
                &json!({"component_appid": C, "offset": 0, "count": 1}),
            )
            .await;
        assert_eq!(v["errcode"], 0, "{name}: {v}");
    }
}

#[tokio::test]
async fn an_empty_component_access_token_falls_back_to_access_token() {
    let app = spawn_app().await;
    let ct = app.component_token(C).await;
    let body = json!({ "component_appid": C });
    let v = app
        .post(
            &format!("{PRE_AUTH_CODE}?component_access_token=&access_token={ct}"),
            &body,
        )
        .await;
    assert!(v["pre_auth_code"].is_string(), "{v}");
    let v = app
        .post(
            &format!("{PRE_AUTH_CODE}?component_access_token=&access_token="),
            &body,
        )
        .await;
    assert_refused(&v, 41001);
}

#[tokio::test]
async fn the_first_of_repeated_query_parameters_wins() {
    let app = spawn_app().await;
    let ct = app.component_token(C).await;
    let (oat, _) = app.authorize(&ct, C, OA, &[1, 15, 27]).await;
    let v = app
        .post(
            &format!("{LINK_GET}?access_token={oat}&access_token=junk"),
            &json!({}),
        )
        .await;
    assert_eq!(v["errcode"], 0, "{v}");
    let v = app
        .post(
            &format!("{LINK_GET}?access_token=junk&access_token={oat}"),
            &json!({}),
        )
        .await;
    assert_refused(&v, 40001);
    let body = json!({ "component_appid": C });
    let v = app
        .post(
            &format!("{PRE_AUTH_CODE}?component_access_token={ct}&component_access_token=junk"),
            &body,
        )
        .await;
    assert!(v["pre_auth_code"].is_string(), "{v}");
    let v = app
        .post(
            &format!("{PRE_AUTH_CODE}?component_access_token=junk&component_access_token={ct}"),
            &body,
        )
        .await;
    assert_refused(&v, 40001);
}

#[tokio::test]
async fn unknown_json_fields_are_ignored() {
    let app = spawn_app().await;
    let (secret, ticket) = app.component_credentials(C).await;
    let v = app
        .post(
            COMPONENT_TOKEN,
            &json!({"component_appid": C, "component_appsecret": secret,
                    "component_verify_ticket": ticket, "future_field": {"nested": [1, 2]},
                    "another": null}),
        )
        .await;
    let ct = v["component_access_token"].as_str().unwrap().to_string();
    let (oat, _) = app.authorize(&ct, C, OA, &[1, 15, 27]).await;
    let ticket = app.confirm(C, OA, 1).await;
    let v = app
        .post(
            &format!("{FAST_REGISTER}?access_token={oat}"),
            &json!({"ticket": ticket, "appid": "wx1234", "extra": true}),
        )
        .await;
    assert_eq!(v["errcode"], 0, "{v}");
}

#[tokio::test]
async fn a_wrong_method_on_a_post_endpoint_answers_43002_with_http_200() {
    let app = spawn_app().await;
    for path in POST_ENDPOINTS {
        for method in ["GET", "PUT", "DELETE", "PATCH"] {
            let (status, ct, text) = send(&app, method, path, None).await;
            assert_eq!(
                (status, ct.as_str()),
                (200, JSON_CT),
                "{method} {path}: {text}"
            );
            let v: Value = serde_json::from_str(&text).unwrap();
            assert_refused(&v, 43002);
        }
    }
    // getaccountbasicinfo is a GET endpoint (POST is tolerated); other methods are 43001.
    let (status, _, text) = send(&app, "DELETE", BASIC_INFO, None).await;
    assert_eq!(status, 200);
    assert_refused(&serde_json::from_str(&text).unwrap(), 43001);
}

#[tokio::test]
async fn an_unknown_path_answers_http_404_with_errcode_40066() {
    let app = spawn_app().await;
    for (method, path) in [
        ("POST", "/cgi-bin/component/api_no_such_thing"),
        ("GET", "/cgi-bin/account/fastregister/extra"),
        ("GET", "/no-such-page"),
        ("POST", "/cgi-bin/wxopen/wxamplinkget/"),
    ] {
        let (status, ct, text) = send(&app, method, path, Some(b"{}".to_vec())).await;
        assert_eq!(status, 404, "{method} {path}: {text}");
        assert_eq!(ct, JSON_CT, "{method} {path}");
        assert_refused(&serde_json::from_str(&text).unwrap(), 40066);
    }
    // A page path called with a method it does not take: 405, still in the errcode shape.
    let (status, ct, text) = send(&app, "DELETE", "/", None).await;
    assert_eq!(status, 405, "{text}");
    assert_eq!(ct, JSON_CT);
    assert_refused(&serde_json::from_str(&text).unwrap(), 40066);
}

/// Bodies no endpoint should ever choke on.
fn malformed_bodies() -> Vec<(&'static str, Vec<u8>)> {
    let fields = [
        "component_appid",
        "component_appsecret",
        "component_verify_ticket",
        "component_secret",
        "authorization_code",
        "authorizer_appid",
        "authorizer_refresh_token",
        "offset",
        "count",
        "ticket",
    ];
    let with_all = |value: Value| {
        let mut m = serde_json::Map::new();
        for f in fields {
            m.insert(f.into(), value.clone());
        }
        Value::Object(m).to_string().into_bytes()
    };
    let mut nested = "[".repeat(100_000);
    nested.push_str(&"]".repeat(100_000));
    let mut nested_objects = r#"{"ticket":"#.repeat(50_000);
    nested_objects.push_str(&"}".repeat(50_000));
    vec![
        ("empty", vec![]),
        ("whitespace", b" \n\t\r ".to_vec()),
        ("truncated object", b"{".to_vec()),
        ("truncated string", br#"{"component_appid":"wxc0ff"#.to_vec()),
        ("truncated after comma", br#"{"ticket":"a","#.to_vec()),
        ("trailing garbage", br#"{"ticket":"a"} x"#.to_vec()),
        ("two objects", br#"{}{}"#.to_vec()),
        ("empty array", b"[]".to_vec()),
        ("array of strings", br#"["wxc0ffee0000000001","secret","ticket"]"#.to_vec()),
        ("array of objects", br#"[{"ticket":"a"}]"#.to_vec()),
        ("null", b"null".to_vec()),
        ("number", b"42".to_vec()),
        ("string", br#""ticket""#.to_vec()),
        ("boolean", b"true".to_vec()),
        ("numbers for strings", with_all(json!(12345))),
        ("floats everywhere", with_all(json!(1.5))),
        ("negative numbers", with_all(json!(-1))),
        ("booleans everywhere", with_all(json!(true))),
        ("objects everywhere", with_all(json!({"a": 1}))),
        ("arrays everywhere", with_all(json!(["a"]))),
        ("nulls everywhere", with_all(Value::Null)),
        ("empty strings", with_all(json!(""))),
        ("huge integer", br#"{"offset":99999999999999999999999999999,"count":99999999999999999999999999999,"ticket":1e400}"#.to_vec()),
        ("huge float", br#"{"offset":1e400,"count":-1e400}"#.to_vec()),
        ("u64 max", br#"{"offset":18446744073709551615,"count":18446744073709551616}"#.to_vec()),
        ("lone surrogate", br#"{"ticket":"\ud800","component_appid":"\udfff"}"#.to_vec()),
        ("odd unicode", with_all(json!("wx\u{202e}\u{feff}\u{fffd}😀\u{10ffff}中文"))),
        ("invalid utf-8", b"{\"ticket\":\"\xff\xfe\xc0\x80\"}".to_vec()),
        ("utf-8 BOM", b"\xef\xbb\xbf{\"ticket\":\"a\"}".to_vec()),
        ("escaped NUL", with_all(json!("a\u{0}b"))),
        ("raw NUL in a string", b"{\"ticket\":\"a\0b\"}".to_vec()),
        ("only NULs", vec![0; 64]),
        ("NUL after the object", b"{\"ticket\":\"a\"}\0".to_vec()),
        ("long strings", with_all(json!("a".repeat(100_000)))),
        ("deeply nested arrays", nested.into_bytes()),
        ("deeply nested objects", nested_objects.into_bytes()),
        ("duplicate keys", br#"{"ticket":"a","ticket":"b","component_appid":"x","component_appid":"y"}"#.to_vec()),
        ("2 MiB", {
            let mut b = br#"{"ticket":""#.to_vec();
            b.extend(std::iter::repeat_n(b'a', 2 * 1024 * 1024));
            b.extend(br#""}"#);
            b
        }),
    ]
}

#[tokio::test]
async fn malformed_bodies_never_earn_a_5xx_on_any_endpoint() {
    let app = spawn_app().await;
    let (ct, oat, mpt) = tokens(&app).await;
    let mut endpoints: Vec<(String, bool)> = vec![
        (COMPONENT_TOKEN.into(), true),
        (START_PUSH_TICKET.into(), true),
        (format!("{BASIC_INFO}?access_token={mpt}"), false),
        (format!("{LINK_GET}?access_token={oat}"), false),
        (format!("{FAST_REGISTER}?access_token={oat}"), true),
        (BASIC_INFO.into(), true),
        (LINK_GET.into(), true),
        (FAST_REGISTER.into(), true),
    ];
    for path in [
        PRE_AUTH_CODE,
        QUERY_AUTH,
        AUTHORIZER_TOKEN,
        AUTHORIZER_INFO,
        AUTHORIZER_LIST,
    ] {
        // With the right token (the body is read) and without (the token is refused first).
        endpoints.push((format!("{path}?component_access_token={ct}"), true));
        endpoints.push((path.into(), true));
    }
    let bodies = malformed_bodies();
    for (path, must_refuse) in &endpoints {
        for (what, body) in &bodies {
            let (status, ct, text) = send(&app, "POST", path, Some(body.clone())).await;
            assert_eq!(status, 200, "{path} with {what}: {text}");
            assert_eq!(ct, JSON_CT, "{path} with {what}");
            let v: Value = serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("{path} with {what}: not JSON ({e}): {text}"));
            let code = v["errcode"]
                .as_i64()
                .unwrap_or_else(|| panic!("{path} with {what}: no errcode: {v}"));
            if *must_refuse {
                assert!(
                    ![0, -1].contains(&code),
                    "{path} with {what}: errcode {code}: {v}"
                );
                rid(&v);
            } else {
                // wxamplinkget and getaccountbasicinfo read no body.
                assert_eq!(code, 0, "{path} with {what}: {v}");
            }
        }
    }
    // After all that the platform still works.
    let ticket = app.confirm(C, OA, 1).await;
    assert_eq!(app.fastregister(&oat, &ticket).await["errcode"], 0);
}

#[tokio::test]
async fn the_body_checks_answer_44002_for_empty_and_47001_for_malformed_on_every_component_endpoint(
) {
    let app = spawn_app().await;
    let ct = app.component_token(C).await;
    for path in [
        PRE_AUTH_CODE,
        QUERY_AUTH,
        AUTHORIZER_TOKEN,
        AUTHORIZER_INFO,
        AUTHORIZER_LIST,
    ] {
        let q = format!("{path}?component_access_token={ct}");
        assert_refused(&app.post_raw(&q, "").await, 44002);
        assert_refused(&app.post_raw(&q, "{").await, 47001);
        assert_refused(&app.post_raw(&q, r#"{"component_appid":1}"#).await, 47001);
        assert_refused(&app.post_raw(&q, "[]").await, 47001);
    }
    for path in [COMPONENT_TOKEN, START_PUSH_TICKET] {
        assert_refused(&app.post_raw(path, "").await, 44002);
        assert_refused(
            &app.post_raw(path, r#"{"component_appid":["x"]}"#).await,
            47001,
        );
    }
    let mut big = br#"{"component_appid":""#.to_vec();
    big.extend(std::iter::repeat_n(b'a', 1024 * 1024));
    big.extend(br#""}"#);
    assert_refused(&app.post_raw(COMPONENT_TOKEN, big).await, 47001);
}

#[tokio::test]
async fn a_body_of_exactly_1_mib_is_read_and_one_byte_more_is_refused_with_47001() {
    let app = spawn_app().await;
    let oat = app.oa_token(OA).await;
    let path = format!("{FAST_REGISTER}?access_token={oat}");
    let body_of = |ticket: &str, len: usize| {
        let head = format!(r#"{{"ticket":"{ticket}","pad":""#);
        let mut b = head.into_bytes();
        b.resize(len - 2, b'x');
        b.extend(br#""}"#);
        assert_eq!(b.len(), len);
        b
    };
    let ticket = app.confirm(C, OA, 1).await;
    assert_refused(
        &app.post_raw(&path, body_of(&ticket, 1024 * 1024 + 1)).await,
        47001,
    );
    let v = app.post_raw(&path, body_of(&ticket, 1024 * 1024)).await;
    assert_eq!(v["errcode"], 0, "{v}");
}

/// The answer to a POST to `path`, served by `route` in the envelope as `http::router`'s routes
/// are, on a platform of its own.
async fn post_in_the_envelope(
    path: &'static str,
    route: axum::routing::MethodRouter,
) -> axum::response::Response {
    use axum::body::Body;
    use axum::http::Request;
    use fastreg_platform::app::Application;
    use fastreg_platform::http::envelope::EnvelopeLayer;
    use fastreg_platform::http::route::Templates;
    use fastreg_platform::settings::Settings;
    use tower::{Layer as _, ServiceExt as _};

    let dir = tempfile::tempdir().expect("a temporary directory");
    let app = Application::build(Settings {
        addr: "127.0.0.1:0".into(),
        db: format!("sqlite://{}", dir.path().join("p.db").display()),
        ..Settings::default()
    })
    .await
    .expect("the platform builds");
    // The envelope keeps its templates for the life of the process, as `http::TEMPLATES`.
    let templates: &'static Templates = Box::leak(Box::new(Templates::new([path.to_string()])));
    let router =
        EnvelopeLayer::new(app.state(), templates).layer(axum::Router::new().route(path, route));
    router
        .oneshot(Request::post(path).body(Body::empty()).expect("a request"))
        .await
        .expect("answered")
}

#[tokio::test]
async fn a_route_that_panics_is_answered_as_a_system_error_under_the_requests_own_rid() {
    // No route of the platform panics on purpose: a route of the test's own.
    let resp = post_in_the_envelope(
        "/cgi-bin/boom",
        axum::routing::post(|| async {
            if true {
                panic!("secret-looking text from the panic");
            }
            "not reached"
        }),
    )
    .await;
    assert_eq!(resp.status(), 200);
    let body = axum::body::to_bytes(resp.into_body(), 4096)
        .await
        .expect("a body");
    let json: Value = serde_json::from_slice(&body).expect("JSON");
    assert_eq!(json["errcode"], -1, "{json}");
    let errmsg = json["errmsg"].as_str().expect("an errmsg");
    let rid = errmsg.rsplit(" rid: ").next().expect("a rid");
    assert!(
        errmsg.contains(" rid: ") && rid.len() == 26 && rid.split('-').count() == 3,
        "{errmsg}"
    );
    assert!(!errmsg.contains("secret-looking"), "{errmsg}");
}

#[tokio::test]
async fn a_refusal_leaves_its_length_to_the_rendered_body_and_has_wechats_content_type() {
    use axum::http::header;
    use fastreg_platform::error::Error;
    use fastreg_wire::ErrCode;

    // Arrange: a route that refuses.
    let route = axum::routing::post(|| async { Err::<(), _>(Error::wx(ErrCode::InvalidTicket)) });

    // Act
    let resp = post_in_the_envelope("/cgi-bin/no", route).await;

    // Assert: no length given for the empty body the route answered with (hyper writes the
    // rendered body's own), and WeChat's content type.
    let length = resp.headers().get(header::CONTENT_LENGTH).cloned();
    let kind = resp.headers().get(header::CONTENT_TYPE).cloned();
    let body = axum::body::to_bytes(resp.into_body(), 4096)
        .await
        .expect("a body");
    assert_eq!(length, None);
    assert_eq!(
        kind.as_ref().map(|v| v.as_bytes()),
        Some(&b"application/json; encoding=utf-8"[..])
    );
    assert!(body.starts_with(br#"{"errcode":61058,"#), "{body:?}");
}
