//! Governed membership: the charter that founds a network, the certificates by which
//! an administration's key vouches for its nodes' keys, the governance entries
//! (proposals, approvals, certificates, rotations, revocations) and the one rule that
//! turns the governance entries a node holds into the membership ([`Membership::replay`]).
//!
//! The rule is a pure function of the *set* of governance entries: it sorts them by
//! (created_at_ms, entry id) and replays them in that order, so two nodes holding the
//! same entries compute the same membership whatever order the entries arrived in.
//! SPEC.md section 13 is the normative text.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;

use bincode::{Decode, Encode};
use ed25519_dalek::Signature;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};

use crate::body::{at, check_count, check_text};
use crate::codec::encode;
use crate::entry::{check_network_id, EntryId};
use crate::error::{Rule, ValidationError};
use crate::identity::{PublicKey, SecretKey};
use crate::limits::*;

/// Prepended to a charter's bytes before its founder signs them.
pub const CHARTER_DOMAIN: &[u8] = b"customs-network/charter/v1\0";
/// Prepended to a node certificate's bytes before the administration key signs them.
pub const CERTIFICATE_DOMAIN: &[u8] = b"customs-network/certificate/v1\0";
/// Prepended to a key revocation's bytes before the administration key signs them.
pub const REVOCATION_DOMAIN: &[u8] = b"customs-network/revocation/v1\0";

/// An ed25519 signature by an administration key (hex in JSON and TOML).
#[derive(Clone, Copy, PartialEq, Eq, Encode, Decode)]
pub struct AdminSignature(pub [u8; 64]);

impl fmt::Debug for AdminSignature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AdminSignature({}..)", hex::encode(&self.0[..8]))
    }
}

/// Fixed-size byte strings travel as lowercase hex in JSON and TOML.
fn to_hex<S: Serializer>(bytes: &[u8], serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&hex::encode(bytes))
}

fn from_hex<'de, D: Deserializer<'de>, const N: usize>(
    deserializer: D,
    what: &str,
) -> Result<[u8; N], D::Error> {
    let text = String::deserialize(deserializer)?;
    let mut bytes = [0u8; N];
    hex::decode_to_slice(&text, &mut bytes)
        .map_err(|_| serde::de::Error::custom(format!("{what} is {} hex digits", 2 * N)))?;
    Ok(bytes)
}

impl Serialize for AdminSignature {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        to_hex(&self.0, serializer)
    }
}

impl<'de> Deserialize<'de> for AdminSignature {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        from_hex(deserializer, "a signature").map(AdminSignature)
    }
}

/// A node's X25519 public key, to which restricted records are encrypted (hex).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Encode, Decode)]
pub struct EncryptionKey(pub [u8; 32]);

impl fmt::Debug for EncryptionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EncryptionKey({})", hex::encode(self.0))
    }
}

impl Serialize for EncryptionKey {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        to_hex(&self.0, serializer)
    }
}

impl<'de> Deserialize<'de> for EncryptionKey {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        from_hex(deserializer, "an encryption key").map(EncryptionKey)
    }
}

/// How many approvals (the proposer's included) decide a proposal.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Encode, Decode, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Quorum {
    /// More than half of the current members.
    Majority,
    /// At least two thirds of the current members.
    TwoThirds,
}

impl Quorum {
    /// Approvals needed among `members` current members (at least one).
    pub fn needed(self, members: usize) -> usize {
        let needed = match self {
            Quorum::Majority => members / 2 + 1,
            Quorum::TwoThirds => (2 * members).div_ceil(3),
        };
        needed.max(1)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Quorum::Majority => "majority",
            Quorum::TwoThirds => "two-thirds",
        }
    }
}

/// An administration as the network knows it: its member code, name and the key
/// that certifies its nodes (kept offline).
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AdminCard {
    pub code: String,
    pub name: String,
    pub admin_key: PublicKey,
}

impl AdminCard {
    pub fn validate(&self) -> Result<(), ValidationError> {
        check_member_code(&self.code).map_err(at("code"))?;
        check_text(&self.name, MAX_MEMBER_NAME_BYTES, false).map_err(at("name"))?;
        check_key(&self.admin_key).map_err(at("admin_key"))
    }
}

/// Member codes: 2 to 8 capital letters (an ISO 3166-1 alpha-2 country, or a union
/// code such as EU).
pub fn check_member_code(code: &str) -> Result<(), Rule> {
    if (2..=8).contains(&code.len()) && code.bytes().all(|c| c.is_ascii_uppercase()) {
        Ok(())
    } else {
        Err(Rule::MemberCode {
            value: code.to_string(),
        })
    }
}

fn check_key(key: &PublicKey) -> Result<(), Rule> {
    key.verifying_key()
        .map(|_| ())
        .map_err(|e| Rule::InvalidKey {
            value: key.to_hex(),
            reason: e.to_string(),
        })
}

/// What an administration key says about one node: this key signs entries for us,
/// here is its encryption key and where it listens.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NodeCertificate {
    pub code: String,
    pub admin_key: PublicKey,
    pub node_key: PublicKey,
    pub encryption_key: EncryptionKey,
    /// Multiaddresses where the node listens (members dial them).
    #[serde(default)]
    pub addresses: Vec<String>,
    pub issued_at_ms: u64,
}

/// A node certificate with the administration key's signature.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Certificate {
    pub node: NodeCertificate,
    pub signature: AdminSignature,
}

impl Certificate {
    /// Signs `node` with the administration key (which must be `node.admin_key`).
    pub fn sign(node: NodeCertificate, admin: &SecretKey) -> Certificate {
        debug_assert_eq!(admin.public_key(), node.admin_key);
        let signature = AdminSignature(admin.sign_raw(&domain_input(CERTIFICATE_DOMAIN, &node)));
        Certificate { node, signature }
    }

    /// Every rule a certificate meets on its own, its signature included.
    pub fn validate(&self) -> Result<(), ValidationError> {
        let node = &self.node;
        check_member_code(&node.code).map_err(at("node.code"))?;
        check_key(&node.admin_key).map_err(at("node.admin_key"))?;
        check_key(&node.node_key).map_err(at("node.node_key"))?;
        check_addresses(&node.addresses).map_err(|e| e.within("node"))?;
        check_statement(CERTIFICATE_DOMAIN, node, &node.admin_key, &self.signature)
            .map_err(at("signature"))
    }
}

