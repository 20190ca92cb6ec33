//! A running node: the store and the network, started and stopped together.
//! `run(dir, shutdown)` is what the binary calls; tests use [`Node::start`] directly.

use std::future::Future;
use std::path::{Path, PathBuf};

use customs_protocol::{Body, SecretKey, VerifiedEntry};
use thiserror::Error;
use tokio::task::JoinHandle;

use crate::admission::now_ms;
use crate::config::{ConfigError, Members, NodeConfig, KEY_FILE, STORE_DIR};
use crate::identity::{read_key_file, KeyFileError};
use crate::network::{self, parse_multiaddr, Client, NetworkConfig, NetworkError, Peer};
use crate::store::{Store, StoreConfig, StoreError};

#[derive(Debug, Error)]
pub enum NodeError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Key(#[from] KeyFileError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Network(#[from] NetworkError),
    #[error("the node's worker task failed: {0}")]
    Task(String),
}

/// Everything needed to start a node, loaded from a node directory or built by tests.
#[derive(Debug, Clone)]
pub struct NodeParams {
    pub store: StoreConfig,
    pub network: NetworkConfig,
}

impl NodeParams {
    /// Reads DIR/node.toml, DIR/members.toml and DIR/identity.key.
    pub fn load(dir: &Path) -> Result<NodeParams, NodeError> {
        let config = NodeConfig::load(dir)?;
        let members = Members::load(dir)?;
        let key = read_key_file(&dir.join(KEY_FILE))?;
        let mut peers = Vec::new();
        for member in members.members {
            let addresses = member
                .addresses
                .iter()
                .map(|a| parse_multiaddr(a))
                .collect::<Result<Vec<_>, _>>()?;
            peers.push(Peer {
                code: member.code,
                key: member.public_key,
                addresses,
            });
        }
        let store = StoreConfig {
            path: dir.join(STORE_DIR),
            network: config.node.network.clone(),
            cache_capacity_bytes: config.store.cache_capacity_bytes,
            max_pending_entries: config.store.max_pending_entries,
            max_pending_bytes: config.store.max_pending_bytes,
        };
        let p2p = &config.p2p;
        let network = NetworkConfig {
            key,
            code: config.node.code.clone(),
            network: config.node.network.clone(),
            listen: parse_multiaddr(&p2p.listen)?,
            members: peers,
            sync_interval: std::time::Duration::from_millis(p2p.sync_interval_ms),
            redial_interval: std::time::Duration::from_millis(p2p.redial_interval_ms),
            max_clock_skew_ms: p2p.max_clock_skew_ms,
            max_pending_incoming: p2p.max_pending_incoming,
            max_established_total: p2p.max_established_total,
            max_established_per_peer: p2p.max_established_per_peer,
        };
        Ok(NodeParams { store, network })
    }
}

/// A started node.
#[derive(Debug)]
pub struct Node {
    pub store: Store,
    pub client: Client,
    key: SecretKey,
    network_task: JoinHandle<()>,
}

impl Node {
    pub async fn start(params: NodeParams) -> Result<Node, NodeError> {
        let store_config = params.store.clone();
        let store = tokio::task::spawn_blocking(move || Store::open(store_config))
            .await
            .map_err(|e| NodeError::Task(e.to_string()))??;
        let key = params.network.key.clone();
        let (client, network_task) = network::spawn(params.network, store.clone()).await?;
        Ok(Node {
            store,
            client,
            key,
            network_task,
        })
    }

    /// Signs and stores `body` as this node's next entry (durable when this returns),
    /// then gossips it.
    pub async fn publish(&self, body: Body) -> Result<VerifiedEntry, NodeError> {
        let store = self.store.clone();
        let key = self.key.clone();
        let entry = tokio::task::spawn_blocking(move || store.append_own(&key, body, now_ms()))
            .await
            .map_err(|e| NodeError::Task(e.to_string()))??;
        self.client.gossip(entry.signed().clone()).await?;
        Ok(entry)
    }

    pub fn public_key(&self) -> customs_protocol::PublicKey {
        self.key.public_key()
    }

    /// Stops the network (connections closed), then flushes the store.
    pub async fn shutdown(self) -> Result<(), NodeError> {
        let _ = self.client.shutdown().await;
        let _ = self.network_task.await;
        let store = self.store;
        tokio::task::spawn_blocking(move || store.flush())
            .await
            .map_err(|e| NodeError::Task(e.to_string()))??;
        Ok(())
    }
}

/// Runs the node in `dir` until `shutdown` completes, then stops cleanly.
pub async fn run(dir: PathBuf, shutdown: impl Future<Output = ()>) -> Result<(), NodeError> {
    let params = NodeParams::load(&dir)?;
    let node = Node::start(params).await?;
    tracing::info!(dir = %dir.display(), key = %node.public_key(), "node started");
    shutdown.await;
    tracing::info!("shutting down");
    node.shutdown().await
}
