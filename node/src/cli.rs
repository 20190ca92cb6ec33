//! The commands that talk to a running node through its HTTP API: readable tables by
//! default, the API's JSON with `--json`, and one clear line for any error.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::de::DeserializeOwned;
use serde_json::Value;
use thiserror::Error;

use crate::api::views::{AeoStatusView, AlertList, ForkList, Published, StatusView};
use crate::client::{ApiClient, ClientError};
use crate::config::{NodeConfig, TOKEN_FILE};
use crate::node::API_URL_FILE;

/// How long one API call may take.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// How often `status --watch` and `--wait-sync` look again.
pub const POLL_INTERVAL: Duration = Duration::from_secs(1);

#[derive(Debug, Error)]
pub enum CliError {
    #[error("cannot reach the node at {url}: {reason} (is `customs-node run` running?)")]
    Unreachable { url: String, reason: String },
    #[error("{status} {code}{}: {message}", field.as_ref().filter(|f| !message.starts_with(f.as_str())).map(|f| format!(" ({f})")).unwrap_or_default())]
    Api {
        status: u16,
        code: String,
        message: String,
        field: Option<String>,
    },
    #[error("cannot read {path}: {reason}")]
    Read { path: PathBuf, reason: String },
    #[error("the node's answer is not what this CLI expects: {0}")]
    Answer(String),
    #[error("{0}")]
    Usage(String),
    #[error("gave up after {0} s")]
    Timeout(u64),
    #[error("no answer from the node ({reason}); it may or may not have published. Run the same command again with --idempotency-key {key}: it publishes only if the first did not")]
    AnswerLost { reason: String, key: String },
}

/// Where the API is and which token to use.
#[derive(Debug, Clone)]
pub struct Target {
    pub url: String,
    pub token: String,
}

impl Target {
    /// `url` if given, else DIR/api.url (written by the running node), else the
    /// configured api.listen; `token` if given, else DIR/api-token.
    pub fn resolve(
        dir: &Path,
        url: Option<String>,
        token: Option<String>,
    ) -> Result<Target, CliError> {
        let read = |path: PathBuf| {
            std::fs::read_to_string(&path).map_err(|e| CliError::Read {
                path,
                reason: e.to_string(),
            })
        };
        let url = match url {
            Some(url) => url,
            None if dir.join(API_URL_FILE).exists() => read(dir.join(API_URL_FILE))?,
            None => {
                let config = NodeConfig::load(dir).map_err(|e| CliError::Read {
                    path: dir.to_path_buf(),
                    reason: e.to_string(),
                })?;
                format!("http://{}", config.api.listen)
            }
        };
        let token = match token {
            Some(token) => token,
            None => read(dir.join(TOKEN_FILE))?,
        };
        Ok(Target {
            url: url.trim().trim_end_matches('/').to_string(),
            token: token.trim().to_string(),
        })
    }

    /// The typed API client for this target.
    pub fn client(&self) -> ApiClient {
        ApiClient::new(&self.url, Some(&self.token), Some(REQUEST_TIMEOUT))
    }

    pub fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, CliError> {
        self.client().get(path).map_err(CliError::from)
    }

    pub fn post<T: DeserializeOwned>(&self, path: &str, body: &Value) -> Result<T, CliError> {
        self.client().post(path, body).map_err(CliError::from)
    }

    /// Publishes with an idempotency key (a new one unless given), retrying when the
    /// answer is lost. If every try lost its answer, the error names the key: the same
    /// command with `--idempotency-key KEY` then finds out without publishing twice.
    pub fn publish<T: DeserializeOwned>(
        &self,
        path: &str,
        body: &Value,
        idempotency_key: Option<String>,
    ) -> Result<T, CliError> {
        let key = idempotency_key.unwrap_or_else(crate::client::new_idempotency_key);
        self.client()
            .publish(path, body, &key)
            .map_err(|error| match error {
                lost @ (ClientError::Unreachable { .. } | ClientError::Answer(_)) => {
                    CliError::AnswerLost {
                        reason: lost.to_string(),
                        key: key.clone(),
                    }
                }
                other => CliError::from(other),
            })
    }

