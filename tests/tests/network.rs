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
    let early = nodes[2]
        .node()
        .publish(numbered_alert(0))
        .await
        .expect("publish");
    wait_until("the early entry everywhere", DEADLINE, || {
        nodes[..3].iter().all(|n| n.holds(&early.id()))
    })
    .await;

    nodes[2].stop().await;
    let mut last = None;
    for n in 1..=1000 {
        last = Some(
            nodes[0]
                .node()
                .publish(numbered_alert(n))
                .await
                .expect("publish"),
        );
    }
    let last = last.expect("published");
    wait_until("1000 entries on node 1", DEADLINE, || {
        nodes[1].holds(&last.id())
    })
    .await;
    assert!(nodes[2].node.is_none());

    nodes[2].restart().await;
    cluster::connect(&nodes, 2, 1).await;
    let expected = nodes[0].node().store.frontier().expect("frontier");
    wait_until(
        "the restarted node to reach the same frontier",
        DEADLINE,
        || {
            let store = &nodes[2].node().store;
            store.frontier().ok().as_ref() == Some(&expected) && store.counts().entries == 1001
        },
    )
    .await;
    nodes[2].node().store.check().expect("consistent");

    // A member that joins now, with an empty store, connected to one node only.
    nodes[3].restart().await;
    cluster::connect(&nodes, 3, 1).await;
    wait_until(
        "the late joiner to reach the same frontier",
        DEADLINE,
        || nodes[3].node().store.frontier().ok().as_ref() == Some(&expected),
    )
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
        left.push(
            nodes[n % 2]
                .node()
                .publish(numbered_alert(n))
                .await
                .expect("publish")
                .id(),
        );
        right.push(
            nodes[2 + n % 3]
                .node()
                .publish(numbered_alert(100 + n))
                .await
                .expect("publish")
                .id(),
        );
    }
    wait_until("each side to hold its own entries", DEADLINE, || {
        nodes[..2].iter().all(|n| left.iter().all(|id| n.holds(id)))
            && nodes[2..]
                .iter()
                .all(|n| right.iter().all(|id| n.holds(id)))
    })
    .await;
    assert!(!nodes[0].holds(&right[0]), "the sides are really apart");
    assert!(!nodes[4].holds(&left[0]), "the sides are really apart");

    cluster::connect(&nodes, 2, 1).await;
    wait_until("all five at one frontier", DEADLINE, || {
        let reference = nodes[0].node().store.frontier().ok();
        reference.as_ref().is_some_and(|f| f.len() == 5)
            && nodes
                .iter()
                .all(|n| n.node().store.frontier().ok() == reference)
    })
    .await;
    for mut node in nodes {
        node.stop().await;
    }
}

use customs_protocol::{Entry, SecretKey, VerifiedEntry};
use customs_tests::rogue::{Rogue, Seen};

fn entry_by(
    key: &SecretKey,
    seq: u64,
    prev: Option<customs_protocol::EntryId>,
    n: usize,
) -> VerifiedEntry {
    let entry = Entry {
        network: cluster::NETWORK.into(),
        author: key.public_key(),
        seq,
        prev,
        created_at_ms: customs_node::clock::now_ms(),
        markings: Default::default(),
        body: numbered_alert(n),
        attachments: Vec::new(),
    };
    VerifiedEntry::sign(entry, key).expect("signs")
}

/// Connects a rogue to a node and waits until gossip can flow.
async fn rogue_at(key: &SecretKey, node: &cluster::TestNode) -> Rogue {
    subscribed_rogue(Rogue::start(key, cluster::NETWORK), node).await
}

