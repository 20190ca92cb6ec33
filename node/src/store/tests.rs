use super::*;
use customs_protocol::body::{AeoStatus, Category, Retraction, RetractionReason};
use customs_protocol::codes::Country;
use customs_protocol::{samples, Date, RiskAlert};
use proptest::prelude::*;
use segments::Position;

const NETWORK: &str = "customs-test";
const NOW_MS: u64 = 1_795_830_600_000;

fn open(dir: &tempfile::TempDir) -> Store {
    Store::open(StoreConfig::new(dir.path().join("store"), NETWORK)).expect("opens")
}

fn key(n: u8) -> SecretKey {
    SecretKey::from_seed([n; 32])
}

fn alert(n: u64) -> RiskAlert {
    let mut alert = samples::risk_alert();
    alert.reference = format!("REF-{n}");
    alert
}

/// A valid chain of `len` entries by `key`, with varied bodies.
fn chain(key: &SecretKey, len: u64) -> Vec<VerifiedEntry> {
    let mut prev = None;
    (1..=len)
        .map(|seq| {
            let body = if seq % 3 == 0 {
                Body::AeoRecord(samples::aeo_record())
            } else {
                Body::RiskAlert(alert(seq))
            };
            let entry = Entry {
                network: NETWORK.into(),
                author: key.public_key(),
                seq,
                prev,
                created_at_ms: NOW_MS + seq,
                markings: Default::default(),
                body,
                attachments: Vec::new(),
            };
            let signed = VerifiedEntry::sign(entry, key).expect("signs");
            prev = Some(signed.id());
            signed
        })
        .collect()
}

fn sign(
    key: &SecretKey,
    seq: u64,
    prev: Option<EntryId>,
    body: Body,
    created_at_ms: u64,
) -> VerifiedEntry {
    let entry = Entry {
        network: NETWORK.into(),
        author: key.public_key(),
        seq,
        prev,
        created_at_ms,
        markings: Default::default(),
        body,
        attachments: Vec::new(),
    };
    VerifiedEntry::sign(entry, key).expect("signs")
}

#[test]
fn a_store_belongs_to_one_network() {
    let dir = tempfile::tempdir().expect("tempdir");
    drop(open(&dir));
    let other = Store::open(StoreConfig::new(dir.path().join("store"), "other-net"));
    assert!(
        matches!(other, Err(StoreError::OtherNetwork { .. })),
        "{other:?}"
    );
    drop(open(&dir));
}

#[test]
fn refuses_a_directory_that_is_not_a_store() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("store");
    let db = sled::open(&path).expect("plain sled");
    db.insert(b"something", b"else").expect("insert");
    db.flush().expect("flush");
    drop(db);
    let error = Store::open(StoreConfig::new(&path, NETWORK)).expect_err("refused");
    let message = error.to_string();
    assert!(message.contains("not a customs store"), "{message}");
    assert!(message.contains("move the directory aside"), "{message}");
}

#[test]
fn a_damaged_store_is_an_error_not_a_panic() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("store");
    {
        let store = open(&dir);
        store.ingest(chain(&key(1), 20)).expect("ingest");
    }
    // Overwrite every file of the store (segments and index) with garbage.
    for file in walk(&path) {
        let len = std::fs::metadata(&file).expect("meta").len() as usize;
        std::fs::write(&file, vec![0xa5u8; len.max(64)]).expect("overwrite");
    }
    match Store::open(StoreConfig::new(&path, NETWORK)) {
        Err(e) => assert!(
            e.to_string().contains(&path.display().to_string())
                || matches!(e, StoreError::Corrupt { .. }),
            "{e}"
        ),
        Ok(store) => {
            // If the index recovered an empty or partial state, the check must not pass
            // silently with data that is not there.
            assert!(store.counts().entries < 20 || store.check().is_err());
        }
    }
}

fn walk(path: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(path).expect("read dir").flatten() {
        let p = entry.path();
        if p.is_dir() {
            files.extend(walk(&p));
        } else {
            files.push(p);
        }
    }
    files
}

#[test]
fn a_path_that_cannot_be_a_directory_is_a_clear_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("plain-file");
    std::fs::write(&file, b"x").expect("write");
    let error = Store::open(StoreConfig::new(file.join("store"), NETWORK)).expect_err("fails");
    assert!(matches!(error, StoreError::Open { .. }), "{error}");
}

#[test]
fn own_appends_form_a_durable_chain() {
    let dir = tempfile::tempdir().expect("tempdir");
    let me = key(1);
    let ids: Vec<EntryId> = {
        let store = open(&dir);
        (1..=3)
            .map(|n| {
                let entry = store
                    .append_own(&me, Body::RiskAlert(alert(n)), NOW_MS + n)
                    .expect("appends");
                assert_eq!(entry.entry().seq, n);
                entry.id()
            })
            .collect()
    };
    let store = open(&dir);
    let head = store.head(&me.public_key()).expect("read").expect("head");
    assert_eq!((head.seq, head.id), (3, ids[2]));
    let third = store.get(&ids[2]).expect("read").expect("present");
    assert_eq!(third.entry().prev, Some(ids[1]));
    assert_eq!(store.counts().entries, 3);
    assert_eq!(store.counts().authors, 1);
    assert_eq!(store.check().expect("consistent").entries, 3);
}

#[test]
fn refuses_to_sign_an_invalid_body_and_stores_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(&dir);
    let mut bad = alert(1);
    bad.conveyance.containers = vec!["CSQU3054384".into()];
    let error = store
        .append_own(&key(1), Body::RiskAlert(bad), NOW_MS)
        .expect_err("invalid");
    assert!(error.to_string().contains("check digit"), "{error}");
    assert_eq!(store.counts().entries, 0);
    assert!(store.frontier().expect("frontier").is_empty());
}

#[test]
fn ingest_in_order_with_duplicates() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(&dir);
    let entries = chain(&key(2), 5);
    let report = store.ingest(entries.clone()).expect("ingest");
    assert_eq!(report.count(Outcome::Applied), 5);
    assert_eq!(report.applied.len(), 5);
    let again = store.ingest(entries[1..3].to_vec()).expect("ingest");
    assert_eq!(again.outcomes, vec![Outcome::Duplicate; 2]);
    assert!(again.applied.is_empty());
    assert_eq!(store.counts().entries, 5);
}

#[test]
fn arrival_times_grow_and_a_reader_finds_where_a_time_ends() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(&dir);
    let entries = chain(&key(2), 40);
    // Several commits, so that some arrivals share a millisecond and some do not.
    for batch in entries.chunks(7) {
        store.ingest(batch.to_vec()).expect("ingest");
    }
    let arrivals = store.arrivals_after(None, 100).expect("arrivals");
    assert_eq!(arrivals.len(), 40);
    let times: Vec<u64> = arrivals
        .iter()
        .map(|a| a.arrived_us.expect("a time"))
        .collect();
    assert!(times.windows(2).all(|w| w[0] < w[1]), "{times:?}");
    assert_eq!(store.first_arrival_after(0).expect("search"), 0);
    for (i, time) in times.iter().enumerate() {
        // After the i-th arrival's time comes the next one, whatever the ms.
        assert_eq!(
            store.first_arrival_after(*time).expect("search"),
            arrivals[i].number + 1
        );
        assert_eq!(
            store.first_arrival_after(time - 1).expect("search"),
            arrivals[i].number
        );
    }
    assert_eq!(store.first_arrival_after(u64::MAX - 1).expect("search"), 40);
    // Reopened, the next arrival is still later than the last.
    let last = *times.last().expect("times");
    drop(store);
    let store = open(&dir);
    store.ingest(chain(&key(3), 1)).expect("ingest");
    let next = store.arrivals_after(Some(39), 10).expect("arrivals");
    assert!(next[0].arrived_us.expect("a time") > last);
    store.check().expect("consistent");
}

