//! The API's one error shape: `{"error": code, "message": ..., "field": ...}` with the
//! status that fits. A client's mistake is never a 500; a 500 means the node itself
//! failed (its disk, a task) and the message says what.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use customs_protocol::ValidationError;
use serde::Serialize;

use crate::publish::PublishError;
use crate::store::{RetractionRefusal, StoreError};

/// The JSON body of every error response.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// A stable, machine-readable code: malformed_json, invalid_field, bad_query,
    /// unsupported_media_type, payload_too_large, unauthorized, forbidden, not_found,
    /// method_not_allowed, conflict, not_synced, unavailable, internal.
    pub error: &'static str,
    /// What is wrong, for a person.
    pub message: String,
    /// The path of the offending field (`conveyance.containers[0]`), where one applies.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub body: ErrorBody,
}

impl ApiError {
    pub fn new(status: StatusCode, error: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            body: ErrorBody {
                error,
                message: message.into(),
                field: None,
            },
        }
    }

    pub fn with_field(mut self, field: impl Into<String>) -> Self {
        self.body.field = Some(field.into());
        self
    }

    /// The same error about a field inside `parent`: `tlp` becomes `markings.tlp`.
    pub fn within(mut self, parent: &str) -> Self {
        let field = match self.body.field.take() {
            Some(field) if !field.is_empty() => format!("{parent}.{field}"),
            _ => parent.to_string(),
        };
        self.body.message = format!("{parent}: {}", self.body.message);
        self.body.field = Some(field);
        self
    }

    pub fn malformed_json(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "malformed_json", message)
    }

    pub fn invalid_field(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_field", message).with_field(field)
    }

    pub fn bad_query(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_query", message).with_field(field)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    pub fn payload_too_large(limit_bytes: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("the request body is larger than this node accepts ({limit_bytes} bytes, api.max_body_bytes)"),
        )
    }

    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", message)
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", message)
    }
}

impl From<ValidationError> for ApiError {
    fn from(error: ValidationError) -> Self {
        ApiError::invalid_field(error.field.clone(), error.to_string())
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match &error {
            StoreError::RetractionTarget { reason, .. } => {
                let (status, code) = match reason {
                    RetractionRefusal::Unknown => (StatusCode::NOT_FOUND, "not_found"),
                    RetractionRefusal::OtherAuthor => (StatusCode::FORBIDDEN, "forbidden"),
                    RetractionRefusal::IsRetraction | RetractionRefusal::AlreadyRetracted => {
                        (StatusCode::CONFLICT, "conflict")
                    }
                };
                ApiError::new(status, code, error.to_string()).with_field("target")
            }
            StoreError::Invalid(customs_protocol::EntryError::Invalid(invalid)) => {
                ApiError::from(invalid.clone())
            }
            StoreError::Seal(seal) => {
                ApiError::invalid_field("distribution", format!("distribution: {seal}"))
            }
            StoreError::Recovering => ApiError::unavailable(error.to_string()),
            StoreError::IdempotencyKeyReused { .. } => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "idempotency_key_reused",
                error.to_string(),
            )
            .with_field("Idempotency-Key"),
            _ => {
                tracing::error!(%error, "store failure while serving the API");
                ApiError::internal(error.to_string())
            }
        }
    }
}

/// The stable error name of a reason this node will not sign now.
pub fn publish_refusal_code(error: &PublishError) -> Option<&'static str> {
    match error {
        PublishError::NotSynced => Some("not_synced"),
        PublishError::OwnKeyForked { .. } => Some("own_key_forked"),
        PublishError::ClockOff { .. } => Some("clock_off"),
        PublishError::NotAdmitted(_) => Some("not_admitted"),
        _ => None,
    }
}

impl From<PublishError> for ApiError {
    fn from(error: PublishError) -> Self {
        match error {
            PublishError::Store(store) => ApiError::from(store),
            PublishError::Address(address) => {
                ApiError::invalid_field("distribution", format!("distribution: {address}"))
            }
            PublishError::NoMembership => {
                ApiError::invalid_field("distribution", error.to_string())
            }
            refusal @ (PublishError::NotSynced
            | PublishError::OwnKeyForked { .. }
            | PublishError::ClockOff { .. }
            | PublishError::NotAdmitted(_)) => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                publish_refusal_code(&refusal).unwrap_or("not_synced"),
                refusal.to_string(),
            ),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(self.body)).into_response()
    }
}
