//! STIX 2.1 indicators from a national system, turned into draft alerts: node-local,
//! never signed or sent, until an officer completes one and publishes it as an alert
//! (then the draft is deleted).

use customs_protocol::body::Category;
use customs_protocol::limits::{MAX_DESCRIPTION_BYTES, MAX_INDICATORS, MAX_INDICATOR_BYTES};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use utoipa::ToSchema;

use crate::store::{Change, LocalState};
use crate::store::{Store, StoreError};

/// At most this many drafts wait on a node; an import beyond is refused.
pub const MAX_DRAFTS: usize = 1000;
/// At most this many indicators in one imported bundle.
pub const MAX_IMPORTED_INDICATORS: usize = 200;
/// At most this many bytes of alert fields in one draft (a record is at most 32 KiB).
pub const MAX_DRAFT_BYTES: usize = 16 * 1024;

/// The alert fields a publish needs that a draft may lack.
const REQUIRED: [&str; 10] = [
    "reference",
    "category",
    "hs_code",
    "description",
    "detected_on",
    "location",
    "detection_method",
    "concealment",
    "conveyance",
    "severity",
];

/// A draft before it is stored: where it came from and what it gives.
#[derive(Debug, Clone)]
pub struct DraftContent {
    pub source: DraftSource,
    pub alert: Value,
}

/// Where a draft came from.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct DraftSource {
    pub bundle_id: String,
    /// The indicator's STIX id.
    pub object_id: String,
    pub name: Option<String>,
    /// Who made the indicator (a STIX identity id), if it says.
    pub created_by_ref: Option<String>,
}

/// An alert waiting for an officer: what the indicator gave, and what is missing.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Draft {
    pub id: u64,
    /// When it was imported (RFC 3339, UTC).
    pub created_at: String,
    /// The token that imported it.
    pub imported_by: String,
    pub source: DraftSource,
    /// The alert's fields as far as the indicator gives them, in the shape
    /// `POST /api/v1/alerts` takes.
    #[schema(value_type = Object)]
    pub alert: Value,
    /// Fields the officer must fill in before publishing.
    pub missing: Vec<String>,
}

/// An object of the bundle that became no draft, and why.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Skipped {
    pub object_id: String,
    pub reason: String,
}

/// What an import made.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Imported {
    pub drafts: Vec<Draft>,
    /// Indicators that became no draft, with the reason.
    pub skipped: Vec<Skipped>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct DraftList {
    pub items: Vec<Draft>,
}

/// A bundle that cannot be imported at all.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("{0}")]
    NotABundle(String),
    #[error("the bundle has {count} indicators; import at most {MAX_IMPORTED_INDICATORS} at once")]
    TooMany { count: usize },
    #[error("{waiting} drafts wait already and this bundle adds {adding}; at most {MAX_DRAFTS} may wait: publish or delete some first")]
    Full { waiting: usize, adding: usize },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The drafts of a bundle (a STIX 2.1 bundle as JSON): one per usable indicator.
pub fn from_bundle(bundle: &Value) -> Result<(Vec<DraftContent>, Vec<Skipped>), ImportError> {
    if bundle["type"] != "bundle" {
        return Err(ImportError::NotABundle(
            "the body is not a STIX bundle: its \"type\" must be \"bundle\"".into(),
        ));
    }
    let bundle_id = bundle["id"].as_str().unwrap_or_default().to_string();
    let Some(objects) = bundle["objects"].as_array() else {
        return Err(ImportError::NotABundle(
            "the bundle has no \"objects\" list".into(),
        ));
    };
    let indicators: Vec<&Value> = objects
        .iter()
        .filter(|o| o["type"] == "indicator")
        .collect();
    if indicators.len() > MAX_IMPORTED_INDICATORS {
        return Err(ImportError::TooMany {
            count: indicators.len(),
        });
    }
    let mut drafts = Vec::new();
    let mut skipped = Vec::new();
    for indicator in indicators {
        let object_id = indicator["id"].as_str().unwrap_or_default().to_string();
        match draft_alert(indicator) {
            Ok(alert) => drafts.push(DraftContent {
                source: DraftSource {
                    bundle_id: bundle_id.clone(),
                    object_id,
                    name: indicator["name"].as_str().map(String::from),
                    created_by_ref: indicator["created_by_ref"].as_str().map(String::from),
                },
                alert,
            }),
            Err(reason) => skipped.push(Skipped { object_id, reason }),
        }
    }
    Ok((drafts, skipped))
}

