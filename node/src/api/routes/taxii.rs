//! A read-only TAXII 2.1 server on the API listener: discovery at `/taxii2/`, one API
//! root (`/taxii2/api/`), three collections (alerts; AEO records; requests and
//! results), objects and manifests with `added_after`, `limit`, `next` and
//! `match[type]` / `match[id]`. An object's `date_added` is when this node stored its
//! record (strictly increasing), so a client that asks for what was added after the
//! last `X-TAXII-Date-Added-Last` it saw misses nothing, catch-ups included.
//!
//! Authenticated with the node's API tokens: `Authorization: Bearer TOKEN`, or HTTP
//! Basic with the token as the password (what TAXII clients send).

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use customs_protocol::Body;
use serde::Deserialize;
use serde_json::{json, Value};

use super::blocking;
use super::exchange::{refers_to, scan_outgoing, MAX_EXPORT_SCAN_ROWS};
use crate::api::error::{ApiError, ErrorBody};
use crate::api::extract::{page_limit, query_value, QueryParams};
use crate::api::formats::stix;
use crate::api::ApiState;
use crate::clock::rfc3339_us;

pub const MEDIA_TYPE: &str = "application/taxii+json;version=2.1";
/// Objects per page unless the client asks for fewer (`limit`), and at most.
pub const DEFAULT_PAGE_OBJECTS: usize = 100;
pub const MAX_PAGE_OBJECTS: usize = 1000;

/// A collection: which records it serves.
struct Collection {
    name: &'static str,
    title: &'static str,
    description: &'static str,
    holds: fn(&Body) -> bool,
}

const COLLECTIONS: [Collection; 3] = [
    Collection {
        name: "alerts",
        title: "Risk alerts",
        description: "Seizures and the indicators behind them (observed-data with the customs extension).",
        holds: |b| matches!(b, Body::RiskAlert(_)),
    },
    Collection {
        name: "aeo",
        title: "AEO records",
        description: "Authorised economic operators' status at each issuer, exchanged with the operator's consent (identity, one version per status change).",
        holds: |b| matches!(b, Body::AeoRecord(_)),
    },
    Collection {
        name: "control",
        title: "Requests and results of control",
        description: "Requests to check a consignment (grouping) and the results of controls (note).",
        holds: |b| matches!(b, Body::ControlRequest(_) | Body::ControlResult(_)),
    },
];

fn collection_id(name: &str) -> String {
    stix::derived_uuid(&format!("taxii-collection:{name}")).to_string()
}

fn collection(id: &str) -> Result<&'static Collection, ApiError> {
    COLLECTIONS
        .iter()
        .find(|c| collection_id(c.name) == id)
        .ok_or_else(|| ApiError::not_found(format!("no collection {id:?} on this API root")))
}

fn collection_view(c: &Collection) -> Value {
    json!({
        "id": collection_id(c.name),
        "title": c.title,
        "description": c.description,
        "can_read": true,
        "can_write": false,
        "media_types": [stix::MEDIA_TYPE],
    })
}

/// A TAXII answer: its media type, and 406 for a client that accepts none of it.
fn taxii(headers: &HeaderMap, body: Value) -> Result<Response, ApiError> {
    check_accept(headers)?;
    Ok((
        [(header::CONTENT_TYPE, MEDIA_TYPE)],
        serde_json::to_vec(&body).unwrap_or_default(),
    )
        .into_response())
}

fn check_accept(headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(accept) = headers.get(header::ACCEPT).and_then(|a| a.to_str().ok()) else {
        return Ok(());
    };
    let acceptable = accept.split(',').any(|range| {
        let media = range.split(';').next().unwrap_or_default().trim();
        let version = range
            .split(';')
            .skip(1)
            .find_map(|p| p.trim().strip_prefix("version="));
        (media == "application/taxii+json" && version.is_none_or(|v| v == "2.1"))
            || media == "application/json"
            || media == "application/*"
            || media == "*/*"
    });
    if acceptable {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::NOT_ACCEPTABLE,
            "not_acceptable",
            format!("this TAXII server answers {MEDIA_TYPE}; the request accepts only {accept:?}"),
        ))
    }
}

/// Server discovery.
#[utoipa::path(
    get,
    path = "/taxii2/",
    tag = "taxii",
    responses((status = 200, description = "TAXII 2.1 discovery", content_type = "application/taxii+json;version=2.1"), (status = 401, body = ErrorBody))
)]
pub async fn discovery(
    State(state): State<ApiState>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    taxii(
        &headers,
        json!({
            "title": format!("customs-node {} ({})", state.identity.code, state.identity.network),
            "description": "Records of the customs information-sharing network that may leave it, as STIX 2.1.",
            "contact": state.identity.name,
            "default": "/taxii2/api/",
            "api_roots": ["/taxii2/api/"],
        }),
    )
}

