//! The index database beside the segment files: small rows (positions, query
//! indexes, node-local state) in fjall, an LSM tree.
//!
//! An LSM tree suits an index that only grows: a row costs about its own bytes on
//! disk (sorted, block-compressed tables), a write is an append to a journal, and an
//! open replays at most the journal not yet flushed to tables (bounded by
//! [`MAX_JOURNAL_BYTES`]), however long the node ran before. sled, which this store
//! used before, took 1,200 to 1,900 bytes on disk per entry for about 250 bytes of rows
//! and replayed its whole log at the first open after a long run (BENCHMARKS.md).
//!
//! Every write reaches the operating system when it is committed, so a killed process
//! loses nothing; a commit that must survive a power loss syncs the journal itself
//! ([`Db::flush`]), and the node's store probe syncs it every few seconds. (fjall's own
//! background fsync thread is off: it sleeps a second at a time, and closing the
//! database waits for it.)
//!
//! The methods keep the shape the store was written against (`get`, `insert`,
//! `scan_prefix`, `range`, `apply_batch`, `flush`), so that the store's code reads
//! the same whatever holds its rows. A batch is atomic, also across a crash.

use std::fs::File;
use std::ops::RangeBounds;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use fjall::{PartitionCreateOptions, PartitionHandle, PersistMode};

use super::StoreError;

/// A key or value read from the index.
pub type Bytes = fjall::Slice;
/// One row of a scan.
pub type Row = Result<(Bytes, Bytes), fjall::Error>;

/// The journal the index keeps before its rows are flushed into tables: what an open
/// replays at most.
pub const MAX_JOURNAL_BYTES: u64 = 32 << 20;
/// Memory for rows not yet flushed into tables.
const MAX_WRITE_BUFFER_BYTES: u64 = 16 << 20;
/// File descriptors the index keeps open for its tables (the process has 1024 on
/// many systems, and the network wants its share).
const MAX_OPEN_FILES: usize = 256;
/// The size of the tables compaction writes. A table being written keeps a hash of
/// every key for its bloom filter, 16 bytes each, and our rows are small: at fjall's
/// default (64 MiB) one table of a million-entry index took 67 MiB of those hashes
/// during a catch-up (measured with heaptrack); at 16 MiB a quarter of that.
const TABLE_TARGET_BYTES: u32 = 16 << 20;
/// The store's rows; node-local state lives in partitions of its own name.
const MAIN: &str = "index";
/// The directory of the index inside the store.
pub const DIRECTORY: &str = "index";
/// The lock file that keeps a second process (or a second open in this one) out.
const LOCK_FILE: &str = "lock";

/// An open index. Clones share it; the directory lock is released when the last
/// clone is dropped, after fjall has stopped its threads.
#[derive(Clone)]
pub struct Db {
    main: Tree,
    shared: Arc<Shared>,
}

struct Shared {
    keyspace: fjall::Keyspace,
    /// The first write failure: fjall refuses every write after one ("poisoned") and
    /// only this says why.
    first_failure: std::sync::Mutex<Option<String>>,
    path: PathBuf,
    // Declared last: dropped after the keyspace.
    _lock: File,
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db").finish_non_exhaustive()
    }
}

/// Why an open failed.
#[derive(Debug)]
pub enum OpenError {
    /// Another handle (another process, or another open in this one) holds the lock.
    InUse,
    Failed(String),
}

impl Db {
    /// Opens (or creates) the index in `store/index`.
    pub fn open(store: &Path, cache_bytes: u64) -> Result<Db, OpenError> {
        Db::open_dir(&store.join(DIRECTORY), cache_bytes)
    }

