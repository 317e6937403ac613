//! What the tests of the WeChat-compatible endpoints share: the endpoints' paths, the spec's
//! errmsg texts and [`assert_refused`], and the calls that set up a registering OA, a second
//! component or a registered Mini Program.

use serde_json::{json, Value};

use crate::helpers::*;

pub(crate) const FAST_REGISTER: &str = "/cgi-bin/account/fastregister";
pub(crate) const COMPONENT_TOKEN: &str = "/cgi-bin/component/api_component_token";
pub(crate) const PRE_AUTH_CODE: &str = "/cgi-bin/component/api_create_preauthcode";
pub(crate) const AUTHORIZER_TOKEN: &str = "/cgi-bin/component/api_authorizer_token";
pub(crate) const AUTHORIZER_INFO: &str = "/cgi-bin/component/api_get_authorizer_info";
pub(crate) const AUTHORIZER_LIST: &str = "/cgi-bin/component/api_get_authorizer_list";
pub(crate) const LINK_GET: &str = "/cgi-bin/wxopen/wxamplinkget";
pub(crate) const BASIC_INFO: &str = "/cgi-bin/account/getaccountbasicinfo";

/// The errmsg text (before the rid) of an errcode: spec §6, plus the few codes the spec's table
/// leaves out, with WeChat's texts.
pub(crate) fn spec_errmsg(code: i64) -> &'static str {
    match code {
        -1 => "system error",
        40001 => "invalid credential, access_token is invalid or not latest",
        40013 => "invalid appid",
        40066 => "invalid url",
        40125 => "invalid appsecret",
        41001 => "access_token missing",
        41002 => "appid missing",
        41004 => "appsecret missing",
        42001 => "access_token expired",
        43001 => "require GET method",
        43002 => "require POST method",
        44002 => "empty post data",
        47001 => "data format error",
        48001 => "api unauthorized",
        61003 => "component is not authorized by this account",
        61004 => "access clientip is not registered",
        61005 => "component ticket is expired",
        61006 => "component ticket is invalid",
        61007 => "api is unauthorized to component",
        61009 => "code is invalid",
        61010 => "code is expired",
        61011 => "invalid component",
        61012 => "invalid option name",
        61013 => "invalid option value",
        61023 => "refresh_token is invalid",
        61028 => "component is unpublished",
        61029 => "component need republish with base category",
        61051 => "invalid realname type",
        61052 => "need to be certified",
        61053 => "realname exceed limits",
        61054 => "realname in black list",
        61055 => "exceed quota per month",
        61056 => "copy_wx_verify is required option",
        61057 => "there is still a fast registration in progress",
        61058 => "invalid ticket",
        61060 => "redirect uri is illegal",
        61061 => "overseas access deny",
        other => panic!("no spec text for errcode {other}"),
    }
}

/// Asserts a WeChat-style refusal: the errcode, and the spec's exact text with a rid suffix.
#[track_caller]
pub(crate) fn assert_refused(v: &Value, code: i64) {
    assert_eq!(errcode(v), code, "expected errcode {code}, got {v}");
    assert_eq!(errmsg_text(v), spec_errmsg(code), "{v}");
}

/// A fresh platform with a component token and the registering OA's token.
pub(crate) async fn world() -> (TestApp, String, String) {
    let app = spawn_app().await;
    let ct = app.component_token(C).await;
    let (oat, _) = app.authorize(&ct, C, OA, &[1, 15, 27]).await;
    (app, ct, oat)
}

/// fastregister with a raw body.
pub(crate) async fn fastregister_raw(
    app: &TestApp,
    token: &str,
    body: impl Into<reqwest::Body>,
) -> Value {
    app.post_raw(&format!("{FAST_REGISTER}?access_token={token}"), body)
        .await
}

/// Confirms a ticket for `oa` and registers with it; asserts success.
pub(crate) async fn register(app: &TestApp, oat: &str, oa: &str, copy_wx_verify: u8) -> Value {
    let ticket = app.confirm(C, oa, copy_wx_verify).await;
    let v = app.fastregister(oat, &ticket).await;
    assert_eq!(errcode(&v), 0, "{v}");
    v
}

/// Confirms a ticket for `oa` (authorising it with set 27 first) and returns fastregister's
/// answer.
pub(crate) async fn refusal_for(app: &TestApp, ct: &str, oa: &str, copy_wx_verify: u8) -> Value {
    let (oat, _) = app.authorize(ct, C, oa, &[1, 15, 27]).await;
    let ticket = app.confirm(C, oa, copy_wx_verify).await;
    app.fastregister(&oat, &ticket).await
}

/// Exchanges an authorization_code for the authorizer's access token.
pub(crate) async fn exchange(app: &TestApp, ct: &str, component: &str, code: &str) -> String {
    let v = app.query_auth(ct, component, code).await;
    v["authorization_info"]["authorizer_access_token"]
        .as_str()
        .unwrap_or_else(|| panic!("no authorizer token: {v}"))
        .into()
}

/// Registers a Mini Program for the demo OA and returns (fastregister answer, MP token).
pub(crate) async fn registered_mini_program(
    app: &TestApp,
    ct: &str,
    oat: &str,
    copy: u8,
) -> (Value, String) {
    let v = register(app, oat, OA, copy).await;
    let code = v["authorization_code"].as_str().unwrap();
    let mpt = exchange(app, ct, C, code).await;
    (v, mpt)
}

/// A second published component holding every required set, on the same auth domain.
pub(crate) async fn second_component(app: &TestApp) -> String {
    let c = app
        .sandbox_ok(
            "POST",
            "/components",
            Some(&json!({"auth_domain": "localhost", "published": true,
                         "permission_sets": [1, 2, 3, 15, 17, 18, 27, 30, 31]})),
        )
        .await;
    c["appid"].as_str().unwrap().into()
}

/// Waits (at most ~1.4 s) until the OA has a registration in progress.
pub(crate) async fn wait_for_in_progress(app: &TestApp, oa: &str) {
    for _ in 0..140 {
        if app
            .registrations(oa)
            .await
            .iter()
            .any(|r| r["status"] == "in_progress")
        {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("no registration of {oa} went in progress");
}

pub(crate) async fn linked_items(app: &TestApp, oat: &str) -> Vec<Value> {
    let v = app
        .post(&format!("{LINK_GET}?access_token={oat}"), &json!({}))
        .await;
    assert_eq!(errcode(&v), 0, "{v}");
    v["wxopens"]["items"].as_array().unwrap().clone()
}

pub(crate) fn component_query(path: &str, ct: &str) -> String {
    format!("{path}?component_access_token={ct}")
}

/// The permission set ids of a `func_info` list.
pub(crate) fn set_ids(func_info: &Value) -> Vec<i64> {
    func_info
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["funcscope_category"]["id"].as_i64().unwrap())
        .collect()
}

/// Whether `s` has the shape of a WeChat appid.
pub(crate) fn is_wx_appid(s: &str) -> bool {
    s.len() == 18
        && s.starts_with("wx")
        && s[2..].chars().all(|c| matches!(c, '0'..='9' | 'a'..='f'))
}
