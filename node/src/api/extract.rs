//! Request bodies and query strings turned into typed values, with errors that name the
//! offending field: `conveyance.containers[0]`, not "invalid type at line 1 column 212".

use std::time::Duration;

use axum::extract::rejection::QueryRejection;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header::CONTENT_TYPE;
use axum::http::request::Parts;
use axum::http::StatusCode;
use futures::StreamExt as _;
use serde::de::DeserializeOwned;

use super::error::ApiError;
use super::ApiState;

/// A JSON body, parsed strictly: `application/json`, within the body limit, no trailing
/// data, and errors with the path of the field.
#[derive(Debug)]
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned> FromRequest<ApiState> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &ApiState) -> Result<Self, ApiError> {
        read_json(request, state, state.limits.max_body_bytes)
            .await
            .map(JsonBody)
    }
}

/// A JSON body of at most `limit_bytes`, parsed strictly: `application/json` or a
/// structured `+json` type (RFC 6839: `application/stix+json`), arriving within the
/// body timeout, no trailing data, errors with the path of the field.
pub async fn read_json<T: DeserializeOwned>(
    request: Request,
    state: &ApiState,
    limit_bytes: usize,
) -> Result<T, ApiError> {
    let is_json = request
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase())
        .is_some_and(|v| {
            v == "application/json" || (v.starts_with("application/") && v.ends_with("+json"))
        });
    if !is_json {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send the body as JSON with `Content-Type: application/json`",
        ));
    }
    let timeout = Duration::from_millis(state.limits.body_read_timeout_ms);
    let bytes = tokio::time::timeout(timeout, read_body(request, limit_bytes))
        .await
        .map_err(|_| {
            ApiError::new(
                StatusCode::REQUEST_TIMEOUT,
                "request_timeout",
                format!("the body did not arrive within {} ms", timeout.as_millis()),
            )
        })??;
    parse_json(&bytes)
}

/// A publish body: the record's own fields, and optionally `markings` (what readers
/// may do with it) and `distribution` (who may read it). Each is parsed strictly, with
/// errors naming the field (`markings.tlp`, `distribution.to[1]`).
#[derive(Debug)]
pub struct Publishable<T> {
    pub record: T,
    /// `None` when the body gives none (the route's default applies).
    pub markings: Option<customs_protocol::Markings>,
    pub distribution: Option<customs_protocol::Distribution>,
    /// Uploaded blobs the record lists (empty when the body names none).
    pub attachments: Vec<super::routes::attachments::AttachmentRequest>,
}

impl<T: DeserializeOwned> FromRequest<ApiState> for Publishable<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &ApiState) -> Result<Self, ApiError> {
        let JsonBody(value) = JsonBody::<serde_json::Value>::from_request(request, state).await?;
        let serde_json::Value::Object(mut fields) = value else {
            return Err(ApiError::invalid_field(
                "",
                "the body must be a JSON object",
            ));
        };
        let mut part = |name: &str| fields.remove(name);
        let markings = match part("markings") {
            Some(value) => Some(parse_value(value).map_err(|e| e.within("markings"))?),
            None => None,
        };
        let distribution = match part("distribution") {
            Some(value) => Some(parse_value(value).map_err(|e| e.within("distribution"))?),
            None => None,
        };
        let attachments = match part("attachments") {
            Some(value) => parse_value(value).map_err(|e| e.within("attachments"))?,
            None => Vec::new(),
        };
        let record = parse_value(serde_json::Value::Object(fields))?;
        Ok(Publishable {
            record,
            markings,
            distribution,
            attachments,
        })
    }
}

/// [`parse_json`] of a value already parsed.
fn parse_value<T: DeserializeOwned>(value: serde_json::Value) -> Result<T, ApiError> {
    let bytes = serde_json::to_vec(&value)
        .map_err(|e| ApiError::malformed_json(format!("the body is not valid JSON: {e}")))?;
    parse_json(&bytes)
}