fn check_addresses(addresses: &[String]) -> Result<(), ValidationError> {
    check_count(addresses.len(), MAX_NODE_ADDRESSES).map_err(at("addresses"))?;
    for (i, address) in addresses.iter().enumerate() {
        let ok = !address.is_empty()
            && address.len() <= MAX_ADDRESS_BYTES
            && address.bytes().all(|c| c.is_ascii_graphic());
        if !ok {
            return Err(ValidationError::new(
                format!("addresses[{i}]"),
                Rule::TooLong {
                    len: address.len(),
                    max: MAX_ADDRESS_BYTES,
                },
            ));
        }
    }
    Ok(())
}

fn domain_input<T: Encode>(domain: &[u8], value: &T) -> Vec<u8> {
    let mut input = domain.to_vec();
    input.extend_from_slice(&encode(value));
    input
}

fn check_statement<T: Encode>(
    domain: &[u8],
    value: &T,
    key: &PublicKey,
    signature: &AdminSignature,
) -> Result<(), Rule> {
    let bad = || Rule::StatementSignature {
        admin_key: key.to_hex(),
    };
    let verifying = key.verifying_key().map_err(|_| bad())?;
    verifying
        .verify_strict(
            &domain_input(domain, value),
            &Signature::from_bytes(&signature.0),
        )
        .map_err(|_| bad())
}

/// An administration key's statement that one of its node keys signs nothing valid
/// from `from_seq` on (earlier entries stay valid).
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct KeyRevocation {
    pub code: String,
    pub admin_key: PublicKey,
    pub node_key: PublicKey,
    pub from_seq: u64,
    pub reason: String,
    pub issued_at_ms: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Revocation {
    pub revocation: KeyRevocation,
    pub signature: AdminSignature,
}

impl Revocation {
    pub fn sign(revocation: KeyRevocation, admin: &SecretKey) -> Revocation {
        let signature =
            AdminSignature(admin.sign_raw(&domain_input(REVOCATION_DOMAIN, &revocation)));
        Revocation {
            revocation,
            signature,
        }
    }

    pub fn validate(&self) -> Result<(), ValidationError> {
        let r = &self.revocation;
        check_member_code(&r.code).map_err(at("revocation.code"))?;
        check_key(&r.node_key).map_err(at("revocation.node_key"))?;
        if r.from_seq == 0 {
            return Err(ValidationError::new("revocation.from_seq", Rule::SeqZero));
        }
        check_text(&r.reason, MAX_REASON_BYTES, false).map_err(at("revocation.reason"))?;
        check_statement(REVOCATION_DOMAIN, r, &r.admin_key, &self.signature)
            .map_err(at("signature"))
    }
}

/// A member's governance act. Tags (in declaration order from 0) are part of the
/// format.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case", deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Governance {
    /// Proposes to admit an administration with its first nodes.
    ProposeAdmission {
        card: AdminCard,
        nodes: Vec<Certificate>,
    },
    /// Proposes to remove a member.
    ProposeRemoval { code: String, reason: String },
    /// Proposes to replace a member's administration key (lost or stolen); `nodes`
    /// are its node keys certified anew by the new key. Every other node key of the
    /// member stops at the decision.
    ProposeAdminKey {
        code: String,
        admin_key: PublicKey,
        nodes: Vec<Certificate>,
        reason: String,
    },
    /// Approves a proposal (by its entry id).
    Approve { proposal: EntryId },
    /// Adds a node key to the author's administration (another node). May be the
    /// first entry of the certified key itself.
    Certify { certificate: Certificate },
    /// The author's node key hands over to a new certified key: this entry is the
    /// last the old key signs.
    Rotate { certificate: Certificate },
    /// A node key signs nothing valid from a seq on.
    Revoke { revocation: Revocation },
}

impl Governance {
    pub fn is_proposal(&self) -> bool {
        matches!(
            self,
            Governance::ProposeAdmission { .. }
                | Governance::ProposeRemoval { .. }
                | Governance::ProposeAdminKey { .. }
        )
    }

    pub fn action(&self) -> &'static str {
        match self {
            Governance::ProposeAdmission { .. } => "propose_admission",
            Governance::ProposeRemoval { .. } => "propose_removal",
            Governance::ProposeAdminKey { .. } => "propose_admin_key",
            Governance::Approve { .. } => "approve",
            Governance::Certify { .. } => "certify",
            Governance::Rotate { .. } => "rotate",
            Governance::Revoke { .. } => "revoke",
        }
    }

    pub fn validate(&self) -> Result<(), ValidationError> {
        let nodes_of = |code: &str, admin_key: &PublicKey, nodes: &[Certificate]| {
            if nodes.is_empty() {
                return Err(ValidationError::new("nodes", Rule::Empty));
            }
            check_count(nodes.len(), MAX_NODES_PER_PROPOSAL).map_err(at("nodes"))?;
            for (i, cert) in nodes.iter().enumerate() {
                let field = format!("nodes[{i}]");
                cert.validate().map_err(|e| e.within(&field))?;
                if cert.node.code != code {
                    return Err(ValidationError::new(
                        format!("{field}.node.code"),
                        Rule::OtherMember {
                            expected: code.to_string(),
                            found: cert.node.code.clone(),
                        },
                    ));
                }
                if cert.node.admin_key != *admin_key {
                    return Err(ValidationError::new(
                        format!("{field}.node.admin_key"),
                        Rule::StatementSignature {
                            admin_key: admin_key.to_hex(),
                        },
                    ));
                }
            }
            Ok(())
        };
        match self {
            Governance::ProposeAdmission { card, nodes } => {
                card.validate().map_err(|e| e.within("card"))?;
                nodes_of(&card.code, &card.admin_key, nodes)
            }
            Governance::ProposeRemoval { code, reason } => {
                check_member_code(code).map_err(at("code"))?;
                check_text(reason, MAX_REASON_BYTES, false).map_err(at("reason"))
            }
            Governance::ProposeAdminKey {
                code,
                admin_key,
                nodes,
                reason,
            } => {
                check_member_code(code).map_err(at("code"))?;
                check_key(admin_key).map_err(at("admin_key"))?;
                check_text(reason, MAX_REASON_BYTES, false).map_err(at("reason"))?;
                nodes_of(code, admin_key, nodes)
            }
            Governance::Approve { .. } => Ok(()),
            Governance::Certify { certificate } | Governance::Rotate { certificate } => {
                certificate.validate().map_err(|e| e.within("certificate"))
            }
            Governance::Revoke { revocation } => revocation.validate(),
        }
    }
}

