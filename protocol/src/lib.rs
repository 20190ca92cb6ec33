//! The signed-record protocol of the customs information-sharing network.
//!
//! Everything that decides whether a record is valid lives here, and nothing here does
//! I/O (no files, sockets, clocks or threads), so that another implementation can be
//! checked against this one byte for byte. `SPEC.md` beside this crate is the normative
//! description; `vectors/entries.json` holds test vectors generated from this code.
//!
//! The pipeline for untrusted bytes is three separate steps, each with its own typed
//! error: [`SignedEntry::decode`] (shape, size, canonical form), [`SignedEntry::verify`]
//! (author key and signature) and [`Entry::validate`] (field rules).
//! [`VerifiedEntry::from_bytes`] runs all three.

pub mod attachment;
pub mod body;
pub mod chain;
mod codec;
pub mod codes;
pub mod control;
pub mod date;
pub mod entry;
pub mod envelope;
pub mod error;
pub mod governance;
pub mod groups;
pub mod identity;
mod legacy;
pub mod limits;
pub mod markings;
#[cfg(feature = "openapi")]
mod openapi;
pub mod samples;
pub mod wire;

pub use attachment::{Attachment, BlobHash, MediaType, SealedBlob};
pub use body::{AeoRecord, Body, BodyKind, Retraction, RiskAlert};
pub use date::Date;
pub use entry::{
    AuthorKeys, Entry, EntryId, SignedEntry, VerifiedEntry, ENTRY_VERSION, SIGNING_DOMAIN,
};
pub use envelope::{Distribution, Envelope, Opened, Sealed};
pub use error::{DecodeError, EntryError, Rule, ValidationError, VerifyError};
pub use governance::{Charter, Governance, Membership, Quorum};
pub use groups::{GroupId, GroupRef, GroupUpdate, Groups};
pub use identity::{KeyError, PublicKey, SecretKey};
pub use markings::Markings;
