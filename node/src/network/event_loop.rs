//! The task that owns the swarm, and the ingest worker beside it.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use customs_protocol::limits::{MAX_FRONTIER_HEADS, MAX_SIGNED_ENTRY_BYTES};
use customs_protocol::wire::{gossip_topic, Frontier, SyncRequest, SyncResponse};
use customs_protocol::{EntryId, PublicKey, SignedEntry};
use futures::StreamExt;
use libp2p::gossipsub::{self, IdentTopic, MessageAcceptance, MessageId, TopicHash};
use libp2p::request_response::{self, OutboundRequestId, ProtocolSupport, ResponseChannel};
use libp2p::swarm::{NetworkBehaviour, SwarmEvent};
use libp2p::{
    allow_block_list, connection_limits, identify, noise, ping, tcp, yamux, Multiaddr, PeerId,
    Swarm,
};
use tokio::sync::{broadcast, mpsc};
use tokio::task::JoinHandle;

use super::codec::{SyncCodec, PROTOCOL};
use super::sync::{entries_request, lag, plan};
use super::*;
use crate::admission::{now_ms, Admission, Rejection};
use crate::store::{Outcome, Store};
use crate::verify::available_threads;

#[derive(NetworkBehaviour)]
struct Behaviour {
    allowed: allow_block_list::Behaviour<allow_block_list::AllowedPeers>,
    limits: connection_limits::Behaviour,
    gossipsub: gossipsub::Behaviour,
    sync: request_response::Behaviour<SyncCodec>,
    identify: identify::Behaviour,
    ping: ping::Behaviour,
}

/// Where a batch of bytes to ingest came from, and what to do with the result.
#[derive(Debug)]
enum Origin {
    Gossip {
        message_id: MessageId,
        source: PeerId,
    },
    Page {
        peer: PeerId,
        author: PublicKey,
        more: bool,
    },
}

struct IngestJob {
    origin: Origin,
    items: Vec<Vec<u8>>,
}

/// Per item: stored outcome, or why it was refused.
type ItemResult = Result<(Outcome, u64), Rejection>;

struct IngestDone {
    origin: Origin,
    results: Vec<ItemResult>,
    /// Entries this batch stored (all on the batch's first job), for the live feed.
    applied: Vec<SignedEntry>,
}

struct PeerState {
    code: String,
    key: PublicKey,
    addresses: Vec<Multiaddr>,
    connected: bool,
    last_sync_ms: Option<u64>,
    lag_entries: u64,
    /// Our frontier's bucket digests when the peer last answered that its frontier
    /// equals ours; `None` when it did not.
    synced_at: Option<Vec<[u8; 32]>>,
    entries_received: u64,
    rejected: BTreeMap<String, u64>,
    requests_in_flight: usize,
    /// Requests planned while [`MAX_REQUESTS_PER_PEER`] were in flight, sent as
    /// answers come back (so a catch-up from many authors never waits for the next
    /// sync round). At most one per author, so bounded by the frontier.
    waiting: VecDeque<SyncRequest>,
}

struct EventLoop {
    swarm: Swarm<Behaviour>,
    store: Store,
    topic: TopicHash,
    commands: mpsc::Receiver<Command>,
    events: broadcast::Sender<SignedEntry>,
    ingest: mpsc::Sender<IngestJob>,
    /// The ingest worker: awaited when the loop ends, so the store is idle after.
    ingest_task: JoinHandle<()>,
    ingested: mpsc::Receiver<IngestDone>,
    served: mpsc::Receiver<(ResponseChannel<SyncResponse>, SyncResponse)>,
    served_tx: mpsc::Sender<(ResponseChannel<SyncResponse>, SyncResponse)>,
    peers: HashMap<PeerId, PeerState>,
    members: Arc<HashSet<PublicKey>>,
    requests: HashMap<OutboundRequestId, (PeerId, SyncRequest)>,
    /// Authors whose entries are being fetched (from any peer).
    fetching: HashSet<PublicKey>,
    sync_bytes_received: Arc<std::sync::atomic::AtomicU64>,
    counters: Counters,
    own_key: PublicKey,
    /// Set once a member's frontier showed no entry of our own key that we lack.
    own_log_confirmed: Arc<AtomicBool>,
    sync_interval: Duration,
    redial_interval: Duration,
}

