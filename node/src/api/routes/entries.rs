//! Entries of any type: read one with its verification, retract one of ours.

use axum::extract::{Path, State};
use axum::response::Response;
use axum::Json;
use customs_protocol::body::Retraction;
use customs_protocol::{Body, Distribution, EntryId};

use super::{blocking, publish, IdempotencyHeader, PublishResponses};
use crate::api::error::{ApiError, ErrorBody};
use crate::api::extract::Idempotency;
use crate::api::extract::Publishable;
use crate::api::views::*;
use crate::api::ApiState;
use crate::limits::MIN_ID_PREFIX_HEX;

/// The entry `text` names: a whole id, or a prefix of one that only one held entry has.
fn resolve_id(store: &crate::store::Store, text: &str) -> Result<EntryId, ApiError> {
    if let Some(id) = EntryId::from_hex(text) {
        return Ok(id);
    }
    let is_prefix = (MIN_ID_PREFIX_HEX..64).contains(&text.len())
        && text.bytes().all(|b| b.is_ascii_hexdigit());
    if !is_prefix {
        return Err(ApiError::bad_query(
            "id",
            format!("{text:?} is not an entry id (64 hex digits, or a prefix of at least {MIN_ID_PREFIX_HEX})"),
        ));
    }
    match store.ids_with_prefix(text, 2)?.as_slice() {
        [id] => Ok(*id),
        [] => Err(ApiError::not_found(format!(
            "no entry on this node has an id starting with {text}"
        ))),
        _ => Err(ApiError::new(
            axum::http::StatusCode::CONFLICT,
            "ambiguous_id",
            format!("more than one entry has an id starting with {text}: give more digits"),
        )
        .with_field("id")),
    }
}

/// One entry of any type.
///
/// With its verification status (checked again as it is served), whether it is
/// retracted, and the exact signed bytes (base64) for independent verification.
#[utoipa::path(
    get,
    path = "/api/v1/entries/{id}",
    tag = "entries",
    params(("id" = String, Path, description = "Entry id: 64 hex digits, or a prefix of at least 8 that one entry has")),
    responses(
        (status = 200, description = "The entry; for a restricted record this node is not a recipient of, only its place (`restricted: true`)", body = EntryAnswer),
        (status = 400, description = "Not an entry id", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "The prefix matches more than one entry (`ambiguous_id`)", body = ErrorBody),
    )
)]
pub async fn get_entry(
    State(state): State<ApiState>,
    Path(id): Path<String>,
) -> Result<Json<EntryAnswer>, ApiError> {
    let view = blocking(move || {
        let store = &state.node.store;
        let id = resolve_id(store, &id)?;
        let entry = store
            .get(&id)?
            .ok_or_else(|| ApiError::not_found(format!("no entry {id} on this node")))?;
        let author = entry.entry().author;
        let Some(readable) = store.readable(&entry)? else {
            return Ok(EntryAnswer::Restricted(RestrictedEntryView {
                meta: EntryMeta::of(&entry, state.code_of(&author)),
                restricted: true,
            }));
        };
        let forked = store.forked_at(&author, entry.entry().seq)?;
        let membership = state.node.membership.get();
        let mut view = EntryView::of(
            &entry,
            Some(&readable),
            state.code_of(&author),
            state.is_member(&author),
            forked,
            store.retracted_by(&id)?,
        )
        .with_standing(&membership);
        if matches!(
            readable.body,
            customs_protocol::Body::RiskAlert(_) | customs_protocol::Body::ControlRequest(_)
        ) {
            view.answers = super::control::answers_of(&state, &id)?;
        }
        if let Distribution::Group(group) = &readable.distribution {
            let groups = store.groups(&membership)?;
            view.group_name = groups.groups.get(&group.id).map(|g| g.current.name.clone());
            if let Some(why) = group_refusal(&groups, &membership, &readable, entry.entry()) {
                view.verification.standing = "refused".into();
                view.verification.standing_reason = Some(why);
            }
        }
        Ok(EntryAnswer::Readable(Box::new(view)))
    })
    .await?;
    Ok(Json(view))
}

/// Retract one of this node's own entries.
///
/// The retraction is a new signed entry; the target stays in the log (the chain must
/// verify) but lists hide it. Only the author may retract: another member's entry is
/// 403.
#[utoipa::path(
    post,
    path = "/api/v1/retractions",
    tag = "entries",
    params(IdempotencyHeader),
    request_body(
        content = RetractRequest,
        description = "The target and reason, and optionally `markings` and `distribution` (default: the target's, so a sealed record's retraction reaches exactly its recipients)"
    ),
    responses(
        PublishResponses,
        (status = 404, description = "No such entry", body = ErrorBody),
        (status = 409, description = "Already retracted, or itself a retraction", body = ErrorBody),
    )
)]
pub async fn retract(
    State(state): State<ApiState>,
    idempotency: Idempotency,
    request: Publishable<RetractRequest>,
) -> Result<Response, ApiError> {
    let Publishable {
        record: request,
        markings,
        distribution,
        attachments,
    } = request;
    let body = Body::Retraction(Retraction {
        target: request.target,
        reason: request.reason,
        note: request.note,
    });
    // By default a retraction reaches exactly whom its target reached, with the
    // target's markings: a sealed record's retraction is sealed to the same members
    // (a group at its current epoch).
    let store = state.node.store.clone();
    let target = request.target;
    let (target_markings, target_distribution) = blocking(move || {
        Ok(store
            .opened(&target)?
            .map(|sealed| (sealed.markings, sealed.distribution))
            .unwrap_or_default())
    })
    .await?;
    let markings = markings.unwrap_or(target_markings);
    let distribution = distribution.unwrap_or(target_distribution);
    publish(
        state,
        body,
        markings,
        distribution,
        attachments,
        idempotency,
    )
    .await
}
