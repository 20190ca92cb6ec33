//! Attachments: upload a photo, X-ray image or PDF (its image metadata removed), and
//! read one by hash, fetched from members when this node does not hold it.

use axum::body::Body as HttpBody;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use customs_protocol::attachment::{validate_attachments, SealedBlob};
use customs_protocol::limits::MAX_ATTACHMENT_BYTES;
use customs_protocol::{Attachment, BlobHash, MediaType};
use serde::Deserialize;
use utoipa::ToSchema;

use super::blocking;
use crate::api::error::{ApiError, ErrorBody};
use crate::api::views::UploadedAttachment;
use crate::api::ApiState;
use crate::blobs::fetch::FetchError;
use crate::blobs::BlobStoreError;

/// An attachment as a publish names it: an uploaded blob by hash, with a caption.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AttachmentRequest {
    /// The hash `POST /api/v1/attachments` answered.
    #[schema(value_type = String, pattern = "^[0-9a-f]{64}$")]
    pub hash: BlobHash,
    /// Optional: checked against the stored blob when given.
    #[serde(default)]
    #[schema(value_type = Option<String>, example = "image/jpeg")]
    pub media_type: Option<MediaType>,
    /// What the attachment shows (up to 200 bytes, one line).
    #[serde(default)]
    pub caption: String,
}

impl From<BlobStoreError> for ApiError {
    fn from(error: BlobStoreError) -> Self {
        match &error {
            BlobStoreError::Invalid(invalid) => {
                let status = match invalid {
                    customs_protocol::attachment::BlobError::TooLarge { .. } => {
                        StatusCode::PAYLOAD_TOO_LARGE
                    }
                    customs_protocol::attachment::BlobError::WrongType { .. } => {
                        StatusCode::UNSUPPORTED_MEDIA_TYPE
                    }
                    _ => StatusCode::UNPROCESSABLE_ENTITY,
                };
                ApiError::new(status, "invalid_attachment", error.to_string())
            }
            BlobStoreError::UploadsFull { .. } => ApiError::new(
                StatusCode::INSUFFICIENT_STORAGE,
                "uploads_full",
                error.to_string(),
            ),
            BlobStoreError::Missing(_) => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "unknown_attachment",
                error.to_string(),
            ),
            BlobStoreError::Io { .. } => {
                tracing::error!(%error, "blob store failure while serving the API");
                ApiError::internal(error.to_string())
            }
        }
    }
}

/// Upload an attachment.
///
/// The body is the file's raw bytes, with its `Content-Type` (`image/jpeg`,
/// `image/png` or `application/pdf`, which its first bytes must match). The node
/// removes image metadata (EXIF with GPS positions and device serials, XMP, IPTC,
/// comments) without touching the pixels, and stores what is left under its SHA-256:
/// the hash a publish then names in `attachments`. A PDF is stored as sent. An upload
/// no record lists is removed after `store.blob_upload_ttl_ms` (24 h by default).
#[utoipa::path(
    post,
    path = "/api/v1/attachments",
    tag = "attachments",
    request_body(content = Vec<u8>, description = "The file's bytes", content_type = "image/jpeg"),
    responses(
        (status = 201, description = "Stored (or already held): its hash", body = UploadedAttachment),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 413, description = "Over 10 MiB (`payload_too_large`): nothing is stored", body = ErrorBody),
        (status = 415, description = "Not a JPEG, PNG or PDF, or not what Content-Type says", body = ErrorBody),
        (status = 422, description = "A malformed image", body = ErrorBody),
        (status = 507, description = "The uploads waiting to be published fill their budget", body = ErrorBody),
    )
)]
pub async fn upload_attachment(
    State(state): State<ApiState>,
    headers: HeaderMap,
    body: HttpBody,
) -> Result<Response, ApiError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let media_type = MediaType::parse(content_type).ok_or_else(|| {
        ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            format!("Content-Type {content_type:?} is not accepted for an attachment: send image/jpeg, image/png or application/pdf"),
        )
    })?;
    let limit = MAX_ATTACHMENT_BYTES as usize;
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    let too_large = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("an attachment may be at most {limit} bytes; nothing was stored"),
        )
    };
    if declared.is_some_and(|length| length > MAX_ATTACHMENT_BYTES) {
        return Err(too_large());
    }
    let raw = axum::body::to_bytes(body, limit)
        .await
        .map_err(|_| too_large())?;
    let blobs = state.node.attachments.blobs().clone();
    let raw_len = raw.len() as u64;
    let stored = blocking(move || Ok(blobs.upload(media_type, &raw)?)).await?;
    let answer = UploadedAttachment {
        hash: stored.hash,
        size: stored.size,
        media_type,
        metadata_removed_bytes: raw_len - stored.size,
    };
    Ok((StatusCode::CREATED, Json(answer)).into_response())
}

