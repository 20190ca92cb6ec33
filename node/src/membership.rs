//! The membership this node applies, shared by admission, the network and the API.
//!
//! A governed network (DIR/charter.toml) computes it with the protocol's rule from the
//! charter and the governance entries the store holds, again after every commit that
//! stores one, and applies the result live: admission takes the new keys, the network
//! allows and dials new members' nodes and drops removed ones. A network that has not
//! converted yet keeps its static list (DIR/members.toml), which never changes while
//! the node runs.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use customs_protocol::governance::{AdminCard, Certificate, Charter, Membership, Standing};
use customs_protocol::PublicKey;
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::network::{parse_multiaddr, Multiaddr, Peer};
use crate::store::{Store, StoreError};

/// The charter of a governed network (TOML; hand it to joining administrations).
pub const CHARTER_FILE: &str = "charter.toml";
/// The administration key (certifies node keys). Move it offline after `init`.
pub const ADMIN_KEY_FILE: &str = "admin.key";
/// This node's X25519 secret key (restricted records are encrypted to it).
pub const ENCRYPTION_KEY_FILE: &str = "encryption.key";
/// This node's certificate, signed by the administration key.
pub const CERTIFICATE_FILE: &str = "certificate.toml";

#[derive(Debug, Error)]
pub enum MembershipError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Invalid { path: PathBuf, message: String },
}

/// The membership now, readable from any thread; replaced whole on every change.
#[derive(Debug, Clone)]
pub struct MembershipView(Arc<RwLock<Arc<Membership>>>);

impl MembershipView {
    pub fn new(membership: Membership) -> MembershipView {
        MembershipView(Arc::new(RwLock::new(Arc::new(membership))))
    }

