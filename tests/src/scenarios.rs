//! Scenarios that a test asserts and the harness measures, written once.

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use customs_node::client::ApiClient;
use serde_json::{json, Value};

use crate::faults::{loopback_sources, Flood, Lab, Running};
use crate::process::{
    admin_token, admit, api_url, edit_config, init_process_node, init_process_node_at, node_cli,
    run_process, spawn_logged,
};
use crate::{free_port, node_binary, wait_for};

pub const DEADLINE: Duration = Duration::from_secs(90);

/// Within this of SIGTERM a node must have exited (its own grace is 8 s).
pub const STOP_DEADLINE: Duration = Duration::from_secs(20);
const P2P_PORT: u16 = 7400;
const API_PORT: u16 = 7480;

/// One member node per host of `lab`, default configuration (each on the same ports,
/// its own address), every one admitting every other with its address.
struct Members {
    nodes: Vec<Running>,
    apis: Vec<ApiClient>,
    _dirs: tempfile::TempDir,
}

const CODES: [&str; 8] = ["NL", "BE", "DE", "FR", "IT", "ES", "AT", "PL"];

impl Members {
    fn start(lab: &Lab, hosts: usize) -> Members {
        assert!(hosts <= CODES.len());
        let dirs = tempfile::tempdir().expect("tempdir");
        let dir = |i: usize| dirs.path().join(CODES[i].to_lowercase());
        let p2p = |i: usize| format!("/ip4/{}/tcp/{P2P_PORT}", lab.ip(i));
        let mut keys = Vec::new();
        for (i, code) in CODES.iter().enumerate().take(hosts) {
            let path = dir(i);
            node_cli(&[
                "init",
                "--dir",
                path.to_str().expect("utf-8"),
                "--code",
                code,
                "--name",
                code,
                "--network",
                crate::cluster::NETWORK,
                "--p2p-listen",
                &p2p(i),
                "--api-listen",
                &format!("{}:{API_PORT}", lab.ip(i)),
            ]);
            let card = node_cli(&["member", "export", "--dir", path.to_str().expect("utf-8")]);
            let key = card
                .lines()
                .find_map(|l| l.strip_prefix("public_key = \""))
                .and_then(|k| customs_protocol::PublicKey::from_hex(k.trim_end_matches('"')).ok())
                .expect("card has the key");
            keys.push(key);
        }
        for i in 0..hosts {
            for j in (0..hosts).filter(|j| *j != i) {
                admit(&dir(i), CODES[j], &keys[j], &[p2p(j)]);
            }
        }
        let mut nodes = Vec::new();
        let mut apis = Vec::new();
        for (i, code) in CODES.iter().enumerate().take(hosts) {
            let mut command = lab.command(i, &node_binary());
            command.args(["run", "--dir", dir(i).to_str().expect("utf-8")]);
            nodes.push(Running(Some(spawn_logged(command, code).0)));
            apis.push(ApiClient::new(
                &format!("http://{}:{API_PORT}", lab.ip(i)),
                Some(&admin_token(&dir(i))),
                Some(Duration::from_secs(10)),
            ));
        }
        Members {
            nodes,
            apis,
            _dirs: dirs,
        }
    }

    fn status(&self, i: usize) -> Option<Value> {
        self.apis[i].get("/api/v1/status").ok()
    }

    /// Every node connected to every other, and able to publish.
    fn wait_meshed(&self) {
        let n = self.apis.len();
        wait_for("every member to connect to every other", DEADLINE, || {
            (0..n)
                .all(|i| {
                    self.status(i).is_some_and(|s| {
                        s["node"]["can_publish"] == true
                            && s["peers"].as_array().is_some_and(|p| {
                                p.iter().filter(|p| p["connected"] == true).count() == n - 1
                            })
                    })
                })
                .then_some(())
        });
    }

    fn publish(&self, i: usize, reference: &str) {
        let mut alert = crate::http::sample_alert();
        alert["reference"] = json!(reference);
        let _: Value = self.apis[i]
            .post("/api/v1/alerts", &alert)
            .unwrap_or_else(|e| panic!("publish on {}: {e}", CODES[i]));
    }

