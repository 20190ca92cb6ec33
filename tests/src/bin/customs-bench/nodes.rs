//! Node directories and `customs-node run` processes, driven over their HTTP API.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use customs_node::client::ApiClient;
use customs_node::config::{
    ApiSection, MemberCard, Members, NodeConfig, NodeSection, P2pSection, StoreSection, STORE_DIR,
    TOKEN_FILE,
};
use customs_node::node::API_URL_FILE;
use customs_node::store::{Store, StoreConfig};
use customs_protocol::{PublicKey, VerifiedEntry};
use serde_json::Value;

use crate::data::NETWORK;

/// How often the harness looks at a node while waiting for a condition.
pub const POLL_INTERVAL: Duration = Duration::from_millis(20);
/// Longest wait for a node to start or stop.
const START_STOP_DEADLINE: Duration = Duration::from_secs(120);
/// Entries per group commit when the harness fills a store directly.
pub const FILL_BATCH: usize = 1000;

pub struct Env {
    pub node_binary: PathBuf,
    pub work_dir: PathBuf,
}

impl Env {
    /// A fresh directory for one benchmark's data.
    pub fn dir(&self, name: &str) -> anyhow::Result<PathBuf> {
        let dir = self.work_dir.join(name);
        if dir.exists() {
            std::fs::remove_dir_all(&dir).with_context(|| format!("clearing {}", dir.display()))?;
        }
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        Ok(dir)
    }
}

/// The `customs-node` binary beside this one (same profile).
pub fn node_binary() -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe().context("locating customs-bench")?;
    let binary = exe.with_file_name("customs-node");
    if !binary.exists() {
        bail!(
            "{} is missing: build both binaries first, e.g. `cargo build --release --workspace --bins`",
            binary.display()
        );
    }
    Ok(binary)
}

/// A member of the network, for members.toml: a node (with addresses once known) or
/// an author that only signs entries.
#[derive(Clone)]
pub struct Member {
    pub code: String,
    pub key: PublicKey,
    pub addresses: Vec<String>,
}

/// The first `count` authors as members that only sign (no node, no address).
pub fn author_members(count: usize) -> Vec<Member> {
    crate::data::author_keys(count)
        .into_iter()
        .enumerate()
        .map(|(a, key)| Member {
            code: crate::data::member_code('A', a),
            key,
            addresses: Vec::new(),
        })
        .collect()
}

/// Makes a node directory as `init` does (127.0.0.1, port 0 for p2p and API) and
/// returns the node's key.
pub fn init_node(dir: &Path, code: &str, sync_interval_ms: u64) -> anyhow::Result<PublicKey> {
    let config = NodeConfig {
        node: NodeSection {
            code: code.into(),
            name: format!("Benchmark node {code}"),
            network: NETWORK.into(),
            // Every benchmark node starts a network of its own data.
            allow_publish_before_sync: true,
        },
        p2p: P2pSection {
            listen: "/ip4/127.0.0.1/tcp/0".into(),
            sync_interval_ms,
            redial_interval_ms: 1_000,
            ..P2pSection::default()
        },
        api: ApiSection {
            listen: "127.0.0.1:0".into(),
            ..ApiSection::default()
        },
        store: StoreSection::default(),
        audit: Default::default(),
        notify: Default::default(),
    };
    Ok(customs_node::setup::init_node_dir(dir, &config)?)
}

/// `n` node processes in DIR/N0.., every one a member dialled by the later ones (a
/// full mesh of connections); returns them once each is connected to all others.
pub fn start_mesh(env: &Env, dir: &Path, n: usize) -> anyhow::Result<Vec<NodeProcess>> {
    let mut members = Vec::new();
    for i in 0..n {
        let code = crate::data::member_code('N', i);
        let key = init_node(&dir.join(&code), &code, 30_000)?;
        members.push(Member {
            code,
            key,
            addresses: Vec::new(),
        });
    }
    let mut running: Vec<NodeProcess> = Vec::new();
    for i in 0..n {
        let node_dir = dir.join(&members[i].code);
        write_members(&node_dir, &members[i].key, &members)?;
        let node = NodeProcess::start(env, &node_dir)?;
        members[i].addresses = vec![node.p2p_address()?];
        running.push(node);
    }
    for node in &mut running {
        node.wait(
            "a connection to every other node",
            Duration::from_secs(120),
            |node| Ok((node.connected_peers()? == n - 1).then_some(())),
        )?;
    }
    Ok(running)
}

/// Writes DIR/members.toml with `members` (the node itself left out).
pub fn write_members(dir: &Path, own: &PublicKey, members: &[Member]) -> anyhow::Result<()> {
    let members = Members {
        members: members
            .iter()
            .filter(|m| m.key != *own)
            .map(|m| MemberCard {
                network: NETWORK.into(),
                code: m.code.clone(),
                name: format!("Member {}", m.code),
                public_key: m.key,
                addresses: m.addresses.clone(),
            })
            .collect(),
    };
    Ok(members.save(dir)?)
}