#[test]
fn entries_ahead_wait_until_the_gap_fills() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(&dir);
    let entries = chain(&key(2), 6);
    let report = store.ingest(entries[3..].to_vec()).expect("ingest");
    assert_eq!(report.outcomes, vec![Outcome::Pending; 3]);
    assert_eq!(store.pending_len(), 3);
    assert!(store.head(&key(2).public_key()).expect("read").is_none());

    let report = store.ingest(entries[..3].to_vec()).expect("ingest");
    assert_eq!(report.outcomes, vec![Outcome::Applied; 3]);
    let seqs: Vec<u64> = report.applied.iter().map(|e| e.entry().seq).collect();
    assert_eq!(
        seqs,
        vec![1, 2, 3, 4, 5, 6],
        "released entries are reported in order"
    );
    assert_eq!(store.pending_len(), 0);
    assert_eq!(
        store
            .head(&key(2).public_key())
            .expect("read")
            .expect("head")
            .seq,
        6
    );
}

#[test]
fn the_pending_buffer_is_bounded() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = StoreConfig::new(dir.path().join("store"), NETWORK);
    config.max_pending_entries = 2;
    let store = Store::open(config).expect("opens");
    let entries = chain(&key(2), 5);
    let report = store.ingest(entries[2..].to_vec()).expect("ingest");
    assert_eq!(
        report.outcomes,
        vec![Outcome::Pending, Outcome::Pending, Outcome::PendingFull]
    );
    // The dropped one comes again later (as catch-up would deliver it).
    let report = store.ingest(entries.clone()).expect("ingest");
    assert_eq!(
        store
            .head(&key(2).public_key())
            .expect("read")
            .expect("head")
            .seq,
        5
    );
    assert_eq!(report.applied.len(), 5);
}

#[test]
fn a_second_entry_for_a_seq_is_kept_as_a_fork_proof() {
    let dir = tempfile::tempdir().expect("tempdir");
    let liar = key(3);
    let first = sign(&liar, 1, None, Body::RiskAlert(alert(1)), NOW_MS);
    let second = sign(&liar, 1, None, Body::RiskAlert(alert(2)), NOW_MS);
    {
        let store = open(&dir);
        store.ingest(vec![first.clone()]).expect("ingest");
        let report = store.ingest(vec![second.clone()]).expect("ingest");
        assert_eq!(report.outcomes, vec![Outcome::Fork]);
        let again = store.ingest(vec![second.clone()]).expect("ingest");
        assert_eq!(
            again.outcomes,
            vec![Outcome::Duplicate],
            "one proof is enough"
        );
    }
    let store = open(&dir);
    let forks = store.forks().expect("forks");
    assert_eq!(forks.len(), 1);
    assert_eq!(forks[0].first.id(), first.id(), "the chain keeps the first");
    assert_eq!(forks[0].second.id(), second.id());
    assert_eq!(
        store.forked_authors().expect("authors"),
        vec![liar.public_key()]
    );
    assert_eq!(store.counts().forks, 1);
    assert_eq!(
        store
            .head(&liar.public_key())
            .expect("read")
            .expect("head")
            .id,
        first.id()
    );
    store.check().expect("consistent");
}

#[test]
fn a_fork_in_one_batch_and_in_the_pending_buffer() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(&dir);
    let liar = key(3);
    let one = sign(&liar, 1, None, Body::RiskAlert(alert(1)), NOW_MS);
    let two_a = sign(&liar, 2, Some(one.id()), Body::RiskAlert(alert(2)), NOW_MS);
    let two_b = sign(&liar, 2, Some(one.id()), Body::RiskAlert(alert(3)), NOW_MS);
    // Both seq-2 entries wait, then seq 1 arrives: one applies, the other is a proof.
    store.ingest(vec![two_a, two_b]).expect("ingest");
    let report = store.ingest(vec![one]).expect("ingest");
    assert_eq!(report.applied.len(), 2);
    assert_eq!(store.forks().expect("forks").len(), 1);
    store.check().expect("consistent");
}

#[test]
fn a_branch_from_an_earlier_seq_is_not_stored() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(&dir);
    let liar = key(3);
    let one = sign(&liar, 1, None, Body::RiskAlert(alert(1)), NOW_MS);
    let two = sign(
        &liar,
        2,
        Some(EntryId([0xee; 32])),
        Body::RiskAlert(alert(2)),
        NOW_MS,
    );
    store.ingest(vec![one]).expect("ingest");
    let report = store.ingest(vec![two]).expect("ingest");
    assert_eq!(report.outcomes, vec![Outcome::PrevMismatch]);
    assert_eq!(store.counts().entries, 1);
}

#[test]
fn entries_of_another_network_are_not_stored() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(&dir);
    let k = key(4);
    let entry = Entry {
        network: "elsewhere".into(),
        author: k.public_key(),
        seq: 1,
        prev: None,
        created_at_ms: NOW_MS,
        markings: Default::default(),
        body: Body::RiskAlert(alert(1)),
        attachments: Vec::new(),
    };
    let foreign = VerifiedEntry::sign(entry, &k).expect("signs");
    let report = store.ingest(vec![foreign]).expect("ingest");
    assert_eq!(report.outcomes, vec![Outcome::WrongNetwork]);
    assert_eq!(store.counts().entries, 0);
}

#[test]
fn pages_are_bounded_by_count_and_bytes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(&dir);
    let author = key(5);
    store.ingest(chain(&author, 10)).expect("ingest");
    let page = store
        .entries_from(&author.public_key(), 3, 4, usize::MAX)
        .expect("page");
    let seqs: Vec<u64> = page.entries.iter().map(|e| e.entry().seq).collect();
    assert_eq!(seqs, vec![3, 4, 5, 6]);
    assert!(page.more);
    let sizes: Vec<usize> = chain(&author, 2).iter().map(|e| e.encode().len()).collect();
    let page = store
        .entries_from(&author.public_key(), 1, 100, sizes[0] + sizes[1])
        .expect("page");
    assert_eq!(page.entries.len(), 2);
    assert!(page.more);
    let page = store
        .entries_from(&author.public_key(), 10, 100, 1)
        .expect("page");
    assert_eq!(page.entries.len(), 1, "the first entry always fits");
    assert!(!page.more);
    let page = store
        .entries_from(&author.public_key(), 11, 100, 1 << 20)
        .expect("page");
    assert!(page.entries.is_empty() && !page.more);
}

#[test]
fn frontier_lists_every_author() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(&dir);
    for n in 1..=4 {
        store
            .ingest(chain(&key(n), u64::from(n) * 2))
            .expect("ingest");
    }
    let frontier = store.frontier().expect("frontier");
    assert_eq!(frontier.len(), 4);
    for n in 1..=4u8 {
        assert_eq!(
            frontier.get(&key(n).public_key()).expect("head").seq,
            u64::from(n) * 2
        );
    }
}

