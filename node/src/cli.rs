//! The commands that talk to a running node through its HTTP API: readable tables by
//! default, the API's JSON with `--json`, and one clear line for any error.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::de::DeserializeOwned;
use serde_json::Value;
use thiserror::Error;

use crate::api::views::{
    AeoStatusView, AlertItem, EntryAnswer, EntryView, ForkList, GroupChanged, GroupList, Published,
    StatusView,
};
use crate::client::{ApiClient, ClientError};
use crate::config::{NodeConfig, TOKEN_FILE};
use crate::node::API_URL_FILE;
use crate::tokens::TokensState;

/// How long one API call may take.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// How often `status --watch` and `--wait-sync` look again.
pub const POLL_INTERVAL: Duration = Duration::from_secs(1);
/// How long a token change may take to show on the running node.
pub const TOKENS_CONFIRM_TIMEOUT: Duration = Duration::from_secs(1);

/// How a command ends, for scripts: one exit status per class of failure (the README
/// lists them). clap's own usage errors exit with 2 as well.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Success = 0,
    /// Anything not in a class below (a damaged store, an I/O error).
    Failure = 1,
    /// The command line is wrong, or names something that is not a node directory.
    Usage = 2,
    /// The node cannot be reached, or its answer was lost.
    Connection = 3,
    /// The token is missing or not valid (401).
    Authentication = 4,
    /// The token's role does not allow this (403).
    Permission = 5,
    /// No such entry, route or record (404).
    NotFound = 6,
    /// The request conflicts with the node's state: already retracted, an ambiguous id
    /// prefix (409).
    Conflict = 7,
    /// The input is refused: a record that does not validate, a file that is not JSON
    /// or not a bundle (400, 413, 415, 422).
    Invalid = 8,
    /// The node cannot do it yet: not synced, store being reopened, clock off (503),
    /// or a wait that timed out.
    NotReady = 9,
    /// The command ran and found something wrong: `status --check`, `forks`.
    Unhealthy = 10,
}

impl Exit {
    /// The class of an API answer's status.
    pub fn of_status(status: u16) -> Exit {
        match status {
            400 | 413 | 415 | 422 => Exit::Invalid,
            401 => Exit::Authentication,
            403 => Exit::Permission,
            404 | 405 => Exit::NotFound,
            409 => Exit::Conflict,
            503 => Exit::NotReady,
            _ => Exit::Failure,
        }
    }
}

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
    #[error("{0}")]
    Unhealthy(String),
    #[error("{0}")]
    NotApplied(String),
}

impl CliError {
    pub fn exit(&self) -> Exit {
        match self {
            CliError::Unreachable { .. } | CliError::AnswerLost { .. } => Exit::Connection,
            CliError::Api { status, .. } => Exit::of_status(*status),
            CliError::Read { .. } => Exit::Invalid,
            CliError::Answer(_) => Exit::Failure,
            CliError::Usage(_) => Exit::Usage,
            CliError::Timeout(_) => Exit::NotReady,
            CliError::Unhealthy(_) => Exit::Unhealthy,
            CliError::NotApplied(_) => Exit::Failure,
        }
    }
}

/// Writes to standard output; a reader that went away (`| head`) ends the command
/// quietly with success, as for any Unix filter, instead of a panic.
pub fn write_stdout(args: std::fmt::Arguments<'_>) {
    let mut out = std::io::stdout().lock();
    if let Err(error) = out.write_fmt(args).and_then(|()| out.flush()) {
        if error.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(Exit::Success as i32);
        }
        eprintln!("error: cannot write to standard output: {error}");
        std::process::exit(Exit::Failure as i32);
    }
}

/// `print!` that ends quietly on a closed pipe (see [`write_stdout`]).
#[macro_export]
macro_rules! out {
    ($($arg:tt)*) => { $crate::cli::write_stdout(format_args!($($arg)*)) };
}

