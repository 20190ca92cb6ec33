//! The release of pressure an outside attacker or a broken network puts on a node, as
//! processes: connection floods on the API and the p2p port, a partition of hosts in
//! network namespaces, a filesystem that fills up, clients that retry publishes whose
//! answers they lost. (Root is needed for namespaces and mounts; CI runs as root.)

use std::io::{Read, Write};
use std::net::SocketAddr;

use std::process::Stdio;
use std::time::Duration;

use customs_node::client::ApiClient;
use customs_tests::faults::{Lab, Running, SmallFilesystem};
use customs_tests::process::{
    admin_token, api_url, edit_config, init_process_node, init_process_node_at, node_cli,
    run_process,
};
use customs_tests::scenarios::{
    self, alert, client, lone_node, status_of, try_metric, wait_ready, DEADLINE, STOP_DEADLINE,
};
use customs_tests::{free_port, node_binary, percentile, wait_for};
use serde_json::Value;

/// A node that may publish alone, its log (at `level`) going to `stderr`; ready.
fn lone_node_logging_to(dir: &std::path::Path, stderr: Stdio, level: &str) -> (Running, ApiClient) {
    init_process_node(dir, "NL");
    edit_config(
        dir,
        &[(
            "allow_publish_before_sync = false",
            "allow_publish_before_sync = true",
        )],
    );
    let child = std::process::Command::new(node_binary())
        .args(["run", "--dir", dir.to_str().expect("utf-8")])
        .env("RUST_LOG", level)
        .stderr(stderr)
        .spawn()
        .expect("node starts");
    let node = Running(Some(child));
    let api = client(&api_url(dir, DEADLINE), dir);
    wait_ready(&api);
    (node, api)
}

fn entries(client: &ApiClient) -> u64 {
    let status: Value = client.get("/api/v1/status").expect("status");
    status["counts"]["entries"].as_u64().expect("count")
}

fn metric(client: &ApiClient, name: &str) -> u64 {
    try_metric(client, name).unwrap_or_else(|| panic!("no metric {name}"))
}

/// With 1,200 idle connections and 50 slowloris ones held against the API from other
/// hosts, health checks and officers are still answered; the node closes the flood's
/// connections (the idle ones displaced, the rest at the header timeout).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_answers_through_a_connection_flood() {
    let dir = tempfile::tempdir().expect("tempdir");
    // A header timeout of 30 s: long enough that, even on a loaded machine, the idle
    // flood fills an address's 256 slots before its first connections time out, so
    // what closes them is displacement (the behaviour under test), not the timeout.
    let flood = scenarios::api_flood(&dir.path().join("nl"), 1_200, 200, 30_000).await;
    assert!(flood.held >= 1_000, "{flood:?}");
    assert_eq!(flood.publish_status, 201);
    assert!(flood.closed_by_node > 0);
    assert!(flood.displaced > 0, "no idle connection was displaced");
    assert!(flood.exit.success(), "{:?}", flood.exit);
    let mut sorted = flood.healthz.clone();
    sorted.sort();
    println!(
        "API flood: {} connections held; /healthz over {} requests: p50 {:?}, p99 {:?}, max {:?}",
        flood.held,
        sorted.len(),
        percentile(&sorted, 50.0),
        percentile(&sorted, 99.0),
        sorted[sorted.len() - 1]
    );
}

/// Sends raw bytes on a new connection and reads until the node closes it (or 30 s).
fn raw_exchange(addr: SocketAddr, request: &[u8]) -> String {
    let mut stream = std::net::TcpStream::connect(addr).expect("connects");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    stream.write_all(request).expect("request");
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    String::from_utf8_lossy(&answer).into_owned()
}

