use super::*;

/// An administration with its administration key and one node key.
struct Admin {
    code: String,
    admin: SecretKey,
    node: SecretKey,
}

fn admin(code: &str, n: u8) -> Admin {
    Admin {
        code: code.into(),
        admin: SecretKey::from_seed([n; 32]),
        node: SecretKey::from_seed([n.wrapping_add(100); 32]),
    }
}

impl Admin {
    fn card(&self) -> AdminCard {
        AdminCard {
            code: self.code.clone(),
            name: format!("{} Customs", self.code),
            admin_key: self.admin.public_key(),
        }
    }

    fn cert_for(&self, node: &SecretKey) -> Certificate {
        Certificate::sign(
            NodeCertificate {
                code: self.code.clone(),
                admin_key: self.admin.public_key(),
                node_key: node.public_key(),
                encryption_key: EncryptionKey([7; 32]),
                addresses: vec!["/ip4/127.0.0.1/tcp/7401".into()],
                issued_at_ms: 1,
            },
            &self.admin,
        )
    }

    fn cert(&self) -> Certificate {
        self.cert_for(&self.node)
    }

    fn admission(&self) -> Governance {
        Governance::ProposeAdmission {
            card: self.card(),
            nodes: vec![self.cert()],
        }
    }
}

fn charter(founder: &Admin, quorum: Quorum) -> Charter {
    let charter = Charter::sign(
        CharterBody {
            name: "customs-test".into(),
            quorum,
            created_at_ms: 1_000,
            founders: vec![Founder {
                card: founder.card(),
                nodes: vec![founder.cert()],
                legacy: false,
                addresses: Vec::new(),
            }],
            converts: None,
        },
        &founder.admin,
    );
    charter.validate().expect("valid charter");
    charter
}

/// Builds events with distinct ids, one author seq counter per node key.
#[derive(Default)]
struct History {
    events: Vec<GovernanceEvent>,
    seqs: HashMap<PublicKey, u64>,
}

impl History {
    fn act(&mut self, by: &SecretKey, at_ms: u64, governance: Governance) -> EntryId {
        let seq = self.seqs.entry(by.public_key()).or_insert(0);
        *seq += 1;
        governance.validate().expect("valid governance");
        let id =
            EntryId::of(format!("{}/{seq}/{at_ms}/{governance:?}", by.public_key()).as_bytes());
        self.events.push(GovernanceEvent {
            id,
            author: by.public_key(),
            seq: *seq,
            created_at_ms: at_ms,
            governance,
            heads: None,
            cuts: Vec::new(),
        });
        id
    }

    fn approve(&mut self, by: &SecretKey, at_ms: u64, proposal: EntryId) {
        self.act(by, at_ms, Governance::Approve { proposal });
    }

    /// A causal entry naming `heads` (and `cuts`), whatever `by` really held.
    fn cite(
        &mut self,
        by: &SecretKey,
        at_ms: u64,
        heads: Vec<EntryId>,
        cuts: Vec<SeqCut>,
        governance: Governance,
    ) -> EntryId {
        let causal = CausalGovernance {
            heads,
            cuts,
            act: governance,
        };
        causal.validate().expect("valid causal governance");
        let id = self.act(by, at_ms, causal.act.clone());
        let event = self.events.last_mut().expect("just pushed");
        event.heads = Some(causal.heads);
        event.cuts = causal.cuts;
        id
    }

    /// A causal entry naming the heads of everything held, as an honest node does.
    fn honest(
        &mut self,
        c: &Charter,
        by: &SecretKey,
        at_ms: u64,
        governance: Governance,
    ) -> EntryId {
        let heads = Membership::replay(c, &self.events).heads;
        self.cite(by, at_ms, heads, Vec::new(), governance)
    }

    /// An entry that is some other node's only (a record, say): advances `by`'s seq.
    fn skip(&mut self, by: &SecretKey, entries: u64) {
        *self.seqs.entry(by.public_key()).or_insert(0) += entries;
    }
}

fn codes(m: &Membership) -> Vec<String> {
    m.members
        .values()
        .filter(|m| m.standing == Standing::Member)
        .map(|m| m.code.clone())
        .collect()
}

#[test]
fn quorum_counts() {
    let majority: Vec<usize> = (1..=7).map(|n| Quorum::Majority.needed(n)).collect();
    assert_eq!(majority, [1, 2, 2, 3, 3, 4, 4]);
    let two_thirds: Vec<usize> = (1..=7).map(|n| Quorum::TwoThirds.needed(n)).collect();
    assert_eq!(two_thirds, [1, 2, 2, 3, 4, 4, 5]);
    assert_eq!(Quorum::Majority.needed(0), 1);
}

