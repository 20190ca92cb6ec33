//! Restricted records: a record encrypted to its recipients, signed and replicated
//! like every entry (SPEC.md section 13).
//!
//! The record (its distribution, markings and body: a [`Sealed`]) is encrypted with
//! ChaCha20-Poly1305 under a fresh 32-byte content key. The content key is wrapped
//! for each recipient with HPKE (RFC 9180) in base mode, suite
//! DHKEM(X25519, HKDF-SHA256) / HKDF-SHA256 / ChaCha20-Poly1305: one slot per
//! recipient key, each a 32-byte encapsulated key and the 48-byte wrapped content key.
//! A slot names no recipient: a node finds its copy by trying its keys on the slots
//! (trial decryption). Slots are shuffled and padded with random ones to a power of
//! two (at least [`MIN_ENVELOPE_SLOTS`]), so the envelope tells a non-recipient only
//! a bound on the number of recipients.
//!
//! Every piece is bound to the entry that carries it: the associated data of both
//! the record and each slot is [`envelope_aad`] (network, author, seq), so an envelope
//! copied into another entry does not open.

use bincode::{Decode, Encode};
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305 as ContentCipher, Nonce};
use hpke::aead::ChaCha20Poly1305;
use hpke::kdf::HkdfSha256;
use hpke::kem::X25519HkdfSha256;
use hpke::{Deserializable, Kem as _, OpModeR, OpModeS, Serializable};
use serde::{Deserialize, Serialize};

pub use hpke::rand_core;

use crate::attachment::{validate_attachments, Attachment};
use crate::body::{at, check_count, Body};
use crate::codec::{decode_canonical, encode};
use crate::error::{DecodeError, Rule, ValidationError};
use crate::governance::check_member_code;
use crate::groups::GroupRef;
use crate::identity::PublicKey;
use crate::limits::{
    MAX_ENTRY_BYTES, MAX_ENVELOPE_SLOTS, MAX_RECIPIENT_MEMBERS, MIN_ENVELOPE_SLOTS,
};
use crate::markings::Markings;

/// The only suite: DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, ChaCha20-Poly1305 for
/// the slots; ChaCha20-Poly1305 for the record.
pub const ENVELOPE_SUITE: u8 = 1;
/// HPKE `info` (followed by the network id), and the prefix of the associated data.
pub const ENVELOPE_DOMAIN: &[u8] = b"customs-network/envelope/v1\0";

/// A restricted record as it travels: slots and ciphertext. Tells a non-recipient
/// nothing but its size.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct Envelope {
    pub suite: u8,
    pub slots: Vec<Slot>,
    /// ChaCha20-Poly1305 of the encoded [`Sealed`] record, tag last.
    pub ciphertext: Vec<u8>,
}

/// One wrapped copy of the content key.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct Slot {
    /// HPKE's encapsulated key (an ephemeral X25519 public key).
    pub enc: [u8; 32],
    /// The content key sealed with HPKE, tag last.
    pub wrapped: [u8; 48],
}

/// Who may read a record. `All` is an open record; the others are sealed.
#[derive(Clone, Debug, Default, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Distribution {
    /// Every member (the record travels in the clear).
    #[default]
    All,
    /// The named members (their codes), and the author's administration.
    To(Vec<String>),
    /// The members of a closed user group at its current epoch.
    Group(GroupRef),
}

impl Distribution {
    pub fn is_restricted(&self) -> bool {
        !matches!(self, Distribution::All)
    }

    pub fn validate(&self) -> Result<(), ValidationError> {
        match self {
            Distribution::All | Distribution::Group(_) => Ok(()),
            Distribution::To(codes) => {
                if codes.is_empty() {
                    return Err(ValidationError::new("to", Rule::Empty));
                }
                check_count(codes.len(), MAX_RECIPIENT_MEMBERS).map_err(at("to"))?;
                for (i, code) in codes.iter().enumerate() {
                    check_member_code(code).map_err(at(format!("to[{i}]")))?;
                    if codes[..i].contains(code) {
                        return Err(ValidationError::new(
                            format!("to[{i}]"),
                            Rule::Duplicate {
                                value: code.clone(),
                            },
                        ));
                    }
                }
                Ok(())
            }
        }
    }
}

