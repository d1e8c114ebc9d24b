//! Connector-scoped durable state, as a connector sees it during a call:
//! committed values from the store plus this call's own buffered writes.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

/// Reads committed state for one connector.
pub trait StateRead: Send + Sync {
    /// The committed value of a key.
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, String>;
}

/// The writes of one successful call, to be committed with its results:
/// `None` deletes the key.
pub type StateWrites = BTreeMap<String, Option<Vec<u8>>>;

/// State kept in memory; for tests and for connectors that need no durability.
#[derive(Debug, Clone, Default)]
pub struct MemoryState {
    values: Arc<Mutex<BTreeMap<String, Vec<u8>>>>,
}

impl MemoryState {
    /// Commits a call's writes.
    pub fn commit(&self, writes: &StateWrites) {
        let mut values = self.values.lock().unwrap_or_else(PoisonError::into_inner);
        for (key, value) in writes {
            match value {
                Some(v) => values.insert(key.clone(), v.clone()),
                None => values.remove(key),
            };
        }
    }

    /// A snapshot of every committed value.
    pub fn snapshot(&self) -> BTreeMap<String, Vec<u8>> {
        self.values
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl StateRead for MemoryState {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, String> {
        Ok(self
            .values
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(key)
            .cloned())
    }
}