    pub fn get(&self) -> Arc<Membership> {
        match self.0.read() {
            Ok(guard) => guard.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Replaces the membership (the node's `follow` task, an import).
    pub fn set(&self, membership: Membership) {
        let mut guard = match self.0.write() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        *guard = Arc::new(membership);
    }

    /// The member code of a node key, for display.
    pub fn code_of(&self, key: &PublicKey) -> Option<String> {
        self.get().member_of(key).map(|m| m.code.clone())
    }

    /// Whether the node key belongs to a current member.
    pub fn is_member(&self, key: &PublicKey) -> bool {
        self.get()
            .member_of(key)
            .is_some_and(|m| m.standing == Standing::Member)
    }
}

/// Where the membership comes from.
#[derive(Debug, Clone)]
pub enum Source {
    Charter(Box<Charter>),
    /// Static member lists (a network that has not converted to a charter).
    Static(Box<Membership>),
}

impl Source {
    /// The membership implied by what `store` holds now.
    pub fn compute(&self, store: &Store) -> Result<Membership, StoreError> {
        match self {
            Source::Charter(charter) => {
                Ok(Membership::replay(charter, &store.governance_events()?))
            }
            Source::Static(membership) => Ok((**membership).clone()),
        }
    }

    /// Static member lists: this node (`own`) and its members, each key both
    /// administration and node key.
    pub fn fixed(network: &str, own: (String, String, PublicKey), members: &[Peer]) -> Source {
        let listed = members.iter().map(|m| {
            let addresses = m.addresses.iter().map(|a| a.to_string()).collect();
            (m.code.clone(), m.code.clone(), m.key, addresses)
        });
        let (code, name, key) = own;
        Source::Static(Box::new(Membership::fixed(
            network,
            std::iter::once((code, name, key, Vec::new())).chain(listed),
        )))
    }

    /// The membership before anything is read from the store (the charter alone,
    /// or the static lists).
    pub fn initial(&self) -> Membership {
        match self {
            Source::Charter(charter) => Membership::replay(charter, &[]),
            Source::Static(membership) => (**membership).clone(),
        }
    }

    pub fn charter(&self) -> Option<&Charter> {
        match self {
            Source::Charter(charter) => Some(charter),
            Source::Static(_) => None,
        }
    }
}

/// The member nodes to keep connected to (every open node key of a current member
/// but ours), with the addresses their certificates give.
pub fn peers(membership: &Membership, own: &PublicKey) -> Vec<Peer> {
    let mut peers: Vec<Peer> = membership
        .open_nodes()
        .filter(|n| n.node_key != *own)
        .map(|n| Peer {
            code: n.code.clone(),
            key: n.node_key,
            addresses: n
                .addresses
                .iter()
                .filter_map(|a| parse_multiaddr(a).ok())
                .collect(),
        })
        .collect();
    peers.sort_by_key(|p| (p.code.clone(), p.key));
    peers
}

/// Every node key to fetch, each with the highest seq it may sign.
pub fn limits(membership: &Membership) -> HashMap<PublicKey, u64> {
    membership
        .node_keys
        .keys()
        .filter_map(|k| membership.seq_limit(k).map(|limit| (*k, limit)))
        .collect()
}

/// Whether this node's own administration is a current member (a joining node is
/// not, until a quorum admits it).
pub fn admitted(membership: &Membership, own: &PublicKey) -> bool {
    membership
        .member_of(own)
        .is_some_and(|m| m.standing == Standing::Member)
}

/// Reads and checks DIR/charter.toml.
pub fn read_charter(path: &Path) -> Result<Charter, MembershipError> {
    let text = std::fs::read_to_string(path).map_err(|source| MembershipError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    parse_charter(path, &text)
}

pub fn parse_charter(path: &Path, text: &str) -> Result<Charter, MembershipError> {
    let invalid = |message: String| MembershipError::Invalid {
        path: path.to_path_buf(),
        message,
    };
    let charter: Charter = toml::from_str(text).map_err(|e| invalid(e.to_string()))?;
    charter
        .validate()
        .map_err(|e| invalid(format!("not a valid charter: {e}")))?;
    Ok(charter)
}

/// The charter as a file: its network id and quorum in a comment, then the signed
/// fields.
pub fn charter_to_toml(charter: &Charter) -> String {
    let body = toml::to_string(charter).unwrap_or_default();
    let quorum = match charter.charter.quorum {
        customs_protocol::Quorum::Majority => "more than half",
        customs_protocol::Quorum::TwoThirds => "two thirds",
    };
    format!(
        "# Charter of network {id}\n\
         # Founded by {founder}; decisions need the approval of {quorum} of the members.\n\
         # A joining administration needs this file and one member's address:\n\
         #   customs-node init --dir DIR --code CC --name NAME --join charter.toml --bootstrap MULTIADDR\n\
         # Signed: any change makes it invalid.\n\n{body}",
        id = charter.network_id(),
        founder = charter.charter.founders[0].card.code,
    )
}

/// What a joining administration hands to a member, who proposes it
/// (`customs-node member propose`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JoinCard {
    pub network: String,
    pub card: AdminCard,
    pub nodes: Vec<Certificate>,
}

impl JoinCard {
    pub fn to_toml(&self) -> String {
        format!(
            "# Member card of {code} for network {network}: a member proposes it with\n\
             #   customs-node member propose --dir DIR THIS_FILE\n\n{body}",
            code = self.card.code,
            network = self.network,
            body = toml::to_string(self).unwrap_or_default()
        )
    }

    pub fn parse(path: &Path, text: &str) -> Result<JoinCard, MembershipError> {
        toml::from_str(text).map_err(|e| MembershipError::Invalid {
            path: path.to_path_buf(),
            message: e.to_string(),
        })
    }
}

/// What keeps the membership current: recomputes it after every commit that stores a
/// governance entry and applies it live (admission reads the view; the network is
/// told the member nodes).
#[derive(Debug)]
pub struct Follower {
    pub store: Store,
    pub source: Source,
    pub view: MembershipView,
    pub network: crate::network::Client,
    pub own: PublicKey,
    pub bootstrap: Vec<Multiaddr>,
    pub audit: crate::audit::Audit,
    /// Subscribed before the membership in `view` was computed, so that no commit
    /// after that computation goes unnoticed.
    pub changes: tokio::sync::watch::Receiver<u64>,
}

impl Follower {
    /// Runs until `stop` is set or the store's governance watch closes.
    pub async fn run(self, mut stop: tokio::sync::watch::Receiver<bool>) {
        let Follower {
            store,
            source,
            view,
            network,
            own,
            bootstrap,
            audit,
            mut changes,
        } = self;
        tracing::debug!(
            generation = *changes.borrow(),
            "following the governance entries"
        );
        loop {
            tokio::select! {
                _ = stop.wait_for(|s| *s) => return,
                changed = changes.changed() => if changed.is_err() { return },
            }
            tracing::debug!(generation = *changes.borrow(), "governance entries stored");
            let (store, source) = (store.clone(), source.clone());
            let computed = tokio::task::spawn_blocking(move || source.compute(&store)).await;
            let membership = match computed {
                Ok(Ok(m)) => m,
                Ok(Err(error)) => {
                    tracing::error!(%error, "cannot read the governance entries; the membership stays as it was");
                    continue;
                }
                Err(error) => {
                    tracing::error!(%error, "membership task failed");
                    continue;
                }
            };
            let before = view.get();
            if *before == membership {
                tracing::debug!(
                    generation = *changes.borrow(),
                    members = membership.member_count(),
                    keys = membership.node_keys.len(),
                    "governance entries stored; the membership is unchanged"
                );
                continue;
            }
            for change in describe_changes(&before, &membership) {
                tracing::info!(change = %change, "membership");
                audit.record(
                    crate::audit::Event::new("membership", "network", "applied")
                        .with_detail(&change),
                );
            }
            let (peers, limits) = network_view(&membership, &own, &bootstrap);
            view.set(membership);
            if network.set_members(peers, limits).await.is_err() {
                return;
            }
        }
    }
}

/// What the network keeps connected and fetches: the member nodes, and while this
/// node is not admitted yet the bootstrap peers it was given.
pub fn network_view(
    membership: &Membership,
    own: &PublicKey,
    bootstrap: &[Multiaddr],
) -> (Vec<Peer>, HashMap<PublicKey, u64>) {
    let mut peers = peers(membership, own);
    if !admitted(membership, own) {
        for address in bootstrap {
            if let Some(key) = crate::network::key_in_address(address) {
                if !peers.iter().any(|p| p.key == key) && key != *own {
                    peers.push(Peer {
                        code: "bootstrap".into(),
                        key,
                        addresses: vec![address.clone()],
                    });
                }
            }
        }
    }
    (peers, limits(membership))
}

/// One line per member whose standing changed, and per node key that closed.
fn describe_changes(before: &Membership, after: &Membership) -> Vec<String> {
    let mut lines = Vec::new();
    for (code, member) in &after.members {
        match (
            before.members.get(code).map(|m| &m.standing),
            &member.standing,
        ) {
            (None, Standing::Member) | (Some(Standing::Removed { .. }), Standing::Member) => {
                lines.push(format!("{code} admitted"))
            }
            (Some(Standing::Member), Standing::Removed { reason, .. }) => {
                lines.push(format!("{code} removed: {reason}"))
            }
            _ => {}
        }
        if before
            .members
            .get(code)
            .is_some_and(|m| m.admin_key != member.admin_key)
        {
            lines.push(format!("{code}'s administration key replaced"));
        }
    }
    for (key, node) in &after.node_keys {
        match before.node_keys.get(key) {
            None => lines.push(format!("{} node key {} certified", node.code, key.short())),
            Some(old) if old.closed_reason != node.closed_reason => lines.push(format!(
                "{} node key {} closed: {}",
                node.code,
                key.short(),
                node.closed_reason.clone().unwrap_or_default()
            )),
            _ => {}
        }
    }
    lines
}

/// Where a node rotating its key finds the new one (`customs-node key rotate` writes
/// it there, mode 0600) and what it keeps of the old one.
pub const NEXT_KEY_FILE: &str = "identity.key.next";
/// The X25519 secret a rotation certifies with the new node key.
pub const NEXT_ENCRYPTION_KEY_FILE: &str = "encryption.key.next";
/// Encryption keys retired by rotations start with this: the node keeps opening
/// restricted records sealed to them that reach it late.
pub const RETIRED_ENCRYPTION_KEY_PREFIX: &str = "encryption.key.retired-";

/// The X25519 public key of the secret in `path`.
pub fn encryption_public(path: &Path) -> Result<[u8; 32], String> {
    let secret = crate::identity::read_encryption_key(path).map_err(|e| e.to_string())?;
    Ok(x25519_dalek::PublicKey::from(&x25519_dalek::StaticSecret::from(secret)).to_bytes())
}

/// The X25519 secrets this node opens restricted records with: DIR/encryption.key
/// and the ones rotations retired.
pub fn encryption_secrets(dir: &Path) -> Result<Vec<[u8; 32]>, crate::identity::KeyFileError> {
    let mut paths = vec![dir.join(ENCRYPTION_KEY_FILE)];
    if let Ok(listing) = std::fs::read_dir(dir) {
        let mut retired: Vec<PathBuf> = listing
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with(RETIRED_ENCRYPTION_KEY_PREFIX))
            })
            .collect();
        retired.sort();
        paths.extend(retired);
    }
    paths
        .iter()
        .filter(|p| p.exists())
        .map(|p| crate::identity::read_encryption_key(p))
        .collect()
}