/// Fills a node directory's store with already verified entries, in group commits of
/// [`FILL_BATCH`], as if the node had received them earlier. Returns the time taken.
pub fn fill_store(dir: &Path, entries: &[VerifiedEntry]) -> anyhow::Result<Duration> {
    let store = open_store(dir)?;
    let started = Instant::now();
    for chunk in entries.chunks(FILL_BATCH) {
        store.ingest(chunk.to_vec())?;
    }
    store.flush()?;
    let elapsed = started.elapsed();
    let held = store.counts().entries;
    if held < entries.len() as u64 {
        bail!("filled {} entries, the store holds {held}", entries.len());
    }
    drop(store);
    wait_store_closed(dir)?;
    Ok(elapsed)
}

/// Waits until the store this process dropped has let go of its lock (the index's
/// lock file), so that copying or reopening the store, or starting a node on it, is
/// safe. Returns how long it took.
pub fn wait_store_closed(dir: &Path) -> anyhow::Result<Duration> {
    let lock_file = dir.join(STORE_DIR).join("index").join("lock");
    let started = Instant::now();
    loop {
        // flock(1) takes the same lock as the store (flock(2), exclusive), without waiting.
        let status = Command::new("flock")
            .args(["--nonblock", "--conflict-exit-code", "99"])
            .arg(&lock_file)
            .arg("true")
            .status()
            .context("running flock(1) to see whether the store is closed")?;
        match status.code() {
            Some(0) => return Ok(started.elapsed()),
            Some(99) if started.elapsed() < START_STOP_DEADLINE => {
                std::thread::sleep(POLL_INTERVAL)
            }
            _ => bail!("{} stayed locked ({status})", lock_file.display()),
        }
    }
}

pub fn open_store(dir: &Path) -> anyhow::Result<Store> {
    Ok(Store::open(StoreConfig::new(dir.join(STORE_DIR), NETWORK))?)
}

/// Bytes of all files under `path`, as allocated on disk (a preallocated, sparse
/// journal counts only what it holds).
pub fn dir_bytes(path: &Path) -> anyhow::Result<u64> {
    customs_node::files::allocated_bytes(path)
        .with_context(|| format!("reading {}", path.display()))
}

/// Copies a directory tree (a closed store).
pub fn copy_dir(from: &Path, to: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.metadata()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), &target)
                .with_context(|| format!("copying {}", entry.path().display()))?;
        }
    }
    Ok(())
}

/// A running `customs-node run --dir DIR`, stopped (SIGTERM) when dropped.
pub struct NodeProcess {
    child: Child,
    pub dir: PathBuf,
    pub api: String,
    token: String,
    /// The node's API, once its address is known.
    client: ApiClient,
    /// From spawning the process to `/readyz` answering 200.
    pub start_to_ready: Duration,
}