    /// Downloads `path` of the API into the new file `out` (complete or absent).
    pub fn download(&self, path: &str, out: &Path) -> Result<(), CliError> {
        // Open first, so that an error answer leaves no file behind.
        let mut stream = self.client().stream(path)?;
        crate::bundle::write_file(out, |file| {
            std::io::copy(&mut stream, file)
                .map(|_| ())
                .map_err(crate::bundle::BundleError::Output)
        })
        .map_err(|e| CliError::Answer(e.to_string()))
    }
}

impl From<ClientError> for CliError {
    fn from(error: ClientError) -> Self {
        match error {
            ClientError::Unreachable { url, reason } => CliError::Unreachable { url, reason },
            ClientError::Api {
                status,
                code,
                message,
                field,
            } => CliError::Api {
                status,
                code,
                message,
                field,
            },
            ClientError::Answer(reason) => CliError::Answer(reason),
        }
    }
}

/// Reads a JSON document from FILE (or standard input for `-`).
pub fn read_json_file(file: &Path) -> Result<Value, CliError> {
    let text = if file == Path::new("-") {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut text).map(|_| text)
    } else {
        std::fs::read_to_string(file)
    }
    .map_err(|e| CliError::Read {
        path: file.to_path_buf(),
        reason: e.to_string(),
    })?;
    serde_json::from_str(&text).map_err(|e| CliError::Read {
        path: file.to_path_buf(),
        reason: format!("not JSON: {e}"),
    })
}

/// Prints `value` as pretty JSON (for `--json`).
pub fn print_json(value: &impl serde::Serialize) {
    println!(
        "{}",
        serde_json::to_string_pretty(value).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
    );
}

