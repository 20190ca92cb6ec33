//! Restricted records in the store: opened once, at ingest, with this node's keys and
//! the group keys that count.
//!
//! Architecture Invariant: a sealed entry this node cannot open leaves nothing on
//! disk but the signed entry itself (ciphertext) and a `U` row naming it; plaintext
//! (`P` rows), group rows (`Q`) and index rows exist only for records this node is a
//! recipient of.
//!
//! What opening may cost is bounded whatever members sign: the group keys are those
//! [`customs_protocol::Groups::opening_secrets`] chooses (updates of the group's
//! owner only, 64 groups per owner, none of long-ended groups, at most
//! `max_group_keys`); a tagged envelope costs one X25519 operation per slot and node
//! key plus one per group whose tag it carries; and every author has a decryption
//! budget: an envelope over it waits, unopened, until the budget allows.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use customs_protocol::envelope::{envelope_aad, open, GroupKey, Opened, OpeningKey};
use customs_protocol::groups::GroupEvent;
use customs_protocol::{Body, Distribution, Entry, EntryId, Envelope, Markings, Sealed};
use customs_protocol::{Membership, PublicKey, SignedEntry, VerifiedEntry};
use sha2::{Digest, Sha256};

use super::layout::*;
use super::segments::Position;
use super::{lock, lock_read, lock_write, Store, StoreError, Tx};

/// The `tried` value of an unopened row whose author's decryption budget was spent:
/// tried again once the budget allows.
const DEFERRED: [u8; 8] = [0; 8];

/// What this node opens restricted records with.
#[derive(Debug, Default)]
pub(super) struct Opening {
    keys: Keys,
    /// Which node keys those are, to know which `U` rows were tried with others.
    fingerprint: [u8; 8],
    /// The membership group keys are chosen with; none count before it is set.
    membership: Option<Arc<Membership>>,
    /// Bumped whenever the keys change.
    generation: u64,
}

/// The keys one opening uses.
#[derive(Debug, Default, Clone)]
pub(super) struct Keys {
    /// This node's own X25519 keys (its `encryption.key`).
    node: Vec<Arc<OpeningKey>>,
    /// The current epochs of live groups: tried on an untagged envelope's slots too.
    current: Vec<Arc<GroupKey>>,
    /// Superseded epochs and recently ended groups: found by tag only.
    older: Vec<Arc<GroupKey>>,
}

impl Keys {
    fn group_count(&self, envelope: &Envelope) -> usize {
        match envelope.is_tagged() {
            true => self.current.len() + self.older.len(),
            false => self.current.len(),
        }
    }

    pub(super) fn is_empty(&self) -> bool {
        self.node.is_empty() && self.current.is_empty() && self.older.is_empty()
    }
}

/// Each author's decryption budget: a bucket of X25519 operations refilled at
/// `per_hour`, holding at most an hour's worth.
#[derive(Debug)]
pub(super) struct DecryptionBudget {
    per_hour: u64,
    authors: HashMap<PublicKey, (f64, Instant)>,
    /// Something was deferred since the last retry.
    deferred: bool,
    /// When deferred entries were last tried again.
    last_retry: Option<Instant>,
    /// Sealed entries deferred on arrival since the start (a metric).
    pub(super) deferred_total: u64,
}

/// Deferred entries are tried again at most this often (each retry walks the
/// unopened rows).
const RETRY_INTERVAL: std::time::Duration = std::time::Duration::from_secs(60);

impl DecryptionBudget {
    pub(super) fn new(per_hour: u64) -> DecryptionBudget {
        DecryptionBudget {
            per_hour,
            authors: HashMap::new(),
            deferred: false,
            last_retry: None,
            deferred_total: 0,
        }
    }

    /// Takes `cost` from `author`'s bucket at `now` if it holds that much. An
    /// envelope costlier than an hour's budget waits for a full bucket and empties
    /// it (the bucket goes below zero), so it opens, slowly, rather than never.
    pub(super) fn charge(&mut self, author: &PublicKey, cost: usize, now: Instant) -> bool {
        let capacity = self.per_hour as f64;
        let (tokens, at) = self.authors.entry(*author).or_insert((capacity, now));
        let refill = now.saturating_duration_since(*at).as_secs_f64() * capacity / 3600.0;
        *tokens = (*tokens + refill).min(capacity);
        *at = now;
        let cost = cost as f64;
        if *tokens >= cost.min(capacity) {
            *tokens -= cost;
            true
        } else {
            self.deferred = true;
            false
        }
    }
}

