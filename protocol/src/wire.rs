//! Messages between nodes.
//!
//! Gossip: the payload of a gossip message is exactly one signed entry
//! ([`crate::SignedEntry::encode`]) on the topic [`gossip_topic`].
//!
//! Sync (request-response, protocol [`SYNC_PROTOCOL`]): the asking node sends the
//! digests of its frontier in [`FRONTIER_BUCKETS`] buckets; the answering node sends its
//! heads in the buckets whose digests differ (none when the two frontiers agree, so the
//! common case is one small round trip). The asking node then pulls each author's
//! missing range with [`SyncRequest::Entries`], in pages bounded by count and bytes.

use std::collections::BTreeMap;

use bincode::{Decode, Encode};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::codec::{decode_canonical, encode};
use crate::entry::EntryId;
use crate::error::{DecodeError, Rule, ValidationError};
use crate::identity::PublicKey;
use crate::limits::*;

/// libp2p protocol name of the sync request-response protocol.
pub const SYNC_PROTOCOL: &str = "/customs-network/sync/3";

/// Prefix of every frontier bucket digest.
pub const FRONTIER_DIGEST_DOMAIN: &[u8] = b"customs-network/frontier/v2\0";

/// The gossipsub topic of a network.
pub fn gossip_topic(network: &str) -> String {
    format!("customs-network/{network}/entries/1")
}

/// The latest entry a node holds from one author, and the evidence it holds against
/// that author's key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode, Serialize)]
pub struct Head {
    pub author: PublicKey,
    pub seq: u64,
    pub id: EntryId,
    /// The lowest seq at which the node holds a fork proof of this author; 0 when
    /// it holds none. Part of the digest, so that evidence spreads by sync even
    /// where every chain agrees.
    pub fork_seq: u64,
}

/// Author -> latest seq, its entry id and the lowest forked seq: what a node holds, in
/// a few bytes per author.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Frontier {
    heads: BTreeMap<PublicKey, (u64, EntryId, u64)>,
}

/// The bucket an author's head belongs to: the high four bits of the key's first byte.
pub fn bucket_of(author: &PublicKey) -> usize {
    (author.0[0] >> 4) as usize
}

impl Frontier {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn insert(&mut self, head: Head) {
        self.heads
            .insert(head.author, (head.seq, head.id, head.fork_seq));
    }

    /// Moves an author's head, keeping what is known of its forks.
    pub fn advance(&mut self, author: PublicKey, seq: u64, id: EntryId) {
        let fork_seq = self.heads.get(&author).map_or(0, |h| h.2);
        self.heads.insert(author, (seq, id, fork_seq));
    }

    /// Notes a fork proof of `author` at `seq` (the author has a head: a proof is
    /// only ever held at a seq its chain holds).
    pub fn mark_fork(&mut self, author: &PublicKey, seq: u64) {
        if let Some(head) = self.heads.get_mut(author) {
            if head.2 == 0 || seq < head.2 {
                head.2 = seq;
            }
        }
    }

    pub fn get(&self, author: &PublicKey) -> Option<Head> {
        self.heads.get(author).map(|&(seq, id, fork_seq)| Head {
            author: *author,
            seq,
            id,
            fork_seq,
        })
    }

