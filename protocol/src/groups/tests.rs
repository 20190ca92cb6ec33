use super::*;
use crate::envelope::rand_core::Rng;
use crate::samples::DeterministicRng;

fn update(id: u8, epoch: u32, members: &[&str], secret: u8) -> GroupUpdate {
    GroupUpdate {
        id: GroupId([id; 16]),
        epoch,
        name: format!("Operation {id}"),
        purpose: "Joint operation on cocaine in reefer containers".into(),
        members: members.iter().map(|m| m.to_string()).collect(),
        starts_on: Date::new(2026, 11, 1),
        ends_on: Date::new(2027, 1, 31),
        secret: [secret; 32],
    }
}

/// The one node key of administration `code` in these tests.
fn node_of(code: &str) -> crate::PublicKey {
    let mut seed = [0u8; 32];
    seed[..code.len()].copy_from_slice(code.as_bytes());
    crate::SecretKey::from_seed(seed).public_key()
}

fn event(n: u8, author: &str, at_ms: u64, update: GroupUpdate) -> GroupEvent {
    GroupEvent {
        entry: EntryId([n; 32]),
        author: node_of(author),
        author_code: author.into(),
        created_at_ms: at_ms,
        update,
    }
}

#[test]
fn only_the_owner_moves_a_group_to_its_next_epoch() {
    let events = vec![
        event(1, "NL", 10, update(1, 0, &["NL", "BE", "DE"], 1)),
        // Not the owner: ignored, and its secret is not kept (never tried).
        event(2, "BE", 20, update(1, 1, &["BE"], 2)),
        // Skips an epoch: ignored.
        event(3, "NL", 30, update(1, 3, &["NL"], 3)),
        event(4, "NL", 40, update(1, 1, &["NL", "BE"], 4)),
    ];
    let groups = Groups::replay(&events);
    let group = &groups.groups[&GroupId([1; 16])];
    assert_eq!(group.owner, "NL");
    assert!(
        !group.bound && !group.contested,
        "an older group, one claimant"
    );
    assert_eq!(group.secrets.keys().copied().collect::<Vec<_>>(), [0, 1]);
    assert_eq!(group.epoch(), 1);
    assert_eq!(group.current.members, vec!["NL", "BE"]);
    assert_eq!(
        group.current.secret, [4; 32],
        "the first update of epoch 1 by the owner"
    );
    // A record to the group keeps its rules only at an epoch the owner made, by a
    // member of that epoch, before the group ended.
    // Epoch 1 (without DE) was made at 40.
    assert_eq!(
        group.check_record(0, "DE", 39),
        Ok(()),
        "DE before its removal"
    );
    assert!(
        group
            .check_record(0, "DE", 41)
            .is_err_and(|why| why.contains("removed")),
        "DE keeps the old key but may not use it after its removal"
    );
    assert!(
        group.check_record(1, "DE", 41).is_err(),
        "DE is not in epoch 1"
    );
    assert_eq!(group.check_record(1, "BE", 41), Ok(()));
    assert!(
        group.check_record(3, "NL", 41).is_err(),
        "epoch 3 counts for nothing without an epoch 2"
    );
    let after_end =
        u64::try_from(Date::new(2027, 2, 1).days_since_epoch()).expect("after 1970") * 86_400_000;
    assert!(group
        .check_record(1, "NL", after_end)
        .is_err_and(|why| why.contains("after it ended")));
    // An update of an unknown group that is not its creation is ignored.
    let orphan = Groups::replay(&[event(5, "DE", 1, update(2, 3, &["DE"], 5))]);
    assert!(orphan.groups.is_empty());
}

