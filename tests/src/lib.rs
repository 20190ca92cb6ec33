//! Helpers for tests that run real `customs-node` processes.

use std::path::PathBuf;
use std::time::{Duration, Instant};

/// The `customs-node` binary built by `cargo test --workspace` (the node package has
/// integration tests, so cargo builds its binary before any test runs).
pub fn node_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    // target/<profile>/deps/<test> -> target/<profile>/customs-node
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("test executable lives in target/<profile>/deps");
    let binary = profile_dir.join("customs-node");
    assert!(
        binary.exists(),
        "{} is missing: run the tests with `cargo test --workspace`",
        binary.display()
    );
    binary
}

/// Polls `condition` until it returns `Some`, or fails after `timeout` naming `what`.
/// Tests wait for conditions, never for fixed times.
pub fn wait_for<T>(what: &str, timeout: Duration, mut condition: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    let mut pause = Duration::from_millis(5);
    loop {
        if let Some(value) = condition() {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        std::thread::park_timeout(pause);
        pause = (pause * 2).min(Duration::from_millis(200));
    }
}

/// In-process nodes: real swarms on 127.0.0.1 (port 0) and real stores on disk.
pub mod cluster {
    use std::time::Duration;

    use customs_node::network::{NetworkConfig, Peer};
    use customs_node::node::{Node, NodeParams};
    use customs_node::store::StoreConfig;
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
            wait_async("a listen address", Duration::from_secs(10), || {
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

        pub async fn restart(&mut self) {
            assert!(self.node.is_none(), "stop it first");
            self.node = Some(Node::start(self.params.clone()).await.expect("restarts"));
        }
    }

    /// Re-exported so tests need not depend on libp2p themselves.
    pub mod libp2p_addr {
        pub use customs_node::network::Multiaddr;
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
        NodeParams {
            store: StoreConfig::new(dir.path().join("store"), NETWORK),
            network: NetworkConfig {
                key,
                code: member_code(i),
                network: NETWORK.into(),
                listen: "/ip4/127.0.0.1/tcp/0".parse().expect("multiaddr"),
                members: peers,
                sync_interval: Duration::from_millis(500),
                redial_interval: Duration::from_millis(500),
                max_clock_skew_ms: 300_000,
                max_pending_incoming: 32,
                max_established_total: 64,
                max_established_per_peer: 2,
            },
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

    /// Waits until `condition` holds, polling, or fails after `timeout`.
    pub async fn wait_until(what: &str, timeout: Duration, mut condition: impl FnMut() -> bool) {
        let deadline = tokio::time::Instant::now() + timeout;
        while !condition() {
            assert!(
                tokio::time::Instant::now() < deadline,
                "timed out after {timeout:?} waiting for {what}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn wait_async<T, F, Fut>(what: &str, timeout: Duration, mut probe: F) -> T
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
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}
