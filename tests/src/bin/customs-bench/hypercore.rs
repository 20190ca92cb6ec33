//! Benchmark 7, the peer system: Hypercore 11 (npm), replicating the same entries between two
//! Node.js processes over loopback TCP. Installed by the harness into the build
//! directory from `tests/bench/hypercore` (package.json and its lock file); it is not a
//! dependency of the node.

use std::io::{BufRead as _, BufReader, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use serde_json::Value;

/// The harness's Hypercore scripts and pinned package, in the source tree.
const SOURCE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/bench/hypercore");
const FILES: [&str; 4] = [
    "package.json",
    "package-lock.json",
    "writer.mjs",
    "reader.mjs",
];
/// Longest a replication may take before the benchmark gives up.
const REPLICATION_DEADLINE: Duration = Duration::from_secs(600);

pub struct Hypercore {
    dir: PathBuf,
    pub version: String,
}

/// One replication: what the harness saw and what the reader reported.
pub struct Replication {
    /// From the start of the reader process to the last block stored (its own clock,
    /// whose origin is the process start; the check that reads every block back after
    /// is not counted).
    pub since_start: Duration,
    /// From connecting to the last block stored.
    pub replicate: Duration,
    /// Bytes the reader read from the socket.
    pub bytes_read: u64,
}

impl Hypercore {
    /// Installs the pinned package (once per build directory) with `npm ci`.
    pub fn install() -> anyhow::Result<Hypercore> {
        let node = Command::new("node")
            .arg("--version")
            .output()
            .context("Node.js (`node`) is needed for the Hypercore comparison: install Node.js 18 or later and npm")?;
        if !node.status.success() {
            bail!("`node --version` failed");
        }
        let dir = std::env::current_exe()?.with_file_name("hypercore-bench");
        std::fs::create_dir_all(&dir)?;
        let lock = std::fs::read(Path::new(SOURCE).join("package-lock.json"))?;
        let installed = std::fs::read(dir.join("package-lock.json")).ok() == Some(lock)
            && dir.join("node_modules/hypercore/package.json").exists();
        for file in FILES {
            std::fs::copy(Path::new(SOURCE).join(file), dir.join(file))
                .with_context(|| format!("copying {file} from {SOURCE}"))?;
        }
        if !installed {
            let status = Command::new("npm")
                .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
                .current_dir(&dir)
                .stdin(Stdio::null())
                .status()
                .context("running npm (needed for the Hypercore comparison)")?;
            if !status.success() {
                bail!("`npm ci` in {} failed", dir.display());
            }
        }
        let package: Value = serde_json::from_slice(&std::fs::read(
            dir.join("node_modules/hypercore/package.json"),
        )?)?;
        let version = package["version"].as_str().unwrap_or("?").to_string();
        Ok(Hypercore { dir, version })
    }

    /// Appends `blocks` to a core in one process and replicates it into an empty core
    /// in another; data lives under `work`.
    pub fn replicate(&self, work: &Path, blocks: &[Vec<u8>]) -> anyhow::Result<Replication> {
        std::fs::create_dir_all(work)?;
        let entries_file = work.join("entries.bin");
        let mut file = std::io::BufWriter::new(std::fs::File::create(&entries_file)?);
        for block in blocks {
            file.write_all(&(block.len() as u32).to_be_bytes())?;
            file.write_all(block)?;
        }
        file.into_inner()?.sync_all()?;
        let total_bytes: usize = blocks.iter().map(Vec::len).sum();

        let mut writer = Command::new("node")
            .arg(self.dir.join("writer.mjs"))
            .arg(work.join("writer"))
            .arg(&entries_file)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .context("starting the Hypercore writer")?;
        let mut line = String::new();
        BufReader::new(writer.stdout.take().context("writer stdout")?).read_line(&mut line)?;
        let ready: Value = serde_json::from_str(&line)
            .with_context(|| format!("the Hypercore writer said {line:?}"))?;
        let key = ready["key"].as_str().context("writer: no key")?.to_string();
        let port = ready["port"].as_u64().context("writer: no port")?;

        let started = Instant::now();
        let mut reader = Command::new("node")
            .arg(self.dir.join("reader.mjs"))
            .arg(work.join("reader"))
            .arg(&key)
            .arg(port.to_string())
            .arg(blocks.len().to_string())
            .arg(total_bytes.to_string())
            .stdout(Stdio::piped())
            .spawn()
            .context("starting the Hypercore reader")?;
        let status = loop {
            if let Some(status) = reader.try_wait()? {
                break status;
            }
            if started.elapsed() > REPLICATION_DEADLINE {
                let _ = reader.kill();
                bail!(
                    "Hypercore did not replicate {} blocks within {REPLICATION_DEADLINE:?}",
                    blocks.len()
                );
            }
            std::thread::sleep(crate::nodes::POLL_INTERVAL);
        };
        let output = reader.wait_with_output()?;
        drop(writer.stdin.take()); // the writer exits when its stdin closes
        let _ = writer.wait();
        if !status.success() {
            bail!("the Hypercore reader failed ({status})");
        }
        let done: Value = serde_json::from_slice(&output.stdout).with_context(|| {
            format!(
                "the Hypercore reader said {:?}",
                String::from_utf8_lossy(&output.stdout)
            )
        })?;
        let seconds = |field: &str| -> anyhow::Result<Duration> {
            let ms = done[field]
                .as_f64()
                .with_context(|| format!("the Hypercore reader gave no {field}"))?;
            Ok(Duration::from_secs_f64(ms / 1000.0))
        };
        Ok(Replication {
            since_start: seconds("ms_since_start")?,
            replicate: seconds("ms")?,
            bytes_read: done["bytes_read"].as_u64().unwrap_or(0),
        })
    }
}
