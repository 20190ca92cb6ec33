//! Governance test vectors: `vectors/governance.json` holds a charter, its network id,
//! a history of signed governance entries and the membership they imply. The file
//! must equal what the code generates now, and replaying the vectors' own bytes must
//! give the recorded membership (in the recorded order and reversed).
//!
//! After an intended format change: UPDATE_VECTORS=1 cargo test -p customs-protocol --test governance_vectors

use customs_protocol::governance::{
    AdminCard, Certificate, Charter, CharterBody, EncryptionKey, Founder, Governance,
    GovernanceEvent, Membership, NodeCertificate, ProposalStatus, Quorum, Standing,
};
use customs_protocol::{Body, Entry, EntryId, SecretKey, VerifiedEntry};
use serde::{Deserialize, Serialize};

const VECTORS_PATH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/vectors/governance.json");
const CREATED_AT_MS: u64 = 1_795_830_600_000;

#[derive(Debug, Serialize, Deserialize, PartialEq)]
struct Vectors {
    description: String,
    /// The signed charter's canonical bytes (what the network id hashes).
    charter: String,
    network_id: String,
    entries: Vec<EntryVector>,
    /// Code and status of every member after all entries.
    members: Vec<(String, String)>,
    /// Proposal id and status after all entries.
    proposals: Vec<(String, String)>,
}

#[derive(Debug, Serialize, Deserialize, PartialEq)]
struct EntryVector {
    description: String,
    signed_entry: String,
    id: String,
}

struct Admin {
    code: &'static str,
    admin: SecretKey,
    node: SecretKey,
}

fn admin(code: &'static str, n: u8) -> Admin {
    Admin {
        code,
        admin: SecretKey::from_seed([n; 32]),
        node: SecretKey::from_seed([n + 100; 32]),
    }
}

impl Admin {
    fn card(&self) -> AdminCard {
        AdminCard {
            code: self.code.into(),
            name: format!("{} Customs", self.code),
            admin_key: self.admin.public_key(),
        }
    }

    fn cert(&self) -> Certificate {
        Certificate::sign(
            NodeCertificate {
                code: self.code.into(),
                admin_key: self.admin.public_key(),
                node_key: self.node.public_key(),
                encryption_key: EncryptionKey([9; 32]),
                addresses: vec![format!(
                    "/dns4/{}.customs.example/tcp/7400",
                    self.code.to_lowercase()
                )],
                issued_at_ms: CREATED_AT_MS,
            },
            &self.admin,
        )
    }
}

fn build() -> (Charter, Vec<(String, VerifiedEntry)>) {
    let (nl, de, be) = (admin("NL", 1), admin("DE", 2), admin("BE", 3));
    let charter = Charter::sign(
        CharterBody {
            name: "customs-vectors".into(),
            quorum: Quorum::Majority,
            created_at_ms: CREATED_AT_MS,
            founders: vec![Founder {
                card: nl.card(),
                nodes: vec![nl.cert()],
                legacy: false,
                addresses: Vec::new(),
            }],
            converts: None,
        },
        &nl.admin,
    );
    let network = charter.network_id();
    let mut heads: std::collections::HashMap<customs_protocol::PublicKey, (u64, EntryId)> =
        Default::default();
    let mut entries = Vec::new();
    let mut act = |description: &str, by: &SecretKey, minute: u64, governance: Governance| {
        let (seq, prev) = heads
            .get(&by.public_key())
            .map_or((1, None), |(s, id)| (s + 1, Some(*id)));
        let entry = Entry {
            network: network.clone(),
            author: by.public_key(),
            seq,
            prev,
            created_at_ms: CREATED_AT_MS + minute * 60_000,
            markings: Default::default(),
            body: Body::Governance(governance),
            attachments: Vec::new(),
        };
        let signed = VerifiedEntry::sign(entry, by).expect("signs");
        heads.insert(by.public_key(), (seq, signed.id()));
        entries.push((description.to_string(), signed.clone()));
        signed.id()
    };
    act(
        "NL (the founder, alone the quorum) proposes DE: decided at once",
        &nl.node,
        1,
        Governance::ProposeAdmission {
            card: de.card(),
            nodes: vec![de.cert()],
        },
    );
    let p_be = act(
        "DE proposes BE: two members, two approvals needed",
        &de.node,
        2,
        Governance::ProposeAdmission {
            card: be.card(),
            nodes: vec![be.cert()],
        },
    );
    act(
        "NL approves BE's admission: decided",
        &nl.node,
        3,
        Governance::Approve { proposal: p_be },
    );
    let p_rm = act(
        "NL proposes to remove DE",
        &nl.node,
        4,
        Governance::ProposeRemoval {
            code: "DE".into(),
            reason: "left the agreement".into(),
        },
    );
    act(
        "DE proposes to remove NL (a conflicting proposal; it stays pending)",
        &de.node,
        5,
        Governance::ProposeRemoval {
            code: "NL".into(),
            reason: "dispute".into(),
        },
    );
    act(
        "BE approves DE's removal: two of three, decided",
        &be.node,
        6,
        Governance::Approve { proposal: p_rm },
    );
    (charter, entries)
}