#[test]
fn an_entry_damaged_on_disk_is_not_served() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(&dir);
    let entries = chain(&key(6), 2);
    store.ingest(entries.clone()).expect("ingest");
    let id = entries[1].id();
    let row = store.db().expect("db").get(entry_key(&id)).expect("read");
    let at = Position::decode(&row.expect("indexed")).expect("position");
    // One bit flipped in the middle of the entry's bytes, under its checksum.
    let file = segment_file(&dir, at.segment);
    let mut bytes = std::fs::read(&file).expect("read");
    bytes[at.offset as usize + 8 + 100] ^= 0x40;
    std::fs::write(&file, &bytes).expect("tamper");
    store.inner.segments.close_files();
    let error = store.get(&id).expect_err("damaged");
    assert!(matches!(error, StoreError::Corrupt { .. }), "{error}");
    assert!(store.check().is_err());
    assert!(store.get(&entries[0].id()).expect("read").is_some());
}

fn segment_file(dir: &tempfile::TempDir, segment: u32) -> PathBuf {
    dir.path()
        .join("store/segments")
        .join(format!("{segment:08}.log"))
}

/// Copies a store directory (its index and segments) for a test to damage.
fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read dir") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

#[test]
fn a_torn_tail_is_cut_at_every_byte_and_a_whole_one_is_indexed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let me = key(8);
    let (last, indexed_end) = {
        let store = open(&dir);
        for n in 1..=3 {
            store
                .append_own(&me, Body::RiskAlert(alert(n)), NOW_MS + n)
                .expect("append");
        }
        let head = store.head(&me.public_key()).expect("read").expect("head");
        let end = *lock(&store.inner.log_end);
        let last = sign(&me, 4, Some(head.id), Body::RiskAlert(alert(4)), NOW_MS + 4);
        (last, end)
    };
    // The state a crash leaves between "frame written" and "index committed": the
    // fourth entry's frame past the index's end, cut at every byte.
    let framed = segments::frame(&last.encode());
    let file = segment_file(&dir, 0);
    let mut log = std::fs::read(&file).expect("read");
    assert_eq!(log.len(), indexed_end.offset as usize);
    log.extend_from_slice(&framed);
    // Each cut is a store of its own: four at a time (closing one waits for the
    // index's background threads, which sleep).
    let check_cut = |cut: usize| {
        let copy = tempfile::tempdir().expect("tempdir");
        copy_dir(&dir.path().join("store"), &copy.path().join("store"));
        std::fs::write(
            segment_file(&copy, 0),
            &log[..indexed_end.offset as usize + cut],
        )
        .expect("tear");
        let store = open(&copy);
        let head = store.head(&me.public_key()).expect("read").expect("head");
        let whole = cut == framed.len();
        assert_eq!(head.seq, if whole { 4 } else { 3 }, "cut at byte {cut}");
        assert_eq!(
            store.contains(&last.id()).expect("read"),
            whole,
            "cut at byte {cut}"
        );
        let length = std::fs::metadata(segment_file(&copy, 0))
            .expect("stat")
            .len();
        let expected = indexed_end.offset as usize + if whole { framed.len() } else { 0 };
        assert_eq!(
            length as usize, expected,
            "a torn frame is cut off (byte {cut})"
        );
        // The log goes on from there, and holds together after another open.
        if cut.is_multiple_of(64) || whole {
            let next = store
                .append_own(&me, Body::RiskAlert(alert(9)), NOW_MS + 9)
                .expect("append");
            assert_eq!(next.entry().seq, head.seq + 1);
            drop(store);
            let store = open(&copy);
            assert_eq!(store.check().expect("consistent").entries, head.seq + 1);
        }
    };
    let cuts: Vec<usize> = (0..=framed.len()).collect();
    std::thread::scope(|scope| {
        for share in cuts.chunks(cuts.len().div_ceil(4)) {
            scope.spawn(|| share.iter().for_each(|&cut| check_cut(cut)));
        }
    });
}

#[test]
fn a_damaged_frame_past_the_index_is_cut_with_everything_after_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let author = key(9);
    let entries = chain(&author, 4);
    let end = {
        let store = open(&dir);
        store.ingest(entries[..2].to_vec()).expect("ingest");
        let end = *lock(&store.inner.log_end);
        end
    };
    let file = segment_file(&dir, 0);
    let mut log = std::fs::read(&file).expect("read");
    let third = segments::frame(&entries[2].encode());
    log.extend_from_slice(&third);
    log.extend_from_slice(&segments::frame(&entries[3].encode()));
    // A flipped bit in the third frame: neither it nor the whole fourth is served.
    log[end.offset as usize + third.len() / 2] ^= 1;
    std::fs::write(&file, &log).expect("write");
    let store = open(&dir);
    assert_eq!(store.counts().entries, 2);
    assert!(!store.contains(&entries[3].id()).expect("read"));
    assert_eq!(
        std::fs::metadata(&file).expect("stat").len(),
        u64::from(end.offset)
    );
    // A peer sends them again: stored as usual.
    store.ingest(entries[2..].to_vec()).expect("ingest");
    assert_eq!(store.check().expect("consistent").entries, 4);
}

