//! Checking entries from outside on every core: decode, `verify_strict`, validate.
//! (The ingest worker, `network/ingest.rs`, overlaps it with the store's commit.)
//!
//! Batch verification is not used: its cofactored equation accepts signatures that
//! `verify_strict` rejects, and every node must agree on what is valid.

use std::cell::RefCell;

use customs_protocol::{AuthorKeys, EntryError, VerifiedEntry};

/// Below this many entries, threads cost more than they save.
const MIN_ENTRIES_PER_THREAD: usize = 32;

thread_local! {
    /// Each verifying thread's decoded author keys (bounded: see [`AuthorKeys`]).
    static AUTHOR_KEYS: RefCell<AuthorKeys> = RefCell::default();
}

/// Checks every item, spreading the work over up to `threads` threads. Results are in
/// input order.
pub fn verify_all(items: &[Vec<u8>], threads: usize) -> Vec<Result<VerifiedEntry, EntryError>> {
    spread(items, threads, MIN_ENTRIES_PER_THREAD, |b| {
        AUTHOR_KEYS.with_borrow_mut(|keys| VerifiedEntry::from_bytes_with(b, keys))
    })
}

/// `work` on every item, over up to `threads` threads (the caller's among them) with
/// at least `min_per_thread` items each. Results are in input order; a panic in a
/// worker is passed on.
///
/// Threads take chunks of `min_per_thread` items as they go rather than a fixed share
/// each: when another thread (the store's commit, say) takes a core for a while, the
/// other threads take more chunks instead of waiting at the end for the slow share.
pub fn spread<T: Sync, R: Send>(
    items: &[T],
    threads: usize,
    min_per_thread: usize,
    work: impl Fn(&T) -> R + Sync,
) -> Vec<R> {
    let chunk = min_per_thread.max(1);
    let threads = threads.clamp(1, items.len().div_ceil(chunk).max(1));
    if threads == 1 {
        return items.iter().map(&work).collect();
    }
    let chunks: Vec<&[T]> = items.chunks(chunk).collect();
    let next = std::sync::atomic::AtomicUsize::new(0);
    let take = || {
        let mut done = Vec::new();
        loop {
            let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let Some(part) = chunks.get(i) else {
                return done;
            };
            done.push((i, part.iter().map(&work).collect::<Vec<R>>()));
        }
    };
    let mut done: Vec<(usize, Vec<R>)> = std::thread::scope(|scope| {
        let workers: Vec<_> = (1..threads).map(|_| scope.spawn(take)).collect();
        let mut done = take();
        for worker in workers {
            done.extend(
                worker
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
            );
        }
        done
    });
    done.sort_unstable_by_key(|(i, _)| *i);
    done.into_iter().flat_map(|(_, results)| results).collect()
}

/// The number of threads worth using: the machine's cores.
pub fn available_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

#[cfg(test)]
mod tests {
    use super::*;
    use customs_protocol::{samples, Body, Entry, SecretKey};

    /// A signed AEO record at `seq` (its chain link is not checked here).
    fn signed_bytes(key: &SecretKey, seq: u64) -> Vec<u8> {
        let entry = Entry {
            network: "n".into(),
            author: key.public_key(),
            seq,
            prev: (seq > 1).then_some(customs_protocol::EntryId([1; 32])),
            created_at_ms: 1_795_830_600_000,
            markings: Default::default(),
            body: Body::AeoRecord(samples::aeo_record()),
            attachments: Vec::new(),
        };
        VerifiedEntry::sign(entry, key).expect("signs").encode()
    }

    #[test]
    fn results_keep_input_order_and_catch_bad_entries() {
        let key = SecretKey::from_seed([1; 32]);
        let mut items: Vec<Vec<u8>> = (1..=100u64).map(|seq| signed_bytes(&key, seq)).collect();
        let last = items[57].len() - 1;
        items[57][last] ^= 1;
        let results = verify_all(&items, 4);
        assert_eq!(results.len(), 100);
        for (i, result) in results.iter().enumerate() {
            match result {
                Ok(entry) => assert_eq!(entry.entry().seq, i as u64 + 1),
                Err(e) => {
                    assert_eq!(i, 57);
                    assert_eq!(e.code(), "BadSignature");
                }
            }
        }
    }
}
