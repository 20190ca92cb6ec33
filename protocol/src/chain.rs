//! Where an entry goes in its author's chain: the placement rule that every node
//! applies identically, whatever order entries arrive in.
//!
//! The rule is a pure function over a small read view of the chains ([`ChainView`]);
//! [`place`] runs it and stages the result through [`ChainWriter`], holding entries
//! that are ahead of their author's head in a bounded [`PendingBuffer`] until the gap
//! fills. The node's store implements the two traits over its database; tests and the
//! simulator implement them in memory ([`MemoryChains`]), so "any delivery order
//! converges" is checked on exactly the code the store runs.
//!
//! Fork proofs are bounded: one proof per (author, seq). A further conflicting entry
//! at a seq that already has a proof is only counted ([`Outcome::ForkKnown`]), so a
//! compromised key cannot fill its members' disks.

use std::collections::{BTreeMap, HashMap};

use crate::entry::{EntryId, VerifiedEntry};
use crate::identity::PublicKey;

/// What became of one entry handed to [`place`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// It extended its author's chain (and was staged for writing).
    Applied,
    /// Already held: in the chain, as the fork proof at its seq, or waiting.
    Duplicate,
    /// Ahead of its author's head: kept in the pending buffer until the gap fills.
    Pending,
    /// Ahead of its author's head, but the pending buffer is full: dropped; catch-up
    /// fetches it again.
    PendingFull,
    /// A different entry for a seq the chain holds, the first such: kept as the fork
    /// proof for that (author, seq).
    Fork,
    /// A different entry for a seq that already has a fork proof: counted, not kept.
    /// It adds no evidence, so it is not relayed either.
    ForkKnown,
    /// Next in seq, but its `prev` is not the head: the author's log branched at an
    /// earlier seq. Not kept; the caller should fetch the author's entry before it.
    PrevMismatch,
    /// Another network's entry (admission should have refused it). Not kept.
    WrongNetwork,
    /// Next in seq and linked to the head, but dated before it (the head dated on
    /// or after [`CHAIN_TIME_FROM_MS`]): within a chain, time never goes back. Not
    /// kept; the author's chain stops there (its node never signs such an entry).
    Backdated,
}

/// From this time (2026-12-08T00:00:00Z) on, an entry's `created_at_ms` is never
/// before its predecessor's (SPEC.md section 7). Chains held before keep what they
/// hold: the rule applies only after a head dated on or after it, so every node
/// judges an old history alike.
pub const CHAIN_TIME_FROM_MS: u64 = 1_796_688_000_000;

impl Outcome {
    /// Whether the entry added something to the store (a chain link or new evidence).
    pub fn is_new(self) -> bool {
        matches!(self, Outcome::Applied | Outcome::Fork)
    }
}

/// What [`place`] needs to know about the chains held.
pub trait ChainView {
    type Error;
    /// The network whose entries this store holds.
    fn network(&self) -> &str;
    /// The author's head: seq and id of the latest entry of its chain.
    fn head(&mut self, author: &PublicKey) -> Result<Option<(u64, EntryId)>, Self::Error>;
    /// The signed `created_at_ms` of the author's head.
    fn head_created_at(&mut self, author: &PublicKey) -> Result<Option<u64>, Self::Error>;
    /// The id of the author's chain entry at `seq`.
    fn id_at(&mut self, author: &PublicKey, seq: u64) -> Result<Option<EntryId>, Self::Error>;
    /// The id of the fork proof held for (author, seq), if any.
    fn fork_proof_at(
        &mut self,
        author: &PublicKey,
        seq: u64,
    ) -> Result<Option<EntryId>, Self::Error>;
}

/// How [`place`] stages its decisions. Implementations write nothing that readers
/// can see until their own commit.
pub trait ChainWriter: ChainView {
    /// Appends an entry that extends its author's chain (checked by [`place`]).
    fn apply(&mut self, entry: VerifiedEntry) -> Result<(), Self::Error>;
    /// Keeps the first conflicting entry at a (author, seq) as its fork proof.
    fn record_fork(&mut self, entry: VerifiedEntry) -> Result<(), Self::Error>;
    /// Counts a further conflicting entry at a (author, seq) that has a proof.
    fn count_known_fork(&mut self, author: &PublicKey, seq: u64) -> Result<(), Self::Error>;
}

