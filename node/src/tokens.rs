//! API tokens: 256-bit random secrets shown once when created, kept by the node only as
//! SHA-256 hashes in DIR/tokens.toml, each with a name and a role. A running node sees
//! tokens created or revoked later without a restart (it rereads the file when it
//! changes), and fails closed: a file it cannot read leaves it accepting no token.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Mutex;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::config::{parse, read, write_atomically, ConfigError};
use crate::identity::random_bytes;

pub const TOKENS_FILE: &str = "tokens.toml";
pub use crate::limits::MAX_TOKENS;
pub use crate::limits::MAX_TOKEN_NAME_BYTES;

/// What a token may do. Each role includes the ones before it.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Read everything (GET).
    Reader,
    /// Also publish alerts and AEO records, and retract this node's entries.
    Publisher,
    /// Everything.
    Admin,
}

impl Role {
    pub fn allows(self, needed: Role) -> bool {
        self >= needed
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Role::Reader => "reader",
            Role::Publisher => "publisher",
            Role::Admin => "admin",
        })
    }
}

impl FromStr for Role {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "reader" => Ok(Role::Reader),
            "publisher" => Ok(Role::Publisher),
            "admin" => Ok(Role::Admin),
            _ => Err(format!(
                "role {text:?} is not one of reader, publisher, admin"
            )),
        }
    }
}

/// One token as the file keeps it: never the token itself.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct TokenRecord {
    pub name: String,
    pub role: Role,
    /// SHA-256 of the token text, lowercase hex.
    pub sha256: String,
    pub created_at_ms: u64,
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenFile {
    #[serde(default)]
    token: Vec<TokenRecord>,
}

fn hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

fn invalid(path: &Path, field: &str, message: String) -> ConfigError {
    ConfigError::Invalid {
        path: path.to_path_buf(),
        field: field.into(),
        message,
    }
}

/// Reads the token records (none when the file does not exist yet).
pub fn list(path: &Path) -> Result<Vec<TokenRecord>, ConfigError> {
    if !path.exists() {
        return Ok(Vec::new());
    }
    let file: TokenFile = parse(path, &read(path)?)?;
    if file.token.len() > MAX_TOKENS {
        return Err(invalid(
            path,
            "token",
            format!("more than {MAX_TOKENS} tokens"),
        ));
    }
    for record in &file.token {
        let ok = record.sha256.len() == 64
            && record
                .sha256
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if !ok {
            return Err(invalid(
                path,
                "token.sha256",
                format!("token {:?} has no 64-hex-digit hash", record.name),
            ));
        }
    }
    Ok(file.token)
}

fn save(path: &Path, token: Vec<TokenRecord>) -> Result<(), ConfigError> {
    let text = toml::to_string(&TokenFile { token }).map_err(|e| ConfigError::Parse {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    let header = "# API tokens of this node: names, roles and SHA-256 hashes, never the tokens.\n\
                  # Manage with `customs-node token create|list|revoke`.\n\n";
    write_atomically(path, &format!("{header}{text}"))
}

/// Creates a token named `name` with `role`; returns the token text, which is shown
/// once and not kept.
pub fn create(path: &Path, name: &str, role: Role, now_ms: u64) -> Result<String, ConfigError> {
    let name_ok = !name.is_empty()
        && name.len() <= MAX_TOKEN_NAME_BYTES
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-@".contains(&b));
    if !name_ok {
        return Err(invalid(
            path,
            "name",
            format!("token name {name:?} must be 1 to {MAX_TOKEN_NAME_BYTES} characters of A-Z, a-z, 0-9, . _ - @"),
        ));
    }
    let mut records = list(path)?;
    if records.iter().any(|r| r.name == name) {
        return Err(invalid(
            path,
            "name",
            format!("a token named {name:?} exists already (revoke it first)"),
        ));
    }
    if records.len() >= MAX_TOKENS {
        return Err(invalid(
            path,
            "token",
            format!("{MAX_TOKENS} tokens exist already"),
        ));
    }
    let secret: [u8; 32] =
        random_bytes().map_err(|e| invalid(path, "token", format!("no randomness: {e}")))?;
    let token = hex::encode(secret);
    records.push(TokenRecord {
        name: name.to_string(),
        role,
        sha256: hex::encode(hash(&token)),
        created_at_ms: now_ms,
    });
    save(path, records)?;
    Ok(token)
}

/// The name of the token `token` in the file, if it is one of them.
pub fn named(path: &Path, token: &str) -> Result<Option<String>, ConfigError> {
    let digest = hex::encode(hash(token));
    Ok(list(path)?
        .into_iter()
        .find(|r| r.sha256 == digest)
        .map(|r| r.name))
}

/// SHA-256 of the token file's bytes, lowercase hex: what a running node reports it
/// has loaded, so that the CLI can confirm a change took effect.
pub fn file_digest(path: &Path) -> Result<String, ConfigError> {
    Ok(hex::encode(Sha256::digest(read(path)?.as_bytes())))
}

/// Removes the token named `name`.
pub fn revoke(path: &Path, name: &str) -> Result<(), ConfigError> {
    let mut records = list(path)?;
    let before = records.len();
    records.retain(|r| r.name != name);
    if records.len() == before {
        return Err(invalid(path, "name", format!("no token is named {name:?}")));
    }
    save(path, records)
}

/// Who presented a token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub name: String,
    pub role: Role,
}

/// The file's identity when it was read: a rename over it (every edit the CLI makes)
/// changes the inode even within one clock tick, and a chmod or chown changes the
/// ctime (a file made readable again is reread).
type FileVersion = (SystemTime, u64, u64, i64, i64);

#[derive(Debug, Default)]
struct Loaded {
    version: Option<FileVersion>,
    by_hash: HashMap<[u8; 32], Caller>,
    /// SHA-256 of the bytes loaded; `None` while the file cannot be read.
    digest: Option<String>,
    /// Why the file could not be read; every token is refused meanwhile.
    error: Option<String>,
}

/// What a running node has loaded, for the CLI's confirmation and the status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TokensState {
    /// SHA-256 of tokens.toml as loaded; null while it cannot be read.
    pub file_sha256: Option<String>,
    /// Why tokens.toml cannot be read: every token is refused until it can.
    pub error: Option<String>,
    /// The names of the tokens accepted.
    pub names: Vec<String>,
}

