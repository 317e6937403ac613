//! What every request handler and background job shares: [`AppState`] (the store, the
//! settings as started, the [`Worlds`]), and the injected [`Faults`] the envelope applies.
//! Each [`World`] holds its own clock, faults and settings (`worlds.rs`).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use crate::settings::Settings;
use crate::store::Store;

mod worlds;

pub use worlds::{server_runtime, World, Worlds, CLOCK_KEY, CONFIG_KEY, FAULTS_KEY};

/// What handlers share.
pub struct AppState {
    /// Storage, unscoped (the default world's; work across worlds starts here).
    pub store: Store,
    /// Settings as started.
    pub settings: Settings,
    /// Every world this instance knows, the default one included.
    pub worlds: Worlds,
    /// The server's sandbox API bearer token (every world's API; creates worlds).
    pub admin_token: String,
    /// When the tick last read every world's verify tickets from the database.
    pub ticket_scan: TicketScan,
    /// Wakes the push deliverer when pushes were recorded.
    pub push_wake: tokio::sync::Notify,
    /// Keys the pages' form tokens and the console session (persisted, so forms survive a
    /// restart and several instances on one database agree).
    pub page_secret: Vec<u8>,
    /// Set when shutdown begins: `/readyz` answers 503 from then on.
    pub stopping: AtomicBool,
}

/// A world's injected faults. Every call asks whether one is armed for it: the answer is read
/// from an atomic count, so that the (usual) answer "none" takes no lock.
#[derive(Debug, Default)]
pub struct Faults {
    armed: std::sync::atomic::AtomicUsize,
    list: Mutex<Vec<Fault>>,
}

impl Faults {
    /// Faults armed with `list`.
    pub fn with(list: Vec<Fault>) -> Faults {
        let faults = Faults::default();
        faults.replace(list);
        faults
    }

    /// Replaces every fault (with what the store holds).
    pub fn replace(&self, list: Vec<Fault>) {
        let mut current = self.list.lock().expect("faults lock");
        *current = list;
        self.armed.store(current.len(), Ordering::Release);
    }

    /// Whether any fault is armed.
    pub fn any(&self) -> bool {
        self.armed.load(Ordering::Acquire) > 0
    }

    /// Arms a fault.
    pub fn add(&self, fault: Fault) {
        let mut list = self.list.lock().expect("faults lock");
        list.push(fault);
        self.armed.store(list.len(), Ordering::Release);
    }

    /// The faults still armed.
    pub fn list(&self) -> Vec<Fault> {
        self.list.lock().expect("faults lock").clone()
    }

    /// Disarms every fault.
    pub fn clear(&self) {
        let mut list = self.list.lock().expect("faults lock");
        list.clear();
        self.armed.store(0, Ordering::Release);
    }

    /// Takes one use of a fault armed for `path` at `when`, if any.
    pub fn take(&self, path: &str, when: FaultWhen) -> Option<i64> {
        if !self.any() {
            return None;
        }
        let mut faults = self.list.lock().expect("faults lock");
        let i = faults
            .iter()
            .position(|f| f.path == path && f.when == when && f.remaining > 0)?;
        faults[i].remaining -= 1;
        let code = faults[i].errcode;
        if faults[i].remaining == 0 {
            faults.remove(i);
        }
        self.armed.store(faults.len(), Ordering::Release);
        Some(code)
    }
}

/// When an injected fault strikes.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum FaultWhen {
    /// Instead of the call: nothing happens, the errcode is answered.
    #[default]
    Before,
    /// After the call did its work (committed): the errcode replaces the real answer. This is
    /// WeChat's "-1 system error, yet the Mini Program was created".
    After,
}

/// An injected fault: the next `remaining` calls to `path` answer `errcode`.
///
/// On the wire the code is `inject_errcode`: a success body must not carry a field named
/// `errcode`, which generic clients read as WeChat's refusal.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Fault {
    /// The endpoint path, e.g. `/cgi-bin/account/fastregister`.
    pub path: String,
    /// The errcode to answer.
    #[serde(rename = "inject_errcode", alias = "errcode")]
    pub errcode: i64,
    /// How many more calls it applies to.
    pub remaining: u32,
    /// Before or after the call's own work.
    pub when: FaultWhen,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("store", &self.store)
            .field("worlds", &self.worlds)
            .finish_non_exhaustive()
    }
}

/// When the once-a-second tick last read every world's verify tickets from the database
/// (between two such reads it looks at each world's remembered due time instead).
#[derive(Debug, Default)]
pub struct TicketScan(Mutex<Option<std::time::Instant>>);

impl TicketScan {
    /// How often every world's verify tickets are read.
    pub const EVERY: std::time::Duration = std::time::Duration::from_secs(30);

    /// Whether a read of every world is due now (and, if so, records it as done).
    pub fn should_run(&self) -> bool {
        let Ok(mut last) = self.0.lock() else {
            return true;
        };
        if last.is_some_and(|t| t.elapsed() < Self::EVERY) {
            return false;
        }
        *last = Some(std::time::Instant::now());
        true
    }
}
