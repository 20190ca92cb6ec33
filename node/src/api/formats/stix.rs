//! Records as STIX 2.1 objects (SPEC.md section 16).
//!
//! - an alert: `observed-data` (the seizure) whose `object_refs` name a
//!   `customs-consignment` (a new SCO: the conveyance), the place of detection as a
//!   `location`, the customs fields in the property extension;
//! - a request for control: a `grouping` of its consignment and place of arrival;
//! - a result of control: a `note` on the request or alert it answers;
//! - an AEO record: the operator as an `identity`, one version per status change;
//! - the signing administration as an `identity`; TLP as the standard TLP marking
//!   definitions, handling codes as statement markings; a retraction as `revoked`.
//!
//! Ids are derived from the entry id (or the member code, UN/LOCODE, ...): SHA-256 of
//! the namespace, the object type and the name, its first 16 bytes with the version
//! (4) and variant bits set. Every node exports a record under the same STIX id, and
//! the ids have the form STIX asks of SDOs (UUIDv4) without being random.

use customs_protocol::markings::{Handling, Tlp};
use customs_protocol::{Body, EntryId};
use serde_json::{json, Map, Value};
use uuid::Uuid;

use super::Outgoing;
use crate::clock::rfc3339;

/// The namespace of every STIX id this network derives (SPEC.md section 16).
pub const ID_NAMESPACE: Uuid = Uuid::from_u128(0x6c0e_5f1a_2b9d_4e0c_9a43_7d21_c8f3_05b6);

pub const MEDIA_TYPE: &str = "application/stix+json;version=2.1";

/// When the network's own definitions (the extension, its author) were written.
const DEFINITIONS_CREATED: &str = "2026-12-01T00:00:00.000Z";

/// `type--uuid` for a name under the namespace.
pub fn stix_id(object_type: &str, name: &str) -> String {
    format!(
        "{object_type}--{}",
        derived_uuid(&format!("{object_type}:{name}"))
    )
}

/// A UUID of the v4 form derived from `name` (SPEC.md section 16).
pub fn derived_uuid(name: &str) -> Uuid {
    use sha2::{Digest, Sha256};
    let digest = Sha256::new()
        .chain_update(ID_NAMESPACE.as_bytes())
        .chain_update(name.as_bytes())
        .finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    Uuid::from_bytes(bytes)
}

/// The STIX id of the main object of a record of this kind.
pub fn record_id(body: &Body, id: &EntryId) -> Option<String> {
    let object_type = match body {
        Body::RiskAlert(_) => "observed-data",
        Body::ControlRequest(_) => "grouping",
        Body::ControlResult(_) => "note",
        _ => return None,
    };
    Some(stix_id(object_type, &id.to_string()))
}

pub fn extension_id() -> String {
    stix_id("extension-definition", "customs-network/records/1")
}

fn network_identity_id() -> String {
    stix_id("identity", "customs-network")
}

pub fn administration_id(code: &str) -> String {
    stix_id("identity", &format!("administration:{code}"))
}

fn location_id(unlocode: &str) -> String {
    stix_id("location", &format!("unlocode:{unlocode}"))
}

/// The extension definition every customs object names, and its author.
pub fn definitions() -> Vec<Value> {
    vec![
        json!({
            "type": "identity",
            "spec_version": "2.1",
            "id": network_identity_id(),
            "created": DEFINITIONS_CREATED,
            "modified": DEFINITIONS_CREATED,
            "name": "Customs information-sharing network (specification)",
            "identity_class": "system",
        }),
        json!({
            "type": "extension-definition",
            "spec_version": "2.1",
            "id": extension_id(),
            "created_by_ref": network_identity_id(),
            "created": DEFINITIONS_CREATED,
            "modified": DEFINITIONS_CREATED,
            "name": "customs-network records",
            "description": "The fields of the customs network's signed records: risk alerts (seizures), requests for control, results of control and AEO records. The new SCO customs-consignment identifies a consignment and its conveyance.",
            "schema": "Section 16 of SPEC.md of the customs-network project: every property of the record's JSON form (the node's API), plus entry_id (the signed entry's id, 64 hex digits), author_code, record_type and markings.",
            "version": "1.0.0",
            "extension_types": ["property-extension", "new-sco"],
        }),
    ]
}

