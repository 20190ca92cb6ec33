//! The typed bodies an entry carries, and their field rules.
//!
//! Serde gives the JSON shape the API speaks (it checks shapes: strings, dates of the
//! form YYYY-MM-DD, two-letter country codes); `validate` checks every rule, and is
//! what decides validity for bytes from the network too. Field paths in errors match
//! the JSON names.

use bincode::{Decode, Encode};
use serde::{Deserialize, Serialize};

use crate::codes::{
    check_amount, check_container, check_document_number, check_flight, check_hs_code, check_imo,
    check_operator_id, check_reference, check_unlocode, check_vehicle, Country, Unit,
};
use crate::control::{
    Acknowledgement, Consignment, ControlRequest, ControlResult, Direction, Money,
};
use crate::date::Date;
use crate::entry::EntryId;
use crate::envelope::Envelope;
use crate::error::{Rule, ValidationError};
use crate::governance::{CausalGovernance, Governance};
use crate::groups::GroupUpdate;
use crate::limits::*;
#[cfg(feature = "openapi")]
use crate::openapi::ContainerNumber;

/// What an entry says. Tags (in declaration order from 0) are part of the format.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
#[serde(tag = "type", content = "data", rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Body {
    RiskAlert(RiskAlert),
    AeoRecord(AeoRecord),
    Retraction(Retraction),
    /// Membership and keys: proposals, approvals, certificates, revocations.
    Governance(Governance),
    /// A restricted record: its distribution, markings and body, encrypted to its
    /// recipients. Never in JSON: the API shows what it opens to.
    #[serde(skip)]
    Sealed(Envelope),
    /// A closed user group's definition at one epoch; only ever inside an envelope.
    Group(GroupUpdate),
    /// A request to check a consignment, addressed to other members.
    ControlRequest(ControlRequest),
    /// An addressee has received a request.
    Acknowledgement(Acknowledgement),
    /// What a control found, answering a request or an alert.
    ControlResult(ControlResult),
    /// A governance act with the governance heads its author held (from
    /// 2026-12-08; tag 3 is read, never signed any more).
    CausalGovernance(CausalGovernance),
}

/// The kind of a body, for indexes, metrics and filters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum BodyKind {
    RiskAlert,
    AeoRecord,
    Retraction,
    Governance,
    Sealed,
    Group,
    ControlRequest,
    Acknowledgement,
    ControlResult,
    CausalGovernance,
}

impl BodyKind {
    pub fn as_str(&self) -> &'static str {
        match self {
            BodyKind::RiskAlert => "risk_alert",
            BodyKind::AeoRecord => "aeo_record",
            BodyKind::Retraction => "retraction",
            BodyKind::Governance => "governance",
            BodyKind::Sealed => "sealed",
            BodyKind::Group => "group",
            BodyKind::ControlRequest => "control_request",
            BodyKind::Acknowledgement => "acknowledgement",
            BodyKind::ControlResult => "control_result",
            BodyKind::CausalGovernance => "causal_governance",
        }
    }
}

impl Body {
    /// Whether a record of this kind may list attachments: the records an officer
    /// writes about goods and operators, not retractions, governance or envelopes.
    pub fn may_carry_attachments(&self) -> bool {
        matches!(
            self,
            Body::RiskAlert(_)
                | Body::AeoRecord(_)
                | Body::ControlRequest(_)
                | Body::ControlResult(_)
        )
    }

    /// The governance act of a governance entry, of either layout.
    pub fn governance(&self) -> Option<&Governance> {
        match self {
            Body::Governance(act) => Some(act),
            Body::CausalGovernance(causal) => Some(&causal.act),
            _ => None,
        }
    }

    pub fn kind(&self) -> BodyKind {
        match self {
            Body::RiskAlert(_) => BodyKind::RiskAlert,
            Body::AeoRecord(_) => BodyKind::AeoRecord,
            Body::Retraction(_) => BodyKind::Retraction,
            Body::Governance(_) => BodyKind::Governance,
            Body::Sealed(_) => BodyKind::Sealed,
            Body::Group(_) => BodyKind::Group,
            Body::ControlRequest(_) => BodyKind::ControlRequest,
            Body::Acknowledgement(_) => BodyKind::Acknowledgement,
            Body::ControlResult(_) => BodyKind::ControlResult,
            Body::CausalGovernance(_) => BodyKind::CausalGovernance,
        }
    }