/// Network-wide counters for the status and the metrics.
#[derive(Default)]
struct Counters {
    gossip_accepted: u64,
    gossip_duplicates: u64,
    gossip_rejected: BTreeMap<String, u64>,
    sync_rounds: u64,
    sync_frontier_requests: u64,
    sync_entries_requests: u64,
}

/// Starts the network: listens, dials the members, and runs until every [`Client`] is
/// dropped. Returns the client and the task.
pub async fn spawn(
    config: NetworkConfig,
    store: Store,
) -> Result<(Client, JoinHandle<()>), NetworkError> {
    let keypair = libp2p::identity::Keypair::ed25519_from_bytes(config.key.seed())
        .map_err(|e| NetworkError::Start(e.to_string()))?;
    let topic = IdentTopic::new(gossip_topic(&config.network));
    let codec = SyncCodec::default();
    let sync_bytes_received = codec.bytes_received.clone();

    let admission = Admission::of(&config);
    let members = admission.members.clone();

    let mut swarm = libp2p::SwarmBuilder::with_existing_identity(keypair)
        .with_tokio()
        .with_tcp(
            tcp::Config::default().nodelay(true),
            noise::Config::new,
            yamux::Config::default,
        )
        .map_err(|e| NetworkError::Start(e.to_string()))?
        .with_behaviour(|key| build_behaviour(key, &config, &topic, &codec))
        .map_err(|e| NetworkError::Start(e.to_string()))?
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(3600)))
        .build();
    swarm
        .behaviour_mut()
        .gossipsub
        .subscribe(&topic)
        .map_err(|e| NetworkError::Start(e.to_string()))?;
    swarm
        .listen_on(config.listen.clone())
        .map_err(|e| NetworkError::Listen {
            addr: config.listen.clone(),
            reason: e.to_string(),
        })?;

    let mut peers = HashMap::new();
    for member in &config.members {
        let peer_id = peer_id_of(&member.key)?;
        swarm.behaviour_mut().allowed.allow_peer(peer_id);
        peers.insert(
            peer_id,
            PeerState {
                code: member.code.clone(),
                key: member.key,
                addresses: member.addresses.clone(),
                connected: false,
                last_sync_ms: None,
                lag_entries: 0,
                synced_at: None,
                entries_received: 0,
                rejected: BTreeMap::new(),
                requests_in_flight: 0,
                waiting: VecDeque::new(),
            },
        );
    }

    let (commands_tx, commands) = mpsc::channel(COMMAND_CHANNEL_CAPACITY);
    let (events, _) = broadcast::channel(EVENT_CHANNEL_CAPACITY);
    let (ingest, jobs) = mpsc::channel(INGEST_QUEUE_CAPACITY);
    // A network of one has nobody who could hold entries of ours.
    let own_log_confirmed = Arc::new(AtomicBool::new(config.members.is_empty()));
    let (done_tx, ingested) = mpsc::channel(INGEST_QUEUE_CAPACITY);
    let (served_tx, served) = mpsc::channel(INGEST_QUEUE_CAPACITY);
    let ingest_task = tokio::spawn(ingest_worker(store.clone(), admission, jobs, done_tx));

    let mut event_loop = EventLoop {
        swarm,
        store,
        topic: topic.hash(),
        commands,
        events: events.clone(),
        ingest,
        ingest_task,
        ingested,
        served,
        served_tx,
        peers,
        members,
        requests: HashMap::new(),
        fetching: HashSet::new(),
        sync_bytes_received,
        counters: Counters::default(),
        own_key: config.key.public_key(),
        own_log_confirmed: own_log_confirmed.clone(),
        sync_interval: config.sync_interval,
        redial_interval: config.redial_interval,
    };
    event_loop.redial();
    let handle = tokio::spawn(event_loop.run());
    Ok((
        Client {
            commands: commands_tx,
            events,
            own_log_confirmed,
        },
        handle,
    ))
}

