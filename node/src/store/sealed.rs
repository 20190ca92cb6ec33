//! Restricted records in the store: opened once, at ingest, by trial decryption with
//! this node's keys and the group keys it holds.
//!
//! Architecture Invariant: a sealed entry this node cannot open leaves nothing on
//! disk but the signed entry itself (ciphertext) and a `U` row naming it; plaintext
//! (`P` rows), group rows (`Q`) and index rows exist only for records this node is a
//! recipient of.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;

use customs_protocol::envelope::{envelope_aad, open, Opened, OpeningKey};
use customs_protocol::groups::GroupEvent;
use customs_protocol::{Body, Distribution, Entry, EntryId, Envelope, Markings, Sealed};
use customs_protocol::{PublicKey, SignedEntry, VerifiedEntry};
use sha2::{Digest, Sha256};

use super::layout::*;
use super::segments::Position;
use super::{lock_read, lock_write, Store, StoreError, Tx};

/// What this node opens restricted records with.
#[derive(Debug, Default)]
pub(super) struct Opening {
    /// This node's own X25519 keys (its `encryption.key`).
    node: Vec<Arc<OpeningKey>>,
    /// Which node keys those are, to know which `U` rows were tried with others.
    fingerprint: [u8; 8],
    /// The key pairs of every group epoch this node was given.
    groups: Vec<Arc<OpeningKey>>,
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

impl Opening {
    pub(super) fn add_groups(&mut self, keys: &[Arc<OpeningKey>]) {
        self.groups.extend(keys.iter().cloned());
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
    out
}

impl Store {
    /// Gives the store this node's X25519 secrets, and opens what was stored before
    /// with other keys (or none: an import while the node was stopped).
    pub fn set_opening_keys(&self, keys: Vec<OpeningKey>) -> Result<(), StoreError> {
        let keys: Vec<Arc<OpeningKey>> = keys.into_iter().map(Arc::new).collect();
        let groups = self.group_keys()?;
        {
            let mut opening = lock_write(&self.inner.opening);
            opening.fingerprint = fingerprint(&keys);
            opening.node = keys;
            opening.groups = groups;
        }
        let _writer = super::lock(&self.inner.writer);
        self.reopen(None)
    }

    /// The keys to try, node keys first.
    pub(super) fn opening_keys(&self) -> (Vec<Arc<OpeningKey>>, [u8; 8]) {
        let opening = lock_read(&self.inner.opening);
        let keys = opening
            .node
            .iter()
            .chain(opening.groups.iter())
            .cloned()
            .collect();
        (keys, opening.fingerprint)
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

    fn group_keys(&self) -> Result<Vec<Arc<OpeningKey>>, StoreError> {
        Ok(self
            .group_updates()?
            .into_iter()
            .map(|(_, event)| Arc::new(OpeningKey::of_group(&event.update.secret).0))
            .collect())
    }

    /// Tries again the sealed entries stored unopened: those tried with other node
    /// keys (`learned` is `None`), or, when a group key was just learned, those
    /// created since a day before it with that key. Indexes what opens. The caller
    /// holds the writer lock.
    pub(super) fn reopen(
        &self,
        learned: Option<(u64, Vec<Arc<OpeningKey>>)>,
    ) -> Result<(), StoreError> {
        let (all_keys, current) = self.opening_keys();
        let (start, keys) = match &learned {
            Some((since_ms, keys)) => (since_ms.saturating_sub(86_400_000), keys.clone()),
            None => (0, all_keys),
        };
        let mut tx = Tx::new(self);
        for row in self
            .db()?
            .range(unopened_key(start, &EntryId([0; 32])).to_vec()..vec![UNOPENED + 1])
        {
            let (key, tried) = row?;
            if learned.is_none() && tried.as_ref() == current {
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
            match try_open(&keys, envelope, e) {
                Opened::Record(sealed) => {
                    tx.batch.remove(&key);
                    tx.index_opened(e, id, *sealed)?;
                    tx.dirty = true;
                }
                _ if learned.is_none() => {
                    tx.batch.insert(&key, &current[..]);
                }
                _ => {}
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
    /// record costs (one X25519 operation per slot and key).
    /// Also returns how many group keys were tried (keys learned afterwards are
    /// tried under the lock).
    pub(super) fn preopen(&self, entries: &[VerifiedEntry]) -> (HashMap<EntryId, Opened>, usize) {
        let sealed: Vec<&VerifiedEntry> = entries
            .iter()
            .filter(|e| matches!(e.entry().body, Body::Sealed(_)))
            .collect();
        let groups_tried = lock_read(&self.inner.opening).groups.len();
        if sealed.is_empty() {
            return (HashMap::new(), groups_tried);
        }
        let (keys, _) = self.opening_keys();
        let open_one = |entry: &&VerifiedEntry| {
            let e = entry.entry();
            let Body::Sealed(envelope) = &e.body else {
                unreachable!("filtered to sealed entries")
            };
            (entry.id(), try_open(&keys, envelope, e))
        };
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        let opened = crate::verify::spread(&sealed, threads, MIN_SEALED_PER_THREAD, open_one)
            .into_iter()
            .collect();
        (opened, groups_tried)
    }

    /// The group keys learned since `tried` of them were.
    fn group_keys_since(&self, tried: usize) -> Vec<Arc<OpeningKey>> {
        let opening = lock_read(&self.inner.opening);
        opening.groups.get(tried..).unwrap_or_default().to_vec()
    }
}

pub(super) fn try_open(keys: &[Arc<OpeningKey>], envelope: &Envelope, e: &Entry) -> Opened {
    let keys: Vec<&OpeningKey> = keys.iter().map(|k| k.as_ref()).collect();
    open(
        envelope,
        &keys,
        &e.network,
        &envelope_aad(&e.network, &e.author, e.seq),
    )
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
        let opened = match self.preopened.remove(&id) {
            // Tried before the lock; only group keys learned since are left to try.
            Some(Opened::NotForUs) => {
                let mut late = self.store.group_keys_since(self.preopened_groups);
                late.extend(self.learned.iter().cloned());
                match late.is_empty() {
                    true => Opened::NotForUs,
                    false => try_open(&late, envelope, e),
                }
            }
            Some(opened) => opened,
            None => {
                let (mut keys, _) = self.store.opening_keys();
                keys.extend(self.learned.iter().cloned());
                try_open(&keys, envelope, e)
            }
        };
        let fingerprint = lock_read(&self.store.inner.opening).fingerprint;
        match opened {
            Opened::Record(sealed) => {
                let body = sealed.body.clone();
                self.stage_plain(id, &sealed)?;
                Ok(Some(Cow::Owned(body)))
            }
            Opened::NotForUs => {
                self.batch
                    .insert(&unopened_key(e.created_at_ms, &id)[..], &fingerprint[..]);
                Ok(None)
            }
            Opened::Unreadable(why) => {
                tracing::warn!(%id, author = %e.author, "a sealed record addressed to this node cannot be read: {why}");
                self.batch
                    .insert(&unopened_key(e.created_at_ms, &id)[..], &fingerprint[..]);
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
            self.batch.insert(&group_key(&update.id, &id)[..], &[][..]);
            self.learned
                .push(Arc::new(OpeningKey::of_group(&update.secret).0));
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
