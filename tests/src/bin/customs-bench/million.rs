//! A store of 1M entries from 200 authors, for benchmark 5 (bytes on disk per entry,
//! open-to-ready time), benchmark 4's small difference (a node missing one entry of
//! the 1M catches up: bytes exchanged, requests) and benchmark 6 (peak memory of the
//! node holding the 1M while it serves that catch-up, then a new node's full one).

use std::time::{Duration, Instant};

use anyhow::Context as _;
use customs_node::config::STORE_DIR;

use crate::data::{self, Scale};
use crate::nodes::{self, Env, Member, NodeProcess, FILL_BATCH};
use crate::report::{ms, per_second, ratio, thousands, Report, Row};

const CATCH_UP_DEADLINE: Duration = Duration::from_secs(1800);
/// Long enough that no periodic exchange runs during a measurement: only the
/// exchange every new connection starts.
const QUIET_SYNC_INTERVAL_MS: u64 = 3_600_000;

pub fn run(env: &Env, scale: &Scale, report: &mut Report) -> anyhow::Result<()> {
    let n = scale.million_entries;
    let author_count = scale.million_authors;
    let started = Instant::now();
    let mut entries = data::signed_entries(author_count, n / author_count)?;
    let n = entries.len();
    let signing = started.elapsed();
    // The last entry of author 0 goes last: the store without it is the lagging one.
    let last_key = data::author_key(0).public_key();
    let per_author = (n / author_count) as u64;
    let at = entries
        .iter()
        .position(|e| e.entry().author == last_key && e.entry().seq == per_author)
        .context("author 0's last entry")?;
    let last = entries.remove(at);
    entries.push(last);
    let signed: usize = data::signed_bytes(&entries);
    let mean = signed as f64 / n as f64;
    report.section(
        &format!("4, 5 and 6. A store of {} entries from {author_count} authors", thousands(n as f64)),
        &[
            format!("entries signed by the harness on every core in {:.1} s, mean {mean:.0} bytes signed", signing.as_secs_f64()),
            format!("the store is filled directly (entries already verified, group commit per {FILL_BATCH}), as if received earlier"),
        ],
    );

    let dir = env.dir("million")?;
    let full_dir = dir.join("full");
    let one_dir = dir.join("missing-one");
    let new_dir = dir.join("new");
    let full_key = nodes::init_node(&full_dir, "FULL", QUIET_SYNC_INTERVAL_MS)?;
    let one_key = nodes::init_node(&one_dir, "ONE", QUIET_SYNC_INTERVAL_MS)?;
    let new_key = nodes::init_node(&new_dir, "NEW", QUIET_SYNC_INTERVAL_MS)?;

    let fill = nodes::fill_store(&full_dir, &entries[..n - 1])?;
    nodes::copy_dir(&full_dir.join(STORE_DIR), &one_dir.join(STORE_DIR))?;
    nodes::fill_store(&full_dir, &entries[n - 1..])?;
    report.note(format!(
        "filled in {:.1} s ({}/s)",
        fill.as_secs_f64(),
        thousands(per_second(n - 1, fill))
    ));

    let store_bytes = nodes::dir_bytes(&full_dir.join(STORE_DIR))?;
    let segment_bytes = nodes::dir_bytes(&full_dir.join(STORE_DIR).join("segments"))?;
    report.row(Row::new(
        format!("5. storage at {} entries", thousands(n as f64)),
        format!(
            "{} bytes on disk per entry: {} in the segment files, {} in the index",
            thousands(store_bytes as f64 / n as f64),
            thousands(segment_bytes as f64 / n as f64),
            thousands((store_bytes - segment_bytes) as f64 / n as f64)
        ),
        format!("signed size {mean:.0} bytes"),
        format!(
            "**{}x** (goal ≤ 1.5)",
            ratio(store_bytes as f64, signed as f64)
        ),
    ));

    let opened = Instant::now();
    let store = nodes::open_store(&full_dir)?;
    let open_time = opened.elapsed();
    let held = store.counts().entries;
    drop(store);
    anyhow::ensure!(held == n as u64, "the store holds {held} of {n} entries");
    let closing = nodes::wait_store_closed(&full_dir)?;
    report.note(format!(
        "after the last handle was dropped, the index's background threads held the store for {} more",
        ms(closing)
    ));

    let authors = nodes::author_members(author_count);
    let node = |code: &str, key, addresses| Member {
        code: code.into(),
        key,
        addresses,
    };
    let mut members = authors.clone();
    members.push(node("ONE", one_key, Vec::new()));
    members.push(node("NEW", new_key, Vec::new()));
    nodes::write_members(&full_dir, &full_key, &members)?;
    let full = NodeProcess::start(env, &full_dir)?;
    report.row(Row::new(
        format!("5. open to ready, {} entries", thousands(n as f64)),
        format!(
            "store open {} in the harness; node process from spawn to `/readyz` {}",
            ms(open_time),
            ms(full.start_to_ready)
        ),
        "goal < 1 s".to_string(),
        format!(
            "**{}** of the goal (store open)",
            ratio(open_time.as_secs_f64(), 1.0)
        ),
    ));
    let rss_idle = full.peak_rss_bytes()?;

    // The small difference: one entry missing.
    let mut members = authors.clone();
    members.push(node("FULL", full_key, vec![full.p2p_address()?]));
    nodes::write_members(&one_dir, &one_key, &members)?;
    nodes::write_members(&new_dir, &new_key, &members)?;
    let started = Instant::now();
    let mut one = NodeProcess::start(env, &one_dir)?;
    one.wait("the missing entry", CATCH_UP_DEADLINE, |node| {
        Ok((node.entries()? == n as u64).then_some(()))
    })?;
    let converge = started.elapsed();
    // The dialing side starts an exchange; the other starts its own because the
    // first showed a difference: count both.
    let mut full = full;
    full.wait(
        "its own exchange with the new peer",
        CATCH_UP_DEADLINE,
        |node| Ok((node.metric("customs_sync_rounds_total")? >= 1.0).then_some(())),
    )?;
    let one_received = one.metric("customs_sync_received_bytes_total")?;
    let full_received = full.metric("customs_sync_received_bytes_total")?;
    let requests = |node: &NodeProcess| -> anyhow::Result<(f64, f64)> {
        Ok((
            node.metric("customs_sync_requests_sent_total{kind=\"frontier\"}")?,
            node.metric("customs_sync_requests_sent_total{kind=\"entries\"}")?,
        ))
    };
    let (one_frontier, one_pages) = requests(&one)?;
    let (full_frontier, full_pages) = requests(&full)?;
    let exchanged = one_received + full_received;
    report.row(Row::new(
        format!("4. small difference: 1 entry missing of {}", thousands(n as f64)),
        format!(
            "**{} bytes** of sync messages both ways ({} received by the lagging node, {} by the full one); lagging node sent {one_frontier} frontier request and {one_pages} page request = **{} round trips**; the full node's own exchange: {full_frontier} frontier request, {full_pages} pages (concurrent); converged {:.2} s after spawn (its store open and ready after {:.2} s)",
            thousands(exchanged),
            thousands(one_received),
            thousands(full_received),
            one_frontier + one_pages,
            converge.as_secs_f64(),
            one.start_to_ready.as_secs_f64()
        ),
        "goal ≤ 4,096 bytes and ≤ 2 round trips (negentropy: ~1.5 KB in 3)".to_string(),
        format!("{} of the byte goal", ratio(exchanged, 4096.0)),
    ));
    let rss_small = full.peak_rss_bytes()?;
    one.stop()?;

    // A new node catches up all of it from the full one.
    let started = Instant::now();
    let mut new = NodeProcess::start(env, &new_dir)?;
    new.wait("every entry", CATCH_UP_DEADLINE, |node| {
        Ok((node.entries()? >= n as u64).then_some(()))
    })?;
    let converge = started.elapsed();
    let rss_full = full.peak_rss_bytes()?;
    let rss_new = new.peak_rss_bytes()?;
    let new_received = new.metric("customs_sync_received_bytes_total")?;
    report.row(Row::new(
        format!(
            "4. catch-up of all {} entries by a new node",
            thousands(n as f64)
        ),
        format!(
            "{:.1} s ({}/s); {:.0} bytes received per entry",
            converge.as_secs_f64(),
            thousands(per_second(n, converge)),
            new_received / n as f64
        ),
        format!("mean signed entry {mean:.0} bytes"),
        format!("{}x per entry", ratio(new_received / n as f64, mean)),
    ));
    let mib = |b: u64| format!("{:.0} MiB", b as f64 / (1024.0 * 1024.0));
    report.row(Row::new(
        format!("6. peak RSS of the node holding {} entries", thousands(n as f64)),
        format!(
            "**{}** while serving the full catch-up ({} after open, {} after the small difference); the catching-up node peaked at {}",
            mib(rss_full),
            mib(rss_idle),
            mib(rss_small),
            mib(rss_new)
        ),
        format!("store on disk {}; index cache 64 MiB", mib(store_bytes)),
        format!("{} of the store's size", ratio(rss_full as f64, store_bytes as f64)),
    ));
    new.stop()?;
    full.stop()?;
    drop(entries);
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}
