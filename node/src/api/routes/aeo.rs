//! AEO records: publish one, read an operator's status at every issuer.

use axum::extract::{Path, State};
use axum::response::Response;
use axum::Json;
use customs_protocol::{AeoRecord, Body, Date};
use serde::Deserialize;

use super::{blocking, publish_posted, IdempotencyHeader, PublishResponses};
use crate::api::error::{ApiError, ErrorBody};
use crate::api::extract::Idempotency;
use crate::api::extract::{query_value, Publishable, QueryParams};
use crate::api::views::*;
use crate::api::ApiState;
use crate::clock::rfc3339;

/// Publish an AEO status record.
///
/// The operator's status at this administration becomes this record (the latest by
/// sequence number).
#[utoipa::path(
    post,
    path = "/api/v1/aeo",
    tag = "aeo",
    params(IdempotencyHeader),
    request_body(
        content = AeoRecord,
        description = "The record's fields, and optionally `markings` and `distribution` (as for alerts)"
    ),
    responses(PublishResponses)
)]
pub async fn publish_aeo(
    State(state): State<ApiState>,
    idempotency: Idempotency,
    request: Publishable<AeoRecord>,
) -> Result<Response, ApiError> {
    publish_posted(state, request, Body::AeoRecord, idempotency).await
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AeoQuery {
    /// The status on this date (YYYY-MM-DD) instead of now.
    as_of: Option<String>,
}

/// An operator's AEO status at every issuer that published about it.
///
/// Per issuer, its latest record (by sequence number) that is not retracted; with
/// `as_of`, the latest that took effect on or before that date.
#[utoipa::path(
    get,
    path = "/api/v1/aeo/{operator_id}",
    tag = "aeo",
    params(
        ("operator_id" = String, Path, description = "TCUI/EORI-shaped id, e.g. NL123456789"),
        AeoQuery,
    ),
    responses(
        (status = 200, description = "The status per issuer (empty when nobody published about the operator)", body = AeoStatusView),
        (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody),
    )
)]
pub async fn aeo_status(
    State(state): State<ApiState>,
    Path(operator_id): Path<String>,
    QueryParams(query): QueryParams<AeoQuery>,
) -> Result<Json<AeoStatusView>, ApiError> {
    customs_protocol::codes::check_operator_id(&operator_id)
        .map_err(|r| ApiError::bad_query("operator_id", format!("operator_id: {r}")))?;
    let as_of = query_value("as_of", query.as_of.as_deref(), |t| {
        Date::parse_valid(t).map_err(|r| r.to_string())
    })?;
    let view = blocking(move || {
        let issuers = state
            .node
            .store
            .aeo_status(&operator_id, as_of)?
            .into_iter()
            .map(|at| AeoAtIssuer {
                issuer: at.issuer,
                issuer_code: state.code_of(&at.issuer),
                entry_id: at.entry.id(),
                seq: at.entry.entry().seq,
                created_at: rfc3339(at.entry.entry().created_at_ms),
                record: at.record,
            })
            .collect();
        Ok(AeoStatusView {
            operator_id,
            as_of,
            issuers,
        })
    })
    .await?;
    Ok(Json(view))
}