/// The standard TLP 1.0 marking definitions of STIX 2.1 (section 7.2.1.4), which
/// every STIX consumer knows. TLP 2.0's CLEAR is TLP:WHITE there; AMBER+STRICT is
/// AMBER with a statement saying so (never a looser marking than the record's).
fn tlp_marking(tlp: Tlp) -> Option<Value> {
    let (id, name) = match tlp {
        Tlp::Clear => ("613f2e26-407d-48c7-9eca-b8e91df99dc9", "white"),
        Tlp::Green => ("34098fce-860f-48ae-8e50-ebd3cc5e41da", "green"),
        Tlp::Amber | Tlp::AmberStrict => ("f88d31f6-486f-44da-b317-01333bde0b82", "amber"),
        Tlp::Red => return None,
    };
    Some(json!({
        "type": "marking-definition",
        "spec_version": "2.1",
        "id": format!("marking-definition--{id}"),
        "created": "2017-01-20T00:00:00.000Z",
        "definition_type": "tlp",
        "name": format!("TLP:{}", name.to_uppercase()),
        "definition": {"tlp": name},
    }))
}

fn statement_marking(statement: &str) -> Value {
    json!({
        "type": "marking-definition",
        "spec_version": "2.1",
        "id": stix_id("marking-definition", &format!("statement:{statement}")),
        "created": DEFINITIONS_CREATED,
        "definition_type": "statement",
        "definition": {"statement": statement},
    })
}

/// The marking definitions of a record: its TLP and one statement per condition.
fn markings(record: &Outgoing) -> Vec<Value> {
    let markings = &record.record.markings;
    let mut out: Vec<Value> = tlp_marking(markings.tlp).into_iter().collect();
    if markings.tlp == Tlp::AmberStrict {
        out.push(statement_marking(
            "TLP:AMBER+STRICT: share only within the recipient's own organisation.",
        ));
    }
    for code in &markings.handling {
        let statement = match code {
            Handling::CrimePreventionOnly => {
                "Handling: to be used for the prevention and combating of crime only.".into()
            }
            Handling::NoJudicialUse => {
                "Handling: not to be used in judicial proceedings without the provider's permission.".into()
            }
            // Never exported (see `outgoing`); stated all the same if it ever were.
            Handling::NoOnwardSharing => {
                "Handling: not to be passed on without the provider's permission.".into()
            }
            Handling::Other(text) => format!("Handling: {text}"),
        };
        out.push(statement_marking(&statement));
    }
    out
}

/// The author's `identity`.
fn administration(record: &Outgoing) -> Value {
    let created = rfc3339(record.author.since_ms);
    json!({
        "type": "identity",
        "spec_version": "2.1",
        "id": administration_id(&record.author.code),
        "created": created,
        "modified": created,
        "name": record.author.name,
        "identity_class": "organization",
        "sectors": ["government-national"],
        "description": format!("Customs administration, member {} of the network", record.author.code),
    })
}

fn location(unlocode: &str, place_type: Option<&str>) -> Value {
    let mut location = json!({
        "type": "location",
        "spec_version": "2.1",
        "id": location_id(unlocode),
        "created": DEFINITIONS_CREATED,
        "modified": DEFINITIONS_CREATED,
        "name": unlocode,
        "country": &unlocode[..2.min(unlocode.len())],
        "description": format!("UN/LOCODE {unlocode}"),
    });
    if let Some(place_type) = place_type {
        location["description"] = json!(format!("UN/LOCODE {unlocode} ({place_type})"));
    }
    location
}

/// The consignment and its conveyance: a new SCO, identified by the record.
fn consignment(record: &Outgoing, fields: Value) -> Value {
    let mut object = json!({
        "type": "customs-consignment",
        "spec_version": "2.1",
        "id": stix_id("customs-consignment", &record.id.to_string()),
        "extensions": {extension_id(): {"extension_type": "new-sco"}},
    });
    if let (Some(object), Value::Object(fields)) = (object.as_object_mut(), fields) {
        for (key, value) in fields {
            if !value.is_null() && value != json!([]) {
                object.insert(key, value);
            }
        }
    }
    object
}

