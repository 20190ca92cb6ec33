//! A running node: the store, the network and the HTTP API, started and stopped
//! together. `run(dir, shutdown)` is what the binary calls; tests use [`Node::start`].

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use customs_protocol::{Body, EntryId, PublicKey, VerifiedEntry};
use thiserror::Error;
use tokio::task::JoinHandle;

use crate::api::{self, NodeHandle, NodeIdentity};
use crate::audit::{Audit, Event};
use crate::config::{
    ApiSection, AuditSection, ConfigError, Members, NodeConfig, KEY_FILE, STORE_DIR,
};
use crate::identity::{read_key_file, KeyFileError};
use crate::membership::{
    self, read_charter, MembershipError, MembershipView, Source, CHARTER_FILE,
};
use crate::network::{self, parse_multiaddr, Client, NetworkConfig, NetworkError, Peer};
use crate::notify::Notifier;
use crate::publish::{PublishError, Publisher};
use crate::store::{Store, StoreConfig, StoreError};
use crate::tokens::{Tokens, TOKENS_FILE};

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
    #[error("cannot listen for the HTTP API on {addr}: {reason}")]
    ApiListen { addr: String, reason: String },
    #[error(transparent)]
    Publish(#[from] PublishError),
    #[error(transparent)]
    Membership(#[from] MembershipError),
    #[error(
        "the node did not stop within {0:?}; stopped it anyway (acknowledged entries are on disk)"
    )]
    ShutdownTimeout(Duration),
}

/// How often a stopping node looks whether the store's last users let go.
const STORE_RELEASE_POLL: Duration = Duration::from_millis(10);

/// How often the store is probed for writes (one small flush).
const STORE_PROBE_INTERVAL: Duration = Duration::from_secs(2);

/// How long a stopping node lets HTTP requests in flight finish.
pub const API_SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// How long a stopping node may take in all: below the 10 s a container runtime
/// waits after SIGTERM before it kills.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(8);

/// Everything needed to start a node, loaded from a node directory or built by tests.
#[derive(Debug, Clone)]
pub struct NodeParams {
    pub store: StoreConfig,
    pub network: NetworkConfig,
    pub api: ApiSection,
    /// The administration's name, as the status shows it.
    pub name: String,
    /// DIR/tokens.toml: the API tokens (hashes).
    pub tokens_path: PathBuf,
    /// See `node.allow_publish_before_sync` in node.toml.
    pub allow_publish_before_sync: bool,
    /// Where audit.log goes (the node directory); `None`: no audit log.
    pub audit_dir: Option<PathBuf>,
    pub audit: AuditSection,
    /// Watch lists and webhooks.
    pub notify: crate::config::NotifySection,
    /// Where the membership comes from: the charter, or static member lists.
    pub membership: Source,
    /// The node directory (key rotation writes there); `None` for nodes built in
    /// memory by tests.
    pub dir: Option<PathBuf>,
    /// This node's X25519 secrets (DIR/encryption.key and the ones rotations
    /// retired), which open the restricted records addressed to it; none on a node of
    /// static member lists.
    pub encryption_secrets: Vec<[u8; 32]>,
}

