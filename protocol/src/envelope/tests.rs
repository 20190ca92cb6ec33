use super::*;
use crate::body::Body;
use crate::groups::GroupId;
use crate::markings::{Handling, Tlp};
use crate::samples::{self, DeterministicRng};
use crate::SecretKey;

const NETWORK: &str = "customs-test";

fn record() -> Sealed {
    Sealed {
        distribution: Distribution::To(vec!["BE".into()]),
        markings: Markings {
            tlp: Tlp::Red,
            handling: vec![Handling::NoOnwardSharing],
            ..Markings::default()
        },
        body: Body::RiskAlert(samples::risk_alert()),
        attachments: Vec::new(),
    }
}

fn node_key(n: u8) -> OpeningKey {
    OpeningKey::from_secret(&[n; 32]).expect("any 32 bytes are an X25519 secret")
}

fn aad(seq: u64) -> Vec<u8> {
    envelope_aad(NETWORK, &SecretKey::from_seed([7; 32]).public_key(), seq)
}

#[test]
fn recipients_open_others_do_not() {
    let keys: Vec<OpeningKey> = (1..=5).map(node_key).collect();
    let publics: Vec<[u8; 32]> = keys[..3].iter().map(OpeningKey::public_key).collect();
    let mut rng = DeterministicRng::new(1);
    let envelope = seal(
        &record(),
        &Recipient::nodes(&publics),
        NETWORK,
        &aad(4),
        &mut rng,
    )
    .expect("seals");
    assert_eq!(envelope.slots.len(), MIN_ENVELOPE_SLOTS, "padded");
    assert_eq!(envelope.validate(), Ok(()));
    for key in &keys[..3] {
        assert_eq!(
            open(&envelope, &[key], &[], NETWORK, &aad(4)),
            Opened::Record(Box::new(record()))
        );
    }
    for key in &keys[3..] {
        assert_eq!(
            open(&envelope, &[key], &[], NETWORK, &aad(4)),
            Opened::NotForUs
        );
    }
    // Bound to its entry: another seq, author or network does not open.
    assert_eq!(
        open(&envelope, &[&keys[0]], &[], NETWORK, &aad(5)),
        Opened::NotForUs
    );
    assert_eq!(
        open(&envelope, &[&keys[0]], &[], "customs-other", &aad(4)),
        Opened::NotForUs
    );
}

#[test]
fn the_envelope_names_no_recipient_and_hides_the_record() {
    let key = node_key(1);
    let mut rng = DeterministicRng::new(2);
    let envelope = seal(
        &record(),
        &[Recipient::node(key.public_key())],
        NETWORK,
        &aad(1),
        &mut rng,
    )
    .expect("seals");
    let bytes = crate::codec::encode(&envelope);
    let contains = |needle: &[u8]| bytes.windows(needle.len()).any(|w| w == needle);
    assert!(
        !contains(&key.public_key()),
        "no recipient key in the envelope"
    );
    assert!(!contains(b"NL-2026-000123"), "no plaintext");
    assert!(!contains(b"banana"), "no plaintext");
}

#[test]
fn slot_counts_pad_to_powers_of_two() {
    assert_eq!(slot_count(1), 8);
    assert_eq!(slot_count(8), 8);
    assert_eq!(slot_count(9), 16);
    assert_eq!(slot_count(200), 256);
    assert_eq!(slot_count(256), 256);
    let mut rng = DeterministicRng::new(3);
    let too_many: Vec<[u8; 32]> = (0..=MAX_ENVELOPE_SLOTS)
        .map(|i| OpeningKey::of_group(&[(i % 251) as u8 + (i / 251) as u8; 32]).1)
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    if too_many.len() > MAX_ENVELOPE_SLOTS {
        assert!(matches!(
            seal(
                &record(),
                &Recipient::nodes(&too_many),
                NETWORK,
                &aad(1),
                &mut rng
            ),
            Err(SealError::TooManyRecipients { .. })
        ));
    }
    assert_eq!(
        seal(&record(), &[], NETWORK, &aad(1), &mut rng),
        Err(SealError::NoRecipient)
    );
}

