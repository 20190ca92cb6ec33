//! The operational loop: a request for control addressed to other members, their
//! acknowledgement, and the result of the control; and the rules every node applies
//! to derive a request's state and the loop's figures from the log (pure functions,
//! tested over random histories in any order).

use std::collections::{BTreeMap, BTreeSet};

use bincode::{Decode, Encode};
use serde::{Deserialize, Serialize};

use crate::body::{at, check_count, check_text, Category, Location, Quantity};
use crate::codes::{
    check_air_waybill, check_amount, check_container, check_currency, check_document_number,
    check_flight, check_hs_code, check_imo, check_mrn, check_reference, check_unlocode,
    check_vehicle,
};
use crate::date::{Date, Timestamp};
use crate::entry::EntryId;
use crate::error::{Rule, ValidationError};
use crate::governance::check_member_code;
use crate::limits::*;
#[cfg(feature = "openapi")]
use crate::openapi::ContainerNumber;

/// The identifiers of a consignment, each optional.
#[derive(Clone, Debug, Default, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Consignment {
    /// ISO 6346 container numbers, check digit included.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(max_items = 50, inline, value_type = Vec<ContainerNumber>))]
    pub containers: Vec<String>,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(pattern = r"^[A-Z0-9/-]{1,35}$"))]
    pub bill_of_lading: Option<String>,
    /// IATA air waybill: 11 digits, the last the serial modulo 7.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(pattern = r"^[0-9]{11}$"))]
    pub air_waybill: Option<String>,
    /// Movement reference number (18 characters, check character last).
    #[serde(default)]
    #[cfg_attr(
        feature = "openapi",
        schema(pattern = r"^[0-9]{2}[A-Z]{2}[A-Z0-9]{14}$")
    )]
    pub mrn: Option<String>,
    /// Vehicle registration.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(pattern = r"^[A-Z0-9 -]{1,16}$"))]
    pub vehicle: Option<String>,
    /// IMO ship number (7 digits, check digit included).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(pattern = r"^[0-9]{7}$"))]
    pub vessel_imo: Option<String>,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(pattern = r"^[A-Z0-9/-]{1,17}$"))]
    pub voyage: Option<String>,
    #[serde(default)]
    pub flight: Option<String>,
}

impl Consignment {
    pub fn is_empty(&self) -> bool {
        self == &Consignment::default()
    }

    /// Checks every identifier; `field` is where the consignment sits.
    pub fn validate(&self, field: &str) -> Result<(), ValidationError> {
        if self.is_empty() {
            return Err(ValidationError::new(
                field,
                Rule::Required {
                    what: "at least one identifier of the consignment",
                },
            ));
        }
        let path = |name: &str| format!("{field}.{name}");
        check_count(self.containers.len(), MAX_CONTAINERS).map_err(at(path("containers")))?;
        for (i, container) in self.containers.iter().enumerate() {
            let here = || format!("{field}.containers[{i}]");
            check_container(container).map_err(at(here()))?;
            if self.containers[..i].contains(container) {
                return Err(ValidationError::new(
                    here(),
                    Rule::Duplicate {
                        value: container.clone(),
                    },
                ));
            }
        }
        if let Some(bl) = &self.bill_of_lading {
            check_document_number(bl, MAX_BILL_OF_LADING_BYTES)
                .map_err(at(path("bill_of_lading")))?;
        }
        if let Some(awb) = &self.air_waybill {
            check_air_waybill(awb).map_err(at(path("air_waybill")))?;
        }
        if let Some(mrn) = &self.mrn {
            check_mrn(mrn).map_err(at(path("mrn")))?;
        }
        if let Some(vehicle) = &self.vehicle {
            check_vehicle(vehicle).map_err(at(path("vehicle")))?;
        }
        if let Some(imo) = &self.vessel_imo {
            check_imo(imo).map_err(at(path("vessel_imo")))?;
        }
        if let Some(voyage) = &self.voyage {
            check_document_number(voyage, MAX_VOYAGE_BYTES).map_err(at(path("voyage")))?;
        }
        if let Some(flight) = &self.flight {
            check_flight(flight).map_err(at(path("flight")))?;
        }
        Ok(())
    }
}