/// The last seq of a node key that a removal or a key replacement still accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SeqCut {
    pub node_key: PublicKey,
    pub last_seq: u64,
}

/// A governance act in its context (body tag 9): the governance entries its author
/// held and had not seen built upon (`heads`, ascending), and for a removal or a
/// replacement of an administration key, the last seq accepted of each node key it
/// closes (`cuts`, ascending by key; a key it does not name is cut at 0). The
/// membership rule orders acts by these references, never by their signed time.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CausalGovernance {
    pub heads: Vec<EntryId>,
    #[serde(default)]
    pub cuts: Vec<SeqCut>,
    pub act: Governance,
}

impl CausalGovernance {
    pub fn validate(&self) -> Result<(), ValidationError> {
        check_count(self.heads.len(), MAX_GOVERNANCE_HEADS).map_err(at("heads"))?;
        for (i, pair) in self.heads.windows(2).enumerate() {
            if pair[0] >= pair[1] {
                return Err(ValidationError::new(
                    format!("heads[{}]", i + 1),
                    Rule::NotAscending {
                        value: pair[1].to_hex(),
                    },
                ));
            }
        }
        check_count(self.cuts.len(), MAX_SEQ_CUTS).map_err(at("cuts"))?;
        for (i, pair) in self.cuts.windows(2).enumerate() {
            if pair[0].node_key.0 >= pair[1].node_key.0 {
                return Err(ValidationError::new(
                    format!("cuts[{}].node_key", i + 1),
                    Rule::NotAscending {
                        value: pair[1].node_key.to_hex(),
                    },
                ));
            }
        }
        let closes_keys = matches!(
            self.act,
            Governance::ProposeRemoval { .. } | Governance::ProposeAdminKey { .. }
        );
        if !closes_keys && !self.cuts.is_empty() {
            return Err(ValidationError::new(
                "cuts",
                Rule::Placement {
                    reason:
                        "only a removal or a replacement of an administration key cuts node keys",
                },
            ));
        }
        self.act.validate().map_err(|e| e.within("act"))
    }
}

/// An administration named in the charter, with its first nodes.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Founder {
    pub card: AdminCard,
    pub nodes: Vec<Certificate>,
    /// A member of a network converted from static member lists: its one key is
    /// both its administration key and its node key (its log continues).
    #[serde(default)]
    pub legacy: bool,
    /// Where a legacy founder's node listens (others have it in their certificates).
    #[serde(default)]
    pub addresses: Vec<String>,
}

/// What founds a network: its name, its first members and its quorum rule.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CharterBody {
    pub name: String,
    pub quorum: Quorum,
    pub created_at_ms: u64,
    pub founders: Vec<Founder>,
    /// Set only when a network that ran with static member lists converts: its
    /// existing id, so that every entry it holds stays valid.
    #[serde(default)]
    pub converts: Option<String>,
}

/// A charter signed by its first founder's administration key.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Charter {
    pub charter: CharterBody,
    pub signature: AdminSignature,
}

impl Charter {
    pub fn sign(charter: CharterBody, founder_admin: &SecretKey) -> Charter {
        let signature =
            AdminSignature(founder_admin.sign_raw(&domain_input(CHARTER_DOMAIN, &charter)));
        Charter { charter, signature }
    }

    /// The network id: `NAME-` and the first 32 hex digits of SHA-256 of the signed
    /// charter bytes (or the converted network's id), so that two networks with one
    /// name are never confused.
    pub fn network_id(&self) -> String {
        if let Some(id) = &self.charter.converts {
            return id.clone();
        }
        let digest = Sha256::digest(encode(self));
        format!("{}-{}", self.charter.name, &hex::encode(digest)[..32])
    }

    pub fn validate(&self) -> Result<(), ValidationError> {
        let c = &self.charter;
        let name_ok = check_network_id(&c.name).is_ok() && c.name.len() <= MAX_NETWORK_NAME_BYTES;
        if !name_ok {
            return Err(ValidationError::new(
                "name",
                Rule::NetworkId {
                    value: c.name.clone(),
                },
            ));
        }
        if let Some(id) = &c.converts {
            check_network_id(id).map_err(at("converts"))?;
        }
        if c.founders.is_empty() {
            return Err(ValidationError::new("founders", Rule::Empty));
        }
        check_count(c.founders.len(), MAX_CHARTER_FOUNDERS).map_err(at("founders"))?;
        let mut codes = BTreeSet::new();
        let mut keys = BTreeSet::new();
        for (i, founder) in c.founders.iter().enumerate() {
            let field = format!("founders[{i}]");
            founder
                .card
                .validate()
                .map_err(|e| e.within(&format!("{field}.card")))?;
            if !codes.insert(founder.card.code.clone()) {
                return Err(ValidationError::new(
                    format!("{field}.card.code"),
                    Rule::Duplicate {
                        value: founder.card.code.clone(),
                    },
                ));
            }
            check_addresses(&founder.addresses).map_err(|e| e.within(&field))?;
            if founder.nodes.is_empty() && !founder.legacy {
                return Err(ValidationError::new(format!("{field}.nodes"), Rule::Empty));
            }
            check_count(founder.nodes.len(), MAX_NODES_PER_PROPOSAL)
                .map_err(at(format!("{field}.nodes")))?;
            let mut node_keys: Vec<PublicKey> =
                founder.nodes.iter().map(|n| n.node.node_key).collect();
            if founder.legacy {
                node_keys.push(founder.card.admin_key);
            }
            for (j, cert) in founder.nodes.iter().enumerate() {
                let node_field = format!("{field}.nodes[{j}]");
                cert.validate().map_err(|e| e.within(&node_field))?;
                if cert.node.code != founder.card.code
                    || cert.node.admin_key != founder.card.admin_key
                {
                    return Err(ValidationError::new(
                        format!("{node_field}.node.code"),
                        Rule::OtherMember {
                            expected: founder.card.code.clone(),
                            found: cert.node.code.clone(),
                        },
                    ));
                }
            }
            for key in node_keys {
                if !keys.insert(key) {
                    return Err(ValidationError::new(
                        format!("{field}.nodes"),
                        Rule::Duplicate {
                            value: key.to_hex(),
                        },
                    ));
                }
            }
        }
        check_statement(
            CHARTER_DOMAIN,
            c,
            &c.founders[0].card.admin_key,
            &self.signature,
        )
        .map_err(at("signature"))
    }

