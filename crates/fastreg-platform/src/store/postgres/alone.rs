//! Whether this instance is alone on its database. While it is, nothing but its own writer
//! commits, so its in-process view is current without the change feed's fence: a warm
//! fastregister is answered from memory, as on SQLite.
//!
//! The rule, with no message between instances:
//! - every writer's session holds a shared advisory lock ([`WRITERS_LOCK`]) from its connect
//!   on, and waits [`GRACE`] after taking it before its first transaction;
//! - every [`POLL`], this instance's own thread ([`watch`]) counts the sessions of its database
//!   that hold that lock or an instance lock (`INSTANCE_LOCK_CLASS`), other than its own writer
//!   and instance sessions. If there are none, it catches the feed up (whatever an instance
//!   that has since gone committed is in it) and declares itself alone until the moment the
//!   count was asked plus [`LEASE`];
//! - a writer that joins after that count waits [`GRACE`] (> [`LEASE`]) before it commits, so
//!   the lease has lapsed by then, and the next count (which sees the newcomer) ends it.
//!
//! A lost connection ends nothing early but cannot renew the lease either: an instance whose
//! watching thread cannot reach the database stops being alone within [`LEASE`]. A writer that
//! reconnects takes the lock again and waits [`GRACE`] again. Instances of a fastreg older than
//! this rule hold an instance lock, so they are counted too, but they do not wait: during a
//! rolling upgrade, an old instance's first writes of its first [`LEASE`] may be answered
//! stale by a new one that was alone.

use std::sync::atomic::{AtomicI32, AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::feed::Feed;
use super::{fault, Conn, INSTANCE_LOCK_CLASS, WRITE_LOCK};
use crate::error::Result;

/// The advisory lock every writer session holds, shared, while it lives.
pub(super) const WRITERS_LOCK: i64 = WRITE_LOCK + 2;

/// How often the instance counts the others.
const POLL: Duration = Duration::from_millis(50);

/// How long one count that found no other instance holds.
const LEASE: Duration = Duration::from_millis(200);

/// How long a writer waits after taking [`WRITERS_LOCK`] before its first transaction.
pub(super) const GRACE: Duration = Duration::from_millis(300);

/// The other sessions of this database holding the writers' lock or an instance lock.
const OTHERS: &str = "SELECT count(DISTINCT pid) FROM pg_locks
     WHERE locktype = 'advisory'
       AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
       AND ((classid::bigint = $1 AND objid::bigint = $2 AND objsubid = 1)
            OR (classid::bigint = $3 AND objsubid = 2))
       AND pid <> ALL($4)";

/// This instance's standing: alone until a deadline, and the sessions that are its own.
pub(super) struct Alone {
    base: Instant,
    /// Milliseconds after `base` until which the instance is alone; 0 when it is not.
    until: AtomicU64,
    writer_pid: AtomicI32,
    instance_pid: AtomicI32,
}

impl Alone {
    pub(super) fn new() -> Alone {
        Alone {
            base: Instant::now(),
            until: AtomicU64::new(0),
            writer_pid: AtomicI32::new(0),
            instance_pid: AtomicI32::new(0),
        }
    }

    fn millis(&self, at: Instant) -> u64 {
        at.saturating_duration_since(self.base).as_millis() as u64
    }

    /// Whether no other instance can have committed since the view was last brought up to date.
    pub(super) fn holds(&self) -> bool {
        let until = self.until.load(Ordering::Acquire);
        until != 0 && self.millis(Instant::now()) < until
    }

    fn confirm(&self, counted_at: Instant) {
        let until = self.millis(counted_at + LEASE).max(1);
        self.until.store(until, Ordering::Release);
    }

    fn end(&self) {
        self.until.store(0, Ordering::Release);
    }

    /// The writer's session (its backend's pid), after it took [`WRITERS_LOCK`]; 0 when it has
    /// none.
    pub(super) fn set_writer(&self, pid: i32) {
        self.writer_pid.store(pid, Ordering::Release);
    }

    pub(super) fn set_instance(&self, pid: i32) {
        self.instance_pid.store(pid, Ordering::Release);
    }

    fn own(&self) -> Vec<i32> {
        [&self.writer_pid, &self.instance_pid]
            .iter()
            .map(|p| p.load(Ordering::Acquire))
            .filter(|p| *p != 0)
            .collect()
    }
}

/// Takes [`WRITERS_LOCK`] on a writer's new session; the session's pid.
pub(super) fn hold_writers_lock(conn: &mut Conn) -> Result<i32> {
    let row = conn
        .client
        .query_one(
            "SELECT pg_advisory_lock_shared($1), pg_backend_pid()",
            &[&WRITERS_LOCK],
        )
        .map_err(fault)?;
    row.try_get(1).map_err(fault)
}

/// One count: whether no other instance holds a lock (see the module docs).
fn count(conn: &mut Conn, alone: &Alone) -> Result<bool> {
    let others = conn.statement(OTHERS)?;
    let own = alone.own();
    let high = WRITERS_LOCK >> 32;
    let low = WRITERS_LOCK & 0xffff_ffff;
    let class = i64::from(INSTANCE_LOCK_CLASS);
    let n: i64 = conn
        .client
        .query_one(&others, &[&high, &low, &class, &own])
        .map_err(fault)?
        .try_get(0)
        .map_err(fault)?;
    Ok(n == 0)
}

/// The watching thread: counts every [`POLL`] until `stop`'s sender is dropped.
pub(super) fn watch(
    feed: &Feed,
    mut connect: impl FnMut() -> Result<Conn>,
    stop: &mpsc::Receiver<()>,
) {
    let mut conn: Option<Conn> = None;
    let mut warned = false;
    while let Err(mpsc::RecvTimeoutError::Timeout) = stop.recv_timeout(POLL) {
        let counted_at = Instant::now();
        let outcome = (|| {
            if conn.as_ref().is_none_or(|c| c.client.is_closed()) {
                conn = Some(connect()?);
            }
            let c = conn.as_mut().expect("connected above");
            let alone = count(c, &feed.alone)?;
            if alone {
                feed.catch_up(c)?;
            }
            Ok::<bool, crate::error::Error>(alone)
        })();
        match outcome {
            Ok(true) => {
                feed.alone.confirm(counted_at);
                warned = false;
            }
            Ok(false) => feed.alone.end(),
            Err(e) => {
                feed.alone.end();
                conn = None;
                if !warned {
                    tracing::warn!(error = %e, "cannot tell whether other instances share the database; assuming they do");
                    warned = true;
                }
            }
        }
    }
    feed.alone.end();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_count_holds_for_its_lease_from_when_it_was_asked_and_no_longer() {
        let alone = Alone::new();
        assert!(!alone.holds(), "not alone before any count");
        alone.confirm(Instant::now());
        assert!(alone.holds());
        std::thread::sleep(LEASE + Duration::from_millis(5));
        assert!(!alone.holds(), "a count older than the lease has lapsed");
        alone.confirm(Instant::now());
        alone.end();
        assert!(!alone.holds());
    }

    #[test]
    fn a_joining_writer_waits_longer_than_a_count_holds() {
        assert!(GRACE > LEASE);
    }

    #[test]
    fn only_the_sessions_known_are_counted_as_this_instances_own() {
        let alone = Alone::new();
        assert!(alone.own().is_empty());
        alone.set_writer(7);
        alone.set_instance(9);
        assert_eq!(alone.own(), vec![7, 9]);
        alone.set_writer(0);
        assert_eq!(alone.own(), vec![9]);
    }
}
