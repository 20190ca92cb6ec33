//! Entries: one step in an author's append-only log, signed by the author.
//!
//! A signed entry travels and rests as the exact bytes its author signed; nothing is
//! re-encoded before verifying or relaying. The entry id is SHA-256 of those bytes.

use std::fmt;

use bincode::{Decode, Encode};
use ed25519_dalek::Signature;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};

use crate::attachment::{validate_attachments, Attachment};
use crate::body::Body;
use crate::codec::{decode_canonical, encode, encode_into};
use crate::date::Date;
use crate::error::{DecodeError, EntryError, Rule, ValidationError, VerifyError};
use crate::identity::{PublicKey, SecretKey};
use crate::legacy::EntryV1;
use crate::limits::{MAX_ENTRY_BYTES, MAX_NETWORK_ID_BYTES, MAX_SIGNED_ENTRY_BYTES};
use crate::markings::Markings;

/// The first byte of an entry without attachments: the layout of 2026-11-28, which
/// nodes of that version read too.
pub const ENTRY_VERSION: u8 = 2;
/// The first byte of an entry with attachments: version 2's fields, then the list
/// (never empty: an entry without attachments is always version 2).
pub const ENTRY_VERSION_3: u8 = 3;
/// Entries signed before markings existed: read (with [`Markings::default`]), never
/// signed. Other first bytes are rejected.
pub const ENTRY_VERSION_1: u8 = 1;

/// Prepended to the entry bytes to form the signing input, so that a signature over
/// an entry can never be mistaken for a signature over anything else.
pub const SIGNING_DOMAIN: &[u8] = b"customs-network/entry/v1\0";

/// SHA-256 of an entry's bytes (the signature is not part of it).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Encode, Decode)]
pub struct EntryId(pub [u8; 32]);

impl EntryId {
    pub fn of(entry_bytes: &[u8]) -> Self {
        EntryId(Sha256::digest(entry_bytes).into())
    }

    /// The id of an entry in its signed encoding (as sent and stored), found from the
    /// length prefix without decoding the entry: for bytes that were checked once
    /// already, such as a store's own frames.
    pub fn of_signed(signed: &[u8]) -> Result<Self, DecodeError> {
        const WHAT: &str = "signed entry";
        let (length, start) = crate::codec::length_prefix(WHAT, signed)?;
        let end = usize::try_from(length)
            .ok()
            .and_then(|length| start.checked_add(length))
            .filter(|end| end.checked_add(64) == Some(signed.len()))
            .ok_or_else(|| DecodeError::Malformed {
                what: WHAT,
                offset: start,
                reason: format!(
                    "an entry of {length} bytes and a signature do not make {} bytes",
                    signed.len()
                ),
            })?;
        Ok(EntryId::of(&signed[start..end]))
    }

    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    pub fn from_hex(text: &str) -> Option<Self> {
        let mut bytes = [0u8; 32];
        (text.len() == 64 && hex::decode_to_slice(text, &mut bytes).is_ok())
            .then_some(EntryId(bytes))
    }
}

impl fmt::Display for EntryId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for EntryId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EntryId({})", self.to_hex())
    }
}

impl Serialize for EntryId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_hex())
    }
}

impl<'de> Deserialize<'de> for EntryId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        EntryId::from_hex(&text).ok_or_else(|| {
            serde::de::Error::custom(format!("entry id {text:?} must be 64 hex digits"))
        })
    }
}

/// One step in an author's log. Encoded as the version byte followed by these fields
/// in order (SPEC.md).
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct Entry {
    /// The network this entry belongs to; entries never cross networks.
    pub network: String,
    pub author: PublicKey,
    /// 1 for the author's first entry, then 2, 3, ...
    pub seq: u64,
    /// Id of the author's entry `seq - 1`; absent exactly when `seq = 1`.
    pub prev: Option<EntryId>,
    /// When the author created the entry (Unix time, milliseconds). Informational:
    /// the order of an author's entries is `seq`, never the clock.
    pub created_at_ms: u64,
    /// What readers may do with an open record. A sealed record carries its markings
    /// inside the envelope, and these are the defaults.
    pub markings: Markings,
    pub body: Body,
    /// Photos and documents the record lists (a sealed record lists them inside its
    /// envelope, and this is empty).
    pub attachments: Vec<Attachment>,
}

