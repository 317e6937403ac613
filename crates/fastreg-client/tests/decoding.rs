//! The client reads what WeChat really sends: errcodes on HTTP 200, rid and hint suffixes,
//! numbers as strings, booleans as `true`, `"true"` or `"1"`, unknown fields; and it reports
//! what it cannot read as a decode error, not a panic or a success. A stub server serves
//! canned bodies (raw HTTP is the only way to produce WeChat's odd shapes).

use std::sync::Arc;

use axum::http::StatusCode;
use axum::response::IntoResponse;
use fastreg_client::{Client, ErrCode, Error, FastRegisterOutcome};

/// Serves `body` with `status` for every request; returns the base URL.
async fn stub(status: u16, body: &'static str) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let app = axum::Router::new().fallback(move || async move {
        (StatusCode::from_u16(status).unwrap(), body).into_response()
    });
    tokio::spawn(async move { axum::serve(listener, app).await });
    base
}

fn client(base: &str) -> Client {
    Client::builder("wxc0ffee0000000001", "secret")
        .base_url(base)
        .store(Arc::new(fastreg_client::store::MemoryStore::new()))
        .build()
        .unwrap()
}

#[tokio::test]
async fn an_errcode_on_http_200_is_an_api_error_with_its_rid() {
    let base = stub(200, r#"{"errcode":61006,"errmsg":"component ticket is invalid rid: 6142cae2-160a288b-589e1ad2"}"#).await;

    let err = client(&base).api_component_token("t").await.unwrap_err();

    let Error::Api { code, rid, .. } = err else {
        panic!("{err:?}")
    };
    assert_eq!(code, ErrCode::ComponentTicketInvalid);
    assert_eq!(rid.as_deref(), Some("6142cae2-160a288b-589e1ad2"));
}

#[tokio::test]
async fn an_unknown_errcode_is_kept_as_its_number() {
    let base = stub(
        200,
        r#"{"errcode":89999,"errmsg":"something new hint: [abc]"}"#,
    )
    .await;

    let err = client(&base).api_component_token("t").await.unwrap_err();

    assert_eq!(err.code(), Some(ErrCode::Other(89999)));
}

#[tokio::test]
async fn a_success_without_errcode_with_string_numbers_and_unknown_fields_decodes() {
    let base = stub(
        200,
        r#"{"component_access_token":"tok","expires_in":"7200","new_field":[1]}"#,
    )
    .await;

    let r = client(&base).api_component_token("t").await.unwrap();

    assert_eq!(r.component_access_token, "tok");
    assert_eq!(r.expires_in, 7200);
}

#[tokio::test]
async fn an_html_error_page_is_a_decode_error_with_its_status() {
    let base = stub(502, "<html><body>Bad Gateway</body></html>").await;

    let err = client(&base).api_component_token("t").await.unwrap_err();

    let Error::Decode { status, body, .. } = err else {
        panic!("{err:?}")
    };
    assert_eq!(status, 502);
    assert!(body.contains("Bad Gateway"));
}

async fn registered_with(body: &'static str) -> (Option<bool>, Option<bool>) {
    let base = stub(200, body).await;
    let c = client(&base);
    c.set_refresh_token("wx0a00000000000001", "r")
        .await
        .unwrap();
    c.set_verify_ticket("t").await.unwrap();
    // Every call of this stub answers the same body; only fastregister's matters here.
    match c
        .fast_register("wx0a00000000000001", "b25519093b1e97239eff9d2bfc07e08e")
        .await
    {
        FastRegisterOutcome::Registered(mp) => (mp.is_wx_verify_succ, mp.is_link_succ),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn fastregister_booleans_decode_as_strings_json_booleans_and_digits() {
    let cases = [
        (
            r#"{"errcode":0,"errmsg":"","appid":"wx1","authorization_code":"c","is_wx_verify_succ":"true","is_link_succ":"false","authorizer_access_token":"a","expires_in":7200,"wxopens":{"items":[]},"total_count":0,"list":[]}"#,
            (true, false),
        ),
        (
            r#"{"errcode":0,"errmsg":"","appid":"wx1","authorization_code":"c","is_wx_verify_succ":true,"is_link_succ":true,"authorizer_access_token":"a","expires_in":7200,"wxopens":{"items":[]},"total_count":0,"list":[]}"#,
            (true, true),
        ),
        (
            r#"{"errcode":0,"errmsg":"","appid":"wx1","authorization_code":"c","is_wx_verify_succ":"0","is_link_succ":"1","authorizer_access_token":"a","expires_in":7200,"wxopens":{"items":[]},"total_count":0,"list":[]}"#,
            (false, true),
        ),
    ];
    for (body, (verify, link)) in cases {
        assert_eq!(
            registered_with(body).await,
            (Some(verify), Some(link)),
            "{body}"
        );
    }
}