#[test]
fn the_network_id_is_the_name_and_the_charters_hash() {
    let nl = admin("NL", 1);
    let a = charter(&nl, Quorum::Majority);
    let b = charter(&nl, Quorum::TwoThirds);
    assert!(a.network_id().starts_with("customs-test-"));
    assert_eq!(a.network_id().len(), "customs-test-".len() + 32);
    assert_ne!(a.network_id(), b.network_id(), "same name, other charter");
    assert!(check_network_id(&a.network_id()).is_ok());
    assert_eq!(Charter::decode(&a.encode()).expect("decodes"), a);
}

#[test]
fn a_charter_with_a_forged_signature_or_certificate_is_refused() {
    let nl = admin("NL", 1);
    let mut c = charter(&nl, Quorum::Majority);
    c.charter.created_at_ms += 1;
    assert_eq!(c.validate().unwrap_err().code(), "StatementSignature");
    let other = admin("DE", 2);
    let mut c = charter(&nl, Quorum::Majority);
    c.charter.founders[0].nodes[0] = other.cert();
    let error = c.validate().unwrap_err();
    assert_eq!(error.field, "founders[0].nodes[0].node.code");
}

#[test]
fn a_founder_admits_alone_then_two_members_must_agree() {
    let (nl, de, be) = (admin("NL", 1), admin("DE", 2), admin("BE", 3));
    let c = charter(&nl, Quorum::Majority);
    let mut h = History::default();
    let p_de = h.act(&nl.node, 2_000, de.admission());
    let m = Membership::replay(&c, &h.events);
    assert_eq!(codes(&m), ["DE", "NL"]);
    assert_eq!(m.proposals[&p_de].status, ProposalStatus::Decided);

    let p_be = h.act(&nl.node, 3_000, be.admission());
    let m = Membership::replay(&c, &h.events);
    assert_eq!(
        codes(&m),
        ["DE", "NL"],
        "two members: one approval is not enough"
    );
    assert_eq!(m.proposals[&p_be].needed, 2);
    assert_eq!(m.proposals[&p_be].approvals, ["NL"]);
    h.approve(&de.node, 4_000, p_be);
    let m = Membership::replay(&c, &h.events);
    assert_eq!(codes(&m), ["BE", "DE", "NL"]);
    assert!(m.admits(&be.node.public_key(), 1, 5_000).is_ok());
    assert_eq!(
        m.admits(&admin("FR", 4).node.public_key(), 1, 5_000)
            .unwrap_err()
            .reason,
        "NotMember"
    );
}

#[test]
fn a_removed_member_keeps_its_earlier_entries_and_loses_later_ones_and_its_votes() {
    let (nl, de, be, fr) = (
        admin("NL", 1),
        admin("DE", 2),
        admin("BE", 3),
        admin("FR", 4),
    );
    let c = charter(&nl, Quorum::Majority);
    let mut h = History::default();
    h.act(&nl.node, 2_000, de.admission());
    let p = h.act(&nl.node, 3_000, be.admission());
    h.approve(&de.node, 3_100, p);
    // DE proposes FR; NL proposes to remove DE, BE approves: DE is out at 6 000.
    let p_fr = h.act(&de.node, 4_000, fr.admission());
    let p_rm = h.act(
        &nl.node,
        5_000,
        Governance::ProposeRemoval {
            code: "DE".into(),
            reason: "left the agreement".into(),
        },
    );
    h.approve(&be.node, 6_000, p_rm);
    // BE approves FR after DE's removal: DE's own approval no longer counts.
    h.approve(&be.node, 7_000, p_fr);
    let m = Membership::replay(&c, &h.events);
    assert_eq!(codes(&m), ["BE", "NL"]);
    assert_eq!(m.proposals[&p_fr].status, ProposalStatus::Pending);
    assert_eq!(m.proposals[&p_fr].approvals, ["BE"]);
    let de_key = de.node.public_key();
    assert!(m.admits(&de_key, 3, 5_999).is_ok(), "earlier entries stay");
    assert_eq!(
        m.admits(&de_key, 4, 6_000).unwrap_err().reason,
        "RemovedMember"
    );
    assert!(matches!(
        m.members["DE"].standing,
        Standing::Removed {
            removed_at_ms: 6_000,
            ..
        }
    ));
    // A vote of DE after its removal has no effect either.
    h.approve(&de.node, 8_000, p_fr);
    let m2 = Membership::replay(&c, &h.events);
    assert_eq!(codes(&m2), ["BE", "NL"]);
    h.approve(&nl.node, 9_000, p_fr);
    assert_eq!(
        codes(&Membership::replay(&c, &h.events)),
        ["BE", "FR", "NL"]
    );
}