pub use crate::limits::MAX_DRAINED_BODY_BYTES;
use crate::limits::MAX_IDEMPOTENCY_KEY_BYTES;
use crate::store::IdempotencyKey;
use crate::tokens::Caller;

/// A publish's `Idempotency-Key` header, scoped to the caller's token (absent: none).
#[derive(Debug)]
pub struct Idempotency(pub Option<IdempotencyKey>);

impl FromRequestParts<ApiState> for Idempotency {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &ApiState) -> Result<Self, ApiError> {
        let Some(value) = parts.headers.get("idempotency-key") else {
            return Ok(Idempotency(None));
        };
        let key = value
            .to_str()
            .ok()
            .filter(|k| {
                (1..=MAX_IDEMPOTENCY_KEY_BYTES).contains(&k.len())
                    && k.bytes().all(|b| b.is_ascii_graphic())
            })
            .ok_or_else(|| {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "bad_idempotency_key",
                    format!("Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY_BYTES} visible ASCII characters (a UUID, say)"),
                )
                .with_field("Idempotency-Key")
            })?;
        let caller = parts
            .extensions
            .get::<Caller>()
            .ok_or_else(|| ApiError::internal("a publish route ran without a caller"))?;
        Ok(Idempotency(Some(IdempotencyKey::new(&caller.name, key))))
    }
}

/// The body, at most `limit_bytes`; a larger one is 413 (after draining up to
/// [`MAX_DRAINED_BODY_BYTES`] more, so that the client can read the answer).
async fn read_body(request: Request, limit_bytes: usize) -> Result<Vec<u8>, ApiError> {
    let mut chunks = request.into_body().into_data_stream();
    let mut body = Vec::new();
    let mut received: usize = 0;
    while let Some(chunk) = chunks.next().await {
        let chunk = chunk
            .map_err(|e| ApiError::malformed_json(format!("cannot read the request body: {e}")))?;
        received = received.saturating_add(chunk.len());
        if received <= limit_bytes {
            body.extend_from_slice(&chunk);
        } else if received > limit_bytes.saturating_add(MAX_DRAINED_BODY_BYTES) {
            break;
        }
    }
    if received > limit_bytes {
        return Err(ApiError::payload_too_large(limit_bytes));
    }
    Ok(body)
}

/// Parses JSON text into `T`. Syntax errors are 400 `malformed_json`; a well-formed
/// document with a wrong type, a missing or an unknown field is 422 `invalid_field`
/// with the field's path.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    // Well-formed first: a truncated document is malformed, not "missing a field".
    serde_json::from_slice::<serde::de::IgnoredAny>(bytes)
        .map_err(|e| ApiError::malformed_json(format!("the body is not valid JSON: {e}")))?;
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value: T = match serde_path_to_error::deserialize(&mut deserializer) {
        Ok(value) => value,
        Err(error) => {
            let path = error.path().to_string();
            let inner = error.into_inner();
            return Err(match inner.classify() {
                serde_json::error::Category::Data => {
                    let message = strip_position(&inner.to_string());
                    let field = field_path(&path, &message);
                    ApiError::invalid_field(field.clone(), format!("{field}: {message}"))
                }
                _ => ApiError::malformed_json(format!("the body is not valid JSON: {inner}")),
            });
        }
    };
    deserializer
        .end()
        .map_err(|e| ApiError::malformed_json(format!("the body is not valid JSON: {e}")))?;
    Ok(value)
}

/// serde_json appends " at line L column C"; the field path says more.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(at) => message[..at].to_string(),
        None => message.to_string(),
    }
}

/// The path of the field an error is about. serde reports unknown and missing fields
/// at their parent, with the name in the message: join them.
fn field_path(parent: &str, message: &str) -> String {
    let parent = if parent == "." { "" } else { parent };
    let named = ["unknown field `", "missing field `"]
        .iter()
        .find_map(|marker| message.split_once(marker))
        .and_then(|(_, rest)| rest.split('`').next());
    match (parent, named) {
        ("", Some(name)) => name.to_string(),
        // An unknown field's path already ends with it; a missing one's does not.
        (parent, Some(name)) if parent == name || parent.ends_with(&format!(".{name}")) => {
            parent.to_string()
        }
        (parent, Some(name)) => format!("{parent}.{name}"),
        ("", None) => "body".to_string(),
        (parent, None) => parent.to_string(),
    }
}

