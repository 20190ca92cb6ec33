//! Alerts as MISP feed events (MISP's JSON format, as PyMISP's `to_feed` writes it):
//! one event per alert, flat attributes, TLP and category as tags. A MISP instance
//! subscribes to `/misp-feed/` like any feed; a retracted alert comes back with a
//! later timestamp, its attributes deleted, so the instance removes them.

use customs_protocol::markings::{Handling, Reliability, Tlp};
use customs_protocol::{Body, EntryId, RiskAlert};
use serde_json::{json, Value};
use uuid::Uuid;

use super::Outgoing;
use crate::clock::rfc3339;

/// The event's uuid: the entry id's first 16 bytes, with the version (4) and variant
/// bits set (MISP takes RFC 4122 uuids only), so that a node finds the alert behind a
/// uuid by the id's first 6 bytes.
pub fn event_uuid(id: &EntryId) -> Uuid {
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&id.0[..16]);
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    Uuid::from_bytes(bytes)
}

/// The hex prefix (6 bytes) every entry whose event uuid is `uuid` starts with.
pub fn id_prefix(uuid: &Uuid) -> String {
    hex::encode(&uuid.as_bytes()[..6])
}

fn org(record: &Outgoing) -> Value {
    json!({
        "name": record.author.name,
        "uuid": super::stix::derived_uuid(&format!("misp-org:{}", record.author.code)).to_string(),
    })
}

fn tag(name: String, colour: &str) -> Value {
    json!({"name": name, "colour": colour})
}

/// MISP's taxonomies: `tlp`, `admiralty-scale`; the network's own `customs`.
fn tags(record: &Outgoing, alert: &RiskAlert) -> Vec<Value> {
    let markings = &record.record.markings;
    let (tlp, colour) = match markings.tlp {
        Tlp::Clear => ("clear", "#ffffff"),
        Tlp::Green => ("green", "#33ff00"),
        Tlp::Amber => ("amber", "#ffc000"),
        Tlp::AmberStrict => ("amber+strict", "#ffc000"),
        Tlp::Red => ("red", "#ff2b2b"),
    };
    let mut tags = vec![
        tag(format!("tlp:{tlp}"), colour),
        tag(
            format!("customs:category=\"{}\"", alert.category.as_str()),
            "#0088cc",
        ),
        tag(
            format!(
                "customs:severity=\"{}\"",
                serde_json::to_value(alert.severity)
                    .ok()
                    .and_then(|v| v.as_str().map(String::from))
                    .unwrap_or_default()
            ),
            "#0088cc",
        ),
    ];
    for code in &markings.handling {
        let name = match code {
            Handling::CrimePreventionOnly => "crime-prevention-only".to_string(),
            Handling::NoJudicialUse => "no-judicial-use".to_string(),
            Handling::NoOnwardSharing => "no-onward-sharing".to_string(),
            Handling::Other(text) => text.replace('"', "'"),
        };
        tags.push(tag(format!("customs:handling=\"{name}\""), "#666666"));
    }
    // Admiralty grades: X (cannot be judged) is F; accuracy 4 (cannot be judged) is 6.
    let reliability = match markings.source_reliability {
        Reliability::A => "a",
        Reliability::B => "b",
        Reliability::C => "c",
        Reliability::X => "f",
    };
    let credibility = match markings.accuracy {
        4 => 6,
        n => n,
    };
    tags.push(tag(
        format!("admiralty-scale:source-reliability=\"{reliability}\""),
        "#666666",
    ));
    tags.push(tag(
        format!("admiralty-scale:information-credibility=\"{credibility}\""),
        "#666666",
    ));
    if record.retracted_at_ms.is_some() {
        tags.push(tag("customs:retracted".into(), "#000000"));
    }
    tags
}

fn timestamp(record: &Outgoing) -> String {
    (record.retracted_at_ms.unwrap_or(record.created_at_ms) / 1000).to_string()
}

fn info(record: &Outgoing, alert: &RiskAlert) -> String {
    let retracted = match record.retracted_at_ms {
        Some(ms) => format!(" [retracted {}]", rfc3339(ms)),
        None => String::new(),
    };
    format!(
        "Seizure of {} at {} ({}, {}){retracted}",
        alert.category.as_str().replace('_', " "),
        alert.location.unlocode,
        record.author.code,
        alert.reference
    )
}

fn threat_level(alert: &RiskAlert) -> &'static str {
    use customs_protocol::body::Severity;
    match alert.severity {
        Severity::Critical | Severity::High => "1",
        Severity::Medium => "2",
        Severity::Low => "3",
    }
}

fn enum_text<T: serde::Serialize>(value: T) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(String::from))
        .unwrap_or_default()
}

