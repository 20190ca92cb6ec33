//! Typed errors, one enum per step (decode, verify, validate), each naming what was
//! wrong and where. `code()` gives a stable name for metrics, API errors and the test
//! vectors' `error` field.

use thiserror::Error;

/// The bytes are not a well-formed, canonical encoding.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum DecodeError {
    #[error("{what} is {size} bytes, over the limit of {limit} bytes")]
    TooLarge {
        what: &'static str,
        size: usize,
        limit: usize,
    },
    #[error("{what} ends early: {missing} more bytes needed at byte offset {offset}")]
    Truncated {
        what: &'static str,
        offset: usize,
        missing: usize,
    },
    #[error("{what} has {count} trailing bytes from byte offset {offset}")]
    TrailingBytes {
        what: &'static str,
        offset: usize,
        count: usize,
    },
    #[error("{what} is not in canonical form: it differs from the canonical encoding at byte offset {offset}")]
    NonCanonical { what: &'static str, offset: usize },
    #[error("{what} has version {found} at byte offset 0; this implementation reads versions up to {supported}")]
    UnknownVersion {
        what: &'static str,
        found: u8,
        supported: u8,
    },
    #[error("{what}: unknown tag {found} for {type_name} before byte offset {offset}")]
    UnknownTag {
        what: &'static str,
        type_name: String,
        found: u32,
        offset: usize,
    },
    #[error("{what}: a length prefix before byte offset {offset} claims more than the size limit")]
    LengthOverLimit { what: &'static str, offset: usize },
    #[error("{what}: text before byte offset {offset} is not valid UTF-8")]
    InvalidUtf8 { what: &'static str, offset: usize },
    #[error("{what}: malformed before byte offset {offset}: {reason}")]
    Malformed {
        what: &'static str,
        offset: usize,
        reason: String,
    },
}

impl DecodeError {
    pub(crate) fn from_bincode(
        what: &'static str,
        offset: usize,
        error: bincode::error::DecodeError,
    ) -> Self {
        use bincode::error::DecodeError as B;
        match error {
            B::UnexpectedEnd { additional } => DecodeError::Truncated {
                what,
                offset,
                missing: additional,
            },
            B::UnexpectedVariant {
                type_name, found, ..
            } => DecodeError::UnknownTag {
                what,
                type_name: short_type_name(type_name),
                found,
                offset,
            },
            B::LimitExceeded => DecodeError::LengthOverLimit { what, offset },
            B::Utf8 { .. } => DecodeError::InvalidUtf8 { what, offset },
            other => DecodeError::Malformed {
                what,
                offset,
                reason: other.to_string(),
            },
        }
    }

    /// A stable name for this kind of failure.
    pub fn code(&self) -> &'static str {
        match self {
            DecodeError::TooLarge { .. } => "TooLarge",
            DecodeError::Truncated { .. } => "Truncated",
            DecodeError::TrailingBytes { .. } => "TrailingBytes",
            DecodeError::NonCanonical { .. } => "NonCanonical",
            DecodeError::UnknownVersion { .. } => "UnknownVersion",
            DecodeError::UnknownTag { .. } => "UnknownTag",
            DecodeError::LengthOverLimit { .. } => "LengthOverLimit",
            DecodeError::InvalidUtf8 { .. } => "InvalidUtf8",
            DecodeError::Malformed { .. } => "Malformed",
        }
    }
}

/// `core::option::Option<customs_protocol::entry::EntryId>` -> `Option<EntryId>`.
fn short_type_name(full: &str) -> String {
    let mut out = String::with_capacity(full.len());
    for piece in full.split_inclusive(['<', '>', ',', ' ']) {
        out.push_str(piece.rsplit("::").next().unwrap_or(piece));
    }
    out
}

/// The signature does not prove that the named author signed these bytes.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum VerifyError {
    #[error("author key {author} is not a valid ed25519 point")]
    InvalidAuthorKey { author: String },
    #[error("author key {author} is a weak (small-order) ed25519 key")]
    WeakAuthorKey { author: String },
    #[error("signature is not canonical: its scalar s is not below the group order L")]
    NonCanonicalSignature,
    #[error("signature does not verify for author {author}")]
    BadSignature { author: String },
}

impl VerifyError {
    pub fn code(&self) -> &'static str {
        match self {
            VerifyError::InvalidAuthorKey { .. } => "InvalidAuthorKey",
            VerifyError::WeakAuthorKey { .. } => "WeakAuthorKey",
            VerifyError::NonCanonicalSignature => "NonCanonicalSignature",
            VerifyError::BadSignature { .. } => "BadSignature",
        }
    }
}

/// A field breaks a rule. `field` is a path such as `conveyance.containers[0]`,
/// relative to what was validated (an entry's body fields are under `body.`).
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[error("{field}: {rule}")]
pub struct ValidationError {
    pub field: String,
    pub rule: Rule,
}