/// The API root.
#[utoipa::path(
    get,
    path = "/taxii2/api/",
    tag = "taxii",
    responses((status = 200, description = "TAXII 2.1 API root", content_type = "application/taxii+json;version=2.1"), (status = 401, body = ErrorBody))
)]
pub async fn api_root(
    State(state): State<ApiState>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    taxii(
        &headers,
        json!({
            "title": format!("customs-network {}", state.identity.network),
            "versions": [MEDIA_TYPE],
            "max_content_length": state.limits.max_body_bytes,
        }),
    )
}

/// The collections.
#[utoipa::path(
    get,
    path = "/taxii2/api/collections/",
    tag = "taxii",
    responses((status = 200, description = "TAXII 2.1 collections", content_type = "application/taxii+json;version=2.1"), (status = 401, body = ErrorBody))
)]
pub async fn collections(headers: HeaderMap) -> Result<Response, ApiError> {
    let list: Vec<Value> = COLLECTIONS.iter().map(collection_view).collect();
    taxii(&headers, json!({"collections": list}))
}

/// One collection.
#[utoipa::path(
    get,
    path = "/taxii2/api/collections/{id}/",
    tag = "taxii",
    params(("id" = String, Path)),
    responses((status = 200, description = "A TAXII 2.1 collection", content_type = "application/taxii+json;version=2.1"), (status = 404, body = ErrorBody))
)]
pub async fn get_collection(
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let found = collection(&id)?;
    taxii(&headers, collection_view(found))
}

/// Filters and paging of objects and manifests.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ObjectsQuery {
    /// Only objects added after this time (RFC 3339).
    added_after: Option<String>,
    /// At most this many objects (1 to 1000; default 100).
    limit: Option<usize>,
    /// The `next` of the previous page.
    next: Option<String>,
    /// Only these STIX types (comma-separated).
    #[serde(rename = "match[type]")]
    #[param(rename = "match[type]")]
    match_type: Option<String>,
    /// Only these STIX ids (comma-separated).
    #[serde(rename = "match[id]")]
    #[param(rename = "match[id]")]
    match_id: Option<String>,
    /// Only `2.1` is served.
    #[serde(rename = "match[spec_version]")]
    #[param(rename = "match[spec_version]")]
    match_spec_version: Option<String>,
    /// `last` (the default), `first` or `all`: each record is served at its latest
    /// version.
    #[serde(rename = "match[version]")]
    #[param(rename = "match[version]")]
    match_version: Option<String>,
}

/// A page of a collection's objects, each with when it was added.
struct Page {
    objects: Vec<(Value, u64)>,
    next: Option<String>,
}

/// Where a page starts: an arrival number and how many of that record's objects the
/// previous page already gave (`next` is `NUMBER-SKIP`).
fn parse_next(text: &str) -> Result<(u64, usize), String> {
    let (number, skip) = text.split_once('-').ok_or("not a next of this server")?;
    Ok((
        number.parse().map_err(|_| "not a next of this server")?,
        skip.parse().map_err(|_| "not a next of this server")?,
    ))
}

fn page(
    state: &ApiState,
    collection: &Collection,
    query: &ObjectsQuery,
    object_id: Option<&str>,
) -> Result<Page, ApiError> {
    let limit = page_limit(query.limit, DEFAULT_PAGE_OBJECTS, MAX_PAGE_OBJECTS)?;
    let added_after = query_value(
        "added_after",
        query.added_after.as_deref(),
        super::exchange::parse_time_us,
    )?;
    let next = query_value("next", query.next.as_deref(), parse_next)?;
    query_value("match[version]", query.match_version.as_deref(), |text| {
        text.split(',')
            .all(|v| {
                matches!(v.trim(), "last" | "first" | "all")
                    || super::exchange::parse_time_us(v.trim()).is_ok()
            })
            .then_some(())
            .ok_or_else(|| "give last, first, all or a version's time".to_string())
    })?;
    if let Some(spec) = &query.match_spec_version {
        if !spec.split(',').any(|s| s.trim() == "2.1") {
            return Ok(Page {
                objects: Vec::new(),
                next: None,
            });
        }
    }
    let list = |text: &Option<String>| -> Option<Vec<String>> {
        text.as_ref()
            .map(|t| t.split(',').map(|s| s.trim().to_string()).collect())
    };
    let types = list(&query.match_type);
    let ids = match object_id {
        Some(id) => Some(vec![id.to_string()]),
        None => list(&query.match_id),
    };
    let wanted = |object: &Value| {
        types
            .as_ref()
            .is_none_or(|t| t.iter().any(|t| object["type"] == *t.as_str()))
            && ids
                .as_ref()
                .is_none_or(|i| i.iter().any(|i| object["id"] == *i.as_str()))
    };
    let (start, mut skip) = match next {
        Some(next) => next,
        None => (
            match added_after {
                Some(us) => state.node.store.first_arrival_after(us)?,
                None => 0,
            },
            0,
        ),
    };
    let refers_to = refers_to(state);
    let mut objects: Vec<(Value, u64)> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let mut resume = None;
    let stopped = scan_outgoing(state, start, MAX_EXPORT_SCAN_ROWS, |arrival, record| {
        if !(collection.holds)(&record.record.body) {
            return true;
        }
        let added_us = arrival
            .arrived_us
            .unwrap_or(arrival.entry.entry().created_at_ms * 1000);
        let group: Vec<Value> = stix::objects(&record, &refers_to)
            .into_iter()
            .filter(|o| wanted(o))
            .collect();
        let already = std::mem::take(&mut skip);
        for (n, object) in group.iter().enumerate().skip(already) {
            if objects.len() == limit {
                resume = Some(format!("{}-{n}", arrival.number));
                return false;
            }
            let key = (object["id"].to_string(), object["modified"].to_string());
            if seen.insert(key) {
                objects.push((object.clone(), added_us));
            }
        }
        true
    })?;
    let next = resume.or_else(|| stopped.map(|n| format!("{n}-0")));
    Ok(Page { objects, next })
}