#[test]
fn concurrent_publishes_are_signed_in_sequence_and_all_durable() {
    let dir = tempfile::tempdir().expect("tempdir");
    let me = key(10);
    let ids = {
        let store = open(&dir);
        let threads: Vec<_> = (0..8u64)
            .map(|t| {
                let store = store.clone();
                let me = me.clone();
                std::thread::spawn(move || {
                    (0..25u64)
                        .map(|n| {
                            let idempotency = IdempotencyKey::new("test", &format!("{t}-{n}"));
                            store
                                .append_own_keyed(
                                    &me,
                                    Draft::open(Body::RiskAlert(alert(t * 100 + n))),
                                    NOW_MS + n,
                                    Some(&idempotency),
                                )
                                .expect("publish")
                                .entry
                                .id()
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let ids: Vec<EntryId> = threads
            .into_iter()
            .flat_map(|t| t.join().expect("thread"))
            .collect();
        // A retry with a key of the batch gets the entry it made, signs nothing.
        let retry = store
            .append_own_keyed(
                &me,
                Draft::open(Body::RiskAlert(alert(3))),
                NOW_MS + 3,
                Some(&IdempotencyKey::new("test", "0-3")),
            )
            .expect("retry");
        assert!(retry.replayed);
        assert_eq!(retry.entry.id(), ids[3]);
        ids
    };
    let store = open(&dir);
    let head = store.head(&me.public_key()).expect("read").expect("head");
    assert_eq!(head.seq, 200, "every publish got its own seq");
    let unique: std::collections::HashSet<_> = ids.iter().collect();
    assert_eq!(unique.len(), 200);
    for id in &ids {
        assert!(store.contains(id).expect("read"), "{id} is durable");
    }
    assert_eq!(store.check().expect("consistent").entries, 200);
}

/// The API's path: publishes wait without a thread, one of them leads on the blocking
/// pool, and a store dropped on the last answer is closed (it reopens at once).
#[test]
fn async_publishes_share_batches_and_release_the_store_on_their_answers() {
    let dir = tempfile::tempdir().expect("tempdir");
    let me = key(11);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .expect("runtime");
    let (ids, health) = runtime.block_on(async {
        let store = open(&dir);
        let tasks: Vec<_> = (0..32u64)
            .map(|t| {
                let store = store.clone();
                let me = me.clone();
                tokio::spawn(async move {
                    let mut ids = Vec::new();
                    for n in 0..10u64 {
                        let body = Body::RiskAlert(alert(t * 100 + n));
                        let appended = store
                            .append_own_keyed_async(&me, Draft::open(body), NOW_MS + n, None)
                            .await
                            .expect("publish");
                        ids.push(appended.entry.id());
                    }
                    ids
                })
            })
            .collect();
        let mut ids = Vec::new();
        for task in tasks {
            ids.extend(task.await.expect("task"));
        }
        (ids, store.health())
    });
    let store = open(&dir);
    assert_eq!(health.published, 320);
    assert!(
        health.publish_batches < 320,
        "32 concurrent publishers share batches ({} batches)",
        health.publish_batches
    );
    assert_eq!(
        health.log_sync_times.count(),
        health.publish_batches,
        "each batch's sync is timed once"
    );
    assert!(health.log_sync_times.sum_us > 0);
    let head = store.head(&me.public_key()).expect("read").expect("head");
    assert_eq!(head.seq, 320, "every publish got its own seq");
    let unique: std::collections::HashSet<_> = ids.iter().collect();
    assert_eq!(unique.len(), 320);
    for id in &ids {
        assert!(store.contains(id).expect("read"), "{id} is durable");
    }
}

#[test]
fn sync_times_count_each_duration_in_its_bucket() {
    let mut times = SyncTimes::default();
    times.record(std::time::Duration::from_micros(50));
    times.record(std::time::Duration::from_micros(51));
    times.record(std::time::Duration::from_micros(999_999));
    times.record(std::time::Duration::from_secs(2));
    assert_eq!(times.counts[0], 1, "at a bound: in that bound's bucket");
    assert_eq!(times.counts[1], 1, "just above: in the next");
    assert_eq!(times.counts[SYNC_BUCKETS_US.len() - 1], 1);
    assert_eq!(times.over, 1, "above the last bound");
    assert_eq!(times.count(), 4);
    assert_eq!(times.sum_us, 50 + 51 + 999_999 + 2_000_000);
    assert!(SYNC_BUCKETS_US.windows(2).all(|w| w[0] < w[1]));
}

#[test]
fn a_lost_index_is_rebuilt_from_the_segments() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (first, second) = (chain(&key(5), 30), chain(&key(6), 12));
    let head = {
        let store = open(&dir);
        store.ingest(first.clone()).expect("ingest");
        store.ingest(second.clone()).expect("ingest");
        store.frontier().expect("frontier")
    };
    // The index is gone (deleted, or moved aside because it was damaged); the
    // segments hold every entry as signed.
    std::fs::remove_dir_all(dir.path().join("store").join(index::DIRECTORY)).expect("remove");
    let store = open(&dir);
    assert_eq!(store.check().expect("consistent").entries, 42);
    assert_eq!(store.frontier().expect("frontier"), head);
    for entry in first.iter().chain(&second) {
        assert!(store.contains(&entry.id()).expect("read"), "{}", entry.id());
    }
}

#[test]
fn check_finds_a_missing_index_row() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(&dir);
    let entries = chain(&key(6), 2);
    store.ingest(entries.clone()).expect("ingest");
    store.check().expect("consistent");
    let e = entries[0].entry();
    store
        .db()
        .expect("db")
        .remove(alert_key(e.created_at_ms, &entries[0].id()))
        .expect("remove");
    assert!(store.check().is_err());
}

#[test]
fn check_finds_an_attachment_missing_from_its_index() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(&dir);
    let author = key(6);
    let mut entry = sign(&author, 1, None, Body::RiskAlert(alert(1)), NOW_MS)
        .entry()
        .clone();
    let photo = customs_protocol::Attachment {
        hash: customs_protocol::BlobHash([5; 32]),
        size: 2_000,
        media_type: customs_protocol::MediaType::Jpeg,
        caption: "false floor".into(),
        sealed: None,
    };
    entry.attachments = vec![photo.clone()];
    let signed = VerifiedEntry::sign(entry, &author).expect("signs");
    store.ingest(vec![signed.clone()]).expect("ingest");
    store.check().expect("consistent");
    assert_eq!(
        store.attachment(&photo.hash).expect("reads"),
        Some((signed.id(), photo.clone()))
    );
    store
        .db()
        .expect("db")
        .remove(attachment_key(&photo.hash, &signed.id()))
        .expect("remove");
    let error = store.check().expect_err("the missing row is found");
    assert!(error.to_string().contains("attachment index"), "{error}");
    assert_eq!(store.attachment(&photo.hash).expect("reads"), None);
}

#[test]
fn an_own_entry_durable_before_a_crash_is_completed_on_open() {
    let dir = tempfile::tempdir().expect("tempdir");
    let me = key(7);
    let second = {
        let store = open(&dir);
        let first = store
            .append_own(&me, Body::RiskAlert(alert(1)), NOW_MS)
            .expect("append");
        // The state a crash leaves between "pending flushed" and "applied".
        let second = sign(
            &me,
            2,
            Some(first.id()),
            Body::RiskAlert(alert(2)),
            NOW_MS + 1,
        );
        store
            .db()
            .expect("db")
            .insert(META_OWN_PENDING, second.encode())
            .expect("insert");
        store.flush().expect("flush");
        second
    };
    let store = open(&dir);
    assert_eq!(
        store
            .head(&me.public_key())
            .expect("read")
            .expect("head")
            .id,
        second.id()
    );
    assert!(store
        .db()
        .expect("db")
        .get(META_OWN_PENDING)
        .expect("read")
        .is_none());
    let third = store
        .append_own(&me, Body::RiskAlert(alert(3)), NOW_MS + 2)
        .expect("append");
    assert_eq!(
        third.entry().seq,
        3,
        "the next append continues after the completed one"
    );
    store.check().expect("consistent");
}

fn alert_with(category: Category, hs: &str, origin: &[u8; 2], detected: Date) -> Body {
    let mut a = samples::risk_alert();
    a.category = category;
    a.hs_code = hs.into();
    a.route.origin = Some(Country(*origin));
    a.detected_on = detected;
    a.valid_until = None;
    Body::RiskAlert(a)
}

fn references(page: &AlertPage) -> Vec<u64> {
    page.items
        .iter()
        .map(|i| i.entry.entry().created_at_ms - NOW_MS)
        .collect()
}

#[test]
fn alert_queries_filter_and_page_newest_first() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(&dir);
    let nl = key(8);
    let be = key(9);
    let d = |day| Date::new(2026, 11, day);
    store
        .append_own(
            &nl,
            alert_with(Category::Drugs, "080390", b"EC", d(1)),
            NOW_MS + 1,
        )
        .expect("1");
    store
        .append_own(
            &nl,
            alert_with(Category::Tobacco, "240220", b"CN", d(2)),
            NOW_MS + 2,
        )
        .expect("2");
    store
        .append_own(
            &be,
            alert_with(Category::Drugs, "121190", b"CO", d(3)),
            NOW_MS + 3,
        )
        .expect("3");
    store
        .append_own(&be, Body::AeoRecord(samples::aeo_record()), NOW_MS + 4)
        .expect("4");
    store
        .append_own(
            &be,
            alert_with(Category::Counterfeits, "640299", b"CN", d(5)),
            NOW_MS + 5,
        )
        .expect("5");

    let all = store
        .alerts(&AlertFilter::default(), None, 50)
        .expect("query");
    assert_eq!(
        references(&all),
        vec![5, 3, 2, 1],
        "newest first, alerts only"
    );
    assert!(all.next.is_none());

    let query = |filter: AlertFilter| references(&store.alerts(&filter, None, 50).expect("query"));
    assert_eq!(
        query(AlertFilter {
            category: Some(Category::Drugs),
            ..Default::default()
        }),
        vec![3, 1]
    );
    assert_eq!(
        query(AlertFilter {
            hs_prefix: Some("24".into()),
            ..Default::default()
        }),
        vec![2]
    );
    assert_eq!(
        query(AlertFilter {
            country: Some(Country(*b"CN")),
            ..Default::default()
        }),
        vec![5, 2]
    );
    assert_eq!(
        query(AlertFilter {
            country: Some(Country(*b"PA")),
            ..Default::default()
        }),
        vec![5, 3, 2, 1],
        "transit counts"
    );
    assert_eq!(
        query(AlertFilter {
            from: Some(d(2)),
            to: Some(d(3)),
            ..Default::default()
        }),
        vec![3, 2]
    );
    assert_eq!(
        query(AlertFilter {
            author: Some(vec![nl.public_key()]),
            ..Default::default()
        }),
        vec![2, 1]
    );

    let first = store
        .alerts(&AlertFilter::default(), None, 2)
        .expect("page 1");
    assert_eq!(references(&first), vec![5, 3]);
    let cursor = first.next.expect("more");
    let reparsed: AlertCursor = cursor.to_string().parse().expect("cursor parses");
    let second = store
        .alerts(&AlertFilter::default(), Some(reparsed), 2)
        .expect("page 2");
    assert_eq!(references(&second), vec![2, 1]);
    let third = store
        .alerts(&AlertFilter::default(), second.next, 2)
        .expect("page 3");
    assert!(third.items.is_empty() && third.next.is_none());
    assert!("zz".parse::<AlertCursor>().is_err());
}

#[test]
fn retracted_alerts_are_hidden_unless_asked_for() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(&dir);
    let me = key(10);
    let target = store
        .append_own(&me, Body::RiskAlert(alert(1)), NOW_MS)
        .expect("append");
    let retraction = Body::Retraction(Retraction {
        target: target.id(),
        reason: RetractionReason::FalsePositive,
        note: None,
    });
    let retraction_entry = store
        .append_own(&me, retraction.clone(), NOW_MS + 1)
        .expect("retract");
    assert!(store
        .alerts(&AlertFilter::default(), None, 10)
        .expect("query")
        .items
        .is_empty());
    let with = AlertFilter {
        include_retracted: true,
        ..Default::default()
    };
    let page = store.alerts(&with, None, 10).expect("query");
    assert_eq!(page.items.len(), 1);
    assert_eq!(page.items[0].retracted_by, Some(retraction_entry.id()));
    assert!(
        store.get(&target.id()).expect("read").is_some(),
        "kept in the log"
    );

    let again = store
        .append_own(&me, retraction, NOW_MS + 2)
        .expect_err("already retracted");
    assert!(
        matches!(again, StoreError::RetractionTarget { .. }),
        "{again}"
    );
    store.check().expect("consistent");
}

#[test]
fn only_own_entries_can_be_retracted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(&dir);
    let theirs = chain(&key(11), 1);
    store.ingest(theirs.clone()).expect("ingest");
    let body = |target| {
        Body::Retraction(Retraction {
            target,
            reason: RetractionReason::Error,
            note: None,
        })
    };
    let error = store
        .append_own(&key(12), body(theirs[0].id()), NOW_MS)
        .expect_err("not ours");
    assert!(error.to_string().contains("another member"), "{error}");
    let error = store
        .append_own(&key(12), body(EntryId([1; 32])), NOW_MS)
        .expect_err("missing");
    assert!(error.to_string().contains("no such entry"), "{error}");
    assert_eq!(store.counts().entries, 1, "nothing signed or stored");
}