    /// Opens (or creates) an index in the directory `path`.
    pub fn open_dir(path: &Path, cache_bytes: u64) -> Result<Db, OpenError> {
        let path = path.to_path_buf();
        crate::files::create_private_dir(&path).map_err(|e| OpenError::Failed(e.to_string()))?;
        let lock = lock(&path.join(LOCK_FILE))?;
        let keyspace = fjall::Config::new(path.join("data"))
            .cache_size(cache_bytes)
            .max_journaling_size(MAX_JOURNAL_BYTES)
            .max_write_buffer_size(MAX_WRITE_BUFFER_BYTES)
            .max_open_files(MAX_OPEN_FILES)
            .open()
            .map_err(|e| OpenError::Failed(describe(&e)))?;
        let shared = Arc::new(Shared {
            keyspace,
            first_failure: std::sync::Mutex::new(None),
            path: path.clone(),
            _lock: lock,
        });
        let main = Tree::open(&shared, MAIN).map_err(|e| OpenError::Failed(e.to_string()))?;
        Ok(Db { main, shared })
    }

    /// The node-local tree `name` (created when first asked for).
    pub fn open_tree(&self, name: &str) -> Result<Tree, StoreError> {
        Tree::open(&self.shared, name)
    }

    /// The names of the node-local trees.
    pub fn tree_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .shared
            .keyspace
            .list_partitions()
            .iter()
            .map(|name| name.to_string())
            .filter(|name| name != MAIN)
            .collect();
        names.sort();
        names
    }

    /// Makes every committed row durable (fdatasync of the journal).
    pub fn flush(&self) -> Result<(), StoreError> {
        self.shared
            .keyspace
            .persist(PersistMode::SyncData)
            .map_err(|e| self.shared.failed(e))
    }

    /// Bytes the index takes on disk (tables and journals), as allocated: fjall
    /// preallocates its journal as a sparse file, whose length says nothing.
    pub fn size_on_disk(&self) -> Result<u64, StoreError> {
        crate::files::allocated_bytes(&self.shared.path).map_err(|e| StoreError::Io(e.to_string()))
    }
}

impl std::ops::Deref for Db {
    type Target = Tree;
    fn deref(&self) -> &Tree {
        &self.main
    }
}

/// One ordered key space.
#[derive(Clone)]
pub struct Tree {
    partition: PartitionHandle,
    shared: Arc<Shared>,
}

/// How a tree is created (fjall keeps these with the tree: they apply to trees
/// created from now on).
fn table_options() -> PartitionCreateOptions {
    let leveled = fjall::compaction::Leveled {
        target_size: TABLE_TARGET_BYTES,
        ..Default::default()
    };
    PartitionCreateOptions::default()
        .compaction_strategy(fjall::compaction::Strategy::Leveled(leveled))
}

impl Tree {
    fn open(shared: &Arc<Shared>, name: &str) -> Result<Tree, StoreError> {
        let valid = !name.is_empty()
            && name.len() < 256
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if !valid {
            return Err(StoreError::Corrupt {
                what: format!("{name:?} is not a name for an index tree"),
            });
        }
        let partition = shared.keyspace.open_partition(name, table_options())?;
        Ok(Tree {
            partition,
            shared: shared.clone(),
        })
    }

    pub fn get(&self, key: impl AsRef<[u8]>) -> Result<Option<Bytes>, StoreError> {
        self.partition.get(key).map_err(|e| self.shared.failed(e))
    }

    pub fn contains_key(&self, key: impl AsRef<[u8]>) -> Result<bool, StoreError> {
        self.partition
            .contains_key(key)
            .map_err(|e| self.shared.failed(e))
    }

    pub fn insert(&self, key: impl AsRef<[u8]>, value: impl AsRef<[u8]>) -> Result<(), StoreError> {
        self.partition
            .insert(key.as_ref(), value.as_ref())
            .map_err(|e| self.shared.failed(e))
    }

    pub fn remove(&self, key: impl AsRef<[u8]>) -> Result<(), StoreError> {
        self.partition
            .remove(key.as_ref())
            .map_err(|e| self.shared.failed(e))
    }

    pub fn is_empty(&self) -> Result<bool, StoreError> {
        self.partition.is_empty().map_err(|e| self.shared.failed(e))
    }

