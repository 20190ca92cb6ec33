//! The figures behind the console's dashboard, counted on the node from the records
//! it reads: alerts per week and category, the busiest routes and places of
//! detection, requests by state, and the results and hit rate of the loop.

use std::collections::{BTreeMap, HashMap};

use axum::extract::State;
use axum::Json;
use customs_protocol::body::Category;
use customs_protocol::control::{
    effectiveness, request_state, ControlRequest, Outcome, RequestState, Response,
};
use customs_protocol::{Body, Date, RiskAlert};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::alerts::parse_enum;
use super::blocking;
use crate::api::error::{ApiError, ErrorBody};
use crate::api::extract::{query_value, QueryParams};
use crate::api::views::standing;
use crate::api::ApiState;
use crate::store::AlertFilter;

/// At most this many alerts are counted for one answer (`truncated` says so).
pub const MAX_STATS_ALERTS: usize = 100_000;
/// Routes and places listed, busiest first.
pub const MAX_STATS_ROUTES: usize = 50;

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct StatsQuery {
    /// First day counted (YYYY-MM-DD; default: a year before `to`).
    from: Option<String>,
    /// Last day counted (YYYY-MM-DD; default: today, UTC).
    to: Option<String>,
    /// Only this category (drugs, tobacco, ...).
    category: Option<String>,
    /// Only records of this member (its code).
    member: Option<String>,
}

/// Alerts detected in one week (Monday to Sunday), by category.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
pub struct WeekCount {
    /// The week's Monday, YYYY-MM-DD.
    pub week_start: String,
    /// Alerts by category (only categories with any).
    pub counts: BTreeMap<String, u64>,
    pub total: u64,
}

/// Alerts along one route, origin to destination (either may be absent: `null`).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
pub struct RouteCount {
    pub origin: Option<String>,
    /// Transit countries, in order, of the most frequent variant.
    pub transit: Vec<String>,
    pub destination: Option<String>,
    pub alerts: u64,
}

/// Alerts detected at one place.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
pub struct PlaceCount {
    pub unlocode: String,
    /// Its country (the UN/LOCODE's first two letters).
    pub country: String,
    pub alerts: u64,
}

/// Requests for control by state, as the loop's rule gives it today.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
pub struct RequestCounts {
    pub total: u64,
    pub open: u64,
    pub acknowledged: u64,
    pub answered: u64,
    pub overdue: u64,
}

/// The results reported by addressees on those requests.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct ResultCounts {
    /// Results by outcome (seized, controlled_nothing_found, not_controlled,
    /// not_arrived).
    pub outcomes: BTreeMap<String, u64>,
    /// Requests (per addressee) answered with a result.
    pub answered: u64,
    /// Of those, the ones with a seizure.
    pub hits: u64,
    /// hits / answered; null when nothing was answered.
    pub hit_rate: Option<f64>,
}

/// The dashboard's figures.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct StatsView {
    pub from: String,
    pub to: String,
    /// Alerts detected from `from` to `to` (retracted ones left out).
    pub alerts: u64,
    /// Every week of the period, oldest first, empty weeks included.
    pub alerts_per_week: Vec<WeekCount>,
    /// Alerts per category over the period.
    pub categories: BTreeMap<String, u64>,
    /// The busiest routes (at most 50), busiest first.
    pub routes: Vec<RouteCount>,
    /// The busiest places of detection (at most 50), busiest first.
    pub places: Vec<PlaceCount>,
    /// Requests sent in the period.
    pub requests: RequestCounts,
    pub results: ResultCounts,
    /// True when more than 100,000 alerts matched: the figures count the newest.
    pub truncated: bool,
}

/// The Monday of a date's week.
fn week_start(date: Date) -> Date {
    // 1970-01-01 was a Thursday: day 0 is weekday 3 counting from Monday.
    let days = date.days_since_epoch();
    let monday = days - (days + 3).rem_euclid(7);
    // Dates are checked to be after 1970 (SPEC section 6): no negative day.
    Date::from_unix_ms(monday.max(0) as u64 * 86_400_000)
}

/// A route's origin and destination.
type RouteEnds = (Option<String>, Option<String>);