    pub fn heads(&self) -> impl Iterator<Item = Head> + '_ {
        self.heads
            .iter()
            .map(|(&author, &(seq, id, fork_seq))| Head {
                author,
                seq,
                id,
                fork_seq,
            })
    }

    pub fn len(&self) -> usize {
        self.heads.len()
    }

    pub fn is_empty(&self) -> bool {
        self.heads.is_empty()
    }

    /// SHA-256 per bucket over [`FRONTIER_DIGEST_DOMAIN`] and, in author order, each
    /// head as author (32 bytes), seq (8 bytes little endian), id (32 bytes),
    /// fork_seq (8 bytes little endian).
    pub fn bucket_digests(&self) -> Vec<[u8; 32]> {
        (0..FRONTIER_BUCKETS)
            .map(|b| self.bucket_digest(b))
            .collect()
    }

    /// The digest of one bucket (its authors are one contiguous range of keys).
    pub fn bucket_digest(&self, bucket: usize) -> [u8; 32] {
        let mut hasher = Sha256::new_with_prefix(FRONTIER_DIGEST_DOMAIN);
        let mut first = [0u8; 32];
        first[0] = (bucket as u8) << 4;
        for (author, (seq, id, fork_seq)) in self.heads.range(PublicKey(first)..) {
            if bucket_of(author) != bucket {
                break;
            }
            hasher.update(author.0);
            hasher.update(seq.to_le_bytes());
            hasher.update(id.0);
            hasher.update(fork_seq.to_le_bytes());
        }
        hasher.finalize().into()
    }

    /// Our heads in every bucket whose digest differs from `theirs`: the answer to a
    /// frontier request. Empty when the frontiers agree.
    pub fn heads_differing_from(&self, theirs: &[[u8; 32]]) -> Vec<Head> {
        let ours = self.bucket_digests();
        self.heads()
            .filter(|head| {
                let bucket = bucket_of(&head.author);
                theirs.get(bucket) != Some(&ours[bucket])
            })
            .collect()
    }
}

/// Entries of the asking node's own key that the answering node refused, by reason:
/// how the publisher learns that a member does not take its entries.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize)]
pub struct Refusal {
    /// A stable reason name (`InFuture`, `WrongNetwork`, ...), at most
    /// [`MAX_REFUSAL_REASON_BYTES`].
    pub reason: String,
    /// Entries refused for this reason since the answering node started.
    pub count: u64,
    /// The seq of the latest of them.
    pub last_seq: u64,
    /// When the latest was refused, by the answering node's clock (Unix ms).
    pub last_at_ms: u64,
}

/// A request from one node to another.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub enum SyncRequest {
    /// "These are my frontier's bucket digests: send me your heads where they differ."
    Frontier { bucket_digests: Vec<[u8; 32]> },
    /// "Send me `author`'s entries from `from_seq` on, at most `max_count` entries and
    /// `max_bytes` bytes of signed entries (at least one entry if there is one)."
    Entries {
        author: PublicKey,
        from_seq: u64,
        max_count: u32,
        max_bytes: u32,
    },
    /// "Send me your fork proof of `author` at `seq`": answered with `Entries`
    /// holding the chain's entry at that seq and the conflicting one (empty when the
    /// node holds no proof there).
    ForkProof { author: PublicKey, seq: u64 },
}

/// The answer to a [`SyncRequest`].
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub enum SyncResponse {
    /// Heads in the buckets that differ (empty when in sync); the answering node's
    /// clock when it answered (Unix ms), from which the asking node estimates its own
    /// clock's offset; and why it refused entries of the asking node's key, if it did.
    Frontier {
        heads: Vec<Head>,
        now_ms: u64,
        refusals: Vec<Refusal>,
    },
    /// Signed entries (each [`crate::SignedEntry::encode`]d), consecutive from the
    /// requested seq; `more` when the author has entries past the page.
    Entries { entries: Vec<Vec<u8>>, more: bool },
    /// The request was refused, with the reason (e.g. a bound it broke).
    Refused { reason: String },
}

fn check_range(field: &str, value: u64, min: u64, max: u64) -> Result<(), ValidationError> {
    if (min..=max).contains(&value) {
        Ok(())
    } else {
        Err(ValidationError::new(
            field,
            Rule::OutOfRange { value, min, max },
        ))
    }
}

impl SyncRequest {
    pub fn encode(&self) -> Vec<u8> {
        encode(self)
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        decode_canonical::<Self, MAX_SYNC_REQUEST_BYTES>("sync request", bytes, 0)
    }

    /// The bounds a server enforces before doing any work.
    pub fn validate(&self) -> Result<(), ValidationError> {
        match self {
            SyncRequest::Frontier { bucket_digests } => check_range(
                "bucket_digests",
                bucket_digests.len() as u64,
                FRONTIER_BUCKETS as u64,
                FRONTIER_BUCKETS as u64,
            ),
            SyncRequest::Entries {
                from_seq,
                max_count,
                max_bytes,
                ..
            } => {
                check_range("from_seq", *from_seq, 1, u64::MAX)?;
                check_range(
                    "max_count",
                    u64::from(*max_count),
                    1,
                    u64::from(MAX_PAGE_ENTRIES),
                )?;
                check_range(
                    "max_bytes",
                    u64::from(*max_bytes),
                    MAX_SIGNED_ENTRY_BYTES as u64,
                    u64::from(MAX_PAGE_BYTES),
                )
            }
            SyncRequest::ForkProof { seq, .. } => check_range("seq", *seq, 1, u64::MAX),
        }
    }

