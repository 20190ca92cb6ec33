//! The operational loop: send a request for control, list requests by direction and
//! state, acknowledge one, report the result of a control, and the loop's figures.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Json;
use customs_protocol::control::{
    effectiveness, request_state, Acknowledgement, ControlRequest, ControlResult, RequestState,
};
use customs_protocol::{Body, Distribution, EntryId};
use serde::Deserialize;

use super::{blocking, publish, IdempotencyHeader, PublishResponses};
use crate::api::error::{ApiError, ErrorBody};
use crate::api::extract::{
    page_limit, query_value, Idempotency, JsonBody, Publishable, QueryParams,
};
use crate::api::views::*;
use crate::api::ApiState;
use crate::store::{AnswerItem, RequestItem};

/// Requests listed at most per page.
pub const MAX_REQUEST_PAGE: usize = 200;

/// This node's member code, or 503 while it is not a member.
pub fn own_code(state: &ApiState) -> Result<String, ApiError> {
    state.code_of(&state.node.public_key()).ok_or_else(|| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "not_admitted",
            "this node's administration is not a member yet",
        )
    })
}

/// Send a request for control.
///
/// Asks the addressed members to check a consignment. By default it is sealed to
/// its addressees (and the sender's own nodes): nobody else can read it.
#[utoipa::path(
    post,
    path = "/api/v1/requests",
    tag = "requests",
    params(IdempotencyHeader),
    request_body(
        content = ControlRequest,
        description = "The request, and optionally `markings` and `distribution` (default `{\"to\": addressed_to}`)"
    ),
    responses(PublishResponses)
)]
pub async fn send_request(
    State(state): State<ApiState>,
    idempotency: Idempotency,
    request: Publishable<ControlRequest>,
) -> Result<Response, ApiError> {
    let own = own_code(&state)?;
    let Publishable {
        record,
        markings,
        distribution,
        attachments,
    } = request;
    if record.addressed_to.contains(&own) {
        return Err(ApiError::invalid_field(
            "addressed_to",
            format!("addressed_to: a request goes to other members, not to {own} itself"),
        ));
    }
    for (i, code) in record.addressed_to.iter().enumerate() {
        if !state.node.membership.get().is_member(code) {
            return Err(ApiError::invalid_field(
                format!("addressed_to[{i}]"),
                format!("addressed_to[{i}]: {code} is not a member of this network"),
            ));
        }
    }
    // Related alerts must be alerts this node reads: a request never points at
    // nothing, nor at something its author cannot see.
    let lookup = state.clone();
    let related = record.related.clone();
    blocking(move || {
        for (i, id) in related.iter().enumerate() {
            let entry = lookup.node.store.get(id)?;
            let readable = match &entry {
                Some(entry) => lookup.node.store.readable(entry)?,
                None => None,
            };
            if !matches!(readable.map(|r| r.body), Some(Body::RiskAlert(_))) {
                return Err(ApiError::invalid_field(
                    format!("related[{i}]"),
                    format!("related[{i}]: {id} is not an alert this node holds"),
                ));
            }
        }
        Ok(())
    })
    .await?;
    let distribution =
        distribution.unwrap_or_else(|| Distribution::To(record.addressed_to.clone()));
    publish(
        state,
        Body::ControlRequest(record),
        markings.unwrap_or_default(),
        distribution,
        attachments,
        idempotency,
    )
    .await
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct RequestQuery {
    /// `inbound` (addressed to this administration) or `outbound` (sent by it).
    direction: Option<String>,
    /// `open`, `acknowledged`, `answered` or `overdue`.
    state: Option<String>,
    /// At most this many, 1 to 200 (default 50).
    limit: Option<usize>,
}

/// List requests for control, newest first.
///
/// Each with its state (derived from the log: `answered` once an addressee reported
/// a result, `overdue` past its arrival without one, `acknowledged`, else `open`)
/// and its acknowledgements and results. `counts` gives the number in each state.
#[utoipa::path(
    get,
    path = "/api/v1/requests",
    tag = "requests",
    params(RequestQuery),
    responses(
        (status = 200, body = RequestList),
        (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody),
    )
)]
pub async fn list_requests(
    State(state): State<ApiState>,
    QueryParams(query): QueryParams<RequestQuery>,
) -> Result<Json<RequestList>, ApiError> {
    let direction = query_value("direction", query.direction.as_deref(), |t| match t {
        "inbound" | "outbound" => Ok(t.to_string()),
        _ => Err(format!("{t:?} is neither inbound nor outbound")),
    })?;
    let wanted = query_value("state", query.state.as_deref(), |t| {
        RequestState::parse(t)
            .ok_or_else(|| format!("{t:?} is not open, acknowledged, answered or overdue"))
    })?;
    let limit = page_limit(
        query.limit,
        crate::api::DEFAULT_PAGE_LIMIT,
        MAX_REQUEST_PAGE,
    )?;
    let list = blocking(move || {
        let own = state.code_of(&state.node.public_key()).unwrap_or_default();
        let now_ms = crate::clock::now_ms() as i64;
        let mut counts = std::collections::BTreeMap::new();
        let mut items = Vec::new();
        state.node.store.requests(usize::MAX, |item| {
            let view = request_view(&state, item, &own, now_ms)?;
            if direction.as_ref().is_some_and(|d| *d != view.direction) {
                return Ok(false);
            }
            *counts.entry(view.state.as_str().to_string()).or_insert(0) += 1;
            if wanted.is_some_and(|s| s != view.state) || items.len() >= limit {
                return Ok(false);
            }
            items.push(view);
            Ok(false)
        })?;
        Ok(RequestList { items, counts })
    })
    .await?;
    Ok(Json(list))
}