    /// Checks every field rule. Paths are relative to the body's fields.
    pub fn validate(&self) -> Result<(), ValidationError> {
        match self {
            Body::RiskAlert(alert) => alert.validate(),
            Body::AeoRecord(record) => record.validate(),
            Body::Retraction(retraction) => retraction.validate(),
            Body::Governance(governance) => governance.validate(),
            Body::Sealed(envelope) => envelope.validate(),
            Body::Group(update) => update.validate(),
            Body::ControlRequest(request) => request.validate(),
            Body::Acknowledgement(ack) => ack.validate(),
            Body::ControlResult(result) => result.validate(),
            Body::CausalGovernance(causal) => causal.validate(),
        }
    }
}

/// A seizure or detection, and the indicators behind it. Non-nominal: no personal
/// names belong in any field.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RiskAlert {
    /// The publishing administration's case reference.
    #[cfg_attr(
        feature = "openapi",
        schema(pattern = r"^[A-Za-z0-9./_-]{1,64}$", min_length = 1, max_length = 64)
    )]
    pub reference: String,
    pub category: Category,
    #[cfg_attr(
        feature = "openapi",
        schema(
            pattern = r"^(0[1-9]|[1-6][0-9]|7[0-689]|8[0-9]|9[0-7])[0-9]{4,8}$",
            min_length = 6,
            max_length = 10
        )
    )]
    pub hs_code: String,
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 2000))]
    pub description: String,
    #[serde(default)]
    pub quantity: Option<Quantity>,
    pub detected_on: Date,
    pub location: Location,
    pub detection_method: DetectionMethod,
    pub concealment: Concealment,
    pub conveyance: Conveyance,
    pub route: Route,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(max_items = 20))]
    pub indicators: Vec<String>,
    pub severity: Severity,
    /// The last day the alert is relevant for targeting.
    #[serde(default)]
    pub valid_until: Option<Date>,
    /// Import, export or transit.
    #[serde(default)]
    pub direction: Option<Direction>,
    /// The consignment's identifiers (transport documents, MRN, ...), as in requests.
    #[serde(default)]
    pub consignment: Option<Consignment>,
    /// The estimated value of the goods.
    #[serde(default)]
    pub estimated_value: Option<Money>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Encode, Decode, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Category {
    Drugs,
    Tobacco,
    Alcohol,
    Weapons,
    Explosives,
    Precursors,
    /// Wildlife and CITES-listed species.
    Wildlife,
    CulturalGoods,
    /// Intellectual-property infringements (counterfeits).
    Counterfeits,
    Currency,
    Waste,
    RevenueFraud,
    Other,
}

impl Category {
    pub const ALL: [Category; 13] = [
        Category::Drugs,
        Category::Tobacco,
        Category::Alcohol,
        Category::Weapons,
        Category::Explosives,
        Category::Precursors,
        Category::Wildlife,
        Category::CulturalGoods,
        Category::Counterfeits,
        Category::Currency,
        Category::Waste,
        Category::RevenueFraud,
        Category::Other,
    ];

    /// The JSON name, e.g. `cultural_goods`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Category::Drugs => "drugs",
            Category::Tobacco => "tobacco",
            Category::Alcohol => "alcohol",
            Category::Weapons => "weapons",
            Category::Explosives => "explosives",
            Category::Precursors => "precursors",
            Category::Wildlife => "wildlife",
            Category::CulturalGoods => "cultural_goods",
            Category::Counterfeits => "counterfeits",
            Category::Currency => "currency",
            Category::Waste => "waste",
            Category::RevenueFraud => "revenue_fraud",
            Category::Other => "other",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Quantity {
    /// A positive decimal as text, e.g. "125.5", so that no precision is lost.
    #[cfg_attr(
        feature = "openapi",
        schema(pattern = r"^(0|[1-9][0-9]{0,11})(\.[0-9]{1,6})?$")
    )]
    pub amount: String,
    pub unit: Unit,
}