/// Framing the node does not take is refused, and a stalled body gets 408.
#[test]
fn unsupported_framing_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let node_dir = dir.path().join("nl");
    let (mut node, url) = lone_node(
        &node_dir,
        &[(
            "body_read_timeout_ms = 10000",
            "body_read_timeout_ms = 1000",
        )],
    );
    let api = client(&url, &node_dir);
    let addr: SocketAddr = url.trim_start_matches("http://").parse().expect("addr");
    let token = admin_token(&node_dir);
    let body = alert("NL-2026-GZIP01").to_string();
    let before = entries(&api);

    let gzip = format!(
        "POST /api/v1/alerts HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Encoding: gzip\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let answer = raw_exchange(addr, gzip.as_bytes());
    assert!(answer.starts_with("HTTP/1.1 415"), "{answer}");
    assert!(answer.contains("unsupported_content_encoding"), "{answer}");

    let stalled = format!(
        "POST /api/v1/alerts HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{}",
        body.len(),
        &body[..10]
    );
    let answer = raw_exchange(addr, stalled.as_bytes());
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");

    // Both Content-Length and Transfer-Encoding: Transfer-Encoding decides, as RFC
    // 9112 section 6.3 says, and the connection is closed after the one answer, so
    // nothing can be smuggled behind it.
    let chunked = format!(
        "POST /api/v1/alerts HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n{}\r\n0\r\n\r\nGET /healthz HTTP/1.1\r\nHost: x\r\n\r\n",
        alert("NL-2026-CHUNK1").to_string().len(),
        alert("NL-2026-CHUNK1")
    );
    let answer = raw_exchange(addr, chunked.as_bytes());
    assert_eq!(answer.matches("HTTP/1.1 ").count(), 1, "{answer}");
    assert!(
        answer.to_ascii_lowercase().contains("connection: close"),
        "{answer}"
    );

    // HTTP/2 without TLS (prior knowledge) is not spoken.
    let answer = raw_exchange(addr, b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
    assert!(!answer.contains(" 200 "), "{answer}");

    assert!(
        entries(&api) <= before + 1,
        "only the chunked alert may be stored"
    );
    let (status, _) = node.terminate(STOP_DEADLINE);
    assert!(status.success(), "{status:?}");
}

/// Publishers retrying with their Idempotency-Key after the node was killed under
/// them: every key ends up as exactly one entry, whether its first try was stored or
/// not.
#[test]
fn in_doubt_publishes_retried_with_their_key_are_stored_once() {
    const PUBLISHERS: usize = 6;
    let dir = tempfile::tempdir().expect("tempdir");
    let node_dir = dir.path().join("nl");
    let (mut node, url) = lone_node(&node_dir, &[]);
    let api = client(&url, &node_dir);

    // Six publishers, each with its own keys, one try each, until the node dies.
    let publishers: Vec<_> = (0..PUBLISHERS)
        .map(|p| {
            let api = api.clone();
            std::thread::spawn(move || {
                let mut tried = Vec::new();
                for i in 0.. {
                    let key = format!("p{p}-{i}");
                    let body = alert(&format!("NL-2026-{p}{i:05}")).to_string();
                    let answer = api.send_with(
                        "POST",
                        "/api/v1/alerts",
                        Some(("application/json", body.as_bytes())),
                        &[("Idempotency-Key", &key)],
                    );
                    let acked = matches!(&answer, Ok(r) if r.status == 201);
                    tried.push((key, body, acked));
                    if answer.is_err() {
                        return tried;
                    }
                }
                unreachable!()
            })
        })
        .collect();
    wait_for("some publishes to be acknowledged", DEADLINE, || {
        (entries(&api) >= 60).then_some(())
    });
    node.kill();
    let tried: Vec<(String, String, bool)> = publishers
        .into_iter()
        .flat_map(|p| p.join().expect("publisher"))
        .collect();

    std::fs::remove_file(node_dir.join("api.url")).expect("stale api.url");
    let (child, _) = run_process(&node_dir);
    let mut node = Running(Some(child));
    let url = api_url(&node_dir, DEADLINE);
    let api = client(&url, &node_dir);
    wait_ready(&api);
    let mut in_doubt = 0;
    let mut in_doubt_stored = 0;
    for (key, body, acked) in &tried {
        let body: Value = serde_json::from_str(body).expect("json");
        let reply = api
            .send_with(
                "POST",
                "/api/v1/alerts",
                Some(("application/json", body.to_string().as_bytes())),
                &[("Idempotency-Key", key)],
            )
            .expect("retry answered");
        assert_eq!(reply.status, 201, "{}", reply.text());
        let replayed = reply.header("idempotent-replayed") == Some("true");
        if *acked {
            assert!(
                replayed,
                "an acknowledged publish ({key}) was not remembered"
            );
        } else {
            in_doubt += 1;
            in_doubt_stored += usize::from(replayed);
        }
    }
    assert_eq!(
        entries(&api),
        tried.len() as u64,
        "every key is exactly one entry"
    );
    println!(
        "idempotency: {} publishes, {in_doubt} in doubt at the kill, {in_doubt_stored} of them had been stored; none twice",
        tried.len()
    );
    let (status, _) = node.terminate(STOP_DEADLINE);
    assert!(status.success(), "{status:?}");
}

/// The CLI names the key of a publish whose answers were all lost; the same command
/// with that key publishes once, however often it runs.
#[test]
fn the_cli_retries_with_one_key_and_publishes_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let node_dir = dir.path().join("nl");
    let port = free_port();
    init_process_node_at(
        &node_dir,
        "NL",
        "/ip4/127.0.0.1/tcp/0",
        &format!("127.0.0.1:{port}"),
    );
    edit_config(
        &node_dir,
        &[(
            "allow_publish_before_sync = false",
            "allow_publish_before_sync = true",
        )],
    );
    let file = dir.path().join("alert.json");
    std::fs::write(&file, alert("NL-2026-CLI001").to_string()).expect("alert file");
    let dir_arg = node_dir.to_str().expect("utf-8");
    let file_arg = file.to_str().expect("utf-8");

    // Nothing listens yet: every try loses its answer.
    let output = std::process::Command::new(node_binary())
        .args(["alert", "publish", "--dir", dir_arg, "--file", file_arg])
        .output()
        .expect("runs");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    let key = stderr
        .split("--idempotency-key ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no key named: {stderr}"))
        .trim_end_matches(':')
        .to_string();

    let (child, _) = run_process(&node_dir);
    let mut node = Running(Some(child));
    let url = api_url(&node_dir, DEADLINE);
    let api = client(&url, &node_dir);
    wait_ready(&api);
    let publish = || {
        node_cli(&[
            "alert",
            "publish",
            "--dir",
            dir_arg,
            "--file",
            file_arg,
            "--idempotency-key",
            &key,
            "--json",
        ])
    };
    let first: Value = serde_json::from_str(&publish()).expect("json");
    let second: Value = serde_json::from_str(&publish()).expect("json");
    assert_eq!(first["id"], second["id"]);
    assert_eq!(entries(&api), 1);
    let (status, _) = node.terminate(STOP_DEADLINE);
    assert!(status.success(), "{status:?}");
}