/// Any order and any duplication of the same updates gives the same groups (run
/// with SIM_SEED=n to replay one seed).
#[test]
fn replay_is_independent_of_arrival_order() {
    let seeds: Vec<u64> = match std::env::var("SIM_SEED") {
        Ok(seed) => vec![seed.parse().expect("SIM_SEED is a number")],
        Err(_) => (0..300).collect(),
    };
    for seed in seeds {
        let mut rng = DeterministicRng::new(seed);
        let codes = ["NL", "BE", "DE", "FR", "IT"];
        let mut events = Vec::new();
        for n in 0..(rng.next_u32() % 12 + 1) {
            let group = (rng.next_u32() % 3) as u8;
            let epoch = rng.next_u32() % 3;
            let author = codes[(rng.next_u32() % 2) as usize];
            let members: Vec<&str> = codes
                .iter()
                .copied()
                .filter(|_| rng.next_u32().is_multiple_of(2))
                .chain([author])
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect();
            let at = u64::from(rng.next_u32() % 5);
            events.push(event(
                n as u8,
                author,
                at,
                update(group, epoch, &members, n as u8),
            ));
        }
        let expected = Groups::replay(&events);
        for _ in 0..4 {
            let mut shuffled = events.clone();
            for i in (1..shuffled.len()).rev() {
                let j = (rng.next_u64() % (i as u64 + 1)) as usize;
                shuffled.swap(i, j);
            }
            if rng.next_u32().is_multiple_of(2) {
                let again = shuffled[0].clone();
                shuffled.push(again);
            }
            assert_eq!(
                Groups::replay(&shuffled),
                expected,
                "seed {seed}: another order gave other groups (replay with SIM_SEED={seed})"
            );
        }
    }
}