/// The plaintext of an envelope: the whole record, distribution included, so that
/// only recipients learn who else received it.
///
/// Encoded as the three fields of 2026-11-28, then the attachments only when there
/// are any: a record without attachments has the bytes it always had.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct Sealed {
    pub distribution: Distribution,
    pub markings: Markings,
    pub body: Body,
    /// Each with the key its blob travels encrypted under.
    pub attachments: Vec<Attachment>,
}

/// A sealed record without attachments, borrowed for encoding.
#[derive(Encode)]
struct SealedPlainRef<'a> {
    distribution: &'a Distribution,
    markings: &'a Markings,
    body: &'a Body,
}

/// A sealed record without attachments, decoded.
#[derive(Encode, Decode)]
struct SealedPlain {
    distribution: Distribution,
    markings: Markings,
    body: Body,
}

impl Sealed {
    pub fn encode(&self) -> Vec<u8> {
        if self.attachments.is_empty() {
            encode(&SealedPlainRef {
                distribution: &self.distribution,
                markings: &self.markings,
                body: &self.body,
            })
        } else {
            encode(self)
        }
    }

    /// Decodes either layout; the one with attachments must list at least one.
    pub fn decode(bytes: &[u8]) -> Result<Sealed, DecodeError> {
        const WHAT: &str = "sealed record";
        match decode_canonical::<SealedPlain, MAX_ENTRY_BYTES>(WHAT, bytes, 0) {
            Ok(plain) => Ok(Sealed {
                distribution: plain.distribution,
                markings: plain.markings,
                body: plain.body,
                attachments: Vec::new(),
            }),
            Err(DecodeError::TrailingBytes { .. }) => {
                let sealed = decode_canonical::<Sealed, MAX_ENTRY_BYTES>(WHAT, bytes, 0)?;
                if sealed.attachments.is_empty() {
                    return Err(DecodeError::NonCanonical {
                        what: WHAT,
                        offset: bytes.len() - 1,
                    });
                }
                Ok(sealed)
            }
            Err(error) => Err(error),
        }
    }

    /// The rules of the record inside: a restricted distribution, valid markings,
    /// and a body that may travel sealed (not governance, not another envelope).
    pub fn validate(&self) -> Result<(), ValidationError> {
        if !self.distribution.is_restricted() {
            return Err(ValidationError::new(
                "distribution",
                Rule::Placement {
                    reason: "a sealed record is addressed to named members or a group",
                },
            ));
        }
        self.distribution
            .validate()
            .map_err(|e| e.within("distribution"))?;
        self.markings.validate().map_err(|e| e.within("markings"))?;
        match &self.body {
            Body::Governance(_) | Body::CausalGovernance(_) | Body::Sealed(_) => {
                Err(ValidationError::new(
                    "body",
                    Rule::Placement {
                        reason: "governance entries and envelopes never travel sealed",
                    },
                ))
            }
            body => body.validate().map_err(|e| e.within("body")),
        }?;
        if !self.attachments.is_empty() {
            if !self.body.may_carry_attachments() {
                return Err(ValidationError::new(
                    "attachments",
                    Rule::Placement {
                        reason: "only alerts, AEO records, requests and results carry attachments",
                    },
                ));
            }
            validate_attachments(&self.attachments, true)?;
        }
        Ok(())
    }
}

impl Envelope {
    /// The shape rules a relay can check without reading it.
    pub fn validate(&self) -> Result<(), ValidationError> {
        if self.suite != ENVELOPE_SUITE {
            return Err(ValidationError::new(
                "suite",
                Rule::OutOfRange {
                    value: self.suite.into(),
                    min: ENVELOPE_SUITE.into(),
                    max: ENVELOPE_SUITE.into(),
                },
            ));
        }
        if self.slots.is_empty() {
            return Err(ValidationError::new("slots", Rule::Empty));
        }
        check_count(self.slots.len(), MAX_ENVELOPE_SLOTS).map_err(at("slots"))?;
        if self.ciphertext.len() < 16 {
            return Err(ValidationError::new("ciphertext", Rule::Empty));
        }
        Ok(())
    }
}

