//! The sync and gossip state machine: `handle(input, now_ms, frontier) -> outputs`.
//!
//! Rules it keeps (each checked by [`SyncCore::check_invariants`] in the simulator):
//! - at most [`MAX_REQUESTS_PER_PEER`] requests per peer in flight, a page holding its
//!   slot until it is stored, so one fast peer cannot overrun the ingest queue;
//!   requests beyond that wait in a per-peer queue (one per author) and go out as
//!   slots free, so a catch-up from many authors needs one exchange;
//! - one range per author in flight at a time, from any peer;
//! - at most [`INGEST_QUEUE_CAPACITY`] ingest jobs outstanding: a gossip message
//!   beyond that is reported Ignore (neither relayed nor penalised) and a page is asked
//!   again when the queue drains;
//! - one frontier exchange per peer at a time. On a new connection the dialing side
//!   starts it; the other side starts its own only when the first showed a difference
//!   (its digests differed from ours), or after [`LISTENER_FALLBACK_MS`] if none came.
//!   So two nodes that agree exchange one small round trip, and one entry missing
//!   among a million costs two round trips for the node that lacks it.
//! - every gossip message gets exactly one verdict.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::fmt::Debug;
use std::hash::Hash;

use customs_protocol::chain::Outcome;
use customs_protocol::limits::{MAX_FRONTIER_HEADS, MAX_PAGE_ENTRIES};
use customs_protocol::limits::{MAX_REFUSALS, MAX_REFUSAL_REASON_BYTES};
use customs_protocol::wire::{Frontier, Head, Refusal, SyncRequest, SyncResponse};
use customs_protocol::PublicKey;

use super::plan::{entries_request, lag, plan};
use crate::admission::Rejection;
use crate::limits::{
    INGEST_QUEUE_CAPACITY, LISTENER_FALLBACK_MS, MAX_EXCHANGES_IN_FLIGHT, MAX_EXCHANGE_DELAY_MS,
    MAX_REQUESTS_PER_PEER,
};

/// The types the core passes through without looking inside.
pub trait Transport {
    /// A member's node.
    type Peer: Copy + Eq + Hash + Ord + Debug;
    /// A gossip message awaiting its verdict.
    type Message: Debug;
    /// Where the answer to a request goes.
    type Channel: Debug;
}

/// A request this core sent, as it names it.
pub type RequestId = u64;
/// A batch handed to the ingest worker.
pub type JobId = u64;

/// The verdict on a gossip message (gossipsub's acceptance).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Stored (or ahead of our head and kept): relay it.
    Accept,
    /// Refused by a rule: penalise the sender, do not relay.
    Reject,
    /// Held already, no new evidence, or no room: neither relay nor penalise.
    Ignore,
}

/// Timers the core asks for; they come back as [`Input::Timer`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Timer<P> {
    /// The listener's fallback exchange on a connection (of that generation).
    ListenerFallback { peer: P, connection: u64 },
}

/// Per item of an ingest job: where it went and its seq, or why it was refused.
pub type ItemResult = Result<(Outcome, u64), Rejection>;

#[derive(Debug)]
pub enum Input<T: Transport> {
    /// The periodic sync timer: an exchange with a random connected member.
    Tick,
    /// "Sync now" from an operator: an exchange with every connected member.
    SyncNow,
    /// The first connection to a member opened; `dialer` when we dialed it.
    Connected {
        peer: T::Peer,
        dialer: bool,
    },
    /// The last connection to a member closed.
    Disconnected {
        peer: T::Peer,
    },
    Timer(Timer<T::Peer>),
    /// A peer's request to us.
    Asked {
        peer: T::Peer,
        request: SyncRequest,
        channel: T::Channel,
    },
    /// The answer to our request `id` (already decoded and within bounds).
    Answered {
        id: RequestId,
        response: SyncResponse,
    },
    /// Our request `id` failed (timeout, closed connection, unreadable answer).
    Failed {
        id: RequestId,
    },
    /// A gossip message, before any verdict. `anonymous` is false when it carries an
    /// author or a sequence number (SPEC.md section 11: members' messages carry
    /// neither; entries are signed on their own).
    Gossip {
        source: T::Peer,
        message: T::Message,
        data: Vec<u8>,
        anonymous: bool,
    },
    /// The ingest worker's results for a job, one per item in order; or why the store
    /// failed to write the batch (nobody's fault but the disk's).
    Ingested {
        job: JobId,
        results: Result<Vec<ItemResult>, String>,
    },
    /// Of the heads handed out in [`Output::CheckHeads`], those where our chain holds
    /// another entry at that seq.
    HeadsChecked {
        peer: T::Peer,
        differing: Vec<Head>,
    },
}