    /// Whether this charter converts network `network` whose members are exactly
    /// `members` (code, key), each as a legacy founder.
    pub fn check_conversion(
        &self,
        network: &str,
        members: &BTreeSet<(String, PublicKey)>,
    ) -> Result<(), String> {
        if self.charter.converts.as_deref() != Some(network) {
            return Err(format!(
                "the charter does not convert network {network:?} (it founds {:?})",
                self.network_id()
            ));
        }
        let founders: BTreeSet<(String, PublicKey)> = self
            .charter
            .founders
            .iter()
            .filter(|f| f.legacy)
            .map(|f| (f.card.code.clone(), f.card.admin_key))
            .collect();
        if founders != *members || founders.len() != self.charter.founders.len() {
            let missing: Vec<&String> = members.difference(&founders).map(|(c, _)| c).collect();
            let extra: Vec<&String> = founders.difference(members).map(|(c, _)| c).collect();
            return Err(format!(
                "the charter's members differ from this node's: missing {missing:?}, not members here {extra:?}; agree on one list first"
            ));
        }
        Ok(())
    }

    /// The canonical bytes (what the id hashes), for files and vectors.
    pub fn encode(&self) -> Vec<u8> {
        encode(self)
    }

    pub fn decode(bytes: &[u8]) -> Result<Charter, crate::DecodeError> {
        crate::codec::decode_canonical::<Charter, MAX_CHARTER_BYTES>("charter", bytes, 0)
    }
}

/// One governance entry as the rule sees it.
#[derive(Clone, Debug)]
pub struct GovernanceEvent {
    pub id: EntryId,
    pub author: PublicKey,
    pub seq: u64,
    pub created_at_ms: u64,
    pub governance: Governance,
    /// The governance heads its author held (`None`: a legacy entry of tag 3, which
    /// names none).
    pub heads: Option<Vec<EntryId>>,
    /// The node keys a removal or key replacement cuts, and where.
    pub cuts: Vec<SeqCut>,
}

impl GovernanceEvent {
    /// The governance event an entry carries, if it is a governance entry.
    pub fn of_entry(id: EntryId, entry: &crate::Entry) -> Option<GovernanceEvent> {
        let (governance, heads, cuts) = match &entry.body {
            crate::Body::Governance(act) => (act.clone(), None, Vec::new()),
            crate::Body::CausalGovernance(causal) => (
                causal.act.clone(),
                Some(causal.heads.clone()),
                causal.cuts.clone(),
            ),
            _ => return None,
        };
        Some(GovernanceEvent {
            id,
            author: entry.author,
            seq: entry.seq,
            created_at_ms: entry.created_at_ms,
            governance,
            heads,
            cuts,
        })
    }

    fn is_legacy(&self) -> bool {
        self.heads.is_none()
    }
}

/// A member's standing.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Standing {
    Member,
    Removed {
        removed_at_ms: u64,
        proposal: EntryId,
        reason: String,
    },
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct MemberState {
    pub code: String,
    pub name: String,
    pub admin_key: PublicKey,
    /// When it became a member (the charter's time for founders).
    pub since_ms: u64,
    #[serde(flatten)]
    pub standing: Standing,
    /// Its node keys, in the order they were certified.
    pub nodes: Vec<PublicKey>,
}

/// Why a node key stops signing valid entries.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct NodeKeyState {
    pub code: String,
    pub node_key: PublicKey,
    pub encryption_key: Option<EncryptionKey>,
    pub addresses: Vec<String>,
    pub certified_at_ms: u64,
    /// Entries with a seq above this are refused (rotation or revocation).
    pub last_seq: Option<u64>,
    /// Entries created at or after this time are refused (the member was removed, or
    /// its administration key replaced without this node).
    pub closed_at_ms: Option<u64>,
    /// Why `last_seq` or `closed_at_ms` is set.
    pub closed_reason: Option<String>,
}

impl NodeKeyState {
    fn cut_seq(&mut self, last_seq: u64, reason: String) {
        if self.last_seq.is_none_or(|s| last_seq < s) {
            self.last_seq = Some(last_seq);
            self.closed_reason = Some(reason);
        }
    }

    fn close_at(&mut self, at_ms: u64, reason: String) {
        if self.closed_at_ms.is_none_or(|t| at_ms < t) {
            self.closed_at_ms = Some(at_ms);
            self.closed_reason = Some(reason);
        }
    }