/// A key rotation's file work and the in-process restart that follows it.
#[derive(Debug, Clone)]
pub struct Rotation {
    pub dir: PathBuf,
    /// Notified once the new key is in place: the node restarts its network and API
    /// with it (`node::run`).
    pub restart: Arc<tokio::sync::Notify>,
}

impl Rotation {
    /// DIR/identity.key.next holds the secret of the certificate's node key, and
    /// this node holds the secret of its encryption key (DIR/encryption.key.next, or
    /// the current one kept).
    pub fn check_next(&self, certificate: &Certificate) -> Result<(), String> {
        let node_key = certificate.node.node_key;
        let path = self.dir.join(NEXT_KEY_FILE);
        let next = crate::identity::read_key_file(&path).map_err(|e| e.to_string())?;
        if next.public_key() != node_key {
            return Err(format!(
                "{} holds key {}, not the certificate's {node_key}",
                path.display(),
                next.public_key()
            ));
        }
        let wanted = certificate.node.encryption_key.0;
        let held = [NEXT_ENCRYPTION_KEY_FILE, ENCRYPTION_KEY_FILE]
            .iter()
            .any(|name| encryption_public(&self.dir.join(name)) == Ok(wanted));
        if held {
            Ok(())
        } else {
            Err(format!(
                "this node holds no secret of the certificate's encryption key {} (expected in {})",
                hex::encode(wanted),
                self.dir.join(NEXT_ENCRYPTION_KEY_FILE).display()
            ))
        }
    }

