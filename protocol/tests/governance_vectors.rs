//! Governance test vectors: `vectors/governance.json` holds a charter, its network id,
//! a history of signed governance entries and the membership they imply. The file
//! must equal what the code generates now, and replaying the vectors' own bytes must
//! give the recorded membership (in the recorded order and reversed).
//!
//! After an intended format change: UPDATE_VECTORS=1 cargo test -p customs-protocol --test governance_vectors

use customs_protocol::governance::{
    AdminCard, CausalGovernance, Certificate, Charter, CharterBody, EncryptionKey, Founder,
    Governance, GovernanceEvent, Membership, NodeCertificate, ProposalStatus, Quorum, SeqCut,
    Standing,
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
    /// Causal histories with the attacks of the security review of 2026-12-07:
    /// each must give its members, proposals and key limits whatever the order.
    attacks: Vec<AttackVector>,
}

#[derive(Debug, Serialize, Deserialize, PartialEq)]
struct AttackVector {
    description: String,
    entries: Vec<EntryVector>,
    members: Vec<(String, String)>,
    proposals: Vec<(String, String)>,
    /// Node keys (hex) with a last seq, and that seq.
    last_seqs: Vec<(String, u64)>,
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

fn vectors_charter(nl: &Admin) -> Charter {
    Charter::sign(
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
    )
}

fn build() -> (Charter, Vec<(String, VerifiedEntry)>) {
    let (nl, de, be) = (admin("NL", 1), admin("DE", 2), admin("BE", 3));
    let charter = vectors_charter(&nl);
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

/// Signs a causal history: each entry names the heads given, or (honest) the heads
/// of everything signed before it.
struct Causal {
    charter: Charter,
    heads: std::collections::HashMap<customs_protocol::PublicKey, (u64, EntryId)>,
    entries: Vec<(String, VerifiedEntry)>,
}

impl Causal {
    fn new(charter: &Charter) -> Causal {
        Causal {
            charter: charter.clone(),
            heads: Default::default(),
            entries: Vec::new(),
        }
    }

    fn sign(&mut self, description: &str, by: &SecretKey, at_ms: u64, body: Body) -> EntryId {
        let (seq, prev) = self
            .heads
            .get(&by.public_key())
            .map_or((1, None), |(s, id)| (s + 1, Some(*id)));
        let entry = Entry {
            network: self.charter.network_id(),
            author: by.public_key(),
            seq,
            prev,
            created_at_ms: at_ms,
            markings: Default::default(),
            body,
            attachments: Vec::new(),
        };
        let signed = VerifiedEntry::sign(entry, by).expect("signs");
        self.heads.insert(by.public_key(), (seq, signed.id()));
        self.entries.push((description.to_string(), signed.clone()));
        signed.id()
    }

    fn honest(
        &mut self,
        description: &str,
        by: &SecretKey,
        minute: u64,
        act: Governance,
    ) -> EntryId {
        let heads = Membership::replay(&self.charter, &events(&self.entries)).heads;
        self.cite(
            description,
            by,
            CREATED_AT_MS + minute * 60_000,
            heads,
            Vec::new(),
            act,
        )
    }

    fn cite(
        &mut self,
        description: &str,
        by: &SecretKey,
        at_ms: u64,
        heads: Vec<EntryId>,
        cuts: Vec<SeqCut>,
        act: Governance,
    ) -> EntryId {
        let body = Body::CausalGovernance(CausalGovernance { heads, cuts, act });
        self.sign(description, by, at_ms, body)
    }

    fn old(&mut self, description: &str, by: &SecretKey, at_ms: u64, act: Governance) -> EntryId {
        self.sign(description, by, at_ms, Body::Governance(act))
    }

    fn vector(self, description: &str) -> AttackVector {
        let m = Membership::replay(&self.charter, &events(&self.entries));
        let (members, proposals) = outcome(&m);
        let mut last_seqs: Vec<(String, u64)> = m
            .node_keys
            .values()
            .filter_map(|n| n.last_seq.map(|s| (n.node_key.to_hex(), s)))
            .collect();
        last_seqs.sort();
        AttackVector {
            description: description.into(),
            entries: entry_vectors(&self.entries),
            members,
            proposals,
            last_seqs,
        }
    }
}

fn admission(who: &Admin) -> Governance {
    Governance::ProposeAdmission {
        card: who.card(),
        nodes: vec![who.cert()],
    }
}

/// NL founds and admits DE alone; NL proposes BE and DE approves.
fn three_members(c: &mut Causal, nl: &Admin, de: &Admin, be: &Admin) {
    c.honest(
        "NL (alone the quorum) admits DE",
        &nl.node,
        1,
        admission(de),
    );
    let p = c.honest("NL proposes BE", &nl.node, 2, admission(be));
    c.honest(
        "DE approves BE: decided",
        &de.node,
        3,
        Governance::Approve { proposal: p },
    );
}

fn attacks() -> Vec<AttackVector> {
    let (nl, de, be, fr) = (
        admin("NL", 1),
        admin("DE", 2),
        admin("BE", 3),
        admin("FR", 4),
    );
    let xx = admin("XX", 9);
    let charter = vectors_charter(&nl);
    let mut out = Vec::new();

    let mut c = Causal::new(&charter);
    three_members(&mut c, &nl, &de, &be);
    c.cite(
        "NL admits XX, dated a second after the charter and naming no heads: after NL's own earlier acts, judged against three members, pending",
        &nl.node, CREATED_AT_MS + 1_000, Vec::new(), Vec::new(), admission(&xx));
    out.push(c.vector("A founder dates an admission back to the charter, when it alone was the quorum: nobody is un-admitted and XX is not in"));

    let mut c = Causal::new(&charter);
    c.old(
        "NL admits DE (old layout)",
        &nl.node,
        CREATED_AT_MS + 60_000,
        admission(&de),
    );
    let p = c.old(
        "NL proposes BE (old layout)",
        &nl.node,
        CREATED_AT_MS + 120_000,
        admission(&be),
    );
    c.old(
        "DE approves BE (old layout): decided",
        &de.node,
        CREATED_AT_MS + 180_000,
        Governance::Approve { proposal: p },
    );
    c.honest(
        "DE proposes FR, the first causal entry: it names the old entries it holds",
        &de.node,
        4,
        admission(&fr),
    );
    c.old("NL admits XX in the old layout, dated a second after the charter: no causal entry names it, it counts for nothing", &nl.node, CREATED_AT_MS + 1_000, admission(&xx));
    out.push(c.vector("An old-layout entry signed after the network moved to causal entries counts for nothing; the old history maps in whole"));

    let mut c = Causal::new(&charter);
    three_members(&mut c, &nl, &de, &be);
    let p_xx = c.honest(
        "NL proposes XX; nobody approves yet",
        &nl.node,
        5,
        admission(&xx),
    );
    let p_fr = c.honest("NL proposes FR", &nl.node, 6, admission(&fr));
    c.honest(
        "DE approves FR: decided (two of three)",
        &de.node,
        7,
        Governance::Approve { proposal: p_fr },
    );
    c.cite(
        "BE approves XX naming only that proposal, dated before FR's admission: it goes after what it did not see, against four members; FR stays in, XX waits",
        &be.node, CREATED_AT_MS + 5 * 60_000 + 1, vec![p_xx], Vec::new(), Governance::Approve { proposal: p_xx });
    out.push(c.vector("A member that never voted since names stale heads and an early date to move an approval before a decision: the decision stands, the approval counts against the members as they are"));

    let mut c = Causal::new(&charter);
    three_members(&mut c, &nl, &de, &be);
    let heads = Membership::replay(&charter, &events(&c.entries)).heads;
    let cut = SeqCut {
        node_key: de.node.public_key(),
        last_seq: 1,
    };
    let p_rm = c.cite(
        "NL proposes to remove DE, cutting DE's key at seq 1 (what NL holds), dated a second after the charter",
        &nl.node, CREATED_AT_MS + 1_000, heads, vec![cut], Governance::ProposeRemoval { code: "DE".into(), reason: "left the agreement".into() });
    c.cite(
        "BE approves, dated two seconds after the charter: decided; DE's entries up to seq 1 stay valid whatever their dates",
        &be.node, CREATED_AT_MS + 2_000, vec![p_rm], Vec::new(), Governance::Approve { proposal: p_rm });
    out.push(c.vector("A quorum dates a removal back: the removed key is cut by seq (last_seqs), not by date, so no entry it signed before turns invalid"));
    out
}

fn entry_vectors(entries: &[(String, VerifiedEntry)]) -> Vec<EntryVector> {
    entries
        .iter()
        .map(|(d, e)| EntryVector {
            description: d.clone(),
            signed_entry: hex::encode(e.encode()),
            id: e.id().to_hex(),
        })
        .collect()
}

fn generate() -> Vectors {
    let (charter, entries) = build();
    let membership = Membership::replay(&charter, &events(&entries));
    let (members, proposals) = outcome(&membership);
    Vectors {
        description: "A network founded by NL (majority quorum): DE and BE admitted, DE removed by NL and BE while its own proposal to remove NL stays pending. Replaying the entries in any order gives this membership (SPEC.md section 12).".into(),
        charter: hex::encode(charter.encode()),
        network_id: charter.network_id(),
        entries: entry_vectors(&entries),
        members,
        proposals,
        attacks: attacks(),
    }
}

/// The vectors' entries from their own bytes, each checked against its id and network.
fn from_vectors(vectors: &[EntryVector], network: &str) -> Vec<(String, VerifiedEntry)> {
    vectors
        .iter()
        .map(|v| {
            let entry = VerifiedEntry::from_bytes(&hex::decode(&v.signed_entry).expect("hex"))
                .expect("verifies and validates");
            assert_eq!(entry.id().to_hex(), v.id);
            assert_eq!(entry.entry().network, network);
            (v.description.clone(), entry)
        })
        .collect()
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
    let mut entries = from_vectors(&stored.entries, &stored.network_id);
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

    // Every attack, from its own bytes, in the recorded order and reversed.
    let expected: [&[&str]; 4] = [
        &["BE", "DE", "NL"],
        &["BE", "DE", "NL"],
        &["BE", "DE", "FR", "NL"],
        &["BE", "NL"],
    ];
    assert_eq!(stored.attacks.len(), expected.len());
    for (attack, expected) in stored.attacks.iter().zip(expected) {
        let mut entries = from_vectors(&attack.entries, &stored.network_id);
        for _ in 0..2 {
            let m = Membership::replay(&charter, &events(&entries));
            assert_eq!(
                outcome(&m),
                (attack.members.clone(), attack.proposals.clone()),
                "{}",
                attack.description
            );
            entries.reverse();
        }
        let members: Vec<&str> = attack
            .members
            .iter()
            .filter(|(_, s)| s == "member")
            .map(|(c, _)| c.as_str())
            .collect();
        assert_eq!(members, expected, "{}", attack.description);
    }
}
