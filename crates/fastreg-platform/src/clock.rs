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

/// The most `POST /sandbox/v1/clock/advance` moves a clock at once: 100 years.
pub const MAX_ADVANCE_SECS: i64 = 100 * 365 * 86_400;

/// The earliest start a world's clock may have (2000-01-01): what the calendar and every
/// expiry can count from.
pub const EARLIEST_START: UnixTime = 946_684_800;

/// The latest start a world's clock may have (2200-01-01).
pub const LATEST_START: UnixTime = 7_258_118_400;

/// A world's sandbox clock: running (the system clock plus an offset) or frozen (a time that
/// moves only when advanced, for deterministic tests).
#[derive(Debug, Default)]
pub struct Clock {
    /// Running: seconds ahead of the system clock. Frozen: the time itself.
    offset: AtomicI64,
    frozen: bool,
}

impl Clock {
    /// A running clock `offset` seconds ahead of the system clock.
    pub fn with_offset(offset: i64) -> Self {
        Clock {
            offset: AtomicI64::new(offset),
            frozen: false,
        }
    }

    /// A frozen clock standing at `at`.
    pub fn frozen_at(at: UnixTime) -> Self {
        Clock {
            offset: AtomicI64::new(at),
            frozen: true,
        }
    }

    /// Now, in unix seconds, on the sandbox clock.
    pub fn now(&self) -> UnixTime {
        if self.frozen {
            self.offset()
        } else {
            system_now() + self.offset()
        }
    }

    /// Whether the clock moves only when advanced.
    pub fn is_frozen(&self) -> bool {
        self.frozen
    }

    /// What the store persists: the offset of a running clock, the time of a frozen one.
    pub fn offset(&self) -> i64 {
        self.offset.load(Ordering::SeqCst)
    }

    /// Replaces the persisted value (after the store has persisted it).
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
    // Every fastregister asks, nearly always within the month asked last: that month and the
    // unix times it spans are kept.
    static LAST: std::sync::Mutex<Option<(UnixTime, UnixTime, String)>> =
        std::sync::Mutex::new(None);
    if let Ok(last) = LAST.lock() {
        if let Some((start, end, month)) = last.as_ref() {
            if (*start..*end).contains(&t) {
                return month.clone();
            }
        }
    }
    let (month, year, number) = calendar_month(t);
    if let Some(span) = month_span(year, number) {
        if let Ok(mut last) = LAST.lock() {
            *last = Some((span.0, span.1, month.clone()));
        }
    }
    month
}

/// The Shanghai month of `t` as `YYYY-MM`, its year and its number, from the time-zone database.
fn calendar_month(t: UnixTime) -> (String, i32, u32) {
    let local = Shanghai.from_utc_datetime(
        &DateTime::from_timestamp(t, 0)
            .unwrap_or(DateTime::UNIX_EPOCH)
            .naive_utc(),
    );
    let month = format!("{:04}-{:02}", local.year(), local.month());
    (month, local.year(), local.month())
}

/// The unix times from the first instant of a Shanghai month to the first of the next.
fn month_span(year: i32, month: u32) -> Option<(UnixTime, UnixTime)> {
    let first = |y: i32, m: u32| {
        Shanghai
            .with_ymd_and_hms(y, m, 1, 0, 0, 0)
            .single()
            .map(|d| d.timestamp())
    };
    let (ny, nm) = if month == 12 {
        (year + 1, 1)
    } else {
        (year, month + 1)
    };
    Some((first(year, month)?, first(ny, nm)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_remembered_month_agrees_with_the_calendar_on_both_sides_of_a_boundary() {
        // 2025-12-31T16:00:00Z is midnight of 2026-01-01 in Shanghai (a year turns too).
        let boundary = 1_767_196_800;
        // Back and forth across it, so that the remembered month is both right and wrong
        // for the next call.
        for dt in [
            -3,
            2,
            -1,
            0,
            -2,
            5,
            -60,
            60,
            -86_400 * 40,
            86_400 * 40,
            -1,
            0,
        ] {
            let t = boundary + dt;
            assert_eq!(
                shanghai_month(t),
                calendar_month(t).0,
                "t = boundary {dt:+}"
            );
        }
        assert_eq!(shanghai_month(boundary - 1), "2025-12");
        assert_eq!(shanghai_month(boundary), "2026-01");
    }

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
