//! Keys: an administration's ed25519 identity.
//!
//! This module knows the secret-key file *format* but never touches a file: the node
//! reads and writes it (with mode 0600), keeping this crate free of I/O.

use std::fmt;
use std::str::FromStr;

use bincode::{Decode, Encode};
use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use thiserror::Error;

/// First line of a secret-key file.
pub const KEY_FILE_HEADER: &str = "customs-network ed25519 secret key v1";

#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum KeyError {
    #[error("public key must be 64 hex digits, found {found} characters")]
    PublicKeyLength { found: usize },
    #[error("public key is not hex: {reason}")]
    PublicKeyHex { reason: String },
    #[error("public key {key} is not a valid ed25519 point")]
    NotOnCurve { key: String },
    #[error("public key {key} is a weak (small-order) ed25519 key")]
    Weak { key: String },
    #[error("secret key file must start with the line {KEY_FILE_HEADER:?}")]
    KeyFileHeader,
    #[error("secret key file must have exactly one line of 64 hex digits after the header")]
    KeyFileBody,
}

/// An ed25519 public key: an author, a member, a libp2p identity. Shown as lowercase hex.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Encode, Decode)]
pub struct PublicKey(pub [u8; 32]);

impl PublicKey {
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Parses 64 hex digits (either case). Does not check the point: see
    /// [`PublicKey::verifying_key`].
    pub fn from_hex(text: &str) -> Result<Self, KeyError> {
        if text.len() != 64 {
            return Err(KeyError::PublicKeyLength { found: text.len() });
        }
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(text, &mut bytes).map_err(|e| KeyError::PublicKeyHex {
            reason: e.to_string(),
        })?;
        Ok(PublicKey(bytes))
    }

    /// The key as a verifier: it must be a valid point and not of small order.
    pub fn verifying_key(&self) -> Result<VerifyingKey, KeyError> {
        let key = VerifyingKey::from_bytes(&self.0)
            .map_err(|_| KeyError::NotOnCurve { key: self.to_hex() })?;
        if key.is_weak() {
            return Err(KeyError::Weak { key: self.to_hex() });
        }
        Ok(key)
    }

    /// A short form for logs and tables: the first 8 hex digits.
    pub fn short(&self) -> String {
        hex::encode(&self.0[..4])
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", self.to_hex())
    }
}

impl FromStr for PublicKey {
    type Err = KeyError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        PublicKey::from_hex(s)
    }
}

impl Serialize for PublicKey {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_hex())
    }
}

impl<'de> Deserialize<'de> for PublicKey {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        PublicKey::from_hex(&text).map_err(serde::de::Error::custom)
    }
}

/// An administration's signing key. Zeroed on drop; never printed.
#[derive(Clone)]
pub struct SecretKey(SigningKey);

impl SecretKey {
    /// From the 32-byte ed25519 seed. A new identity takes its seed from the
    /// operating system's random source (the node does that: this crate does no I/O).
    pub fn from_seed(seed: [u8; 32]) -> Self {
        SecretKey(SigningKey::from_bytes(&seed))
    }

    /// The 32-byte ed25519 seed, for handing to libp2p or writing the key file.
    pub fn seed(&self) -> [u8; 32] {
        self.0.to_bytes()
    }

    pub fn public_key(&self) -> PublicKey {
        PublicKey(self.0.verifying_key().to_bytes())
    }

    /// Signs raw bytes. Callers sign entries through [`crate::VerifiedEntry::sign`],
    /// which adds the domain prefix.
    pub(crate) fn sign_raw(&self, message: &[u8]) -> [u8; 64] {
        self.0.sign(message).to_bytes()
    }

    /// The text of a secret-key file: a header line and the seed as 64 hex digits.
    pub fn to_key_file(&self) -> String {
        format!("{KEY_FILE_HEADER}\n{}\n", hex::encode(self.seed()))
    }

