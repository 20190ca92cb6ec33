//! Governance: the members and their keys, proposals and approvals, and the keys an
//! administration certifies, rotates and revokes. Every change is a signed governance
//! entry of this node; the membership follows from them on every node alike.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use customs_protocol::governance::{
    CausalGovernance, Certificate, Charter, Governance, Membership, ProposalStatus, Revocation,
    SeqCut, Standing,
};
use customs_protocol::{Body, EntryId};

use super::{blocking, PublishResponses};
use crate::api::error::{ApiError, ErrorBody};
use crate::api::extract::JsonBody;
use crate::api::views::*;
use crate::api::ApiState;
use crate::clock::rfc3339;

fn conflict(error: &'static str, message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::CONFLICT, error, message)
}

/// Governance needs a charter: a network of static member lists has none.
fn governed(state: &ApiState) -> Result<std::sync::Arc<Membership>, ApiError> {
    let membership = state.node.membership.get();
    if membership.governed {
        Ok(membership)
    } else {
        Err(conflict(
            "not_governed",
            "this network has no charter: members are static lists (members.toml); see \"Converting a network\" in the README",
        ))
    }
}

/// A certificate of this node's administration, signed by its current key.
fn check_own_certificate(
    state: &ApiState,
    membership: &Membership,
    certificate: &Certificate,
    error: &'static str,
) -> Result<(), ApiError> {
    certificate.validate()?;
    let own = &state.identity.code;
    let current = membership.members.get(own).map(|m| m.admin_key);
    if certificate.node.code != *own || current != Some(certificate.node.admin_key) {
        return Err(conflict(
            error,
            format!("the certificate is not signed by {own}'s current administration key"),
        ));
    }
    Ok(())
}

/// The node keys a removal or key replacement closes, each cut at the last seq of
/// it this node holds: entries the members hold stay valid, later ones are refused
/// whatever date they carry.
fn cuts_for(state: &ApiState, membership: &Membership, act: &Governance) -> Vec<SeqCut> {
    let (code, kept): (&str, Vec<_>) = match act {
        Governance::ProposeRemoval { code, .. } => (code, Vec::new()),
        Governance::ProposeAdminKey { code, nodes, .. } => {
            (code, nodes.iter().map(|c| c.node.node_key).collect())
        }
        _ => return Vec::new(),
    };
    let frontier = state.node.store.watch_frontier().borrow().clone();
    let mut cuts: Vec<SeqCut> = membership
        .node_keys
        .values()
        .filter(|n| n.code == code && !kept.contains(&n.node_key))
        .map(|n| SeqCut {
            node_key: n.node_key,
            last_seq: frontier.get(&n.node_key).map_or(0, |h| h.seq),
        })
        .collect();
    cuts.sort_by_key(|c| c.node_key.0);
    cuts
}

/// Signs and stores a governance entry, naming the governance heads this node
/// holds (and, for a removal or key replacement, where it cuts the keys it closes);
/// 201 with its id.
async fn publish_governance(state: ApiState, governance: Governance) -> Result<Response, ApiError> {
    governance.validate().map_err(ApiError::from)?;
    let membership = state.node.membership.get();
    let causal = CausalGovernance {
        heads: membership.heads.clone(),
        cuts: cuts_for(&state, &membership, &governance),
        act: governance,
    };
    causal.validate().map_err(ApiError::from)?;
    let appended = state
        .node
        .publisher
        .publish(Body::CausalGovernance(causal), None)
        .await?;
    let entry = appended.entry;
    let body = GovernancePublished {
        proposal: entry.id(),
        id: entry.id(),
        author: state.node.public_key(),
        seq: entry.entry().seq,
    };
    let location = format!("/api/v1/entries/{}", entry.id());
    Ok((
        StatusCode::CREATED,
        [(axum::http::header::LOCATION, location)],
        Json(body),
    )
        .into_response())
}