/// Version 2's fields, borrowed: the layout of an entry without attachments.
#[derive(Encode)]
struct EntryV2Ref<'a> {
    network: &'a String,
    author: &'a PublicKey,
    seq: &'a u64,
    prev: &'a Option<EntryId>,
    created_at_ms: &'a u64,
    markings: &'a Markings,
    body: &'a Body,
}

/// Version 2's fields, decoded.
#[derive(Encode, Decode)]
struct EntryV2 {
    network: String,
    author: PublicKey,
    seq: u64,
    prev: Option<EntryId>,
    created_at_ms: u64,
    markings: Markings,
    body: Body,
}

impl Entry {
    /// The canonical bytes: version byte, then the fields (version 2 without
    /// attachments, version 3 with).
    pub fn encode(&self) -> Vec<u8> {
        if self.attachments.is_empty() {
            let mut bytes = vec![ENTRY_VERSION];
            encode_into(
                &EntryV2Ref {
                    network: &self.network,
                    author: &self.author,
                    seq: &self.seq,
                    prev: &self.prev,
                    created_at_ms: &self.created_at_ms,
                    markings: &self.markings,
                    body: &self.body,
                },
                &mut bytes,
            );
            bytes
        } else {
            let mut bytes = vec![ENTRY_VERSION_3];
            encode_into(self, &mut bytes);
            bytes
        }
    }

    /// Decodes entry bytes: size limit first, then version, fields, no trailing bytes,
    /// canonical form. Says nothing about the signature or the field rules.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        if bytes.len() > MAX_ENTRY_BYTES {
            return Err(DecodeError::TooLarge {
                what: "entry",
                size: bytes.len(),
                limit: MAX_ENTRY_BYTES,
            });
        }
        match bytes.first() {
            None => Err(DecodeError::Truncated {
                what: "entry",
                offset: 0,
                missing: 1,
            }),
            Some(&ENTRY_VERSION) => {
                let v2 = decode_canonical::<EntryV2, MAX_ENTRY_BYTES>("entry", &bytes[1..], 1)?;
                Ok(Entry {
                    network: v2.network,
                    author: v2.author,
                    seq: v2.seq,
                    prev: v2.prev,
                    created_at_ms: v2.created_at_ms,
                    markings: v2.markings,
                    body: v2.body,
                    attachments: Vec::new(),
                })
            }
            Some(&ENTRY_VERSION_3) => {
                let entry = decode_canonical::<Entry, MAX_ENTRY_BYTES>("entry", &bytes[1..], 1)?;
                if entry.attachments.is_empty() {
                    // One entry, one encoding: without attachments it is version 2.
                    return Err(DecodeError::NonCanonical {
                        what: "entry",
                        offset: 0,
                    });
                }
                Ok(entry)
            }
            Some(&ENTRY_VERSION_1) => {
                // Version 1 had no envelopes or groups: its body tags stop at 3.
                let v1 = decode_canonical::<EntryV1, MAX_ENTRY_BYTES>("entry", &bytes[1..], 1)?;
                Ok(Entry {
                    network: v1.network,
                    author: v1.author,
                    seq: v1.seq,
                    prev: v1.prev,
                    created_at_ms: v1.created_at_ms,
                    markings: Markings::default(),
                    body: v1.body.into(),
                    attachments: Vec::new(),
                })
            }
            Some(&found) => Err(DecodeError::UnknownVersion {
                what: "entry",
                found,
                supported: ENTRY_VERSION_3,
            }),
        }
    }

    /// Checks every rule that needs nothing but the entry itself.
    pub fn validate(&self) -> Result<(), ValidationError> {
        check_network_id(&self.network).map_err(|rule| ValidationError::new("network", rule))?;
        match (self.seq, self.prev) {
            (0, _) => return Err(ValidationError::new("seq", Rule::SeqZero)),
            (1, Some(_)) => return Err(ValidationError::new("prev", Rule::PrevUnexpected)),
            (2.., None) => return Err(ValidationError::new("prev", Rule::PrevMissing)),
            _ => {}
        }
        self.markings.validate().map_err(|e| e.within("markings"))?;
        match &self.body {
            Body::Sealed(_) if self.markings != Markings::default() => {
                return Err(ValidationError::new(
                    "markings",
                    Rule::Placement {
                        reason: "a sealed entry carries its markings inside the envelope",
                    },
                ))
            }
            Body::Group(_) => {
                return Err(ValidationError::new(
                    "body",
                    Rule::Placement {
                        reason: "a group's definition only travels sealed to its members",
                    },
                ))
            }
            _ => {}
        }
        self.body.validate().map_err(|e| e.within("body"))?;
        if !self.attachments.is_empty() {
            if !self.body.may_carry_attachments() {
                return Err(ValidationError::new(
                    "attachments",
                    Rule::Placement {
                        reason: "only alerts, AEO records, requests and results carry attachments (a sealed record lists them inside its envelope)",
                    },
                ));
            }
            validate_attachments(&self.attachments, false)?;
        }
        if let Body::RiskAlert(alert) = &self.body {
            // Detection cannot be after the day the entry was made (one day of slack
            // for time zones ahead of UTC).
            let latest = Date::from_unix_ms(self.created_at_ms.saturating_add(86_400_000));
            if alert.detected_on > latest {
                return Err(ValidationError::new(
                    "body.detected_on",
                    Rule::AfterCreation {
                        value: alert.detected_on.to_string(),
                        created_on: Date::from_unix_ms(self.created_at_ms).to_string(),
                    },
                ));
            }
        }
        Ok(())
    }

    /// The entry belongs to the network `expected`.
    pub fn check_network(&self, expected: &str) -> Result<(), ValidationError> {
        if self.network == expected {
            Ok(())
        } else {
            Err(ValidationError::new(
                "network",
                Rule::WrongNetwork {
                    expected: expected.to_string(),
                    found: self.network.clone(),
                },
            ))
        }
    }

    /// The entry was not created more than `max_skew_ms` after `now_ms`: a node
    /// refuses entries from the future instead of letting them sort first forever.
    pub fn check_not_in_future(
        &self,
        now_ms: u64,
        max_skew_ms: u64,
    ) -> Result<(), ValidationError> {
        if self.created_at_ms > now_ms.saturating_add(max_skew_ms) {
            Err(ValidationError::new(
                "created_at_ms",
                Rule::InFuture {
                    created_at_ms: self.created_at_ms,
                    now_ms,
                    max_skew_ms,
                },
            ))
        } else {
            Ok(())
        }
    }
}