/// What [`AlertTally::finish`] gives: the alert part of [`StatsView`].
#[derive(Debug)]
pub struct AlertFigures {
    pub total: u64,
    pub weeks: Vec<WeekCount>,
    pub categories: BTreeMap<String, u64>,
    pub routes: Vec<RouteCount>,
    pub places: Vec<PlaceCount>,
}

/// Counts alerts as they come (pure: the handler feeds it what the store reads).
#[derive(Debug, Default)]
pub struct AlertTally {
    weeks: BTreeMap<Date, BTreeMap<String, u64>>,
    categories: BTreeMap<String, u64>,
    /// (origin, destination) -> transit variants and their counts.
    routes: HashMap<RouteEnds, HashMap<Vec<String>, u64>>,
    places: HashMap<String, u64>,
    total: u64,
}

impl AlertTally {
    pub fn add(&mut self, alert: &RiskAlert) {
        self.total += 1;
        let category = alert.category.as_str().to_string();
        *self
            .weeks
            .entry(week_start(alert.detected_on))
            .or_default()
            .entry(category.clone())
            .or_default() += 1;
        *self.categories.entry(category).or_default() += 1;
        let route = &alert.route;
        if route.origin.is_some() || route.destination.is_some() {
            let key = (
                route.origin.map(|c| c.to_string()),
                route.destination.map(|c| c.to_string()),
            );
            let transit = route.transit.iter().map(|c| c.to_string()).collect();
            *self
                .routes
                .entry(key)
                .or_default()
                .entry(transit)
                .or_default() += 1;
        }
        *self
            .places
            .entry(alert.location.unlocode.clone())
            .or_default() += 1;
    }

    /// Every week from `from` to `to`; the busiest routes and places (ties by name).
    pub fn finish(self, from: Date, to: Date) -> AlertFigures {
        let mut weeks = Vec::new();
        let mut week = week_start(from);
        while week <= to {
            let counts = self.weeks.get(&week).cloned().unwrap_or_default();
            weeks.push(WeekCount {
                week_start: week.to_string(),
                total: counts.values().sum(),
                counts,
            });
            week = Date::from_unix_ms(((week.days_since_epoch() + 7) * 86_400_000) as u64);
        }
        let mut routes: Vec<RouteCount> = self
            .routes
            .into_iter()
            .map(|((origin, destination), variants)| {
                let alerts = variants.values().sum();
                let transit = variants
                    .into_iter()
                    .max_by(|a, b| a.1.cmp(&b.1).then(b.0.cmp(&a.0)))
                    .map(|(t, _)| t)
                    .unwrap_or_default();
                RouteCount {
                    origin,
                    transit,
                    destination,
                    alerts,
                }
            })
            .collect();
        routes.sort_by(|a, b| {
            b.alerts
                .cmp(&a.alerts)
                .then((&a.origin, &a.destination).cmp(&(&b.origin, &b.destination)))
        });
        routes.truncate(MAX_STATS_ROUTES);
        let mut places: Vec<PlaceCount> = self
            .places
            .into_iter()
            .map(|(unlocode, alerts)| PlaceCount {
                country: unlocode.get(..2).unwrap_or_default().to_string(),
                unlocode,
                alerts,
            })
            .collect();
        places.sort_by(|a, b| b.alerts.cmp(&a.alerts).then(a.unlocode.cmp(&b.unlocode)));
        places.truncate(MAX_STATS_ROUTES);
        AlertFigures {
            total: self.total,
            weeks,
            categories: self.categories,
            routes,
            places,
        }
    }
}

/// The requests' states and their results' figures.
pub fn loop_counts(
    requests: &[(ControlRequest, Vec<Response>)],
    now_ms: i64,
) -> (RequestCounts, ResultCounts) {
    let mut counts = RequestCounts::default();
    let mut results = ResultCounts::default();
    for (request, responses) in requests {
        counts.total += 1;
        match request_state(request, responses, now_ms) {
            RequestState::Open => counts.open += 1,
            RequestState::Acknowledged => counts.acknowledged += 1,
            RequestState::Answered => counts.answered += 1,
            RequestState::Overdue => counts.overdue += 1,
        }
        for response in responses {
            if let Response::Result { outcome, .. } = response {
                *results.outcomes.entry(outcome_name(*outcome)).or_default() += 1;
            }
        }
    }
    for row in effectiveness(requests) {
        results.answered += row.answered;
        results.hits += row.hits;
    }
    results.hit_rate =
        (results.answered > 0).then(|| results.hits as f64 / results.answered as f64);
    (counts, results)
}

