//! The real binary as separate OS processes: a node that was stopped (SIGTERM) while
//! another member published catches up after restarting on its data directory.

use std::path::Path;
use std::process::Child;
use std::time::Duration;

use customs_node::network::Peer;
use customs_node::node::Node;
use customs_node::store::{Store, StoreConfig};
use customs_protocol::{samples, Body, PublicKey, SecretKey};
use customs_tests::cluster::{eventually, node_params, wait_until, NETWORK};
use customs_tests::governed::run_cli;
use customs_tests::process::{admit, init_process_node, run_process, terminate};

const DEADLINE: Duration = Duration::from_secs(90);

/// An in-process member with a fixed key.
async fn start_in_process(dir: &Path, seed: u8, code: &str, members: Vec<Peer>) -> Node {
    Node::start(node_params(
        dir,
        SecretKey::from_seed([seed; 32]),
        code,
        members,
    ))
    .await
    .expect("node starts")
}

async fn listen_addr(node: &Node) -> customs_node::network::Multiaddr {
    eventually("a listen address", DEADLINE, || {
        let client = node.client.clone();
        async move { client.listen_addrs().await.ok()?.into_iter().next() }
    })
    .await
}

/// Whether `node` last found `code`'s frontier equal to its own, on a live connection.
async fn in_sync_with(node: &Node, code: &str) -> bool {
    node.client
        .status()
        .await
        .ok()
        .and_then(|s| s.peers.into_iter().find(|p| p.code == code))
        .is_some_and(|p| p.connected && p.in_sync)
}

