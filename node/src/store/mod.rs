//! The replicated log on disk: every member's entries in append-only segment files,
//! and in the index database (`index.rs`) their positions, chains, fork proofs and the
//! query indexes. The only module that knows the database.
//!
//! Architecture Invariant: an entry's index rows are written in one atomic batch
//! after its frame is durable in a segment; readers never see an entry without its
//! indexes or the reverse, and the index never names a frame that is not on disk.
//! Architecture Invariant: a write is acknowledged only once it is durable, and the
//! node's own entries are durable before any reader (a syncing peer) can see them.
//! Architecture Invariant: what is read back is checked against its id before use.

mod check;
mod control;
mod index;
mod layout;
mod local;
mod migrate;
mod query;
mod sealed;
mod segments;

use std::collections::HashMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock, Weak};

use customs_protocol::chain::{self, ChainView, ChainWriter, PendingBuffer};
use customs_protocol::governance::GovernanceEvent;
use customs_protocol::wire::{Frontier, Head};
use customs_protocol::VerifiedEntry;
use customs_protocol::{
    Attachment, BlobHash, Body, Entry, EntryError, EntryId, Markings, PublicKey, SecretKey,
    SignedEntry,
};
use thiserror::Error;
use tokio::sync::{oneshot, watch};

pub use check::CheckReport;
pub use control::{responses_of, AnswerItem, Arrival, RequestItem, MAX_ANSWERS};
pub use customs_protocol::chain::Outcome;
pub use layout::Counts;
pub use local::{Change, LocalState};
pub use query::{
    AeoAtIssuer, AlertCursor, AlertFilter, AlertItem, AlertPage, MAX_ALERT_PAGE,
    MAX_ALERT_SCAN_ROWS,
};
pub use sealed::Readable;

use crate::limits::{
    IDEMPOTENCY_RETENTION_MS, LOCK_RETRY_PAUSE, MAX_IDEMPOTENCY_EXPIRED_PER_PUBLISH,
    OPEN_LOCK_WAIT, RECOVER_LOCK_WAIT,
};
use control::{ANSWER_ACK, ANSWER_RELATED, ANSWER_RESULT};
use index::{Batch, Db};
use layout::*;
use segments::{io_error, Position, Segments};

/// Store settings. `StoreConfig::new` gives the documented defaults.
#[derive(Debug, Clone)]
pub struct StoreConfig {
    /// Directory of the store: the index in `index/`, the segment files in `segments/`.
    pub path: PathBuf,
    /// The network id; a store belongs to exactly one network.
    pub network: String,
    /// The index's block cache, in bytes. Default 64 MiB.
    pub cache_capacity_bytes: u64,
    /// Entries held in memory while they wait for a gap in their author's chain to
    /// fill. Default 4096.
    pub max_pending_entries: usize,
    /// Bytes of such entries. Default 8 MiB.
    pub max_pending_bytes: usize,
    /// The attachment blobs beside the segments (`blobs/`).
    pub blobs: crate::blobs::BlobLimits,
    /// How long the API waits for a blob fetched from members. Default 10 s.
    pub blob_fetch_timeout_ms: u64,
    /// Attachments fetched as their record arrives. Default: none.
    pub prefetch: crate::blobs::prefetch::PrefetchPolicy,
    /// Group keys restricted records are opened with, at most. Default 1024.
    pub max_group_keys: usize,
    /// X25519 operations one author's sealed entries may cost this node per hour;
    /// beyond, they wait unopened. Default 65,536.
    pub decrypt_trials_per_author_per_hour: u64,
}

impl StoreConfig {
    pub fn new(path: impl Into<PathBuf>, network: impl Into<String>) -> Self {
        StoreConfig {
            path: path.into(),
            network: network.into(),
            cache_capacity_bytes: 64 * 1024 * 1024,
            blobs: crate::blobs::BlobLimits::default(),
            blob_fetch_timeout_ms: 10_000,
            prefetch: Default::default(),
            max_pending_entries: 4096,
            max_pending_bytes: 8 * 1024 * 1024,
            max_group_keys: 1024,
            decrypt_trials_per_author_per_hour: 65_536,
        }
    }
}

#[derive(Debug, Error)]
pub enum StoreError {
    #[error("cannot open the store at {path}: {reason}. If the store is damaged, move the directory aside and start the node again: it resyncs from its peers")]
    Open { path: PathBuf, reason: String },
    #[error(
        "the store at {path} is in use by another process: is the node running? Stop it first"
    )]
    InUse { path: PathBuf },
    #[error("the store at {path} belongs to network {found:?}, not {expected:?}")]
    OtherNetwork {
        path: PathBuf,
        expected: String,
        found: String,
    },
    #[error("store is corrupt: {what}. Move the store directory aside and restart the node to resync from its peers")]
    Corrupt { what: String },
    #[error("entry {id} belongs to network {found:?}, not {expected:?}")]
    WrongNetwork {
        id: EntryId,
        expected: String,
        found: String,
    },
    #[error("cannot retract {target}: {reason}")]
    RetractionTarget {
        target: EntryId,
        reason: RetractionRefusal,
    },
    #[error("refusing to sign: {0}")]
    Invalid(#[from] EntryError),
    #[error("this Idempotency-Key was used for another request (entry {entry}): use a new key for a new publish")]
    IdempotencyKeyReused { entry: EntryId },
    #[error("cannot seal the record: {0}")]
    Seal(#[from] customs_protocol::envelope::SealError),
    #[error("no random numbers from the operating system: {0}")]
    Randomness(String),
    #[error("store I/O error (disk full or unreadable?): {0}")]
    Io(String),
    #[error("the store is being reopened after a write failed; try again in a moment")]
    Recovering,
}

impl From<fjall::Error> for StoreError {
    fn from(error: fjall::Error) -> StoreError {
        StoreError::Io(index::describe(&error))
    }
}

/// The v2 store being upgraded is a sled database.
impl From<sled::Error> for StoreError {
    fn from(error: sled::Error) -> StoreError {
        StoreError::Io(error.to_string())
    }
}

impl StoreError {
    /// The same failure, for every publish of a batch that failed together.
    fn duplicate(&self) -> StoreError {
        match self {
            StoreError::Io(error) => StoreError::Io(error.clone()),
            StoreError::Recovering => StoreError::Recovering,
            other => StoreError::Corrupt {
                what: other.to_string(),
            },
        }
    }
}

/// Whether the store can write, as its last write or probe found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Health {
    /// Why the last write failed, while the store cannot write.
    pub writable_error: Option<String>,
    /// Times the database was reopened after a failure.
    pub recoveries: u64,
    /// Syncs of the segment files (one per committed batch of entries).
    pub log_syncs: u64,
    /// Batches of own entries committed together, and the entries in them.
    pub publish_batches: u64,
    pub published: u64,
    /// How long each commit took to write and sync its frames: the wait every
    /// publish and every stored batch of others' entries has for the disk.
    pub log_sync_times: SyncTimes,
}

/// Upper bounds of [`SyncTimes`]' buckets, in microseconds: fine below a few
/// milliseconds, where a healthy disk's syncs fall, coarse above.
pub const SYNC_BUCKETS_US: [u64; 22] = [
    50, 100, 150, 200, 250, 300, 400, 500, 650, 800, 1_000, 1_250, 1_500, 2_000, 3_000, 5_000,
    10_000, 25_000, 50_000, 100_000, 250_000, 1_000_000,
];

/// A histogram of durations (as Prometheus keeps one): how many fell at or under each
/// bound of [`SYNC_BUCKETS_US`] and above the bound before it, how many above the
/// last, and their sum.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncTimes {
    pub counts: [u64; SYNC_BUCKETS_US.len()],
    pub over: u64,
    pub sum_us: u64,
}

impl SyncTimes {
    pub fn record(&mut self, took: std::time::Duration) {
        let us = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        match SYNC_BUCKETS_US.iter().position(|&bound| us <= bound) {
            Some(bucket) => self.counts[bucket] += 1,
            None => self.over += 1,
        }
        self.sum_us = self.sum_us.saturating_add(us);
    }

    pub fn count(&self) -> u64 {
        self.counts.iter().sum::<u64>() + self.over
    }
}

/// A store is created only in a directory that is new or empty: one that holds other
/// files (another database, a mistyped path) is refused before anything is written.
fn refuse_foreign_directory(path: &Path) -> Result<(), StoreError> {
    if path.join(index::DIRECTORY).exists() {
        return Ok(());
    }
    let Ok(listing) = std::fs::read_dir(path) else {
        return Ok(());
    };
    for item in listing.flatten() {
        if item.file_name() != "segments" {
            return Err(StoreError::Open {
                path: path.to_path_buf(),
                reason: format!(
                    "the directory holds {:?} and no customs store: it is not a customs store",
                    item.file_name()
                ),
            });
        }
    }
    Ok(())
}

