//! The in-process view of what fastregister's checks read, for a database this process alone
//! writes (SQLite): the rows those checks read, as a reader last loaded them, so that a
//! repeated call is decided on the request's own thread with hash lookups and no hop to a
//! reader. A go-ahead still goes to the writer, which checks again in its write transaction, so
//! the view only ever speeds up an answer a read snapshot would also give (a refusal, or the
//! replay of a success).
//!
//! It stays correct by stamps: every cached value sits under a [`Key`]; every write names the
//! keys it changes ([`View::touch`]), which marks their slots [`PENDING`] until the writer
//! publishes the commit's epoch ([`View::publish`]); a value is used only if its slot has not
//! changed since the epoch it was read at, nor since the lookup began. Tickets nobody issued
//! are answered by a Bloom filter of every ticket in the database (`filter.rs`). Reads take no
//! lock. The full design, with the ordering argument, is in `docs/design-view.md`.

use std::cell::RefCell;
use std::hash::Hash;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crate::domain::*;
use crate::rules::FastRegisterContext;

mod filter;

pub use filter::ticket_hash;
use filter::KnownTickets;

/// Slots of modification stamps (a power of two).
pub const SLOTS: usize = 1 << 16;

/// Most values one map holds before it is emptied: a bound on memory (all four maps full take
/// about 150–200 MB, docs/behaviour.md), and large enough that a sandbox of tens of thousands of
/// OAs does not keep emptying its maps and reading every call from the database.
pub const CAPACITY: usize = 65_536;

/// The stamp of a slot whose key a write transaction is changing right now.
pub const PENDING: u64 = u64::MAX;

/// Fewest bits of the known-tickets filter per ticket (it is rebuilt twice the size past
/// that): a false-positive rate of at most about 1 in 400, 1 in 5,000 after a rebuild.
pub const FILTER_BITS_PER_TICKET: usize = 16;

/// The filter is sized for at least this many tickets.
pub const FILTER_MIN_TICKETS: usize = 1 << 16;

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

fn slot_of(hasher: &ViewHasher, world: WorldKey, key: Key<'_>) -> usize {
    (hasher.hash_one((world, key)) as usize) & (SLOTS - 1)
}

/// A map key: one view serves every world, and the same appid, ticket or token hash may exist
/// in several.
type WorldKeyed = (WorldKey, String);

/// A [`WorldKeyed`] to look up, borrowed: a lookup builds no key. It hashes as the key does
/// (the world, then the text), and equals the key with the same world and text.
#[derive(Hash)]
struct At<'a>(WorldKey, &'a str);

impl papaya::Equivalent<WorldKeyed> for At<'_> {
    fn equivalent(&self, key: &WorldKeyed) -> bool {
        self.0 == key.0 && self.1 == key.1
    }
}

