//! Closed user groups and the rule of who may read a restricted record.
//!
//! A group is defined by sealed [`GroupUpdate`] records of its owner (the
//! administration that created it), each addressed to the group's members at that
//! epoch and carrying the epoch's group secret. Records addressed to the group are
//! sealed to the key pair derived from that secret ([`crate::envelope::OpeningKey::of_group`]),
//! so a member removed at epoch `e` cannot read what is addressed to epoch `e` or later.
//!
//! [`Groups::replay`] and [`recipients`] are pure functions: every node that holds
//! the same updates reaches the same groups, and every publisher addresses the same
//! keys for the same distribution and membership.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use bincode::{Decode, Encode};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};

use crate::body::{at, check_count, check_text};
use crate::date::Date;
use crate::entry::EntryId;
use crate::envelope::{Distribution, OpeningKey, Recipient};
use crate::error::{Rule, ValidationError};
use crate::governance::{check_member_code, Membership};
use crate::identity::PublicKey;
use crate::limits::{
    ENDED_GROUP_GRACE_DAYS, MAX_ENVELOPE_SLOTS, MAX_GROUPS_PER_OWNER, MAX_GROUP_MEMBERS,
    MAX_GROUP_NAME_BYTES, MAX_GROUP_PURPOSE_BYTES,
};

/// A group's id: 16 bytes, 32 hex digits in JSON. Since 2026-12-08 it is bound to
/// its creator ([`GroupId::bound`]); older groups have random ids.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Encode, Decode)]
pub struct GroupId(pub [u8; 16]);

/// Prepended to a creator's node key and first secret to derive a group's id.
pub const GROUP_ID_DOMAIN: &[u8] = b"customs-network/group/v1\0";

impl GroupId {
    /// The id of a group created by the node key `creator` with epoch 0's `secret`:
    /// the first 16 bytes of SHA-256(domain, creator, secret). Only that key can
    /// make an epoch 0 with this id, so nobody else can claim the group.
    pub fn bound(creator: &PublicKey, secret: &[u8; 32]) -> GroupId {
        let mut hasher = Sha256::new();
        hasher.update(GROUP_ID_DOMAIN);
        hasher.update(creator.0);
        hasher.update(secret);
        let digest = hasher.finalize();
        let mut id = [0u8; 16];
        id.copy_from_slice(&digest[..16]);
        GroupId(id)
    }

    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    pub fn from_hex(text: &str) -> Option<GroupId> {
        let mut bytes = [0u8; 16];
        (text.len() == 32 && hex::decode_to_slice(text, &mut bytes).is_ok())
            .then_some(GroupId(bytes))
    }
}

impl fmt::Display for GroupId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for GroupId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "GroupId({})", self.to_hex())
    }
}

impl Serialize for GroupId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_hex())
    }
}

impl<'de> Deserialize<'de> for GroupId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        GroupId::from_hex(&text).ok_or_else(|| {
            serde::de::Error::custom(format!("group id {text:?} must be 32 hex digits"))
        })
    }
}

#[cfg(feature = "openapi")]
impl utoipa::PartialSchema for GroupId {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .pattern(Some("^[0-9a-f]{32}$"))
            .into()
    }
}

#[cfg(feature = "openapi")]
impl utoipa::ToSchema for GroupId {}

/// A record's address in a group: the group and the epoch whose key sealed it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct GroupRef {
    pub id: GroupId,
    #[serde(default)]
    pub epoch: u32,
}

/// A group's definition at one epoch, with that epoch's secret. Only ever inside an
/// envelope addressed to the listed members (and the owner).
#[derive(Clone, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct GroupUpdate {
    pub id: GroupId,
    /// 0 when created, then one more at each change of members.
    pub epoch: u32,
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 100))]
    pub name: String,
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 500))]
    pub purpose: String,
    /// Member codes; the owner is always a member.
    #[cfg_attr(feature = "openapi", schema(max_items = 256))]
    pub members: Vec<String>,
    pub starts_on: Date,
    /// After this day nothing new may be addressed to the group.
    pub ends_on: Date,
    /// The epoch's group secret. Never shown by the API.
    #[serde(skip)]
    pub secret: [u8; 32],
}

