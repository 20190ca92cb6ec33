//! Publishing: the one way this node signs. Below both `node` (which builds it) and
//! `api` (which calls it), so the two no longer depend on each other, and nothing can
//! sign around the not-synced guard: the store's `append_own` is called only here.

use customs_protocol::groups::{recipients, AddressError};
use customs_protocol::{Attachment, BlobHash};
use customs_protocol::{Body, Date, Distribution, Markings, PublicKey, SecretKey, VerifiedEntry};
use sha2::{Digest, Sha256};
use thiserror::Error;

use crate::clock::now_ms;
use crate::network::Client;
use crate::store::{Appended, Draft, IdempotencyKey, Store, StoreError};

#[derive(Debug, Error)]
pub enum PublishError {
    #[error("no member has confirmed in a sync since this node started that its key has no entries the node lacks: signing now could reuse a sequence number (a store restored from a backup may be behind). Wait until it has synced with a member (see `customs-node status`); only the very first node of a new network may set node.allow_publish_before_sync = true, and only until a member holds its entries")]
    NotSynced,
    #[error("this node's key signed two different entries with seq {seq} (a fork proof is held): it no longer publishes, because members keep only one of the two branches. See \"A forked key\" in the README")]
    OwnKeyForked { seq: u64 },
    #[error("this node's clock is {} s {} its members' (median of their clocks); members refuse entries more than {} s in the future, and an entry's time must be right. Fix the time synchronisation (NTP or chrony) of this machine", (offset_ms.unsigned_abs() + 500) / 1000, if *offset_ms < 0 { "ahead of" } else { "behind" }, bound_ms / 1000)]
    ClockOff { offset_ms: i64, bound_ms: u64 },
    #[error("this node's key may not sign for the network now: {0}")]
    NotAdmitted(String),
    #[error("cannot address the record: {0}")]
    Address(#[from] AddressError),
    #[error("restricted records need a governed network (member certificates carry the encryption keys): this node's membership is not known")]
    NoMembership,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Whether a node whose clock is `offset_ms` off its members' (their clocks minus
/// ours, the median over `members` of them) must not sign. Ahead of them by more than
/// `bound_ms`, its entries would be refused as from the future. Behind by as much, its
/// entries would carry a wrong time; that is the node's fault only when two or more
/// members agree (with one, either clock may be the wrong one, and its entries are
/// not refused).
pub fn clock_refuses(offset_ms: i64, members: usize, bound_ms: u64) -> bool {
    let off = offset_ms.unsigned_abs() > bound_ms;
    off && (offset_ms < 0 || members >= 2)
}

/// Signs, stores and pushes this node's entries. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Publisher {
    store: Store,
    key: SecretKey,
    /// The network, to gossip what is stored and to know whether a member confirmed
    /// our own log; `None` for a store used without a network (tools, tests).
    network: Option<Client>,
    allow_publish_before_sync: bool,
    /// How far the node's clock may be from its members' before it stops signing
    /// (the members' admission bound for entries from the future).
    max_clock_skew_ms: u64,
    audit: crate::audit::Audit,
    /// The membership: a node whose administration is not (or no longer) a member,
    /// or whose key is closed, does not sign what every member would refuse.
    membership: Option<crate::membership::MembershipView>,
    /// Set once this key's rotation entry is signed: its log ends there.
    retired: std::sync::Arc<std::sync::atomic::AtomicBool>,
    /// Held (shared) while checking and signing, and exclusively by a rotation, so
    /// that nothing is signed after a rotation; publishes still sign concurrently, so
    /// that the store commits them together.
    signing: std::sync::Arc<tokio::sync::RwLock<()>>,
}

impl Publisher {
    pub fn new(
        store: Store,
        key: SecretKey,
        network: Option<Client>,
        allow_publish_before_sync: bool,
        max_clock_skew_ms: u64,
        audit: crate::audit::Audit,
    ) -> Publisher {
        Publisher {
            store,
            key,
            network,
            allow_publish_before_sync,
            max_clock_skew_ms,
            audit,
            membership: None,
            retired: Default::default(),
            signing: Default::default(),
        }
    }

    /// Refuses to sign while the membership does not admit this node's key.
    pub fn with_membership(mut self, membership: crate::membership::MembershipView) -> Publisher {
        self.membership = Some(membership);
        self
    }

    pub fn public_key(&self) -> PublicKey {
        self.key.public_key()
    }