#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Location {
    #[cfg_attr(
        feature = "openapi",
        schema(pattern = r"^[A-Z]{2}[A-Z2-9]{3}$", min_length = 5, max_length = 5)
    )]
    pub unlocode: String,
    pub place_type: PlaceType,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Encode, Decode, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum PlaceType {
    Seaport,
    Airport,
    LandBorder,
    RailTerminal,
    PostalFacility,
    InlandOffice,
    FreeZone,
    Other,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Encode, Decode, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum DetectionMethod {
    /// X-ray or other non-intrusive scanning.
    Xray,
    Canine,
    PhysicalInspection,
    DocumentaryCheck,
    RiskProfiling,
    Intelligence,
    RandomCheck,
    Other,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Encode, Decode, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Concealment {
    InCargo,
    FalseCompartment,
    ContainerStructure,
    VehicleStructure,
    Luggage,
    OnBody,
    InBody,
    PostalItem,
    Misdeclared,
    Other,
}

#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Conveyance {
    pub mode: TransportMode,
    /// ISO 6346 container numbers, check digit included.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(max_items = 50, inline, value_type = Vec<ContainerNumber>))]
    pub containers: Vec<String>,
    /// IMO ship number (7 digits, check digit included); only for sea and inland
    /// waterway.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(pattern = r"^[0-9]{7}$"))]
    pub vessel_imo: Option<String>,
    /// Flight number; only for air.
    #[serde(default)]
    #[cfg_attr(
        feature = "openapi",
        schema(pattern = r"^([A-Z0-9]{2}|[A-Z]{3})[0-9]{1,4}[A-Z]?$")
    )]
    pub flight: Option<String>,
    /// Vehicle registration.
    #[serde(default)]
    #[cfg_attr(
        feature = "openapi",
        schema(pattern = r"^[A-Z0-9 -]{1,16}$", max_length = 16)
    )]
    pub vehicle: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Encode, Decode, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum TransportMode {
    Sea,
    Air,
    Road,
    Rail,
    InlandWaterway,
    Postal,
    Courier,
    Pedestrian,
    Other,
}

impl TransportMode {
    pub fn as_str(&self) -> &'static str {
        match self {
            TransportMode::Sea => "sea",
            TransportMode::Air => "air",
            TransportMode::Road => "road",
            TransportMode::Rail => "rail",
            TransportMode::InlandWaterway => "inland_waterway",
            TransportMode::Postal => "postal",
            TransportMode::Courier => "courier",
            TransportMode::Pedestrian => "pedestrian",
            TransportMode::Other => "other",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Route {
    #[serde(default)]
    pub origin: Option<Country>,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(max_items = 10))]
    pub transit: Vec<Country>,
    #[serde(default)]
    pub destination: Option<Country>,
}

impl Route {
    /// Every country on the route: origin, transit, destination.
    pub fn countries(&self) -> impl Iterator<Item = Country> + '_ {
        self.origin
            .iter()
            .chain(self.transit.iter())
            .chain(self.destination.iter())
            .copied()
    }
}

#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Encode, Decode, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Severity {
    Low,
    Medium,
    High,
    Critical,
}

