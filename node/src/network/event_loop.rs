//! The task that owns the swarm.
//!
//! The event loop is a translator: libp2p events become inputs of the sync core
//! ([`super::sync::SyncCore`]), and the core's outputs become swarm calls, store work
//! on blocking threads, and timers. Every decision is the core's.
//!
//! Architecture Invariant: the event loop never reads the store or waits for the
//! disk; it holds the frontier from the store's watch, and reads and writes run on
//! the ingest worker and blocking threads.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use customs_protocol::limits::MAX_SIGNED_ENTRY_BYTES;
use customs_protocol::wire::{gossip_topic, Frontier, Head, SyncRequest, SyncResponse};
use customs_protocol::{EntryId, SignedEntry};
use futures::StreamExt;
use libp2p::gossipsub::{self, IdentTopic, MessageAcceptance, MessageId, TopicHash};
use libp2p::request_response::{self, OutboundRequestId, ProtocolSupport, ResponseChannel};
use libp2p::swarm::{NetworkBehaviour, SwarmEvent};
use libp2p::{
    allow_block_list, connection_limits, identify, noise, ping, tcp, yamux, Multiaddr, PeerId,
    Swarm,
};
use tokio::sync::{broadcast, mpsc, watch};
use tokio::task::JoinHandle;

use super::codec::{SyncCodec, PROTOCOL};
use super::inbound::{self, TooManyFromAddress};
use super::ingest::{ingest_worker, IngestDone, IngestJob};
use super::sync::core::{RequestId, Snapshot, Stamp, Timer};
use super::sync::redial::Redial;
use super::sync::{Input, Output, SyncCore, Transport, Verdict};
use super::*;
use crate::admission::Admission;
use crate::audit::{Audit, Event};
use crate::clock::now_ms;
use crate::store::Store;

#[derive(NetworkBehaviour)]
struct Behaviour {
    allowed: allow_block_list::Behaviour<allow_block_list::AllowedPeers>,
    per_address: inbound::PerAddress,
    limits: connection_limits::Behaviour,
    gossipsub: gossipsub::Behaviour,
    sync: request_response::Behaviour<SyncCodec>,
    blobs: super::blobs::Behaviour,
    identify: identify::Behaviour,
    ping: ping::Behaviour,
}

/// The libp2p side of the sync core's types.
#[derive(Debug)]
struct Libp2p;

impl Transport for Libp2p {
    type Peer = PeerId;
    type Message = MessageId;
    type Channel = ResponseChannel<SyncResponse>;
}

struct EventLoop {
    swarm: Swarm<Behaviour>,
    core: SyncCore<Libp2p>,
    /// Our frontier as the store last published it, with its digests.
    frontier: watch::Receiver<Arc<Frontier>>,
    snapshot: Snapshot,
    /// Only for work handed to blocking threads (serving, comparing heads).
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
    checked: mpsc::Receiver<(PeerId, Vec<Head>)>,
    checked_tx: mpsc::Sender<(PeerId, Vec<Head>)>,
    timers: mpsc::Receiver<Timer<PeerId>>,
    timers_tx: mpsc::Sender<Timer<PeerId>>,
    /// libp2p's request ids to the core's.
    requests: HashMap<OutboundRequestId, RequestId>,
    /// Where members listen, for redials.
    addresses: HashMap<PeerId, Vec<Multiaddr>>,
    redial: Redial<PeerId>,
    /// Nodes that are no longer members', connected until then (see
    /// [`crate::limits::CLOSING_GRACE`]).
    closing: HashMap<PeerId, tokio::time::Instant>,
    sync_bytes_received: Arc<std::sync::atomic::AtomicU64>,
    store_failures: u64,
    /// Set once a member's frontier showed no entry of our own key that we lack.
    facts: Arc<SyncFacts>,
    audit: Audit,
    sync_interval: Duration,
    blob: super::blobs::BlobSide,
}

