//! What the benchmarks work on: their sizes, the authors' keys and pre-signed entries.

use customs_protocol::{samples, Body, Entry, EntryId, PublicKey, SecretKey, VerifiedEntry};

/// The network every benchmark node belongs to.
pub const NETWORK: &str = "customs-bench";

/// The sizes of one run: full (the issue's) or quick (a smoke test).
pub struct Scale {
    /// Entries for the ingest benchmark, and its rounds: each round measures the
    /// ceiling and the node's path back to back, so that both see the same machine.
    pub ingest_entries: usize,
    pub ingest_rounds: usize,
    /// Concurrent API clients, and how long each level runs.
    pub publish_clients: Vec<usize>,
    pub publish_seconds: f64,
    /// Node counts for dissemination, the steady rate and the rates tried after it.
    pub dissemination_nodes: Vec<usize>,
    pub dissemination_rates: Vec<u32>,
    pub dissemination_seconds: f64,
    /// Entries missed by a node that was offline (from 10 authors), and rounds of
    /// ours and Hypercore's back to back for each (the median round is reported).
    pub catchup_entries: Vec<usize>,
    pub catchup_rounds: usize,
    /// The large store: entries and authors.
    pub million_entries: usize,
    pub million_authors: usize,
    /// 8: members of the simulated networks.
    pub simulation_members: Vec<usize>,
    /// 9: connections of each flood, health checks during the API flood, restarts
    /// through the p2p flood, and partition runs and length.
    pub flood_connections: usize,
    pub flood_checks: usize,
    pub p2p_runs: usize,
    pub partition_runs: usize,
    pub partition_s: u64,
    /// 11: entries of the store the exports read (3 in 4 alerts).
    pub export_entries: usize,
}

impl Scale {
    pub fn full() -> Scale {
        Scale {
            ingest_entries: 100_000,
            ingest_rounds: 5,
            publish_clients: vec![1, 8, 32],
            publish_seconds: 5.0,
            dissemination_nodes: vec![5, 10, 20],
            dissemination_rates: vec![50, 100, 200, 400, 800],
            dissemination_seconds: 5.0,
            catchup_entries: vec![1_000, 10_000, 100_000],
            catchup_rounds: 3,
            million_entries: 1_000_000,
            million_authors: 200,
            simulation_members: vec![10, 50, 200],
            flood_connections: 1_000,
            flood_checks: 1_000,
            p2p_runs: 5,
            partition_runs: 10,
            partition_s: 20,
            export_entries: 20_000,
        }
    }

    pub fn quick() -> Scale {
        Scale {
            ingest_entries: 4_000,
            ingest_rounds: 2,
            publish_clients: vec![1, 4],
            publish_seconds: 0.5,
            dissemination_nodes: vec![3],
            dissemination_rates: vec![20, 40],
            dissemination_seconds: 1.0,
            catchup_entries: vec![500],
            catchup_rounds: 1,
            million_entries: 10_000,
            million_authors: 20,
            simulation_members: vec![10],
            flood_connections: 200,
            flood_checks: 50,
            p2p_runs: 1,
            partition_runs: 1,
            partition_s: 3,
            export_entries: 400,
        }
    }
}

/// Author `i`'s key: fixed, so that runs are repeatable.
pub fn author_key(i: usize) -> SecretKey {
    let mut seed = [0xA7; 32];
    seed[..8].copy_from_slice(&(i as u64).to_le_bytes());
    SecretKey::from_seed(seed)
}

/// A member code for author or node `i`: "A" then three letters (2 to 8 capitals).
pub fn member_code(prefix: char, i: usize) -> String {
    let letter = |n: usize| (b'A' + (n % 26) as u8) as char;
    format!("{prefix}{}{}{}", letter(i / 676), letter(i / 26), letter(i))
}

/// `per_author` entries from each of `authors` authors (3 in 4 the documented risk
/// alert, 1 in 4 the documented AEO record), in chain order per author, interleaved
/// across authors as a sync delivers them, signed on every core.
pub fn signed_entries(authors: usize, per_author: usize) -> anyhow::Result<Vec<VerifiedEntry>> {
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(authors)
        .max(1);
    // A little in the past, so that no node sees them as from the future.
    let created_from_ms = customs_node::clock::now_ms() - 3_600_000;
    let mut all = crate::on_threads(threads, |t| {
        let mut out = Vec::with_capacity(per_author * authors.div_ceil(threads));
        for a in (t..authors).step_by(threads) {
            let key = author_key(a);
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
                    created_at_ms: created_from_ms + seq,
                    markings: Default::default(),
                    body,
                    attachments: Vec::new(),
                };
                let signed = VerifiedEntry::sign(entry, &key)?;
                prev = Some(signed.id());
                out.push(signed);
            }
        }
        Ok(out)
    })?;
    all.sort_by_key(|e| (e.entry().seq, e.entry().author));
    Ok(all)
}

pub fn author_keys(authors: usize) -> Vec<PublicKey> {
    (0..authors).map(|a| author_key(a).public_key()).collect()
}

/// Total signed bytes of `entries`.
pub fn signed_bytes(entries: &[VerifiedEntry]) -> usize {
    entries.iter().map(|e| e.encode().len()).sum()
}
