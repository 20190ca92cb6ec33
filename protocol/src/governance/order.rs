//! The order in which the membership rule replays governance events (SPEC.md
//! section 12, "The order").
//!
//! Legacy events (tag 3, naming no heads) come first, each after its author's
//! earlier governance entries and otherwise by (created_at_ms, id): for honest
//! histories, whose authors' clocks run forward, that is the order of 2026-12-07.
//! Once a causal event exists, a legacy event counts only if a causal event names it
//! (or a later legacy event of its key): the legacy history is what the members held
//! when they moved to causal entries. Causal events come next, each after the heads it
//! names and its author's earlier governance entries, and each as late as what
//! builds on it allows: an act that names stale heads or is dated back goes after the
//! acts it did not see, and is judged against the membership they made. No signed
//! time orders causal events.

use std::collections::{BTreeSet, HashMap};

use super::GovernanceEvent;
use crate::entry::EntryId;
use crate::identity::PublicKey;
use crate::limits::MAX_GOVERNANCE_HEADS;

/// The governance events that count, in replay order.
pub(super) struct Order<'a> {
    events: Vec<&'a GovernanceEvent>,
    positions: HashMap<EntryId, usize>,
    /// A causal event's parents (its heads and its author's previous governance
    /// entry), by position; empty for legacy events.
    parents: Vec<Vec<usize>>,
    /// Positions below this are legacy events.
    legacy: usize,
    /// Events that do not take part, and why.
    left_out: Vec<(EntryId, String)>,
    /// For a causal approval: whether its proposal is in its past.
    names_proposal: Vec<bool>,
}