fn build_behaviour(
    key: &libp2p::identity::Keypair,
    config: &NetworkConfig,
    topic: &IdentTopic,
    codec: &SyncCodec,
) -> Result<Behaviour, Box<dyn std::error::Error + Send + Sync>> {
    let gossip_config = gossipsub::ConfigBuilder::default()
        .heartbeat_interval(Duration::from_secs(1))
        .validation_mode(gossipsub::ValidationMode::Anonymous)
        // Messages are forwarded only after we checked them, and reported exactly once.
        .validate_messages()
        .max_transmit_size(MAX_SIGNED_ENTRY_BYTES + 64)
        .message_id_fn(|message| {
            let id = SignedEntry::decode(&message.data)
                .map(|e| e.id())
                .unwrap_or_else(|_| EntryId::of(&message.data));
            MessageId::from(id.0.to_vec())
        })
        .build()
        .map_err(|e| e.to_string())?;
    let mut gossipsub =
        gossipsub::Behaviour::new(gossipsub::MessageAuthenticity::Anonymous, gossip_config)?;
    gossipsub.with_peer_score(score_params(topic), score_thresholds())?;

    let limits = connection_limits::ConnectionLimits::default()
        .with_max_pending_incoming(Some(config.max_pending_incoming))
        .with_max_established(Some(config.max_established_total))
        .with_max_established_per_peer(Some(config.max_established_per_peer));
    Ok(Behaviour {
        allowed: allow_block_list::Behaviour::default(),
        limits: connection_limits::Behaviour::new(limits),
        gossipsub,
        sync: request_response::Behaviour::with_codec(
            codec.clone(),
            [(PROTOCOL, ProtocolSupport::Full)],
            request_response::Config::default()
                .with_request_timeout(SYNC_REQUEST_TIMEOUT)
                .with_max_concurrent_streams(64),
        ),
        identify: identify::Behaviour::new(identify::Config::new(
            format!("/customs-network/{}/1", config.network),
            key.public(),
        )),
        ping: ping::Behaviour::default(),
    })
}

/// Scoring that punishes relaying invalid entries and little else: members are known
/// and few, and a quiet network must not look like a misbehaving one.
fn score_params(topic: &IdentTopic) -> gossipsub::PeerScoreParams {
    let topic_params = gossipsub::TopicScoreParams {
        topic_weight: 1.0,
        time_in_mesh_weight: 0.01,
        first_message_deliveries_weight: 1.0,
        first_message_deliveries_cap: 100.0,
        mesh_message_deliveries_weight: 0.0,
        mesh_failure_penalty_weight: 0.0,
        invalid_message_deliveries_weight: -100.0,
        invalid_message_deliveries_decay: 0.9,
        ..Default::default()
    };
    let mut params = gossipsub::PeerScoreParams {
        ip_colocation_factor_weight: 0.0,
        ..Default::default()
    };
    params.topics.insert(topic.hash(), topic_params);
    params
}

fn score_thresholds() -> gossipsub::PeerScoreThresholds {
    gossipsub::PeerScoreThresholds {
        gossip_threshold: -100.0,
        publish_threshold: -500.0,
        graylist_threshold: -1000.0,
        ..Default::default()
    }
}

/// Verifies and stores batches of entries, draining whatever is queued into one group
/// commit. Runs beside the event loop so the swarm never waits for the disk.
async fn ingest_worker(
    store: Store,
    admission: Admission,
    mut jobs: mpsc::Receiver<IngestJob>,
    done: mpsc::Sender<IngestDone>,
) {
    let threads = available_threads();
    while let Some(first) = jobs.recv().await {
        let mut batch = vec![first];
        let mut entries: usize = batch[0].items.len();
        while entries < MAX_INGEST_BATCH_ENTRIES {
            match jobs.try_recv() {
                Ok(job) => {
                    entries += job.items.len();
                    batch.push(job);
                }
                Err(_) => break,
            }
        }
        let store = store.clone();
        let admission = admission.clone();
        let processed =
            tokio::task::spawn_blocking(move || process(&store, &admission, batch, threads)).await;
        let Ok(results) = processed else {
            tracing::error!(
                "the ingest task failed; dropping a batch (catch-up will fetch it again)"
            );
            continue;
        };
        for result in results {
            if done.send(result).await.is_err() {
                return;
            }
        }
    }
}