/// The members, former members included, with their administration and node keys.
#[utoipa::path(
    get,
    path = "/api/v1/members",
    tag = "members",
    responses((status = 200, body = MembersView), (status = 401, body = ErrorBody))
)]
pub async fn members(State(state): State<ApiState>) -> Json<MembersView> {
    let m = state.node.membership.get();
    let own = state.node.public_key();
    let members = m
        .members
        .values()
        .map(|member| {
            let (removed_at, removal_reason) = match &member.standing {
                Standing::Member => (None, None),
                Standing::Removed {
                    removed_at_ms,
                    reason,
                    ..
                } => (Some(rfc3339(*removed_at_ms)), Some(reason.clone())),
            };
            MemberView {
                code: member.code.clone(),
                name: member.name.clone(),
                status: match member.standing {
                    Standing::Member => "member",
                    Standing::Removed { .. } => "removed",
                }
                .into(),
                admin_key: member.admin_key,
                since: rfc3339(member.since_ms),
                since_ms: member.since_ms,
                removed_at,
                removal_reason,
                nodes: member
                    .nodes
                    .iter()
                    .filter_map(|key| m.node_keys.get(key))
                    .map(|n| NodeKeyView {
                        node_key: n.node_key,
                        this_node: n.node_key == own,
                        encryption_key: n.encryption_key.map(|k| hex::encode(k.0)),
                        addresses: n.addresses.clone(),
                        certified_at: rfc3339(n.certified_at_ms),
                        open: n.last_seq.is_none() && n.closed_at_ms.is_none(),
                        last_seq: n.last_seq,
                        closed_at: n.closed_at_ms.map(rfc3339),
                        closed_reason: n.closed_reason.clone(),
                    })
                    .collect(),
            }
        })
        .collect();
    Json(MembersView {
        network: m.network.clone(),
        governed: m.governed,
        quorum: m.quorum.as_str().into(),
        member_count: m.member_count(),
        members,
    })
}

/// Proposals, pending first, with who approved and how many approvals decide.
#[utoipa::path(
    get,
    path = "/api/v1/proposals",
    tag = "members",
    responses((status = 200, body = ProposalsView), (status = 401, body = ErrorBody))
)]
pub async fn proposals(State(state): State<ApiState>) -> Json<ProposalsView> {
    let m = state.node.membership.get();
    let own_code = state.identity.code.clone();
    let mut proposals: Vec<ProposalView> = m
        .proposals
        .values()
        .map(|p| ProposalView {
            id: p.id,
            proposer: p.proposer.clone(),
            action: p.governance.action().into(),
            subject: p.subject().into(),
            reason: match &p.governance {
                Governance::ProposeRemoval { reason, .. }
                | Governance::ProposeAdminKey { reason, .. } => Some(reason.clone()),
                _ => None,
            },
            proposed_at: rfc3339(p.proposed_at_ms),
            approvals: p.approvals.clone(),
            needed: p.needed,
            approved_by_us: p.approvals.contains(&own_code),
            status: match p.status {
                ProposalStatus::Pending => "pending",
                ProposalStatus::Decided => "decided",
                ProposalStatus::Void => "void",
            }
            .into(),
            decided_at: p.decided_at_ms.map(rfc3339),
            void_reason: p.void_reason.clone(),
            governance: p.governance.clone(),
        })
        .collect();
    proposals.sort_by(|a, b| {
        (
            a.status != "pending",
            std::cmp::Reverse(&a.proposed_at),
            a.id,
        )
            .cmp(&(
                b.status != "pending",
                std::cmp::Reverse(&b.proposed_at),
                b.id,
            ))
    });
    Json(ProposalsView {
        quorum: m.quorum.as_str().into(),
        member_count: m.member_count(),
        needed: m.quorum.needed(m.member_count()),
        proposals,
    })
}

