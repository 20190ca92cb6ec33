//! What the API answers, as JSON. Each view is built from stored, signed entries; the
//! names are part of the API (scripts depend on them).

use base64::Engine as _;
use customs_protocol::date::Date;
use customs_protocol::{
    AeoRecord, Body, BodyKind, Distribution, EntryId, Markings, PublicKey, RiskAlert, SignedEntry,
    VerifiedEntry,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::clock::rfc3339;
use crate::store::Readable;
use crate::tokens::Role;

/// One attachment of a record.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AttachmentView {
    /// SHA-256 of the blob's bytes (metadata removed), 64 hex digits.
    #[schema(value_type = String)]
    pub hash: customs_protocol::BlobHash,
    pub size: u64,
    #[schema(value_type = String, example = "image/jpeg")]
    pub media_type: customs_protocol::MediaType,
    pub caption: String,
    /// Where this node serves the bytes: `/api/v1/attachments/{hash}`.
    pub url: String,
}

impl AttachmentView {
    pub fn of(attachment: &customs_protocol::Attachment) -> Self {
        AttachmentView {
            hash: attachment.hash,
            size: attachment.size,
            media_type: attachment.media_type,
            caption: attachment.caption.clone(),
            url: format!("/api/v1/attachments/{}", attachment.hash),
        }
    }
}

/// A stored upload: what a publish names in `attachments`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct UploadedAttachment {
    /// SHA-256 of the bytes as stored (image metadata removed), 64 hex digits.
    #[schema(value_type = String)]
    pub hash: customs_protocol::BlobHash,
    pub size: u64,
    #[schema(value_type = String, example = "image/jpeg")]
    pub media_type: customs_protocol::MediaType,
    /// Bytes of image metadata (EXIF, XMP, IPTC, comments) the node removed.
    pub metadata_removed_bytes: u64,
}

/// The answer to a publish: where the new entry sits in this node's log.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Published {
    pub id: EntryId,
    /// This node's public key.
    pub author: PublicKey,
    pub seq: u64,
}

/// An entry's place in its author's log, shared by every view of an entry.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct EntryMeta {
    pub id: EntryId,
    pub author: PublicKey,
    /// The author's member code, when the author is a member this node knows.
    pub author_code: Option<String>,
    pub seq: u64,
    /// When the author signed it (RFC 3339, UTC).
    pub created_at: String,
    pub created_at_ms: u64,
}

impl EntryMeta {
    pub fn of(entry: &SignedEntry, author_code: Option<String>) -> Self {
        let e = entry.entry();
        EntryMeta {
            id: entry.id(),
            author: e.author,
            author_code,
            seq: e.seq,
            created_at: rfc3339(e.created_at_ms),
            created_at_ms: e.created_at_ms,
        }
    }
}

/// One alert in a list.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AlertItem {
    #[serde(flatten)]
    pub meta: EntryMeta,
    /// The retraction that withdrew this alert (only listed with include_retracted).
    pub retracted_by: Option<EntryId>,
    pub alert: RiskAlert,
    pub markings: Markings,
    /// `"all"`, or (for a restricted alert) who it went to.
    pub distribution: Distribution,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AlertList {
    pub items: Vec<AlertItem>,
    /// Pass as `cursor` for the next page; null at the end.
    pub next: Option<String>,
}

/// Alerts for systems outside the network: what may leave it.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct OutboundAlertList {
    pub items: Vec<AlertItem>,
    pub next: Option<String>,
    /// Alerts of this page left out because their markings or distribution keep them
    /// inside the network.
    pub withheld: usize,
}

/// Whether an entry's signature and fields check out, as checked when it was served.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Verification {
    /// "valid", or "invalid" with the reason (a stored entry should never be invalid).
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Whether the author is a member of this node's network.
    pub author_is_member: bool,
    /// Whether the author also signed another entry with this seq (a fork).
    pub forked: bool,
    /// What the membership says of this entry now: `member` (admitted), `former_member`
    /// (signed before its administration was removed), `refused` (its key signs
    /// nothing valid at this seq or time: rotated, revoked, or the member removed; the
    /// entry was stored before this node learned it) or `unknown`.
    pub standing: String,
    /// Why it is refused.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub standing_reason: Option<String>,
}