/// A request for control with its state and answers.
#[utoipa::path(
    get,
    path = "/api/v1/requests/{id}",
    tag = "requests",
    params(("id" = String, Path, description = "The request's entry id")),
    responses(
        (status = 200, body = RequestView),
        (status = 401, body = ErrorBody),
        (status = 404, description = "No request this node can read", body = ErrorBody),
    )
)]
pub async fn get_request(
    State(state): State<ApiState>,
    Path(id): Path<String>,
) -> Result<Json<RequestView>, ApiError> {
    let id = parse_entry_id("id", &id)?;
    let view = blocking(move || {
        let item = find_request(&state, &id)?;
        let own = state.code_of(&state.node.public_key()).unwrap_or_default();
        Ok(request_view(
            &state,
            &item,
            &own,
            crate::clock::now_ms() as i64,
        )?)
    })
    .await?;
    Ok(Json(view))
}

/// `POST /api/v1/requests/{id}/acknowledgement`: `{}` or `{"note": ...}`.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AcknowledgementBody {
    #[serde(default)]
    note: Option<String>,
}

/// Acknowledge a request addressed to this administration.
///
/// Sealed to the requester, with the request's markings.
#[utoipa::path(
    post,
    path = "/api/v1/requests/{id}/acknowledgement",
    tag = "requests",
    params(("id" = String, Path, description = "The request's entry id"), IdempotencyHeader),
    request_body(content = AcknowledgementBody, description = "`{}` or `{\"note\": \"...\"}`"),
    responses(
        PublishResponses,
        (status = 404, description = "No request this node can read", body = ErrorBody),
        (status = 409, description = "Already acknowledged by this administration", body = ErrorBody),
    )
)]
pub async fn acknowledge(
    State(state): State<ApiState>,
    Path(id): Path<String>,
    idempotency: Idempotency,
    JsonBody(body): JsonBody<AcknowledgementBody>,
) -> Result<Response, ApiError> {
    let id = parse_entry_id("id", &id)?;
    let own = own_code(&state)?;
    let lookup = state.clone();
    let own_for_lookup = own.clone();
    let (requester, markings) = blocking(move || {
        let item = find_request(&lookup, &id)?;
        addressee_only(&item, &own_for_lookup)?;
        let already = lookup.node.store.answers(&id)?.iter().any(|a| {
            matches!(a.record.body, Body::Acknowledgement(_))
                && lookup.code_of(&a.entry.entry().author).as_deref() == Some(&own_for_lookup)
        });
        if already {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "already_acknowledged",
                format!("{own_for_lookup} has already acknowledged request {id}"),
            ));
        }
        Ok((requester_of(&lookup, &item)?, item.record.markings))
    })
    .await?;
    let ack = Acknowledgement {
        request: id,
        note: body.note,
    };
    publish(
        state,
        Body::Acknowledgement(ack),
        markings,
        Distribution::To(vec![requester]),
        Vec::new(),
        idempotency,
    )
    .await
}