/// Who may read what, end to end with real keys (run with SIM_SEED=n to replay one
/// seed): a network of founders, each with one or two nodes; random groups with
/// random changes of members; a random author addressing random members or a random
/// group. Exactly the nodes of the addressed members, of the group's current members
/// and of the author's administration open the sealed record.
#[test]
fn exactly_the_addressed_members_nodes_open_a_sealed_record() {
    use crate::envelope::{envelope_aad, open, seal, GroupKey, Opened, OpeningKey, Sealed};
    use crate::governance::{
        AdminCard, Certificate, Charter, CharterBody, EncryptionKey, Founder, Membership,
        NodeCertificate, Quorum,
    };
    use crate::{Body, Markings, SecretKey};

    let seeds: Vec<u64> = match std::env::var("SIM_SEED") {
        Ok(seed) => vec![seed.parse().expect("SIM_SEED is a number")],
        Err(_) => (0..120).collect(),
    };
    let codes = ["NL", "BE", "DE", "FR", "IT", "ES"];
    for seed in seeds {
        let mut rng = DeterministicRng::new(seed);
        // Every administration, its nodes' X25519 secrets, and its founder entry.
        let mut nodes: Vec<(String, OpeningKey)> = Vec::new();
        let mut founders = Vec::new();
        let mut first_admin = None;
        for (i, code) in codes.iter().enumerate() {
            let admin = SecretKey::from_seed([i as u8 + 1; 32]);
            let mut certificates = Vec::new();
            for n in 0..(1 + rng.next_u32() % 2) {
                let mut secret = [0u8; 32];
                rng.fill_bytes(&mut secret);
                let opening = OpeningKey::from_secret(&secret).expect("secret");
                certificates.push(Certificate::sign(
                    NodeCertificate {
                        code: code.to_string(),
                        admin_key: admin.public_key(),
                        node_key: SecretKey::from_seed([i as u8 * 8 + n as u8 + 100; 32])
                            .public_key(),
                        encryption_key: EncryptionKey(opening.public_key()),
                        addresses: vec!["/ip4/127.0.0.1/tcp/7401".into()],
                        issued_at_ms: 1,
                    },
                    &admin,
                ));
                nodes.push((code.to_string(), opening));
            }
            founders.push(Founder {
                card: AdminCard {
                    code: code.to_string(),
                    name: format!("{code} Customs"),
                    admin_key: admin.public_key(),
                },
                nodes: certificates,
                legacy: false,
                addresses: Vec::new(),
            });
            first_admin.get_or_insert(admin);
        }
        let charter = Charter::sign(
            CharterBody {
                name: "customs-test".into(),
                quorum: Quorum::Majority,
                created_at_ms: 1_000,
                founders,
                converts: None,
            },
            &first_admin.expect("an administration"),
        );
        charter.validate().expect("a valid charter");
        let membership = Membership::replay(&charter, &[]);

        // Groups: each created by a random owner, then changed a few times by it.
        let mut events = Vec::new();
        for g in 0..(rng.next_u32() % 3) {
            let owner = codes[(rng.next_u32() as usize) % codes.len()];
            let pick = |rng: &mut DeterministicRng| -> Vec<&str> {
                let mut members: Vec<&str> = vec![owner];
                members.extend(
                    codes
                        .iter()
                        .copied()
                        .filter(|c| *c != owner && rng.next_u32().is_multiple_of(2)),
                );
                members
            };
            for epoch in 0..(1 + rng.next_u32() % 3) {
                let members = pick(&mut rng);
                let mut secret = [0u8; 32];
                rng.fill_bytes(&mut secret);
                events.push(event(
                    (g * 10 + epoch) as u8,
                    owner,
                    u64::from(epoch),
                    GroupUpdate {
                        secret,
                        ..update(g as u8, epoch, &members, 0)
                    },
                ));
            }
        }
        let groups = Groups::replay(&events);

        // A record from a random author to random members or a random group.
        let author = codes[(rng.next_u32() as usize) % codes.len()];
        let (distribution, mut readers): (Distribution, BTreeSet<&str>) =
            if groups.groups.is_empty() || rng.next_u32().is_multiple_of(2) {
                let to: Vec<&str> = codes
                    .iter()
                    .copied()
                    .filter(|_| rng.next_u32().is_multiple_of(3))
                    .collect();
                let to = if to.is_empty() { vec![codes[0]] } else { to };
                (
                    Distribution::To(to.iter().map(|c| c.to_string()).collect()),
                    to.into_iter().collect(),
                )
            } else {
                let index = (rng.next_u32() as usize) % groups.groups.len();
                let group = groups.groups.values().nth(index).expect("a group");
                let readers = group
                    .current
                    .members
                    .iter()
                    .map(|m| *codes.iter().find(|c| *c == m).expect("a code"));
                (
                    Distribution::Group(crate::groups::GroupRef {
                        id: group.id,
                        epoch: 0,
                    }),
                    readers.collect(),
                )
            };
        if matches!(distribution, Distribution::Group(_)) && !readers.contains(author) {
            // Only a member addresses its group.
            let refused = recipients(
                &distribution,
                author,
                &membership,
                &groups,
                Date::new(2026, 12, 1),
            );
            assert!(
                matches!(refused, Err(AddressError::NotInGroup(_))),
                "seed {seed}: {refused:?}"
            );
            continue;
        }
        readers.insert(author);
        if let Distribution::Group(group) = &distribution {
            // After its end date nothing may be addressed to the group.
            let late = recipients(
                &distribution,
                author,
                &membership,
                &groups,
                Date::new(2027, 2, 1),
            );
            assert!(
                matches!(late, Err(AddressError::GroupEnded { id, .. }) if id == group.id),
                "seed {seed}: {late:?}"
            );
        }
        let (keys, recorded) = recipients(
            &distribution,
            author,
            &membership,
            &groups,
            Date::new(2026, 12, 1),
        )
        .unwrap_or_else(|e| panic!("seed {seed}: {e}"));
        let record = Sealed {
            distribution: recorded,
            markings: Markings::default(),
            body: Body::RiskAlert(crate::samples::risk_alert()),
            attachments: Vec::new(),
        };
        let aad = envelope_aad(
            "customs-test",
            &SecretKey::from_seed([1; 32]).public_key(),
            1,
        );
        let envelope = seal(&record, &keys, "customs-test", &aad, &mut rng).expect("seals");
        for (code, node_key) in &nodes {
            // A node holds the group secrets of every epoch its administration was in.
            let group_keys: Vec<GroupKey> = events
                .iter()
                .filter(|e| e.update.members.iter().any(|m| m == code))
                .map(|e| GroupKey::of(&e.update.secret))
                .collect();
            let held: Vec<&GroupKey> = group_keys.iter().collect();
            let opened = matches!(
                open(&envelope, &[node_key], &held, "customs-test", &aad),
                Opened::Record(_)
            );
            assert_eq!(
                opened,
                readers.contains(code.as_str()),
                "seed {seed}: {code} {} the record addressed {distribution:?} by {author} (replay with SIM_SEED={seed})",
                if opened { "opened" } else { "could not open" }
            );
        }
    }
}