/// Where and when the consignment is expected.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Arrival {
    #[cfg_attr(feature = "openapi", schema(pattern = r"^[A-Z]{2}[A-Z2-9]{3}$"))]
    pub unlocode: String,
    /// Expected time of arrival, UTC: `YYYY-MM-DDTHH:MM:SSZ`.
    #[cfg_attr(feature = "openapi", schema(value_type = String, example = "2027-01-15T08:00:00Z"))]
    pub eta: Timestamp,
}

/// What the requester asks the addressees to do (the EU CIS actions).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Encode, Decode, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum RequestedAction {
    SightingReport,
    SpecificCheck,
    OperationalAnalysis,
}

/// A request to check a consignment, addressed to one or more members.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ControlRequest {
    /// The requesting administration's reference.
    #[cfg_attr(feature = "openapi", schema(pattern = r"^[A-Za-z0-9./_-]{1,64}$"))]
    pub reference: String,
    /// Member codes of the administrations asked to act.
    #[cfg_attr(feature = "openapi", schema(min_items = 1, max_items = 32))]
    pub addressed_to: Vec<String>,
    pub consignment: Consignment,
    pub arrival: Arrival,
    pub requested_action: RequestedAction,
    /// The suspected kind of goods, for the loop's figures.
    #[serde(default)]
    pub category: Option<Category>,
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 2000))]
    pub reason: String,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(max_items = 20))]
    pub indicators: Vec<String>,
    /// Ids of related alerts.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(max_items = 20, value_type = Vec<String>))]
    pub related: Vec<EntryId>,
}

impl ControlRequest {
    pub fn validate(&self) -> Result<(), ValidationError> {
        check_reference(&self.reference).map_err(at("reference"))?;
        if self.addressed_to.is_empty() {
            return Err(ValidationError::new(
                "addressed_to",
                Rule::Required {
                    what: "at least one member to address",
                },
            ));
        }
        check_count(self.addressed_to.len(), MAX_ADDRESSEES).map_err(at("addressed_to"))?;
        for (i, code) in self.addressed_to.iter().enumerate() {
            check_member_code(code).map_err(at(format!("addressed_to[{i}]")))?;
            if self.addressed_to[..i].contains(code) {
                return Err(ValidationError::new(
                    format!("addressed_to[{i}]"),
                    Rule::Duplicate {
                        value: code.clone(),
                    },
                ));
            }
        }
        self.consignment.validate("consignment")?;
        check_unlocode(&self.arrival.unlocode).map_err(at("arrival.unlocode"))?;
        self.arrival.eta.check().map_err(at("arrival.eta"))?;
        check_text(&self.reason, MAX_DESCRIPTION_BYTES, true).map_err(at("reason"))?;
        check_count(self.indicators.len(), MAX_INDICATORS).map_err(at("indicators"))?;
        for (i, indicator) in self.indicators.iter().enumerate() {
            check_text(indicator, MAX_INDICATOR_BYTES, false)
                .map_err(at(format!("indicators[{i}]")))?;
        }
        check_count(self.related.len(), MAX_RELATED).map_err(at("related"))?;
        Ok(())
    }
}

/// An addressee has received a request and will act on it.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Acknowledgement {
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub request: EntryId,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 500))]
    pub note: Option<String>,
}

impl Acknowledgement {
    pub fn validate(&self) -> Result<(), ValidationError> {
        if let Some(note) = &self.note {
            check_text(note, MAX_REASON_BYTES, true).map_err(at("note"))?;
        }
        Ok(())
    }
}

/// What a control found.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Encode, Decode, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Outcome {
    Seized,
    ControlledNothingFound,
    NotControlled,
    NotArrived,
}

impl Outcome {
    pub fn as_str(&self) -> &'static str {
        match self {
            Outcome::Seized => "seized",
            Outcome::ControlledNothingFound => "controlled_nothing_found",
            Outcome::NotControlled => "not_controlled",
            Outcome::NotArrived => "not_arrived",
        }
    }
}

/// The goods a control found.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Found {
    pub category: Category,
    #[serde(default)]
    pub hs_code: Option<String>,
    #[serde(default)]
    pub quantity: Option<Quantity>,
}

/// The result of a control, answering a request (from an addressee) or any alert.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ControlResult {
    /// The request or alert this answers.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub subject: EntryId,
    pub outcome: Outcome,
    /// Required when the consignment was controlled.
    #[serde(default)]
    pub controlled_on: Option<Date>,
    #[serde(default)]
    pub location: Option<Location>,
    /// Required for `seized`.
    #[serde(default)]
    pub found: Option<Found>,
    /// The seizure alert the controlling administration published, if any.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub seizure_alert: Option<EntryId>,
    /// Required for `not_controlled`.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 500))]
    pub reason_not_controlled: Option<String>,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 2000))]
    pub notes: Option<String>,
}