fn outcome_name(outcome: Outcome) -> String {
    outcome.as_str().to_string()
}

/// The dashboard's figures.
///
/// Counted on this node from the records it reads, for the period (default: the year
/// to today) and optionally one category and one member: alerts per week and
/// category (by detection date; retracted alerts left out), the busiest routes and
/// places of detection, requests sent in the period by state, and the results their
/// addressees reported, with the hit rate (requests answered with a seizure over
/// requests answered, per addressee).
#[utoipa::path(
    get,
    path = "/api/v1/stats",
    tag = "alerts",
    params(StatsQuery),
    responses(
        (status = 200, body = StatsView),
        (status = 400, description = "A query parameter is invalid; `field` names it", body = ErrorBody),
        (status = 401, body = ErrorBody),
    )
)]
pub async fn stats(
    State(state): State<ApiState>,
    QueryParams(query): QueryParams<StatsQuery>,
) -> Result<Json<StatsView>, ApiError> {
    let now_ms = crate::clock::now_ms();
    let date = |name: &str, value: &Option<String>| {
        query_value(name, value.as_deref(), |t| {
            Date::parse_valid(t).map_err(|r| r.to_string())
        })
    };
    let to = date("to", &query.to)?.unwrap_or_else(|| Date::from_unix_ms(now_ms));
    let from = date("from", &query.from)?
        .unwrap_or_else(|| Date::from_unix_ms(now_ms.saturating_sub(364 * 86_400_000)));
    if from > to {
        return Err(ApiError::bad_query(
            "to",
            format!("to ({to}) is before from ({from})"),
        ));
    }
    if to.days_since_epoch() - from.days_since_epoch() > 3 * 366 {
        return Err(ApiError::bad_query(
            "from",
            "a period of at most three years",
        ));
    }
    let category = query_value::<Category>("category", query.category.as_deref(), parse_enum)?;
    let authors = match &query.member {
        Some(code) => Some(state.member_nodes("member", code)?),
        None => None,
    };
    let view = blocking(move || {
        let store = &state.node.store;
        let membership = state.node.membership.get();
        let filter = AlertFilter {
            category,
            from: Some(from),
            to: Some(to),
            author: authors.clone(),
            ..AlertFilter::default()
        };
        let mut tally = AlertTally::default();
        let (mut cursor, mut truncated) = (None, false);
        'pages: loop {
            let page = store.alerts(&filter, cursor, crate::limits::MAX_ALERT_PAGE)?;
            for item in &page.items {
                let e = item.entry.entry();
                let Body::RiskAlert(alert) = &item.record.body else {
                    continue;
                };
                if standing(&membership, &e.author, e.seq, e.created_at_ms).0 == "refused" {
                    continue;
                }
                if tally.total as usize == MAX_STATS_ALERTS {
                    truncated = true;
                    break 'pages;
                }
                tally.add(alert);
            }
            match page.next {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        let mut requests = Vec::new();
        let (first_ms, last_ms) = (
            from.days_since_epoch() * 86_400_000,
            (to.days_since_epoch() + 1) * 86_400_000,
        );
        store.requests(usize::MAX, |item| {
            let e = item.entry.entry();
            let sent = e.created_at_ms as i64;
            let by_member = authors.as_ref().is_none_or(|keys| keys.contains(&e.author));
            let in_category = category.is_none_or(|c| item.request.category == Some(c));
            if by_member && in_category && (first_ms..last_ms).contains(&sent) {
                let responses = store.responses(&item.entry.id(), |k| state.code_of(k))?;
                requests.push((item.request.clone(), responses));
            }
            Ok(false)
        })?;
        let (request_counts, results) = loop_counts(&requests, now_ms as i64);
        let figures = tally.finish(from, to);
        Ok(StatsView {
            from: from.to_string(),
            to: to.to_string(),
            alerts: figures.total,
            alerts_per_week: figures.weeks,
            categories: figures.categories,
            routes: figures.routes,
            places: figures.places,
            requests: request_counts,
            results,
            truncated,
        })
    })
    .await?;
    Ok(Json(view))
}

#[cfg(test)]
mod tests {
    use super::*;
    use customs_protocol::codes::Country;
    use customs_protocol::samples;

    fn alert(category: Category, detected_on: Date, origin: &str, place: &str) -> RiskAlert {
        let mut alert = samples::risk_alert();
        alert.category = category;
        alert.detected_on = detected_on;
        alert.route.origin = Country::parse_shape(origin);
        alert.location.unlocode = place.into();
        alert
    }

    #[test]
    fn weeks_start_on_monday() {
        // 2026-11-30 is a Monday; 2026-12-06 the Sunday after it.
        assert_eq!(week_start(Date::new(2026, 11, 30)), Date::new(2026, 11, 30));
        assert_eq!(week_start(Date::new(2026, 12, 6)), Date::new(2026, 11, 30));
        assert_eq!(week_start(Date::new(2026, 12, 7)), Date::new(2026, 12, 7));
        assert_eq!(week_start(Date::new(2027, 1, 1)), Date::new(2026, 12, 28));
    }

    #[test]
    fn alerts_are_counted_by_week_route_and_place() {
        let mut tally = AlertTally::default();
        tally.add(&alert(
            Category::Drugs,
            Date::new(2026, 11, 30),
            "EC",
            "NLRTM",
        ));
        tally.add(&alert(
            Category::Drugs,
            Date::new(2026, 12, 2),
            "EC",
            "NLRTM",
        ));
        tally.add(&alert(
            Category::Tobacco,
            Date::new(2026, 12, 9),
            "CN",
            "BEANR",
        ));
        let AlertFigures {
            total,
            weeks,
            categories,
            routes,
            places,
        } = tally.finish(Date::new(2026, 11, 25), Date::new(2026, 12, 10));
        assert_eq!(total, 3);
        let starts: Vec<&str> = weeks.iter().map(|w| w.week_start.as_str()).collect();
        assert_eq!(
            starts,
            ["2026-11-23", "2026-11-30", "2026-12-07"],
            "empty weeks included"
        );
        assert_eq!(weeks[0].total, 0);
        assert_eq!(weeks[1].counts.get("drugs"), Some(&2));
        assert_eq!(weeks[2].counts.get("tobacco"), Some(&1));
        assert_eq!(categories.get("drugs"), Some(&2));
        assert_eq!(routes[0].origin.as_deref(), Some("EC"));
        assert_eq!(routes[0].alerts, 2);
        assert_eq!(
            routes[0].transit,
            samples::risk_alert()
                .route
                .transit
                .iter()
                .map(|c| c.to_string())
                .collect::<Vec<_>>()
        );
        assert_eq!(
            (places[0].unlocode.as_str(), places[0].alerts),
            ("NLRTM", 2)
        );
        assert_eq!(places[1].country, "BE");
    }

    #[test]
    fn the_hit_rate_is_hits_over_answers() {
        let mut request = samples::control_request();
        request.addressed_to = vec!["BE".into(), "DE".into()];
        let seized = Response::Result {
            by: "BE".into(),
            outcome: Outcome::Seized,
        };
        let nothing = Response::Result {
            by: "DE".into(),
            outcome: Outcome::ControlledNothingFound,
        };
        let requests = vec![
            (request.clone(), vec![seized, nothing]),
            (request.clone(), vec![]),
        ];
        let before_arrival = request.arrival.eta.unix_ms() - 1;
        let (counts, results) = loop_counts(&requests, before_arrival);
        assert_eq!((counts.total, counts.answered, counts.open), (2, 1, 1));
        assert_eq!((results.answered, results.hits), (2, 1));
        assert_eq!(results.hit_rate, Some(0.5));
        assert_eq!(results.outcomes.get("seized"), Some(&1));
        let (counts, _) = loop_counts(&requests, request.arrival.eta.unix_ms() + 1);
        assert_eq!(counts.overdue, 1, "past its arrival without a result");
        assert_eq!(loop_counts(&[], 0).1.hit_rate, None);
    }
}