/// The map key of (component, authorizer) within a world: appids hold no `/`.
fn pair_key(component: &str, authorizer: &str) -> String {
    let mut key = String::with_capacity(component.len() + authorizer.len() + 1);
    key.push_str(component);
    key.push('/');
    key.push_str(authorizer);
    key
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
    /// The slot of [`Key::All`]: the last one, which no key hashes to.
    all_slot: usize,
    /// Slots the writer's open transaction touched (writer thread only; a mutex for `Sync`).
    pending: Mutex<Vec<usize>>,
    known_tickets: KnownTickets,
    tokens: Map<WorldKeyed, Arc<TokenRecord>>,
    /// By OA (authorizer): everything a check read about it, as of one epoch.
    oas: Map<WorldKeyed, Arc<OaRead>>,
    /// By ticket: the ticket and the registration holding it.
    tickets: Map<WorldKeyed, Arc<TicketRead>>,
    /// By (component, authorizer): an authorisation, or its absence, as the writer read it
    /// ([`View::remember_settled_authorization`]); fastregister's reads keep theirs in `oas`.
    authorizations: Map<WorldKeyed, Arc<Option<Authorization>>>,
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
        // A slot of its own, past the hashed ones: a key that hashed to the same slot as
        // `Key::All` would otherwise make every value look changed whenever it is written.
        let all_slot = SLOTS;
        View {
            epoch: AtomicU64::new(1),
            slots: (0..=SLOTS).map(|_| AtomicU64::new(0)).collect(),
            hasher,
            all_slot,
            pending: Mutex::new(Vec::new()),
            known_tickets: KnownTickets::default(),
            tokens: Map::new(),
            oas: Map::new(),
            tickets: Map::new(),
            authorizations: Map::new(),
        }
    }

    /// The published epoch: a reader records it before its snapshot begins.
    pub fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::Acquire)
    }

    /// Writer: the open transaction changes values of the default world under `key`.
    pub fn touch(&self, key: Key<'_>) {
        self.touch_in(DEFAULT_WORLD, key);
    }

    /// Writer: the open transaction changes values of `world` under `key`. Until
    /// [`View::publish`], no value under it is used. [`Key::All`] means every world.
    pub fn touch_in(&self, world: WorldKey, key: Key<'_>) {
        if let Key::Ticket(ticket) = key {
            // Before the commit: a ticket that exists is always in the filter (of every
            // world: the filter only ever answers "certainly absent" from all of them).
            self.known_tickets.add(ticket_hash(ticket));
        }
        let slot = if matches!(key, Key::All) {
            self.all_slot
        } else {
            slot_of(&self.hasher, world, key)
        };
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

    /// Changes another instance committed (PostgreSQL's change feed, applied in commit order):
    /// stamps their slots with a new epoch and publishes it, as the writer does after its own
    /// commit. A slot this instance's writer has pending stays pending (the writer stamps it
    /// when it publishes); a ticket joins the known-tickets filter.
    pub fn publish_remote<'k>(&self, changes: impl IntoIterator<Item = (WorldKey, Key<'k>)>) {
        // Under the writer's lock, so that the two never publish the same epoch.
        let Ok(_writer) = self.pending.lock() else {
            return;
        };
        let next = self.epoch.load(Ordering::Acquire) + 1;
        let mut all = false;
        for (world, key) in changes {
            if let Key::Ticket(ticket) = key {
                self.known_tickets.add(ticket_hash(ticket));
            }
            let slot = if matches!(key, Key::All) {
                all = true;
                self.all_slot
            } else {
                slot_of(&self.hasher, world, key)
            };
            let _ = self.slots[slot].fetch_update(Ordering::SeqCst, Ordering::SeqCst, |stamp| {
                (stamp != PENDING).then_some(next)
            });
        }
        if all {
            self.clear();
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
        self.authorizations.clear();
    }

    /// Writer: whether no change to `key` is pending, so that a value under it read in the
    /// write transaction now is the committed one (the write lock keeps every other writer
    /// out, and whatever the transaction itself changed is pending until it publishes).
    fn settled(&self, world: WorldKey, key: Key<'_>) -> bool {
        self.slots[slot_of(&self.hasher, world, key)].load(Ordering::SeqCst) != PENDING
            && self.slots[self.all_slot].load(Ordering::SeqCst) != PENDING
    }

    /// Writer, holding the write lock with the change feed caught up: remembers a token its
    /// transaction just read, unless a change to its (component, authorizer) is pending. The
    /// value is the committed one as of the epoch published now, so it serves as a reader's
    /// would (stamped with that epoch, then outdated by the next write under its key).
    pub fn remember_settled_token(&self, world: WorldKey, token: Arc<TokenRecord>) {
        // The epoch is read before the check: a change published between the two stamps a
        // later epoch, which outdates the value rather than hiding behind it.
        let epoch = self.epoch();
        let key = Key::Tokens(&token.component_appid, &token.authorizer_appid);
        if self.settled(world, key) {
            self.tokens.put((world, token.hash.clone()), token, epoch);
        }
    }

    /// Writer: [`View::remember_settled_token`] for the authorisation of (component,
    /// authorizer), or its absence.
    pub fn remember_settled_authorization(
        &self,
        world: WorldKey,
        component: &str,
        authorizer: &str,
        authorization: Option<Authorization>,
    ) {
        let epoch = self.epoch();
        if self.settled(world, Key::Authorization(component, authorizer)) {
            self.authorizations.put(
                (world, pair_key(component, authorizer)),
                Arc::new(authorization),
                epoch,
            );
        }
    }

    /// Writer: [`View::remember_settled_token`] for everything one fastregister check read in
    /// the write transaction, so that the calls after it are decided here. Nothing is stored
    /// unless every key its values live under is settled: one value read while its key is
    /// pending would be this batch's uncommitted state.
    pub fn remember_settled_context(
        &self,
        world: WorldKey,
        ctx: &FastRegisterContext,
        month: &str,
    ) {
        let Some(token) = &ctx.token else {
            return;
        };
        let epoch = self.epoch();
        let (component, authorizer) = (&token.component_appid, &token.authorizer_appid);
        let ticket = ctx.ticket.as_ref().map(|t| Key::Ticket(&t.ticket));
        let entity = ctx
            .official_account
            .as_ref()
            .map(|oa| Key::Entity(oa.entity_id));
        let settled = [
            Some(Key::Tokens(component, authorizer)),
            Some(Key::Authorization(component, authorizer)),
            Some(Key::Component(component)),
            Some(Key::OfficialAccount(authorizer)),
            entity,
            ticket,
        ]
        .into_iter()
        .flatten()
        .all(|key| self.settled(world, key));
        if settled {
            self.remember_in(world, ctx, month, epoch);
        }
    }

    /// Whether a value of `world` read at `read_at` under `key` is current, and as of `as_of`.
    fn fresh(&self, world: WorldKey, key: Key<'_>, read_at: u64, as_of: u64) -> bool {
        let limit = read_at.min(as_of);
        self.slots[slot_of(&self.hasher, world, key)].load(Ordering::SeqCst) <= limit
            && self.slots[self.all_slot].load(Ordering::SeqCst) <= limit
    }

    /// Reader: stores what one fastregister check read from a snapshot that began after
    /// `epoch` was published. `month` is the Asia/Shanghai month the successes were counted
    /// in. The token is stored under the hash its record carries (the one it was looked up by).
    pub fn remember(&self, ctx: &FastRegisterContext, month: &str, epoch: u64) {
        self.remember_in(DEFAULT_WORLD, ctx, month, epoch);
    }

    /// [`View::remember`], for what a check of `world` read.
    pub fn remember_in(&self, world: WorldKey, ctx: &FastRegisterContext, month: &str, epoch: u64) {
        let Some(token) = &ctx.token else {
            return;
        };
        self.tokens
            .put((world, token.hash.clone()), token.clone(), epoch);
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
        self.oas.put(
            (world, token.authorizer_appid.clone()),
            Arc::new(read),
            epoch,
        );
        if let Some(t) = &ctx.ticket {
            let read = TicketRead {
                ticket: t.clone(),
                registration: ctx.ticket_registration.clone(),
            };
            self.tickets
                .put((world, t.ticket.clone()), Arc::new(read), epoch);
        }
    }

    /// A lookup of the default world's values current as of the epoch published now.
    pub fn lookup(&self) -> Lookup<'_> {
        self.lookup_in(DEFAULT_WORLD)
    }

    /// A lookup of `world`'s values current as of the epoch published now.
    pub fn lookup_in(&self, world: WorldKey) -> Lookup<'_> {
        self.lookup_in_as_of(world, self.epoch())
    }

    /// A lookup of the default world's values unchanged since `epoch`.
    pub fn lookup_as_of(&self, epoch: u64) -> Lookup<'_> {
        self.lookup_in_as_of(DEFAULT_WORLD, epoch)
    }

    /// A lookup of `world`'s values unchanged since `epoch`: for a reader whose snapshot
    /// began after `epoch` was published, exactly the values its snapshot holds.
    pub fn lookup_in_as_of(&self, world: WorldKey, epoch: u64) -> Lookup<'_> {
        Lookup {
            view: self,
            world,
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
    world: WorldKey,
    as_of: u64,
    oa: Fetched<OaRead>,
    ticket: Fetched<TicketRead>,
}