/// Network id: 1 to 64 bytes of `a-z`, `0-9`, `-`, not starting or ending with `-`.
pub fn check_network_id(value: &str) -> Result<(), Rule> {
    let ok = !value.is_empty()
        && value.len() <= MAX_NETWORK_ID_BYTES
        && value
            .bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-')
        && !value.starts_with('-')
        && !value.ends_with('-');
    if ok {
        Ok(())
    } else {
        Err(Rule::NetworkId {
            value: value.to_string(),
        })
    }
}

/// The wire and storage layout of a signed entry: the entry bytes (length-prefixed)
/// then the 64-byte signature.
#[derive(Encode, Decode)]
struct SignedEntryLayout {
    entry: Vec<u8>,
    signature: [u8; 64],
}

/// An entry with its exact bytes and its signature, decoded but not yet verified.
#[derive(Clone, PartialEq, Eq)]
pub struct SignedEntry {
    entry_bytes: Vec<u8>,
    signature: [u8; 64],
    entry: Entry,
    id: EntryId,
}

impl SignedEntry {
    /// Decodes a signed entry from untrusted bytes (size limit first, canonical form,
    /// no trailing bytes, then the inner entry the same way).
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        if bytes.len() > MAX_SIGNED_ENTRY_BYTES {
            return Err(DecodeError::TooLarge {
                what: "signed entry",
                size: bytes.len(),
                limit: MAX_SIGNED_ENTRY_BYTES,
            });
        }
        let layout = decode_canonical::<SignedEntryLayout, MAX_SIGNED_ENTRY_BYTES>(
            "signed entry",
            bytes,
            0,
        )?;
        Self::from_parts(layout.entry, layout.signature)
    }

    /// Builds a signed entry from entry bytes and a signature, decoding the entry.
    pub fn from_parts(entry_bytes: Vec<u8>, signature: [u8; 64]) -> Result<Self, DecodeError> {
        let entry = Entry::decode(&entry_bytes)?;
        let id = EntryId::of(&entry_bytes);
        Ok(SignedEntry {
            entry_bytes,
            signature,
            entry,
            id,
        })
    }

    /// The wire and storage bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.entry_bytes.len() + 67);
        encode_into(&(self.entry_bytes.len() as u64), &mut out);
        out.extend_from_slice(&self.entry_bytes);
        out.extend_from_slice(&self.signature);
        out
    }

    /// The bytes the signature covers: [`SIGNING_DOMAIN`] followed by the entry bytes.
    pub fn signing_input(&self) -> Vec<u8> {
        signing_input(&self.entry_bytes)
    }

    /// Checks the author key (a valid point, not weak) and the signature, with
    /// `verify_strict` (canonical s, no small-order R).
    pub fn verify(&self) -> Result<(), VerifyError> {
        self.verify_with(&mut AuthorKeys::default())
    }

    /// [`SignedEntry::verify`] with the author's key decoded once per `keys`: the same
    /// checks, without decompressing a key again for each of its entries.
    pub fn verify_with(&self, keys: &mut AuthorKeys) -> Result<(), VerifyError> {
        let author = &self.entry.author;
        let key = keys.get(author)?;
        if !is_canonical_scalar(&self.signature[32..]) {
            return Err(VerifyError::NonCanonicalSignature);
        }
        let signature = Signature::from_bytes(&self.signature);
        key.verify_strict(&self.signing_input(), &signature)
            .map_err(|_| VerifyError::BadSignature {
                author: author.to_hex(),
            })
    }

    pub fn entry(&self) -> &Entry {
        &self.entry
    }

    pub fn entry_bytes(&self) -> &[u8] {
        &self.entry_bytes
    }

    pub fn signature(&self) -> &[u8; 64] {
        &self.signature
    }

    pub fn id(&self) -> EntryId {
        self.id
    }
}