#[test]
fn a_network_of_static_lists_seals_nothing() {
    let key = crate::SecretKey::from_seed([1; 32]).public_key();
    let membership = crate::governance::Membership::fixed(
        "customs-test",
        [("NL".to_string(), "NL Customs".to_string(), key, Vec::new())],
    );
    let sealed = recipients(
        &Distribution::To(vec!["NL".into()]),
        "NL",
        &membership,
        &Groups::default(),
        Date::new(2026, 12, 1),
    );
    assert!(
        matches!(sealed, Err(AddressError::NoEncryptionKey { .. })),
        "{sealed:?}"
    );
    let stranger = recipients(
        &Distribution::To(vec!["NL".into()]),
        "ZZ",
        &membership,
        &Groups::default(),
        Date::new(2026, 12, 1),
    );
    assert!(
        matches!(stranger, Err(AddressError::NotAMember { .. })),
        "{stranger:?}"
    );
}

/// A group made since 2026-12-08: its id is bound to the creating node's key.
fn bound_update(
    creator: &str,
    epoch: u32,
    members: &[&str],
    secret: u8,
    first_secret: u8,
) -> GroupUpdate {
    GroupUpdate {
        id: GroupId::bound(&node_of(creator), &[first_secret; 32]),
        ..update(0, epoch, members, secret)
    }
}

#[test]
fn a_removed_member_cannot_take_a_group_over_with_a_backdated_first_update() {
    let created = event(
        1,
        "NL",
        5_000,
        bound_update("NL", 0, &["NL", "BE", "DE"], 1, 1),
    );
    let id = created.update.id;
    let rekeyed = event(2, "NL", 6_000, bound_update("NL", 1, &["NL", "BE"], 2, 1));
    // DE, removed at epoch 1, signs an epoch 0 for the group dated before its
    // creation, naming a secret it chose, with itself among the members.
    let claim = event(
        3,
        "DE",
        1,
        GroupUpdate {
            id,
            ..update(0, 0, &["DE", "NL", "BE"], 9)
        },
    );
    // And an epoch 2 to move it on.
    let next = event(
        4,
        "DE",
        7_000,
        GroupUpdate {
            id,
            ..update(0, 2, &["DE", "NL"], 10)
        },
    );
    for events in [
        vec![
            created.clone(),
            rekeyed.clone(),
            claim.clone(),
            next.clone(),
        ],
        vec![
            next.clone(),
            claim.clone(),
            rekeyed.clone(),
            created.clone(),
        ],
    ] {
        let groups = Groups::replay(&events);
        let group = &groups.groups[&id];
        assert_eq!(group.owner, "NL");
        assert!(group.bound && !group.contested);
        assert_eq!(group.epoch(), 1);
        assert_eq!(group.current.secret, [2; 32], "NL's own key, not DE's");
        assert!(!group
            .secrets
            .values()
            .any(|s| *s == [9; 32] || *s == [10; 32]));
        assert_eq!(groups.claims.len(), 1, "the claim raises the alarm");
        assert_eq!(groups.claims[0].claimant, "DE");
        assert_eq!(groups.claims[0].entry, EntryId([3; 32]));
        assert!(groups.claims[0].reason.contains("NL's node"));
        // NL's records to its group keep their rules; DE's do not.
        assert_eq!(group.check_record(1, "BE", 6_500), Ok(()));
        assert!(group.check_record(1, "DE", 6_500).is_err());
    }
}