/// An authorised economic operator's status at the issuing administration.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AeoRecord {
    /// TCUI/EORI shape: country code and up to 15 characters of A-Z and 0-9.
    #[cfg_attr(
        feature = "openapi",
        schema(pattern = r"^[A-Z]{2}[A-Z0-9]{1,15}$", min_length = 3, max_length = 17)
    )]
    pub operator_id: String,
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 200))]
    pub name: String,
    pub country: Country,
    pub programme: Programme,
    pub status: AeoStatus,
    pub effective_from: Date,
    #[serde(default)]
    pub valid_until: Option<Date>,
    /// Countries whose mutual recognition arrangement recognises this status.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(max_items = 100))]
    pub mra_partners: Vec<Country>,
    /// Required for a suspension or revocation.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 500))]
    pub reason: Option<String>,
    /// The operator's postal address.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 500))]
    pub address: Option<String>,
    /// When the operator was first authorised (`effective_from` is when this
    /// status took effect).
    #[serde(default)]
    pub authorised_on: Option<Date>,
    /// The operator's identifiers in partners' schemes (EORI, US MID, ...).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(max_items = 10))]
    pub identifiers: Vec<OperatorIdentifier>,
    /// The operator agreed that its record is exchanged with MRA partners; only
    /// these go into the partners' snapshot files.
    #[serde(default)]
    pub exchange_consent: bool,
}

/// An operator's identifier in one scheme, e.g. `{"scheme": "US_MID", "value": "..."}`.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OperatorIdentifier {
    /// The scheme: 2 to 16 of A-Z, 0-9 and _ (EORI, US_MID, CN_CUSTOMS_CODE, ...).
    #[cfg_attr(feature = "openapi", schema(pattern = r"^[A-Z0-9_]{2,16}$"))]
    pub scheme: String,
    #[cfg_attr(feature = "openapi", schema(pattern = r"^[A-Z0-9/-]{1,35}$"))]
    pub value: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Encode, Decode, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Programme {
    /// Customs simplifications.
    AeoC,
    /// Security and safety.
    AeoS,
    /// Both (full).
    AeoF,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Encode, Decode, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum AeoStatus {
    Granted,
    Suspended,
    Revoked,
    /// A suspension lifted: the operator is authorised again.
    Reinstated,
}

impl AeoStatus {
    pub fn as_str(&self) -> &'static str {
        match self {
            AeoStatus::Granted => "granted",
            AeoStatus::Suspended => "suspended",
            AeoStatus::Revoked => "revoked",
            AeoStatus::Reinstated => "reinstated",
        }
    }
}

/// Withdraws one of the author's own earlier entries. The target stays in the log
/// (the chain must verify); queries hide it by default. That the target is the
/// author's own, earlier entry needs the log, so the store checks it.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Retraction {
    pub target: EntryId,
    pub reason: RetractionReason,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 500))]
    pub note: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Encode, Decode, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum RetractionReason {
    FalsePositive,
    Superseded,
    LegalHold,
    DataProtection,
    Error,
}

/// Free text: not empty, at most `max` bytes, no control characters (newlines and
/// tabs allowed where `multiline`). Empty means every character has Unicode's
/// White_Space property (`char::is_whitespace`; SPEC.md section 6 lists them).
pub(crate) fn check_text(value: &str, max: usize, multiline: bool) -> Result<(), Rule> {
    if value.chars().all(char::is_whitespace) {
        return Err(Rule::Empty);
    }
    if value.len() > max {
        return Err(Rule::TooLong {
            len: value.len(),
            max,
        });
    }
    let allowed = |c: char| multiline && (c == '\n' || c == '\t');
    if let Some((at, _)) = value
        .char_indices()
        .find(|&(_, c)| c.is_control() && !allowed(c))
    {
        return Err(Rule::ControlCharacter { at });
    }
    Ok(())
}

pub(crate) fn check_count(count: usize, max: usize) -> Result<(), Rule> {
    if count > max {
        Err(Rule::TooMany { count, max })
    } else {
        Ok(())
    }
}

/// `later` must not be before `earlier`.
fn check_order(later: Date, earlier: Date, earlier_field: &'static str) -> Result<(), Rule> {
    if later < earlier {
        Err(Rule::DateOrder {
            value: later.to_string(),
            other_field: earlier_field,
            other: earlier.to_string(),
        })
    } else {
        Ok(())
    }
}

pub(crate) fn at(field: impl Into<String>) -> impl FnOnce(Rule) -> ValidationError {
    let field = field.into();
    move |rule| ValidationError::new(field, rule)
}

