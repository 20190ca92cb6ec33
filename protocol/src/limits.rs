//! Every bound of the protocol, in one place. SPEC.md lists the same numbers; a change
//! here is a protocol change.

/// Largest encoded [`crate::Entry`] (version byte included). Room for a full alert
/// sealed to [`MAX_ENVELOPE_SLOTS`] recipient keys (80 bytes a slot).
pub const MAX_ENTRY_BYTES: usize = 32 * 1024;
/// Largest encoded [`crate::SignedEntry`]: length prefix (3 bytes for up to 65535),
/// entry bytes, 64-byte signature.
pub const MAX_SIGNED_ENTRY_BYTES: usize = 3 + MAX_ENTRY_BYTES + 64;

/// Network id: 1 to 64 bytes of `a-z`, `0-9` and `-`.
pub const MAX_NETWORK_ID_BYTES: usize = 64;

// Risk alert.
pub const MAX_REFERENCE_BYTES: usize = 64;
pub const MAX_DESCRIPTION_BYTES: usize = 2000;
pub const MAX_INDICATORS: usize = 20;
pub const MAX_INDICATOR_BYTES: usize = 200;
pub const MAX_CONTAINERS: usize = 50;
pub const MAX_TRANSIT_COUNTRIES: usize = 10;
pub const MAX_VEHICLE_BYTES: usize = 16;
/// Integer digits of a quantity amount.
pub const MAX_AMOUNT_INTEGER_DIGITS: usize = 12;
/// Fraction digits of a quantity amount.
pub const MAX_AMOUNT_FRACTION_DIGITS: usize = 6;

// AEO record.
pub const MAX_OPERATOR_ID_SUFFIX: usize = 15;
pub const MAX_OPERATOR_NAME_BYTES: usize = 200;
pub const MAX_MRA_PARTNERS: usize = 100;
pub const MAX_REASON_BYTES: usize = 500;

// Retraction.
pub const MAX_RETRACTION_NOTE_BYTES: usize = 500;

// Dates.
pub const MIN_YEAR: u16 = 1900;
pub const MAX_YEAR: u16 = 2999;

// Markings and restricted records (SPEC.md section 13).
/// Most handling codes on one record.
pub const MAX_HANDLING_CODES: usize = 4;
/// Longest text of an `other` handling code.
pub const MAX_HANDLING_TEXT_BYTES: usize = 200;
/// Most members a record may be addressed to by name.
pub const MAX_RECIPIENT_MEMBERS: usize = 256;
/// Most slots (wrapped copies of the content key) in an envelope.
pub const MAX_ENVELOPE_SLOTS: usize = 256;
/// Fewest slots in an envelope: fewer recipients are padded up to this.
pub const MIN_ENVELOPE_SLOTS: usize = 8;
/// Longest group name.
pub const MAX_GROUP_NAME_BYTES: usize = 100;
/// Longest group purpose.
pub const MAX_GROUP_PURPOSE_BYTES: usize = 500;
/// Most members of a closed user group.
pub const MAX_GROUP_MEMBERS: usize = 256;
/// Groups of one owner whose keys a node keeps ([`crate::Groups::opening_secrets`]):
/// no member makes others try more keys by making more groups. An owner's node
/// refuses to create more while this many are open.
pub const MAX_GROUPS_PER_OWNER: usize = 64;
/// Days after a group's end during which a node still opens what was sealed to it
/// (a record sealed on the last day may arrive late); then its keys are dropped.
pub const ENDED_GROUP_GRACE_DAYS: i64 = 30;

