//! The in-process view of what fastregister's checks read, for a database this process alone
//! writes (SQLite).
//!
//! Why: a refused fastregister used to cost about ten SQLite point queries on a reader thread
//! (about 60 % of its instructions, BENCHMARKS.md). The view keeps the rows those checks read,
//! as the reader last loaded them, so that a repeated call is decided on the request's own
//! thread, with hash lookups and no hop to a reader. A go-ahead still goes to the writer, which
//! checks again in its write transaction, so the view can only ever speed up an answer that a
//! read snapshot would also give: a refusal or the replay of a success.
//!
//! How it stays correct, without the writer having to know which values the view holds:
//! - Every cached value sits under a [`Key`] (an OA, an entity, a ticket, …). Every write
//!   method of the store names the keys it changes ([`View::touch`], on the writer thread).
//! - A key hashes to one of [`SLOTS`] slots. A slot holds the epoch of the last change to any
//!   of its keys, or [`PENDING`] while a write transaction that changes one is open.
//! - After the writer commits (and before it answers any job of the batch) it stamps the
//!   touched slots with a new epoch and then publishes that epoch ([`View::publish`]).
//! - A reader records the published epoch *before* its snapshot begins (it begins it right
//!   after `BEGIN`, with a read, rather than at its first query), and stores what it read with
//!   that epoch. The snapshot therefore holds every change published up to then.
//! - A cached value is used only if its slot's stamp is at most the value's epoch (no change
//!   since it was read, none in flight) *and* at most the epoch the current lookup started
//!   from (so that values read together are all as of one instant). Anything else is a miss,
//!   and the request goes to a reader as before. Colliding keys only cause misses.
//!
//! The writer uses the view too, for fastregister's checks in its write transaction: it
//! publishes every commit before it begins the next transaction, so a value unchanged since
//! the published epoch is the committed value, and whatever the open transaction changed is
//! pending (a miss) and read from the database, in the transaction.
//!
//! Only this process may write the database: SQLite's backend takes an exclusive lock on a
//! lock file beside it. PostgreSQL, which several instances share, has no view.
//!
//! Memory is bounded: each map holds at most [`CAPACITY`] values and is emptied when full.
//!
//! Unknown tickets: most refused tickets (61058) are strings nobody issued, which no cache of
//! rows can hold. So the view also keeps every ticket in the database in a Bloom filter:
//! filled once at start by a scan on its own thread ([`View::load_known_tickets`]), and by the
//! writer for every ticket it inserts, *before* committing it. A Bloom filter has no false
//! negatives and tickets are never deleted, so once the scan is in, a ticket the filter does
//! not hold does not exist, now or at any earlier epoch. Until then, and for a ticket the
//! filter may hold (every real one, and a rare false positive), the ticket is read as before.
//! The filter holds at least [`FILTER_BITS_PER_TICKET`] bits per ticket: when the tickets
//! outgrow it, the writer builds one twice the size from the tickets' hashes, which the view
//! also keeps (8 bytes each). At 10^6 tickets that is 8 MB of hashes and a 4–8 MB filter.
//!
//! Reads take no lock: the maps are lock-free ([`papaya`]) and the filter is atomic words
//! behind an `ArcSwap`. (A mutex per map, taken by every request on every core, came first.)
//! What one check read about an OA is one entry (and about a ticket, one more), fetched once
//! per check; each value in it is still checked against its own key's stamp.

use std::cell::RefCell;
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crate::domain::*;
use crate::rules::FastRegisterContext;

/// Slots of modification stamps (a power of two).
pub const SLOTS: usize = 1 << 16;

/// Most values one map holds before it is emptied.
pub const CAPACITY: usize = 16_384;

/// The stamp of a slot whose key a write transaction is changing right now.
pub const PENDING: u64 = u64::MAX;

/// Fewest bits of the known-tickets filter per ticket (it is rebuilt twice the size past
/// that): a false-positive rate of at most about 1 in 400, 1 in 5,000 after a rebuild.
pub const FILTER_BITS_PER_TICKET: usize = 16;

/// The filter is sized for at least this many tickets.
pub const FILTER_MIN_TICKETS: usize = 1 << 16;

/// Bits set per ticket.
const FILTER_PROBES: u64 = 4;

