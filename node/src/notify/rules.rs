//! What a watch list matches, and the signature and retry schedule of webhook
//! deliveries: pure functions, tested here.

use customs_protocol::body::Category;
use customs_protocol::codes::Country;
use customs_protocol::control::Consignment;
use customs_protocol::Body;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

/// What a watch-list rule looks at.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum WatchField {
    Container,
    VesselImo,
    Vehicle,
    OperatorId,
    HsPrefix,
    Unlocode,
    Country,
    Category,
}

/// One rule: the field equals the value (a prefix for `hs_prefix`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WatchRule {
    pub field: WatchField,
    pub value: String,
}

impl WatchRule {
    /// Normalised (upper case, no spaces around) and checked: a clear message for a
    /// value that can never match.
    pub fn normalised(&self) -> Result<WatchRule, String> {
        let value = self.value.trim().to_ascii_uppercase();
        let ok = match self.field {
            WatchField::Container => customs_protocol::codes::check_container(&value).is_ok(),
            WatchField::VesselImo => customs_protocol::codes::check_imo(&value).is_ok(),
            WatchField::Vehicle => customs_protocol::codes::check_vehicle(&value).is_ok(),
            WatchField::OperatorId => {
                !value.is_empty()
                    && value.len() <= 40
                    && value
                        .bytes()
                        .all(|c| c.is_ascii_alphanumeric() || b"_:/-".contains(&c))
            }
            WatchField::HsPrefix => {
                (2..=10).contains(&value.len()) && value.bytes().all(|c| c.is_ascii_digit())
            }
            WatchField::Unlocode => customs_protocol::codes::check_unlocode(&value).is_ok(),
            WatchField::Country => Country::parse_shape(&value).is_some_and(|c| c.check().is_ok()),
            WatchField::Category => Category::ALL
                .iter()
                .any(|c| c.as_str().eq_ignore_ascii_case(&value)),
        };
        if !ok {
            return Err(format!(
                "{:?} is not a valid {} value",
                self.value,
                serde_json::to_value(self.field)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default()
            ));
        }
        let value = match self.field {
            WatchField::Category => value.to_ascii_lowercase(),
            _ => value,
        };
        Ok(WatchRule {
            field: self.field,
            value,
        })
    }

    /// Whether a record's body matches this (normalised) rule.
    pub fn matches(&self, body: &Body) -> bool {
        let v = self.value.as_str();
        let in_consignment = |c: &Consignment| match self.field {
            WatchField::Container => c.containers.iter().any(|x| x == v),
            WatchField::VesselImo => c.vessel_imo.as_deref() == Some(v),
            WatchField::Vehicle => c.vehicle.as_deref() == Some(v),
            _ => false,
        };
        match body {
            Body::RiskAlert(a) => match self.field {
                WatchField::Container => {
                    a.conveyance.containers.iter().any(|x| x == v)
                        || a.consignment.as_ref().is_some_and(in_consignment)
                }
                WatchField::VesselImo => {
                    a.conveyance.vessel_imo.as_deref() == Some(v)
                        || a.consignment.as_ref().is_some_and(in_consignment)
                }
                WatchField::Vehicle => {
                    a.conveyance.vehicle.as_deref() == Some(v)
                        || a.consignment.as_ref().is_some_and(in_consignment)
                }
                WatchField::OperatorId => false,
                WatchField::HsPrefix => a.hs_code.starts_with(v),
                WatchField::Unlocode => a.location.unlocode == v,
                WatchField::Country => a.route.countries().any(|c| c.as_str() == v),
                WatchField::Category => a.category.as_str() == v,
            },
            Body::ControlRequest(r) => match self.field {
                WatchField::Unlocode => r.arrival.unlocode == v,
                WatchField::Category => r.category.is_some_and(|c| c.as_str() == v),
                _ => in_consignment(&r.consignment),
            },
            Body::ControlResult(r) => match self.field {
                WatchField::Unlocode => r.location.as_ref().is_some_and(|l| l.unlocode == v),
                WatchField::Category => r.found.as_ref().is_some_and(|f| f.category.as_str() == v),
                WatchField::HsPrefix => r
                    .found
                    .as_ref()
                    .and_then(|f| f.hs_code.as_deref())
                    .is_some_and(|hs| hs.starts_with(v)),
                _ => false,
            },
            Body::AeoRecord(r) => match self.field {
                WatchField::OperatorId => {
                    r.operator_id == v
                        || r.identifiers
                            .iter()
                            .any(|i| i.value == v || format!("{}:{}", i.scheme, i.value) == v)
                }
                WatchField::Country => r.country.as_str() == v,
                _ => false,
            },
            _ => false,
        }
    }
}

