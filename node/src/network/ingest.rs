//! The ingest worker beside the event loop: every gossip message and sync page is a
//! job; jobs are verified on every core and stored with one group commit per batch.
//!
//! Two stages, one batch apart: while the store commits batch N (one thread, mostly
//! waiting for the disk), batch N+1 is verified on the other threads. Without the
//! overlap a core sits idle through every commit, and a catch-up is bound by the
//! sum of the two instead of by verification.
//!
//! The context checks (member, network, clock) run in the storing stage, just before
//! the commit: a batch is judged against the membership that the batches stored
//! before it made, as if the stages ran one after the other.

use customs_protocol::SignedEntry;
use tokio::sync::mpsc;

use super::sync::core::{ItemResult, JobId};
use crate::admission::{self, Admission, Rejection};
use crate::clock::now_ms;
use crate::limits::MAX_INGEST_BATCH_ENTRIES;
use crate::store::Store;
use crate::verify::available_threads;

/// Items from one gossip message or one sync page.
#[derive(Debug)]
pub struct IngestJob {
    pub job: JobId,
    pub items: Vec<Vec<u8>>,
}

/// A job's answer: each item's outcome, or why the whole batch failed.
#[derive(Debug)]
pub struct IngestDone {
    pub job: JobId,
    pub results: Result<Vec<ItemResult>, String>,
    /// Entries this batch stored (all on the batch's first job), for the live feed.
    pub applied: Vec<SignedEntry>,
}

/// A batch between the stages: its jobs' ids in order, and each job's items checked
/// without context, or `None` when verification failed as a whole.
struct Verified {
    jobs: Vec<JobId>,
    checked: Option<Vec<Vec<Result<customs_protocol::VerifiedEntry, Rejection>>>>,
}

/// Runs until the job queue closes, then finishes what it holds. At most one batch
/// waits between the stages, so at most three are held at once (one verifying, one
/// waiting, one storing).
pub async fn ingest_worker(
    store: Store,
    admission: Admission,
    jobs: mpsc::Receiver<IngestJob>,
    done: mpsc::Sender<IngestDone>,
) {
    let (verified_tx, verified) = mpsc::channel(1);
    let storing = tokio::spawn(store_stage(store, admission, verified, done));
    verify_stage(jobs, verified_tx).await;
    let _ = storing.await;
}

/// Drains what is queued (up to [`MAX_INGEST_BATCH_ENTRIES`]) into one batch and
/// verifies it on every core.
async fn verify_stage(mut jobs: mpsc::Receiver<IngestJob>, verified: mpsc::Sender<Verified>) {
    let threads = available_threads();
    while let Some(first) = jobs.recv().await {
        let mut entries = first.items.len();
        let mut batch = vec![first];
        while entries < MAX_INGEST_BATCH_ENTRIES {
            match jobs.try_recv() {
                Ok(job) => {
                    entries += job.items.len();
                    batch.push(job);
                }
                Err(_) => break,
            }
        }
        let ids: Vec<JobId> = batch.iter().map(|j| j.job).collect();
        let checked = tokio::task::spawn_blocking(move || {
            batch
                .iter()
                .map(|job| admission::verify_all(&job.items, threads))
                .collect()
        })
        .await
        .ok();
        let batch = Verified { jobs: ids, checked };
        if verified.send(batch).await.is_err() {
            return; // the storing stage stopped: nobody reads the answers
        }
    }
}

/// Stores each verified batch with one group commit and answers every job of it.
async fn store_stage(
    store: Store,
    admission: Admission,
    mut verified: mpsc::Receiver<Verified>,
    done: mpsc::Sender<IngestDone>,
) {
    while let Some(batch) = verified.recv().await {
        let ids = batch.jobs.clone();
        let store = store.clone();
        let admission = admission.clone();
        let results = tokio::task::spawn_blocking(move || store_batch(&store, &admission, batch))
            .await
            .unwrap_or_else(|_| failed(ids, "the ingest task failed"));
        for result in results {
            if done.send(result).await.is_err() {
                return;
            }
        }
    }
}

/// Every job of a batch answered with the same failure.
fn failed(jobs: Vec<JobId>, why: &str) -> Vec<IngestDone> {
    jobs.into_iter()
        .map(|job| IngestDone {
            job,
            results: Err(why.into()),
            applied: Vec::new(),
        })
        .collect()
}