#[test]
fn a_foreign_retraction_of_another_authors_entry_withdraws_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(&dir);
    let victim = chain(&key(13), 1);
    store.ingest(victim.clone()).expect("ingest");
    let rogue = sign(
        &key(14),
        1,
        None,
        Body::Retraction(Retraction {
            target: victim[0].id(),
            reason: RetractionReason::Error,
            note: None,
        }),
        NOW_MS,
    );
    let report = store.ingest(vec![rogue]).expect("ingest");
    assert_eq!(
        report.outcomes,
        vec![Outcome::Applied],
        "kept in its author's chain"
    );
    assert!(store.retracted_by(&victim[0].id()).expect("read").is_none());
    assert_eq!(
        store
            .alerts(&AlertFilter::default(), None, 10)
            .expect("query")
            .items
            .len(),
        1
    );
    store.check().expect("consistent");
}

#[test]
fn aeo_status_is_the_latest_record_per_issuer() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(&dir);
    let nl = key(15);
    let us = key(16);
    let mut granted = samples::aeo_record();
    granted.effective_from = Date::new(2024, 3, 1);
    let mut suspended = granted.clone();
    suspended.status = AeoStatus::Suspended;
    suspended.effective_from = Date::new(2026, 6, 1);
    suspended.reason = Some("audit findings".into());
    store
        .append_own(&nl, Body::AeoRecord(granted.clone()), NOW_MS)
        .expect("1");
    let latest = store
        .append_own(&nl, Body::AeoRecord(suspended), NOW_MS + 1)
        .expect("2");
    store
        .append_own(&us, Body::AeoRecord(granted.clone()), NOW_MS + 2)
        .expect("3");
    let mut other_operator = granted.clone();
    other_operator.operator_id = "NL1234567890".into();
    store
        .append_own(&us, Body::AeoRecord(other_operator), NOW_MS + 3)
        .expect("4");

    let now = store.aeo_status("NL123456789", None).expect("status");
    assert_eq!(now.len(), 2, "one row per issuer, and no prefix confusion");
    let at_nl = now
        .iter()
        .find(|s| s.issuer == nl.public_key())
        .expect("nl");
    assert_eq!(at_nl.record.status, AeoStatus::Suspended);
    assert_eq!(at_nl.entry.id(), latest.id());

    let before = store
        .aeo_status("NL123456789", Some(Date::new(2025, 1, 1)))
        .expect("status");
    let at_nl = before
        .iter()
        .find(|s| s.issuer == nl.public_key())
        .expect("nl");
    assert_eq!(at_nl.record.status, AeoStatus::Granted);
    assert!(store
        .aeo_status("NL123456789", Some(Date::new(2020, 1, 1)))
        .expect("status")
        .is_empty());

    // Retracting the suspension brings back the grant.
    store
        .append_own(
            &nl,
            Body::Retraction(Retraction {
                target: latest.id(),
                reason: RetractionReason::Error,
                note: None,
            }),
            NOW_MS + 4,
        )
        .expect("retract");
    let now = store.aeo_status("NL123456789", None).expect("status");
    let at_nl = now
        .iter()
        .find(|s| s.issuer == nl.public_key())
        .expect("nl");
    assert_eq!(at_nl.record.status, AeoStatus::Granted);
    assert!(store.aeo_status("XX0", None).expect("status").is_empty());
}

#[derive(Debug, Clone)]
enum Delivery {
    InOrder,
    Reversed,
    Shuffled(u64),
}