    /// The author whose entries the request brings, if it brings entries.
    pub fn author(&self) -> Option<PublicKey> {
        match self {
            SyncRequest::Frontier { .. } => None,
            SyncRequest::Entries { author, .. } | SyncRequest::ForkProof { author, .. } => {
                Some(*author)
            }
        }
    }
}

impl SyncResponse {
    pub fn encode(&self) -> Vec<u8> {
        encode(self)
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        decode_canonical::<Self, MAX_SYNC_RESPONSE_BYTES>("sync response", bytes, 0)
    }

    /// The bounds a client enforces on an answer before using it.
    pub fn validate(&self) -> Result<(), ValidationError> {
        match self {
            SyncResponse::Frontier {
                heads, refusals, ..
            } => {
                check_range("heads", heads.len() as u64, 0, MAX_FRONTIER_HEADS as u64)?;
                check_range("refusals", refusals.len() as u64, 0, MAX_REFUSALS as u64)?;
                for (i, refusal) in refusals.iter().enumerate() {
                    check_range(
                        &format!("refusals[{i}].reason"),
                        refusal.reason.len() as u64,
                        1,
                        MAX_REFUSAL_REASON_BYTES as u64,
                    )?;
                }
                Ok(())
            }
            SyncResponse::Entries { entries, .. } => {
                check_range(
                    "entries",
                    entries.len() as u64,
                    0,
                    u64::from(MAX_PAGE_ENTRIES),
                )?;
                for (i, entry) in entries.iter().enumerate() {
                    check_range(
                        &format!("entries[{i}]"),
                        entry.len() as u64,
                        1,
                        MAX_SIGNED_ENTRY_BYTES as u64,
                    )?;
                }
                Ok(())
            }
            SyncResponse::Refused { reason } => check_range("reason", reason.len() as u64, 0, 1024),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SecretKey;

    fn head(seed: u8, seq: u64) -> Head {
        Head {
            author: SecretKey::from_seed([seed; 32]).public_key(),
            seq,
            id: EntryId([seq as u8; 32]),
            fork_seq: 0,
        }
    }

    #[test]
    fn equal_frontiers_exchange_no_heads() {
        let mut a = Frontier::new();
        let mut b = Frontier::new();
        for seed in 1..50 {
            a.insert(head(seed, 10));
            b.insert(head(seed, 10));
        }
        assert_eq!(a.bucket_digests(), b.bucket_digests());
        assert!(b.heads_differing_from(&a.bucket_digests()).is_empty());
    }

    #[test]
    fn a_fork_proof_changes_the_digest_of_its_bucket_only() {
        let mut a = Frontier::new();
        for seed in 1..=50 {
            a.insert(head(seed, 10));
        }
        let mut b = a.clone();
        let author = head(9, 10).author;
        b.mark_fork(&author, 4);
        b.mark_fork(&author, 6); // the lowest stays
        assert_eq!(b.get(&author).map(|h| h.fork_seq), Some(4));
        let answer = b.heads_differing_from(&a.bucket_digests());
        assert!(answer.iter().any(|h| h.author == author && h.fork_seq == 4));
        assert!(answer
            .iter()
            .all(|h| bucket_of(&h.author) == bucket_of(&author)));
        b.advance(author, 11, EntryId([11; 32]));
        assert_eq!(b.get(&author).map(|h| (h.seq, h.fork_seq)), Some((11, 4)));
    }

    #[test]
    fn one_difference_sends_only_its_bucket() {
        let mut a = Frontier::new();
        let mut b = Frontier::new();
        for seed in 1..=200 {
            a.insert(head(seed, 10));
            b.insert(head(seed, 10));
        }
        let changed = head(77, 11);
        b.insert(changed);
        let answer = b.heads_differing_from(&a.bucket_digests());
        assert!(answer.contains(&changed));
        assert!(answer
            .iter()
            .all(|h| bucket_of(&h.author) == bucket_of(&changed.author)));
        assert!(
            answer.len() < 40,
            "one bucket of ~200/16 authors, got {}",
            answer.len()
        );
    }

    #[test]
    fn messages_round_trip() {
        let requests = [
            SyncRequest::Frontier {
                bucket_digests: Frontier::new().bucket_digests(),
            },
            SyncRequest::Entries {
                author: head(1, 1).author,
                from_seq: 5,
                max_count: 100,
                max_bytes: MAX_PAGE_BYTES,
            },
            SyncRequest::ForkProof {
                author: head(1, 1).author,
                seq: 3,
            },
        ];
        for request in requests {
            assert_eq!(request.validate(), Ok(()));
            assert_eq!(SyncRequest::decode(&request.encode()), Ok(request));
        }
        let responses = [
            SyncResponse::Frontier {
                heads: vec![head(1, 3), head(2, 4)],
                now_ms: 1_795_830_600_000,
                refusals: vec![Refusal {
                    reason: "InFuture".into(),
                    count: 3,
                    last_seq: 12,
                    last_at_ms: 1_795_830_599_000,
                }],
            },
            SyncResponse::Entries {
                entries: vec![vec![1, 2, 3]],
                more: true,
            },
            SyncResponse::Refused {
                reason: "max_count: is 0, outside 1..=1024".into(),
            },
        ];
        for response in responses {
            assert_eq!(response.validate(), Ok(()));
            assert_eq!(SyncResponse::decode(&response.encode()), Ok(response));
        }
    }

    #[test]
    fn request_bounds() {
        let entries = |max_count, max_bytes| SyncRequest::Entries {
            author: head(1, 1).author,
            from_seq: 1,
            max_count,
            max_bytes,
        };
        assert!(entries(0, MAX_PAGE_BYTES).validate().is_err());
        assert!(entries(MAX_PAGE_ENTRIES + 1, MAX_PAGE_BYTES)
            .validate()
            .is_err());
        assert!(
            entries(10, 100).validate().is_err(),
            "a page must fit one entry"
        );
        assert!(entries(10, MAX_PAGE_BYTES + 1).validate().is_err());
        let short = SyncRequest::Frontier {
            bucket_digests: vec![[0; 32]; 3],
        };
        assert_eq!(
            short.validate().map_err(|e| e.field),
            Err("bucket_digests".to_string())
        );
    }

    #[test]
    fn refusals_are_bounded() {
        let refusal = |reason: &str| Refusal {
            reason: reason.into(),
            count: 1,
            last_seq: 1,
            last_at_ms: 0,
        };
        let answer = |refusals| SyncResponse::Frontier {
            heads: Vec::new(),
            now_ms: 0,
            refusals,
        };
        assert!(answer(vec![refusal("InFuture"); MAX_REFUSALS])
            .validate()
            .is_ok());
        assert!(answer(vec![refusal("InFuture"); MAX_REFUSALS + 1])
            .validate()
            .is_err());
        assert!(answer(vec![refusal("")]).validate().is_err());
        assert!(
            answer(vec![refusal(&"x".repeat(MAX_REFUSAL_REASON_BYTES + 1))])
                .validate()
                .is_err()
        );
    }

    #[test]
    fn oversized_messages_are_refused_before_decoding() {
        let big = vec![0u8; MAX_SYNC_REQUEST_BYTES + 1];
        assert_eq!(
            SyncRequest::decode(&big).map_err(|e| e.code()),
            Err("TooLarge")
        );
        let big = vec![0u8; MAX_SYNC_RESPONSE_BYTES + 1];
        assert_eq!(
            SyncResponse::decode(&big).map_err(|e| e.code()),
            Err("TooLarge")
        );
    }

    #[test]
    fn a_full_page_fits_the_response_limit() {
        let entry = vec![0u8; MAX_SIGNED_ENTRY_BYTES];
        let count = MAX_PAGE_BYTES as usize / MAX_SIGNED_ENTRY_BYTES + 1;
        let page = SyncResponse::Entries {
            entries: vec![entry; count],
            more: true,
        };
        assert!(page.encode().len() <= MAX_SYNC_RESPONSE_BYTES);
    }
}