/// Report the result of a control.
///
/// Answers a request addressed to this administration (sealed to the requester by
/// default) or any alert this node can read (to the alert's readers by default: its
/// distribution). `seizure_alert` must be one of this administration's alerts.
#[utoipa::path(
    post,
    path = "/api/v1/results",
    tag = "requests",
    params(IdempotencyHeader),
    request_body(
        content = ControlResult,
        description = "The result, and optionally `markings` (default: the subject's) and `distribution`"
    ),
    responses(
        PublishResponses,
        (status = 404, description = "The subject is not a request or alert this node can read", body = ErrorBody),
    )
)]
pub async fn report_result(
    State(state): State<ApiState>,
    idempotency: Idempotency,
    request: Publishable<ControlResult>,
) -> Result<Response, ApiError> {
    let own = own_code(&state)?;
    let Publishable {
        record,
        markings,
        distribution,
        attachments,
    } = request;
    record.validate()?;
    let lookup = state.clone();
    let (subject, seizure_alert) = (record.subject, record.seizure_alert);
    let (default_markings, default_distribution) = blocking(move || {
        let store = &lookup.node.store;
        let entry = store.get(&subject)?.ok_or_else(|| {
            ApiError::not_found(format!("subject: no entry {subject} on this node"))
        })?;
        let readable = store.readable(&entry)?.ok_or_else(|| {
            ApiError::not_found(format!(
                "subject: entry {subject} is not readable on this node"
            ))
        })?;
        if let Some(alert) = seizure_alert {
            let ours = store.get(&alert)?.is_some_and(|e| {
                matches!(e.entry().body, Body::RiskAlert(_) | Body::Sealed(_))
                    && lookup.code_of(&e.entry().author).as_deref() == Some(&own)
            });
            if !ours {
                return Err(ApiError::invalid_field(
                    "seizure_alert",
                    format!("seizure_alert: {alert} is not an alert of {own} on this node"),
                ));
            }
        }
        match &readable.body {
            Body::ControlRequest(request) => {
                let item = RequestItem {
                    request: request.clone(),
                    record: readable.clone(),
                    entry: entry.clone(),
                };
                addressee_only(&item, &own)?;
                let requester = requester_of(&lookup, &item)?;
                Ok((readable.markings, Distribution::To(vec![requester])))
            }
            Body::RiskAlert(_) => Ok((readable.markings, readable.distribution)),
            _ => Err(ApiError::invalid_field(
                "subject",
                format!("subject: {subject} is neither a request for control nor an alert"),
            )),
        }
    })
    .await?;
    publish(
        state,
        Body::ControlResult(record),
        markings.unwrap_or(default_markings),
        distribution.unwrap_or(default_distribution),
        attachments,
        idempotency,
    )
    .await
}

/// The loop's figures.
///
/// Per addressee and category (the request's `category`): how many requests it
/// received, how many it answered with a result, and how many of those were hits
/// (`seized`), over the requests this node can read.
#[utoipa::path(
    get,
    path = "/api/v1/effectiveness",
    tag = "requests",
    responses(
        (status = 200, body = EffectivenessView),
        (status = 401, body = ErrorBody),
    )
)]
pub async fn loop_effectiveness(
    State(state): State<ApiState>,
) -> Result<Json<EffectivenessView>, ApiError> {
    let view = blocking(move || {
        let mut pairs = Vec::new();
        state.node.store.requests(usize::MAX, |item| {
            let responses = state
                .node
                .store
                .responses(&item.entry.id(), |k| state.code_of(k))?;
            pairs.push((item.request.clone(), responses));
            Ok(false)
        })?;
        Ok(EffectivenessView {
            rows: effectiveness(&pairs),
            requests: pairs.len() as u64,
        })
    })
    .await?;
    Ok(Json(view))
}

