//! The authorizer options (api_get_authorizer_option, api_set_authorizer_option and the newer
//! get_/set_authorizer_option): values per account, both token forms, both value types, and
//! WeChat's refusals in order.

use serde_json::{json, Value};

use crate::helpers::*;
use crate::wechat::*;

const API_GET: &str = "/cgi-bin/component/api_get_authorizer_option";
const API_SET: &str = "/cgi-bin/component/api_set_authorizer_option";
const GET: &str = "/cgi-bin/component/get_authorizer_option";
const SET: &str = "/cgi-bin/component/set_authorizer_option";

/// A platform, a component token, and the OA authorised with sets 1 (messages: voice
/// recognition) and 2 (users: location report) but not 6 (customer service); its token.
async fn authorised() -> (TestApp, String, String) {
    let app = spawn_app().await;
    let ct = app.component_token(C).await;
    let (oat, _) = app.authorize(&ct, C, OA, &[1, 2, 15, 27]).await;
    (app, ct, oat)
}

fn get_body(option: &str) -> Value {
    json!({"component_appid": C, "authorizer_appid": OA, "option_name": option})
}

fn set_body(option: &str, value: Value) -> Value {
    json!({"component_appid": C, "authorizer_appid": OA, "option_name": option,
           "option_value": value})
}

#[tokio::test]
async fn an_option_never_set_reads_0_and_reads_back_what_was_set_as_a_string_or_a_number() {
    let (app, ct, _) = authorised().await;
    let get = |option: &'static str| {
        let (app, ct) = (&app, &ct);
        async move {
            app.post(&component_query(API_GET, ct), &get_body(option))
                .await
        }
    };

    let v = get("voice_recognize").await;
    assert_eq!(errcode(&v), 0, "{v}");
    assert_eq!(v["authorizer_appid"], OA);
    assert_eq!(v["option_name"], "voice_recognize");
    assert_eq!(v["option_value"], "0");

    for (option, value, read) in [
        ("voice_recognize", json!("1"), "1"),
        ("location_report", json!(2), "2"),
        ("location_report", json!("0"), "0"),
    ] {
        let v = app
            .post(&component_query(API_SET, &ct), &set_body(option, value))
            .await;
        assert_eq!(errcode(&v), 0, "{v}");
        assert_eq!(v["errmsg"], "ok");
        assert_eq!(get(option).await["option_value"], read, "{option}");
    }
}

#[tokio::test]
async fn the_newer_paths_take_the_authorizers_own_token_and_see_the_same_values() {
    let (app, ct, oat) = authorised().await;
    let v = app
        .post(
            &format!("{SET}?access_token={oat}"),
            &json!({"option_name": "voice_recognize", "option_value": "1"}),
        )
        .await;
    assert_eq!(errcode(&v), 0, "{v}");
    let v = app
        .post(
            &format!("{GET}?access_token={oat}"),
            &json!({"option_name": "voice_recognize"}),
        )
        .await;
    assert_eq!(v["option_value"], "1", "{v}");
    assert_eq!(v["authorizer_appid"], OA);
    // The component may call the newer path itself, naming the authorizer.
    let v = app
        .post(
            &format!("{GET}?access_token={ct}"),
            &get_body("voice_recognize"),
        )
        .await;
    assert_eq!(v["option_value"], "1", "{v}");
    // …but the api_ paths take a component token only.
    assert_refused(
        &app.post(
            &format!("{API_GET}?access_token={oat}"),
            &get_body("voice_recognize"),
        )
        .await,
        48001,
    );
}

#[tokio::test]
async fn refusals_come_in_wechats_order_token_body_authorizer_option_set_value() {
    let (app, ct, _) = authorised().await;
    let set = |body: Value| {
        let (app, ct) = (&app, &ct);
        async move { app.post(&component_query(API_SET, ct), &body).await }
    };
    assert_refused(
        &app.post(API_SET, &set_body("voice_recognize", json!("1")))
            .await,
        41001,
    );
    assert_refused(
        &app.post(&component_query(API_SET, "nope"), &json!({}))
            .await,
        40001,
    );
    assert_refused(
        &app.post_raw(&component_query(API_SET, &ct), "").await,
        44002,
    );
    assert_refused(
        &set(json!({"component_appid": C, "authorizer_appid": OA,
                    "option_name": "voice_recognize", "option_value": true}))
        .await,
        47001,
    );
    assert_refused(
        &set(
            json!({"component_appid": C, "authorizer_appid": "wx00000000000000ff",
                    "option_name": "voice_recognize", "option_value": "1"}),
        )
        .await,
        61003,
    );
    assert_refused(&set(set_body("dark_mode", json!("1"))).await, 61012);
    // customer_service needs set 6, which this OA did not grant.
    assert_refused(&set(set_body("customer_service", json!("1"))).await, 61007);
    for bad in [json!("2"), json!(3), json!(""), json!("on")] {
        assert_refused(&set(set_body("voice_recognize", bad)).await, 61013);
    }
    assert_refused(
        &set(json!({"component_appid": C, "authorizer_appid": OA,
                    "option_name": "location_report"}))
        .await,
        61013,
    );
    // Nothing refused changed the value.
    let v = app
        .post(&component_query(API_GET, &ct), &get_body("voice_recognize"))
        .await;
    assert_eq!(v["option_value"], "0", "{v}");
}