/// The event of an alert (`None` for any other record).
pub fn event(record: &Outgoing) -> Option<Value> {
    let Body::RiskAlert(alert) = &record.record.body else {
        return None;
    };
    let stamp = timestamp(record);
    let deleted = record.retracted_at_ms.is_some();
    let mut attributes = Vec::new();
    let mut attribute = |kind: &str, category: &str, value: String, comment: &str, to_ids: bool| {
        let n = attributes.len();
        let uuid = super::stix::derived_uuid(&format!("misp-attribute:{}:{n}", record.id));
        attributes.push(json!({
            "uuid": uuid.to_string(),
            "type": kind,
            "category": category,
            "value": value,
            "comment": comment,
            "to_ids": to_ids && !deleted,
            "timestamp": stamp,
            "deleted": deleted,
            "disable_correlation": false,
        }));
    };
    attribute(
        "text",
        "Internal reference",
        alert.reference.clone(),
        "case reference of the publishing administration",
        false,
    );
    attribute(
        "text",
        "Internal reference",
        record.id.to_string(),
        "customs-network entry id",
        false,
    );
    attribute(
        "comment",
        "Other",
        alert.description.clone(),
        "description",
        false,
    );
    attribute("text", "Other", alert.hs_code.clone(), "HS code", true);
    for container in &alert.conveyance.containers {
        attribute(
            "text",
            "Other",
            container.clone(),
            "container number (ISO 6346)",
            true,
        );
    }
    let conveyance = &alert.conveyance;
    for (value, comment) in [
        (&conveyance.vessel_imo, "vessel IMO number"),
        (&conveyance.flight, "flight number"),
        (&conveyance.vehicle, "vehicle registration"),
    ] {
        if let Some(value) = value {
            attribute("text", "Other", value.clone(), comment, true);
        }
    }
    attribute(
        "text",
        "Other",
        alert.location.unlocode.clone(),
        &format!(
            "place of detection (UN/LOCODE, {})",
            enum_text(alert.location.place_type)
        ),
        false,
    );
    if let Some(origin) = &alert.route.origin {
        attribute(
            "text",
            "Other",
            origin.to_string(),
            "route: origin country",
            false,
        );
    }
    for country in &alert.route.transit {
        attribute(
            "text",
            "Other",
            country.to_string(),
            "route: transit country",
            false,
        );
    }
    if let Some(destination) = &alert.route.destination {
        attribute(
            "text",
            "Other",
            destination.to_string(),
            "route: destination country",
            false,
        );
    }
    if let Some(quantity) = &alert.quantity {
        attribute(
            "text",
            "Other",
            format!("{} {}", quantity.amount, enum_text(quantity.unit)),
            "quantity (UN/ECE Rec. 20 unit)",
            false,
        );
    }
    attribute(
        "text",
        "Other",
        enum_text(alert.detection_method),
        "detection method",
        false,
    );
    attribute(
        "text",
        "Other",
        enum_text(alert.concealment),
        "concealment",
        false,
    );
    attribute(
        "text",
        "Other",
        enum_text(conveyance.mode),
        "mode of transport",
        false,
    );
    for indicator in &alert.indicators {
        attribute("text", "Other", indicator.clone(), "risk indicator", false);
    }
    Some(json!({
        "Event": {
            "uuid": event_uuid(&record.id).to_string(),
            "info": info(record, alert),
            "date": alert.detected_on.to_string(),
            "timestamp": stamp,
            "publish_timestamp": stamp,
            "published": true,
            "analysis": "2",
            "threat_level_id": threat_level(alert),
            "Orgc": org(record),
            "Tag": tags(record, alert),
            "Attribute": attributes,
        }
    }))
}

/// The manifest entry of an event: what MISP compares to decide what to fetch.
pub fn manifest_entry(event: &Value) -> (String, Value) {
    let event = &event["Event"];
    (
        event["uuid"].as_str().unwrap_or_default().to_string(),
        json!({
            "Orgc": event["Orgc"],
            "Tag": event["Tag"],
            "info": event["info"],
            "date": event["date"],
            "analysis": event["analysis"],
            "threat_level_id": event["threat_level_id"],
            "timestamp": event["timestamp"],
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_uuid_leads_back_to_its_entry() {
        let id = EntryId([0xab; 32]);
        let uuid = event_uuid(&id);
        assert_eq!(uuid.get_version_num(), 4);
        assert_eq!(uuid.get_variant(), uuid::Variant::RFC4122);
        assert!(id.to_string().starts_with(&id_prefix(&uuid)));
        assert_ne!(event_uuid(&EntryId([0xac; 32])), uuid);
    }
}
