//! The member-only libp2p network: gossip for live push, a request-response sync
//! protocol for catch-up. One task (the event loop) owns the swarm; everything else
//! talks to it through [`Client`], a bounded command channel with oneshot replies.
//!
//! Architecture Invariant: only members stay connected (allow-list after the Noise
//! handshake, connection limits before it), and only entries that pass
//! [`crate::admission::Admission`] reach the store.

mod blobs;
mod codec;
mod event_loop;
mod inbound;
mod ingest;
pub mod sync;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use customs_protocol::{PublicKey, SecretKey, SignedEntry};
pub use libp2p::Multiaddr;
pub use libp2p::PeerId;
use thiserror::Error;
use tokio::sync::{broadcast, mpsc, oneshot};

pub use event_loop::spawn;
/// The ingest worker is public for the benchmark harness, which measures the node's
/// own path.
pub use ingest::{ingest_worker, IngestDone, IngestJob};

pub use crate::limits::COMMAND_CHANNEL_CAPACITY;
pub use crate::limits::EVENT_CHANNEL_CAPACITY;
pub use crate::limits::INGEST_QUEUE_CAPACITY;
pub use crate::limits::MAX_INGEST_BATCH_ENTRIES;
pub use crate::limits::MAX_REQUESTS_PER_PEER;
pub use crate::limits::REDIAL_TICK;
pub use crate::limits::SYNC_REQUEST_TIMEOUT;

#[derive(Debug, Error)]
pub enum NetworkError {
    #[error("invalid multiaddress {addr:?}: {reason}")]
    Address { addr: String, reason: String },
    #[error("cannot listen on {addr}: {reason}")]
    Listen { addr: Multiaddr, reason: String },
    #[error("cannot start the network: {0}")]
    Start(String),
    #[error("member key {0} cannot be a libp2p identity")]
    MemberKey(PublicKey),
    #[error("the network task has stopped")]
    Stopped,
    #[error("the request to {peer} failed: {reason}")]
    Request { peer: String, reason: String },
}

/// The node key an address names with `/p2p/PEER_ID` (a bootstrap address), if any.
pub fn key_in_address(address: &Multiaddr) -> Option<PublicKey> {
    address.iter().find_map(|p| match p {
        libp2p::multiaddr::Protocol::P2p(peer_id) => {
            let key = libp2p::identity::PublicKey::try_decode_protobuf(peer_id.as_ref().digest())
                .ok()?
                .try_into_ed25519()
                .ok()?;
            Some(PublicKey(key.to_bytes()))
        }
        _ => None,
    })
}

/// A member as the network layer sees it.
#[derive(Debug, Clone)]
pub struct Peer {
    pub code: String,
    pub key: PublicKey,
    pub addresses: Vec<Multiaddr>,
}

/// Everything the network layer needs; built from the node's configuration.
#[derive(Debug, Clone)]
pub struct NetworkConfig {
    pub key: SecretKey,
    pub code: String,
    pub network: String,
    pub listen: Multiaddr,
    /// The member nodes to connect to at start (then [`Client::set_members`]).
    pub members: Vec<Peer>,
    /// Who may sign what: read by admission for every entry, replaced live.
    pub membership: crate::membership::MembershipView,
    /// Addresses dialled at start (a joining node's way in).
    pub bootstrap: Vec<Multiaddr>,
    pub sync_interval: Duration,
    /// The longest wait between dials of a disconnected member.
    pub redial_interval: Duration,
    pub ping_interval: Duration,
    pub ping_timeout: Duration,
    pub handshake_timeout: Duration,
    pub max_clock_skew_ms: u64,
    pub max_pending_incoming: u32,
    pub max_pending_incoming_per_address: u32,
    pub max_established_total: u32,
    pub max_established_per_peer: u32,
}

