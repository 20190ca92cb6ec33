//! Scenarios that a test asserts and the harness measures, written once.

use std::time::{Duration, Instant};

use customs_node::client::ApiClient;
use serde_json::{json, Value};

use crate::faults::{Lab, Running};
use crate::process::{admin_token, admit, node_cli, spawn_logged};
use crate::{node_binary, wait_for};

const DEADLINE: Duration = Duration::from_secs(90);
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
        // The scenario's pace, not a wait for a condition.
        std::thread::sleep(Duration::from_secs(1));
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
