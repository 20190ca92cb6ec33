//! Properties over generated inputs: encoding round-trips, any bit flip is caught, and
//! no input panics a decoder.

use customs_protocol::body::*;
use customs_protocol::codes::{Country, Unit};
use customs_protocol::wire::{SyncRequest, SyncResponse};
use customs_protocol::{
    samples, Body, Date, Entry, EntryId, SecretKey, SignedEntry, VerifiedEntry,
};
use proptest::prelude::*;

fn text(max: usize) -> impl Strategy<Value = String> {
    proptest::collection::vec(any::<char>(), 0..max).prop_map(|c| c.into_iter().collect())
}

fn country() -> impl Strategy<Value = Country> {
    any::<[u8; 2]>().prop_map(Country)
}

fn date() -> impl Strategy<Value = Date> {
    (any::<u16>(), any::<u8>(), any::<u8>()).prop_map(|(y, m, d)| Date::new(y, m, d))
}

fn pick<T: Clone + std::fmt::Debug + 'static>(all: Vec<T>) -> impl Strategy<Value = T> {
    proptest::sample::select(all)
}

/// Any risk alert the types can hold, valid or not: for round trips.
fn any_alert() -> impl Strategy<Value = RiskAlert> {
    (
        (text(20), pick(Category::ALL.to_vec()), text(12), text(60)),
        (
            proptest::option::of((text(8), pick(Unit::ALL.to_vec()))),
            date(),
            text(6),
        ),
        (
            proptest::collection::vec(text(12), 0..4),
            proptest::option::of(text(8)),
        ),
        (
            proptest::option::of(country()),
            proptest::collection::vec(country(), 0..4),
        ),
        (
            proptest::collection::vec(text(30), 0..4),
            proptest::option::of(date()),
            proptest::option::of(proptest::collection::vec(text(12), 0..3)),
        ),
    )
        .prop_map(
            |(
                (reference, category, hs_code, description),
                (quantity, detected_on, unlocode),
                (containers, vessel_imo),
                (origin, transit),
                (indicators, valid_until, containers_again),
            )| RiskAlert {
                reference,
                category,
                hs_code,
                description,
                quantity: quantity.map(|(amount, unit)| Quantity { amount, unit }),
                detected_on,
                location: Location {
                    unlocode,
                    place_type: PlaceType::Airport,
                },
                detection_method: DetectionMethod::Intelligence,
                concealment: Concealment::Luggage,
                conveyance: Conveyance {
                    mode: TransportMode::Air,
                    containers,
                    vessel_imo,
                    flight: None,
                    vehicle: None,
                },
                route: Route {
                    origin,
                    transit,
                    destination: None,
                },
                indicators,
                severity: Severity::Critical,
                valid_until,
                direction: None,
                consignment: containers_again.map(|containers| {
                    customs_protocol::control::Consignment {
                        containers,
                        ..Default::default()
                    }
                }),
                estimated_value: None,
            },
        )
}

fn any_body() -> impl Strategy<Value = Body> {
    prop_oneof![
        any_alert().prop_map(Body::RiskAlert),
        (
            text(17),
            text(40),
            country(),
            date(),
            proptest::collection::vec(country(), 0..5)
        )
            .prop_map(
                |(operator_id, name, country, effective_from, mra_partners)| {
                    Body::AeoRecord(AeoRecord {
                        operator_id,
                        name,
                        country,
                        programme: Programme::AeoF,
                        status: AeoStatus::Revoked,
                        effective_from,
                        valid_until: None,
                        mra_partners,
                        reason: Some("r".into()),
                        address: Some("a".into()),
                        authorised_on: Some(effective_from),
                        identifiers: Vec::new(),
                        exchange_consent: true,
                    })
                }
            ),
        (any::<[u8; 32]>(), proptest::option::of(text(30))).prop_map(|(target, note)| {
            Body::Retraction(Retraction {
                target: EntryId(target),
                reason: RetractionReason::LegalHold,
                note,
            })
        }),
    ]
}