/// Read an attachment.
///
/// The bytes of an attachment a record this node can read lists (or of an upload
/// of its own). When this node does not hold them it fetches them from the member
/// nodes that do, checking the hash, within `store.blob_fetch_timeout_ms`; a sealed
/// record's attachment travels encrypted and is decrypted here.
#[utoipa::path(
    get,
    path = "/api/v1/attachments/{hash}",
    tag = "attachments",
    params(("hash" = String, Path, description = "SHA-256 of the attachment, 64 hex digits")),
    responses(
        (status = 200, description = "The bytes, with their Content-Type", content_type = "application/octet-stream"),
        (status = 400, description = "Not a hash", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 404, description = "No record this node can read lists it", body = ErrorBody),
        (status = 422, description = "An image this node will not show (`image_refused`: malformed, or over 100 megapixels)", body = ErrorBody),
        (status = 503, description = "Too many fetches at once (`busy`)", body = ErrorBody),
        (status = 504, description = "Not fetched from members in time, or what they served did not match: `error` and `message` name why", body = ErrorBody),
    )
)]
pub async fn get_attachment(
    State(state): State<ApiState>,
    Path(hash): Path<String>,
) -> Result<Response, ApiError> {
    let hash = BlobHash::from_hex(&hash).ok_or_else(|| {
        ApiError::bad_query(
            "hash",
            format!("{hash:?} is not an attachment hash (64 lowercase hex digits)"),
        )
    })?;
    // Bounds the memory of attachments being answered.
    let _turn = state.node.attachments.read_turn().await;
    let lookup = state.clone();
    let (local, listed) = blocking(move || {
        let listed = lookup.node.store.attachment(&hash)?;
        let blobs = lookup.node.attachments.blobs();
        // A sealed record's blob is held as its ciphertext only.
        let wanted = listed.as_ref().map_or(hash, |(_, a)| a.stored_as().0);
        Ok((blobs.read(&wanted)?, listed))
    })
    .await?;
    let (bytes, attachment) = match (local, listed) {
        (Some(bytes), listed) => (bytes, listed.map(|(_, a)| a)),
        (None, None) => {
            return Err(ApiError::not_found(format!(
                "no record this node can read lists attachment {hash}"
            )))
        }
        (None, Some((record, attachment))) => {
            let (wanted, size) = attachment.stored_as();
            // A restricted record's blob is asked of its author and recipients only.
            let lookup = state.clone();
            let holders = blocking(move || {
                let membership = lookup.node.membership.get();
                match lookup.node.store.get(&record)? {
                    Some(entry) => Ok(lookup.node.store.blob_holders(&entry, &membership)?),
                    None => Ok(None),
                }
            })
            .await?;
            state
                .node
                .attachments
                .fetch(
                    wanted,
                    size,
                    state.node.blob_fetch_timeout,
                    holders.as_ref(),
                )
                .await
                .map_err(fetch_error)?;
            let blobs = state.node.attachments.blobs().clone();
            let bytes = blocking(move || Ok(blobs.read(&wanted)?))
                .await?
                .ok_or_else(|| {
                    ApiError::internal(format!("blob {wanted} was fetched but is gone: the cache is too small (store.blob_cache_bytes)"))
                })?;
            (bytes, Some(attachment))
        }
    };
    let (bytes, media_type) = match attachment {
        Some(attachment) => {
            let bytes = match &attachment.sealed {
                Some(sealed) => sealed.decrypt(&bytes).ok_or_else(|| {
                    ApiError::internal(format!(
                        "the ciphertext of attachment {hash} does not open with its record's key"
                    ))
                })?,
                None => bytes,
            };
            (bytes, Some(attachment.media_type))
        }
        None => {
            let media_type = customs_protocol::attachment::sniff(&bytes);
            (bytes, media_type)
        }
    };
    // Checked after reading, as it was before writing.
    if BlobHash::of(&bytes) != hash {
        return Err(ApiError::internal(format!(
            "the bytes this node holds for attachment {hash} do not match it"
        )));
    }
    // A blob fetched from a member, or uploaded before today's rules, is shown to a
    // browser only if an upload would pass now (no decompression bomb).
    if let Some(media_type) = media_type {
        customs_protocol::attachment::check_image(media_type, &bytes).map_err(|refused| {
            ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "image_refused",
                format!("attachment {hash} is not shown: {refused}"),
            )
        })?;
    }
    let content_type = media_type.map_or("application/octet-stream", |t| t.as_str());
    Ok((
        [
            (header::CONTENT_TYPE, content_type.to_string()),
            (
                header::CACHE_CONTROL,
                "private, max-age=31536000, immutable".into(),
            ),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff".into()),
            (
                header::CONTENT_DISPOSITION,
                format!("inline; filename=\"{}\"", file_name(&hash, media_type)),
            ),
        ],
        bytes,
    )
        .into_response())
}

