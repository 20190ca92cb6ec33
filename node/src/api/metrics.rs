//! `GET /metrics`: the Prometheus text format (version 0.0.4), written by hand — a
//! dozen families do not need a metrics framework.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;

use super::serve::ConnectionStats;
use crate::network::NetworkStatus;
use crate::store::{Counts, Health};

/// HTTP requests by (route, method, status). Bounded: routes are the router's
/// patterns (unmatched paths count as one route), methods and statuses are few.
#[derive(Debug, Default)]
pub struct HttpCounters {
    requests: Mutex<BTreeMap<(String, String, u16), u64>>,
}

impl HttpCounters {
    pub fn count(&self, route: &str, method: &str, status: u16) {
        let mut requests = self.requests.lock().unwrap_or_else(|e| e.into_inner());
        *requests
            .entry((route.to_string(), method.to_string(), status))
            .or_default() += 1;
    }

    fn snapshot(&self) -> BTreeMap<(String, String, u16), u64> {
        self.requests
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

/// Everything one scrape reports.
#[derive(Debug)]
pub struct Snapshot<'a> {
    pub counts: Counts,
    /// Entries per author: (member code or "unknown", author key hex, entries).
    pub authors: Vec<(String, String, u64)>,
    pub network: &'a NetworkStatus,
    /// None when the store cannot tell (it is being reopened).
    pub store_size_bytes: Option<u64>,
    pub event_streams: usize,
    pub http: &'a HttpCounters,
    pub connections: ConnectionStats,
    pub store_health: Health,
    /// Log lines that could not be written (a full disk, a closed stderr).
    pub log_lines_dropped: u64,
    /// Why this node will not sign now (`not_synced`, `own_key_forked`, `clock_off`,
    /// `not_admitted`).
    pub cannot_publish: Option<String>,
    /// Whether this node's own key is forked.
    pub own_key_forked: bool,
    /// Whether tokens.toml could be read at the last look.
    pub tokens_readable: bool,
    /// Audit log lines that could not be written.
    pub audit_write_failures: u64,
    /// Members by standing (`member`, `removed`).
    pub members: BTreeMap<&'static str, u64>,
    /// Webhook deliveries since the start, and waiting.
    pub notify: crate::notify::NotifyStats,
    /// Proposals waiting for approvals, and those of them this member has not approved.
    pub proposals_pending: u64,
    pub proposals_awaiting_us: u64,
    /// First definitions of groups signed by another administration than their
    /// creator (refused: a member tried to take a group over).
    pub group_claims: u64,
    /// Group keys this node opens records with: current epochs of open groups, and
    /// older ones found by tag only.
    pub group_keys: (usize, usize),
    /// Sealed entries deferred because their author's decryption budget was spent.
    pub sealed_deferred: u64,
    /// Attachment blobs: the fetcher's counters, the cache and uploads held, evictions.
    pub blobs: &'a crate::blobs::fetch::Fetcher,
}

/// Label values escaped as the text format requires.
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

struct Writer(String);

impl Writer {
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.0, "# HELP {name} {help}\n# TYPE {name} {kind}");
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: impl std::fmt::Display) {
        let labels: Vec<String> = labels
            .iter()
            .map(|(k, v)| format!("{k}=\"{}\"", escape(v)))
            .collect();
        if labels.is_empty() {
            let _ = writeln!(self.0, "{name} {value}");
        } else {
            let _ = writeln!(self.0, "{name}{{{}}} {value}", labels.join(","));
        }
    }
}