/// The rule alone: where `entry` belongs given the chains in `view`.
pub fn decide<V: ChainView>(
    view: &mut V,
    pending: &PendingBuffer,
    entry: &VerifiedEntry,
) -> Result<Outcome, V::Error> {
    let e = entry.entry();
    if e.network != view.network() {
        return Ok(Outcome::WrongNetwork);
    }
    let head = view.head(&e.author)?;
    let head_seq = head.map_or(0, |(seq, _)| seq);
    // Every held entry is in its author's chain, so only an entry at or below the
    // head can be a duplicate: the common case (the next entry) reads nothing more.
    if e.seq <= head_seq {
        if view.id_at(&e.author, e.seq)? == Some(entry.id()) {
            return Ok(Outcome::Duplicate);
        }
        return Ok(match view.fork_proof_at(&e.author, e.seq)? {
            None => Outcome::Fork,
            Some(proof) if proof == entry.id() => Outcome::Duplicate,
            Some(_) => Outcome::ForkKnown,
        });
    }
    if pending.contains(entry) {
        return Ok(Outcome::Duplicate);
    }
    if e.seq > head_seq + 1 {
        return Ok(if pending.has_room_for(entry) {
            Outcome::Pending
        } else {
            Outcome::PendingFull
        });
    }
    if e.prev != head.map(|(_, id)| id) {
        return Ok(Outcome::PrevMismatch);
    }
    if let Some(before) = view.head_created_at(&e.author)? {
        if before >= CHAIN_TIME_FROM_MS && e.created_at_ms < before {
            return Ok(Outcome::Backdated);
        }
    }
    Ok(Outcome::Applied)
}

/// Decides where `entry` goes and stages it: applied (then every pending entry that
/// now extends the chain, in the order it arrived), kept as a fork proof, counted,
/// or held as pending.
pub fn place<W: ChainWriter>(
    writer: &mut W,
    pending: &mut PendingBuffer,
    entry: VerifiedEntry,
) -> Result<Outcome, W::Error> {
    let outcome = decide(writer, pending, &entry)?;
    let (author, seq) = (entry.entry().author, entry.entry().seq);
    match outcome {
        Outcome::Applied => {
            writer.apply(entry)?;
            release_pending(writer, pending, author)?;
        }
        Outcome::Fork => writer.record_fork(entry)?,
        Outcome::ForkKnown => writer.count_known_fork(&author, seq)?,
        Outcome::Pending => {
            pending.insert(entry);
        }
        Outcome::Duplicate
        | Outcome::PendingFull
        | Outcome::PrevMismatch
        | Outcome::WrongNetwork
        | Outcome::Backdated => {}
    }
    Ok(outcome)
}

/// Places, in arrival order, the pending entries at the seq after `author`'s head,
/// for as long as one of them extends the chain. The others at that seq become fork
/// proofs (one extended already) or are dropped (they branch off earlier; catch-up
/// explains them).
fn release_pending<W: ChainWriter>(
    writer: &mut W,
    pending: &mut PendingBuffer,
    author: PublicKey,
) -> Result<(), W::Error> {
    loop {
        let Some((seq, _)) = writer.head(&author)? else {
            return Ok(());
        };
        let candidates = pending.take(&author, seq + 1);
        if candidates.is_empty() {
            return Ok(());
        }
        let mut extended = false;
        for candidate in candidates {
            match decide(writer, pending, &candidate)? {
                Outcome::Applied => {
                    writer.apply(candidate)?;
                    extended = true;
                }
                Outcome::Fork => writer.record_fork(candidate)?,
                Outcome::ForkKnown => writer.count_known_fork(&author, seq + 1)?,
                _ => {}
            }
        }
        if !extended {
            return Ok(());
        }
    }
}