fn check_countries(list: &[Country], max: usize, field: &str) -> Result<(), ValidationError> {
    check_count(list.len(), max).map_err(at(field))?;
    for (i, country) in list.iter().enumerate() {
        country.check().map_err(at(format!("{field}[{i}]")))?;
        if list[..i].contains(country) {
            return Err(ValidationError::new(
                format!("{field}[{i}]"),
                Rule::Duplicate {
                    value: country.to_string(),
                },
            ));
        }
    }
    Ok(())
}

impl RiskAlert {
    pub fn validate(&self) -> Result<(), ValidationError> {
        check_reference(&self.reference).map_err(at("reference"))?;
        check_hs_code(&self.hs_code).map_err(at("hs_code"))?;
        check_text(&self.description, MAX_DESCRIPTION_BYTES, true).map_err(at("description"))?;
        if let Some(quantity) = &self.quantity {
            check_amount(&quantity.amount).map_err(at("quantity.amount"))?;
        }
        self.detected_on.check().map_err(at("detected_on"))?;
        check_unlocode(&self.location.unlocode).map_err(at("location.unlocode"))?;
        self.conveyance.validate()?;
        if let Some(origin) = &self.route.origin {
            origin.check().map_err(at("route.origin"))?;
        }
        check_count(self.route.transit.len(), MAX_TRANSIT_COUNTRIES)
            .map_err(at("route.transit"))?;
        for (i, country) in self.route.transit.iter().enumerate() {
            country.check().map_err(at(format!("route.transit[{i}]")))?;
        }
        if let Some(destination) = &self.route.destination {
            destination.check().map_err(at("route.destination"))?;
        }
        check_count(self.indicators.len(), MAX_INDICATORS).map_err(at("indicators"))?;
        for (i, indicator) in self.indicators.iter().enumerate() {
            check_text(indicator, MAX_INDICATOR_BYTES, false)
                .map_err(at(format!("indicators[{i}]")))?;
        }
        if let Some(valid_until) = self.valid_until {
            valid_until.check().map_err(at("valid_until"))?;
            check_order(valid_until, self.detected_on, "detected_on").map_err(at("valid_until"))?;
        }
        if let Some(consignment) = &self.consignment {
            consignment.validate("consignment")?;
        }
        if let Some(value) = &self.estimated_value {
            value.validate("estimated_value")?;
        }
        Ok(())
    }
}

impl Conveyance {
    fn validate(&self) -> Result<(), ValidationError> {
        check_count(self.containers.len(), MAX_CONTAINERS).map_err(at("conveyance.containers"))?;
        for (i, container) in self.containers.iter().enumerate() {
            let field = || format!("conveyance.containers[{i}]");
            check_container(container).map_err(at(field()))?;
            if self.containers[..i].contains(container) {
                return Err(ValidationError::new(
                    field(),
                    Rule::Duplicate {
                        value: container.clone(),
                    },
                ));
            }
        }
        if let Some(imo) = &self.vessel_imo {
            check_imo(imo).map_err(at("conveyance.vessel_imo"))?;
            if !matches!(
                self.mode,
                TransportMode::Sea | TransportMode::InlandWaterway
            ) {
                return Err(ValidationError::new(
                    "conveyance.vessel_imo",
                    Rule::ModeMismatch {
                        expected: "sea or inland_waterway",
                        found: self.mode.as_str(),
                    },
                ));
            }
        }
        if let Some(flight) = &self.flight {
            check_flight(flight).map_err(at("conveyance.flight"))?;
            if self.mode != TransportMode::Air {
                return Err(ValidationError::new(
                    "conveyance.flight",
                    Rule::ModeMismatch {
                        expected: "air",
                        found: self.mode.as_str(),
                    },
                ));
            }
        }
        if let Some(vehicle) = &self.vehicle {
            check_vehicle(vehicle).map_err(at("conveyance.vehicle"))?;
        }
        Ok(())
    }
}

