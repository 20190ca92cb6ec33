//! Every bound of the node in one place, each with why it has its value, and
//! compile-time checks between the ones that depend on each other. (The format's own
//! bounds are `customs_protocol::limits`.)

use std::time::Duration;

use customs_protocol::limits::{MAX_FRONTIER_HEADS, MAX_PAGE_ENTRIES};

// The network (node/src/network).
/// Commands queued for the event loop.
pub const COMMAND_CHANNEL_CAPACITY: usize = 256;
/// Ingest jobs (gossip messages, sync pages) waiting for the store.
pub const INGEST_QUEUE_CAPACITY: usize = 128;
/// Entries verified and stored in one group commit, at most.
pub const MAX_INGEST_BATCH_ENTRIES: usize = 4096;
/// Newly stored entries buffered for each subscriber of the live feed.
pub const EVENT_CHANNEL_CAPACITY: usize = 1024;
/// Sync requests in flight to one peer.
pub const MAX_REQUESTS_PER_PEER: usize = 8;
/// How long a sync request may take.
pub const SYNC_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// The first wait before redialling a member whose dial failed (then doubling up to
/// `p2p.redial_interval_ms`).
pub const FIRST_REDIAL_BACKOFF_MS: u64 = 250;
/// Dialling every disconnected member because an incoming connection was refused
/// happens at most this often.
pub const MIN_DIAL_ALL_INTERVAL_MS: u64 = 1_000;
/// How often the event loop looks for members due a redial.
pub const REDIAL_TICK: Duration = Duration::from_millis(100);

/// How long a node that is no longer a member's (its key revoked or closed, its
/// administration removed) stays connected before it is disconnected: long enough
/// for the gossip of the entry that closed it to reach it, so that it learns why and
/// stops signing. Disconnecting at once raced that gossip, and a node that lost the
/// race never learnt (every member drops it on connect). Whatever it sends meanwhile
/// is refused, as it is from then on.
pub const CLOSING_GRACE: Duration = Duration::from_secs(5);

// The sync core (node/src/network/sync).
/// How long the side that did not dial waits for the dialer's exchange before it
/// starts one itself (the dialer's may have been lost, or both sides may think the
/// other dialed after a simultaneous dial).
pub const LISTENER_FALLBACK_MS: u64 = 2_000;
/// Frontier exchanges of ours in flight at once. More wait (are "due") until the
/// node has stored what the running ones brought, so that after a partition heals
/// and many members reconnect at once, the later exchanges find equal frontiers and
/// cost a few hundred bytes instead of every head again.
pub const MAX_EXCHANGES_IN_FLIGHT: usize = 2;
/// How long a due exchange waits for the node's fetches to finish before it starts
/// anyway (a slow peer must not hold every other exchange back).
pub const MAX_EXCHANGE_DELAY_MS: u64 = 5_000;

// The HTTP API (node/src/api).
/// Most fork proofs one answer lists.
pub const MAX_FORKS_LISTED: usize = 100;
/// Longest value `check` looks at.
pub const MAX_CHECK_VALUE_BYTES: usize = 1024;
/// Chunks of an export waiting for a slow client, at most.
pub const EXPORT_CHANNEL_CHUNKS: usize = 16;
pub const EXPORT_CHUNK_BYTES: usize = 64 * 1024;
/// Default and largest page of alerts.
pub const DEFAULT_PAGE_LIMIT: usize = 50;
/// How much of an oversized body is read and discarded before answering 413. Closing
/// the connection while a client is still sending makes most clients report a broken
/// pipe instead of the answer; past this bound, that is what an abusive client gets.
pub const MAX_DRAINED_BODY_BYTES: usize = 1024 * 1024;

/// Pause after a failed accept (out of file descriptors): the kernel's backlog holds
/// the next connections meanwhile.
pub const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(100);

// API tokens (node/src/tokens.rs).
/// Most tokens one node keeps.
pub const MAX_TOKENS: usize = 1024;
/// Longest token name.
pub const MAX_TOKEN_NAME_BYTES: usize = 64;

// The store (node/src/store).
/// Most alerts in one page.
pub const MAX_ALERT_PAGE: usize = 200;
/// Most index rows one alert query examines. A selective filter over a large log
/// returns a short (even empty) page with a cursor rather than scanning everything.
pub const MAX_ALERT_SCAN_ROWS: usize = 20_000;

