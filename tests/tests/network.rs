//! Multi-node behaviour with real swarms on loopback and real stores: every test waits
//! for a condition with a deadline.

use std::time::Duration;

use customs_protocol::{samples, Body};
use customs_tests::cluster::{self, wait_until};

const DEADLINE: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_entry_reaches_every_node_of_a_line() {
    let nodes = cluster::start(5).await;
    for i in 0..4 {
        cluster::connect(&nodes, i + 1, i).await;
    }
    let first = nodes[0]
        .node()
        .publish(Body::RiskAlert(samples::risk_alert()))
        .await
        .expect("publish");
    let last = nodes[4]
        .node()
        .publish(Body::AeoRecord(samples::aeo_record()))
        .await
        .expect("publish");
    wait_until("both entries on all five nodes", DEADLINE, || {
        nodes
            .iter()
            .all(|n| n.holds(&first.id()) && n.holds(&last.id()))
    })
    .await;
    for mut node in nodes {
        node.stop().await;
    }
}
