//! The node's configuration (DIR/node.toml) and its member list (DIR/members.toml).
//!
//! One documented struct with defaults; `init` writes the file with every key shown.
//! Member cards are what administrations exchange to admit each other.

use std::fs;
use std::path::{Path, PathBuf};

use customs_protocol::entry::check_network_id;
use customs_protocol::PublicKey;
use serde::{Deserialize, Serialize};
use thiserror::Error;

pub const CONFIG_FILE: &str = "node.toml";
pub const MEMBERS_FILE: &str = "members.toml";
pub const KEY_FILE: &str = "identity.key";
pub const TOKEN_FILE: &str = "api-token";
pub const STORE_DIR: &str = "store";

pub use crate::limits::MAX_MEMBERS;
pub use crate::limits::MAX_MEMBER_ADDRESSES;

#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("{path}: {field}: {message}")]
    Invalid {
        path: PathBuf,
        field: String,
        message: String,
    },
    #[error("{0}")]
    Member(String),
}

/// DIR/node.toml.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeConfig {
    pub node: NodeSection,
    #[serde(default)]
    pub p2p: P2pSection,
    #[serde(default)]
    pub api: ApiSection,
    #[serde(default)]
    pub store: StoreSection,
    #[serde(default)]
    pub audit: AuditSection,
    #[serde(default)]
    pub notify: NotifySection,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeSection {
    /// This administration's member code: an ISO 3166-1 alpha-2 country, or a customs
    /// union code of 2 to 8 capital letters.
    pub code: String,
    /// This administration's name, as other members see it.
    pub name: String,
    /// The network id: every member of a network uses the same.
    pub network: String,
    /// Let a node whose own log is empty publish before any member has confirmed, in
    /// a sync, that this key has no entries elsewhere. Only for the first node of a
    /// new network: a node restored without its store would otherwise sign again from
    /// seq 1, and the network would see a fork of its key.
    #[serde(default)]
    pub allow_publish_before_sync: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct P2pSection {
    /// Multiaddress the node listens on for peers.
    pub listen: String,
    /// Addresses announced on this node's member card (empty: the listen address).
    pub external_addresses: Vec<String>,
    /// Addresses dialled at start: how a joining node reaches the network before it
    /// knows the members (a member's address; with `/p2p/PEER_ID` it is trusted to
    /// serve the network's entries until this node is admitted).
    #[serde(default)]
    pub bootstrap: Vec<String>,
    /// How often the node syncs with a random connected peer.
    pub sync_interval_ms: u64,
    /// The longest wait between two dials of a member the node is not connected to.
    /// After a member disconnects the node dials it at once, then backs off (250 ms,
    /// doubling, with jitter) up to this.
    pub redial_interval_ms: u64,
    /// How often each connection is pinged.
    pub ping_interval_ms: u64,
    /// A connection whose ping is not answered within this is closed (and redialled):
    /// how a cut network is noticed.
    pub ping_timeout_ms: u64,
    /// A dial, or an incoming connection's handshake, must complete within this.
    pub handshake_timeout_ms: u64,
    /// Entries created more than this far in the future are refused.
    pub max_clock_skew_ms: u64,
    /// Incoming connections still in their handshake (before the peer is known). When
    /// one is refused for this, the node dials every member it is not connected to, so
    /// members get in even while strangers hold these slots.
    pub max_pending_incoming: u32,
    /// The same, from one IP address.
    pub max_pending_incoming_per_address: u32,
    /// Established connections in total.
    pub max_established_total: u32,
    /// Established connections with one peer.
    pub max_established_per_peer: u32,
}

impl Default for P2pSection {
    fn default() -> Self {
        P2pSection {
            listen: "/ip4/0.0.0.0/tcp/7400".into(),
            external_addresses: Vec::new(),
            bootstrap: Vec::new(),
            sync_interval_ms: 30_000,
            redial_interval_ms: 2_000,
            ping_interval_ms: 2_000,
            ping_timeout_ms: 5_000,
            handshake_timeout_ms: 5_000,
            max_clock_skew_ms: 300_000,
            max_pending_incoming: 32,
            max_pending_incoming_per_address: 4,
            max_established_total: 2 * MAX_MEMBERS as u32,
            max_established_per_peer: 2,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ApiSection {
    /// HOST:PORT of the HTTP API and console. Loopback unless you mean otherwise.
    pub listen: String,
    /// Largest request body; larger requests get 413.
    pub max_body_bytes: usize,
    /// Open HTTP connections. At the cap, a new connection displaces the one that has
    /// been idle longest; only when every one is busy is the new one closed.
    pub max_connections: usize,
    /// Open HTTP connections from one IP address (the same rule within the address).
    pub max_connections_per_address: usize,
    /// A connection must send a complete request head this soon after it opens or
    /// after its previous answer, or it is closed (this ends idle keep-alives too).
    pub header_read_timeout_ms: u64,
    /// A request body must arrive in full this soon after its head, or it gets 408.
    pub body_read_timeout_ms: u64,
    /// Open live-feed (Server-Sent Events) streams; more get 503.
    pub max_event_streams: usize,
    /// Whether `/metrics` needs a token (reader or above). Off: a Prometheus on the
    /// node's host or network scrapes it without one, and the TLS proxy keeps it off
    /// the public side.
    pub metrics_require_token: bool,
}

impl Default for ApiSection {
    fn default() -> Self {
        ApiSection {
            listen: "127.0.0.1:7480".into(),
            max_body_bytes: 64 * 1024,
            max_connections: 1024,
            max_connections_per_address: 256,
            header_read_timeout_ms: 10_000,
            body_read_timeout_ms: 10_000,
            max_event_streams: 64,
            metrics_require_token: false,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreSection {
    /// The index's block cache in bytes.
    pub cache_capacity_bytes: u64,
    /// Entries kept in memory while they wait for an earlier entry of their author.
    pub max_pending_entries: usize,
    /// Bytes of such entries.
    pub max_pending_bytes: usize,
    /// Bytes of attachment blobs fetched from members kept on disk; beyond, the least
    /// recently read are removed (this node's own are never removed).
    pub blob_cache_bytes: u64,
    /// Bytes of uploaded attachments no record lists yet; an upload beyond is refused.
    pub blob_upload_bytes: u64,
    /// An uploaded attachment no record lists is removed after this long.
    pub blob_upload_ttl_ms: u64,
    /// How long `GET /api/v1/attachments/{hash}` waits for a blob to arrive from
    /// members before it answers 504.
    pub blob_fetch_timeout_ms: u64,
    /// Attachments of alerts and requests in these categories are fetched as soon as
    /// their record arrives (not only when someone opens them).
    pub prefetch_categories: Vec<customs_protocol::body::Category>,
    /// So is any attachment of at most this many bytes (0: none by size).
    pub prefetch_max_bytes: u64,
    /// Group keys restricted records are opened with, at most (current epochs of
    /// open groups first).
    pub max_group_keys: usize,
    /// X25519 operations one author's sealed entries may cost this node per hour;
    /// beyond, they wait unopened until the budget allows.
    pub decrypt_trials_per_author_per_hour: u64,
}

/// Watch lists and webhooks (the `[notify]` section).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NotifySection {
    /// Watch lists this node holds.
    pub max_watchlists: usize,
    /// Rules in one watch list.
    pub max_watch_rules: usize,
    /// Matches stored per watch list; later matches are logged, not stored.
    pub max_matches_per_watchlist: usize,
    /// Registered webhooks.
    pub max_webhooks: usize,
    /// Deliveries waiting in the queue (all webhooks); beyond, new ones are dropped
    /// and counted (`customs_webhook_deliveries_dropped_total`).
    pub max_pending_deliveries: usize,
    /// Finished deliveries kept in each webhook's log.
    pub delivery_log_per_webhook: usize,
    /// The first retry waits this long; each next one twice as long...
    pub webhook_retry_initial_ms: u64,
    /// ...up to this.
    pub webhook_retry_max_ms: u64,
    /// Attempts before a delivery is marked failed.
    pub webhook_max_attempts: u32,
    /// One attempt (connect, send, answer) must finish within this.
    pub webhook_timeout_ms: u64,
    /// Whether webhook targets may be (or resolve to) loopback, private or
    /// link-local addresses. Off: a token holder cannot make the node probe its own
    /// host or internal network. Turn on for a risk engine on the administration's
    /// internal network.
    pub webhook_allow_private_targets: bool,
    /// Whether webhook targets may be plain `http://`: deliveries (records, their
    /// signatures) then cross the network in clear. Off: `https://` only.
    pub webhook_allow_plain_http: bool,
    /// A PEM file of CA certificates that webhook targets' certificates must chain
    /// to (an administration's own CA), instead of the public roots; relative to the
    /// node's directory. Empty: the public roots.
    pub webhook_ca_file: String,
}

impl Default for NotifySection {
    fn default() -> Self {
        NotifySection {
            max_watchlists: 100,
            max_watch_rules: 100,
            max_matches_per_watchlist: 10_000,
            max_webhooks: 16,
            max_pending_deliveries: 10_000,
            delivery_log_per_webhook: 1_000,
            webhook_retry_initial_ms: 1_000,
            webhook_retry_max_ms: 300_000,
            webhook_max_attempts: 20,
            webhook_timeout_ms: 5_000,
            webhook_allow_private_targets: false,
            webhook_allow_plain_http: false,
            webhook_ca_file: String::new(),
        }
    }
}

/// DIR/audit.log: who did what, as JSON lines.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuditSection {
    /// Also log every read of records (alert lists, entries, AEO status, export).
    pub reads: bool,
    /// Rotate audit.log when it reaches this size (bytes).
    pub max_file_bytes: u64,
    /// Rotated files kept (audit.log.1 is the newest).
    pub keep_files: u32,
}

impl Default for AuditSection {
    fn default() -> Self {
        AuditSection {
            reads: false,
            max_file_bytes: 16 * 1024 * 1024,
            keep_files: 8,
        }
    }
}

impl Default for StoreSection {
    fn default() -> Self {
        StoreSection {
            cache_capacity_bytes: 64 * 1024 * 1024,
            max_pending_entries: 4096,
            max_pending_bytes: 8 * 1024 * 1024,
            blob_cache_bytes: crate::blobs::BlobLimits::default().cache_bytes,
            blob_upload_bytes: crate::blobs::BlobLimits::default().upload_bytes,
            blob_upload_ttl_ms: crate::blobs::BlobLimits::default().upload_ttl_ms,
            blob_fetch_timeout_ms: 10_000,
            prefetch_categories: Vec::new(),
            prefetch_max_bytes: 0,
            max_group_keys: 1024,
            decrypt_trials_per_author_per_hour: 65_536,
        }
    }
}

/// A member of the network, as exchanged between administrations (TOML).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemberCard {
    pub network: String,
    pub code: String,
    pub name: String,
    pub public_key: PublicKey,
    #[serde(default)]
    pub addresses: Vec<String>,
}

/// DIR/members.toml: the admitted members (not including this node).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Members {
    #[serde(default, rename = "member")]
    pub members: Vec<MemberCard>,
}

/// Member codes: 2 to 8 capital letters (ISO 3166-1 alpha-2, or a union code like EU).
pub fn check_member_code(code: &str) -> Result<(), String> {
    if (2..=8).contains(&code.len()) && code.bytes().all(|c| c.is_ascii_uppercase()) {
        Ok(())
    } else {
        Err(format!(
            "member code {code:?} must be 2 to 8 capital letters (e.g. NL, EU)"
        ))
    }
}

pub(crate) fn read(path: &Path) -> Result<String, ConfigError> {
    fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })
}

pub(crate) fn parse<T: for<'de> Deserialize<'de>>(
    path: &Path,
    text: &str,
) -> Result<T, ConfigError> {
    toml::from_str(text).map_err(|e| ConfigError::Parse {
        path: path.to_path_buf(),
        message: e.to_string(),
    })
}

/// Writes `text` to `path` atomically (a temporary file, fsync, rename).
pub fn write_atomically(path: &Path, text: &str) -> Result<(), ConfigError> {
    crate::files::replace_file(path, text.as_bytes()).map_err(|source| ConfigError::Write {
        path: path.to_path_buf(),
        source,
    })
}

impl NodeConfig {
    pub fn load(dir: &Path) -> Result<NodeConfig, ConfigError> {
        let path = dir.join(CONFIG_FILE);
        let config: NodeConfig = parse(&path, &read(&path)?)?;
        config.validate(&path)?;
        Ok(config)
    }

    /// Checks every value; errors name `path` and the key.
    pub fn validate(&self, path: &Path) -> Result<(), ConfigError> {
        let invalid = |field: &str, message: String| ConfigError::Invalid {
            path: path.to_path_buf(),
            field: field.into(),
            message,
        };
        check_member_code(&self.node.code).map_err(|m| invalid("node.code", m))?;
        check_network_id(&self.node.network).map_err(|r| invalid("node.network", r.to_string()))?;
        if self.node.name.trim().is_empty() || self.node.name.len() > 200 {
            return Err(invalid("node.name", "must be 1 to 200 bytes".into()));
        }
        let p2p = &self.p2p;
        let intervals = [
            p2p.sync_interval_ms,
            p2p.redial_interval_ms,
            p2p.ping_interval_ms,
            p2p.ping_timeout_ms,
            p2p.handshake_timeout_ms,
        ];
        if intervals.iter().any(|ms| *ms < 100) {
            return Err(invalid(
                "p2p",
                "intervals and timeouts must be at least 100 ms".into(),
            ));
        }
        if p2p.max_established_per_peer == 0
            || p2p.max_established_total == 0
            || p2p.max_pending_incoming == 0
            || p2p.max_pending_incoming_per_address == 0
        {
            return Err(invalid(
                "p2p",
                "connection limits must be at least 1".into(),
            ));
        }
        if self.api.listen.parse::<std::net::SocketAddr>().is_err() {
            return Err(invalid(
                "api.listen",
                format!(
                    "{:?} is not HOST:PORT (e.g. 127.0.0.1:7480)",
                    self.api.listen
                ),
            ));
        }
        if self.store.decrypt_trials_per_author_per_hour == 0 {
            return Err(invalid(
                "store.decrypt_trials_per_author_per_hour",
                "must be at least 1 (0 would leave every restricted record unopened)".into(),
            ));
        }
        let api = &self.api;
        if api.max_body_bytes < 1024
            || api.max_connections == 0
            || api.max_connections_per_address == 0
            || api.max_event_streams == 0
        {
            return Err(invalid(
                "api",
                "max_body_bytes must be at least 1024, the other limits at least 1".into(),
            ));
        }
        if api.max_event_streams >= api.max_connections {
            return Err(invalid(
                "api.max_event_streams",
                "must be below max_connections: live feeds keep their connections busy".into(),
            ));
        }
        if api.header_read_timeout_ms < 100 || api.body_read_timeout_ms < 100 {
            return Err(invalid("api", "timeouts must be at least 100 ms".into()));
        }
        let notify = &self.notify;
        if [
            notify.max_watchlists,
            notify.max_watch_rules,
            notify.max_matches_per_watchlist,
            notify.max_webhooks,
            notify.max_pending_deliveries,
            notify.delivery_log_per_webhook,
        ]
        .contains(&0)
            || notify.webhook_max_attempts == 0
            || notify.webhook_retry_initial_ms < 10
            || notify.webhook_retry_max_ms < notify.webhook_retry_initial_ms
            || notify.webhook_timeout_ms < 100
        {
            return Err(invalid(
                "notify",
                "every limit must be at least 1, webhook_retry_initial_ms at least 10 and at most webhook_retry_max_ms, webhook_timeout_ms at least 100".into(),
            ));
        }
        if self.audit.max_file_bytes < 4096 || !(1..=100).contains(&self.audit.keep_files) {
            return Err(invalid(
                "audit",
                "max_file_bytes must be at least 4096 and keep_files 1 to 100".into(),
            ));
        }
        Ok(())
    }

    /// The text of a new node.toml: every key, documented, with its value.
    pub fn to_documented_toml(&self) -> String {
        let p2p = &self.p2p;
        let store = &self.store;
        let external = toml_list(&p2p.external_addresses);
        let bootstrap = toml_list(&p2p.bootstrap);
        format!(
            r#"# customs-node configuration. Every key is shown; the values are the defaults
# unless `customs-node init` was told otherwise. Members come from charter.toml and
# the network's governance entries (or, before a network converts, members.toml).

[node]
# This administration's member code: ISO 3166-1 alpha-2 (NL) or a union code (EU).
code = {code:?}
# This administration's name, as other members see it.
name = {name:?}
# The network id; every member of the network uses the same one.
network = {network:?}
# Publishing waits until a member has confirmed, in a sync, that this key has no
# entries the node lacks (a node restored without its store must not sign seq 1
# again). Set true only on the first node of a brand-new network.
allow_publish_before_sync = {allow_unsynced}

[p2p]
# Multiaddress to listen on for other members' nodes.
listen = {listen:?}
# Addresses to put on this node's member card (empty: derived from `listen`).
external_addresses = {external}
# Addresses dialled at start: a joining node's way into the network (a member's
# multiaddress; with /p2p/PEER_ID that peer serves the network's entries until this
# node is admitted).
bootstrap = {bootstrap}
# Sync with a random connected member this often (milliseconds).
sync_interval_ms = {sync}
# A member that is not connected is dialled at once, then with backoff (250 ms,
# doubling, with jitter) up to this (milliseconds).
redial_interval_ms = {redial}
# Ping every connection this often; close one whose ping is not answered in time
# (a cut network is noticed this way, and the member redialled).
ping_interval_ms = {ping_interval}
ping_timeout_ms = {ping_timeout}
# A dial, or an incoming connection's handshake, must complete within this.
handshake_timeout_ms = {handshake}
# Refuse entries created more than this far in the future (milliseconds).
max_clock_skew_ms = {skew}
# Incoming connections still in their handshake, before the peer is known, in all
# and from one IP address. When one is refused, the node dials its members instead.
max_pending_incoming = {pending}
max_pending_incoming_per_address = {pending_per_address}
# Established connections in total, and with any one peer.
max_established_total = {total}
max_established_per_peer = {per_peer}

[api]
# HOST:PORT of the HTTP API and web console. Keep it on loopback unless a reverse
# proxy with TLS is in front.
listen = {api:?}
# Largest request body (bytes); larger requests get 413.
max_body_bytes = {body}
# Open HTTP connections, in all and from one IP address. At a cap, a new connection
# displaces the one idle longest; only when all are busy is it refused.
max_connections = {connections}
max_connections_per_address = {connections_per_address}
# Open live-feed streams (below max_connections).
max_event_streams = {streams}
# Whether /metrics needs a token (reader or above): its counts name members.
metrics_require_token = {metrics_token}
# A connection must send a request head within this of opening or of its previous
# answer (idle keep-alives end too); a body must arrive within this (milliseconds).
header_read_timeout_ms = {header_timeout}
body_read_timeout_ms = {body_timeout}

[store]
# The index's block cache, bytes.
cache_capacity_bytes = {cache}
# Entries (and their bytes) held in memory while an earlier entry of the same author
# is missing.
max_pending_entries = {pending_entries}
max_pending_bytes = {pending_bytes}
# Attachments (store/blobs): blobs fetched from members kept on disk, bytes (the least
# recently read go beyond; this node's own are never removed)...
blob_cache_bytes = {blob_cache}
# ...uploads waiting to be published, bytes, and how long one waits (milliseconds)...
blob_upload_bytes = {blob_uploads}
blob_upload_ttl_ms = {blob_ttl}
# ...and how long a read waits for a blob to arrive from members before a 504.
blob_fetch_timeout_ms = {blob_fetch}
# Fetch attachments as their record arrives, not only when opened: those of alerts
# and requests in these categories (e.g. ["weapons", "explosives"]), and any of at
# most prefetch_max_bytes (0: none by size). Off by default: a member on a thin link
# then downloads only what its officers open.
prefetch_categories = {prefetch_categories}
prefetch_max_bytes = {prefetch_bytes}
# Restricted records: group keys this node opens them with, at most (current epochs
# of open groups first; 64 groups per owner count), and the X25519 operations one
# author's sealed entries may cost this node per hour (a full 256-slot envelope costs
# 256 per node key). Over the budget a record waits unopened until the budget allows.
max_group_keys = {group_keys}
decrypt_trials_per_author_per_hour = {decrypt_trials}

[audit]
# audit.log in this directory records every publish, retraction, refused request,
# token change, refusal by a member, clock refusal and fork, as JSON lines. Set true
# to record every read of records too.
reads = {audit_reads}
# Rotate audit.log at this size (bytes), keeping this many older files.
max_file_bytes = {audit_bytes}
keep_files = {audit_keep}

[notify]
# Watch lists, rules per list, and matches stored per list (later ones are logged).
max_watchlists = {watchlists}
max_watch_rules = {watch_rules}
max_matches_per_watchlist = {matches}
# Webhooks, and deliveries waiting in the queue (all webhooks; beyond, new ones are
# dropped and counted); finished deliveries kept in each webhook's log.
max_webhooks = {webhooks}
max_pending_deliveries = {pending_deliveries}
delivery_log_per_webhook = {delivery_log}
# A failed delivery is retried after this, then twice as long each time, up to the
# maximum (milliseconds), and marked failed after max attempts.
webhook_retry_initial_ms = {retry_initial}
webhook_retry_max_ms = {retry_max}
webhook_max_attempts = {max_attempts}
# One attempt (connect, send, answer) must finish within this (milliseconds).
webhook_timeout_ms = {webhook_timeout}
# Whether targets may be (or resolve to) loopback, private or link-local addresses:
# off, a token holder cannot make the node probe its host or internal network. Turn
# on for a risk engine on the administration's internal network.
webhook_allow_private_targets = {allow_private}
# Deliveries go over https:// only, unless plain http:// is allowed here (they then
# cross the network in clear: only behind a TLS proxy on the same host).
webhook_allow_plain_http = {allow_plain}
# Targets' certificates chain to the public roots, or to the CA certificates in this
# PEM file (relative to the node's directory; an administration's own CA).
webhook_ca_file = {ca_file:?}
"#,
            watchlists = self.notify.max_watchlists,
            watch_rules = self.notify.max_watch_rules,
            matches = self.notify.max_matches_per_watchlist,
            webhooks = self.notify.max_webhooks,
            pending_deliveries = self.notify.max_pending_deliveries,
            delivery_log = self.notify.delivery_log_per_webhook,
            retry_initial = self.notify.webhook_retry_initial_ms,
            retry_max = self.notify.webhook_retry_max_ms,
            max_attempts = self.notify.webhook_max_attempts,
            webhook_timeout = self.notify.webhook_timeout_ms,
            allow_private = self.notify.webhook_allow_private_targets,
            allow_plain = self.notify.webhook_allow_plain_http,
            ca_file = self.notify.webhook_ca_file,
            code = self.node.code,
            name = self.node.name,
            network = self.node.network,
            listen = p2p.listen,
            sync = p2p.sync_interval_ms,
            redial = p2p.redial_interval_ms,
            ping_interval = p2p.ping_interval_ms,
            ping_timeout = p2p.ping_timeout_ms,
            handshake = p2p.handshake_timeout_ms,
            skew = p2p.max_clock_skew_ms,
            pending = p2p.max_pending_incoming,
            pending_per_address = p2p.max_pending_incoming_per_address,
            total = p2p.max_established_total,
            per_peer = p2p.max_established_per_peer,
            allow_unsynced = self.node.allow_publish_before_sync,
            api = self.api.listen,
            body = self.api.max_body_bytes,
            connections = self.api.max_connections,
            connections_per_address = self.api.max_connections_per_address,
            header_timeout = self.api.header_read_timeout_ms,
            body_timeout = self.api.body_read_timeout_ms,
            streams = self.api.max_event_streams,
            metrics_token = self.api.metrics_require_token,
            cache = store.cache_capacity_bytes,
            pending_entries = store.max_pending_entries,
            pending_bytes = store.max_pending_bytes,
            blob_cache = store.blob_cache_bytes,
            blob_uploads = store.blob_upload_bytes,
            blob_ttl = store.blob_upload_ttl_ms,
            blob_fetch = store.blob_fetch_timeout_ms,
            prefetch_categories =
                serde_json::to_string(&store.prefetch_categories).unwrap_or_else(|_| "[]".into()),
            prefetch_bytes = store.prefetch_max_bytes,
            group_keys = store.max_group_keys,
            decrypt_trials = store.decrypt_trials_per_author_per_hour,
            audit_reads = self.audit.reads,
            audit_bytes = self.audit.max_file_bytes,
            audit_keep = self.audit.keep_files,
        )
    }
}

fn toml_list(items: &[String]) -> String {
    let quoted: Vec<String> = items.iter().map(|i| format!("{i:?}")).collect();
    format!("[{}]", quoted.join(", "))
}

impl MemberCard {
    pub fn parse(path: &Path, text: &str) -> Result<MemberCard, ConfigError> {
        parse(path, text)
    }

    pub fn to_toml(&self) -> String {
        format!(
            "# Member card: give it to the other administrations of network {network:?};\n\
             # they admit this node with `customs-node member add --dir DIR FILE`.\n\
             network = {network:?}\ncode = {code:?}\nname = {name:?}\npublic_key = \"{key}\"\naddresses = {addresses}\n",
            network = self.network,
            code = self.code,
            name = self.name,
            key = self.public_key,
            addresses = toml_list(&self.addresses),
        )
    }

    /// The checks a card must pass before it is admitted to `config`'s network.
    pub fn check(&self, config: &NodeConfig, own_key: &PublicKey) -> Result<(), ConfigError> {
        let refuse = |m: String| Err(ConfigError::Member(m));
        if self.network != config.node.network {
            return refuse(format!(
                "the card is for network {:?}, but this node is in network {:?}",
                self.network, config.node.network
            ));
        }
        check_member_code(&self.code).map_err(ConfigError::Member)?;
        if let Err(e) = self.public_key.verifying_key() {
            return refuse(format!("member {}: {e}; refusing the card", self.code));
        }
        if self.public_key == *own_key || self.code == config.node.code {
            return refuse(format!("member {} is this node itself", self.code));
        }
        if self.name.trim().is_empty() || self.name.len() > 200 {
            return refuse(format!("member {}: name must be 1 to 200 bytes", self.code));
        }
        if self.addresses.len() > MAX_MEMBER_ADDRESSES {
            return refuse(format!(
                "member {}: at most {MAX_MEMBER_ADDRESSES} addresses",
                self.code
            ));
        }
        for address in &self.addresses {
            if let Err(e) = crate::network::parse_multiaddr(address) {
                return refuse(format!(
                    "member {}: {e} (an address looks like /ip4/192.0.2.10/tcp/7401 or /dns4/node.example.org/tcp/7401)",
                    self.code
                ));
            }
        }
        Ok(())
    }
}

impl Members {
    pub fn load(dir: &Path) -> Result<Members, ConfigError> {
        let path = dir.join(MEMBERS_FILE);
        if !path.exists() {
            return Ok(Members::default());
        }
        let members: Members = parse(&path, &read(&path)?)?;
        if members.members.len() > MAX_MEMBERS {
            return Err(ConfigError::Invalid {
                path,
                field: "member".into(),
                message: format!("at most {MAX_MEMBERS} members"),
            });
        }
        Ok(members)
    }

    pub fn save(&self, dir: &Path) -> Result<(), ConfigError> {
        let body = toml::to_string(self).map_err(|e| ConfigError::Parse {
            path: dir.join(MEMBERS_FILE),
            message: e.to_string(),
        })?;
        let text = format!(
            "# Admitted members of this network. Managed by `customs-node member add`;\n\
             # the node reads it at start.\n\n{body}"
        );
        write_atomically(&dir.join(MEMBERS_FILE), &text)
    }

    /// Admits `card`, refusing a duplicate code or key.
    pub fn admit(&mut self, card: MemberCard) -> Result<(), ConfigError> {
        if let Some(existing) = self.members.iter().find(|m| m.code == card.code) {
            return Err(ConfigError::Member(format!(
                "member code {} is already admitted (key {})",
                card.code, existing.public_key
            )));
        }
        if let Some(existing) = self
            .members
            .iter()
            .find(|m| m.public_key == card.public_key)
        {
            return Err(ConfigError::Member(format!(
                "public key {} is already admitted as member {}",
                card.public_key, existing.code
            )));
        }
        if self.members.len() >= MAX_MEMBERS {
            return Err(ConfigError::Member(format!(
                "the network is full ({MAX_MEMBERS} members)"
            )));
        }
        self.members.push(card);
        Ok(())
    }

    pub fn by_key(&self, key: &PublicKey) -> Option<&MemberCard> {
        self.members.iter().find(|m| m.public_key == *key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use customs_protocol::SecretKey;

    fn config() -> NodeConfig {
        NodeConfig {
            node: NodeSection {
                code: "NL".into(),
                name: "Netherlands Customs".into(),
                network: "customs-eu".into(),
                allow_publish_before_sync: false,
            },
            p2p: P2pSection::default(),
            api: ApiSection::default(),
            store: StoreSection::default(),
            audit: Default::default(),
            notify: Default::default(),
        }
    }

    fn card(seed: u8, code: &str) -> MemberCard {
        MemberCard {
            network: "customs-eu".into(),
            code: code.into(),
            name: format!("{code} Customs"),
            public_key: SecretKey::from_seed([seed; 32]).public_key(),
            addresses: vec!["/ip4/127.0.0.1/tcp/7401".into()],
        }
    }

    #[test]
    fn the_documented_file_reads_back_as_written() {
        let dir = tempfile::tempdir().expect("tempdir");
        let written = config();
        fs::write(dir.path().join(CONFIG_FILE), written.to_documented_toml()).expect("write");
        assert_eq!(NodeConfig::load(dir.path()).expect("loads"), written);
    }

    #[test]
    fn config_errors_name_the_file_and_field() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut bad = config();
        bad.node.network = "Not A Network".into();
        fs::write(dir.path().join(CONFIG_FILE), bad.to_documented_toml()).expect("write");
        let error = NodeConfig::load(dir.path())
            .expect_err("invalid")
            .to_string();
        assert!(
            error.contains("node.toml") && error.contains("node.network"),
            "{error}"
        );

        fs::write(
            dir.path().join(CONFIG_FILE),
            "[node]\ncode = \"NL\"\nnam = \"x\"\n",
        )
        .expect("write");
        let error = NodeConfig::load(dir.path())
            .expect_err("unknown key")
            .to_string();
        assert!(error.contains("nam"), "{error}");
    }

    #[test]
    fn member_cards_round_trip_and_are_checked() {
        let own = SecretKey::from_seed([1; 32]).public_key();
        let be = card(2, "BE");
        let text = be.to_toml();
        let parsed = MemberCard::parse(Path::new("be.toml"), &text).expect("parses");
        assert_eq!(parsed, be);
        assert!(be.check(&config(), &own).is_ok());

        let mut other_network = be.clone();
        other_network.network = "customs-asia".into();
        let error = other_network
            .check(&config(), &own)
            .expect_err("other network")
            .to_string();
        assert!(error.contains("customs-asia"), "{error}");

        let mut weak = be.clone();
        let mut identity_point = [0u8; 32];
        identity_point[0] = 1;
        weak.public_key = PublicKey(identity_point);
        let error = weak.check(&config(), &own).expect_err("weak").to_string();
        assert!(error.contains("weak"), "{error}");

        let myself = card(1, "XX");
        assert!(myself.check(&config(), &own).is_err());
        let mut bad_address = card(4, "FR");
        bad_address.addresses = vec!["192.0.2.10:7401".into()];
        let error = bad_address
            .check(&config(), &own)
            .expect_err("not a multiaddress")
            .to_string();
        assert!(
            error.contains("member FR") && error.contains("192.0.2.10:7401"),
            "{error}"
        );
        let mut bad_code = be.clone();
        bad_code.code = "be".into();
        assert!(bad_code.check(&config(), &own).is_err());
    }

    #[test]
    fn admitting_refuses_duplicates_and_persists() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut members = Members::default();
        members.admit(card(2, "BE")).expect("admits");
        let error = members
            .admit(card(3, "BE"))
            .expect_err("same code")
            .to_string();
        assert!(error.contains("BE"), "{error}");
        let error = members
            .admit(card(2, "DE"))
            .expect_err("same key")
            .to_string();
        assert!(error.contains("already admitted as member BE"), "{error}");
        members.admit(card(3, "DE")).expect("admits");
        members.save(dir.path()).expect("saves");
        assert_eq!(Members::load(dir.path()).expect("loads"), members);
    }
}