    /// Whether this key may sign an entry with `seq` created at `created_at_ms`.
    pub fn signs(&self, seq: u64, created_at_ms: u64) -> bool {
        self.last_seq.is_none_or(|s| seq <= s)
            && self.closed_at_ms.is_none_or(|t| created_at_ms < t)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ProposalStatus {
    Pending,
    Decided,
    /// Could not apply when it was decided or proposed (a member code taken, a key
    /// in use, the member gone, the proposer over its limit).
    Void,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ProposalState {
    pub id: EntryId,
    pub proposer: String,
    pub proposed_at_ms: u64,
    pub governance: Governance,
    /// Members whose approval counts now (the proposer's included), in code order.
    pub approvals: Vec<String>,
    /// Approvals needed now, or when it was decided.
    pub needed: usize,
    pub status: ProposalStatus,
    pub decided_at_ms: Option<u64>,
    /// Why it is void.
    pub void_reason: Option<String>,
    /// For a causal removal or key replacement: the last seq accepted of each node
    /// key it closes. `None` for a legacy one, which closes keys at its decision time.
    pub cuts: Option<Vec<SeqCut>>,
}

impl ProposalState {
    /// What the proposal is about: the member code.
    pub fn subject(&self) -> &str {
        match &self.governance {
            Governance::ProposeAdmission { card, .. } => &card.code,
            Governance::ProposeRemoval { code, .. } | Governance::ProposeAdminKey { code, .. } => {
                code
            }
            _ => "",
        }
    }
}

/// Why an entry's author may not sign it (a stable `reason` name and a message).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NotAdmitted {
    pub reason: &'static str,
    pub message: String,
}

/// The membership of a network at the end of a replay: members, their node keys and
/// the proposals. Built only by [`Membership::replay`] (or [`Membership::fixed`] for
/// a network of static member lists).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Membership {
    pub network: String,
    pub quorum: Quorum,
    /// By member code.
    pub members: BTreeMap<String, MemberState>,
    pub node_keys: HashMap<PublicKey, NodeKeyState>,
    /// By proposal id.
    pub proposals: BTreeMap<EntryId, ProposalState>,
    /// Governance entries that had no effect and why, by entry id (bounded by the
    /// entries held).
    pub ignored: BTreeMap<EntryId, String>,
    /// Whether the membership is governed (a charter) or static member lists.
    pub governed: bool,
    /// The governance entries nothing held builds on yet, ascending: what this
    /// node's next governance entry names as its heads.
    pub heads: Vec<EntryId>,
}

/// How many times the replay is repeated with the key limits it found (a revocation
/// found late invalidates votes counted early); the result is a fixed point in
/// practice and deterministic in any case.
const MAX_REPLAY_ROUNDS: usize = 4;

impl Membership {
    /// A network of static member lists (before it converts): every listed key is
    /// both administration and node key, and nothing changes.
    pub fn fixed(
        network: &str,
        members: impl IntoIterator<Item = (String, String, PublicKey, Vec<String>)>,
    ) -> Membership {
        let mut state = Membership::empty(network.to_string(), Quorum::Majority, false);
        for (code, name, key, addresses) in members {
            state.add_member(
                AdminCard {
                    code: code.clone(),
                    name,
                    admin_key: key,
                },
                0,
            );
            state.add_node(key, &code, None, addresses, 0);
        }
        state
    }

    fn empty(network: String, quorum: Quorum, governed: bool) -> Membership {
        Membership {
            network,
            quorum,
            members: BTreeMap::new(),
            node_keys: HashMap::new(),
            proposals: BTreeMap::new(),
            ignored: BTreeMap::new(),
            governed,
            heads: Vec::new(),
        }
    }

    /// The membership that `charter` and the governance `events` held imply.
    /// Pure: the same charter and the same set of events give the same membership,
    /// in whatever order the events come. The charter must have passed `validate`.
    ///
    /// Events are ordered by what their authors had seen (SPEC.md section 12, and
    /// `order.rs`): a causal event after the heads it names and after its author's
    /// earlier governance entries, and as late as what builds on it allows, so an act
    /// that hides what it saw is judged against the membership as it is now; no signed
    /// time orders causal events.
    pub fn replay(charter: &Charter, events: &[GovernanceEvent]) -> Membership {
        let mut unique: Vec<&GovernanceEvent> = events.iter().collect();
        unique.sort_by_key(|e| e.id);
        unique.dedup_by_key(|e| e.id);
        let order = Order::new(&unique);
        Membership::replay_rounds(charter, &order)
    }

    /// Repeats the replay with the key limits it found (a revocation found late
    /// invalidates votes counted early).
    fn replay_rounds(charter: &Charter, order: &Order) -> Membership {
        let mut limits: HashMap<PublicKey, u64> = HashMap::new();
        let mut state = Membership::replay_once(charter, order, &limits);
        for _ in 1..MAX_REPLAY_ROUNDS {
            let found: HashMap<PublicKey, u64> = state
                .node_keys
                .iter()
                .filter_map(|(k, n)| n.last_seq.map(|s| (*k, s)))
                .collect();
            if found == limits {
                break;
            }
            limits = found;
            state = Membership::replay_once(charter, order, &limits);
        }
        for (id, why) in order.left_out() {
            state.ignored.insert(*id, why.clone());
        }
        state.heads = order.heads();
        state
    }

    /// Replays the events in `order`, deciding each pending proposal when the
    /// approvals of current members reach the quorum of the current members.
    fn replay_once(
        charter: &Charter,
        order: &Order,
        limits: &HashMap<PublicKey, u64>,
    ) -> Membership {
        let body = &charter.charter;
        let mut state = Membership::empty(charter.network_id(), body.quorum, true);
        for founder in &body.founders {
            state.add_member(founder.card.clone(), body.created_at_ms);
            if founder.legacy {
                state.add_node(
                    founder.card.admin_key,
                    &founder.card.code,
                    None,
                    founder.addresses.clone(),
                    body.created_at_ms,
                );
            }
            for cert in &founder.nodes {
                state.add_certified(cert, body.created_at_ms);
            }
        }
        // Legacy approvals seen before their proposal (clocks differ): counted when
        // it comes. A causal approval always follows its proposal.
        let mut early: HashMap<EntryId, BTreeSet<String>> = HashMap::new();
        for position in 0..order.len() {
            let event = order.event(position);
            let touched = match &event.governance {
                Governance::Approve { proposal } => Some(*proposal),
                g if g.is_proposal() => Some(event.id),
                _ => None,
            };
            if let Err(why) = state.apply(event, order, position, limits, &mut early) {
                state.ignored.insert(event.id, why);
            }
            state.decide(event.created_at_ms, touched);
        }
        state
    }

