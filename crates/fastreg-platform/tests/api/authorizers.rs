//! api_get_authorizer_info and api_get_authorizer_list (spec §4): what they describe, and
//! paging through a component's authorizers.

use serde_json::json;

use crate::helpers::*;
use crate::wechat::*;

// api_get_authorizer_info and api_get_authorizer_list
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn api_get_authorizer_info_describes_an_oa_and_a_fast_registered_mini_program() {
    let app = spawn_app().await;
    let ct = app.component_token(C).await;
    let (oat, refresh) = app.authorize(&ct, C, OA, &[1, 15, 27]).await;
    let info = |appid: String| {
        let (app, ct) = (&app, &ct);
        async move {
            app.post(
                &component_query(AUTHORIZER_INFO, ct),
                &json!({"component_appid": C, "authorizer_appid": appid}),
            )
            .await
        }
    };

    let v = info(OA.into()).await;
    assert_eq!(errcode(&v), 0, "{v}");
    assert_eq!(v["errmsg"], "ok");
    let a = &v["authorizer_info"];
    assert_eq!(a["nick_name"], "Acme Official");
    assert_eq!(a["principal_name"], "Acme Trading Co., Ltd.");
    assert_eq!(a["service_type_info"]["id"], 2);
    assert_eq!(a["verify_type_info"]["id"], 0);
    assert_eq!(a["account_status"], 1);
    assert!(a["user_name"].as_str().unwrap().starts_with("gh_"), "{a}");
    assert!(a.get("MiniProgramInfo").is_none(), "{a}");
    assert_eq!(v["authorization_info"]["authorizer_appid"], OA);
    assert_eq!(
        v["authorization_info"]["authorizer_refresh_token"],
        refresh.as_str()
    );
    assert_eq!(
        set_ids(&v["authorization_info"]["func_info"]),
        vec![1, 15, 27]
    );

    let reg = register(&app, &oat, OA, 1).await;
    let mp = reg["appid"].as_str().unwrap().to_string();
    assert!(is_wx_appid(&mp), "{mp}");
    let v = info(mp.clone()).await;
    assert_eq!(errcode(&v), 0, "{v}");
    let a = &v["authorizer_info"];
    assert_eq!(a["principal_name"], "Acme Trading Co., Ltd.");
    assert_eq!(a["verify_type_info"]["id"], 0);
    assert!(a["MiniProgramInfo"].is_object(), "{a}");
    assert_eq!(v["authorization_info"]["authorizer_appid"], mp.as_str());
    assert!(v["authorization_info"]["authorizer_refresh_token"].is_string());
    assert_eq!(
        set_ids(&v["authorization_info"]["func_info"]),
        vec![17, 18, 19, 25, 30, 31]
    );

    assert_refused(&info("wx00000000000000ff".into()).await, 61003);
    assert_refused(
        &app.post(
            &component_query(AUTHORIZER_INFO, &ct),
            &json!({"component_appid": C}),
        )
        .await,
        41002,
    );
}

#[tokio::test]
async fn api_get_authorizer_list_pages_through_the_authorizers_with_their_refresh_tokens() {
    let app = spawn_app().await;
    let ct = app.component_token(C).await;
    let (_, refresh) = app.authorize(&ct, C, OA, &[1, 15, 27]).await;
    let page = |offset: u32, count: u32| {
        let (app, ct) = (&app, &ct);
        async move {
            app.post(
                &component_query(AUTHORIZER_LIST, ct),
                &json!({"component_appid": C, "offset": offset, "count": count}),
            )
            .await
        }
    };
    let mut seen = Vec::new();
    for offset in [0, 3, 6] {
        let v = page(offset, 3).await;
        assert_eq!(errcode(&v), 0, "{v}");
        assert_eq!(v["total_count"], 7, "{v}");
        let list = v["list"].as_array().unwrap();
        assert_eq!(list.len(), if offset == 6 { 1 } else { 3 }, "{v}");
        seen.extend(list.iter().cloned());
    }
    let mut appids: Vec<&str> = seen
        .iter()
        .map(|i| i["authorizer_appid"].as_str().unwrap())
        .collect();
    appids.sort_unstable();
    appids.dedup();
    assert_eq!(appids.len(), 7);
    let oa = seen.iter().find(|i| i["authorizer_appid"] == OA).unwrap();
    assert_eq!(oa["refresh_token"], refresh.as_str());
    assert!(oa["auth_time"].as_i64().unwrap() > 0);
    assert!(page(7, 10).await["list"].as_array().unwrap().is_empty());

    assert_refused(&page(0, 0).await, 47001);
    assert_refused(&page(0, 501).await, 47001);
    assert_eq!(page(0, 500).await["list"].as_array().unwrap().len(), 7);
}

// ---------------------------------------------------------------------------------------------