/// `println!` that ends quietly on a closed pipe (see [`write_stdout`]).
#[macro_export]
macro_rules! outln {
    () => { $crate::cli::write_stdout(format_args!("\n")) };
    ($($arg:tt)*) => { $crate::cli::write_stdout(format_args!("{}\n", format_args!($($arg)*))) };
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
            None if !dir.join(crate::config::CONFIG_FILE).exists() => {
                return Err(CliError::Usage(format!(
                    "{} is not a node directory (no {}); give --dir, or --url and --token",
                    dir.display(),
                    crate::config::CONFIG_FILE
                )))
            }
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

    pub fn delete<T: DeserializeOwned>(&self, path: &str) -> Result<T, CliError> {
        self.client().delete(path).map_err(CliError::from)
    }

    /// DELETE of something whose answer is 204 (no body).
    pub fn remove(&self, path: &str) -> Result<(), CliError> {
        self.client()
            .send("DELETE", path, None)
            .and_then(|reply| reply.into_ok())
            .map(|_| ())
            .map_err(CliError::from)
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

    /// Copies `path` of the API to `out` as it arrives (standard output).
    pub fn download_to(&self, path: &str, out: &mut impl std::io::Write) -> Result<(), CliError> {
        let mut stream = self.client().stream(path)?;
        std::io::copy(&mut stream, out)
            .and_then(|_| out.flush())
            .map(|_| ())
            .map_err(|e| CliError::Answer(e.to_string()))
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

/// Whether a path argument means standard input or output.
pub fn is_stdio(path: &Path) -> bool {
    path == Path::new("-")
}

/// Reads FILE as text, or standard input for `-` (at most `MAX_INPUT_BYTES`).
pub fn read_text(file: &Path) -> Result<String, CliError> {
    use std::io::Read as _;
    let read_error = |reason: String| CliError::Read {
        path: file.to_path_buf(),
        reason,
    };
    let mut text = String::new();
    let limit = crate::limits::MAX_CLI_INPUT_BYTES as u64;
    let read = if is_stdio(file) {
        std::io::stdin().take(limit + 1).read_to_string(&mut text)
    } else {
        std::fs::File::open(file).and_then(|f| f.take(limit + 1).read_to_string(&mut text))
    };
    read.map_err(|e| read_error(e.to_string()))?;
    if text.len() as u64 > limit {
        return Err(read_error(format!("larger than {limit} bytes")));
    }
    Ok(text)
}

/// Reads a JSON document from FILE (or standard input for `-`).
pub fn read_json_file(file: &Path) -> Result<Value, CliError> {
    let text = read_text(file)?;
    serde_json::from_str(&text).map_err(|e| CliError::Read {
        path: file.to_path_buf(),
        reason: format!("not JSON: {e}"),
    })
}

/// Prints `value` as pretty JSON (for `--json`).
pub fn print_json(value: &impl serde::Serialize) {
    crate::outln!(
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
    crate::outln!(
        "published {what} {} (seq {}, author {})",
        published.id,
        published.seq,
        short(&published.author.to_hex())
    );
}

pub fn print_alerts(items: &[AlertItem], next: Option<&str>) {
    let mut rows = vec![vec![
        "DETECTED".into(),
        "AUTHOR".into(),
        "SEVERITY".into(),
        "CATEGORY".into(),
        "HS".into(),
        "ROUTE".into(),
        "REFERENCE".into(),
        "MARKINGS".into(),
        "ID".into(),
    ]];
    for item in items {
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
            format!(
                "{}{}",
                markings_line(&item.markings),
                if item.distribution.is_restricted() {
                    "  sealed"
                } else {
                    ""
                }
            ),
            short(&item.meta.id.to_hex()),
        ]);
    }
    crate::out!("{}", table(&rows));
    if let Some(next) = next {
        crate::outln!("more: --cursor {next}");
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
        crate::outln!("no administration has published about {}", view.operator_id);
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
    crate::out!("{}", table(&rows));
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
    crate::outln!(
        "node {} ({}) on network {}, key {}",
        n.code,
        n.name,
        n.network,
        n.public_key
    );
    crate::outln!(
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
    if let Some(reason) = &n.cannot_publish_reason {
        crate::outln!("CANNOT PUBLISH: {reason}");
    }
    if let Some(offset) = n.clock_offset_ms {
        crate::outln!("clock offset from members: {offset} ms (their clocks minus ours)");
    }
    if !n.store_writable {
        crate::outln!("WARNING: the store cannot write (see the node's log)");
    }
    for peer in &status.peers {
        for refusal in &peer.refused_ours {
            crate::outln!(
                "WARNING: member {} refused {} of our entries ({}), the latest seq {}",
                peer.code,
                refusal.count,
                refusal.reason,
                refusal.last_seq
            );
        }
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
    crate::out!("{}", table(&rows));
}

pub fn print_forks(list: &ForkList) {
    if list.forks.is_empty() {
        crate::outln!("no forks: every member key has signed one entry per seq");
        return;
    }
    crate::outln!(
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
    crate::out!("{}", table(&rows));
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

/// Confirms that the node running in `dir` has loaded the token file at `path` as it
/// is now. Returns false when no node runs (the change applies at its start), true
/// when confirmed; an error when the node runs but does not show the change, which
/// then does not protect anything yet. `revoked_own`: the CLI just revoked the token
/// it asks with, so the node refusing it is the confirmation.
pub fn confirm_tokens(
    dir: &Path,
    url: Option<String>,
    token: Option<String>,
    path: &Path,
    revoked_own: Option<&str>,
) -> Result<bool, CliError> {
    let expected = crate::tokens::file_digest(path).map_err(|e| CliError::Read {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    if url.is_none() && !dir.join(API_URL_FILE).exists() {
        eprintln!(
            "no node has run in {} yet: the tokens apply when it starts",
            dir.display()
        );
        return Ok(false);
    }
    let target = match Target::resolve(dir, url, token) {
        Ok(target) => target,
        Err(error) => {
            return Err(CliError::NotApplied(format!(
                "the tokens file is changed, but the CLI cannot ask the node to confirm it ({error}); check with `customs-node status` that the node accepts the tokens you expect"
            )))
        }
    };
    let started = Instant::now();
    loop {
        match target.get::<TokensState>("/api/v1/tokens") {
            Ok(state) if state.file_sha256.as_deref() == Some(expected.as_str()) => return Ok(true),
            Ok(TokensState { error: Some(error), .. }) => {
                return Err(CliError::NotApplied(format!(
                    "the running node cannot read {}: {error}. It refuses every token until it can: give the file back to the node's user (chown) and mode 0600",
                    path.display()
                )))
            }
            Ok(_) if started.elapsed() < TOKENS_CONFIRM_TIMEOUT => {}
            Ok(_) => {
                return Err(CliError::NotApplied(format!(
                    "the running node still shows an older {} after {} ms: the change has not taken effect. Is the node running from {}?",
                    path.display(),
                    TOKENS_CONFIRM_TIMEOUT.as_millis(),
                    dir.display()
                )))
            }
            Err(CliError::Api { status: 401, .. }) if revoked_own.is_some() => return Ok(true),
            Err(CliError::Api { status: 401, .. }) => {
                return Err(CliError::NotApplied(format!(
                    "the running node refuses the CLI's token ({}) now: either it was revoked, or the node cannot read {} (see its log); the node refuses every token until it can",
                    dir.join(TOKEN_FILE).display(),
                    path.display()
                )))
            }
            Err(CliError::Unreachable { .. }) => {
                eprintln!("the node is not running: the tokens apply when it starts");
                return Ok(false);
            }
            Err(error) => return Err(error),
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// One entry in full: its type, author, verification and the record's fields.
/// The groups this node belongs to.
pub fn print_groups(list: &GroupList) {
    if list.groups.is_empty() {
        crate::outln!("no closed user group (create one with `customs-node group create`)");
        return;
    }
    let mut rows = vec![vec![
        "ID".into(),
        "NAME".into(),
        "OWNER".into(),
        "MEMBERS".into(),
        "UNTIL".into(),
        "EPOCH".into(),
    ]];
    for g in &list.groups {
        rows.push(vec![
            g.id.to_hex(),
            g.name.clone(),
            g.owner.clone(),
            g.members.join(","),
            format!("{}{}", g.ends_on, if g.active { "" } else { " (ended)" }),
            g.epoch.to_string(),
        ]);
    }
    crate::out!("{}", table(&rows));
}

/// A group change: the group at its new epoch.
pub fn print_group_changed(changed: &GroupChanged) {
    let g = &changed.group;
    crate::outln!(
        "group {} ({}): members {}, epoch {} (entry {}, seq {})",
        g.name,
        g.id,
        g.members.join(","),
        g.epoch,
        short(&changed.entry.to_hex()),
        changed.seq
    );
}

/// One line of markings: `TLP:AMBER  B2  no_onward_sharing`.
pub fn markings_line(markings: &customs_protocol::Markings) -> String {
    use customs_protocol::markings::Handling;
    let mut parts = vec![
        format!(
            "TLP:{}",
            markings.tlp.as_str().to_uppercase().replace('_', "+")
        ),
        format!("{:?}{}", markings.source_reliability, markings.accuracy),
    ];
    for code in &markings.handling {
        parts.push(match code {
            Handling::Other(text) => format!("other: {text}"),
            code => to_word(code),
        });
    }
    parts.join("  ")
}

/// Who a record went to: `all members`, `BE, DE`, or `group NAME (id)`.
pub fn distribution_line(
    distribution: &customs_protocol::Distribution,
    group_name: Option<&str>,
) -> String {
    use customs_protocol::Distribution;
    match distribution {
        Distribution::All => "all members".into(),
        Distribution::To(codes) => format!("{} (sealed)", codes.join(", ")),
        Distribution::Group(group) => format!(
            "group {}{} (sealed, epoch {})",
            group_name.map(|n| format!("{n} ")).unwrap_or_default(),
            group.id,
            group.epoch
        ),
    }
}

/// `alert show` of any answer: the entry, or only its place for a non-recipient.
pub fn print_entry_answer(answer: &EntryAnswer) {
    match answer {
        EntryAnswer::Readable(entry) => print_entry(entry),
        EntryAnswer::Restricted(view) => {
            let m = &view.meta;
            crate::outln!("id          {}", m.id);
            crate::outln!(
                "author      {} (seq {})",
                code_or_key(&m.author_code, &m.author),
                m.seq
            );
            crate::outln!("created     {}", crate::clock::rfc3339(m.created_at_ms));
            crate::outln!("restricted  addressed to other members: this node cannot read it");
        }
    }
}

pub fn print_entry(entry: &EntryView) {
    let m = &entry.meta;
    crate::outln!("id          {}", m.id);
    crate::outln!("type        {}", to_word(&entry.kind));
    crate::outln!(
        "author      {} (seq {})",
        code_or_key(&m.author_code, &m.author),
        m.seq
    );
    crate::outln!("created     {}", crate::clock::rfc3339(m.created_at_ms));
    let v = &entry.verification;
    crate::outln!(
        "signature   {}{}{}",
        v.status,
        v.reason
            .as_ref()
            .map(|r| format!(" ({r})"))
            .unwrap_or_default(),
        if v.forked {
            "; WARNING: its author's key is forked at this seq"
        } else {
            ""
        }
    );
    if let Some(by) = &entry.retracted_by {
        crate::outln!("retracted   by {by}");
    }
    if let Some(markings) = &entry.markings {
        crate::outln!("markings    {}", markings_line(markings));
    }
    if let Some(distribution) = &entry.distribution {
        crate::outln!(
            "to          {}",
            distribution_line(distribution, entry.group_name.as_deref())
        );
    }
    if let Value::Object(fields) = &entry.body {
        for (name, value) in fields {
            let text = match value {
                Value::String(s) => s.clone(),
                Value::Null => continue,
                other => other.to_string(),
            };
            crate::outln!("{name:<11} {text}");
        }
    }
}

/// Today's date (UTC) at `now_ms`.
fn today(now_ms: u64) -> customs_protocol::Date {
    let text = crate::clock::rfc3339(now_ms);
    customs_protocol::Date::parse_valid(&text[..10])
        .unwrap_or(customs_protocol::Date::new(2026, 1, 1))
}

/// An example risk alert that publishes as is (detected today).
pub fn alert_template(now_ms: u64) -> Value {
    let mut alert = customs_protocol::samples::risk_alert();
    alert.detected_on = today(now_ms);
    serde_json::to_value(alert).unwrap_or(Value::Null)
}

/// An example AEO record that publishes as is (effective today).
pub fn aeo_template(now_ms: u64) -> Value {
    let mut record = customs_protocol::samples::aeo_record();
    record.effective_from = today(now_ms);
    serde_json::to_value(record).unwrap_or(Value::Null)
}

/// What `status --check` reports, one line each; empty when all is well.
pub fn status_problems(status: &StatusView, max_down_ms: u64, now_ms: u64) -> Vec<String> {
    let mut problems = Vec::new();
    let n = &status.node;
    if let Some(reason) = &n.cannot_publish_reason {
        problems.push(format!("cannot publish: {reason}"));
    }
    if !n.store_writable {
        problems.push("the store cannot write".into());
    }
    if status.forks > 0 {
        problems.push(format!("{} fork proof(s) held (see `forks`)", status.forks));
    }
    for peer in &status.peers {
        let since = peer.last_sync_ms.unwrap_or(n.started_at_ms);
        if !peer.connected && now_ms.saturating_sub(since) > max_down_ms {
            problems.push(format!(
                "member {} unreachable for {} s",
                peer.code,
                now_ms.saturating_sub(since) / 1000
            ));
        }
        for refusal in &peer.refused_ours {
            problems.push(format!(
                "member {} refused {} of our entries ({}), the latest seq {}",
                peer.code, refusal.count, refusal.reason, refusal.last_seq
            ));
        }
    }
    problems
}

/// The members with their node keys (one row per node key).
pub fn members_table(members: &crate::api::views::MembersView) -> String {
    let mut rows = vec![vec![
        "CODE".to_string(),
        "NAME".into(),
        "STATUS".into(),
        "SINCE".into(),
        "NODE KEY".into(),
        "KEY".into(),
    ]];
    for m in &members.members {
        let status = match (&m.removed_at, &m.removal_reason) {
            (Some(at), Some(reason)) => format!("removed {at}: {reason}"),
            _ => m.status.clone(),
        };
        for (i, n) in m.nodes.iter().enumerate() {
            let key = match (&n.last_seq, &n.closed_at) {
                _ if n.open => "open".to_string(),
                (Some(seq), _) => format!("up to seq {seq}"),
                (None, Some(at)) => format!("closed {at}"),
                _ => "closed".into(),
            };
            let first = i == 0;
            rows.push(vec![
                if first { m.code.clone() } else { String::new() },
                if first { m.name.clone() } else { String::new() },
                if first { status.clone() } else { String::new() },
                if first {
                    m.since.clone()
                } else {
                    String::new()
                },
                format!(
                    "{}{}",
                    n.node_key.short(),
                    if n.this_node { " (this node)" } else { "" }
                ),
                key,
            ]);
        }
    }
    format!(
        "network {} ({} members, quorum {})\n{}",
        members.network,
        members.member_count,
        members.quorum,
        table(&rows)
    )
}

/// Every proposal with its approvals.
pub fn proposals_table(proposals: &crate::api::views::ProposalsView) -> String {
    let mut rows = vec![vec![
        "ID".to_string(),
        "STATUS".into(),
        "ACTION".into(),
        "SUBJECT".into(),
        "PROPOSER".into(),
        "APPROVALS".into(),
    ]];
    for p in &proposals.proposals {
        rows.push(vec![
            p.id.to_hex(),
            p.status.clone(),
            p.action.clone(),
            p.subject.clone(),
            p.proposer.clone(),
            format!(
                "{}/{} {}",
                p.approvals.len(),
                p.needed,
                p.approvals.join(",")
            ),
        ]);
    }
    table(&rows)
}