impl NodeParams {
    /// Reads DIR/node.toml, DIR/members.toml and DIR/identity.key.
    pub fn load(dir: &Path) -> Result<NodeParams, NodeError> {
        let config = NodeConfig::load(dir)?;
        let members = Members::load(dir)?;
        let key = read_key_file(&dir.join(KEY_FILE))?;
        let mut peers = Vec::new();
        for member in members.members {
            // A bad address (a hand-edited members.toml) must not keep the node from
            // starting: it is skipped, with a warning naming the member.
            let addresses = member
                .addresses
                .iter()
                .filter_map(|a| match parse_multiaddr(a) {
                    Ok(address) => Some(address),
                    Err(e) => {
                        tracing::warn!(member = %member.code, error = %e, "skipping a member address that is not a multiaddress");
                        None
                    }
                })
                .collect();
            peers.push(Peer {
                code: member.code,
                key: member.public_key,
                addresses,
            });
        }
        let own = (
            config.node.code.clone(),
            config.node.name.clone(),
            key.public_key(),
        );
        let charter_path = dir.join(CHARTER_FILE);
        let source = if charter_path.exists() {
            let charter = read_charter(&charter_path)?;
            if charter.network_id() != config.node.network {
                return Err(NodeError::Config(ConfigError::Invalid {
                    path: dir.join(crate::config::CONFIG_FILE),
                    field: "node.network".into(),
                    message: format!(
                        "is {:?} but {} founds network {:?}",
                        config.node.network,
                        charter_path.display(),
                        charter.network_id()
                    ),
                }));
            }
            Source::Charter(Box::new(charter))
        } else {
            Source::fixed(&config.node.network, own, &peers)
        };
        let mut bootstrap = Vec::new();
        for address in &config.p2p.bootstrap {
            bootstrap.push(parse_multiaddr(address)?);
        }
        let store = StoreConfig {
            path: dir.join(STORE_DIR),
            network: config.node.network.clone(),
            cache_capacity_bytes: config.store.cache_capacity_bytes,
            max_pending_entries: config.store.max_pending_entries,
            max_pending_bytes: config.store.max_pending_bytes,
            blobs: crate::blobs::BlobLimits {
                cache_bytes: config.store.blob_cache_bytes,
                upload_bytes: config.store.blob_upload_bytes,
                upload_ttl_ms: config.store.blob_upload_ttl_ms,
            },
            blob_fetch_timeout_ms: config.store.blob_fetch_timeout_ms,
            prefetch: crate::blobs::prefetch::PrefetchPolicy {
                categories: config.store.prefetch_categories.clone(),
                max_bytes: config.store.prefetch_max_bytes,
            },
            max_group_keys: config.store.max_group_keys,
            decrypt_trials_per_author_per_hour: config.store.decrypt_trials_per_author_per_hour,
        };
        let p2p = &config.p2p;
        let network = NetworkConfig {
            key,
            code: config.node.code.clone(),
            network: config.node.network.clone(),
            listen: parse_multiaddr(&p2p.listen)?,
            membership: MembershipView::new(source.initial()),
            members: peers,
            bootstrap,
            sync_interval: std::time::Duration::from_millis(p2p.sync_interval_ms),
            redial_interval: std::time::Duration::from_millis(p2p.redial_interval_ms),
            ping_interval: std::time::Duration::from_millis(p2p.ping_interval_ms),
            ping_timeout: std::time::Duration::from_millis(p2p.ping_timeout_ms),
            handshake_timeout: std::time::Duration::from_millis(p2p.handshake_timeout_ms),
            max_clock_skew_ms: p2p.max_clock_skew_ms,
            max_pending_incoming: p2p.max_pending_incoming,
            max_pending_incoming_per_address: p2p.max_pending_incoming_per_address,
            max_established_total: p2p.max_established_total,
            max_established_per_peer: p2p.max_established_per_peer,
        };
        Ok(NodeParams {
            store,
            network,
            api: config.api,
            name: config.node.name,
            tokens_path: dir.join(TOKENS_FILE),
            allow_publish_before_sync: config.node.allow_publish_before_sync,
            audit_dir: Some(dir.to_path_buf()),
            audit: config.audit,
            notify: crate::config::NotifySection {
                // Relative to the node's directory, like every file it reads.
                webhook_ca_file: match config.notify.webhook_ca_file.as_str() {
                    "" => String::new(),
                    file => dir.join(file).to_string_lossy().into_owned(),
                },
                ..config.notify
            },
            membership: source,
            dir: Some(dir.to_path_buf()),
            encryption_secrets: crate::membership::encryption_secrets(dir)?,
        })
    }
}

/// A started node.
#[derive(Debug)]
pub struct Node {
    pub store: Store,
    pub client: Client,
    pub handle: NodeHandle,
    network_task: JoinHandle<()>,
    api_addr: SocketAddr,
    api_stop: tokio::sync::watch::Sender<bool>,
    api_task: JoinHandle<()>,
    watchdog_stop: tokio::sync::watch::Sender<bool>,
    watchdog_task: JoinHandle<()>,
    membership_task: JoinHandle<()>,
    notifier_task: JoinHandle<()>,
    prefetch_task: JoinHandle<()>,
    /// Notified when the node must restart (a key rotation put a new key in place).
    pub restart: Arc<tokio::sync::Notify>,
}

