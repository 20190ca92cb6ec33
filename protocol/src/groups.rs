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

use crate::body::{at, check_count, check_text};
use crate::date::Date;
use crate::entry::EntryId;
use crate::envelope::{Distribution, OpeningKey};
use crate::error::{Rule, ValidationError};
use crate::governance::{check_member_code, Membership};
use crate::limits::{
    MAX_ENVELOPE_SLOTS, MAX_GROUP_MEMBERS, MAX_GROUP_NAME_BYTES, MAX_GROUP_PURPOSE_BYTES,
};

/// A group's id: 16 random bytes chosen by its creator, 32 hex digits in JSON.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Encode, Decode)]
pub struct GroupId(pub [u8; 16]);

impl GroupId {
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

/// A group update as a node holds it: opened from an entry of `author_code`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupEvent {
    pub entry: EntryId,
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
}

impl Groups {
    /// Pure: the same set of updates gives the same groups in whatever order they
    /// come. In (created_at_ms, entry id) order: an update of an unknown group counts
    /// when it is epoch 0 (its author's administration becomes the owner); an update
    /// of a known group counts when it is by the owner and is the next epoch. Of two
    /// updates for one epoch the first in that order wins; every secret the node was
    /// given is kept, for the records sealed with it.
    pub fn replay(events: &[GroupEvent]) -> Groups {
        let mut order: Vec<&GroupEvent> = events.iter().collect();
        order.sort_by_key(|e| (e.created_at_ms, e.entry));
        order.dedup_by_key(|e| e.entry);
        let mut groups: BTreeMap<GroupId, GroupState> = BTreeMap::new();
        let mut secrets: BTreeMap<GroupId, BTreeMap<u32, [u8; 32]>> = BTreeMap::new();
        for event in &order {
            let update = &event.update;
            match groups.get_mut(&update.id) {
                None if update.epoch == 0 => {
                    groups.insert(
                        update.id,
                        GroupState {
                            id: update.id,
                            owner: event.author_code.clone(),
                            created_at_ms: event.created_at_ms,
                            current: update.clone(),
                            secrets: BTreeMap::new(),
                            epochs: BTreeMap::from([(0, (event.created_at_ms, update.clone()))]),
                        },
                    );
                }
                Some(state)
                    if state.owner == event.author_code
                        && update.epoch == state.current.epoch + 1 =>
                {
                    state.current = update.clone();
                    state
                        .epochs
                        .insert(update.epoch, (event.created_at_ms, update.clone()));
                }
                _ => {}
            }
            secrets
                .entry(update.id)
                .or_default()
                .entry(update.epoch)
                .or_insert(update.secret);
        }
        for (id, state) in groups.iter_mut() {
            state.secrets = secrets.remove(id).unwrap_or_default();
        }
        Groups { groups }
    }

    /// Every group secret held (of known groups), to open slots with.
    pub fn secrets(&self) -> impl Iterator<Item = &[u8; 32]> {
        self.groups.values().flat_map(|g| g.secrets.values())
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
) -> Result<(Vec<[u8; 32]>, Distribution), AddressError> {
    let nodes_of = |code: &str| -> Result<Vec<[u8; 32]>, AddressError> {
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
        Ok(keys.into_iter().collect())
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
            keys.push(state.current.public_key());
            Distribution::Group(GroupRef {
                id: group.id,
                epoch: state.epoch(),
            })
        }
    };
    keys.sort_unstable();
    keys.dedup();
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