/// The alert fields an indicator gives: its words as description and risk
/// indicators, its validity, a category among its labels, and the consignment's
/// identifiers from a pattern over `customs-consignment` or this network's
/// extension.
fn draft_alert(indicator: &Value) -> Result<Value, String> {
    if indicator["spec_version"] != "2.1" {
        return Err("not STIX 2.1 (spec_version is not \"2.1\")".into());
    }
    if indicator["revoked"] == true {
        return Err("revoked by its producer".into());
    }
    let name = indicator["name"].as_str().unwrap_or_default().trim();
    let text = indicator["description"].as_str().unwrap_or_default().trim();
    let pattern = indicator["pattern"].as_str().unwrap_or_default().trim();
    let description = match (name.is_empty(), text.is_empty()) {
        (false, false) => format!("{name}\n\n{text}"),
        (false, true) => name.to_string(),
        (true, false) => text.to_string(),
        (true, true) => return Err("the indicator has neither name nor description".into()),
    };
    if description.len() > MAX_DESCRIPTION_BYTES {
        return Err(format!(
            "its name and description are {} bytes; an alert's description holds {MAX_DESCRIPTION_BYTES}",
            description.len()
        ));
    }
    let mut alert = Map::new();
    alert.insert("description".into(), json!(description));
    let mut indicators: Vec<String> = Vec::new();
    for candidate in [name, pattern] {
        let single_line = !candidate.contains(['\n', '\r']);
        if !candidate.is_empty() && candidate.len() <= MAX_INDICATOR_BYTES && single_line {
            indicators.push(candidate.to_string());
        }
    }
    let labels = indicator["labels"]
        .as_array()
        .into_iter()
        .chain(indicator["indicator_types"].as_array())
        .flatten()
        .filter_map(|l| l.as_str());
    let mut category = None;
    for label in labels {
        let wanted = label.trim().to_ascii_lowercase().replace([' ', '-'], "_");
        if let Some(found) = Category::ALL.iter().find(|c| c.as_str() == wanted) {
            category.get_or_insert(*found);
        }
    }
    if let Some(category) = category {
        alert.insert("category".into(), json!(category.as_str()));
    }
    if let Some(until) = indicator["valid_until"].as_str().and_then(|t| t.get(..10)) {
        alert.insert("valid_until".into(), json!(until));
    }
    // This network's own extension: its fields are the alert's.
    let extension = &indicator["extensions"][super::stix::extension_id()];
    if let Some(fields) = extension.as_object() {
        for key in REQUIRED.iter().chain(&["quantity", "route", "direction"]) {
            if let Some(value) = fields.get(*key) {
                alert.insert((*key).into(), value.clone());
            }
        }
    }
    let mut containers = Vec::new();
    for (property, value) in pattern_comparisons(pattern) {
        match property.as_str() {
            "hs_code" => {
                alert.insert("hs_code".into(), json!(value));
            }
            "containers" | "containers[*]" => containers.push(value),
            "vessel_imo" | "flight" | "vehicle" => {
                let conveyance = alert.entry("conveyance").or_insert_with(|| json!({}));
                conveyance[property.as_str()] = json!(value);
            }
            _ => {}
        }
    }
    if !containers.is_empty() {
        let conveyance = alert.entry("conveyance").or_insert_with(|| json!({}));
        conveyance["containers"] = json!(containers);
    }
    indicators.truncate(MAX_INDICATORS);
    if !indicators.is_empty() {
        alert.insert("indicators".into(), json!(indicators));
    }
    let alert = Value::Object(alert);
    let size = alert.to_string().len();
    if size > MAX_DRAFT_BYTES {
        return Err(format!(
            "its fields take {size} bytes; a draft holds at most {MAX_DRAFT_BYTES}"
        ));
    }
    Ok(alert)
}