/// The `standing` of an entry by `author` at `seq`, created at `created_at_ms`.
pub fn standing(
    membership: &customs_protocol::Membership,
    author: &PublicKey,
    seq: u64,
    created_at_ms: u64,
) -> (String, Option<String>) {
    use customs_protocol::governance::Standing;
    match membership.admits(author, seq, created_at_ms) {
        Ok(member) if member.standing == Standing::Member => ("member".into(), None),
        Ok(_) => ("former_member".into(), None),
        Err(refusal) if refusal.reason == "NotMember" => ("unknown".into(), None),
        Err(refusal) => ("refused".into(), Some(refusal.message)),
    }
}

/// Why this node refuses a record addressed to a group, if it does: the group rules
/// (an epoch its owner made, an author that was a member then, not after the group
/// ended) hold for what recipients read, not only for what honest publishers seal.
pub fn group_refusal(
    groups: &customs_protocol::Groups,
    membership: &customs_protocol::Membership,
    readable: &Readable,
    entry: &customs_protocol::Entry,
) -> Option<String> {
    let Distribution::Group(group) = &readable.distribution else {
        return None;
    };
    let Some(state) = groups.groups.get(&group.id) else {
        return Some(format!(
            "addressed to group {}, whose definition this node does not hold",
            group.id
        ));
    };
    let author = membership
        .member_of(&entry.author)
        .map_or("an unknown author", |m| m.code.as_str());
    state
        .check_record(group.epoch, author, entry.created_at_ms)
        .err()
}

/// One entry of any type, with its signed bytes.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct EntryView {
    #[serde(flatten)]
    pub meta: EntryMeta,
    pub network: String,
    /// The author's previous entry; null for seq 1.
    pub prev: Option<EntryId>,
    #[serde(rename = "type")]
    pub kind: BodyKind,
    /// The record: a risk alert, AEO record or retraction (by `type`).
    pub body: serde_json::Value,
    /// What readers may do with it (signed with it). Null only for a fork proof's
    /// sealed entry this node cannot read.
    pub markings: Option<Markings>,
    /// Who may read it: `"all"`, `{"to": [codes]}` or `{"group": {"id", "epoch"}}`
    /// (shown to its recipients only).
    pub distribution: Option<Distribution>,
    /// The group's name, for a record addressed to a group this node knows.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group_name: Option<String>,
    pub verification: Verification,
    pub retracted_by: Option<EntryId>,
    /// Results of control (and acknowledgements) that answer this record, as this
    /// node can read them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub answers: Vec<AnswerView>,
    /// Photos and documents the record lists (signed with it); their bytes come
    /// from `url`, fetched from members when this node does not hold them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<AttachmentView>,
    /// The entry exactly as signed (entry bytes and signature), base64.
    pub signed_bytes: String,
}

impl EntryView {
    /// The view of `entry` as this node can read it (`readable`: its own record, or
    /// the one it opened inside its envelope).
    pub fn of(
        entry: &SignedEntry,
        readable: Option<&Readable>,
        author_code: Option<String>,
        author_is_member: bool,
        forked: bool,
        retracted_by: Option<EntryId>,
    ) -> Self {
        let bytes = entry.encode();
        let (status, reason) = match VerifiedEntry::from_bytes(&bytes) {
            Ok(_) => ("valid".to_string(), None),
            Err(e) => ("invalid".to_string(), Some(e.to_string())),
        };
        let e = entry.entry();
        EntryView {
            meta: EntryMeta::of(entry, author_code),
            network: e.network.clone(),
            prev: e.prev,
            kind: readable.map_or(e.body.kind(), |r| r.body.kind()),
            body: readable.map_or(serde_json::Value::Null, |r| body_json(&r.body)),
            markings: readable.map(|r| r.markings.clone()),
            distribution: readable.map(|r| r.distribution.clone()),
            group_name: None,
            verification: Verification {
                status,
                reason,
                author_is_member,
                forked,
                standing: "unknown".into(),
                standing_reason: None,
            },
            retracted_by,
            answers: Vec::new(),
            attachments: readable.map_or_else(Vec::new, |r| {
                r.attachments.iter().map(AttachmentView::of).collect()
            }),
            signed_bytes: base64::engine::general_purpose::STANDARD.encode(bytes),
        }
    }

    /// Sets what the membership says of the entry now.
    pub fn with_standing(mut self, membership: &customs_protocol::Membership) -> Self {
        let (standing, reason) = standing(
            membership,
            &self.meta.author,
            self.meta.seq,
            self.meta.created_at_ms,
        );
        self.verification.standing = standing;
        self.verification.standing_reason = reason;
        self
    }
}

