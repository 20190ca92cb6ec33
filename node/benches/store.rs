//! Store benchmarks, each beside its ceiling measured in the same run:
//! ingest (decode + verify_strict + group commit) against bare verify_strict and bare
//! sled batch-insert-plus-flush; single acknowledged appends; bytes on disk per entry;
//! open-to-ready time.
//!
//! Run: cargo bench -p customs-node --bench store            (100k entries, then 1M for open time)
//!      STORE_BENCH_QUICK=1 cargo bench -p customs-node --bench store   (small, a smoke test)

use std::time::{Duration, Instant};

use customs_node::store::{Store, StoreConfig};
use customs_node::verify::{available_threads, verify_pipelined};
use customs_protocol::{samples, Body, Entry, EntryId, SecretKey, SignedEntry, VerifiedEntry};

const NETWORK: &str = "customs-bench";
const BATCH: usize = 1000;

fn rate(count: usize, elapsed: Duration) -> f64 {
    count as f64 / elapsed.as_secs_f64()
}

/// `count` valid entries from `authors` authors, in chain order per author, signed on
/// every core. Bodies alternate between the documented alert and AEO record.
fn make_entries(count: usize, authors: usize) -> Vec<VerifiedEntry> {
    let per_author = count.div_ceil(authors);
    let threads = available_threads().min(authors).max(1);
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|t| {
                scope.spawn(move || {
                    let mut out = Vec::new();
                    for a in (t..authors).step_by(threads) {
                        let key = SecretKey::from_seed([a as u8 + 1; 32]);
                        let mut prev: Option<EntryId> = None;
                        for seq in 1..=per_author as u64 {
                            let body = if seq % 4 == 0 {
                                Body::AeoRecord(samples::aeo_record())
                            } else {
                                Body::RiskAlert(samples::risk_alert())
                            };
                            let entry = Entry {
                                network: NETWORK.into(),
                                author: key.public_key(),
                                seq,
                                prev,
                                created_at_ms: 1_795_830_600_000 + seq,
                                body,
                            };
                            let signed = VerifiedEntry::sign(entry, &key).expect("signs");
                            prev = Some(signed.id());
                            out.push(signed);
                        }
                    }
                    out
                })
            })
            .collect();
        let mut all: Vec<VerifiedEntry> = workers
            .into_iter()
            .flat_map(|w| w.join().expect("worker"))
            .collect();
        all.truncate(count);
        // Interleave authors the way a sync of several authors would deliver them.
        all.sort_by_key(|e| (e.entry().seq, e.entry().author));
        all
    })
}

fn open_store(dir: &std::path::Path) -> Store {
    Store::open(StoreConfig::new(dir, NETWORK)).expect("store opens")
}

