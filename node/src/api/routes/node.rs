//! This node: its status, the fork proofs it holds, its OpenAPI document.

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};

use super::{blocking, network_status};
use crate::api::error::publish_refusal_code;
use crate::api::error::{ApiError, ErrorBody};
use crate::api::views::*;
use crate::api::ApiState;
use crate::clock::rfc3339;
use crate::limits::MAX_FORKS_LISTED;
use crate::publish::PublishError;
use crate::tokens::{Caller, TokensState};

/// The API tokens the node has loaded (names only), and the digest of tokens.toml as
/// loaded: the CLI compares it with the file it wrote to confirm a change took effect.
#[utoipa::path(
    get,
    path = "/api/v1/tokens",
    tag = "node",
    responses(
        (status = 200, body = TokensState),
        (status = 401, body = ErrorBody),
        (status = 403, description = "Not an admin token", body = ErrorBody),
    )
)]
pub async fn tokens(State(state): State<ApiState>) -> Json<TokensState> {
    Json(state.tokens.state())
}

/// This node, its peers, its frontier and counts.
#[utoipa::path(
    get,
    path = "/api/v1/status",
    tag = "node",
    responses((status = 200, body = StatusView), (status = 401, body = ErrorBody))
)]
pub async fn status(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
) -> Result<Json<StatusView>, ApiError> {
    let network = network_status(&state).await?;
    let node = state.node.clone();
    let (frontier, counts, readiness) = blocking(move || {
        let readiness = match node.publisher.readiness() {
            Ok(()) => None,
            Err(PublishError::Store(error)) => return Err(error.into()),
            Err(refusal) => Some((
                publish_refusal_code(&refusal)
                    .unwrap_or("not_synced")
                    .to_string(),
                refusal.to_string(),
            )),
        };
        let unsynced = node.publisher.publish_before_sync_allowed()?;
        Ok((
            node.store.frontier()?,
            node.store.counts(),
            (readiness, unsynced),
        ))
    })
    .await?;
    let (readiness, publish_before_sync_allowed) = readiness;
    let own_key_forked_at = frontier
        .get(&state.node.public_key())
        .map(|h| h.fork_seq)
        .filter(|seq| *seq > 0);
    let mut frontier: Vec<FrontierItem> = frontier
        .heads()
        .map(|h| FrontierItem {
            author: h.author,
            code: state.code_of(&h.author),
            seq: h.seq,
            head: h.id,
        })
        .collect();
    frontier.sort_by(|a, b| (&a.code, a.author).cmp(&(&b.code, b.author)));
    let peers = network
        .peers
        .iter()
        .map(|p| PeerView {
            code: p.code.clone(),
            public_key: p.public_key.clone(),
            peer_id: p.peer_id.clone(),
            connected: p.connected,
            last_sync: p.last_sync_ms.map(rfc3339),
            last_sync_ms: p.last_sync_ms,
            lag_entries: p.lag_entries,
            in_sync: p.in_sync,
            entries_received: p.entries_received,
            rejected: p.rejected.clone(),
            refused_ours: p
                .refused_ours
                .iter()
                .map(|r| RefusalView {
                    reason: r.reason.clone(),
                    count: r.count,
                    last_seq: r.last_seq,
                    last_at_ms: r.last_at_ms,
                })
                .collect(),
            clock_offset_ms: p.clock_offset_ms,
        })
        .collect();
    let identity = &state.identity;
    Ok(Json(StatusView {
        node: NodeInfo {
            code: identity.code.clone(),
            name: identity.name.clone(),
            network: identity.network.clone(),
            public_key: state.node.public_key(),
            peer_id: network.peer_id,
            listen_addrs: network.listen_addrs,
            version: env!("CARGO_PKG_VERSION").to_string(),
            can_publish: readiness.is_none(),
            cannot_publish: readiness.as_ref().map(|r| r.0.clone()),
            cannot_publish_reason: readiness.map(|r| r.1),
            publish_before_sync_allowed,
            own_key_forked_at,
            clock_offset_ms: network.clock_offset_ms,
            store_writable: state.node.store.health().writable_error.is_none(),
            tokens_error: state.tokens.state().error,
            started_at_ms: state.started_at_ms,
            your_role: caller.role,
        },
        peers,
        frontier,
        counts: CountsView {
            entries: counts.entries,
            risk_alerts: counts.risk_alerts,
            aeo_records: counts.aeo_records,
            retractions: counts.retractions,
            forks: counts.forks,
            forks_known: counts.forks_known,
            authors: counts.authors,
        },
        forks: counts.forks,
    }))
}

/// Fork proofs: pairs of entries one member key signed with the same seq (at most
/// 100; `more` says there are others).
#[utoipa::path(
    get,
    path = "/api/v1/forks",
    tag = "node",
    responses((status = 200, body = ForkList), (status = 401, body = ErrorBody))
)]
pub async fn forks(State(state): State<ApiState>) -> Result<Json<ForkList>, ApiError> {
    let list = blocking(move || {
        let (proofs, more) = state.node.store.forks_up_to(MAX_FORKS_LISTED)?;
        let forks = proofs
            .into_iter()
            .map(|proof| {
                let code = state.code_of(&proof.author);
                let member = state.is_member(&proof.author);
                let membership = state.node.membership.get();
                let view = |e: &customs_protocol::SignedEntry| {
                    let readable = state.node.store.readable(e).ok().flatten();
                    EntryView::of(e, readable.as_ref(), code.clone(), member, true, None)
                        .with_standing(&membership)
                };
                ForkView {
                    author: proof.author,
                    author_code: code.clone(),
                    seq: proof.seq,
                    entries: vec![view(&proof.first), view(&proof.second)],
                }
            })
            .collect();
        Ok(ForkList { forks, more })
    })
    .await?;
    Ok(Json(list))
}

/// This OpenAPI document.
#[utoipa::path(
    get,
    path = "/api/v1/openapi.json",
    tag = "node",
    responses((status = 200, description = "OpenAPI 3 document", content_type = "application/json"))
)]
pub async fn openapi_json(State(state): State<ApiState>) -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        state.openapi_json.clone(),
    )
        .into_response()
}