/// Checks every item of every job, stores the good ones in one batch, and maps the
/// outcomes back to their jobs.
fn process(
    store: &Store,
    admission: &Admission,
    jobs: Vec<IngestJob>,
    threads: usize,
) -> Vec<IngestDone> {
    let now = now_ms();
    let mut checked = Vec::with_capacity(jobs.len());
    let mut to_store = Vec::new();
    for job in &jobs {
        let results = admission.check_all(&job.items, threads, now);
        let slots: Vec<Result<usize, Rejection>> = results
            .into_iter()
            .map(|r| {
                r.map(|entry| {
                    to_store.push(entry);
                    to_store.len() - 1
                })
            })
            .collect();
        checked.push(slots);
    }
    let seqs: Vec<u64> = to_store.iter().map(|e| e.entry().seq).collect();
    let (outcomes, mut applied) = match store.ingest(to_store) {
        Ok(report) => (report.outcomes, report.applied),
        Err(e) => {
            tracing::error!(error = %e, "storing a batch failed");
            (vec![Outcome::PendingFull; seqs.len()], Vec::new())
        }
    };
    jobs.into_iter()
        .zip(checked)
        .map(|(job, slots)| IngestDone {
            origin: job.origin,
            results: slots
                .into_iter()
                .map(|slot| slot.map(|i| (outcomes[i], seqs[i])))
                .collect(),
            applied: std::mem::take(&mut applied),
        })
        .collect()
}

impl EventLoop {
    async fn run(mut self) {
        let mut sync_timer = tokio::time::interval(self.sync_interval);
        let mut redial_timer = tokio::time::interval(self.redial_interval);
        loop {
            tokio::select! {
                event = self.swarm.select_next_some() => self.on_swarm_event(event),
                command = self.commands.recv() => match command {
                    Some(Command::Shutdown { reply }) => {
                        let _ = reply.send(());
                        break;
                    }
                    Some(command) => self.on_command(command),
                    None => break,
                },
                Some(done) = self.ingested.recv() => self.on_ingested(done),
                Some((channel, response)) = self.served.recv() => {
                    let _ = self.swarm.behaviour_mut().sync.send_response(channel, response);
                }
                _ = sync_timer.tick() => self.sync_with_random_peer(),
                _ = redial_timer.tick() => self.redial(),
            }
        }
        // Close the ingest queue and let the worker finish the batch it holds.
        let EventLoop {
            ingest,
            ingest_task,
            ingested,
            swarm,
            ..
        } = self;
        drop((ingest, ingested, swarm));
        let _ = ingest_task.await;
        tracing::info!("network stopped");
    }

    fn on_command(&mut self, command: Command) {
        match command {
            Command::Gossip { entry, reply } => {
                let entry = *entry;
                let _ = self.events.send(entry.clone());
                // No peers yet is fine: catch-up delivers it later.
                if let Err(e) = self
                    .swarm
                    .behaviour_mut()
                    .gossipsub
                    .publish(self.topic.clone(), entry.encode())
                {
                    tracing::debug!(error = %e, "gossip publish");
                }
                let _ = reply.send(());
            }
            Command::Status { reply } => {
                let _ = reply.send(self.status());
            }
            Command::ListenAddrs { reply } => {
                let _ = reply.send(self.swarm.listeners().cloned().collect());
            }
            Command::Dial { peer, addr, reply } => {
                let result = peer_id_of(&peer).and_then(|peer_id| {
                    if let Some(state) = self.peers.get_mut(&peer_id) {
                        if !state.addresses.contains(&addr) {
                            state.addresses.push(addr.clone());
                        }
                    }
                    self.swarm
                        .dial(addr.clone())
                        .map_err(|e| NetworkError::Start(e.to_string()))
                });
                let _ = reply.send(result);
            }
            Command::Shutdown { reply } => {
                let _ = reply.send(());
            }
            Command::SyncNow { reply } => {
                let connected: Vec<PeerId> = self.connected_peers();
                for peer in &connected {
                    self.request_frontier(*peer);
                }
                let _ = reply.send(connected.len());
            }
        }
    }

