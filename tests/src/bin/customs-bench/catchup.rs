//! Benchmarks 4 and 7: catch-up after an outage, and the same entries through
//! Hypercore.
//!
//! A node was offline while 10 authors published K entries; it starts (a
//! `customs-node run` process with an empty store) and catches up from a member that
//! holds them. Timed from spawning the process to holding all K, in the same run as
//! Hypercore replicating the same K entries (as blocks) between two processes.

use std::time::{Duration, Instant};

use customs_protocol::VerifiedEntry;

use crate::data::{self, Scale};
use crate::hypercore::Hypercore;
use crate::nodes::{self, Env, Member, NodeProcess};
use crate::report::{per_second, ratio, thousands, Report, Row};

const AUTHORS: usize = 10;
/// Longest a catch-up may take before the benchmark gives up.
const CATCH_UP_DEADLINE: Duration = Duration::from_secs(900);

pub fn run(env: &Env, scale: &Scale, report: &mut Report) -> anyhow::Result<()> {
    let hypercore = Hypercore::install()?;
    report.section(
        "4 and 7. Catch-up after an outage, beside Hypercore",
        &[
            format!("{AUTHORS} authors (members) published K entries while a node was offline; a member node holding them serves; the offline node starts with an empty store and dials it (two `customs-node run` processes, loopback)"),
            "time: from spawning the lagging process to it holding all K entries (its status, polled every 20 ms); bytes: the sync messages it received, framing included (`customs_sync_received_bytes_total`)".into(),
            format!("Hypercore {}: a writer process appends the same K signed entries as blocks to a core on disk, a reader process with an empty core connects over TCP and downloads every block (then checks them all); time from the reader's process start to its last block stored, bytes as read from its socket", hypercore.version),
        ],
    );
    let authors = nodes::author_members(AUTHORS);
    for &k in &scale.catchup_entries {
        let entries = data::signed_entries(AUTHORS, k / AUTHORS)?;
        let k = entries.len();
        let blocks: Vec<Vec<u8>> = entries.iter().map(VerifiedEntry::encode).collect();
        let mean = blocks.iter().map(Vec::len).sum::<usize>() as f64 / k as f64;
        let dir = env.dir(&format!("catchup-{k}"))?;

        // Rounds of ours and Hypercore's back to back: the machine's speed drifts
        // (other tenants), and Hypercore's own time swings by half from run to run.
        let mut rounds = Vec::with_capacity(scale.catchup_rounds);
        for round in 0..scale.catchup_rounds.max(1) {
            let round_dir = dir.join(format!("round-{round}"));
            std::fs::create_dir_all(&round_dir)?;
            let ours = catch_up(env, &round_dir, &authors, &entries)?;
            let theirs = hypercore.replicate(&round_dir.join("hypercore"), &blocks)?;
            std::fs::remove_dir_all(&round_dir)?;
            let faster = theirs.since_start.as_secs_f64() / ours.converge.as_secs_f64();
            rounds.push((faster, ours, theirs));
        }
        rounds.sort_by(|a, b| a.0.total_cmp(&b.0));
        let (lowest, highest) = (rounds[0].0, rounds[rounds.len() - 1].0);
        let (_, ours, theirs) = rounds.swap_remove(rounds.len() / 2);
        let per_entry = ours.bytes as f64 / k as f64;
        report.row(Row::new(
            format!("catch-up of {} entries", thousands(k as f64)),
            format!(
                "**{:.2} s** ({}/s; node ready after {:.2} s); {} bytes received = {per_entry:.0} per entry; {} pages",
                ours.converge.as_secs_f64(),
                thousands(per_second(k, ours.converge)),
                ours.ready.as_secs_f64(),
                thousands(ours.bytes as f64),
                ours.pages
            ),
            format!("mean signed entry {mean:.0} bytes"),
            format!("**{}x** per entry (goal ≤ 1.2)", ratio(per_entry, mean)),
        ));

        report.row(Row::new(
            format!(
                "Hypercore {}, the same {} entries",
                hypercore.version,
                thousands(k as f64)
            ),
            format!(
                "{:.2} s from process start ({}/s; {:.2} s from connect to last block); {:.0} bytes read per entry",
                theirs.since_start.as_secs_f64(),
                thousands(per_second(k, theirs.since_start)),
                theirs.replicate.as_secs_f64(),
                theirs.bytes_read as f64 / k as f64
            ),
            format!("ours {:.2} s", ours.converge.as_secs_f64()),
            format!(
                "Hypercore time / ours = **{}** (above 1: we are faster; the median of {} rounds, {lowest:.2} to {highest:.2})",
                ratio(theirs.since_start.as_secs_f64(), ours.converge.as_secs_f64()),
                scale.catchup_rounds.max(1)
            ),
        ));
        if k == *scale.catchup_entries.iter().max().unwrap_or(&0) {
            let signed: usize = blocks.iter().map(Vec::len).sum();
            report.row(Row::new(
                format!(
                    "5. storage at {} entries (the caught-up node's store)",
                    thousands(k as f64)
                ),
                format!(
                    "{} bytes on disk per entry",
                    thousands(ours.store_bytes as f64 / k as f64)
                ),
                format!("signed size {mean:.0} bytes"),
                format!(
                    "**{}x** (goal ≤ 1.5)",
                    ratio(ours.store_bytes as f64, signed as f64)
                ),
            ));
        }
        std::fs::remove_dir_all(&dir)?;
    }
    Ok(())
}

struct CatchUp {
    converge: Duration,
    ready: Duration,
    bytes: u64,
    pages: u64,
    store_bytes: u64,
}

fn catch_up(
    env: &Env,
    dir: &std::path::Path,
    authors: &[Member],
    entries: &[VerifiedEntry],
) -> anyhow::Result<CatchUp> {
    let source_dir = dir.join("source");
    let lagging_dir = dir.join("lagging");
    let source_key = nodes::init_node(&source_dir, "SRC", 30_000)?;
    let lagging_key = nodes::init_node(&lagging_dir, "LAG", 30_000)?;
    let mut members = authors.to_vec();
    members.push(Member {
        code: "LAG".into(),
        key: lagging_key,
        addresses: Vec::new(),
    });
    nodes::write_members(&source_dir, &source_key, &members)?;
    nodes::fill_store(&source_dir, entries)?;
    let source = NodeProcess::start(env, &source_dir)?;

    members.pop();
    members.push(Member {
        code: "SRC".into(),
        key: source_key,
        addresses: vec![source.p2p_address()?],
    });
    nodes::write_members(&lagging_dir, &lagging_key, &members)?;
    let k = entries.len() as u64;
    let started = Instant::now();
    let mut lagging = NodeProcess::start(env, &lagging_dir)?;
    let ready = started.elapsed();
    lagging.wait("every entry", CATCH_UP_DEADLINE, |n| {
        Ok((n.entries()? >= k).then_some(()))
    })?;
    let converge = started.elapsed();
    let bytes = lagging.metric("customs_sync_received_bytes_total")? as u64;
    let pages = lagging.metric("customs_sync_requests_sent_total{kind=\"entries\"}")? as u64;
    anyhow::ensure!(
        lagging.entries()? == k,
        "the lagging node holds more than was published"
    );
    lagging.stop()?;
    source.stop()?;
    let store_bytes = nodes::dir_bytes(&lagging_dir.join(customs_node::config::STORE_DIR))?;
    Ok(CatchUp {
        converge,
        ready,
        bytes,
        pages,
        store_bytes,
    })
}
