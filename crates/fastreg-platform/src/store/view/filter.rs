//! The known-tickets filter: every ticket in the database as a Bloom filter, so that a ticket
//! nobody issued (most refused tickets) is answered without a read; see the view's module docs
//! and `docs/design-view.md`.

use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use super::{FILTER_BITS_PER_TICKET, FILTER_MIN_TICKETS};

/// Bits set per ticket.
const FILTER_PROBES: u64 = 4;

/// The hash of a ticket in the known-tickets set (fixed-key SipHash, like the slots).
pub fn ticket_hash(ticket: &str) -> u64 {
    let mut h = std::hash::DefaultHasher::new();
    ticket.hash(&mut h);
    h.finish()
}

/// Every ticket in the database, as a Bloom filter over [`ticket_hash`]; see the view's module docs.
pub(super) struct TicketFilter {
    words: Box<[AtomicU64]>,
    /// Bits - 1 (a power of two).
    mask: u64,
}

impl TicketFilter {
    /// A filter for at least twice as many tickets as `hashes` (and [`FILTER_MIN_TICKETS`]),
    /// holding them.
    fn with_all(hashes: &[u64]) -> TicketFilter {
        let tickets = (hashes.len() * 2).max(FILTER_MIN_TICKETS);
        let bits = (tickets * FILTER_BITS_PER_TICKET).next_power_of_two();
        let filter = TicketFilter {
            words: (0..bits / 64).map(|_| AtomicU64::new(0)).collect(),
            mask: bits as u64 - 1,
        };
        for &hash in hashes {
            filter.insert(hash);
        }
        filter
    }

    /// The bits of a hash (double hashing: one 64-bit hash gives every probe).
    fn bits(&self, hash: u64) -> impl Iterator<Item = (usize, u64)> + '_ {
        let step = hash.rotate_left(32) | 1;
        (0..FILTER_PROBES).map(move |i| {
            let bit = hash.wrapping_add(i.wrapping_mul(step)) & self.mask;
            ((bit >> 6) as usize, 1u64 << (bit & 63))
        })
    }

    /// The tickets it holds at its fewest bits per ticket.
    fn capacity(&self) -> usize {
        (self.mask as usize + 1) / FILTER_BITS_PER_TICKET
    }

    fn insert(&self, hash: u64) {
        for (word, bit) in self.bits(hash) {
            self.words[word].fetch_or(bit, Ordering::AcqRel);
        }
    }

    fn may_contain(&self, hash: u64) -> bool {
        self.bits(hash)
            .all(|(word, bit)| self.words[word].load(Ordering::Acquire) & bit != 0)
    }
}

/// The filter once the start-up scan is in, and every ticket's hash, from which the writer
/// builds a filter twice the size whenever the tickets outgrow the current one.
#[derive(Default)]
pub(super) struct KnownTickets {
    /// Readers load it without writing shared memory.
    filter: arc_swap::ArcSwapOption<TicketFilter>,
    /// Every hash added (by the scan or the writer); also what orders an addition against the
    /// filter's arrival and replacement.
    hashes: Mutex<Vec<u64>>,
}

impl KnownTickets {
    /// Writer: a ticket is being inserted.
    pub(super) fn add(&self, hash: u64) {
        let Ok(mut hashes) = self.hashes.lock() else {
            return;
        };
        hashes.push(hash);
        let Some(filter) = self.filter.load_full() else {
            // The scan is not in yet; it builds the filter from `all`.
            return;
        };
        if hashes.len() <= filter.capacity() {
            return filter.insert(hash);
        }
        // Full: a filter for twice as many, from every hash. The old one answers meanwhile
        // (it holds every ticket but this one, whose transaction has not committed).
        self.filter
            .store(Some(Arc::new(TicketFilter::with_all(&hashes))));
    }

    /// The start-up scan is in.
    pub(super) fn load(&self, scanned: Vec<u64>) {
        let Ok(mut hashes) = self.hashes.lock() else {
            return;
        };
        let added = std::mem::replace(&mut *hashes, scanned);
        hashes.extend(added);
        self.filter
            .store(Some(Arc::new(TicketFilter::with_all(&hashes))));
    }

    /// Whether a ticket certainly does not exist.
    pub(super) fn certainly_absent(&self, hash: u64) -> bool {
        self.filter
            .load()
            .as_ref()
            .is_some_and(|f| !f.may_contain(hash))
    }
}