impl fmt::Debug for GroupUpdate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GroupUpdate")
            .field("id", &self.id)
            .field("epoch", &self.epoch)
            .field("name", &self.name)
            .field("members", &self.members)
            .finish_non_exhaustive()
    }
}

impl GroupUpdate {
    pub fn validate(&self) -> Result<(), ValidationError> {
        check_text(&self.name, MAX_GROUP_NAME_BYTES, false).map_err(at("name"))?;
        check_text(&self.purpose, MAX_GROUP_PURPOSE_BYTES, true).map_err(at("purpose"))?;
        if self.members.is_empty() {
            return Err(ValidationError::new("members", Rule::Empty));
        }
        check_count(self.members.len(), MAX_GROUP_MEMBERS).map_err(at("members"))?;
        for (i, code) in self.members.iter().enumerate() {
            check_member_code(code).map_err(at(format!("members[{i}]")))?;
            if self.members[..i].contains(code) {
                return Err(ValidationError::new(
                    format!("members[{i}]"),
                    Rule::Duplicate {
                        value: code.clone(),
                    },
                ));
            }
        }
        self.starts_on.check().map_err(at("starts_on"))?;
        self.ends_on.check().map_err(at("ends_on"))?;
        if self.ends_on < self.starts_on {
            return Err(ValidationError::new(
                "ends_on",
                Rule::DateOrder {
                    value: self.ends_on.to_string(),
                    other_field: "starts_on",
                    other: self.starts_on.to_string(),
                },
            ));
        }
        Ok(())
    }

    /// The public key records to this group at this epoch are sealed to.
    pub fn public_key(&self) -> [u8; 32] {
        OpeningKey::of_group(&self.secret).1
    }
}

/// A group update as a node holds it: opened from an entry signed by `author`, a
/// node of `author_code`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupEvent {
    pub entry: EntryId,
    pub author: PublicKey,
    pub author_code: String,
    pub created_at_ms: u64,
    pub update: GroupUpdate,
}

/// A group as its updates define it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct GroupState {
    pub id: GroupId,
    /// The administration that created it; only its updates count.
    pub owner: String,
    /// Whether its id is bound to the node key that created it (every group made
    /// since 2026-12-08); a random id of an older group is not.
    pub bound: bool,
    /// An older group whose id two administrations claim with an epoch 0 each: no
    /// one owns it and nothing may be addressed to it (its owner makes a new one).
    pub contested: bool,
    pub created_at_ms: u64,
    /// The latest update's fields.
    pub current: GroupUpdate,
    /// Every epoch's secret this node holds, to open older records.
    #[serde(skip)]
    pub secrets: BTreeMap<u32, [u8; 32]>,
    /// The update that made each epoch this node knows (members and dates then),
    /// with its creation time.
    #[serde(skip)]
    pub epochs: BTreeMap<u32, (u64, GroupUpdate)>,
}

impl GroupState {
    pub fn epoch(&self) -> u32 {
        self.current.epoch
    }

    /// Whether records may still be addressed to it on `today`.
    pub fn open_on(&self, today: Date) -> bool {
        today <= self.current.ends_on
    }

