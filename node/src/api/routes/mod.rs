//! The handlers, one file per resource (the OpenAPI tag). Each turns a request into a
//! store query or a publish and a view; the `#[utoipa::path]` on each is its entry in
//! the OpenAPI document. Here: what several of them share.

pub mod aeo;
pub mod alerts;
pub mod attachments;
pub mod check;
pub mod control;
pub mod entries;
pub mod exchange;
pub mod groups;
pub mod members;
pub mod node;
pub mod notify;
pub mod operations;
pub mod stats;
pub mod taxii;

use axum::http::{header, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use customs_protocol::markings::Tlp;
use customs_protocol::{Body, Distribution, Markings, VerifiedEntry};

use super::error::{ApiError, ErrorBody};
use super::extract::{Idempotency, Publishable};
use super::views::Published;
use super::ApiState;
use crate::network::NetworkStatus;

/// Runs blocking store work off the async threads.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| ApiError::internal(format!("a worker task failed: {e}")))?
}

/// The network task's status; 503 when it does not answer.
async fn network_status(state: &ApiState) -> Result<NetworkStatus, ApiError> {
    state
        .node
        .client
        .status()
        .await
        .map_err(|e| ApiError::unavailable(format!("the network task does not answer: {e}")))
}

fn created(state: &ApiState, entry: &VerifiedEntry) -> Response {
    let id = entry.id();
    let location = format!("/api/v1/entries/{id}");
    let body = Published {
        id,
        author: state.node.public_key(),
        seq: entry.entry().seq,
    };
    (
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(body),
    )
        .into_response()
}

/// Validates, signs, stores (durably) and gossips a body; 201 with where it went. A
/// retry with the same Idempotency-Key gets the same answer (and
/// `Idempotent-Replayed: true`), and nothing is signed again.
///
/// With its markings and distribution: open, or sealed to its recipients (the named
/// members' nodes, or the group's key, and always the author's own nodes).
async fn publish(
    state: ApiState,
    body: Body,
    markings: Markings,
    distribution: Distribution,
    attachments: Vec<attachments::AttachmentRequest>,
    Idempotency(idempotency): Idempotency,
) -> Result<Response, ApiError> {
    body.validate()?;
    markings
        .validate()
        .map_err(|e| ApiError::from(e).within("markings"))?;
    distribution
        .validate()
        .map_err(|e| ApiError::from(e).within("distribution"))?;
    if markings.tlp == Tlp::Red && !distribution.is_restricted() {
        return Err(ApiError::invalid_field(
            "distribution",
            "distribution: a TLP:RED record is for its named recipients only: address it to members (`to`) or a group",
        ));
    }
    if !attachments.is_empty() && !body.may_carry_attachments() {
        return Err(ApiError::invalid_field(
            "attachments",
            "attachments: only alerts, AEO records, requests and results carry attachments",
        ));
    }
    let attachments =
        attachments::resolve(&state, attachments, distribution.is_restricted()).await?;
    let draft = state
        .node
        .publisher
        .draft(body, markings, distribution, attachments)?;
    let appended = state
        .node
        .publisher
        .publish_draft(draft, idempotency)
        .await?;
    let mut response = created(&state, &appended.entry);
    if appended.replayed {
        response.headers_mut().insert(
            "idempotent-replayed",
            header::HeaderValue::from_static("true"),
        );
    }
    Ok(response)
}

/// [`publish`] of a record posted with optional markings and distribution (the
/// defaults when absent: TLP:AMBER, every member).
async fn publish_posted<T>(
    state: ApiState,
    request: Publishable<T>,
    into_body: impl FnOnce(T) -> Body,
    idempotency: Idempotency,
) -> Result<Response, ApiError> {
    let Publishable {
        record,
        markings,
        distribution,
        attachments,
    } = request;
    publish(
        state,
        into_body(record),
        markings.unwrap_or_default(),
        distribution.unwrap_or_default(),
        attachments,
        idempotency,
    )
    .await
}

/// The header every publishing route takes. (Never built: the OpenAPI document reads
/// its attributes.)
#[allow(dead_code)]
#[derive(Debug, utoipa::IntoParams)]
#[into_params(parameter_in = Header)]
pub struct IdempotencyHeader {
    /// Any unique string up to 255 visible ASCII characters (a UUID, say). A retry
    /// with the same key and body, by the same token, within 24 hours, gets the
    /// first answer (with `Idempotent-Replayed: true`) and publishes nothing; the same
    /// key with another body is 422.
    #[param(rename = "Idempotency-Key")]
    idempotency_key: Option<String>,
}

/// What every publishing route can answer: one list, so that no route leaves one
/// out of its documentation (routes add their own, such as 404 and 409).
/// (Never built: the OpenAPI document reads its attributes.)
#[allow(dead_code)]
#[derive(Debug, utoipa::IntoResponses)]
pub enum PublishResponses {
    #[response(status = 201, description = "Signed, stored (flushed) and gossiped")]
    Created(Published),
    #[response(status = 400, description = "Malformed JSON")]
    Malformed(ErrorBody),
    #[response(status = 401, description = "No token, or an unknown one")]
    Unauthorized(ErrorBody),
    #[response(
        status = 403,
        description = "The token's role cannot publish (or, for a retraction, the entry is another member's)"
    )]
    Forbidden(ErrorBody),
    #[response(status = 413, description = "The body is over `api.max_body_bytes`")]
    TooLarge(ErrorBody),
    #[response(status = 415, description = "The body is not `application/json`")]
    NotJson(ErrorBody),
    #[response(
        status = 422,
        description = "A field breaks a rule (`field` names it), or the Idempotency-Key was used for another body"
    )]
    Invalid(ErrorBody),
    #[response(
        status = 503,
        description = "This node will not sign now: `not_synced` (no member has confirmed its own log since it started), `own_key_forked` (its key signed two entries with one seq), `clock_off` (its clock is off its members' by more than they accept), `not_admitted` (its administration is not a member, or its key is closed), or `store_unavailable`"
    )]
    NotSynced(ErrorBody),
}

pub async fn no_route(uri: Uri) -> ApiError {
    ApiError::not_found(format!("no route {}; see /api/v1/openapi.json", uri.path()))
}

pub async fn method_not_allowed(method: Method, uri: Uri) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!(
            "{method} is not allowed on {}; see /api/v1/openapi.json",
            uri.path()
        ),
    )
}