/// The indexes of the rules `body` matches.
pub fn matching_rules(rules: &[WatchRule], body: &Body) -> Vec<usize> {
    rules
        .iter()
        .enumerate()
        .filter(|(_, rule)| rule.matches(body))
        .map(|(i, _)| i)
        .collect()
}

/// HMAC-SHA256 (RFC 2104) of `message` with `key`.
pub fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    const BLOCK: usize = 64;
    let mut block = [0u8; BLOCK];
    if key.len() > BLOCK {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let pad = |byte: u8| block.map(|b| b ^ byte);
    let inner = Sha256::new()
        .chain_update(pad(0x36))
        .chain_update(message)
        .finalize();
    Sha256::new()
        .chain_update(pad(0x5c))
        .chain_update(inner)
        .finalize()
        .into()
}

/// The `X-Customs-Signature` header value of a delivery body sent at `timestamp`
/// (the `X-Customs-Timestamp` header, Unix seconds): HMAC-SHA256 of `timestamp`, `.`
/// and the body, so that a captured delivery cannot be replayed later (receivers
/// refuse a timestamp more than 5 minutes from their clock).
pub fn signature_header(secret: &str, timestamp: &str, body: &[u8]) -> String {
    let signed = [timestamp.as_bytes(), b".", body].concat();
    format!(
        "sha256={}",
        hex::encode(hmac_sha256(secret.as_bytes(), &signed))
    )
}

/// How long to wait before attempt `attempt + 1` after `attempt` failed ones:
/// doubling from `initial_ms`, at most `max_ms`.
pub fn retry_delay_ms(attempts: u32, initial_ms: u64, max_ms: u64) -> u64 {
    let factor = 1u64 << attempts.saturating_sub(1).min(32);
    initial_ms.saturating_mul(factor).min(max_ms)
}

#[cfg(test)]
mod tests {
    use super::*;
    use customs_protocol::samples;

    fn rule(field: WatchField, value: &str) -> WatchRule {
        WatchRule {
            field,
            value: value.into(),
        }
        .normalised()
        .expect("valid rule")
    }

    #[test]
    fn hmac_matches_rfc_4231() {
        // Test case 2 of RFC 4231.
        assert_eq!(
            hex::encode(hmac_sha256(b"Jefe", b"what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        // Test case 6: a key longer than the block.
        assert_eq!(
            hex::encode(hmac_sha256(
                &[0xaa; 131],
                b"Test Using Larger Than Block-Size Key - Hash Key First"
            )),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
    }

    #[test]
    fn retries_double_up_to_the_cap() {
        let delays: Vec<u64> = (1..=6).map(|a| retry_delay_ms(a, 1000, 10_000)).collect();
        assert_eq!(delays, [1000, 2000, 4000, 8000, 10_000, 10_000]);
        assert_eq!(retry_delay_ms(200, 1000, 300_000), 300_000);
    }

    #[test]
    fn rules_match_the_fields_they_name() {
        let alert = Body::RiskAlert(samples::risk_alert());
        assert!(rule(WatchField::Container, "csqu3054383").matches(&alert));
        assert!(!rule(WatchField::Container, "MSCU1234566").matches(&alert));
        assert!(rule(WatchField::VesselImo, "9074729").matches(&alert));
        assert!(rule(WatchField::HsPrefix, "0803").matches(&alert));
        assert!(!rule(WatchField::HsPrefix, "0804").matches(&alert));
        assert!(rule(WatchField::Country, "PA").matches(&alert));
        assert!(rule(WatchField::Unlocode, "NLRTM").matches(&alert));
        assert!(rule(WatchField::Category, "DRUGS").matches(&alert));
        let request = Body::ControlRequest(samples::control_request());
        assert!(rule(WatchField::Container, "MSCU1234566").matches(&request));
        assert!(rule(WatchField::Unlocode, "BEANR").matches(&request));
        let aeo = Body::AeoRecord(samples::aeo_record());
        assert!(rule(WatchField::OperatorId, "NL123456789").matches(&aeo));
        assert!(!rule(WatchField::Container, "CSQU3054383").matches(&aeo));
        assert_eq!(
            matching_rules(
                &[
                    rule(WatchField::Category, "tobacco"),
                    rule(WatchField::Country, "EC")
                ],
                &alert
            ),
            vec![1]
        );
    }

    #[test]
    fn a_rule_that_can_never_match_is_refused() {
        for (field, value) in [
            (WatchField::Container, "CSQU3054384"),
            (WatchField::VesselImo, "12"),
            (WatchField::HsPrefix, "08a"),
            (WatchField::Country, "QQ"),
            (WatchField::Category, "sweets"),
            (WatchField::Unlocode, "XXXXX"),
        ] {
            let refused = WatchRule {
                field,
                value: value.into(),
            }
            .normalised();
            assert!(refused.is_err(), "{field:?} {value}");
        }
    }
}