    /// Applies a proposal that reached its quorum (void if it can no longer apply).
    fn settle(&mut self, id: EntryId, at_ms: u64) {
        let proposal = self.proposals[&id].governance.clone();
        let cuts = self.proposals[&id].cuts.clone();
        let outcome = self
            .check_proposal(&proposal)
            .map(|()| self.enact(id, &proposal, cuts.as_deref(), at_ms));
        let state = self
            .proposals
            .get_mut(&id)
            .expect("a settled proposal is held");
        state.decided_at_ms = Some(at_ms);
        match outcome {
            Ok(()) => state.status = ProposalStatus::Decided,
            Err(why) => {
                state.status = ProposalStatus::Void;
                state.void_reason = Some(why);
            }
        }
    }

    fn add_member(&mut self, card: AdminCard, since_ms: u64) {
        self.members.insert(
            card.code.clone(),
            MemberState {
                code: card.code,
                name: card.name,
                admin_key: card.admin_key,
                since_ms,
                standing: Standing::Member,
                nodes: Vec::new(),
            },
        );
    }

    fn add_node(
        &mut self,
        key: PublicKey,
        code: &str,
        encryption_key: Option<EncryptionKey>,
        addresses: Vec<String>,
        at_ms: u64,
    ) {
        self.node_keys.insert(
            key,
            NodeKeyState {
                code: code.to_string(),
                node_key: key,
                encryption_key,
                addresses,
                certified_at_ms: at_ms,
                last_seq: None,
                closed_at_ms: None,
                closed_reason: None,
            },
        );
        if let Some(member) = self.members.get_mut(code) {
            member.nodes.push(key);
        }
    }

    fn add_certified(&mut self, cert: &Certificate, at_ms: u64) {
        let n = &cert.node;
        self.add_node(
            n.node_key,
            &n.code,
            Some(n.encryption_key),
            n.addresses.clone(),
            at_ms,
        );
    }

    /// The member (current) whose node signed `event`, if that node may sign it.
    fn acting_member(
        &self,
        event: &GovernanceEvent,
        limits: &HashMap<PublicKey, u64>,
    ) -> Result<String, String> {
        let node = self.node_keys.get(&event.author).ok_or_else(|| {
            format!(
                "author {} is not a certified node key",
                event.author.short()
            )
        })?;
        let limited = limits.get(&event.author).is_some_and(|&s| event.seq > s);
        if limited || !node.signs(event.seq, event.created_at_ms) {
            return Err(format!(
                "node key {} no longer signs at seq {}",
                event.author.short(),
                event.seq
            ));
        }
        match self.members.get(&node.code) {
            Some(m) if m.standing == Standing::Member => Ok(node.code.clone()),
            _ => Err(format!("{} is not a member", node.code)),
        }
    }

    fn current_members(&self) -> usize {
        self.members
            .values()
            .filter(|m| m.standing == Standing::Member)
            .count()
    }

    pub fn is_member(&self, code: &str) -> bool {
        self.members
            .get(code)
            .is_some_and(|m| m.standing == Standing::Member)
    }

    /// Whether `cert` can join member `code` now: signed by its current
    /// administration key, the key unused, room for another open key.
    fn check_new_node(
        &self,
        cert: &Certificate,
        code: &str,
        admin_key: &PublicKey,
    ) -> Result<(), String> {
        if cert.node.code != code || cert.node.admin_key != *admin_key {
            return Err(format!(
                "certificate is not by {code}'s current administration key"
            ));
        }
        if self.node_keys.contains_key(&cert.node.node_key) {
            return Err(format!(
                "node key {} is already certified",
                cert.node.node_key.short()
            ));
        }
        let open = self
            .node_keys
            .values()
            .filter(|n| n.code == code && n.last_seq.is_none() && n.closed_at_ms.is_none())
            .count();
        if open >= MAX_OPEN_NODE_KEYS {
            return Err(format!(
                "{code} already has {MAX_OPEN_NODE_KEYS} open node keys"
            ));
        }
        Ok(())
    }

