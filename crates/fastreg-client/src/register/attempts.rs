//! The memory of fastregister attempts, kept in the client's token store so that every process
//! sharing the store obeys it: the last attempt with a ticket, when it finished and whether its
//! outcome was unknown. It is read before an attempt (to wait until the retry interval has
//! passed, and to read a 61058 after an unknown outcome as "maybe still running") and written
//! after it.
//!
//! The entry is `{namespace}:{component}:fastregister_attempt:{sha256(ticket) in hex}`, a JSON
//! `{"finished_ms":…,"ambiguous":…}` that expires with the ticket (1,800 s). The ticket is a
//! credential, and store keys are seen by whoever can list the store: it is kept only as a hash. A store that fails
//! is logged and treated as having no memory: the call itself still goes ahead.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::client::Client;
use crate::store::{unix_now, Stored};

/// How long an attempt is remembered: a fastregister ticket lives 1,800 s.
const REMEMBER_SECS: i64 = 1800;

/// The last attempt with a ticket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct Attempt {
    /// When it finished, in unix milliseconds (a wall clock: other processes read it).
    pub(super) finished_ms: i64,
    /// Whether its outcome was unknown.
    pub(super) ambiguous: bool,
}

impl Attempt {
    /// How long to wait before the next attempt so that `interval` separates the two.
    pub(super) fn wait(&self, interval: Duration) -> Duration {
        let due = self.finished_ms + interval.as_millis() as i64;
        Duration::from_millis((due - now_ms()).max(0) as u64)
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

fn key(client: &Client, ticket: &str) -> String {
    use sha2::Digest as _;
    let hash = hex::encode(sha2::Sha256::digest(ticket.as_bytes()));
    client.key(&format!("fastregister_attempt:{hash}"))
}

/// The last attempt with `ticket`, by any process sharing the store.
pub(super) async fn last(client: &Client, ticket: &str) -> Option<Attempt> {
    match client.inner.store.get(&key(client, ticket)).await {
        Ok(entry) => entry
            .filter(|e| e.expires_at.is_none_or(|at| at > unix_now()))
            .and_then(|e| serde_json::from_str(&e.value).ok()),
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the last fastregister attempt with this ticket; going ahead as if there was none");
            None
        }
    }
}

/// Records an attempt with `ticket` that has just finished.
pub(super) async fn record(client: &Client, ticket: &str, ambiguous: bool) {
    let attempt = Attempt {
        finished_ms: now_ms(),
        ambiguous,
    };
    let entry = Stored {
        value: serde_json::to_string(&attempt).expect("an attempt serializes"),
        expires_at: Some(unix_now() + REMEMBER_SECS),
    };
    if let Err(e) = client.inner.store.put(&key(client, ticket), entry).await {
        tracing::warn!(error = %e, "cannot record the fastregister attempt; another process may repeat it within the retry interval");
    }
}