pub fn render(s: &Snapshot<'_>) -> String {
    let mut w = Writer(String::new());
    w.family(
        "customs_entries",
        "gauge",
        "Entries held in the store, by type.",
    );
    for (kind, value) in [
        ("risk_alert", s.counts.risk_alerts),
        ("aeo_record", s.counts.aeo_records),
        ("retraction", s.counts.retractions),
    ] {
        w.sample("customs_entries", &[("type", kind)], value);
    }
    w.family(
        "customs_author_entries",
        "gauge",
        "Length of each author's log held in the store.",
    );
    for (code, key, value) in &s.authors {
        w.sample(
            "customs_author_entries",
            &[("author_code", code), ("author", key)],
            *value,
        );
    }
    w.family(
        "customs_forks",
        "gauge",
        "Fork proofs held: a member key signed two entries with one seq.",
    );
    w.sample("customs_forks", &[], s.counts.forks);
    w.family(
        "customs_forks_known_total",
        "counter",
        "Further conflicting entries seen where a fork proof was held already (counted, not kept).",
    );
    w.sample("customs_forks_known_total", &[], s.counts.forks_known);

    let n = s.network;
    w.family(
        "customs_gossip_accepted_total",
        "counter",
        "Gossip messages whose entries were stored.",
    );
    w.sample(
        "customs_gossip_accepted_total",
        &[],
        n.counters.gossip_accepted,
    );
    w.family(
        "customs_gossip_duplicates_total",
        "counter",
        "Gossip messages whose entries were held already.",
    );
    w.sample(
        "customs_gossip_duplicates_total",
        &[],
        n.counters.gossip_duplicates,
    );
    w.family(
        "customs_gossip_rejected_total",
        "counter",
        "Gossip messages refused, by reason.",
    );
    for (reason, value) in &n.counters.gossip_rejected {
        w.sample(
            "customs_gossip_rejected_total",
            &[("reason", reason)],
            *value,
        );
    }
    w.family(
        "customs_sync_rounds_total",
        "counter",
        "Frontier exchanges completed with peers.",
    );
    w.sample("customs_sync_rounds_total", &[], n.counters.sync_rounds);
    w.family(
        "customs_sync_requests_sent_total",
        "counter",
        "Sync requests sent to peers, by kind (frontier exchange; entries: pages and fork proofs).",
    );
    w.sample(
        "customs_sync_requests_sent_total",
        &[("kind", "frontier")],
        n.counters.sync_frontier_requests,
    );
    w.sample(
        "customs_sync_requests_sent_total",
        &[("kind", "entries")],
        n.counters.sync_entries_requests,
    );
    w.family(
        "customs_ingest_store_failures_total",
        "counter",
        "Batches of received entries the store failed to write (disk full or unreadable); catch-up asks again.",
    );
    w.sample(
        "customs_ingest_store_failures_total",
        &[],
        n.ingest_store_failures,
    );
    w.family(
        "customs_sync_received_bytes_total",
        "counter",
        "Bytes of sync messages received, framing included.",
    );
    w.sample(
        "customs_sync_received_bytes_total",
        &[],
        n.sync_bytes_received,
    );
    w.family(
        "customs_peers_connected",
        "gauge",
        "Member nodes connected now.",
    );
    let connected = n.peers.iter().filter(|p| p.connected).count() as u64;
    w.sample("customs_peers_connected", &[], connected);
    w.family("customs_peers", "gauge", "Members this node knows.");
    w.sample("customs_peers", &[], n.peers.len() as u64);
    w.family(
        "customs_peer_lag_entries",
        "gauge",
        "Entries a peer had that this node lacked at the last exchange.",
    );
    for peer in &n.peers {
        w.sample(
            "customs_peer_lag_entries",
            &[("peer", &peer.code)],
            peer.lag_entries,
        );
    }
    w.family(
        "customs_peer_up",
        "gauge",
        "1 while the member's node is connected.",
    );
    for peer in &n.peers {
        w.sample(
            "customs_peer_up",
            &[("peer", &peer.code)],
            u64::from(peer.connected),
        );
    }
    w.family(
        "customs_peer_last_sync_timestamp_seconds",
        "gauge",
        "When the last frontier exchange with the member completed (Unix seconds; absent before any).",
    );
    for peer in &n.peers {
        if let Some(ms) = peer.last_sync_ms {
            w.sample(
                "customs_peer_last_sync_timestamp_seconds",
                &[("peer", &peer.code)],
                ms / 1000,
            );
        }
    }
    w.family(
        "customs_peer_refused_ours",
        "gauge",
        "Entries of this node's that the member refused, by reason, as it said at the last exchange.",
    );
    for peer in &n.peers {
        for refusal in &peer.refused_ours {
            w.sample(
                "customs_peer_refused_ours",
                &[("peer", &peer.code), ("reason", &refusal.reason)],
                refusal.count,
            );
        }
    }
    w.family(
        "customs_peer_clock_offset_ms",
        "gauge",
        "The member's clock minus this node's (ms), estimated at the last exchange.",
    );
    for peer in &n.peers {
        if let Some(offset) = peer.clock_offset_ms {
            w.sample(
                "customs_peer_clock_offset_ms",
                &[("peer", &peer.code)],
                offset,
            );
        }
    }
    w.family(
        "customs_clock_offset_ms",
        "gauge",
        "This node's clock offset from its members' (median of their clocks minus ours, ms).",
    );
    if let Some(offset) = n.clock_offset_ms {
        w.sample("customs_clock_offset_ms", &[], offset);
    }
    w.family(
        "customs_can_publish",
        "gauge",
        "1 while this node may sign; 0 with the reason it may not (not_synced, own_key_forked, clock_off).",
    );
    match &s.cannot_publish {
        None => w.sample("customs_can_publish", &[("reason", "")], 1),
        Some(reason) => w.sample("customs_can_publish", &[("reason", reason)], 0),
    }
    w.family(
        "customs_own_key_forked",
        "gauge",
        "1 when this node's own key signed two entries with one seq: it no longer publishes.",
    );
    w.sample("customs_own_key_forked", &[], u64::from(s.own_key_forked));
    w.family(
        "customs_members",
        "gauge",
        "Administrations in the membership this node applies, by standing.",
    );
    for (standing, count) in &s.members {
        w.sample("customs_members", &[("standing", standing)], count);
    }
    w.family(
        "customs_proposals_pending",
        "gauge",
        "Governance proposals waiting for approvals.",
    );
    w.sample("customs_proposals_pending", &[], s.proposals_pending);
    w.family(
        "customs_group_claims",
        "gauge",
        "First definitions of closed user groups signed by another administration than their creator (refused; an alarm).",
    );
    w.sample("customs_group_claims", &[], s.group_claims);
    w.family(
        "customs_group_keys",
        "gauge",
        "Group keys this node opens restricted records with: current epochs of open groups, and older ones (superseded epochs, groups ended lately) found by slot tag only.",
    );
    w.sample("customs_group_keys", &[("kind", "current")], s.group_keys.0);
    w.sample("customs_group_keys", &[("kind", "older")], s.group_keys.1);
    w.family(
        "customs_sealed_deferred_total",
        "counter",
        "Sealed entries stored unopened because their author's decryption budget (store.decrypt_trials_per_author_per_hour) was spent; each is tried again once the budget allows.",
    );
    w.sample("customs_sealed_deferred_total", &[], s.sealed_deferred);
    w.family(
        "customs_proposals_awaiting_us",
        "gauge",
        "Pending proposals this member has not approved yet.",
    );
    w.sample(
        "customs_proposals_awaiting_us",
        &[],
        s.proposals_awaiting_us,
    );
    w.family(
        "customs_tokens_readable",
        "gauge",
        "1 while tokens.toml can be read; 0 means every API token is refused.",
    );
    w.sample("customs_tokens_readable", &[], u64::from(s.tokens_readable));
    w.family(
        "customs_audit_write_failures_total",
        "counter",
        "Audit log lines that could not be written.",
    );
    w.sample(
        "customs_audit_write_failures_total",
        &[],
        s.audit_write_failures,
    );
    w.family(
        "customs_store_size_bytes",
        "gauge",
        "Bytes the store occupies on disk.",
    );
    if let Some(size) = s.store_size_bytes {
        w.sample("customs_store_size_bytes", &[], size);
    }
    w.family(
        "customs_store_writable",
        "gauge",
        "1 while the store takes writes; 0 after a write failed (a full disk) until a probe succeeds.",
    );
    w.sample(
        "customs_store_writable",
        &[],
        u64::from(s.store_health.writable_error.is_none()),
    );
    w.family(
        "customs_store_recoveries_total",
        "counter",
        "Times the store was reopened after a write failed.",
    );
    w.sample(
        "customs_store_recoveries_total",
        &[],
        s.store_health.recoveries,
    );
    w.family(
        "customs_store_log_syncs_total",
        "counter",
        "Syncs (fdatasync) of the log's segment files: one per batch of entries stored.",
    );
    w.sample(
        "customs_store_log_syncs_total",
        &[],
        s.store_health.log_syncs,
    );
    w.family(
        "customs_store_log_sync_seconds",
        "histogram",
        "How long each commit took to write its entries to the segment files and sync them (fdatasync): the disk's share of every publish and of every stored batch.",
    );
    let times = &s.store_health.log_sync_times;
    let mut cumulative = 0;
    for (bound_us, count) in crate::store::SYNC_BUCKETS_US.iter().zip(times.counts) {
        cumulative += count;
        let le = (*bound_us as f64 / 1e6).to_string();
        w.sample(
            "customs_store_log_sync_seconds_bucket",
            &[("le", &le)],
            cumulative,
        );
    }
    w.sample(
        "customs_store_log_sync_seconds_bucket",
        &[("le", "+Inf")],
        times.count(),
    );
    w.sample(
        "customs_store_log_sync_seconds_sum",
        &[],
        times.sum_us as f64 / 1e6,
    );
    w.sample("customs_store_log_sync_seconds_count", &[], times.count());
    w.family(
        "customs_store_publish_batches_total",
        "counter",
        "Batches of this node's own entries signed and made durable together (group commit).",
    );
    w.sample(
        "customs_store_publish_batches_total",
        &[],
        s.store_health.publish_batches,
    );
    w.family(
        "customs_store_published_total",
        "counter",
        "This node's own entries stored since start (customs_store_published_total / customs_store_publish_batches_total: publishes per sync).",
    );
    w.sample(
        "customs_store_published_total",
        &[],
        s.store_health.published,
    );
    w.family(
        "customs_event_streams",
        "gauge",
        "Open live-feed (SSE) streams.",
    );
    w.sample("customs_event_streams", &[], s.event_streams as u64);
    w.family(
        "customs_http_connections",
        "gauge",
        "Open HTTP connections.",
    );
    w.sample("customs_http_connections", &[], s.connections.open as u64);
    w.family(
        "customs_http_connections_displaced_total",
        "counter",
        "Idle HTTP connections closed to make room for a new one (a cap was reached).",
    );
    w.sample(
        "customs_http_connections_displaced_total",
        &[],
        s.connections.displaced,
    );
    w.family(
        "customs_http_connections_refused_total",
        "counter",
        "New HTTP connections closed because every open one was busy.",
    );
    w.sample(
        "customs_http_connections_refused_total",
        &[],
        s.connections.refused,
    );
    let notify = &s.notify;
    for (name, kind, help, value) in [
        ("customs_webhook_deliveries_total", "counter", "Webhook deliveries the target accepted (2xx).", notify.delivered),
        ("customs_webhook_failed_attempts_total", "counter", "Webhook delivery attempts that failed (they are retried, up to notify.webhook_max_attempts).", notify.failed_attempts),
        ("customs_webhook_deliveries_dropped_total", "counter", "Notifications not queued because the delivery queue was full (notify.max_pending_deliveries).", notify.dropped),
        ("customs_webhook_deliveries_pending", "gauge", "Webhook deliveries waiting for an attempt.", notify.pending),
    ] {
        w.family(name, kind, help);
        w.sample(name, &[], value);
    }
    let fetches = s.blobs.stats();
    let (cache_bytes, upload_bytes) = s.blobs.blobs().usage_bytes();
    let load =
        |counter: &std::sync::atomic::AtomicU64| counter.load(std::sync::atomic::Ordering::Relaxed);
    w.family(
        "customs_blob_fetches_total",
        "counter",
        "Attachment fetches from members, by outcome: fetched, mismatch (a member served bytes that did not match; each such member counts), failed (no member served it).",
    );
    for (outcome, value) in [
        ("fetched", load(&fetches.fetched)),
        ("mismatch", load(&fetches.mismatched)),
        ("failed", load(&fetches.failed)),
    ] {
        w.sample("customs_blob_fetches_total", &[("outcome", outcome)], value);
    }
    for (name, kind, help, value) in [
        (
            "customs_blob_fetched_bytes_total",
            "counter",
            "Bytes of attachments fetched from members.",
            load(&fetches.fetched_bytes),
        ),
        (
            "customs_blob_cache_bytes",
            "gauge",
            "Bytes of fetched attachments held (store.blob_cache_bytes bounds them).",
            cache_bytes,
        ),
        (
            "customs_blob_upload_bytes",
            "gauge",
            "Bytes of uploads no record lists yet (store.blob_upload_bytes bounds them).",
            upload_bytes,
        ),
        (
            "customs_blob_evicted_total",
            "counter",
            "Fetched attachments removed to keep the cache within its budget.",
            s.blobs.blobs().evicted(),
        ),
    ] {
        w.family(name, kind, help);
        w.sample(name, &[], value);
    }
    w.family(
        "customs_log_lines_dropped_total",
        "counter",
        "Log lines that could not be written (their destination failed).",
    );
    w.sample("customs_log_lines_dropped_total", &[], s.log_lines_dropped);
    w.family(
        "customs_http_requests_total",
        "counter",
        "HTTP requests answered, by route, method and status.",
    );
    for ((route, method, status), value) in s.http.snapshot() {
        let status = status.to_string();
        w.sample(
            "customs_http_requests_total",
            &[("route", &route), ("method", &method), ("status", &status)],
            value,
        );
    }
    w.0
}