    fn apply(
        &mut self,
        event: &GovernanceEvent,
        order: &Order,
        position: usize,
        limits: &HashMap<PublicKey, u64>,
        early: &mut HashMap<EntryId, BTreeSet<String>>,
    ) -> Result<(), String> {
        let actor = self.acting_member(event, limits);
        match &event.governance {
            Governance::Certify { certificate } => {
                // A node may introduce itself with its certificate as its first entry.
                let code = match actor {
                    Ok(code) => code,
                    Err(_)
                        if certificate.node.node_key == event.author
                            && !self.node_keys.contains_key(&event.author) =>
                    {
                        certificate.node.code.clone()
                    }
                    Err(e) => return Err(e),
                };
                let admin_key = self
                    .members
                    .get(&code)
                    .filter(|m| m.standing == Standing::Member)
                    .map(|m| m.admin_key)
                    .ok_or_else(|| format!("{code} is not a member"))?;
                self.check_new_node(certificate, &code, &admin_key)?;
                self.add_certified(certificate, event.created_at_ms);
                Ok(())
            }
            Governance::Rotate { certificate } => {
                let code = actor?;
                let admin_key = self.members[&code].admin_key;
                self.check_new_node(certificate, &code, &admin_key)?;
                self.add_certified(certificate, event.created_at_ms);
                if let Some(old) = self.node_keys.get_mut(&event.author) {
                    old.cut_seq(
                        event.seq,
                        format!("rotated to {}", certificate.node.node_key.short()),
                    );
                }
                Ok(())
            }
            Governance::Revoke { revocation } => {
                actor?;
                let r = &revocation.revocation;
                let member = self
                    .members
                    .get(&r.code)
                    .ok_or_else(|| format!("{} is not a member", r.code))?;
                if member.admin_key != r.admin_key {
                    return Err(format!(
                        "revocation is not by {}'s current administration key",
                        r.code
                    ));
                }
                let node = self
                    .node_keys
                    .get_mut(&r.node_key)
                    .filter(|n| n.code == r.code)
                    .ok_or_else(|| {
                        format!("node key {} is not {}'s", r.node_key.short(), r.code)
                    })?;
                node.cut_seq(
                    r.from_seq - 1,
                    format!("revoked from seq {}: {}", r.from_seq, r.reason),
                );
                Ok(())
            }
            Governance::Approve { proposal } => {
                let code = actor?;
                if !event.is_legacy() && !order.names_proposal(position) {
                    return Err(format!(
                        "the approval does not name proposal {proposal} among what its author had seen"
                    ));
                }
                match self.proposals.get_mut(proposal) {
                    Some(p) if p.status == ProposalStatus::Pending => {
                        if !p.approvals.contains(&code) {
                            p.approvals.push(code);
                            p.approvals.sort();
                        }
                        Ok(())
                    }
                    Some(_) => Err("the proposal is already decided".into()),
                    None => {
                        let approvers = early.entry(*proposal).or_default();
                        if approvers.len() < MAX_CHARTER_FOUNDERS {
                            approvers.insert(code);
                        }
                        Ok(())
                    }
                }
            }
            proposal => {
                let code = actor?;
                let pending = self
                    .proposals
                    .values()
                    .filter(|p| p.proposer == code && p.status == ProposalStatus::Pending)
                    .count();
                let mut state = ProposalState {
                    id: event.id,
                    proposer: code.clone(),
                    proposed_at_ms: event.created_at_ms,
                    governance: proposal.clone(),
                    approvals: vec![code],
                    needed: self.quorum.needed(self.current_members()),
                    status: ProposalStatus::Pending,
                    decided_at_ms: None,
                    void_reason: None,
                    cuts: (!event.is_legacy()).then(|| event.cuts.clone()),
                };
                if pending >= MAX_PENDING_PROPOSALS {
                    state.status = ProposalStatus::Void;
                    state.void_reason = Some(format!(
                        "{} has {MAX_PENDING_PROPOSALS} proposals pending",
                        state.proposer
                    ));
                } else if let Err(why) = self.check_proposal(proposal) {
                    state.status = ProposalStatus::Void;
                    state.void_reason = Some(why);
                }
                if let Some(approvers) = early.remove(&event.id) {
                    state.approvals.extend(approvers);
                    state.approvals.sort();
                    state.approvals.dedup();
                }
                self.proposals.insert(event.id, state);
                Ok(())
            }
        }
    }