/// What the node knows about one member's node.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct PeerStatus {
    pub code: String,
    pub public_key: String,
    pub peer_id: String,
    pub connected: bool,
    /// When a frontier exchange with this peer last completed (Unix ms).
    pub last_sync_ms: Option<u64>,
    /// Entries this peer had that we lacked at the last exchange.
    pub lag_entries: u64,
    /// Whether the last exchange found the peer's frontier equal to ours, and ours has
    /// not changed since.
    pub in_sync: bool,
    /// Entries from this peer that were stored.
    pub entries_received: u64,
    /// Entries from this peer refused, by reason.
    pub rejected: BTreeMap<String, u64>,
    /// Entries of ours this peer refused, by reason, as it said at the last exchange.
    pub refused_ours: Vec<customs_protocol::wire::Refusal>,
    /// This peer's clock minus ours (ms), estimated at the last exchange.
    pub clock_offset_ms: Option<i64>,
    /// The peer's gossipsub score, when scoring has seen it.
    pub score: Option<f64>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct NetworkStatus {
    /// Bytes of sync messages received (requests and answers, with framing).
    pub sync_bytes_received: u64,
    pub peer_id: String,
    pub listen_addrs: Vec<String>,
    pub peers: Vec<PeerStatus>,
    /// Gossip verdicts and sync requests, as the sync core counts them (flattened:
    /// the JSON keys are the counters' own).
    #[serde(flatten)]
    pub counters: sync::core::Counters,
    /// Batches of received entries the store failed to write (disk full or
    /// unreadable): nothing of them was stored, and catch-up asks for them again.
    pub ingest_store_failures: u64,
    /// Whether a member has confirmed that this key has no entries we lack.
    pub own_log_confirmed: bool,
    /// Our clock's offset from the members' (their clock minus ours, ms; the median
    /// over connected members), once estimated.
    pub clock_offset_ms: Option<i64>,
}

enum Command {
    /// No reply: the publisher answers its client once the entry is queued here, not
    /// after a round trip through the event loop (which costs a wake-up each way).
    Gossip {
        entry: Box<SignedEntry>,
    },
    Status {
        reply: oneshot::Sender<NetworkStatus>,
    },
    ListenAddrs {
        reply: oneshot::Sender<Vec<Multiaddr>>,
    },
    Dial {
        peer: PublicKey,
        addr: Multiaddr,
        reply: oneshot::Sender<Result<(), NetworkError>>,
    },
    SyncNow {
        reply: oneshot::Sender<usize>,
    },
    SetMembers {
        members: Vec<Peer>,
        limits: std::collections::HashMap<PublicKey, u64>,
        reply: oneshot::Sender<()>,
    },
    Shutdown {
        reply: oneshot::Sender<()>,
    },
    /// One chunk of a blob from one peer (see [`crate::blobs::fetch`]).
    BlobChunk {
        peer: PeerId,
        request: customs_protocol::attachment::BlobRequest,
        reply: oneshot::Sender<Result<customs_protocol::attachment::BlobResponse, NetworkError>>,
    },
}

/// A handle on the network task. Cheap to clone. The network stops on
/// [`Client::shutdown`] or when every clone is dropped.
#[derive(Clone, Debug)]
pub struct Client {
    commands: mpsc::Sender<Command>,
    events: broadcast::Sender<SignedEntry>,
    facts: Arc<SyncFacts>,
}

/// What the network task has learned that signing depends on, readable without
/// asking it (publishing must not wait on the network task).
#[derive(Debug)]
pub struct SyncFacts {
    own_log_confirmed: AtomicBool,
    own_log_held_by_member: AtomicBool,
    /// `i64::MIN` while unknown.
    clock_offset_ms: AtomicI64,
    /// How many members the offset rests on.
    clock_members: std::sync::atomic::AtomicUsize,
}

impl SyncFacts {
    fn new(own_log_confirmed: bool) -> SyncFacts {
        SyncFacts {
            own_log_confirmed: AtomicBool::new(own_log_confirmed),
            own_log_held_by_member: AtomicBool::new(false),
            clock_offset_ms: AtomicI64::new(i64::MIN),
            clock_members: std::sync::atomic::AtomicUsize::new(0),
        }
    }

    fn set(&self, confirmed: bool, held: bool, clock: Option<(i64, usize)>) {
        self.own_log_confirmed.store(confirmed, Ordering::Relaxed);
        self.own_log_held_by_member.store(held, Ordering::Relaxed);
        let (offset, members) = clock.unwrap_or((i64::MIN, 0));
        self.clock_offset_ms.store(offset, Ordering::Relaxed);
        self.clock_members.store(members, Ordering::Relaxed);
    }
}

impl std::fmt::Debug for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Command::Gossip { .. } => "Gossip",
            Command::Status { .. } => "Status",
            Command::ListenAddrs { .. } => "ListenAddrs",
            Command::Dial { .. } => "Dial",
            Command::SyncNow { .. } => "SyncNow",
            Command::Shutdown { .. } => "Shutdown",
            Command::SetMembers { .. } => "SetMembers",
            Command::BlobChunk { .. } => "BlobChunk",
        })
    }
}

