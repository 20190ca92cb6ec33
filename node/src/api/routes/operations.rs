//! For the IT team: export, metrics, liveness and readiness.

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};

use super::{blocking, network_status};
use crate::api::error::publish_refusal_code;
use crate::api::error::{ApiError, ErrorBody};
use crate::api::ApiState;
use crate::limits::{EXPORT_CHANNEL_CHUNKS, EXPORT_CHUNK_BYTES};

/// Sends what it is given to the response body; fails once the client has gone.
struct BodyWriter(tokio::sync::mpsc::Sender<Result<axum::body::Bytes, std::io::Error>>);

impl std::io::Write for BodyWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .blocking_send(Ok(axum::body::Bytes::copy_from_slice(buf)))
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "client went away"))?;
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Every entry as a bundle (admin only): a backup of a running node, or entries to
/// carry to an isolated one (`customs-node import`).
///
/// The bundle holds the entries stored when the request arrived. It is streamed; if
/// the node fails part way the stream breaks off, and the bundle's count and checksum
/// make an import refuse what arrived.
#[utoipa::path(
    get,
    path = "/api/v1/export",
    tag = "operations",
    responses(
        (status = 200, description = "A bundle (layout in protocol/SPEC.md)", content_type = "application/octet-stream"),
        (status = 401, body = ErrorBody),
        (status = 403, description = "Only admin tokens may export", body = ErrorBody),
    )
)]
pub async fn export(State(state): State<ApiState>) -> Response {
    let (tx, mut rx) = tokio::sync::mpsc::channel(EXPORT_CHANNEL_CHUNKS);
    let store = state.node.store.clone();
    tokio::task::spawn_blocking(move || {
        let errors = tx.clone();
        let mut writer = std::io::BufWriter::with_capacity(EXPORT_CHUNK_BYTES, BodyWriter(tx));
        if let Err(error) = crate::bundle::write_bundle(&store, &mut writer) {
            tracing::warn!(%error, "export broke off");
            let _ = errors.blocking_send(Err(std::io::Error::other(error.to_string())));
        }
    });
    let stream = futures::stream::poll_fn(move |cx| rx.poll_recv(cx));
    let file_name = format!(
        "attachment; filename=\"{}-{}.bundle\"",
        state.identity.network, state.identity.code
    );
    (
        [
            (header::CONTENT_TYPE, "application/octet-stream".to_string()),
            (header::CONTENT_DISPOSITION, file_name),
        ],
        axum::body::Body::from_stream(stream),
    )
        .into_response()
}

/// Prometheus metrics (no token needed).
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "operations",
    security(()),
    responses((status = 200, description = "Prometheus text format 0.0.4", content_type = "text/plain"))
)]
pub async fn metrics(State(state): State<ApiState>) -> Result<Response, ApiError> {
    let network = network_status(&state).await?;
    let store = state.node.store.clone();
    // A store that cannot write (a full disk) still gets its metrics scraped: its
    // size is then left out rather than failing the scrape.
    let publisher = state.node.publisher.clone();
    let notifier = state.node.notifier.clone();
    let membership = state.node.membership.get();
    let (frontier, counts, size, cannot_publish, notify, group_claims) = blocking(move || {
        let cannot_publish = match publisher.readiness() {
            Ok(()) => None,
            Err(refusal) => Some(
                publish_refusal_code(&refusal)
                    .unwrap_or("store_unavailable")
                    .to_string(),
            ),
        };
        Ok((
            store.frontier()?,
            store.counts(),
            store.size_on_disk().ok(),
            cannot_publish,
            notifier.stats(),
            store
                .groups(&membership)
                .map_or(0, |g| g.claims.len() as u64),
        ))
    })
    .await?;
    let own_key_forked = frontier
        .get(&state.node.public_key())
        .is_some_and(|h| h.fork_seq > 0);
    let authors = frontier
        .heads()
        .map(|h| {
            let code = state.code_of(&h.author).unwrap_or_else(|| "unknown".into());
            (code, h.author.to_hex(), h.seq)
        })
        .collect();
    let membership = state.node.membership.get();
    let mut members = std::collections::BTreeMap::from([("member", 0), ("removed", 0)]);
    for member in membership.members.values() {
        let standing = match member.standing {
            customs_protocol::governance::Standing::Member => "member",
            customs_protocol::governance::Standing::Removed { .. } => "removed",
        };
        *members.entry(standing).or_default() += 1;
    }
    let pending: Vec<_> = membership
        .proposals
        .values()
        .filter(|p| p.status == customs_protocol::governance::ProposalStatus::Pending)
        .collect();
    let awaiting_us = pending
        .iter()
        .filter(|p| !p.approvals.contains(&state.identity.code))
        .count();
    let text = crate::api::metrics::render(&crate::api::metrics::Snapshot {
        counts,
        authors,
        network: &network,
        store_size_bytes: size,
        event_streams: state.open_event_streams(),
        http: &state.http,
        connections: state.connections.stats(),
        store_health: state.node.store.health(),
        log_lines_dropped: crate::logging::lines_dropped(),
        cannot_publish,
        own_key_forked,
        tokens_readable: state.tokens.state().error.is_none(),
        audit_write_failures: state.audit.failed_writes(),
        members,
        notify,
        proposals_pending: pending.len() as u64,
        proposals_awaiting_us: awaiting_us as u64,
        group_claims,
        group_keys: state.node.store.group_key_counts(),
        sealed_deferred: state.node.store.decryption_deferred_total(),
        blobs: &state.node.attachments,
    });
    Ok((
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
        .into_response())
}

/// Liveness: the process answers (no token needed).
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "operations",
    security(()),
    responses((status = 200, description = "ok", content_type = "text/plain"))
)]
pub async fn healthz() -> &'static str {
    "ok\n"
}

/// Readiness: the store answers and can write, and the network task runs (no token
/// needed).
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "operations",
    security(()),
    responses(
        (status = 200, description = "ready", content_type = "text/plain"),
        (status = 503, body = ErrorBody),
    )
)]
pub async fn readyz(State(state): State<ApiState>) -> Result<&'static str, ApiError> {
    network_status(&state).await?;
    let store = state.node.store.clone();
    if let Some(error) = state.tokens.state().error {
        return Err(ApiError::unavailable(format!(
            "the API tokens cannot be read ({error}): every token is refused until tokens.toml is readable by the node"
        )));
    }
    if let Some(error) = store.health().writable_error {
        return Err(ApiError::unavailable(format!(
            "the store cannot write ({error}); the node retries by itself"
        )));
    }
    blocking(move || Ok(store.frontier()?)).await.map_err(|e| {
        ApiError::unavailable(format!("the store does not answer: {}", e.body.message))
    })?;
    Ok("ready\n")
}
