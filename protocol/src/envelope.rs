//! Restricted records: a record encrypted to its recipients, signed and replicated
//! like every entry (SPEC.md section 13).
//!
//! The record (its distribution, markings and body: a [`Sealed`]) is encrypted with
//! ChaCha20-Poly1305 under a fresh 32-byte content key. The content key is wrapped
//! for each recipient with HPKE (RFC 9180) in base mode, suite
//! DHKEM(X25519, HKDF-SHA256) / HKDF-SHA256 / ChaCha20-Poly1305: one slot per
//! recipient key, each a 32-byte encapsulated key and the 48-byte wrapped content key.
//! A slot names no recipient. Each slot carries a 16-byte tag: a group's slot the tag
//! only holders of that group's secret can compute ([`slot_tag`]), every other slot
//! random bytes. A node finds a group's slot by its tag (one hash per group key, then
//! one HPKE open), and its own slot by trying its node keys on the slots (trial
//! decryption, one X25519 operation per slot and node key). Slots are shuffled and
//! padded with random ones to a power of two (at least [`MIN_ENVELOPE_SLOTS`]), so the
//! envelope tells a non-recipient only a bound on the number of recipients.
//!
//! Envelopes of suite 1 (before 2026-12-08) have no tags: every key is tried on every
//! slot, so a node tries them only with its node keys and its live groups' current
//! keys, within each author's budget (node/src/store/sealed.rs).
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
use sha2::{Digest, Sha256};

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

/// The suite nodes seal with: DHKEM(X25519, HKDF-SHA256), HKDF-SHA256,
/// ChaCha20-Poly1305 for the slots; ChaCha20-Poly1305 for the record; a tag per slot.
pub const ENVELOPE_SUITE: u8 = 2;
/// The same without slot tags (sealed before 2026-12-08): still read.
pub const ENVELOPE_SUITE_UNTAGGED: u8 = 1;
/// HPKE `info` (followed by the network id), and the prefix of the associated data.
pub const ENVELOPE_DOMAIN: &[u8] = b"customs-network/envelope/v1\0";
/// Prepended to a group secret to derive the group's tag key.
pub const GROUP_TAG_KEY_DOMAIN: &[u8] = b"customs-network/group-tag-key/v1\0";
/// Prepended to a tag key and the associated data to compute a slot tag.
pub const SLOT_TAG_DOMAIN: &[u8] = b"customs-network/slot-tag/v1\0";
/// Bytes of a slot tag.
pub const SLOT_TAG_BYTES: usize = 16;

/// A restricted record as it travels: slots and ciphertext. Tells a non-recipient
/// nothing but its size.
///
/// Encoded as `suite`, `slots`, `ciphertext`, then for suite 2 `tags`; suite 1 has
/// no tags and keeps the bytes it always had.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Envelope {
    pub suite: u8,
    pub slots: Vec<Slot>,
    /// ChaCha20-Poly1305 of the encoded [`Sealed`] record, tag last.
    pub ciphertext: Vec<u8>,
    /// Suite 2: one tag per slot, in slot order ([`slot_tag`] for a group's slot,
    /// random bytes for the others). Empty in suite 1.
    pub tags: Vec<[u8; SLOT_TAG_BYTES]>,
}

impl Encode for Envelope {
    fn encode<E: bincode::enc::Encoder>(
        &self,
        encoder: &mut E,
    ) -> Result<(), bincode::error::EncodeError> {
        self.suite.encode(encoder)?;
        self.slots.encode(encoder)?;
        self.ciphertext.encode(encoder)?;
        if self.suite != ENVELOPE_SUITE_UNTAGGED {
            self.tags.encode(encoder)?;
        }
        Ok(())
    }
}

impl<Context> Decode<Context> for Envelope {
    fn decode<D: bincode::de::Decoder<Context = Context>>(
        decoder: &mut D,
    ) -> Result<Self, bincode::error::DecodeError> {
        let suite = u8::decode(decoder)?;
        let slots = Vec::<Slot>::decode(decoder)?;
        let ciphertext = Vec::<u8>::decode(decoder)?;
        let tags = match suite {
            ENVELOPE_SUITE_UNTAGGED => Vec::new(),
            _ => Vec::decode(decoder)?,
        };
        Ok(Envelope {
            suite,
            slots,
            ciphertext,
            tags,
        })
    }
}