impl Node {
    pub async fn start(params: NodeParams) -> Result<Node, NodeError> {
        let open_files_wanted = params.api.max_connections as u64
            + u64::from(params.network.max_established_total)
            + u64::from(params.network.max_pending_incoming)
            + crate::files::OPEN_FILES_RESERVE;
        let open_files = crate::files::raise_open_files_limit(open_files_wanted);
        if open_files < open_files_wanted {
            tracing::warn!(
                open_files,
                open_files_wanted,
                "the open-files limit is below what the connection caps need: raise it \
                 (LimitNOFILE, ulimit -n) or lower api.max_connections"
            );
        }
        let store_config = params.store.clone();
        let secrets = params.encryption_secrets.clone();
        let store = tokio::task::spawn_blocking(move || {
            let store = Store::open(store_config)?;
            let keys = secrets
                .iter()
                .filter_map(customs_protocol::envelope::OpeningKey::from_secret)
                .collect();
            store.set_opening_keys(keys)?;
            Ok::<_, crate::store::StoreError>(store)
        })
        .await
        .map_err(|e| NodeError::Task(e.to_string()))??;
        let (blob_dir, blob_limits) = (params.store.path.join("blobs"), params.store.blobs.clone());
        let blobs =
            tokio::task::spawn_blocking(move || crate::blobs::Blobs::open(&blob_dir, blob_limits))
                .await
                .map_err(|e| NodeError::Task(e.to_string()))?
                .map(Arc::new)
                .map_err(|e| NodeError::Task(format!("cannot open the attachment blobs: {e}")))?;
        let audit = match &params.audit_dir {
            Some(dir) => Audit::open(dir, &params.audit).map_err(|source| {
                NodeError::Config(ConfigError::Write {
                    path: dir.join(crate::audit::AUDIT_FILE),
                    source,
                })
            })?,
            None => Audit::disabled(),
        };
        let tokens = Tokens::open(params.tokens_path.clone(), audit.clone())?;
        let listener = crate::api::serve::bind(&params.api.listen)
            .await
            .map_err(|e| NodeError::ApiListen {
                addr: params.api.listen.clone(),
                reason: e.to_string(),
            })?;
        let api_addr = listener.local_addr().map_err(|e| NodeError::ApiListen {
            addr: params.api.listen.clone(),
            reason: e.to_string(),
        })?;
        let key = params.network.key.clone();
        let own_key = key.public_key();
        let mut params = params;
        // The membership as the store's governance entries make it, before the
        // network starts: it decides whom to connect to and what to admit.
        // Subscribed first: a governance entry stored from here on (a peer may sync
        // with us before the node has finished starting) makes the follower compute
        // again.
        let governance_changes = store.watch_governance();
        let (source, store_for_membership) = (params.membership.clone(), store.clone());
        let membership = tokio::task::spawn_blocking(move || source.compute(&store_for_membership))
            .await
            .map_err(|e| NodeError::Task(e.to_string()))??;
        let view = params.network.membership.clone();
        let (peers, limits) =
            membership::network_view(&membership, &key.public_key(), &params.network.bootstrap);
        view.set(membership);
        params.network.members = peers.clone();
        let bootstrap = params.network.bootstrap.clone();
        let restart = Arc::new(tokio::sync::Notify::new());
        let identity = NodeIdentity {
            code: params.network.code.clone(),
            name: params.name.clone(),
            network: params.network.network.clone(),
        };
        let max_clock_skew_ms = params.network.max_clock_skew_ms;
        let (client, network_task) = network::spawn(
            params.network,
            store.clone(),
            Some(blobs.clone()),
            audit.clone(),
        )
        .await?;
        client.set_members(peers, limits).await?;
        // A CA file that cannot be read stops the start, naming it, rather than every
        // delivery failing later.
        crate::client::webhook_tls(&params.notify.webhook_ca_file).map_err(|message| {
            NodeError::Config(ConfigError::Invalid {
                path: PathBuf::from(crate::config::CONFIG_FILE),
                field: "notify.webhook_ca_file".into(),
                message,
            })
        })?;
        let notifier = Notifier::open(store.clone(), params.notify.clone(), own_key, view.clone())
            .map_err(|e| NodeError::Task(format!("cannot open the notifier: {e}")))?;
        let handle = NodeHandle {
            attachments: crate::blobs::fetch::Fetcher::new(blobs, client.clone()),
            blob_fetch_timeout: Duration::from_millis(params.store.blob_fetch_timeout_ms),
            notifier: notifier.clone(),
            store: store.clone(),
            client: client.clone(),
            membership: view.clone(),
            rotation: params.dir.clone().map(|dir| membership::Rotation {
                dir,
                restart: restart.clone(),
            }),
            publisher: Publisher::new(
                store.clone(),
                key,
                Some(client.clone()),
                params.allow_publish_before_sync,
                max_clock_skew_ms,
                audit.clone(),
            )
            .with_membership(view.clone()),
        };
        let (api_stop, api_task) = api::spawn(
            listener,
            handle.clone(),
            identity,
            tokens,
            audit.clone(),
            params.api.clone(),
        );
        audit.record(Event::new("node_start", "node", "ok").with_detail(env!("CARGO_PKG_VERSION")));
        tracing::info!(url = %format!("http://{api_addr}"), "API listening");
        let (watchdog_stop, stopped) = tokio::sync::watch::channel(false);
        let membership_task = tokio::spawn(
            membership::Follower {
                store: store.clone(),
                source: params.membership.clone(),
                view: view.clone(),
                network: client.clone(),
                own: own_key,
                bootstrap,
                audit: audit.clone(),
                changes: governance_changes,
            }
            .run(stopped.clone()),
        );
        let notifier_task = tokio::spawn(notifier.run(stopped.clone()));
        let prefetch_task = tokio::spawn(crate::blobs::prefetch::run(
            store.clone(),
            handle.attachments.clone(),
            handle.membership.clone(),
            params.store.prefetch.clone(),
            handle.blob_fetch_timeout,
            stopped.clone(),
        ));
        let watchdog_task = tokio::spawn(watchdog(
            store.clone(),
            handle.publisher.clone(),
            audit,
            view,
            stopped,
        ));
        Ok(Node {
            store,
            client,
            handle,
            network_task,
            api_addr,
            api_stop,
            api_task,
            watchdog_stop,
            watchdog_task,
            membership_task,
            notifier_task,
            prefetch_task,
            restart,
        })
    }