fn parse_entry_id(field: &str, text: &str) -> Result<EntryId, ApiError> {
    EntryId::from_hex(text)
        .ok_or_else(|| ApiError::bad_query(field, format!("{field}: {text:?} is not an entry id")))
}

fn find_request(state: &ApiState, id: &EntryId) -> Result<RequestItem, ApiError> {
    state
        .node
        .store
        .request(id)?
        .ok_or_else(|| ApiError::not_found(format!("no request for control {id} on this node")))
}

/// Only an addressee acknowledges or answers a request.
fn addressee_only(item: &RequestItem, own: &str) -> Result<(), ApiError> {
    if item.request.addressed_to.iter().any(|c| c == own) {
        Ok(())
    } else {
        Err(ApiError::forbidden(format!(
            "request {} is addressed to {}, not to {own}",
            item.entry.id(),
            item.request.addressed_to.join(", ")
        )))
    }
}

fn requester_of(state: &ApiState, item: &RequestItem) -> Result<String, ApiError> {
    state.code_of(&item.entry.entry().author).ok_or_else(|| {
        ApiError::new(
            StatusCode::CONFLICT,
            "unknown_requester",
            "the request's author is not a member this node knows",
        )
    })
}

fn answer_view(state: &ApiState, answer: &AnswerItem, counts: bool) -> AnswerView {
    AnswerView {
        meta: EntryMeta::of(&answer.entry, state.code_of(&answer.entry.entry().author)),
        kind: answer.record.body.kind(),
        body: body_json(&answer.record.body),
        markings: answer.record.markings.clone(),
        counts,
    }
}

/// What answers an alert or request: its results and acknowledgements, and for an
/// alert the requests that name it with their answers.
pub fn answers_of(state: &ApiState, subject: &EntryId) -> Result<Vec<AnswerView>, ApiError> {
    let mut views = Vec::new();
    for answer in state.node.store.answers(subject)? {
        views.push(answer_view(state, &answer, true));
        if matches!(answer.record.body, Body::ControlRequest(_)) {
            for reply in state.node.store.answers(&answer.entry.id())? {
                views.push(answer_view(state, &reply, true));
            }
        }
    }
    Ok(views)
}

fn request_view(
    state: &ApiState,
    item: &RequestItem,
    own: &str,
    now_ms: i64,
) -> Result<RequestView, crate::store::StoreError> {
    let id = item.entry.id();
    let answers = state.node.store.answers(&id)?;
    let responses = crate::store::responses_of(&answers, |k| state.code_of(k));
    let author_code = state.code_of(&item.entry.entry().author);
    let direction = if author_code.as_deref() == Some(own) {
        "outbound"
    } else if item.request.addressed_to.iter().any(|c| c == own) {
        "inbound"
    } else {
        "other"
    };
    let from_addressee = |a: &AnswerItem| {
        state
            .code_of(&a.entry.entry().author)
            .is_some_and(|code| item.request.addressed_to.contains(&code))
    };
    let mut acknowledgements = Vec::new();
    let mut results = Vec::new();
    for answer in &answers {
        let view = answer_view(state, answer, from_addressee(answer));
        match answer.record.body {
            Body::Acknowledgement(_) => acknowledgements.push(view),
            Body::ControlResult(_) => results.push(view),
            _ => {}
        }
    }
    Ok(RequestView {
        meta: EntryMeta::of(&item.entry, author_code),
        request: item.request.clone(),
        markings: item.record.markings.clone(),
        distribution: item.record.distribution.clone(),
        state: request_state(&item.request, &responses, now_ms),
        direction: direction.into(),
        acknowledgements,
        results,
    })
}
