//! Helpers for tests that run real `customs-node` processes.

use std::path::PathBuf;
use std::time::{Duration, Instant};

/// The `customs-node` binary built by `cargo test --workspace` (the node package has
/// integration tests, so cargo builds its binary before any test runs).
pub fn node_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    // A test: target/<profile>/deps/<test> -> target/<profile>/customs-node; the
    // benchmark harness: target/<profile>/customs-bench, beside it.
    let candidates: Vec<PathBuf> = exe
        .ancestors()
        .skip(1)
        .take(2)
        .map(|dir| dir.join("customs-node"))
        .collect();
    candidates
        .iter()
        .find(|binary| binary.exists())
        .cloned()
        .unwrap_or_else(|| {
            panic!(
                "customs-node is missing from {candidates:?}: run the tests with `cargo test --workspace`"
            )
        })
}

/// A free TCP port on loopback (bound, then released for a node or driver to take).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// The `p`th percentile (0..=100) of sorted durations, nearest rank.
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// The buckets of histogram `family` in a Prometheus text (`/metrics`): `(le,
/// cumulative count)` in the order written, so +Inf (as infinity) last.
pub fn histogram_buckets(metrics: &str, family: &str) -> Vec<(f64, f64)> {
    let prefix = format!("{family}_bucket{{le=\"");
    metrics
        .lines()
        .filter_map(|line| {
            let (le, count) = line.strip_prefix(&prefix)?.split_once("\"} ")?;
            let le = match le {
                "+Inf" => f64::INFINITY,
                le => le.parse().ok()?,
            };
            Some((le, count.parse().ok()?))
        })
        .collect()
}