fn file_name(hash: &BlobHash, media_type: Option<MediaType>) -> String {
    let extension = match media_type {
        Some(MediaType::Jpeg) => "jpg",
        Some(MediaType::Png) => "png",
        Some(MediaType::Pdf) => "pdf",
        None => "bin",
    };
    format!("{}.{extension}", &hash.to_hex()[..16])
}

fn fetch_error(error: FetchError) -> ApiError {
    let code = match &error {
        FetchError::Busy => {
            return ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "busy", error.to_string())
        }
        FetchError::Store(_) => return ApiError::internal(error.to_string()),
        FetchError::NoPeers { .. } => "no_peers",
        FetchError::NotFound { .. } => "not_on_peers",
        FetchError::Mismatch { .. } => "blob_mismatch",
        FetchError::Unreachable { .. } => "peers_unreachable",
        FetchError::Timeout { .. } => "fetch_timeout",
        FetchError::Network(_) => "network_stopped",
    };
    ApiError::new(StatusCode::GATEWAY_TIMEOUT, code, error.to_string())
}

/// The attachments a publish names, as the record will list them: each uploaded
/// blob becomes the node's own (never evicted); for a `sealed` record each is
/// encrypted under its own key and only the ciphertext is kept to be served.
pub(super) async fn resolve(
    state: &ApiState,
    requests: Vec<AttachmentRequest>,
    sealed: bool,
) -> Result<Vec<Attachment>, ApiError> {
    if requests.is_empty() {
        return Ok(Vec::new());
    }
    let state = state.clone();
    blocking(move || {
        let blobs = state.node.attachments.blobs();
        let mut list = Vec::with_capacity(requests.len());
        // Bounded before any file is touched.
        let max = customs_protocol::limits::MAX_ATTACHMENTS;
        if requests.len() > max {
            let rule = customs_protocol::Rule::TooMany {
                count: requests.len(),
                max,
            };
            return Err(customs_protocol::ValidationError::new("attachments", rule).into());
        }
        for (i, request) in requests.into_iter().enumerate() {
            let field = format!("attachments[{i}]");
            let (size, media_type, sealed_blob) = if sealed {
                let plaintext = blobs
                    .read(&request.hash)?
                    .ok_or(BlobStoreError::Missing(request.hash))
                    .map_err(|e| ApiError::from(e).with_field(format!("{field}.hash")))?;
                let media_type = customs_protocol::attachment::sniff(&plaintext);
                let key = state.node.publisher.blob_key(&request.hash);
                let (sealed_blob, ciphertext) =
                    SealedBlob::encrypt(key, &plaintext).map_err(BlobStoreError::from)?;
                blobs.put_own(&ciphertext)?;
                (plaintext.len() as u64, media_type, Some(sealed_blob))
            } else {
                let stored = blobs
                    .adopt(&request.hash)
                    .map_err(|e| ApiError::from(e).with_field(format!("{field}.hash")))?;
                (stored.size, stored.media_type, None)
            };
            let media_type = media_type.ok_or_else(|| {
                ApiError::invalid_field(
                    format!("{field}.hash"),
                    format!(
                        "{field}.hash: blob {} is not a JPEG, PNG or PDF",
                        request.hash
                    ),
                )
            })?;
            if request.media_type.is_some_and(|t| t != media_type) {
                return Err(ApiError::invalid_field(
                    format!("{field}.media_type"),
                    format!("{field}.media_type: blob {} is {media_type}", request.hash),
                ));
            }
            list.push(Attachment {
                hash: request.hash,
                size,
                media_type,
                caption: request.caption,
                sealed: sealed_blob,
            });
        }
        validate_attachments(&list, sealed)?;
        Ok(list)
    })
    .await
}
