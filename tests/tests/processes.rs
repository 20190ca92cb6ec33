//! The real binary as separate OS processes: a node that was stopped (SIGTERM) while
//! another member published catches up after restarting on its data directory.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use customs_node::network::{NetworkConfig, Peer};
use customs_node::node::{Node, NodeParams};
use customs_node::store::{Store, StoreConfig};
use customs_protocol::{samples, Body, PublicKey, SecretKey};
use customs_tests::cluster::NETWORK;
use customs_tests::node_binary;

const DEADLINE: Duration = Duration::from_secs(90);

fn node_cli(args: &[&str]) -> String {
    let output = Command::new(node_binary())
        .args(args)
        .output()
        .expect("runs");
    assert!(output.status.success(), "{args:?}: {output:?}");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Starts `customs-node run` and forwards its log to the test's stderr.
fn run_process(dir: &Path) -> Child {
    let mut child = Command::new(node_binary())
        .args(["run", "--dir", dir.to_str().expect("utf-8")])
        .env("RUST_LOG", "info")
        .stderr(Stdio::piped())
        .spawn()
        .expect("node starts");
    let stderr = child.stderr.take().expect("stderr");
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            eprintln!("[process] {line}");
        }
    });
    child
}

/// SIGTERM, then the exit status must say the node stopped cleanly.
fn terminate(mut child: Child) {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let exit = child.wait().expect("exits");
    assert!(
        exit.success(),
        "the node did not shut down cleanly: {exit:?}"
    );
}

fn alert(n: usize) -> Body {
    let mut alert = samples::risk_alert();
    alert.reference = format!("NL-2026-{n:06}");
    Body::RiskAlert(alert)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_process_catches_up_on_its_data_dir() {
    let dir = tempfile::tempdir().expect("tempdir");
    let b_dir = dir.path().join("b");
    let b = b_dir.to_str().expect("utf-8");
    node_cli(&[
        "init",
        "--dir",
        b,
        "--code",
        "BE",
        "--name",
        "Belgian Customs",
        "--network",
        NETWORK,
        "--p2p-listen",
        "/ip4/127.0.0.1/tcp/0",
        "--api-listen",
        "127.0.0.1:0",
    ]);
    // Sync often in the test; everything else stays as init wrote it.
    let config_path = b_dir.join("node.toml");
    let config = std::fs::read_to_string(&config_path).expect("config");
    std::fs::write(
        &config_path,
        config.replace("sync_interval_ms = 30000", "sync_interval_ms = 500"),
    )
    .expect("write config");
    let card = node_cli(&["member", "export", "--dir", b]);
    let b_key = card
        .lines()
        .find_map(|l| l.strip_prefix("public_key = \""))
        .and_then(|k| PublicKey::from_hex(k.trim_end_matches('"')).ok())
        .expect("card has the key");

    // Member A runs in this process and publishes.
    let a_key = SecretKey::from_seed([1; 32]);
    let a_dir = dir.path().join("a");
    let a = Node::start(NodeParams {
        store: StoreConfig::new(a_dir.join("store"), NETWORK),
        network: NetworkConfig {
            key: a_key.clone(),
            code: "NL".into(),
            network: NETWORK.into(),
            listen: "/ip4/127.0.0.1/tcp/0".parse().expect("addr"),
            members: vec![Peer {
                code: "BE".into(),
                key: b_key,
                addresses: Vec::new(),
            }],
            sync_interval: Duration::from_millis(500),
            redial_interval: Duration::from_millis(500),
            max_clock_skew_ms: 300_000,
            max_pending_incoming: 32,
            max_established_total: 64,
            max_established_per_peer: 2,
        },
    })
    .await
    .expect("A starts");
    let a_addr = loop {
        if let Some(addr) = a
            .client
            .listen_addrs()
            .await
            .expect("addrs")
            .into_iter()
            .next()
        {
            break addr;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let a_card = format!(
        "network = \"{NETWORK}\"\ncode = \"NL\"\nname = \"Netherlands Customs\"\npublic_key = \"{}\"\naddresses = [\"{a_addr}\"]\n",
        a_key.public_key()
    );
    std::fs::write(dir.path().join("a.card"), a_card).expect("card");
    node_cli(&[
        "member",
        "add",
        "--dir",
        b,
        dir.path().join("a.card").to_str().expect("utf-8"),
    ]);

    let in_sync = |a: &Node| {
        let client = a.client.clone();
        async move {
            client
                .status()
                .await
                .ok()
                .and_then(|s| s.peers.into_iter().find(|p| p.code == "BE"))
                .is_some_and(|p| p.connected && p.in_sync)
        }
    };

    // Published before B first starts, so "in sync" means B has it.
    a.publish(alert(0)).await.expect("publish");
    let process = run_process(&b_dir);
    let deadline = tokio::time::Instant::now() + DEADLINE;
    while !in_sync(&a).await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "B never caught up with the first entry"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    terminate(process);

    for n in 1..=1000 {
        a.publish(alert(n)).await.expect("publish");
    }
    let process = run_process(&b_dir);
    let deadline = tokio::time::Instant::now() + DEADLINE;
    while !in_sync(&a).await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the restarted process never caught up"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    terminate(process);

    // The process's store, read after it stopped, holds everything, consistently.
    let b_store =
        Store::open(StoreConfig::new(b_dir.join("store"), NETWORK)).expect("B's store opens");
    b_store.check().expect("B's store is consistent");
    assert_eq!(b_store.counts().entries, 1001);
    assert_eq!(
        b_store.frontier().expect("frontier"),
        a.store.frontier().expect("frontier")
    );
    a.shutdown().await.expect("A stops");
}