fn deliver(
    entries: &[VerifiedEntry],
    delivery: &Delivery,
    duplicates: usize,
    batch: usize,
) -> Vec<Vec<VerifiedEntry>> {
    use rand::seq::SliceRandom;
    use rand::SeedableRng;
    let mut list: Vec<VerifiedEntry> = entries.to_vec();
    list.extend(entries.iter().take(duplicates).cloned());
    match delivery {
        Delivery::InOrder => {}
        Delivery::Reversed => list.reverse(),
        Delivery::Shuffled(seed) => list.shuffle(&mut rand::rngs::StdRng::seed_from_u64(*seed)),
    }
    list.chunks(batch.max(1)).map(<[_]>::to_vec).collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// Any delivery order of valid chains ends in the same frontier and entries.
    #[test]
    fn any_delivery_order_converges(
        delivery in prop_oneof![
            Just(Delivery::InOrder),
            Just(Delivery::Reversed),
            any::<u64>().prop_map(Delivery::Shuffled),
        ],
        duplicates in 0usize..10,
        batch in 1usize..12,
    ) {
        let entries: Vec<VerifiedEntry> = (1..=3).flat_map(|n| chain(&key(n), 7)).collect();
        let reference_dir = tempfile::tempdir().expect("tempdir");
        let reference = open(&reference_dir);
        reference.ingest(entries.clone()).expect("ingest");

        let dir = tempfile::tempdir().expect("tempdir");
        let store = open(&dir);
        for part in deliver(&entries, &delivery, duplicates, batch) {
            store.ingest(part).expect("ingest");
        }
        prop_assert_eq!(store.frontier().expect("frontier"), reference.frontier().expect("frontier"));
        for entry in &entries {
            prop_assert!(store.contains(&entry.id()).expect("read"));
        }
        prop_assert_eq!(store.counts(), reference.counts());
        prop_assert_eq!(store.pending_len(), 0);
        prop_assert_eq!(store.check().expect("consistent").entries, 21);
    }
}

/// A sealed entry signed by `key` at `seq`, sealed to `recipients`.
fn sealed(
    key: &SecretKey,
    seq: u64,
    prev: Option<EntryId>,
    record: customs_protocol::Sealed,
    recipients: &[customs_protocol::envelope::Recipient],
) -> VerifiedEntry {
    use customs_protocol::envelope::{envelope_aad, seal};
    let aad = envelope_aad(NETWORK, &key.public_key(), seq);
    let mut rng = samples::DeterministicRng::new(seq);
    let envelope = seal(&record, recipients, NETWORK, &aad, &mut rng).expect("seals");
    sign(key, seq, prev, Body::Sealed(envelope), NOW_MS + seq)
}

fn opening(n: u8) -> customs_protocol::envelope::OpeningKey {
    customs_protocol::envelope::OpeningKey::from_secret(&[n; 32]).expect("a secret")
}

fn to_node(n: u8) -> customs_protocol::envelope::Recipient {
    customs_protocol::envelope::Recipient::node(opening(n).public_key())
}

/// NL (key 1), BE (key 2) and DE (key 3) as a network of static member lists.
fn three_members() -> std::sync::Arc<customs_protocol::Membership> {
    std::sync::Arc::new(customs_protocol::Membership::fixed(
        NETWORK,
        [("NL", 1), ("BE", 2), ("DE", 3)].map(|(code, n)| {
            (
                code.to_string(),
                code.to_string(),
                key(n).public_key(),
                Vec::new(),
            )
        }),
    ))
}

fn group_update(epoch: u32, members: &[&str], secret: [u8; 32]) -> customs_protocol::GroupUpdate {
    customs_protocol::GroupUpdate {
        id: customs_protocol::GroupId([5; 16]),
        epoch,
        name: "Operation Marble".into(),
        purpose: "Heroin in stone shipments".into(),
        members: members.iter().map(|m| m.to_string()).collect(),
        starts_on: Date::new(2026, 11, 1),
        ends_on: Date::new(2099, 1, 31),
        secret,
    }
}

fn sealed_to_group(
    key: &SecretKey,
    seq: u64,
    prev: Option<EntryId>,
    epoch: u32,
    secret: &[u8; 32],
    n: u64,
) -> VerifiedEntry {
    use customs_protocol::{Distribution, GroupId, GroupRef, Markings, Sealed};
    sealed(
        key,
        seq,
        prev,
        Sealed {
            distribution: Distribution::Group(GroupRef {
                id: GroupId([5; 16]),
                epoch,
            }),
            markings: Markings::default(),
            body: Body::RiskAlert(alert(n)),
            attachments: Vec::new(),
        },
        &[customs_protocol::envelope::Recipient::group(secret)],
    )
}

fn sealed_group_update(
    key: &SecretKey,
    seq: u64,
    prev: Option<EntryId>,
    update: customs_protocol::GroupUpdate,
    to: u8,
) -> VerifiedEntry {
    use customs_protocol::{Distribution, Markings, Sealed};
    sealed(
        key,
        seq,
        prev,
        Sealed {
            distribution: Distribution::To(vec!["BE".into()]),
            markings: Markings::default(),
            body: Body::Group(update),
            attachments: Vec::new(),
        },
        &[to_node(to)],
    )
}

/// Only the owner's updates give a node group keys: a member of the group that signs
/// a next epoch with a secret of its own choosing (to read what others address to
/// "the group" from then on) gives nobody that key, and records sealed to it stay
/// closed; the owner's own next epoch counts.
#[test]
fn only_the_owners_updates_give_group_keys() {
    let (owner, member) = (key(1), key(3));
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(&dir);
    store.set_opening_keys(vec![opening(20)]).expect("keys");
    store.set_membership(three_members()).expect("membership");
    let founding = sealed_group_update(
        &owner,
        1,
        None,
        group_update(0, &["NL", "BE", "DE"], [9; 32]),
        20,
    );
    store.ingest(vec![founding.clone()]).expect("ingests");
    assert_eq!(store.group_key_counts(), (1, 0));
    // DE signs "epoch 1" of NL's group, sealed to BE's node.
    let forged = sealed_group_update(
        &member,
        1,
        None,
        group_update(1, &["NL", "BE", "DE"], [66; 32]),
        20,
    );
    let to_forged = sealed_to_group(&key(2), 1, None, 1, &[66; 32], 1);
    store
        .ingest(vec![forged.clone(), to_forged.clone()])
        .expect("ingests");
    assert!(
        store.readable(forged.signed()).expect("reads").is_some(),
        "the update itself is addressed to BE"
    );
    assert_eq!(store.group_key_counts(), (1, 0), "no key from a non-owner");
    assert_eq!(store.readable(to_forged.signed()).expect("reads"), None);
    // NL's own epoch 1 counts: epoch 0 becomes an older key, found by tag only.
    let next = sealed_group_update(
        &owner,
        2,
        Some(founding.id()),
        group_update(1, &["NL", "BE"], [10; 32]),
        20,
    );
    let to_next = sealed_to_group(&key(2), 2, Some(to_forged.id()), 1, &[10; 32], 2);
    store.ingest(vec![to_next.clone(), next]).expect("ingests");
    assert_eq!(store.group_key_counts(), (1, 1));
    assert!(store.readable(to_next.signed()).expect("reads").is_some());
    store.check().expect("the store checks");
}