impl ControlResult {
    pub fn validate(&self) -> Result<(), ValidationError> {
        let controlled = matches!(
            self.outcome,
            Outcome::Seized | Outcome::ControlledNothingFound
        );
        match self.controlled_on {
            Some(date) => date.check().map_err(at("controlled_on"))?,
            None if controlled => {
                return Err(ValidationError::new(
                    "controlled_on",
                    Rule::Required {
                        what: "the date of the control is required when it took place",
                    },
                ))
            }
            None => {}
        }
        if let Some(location) = &self.location {
            check_unlocode(&location.unlocode).map_err(at("location.unlocode"))?;
        }
        match (&self.found, self.outcome) {
            (None, Outcome::Seized) => {
                return Err(ValidationError::new(
                    "found",
                    Rule::Required {
                        what: "what was seized is required for a seizure",
                    },
                ))
            }
            (Some(_), outcome) if outcome != Outcome::Seized => {
                return Err(ValidationError::new(
                    "found",
                    Rule::Placement {
                        reason: "only a seizure says what was found",
                    },
                ))
            }
            (Some(found), _) => {
                if let Some(hs) = &found.hs_code {
                    check_hs_code(hs).map_err(at("found.hs_code"))?;
                }
                if let Some(quantity) = &found.quantity {
                    check_amount(&quantity.amount).map_err(at("found.quantity.amount"))?;
                }
            }
            (None, _) => {}
        }
        if self.seizure_alert.is_some() && self.outcome != Outcome::Seized {
            return Err(ValidationError::new(
                "seizure_alert",
                Rule::Placement {
                    reason: "only a seizure links a seizure alert",
                },
            ));
        }
        match (&self.reason_not_controlled, self.outcome) {
            (Some(reason), Outcome::NotControlled) => {
                check_text(reason, MAX_REASON_BYTES, true).map_err(at("reason_not_controlled"))?
            }
            (None, Outcome::NotControlled) => {
                return Err(ValidationError::new(
                    "reason_not_controlled",
                    Rule::ReasonRequired {
                        status: "not_controlled",
                    },
                ))
            }
            (Some(_), _) => {
                return Err(ValidationError::new(
                    "reason_not_controlled",
                    Rule::Placement {
                        reason: "only a result of not_controlled gives a reason for it",
                    },
                ))
            }
            (None, _) => {}
        }
        if let Some(notes) = &self.notes {
            check_text(notes, MAX_DESCRIPTION_BYTES, true).map_err(at("notes"))?;
        }
        Ok(())
    }
}

/// An estimated value and its ISO 4217 currency.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Money {
    /// A positive decimal as text, e.g. "2500000".
    pub amount: String,
    #[cfg_attr(feature = "openapi", schema(pattern = r"^[A-Z]{3}$", example = "EUR"))]
    pub currency: String,
}

impl Money {
    pub fn validate(&self, field: &str) -> Result<(), ValidationError> {
        check_amount(&self.amount).map_err(at(format!("{field}.amount")))?;
        check_currency(&self.currency).map_err(at(format!("{field}.currency")))
    }
}

/// The customs direction of a movement.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Encode, Decode, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Direction {
    Import,
    Export,
    Transit,
}

/// Where a request stands, derived from the log.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum RequestState {
    /// No addressee has acknowledged or answered it, and it is not yet due.
    Open,
    /// An addressee acknowledged it; no result yet, not yet due.
    Acknowledged,
    /// An addressee reported a result.
    Answered,
    /// Past its arrival time without a result.
    Overdue,
}

impl RequestState {
    pub const ALL: [RequestState; 4] = [
        RequestState::Open,
        RequestState::Acknowledged,
        RequestState::Answered,
        RequestState::Overdue,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            RequestState::Open => "open",
            RequestState::Acknowledged => "acknowledged",
            RequestState::Answered => "answered",
            RequestState::Overdue => "overdue",
        }
    }

    pub fn parse(text: &str) -> Option<RequestState> {
        RequestState::ALL.into_iter().find(|s| s.as_str() == text)
    }
}

/// A response to a request as the loop sees it: who sent it and what it says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Response {
    Acknowledged { by: String },
    Result { by: String, outcome: Outcome },
}

