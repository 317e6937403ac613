//! The change feed: how instances sharing a PostgreSQL database keep their in-process
//! [`View`]s coherent, so that fastregister's refusals are decided in memory on PostgreSQL too.
//!
//! Every write batch that changes anything a view may hold appends one row to
//! `fastreg_changes` in its own transaction: the next number of a gapless counter
//! (`fastreg_feed_head`) and the view [`Key`]s it touched, as text. Writers hold the write lock
//! from before they draw the number until their commit, so numbers are committed in order. An
//! instance applies rows in that order ([`Feed::catch_up`]) as if its own writer had published
//! them ([`View::publish_remote`]), and remembers the last one applied.
//!
//! When a view is consulted, it must reflect every write committed before the question was
//! asked, on any instance (a success answered by A is replayed, not re-run, by B):
//! - the request's thread asks for a *fence* ([`Feed::fence`]) first: the feed thread catches
//!   up with one query that starts after the request was queued, for every request queued
//!   meanwhile (one round trip serves many requests);
//! - a reader catches up inside its snapshot before its jobs run, so the known-tickets filter
//!   holds every ticket its snapshot holds;
//! - the writer catches up after it takes the write lock, so its view holds every commit but
//!   its own open batch (which is pending there, as on SQLite).
//!
//! While the instance is alone on the database ([`super::alone`]), its own writer is the only
//! one committing: the fence is immediate. (A request answered from the view alone reads one
//! consistent state, whose age the lease bounds; a reader mixes the view with a snapshot that
//! begins later, so it still catches up.)
//!
//! Rows older than [`KEEP`] numbers are deleted by the writers. An instance that finds a hole
//! (it fell further behind, or has just started) starts over: it empties its view, scans every
//! ticket into the filter, and goes on from the counter it read before the scan.

use std::collections::BTreeSet;
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use anyhow::anyhow;
use tokio::sync::oneshot;

use super::alone::Alone;
use super::client::LaterRows;
use super::{fault, Conn};
use crate::domain::WorldKey;
use crate::error::{Error, Result};
use crate::store::view::{ticket_hash, Key, View};

/// Rows of the feed kept behind the newest (an instance further behind starts over).
pub(super) const KEEP: i64 = 50_000;

/// How often the writer deletes rows older than [`KEEP`] (in feed numbers).
const TRIM_EVERY: i64 = 1024;

/// How often the feed thread catches up when no request asks (so that an idle instance stays
/// within [`KEEP`] of the head).
const IDLE_CATCH_UP: Duration = Duration::from_secs(1);

/// Rows read per query. The limit also keeps the cached (generic) plan an index scan from
/// `$1`: without it the planner guesses a third of the table and scans it all.
const FETCH_ROWS: i64 = 1_000;
const FETCH: &str = "SELECT seq, keys FROM fastreg_changes WHERE seq > $1 ORDER BY seq LIMIT $2";
const HEAD: &str = "SELECT seq FROM fastreg_feed_head";
const APPEND: &str = "WITH head AS (UPDATE fastreg_feed_head SET seq = seq + 1 RETURNING seq)
     INSERT INTO fastreg_changes (seq, keys) SELECT seq, $1 FROM head RETURNING seq";
const TRIM: &str = "DELETE FROM fastreg_changes WHERE seq <= $1";
const TICKETS: &str = "SELECT ticket FROM fastregister_tickets";

/// A view key as the feed stores it: a tag, the world, then the key's parts, each string part
/// but the last prefixed by its length in bytes (so no part needs escaping).
pub(super) fn encode(world: WorldKey, key: Key<'_>) -> String {
    match key {
        Key::OfficialAccount(a) => format!("o{world}:{a}"),
        Key::Entity(id) => format!("e{world}:{id}"),
        Key::Ticket(t) => format!("t{world}:{t}"),
        Key::Component(a) => format!("c{world}:{a}"),
        Key::Authorization(c, a) => format!("a{world}:{}:{c}{a}", c.len()),
        Key::Tokens(c, a) => format!("k{world}:{}:{c}{a}", c.len()),
        Key::All => "*".into(),
    }
}

/// The key [`encode`] wrote; `None` for a string it cannot have written.
pub(super) fn decode(s: &str) -> Option<(WorldKey, Key<'_>)> {
    if s == "*" {
        return Some((0, Key::All));
    }
    let tag = s.chars().next()?;
    let (world, rest) = s.get(1..)?.split_once(':')?;
    let world: WorldKey = world.parse().ok()?;
    let key = match tag {
        'o' => Key::OfficialAccount(rest),
        'e' => Key::Entity(rest.parse().ok()?),
        't' => Key::Ticket(rest),
        'c' => Key::Component(rest),
        'a' => {
            let (c, a) = pair(rest)?;
            Key::Authorization(c, a)
        }
        'k' => {
            let (c, a) = pair(rest)?;
            Key::Tokens(c, a)
        }
        _ => return None,
    };
    Some((world, key))
}