/// What a cached value depends on. A write names every key whose values it may change.
#[derive(Debug, Clone, Copy, Hash)]
pub enum Key<'a> {
    /// An OA's row, its registrations in progress and its successes per month.
    OfficialAccount(&'a str),
    /// An entity's row, its Mini Program count and its registrations in progress.
    Entity(i64),
    /// A fastregister ticket and the registration holding it.
    Ticket(&'a str),
    /// A component's row.
    Component(&'a str),
    /// The authorisation of (component, authorizer).
    Authorization(&'a str, &'a str),
    /// Every token of (component, authorizer).
    Tokens(&'a str, &'a str),
    /// Everything: a change the writer cannot name key by key.
    All,
}

fn slot_of(hasher: &ViewHasher, key: Key<'_>) -> usize {
    (hasher.hash_one(key) as usize) & (SLOTS - 1)
}

/// The hash of a ticket in the known-tickets set (fixed-key SipHash, like the slots).
pub fn ticket_hash(ticket: &str) -> u64 {
    let mut h = std::hash::DefaultHasher::new();
    ticket.hash(&mut h);
    h.finish()
}

/// Every ticket in the database, as a Bloom filter over [`ticket_hash`]; see the module docs.
struct TicketFilter {
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
struct KnownTickets {
    /// Readers load it without writing shared memory.
    filter: arc_swap::ArcSwapOption<TicketFilter>,
    /// Every hash added (by the scan or the writer); also what orders an addition against the
    /// filter's arrival and replacement.
    hashes: Mutex<Vec<u64>>,
}

impl KnownTickets {
    /// Writer: a ticket is being inserted.
    fn add(&self, hash: u64) {
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
    fn load(&self, scanned: Vec<u64>) {
        let Ok(mut hashes) = self.hashes.lock() else {
            return;
        };
        let added = std::mem::replace(&mut *hashes, scanned);
        hashes.extend(added);
        self.filter
            .store(Some(Arc::new(TicketFilter::with_all(&hashes))));
    }

    /// Whether a ticket certainly does not exist.
    fn certainly_absent(&self, hash: u64) -> bool {
        self.filter
            .load()
            .as_ref()
            .is_some_and(|f| !f.may_contain(hash))
    }
}

/// The view's hasher: keyed at random once per view, so a key's slot stays put while the
/// view lives.
type ViewHasher = ahash::RandomState;

/// One map of cached values, each with the epoch it was read at.
struct Map<K, V> {
    inner: papaya::HashMap<K, (V, u64), ViewHasher>,
}

impl<K: Eq + Hash, V: Clone> Map<K, V> {
    fn new() -> Self {
        Map {
            inner: papaya::HashMap::with_hasher(ViewHasher::new()),
        }
    }

    fn get<Q>(&self, k: &Q) -> Option<(V, u64)>
    where
        Q: papaya::Equivalent<K> + Hash + ?Sized,
    {
        self.inner.pin().get(k).cloned()
    }

    fn put(&self, k: K, v: V, epoch: u64) {
        let map = self.inner.pin();
        if map.len() >= CAPACITY {
            map.clear();
        }
        map.insert(k, (v, epoch));
    }

    fn clear(&self) {
        self.inner.pin().clear();
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.inner.len()
    }
}

/// What one check read about an OA, all as of one epoch: one map entry rather than one per
/// row, so that a check makes one lookup for them (each value is still checked against its own
/// key's stamp when used).
#[derive(Debug, Clone)]
struct OaRead {
    /// The component the authorisation is of (one component per authorizer).
    component_appid: String,
    authorization: Option<Arc<Authorization>>,
    component: Option<Arc<Component>>,
    official_account: Option<Arc<OfficialAccount>>,
    /// Read only when the OA exists.
    details: Option<OaDetails>,
}

/// The counts and the entity of an OA that exists.
#[derive(Debug, Clone)]
struct OaDetails {
    in_progress: bool,
    /// The month `successes` counts.
    month: String,
    successes: u32,
    entity: Option<Arc<Entity>>,
    entity_mini_programs: u32,
}

/// A ticket and the registration holding it (read only for a ticket that exists).
#[derive(Debug, Clone)]
struct TicketRead {
    ticket: FastRegisterTicket,
    registration: Option<Registration>,
}

/// The view; see the module docs.
pub struct View {
    epoch: AtomicU64,
    slots: Box<[AtomicU64]>,
    hasher: ViewHasher,
    /// The slot of [`Key::All`].
    all_slot: usize,
    /// Slots the writer's open transaction touched (writer thread only; a mutex for `Sync`).
    pending: Mutex<Vec<usize>>,
    known_tickets: KnownTickets,
    tokens: Map<String, Arc<TokenRecord>>,
    /// By OA (authorizer): everything a check read about it, as of one epoch.
    oas: Map<String, Arc<OaRead>>,
    /// By ticket: the ticket and the registration holding it.
    tickets: Map<String, Arc<TicketRead>>,
}

impl std::fmt::Debug for View {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("View")
            .field("epoch", &self.epoch.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl Default for View {
    fn default() -> Self {
        View::new()
    }
}

impl View {
    /// An empty view.
    pub fn new() -> View {
        let hasher = ViewHasher::new();
        let all_slot = slot_of(&hasher, Key::All);
        View {
            epoch: AtomicU64::new(1),
            slots: (0..SLOTS).map(|_| AtomicU64::new(0)).collect(),
            hasher,
            all_slot,
            pending: Mutex::new(Vec::new()),
            known_tickets: KnownTickets::default(),
            tokens: Map::new(),
            oas: Map::new(),
            tickets: Map::new(),
        }
    }

    /// The published epoch: a reader records it before its snapshot begins.
    pub fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::Acquire)
    }

    /// Writer: the open transaction changes values under `key`. Until [`View::publish`], no
    /// value under it is used.
    pub fn touch(&self, key: Key<'_>) {
        if let Key::Ticket(ticket) = key {
            // Before the commit: a ticket that exists is always in the filter.
            self.known_tickets.add(ticket_hash(ticket));
        }
        let slot = slot_of(&self.hasher, key);
        self.slots[slot].store(PENDING, Ordering::SeqCst);
        if let Ok(mut p) = self.pending.lock() {
            p.push(slot);
        }
        if matches!(key, Key::All) {
            self.clear();
        }
    }

    /// Writer, after its transaction ended (committed or not) and before it answers: stamps
    /// the touched slots with a new epoch and publishes it.
    pub fn publish(&self) {
        let Ok(mut pending) = self.pending.lock() else {
            return;
        };
        if pending.is_empty() {
            return;
        }
        let next = self.epoch.load(Ordering::Acquire) + 1;
        for slot in pending.drain(..) {
            self.slots[slot].store(next, Ordering::SeqCst);
        }
        self.epoch.store(next, Ordering::Release);
    }

    /// The start-up scan: `tickets` are all the tickets of a snapshot that began after this
    /// view was created (so the writer added every later one itself).
    /// (As [`ticket_hash`]es.)
    pub fn load_known_tickets(&self, tickets: Vec<u64>) {
        self.known_tickets.load(tickets);
    }

    /// Whether `ticket` certainly does not exist.
    fn ticket_unknown(&self, ticket: &str) -> bool {
        self.known_tickets.certainly_absent(ticket_hash(ticket))
    }

    fn clear(&self) {
        self.tokens.clear();
        self.oas.clear();
        self.tickets.clear();
    }

    /// Whether a value read at `read_at` under `key` is current, and as of `as_of`.
    fn fresh(&self, key: Key<'_>, read_at: u64, as_of: u64) -> bool {
        let limit = read_at.min(as_of);
        self.slots[slot_of(&self.hasher, key)].load(Ordering::SeqCst) <= limit
            && self.slots[self.all_slot].load(Ordering::SeqCst) <= limit
    }

    /// Reader: stores what one fastregister check read from a snapshot that began after
    /// `epoch` was published. `month` is the Asia/Shanghai month the successes were counted
    /// in. The token is stored under the hash its record carries (the one it was looked up by).
    pub fn remember(&self, ctx: &FastRegisterContext, month: &str, epoch: u64) {
        let Some(token) = &ctx.token else {
            return;
        };
        self.tokens.put(token.hash.clone(), token.clone(), epoch);
        if token.kind != TokenKind::Authorizer(AuthorizerKind::OfficialAccount) {
            return;
        }
        let read = OaRead {
            component_appid: token.component_appid.clone(),
            authorization: ctx.authorization.clone(),
            component: ctx.component.clone(),
            official_account: ctx.official_account.clone(),
            details: ctx.official_account.as_ref().map(|_| OaDetails {
                in_progress: ctx.oa_in_progress,
                month: month.to_string(),
                successes: ctx.oa_successes_this_month,
                entity: ctx.entity.clone(),
                entity_mini_programs: ctx.entity_mini_programs,
            }),
        };
        self.oas
            .put(token.authorizer_appid.clone(), Arc::new(read), epoch);
        if let Some(t) = &ctx.ticket {
            let read = TicketRead {
                ticket: t.clone(),
                registration: ctx.ticket_registration.clone(),
            };
            self.tickets.put(t.ticket.clone(), Arc::new(read), epoch);
        }
    }

    /// A lookup of values current as of the epoch published now.
    pub fn lookup(&self) -> Lookup<'_> {
        self.lookup_as_of(self.epoch())
    }

    /// A lookup of values unchanged since `epoch`: for a reader whose snapshot began after
    /// `epoch` was published, exactly the values its snapshot holds.
    pub fn lookup_as_of(&self, epoch: u64) -> Lookup<'_> {
        Lookup {
            view: self,
            as_of: epoch,
            oa: RefCell::new(None),
            ticket: RefCell::new(None),
        }
    }
}

/// An entry fetched by a lookup, with the key it was fetched by.
type Fetched<T> = RefCell<Option<(String, Option<(Arc<T>, u64)>)>>;

/// Reads from the view as of one epoch; every method answers `None` on a miss.
///
/// A lookup serves one check, which reads one OA and one ticket: it fetches each entry once.
/// The component and the entity are those of the OA fetched last (a miss before any).
pub struct Lookup<'v> {
    view: &'v View,
    as_of: u64,
    oa: Fetched<OaRead>,
    ticket: Fetched<TicketRead>,
}

/// The entry under `key`, from `memo` when it holds that key's, else from `map`.
fn fetch<T>(memo: &Fetched<T>, map: &Map<String, Arc<T>>, key: &str) -> Option<(Arc<T>, u64)> {
    let mut memo = memo.borrow_mut();
    if let Some((k, found)) = &*memo {
        if k == key {
            return found.clone();
        }
    }
    let found = map.get(key);
    *memo = Some((key.to_string(), found.clone()));
    found
}

impl Lookup<'_> {
    fn fresh<V>(&self, key: Key<'_>, found: Option<(V, u64)>) -> Option<V> {
        let (v, read_at) = found?;
        self.view.fresh(key, read_at, self.as_of).then_some(v)
    }

    fn oa(&self, appid: &str) -> Option<(Arc<OaRead>, u64)> {
        fetch(&self.oa, &self.view.oas, appid)
    }

    /// The OA fetched last, if any.
    fn last_oa(&self) -> Option<(Arc<OaRead>, u64)> {
        self.oa
            .borrow()
            .as_ref()
            .and_then(|(_, found)| found.clone())
    }

    /// The details of the OA fetched last whose entity is `id`.
    fn entity_details(&self, id: i64) -> Option<(Arc<OaRead>, u64)> {
        self.last_oa().filter(|(read, _)| {
            read.details.is_some()
                && read
                    .official_account
                    .as_ref()
                    .is_some_and(|oa| oa.entity_id == id)
        })
    }

    fn ticket_read(&self, ticket: &str) -> Option<(Arc<TicketRead>, u64)> {
        fetch(&self.ticket, &self.view.tickets, ticket)
    }

    /// A token by hash.
    pub fn token(&self, hash: &str) -> Option<Arc<TokenRecord>> {
        let (t, read_at) = self.view.tokens.get(hash)?;
        let key = Key::Tokens(&t.component_appid, &t.authorizer_appid);
        self.view.fresh(key, read_at, self.as_of).then_some(t)
    }

    /// The authorisation of (component, authorizer), or its absence.
    pub fn authorization(
        &self,
        component: &str,
        authorizer: &str,
    ) -> Option<Option<Arc<Authorization>>> {
        let found = self
            .oa(authorizer)
            .filter(|(read, _)| read.component_appid == component)
            .map(|(read, at)| (read.authorization.clone(), at));
        self.fresh(Key::Authorization(component, authorizer), found)
    }

    /// A component, or its absence.
    pub fn component(&self, appid: &str) -> Option<Option<Arc<Component>>> {
        let found = self
            .last_oa()
            .filter(|(read, _)| read.component_appid == appid)
            .map(|(read, at)| (read.component.clone(), at));
        self.fresh(Key::Component(appid), found)
    }

    /// A ticket, or its certain absence.
    pub fn ticket(&self, ticket: &str) -> Option<Option<FastRegisterTicket>> {
        if self.view.ticket_unknown(ticket) {
            return Some(None);
        }
        let found = self
            .ticket_read(ticket)
            .map(|(read, at)| (read.ticket.clone(), at));
        self.fresh(Key::Ticket(ticket), found).map(Some)
    }

    /// The registration holding a ticket, or its absence (certain for a ticket that does not
    /// exist: a registration refers to its ticket).
    pub fn ticket_registration(&self, ticket: &str) -> Option<Option<Registration>> {
        if self.view.ticket_unknown(ticket) {
            return Some(None);
        }
        let found = self
            .ticket_read(ticket)
            .map(|(read, at)| (read.registration.clone(), at));
        self.fresh(Key::Ticket(ticket), found)
    }

    /// An OA, or its absence.
    pub fn official_account(&self, appid: &str) -> Option<Option<Arc<OfficialAccount>>> {
        let found = self
            .oa(appid)
            .map(|(read, at)| (read.official_account.clone(), at));
        self.fresh(Key::OfficialAccount(appid), found)
    }

    /// Whether an OA has a registration in progress.
    pub fn oa_in_progress(&self, appid: &str) -> Option<bool> {
        let found = self
            .oa(appid)
            .and_then(|(read, at)| Some((read.details.as_ref()?.in_progress, at)));
        self.fresh(Key::OfficialAccount(appid), found)
    }

    /// An OA's successes in a month.
    pub fn oa_successes(&self, appid: &str, month: &str) -> Option<u32> {
        let found = self.oa(appid).and_then(|(read, at)| {
            let d = read.details.as_ref().filter(|d| d.month == month)?;
            Some((d.successes, at))
        });
        self.fresh(Key::OfficialAccount(appid), found)
    }

    /// An entity, or its absence.
    pub fn entity(&self, id: i64) -> Option<Option<Arc<Entity>>> {
        let found = self
            .entity_details(id)
            .and_then(|(read, at)| Some((read.details.as_ref()?.entity.clone(), at)));
        self.fresh(Key::Entity(id), found)
    }

    /// An entity's Mini Programs plus its registrations in progress.
    pub fn entity_mini_programs(&self, id: i64) -> Option<u32> {
        let found = self
            .entity_details(id)
            .and_then(|(read, at)| Some((read.details.as_ref()?.entity_mini_programs, at)));
        self.fresh(Key::Entity(id), found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn oa(appid: &str, verified: bool) -> OfficialAccount {
        OfficialAccount {
            appid: appid.into(),
            user_name: "gh_1".into(),
            nickname: "n".into(),
            entity_id: 1,
            verified,
            pending_registration: false,
            link_cap: None,
            created_at: 0,
        }
    }

    fn put_oa(view: &View, a: &OfficialAccount, epoch: u64) {
        let read = OaRead {
            component_appid: "wxcomponent".into(),
            authorization: None,
            component: None,
            official_account: Some(Arc::new(a.clone())),
            details: None,
        };
        view.oas.put(a.appid.clone(), Arc::new(read), epoch);
    }

    #[test]
    fn a_value_read_after_the_last_change_is_used() {
        let view = View::new();
        let e = view.epoch();
        put_oa(&view, &oa("wxoa1", true), e);
        assert_eq!(
            view.lookup().official_account("wxoa1"),
            Some(Some(Arc::new(oa("wxoa1", true))))
        );
    }

    #[test]
    fn a_touched_key_misses_while_the_write_is_open_and_after_it_is_published() {
        let view = View::new();
        let e = view.epoch();
        put_oa(&view, &oa("wxoa1", true), e);
        view.touch(Key::OfficialAccount("wxoa1"));
        assert_eq!(view.lookup().official_account("wxoa1"), None, "in flight");
        view.publish();
        assert_eq!(view.lookup().official_account("wxoa1"), None, "published");
        // A reader that began after the publication may store it again.
        let e2 = view.epoch();
        assert!(e2 > e);
        put_oa(&view, &oa("wxoa1", false), e2);
        assert_eq!(
            view.lookup().official_account("wxoa1"),
            Some(Some(Arc::new(oa("wxoa1", false))))
        );
    }

    #[test]
    fn a_value_read_before_a_change_was_published_is_never_used() {
        // The reader recorded its epoch, then the writer changed the OA and published, and
        // only then did the reader store what its (older) snapshot held.
        let view = View::new();
        let before = view.epoch();
        view.touch(Key::OfficialAccount("wxoa1"));
        view.publish();
        put_oa(&view, &oa("wxoa1", true), before);
        assert_eq!(view.lookup().official_account("wxoa1"), None);
    }

    #[test]
    fn a_lookup_begun_before_a_change_does_not_use_values_read_after_it() {
        let view = View::new();
        let lookup = view.lookup();
        view.touch(Key::OfficialAccount("wxoa1"));
        view.publish();
        put_oa(&view, &oa("wxoa1", true), view.epoch());
        assert_eq!(lookup.official_account("wxoa1"), None, "older lookup");
        assert!(view.lookup().official_account("wxoa1").is_some());
    }

    #[test]
    fn touching_everything_empties_the_view() {
        let view = View::new();
        put_oa(&view, &oa("wxoa1", true), view.epoch());
        view.touch(Key::All);
        view.publish();
        put_oa(&view, &oa("wxoa2", true), view.epoch() - 1);
        assert_eq!(view.lookup().official_account("wxoa1"), None);
        assert_eq!(view.lookup().official_account("wxoa2"), None);
    }

    #[test]
    fn untouched_keys_stay_usable_across_other_writes() {
        let view = View::new();
        put_oa(&view, &oa("wxoa1", true), view.epoch());
        let mine = slot_of(&view.hasher, Key::OfficialAccount("wxoa1"));
        let mut collided = false;
        for i in 0..100 {
            let other = format!("wxother{i}");
            collided |= slot_of(&view.hasher, Key::OfficialAccount(&other)) == mine;
            view.touch(Key::OfficialAccount(&other));
            view.publish();
        }
        // Only a key sharing wxoa1's slot (a chance of about 1 in 650 here) makes it miss.
        assert_eq!(view.lookup().official_account("wxoa1").is_some(), !collided);
    }

    #[test]
    fn an_unlisted_ticket_is_known_to_be_absent_only_once_the_scan_is_in() {
        let view = View::new();
        assert_eq!(
            view.lookup().ticket("nope"),
            None,
            "no scan yet: ask the database"
        );
        view.load_known_tickets(vec![ticket_hash("issued")]);
        assert_eq!(view.lookup().ticket("nope"), Some(None));
        assert_eq!(view.lookup().ticket_registration("nope"), Some(None));
        // A listed ticket is read from the database (or its remembered row).
        assert_eq!(view.lookup().ticket("issued"), None);
    }

    #[test]
    fn a_ticket_being_inserted_is_never_reported_absent() {
        let view = View::new();
        view.load_known_tickets(Vec::new());
        view.touch(Key::Ticket("fresh"));
        assert_eq!(view.lookup().ticket("fresh"), None, "in flight");
        view.publish();
        assert_eq!(view.lookup().ticket("fresh"), None, "committed");
    }

    #[test]
    fn the_ticket_filter_grows_with_the_tickets_and_never_loses_one() {
        let known = KnownTickets::default();
        known.load(
            (0..1000u64)
                .map(|i| ticket_hash(&format!("scanned{i}")))
                .collect(),
        );
        // Far more than the filter was first sized for (131,072).
        let added: Vec<u64> = (0..400_000u64)
            .map(|i| ticket_hash(&format!("added{i}")))
            .collect();
        for &h in &added {
            known.add(h);
        }
        assert!((0..1000u64).all(|i| !known.certainly_absent(ticket_hash(&format!("scanned{i}")))));
        assert!(added.iter().all(|&h| !known.certainly_absent(h)));
        let others = 100_000u64;
        let maybe = (0..others)
            .filter(|i| !known.certainly_absent(ticket_hash(&format!("never{i}"))))
            .count();
        // At most about 1 in 400 once rebuilt (about 1 in 25 had it stayed at its first size).
        assert!(
            maybe < 500,
            "{maybe} of {others} unknown tickets were not ruled out"
        );
    }

    #[test]
    fn a_full_map_is_emptied_rather_than_grown() {
        let view = View::new();
        for i in 0..(CAPACITY + 10) {
            put_oa(&view, &oa(&format!("wx{i}"), true), view.epoch());
        }
        let len = view.oas.len();
        assert!(len <= CAPACITY, "{len}");
    }
}
