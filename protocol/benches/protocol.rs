//! Sign, verify, batch verify and decode + validate a realistic risk alert.
//! Run: cargo bench -p customs-protocol --bench protocol

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use customs_protocol::{samples, Body, Entry, SecretKey, SignedEntry, VerifiedEntry};
use ed25519_dalek::{Signature, VerifyingKey};

fn alert_entry(key: &SecretKey, seq: u64) -> Entry {
    Entry {
        network: "customs-bench".into(),
        author: key.public_key(),
        seq,
        prev: (seq > 1).then_some(customs_protocol::EntryId([seq as u8; 32])),
        created_at_ms: 1_795_830_600_000,
        markings: Default::default(),
        body: Body::RiskAlert(samples::risk_alert()),
        attachments: Vec::new(),
    }
}

fn benches(c: &mut Criterion) {
    let key = SecretKey::from_seed([1; 32]);
    let signed = VerifiedEntry::sign(alert_entry(&key, 1), &key).expect("signs");
    let bytes = signed.encode();
    println!("realistic alert: {} bytes signed", bytes.len());

    let mut group = c.benchmark_group("entry");
    group.throughput(Throughput::Elements(1));
    group.bench_function("sign", |b| {
        b.iter_batched(
            || alert_entry(&key, 1),
            |entry| VerifiedEntry::sign(entry, &key).expect("signs"),
            BatchSize::SmallInput,
        )
    });
    let decoded = SignedEntry::decode(&bytes).expect("decodes");
    group.bench_function("verify_strict", |b| {
        b.iter(|| decoded.verify().expect("verifies"))
    });
    group.bench_function("decode+validate", |b| {
        b.iter(|| {
            let entry = SignedEntry::decode(&bytes).expect("decodes");
            entry.entry().validate().expect("valid");
        })
    });
    group.bench_function("decode+verify+validate", |b| {
        b.iter(|| VerifiedEntry::from_bytes(&bytes).expect("valid"))
    });
    group.finish();

    // Batch verification over 256 entries from 16 authors.
    let keys: Vec<SecretKey> = (0..16u8)
        .map(|i| SecretKey::from_seed([i + 1; 32]))
        .collect();
    let entries: Vec<SignedEntry> = (0..256u64)
        .map(|i| {
            let key = &keys[(i % 16) as usize];
            VerifiedEntry::sign(alert_entry(key, i / 16 + 1), key)
                .expect("signs")
                .into_signed()
        })
        .collect();
    let inputs: Vec<Vec<u8>> = entries.iter().map(SignedEntry::signing_input).collect();
    let messages: Vec<&[u8]> = inputs.iter().map(Vec::as_slice).collect();
    let signatures: Vec<Signature> = entries
        .iter()
        .map(|e| Signature::from_bytes(e.signature()))
        .collect();
    let verifying_keys: Vec<VerifyingKey> = entries
        .iter()
        .map(|e| e.entry().author.verifying_key().expect("valid key"))
        .collect();
    let mut group = c.benchmark_group("batch256");
    group.throughput(Throughput::Elements(256));
    group.bench_function("verify_batch", |b| {
        b.iter(|| ed25519_dalek::verify_batch(&messages, &signatures, &verifying_keys).expect("ok"))
    });
    group.bench_function("verify_strict x256", |b| {
        b.iter(|| entries.iter().for_each(|e| e.verify().expect("ok")))
    });
    group.finish();
}

criterion_group!(protocol, benches);
criterion_main!(protocol);
