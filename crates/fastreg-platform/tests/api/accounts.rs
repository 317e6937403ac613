//! The account endpoints (spec §4): wxamplinkget and getaccountbasicinfo, for an OA and the
//! Mini Program it fast-registered.

use serde_json::{json, Value};

use crate::helpers::*;
use crate::wechat::*;

// wxamplinkget and getaccountbasicinfo
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn wxamplinkget_lists_a_registered_mini_program_and_refuses_a_component_token_with_48001() {
    let (app, ct, oat) = world().await;
    assert!(linked_items(&app, &oat).await.is_empty());
    let (reg, mpt) = registered_mini_program(&app, &ct, &oat, 1).await;
    let items = linked_items(&app, &oat).await;
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["appid"], reg["appid"]);
    assert_eq!(items[0]["status"], 1);
    assert_eq!(items[0]["copy_verify_status"], 1);
    assert_eq!(items[0]["source"], "fastregister");
    let v = app
        .post(&format!("{LINK_GET}?access_token={ct}"), &json!({}))
        .await;
    assert_refused(&v, 48001);
    let v = app
        .post(&format!("{LINK_GET}?access_token={mpt}"), &json!({}))
        .await;
    assert_refused(&v, 48001);
    assert_refused(&app.post(LINK_GET, &json!({})).await, 41001);
}

async fn basic_info(app: &TestApp, token: &str) -> Value {
    let resp = app
        .http
        .get(format!("{}{BASIC_INFO}?access_token={token}", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    resp.json().await.unwrap()
}

#[tokio::test]
async fn getaccountbasicinfo_describes_the_new_mini_program_as_verified_when_it_copied_the_oas_verification(
) {
    let (app, ct, oat) = world().await;
    let (reg, mpt) = registered_mini_program(&app, &ct, &oat, 1).await;
    let v = basic_info(&app, &mpt).await;
    assert_eq!(errcode(&v), 0, "{v}");
    assert_eq!(v["appid"], reg["appid"]);
    assert_eq!(v["account_type"], 3);
    assert_eq!(v["principal_type"], 1);
    assert_eq!(v["principal_name"], "Acme Trading Co., Ltd.");
    assert_eq!(v["wx_verify_info"]["qualification_verify"], true);

    let (_, unverified) = registered_mini_program(&app, &ct, &oat, 0).await;
    let v = basic_info(&app, &unverified).await;
    assert_eq!(v["wx_verify_info"]["qualification_verify"], false, "{v}");

    assert_refused(&basic_info(&app, &oat).await, 48001);
    assert_refused(&basic_info(&app, &ct).await, 48001);
}

#[tokio::test]
async fn with_the_unverified_policy_a_new_mini_program_is_not_verified_even_when_copying() {
    let (app, ct, oat) = world().await;
    let full_policy = json!({
        "required_component_sets": [3, 17, 18, 30, 31],
        "monthly_quota": 5,
        "entity_mini_program_cap": 50,
        "oa_link_cap": 500,
        "verification_policy": "unverified",
        "superseded_grace_secs": 300
    });
    let cfg = app
        .sandbox_ok("PATCH", "/config", Some(&json!({ "rules": full_policy })))
        .await;
    assert_eq!(cfg["rules"], full_policy);
    let (reg, mpt) = registered_mini_program(&app, &ct, &oat, 1).await;
    assert_eq!(reg["is_wx_verify_succ"], "false");
    let v = basic_info(&app, &mpt).await;
    assert_eq!(v["principal_name"], "Acme Trading Co., Ltd.");
    assert_eq!(v["wx_verify_info"]["qualification_verify"], false, "{v}");
    let items = linked_items(&app, &oat).await;
    assert_eq!(items[0]["copy_verify_status"], 0);
}
