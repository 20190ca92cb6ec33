//! Entries signed before markings and the operational loop existed (version 1):
//! their bodies had shorter alerts and AEO records. They are read, never signed:
//! decoded in the old layout, then given the new fields' defaults. Their ids do not
//! change (an id is the hash of the bytes as signed).

use bincode::{Decode, Encode};

use crate::body::*;
use crate::codes::Country;
use crate::date::Date;
use crate::entry::EntryId;
use crate::governance::Governance;
use crate::identity::PublicKey;

/// A version-1 entry: no markings, and the version-1 body.
#[derive(Encode, Decode)]
pub(crate) struct EntryV1 {
    pub network: String,
    pub author: PublicKey,
    pub seq: u64,
    pub prev: Option<EntryId>,
    pub created_at_ms: u64,
    pub body: BodyV1,
}

/// The body tags of version 1 (the same first four tags as today).
#[derive(Encode, Decode)]
pub(crate) enum BodyV1 {
    RiskAlert(RiskAlertV1),
    AeoRecord(AeoRecordV1),
    Retraction(Retraction),
    Governance(Governance),
}

#[derive(Encode, Decode)]
pub(crate) struct RiskAlertV1 {
    reference: String,
    category: Category,
    hs_code: String,
    description: String,
    quantity: Option<Quantity>,
    detected_on: Date,
    location: Location,
    detection_method: DetectionMethod,
    concealment: Concealment,
    conveyance: Conveyance,
    route: Route,
    indicators: Vec<String>,
    severity: Severity,
    valid_until: Option<Date>,
}

#[derive(Encode, Decode)]
pub(crate) struct AeoRecordV1 {
    operator_id: String,
    name: String,
    country: Country,
    programme: Programme,
    status: AeoStatusV1,
    effective_from: Date,
    valid_until: Option<Date>,
    mra_partners: Vec<Country>,
    reason: Option<String>,
}

#[derive(Encode, Decode)]
enum AeoStatusV1 {
    Granted,
    Suspended,
    Revoked,
}

impl From<BodyV1> for Body {
    fn from(body: BodyV1) -> Body {
        match body {
            BodyV1::RiskAlert(a) => Body::RiskAlert(RiskAlert {
                reference: a.reference,
                category: a.category,
                hs_code: a.hs_code,
                description: a.description,
                quantity: a.quantity,
                detected_on: a.detected_on,
                location: a.location,
                detection_method: a.detection_method,
                concealment: a.concealment,
                conveyance: a.conveyance,
                route: a.route,
                indicators: a.indicators,
                severity: a.severity,
                valid_until: a.valid_until,
                direction: None,
                consignment: None,
                estimated_value: None,
            }),
            BodyV1::AeoRecord(r) => Body::AeoRecord(AeoRecord {
                operator_id: r.operator_id,
                name: r.name,
                country: r.country,
                programme: r.programme,
                status: match r.status {
                    AeoStatusV1::Granted => AeoStatus::Granted,
                    AeoStatusV1::Suspended => AeoStatus::Suspended,
                    AeoStatusV1::Revoked => AeoStatus::Revoked,
                },
                effective_from: r.effective_from,
                valid_until: r.valid_until,
                mra_partners: r.mra_partners,
                reason: r.reason,
                address: None,
                authorised_on: None,
                identifiers: Vec::new(),
                exchange_consent: false,
            }),
            BodyV1::Retraction(r) => Body::Retraction(r),
            BodyV1::Governance(g) => Body::Governance(g),
        }
    }
}