/// The properties every object of a record carries.
fn common(record: &Outgoing, object_type: &str, marking_refs: Vec<Value>) -> Map<String, Value> {
    let created = rfc3339(record.created_at_ms);
    let modified = rfc3339(record.retracted_at_ms.unwrap_or(record.created_at_ms));
    let mut object = Map::new();
    object.insert("type".into(), json!(object_type));
    object.insert("spec_version".into(), json!("2.1"));
    object.insert(
        "id".into(),
        json!(stix_id(object_type, &record.id.to_string())),
    );
    object.insert(
        "created_by_ref".into(),
        json!(administration_id(&record.author.code)),
    );
    object.insert("created".into(), json!(created));
    object.insert("modified".into(), json!(modified));
    if record.retracted_at_ms.is_some() {
        object.insert("revoked".into(), json!(true));
    }
    object.insert(
        "external_references".into(),
        json!([{"source_name": "customs-network", "external_id": record.id.to_string()}]),
    );
    if !marking_refs.is_empty() {
        object.insert("object_marking_refs".into(), Value::Array(marking_refs));
    }
    object
}

/// The property extension: the record's own JSON fields, and who signed it.
fn extension(record: &Outgoing, record_type: &str, fields: Value) -> Value {
    let mut extension = match fields {
        Value::Object(map) => map,
        _ => Map::new(),
    };
    extension.retain(|_, v| !v.is_null() && *v != json!([]));
    extension.insert("extension_type".into(), json!("property-extension"));
    extension.insert("record_type".into(), json!(record_type));
    extension.insert("entry_id".into(), json!(record.id.to_string()));
    extension.insert("author_code".into(), json!(record.author.code));
    let markings = &record.record.markings;
    extension.insert(
        "markings".into(),
        json!({
            "tlp": markings.tlp.as_str(),
            "handling": markings.handling,
            "source_reliability": markings.source_reliability,
            "accuracy": markings.accuracy,
        }),
    );
    if !record.record.attachments.is_empty() {
        let attachments: Vec<Value> = record
            .record
            .attachments
            .iter()
            .map(|a| {
                json!({
                    "sha256": a.hash.to_string(),
                    "size": a.size,
                    "media_type": a.media_type.as_str(),
                    "caption": a.caption,
                })
            })
            .collect();
        extension.insert("attachments".into(), json!(attachments));
    }
    json!({extension_id(): extension})
}