/// What one try at a sealed entry gave.
#[derive(Debug)]
pub(super) enum Trial {
    Done(Opened),
    /// Its author's budget is spent: stored unopened, tried again later.
    Deferred,
}

/// An entry as this node can read it: an open record, or a sealed one it opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Readable {
    pub markings: Markings,
    pub distribution: Distribution,
    pub body: Body,
    /// The attachments the record lists (a sealed record's with their blob keys).
    pub attachments: Vec<customs_protocol::Attachment>,
}

impl Readable {
    /// Whether the record may go to a system outside the network, and if not, why:
    /// a restricted record never does, nor one its markings keep inside.
    pub fn may_leave_network(&self) -> Result<(), &'static str> {
        if self.distribution.is_restricted() {
            return Err("addressed to named members or a group");
        }
        self.markings.may_leave_network()
    }
}

fn fingerprint(keys: &[Arc<OpeningKey>]) -> [u8; 8] {
    let mut hasher = Sha256::new();
    for key in keys {
        hasher.update(key.public_key());
    }
    let digest = hasher.finalize();
    let mut out = [0u8; 8];
    out.copy_from_slice(&digest[..8]);
    if out == DEFERRED {
        out[0] = 1;
    }
    out
}

impl Store {
    /// Gives the store this node's X25519 secrets, and opens what was stored before
    /// with other keys (or none: an import while the node was stopped).
    pub fn set_opening_keys(&self, keys: Vec<OpeningKey>) -> Result<(), StoreError> {
        let keys: Vec<Arc<OpeningKey>> = keys.into_iter().map(Arc::new).collect();
        {
            let mut opening = lock_write(&self.inner.opening);
            opening.fingerprint = fingerprint(&keys);
            opening.keys.node = keys;
            opening.generation += 1;
        }
        self.refresh_group_keys()?;
        let _writer = lock(&self.inner.writer);
        self.reopen(None)
    }

    /// Gives the store the membership the group keys are chosen with (whose nodes'
    /// updates count, whose groups ended with their owner), and opens what the keys
    /// that now count open.
    pub fn set_membership(&self, membership: Arc<Membership>) -> Result<(), StoreError> {
        lock_write(&self.inner.opening).membership = Some(membership);
        let learned = self.refresh_group_keys()?;
        if !learned.is_empty() {
            let _writer = lock(&self.inner.writer);
            self.reopen(Some((0, learned)))?;
        }
        Ok(())
    }

    /// Chooses the group keys again from the updates held and the membership
    /// ([`customs_protocol::Groups::opening_secrets`]); returns those that are new.
    pub(super) fn refresh_group_keys(&self) -> Result<Keys, StoreError> {
        let Some(membership) = lock_read(&self.inner.opening).membership.clone() else {
            return Ok(Keys::default());
        };
        let today = customs_protocol::Date::from_unix_ms(crate::clock::now_ms());
        let secrets = self.groups(&membership)?.opening_secrets(
            &membership,
            today,
            self.inner.config.max_group_keys,
        );
        let mut opening = lock_write(&self.inner.opening);
        let held: HashMap<[u8; 32], Arc<GroupKey>> = opening
            .keys
            .current
            .iter()
            .chain(&opening.keys.older)
            .map(|k| (k.public_key(), k.clone()))
            .collect();
        let mut learned = Keys::default();
        let mut key_of = |secret: &[u8; 32], current: bool| {
            let key = Arc::new(GroupKey::of(secret));
            if let Some(held) = held.get(&key.public_key()) {
                return held.clone();
            }
            match current {
                true => learned.current.push(key.clone()),
                false => learned.older.push(key.clone()),
            }
            key
        };
        let current: Vec<Arc<GroupKey>> = secrets.current.iter().map(|s| key_of(s, true)).collect();
        let older: Vec<Arc<GroupKey>> = secrets.older.iter().map(|s| key_of(s, false)).collect();
        let changed = !learned.is_empty()
            || current.len() != opening.keys.current.len()
            || older.len() != opening.keys.older.len();
        if changed {
            opening.generation += 1;
        }
        opening.keys.current = current;
        opening.keys.older = older;
        Ok(learned)
    }