/// The `customs-consignment:PROPERTY = 'VALUE'` comparisons of a STIX pattern.
fn pattern_comparisons(pattern: &str) -> Vec<(String, String)> {
    const OBJECT: &str = "customs-consignment:";
    let mut out = Vec::new();
    let mut rest = pattern;
    while let Some(start) = rest.find(OBJECT) {
        rest = &rest[start + OBJECT.len()..];
        let Some((property, after)) = rest.split_once('=') else {
            break;
        };
        let property = property.trim().to_string();
        let after = after.trim_start();
        let Some(quoted) = after.strip_prefix('\'') else {
            continue;
        };
        let Some(end) = quoted.find('\'') else {
            break;
        };
        out.push((property, quoted[..end].to_string()));
        rest = &quoted[end + 1..];
    }
    out
}

/// Which required fields a draft's alert still lacks.
pub fn missing(alert: &Value) -> Vec<String> {
    REQUIRED
        .iter()
        .filter(|field| alert.get(**field).is_none())
        .map(|field| field.to_string())
        .collect()
}

/// The drafts waiting on this node (a node-local tree: never replicated).
#[derive(Debug, Clone)]
pub struct Drafts {
    local: LocalState,
    store: Store,
}

const NEXT_ID: &[u8] = b"n";
const DRAFT: u8 = b'd';

fn key(id: u64) -> Vec<u8> {
    let mut key = vec![DRAFT];
    key.extend_from_slice(&id.to_be_bytes());
    key
}

impl Drafts {
    pub fn new(store: Store) -> Drafts {
        Drafts {
            local: LocalState::new(store.clone(), "drafts"),
            store,
        }
    }

    /// Stores the drafts (all or none, durably) and returns them with their ids.
    pub fn add(
        &self,
        contents: Vec<DraftContent>,
        imported_by: &str,
        now_ms: u64,
    ) -> Result<Vec<Draft>, ImportError> {
        let waiting = self.local.count(&[DRAFT])?;
        if waiting + contents.len() > MAX_DRAFTS {
            return Err(ImportError::Full {
                waiting,
                adding: contents.len(),
            });
        }
        let mut drafts = Vec::new();
        let mut changes = Vec::new();
        for DraftContent { source, alert } in contents {
            let id = self.local.next_number(NEXT_ID)?;
            let draft = Draft {
                id,
                created_at: crate::clock::rfc3339(now_ms),
                imported_by: imported_by.to_string(),
                source,
                missing: missing(&alert),
                alert,
            };
            let bytes = serde_json::to_vec(&draft).map_err(|e| StoreError::Corrupt {
                what: format!("draft {id} does not encode: {e}"),
            })?;
            changes.push(Change::Put(key(id), bytes));
            drafts.push(draft);
        }
        self.local.apply(changes)?;
        self.store.flush()?;
        Ok(drafts)
    }

    /// The drafts, oldest first, at most `limit`.
    pub fn list(&self, limit: usize) -> Result<Vec<Draft>, StoreError> {
        self.local
            .scan(&[DRAFT], false, limit)?
            .into_iter()
            .map(|(_, value)| decode(&value))
            .collect()
    }

    pub fn get(&self, id: u64) -> Result<Option<Draft>, StoreError> {
        self.local.get(&key(id))?.map(|v| decode(&v)).transpose()
    }

    /// Deletes a draft; whether there was one.
    pub fn delete(&self, id: u64) -> Result<bool, StoreError> {
        if !self.local.contains(&key(id))? {
            return Ok(false);
        }
        self.local.delete(&key(id))?;
        self.store.flush()?;
        Ok(true)
    }
}

