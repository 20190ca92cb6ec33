//! Fetching a blob from the members that hold it: chunk by chunk over the blob
//! protocol, resuming where a broken connection or a slow peer left off, and
//! checking the hash before the blob is kept. Nothing is pushed: a blob moves only
//! when someone on this node asks for it (or the prefetch policy does).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use customs_protocol::attachment::{BlobRequest, BlobResponse};
use customs_protocol::limits::MAX_BLOB_CHUNK_BYTES;
use customs_protocol::BlobHash;
use thiserror::Error;
use tokio::sync::Semaphore;

use super::{BlobStoreError, Blobs};
use crate::network::{Client, NetworkError, PeerId};

/// Fetches running at once; more are refused (each holds a chunk in memory).
pub const MAX_CONCURRENT_FETCHES: usize = 8;
/// Attachments the API holds in memory at once to answer (up to 10 MiB each); more
/// wait their turn.
pub const MAX_CONCURRENT_READS: usize = 16;

#[derive(Debug, Error)]
pub enum FetchError {
    #[error("no member node is connected to fetch blob {hash} from")]
    NoPeers { hash: BlobHash },
    #[error("no connected member node holds blob {hash} (asked {asked})")]
    NotFound { hash: BlobHash, asked: String },
    #[error(
        "blob {hash}: the bytes {from} served do not match its hash, and were thrown away{others}"
    )]
    Mismatch {
        hash: BlobHash,
        from: String,
        others: String,
    },
    #[error("blob {hash}: no member node could serve it ({failures})")]
    Unreachable { hash: BlobHash, failures: String },
    #[error("blob {hash} did not arrive within {seconds} s ({received} of {size} bytes received and kept: the next request resumes there)")]
    Timeout {
        hash: BlobHash,
        seconds: u64,
        received: u64,
        size: u64,
    },
    #[error("{MAX_CONCURRENT_FETCHES} blob fetches are running: try again in a moment")]
    Busy,
    #[error(transparent)]
    Store(#[from] BlobStoreError),
    #[error(transparent)]
    Network(#[from] NetworkError),
}

/// What the fetcher has done since the start, for the metrics.
#[derive(Debug, Default)]
pub struct FetchStats {
    pub fetched: AtomicU64,
    pub fetched_bytes: AtomicU64,
    /// Fetches that ended without the blob: none of the members could serve it.
    pub failed: AtomicU64,
    /// Blobs a member served whose bytes did not match their hash.
    pub mismatched: AtomicU64,
}

/// Fetches blobs for this node's API; one fetch per blob at a time (a second request
/// for the same blob waits for the first).
#[derive(Debug, Clone)]
pub struct Fetcher {
    blobs: Arc<Blobs>,
    network: Client,
    running: Arc<Mutex<HashMap<BlobHash, Arc<tokio::sync::Mutex<()>>>>>,
    permits: Arc<Semaphore>,
    reads: Arc<Semaphore>,
    stats: Arc<FetchStats>,
}

/// How one member answered during a fetch.
enum Answer {
    Done,
    NotFound,
    Mismatch,
    Failed(String),
}

impl Fetcher {
    pub fn new(blobs: Arc<Blobs>, network: Client) -> Fetcher {
        Fetcher {
            blobs,
            network,
            running: Arc::default(),
            permits: Arc::new(Semaphore::new(MAX_CONCURRENT_FETCHES)),
            reads: Arc::new(Semaphore::new(MAX_CONCURRENT_READS)),
            stats: Arc::default(),
        }
    }

    pub fn stats(&self) -> &FetchStats {
        &self.stats
    }

    pub fn blobs(&self) -> &Arc<Blobs> {
        &self.blobs
    }

    /// A turn to hold an attachment in memory (waits while
    /// [`MAX_CONCURRENT_READS`] are held).
    pub async fn read_turn(&self) -> Option<tokio::sync::OwnedSemaphorePermit> {
        // The semaphore is never closed: this is always Some.
        self.reads.clone().acquire_owned().await.ok()
    }

    /// Makes the blob `hash` of `size` bytes (as its record lists it) present in the
    /// cache, fetching it from connected members within `timeout`: any member for an
    /// open record's blob, only the `holders` (member codes) for a restricted one's.
    pub async fn fetch(
        &self,
        hash: BlobHash,
        size: u64,
        timeout: Duration,
        holders: Option<&std::collections::BTreeSet<String>>,
    ) -> Result<(), FetchError> {
        let _permit = self.permits.try_acquire().map_err(|_| FetchError::Busy)?;
        let one = {
            let mut running = self.running.lock().unwrap_or_else(|e| e.into_inner());
            running.entry(hash).or_default().clone()
        };
        let result = {
            let _one_at_a_time = one.lock().await;
            match tokio::time::timeout(timeout, self.fetch_from_members(hash, size, holders)).await
            {
                Ok(result) => result,
                Err(_) => Err(FetchError::Timeout {
                    hash,
                    seconds: timeout.as_secs(),
                    received: self.blobs.partial_len(&hash),
                    size,
                }),
            }
        };
        let mut running = self.running.lock().unwrap_or_else(|e| e.into_inner());
        if Arc::strong_count(&one) <= 2 {
            running.remove(&hash);
        }
        if result.is_err() && !matches!(result, Err(FetchError::Busy)) {
            self.stats.failed.fetch_add(1, Ordering::Relaxed);
        }
        result
    }

    async fn fetch_from_members(
        &self,
        hash: BlobHash,
        size: u64,
        holders: Option<&std::collections::BTreeSet<String>>,
    ) -> Result<(), FetchError> {
        if self.holds(hash).await? {
            return Ok(());
        }
        let peers: Vec<_> = self
            .network
            .connected_members()
            .await?
            .into_iter()
            .filter(|(code, _)| holders.is_none_or(|h| h.contains(code)))
            .collect();
        if peers.is_empty() {
            return Err(FetchError::NoPeers { hash });
        }
        let (mut not_found, mut mismatched, mut failures) = (Vec::new(), Vec::new(), Vec::new());
        for (code, peer) in peers {
            match self.fetch_from(peer, hash, size).await? {
                Answer::Done => {
                    self.stats.fetched.fetch_add(1, Ordering::Relaxed);
                    self.stats.fetched_bytes.fetch_add(size, Ordering::Relaxed);
                    tracing::info!(blob = %hash, size, from = %code, "fetched a blob");
                    return Ok(());
                }
                Answer::NotFound => not_found.push(code),
                Answer::Mismatch => {
                    self.stats.mismatched.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(blob = %hash, from = %code, "a member served bytes that do not match the blob's hash: refused");
                    mismatched.push(code)
                }
                Answer::Failed(reason) => failures.push(format!("{code}: {reason}")),
            }
        }
        if let Some((first, rest)) = mismatched.split_first() {
            let mut others = String::new();
            if !rest.is_empty() {
                others = format!("; so did {}", rest.join(", "));
            }
            return Err(FetchError::Mismatch {
                hash,
                from: first.clone(),
                others,
            });
        }
        if !failures.is_empty() {
            failures.extend(
                not_found
                    .iter()
                    .map(|code| format!("{code}: does not hold it")),
            );
            return Err(FetchError::Unreachable {
                hash,
                failures: failures.join("; "),
            });
        }
        Err(FetchError::NotFound {
            hash,
            asked: not_found.join(", "),
        })
    }

    /// Whether the blob is already in this node's own or cached blobs.
    async fn holds(&self, hash: BlobHash) -> Result<bool, FetchError> {
        let blobs = self.blobs.clone();
        Ok(blocking(move || blobs.read_chunk(&hash, 0, 1).map(|c| c.is_some())).await?)
    }

    /// Asks one member for the rest of the blob, chunk by chunk, from where the
    /// partial file ends.
    async fn fetch_from(
        &self,
        peer: PeerId,
        hash: BlobHash,
        size: u64,
    ) -> Result<Answer, FetchError> {
        // Where an earlier fetch stopped; from then on the length is kept here.
        let blobs = self.blobs.clone();
        let mut offset = blocking(move || Ok(blobs.partial_len(&hash))).await?;
        loop {
            if offset >= size {
                let blobs = self.blobs.clone();
                let kept = blocking(move || blobs.finish_partial(&hash)).await?;
                return Ok(if kept { Answer::Done } else { Answer::Mismatch });
            }
            let request = BlobRequest {
                hash,
                offset,
                max_len: (size - offset).min(u64::from(MAX_BLOB_CHUNK_BYTES)) as u32,
            };
            let answer = match self.network.blob_chunk(peer, request).await {
                Ok(answer) => answer,
                Err(NetworkError::Stopped) => return Err(NetworkError::Stopped.into()),
                Err(error) => return Ok(Answer::Failed(error.to_string())),
            };
            match answer {
                BlobResponse::NotFound => return Ok(Answer::NotFound),
                BlobResponse::Chunk {
                    size: served_size,
                    bytes,
                } => {
                    // A blob of another size, or a chunk past its end, is not the
                    // blob the record lists.
                    if served_size != size || bytes.is_empty() || offset + bytes.len() as u64 > size
                    {
                        let blobs = self.blobs.clone();
                        blocking(move || {
                            blobs.discard_partial(&hash);
                            Ok(())
                        })
                        .await?;
                        return Ok(Answer::Mismatch);
                    }
                    let (blobs, len) = (self.blobs.clone(), bytes.len() as u64);
                    blocking(move || blobs.append_partial(&hash, offset, &bytes)).await?;
                    offset += len;
                }
            }
        }
    }
}

/// Runs blob file work on a blocking thread.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, BlobStoreError> + Send + 'static,
) -> Result<T, BlobStoreError> {
    tokio::task::spawn_blocking(work).await.unwrap_or_else(|e| {
        Err(BlobStoreError::Io {
            path: Default::default(),
            reason: format!("a blob task failed: {e}"),
        })
    })
}