/// The STIX objects of one record: its own, and those it refers to (author,
/// places, markings, the extension's definition). `refers_to` gives the STIX id of
/// another record (what a result answers), when that one may be exported too.
pub fn objects(record: &Outgoing, refers_to: impl Fn(&EntryId) -> Option<String>) -> Vec<Value> {
    let marking_objects = markings(record);
    let marking_refs: Vec<Value> = marking_objects.iter().map(|m| m["id"].clone()).collect();
    let mut out = definitions();
    out.extend(marking_objects);
    out.push(administration(record));
    match &record.record.body {
        Body::RiskAlert(alert) => {
            let conveyance = &alert.conveyance;
            let mut consignment_fields =
                serde_json::to_value(alert.consignment.clone().unwrap_or_default())
                    .unwrap_or(Value::Null);
            consignment_fields["transport_mode"] = json!(conveyance.mode.as_str());
            consignment_fields["containers"] = json!(conveyance.containers);
            for (key, value) in [
                ("vessel_imo", &conveyance.vessel_imo),
                ("flight", &conveyance.flight),
                ("vehicle", &conveyance.vehicle),
            ] {
                if value.is_some() {
                    consignment_fields[key] = json!(value);
                }
            }
            let consignment = consignment(record, consignment_fields);
            let place = &alert.location;
            let place_type = serde_json::to_value(place.place_type).unwrap_or(Value::Null);
            let location = location(&place.unlocode, place_type.as_str());
            let observed = format!("{}T00:00:00Z", alert.detected_on);
            let mut object = common(record, "observed-data", marking_refs);
            object.insert("first_observed".into(), json!(observed));
            object.insert("last_observed".into(), json!(observed));
            object.insert("number_observed".into(), json!(1));
            object.insert("object_refs".into(), json!([consignment["id"]]));
            let mut fields = serde_json::to_value(alert).unwrap_or(Value::Null);
            fields["location_ref"] = location["id"].clone();
            object.insert("extensions".into(), extension(record, "risk_alert", fields));
            out.push(location);
            out.push(consignment);
            out.push(Value::Object(object));
        }
        Body::ControlRequest(request) => {
            let consignment = consignment(
                record,
                serde_json::to_value(&request.consignment).unwrap_or(Value::Null),
            );
            let location = location(&request.arrival.unlocode, None);
            let mut object = common(record, "grouping", marking_refs);
            object.insert(
                "name".into(),
                json!(format!("Request for control {}", request.reference)),
            );
            object.insert("description".into(), json!(request.reason));
            object.insert("context".into(), json!("suspicious-activity"));
            object.insert(
                "object_refs".into(),
                json!([consignment["id"], location["id"]]),
            );
            let mut fields = serde_json::to_value(request).unwrap_or(Value::Null);
            let related: Vec<Value> = request
                .related
                .iter()
                .filter_map(|id| refers_to(id).map(Value::from))
                .collect();
            fields["related_refs"] = json!(related);
            object.insert(
                "extensions".into(),
                extension(record, "control_request", fields),
            );
            out.push(location);
            out.push(consignment);
            out.push(Value::Object(object));
        }
        Body::ControlResult(result) => {
            let mut object = common(record, "note", marking_refs);
            object.insert(
                "abstract".into(),
                json!(format!("Result of control: {}", result.outcome.as_str())),
            );
            let content = result
                .notes
                .clone()
                .or_else(|| result.reason_not_controlled.clone())
                .unwrap_or_else(|| format!("Outcome: {}", result.outcome.as_str()));
            object.insert("content".into(), json!(content));
            // What it answers, when that may be exported too; otherwise the author.
            let subject = refers_to(&result.subject)
                .unwrap_or_else(|| administration_id(&record.author.code));
            object.insert("object_refs".into(), json!([subject]));
            let mut fields = serde_json::to_value(result).unwrap_or(Value::Null);
            if let Some(place) = &result.location {
                let location = location(&place.unlocode, None);
                fields["location_ref"] = location["id"].clone();
                out.push(location);
            }
            object.insert(
                "extensions".into(),
                extension(record, "control_result", fields),
            );
            out.push(Value::Object(object));
        }
        Body::AeoRecord(aeo) => {
            // One identity per operator and issuer; each status change a new version.
            let mut object = common(record, "identity", marking_refs);
            object.insert(
                "id".into(),
                json!(stix_id(
                    "identity",
                    &format!("aeo:{}:{}", record.author.code, aeo.operator_id)
                )),
            );
            let first = aeo.authorised_on.unwrap_or(aeo.effective_from);
            let first_ms = first.days_since_epoch().max(0) as u64 * 86_400_000;
            let created = rfc3339(first_ms.min(record.created_at_ms));
            object.insert("created".into(), json!(created));
            object.insert("name".into(), json!(aeo.name));
            object.insert("identity_class".into(), json!("organization"));
            object.insert(
                "description".into(),
                json!(format!(
                    "Authorised economic operator {} ({}), {} by {}",
                    aeo.operator_id,
                    serde_json::to_value(aeo.programme)
                        .unwrap_or(Value::Null)
                        .as_str()
                        .unwrap_or(""),
                    aeo.status.as_str(),
                    record.author.code
                )),
            );
            if let Some(address) = &aeo.address {
                object.insert("contact_information".into(), json!(address));
            }
            let fields = serde_json::to_value(aeo).unwrap_or(Value::Null);
            object.insert("extensions".into(), extension(record, "aeo_record", fields));
            out.push(Value::Object(object));
        }
        _ => {}
    }
    out
}

/// A bundle of objects, each id once (the first occurrence: shared objects repeat
/// from record to record, always the same).
pub fn bundle(objects: Vec<Value>, bundle_name: &str) -> Value {
    json!({
        "type": "bundle",
        "id": stix_id("bundle", bundle_name),
        "objects": dedup(objects),
    })
}

