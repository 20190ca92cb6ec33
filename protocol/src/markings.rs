//! Markings: what a record's reader may do with it, signed with the record.
//!
//! TLP 2.0 for disclosure, Europol-style handling codes for use, and the 4x4 grades
//! (source reliability A, B, C, X; information accuracy 1 to 4). A publisher that
//! gives none gets [`Markings::default`]: TLP:AMBER, no handling code, X and 4
//! ("cannot be judged"), which is also what an entry made before markings existed
//! shows.

use bincode::{Decode, Encode};
use serde::{Deserialize, Serialize};

use crate::body::{at, check_count, check_text};
use crate::error::{Rule, ValidationError};
use crate::limits::{MAX_HANDLING_CODES, MAX_HANDLING_TEXT_BYTES};

/// Traffic Light Protocol 2.0. Tags (in declaration order) are part of the format.
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Encode,
    Decode,
    Serialize,
    Deserialize,
)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Tlp {
    /// Disclosure is not limited.
    Clear,
    /// The community (here: the network's members and their partners).
    Green,
    /// The recipient's organisation and its clients, on a need-to-know basis.
    #[default]
    Amber,
    /// The recipient's organisation only.
    AmberStrict,
    /// The named recipients only.
    Red,
}

impl Tlp {
    pub fn as_str(&self) -> &'static str {
        match self {
            Tlp::Clear => "clear",
            Tlp::Green => "green",
            Tlp::Amber => "amber",
            Tlp::AmberStrict => "amber_strict",
            Tlp::Red => "red",
        }
    }
}

/// A condition on the use of a record (the handling codes officers know from SIENA).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Encode, Decode, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Handling {
    /// To be used for the prevention and combating of crime only.
    CrimePreventionOnly,
    /// Not to be used in judicial proceedings without the provider's permission.
    NoJudicialUse,
    /// Not to be passed on outside the network without the provider's permission.
    NoOnwardSharing,
    /// Any other condition, in words (up to 200 bytes).
    Other(String),
}

/// How reliable the source is (A: no doubt; B: mostly reliable; C: not reliable;
/// X: cannot be judged).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Encode, Decode, Serialize, Deserialize,
)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Reliability {
    A,
    B,
    C,
    #[default]
    X,
}

/// What a record's reader may do with it. Part of the signed record: a relay cannot
/// change it.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Markings {
    pub tlp: Tlp,
    /// At most 4 codes, none twice.
    pub handling: Vec<Handling>,
    pub source_reliability: Reliability,
    /// 1: known to be true without reservation; 2: known personally to the source;
    /// 3: not known personally but corroborated; 4: cannot be judged.
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 4))]
    pub accuracy: u8,
}

impl Default for Markings {
    fn default() -> Self {
        Markings {
            tlp: Tlp::Amber,
            handling: Vec::new(),
            source_reliability: Reliability::X,
            accuracy: 4,
        }
    }
}

impl Markings {
    pub fn validate(&self) -> Result<(), ValidationError> {
        check_count(self.handling.len(), MAX_HANDLING_CODES).map_err(at("handling"))?;
        for (i, code) in self.handling.iter().enumerate() {
            if let Handling::Other(text) = code {
                check_text(text, MAX_HANDLING_TEXT_BYTES, false)
                    .map_err(at(format!("handling[{i}].other")))?;
            }
            if self.handling[..i].contains(code) {
                return Err(ValidationError::new(
                    format!("handling[{i}]"),
                    Rule::Duplicate {
                        value: format!("{code:?}"),
                    },
                ));
            }
        }
        if !(1..=4).contains(&self.accuracy) {
            return Err(ValidationError::new(
                "accuracy",
                Rule::OutOfRange {
                    value: self.accuracy.into(),
                    min: 1,
                    max: 4,
                },
            ));
        }
        Ok(())
    }

    /// Whether a record so marked may leave the network (an export to systems outside
    /// it), and if not, why: never when marked `no_onward_sharing`, never TLP:RED
    /// (its named recipients only).
    pub fn may_leave_network(&self) -> Result<(), &'static str> {
        if self.handling.contains(&Handling::NoOnwardSharing) {
            Err("marked no_onward_sharing")
        } else if self.tlp == Tlp::Red {
            Err("marked TLP:RED")
        } else {
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_json_shape() {
        let markings: Markings = serde_json::from_str("{}").expect("all fields default");
        assert_eq!(markings, Markings::default());
        let json = r#"{"tlp":"amber_strict","handling":["no_judicial_use",{"other":"ask first"}],"source_reliability":"B","accuracy":2}"#;
        let markings: Markings = serde_json::from_str(json).expect("the documented shape");
        assert_eq!(markings.tlp, Tlp::AmberStrict);
        assert_eq!(
            markings.handling,
            vec![Handling::NoJudicialUse, Handling::Other("ask first".into())]
        );
        assert_eq!(serde_json::to_string(&markings).expect("json"), json);
        assert!(serde_json::from_str::<Markings>(r#"{"tlp":"purple"}"#).is_err());
    }

    #[test]
    fn rules() {
        let field = |m: Markings| m.validate().map_err(|e| (e.field, e.rule.code()));
        let mut m = Markings {
            accuracy: 5,
            ..Markings::default()
        };
        assert_eq!(field(m.clone()), Err(("accuracy".into(), "OutOfRange")));
        m.accuracy = 1;
        m.handling = vec![Handling::NoJudicialUse, Handling::NoJudicialUse];
        assert_eq!(field(m.clone()), Err(("handling[1]".into(), "Duplicate")));
        m.handling = vec![Handling::Other("x".repeat(MAX_HANDLING_TEXT_BYTES + 1))];
        assert_eq!(
            field(m.clone()),
            Err(("handling[0].other".into(), "TooLong"))
        );
        m.handling = vec![Handling::CrimePreventionOnly; MAX_HANDLING_CODES + 1];
        assert_eq!(field(m), Err(("handling".into(), "TooMany")));
    }

    #[test]
    fn what_may_leave_the_network() {
        let mut m = Markings::default();
        assert_eq!(m.may_leave_network(), Ok(()));
        m.handling.push(Handling::NoOnwardSharing);
        assert!(m.may_leave_network().is_err());
        m.handling.clear();
        m.tlp = Tlp::Red;
        assert!(m.may_leave_network().is_err());
    }
}
