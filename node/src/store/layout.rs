//! Key and value layouts in the index's main tree. Everything lives in one tree so that
//! one batch (atomic, also across a crash) writes an entry's index rows at once.
//!
//! | prefix | key | value |
//! |---|---|---|
//! | `K` | author (32) | the author's number (4, BE): log rows name authors by number |
//! | `L` | author number (4, BE), seq (8, BE) | position in the segments (8: segment, offset, BE); the id is the hash of the frame |
//! | `E` | entry id (32) | position in the segments (8) |
//! | `H` | author (32) | head seq (8, BE), head id (32) |
//! | `A` | u64::MAX - created_at_ms (8, BE), entry id (32) | alert summary (below), its author by number |
//! | `O` | operator id, 0x00, issuer (32), seq (8, BE) | entry id (32) |
//! | `R` | retracted entry id (32) | retraction entry id (32) |
//! | `F` | author (32), seq (8, BE), entry id (32) | the fork proof: the second signed entry for that seq (one per author and seq) |
//! | `I` | idempotency scope (32: SHA-256 of token name and key) | entry id (32), created_at_ms (8, BE) |
//! | `X` | created_at_ms (8, BE), idempotency scope (32) | empty: the expiry order of `I` rows |
//! | `G` | author (32), seq (8, BE) | entry id (32): the governance entries, which the membership is computed from |
//! | `P` | entry id (32) | the opened record of a sealed entry (its encoded `Sealed`): recipients only |
//! | `Q` | group id (16), entry id (32) | empty: the group updates this node opened |
//! | `U` | created_at_ms (8, BE), entry id (32) | fingerprint (8) of the node keys it was tried with: sealed entries this node could not open |
//! | `C` | u64::MAX - created_at_ms (8, BE), entry id (32) | empty: the requests for control this node can read, newest first |
//! | `S` | subject entry id (32), entry id (32) | one byte: 0 an acknowledgement, 1 a result: the answers to a request or an alert |
//! | `N` | arrival number (8, BE) | position (8), arrival time (8, BE, Unix µs): readable records in the order this node stored or opened them (what the notifier and the TAXII server follow); rows written before 2026-12-01 hold the position only |
//! | `B` | blob hash (32), entry id (32) | empty: the readable records that list an attachment (for a sealed record, by its plaintext's hash) |
//! | `M` | name | store metadata: format, network, counts, the log's end, the next arrival number, a pending own entry (stores upgraded from v2) |
//!
//! The signed entries themselves are in the segment files (`segments.rs`).
//!
//! An AEO record has an `O` row under its operator id and one under `SCHEME:VALUE` for
//! each partner identifier, so that a lookup by any of them finds it.

use customs_protocol::body::Category;
use customs_protocol::codes::Country;
use customs_protocol::{Date, EntryId, PublicKey, RiskAlert};

use super::segments::Position;
use super::StoreError;

pub const AUTHOR: u8 = b'K';
pub const ENTRY: u8 = b'E';
pub const LOG: u8 = b'L';
pub const HEAD: u8 = b'H';
pub const ALERT: u8 = b'A';
pub const AEO: u8 = b'O';
pub const RETRACTED: u8 = b'R';
pub const FORK: u8 = b'F';
pub const IDEMPOTENCY: u8 = b'I';
pub const IDEMPOTENCY_EXPIRY: u8 = b'X';
pub const GOVERNANCE: u8 = b'G';
pub const PLAIN: u8 = b'P';
pub const GROUP: u8 = b'Q';
pub const UNOPENED: u8 = b'U';
pub const REQUEST: u8 = b'C';
pub const ANSWER: u8 = b'S';
pub const ARRIVAL: u8 = b'N';
pub const ATTACHMENT: u8 = b'B';

pub const META_FORMAT: &[u8] = b"Mformat";
pub const META_NETWORK: &[u8] = b"Mnetwork";
pub const META_COUNTS: &[u8] = b"Mcounts";
/// Where the next frame goes: every frame before it is indexed.
pub const META_LOG_END: &[u8] = b"Mlog_end";
/// The number the next arrival row gets.
pub const META_NEXT_ARRIVAL: &[u8] = b"Mnext_arrival";
/// The node's own signed entry that is durable but maybe not yet applied: written by
/// stores of format v2, completed when a store upgraded from one opens.
pub const META_OWN_PENDING: &[u8] = b"Mown_pending";
/// Written and flushed now and then: whether the disk takes writes.
pub const META_PROBE: &[u8] = b"Mprobe";
/// Present once a member has shown it holds entries of this node's key: the first
/// node's permission to publish before a sync is spent (a backup of this store, once
/// restored, must wait for a member's confirmation like any other).
pub const META_UNSYNCED_PUBLISH_SPENT: &[u8] = b"Munsynced_publish_spent";