/// A record's fields as JSON, without the type tag (the view carries `type`). An
/// envelope is null (it is shown by what it opens to); a group update shows no
/// secret.
pub fn body_json(body: &Body) -> serde_json::Value {
    let value = match body {
        Body::RiskAlert(b) => serde_json::to_value(b),
        Body::AeoRecord(b) => serde_json::to_value(b),
        Body::Retraction(b) => serde_json::to_value(b),
        Body::Governance(b) => serde_json::to_value(b),
        Body::CausalGovernance(b) => serde_json::to_value(b),
        Body::Group(b) => serde_json::to_value(b),
        Body::ControlRequest(b) => serde_json::to_value(b),
        Body::Acknowledgement(b) => serde_json::to_value(b),
        Body::ControlResult(b) => serde_json::to_value(b),
        Body::Sealed(_) => Ok(serde_json::Value::Null),
    };
    value.unwrap_or(serde_json::Value::Null)
}

/// A restricted entry as a node that is not among its recipients shows it: where it
/// sits in its author's log, and nothing else.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RestrictedEntryView {
    #[serde(flatten)]
    pub meta: EntryMeta,
    /// Always true: the record is encrypted to other members.
    pub restricted: bool,
}

/// `GET /api/v1/entries/{id}`: the entry, or only its place for a non-recipient.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum EntryAnswer {
    Readable(Box<EntryView>),
    Restricted(RestrictedEntryView),
}

/// An operator's status at one issuer.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AeoAtIssuer {
    pub issuer: PublicKey,
    pub issuer_code: Option<String>,
    /// The entry that set this status (the issuer's latest about the operator).
    pub entry_id: EntryId,
    pub seq: u64,
    pub created_at: String,
    pub record: AeoRecord,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AeoStatusView {
    pub operator_id: String,
    /// The date asked about; null for "now".
    pub as_of: Option<Date>,
    /// One status per issuer that published about the operator.
    pub issuers: Vec<AeoAtIssuer>,
}

/// A retraction request: withdraw one of this node's own entries.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RetractRequest {
    pub target: EntryId,
    pub reason: customs_protocol::body::RetractionReason,
    #[serde(default)]
    pub note: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct NodeInfo {
    pub code: String,
    pub name: String,
    pub network: String,
    pub public_key: PublicKey,
    pub peer_id: String,
    pub listen_addrs: Vec<String>,
    pub version: String,
    /// Whether this node may sign now: a member confirmed since start that its own
    /// log is complete (or it is the first node of a new network), its key is not
    /// forked and its clock agrees with its members'.
    pub can_publish: bool,
    /// Why it may not: `not_synced`, `own_key_forked`, `clock_off` or `not_admitted`;
    /// null when it may.
    pub cannot_publish: Option<String>,
    /// The same, in words.
    pub cannot_publish_reason: Option<String>,
    /// Whether `node.allow_publish_before_sync` still lets it sign before a sync: set,
    /// and no member has held its entries yet (then it is spent, in the store).
    pub publish_before_sync_allowed: bool,
    /// The lowest seq at which this node's own key is forked; null when it is not.
    pub own_key_forked_at: Option<u64>,
    /// This node's clock offset from its members' (the median of their clocks minus
    /// ours, ms); null before any exchange.
    pub clock_offset_ms: Option<i64>,
    /// Whether the store takes writes.
    pub store_writable: bool,
    /// Why tokens.toml cannot be read (every token but none is refused meanwhile);
    /// null when it is fine.
    pub tokens_error: Option<String>,
    /// When the node started (Unix ms).
    pub started_at_ms: u64,
    /// The role of the token that asked.
    pub your_role: Role,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PeerView {
    pub code: String,
    pub public_key: String,
    pub peer_id: String,
    pub connected: bool,
    /// When a frontier exchange with this peer last completed (RFC 3339), or null.
    pub last_sync: Option<String>,
    pub last_sync_ms: Option<u64>,
    /// Entries the peer had that this node lacked at the last exchange.
    pub lag_entries: u64,
    pub in_sync: bool,
    pub entries_received: u64,
    pub rejected: std::collections::BTreeMap<String, u64>,
    /// Why this peer refused entries of ours, as it said at the last exchange: they
    /// do not reach it.
    pub refused_ours: Vec<RefusalView>,
    /// This peer's clock minus ours (ms), estimated at the last exchange.
    pub clock_offset_ms: Option<i64>,
}

/// Entries of ours a member refused for one reason.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RefusalView {
    /// `InFuture` (our clock is ahead of theirs), `WrongNetwork`, or another rule.
    pub reason: String,
    pub count: u64,
    pub last_seq: u64,
    /// When the latest was refused, by the member's clock (Unix ms).
    pub last_at_ms: u64,
}