fn events(entries: &[(String, VerifiedEntry)]) -> Vec<GovernanceEvent> {
    entries
        .iter()
        .map(|(_, e)| GovernanceEvent::of_entry(e.id(), e.entry()).expect("a governance entry"))
        .collect()
}

/// (code, status) of each member and (id, status) of each proposal.
type Outcome = (Vec<(String, String)>, Vec<(String, String)>);

fn outcome(m: &Membership) -> Outcome {
    let members = m
        .members
        .values()
        .map(|x| {
            let status = match x.standing {
                Standing::Member => "member",
                Standing::Removed { .. } => "removed",
            };
            (x.code.clone(), status.to_string())
        })
        .collect();
    let proposals = m
        .proposals
        .values()
        .map(|p| {
            let status = match p.status {
                ProposalStatus::Pending => "pending",
                ProposalStatus::Decided => "decided",
                ProposalStatus::Void => "void",
            };
            (p.id.to_hex(), status.to_string())
        })
        .collect();
    (members, proposals)
}

fn generate() -> Vectors {
    let (charter, entries) = build();
    let membership = Membership::replay(&charter, &events(&entries));
    let (members, proposals) = outcome(&membership);
    Vectors {
        description: "A network founded by NL (majority quorum): DE and BE admitted, DE removed by NL and BE while its own proposal to remove NL stays pending. Replaying the entries in any order gives this membership (SPEC.md section 12).".into(),
        charter: hex::encode(charter.encode()),
        network_id: charter.network_id(),
        entries: entries
            .iter()
            .map(|(d, e)| EntryVector {
                description: d.clone(),
                signed_entry: hex::encode(e.encode()),
                id: e.id().to_hex(),
            })
            .collect(),
        members,
        proposals,
    }
}

#[test]
fn the_governance_vectors_are_what_the_code_makes_and_replay_to_their_membership() {
    let generated = generate();
    if std::env::var("UPDATE_VECTORS").is_ok() {
        let text = serde_json::to_string_pretty(&generated).expect("json") + "\n";
        std::fs::write(VECTORS_PATH, text).expect("write vectors");
    }
    let text = std::fs::read_to_string(VECTORS_PATH).expect("vectors/governance.json");
    let stored: Vectors = serde_json::from_str(&text).expect("parses");
    assert_eq!(
        stored, generated,
        "vectors/governance.json is stale: UPDATE_VECTORS=1"
    );

    // From the vectors' own bytes.
    let charter = Charter::decode(&hex::decode(&stored.charter).expect("hex")).expect("decodes");
    charter.validate().expect("a valid charter");
    assert_eq!(charter.network_id(), stored.network_id);
    let mut entries: Vec<(String, VerifiedEntry)> = stored
        .entries
        .iter()
        .map(|v| {
            let entry = VerifiedEntry::from_bytes(&hex::decode(&v.signed_entry).expect("hex"))
                .expect("verifies and validates");
            assert_eq!(entry.id().to_hex(), v.id);
            assert_eq!(entry.entry().network, stored.network_id);
            (v.description.clone(), entry)
        })
        .collect();
    for _ in 0..2 {
        let m = Membership::replay(&charter, &events(&entries));
        assert_eq!(
            outcome(&m),
            (stored.members.clone(), stored.proposals.clone())
        );
        entries.reverse();
    }
    assert_eq!(
        stored.members,
        [
            ("BE".into(), "member".into()),
            ("DE".into(), "removed".into()),
            ("NL".into(), "member".into())
        ]
    );
}