pub fn plain_key(id: &EntryId) -> [u8; 33] {
    let mut key = [0u8; 33];
    key[0] = PLAIN;
    key[1..].copy_from_slice(&id.0);
    key
}

pub fn group_key(group: &customs_protocol::GroupId, id: &EntryId) -> [u8; 49] {
    let mut key = [0u8; 49];
    key[0] = GROUP;
    key[1..17].copy_from_slice(&group.0);
    key[17..].copy_from_slice(&id.0);
    key
}

pub fn unopened_key(created_at_ms: u64, id: &EntryId) -> [u8; 41] {
    let mut key = [0u8; 41];
    key[0] = UNOPENED;
    key[1..9].copy_from_slice(&created_at_ms.to_be_bytes());
    key[9..].copy_from_slice(&id.0);
    key
}

pub fn idempotency_key(scope: &[u8; 32]) -> [u8; 33] {
    let mut key = [0u8; 33];
    key[0] = IDEMPOTENCY;
    key[1..].copy_from_slice(scope);
    key
}

pub fn idempotency_value(id: &EntryId, created_at_ms: u64) -> [u8; 40] {
    let mut value = [0u8; 40];
    value[..32].copy_from_slice(&id.0);
    value[32..].copy_from_slice(&created_at_ms.to_be_bytes());
    value
}

/// (entry id, created_at_ms) of an idempotency row.
pub fn parse_idempotency_value(value: &[u8]) -> Result<(EntryId, u64), StoreError> {
    let value: [u8; 40] = array(value, "idempotency row")?;
    Ok((
        parse_id(&value[..32], "idempotency row id")?,
        parse_u64(&value[32..], "idempotency row time")?,
    ))
}

pub fn idempotency_expiry_key(created_at_ms: u64, scope: &[u8; 32]) -> [u8; 41] {
    let mut key = [0u8; 41];
    key[0] = IDEMPOTENCY_EXPIRY;
    key[1..9].copy_from_slice(&created_at_ms.to_be_bytes());
    key[9..].copy_from_slice(scope);
    key
}

/// (created_at_ms, scope) of an expiry row.
pub fn parse_idempotency_expiry_key(key: &[u8]) -> Result<(u64, [u8; 32]), StoreError> {
    let key: [u8; 41] = array(key, "idempotency expiry row")?;
    Ok((
        parse_u64(&key[1..9], "idempotency expiry time")?,
        array(&key[9..], "idempotency expiry scope")?,
    ))
}

/// Written once when a store is created; a different value means another format.
pub const FORMAT: &[u8] = b"customs-store-v4";
/// Log rows with the entry's id beside its position, alert summaries with the
/// author's key, arrival rows with ids: upgraded in place at open (`migrate.rs`).
pub const FORMAT_V3: &[u8] = b"customs-store-v3";
/// The format before the segment files: entries inside sled's log rows. Upgraded in
/// place at open (`migrate.rs`).
pub const FORMAT_V2: &[u8] = b"customs-store-v2";

pub fn entry_key(id: &EntryId) -> [u8; 33] {
    let mut key = [0u8; 33];
    key[0] = ENTRY;
    key[1..].copy_from_slice(&id.0);
    key
}

pub fn author_key(author: &PublicKey) -> [u8; 33] {
    let mut key = [0u8; 33];
    key[0] = AUTHOR;
    key[1..].copy_from_slice(&author.0);
    key
}

pub fn log_key(author: u32, seq: u64) -> [u8; 13] {
    let mut key = [0u8; 13];
    key[0] = LOG;
    key[1..5].copy_from_slice(&author.to_be_bytes());
    key[5..].copy_from_slice(&seq.to_be_bytes());
    key
}

pub fn log_prefix(author: u32) -> [u8; 5] {
    let mut key = [0u8; 5];
    key[0] = LOG;
    key[1..].copy_from_slice(&author.to_be_bytes());
    key
}

pub fn head_key(author: &PublicKey) -> [u8; 33] {
    let mut key = [0u8; 33];
    key[0] = HEAD;
    key[1..].copy_from_slice(&author.0);
    key
}

pub fn head_value(seq: u64, id: &EntryId) -> [u8; 40] {
    let mut value = [0u8; 40];
    value[..8].copy_from_slice(&seq.to_be_bytes());
    value[8..].copy_from_slice(&id.0);
    value
}

