//! Making node directories: `init` (configuration, identity, tokens) and admitting
//! members from their cards. Used by the `init` and `member` commands and by the demo.

use std::path::{Path, PathBuf};

use customs_protocol::PublicKey;
use thiserror::Error;

use crate::clock::now_ms;
use crate::config::{
    write_atomically, ConfigError, MemberCard, Members, NodeConfig, CONFIG_FILE, KEY_FILE,
    TOKEN_FILE,
};
use crate::identity::{generate_key, read_key_file, write_key_file, KeyFileError};
use crate::tokens::{self, Role, TOKENS_FILE};

#[derive(Debug, Error)]
pub enum SetupError {
    #[error("{0} already exists: this directory is already a node")]
    Exists(PathBuf),
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Key(#[from] KeyFileError),
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Creates a node directory: node.toml (every key documented), identity.key (mode
/// 0600), tokens.toml and api-token (an admin token for the CLI, mode 0600). Nothing is
/// written for a configuration the node would refuse. Returns the node's public key.
pub fn init_node_dir(dir: &Path, config: &NodeConfig) -> Result<PublicKey, SetupError> {
    let config_path = dir.join(CONFIG_FILE);
    if config_path.exists() {
        return Err(SetupError::Exists(config_path));
    }
    config.validate(&config_path)?;
    crate::files::create_private_dir(dir).map_err(|source| SetupError::Write {
        path: dir.to_path_buf(),
        source,
    })?;
    write_atomically(&config_path, &config.to_documented_toml())?;
    let key = generate_key()?;
    write_key_file(&dir.join(KEY_FILE), &key)?;
    write_admin_token(dir)?;
    Ok(key.public_key())
}

/// An admin API token: its hash into DIR/tokens.toml, the token itself into
/// DIR/api-token (mode 0600) for the CLI of the administrator who ran `init`.
fn write_admin_token(dir: &Path) -> Result<(), SetupError> {
    let path = dir.join(TOKEN_FILE);
    if path.exists() {
        return Err(SetupError::Exists(path));
    }
    let token = tokens::create(&dir.join(TOKENS_FILE), "admin", Role::Admin, now_ms())?;
    write_token_file(&path, &token)
}

/// Writes `token` into the new file `path`, mode 0600 (never overwrites).
pub fn write_token_file(path: &Path, token: &str) -> Result<(), SetupError> {
    use std::io::Write;
    let write_error = |source| SetupError::Write {
        path: path.to_path_buf(),
        source,
    };
    let mut file = crate::files::create_new_private(path).map_err(write_error)?;
    writeln!(file, "{token}").map_err(write_error)?;
    file.sync_all().map_err(write_error)?;
    Ok(())
}

/// This node's member card, for the other administrations.
pub fn own_card(dir: &Path) -> Result<MemberCard, SetupError> {
    let config = NodeConfig::load(dir)?;
    let key = read_key_file(&dir.join(KEY_FILE))?;
    let addresses = if config.p2p.external_addresses.is_empty() {
        vec![config.p2p.listen.clone()]
    } else {
        config.p2p.external_addresses.clone()
    };
    Ok(MemberCard {
        network: config.node.network,
        code: config.node.code,
        name: config.node.name,
        public_key: key.public_key(),
        addresses,
    })
}

/// Admits a member from its card into DIR/members.toml, after checking it belongs to
/// this network and is neither this node nor a member already.
pub fn admit_member(dir: &Path, card: MemberCard) -> Result<(), SetupError> {
    let config = NodeConfig::load(dir)?;
    let own = read_key_file(&dir.join(KEY_FILE))?.public_key();
    card.check(&config, &own)?;
    let mut members = Members::load(dir)?;
    members.admit(card)?;
    members.save(dir)?;
    Ok(())
}