fn decode(bytes: &[u8]) -> Result<Draft, StoreError> {
    serde_json::from_slice(bytes).map_err(|e| StoreError::Corrupt {
        what: format!("a stored draft does not decode: {e}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bundle(objects: Value) -> Value {
        json!({"type": "bundle", "id": "bundle--1f8c5b6e-4b0e-4c1a-9d7e-2a6f0f3c9b11", "objects": objects})
    }

    fn indicator(extra: Value) -> Value {
        let mut object = json!({
            "type": "indicator",
            "spec_version": "2.1",
            "id": "indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f",
            "created": "2026-11-30T10:00:00.000Z",
            "modified": "2026-11-30T10:00:00.000Z",
            "name": "Cocaine in banana reefers from Guayaquil",
            "pattern_type": "stix",
            "valid_from": "2026-11-30T10:00:00Z",
        });
        if let (Some(object), Some(extra)) = (object.as_object_mut(), extra.as_object()) {
            object.extend(extra.clone());
        }
        object
    }

    #[test]
    fn an_indicator_gives_what_it_knows_and_names_what_is_missing() {
        let (drafts, skipped) = from_bundle(&bundle(json!([
            {"type": "identity", "id": "identity--5d0ad1b9-2a7c-4a59-8c0e-0d5d8b7c9a10"},
            indicator(json!({
                "description": "Reefer containers declared as bananas.",
                "labels": ["Drugs"],
                "valid_until": "2027-03-01T00:00:00Z",
                "pattern": "[customs-consignment:hs_code = '080390'] AND [customs-consignment:containers[*] = 'MSCU1234565']",
            })),
        ])))
        .expect("a bundle");
        assert!(skipped.is_empty());
        let DraftContent { source, alert } = &drafts[0];
        assert_eq!(
            source.name.as_deref(),
            Some("Cocaine in banana reefers from Guayaquil")
        );
        assert_eq!(alert["category"], "drugs");
        assert_eq!(alert["hs_code"], "080390");
        assert_eq!(alert["conveyance"]["containers"], json!(["MSCU1234565"]));
        assert_eq!(alert["valid_until"], "2027-03-01");
        assert!(alert["description"]
            .as_str()
            .is_some_and(|d| d.ends_with("declared as bananas.")));
        assert_eq!(
            missing(alert),
            vec![
                "reference",
                "detected_on",
                "location",
                "detection_method",
                "concealment",
                "conveyance",
                "severity"
            ]
            .into_iter()
            .filter(|f| *f != "conveyance")
            .map(String::from)
            .collect::<Vec<_>>()
        );
    }

    #[test]
    fn what_cannot_be_a_draft_is_skipped_with_its_reason() {
        let (drafts, skipped) = from_bundle(&bundle(json!([
            indicator(json!({"revoked": true})),
            indicator(json!({"spec_version": "2.0"})),
            indicator(json!({"name": "", "description": ""})),
            indicator(json!({"description": "x".repeat(MAX_DESCRIPTION_BYTES)})),
            indicator(json!({"extensions": {super::super::stix::extension_id(): {"route": {"transit": ["x".repeat(MAX_DRAFT_BYTES)]}}}})),
        ])))
        .expect("a bundle");
        assert!(drafts.is_empty());
        let reasons: Vec<&str> = skipped.iter().map(|s| s.reason.as_str()).collect();
        assert!(reasons[0].contains("revoked"), "{reasons:?}");
        assert!(reasons[1].contains("2.1"), "{reasons:?}");
        assert!(reasons[2].contains("neither"), "{reasons:?}");
        assert!(reasons[3].contains("bytes"), "{reasons:?}");
        assert!(reasons[4].contains("a draft holds"), "{reasons:?}");
    }

    #[test]
    fn a_body_that_is_no_bundle_or_too_big_is_refused_whole() {
        assert!(matches!(
            from_bundle(&json!({"type": "indicator"})),
            Err(ImportError::NotABundle(_))
        ));
        assert!(matches!(
            from_bundle(&json!({"type": "bundle"})),
            Err(ImportError::NotABundle(_))
        ));
        let many: Vec<Value> = (0..=MAX_IMPORTED_INDICATORS)
            .map(|_| indicator(json!({})))
            .collect();
        assert!(matches!(
            from_bundle(&bundle(json!(many))),
            Err(ImportError::TooMany { .. })
        ));
    }

    #[test]
    fn pattern_comparisons_are_read_without_a_full_parser() {
        assert_eq!(
            pattern_comparisons("[customs-consignment:vessel_imo = '9074729' OR customs-consignment:flight='KL1234']"),
            vec![
                ("vessel_imo".to_string(), "9074729".to_string()),
                ("flight".to_string(), "KL1234".to_string())
            ]
        );
        assert!(pattern_comparisons("[file:name = 'x']").is_empty());
        assert!(pattern_comparisons("[customs-consignment:hs_code = '12").is_empty());
    }
}