/// Opens the index of `config`, telling a store in use from a damaged one; waits up
/// to `lock_wait` for the index's lock (a handle being dropped may hold it a moment).
fn open_db(config: &StoreConfig, lock_wait: std::time::Duration) -> Result<Db, StoreError> {
    let deadline = std::time::Instant::now() + lock_wait;
    crate::files::create_private_dir(&config.path).map_err(|e| StoreError::Open {
        path: config.path.clone(),
        reason: e.to_string(),
    })?;
    loop {
        // A damaged table file may make the database panic instead of returning an error.
        let opened = catch_unwind(AssertUnwindSafe(|| {
            Db::open(&config.path, config.cache_capacity_bytes)
        }))
        .unwrap_or_else(|panic| {
            Err(index::OpenError::Failed(format!(
                "the index failed: {}",
                panic_text(&panic)
            )))
        });
        match opened {
            Ok(db) => return Ok(db),
            Err(index::OpenError::InUse) if std::time::Instant::now() < deadline => {
                std::thread::sleep(LOCK_RETRY_PAUSE);
            }
            Err(index::OpenError::InUse) => {
                return Err(StoreError::InUse {
                    path: config.path.clone(),
                })
            }
            Err(index::OpenError::Failed(reason)) => {
                return Err(StoreError::Open {
                    path: config.path.clone(),
                    reason,
                })
            }
        }
    }
}

/// A publish's `Idempotency-Key`, scoped to the token that sent it: a retry with the
/// same key and body gets the entry the first request made instead of a second one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey {
    scope: [u8; 32],
}

impl IdempotencyKey {
    pub fn new(token_name: &str, key: &str) -> IdempotencyKey {
        use sha2::Digest as _;
        let mut hash = sha2::Sha256::new();
        hash.update(b"customs-node/idempotency/v1\0");
        hash.update(token_name.as_bytes());
        hash.update([0]);
        hash.update(key.as_bytes());
        IdempotencyKey {
            scope: hash.finalize().into(),
        }
    }
}

/// Publishes signed and stored in one batch at most.
const MAX_PUBLISH_BATCH: usize = 256;

/// What became of one publish of a batch.
enum Staged {
    Signed(VerifiedEntry),
    /// The entry its idempotency key made before.
    Replayed(VerifiedEntry),
}

/// An own entry as `append_own` returns it.
#[derive(Debug, Clone)]
pub struct Appended {
    pub entry: VerifiedEntry,
    /// The entry an earlier request with the same idempotency key made.
    pub replayed: bool,
}

/// Why this node may not retract an entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum RetractionRefusal {
    #[error("no such entry")]
    Unknown,
    #[error("it was published by another member; only the author can retract an entry")]
    OtherAuthor,
    #[error("it is itself a retraction")]
    IsRetraction,
    #[error("it is already retracted")]
    AlreadyRetracted,
}

/// The result of an ingest: one outcome per input (in input order), and every entry
/// that was newly applied, in apply order (entries released from the pending buffer
/// included).
#[derive(Debug, Default)]
pub struct IngestReport {
    pub outcomes: Vec<Outcome>,
    pub applied: Vec<SignedEntry>,
}

impl IngestReport {
    pub fn count(&self, outcome: Outcome) -> usize {
        self.outcomes.iter().filter(|o| **o == outcome).count()
    }
}

/// Two validly signed entries by one author with the same seq.
#[derive(Debug, Clone)]
pub struct ForkProof {
    pub author: PublicKey,
    pub seq: u64,
    /// The entry in the chain.
    pub first: SignedEntry,
    /// The conflicting entry.
    pub second: SignedEntry,
}

/// A page of one author's entries.
#[derive(Debug, Clone, Default)]
pub struct Page {
    pub entries: Vec<SignedEntry>,
    /// Whether the author has entries after this page.
    pub more: bool,
}

/// A page of one author's entries as stored: the signed bytes, in seq order.
#[derive(Debug, Clone, Default)]
pub struct RawPage {
    pub entries: Vec<Vec<u8>>,
    /// Whether the author has entries after this page.
    pub more: bool,
}

/// What the node's next own entry says: an open record with its markings, or a
/// record to seal to the recipients' X25519 keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Draft {
    Open {
        markings: Markings,
        body: Body,
        attachments: Vec<Attachment>,
    },
    Sealed {
        record: customs_protocol::Sealed,
        recipients: Vec<customs_protocol::envelope::Recipient>,
    },
}

impl Draft {
    /// An open record with the default markings (governance entries).
    pub fn open(body: Body) -> Draft {
        Draft::Open {
            markings: Markings::default(),
            body,
            attachments: Vec::new(),
        }
    }

    /// The record's body (inside the envelope for a sealed one).
    pub fn body(&self) -> &Body {
        match self {
            Draft::Open { body, .. } => body,
            Draft::Sealed { record, .. } => &record.body,
        }
    }
}

/// The replicated log. Cheap to clone; all clones share one database.
#[derive(Clone, Debug)]
pub struct Store {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    /// `None` only while [`Store::recover`] reopens it.
    db: RwLock<Option<Db>>,
    config: StoreConfig,
    /// Writers (ingest, own appends) take this lock, so that reading a head and
    /// writing the entry that extends it cannot interleave. Readers never take it.
    writer: Mutex<Writer>,
    counts: Mutex<Counts>,
    health: Mutex<Health>,
    /// Every author's head, kept in memory and published on every commit that moves
    /// one: the network reads it without touching the database.
    frontier: watch::Sender<Arc<Frontier>>,
    /// Bumped by every commit that applies a governance entry: the membership is
    /// computed again from them.
    governance: watch::Sender<u64>,
    /// The keys restricted records are opened with.
    opening: RwLock<sealed::Opening>,
    /// What each author's sealed entries may still cost to open.
    decryption: Mutex<sealed::DecryptionBudget>,
    /// The number the next readable record gets in the arrival index (`N` rows).
    next_arrival: AtomicU64,
    /// The arrival time (Unix µs) of the last arrival row: the next is later.
    last_arrival_us: AtomicU64,
    /// Bumped after every commit that added arrival rows: the notifier wakes up.
    arrivals: watch::Sender<u64>,
    /// The signed entries' bytes.
    segments: Segments,
    /// Where the next frame goes: every frame before it is indexed. Changed only under
    /// the writer lock, by a commit.
    log_end: Mutex<Position>,
    /// Author -> the number log rows name it by (from `K` rows; grows under the writer
    /// lock).
    authors: RwLock<HashMap<PublicKey, u32>>,
    /// Own entries waiting to be signed and stored together (group commit).
    publishes: Mutex<PublishQueue>,
}

#[derive(Debug)]
struct Writer {
    pending: PendingBuffer,
}

/// A publish waiting for the writer: the leading thread signs and stores every
/// waiting one in one batch and answers each.
#[derive(Debug)]
struct PublishJob {
    key: SecretKey,
    draft: Draft,
    now_ms: u64,
    idempotency: Option<IdempotencyKey>,
    reply: oneshot::Sender<Result<Appended, StoreError>>,
}

/// Where a publish's answer comes.
type PublishReceiver = oneshot::Receiver<Result<Appended, StoreError>>;

impl PublishJob {
    /// A job and where its answer will come.
    fn new(
        key: &SecretKey,
        draft: Draft,
        now_ms: u64,
        idempotency: Option<&IdempotencyKey>,
    ) -> (PublishJob, PublishReceiver) {
        let (reply, answer) = oneshot::channel();
        let job = PublishJob {
            key: key.clone(),
            draft,
            now_ms,
            idempotency: idempotency.cloned(),
            reply,
        };
        (job, answer)
    }
}

/// The publishes waiting for the writer, and whether a thread is leading (taking
/// batches until none waits). One leader at a time; the others only wait for their
/// answer, so a burst of publishes costs one thread and no lock contention.
#[derive(Debug, Default)]
struct PublishQueue {
    jobs: Vec<PublishJob>,
    leading: bool,
}

/// A publish's answer, sent once its batch is settled.
type PublishAnswer = (
    oneshot::Sender<Result<Appended, StoreError>>,
    Result<Appended, StoreError>,
);

/// Takes batches of waiting publishes until none waits, then stops leading. Holds
/// the store only while it settles a batch, and answers after letting it go, so that
/// a caller that drops the store on its answer really closes it.
fn lead_publishes(inner: Weak<Inner>) {
    loop {
        // Gone: the waiting publishes went with it, and their callers get an error.
        let Some(inner) = inner.upgrade() else {
            return;
        };
        let store = Store { inner };
        let answers = {
            let _leading = Leading(&store.inner.publishes);
            let mut writer = lock(&store.inner.writer);
            let jobs: Vec<PublishJob> = {
                let mut queue = lock(&store.inner.publishes);
                if queue.jobs.is_empty() {
                    queue.leading = false;
                    return;
                }
                let take = queue.jobs.len().min(MAX_PUBLISH_BATCH);
                queue.jobs.drain(..take).collect()
            };
            store.publish_batch(&mut writer, jobs)
        };
        drop(store);
        for (reply, answer) in answers {
            let _ = reply.send(answer);
        }
    }
}

/// A publish's answer, or an error if the leading thread failed before answering.
fn answered(
    answer: Result<Result<Appended, StoreError>, oneshot::error::RecvError>,
) -> Result<Appended, StoreError> {
    answer.unwrap_or_else(|_| {
        Err(StoreError::Io(
            "the thread storing publishes stopped before answering".into(),
        ))
    })
}

/// Clears the queue's leader when a leader panics, so that the next publish leads
/// (the panicking batch's callers get [`StoreError::Io`] from their dropped answers).
struct Leading<'a>(&'a Mutex<PublishQueue>);

impl Drop for Leading<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            lock(self.0).leading = false;
        }
    }
}