#[test]
fn two_members_removing_each_other_resolve_by_the_earlier_proposal() {
    let (nl, de, be, fr) = (
        admin("NL", 1),
        admin("DE", 2),
        admin("BE", 3),
        admin("FR", 4),
    );
    let c = charter(&nl, Quorum::Majority);
    let mut h = History::default();
    h.act(&nl.node, 2_000, de.admission());
    let p = h.act(&nl.node, 3_000, be.admission());
    h.approve(&de.node, 3_100, p);
    let p = h.act(&nl.node, 3_200, fr.admission());
    h.approve(&de.node, 3_300, p);
    // Four members, three needed. BE approves both removals, FR only NL's.
    let remove = |code: &str| Governance::ProposeRemoval {
        code: code.into(),
        reason: "dispute".into(),
    };
    let rm_nl = h.act(&de.node, 10_000, remove("NL"));
    let rm_de = h.act(&nl.node, 10_001, remove("DE"));
    h.approve(&be.node, 11_000, rm_de);
    h.approve(&be.node, 11_000, rm_nl);
    h.approve(&fr.node, 11_000, rm_nl);
    let m = Membership::replay(&c, &h.events);
    // Removing NL reaches three (DE, BE, FR). Removing DE had NL and BE: with NL gone
    // only BE counts, short of two out of three.
    assert_eq!(codes(&m), ["BE", "DE", "FR"]);
    assert_eq!(m.proposals[&rm_nl].status, ProposalStatus::Decided);
    assert_eq!(m.proposals[&rm_de].status, ProposalStatus::Pending);
    assert_eq!(m.proposals[&rm_de].approvals, ["BE"]);
    assert_eq!(m.proposals[&rm_de].needed, 2);
    // When FR approves too, DE goes as well: both removals were wanted.
    h.approve(&fr.node, 12_000, rm_de);
    assert_eq!(codes(&Membership::replay(&c, &h.events)), ["BE", "FR"]);
}

#[test]
fn a_revoked_key_signs_nothing_from_its_seq_and_its_votes_there_do_not_count() {
    let (nl, de, be) = (admin("NL", 1), admin("DE", 2), admin("BE", 3));
    let c = charter(&nl, Quorum::Majority);
    let mut h = History::default();
    h.act(&nl.node, 2_000, de.admission()); // NL seq 1
    let p_be = h.act(&de.node, 3_000, be.admission()); // DE seq 1
    h.approve(&nl.node, 3_500, p_be); // NL seq 2: a stolen key's vote
    let revocation = Revocation::sign(
        KeyRevocation {
            code: "NL".into(),
            admin_key: nl.admin.public_key(),
            node_key: nl.node.public_key(),
            from_seq: 2,
            reason: "node key stolen".into(),
            issued_at_ms: 4_000,
        },
        &nl.admin,
    );
    // Carried by DE's node (NL's own node is the stolen one).
    h.act(&de.node, 4_000, Governance::Revoke { revocation });
    let m = Membership::replay(&c, &h.events);
    assert_eq!(codes(&m), ["DE", "NL"], "the vote at seq 2 is void");
    assert!(m.admits(&nl.node.public_key(), 1, 9_000).is_ok());
    assert_eq!(
        m.admits(&nl.node.public_key(), 2, 9_000)
            .unwrap_err()
            .reason,
        "KeyClosed"
    );
    assert_eq!(m.seq_limit(&nl.node.public_key()), Some(1));
    assert_eq!(
        m.stores(&nl.node.public_key(), 2).unwrap_err().reason,
        "KeyClosed"
    );
}

#[test]
fn a_rotation_and_a_second_node_keep_the_records_attributed() {
    let (nl, de) = (admin("NL", 1), admin("DE", 2));
    let c = charter(&nl, Quorum::Majority);
    let mut h = History::default();
    let second = SecretKey::from_seed([50; 32]);
    let rotated = SecretKey::from_seed([51; 32]);
    h.act(&nl.node, 2_000, de.admission()); // seq 1
                                            // A second node introduces itself with its certificate as its first entry.
    let intro = Governance::Certify {
        certificate: nl.cert_for(&second),
    };
    let m = Membership::replay(&c, &h.events);
    assert!(m.admits_introduction(&second.public_key(), 1, &intro));
    h.act(&second, 2_500, intro);
    h.act(
        &nl.node,
        3_000,
        Governance::Rotate {
            certificate: nl.cert_for(&rotated),
        },
    ); // seq 2
    let m = Membership::replay(&c, &h.events);
    assert_eq!(
        m.member_of(&second.public_key()).map(|m| m.code.as_str()),
        Some("NL")
    );
    assert_eq!(
        m.member_of(&rotated.public_key()).map(|m| m.code.as_str()),
        Some("NL")
    );
    assert!(
        m.admits(&nl.node.public_key(), 2, 9_000).is_ok(),
        "the rotation itself"
    );
    assert_eq!(
        m.admits(&nl.node.public_key(), 3, 9_000)
            .unwrap_err()
            .reason,
        "KeyClosed"
    );
    assert_eq!(m.members["NL"].nodes.len(), 3);
    assert_eq!(m.open_nodes().filter(|n| n.code == "NL").count(), 2);
    // A certificate signed by another administration's key is no introduction.
    let stranger = SecretKey::from_seed([52; 32]);
    let mut forged = de.cert_for(&stranger);
    forged.node.code = "NL".into();
    let forged = Governance::Certify {
        certificate: forged,
    };
    assert!(!m.admits_introduction(&stranger.public_key(), 1, &forged));
}