pub fn alert_key(created_at_ms: u64, id: &EntryId) -> [u8; 41] {
    let mut key = [0u8; 41];
    key[0] = ALERT;
    key[1..9].copy_from_slice(&(u64::MAX - created_at_ms).to_be_bytes());
    key[9..].copy_from_slice(&id.0);
    key
}

pub fn aeo_prefix(operator_id: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(2 + operator_id.len());
    key.push(AEO);
    key.extend_from_slice(operator_id.as_bytes());
    key.push(0);
    key
}

pub fn aeo_key(operator_id: &str, issuer: &PublicKey, seq: u64) -> Vec<u8> {
    let mut key = aeo_prefix(operator_id);
    key.extend_from_slice(&issuer.0);
    key.extend_from_slice(&seq.to_be_bytes());
    key
}

pub fn governance_key(author: &PublicKey, seq: u64) -> [u8; 41] {
    let mut key = [0u8; 41];
    key[0] = GOVERNANCE;
    key[1..33].copy_from_slice(&author.0);
    key[33..].copy_from_slice(&seq.to_be_bytes());
    key
}

pub fn request_key(created_at_ms: u64, id: &EntryId) -> [u8; 41] {
    let mut key = alert_key(created_at_ms, id);
    key[0] = REQUEST;
    key
}

pub fn answer_key(subject: &EntryId, id: &EntryId) -> [u8; 65] {
    let mut key = [0u8; 65];
    key[0] = ANSWER;
    key[1..33].copy_from_slice(&subject.0);
    key[33..].copy_from_slice(&id.0);
    key
}

pub fn arrival_key(number: u64) -> [u8; 9] {
    let mut key = [0u8; 9];
    key[0] = ARRIVAL;
    key[1..].copy_from_slice(&number.to_be_bytes());
    key
}

/// The number of an arrival row's key.
pub fn parse_arrival_key(key: &[u8]) -> Result<u64, StoreError> {
    parse_u64(key.get(1..).unwrap_or_default(), "arrival key")
}

/// An arrival row's value: where the record is, and when this node stored or opened
/// it (Unix µs, strictly increasing from row to row).
pub fn arrival_value(at: Position, arrived_us: u64) -> [u8; 16] {
    let mut value = [0u8; 16];
    value[..8].copy_from_slice(&at.encode());
    value[8..].copy_from_slice(&arrived_us.to_be_bytes());
    value
}

/// The position and arrival time of an arrival row; rows written before arrival
/// times were kept have none.
pub fn parse_arrival_value(value: &[u8]) -> Result<(Position, Option<u64>), StoreError> {
    match value.len() {
        8 => Ok((Position::decode(value)?, None)),
        16 => Ok((
            Position::decode(&value[..8])?,
            Some(parse_u64(&value[8..], "arrival time")?),
        )),
        n => Err(StoreError::Corrupt {
            what: format!("an arrival row of {n} bytes, not 8 or 16"),
        }),
    }
}

/// The key an AEO record is also found under for a partner identifier.
pub fn identifier_lookup(scheme: &str, value: &str) -> String {
    format!("{scheme}:{value}")
}

pub fn attachment_key(hash: &customs_protocol::BlobHash, id: &EntryId) -> [u8; 65] {
    let mut key = [0u8; 65];
    key[0] = ATTACHMENT;
    key[1..33].copy_from_slice(&hash.0);
    key[33..].copy_from_slice(&id.0);
    key
}

pub fn attachment_prefix(hash: &customs_protocol::BlobHash) -> [u8; 33] {
    let mut key = [0u8; 33];
    key[0] = ATTACHMENT;
    key[1..].copy_from_slice(&hash.0);
    key
}

pub fn retracted_key(target: &EntryId) -> [u8; 33] {
    let mut key = [0u8; 33];
    key[0] = RETRACTED;
    key[1..].copy_from_slice(&target.0);
    key
}

pub fn fork_key(author: &PublicKey, seq: u64, id: &EntryId) -> [u8; 73] {
    let mut key = [0u8; 73];
    key[0] = FORK;
    key[1..33].copy_from_slice(&author.0);
    key[33..41].copy_from_slice(&seq.to_be_bytes());
    key[41..].copy_from_slice(&id.0);
    key
}

fn corrupt(what: impl Into<String>) -> StoreError {
    StoreError::Corrupt { what: what.into() }
}

fn array<const N: usize>(bytes: &[u8], what: &str) -> Result<[u8; N], StoreError> {
    bytes
        .try_into()
        .map_err(|_| corrupt(format!("{what}: expected {N} bytes, found {}", bytes.len())))
}

