//! Node-local state beside the log (watch lists, matches, webhooks and their queue):
//! a key-value tree in the same database, so that one backup holds both, but never
//! part of the log, never replicated, never checked as the log is. Each call finds
//! the tree in the database open now, so a store reopened after a full disk serves
//! it again.

use super::{Store, StoreError};

/// One change of an atomic batch.
#[derive(Debug, Clone)]
pub enum Change {
    Put(Vec<u8>, Vec<u8>),
    Delete(Vec<u8>),
}

/// A key and its value.
pub type Row = (Vec<u8>, Vec<u8>);

/// A named tree of node-local state.
#[derive(Debug, Clone)]
pub struct LocalState {
    store: Store,
    name: &'static str,
}

impl LocalState {
    pub fn new(store: Store, name: &'static str) -> LocalState {
        LocalState { store, name }
    }

    fn tree(&self) -> Result<super::index::Tree, StoreError> {
        self.store.db()?.open_tree(self.name)
    }

    pub fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.tree()?.get(key)?.map(|v| v.to_vec()))
    }

    pub fn contains(&self, key: &[u8]) -> Result<bool, StoreError> {
        self.tree()?.contains_key(key)
    }

    pub fn put(&self, key: &[u8], value: &[u8]) -> Result<(), StoreError> {
        self.tree()?.insert(key, value)?;
        Ok(())
    }

    pub fn delete(&self, key: &[u8]) -> Result<(), StoreError> {
        self.tree()?.remove(key)?;
        Ok(())
    }

    /// Applies every change or none.
    pub fn apply(&self, changes: Vec<Change>) -> Result<(), StoreError> {
        let mut batch = super::index::Batch::default();
        for change in changes {
            match change {
                Change::Put(key, value) => batch.insert(key, value),
                Change::Delete(key) => batch.remove(key),
            }
        }
        self.tree()?.apply_batch(batch)?;
        Ok(())
    }

    /// Rows under `prefix` in key order (`reverse`: from the last), at most `limit`.
    pub fn scan(&self, prefix: &[u8], reverse: bool, limit: usize) -> Result<Vec<Row>, StoreError> {
        let tree = self.tree()?;
        let rows = tree.scan_prefix(prefix);
        let rows: Box<dyn Iterator<Item = super::index::Row>> = if reverse {
            Box::new(rows.rev())
        } else {
            Box::new(rows)
        };
        rows.take(limit)
            .map(|row| {
                let (k, v) = row?;
                Ok((k.to_vec(), v.to_vec()))
            })
            .collect()
    }

    pub fn count(&self, prefix: &[u8]) -> Result<usize, StoreError> {
        Ok(self.tree()?.scan_prefix(prefix).count())
    }

    /// Adds one to the counter at `key` and returns the new value.
    pub fn next_number(&self, key: &[u8]) -> Result<u64, StoreError> {
        // Read and write under one lock: two callers never get the same number.
        static COUNTERS: std::sync::Mutex<()> = std::sync::Mutex::new(());
        let _counting = COUNTERS.lock().unwrap_or_else(|e| e.into_inner());
        let tree = self.tree()?;
        let current = tree
            .get(key)?
            .and_then(|b| b.as_ref().try_into().ok())
            .map_or(0, u64::from_be_bytes);
        let next = current + 1;
        tree.insert(key, next.to_be_bytes())?;
        Ok(next)
    }
}
