//! OpenAPI schemas for the types that travel as strings in JSON (feature `openapi`).
//! The node's API document is derived from the protocol's own types, so that it
//! cannot drift from what the node accepts.

use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::openapi::RefOr;
use utoipa::{PartialSchema, ToSchema};

use crate::{Date, EntryId, PublicKey};

fn string(pattern: &str, description: &str, example: &str) -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some(pattern))
        .description(Some(description))
        .examples([example])
        .into()
}

impl PartialSchema for crate::codes::Country {
    fn schema() -> RefOr<Schema> {
        let codes = crate::codes::ISO_3166_ALPHA2
            .iter()
            .chain(crate::codes::ACCEPTED_USER_ASSIGNED.iter());
        ObjectBuilder::new()
            .schema_type(Type::String)
            .enum_values(Some(codes.copied()))
            .description(Some("ISO 3166-1 alpha-2 country code (XK for Kosovo)"))
            .examples(["NL"])
            .into()
    }
}
impl ToSchema for crate::codes::Country {}

impl PartialSchema for Date {
    fn schema() -> RefOr<Schema> {
        string(
            "^[0-9]{4}-[0-9]{2}-[0-9]{2}$",
            "a calendar date, YYYY-MM-DD",
            "2026-11-20",
        )
    }
}
impl ToSchema for Date {}

impl PartialSchema for EntryId {
    fn schema() -> RefOr<Schema> {
        string(
            "^[0-9a-f]{64}$",
            "SHA-256 of the entry bytes, lowercase hex",
            "5f2b0c4e9d1a7b3c8e6f0a1b2c3d4e5f60718293a4b5c6d7e8f9a0b1c2d3e4f5",
        )
    }
}
impl ToSchema for EntryId {}

impl PartialSchema for PublicKey {
    fn schema() -> RefOr<Schema> {
        string(
            "^[0-9a-f]{64}$",
            "an administration's ed25519 public key, lowercase hex",
            "3b6a27bcceb6a42d62a3a8d02a6f0d73653215771de243a63ac048a18b59da29",
        )
    }
}
impl ToSchema for PublicKey {}

/// A container number as the schema shows it (ISO 6346 shape; the check digit is
/// checked by the node, which no pattern can express).
#[derive(Debug)]
pub struct ContainerNumber;

impl PartialSchema for ContainerNumber {
    fn schema() -> RefOr<Schema> {
        string(
            "^[A-Z]{3}[UJZ][0-9]{7}$",
            "ISO 6346 container number (owner, category U/J/Z, serial, check digit)",
            "CSQU3054383",
        )
    }
}
impl ToSchema for ContainerNumber {}

impl PartialSchema for crate::governance::AdminSignature {
    fn schema() -> RefOr<Schema> {
        string(
            "^[0-9a-f]{128}$",
            "an ed25519 signature by an administration key, lowercase hex",
            "00",
        )
    }
}
impl ToSchema for crate::governance::AdminSignature {}

impl PartialSchema for crate::governance::EncryptionKey {
    fn schema() -> RefOr<Schema> {
        string(
            "^[0-9a-f]{64}$",
            "a node's X25519 public key, lowercase hex",
            "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a",
        )
    }
}
impl ToSchema for crate::governance::EncryptionKey {}