#[test]
fn a_quorum_replaces_a_stolen_administration_key() {
    let (nl, de, be) = (admin("NL", 1), admin("DE", 2), admin("BE", 3));
    let c = charter(&nl, Quorum::Majority);
    let mut h = History::default();
    h.act(&nl.node, 2_000, de.admission());
    let p = h.act(&nl.node, 3_000, be.admission());
    h.approve(&de.node, 3_100, p);
    // The thief certifies its own node with DE's stolen administration key.
    let thief = SecretKey::from_seed([60; 32]);
    h.act(
        &thief,
        4_000,
        Governance::Certify {
            certificate: de.cert_for(&thief),
        },
    );
    let fresh = admin("DE", 61);
    let replace = Governance::ProposeAdminKey {
        code: "DE".into(),
        admin_key: fresh.admin.public_key(),
        nodes: vec![fresh.cert_for(&de.node)],
        reason: "administration key stolen".into(),
    };
    let p = h.act(&nl.node, 5_000, replace);
    h.approve(&be.node, 6_000, p);
    let m = Membership::replay(&c, &h.events);
    assert_eq!(m.members["DE"].admin_key, fresh.admin.public_key());
    assert_eq!(
        m.admits(&thief.public_key(), 2, 6_000).unwrap_err().reason,
        "KeyClosed"
    );
    assert!(
        m.admits(&thief.public_key(), 1, 4_000).is_ok(),
        "evidence stays"
    );
    assert!(
        m.admits(&de.node.public_key(), 9, 7_000).is_ok(),
        "DE's real node goes on"
    );
}

/// SplitMix64 for seeded histories.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// A random history of concurrent proposals, approvals and removals by the
/// administrations of a seeded network, with clocks that disagree: in the old layout,
/// or (`causal`) each act naming the heads its node held (now, or at a random earlier
/// point), after a few honest admissions so that members have something to disagree
/// about.
fn random_history(seed: u64, causal: bool) -> (Charter, Vec<GovernanceEvent>, Vec<Admin>) {
    let mut rng = Rng(seed);
    let all: Vec<Admin> = ["NL", "DE", "BE", "FR", "IT", "ES", "PL"]
        .iter()
        .enumerate()
        .map(|(i, c)| admin(c, i as u8 + 1))
        .collect();
    let quorum = if rng.below(2) == 0 {
        Quorum::Majority
    } else {
        Quorum::TwoThirds
    };
    let c = charter(&all[0], quorum);
    let mut h = History::default();
    let mut proposals: Vec<EntryId> = Vec::new();
    if causal {
        for (i, joining) in all.iter().enumerate().skip(1).take(2 + rng.below(4)) {
            let p = h.honest(&c, &all[0].node, 1_500 + i as u64, joining.admission());
            for approver in all.iter().take(i).skip(1) {
                h.honest(
                    &c,
                    &approver.node,
                    1_500 + i as u64,
                    Governance::Approve { proposal: p },
                );
            }
        }
    }
    for step in 0..(10 + rng.below(30)) {
        let by = &all[rng.below(all.len())];
        let at = 2_000 + step as u64 * 100 + rng.below(500) as u64;
        let act = match rng.below(4) {
            0 => all[rng.below(all.len())].admission(),
            1 => removal(&all[rng.below(all.len())].code),
            _ if !proposals.is_empty() => Governance::Approve {
                proposal: proposals[rng.below(proposals.len())],
            },
            _ => continue,
        };
        let is_proposal = act.is_proposal();
        let id = if causal {
            // An honest node acts only once admitted, and holds at least what
            // admitted it: a random point after that.
            let Some(admitted) = (0..=h.events.len())
                .find(|&k| Membership::replay(&c, &h.events[..k]).is_member(&by.code))
            else {
                continue;
            };
            let held = if rng.below(3) == 0 {
                admitted + rng.below(h.events.len() - admitted + 1)
            } else {
                h.events.len()
            };
            let heads = Membership::replay(&c, &h.events[..held]).heads;
            h.cite(&by.node, at, heads, Vec::new(), act)
        } else {
            h.act(&by.node, at, act)
        };
        if is_proposal {
            proposals.push(id);
        }
    }
    (c, h.events, all)
}