    /// Parses the text of a secret-key file.
    pub fn from_key_file(text: &str) -> Result<Self, KeyError> {
        let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
        if lines.next() != Some(KEY_FILE_HEADER) {
            return Err(KeyError::KeyFileHeader);
        }
        let seed_hex = lines.next().ok_or(KeyError::KeyFileBody)?;
        if lines.next().is_some() || seed_hex.len() != 64 {
            return Err(KeyError::KeyFileBody);
        }
        let mut seed = [0u8; 32];
        hex::decode_to_slice(seed_hex, &mut seed).map_err(|_| KeyError::KeyFileBody)?;
        Ok(SecretKey::from_seed(seed))
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretKey(public {})", self.public_key())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_key_hex_round_trip_is_lowercase() {
        let key = SecretKey::from_seed([7; 32]).public_key();
        let text = key.to_hex();
        assert_eq!(text, text.to_lowercase());
        assert_eq!(text.len(), 64);
        assert_eq!(PublicKey::from_hex(&text), Ok(key));
        assert_eq!(PublicKey::from_hex(&text.to_uppercase()), Ok(key));
    }

    #[test]
    fn public_key_hex_errors_name_the_problem() {
        assert_eq!(
            PublicKey::from_hex("abcd"),
            Err(KeyError::PublicKeyLength { found: 4 })
        );
        let not_hex = "z".repeat(64);
        assert!(matches!(
            PublicKey::from_hex(&not_hex),
            Err(KeyError::PublicKeyHex { .. })
        ));
    }

    #[test]
    fn weak_keys_are_rejected() {
        // The identity point (y = 1) has order 1; y = -1 has order 2. Both are weak.
        let mut identity = [0u8; 32];
        identity[0] = 1;
        assert!(matches!(
            PublicKey(identity).verifying_key(),
            Err(KeyError::Weak { .. })
        ));
        let mut minus_one = [0xffu8; 32];
        minus_one[0] = 0xec;
        minus_one[31] = 0x7f;
        assert!(matches!(
            PublicKey(minus_one).verifying_key(),
            Err(KeyError::Weak { .. })
        ));
        let good = SecretKey::from_seed([9; 32]).public_key();
        assert!(good.verifying_key().is_ok());
    }

    #[test]
    fn invalid_points_are_rejected() {
        // y = 2 is not the y coordinate of any point on edwards25519.
        let mut y2 = [0u8; 32];
        y2[0] = 2;
        assert!(matches!(
            PublicKey(y2).verifying_key(),
            Err(KeyError::NotOnCurve { .. })
        ));
    }

    #[test]
    fn key_file_round_trip() {
        let key = SecretKey::from_seed([3; 32]);
        let text = key.to_key_file();
        assert!(text.starts_with(KEY_FILE_HEADER));
        let back = SecretKey::from_key_file(&text).expect("parses");
        assert_eq!(back.public_key(), key.public_key());
        assert_eq!(back.seed(), key.seed());
    }

    #[test]
    fn key_file_errors() {
        assert_eq!(
            SecretKey::from_key_file("hello\n").map(|k| k.public_key()),
            Err(KeyError::KeyFileHeader)
        );
        let short = format!("{KEY_FILE_HEADER}\nabcd\n");
        assert_eq!(
            SecretKey::from_key_file(&short).map(|k| k.public_key()),
            Err(KeyError::KeyFileBody)
        );
        let extra = format!("{KEY_FILE_HEADER}\n{}\nmore\n", "00".repeat(32));
        assert_eq!(
            SecretKey::from_key_file(&extra).map(|k| k.public_key()),
            Err(KeyError::KeyFileBody)
        );
    }

    #[test]
    fn debug_does_not_print_the_secret() {
        let key = SecretKey::from_seed([5; 32]);
        let shown = format!("{key:?}");
        assert!(!shown.contains(&hex::encode(key.seed())));
    }
}
