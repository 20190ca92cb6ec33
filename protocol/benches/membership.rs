//! The membership rule at the size of a worldwide network: a charter converting 185
//! administrations (legacy founders), then 20 admissions each approved by a quorum,
//! with 10 proposals pending at once (about 1,900 governance entries). Every node
//! replays this after each commit that stores a governance entry.
//! Run: cargo bench -p customs-protocol --bench membership

use criterion::{criterion_group, criterion_main, Criterion};
use customs_protocol::governance::{
    AdminCard, Certificate, Charter, CharterBody, EncryptionKey, Founder, Governance,
    GovernanceEvent, Membership, NodeCertificate, Quorum,
};
use customs_protocol::{EntryId, SecretKey};

fn key(n: u32) -> SecretKey {
    let mut seed = [7u8; 32];
    seed[..4].copy_from_slice(&n.to_le_bytes());
    SecretKey::from_seed(seed)
}

fn code(n: u32) -> String {
    let letters: String = [n / 676, (n / 26) % 26, n % 26]
        .iter()
        .map(|d| (b'A' + *d as u8) as char)
        .collect();
    format!("M{letters}")
}

fn history(founders: u32, admissions: u32) -> (Charter, Vec<GovernanceEvent>) {
    let charter = Charter::sign(
        CharterBody {
            name: "worldwide".into(),
            quorum: Quorum::Majority,
            created_at_ms: 0,
            founders: (0..founders)
                .map(|i| Founder {
                    card: AdminCard {
                        code: code(i),
                        name: code(i),
                        admin_key: key(i).public_key(),
                    },
                    nodes: Vec::new(),
                    legacy: true,
                    addresses: Vec::new(),
                })
                .collect(),
            converts: Some("worldwide".into()),
        },
        &key(0),
    );
    let mut events = Vec::new();
    let mut seqs = vec![0u64; founders as usize];
    let mut act = |by: u32, at: u64, governance: Governance| {
        seqs[by as usize] += 1;
        let id = EntryId::of(format!("{by}/{}/{at}", seqs[by as usize]).as_bytes());
        events.push(GovernanceEvent {
            id,
            author: key(by).public_key(),
            seq: seqs[by as usize],
            created_at_ms: at,
            governance,
            heads: None,
            cuts: Vec::new(),
        });
        id
    };
    let mut at = 1;
    for a in 0..admissions {
        let n = 10_000 + a;
        let admin = key(n);
        let cert = Certificate::sign(
            NodeCertificate {
                code: code(1_000 + a),
                admin_key: admin.public_key(),
                node_key: key(20_000 + a).public_key(),
                encryption_key: EncryptionKey([1; 32]),
                addresses: Vec::new(),
                issued_at_ms: 0,
            },
            &admin,
        );
        let card = AdminCard {
            code: code(1_000 + a),
            name: "joining".into(),
            admin_key: admin.public_key(),
        };
        let proposal = act(
            a % founders,
            at,
            Governance::ProposeAdmission {
                card,
                nodes: vec![cert],
            },
        );
        // Approvals arrive interleaved with the next proposals: 10 pending at once.
        for voter in 1..founders / 2 + 2 {
            at += 1;
            act(
                (a + voter) % founders,
                at + u64::from(voter % 10) * 1_000,
                Governance::Approve { proposal },
            );
        }
    }
    (charter, events)
}

fn benches(c: &mut Criterion) {
    let (charter, events) = history(185, 20);
    let m = Membership::replay(&charter, &events);
    println!(
        "{} governance entries: {} members, {} proposals",
        events.len(),
        m.member_count(),
        m.proposals.len()
    );
    c.bench_function("replay 185 members + 20 admissions", |b| {
        b.iter(|| Membership::replay(&charter, &events))
    });
}

criterion_group!(membership, benches);
criterion_main!(membership);