/// Starts the network: listens, dials the members, and runs until every [`Client`] is
/// dropped. Returns the client and the task.
pub async fn spawn(
    config: NetworkConfig,
    store: Store,
    blobs: Option<Arc<crate::blobs::Blobs>>,
    audit: Audit,
) -> Result<(Client, JoinHandle<()>), NetworkError> {
    let keypair = libp2p::identity::Keypair::ed25519_from_bytes(config.key.seed())
        .map_err(|e| NetworkError::Start(e.to_string()))?;
    let topic = IdentTopic::new(gossip_topic(&config.network));
    let codec = SyncCodec::default();
    let sync_bytes_received = codec.0.bytes_received.clone();

    let admission = Admission::of(&config);
    let bootstrap = config.bootstrap.clone();

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
        // Bounds both a dial and an incoming connection's handshake: a stranger's idle
        // socket holds a handshake slot no longer than this.
        .with_connection_timeout(config.handshake_timeout)
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

    let mut members = Vec::new();
    let mut addresses = HashMap::new();
    for member in &config.members {
        let peer_id = peer_id_of(&member.key)?;
        swarm.behaviour_mut().allowed.allow_peer(peer_id);
        members.push((peer_id, member.code.clone(), member.key));
        addresses.insert(peer_id, member.addresses.clone());
    }
    let redial = Redial::new(
        members.iter().map(|(peer_id, _, _)| *peer_id),
        config.redial_interval.as_millis() as u64,
        random_seed(),
        now_ms(),
    );
    let core = SyncCore::new(config.key.public_key(), members, random_seed());

    let (commands_tx, commands) = mpsc::channel(COMMAND_CHANNEL_CAPACITY);
    let (events, _) = broadcast::channel(EVENT_CHANNEL_CAPACITY);
    let (ingest, jobs) = mpsc::channel(INGEST_QUEUE_CAPACITY);
    let facts = Arc::new(SyncFacts::new(core.own_log_confirmed()));
    let (done_tx, ingested) = mpsc::channel(INGEST_QUEUE_CAPACITY);
    let (served_tx, served) = mpsc::channel(INGEST_QUEUE_CAPACITY);
    let (checked_tx, checked) = mpsc::channel(INGEST_QUEUE_CAPACITY);
    // One timer per connection at most, so the members bound it.
    let (timers_tx, timers) = mpsc::channel(crate::limits::MAX_MEMBER_NODES);
    let frontier = store.watch_frontier();
    let snapshot = Snapshot::new(frontier.borrow().as_ref().clone());
    let ingest_task = tokio::spawn(ingest_worker(store.clone(), admission, jobs, done_tx));

    let mut event_loop = EventLoop {
        swarm,
        core,
        frontier,
        snapshot,
        store,
        topic: topic.hash(),
        commands,
        events: events.clone(),
        ingest,
        ingest_task,
        ingested,
        served,
        served_tx,
        checked,
        checked_tx,
        timers,
        timers_tx,
        requests: HashMap::new(),
        addresses,
        redial,
        closing: HashMap::new(),
        sync_bytes_received,
        store_failures: 0,
        facts: facts.clone(),
        audit,
        sync_interval: config.sync_interval,
        blob: super::blobs::BlobSide::new(blobs),
    };
    event_loop.redial();
    for address in bootstrap {
        if let Err(error) = event_loop.swarm.dial(address.clone()) {
            tracing::warn!(%address, %error, "cannot dial the bootstrap address");
        }
    }
    let handle = tokio::spawn(event_loop.run());
    Ok((
        Client {
            commands: commands_tx,
            events,
            facts,
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
        // Permissive, not Anonymous: gossipsub then hands us a message that carries an
        // author or sequence number (checking its signature, if any, first), and the
        // sync core refuses it and counts it against the member that sent it. In
        // Anonymous mode gossipsub drops it silently.
        .validation_mode(gossipsub::ValidationMode::Permissive)
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
        per_address: inbound::PerAddress::new(config.max_pending_incoming_per_address),
        limits: connection_limits::Behaviour::new(limits),
        gossipsub,
        sync: request_response::Behaviour::with_codec(
            codec.clone(),
            [(PROTOCOL, ProtocolSupport::Full)],
            request_response::Config::default()
                .with_request_timeout(SYNC_REQUEST_TIMEOUT)
                .with_max_concurrent_streams(64),
        ),
        blobs: super::blobs::behaviour(),
        identify: identify::Behaviour::new(identify::Config::new(
            format!("/customs-network/{}/1", config.network),
            key.public(),
        )),
        // A ping that goes unanswered closes its connection (see on_swarm_event):
        // that is how a cut network is noticed, and the member redialled.
        ping: ping::Behaviour::new(
            ping::Config::new()
                .with_interval(config.ping_interval)
                .with_timeout(config.ping_timeout),
        ),
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

/// A seed for the sync core's random choices (which peer to sync with).
fn random_seed() -> u64 {
    let mut bytes = [0u8; 8];
    // Without the OS's randomness the choice is only less spread: fall back to time.
    if getrandom::fill(&mut bytes).is_err() {
        return now_ms();
    }
    u64::from_le_bytes(bytes)
}

impl EventLoop {
    async fn run(mut self) {
        let mut sync_timer = tokio::time::interval(self.sync_interval);
        sync_timer.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut redial_timer = tokio::time::interval(REDIAL_TICK);
        redial_timer.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            // Local work first: answers to finish, pages stored, the timers, then the
            // network. The timers go before the swarm: a flood of connections keeps
            // the swarm always ready, and a biased select would then never redial a
            // member or sync (the timers are rare, so they cannot starve the swarm).
            tokio::select! {
                biased;
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
                Some((channel, response)) = self.blob.served.recv() => {
                    self.blob.sent();
                    let _ = self.swarm.behaviour_mut().blobs.send_response(channel, response);
                }
                Some((peer, differing)) = self.checked.recv() => {
                    self.handle(Input::HeadsChecked { peer, differing });
                }
                Some(timer) = self.timers.recv() => self.handle(Input::Timer(timer)),
                _ = sync_timer.tick() => self.handle(Input::Tick),
                _ = redial_timer.tick() => self.redial(),
                event = self.swarm.select_next_some() => self.on_swarm_event(event),
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

    /// Runs one input through the core with the current time and frontier, and
    /// carries out what it decides.
    fn handle(&mut self, input: Input<Libp2p>) {
        if self.frontier.has_changed().unwrap_or(false) {
            let frontier = self.frontier.borrow_and_update().as_ref().clone();
            self.snapshot = Snapshot::new(frontier);
        }
        let outputs = self.core.handle(input, now_ms(), &self.snapshot);
        self.facts.set(
            self.core.own_log_confirmed(),
            self.core.own_log_held_by_member(),
            self.core.clock_estimate(),
        );
        for output in outputs {
            self.carry_out(output);
        }
    }

    fn carry_out(&mut self, output: Output<Libp2p>) {
        match output {
            Output::Send { peer, id, request } => {
                let outbound = self.swarm.behaviour_mut().sync.send_request(&peer, request);
                self.requests.insert(outbound, id);
            }
            Output::Serve {
                request,
                channel,
                stamp,
            } => {
                let store = self.store.clone();
                let served = self.served_tx.clone();
                tokio::spawn(async move {
                    let response =
                        tokio::task::spawn_blocking(move || answer(&store, request, stamp))
                            .await
                            .unwrap_or_else(|_| SyncResponse::Refused {
                                reason: "internal error".into(),
                            });
                    let _ = served.send((channel, response)).await;
                });
            }
            Output::Ingest { job, items } => {
                // The core keeps at most INGEST_QUEUE_CAPACITY jobs outstanding, the
                // queue's capacity: only a stopped worker refuses one.
                if self.ingest.try_send(IngestJob { job, items }).is_err() {
                    tracing::error!("the ingest worker has stopped");
                }
            }
            Output::CheckHeads { peer, heads } => {
                let store = self.store.clone();
                let checked = self.checked_tx.clone();
                tokio::spawn(async move {
                    let compared = tokio::task::spawn_blocking(move || {
                        heads
                            .into_iter()
                            .filter(|h| {
                                store
                                    .id_at(&h.author, h.seq)
                                    .is_ok_and(|id| id.is_some_and(|id| id != h.id))
                            })
                            .collect::<Vec<Head>>()
                    })
                    .await;
                    if let Ok(differing) = compared {
                        let _ = checked.send((peer, differing)).await;
                    }
                });
            }
            Output::Report {
                message,
                source,
                verdict,
            } => {
                let acceptance = match verdict {
                    Verdict::Accept => MessageAcceptance::Accept,
                    Verdict::Reject => MessageAcceptance::Reject,
                    Verdict::Ignore => MessageAcceptance::Ignore,
                };
                self.swarm
                    .behaviour_mut()
                    .gossipsub
                    .report_message_validation_result(&message, &source, acceptance);
            }
            Output::RefusedByPeer { peer, refusal } => {
                let member = self
                    .core
                    .peer(&peer)
                    .map_or_else(|| peer.to_string(), |s| s.code.clone());
                tracing::warn!(
                    %member,
                    reason = %refusal.reason,
                    count = refusal.count,
                    last_seq = refusal.last_seq,
                    "a member refuses entries of ours; they do not reach it"
                );
                self.audit.record(
                    Event::new("refused_by_member", &member, &refusal.reason)
                        .with_peer(&member)
                        .with_detail(format!(
                            "{} entries, the latest seq {}",
                            refusal.count, refusal.last_seq
                        )),
                );
            }
            Output::SetTimer { at_ms, timer } => {
                let timers = self.timers_tx.clone();
                let delay = Duration::from_millis(at_ms.saturating_sub(now_ms()));
                tokio::spawn(async move {
                    tokio::time::sleep(delay).await;
                    let _ = timers.send(timer).await;
                });
            }
        }
    }

    fn on_command(&mut self, command: Command) {
        match command {
            Command::BlobChunk {
                peer,
                request,
                reply,
            } => {
                let behaviour = &mut self.swarm.behaviour_mut().blobs;
                self.blob.send(behaviour, peer, request, reply);
            }
            Command::Gossip { entry } => {
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
            }
            Command::Status { reply } => {
                let _ = reply.send(self.status());
            }
            Command::ListenAddrs { reply } => {
                let _ = reply.send(self.swarm.listeners().cloned().collect());
            }
            Command::Dial { peer, addr, reply } => {
                let result = peer_id_of(&peer).and_then(|peer_id| {
                    if let Some(known) = self.addresses.get_mut(&peer_id) {
                        if !known.contains(&addr) {
                            known.push(addr.clone());
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
                let connected = self.core.connected_peers().len();
                self.handle(Input::SyncNow);
                let _ = reply.send(connected);
            }
            Command::SetMembers {
                members,
                limits,
                reply,
            } => {
                self.set_members(members, limits);
                let _ = reply.send(());
            }
        }
    }

    /// Applies a new membership: members no longer listed are disallowed (which
    /// closes their connections) and never redialled; new ones are allowed and
    /// dialled at once; the core fetches the new set of keys.
    fn set_members(&mut self, members: Vec<Peer>, limits: HashMap<PublicKey, u64>) {
        let mut listed: HashMap<PeerId, Peer> = HashMap::new();
        for member in members.into_iter().take(crate::limits::MAX_MEMBER_NODES) {
            match peer_id_of(&member.key) {
                Ok(peer_id) => {
                    listed.insert(peer_id, member);
                }
                Err(error) => tracing::warn!(member = %member.code, %error, "skipping a node key"),
            }
        }
        let gone: Vec<PeerId> = self
            .addresses
            .keys()
            .filter(|p| !listed.contains_key(p))
            .copied()
            .collect();
        let until = tokio::time::Instant::now() + crate::limits::CLOSING_GRACE;
        for peer in gone {
            tracing::info!(%peer, grace = ?crate::limits::CLOSING_GRACE, "no longer a member's node: disconnecting after the grace");
            self.closing.insert(peer, until);
            self.redial.forget(&peer);
            self.addresses.remove(&peer);
        }
        // Listed again before its grace ended (a membership that moved back).
        self.closing.retain(|peer, _| !listed.contains_key(peer));
        let now = now_ms();
        for (peer, member) in &listed {
            let known = self.addresses.entry(*peer).or_insert_with(|| {
                self.swarm.behaviour_mut().allowed.allow_peer(*peer);
                if !self.swarm.is_connected(peer) {
                    self.redial.disconnected(*peer, now);
                }
                Vec::new()
            });
            for address in &member.addresses {
                if !known.contains(address) {
                    known.push(address.clone());
                }
            }
        }
        // Members whose connection came up before we knew them (a node admitted just
        // now): the core hears of the connection now, and starts an exchange.
        let known_before: std::collections::HashSet<PeerId> =
            self.core.peers().map(|(p, _)| *p).collect();
        let connected_new: Vec<PeerId> = listed
            .keys()
            .filter(|p| !known_before.contains(p) && self.swarm.is_connected(p))
            .copied()
            .collect();
        self.core.set_members(
            listed
                .into_iter()
                .map(|(peer, member)| (peer, member.code, member.key)),
            limits,
        );
        for peer in connected_new {
            self.redial.connected(&peer, now);
            self.handle(Input::Connected { peer, dialer: true });
        }
        self.redial();
    }

    fn status(&self) -> NetworkStatus {
        let gossipsub = &self.swarm.behaviour().gossipsub;
        // "In sync" holds only while our frontier is still what the peer agreed with.
        let current = self.frontier.borrow().bucket_digests();
        let mut peers: Vec<PeerStatus> = self
            .core
            .peers()
            .map(|(peer_id, s)| PeerStatus {
                code: s.code.clone(),
                public_key: s.key.to_hex(),
                peer_id: peer_id.to_string(),
                connected: s.connected,
                last_sync_ms: s.last_sync_ms,
                lag_entries: s.lag_entries,
                in_sync: s.in_sync(&current),
                entries_received: s.entries_received,
                rejected: s.rejected.clone(),
                refused_ours: s.refused_ours.clone(),
                clock_offset_ms: s.clock_offset_ms,
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
            counters: self.core.counters().clone(),
            ingest_store_failures: self.store_failures,
            own_log_confirmed: self.core.own_log_confirmed(),
            clock_offset_ms: self.core.clock_offset_ms(),
        }
    }

    /// Disallows and disconnects the former members' nodes whose grace has ended.
    fn disconnect_closed(&mut self) {
        let now = tokio::time::Instant::now();
        let ended: Vec<PeerId> = self
            .closing
            .iter()
            .filter(|(_, until)| **until <= now)
            .map(|(peer, _)| *peer)
            .collect();
        for peer in ended {
            self.closing.remove(&peer);
            tracing::info!(%peer, "no longer a member's node: disconnecting");
            self.swarm.behaviour_mut().allowed.disallow_peer(peer);
            let _ = self.swarm.disconnect_peer_id(peer);
        }
    }

    /// Dials the members that are due (see [`Redial`]), after closing what is due.
    fn redial(&mut self) {
        self.disconnect_closed();
        for peer in self.redial.due(now_ms()) {
            let Some(addresses) = self.addresses.get(&peer).filter(|a| !a.is_empty()) else {
                continue;
            };
            let opts = libp2p::swarm::dial_opts::DialOpts::peer_id(peer)
                .addresses(addresses.clone())
                .build();
            if let Err(e) = self.swarm.dial(opts) {
                tracing::debug!(%peer, error = %e, "redial");
            }
        }
    }

    fn on_ingested(&mut self, done: IngestDone) {
        for entry in &done.applied {
            // No subscriber is fine; a slow one loses the oldest events (bounded).
            let _ = self.events.send(entry.clone());
        }
        if done.results.is_err() {
            self.store_failures += 1;
        }
        self.handle(Input::Ingested {
            job: done.job,
            results: done.results,
        });
    }

    fn on_swarm_event(&mut self, event: SwarmEvent<BehaviourEvent>) {
        match event {
            SwarmEvent::NewListenAddr { address, .. } => {
                tracing::info!(%address, "listening");
            }
            // Sync once per peer, not once per connection.
            SwarmEvent::ConnectionEstablished {
                peer_id,
                num_established,
                endpoint,
                ..
            } if num_established.get() == 1 => {
                self.redial.connected(&peer_id, now_ms());
                self.handle(Input::Connected {
                    peer: peer_id,
                    dialer: endpoint.is_dialer(),
                })
            }
            SwarmEvent::ConnectionClosed {
                peer_id,
                num_established: 0,
                cause,
                ..
            } => {
                tracing::debug!(%peer_id, ?cause, "disconnected");
                if self.addresses.contains_key(&peer_id) {
                    self.redial.disconnected(peer_id, now_ms());
                }
                self.handle(Input::Disconnected { peer: peer_id })
            }
            SwarmEvent::IncomingConnectionError {
                error: libp2p::swarm::ListenError::Denied { cause },
                ..
            } => {
                // Out of handshake slots: a member may have been refused with the
                // strangers, so dial the members instead.
                let out_of_slots = cause.downcast_ref::<TooManyFromAddress>().is_some()
                    || cause
                        .downcast_ref::<connection_limits::Exceeded>()
                        .is_some();
                if out_of_slots {
                    self.redial.incoming_refused(now_ms());
                }
            }
            // A peer that does not speak ping is not pinged (libp2p stops); only a
            // ping that went unanswered or broke says the connection is dead.
            SwarmEvent::Behaviour(BehaviourEvent::Ping(ping::Event {
                peer,
                connection,
                result: Err(error),
            })) if !matches!(error, ping::Failure::Unsupported) => {
                tracing::info!(%peer, %error, "a ping went unanswered: closing the connection");
                self.swarm.close_connection(connection);
            }
            SwarmEvent::Behaviour(BehaviourEvent::Gossipsub(gossipsub::Event::Message {
                propagation_source,
                message_id,
                message,
            })) => self.handle(Input::Gossip {
                source: propagation_source,
                message: message_id,
                anonymous: message.source.is_none() && message.sequence_number.is_none(),
                data: message.data,
            }),
            SwarmEvent::Behaviour(BehaviourEvent::Sync(event)) => self.on_sync_event(event),
            SwarmEvent::Behaviour(BehaviourEvent::Blobs(event)) => self.blob.on_event(event),
            SwarmEvent::Behaviour(BehaviourEvent::Identify(identify::Event::Received {
                peer_id,
                info,
                ..
            })) => {
                // Remember where members listen, for redials.
                if let Some(known) = self.addresses.get_mut(&peer_id) {
                    for addr in info.listen_addrs {
                        if known.len() < crate::config::MAX_MEMBER_ADDRESSES
                            && !known.contains(&addr)
                        {
                            known.push(addr);
                        }
                    }
                }
            }
            _ => {}
        }
    }

    fn on_sync_event(&mut self, event: request_response::Event<SyncRequest, SyncResponse>) {
        match event {
            request_response::Event::Message { peer, message, .. } => match message {
                request_response::Message::Request {
                    request, channel, ..
                } => self.handle(Input::Asked {
                    peer,
                    request,
                    channel,
                }),
                request_response::Message::Response {
                    request_id,
                    response,
                } => {
                    if let Some(id) = self.requests.remove(&request_id) {
                        self.handle(Input::Answered { id, response });
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
                if let Some(id) = self.requests.remove(&request_id) {
                    self.handle(Input::Failed { id });
                }
            }
            _ => {}
        }
    }
}

/// The answer to a sync request, from the store.
fn answer(store: &Store, request: SyncRequest, stamp: Stamp) -> SyncResponse {
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
                now_ms: stamp.now_ms,
                refusals: stamp.refusals,
            },
            Err(e) => refused(e),
        },
        SyncRequest::Entries {
            author,
            from_seq,
            max_count,
            max_bytes,
        } => {
            match store.raw_entries_from(&author, from_seq, max_count as usize, max_bytes as usize)
            {
                // The asking node verifies every entry: served as stored.
                Ok(page) => SyncResponse::Entries {
                    entries: page.entries,
                    more: page.more,
                },
                Err(e) => refused(e),
            }
        }
        SyncRequest::ForkProof { author, seq } => match store.fork_proof(&author, seq) {
            Ok(proof) => SyncResponse::Entries {
                entries: proof
                    .map(|p| vec![p.first.encode(), p.second.encode()])
                    .unwrap_or_default(),
                more: false,
            },
            Err(e) => refused(e),
        },
    }
}