    /// Rows whose key starts with `prefix`, in key order (reversible).
    pub fn scan_prefix(
        &self,
        prefix: impl AsRef<[u8]>,
    ) -> impl DoubleEndedIterator<Item = Row> + 'static {
        self.partition.prefix(prefix.as_ref().to_vec())
    }

    /// Rows in `range`, in key order (reversible).
    pub fn range<K: AsRef<[u8]> + 'static, R: RangeBounds<K> + 'static>(
        &self,
        range: R,
    ) -> impl DoubleEndedIterator<Item = Row> + 'static {
        self.partition.range(range)
    }

    /// Applies every change of `batch` or none.
    pub fn apply_batch(&self, batch: Batch) -> Result<(), StoreError> {
        if batch.changes.is_empty() {
            return Ok(());
        }
        // fjall leaves a batch in its journal's buffer unless told: hand it to the
        // operating system, so that a killed process loses no committed row.
        let mut writes = self
            .shared
            .keyspace
            .batch()
            .durability(Some(PersistMode::Buffer));
        for (key, value) in batch.changes {
            match value {
                Some(value) => writes.insert(&self.partition, key, value),
                None => writes.remove(&self.partition, key),
            }
        }
        writes.commit().map_err(|e| self.shared.failed(e))
    }
}

/// Changes applied together by [`Tree::apply_batch`].
#[derive(Debug, Default)]
pub struct Batch {
    changes: Vec<(Vec<u8>, Option<Vec<u8>>)>,
}

impl Batch {
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }

    pub fn insert(&mut self, key: impl AsRef<[u8]>, value: impl AsRef<[u8]>) {
        self.changes
            .push((key.as_ref().to_vec(), Some(value.as_ref().to_vec())));
    }

    pub fn remove(&mut self, key: impl AsRef<[u8]>) {
        self.changes.push((key.as_ref().to_vec(), None));
    }
}

impl Shared {
    /// The store's error for a failure of the index, naming the first write failure
    /// once fjall refuses writes because of it.
    fn failed(&self, error: fjall::Error) -> StoreError {
        let mut first = self.first_failure.lock().unwrap_or_else(|e| e.into_inner());
        match error {
            fjall::Error::Poisoned => {
                // fjall logs the cause and returns only "poisoned": look for it.
                let cause = first.get_or_insert_with(|| self.space_left());
                StoreError::Io(format!(
                    "the index takes no writes until the store is reopened, since a write failed: {cause}"
                ))
            }
            other => {
                let text = describe(&other);
                first.get_or_insert_with(|| text.clone());
                StoreError::Io(text)
            }
        }
    }
}

impl Shared {
    /// The likely cause of a failed write: a full file system, or unknown.
    fn space_left(&self) -> String {
        let path = &self.path;
        match rustix::fs::statvfs(path) {
            Ok(stats) if stats.f_bavail.saturating_mul(stats.f_frsize) < FULL_BELOW_BYTES => {
                format!(
                    "no space left on the file system of {} ({} bytes free)",
                    path.display(),
                    stats.f_bavail.saturating_mul(stats.f_frsize)
                )
            }
            _ => "the cause is in the node's log (fjall)".into(),
        }
    }
}

/// Below this much free space, a failed write is put down to a full disk.
const FULL_BELOW_BYTES: u64 = 1 << 20;

/// Takes the directory's lock without waiting.
fn lock(path: &PathBuf) -> Result<File, OpenError> {
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .map_err(|e| OpenError::Failed(format!("{}: {e}", path.display())))?;
    match rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => Ok(file),
        Err(rustix::io::Errno::WOULDBLOCK) => Err(OpenError::InUse),
        Err(e) => Err(OpenError::Failed(format!(
            "cannot lock {}: {e}",
            path.display()
        ))),
    }
}

/// fjall's errors print as their Debug form; say what happened in words where we can.
pub fn describe(error: &fjall::Error) -> String {
    match error {
        fjall::Error::Io(e) => e.to_string(),
        fjall::Error::Poisoned => {
            "an earlier write to the index failed (disk full?), so it takes no more writes until it is reopened".into()
        }
        other => format!("{other:?}"),
    }
}