#[test]
fn a_group_finds_its_slot_by_tag_and_nobody_else_can() {
    let secret = [9; 32];
    let group = GroupKey::of(&secret);
    let mut rng = DeterministicRng::new(4);
    let mut sealed = record();
    sealed.distribution = Distribution::Group(crate::groups::GroupRef {
        id: GroupId([1; 16]),
        epoch: 0,
    });
    let node = node_key(1);
    let recipients = [
        Recipient::group(&secret),
        Recipient::node(node.public_key()),
    ];
    let envelope = seal(&sealed, &recipients, NETWORK, &aad(2), &mut rng).expect("seals");
    assert_eq!(envelope.suite, ENVELOPE_SUITE);
    assert_eq!(envelope.tags.len(), envelope.slots.len());
    let tag = slot_tag(&group_tag_key(&secret), &aad(2));
    assert_eq!(
        envelope.tags.iter().filter(|t| **t == tag).count(),
        1,
        "exactly the group's slot carries the group's tag"
    );
    assert_eq!(
        open(&envelope, &[], &[&group], NETWORK, &aad(2)),
        Opened::Record(Box::new(sealed.clone()))
    );
    assert_eq!(
        open(&envelope, &[&node], &[], NETWORK, &aad(2)),
        Opened::Record(Box::new(sealed))
    );
    // Another group's key finds no tag and costs nothing but a hash; another
    // entry's tags differ (tags link no two records of one group).
    assert_eq!(
        open(&envelope, &[], &[&GroupKey::of(&[8; 32])], NETWORK, &aad(2)),
        Opened::NotForUs
    );
    assert_ne!(tag, slot_tag(&group_tag_key(&secret), &aad(3)));
}

#[test]
fn a_group_key_on_a_slot_without_its_tag_is_not_tried() {
    // A group slot whose tag was replaced: the group key finds no slot to try, so
    // the record stays closed to it (what the tag saves is exactly that trial).
    let secret = [9; 32];
    let mut rng = DeterministicRng::new(6);
    let mut envelope = seal(
        &record(),
        &[Recipient::group(&secret)],
        NETWORK,
        &aad(2),
        &mut rng,
    )
    .expect("seals");
    envelope.tags = vec![[0; SLOT_TAG_BYTES]; envelope.slots.len()];
    assert_eq!(
        open(&envelope, &[], &[&GroupKey::of(&secret)], NETWORK, &aad(2)),
        Opened::NotForUs
    );
    // The same slots as an untagged envelope (suite 1): every key on every slot.
    envelope.suite = ENVELOPE_SUITE_UNTAGGED;
    envelope.tags.clear();
    assert_eq!(envelope.validate(), Ok(()));
    assert_eq!(
        open(&envelope, &[], &[&GroupKey::of(&secret)], NETWORK, &aad(2)),
        Opened::Record(Box::new(record()))
    );
}

#[test]
fn trial_cost_bounds_the_work_and_tags_make_it_independent_of_groups() {
    let mut rng = DeterministicRng::new(7);
    let envelope = seal(
        &record(),
        &[Recipient::node(node_key(1).public_key())],
        NETWORK,
        &aad(1),
        &mut rng,
    )
    .expect("seals");
    let slots = envelope.slots.len();
    assert_eq!(envelope.trial_cost(1, 500), slots + slots.min(500));
    let mut untagged = envelope.clone();
    untagged.suite = ENVELOPE_SUITE_UNTAGGED;
    untagged.tags.clear();
    assert_eq!(untagged.trial_cost(1, 500), slots * 501);
}

#[test]
fn tags_must_match_the_slots() {
    let mut rng = DeterministicRng::new(8);
    let mut envelope = seal(
        &record(),
        &[Recipient::node(node_key(1).public_key())],
        NETWORK,
        &aad(1),
        &mut rng,
    )
    .expect("seals");
    envelope.tags.pop();
    assert_eq!(envelope.validate().map_err(|e| e.code()), Err("OutOfRange"));
    // Both layouts round-trip through the codec.
    let tagged = seal(
        &record(),
        &[Recipient::node(node_key(1).public_key())],
        NETWORK,
        &aad(1),
        &mut rng,
    )
    .expect("seals");
    let bytes = crate::codec::encode(&tagged);
    let back: Envelope = crate::codec::decode_canonical::<
        Envelope,
        { crate::limits::MAX_ENTRY_BYTES },
    >("envelope", &bytes, 0)
    .expect("decodes");
    assert_eq!(back, tagged);
    let mut old = tagged;
    old.suite = ENVELOPE_SUITE_UNTAGGED;
    old.tags.clear();
    let bytes = crate::codec::encode(&old);
    let back: Envelope = crate::codec::decode_canonical::<
        Envelope,
        { crate::limits::MAX_ENTRY_BYTES },
    >("envelope", &bytes, 0)
    .expect("decodes");
    assert_eq!(back, old);
}

#[test]
fn a_recipient_sees_a_broken_record_as_unreadable() {
    let key = node_key(1);
    let mut rng = DeterministicRng::new(5);
    let mut bad = record();
    bad.distribution = Distribution::All;
    let envelope = seal(
        &bad,
        &[Recipient::node(key.public_key())],
        NETWORK,
        &aad(1),
        &mut rng,
    )
    .expect("seals");
    assert!(matches!(
        open(&envelope, &[&key], &[], NETWORK, &aad(1)),
        Opened::Unreadable(_)
    ));
    let mut governance = record();
    governance.body = Body::Governance(crate::Governance::Approve {
        proposal: crate::EntryId([0; 32]),
    });
    assert_eq!(
        governance.validate().map_err(|e| e.code()),
        Err("Placement")
    );
}