/// Runs `python3` with `args` (a script of ours or `-c`) and returns the JSON it
/// prints; panics with its standard error if it fails. The Python packages the tests
/// use are pinned in tests/field/requirements.txt, which `.ci/run` installs.
pub fn python_json(args: &[&std::ffi::OsStr]) -> serde_json::Value {
    let output = std::process::Command::new("python3")
        .args(args)
        .output()
        .expect("python3 runs (CI installs tests/field/requirements.txt)");
    assert!(
        output.status.success(),
        "python3 {:?}: {}",
        args.first(),
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("python3 prints JSON")
}

/// Polls `condition` until it returns `Some`, or fails after `timeout` naming `what`.
/// Tests wait for conditions, never for fixed times.
pub fn wait_for<T>(what: &str, timeout: Duration, condition: impl FnMut() -> Option<T>) -> T {
    wait_for_explained(what, timeout, condition, String::new)
}

/// [`wait_for`], adding what `explain` says (a node's status, say) to the failure.
pub fn wait_for_explained<T>(
    what: &str,
    timeout: Duration,
    mut condition: impl FnMut() -> Option<T>,
    explain: impl FnOnce() -> String,
) -> T {
    let deadline = Instant::now() + timeout;
    let mut pause = Duration::from_millis(5);
    loop {
        if let Some(value) = condition() {
            return value;
        }
        if Instant::now() >= deadline {
            panic!(
                "timed out after {timeout:?} waiting for {what}\n{}",
                explain()
            );
        }
        std::thread::park_timeout(pause);
        pause = (pause * 2).min(Duration::from_millis(200));
    }
}

pub mod faults;
pub mod governed;
pub mod hostile;
pub mod process;
pub mod scenarios;

/// In-process nodes: real swarms on 127.0.0.1 (port 0) and real stores on disk.
pub mod cluster {
    use std::time::Duration;

    use customs_node::config::ApiSection;
    use customs_node::membership::{MembershipView, Source};
    use customs_node::network::{NetworkConfig, Peer};
    use customs_node::node::{Node, NodeParams};
    use customs_node::store::StoreConfig;
    use customs_node::tokens::{self, Role, TOKENS_FILE};
    use customs_protocol::{EntryId, PublicKey, SecretKey};

    pub const NETWORK: &str = "customs-test";

    /// A test node and the directory it lives in.
    #[derive(Debug)]
    pub struct TestNode {
        pub node: Option<Node>,
        pub key: SecretKey,
        pub code: String,
        pub dir: tempfile::TempDir,
        pub params: NodeParams,
    }

    impl TestNode {
        pub fn node(&self) -> &Node {
            self.node.as_ref().expect("node is running")
        }

        pub fn public_key(&self) -> PublicKey {
            self.key.public_key()
        }

        pub fn holds(&self, id: &EntryId) -> bool {
            self.node().store.contains(id).unwrap_or(false)
        }

        pub async fn address(&self) -> libp2p_addr::Multiaddr {
            let client = self.node().client.clone();
            eventually("a listen address", Duration::from_secs(10), || {
                let client = client.clone();
                async move {
                    client
                        .listen_addrs()
                        .await
                        .ok()
                        .and_then(|a| a.into_iter().next())
                }
            })
            .await
        }

        pub async fn stop(&mut self) {
            if let Some(node) = self.node.take() {
                node.shutdown().await.expect("clean shutdown");
            }
        }

        /// The base URL of the node's HTTP API.
        pub fn api_url(&self) -> String {
            format!("http://{}", self.node().api_addr())
        }

        /// A new API token with `role` (the running node sees it at once).
        pub fn token(&self, role: Role) -> String {
            let name = format!("test-{role}-{}", rand_suffix());
            tokens::create(&self.params.tokens_path, &name, role, 0).expect("token")
        }

        /// An HTTP client of this node's API with a new token of `role`.
        pub fn http(&self, role: Role) -> crate::http::Http {
            crate::http::Http {
                base: self.api_url(),
                token: Some(self.token(role)),
            }
        }

        pub async fn restart(&mut self) {
            assert!(self.node.is_none(), "stop it first");
            self.node = Some(Node::start(self.params.clone()).await.expect("restarts"));
        }
    }

    /// Re-exported so tests need not depend on libp2p themselves.
    pub mod libp2p_addr {
        pub use customs_node::network::Multiaddr;
    }

    fn rand_suffix() -> u64 {
        use std::sync::atomic::{AtomicU64, Ordering};
        static NEXT: AtomicU64 = AtomicU64::new(0);
        NEXT.fetch_add(1, Ordering::Relaxed)
    }

    pub fn member_code(i: usize) -> String {
        format!("N{}", (b'A' + i as u8) as char)
    }

    /// Node `i` of a network whose members are `members` (seeds 1..=n by index).
    pub fn params(i: usize, members: &[usize], dir: &tempfile::TempDir) -> NodeParams {
        let key = SecretKey::from_seed([i as u8 + 1; 32]);
        let peers = members
            .iter()
            .filter(|&&m| m != i)
            .map(|&m| Peer {
                code: member_code(m),
                key: SecretKey::from_seed([m as u8 + 1; 32]).public_key(),
                addresses: Vec::new(),
            })
            .collect();
        node_params(dir.path(), key, &member_code(i), peers)
    }

    /// A test node's parameters: listens (p2p and API) on 127.0.0.1 port 0, syncs and
    /// redials every 500 ms, stores under `dir`. Tests publish before connecting, so
    /// the publish-before-sync guard is off here; its own test turns it on.
    pub fn node_params(
        dir: &std::path::Path,
        key: SecretKey,
        code: &str,
        members: Vec<Peer>,
    ) -> NodeParams {
        let source = Source::fixed(
            NETWORK,
            (
                code.to_string(),
                format!("Administration {code}"),
                key.public_key(),
            ),
            &members,
        );
        NodeParams {
            store: StoreConfig::new(dir.join("store"), NETWORK),
            network: NetworkConfig {
                key,
                code: code.into(),
                network: NETWORK.into(),
                listen: "/ip4/127.0.0.1/tcp/0".parse().expect("multiaddr"),
                membership: MembershipView::new(source.initial()),
                bootstrap: Vec::new(),
                members,
                sync_interval: Duration::from_millis(500),
                redial_interval: Duration::from_millis(500),
                ping_interval: Duration::from_secs(2),
                ping_timeout: Duration::from_secs(5),
                handshake_timeout: Duration::from_secs(5),
                max_clock_skew_ms: 300_000,
                max_pending_incoming: 32,
                max_pending_incoming_per_address: 4,
                max_established_total: 64,
                max_established_per_peer: 2,
            },
            api: ApiSection {
                listen: "127.0.0.1:0".into(),
                ..ApiSection::default()
            },
            name: format!("Administration {code}"),
            tokens_path: dir.join(TOKENS_FILE),
            allow_publish_before_sync: true,
            audit_dir: Some(dir.to_path_buf()),
            audit: Default::default(),
            notify: customs_node::config::NotifySection {
                webhook_retry_initial_ms: 200,
                ..Default::default()
            },
            membership: source,
            dir: None,
            encryption_secrets: Vec::new(),
        }
    }

    /// Starts `n` nodes, all members of one network, not yet connected.
    pub async fn start(n: usize) -> Vec<TestNode> {
        start_some(n, n).await
    }

    /// A network of `members` members of which the first `running` are started (the
    /// others can be started later with [`TestNode::restart`]).
    pub async fn start_some(members: usize, running: usize) -> Vec<TestNode> {
        let all: Vec<usize> = (0..members).collect();
        let mut nodes = Vec::new();
        for i in 0..members {
            let dir = tempfile::tempdir().expect("tempdir");
            let params = params(i, &all, &dir);
            let node = if i < running {
                Some(Node::start(params.clone()).await.expect("node starts"))
            } else {
                None
            };
            nodes.push(TestNode {
                node,
                key: params.network.key.clone(),
                code: member_code(i),
                dir,
                params,
            });
        }
        nodes
    }

    /// Node `from` dials node `to`.
    pub async fn connect(nodes: &[TestNode], from: usize, to: usize) {
        let addr = nodes[to].address().await;
        nodes[from]
            .node()
            .client
            .dial(nodes[to].public_key(), addr)
            .await
            .expect("dial");
    }

    /// How often waits look again.
    pub const POLL_INTERVAL: Duration = Duration::from_millis(20);

    /// Waits until `condition` holds, looking every [`POLL_INTERVAL`], or fails after
    /// `timeout` naming `what`.
    pub async fn wait_until(what: &str, timeout: Duration, mut condition: impl FnMut() -> bool) {
        eventually(what, timeout, || {
            std::future::ready(condition().then_some(()))
        })
        .await
    }

    /// Waits until `probe` gives a value, looking every [`POLL_INTERVAL`], or fails
    /// after `timeout` naming `what`.
    pub async fn eventually<T, F, Fut>(what: &str, timeout: Duration, mut probe: F) -> T
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Option<T>>,
    {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if let Some(value) = probe().await {
                return value;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "timed out after {timeout:?} waiting for {what}"
            );
            tokio::time::sleep(POLL_INTERVAL).await;
        }
    }
}

