//! The field's formats: a STIX 2.1 bundle, the MISP feed, the CEN reporting file, and
//! STIX indicators imported as draft alerts. Every export starts from
//! [`formats::outgoing`]: what may not leave the network is in none of them.

use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use customs_protocol::{Body, Date};
use serde::Deserialize;
use serde_json::{Map, Value};

use super::blocking;
use crate::api::error::{ApiError, ErrorBody};
use crate::api::extract::{page_limit, query_value, read_json, QueryParams};
use crate::api::formats::drafts::{Draft, DraftList, Drafts, ImportError, Imported};
use crate::api::formats::{self, cen, misp, stix, Outgoing};
use crate::api::ApiState;
use crate::store::{AlertFilter, Arrival};
use crate::tokens::Caller;

/// At most this many records in one STIX bundle; `next_after` continues.
pub const MAX_BUNDLE_RECORDS: usize = 2000;
/// At most this many arrivals looked at for one bundle or TAXII page.
pub const MAX_EXPORT_SCAN_ROWS: usize = 50_000;
/// At most this many alerts in the MISP feed (the newest).
pub const MAX_FEED_EVENTS: usize = 10_000;
/// At most this many lines in one CEN file.
pub const MAX_CEN_ROWS: usize = 100_000;
/// At most this many bytes in an imported STIX bundle.
pub const MAX_IMPORT_BODY_BYTES: usize = 1024 * 1024;

/// Parses `since`: `YYYY-MM-DD` or an RFC 3339 UTC time, to Unix µs.
pub fn parse_time_us(text: &str) -> Result<u64, String> {
    let bad = || {
        format!("{text:?} is neither YYYY-MM-DD nor an RFC 3339 UTC time (2026-11-30T08:00:00Z)")
    };
    let date = Date::parse_valid(text.get(..10).ok_or_else(bad)?).map_err(|_| bad())?;
    let day_us = u64::try_from(date.days_since_epoch()).map_err(|_| bad())? * 86_400_000_000;
    let rest = &text[10..];
    if rest.is_empty() {
        return Ok(day_us);
    }
    let time = rest
        .strip_prefix('T')
        .and_then(|t| t.strip_suffix('Z'))
        .ok_or_else(bad)?;
    let (hms, fraction) = time.split_once('.').unwrap_or((time, ""));
    let parts: Vec<u64> = hms
        .split(':')
        .map(|p| p.parse::<u64>().map_err(|_| bad()))
        .collect::<Result<_, _>>()?;
    let [h, m, s] = parts[..] else {
        return Err(bad());
    };
    if h > 23
        || m > 59
        || s > 60
        || fraction.len() > 9
        || !fraction.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(bad());
    }
    let micros: u64 = format!("{fraction:0<6}")[..6].parse().map_err(|_| bad())?;
    Ok(day_us + ((h * 60 + m) * 60 + s) * 1_000_000 + micros)
}

/// The records that arrived from arrival number `start` on, as far as `keep` takes
/// them: at most `max_rows` arrivals looked at. A retracted record comes where its
/// retraction arrived (revoked), not where it first did: a client that read it before
/// gets the new version after its last poll, one that reads now gets it once. Returns what was kept, with each
/// record's arrival, and the number to continue from when the scan stopped early.
pub fn scan_outgoing(
    state: &ApiState,
    start: u64,
    max_rows: usize,
    mut keep: impl FnMut(&Arrival, Outgoing) -> bool,
) -> Result<Option<u64>, ApiError> {
    let store = &state.node.store;
    let membership = state.node.membership.get();
    let mut after = start.checked_sub(1);
    let mut scanned = 0;
    loop {
        let batch = store.arrivals_after(after, 256)?;
        let Some(last) = batch.last() else {
            return Ok(None);
        };
        let last = last.number;
        for arrival in &batch {
            scanned += 1;
            let record = formats::outgoing(store, &membership, &arrival.entry)?;
            // A retracted record is given once, revoked, where its retraction arrived.
            let superseded = record.as_ref().is_some_and(|r| {
                r.retracted_at_ms.is_some()
                    && !matches!(arrival.entry.entry().body, Body::Retraction(_))
            });
            if let Some(record) = record.filter(|_| !superseded) {
                if !keep(arrival, record) {
                    return Ok(Some(arrival.number));
                }
            }
            if scanned >= max_rows {
                return Ok(Some(arrival.number + 1));
            }
        }
        after = Some(last);
    }
}