impl ValidationError {
    pub fn new(field: impl Into<String>, rule: Rule) -> Self {
        ValidationError {
            field: field.into(),
            rule,
        }
    }

    /// The same error seen from the enclosing structure: `within("body")` turns
    /// `hs_code` into `body.hs_code`.
    pub fn within(mut self, parent: &str) -> Self {
        self.field = format!("{parent}.{}", self.field);
        self
    }

    pub fn code(&self) -> &'static str {
        self.rule.code()
    }
}

/// The rule a field breaks, with the data that breaks it.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum Rule {
    #[error("must not be empty")]
    Empty,
    #[error("is {len} bytes, over the limit of {max} bytes")]
    TooLong { len: usize, max: usize },
    #[error("has {count} items, over the limit of {max}")]
    TooMany { count: usize, max: usize },
    #[error("contains a control character at byte {at}")]
    ControlCharacter { at: usize },
    #[error("lists {value} twice")]
    Duplicate { value: String },
    #[error("network id {value:?} must be 1 to 64 characters of a-z, 0-9 and '-', not starting or ending with '-'")]
    NetworkId { value: String },
    #[error("sequence numbers start at 1")]
    SeqZero,
    #[error("must be present when seq > 1 (the id of the author's previous entry)")]
    PrevMissing,
    #[error("must be absent when seq = 1")]
    PrevUnexpected,
    #[error("{value:?} must be printable ASCII letters, digits and - / . _ (no spaces)")]
    Reference { value: String },
    #[error("HS code {value:?} must be 6 to 10 digits")]
    HsCodeFormat { value: String },
    #[error("HS code {value:?} names chapter {chapter}, which does not exist (chapters are 01 to 97, 77 is reserved)")]
    HsChapter { value: String, chapter: String },
    #[error("{value:?} is not an ISO 3166-1 alpha-2 country code")]
    UnknownCountry { value: String },
    #[error("UN/LOCODE {value:?} must be a country code and 3 characters of A-Z and 2-9")]
    UnLocodeFormat { value: String },
    #[error("UN/LOCODE {value:?} starts with {country:?}, which is not an ISO 3166-1 country")]
    UnLocodeCountry { value: String, country: String },
    #[error("container number {value:?} must be 3 letters, an equipment category U, J or Z, 6 digits and a check digit (ISO 6346)")]
    ContainerFormat { value: String },
    #[error("container number {value:?} has check digit {found}, but ISO 6346 gives {expected}")]
    ContainerCheckDigit {
        value: String,
        expected: u8,
        found: u8,
    },
    #[error("IMO number {value:?} must be 7 digits")]
    ImoFormat { value: String },
    #[error("IMO number {value:?} has check digit {found}, but the IMO rule gives {expected}")]
    ImoCheckDigit {
        value: String,
        expected: u8,
        found: u8,
    },
    #[error("flight {value:?} must be an airline designator (2 characters, or 3 letters) and 1 to 4 digits, with an optional letter")]
    FlightFormat { value: String },
    #[error(
        "vehicle registration {value:?} must be 1 to 16 characters of A-Z, 0-9, space and '-'"
    )]
    VehicleFormat { value: String },
    #[error("is only allowed when conveyance.mode is {expected}, not {found}")]
    ModeMismatch {
        expected: &'static str,
        found: &'static str,
    },
    #[error("amount {value:?} must be a positive decimal: up to 12 digits, no leading zeros, optionally '.' and 1 to 6 digits")]
    Amount { value: String },
    #[error("{value} is not a calendar date between 1900-01-01 and 2999-12-31")]
    InvalidDate { value: String },
    #[error("{value} is before {other_field} ({other})")]
    DateOrder {
        value: String,
        other_field: &'static str,
        other: String,
    },
    #[error("{value} is more than a day after {created_on}, the day the entry was created")]
    AfterCreation { value: String, created_on: String },
    #[error("is {value}, outside {min}..={max}")]
    OutOfRange { value: u64, min: u64, max: u64 },
    #[error("operator id {value:?} must be a country code followed by 1 to 15 characters of A-Z and 0-9")]
    OperatorIdFormat { value: String },
    #[error("operator id {value:?} starts with {country:?}, which is not an ISO 3166-1 country")]
    OperatorIdCountry { value: String, country: String },
    #[error("is required when status is {status}")]
    ReasonRequired { status: &'static str },
    #[error("entry was created at {created_at_ms} ms, more than {max_skew_ms} ms after now ({now_ms} ms)")]
    InFuture {
        created_at_ms: u64,
        now_ms: u64,
        max_skew_ms: u64,
    },
    #[error("entry belongs to network {found:?}, not {expected:?}")]
    WrongNetwork { expected: String, found: String },
    #[error("member code {value:?} must be 2 to 8 capital letters (e.g. NL, EU)")]
    MemberCode { value: String },
    #[error("key {value} is not a usable ed25519 public key: {reason}")]
    InvalidKey { value: String, reason: String },
    #[error("signature does not verify under administration key {admin_key}")]
    StatementSignature { admin_key: String },
    #[error("names member {found:?}, not {expected:?}")]
    OtherMember { expected: String, found: String },
    #[error("{reason}")]
    Placement { reason: &'static str },
    #[error("{value:?} is not an ISO 4217 currency code")]
    UnknownCurrency { value: String },
    #[error(
        "air waybill {value:?} must be 11 digits: a 3-digit airline prefix and an 8-digit serial"
    )]
    AirWaybillFormat { value: String },
    #[error(
        "air waybill {value:?} has check digit {found}, but the serial modulo 7 gives {expected}"
    )]
    AirWaybillCheckDigit {
        value: String,
        expected: u8,
        found: u8,
    },
    #[error("movement reference number {value:?} must be 18 characters: 2 digits, a country code, 13 of A-Z and 0-9, and a check character")]
    MrnFormat { value: String },
    #[error("movement reference number {value:?} has check character {found}, but ISO 6346 gives {expected}")]
    MrnCheckDigit {
        value: String,
        expected: char,
        found: char,
    },
    #[error("{value:?} must be 1 to {max} characters of A-Z, 0-9, / and -")]
    DocumentNumber { value: String, max: usize },
    #[error("{what}")]
    Required { what: &'static str },
    #[error("must be in ascending order, each once ({value} is out of place)")]
    NotAscending { value: String },
}