    /// The keys to try, and which generation of them.
    pub(super) fn opening_keys(&self) -> (Keys, u64) {
        let opening = lock_read(&self.inner.opening);
        (opening.keys.clone(), opening.generation)
    }

    /// How many group keys this node opens with now: current epochs of open
    /// groups, and older keys found by tag only.
    pub fn group_key_counts(&self) -> (usize, usize) {
        let opening = lock_read(&self.inner.opening);
        (opening.keys.current.len(), opening.keys.older.len())
    }

    /// Sealed entries deferred because their author's decryption budget was spent.
    pub fn decryption_deferred_total(&self) -> u64 {
        lock(&self.inner.decryption).deferred_total
    }

    /// Tries `keys` on the envelope of `e`, within its author's decryption budget.
    pub(super) fn trial(&self, keys: &Keys, envelope: &Envelope, e: &Entry) -> Trial {
        let cost = envelope.trial_cost(keys.node.len(), keys.group_count(envelope));
        if cost > 0 && !lock(&self.inner.decryption).charge(&e.author, cost, Instant::now()) {
            tracing::debug!(author = %e.author, seq = e.seq, cost, "decryption budget spent: the sealed entry waits");
            return Trial::Deferred;
        }
        let node: Vec<&OpeningKey> = keys.node.iter().map(|k| k.as_ref()).collect();
        let groups: Vec<&GroupKey> = match envelope.is_tagged() {
            true => keys
                .current
                .iter()
                .chain(&keys.older)
                .map(|k| k.as_ref())
                .collect(),
            false => keys.current.iter().map(|k| k.as_ref()).collect(),
        };
        Trial::Done(open(
            envelope,
            &node,
            &groups,
            &e.network,
            &envelope_aad(&e.network, &e.author, e.seq),
        ))
    }

    /// Tries again the sealed entries deferred for their author's budget, if any
    /// were, at most once a minute (the node's watchdog calls this often).
    pub fn retry_deferred(&self) -> Result<(), StoreError> {
        {
            let mut budget = lock(&self.inner.decryption);
            let now = Instant::now();
            let due = budget
                .last_retry
                .is_none_or(|at| now.saturating_duration_since(at) >= RETRY_INTERVAL);
            if !budget.deferred || !due {
                return Ok(());
            }
            budget.deferred = false;
            budget.last_retry = Some(now);
        }
        let _writer = lock(&self.inner.writer);
        self.reopen(None)
    }

    /// The entry as this node can read it: `None` for a sealed record it is not a
    /// recipient of.
    pub fn readable(&self, entry: &SignedEntry) -> Result<Option<Readable>, StoreError> {
        let e = entry.entry();
        match &e.body {
            Body::Sealed(_) => Ok(self.opened(&entry.id())?.map(|sealed| Readable {
                markings: sealed.markings,
                distribution: sealed.distribution,
                body: sealed.body,
                attachments: sealed.attachments,
            })),
            body => Ok(Some(Readable {
                markings: e.markings.clone(),
                distribution: Distribution::All,
                body: body.clone(),
                attachments: e.attachments.clone(),
            })),
        }
    }

    /// The plaintext of a sealed record this node opened.
    pub fn opened(&self, id: &EntryId) -> Result<Option<Sealed>, StoreError> {
        let Some(bytes) = self.db()?.get(plain_key(id))? else {
            return Ok(None);
        };
        // Checked after reading, as it was before writing.
        let sealed = Sealed::decode(&bytes).map_err(|e| StoreError::Corrupt {
            what: format!("the opened record of {id} does not decode: {e}"),
        })?;
        sealed.validate().map_err(|e| StoreError::Corrupt {
            what: format!("the opened record of {id} breaks a rule: {e}"),
        })?;
        Ok(Some(sealed))
    }

    /// Every group update this node holds, with its author's key (the caller knows
    /// the codes).
    pub fn group_updates(&self) -> Result<Vec<(PublicKey, GroupEvent)>, StoreError> {
        let mut out = Vec::new();
        for row in self.db()?.scan_prefix([GROUP]) {
            let (key, _) = row?;
            let id = parse_id(key.get(17..).unwrap_or_default(), "group key")?;
            let entry = self.get(&id)?.ok_or_else(|| StoreError::Corrupt {
                what: format!("group row names entry {id}, which is missing"),
            })?;
            let Some(Sealed {
                body: Body::Group(update),
                ..
            }) = self.opened(&id)?
            else {
                return Err(StoreError::Corrupt {
                    what: format!(
                        "group row names entry {id}, which is not an opened group update"
                    ),
                });
            };
            let e = entry.entry();
            out.push((
                e.author,
                GroupEvent {
                    entry: id,
                    author: e.author,
                    author_code: String::new(),
                    created_at_ms: e.created_at_ms,
                    update,
                },
            ));
        }
        Ok(out)
    }