/// The node's whole directory on a small filesystem that fills up (its log too):
/// publishes fail cleanly, readiness turns false, nothing acknowledged is lost, and
/// once space is freed the node is ready again by itself; SIGTERM stops it in time.
#[test]
fn a_full_disk_is_survived_without_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fs = SmallFilesystem::mount(&dir.path().join("fs"), 24);
    let node_dir = dir.path().join("fs").join("nl");
    let log = std::fs::File::create(dir.path().join("fs").join("node.log")).expect("log");
    let (mut node, api) = lone_node_logging_to(&node_dir, Stdio::from(log), "info");

    let publish = |n: usize| {
        api.send_with(
            "POST",
            "/api/v1/alerts",
            Some((
                "application/json",
                alert(&format!("NL-2026-DISK{n:02}")).to_string().as_bytes(),
            )),
            &[],
        )
        .expect("answered")
    };
    let mut acked = Vec::new();
    for n in 0..3 {
        let reply = publish(n);
        assert_eq!(reply.status, 201, "{}", reply.text());
        acked.push(reply.json()["id"].as_str().expect("id").to_string());
    }

    fs.fill();
    let mut refused = None;
    for n in 3..200 {
        let reply = publish(n);
        match reply.status {
            201 => acked.push(reply.json()["id"].as_str().expect("id").to_string()),
            _ => {
                refused = Some(reply);
                break;
            }
        }
    }
    let refused = refused.expect("a publish was refused on the full disk");
    assert_eq!(refused.status, 500, "{}", refused.text());
    assert!(
        refused.text().contains("store I/O error"),
        "{}",
        refused.text()
    );
    wait_for("readiness to turn false", DEADLINE, || {
        (status_of(&api, "/readyz") == Some(503)).then_some(())
    });
    assert_eq!(metric(&api, "customs_store_writable"), 0);
    assert!(
        node.child().try_wait().expect("status").is_none(),
        "the node died on the full disk"
    );
    wait_for(
        "a log line to be dropped on the full disk",
        DEADLINE,
        || (try_metric(&api, "customs_log_lines_dropped_total")? > 0).then_some(()),
    );

    fs.free();
    wait_for("readiness to come back without a restart", DEADLINE, || {
        (status_of(&api, "/readyz") == Some(200)).then_some(())
    });
    assert!(metric(&api, "customs_store_recoveries_total") >= 1);
    let reply = publish(900);
    assert_eq!(reply.status, 201, "{}", reply.text());
    acked.push(reply.json()["id"].as_str().expect("id").to_string());
    for id in &acked {
        assert_eq!(
            status_of(&api, &format!("/api/v1/entries/{id}")),
            Some(200),
            "acknowledged entry {id} is missing"
        );
    }

    let (status, took) = node.terminate(STOP_DEADLINE);
    assert!(status.success(), "SIGTERM: {status:?}");
    println!(
        "full disk: {} acknowledged, all present; stopped {took:?} after SIGTERM",
        acked.len()
    );
}