    fn connected_peers(&self) -> Vec<PeerId> {
        self.peers
            .iter()
            .filter(|(_, s)| s.connected)
            .map(|(p, _)| *p)
            .collect()
    }

    fn status(&self) -> NetworkStatus {
        let gossipsub = &self.swarm.behaviour().gossipsub;
        // "In sync" holds only while our frontier is still what the peer agreed with.
        let current = self.store.frontier().ok().map(|f| f.bucket_digests());
        let mut peers: Vec<PeerStatus> = self
            .peers
            .iter()
            .map(|(peer_id, s)| PeerStatus {
                code: s.code.clone(),
                public_key: s.key.to_hex(),
                peer_id: peer_id.to_string(),
                connected: s.connected,
                last_sync_ms: s.last_sync_ms,
                lag_entries: s.lag_entries,
                in_sync: s.connected && s.synced_at.is_some() && s.synced_at == current,
                entries_received: s.entries_received,
                rejected: s.rejected.clone(),
                score: gossipsub.peer_score(peer_id),
            })
            .collect();
        peers.sort_by(|a, b| a.code.cmp(&b.code));
        NetworkStatus {
            sync_bytes_received: self
                .sync_bytes_received
                .load(std::sync::atomic::Ordering::Relaxed),
            peer_id: self.swarm.local_peer_id().to_string(),
            listen_addrs: self.swarm.listeners().map(|a| a.to_string()).collect(),
            peers,
            gossip_accepted: self.counters.gossip_accepted,
            gossip_duplicates: self.counters.gossip_duplicates,
            gossip_rejected: self.counters.gossip_rejected.clone(),
            sync_rounds: self.counters.sync_rounds,
            sync_frontier_requests: self.counters.sync_frontier_requests,
            sync_entries_requests: self.counters.sync_entries_requests,
            own_log_confirmed: self.own_log_confirmed.load(Ordering::Relaxed),
        }
    }

    fn redial(&mut self) {
        let targets: Vec<(PeerId, Vec<Multiaddr>)> = self
            .peers
            .iter()
            .filter(|(_, s)| !s.connected && !s.addresses.is_empty())
            .map(|(p, s)| (*p, s.addresses.clone()))
            .collect();
        for (peer, addresses) in targets {
            let opts = libp2p::swarm::dial_opts::DialOpts::peer_id(peer)
                .addresses(addresses)
                .build();
            if let Err(e) = self.swarm.dial(opts) {
                tracing::debug!(%peer, error = %e, "redial");
            }
        }
    }

    fn sync_with_random_peer(&mut self) {
        let connected = self.connected_peers();
        if connected.is_empty() {
            return;
        }
        let pick = (now_ms() as usize) % connected.len();
        self.request_frontier(connected[pick]);
    }

    fn request_frontier(&mut self, peer: PeerId) {
        match self.store.frontier() {
            Ok(frontier) => self.send_request(
                peer,
                SyncRequest::Frontier {
                    bucket_digests: frontier.bucket_digests(),
                },
            ),
            Err(e) => tracing::error!(error = %e, "cannot read the frontier"),
        }
    }