impl fmt::Debug for SignedEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SignedEntry")
            .field("id", &self.id)
            .field("author", &self.entry.author)
            .field("seq", &self.entry.seq)
            .field("kind", &self.entry.body.kind())
            .finish()
    }
}

fn signing_input(entry_bytes: &[u8]) -> Vec<u8> {
    let mut input = Vec::with_capacity(SIGNING_DOMAIN.len() + entry_bytes.len());
    input.extend_from_slice(SIGNING_DOMAIN);
    input.extend_from_slice(entry_bytes);
    input
}

/// The group order L of edwards25519, little endian.
const GROUP_ORDER: [u8; 32] = [
    0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10,
];

/// Whether a 32-byte little-endian scalar is below L (RFC 8032 requires it; `s + L`
/// would otherwise give a second valid signature for the same message).
fn is_canonical_scalar(s: &[u8]) -> bool {
    for (a, l) in s.iter().rev().zip(GROUP_ORDER.iter().rev()) {
        if a != l {
            return a < l;
        }
    }
    false
}

/// A signed entry that decoded, verified and passed every field rule. The only way
/// to make one is [`VerifiedEntry::from_bytes`], [`VerifiedEntry::check`] or
/// [`VerifiedEntry::sign`], so holding one is proof of all three.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct VerifiedEntry(SignedEntry);

/// Authors' keys as verification needs them (a point on the curve, checked not weak).
/// Decoding one decompresses a point, about a tenth of a signature check; a page of a
/// sync holds runs of one author's entries, so a verifier keeps its decoded keys here.
/// Bounded: emptied when full. Only keys that decode are kept (a bad one is refused
/// each time, with its error).
#[derive(Debug, Default)]
pub struct AuthorKeys {
    keys: std::collections::HashMap<PublicKey, ed25519_dalek::VerifyingKey>,
}

impl AuthorKeys {
    /// Keys kept at most (a member's nodes and their rotations, with room to spare).
    pub const MAX_KEYS: usize = 1024;