#[derive(Debug)]
pub enum Output<T: Transport> {
    Send {
        peer: T::Peer,
        id: RequestId,
        request: SyncRequest,
    },
    /// Answer `request` from the store (a frontier answer carries `stamp`).
    Serve {
        request: SyncRequest,
        channel: T::Channel,
        stamp: Stamp,
    },
    /// A member refused more of our entries for `refusal.reason` than it had said
    /// before: for the logs and the audit log.
    RefusedByPeer {
        peer: T::Peer,
        refusal: Refusal,
    },
    /// Verify and store these signed entries; answer with [`Input::Ingested`].
    Ingest {
        job: JobId,
        items: Vec<Vec<u8>>,
    },
    /// Compare these heads (each below our head's seq) with our chains; answer with
    /// [`Input::HeadsChecked`].
    CheckHeads {
        peer: T::Peer,
        heads: Vec<Head>,
    },
    /// The one verdict on a gossip message.
    Report {
        message: T::Message,
        source: T::Peer,
        verdict: Verdict,
    },
    SetTimer {
        at_ms: u64,
        timer: Timer<T::Peer>,
    },
}

/// What a frontier answer carries besides the heads: the answering node's clock and
/// why it refused the asking member's own entries.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stamp {
    pub now_ms: u64,
    pub refusals: Vec<Refusal>,
}

/// What the core knows about one member's node (and shows in the status).
#[derive(Debug, Clone)]
pub struct PeerSync {
    pub code: String,
    pub key: PublicKey,
    pub connected: bool,
    /// Counts connections, so that answers and timers of an earlier connection are
    /// told apart from the current one's.
    connection: u64,
    /// A frontier exchange of ours with this peer is in flight or queued.
    exchanging: bool,
    /// This connection has seen an exchange (ours or theirs).
    exchanged: bool,
    /// Our digests when we last asked this peer on this connection: a differing
    /// request from it starts our own exchange only if we have not asked it with
    /// what we hold now (else two nodes would answer each other's asks forever).
    asked_with: Option<Vec<[u8; 32]>>,
    /// When a frontier exchange with this peer last completed (Unix ms).
    pub last_sync_ms: Option<u64>,
    /// Entries this peer had that we lacked at the last exchange.
    pub lag_entries: u64,
    /// Our bucket digests when the peer last showed its frontier equal to ours.
    pub synced_at: Option<Vec<[u8; 32]>>,
    pub entries_received: u64,
    pub rejected: BTreeMap<String, u64>,
    /// Why this member refused entries of ours, as it said at the last exchange.
    pub refused_ours: Vec<Refusal>,
    /// The member's clock minus ours (ms), estimated at the last exchange from its
    /// answer's time and the round trip.
    pub clock_offset_ms: Option<i64>,
    in_flight: usize,
    waiting: VecDeque<SyncRequest>,
}

impl PeerSync {
    fn new(code: String, key: PublicKey) -> PeerSync {
        PeerSync {
            code,
            key,
            connected: false,
            connection: 0,
            exchanging: false,
            exchanged: false,
            asked_with: None,
            last_sync_ms: None,
            lag_entries: 0,
            synced_at: None,
            entries_received: 0,
            rejected: BTreeMap::new(),
            refused_ours: Vec::new(),
            clock_offset_ms: None,
            in_flight: 0,
            waiting: VecDeque::new(),
        }
    }

    /// Whether the last exchange found the peer's frontier equal to ours and ours has
    /// not changed since.
    pub fn in_sync(&self, digests: &[[u8; 32]]) -> bool {
        self.connected && self.synced_at.as_deref() == Some(digests)
    }

    pub fn requests_in_flight(&self) -> usize {
        self.in_flight
    }
}

/// Network-wide counters for the status and the metrics.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct Counters {
    /// Gossip messages stored, already held, and refused by reason.
    pub gossip_accepted: u64,
    pub gossip_duplicates: u64,
    pub gossip_rejected: BTreeMap<String, u64>,
    /// Frontier exchanges completed.
    pub sync_rounds: u64,
    /// Sync requests this node sent: frontier exchanges it started, and entries
    /// (pages and fork proofs) it asked for.
    pub sync_frontier_requests: u64,
    pub sync_entries_requests: u64,
}

#[derive(Debug)]
enum Origin<T: Transport> {
    Gossip {
        message: T::Message,
        source: T::Peer,
    },
    Page {
        peer: T::Peer,
        connection: u64,
        author: PublicKey,
        more: bool,
    },
}

#[derive(Debug)]
struct Sent<P> {
    peer: P,
    connection: u64,
    request: SyncRequest,
    sent_at_ms: u64,
}

/// A frontier with its bucket digests, computed once per change.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub frontier: Frontier,
    pub digests: Vec<[u8; 32]>,
}

impl Snapshot {
    pub fn new(frontier: Frontier) -> Self {
        let digests = frontier.bucket_digests();
        Snapshot { frontier, digests }
    }

    /// Moves one author's head (and its fork mark), rehashing only its bucket.
    pub fn update(&mut self, head: Head) {
        self.frontier.insert(head);
        let bucket = customs_protocol::wire::bucket_of(&head.author);
        self.digests[bucket] = self.frontier.bucket_digest(bucket);
    }
}

