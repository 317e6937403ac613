//! The whole flow, end to end, as a third-party platform walks it.

use fastreg_platform::domain::{CodeKind, CodeRecord};
use fastreg_platform::secrets;
use serde_json::json;

use crate::helpers::*;

crate::on_every_backend!(
    a_component_walks_the_whole_flow_and_gets_a_new_mini_program_with_its_refresh_token,
    an_authorization_code_an_older_fastreg_stored_is_exchanged_once_like_a_new_one,
);

/// A code as a fastreg issued it before codes were stored by their clock: 43 random characters
/// after the prefix, stored by their SHA-256 alone (say, an authorization_code answered just
/// before an upgrade). It is exchanged, and only once, as a code issued now is.
async fn an_authorization_code_an_older_fastreg_stored_is_exchanged_once_like_a_new_one(db: Db) {
    let Some(app) = spawn_app_on(db, |_| {}).await else {
        return;
    };
    let ct = app.component_token(C).await;
    app.authorize(&ct, C, OA, &[1, 15, 27]).await;
    let now = app.sandbox_ok("GET", "/clock", None).await["now"]
        .as_i64()
        .unwrap();
    let old = format!("queryauthcode@@@{}", secrets::alnum(43));
    let record = CodeRecord {
        hash: secrets::hash(&old),
        kind: CodeKind::Authorization,
        component_appid: C.into(),
        authorizer_appid: OA.into(),
        issued_at: now,
        expires_at: now + 600,
        used_at: None,
    };
    app.state
        .store
        .write(move |tx| tx.insert_code(&record))
        .await
        .unwrap();
    let new = app
        .sandbox_ok(
            "POST",
            "/authorizations",
            Some(&json!({"component_appid": C, "authorizer_appid": OA, "permission_sets": [1, 15, 27]})),
        )
        .await["auth_code"]
        .as_str()
        .unwrap()
        .to_string();
    for code in [&old, &new] {
        let first = app.query_auth(&ct, C, code).await;
        assert_eq!(
            first["authorization_info"]["authorizer_appid"], OA,
            "{first}"
        );
    }
    let (old_again, new_again) = (
        app.query_auth(&ct, C, &old).await,
        app.query_auth(&ct, C, &new).await,
    );
    assert_ne!(errcode(&new_again), 0, "{new_again}");
    assert_eq!(errcode(&old_again), errcode(&new_again), "{old_again}");
}

async fn a_component_walks_the_whole_flow_and_gets_a_new_mini_program_with_its_refresh_token(
    db: Db,
) {
    let Some(app) = spawn_app_on(db, |_| {}).await else {
        return;
    };

    // 1-2. Verify ticket, component token.
    let ct = app.component_token(C).await;
    // 3-4. The OA authorises the component with set 27; the code becomes the OA's tokens.
    let (oa_token, _) = app.authorize(&ct, C, OA, &[1, 15, 27]).await;
    // 5. The OA's admin confirms the fast registration.
    let ticket = app.confirm(C, OA, 1).await;
    assert_eq!(ticket.len(), 32);
    assert!(ticket.chars().all(|c| matches!(c, '0'..='9' | 'a'..='f')));
    // 6. fastregister.
    let reg = app.fastregister(&oa_token, &ticket).await;
    assert_eq!(errcode(&reg), 0, "{reg}");
    assert_eq!(reg["errmsg"], "");
    let mp = reg["appid"].as_str().unwrap().to_string();
    assert!(mp.starts_with("wx") && mp.len() == 18, "{mp}");
    assert_eq!(reg["is_wx_verify_succ"], "true");
    assert_eq!(reg["is_link_succ"], "true");
    // 7. The authorization_code becomes the new MP's tokens.
    let auth = app
        .query_auth(&ct, C, reg["authorization_code"].as_str().unwrap())
        .await;
    let info = &auth["authorization_info"];
    assert_eq!(info["authorizer_appid"], mp.as_str());
    let mp_token = info["authorizer_access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let mp_refresh = info["authorizer_refresh_token"]
        .as_str()
        .unwrap()
        .to_string();
    let sets: Vec<i64> = info["func_info"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["funcscope_category"]["id"].as_i64().unwrap())
        .collect();
    assert_eq!(
        sets,
        vec![17, 18, 19, 25, 30, 31],
        "the component's MP sets"
    );

    // The new MP works: basic info with its token, a refresh with its refresh token.
    let basic = app
        .http
        .get(format!(
            "{}/cgi-bin/account/getaccountbasicinfo?access_token={mp_token}",
            app.base
        ))
        .send()
        .await
        .unwrap()
        .json::<serde_json::Value>()
        .await
        .unwrap();
    assert_eq!(errcode(&basic), 0, "{basic}");
    assert_eq!(basic["appid"], mp.as_str());
    assert_eq!(basic["account_type"], 3);
    assert_eq!(basic["principal_name"], "Acme Trading Co., Ltd.");
    assert_eq!(basic["wx_verify_info"]["qualification_verify"], true);
    let refreshed = app
        .post(
            &format!("/cgi-bin/component/api_authorizer_token?component_access_token={ct}"),
            &json!({"component_appid": C, "authorizer_appid": mp, "authorizer_refresh_token": mp_refresh}),
        )
        .await;
    assert_eq!(
        refreshed["authorizer_refresh_token"],
        mp_refresh.as_str(),
        "{refreshed}"
    );

    // The OA sees it linked; the sandbox lists the registration.
    let linked = app
        .post(
            &format!("/cgi-bin/wxopen/wxamplinkget?access_token={oa_token}"),
            &json!({}),
        )
        .await;
    assert_eq!(errcode(&linked), 0, "{linked}");
    assert_eq!(linked["wxopens"]["items"][0]["appid"], mp.as_str());
    assert_eq!(linked["wxopens"]["items"][0]["status"], 1);
    let regs = app.registrations(OA).await;
    assert_eq!(regs.len(), 1);
    assert_eq!(regs[0]["status"], "succeeded");
    assert_eq!(regs[0]["mp_appid"], mp.as_str());
    assert_eq!(regs[0]["ticket"], ticket.as_str());
}