    /// Whether node `i` holds exactly `entries` entries.
    fn holds(&self, i: usize, entries: u64) -> bool {
        self.status(i)
            .is_some_and(|s| s["counts"]["entries"].as_u64() == Some(entries))
    }

    /// Whether every node holds `entries` entries and the same frontier.
    fn converged(&self, entries: u64) -> bool {
        let mut frontiers = Vec::new();
        for i in 0..self.apis.len() {
            let Some(status) = self.status(i) else {
                return false;
            };
            if status["counts"]["entries"].as_u64() != Some(entries) {
                return false;
            }
            frontiers.push(status["frontier"].clone());
        }
        frontiers.windows(2).all(|w| w[0] == w[1])
    }

    fn stop(self) {
        for mut node in self.nodes {
            let (status, _) = node.terminate(Duration::from_secs(20));
            assert!(status.success(), "a node did not stop cleanly: {status:?}");
        }
    }
}

/// Five members on five hosts; the hosts are cut 2 | 3 for `partition` while one
/// member on each side publishes every second; then the cut heals. Returns how long
/// after the heal every node held every entry (failing after 90 s).
pub fn partition_heals(mut lab: Lab, partition: Duration) -> Duration {
    let members = Members::start(&lab, 5);
    members.wait_meshed();
    for i in 0..5 {
        members.publish(i, &format!("NL-2026-START{i}"));
    }
    let mut entries = 5;
    wait_for("the members to agree before the cut", DEADLINE, || {
        members.converged(entries).then_some(())
    });

    lab.cut(&[0, 1], &[2, 3, 4]);
    let end = Instant::now() + partition;
    let mut n = 0;
    while Instant::now() < end {
        members.publish(0, &format!("NL-2026-LEFT{n:03}"));
        members.publish(2, &format!("NL-2026-RIGHT{n:03}"));
        entries += 2;
        n += 1;
        // Each side keeps syncing within itself through the cut; the next pair is
        // published once this one reached the publisher's side, and at most once a
        // second (the scenario's pace).
        let pace = Instant::now() + Duration::from_secs(1);
        let own = 5 + n as u64;
        wait_for("each side to hold its own new entries", DEADLINE, || {
            (members.holds(1, own) && members.holds(3, own) && Instant::now() >= pace).then_some(())
        });
    }
    assert!(
        !members.converged(entries),
        "the cut did not separate the sides"
    );
    lab.heal();
    let healed = Instant::now();
    wait_for(
        "every node to hold every entry after the heal",
        DEADLINE,
        || members.converged(entries).then_some(()),
    );
    let took = healed.elapsed();
    members.stop();
    took
}

/// An API client of the node in `dir` (its admin token) at `url`.
pub fn client(url: &str, dir: &Path) -> ApiClient {
    ApiClient::new(url, Some(&admin_token(dir)), Some(Duration::from_secs(10)))
}

/// The status of `GET path`, or None when the node does not answer.
pub fn status_of(client: &ApiClient, path: &str) -> Option<u16> {
    client.send("GET", path, None).ok().map(|r| r.status)
}

pub fn wait_ready(client: &ApiClient) {
    wait_for("the node to be ready", DEADLINE, || {
        (status_of(client, "/readyz") == Some(200)).then_some(())
    });
}

/// The sample alert with its own reference.
pub fn alert(reference: &str) -> Value {
    let mut alert = crate::http::sample_alert();
    alert["reference"] = json!(reference);
    alert
}

/// A node that may publish alone, started as a process; returns it and its API URL.
pub fn lone_node(dir: &Path, edits: &[(&str, &str)]) -> (Running, String) {
    init_process_node(dir, "NL");
    let mut all = vec![(
        "allow_publish_before_sync = false",
        "allow_publish_before_sync = true",
    )];
    all.extend_from_slice(edits);
    edit_config(dir, &all);
    let (child, _) = run_process(dir);
    let url = api_url(dir, DEADLINE);
    wait_ready(&client(&url, dir));
    (Running(Some(child)), url)
}