/// A query string parsed into `T` (whose fields are all optional strings, parsed
/// further by the handler): unknown parameters are refused, so a typo is not silently
/// ignored.
#[derive(Debug)]
pub struct QueryParams<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for QueryParams<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|q| QueryParams(q.0))
            .map_err(query_rejection)
    }
}

fn query_rejection(rejection: QueryRejection) -> ApiError {
    let message = rejection.body_text();
    let message = message
        .strip_prefix("Failed to deserialize query string: ")
        .unwrap_or(&message)
        .to_string();
    // serde_path_to_error puts the parameter's name first: "limit: invalid digit".
    let named = message
        .split_once(": ")
        .map(|(name, _)| name)
        .filter(|name| {
            !name.is_empty() && name.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
        });
    let field = match (field_path("", &message), named) {
        (field, _) if field != "body" => field,
        (_, Some(name)) => name.to_string(),
        _ => "query".into(),
    };
    ApiError::bad_query(field, format!("query string: {message}"))
}

/// Parses one query parameter, naming it on failure.
/// A page's `limit`: `default` when absent, else 1 to `max` (400 naming `limit`).
pub fn page_limit(limit: Option<usize>, default: usize, max: usize) -> Result<usize, ApiError> {
    let limit = limit.unwrap_or(default);
    if (1..=max).contains(&limit) {
        Ok(limit)
    } else {
        Err(ApiError::bad_query(
            "limit",
            format!("limit must be 1 to {max}"),
        ))
    }
}

pub fn query_value<T>(
    name: &str,
    value: Option<&str>,
    parse: impl FnOnce(&str) -> Result<T, String>,
) -> Result<Option<T>, ApiError> {
    value
        .map(|text| parse(text).map_err(|m| ApiError::bad_query(name, format!("{name}: {m}"))))
        .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;
    use customs_protocol::RiskAlert;

    #[test]
    fn errors_name_the_field() {
        let sample = serde_json::to_value(customs_protocol::samples::risk_alert()).unwrap();

        let mut wrong_type = sample.clone();
        wrong_type["conveyance"]["containers"][0] = serde_json::json!(17);
        let e = parse_json::<RiskAlert>(wrong_type.to_string().as_bytes()).unwrap_err();
        assert_eq!(e.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(e.body.field.as_deref(), Some("conveyance.containers[0]"));

        let mut unknown = sample.clone();
        unknown["route"]["via"] = serde_json::json!("PA");
        let e = parse_json::<RiskAlert>(unknown.to_string().as_bytes()).unwrap_err();
        assert_eq!(e.body.field.as_deref(), Some("route.via"));

        let mut missing = sample.clone();
        missing.as_object_mut().unwrap().remove("hs_code");
        let e = parse_json::<RiskAlert>(missing.to_string().as_bytes()).unwrap_err();
        assert_eq!(e.body.field.as_deref(), Some("hs_code"));

        let mut bad_enum = sample.clone();
        bad_enum["category"] = serde_json::json!("diamonds");
        let e = parse_json::<RiskAlert>(bad_enum.to_string().as_bytes()).unwrap_err();
        assert_eq!(e.body.field.as_deref(), Some("category"));
        assert!(e.body.message.contains("diamonds"), "{}", e.body.message);

        let e = parse_json::<RiskAlert>(b"{\"reference\": ").unwrap_err();
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
        let e = parse_json::<RiskAlert>(b"{\"x\": 1").unwrap_err();
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
        assert_eq!(e.body.error, "malformed_json");

        let trailing = format!("{sample} []");
        let e = parse_json::<RiskAlert>(trailing.as_bytes()).unwrap_err();
        assert_eq!(e.body.error, "malformed_json");

        assert!(parse_json::<RiskAlert>(sample.to_string().as_bytes()).is_ok());
    }
}