#[test]
fn an_older_group_two_administrations_claim_is_owned_by_nobody() {
    let nl = event(1, "NL", 5_000, update(7, 0, &["NL", "DE"], 1));
    let de = event(2, "DE", 1, update(7, 0, &["DE", "NL"], 2));
    let groups = Groups::replay(&[nl, de]);
    let group = &groups.groups[&GroupId([7; 16])];
    assert!(group.contested && !group.bound);
    assert_eq!(groups.claims.len(), 1);
    assert!(group
        .check_record(0, "NL", 6_000)
        .is_err_and(|why| why.contains("two administrations claim")));
}

#[test]
fn nothing_is_sealed_to_a_group_with_a_removed_member_or_owner() {
    use crate::governance::{
        AdminCard, Certificate, Charter, CharterBody, EncryptionKey, Founder, NodeCertificate,
        Quorum,
    };
    // Three founders, each with one node that has an encryption key.
    let admin_of = |code: &str| {
        let mut seed = [9u8; 32];
        seed[..code.len()].copy_from_slice(code.as_bytes());
        crate::SecretKey::from_seed(seed)
    };
    let founders = ["NL", "BE", "DE"]
        .iter()
        .map(|code| {
            let admin = admin_of(code);
            Founder {
                card: AdminCard {
                    code: code.to_string(),
                    name: format!("{code} Customs"),
                    admin_key: admin.public_key(),
                },
                nodes: vec![Certificate::sign(
                    NodeCertificate {
                        code: code.to_string(),
                        admin_key: admin.public_key(),
                        node_key: node_of(code),
                        encryption_key: EncryptionKey([code.as_bytes()[0]; 32]),
                        addresses: Vec::new(),
                        issued_at_ms: 1,
                    },
                    &admin,
                )],
                legacy: false,
                addresses: Vec::new(),
            }
        })
        .collect();
    let charter = Charter::sign(
        CharterBody {
            name: "customs-test".into(),
            quorum: Quorum::Majority,
            created_at_ms: 1_000,
            founders,
            converts: None,
        },
        &admin_of("NL"),
    );
    charter.validate().expect("a valid charter");
    let members = Membership::replay(&charter, &[]);
    let groups = Groups::replay(&[event(
        1,
        "NL",
        5_000,
        bound_update("NL", 0, &["NL", "BE", "DE"], 1, 1),
    )]);
    let id = groups.groups.keys().next().copied().expect("a group");
    let to_group = Distribution::Group(GroupRef { id, epoch: 0 });
    let today = Date::new(2026, 12, 1);
    let (keys, _) = recipients(&to_group, "NL", &members, &groups, today).expect("sealable");
    assert_eq!(keys.len(), 2, "NL's node and the group's key");
    let without = |code: &str| {
        let mut left = members.clone();
        left.members.get_mut(code).expect("a member").standing =
            crate::governance::Standing::Removed {
                removed_at_ms: 2_000,
                proposal: EntryId([0; 32]),
                reason: "left".into(),
            };
        left
    };
    let without_de = without("DE");
    let refused = recipients(&to_group, "NL", &without_de, &groups, today);
    assert!(
        matches!(&refused, Err(AddressError::RemovedMemberInGroup { code, owner, .. }) if code == "DE" && owner == "NL"),
        "{refused:?}"
    );
    let without_nl = without("NL");
    let ended = recipients(&to_group, "BE", &without_nl, &groups, today);
    assert!(
        matches!(ended, Err(AddressError::OwnerRemoved { .. })),
        "{ended:?}"
    );
}