impl Client {
    async fn ask<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<T>) -> Command,
    ) -> Result<T, NetworkError> {
        let (reply, answer) = oneshot::channel();
        self.commands
            .send(make(reply))
            .await
            .map_err(|_| NetworkError::Stopped)?;
        answer.await.map_err(|_| NetworkError::Stopped)
    }

    /// Queues an entry that is already stored for the members (the bounded queue holds
    /// the publisher back when the event loop falls behind).
    pub async fn gossip(&self, entry: SignedEntry) -> Result<(), NetworkError> {
        let entry = Box::new(entry);
        self.commands
            .send(Command::Gossip { entry })
            .await
            .map_err(|_| NetworkError::Stopped)
    }

    pub async fn status(&self) -> Result<NetworkStatus, NetworkError> {
        self.ask(|reply| Command::Status { reply }).await
    }

    /// The addresses the node listens on (once the listener is up).
    pub async fn listen_addrs(&self) -> Result<Vec<Multiaddr>, NetworkError> {
        self.ask(|reply| Command::ListenAddrs { reply }).await
    }

    /// Dials a member at an address (and remembers the address for redials).
    pub async fn dial(&self, peer: PublicKey, addr: Multiaddr) -> Result<(), NetworkError> {
        self.ask(|reply| Command::Dial { peer, addr, reply })
            .await?
    }

    /// Starts a frontier exchange with every connected peer now; returns how many.
    pub async fn sync_now(&self) -> Result<usize, NetworkError> {
        self.ask(|reply| Command::SyncNow { reply }).await
    }

    /// The membership changed: keep `members` connected (new ones allowed and
    /// dialled, others disconnected) and fetch each key of `limits` up to its seq.
    pub async fn set_members(
        &self,
        members: Vec<Peer>,
        limits: std::collections::HashMap<PublicKey, u64>,
    ) -> Result<(), NetworkError> {
        self.ask(|reply| Command::SetMembers {
            members,
            limits,
            reply,
        })
        .await
    }

    /// Asks `peer` for one chunk of a blob.
    pub async fn blob_chunk(
        &self,
        peer: PeerId,
        request: customs_protocol::attachment::BlobRequest,
    ) -> Result<customs_protocol::attachment::BlobResponse, NetworkError> {
        self.ask(|reply| Command::BlobChunk {
            peer,
            request,
            reply,
        })
        .await?
    }

    /// The member nodes connected now: their member codes and peer ids.
    pub async fn connected_members(&self) -> Result<Vec<(String, PeerId)>, NetworkError> {
        let status = self.status().await?;
        Ok(status
            .peers
            .into_iter()
            .filter(|p| p.connected)
            .filter_map(|p| Some((p.code, p.peer_id.parse().ok()?)))
            .collect())
    }

    /// Stops the network: closes every connection and ends the task.
    pub async fn shutdown(&self) -> Result<(), NetworkError> {
        self.ask(|reply| Command::Shutdown { reply }).await
    }

    /// Whether a member's frontier has shown that no entry of this node's own key
    /// exists that the store lacks (always true for a network of one). Until then a
    /// node with an empty own log must not sign: its seq 1 may already be taken.
    pub fn own_log_confirmed(&self) -> bool {
        self.facts.own_log_confirmed.load(Ordering::Relaxed)
    }

    /// Whether a member has shown that it holds entries of this node's key: from then
    /// on the first node's permission to publish unsynced is spent.
    pub fn own_log_held_by_member(&self) -> bool {
        self.facts.own_log_held_by_member.load(Ordering::Relaxed)
    }

    /// This node's clock offset from its members' (their clock minus ours, ms), once
    /// an exchange has estimated it.
    pub fn clock_offset_ms(&self) -> Option<i64> {
        self.clock_estimate().map(|e| e.0)
    }

    /// [`Client::clock_offset_ms`] and how many members it rests on.
    pub fn clock_estimate(&self) -> Option<(i64, usize)> {
        let offset = self.facts.clock_offset_ms.load(Ordering::Relaxed);
        let members = self.facts.clock_members.load(Ordering::Relaxed);
        (offset != i64::MIN).then_some((offset, members))
    }

    /// Entries as they are stored (own and received): the live feed.
    pub fn subscribe(&self) -> broadcast::Receiver<SignedEntry> {
        self.events.subscribe()
    }
}

/// The libp2p identity of a member key.
pub fn peer_id_of(key: &PublicKey) -> Result<PeerId, NetworkError> {
    let ed = libp2p::identity::ed25519::PublicKey::try_from_bytes(&key.0)
        .map_err(|_| NetworkError::MemberKey(*key))?;
    Ok(libp2p::identity::PublicKey::from(ed).to_peer_id())
}

/// Parses a multiaddress from configuration.
pub fn parse_multiaddr(text: &str) -> Result<Multiaddr, NetworkError> {
    text.parse()
        .map_err(|e: libp2p::multiaddr::Error| NetworkError::Address {
            addr: text.to_string(),
            reason: e.to_string(),
        })
}
