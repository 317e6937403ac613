//! The platform pushes to a receiver built with the SDK's axum route on port 0: the verify
//! ticket arrives and yields a component token; the clock brings the next one; authorisation
//! changes arrive as events; failures are retried and logged; forged pushes change nothing.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use fastreg_client::push::{axum_route, PushEvent, PushQuery, PushReceiver};
use fastreg_client::Client;
use fastreg_wire::crypto::{self, AesKey};
use fastreg_wire::push::Envelope;
use serde_json::{json, Value};

use crate::helpers::*;

pub(crate) const TOKEN: &str = "push-token";
pub(crate) const KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";

struct Receiver {
    url: String,
    events: Arc<Mutex<Vec<PushEvent>>>,
}

/// Serves the SDK's push route on port 0, recording the events it hands on.
async fn serve(receiver: PushReceiver) -> Receiver {
    let events = Arc::new(Mutex::new(Vec::new()));
    let seen = events.clone();
    let app = axum::Router::new().nest(
        "/events",
        axum_route::router(receiver, move |e: PushEvent| {
            let seen = seen.clone();
            async move { seen.lock().unwrap().push(e) }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/events", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    Receiver { url, events }
}

/// A component of the platform whose pushes go to a receiver built with the SDK; returns the
/// component's appid, its client (no verify ticket stored yet) and the receiver.
async fn pushed_component(p: &Platform) -> (String, Client, Receiver) {
    let appid = "wxc0ffee00000000aa".to_string();
    let secret = "0123456789abcdef0123456789abcdef";
    let client = Client::builder(&appid, secret)
        .base_url(&p.base)
        .auth_domain("localhost")
        .build()
        .unwrap();
    let receiver = serve(client.push_receiver(TOKEN, KEY).unwrap()).await;
    p.sandbox(
        "POST",
        "/components",
        Some(
            json!({"appid": appid, "appsecret": secret, "token": TOKEN, "encoding_aes_key": KEY,
                    "event_url": receiver.url, "auth_domain": "localhost", "published": true,
                    "permission_sets": [3, 17, 18, 27, 30, 31]}),
        ),
    )
    .await;
    (appid, client, receiver)
}

/// Polls until `f` holds (pushes are asynchronous by design), at most 5 s.
async fn eventually<F: Fn() -> bool>(what: &str, f: F) {
    for _ in 0..100 {
        if f() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for {what}");
}

async fn stored_ticket(client: &Client) -> Option<String> {
    client.verify_ticket().await.ok()
}

async fn wait_for_ticket(client: &Client, not: Option<&str>) -> String {
    for _ in 0..100 {
        if let Some(t) = stored_ticket(client)
            .await
            .filter(|t| Some(t.as_str()) != not)
        {
            return t;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no (new) verify ticket arrived");
}

async fn push_log(p: &Platform, component: &str) -> Vec<Value> {
    p.sandbox("GET", &format!("/pushes?component_appid={component}"), None)
        .await
        .as_array()
        .unwrap()
        .clone()
}

#[tokio::test]
async fn the_pushed_verify_ticket_is_stored_and_yields_a_component_token() {
    let p = platform().await;
    let (appid, client, _receiver) = pushed_component(&p).await;

    let ticket = wait_for_ticket(&client, None).await;

    let latest = p
        .sandbox("GET", &format!("/components/{appid}/verify-ticket"), None)
        .await;
    assert_eq!(latest["component_verify_ticket"], ticket.as_str());
    assert!(!client.component_token().await.unwrap().is_empty());
    let log = push_log(&p, &appid).await;
    assert_eq!(log[0]["info_type"], "component_verify_ticket");
    assert_eq!(log[0]["status"], "delivered");
    assert_eq!(log[0]["attempts"], 1);
}

#[tokio::test]
async fn a_clock_advance_brings_the_next_verify_ticket() {
    let p = platform().await;
    let (_, client, _receiver) = pushed_component(&p).await;
    let first = wait_for_ticket(&client, None).await;

    p.advance(600).await;

    let second = wait_for_ticket(&client, Some(&first)).await;
    assert_ne!(first, second);
}

#[tokio::test]
async fn api_start_push_ticket_pushes_a_fresh_ticket_at_once() {
    let p = platform().await;
    let (_, client, _receiver) = pushed_component(&p).await;
    let first = wait_for_ticket(&client, None).await;

    client.start_push_ticket().await.unwrap();

    wait_for_ticket(&client, Some(&first)).await;
}

#[tokio::test]
async fn authorisation_changes_arrive_as_events_whose_codes_work() {
    let p = platform().await;
    let (appid, client, receiver) = pushed_component(&p).await;
    wait_for_ticket(&client, None).await;
    let grant = |sets: Vec<i64>| json!({"component_appid": appid, "authorizer_appid": OA, "permission_sets": sets});

    p.sandbox("POST", "/authorizations", Some(grant(vec![1, 27])))
        .await;
    p.sandbox("POST", "/authorizations", Some(grant(vec![1, 15, 27])))
        .await;
    p.sandbox("POST", "/authorizations", Some(grant(vec![1, 15, 27])))
        .await; // unchanged: no push
    p.sandbox(
        "POST",
        "/authorizations/revoke",
        Some(json!({"component_appid": appid, "authorizer_appid": OA})),
    )
    .await;

    let events = receiver.events.clone();
    eventually("three authorisation events", || {
        events.lock().unwrap().len() >= 4
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let events = receiver.events.lock().unwrap().clone();
    let kinds: Vec<&str> = events.iter().map(PushEvent::info_type).collect();
    assert_eq!(
        kinds,
        [
            "component_verify_ticket",
            "authorized",
            "updateauthorized",
            "unauthorized"
        ]
    );
    let PushEvent::UpdateAuthorized {
        authorization_code,
        authorizer_appid,
        authorization_code_expired_time,
        ..
    } = &events[2]
    else {
        panic!("{events:?}")
    };
    assert_eq!(authorizer_appid, OA);
    assert!(
        *authorization_code_expired_time > 1_700_000_000,
        "an absolute unix time"
    );
    // The revocation came after: the pushed code can no longer be exchanged.
    let err = client.query_auth(authorization_code).await.unwrap_err();
    assert_eq!(err.code(), Some(fastreg_client::ErrCode::CodeInvalid));
}

#[tokio::test]
async fn a_pushed_authorization_code_is_exchanged_for_the_accounts_tokens() {
    let p = platform().await;
    let (appid, client, receiver) = pushed_component(&p).await;
    wait_for_ticket(&client, None).await;

    p.sandbox(
        "POST",
        "/authorizations",
        Some(json!({"component_appid": appid, "authorizer_appid": OA, "permission_sets": [1, 15]})),
    )
    .await;

    let events = receiver.events.clone();
    eventually("the authorized event", || {
        events
            .lock()
            .unwrap()
            .iter()
            .any(|e| e.info_type() == "authorized")
    })
    .await;
    let code = receiver
        .events
        .lock()
        .unwrap()
        .iter()
        .find_map(|e| match e {
            PushEvent::Authorized {
                authorization_code, ..
            } => Some(authorization_code.clone()),
            _ => None,
        })
        .unwrap();
    let info = client.query_auth(&code).await.unwrap();
    assert_eq!(info.authorizer_appid, OA);
    assert!(client.refresh_token(OA).await.unwrap().is_some());
}

/// An HTTP endpoint that answers every request with `status` and counts them.
async fn failing_endpoint(status: u16) -> (String, Arc<Mutex<u32>>) {
    let hits = Arc::new(Mutex::new(0u32));
    let h = hits.clone();
    let app = axum::Router::new().fallback(move || {
        let h = h.clone();
        async move {
            *h.lock().unwrap() += 1;
            axum::http::StatusCode::from_u16(status).unwrap()
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/events", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, hits)
}

#[tokio::test]
async fn a_failing_receiver_gets_three_attempts_and_the_log_says_why() {
    let p = platform().await;
    let (url, hits) = failing_endpoint(500).await;
    let started = std::time::Instant::now();

    let c = p
        .sandbox(
            "POST",
            "/components",
            Some(json!({"event_url": url, "auth_domain": "localhost", "published": true, "permission_sets": [3]})),
        )
        .await;

    assert!(
        started.elapsed() < Duration::from_secs(1),
        "the push did not block the request"
    );
    let appid = c["appid"].as_str().unwrap().to_string();
    let mut log = Vec::new();
    for _ in 0..100 {
        log = push_log(&p, &appid).await;
        if log.first().is_some_and(|l| l["status"] == "failed") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(log[0]["status"], "failed", "{log:?}");
    assert_eq!(log[0]["attempts"], 3);
    assert!(
        log[0]["last_status"].as_str().unwrap().contains("HTTP 500"),
        "{log:?}"
    );
    assert_eq!(*hits.lock().unwrap(), 3);
}

#[tokio::test]
async fn a_receiver_that_never_answers_does_not_block_the_request_that_caused_the_push() {
    let p = platform().await;
    // Accepts connections and never answers.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/events", silent.local_addr().unwrap());
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = silent.accept().await {
            held.push(s);
        }
    });
    let c = p
        .sandbox(
            "POST",
            "/components",
            Some(json!({"event_url": url, "auth_domain": "localhost", "published": true, "permission_sets": [3]})),
        )
        .await;
    let appid = c["appid"].as_str().unwrap();
    let started = std::time::Instant::now();

    p.sandbox(
        "POST",
        "/authorizations",
        Some(json!({"component_appid": appid, "authorizer_appid": OA, "permission_sets": [1]})),
    )
    .await;

    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
}

/// Builds a push as the platform would, with knobs to break it.
pub(crate) fn forge(
    token: &str,
    key: &str,
    appid_in_ciphertext: &str,
    envelope_appid: &str,
    msg: &str,
    timestamp: i64,
) -> (String, String) {
    let key = AesKey::from_encoding_aes_key(key).unwrap();
    let encrypt = crypto::encrypt(&key, [7u8; 16], msg, appid_in_ciphertext);
    let (ts, nonce) = (timestamp.to_string(), "12345".to_string());
    let sig = crypto::sign(token, &ts, &nonce, &encrypt);
    let query =
        format!("signature=x&timestamp={ts}&nonce={nonce}&encrypt_type=aes&msg_signature={sig}");
    let body = Envelope {
        app_id: envelope_appid.to_string(),
        encrypt,
    }
    .to_xml();
    (query, body)
}

#[tokio::test]
async fn forged_pushes_are_refused_with_a_clear_error_and_change_nothing() {
    let p = platform().await;
    let client = p.client().await; // the demo component, its verify ticket stored
    let before = client.verify_ticket().await.unwrap();
    let receiver = client.push_receiver(TOKEN, KEY).unwrap();
    let now = fastreg_client::store::unix_now();
    let msg = |appid: &str| {
        format!("<xml><AppId><![CDATA[{appid}]]></AppId><CreateTime>{now}</CreateTime><InfoType><![CDATA[component_verify_ticket]]></InfoType><ComponentVerifyTicket><![CDATA[ticket@@@forged]]></ComponentVerifyTicket></xml>")
    };

    let cases: Vec<(&str, (String, String), &str)> = vec![
        (
            "wrong token",
            forge("not-the-token", KEY, C, C, &msg(C), now),
            "msg_signature does not match",
        ),
        (
            "wrong key",
            forge(
                TOKEN,
                "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
                C,
                C,
                &msg(C),
                now,
            ),
            "cannot decrypt",
        ),
        (
            "another component's ciphertext",
            forge(TOKEN, KEY, "wx1111111111111111", C, &msg(C), now),
            "cannot decrypt",
        ),
        (
            "another component's envelope",
            forge(TOKEN, KEY, C, "wx1111111111111111", &msg(C), now),
            "is for \"wx1111111111111111\"",
        ),
        (
            "another component in the message",
            forge(TOKEN, KEY, C, C, &msg("wx1111111111111111"), now),
            "is for \"wx1111111111111111\"",
        ),
        (
            "a replayed old push",
            forge(TOKEN, KEY, C, C, &msg(C), now - 3600),
            "a replay",
        ),
        (
            "garbage in the ciphertext",
            forge(TOKEN, KEY, C, C, "not xml at all", now),
            "does not parse",
        ),
    ];
    for (what, (query, body), expect) in cases {
        let err = receiver
            .handle(&PushQuery::from_query_str(&query).unwrap(), &body)
            .await
            .expect_err(what);
        assert!(err.to_string().contains(expect), "{what}: {err}");
    }
    for (what, body) in [
        ("garbage body", "\u{0}\u{1}garbage"),
        ("empty body", ""),
        ("no Encrypt", "<xml><AppId>x</AppId></xml>"),
    ] {
        let (query, _) = forge(TOKEN, KEY, C, C, &msg(C), now);
        let err = receiver
            .handle(&PushQuery::from_query_str(&query).unwrap(), body)
            .await
            .expect_err(what);
        assert!(
            err.to_string().contains("not a push envelope")
                || err.to_string().contains("msg_signature"),
            "{what}: {err}"
        );
    }
    let missing = PushQuery::from_query_str("timestamp=1&nonce=2").unwrap_err();
    assert!(missing.to_string().contains("msg_signature"), "{missing}");
    assert_eq!(
        client.verify_ticket().await.unwrap(),
        before,
        "nothing was stored"
    );
    // And a well-formed one is accepted.
    let (query, body) = forge(TOKEN, KEY, C, C, &msg(C), now);
    receiver
        .handle(&PushQuery::from_query_str(&query).unwrap(), &body)
        .await
        .unwrap();
    assert_eq!(client.verify_ticket().await.unwrap(), "ticket@@@forged");
}

#[tokio::test]
async fn the_axum_route_answers_success_or_400_with_the_reason() {
    let p = platform().await;
    let client = p.client().await;
    let receiver = serve(client.push_receiver(TOKEN, KEY).unwrap()).await;
    let now = fastreg_client::store::unix_now();
    let msg = format!("<xml><AppId><![CDATA[{C}]]></AppId><CreateTime>{now}</CreateTime><InfoType><![CDATA[unauthorized]]></InfoType><AuthorizerAppid><![CDATA[{OA}]]></AuthorizerAppid></xml>");
    let http = reqwest::Client::new();

    let (query, body) = forge(TOKEN, KEY, C, C, &msg, now);
    let ok = http
        .post(format!("{}?{query}", receiver.url))
        .body(body.clone())
        .send()
        .await
        .unwrap();
    let (bad_query, _) = forge("wrong", KEY, C, C, &msg, now);
    let bad = http
        .post(format!("{}?{bad_query}", receiver.url))
        .body(body)
        .send()
        .await
        .unwrap();

    assert_eq!(ok.status(), 200);
    assert_eq!(ok.text().await.unwrap(), "success");
    assert_eq!(bad.status(), 400);
    assert!(bad.text().await.unwrap().contains("msg_signature"));
}

#[tokio::test]
async fn a_worlds_component_is_pushed_that_worlds_verify_tickets_on_that_worlds_clock() {
    let p = platform().await;
    let appid = "wxc0ffee00000000aa";
    let secret = "0123456789abcdef0123456789abcdef";
    let world = p
        .sandbox(
            "POST",
            "/worlds",
            Some(json!({"clock": {"start": 1_800_000_000, "frozen": true}})),
        )
        .await;
    let base = format!("{}{}", p.base, world["base_path"].as_str().unwrap());
    let admin = world["admin_token"].as_str().unwrap().to_string();
    let in_world = |method: &str, path: &str, body: Option<Value>| {
        let mut req = p
            .http
            .request(method.parse().unwrap(), format!("{base}/sandbox/v1{path}"))
            .bearer_auth(&admin);
        if let Some(b) = body {
            req = req.json(&b);
        }
        async move { req.send().await.unwrap().json::<Value>().await.unwrap() }
    };
    let client = Client::builder(appid, secret)
        .base_url(&base)
        .auth_domain("localhost")
        .build()
        .unwrap();
    let receiver = serve(client.push_receiver(TOKEN, KEY).unwrap()).await;
    in_world(
        "POST",
        "/components",
        Some(
            json!({"appid": appid, "appsecret": secret, "token": TOKEN, "encoding_aes_key": KEY,
                    "event_url": receiver.url, "auth_domain": "localhost", "published": true,
                    "permission_sets": [3, 17, 18, 27, 30, 31]}),
        ),
    )
    .await;
    let first = wait_for_ticket(&client, None).await;

    // Only this world's clock brings the next one (the default world's moving does nothing).
    p.sandbox("POST", "/clock/advance", Some(json!({"seconds": 601})))
        .await;
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(
        stored_ticket(&client).await.as_deref(),
        Some(first.as_str())
    );
    in_world("POST", "/clock/advance", Some(json!({"seconds": 601}))).await;
    let second = wait_for_ticket(&client, Some(&first)).await;

    // It is that world's ticket: the one its sandbox API shows, and it gets a token there.
    let latest = in_world("GET", &format!("/components/{appid}/verify-ticket"), None).await;
    assert_eq!(latest["component_verify_ticket"], json!(second));
    assert!(!client.component_token().await.unwrap().is_empty());
}
