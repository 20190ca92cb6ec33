//! `customs-node` as OS processes: made with `init`, run with `run`, stopped with a
//! signal.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use customs_protocol::PublicKey;

use crate::cluster::NETWORK;
use crate::node_binary;

/// Runs the CLI and requires success; returns its standard output.
pub fn node_cli(args: &[&str]) -> String {
    let output = Command::new(node_binary())
        .args(args)
        .output()
        .expect("runs");
    assert!(output.status.success(), "{args:?}: {output:?}");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Starts `customs-node run` and forwards its log to the test's stderr; the receiver
/// gets the address the node listens on.
pub fn run_process(dir: &Path) -> (Child, std::sync::mpsc::Receiver<String>) {
    let mut command = Command::new(node_binary());
    command.args(["run", "--dir", dir.to_str().expect("utf-8")]);
    spawn_logged(command, "process")
}

/// Starts `command` (a node) with its log forwarded to the test's stderr under
/// `label`; the receiver gets the address the node listens on.
pub fn spawn_logged(command: Command, label: &str) -> (Child, std::sync::mpsc::Receiver<String>) {
    spawn_logged_into(command, label, None)
}

/// [`spawn_logged`] that also keeps every log line in `sink` (to search what a node
/// wrote to its log).
pub fn spawn_logged_into(
    mut command: Command,
    label: &str,
    sink: Option<std::sync::Arc<std::sync::Mutex<Vec<String>>>>,
) -> (Child, std::sync::mpsc::Receiver<String>) {
    let mut child = command
        // TEST_NODE_LOG raises the nodes' log level when a test needs looking into.
        .env(
            "RUST_LOG",
            std::env::var("TEST_NODE_LOG").unwrap_or_else(|_| "info".into()),
        )
        .stderr(Stdio::piped())
        .spawn()
        .expect("node starts");
    let stderr = child.stderr.take().expect("stderr");
    let (address_tx, address) = std::sync::mpsc::channel();
    let label = label.to_string();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(at) = line.find("listening address=") {
                let addr = line[at + "listening address=".len()..]
                    .split_whitespace()
                    .next();
                let _ = address_tx.send(addr.unwrap_or_default().to_string());
            }
            eprintln!("[{label}] {line}");
            if let Some(sink) = &sink {
                sink.lock().unwrap_or_else(|e| e.into_inner()).push(line);
            }
        }
    });
    (child, address)
}

/// A node directory made by `customs-node init` (on loopback, ports chosen by the
/// system), syncing often; returns its key.
pub fn init_process_node(dir: &Path, code: &str) -> PublicKey {
    init_process_node_at(dir, code, "/ip4/127.0.0.1/tcp/0", "127.0.0.1:0")
}

/// [`init_process_node`] listening where told.
pub fn init_process_node_at(
    dir: &Path,
    code: &str,
    p2p_listen: &str,
    api_listen: &str,
) -> PublicKey {
    let path = dir.to_str().expect("utf-8");
    node_cli(&[
        "init",
        "--dir",
        path,
        "--code",
        code,
        "--name",
        code,
        "--network",
        NETWORK,
        "--p2p-listen",
        p2p_listen,
        "--api-listen",
        api_listen,
    ]);
    edit_config(
        dir,
        &[("sync_interval_ms = 30000", "sync_interval_ms = 500")],
    );
    let card = node_cli(&["member", "export", "--dir", path]);
    card.lines()
        .find_map(|l| l.strip_prefix("public_key = \""))
        .and_then(|k| PublicKey::from_hex(k.trim_end_matches('"')).ok())
        .expect("card has the key")
}

/// Replaces lines of DIR/node.toml; each `from` must be there.
pub fn edit_config(dir: &Path, edits: &[(&str, &str)]) {
    let path = dir.join("node.toml");
    let mut config = std::fs::read_to_string(&path).expect("config");
    for (from, to) in edits {
        assert!(config.contains(from), "node.toml has no {from:?}");
        config = config.replace(from, to);
    }
    std::fs::write(&path, config).expect("write config");
}

/// Admits a member (by key, with optional addresses) into a process node's directory.
pub fn admit(dir: &Path, code: &str, key: &PublicKey, addresses: &[String]) {
    let quoted: Vec<String> = addresses.iter().map(|a| format!("\"{a}\"")).collect();
    let card = format!(
        "network = \"{NETWORK}\"\ncode = \"{code}\"\nname = \"{code}\"\npublic_key = \"{key}\"\naddresses = [{}]\n",
        quoted.join(", ")
    );
    let file = dir.with_extension(format!("{code}.card"));
    std::fs::write(&file, card).expect("card");
    node_cli(&[
        "member",
        "add",
        "--dir",
        dir.to_str().expect("utf-8"),
        file.to_str().expect("utf-8"),
    ]);
}

/// Sends `signal` (TERM, KILL, ...) to a process.
pub fn signal(child: &Child, signal: &str) {
    let status = Command::new("kill")
        .args([&format!("-{signal}"), &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success(), "kill -{signal} failed");
}

/// SIGTERM, then the exit status must say the node stopped cleanly (in time).
pub fn terminate(mut child: Child) {
    let (exit, _) = terminate_within(&mut child, Duration::from_secs(20));
    assert!(
        exit.success(),
        "the node did not shut down cleanly: {exit:?}"
    );
}

/// SIGTERM, and how long the process took to exit (failing after `within`).
pub fn terminate_within(
    child: &mut Child,
    within: Duration,
) -> (std::process::ExitStatus, Duration) {
    let start = Instant::now();
    signal(child, "TERM");
    let status = crate::wait_for("the node to exit after SIGTERM", within, || {
        child.try_wait().expect("status")
    });
    (status, start.elapsed())
}

/// The URL of the API of the node running in `dir` (from DIR/api.url, written once the
/// node has started).
pub fn api_url(dir: &Path, timeout: Duration) -> String {
    crate::wait_for("the node to write api.url", timeout, || {
        std::fs::read_to_string(dir.join("api.url"))
            .ok()
            .map(|u| u.trim().to_string())
            .filter(|u| !u.is_empty())
    })
}

/// The admin token `init` wrote to DIR/api-token.
pub fn admin_token(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("api-token"))
        .expect("DIR/api-token")
        .trim()
        .to_string()
}