/// The STIX id of the main object of the record `id`, when it may be exported.
pub fn refers_to(state: &ApiState) -> impl Fn(&customs_protocol::EntryId) -> Option<String> + '_ {
    move |id| {
        let entry = state.node.store.get(id).ok().flatten()?;
        let membership = state.node.membership.get();
        let record = formats::outgoing(&state.node.store, &membership, &entry)
            .ok()
            .flatten()?;
        stix::record_id(&record.record.body, id)
    }
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct StixQuery {
    /// Only records this node stored since: `YYYY-MM-DD` or an RFC 3339 UTC time.
    since: Option<String>,
    /// Continue after a bundle that stopped early: its `X-Next-After` header.
    after: Option<u64>,
    /// At most this many records (1 to 2000, the default).
    limit: Option<usize>,
}

/// Alerts, requests, results and AEO records as a STIX 2.1 bundle.
///
/// Only records that may leave the network: never a restricted one (addressed to
/// named members or a group), nor one marked `no_onward_sharing` or TLP:RED, nor an
/// AEO record without the operator's consent. A retracted record is `revoked`. When
/// more records remain than the bundle holds, the `X-Next-After` header gives the
/// `after` that continues.
#[utoipa::path(
    get,
    path = "/api/v1/export/stix",
    tag = "exchange",
    params(StixQuery),
    responses(
        (status = 200, description = "A STIX 2.1 bundle", content_type = "application/stix+json;version=2.1"),
        (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody),
    )
)]
pub async fn export_stix(
    State(state): State<ApiState>,
    QueryParams(query): QueryParams<StixQuery>,
) -> Result<Response, ApiError> {
    let since_us = query_value("since", query.since.as_deref(), parse_time_us)?;
    let limit = page_limit(query.limit, MAX_BUNDLE_RECORDS, MAX_BUNDLE_RECORDS)?;
    blocking(move || {
        let start = match (query.after, since_us) {
            (Some(after), _) => after,
            (None, Some(us)) => state.node.store.first_arrival_after(us.saturating_sub(1))?,
            (None, None) => 0,
        };
        let mut objects = Vec::new();
        let mut records = 0;
        let refers_to = refers_to(&state);
        let next = scan_outgoing(&state, start, MAX_EXPORT_SCAN_ROWS, |_, record| {
            if records == limit {
                return false;
            }
            records += 1;
            objects.extend(stix::objects(&record, &refers_to));
            true
        })?;
        let name = format!(
            "{}:{}:{}",
            state.identity.network,
            state.identity.code,
            crate::clock::now_us()
        );
        let bundle = stix::bundle(objects, &name);
        let mut response = (
            [(header::CONTENT_TYPE, stix::MEDIA_TYPE)],
            serde_json::to_vec(&bundle).unwrap_or_default(),
        )
            .into_response();
        if let Some(next) = next {
            if let Ok(value) = next.to_string().parse() {
                response.headers_mut().insert("x-next-after", value);
            }
        }
        Ok(response)
    })
    .await
}

/// The newest alerts that may leave the network, as MISP events (at most
/// [`MAX_FEED_EVENTS`]).
fn feed_events(state: &ApiState) -> Result<Vec<Value>, ApiError> {
    let store = &state.node.store;
    let membership = state.node.membership.get();
    let filter = AlertFilter {
        include_retracted: true,
        ..AlertFilter::default()
    };
    let mut events = Vec::new();
    let mut cursor = None;
    loop {
        let page = store.alerts(&filter, cursor, crate::limits::MAX_ALERT_PAGE)?;
        for item in &page.items {
            if let Some(record) = formats::outgoing(store, &membership, &item.entry)? {
                events.extend(misp::event(&record));
                if events.len() == MAX_FEED_EVENTS {
                    return Ok(events);
                }
            }
        }
        match page.next {
            Some(next) => cursor = Some(next),
            None => return Ok(events),
        }
    }
}

/// The MISP feed's manifest: one entry per alert that may leave the network.
///
/// Subscribe a MISP instance to `http(s)://NODE/misp-feed/` as a feed of type
/// "MISP Feed", with the header `Authorization: Bearer TOKEN` (a reader token).
#[utoipa::path(
    get,
    path = "/misp-feed/manifest.json",
    tag = "exchange",
    responses(
        (status = 200, description = "MISP feed manifest: event uuid -> Orgc, Tag, info, date, analysis, threat_level_id, timestamp", content_type = "application/json"),
        (status = 401, body = ErrorBody),
    )
)]
pub async fn misp_manifest(
    State(state): State<ApiState>,
) -> Result<Json<Map<String, Value>>, ApiError> {
    blocking(move || {
        Ok(Json(
            feed_events(&state)?
                .iter()
                .map(misp::manifest_entry)
                .collect(),
        ))
    })
    .await
}

