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

fn numbered_alert(n: usize) -> Body {
    let mut alert = samples::risk_alert();
    alert.reference = format!("NL-2026-{n:06}");
    Body::RiskAlert(alert)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_node_catches_up_and_a_late_joiner_gets_everything() {
    // Four members; the fourth joins at the end.
    let mut nodes = cluster::start_some(4, 3).await;
    cluster::connect(&nodes, 1, 0).await;
    cluster::connect(&nodes, 2, 1).await;
    let early = nodes[2].node().publish(numbered_alert(0)).await.expect("publish");
    wait_until("the early entry everywhere", DEADLINE, || {
        nodes[..3].iter().all(|n| n.holds(&early.id()))
    })
    .await;

    nodes[2].stop().await;
    let mut last = None;
    for n in 1..=1000 {
        last = Some(nodes[0].node().publish(numbered_alert(n)).await.expect("publish"));
    }
    let last = last.expect("published");
    wait_until("1000 entries on node 1", DEADLINE, || nodes[1].holds(&last.id())).await;
    assert!(nodes[2].node.is_none());

    nodes[2].restart().await;
    cluster::connect(&nodes, 2, 1).await;
    let expected = nodes[0].node().store.frontier().expect("frontier");
    wait_until("the restarted node to reach the same frontier", DEADLINE, || {
        nodes[2].node().store.frontier().ok().as_ref() == Some(&expected)
    })
    .await;
    assert_eq!(nodes[2].node().store.counts().entries, 1001);

    // A member that joins now, with an empty store, connected to one node only.
    nodes[3].restart().await;
    cluster::connect(&nodes, 3, 1).await;
    wait_until("the late joiner to reach the same frontier", DEADLINE, || {
        nodes[3].node().store.frontier().ok().as_ref() == Some(&expected)
    })
    .await;
    nodes[3].node().store.check().expect("consistent");
    for mut node in nodes {
        node.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_healed_partition_converges() {
    let nodes = cluster::start(5).await;
    // Two sides: {0, 1} and {2, 3, 4}.
    cluster::connect(&nodes, 1, 0).await;
    cluster::connect(&nodes, 3, 2).await;
    cluster::connect(&nodes, 4, 3).await;
    let mut left = Vec::new();
    let mut right = Vec::new();
    for n in 0..20 {
        left.push(nodes[n % 2].node().publish(numbered_alert(n)).await.expect("publish").id());
        right.push(nodes[2 + n % 3].node().publish(numbered_alert(100 + n)).await.expect("publish").id());
    }
    wait_until("each side to hold its own entries", DEADLINE, || {
        nodes[..2].iter().all(|n| left.iter().all(|id| n.holds(id)))
            && nodes[2..].iter().all(|n| right.iter().all(|id| n.holds(id)))
    })
    .await;
    assert!(!nodes[0].holds(&right[0]), "the sides are really apart");
    assert!(!nodes[4].holds(&left[0]), "the sides are really apart");

    cluster::connect(&nodes, 2, 1).await;
    wait_until("all five at one frontier", DEADLINE, || {
        let reference = nodes[0].node().store.frontier().ok();
        reference.as_ref().is_some_and(|f| f.len() == 5)
            && nodes.iter().all(|n| n.node().store.frontier().ok() == reference)
    })
    .await;
    for mut node in nodes {
        node.stop().await;
    }
}
