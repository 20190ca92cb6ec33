//! Realistic, clearly fictional records: the API documentation's examples, used by
//! tests, benchmarks and the demo network.

use crate::body::*;
use crate::codes::{Country, Unit};
use crate::date::Date;
use crate::entry::EntryId;

/// The risk alert of the API documentation (a cocaine seizure in Rotterdam).
pub fn risk_alert() -> RiskAlert {
    RiskAlert {
        reference: "NL-2026-000123".into(),
        category: Category::Drugs,
        hs_code: "080390".into(),
        description: "Cocaine concealed in banana boxes".into(),
        quantity: Some(Quantity {
            amount: "125.5".into(),
            unit: Unit::Kgm,
        }),
        detected_on: Date::new(2026, 11, 20),
        location: Location {
            unlocode: "NLRTM".into(),
            place_type: PlaceType::Seaport,
        },
        detection_method: DetectionMethod::Xray,
        concealment: Concealment::InCargo,
        conveyance: Conveyance {
            mode: TransportMode::Sea,
            containers: vec!["CSQU3054383".into()],
            vessel_imo: Some("9074729".into()),
            flight: None,
            vehicle: None,
        },
        route: Route {
            origin: Some(Country(*b"EC")),
            transit: vec![Country(*b"PA")],
            destination: Some(Country(*b"NL")),
        },
        indicators: vec![
            "reefer container".into(),
            "first shipment of a new consignee".into(),
        ],
        severity: Severity::High,
        valid_until: Some(Date::new(2027, 5, 20)),
        direction: None,
        consignment: None,
        estimated_value: None,
    }
}

/// The AEO record of the API documentation.
pub fn aeo_record() -> AeoRecord {
    AeoRecord {
        operator_id: "NL123456789".into(),
        name: "Example Logistics B.V.".into(),
        country: Country(*b"NL"),
        programme: Programme::AeoS,
        status: AeoStatus::Granted,
        effective_from: Date::new(2024, 3, 1),
        valid_until: None,
        mra_partners: vec![Country(*b"US"), Country(*b"JP"), Country(*b"CN")],
        reason: None,
        address: None,
        authorised_on: None,
        identifiers: Vec::new(),
        exchange_consent: false,
    }
}

/// The request for control of the API documentation (NL asks BE to check a
/// container arriving in Antwerp).
pub fn control_request() -> crate::control::ControlRequest {
    use crate::control::*;
    ControlRequest {
        reference: "NL-REQ-2027-0042".into(),
        addressed_to: vec!["BE".into()],
        consignment: Consignment {
            containers: vec!["MSCU1234566".into()],
            bill_of_lading: Some("MEDUAB123456".into()),
            air_waybill: Some("16012345675".into()),
            mrn: Some("26NL000000000012L2".into()),
            vehicle: Some("AB-12-CD".into()),
            vessel_imo: Some("9074729".into()),
            voyage: Some("AB123R".into()),
            flight: Some("KL1234".into()),
        },
        arrival: Arrival {
            unlocode: "BEANR".into(),
            eta: crate::date::Timestamp(1_800_000_000),
        },
        requested_action: RequestedAction::SpecificCheck,
        category: Some(Category::Drugs),
        reason: "Consignee linked to an earlier seizure".into(),
        indicators: vec!["reefer".into()],
        related: Vec::new(),
    }
}

/// A seizure reported as the result of a control.
pub fn control_result() -> crate::control::ControlResult {
    use crate::control::*;
    ControlResult {
        subject: EntryId([0x42; 32]),
        outcome: Outcome::Seized,
        controlled_on: Some(Date::new(2027, 1, 15)),
        location: Some(Location {
            unlocode: "BEANR".into(),
            place_type: PlaceType::Seaport,
        }),
        found: Some(Found {
            category: Category::Drugs,
            hs_code: Some("080390".into()),
            quantity: Some(Quantity {
                amount: "80".into(),
                unit: Unit::Kgm,
            }),
        }),
        seizure_alert: None,
        reason_not_controlled: None,
        notes: Some("in the cooling unit".into()),
    }
}

