//! What `fastreg bench` and `fastreg soak` share: a world written straight into the store (many
//! rows per transaction, not over HTTP), and keep-alive HTTP/1.1 connections to load it with.
//!
//! Every seeded OA is verified, has authorised the demo world's component with set 27, and
//! holds an OA access token and fastregister tickets that never expire (ten years), so a run
//! may move the sandbox clock by months without losing its credentials.

use std::net::SocketAddr;

use anyhow::Context;
use bytes::Bytes;
use fastreg_platform::domain::*;
use fastreg_platform::secrets;
use fastreg_platform::store::Store;
use http_body_util::Full;
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;

/// The demo world's component: every seeded OA authorised it.
pub const COMPONENT: &str = "wxc0ffee0000000001";
/// OAs per entity.
pub const OAS_PER_ENTITY: usize = 10;
/// OAs written per seeding transaction (about nine rows each).
const OA_BATCH: usize = 1_000;
/// Stored registrations written per seeding transaction (four rows each).
pub const REG_BATCH: usize = 2_500;
/// Lifetime of seeded credentials: longer than any run.
const FOREVER: i64 = 10 * 365 * 86_400;

/// One seeded OA and the plaintext credentials a load generator uses (no `Debug`: they are
/// credentials).
#[derive(Clone)]
pub struct SeedOa {
    pub appid: String,
    pub entity_id: i64,
    pub token: String,
    pub refresh_token: String,
    pub tickets: Vec<String>,
}

/// Records a component access token of [`COMPONENT`]; returns it.
pub async fn component_token(store: &Store, now: UnixTime) -> anyhow::Result<String> {
    let token = secrets::access_token();
    let record = token_record(&token, TokenKind::Component, "", now);
    store.write(move |tx| tx.insert_token(&record)).await?;
    Ok(token)
}

/// Inserts domestic enterprise entities named `{label} Entity {i}`, one per cap (`None`: the
/// platform's default cap), in one transaction; returns their ids in the same order.
pub async fn entities(
    store: &Store,
    label: &'static str,
    caps: Vec<Option<u32>>,
) -> anyhow::Result<Vec<i64>> {
    Ok(store
        .write(move |tx| {
            caps.iter()
                .enumerate()
                .map(|(i, &cap)| {
                    tx.insert_entity(&Entity {
                        id: 0,
                        name: format!("{label} Entity {i}"),
                        entity_type: EntityType::Enterprise,
                        overseas: false,
                        blacklisted: false,
                        mini_program_cap: cap,
                    })
                })
                .collect::<fastreg_platform::error::Result<Vec<i64>>>()
        })
        .await?)
}

/// Inserts one OA per `(entity id, number of tickets)`, numbered from `first` (appid
/// `wxbe` + 14 hex digits of the number, nickname `{label} OA {number}`): each with an
/// authorisation of [`COMPONENT`] granting set 27, an OA access token and its tickets.
pub async fn official_accounts(
    store: &Store,
    now: UnixTime,
    label: &'static str,
    first: usize,
    specs: &[(i64, usize)],
) -> anyhow::Result<Vec<SeedOa>> {
    let mut oas = Vec::with_capacity(specs.len());
    for start in (0..specs.len()).step_by(OA_BATCH) {
        let batch: Vec<SeedOa> = specs[start..(start + OA_BATCH).min(specs.len())]
            .iter()
            .enumerate()
            .map(|(k, &(entity_id, tickets))| SeedOa {
                appid: format!("wxbe{:014x}", first + start + k),
                entity_id,
                token: secrets::access_token(),
                refresh_token: secrets::refresh_token(),
                tickets: (0..tickets)
                    .map(|_| secrets::fastregister_ticket())
                    .collect(),
            })
            .collect();
        let batch = store
            .write(move |tx| {
                for (k, o) in batch.iter().enumerate() {
                    let i = first + start + k;
                    tx.reserve_appid(&o.appid, "oa")?;
                    tx.insert_official_account(&OfficialAccount {
                        appid: o.appid.clone(),
                        user_name: format!("gh_{i:012x}"),
                        nickname: format!("{label} OA {i}"),
                        entity_id: o.entity_id,
                        verified: true,
                        pending_registration: false,
                        link_cap: None,
                        created_at: now,
                    })?;
                    tx.put_authorization(&Authorization {
                        component_appid: COMPONENT.into(),
                        authorizer_appid: o.appid.clone(),
                        authorizer_kind: AuthorizerKind::OfficialAccount,
                        permission_sets: vec![1, 15, FAST_REGISTER_SET],
                        refresh_token: o.refresh_token.clone(),
                        auth_time: now,
                        revoked: false,
                    })?;
                    tx.insert_token(&token_record(
                        &o.token,
                        TokenKind::Authorizer(AuthorizerKind::OfficialAccount),
                        &o.appid,
                        now,
                    ))?;
                    for t in &o.tickets {
                        tx.insert_fastregister_ticket(&ticket_record(t, &o.appid, now))?;
                    }
                }
                Ok(batch)
            })
            .await?;
        oas.extend(batch);
    }
    Ok(oas)
}

