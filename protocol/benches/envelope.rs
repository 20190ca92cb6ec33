//! Restricted records: what sealing costs the publisher and opening costs every node,
//! against an open record. Publish = build, seal (HPKE per recipient key) and sign;
//! ingest = decode, verify, validate, then trial decryption (a recipient stops at its
//! slot; a non-recipient tries every slot). Recipient counts are node keys; slots are
//! padded to a power of two (2 and 10 keys: 8 and 16 slots; 200: 256).
//! Run: cargo bench -p customs-protocol --bench envelope

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use customs_protocol::envelope::{
    envelope_aad, open, seal, GroupKey, Opened, OpeningKey, Recipient,
};
use customs_protocol::samples::{self, DeterministicRng};
use customs_protocol::{Body, Distribution, Entry, Markings, Sealed, SecretKey, VerifiedEntry};

const NETWORK: &str = "customs-bench";

fn keys(count: u8) -> Vec<OpeningKey> {
    (0..count)
        .map(|n| OpeningKey::from_secret(&[n.wrapping_add(1); 32]).expect("secret"))
        .collect()
}

fn entry(author: &SecretKey, body: Body) -> Entry {
    Entry {
        network: NETWORK.into(),
        author: author.public_key(),
        seq: 1,
        prev: None,
        created_at_ms: 1_795_830_600_000,
        markings: Markings::default(),
        body,
        attachments: Vec::new(),
    }
}

fn sealed_entry(
    author: &SecretKey,
    recipients: &[OpeningKey],
    rng: &mut DeterministicRng,
) -> VerifiedEntry {
    let record = Sealed {
        distribution: Distribution::To(vec!["BE".into()]),
        markings: Markings::default(),
        body: Body::RiskAlert(samples::risk_alert()),
        attachments: Vec::new(),
    };
    let publics: Vec<[u8; 32]> = recipients.iter().map(OpeningKey::public_key).collect();
    let aad = envelope_aad(NETWORK, &author.public_key(), 1);
    let envelope = seal(&record, &Recipient::nodes(&publics), NETWORK, &aad, rng).expect("seals");
    VerifiedEntry::sign(entry(author, Body::Sealed(envelope)), author).expect("signs")
}

fn publish(c: &mut Criterion) {
    let author = SecretKey::from_seed([1; 32]);
    let mut group = c.benchmark_group("publish");
    group.bench_function("open", |b| {
        b.iter(|| {
            VerifiedEntry::sign(
                entry(&author, Body::RiskAlert(samples::risk_alert())),
                &author,
            )
            .expect("signs")
        })
    });
    let mut rng = DeterministicRng::new(1);
    for count in [2u8, 10, 200] {
        let recipients = keys(count);
        group.bench_with_input(BenchmarkId::new("sealed", count), &recipients, |b, r| {
            b.iter(|| sealed_entry(&author, r, &mut rng))
        });
    }
    group.finish();
}

fn ingest(c: &mut Criterion) {
    let author = SecretKey::from_seed([1; 32]);
    let mut group = c.benchmark_group("ingest");
    let open_bytes = VerifiedEntry::sign(
        entry(&author, Body::RiskAlert(samples::risk_alert())),
        &author,
    )
    .expect("signs")
    .encode();
    group.bench_function("open", |b| {
        b.iter(|| VerifiedEntry::from_bytes(&open_bytes).expect("valid"))
    });
    let mut rng = DeterministicRng::new(2);
    let outsider = OpeningKey::from_secret(&[250; 32]).expect("secret");
    for count in [2u8, 10, 200] {
        let recipients = keys(count);
        let bytes = sealed_entry(&author, &recipients, &mut rng).encode();
        let aad = envelope_aad(NETWORK, &author.public_key(), 1);
        let receive = |key: &OpeningKey| {
            let entry = VerifiedEntry::from_bytes(&bytes).expect("valid");
            let Body::Sealed(envelope) = &entry.entry().body else {
                unreachable!("sealed")
            };
            open(envelope, &[key], &[], NETWORK, &aad)
        };
        // The recipient whose slot comes last in this envelope: the worst case.
        let last = recipients
            .iter()
            .max_by_key(|k| {
                let entry = VerifiedEntry::from_bytes(&bytes).expect("valid");
                let Body::Sealed(envelope) = &entry.entry().body else {
                    unreachable!("sealed")
                };
                (0..envelope.slots.len())
                    .find(|&i| {
                        let one = customs_protocol::Envelope {
                            suite: envelope.suite,
                            slots: vec![envelope.slots[i].clone()],
                            ciphertext: envelope.ciphertext.clone(),
                            tags: envelope.tags.get(i).into_iter().copied().collect(),
                        };
                        matches!(open(&one, &[k], &[], NETWORK, &aad), Opened::Record(_))
                    })
                    .unwrap_or(0)
            })
            .expect("a recipient");
        group.bench_with_input(
            BenchmarkId::new("sealed_recipient_worst", count),
            &(),
            |b, ()| b.iter(|| assert!(matches!(receive(last), Opened::Record(_)))),
        );
        group.bench_with_input(
            BenchmarkId::new("sealed_non_recipient", count),
            &(),
            |b, ()| b.iter(|| assert_eq!(receive(&outsider), Opened::NotForUs)),
        );
    }
    group.finish();
}

/// What a 256-slot envelope that opens for no one (a hostile member's flood) costs a
/// node holding one node key and `groups` group keys: untagged (suite 1, every key on
/// every slot) against tagged (suite 2, group keys by tag only).
fn forged(c: &mut Criterion) {
    let author = SecretKey::from_seed([1; 32]);
    let mut group = c.benchmark_group("forged_256_slots");
    group.sample_size(10);
    let mut rng = DeterministicRng::new(3);
    let recipients: Vec<OpeningKey> = keys(200);
    let tagged = match sealed_entry(&author, &recipients, &mut rng)
        .entry()
        .body
        .clone()
    {
        Body::Sealed(envelope) => envelope,
        _ => unreachable!("sealed"),
    };
    let untagged = customs_protocol::Envelope {
        suite: customs_protocol::envelope::ENVELOPE_SUITE_UNTAGGED,
        tags: Vec::new(),
        ..tagged.clone()
    };
    let aad = envelope_aad(NETWORK, &author.public_key(), 1);
    let node = OpeningKey::from_secret(&[250; 32]).expect("secret");
    for groups in [16u8, 64] {
        let group_keys: Vec<GroupKey> = (0..groups).map(|n| GroupKey::of(&[n; 32])).collect();
        let held: Vec<&GroupKey> = group_keys.iter().collect();
        for (name, envelope) in [("untagged", &untagged), ("tagged", &tagged)] {
            if name == "untagged" && groups == 64 {
                continue; // about 2 s an envelope: 16 keys tell the slope
            }
            group.bench_with_input(BenchmarkId::new(name, groups), &(), |b, ()| {
                b.iter(|| {
                    assert_eq!(
                        open(envelope, &[&node], &held, NETWORK, &aad),
                        Opened::NotForUs
                    )
                })
            });
        }
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20).measurement_time(std::time::Duration::from_secs(3));
    targets = publish, ingest, forged
}
criterion_main!(benches);
