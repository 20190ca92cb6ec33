//! Risk alerts: publish one, list them with filters.

use axum::extract::State;
use axum::response::Response;
use axum::Json;
use customs_protocol::body::Category;
use customs_protocol::codes::Country;
use customs_protocol::{Body, Date, PublicKey, RiskAlert};
use serde::Deserialize;

use super::{blocking, publish_posted, IdempotencyHeader, PublishResponses};
use crate::api::error::{ApiError, ErrorBody};
use crate::api::extract::Idempotency;
use crate::api::extract::{page_limit, query_value, Publishable, QueryParams};
use crate::api::views::*;
use crate::api::{ApiState, DEFAULT_PAGE_LIMIT};
use crate::store::{AlertCursor, AlertFilter, MAX_ALERT_PAGE};

/// Publish a risk alert.
///
/// The node validates every field, signs the alert as the next entry of its own log,
/// stores it durably and gossips it to the members. 201 means it is on disk.
#[utoipa::path(
    post,
    path = "/api/v1/alerts",
    tag = "alerts",
    params(IdempotencyHeader),
    request_body(
        content = RiskAlert,
        description = "The alert's fields, and optionally `markings` (default: TLP:AMBER, no handling code, reliability X, accuracy 4) and `distribution` (default `\"all\"`; `{\"to\": [\"BE\", \"DE\"]}` or `{\"group\": {\"id\": GROUP_ID}}` seals it to those members)"
    ),
    responses(PublishResponses)
)]
pub async fn publish_alert(
    State(state): State<ApiState>,
    idempotency: Idempotency,
    request: Publishable<RiskAlert>,
) -> Result<Response, ApiError> {
    publish_posted(state, request, Body::RiskAlert, idempotency).await
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
    /// The route's origin country.
    origin: Option<String>,
    /// The route's destination country.
    destination: Option<String>,
    /// The place of detection (UN/LOCODE).
    place: Option<String>,
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

pub(super) fn parse_enum<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, String> {
    serde_json::from_value(serde_json::Value::String(text.to_string())).map_err(|e| e.to_string())
}

/// What the alert index cannot tell: the route's ends and the place of detection.
#[derive(Debug, Default, Clone)]
struct RouteFilter {
    origin: Option<Country>,
    destination: Option<Country>,
    place: Option<String>,
}

impl RouteFilter {
    fn matches(&self, alert: &RiskAlert) -> bool {
        self.origin.is_none_or(|c| alert.route.origin == Some(c))
            && self
                .destination
                .is_none_or(|c| alert.route.destination == Some(c))
            && self
                .place
                .as_ref()
                .is_none_or(|p| alert.location.unlocode == *p)
    }
}

fn country_value(name: &str, value: Option<&str>) -> Result<Option<Country>, ApiError> {
    query_value(name, value, |t| {
        let country = Country::parse_shape(t)
            .ok_or_else(|| format!("{t:?} is not an ISO 3166-1 alpha-2 code"))?;
        country.check().map_err(|r| r.to_string())?;
        Ok(country)
    })
}

impl AlertQuery {
    fn route_filter(&self) -> Result<RouteFilter, ApiError> {
        Ok(RouteFilter {
            origin: country_value("origin", self.origin.as_deref())?,
            destination: country_value("destination", self.destination.as_deref())?,
            place: query_value("place", self.place.as_deref(), |t| {
                customs_protocol::codes::check_unlocode(t)
                    .map(|_| t.to_string())
                    .map_err(|r| r.to_string())
            })?,
        })
    }

    fn filter(&self, state: &ApiState) -> Result<AlertFilter, ApiError> {
        let hs_prefix = query_value("hs", self.hs.as_deref(), |t| {
            let ok = (2..=10).contains(&t.len()) && t.bytes().all(|b| b.is_ascii_digit());
            ok.then(|| t.to_string())
                .ok_or_else(|| format!("{t:?} is not an HS code prefix of 2 to 10 digits"))
        })?;
        let country = country_value("country", self.country.as_deref())?;
        let date = |name: &str, value: &Option<String>| {
            query_value(name, value.as_deref(), |t| {
                Date::parse_valid(t).map_err(|r| r.to_string())
            })
        };
        let author = query_value("author", self.author.as_deref(), |t| {
            // A member code stands for every node key of that administration.
            let membership = state.node.membership.get();
            membership
                .members
                .get(t)
                .map(|m| m.nodes.clone())
                .or_else(|| PublicKey::from_hex(t).ok().map(|k| vec![k]))
                .ok_or_else(|| format!("{t:?} is neither a member code nor a public key"))
        })?;
        let filter = AlertFilter {
            category: query_value::<Category>("category", self.category.as_deref(), parse_enum)?,
            hs_prefix,
            // The index knows the route's countries, not which is which: it narrows
            // by one, the rest is checked on the record (`RouteFilter`).
            country: country
                .or(self.route_filter()?.origin)
                .or(self.route_filter()?.destination),
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
/// Retracted alerts are hidden unless `include_retracted=true`; so are alerts whose
/// key signs nothing valid at their seq (revoked, or beyond a rotation or removal)
/// that this node stored before it learned so. Pages end with a
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
    let (list, _) = alert_page(state, query, false).await?;
    Ok(Json(list))
}

/// Alerts for systems outside the network.
///
/// The alert list (same filters and pages) for a national risk engine, a partner
/// agency or any system outside the network: records that may not leave it are
/// withheld (marked `no_onward_sharing`, TLP:RED, or addressed to named members or a
/// group), and `withheld` counts them per page.
#[utoipa::path(
    get,
    path = "/api/v1/alerts/outbound",
    tag = "alerts",
    params(AlertQuery),
    responses(
        (status = 200, body = OutboundAlertList),
        (status = 400, description = "A query parameter is invalid; `field` names it", body = ErrorBody),
        (status = 401, body = ErrorBody),
    )
)]
pub async fn outbound_alerts(
    State(state): State<ApiState>,
    QueryParams(query): QueryParams<AlertQuery>,
) -> Result<Json<OutboundAlertList>, ApiError> {
    let (list, withheld) = alert_page(state, query, true).await?;
    Ok(Json(OutboundAlertList {
        items: list.items,
        next: list.next,
        withheld,
    }))
}

/// A page of alerts; `outbound`: without those that may not leave the network, and
/// how many were left out.
async fn alert_page(
    state: ApiState,
    query: AlertQuery,
    outbound: bool,
) -> Result<(AlertList, usize), ApiError> {
    let filter = query.filter(&state)?;
    let route = query.route_filter()?;
    let limit = page_limit(query.limit, DEFAULT_PAGE_LIMIT, MAX_ALERT_PAGE)?;
    let cursor = query_value("cursor", query.cursor.as_deref(), |t| {
        t.parse::<AlertCursor>().map_err(|e| e.to_string())
    })?;
    blocking(move || {
        let page = state.node.store.alerts(&filter, cursor, limit)?;
        let membership = state.node.membership.get();
        // The group rules need the groups (a read of every group update): only when
        // the page holds a record addressed to a group.
        let to_a_group = |record: &crate::store::Readable| {
            matches!(
                record.distribution,
                customs_protocol::Distribution::Group(_)
            )
        };
        let groups = match page.items.iter().any(|item| to_a_group(&item.record)) {
            true => state.node.store.groups(&membership)?,
            false => Default::default(),
        };
        let mut withheld = 0;
        let items = page
            .items
            .into_iter()
            .filter_map(|item| {
                let e = item.entry.entry();
                let Body::RiskAlert(alert) = &item.record.body else {
                    return None;
                };
                if !route.matches(alert) {
                    return None;
                }
                // Signed by a key that was closed for it (revoked, rotated, a removed
                // member) but stored before this node knew: not shown.
                if standing(&membership, &e.author, e.seq, e.created_at_ms).0 == "refused"
                    || (to_a_group(&item.record)
                        && group_refusal(&groups, &membership, &item.record, e).is_some())
                {
                    return None;
                }
                if outbound && item.record.may_leave_network().is_err() {
                    withheld += 1;
                    return None;
                }
                Some(AlertItem {
                    meta: EntryMeta::of(&item.entry, state.code_of(&item.entry.entry().author)),
                    retracted_by: item.retracted_by,
                    alert: alert.clone(),
                    markings: item.record.markings.clone(),
                    distribution: item.record.distribution.clone(),
                })
            })
            .collect();
        let list = AlertList {
            items,
            next: page.next.map(|c| c.to_string()),
        };
        Ok((list, withheld))
    })
    .await
}