/// A hand-driven libp2p peer that speaks gossipsub on the network's topic and publishes
/// whatever bytes a test gives it: forged, truncated, oversized, replayed entries, or
/// entries of a key that misbehaves. Built from the same libp2p parts as a node.
pub mod rogue {
    use std::time::Duration;

    use customs_protocol::wire::gossip_topic;
    use customs_protocol::SecretKey;
    use futures::StreamExt;
    use libp2p::gossipsub::{self, IdentTopic, MessageId};
    use libp2p::swarm::SwarmEvent;
    use libp2p::{noise, tcp, yamux, Multiaddr, PeerId};
    use tokio::sync::mpsc;

    #[derive(Debug)]
    pub enum Seen {
        Connected(PeerId),
        Closed(PeerId),
        DialFailed(String),
        Subscribed(PeerId),
    }

    /// Commands to the rogue's task.
    #[derive(Debug)]
    enum Order {
        Dial(Multiaddr),
        Publish(Vec<u8>),
    }

    #[derive(Debug)]
    pub struct Rogue {
        orders: mpsc::Sender<Order>,
        pub seen: mpsc::Receiver<Seen>,
        pub peer_id: PeerId,
    }

    impl Rogue {
        /// A member (or stranger) whose gossip is anonymous, as the protocol wants.
        pub fn start(key: &SecretKey, network: &str) -> Rogue {
            Self::launch(key, network, false)
        }