    fn send_request(&mut self, peer: PeerId, request: SyncRequest) {
        let Some(state) = self.peers.get_mut(&peer) else {
            return;
        };
        if state.requests_in_flight >= MAX_REQUESTS_PER_PEER {
            let queued = |r: &SyncRequest| match (r, &request) {
                (
                    SyncRequest::Entries { author: a, .. },
                    SyncRequest::Entries { author: b, .. },
                ) => a == b,
                (a, b) => a == b,
            };
            if state.waiting.len() < MAX_FRONTIER_HEADS && !state.waiting.iter().any(queued) {
                state.waiting.push_back(request);
            }
            return;
        }
        // One range per author at a time (until its page is stored), so that two
        // frontier answers never fetch the same entries twice.
        if let SyncRequest::Entries { author, .. } = &request {
            if !self.fetching.insert(*author) {
                return;
            }
        }
        state.requests_in_flight += 1;
        match &request {
            SyncRequest::Frontier { .. } => self.counters.sync_frontier_requests += 1,
            SyncRequest::Entries { .. } => self.counters.sync_entries_requests += 1,
        }
        let id = self
            .swarm
            .behaviour_mut()
            .sync
            .send_request(&peer, request.clone());
        self.requests.insert(id, (peer, request));
    }

    fn on_swarm_event(&mut self, event: SwarmEvent<BehaviourEvent>) {
        match event {
            SwarmEvent::NewListenAddr { address, .. } => {
                tracing::info!(%address, "listening");
            }
            SwarmEvent::ConnectionEstablished {
                peer_id,
                num_established,
                ..
            } => {
                // Sync once per peer, not once per connection.
                if let Some(state) = self.peers.get_mut(&peer_id) {
                    state.connected = true;
                    if num_established.get() == 1 {
                        tracing::info!(member = %state.code, "connected");
                        self.request_frontier(peer_id);
                    }
                }
            }
            SwarmEvent::ConnectionClosed {
                peer_id,
                num_established: 0,
                ..
            } => {
                if let Some(state) = self.peers.get_mut(&peer_id) {
                    tracing::info!(member = %state.code, "disconnected");
                    state.connected = false;
                    state.synced_at = None;
                    state.requests_in_flight = 0;
                    state.waiting.clear();
                }
            }
            SwarmEvent::Behaviour(BehaviourEvent::Gossipsub(gossipsub::Event::Message {
                propagation_source,
                message_id,
                message,
            })) => self.on_gossip(propagation_source, message_id, message),
            SwarmEvent::Behaviour(BehaviourEvent::Sync(event)) => self.on_sync_event(event),
            SwarmEvent::Behaviour(BehaviourEvent::Identify(identify::Event::Received {
                peer_id,
                info,
                ..
            })) => {
                // Remember where members listen, for redials.
                if let Some(state) = self.peers.get_mut(&peer_id) {
                    for addr in info.listen_addrs {
                        if state.addresses.len() < crate::config::MAX_MEMBER_ADDRESSES
                            && !state.addresses.contains(&addr)
                        {
                            state.addresses.push(addr);
                        }
                    }
                }
            }
            _ => {}
        }
    }

    fn on_gossip(&mut self, source: PeerId, message_id: MessageId, message: gossipsub::Message) {
        let job = IngestJob {
            origin: Origin::Gossip {
                message_id: message_id.clone(),
                source,
            },
            items: vec![message.data],
        };
        if self.ingest.try_send(job).is_err() {
            // Overloaded: neither forward nor penalise; catch-up will fetch it.
            self.report(&message_id, &source, MessageAcceptance::Ignore);
        }
    }

    fn report(&mut self, message_id: &MessageId, source: &PeerId, acceptance: MessageAcceptance) {
        self.swarm
            .behaviour_mut()
            .gossipsub
            .report_message_validation_result(message_id, source, acceptance);
    }

    fn on_sync_event(&mut self, event: request_response::Event<SyncRequest, SyncResponse>) {
        match event {
            request_response::Event::Message { peer, message, .. } => match message {
                request_response::Message::Request {
                    request, channel, ..
                } => self.serve(peer, request, channel),
                request_response::Message::Response {
                    request_id,
                    response,
                } => {
                    if let Some((peer, request)) = self.requests.remove(&request_id) {
                        self.on_response(peer, request, response);
                    }
                }
            },
            request_response::Event::OutboundFailure {
                request_id,
                error,
                peer,
                ..
            } => {
                tracing::debug!(%peer, %error, "sync request failed");
                if let Some((_, request)) = self.requests.remove(&request_id) {
                    self.request_done(&peer);
                    if let SyncRequest::Entries { author, .. } = request {
                        self.fetching.remove(&author);
                    }
                }
            }
            _ => {}
        }
    }