/// One MISP event of the feed: `{uuid}.json`.
#[utoipa::path(
    get,
    path = "/misp-feed/{file}",
    tag = "exchange",
    params(("file" = String, Path, description = "EVENT_UUID.json")),
    responses(
        (status = 200, description = "{\"Event\": {...}} in MISP's JSON format", content_type = "application/json"),
        (status = 404, body = ErrorBody),
    )
)]
pub async fn misp_event(
    State(state): State<ApiState>,
    Path(file): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let message = format!("no event {file:?} in this feed");
    let not_found = move || ApiError::not_found(message.clone());
    let uuid = file
        .strip_suffix(".json")
        .and_then(|u| uuid::Uuid::parse_str(u).ok())
        .ok_or_else(not_found.clone())?;
    blocking(move || {
        let store = &state.node.store;
        let membership = state.node.membership.get();
        for id in store.ids_with_prefix(&misp::id_prefix(&uuid), 16)? {
            if misp::event_uuid(&id) != uuid {
                continue;
            }
            let Some(entry) = store.get(&id)? else {
                continue;
            };
            if let Some(event) = formats::outgoing(store, &membership, &entry)?
                .and_then(|record| misp::event(&record))
            {
                return Ok(Json(event));
            }
        }
        Err(not_found())
    })
    .await
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct CenQuery {
    /// The year of detection.
    year: Option<String>,
    /// drugs, revenue, environment, ipr, security, cultural_heritage, currency, other.
    area: Option<String>,
    /// The reporting administration's member code (default: this node's).
    member: Option<String>,
}

/// A CEN-style reporting file: this administration's seizures of one commodity area
/// in one year, as CSV (columns in the README).
#[utoipa::path(
    get,
    path = "/api/v1/export/cen",
    tag = "exchange",
    params(CenQuery),
    responses(
        (status = 200, description = "CSV (RFC 4180), a header line and one line per seizure", content_type = "text/csv"),
        (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody),
    )
)]
pub async fn export_cen(
    State(state): State<ApiState>,
    QueryParams(query): QueryParams<CenQuery>,
) -> Result<Response, ApiError> {
    let year = query
        .year
        .as_deref()
        .ok_or_else(|| ApiError::bad_query("year", "give the year: year=YYYY"))?;
    let year_number: u16 = year
        .parse()
        .ok()
        .filter(|y| (2000..=9999).contains(y))
        .ok_or_else(|| ApiError::bad_query("year", format!("{year:?} is not a year (YYYY)")))?;
    let area_name = query.area.as_deref().ok_or_else(|| {
        ApiError::bad_query(
            "area",
            format!("give the area: one of {}", cen::area_names()),
        )
    })?;
    let categories = cen::area(area_name).ok_or_else(|| {
        ApiError::bad_query(
            "area",
            format!("{area_name:?} is not an area: one of {}", cen::area_names()),
        )
    })?;
    let member = query.member.unwrap_or_else(|| state.identity.code.clone());
    let authors = state.member_nodes("member", &member)?;
    let file_name = format!("attachment; filename=\"cen-{member}-{area_name}-{year_number}.csv\"");
    let csv = blocking(move || {
        let date = |text: String| {
            Date::parse_valid(&text).map_err(|e| ApiError::bad_query("year", e.to_string()))
        };
        let filter = AlertFilter {
            from: Some(date(format!("{year_number:04}-01-01"))?),
            to: Some(date(format!("{year_number:04}-12-31"))?),
            author: Some(authors),
            ..AlertFilter::default()
        };
        let store = &state.node.store;
        let membership = state.node.membership.get();
        let mut lines = Vec::new();
        let mut cursor = None;
        loop {
            let page = store.alerts(&filter, cursor, crate::limits::MAX_ALERT_PAGE)?;
            for item in &page.items {
                let Body::RiskAlert(alert) = &item.record.body else {
                    continue;
                };
                if !categories.contains(&alert.category) {
                    continue;
                }
                if let Some(record) = formats::outgoing(store, &membership, &item.entry)? {
                    lines.extend(cen::line(&record));
                    if lines.len() > MAX_CEN_ROWS {
                        return Err(ApiError::new(
                            StatusCode::UNPROCESSABLE_ENTITY,
                            "too_many_rows",
                            format!(
                                "more than {MAX_CEN_ROWS} seizures: ask for one area at a time"
                            ),
                        ));
                    }
                }
            }
            match page.next {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        // Oldest first, as a yearly report reads.
        lines.reverse();
        Ok(cen::header() + &lines.concat())
    })
    .await?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
            (header::CONTENT_DISPOSITION, file_name),
        ],
        csv,
    )
        .into_response())
}