    /// The verification key of `author`.
    pub fn get(&mut self, author: &PublicKey) -> Result<ed25519_dalek::VerifyingKey, VerifyError> {
        if let Some(key) = self.keys.get(author) {
            return Ok(*key);
        }
        let key = author.verifying_key().map_err(|e| match e {
            crate::KeyError::Weak { .. } => VerifyError::WeakAuthorKey {
                author: author.to_hex(),
            },
            _ => VerifyError::InvalidAuthorKey {
                author: author.to_hex(),
            },
        })?;
        if self.keys.len() >= Self::MAX_KEYS {
            self.keys.clear();
        }
        self.keys.insert(*author, key);
        Ok(key)
    }
}

impl VerifiedEntry {
    /// Decode, verify, validate: the whole check for bytes from anywhere.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, EntryError> {
        Self::from_bytes_with(bytes, &mut AuthorKeys::default())
    }

    /// [`VerifiedEntry::from_bytes`] with authors' keys decoded once per `keys`.
    pub fn from_bytes_with(bytes: &[u8], keys: &mut AuthorKeys) -> Result<Self, EntryError> {
        Self::check_with(SignedEntry::decode(bytes)?, keys)
    }

    /// Verify and validate an already decoded entry.
    pub fn check(signed: SignedEntry) -> Result<Self, EntryError> {
        Self::check_with(signed, &mut AuthorKeys::default())
    }

    /// [`VerifiedEntry::check`] with authors' keys decoded once per `keys`.
    pub fn check_with(signed: SignedEntry, keys: &mut AuthorKeys) -> Result<Self, EntryError> {
        signed.verify_with(keys)?;
        signed.entry.validate()?;
        Ok(VerifiedEntry(signed))
    }

    /// Signs an entry with `key`, refusing to sign an entry that breaks a rule or
    /// names another author.
    pub fn sign(entry: Entry, key: &SecretKey) -> Result<Self, EntryError> {
        if entry.author != key.public_key() {
            return Err(VerifyError::BadSignature {
                author: entry.author.to_hex(),
            }
            .into());
        }
        entry.validate()?;
        let entry_bytes = entry.encode();
        if entry_bytes.len() > MAX_ENTRY_BYTES {
            return Err(DecodeError::TooLarge {
                what: "entry",
                size: entry_bytes.len(),
                limit: MAX_ENTRY_BYTES,
            }
            .into());
        }
        let signature = key.sign_raw(&signing_input(&entry_bytes));
        let id = EntryId::of(&entry_bytes);
        Ok(VerifiedEntry(SignedEntry {
            entry_bytes,
            signature,
            entry,
            id,
        }))
    }

    pub fn signed(&self) -> &SignedEntry {
        &self.0
    }

    pub fn into_signed(self) -> SignedEntry {
        self.0
    }

    pub fn entry(&self) -> &Entry {
        &self.0.entry
    }

    pub fn id(&self) -> EntryId {
        self.0.id
    }

    pub fn encode(&self) -> Vec<u8> {
        self.0.encode()
    }
}