    /// A request to `peer` ended (for a page: its entries were stored): its slot goes
    /// to the oldest waiting request. A page holds its slot until it is stored, so the
    /// pages of one peer in flight or queued for ingest stay within
    /// [`MAX_REQUESTS_PER_PEER`] and a fast peer cannot overrun the ingest queue.
    fn request_done(&mut self, peer: &PeerId) {
        let Some(state) = self.peers.get_mut(peer) else {
            return;
        };
        state.requests_in_flight = state.requests_in_flight.saturating_sub(1);
        if let Some(next) = state.waiting.pop_front() {
            self.send_request(*peer, next);
        }
    }

    /// Answers a sync request off the event loop (it reads the disk).
    fn serve(
        &mut self,
        peer: PeerId,
        request: SyncRequest,
        channel: ResponseChannel<SyncResponse>,
    ) {
        if !self.peers.contains_key(&peer) {
            return; // not a member: no answer
        }
        let store = self.store.clone();
        let served = self.served_tx.clone();
        tokio::spawn(async move {
            let response = tokio::task::spawn_blocking(move || answer(&store, request))
                .await
                .unwrap_or_else(|_| SyncResponse::Refused {
                    reason: "internal error".into(),
                });
            let _ = served.send((channel, response)).await;
        });
    }

    fn on_response(&mut self, peer: PeerId, request: SyncRequest, response: SyncResponse) {
        match (request, response) {
            (SyncRequest::Frontier { bucket_digests }, SyncResponse::Frontier { heads }) => {
                self.request_done(&peer);
                let frontier = self.store.frontier().unwrap_or_else(|_| Frontier::new());
                let members = self.members.clone();
                let store = self.store.clone();
                let requests = plan(
                    &frontier,
                    &heads,
                    |author| members.contains(author),
                    |author, seq| store.id_at(author, seq).ok().flatten(),
                );
                self.counters.sync_rounds += 1;
                let our_seq = frontier.get(&self.own_key).map_or(0, |h| h.seq);
                if !heads
                    .iter()
                    .any(|h| h.author == self.own_key && h.seq > our_seq)
                {
                    self.own_log_confirmed.store(true, Ordering::Relaxed);
                }
                if let Some(state) = self.peers.get_mut(&peer) {
                    state.last_sync_ms = Some(now_ms());
                    state.lag_entries = lag(&frontier, &heads, |author| members.contains(author));
                    // No differing bucket: the peer's frontier equals ours as we sent it.
                    state.synced_at = heads.is_empty().then_some(bucket_digests);
                }
                for request in requests {
                    self.send_request(peer, request);
                }
            }
            (
                request @ SyncRequest::Entries { author, .. },
                SyncResponse::Entries { entries, more },
            ) => {
                if entries.is_empty() {
                    self.fetching.remove(&author);
                    self.request_done(&peer);
                    return;
                }
                let job = IngestJob {
                    origin: Origin::Page { peer, author, more },
                    items: entries,
                };
                // The slot is released when the page is stored (on_ingested).
                if self.ingest.try_send(job).is_err() {
                    // Full with other peers' work: ask again when a slot frees (or at
                    // the next sync round).
                    tracing::debug!("ingest queue full; the page will be asked again");
                    self.fetching.remove(&author);
                    if let Some(state) = self.peers.get_mut(&peer) {
                        state.requests_in_flight = state.requests_in_flight.saturating_sub(1);
                        if state.waiting.len() < MAX_FRONTIER_HEADS {
                            state.waiting.push_back(request);
                        }
                    }
                }
            }
            (request, response) => {
                self.request_done(&peer);
                if let SyncRequest::Entries { author, .. } = request {
                    self.fetching.remove(&author);
                }
                match response {
                    SyncResponse::Refused { reason } => {
                        tracing::warn!(%peer, %reason, "sync request refused")
                    }
                    _ => tracing::warn!(%peer, "sync answer does not match the request"),
                }
            }
        }
    }