/// An author whose sealed entries cost more than its budget has them stored
/// unopened (deferred), not refused, and counted; a budget refills with time.
#[test]
fn sealed_entries_over_their_authors_budget_wait() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = StoreConfig::new(dir.path().join("store"), NETWORK);
    // One 8-slot envelope with one node key.
    config.decrypt_trials_per_author_per_hour = 8;
    let store = Store::open(config).expect("opens");
    store.set_opening_keys(vec![opening(20)]).expect("keys");
    let record = |n| customs_protocol::Sealed {
        distribution: customs_protocol::Distribution::To(vec!["BE".into()]),
        markings: Default::default(),
        body: Body::RiskAlert(alert(n)),
        attachments: Vec::new(),
    };
    let first = sealed(&key(1), 1, None, record(1), &[to_node(20)]);
    let second = sealed(&key(1), 2, Some(first.id()), record(2), &[to_node(20)]);
    let other = sealed(&key(2), 1, None, record(3), &[to_node(20)]);
    store.ingest(vec![first.clone()]).expect("ingests");
    store
        .ingest(vec![second.clone(), other.clone()])
        .expect("ingests");
    assert!(store.readable(first.signed()).expect("reads").is_some());
    assert_eq!(
        store.readable(second.signed()).expect("reads"),
        None,
        "over budget"
    );
    assert!(
        store.readable(other.signed()).expect("reads").is_some(),
        "another author's budget is its own"
    );
    assert_eq!(store.decryption_deferred_total(), 1);
    assert_eq!(store.counts().entries, 3, "stored, not refused");
    // The same bucket an hour on holds a full hour's budget again.
    let mut budget = sealed::DecryptionBudget::new(8);
    let start = std::time::Instant::now();
    assert!(budget.charge(&key(1).public_key(), 8, start));
    assert!(!budget.charge(&key(1).public_key(), 8, start));
    assert!(!budget.charge(
        &key(1).public_key(),
        8,
        start + std::time::Duration::from_secs(1800)
    ));
    assert!(budget.charge(
        &key(1).public_key(),
        8,
        start + std::time::Duration::from_secs(3600)
    ));
    // An envelope costlier than the whole budget waits for a full bucket, then opens.
    assert!(budget.charge(&key(2).public_key(), 256, start));
    assert!(!budget.charge(
        &key(2).public_key(),
        1,
        start + std::time::Duration::from_secs(3600)
    ));
    store.check().expect("the store checks");
}

/// A record to a group that arrives before the group's key (another author's entry,
/// synced first) is stored unread and opened as soon as the key arrives; a node that
/// is not in the group holds neither plaintext nor group rows; both stores check.
#[test]
fn a_sealed_record_opens_when_its_group_key_arrives_later() {
    use customs_protocol::{Distribution, GroupId, GroupRef, Markings, Sealed};
    let (owner, member) = (key(1), key(2));
    let secret = [9u8; 32];
    let update = group_update(0, &["NL", "BE"], secret);
    let definition = sealed(
        &owner,
        1,
        None,
        Sealed {
            distribution: Distribution::To(vec!["BE".into()]),
            markings: Markings::default(),
            body: Body::Group(update),
            attachments: Vec::new(),
        },
        &[to_node(20)],
    );
    let record = sealed(
        &member,
        1,
        None,
        Sealed {
            distribution: Distribution::Group(GroupRef {
                id: GroupId([5; 16]),
                epoch: 0,
            }),
            markings: Markings::default(),
            body: Body::RiskAlert(alert(77)),
            attachments: Vec::new(),
        },
        &[customs_protocol::envelope::Recipient::group(&secret)],
    );

    let recipient_dir = tempfile::tempdir().expect("tempdir");
    let recipient = open(&recipient_dir);
    recipient.set_opening_keys(vec![opening(20)]).expect("keys");
    recipient
        .set_membership(three_members())
        .expect("membership");
    recipient.ingest(vec![record.clone()]).expect("ingests");
    assert_eq!(recipient.readable(record.signed()).expect("reads"), None);
    let page = recipient
        .alerts(&AlertFilter::default(), None, 10)
        .expect("lists");
    assert!(page.items.is_empty(), "nothing readable yet");
    recipient.ingest(vec![definition.clone()]).expect("ingests");
    let readable = recipient
        .readable(record.signed())
        .expect("reads")
        .expect("opened once the group key arrived");
    assert_eq!(readable.body, Body::RiskAlert(alert(77)));
    let page = recipient
        .alerts(&AlertFilter::default(), None, 10)
        .expect("lists");
    assert_eq!(page.items.len(), 1);
    recipient.check().expect("the recipient's store checks");

    let outsider_dir = tempfile::tempdir().expect("tempdir");
    let outsider = open(&outsider_dir);
    outsider.set_opening_keys(vec![opening(30)]).expect("keys");
    outsider
        .ingest(vec![record.clone(), definition.clone()])
        .expect("ingests");
    assert_eq!(outsider.readable(record.signed()).expect("reads"), None);
    assert_eq!(outsider.readable(definition.signed()).expect("reads"), None);
    assert!(outsider.group_updates().expect("groups").is_empty());
    outsider.check().expect("the outsider's store checks");
    drop(outsider);
    // The keys of a later start (a rotation, an import opened offline) open what the
    // earlier ones could not.
    let outsider = open(&outsider_dir);
    outsider.set_opening_keys(vec![opening(20)]).expect("keys");
    outsider
        .set_membership(three_members())
        .expect("membership");
    assert!(outsider.readable(record.signed()).expect("reads").is_some());
    outsider.check().expect("the store checks after reopening");
}

/// The node directory a node of 2026-11-30 wrote (format v2): six entries of NL's node
/// key: four alerts (one sealed to NL), an AEO record and a retraction.
fn v2_store(dir: &tempfile::TempDir) -> (StoreConfig, PathBuf) {
    fixture_store(dir, "node-2026-11-30.tar.gz")
}

/// The node directory of `v2_store` after the node of 2026-12-01 ran it (format v3):
/// upgraded, then one more alert (FIXTURE-4, seq 7) and a webhook.
fn v3_store(dir: &tempfile::TempDir) -> (StoreConfig, PathBuf) {
    fixture_store(dir, "node-2026-12-01.tar.gz")
}

fn fixture_store(dir: &tempfile::TempDir, name: &str) -> (StoreConfig, PathBuf) {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures")
        .join(name);
    let status = std::process::Command::new("tar")
        .args(["xzf", fixture.to_str().expect("utf-8"), "-C"])
        .arg(dir.path())
        .status()
        .expect("tar runs");
    assert!(status.success());
    let path = dir.path().join("nl/store");
    let network = std::fs::read_to_string(dir.path().join("nl/node.toml"))
        .expect("node.toml")
        .lines()
        .find_map(|l| {
            l.strip_prefix("network = \"")
                .map(|n| n.trim_end_matches('"').to_string())
        })
        .expect("network");
    (StoreConfig::new(&path, network), path)
}

fn fixture_ids(store: &Store) -> Vec<EntryId> {
    let mut ids = Vec::new();
    for head in store.frontier().expect("frontier").heads() {
        let page = store
            .entries_from(&head.author, 1, usize::MAX, usize::MAX)
            .expect("page");
        assert_eq!(page.entries.len() as u64, head.seq);
        ids.extend(page.entries.iter().map(|e| e.id()));
    }
    ids
}