        /// One that signs its gossip messages (author, sequence number, signature):
        /// a member configured against SPEC.md section 11.
        pub fn start_signing(key: &SecretKey, network: &str) -> Rogue {
            Self::launch(key, network, true)
        }

        fn launch(key: &SecretKey, network: &str, signing: bool) -> Rogue {
            let keypair = libp2p::identity::Keypair::ed25519_from_bytes(key.seed()).expect("key");
            let peer_id = keypair.public().to_peer_id();
            let topic = IdentTopic::new(gossip_topic(network));
            let (authenticity, mode) = if signing {
                (
                    gossipsub::MessageAuthenticity::Signed(keypair.clone()),
                    gossipsub::ValidationMode::Strict,
                )
            } else {
                (
                    gossipsub::MessageAuthenticity::Anonymous,
                    gossipsub::ValidationMode::Anonymous,
                )
            };
            let config = gossipsub::ConfigBuilder::default()
                .validation_mode(mode)
                .heartbeat_interval(Duration::from_millis(200))
                // Large enough to send what the nodes must refuse.
                .max_transmit_size(256 * 1024)
                .message_id_fn(|m| {
                    use std::hash::{Hash, Hasher};
                    let mut h = std::collections::hash_map::DefaultHasher::new();
                    m.data.hash(&mut h);
                    MessageId::from(h.finish().to_be_bytes().to_vec())
                })
                .build()
                .expect("config");
            let mut swarm = libp2p::SwarmBuilder::with_existing_identity(keypair)
                .with_tokio()
                .with_tcp(
                    tcp::Config::default(),
                    noise::Config::new,
                    yamux::Config::default,
                )
                .expect("tcp")
                .with_behaviour(|_| {
                    gossipsub::Behaviour::<
                        gossipsub::IdentityTransform,
                        gossipsub::AllowAllSubscriptionFilter,
                    >::new(authenticity, config)
                    .expect("gossipsub")
                })
                .expect("behaviour")
                .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(60)))
                .build();
            swarm.behaviour_mut().subscribe(&topic).expect("subscribe");
            let (orders, mut order_rx) = mpsc::channel::<Order>(64);
            let (seen_tx, seen) = mpsc::channel::<Seen>(256);
            tokio::spawn(async move {
                loop {
                    tokio::select! {
                        order = order_rx.recv() => match order {
                            Some(Order::Dial(addr)) => {
                                if let Err(e) = swarm.dial(addr) {
                                    let _ = seen_tx.try_send(Seen::DialFailed(e.to_string()));
                                }
                            }
                            Some(Order::Publish(bytes)) => {
                                let _ = swarm.behaviour_mut().publish(topic.clone(), bytes);
                            }
                            None => break,
                        },
                        event = swarm.select_next_some() => {
                            let report = match event {
                                SwarmEvent::ConnectionEstablished { peer_id, .. } => Some(Seen::Connected(peer_id)),
                                SwarmEvent::ConnectionClosed { peer_id, .. } => Some(Seen::Closed(peer_id)),
                                SwarmEvent::OutgoingConnectionError { error, .. } => Some(Seen::DialFailed(error.to_string())),
                                SwarmEvent::Behaviour(gossipsub::Event::Subscribed { peer_id, .. }) => Some(Seen::Subscribed(peer_id)),
                                _ => None,
                            };
                            if let Some(report) = report {
                                let _ = seen_tx.try_send(report);
                            }
                        }
                    }
                }
            });
            Rogue {
                orders,
                seen,
                peer_id,
            }
        }

        pub async fn dial(&self, addr: Multiaddr) {
            self.orders
                .send(Order::Dial(addr))
                .await
                .expect("rogue running");
        }

        pub async fn publish(&self, bytes: Vec<u8>) {
            self.orders
                .send(Order::Publish(bytes))
                .await
                .expect("rogue running");
        }

        /// The next event matching `want`, or `None` after `timeout`.
        pub async fn wait_for(
            &mut self,
            timeout: Duration,
            want: impl Fn(&Seen) -> bool,
        ) -> Option<Seen> {
            let deadline = tokio::time::Instant::now() + timeout;
            loop {
                match tokio::time::timeout_at(deadline, self.seen.recv()).await {
                    Ok(Some(seen)) if want(&seen) => return Some(seen),
                    Ok(Some(_)) => continue,
                    _ => return None,
                }
            }
        }
    }
}