/// Two parts, the first prefixed by its length (see [`encode`]).
fn pair(rest: &str) -> Option<(&str, &str)> {
    let (len, rest) = rest.split_once(':')?;
    let len: usize = len.parse().ok()?;
    Some((rest.get(..len)?, rest.get(len..)?))
}

/// A request waiting for a fence.
type Waiter = oneshot::Sender<bool>;

/// One instance's end of the feed: its view, the last feed number applied to it, and the
/// queue of fences.
pub(super) struct Feed {
    pub(super) view: Arc<View>,
    /// Whether this instance is alone on the database (then no fence is needed).
    pub(super) alone: Alone,
    /// The last number applied; `None` until the first catch-up (or after a hole).
    applied: Mutex<Option<i64>>,
    fences: mpsc::Sender<Waiter>,
}

impl Feed {
    /// The feed of `view`, and the queue the feed thread ([`fence_loop`]) serves.
    pub(super) fn new(view: Arc<View>) -> (Arc<Feed>, mpsc::Receiver<Waiter>) {
        let (fences, rx) = mpsc::channel();
        let feed = Feed {
            view,
            alone: Alone::new(),
            applied: Mutex::new(None),
            fences,
        };
        (Arc::new(feed), rx)
    }

    fn applied(&self) -> Option<i64> {
        self.applied.lock().ok().and_then(|a| *a)
    }

    /// Waits until the view holds every write committed before this call, on any instance;
    /// `false` if the feed could not be read (the caller then reads the database instead).
    /// Immediate while the instance is alone (see [`super::alone`]).
    pub(super) async fn fence(&self) -> bool {
        if self.alone.holds() {
            return true;
        }
        let (tx, rx) = oneshot::channel();
        if self.fences.send(tx).is_err() {
            return false;
        }
        rx.await.unwrap_or(false)
    }

    /// Applies every row committed (as `client` sees it) since the last one applied.
    pub(super) fn catch_up(&self, conn: &mut Conn) -> Result<()> {
        loop {
            let Some(from) = self.applied() else {
                return self.start_over(conn);
            };
            let fetch = conn.statement(FETCH)?;
            let rows = conn
                .client
                .query(&fetch, &[&from, &FETCH_ROWS])
                .map_err(fault)?;
            let full = rows.len() as i64 == FETCH_ROWS;
            self.apply(conn, &rows)?;
            if !full {
                return Ok(());
            }
        }
    }

    /// Applies rows of the feed read after `applied` (in order).
    fn apply(&self, conn: &mut Conn, rows: &[postgres::Row]) -> Result<()> {
        if rows.is_empty() {
            return Ok(());
        }
        let mut rows_read = Vec::with_capacity(rows.len());
        for row in rows {
            let seq: i64 = row.try_get(0).map_err(fault)?;
            let keys: Vec<String> = row.try_get(1).map_err(fault)?;
            rows_read.push((seq, keys));
        }
        let Ok(mut applied) = self.applied.lock() else {
            return Err(Error::Internal(anyhow!(
                "the change feed's lock is poisoned"
            )));
        };
        // Another thread may have applied some meanwhile: go on from where it stopped.
        let Some(mut last) = *applied else {
            return Ok(());
        };
        let fresh: Vec<&(i64, Vec<String>)> =
            rows_read.iter().filter(|(seq, _)| *seq > last).collect();
        let Some(first) = fresh.first() else {
            return Ok(());
        };
        if first.0 != last + 1 {
            // A hole: the rows between were deleted before this instance read them.
            *applied = None;
            drop(applied);
            return self.start_over(conn);
        }
        let mut changes = Vec::new();
        for (seq, keys) in &fresh {
            changes.extend(keys.iter().filter_map(|k| decode(k)));
            last = *seq;
        }
        self.view.publish_remote(changes);
        *applied = Some(last);
        Ok(())
    }