    /// Whether a proposal can apply to the membership as it is now.
    pub fn check_proposal(&self, proposal: &Governance) -> Result<(), String> {
        match proposal {
            Governance::ProposeAdmission { card, nodes } => {
                if self.is_member(&card.code) {
                    return Err(format!("{} is already a member", card.code));
                }
                if self.members.len() >= MAX_NETWORK_MEMBERS
                    && !self.members.contains_key(&card.code)
                {
                    return Err(format!("the network has {MAX_NETWORK_MEMBERS} members"));
                }
                if self
                    .members
                    .values()
                    .any(|m| m.admin_key == card.admin_key && m.code != card.code)
                {
                    return Err(format!(
                        "administration key {} is another member's",
                        card.admin_key.short()
                    ));
                }
                for cert in nodes {
                    if self.node_keys.contains_key(&cert.node.node_key) {
                        return Err(format!(
                            "node key {} is already certified",
                            cert.node.node_key.short()
                        ));
                    }
                }
                Ok(())
            }
            Governance::ProposeRemoval { code, .. } => {
                if self.is_member(code) {
                    Ok(())
                } else {
                    Err(format!("{code} is not a member"))
                }
            }
            Governance::ProposeAdminKey {
                code,
                admin_key,
                nodes,
                ..
            } => {
                if !self.is_member(code) {
                    return Err(format!("{code} is not a member"));
                }
                if self.members.values().any(|m| m.admin_key == *admin_key) {
                    return Err(format!(
                        "administration key {} is in use",
                        admin_key.short()
                    ));
                }
                for cert in nodes {
                    if self
                        .node_keys
                        .get(&cert.node.node_key)
                        .is_some_and(|n| n.code != *code)
                    {
                        return Err(format!(
                            "node key {} is another member's",
                            cert.node.node_key.short()
                        ));
                    }
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// Applies every pending proposal whose current approvals reach the quorum of
    /// the current members, earliest proposal first, until none does. Only `touched`
    /// (the proposal the last event created or approved) can have become ready,
    /// until a proposal is applied: the membership then changed, and every pending
    /// proposal is looked at again (its approvals by members no longer in dropped,
    /// its quorum recounted).
    fn decide(&mut self, now_ms: u64, touched: Option<EntryId>) {
        let mut look_at_all = false;
        loop {
            let needed = self.quorum.needed(self.current_members());
            let candidates: Vec<EntryId> = if look_at_all {
                self.proposals
                    .values()
                    .filter(|p| p.status == ProposalStatus::Pending)
                    .map(|p| p.id)
                    .collect()
            } else {
                touched.into_iter().collect()
            };
            let mut ready: Option<(u64, EntryId)> = None;
            let members = &self.members;
            for id in candidates {
                let Some(p) = self.proposals.get_mut(&id) else {
                    continue;
                };
                if p.status != ProposalStatus::Pending {
                    continue;
                }
                // Approvals shown and counted are those of current members.
                p.approvals.retain(|c| {
                    members
                        .get(c)
                        .is_some_and(|m| m.standing == Standing::Member)
                });
                p.needed = needed;
                if p.approvals.len() >= needed {
                    let key = (p.proposed_at_ms, p.id);
                    if ready.is_none_or(|r| key < r) {
                        ready = Some(key);
                    }
                }
            }
            let Some((_, id)) = ready else {
                break;
            };
            self.settle(id, now_ms);
            look_at_all = true;
        }
    }

    /// Closes `key` where the decision says: at its cut (0 when the decision names
    /// none) for a causal decision, at the decision time for a legacy one.
    fn close_key(&mut self, key: PublicKey, cuts: Option<&[SeqCut]>, at_ms: u64, reason: String) {
        let Some(node) = self.node_keys.get_mut(&key) else {
            return;
        };
        match cuts {
            Some(cuts) => {
                let last = cuts
                    .iter()
                    .find(|c| c.node_key == key)
                    .map_or(0, |c| c.last_seq);
                node.cut_seq(last, reason);
            }
            None => node.close_at(at_ms, reason),
        }
    }

    fn enact(&mut self, id: EntryId, proposal: &Governance, cuts: Option<&[SeqCut]>, at_ms: u64) {
        match proposal {
            Governance::ProposeAdmission { card, nodes } => {
                self.add_member(card.clone(), at_ms);
                for cert in nodes {
                    self.add_certified(cert, at_ms);
                }
            }
            Governance::ProposeRemoval { code, reason } => {
                if let Some(member) = self.members.get_mut(code) {
                    member.standing = Standing::Removed {
                        removed_at_ms: at_ms,
                        proposal: id,
                        reason: reason.clone(),
                    };
                }
                let keys: Vec<PublicKey> = self
                    .node_keys
                    .values()
                    .filter(|n| n.code == *code)
                    .map(|n| n.node_key)
                    .collect();
                for key in keys {
                    self.close_key(key, cuts, at_ms, format!("{code} was removed: {reason}"));
                }
            }
            Governance::ProposeAdminKey {
                code,
                admin_key,
                nodes,
                reason,
            } => {
                let kept: BTreeSet<PublicKey> = nodes.iter().map(|c| c.node.node_key).collect();
                let closed: Vec<PublicKey> = self
                    .node_keys
                    .values()
                    .filter(|n| n.code == *code && !kept.contains(&n.node_key))
                    .map(|n| n.node_key)
                    .collect();
                for key in closed {
                    self.close_key(
                        key,
                        cuts,
                        at_ms,
                        format!("{code}'s administration key was replaced: {reason}"),
                    );
                }
                if let Some(member) = self.members.get_mut(code) {
                    member.admin_key = *admin_key;
                }
                for cert in nodes {
                    match self.node_keys.get_mut(&cert.node.node_key) {
                        Some(node) => {
                            node.encryption_key = Some(cert.node.encryption_key);
                            node.addresses = cert.node.addresses.clone();
                        }
                        None => self.add_certified(cert, at_ms),
                    }
                }
            }
            _ => {}
        }
    }

    /// Whether an entry by `author` with `seq`, created at `created_at_ms`, is
    /// admitted; `Ok` names the member it is attributed to.
    pub fn admits(
        &self,
        author: &PublicKey,
        seq: u64,
        created_at_ms: u64,
    ) -> Result<&MemberState, NotAdmitted> {
        let Some(node) = self.node_keys.get(author) else {
            return Err(NotAdmitted {
                reason: "NotMember",
                message: format!(
                    "author {author} is not a certified node key of a member of network {}",
                    self.network
                ),
            });
        };
        let member = &self.members[&node.code];
        if !node.signs(seq, created_at_ms) {
            let removed = matches!(member.standing, Standing::Removed { .. });
            return Err(NotAdmitted {
                reason: if removed {
                    "RemovedMember"
                } else {
                    "KeyClosed"
                },
                message: format!(
                    "{}'s node key {} signs nothing valid at seq {seq}{}: {}",
                    node.code,
                    author.short(),
                    if node.closed_at_ms.is_some() {
                        " after its closing time"
                    } else {
                        ""
                    },
                    node.closed_reason.clone().unwrap_or_default()
                ),
            });
        }
        Ok(member)
    }

    /// Whether an entry by `author` at `seq` may be stored: the key is a node key
    /// here and `seq` is within its last seq (rotation, revocation). A key closed by
    /// time (its member removed, or its administration key replaced) still has its
    /// entries stored, so that every node's chains stay alike whatever it learned
    /// first (a node that refused what another holds would ask for it forever);
    /// [`Membership::admits`] refuses them, and nothing shows them as valid.
    pub fn stores(&self, author: &PublicKey, seq: u64) -> Result<(), NotAdmitted> {
        match self.node_keys.get(author) {
            None => Err(NotAdmitted {
                reason: "NotMember",
                message: format!(
                    "author {author} is not a certified node key of a member of network {}",
                    self.network
                ),
            }),
            Some(node) if node.last_seq.is_some_and(|last| seq > last) => Err(NotAdmitted {
                reason: "KeyClosed",
                message: format!(
                    "{}'s node key {} signs nothing valid after seq {}: {}",
                    node.code,
                    author.short(),
                    node.last_seq.unwrap_or_default(),
                    node.closed_reason.clone().unwrap_or_default()
                ),
            }),
            Some(_) => Ok(()),
        }
    }

    /// A node key whose own entry `Certify` introduces it before it is known: the
    /// certificate's first entry is admitted when its certificate would be.
    pub fn admits_introduction(
        &self,
        author: &PublicKey,
        seq: u64,
        governance: &Governance,
    ) -> bool {
        let Governance::Certify { certificate } = governance else {
            return false;
        };
        seq == 1
            && certificate.node.node_key == *author
            && !self.node_keys.contains_key(author)
            && self.members.get(&certificate.node.code).is_some_and(|m| {
                m.standing == Standing::Member && m.admin_key == certificate.node.admin_key
            })
    }

    /// The highest seq of `author` that may be admitted (`u64::MAX`: no limit), or
    /// `None` for a key that is not a node key here.
    pub fn seq_limit(&self, author: &PublicKey) -> Option<u64> {
        self.node_keys
            .get(author)
            .map(|n| n.last_seq.unwrap_or(u64::MAX))
    }

    /// The member a node key belongs to.
    pub fn member_of(&self, key: &PublicKey) -> Option<&MemberState> {
        self.node_keys
            .get(key)
            .and_then(|n| self.members.get(&n.code))
    }

    /// Node keys of current members that still sign (the peers to keep connected).
    pub fn open_nodes(&self) -> impl Iterator<Item = &NodeKeyState> {
        self.node_keys
            .values()
            .filter(|n| n.last_seq.is_none() && n.closed_at_ms.is_none() && self.is_member(&n.code))
    }

    pub fn member_count(&self) -> usize {
        self.current_members()
    }
}

mod order;
use order::Order;

#[cfg(test)]
mod tests;
