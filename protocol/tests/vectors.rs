//! Test vectors: `vectors/entries.json` is generated here from fixed seeds, and held
//! to the code in two ways: the file must equal what the code generates now, and every
//! vector must decode, verify and validate to the outcome it records.
//!
//! After an intended format change: UPDATE_VECTORS=1 cargo test -p customs-protocol --test vectors

use customs_protocol::body::{AeoStatus, Category, Concealment, Conveyance, DetectionMethod};
use customs_protocol::body::{
    Location, PlaceType, RetractionReason, Route, Severity, TransportMode,
};
use customs_protocol::limits::MAX_ENTRY_BYTES;
use customs_protocol::{samples, Body, Date, Entry, EntryId, RiskAlert, SecretKey, SignedEntry};
use customs_protocol::{Attachment, BlobHash, MediaType, SealedBlob};
use customs_protocol::{EntryError, Retraction, VerifiedEntry, SIGNING_DOMAIN};
use ed25519_dalek::{Signer, SigningKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

const VECTORS_PATH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/vectors/entries.json");
const NETWORK: &str = "customs-vectors";
const CREATED_AT_MS: u64 = 1_795_830_600_000; // 2026-11-28T01:50:00Z

#[derive(Debug, Serialize, Deserialize, PartialEq)]
struct Vector {
    description: String,
    public_key: String,
    entry: String,
    signature: String,
    signing_input: String,
    signed_entry: String,
    id: String,
    id_hash: String,
    valid: bool,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    error: Option<String>,
}

fn seed_key(n: u8) -> SecretKey {
    SecretKey::from_seed([n; 32])
}

fn sign_bytes(key: &SecretKey, entry_bytes: &[u8]) -> [u8; 64] {
    let mut input = SIGNING_DOMAIN.to_vec();
    input.extend_from_slice(entry_bytes);
    SigningKey::from_bytes(&key.seed()).sign(&input).to_bytes()
}

fn entry(key: &SecretKey, seq: u64, prev: Option<EntryId>, body: Body) -> Entry {
    Entry {
        network: NETWORK.into(),
        author: key.public_key(),
        seq,
        prev,
        created_at_ms: CREATED_AT_MS + seq * 60_000,
        markings: Default::default(),
        body,
        attachments: Vec::new(),
    }
}

/// Length prefix + entry bytes + signature, as a node would send them, built by hand
/// so that invalid entry bytes can be wrapped too.
fn wrap(entry_bytes: &[u8], signature: &[u8; 64]) -> Vec<u8> {
    let len = entry_bytes.len();
    let mut out = if len < 251 {
        vec![len as u8]
    } else {
        let mut prefix = vec![0xfb];
        prefix.extend_from_slice(&(len as u16).to_le_bytes());
        prefix
    };
    out.extend_from_slice(entry_bytes);
    out.extend_from_slice(signature);
    out
}

fn vector(
    description: &str,
    public_key: &customs_protocol::PublicKey,
    entry_bytes: Vec<u8>,
    signature: [u8; 64],
    error: Option<&str>,
) -> Vector {
    let mut signing_input = SIGNING_DOMAIN.to_vec();
    signing_input.extend_from_slice(&entry_bytes);
    Vector {
        description: description.into(),
        public_key: public_key.to_hex(),
        signed_entry: hex::encode(wrap(&entry_bytes, &signature)),
        entry: hex::encode(&entry_bytes),
        signature: hex::encode(signature),
        signing_input: hex::encode(signing_input),
        id: hex::encode(Sha256::digest(&entry_bytes)),
        id_hash: "sha256".into(),
        valid: error.is_none(),
        error: error.map(str::to_string),
    }
}

fn valid(description: &str, key: &SecretKey, e: Entry) -> (Vector, EntryId) {
    let signed = VerifiedEntry::sign(e, key).expect("a valid vector signs");
    let v = vector(
        description,
        &key.public_key(),
        signed.signed().entry_bytes().to_vec(),
        *signed.signed().signature(),
        None,
    );
    (v, signed.id())
}

/// Signs `entry_bytes` as they are, whatever they contain.
fn signed_anyway(description: &str, key: &SecretKey, entry_bytes: Vec<u8>, error: &str) -> Vector {
    let signature = sign_bytes(key, &entry_bytes);
    vector(
        description,
        &key.public_key(),
        entry_bytes,
        signature,
        Some(error),
    )
}

fn minimal_alert() -> RiskAlert {
    RiskAlert {
        reference: "BE-ANR-2026-0042".into(),
        category: Category::Tobacco,
        hs_code: "24022090".into(),
        description: "Undeclared cigarettes behind a load of furniture".into(),
        quantity: None,
        detected_on: Date::new(2026, 11, 25),
        location: Location {
            unlocode: "BEANR".into(),
            place_type: PlaceType::Seaport,
        },
        detection_method: DetectionMethod::Canine,
        concealment: Concealment::FalseCompartment,
        conveyance: Conveyance {
            mode: TransportMode::Road,
            containers: vec![],
            vessel_imo: None,
            flight: None,
            vehicle: None,
        },
        route: Route {
            origin: None,
            transit: vec![],
            destination: None,
        },
        indicators: vec![],
        severity: Severity::Medium,
        valid_until: None,
        direction: None,
        consignment: None,
        estimated_value: None,
    }
}

fn build_vectors() -> Vec<Vector> {
    let a = seed_key(1);
    let b = seed_key(2);
    let mut out = Vec::new();

    // Valid: each body type, seq 1 and seq > 1.
    let (v1, id1) = valid(
        "valid risk alert, seq 1 (the API documentation's example)",
        &a,
        entry(&a, 1, None, Body::RiskAlert(samples::risk_alert())),
    );
    out.push(v1);
    let (v2, id2) = valid(
        "valid risk alert, seq 2, no optional fields",
        &a,
        entry(&a, 2, Some(id1), Body::RiskAlert(minimal_alert())),
    );
    out.push(v2);
    let (v3, id3) = valid(
        "valid AEO record, seq 3 (granted)",
        &a,
        entry(&a, 3, Some(id2), Body::AeoRecord(samples::aeo_record())),
    );
    out.push(v3);
    let retraction = Retraction {
        target: id1,
        reason: RetractionReason::Superseded,
        note: Some("replaced by a corrected alert".into()),
    };
    let (v, retraction_id) = valid(
        "valid retraction of seq 1, seq 4",
        &a,
        entry(&a, 4, Some(id3), Body::Retraction(retraction)),
    );
    out.push(v);
    let mut suspended = samples::aeo_record();
    suspended.operator_id = "DE9876543210".into();
    suspended.country = customs_protocol::codes::Country(*b"DE");
    suspended.status = AeoStatus::Suspended;
    suspended.reason = Some("security audit findings at the main warehouse".into());
    let (v, suspended_id) = valid(
        "valid AEO record from another author, seq 1 (suspended, with reason)",
        &b,
        entry(&b, 1, None, Body::AeoRecord(suspended)),
    );
    out.push(v);

    // Valid: the operational loop, and alerts and AEO records with their newer fields.
    let (v, request_id) = valid(
        "valid request for control (B asks A to check a container), seq 2",
        &b,
        entry(
            &b,
            2,
            Some(suspended_id),
            Body::ControlRequest(samples::control_request()),
        ),
    );
    out.push(v);
    let (v, ack_id) = valid(
        "valid acknowledgement of that request by A, seq 5",
        &a,
        entry(
            &a,
            5,
            Some(retraction_id),
            Body::Acknowledgement(customs_protocol::control::Acknowledgement {
                request: request_id,
                note: Some("will be checked on arrival".into()),
            }),
        ),
    );
    out.push(v);
    let mut result = samples::control_result();
    result.subject = request_id;
    let (v, result_id) = valid(
        "valid result of control (seized), seq 6",
        &a,
        entry(&a, 6, Some(ack_id), Body::ControlResult(result)),
    );
    out.push(v);
    let mut full_alert = samples::risk_alert();
    full_alert.direction = Some(customs_protocol::control::Direction::Import);
    full_alert.consignment = Some(samples::control_request().consignment);
    full_alert.estimated_value = Some(customs_protocol::control::Money {
        amount: "2500000".into(),
        currency: "EUR".into(),
    });
    let (v, full_alert_id) = valid(
        "valid risk alert with direction, consignment and estimated value, seq 7",
        &a,
        entry(&a, 7, Some(result_id), Body::RiskAlert(full_alert.clone())),
    );
    out.push(v);
    // Version 3: an entry with attachments (SPEC.md section 15).
    let mut attached = entry(
        &a,
        8,
        Some(full_alert_id),
        Body::RiskAlert(full_alert.clone()),
    );
    attached.attachments = vec![
        Attachment {
            hash: BlobHash::of(b"a photo of the false floor"),
            size: 26,
            media_type: MediaType::Jpeg,
            caption: "False floor of the reefer, opened".into(),
            sealed: None,
        },
        Attachment {
            hash: BlobHash::of(b"the X-ray image"),
            size: 15,
            media_type: MediaType::Png,
            caption: String::new(),
            sealed: None,
        },
    ];
    let attached_bytes = attached.encode();
    assert_eq!(
        attached_bytes[0], 3,
        "an entry with attachments is version 3"
    );
    let (v, attached_id) = valid(
        "valid risk alert with two attachments (version 3), seq 8",
        &a,
        attached.clone(),
    );
    out.push(v);
    let mut reinstated = samples::aeo_record();
    reinstated.status = AeoStatus::Reinstated;
    reinstated.address = Some("Havenstraat 1\n3011 AA Rotterdam".into());
    reinstated.authorised_on = Some(Date::new(2020, 6, 1));
    reinstated.identifiers = vec![customs_protocol::body::OperatorIdentifier {
        scheme: "US_MID".into(),
        value: "NLEXALOG1234ROT".into(),
    }];
    reinstated.exchange_consent = true;
    out.push(
        valid(
            "valid AEO record: reinstated, with address, authorisation date, a partner identifier and consent, seq 9",
            &a,
            entry(&a, 9, Some(attached_id), Body::AeoRecord(reinstated)),
        )
        .0,
    );

    // Invalid: signatures.
    let alert_entry = entry(&a, 1, None, Body::RiskAlert(samples::risk_alert()));
    let alert_bytes = alert_entry.encode();
    let mut other_bytes = alert_bytes.clone();
    // The last byte of valid_until (day 20 -> 21), before the three absent fields
    // after it: a different valid entry.
    let day = other_bytes.len() - 4;
    other_bytes[day] ^= 0x01;
    let signature_of_other = sign_bytes(&a, &other_bytes);
    out.push(vector(
        "bad signature: the signature of a different entry",
        &a.public_key(),
        alert_bytes.clone(),
        signature_of_other,
        Some("BadSignature"),
    ));
    out.push(vector(
        "wrong author key: the entry names author A but B signed it",
        &a.public_key(),
        alert_bytes.clone(),
        sign_bytes(&b, &alert_bytes),
        Some("BadSignature"),
    ));
    let good = sign_bytes(&a, &alert_bytes);
    out.push(vector(
        "malleated signature: s replaced by s + L",
        &a.public_key(),
        alert_bytes.clone(),
        add_group_order(good),
        Some("NonCanonicalSignature"),
    ));
    let mut weak = entry(&a, 1, None, Body::RiskAlert(samples::risk_alert()));
    let mut identity_point = [0u8; 32];
    identity_point[0] = 1;
    weak.author = customs_protocol::PublicKey(identity_point);
    let weak_bytes = weak.encode();
    out.push(vector(
        "weak author key: the identity point (small order)",
        &weak.author,
        weak_bytes.clone(),
        sign_bytes(&a, &weak_bytes),
        Some("WeakAuthorKey"),
    ));

    // Invalid: encodings.
    let mut trailing = alert_bytes.clone();
    trailing.push(0);
    out.push(signed_anyway(
        "trailing byte after the entry",
        &a,
        trailing,
        "TrailingBytes",
    ));
    let seq_offset = 1 + 1 + NETWORK.len() + 32;
    assert_eq!(alert_bytes[seq_offset], 1, "seq 1 is one byte");
    let mut non_canonical = alert_bytes[..seq_offset].to_vec();
    non_canonical.extend_from_slice(&[0xfb, 0x01, 0x00]); // 1 as a 3-byte varint
    non_canonical.extend_from_slice(&alert_bytes[seq_offset + 1..]);
    out.push(signed_anyway(
        "non-canonical integer: seq 1 written as 0xfb 0x01 0x00",
        &a,
        non_canonical,
        "NonCanonical",
    ));
    let mut big = samples::risk_alert();
    big.description = String::new();
    let base = entry(&a, 1, None, Body::RiskAlert(big.clone()))
        .encode()
        .len();
    // The description's length prefix grows from 1 to 3 bytes.
    big.description = "x".repeat(MAX_ENTRY_BYTES + 1 - base - 2);
    let oversize = entry(&a, 1, None, Body::RiskAlert(big)).encode();
    assert_eq!(oversize.len(), MAX_ENTRY_BYTES + 1);
    out.push(signed_anyway(
        &format!(
            "oversize: entry of {} bytes, one over the limit",
            MAX_ENTRY_BYTES + 1
        ),
        &a,
        oversize,
        "TooLarge",
    ));
    let reference = b"NL-2026-000123";
    let category_offset = find(&alert_bytes, reference) + reference.len();
    assert_eq!(alert_bytes[category_offset], 0, "category drugs is tag 0");
    let mut unknown_tag = alert_bytes.clone();
    unknown_tag[category_offset] = 13; // one past the last category
    out.push(signed_anyway(
        "unknown enum tag: category 13",
        &a,
        unknown_tag,
        "UnknownTag",
    ));
    let mut unknown_version = alert_bytes.clone();
    unknown_version[0] = 4;
    out.push(signed_anyway(
        "unknown version: first byte 4",
        &a,
        unknown_version,
        "UnknownVersion",
    ));
    // Version 3 with an empty list: the same entry has a version-2 encoding.
    let mut empty_list = alert_bytes.clone();
    empty_list[0] = 3;
    empty_list.push(0);
    out.push(signed_anyway(
        "version 3 with no attachments (an entry without attachments is version 2)",
        &a,
        empty_list,
        "NonCanonical",
    ));
    let mut twice = attached.clone();
    twice.seq = 1;
    twice.prev = None;
    twice.attachments[1].hash = twice.attachments[0].hash;
    out.push(signed_anyway(
        "the same blob attached twice",
        &a,
        twice.encode(),
        "Duplicate",
    ));
    let mut keyed = twice.clone();
    keyed.attachments.truncate(1);
    keyed.attachments[0].sealed = Some(SealedBlob::encrypt([7; 32], b"a photo").expect("small").0);
    out.push(signed_anyway(
        "an open record's attachment carrying a blob key",
        &a,
        keyed.encode(),
        "Placement",
    ));

    // Invalid: field rules, correctly signed.
    let mut bad_container = samples::risk_alert();
    bad_container.conveyance.containers = vec!["CSQU3054384".into()];
    out.push(signed_anyway(
        "bad container check digit: CSQU3054384 (ISO 6346 gives 3)",
        &a,
        entry(&a, 1, None, Body::RiskAlert(bad_container)).encode(),
        "ContainerCheckDigit",
    ));
    let mut bad_imo = samples::risk_alert();
    bad_imo.conveyance.vessel_imo = Some("9074728".into());
    out.push(signed_anyway(
        "bad IMO check digit: 9074728 (the rule gives 9)",
        &a,
        entry(&a, 1, None, Body::RiskAlert(bad_imo)).encode(),
        "ImoCheckDigit",
    ));
    let mut bad_country = samples::risk_alert();
    bad_country.route.origin = Some(customs_protocol::codes::Country(*b"QQ"));
    out.push(signed_anyway(
        "unknown country: route origin QQ",
        &a,
        entry(&a, 1, None, Body::RiskAlert(bad_country)).encode(),
        "UnknownCountry",
    ));
    // "Empty" means: every character has Unicode's White_Space property.
    for (what, text) in [
        ("tab and newline", "\t\n"),
        ("no-break space U+00A0", "\u{a0}"),
        ("em space U+2003", "\u{2003}"),
        ("ideographic space U+3000", "\u{3000}"),
    ] {
        let mut blank = samples::risk_alert();
        blank.description = text.into();
        out.push(signed_anyway(
            &format!("empty description: only white space ({what})"),
            &a,
            entry(&a, 1, None, Body::RiskAlert(blank)).encode(),
            "Empty",
        ));
    }
    let mut zero_width = samples::risk_alert();
    // U+200B ZERO WIDTH SPACE is not White_Space (nor a control character): not empty.
    zero_width.description = "\u{200b}".into();
    out.push(
        valid(
            "valid: a description of one U+200B ZERO WIDTH SPACE (not White_Space)",
            &a,
            entry(&a, 1, None, Body::RiskAlert(zero_width)),
        )
        .0,
    );
    let mut bad_awb = full_alert.clone();
    if let Some(consignment) = bad_awb.consignment.as_mut() {
        consignment.air_waybill = Some("16012345676".into());
    }
    out.push(signed_anyway(
        "bad air waybill check digit: 16012345676 (1234567 mod 7 gives 5)",
        &a,
        entry(&a, 1, None, Body::RiskAlert(bad_awb)).encode(),
        "AirWaybillCheckDigit",
    ));
    let mut bad_currency = full_alert;
    bad_currency.estimated_value = Some(customs_protocol::control::Money {
        amount: "10".into(),
        currency: "EUX".into(),
    });
    out.push(signed_anyway(
        "unknown currency: EUX",
        &a,
        entry(&a, 1, None, Body::RiskAlert(bad_currency)).encode(),
        "UnknownCurrency",
    ));
    out.push(signed_anyway(
        "seq 2 without prev",
        &a,
        entry(&a, 2, None, Body::RiskAlert(samples::risk_alert())).encode(),
        "PrevMissing",
    ));
    out
}

fn find(haystack: &[u8], needle: &[u8]) -> usize {
    haystack
        .windows(needle.len())
        .position(|w| w == needle)
        .expect("needle present")
}

/// s + L over the signature's second half (little endian); s < L, so no overflow.
fn add_group_order(mut signature: [u8; 64]) -> [u8; 64] {
    const L: [u8; 32] = [
        0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde,
        0x14, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
    ];
    let mut carry = 0u16;
    for (s, l) in signature[32..].iter_mut().zip(L) {
        let sum = u16::from(*s) + u16::from(l) + carry;
        *s = sum as u8;
        carry = sum >> 8;
    }
    assert_eq!(carry, 0);
    signature
}

fn render(vectors: &[Vector]) -> String {
    serde_json::to_string_pretty(vectors).expect("serialises") + "\n"
}

#[test]
fn vectors_file_matches_the_code() {
    let generated = render(&build_vectors());
    if std::env::var_os("UPDATE_VECTORS").is_some() {
        std::fs::write(VECTORS_PATH, &generated).expect("write vectors");
    }
    let on_disk = std::fs::read_to_string(VECTORS_PATH).unwrap_or_default();
    assert!(
        on_disk == generated,
        "{VECTORS_PATH} differs from what the code generates; if the format change is \
         intended, run: UPDATE_VECTORS=1 cargo test -p customs-protocol --test vectors"
    );
}

fn outcome(signed_entry: &[u8]) -> Result<(), EntryError> {
    VerifiedEntry::from_bytes(signed_entry).map(|_| ())
}

#[test]
fn every_vector_has_the_outcome_it_records() {
    let text = std::fs::read_to_string(VECTORS_PATH).expect("vectors file exists");
    let vectors: Vec<Vector> = serde_json::from_str(&text).expect("vectors parse");
    assert!(vectors.len() >= 18);
    for v in &vectors {
        let entry = hex::decode(&v.entry).expect("hex");
        let signature: [u8; 64] = hex::decode(&v.signature)
            .expect("hex")
            .try_into()
            .expect("64 bytes");
        let signing_input = hex::decode(&v.signing_input).expect("hex");
        assert_eq!(
            signing_input[..SIGNING_DOMAIN.len()],
            *SIGNING_DOMAIN,
            "{}",
            v.description
        );
        assert_eq!(
            signing_input[SIGNING_DOMAIN.len()..],
            entry[..],
            "{}",
            v.description
        );
        assert_eq!(
            v.id,
            hex::encode(Sha256::digest(&entry)),
            "{}",
            v.description
        );
        assert_eq!(v.id_hash, "sha256");
        assert_eq!(v.signed_entry, hex::encode(wrap(&entry, &signature)));

        let signed_entry = hex::decode(&v.signed_entry).expect("hex");
        let result = outcome(&signed_entry);
        match (&v.error, result) {
            (None, Ok(())) => {
                let decoded = SignedEntry::decode(&signed_entry).expect("decodes");
                assert_eq!(decoded.id().to_hex(), v.id);
                assert_eq!(decoded.entry().author.to_hex(), v.public_key);
                assert_eq!(decoded.encode(), signed_entry, "bytes travel unchanged");
            }
            (Some(expected), Err(error)) => {
                assert_eq!(error.code(), expected, "{}: {error}", v.description)
            }
            (expected, result) => {
                panic!("{}: expected {expected:?}, got {result:?}", v.description)
            }
        }
    }
    let errors: Vec<_> = vectors.iter().filter_map(|v| v.error.as_deref()).collect();
    for class in [
        "BadSignature",
        "NonCanonicalSignature",
        "TrailingBytes",
        "NonCanonical",
        "TooLarge",
        "ContainerCheckDigit",
        "ImoCheckDigit",
        "UnknownTag",
    ] {
        assert!(errors.contains(&class), "no vector for {class}");
    }
}

/// A verifier that keeps decoded author keys across entries (as the node's does)
/// reaches every vector's verdict, in either order: a key decoded for a valid entry
/// cannot make a bad signature pass, and a weak key is refused each time.
#[test]
fn kept_author_keys_change_no_verdict() {
    let text = std::fs::read_to_string(VECTORS_PATH).expect("vectors file exists");
    let vectors: Vec<Vector> = serde_json::from_str(&text).expect("vectors parse");
    let mut keys = customs_protocol::AuthorKeys::default();
    for v in vectors.iter().chain(vectors.iter().rev()) {
        let signed_entry = hex::decode(&v.signed_entry).expect("hex");
        let kept = VerifiedEntry::from_bytes_with(&signed_entry, &mut keys).map(|_| ());
        assert_eq!(
            kept.map_err(|e| e.code()),
            outcome(&signed_entry).map_err(|e| e.code()),
            "{}",
            v.description
        );
    }
}

/// Entries signed before markings existed (version 1, `vectors/entries-v1.json`, the
/// vectors as they were) still read: a valid one stays valid with the same id and
/// the default markings, an invalid one stays invalid.
#[test]
fn version_1_entries_still_read() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/vectors/entries-v1.json");
    let text = std::fs::read_to_string(path).expect("v1 vectors file exists");
    let vectors: Vec<Vector> = serde_json::from_str(&text).expect("vectors parse");
    let mut valid = 0;
    for v in &vectors {
        let signed_entry = hex::decode(&v.signed_entry).expect("hex");
        let result = outcome(&signed_entry);
        if v.error.is_none() {
            result.unwrap_or_else(|e| panic!("{}: {e}", v.description));
            let decoded = SignedEntry::decode(&signed_entry).expect("decodes");
            assert_eq!(
                decoded.entry_bytes()[0],
                customs_protocol::entry::ENTRY_VERSION_1
            );
            assert_eq!(decoded.id().to_hex(), v.id, "{}", v.description);
            assert_eq!(
                decoded.entry().markings,
                customs_protocol::Markings::default()
            );
            valid += 1;
        } else {
            assert!(result.is_err(), "{} became valid", v.description);
        }
    }
    assert!(valid >= 5, "{valid} valid v1 vectors");
}
