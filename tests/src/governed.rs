//! A governed network of `customs-node run` processes, driven through the CLI as an
//! IT team would: founding, joining, proposing and approving admissions.

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::Duration;

use customs_node::client::ApiClient;
use serde_json::{json, Value};

use crate::process::{admin_token, api_url, edit_config, spawn_logged_into, terminate};
use crate::{free_port, node_binary, wait_for, wait_for_explained};

pub const DEADLINE: Duration = Duration::from_secs(60);

/// Runs the CLI; returns (success, stdout, stderr).
pub fn run_cli(args: &[&str]) -> (bool, String, String) {
    let output = Command::new(node_binary())
        .args(args)
        .output()
        .expect("runs");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

pub fn cli(args: &[&str]) -> String {
    let (ok, out, err) = run_cli(args);
    assert!(ok, "{args:?} failed: {err}");
    out
}

pub fn cli_json(args: &[&str]) -> Value {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    serde_json::from_str(&cli(&all)).expect("JSON output")
}

#[derive(Debug)]
pub struct Member {
    pub code: String,
    pub dir: PathBuf,
    pub p2p: String,
    pub child: Option<Child>,
}

impl Member {
    pub fn path(&self) -> &str {
        self.dir.to_str().expect("utf-8")
    }

    pub fn start(&mut self) {
        self.start_logging(None);
    }

    /// Starts the node, keeping its log lines in `sink` too.
    pub fn start_logging(&mut self, sink: Option<std::sync::Arc<std::sync::Mutex<Vec<String>>>>) {
        let mut command = Command::new(node_binary());
        command.args(["run", "--dir", self.path()]);
        let _ = std::fs::remove_file(self.dir.join("api.url"));
        let label = self
            .dir
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("node")
            .to_string();
        self.child = Some(spawn_logged_into(command, &label, sink).0);
        // The CLI finds the node by DIR/api.url: ready once the node wrote it.
        api_url(&self.dir, DEADLINE);
    }

    /// The node's API (the URL is read again each time: a rotation restarts it).
    pub fn api(&self) -> ApiClient {
        ApiClient::new(
            &api_url(&self.dir, DEADLINE),
            Some(&admin_token(&self.dir)),
            Some(Duration::from_secs(10)),
        )
    }

    pub fn get(&self, path: &str) -> Option<Value> {
        self.api().get::<Value>(path).ok()
    }

    pub fn members(&self) -> Value {
        wait_for("the member list", DEADLINE, || self.get("/api/v1/members"))
    }

    /// (code, status) of every member this node knows.
    pub fn standings(&self) -> Vec<(String, String)> {
        self.members()["members"]
            .as_array()
            .expect("members")
            .iter()
            .map(|m| {
                (
                    m["code"].as_str().unwrap_or_default().to_string(),
                    m["status"].as_str().unwrap_or_default().to_string(),
                )
            })
            .collect()
    }

    pub fn publish_alert(&self, reference: &str) -> Result<Value, String> {
        let mut alert: Value =
            serde_json::from_str(&cli(&["alert", "template"])).expect("template");
        alert["reference"] = json!(reference);
        self.api()
            .post::<Value>("/api/v1/alerts", &alert)
            .map_err(|e| e.to_string())
    }

    /// Publishes once the node may sign (it waits for a member's confirmation after
    /// each start and after joining).
    pub fn publish_when_ready(&self, reference: &str) -> Value {
        let last_error = std::cell::RefCell::new(String::new());
        wait_for_explained(
            &format!("{} to publish {reference}", self.code),
            DEADLINE,
            || {
                self.publish_alert(reference)
                    .map_err(|e| *last_error.borrow_mut() = e)
                    .ok()
            },
            || {
                format!(
                    "last refusal: {}\nstatus: {}",
                    last_error.borrow(),
                    self.get("/api/v1/status").unwrap_or_default()
                )
            },
        )
    }

    /// The alert references this node lists, with their author codes.
    pub fn alerts(&self) -> Vec<(String, String)> {
        self.get("/api/v1/alerts?limit=200")
            .and_then(|v| v["items"].as_array().cloned())
            .unwrap_or_default()
            .iter()
            .map(|a| {
                (
                    a["alert"]["reference"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string(),
                    a["author_code"].as_str().unwrap_or_default().to_string(),
                )
            })
            .collect()
    }

    pub fn wait_alert(&self, reference: &str, author_code: &str) {
        wait_for(
            &format!("{} to list {reference} by {author_code}", self.code),
            DEADLINE,
            || {
                self.alerts()
                    .contains(&(reference.to_string(), author_code.to_string()))
                    .then_some(())
            },
        )
    }

    pub fn forks(&self) -> usize {
        self.get("/api/v1/forks")
            .and_then(|v| v["forks"].as_array().map(Vec::len))
            .unwrap_or(usize::MAX)
    }
}

impl Member {
    /// Stops the node (SIGTERM, then waits).
    pub fn stop(&mut self) {
        if let Some(child) = self.child.take() {
            terminate(child);
        }
    }
}

impl Drop for Member {
    fn drop(&mut self) {
        if let Some(child) = self.child.take() {
            terminate(child);
        }
    }
}

pub fn fast_sync(dir: &Path) {
    edit_config(
        dir,
        &[("sync_interval_ms = 30000", "sync_interval_ms = 500")],
    );
}

pub fn found(root: &Path, code: &str) -> Member {
    let port = free_port();
    let p2p = format!("/ip4/127.0.0.1/tcp/{port}");
    let dir = root.join(code.to_lowercase());
    cli(&[
        "init",
        "--dir",
        dir.to_str().expect("utf-8"),
        "--code",
        code,
        "--name",
        code,
        "--found",
        "customs-test",
        "--p2p-listen",
        &p2p,
        "--api-listen",
        "127.0.0.1:0",
    ]);
    fast_sync(&dir);
    Member {
        code: code.into(),
        dir,
        p2p,
        child: None,
    }
}

pub fn joiner(
    root: &Path,
    name: &str,
    code: &str,
    charter: &Path,
    bootstrap: &str,
    admin_key: Option<&Path>,
) -> Member {
    let port = free_port();
    let p2p = format!("/ip4/127.0.0.1/tcp/{port}");
    let dir = root.join(name);
    let mut args = vec![
        "init",
        "--dir",
        dir.to_str().expect("utf-8"),
        "--code",
        code,
        "--name",
        code,
        "--join",
        charter.to_str().expect("utf-8"),
        "--bootstrap",
        bootstrap,
        "--p2p-listen",
        &p2p,
        "--api-listen",
        "127.0.0.1:0",
    ];
    if let Some(key) = admin_key {
        args.extend(["--admin-key", key.to_str().expect("utf-8")]);
    }
    cli(&args);
    fast_sync(&dir);
    Member {
        code: code.into(),
        dir,
        p2p,
        child: None,
    }
}

/// Writes `founder`'s charter to ROOT/charter.toml, the file joiners are given.
pub fn charter_file(root: &Path, founder: &Member) -> PathBuf {
    let charter = root.join("charter.toml");
    std::fs::write(&charter, cli(&["charter", "--dir", founder.path()])).expect("charter");
    charter
}

impl Member {
    /// The address a joiner bootstraps from to reach the network through this node
    /// (its p2p address with `/p2p/PEER_ID`).
    pub fn bootstrap_address(&self) -> String {
        let status = wait_for("the status", DEADLINE, || self.get("/api/v1/status"));
        let peer = status["node"]["peer_id"].as_str().expect("peer id");
        format!("{}/p2p/{peer}", self.p2p)
    }
}

/// Admits `joiner`: `by[0]` proposes, the others approve.
pub fn admit(by: &[&Member], joiner: &Member) {
    let proposal = propose(by[0], &card_of(joiner));
    for approver in &by[1..] {
        approve(approver, &proposal);
    }
}

pub fn card_of(member: &Member) -> PathBuf {
    let card = member.dir.with_extension("card");
    std::fs::write(&card, cli(&["member", "export", "--dir", member.path()])).expect("card");
    card
}

pub fn propose(by: &Member, card: &Path) -> String {
    let answer = cli_json(&[
        "member",
        "propose",
        "--dir",
        by.path(),
        card.to_str().expect("utf-8"),
    ]);
    answer["proposal"]
        .as_str()
        .expect("proposal id")
        .to_string()
}

/// Approves once the approver's node holds the proposal (it arrives by gossip).
pub fn approve(by: &Member, proposal: &str) {
    wait_for(
        &format!("{} to approve {proposal}", by.code),
        DEADLINE,
        || {
            let (ok, _, err) = run_cli(&["member", "approve", "--dir", by.path(), proposal]);
            assert!(ok || err.contains("not_found"), "{err}");
            ok.then_some(())
        },
    )
}

pub fn wait_member(on: &Member, code: &str, status: &str) {
    wait_for(
        &format!("{} to see {code} {status}", on.code),
        DEADLINE,
        || {
            on.standings()
                .contains(&(code.to_string(), status.to_string()))
                .then_some(())
        },
    )
}
