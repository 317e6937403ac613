//! No error text, `Debug` output or log line of the SDK carries a credential: every error kind is
//! provoked with live credentials in play, and its `Display`, `Debug` and source chain are
//! searched for each of them.

use std::sync::Arc;
use std::time::Duration;

use fastreg_client::store::{MemoryStore, Stored, TokenStore};
use fastreg_client::{Client, Error, FastRegisterOutcome};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::*;

/// Every way an error is shown: `{}`, `{:?}`, `{:#?}` and each cause in its source chain.
fn shown(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = format!("{e}\n{e:?}\n{e:#?}");
    let mut cause = e.source();
    while let Some(c) = cause {
        out.push_str(&format!("\n{c}\n{c:?}"));
        cause = c.source();
    }
    out
}

fn assert_shows_none(what: &str, text: &str, secrets: &[&str]) {
    for secret in secrets {
        assert!(
            !text.contains(secret),
            "{what} shows a credential ({} chars) in:\n{text}",
            secret.len()
        );
    }
}

/// A client of the same component on the same store whose base URL answers nothing.
fn unreachable_client(secret: &str, store: Arc<dyn TokenStore>) -> Client {
    Client::builder(C, secret)
        .base_url("http://127.0.0.1:9")
        .auth_domain("localhost")
        .store(store)
        .timeout(Duration::from_secs(2))
        .build()
        .unwrap()
}

#[tokio::test]
async fn a_transport_error_names_its_cause_but_never_the_token_in_the_url() {
    let p = platform().await;
    let store: Arc<dyn TokenStore> = Arc::new(MemoryStore::new());
    let live = p.client_on(store.clone()).await;
    let secret = p.secret().await;
    let component_token = live.component_token().await.unwrap();
    p.authorize(&live, OA).await;
    let authorizer_token = live.authorizer_token(OA).await.unwrap();
    let refresh_token = live.refresh_token(OA).await.unwrap().unwrap();
    let verify_ticket = p.verify_ticket().await;
    let ticket = p.confirm(OA).await;
    let secrets = [
        component_token.as_str(),
        authorizer_token.as_str(),
        refresh_token.as_str(),
        verify_ticket.as_str(),
        ticket.as_str(),
        secret.as_str(),
    ];
    let dead = unreachable_client(&secret, store.clone());

    // The issue's reproduction: a cached component token, an unreachable base URL.
    let e = dead.create_pre_auth_code().await.unwrap_err();
    assert!(
        matches!(
            e,
            Error::Transport {
                maybe_sent: false,
                ..
            }
        ),
        "{e:?}"
    );
    assert!(e.to_string().contains("onnect"), "the cause is named: {e}");
    assert_shows_none("create_pre_auth_code", &shown(&e), &secrets);

    // Every other credential-carrying call, through the same dead base URL.
    let errors: Vec<(&str, Error)> = vec![
        (
            "authorizer_info",
            dead.authorizer_info(OA).await.unwrap_err(),
        ),
        (
            "authorizer_list",
            dead.authorizer_list(0, 10).await.unwrap_err(),
        ),
        ("query_auth", dead.query_auth(&ticket).await.unwrap_err()),
        (
            "api_component_token",
            dead.api_component_token(&verify_ticket).await.unwrap_err(),
        ),
        (
            "api_authorizer_token",
            dead.api_authorizer_token(OA, &refresh_token)
                .await
                .unwrap_err(),
        ),
        (
            "account_basic_info",
            dead.account_basic_info(OA).await.unwrap_err(),
        ),
    ];
    for (what, e) in &errors {
        assert_shows_none(what, &shown(e), &secrets);
    }
    let (FastRegisterOutcome::NotRegistered(e) | FastRegisterOutcome::Unknown(e)) =
        dead.fast_register(OA, &ticket).await
    else {
        panic!("fastregister cannot succeed through a dead base URL");
    };
    assert_shows_none("fast_register", &shown(&e), &secrets);

    // The client and its store, printed with `{:?}`, show none of them either.
    assert_shows_none("Client's Debug", &format!("{live:?} {dead:#?}"), &secrets);
    assert_shows_none("MemoryStore's Debug", &format!("{store:?}"), &secrets);
}

/// A one-shot HTTP server that answers every request with `body`.
async fn answering(body: &'static str) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf).await;
            let reply = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = s.write_all(reply.as_bytes()).await;
        }
    });
    base
}

#[tokio::test]
async fn an_undecodable_or_refused_answer_keeps_no_credential_it_carried() {
    const TOKEN: &str = "LEAKEDTOKEN0123456789";
    let cases: [(&str, &'static str); 3] = [
        // A token whose expiry is malformed: serde quotes the bad value, the body holds the token.
        (
            "decode",
            r#"{"component_access_token":"LEAKEDTOKEN0123456789","expires_in":"QUOTEDVALUE"}"#,
        ),
        // A server (or a proxy) that echoes the request's token in its errmsg.
        (
            "api",
            r#"{"errcode":40001,"errmsg":"invalid credential access_token=LEAKEDTOKEN0123456789 rid: 1-2-3"}"#,
        ),
        // Not JSON at all: an HTML error page that quotes the URL.
        (
            "html",
            "<html>502 for /cgi-bin/component/api_component_token?component_access_token=LEAKEDTOKEN0123456789</html>",
        ),
    ];
    for (what, body) in cases {
        let base = answering(body).await;
        let client = Client::builder(C, "component-secret")
            .base_url(&base)
            .build()
            .unwrap();
        let e = client
            .api_component_token("verify-ticket")
            .await
            .unwrap_err();
        assert_shows_none(what, &shown(&e), &[TOKEN]);
        // What serde could not read is not quoted back either: it may be a credential.
        assert_shows_none(what, &e.to_string(), &["QUOTEDVALUE"]);
    }
}

#[tokio::test]
async fn stored_credentials_and_registrations_print_without_their_values() {
    let stored = Stored {
        value: "LEAKEDREFRESH".into(),
        expires_at: None,
    };
    assert_shows_none("Stored", &format!("{stored:?}"), &["LEAKEDREFRESH"]);
    let store = MemoryStore::new();
    store.put("k", stored).await.unwrap();
    assert_shows_none("MemoryStore", &format!("{store:?}"), &["LEAKEDREFRESH"]);
}