/// Objects with each (id, modified) once, in their first order.
pub fn dedup(objects: Vec<Value>) -> Vec<Value> {
    let mut seen = std::collections::HashSet::new();
    objects
        .into_iter()
        .filter(|o| {
            seen.insert((
                o["id"].as_str().unwrap_or_default().to_string(),
                o["modified"].as_str().unwrap_or_default().to_string(),
            ))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::formats::Administration;
    use crate::store::Readable;
    use customs_protocol::markings::Markings;
    use customs_protocol::{samples, Distribution};

    fn record(body: Body, markings: Markings, retracted_at_ms: Option<u64>) -> Outgoing {
        Outgoing {
            id: EntryId([7; 32]),
            author: Administration {
                code: "NL".into(),
                name: "Douane Nederland".into(),
                since_ms: 1_700_000_000_000,
            },
            created_at_ms: 1_795_650_187_120,
            record: Readable {
                markings,
                distribution: Distribution::All,
                body,
                attachments: Vec::new(),
            },
            retracted_at_ms,
        }
    }

    #[test]
    fn derived_ids_are_stable_and_have_the_uuid4_form() {
        let id = stix_id("observed-data", &"07".repeat(32));
        assert_eq!(id, stix_id("observed-data", &"07".repeat(32)));
        assert_ne!(id, stix_id("grouping", &"07".repeat(32)));
        let uuid = Uuid::parse_str(id.trim_start_matches("observed-data--")).expect("a uuid");
        assert_eq!(uuid.get_version_num(), 4);
        assert_eq!(uuid.get_variant(), uuid::Variant::RFC4122);
        // SPEC.md section 16 fixes the bytes: these were computed from its text by a
        // separate implementation (Python's hashlib and uuid).
        assert_eq!(
            network_identity_id(),
            "identity--96761227-16fd-432e-9291-6530bc989f26"
        );
        assert_eq!(id, "observed-data--13ee3e9f-5b30-43cf-b4f8-7244bd54da1f");
    }

    #[test]
    fn an_alert_is_a_seizure_of_a_consignment_at_a_place() {
        let alert = record(
            Body::RiskAlert(samples::risk_alert()),
            Markings::default(),
            None,
        );
        let objects = objects(&alert, |_| None);
        let seizure = objects
            .iter()
            .find(|o| o["type"] == "observed-data")
            .expect("observed-data");
        assert_eq!(
            seizure["id"],
            json!(stix_id("observed-data", &alert.id.to_string()))
        );
        assert_eq!(seizure["created_by_ref"], json!(administration_id("NL")));
        assert!(seizure.get("revoked").is_none());
        let consignment = &seizure["object_refs"][0];
        assert!(objects
            .iter()
            .any(|o| o["id"] == *consignment && o["type"] == "customs-consignment"));
        let extension = &seizure["extensions"][extension_id()];
        assert_eq!(extension["entry_id"], json!(alert.id.to_string()));
        assert_eq!(extension["hs_code"], json!(samples::risk_alert().hs_code));
        assert!(objects.iter().any(|o| o["id"] == extension["location_ref"]));
    }

    #[test]
    fn markings_are_never_looser_and_a_retraction_revokes() {
        let strict = Markings {
            tlp: Tlp::AmberStrict,
            handling: vec![Handling::NoJudicialUse],
            ..Markings::default()
        };
        let alert = record(
            Body::RiskAlert(samples::risk_alert()),
            strict,
            Some(1_795_700_000_000),
        );
        let objects = objects(&alert, |_| None);
        let seizure = objects
            .iter()
            .find(|o| o["type"] == "observed-data")
            .expect("observed-data");
        let refs = seizure["object_marking_refs"].as_array().expect("markings");
        let statements: Vec<&str> = objects
            .iter()
            .filter(|o| refs.contains(&o["id"]) && o["definition_type"] == "statement")
            .filter_map(|o| o["definition"]["statement"].as_str())
            .collect();
        assert!(refs.contains(&json!(
            "marking-definition--f88d31f6-486f-44da-b317-01333bde0b82"
        )));
        assert!(
            statements.iter().any(|s| s.starts_with("TLP:AMBER+STRICT")),
            "{statements:?}"
        );
        assert!(
            statements.iter().any(|s| s.contains("judicial")),
            "{statements:?}"
        );
        assert_eq!(seizure["revoked"], json!(true));
        assert_eq!(seizure["modified"], json!(rfc3339(1_795_700_000_000)));
        assert!(tlp_marking(Tlp::Red).is_none());
    }

    #[test]
    fn a_result_names_what_it_answers_when_that_may_leave() {
        let result = record(
            Body::ControlResult(samples::control_result()),
            Markings::default(),
            None,
        );
        let answered = stix_id("grouping", "subject");
        let with = objects(&result, |_| Some(answered.clone()));
        let note = with.iter().find(|o| o["type"] == "note").expect("note");
        assert_eq!(note["object_refs"], json!([answered]));
        let without = objects(&result, |_| None);
        let note = without.iter().find(|o| o["type"] == "note").expect("note");
        assert_eq!(note["object_refs"], json!([administration_id("NL")]));
    }
}