#[test]
fn a_v2_store_is_upgraded_in_place_losing_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (config, path) = v2_store(&dir);
    assert!(migrate::upgrade_needed(&path));
    // Node-local state (the notifier's tree) is kept too.
    {
        let old = sled::open(&path).expect("the v2 database");
        let tree = old.open_tree("notify").expect("tree");
        tree.insert(b"watch-list", &b"kept"[..]).expect("insert");
        old.flush().expect("flush");
    }
    let store = Store::open(config.clone()).expect("upgrades");
    let local = LocalState::new(store.clone(), "notify");
    assert_eq!(
        local.get(b"watch-list").expect("read").as_deref(),
        Some(&b"kept"[..])
    );
    drop(local);
    assert!(!migrate::upgrade_needed(&path));
    let report = store.check().expect("consistent");
    assert_eq!(
        (report.entries, report.risk_alerts, report.retractions),
        (6, 4, 1)
    );
    let ids = fixture_ids(&store);
    assert_eq!(ids.len(), 6);
    // The retraction still withdraws its target, and the old store is gone.
    assert_eq!(store.counts().retractions, 1);
    assert!(!dir.path().join("nl/store.v2").exists());
    assert!(!dir.path().join("nl/store.upgrading").exists());
    drop(store);
    let store = Store::open(config).expect("opens again");
    assert_eq!(fixture_ids(&store), ids);
}

#[test]
fn an_interrupted_or_failed_upgrade_leaves_a_usable_store() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (config, path) = v2_store(&dir);
    let upgrading = dir.path().join("nl/store.upgrading");
    // Something in the way of the new store: the upgrade fails, the old store stays.
    std::fs::write(&upgrading, b"in the way").expect("write");
    let error = Store::open(config.clone()).expect_err("cannot upgrade");
    assert!(
        error.to_string().contains("the old store is untouched"),
        "{error}"
    );
    assert!(migrate::upgrade_needed(&path));
    std::fs::remove_file(&upgrading).expect("remove");
    // A half-built new store from a crash is thrown away and built again.
    std::fs::create_dir_all(upgrading.join("segments")).expect("mkdir");
    std::fs::write(upgrading.join("segments/00000000.log"), b"torn").expect("write");
    let ids = {
        let store = Store::open(config.clone()).expect("upgrades");
        fixture_ids(&store)
    };
    assert_eq!(ids.len(), 6);
    // A crash between the two renames: the old store moved aside, the finished new
    // one not yet in place. The next open puts it there.
    let fresh = tempfile::tempdir().expect("tempdir");
    let (_, old_path) = v2_store(&fresh);
    std::fs::rename(&path, &upgrading).expect("rename");
    std::fs::write(upgrading.join("upgrade-complete"), b"").expect("mark");
    std::fs::rename(&old_path, dir.path().join("nl/store.v2")).expect("rename");
    let store = Store::open(config).expect("finishes the swap");
    assert_eq!(fixture_ids(&store), ids);
    assert!(!dir.path().join("nl/store.v2").exists());
    store.check().expect("consistent");
}

/// The format row of the index at `path`, read without upgrading it.
fn index_format(path: &Path) -> Vec<u8> {
    let db = index::Db::open(path, 1 << 20).expect("the index opens");
    db.get(META_FORMAT)
        .expect("read")
        .expect("a format")
        .to_vec()
}

#[test]
fn a_v3_store_is_upgraded_in_place_losing_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (config, path) = v3_store(&dir);
    assert_eq!(index_format(&path), FORMAT_V3);
    let store = Store::open(config.clone()).expect("upgrades");
    assert!(!path.join("index.v3").exists());
    assert!(!path.join("index.upgrading").exists());
    let report = store.check().expect("consistent");
    assert_eq!(
        (
            report.entries,
            report.risk_alerts,
            report.aeo_records,
            report.retractions
        ),
        (7, 5, 1, 1)
    );
    let ids = fixture_ids(&store);
    assert_eq!(ids.len(), 7);
    // The webhook (in the notifier's node-local tree, rows `h...`) is kept.
    let notify = LocalState::new(store.clone(), "notify");
    assert_eq!(notify.count(b"h").expect("count"), 1);
    drop(notify);
    // Arrival rows now point at frames and still name the same records.
    let arrivals = store.arrivals_after(None, 100).expect("arrivals");
    assert!(!arrivals.is_empty());
    for arrival in &arrivals {
        let id = arrival.entry.id();
        assert!(ids.contains(&id), "arrival {id} is not a fixture entry");
    }
    // Summaries name their author by number: the filter by key still finds them.
    let author = store
        .frontier()
        .expect("frontier")
        .heads()
        .next()
        .expect("a head")
        .author;
    let by_author = AlertFilter {
        author: Some(vec![author]),
        ..AlertFilter::default()
    };
    let page = store.alerts(&by_author, None, 100).expect("alerts");
    assert_eq!(page.items.len(), 4, "five alerts, one retracted");
    let other = AlertFilter {
        author: Some(vec![PublicKey([7; 32])]),
        ..AlertFilter::default()
    };
    assert!(store
        .alerts(&other, None, 100)
        .expect("alerts")
        .items
        .is_empty());
    drop(store);
    assert_eq!(index_format(&path), FORMAT);
    let store = Store::open(config).expect("opens again");
    assert_eq!(fixture_ids(&store), ids);
}

#[test]
fn an_interrupted_or_failed_index_upgrade_leaves_a_usable_store() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (config, path) = v3_store(&dir);
    let upgrading = path.join("index.upgrading");
    // Something in the way of the new index: the upgrade fails, the old one stays.
    std::fs::write(&upgrading, b"in the way").expect("write");
    let error = Store::open(config.clone()).expect_err("cannot upgrade");
    assert!(
        error.to_string().contains("the old store is untouched"),
        "{error}"
    );
    assert_eq!(index_format(&path), FORMAT_V3);
    std::fs::remove_file(&upgrading).expect("remove");
    // A crash between the two renames: the old index moved aside, the finished new
    // one not yet in place. The next open puts it there.
    let ids = {
        let store = Store::open(config.clone()).expect("upgrades");
        fixture_ids(&store)
    };
    let fresh = tempfile::tempdir().expect("tempdir");
    let (_, old_path) = v3_store(&fresh);
    std::fs::rename(path.join("index"), &upgrading).expect("rename");
    std::fs::write(upgrading.join("upgrade-complete"), b"").expect("mark");
    std::fs::rename(old_path.join("index"), path.join("index.v3")).expect("rename");
    let store = Store::open(config.clone()).expect("finishes the swap");
    assert_eq!(fixture_ids(&store), ids);
    assert!(!path.join("index.v3").exists());
    store.check().expect("consistent");
    drop(store);
    // A crash before the new index was complete: the old one is put back and
    // upgraded again.
    std::fs::rename(path.join("index"), &upgrading).expect("rename");
    let second = tempfile::tempdir().expect("tempdir");
    let (_, again) = v3_store(&second);
    std::fs::rename(again.join("index"), path.join("index.v3")).expect("rename");
    let store = Store::open(config.clone()).expect("upgrades again");
    assert_eq!(fixture_ids(&store), ids);
    assert!(!upgrading.exists());
    drop(store);
    // A crash after both renames, before the old index was removed: it is removed.
    let third = tempfile::tempdir().expect("tempdir");
    let (_, left) = v3_store(&third);
    std::fs::rename(left.join("index"), path.join("index.v3")).expect("rename");
    let store = Store::open(config).expect("opens");
    assert!(!path.join("index.v3").exists());
    assert_eq!(fixture_ids(&store), ids);
}