impl Store {
    /// Opens (or creates) the store. Refuses a store of another network or one that
    /// fails its consistency checks, and completes an own entry that was made durable
    /// but not applied before a crash.
    pub fn open(config: StoreConfig) -> Result<Store, StoreError> {
        migrate::upgrade_if_needed(&config)?;
        migrate::finish_index_swap(&config.path)?;
        refuse_foreign_directory(&config.path)?;
        let started = std::time::Instant::now();
        let mut db = open_db(&config, OPEN_LOCK_WAIT)?;
        if migrate::index_upgrade_needed(&db)? {
            db = migrate::upgrade_index(&config, db)?;
        }
        let index_ms = started.elapsed().as_millis() as u64;
        let segments =
            Segments::open(&config.path.join("segments")).map_err(|e| StoreError::Open {
                path: config.path.clone(),
                reason: format!("cannot open the segment files: {e}"),
            })?;
        let store = Store {
            inner: Arc::new(Inner {
                db: RwLock::new(Some(db)),
                writer: Mutex::new(Writer {
                    pending: PendingBuffer::new(
                        config.max_pending_entries,
                        config.max_pending_bytes,
                    ),
                }),
                segments,
                log_end: Mutex::new(Position::default()),
                authors: RwLock::new(HashMap::new()),
                publishes: Mutex::new(PublishQueue::default()),
                counts: Mutex::new(Counts::default()),
                frontier: watch::Sender::new(Arc::new(Frontier::new())),
                governance: watch::Sender::new(0),
                opening: RwLock::new(sealed::Opening::default()),
                decryption: Mutex::new(sealed::DecryptionBudget::new(
                    config.decrypt_trials_per_author_per_hour,
                )),
                health: Mutex::new(Health::default()),
                next_arrival: AtomicU64::new(0),
                last_arrival_us: AtomicU64::new(0),
                arrivals: watch::Sender::new(0),
                config,
            }),
        };
        store.load(&mut lock(&store.inner.writer))?;
        tracing::info!(
            entries = store.counts().entries,
            index_ms,
            total_ms = started.elapsed().as_millis() as u64,
            "the store is open"
        );
        Ok(store)
    }

    /// Reads what the node keeps in memory from the database, after checking it, and
    /// indexes what a crash left past the index's end.
    fn load(&self, writer: &mut Writer) -> Result<(), StoreError> {
        self.check_identity()?;
        *lock(&self.inner.counts) = self.read_counts()?;
        self.inner
            .frontier
            .send_replace(Arc::new(self.read_frontier()?));
        let mut authors = HashMap::new();
        for row in self.db()?.scan_prefix([AUTHOR]) {
            let (key, value) = row?;
            authors.insert(parse_author_key(&key)?, parse_author_number(&value)?);
        }
        *lock_write(&self.inner.authors) = authors;
        *lock(&self.inner.log_end) = match self.db()?.get(META_LOG_END)? {
            Some(end) => Position::decode(&end)?,
            None => Position::default(),
        };
        // Kept in a row, so that no open has to scan the arrival rows for the last one.
        let kept = self.db()?.get(META_NEXT_ARRIVAL)?;
        let next_arrival = match kept {
            Some(number) => parse_u64(&number, "next arrival")?,
            None => self.arrival_end()?,
        };
        self.inner
            .next_arrival
            .store(next_arrival, Ordering::Relaxed);
        // The last row's time: a point read of the row before the next number; the
        // rows are read from the end only when a failed commit took that number.
        let last_arrival_us = match self
            .db()?
            .get(arrival_key(next_arrival.saturating_sub(1)))?
        {
            Some(value) => parse_arrival_value(&value)?.1,
            None => self.last_arrival()?.and_then(|(_, us)| us),
        }
        .unwrap_or(0);
        self.inner
            .last_arrival_us
            .store(last_arrival_us, Ordering::Relaxed);
        self.recover_tail(writer)?;
        self.check_heads()?;
        self.complete_own_pending(writer)?;
        Ok(())
    }

    /// The number after the last arrival row: the next record stored or opened gets
    /// it (read from the rows, for stores from before `Mnext_arrival`).
    pub fn arrival_end(&self) -> Result<u64, StoreError> {
        Ok(self.last_arrival()?.map_or(0, |(number, _)| number + 1))
    }

    /// The last arrival row's number and arrival time (none for rows from before
    /// times were kept).
    fn last_arrival(&self) -> Result<Option<(u64, Option<u64>)>, StoreError> {
        match self.db()?.scan_prefix([ARRIVAL]).next_back() {
            Some(row) => {
                let (key, value) = row?;
                Ok(Some((
                    parse_arrival_key(&key)?,
                    parse_arrival_value(&value)?.1,
                )))
            }
            None => Ok(None),
        }
    }

    /// Indexes the whole frames a crash left past the index's end (written and maybe
    /// made durable, never acknowledged) through the chain rule again, in the order
    /// they were written, and cuts the log after the last one that applies: a torn or
    /// damaged frame, and anything after it, is removed and never served.
    fn recover_tail(&self, writer: &mut Writer) -> Result<(), StoreError> {
        let start = *lock(&self.inner.log_end);
        let tail = self.inner.segments.tail(start).map_err(io_error)?;
        let mut recovered = 0;
        for chunk in tail.chunks(1024) {
            let mut tx = Tx::new(self);
            let mut stopped = false;
            for (at, bytes) in chunk {
                // Written again at the same place with the same bytes.
                let applies = match VerifiedEntry::from_bytes(bytes) {
                    Ok(entry) if tx.end.place(bytes.len()) == *at => {
                        chain::place(&mut tx, &mut writer.pending, entry)? == Outcome::Applied
                    }
                    _ => false,
                };
                if !applies {
                    stopped = true;
                    break;
                }
                recovered += 1;
            }
            tx.commit(true)?;
            if stopped {
                break;
            }
        }
        let end = *lock(&self.inner.log_end);
        self.inner.segments.cut(end).map_err(io_error)?;
        if !tail.is_empty() {
            tracing::info!(
                recovered,
                cut = tail.len() - recovered,
                "indexed the entries a crash left past the index's end"
            );
        }
        Ok(())
    }

    /// Whether the store could write at the last try, and why not.
    pub fn health(&self) -> Health {
        lock(&self.inner.health).clone()
    }

    /// Writes and flushes a small row: whether the disk takes writes now. A failure
    /// marks the store unwritable (see [`Store::health`]).
    pub fn probe(&self, now_ms: u64) -> Result<(), StoreError> {
        let result = self.db().and_then(|db| {
            db.insert(META_PROBE, &now_ms.to_be_bytes()[..])?;
            db.flush()?;
            Ok(())
        });
        self.noted(result)
    }

    /// Whether the first node's permission to publish before a sync is spent (see
    /// [`Store::spend_unsynced_publish`]).
    pub fn unsynced_publish_spent(&self) -> Result<bool, StoreError> {
        self.db()?.contains_key(META_UNSYNCED_PUBLISH_SPENT)
    }

    /// Records, durably, that a member holds entries of this node's key: from now on
    /// `allow_publish_before_sync` no longer applies to this store or its backups.
    pub fn spend_unsynced_publish(&self) -> Result<(), StoreError> {
        let result = self.db().and_then(|db| {
            db.insert(META_UNSYNCED_PUBLISH_SPENT, &[1u8][..])?;
            db.flush()?;
            Ok(())
        });
        self.noted(result)
    }

    /// Records a write's outcome in [`Store::health`]: an I/O failure makes the store
    /// unwritable until a probe or a recovery succeeds.
    fn noted<T>(&self, result: Result<T, StoreError>) -> Result<T, StoreError> {
        let mut health = lock(&self.inner.health);
        match &result {
            Ok(_) => health.writable_error = None,
            Err(error @ (StoreError::Io(_) | StoreError::Recovering)) => {
                health.writable_error = Some(error.to_string());
            }
            Err(_) => {}
        }
        result
    }

    /// Reopens the database in place, after a write failed (a full disk): fjall keeps
    /// the first I/O error and fails every later call, even once space is back.
    /// Writers wait meanwhile and readers get [`StoreError::Recovering`]; what the node
    /// keeps in memory is read again, so entries whose flush failed are simply missing
    /// (and fetched again from members). Nothing acknowledged is lost: an own entry is
    /// acknowledged only after its flush.
    pub fn recover(&self) -> Result<(), StoreError> {
        let mut writer = lock(&self.inner.writer);
        let old = self
            .inner
            .db
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        drop(old);
        self.inner.segments.close_files();
        // Readers that took a handle just before may hold the index's lock a moment longer.
        let db = match open_db(&self.inner.config, RECOVER_LOCK_WAIT) {
            Ok(db) => db,
            Err(error) => return self.noted(Err(error)),
        };
        *self.inner.db.write().unwrap_or_else(|e| e.into_inner()) = Some(db);
        let loaded = self.load(&mut writer);
        let mut health = lock(&self.inner.health);
        health.recoveries += 1;
        drop(health);
        self.noted(loaded)?;
        tracing::info!(path = %self.path().display(), "the store was reopened");
        Ok(())
    }

    /// The database; [`StoreError::Recovering`] while [`Store::recover`] reopens it.
    fn db(&self) -> Result<Db, StoreError> {
        self.inner
            .db
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
            .ok_or(StoreError::Recovering)
    }

    /// How many handles on this store exist (this one included).
    pub fn handles(&self) -> usize {
        Arc::strong_count(&self.inner)
    }

    pub fn path(&self) -> &Path {
        &self.inner.config.path
    }

    pub fn network(&self) -> &str {
        &self.inner.config.network
    }