/// The entry under `key` of `world`, from `memo` when it holds that key's, else from `map`.
fn fetch<T>(
    memo: &Fetched<T>,
    map: &Map<WorldKeyed, Arc<T>>,
    world: WorldKey,
    key: &str,
) -> Option<(Arc<T>, u64)> {
    let mut memo = memo.borrow_mut();
    if let Some((k, found)) = &*memo {
        if k == key {
            return found.clone();
        }
    }
    let found = map.get(&At(world, key));
    *memo = Some((key.to_string(), found.clone()));
    found
}

impl Lookup<'_> {
    fn fresh<V>(&self, key: Key<'_>, found: Option<(V, u64)>) -> Option<V> {
        let (v, read_at) = found?;
        self.view
            .fresh(self.world, key, read_at, self.as_of)
            .then_some(v)
    }

    fn oa(&self, appid: &str) -> Option<(Arc<OaRead>, u64)> {
        fetch(&self.oa, &self.view.oas, self.world, appid)
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
        fetch(&self.ticket, &self.view.tickets, self.world, ticket)
    }

    /// A token by hash.
    pub fn token(&self, hash: &str) -> Option<Arc<TokenRecord>> {
        let (t, read_at) = self.view.tokens.get(&At(self.world, hash))?;
        let key = Key::Tokens(&t.component_appid, &t.authorizer_appid);
        self.view
            .fresh(self.world, key, read_at, self.as_of)
            .then_some(t)
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

    /// The authorisation of (component, authorizer), or its absence, from what a check of the
    /// OA read or else what the writer remembered.
    pub fn any_authorization(
        &self,
        component: &str,
        authorizer: &str,
    ) -> Option<Option<Authorization>> {
        if let Some(found) = self.authorization(component, authorizer) {
            return Some(found.map(|a| (*a).clone()));
        }
        let found = self
            .view
            .authorizations
            .get(&At(self.world, &pair_key(component, authorizer)));
        self.fresh(Key::Authorization(component, authorizer), found)
            .map(|a| (*a).clone())
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
mod tests;