/// A metric's value; None when the scrape fails or lacks it.
pub fn try_metric(client: &ApiClient, name: &str) -> Option<u64> {
    let text = client.send("GET", "/metrics", None).ok()?.text();
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")))
        .and_then(|v| v.trim().parse().ok())
}

/// What an API flood did and what the node still answered.
#[derive(Debug)]
pub struct ApiFlood {
    /// Flood connections open when the health checks began.
    pub held: usize,
    /// Each health check's time (all answered 200, else the scenario fails).
    pub healthz: Vec<Duration>,
    /// The status an officer's publish got meanwhile.
    pub publish_status: u16,
    /// Flood connections the node closed (idle displaced, slow timed out).
    pub closed_by_node: usize,
    /// `customs_http_connections_displaced_total` at the end.
    pub displaced: u64,
    /// How the node exited after SIGTERM.
    pub exit: std::process::ExitStatus,
}

/// A lone node's API flooded from other loopback hosts with `idle` idle connections
/// (spread over 4 addresses) and 50 slowloris ones; meanwhile `checks` health checks
/// and one officer's publish.
pub async fn api_flood(
    dir: &Path,
    idle: usize,
    checks: usize,
    header_read_timeout_ms: u64,
) -> ApiFlood {
    let default_timeout = format!("header_read_timeout_ms = {}", 10_000);
    let timeout = format!("header_read_timeout_ms = {header_read_timeout_ms}");
    let (mut node, url) = lone_node(dir, &[(&default_timeout, &timeout)]);
    let api = client(&url, dir);
    let addr: SocketAddr = url.trim_start_matches("http://").parse().expect("addr");
    // Past the default caps (256 connections per address, 1024 in all) the node must
    // displace idle connections; below them it has no reason to.
    let must_displace = idle.div_ceil(4) > 256 || idle + 50 > 1024;
    let idle = Flood::start(addr, &loopback_sources(4), idle.div_ceil(4), None);
    let slow = Flood::start(
        addr,
        &loopback_sources(5)[4..],
        50,
        Some(b"POST /api/v1/alerts HTTP/1.1\r\nHost: x\r\nX-Pad: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"),
    );
    let want = idle.connections() + slow.connections();
    let held = crate::cluster::eventually("the flood to hold its connections", DEADLINE, || {
        let (idle, slow) = (&idle, &slow);
        async move {
            let open = idle.open() + slow.open();
            (open >= want * 9 / 10).then_some(open)
        }
    })
    .await;
    let officer = api.clone();
    let (healthz, publish_status) = tokio::task::spawn_blocking(move || {
        let mut times = Vec::new();
        for _ in 0..checks {
            let start = Instant::now();
            let reply = officer
                .send("GET", "/healthz", None)
                .expect("healthz answered");
            times.push(start.elapsed());
            assert_eq!(reply.status, 200, "healthz");
        }
        let body = alert("NL-2026-FLOOD1").to_string();
        let published = officer
            .send(
                "POST",
                "/api/v1/alerts",
                Some(("application/json", body.as_bytes())),
            )
            .expect("publish answered");
        (times, published.status)
    })
    .await
    .expect("officer");
    // Idle connections are displaced at once; slow ones time out, and both come back.
    crate::cluster::eventually("the node to close flood connections", DEADLINE, || {
        let (idle, slow) = (&idle, &slow);
        async move { (idle.reopened() > 0 && slow.reopened() >= 50).then_some(()) }
    })
    .await;
    let closed_by_node = idle.reopened() + slow.reopened();
    // Read until it counts: under load one read of /metrics can come too early or
    // fail while the flood holds the listener.
    let displaced = if must_displace {
        crate::cluster::eventually("the node to count displaced connections", DEADLINE, || {
            let api = &api;
            async move {
                try_metric(api, "customs_http_connections_displaced_total").filter(|&n| n > 0)
            }
        })
        .await
    } else {
        try_metric(&api, "customs_http_connections_displaced_total").unwrap_or(0)
    };
    idle.stop().await;
    slow.stop().await;
    let (exit, _) = node.terminate(STOP_DEADLINE);
    ApiFlood {
        held,
        healthz,
        publish_status,
        closed_by_node,
        displaced,
        exit,
    }
}