/// How long opening the store waits for sled's directory lock: sled's background
/// writes of a handle just dropped in this process hold it a moment after the drop.
/// A store held by another process is reported as in use after this wait.
pub const OPEN_LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(1);
/// The same wait during a recovery, where readers may still hold a handle.
pub const RECOVER_LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(5);
/// The pause between two tries to take the lock.
pub const LOCK_RETRY_PAUSE: std::time::Duration = std::time::Duration::from_millis(50);

/// How long an Idempotency-Key is remembered: a client may retry a publish whose
/// answer it lost for at least a day (the promise in the README is 24 hours).
pub const IDEMPOTENCY_RETENTION_MS: u64 = 48 * 60 * 60 * 1000;
/// Expired idempotency keys forgotten per keyed publish, at most.
pub const MAX_IDEMPOTENCY_EXPIRED_PER_PUBLISH: usize = 64;
/// Longest Idempotency-Key accepted.
pub const MAX_IDEMPOTENCY_KEY_BYTES: usize = 255;

// Members (node/src/config.rs).
/// Most members a network may have: bounds connections, frontiers and memory.
pub const MAX_MEMBERS: usize = 256;
/// Most addresses on one member card.
pub const MAX_MEMBER_ADDRESSES: usize = 8;
/// Most member nodes a node keeps connected (members times their open node keys is
/// bounded by the protocol; this bounds what the network task holds).
pub const MAX_MEMBER_NODES: usize = 1024;

// The API client (node/src/client.rs).
/// Largest answer the CLI reads.
pub const MAX_RESPONSE_BYTES: u64 = 16 * 1024 * 1024;
/// Largest record or card file the CLI reads (a record is far smaller; the API's own
/// body limit decides what it takes).
pub const MAX_CLI_INPUT_BYTES: usize = 4 * 1024 * 1024;
/// Shortest entry-id prefix the API and the CLI accept (hex digits): 32 bits, so
/// that a prefix copied from a table finds one entry even in a large log.
pub const MIN_ID_PREFIX_HEX: usize = 8;

// Bundles (node/src/bundle.rs).
/// Entries verified and stored together during an import.
pub const IMPORT_BATCH_ENTRIES: usize = 1024;
/// Entries read per page while exporting.
pub const EXPORT_PAGE_ENTRIES: usize = 1024;
pub const EXPORT_PAGE_BYTES: usize = 4 * 1024 * 1024;

// Bounds that depend on each other.

// A page always fits one ingest batch.
const _: () = assert!(MAX_INGEST_BATCH_ENTRIES >= MAX_PAGE_ENTRIES as usize);
// Every peer's pages in flight fit the ingest queue at once.
const _: () = assert!(INGEST_QUEUE_CAPACITY >= MAX_REQUESTS_PER_PEER);
// The per-peer waiting queue holds one request per author: bounded by the heads a
// frontier answer may carry, which must cover every member.
const _: () = assert!(MAX_FRONTIER_HEADS > MAX_MEMBERS);
// Exchanges in flight take request slots too.
const _: () = assert!(MAX_EXCHANGES_IN_FLIGHT <= MAX_REQUESTS_PER_PEER);
// The listener's fallback and a due exchange's wait come well before a request
// would time out.
const _: () = assert!(LISTENER_FALLBACK_MS < SYNC_REQUEST_TIMEOUT.as_millis() as u64);
const _: () = assert!(MAX_EXCHANGE_DELAY_MS < SYNC_REQUEST_TIMEOUT.as_millis() as u64);
// Listings and pages stay within what the store scans for one page.
const _: () = assert!(MAX_ALERT_PAGE <= MAX_ALERT_SCAN_ROWS);
const _: () = assert!(DEFAULT_PAGE_LIMIT <= MAX_ALERT_PAGE);
// An export page of entries can always take at least one entry.
const _: () = assert!(EXPORT_PAGE_BYTES >= customs_protocol::limits::MAX_SIGNED_ENTRY_BYTES);
// The CLI reads any answer the API may send (a full alert page, an export chunk).
const _: () = assert!(MAX_RESPONSE_BYTES as usize >= EXPORT_CHUNK_BYTES);