/// A small HTTP client for the node's API: real requests over real sockets.
pub mod http {
    use std::time::Duration;

    use customs_node::client::ApiClient;

    pub use serde_json::{json, Value};

    #[derive(Debug, Clone)]
    pub struct Http {
        pub base: String,
        pub token: Option<String>,
    }

    /// A response: status, headers of interest, the body as bytes, as text and as JSON
    /// (or Null).
    #[derive(Debug, Clone)]
    pub struct Reply {
        pub status: u16,
        pub content_type: String,
        pub location: Option<String>,
        /// Every header, names in lower case.
        pub headers: Vec<(String, String)>,
        pub text: String,
        pub json: Value,
        pub bytes: Vec<u8>,
    }

    impl Reply {
        /// The `error` code of an error body.
        pub fn error(&self) -> &str {
            self.json["error"].as_str().unwrap_or("")
        }

        pub fn field(&self) -> &str {
            self.json["field"].as_str().unwrap_or("")
        }

        /// The first value of header `name` (lower case).
        pub fn header(&self, name: &str) -> Option<&str> {
            self.headers
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.as_str())
        }
    }

    impl Http {
        pub fn with_token(&self, token: Option<&str>) -> Http {
            Http {
                base: self.base.clone(),
                token: token.map(str::to_string),
            }
        }

        /// Sends `method path` with an optional raw body and content type through
        /// the node's own API client; any status is a reply (never an error), a
        /// transport failure panics.
        pub async fn raw(&self, method: &str, path: &str, body: Option<(&str, Vec<u8>)>) -> Reply {
            self.raw_with(method, path, body, &[]).await
        }

        /// [`Http::raw`] with extra request headers.
        pub async fn raw_with(
            &self,
            method: &str,
            path: &str,
            body: Option<(&str, Vec<u8>)>,
            headers: &[(&str, &str)],
        ) -> Reply {
            let client = ApiClient::new(
                &self.base,
                self.token.as_deref(),
                Some(Duration::from_secs(30)),
            );
            let method = method.to_string();
            let path = path.to_string();
            let body = body.map(|(content_type, bytes)| (content_type.to_string(), bytes));
            let headers: Vec<(String, String)> = headers
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect();
            tokio::task::spawn_blocking(move || {
                let sent = body.as_ref().map(|(t, b)| (t.as_str(), b.as_slice()));
                let headers: Vec<(&str, &str)> = headers
                    .iter()
                    .map(|(n, v)| (n.as_str(), v.as_str()))
                    .collect();
                let reply = client
                    .send_with(&method, &path, sent, &headers)
                    .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
                Reply {
                    status: reply.status,
                    content_type: reply.content_type.clone(),
                    location: reply.location.clone(),
                    headers: reply.headers.clone(),
                    text: reply.text(),
                    json: reply.json(),
                    bytes: reply.bytes,
                }
            })
            .await
            .expect("request task")
        }

        pub async fn get(&self, path: &str) -> Reply {
            self.raw("GET", path, None).await
        }

        pub async fn post(&self, path: &str, body: &Value) -> Reply {
            self.post_with(path, body, &[]).await
        }

        /// [`Http::post`] with extra request headers.
        pub async fn post_with(&self, path: &str, body: &Value, headers: &[(&str, &str)]) -> Reply {
            self.raw_with(
                "POST",
                path,
                Some(("application/json", body.to_string().into_bytes())),
                headers,
            )
            .await
        }
    }

    /// The sample alert as JSON (valid as is).
    pub fn sample_alert() -> Value {
        serde_json::to_value(customs_protocol::samples::risk_alert()).expect("json")
    }

    pub fn sample_aeo() -> Value {
        serde_json::to_value(customs_protocol::samples::aeo_record()).expect("json")
    }
}

pub mod browser;