impl Rule {
    pub fn code(&self) -> &'static str {
        match self {
            Rule::Empty => "Empty",
            Rule::TooLong { .. } => "TooLong",
            Rule::TooMany { .. } => "TooMany",
            Rule::ControlCharacter { .. } => "ControlCharacter",
            Rule::Duplicate { .. } => "Duplicate",
            Rule::NetworkId { .. } => "NetworkId",
            Rule::SeqZero => "SeqZero",
            Rule::PrevMissing => "PrevMissing",
            Rule::PrevUnexpected => "PrevUnexpected",
            Rule::Reference { .. } => "Reference",
            Rule::HsCodeFormat { .. } => "HsCodeFormat",
            Rule::HsChapter { .. } => "HsChapter",
            Rule::UnknownCountry { .. } => "UnknownCountry",
            Rule::UnLocodeFormat { .. } => "UnLocodeFormat",
            Rule::UnLocodeCountry { .. } => "UnLocodeCountry",
            Rule::ContainerFormat { .. } => "ContainerFormat",
            Rule::ContainerCheckDigit { .. } => "ContainerCheckDigit",
            Rule::ImoFormat { .. } => "ImoFormat",
            Rule::ImoCheckDigit { .. } => "ImoCheckDigit",
            Rule::FlightFormat { .. } => "FlightFormat",
            Rule::VehicleFormat { .. } => "VehicleFormat",
            Rule::ModeMismatch { .. } => "ModeMismatch",
            Rule::Amount { .. } => "Amount",
            Rule::InvalidDate { .. } => "InvalidDate",
            Rule::DateOrder { .. } => "DateOrder",
            Rule::AfterCreation { .. } => "AfterCreation",
            Rule::OutOfRange { .. } => "OutOfRange",
            Rule::OperatorIdFormat { .. } => "OperatorIdFormat",
            Rule::OperatorIdCountry { .. } => "OperatorIdCountry",
            Rule::ReasonRequired { .. } => "ReasonRequired",
            Rule::InFuture { .. } => "InFuture",
            Rule::WrongNetwork { .. } => "WrongNetwork",
            Rule::MemberCode { .. } => "MemberCode",
            Rule::InvalidKey { .. } => "InvalidKey",
            Rule::StatementSignature { .. } => "StatementSignature",
            Rule::OtherMember { .. } => "OtherMember",
            Rule::Placement { .. } => "Placement",
            Rule::UnknownCurrency { .. } => "UnknownCurrency",
            Rule::AirWaybillFormat { .. } => "AirWaybillFormat",
            Rule::AirWaybillCheckDigit { .. } => "AirWaybillCheckDigit",
            Rule::MrnFormat { .. } => "MrnFormat",
            Rule::MrnCheckDigit { .. } => "MrnCheckDigit",
            Rule::DocumentNumber { .. } => "DocumentNumber",
            Rule::Required { .. } => "Required",
            Rule::NotAscending { .. } => "NotAscending",
        }
    }
}

/// Any reason an entry from the outside is refused.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum EntryError {
    #[error(transparent)]
    Decode(#[from] DecodeError),
    #[error(transparent)]
    Verify(#[from] VerifyError),
    #[error(transparent)]
    Invalid(#[from] ValidationError),
}

impl EntryError {
    pub fn code(&self) -> &'static str {
        match self {
            EntryError::Decode(e) => e.code(),
            EntryError::Verify(e) => e.code(),
            EntryError::Invalid(e) => e.code(),
        }
    }
}