/// Entries ahead of their author's head, in memory, bounded by count and bytes.
/// Losing it (a crash) costs a re-fetch, never consistency.
#[derive(Debug)]
pub struct PendingBuffer {
    entries: BTreeMap<(PublicKey, u64), Vec<VerifiedEntry>>,
    count: usize,
    bytes: usize,
    max_count: usize,
    max_bytes: usize,
}

impl PendingBuffer {
    pub fn new(max_count: usize, max_bytes: usize) -> Self {
        PendingBuffer {
            entries: BTreeMap::new(),
            count: 0,
            bytes: 0,
            max_count,
            max_bytes,
        }
    }

    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    pub fn contains(&self, entry: &VerifiedEntry) -> bool {
        let e = entry.entry();
        self.entries
            .get(&(e.author, e.seq))
            .is_some_and(|list| list.iter().any(|p| p.id() == entry.id()))
    }

    fn has_room_for(&self, entry: &VerifiedEntry) -> bool {
        let size = entry.signed().entry_bytes().len();
        self.count < self.max_count && self.bytes + size <= self.max_bytes
    }

    fn insert(&mut self, entry: VerifiedEntry) {
        self.count += 1;
        self.bytes += entry.signed().entry_bytes().len();
        let e = entry.entry();
        self.entries
            .entry((e.author, e.seq))
            .or_default()
            .push(entry);
    }

    fn take(&mut self, author: &PublicKey, seq: u64) -> Vec<VerifiedEntry> {
        let taken = self.entries.remove(&(*author, seq)).unwrap_or_default();
        self.count -= taken.len();
        self.bytes -= taken
            .iter()
            .map(|e| e.signed().entry_bytes().len())
            .sum::<usize>();
        taken
    }
}

/// Chains in memory: the model the store is checked against, and the simulator's
/// store. Writes are visible at once (there is no commit).
#[derive(Debug, Clone)]
pub struct MemoryChains {
    network: String,
    chains: HashMap<PublicKey, Vec<VerifiedEntry>>,
    fork_proofs: BTreeMap<(PublicKey, u64), VerifiedEntry>,
    /// Conflicting entries seen beyond the first proof at their (author, seq).
    pub known_forks_counted: u64,
}

impl MemoryChains {
    pub fn new(network: impl Into<String>) -> Self {
        MemoryChains {
            network: network.into(),
            chains: HashMap::new(),
            fork_proofs: BTreeMap::new(),
            known_forks_counted: 0,
        }
    }

    /// The author's chain, seq 1 first.
    pub fn chain(&self, author: &PublicKey) -> &[VerifiedEntry] {
        self.chains.get(author).map_or(&[], Vec::as_slice)
    }

    pub fn authors(&self) -> impl Iterator<Item = &PublicKey> {
        self.chains.keys()
    }

    /// The (author, seq) of every fork proof held, in order.
    pub fn fork_seqs(&self) -> Vec<(PublicKey, u64)> {
        self.fork_proofs.keys().copied().collect()
    }

    /// The seqs at which a fork proof of `author` is held, lowest first.
    pub fn fork_seqs_of<'a>(&'a self, author: &PublicKey) -> impl Iterator<Item = u64> + 'a {
        let author = *author;
        self.fork_proofs
            .range((author, 0)..=(author, u64::MAX))
            .map(|((_, seq), _)| *seq)
    }

    /// The fork proof held for (author, seq).
    pub fn fork_proof(&self, author: &PublicKey, seq: u64) -> Option<&VerifiedEntry> {
        self.fork_proofs.get(&(*author, seq))
    }

    pub fn entry_count(&self) -> usize {
        self.chains.values().map(Vec::len).sum()
    }
}

impl ChainView for MemoryChains {
    type Error = std::convert::Infallible;

    fn network(&self) -> &str {
        &self.network
    }

    fn head(&mut self, author: &PublicKey) -> Result<Option<(u64, EntryId)>, Self::Error> {
        Ok(self.chain(author).last().map(|e| (e.entry().seq, e.id())))
    }

    fn head_created_at(&mut self, author: &PublicKey) -> Result<Option<u64>, Self::Error> {
        Ok(self.chain(author).last().map(|e| e.entry().created_at_ms))
    }

