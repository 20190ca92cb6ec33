//! The prefetch policy: attachments this node fetches as soon as their record
//! arrives, instead of when someone opens them (`store.prefetch_categories`,
//! `store.prefetch_max_bytes`; off by default, so that a member on a thin link
//! downloads only what its officers look at).

use std::time::Duration;

use customs_protocol::body::Category;
use customs_protocol::{Attachment, Body};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use super::fetch::Fetcher;
use crate::store::{Readable, Store};

/// Records looked at per round.
const ARRIVAL_BATCH: usize = 64;

/// Which attachments to fetch as their record arrives.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrefetchPolicy {
    /// Every attachment of alerts (and of results of control) in these categories.
    pub categories: Vec<Category>,
    /// Any attachment of at most this many bytes (0: none by size).
    pub max_bytes: u64,
}

impl PrefetchPolicy {
    pub fn is_off(&self) -> bool {
        self.categories.is_empty() && self.max_bytes == 0
    }

    /// Whether `attachment` of `record` is fetched on arrival.
    pub fn wants(&self, record: &Readable, attachment: &Attachment) -> bool {
        let category = match &record.body {
            Body::RiskAlert(alert) => Some(alert.category),
            Body::ControlRequest(request) => request.category,
            _ => None,
        };
        attachment.size <= self.max_bytes || category.is_some_and(|c| self.categories.contains(&c))
    }
}

/// Follows the records this node stores from its start on, and fetches the
/// attachments the policy wants, one at a time, until `stop`.
pub async fn run(
    store: Store,
    fetcher: Fetcher,
    membership: crate::membership::MembershipView,
    policy: PrefetchPolicy,
    timeout: Duration,
    mut stop: watch::Receiver<bool>,
) {
    if policy.is_off() {
        return;
    }
    let mut arrivals = store.watch_arrivals();
    let start = {
        let store = store.clone();
        tokio::task::spawn_blocking(move || store.arrival_end()).await
    };
    let mut cursor = match start {
        Ok(Ok(end)) => end.checked_sub(1),
        _ => {
            tracing::warn!("the prefetch cannot read the store's arrivals: attachments are fetched when opened only");
            return;
        }
    };
    loop {
        let batch = {
            let (store, policy, members) = (store.clone(), policy.clone(), membership.get());
            tokio::task::spawn_blocking(move || wanted(&store, &members, &policy, cursor)).await
        };
        let (last, wanted) = match batch {
            Ok(Ok(batch)) => batch,
            Ok(Err(error)) => {
                tracing::warn!(%error, "the prefetch cannot read the store");
                (cursor, Vec::new())
            }
            Err(_) => return,
        };
        let more = last != cursor;
        cursor = last;
        for (attachment, holders) in wanted {
            let (hash, size) = attachment.stored_as();
            if let Err(error) = fetcher.fetch(hash, size, timeout, holders.as_ref()).await {
                tracing::info!(blob = %attachment.hash, %error, "prefetch: not fetched now; it will be when someone opens it");
            }
            if *stop.borrow() {
                return;
            }
        }
        if !more {
            tokio::select! {
                _ = stop.wait_for(|s| *s) => return,
                _ = arrivals.changed() => {}
            }
        }
    }
}

/// The attachments the policy wants among the records after `cursor`, and the last
/// record looked at.
type Wanted = Vec<(Attachment, Option<std::collections::BTreeSet<String>>)>;

fn wanted(
    store: &Store,
    membership: &customs_protocol::Membership,
    policy: &PrefetchPolicy,
    cursor: Option<u64>,
) -> Result<(Option<u64>, Wanted), crate::store::StoreError> {
    let arrivals = store.arrivals_after(cursor, ARRIVAL_BATCH)?;
    let mut wanted = Vec::new();
    for crate::store::Arrival { entry, .. } in &arrivals {
        if let Some(record) = store.readable(entry)? {
            let holders = store.blob_holders(entry, membership)?;
            wanted.extend(
                record
                    .attachments
                    .iter()
                    .filter(|a| policy.wants(&record, a))
                    .map(|a| (a.clone(), holders.clone())),
            );
        }
    }
    Ok((arrivals.last().map(|a| a.number).or(cursor), wanted))
}

#[cfg(test)]
mod tests {
    use super::*;
    use customs_protocol::{BlobHash, Distribution, MediaType};

    fn record(category: Category) -> Readable {
        let mut alert = customs_protocol::samples::risk_alert();
        alert.category = category;
        Readable {
            markings: Default::default(),
            distribution: Distribution::All,
            body: Body::RiskAlert(alert),
            attachments: Vec::new(),
        }
    }

    fn attachment(size: u64) -> Attachment {
        Attachment {
            hash: BlobHash([1; 32]),
            size,
            media_type: MediaType::Jpeg,
            caption: String::new(),
            sealed: None,
        }
    }

    #[test]
    fn the_policy_takes_its_categories_whole_and_others_up_to_a_size() {
        let policy = PrefetchPolicy {
            categories: vec![Category::Weapons],
            max_bytes: 100_000,
        };
        assert!(policy.wants(&record(Category::Weapons), &attachment(9_000_000)));
        assert!(policy.wants(&record(Category::Drugs), &attachment(100_000)));
        assert!(!policy.wants(&record(Category::Drugs), &attachment(100_001)));
        assert!(PrefetchPolicy::default().is_off());
        assert!(!PrefetchPolicy::default().wants(&record(Category::Drugs), &attachment(1)));
    }
}