/// The tokens a running node accepts.
#[derive(Debug)]
pub struct Tokens {
    path: PathBuf,
    loaded: Mutex<Loaded>,
    audit: crate::audit::Audit,
}

impl Tokens {
    /// Loads DIR/tokens.toml; a file that cannot be parsed is an error at start.
    pub fn open(path: PathBuf, audit: crate::audit::Audit) -> Result<Tokens, ConfigError> {
        let tokens = Tokens {
            path,
            loaded: Mutex::new(Loaded::default()),
            audit,
        };
        {
            let mut loaded = tokens.loaded.lock().unwrap_or_else(|e| e.into_inner());
            *loaded = tokens.read()?;
        }
        Ok(tokens)
    }

    fn file_version(&self) -> Option<FileVersion> {
        use std::os::unix::fs::MetadataExt;
        let meta = std::fs::metadata(&self.path).ok()?;
        Some((
            meta.modified().ok()?,
            meta.len(),
            meta.ino(),
            meta.ctime(),
            meta.ctime_nsec(),
        ))
    }

    fn read(&self) -> Result<Loaded, ConfigError> {
        let version = self.file_version();
        if version.is_none() && !self.path.exists() {
            return Ok(Loaded::default()); // no tokens yet
        }
        let text = read(&self.path)?;
        let digest = hex::encode(Sha256::digest(text.as_bytes()));
        let mut by_hash = HashMap::new();
        for record in list(&self.path)? {
            let mut key = [0u8; 32];
            hex::decode_to_slice(&record.sha256, &mut key).map_err(|e| ConfigError::Parse {
                path: self.path.clone(),
                message: e.to_string(),
            })?;
            by_hash.insert(
                key,
                Caller {
                    name: record.name,
                    role: record.role,
                },
            );
        }
        Ok(Loaded {
            version,
            by_hash,
            digest: Some(digest),
            error: None,
        })
    }

    /// Rereads the file when it has changed. A file that cannot be read leaves no
    /// token accepted (fail closed) until it can.
    fn refresh(&self, loaded: &mut Loaded) {
        let version = self.file_version();
        if version == loaded.version {
            return;
        }
        let names = |l: &Loaded| -> std::collections::BTreeSet<String> {
            l.by_hash.values().map(|c| c.name.clone()).collect()
        };
        let before = names(loaded);
        match self.read() {
            Ok(new) => {
                let after = names(&new);
                let added: Vec<_> = after.difference(&before).cloned().collect();
                let removed: Vec<_> = before.difference(&after).cloned().collect();
                tracing::info!(?added, ?removed, "API tokens reloaded");
                self.audit.record(
                    crate::audit::Event::new("tokens_changed", "node", "ok").with_detail(format!(
                        "added [{}] removed [{}]",
                        added.join(" "),
                        removed.join(" ")
                    )),
                );
                *loaded = new;
            }
            Err(error) => {
                if loaded.error.as_deref() != Some(&error.to_string()) {
                    tracing::error!(%error, "cannot read the API tokens: refusing every token until the file can be read");
                    self.audit.record(
                        crate::audit::Event::new("tokens_unreadable", "node", "refusing_all")
                            .with_detail(&error),
                    );
                }
                *loaded = Loaded {
                    version,
                    by_hash: HashMap::new(),
                    digest: None,
                    error: Some(error.to_string()),
                };
            }
        }
    }

    /// The caller a token belongs to (the file is reread first if it changed).
    pub fn authenticate(&self, token: &str) -> Option<Caller> {
        let mut loaded = self.loaded.lock().unwrap_or_else(|e| e.into_inner());
        self.refresh(&mut loaded);
        // The lookup is by hash: timing reveals nothing about a valid token's text.
        loaded.by_hash.get(&hash(token)).cloned()
    }

    /// What is loaded now (the file is reread first if it changed).
    pub fn state(&self) -> TokensState {
        let mut loaded = self.loaded.lock().unwrap_or_else(|e| e.into_inner());
        self.refresh(&mut loaded);
        let mut names: Vec<String> = loaded.by_hash.values().map(|c| c.name.clone()).collect();
        names.sort();
        TokensState {
            file_sha256: loaded.digest.clone(),
            error: loaded.error.clone(),
            names,
        }
    }
}