    fn id_at(&mut self, author: &PublicKey, seq: u64) -> Result<Option<EntryId>, Self::Error> {
        let index = usize::try_from(seq).ok().and_then(|s| s.checked_sub(1));
        Ok(index
            .and_then(|i| self.chain(author).get(i))
            .map(VerifiedEntry::id))
    }

    fn fork_proof_at(
        &mut self,
        author: &PublicKey,
        seq: u64,
    ) -> Result<Option<EntryId>, Self::Error> {
        Ok(self.fork_proofs.get(&(*author, seq)).map(VerifiedEntry::id))
    }
}

impl ChainWriter for MemoryChains {
    fn apply(&mut self, entry: VerifiedEntry) -> Result<(), Self::Error> {
        let chain = self.chains.entry(entry.entry().author).or_default();
        // place() only applies the next entry whose prev is the head.
        assert_eq!(entry.entry().seq, chain.len() as u64 + 1, "chain gap");
        assert_eq!(
            entry.entry().prev,
            chain.last().map(VerifiedEntry::id),
            "prev is not the head"
        );
        chain.push(entry);
        Ok(())
    }

    fn record_fork(&mut self, entry: VerifiedEntry) -> Result<(), Self::Error> {
        let key = (entry.entry().author, entry.entry().seq);
        let previous = self.fork_proofs.insert(key, entry);
        assert!(previous.is_none(), "a second fork proof for one seq");
        Ok(())
    }