    /// Whether a record sealed to this group's `epoch` by a node of `author_code`,
    /// created at `created_at_ms`, keeps the group's rules, and if not, why: the
    /// epoch is one the owner made, the author was a member then and was not removed
    /// by a later epoch made before the record, and the group had not ended.
    /// Recipients apply it (a publisher's node applies it before sealing), so a
    /// modified node cannot address an ended group, one it is not in, or an old key
    /// of a group it was removed from.
    pub fn check_record(
        &self,
        epoch: u32,
        author_code: &str,
        created_at_ms: u64,
    ) -> Result<(), String> {
        let name = &self.current.name;
        if self.contested {
            return Err(format!(
                "addressed to group {name}, whose id two administrations claim: nothing may be addressed to it"
            ));
        }
        let Some((_, update)) = self.epochs.get(&epoch) else {
            return Err(format!(
                "addressed to epoch {epoch} of group {name}, which its owner did not make (as this node knows it)"
            ));
        };
        let is_member = |u: &GroupUpdate| u.members.iter().any(|m| m == author_code);
        if !is_member(update) {
            return Err(format!(
                "{author_code} was not a member of group {name} at epoch {epoch}"
            ));
        }
        let removal = self
            .epochs
            .range(epoch + 1..)
            .find(|(_, (made_at_ms, later))| *made_at_ms <= created_at_ms && !is_member(later));
        if let Some((removed_at, _)) = removal {
            return Err(format!(
                "{author_code} was removed from group {name} (epoch {removed_at}) before it signed this"
            ));
        }
        let created_on = Date::from_unix_ms(created_at_ms);
        if created_on > update.ends_on {
            return Err(format!(
                "addressed to group {name} on {created_on}, after it ended on {}",
                update.ends_on
            ));
        }
        Ok(())
    }
}

/// The groups a node's updates define.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Groups {
    pub groups: BTreeMap<GroupId, GroupState>,
    /// Epoch-0 updates that claim a group someone else created (an alarm: a member
    /// tried to take a group over), by entry.
    pub claims: Vec<GroupClaim>,
}

/// An epoch 0 of a group that its author did not create.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct GroupClaim {
    pub group: GroupId,
    pub entry: EntryId,
    pub claimant: String,
    pub reason: String,
}

impl Groups {
    /// Pure: the same set of updates gives the same groups in whatever order they
    /// come, and no signed time decides anything. A group's owner is the
    /// administration whose node made epoch 0 with an id bound to its key
    /// ([`GroupId::bound`]); any other epoch 0 for that id is a claim, refused and
    /// listed. An older group (random id) is owned by the one administration that
    /// made an epoch 0 for it, and is contested when two did. Then each next epoch
    /// counts when the owner made it (of two, the smaller entry id). Only the
    /// secrets of updates that count are kept.
    pub fn replay(events: &[GroupEvent]) -> Groups {
        let mut by_group: BTreeMap<GroupId, Vec<&GroupEvent>> = BTreeMap::new();
        for event in events {
            by_group.entry(event.update.id).or_default().push(event);
        }
        let mut groups = Groups::default();
        for (id, mut updates) in by_group {
            updates.sort_by_key(|e| (e.update.epoch, e.entry));
            updates.dedup_by_key(|e| e.entry);
            let firsts: Vec<&GroupEvent> = updates
                .iter()
                .copied()
                .filter(|e| e.update.epoch == 0)
                .collect();
            let bound = firsts
                .iter()
                .copied()
                .find(|e| GroupId::bound(&e.author, &e.update.secret) == id);
            let (founding, contested) = match bound {
                Some(founding) => (founding, false),
                None => {
                    let Some(&first) = firsts.first() else {
                        continue;
                    };
                    let contested = firsts.iter().any(|e| e.author_code != first.author_code);
                    (first, contested)
                }
            };
            for claim in firsts.iter().filter(|e| {
                if bound.is_some() {
                    e.author != founding.author
                } else {
                    e.author_code != founding.author_code
                }
            }) {
                groups.claims.push(GroupClaim {
                    group: id,
                    entry: claim.entry,
                    claimant: claim.author_code.clone(),
                    reason: if bound.is_some() {
                        format!(
                            "{} signed a first definition of group {id}, which {}'s node {} created",
                            claim.author_code,
                            founding.author_code,
                            founding.author.short()
                        )
                    } else {
                        format!(
                            "{} and {} both signed a first definition of group {id}",
                            founding.author_code, claim.author_code
                        )
                    },
                });
            }
            let mut state = GroupState {
                id,
                owner: founding.author_code.clone(),
                bound: bound.is_some(),
                contested,
                created_at_ms: founding.created_at_ms,
                current: founding.update.clone(),
                secrets: BTreeMap::from([(0, founding.update.secret)]),
                epochs: BTreeMap::from([(0, (founding.created_at_ms, founding.update.clone()))]),
            };
            for next in &updates {
                if next.author_code == state.owner && next.update.epoch == state.current.epoch + 1 {
                    state.current = next.update.clone();
                    state.secrets.insert(next.update.epoch, next.update.secret);
                    state
                        .epochs
                        .insert(next.update.epoch, (next.created_at_ms, next.update.clone()));
                }
            }
            groups.groups.insert(id, state);
        }
        groups
    }