/// The associated data that binds an envelope to its entry.
pub fn envelope_aad(network: &str, author: &PublicKey, seq: u64) -> Vec<u8> {
    let mut aad = Vec::with_capacity(ENVELOPE_DOMAIN.len() + network.len() + 1 + 32 + 8);
    aad.extend_from_slice(ENVELOPE_DOMAIN);
    aad.extend_from_slice(network.as_bytes());
    aad.push(0);
    aad.extend_from_slice(&author.0);
    aad.extend_from_slice(&seq.to_be_bytes());
    aad
}

fn hpke_info(network: &str) -> Vec<u8> {
    [ENVELOPE_DOMAIN, network.as_bytes()].concat()
}

/// Why a record could not be sealed.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum SealError {
    #[error("no recipient key: a sealed record needs at least one")]
    NoRecipient,
    #[error(
        "{count} recipient keys, over the limit of {max} (address a closed user group instead)"
    )]
    TooManyRecipients { count: usize, max: usize },
    #[error("recipient key {key} is not an X25519 public key")]
    BadRecipientKey { key: String },
    #[error("encryption failed: {0}")]
    Crypto(String),
}

/// A secret this node can open slots with: its own X25519 key or a group's.
pub struct OpeningKey(<X25519HkdfSha256 as hpke::Kem>::PrivateKey);

impl std::fmt::Debug for OpeningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "OpeningKey(public {})", hex::encode(self.public_key()))
    }
}

impl OpeningKey {
    /// From a node's X25519 secret (the raw 32 bytes of `encryption.key`).
    pub fn from_secret(secret: &[u8; 32]) -> Option<OpeningKey> {
        <X25519HkdfSha256 as hpke::Kem>::PrivateKey::from_bytes(secret)
            .ok()
            .map(OpeningKey)
    }

    /// The key pair of a closed user group, derived from its 32-byte group secret
    /// with HPKE's DeriveKeyPair, so that a group is one more recipient key.
    pub fn of_group(group_secret: &[u8; 32]) -> (OpeningKey, [u8; 32]) {
        let (secret, public) = X25519HkdfSha256::derive_keypair(group_secret);
        (OpeningKey(secret), public_bytes(&public))
    }

    pub fn public_key(&self) -> [u8; 32] {
        public_bytes(&X25519HkdfSha256::sk_to_pk(&self.0))
    }
}

fn public_bytes(key: &<X25519HkdfSha256 as hpke::Kem>::PublicKey) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(&key.to_bytes());
    out
}

/// Encrypts `record` to `recipients` (X25519 public keys), bound to the entry
/// `aad` describes ([`envelope_aad`]). Duplicate keys get one slot.
pub fn seal(
    record: &Sealed,
    recipients: &[[u8; 32]],
    network: &str,
    aad: &[u8],
    rng: &mut impl rand_core::CryptoRng,
) -> Result<Envelope, SealError> {
    let mut keys: Vec<[u8; 32]> = recipients.to_vec();
    keys.sort_unstable();
    keys.dedup();
    if keys.is_empty() {
        return Err(SealError::NoRecipient);
    }
    if keys.len() > MAX_ENVELOPE_SLOTS {
        return Err(SealError::TooManyRecipients {
            count: keys.len(),
            max: MAX_ENVELOPE_SLOTS,
        });
    }
    let mut content_key = [0u8; 32];
    rng.fill_bytes(&mut content_key);
    let ciphertext = ContentCipher::new(&content_key.into())
        .encrypt(
            &Nonce::default(),
            Payload {
                msg: &record.encode(),
                aad,
            },
        )
        .map_err(|e| SealError::Crypto(e.to_string()))?;
    let info = hpke_info(network);
    let mut slots = Vec::with_capacity(slot_count(keys.len()));
    for key in &keys {
        let public = <X25519HkdfSha256 as hpke::Kem>::PublicKey::from_bytes(key).map_err(|_| {
            SealError::BadRecipientKey {
                key: hex::encode(key),
            }
        })?;
        let (enc, wrapped) = hpke::single_shot_seal_with_rng::<
            ChaCha20Poly1305,
            HkdfSha256,
            X25519HkdfSha256,
        >(&OpModeS::Base, &public, &info, &content_key, aad, rng)
        .map_err(|e| SealError::Crypto(e.to_string()))?;
        let mut slot = Slot {
            enc: [0; 32],
            wrapped: [0; 48],
        };
        slot.enc.copy_from_slice(&enc.to_bytes());
        slot.wrapped.copy_from_slice(&wrapped);
        slots.push(slot);
    }
    // Padding slots look like real ones: a fresh X25519 public key, random bytes.
    while slots.len() < slot_count(keys.len()) {
        let (_, public) = X25519HkdfSha256::gen_keypair_with_rng(rng);
        let mut wrapped = [0u8; 48];
        rng.fill_bytes(&mut wrapped);
        slots.push(Slot {
            enc: public_bytes(&public),
            wrapped,
        });
    }
    shuffle(&mut slots, rng);
    Ok(Envelope {
        suite: ENVELOPE_SUITE,
        slots,
        ciphertext,
    })
}