/// Propose to admit an administration, remove a member or replace a member's
/// administration key (admin tokens).
///
/// The body is the governance act: `{"action": "propose_admission", "card": ...,
/// "nodes": [...]}` (the joining node's card, `customs-node member export`),
/// `{"action": "propose_removal", "code": "XX", "reason": "..."}`, or
/// `{"action": "propose_admin_key", ...}`. This node's approval is implied. A
/// proposal that could not apply now is refused (409) rather than published.
#[utoipa::path(
    post,
    path = "/api/v1/proposals",
    tag = "members",
    request_body = Governance,
    responses(
        (status = 201, description = "Proposed: the proposal's id", body = GovernancePublished),
        PublishResponses,
        (status = 409, description = "Not a governed network, or the proposal cannot apply now (`not_governed`, `proposal_refused`)", body = ErrorBody),
    )
)]
pub async fn propose(
    State(state): State<ApiState>,
    JsonBody(governance): JsonBody<Governance>,
) -> Result<Response, ApiError> {
    let membership = governed(&state)?;
    if !governance.is_proposal() {
        return Err(ApiError::invalid_field(
            "action",
            format!(
                "{:?} is not a proposal: use propose_admission, propose_removal or propose_admin_key",
                governance.action()
            ),
        ));
    }
    governance.validate()?;
    membership
        .check_proposal(&governance)
        .map_err(|why| conflict("proposal_refused", why))?;
    publish_governance(state, governance).await
}

/// Approve a pending proposal (admin tokens).
#[utoipa::path(
    post,
    path = "/api/v1/proposals/{id}/approvals",
    tag = "members",
    params(("id" = String, Path, description = "The proposal's entry id (64 hex digits)")),
    responses(
        (status = 201, description = "Approved: the approval's entry id", body = GovernancePublished),
        PublishResponses,
        (status = 404, description = "No such proposal on this node", body = ErrorBody),
        (status = 409, description = "Already decided or void, or already approved by this member", body = ErrorBody),
    )
)]
pub async fn approve(
    State(state): State<ApiState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let membership = governed(&state)?;
    let id = EntryId::from_hex(&id).ok_or_else(|| {
        ApiError::bad_query("id", format!("{id:?} is not an entry id (64 hex digits)"))
    })?;
    let proposal = membership
        .proposals
        .get(&id)
        .ok_or_else(|| ApiError::not_found(format!("no proposal {id} on this node")))?;
    match proposal.status {
        ProposalStatus::Pending => {}
        ProposalStatus::Decided => {
            return Err(conflict(
                "proposal_decided",
                format!("proposal {id} is already decided"),
            ))
        }
        ProposalStatus::Void => {
            return Err(conflict(
                "proposal_void",
                format!(
                    "proposal {id} is void: {}",
                    proposal.void_reason.clone().unwrap_or_default()
                ),
            ))
        }
    }
    if proposal.approvals.contains(&state.identity.code) {
        return Err(conflict(
            "already_approved",
            format!("{} has already approved proposal {id}", state.identity.code),
        ));
    }
    publish_governance(state, Governance::Approve { proposal: id }).await
}

/// Publish a node certificate signed by this administration's key: another node of
/// the administration may then join (admin tokens).
#[utoipa::path(
    post,
    path = "/api/v1/keys/certificates",
    tag = "members",
    request_body = Certificate,
    responses(
        (status = 201, body = GovernancePublished),
        PublishResponses,
        (status = 409, description = "Not by this administration's current key, or the key is known", body = ErrorBody),
    )
)]
pub async fn certify(
    State(state): State<ApiState>,
    JsonBody(certificate): JsonBody<Certificate>,
) -> Result<Response, ApiError> {
    let membership = governed(&state)?;
    check_own_certificate(&state, &membership, &certificate, "certificate_refused")?;
    if membership
        .node_keys
        .contains_key(&certificate.node.node_key)
    {
        return Err(conflict(
            "certificate_refused",
            format!(
                "node key {} is already certified",
                certificate.node.node_key
            ),
        ));
    }
    publish_governance(state, Governance::Certify { certificate }).await
}

