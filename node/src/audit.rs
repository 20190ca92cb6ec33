//! DIR/audit.log: who did what on this node, one JSON object a line (`time`, `action`,
//! `actor`, `outcome`, and `id`, `peer`, `detail` where there are some). Rotated by
//! size. It never holds a token or a record's content: actors are token names, records
//! are ids, refusals are reason names.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use serde::Serialize;

use crate::config::AuditSection;

pub const AUDIT_FILE: &str = "audit.log";

/// One line of the audit log.
#[derive(Debug, Clone, Serialize)]
pub struct Event {
    /// RFC 3339, UTC, milliseconds.
    pub time: String,
    /// What happened: `publish_alert`, `publish_aeo`, `retract`, `request` (any other
    /// state-changing route), `read`, `unauthorized`, `forbidden`, `tokens_changed`,
    /// `tokens_unreadable`, `refused_by_member`, `clock_refusal`, `fork`,
    /// `own_key_forked`, `member_add`, `node_start`, `node_stop`.
    pub action: String,
    /// A token's name, a member's code, `node` or `cli`; `unknown` for a request
    /// without a valid token.
    pub actor: String,
    /// `ok`, `replayed`, or what went wrong (an HTTP status, a reason name).
    pub outcome: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The other side: a client's address or a member's code.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub peer: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

impl Event {
    pub fn new(action: &str, actor: &str, outcome: &str) -> Event {
        Event {
            time: crate::clock::rfc3339(crate::clock::now_ms()),
            action: action.into(),
            actor: actor.into(),
            outcome: outcome.into(),
            id: None,
            peer: None,
            detail: None,
        }
    }

    pub fn with_id(mut self, id: impl ToString) -> Event {
        self.id = Some(id.to_string());
        self
    }

    pub fn with_peer(mut self, peer: impl ToString) -> Event {
        self.peer = Some(peer.to_string());
        self
    }

    pub fn with_detail(mut self, detail: impl ToString) -> Event {
        self.detail = Some(detail.to_string());
        self
    }

    fn line(&self) -> String {
        let mut line = serde_json::to_string(self).unwrap_or_else(|_| "{}".into());
        line.push('\n');
        line
    }
}

struct Writer {
    path: PathBuf,
    file: File,
    size: u64,
    max_file_bytes: u64,
    keep_files: u32,
}

impl Writer {
    fn write(&mut self, line: &str) -> std::io::Result<()> {
        if self.size > 0 && self.size + line.len() as u64 > self.max_file_bytes {
            self.rotate()?;
        }
        self.file.write_all(line.as_bytes())?;
        self.size += line.len() as u64;
        Ok(())
    }

    /// audit.log.N-1 -> audit.log.N, ..., audit.log -> audit.log.1; the oldest goes.
    fn rotate(&mut self) -> std::io::Result<()> {
        let numbered = |n: u32| {
            let mut name = self.path.as_os_str().to_os_string();
            name.push(format!(".{n}"));
            PathBuf::from(name)
        };
        for n in (1..self.keep_files).rev() {
            let from = numbered(n);
            if from.exists() {
                fs::rename(&from, numbered(n + 1))?;
            }
        }
        fs::rename(&self.path, numbered(1))?;
        self.file = open_append(&self.path)?;
        self.size = 0;
        Ok(())
    }
}

fn open_append(path: &Path) -> std::io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    OpenOptions::new()
        .create(true)
        .append(true)
        .mode(crate::files::PRIVATE_FILE_MODE)
        .open(path)
}

/// The running node's audit log. Cheap to clone; writes are small appends under a
/// lock (no fsync: the page cache keeps them across a process crash).
#[derive(Clone, Default)]
pub struct Audit {
    writer: Option<Arc<Mutex<Writer>>>,
    reads: bool,
    failed: Arc<AtomicU64>,
}

impl std::fmt::Debug for Audit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Audit")
            .field("enabled", &self.writer.is_some())
            .field("reads", &self.reads)
            .finish()
    }
}

impl Audit {
    /// Opens (or creates, mode 0600) DIR/audit.log.
    pub fn open(dir: &Path, config: &AuditSection) -> std::io::Result<Audit> {
        let path = dir.join(AUDIT_FILE);
        let file = open_append(&path)?;
        let size = file.metadata()?.len();
        Ok(Audit {
            writer: Some(Arc::new(Mutex::new(Writer {
                path,
                file,
                size,
                max_file_bytes: config.max_file_bytes,
                keep_files: config.keep_files,
            }))),
            reads: config.reads,
            failed: Arc::default(),
        })
    }

    /// An audit log that records nothing (tools and tests without a node directory).
    pub fn disabled() -> Audit {
        Audit::default()
    }

    /// Whether reads of records are recorded too.
    pub fn records_reads(&self) -> bool {
        self.reads
    }

    /// Lines that could not be written (a full disk); counted in the metrics.
    pub fn failed_writes(&self) -> u64 {
        self.failed.load(Ordering::Relaxed)
    }

    pub fn record(&self, event: Event) {
        let Some(writer) = &self.writer else {
            return;
        };
        let mut writer = writer.lock().unwrap_or_else(|e| e.into_inner());
        if let Err(error) = writer.write(&event.line()) {
            // Counted and logged at most once per failure streak's first line.
            if self.failed.fetch_add(1, Ordering::Relaxed) == 0 {
                tracing::error!(%error, "cannot write the audit log");
            }
        }
    }
}

/// Appends one event to DIR/audit.log from another process (the CLI); the running
/// node does the rotating. A failure is reported on standard error, not fatal.
pub fn append(dir: &Path, event: &Event) {
    let written = open_append(&dir.join(AUDIT_FILE))
        .and_then(|mut file| file.write_all(event.line().as_bytes()));
    if let Err(error) = written {
        eprintln!(
            "warning: cannot write {}: {error}",
            dir.join(AUDIT_FILE).display()
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_json_and_the_log_rotates_by_size() {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = AuditSection {
            reads: false,
            max_file_bytes: 4096,
            keep_files: 2,
        };
        let audit = Audit::open(dir.path(), &config).expect("open");
        for n in 0..200 {
            audit.record(Event::new("publish_alert", "officer.jansen", "ok").with_id(n));
        }
        let current = fs::read_to_string(dir.path().join(AUDIT_FILE)).expect("read");
        assert!(current.len() <= 4096);
        for line in current.lines() {
            let value: serde_json::Value = serde_json::from_str(line).expect("JSON line");
            assert_eq!(value["action"], "publish_alert");
            assert_eq!(value["actor"], "officer.jansen");
            assert!(value["time"].as_str().is_some_and(|t| t.ends_with('Z')));
        }
        assert!(dir.path().join("audit.log.1").exists());
        assert!(dir.path().join("audit.log.2").exists());
        assert!(!dir.path().join("audit.log.3").exists(), "keeps 2");
        let last = current.lines().last().expect("a line");
        assert!(last.contains("\"id\":\"199\""), "{last}");
    }
}