/// The member key of `peer`, if it is a member.
fn state_key<P: Ord>(peers: &BTreeMap<P, PeerSync>, peer: &P) -> Option<PublicKey> {
    peers.get(peer).map(|s| s.key)
}

/// SplitMix64: the core's only source of randomness, seeded by its owner.
#[derive(Debug, Clone)]
pub struct SplitMix(pub u64);

impl SplitMix {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (0 when n is 0).
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next_u64() % n
        }
    }
}

/// The sync state machine of one node.
pub struct SyncCore<T: Transport> {
    own_key: PublicKey,
    /// Members' node keys and our own: the authors we fetch, each up to the highest
    /// seq it may sign (`u64::MAX`: no limit).
    authors: HashMap<PublicKey, u64>,
    peers: BTreeMap<T::Peer, PeerSync>,
    sent: HashMap<RequestId, Sent<T::Peer>>,
    jobs: HashMap<JobId, Origin<T>>,
    /// Authors whose entries are being fetched (asked, or being stored), from anyone.
    fetching: HashSet<PublicKey>,
    /// Requests waiting for a slot, over all peers.
    waiting: usize,
    /// Exchanges to start when there is room, oldest first, with when each was due.
    /// At most one per peer.
    due: VecDeque<(T::Peer, u64)>,
    /// The time of the input being handled.
    now_ms: u64,
    next_id: u64,
    own_log_confirmed: bool,
    /// A member's frontier has shown that it holds entries of our key.
    own_log_held_by_member: bool,
    /// Entries of members refused here, by author and reason: told to the author's
    /// node in our frontier answers. Bounded by the members and the reason names.
    refused: HashMap<PublicKey, BTreeMap<&'static str, Refusal>>,
    counters: Counters,
    rng: SplitMix,
    out: Vec<Output<T>>,
}

impl<T: Transport> std::fmt::Debug for SyncCore<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SyncCore")
            .field("peers", &self.peers)
            .field("requests_in_flight", &self.sent.len())
            .field("jobs_outstanding", &self.jobs.len())
            .finish_non_exhaustive()
    }
}

impl<T: Transport> SyncCore<T> {
    /// `members`: each member's node with its code and key (ours excluded).
    pub fn new(
        own_key: PublicKey,
        members: impl IntoIterator<Item = (T::Peer, String, PublicKey)>,
        seed: u64,
    ) -> Self {
        let mut authors = HashMap::from([(own_key, u64::MAX)]);
        let peers: BTreeMap<T::Peer, PeerSync> = members
            .into_iter()
            .map(|(peer, code, key)| {
                authors.insert(key, u64::MAX);
                (peer, PeerSync::new(code, key))
            })
            .collect();
        SyncCore {
            own_key,
            authors,
            // A network of one has nobody who could hold entries of ours.
            own_log_confirmed: peers.is_empty(),
            own_log_held_by_member: false,
            peers,
            sent: HashMap::new(),
            jobs: HashMap::new(),
            fetching: HashSet::new(),
            waiting: 0,
            due: VecDeque::new(),
            now_ms: 0,
            next_id: 0,
            refused: HashMap::new(),
            counters: Counters::default(),
            rng: SplitMix(seed),
            out: Vec::new(),
        }
    }

    /// The membership changed: `members` are the member nodes now (ours excluded),
    /// `limits` every node key to fetch with the highest seq it may sign. A peer no
    /// longer listed is forgotten (its requests freed); a new one waits to connect.
    pub fn set_members(
        &mut self,
        members: impl IntoIterator<Item = (T::Peer, String, PublicKey)>,
        limits: HashMap<PublicKey, u64>,
    ) {
        let members: BTreeMap<T::Peer, (String, PublicKey)> = members
            .into_iter()
            .map(|(peer, code, key)| (peer, (code, key)))
            .collect();
        let gone: Vec<T::Peer> = self
            .peers
            .keys()
            .filter(|p| !members.contains_key(p))
            .copied()
            .collect();
        for peer in gone {
            self.on_disconnected(peer);
            self.peers.remove(&peer);
        }
        for (peer, (code, key)) in members {
            match self.peers.get_mut(&peer) {
                Some(state) => {
                    state.code = code;
                    state.key = key;
                }
                None => {
                    self.peers.insert(peer, PeerSync::new(code, key));
                }
            }
        }
        let own_limit = limits.get(&self.own_key).copied().unwrap_or(u64::MAX);
        self.authors = limits;
        self.authors.insert(self.own_key, own_limit);
        let authors = &self.authors;
        self.refused
            .retain(|author, _| authors.contains_key(author));
    }

    pub fn peers(&self) -> impl Iterator<Item = (&T::Peer, &PeerSync)> {
        self.peers.iter()
    }

    pub fn peer(&self, peer: &T::Peer) -> Option<&PeerSync> {
        self.peers.get(peer)
    }

    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// Whether a member's frontier has shown no entry of our own key that we lack.
    pub fn own_log_confirmed(&self) -> bool {
        self.own_log_confirmed
    }