impl Response {
    pub fn by(&self) -> &str {
        match self {
            Response::Acknowledged { by } | Response::Result { by, .. } => by,
        }
    }
}

/// Whether a response counts for a request: only its addressees acknowledge and
/// answer it (anyone may answer an alert).
pub fn counts_for(request: &ControlRequest, response: &Response) -> bool {
    request
        .addressed_to
        .iter()
        .any(|code| code == response.by())
}

/// The state of `request` given the responses stored for it (in any order,
/// duplicates allowed) at `now_ms`. Responses from others than its addressees are
/// ignored.
pub fn request_state(
    request: &ControlRequest,
    responses: &[Response],
    now_ms: i64,
) -> RequestState {
    let counted = || responses.iter().filter(|r| counts_for(request, r));
    if counted().any(|r| matches!(r, Response::Result { .. })) {
        RequestState::Answered
    } else if now_ms > request.arrival.eta.unix_ms() {
        RequestState::Overdue
    } else if counted().next().is_some() {
        RequestState::Acknowledged
    } else {
        RequestState::Open
    }
}

/// The loop's figures for one addressee and one category (`None`: not given).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Effectiveness {
    pub member: String,
    pub category: Option<Category>,
    /// Requests addressed to the member.
    pub requests: u64,
    /// Of those, the ones it reported a result for.
    pub answered: u64,
    /// Of those, the ones where its result was a seizure.
    pub hits: u64,
}

