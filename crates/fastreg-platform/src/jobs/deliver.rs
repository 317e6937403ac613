//! Delivery of the pushes the outbox ([`crate::service::outbox`]) recorded: [`run_deliverer`]
//! sends due pushes: signed query string, the XML envelope, 3 attempts with backoff, each
//! attempt logged (`GET /sandbox/v1/pushes`).

use std::sync::Arc;
use std::time::Duration;

use fastreg_wire::crypto;
use fastreg_wire::push::Envelope;

use crate::clock::system_now_ms;
use crate::domain::{Component, Push, PushStatus};
use crate::error::Result;
use crate::metrics::{self, PushOutcome};
use crate::state::AppState;

/// Attempts per push.
pub const MAX_ATTEMPTS: u32 = 3;

/// How long a delivery pass holds the pushes it claimed: longer than an attempt can take (5 s),
/// so that another instance on the same database never sends them too, and short enough that
/// it takes them over soon if this instance dies mid-pass.
const CLAIM_LEASE_MS: i64 = 30_000;

/// Pause after the n-th failed attempt (1-based).
fn backoff(attempt: u32) -> Duration {
    Duration::from_millis(500 * 4u64.pow(attempt.saturating_sub(1)))
}

/// Sends every due push once; returns how many were attempted.
///
/// # Errors
/// Storage faults (a failed delivery is not an error: it is logged on the push).
pub async fn deliver_due(state: &AppState, http: &reqwest::Client) -> Result<usize> {
    // A read first: the common case is that nothing is due, and that must not take the writer.
    let any_due = state
        .store
        .read(|tx| Ok(!tx.due_pushes(system_now_ms(), 1)?.is_empty()))
        .await?;
    if !any_due {
        return Ok(0);
    }
    let due = state
        .store
        .write(|tx| {
            let pushes = tx.claim_due_pushes(system_now_ms(), CLAIM_LEASE_MS, 64)?;
            let mut with_component = Vec::with_capacity(pushes.len());
            for p in pushes {
                tx.set_world(p.world);
                let c = tx.component(&p.component_appid)?;
                with_component.push((p, c));
            }
            Ok(with_component)
        })
        .await?;
    let n = due.len();
    let attempts = due.into_iter().map(|(push, component)| async move {
        let mut push = push;
        if state.worlds.by_key(push.world).is_none() {
            // Its world was deleted: it is dropped, never sent.
            push.status = PushStatus::Failed;
            push.last_status = Some("not sent: its world was deleted".into());
            return push;
        }
        let outcome = match &component {
            Some(c) => attempt(http, c, &push).await,
            None => Err("the component no longer exists".to_string()),
        };
        let at = system_now_ms();
        push.attempts += 1;
        push.last_attempt_at_ms = Some(at);
        match outcome {
            Ok(status) => {
                metrics::push_attempt(&push.info_type, PushOutcome::Delivered);
                push.status = PushStatus::Delivered;
                push.delivered_at_ms = Some(at);
                push.last_status = Some(status);
            }
            Err(why) => {
                tracing::info!(
                    push = push.id,
                    component = push.component_appid,
                    attempt = push.attempts,
                    why,
                    "push delivery failed"
                );
                push.last_status = Some(why);
                if push.attempts >= MAX_ATTEMPTS {
                    metrics::push_attempt(&push.info_type, PushOutcome::Failed);
                    push.status = PushStatus::Failed;
                } else {
                    metrics::push_attempt(&push.info_type, PushOutcome::Retrying);
                    push.next_attempt_at_ms = at + backoff(push.attempts).as_millis() as i64;
                }
            }
        }
        push
    });
    let done = futures_util::future::join_all(attempts).await;
    state
        .store
        .write(move |tx| {
            for p in &done {
                tx.update_push(p)?;
            }
            Ok(())
        })
        .await?;
    Ok(n)
}

/// One delivery attempt: `Ok(log line)` when the receiver answered `success`.
async fn attempt(
    http: &reqwest::Client,
    component: &Component,
    push: &Push,
) -> std::result::Result<String, String> {
    let timestamp = (system_now_ms() / 1000).to_string();
    let nonce = (rand::random::<u32>() % 1_000_000_000).to_string();
    let msg_signature = crypto::sign(&component.token, &timestamp, &nonce, &push.encrypt);
    let signature = plain_signature(&component.token, &timestamp, &nonce);
    let body = Envelope {
        app_id: component.appid.clone(),
        encrypt: push.encrypt.clone(),
    }
    .to_xml();
    let resp = http
        .post(&push.event_url)
        .query(&[
            ("signature", signature.as_str()),
            ("timestamp", timestamp.as_str()),
            ("nonce", nonce.as_str()),
            ("encrypt_type", "aes"),
            ("msg_signature", msg_signature.as_str()),
        ])
        .header(reqwest::header::CONTENT_TYPE, "text/xml; charset=utf-8")
        .body(body)
        .send()
        .await
        .map_err(|e| {
            if e.is_timeout() {
                "timed out".to_string()
            } else if e.is_connect() {
                "connection refused or unreachable".to_string()
            } else {
                format!("transport error: {e}")
            }
        })?;
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap_or_default();
    let answer: String = text.trim().chars().take(80).collect();
    if (200..300).contains(&status) && answer == "success" {
        Ok(format!("HTTP {status} success"))
    } else {
        Err(format!("HTTP {status} {answer:?}"))
    }
}

/// The plain `signature` parameter: SHA-1 of the sorted token, timestamp and nonce (WeChat
/// sends it beside `msg_signature`; receivers verify `msg_signature`).
fn plain_signature(token: &str, timestamp: &str, nonce: &str) -> String {
    use sha1::Digest as _;
    let mut parts = [token, timestamp, nonce];
    parts.sort_unstable();
    hex::encode(sha1::Sha1::digest(parts.concat().as_bytes()))
}

/// Delivers due pushes until `stop` turns true: woken when pushes are recorded, and every
/// 500 ms for retries. A stop lets the pass in progress finish (so an attempt made is an
/// attempt recorded); pushes not yet delivered stay in the outbox for the next start.
pub async fn run_deliverer(state: Arc<AppState>, mut stop: tokio::sync::watch::Receiver<bool>) {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap_or_default();
    while !*stop.borrow() {
        let pause = match deliver_due(&state, &http).await {
            Ok(0) => Duration::from_millis(500),
            Ok(_) => continue,
            Err(e) => {
                tracing::warn!(error = %e, "push delivery pass failed; retrying shortly");
                Duration::from_millis(500)
            }
        };
        tokio::select! {
            _ = tokio::time::sleep(pause) => {}
            () = state.push_wake.notified() => {}
            changed = stop.changed() => {
                // The sender is gone: whoever would stop us is gone too.
                if changed.is_err() {
                    return;
                }
            }
        }
    }
}
