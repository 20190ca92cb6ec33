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
/// authors for which `limit` gives a seq (members' node keys) are considered, and
/// only up to that seq (a rotated or revoked key signs nothing valid beyond it).
pub fn plan(ours: &Frontier, theirs: &[Head], limit: impl Fn(&PublicKey) -> Option<u64>) -> Plan {
    let mut plan = Plan::default();
    for head in theirs {
        let Some(limit) = limit(&head.author) else {
            continue;
        };
        // A head beyond the limit says nothing about entries we may take at it.
        let capped = head.seq > limit;
        let head_seq = head.seq.min(limit);
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
        let page = |from: u64| {
            // Up to the limit; an unlimited author may have more by the time we ask.
            let count = (limit.saturating_add(1) - from).min(u64::from(MAX_PAGE_ENTRIES)) as u32;
            entries_request(head.author, from, count)
        };
        match our {
            None if head_seq >= 1 => plan.requests.push(page(1)),
            None => {}
            Some(our) if head_seq > our.seq => plan.requests.push(page(our.seq + 1)),
            Some(our) if head_seq == our.seq && !capped && head.id != our.id => {
                plan.requests
                    .push(entries_request(head.author, head.seq, 1));
            }
            Some(our) if head_seq == our.seq => {}
            Some(_) if !capped => plan.to_check.push(*head),
            Some(_) => {}
        }
    }
    plan
}

/// Entries the peer has that we lack, summed over the authors we want: the lag.
pub fn lag(ours: &Frontier, theirs: &[Head], limit: impl Fn(&PublicKey) -> Option<u64>) -> u64 {
    theirs
        .iter()
        .filter_map(|h| limit(&h.author).map(|l| (h, l)))
        .map(|(h, l)| {
            h.seq
                .min(l)
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
        let plan = plan(&ours, &theirs, |a| (a.0[0] != 5).then_some(u64::MAX));
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
            lag(&ours, &theirs, |a| (a.0[0] != 5).then_some(u64::MAX)),
            3 + 2,
            "authors 1 and 4"
        );
    }

    #[test]
    fn a_closed_key_is_fetched_up_to_its_last_seq_and_no_further() {
        let mut ours = Frontier::new();
        ours.insert(head(1, 3, 3));
        ours.insert(head(2, 5, 5));
        // Author 1 closed at 4, author 2 at 5 (we hold it all), author 3 at 2.
        let limits = |a: &PublicKey| Some([0, 4, 5, 2][a.0[0] as usize]);
        let theirs = [head(1, 9, 9), head(2, 8, 8), head(3, 7, 7)];
        let plan = plan(&ours, &theirs, limits);
        let asked: Vec<(u8, u64, u32)> = plan
            .requests
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
        assert_eq!(asked, vec![(1, 4, 1), (3, 1, 2)]);
        assert!(
            plan.to_check.is_empty(),
            "a head beyond the limit is not compared"
        );
        assert_eq!(lag(&ours, &theirs, limits), 1 + 2);
    }
}