pub fn parse_id(bytes: &[u8], what: &str) -> Result<EntryId, StoreError> {
    array::<32>(bytes, what).map(EntryId)
}

pub fn parse_u64(bytes: &[u8], what: &str) -> Result<u64, StoreError> {
    array::<8>(bytes, what).map(u64::from_be_bytes)
}

/// (author number, seq) of a log key.
pub fn parse_log_key(key: &[u8]) -> Result<(u32, u64), StoreError> {
    let key: [u8; 13] = array(key, "log key")?;
    let author = u32::from_be_bytes(array(&key[1..5], "log key author")?);
    Ok((author, parse_u64(&key[5..], "log key seq")?))
}

/// The author of an author row's key (or of any key that is a prefix byte and a key).
pub fn parse_author_key(key: &[u8]) -> Result<PublicKey, StoreError> {
    array(key.get(1..).unwrap_or_default(), "author key").map(PublicKey)
}

/// The number of an author row.
pub fn parse_author_number(value: &[u8]) -> Result<u32, StoreError> {
    array::<4>(value, "author number").map(u32::from_be_bytes)
}

/// (author, seq, id) of a head row.
pub fn parse_head(key: &[u8], value: &[u8]) -> Result<(PublicKey, u64, EntryId), StoreError> {
    let author = PublicKey(array(key.get(1..).unwrap_or_default(), "head key")?);
    let value: [u8; 40] = array(value, "head value")?;
    Ok((
        author,
        parse_u64(&value[..8], "head seq")?,
        parse_id(&value[8..], "head id")?,
    ))
}

/// (author, seq, id) of a fork key.
pub fn parse_fork_key(key: &[u8]) -> Result<(PublicKey, u64, EntryId), StoreError> {
    let key: [u8; 73] = array(key, "fork key")?;
    Ok((
        PublicKey(array(&key[1..33], "fork key author")?),
        parse_u64(&key[33..41], "fork key seq")?,
        parse_id(&key[41..], "fork key id")?,
    ))
}

/// The id in an alert index key, and the creation time.
pub fn parse_alert_key(key: &[u8]) -> Result<(u64, EntryId), StoreError> {
    let key: [u8; 41] = array(key, "alert key")?;
    let inverted = parse_u64(&key[1..9], "alert key time")?;
    Ok((u64::MAX - inverted, parse_id(&key[9..], "alert key id")?))
}

/// (issuer, seq) at the end of an AEO index key.
pub fn parse_aeo_key_tail(key: &[u8]) -> Result<(PublicKey, u64), StoreError> {
    let tail = key
        .len()
        .checked_sub(40)
        .and_then(|start| key.get(start..))
        .ok_or_else(|| corrupt("AEO key shorter than 40 bytes"))?;
    Ok((
        PublicKey(array(&tail[..32], "AEO key issuer")?),
        parse_u64(&tail[32..], "AEO key seq")?,
    ))
}

/// What the alert index keeps of an alert so that filters need not read the entry:
/// author number (4, BE, as in the log rows), category (1), detected_on (year 2 BE, month 1, day 1),
/// hs_code length (1) and bytes, country count (1) and 2 bytes each.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertSummary {
    pub author: u32,
    pub category: Category,
    pub detected_on: Date,
    pub hs_code: String,
    pub countries: Vec<Country>,
}