impl AeoRecord {
    pub fn validate(&self) -> Result<(), ValidationError> {
        check_operator_id(&self.operator_id).map_err(at("operator_id"))?;
        check_text(&self.name, MAX_OPERATOR_NAME_BYTES, false).map_err(at("name"))?;
        self.country.check().map_err(at("country"))?;
        self.effective_from.check().map_err(at("effective_from"))?;
        if let Some(valid_until) = self.valid_until {
            valid_until.check().map_err(at("valid_until"))?;
            check_order(valid_until, self.effective_from, "effective_from")
                .map_err(at("valid_until"))?;
        }
        check_countries(&self.mra_partners, MAX_MRA_PARTNERS, "mra_partners")?;
        if let Some(address) = &self.address {
            check_text(address, MAX_ADDRESS_TEXT_BYTES, true).map_err(at("address"))?;
        }
        if let Some(authorised_on) = self.authorised_on {
            authorised_on.check().map_err(at("authorised_on"))?;
            check_order(self.effective_from, authorised_on, "authorised_on")
                .map_err(at("effective_from"))?;
        }
        check_count(self.identifiers.len(), MAX_OPERATOR_IDENTIFIERS).map_err(at("identifiers"))?;
        for (i, identifier) in self.identifiers.iter().enumerate() {
            let scheme_ok = (2..=16).contains(&identifier.scheme.len())
                && identifier
                    .scheme
                    .bytes()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == b'_');
            if !scheme_ok {
                return Err(ValidationError::new(
                    format!("identifiers[{i}].scheme"),
                    Rule::DocumentNumber {
                        value: identifier.scheme.clone(),
                        max: 16,
                    },
                ));
            }
            check_document_number(&identifier.value, 35)
                .map_err(at(format!("identifiers[{i}].value")))?;
            if self.identifiers[..i]
                .iter()
                .any(|o| o.scheme == identifier.scheme)
            {
                return Err(ValidationError::new(
                    format!("identifiers[{i}].scheme"),
                    Rule::Duplicate {
                        value: identifier.scheme.clone(),
                    },
                ));
            }
        }
        match (&self.reason, self.status) {
            (Some(reason), _) => check_text(reason, MAX_REASON_BYTES, true).map_err(at("reason")),
            (None, AeoStatus::Granted | AeoStatus::Reinstated) => Ok(()),
            (None, status) => Err(ValidationError::new(
                "reason",
                Rule::ReasonRequired {
                    status: status.as_str(),
                },
            )),
        }
    }
}