    /// Whether the node may sign its next entry now, and if not, why. It may when
    /// it cannot reuse a sequence number its key already used (invariant 7): a member
    /// confirmed since start that it holds no entry of our key we lack, or this is the
    /// first node of a new network and no member holds its entries yet. And only while
    /// its key is not forked and its clock agrees with its members'.
    pub fn readiness(&self) -> Result<(), PublishError> {
        if self.retired.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(PublishError::NotAdmitted(
                "this node's key was rotated: its log ended with the rotation, and the node restarts with its new key".into(),
            ));
        }
        if let Some(view) = &self.membership {
            let membership = view.get();
            let own = self.public_key();
            let next_seq = self.store.head(&own)?.map_or(1, |h| h.seq + 1);
            if let Err(refusal) = membership.admits(&own, next_seq, now_ms()) {
                let why = match refusal.reason {
                    "NotMember" => "its administration is not a member yet (a quorum of members must approve its proposal; see `customs-node member list`)".to_string(),
                    _ => refusal.message,
                };
                return Err(PublishError::NotAdmitted(why));
            }
        }
        if let Some(head) = self.store.head(&self.public_key())? {
            if head.fork_seq > 0 {
                return Err(PublishError::OwnKeyForked { seq: head.fork_seq });
            }
        }
        let confirmed = self.network.as_ref().is_some_and(Client::own_log_confirmed);
        let first_node = self.publish_before_sync_allowed()?;
        if !confirmed && !first_node {
            return Err(PublishError::NotSynced);
        }
        if let Some((offset_ms, members)) = self.network.as_ref().and_then(Client::clock_estimate) {
            if clock_refuses(offset_ms, members, self.max_clock_skew_ms) {
                return Err(PublishError::ClockOff {
                    offset_ms,
                    bound_ms: self.max_clock_skew_ms,
                });
            }
        }
        Ok(())
    }

    /// Whether `node.allow_publish_before_sync` still lets this node sign unsynced:
    /// set, and no member has held its entries yet.
    pub fn publish_before_sync_allowed(&self) -> Result<bool, StoreError> {
        Ok(self.allow_publish_before_sync && !self.store.unsynced_publish_spent()?)
    }

    /// Whether [`Publisher::readiness`] allows signing now.
    pub fn can_publish(&self) -> Result<bool, StoreError> {
        match self.readiness() {
            Ok(()) => Ok(true),
            Err(PublishError::Store(error)) => Err(error),
            Err(_) => Ok(false),
        }
    }

    /// Records that the first node's permission is spent once a member holds our
    /// entries (the store watchdog calls this now and then).
    pub fn note_own_log_held(&self) -> Result<(), StoreError> {
        let held = self
            .network
            .as_ref()
            .is_some_and(Client::own_log_held_by_member);
        if held && self.allow_publish_before_sync && !self.store.unsynced_publish_spent()? {
            self.store.spend_unsynced_publish()?;
            tracing::info!("a member holds this node's entries: node.allow_publish_before_sync is spent (from now on the node waits for a member's confirmation after each start)");
        }
        Ok(())
    }

    /// Signs and stores `body` as the next entry, durable when this returns. Blocks
    /// (the disk is flushed): not for async callers, who use [`Publisher::publish`].
    pub fn sign_and_store(&self, body: Body, now_ms: u64) -> Result<VerifiedEntry, PublishError> {
        let draft = Draft::open(body);
        let rotation = is_rotation(&draft);
        let _alone = rotation.then(|| self.signing.blocking_write());
        let _shared = (!rotation).then(|| self.signing.blocking_read());
        self.may_sign(now_ms, None)?;
        let appended = self
            .store
            .append_own_keyed(&self.key, draft, now_ms, None)?;
        self.signed(rotation);
        Ok(appended.entry)
    }

    /// What to sign for `body` with `markings` to `distribution`: an open record, or
    /// one sealed to the keys [`recipients`] gives (a group at its current epoch).
    pub fn draft(
        &self,
        body: Body,
        markings: Markings,
        distribution: Distribution,
        attachments: Vec<Attachment>,
    ) -> Result<Draft, PublishError> {
        if !distribution.is_restricted() {
            return Ok(Draft::Open {
                markings,
                body,
                attachments,
            });
        }
        let view = self.membership.as_ref().ok_or(PublishError::NoMembership)?;
        let membership = view.get();
        let own = self.public_key();
        let code = membership
            .member_of(&own)
            .map(|m| m.code.clone())
            .ok_or_else(|| {
                PublishError::NotAdmitted("its administration is not a member".into())
            })?;
        let groups = self.store.groups(&membership)?;
        let today = Date::from_unix_ms(now_ms());
        let (keys, distribution) = recipients(&distribution, &code, &membership, &groups, today)?;
        Ok(Draft::Sealed {
            record: customs_protocol::Sealed {
                distribution,
                markings,
                body,
                attachments,
            },
            recipients: keys,
        })
    }

