//! The child of the crash test: writes to a store as fast as it can, own appends and
//! ingested batches from two other authors, and prints a line for every write that
//! returned (and so is acknowledged as durable):
//!
//!     ack <author hex> <seq> <entry id hex>
//!
//! It runs until it is killed. Usage: crash-writer STORE_DIR SEED

use std::io::Write;

use customs_node::publish::Publisher;
use customs_node::store::{Outcome, Store, StoreConfig};
use customs_protocol::body::{Retraction, RetractionReason};
use customs_protocol::{samples, Body, Entry, SecretKey, VerifiedEntry};

pub const NETWORK: &str = "customs-crash";

fn main() {
    let mut args = std::env::args().skip(1);
    let (Some(dir), Some(seed)) = (args.next(), args.next()) else {
        eprintln!("usage: crash-writer STORE_DIR SEED");
        std::process::exit(2);
    };
    let seed: u64 = seed.parse().unwrap_or(0);
    let store = match Store::open(StoreConfig::new(dir, NETWORK)) {
        Ok(store) => store,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    };
    let own = SecretKey::from_seed([1; 32]);
    // The writer is the first node of its network: it may sign before any sync.
    let publisher = Publisher::new(
        store.clone(),
        own.clone(),
        None,
        true,
        u64::MAX,
        customs_node::audit::Audit::disabled(),
    );
    let others = [SecretKey::from_seed([2; 32]), SecretKey::from_seed([3; 32])];
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let mut step = seed;
    loop {
        step = step
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let now_ms = 1_795_830_600_000 + (step >> 40);
        match (step >> 33) % 4 {
            0 | 1 => {
                let body = if (step >> 20).is_multiple_of(5) {
                    Body::AeoRecord(samples::aeo_record())
                } else {
                    Body::RiskAlert(samples::risk_alert())
                };
                append_and_report(&publisher, body, now_ms, &mut out);
            }
            2 => {
                // Retract the own head when it is an alert.
                let Ok(Some(head)) = store.head(&own.public_key()) else {
                    continue;
                };
                let Ok(Some(entry)) = store.get(&head.id) else {
                    continue;
                };
                if matches!(entry.entry().body, Body::RiskAlert(_))
                    && store.retracted_by(&head.id).ok().flatten().is_none()
                {
                    let body = Body::Retraction(Retraction {
                        target: head.id,
                        reason: RetractionReason::Superseded,
                        note: None,
                    });
                    append_and_report(&publisher, body, now_ms, &mut out);
                }
            }
            _ => {
                let author = &others[((step >> 17) % 2) as usize];
                let count = 1 + (step >> 24) % 20;
                let batch = next_entries(&store, author, count, now_ms);
                match store.ingest(batch) {
                    Ok(report) => {
                        for (entry, outcome) in report.applied.iter().zip(&report.outcomes) {
                            debug_assert_eq!(*outcome, Outcome::Applied);
                            let e = entry.entry();
                            let _ = writeln!(out, "ack {} {} {}", e.author, e.seq, entry.id());
                        }
                        let _ = out.flush();
                    }
                    Err(e) => eprintln!("ingest failed: {e}"),
                }
            }
        }
    }
}

fn append_and_report(publisher: &Publisher, body: Body, now_ms: u64, out: &mut impl Write) {
    match publisher.sign_and_store(body, now_ms) {
        Ok(entry) => {
            let e = entry.entry();
            let _ = writeln!(out, "ack {} {} {}", e.author, e.seq, entry.id());
            let _ = out.flush();
        }
        Err(e) => eprintln!("append failed: {e}"),
    }
}

/// The next `count` entries of another author's chain, as a peer would send them.
fn next_entries(store: &Store, key: &SecretKey, count: u64, now_ms: u64) -> Vec<VerifiedEntry> {
    let head = store.head(&key.public_key()).ok().flatten();
    let mut seq = head.map_or(0, |h| h.seq);
    let mut prev = head.map(|h| h.id);
    (0..count)
        .filter_map(|_| {
            seq += 1;
            let entry = Entry {
                network: NETWORK.into(),
                author: key.public_key(),
                seq,
                prev,
                created_at_ms: now_ms,
                markings: Default::default(),
                body: Body::RiskAlert(samples::risk_alert()),
                attachments: Vec::new(),
            };
            let signed = VerifiedEntry::sign(entry, key).ok()?;
            prev = Some(signed.id());
            Some(signed)
        })
        .collect()
}
