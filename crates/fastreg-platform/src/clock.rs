//! The sandbox clock: the system clock plus an offset that `POST /sandbox/v1/clock/advance`
//! moves forward. Every expiry, every verify-ticket interval and the quota month read it, so a
//! test can cross a month boundary or outlive a token in milliseconds.
//!
//! The offset is persisted by the store (so a restart keeps the sandbox's idea of "now"); this
//! type holds the in-memory copy that every request reads without touching storage.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use chrono::{DateTime, Datelike, TimeZone};
use chrono_tz::Asia::Shanghai;

use crate::domain::UnixTime;

/// The sandbox clock.
#[derive(Debug, Default)]
pub struct Clock {
    offset: AtomicI64,
}

impl Clock {
    /// A clock `offset` seconds ahead of the system clock.
    pub fn with_offset(offset: i64) -> Self {
        Clock {
            offset: AtomicI64::new(offset),
        }
    }

    /// Now, in unix seconds, on the sandbox clock.
    pub fn now(&self) -> UnixTime {
        system_now() + self.offset()
    }

    /// Seconds the sandbox clock runs ahead of the system clock.
    pub fn offset(&self) -> i64 {
        self.offset.load(Ordering::SeqCst)
    }

    /// Replaces the offset (after the store has persisted it).
    pub fn set_offset(&self, offset: i64) {
        self.offset.store(offset, Ordering::SeqCst);
    }
}

/// The system clock in unix seconds.
pub fn system_now() -> UnixTime {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// The system clock in unix milliseconds: real time, for what the sandbox clock must not move
/// (push schedules, claims of registrations in progress).
pub fn system_now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// The Asia/Shanghai calendar month of a unix time, as `YYYY-MM`: the unit of the monthly
/// fast-registration quota.
pub fn shanghai_month(t: UnixTime) -> String {
    let local = Shanghai.from_utc_datetime(
        &DateTime::from_timestamp(t, 0)
            .unwrap_or(DateTime::UNIX_EPOCH)
            .naive_utc(),
    );
    format!("{:04}-{:02}", local.year(), local.month())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_quota_month_turns_at_midnight_in_shanghai_not_utc() {
        // 2026-11-30T15:59:59Z is 23:59:59 in Shanghai: still November.
        assert_eq!(shanghai_month(1_796_054_399), "2026-11");
        // One second later it is December 1st in Shanghai, still November 30th in UTC.
        assert_eq!(shanghai_month(1_796_054_400), "2026-12");
    }

    #[test]
    fn advancing_the_offset_moves_now() {
        let c = Clock::default();
        let before = c.now();
        c.set_offset(86_400);
        assert!(c.now() >= before + 86_400);
    }
}