    /// The member codes whose nodes may hold the blobs of the record `entry`: for a
    /// restricted record its author's and its recipients' (a group's members at the
    /// record's epoch); `None` for an open record, whose blobs any member may serve.
    /// A fetch asks only these, so no other member learns a sealed blob's hash.
    pub fn blob_holders(
        &self,
        entry: &SignedEntry,
        membership: &customs_protocol::Membership,
    ) -> Result<Option<std::collections::BTreeSet<String>>, StoreError> {
        let Some(record) = self.readable(entry)? else {
            return Ok(None);
        };
        let mut holders: std::collections::BTreeSet<String> = match &record.distribution {
            Distribution::All => return Ok(None),
            Distribution::To(codes) => codes.iter().cloned().collect(),
            Distribution::Group(group) => self
                .groups(membership)?
                .groups
                .get(&group.id)
                .and_then(|g| g.epochs.get(&group.epoch))
                .map(|(_, update)| update.members.iter().cloned().collect())
                .unwrap_or_default(),
        };
        holders.extend(
            membership
                .member_of(&entry.entry().author)
                .map(|m| m.code.clone()),
        );
        Ok(Some(holders))
    }

    /// The groups this node's group updates define (authors by their member code).
    pub fn groups(
        &self,
        membership: &customs_protocol::Membership,
    ) -> Result<customs_protocol::Groups, StoreError> {
        let events: Vec<GroupEvent> = self
            .group_updates()?
            .into_iter()
            .filter_map(|(author, mut event)| {
                event.author_code = membership.member_of(&author)?.code.clone();
                Some(event)
            })
            .collect();
        Ok(customs_protocol::Groups::replay(&events))
    }

    /// Tries again the sealed entries stored unopened: those tried with other node
    /// keys or deferred (`learned` is `None`, all keys), or, when group keys were
    /// just learned, those created since a day before the earliest update that
    /// brought them, with those keys. Indexes what opens. The caller holds the
    /// writer lock.
    pub(super) fn reopen(&self, learned: Option<(u64, Keys)>) -> Result<(), StoreError> {
        let current = lock_read(&self.inner.opening).fingerprint;
        let (start, keys, retrying) = match learned {
            Some((since_ms, keys)) => (since_ms.saturating_sub(86_400_000), keys, false),
            None => (0, self.opening_keys().0, true),
        };
        let mut tx = Tx::new(self);
        for row in self
            .db()?
            .range(unopened_key(start, &EntryId([0; 32])).to_vec()..vec![UNOPENED + 1])
        {
            let (key, tried) = row?;
            if retrying && tried.as_ref() == current {
                continue;
            }
            let id = parse_id(key.get(9..).unwrap_or_default(), "unopened key")?;
            let Some(entry) = self.get(&id)? else {
                return Err(StoreError::Corrupt {
                    what: format!("unopened row names entry {id}, which is missing"),
                });
            };
            let e = entry.entry();
            let Body::Sealed(envelope) = &e.body else {
                return Err(StoreError::Corrupt {
                    what: format!("unopened row names entry {id}, which is not sealed"),
                });
            };
            match self.trial(&keys, envelope, e) {
                Trial::Done(Opened::Record(sealed)) => {
                    tx.batch.remove(&key);
                    tx.index_opened(e, id, *sealed)?;
                    tx.dirty = true;
                }
                Trial::Done(_) if retrying => {
                    tx.batch.insert(&key, &current[..]);
                }
                // Tried again with every key once the budget allows.
                Trial::Deferred => {
                    tx.batch.insert(&key, &DEFERRED[..]);
                }
                Trial::Done(_) => {}
            }
        }
        tx.commit(true)?;
        Ok(())
    }
}

/// Below this many sealed entries, threads cost more than they save.
const MIN_SEALED_PER_THREAD: usize = 4;