    /// Every group secret held (of known groups).
    pub fn secrets(&self) -> impl Iterator<Item = &[u8; 32]> {
        self.groups.values().flat_map(|g| g.secrets.values())
    }

    /// The group secrets a node opens records with on `today`, at most `max_keys`
    /// (pure, so that what a node tries is bounded whatever members sign):
    ///
    /// - only groups whose owner is a member and that are not contested;
    /// - of each owner, its [`MAX_GROUPS_PER_OWNER`] groups that end last (ties: the
    ///   smaller id), so that no member makes others try more keys by making more
    ///   groups;
    /// - not groups that ended more than [`ENDED_GROUP_GRACE_DAYS`] ago;
    /// - `current`: the current epochs of groups open today, the only keys tried on
    ///   an untagged (suite 1) envelope's every slot; `older`: superseded epochs
    ///   (newest first) and groups ended within the grace, matched by tag only, so
    ///   that a record sealed just before a change or an end that arrives late
    ///   still opens;
    /// - `current` first when `max_keys` cuts.
    pub fn opening_secrets(
        &self,
        membership: &Membership,
        today: Date,
        max_keys: usize,
    ) -> GroupSecrets {
        let mut by_owner: BTreeMap<&str, Vec<&GroupState>> = BTreeMap::new();
        for state in self.groups.values() {
            let ended_long_ago = today.days_since_epoch()
                > state.current.ends_on.days_since_epoch() + ENDED_GROUP_GRACE_DAYS;
            if state.contested || ended_long_ago || !membership.is_member(&state.owner) {
                continue;
            }
            by_owner.entry(&state.owner).or_default().push(state);
        }
        let mut secrets = GroupSecrets::default();
        let mut older: Vec<(u32, [u8; 32])> = Vec::new();
        for mut owned in by_owner.into_values() {
            owned.sort_by(|a, b| (b.current.ends_on, a.id).cmp(&(a.current.ends_on, b.id)));
            for state in owned.into_iter().take(MAX_GROUPS_PER_OWNER) {
                for (&epoch, secret) in state.secrets.iter().rev() {
                    if epoch == state.epoch() && state.open_on(today) {
                        secrets.current.push(*secret);
                    } else {
                        older.push((epoch, *secret));
                    }
                }
            }
        }
        older.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        secrets.current.truncate(max_keys);
        let room = max_keys - secrets.current.len();
        secrets
            .older
            .extend(older.into_iter().take(room).map(|(_, secret)| secret));
        secrets
    }

    /// The groups `owner` has open on `today`, which count towards its
    /// [`MAX_GROUPS_PER_OWNER`].
    pub fn open_count(&self, owner: &str, today: Date) -> usize {
        self.groups
            .values()
            .filter(|g| g.owner == owner && !g.contested && g.open_on(today))
            .count()
    }
}

/// What [`Groups::opening_secrets`] gives a node to open records with.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct GroupSecrets {
    pub current: Vec<[u8; 32]>,
    pub older: Vec<[u8; 32]>,
}

impl fmt::Debug for GroupSecrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GroupSecrets")
            .field("current", &self.current.len())
            .field("older", &self.older.len())
            .finish()
    }
}

