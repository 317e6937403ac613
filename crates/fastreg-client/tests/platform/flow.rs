//! The whole flow through the SDK.

use fastreg_client::{Evidence, FastRegisterOutcome};
use fastreg_wire::component::FuncInfo;

use crate::helpers::*;

#[tokio::test]
async fn the_sdk_walks_the_whole_flow_and_stores_the_new_mini_programs_refresh_token() {
    let p = platform().await;
    let client = p.client().await;

    // Component token from the stored verify ticket.
    let token = client.component_token().await.unwrap();
    assert!(!token.is_empty());
    // The OA authorises with set 27; query_auth persists its refresh token.
    p.authorize(&client, OA).await;
    assert!(client.refresh_token(OA).await.unwrap().is_some());
    let info = client.authorizer_info(OA).await.unwrap();
    assert!(FuncInfo::ids(&info.authorization_info.func_info).contains(&27));
    // The admin's link, then their confirmation's ticket.
    let link = client
        .fast_register_auth_url(OA, true, "https://localhost/cb?x=1")
        .unwrap();
    assert!(
        link.starts_with(&format!("{}/cgi-bin/fastregisterauth?", p.base)),
        "{link}"
    );
    let ticket = p.confirm(OA).await;

    let outcome = client.fast_register(OA, &ticket).await;

    let FastRegisterOutcome::Registered(mp) = outcome else {
        panic!("expected a registration, got {outcome:?}");
    };
    assert_eq!(mp.evidence, Evidence::Answered);
    assert_eq!(mp.is_wx_verify_succ, Some(true));
    assert_eq!(mp.is_link_succ, Some(true));
    assert!(mp.refresh_token_saved);
    // The new Mini Program's refresh token is stored, and works.
    assert!(client.refresh_token(&mp.appid).await.unwrap().is_some());
    let basic = client.account_basic_info(&mp.appid).await.unwrap();
    assert_eq!(basic.appid, mp.appid);
    assert_eq!(basic.principal_name, "Acme Trading Co., Ltd.");
    let linked = client.linked_mini_programs(OA).await.unwrap();
    assert_eq!(linked.len(), 1);
    assert_eq!(linked[0].appid, mp.appid);
}

#[tokio::test]
async fn a_refusal_is_not_registered_with_its_typed_errcode_and_remedy() {
    let p = platform().await;
    let client = p.client().await;
    let oa = "wx0a00000000000003"; // personal entity
    p.authorize(&client, oa).await;
    let ticket = p.confirm(oa).await;

    let outcome = client.fast_register(oa, &ticket).await;

    let FastRegisterOutcome::NotRegistered(e) = outcome else {
        panic!("{outcome:?}");
    };
    assert_eq!(e.code(), Some(fastreg_client::ErrCode::InvalidRealnameType));
    assert!(e
        .code()
        .unwrap()
        .info()
        .unwrap()
        .remedy
        .contains("enterprise"));
    assert!(p.registrations(oa).await.is_empty());
}

#[tokio::test]
async fn a_lost_refresh_token_is_recovered_from_the_authorizer_list() {
    let p = platform().await;
    let client = p.client().await;
    // The demo world's authorisations exist, but this client never saw their refresh tokens.
    assert_eq!(client.refresh_token(OA).await.unwrap(), None);

    let token = client.authorizer_token(OA).await.unwrap();

    assert!(!token.is_empty());
    assert!(
        client.refresh_token(OA).await.unwrap().is_some(),
        "recovered and persisted"
    );
}

#[tokio::test]
async fn a_replaced_refresh_token_is_recovered_after_61023() {
    let p = platform().await;
    let client = p.client().await;
    client
        .set_refresh_token(OA, "refreshtoken@@@stale")
        .await
        .unwrap();

    let token = client.authorizer_token(OA).await.unwrap();

    assert!(!token.is_empty());
    assert_ne!(
        client.refresh_token(OA).await.unwrap().as_deref(),
        Some("refreshtoken@@@stale")
    );
}

#[tokio::test]
async fn an_auth_url_with_a_redirect_off_the_auth_domain_is_refused_before_anyone_sees_it() {
    let p = platform().await;
    let client = p.client().await;
    for bad in [
        "https://evil.com/cb",
        "https://localhost.evil.com/cb",
        "https://localhost@evil.com/cb",
    ] {
        let err = client.fast_register_auth_url(OA, true, bad).unwrap_err();
        assert!(
            matches!(err, fastreg_client::Error::RedirectNotAllowed { .. }),
            "{bad}: {err}"
        );
    }
    let link = client
        .fast_register_auth_url(OA, false, "https://localhost/cb?a=1&b=2")
        .unwrap();
    assert!(link.contains("copy_wx_verify=0"), "{link}");
    assert!(
        link.contains("redirect_uri=https%3A%2F%2Flocalhost%2Fcb%3Fa%3D1%26b%3D2"),
        "{link}"
    );
}
