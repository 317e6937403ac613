//! Setting up a push receiver the way a newcomer does: the component is created first (its first
//! ticket is pushed before the receiver knows the token and key), then the receiver is served and
//! asks for a ticket; the route answers with or without a trailing slash; a refused push travels
//! through `?` as the client's error.

use std::time::Duration;

use fastreg_client::push::{axum_route, PushEvent, PushQuery};
use fastreg_client::Client;
use serde_json::json;

use crate::helpers::*;
use crate::pushes::{forge, KEY, TOKEN};

#[tokio::test]
async fn a_receiver_served_after_its_component_was_created_gets_a_ticket_with_request_verify_ticket(
) {
    let p = platform().await;
    // The URL is known before the component exists; the receiver is not served yet.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/wechat/events", listener.local_addr().unwrap());
    let created = p
        .sandbox(
            "POST",
            "/components",
            Some(
                json!({"event_url": url, "auth_domain": "localhost", "published": true,
                        "permission_sets": [3, 17, 18, 27, 30, 31]}),
            ),
        )
        .await;
    let appid = created["appid"].as_str().unwrap();
    // The documented path: read the generated token and EncodingAESKey, then serve.
    let config = p
        .sandbox("GET", &format!("/components/{appid}"), None)
        .await;
    let client = Client::builder(appid, config["appsecret"].as_str().unwrap())
        .base_url(&p.base)
        .auth_domain("localhost")
        .build()
        .unwrap();
    let receiver = client
        .push_receiver(
            config["token"].as_str().unwrap(),
            config["encoding_aes_key"].as_str().unwrap(),
        )
        .unwrap();
    let app = axum::Router::new().nest_service(
        "/wechat/events",
        axum_route::router(receiver, |_: PushEvent| async {}),
    );
    tokio::spawn(async move { axum::serve(listener, app).await });

    let ticket = client
        .request_verify_ticket(Duration::from_secs(10))
        .await
        .unwrap();

    assert_eq!(client.verify_ticket().await.unwrap(), ticket);
    assert!(!client.component_token().await.unwrap().is_empty());
}

#[tokio::test]
async fn request_verify_ticket_times_out_when_no_receiver_stores_the_push() {
    let p = platform().await;
    let client = p.client().await; // the demo component has no event URL

    let err = client
        .request_verify_ticket(Duration::from_millis(300))
        .await
        .unwrap_err();

    assert!(matches!(err, fastreg_client::Error::Timeout(_)), "{err:?}");
}

#[tokio::test]
async fn the_push_route_mounted_at_wechat_events_answers_with_and_without_a_trailing_slash() {
    let p = platform().await;
    let client = p.client().await;
    let receiver = client.push_receiver(TOKEN, KEY).unwrap();
    let app = axum::Router::new().nest_service(
        "/wechat/events",
        axum_route::router(receiver, |_: PushEvent| async {}),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    let now = fastreg_client::store::unix_now();
    let msg = format!("<xml><AppId><![CDATA[{C}]]></AppId><CreateTime>{now}</CreateTime><InfoType><![CDATA[unauthorized]]></InfoType><AuthorizerAppid><![CDATA[{OA}]]></AuthorizerAppid></xml>");
    let http = reqwest::Client::new();

    for path in ["/wechat/events", "/wechat/events/"] {
        let (query, body) = forge(TOKEN, KEY, C, C, &msg, now);
        let answer = http
            .post(format!("{base}{path}?{query}"))
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 200, "{path}");
        assert_eq!(answer.text().await.unwrap(), "success", "{path}");
    }
}

/// A handler of the application's own shape: everything it calls returns the client's error.
async fn handle_push(
    client: &Client,
    raw_query: &str,
    body: &str,
) -> fastreg_client::Result<PushEvent> {
    let receiver = client.push_receiver(TOKEN, KEY)?;
    let event = receiver
        .handle(&PushQuery::from_query_str(raw_query)?, body)
        .await?;
    Ok(event)
}

#[tokio::test]
async fn a_refused_push_travels_through_question_mark_as_the_clients_error() {
    let p = platform().await;
    let client = p.client().await;

    let err = handle_push(&client, "timestamp=1&nonce=2", "<xml/>")
        .await
        .unwrap_err();

    assert!(
        matches!(
            err,
            fastreg_client::Error::Push(fastreg_client::push::PushError::MissingParameter(
                "msg_signature"
            ))
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("msg_signature"), "{err}");
    assert!(!err.is_transient());
}