    /// A new store is stamped with the format and network; an existing one must match.
    fn check_identity(&self) -> Result<(), StoreError> {
        let db = self.db()?;
        let network = self.network().as_bytes();
        match (db.get(META_FORMAT)?, db.get(META_NETWORK)?) {
            (Some(format), Some(found)) => {
                if format.as_ref() != FORMAT {
                    return Err(StoreError::Open {
                        path: self.path().to_path_buf(),
                        reason: format!(
                            "unknown store format {:?}",
                            String::from_utf8_lossy(&format)
                        ),
                    });
                }
                if found.as_ref() != network {
                    return Err(StoreError::OtherNetwork {
                        path: self.path().to_path_buf(),
                        expected: self.network().to_string(),
                        found: String::from_utf8_lossy(&found).into_owned(),
                    });
                }
                Ok(())
            }
            (None, None) if db.is_empty()? => {
                let mut batch = Batch::default();
                batch.insert(META_FORMAT, FORMAT);
                batch.insert(META_NETWORK, network);
                batch.insert(META_COUNTS, &Counts::default().encode()[..]);
                db.apply_batch(batch)?;
                db.flush()?;
                Ok(())
            }
            _ => Err(StoreError::Open {
                path: self.path().to_path_buf(),
                reason: "the directory holds a database that is not a customs store".into(),
            }),
        }
    }

    fn read_counts(&self) -> Result<Counts, StoreError> {
        match self.db()?.get(META_COUNTS)? {
            Some(bytes) => Counts::decode(&bytes),
            None => Err(StoreError::Corrupt {
                what: "the counts row is missing".into(),
            }),
        }
    }

    /// Every head must point at a stored entry with that author and seq: cheap (one
    /// read per author) and catches a store whose log and heads disagree.
    fn check_heads(&self) -> Result<(), StoreError> {
        for head in self.read_frontier()?.heads() {
            let entry = self.get(&head.id)?.ok_or_else(|| StoreError::Corrupt {
                what: format!("head {} of author {} is missing", head.id, head.author),
            })?;
            let e = entry.entry();
            if e.author != head.author || e.seq != head.seq {
                return Err(StoreError::Corrupt {
                    what: format!("head of author {} does not match its entry", head.author),
                });
            }
        }
        Ok(())
    }

    /// After a crash between "own entry durable" and "own entry applied", apply it.
    fn complete_own_pending(&self, writer: &mut Writer) -> Result<(), StoreError> {
        let Some(bytes) = self.db()?.get(META_OWN_PENDING)? else {
            return Ok(());
        };
        let entry = VerifiedEntry::from_bytes(&bytes).map_err(|e| StoreError::Corrupt {
            what: format!("the pending own entry does not verify: {e}"),
        })?;
        let mut tx = Tx::new(self);
        if chain::place(&mut tx, &mut writer.pending, entry)? == Outcome::Applied {
            tracing::info!(
                "completed an own entry that was durable but not yet applied at the crash"
            );
        }
        tx.batch.remove(META_OWN_PENDING);
        tx.commit(true)?;
        Ok(())
    }

    /// Stores verified entries from peers: one atomic batch and one flush for all of
    /// them (group commit). See [`Outcome`] for what can become of each.
    pub fn ingest(&self, entries: Vec<VerifiedEntry>) -> Result<IngestReport, StoreError> {
        let report = self.ingest_batch(entries);
        self.noted(report)
    }

    fn ingest_batch(&self, entries: Vec<VerifiedEntry>) -> Result<IngestReport, StoreError> {
        if entries.is_empty() {
            return Ok(IngestReport::default());
        }
        let (preopened, preopened_generation) = self.preopen(&entries);
        let mut writer = lock(&self.inner.writer);
        let mut order: Vec<usize> = (0..entries.len()).collect();
        // In (author, seq) order, so that a batch fills its own gaps.
        order.sort_by_key(|&i| (entries[i].entry().author, entries[i].entry().seq));
        let mut slots: Vec<Option<VerifiedEntry>> = entries.into_iter().map(Some).collect();
        let mut outcomes = vec![Outcome::Duplicate; slots.len()];
        let mut tx = Tx::new(self);
        tx.preopened = preopened;
        tx.preopened_generation = preopened_generation;
        for i in order {
            if let Some(entry) = slots[i].take() {
                outcomes[i] = chain::place(&mut tx, &mut writer.pending, entry)?;
            }
        }
        // Durable by the segments' sync alone: the index's journal is not synced here
        // (after a power loss, open re-indexes the frames past the index's end); a
        // batch with a fork proof, which the segments cannot give back, syncs it.
        let applied = tx.commit(false)?;
        Ok(IngestReport { outcomes, applied })
    }

    /// [`Store::append_own_keyed`] without a key (the store's tests).
    #[cfg(test)]
    pub(crate) fn append_own(
        &self,
        key: &SecretKey,
        body: Body,
        now_ms: u64,
    ) -> Result<VerifiedEntry, StoreError> {
        Ok(self
            .append_own_keyed(key, Draft::open(body), now_ms, None)?
            .entry)
    }

    /// Signs `body` as the next entry of the node's own log and stores it.
    ///
    /// Returns once the entry is durable. Concurrent calls are signed in sequence and
    /// made durable together (group commit: one segment sync for the batch); each is
    /// answered once its entry is durable. The frame is durable before its index rows
    /// are written, so before any reader can see the entry, and a crash in between is
    /// completed on open from the segment with this same entry: no crash can lead the
    /// node to sign two different entries with one seq that anyone saw.
    /// Only [`crate::publish::Publisher`] calls this (it applies the not-synced guard
    /// first); `pub(crate)` so that nothing outside the node can sign around it.
    ///
    /// With `idempotency`, the key is remembered with the entry: the same key again
    /// (within the retention) returns that entry, `replayed`, and signs nothing; with
    /// another body it is refused.
    ///
    /// Blocks (and leads the batch when no other thread does): not for async callers.
    pub(crate) fn append_own_keyed(
        &self,
        key: &SecretKey,
        draft: Draft,
        now_ms: u64,
        idempotency: Option<&IdempotencyKey>,
    ) -> Result<Appended, StoreError> {
        let job = PublishJob::new(key, draft, now_ms, idempotency);
        let answer = self.queue_publish(job, lead_publishes);
        self.noted(answered(answer.blocking_recv()))
    }

    /// [`Store::append_own_keyed`] for async callers: it waits without a thread, and
    /// only the publish that finds no leader starts one (on tokio's blocking pool).
    pub(crate) async fn append_own_keyed_async(
        &self,
        key: &SecretKey,
        draft: Draft,
        now_ms: u64,
        idempotency: Option<&IdempotencyKey>,
    ) -> Result<Appended, StoreError> {
        let job = PublishJob::new(key, draft, now_ms, idempotency);
        let answer = self.queue_publish(job, |inner| {
            drop(tokio::task::spawn_blocking(move || lead_publishes(inner)))
        });
        self.noted(answered(answer.await))
    }

    /// Queues a publish and, when no thread leads, has `lead` lead (on this thread or
    /// another); returns where the answer comes.
    fn queue_publish(
        &self,
        (job, answer): (PublishJob, PublishReceiver),
        lead: impl FnOnce(Weak<Inner>),
    ) -> PublishReceiver {
        let leading = {
            let mut queue = lock(&self.inner.publishes);
            queue.jobs.push(job);
            std::mem::replace(&mut queue.leading, true)
        };
        if !leading {
            lead(Arc::downgrade(&self.inner));
        }
        answer
    }

    /// Whether the stored own entry `entry` says what `draft` says (an idempotent
    /// retry): the same markings and body, or the same sealed record.
    fn says(&self, entry: &VerifiedEntry, draft: &Draft) -> Result<bool, StoreError> {
        let e = entry.entry();
        Ok(match draft {
            Draft::Open {
                markings,
                body,
                attachments,
            } => e.markings == *markings && e.body == *body && e.attachments == *attachments,
            Draft::Sealed { record, .. } => self.opened(&entry.id())?.as_ref() == Some(record),
        })
    }

    /// Signs the waiting publishes in order, stores them in one transaction and
    /// answers each: a refused one with its reason, the others once durable.
    fn publish_batch(&self, writer: &mut Writer, jobs: Vec<PublishJob>) -> Vec<PublishAnswer> {
        let mut answers = Vec::with_capacity(jobs.len());
        let mut tx = Tx::new(self);
        let mut signed: Vec<(PublishJob, Result<Appended, StoreError>)> = Vec::new();
        // Keys of this batch: a retry of a publish in the same batch gets its entry.
        let mut keyed: HashMap<[u8; 32], (VerifiedEntry, Draft)> = HashMap::new();
        let mut key_rows: Vec<([u8; 33], EntryId)> = Vec::new();
        let mut failure: Option<StoreError> = None;
        for job in jobs {
            if let Some(error) = &failure {
                answers.push((job.reply, Err(error.duplicate())));
                continue;
            }
            let result = self.stage_own(&mut tx, writer, &job, &mut keyed);
            match result {
                Ok(Staged::Signed(entry)) => {
                    if let Some(idempotency) = &job.idempotency {
                        key_rows.push((idempotency_key(&idempotency.scope), entry.id()));
                    }
                    signed.push((
                        job,
                        Ok(Appended {
                            entry,
                            replayed: false,
                        }),
                    ));
                }
                Ok(Staged::Replayed(entry)) => signed.push((
                    job,
                    Ok(Appended {
                        entry,
                        replayed: true,
                    }),
                )),
                // The store failed: the batch may be half staged, so none of it is
                // committed.
                Err(error @ (StoreError::Io(_) | StoreError::Corrupt { .. })) => {
                    failure = Some(error.duplicate());
                    answers.push((job.reply, Err(error)));
                }
                // Nothing of a refused publish was staged.
                Err(error) => answers.push((job.reply, Err(error))),
            }
        }
        let fresh = signed
            .iter()
            .filter(|(_, a)| matches!(a, Ok(a) if !a.replayed))
            .count();
        let committed = match failure {
            Some(error) => Err(error),
            None => self.commit_own(tx, &key_rows, signed.first().map(|(job, _)| job.now_ms)),
        };
        if committed.is_ok() && fresh > 0 {
            let mut health = lock(&self.inner.health);
            health.publish_batches += 1;
            health.published += fresh as u64;
        }
        for (job, appended) in signed {
            let answer = match &committed {
                Ok(()) => appended,
                Err(error) => Err(error.duplicate()),
            };
            answers.push((job.reply, answer));
        }
        answers
    }

