//! What every request handler and background job shares: [`AppState`] (the store, the clock,
//! the settings as started and as changed at run time), and the injected [`Faults`] the
//! envelope applies.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

use crate::clock::Clock;
use crate::settings::{RuntimeConfig, Settings};
use crate::store::Store;

/// What handlers share.
pub struct AppState {
    /// Storage.
    pub store: Store,
    /// The sandbox clock.
    pub clock: Clock,
    /// Settings as started.
    pub settings: Settings,
    /// Settings the sandbox API may change while running. Read by every call, changed
    /// rarely: reading it writes no memory that other cores' calls also write.
    pub runtime: arc_swap::ArcSwap<RuntimeConfig>,
    /// Serialises changes to `runtime` (read, merge, store).
    pub runtime_change: Mutex<()>,
    /// The sandbox API's bearer token.
    pub admin_token: String,
    /// Injected faults.
    pub faults: Faults,
    /// Serialises clock advances so offsets add up.
    pub clock_lock: tokio::sync::Mutex<()>,
    /// Wakes the push deliverer when pushes were recorded.
    pub push_wake: tokio::sync::Notify,
    /// Keys the pages' form tokens and the console session (persisted, so forms survive a
    /// restart and several instances on one database agree).
    pub page_secret: Vec<u8>,
    /// Set when shutdown begins: `/readyz` answers 503 from then on.
    pub stopping: AtomicBool,
}

impl AppState {
    /// The current runtime config (a short-lived guard: copy out what outlives the moment).
    pub fn runtime(&self) -> arc_swap::Guard<Arc<RuntimeConfig>> {
        self.runtime.load()
    }
}

/// The injected faults. Every call asks whether one is armed for it: the answer is read from an
/// atomic count, so that the (usual) answer "none" takes no lock.
#[derive(Debug, Default)]
pub struct Faults {
    armed: std::sync::atomic::AtomicUsize,
    list: Mutex<Vec<Fault>>,
}

impl Faults {
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
