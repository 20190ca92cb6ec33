//! Watch lists and webhooks: what this node watches for, and where it pushes what it
//! finds. Node-local: nothing here is signed or replicated.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;

use super::blocking;
use crate::api::error::{ApiError, ErrorBody};
use crate::api::extract::{JsonBody, QueryParams};
use crate::api::views::{Deliveries, Matches, WatchListSaved, WatchLists, Webhooks};
use crate::api::ApiState;
use crate::notify::{NotifyError, WatchListDraft, Webhook, WebhookDraft};

/// Matches or deliveries listed at most at once.
pub const MAX_NOTIFY_PAGE: usize = 1000;

impl From<NotifyError> for ApiError {
    fn from(error: NotifyError) -> ApiError {
        match error {
            NotifyError::Invalid(message) => {
                let field = message.split(':').next().unwrap_or_default().to_string();
                ApiError::invalid_field(field, message)
            }
            NotifyError::Full(message) => {
                ApiError::new(StatusCode::CONFLICT, "limit_reached", message)
            }
            NotifyError::NotFound { .. } => ApiError::not_found(error.to_string()),
            NotifyError::Store(e) => e.into(),
        }
    }
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// At most this many, 1 to 1000 (default 100).
    limit: Option<usize>,
}

impl PageQuery {
    fn limit(&self) -> Result<usize, ApiError> {
        crate::api::extract::page_limit(self.limit, 100, MAX_NOTIFY_PAGE)
    }
}

/// The watch lists of this node.
#[utoipa::path(
    get,
    path = "/api/v1/watchlists",
    tag = "notifications",
    responses((status = 200, body = WatchLists), (status = 401, body = ErrorBody))
)]
pub async fn list_watchlists(State(state): State<ApiState>) -> Result<Json<WatchLists>, ApiError> {
    let items = blocking(move || Ok(state.node.notifier.watchlists()?)).await?;
    Ok(Json(WatchLists { items }))
}

/// Create a watch list (or replace one, with `id`).
///
/// Rules (`field` one of container, vessel_imo, vehicle, operator_id, hs_prefix,
/// unlocode, country, category) are matched against every record this node stores
/// or opens from now on, and once against everything already stored (the
/// retro-hunt, whose new matches the answer counts). Matches are stored, and pushed
/// on the live feed (`match`) and to webhooks.
#[utoipa::path(
    post,
    path = "/api/v1/watchlists",
    tag = "notifications",
    request_body = WatchListDraft,
    responses(
        (status = 201, body = WatchListSaved),
        (status = 401, body = ErrorBody),
        (status = 404, description = "`id` names no list", body = ErrorBody),
        (status = 409, description = "At `notify.max_watchlists`", body = ErrorBody),
        (status = 422, description = "A rule can never match (`field` names it)", body = ErrorBody),
    )
)]
pub async fn save_watchlist(
    State(state): State<ApiState>,
    JsonBody(draft): JsonBody<WatchListDraft>,
) -> Result<Response, ApiError> {
    let (watchlist, retro_matches) =
        blocking(move || Ok(state.node.notifier.save_watchlist(draft)?)).await?;
    Ok((
        StatusCode::CREATED,
        Json(WatchListSaved {
            watchlist,
            retro_matches,
        }),
    )
        .into_response())
}

/// The records that matched a watch list, in the order they were found.
#[utoipa::path(
    get,
    path = "/api/v1/watchlists/{id}/matches",
    tag = "notifications",
    params(("id" = String, Path), PageQuery),
    responses(
        (status = 200, body = Matches),
        (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody),
    )
)]
pub async fn watchlist_matches(
    State(state): State<ApiState>,
    Path(id): Path<String>,
    QueryParams(query): QueryParams<PageQuery>,
) -> Result<Json<Matches>, ApiError> {
    let limit = query.limit()?;
    let items = blocking(move || Ok(state.node.notifier.matches(&id, limit)?)).await?;
    Ok(Json(Matches { items }))
}

/// The webhooks of this node (admin; secrets are never shown).
#[utoipa::path(
    get,
    path = "/api/v1/webhooks",
    tag = "notifications",
    responses((status = 200, body = Webhooks), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody))
)]
pub async fn list_webhooks(State(state): State<ApiState>) -> Result<Json<Webhooks>, ApiError> {
    let items = blocking(move || Ok(state.node.notifier.webhooks()?)).await?;
    Ok(Json(Webhooks { items }))
}

/// Register a webhook (admin).
///
/// Each notification of the named events is POSTed to `url` as JSON, with
/// `X-Customs-Timestamp` (Unix seconds of the attempt), `X-Customs-Signature:
/// sha256=<hex HMAC-SHA256 of "TIMESTAMP.BODY" with the secret>` (refuse a timestamp
/// more than 5 minutes from your clock: a captured delivery cannot be replayed),
/// `X-Customs-Event` and `X-Customs-Delivery` (the same on every retry of one
/// delivery, so a receiver can drop duplicates). A delivery that fails is retried
/// with doubling delays from a bounded queue that survives a restart. The target is
/// outside the network: with `markings: "withhold"` (the default), a restricted,
/// TLP:RED or `no_onward_sharing` record is withheld (the delivery names the entry
/// and says why, without its content). Loopback, private and link-local targets are
/// refused unless `notify.webhook_allow_private_targets` is set.
#[utoipa::path(
    post,
    path = "/api/v1/webhooks",
    tag = "notifications",
    request_body = WebhookDraft,
    responses(
        (status = 201, body = Webhook),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 409, description = "At `notify.max_webhooks`", body = ErrorBody),
        (status = 422, body = ErrorBody),
    )
)]
pub async fn add_webhook(
    State(state): State<ApiState>,
    JsonBody(draft): JsonBody<WebhookDraft>,
) -> Result<Response, ApiError> {
    let webhook = blocking(move || Ok(state.node.notifier.add_webhook(draft)?)).await?;
    Ok((StatusCode::CREATED, Json(webhook)).into_response())
}

/// Remove a webhook, its queued deliveries and its log (admin).
#[utoipa::path(
    delete,
    path = "/api/v1/webhooks/{id}",
    tag = "notifications",
    params(("id" = String, Path)),
    responses(
        (status = 204, description = "Removed"),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
    )
)]
pub async fn delete_webhook(
    State(state): State<ApiState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    blocking(move || Ok(state.node.notifier.delete_webhook(&id)?)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Remove a watch list and its matches.
#[utoipa::path(
    delete,
    path = "/api/v1/watchlists/{id}",
    tag = "notifications",
    params(("id" = String, Path)),
    responses(
        (status = 204, description = "Removed"),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
    )
)]
pub async fn delete_watchlist(
    State(state): State<ApiState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    blocking(move || Ok(state.node.notifier.delete_watchlist(&id)?)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A webhook's delivery log, newest first: status, attempts, last error.
#[utoipa::path(
    get,
    path = "/api/v1/webhooks/{id}/deliveries",
    tag = "notifications",
    params(("id" = String, Path), PageQuery),
    responses(
        (status = 200, body = Deliveries),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
    )
)]
pub async fn webhook_deliveries(
    State(state): State<ApiState>,
    Path(id): Path<String>,
    QueryParams(query): QueryParams<PageQuery>,
) -> Result<Json<Deliveries>, ApiError> {
    let limit = query.limit()?;
    let items = blocking(move || Ok(state.node.notifier.deliveries(&id, limit)?)).await?;
    Ok(Json(Deliveries { items }))
}