    /// Makes a batch of own entries durable: the idempotency keys first (flushed, so
    /// a crash may keep a key without its entry, never the entry without its key),
    /// then the frames (synced) and their index rows.
    fn commit_own(
        &self,
        tx: Tx<'_>,
        key_rows: &[([u8; 33], EntryId)],
        now_ms: Option<u64>,
    ) -> Result<(), StoreError> {
        if !key_rows.is_empty() {
            let now_ms = now_ms.unwrap_or_default();
            self.expire_idempotency_keys(now_ms)?;
            let db = self.db()?;
            for (key, id) in key_rows {
                db.insert(key, &idempotency_value(id, now_ms)[..])?;
                let scope: [u8; 32] = key[1..].try_into().unwrap_or_default();
                db.insert(idempotency_expiry_key(now_ms, &scope), &[][..])?;
            }
            db.flush()?;
        }
        tx.commit(false)?;
        Ok(())
    }

    /// Checks and signs one publish into `tx`, or finds the entry its idempotency key
    /// made. An error leaves `tx` as it was.
    fn stage_own(
        &self,
        tx: &mut Tx<'_>,
        writer: &mut Writer,
        job: &PublishJob,
        keyed: &mut HashMap<[u8; 32], (VerifiedEntry, Draft)>,
    ) -> Result<Staged, StoreError> {
        let author = job.key.public_key();
        // Before any other check: a retried retraction finds its target retracted.
        if let Some(idempotency) = &job.idempotency {
            let earlier = match keyed.get(&idempotency.scope) {
                Some((entry, draft)) => Some((entry.clone(), *draft == job.draft)),
                None => match self.idempotent_entry(idempotency, job.now_ms)? {
                    Some(entry) => {
                        let same = self.says(&entry, &job.draft)?;
                        Some((entry, same))
                    }
                    None => None,
                },
            };
            if let Some((entry, same)) = earlier {
                if !same {
                    return Err(StoreError::IdempotencyKeyReused { entry: entry.id() });
                }
                return Ok(Staged::Replayed(entry));
            }
        }
        if let Body::Retraction(retraction) = job.draft.body() {
            tx.check_own_target(&author, &retraction.target)?;
        }
        let head = tx.head(&author)?;
        let seq = head.map_or(1, |(seq, _)| seq + 1);
        // Never dated before the own chain's head (a clock stepped back): members
        // would refuse it (chain::Outcome::Backdated).
        let created_at_ms = job.now_ms.max(tx.head_created_at(&author)?.unwrap_or(0));
        let (markings, body, attachments) = match job.draft.clone() {
            Draft::Open {
                markings,
                body,
                attachments,
            } => (markings, body, attachments),
            Draft::Sealed { record, recipients } => {
                let network = self.network();
                let aad = customs_protocol::envelope::envelope_aad(network, &author, seq);
                let envelope = customs_protocol::envelope::seal(
                    &record,
                    &recipients,
                    network,
                    &aad,
                    &mut sealing_rng()?,
                )?;
                (Markings::default(), Body::Sealed(envelope), Vec::new())
            }
        };
        let entry = Entry {
            network: self.network().to_string(),
            author,
            seq,
            prev: head.map(|(_, id)| id),
            created_at_ms,
            markings,
            body,
            attachments,
        };
        let signed = VerifiedEntry::sign(entry, &job.key)?;
        if let Draft::Sealed { record, .. } = &job.draft {
            // This node wrote the record: nothing to open (nor to charge its budget).
            tx.preopened.insert(
                signed.id(),
                sealed::Trial::Done(customs_protocol::Opened::Record(Box::new(record.clone()))),
            );
            tx.preopened_generation = self.opening_keys().1;
        }
        let outcome = chain::place(tx, &mut writer.pending, signed.clone())?;
        if outcome != Outcome::Applied {
            return Err(StoreError::Corrupt {
                what: format!("own entry seq {seq} could not extend the own chain ({outcome:?})"),
            });
        }
        if let Some(idempotency) = &job.idempotency {
            keyed.insert(idempotency.scope, (signed.clone(), job.draft.clone()));
        }
        Ok(Staged::Signed(signed))
    }

    /// The own entry an unexpired idempotency key made, if it is stored.
    pub(crate) fn idempotent_entry(
        &self,
        idempotency: &IdempotencyKey,
        now_ms: u64,
    ) -> Result<Option<VerifiedEntry>, StoreError> {
        let Some(row) = self.db()?.get(idempotency_key(&idempotency.scope))? else {
            return Ok(None);
        };
        let (id, created_at_ms) = parse_idempotency_value(&row)?;
        if now_ms >= created_at_ms.saturating_add(IDEMPOTENCY_RETENTION_MS) {
            return Ok(None);
        }
        let Some(signed) = self.get(&id)? else {
            return Ok(None);
        };
        let entry = VerifiedEntry::check(signed).map_err(|e| StoreError::Corrupt {
            what: format!("own entry {id} does not verify: {e}"),
        })?;
        Ok(Some(entry))
    }

    /// Forgets the oldest expired idempotency keys (a bounded number per publish, so
    /// the rows never outgrow the publishes of one retention period by much).
    fn expire_idempotency_keys(&self, now_ms: u64) -> Result<(), StoreError> {
        let cutoff = now_ms.saturating_sub(IDEMPOTENCY_RETENTION_MS);
        let expired: Vec<index::Bytes> = self
            .db()?
            .range(idempotency_expiry_key(0, &[0; 32])..idempotency_expiry_key(cutoff, &[0; 32]))
            .map(|row| row.map(|(key, _)| key))
            .take(MAX_IDEMPOTENCY_EXPIRED_PER_PUBLISH)
            .collect::<Result<_, _>>()?;
        for expiry in expired {
            let (created_at_ms, scope) = parse_idempotency_expiry_key(&expiry)?;
            // A key reused after it expired has a newer row: leave that one.
            let current = self.db()?.get(idempotency_key(&scope))?;
            if let Some(row) = current {
                if parse_idempotency_value(&row)?.1 == created_at_ms {
                    self.db()?.remove(idempotency_key(&scope))?;
                }
            }
            self.db()?.remove(expiry)?;
        }
        Ok(())
    }

    /// An entry by id, checked against its id.
    pub fn get(&self, id: &EntryId) -> Result<Option<SignedEntry>, StoreError> {
        let Some(position) = self.db()?.get(entry_key(id))? else {
            return Ok(None);
        };
        let bytes = self.inner.segments.read(Position::decode(&position)?)?;
        Ok(Some(decode_stored(id, &bytes)?))
    }

    /// The held entries whose id, in hex, starts with `prefix` (hex digits, any case):
    /// at most `limit` of them.
    pub fn ids_with_prefix(&self, prefix: &str, limit: usize) -> Result<Vec<EntryId>, StoreError> {
        let prefix = prefix.to_ascii_lowercase();
        let whole_bytes = hex::decode(&prefix[..prefix.len() / 2 * 2]).unwrap_or_default();
        let mut key = vec![layout::ENTRY];
        key.extend_from_slice(&whole_bytes);
        let mut ids = Vec::new();
        for row in self.db()?.scan_prefix(key) {
            let (row_key, _) = row?;
            let Some(id) = row_key
                .get(1..)
                .and_then(|bytes| <[u8; 32]>::try_from(bytes).ok())
                .map(EntryId)
            else {
                continue;
            };
            if id.to_hex().starts_with(&prefix) {
                ids.push(id);
                if ids.len() >= limit {
                    break;
                }
            }
        }
        Ok(ids)
    }

    /// Whether an entry is held (no read of its bytes).
    /// A record this node can read that lists the attachment `hash`, with the
    /// attachment as it lists it (a sealed record's carries its blob's key).
    pub fn attachment(&self, hash: &BlobHash) -> Result<Option<(EntryId, Attachment)>, StoreError> {
        // A blob listed by many records: the first readable one is enough.
        for row in self.db()?.scan_prefix(attachment_prefix(hash)).take(16) {
            let (key, _) = row?;
            let id = parse_id(key.get(33..).unwrap_or_default(), "attachment key")?;
            let listed = match self.get(&id)? {
                Some(entry) => self.readable(&entry)?.map(|r| r.attachments),
                None => None,
            };
            if let Some(attachment) = listed.into_iter().flatten().find(|a| a.hash == *hash) {
                return Ok(Some((id, attachment)));
            }
        }
        Ok(None)
    }

    pub fn contains(&self, id: &EntryId) -> Result<bool, StoreError> {
        self.db()?.contains_key(entry_key(id))
    }