    fn on_ingested(&mut self, done: IngestDone) {
        for entry in &done.applied {
            // No subscriber is fine; a slow one loses the oldest events (bounded).
            let _ = self.events.send(entry.clone());
        }
        let peer = match &done.origin {
            Origin::Gossip { source, .. } => *source,
            Origin::Page { peer, .. } => *peer,
        };
        let mut applied = 0u64;
        let mut fetch: Vec<SyncRequest> = Vec::new();
        let mut behind = false;
        let mut rejected = false;
        let mut last_seq = 0;
        let mut author_of_page = None;
        if let Origin::Page { author, .. } = &done.origin {
            author_of_page = Some(*author);
        }
        for result in &done.results {
            match result {
                Ok((outcome, seq)) => {
                    last_seq = last_seq.max(*seq);
                    match outcome {
                        Outcome::Applied | Outcome::Fork => applied += 1,
                        Outcome::Pending => behind = true,
                        Outcome::PrevMismatch => {
                            if let Some(author) = author_of_page {
                                fetch.push(entries_request(
                                    author,
                                    seq.saturating_sub(1).max(1),
                                    1,
                                ));
                            } else {
                                behind = true;
                            }
                        }
                        _ => {}
                    }
                }
                Err(rejection) => {
                    rejected = true;
                    tracing::debug!(%peer, reason = rejection.reason, message = %rejection.message, "entry refused");
                    if matches!(done.origin, Origin::Gossip { .. }) {
                        *self
                            .counters
                            .gossip_rejected
                            .entry(rejection.reason.to_string())
                            .or_default() += 1;
                    }
                    if let Some(state) = self.peers.get_mut(&peer) {
                        *state
                            .rejected
                            .entry(rejection.reason.to_string())
                            .or_default() += 1;
                    }
                }
            }
        }
        if let Some(state) = self.peers.get_mut(&peer) {
            state.entries_received += applied;
        }
        match done.origin {
            Origin::Gossip { message_id, source } => {
                let acceptance = if rejected {
                    MessageAcceptance::Reject
                } else if applied > 0 || behind {
                    self.counters.gossip_accepted += 1;
                    MessageAcceptance::Accept
                } else {
                    self.counters.gossip_duplicates += 1;
                    MessageAcceptance::Ignore
                };
                self.report(&message_id, &source, acceptance);
                if behind {
                    // An entry ahead of our head: catch up from whoever sent it.
                    self.request_frontier(source);
                }
            }
            Origin::Page {
                peer, author, more, ..
            } => {
                self.fetching.remove(&author);
                self.request_done(&peer);
                if more && !rejected && last_seq > 0 {
                    self.send_request(
                        peer,
                        entries_request(
                            author,
                            last_seq + 1,
                            customs_protocol::limits::MAX_PAGE_ENTRIES,
                        ),
                    );
                }
            }
        }
        for request in fetch {
            self.send_request(peer, request);
        }
    }
}

/// The answer to a sync request, from the store.
fn answer(store: &Store, request: SyncRequest) -> SyncResponse {
    if let Err(e) = request.validate() {
        return SyncResponse::Refused {
            reason: e.to_string(),
        };
    }
    let refused = |e: crate::store::StoreError| SyncResponse::Refused {
        reason: format!("store error: {e}"),
    };
    match request {
        SyncRequest::Frontier { bucket_digests } => match store.frontier() {
            Ok(frontier) => SyncResponse::Frontier {
                heads: frontier.heads_differing_from(&bucket_digests),
            },
            Err(e) => refused(e),
        },
        SyncRequest::Entries {
            author,
            from_seq,
            max_count,
            max_bytes,
        } => match store.entries_from(&author, from_seq, max_count as usize, max_bytes as usize) {
            Ok(page) => SyncResponse::Entries {
                entries: page.entries.iter().map(SignedEntry::encode).collect(),
                more: page.more,
            },
            Err(e) => refused(e),
        },
    }
}