/// Asserts that `rounds` shuffles of `events`, each with one entry held twice, give
/// the membership `events` give.
fn assert_order_free(c: &Charter, events: &[GovernanceEvent], seed: u64, salt: u64, rounds: usize) {
    let reference = Membership::replay(c, events);
    let mut rng = Rng(seed ^ salt);
    for _ in 0..rounds {
        let mut shuffled = events.to_vec();
        for i in (1..shuffled.len()).rev() {
            shuffled.swap(i, rng.below(i + 1));
        }
        // Duplicates (an entry received twice) change nothing either.
        if !shuffled.is_empty() {
            let d = shuffled[rng.below(shuffled.len())].clone();
            shuffled.push(d);
        }
        assert_eq!(
            Membership::replay(c, &shuffled),
            reference,
            "seed {seed}: order changed the membership (replay with SIM_SEED={seed})"
        );
    }
}

fn seeds() -> impl Iterator<Item = u64> {
    let base: u64 = std::env::var("SIM_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let count = if std::env::var("SIM_SEED").is_ok() {
        1
    } else {
        500
    };
    base..base + count
}

#[test]
fn the_membership_is_the_same_whatever_order_the_entries_arrive_in() {
    for seed in seeds() {
        let (c, events, _) = random_history(seed, false);
        assert_order_free(&c, &events, seed, 0xDEAD, 5);
    }
}

#[test]
fn two_sides_of_a_partition_agree_once_they_hold_the_same_entries() {
    for seed in seeds() {
        let (c, events, _) = random_history(seed, false);
        let mut rng = Rng(seed ^ 0xBEEF);
        // Each side holds a random part; after healing both hold the union, fed
        // side-first in two different orders.
        let (mut left, mut right) = (Vec::new(), Vec::new());
        for e in &events {
            match rng.below(3) {
                0 => left.push(e.clone()),
                1 => right.push(e.clone()),
                _ => {
                    left.push(e.clone());
                    right.push(e.clone());
                }
            }
        }
        // Each side's own view is a valid membership (no panic, founders present).
        for side in [&left, &right] {
            let m = Membership::replay(&c, side);
            assert!(m.members.contains_key("NL"), "seed {seed}");
            for p in m
                .proposals
                .values()
                .filter(|p| p.status == ProposalStatus::Pending)
            {
                assert!(
                    p.approvals.len() <= m.member_count(),
                    "seed {seed}: more approvals than members"
                );
            }
        }
        let healed_left: Vec<GovernanceEvent> = left.iter().chain(&right).cloned().collect();
        let healed_right: Vec<GovernanceEvent> = right.iter().chain(&left).cloned().collect();
        assert_eq!(
            Membership::replay(&c, &healed_left),
            Membership::replay(&c, &healed_right),
            "seed {seed}: the healed sides disagree (replay with SIM_SEED={seed})"
        );
        assert_eq!(
            Membership::replay(&c, &healed_left),
            Membership::replay(&c, &events),
            "seed {seed}"
        );
    }
}

// Causal governance (2026-12-08): what a member signs about time orders nothing.

fn removal(code: &str) -> Governance {
    Governance::ProposeRemoval {
        code: code.into(),
        reason: "seeded".into(),
    }
}

/// NL founds alone and admits DE; NL proposes BE and DE approves: three members.
fn three_members(c: &Charter, h: &mut History, nl: &Admin, de: &Admin, be: &Admin) -> EntryId {
    h.honest(c, &nl.node, 2_000, de.admission());
    let p_be = h.honest(c, &nl.node, 3_000, be.admission());
    h.honest(c, &de.node, 3_100, Governance::Approve { proposal: p_be });
    let m = Membership::replay(c, &h.events);
    assert_eq!(codes(&m), ["BE", "DE", "NL"]);
    p_be
}

#[test]
fn a_founder_backdating_an_admission_to_the_charter_changes_nothing() {
    let (nl, de, be, x) = (
        admin("NL", 1),
        admin("DE", 2),
        admin("BE", 3),
        admin("XX", 9),
    );
    let c = charter(&nl, Quorum::Majority);
    let mut h = History::default();
    three_members(&c, &mut h, &nl, &de, &be);
    let before = Membership::replay(&c, &h.events);
    // The review's attack: NL signs an admission dated one second after the charter,
    // naming no heads, when it alone was the quorum.
    let p_x = h.cite(&nl.node, 1_001, Vec::new(), Vec::new(), x.admission());
    let m = Membership::replay(&c, &h.events);
    assert_eq!(
        codes(&m),
        ["BE", "DE", "NL"],
        "nobody is un-admitted, XX is not in"
    );
    assert_eq!(m.proposals[&p_x].status, ProposalStatus::Pending);
    assert_eq!(m.proposals[&p_x].needed, 2, "judged against three members");
    for (id, p) in &before.proposals {
        assert_eq!(
            m.proposals[id].status, p.status,
            "an earlier decision moved"
        );
    }
}

