//! Benchmark 9, hardening: what a node still does under attack and after a broken
//! network. An API flooded with idle and slowloris connections (health-check times); a
//! p2p port flooded with idle connections from 200 hosts while a member restarts (time
//! until it is back and in sync); five hosts in network namespaces cut 2 | 3 for 20 s
//! while both sides publish (time from the heal until every node holds everything).
//! Needs root, as the hardening tests do.

use std::time::Duration;

use customs_tests::faults::Lab;
use customs_tests::scenarios;

use crate::data::Scale;
use crate::nodes::Env;
use crate::report::{ms, percentile, Report, Row};

fn s(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}

pub fn run(env: &Env, scale: &Scale, report: &mut Report) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    report.section(
        "9. Hardening: floods and a partition",
        &[
            "release binaries as processes, default configuration unless said; the floods come from other loopback addresses (127.1.0.x), as other hosts".into(),
            format!(
                "API: {} idle connections over 4 addresses and 50 slowloris ones (a header byte every 500 ms), held and reopened when closed; {} sequential /healthz from 127.0.0.1, then one publish",
                scale.flood_connections, scale.flood_checks
            ),
            format!(
                "p2p: {} idle TCP connections from 200 addresses held on a member's p2p port; the other member is stopped, an alert published, the member started again",
                scale.flood_connections
            ),
            format!(
                "partition: 5 members in 5 network namespaces on one bridge; blackhole routes cut {{NL, BE}} from {{DE, FR, IT}} for {} s while NL and DE each publish one alert a second; {} runs",
                scale.partition_s, scale.partition_runs
            ),
        ],
    );

    let flood = runtime.block_on(scenarios::api_flood(
        &env.work_dir.join("api-flood"),
        scale.flood_connections,
        scale.flood_checks,
        10_000,
    ));
    anyhow::ensure!(
        flood.publish_status == 201,
        "the publish got {}",
        flood.publish_status
    );
    let mut times = flood.healthz.clone();
    times.sort();
    let at = |p: f64| percentile(&times, p);
    report.row(Row::new(
        format!("API flood: /healthz with {} connections held", flood.held),
        format!(
            "p50 {}, **p99 {}**, max {}; the publish 201; {} flood connections closed by the node ({} idle ones displaced)",
            ms(at(50.0)),
            ms(at(99.0)),
            ms(times[times.len() - 1]),
            flood.closed_by_node,
            flood.displaced
        ),
        "goal p99 < 100 ms".to_string(),
        format!("{:.3} of the goal", at(99.0).as_secs_f64() / 0.1),
    ));

    let mut backs = Vec::new();
    for run in 0..scale.p2p_runs {
        let flood = runtime.block_on(scenarios::p2p_flood(
            &env.work_dir.join(format!("p2p-flood-{run}")),
            scale.flood_connections,
        ));
        report.note(format!(
            "p2p flood run {}: {} connections open at the restart, {} closed by the node until the member was back: back and in sync {} after its process started",
            run + 1,
            flood.held,
            flood.closed_by_node,
            s(flood.back_in_sync)
        ));
        backs.push(flood.back_in_sync);
    }
    backs.sort();
    report.row(Row::new(
        "p2p flood: a restarted member back and in sync".to_string(),
        format!(
            "{} runs: min {}, median {}, **max {}** (from its process start: store open, listen, connect, sync)",
            backs.len(),
            s(backs[0]),
            s(backs[backs.len() / 2]),
            s(backs[backs.len() - 1])
        ),
        "goal ≤ 2 s".to_string(),
        format!("{:.2} of the goal (max)", backs[backs.len() - 1].as_secs_f64() / 2.0),
    ));

    let mut heals = Vec::new();
    for run in 0..scale.partition_runs {
        let took = scenarios::partition_heals(Lab::new(5), Duration::from_secs(scale.partition_s));
        report.note(format!(
            "partition run {}: every node converged {} after the heal",
            run + 1,
            s(took)
        ));
        heals.push(took);
    }
    heals.sort();
    report.row(Row::new(
        format!(
            "partition of 2 and 3 hosts for {} s: converged after the heal",
            scale.partition_s
        ),
        format!(
            "{} runs: min {}, median {}, **max {}**",
            heals.len(),
            s(heals[0]),
            s(heals[heals.len() / 2]),
            s(heals[heals.len() - 1])
        ),
        "goal ≤ 5 s in every run".to_string(),
        format!(
            "{:.2} of the goal (max)",
            heals[heals.len() - 1].as_secs_f64() / 5.0
        ),
    ));
    Ok(())
}