/// Standard error that cannot be written (`2>/dev/full`) loses log lines, not the
/// node.
#[test]
fn a_failing_stderr_does_not_stop_the_node() {
    let dir = tempfile::tempdir().expect("tempdir");
    let node_dir = dir.path().join("nl");
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .expect("/dev/full");
    let (mut node, api) = lone_node_logging_to(&node_dir, Stdio::from(full), "debug");
    let reply = api
        .send_with(
            "POST",
            "/api/v1/alerts",
            Some((
                "application/json",
                alert("NL-2026-FULL01").to_string().as_bytes(),
            )),
            &[],
        )
        .expect("answered");
    assert_eq!(reply.status, 201, "{}", reply.text());
    assert!(metric(&api, "customs_log_lines_dropped_total") > 0);
    let (status, _) = node.terminate(STOP_DEADLINE);
    assert!(status.success(), "{status:?}");
}

/// With 1,000 idle connections held on its p2p port from 200 hosts (more than its
/// handshake slots), a node still gets a restarted member back and in sync: it dials
/// the member itself when strangers hold the slots.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_gets_back_in_through_a_p2p_flood() {
    let dir = tempfile::tempdir().expect("tempdir");
    let flood = scenarios::p2p_flood(dir.path(), 1_000).await;
    println!(
        "p2p flood: {} connections open at the restart ({} closed by the node meanwhile); the restarted member was back and in sync {:?} after its start",
        flood.held, flood.closed_by_node, flood.back_in_sync
    );
}

/// Five members on five hosts (network namespaces), default configuration, cut 2 | 3
/// for 20 s while both sides publish: after the heal every node holds everything.
#[test]
fn a_partition_between_hosts_heals_by_itself() {
    let lab = Lab::new(5);
    let took = customs_tests::scenarios::partition_heals(lab, Duration::from_secs(20));
    println!("partition: every node converged {took:?} after the heal");
}
