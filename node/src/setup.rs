//! Making node directories: `init` (configuration, identity, tokens) and admitting
//! members from their cards. Used by the `init` and `member` commands and by the demo.

use std::path::{Path, PathBuf};

use customs_protocol::governance::{
    AdminCard, Certificate, Charter, CharterBody, EncryptionKey, Founder, NodeCertificate, Quorum,
};
use customs_protocol::limits::MAX_NETWORK_NAME_BYTES;
use customs_protocol::{PublicKey, SecretKey};
use thiserror::Error;

use crate::clock::now_ms;
use crate::config::{
    write_atomically, ConfigError, MemberCard, Members, NodeConfig, CONFIG_FILE, KEY_FILE,
    TOKEN_FILE,
};
use crate::identity::{
    generate_encryption_key, generate_key, read_key_file, write_key_file, KeyFileError,
};
use crate::membership::{
    charter_to_toml, JoinCard, ADMIN_KEY_FILE, CERTIFICATE_FILE, CHARTER_FILE, ENCRYPTION_KEY_FILE,
};
use crate::tokens::{self, Role, TOKENS_FILE};

#[derive(Debug, Error)]
pub enum SetupError {
    #[error("{0} already exists: this directory is already a node")]
    Exists(PathBuf),
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Key(#[from] KeyFileError),
    #[error("{0}")]
    Invalid(String),
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

/// Refuses static member lists on a node whose network is governed by a charter.
pub fn check_static(dir: &Path) -> Result<(), SetupError> {
    if dir.join(CHARTER_FILE).exists() {
        return Err(SetupError::Invalid(
            "this node's network is governed by its charter: a member is admitted by proposal and quorum (`customs-node member propose --dir DIR CARD_FILE`), not by `member add`".into(),
        ));
    }
    Ok(())
}

/// Admits a member from its card into DIR/members.toml, after checking it belongs to
/// this network and is neither this node nor a member already.
pub fn admit_member(dir: &Path, card: MemberCard) -> Result<(), SetupError> {
    check_static(dir)?;
    let config = NodeConfig::load(dir)?;
    let own = read_key_file(&dir.join(KEY_FILE))?.public_key();
    card.check(&config, &own)?;
    let mut members = Members::load(dir)?;
    members.admit(card)?;
    members.save(dir)?;
    Ok(())
}

/// How a governed node directory comes to be: it founds a network, or joins one.
#[derive(Debug, Clone)]
pub enum Governed {
    Found { name: String, quorum: Quorum },
    Join { charter: Box<Charter> },
}

/// What `init --found` or `init --join` made.
#[derive(Debug, Clone)]
pub struct GovernedNode {
    pub network: String,
    pub admin_key: PublicKey,
    pub node_key: PublicKey,
    pub charter: Charter,
}

/// Creates a node directory of a governed network: the administration key (unless
/// `admin_key` is an existing one: another node of the same administration), the node
/// key, its encryption key and certificate, the charter (written when founding,
/// copied when joining), node.toml naming the charter's network and the tokens. A
/// founding node may publish at once. Nothing is written for a configuration the node
/// would refuse.
pub fn init_governed_dir(
    dir: &Path,
    config: &NodeConfig,
    how: Governed,
    admin_key: Option<SecretKey>,
) -> Result<GovernedNode, SetupError> {
    let config_path = dir.join(CONFIG_FILE);
    if config_path.exists() {
        return Err(SetupError::Exists(config_path));
    }
    if let Governed::Found { name, .. } = &how {
        if customs_protocol::entry::check_network_id(name).is_err()
            || name.len() > customs_protocol::limits::MAX_NETWORK_NAME_BYTES
        {
            return Err(SetupError::Invalid(format!(
                "network name {name:?} must be 1 to {} bytes of a-z, 0-9 and '-' (the id appends a hash)",
                customs_protocol::limits::MAX_NETWORK_NAME_BYTES
            )));
        }
    }
    let mut config = config.clone();
    // Checked with a stand-in id (the real one needs the charter, signed below).
    config.node.network = match &how {
        Governed::Found { name, .. } => name.clone(),
        Governed::Join { charter } => charter.network_id(),
    };
    config.validate(&config_path)?;
    crate::files::create_private_dir(dir).map_err(|source| SetupError::Write {
        path: dir.to_path_buf(),
        source,
    })?;
    let admin = match admin_key {
        Some(key) => key,
        None => {
            let key = generate_key()?;
            write_key_file(&dir.join(ADMIN_KEY_FILE), &key)?;
            key
        }
    };
    let node = generate_key()?;
    write_key_file(&dir.join(KEY_FILE), &node)?;
    let encryption_key = generate_encryption_key(&dir.join(ENCRYPTION_KEY_FILE))?;
    let addresses = if config.p2p.external_addresses.is_empty() {
        vec![config.p2p.listen.clone()]
    } else {
        config.p2p.external_addresses.clone()
    };
    let certificate = Certificate::sign(
        NodeCertificate {
            code: config.node.code.clone(),
            admin_key: admin.public_key(),
            node_key: node.public_key(),
            encryption_key: EncryptionKey(encryption_key),
            addresses,
            issued_at_ms: now_ms(),
        },
        &admin,
    );
    certificate
        .validate()
        .map_err(|e| SetupError::Invalid(format!("this node's certificate: {e}")))?;
    write_atomically(
        &dir.join(CERTIFICATE_FILE),
        &toml::to_string(&certificate).unwrap_or_default(),
    )?;
    let charter = match how {
        Governed::Found { name, quorum } => {
            let body = CharterBody {
                name,
                quorum,
                created_at_ms: now_ms(),
                founders: vec![Founder {
                    card: AdminCard {
                        code: config.node.code.clone(),
                        name: config.node.name.clone(),
                        admin_key: admin.public_key(),
                    },
                    nodes: vec![certificate],
                    legacy: false,
                    addresses: Vec::new(),
                }],
                converts: None,
            };
            config.node.allow_publish_before_sync = true;
            Charter::sign(body, &admin)
        }
        Governed::Join { charter } => *charter,
    };
    charter
        .validate()
        .map_err(|e| SetupError::Invalid(format!("the charter: {e}")))?;
    config.node.network = charter.network_id();
    write_atomically(&dir.join(CHARTER_FILE), &charter_to_toml(&charter))?;
    write_atomically(&config_path, &config.to_documented_toml())?;
    write_admin_token(dir)?;
    Ok(GovernedNode {
        network: charter.network_id(),
        admin_key: admin.public_key(),
        node_key: node.public_key(),
        charter,
    })
}

/// This node's card for a governed network: its administration and certificate.
pub fn own_join_card(dir: &Path) -> Result<JoinCard, SetupError> {
    let config = NodeConfig::load(dir)?;
    let path = dir.join(CERTIFICATE_FILE);
    let text = std::fs::read_to_string(&path).map_err(|source| SetupError::Write {
        path: path.clone(),
        source,
    })?;
    let certificate: Certificate = toml::from_str(&text)
        .map_err(|e| SetupError::Invalid(format!("{}: {e}", path.display())))?;
    Ok(JoinCard {
        network: config.node.network,
        card: AdminCard {
            code: config.node.code,
            name: config.node.name,
            admin_key: certificate.node.admin_key,
        },
        nodes: vec![certificate],
    })
}

/// A charter that converts this node's network of static member lists, keeping its id
/// (so every entry stays valid): this node and every member of members.toml become
/// founders whose one key is both administration and node key. Signed with this
/// node's key; every member adopts the same file (`charter adopt`).
pub fn conversion_charter(dir: &Path, quorum: Quorum) -> Result<Charter, SetupError> {
    let config = NodeConfig::load(dir)?;
    if dir.join(CHARTER_FILE).exists() {
        return Err(SetupError::Invalid(format!(
            "{} exists: this network is governed already",
            dir.join(CHARTER_FILE).display()
        )));
    }
    let key = read_key_file(&dir.join(KEY_FILE))?;
    let members = Members::load(dir)?;
    let own = own_card(dir)?;
    let founder = |code: String, name: String, key: PublicKey, addresses: Vec<String>| Founder {
        card: AdminCard {
            code,
            name,
            admin_key: key,
        },
        nodes: Vec::new(),
        legacy: true,
        addresses,
    };
    let mut founders = vec![founder(own.code, own.name, own.public_key, own.addresses)];
    for m in members.members {
        founders.push(founder(m.code, m.name, m.public_key, m.addresses));
    }
    // The name is informational here (the id stays): the id's first 31 characters.
    let name: String = config
        .node
        .network
        .chars()
        .take(MAX_NETWORK_NAME_BYTES)
        .collect();
    let charter = Charter::sign(
        CharterBody {
            name: name.trim_end_matches('-').to_string(),
            quorum,
            created_at_ms: now_ms(),
            founders,
            converts: Some(config.node.network.clone()),
        },
        &key,
    );
    charter
        .validate()
        .map_err(|e| SetupError::Invalid(format!("the conversion charter: {e}")))?;
    Ok(charter)
}

/// Whether `charter` converts this node's network as its members know it: same id,
/// this node and exactly the members of members.toml as founders, with their keys.
pub fn check_conversion(dir: &Path, charter: &Charter) -> Result<(), SetupError> {
    let config = NodeConfig::load(dir)?;
    let own = read_key_file(&dir.join(KEY_FILE))?.public_key();
    let members = Members::load(dir)?;
    check_conversion_of(&config.node.network, &own, &members, charter)
}

pub fn check_conversion_of(
    network: &str,
    own: &PublicKey,
    members: &Members,
    charter: &Charter,
) -> Result<(), SetupError> {
    let Some(own_code) = charter
        .charter
        .founders
        .iter()
        .find(|f| f.legacy && f.card.admin_key == *own)
        .map(|f| f.card.code.clone())
    else {
        return Err(SetupError::Invalid(format!(
            "the charter does not list this node's key {own}"
        )));
    };
    let known = std::iter::once((own_code, *own))
        .chain(
            members
                .members
                .iter()
                .map(|m| (m.code.clone(), m.public_key)),
        )
        .collect();
    charter
        .check_conversion(network, &known)
        .map_err(SetupError::Invalid)
}