async fn subscribed_rogue(mut rogue: Rogue, node: &cluster::TestNode) -> Rogue {
    rogue.dial(node.address().await).await;
    let peer = customs_node::network::peer_id_of(&node.public_key()).expect("peer id");
    let subscribed = rogue
        .wait_for(DEADLINE, |s| matches!(s, Seen::Subscribed(p) if *p == peer))
        .await;
    assert!(
        subscribed.is_some(),
        "the rogue member never saw the node's subscription"
    );
    rogue
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_non_member_cannot_stay_connected() {
    let nodes = cluster::start(2).await;
    cluster::connect(&nodes, 1, 0).await;
    let stranger = SecretKey::from_seed([200; 32]);
    let mut rogue = Rogue::start(&stranger, cluster::NETWORK);
    rogue.dial(nodes[0].address().await).await;
    let refused = rogue
        .wait_for(DEADLINE, |s| {
            matches!(s, Seen::Closed(_) | Seen::DialFailed(_))
        })
        .await;
    assert!(refused.is_some(), "a non-member stayed connected");
    // It tries to push its entry anyway; nobody stores it.
    let entry = entry_by(&stranger, 1, None, 1);
    rogue.publish(entry.encode()).await;
    let marker = nodes[1]
        .node()
        .publish(numbered_alert(2))
        .await
        .expect("publish");
    wait_until("the members to keep working", DEADLINE, || {
        nodes[0].holds(&marker.id())
    })
    .await;
    assert!(nodes.iter().all(|n| !n.holds(&entry.id())));
    let status = nodes[0].node().client.status().await.expect("status");
    assert!(status
        .peers
        .iter()
        .all(|p| p.peer_id != rogue.peer_id.to_string()));
    for mut node in nodes {
        node.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_that_signs_its_gossip_is_refused_and_shows_in_the_status() {
    // Members 0..3; 0 runs a node, 2 is a member whose node signs gossip messages
    // (against SPEC.md section 11: messages are anonymous).
    let nodes = cluster::start_some(3, 1).await;
    let key = nodes[2].key.clone();
    let signing = subscribed_rogue(Rogue::start_signing(&key, cluster::NETWORK), &nodes[0]).await;
    let entry = entry_by(&key, 1, None, 1);
    let code = cluster::member_code(2);
    let client = nodes[0].node().client.clone();
    // gossipsub may drop a message published before the mesh forms: publish again
    // until the refusal is counted.
    cluster::eventually(
        "the signed message to be refused and counted",
        DEADLINE,
        || {
            let client = client.clone();
            let code = code.clone();
            let signing = &signing;
            let bytes = entry.encode();
            async move {
                signing.publish(bytes).await;
                let status = client.status().await.ok()?;
                let peer = status.peers.into_iter().find(|p| p.code == code)?;
                let counted = peer
                    .rejected
                    .get("GossipNotAnonymous")
                    .copied()
                    .unwrap_or(0);
                let total = status
                    .counters
                    .gossip_rejected
                    .get("GossipNotAnonymous")
                    .copied();
                (counted >= 1 && total >= Some(1)).then_some(())
            }
        },
    )
    .await;
    // The entry itself was valid, but nothing that came as signed gossip is stored.
    assert!(!nodes[0].holds(&entry.id()));
    for mut node in nodes {
        node.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_gossip_is_refused_and_its_relay_penalised() {
    // Members 0..4; 0 and 1 run nodes, 3 is the misbehaving relay, 2 replays.
    let nodes = cluster::start_some(4, 2).await;
    cluster::connect(&nodes, 1, 0).await;
    let relay_key = nodes[3].key.clone();
    let relay = rogue_at(&relay_key, &nodes[0]).await;

    let stranger = SecretKey::from_seed([200; 32]);
    let not_member = entry_by(&stranger, 1, None, 1);
    let good = entry_by(&relay_key, 1, None, 2);
    let mut forged = entry_by(&relay_key, 1, None, 3).encode();
    let last = forged.len() - 1;
    forged[last] ^= 0x01;
    let bytes = good.encode();
    let truncated = bytes[..bytes.len() / 2].to_vec();
    let oversized = vec![0x42u8; 100 * 1024];
    // The oversized one last: gossipsub drops the stream that carries it.
    for payload in [
        good.encode(),
        not_member.encode(),
        forged,
        truncated,
        oversized,
    ] {
        relay.publish(payload).await;
    }
    wait_until("the valid entry on both nodes", DEADLINE, || {
        nodes[..2].iter().all(|n| n.holds(&good.id()))
    })
    .await;
    let relay_code = cluster::member_code(3);
    let client = nodes[0].node().client.clone();
    cluster::eventually(
        "the relay's rejections to be counted and its score to drop",
        DEADLINE,
        || {
            let client = client.clone();
            let relay_code = relay_code.clone();
            async move {
                let status = client.status().await.ok()?;
                let peer = status.peers.into_iter().find(|p| p.code == relay_code)?;
                let counted = ["NotMember", "BadSignature", "Truncated"]
                    .iter()
                    .all(|reason| peer.rejected.get(*reason).copied().unwrap_or(0) >= 1);
                (counted && peer.score.is_some_and(|s| s < 0.0)).then_some(())
            }
        },
    )
    .await;

    // A replay of the valid entry from another member: not stored twice.
    let replayer = rogue_at(&nodes[2].key.clone(), &nodes[0]).await;
    replayer.publish(good.encode()).await;
    let marker = nodes[1]
        .node()
        .publish(numbered_alert(4))
        .await
        .expect("publish");
    wait_until("the node to keep working", DEADLINE, || {
        nodes[0].holds(&marker.id())
    })
    .await;
    for node in &nodes[..2] {
        assert!(!node.holds(&not_member.id()));
        assert_eq!(
            node.node().store.counts().entries,
            2,
            "the good entry once, and the marker"
        );
        node.node().store.check().expect("consistent");
    }
    for mut node in nodes {
        node.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn equivocation_leaves_a_fork_proof_on_every_node() {
    // Members 0..5; 0..4 run in a line, member 4 signs two different seq-1 entries.
    let nodes = cluster::start_some(5, 4).await;
    for i in 0..3 {
        cluster::connect(&nodes, i + 1, i).await;
    }
    let liar = nodes[4].key.clone();
    let one = entry_by(&liar, 1, None, 10);
    let other = entry_by(&liar, 1, None, 11);
    assert_ne!(one.id(), other.id());
    let at_first = rogue_at(&liar, &nodes[0]).await;
    at_first.publish(one.encode()).await;
    let at_last = rogue_at(&liar, &nodes[3]).await;
    at_last.publish(other.encode()).await;
    wait_until("a fork proof on every node", DEADLINE, || {
        nodes[..4].iter().all(|n| {
            n.node()
                .store
                .forks()
                .map(|f| f.len() == 1)
                .unwrap_or(false)
        })
    })
    .await;
    for node in &nodes[..4] {
        let proof = &node.node().store.forks().expect("forks")[0];
        assert_eq!(proof.author, liar.public_key());
        let ids = [proof.first.id(), proof.second.id()];
        assert!(ids.contains(&one.id()) && ids.contains(&other.id()));
    }
    for mut node in nodes {
        node.stop().await;
    }
}

/// A node that missed entries from more authors than it may have requests in flight
/// to one peer, several pages each, gets them all from the first exchange, without
/// waiting for the next sync round (here an hour away).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_catch_up_from_many_authors_needs_one_exchange() {
    const AUTHORS: usize = 3 * customs_node::network::MAX_REQUESTS_PER_PEER / 2;
    // Two pages per author.
    const PER_AUTHOR: u64 = customs_protocol::limits::MAX_PAGE_ENTRIES as u64 + 100;
    // Members 0 and 1 run nodes; members 2.. only sign (seeds as in the cluster).
    let mut nodes = cluster::start_some(2 + AUTHORS, 0).await;
    for node in &mut nodes[..2] {
        node.params.network.sync_interval = Duration::from_secs(3600);
    }
    nodes[0].restart().await;
    // Stored on node 0 directly, as if received while node 1 was away.
    let store = nodes[0].node().store.clone();
    for author in 2..2 + AUTHORS {
        let key = SecretKey::from_seed([author as u8 + 1; 32]);
        let mut chain: Vec<VerifiedEntry> = Vec::new();
        for seq in 1..=PER_AUTHOR {
            let prev = chain.last().map(VerifiedEntry::id);
            chain.push(entry_by(&key, seq, prev, author));
        }
        store.ingest(chain).expect("ingest");
    }
    drop(store);
    nodes[1].restart().await;
    cluster::connect(&nodes, 1, 0).await;
    wait_until("every author's entries on the other node", DEADLINE, || {
        nodes[1].node().store.counts().entries == PER_AUTHOR * AUTHORS as u64
    })
    .await;
    let expected = nodes[0].node().store.frontier().expect("frontier");
    assert_eq!(
        nodes[1].node().store.frontier().expect("frontier"),
        expected
    );
    for node in &mut nodes[..2] {
        node.stop().await;
    }
}
