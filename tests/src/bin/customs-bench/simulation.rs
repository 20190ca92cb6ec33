//! Benchmark 8: the sync core in the seeded network simulator. Rounds and bytes to
//! converge per member, at 10, 50 and 200 members, with 1% loss and a partition that
//! heals. No process, socket or disk: the figures are the protocol's own cost, which
//! the other benchmarks add the machine's to.

use std::time::Instant;

use customs_node::network::sync::sim::{self, SimConfig, SimReport};

use crate::data::Scale;
use crate::report::{Report, Row};

pub fn run(scale: &Scale, report: &mut Report) -> anyhow::Result<()> {
    let first = SimConfig::large(scale.simulation_members[0]);
    report.section(
        "8. Sync in the seeded simulator",
        &[
            format!(
                "every member publishes {} entries within {} s; a third of the members are cut off from {} s to {} s; {}‰ of messages lost and {}‰ duplicated, {} to {} ms per message; sync timer {} s; gossip mesh degree {}",
                first.entries_per_node,
                first.publish_window_ms / 1000,
                first.partition.map_or(0, |p| p.1 / 1000),
                first.partition.map_or(0, |p| p.2 / 1000),
                first.loss_per_mille,
                first.duplicate_per_mille,
                first.delay_min_ms,
                first.delay_max_ms,
                first.sync_interval_ms / 1000,
                first.gossip_degree,
            ),
            "every member is connected to every other (a full mesh of connections, as a customs network of members configured by hand is); bytes are sync frames with their 4-byte prefix and gossip payloads, received per member".into(),
            format!("seed {}: `cargo test -p customs-node --lib sim` replays the same runs", SEED),
        ],
    );
    for &members in &scale.simulation_members {
        let started = Instant::now();
        let result: SimReport = sim::run(SEED, &SimConfig::large(members))
            .map_err(|e| anyhow::anyhow!("the simulation failed: {e}"))?;
        let max = |v: &[u64]| v.iter().copied().max().unwrap_or(0);
        report.row(Row::new(
            format!("{members} members: converged after the heal"),
            format!(
                "{:.1} s (simulated)",
                result.converged_after_ms as f64 / 1000.0
            ),
            "the 30 s sync timer".to_string(),
            format!("{:.2}", result.converged_after_ms as f64 / 30_000.0),
        ));
        report.row(Row::new(
            format!("{members} members: frontier exchanges per member"),
            format!(
                "mean {:.1}, max {}",
                SimReport::mean(&result.rounds),
                max(&result.rounds)
            ),
            format!("{} connections per member", members - 1),
            format!(
                "{:.2}",
                SimReport::mean(&result.rounds) / (members - 1) as f64
            ),
        ));
        report.row(Row::new(
            format!("{members} members: sync bytes received per member"),
            format!(
                "mean {:.0}, max {}",
                SimReport::mean(&result.sync_bytes),
                max(&result.sync_bytes)
            ),
            format!(
                "gossip bytes received: mean {:.0}",
                SimReport::mean(&result.gossip_bytes)
            ),
            format!(
                "{:.2}",
                SimReport::mean(&result.sync_bytes)
                    / SimReport::mean(&result.gossip_bytes).max(1.0)
            ),
        ));
        report.note(format!(
            "{members} members: {} steps simulated in {:.1} s of wall time",
            result.steps,
            started.elapsed().as_secs_f64()
        ));
    }
    Ok(())
}

/// The seed of every run (fixed, so that the figures replay).
const SEED: u64 = 7;
