//! What to ask a peer for, given its heads: pure decisions, no I/O, so that they can be
//! tested on their own.

use customs_protocol::limits::{MAX_PAGE_BYTES, MAX_PAGE_ENTRIES};
use customs_protocol::wire::{Frontier, Head, SyncRequest};
use customs_protocol::{EntryId, PublicKey};

/// A request for one author's entries.
pub fn entries_request(author: PublicKey, from_seq: u64, max_count: u32) -> SyncRequest {
    SyncRequest::Entries {
        author,
        from_seq,
        max_count: max_count.clamp(1, MAX_PAGE_ENTRIES),
        max_bytes: MAX_PAGE_BYTES,
    }
}

/// The requests that bring us what `theirs` (a peer's heads) has and we lack:
/// each author's missing range from our head on, and, where the peer's head sits at a
/// seq we hold with a different id, that one entry (the second half of a fork proof).
/// Only authors for which `wanted` is true (members) are considered.
pub fn plan(
    ours: &Frontier,
    theirs: &[Head],
    wanted: impl Fn(&PublicKey) -> bool,
    our_id_at: impl Fn(&PublicKey, u64) -> Option<EntryId>,
) -> Vec<SyncRequest> {
    let mut requests = Vec::new();
    for head in theirs.iter().filter(|h| wanted(&h.author)) {
        let our_seq = ours.get(&head.author).map_or(0, |h| h.seq);
        if head.seq > our_seq {
            requests.push(entries_request(head.author, our_seq + 1, MAX_PAGE_ENTRIES));
        } else if our_id_at(&head.author, head.seq).is_some_and(|id| id != head.id) {
            requests.push(entries_request(head.author, head.seq, 1));
        }
    }
    requests
}

/// Entries the peer has that we lack, summed over the authors we want: the lag.
pub fn lag(ours: &Frontier, theirs: &[Head], wanted: impl Fn(&PublicKey) -> bool) -> u64 {
    theirs
        .iter()
        .filter(|h| wanted(&h.author))
        .map(|h| {
            h.seq
                .saturating_sub(ours.get(&h.author).map_or(0, |o| o.seq))
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(author: u8, seq: u64, id: u8) -> Head {
        Head {
            author: PublicKey([author; 32]),
            seq,
            id: EntryId([id; 32]),
        }
    }

    #[test]
    fn asks_for_missing_ranges_and_fork_halves_only() {
        let mut ours = Frontier::new();
        ours.insert(head(1, 5, 5));
        ours.insert(head(2, 9, 9));
        ours.insert(head(3, 4, 4));
        let theirs = [
            head(1, 8, 8),  // ahead: ask from 6
            head(2, 7, 7),  // behind, same entry at 7: nothing
            head(3, 4, 44), // same seq, other id: a fork, ask for seq 4
            head(4, 2, 2),  // unknown author: from 1
            head(5, 3, 3),  // not a member: nothing
        ];
        let requests = plan(
            &ours,
            &theirs,
            |a| a.0[0] != 5,
            |author, seq| Some(EntryId([if author.0[0] == 3 { 4 } else { seq as u8 }; 32])),
        );
        let asked: Vec<(u8, u64, u32)> = requests
            .iter()
            .map(|r| match r {
                SyncRequest::Entries {
                    author,
                    from_seq,
                    max_count,
                    ..
                } => (author.0[0], *from_seq, *max_count),
                other => panic!("unexpected {other:?}"),
            })
            .collect();
        assert_eq!(
            asked,
            vec![
                (1, 6, MAX_PAGE_ENTRIES),
                (3, 4, 1),
                (4, 1, MAX_PAGE_ENTRIES)
            ]
        );
        assert_eq!(
            lag(&ours, &theirs, |a| a.0[0] != 5),
            3 + 2,
            "authors 1 and 4"
        );
    }
}