fn main() {
    let quick = std::env::var_os("STORE_BENCH_QUICK").is_some();
    let count = if quick { 5_000 } else { 100_000 };
    let threads = available_threads();
    println!("store benchmark: {count} entries from 10 authors, {threads} threads");

    let entries = make_entries(count, 10);
    let bytes: Vec<Vec<u8>> = entries.iter().map(VerifiedEntry::encode).collect();
    let signed_bytes: usize = bytes.iter().map(Vec::len).sum();
    let mean_size = signed_bytes as f64 / count as f64;
    println!("mean signed entry: {mean_size:.0} bytes");

    // Ceiling 1: bare verify_strict, one core and every core.
    let decoded: Vec<SignedEntry> = bytes
        .iter()
        .map(|b| SignedEntry::decode(b).expect("decodes"))
        .collect();
    let start = Instant::now();
    let sample = count.min(20_000);
    for entry in &decoded[..sample] {
        entry.verify().expect("verifies");
    }
    let verify_one_core = rate(sample, start.elapsed());
    let start = Instant::now();
    std::thread::scope(|scope| {
        for part in decoded.chunks(count.div_ceil(threads)) {
            scope.spawn(move || part.iter().for_each(|e| e.verify().expect("verifies")));
        }
    });
    let verify_all_cores = rate(count, start.elapsed());
    println!("ceiling: verify_strict {verify_one_core:.0}/s on one core, {verify_all_cores:.0}/s on {threads}");

    // Ceiling 2: bare sled, batches of BATCH inserts plus one flush each.
    let dir = tempfile::tempdir().expect("tempdir");
    let db = sled::Config::new()
        .path(dir.path().join("bare"))
        .cache_capacity(64 * 1024 * 1024)
        .open()
        .expect("sled");
    let start = Instant::now();
    for (chunk, entries_chunk) in bytes.chunks(BATCH).zip(entries.chunks(BATCH)) {
        let mut batch = sled::Batch::default();
        for (b, e) in chunk.iter().zip(entries_chunk) {
            batch.insert(&e.id().0[..], &b[..]);
        }
        db.apply_batch(batch).expect("batch");
        db.flush().expect("flush");
    }
    let sled_rate = rate(count, start.elapsed());
    let bare_disk = db.size_on_disk().expect("size");
    drop(db);
    println!(
        "ceiling: sled batch insert + flush {sled_rate:.0}/s, {:.2}x the signed size on disk",
        bare_disk as f64 / signed_bytes as f64
    );

    // The real thing: decode + verify_strict (every core) + ingest with group commit.
    let store_dir = tempfile::tempdir().expect("tempdir");
    let store = open_store(store_dir.path());
    let start = Instant::now();
    verify_pipelined(bytes.chunks(BATCH).map(<[_]>::to_vec), threads, |results| {
        let verified: Vec<VerifiedEntry> = results.into_iter().map(|r| r.expect("valid")).collect();
        store.ingest(verified).map(|_| ())
    })
    .expect("ingest");
    let ingest_rate = rate(count, start.elapsed());
    let ceiling = verify_all_cores.min(sled_rate);
    println!(
        "ingest: {ingest_rate:.0}/s = {:.2} of the lower ceiling ({ceiling:.0}/s)",
        ingest_rate / ceiling
    );
    assert_eq!(store.counts().entries, count as u64);

    // The store's share alone: the same entries, already verified, into a new store.
    let store_only_dir = tempfile::tempdir().expect("tempdir");
    let store_only = open_store(store_only_dir.path());
    let start = Instant::now();
    for chunk in entries.chunks(BATCH) {
        store_only.ingest(chunk.to_vec()).expect("ingest");
    }
    println!(
        "ingest of verified entries (store only): {:.0}/s",
        rate(count, start.elapsed())
    );
    drop(store_only);

    store.flush().expect("flush");
    let on_disk = store.size_on_disk().expect("size");
    println!(
        "disk: {:.0} bytes per entry at {count} entries = {:.2}x the signed size",
        on_disk as f64 / count as f64,
        on_disk as f64 / signed_bytes as f64
    );

    // Acknowledged single appends: each one flushed before it returns.
    let appends = if quick { 200 } else { 2_000 };
    let key = SecretKey::from_seed([99; 32]);
    let start = Instant::now();
    for i in 0..appends {
        store
            .append_own(
                &key,
                Body::RiskAlert(samples::risk_alert()),
                1_795_830_600_000 + i,
            )
            .expect("append");
    }
    let elapsed = start.elapsed();
    println!(
        "single appends: {:.0}/s, {:.2} ms each (sign + flush + apply)",
        rate(appends as usize, elapsed),
        elapsed.as_secs_f64() * 1000.0 / appends as f64
    );

    // Bare fsync latency of this disk, for comparison with one append.
    let fsync_file = store_dir.path().join("fsync-probe");
    let mut file = std::fs::File::create(&fsync_file).expect("probe");
    let start = Instant::now();
    for _ in 0..200 {
        use std::io::Write;
        file.write_all(&[0u8; 512]).expect("write");
        file.sync_data().expect("fsync");
    }
    println!(
        "ceiling: write + fdatasync {:.2} ms",
        start.elapsed().as_secs_f64() * 1000.0 / 200.0
    );
    drop(store);

    let start = Instant::now();
    let store = open_store(store_dir.path());
    println!(
        "open to ready: {:.0} ms at {} entries",
        start.elapsed().as_secs_f64() * 1000.0,
        store.counts().entries
    );
    drop(store);

    if !quick {
        let big = 1_000_000;
        let dir = tempfile::tempdir().expect("tempdir");
        let store = open_store(dir.path());
        let more = make_entries(big, 200);
        let start = Instant::now();
        for chunk in more.chunks(BATCH) {
            store.ingest(chunk.to_vec()).expect("ingest");
        }
        println!(
            "filled 1M entries (already verified) in {:.1} s",
            start.elapsed().as_secs_f64()
        );
        store.flush().expect("flush");
        let on_disk = store.size_on_disk().expect("size");
        let signed: usize = more.iter().map(|e| e.encode().len()).sum();
        println!(
            "disk: {:.0} bytes per entry at 1M entries = {:.2}x the signed size",
            on_disk as f64 / big as f64,
            on_disk as f64 / signed as f64
        );
        drop(more);
        drop(store);
        let start = Instant::now();
        let store = open_store(dir.path());
        println!(
            "open to ready: {:.0} ms at {} entries from {} authors",
            start.elapsed().as_secs_f64() * 1000.0,
            store.counts().entries,
            store.counts().authors
        );
        println!(
            "disk after reopen: {:.2}x the signed size",
            store.size_on_disk().expect("size") as f64 / signed as f64
        );
    }
}
