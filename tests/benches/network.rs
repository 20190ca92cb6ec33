//! Network benchmarks with real swarms on loopback and real stores, in one process:
//! 1. dissemination: publish-to-stored latency on every node at a steady rate, and the
//!    highest rate at which every node still stores everything;
//! 2. catch-up: a node that missed 10k entries restarts; time, and sync bytes received
//!    per missing entry against the entry's own size.
//!
//! Run: cargo bench -p customs-tests --bench network
//!      NET_BENCH_QUICK=1 cargo bench -p customs-tests --bench network   (smoke test)

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use customs_protocol::{samples, Body, EntryId};
use customs_tests::cluster::{self, TestNode};

fn alert(n: usize) -> Body {
    let mut alert = samples::risk_alert();
    alert.reference = format!("BENCH-{n:08}");
    Body::RiskAlert(alert)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// Ring with chords: node i dials i+1 and i+3 (mod n). Not all connected to all.
async fn connect_ring(nodes: &[TestNode]) {
    let n = nodes.len();
    for i in 0..n {
        cluster::connect(nodes, i, (i + 1) % n).await;
        if n > 4 {
            cluster::connect(nodes, i, (i + 3) % n).await;
        }
    }
}

/// Publishes `count` entries round-robin over the nodes at `rate` per second; returns
/// the per-node receive latencies and how many (entry, node) pairs were stored.
async fn run_rate(
    nodes: &[TestNode],
    rate: u64,
    count: usize,
    offset: usize,
) -> (Vec<Duration>, usize, usize, f64) {
    let published: Arc<Mutex<HashMap<EntryId, Instant>>> = Arc::default();
    let latencies: Arc<Mutex<Vec<Duration>>> = Arc::default();
    let mut listeners = Vec::new();
    for (i, node) in nodes.iter().enumerate() {
        let mut feed = node.node().client.subscribe();
        let published = published.clone();
        let latencies = latencies.clone();
        listeners.push(tokio::spawn(async move {
            loop {
                match feed.recv().await {
                    Ok(entry) => {
                        let at = Instant::now();
                        if let Some(sent) = published.lock().expect("lock").get(&entry.id()) {
                            if entry.entry().author != cluster_key(i) {
                                latencies.lock().expect("lock").push(at - *sent);
                            }
                        }
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(_) => break,
                }
            }
        }));
    }
    let interval = Duration::from_secs_f64(1.0 / rate as f64);
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut ids = Vec::new();
    let publishing = Instant::now();
    for n in 0..count {
        ticker.tick().await;
        let node = &nodes[n % nodes.len()];
        // Record the time before the publish call: latency includes signing and the flush.
        let started = Instant::now();
        let entry = node
            .node()
            .publish(alert(offset + n))
            .await
            .expect("publish");
        published.lock().expect("lock").insert(entry.id(), started);
        ids.push(entry.id());
    }
    let achieved = count as f64 / publishing.elapsed().as_secs_f64();
    // Grace period for the stragglers, then count what every node holds.
    let deadline = Instant::now() + Duration::from_secs(10);
    let total = ids.len() * nodes.len();
    let mut held = 0;
    while Instant::now() < deadline {
        held = nodes
            .iter()
            .map(|n| ids.iter().filter(|id| n.holds(id)).count())
            .sum();
        if held == total {
            break;
        }
        tokio::time::sleep(cluster::POLL_INTERVAL).await;
    }
    for listener in listeners {
        listener.abort();
    }
    let mut latencies = latencies.lock().expect("lock").clone();
    latencies.sort();
    (latencies, held, total, achieved)
}

fn cluster_key(i: usize) -> customs_protocol::PublicKey {
    customs_protocol::SecretKey::from_seed([i as u8 + 1; 32]).public_key()
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let quick = std::env::var_os("NET_BENCH_QUICK").is_some();
    let node_count = if quick { 4 } else { 10 };
    let nodes = cluster::start(node_count).await;
    connect_ring(&nodes).await;
    let mut offset;
    // Wait until every node sees all the connections it dialed or accepted.
    let links_per_node = if node_count > 4 { 4 } else { 2 };
    cluster::eventually("the ring to connect", Duration::from_secs(60), || async {
        for node in &nodes {
            let status = node.node().client.status().await.ok()?;
            if status.peers.iter().filter(|p| p.connected).count() < links_per_node {
                return None;
            }
        }
        Some(())
    })
    .await;

    let steady = if quick { 100 } else { 1000 };
    let (latencies, held, total, achieved) = run_rate(&nodes, 100, steady, 0).await;
    println!(
        "dissemination, {node_count} nodes, 100 entries/s (achieved {achieved:.0}/s), {steady} entries: p50 {:?} p99 {:?} max {:?} over {} deliveries; stored {held}/{total}",
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99),
        latencies.last().copied().unwrap_or_default(),
        latencies.len()
    );
    let mut best = 100;
    offset = steady;
    for rate in [200u64, 400, 800, 1600] {
        let count = (rate * if quick { 1 } else { 5 }) as usize;
        let (latencies, held, total, achieved) = run_rate(&nodes, rate, count, offset).await;
        offset += count;
        println!(
            "  {rate}/s (achieved {achieved:.0}/s) for {count} entries: p50 {:?} p99 {:?}; stored {held}/{total}",
            percentile(&latencies, 0.5),
            percentile(&latencies, 0.99)
        );
        if held == total {
            best = achieved as u64;
        } else {
            break;
        }
    }
    println!("highest achieved rate with 100% delivery: {best} entries/s (of the rates tried)");

    for mut node in nodes {
        node.stop().await;
    }

    // Catch-up, on a fresh pair: B is down while A publishes, then B restarts.
    let mut pair = cluster::start(2).await;
    let missed = if quick { 1000 } else { 10_000 };
    pair[1].stop().await;
    let mut size = 0usize;
    for n in 0..missed {
        let entry = pair[0]
            .node()
            .publish(alert(offset + n))
            .await
            .expect("publish");
        size += entry.encode().len();
    }
    let expected = pair[0].node().store.frontier().expect("frontier");
    let started = Instant::now();
    pair[1].restart().await;
    cluster::connect(&pair, 1, 0).await;
    // The wait is the measurement, to within one poll interval (20 ms).
    cluster::wait_until("the catch-up", Duration::from_secs(600), || {
        pair[1].node().store.frontier().ok().as_ref() == Some(&expected)
    })
    .await;
    let elapsed = started.elapsed();
    let bytes = pair[1]
        .node()
        .client
        .status()
        .await
        .expect("status")
        .sync_bytes_received;
    println!(
        "catch-up of {missed} entries: {:.2} s ({:.0} entries/s) from restart to the same frontier; {bytes} sync bytes received = {:.0} per entry; mean signed entry {:.0} bytes; ratio {:.3}",
        elapsed.as_secs_f64(),
        missed as f64 / elapsed.as_secs_f64(),
        bytes as f64 / missed as f64,
        size as f64 / missed as f64,
        bytes as f64 / size as f64
    );
    for mut node in pair {
        node.stop().await;
    }
}