impl AlertSummary {
    pub fn of(author: u32, alert: &RiskAlert) -> Self {
        AlertSummary {
            author,
            category: alert.category,
            detected_on: alert.detected_on,
            hs_code: alert.hs_code.clone(),
            countries: alert.route.countries().collect(),
        }
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(20 + 2 * self.countries.len());
        out.extend_from_slice(&self.author.to_be_bytes());
        let category = Category::ALL
            .iter()
            .position(|c| *c == self.category)
            .unwrap_or(Category::ALL.len() - 1);
        out.push(category as u8);
        out.extend_from_slice(&self.detected_on.year.to_be_bytes());
        out.push(self.detected_on.month);
        out.push(self.detected_on.day);
        // Validated entries have HS codes of at most 10 digits and at most 12 countries.
        out.push(self.hs_code.len() as u8);
        out.extend_from_slice(self.hs_code.as_bytes());
        out.push(self.countries.len() as u8);
        for country in &self.countries {
            out.extend_from_slice(&country.0);
        }
        out
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, StoreError> {
        let mut reader = Reader { bytes, at: 0 };
        let author = u32::from_be_bytes(array(reader.take(4)?, "summary author")?);
        let category = *Category::ALL
            .get(reader.byte()? as usize)
            .ok_or_else(|| corrupt("alert summary: unknown category"))?;
        let year = u16::from_be_bytes(array(reader.take(2)?, "summary year")?);
        let detected_on = Date::new(year, reader.byte()?, reader.byte()?);
        let hs_len = reader.byte()? as usize;
        let hs_code = String::from_utf8(reader.take(hs_len)?.to_vec())
            .map_err(|_| corrupt("alert summary: HS code is not UTF-8"))?;
        let count = reader.byte()? as usize;
        let countries = (0..count)
            .map(|_| Ok(Country(array(reader.take(2)?, "summary country")?)))
            .collect::<Result<Vec<_>, StoreError>>()?;
        if reader.at != bytes.len() {
            return Err(corrupt("alert summary has trailing bytes"));
        }
        Ok(AlertSummary {
            author,
            category,
            detected_on,
            hs_code,
            countries,
        })
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], StoreError> {
        let slice = self
            .bytes
            .get(self.at..self.at + n)
            .ok_or_else(|| corrupt("alert summary is truncated"))?;
        self.at += n;
        Ok(slice)
    }

    fn byte(&mut self) -> Result<u8, StoreError> {
        Ok(self.take(1)?[0])
    }
}

/// Entry counts, kept in the `Mcounts` row and updated in the same batch as the
/// entries they count.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub entries: u64,
    pub risk_alerts: u64,
    pub aeo_records: u64,
    pub retractions: u64,
    pub forks: u64,
    pub authors: u64,
    /// Conflicting entries seen at a (author, seq) that has its fork proof already:
    /// counted, not kept (one proof per seq bounds what a bad key can make us store).
    pub forks_known: u64,
}

impl Counts {
    pub fn encode(&self) -> [u8; 56] {
        let mut out = [0u8; 56];
        let fields = [
            self.entries,
            self.risk_alerts,
            self.aeo_records,
            self.retractions,
            self.forks,
            self.authors,
            self.forks_known,
        ];
        for (chunk, value) in out.chunks_exact_mut(8).zip(fields) {
            chunk.copy_from_slice(&value.to_be_bytes());
        }
        out
    }

    /// Reads the row; a row of 48 bytes (stores written before `forks_known`) has
    /// no such count yet.
    pub fn decode(bytes: &[u8]) -> Result<Self, StoreError> {
        let mut full = [0u8; 56];
        match bytes.len() {
            48 | 56 => full[..bytes.len()].copy_from_slice(bytes),
            n => return Err(corrupt(format!("counts row of {n} bytes, not 48 or 56"))),
        }
        let bytes = full;
        let field = |i: usize| parse_u64(&bytes[i * 8..i * 8 + 8], "count");
        Ok(Counts {
            entries: field(0)?,
            risk_alerts: field(1)?,
            aeo_records: field(2)?,
            retractions: field(3)?,
            forks: field(4)?,
            authors: field(5)?,
            forks_known: field(6)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use customs_protocol::samples;

    #[test]
    fn alert_summary_round_trips() {
        let summary = AlertSummary::of(3, &samples::risk_alert());
        assert_eq!(
            AlertSummary::decode(&summary.encode()).ok(),
            Some(summary.clone())
        );
        let mut long = summary.encode();
        long.push(0);
        assert!(AlertSummary::decode(&long).is_err());
        assert!(AlertSummary::decode(&summary.encode()[..10]).is_err());
    }

    #[test]
    fn alert_keys_sort_newest_first() {
        let older = alert_key(1_000, &EntryId([9; 32]));
        let newer = alert_key(2_000, &EntryId([1; 32]));
        assert!(newer < older);
        assert_eq!(
            parse_alert_key(&newer).ok(),
            Some((2_000, EntryId([1; 32])))
        );
    }

    #[test]
    fn log_keys_sort_by_seq() {
        assert!(log_key(1, 9) < log_key(1, 10));
        assert!(log_key(1, 255) < log_key(1, 256));
        assert!(log_key(1, u64::MAX) < log_key(2, 1));
        assert_eq!(parse_log_key(&log_key(7, 77)).ok(), Some((7, 77)));
    }

    #[test]
    fn counts_round_trip() {
        let counts = Counts {
            entries: 1,
            risk_alerts: 2,
            aeo_records: 3,
            retractions: 4,
            forks: 5,
            authors: 6,
            forks_known: 7,
        };
        assert_eq!(Counts::decode(&counts.encode()).ok(), Some(counts));
        // A row written before forks_known was counted.
        let old = Counts::decode(&counts.encode()[..48]).expect("old row");
        assert_eq!(old.forks_known, 0);
        assert_eq!(old.authors, 6);
    }
}