    /// Whether a member's frontier has shown that it holds entries of our own key
    /// (from then on a restored copy of our store could fork our log).
    pub fn own_log_held_by_member(&self) -> bool {
        self.own_log_held_by_member
    }

    pub fn connected_peers(&self) -> Vec<T::Peer> {
        self.peers
            .iter()
            .filter(|(_, s)| s.connected)
            .map(|(p, _)| *p)
            .collect()
    }

    /// Ingest jobs handed out and not yet answered.
    pub fn jobs_outstanding(&self) -> usize {
        self.jobs.len()
    }

    /// Handles one input; returns what to do.
    pub fn handle(&mut self, input: Input<T>, now_ms: u64, ours: &Snapshot) -> Vec<Output<T>> {
        self.now_ms = now_ms;
        match input {
            Input::Tick => {
                let connected = self.connected_peers();
                if !connected.is_empty() {
                    let pick = self.rng.below(connected.len() as u64) as usize;
                    self.start_exchange(connected[pick], ours);
                }
            }
            Input::SyncNow => {
                for peer in self.connected_peers() {
                    self.start_exchange(peer, ours);
                }
            }
            Input::Connected { peer, dialer } => self.on_connected(peer, dialer, now_ms, ours),
            Input::Disconnected { peer } => self.on_disconnected(peer),
            Input::Timer(Timer::ListenerFallback { peer, connection }) => {
                let due = self
                    .peers
                    .get(&peer)
                    .is_some_and(|s| s.connected && s.connection == connection && !s.exchanged);
                if due {
                    self.start_exchange(peer, ours);
                }
            }
            Input::Asked {
                peer,
                request,
                channel,
            } => self.on_asked(peer, request, channel, now_ms, ours),
            Input::Answered { id, response } => self.on_answered(id, response, now_ms, ours),
            Input::Failed { id } => {
                if let Some(sent) = self.sent.remove(&id) {
                    tracing::debug!(peer = ?sent.peer, "sync request failed");
                    self.end_request(&sent);
                    if sent.request.author().is_some() {
                        // Other peers' exchanges skipped this author while it was
                        // being fetched: re-plan it now with someone else rather than
                        // wait for the next sync round.
                        self.exchange_with_another(sent.peer, ours);
                    }
                }
            }
            Input::Gossip {
                source,
                message,
                data,
                anonymous,
            } => {
                if !anonymous {
                    // A misconfigured member: refused, and counted so that it shows.
                    self.count_rejection(source, "GossipNotAnonymous", true);
                    self.out.push(Output::Report {
                        message,
                        source,
                        verdict: Verdict::Reject,
                    });
                } else if self.jobs.len() >= INGEST_QUEUE_CAPACITY {
                    // Overloaded: neither relay nor penalise; catch-up will fetch it.
                    self.out.push(Output::Report {
                        message,
                        source,
                        verdict: Verdict::Ignore,
                    });
                } else {
                    self.ingest(Origin::Gossip { message, source }, vec![data]);
                }
            }
            Input::Ingested { job, results } => self.on_ingested(job, results, ours),
            Input::HeadsChecked { peer, differing } => {
                for head in differing {
                    self.send(peer, entries_request(head.author, head.seq, 1));
                }
            }
        }
        self.pump();
        self.start_due_exchanges(ours);
        std::mem::take(&mut self.out)
    }

    fn on_connected(&mut self, peer: T::Peer, dialer: bool, now_ms: u64, ours: &Snapshot) {
        let Some(state) = self.peers.get_mut(&peer) else {
            return;
        };
        tracing::info!(member = %state.code, "connected");
        state.connected = true;
        state.connection += 1;
        state.exchanging = false;
        state.exchanged = false;
        state.asked_with = None;
        state.in_flight = 0;
        self.waiting -= state.waiting.len();
        state.waiting.clear();
        let connection = state.connection;
        if dialer {
            self.start_exchange(peer, ours);
        } else {
            self.out.push(Output::SetTimer {
                at_ms: now_ms + LISTENER_FALLBACK_MS,
                timer: Timer::ListenerFallback { peer, connection },
            });
        }
    }

    fn on_disconnected(&mut self, peer: T::Peer) {
        let Some(state) = self.peers.get_mut(&peer) else {
            return;
        };
        tracing::info!(member = %state.code, "disconnected");
        state.connected = false;
        state.synced_at = None;
        state.exchanging = false;
        state.in_flight = 0;
        self.waiting -= state.waiting.len();
        state.waiting.clear();
        self.due.retain(|(p, _)| *p != peer);
        // Requests to it will never be answered: free their authors for other peers.
        // (Pages of it being stored keep their author until they are stored.)
        let lost: Vec<RequestId> = self
            .sent
            .iter()
            .filter(|(_, s)| s.peer == peer)
            .map(|(id, _)| *id)
            .collect();
        for id in lost {
            if let Some(author) = self.sent.remove(&id).and_then(|s| s.request.author()) {
                self.fetching.remove(&author);
            }
        }
    }

