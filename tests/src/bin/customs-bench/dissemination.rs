//! Benchmark 3, dissemination: n `customs-node run` processes on loopback, every node a member
//! dialled by the later ones (a full mesh of connections, as a network of customs
//! administrations that all know each other's addresses). Publishers post alerts at a
//! steady rate, round-robin over the nodes; each node's live feed
//! (`GET /api/v1/events`) tells when it stored each entry. Latency is from the start
//! of the POST to the entry being stored on every node.

use std::collections::HashMap;
use std::io::{BufRead as _, BufReader};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use customs_tests::http::sample_alert;

use customs_node::client::ApiClient;
use customs_node::verify::available_threads;
use customs_protocol::{SignedEntry, VerifiedEntry};

use crate::data::{self, Scale};
use crate::ingest::verify_strict_rate;
use crate::nodes::{self, Env, NodeProcess, POLL_INTERVAL};
use crate::report::{ms, percentile, ratio, thousands, Report, Row};

/// Threads posting alerts; enough to keep the asked rate while some requests wait.
const PUBLISHER_THREADS: usize = 16;
/// How long after the last publish every entry must be stored everywhere to count as
/// delivered: far past gossip, well before the periodic catch-up (30 s).
const DELIVERY_DEADLINE: Duration = Duration::from_secs(10);
/// The gossipsub heartbeat: the time scale of lazy (IHAVE/IWANT) repair.
const HEARTBEAT: Duration = Duration::from_secs(1);

/// Entry id (hex) -> (node index, when its live feed showed it).
type Arrivals = Arc<Mutex<HashMap<String, Vec<(usize, Instant)>>>>;

struct Published {
    id: String,
    sent: Instant,
}

struct Step {
    asked: u32,
    achieved: f64,
    published: usize,
    delivered_pairs: usize,
    expected_pairs: usize,
    /// Per entry fully delivered: the time until the last node stored it, sorted.
    everywhere: Vec<Duration>,
}

impl Step {
    fn all_delivered(&self) -> bool {
        self.delivered_pairs == self.expected_pairs
    }
}

pub fn run(env: &Env, scale: &Scale, report: &mut Report) -> anyhow::Result<()> {
    report.section(
        "3. Dissemination: publish to stored on every node",
        &[
            "every node a separate `customs-node run` process on 127.0.0.1, its own store on disk; node i dials nodes 0..i, so every pair is connected (gossipsub keeps its mesh of up to 12 of them and the publisher floods its own entries)".into(),
            format!("{PUBLISHER_THREADS} publisher threads post the documented alert round-robin over the nodes at the asked rate for {:.0} s per step; a step counts as delivered when every published entry is stored on every node within {DELIVERY_DEADLINE:?} of the last publish", scale.dissemination_seconds),
            "latency: from the start of the POST to the entry being stored on the last of the nodes (its live feed), per entry".into(),
            format!("reference: the gossipsub heartbeat ({HEARTBEAT:?}), the time scale of lazy repair; the ratio is p99 / heartbeat"),
        ],
    );
    // The machine's verification capacity: every entry is verified by n - 1 nodes
    // sharing these cores, which bounds the rate whatever the network does.
    let sample: Vec<SignedEntry> = data::signed_entries(10, 300)?
        .into_iter()
        .map(VerifiedEntry::into_signed)
        .collect();
    let verify_rate = verify_strict_rate(&sample, available_threads())?;
    report.note(format!(
        "ceiling for the rate: `verify_strict` on every core of this machine, {}/s, shared by the n - 1 nodes that verify each entry",
        thousands(verify_rate)
    ));
    for &n in &scale.dissemination_nodes {
        run_network(env, scale, report, n, verify_rate)?;
    }
    Ok(())
}

fn run_network(
    env: &Env,
    scale: &Scale,
    report: &mut Report,
    n: usize,
    verify_rate: f64,
) -> anyhow::Result<()> {
    let dir = env.dir(&format!("dissemination-{n}"))?;
    let running = nodes::start_mesh(env, &dir, n)?;

    let arrivals: Arrivals = Arc::default();
    let feeds: Vec<_> = running
        .iter()
        .enumerate()
        .map(|(i, node)| follow_feed(i, node, arrivals.clone()))
        .collect::<anyhow::Result<_>>()?;

    // Warm-up: one entry from every node, stored everywhere, before measuring.
    let warm_up: Vec<Published> = (0..n)
        .map(|i| publish(&running[i].client(), &running[i]))
        .collect::<anyhow::Result<_>>()?;
    wait_delivered(
        &arrivals,
        &warm_up,
        n,
        Instant::now() + Duration::from_secs(60),
    );
    if count_pairs(&arrivals, &warm_up, n) < n * n {
        bail!("warm-up: not every node stored one entry from every other within 60 s");
    }

    let mut best: Option<f64> = None;
    let mut stopped_by = String::new();
    for (index, &rate) in scale.dissemination_rates.iter().enumerate() {
        let step = publish_at(&running, &arrivals, rate, scale.dissemination_seconds)?;
        let p50 = percentile(&step.everywhere, 50.0);
        let p99 = percentile(&step.everywhere, 99.0);
        let max = step.everywhere.last().copied().unwrap_or_default();
        report.row(Row::new(
            format!(
                "{n} nodes, {}/s asked{}",
                step.asked,
                if index == 0 { " (steady)" } else { "" }
            ),
            format!(
                "{}/s achieved ({} entries); p50 {}, p99 **{}**, max {}; stored {} / {} (entry, node) pairs",
                thousands(step.achieved),
                thousands(step.published as f64),
                ms(p50),
                ms(p99),
                ms(max),
                thousands(step.delivered_pairs as f64),
                thousands(step.expected_pairs as f64)
            ),
            format!("heartbeat {}", ms(HEARTBEAT)),
            format!("p99 = {:.3} of it", p99.as_secs_f64() / HEARTBEAT.as_secs_f64()),
        ));
        if !step.all_delivered() {
            stopped_by = format!("at {}/s asked, some entries were not stored everywhere within {DELIVERY_DEADLINE:?}", step.asked);
            break;
        }
        best = Some(best.map_or(step.achieved, |b: f64| b.max(step.achieved)));
        if step.achieved < 0.9 * f64::from(step.asked) {
            stopped_by = format!(
                "at {}/s asked the publishers reached only {}/s: the {n} node processes saturate the machine (every node verifies and flushes every entry, and each publish waits for its own flush)",
                step.asked,
                thousands(step.achieved)
            );
            break;
        }
    }
    if stopped_by.is_empty() {
        stopped_by = "every rate tried was delivered in full".into();
    }
    let ceiling = verify_rate / (n - 1) as f64;
    report.row(Row::new(
        format!("{n} nodes: highest rate with 100% delivery"),
        format!(
            "**{}/s**; {stopped_by}",
            best.map_or("none".into(), thousands)
        ),
        format!(
            "verification capacity / {}: {}/s",
            n - 1,
            thousands(ceiling)
        ),
        ratio(best.unwrap_or(0.0), ceiling),
    ));

    for node in running {
        node.stop()?;
    }
    for feed in feeds {
        let _ = feed.join();
    }
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}