    /// The id of the entry at `seq` in `author`'s chain.
    pub fn id_at(&self, author: &PublicKey, seq: u64) -> Result<Option<EntryId>, StoreError> {
        let Some(number) = self.author_number(author) else {
            return Ok(None);
        };
        let Some(row) = self.db()?.get(log_key(number, seq))? else {
            return Ok(None);
        };
        self.id_at_position(&row).map(Some)
    }

    /// The id of the entry whose position a row (log, arrival) holds, read from its frame.
    fn id_at_position(&self, row: &[u8]) -> Result<EntryId, StoreError> {
        let position = Position::decode(row)?;
        self.id_in_frame(position, &self.inner.segments.read(position)?)
    }

    /// The entry whose position a row (log, arrival) holds: one read of its frame.
    fn entry_at(&self, position: Position) -> Result<SignedEntry, StoreError> {
        decode_frame(
            &self.inner.segments.read(position)?,
            format!("the frame at {position}"),
        )
    }

    /// The id of the entry in the frame at `position` (its bytes, as read): the
    /// rows that point at frames do not repeat the ids.
    fn id_in_frame(&self, position: Position, stored: &[u8]) -> Result<EntryId, StoreError> {
        EntryId::of_signed(stored).map_err(|e| StoreError::Corrupt {
            what: format!("the frame at {position} holds no signed entry: {e}"),
        })
    }

    /// The number log rows name `author` by, once it has an entry.
    fn author_number(&self, author: &PublicKey) -> Option<u32> {
        lock_read(&self.inner.authors).get(author).copied()
    }

    /// The author's head (from memory: the frontier moves in the same step as the
    /// batch that moves it becomes visible, under the writer lock).
    pub fn head(&self, author: &PublicKey) -> Result<Option<Head>, StoreError> {
        Ok(self.inner.frontier.borrow().get(author))
    }

    /// Author -> head, for every author held (from memory).
    pub fn frontier(&self) -> Result<Frontier, StoreError> {
        Ok(self.inner.frontier.borrow().as_ref().clone())
    }

    /// Bumped by every commit that applies a governance entry.
    pub fn watch_governance(&self) -> watch::Receiver<u64> {
        self.inner.governance.subscribe()
    }

    /// Every governance entry held, as the membership rule takes them. A key's
    /// entries from its lowest forked seq on are left out: which branch a node holds
    /// depends on what arrived first, and the fork mark spreads to every node.
    pub fn governance_events(&self) -> Result<Vec<GovernanceEvent>, StoreError> {
        let frontier = self.watch_frontier().borrow().clone();
        let mut events = Vec::new();
        for row in self.db()?.scan_prefix([GOVERNANCE]) {
            let (_, id) = row?;
            let id = parse_id(&id, "governance row")?;
            let entry = self.get(&id)?.ok_or_else(|| StoreError::Corrupt {
                what: format!("governance row names missing entry {id}"),
            })?;
            let e = entry.entry();
            let forked = frontier
                .get(&e.author)
                .is_some_and(|h| h.fork_seq > 0 && e.seq >= h.fork_seq);
            if !forked {
                events.extend(GovernanceEvent::of_entry(id, e));
            }
        }
        Ok(events)
    }

    /// The frontier, updated on every commit that moves a head.
    pub fn watch_frontier(&self) -> watch::Receiver<Arc<Frontier>> {
        self.inner.frontier.subscribe()
    }

    /// The frontier as the database holds it (at open, and for `check`), with the
    /// lowest forked seq of each author.
    fn read_frontier(&self) -> Result<Frontier, StoreError> {
        let mut frontier = Frontier::new();
        for row in self.db()?.scan_prefix([HEAD]) {
            let (key, value) = row?;
            let (author, seq, id) = parse_head(&key, &value)?;
            frontier.advance(author, seq, id);
        }
        for key in self.db()?.scan_prefix([FORK]) {
            let (author, seq, _) = parse_fork_key(&key?.0)?;
            frontier.mark_fork(&author, seq);
        }
        Ok(frontier)
    }

    /// `author`'s entries from `from_seq` on: at most `max_count`, and at most
    /// `max_bytes` of signed entries except that the first entry is always included.
    pub fn entries_from(
        &self,
        author: &PublicKey,
        from_seq: u64,
        max_count: usize,
        max_bytes: usize,
    ) -> Result<Page, StoreError> {
        let raw = self.raw_entries_from(author, from_seq, max_count, max_bytes)?;
        Ok(Page {
            entries: raw
                .entries
                .iter()
                .map(|bytes| decode_frame(bytes, format!("a frame in the log of {author}")))
                .collect::<Result<_, _>>()?,
            more: raw.more,
        })
    }

    /// [`Store::entries_from`] as the signed bytes, for a peer that checks them itself:
    /// read in order from the segments (one read for many consecutive frames), each
    /// frame checked against its checksum, nothing decoded.
    pub fn raw_entries_from(
        &self,
        author: &PublicKey,
        from_seq: u64,
        max_count: usize,
        max_bytes: usize,
    ) -> Result<RawPage, StoreError> {
        let mut page = RawPage::default();
        let Some(number) = self.author_number(author) else {
            return Ok(page);
        };
        let mut reader = self.inner.segments.reader();
        let mut bytes = 0usize;
        let range = log_key(number, from_seq.max(1))..log_key(number, u64::MAX);
        for row in self.db()?.range(range) {
            let (_, row) = row?;
            if page.entries.len() >= max_count {
                page.more = true;
                break;
            }
            let position = Position::decode(&row)?;
            let stored = reader.read(position)?;
            if !page.entries.is_empty() && bytes + stored.len() > max_bytes {
                page.more = true;
                break;
            }
            bytes += stored.len();
            // No id is computed: the frame's checksum vouches for the bytes, and a
            // peer hashes and verifies what it is served anyway.
            page.entries.push(stored);
        }
        Ok(page)
    }

    /// Every fork proof held, read one at a time (a bad key's proofs are bounded to
    /// one per seq, but a listing still never loads them all).
    pub fn fork_proofs(&self) -> impl Iterator<Item = Result<ForkProof, StoreError>> + '_ {
        let (rows, unavailable) = match self.db() {
            Ok(db) => (Some(db.scan_prefix([FORK])), None),
            Err(error) => (None, Some(Err(error))),
        };
        unavailable
            .into_iter()
            .chain(rows.into_iter().flatten().map(move |row| {
                let (key, value) = row?;
                self.proof_of_row(&key, &value)
            }))
    }

    /// The fork proof held for (author, seq), with the chain's entry at that seq.
    pub fn fork_proof(
        &self,
        author: &PublicKey,
        seq: u64,
    ) -> Result<Option<ForkProof>, StoreError> {
        let prefix = &fork_key(author, seq, &EntryId([0; 32]))[..41];
        let Some(row) = self.db()?.scan_prefix(prefix).next().transpose()? else {
            return Ok(None);
        };
        self.proof_of_row(&row.0, &row.1).map(Some)
    }

    fn proof_of_row(&self, key: &[u8], value: &[u8]) -> Result<ForkProof, StoreError> {
        let (author, seq, id) = parse_fork_key(key)?;
        let second = decode_stored(&id, value)?;
        let first_id = self
            .id_at(&author, seq)?
            .ok_or_else(|| StoreError::Corrupt {
                what: format!("fork proof for {author} seq {seq} has no chain entry"),
            })?;
        let first = self.get(&first_id)?.ok_or_else(|| StoreError::Corrupt {
            what: format!("entry {first_id} is missing"),
        })?;
        Ok(ForkProof {
            author,
            seq,
            first,
            second,
        })
    }

    /// Every fork proof held (tests and small stores; listings use
    /// [`Store::fork_proofs`]).
    pub fn forks(&self) -> Result<Vec<ForkProof>, StoreError> {
        self.fork_proofs().collect()
    }

    /// At most `limit` fork proofs, and whether there are more.
    pub fn forks_up_to(&self, limit: usize) -> Result<(Vec<ForkProof>, bool), StoreError> {
        let mut proofs = self.fork_proofs();
        let listed = proofs.by_ref().take(limit).collect::<Result<Vec<_>, _>>()?;
        Ok((listed, proofs.next().is_some()))
    }

    /// How many fork proofs are held (keys only).
    pub fn fork_proof_count(&self) -> Result<u64, StoreError> {
        let mut count = 0;
        for row in self.db()?.scan_prefix([FORK]) {
            row?;
            count += 1;
        }
        Ok(count)
    }

    /// Whether `author` signed more than one entry with `seq` (a fork proof is held).
    pub fn forked_at(&self, author: &PublicKey, seq: u64) -> Result<bool, StoreError> {
        Ok(self.fork_proof_at(author, seq)?.is_some())
    }

    /// The id of the fork proof held for (author, seq). (Stores written before proofs
    /// were bounded may hold several; the first counts.)
    fn fork_proof_at(&self, author: &PublicKey, seq: u64) -> Result<Option<EntryId>, StoreError> {
        let prefix = &fork_key(author, seq, &EntryId([0; 32]))[..41];
        match self.db()?.scan_prefix(prefix).next().transpose()? {
            Some((key, _)) => Ok(Some(parse_fork_key(&key)?.2)),
            None => Ok(None),
        }
    }

    /// Authors with at least one fork proof.
    pub fn forked_authors(&self) -> Result<Vec<PublicKey>, StoreError> {
        let mut authors: Vec<PublicKey> = Vec::new();
        for row in self.db()?.scan_prefix([FORK]) {
            let (key, _) = row?;
            let (author, _, _) = parse_fork_key(&key)?;
            if authors.last() != Some(&author) {
                authors.push(author);
            }
        }
        Ok(authors)
    }

    /// The retraction that withdrew `id`, if any.
    pub fn retracted_by(&self, id: &EntryId) -> Result<Option<EntryId>, StoreError> {
        self.db()?
            .get(retracted_key(id))?
            .map(|v| parse_id(&v, "retraction value"))
            .transpose()
    }

    pub fn counts(&self) -> Counts {
        *lock(&self.inner.counts)
    }

    /// Entries waiting in memory for a gap to fill.
    pub fn pending_len(&self) -> usize {
        lock(&self.inner.writer).pending.len()
    }

    /// Bytes the store takes on disk: the index and the segment files.
    pub fn size_on_disk(&self) -> Result<u64, StoreError> {
        let segments = self.inner.segments.size_on_disk().map_err(io_error)?;
        Ok(self.db()?.size_on_disk()? + segments)
    }

    /// Flushes everything written so far.
    pub fn flush(&self) -> Result<(), StoreError> {
        self.db()?.flush()?;
        Ok(())
    }
}