bincode::impl_borrow_decode!(Envelope);

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
        if !(ENVELOPE_SUITE_UNTAGGED..=ENVELOPE_SUITE).contains(&self.suite) {
            return Err(ValidationError::new(
                "suite",
                Rule::OutOfRange {
                    value: self.suite.into(),
                    min: ENVELOPE_SUITE_UNTAGGED.into(),
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
        if self.is_tagged() && self.tags.len() != self.slots.len() {
            return Err(ValidationError::new(
                "tags",
                Rule::OutOfRange {
                    value: self.tags.len() as u64,
                    min: self.slots.len() as u64,
                    max: self.slots.len() as u64,
                },
            ));
        }
        Ok(())
    }

    /// Whether its slots carry tags (suite 2).
    pub fn is_tagged(&self) -> bool {
        self.suite != ENVELOPE_SUITE_UNTAGGED
    }

    /// The most X25519 operations [`open`] spends on this envelope with
    /// `node_keys` node keys and `group_keys` group keys: what a node charges to the
    /// author's decryption budget. A tagged envelope costs one per slot and node key,
    /// and one per slot a group tag matches; an untagged one every key on every slot.
    pub fn trial_cost(&self, node_keys: usize, group_keys: usize) -> usize {
        if self.is_tagged() {
            self.slots.len() * node_keys + self.slots.len().min(group_keys)
        } else {
            self.slots.len() * (node_keys + group_keys)
        }
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

/// What a group epoch's secret opens with: its key pair and its tag key.
#[derive(Debug)]
pub struct GroupKey {
    opening: OpeningKey,
    tag_key: [u8; 32],
}

impl GroupKey {
    pub fn of(group_secret: &[u8; 32]) -> GroupKey {
        GroupKey {
            opening: OpeningKey::of_group(group_secret).0,
            tag_key: group_tag_key(group_secret),
        }
    }

    pub fn public_key(&self) -> [u8; 32] {
        self.opening.public_key()
    }
}

/// The tag key of a group epoch: SHA-256(domain, secret). Only holders of the
/// secret can compute it, so only they can recognise the group's slot.
pub fn group_tag_key(group_secret: &[u8; 32]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(GROUP_TAG_KEY_DOMAIN);
    hasher.update(group_secret);
    hasher.finalize().into()
}

/// The tag of a group's slot in the envelope of the entry `aad` describes: the
/// first 16 bytes of SHA-256(domain, tag key, aad). Different in every entry, so
/// tags link no two records to one group for anyone without the key.
pub fn slot_tag(tag_key: &[u8; 32], aad: &[u8]) -> [u8; SLOT_TAG_BYTES] {
    let mut hasher = Sha256::new();
    hasher.update(SLOT_TAG_DOMAIN);
    hasher.update(tag_key);
    hasher.update(aad);
    let digest = hasher.finalize();
    let mut tag = [0u8; SLOT_TAG_BYTES];
    tag.copy_from_slice(&digest[..SLOT_TAG_BYTES]);
    tag
}

/// A key a record is sealed to: a node's X25519 key, or a group epoch's key pair
/// with its tag key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Recipient {
    pub key: [u8; 32],
    /// A group's tag key; `None` for a node key (its slot gets a random tag).
    pub tag_key: Option<[u8; 32]>,
}

impl Recipient {
    pub fn node(key: [u8; 32]) -> Recipient {
        Recipient { key, tag_key: None }
    }

    pub fn group(secret: &[u8; 32]) -> Recipient {
        Recipient {
            key: OpeningKey::of_group(secret).1,
            tag_key: Some(group_tag_key(secret)),
        }
    }

    /// Node keys as recipients.
    pub fn nodes(keys: &[[u8; 32]]) -> Vec<Recipient> {
        keys.iter().copied().map(Recipient::node).collect()
    }
}

fn public_bytes(key: &<X25519HkdfSha256 as hpke::Kem>::PublicKey) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(&key.to_bytes());
    out
}

/// Encrypts `record` to `recipients`, bound to the entry `aad` describes
/// ([`envelope_aad`]), in suite 2. Duplicate keys get one slot.
pub fn seal(
    record: &Sealed,
    recipients: &[Recipient],
    network: &str,
    aad: &[u8],
    rng: &mut impl rand_core::CryptoRng,
) -> Result<Envelope, SealError> {
    let mut keys: Vec<Recipient> = recipients.to_vec();
    keys.sort_unstable();
    keys.dedup_by_key(|r| r.key);
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
    for recipient in &keys {
        let public = <X25519HkdfSha256 as hpke::Kem>::PublicKey::from_bytes(&recipient.key)
            .map_err(|_| SealError::BadRecipientKey {
                key: hex::encode(recipient.key),
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
        let tag = match &recipient.tag_key {
            Some(tag_key) => slot_tag(tag_key, aad),
            None => random_tag(rng),
        };
        slots.push((slot, tag));
    }
    // Padding slots look like real ones: a fresh X25519 public key, random bytes.
    while slots.len() < slot_count(keys.len()) {
        let (_, public) = X25519HkdfSha256::gen_keypair_with_rng(rng);
        let mut wrapped = [0u8; 48];
        rng.fill_bytes(&mut wrapped);
        let slot = Slot {
            enc: public_bytes(&public),
            wrapped,
        };
        slots.push((slot, random_tag(rng)));
    }
    shuffle(&mut slots, rng);
    let (slots, tags) = slots.into_iter().unzip();
    Ok(Envelope {
        suite: ENVELOPE_SUITE,
        slots,
        ciphertext,
        tags,
    })
}

fn random_tag(rng: &mut impl rand_core::CryptoRng) -> [u8; SLOT_TAG_BYTES] {
    let mut tag = [0u8; SLOT_TAG_BYTES];
    rng.fill_bytes(&mut tag);
    tag
}

/// The number of slots for `recipients` keys: the next power of two, at least
/// [`MIN_ENVELOPE_SLOTS`], at most [`MAX_ENVELOPE_SLOTS`].
pub fn slot_count(recipients: usize) -> usize {
    recipients
        .next_power_of_two()
        .clamp(MIN_ENVELOPE_SLOTS, MAX_ENVELOPE_SLOTS)
}

fn shuffle<T>(slots: &mut [T], rng: &mut impl rand_core::CryptoRng) {
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

/// Finds this node's copy of the content key and decrypts the record with it.
///
/// A tagged envelope: each group key is tried only on the slots carrying its tag,
/// then each node key on every other slot. An untagged one (suite 1): every key on
/// every slot. At most [`Envelope::trial_cost`] X25519 operations either way.
pub fn open(
    envelope: &Envelope,
    node_keys: &[&OpeningKey],
    group_keys: &[&GroupKey],
    network: &str,
    aad: &[u8],
) -> Opened {
    let info = hpke_info(network);
    let try_slot =
        |key: &OpeningKey, slot: &Slot| -> Option<Opened> {
            let enc = <X25519HkdfSha256 as hpke::Kem>::EncappedKey::from_bytes(&slot.enc).ok()?;
            let content_key = hpke::single_shot_open::<
                ChaCha20Poly1305,
                HkdfSha256,
                X25519HkdfSha256,
            >(&OpModeR::Base, &key.0, &enc, &info, &slot.wrapped, aad)
            .ok()?;
            Some(open_content(envelope, &content_key, aad))
        };
    if !envelope.is_tagged() {
        let keys = node_keys
            .iter()
            .copied()
            .chain(group_keys.iter().map(|g| &g.opening));
        for key in keys {
            if let Some(opened) = envelope.slots.iter().find_map(|slot| try_slot(key, slot)) {
                return opened;
            }
        }
        return Opened::NotForUs;
    }
    let mut tagged = vec![false; envelope.slots.len()];
    for group in group_keys {
        // Only the first slot with the group's tag: a group has one slot, and a
        // forged envelope with the tag on every slot costs one operation, not 256.
        let tag = slot_tag(&group.tag_key, aad);
        let Some(i) = (0..envelope.slots.len()).find(|&i| !tagged[i] && envelope.tags[i] == tag)
        else {
            continue;
        };
        tagged[i] = true;
        if let Some(opened) = try_slot(&group.opening, &envelope.slots[i]) {
            return opened;
        }
    }
    for key in node_keys {
        let untagged = envelope.slots.iter().zip(&tagged).filter(|(_, t)| !**t);
        if let Some(opened) = untagged
            .into_iter()
            .find_map(|(slot, _)| try_slot(key, slot))
        {
            return opened;
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