#[test]
fn the_same_backdated_admission_in_the_old_layout_after_the_upgrade_counts_for_nothing() {
    let (nl, de, be, x) = (
        admin("NL", 1),
        admin("DE", 2),
        admin("BE", 3),
        admin("XX", 9),
    );
    let c = charter(&nl, Quorum::Majority);
    let mut h = History::default();
    // The network's history before the upgrade, in the old layout.
    h.act(&nl.node, 2_000, de.admission());
    let p_be = h.act(&nl.node, 3_000, be.admission());
    h.approve(&de.node, 3_100, p_be);
    // The upgrade: DE's first causal entry names what it holds.
    let p_fr = h.honest(&c, &de.node, 4_000, admin("FR", 4).admission());
    let upgraded = Membership::replay(&c, &h.events);
    assert_eq!(
        codes(&upgraded),
        ["BE", "DE", "NL"],
        "the old history maps in whole"
    );
    assert_eq!(upgraded.proposals[&p_fr].approvals, ["DE"]);
    // Then NL signs the backdated admission in the old layout.
    let p_x = h.act(&nl.node, 1_001, x.admission());
    let m = Membership::replay(&c, &h.events);
    assert_eq!(codes(&m), ["BE", "DE", "NL"]);
    assert!(!m.proposals.contains_key(&p_x));
    assert!(
        m.ignored[&p_x].contains("old layout"),
        "{}",
        m.ignored[&p_x]
    );
    // And citing it itself does not place it before the others: NL's own earlier
    // acts come first, so it is judged against three members.
    h.cite(
        &nl.node,
        4_100,
        vec![p_x],
        Vec::new(),
        Governance::Approve { proposal: p_fr },
    );
    let m = Membership::replay(&c, &h.events);
    assert_eq!(codes(&m), ["BE", "DE", "NL"]);
    assert_eq!(m.proposals[&p_x].status, ProposalStatus::Pending);
}

#[test]
fn a_quiet_member_naming_stale_heads_cannot_undo_a_decision() {
    let (nl, de, be) = (admin("NL", 1), admin("DE", 2), admin("BE", 3));
    let (x, z) = (admin("XX", 9), admin("ZZ", 10));
    let c = charter(&nl, Quorum::Majority);
    let mut h = History::default();
    three_members(&c, &mut h, &nl, &de, &be);
    // NL proposes XX; nobody approves. NL proposes ZZ, DE approves: ZZ is in (two of
    // three).
    let p_x = h.honest(&c, &nl.node, 5_000, x.admission());
    let p_z = h.honest(&c, &nl.node, 6_000, z.admission());
    h.honest(&c, &de.node, 7_000, Governance::Approve { proposal: p_z });
    let m = Membership::replay(&c, &h.events);
    assert_eq!(codes(&m), ["BE", "DE", "NL", "ZZ"]);
    // BE, which never voted since, approves XX naming only that proposal and dating
    // itself before ZZ's admission, to have XX decided among three and the quorum
    // grown before ZZ's: its approval goes after what it did not see, and counts
    // against four members. ZZ stays in; XX waits for a third approval.
    h.cite(
        &be.node,
        5_001,
        vec![p_x],
        Vec::new(),
        Governance::Approve { proposal: p_x },
    );
    let m = Membership::replay(&c, &h.events);
    assert_eq!(codes(&m), ["BE", "DE", "NL", "ZZ"]);
    assert_eq!(m.proposals[&p_z].status, ProposalStatus::Decided);
    assert_eq!(m.proposals[&p_x].status, ProposalStatus::Pending);
    assert_eq!(
        (m.proposals[&p_x].approvals.len(), m.proposals[&p_x].needed),
        (2, 3)
    );
    h.honest(&c, &de.node, 8_000, Governance::Approve { proposal: p_x });
    let m = Membership::replay(&c, &h.events);
    assert_eq!(codes(&m), ["BE", "DE", "NL", "XX", "ZZ"]);
}

