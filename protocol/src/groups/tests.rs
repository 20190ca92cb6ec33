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

fn event(n: u8, author: &str, at_ms: u64, update: GroupUpdate) -> GroupEvent {
    GroupEvent {
        entry: EntryId([n; 32]),
        author_code: author.into(),
        created_at_ms: at_ms,
        update,
    }
}

#[test]
fn only_the_owner_moves_a_group_to_its_next_epoch() {
    let events = vec![
        event(1, "NL", 10, update(1, 0, &["NL", "BE", "DE"], 1)),
        // Not the owner: ignored, though its secret is kept (it was given to us).
        event(2, "BE", 20, update(1, 1, &["BE"], 2)),
        // Skips an epoch: ignored.
        event(3, "NL", 30, update(1, 2, &["NL"], 3)),
        event(4, "NL", 40, update(1, 1, &["NL", "BE"], 4)),
    ];
    let groups = Groups::replay(&events);
    let group = &groups.groups[&GroupId([1; 16])];
    assert_eq!(group.owner, "NL");
    assert_eq!(group.epoch(), 1);
    assert_eq!(group.current.members, vec!["NL", "BE"]);
    assert_eq!(
        group.current.secret, [4; 32],
        "the first update of epoch 1 by the owner"
    );
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