/// The number of slots for `recipients` keys: the next power of two, at least
/// [`MIN_ENVELOPE_SLOTS`], at most [`MAX_ENVELOPE_SLOTS`].
pub fn slot_count(recipients: usize) -> usize {
    recipients
        .next_power_of_two()
        .clamp(MIN_ENVELOPE_SLOTS, MAX_ENVELOPE_SLOTS)
}

fn shuffle(slots: &mut [Slot], rng: &mut impl rand_core::CryptoRng) {
    for i in (1..slots.len()).rev() {
        let j = (rng.next_u64() % (i as u64 + 1)) as usize;
        slots.swap(i, j);
    }
}

/// What trial decryption found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Opened {
    /// One of the keys opened a slot and the record inside is well formed.
    Record(Box<Sealed>),
    /// None of the keys opens a slot: this node is not a recipient.
    NotForUs,
    /// A key opened a slot but the record inside is damaged or breaks a rule: the
    /// author's fault (the signature is valid), shown to its recipients as such.
    Unreadable(String),
}

/// Tries each key on each slot (trial decryption; the cost is one X25519 operation
/// per slot and key) and decrypts the record with the first content key found.
pub fn open(envelope: &Envelope, keys: &[&OpeningKey], network: &str, aad: &[u8]) -> Opened {
    let info = hpke_info(network);
    for key in keys {
        for slot in &envelope.slots {
            let Ok(enc) = <X25519HkdfSha256 as hpke::Kem>::EncappedKey::from_bytes(&slot.enc)
            else {
                continue;
            };
            let Ok(content_key) = hpke::single_shot_open::<
                ChaCha20Poly1305,
                HkdfSha256,
                X25519HkdfSha256,
            >(
                &OpModeR::Base, &key.0, &enc, &info, &slot.wrapped, aad
            ) else {
                continue;
            };
            return open_content(envelope, &content_key, aad);
        }
    }
    Opened::NotForUs
}

fn open_content(envelope: &Envelope, content_key: &[u8], aad: &[u8]) -> Opened {
    let Ok(key) = <[u8; 32]>::try_from(content_key) else {
        return Opened::Unreadable(format!(
            "the content key is {} bytes, not 32",
            content_key.len()
        ));
    };
    let plaintext = match ContentCipher::new(&key.into()).decrypt(
        &Nonce::default(),
        Payload {
            msg: &envelope.ciphertext,
            aad,
        },
    ) {
        Ok(plaintext) => plaintext,
        Err(_) => {
            return Opened::Unreadable(
                "the record does not decrypt under its own content key".into(),
            )
        }
    };
    match Sealed::decode(&plaintext) {
        Ok(record) => match record.validate() {
            Ok(()) => Opened::Record(Box::new(record)),
            Err(e) => Opened::Unreadable(format!("the record inside breaks a rule: {e}")),
        },
        Err(e) => Opened::Unreadable(format!("the record inside does not decode: {e}")),
    }
}

#[cfg(test)]
mod tests;