/// Publish a revocation signed by an administration key: that node key signs
/// nothing valid from `from_seq` on, on every node (admin tokens).
#[utoipa::path(
    post,
    path = "/api/v1/keys/revocations",
    tag = "members",
    request_body = Revocation,
    responses(
        (status = 201, body = GovernancePublished),
        PublishResponses,
        (status = 409, description = "Not by the member's current administration key, or not its node key", body = ErrorBody),
    )
)]
pub async fn revoke(
    State(state): State<ApiState>,
    JsonBody(revocation): JsonBody<Revocation>,
) -> Result<Response, ApiError> {
    let membership = governed(&state)?;
    revocation.validate()?;
    let r = &revocation.revocation;
    let current = membership.members.get(&r.code).map(|m| m.admin_key);
    if current != Some(r.admin_key) {
        return Err(conflict(
            "revocation_refused",
            format!(
                "the revocation is not signed by {}'s current administration key",
                r.code
            ),
        ));
    }
    if membership
        .node_keys
        .get(&r.node_key)
        .map(|n| n.code.as_str())
        != Some(r.code.as_str())
    {
        return Err(conflict(
            "revocation_refused",
            format!("{} is not a node key of {}", r.node_key, r.code),
        ));
    }
    publish_governance(state, Governance::Revoke { revocation }).await
}

/// Hand this node's log over to a new node key certified by the administration key
/// (admin tokens). The node signs the rotation as the old key's last entry, then
/// restarts its network and API in-process with the new key (about a second).
/// The new key must be the one `customs-node key rotate` left in DIR/identity.key.next.
#[utoipa::path(
    post,
    path = "/api/v1/keys/rotation",
    tag = "members",
    request_body = Certificate,
    responses(
        (status = 201, body = GovernancePublished),
        PublishResponses,
        (status = 409, description = "Not by this administration's key, or no matching DIR/identity.key.next", body = ErrorBody),
    )
)]
pub async fn rotate(
    State(state): State<ApiState>,
    JsonBody(certificate): JsonBody<Certificate>,
) -> Result<Response, ApiError> {
    let membership = governed(&state)?;
    check_own_certificate(&state, &membership, &certificate, "rotation_refused")?;
    let rotation = state.node.rotation.clone().ok_or_else(|| {
        conflict(
            "rotation_refused",
            "this node runs without a directory to keep keys in",
        )
    })?;
    let next = certificate.clone();
    blocking(move || {
        rotation
            .check_next(&next)
            .map_err(|e| conflict("rotation_refused", e))
    })
    .await?;
    let response = publish_governance(
        state.clone(),
        Governance::Rotate {
            certificate: certificate.clone(),
        },
    )
    .await?;
    let rotation = state.node.rotation.clone().expect("checked above");
    blocking(move || rotation.switch(&certificate).map_err(ApiError::internal)).await?;
    Ok(response)
}

/// Convert this network of static member lists to a charter (admin tokens). The
/// charter (`customs-node charter convert` on one member) keeps the network's id and
/// lists exactly the members this node knows, each key both administration and node
/// key; the node writes it to DIR/charter.toml and restarts in-process under it.
/// Every record stays valid; from then on membership changes are governance entries.
#[utoipa::path(
    post,
    path = "/api/v1/charter",
    tag = "members",
    request_body = Charter,
    responses(
        (status = 202, description = "Adopted: the node restarts in-process under the charter", body = CharterAdopted),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 409, description = "Governed already, or the charter does not convert this network with these members (`already_governed`, `charter_refused`)", body = ErrorBody),
        (status = 422, description = "Not a valid charter", body = ErrorBody),
    )
)]
pub async fn adopt_charter(
    State(state): State<ApiState>,
    JsonBody(charter): JsonBody<Charter>,
) -> Result<Response, ApiError> {
    let membership = state.node.membership.get();
    if membership.governed {
        return Err(conflict(
            "already_governed",
            "this network has a charter already",
        ));
    }
    charter.validate()?;
    let listed = membership
        .members
        .values()
        .map(|m| (m.code.clone(), m.admin_key))
        .collect();
    charter
        .check_conversion(&membership.network, &listed)
        .map_err(|why| conflict("charter_refused", why))?;
    let rotation = state.node.rotation.clone().ok_or_else(|| {
        conflict(
            "charter_refused",
            "this node runs without a directory to keep the charter in",
        )
    })?;
    let network = charter.network_id();
    let count = charter.charter.founders.len();
    state
        .audit
        .record(crate::audit::Event::new("charter_adopt", "api", "ok").with_detail(&network));
    blocking(move || rotation.adopt_charter(&charter).map_err(ApiError::internal)).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(CharterAdopted {
            network,
            members: count,
        }),
    )
        .into_response())
}