    fn on_asked(
        &mut self,
        peer: T::Peer,
        request: SyncRequest,
        channel: T::Channel,
        now_ms: u64,
        ours: &Snapshot,
    ) {
        let Some(state) = self.peers.get_mut(&peer) else {
            return; // not a member: no answer
        };
        if let SyncRequest::Frontier { bucket_digests } = &request {
            state.exchanged = true;
            if *bucket_digests == ours.digests {
                // Their frontier equals ours: in sync both ways, nothing to ask (an
                // exchange of ours that was due is moot).
                self.due.retain(|(p, _)| *p != peer);
                state.synced_at = Some(ours.digests.clone());
                state.lag_entries = 0;
                state.last_sync_ms = Some(now_ms);
                // It holds no entry of ours that we lack, and what we hold.
                self.own_log_confirmed = true;
                if ours.frontier.get(&self.own_key).is_some() {
                    self.own_log_held_by_member = true;
                }
            } else if state.asked_with.as_ref() != Some(&ours.digests) {
                // A difference we have not asked about: we may lack something too.
                self.start_exchange(peer, ours);
            }
        }
        let stamp = Stamp {
            now_ms,
            refusals: self.refusals_of(&state_key(&self.peers, &peer)),
        };
        self.out.push(Output::Serve {
            request,
            channel,
            stamp,
        });
    }

    /// What we refused of `author`'s entries, for its node (at most [`MAX_REFUSALS`]).
    fn refusals_of(&self, author: &Option<PublicKey>) -> Vec<Refusal> {
        author
            .and_then(|a| self.refused.get(&a))
            .map(|by_reason| by_reason.values().take(MAX_REFUSALS).cloned().collect())
            .unwrap_or_default()
    }

    /// Notes that an entry of member `author` at `seq` was refused for `reason`.
    fn note_refusal(&mut self, author: PublicKey, seq: u64, reason: &'static str) {
        if !self.authors.contains_key(&author) || author == self.own_key {
            return;
        }
        let reason = if reason.len() > MAX_REFUSAL_REASON_BYTES || reason.is_empty() {
            "Other"
        } else {
            reason
        };
        let by_reason = self.refused.entry(author).or_default();
        if by_reason.len() >= MAX_REFUSALS && !by_reason.contains_key(reason) {
            return;
        }
        let refusal = by_reason.entry(reason).or_insert_with(|| Refusal {
            reason: reason.to_string(),
            count: 0,
            last_seq: 0,
            last_at_ms: 0,
        });
        refusal.count += 1;
        refusal.last_seq = seq;
        refusal.last_at_ms = self.now_ms;
    }

    /// Our clock's offset from the members' (their clock minus ours, ms): the median
    /// of the connected members' last estimates; `None` before any.
    pub fn clock_offset_ms(&self) -> Option<i64> {
        self.clock_estimate().map(|e| e.0)
    }

    /// [`SyncCore::clock_offset_ms`] and how many members it rests on.
    pub fn clock_estimate(&self) -> Option<(i64, usize)> {
        let mut offsets: Vec<i64> = self
            .peers
            .values()
            .filter(|s| s.connected)
            .filter_map(|s| s.clock_offset_ms)
            .collect();
        if offsets.is_empty() {
            return None;
        }
        offsets.sort_unstable();
        let middle = offsets.len() / 2;
        let median = if offsets.len() % 2 == 1 {
            offsets[middle]
        } else {
            // The mean of the two middle values, without overflow.
            offsets[middle - 1] / 2 + offsets[middle] / 2
        };
        Some((median, offsets.len()))
    }