    /// Signs and stores `body` as this node's next entry (durable when this returns),
    /// then gossips it. Refused with [`NodeError::NotSynced`] while the node cannot know
    /// its own log is complete.
    pub async fn publish(&self, body: Body) -> Result<VerifiedEntry, PublishError> {
        Ok(self.handle.publisher.publish(body, None).await?.entry)
    }

    pub fn public_key(&self) -> PublicKey {
        self.handle.public_key()
    }

    /// Where the HTTP API listens.
    pub fn api_addr(&self) -> SocketAddr {
        self.api_addr
    }

    /// Stops the API (requests in flight may finish, live feeds end), then the network
    /// (connections closed), then flushes the store.
    pub async fn shutdown(self) -> Result<(), NodeError> {
        let _ = self.api_stop.send(true);
        let mut api_task = self.api_task;
        if tokio::time::timeout(API_SHUTDOWN_GRACE, &mut api_task)
            .await
            .is_err()
        {
            api_task.abort();
        }
        let _ = self.client.shutdown().await;
        let _ = self.network_task.await;
        let _ = self.watchdog_stop.send(true);
        let _ = self.watchdog_task.await;
        let _ = self.membership_task.await;
        let _ = self.notifier_task.await;
        let _ = self.prefetch_task.await;
        drop(self.handle);
        drop(self.client);
        // A task that was answering a peer may hold the store a moment longer; wait
        // (bounded) so that the store is closed, and can be reopened, on return.
        let store = self.store;
        let deadline = tokio::time::Instant::now() + API_SHUTDOWN_GRACE;
        while store.handles() > 1 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(STORE_RELEASE_POLL).await;
        }
        let flushed = tokio::task::spawn_blocking(move || store.flush())
            .await
            .map_err(|e| NodeError::Task(e.to_string()))?;
        // Every acknowledged entry was flushed before it was acknowledged: what this
        // flush may lose are entries received from members, which they serve again.
        if let Err(error) = flushed {
            tracing::warn!(%error, "the store's last flush failed; entries received since the previous flush will be fetched from members again");
        }
        Ok(())
    }
}