fn date_headers(response: &mut Response, objects: &[(Value, u64)]) {
    let first = objects.iter().map(|(_, t)| *t).min();
    let last = objects.iter().map(|(_, t)| *t).max();
    for (name, time) in [
        ("x-taxii-date-added-first", first),
        ("x-taxii-date-added-last", last),
    ] {
        if let Some(value) = time.and_then(|t| HeaderValue::from_str(&rfc3339_us(t)).ok()) {
            response.headers_mut().insert(name, value);
        }
    }
}

fn envelope(headers: &HeaderMap, page: Page) -> Result<Response, ApiError> {
    let mut body = json!({
        "more": page.next.is_some(),
        "objects": page.objects.iter().map(|(o, _)| o.clone()).collect::<Vec<_>>(),
    });
    if let Some(next) = &page.next {
        body["next"] = json!(next);
    }
    let mut response = taxii(headers, body)?;
    date_headers(&mut response, &page.objects);
    Ok(response)
}

/// A collection's objects (an envelope).
#[utoipa::path(
    get,
    path = "/taxii2/api/collections/{id}/objects/",
    tag = "taxii",
    params(("id" = String, Path), ObjectsQuery),
    responses((status = 200, description = "A TAXII 2.1 envelope", content_type = "application/taxii+json;version=2.1"), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody))
)]
pub async fn objects(
    State(state): State<ApiState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    QueryParams(query): QueryParams<ObjectsQuery>,
) -> Result<Response, ApiError> {
    let found = collection(&id)?;
    check_accept(&headers)?;
    let page = blocking(move || page(&state, found, &query, None)).await?;
    envelope(&headers, page)
}

/// One object of a collection, by its STIX id (an envelope).
#[utoipa::path(
    get,
    path = "/taxii2/api/collections/{id}/objects/{object_id}/",
    tag = "taxii",
    params(("id" = String, Path), ("object_id" = String, Path), ObjectsQuery),
    responses((status = 200, description = "A TAXII 2.1 envelope", content_type = "application/taxii+json;version=2.1"), (status = 404, body = ErrorBody))
)]
pub async fn object(
    State(state): State<ApiState>,
    headers: HeaderMap,
    Path((id, object_id)): Path<(String, String)>,
    QueryParams(query): QueryParams<ObjectsQuery>,
) -> Result<Response, ApiError> {
    let found = collection(&id)?;
    check_accept(&headers)?;
    let wanted = object_id.clone();
    let page = blocking(move || page(&state, found, &query, Some(&wanted))).await?;
    if page.objects.is_empty() && page.next.is_none() {
        return Err(ApiError::not_found(format!(
            "no object {object_id} in this collection"
        )));
    }
    envelope(&headers, page)
}

/// A collection's manifest: each object's id, date added, version and media type.
#[utoipa::path(
    get,
    path = "/taxii2/api/collections/{id}/manifest/",
    tag = "taxii",
    params(("id" = String, Path), ObjectsQuery),
    responses((status = 200, description = "A TAXII 2.1 manifest", content_type = "application/taxii+json;version=2.1"), (status = 404, body = ErrorBody))
)]
pub async fn manifest(
    State(state): State<ApiState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    QueryParams(query): QueryParams<ObjectsQuery>,
) -> Result<Response, ApiError> {
    let found = collection(&id)?;
    check_accept(&headers)?;
    let page = blocking(move || page(&state, found, &query, None)).await?;
    let records: Vec<Value> = page
        .objects
        .iter()
        .map(|(object, added_us)| {
            json!({
                "id": object["id"],
                "date_added": rfc3339_us(*added_us),
                // An SCO has no version of its own: it is as new as its record.
                "version": object.get("modified").or_else(|| object.get("created")).cloned().unwrap_or_else(|| json!(rfc3339_us(*added_us))),
                "media_type": stix::MEDIA_TYPE,
            })
        })
        .collect();
    let mut body = json!({"more": page.next.is_some(), "objects": records});
    if let Some(next) = &page.next {
        body["next"] = json!(next);
    }
    let mut response = taxii(&headers, body)?;
    date_headers(&mut response, &page.objects);
    Ok(response)
}