    /// Catch-up from nothing: the head first, then every ticket (a snapshot no older than
    /// the head), then the view emptied and the head recorded as applied.
    fn start_over(&self, conn: &mut Conn) -> Result<()> {
        let client = &mut conn.client;
        let head: i64 = client
            .query_one(HEAD, &[])
            .map_err(fault)?
            .try_get(0)
            .map_err(fault)?;
        let tickets = client.query(TICKETS, &[]).map_err(fault)?;
        let mut hashes = Vec::with_capacity(tickets.len());
        for row in &tickets {
            let ticket: &str = row.try_get(0).map_err(fault)?;
            hashes.push(ticket_hash(ticket));
        }
        let Ok(mut applied) = self.applied.lock() else {
            return Err(Error::Internal(anyhow!(
                "the change feed's lock is poisoned"
            )));
        };
        if applied.is_some_and(|a| a >= head) {
            return Ok(());
        }
        self.view.publish_remote([(0, Key::All)]);
        self.view.load_known_tickets(hashes);
        *applied = Some(head);
        Ok(())
    }

    /// Writer, before its commit: sends the append of the keys its batch touched without
    /// waiting; [`Feed::appended`] takes the row's number once the commit was answered.
    pub(super) fn append_later(
        conn: &mut Conn,
        keys: &BTreeSet<String>,
    ) -> Result<Option<LaterRows>> {
        if keys.is_empty() {
            return Ok(None);
        }
        let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
        let append = conn.statement(APPEND)?;
        conn.client.query_later(&append, &[&keys]).map(Some)
    }

    /// Writer, after the commit of its append `appended`: the row's number, if its answer
    /// holds one (it does once the commit succeeded). Every [`TRIM_EVERY`] rows, the rows
    /// older than [`KEEP`] are deleted too, in a transaction of their own: no instance still
    /// needs them (one that does starts over), so the write lock need not be held, and a
    /// failure only leaves them for the next trim.
    pub(super) fn appended(conn: &mut Conn, appended: LaterRows) -> Option<i64> {
        let seq: i64 = appended.take()?.first()?.try_get(0).ok()?;
        if seq % TRIM_EVERY == 0 {
            if let Err(e) = conn.client.execute(TRIM, &[&(seq - KEEP)]) {
                tracing::warn!(error = %fault(e), "trimming the change feed failed; the next trim retries");
            }
        }
        Some(seq)
    }

    /// Writer, after its commit of row `seq`: what it published itself is applied (the writer
    /// caught up under the lock before it drew `seq`, so every earlier row is too).
    pub(super) fn committed(&self, seq: i64) {
        if let Ok(mut applied) = self.applied.lock() {
            if *applied == Some(seq - 1) {
                *applied = Some(seq);
            }
        }
    }
}

/// The feed thread: one catch-up for every fence queued before it began (and one a second
/// when none is), until the backend is dropped.
pub(super) fn fence_loop(
    feed: Arc<Feed>,
    mut connect: impl FnMut() -> Result<Conn>,
    rx: mpsc::Receiver<Waiter>,
) {
    let mut client: Option<Conn> = None;
    loop {
        let mut waiters = Vec::new();
        match rx.recv_timeout(IDLE_CATCH_UP) {
            Ok(w) => waiters.push(w),
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => return,
        }
        waiters.extend(rx.try_iter());
        if client.as_ref().is_none_or(|c| c.client.is_closed()) {
            client = connect()
                .map_err(|e| tracing::warn!(error = %e, "the change feed cannot connect"))
                .ok();
        }
        let caught_up = match client.as_mut() {
            Some(c) => match feed.catch_up(c) {
                Ok(()) => true,
                Err(e) => {
                    tracing::warn!(error = %e, "the change feed could not be read");
                    client = None;
                    false
                }
            },
            None => false,
        };
        for w in waiters {
            let _ = w.send(caught_up);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_decodes_to_what_was_encoded() {
        let keys = [
            Key::OfficialAccount("wxoa:1"),
            Key::Entity(-3),
            Key::Ticket("t:k:2"),
            Key::Component("wxc"),
            Key::Authorization("wx:c", "wx:a"),
            Key::Tokens("", "wxa"),
            Key::All,
        ];
        for key in keys {
            let text = encode(7, key);
            let (world, back) = decode(&text).expect("decodes");
            assert_eq!(format!("{back:?}"), format!("{key:?}"), "{text}");
            if !matches!(key, Key::All) {
                assert_eq!(world, 7);
            }
        }
    }

    #[test]
    fn a_string_the_feed_cannot_have_written_decodes_to_nothing() {
        for s in ["", "x1:a", "o:a", "oX:a", "a1:9:ab", "e1:z", "k1:-1:ab"] {
            assert!(decode(s).is_none(), "{s:?}");
        }
    }
}