#[test]
fn two_quiet_members_naming_stale_heads_cannot_decide_among_the_few_they_name() {
    let (nl, de, be) = (admin("NL", 1), admin("DE", 2), admin("BE", 3));
    let (fr, it, es, x) = (
        admin("FR", 4),
        admin("IT", 5),
        admin("ES", 6),
        admin("XX", 9),
    );
    let c = charter(&nl, Quorum::Majority);
    let mut h = History::default();
    three_members(&c, &mut h, &nl, &de, &be);
    let stale = Membership::replay(&c, &h.events).heads;
    // The others admit three more without DE, each newcomer voting on the next.
    let mut voters = vec![&be.node];
    for (i, who) in [&fr, &it, &es].iter().enumerate() {
        let p = h.honest(&c, &nl.node, 10_000 + i as u64, who.admission());
        for voter in &voters {
            h.honest(
                &c,
                voter,
                10_100 + i as u64,
                Governance::Approve { proposal: p },
            );
        }
        voters.push(&who.node);
    }
    assert_eq!(Membership::replay(&c, &h.events).member_count(), 6);
    // DE, quiet since, names the heads of when three were members and two a quorum;
    // IT colludes, approving with only that proposal named. Two of six decide nothing.
    let p_x = h.cite(&de.node, 20_000, stale, Vec::new(), x.admission());
    h.cite(
        &it.node,
        20_001,
        vec![p_x],
        Vec::new(),
        Governance::Approve { proposal: p_x },
    );
    let m = Membership::replay(&c, &h.events);
    assert_eq!(m.proposals[&p_x].status, ProposalStatus::Pending);
    assert_eq!(m.proposals[&p_x].needed, 4);
    assert!(!m.is_member("XX"));
}

#[test]
fn an_approval_that_does_not_name_its_proposal_counts_for_nothing() {
    let (nl, de, be, x) = (
        admin("NL", 1),
        admin("DE", 2),
        admin("BE", 3),
        admin("XX", 9),
    );
    let c = charter(&nl, Quorum::Majority);
    let mut h = History::default();
    let p_be = three_members(&c, &mut h, &nl, &de, &be);
    let p_x = h.honest(&c, &nl.node, 5_000, x.admission());
    let early = h.cite(
        &be.node,
        5_001,
        vec![p_be],
        Vec::new(),
        Governance::Approve { proposal: p_x },
    );
    let m = Membership::replay(&c, &h.events);
    assert_eq!(codes(&m), ["BE", "DE", "NL"]);
    assert!(
        m.ignored[&early].contains("does not name proposal"),
        "{}",
        m.ignored[&early]
    );
    // An approval naming a head nobody holds waits for it.
    let missing = EntryId([7; 32]);
    let waiting = h.cite(
        &de.node,
        5_002,
        vec![missing],
        Vec::new(),
        Governance::Approve { proposal: p_x },
    );
    let m = Membership::replay(&c, &h.events);
    assert!(m.ignored[&waiting].contains("waits for governance entry"));
    assert_eq!(codes(&m), ["BE", "DE", "NL"]);
}

#[test]
fn a_removal_cuts_the_removed_keys_by_seq_whatever_their_dates() {
    let (nl, de, be) = (admin("NL", 1), admin("DE", 2), admin("BE", 3));
    let c = charter(&nl, Quorum::Majority);
    let mut h = History::default();
    three_members(&c, &mut h, &nl, &de, &be);
    let de_key = de.node.public_key();
    // DE has published up to seq 40 as NL knows it.
    h.skip(&de.node, 38);
    let cut = SeqCut {
        node_key: de_key,
        last_seq: 40,
    };
    let p_rm = h.cite(
        &nl.node,
        9_000,
        Membership::replay(&c, &h.events).heads,
        vec![cut],
        removal("DE"),
    );
    h.honest(&c, &be.node, 9_500, Governance::Approve { proposal: p_rm });
    let m = Membership::replay(&c, &h.events);
    assert_eq!(codes(&m), ["BE", "NL"]);
    // Its entries up to the cut stay valid, even dated after the removal; beyond it,
    // none is, even dated long before.
    assert!(m.admits(&de_key, 40, 99_000).is_ok());
    assert!(m.stores(&de_key, 40).is_ok());
    assert_eq!(
        m.admits(&de_key, 41, 1_500).unwrap_err().reason,
        "RemovedMember"
    );
    assert_eq!(m.stores(&de_key, 41).unwrap_err().reason, "KeyClosed");
    assert_eq!(m.seq_limit(&de_key), Some(40));
    assert!(m.open_nodes().all(|n| n.node_key != de_key));
}

