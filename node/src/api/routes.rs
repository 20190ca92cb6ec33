//! The handlers. Each turns a request into a store query or a publish and a view; the
//! `#[utoipa::path]` on each is its entry in the OpenAPI document.

use axum::extract::{Path, State};
use axum::http::{header, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use customs_protocol::body::{Category, Retraction};
use customs_protocol::codes::Country;
use customs_protocol::{AeoRecord, Body, Date, EntryId, PublicKey, RiskAlert, VerifiedEntry};
use serde::Deserialize;

use super::error::{ApiError, ErrorBody};
use super::extract::{query_value, JsonBody, QueryParams};
use super::views::*;
use super::{ApiState, DEFAULT_PAGE_LIMIT};
use crate::clock::rfc3339;
use crate::store::{AlertCursor, AlertFilter, MAX_ALERT_PAGE};
use crate::tokens::Caller;

/// Runs blocking store work off the async threads.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| ApiError::internal(format!("a worker task failed: {e}")))?
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

/// Validates, signs, stores (durably) and gossips a body; 201 with where it went.
async fn publish(state: ApiState, body: Body) -> Result<Response, ApiError> {
    body.validate()?;
    let entry = state.node.publisher.publish(body).await?;
    Ok(created(&state, &entry))
}

/// Publish a risk alert.
///
/// The node validates every field, signs the alert as the next entry of its own log,
/// stores it durably and gossips it to the members. 201 means it is on disk.
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
    #[response(status = 422, description = "A field breaks a rule; `field` names it")]
    Invalid(ErrorBody),
    #[response(status = 503, description = "`not_synced`: this node cannot sign yet")]
    NotSynced(ErrorBody),
}

#[utoipa::path(
    post,
    path = "/api/v1/alerts",
    tag = "alerts",
    request_body = RiskAlert,
    responses(PublishResponses)
)]
pub async fn publish_alert(
    State(state): State<ApiState>,
    JsonBody(alert): JsonBody<RiskAlert>,
) -> Result<Response, ApiError> {
    publish(state, Body::RiskAlert(alert)).await
}

/// Filters of the alert list; every one narrows it.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AlertQuery {
    /// A category (drugs, tobacco, ...).
    category: Option<String>,
    /// An HS code prefix: 2 to 10 digits.
    hs: Option<String>,
    /// A country (ISO 3166-1 alpha-2) anywhere on the route.
    country: Option<String>,
    /// Detected on or after this date (YYYY-MM-DD).
    from: Option<String>,
    /// Detected on or before this date (YYYY-MM-DD).
    to: Option<String>,
    /// The publishing member's code (or its public key in hex).
    author: Option<String>,
    /// Also list retracted alerts (marked with `retracted_by`).
    include_retracted: Option<bool>,
    /// Page size, 1 to 200 (default 50).
    limit: Option<usize>,
    /// The `next` of the previous page.
    cursor: Option<String>,
}

fn parse_enum<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, String> {
    serde_json::from_value(serde_json::Value::String(text.to_string())).map_err(|e| e.to_string())
}

impl AlertQuery {
    fn filter(&self, state: &ApiState) -> Result<AlertFilter, ApiError> {
        let hs_prefix = query_value("hs", self.hs.as_deref(), |t| {
            let ok = (2..=10).contains(&t.len()) && t.bytes().all(|b| b.is_ascii_digit());
            ok.then(|| t.to_string())
                .ok_or_else(|| format!("{t:?} is not an HS code prefix of 2 to 10 digits"))
        })?;
        let country = query_value("country", self.country.as_deref(), |t| {
            let country = Country::parse_shape(t)
                .ok_or_else(|| format!("{t:?} is not an ISO 3166-1 alpha-2 code"))?;
            country.check().map_err(|r| r.to_string())?;
            Ok(country)
        })?;
        let date = |name: &str, value: &Option<String>| {
            query_value(name, value.as_deref(), |t| {
                Date::parse_valid(t).map_err(|r| r.to_string())
            })
        };
        let author = query_value("author", self.author.as_deref(), |t| {
            state
                .codes
                .iter()
                .find(|(_, code)| code.as_str() == t)
                .map(|(key, _)| *key)
                .or_else(|| PublicKey::from_hex(t).ok())
                .ok_or_else(|| format!("{t:?} is neither a member code nor a public key"))
        })?;
        let filter = AlertFilter {
            category: query_value::<Category>("category", self.category.as_deref(), parse_enum)?,
            hs_prefix,
            country,
            from: date("from", &self.from)?,
            to: date("to", &self.to)?,
            author,
            include_retracted: self.include_retracted.unwrap_or(false),
        };
        if let (Some(from), Some(to)) = (filter.from, filter.to) {
            if from > to {
                return Err(ApiError::bad_query(
                    "to",
                    format!("to ({to}) is before from ({from})"),
                ));
            }
        }
        Ok(filter)
    }
}