    fn on_answered(&mut self, id: RequestId, response: SyncResponse, now_ms: u64, ours: &Snapshot) {
        let Some(sent) = self.sent.remove(&id) else {
            return; // of a connection that has closed since
        };
        let peer = sent.peer;
        match (&sent.request, response) {
            (
                SyncRequest::Frontier { bucket_digests },
                SyncResponse::Frontier {
                    heads,
                    now_ms: their_now_ms,
                    refusals,
                },
            ) => {
                self.end_request(&sent);
                self.on_stamp(peer, &sent, their_now_ms, refusals, now_ms);
                self.counters.sync_rounds += 1;
                let authors = &self.authors;
                let wanted = |author: &PublicKey| authors.get(author).copied();
                let plan = plan(&ours.frontier, &heads, wanted);
                let our_seq = ours.frontier.get(&self.own_key).map_or(0, |h| h.seq);
                let their_own = heads.iter().find(|h| h.author == self.own_key);
                if their_own.is_none_or(|h| h.seq <= our_seq) {
                    self.own_log_confirmed = true;
                }
                // A head of ours in the answer, or our bucket agreeing while we hold
                // entries of our own: the member holds some of them.
                let own_bucket = customs_protocol::wire::bucket_of(&self.own_key);
                let bucket_agrees = !heads
                    .iter()
                    .any(|h| customs_protocol::wire::bucket_of(&h.author) == own_bucket);
                if their_own.is_some() || (bucket_agrees && our_seq > 0) {
                    self.own_log_held_by_member = true;
                }
                if let Some(state) = self.peers.get_mut(&peer) {
                    state.last_sync_ms = Some(now_ms);
                    state.lag_entries = lag(&ours.frontier, &heads, wanted);
                    // No differing bucket: the peer's frontier equals ours as we sent it.
                    state.synced_at = heads.is_empty().then(|| bucket_digests.clone());
                }
                for request in plan.requests {
                    self.send(peer, request);
                }
                if !plan.to_check.is_empty() {
                    self.out.push(Output::CheckHeads {
                        peer,
                        heads: plan.to_check,
                    });
                }
            }
            (request, SyncResponse::Entries { entries, more }) if request.author().is_some() => {
                let author = request.author().unwrap_or(self.own_key);
                if entries.is_empty() {
                    self.end_request(&sent);
                } else if self.jobs.len() >= INGEST_QUEUE_CAPACITY {
                    // The queue is full of other work: ask again when it drains.
                    tracing::debug!("ingest queue full; the page will be asked again");
                    self.fetching.remove(&author);
                    if let Some(state) = self.peers.get_mut(&peer) {
                        state.in_flight -= 1;
                        state.waiting.push_front(sent.request);
                        self.waiting += 1;
                    }
                } else {
                    // The slot and the author stay taken until the page is stored.
                    let origin = Origin::Page {
                        peer,
                        connection: sent.connection,
                        author,
                        more,
                    };
                    self.ingest(origin, entries);
                }
            }
            (_, response) => {
                self.end_request(&sent);
                match response {
                    SyncResponse::Refused { reason } => {
                        tracing::warn!(?peer, %reason, "sync request refused")
                    }
                    _ => tracing::warn!(?peer, "sync answer does not match the request"),
                }
            }
        }
    }

    /// Takes in a frontier answer's clock and refusals.
    fn on_stamp(
        &mut self,
        peer: T::Peer,
        sent: &Sent<T::Peer>,
        their_now_ms: u64,
        refusals: Vec<Refusal>,
        now_ms: u64,
    ) {
        let Some(state) = self.peers.get_mut(&peer) else {
            return;
        };
        // Their clock read between our send and the answer: against the midpoint,
        // the error is at most half the round trip.
        let midpoint = sent.sent_at_ms / 2 + now_ms / 2;
        let offset = i128::from(their_now_ms) - i128::from(midpoint);
        state.clock_offset_ms =
            Some(offset.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64);
        for refusal in &refusals {
            let before = state
                .refused_ours
                .iter()
                .find(|r| r.reason == refusal.reason)
                .map_or(0, |r| r.count);
            if refusal.count > before {
                self.out.push(Output::RefusedByPeer {
                    peer,
                    refusal: refusal.clone(),
                });
            }
        }
        state.refused_ours = refusals;
    }

    fn on_ingested(
        &mut self,
        job: JobId,
        results: Result<Vec<ItemResult>, String>,
        ours: &Snapshot,
    ) {
        let Some(origin) = self.jobs.remove(&job) else {
            return;
        };
        let results = match results {
            Ok(results) => results,
            Err(failure) => {
                // Not the sender's fault: no verdict against it, no follow-up; the
                // next exchange asks again.
                tracing::warn!(%failure, "received entries could not be stored");
                match origin {
                    Origin::Gossip { message, source } => self.out.push(Output::Report {
                        message,
                        source,
                        verdict: Verdict::Ignore,
                    }),
                    Origin::Page {
                        peer,
                        connection,
                        author,
                        ..
                    } => {
                        self.page_done(peer, connection, author);
                    }
                }
                return;
            }
        };
        let (peer, page_author) = match &origin {
            Origin::Gossip { source, .. } => (*source, None),
            Origin::Page { peer, author, .. } => (*peer, Some(*author)),
        };
        let mut new = 0u64;
        let mut behind = false;
        let mut rejected = false;
        let mut last_seq = 0;
        let mut fetch = Vec::new();
        for result in &results {
            match result {
                Ok((outcome, seq)) => {
                    last_seq = last_seq.max(*seq);
                    match outcome {
                        Outcome::Applied | Outcome::Fork => new += 1,
                        Outcome::Pending => behind = true,
                        Outcome::PrevMismatch => match page_author {
                            // The author's log branched before this page: fetch the
                            // entry before it (the other half of a fork proof).
                            Some(author) => {
                                fetch.push(entries_request(author, seq.saturating_sub(1).max(1), 1))
                            }
                            None => behind = true,
                        },
                        _ => {}
                    }
                }
                Err(rejection) => {
                    rejected = true;
                    if let Some((author, seq)) = rejection.entry {
                        self.note_refusal(author, seq, rejection.reason);
                    }
                    tracing::debug!(?peer, reason = rejection.reason, message = %rejection.message, "entry refused");
                    let gossip = matches!(origin, Origin::Gossip { .. });
                    self.count_rejection(peer, rejection.reason, gossip);
                }
            }
        }
        if let Some(state) = self.peers.get_mut(&peer) {
            state.entries_received += new;
        }
        match origin {
            Origin::Gossip { message, source } => {
                let verdict = if rejected {
                    Verdict::Reject
                } else if new > 0 || behind {
                    self.counters.gossip_accepted += 1;
                    Verdict::Accept
                } else {
                    self.counters.gossip_duplicates += 1;
                    Verdict::Ignore
                };
                self.out.push(Output::Report {
                    message,
                    source,
                    verdict,
                });
                if behind {
                    // An entry ahead of our head: catch up from whoever sent it.
                    self.start_exchange(source, ours);
                }
            }
            Origin::Page {
                peer,
                connection,
                author,
                more,
            } => {
                if self.page_done(peer, connection, author) && more && !rejected && last_seq > 0 {
                    self.send(
                        peer,
                        entries_request(author, last_seq + 1, MAX_PAGE_ENTRIES),
                    );
                }
            }
        }
        for request in fetch {
            self.send(peer, request);
        }
    }