async fn wait_in_sync(node: &Node, codes: &[&str], what: &str) {
    eventually(what, DEADLINE, || async {
        for code in codes {
            if !in_sync_with(node, code).await {
                return None;
            }
        }
        Some(())
    })
    .await
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
    let b_key = init_process_node(&b_dir, "BE");
    // Member A runs in this process and publishes.
    let members = vec![Peer {
        code: "BE".into(),
        key: b_key,
        addresses: Vec::new(),
    }];
    let a = start_in_process(&dir.path().join("a"), 1, "NL", members).await;
    admit(
        &b_dir,
        "NL",
        &a.public_key(),
        &[listen_addr(&a).await.to_string()],
    );

    // Published before B first starts, so "in sync" means B has it.
    a.publish(alert(0)).await.expect("publish");
    let (process, _) = run_process(&b_dir);
    wait_in_sync(&a, &["BE"], "B to get the first entry").await;
    terminate(process);

    for n in 1..=1000 {
        a.publish(alert(n)).await.expect("publish");
    }
    let (process, _) = run_process(&b_dir);
    wait_in_sync(&a, &["BE"], "the restarted process to catch up").await;
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

/// Five members split 2 + 3: {A, P1} and {B, P2, P3}, where A and B run in this
/// process (they publish) and P1, P2, P3 are `customs-node run` processes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partition_of_processes_heals() {
    let dir = tempfile::tempdir().expect("tempdir");
    let codes = ["PA", "PB", "PC"];
    let dirs: Vec<_> = codes
        .iter()
        .map(|c| dir.path().join(c.to_lowercase()))
        .collect();
    let keys: Vec<PublicKey> = codes
        .iter()
        .zip(&dirs)
        .map(|(c, d)| init_process_node(d, c))
        .collect();
    let a_key = SecretKey::from_seed([1; 32]).public_key();
    let b_key = SecretKey::from_seed([2; 32]).public_key();
    let everyone_but = |skip: &str| -> Vec<Peer> {
        [
            ("NA", a_key),
            ("NB", b_key),
            ("PA", keys[0]),
            ("PB", keys[1]),
            ("PC", keys[2]),
        ]
        .into_iter()
        .filter(|(code, _)| *code != skip)
        .map(|(code, key)| Peer {
            code: code.into(),
            key,
            addresses: Vec::new(),
        })
        .collect()
    };
    let a = start_in_process(&dir.path().join("a"), 1, "NA", everyone_but("NA")).await;
    let b = start_in_process(&dir.path().join("b"), 2, "NB", everyone_but("NB")).await;
    let a_addr = listen_addr(&a).await.to_string();
    let b_addr = listen_addr(&b).await.to_string();
    // Each process knows every member's key, but only the address of its own side's
    // in-process node: PA -> A; PB, PC -> B.
    for (i, d) in dirs.iter().enumerate() {
        admit(
            d,
            "NA",
            &a_key,
            if i == 0 {
                std::slice::from_ref(&a_addr)
            } else {
                &[]
            },
        );
        admit(
            d,
            "NB",
            &b_key,
            if i == 0 {
                &[]
            } else {
                std::slice::from_ref(&b_addr)
            },
        );
        for (j, code) in codes.iter().enumerate() {
            if i != j {
                admit(d, code, &keys[j], &[]);
            }
        }
    }
    let processes: Vec<Child> = dirs.iter().map(|d| run_process(d).0).collect();

    for n in 0..10 {
        a.publish(alert(n)).await.expect("publish");
        b.publish(alert(100 + n)).await.expect("publish");
    }
    wait_in_sync(&a, &["PA"], "the left side to agree").await;
    wait_in_sync(&b, &["PB", "PC"], "the right side to agree").await;
    assert_ne!(
        a.store.frontier().expect("frontier"),
        b.store.frontier().expect("frontier")
    );

    // Heal: A learns where B is.
    a.client
        .dial(b.public_key(), b_addr.parse().expect("addr"))
        .await
        .expect("dial");
    wait_until("A and B to converge", DEADLINE, || {
        let a_frontier = a.store.frontier().ok();
        a_frontier.as_ref().is_some_and(|f| f.len() == 2) && a_frontier == b.store.frontier().ok()
    })
    .await;
    wait_in_sync(&a, &["PA", "NB"], "A to agree with PA and B").await;
    wait_in_sync(&b, &["PB", "PC"], "B to agree with PB and PC").await;
    for process in processes {
        terminate(process);
    }
    for d in &dirs {
        let store = Store::open(StoreConfig::new(d.join("store"), NETWORK)).expect("opens");
        store.check().expect("consistent");
        assert_eq!(
            store.frontier().expect("frontier"),
            a.store.frontier().expect("frontier")
        );
    }
    a.shutdown().await.expect("A stops");
    b.shutdown().await.expect("B stops");
}