/// List alerts, newest first.
///
/// Retracted alerts are hidden unless `include_retracted=true`. Pages end with a
/// `next` cursor; a page may hold fewer items than `limit` (even none) when a narrow
/// filter had to look at many alerts: follow `next` until it is null.
#[utoipa::path(
    get,
    path = "/api/v1/alerts",
    tag = "alerts",
    params(AlertQuery),
    responses(
        (status = 200, body = AlertList),
        (status = 400, description = "A query parameter is invalid; `field` names it", body = ErrorBody),
        (status = 401, body = ErrorBody),
    )
)]
pub async fn list_alerts(
    State(state): State<ApiState>,
    QueryParams(query): QueryParams<AlertQuery>,
) -> Result<Json<AlertList>, ApiError> {
    let filter = query.filter(&state)?;
    let limit = query.limit.unwrap_or(DEFAULT_PAGE_LIMIT);
    if !(1..=MAX_ALERT_PAGE).contains(&limit) {
        return Err(ApiError::bad_query(
            "limit",
            format!("limit must be 1 to {MAX_ALERT_PAGE}"),
        ));
    }
    let cursor = query_value("cursor", query.cursor.as_deref(), |t| {
        t.parse::<AlertCursor>().map_err(|e| e.to_string())
    })?;
    let list = blocking(move || {
        let page = state.node.store.alerts(&filter, cursor, limit)?;
        let items = page
            .items
            .into_iter()
            .filter_map(|item| {
                let Body::RiskAlert(alert) = &item.entry.entry().body else {
                    return None;
                };
                Some(AlertItem {
                    meta: EntryMeta::of(&item.entry, state.code_of(&item.entry.entry().author)),
                    retracted_by: item.retracted_by,
                    alert: alert.clone(),
                })
            })
            .collect();
        Ok(AlertList {
            items,
            next: page.next.map(|c| c.to_string()),
        })
    })
    .await?;
    Ok(Json(list))
}

fn parse_id(text: &str) -> Result<EntryId, ApiError> {
    EntryId::from_hex(text).ok_or_else(|| {
        ApiError::bad_query("id", format!("{text:?} is not an entry id (64 hex digits)"))
    })
}

/// One entry of any type.
///
/// With its verification status (checked again as it is served), whether it is
/// retracted, and the exact signed bytes (base64) for independent verification.
#[utoipa::path(
    get,
    path = "/api/v1/entries/{id}",
    tag = "entries",
    params(("id" = String, Path, description = "Entry id: 64 hex digits")),
    responses(
        (status = 200, body = EntryView),
        (status = 400, description = "Not an entry id", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody),
    )
)]
pub async fn get_entry(
    State(state): State<ApiState>,
    Path(id): Path<String>,
) -> Result<Json<EntryView>, ApiError> {
    let id = parse_id(&id)?;
    let view = blocking(move || {
        let store = &state.node.store;
        let entry = store
            .get(&id)?
            .ok_or_else(|| ApiError::not_found(format!("no entry {id} on this node")))?;
        let author = entry.entry().author;
        let forked = store.forked_at(&author, entry.entry().seq)?;
        Ok(EntryView::of(
            &entry,
            state.code_of(&author),
            state.codes.contains_key(&author),
            forked,
            store.retracted_by(&id)?,
        ))
    })
    .await?;
    Ok(Json(view))
}