/// Why a record cannot be addressed as asked.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum AddressError {
    #[error("{code} is not a current member of the network")]
    NotAMember { code: String },
    #[error("{code} has no node with an encryption key (a network of static member lists has none: convert it to a charter, see the README)")]
    NoEncryptionKey { code: String },
    #[error("this node holds no group {id} (it is not a member, or the group's definition has not reached it yet)")]
    UnknownGroup { id: GroupId },
    #[error("group {id} ({name}) ended on {ends_on}: nothing new may be addressed to it")]
    GroupEnded {
        id: GroupId,
        name: String,
        ends_on: Date,
    },
    #[error("{0}")]
    NotInGroup(String),
    #[error(
        "{count} recipient node keys, over the limit of {max}: address a closed user group instead"
    )]
    TooMany { count: usize, max: usize },
    #[error("group {id} ({name}) lists {code}, which is not a member of the network: its owner {owner} must make a new epoch without it first")]
    RemovedMemberInGroup {
        id: GroupId,
        name: String,
        code: String,
        owner: String,
    },
    #[error("group {id} ({name}) belongs to {owner}, which is no longer a member of the network: the group has ended")]
    OwnerRemoved {
        id: GroupId,
        name: String,
        owner: String,
    },
}

/// The X25519 keys a record from `author_code` with `distribution` is sealed to,
/// and the distribution as it will be recorded (a group at its current epoch): the
/// open node keys of every named member and of the author's administration, or the
/// group's key and the author's nodes. Pure: membership and groups in, keys out.
pub fn recipients(
    distribution: &Distribution,
    author_code: &str,
    membership: &Membership,
    groups: &Groups,
    today: Date,
) -> Result<(Vec<Recipient>, Distribution), AddressError> {
    let nodes_of = |code: &str| -> Result<Vec<Recipient>, AddressError> {
        if !membership.is_member(code) {
            return Err(AddressError::NotAMember { code: code.into() });
        }
        let keys: BTreeSet<[u8; 32]> = membership
            .open_nodes()
            .filter(|n| n.code == code)
            .filter_map(|n| n.encryption_key.map(|k| k.0))
            .collect();
        if keys.is_empty() {
            return Err(AddressError::NoEncryptionKey { code: code.into() });
        }
        Ok(keys.into_iter().map(Recipient::node).collect())
    };
    let mut keys = nodes_of(author_code)?;
    let recorded = match distribution {
        Distribution::All => return Ok((Vec::new(), Distribution::All)),
        Distribution::To(codes) => {
            for code in codes {
                keys.extend(nodes_of(code)?);
            }
            distribution.clone()
        }
        Distribution::Group(group) => {
            let state = groups
                .groups
                .get(&group.id)
                .ok_or(AddressError::UnknownGroup { id: group.id })?;
            let name = || state.current.name.clone();
            if !membership.is_member(&state.owner) {
                return Err(AddressError::OwnerRemoved {
                    id: group.id,
                    name: name(),
                    owner: state.owner.clone(),
                });
            }
            if let Some(code) = state
                .current
                .members
                .iter()
                .find(|c| !membership.is_member(c))
            {
                return Err(AddressError::RemovedMemberInGroup {
                    id: group.id,
                    name: name(),
                    code: code.clone(),
                    owner: state.owner.clone(),
                });
            }
            if !state.open_on(today) {
                return Err(AddressError::GroupEnded {
                    id: group.id,
                    name: state.current.name.clone(),
                    ends_on: state.current.ends_on,
                });
            }
            let today_ms = u64::try_from(today.days_since_epoch()).unwrap_or(0) * 86_400_000;
            state
                .check_record(state.epoch(), author_code, today_ms)
                .map_err(AddressError::NotInGroup)?;
            keys.push(Recipient::group(&state.current.secret));
            Distribution::Group(GroupRef {
                id: group.id,
                epoch: state.epoch(),
            })
        }
    };
    keys.sort_unstable();
    keys.dedup_by_key(|r| r.key);
    if keys.len() > MAX_ENVELOPE_SLOTS {
        return Err(AddressError::TooMany {
            count: keys.len(),
            max: MAX_ENVELOPE_SLOTS,
        });
    }
    Ok((keys, recorded))
}

#[cfg(test)]
mod tests;