/// One author's log as this node holds it.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct FrontierItem {
    pub author: PublicKey,
    pub code: Option<String>,
    pub seq: u64,
    pub head: EntryId,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CountsView {
    pub entries: u64,
    pub risk_alerts: u64,
    pub aeo_records: u64,
    pub retractions: u64,
    pub forks: u64,
    /// Conflicting entries seen where a fork proof was held already: counted, not
    /// kept (one proof per author and seq).
    pub forks_known: u64,
    pub authors: u64,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct StatusView {
    pub node: NodeInfo,
    pub peers: Vec<PeerView>,
    pub frontier: Vec<FrontierItem>,
    pub counts: CountsView,
    /// Fork proofs held (see /api/v1/forks): a member key that signed two entries
    /// with one seq.
    pub forks: u64,
}

/// Two entries one author signed with the same seq: proof its key misbehaved.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ForkView {
    pub author: PublicKey,
    pub author_code: Option<String>,
    pub seq: u64,
    /// The entry in the chain as this node holds it, then the conflicting one.
    pub entries: Vec<EntryView>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ForkList {
    pub forks: Vec<ForkView>,
    /// Whether more proofs exist than were listed.
    pub more: bool,
}

/// The body of a live-feed event (`GET /api/v1/events`, SSE event `entry`).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct EntryEvent {
    #[serde(flatten)]
    pub meta: EntryMeta,
    #[serde(rename = "type")]
    pub kind: BodyKind,
    pub body: serde_json::Value,
    pub markings: Markings,
}

impl EntryEvent {
    pub fn of(entry: &SignedEntry, readable: &Readable, author_code: Option<String>) -> Self {
        EntryEvent {
            meta: EntryMeta::of(entry, author_code),
            kind: readable.body.kind(),
            body: body_json(&readable.body),
            markings: readable.markings.clone(),
        }
    }
}

/// The answer to a governance act: the new entry (for a proposal, its id is the
/// proposal's id).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct GovernancePublished {
    /// The proposal id (the entry's id).
    pub proposal: EntryId,
    pub id: EntryId,
    /// This node's key.
    pub author: PublicKey,
    pub seq: u64,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct MembersView {
    pub network: String,
    /// Whether the network has a charter (else: static member lists).
    pub governed: bool,
    /// `majority` or `two-thirds`.
    pub quorum: String,
    /// Current members.
    pub member_count: usize,
    pub members: Vec<MemberView>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct MemberView {
    pub code: String,
    pub name: String,
    /// `member` or `removed`.
    pub status: String,
    /// The key that certifies its node keys.
    pub admin_key: PublicKey,
    /// Member since (RFC 3339; the charter's time for founders).
    pub since: String,
    pub since_ms: u64,
    pub removed_at: Option<String>,
    pub removal_reason: Option<String>,
    pub nodes: Vec<NodeKeyView>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct NodeKeyView {
    pub node_key: PublicKey,
    /// This node's own key.
    pub this_node: bool,
    /// X25519, hex.
    pub encryption_key: Option<String>,
    pub addresses: Vec<String>,
    pub certified_at: String,
    /// Still signs (neither rotated, revoked nor closed).
    pub open: bool,
    /// Entries above this seq are refused.
    pub last_seq: Option<u64>,
    /// Entries created from this time are refused.
    pub closed_at: Option<String>,
    pub closed_reason: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ProposalsView {
    pub quorum: String,
    pub member_count: usize,
    /// Approvals a proposal needs now.
    pub needed: usize,
    /// Pending first, then newest first.
    pub proposals: Vec<ProposalView>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ProposalView {
    pub id: EntryId,
    /// The member code of the proposer.
    pub proposer: String,
    /// `propose_admission`, `propose_removal` or `propose_admin_key`.
    pub action: String,
    /// The member code the proposal is about.
    pub subject: String,
    pub reason: Option<String>,
    pub proposed_at: String,
    /// Members whose approval counts (the proposer's included).
    pub approvals: Vec<String>,
    pub needed: usize,
    /// Whether this node's administration has approved.
    pub approved_by_us: bool,
    /// `pending`, `decided` or `void`.
    pub status: String,
    pub decided_at: Option<String>,
    pub void_reason: Option<String>,
    /// The proposal as signed.
    pub governance: customs_protocol::Governance,
}

/// A charter adopted by a network of static member lists.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CharterAdopted {
    /// The network id (unchanged).
    pub network: String,
    pub members: usize,
}

/// A group as this node knows it (only a member knows a group).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct GroupView {
    pub id: customs_protocol::GroupId,
    pub name: String,
    pub purpose: String,
    /// The administration that created it: only it changes the members.
    pub owner: String,
    pub members: Vec<String>,
    pub starts_on: Date,
    pub ends_on: Date,
    /// How many times its members changed (each change is a new group key).
    pub epoch: u32,
    /// Whether records may still be addressed to it (its end date has not passed).
    pub active: bool,
    /// Whether this node's administration owns it.
    pub owned_by_us: bool,
    /// An older group (random id) whose first definition two administrations
    /// signed: nobody owns it, nothing may be addressed to it.
    #[serde(default)]
    pub contested: bool,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct GroupList {
    pub groups: Vec<GroupView>,
    /// First definitions of groups signed by another administration than the one
    /// that created them: refused, and an alarm (a member tried to take a group
    /// over).
    #[serde(default)]
    pub claims: Vec<GroupClaimView>,
}

/// A refused first definition of someone else's group.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct GroupClaimView {
    pub group: customs_protocol::GroupId,
    /// The entry that carries it.
    pub entry: EntryId,
    /// The administration whose node signed it.
    pub claimant: String,
    pub reason: String,
}

/// The answer to a group change: the group at its new epoch and the entry that
/// carries it.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct GroupChanged {
    pub group: GroupView,
    pub entry: EntryId,
    pub seq: u64,
}

/// An acknowledgement or result, as a request or alert shows it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AnswerView {
    #[serde(flatten)]
    pub meta: EntryMeta,
    /// `acknowledgement`, `control_result`, or (on an alert) a `control_request`
    /// that names it.
    #[serde(rename = "type")]
    pub kind: BodyKind,
    pub body: serde_json::Value,
    pub markings: Markings,
    /// Whether it counts for the request (it comes from an addressee); always true
    /// for an alert's results.
    pub counts: bool,
}