/// Publish an AEO status record.
///
/// The operator's status at this administration becomes this record (the latest by
/// sequence number).
#[utoipa::path(
    post,
    path = "/api/v1/aeo",
    tag = "aeo",
    request_body = AeoRecord,
    responses(PublishResponses)
)]
pub async fn publish_aeo(
    State(state): State<ApiState>,
    JsonBody(record): JsonBody<AeoRecord>,
) -> Result<Response, ApiError> {
    publish(state, Body::AeoRecord(record)).await
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

/// Retract one of this node's own entries.
///
/// The retraction is a new signed entry; the target stays in the log (the chain must
/// verify) but lists hide it. Only the author may retract: another member's entry is
/// 403.
#[utoipa::path(
    post,
    path = "/api/v1/retractions",
    tag = "entries",
    request_body = RetractRequest,
    responses(
        PublishResponses,
        (status = 404, description = "No such entry", body = ErrorBody),
        (status = 409, description = "Already retracted, or itself a retraction", body = ErrorBody),
    )
)]
pub async fn retract(
    State(state): State<ApiState>,
    JsonBody(request): JsonBody<RetractRequest>,
) -> Result<Response, ApiError> {
    let body = Body::Retraction(Retraction {
        target: request.target,
        reason: request.reason,
        note: request.note,
    });
    publish(state, body).await
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
    let network = state
        .node
        .client
        .status()
        .await
        .map_err(|e| ApiError::unavailable(format!("the network task does not answer: {e}")))?;
    let node = state.node.clone();
    let (frontier, counts, can_publish) = blocking(move || {
        Ok((
            node.store.frontier()?,
            node.store.counts(),
            node.publisher.can_publish()?,
        ))
    })
    .await?;
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
            can_publish,
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

use crate::limits::MAX_FORKS_LISTED;

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
                let member = state.codes.contains_key(&proof.author);
                let view = |e| EntryView::of(e, code.clone(), member, true, None);
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

/// What one value to check is.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct CheckQuery {
    /// reference, hs_code, amount, date, unlocode, container, imo, flight, vehicle,
    /// country or operator_id.
    kind: String,
    /// The value, as a form field holds it.
    value: String,
}

use crate::limits::MAX_CHECK_VALUE_BYTES;

/// The answer of `check`.
#[derive(Debug, serde::Serialize, Deserialize, utoipa::ToSchema)]
pub struct CheckResult {
    pub valid: bool,
    /// Why not, when not.
    pub message: Option<String>,
}

/// Check one field value by the protocol's own rule (check digits, code lists, date
/// calendar), as forms do while an officer types. Cross-field rules are checked when
/// the record is published.
#[utoipa::path(
    get,
    path = "/api/v1/check",
    tag = "entries",
    params(CheckQuery),
    responses(
        (status = 200, body = CheckResult),
        (status = 400, description = "Unknown kind, or a value over 1024 bytes", body = ErrorBody),
        (status = 401, body = ErrorBody),
    )
)]
pub async fn check(
    QueryParams(query): QueryParams<CheckQuery>,
) -> Result<Json<CheckResult>, ApiError> {
    use customs_protocol::codes;
    if query.value.len() > MAX_CHECK_VALUE_BYTES {
        return Err(ApiError::bad_query(
            "value",
            format!("value is longer than {MAX_CHECK_VALUE_BYTES} bytes"),
        ));
    }
    let value = query.value.as_str();
    let rule = match query.kind.as_str() {
        "reference" => codes::check_reference(value),
        "hs_code" => codes::check_hs_code(value),
        "amount" => codes::check_amount(value),
        "date" => Date::parse_valid(value).map(|_| ()),
        "unlocode" => codes::check_unlocode(value),
        "container" => codes::check_container(value),
        "imo" => codes::check_imo(value),
        "flight" => codes::check_flight(value),
        "vehicle" => codes::check_vehicle(value),
        "operator_id" => codes::check_operator_id(value),
        "country" => match Country::parse_shape(value) {
            Some(country) => country.check(),
            None => Err(customs_protocol::Rule::UnknownCountry {
                value: value.to_string(),
            }),
        },
        other => {
            return Err(ApiError::bad_query(
                "kind",
                format!("kind {other:?} is not one of reference, hs_code, amount, date, unlocode, container, imo, flight, vehicle, country, operator_id"),
            ))
        }
    };
    Ok(Json(match rule {
        Ok(()) => CheckResult {
            valid: true,
            message: None,
        },
        Err(rule) => CheckResult {
            valid: false,
            message: Some(rule.to_string()),
        },
    }))
}

