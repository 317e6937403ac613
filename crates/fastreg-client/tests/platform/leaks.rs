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

/// A `tracing` writer into a shared buffer, to read back what the SDK logged.
#[derive(Clone, Default)]
struct LogBuffer(Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for LogBuffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogBuffer {
    type Writer = LogBuffer;
    fn make_writer(&'a self) -> LogBuffer {
        self.clone()
    }
}

impl LogBuffer {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

/// The SDK's log lines of every test of this binary, with the thread that wrote each one.
///
/// A process-wide subscriber rather than a scoped one: with a scoped one, a log call site that
/// another test's thread reaches first may be cached as "nobody listens" and stay silent here.
/// Each test runs on its own thread (one current-thread runtime per test), so a test reads its
/// own lines by thread id.
fn sdk_log() -> &'static LogBuffer {
    static LOG: std::sync::OnceLock<LogBuffer> = std::sync::OnceLock::new();
    LOG.get_or_init(|| {
        let buffer = LogBuffer::default();
        tracing_subscriber::fmt()
            .with_writer(buffer.clone())
            .with_ansi(false)
            .with_thread_ids(true)
            .with_env_filter("fastreg_client=trace")
            .try_init()
            .expect("the only subscriber of this test binary");
        buffer
    })
}

const PREVIOUS_KEY: &str = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";

/// Serves `receiver` under `/wechat/events`; returns its URL.
async fn serve_receiver(receiver: fastreg_client::push::PushReceiver) -> String {
    use fastreg_client::push::{axum_route, PushEvent};
    let app = axum::Router::new().nest_service(
        "/wechat/events",
        axum_route::router(receiver, |_: PushEvent| async {}),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/wechat/events", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

/// Every `warn!` and `info!` of register/, tokens.rs and push.rs is provoked with live
/// credentials in play (the test's runtime runs the SDK's tasks on the test's thread), and the
/// whole log, and the `Debug` of every answer and event met on the way, are searched for them.
#[tokio::test]
async fn no_log_line_and_no_answer_or_event_debug_shows_a_credential() {
    use crate::pushes::{forge, KEY, TOKEN};
    use fastreg_client::push::PushQuery;

    let logs = sdk_log();

    let p = platform().await;
    let client = p.client().await;
    let secret = p.secret().await;
    let verify_ticket = p.verify_ticket().await;
    let mut shown = String::new(); // every Debug met on the way
    let mut secrets: Vec<String> = vec![secret.clone(), verify_ticket.clone()];
    secrets.extend([TOKEN, KEY, PREVIOUS_KEY].map(String::from));

    let answer = client.api_component_token(&verify_ticket).await.unwrap();
    secrets.push(answer.component_access_token.clone());
    shown.push_str(&format!("{answer:?}{answer:#?}"));
    let pre = client.create_pre_auth_code().await.unwrap();
    secrets.push(pre.pre_auth_code.clone());
    shown.push_str(&format!("{pre:?}"));
    let granted = p
        .sandbox(
            "POST",
            "/authorizations",
            Some(serde_json::json!({"component_appid": C, "authorizer_appid": OA, "permission_sets": [1, 15, 27]})),
        )
        .await;
    let code = granted["auth_code"].as_str().unwrap().to_string();
    let info = client.query_auth(&code).await.unwrap();
    secrets.extend([
        code,
        info.authorizer_access_token.clone(),
        info.authorizer_refresh_token.clone(),
    ]);
    shown.push_str(&format!("{info:?}"));
    let described = client.authorizer_info(OA).await.unwrap();
    shown.push_str(&format!("{described:?}"));
    let refreshed = client
        .api_authorizer_token(OA, &info.authorizer_refresh_token)
        .await
        .unwrap();
    secrets.push(refreshed.authorizer_access_token.clone());
    shown.push_str(&format!("{refreshed:?}"));

    // tokens.rs: a 40001 repeated once; a replaced refresh token (61023) recovered.
    p.fault(
        "/cgi-bin/component/api_get_authorizer_list",
        40001,
        1,
        "before",
    )
    .await;
    let list = client.authorizer_list(0, 100).await.unwrap();
    secrets.extend(list.list.iter().map(|i| i.refresh_token.clone()));
    shown.push_str(&format!("{list:?}"));
    let other = p.client().await;
    other
        .set_refresh_token(OA, "refreshtoken@@@stale")
        .await
        .unwrap();
    secrets.push(other.authorizer_token(OA).await.unwrap());

    // register.rs: the listing before fails (-1), the code exchange after fails (-1).
    let ticket = p.confirm(OA).await;
    secrets.push(ticket.clone());
    p.fault("/cgi-bin/wxopen/wxamplinkget", -1, 1, "before")
        .await;
    p.fault("/cgi-bin/component/api_query_auth", -1, 1, "before")
        .await;
    let outcome = client.fast_register(OA, &ticket).await;
    shown.push_str(&format!("{outcome:?}"));
    let mp = outcome.registered().expect("registered").clone();
    secrets.push(mp.authorization_code.clone().unwrap());
    // register.rs: -1 after the Mini Program was made, reconciled.
    let ticket = p.confirm(OA).await;
    secrets.push(ticket.clone());
    p.fault("/cgi-bin/account/fastregister", -1, 1, "after")
        .await;
    let outcome = client.fast_register(OA, &ticket).await;
    assert!(outcome.registered().is_some(), "{outcome:?}");
    shown.push_str(&format!("{outcome:?}"));
    for linked in client.linked_mini_programs(OA).await.unwrap() {
        if let Some(refresh) = client.refresh_token(&linked.appid).await.unwrap() {
            secrets.push(refresh);
        }
        shown.push_str(&format!("{linked:?}"));
    }

    // push.rs: a refused push, a push under the previous key, an older ticket ignored.
    let receiver = client
        .push_receiver(TOKEN, KEY)
        .unwrap()
        .previous_encoding_aes_key(PREVIOUS_KEY)
        .unwrap();
    shown.push_str(&format!("{receiver:?}"));
    let url = serve_receiver(receiver.clone()).await;
    let now = fastreg_client::store::unix_now();
    let older = "ticket@@@older-than-the-stored-one";
    secrets.push(older.into());
    let msg = format!("<xml><AppId><![CDATA[{C}]]></AppId><CreateTime>{}</CreateTime><InfoType><![CDATA[component_verify_ticket]]></InfoType><ComponentVerifyTicket><![CDATA[{older}]]></ComponentVerifyTicket></xml>", now - 100);
    let http = reqwest::Client::new();
    for (token, key) in [("not-the-token", KEY), (TOKEN, PREVIOUS_KEY)] {
        let (query, body) = forge(token, key, C, C, &msg, now);
        http.post(format!("{url}?{query}"))
            .body(body)
            .send()
            .await
            .unwrap();
    }
    let (query, body) = forge(TOKEN, KEY, C, C, &msg, now);
    let event = receiver
        .handle(&PushQuery::from_query_str(&query).unwrap(), &body)
        .await
        .unwrap();
    shown.push_str(&format!("{event:?}{event:#?}"));
    let authorized = format!("<xml><AppId><![CDATA[{C}]]></AppId><CreateTime>{now}</CreateTime><InfoType><![CDATA[authorized]]></InfoType><AuthorizerAppid><![CDATA[{OA}]]></AuthorizerAppid><AuthorizationCode><![CDATA[queryauthcode@@@pushed]]></AuthorizationCode><AuthorizationCodeExpiredTime>{}</AuthorizationCodeExpiredTime><PreAuthCode><![CDATA[preauthcode@@@pushed]]></PreAuthCode></xml>", now + 3600);
    secrets.extend(["queryauthcode@@@pushed", "preauthcode@@@pushed"].map(String::from));
    let (query, body) = forge(TOKEN, KEY, C, C, &authorized, now);
    let event = receiver
        .handle(&PushQuery::from_query_str(&query).unwrap(), &body)
        .await
        .unwrap();
    shown.push_str(&format!("{event:?}"));
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;

    let log = logs.text();
    let this_test = format!("{:?}", std::thread::current().id());
    let ours: String = log
        .lines()
        .filter(|l| l.contains(&this_test))
        .collect::<Vec<_>>()
        .join("\n");
    for expected in [
        "token rejected; refreshing and repeating once",
        "refresh token rejected (61023)",
        "cannot list the OA's Mini Programs before fastregister",
        "exchanging the new Mini Program's authorization_code failed",
        "reconciled: the Mini Program was registered despite the error",
        "refused a push",
        "a push used the previous EncodingAESKey",
        "ignored a push of an older component_verify_ticket",
    ] {
        assert!(ours.contains(expected), "not provoked: {expected}\n{ours}");
    }
    let secrets: Vec<&str> = secrets
        .iter()
        .map(String::as_str)
        .filter(|s| !s.is_empty())
        .collect();
    assert_shows_none("the SDK's log", &log, &secrets);
    assert_shows_none("the Debug of answers and events", &shown, &secrets);
}

#[tokio::test]
async fn every_wire_request_and_answer_prints_its_credentials_masked() {
    use fastreg_client::wire::account::FastRegisterRequest;
    use fastreg_client::wire::component::*;
    const S: &str = "LEAKEDCREDENTIAL";
    let values: Vec<String> = vec![
        format!(
            "{:?}",
            ComponentTokenRequest {
                component_appid: "wx1".into(),
                component_appsecret: S.into(),
                component_verify_ticket: S.into()
            }
        ),
        format!(
            "{:?}",
            StartPushTicketRequest {
                component_appid: "wx1".into(),
                component_secret: S.into()
            }
        ),
        format!(
            "{:?}",
            QueryAuthRequest {
                component_appid: "wx1".into(),
                authorization_code: S.into()
            }
        ),
        format!(
            "{:?}",
            AuthorizerTokenRequest {
                authorizer_refresh_token: S.into(),
                ..Default::default()
            }
        ),
        format!("{:?}", FastRegisterRequest { ticket: S.into() }),
        format!(
            "{:?}",
            fastreg_client::FastRegisterResponse {
                authorization_code: S.into(),
                ..Default::default()
            }
        ),
        format!(
            "{:#?}",
            fastreg_client::AuthorizerInfoResponse {
                authorization_info: fastreg_client::AuthorizerAuthorization {
                    authorizer_refresh_token: S.into(),
                    ..Default::default()
                },
                ..Default::default()
            }
        ),
        format!(
            "{:?}",
            fastreg_client::AuthorizerListResponse {
                total_count: 1,
                list: vec![fastreg_client::AuthorizerListItem {
                    refresh_token: S.into(),
                    ..Default::default()
                }]
            }
        ),
    ];
    for shown in &values {
        assert_shows_none("a wire type", shown, &[S]);
        assert!(shown.contains(fastreg_wire::redact::MASK), "{shown}");
    }
}