    /// Counts a refusal against the peer it came from (and in the gossip totals).
    fn count_rejection(&mut self, peer: T::Peer, reason: &str, gossip: bool) {
        if gossip {
            *self
                .counters
                .gossip_rejected
                .entry(reason.to_string())
                .or_default() += 1;
        }
        if let Some(state) = self.peers.get_mut(&peer) {
            *state.rejected.entry(reason.to_string()).or_default() += 1;
        }
    }

    /// An exchange with a random connected peer other than `not` (or `not` itself
    /// when it is the only one).
    fn exchange_with_another(&mut self, not: T::Peer, ours: &Snapshot) {
        let others: Vec<T::Peer> = self
            .peers
            .iter()
            .filter(|(p, s)| s.connected && **p != not)
            .map(|(p, _)| *p)
            .collect();
        let pick = if others.is_empty() {
            not
        } else {
            others[self.rng.below(others.len() as u64) as usize]
        };
        self.start_exchange(pick, ours);
    }

    /// Starts a frontier exchange with `peer` unless one is in flight or queued.
    fn start_exchange(&mut self, peer: T::Peer, ours: &Snapshot) {
        let Some(state) = self.peers.get_mut(&peer) else {
            return;
        };
        if !state.connected || state.exchanging {
            return;
        }
        state.exchanged = true;
        let busy =
            self.exchanges_in_flight() >= MAX_EXCHANGES_IN_FLIGHT || !self.fetching.is_empty();
        if busy {
            if !self.due.iter().any(|(p, _)| *p == peer) {
                self.due.push_back((peer, self.now_ms));
            }
            return;
        }
        self.begin_exchange(peer, ours);
    }

    fn exchanges_in_flight(&self) -> usize {
        self.peers.values().filter(|s| s.exchanging).count()
    }

    /// Starts due exchanges while there is room: when nothing is being fetched, or
    /// when the oldest has waited [`MAX_EXCHANGE_DELAY_MS`].
    fn start_due_exchanges(&mut self, ours: &Snapshot) {
        while let Some(&(peer, since_ms)) = self.due.front() {
            let waited = self.now_ms.saturating_sub(since_ms) >= MAX_EXCHANGE_DELAY_MS;
            if self.exchanges_in_flight() >= MAX_EXCHANGES_IN_FLIGHT
                || (!self.fetching.is_empty() && !waited)
            {
                return;
            }
            self.due.pop_front();
            let startable = self
                .peers
                .get(&peer)
                .is_some_and(|s| s.connected && !s.exchanging);
            if startable {
                self.begin_exchange(peer, ours);
            }
        }
    }

    fn begin_exchange(&mut self, peer: T::Peer, ours: &Snapshot) {
        let Some(state) = self.peers.get_mut(&peer) else {
            return;
        };
        state.exchanging = true;
        state.asked_with = Some(ours.digests.clone());
        self.send(
            peer,
            SyncRequest::Frontier {
                bucket_digests: ours.digests.clone(),
            },
        );
    }

    /// Sends a request, or queues it while the peer's slots are taken.
    fn send(&mut self, peer: T::Peer, request: SyncRequest) {
        let Some(state) = self.peers.get_mut(&peer) else {
            return;
        };
        if !state.connected {
            return;
        }
        if state.in_flight >= MAX_REQUESTS_PER_PEER {
            let same = |r: &SyncRequest| match (r.author(), request.author()) {
                (Some(a), Some(b)) => a == b,
                _ => *r == request,
            };
            // One per author (and one exchange), so bounded by the frontier.
            if state.waiting.len() < MAX_FRONTIER_HEADS && !state.waiting.iter().any(same) {
                state.waiting.push_back(request);
                self.waiting += 1;
            }
            return;
        }
        // One range per author at a time (until its page is stored), so that two
        // frontier answers never fetch the same entries twice.
        if let Some(author) = request.author() {
            if !self.fetching.insert(author) {
                return;
            }
        }
        state.in_flight += 1;
        match &request {
            SyncRequest::Frontier { .. } => self.counters.sync_frontier_requests += 1,
            _ => self.counters.sync_entries_requests += 1,
        }
        self.next_id += 1;
        let id = self.next_id;
        self.sent.insert(
            id,
            Sent {
                peer,
                connection: state.connection,
                request: request.clone(),
                sent_at_ms: self.now_ms,
            },
        );
        self.out.push(Output::Send { peer, id, request });
    }

