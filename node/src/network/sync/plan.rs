//! What to ask a peer for, given its heads: pure decisions, no I/O, so that they can be
//! tested on their own.

use customs_protocol::limits::{MAX_PAGE_BYTES, MAX_PAGE_ENTRIES};
use customs_protocol::wire::{Frontier, Head, SyncRequest};
use customs_protocol::PublicKey;

/// A request for one author's entries.
pub fn entries_request(author: PublicKey, from_seq: u64, max_count: u32) -> SyncRequest {
    SyncRequest::Entries {
        author,
        from_seq,
        max_count: max_count.clamp(1, MAX_PAGE_ENTRIES),
        max_bytes: MAX_PAGE_BYTES,
    }
}

/// What to do about a peer's heads.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Plan {
    /// Each author's missing range from our head on, and, where the peer's head sits
    /// at our head's seq with another id, that one entry (the second half of a fork
    /// proof).
    pub requests: Vec<SyncRequest>,
    /// Heads below ours: whether our chain holds the same entry there takes a look
    /// at the store, which the caller does off the event loop.
    pub to_check: Vec<Head>,
}

/// The requests that bring us what `theirs` (a peer's heads) has and we lack. Only
/// authors for which `wanted` is true (members) are considered.
pub fn plan(ours: &Frontier, theirs: &[Head], wanted: impl Fn(&PublicKey) -> bool) -> Plan {
    let mut plan = Plan::default();
    for head in theirs.iter().filter(|h| wanted(&h.author)) {
        // Evidence against the author that we lack, at a seq our chain holds (a
        // chain that does not reach it yet fetches its range first).
        let our = ours.get(&head.author);
        let proof_wanted = head.fork_seq > 0
            && our.is_some_and(|o| {
                (o.fork_seq == 0 || head.fork_seq < o.fork_seq) && head.fork_seq <= o.seq
            });
        if proof_wanted {
            plan.requests.push(SyncRequest::ForkProof {
                author: head.author,
                seq: head.fork_seq,
            });
            continue;
        }
        match our {
            None => plan
                .requests
                .push(entries_request(head.author, 1, MAX_PAGE_ENTRIES)),
            Some(our) if head.seq > our.seq => {
                plan.requests
                    .push(entries_request(head.author, our.seq + 1, MAX_PAGE_ENTRIES));
            }
            Some(our) if head.seq == our.seq => {
                if head.id != our.id {
                    plan.requests
                        .push(entries_request(head.author, head.seq, 1));
                }
            }
            Some(_) => plan.to_check.push(*head),
        }
    }
    plan
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
    use customs_protocol::EntryId;

    fn head(author: u8, seq: u64, id: u8) -> Head {
        Head {
            author: PublicKey([author; 32]),
            seq,
            id: EntryId([id; 32]),
            fork_seq: 0,
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
        let plan = plan(&ours, &theirs, |a| a.0[0] != 5);
        assert_eq!(
            plan.to_check,
            vec![head(2, 7, 7)],
            "below our head: checked"
        );
        let requests = plan.requests;
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