    fn count_known_fork(&mut self, _author: &PublicKey, _seq: u64) -> Result<(), Self::Error> {
        self.known_forks_counted += 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::samples;
    use crate::{Body, Entry, SecretKey};

    fn entry(key: &SecretKey, seq: u64, prev: Option<EntryId>, salt: u64) -> VerifiedEntry {
        let body = Body::RiskAlert(samples::risk_alert());
        let entry = Entry {
            network: "customs".into(),
            author: key.public_key(),
            seq,
            prev,
            created_at_ms: 1_795_830_600_000 + salt,
            markings: Default::default(),
            body,
            attachments: Vec::new(),
        };
        VerifiedEntry::sign(entry, key).expect("signs")
    }

    /// A chain of `n` entries; `salt` makes a different branch.
    fn chain(
        key: &SecretKey,
        from: Option<&VerifiedEntry>,
        n: u64,
        salt: u64,
    ) -> Vec<VerifiedEntry> {
        let mut out: Vec<VerifiedEntry> = Vec::new();
        let mut prev = from.map(VerifiedEntry::id);
        let first = from.map_or(1, |e| e.entry().seq + 1);
        for seq in first..first + n {
            let e = entry(key, seq, prev, salt);
            prev = Some(e.id());
            out.push(e);
        }
        out
    }

    fn run(
        entries: Vec<VerifiedEntry>,
        pending: &mut PendingBuffer,
    ) -> (MemoryChains, Vec<Outcome>) {
        let mut chains = MemoryChains::new("customs");
        let outcomes = entries
            .into_iter()
            .map(|e| place(&mut chains, pending, e).expect("infallible"))
            .collect();
        (chains, outcomes)
    }

    /// SplitMix64: a seeded generator with no dependency, so a failing case replays.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        }
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n.max(1)
        }
        fn shuffle<T>(&mut self, items: &mut [T]) {
            for i in (1..items.len()).rev() {
                items.swap(i, self.below(i as u64 + 1) as usize);
            }
        }
    }

    /// Per author: a main chain of 10 and, for each seq 2..=8, a second branch of 4
    /// forking there. Signed once; every case picks from it.
    struct Universe {
        keys: Vec<SecretKey>,
        main: Vec<Vec<VerifiedEntry>>,
        branches: Vec<Vec<Vec<VerifiedEntry>>>,
    }

    fn universe() -> Universe {
        let keys: Vec<SecretKey> = (1..=4).map(|i| SecretKey::from_seed([i; 32])).collect();
        let main: Vec<Vec<VerifiedEntry>> = keys.iter().map(|k| chain(k, None, 10, 0)).collect();
        let branches = keys
            .iter()
            .zip(&main)
            .map(|(k, m)| {
                (2..=8u64)
                    .map(|start| chain(k, Some(&m[start as usize - 2]), 4, 1000 + start))
                    .collect()
            })
            .collect();
        Universe {
            keys,
            main,
            branches,
        }
    }

    /// Delivers `entries` in a random order, then again (as catch-up would) until a
    /// whole pass stores nothing new.
    fn deliver(entries: &[VerifiedEntry], rng: &mut Rng, pending_max: usize) -> MemoryChains {
        let mut chains = MemoryChains::new("customs");
        let mut pending = PendingBuffer::new(pending_max, 1 << 20);
        let mut order: Vec<usize> = (0..entries.len()).collect();
        for pass in 0.. {
            assert!(pass < 100, "delivery does not settle");
            rng.shuffle(&mut order);
            let mut changed = false;
            for &i in &order {
                let outcome =
                    place(&mut chains, &mut pending, entries[i].clone()).expect("infallible");
                changed |= outcome.is_new();
            }
            if !changed {
                return chains;
            }
        }
        unreachable!()
    }

    #[test]
    fn any_delivery_order_converges() {
        let u = universe();
        let cases: u64 = 3000;
        for seed in 0..cases {
            let mut rng = Rng(seed);
            let mut entries = Vec::new();
            let mut forked = Vec::new();
            for (a, key) in u.keys.iter().enumerate() {
                let main_len = rng.below(11) as usize;
                entries.extend_from_slice(&u.main[a][..main_len]);
                // A second branch for some authors (a compromised key), off the main
                // chain where the main chain reaches.
                if main_len >= 2 && rng.below(3) == 0 {
                    let start = 2 + rng.below(main_len.min(8) as u64 - 1) as usize;
                    let len = 1 + rng.below(4) as usize;
                    entries.extend_from_slice(&u.branches[a][start - 2][..len]);
                    forked.push((key.public_key(), start, len.min(main_len + 1 - start)));
                }
            }
            let nodes: Vec<MemoryChains> = (0..3)
                .map(|_| {
                    let pending_max = 1 + rng.below(6) as usize;
                    deliver(&entries, &mut rng, pending_max)
                })
                .collect();
            let replay = format!("seed {seed} (replay: Rng({seed}))");
            for node in &nodes[1..] {
                assert_eq!(
                    node.fork_seqs(),
                    nodes[0].fork_seqs(),
                    "fork proofs differ, {replay}"
                );
            }
            for (a, key) in u.keys.iter().enumerate() {
                let author = key.public_key();
                match forked.iter().find(|f| f.0 == author) {
                    None => {
                        let expected: Vec<EntryId> = entries
                            .iter()
                            .filter(|e| e.entry().author == author)
                            .map(VerifiedEntry::id)
                            .collect();
                        for node in &nodes {
                            let held: Vec<EntryId> =
                                node.chain(&author).iter().map(VerifiedEntry::id).collect();
                            assert_eq!(held, expected, "author {a} chain, {replay}");
                        }
                    }
                    Some(&(_, start, overlap)) => {
                        // Proofs at every seq both branches reach, and only there.
                        let seqs: Vec<u64> = nodes[0]
                            .fork_seqs()
                            .into_iter()
                            .filter(|f| f.0 == author)
                            .map(|f| f.1)
                            .collect();
                        let expected: Vec<u64> = (start as u64..(start + overlap) as u64).collect();
                        assert_eq!(seqs, expected, "author {a} fork seqs, {replay}");
                    }
                }
            }
        }
    }

    /// An entry dated `created_at_ms`.
    fn dated(
        key: &SecretKey,
        seq: u64,
        prev: Option<EntryId>,
        created_at_ms: u64,
    ) -> VerifiedEntry {
        let entry = Entry {
            created_at_ms,
            ..entry(key, seq, prev, 0).entry().clone()
        };
        VerifiedEntry::sign(entry, key).expect("signs")
    }

    /// Within a chain, time never goes back once a head is dated on or after the
    /// cutover: an entry dated before its predecessor is refused, whenever and in
    /// whatever order it arrives (also when a gap fills), and the chain stops there;
    /// the same time is fine; an old history (heads before the cutover) is judged as
    /// before.
    #[test]
    fn time_never_goes_back_within_a_chain() {
        let key = SecretKey::from_seed([8; 32]);
        let t = CHAIN_TIME_FROM_MS + 60_000;
        let first = dated(&key, 1, None, t);
        let same = dated(&key, 2, Some(first.id()), t);
        let back = dated(&key, 3, Some(same.id()), t - 1);
        let after_back = dated(&key, 4, Some(back.id()), t + 1);
        let mut pending = PendingBuffer::new(16, 1 << 20);
        let (chains, outcomes) = run(
            vec![
                first.clone(),
                after_back.clone(),
                same.clone(),
                back.clone(),
            ],
            &mut pending,
        );
        use Outcome::*;
        assert_eq!(outcomes, vec![Applied, Pending, Applied, Backdated]);
        assert_eq!(chains.chain(&key.public_key()).len(), 2);
        // The gap filler that is backdated is refused when the buffer releases it too.
        let mut pending = PendingBuffer::new(16, 1 << 20);
        let (chains, outcomes) = run(vec![back, first.clone(), same], &mut pending);
        assert_eq!(outcomes, vec![Pending, Applied, Applied]);
        assert_eq!(
            chains.chain(&key.public_key()).len(),
            2,
            "seq 3 was refused"
        );

        // Before the cutover, an old history stays as every node holds it.
        let old = dated(&key, 1, None, CHAIN_TIME_FROM_MS - 10);
        let older = dated(&key, 2, Some(old.id()), CHAIN_TIME_FROM_MS - 20);
        let then_new = dated(&key, 3, Some(older.id()), CHAIN_TIME_FROM_MS);
        let then_back = dated(&key, 4, Some(then_new.id()), CHAIN_TIME_FROM_MS - 30);
        let mut pending = PendingBuffer::new(16, 1 << 20);
        let (_, outcomes) = run(vec![old, older, then_new, then_back], &mut pending);
        assert_eq!(outcomes, vec![Applied, Applied, Applied, Backdated]);
    }

    #[test]
    fn every_outcome_of_the_rule() {
        let key = SecretKey::from_seed([7; 32]);
        let main = chain(&key, None, 3, 0);
        let other_2 = entry(&key, 2, Some(main[0].id()), 99);
        let third_2 = entry(&key, 2, Some(main[0].id()), 98);
        let branch_3 = entry(&key, 3, Some(other_2.id()), 99);
        let mut pending = PendingBuffer::new(1, 1 << 20);
        let (chains, outcomes) = run(
            vec![
                main[0].clone(),
                main[2].clone(),                           // ahead: pending
                main[2].clone(),                           // still waiting: duplicate
                entry(&key, 4, Some(EntryId([9; 32])), 5), // ahead, buffer full
                main[1].clone(),                           // fills the gap, releases seq 3
                main[1].clone(),                           // duplicate
                other_2.clone(),                           // fork proof at 2
                other_2.clone(),                           // the same proof: duplicate
                third_2,                                   // a third entry at 2: counted only
                entry(&key, 4, Some(other_2.id()), 1),     // seq 4, prev not the head
            ],
            &mut pending,
        );
        use Outcome::*;
        assert_eq!(
            outcomes,
            vec![
                Applied,
                Pending,
                Duplicate,
                PendingFull,
                Applied,
                Duplicate,
                Fork,
                Duplicate,
                ForkKnown,
                PrevMismatch
            ]
        );
        assert_eq!(chains.chain(&key.public_key()).len(), 3);
        assert_eq!(chains.fork_seqs(), vec![(key.public_key(), 2)]);
        assert_eq!(chains.known_forks_counted, 1);
        assert!(pending.is_empty());
        // An entry that branches off below the head is evidence of a fork too.
        let mut chains = chains;
        assert_eq!(
            place(&mut chains, &mut pending, branch_3).expect("infallible"),
            Fork
        );
    }
}