    /// A request ended without a page to store: its slot and author are free.
    fn end_request(&mut self, sent: &Sent<T::Peer>) {
        match &sent.request {
            SyncRequest::Entries { author, .. } | SyncRequest::ForkProof { author, .. } => {
                self.fetching.remove(author);
            }
            SyncRequest::Frontier { .. } => {
                if let Some(state) = self.peers.get_mut(&sent.peer) {
                    if state.connection == sent.connection {
                        state.exchanging = false;
                    }
                }
            }
        }
        if let Some(state) = self.peers.get_mut(&sent.peer) {
            if state.connected && state.connection == sent.connection {
                state.in_flight -= 1;
            }
        }
    }

    /// A page was stored (or failed to be): its author and slot are free. Returns
    /// whether it came over the peer's current connection.
    fn page_done(&mut self, peer: T::Peer, connection: u64, author: PublicKey) -> bool {
        self.fetching.remove(&author);
        match self.peers.get_mut(&peer) {
            Some(state) if state.connected && state.connection == connection => {
                state.in_flight -= 1;
                true
            }
            _ => false,
        }
    }

    fn ingest(&mut self, origin: Origin<T>, items: Vec<Vec<u8>>) {
        self.next_id += 1;
        let job = self.next_id;
        self.jobs.insert(job, origin);
        self.out.push(Output::Ingest { job, items });
    }

    /// Sends waiting requests wherever a slot is free (and the ingest queue has room
    /// for what they bring back).
    fn pump(&mut self) {
        if self.jobs.len() >= INGEST_QUEUE_CAPACITY || self.waiting == 0 {
            return;
        }
        let ready: Vec<T::Peer> = self
            .peers
            .iter()
            .filter(|(_, s)| {
                s.connected && !s.waiting.is_empty() && s.in_flight < MAX_REQUESTS_PER_PEER
            })
            .map(|(p, _)| *p)
            .collect();
        for peer in ready {
            while let Some(state) = self.peers.get_mut(&peer) {
                if state.in_flight >= MAX_REQUESTS_PER_PEER {
                    break;
                }
                let Some(next) = state.waiting.pop_front() else {
                    break;
                };
                self.waiting -= 1;
                self.send(peer, next);
            }
        }
    }

    /// The bookkeeping rules, checked from outside (the simulator calls this after
    /// every step): slots within bounds and matching the requests and pages held,
    /// each author fetched at most once, waiting queues bounded.
    pub fn check_invariants(&self) -> Result<(), String> {
        let mut held: HashMap<T::Peer, usize> = HashMap::new();
        let mut authors: HashSet<PublicKey> = HashSet::new();
        for sent in self.sent.values() {
            let current = self
                .peers
                .get(&sent.peer)
                .is_some_and(|s| s.connected && s.connection == sent.connection);
            if current {
                *held.entry(sent.peer).or_default() += 1;
            }
            if let Some(author) = sent.request.author() {
                if !authors.insert(author) {
                    return Err(format!("author {author} is fetched twice at once"));
                }
            }
        }
        for origin in self.jobs.values() {
            if let Origin::Page {
                peer,
                connection,
                author,
                ..
            } = origin
            {
                if self
                    .peers
                    .get(peer)
                    .is_some_and(|s| s.connected && s.connection == *connection)
                {
                    *held.entry(*peer).or_default() += 1;
                }
                if !authors.insert(*author) {
                    return Err(format!("author {author} is fetched twice at once"));
                }
            }
        }
        if authors != self.fetching {
            return Err(format!(
                "{} authors marked as being fetched, {} actually fetched",
                self.fetching.len(),
                authors.len()
            ));
        }
        for (peer, state) in &self.peers {
            let expected = held.get(peer).copied().unwrap_or(0);
            if state.in_flight != expected {
                return Err(format!(
                    "peer {peer:?}: {} slots counted, {expected} held",
                    state.in_flight
                ));
            }
            if state.in_flight > MAX_REQUESTS_PER_PEER {
                return Err(format!(
                    "peer {peer:?}: {} requests in flight",
                    state.in_flight
                ));
            }
            if state.waiting.len() > MAX_FRONTIER_HEADS {
                return Err(format!("peer {peer:?}: {} waiting", state.waiting.len()));
            }
        }
        if self.jobs.len() > INGEST_QUEUE_CAPACITY {
            return Err(format!("{} ingest jobs outstanding", self.jobs.len()));
        }
        if self.due.len() > self.peers.len() {
            return Err(format!("{} exchanges due", self.due.len()));
        }
        let waiting: usize = self.peers.values().map(|s| s.waiting.len()).sum();
        if waiting != self.waiting {
            return Err(format!("{waiting} waiting, {} counted", self.waiting));
        }
        Ok(())
    }
}