/// Reads node `index`'s live feed on a thread, recording when each entry arrives.
fn follow_feed(
    index: usize,
    node: &NodeProcess,
    arrivals: Arrivals,
) -> anyhow::Result<std::thread::JoinHandle<()>> {
    // No timeout: the stream stays open until the node stops.
    let feed = ApiClient::new(&node.api, Some(node.token()), None)
        .stream("/api/v1/events")
        .context("opening the live feed")?;
    Ok(std::thread::spawn(move || {
        for line in BufReader::new(feed).lines() {
            let Ok(line) = line else { break };
            if let Some(id) = line.strip_prefix("id:") {
                let at = Instant::now();
                let mut map = arrivals.lock().expect("arrivals lock");
                map.entry(id.trim().to_string())
                    .or_default()
                    .push((index, at));
            }
        }
    }))
}

fn publish(client: &ApiClient, node: &NodeProcess) -> anyhow::Result<Published> {
    let sent = Instant::now();
    let json: serde_json::Value = client
        .post("/api/v1/alerts", &sample_alert())
        .with_context(|| format!("publishing on {}", node.api))?;
    let id = json["id"]
        .as_str()
        .context("201 without an id")?
        .to_string();
    Ok(Published { id, sent })
}

/// Publishes `rate` entries per second for `seconds`, then waits for delivery.
fn publish_at(
    nodes: &[NodeProcess],
    arrivals: &Arrivals,
    rate: u32,
    seconds: f64,
) -> anyhow::Result<Step> {
    let total = (f64::from(rate) * seconds).round() as usize;
    let next = AtomicUsize::new(0);
    let started = Instant::now();
    let published = crate::on_threads(PUBLISHER_THREADS, |_| {
        let clients: Vec<ApiClient> = nodes.iter().map(NodeProcess::client).collect();
        let mut mine = Vec::new();
        loop {
            let k = next.fetch_add(1, Ordering::Relaxed);
            if k >= total {
                return Ok(mine);
            }
            // Pacing: entry k is due k / rate seconds after the start.
            let due = started + Duration::from_secs_f64(k as f64 / f64::from(rate));
            if let Some(wait) = due.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
            let i = k % nodes.len();
            mine.push(publish(&clients[i], &nodes[i])?);
        }
    })?;
    let elapsed = started.elapsed();
    let n = nodes.len();
    wait_delivered(arrivals, &published, n, Instant::now() + DELIVERY_DEADLINE);
    let map = arrivals.lock().expect("arrivals lock");
    let mut everywhere = Vec::new();
    let mut delivered_pairs = 0;
    for entry in &published {
        let seen = map.get(&entry.id).map_or(&[][..], Vec::as_slice);
        let mut nodes_seen = vec![false; n];
        let mut last = Duration::ZERO;
        for &(node, at) in seen {
            if !nodes_seen[node] {
                nodes_seen[node] = true;
                delivered_pairs += 1;
                last = last.max(at.saturating_duration_since(entry.sent));
            }
        }
        if nodes_seen.iter().all(|&s| s) {
            everywhere.push(last);
        }
    }
    everywhere.sort();
    Ok(Step {
        asked: rate,
        achieved: published.len() as f64 / elapsed.as_secs_f64(),
        published: published.len(),
        delivered_pairs,
        expected_pairs: published.len() * n,
        everywhere,
    })
}

fn count_pairs(arrivals: &Arrivals, published: &[Published], n: usize) -> usize {
    let map = arrivals.lock().expect("arrivals lock");
    published
        .iter()
        .map(|e| {
            map.get(&e.id).map_or(0, |seen| {
                let mut nodes: Vec<usize> = seen.iter().map(|&(node, _)| node).collect();
                nodes.sort_unstable();
                nodes.dedup();
                nodes.len().min(n)
            })
        })
        .sum()
}

/// Waits until every published entry is stored on all `n` nodes, or `deadline`.
fn wait_delivered(arrivals: &Arrivals, published: &[Published], n: usize, deadline: Instant) {
    while count_pairs(arrivals, published, n) < published.len() * n && Instant::now() < deadline {
        std::thread::sleep(POLL_INTERVAL * 5);
    }
}
