//! The push outbox (spec §4): [`enqueue`] runs inside the transaction of the change that
//! causes a push (a verify ticket, an authorisation, a revocation). It encrypts the event with
//! the component's EncodingAESKey and records it, so a push is committed exactly when its cause
//! is, and the request that caused it never waits for, or fails because of, the receiver.
//! [`crate::jobs::deliver`] sends what it records.

use fastreg_wire::crypto::{self, AesKey};
use fastreg_wire::push::PushEvent;
use rand::RngCore;

use crate::clock::system_now_ms;
use crate::domain::{Component, Push, PushStatus, UnixTime};
use crate::error::Result;
use crate::store::Tx;

/// Records `event` for delivery to `component` (nothing when it has no event URL).
///
/// # Errors
/// Storage faults. A component whose key cannot encrypt gets a push recorded as failed,
/// with the reason: the cause of the push still succeeds.
pub fn enqueue(
    tx: &mut dyn Tx,
    component: &Component,
    event: &PushEvent,
    now: UnixTime,
) -> Result<()> {
    let Some(url) = component.event_url.clone() else {
        return Ok(());
    };
    let mut push = Push {
        id: 0,
        component_appid: component.appid.clone(),
        info_type: event.info_type().to_string(),
        event_url: url,
        encrypt: String::new(),
        created_at: now,
        status: PushStatus::Pending,
        attempts: 0,
        next_attempt_at_ms: system_now_ms(),
        last_status: None,
        last_attempt_at_ms: None,
        delivered_at_ms: None,
        world: tx.world(),
    };
    match AesKey::from_encoding_aes_key(&component.encoding_aes_key) {
        Ok(key) => {
            let mut random = [0u8; 16];
            rand::rng().fill_bytes(&mut random);
            push.encrypt = crypto::encrypt(&key, random, &event.to_xml(), &component.appid);
        }
        Err(e) => {
            push.status = PushStatus::Failed;
            push.last_status = Some(format!("not sent: the EncodingAESKey is unusable ({e})"));
        }
    }
    tx.insert_push(&push)?;
    Ok(())
}