/// A retraction of some earlier entry.
pub fn retraction() -> Retraction {
    Retraction {
        target: EntryId([0x42; 32]),
        reason: RetractionReason::FalsePositive,
        note: Some("laboratory test negative".into()),
    }
}

/// A risk alert with every text and list at its limit: the largest alert there is,
/// short of multi-byte characters.
pub fn largest_risk_alert() -> RiskAlert {
    use crate::limits::*;
    let mut alert = risk_alert();
    alert.reference = "R".repeat(MAX_REFERENCE_BYTES);
    alert.description = "d".repeat(MAX_DESCRIPTION_BYTES);
    alert.indicators = vec!["i".repeat(MAX_INDICATOR_BYTES); MAX_INDICATORS];
    alert.conveyance.containers = (0..MAX_CONTAINERS)
        .map(|i| {
            let mut first_ten = *b"CSQU000000";
            first_ten[4..].copy_from_slice(format!("{i:06}").as_bytes());
            let check = crate::codes::iso6346_check_digit(&first_ten);
            format!("{}{check}", String::from_utf8_lossy(&first_ten))
        })
        .collect();
    alert.conveyance.vehicle = Some("V".repeat(MAX_VEHICLE_BYTES));
    alert.direction = Some(crate::control::Direction::Transit);
    alert.consignment = Some(crate::control::Consignment {
        containers: alert.conveyance.containers.clone(),
        bill_of_lading: Some("B".repeat(MAX_BILL_OF_LADING_BYTES)),
        voyage: Some("V".repeat(MAX_VOYAGE_BYTES)),
        vehicle: Some("V".repeat(MAX_VEHICLE_BYTES)),
        ..control_request().consignment
    });
    alert.estimated_value = Some(crate::control::Money {
        amount: format!(
            "{}.{}",
            "9".repeat(MAX_AMOUNT_INTEGER_DIGITS),
            "9".repeat(MAX_AMOUNT_FRACTION_DIGITS)
        ),
        currency: "EUR".into(),
    });
    alert.route.transit = crate::codes::ISO_3166_ALPHA2[..MAX_TRANSIT_COUNTRIES]
        .iter()
        .map(|c| Country::parse_shape(c).unwrap_or(Country(*b"NL")))
        .collect();
    alert
}

/// A reproducible byte stream (SHA-256 of a seed and a counter) for test vectors,
/// tests and benchmarks that seal envelopes. Predictable by design: never seal a
/// real record with it (the node uses the operating system's generator).
#[derive(Debug)]
pub struct DeterministicRng {
    seed: [u8; 32],
    counter: u64,
    buffer: [u8; 32],
    used: usize,
}

impl DeterministicRng {
    pub fn new(seed: u64) -> Self {
        use sha2::{Digest, Sha256};
        DeterministicRng {
            seed: Sha256::digest(seed.to_be_bytes()).into(),
            counter: 0,
            buffer: [0; 32],
            used: 32,
        }
    }

    fn byte(&mut self) -> u8 {
        use sha2::{Digest, Sha256};
        if self.used == 32 {
            let mut hasher = Sha256::new();
            hasher.update(self.seed);
            hasher.update(self.counter.to_be_bytes());
            self.buffer = hasher.finalize().into();
            self.counter += 1;
            self.used = 0;
        }
        self.used += 1;
        self.buffer[self.used - 1]
    }
}

impl crate::envelope::rand_core::TryRng for DeterministicRng {
    type Error = std::convert::Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
        let mut bytes = [0u8; 4];
        self.try_fill_bytes(&mut bytes)?;
        Ok(u32::from_le_bytes(bytes))
    }

    fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
        let mut bytes = [0u8; 8];
        self.try_fill_bytes(&mut bytes)?;
        Ok(u64::from_le_bytes(bytes))
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
        for byte in dst.iter_mut() {
            *byte = self.byte();
        }
        Ok(())
    }
}

impl crate::envelope::rand_core::TryCryptoRng for DeterministicRng {}