use crate::limits::EXPORT_CHANNEL_CHUNKS;
use crate::limits::EXPORT_CHUNK_BYTES;

/// Sends what it is given to the response body; fails once the client has gone.
struct BodyWriter(tokio::sync::mpsc::Sender<Result<axum::body::Bytes, std::io::Error>>);

impl std::io::Write for BodyWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .blocking_send(Ok(axum::body::Bytes::copy_from_slice(buf)))
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "client went away"))?;
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Every entry as a bundle (admin only): a backup of a running node, or entries to
/// carry to an isolated one (`customs-node import`).
///
/// The bundle holds the entries stored when the request arrived. It is streamed; if
/// the node fails part way the stream breaks off, and the bundle's count and checksum
/// make an import refuse what arrived.
#[utoipa::path(
    get,
    path = "/api/v1/export",
    tag = "operations",
    responses(
        (status = 200, description = "A bundle (layout in protocol/SPEC.md)", content_type = "application/octet-stream"),
        (status = 401, body = ErrorBody),
        (status = 403, description = "Only admin tokens may export", body = ErrorBody),
    )
)]
pub async fn export(State(state): State<ApiState>) -> Response {
    let (tx, mut rx) = tokio::sync::mpsc::channel(EXPORT_CHANNEL_CHUNKS);
    let store = state.node.store.clone();
    tokio::task::spawn_blocking(move || {
        let errors = tx.clone();
        let mut writer = std::io::BufWriter::with_capacity(EXPORT_CHUNK_BYTES, BodyWriter(tx));
        if let Err(error) = crate::bundle::write_bundle(&store, &mut writer) {
            tracing::warn!(%error, "export broke off");
            let _ = errors.blocking_send(Err(std::io::Error::other(error.to_string())));
        }
    });
    let stream = futures::stream::poll_fn(move |cx| rx.poll_recv(cx));
    let file_name = format!(
        "attachment; filename=\"{}-{}.bundle\"",
        state.identity.network, state.identity.code
    );
    (
        [
            (header::CONTENT_TYPE, "application/octet-stream".to_string()),
            (header::CONTENT_DISPOSITION, file_name),
        ],
        axum::body::Body::from_stream(stream),
    )
        .into_response()
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

/// Prometheus metrics (no token needed).
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "operations",
    security(()),
    responses((status = 200, description = "Prometheus text format 0.0.4", content_type = "text/plain"))
)]
pub async fn metrics(State(state): State<ApiState>) -> Result<Response, ApiError> {
    let network = state
        .node
        .client
        .status()
        .await
        .map_err(|e| ApiError::unavailable(format!("the network task does not answer: {e}")))?;
    let store = state.node.store.clone();
    let (frontier, counts, size) =
        blocking(move || Ok((store.frontier()?, store.counts(), store.size_on_disk()?))).await?;
    let authors = frontier
        .heads()
        .map(|h| {
            let code = state.code_of(&h.author).unwrap_or_else(|| "unknown".into());
            (code, h.author.to_hex(), h.seq)
        })
        .collect();
    let text = super::metrics::render(&super::metrics::Snapshot {
        counts,
        authors,
        network: &network,
        store_size_bytes: size,
        event_streams: state.open_event_streams(),
        http: &state.http,
    });
    Ok((
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
        .into_response())
}

/// Liveness: the process answers (no token needed).
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "operations",
    security(()),
    responses((status = 200, description = "ok", content_type = "text/plain"))
)]
pub async fn healthz() -> &'static str {
    "ok\n"
}

/// Readiness: the store answers and the network task runs (no token needed).
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "operations",
    security(()),
    responses(
        (status = 200, description = "ready", content_type = "text/plain"),
        (status = 503, body = ErrorBody),
    )
)]
pub async fn readyz(State(state): State<ApiState>) -> Result<&'static str, ApiError> {
    state
        .node
        .client
        .status()
        .await
        .map_err(|e| ApiError::unavailable(format!("the network is not running: {e}")))?;
    let store = state.node.store.clone();
    blocking(move || Ok(store.frontier()?)).await.map_err(|e| {
        ApiError::unavailable(format!("the store does not answer: {}", e.body.message))
    })?;
    Ok("ready\n")
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