impl<'a> Order<'a> {
    /// Orders `unique` (distinct ids).
    pub fn new(unique: &[&'a GovernanceEvent]) -> Order<'a> {
        let any_causal = unique.iter().any(|e| !e.is_legacy());
        let cited = legacy_citations(unique);
        let mut left_out = Vec::new();
        let mut legacy: Vec<&'a GovernanceEvent> = Vec::new();
        let mut causal: Vec<&'a GovernanceEvent> = Vec::new();
        for &event in unique {
            if !event.is_legacy() {
                causal.push(event);
            } else if !any_causal || cited.covers(event) {
                legacy.push(event);
            } else {
                left_out.push((
                    event.id,
                    "a governance entry of the old layout that no causal governance entry names: it came after the network moved to causal entries".to_string(),
                ));
            }
        }
        let mut order = Order {
            events: Vec::with_capacity(legacy.len() + causal.len()),
            positions: HashMap::new(),
            parents: Vec::new(),
            legacy: 0,
            left_out,
            names_proposal: Vec::new(),
        };
        order.place(legacy, false);
        order.legacy = order.events.len();
        order.place(causal, true);
        order.names_proposal = (0..order.events.len())
            .map(|p| match &order.events[p].governance {
                super::Governance::Approve { proposal } if p >= order.legacy => order
                    .position(proposal)
                    .is_some_and(|target| order.reaches(p, target)),
                _ => false,
            })
            .collect();
        order
    }

    /// Whether `target` is in the past of `from` (searching only positions at or
    /// after `target`, since a past lies before its event).
    fn reaches(&self, from: usize, target: usize) -> bool {
        let mut seen = vec![false; self.events.len()];
        let mut stack = vec![from];
        while let Some(p) = stack.pop() {
            if p == target || (p < self.legacy && target <= p) {
                return true;
            }
            if p < target || p < self.legacy || std::mem::replace(&mut seen[p], true) {
                continue;
            }
            stack.extend(&self.parents[p]);
        }
        false
    }

    /// Whether the causal approval at `position` had seen the proposal it approves.
    pub fn names_proposal(&self, position: usize) -> bool {
        self.names_proposal.get(position).copied().unwrap_or(false)
    }

    /// Appends `events` in a topological order: each after its parents (placed
    /// already or among `events`). With `latest_first`, each as late as what builds
    /// on it allows (see [`Order::as_late_as_possible`]); otherwise as soon as its
    /// parents are placed, ties by (created_at_ms, id) (the old layout's date order).
    /// Events whose parents never come are left out.
    fn place(&mut self, events: Vec<&'a GovernanceEvent>, latest_first: bool) {
        let index: HashMap<EntryId, usize> =
            events.iter().enumerate().map(|(i, e)| (e.id, i)).collect();
        // Each author's events, placed or not, by seq: an event's author-parent is
        // the one just below it.
        let mut by_author: HashMap<PublicKey, Vec<(u64, EntryId)>> = HashMap::new();
        for e in self.events.iter().chain(events.iter()) {
            by_author.entry(e.author).or_default().push((e.seq, e.id));
        }
        for seqs in by_author.values_mut() {
            seqs.sort_unstable();
        }
        let mut waiting_on: Vec<Vec<usize>> = vec![Vec::new(); events.len()];
        let mut missing: Vec<usize> = vec![0; events.len()];
        let mut absent: Vec<Option<EntryId>> = vec![None; events.len()];
        let mut parents: Vec<Vec<EntryId>> = Vec::with_capacity(events.len());
        for (i, e) in events.iter().enumerate() {
            let mut named: Vec<EntryId> = e.heads.clone().unwrap_or_default();
            let seqs = &by_author[&e.author];
            let below = seqs.partition_point(|(seq, _)| *seq < e.seq);
            if below > 0 {
                named.push(seqs[below - 1].1);
            }
            named.sort_unstable();
            named.dedup();
            for id in &named {
                if self.positions.contains_key(id) {
                    continue;
                }
                match index.get(id) {
                    Some(&j) if j != i => {
                        waiting_on[j].push(i);
                        missing[i] += 1;
                    }
                    _ => {
                        absent[i].get_or_insert(*id);
                        missing[i] += 1;
                    }
                }
            }
            parents.push(named);
        }
        // Forward: which events can be placed at all (their parents come), in a
        // topological order, with each one's generation (one more than its deepest
        // parent's; 0 for what is placed already).
        let mut ready: BTreeSet<(u64, EntryId, usize)> = events
            .iter()
            .enumerate()
            .filter(|(i, _)| missing[*i] == 0)
            .map(|(i, e)| (e.created_at_ms, e.id, i))
            .collect();
        let mut placed = vec![false; events.len()];
        let mut forward: Vec<usize> = Vec::with_capacity(events.len());
        let mut generation = vec![0u64; events.len()];
        while let Some((_, _, i)) = ready.pop_first() {
            placed[i] = true;
            forward.push(i);
            generation[i] = 1 + parents[i]
                .iter()
                .filter_map(|p| index.get(p).map(|&j| generation[j]))
                .max()
                .unwrap_or(0);
            for &child in &waiting_on[i] {
                missing[child] -= 1;
                if missing[child] == 0 {
                    ready.insert((events[child].created_at_ms, events[child].id, child));
                }
            }
        }
        let order = if latest_first {
            self.as_late_as_possible(&events, &forward, &parents, &index, &generation)
        } else {
            forward
        };
        for i in order {
            let position = self.events.len();
            self.events.push(events[i]);
            self.positions.insert(events[i].id, position);
            let parent_positions = if events[i].is_legacy() {
                Vec::new()
            } else {
                parents[i].iter().map(|p| self.positions[p]).collect()
            };
            self.parents.push(parent_positions);
        }
        for (i, e) in events.iter().enumerate().filter(|(i, _)| !placed[*i]) {
            let why = match absent[i] {
                Some(id) => format!("waits for governance entry {id}, which its author names and this node does not hold"),
                None => "waits for an earlier governance entry that cannot be placed".to_string(),
            };
            self.left_out.push((e.id, why));
        }
    }

    /// The placeable `forward` events (indices into `events`) ordered from the end:
    /// repeatedly, of the events nothing unplaced builds on, the one of the lowest
    /// generation goes last (of equal generations, the larger id). An act that names
    /// stale heads, or is dated back, thus goes after everything it did not see that
    /// saw more than it did: it is judged against the membership as it is now, never
    /// slipped in before decisions taken without it.
    fn as_late_as_possible(
        &self,
        events: &[&'a GovernanceEvent],
        forward: &[usize],
        parents: &[Vec<EntryId>],
        index: &HashMap<EntryId, usize>,
        generation: &[u64],
    ) -> Vec<usize> {
        let local_parents = |i: usize| parents[i].iter().filter_map(|p| index.get(p).copied());
        let mut children = vec![0usize; events.len()];
        for &i in forward {
            for j in local_parents(i) {
                children[j] += 1;
            }
        }
        let mut last: BTreeSet<(u64, std::cmp::Reverse<EntryId>, usize)> = forward
            .iter()
            .filter(|&&i| children[i] == 0)
            .map(|&i| (generation[i], std::cmp::Reverse(events[i].id), i))
            .collect();
        let mut backwards = Vec::with_capacity(forward.len());
        while let Some((_, _, i)) = last.pop_first() {
            backwards.push(i);
            for j in local_parents(i) {
                children[j] -= 1;
                if children[j] == 0 {
                    last.insert((generation[j], std::cmp::Reverse(events[j].id), j));
                }
            }
        }
        backwards.reverse();
        backwards
    }

    pub fn len(&self) -> usize {
        self.events.len()
    }

    pub fn event(&self, position: usize) -> &'a GovernanceEvent {
        self.events[position]
    }

    pub fn position(&self, id: &EntryId) -> Option<usize> {
        self.positions.get(id).copied()
    }

    pub fn left_out(&self) -> &[(EntryId, String)] {
        &self.left_out
    }

    /// The events nothing builds on yet (no later entry of the same key, named by
    /// no causal event), ascending by id, at most [`MAX_GOVERNANCE_HEADS`].
    pub fn heads(&self) -> Vec<EntryId> {
        let mut built_on = vec![false; self.events.len()];
        for parents in &self.parents {
            for &p in parents {
                built_on[p] = true;
            }
        }
        let mut latest: HashMap<PublicKey, (u64, usize)> = HashMap::new();
        for (p, e) in self.events.iter().enumerate() {
            let slot = latest.entry(e.author).or_insert((e.seq, p));
            if e.seq > slot.0 {
                built_on[slot.1] = true;
                *slot = (e.seq, p);
            } else if e.seq < slot.0 {
                built_on[p] = true;
            }
        }
        let mut heads: Vec<EntryId> = self
            .events
            .iter()
            .enumerate()
            .filter(|(p, _)| !built_on[*p])
            .map(|(_, e)| e.id)
            .collect();
        heads.sort_unstable();
        heads.truncate(MAX_GOVERNANCE_HEADS);
        heads
    }
}

/// Which legacy events causal events name: per legacy author key, the highest seq
/// named (naming an entry names its key's earlier entries too).
pub(super) struct Citations(HashMap<PublicKey, u64>);

impl Citations {
    fn covers(&self, event: &GovernanceEvent) -> bool {
        self.0
            .get(&event.author)
            .is_some_and(|&seq| seq >= event.seq)
    }
}

pub(super) fn legacy_citations(unique: &[&GovernanceEvent]) -> Citations {
    let legacy: HashMap<EntryId, (PublicKey, u64)> = unique
        .iter()
        .filter(|e| e.is_legacy())
        .map(|e| (e.id, (e.author, e.seq)))
        .collect();
    let mut cited: HashMap<PublicKey, u64> = HashMap::new();
    for event in unique {
        for head in event.heads.iter().flatten() {
            if let Some(&(author, seq)) = legacy.get(head) {
                let slot = cited.entry(author).or_insert(seq);
                *slot = (*slot).max(seq);
            }
        }
    }
    Citations(cited)
}
