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
        ("operator_id" = String, Path, description = "TCUI/EORI-shaped id, e.g. NL123456789, or a partner identifier as SCHEME:VALUE, e.g. US_MID:NLEXALOG1234ROT"),
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
    // An operator id, or a partner identifier as SCHEME:VALUE (US_MID:...).
    let partner_identifier = operator_id.split_once(':').is_some_and(|(scheme, value)| {
        !scheme.is_empty()
            && scheme.len() <= 16
            && scheme
                .bytes()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == b'_')
            && customs_protocol::codes::check_document_number(value, 35).is_ok()
    });
    if !partner_identifier {
        customs_protocol::codes::check_operator_id(&operator_id)
            .map_err(|r| ApiError::bad_query("operator_id", format!("operator_id: {r}")))?;
    }
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

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SnapshotQuery {
    /// The issuing member's code.
    issuer: Option<String>,
    /// `json` (default) or `csv`.
    format: Option<String>,
}

/// Operators listed at most in one snapshot.
pub const MAX_SNAPSHOT_OPERATORS: usize = 100_000;

/// The columns of the CSV snapshot, in order.
pub const SNAPSHOT_CSV_COLUMNS: &str = "operator_id,name,address,country,programme,status,authorised_on,effective_from,valid_until,reason,identifiers,mra_partners,entry_id,seq";

/// The daily file an MRA partner takes: every operator's current status at one issuer.
///
/// Per operator, the issuer's latest record that is not retracted; only operators
/// that consented to the exchange (`exchange_consent`), the others counted in
/// `withheld_without_consent` (JSON) or in the `X-Withheld-Without-Consent` header
/// (CSV). The file leaves the network, so a record that may not (restricted,
/// TLP:RED, `no_onward_sharing`) is left out and counted in `withheld_by_markings`
/// (`X-Withheld-By-Markings`). CSV: RFC 4180, a header row, identifiers as `SCHEME:VALUE` joined with `;`.
#[utoipa::path(
    get,
    path = "/api/v1/aeo",
    tag = "aeo",
    params(SnapshotQuery),
    responses(
        (status = 200, description = "The snapshot (JSON, or text/csv with `format=csv`)", body = AeoSnapshot),
        (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody),
    )
)]
pub async fn aeo_snapshot(
    State(state): State<ApiState>,
    QueryParams(query): QueryParams<SnapshotQuery>,
) -> Result<Response, ApiError> {
    use axum::response::IntoResponse;
    let issuer = query
        .issuer
        .ok_or_else(|| ApiError::bad_query("issuer", "issuer: name the issuing member's code"))?;
    let csv = match query.format.as_deref() {
        None | Some("json") => false,
        Some("csv") => true,
        Some(other) => {
            return Err(ApiError::bad_query(
                "format",
                format!("format: {other:?} is neither json nor csv"),
            ))
        }
    };
    let keys = state
        .node
        .membership
        .get()
        .members
        .get(&issuer)
        .map(|m| m.nodes.clone())
        .ok_or_else(|| {
            ApiError::bad_query("issuer", format!("issuer: {issuer:?} is not a member code"))
        })?;
    let membership = state.node.membership.get();
    let snapshot = blocking(move || {
        let mut rows = Vec::new();
        let (mut withheld, mut withheld_by_markings) = (0, 0);
        let store = &state.node.store;
        for key in &keys {
            for (record, entry) in store.aeo_snapshot(key, MAX_SNAPSHOT_OPERATORS)? {
                if !record.exchange_consent {
                    withheld += 1;
                    continue;
                }
                // The file leaves the network: the one outbound rule decides.
                if crate::api::formats::outgoing(store, &membership, &entry)?.is_none() {
                    withheld_by_markings += 1;
                    continue;
                }
                rows.push(AeoSnapshotRow {
                    entry_id: entry.id(),
                    seq: entry.entry().seq,
                    record,
                });
            }
        }
        rows.sort_by(|a, b| a.record.operator_id.cmp(&b.record.operator_id));
        Ok(AeoSnapshot {
            issuer,
            generated_at: rfc3339(crate::clock::now_ms()),
            operators: rows,
            withheld_without_consent: withheld,
            withheld_by_markings,
        })
    })
    .await?;
    if !csv {
        return Ok(Json(snapshot).into_response());
    }
    let mut text = String::from(SNAPSHOT_CSV_COLUMNS);
    text.push_str("\r\n");
    for row in &snapshot.operators {
        let r = &row.record;
        let text_of = |v: &serde_json::Value| v.as_str().unwrap_or_default().to_string();
        let fields = [
            r.operator_id.clone(),
            r.name.clone(),
            r.address.clone().unwrap_or_default(),
            r.country.to_string(),
            text_of(&serde_json::to_value(r.programme).unwrap_or_default()),
            r.status.as_str().to_string(),
            r.authorised_on.map(|d| d.to_string()).unwrap_or_default(),
            r.effective_from.to_string(),
            r.valid_until.map(|d| d.to_string()).unwrap_or_default(),
            r.reason.clone().unwrap_or_default(),
            r.identifiers
                .iter()
                .map(|i| format!("{}:{}", i.scheme, i.value))
                .collect::<Vec<_>>()
                .join(";"),
            r.mra_partners
                .iter()
                .map(|c| c.to_string())
                .collect::<Vec<_>>()
                .join(";"),
            row.entry_id.to_hex(),
            row.seq.to_string(),
        ];
        text.push_str(&crate::api::formats::csv_line(&fields));
    }
    Ok((
        [
            (
                axum::http::header::CONTENT_TYPE,
                "text/csv; charset=utf-8".to_string(),
            ),
            (
                axum::http::header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"aeo-{}.csv\"", snapshot.issuer),
            ),
            (
                axum::http::HeaderName::from_static("x-withheld-without-consent"),
                snapshot.withheld_without_consent.to_string(),
            ),
            (
                axum::http::HeaderName::from_static("x-withheld-by-markings"),
                snapshot.withheld_by_markings.to_string(),
            ),
        ],
        text,
    )
        .into_response())
}