/// A request for control with where it stands and its answers.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RequestView {
    #[serde(flatten)]
    pub meta: EntryMeta,
    pub request: customs_protocol::control::ControlRequest,
    pub markings: Markings,
    pub distribution: Distribution,
    pub state: customs_protocol::control::RequestState,
    /// `inbound` (addressed to this administration), `outbound` (sent by it) or
    /// `other` (visible to it, neither).
    pub direction: String,
    pub acknowledgements: Vec<AnswerView>,
    pub results: Vec<AnswerView>,
}

/// `GET /api/v1/requests`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RequestList {
    pub items: Vec<RequestView>,
    /// How many requests there are in each state (within what the filters and the
    /// scan covered).
    pub counts: std::collections::BTreeMap<String, u64>,
}

/// `GET /api/v1/effectiveness`: the loop's figures.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct EffectivenessView {
    /// Per addressee and category: requests, answered, hits.
    pub rows: Vec<customs_protocol::control::Effectiveness>,
    /// The requests the figures cover.
    pub requests: u64,
}

/// The AEO snapshot of one issuer (`GET /api/v1/aeo?issuer=CC&format=json`).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AeoSnapshot {
    pub issuer: String,
    pub generated_at: String,
    /// Current records of operators that consented to the exchange.
    pub operators: Vec<AeoSnapshotRow>,
    /// Operators left out because they did not consent.
    pub withheld_without_consent: u64,
    /// Operators left out because their current record may not leave the network
    /// (restricted, TLP:RED, `no_onward_sharing`, or signed by a key closed for it).
    #[serde(default)]
    pub withheld_by_markings: u64,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AeoSnapshotRow {
    pub entry_id: EntryId,
    pub seq: u64,
    pub record: AeoRecord,
}

// ---- watch lists and webhooks ----

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct WatchLists {
    pub items: Vec<crate::notify::WatchList>,
}

/// A watch list saved, and what the hunt through stored records found.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct WatchListSaved {
    #[serde(flatten)]
    pub watchlist: crate::notify::WatchList,
    /// New matches among the records already stored (the retro-hunt).
    pub retro_matches: u64,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Matches {
    pub items: Vec<crate::notify::Match>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Webhooks {
    pub items: Vec<crate::notify::Webhook>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Deliveries {
    pub items: Vec<crate::notify::Delivery>,
}