fn any_entry() -> impl Strategy<Value = Entry> {
    (
        text(20),
        any::<[u8; 32]>(),
        any::<u64>(),
        proptest::option::of(any::<[u8; 32]>()),
        any::<u64>(),
        any_body(),
    )
        .prop_map(|(network, author, seq, prev, created_at_ms, body)| Entry {
            network,
            author: customs_protocol::PublicKey(author),
            seq,
            prev: prev.map(EntryId),
            created_at_ms,
            markings: Default::default(),
            body,
            attachments: Vec::new(),
        })
}

/// A valid signed entry: the sample bodies with a generated key, seq and time.
fn valid_signed() -> impl Strategy<Value = Vec<u8>> {
    (any::<[u8; 32]>(), 1u64..1_000_000, 0u8..3).prop_map(|(seed, seq, kind)| {
        let key = SecretKey::from_seed(seed);
        let body = match kind {
            0 => Body::RiskAlert(samples::risk_alert()),
            1 => Body::AeoRecord(samples::aeo_record()),
            _ => Body::Retraction(samples::retraction()),
        };
        let entry = Entry {
            network: "customs-prop".into(),
            author: key.public_key(),
            seq,
            prev: (seq > 1).then_some(EntryId([7; 32])),
            created_at_ms: 1_795_830_600_000,
            markings: Default::default(),
            body,
            attachments: Vec::new(),
        };
        VerifiedEntry::sign(entry, &key).expect("signs").encode()
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn entry_encoding_round_trips(entry in any_entry()) {
        let bytes = entry.encode();
        prop_assert_eq!(Entry::decode(&bytes), Ok(entry));
    }

    #[test]
    fn signed_entry_encoding_round_trips(entry in any_entry(), signature in any::<[u8; 32]>()) {
        let mut sig = [0u8; 64];
        sig[..32].copy_from_slice(&signature);
        let signed = SignedEntry::from_parts(entry.encode(), sig).expect("decodes");
        let bytes = signed.encode();
        prop_assert_eq!(SignedEntry::decode(&bytes), Ok(signed));
    }

    #[test]
    fn flipping_any_bit_is_caught(bytes in valid_signed(), bit in any::<prop::sample::Index>()) {
        prop_assert!(VerifiedEntry::from_bytes(&bytes).is_ok());
        let mut flipped = bytes.clone();
        let at = bit.index(bytes.len() * 8);
        flipped[at / 8] ^= 1 << (at % 8);
        prop_assert!(VerifiedEntry::from_bytes(&flipped).is_err(), "bit {} accepted", at);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let _ = VerifiedEntry::from_bytes(&bytes);
        let _ = Entry::decode(&bytes);
        let _ = SyncRequest::decode(&bytes);
        let _ = SyncResponse::decode(&bytes);
    }

    /// Arbitrary bytes rarely get past the first length prefix; mutating a valid
    /// encoding reaches every decoder path.
    #[test]
    fn mutated_valid_bytes_never_panic(
        bytes in valid_signed(),
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        cut in any::<prop::sample::Index>(),
    ) {
        let mut mutated = bytes.clone();
        for (at, value) in edits {
            let i = at.index(mutated.len());
            mutated[i] = value;
        }
        let _ = VerifiedEntry::from_bytes(&mutated);
        let truncated = &bytes[..cut.index(bytes.len())];
        prop_assert!(VerifiedEntry::from_bytes(truncated).is_err());
    }
}

#[test]
fn huge_length_prefixes_do_not_allocate_beyond_the_limit() {
    // A signed entry claiming 2^64-1 bytes of entry, and a sync response claiming
    // 2^32 entries: both must fail fast without trying to allocate.
    let mut claim = vec![0xfd];
    claim.extend_from_slice(&u64::MAX.to_le_bytes());
    claim.extend_from_slice(&[0u8; 64]);
    assert!(SignedEntry::decode(&claim).is_err());
    let mut response = vec![1u8, 0xfc];
    response.extend_from_slice(&u32::MAX.to_le_bytes());
    assert!(SyncResponse::decode(&response).is_err());
}