/// Writes succeeded registrations (OA, entity, month), each with its spent ticket and its
/// Mini Program, in one transaction; returns the rows written. `first` numbers them (appids
/// `wxb1…` and tickets `5…` derive from it).
pub async fn store_registrations(
    store: &Store,
    regs: Vec<(String, i64, String)>,
    first: usize,
    now: UnixTime,
) -> anyhow::Result<u64> {
    let rows = regs.len() as u64 * 4;
    store
        .write(move |tx| {
            for (k, (oa, entity_id, month)) in regs.into_iter().enumerate() {
                let j = first + k;
                let mp = format!("wxb1{j:014x}");
                let ticket = format!("5{j:031x}");
                tx.reserve_appid(&mp, "mp")?;
                tx.insert_fastregister_ticket(&ticket_record(&ticket, &oa, now))?;
                tx.insert_mini_program(&MiniProgram {
                    appid: mp.clone(),
                    user_name: format!("gh_{:012x}", j as u64 | 1 << 44),
                    nickname: format!("小程序{}", &mp[mp.len() - 4..]),
                    entity_id,
                    registered_by_oa: oa.clone(),
                    linked_oa: None,
                    verified: true,
                    created_at: now,
                })?;
                tx.insert_registration(&Registration {
                    id: 0,
                    ticket,
                    oa_appid: oa,
                    entity_id,
                    component_appid: COMPONENT.into(),
                    status: RegistrationStatus::Succeeded,
                    mp_appid: Some(mp),
                    authorization_code: None,
                    is_wx_verify_succ: true,
                    is_link_succ: false,
                    created_at: now,
                    completed_at: Some(now),
                    month: Some(month),
                })?;
            }
            Ok(())
        })
        .await?;
    Ok(rows)
}

fn token_record(token: &str, kind: TokenKind, authorizer: &str, now: UnixTime) -> TokenRecord {
    TokenRecord {
        hash: secrets::storage_key(token),
        kind,
        component_appid: COMPONENT.into(),
        authorizer_appid: authorizer.into(),
        issued_at: now,
        expires_at: now + FOREVER,
        superseded_at: None,
    }
}

fn ticket_record(ticket: &str, oa: &str, now: UnixTime) -> FastRegisterTicket {
    FastRegisterTicket {
        ticket: ticket.into(),
        component_appid: COMPONENT.into(),
        oa_appid: oa.into(),
        copy_wx_verify: true,
        issued_at: now,
        expires_at: now + FOREVER,
    }
}

// ---------------------------------------------------------------------------------------------
// Connections
// ---------------------------------------------------------------------------------------------

/// One keep-alive HTTP/1.1 connection.
pub type Sender = SendRequest<Full<Bytes>>;

/// Opens a keep-alive HTTP/1.1 connection (no Nagle).
pub async fn connect(addr: SocketAddr) -> anyhow::Result<Sender> {
    let stream = tokio::net::TcpStream::connect(addr)
        .await
        .with_context(|| format!("connecting to {addr}"))?;
    stream.set_nodelay(true)?;
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(sender)
}

/// A POST of a JSON body on a [`connect`]ed connection.
/// A world's creation request seeded with the demo world (a component, five entities, seven
/// OAs), for a run that works in a world of its own.
pub fn demo_world() -> anyhow::Result<fastreg_platform::service::worlds::WorldIn> {
    let seed =
        fastreg_platform::service::sandbox::SeedWorld::from_toml(fastreg_platform::app::DEMO_WORLD)
            .map_err(|e| anyhow::anyhow!("the demo world: {e}"))?;
    Ok(fastreg_platform::service::worlds::WorldIn {
        seed: Some(seed),
        ..Default::default()
    })
}

pub fn post(path_and_query: String, body: Bytes) -> hyper::Request<Full<Bytes>> {
    hyper::Request::post(path_and_query)
        .header(hyper::header::HOST, "127.0.0.1")
        .header(hyper::header::CONTENT_TYPE, "application/json")
        .body(Full::new(body))
        .expect("a valid request")
}

/// The errcode of an answer; an answer without one is a success (0).
pub fn errcode(body: &[u8]) -> Option<i64> {
    #[derive(serde::Deserialize)]
    struct Answer {
        #[serde(default)]
        errcode: i64,
    }
    serde_json::from_slice::<Answer>(body)
        .ok()
        .map(|a| a.errcode)
}