/// Applies the context checks to a verified batch, stores the good entries in one
/// group commit, and maps the outcomes back to their jobs.
fn store_batch(store: &Store, admission: &Admission, batch: Verified) -> Vec<IngestDone> {
    let Some(checked) = batch.checked else {
        return failed(batch.jobs, "the ingest task failed");
    };
    let now = now_ms();
    let mut to_store = Vec::new();
    let slots: Vec<Vec<Result<usize, Rejection>>> = checked
        .into_iter()
        .map(|results| {
            results
                .into_iter()
                .map(|r| {
                    r.and_then(|entry| admission.check_context(entry, now))
                        .map(|entry| {
                            to_store.push(entry);
                            to_store.len() - 1
                        })
                })
                .collect()
        })
        .collect();
    let seqs: Vec<u64> = to_store.iter().map(|e| e.entry().seq).collect();
    let (outcomes, mut applied) = match store.ingest(to_store) {
        Ok(report) => (report.outcomes, report.applied),
        Err(e) => {
            tracing::error!(error = %e, "storing a batch failed");
            return failed(batch.jobs, &format!("storing failed: {e}"));
        }
    };
    batch
        .jobs
        .into_iter()
        .zip(slots)
        .map(|(job, slots)| IngestDone {
            job,
            results: Ok(slots
                .into_iter()
                .map(|slot| slot.map(|i| (outcomes[i], seqs[i])))
                .collect()),
            applied: std::mem::take(&mut applied),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::membership::MembershipView;
    use crate::store::{Outcome, StoreConfig};
    use customs_protocol::{samples, Body, Entry, EntryId, SecretKey, VerifiedEntry};

    const NETWORK: &str = "customs-test";

    fn signed(key: &SecretKey, seq: u64, prev: Option<EntryId>) -> VerifiedEntry {
        let entry = Entry {
            network: NETWORK.into(),
            author: key.public_key(),
            seq,
            prev,
            created_at_ms: now_ms() - 1_000,
            markings: Default::default(),
            body: Body::RiskAlert(samples::risk_alert()),
            attachments: Vec::new(),
        };
        VerifiedEntry::sign(entry, key).expect("signs")
    }

    fn chain(key: &SecretKey, len: u64) -> Vec<Vec<u8>> {
        let mut prev = None;
        (1..=len)
            .map(|seq| {
                let entry = signed(key, seq, prev);
                prev = Some(entry.id());
                entry.encode()
            })
            .collect()
    }

    /// Several batches through both stages: each job answered once and in order,
    /// verification failures and context refusals told apart per item, everything
    /// good stored, and the worker finishing what it holds when the queue closes.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn every_job_is_answered_in_order_and_the_good_entries_are_stored() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store =
            Store::open(StoreConfig::new(dir.path().join("store"), NETWORK)).expect("opens");
        let member = SecretKey::from_seed([1; 32]);
        let stranger = SecretKey::from_seed([2; 32]);
        let admission = Admission {
            network: NETWORK.into(),
            membership: MembershipView::new(customs_protocol::Membership::fixed(
                NETWORK,
                [("NL".into(), "NL".into(), member.public_key(), Vec::new())],
            )),
            max_clock_skew_ms: 60_000,
        };
        let entries = chain(&member, 300);
        let mut forged = entries[150].clone();
        let last = forged.len() - 1;
        forged[last] ^= 1;
        let jobs: Vec<IngestJob> = vec![
            IngestJob {
                job: 1,
                items: entries[..100].to_vec(),
            },
            IngestJob {
                job: 2,
                items: vec![forged, chain(&stranger, 1).remove(0)],
            },
            IngestJob {
                job: 3,
                items: entries[100..].to_vec(),
            },
            IngestJob {
                job: 4,
                items: vec![entries[99].clone()],
            },
        ];

        let (jobs_tx, jobs_rx) = mpsc::channel(8);
        let (done_tx, mut done) = mpsc::channel(8);
        let worker = tokio::spawn(ingest_worker(store.clone(), admission, jobs_rx, done_tx));
        for job in jobs {
            // Yield between jobs so that they tend to span batches; the answers must
            // be the same however the worker drains them (job 4 is a duplicate only
            // if job 1 was stored before it).
            jobs_tx.send(job).await.expect("worker runs");
            tokio::task::yield_now().await;
        }
        drop(jobs_tx);
        let mut answers = Vec::new();
        while let Some(answer) = done.recv().await {
            answers.push(answer);
        }
        worker.await.expect("the worker ends when its queue closes");

        let order: Vec<JobId> = answers.iter().map(|a| a.job).collect();
        assert_eq!(order, vec![1, 2, 3, 4]);
        let results: Vec<Vec<ItemResult>> = answers
            .iter()
            .map(|a| a.results.clone().expect("stored"))
            .collect();
        assert_eq!(results[0].len(), 100);
        for (i, result) in results[0].iter().enumerate() {
            assert_eq!(result, &Ok((Outcome::Applied, i as u64 + 1)));
        }
        let reasons: Vec<&str> = results[1]
            .iter()
            .map(|r| r.as_ref().expect_err("refused").reason)
            .collect();
        assert_eq!(reasons, vec!["BadSignature", "NotMember"]);
        assert_eq!(results[2].len(), 200);
        assert!(results[2]
            .iter()
            .all(|r| matches!(r, Ok((Outcome::Applied, _)))));
        assert_eq!(results[3], vec![Ok((Outcome::Duplicate, 100))]);
        let fed: usize = answers.iter().map(|a| a.applied.len()).sum();
        assert_eq!(fed, 300, "every stored entry reaches the live feed once");
        assert_eq!(store.counts().entries, 300);
    }
}