/// Column-aligned rows; the first row is the header.
pub fn table(rows: &[Vec<String>]) -> String {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|c| {
            rows.iter()
                .map(|r| r.get(c).map_or(0, |s| s.chars().count()))
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for row in rows {
        let cells: Vec<String> = row
            .iter()
            .enumerate()
            .map(|(c, cell)| format!("{cell:<width$}", width = widths[c]))
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out
}

fn short(hex: &str) -> String {
    hex.chars().take(12).collect()
}

fn code_or_key(code: &Option<String>, key: &impl ToString) -> String {
    code.clone().unwrap_or_else(|| short(&key.to_string()))
}

pub fn print_published(what: &str, published: &Published) {
    println!(
        "published {what} {} (seq {}, author {})",
        published.id,
        published.seq,
        short(&published.author.to_hex())
    );
}

pub fn print_alerts(list: &AlertList) {
    let mut rows = vec![vec![
        "DETECTED".into(),
        "AUTHOR".into(),
        "SEVERITY".into(),
        "CATEGORY".into(),
        "HS".into(),
        "ROUTE".into(),
        "REFERENCE".into(),
        "ID".into(),
    ]];
    for item in &list.items {
        let a = &item.alert;
        let route: Vec<String> = a
            .route
            .countries()
            .map(|c| c.as_str().to_string())
            .collect();
        let mut severity = to_word(&a.severity);
        if item.retracted_by.is_some() {
            severity.push_str(" (retracted)");
        }
        rows.push(vec![
            a.detected_on.to_string(),
            code_or_key(&item.meta.author_code, &item.meta.author),
            severity,
            to_word(&a.category),
            a.hs_code.clone(),
            route.join(">"),
            a.reference.clone(),
            short(&item.meta.id.to_hex()),
        ]);
    }
    print!("{}", table(&rows));
    if let Some(next) = &list.next {
        println!("more: --cursor {next}");
    }
}

/// An enum's JSON name (`high`, `aeo_s`).
fn to_word(value: &impl serde::Serialize) -> String {
    match serde_json::to_value(value) {
        Ok(Value::String(s)) => s,
        _ => "?".into(),
    }
}

pub fn print_aeo(view: &AeoStatusView) {
    if view.issuers.is_empty() {
        println!("no administration has published about {}", view.operator_id);
        return;
    }
    let mut rows = vec![vec![
        "ISSUER".into(),
        "PROGRAMME".into(),
        "STATUS".into(),
        "EFFECTIVE".into(),
        "VALID UNTIL".into(),
        "MRA PARTNERS".into(),
        "NAME".into(),
    ]];
    for at in &view.issuers {
        let r = &at.record;
        let partners: Vec<&str> = r.mra_partners.iter().map(|c| c.as_str()).collect();
        rows.push(vec![
            code_or_key(&at.issuer_code, &at.issuer),
            to_word(&r.programme),
            to_word(&r.status),
            r.effective_from.to_string(),
            r.valid_until.map_or("-".into(), |d| d.to_string()),
            partners.join(","),
            r.name.clone(),
        ]);
    }
    print!("{}", table(&rows));
}

fn ago(ms: Option<u64>) -> String {
    let Some(ms) = ms else {
        return "never".into();
    };
    let seconds = crate::clock::now_ms().saturating_sub(ms) / 1000;
    match seconds {
        0..=119 => format!("{seconds} s ago"),
        120..=7199 => format!("{} min ago", seconds / 60),
        _ => format!("{} h ago", seconds / 3600),
    }
}

pub fn print_status(status: &StatusView) {
    let n = &status.node;
    println!(
        "node {} ({}) on network {}, key {}",
        n.code, n.name, n.network, n.public_key
    );
    println!(
        "entries {} (alerts {}, AEO {}, retractions {}) from {} authors; forks {}{}",
        status.counts.entries,
        status.counts.risk_alerts,
        status.counts.aeo_records,
        status.counts.retractions,
        status.counts.authors,
        status.forks,
        if status.forks > 0 {
            "  WARNING: a member key signed two entries with one seq (see `forks`)"
        } else {
            ""
        }
    );
    if !n.can_publish {
        println!("cannot publish yet: waiting for a member to confirm this node's own log");
    }
    print_peers(status);
}

pub fn print_peers(status: &StatusView) {
    let mut rows = vec![vec![
        "PEER".into(),
        "CONNECTED".into(),
        "LAST SYNC".into(),
        "LAG".into(),
        "IN SYNC".into(),
        "RECEIVED".into(),
        "REJECTED".into(),
    ]];
    for p in &status.peers {
        let rejected: u64 = p.rejected.values().sum();
        rows.push(vec![
            p.code.clone(),
            if p.connected { "yes" } else { "no" }.into(),
            ago(p.last_sync_ms),
            p.lag_entries.to_string(),
            if p.in_sync { "yes" } else { "no" }.into(),
            p.entries_received.to_string(),
            rejected.to_string(),
        ]);
    }
    print!("{}", table(&rows));
}

pub fn print_forks(list: &ForkList) {
    if list.forks.is_empty() {
        println!("no forks: every member key has signed one entry per seq");
        return;
    }
    println!(
        "WARNING: {} fork proof(s): these member keys signed two different entries with one seq. Ask the administration whether its key or store was compromised or restored.",
        list.forks.len()
    );
    let mut rows = vec![vec![
        "AUTHOR".into(),
        "SEQ".into(),
        "FIRST".into(),
        "SECOND".into(),
    ]];
    for f in &list.forks {
        let id = |i: usize| f.entries.get(i).map_or("-".into(), |e| e.meta.id.to_hex());
        rows.push(vec![
            code_or_key(&f.author_code, &f.author),
            f.seq.to_string(),
            id(0),
            id(1),
        ]);
    }
    print!("{}", table(&rows));
}

/// Polls the status until every connected peer is in sync (and one is connected),
/// showing progress on one line; `Timeout` after `timeout`.
pub fn wait_for_sync(target: &Target, timeout: Duration) -> Result<StatusView, CliError> {
    let started = Instant::now();
    let interactive = std::io::IsTerminal::is_terminal(&std::io::stderr());
    loop {
        let status: StatusView = target.get("/api/v1/status")?;
        let connected: Vec<_> = status.peers.iter().filter(|p| p.connected).collect();
        let lag: u64 = connected.iter().map(|p| p.lag_entries).sum();
        let in_sync = connected.iter().filter(|p| p.in_sync).count();
        let done = !connected.is_empty() && in_sync == connected.len() && status.node.can_publish;
        let line = format!(
            "catching up: {in_sync}/{} connected peers in sync, {lag} entries behind, {} held ({} s)",
            connected.len(),
            status.counts.entries,
            started.elapsed().as_secs()
        );
        if interactive {
            eprint!("\r{line}\x1b[K");
        } else {
            eprintln!("{line}");
        }
        let _ = std::io::stderr().flush();
        if done {
            if interactive {
                eprintln!();
            }
            return Ok(status);
        }
        if started.elapsed() >= timeout {
            if interactive {
                eprintln!();
            }
            return Err(CliError::Timeout(timeout.as_secs()));
        }
        std::thread::sleep(POLL_INTERVAL);
    }
}
