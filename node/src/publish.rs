//! Publishing: the one way this node signs. Below both `node` (which builds it) and
//! `api` (which calls it), so the two no longer depend on each other, and nothing can
//! sign around the not-synced guard: the store's `append_own` is called only here.

use customs_protocol::{Body, PublicKey, SecretKey, VerifiedEntry};
use thiserror::Error;

use crate::clock::now_ms;
use crate::network::Client;
use crate::store::{Appended, IdempotencyKey, Store, StoreError};

#[derive(Debug, Error)]
pub enum PublishError {
    #[error("this node holds no entry of its own yet, and no member has confirmed in a sync that its key has none elsewhere: signing now could reuse a sequence number. Wait until it has synced with a member (see `customs-node status`); on the very first node of a new network set node.allow_publish_before_sync = true")]
    NotSynced,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the signing task failed: {0}")]
    Task(String),
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
}

impl Publisher {
    pub fn new(
        store: Store,
        key: SecretKey,
        network: Option<Client>,
        allow_publish_before_sync: bool,
    ) -> Publisher {
        Publisher {
            store,
            key,
            network,
            allow_publish_before_sync,
        }
    }

    pub fn public_key(&self) -> PublicKey {
        self.key.public_key()
    }

    /// Whether the node may sign its next entry without risking a sequence number
    /// its key already used: it holds entries of its own, or a member confirmed it has
    /// none we lack (invariant 7), or the configuration allows it.
    pub fn can_publish(&self) -> Result<bool, StoreError> {
        let confirmed = self.network.as_ref().is_some_and(Client::own_log_confirmed);
        Ok(self.allow_publish_before_sync
            || confirmed
            || self.store.head(&self.public_key())?.is_some())
    }

    /// Signs and stores `body` as the next entry, durable when this returns (a
    /// blocking call: the disk is flushed).
    pub fn sign_and_store(&self, body: Body, now_ms: u64) -> Result<VerifiedEntry, PublishError> {
        Ok(self.sign_and_store_keyed(body, now_ms, None)?.entry)
    }

    /// [`Publisher::sign_and_store`] with an idempotency key (see
    /// [`Store::append_own_keyed`]). A replay needs no sync confirmation: it signs
    /// nothing.
    fn sign_and_store_keyed(
        &self,
        body: Body,
        now_ms: u64,
        idempotency: Option<&IdempotencyKey>,
    ) -> Result<Appended, PublishError> {
        if !self.can_publish()? {
            return Err(PublishError::NotSynced);
        }
        Ok(self
            .store
            .append_own_keyed(&self.key, body, now_ms, idempotency)?)
    }

    /// Signs and stores `body` as this node's next entry (durable when this returns),
    /// then gossips it (best effort: catch-up delivers what gossip could not). With an
    /// idempotency key already used for this body, returns the first entry instead.
    pub async fn publish(
        &self,
        body: Body,
        idempotency: Option<IdempotencyKey>,
    ) -> Result<Appended, PublishError> {
        let publisher = self.clone();
        let appended = tokio::task::spawn_blocking(move || {
            publisher.sign_and_store_keyed(body, now_ms(), idempotency.as_ref())
        })
        .await
        .map_err(|e| PublishError::Task(e.to_string()))??;
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