impl From<ImportError> for ApiError {
    fn from(error: ImportError) -> Self {
        match error {
            ImportError::Store(store) => store.into(),
            ImportError::Full { .. } => ApiError::new(
                StatusCode::INSUFFICIENT_STORAGE,
                "drafts_full",
                error.to_string(),
            ),
            ImportError::TooMany { .. } => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "too_many_indicators",
                error.to_string(),
            ),
            ImportError::NotABundle(_) => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "not_a_bundle",
                error.to_string(),
            ),
        }
    }
}

/// Import a STIX 2.1 bundle's indicators as draft alerts.
///
/// Each `indicator` becomes a draft (node-local, unsigned, never sent) with what it
/// gives: name and description, a category among its labels, `valid_until`, the HS
/// code, containers, vessel, flight or vehicle of a pattern over
/// `customs-consignment`. An officer completes a draft and publishes it as an alert.
/// Nothing is stored for a bundle that is refused.
#[utoipa::path(
    post,
    path = "/api/v1/import/stix",
    tag = "exchange",
    request_body(content = Object, description = "A STIX 2.1 bundle (application/json or application/stix+json)"),
    responses(
        (status = 201, body = Imported),
        (status = 413, description = "A bundle over 1 MiB", body = ErrorBody),
        (status = 422, description = "Not a bundle, or more than 200 indicators", body = ErrorBody),
        (status = 507, description = "1000 drafts wait already", body = ErrorBody),
    )
)]
pub async fn import_stix(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    request: axum::extract::Request,
) -> Result<Response, ApiError> {
    // A bundle of indicators is larger than a record: its own limit.
    let bundle: Value = read_json(request, &state, MAX_IMPORT_BODY_BYTES).await?;
    let (contents, skipped) = formats::drafts::from_bundle(&bundle)?;
    let drafts = blocking(move || {
        Ok(Drafts::new(state.node.store.clone()).add(
            contents,
            &caller.name,
            crate::clock::now_ms(),
        )?)
    })
    .await?;
    Ok((StatusCode::CREATED, Json(Imported { drafts, skipped })).into_response())
}

/// The draft alerts waiting on this node, oldest first.
#[utoipa::path(
    get,
    path = "/api/v1/drafts",
    tag = "exchange",
    responses((status = 200, body = DraftList), (status = 401, body = ErrorBody))
)]
pub async fn list_drafts(State(state): State<ApiState>) -> Result<Json<DraftList>, ApiError> {
    blocking(move || {
        let items = Drafts::new(state.node.store.clone()).list(formats::drafts::MAX_DRAFTS)?;
        Ok(Json(DraftList { items }))
    })
    .await
}

/// One draft alert.
#[utoipa::path(
    get,
    path = "/api/v1/drafts/{id}",
    tag = "exchange",
    params(("id" = u64, Path)),
    responses((status = 200, body = Draft), (status = 404, body = ErrorBody))
)]
pub async fn get_draft(
    State(state): State<ApiState>,
    Path(id): Path<u64>,
) -> Result<Json<Draft>, ApiError> {
    blocking(move || {
        Drafts::new(state.node.store.clone())
            .get(id)?
            .map(Json)
            .ok_or_else(|| ApiError::not_found(format!("no draft {id}")))
    })
    .await
}

/// Delete a draft (once published as an alert, or not wanted).
#[utoipa::path(
    delete,
    path = "/api/v1/drafts/{id}",
    tag = "exchange",
    params(("id" = u64, Path)),
    responses((status = 204), (status = 404, body = ErrorBody))
)]
pub async fn delete_draft(
    State(state): State<ApiState>,
    Path(id): Path<u64>,
) -> Result<StatusCode, ApiError> {
    blocking(
        move || match Drafts::new(state.node.store.clone()).delete(id)? {
            true => Ok(StatusCode::NO_CONTENT),
            false => Err(ApiError::not_found(format!("no draft {id}"))),
        },
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_takes_a_date_or_a_utc_time() {
        assert_eq!(parse_time_us("1970-01-02"), Ok(86_400_000_000));
        assert_eq!(parse_time_us("1970-01-01T00:00:01Z"), Ok(1_000_000));
        assert_eq!(parse_time_us("1970-01-01T00:00:01.5Z"), Ok(1_500_000));
        assert_eq!(parse_time_us("1970-01-01T00:00:00.000123Z"), Ok(123));
        for bad in [
            "",
            "2026",
            "2026-13-01",
            "2026-11-30T25:00:00Z",
            "2026-11-30T08:00:00+01:00",
            "2026-11-30T08:00Z",
        ] {
            assert!(parse_time_us(bad).is_err(), "{bad}");
        }
    }
}