/// A member's (connected, in sync) as another member's API shows it.
pub fn peer_state(api: &ApiClient, code: &str) -> Option<(bool, bool)> {
    let status: Value = api.get("/api/v1/status").ok()?;
    let peer = status["peers"]
        .as_array()?
        .iter()
        .find(|p| p["code"] == code)?
        .clone();
    Some((peer["connected"].as_bool()?, peer["in_sync"].as_bool()?))
}

/// What a p2p flood did and how soon a member got back through it.
#[derive(Debug)]
pub struct P2pFlood {
    /// Flood connections open when the member restarted, and closed by the node
    /// until it was back.
    pub held: usize,
    pub closed_by_node: usize,
    /// From the member's process start to: connected and in sync with the flooded
    /// node, holding the entry published while it was down.
    pub back_in_sync: Duration,
}

/// Two members A and B on loopback; A's p2p port flooded with `connections` idle
/// connections from 200 hosts; B stopped, an entry published on A, B started again.
pub async fn p2p_flood(dir: &Path, connections: usize) -> P2pFlood {
    let (a_dir, b_dir) = (dir.join("a"), dir.join("b"));
    let (a_port, b_port) = (free_port(), free_port());
    let a_addr = format!("/ip4/127.0.0.1/tcp/{a_port}");
    let b_addr = format!("/ip4/127.0.0.1/tcp/{b_port}");
    let a_key = init_process_node_at(&a_dir, "NL", &a_addr, "127.0.0.1:0");
    let b_key = init_process_node_at(&b_dir, "BE", &b_addr, "127.0.0.1:0");
    edit_config(
        &a_dir,
        &[(
            "allow_publish_before_sync = false",
            "allow_publish_before_sync = true",
        )],
    );
    admit(&a_dir, "BE", &b_key, std::slice::from_ref(&b_addr));
    admit(&b_dir, "NL", &a_key, std::slice::from_ref(&a_addr));
    let a = Running(Some(run_process(&a_dir).0));
    let mut b = Running(Some(run_process(&b_dir).0));
    let a_api = client(&api_url(&a_dir, DEADLINE), &a_dir);
    wait_for("A and B to be in sync", DEADLINE, || {
        (peer_state(&a_api, "BE") == Some((true, true))).then_some(())
    });

    let target: SocketAddr = format!("127.0.0.1:{a_port}").parse().expect("addr");
    let flood = Flood::start(
        target,
        &loopback_sources(200),
        connections.div_ceil(200),
        None,
    );
    let held = crate::cluster::eventually("the flood to connect", DEADLINE, || {
        let flood = &flood;
        async move { (flood.open() + flood.reopened() >= connections).then_some(flood.open()) }
    })
    .await;

    let (status, _) = b.terminate(STOP_DEADLINE);
    assert!(status.success(), "B stopped: {status:?}");
    let published: Value = a_api
        .post("/api/v1/alerts", &alert("NL-2026-P2PF01"))
        .expect("publish on A");
    let closed_before = flood.reopened();
    std::fs::remove_file(b_dir.join("api.url")).expect("stale api.url");
    let restarted = Instant::now();
    let b = Running(Some(run_process(&b_dir).0));
    let b_api = client(&api_url(&b_dir, DEADLINE), &b_dir);
    let id = published["id"].as_str().expect("id").to_string();
    let back_in_sync = tokio::task::spawn_blocking(move || {
        wait_for(
            "B to be back and in sync through the flood",
            DEADLINE,
            || {
                (peer_state(&a_api, "BE") == Some((true, true))
                    && status_of(&b_api, &format!("/api/v1/entries/{id}")) == Some(200))
                .then_some(())
            },
        );
        restarted.elapsed()
    })
    .await
    .expect("waiter");
    let closed_by_node = flood.reopened() - closed_before;
    flood.stop().await;
    for mut node in [a, b] {
        let (status, _) = node.terminate(STOP_DEADLINE);
        assert!(status.success(), "a node did not stop cleanly: {status:?}");
    }
    P2pFlood {
        held,
        closed_by_node,
        back_in_sync,
    }
}