/// Per addressee and category: how many requests, how many the addressee answered,
/// and how many of its answers were seizures. `requests` pairs each request with
/// the responses stored for it; a request counts once per addressee however many
/// results that addressee sent. Independent of order; sorted by member, category.
pub fn effectiveness(requests: &[(ControlRequest, Vec<Response>)]) -> Vec<Effectiveness> {
    let mut rows: BTreeMap<(String, Option<&'static str>), Effectiveness> = BTreeMap::new();
    for (request, responses) in requests {
        let addressees: BTreeSet<&String> = request.addressed_to.iter().collect();
        for member in addressees {
            let category = request.category;
            let row = rows
                .entry((member.clone(), category.map(|c| c.as_str())))
                .or_insert_with(|| Effectiveness {
                    member: member.clone(),
                    category,
                    ..Effectiveness::default()
                });
            row.requests += 1;
            let results: Vec<Outcome> = responses
                .iter()
                .filter_map(|r| match r {
                    Response::Result { by, outcome } if by == member => Some(*outcome),
                    _ => None,
                })
                .collect();
            if !results.is_empty() {
                row.answered += 1;
            }
            if results.contains(&Outcome::Seized) {
                row.hits += 1;
            }
        }
    }
    rows.into_values().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::samples;

    fn error_of(edit: impl FnOnce(&mut ControlRequest)) -> (String, &'static str) {
        let mut request = samples::control_request();
        edit(&mut request);
        let e = request.validate().expect_err("invalid");
        (e.field, e.rule.code())
    }

    fn result_error(edit: impl FnOnce(&mut ControlResult)) -> (String, &'static str) {
        let mut result = samples::control_result();
        edit(&mut result);
        let e = result.validate().expect_err("invalid");
        (e.field, e.rule.code())
    }

    fn s(text: &str) -> String {
        text.to_string()
    }

    #[test]
    fn the_documented_request_and_result_parse_and_are_valid() {
        let request = r#"{"reference": "NL-REQ-2027-0042", "addressed_to": ["BE"],
            "consignment": {"containers": ["MSCU1234566"], "bill_of_lading": "MEDUAB123456",
                "air_waybill": "16012345675", "mrn": "26NL000000000012L2", "vehicle": "AB-12-CD",
                "vessel_imo": "9074729", "voyage": "AB123R", "flight": "KL1234"},
            "arrival": {"unlocode": "BEANR", "eta": "2027-01-15T08:00:00Z"},
            "requested_action": "specific_check", "category": "drugs",
            "reason": "Consignee linked to an earlier seizure", "indicators": ["reefer"],
            "related": []}"#;
        let request: ControlRequest = serde_json::from_str(request).expect("parses");
        assert_eq!(request.validate(), Ok(()));
        assert_eq!(request, samples::control_request());
        let result = r#"{"subject": "4242424242424242424242424242424242424242424242424242424242424242",
            "outcome": "seized", "controlled_on": "2027-01-15",
            "location": {"unlocode": "BEANR", "place_type": "seaport"},
            "found": {"category": "drugs", "hs_code": "080390", "quantity": {"amount": "80", "unit": "KGM"}},
            "notes": "in the cooling unit"}"#;
        let result: ControlResult = serde_json::from_str(result).expect("parses");
        assert_eq!(result, samples::control_result());
        assert_eq!(result.validate(), Ok(()));
    }

    #[test]
    fn request_rules() {
        assert_eq!(
            error_of(|r| r.consignment = Consignment::default()),
            (s("consignment"), "Required")
        );
        assert_eq!(
            error_of(|r| r.consignment.containers = vec![s("MSCU1234567")]),
            (s("consignment.containers[0]"), "ContainerCheckDigit")
        );
        assert_eq!(
            error_of(|r| r.consignment.air_waybill = Some(s("16012345676"))),
            (s("consignment.air_waybill"), "AirWaybillCheckDigit")
        );
        assert_eq!(
            error_of(|r| r.consignment.mrn = Some(s("26NL000000000012L7"))),
            (s("consignment.mrn"), "MrnCheckDigit")
        );
        assert_eq!(
            error_of(|r| r.consignment.mrn = Some(s("26QQ000000000012L2"))),
            (s("consignment.mrn"), "MrnFormat")
        );
        assert_eq!(
            error_of(|r| r.consignment.bill_of_lading = Some(s("meduab 1"))),
            (s("consignment.bill_of_lading"), "DocumentNumber")
        );
        assert_eq!(
            error_of(|r| r.consignment.vessel_imo = Some(s("9074728"))),
            (s("consignment.vessel_imo"), "ImoCheckDigit")
        );
        assert_eq!(
            error_of(|r| r.addressed_to.clear()),
            (s("addressed_to"), "Required")
        );
        assert_eq!(
            error_of(|r| r.addressed_to.push(s("BE"))),
            (s("addressed_to[1]"), "Duplicate")
        );
        assert_eq!(
            error_of(|r| r.addressed_to = vec![s("be")]),
            (s("addressed_to[0]"), "MemberCode")
        );
        assert_eq!(
            error_of(|r| r.arrival.unlocode = s("QQANR")),
            (s("arrival.unlocode"), "UnLocodeCountry")
        );
        assert_eq!(error_of(|r| r.reason = s(" ")), (s("reason"), "Empty"));
    }

    #[test]
    fn result_rules() {
        assert_eq!(result_error(|r| r.found = None), (s("found"), "Required"));
        assert_eq!(
            result_error(|r| r.outcome = Outcome::ControlledNothingFound),
            (s("found"), "Placement")
        );
        assert_eq!(
            result_error(|r| r.controlled_on = None),
            (s("controlled_on"), "Required")
        );
        assert_eq!(
            result_error(|r| {
                r.outcome = Outcome::NotControlled;
                r.found = None;
            }),
            (s("reason_not_controlled"), "ReasonRequired")
        );
        assert_eq!(
            result_error(|r| r.reason_not_controlled = Some(s("no capacity"))),
            (s("reason_not_controlled"), "Placement")
        );
        assert_eq!(
            result_error(|r| r.found.as_mut().expect("found").hs_code = Some(s("99"))),
            (s("found.hs_code"), "HsCodeFormat")
        );
        let mut not_arrived = samples::control_result();
        not_arrived.outcome = Outcome::NotArrived;
        not_arrived.found = None;
        not_arrived.controlled_on = None;
        assert_eq!(not_arrived.validate(), Ok(()));
    }

    #[test]
    fn money_needs_an_iso_4217_currency() {
        let money = |currency: &str| Money {
            amount: s("2500000"),
            currency: s(currency),
        };
        assert_eq!(money("EUR").validate("estimated_value"), Ok(()));
        assert_eq!(
            money("EUX")
                .validate("estimated_value")
                .map_err(|e| e.field),
            Err(s("estimated_value.currency"))
        );
    }

    /// Random histories of requests and responses, each seen in two random orders
    /// with duplicates, must give the same states and figures, equal to a direct
    /// count; responses from non-addressees never count. `SIM_SEED` replays a seed.
    #[test]
    fn loop_state_and_figures_do_not_depend_on_order() {
        use rand::seq::SliceRandom;
        use rand::{Rng, SeedableRng};
        let seeds: Vec<u64> = match std::env::var("SIM_SEED") {
            Ok(seed) => vec![seed.parse().expect("SIM_SEED is a number")],
            Err(_) => (0..300).collect(),
        };
        let members = ["BE", "DE", "FR", "NL", "PL"];
        let outcomes = [
            Outcome::Seized,
            Outcome::ControlledNothingFound,
            Outcome::NotControlled,
            Outcome::NotArrived,
        ];
        for seed in seeds {
            let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
            let now_ms = 1_800_000_000_000i64;
            let mut requests = Vec::new();
            for _ in 0..rng.gen_range(1..8) {
                let mut request = samples::control_request();
                let mut addressees: Vec<String> = members
                    .iter()
                    .filter(|_| rng.gen_bool(0.4))
                    .map(|m| m.to_string())
                    .collect();
                if addressees.is_empty() {
                    addressees.push("BE".into());
                }
                request.addressed_to = addressees;
                request.category =
                    [None, Some(Category::Drugs), Some(Category::Tobacco)][rng.gen_range(0..3)];
                request.arrival.eta = Timestamp(now_ms / 1000 + rng.gen_range(-3600..3600));
                let mut responses = Vec::new();
                for _ in 0..rng.gen_range(0..6) {
                    let by = members[rng.gen_range(0..members.len())].to_string();
                    responses.push(if rng.gen_bool(0.4) {
                        Response::Acknowledged { by }
                    } else {
                        Response::Result {
                            by,
                            outcome: outcomes[rng.gen_range(0..4)],
                        }
                    });
                }
                requests.push((request, responses));
            }
            let shuffled = |rng: &mut rand::rngs::StdRng| -> Vec<(ControlRequest, Vec<Response>)> {
                let mut copy: Vec<_> = requests
                    .iter()
                    .map(|(request, responses)| {
                        let mut responses = responses.clone();
                        responses
                            .extend(responses.clone().into_iter().filter(|_| rng.gen_bool(0.3)));
                        responses.shuffle(rng);
                        (request.clone(), responses)
                    })
                    .collect();
                copy.shuffle(rng);
                copy
            };
            let (one, two) = (shuffled(&mut rng), shuffled(&mut rng));
            let figures = |history: &[(ControlRequest, Vec<Response>)]| effectiveness(history);
            assert_eq!(
                figures(&one),
                figures(&two),
                "seed {seed} (replay with SIM_SEED={seed})"
            );
            let mut direct: BTreeMap<(String, Option<&str>), (u64, u64, u64)> = BTreeMap::new();
            for (request, responses) in &requests {
                let state_one = one
                    .iter()
                    .find(|(q, _)| q == request)
                    .map(|(q, r)| request_state(q, r, now_ms));
                let state_two = two
                    .iter()
                    .find(|(q, _)| q == request)
                    .map(|(q, r)| request_state(q, r, now_ms));
                assert_eq!(
                    state_one, state_two,
                    "seed {seed} (replay with SIM_SEED={seed})"
                );
                let answered_by: Vec<&Response> = responses
                    .iter()
                    .filter(|r| request.addressed_to.iter().any(|a| a == r.by()))
                    .collect();
                let expected = if answered_by
                    .iter()
                    .any(|r| matches!(r, Response::Result { .. }))
                {
                    RequestState::Answered
                } else if now_ms > request.arrival.eta.unix_ms() {
                    RequestState::Overdue
                } else if !answered_by.is_empty() {
                    RequestState::Acknowledged
                } else {
                    RequestState::Open
                };
                assert_eq!(
                    state_one,
                    Some(expected),
                    "seed {seed} (replay with SIM_SEED={seed})"
                );
                for member in &request.addressed_to {
                    let row = direct
                        .entry((member.clone(), request.category.map(|c| c.as_str())))
                        .or_default();
                    row.0 += 1;
                    let mine = responses.iter().filter_map(|r| match r {
                        Response::Result { by, outcome } if by == member => Some(*outcome),
                        _ => None,
                    });
                    let mine: Vec<Outcome> = mine.collect();
                    row.1 += u64::from(!mine.is_empty());
                    row.2 += u64::from(mine.contains(&Outcome::Seized));
                }
            }
            let from_rule: Vec<(u64, u64, u64)> = figures(&one)
                .iter()
                .map(|e| (e.requests, e.answered, e.hits))
                .collect();
            assert_eq!(
                from_rule,
                direct.into_values().collect::<Vec<_>>(),
                "seed {seed} (replay with SIM_SEED={seed})"
            );
        }
    }
}