/// Decodes stored bytes and checks them against the id they are stored under.
/// The signed entry a frame's bytes (checked against its CRC as read) hold; `frame`
/// names where it was read, for the error.
fn decode_frame(bytes: &[u8], frame: impl std::fmt::Display) -> Result<SignedEntry, StoreError> {
    SignedEntry::decode(bytes).map_err(|e| StoreError::Corrupt {
        what: format!("{frame} holds no signed entry: {e}"),
    })
}

fn decode_stored(id: &EntryId, bytes: &[u8]) -> Result<SignedEntry, StoreError> {
    let signed = SignedEntry::decode(bytes).map_err(|e| StoreError::Corrupt {
        what: format!("entry {id} does not decode: {e}"),
    })?;
    if signed.id() != *id {
        return Err(StoreError::Corrupt {
            what: format!("entry stored as {id} hashes to {}", signed.id()),
        });
    }
    Ok(signed)
}

/// One write transaction: an index batch plus the in-memory view of what it changes
/// (heads and log positions), so that later entries in the same batch see earlier ones.
struct Tx<'a> {
    store: &'a Store,
    batch: Batch,
    heads: HashMap<PublicKey, Option<(u64, EntryId)>>,
    written: HashMap<EntryId, (PublicKey, u64, bool)>,
    /// Where the entries staged in this transaction are.
    staged_at: HashMap<EntryId, Position>,
    log: HashMap<(PublicKey, u64), EntryId>,
    forks: HashMap<(PublicKey, u64), EntryId>,
    counts: Counts,
    applied: Vec<SignedEntry>,
    dirty: bool,
    /// A governance entry was applied.
    governance: bool,
    /// The `created_at_ms` of each author's head as this transaction sees it.
    head_times: HashMap<PublicKey, u64>,
    /// A group update was opened in this transaction, and the creation time of the
    /// earliest: the group keys are chosen again after the commit.
    group_staged: bool,
    learned_since_ms: u64,
    /// Sealed entries of this batch already tried, and the generation of the keys
    /// they were tried with.
    preopened: HashMap<EntryId, sealed::Trial>,
    preopened_generation: u64,
    /// A readable record was indexed (an arrival row staged).
    indexed: bool,
    /// Where this transaction's next frame goes, and its frames: (segment, offset,
    /// consecutive frames), written and synced before the batch.
    end: Position,
    frames: Vec<(u32, u32, Vec<u8>)>,
    /// Authors numbered in this transaction.
    numbered: Vec<(PublicKey, u32)>,
    /// Retractions staged in this transaction, by target.
    retracted: std::collections::HashSet<EntryId>,
    /// The batch holds what the segments cannot give back (a fork proof): flush it.
    flush_index: bool,
}

impl<'a> Tx<'a> {
    fn new(store: &'a Store) -> Self {
        Tx {
            store,
            batch: Batch::default(),
            heads: HashMap::new(),
            written: HashMap::new(),
            staged_at: HashMap::new(),
            log: HashMap::new(),
            forks: HashMap::new(),
            counts: store.counts(),
            applied: Vec::new(),
            dirty: false,
            governance: false,
            head_times: HashMap::new(),
            group_staged: false,
            learned_since_ms: u64::MAX,
            preopened: HashMap::new(),
            preopened_generation: 0,
            indexed: false,
            end: *lock(&store.inner.log_end),
            frames: Vec::new(),
            numbered: Vec::new(),
            retracted: Default::default(),
            flush_index: false,
        }
    }

    /// The number of `author` in log rows: its own, or the next free one.
    fn number(&mut self, author: &PublicKey) -> u32 {
        if let Some(number) = self.store.author_number(author) {
            return number;
        }
        if let Some((_, number)) = self.numbered.iter().find(|(a, _)| a == author) {
            return *number;
        }
        let number = (lock_read(&self.store.inner.authors).len() + self.numbered.len()) as u32;
        self.numbered.push((*author, number));
        self.batch
            .insert(&author_key(author)[..], &number.to_be_bytes()[..]);
        number
    }

    /// Stages the frame of `bytes` at the end of the log; returns where it starts.
    fn append_frame(&mut self, bytes: &[u8]) -> Position {
        let at = self.end.place(bytes.len());
        match self.frames.last_mut() {
            Some((segment, offset, run))
                if *segment == at.segment && *offset + run.len() as u32 == at.offset =>
            {
                run.extend_from_slice(&segments::frame(bytes));
            }
            _ => self
                .frames
                .push((at.segment, at.offset, segments::frame(bytes))),
        }
        self.end = at.after(bytes.len());
        at
    }

    /// Why this node may not retract `target` now (with what this transaction staged).
    fn check_own_target(&self, author: &PublicKey, target: &EntryId) -> Result<(), StoreError> {
        let refuse = |reason| StoreError::RetractionTarget {
            target: *target,
            reason,
        };
        let Some((target_author, _, is_retraction)) = self.target(target)? else {
            return Err(refuse(RetractionRefusal::Unknown));
        };
        if target_author != *author {
            return Err(refuse(RetractionRefusal::OtherAuthor));
        }
        if is_retraction {
            return Err(refuse(RetractionRefusal::IsRetraction));
        }
        if self.retracted.contains(target) || self.store.retracted_by(target)?.is_some() {
            return Err(refuse(RetractionRefusal::AlreadyRetracted));
        }
        Ok(())
    }

    /// (author, seq, is a retraction) of a retraction's target, staged here or stored.
    fn target(&self, target: &EntryId) -> Result<Option<(PublicKey, u64, bool)>, StoreError> {
        if let Some(&staged) = self.written.get(target) {
            return Ok(Some(staged));
        }
        Ok(self.store.get(target)?.map(|t| {
            let e = t.entry();
            (e.author, e.seq, matches!(e.body, Body::Retraction(_)))
        }))
    }

    fn is_retractable(
        &self,
        author: &PublicKey,
        seq: u64,
        target: &EntryId,
    ) -> Result<bool, StoreError> {
        Ok(self
            .target(target)?
            .is_some_and(|(target_author, target_seq, is_retraction)| {
                target_author == *author && target_seq < seq && !is_retraction
            }))
    }

    /// Writes the batch atomically, then flushes when `flush` and anything changed.
    /// Returns the entries applied. In-memory counts change when the batch becomes
    /// visible.
    fn commit(mut self, flush: bool) -> Result<Vec<SignedEntry>, StoreError> {
        // One head row per author moved, however many entries the batch added.
        for author in self
            .log
            .keys()
            .map(|(author, _)| *author)
            .collect::<std::collections::HashSet<_>>()
        {
            if let Some(Some((seq, id))) = self.heads.get(&author) {
                self.batch
                    .insert(&head_key(&author)[..], &head_value(*seq, id)[..]);
            }
        }
        if !self.frames.is_empty() {
            // Durable before any index row names them.
            let started = std::time::Instant::now();
            let segments = &self.store.inner.segments;
            for (segment, offset, run) in &self.frames {
                let at = Position {
                    segment: *segment,
                    offset: *offset,
                };
                segments.write(at, run).map_err(io_error)?;
            }
            let mut synced: Vec<u32> = self.frames.iter().map(|(segment, ..)| *segment).collect();
            synced.dedup();
            for segment in &synced {
                segments.sync(*segment).map_err(io_error)?;
            }
            let mut health = lock(&self.store.inner.health);
            health.log_syncs += synced.len() as u64;
            health.log_sync_times.record(started.elapsed());
            drop(health);
            self.batch.insert(META_LOG_END, &self.end.encode()[..]);
        }
        if self.dirty {
            self.batch.insert(META_COUNTS, &self.counts.encode()[..]);
        }
        if self.indexed {
            let next = self.store.inner.next_arrival.load(Ordering::Relaxed);
            self.batch
                .insert(META_NEXT_ARRIVAL, &next.to_be_bytes()[..]);
        }
        self.store.db()?.apply_batch(self.batch)?;
        // The batch is visible to readers from here on; so are the counts and heads.
        if !self.frames.is_empty() {
            *lock(&self.store.inner.log_end) = self.end;
        }
        if !self.numbered.is_empty() {
            lock_write(&self.store.inner.authors).extend(self.numbered.iter().copied());
        }
        if self.dirty {
            *lock(&self.store.inner.counts) = self.counts;
        }
        if !self.applied.is_empty() || !self.forks.is_empty() {
            let (heads, forks) = (&self.heads, &self.forks);
            self.store.inner.frontier.send_modify(|frontier| {
                let frontier = Arc::make_mut(frontier);
                for (author, head) in heads {
                    if let Some((seq, id)) = head {
                        frontier.advance(*author, *seq, *id);
                    }
                }
                for (author, seq) in forks.keys() {
                    frontier.mark_fork(author, *seq);
                }
            });
        }
        if (flush || self.flush_index) && self.dirty {
            self.store.db()?.flush()?;
        }
        if self.governance {
            self.store
                .inner
                .governance
                .send_modify(|generation| *generation += 1);
        }
        if self.indexed {
            self.store
                .inner
                .arrivals
                .send_modify(|generation| *generation += 1);
        }
        if std::mem::take(&mut self.group_staged) {
            // A group key that now counts may open records stored before it (or
            // earlier in this batch).
            let learned = self.store.refresh_group_keys()?;
            if !learned.is_empty() {
                self.store.reopen(Some((self.learned_since_ms, learned)))?;
            }
        }
        Ok(self.applied)
    }
}