    /// After the rotation entry is stored: the old key file is kept beside (named
    /// after the old key), the new one takes its place with its certificate, and the
    /// node is asked to restart with it.
    pub fn switch(&self, certificate: &Certificate) -> Result<(), String> {
        let key_path = self.dir.join(crate::config::KEY_FILE);
        let old = crate::identity::read_key_file(&key_path).map_err(|e| e.to_string())?;
        let retired = self.dir.join(format!(
            "identity.key.retired-{}",
            &old.public_key().to_hex()[..16]
        ));
        let io = |what: &str, e: std::io::Error| format!("{what}: {e}");
        std::fs::rename(&key_path, &retired).map_err(|e| io("keeping the old key", e))?;
        std::fs::rename(self.dir.join(NEXT_KEY_FILE), &key_path)
            .map_err(|e| io("putting the new key in place", e))?;
        // The encryption key changes with the node key when the rotation made a new
        // one; the old one is kept to open what was sealed to it.
        let next_encryption = self.dir.join(NEXT_ENCRYPTION_KEY_FILE);
        if encryption_public(&next_encryption) == Ok(certificate.node.encryption_key.0) {
            let current = self.dir.join(ENCRYPTION_KEY_FILE);
            let retired = self.dir.join(format!(
                "{RETIRED_ENCRYPTION_KEY_PREFIX}{}",
                &old.public_key().to_hex()[..16]
            ));
            std::fs::rename(&current, &retired)
                .map_err(|e| io("keeping the old encryption key", e))?;
            std::fs::rename(&next_encryption, &current)
                .map_err(|e| io("putting the new encryption key in place", e))?;
        }
        crate::config::write_atomically(
            &self.dir.join(CERTIFICATE_FILE),
            &toml::to_string(certificate).unwrap_or_default(),
        )
        .map_err(|e| e.to_string())?;
        self.restart.notify_one();
        Ok(())
    }

    /// Converts this node's network of static lists to `charter` (checked by the
    /// caller): DIR/charter.toml is written and the node restarts in-process with it.
    pub fn adopt_charter(&self, charter: &Charter) -> Result<(), String> {
        crate::config::write_atomically(&self.dir.join(CHARTER_FILE), &charter_to_toml(charter))
            .map_err(|e| e.to_string())?;
        self.restart.notify_one();
        Ok(())
    }
}