#[test]
fn a_removal_dated_in_the_past_turns_no_valid_entry_into_a_refused_one() {
    let (nl, de, be) = (admin("NL", 1), admin("DE", 2), admin("BE", 3));
    let c = charter(&nl, Quorum::Majority);
    let mut h = History::default();
    three_members(&c, &mut h, &nl, &de, &be);
    h.skip(&de.node, 20);
    let cut = SeqCut {
        node_key: de.node.public_key(),
        last_seq: 21,
    };
    // NL and BE (a quorum) date the removal back to just after the charter.
    let p_rm = h.cite(
        &nl.node,
        1_001,
        Membership::replay(&c, &h.events).heads,
        vec![cut],
        removal("DE"),
    );
    h.cite(
        &be.node,
        1_002,
        vec![p_rm],
        Vec::new(),
        Governance::Approve { proposal: p_rm },
    );
    let m = Membership::replay(&c, &h.events);
    assert_eq!(codes(&m), ["BE", "NL"]);
    for seq in 1..=21 {
        assert!(
            m.admits(&de.node.public_key(), seq, 2_500).is_ok(),
            "seq {seq}"
        );
    }
}

#[test]
fn cuts_and_heads_are_canonical() {
    let nl = admin("NL", 1);
    let mut heads = vec![EntryId([2; 32]), EntryId([1; 32])];
    let unsorted = CausalGovernance {
        heads: heads.clone(),
        cuts: Vec::new(),
        act: Governance::Approve {
            proposal: EntryId([3; 32]),
        },
    };
    assert_eq!(unsorted.validate().unwrap_err().field, "heads[1]");
    heads.reverse();
    let cut_on_approval = CausalGovernance {
        heads,
        cuts: vec![SeqCut {
            node_key: nl.node.public_key(),
            last_seq: 1,
        }],
        act: Governance::Approve {
            proposal: EntryId([3; 32]),
        },
    };
    assert_eq!(cut_on_approval.validate().unwrap_err().field, "cuts");
}

#[test]
fn a_causal_membership_is_the_same_whatever_order_and_partition() {
    for seed in seeds() {
        let (c, events, _) = random_history(seed, true);
        assert_order_free(&c, &events, seed, 0xC0FFEE, 3);
        let mut rng = Rng(seed ^ 0xFACE);
        // Any subset gives a membership without panicking, and the founder stays.
        let part: Vec<GovernanceEvent> = events
            .iter()
            .filter(|_| rng.below(2) == 0)
            .cloned()
            .collect();
        assert!(
            Membership::replay(&c, &part).members.contains_key("NL"),
            "seed {seed}"
        );
    }
}

#[test]
fn one_member_signing_whatever_it_likes_undoes_no_decision() {
    let mut exercised = 0;
    for seed in seeds() {
        let (c, mut events, all) = random_history(seed, true);
        let honest = Membership::replay(&c, &events);
        // The hostile member: any member but the founder while others are in (the
        // founder alone is a quorum of one only at the start).
        let mut rng = Rng(seed ^ 0x0BAD);
        let hostile = &all[1 + rng.below(all.len() - 1)];
        if !honest.is_member(&hostile.code) || honest.member_count() < 3 {
            continue;
        }
        let mut h = History {
            events: events.clone(),
            seqs: events.iter().fold(HashMap::new(), |mut seqs, e| {
                let s = seqs.entry(e.author).or_insert(0);
                *s = (*s).max(e.seq);
                seqs
            }),
        };
        let ids: Vec<EntryId> = events.iter().map(|e| e.id).collect();
        let mut own: Vec<EntryId> = Vec::new();
        for _ in 0..(1 + rng.below(6)) {
            // Stale or no heads, any date, its own proposals and approvals of them.
            let heads: Vec<EntryId> = {
                let mut heads: Vec<EntryId> = (0..rng.below(3))
                    .map(|_| ids[rng.below(ids.len())])
                    .collect();
                heads.sort_unstable();
                heads.dedup();
                heads
            };
            let at = rng.below(10_000) as u64;
            let act = if own.is_empty() || rng.below(2) == 0 {
                match rng.below(2) {
                    0 => admin("QQ", 50 + rng.below(50) as u8).admission(),
                    _ => removal(&all[rng.below(all.len())].code),
                }
            } else {
                Governance::Approve {
                    proposal: own[rng.below(own.len())],
                }
            };
            let proposal = act.is_proposal();
            let id = h.cite(&hostile.node, at, heads, Vec::new(), act);
            if proposal {
                own.push(id);
            }
        }
        events = h.events;
        exercised += 1;
        let attacked = Membership::replay(&c, &events);
        assert_eq!(
            codes(&attacked),
            codes(&honest),
            "seed {seed}: {} changed the members alone (replay with SIM_SEED={seed})",
            hostile.code
        );
        for (id, p) in &honest.proposals {
            assert_eq!(
                attacked.proposals[id].status, p.status,
                "seed {seed}: a decision moved (replay with SIM_SEED={seed})"
            );
        }
    }
    assert!(
        exercised * 4 >= seeds().count(),
        "only {exercised} histories had a hostile member among three or more"
    );
}