/// End to end over HTTP between two `customs-node run` processes: an alert published
/// through node A's API (by the CLI) is read through node B's API; the CLI shows
/// tables, JSON, and API errors as one line with a non-zero exit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alert_published_over_http_on_one_process_is_read_over_http_on_another() {
    use customs_tests::http::{json, sample_alert, Http};

    let dir = tempfile::tempdir().expect("tempdir");
    let (a_dir, b_dir) = (dir.path().join("nl"), dir.path().join("be"));
    let a_key = init_process_node(&a_dir, "NL");
    let b_key = init_process_node(&b_dir, "BE");
    admit(&a_dir, "BE", &b_key, &[]);
    let (a_process, a_address) = run_process(&a_dir);
    let a_addr = a_address.recv_timeout(DEADLINE).expect("A listens");
    admit(&b_dir, "NL", &a_key, &[a_addr]);
    let (b_process, _) = run_process(&b_dir);
    let (a_path, b_path) = (
        a_dir.to_str().expect("utf-8"),
        b_dir.to_str().expect("utf-8"),
    );

    // The CLI finds a running node by DIR/api.url, which `run` writes once the node
    // has started.
    customs_tests::process::api_url(&a_dir, DEADLINE);
    customs_tests::process::api_url(&b_dir, DEADLINE);
    // A may sign once B has confirmed A's (empty) log: the CLI waits, showing progress.
    let (ok, _, progress) = run_cli(&[
        "status",
        "--wait-sync",
        "--timeout-s",
        "90",
        "--dir",
        a_path,
    ]);
    assert!(ok, "{progress}");
    assert!(progress.contains("connected peers in sync"), "{progress}");

    let alert_file = dir.path().join("alert.json");
    std::fs::write(&alert_file, sample_alert().to_string()).expect("alert file");
    let alert_path = alert_file.to_str().expect("utf-8");
    let (ok, out, err) = run_cli(&[
        "alert", "publish", "--dir", a_path, "--file", alert_path, "--json",
    ]);
    assert!(ok, "{err}");
    let published: serde_json::Value = serde_json::from_str(&out).expect("json");
    let id = published["id"].as_str().expect("id").to_string();
    assert_eq!(published["seq"], json!(1));

    // B serves it over HTTP once it arrived.
    let b_url = std::fs::read_to_string(b_dir.join("api.url")).expect("B's api.url");
    let b_token = std::fs::read_to_string(b_dir.join("api-token")).expect("B's token");
    let b = Http {
        base: b_url.trim().to_string(),
        token: Some(b_token.trim().to_string()),
    };
    let item = eventually("B serves A's alert", DEADLINE, || {
        let b = b.clone();
        async move {
            let reply = b.get("/api/v1/alerts?author=NL").await;
            reply.json["items"]
                .as_array()
                .and_then(|items| items.first().cloned())
        }
    })
    .await;
    assert_eq!(item["id"], json!(id));
    assert_eq!(item["author_code"], json!("NL"));
    assert_eq!(item["alert"], sample_alert());
    let entry = b.get(&format!("/api/v1/entries/{id}")).await;
    assert_eq!(entry.json["verification"]["status"], json!("valid"));

    // The CLI on B: a table with the alert, the peers, an AEO lookup.
    let (ok, out, err) = run_cli(&["alert", "list", "--dir", b_path]);
    assert!(ok, "{err}");
    assert!(out.starts_with("DETECTED"), "{out}");
    assert!(
        out.contains("NL-2026-000123") && out.contains("EC>PA>NL"),
        "{out}"
    );
    let (ok, out, _) = run_cli(&["peers", "--dir", b_path]);
    assert!(
        ok && out
            .lines()
            .any(|l| l.starts_with("NL ") && l.contains("yes")),
        "{out}"
    );
    let (ok, out, _) = run_cli(&["aeo", "status", "NL123456789", "--dir", b_path]);
    assert!(
        ok && out.contains("no administration has published"),
        "{out}"
    );

    // API errors: one line, non-zero exit, the field named; nothing stored.
    let mut bad = sample_alert();
    bad["conveyance"]["containers"][0] = json!("CSQU3054384");
    std::fs::write(&alert_file, bad.to_string()).expect("alert file");
    let (ok, _, err) = run_cli(&["alert", "publish", "--dir", b_path, "--file", alert_path]);
    assert!(!ok);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with("error: 422 invalid_field") && err.contains("conveyance.containers[0]"),
        "{err}"
    );
    let (ok, reader, _) = run_cli(&[
        "token", "create", "--dir", b_path, "--role", "reader", "--name", "desk",
    ]);
    assert!(ok);
    std::fs::write(&alert_file, sample_alert().to_string()).expect("alert file");
    let (ok, _, err) = run_cli(&[
        "alert",
        "publish",
        "--dir",
        b_path,
        "--file",
        alert_path,
        "--token",
        reader.trim(),
    ]);
    assert!(!ok && err.starts_with("error: 403 forbidden"), "{err}");
    let counts = b.get("/api/v1/status").await.json["counts"]["entries"].clone();
    assert_eq!(counts, json!(1), "only A's alert is stored on B");

    terminate(b_process);
    terminate(a_process);
    let (ok, _, err) = run_cli(&["status", "--dir", b_path]);
    assert!(!ok && err.contains("cannot reach the node"), "{err}");
}