impl NodeProcess {
    pub fn start(env: &Env, dir: &Path) -> anyhow::Result<NodeProcess> {
        let url_file = dir.join(API_URL_FILE);
        let _ = std::fs::remove_file(&url_file);
        let log = std::fs::File::create(dir.join("node.log"))?;
        let started = Instant::now();
        let child = Command::new(&env.node_binary)
            .args(["run", "--dir"])
            .arg(dir)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting {}", env.node_binary.display()))?;
        let token = std::fs::read_to_string(dir.join(TOKEN_FILE))?
            .trim()
            .to_string();
        let mut node = NodeProcess {
            child,
            dir: dir.to_path_buf(),
            api: String::new(),
            client: ApiClient::new("http://unknown", None, None),
            token,
            start_to_ready: Duration::ZERO,
        };
        node.api = node.wait("its API address", START_STOP_DEADLINE, |n| {
            n.check_alive()?;
            Ok(std::fs::read_to_string(&url_file)
                .ok()
                .map(|u| u.trim().to_string()))
        })?;
        node.client = node.client();
        node.wait("/readyz", START_STOP_DEADLINE, |n| {
            n.check_alive()?;
            let ready = n.client.send("GET", "/readyz", None);
            Ok(matches!(ready, Ok(r) if r.status == 200).then_some(()))
        })?;
        node.start_to_ready = started.elapsed();
        Ok(node)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    fn check_alive(&mut self) -> anyhow::Result<()> {
        if let Some(status) = self.child.try_wait()? {
            bail!(
                "node {} exited ({status}); its log is {}",
                self.dir.display(),
                self.dir.join("node.log").display()
            );
        }
        Ok(())
    }

    /// Polls `probe` every [`POLL_INTERVAL`] until it gives a value, or fails after
    /// `deadline` naming `what`.
    pub fn wait<T>(
        &mut self,
        what: &str,
        deadline: Duration,
        mut probe: impl FnMut(&mut NodeProcess) -> anyhow::Result<Option<T>>,
    ) -> anyhow::Result<T> {
        let until = Instant::now() + deadline;
        loop {
            if let Some(value) = probe(self)? {
                return Ok(value);
            }
            if Instant::now() > until {
                bail!(
                    "node {} did not reach {what} within {deadline:?}",
                    self.dir.display()
                );
            }
            std::thread::sleep(POLL_INTERVAL);
        }
    }

    pub fn token(&self) -> &str {
        &self.token
    }

    /// A new client of this node's API (its own connections), with its admin token.
    pub fn client(&self) -> ApiClient {
        ApiClient::new(&self.api, Some(&self.token), Some(Duration::from_secs(60)))
    }

    pub fn get_json(&self, path: &str) -> anyhow::Result<Value> {
        self.client
            .get(path)
            .with_context(|| format!("GET {path} on {}", self.api))
    }

    pub fn status(&self) -> anyhow::Result<Value> {
        self.get_json("/api/v1/status")
    }

    /// Entries the node holds.
    pub fn entries(&self) -> anyhow::Result<u64> {
        self.status()?["counts"]["entries"]
            .as_u64()
            .context("status without counts.entries")
    }

    /// The node's first listen address, with its peer id, for other members' cards.
    pub fn p2p_address(&self) -> anyhow::Result<String> {
        let status = self.status()?;
        let address = status["node"]["listen_addrs"][0]
            .as_str()
            .context("status without a listen address")?;
        Ok(address.to_string())
    }

    /// Peers this node is connected to.
    pub fn connected_peers(&self) -> anyhow::Result<usize> {
        let status = self.status()?;
        Ok(status["peers"].as_array().map_or(0, |peers| {
            peers.iter().filter(|p| p["connected"] == true).count()
        }))
    }

    /// The value of one Prometheus sample from `/metrics` (`name` with its labels, as
    /// written, e.g. `customs_sync_requests_sent_total{kind="entries"}`).
    pub fn metric(&self, sample: &str) -> anyhow::Result<f64> {
        self.metrics()?
            .lines()
            .find_map(|line| {
                let (name, value) = line.rsplit_once(' ')?;
                (name == sample).then(|| value.parse::<f64>().ok())?
            })
            .with_context(|| format!("/metrics has no sample {sample}"))
    }

    /// The node's `/metrics` text.
    fn metrics(&self) -> anyhow::Result<String> {
        Ok(self.client.send("GET", "/metrics", None)?.text())
    }

    /// The buckets of a histogram in `/metrics`: `(le, cumulative count)`, +Inf last.
    pub fn histogram(&self, family: &str) -> anyhow::Result<Vec<(f64, f64)>> {
        let buckets = customs_tests::histogram_buckets(&self.metrics()?, family);
        if buckets.last().is_none_or(|(le, _)| le.is_finite()) {
            bail!("/metrics has no histogram {family}");
        }
        Ok(buckets)
    }

    /// Peak resident memory of the process so far (VmHWM), in bytes.
    pub fn peak_rss_bytes(&self) -> anyhow::Result<u64> {
        peak_rss_bytes(self.pid())
    }

    /// Stops the node with SIGTERM and waits for it to exit cleanly.
    pub fn stop(mut self) -> anyhow::Result<()> {
        self.terminate()?;
        let until = Instant::now() + START_STOP_DEADLINE;
        loop {
            if let Some(status) = self.child.try_wait()? {
                if !status.success() {
                    bail!("node {} stopped with {status}", self.dir.display());
                }
                return Ok(());
            }
            if Instant::now() > until {
                bail!(
                    "node {} did not stop within {START_STOP_DEADLINE:?}",
                    self.dir.display()
                );
            }
            std::thread::sleep(POLL_INTERVAL);
        }
    }

    fn terminate(&mut self) -> anyhow::Result<()> {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()?;
        if !status.success() {
            bail!("kill -TERM {} failed", self.child.id());
        }
        Ok(())
    }
}

impl Drop for NodeProcess {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// CPU time (user and system, every thread) process `pid` has used so far.
pub fn cpu_time(pid: u32) -> anyhow::Result<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Fields after the command name, which is in parentheses and may hold spaces:
    // utime and stime are the 14th and 15th fields of the line.
    let after_name = stat.rsplit_once(')').context("no ')' in /proc/PID/stat")?.1;
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks: u64 = [11, 12]
        .iter()
        .map(|&i| fields.get(i).and_then(|f| f.parse::<u64>().ok()))
        .sum::<Option<u64>>()
        .context("no utime/stime in /proc/PID/stat")?;
    Ok(Duration::from_secs_f64(
        ticks as f64 / clock_ticks_per_second()? as f64,
    ))
}

/// The kernel's clock ticks per second, the unit of /proc/PID/stat's times.
fn clock_ticks_per_second() -> anyhow::Result<u64> {
    let output = Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .context("getconf CLK_TCK")?;
    String::from_utf8_lossy(&output.stdout)
        .trim()
        .parse()
        .context("getconf CLK_TCK printed no number")
}

/// Peak resident memory (VmHWM) of process `pid`, in bytes.
pub fn peak_rss_bytes(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let kib = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse::<u64>().ok())
        .context("no VmHWM in /proc/PID/status")?;
    Ok(kib * 1024)
}