/// The encoded size of a value, for callers that budget bytes.
pub fn encoded_len<T: Encode>(value: &T) -> usize {
    encode(value).len()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::samples;

    #[test]
    fn kept_author_keys_stay_bounded() {
        let mut keys = AuthorKeys::default();
        for n in 0..=AuthorKeys::MAX_KEYS as u32 + 10 {
            let mut seed = [0u8; 32];
            seed[..4].copy_from_slice(&n.to_le_bytes());
            let author = SecretKey::from_seed(seed).public_key();
            assert!(keys.get(&author).is_ok());
            assert!(keys.keys.len() <= AuthorKeys::MAX_KEYS);
        }
    }

    fn key() -> SecretKey {
        SecretKey::from_seed([1; 32])
    }

    fn entry(seq: u64, prev: Option<EntryId>) -> Entry {
        Entry {
            network: "customs-test".into(),
            author: key().public_key(),
            seq,
            prev,
            created_at_ms: 1_795_830_600_000,
            markings: Default::default(),
            body: Body::RiskAlert(samples::risk_alert()),
            attachments: Vec::new(),
        }
    }

    #[test]
    fn sign_encode_decode_verify_round_trip() {
        let signed = VerifiedEntry::sign(entry(1, None), &key()).expect("signs");
        let bytes = signed.encode();
        let back = VerifiedEntry::from_bytes(&bytes).expect("verifies");
        assert_eq!(back, signed);
        assert_eq!(back.id(), EntryId::of(back.signed().entry_bytes()));
        assert_eq!(back.signed().encode(), bytes, "bytes travel unchanged");
    }

    #[test]
    fn layout_of_fixed_size_fields() {
        // Keys, ids and signatures are raw bytes with no length prefix.
        assert_eq!(encoded_len(&key().public_key()), 32);
        assert_eq!(encoded_len(&EntryId([0; 32])), 32);
        let signed = VerifiedEntry::sign(entry(1, None), &key()).expect("signs");
        let len = signed.signed().entry_bytes().len();
        assert_eq!(
            signed.encode().len(),
            len + 64 + if len < 251 { 1 } else { 3 }
        );
    }

    #[test]
    fn seq_and_prev_rules() {
        let prev = Some(EntryId([9; 32]));
        assert_eq!(entry(1, None).validate(), Ok(()));
        assert_eq!(entry(2, prev).validate(), Ok(()));
        assert_eq!(
            entry(0, None).validate().map_err(|e| e.rule),
            Err(Rule::SeqZero)
        );
        assert_eq!(
            entry(1, prev).validate().map_err(|e| e.rule),
            Err(Rule::PrevUnexpected)
        );
        assert_eq!(
            entry(2, None).validate().map_err(|e| e.rule),
            Err(Rule::PrevMissing)
        );
    }

    #[test]
    fn network_id_rules() {
        for ok in ["customs", "eu-customs-2026", "a", &"n".repeat(64)] {
            assert_eq!(check_network_id(ok), Ok(()), "{ok}");
        }
        for bad in [
            "",
            "Customs",
            "customs net",
            "-customs",
            "customs-",
            "cüstoms",
            &"n".repeat(65),
        ] {
            assert!(check_network_id(bad).is_err(), "{bad}");
        }
        let mut e = entry(1, None);
        e.network = "Bad Net".into();
        assert_eq!(
            e.validate().map_err(|e| e.field),
            Err("network".to_string())
        );
    }

    #[test]
    fn body_errors_are_reported_under_body() {
        let mut e = entry(1, None);
        if let Body::RiskAlert(alert) = &mut e.body {
            alert.hs_code = "12".into();
        }
        let error = e.validate().expect_err("invalid hs code");
        assert_eq!(error.field, "body.hs_code");
        assert_eq!(error.code(), "HsCodeFormat");
    }

    #[test]
    fn detection_after_creation_is_refused() {
        let mut e = entry(1, None);
        e.created_at_ms = 1_700_000_000_000; // 2023-11-14
        assert_eq!(
            e.validate().map(|_| ()).map_err(|e| e.field),
            Err("body.detected_on".to_string())
        );
    }

    #[test]
    fn context_checks() {
        let e = entry(1, None);
        assert_eq!(e.check_network("customs-test"), Ok(()));
        assert_eq!(
            e.check_network("other").map_err(|e| e.code()),
            Err("WrongNetwork")
        );
        let now = e.created_at_ms;
        assert_eq!(e.check_not_in_future(now, 0), Ok(()));
        assert_eq!(e.check_not_in_future(now - 1000, 60_000), Ok(()));
        assert_eq!(
            e.check_not_in_future(now - 120_000, 60_000)
                .map_err(|e| e.code()),
            Err("InFuture")
        );
    }

    #[test]
    fn refuses_to_sign_for_another_author_or_an_invalid_entry() {
        let mut e = entry(1, None);
        e.author = SecretKey::from_seed([2; 32]).public_key();
        assert_eq!(
            VerifiedEntry::sign(e, &key()).map_err(|e| e.code()),
            Err("BadSignature")
        );
        let e = entry(0, None);
        assert_eq!(
            VerifiedEntry::sign(e, &key()).map_err(|e| e.code()),
            Err("SeqZero")
        );
    }

    #[test]
    fn the_id_of_a_signed_encoding_needs_no_decoding() {
        let signed = VerifiedEntry::sign(entry(1, None), &key()).expect("sign");
        let bytes = signed.encode();
        assert_eq!(EntryId::of_signed(&bytes).ok(), Some(signed.id()));
        // A long entry takes a 3-byte length prefix.
        let mut long = entry(1, None);
        if let Body::RiskAlert(alert) = &mut long.body {
            alert.description = "x".repeat(400);
        }
        let long = VerifiedEntry::sign(long, &key()).expect("sign");
        assert_eq!(EntryId::of_signed(&long.encode()).ok(), Some(long.id()));
        for cut in [0, 1, bytes.len() - 1] {
            assert!(EntryId::of_signed(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(EntryId::of_signed(&longer).is_err());
    }

    #[test]
    fn canonical_scalar_boundary() {
        let mut l = GROUP_ORDER;
        assert!(!is_canonical_scalar(&l), "L itself is not below L");
        l[0] -= 1;
        assert!(is_canonical_scalar(&l), "L - 1 is");
        assert!(is_canonical_scalar(&[0; 32]));
        assert!(!is_canonical_scalar(&[0xff; 32]));
    }

    #[test]
    fn unknown_version_is_rejected() {
        let mut bytes = entry(1, None).encode();
        bytes[0] = 4;
        assert_eq!(
            Entry::decode(&bytes).map_err(|e| e.code()),
            Err("UnknownVersion")
        );
        // Version 3 is an entry with attachments; version 2's bytes under it lack
        // the list.
        bytes[0] = ENTRY_VERSION_3;
        assert_eq!(
            Entry::decode(&bytes).map_err(|e| e.code()),
            Err("Truncated")
        );
        assert_eq!(Entry::decode(&[]).map_err(|e| e.code()), Err("Truncated"));
    }

    #[test]
    fn decoder_errors_name_the_rule_and_offset() {
        let bytes = entry(1, None).encode();
        let prev_offset = 1 + 1 + "customs-test".len() + 32 + 1;
        assert_eq!(bytes[prev_offset], 0, "prev is absent");
        let mut bad_option = bytes.clone();
        bad_option[prev_offset] = 2;
        assert!(matches!(
            Entry::decode(&bad_option),
            Err(DecodeError::UnknownTag { type_name, found: 2, offset: 48, .. }) if type_name == "Option<EntryId>"
        ));

        // The year 2026 is `FB EA 07`; a u32 marker for a u16 field is malformed.
        let year = bytes
            .windows(3)
            .position(|w| w == [0xfb, 0xea, 0x07])
            .expect("year");
        let mut wide = bytes[..year].to_vec();
        wide.extend_from_slice(&[0xfc, 0xea, 0x07, 0, 0]);
        wide.extend_from_slice(&bytes[year + 3..]);
        assert_eq!(Entry::decode(&wide).map_err(|e| e.code()), Err("Malformed"));

        let truncated = &bytes[..bytes.len() - 1];
        let error = Entry::decode(truncated).expect_err("truncated");
        assert_eq!(error.code(), "Truncated");
        assert!(error.to_string().contains("byte offset"), "{error}");

        let mut trailing = bytes.clone();
        trailing.extend_from_slice(&[0, 0]);
        assert_eq!(
            Entry::decode(&trailing),
            Err(DecodeError::TrailingBytes {
                what: "entry",
                offset: bytes.len(),
                count: 2
            })
        );

        let mut bad_utf8 = bytes.clone();
        let network_start = 2;
        bad_utf8[network_start] = 0xff;
        assert_eq!(
            Entry::decode(&bad_utf8).map_err(|e| e.code()),
            Err("InvalidUtf8")
        );
    }

    #[test]
    fn largest_alert_fits_well_within_the_entry_limit() {
        let mut e = entry(1, None);
        e.body = Body::RiskAlert(samples::largest_risk_alert());
        assert_eq!(e.validate(), Ok(()));
        let len = e.encode().len();
        assert!(
            len < MAX_ENTRY_BYTES / 2,
            "largest valid alert is {len} bytes"
        );
    }
}