impl Store {
    /// Trial decryption of the sealed entries among `entries`, done before the writer
    /// lock is taken and spread over the cores: it is what ingesting a restricted
    /// record costs. Also returns the generation of the keys tried.
    pub(super) fn preopen(&self, entries: &[VerifiedEntry]) -> (HashMap<EntryId, Trial>, u64) {
        let sealed: Vec<&VerifiedEntry> = entries
            .iter()
            .filter(|e| matches!(e.entry().body, Body::Sealed(_)))
            .collect();
        let (keys, generation) = self.opening_keys();
        if sealed.is_empty() {
            return (HashMap::new(), generation);
        }
        let open_one = |entry: &&VerifiedEntry| {
            let e = entry.entry();
            let Body::Sealed(envelope) = &e.body else {
                unreachable!("filtered to sealed entries")
            };
            (entry.id(), self.trial(&keys, envelope, e))
        };
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        let opened = crate::verify::spread(&sealed, threads, MIN_SEALED_PER_THREAD, open_one)
            .into_iter()
            .collect();
        (opened, generation)
    }
}

impl Tx<'_> {
    /// The body to index for `e`: its own, or the one inside its envelope when this
    /// node opens it (the plaintext row is staged then); `None` for a sealed record
    /// this node cannot read (an unopened row is staged instead).
    pub(super) fn readable_body<'e>(
        &mut self,
        e: &'e Entry,
        id: EntryId,
    ) -> Result<Option<Cow<'e, Body>>, StoreError> {
        let Body::Sealed(envelope) = &e.body else {
            return Ok(Some(Cow::Borrowed(&e.body)));
        };
        let trial = match self.preopened.remove(&id) {
            // Tried before the lock, with the keys held now.
            Some(trial) if self.preopened_generation == self.store.opening_keys().1 => trial,
            _ => {
                let (keys, _) = self.store.opening_keys();
                self.store.trial(&keys, envelope, e)
            }
        };
        let tried = match &trial {
            Trial::Deferred => {
                lock(&self.store.inner.decryption).deferred_total += 1;
                DEFERRED
            }
            Trial::Done(_) => lock_read(&self.store.inner.opening).fingerprint,
        };
        match trial {
            Trial::Done(Opened::Record(sealed)) => {
                let body = sealed.body.clone();
                self.stage_plain(id, &sealed)?;
                Ok(Some(Cow::Owned(body)))
            }
            Trial::Done(Opened::NotForUs) | Trial::Deferred => {
                self.batch
                    .insert(&unopened_key(e.created_at_ms, &id)[..], &tried[..]);
                Ok(None)
            }
            Trial::Done(Opened::Unreadable(why)) => {
                tracing::warn!(%id, author = %e.author, "a sealed record addressed to this node cannot be read: {why}");
                self.batch
                    .insert(&unopened_key(e.created_at_ms, &id)[..], &tried[..]);
                Ok(None)
            }
        }
    }

    fn stage_plain(&mut self, id: EntryId, sealed: &Sealed) -> Result<(), StoreError> {
        let bytes = sealed.encode();
        // Asserted before writing, as it is after reading.
        if Sealed::decode(&bytes).as_ref() != Ok(sealed) || sealed.validate().is_err() {
            return Err(StoreError::Corrupt {
                what: format!(
                    "refusing to write the opened record of {id}: it does not round-trip"
                ),
            });
        }
        self.batch.insert(&plain_key(&id)[..], bytes);
        self.index_attachments(id, &sealed.attachments);
        if let Body::Group(update) = &sealed.body {
            // Its key counts only once the groups are replayed (the owner's updates
            // only): after this transaction commits.
            self.batch.insert(&group_key(&update.id, &id)[..], &[][..]);
            self.group_staged = true;
        }
        Ok(())
    }

    /// Indexes a sealed record opened after it was stored.
    fn index_opened(&mut self, e: &Entry, id: EntryId, sealed: Sealed) -> Result<(), StoreError> {
        self.stage_plain(id, &sealed)?;
        let at = match self.staged_at.get(&id) {
            Some(at) => *at,
            None => {
                let row = self.store.db()?.get(entry_key(&id))?;
                let row = row.ok_or_else(|| StoreError::Corrupt {
                    what: format!("sealed entry {id} has no position"),
                })?;
                Position::decode(&row)?
            }
        };
        self.index(e, id, at, &sealed.body)
    }
}