impl Retraction {
    pub fn validate(&self) -> Result<(), ValidationError> {
        if let Some(note) = &self.note {
            check_text(note, MAX_RETRACTION_NOTE_BYTES, true).map_err(at("note"))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::samples;

    fn alert_error(edit: impl FnOnce(&mut RiskAlert)) -> (String, &'static str) {
        let mut alert = samples::risk_alert();
        edit(&mut alert);
        let error = alert
            .validate()
            .expect_err("the edit must make the alert invalid");
        (error.field, error.rule.code())
    }

    fn aeo_error(edit: impl FnOnce(&mut AeoRecord)) -> (String, &'static str) {
        let mut record = samples::aeo_record();
        edit(&mut record);
        let error = record
            .validate()
            .expect_err("the edit must make the record invalid");
        (error.field, error.rule.code())
    }

    fn s(text: &str) -> String {
        text.to_string()
    }

    #[test]
    fn samples_are_valid() {
        assert_eq!(samples::risk_alert().validate(), Ok(()));
        assert_eq!(samples::aeo_record().validate(), Ok(()));
        assert_eq!(samples::retraction().validate(), Ok(()));
    }

    #[test]
    fn alert_text_rules() {
        assert_eq!(
            alert_error(|a| a.reference = s("")),
            (s("reference"), "Empty")
        );
        assert_eq!(
            alert_error(|a| a.reference = "R".repeat(65)),
            (s("reference"), "TooLong")
        );
        assert_eq!(
            alert_error(|a| a.reference = s("NL 1")),
            (s("reference"), "Reference")
        );
        assert_eq!(
            alert_error(|a| a.description = s("   ")),
            (s("description"), "Empty")
        );
        assert_eq!(
            alert_error(|a| a.description = "x".repeat(MAX_DESCRIPTION_BYTES + 1)),
            (s("description"), "TooLong")
        );
        assert_eq!(
            alert_error(|a| a.description = s("bad\u{7}bell")),
            (s("description"), "ControlCharacter")
        );
        let mut multiline = samples::risk_alert();
        multiline.description = s("line one\nline two");
        assert_eq!(multiline.validate(), Ok(()));
        assert_eq!(
            alert_error(|a| a.indicators = vec![s("x"); MAX_INDICATORS + 1]),
            (s("indicators"), "TooMany")
        );
        assert_eq!(
            alert_error(|a| a.indicators.push(s("two\nlines"))),
            (s("indicators[2]"), "ControlCharacter")
        );
    }

    #[test]
    fn alert_code_rules() {
        assert_eq!(
            alert_error(|a| a.hs_code = s("0803")),
            (s("hs_code"), "HsCodeFormat")
        );
        assert_eq!(
            alert_error(|a| a.hs_code = s("990000")),
            (s("hs_code"), "HsChapter")
        );
        assert_eq!(
            alert_error(|a| a.location.unlocode = s("QQRTM")),
            (s("location.unlocode"), "UnLocodeCountry")
        );
        assert_eq!(
            alert_error(|a| a.route.transit.push(Country(*b"QQ"))),
            (s("route.transit[1]"), "UnknownCountry")
        );
        assert_eq!(
            alert_error(|a| a.route.origin = Some(Country(*b"EU"))),
            (s("route.origin"), "UnknownCountry")
        );
        assert_eq!(
            alert_error(|a| a.route.destination = Some(Country(*b"UK"))),
            (s("route.destination"), "UnknownCountry")
        );
        assert_eq!(
            alert_error(|a| a.route.transit = vec![Country(*b"PA"); MAX_TRANSIT_COUNTRIES + 1]),
            (s("route.transit"), "TooMany")
        );
        assert_eq!(
            alert_error(|a| a.quantity = Some(Quantity {
                amount: s("-3"),
                unit: Unit::Kgm
            })),
            (s("quantity.amount"), "Amount")
        );
    }

    #[test]
    fn alert_conveyance_rules() {
        assert_eq!(
            alert_error(|a| a.conveyance.containers = vec![s("CSQU3054384")]),
            (s("conveyance.containers[0]"), "ContainerCheckDigit")
        );
        assert_eq!(
            alert_error(|a| a.conveyance.containers.push(s("CSQU305438"))),
            (s("conveyance.containers[1]"), "ContainerFormat")
        );
        assert_eq!(
            alert_error(|a| a.conveyance.containers.push(s("CSQU3054383"))),
            (s("conveyance.containers[1]"), "Duplicate")
        );
        assert_eq!(
            alert_error(|a| a.conveyance.containers = vec![s("CSQU3054383"); MAX_CONTAINERS + 1]),
            (s("conveyance.containers"), "TooMany")
        );
        assert_eq!(
            alert_error(|a| a.conveyance.vessel_imo = Some(s("9074728"))),
            (s("conveyance.vessel_imo"), "ImoCheckDigit")
        );
        assert_eq!(
            alert_error(|a| a.conveyance.vessel_imo = Some(s("IMO 9074729"))),
            (s("conveyance.vessel_imo"), "ImoFormat")
        );
        assert_eq!(
            alert_error(|a| a.conveyance.mode = TransportMode::Road),
            (s("conveyance.vessel_imo"), "ModeMismatch")
        );
        assert_eq!(
            alert_error(|a| a.conveyance.flight = Some(s("KL1234"))),
            (s("conveyance.flight"), "ModeMismatch")
        );
        assert_eq!(
            alert_error(|a| {
                a.conveyance.mode = TransportMode::Air;
                a.conveyance.vessel_imo = None;
                a.conveyance.flight = Some(s("KL12345"));
            }),
            (s("conveyance.flight"), "FlightFormat")
        );
        assert_eq!(
            alert_error(|a| a.conveyance.vehicle = Some(s("ab 12"))),
            (s("conveyance.vehicle"), "VehicleFormat")
        );
    }

    #[test]
    fn alert_date_rules() {
        assert_eq!(
            alert_error(|a| a.detected_on = Date::new(2026, 2, 30)),
            (s("detected_on"), "InvalidDate")
        );
        assert_eq!(
            alert_error(|a| a.valid_until = Some(Date::new(2026, 11, 19))),
            (s("valid_until"), "DateOrder")
        );
        assert_eq!(
            alert_error(|a| a.valid_until = Some(Date::new(2026, 6, 31))),
            (s("valid_until"), "InvalidDate")
        );
    }

    #[test]
    fn aeo_rules() {
        assert_eq!(
            aeo_error(|r| r.operator_id = s("NL-1")),
            (s("operator_id"), "OperatorIdFormat")
        );
        assert_eq!(
            aeo_error(|r| r.operator_id = s("QQ1")),
            (s("operator_id"), "OperatorIdCountry")
        );
        assert_eq!(aeo_error(|r| r.name = s("")), (s("name"), "Empty"));
        assert_eq!(
            aeo_error(|r| r.country = Country(*b"ZZ")),
            (s("country"), "UnknownCountry")
        );
        assert_eq!(
            aeo_error(|r| r.valid_until = Some(Date::new(2020, 1, 1))),
            (s("valid_until"), "DateOrder")
        );
        assert_eq!(
            aeo_error(|r| r.mra_partners.push(Country(*b"US"))),
            (s("mra_partners[3]"), "Duplicate")
        );
        assert_eq!(
            aeo_error(|r| r.mra_partners.push(Country(*b"XX"))),
            (s("mra_partners[3]"), "UnknownCountry")
        );
        assert_eq!(
            aeo_error(|r| r.status = AeoStatus::Suspended),
            (s("reason"), "ReasonRequired")
        );
        assert_eq!(
            aeo_error(|r| {
                r.status = AeoStatus::Revoked;
                r.reason = Some("x".repeat(MAX_REASON_BYTES + 1));
            }),
            (s("reason"), "TooLong")
        );
        let mut suspended = samples::aeo_record();
        suspended.status = AeoStatus::Suspended;
        suspended.reason = Some(s("audit found security gaps at the warehouse"));
        assert_eq!(suspended.validate(), Ok(()));
    }

    #[test]
    fn retraction_rules() {
        let mut retraction = samples::retraction();
        retraction.note = Some(s(""));
        assert_eq!(retraction.validate().map_err(|e| e.field), Err(s("note")));
    }

    #[test]
    fn json_shape_matches_the_api_contract() {
        let json = r#"{"reference":"NL-2026-000123","category":"drugs","hs_code":"080390","description":"Cocaine concealed in banana boxes","quantity":{"amount":"125.5","unit":"KGM"},"detected_on":"2026-11-20","location":{"unlocode":"NLRTM","place_type":"seaport"},"detection_method":"xray","concealment":"in_cargo","conveyance":{"mode":"sea","containers":["CSQU3054383"],"vessel_imo":"9074729"},"route":{"origin":"EC","transit":["PA"],"destination":"NL"},"indicators":["reefer container","first shipment of a new consignee"],"severity":"high","valid_until":"2027-05-20"}"#;
        let alert: RiskAlert = serde_json::from_str(json).expect("the documented example parses");
        assert_eq!(alert, samples::risk_alert());
        let aeo = r#"{"operator_id":"NL123456789","name":"Example Logistics B.V.","country":"NL","programme":"aeo_s","status":"granted","effective_from":"2024-03-01","valid_until":null,"mra_partners":["US","JP","CN"],"reason":null}"#;
        let record: AeoRecord = serde_json::from_str(aeo).expect("the documented example parses");
        assert_eq!(record, samples::aeo_record());
        let unknown_field = json.replacen("\"severity\"", "\"colour\":\"red\",\"severity\"", 1);
        assert!(serde_json::from_str::<RiskAlert>(&unknown_field).is_err());
    }
}