// Attachments (SPEC.md section 15).
/// Most attachments one record lists.
pub const MAX_ATTACHMENTS: usize = 8;
/// Largest blob (after image metadata is removed; a sealed blob's plaintext).
pub const MAX_ATTACHMENT_BYTES: u64 = 10 * 1024 * 1024;
/// Most pixels (width times height) of an image attachment: 100 megapixels, twice a
/// phone's largest photo. A larger one would take gigabytes of memory to decode in an
/// officer's browser, from a file of a few kilobytes.
pub const MAX_IMAGE_PIXELS: u64 = 100_000_000;
/// Largest sum of one record's attachment sizes.
pub const MAX_RECORD_ATTACHMENT_BYTES: u64 = 32 * 1024 * 1024;
/// Longest attachment caption.
pub const MAX_CAPTION_BYTES: usize = 200;
/// Bytes of a blob one answer of the blob protocol carries at most.
pub const MAX_BLOB_CHUNK_BYTES: u32 = 256 * 1024;

// Sync messages.
/// Frontier buckets: an author belongs to bucket `author[0] >> 4`.
pub const FRONTIER_BUCKETS: usize = 16;
/// Most heads a node sends in one frontier answer (the member list is bounded by this).
pub const MAX_FRONTIER_HEADS: usize = 4096;
/// Most refusal reasons in one frontier answer.
pub const MAX_REFUSALS: usize = 16;
/// Longest refusal reason name.
pub const MAX_REFUSAL_REASON_BYTES: usize = 64;
/// Most entries in one page of a sync answer.
pub const MAX_PAGE_ENTRIES: u32 = 1024;
/// Most entry bytes in one page of a sync answer. A page always fits at least one entry.
pub const MAX_PAGE_BYTES: u32 = 1024 * 1024;
/// Largest encoded sync request.
pub const MAX_SYNC_REQUEST_BYTES: usize = 1024;
/// Largest encoded sync response: a full page plus per-entry length prefixes and framing.
pub const MAX_SYNC_RESPONSE_BYTES: usize =
    MAX_PAGE_BYTES as usize + MAX_SIGNED_ENTRY_BYTES + 4 * MAX_PAGE_ENTRIES as usize + 64;

// Governance (SPEC.md section 13).
/// Longest administration name.
pub const MAX_MEMBER_NAME_BYTES: usize = 200;
/// Most addresses in a node certificate.
pub const MAX_NODE_ADDRESSES: usize = 8;
/// Longest address (a multiaddress in text).
pub const MAX_ADDRESS_BYTES: usize = 256;
/// Most node certificates in one proposal or for one founder.
pub const MAX_NODES_PER_PROPOSAL: usize = 8;
/// Longest network name (the id adds `-` and 32 hex digits, within 64 bytes).
pub const MAX_NETWORK_NAME_BYTES: usize = 31;
/// Most founders in a charter (a converted network lists all its members).
pub const MAX_CHARTER_FOUNDERS: usize = 256;
/// Largest encoded charter.
pub const MAX_CHARTER_BYTES: usize = 1024 * 1024;
/// Most node keys of one member that still sign.
pub const MAX_OPEN_NODE_KEYS: usize = 16;
/// Most proposals of one member pending at once.
pub const MAX_PENDING_PROPOSALS: usize = 16;
/// Most members a network has ever admitted (removed ones included).
pub const MAX_NETWORK_MEMBERS: usize = 256;
/// Most governance heads one governance entry names. Honest entries name one to a
/// few; the first entry after an upgrade names the last legacy entry of every node
/// key that ever acted (at most a few hundred), and 512 ids are 16 KiB.
pub const MAX_GOVERNANCE_HEADS: usize = 512;
/// Most node keys a removal or a key replacement cuts by seq.
pub const MAX_SEQ_CUTS: usize = 2 * MAX_OPEN_NODE_KEYS;

/// Members one request for control may be addressed to.
pub const MAX_ADDRESSEES: usize = 32;
/// Alerts one request may name as related.
pub const MAX_RELATED: usize = 20;
/// A bill of lading number.
pub const MAX_BILL_OF_LADING_BYTES: usize = 35;
/// A voyage number.
pub const MAX_VOYAGE_BYTES: usize = 17;
/// An AEO record's postal address.
pub const MAX_ADDRESS_TEXT_BYTES: usize = 500;
/// Partner-specific identifiers of one operator.
pub const MAX_OPERATOR_IDENTIFIERS: usize = 10;
