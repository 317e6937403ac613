//! An in-process store: for one instance, tests and examples. Everything is lost when the
//! process ends, so never keep production refresh tokens only here.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_trait::async_trait;

use super::{new_lease, StoreError, Stored, TokenStore};

/// An in-process [`TokenStore`].
///
/// # Examples
/// ```no_run
/// let store = fastreg_client::store::MemoryStore::new();
/// ```
#[derive(Default)]
pub struct MemoryStore {
    entries: Mutex<HashMap<String, Stored>>,
    locks: Mutex<HashMap<String, (String, Instant)>>,
}

/// The entries are credentials: `Debug` counts them and shows none.
impl std::fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let entries = self.entries.lock().map(|e| e.len()).unwrap_or(0);
        f.debug_struct("MemoryStore")
            .field("entries", &entries)
            .finish_non_exhaustive()
    }
}

impl MemoryStore {
    /// An empty store.
    ///
    /// # Examples
    /// ```no_run
    /// let store = std::sync::Arc::new(fastreg_client::store::MemoryStore::new());
    /// ```
    pub fn new() -> Self {
        Self::default()
    }
}

#[async_trait]
impl TokenStore for MemoryStore {
    async fn get(&self, key: &str) -> Result<Option<Stored>, StoreError> {
        Ok(self.entries.lock().expect("store lock").get(key).cloned())
    }

    async fn put(&self, key: &str, value: Stored) -> Result<(), StoreError> {
        self.entries
            .lock()
            .expect("store lock")
            .insert(key.to_string(), value);
        Ok(())
    }

    async fn delete_if(&self, key: &str, expected: &str) -> Result<bool, StoreError> {
        let mut entries = self.entries.lock().expect("store lock");
        if entries.get(key).is_some_and(|s| s.value == expected) {
            entries.remove(key);
            return Ok(true);
        }
        Ok(false)
    }

    async fn try_lock(&self, key: &str, ttl: Duration) -> Result<Option<String>, StoreError> {
        let mut locks = self.locks.lock().expect("store lock");
        let now = Instant::now();
        if locks.get(key).is_some_and(|(_, until)| *until > now) {
            return Ok(None);
        }
        let lease = new_lease();
        locks.insert(key.to_string(), (lease.clone(), now + ttl));
        Ok(Some(lease))
    }

    async fn unlock(&self, key: &str, lease: &str) -> Result<(), StoreError> {
        let mut locks = self.locks.lock().expect("store lock");
        if locks.get(key).is_some_and(|(l, _)| l == lease) {
            locks.remove(key);
        }
        Ok(())
    }

    fn backend(&self) -> &'static str {
        "memory"
    }
}