/// The chains as this transaction sees them: the database plus what it staged.
impl ChainView for Tx<'_> {
    type Error = StoreError;

    fn network(&self) -> &str {
        self.store.network()
    }

    fn head(&mut self, author: &PublicKey) -> Result<Option<(u64, EntryId)>, StoreError> {
        if let Some(head) = self.heads.get(author) {
            return Ok(*head);
        }
        let head = self.store.head(author)?.map(|h| (h.seq, h.id));
        self.heads.insert(*author, head);
        Ok(head)
    }

    fn head_created_at(&mut self, author: &PublicKey) -> Result<Option<u64>, StoreError> {
        if let Some(at) = self.head_times.get(author) {
            return Ok(Some(*at));
        }
        // A head applied in this transaction is in `head_times`; one from before is
        // read once per author and transaction.
        let Some((_, id)) = self.head(author)? else {
            return Ok(None);
        };
        let at = self.store.get(&id)?.map(|e| e.entry().created_at_ms);
        if let Some(at) = at {
            self.head_times.insert(*author, at);
        }
        Ok(at)
    }

    fn id_at(&mut self, author: &PublicKey, seq: u64) -> Result<Option<EntryId>, StoreError> {
        match self.log.get(&(*author, seq)) {
            Some(id) => Ok(Some(*id)),
            None => self.store.id_at(author, seq),
        }
    }

    fn fork_proof_at(
        &mut self,
        author: &PublicKey,
        seq: u64,
    ) -> Result<Option<EntryId>, StoreError> {
        if let Some(id) = self.forks.get(&(*author, seq)) {
            return Ok(Some(*id));
        }
        self.store.fork_proof_at(author, seq)
    }
}

impl ChainWriter for Tx<'_> {
    /// Stages an entry that extends its author's chain, with its index rows.
    fn apply(&mut self, entry: VerifiedEntry) -> Result<(), StoreError> {
        let e = entry.entry();
        let id = entry.id();
        let head = self.head(&e.author)?;
        // Assert the chain invariants right before writing, whoever the caller was.
        let extends = e.seq == head.map_or(0, |(s, _)| s) + 1 && e.prev == head.map(|(_, h)| h);
        if !extends
            || e.network != self.store.network()
            || id != EntryId::of(entry.signed().entry_bytes())
        {
            return Err(StoreError::Corrupt {
                what: format!(
                    "refusing to write entry {id}: it does not extend the chain of {}",
                    e.author
                ),
            });
        }
        let bytes = entry.encode();
        if bytes.len() > customs_protocol::limits::MAX_SIGNED_ENTRY_BYTES {
            return Err(StoreError::Corrupt {
                what: format!("refusing to write entry {id}: {} bytes", bytes.len()),
            });
        }
        let at = self.append_frame(&bytes);
        self.head_times.insert(e.author, e.created_at_ms);
        let number = self.number(&e.author);
        self.batch
            .insert(&log_key(number, e.seq)[..], &at.encode()[..]);
        self.batch.insert(&entry_key(&id)[..], &at.encode()[..]);
        self.staged_at.insert(id, at);
        if let Some(body) = self.readable_body(e, id)? {
            self.index(e, id, at, &body)?;
        }
        self.index_attachments(id, &e.attachments);
        if head.is_none() {
            self.counts.authors += 1;
        }
        self.counts.entries += 1;
        self.heads.insert(e.author, Some((e.seq, id)));
        self.written
            .insert(id, (e.author, e.seq, matches!(e.body, Body::Retraction(_))));
        self.log.insert((e.author, e.seq), id);
        self.applied.push(entry.into_signed());
        self.dirty = true;
        Ok(())
    }

    fn record_fork(&mut self, entry: VerifiedEntry) -> Result<(), StoreError> {
        let e = entry.entry();
        let key = fork_key(&e.author, e.seq, &entry.id());
        self.batch.insert(&key[..], entry.encode());
        self.forks.insert((e.author, e.seq), entry.id());
        self.counts.forks += 1;
        self.dirty = true;
        self.flush_index = true;
        Ok(())
    }

    fn count_known_fork(&mut self, _author: &PublicKey, _seq: u64) -> Result<(), StoreError> {
        self.counts.forks_known += 1;
        self.dirty = true;
        self.flush_index = true;
        Ok(())
    }
}

/// Locks a mutex, recovering it if a thread panicked while holding it: the data it
/// guards stays consistent because every write goes through an atomic index batch.
impl Tx<'_> {
    /// Stages a row for each attachment a readable record lists, so that its blob can
    /// be found by hash.
    fn index_attachments(&mut self, id: EntryId, attachments: &[Attachment]) {
        for attachment in attachments {
            self.batch
                .insert(&attachment_key(&attachment.hash, &id)[..], &[][..]);
        }
    }

    /// Stages the index rows of a readable body (the entry's own, or the one inside
    /// its envelope).
    fn index(
        &mut self,
        e: &Entry,
        id: EntryId,
        at: Position,
        body: &Body,
    ) -> Result<(), StoreError> {
        let arrival = self
            .store
            .inner
            .next_arrival
            .fetch_add(1, Ordering::Relaxed);
        self.indexed = true;
        // Later than the row before, even when the clock stepped back: a reader
        // asking for what arrived after a time it saw misses nothing.
        // (Index rows are staged under the writer lock: one writer at a time.)
        let last_us = self.store.inner.last_arrival_us.load(Ordering::Relaxed);
        let arrived_us = crate::clock::now_us().max(last_us + 1);
        self.store
            .inner
            .last_arrival_us
            .store(arrived_us, Ordering::Relaxed);
        self.batch.insert(
            &arrival_key(arrival)[..],
            &arrival_value(at, arrived_us)[..],
        );
        match body {
            Body::RiskAlert(alert) => {
                let summary = AlertSummary::of(self.number(&e.author), alert);
                self.batch
                    .insert(&alert_key(e.created_at_ms, &id)[..], summary.encode());
                self.counts.risk_alerts += 1;
            }
            Body::AeoRecord(record) => {
                self.batch
                    .insert(aeo_key(&record.operator_id, &e.author, e.seq), &id.0[..]);
                for identifier in &record.identifiers {
                    let lookup = identifier_lookup(&identifier.scheme, &identifier.value);
                    self.batch
                        .insert(aeo_key(&lookup, &e.author, e.seq), &id.0[..]);
                }
                self.counts.aeo_records += 1;
            }
            Body::ControlRequest(request) => {
                self.batch
                    .insert(&request_key(e.created_at_ms, &id)[..], &[][..]);
                // An alert shows the requests that name it, and through them their
                // results.
                for related in &request.related {
                    self.batch
                        .insert(&answer_key(related, &id)[..], &[ANSWER_RELATED][..]);
                }
            }
            Body::Acknowledgement(ack) => {
                self.batch
                    .insert(&answer_key(&ack.request, &id)[..], &[ANSWER_ACK][..]);
            }
            Body::ControlResult(result) => {
                self.batch
                    .insert(&answer_key(&result.subject, &id)[..], &[ANSWER_RESULT][..]);
            }
            Body::Governance(_) | Body::CausalGovernance(_) => {
                self.batch
                    .insert(&governance_key(&e.author, e.seq)[..], &id.0[..]);
                self.governance = true;
            }
            Body::Group(_) => {
                if e.created_at_ms < self.learned_since_ms {
                    self.learned_since_ms = e.created_at_ms;
                }
            }
            // Never inside an envelope (the record was validated).
            Body::Sealed(_) => {}
            Body::Retraction(retraction) => {
                // A retraction that names no earlier entry of its author stays in the
                // chain (later entries depend on it) but withdraws nothing.
                if self.is_retractable(&e.author, e.seq, &retraction.target)? {
                    self.batch
                        .insert(&retracted_key(&retraction.target)[..], &id.0[..]);
                    self.retracted.insert(retraction.target);
                }
                self.counts.retractions += 1;
            }
        }
        Ok(())
    }
}

/// A generator for content keys and HPKE's ephemeral keys: ChaCha20 seeded from the
/// operating system, fresh for each record.
fn sealing_rng() -> Result<impl customs_protocol::envelope::rand_core::CryptoRng, StoreError> {
    use chacha20::rand_core::SeedableRng;
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| StoreError::Randomness(e.to_string()))?;
    Ok(chacha20::ChaCha20Rng::from_seed(seed))
}

fn lock_read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(|e| e.into_inner())
}

fn lock_write<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(|e| e.into_inner())
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn panic_text(panic: &Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "unknown panic".into())
}

#[cfg(test)]
mod tests;