/// Every [`STORE_PROBE_INTERVAL`]: probes the store, and once a probe or any write has
/// failed (a full disk), reopens it on every round until a probe succeeds (readiness
/// follows the store's health, so it turns false on a failure and true again by itself
/// once the disk takes writes). Also records when the first node's permission to
/// publish unsynced is spent, and reports a fork of this node's own key once.
async fn watchdog(
    store: Store,
    publisher: Publisher,
    audit: Audit,
    membership: MembershipView,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    // Forks held at start are not news; each one found later is logged once.
    let mut forks_seen = forks_held(&store);
    // Claims of others' groups: each is logged and audited once per start.
    let mut claims_seen: HashSet<EntryId> = HashSet::new();
    let own = publisher.public_key();
    if let Some(seq) = forks_seen.get(&own) {
        report_own_fork(&audit, *seq);
    }
    // The membership and the day the store's group keys were last chosen for.
    let mut keys_chosen_for: Option<(Arc<customs_protocol::Membership>, i64)> = None;
    loop {
        tokio::select! {
            _ = stop.wait_for(|s| *s) => return,
            _ = tokio::time::sleep(STORE_PROBE_INTERVAL) => {}
        }
        let store = store.clone();
        let publisher = publisher.clone();
        let members = membership.get();
        let today = customs_protocol::Date::from_unix_ms(crate::clock::now_ms()).days_since_epoch();
        // Group keys follow the membership (a removed owner's groups end) and the
        // date (a group ends).
        let choose_keys = keys_chosen_for
            .as_ref()
            .is_none_or(|(chosen, day)| !Arc::ptr_eq(chosen, &members) || *day != today);
        if choose_keys {
            keys_chosen_for = Some((members.clone(), today));
        }
        let round = tokio::task::spawn_blocking(move || {
            if store.health().writable_error.is_some() {
                store.recover()?;
            }
            store.probe(crate::clock::now_ms())?;
            publisher.note_own_log_held()?;
            if choose_keys {
                store.set_membership(members.clone())?;
            }
            store.retry_deferred()?;
            let claims = store.groups(&members)?.claims;
            Ok::<_, StoreError>((forks_held(&store), claims))
        });
        match round.await {
            Ok(Ok((forks, claims))) => {
                for claim in claims {
                    if claims_seen.insert(claim.entry) {
                        tracing::error!(group = %claim.group, claimant = %claim.claimant, entry = %claim.entry, "{}: refused (a member tried to take a group over)", claim.reason);
                        audit.record(
                            Event::new("group_claim", &claim.claimant, "refused")
                                .with_detail(format!("{} (entry {})", claim.reason, claim.entry)),
                        );
                    }
                }
                for (author, seq) in &forks {
                    if forks_seen.get(author).is_some_and(|seen| seen <= seq) {
                        continue;
                    }
                    if *author == own {
                        report_own_fork(&audit, *seq);
                    } else {
                        let member = membership
                            .code_of(author)
                            .unwrap_or_else(|| author.to_hex());
                        tracing::warn!(%member, seq, "a member's key signed two entries with one seq (a fork proof is held)");
                        audit.record(
                            Event::new("fork", &member, "proof_held")
                                .with_detail(format!("seq {seq}")),
                        );
                    }
                }
                forks_seen = forks;
            }
            Ok(Err(error)) => {
                keys_chosen_for = None;
                tracing::warn!(%error, "the store cannot write");
            }
            Err(error) => {
                keys_chosen_for = None;
                tracing::error!(%error, "the store watchdog failed");
            }
        }
    }
}

/// Each author the store holds a fork proof of, with the lowest forked seq (from the
/// in-memory frontier: one entry per author, so bounded by the members).
fn forks_held(store: &Store) -> HashMap<PublicKey, u64> {
    store
        .frontier()
        .map(|frontier| {
            frontier
                .heads()
                .filter(|h| h.fork_seq > 0)
                .map(|h| (h.author, h.fork_seq))
                .collect()
        })
        .unwrap_or_default()
}

fn report_own_fork(audit: &Audit, seq: u64) {
    tracing::error!(seq, "this node's own key signed two entries with one seq: publishing is stopped (see \"A forked key\" in the README)");
    audit.record(
        Event::new("own_key_forked", "node", "publishing_stopped")
            .with_detail(format!("seq {seq}")),
    );
}

/// DIR/api.url: the URL of the API of the node running in DIR, written at start.
pub const API_URL_FILE: &str = "api.url";

/// Runs the node in `dir` until `shutdown` completes, then stops cleanly.
pub async fn run(dir: PathBuf, shutdown: impl Future<Output = ()>) -> Result<(), NodeError> {
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let params = NodeParams::load(&dir)?;
        let node = Node::start(params).await?;
        // For the CLI and scripts: where the API of the node running in `dir` listens
        // (the configured port may be 0).
        crate::config::write_atomically(
            &dir.join(API_URL_FILE),
            &format!("http://{}\n", node.api_addr()),
        )?;
        tracing::info!(dir = %dir.display(), key = %node.public_key(), "node started");
        let restart = node.restart.clone();
        let restarting = tokio::select! {
            _ = &mut shutdown => false,
            _ = restart.notified() => true,
        };
        tracing::info!(restarting, "shutting down");
        match tokio::time::timeout(SHUTDOWN_GRACE, node.shutdown()).await {
            Ok(result) => result?,
            Err(_) => return Err(NodeError::ShutdownTimeout(SHUTDOWN_GRACE)),
        }
        if !restarting {
            return Ok(());
        }
        tracing::info!("restarting with the rotated node key");
    }
}