    /// The key a sealed record's attachment `hash` travels encrypted under: derived
    /// from this node's key, so that a retried publish seals the blob to the same
    /// ciphertext (and its idempotency key finds the same record).
    pub fn blob_key(&self, hash: &BlobHash) -> [u8; 32] {
        let mut digest = Sha256::new();
        digest.update(b"customs-network/blob-key/v1\0");
        digest.update(self.key.seed());
        digest.update(hash.0);
        digest.finalize().into()
    }

    /// Refuses to sign when [`Publisher::readiness`] does, unless this is a replay of
    /// an idempotency key (which signs nothing, so needs none of the conditions).
    fn may_sign(
        &self,
        now_ms: u64,
        idempotency: Option<&IdempotencyKey>,
    ) -> Result<(), PublishError> {
        if let Some(key) = idempotency {
            if self.store.idempotent_entry(key, now_ms)?.is_some() {
                return Ok(());
            }
        }
        self.readiness().inspect_err(|refusal| {
            if let PublishError::ClockOff { offset_ms, .. } = refusal {
                self.audit.record(
                    crate::audit::Event::new("clock_refusal", "node", "refused")
                        .with_detail(format!("offset {offset_ms} ms")),
                );
            }
        })
    }

    /// After a signed rotation: this key signs nothing more.
    fn signed(&self, rotation: bool) {
        if rotation {
            self.retired
                .store(true, std::sync::atomic::Ordering::SeqCst);
        }
    }

    /// Signs and stores `body` as this node's next entry (durable when this returns),
    /// then gossips it (best effort: catch-up delivers what gossip could not). With an
    /// idempotency key already used for this body, returns the first entry instead.
    pub async fn publish(
        &self,
        body: Body,
        idempotency: Option<IdempotencyKey>,
    ) -> Result<Appended, PublishError> {
        self.publish_draft(Draft::open(body), idempotency).await
    }

    /// [`Publisher::publish`] of a draft (an open record with markings, or a sealed
    /// one: see [`Publisher::draft`]).
    pub async fn publish_draft(
        &self,
        draft: Draft,
        idempotency: Option<IdempotencyKey>,
    ) -> Result<Appended, PublishError> {
        let rotation = is_rotation(&draft);
        let _alone = match rotation {
            true => Some(self.signing.write().await),
            false => None,
        };
        let _shared = match rotation {
            false => Some(self.signing.read().await),
            true => None,
        };
        let now_ms = now_ms();
        // On the runtime's thread, not worth a hand-off: it reads memory and at most
        // two small rows, which the index serves from memory in practice (the
        // first-node flag, and an idempotency key).
        self.may_sign(now_ms, idempotency.as_ref())?;
        // Waits without a thread: the store's leading thread signs and syncs a batch.
        let appended = self
            .store
            .append_own_keyed_async(&self.key, draft, now_ms, idempotency.as_ref())
            .await?;
        self.signed(rotation);
        drop((_alone, _shared));
        // Stored is what counts: if the push fails, members get it by catch-up.
        if let (Some(network), false) = (&self.network, appended.replayed) {
            let entry = &appended.entry;
            if let Err(error) = network.gossip(entry.signed().clone()).await {
                tracing::warn!(%error, id = %entry.id(), "stored, but not gossiped");
            }
        }
        Ok(appended)
    }
}

/// Whether `draft` rotates this node's key (signed alone, and the last of its log).
fn is_rotation(draft: &Draft) -> bool {
    matches!(
        draft.body().governance(),
        Some(customs_protocol::Governance::Rotate { .. })
    )
}

#[cfg(test)]
mod tests {
    use super::clock_refuses;

    #[test]
    fn a_clock_ahead_always_refuses_one_behind_only_when_members_agree() {
        let bound = 300_000;
        assert!(
            !clock_refuses(-(bound as i64), 1, bound),
            "at the bound is fine"
        );
        assert!(
            clock_refuses(-(bound as i64) - 1, 1, bound),
            "ahead of the only member"
        );
        assert!(
            !clock_refuses(bound as i64 + 1, 1, bound),
            "one member behind: either may be wrong"
        );
        assert!(
            clock_refuses(bound as i64 + 1, 2, bound),
            "two members agree we are behind"
        );
        assert!(!clock_refuses(0, 5, bound));
    }
}
