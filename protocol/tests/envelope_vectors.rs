//! Envelope vectors (`vectors/envelope.json`, SPEC.md section 13): a signed entry
//! carrying a record sealed (suite 2, slot tags) to two node keys and a group key,
//! with every secret a second implementation needs to open it, the group's tag key
//! and slot tag, one secret that must not open it, and the same envelope as an
//! untagged suite-1 entry, which nodes still read. Generated
//! from fixed seeds and held to the code: the file must equal what the code makes,
//! and each recipient secret must open the envelope to the recorded plaintext.
//!
//! After an intended format change: UPDATE_VECTORS=1 cargo test -p customs-protocol --test envelope_vectors

use customs_protocol::envelope::{
    envelope_aad, group_tag_key, open, seal, slot_tag, GroupKey, Opened, OpeningKey, Recipient,
    ENVELOPE_DOMAIN, ENVELOPE_SUITE, ENVELOPE_SUITE_UNTAGGED,
};
use customs_protocol::markings::{Handling, Reliability, Tlp};
use customs_protocol::samples::{self, DeterministicRng};
use customs_protocol::{
    Body, Distribution, Entry, EntryId, Markings, Sealed, SecretKey, SignedEntry, VerifiedEntry,
};
use serde::{Deserialize, Serialize};

const PATH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/vectors/envelope.json");
const NETWORK: &str = "customs-vectors";

#[derive(Debug, Serialize, Deserialize, PartialEq)]
struct Key {
    description: String,
    /// The X25519 secret (for a group: the group secret, from which HPKE's
    /// DeriveKeyPair gives the key pair).
    secret: String,
    public: String,
}

#[derive(Debug, Serialize, Deserialize, PartialEq)]
struct Vectors {
    description: String,
    network: String,
    author_seed: String,
    seq: u64,
    /// HPKE `info` of every slot.
    info: String,
    /// The associated data of the record and of every slot.
    aad: String,
    recipients: Vec<Key>,
    non_recipient: Key,
    /// SHA-256("customs-network/group-tag-key/v1\0" || group secret).
    group_tag_key: String,
    /// The first 16 bytes of SHA-256("customs-network/slot-tag/v1\0" || tag key ||
    /// aad): the tag of the group's slot; every other slot's tag is random.
    group_slot_tag: String,
    /// The encoded `Sealed` record inside.
    plaintext: String,
    /// The encoded envelope (the body of the entry, after its tag).
    envelope: String,
    /// The whole signed entry, as it travels.
    signed_entry: String,
    id: String,
    /// The same slots and ciphertext as suite 1 (no tags), signed as the same
    /// entry: what nodes sealed before 2026-12-08, still read.
    untagged_signed_entry: String,
}

fn key(description: &str, secret: [u8; 32], group: bool) -> (Key, OpeningKey) {
    let (opening, public) = if group {
        OpeningKey::of_group(&secret)
    } else {
        let opening = OpeningKey::from_secret(&secret).expect("a secret");
        let public = opening.public_key();
        (opening, public)
    };
    let key = Key {
        description: description.into(),
        secret: hex::encode(secret),
        public: hex::encode(public),
    };
    (key, opening)
}

fn generate() -> (Vectors, Vec<OpeningKey>, OpeningKey) {
    let author = SecretKey::from_seed([1; 32]);
    let seq = 3;
    let aad = envelope_aad(NETWORK, &author.public_key(), seq);
    let record = Sealed {
        distribution: Distribution::To(vec!["BE".into(), "DE".into()]),
        markings: Markings {
            tlp: Tlp::Red,
            handling: vec![
                Handling::NoOnwardSharing,
                Handling::Other("ask NL first".into()),
            ],
            source_reliability: Reliability::B,
            accuracy: 2,
        },
        body: Body::RiskAlert(samples::risk_alert()),
        attachments: Vec::new(),
    };
    let (be, be_key) = key("BE's node (X25519 secret)", [0x42; 32], false);
    let (de, de_key) = key("DE's node (X25519 secret)", [0x44; 32], false);
    let (group, group_key) = key("a closed user group (group secret)", [0x47; 32], true);
    let (fr, fr_key) = key("FR's node: not a recipient", [0x46; 32], false);
    let group_secret = [0x47; 32];
    let recipients = [
        Recipient::node(be_key.public_key()),
        Recipient::node(de_key.public_key()),
        Recipient::group(&group_secret),
    ];
    assert_eq!(recipients[2].key, group_key.public_key());
    let mut rng = DeterministicRng::new(17);
    let envelope = seal(&record, &recipients, NETWORK, &aad, &mut rng).expect("seals");
    let mut untagged = envelope.clone();
    untagged.suite = ENVELOPE_SUITE_UNTAGGED;
    untagged.tags.clear();
    let entry = Entry {
        network: NETWORK.into(),
        author: author.public_key(),
        seq,
        prev: Some(EntryId([9; 32])),
        created_at_ms: 1_795_830_600_000,
        markings: Markings::default(),
        body: Body::Sealed(envelope),
        attachments: Vec::new(),
    };
    let untagged_entry = Entry {
        body: Body::Sealed(untagged),
        ..entry.clone()
    };
    let signed = VerifiedEntry::sign(entry, &author).expect("signs");
    let untagged_signed = VerifiedEntry::sign(untagged_entry, &author).expect("signs");
    let entry_bytes = signed.signed().entry_bytes();
    // The envelope's bytes are the entry's last bytes, after the Sealed tag (4).
    let Body::Sealed(envelope) = &signed.entry().body else {
        unreachable!("sealed")
    };
    let envelope_bytes =
        bincode::encode_to_vec(envelope, bincode::config::standard()).expect("encodes");
    assert!(entry_bytes.ends_with(&envelope_bytes));
    let vectors = Vectors {
        description: "NL's entry 3 seals a TLP:RED alert to BE, DE and a group (suite 2): the group's secret finds its slot by the group slot tag, each node secret by trying the 8 slots, FR's opens nothing; the untagged suite-1 form of the same envelope opens the same way with every secret tried on every slot. SPEC.md section 13.".into(),
        network: NETWORK.into(),
        author_seed: hex::encode([1u8; 32]),
        seq,
        info: hex::encode([ENVELOPE_DOMAIN, NETWORK.as_bytes()].concat()),
        aad: hex::encode(&aad),
        recipients: vec![be, de, group],
        non_recipient: fr,
        group_tag_key: hex::encode(group_tag_key(&group_secret)),
        group_slot_tag: hex::encode(slot_tag(&group_tag_key(&group_secret), &aad)),
        plaintext: hex::encode(record.encode()),
        envelope: hex::encode(&envelope_bytes),
        signed_entry: hex::encode(signed.encode()),
        id: signed.id().to_hex(),
        untagged_signed_entry: hex::encode(untagged_signed.encode()),
    };
    (vectors, vec![be_key, de_key, group_key], fr_key)
}

#[test]
fn envelope_vectors_are_what_the_code_makes_and_open_for_recipients_only() {
    let (generated, recipients, outsider) = generate();
    let text = serde_json::to_string_pretty(&generated).expect("json") + "\n";
    if std::env::var_os("UPDATE_VECTORS").is_some() {
        std::fs::write(PATH, &text).expect("write vectors");
    }
    let on_disk: Vectors = serde_json::from_str(&std::fs::read_to_string(PATH).unwrap_or_default())
        .expect("vectors/envelope.json is stale or missing: UPDATE_VECTORS=1");
    assert_eq!(
        on_disk, generated,
        "vectors/envelope.json is stale: UPDATE_VECTORS=1"
    );

    // What a second implementation does: decode the signed entry, verify it, open the
    // envelope with each secret.
    let aad = hex::decode(&on_disk.aad).expect("hex");
    let plaintext = hex::decode(&on_disk.plaintext).expect("hex");
    let group = GroupKey::of(&[0x47; 32]);
    for (signed_entry, suite) in [
        (&on_disk.signed_entry, ENVELOPE_SUITE),
        (&on_disk.untagged_signed_entry, ENVELOPE_SUITE_UNTAGGED),
    ] {
        let signed =
            SignedEntry::decode(&hex::decode(signed_entry).expect("hex")).expect("decodes");
        let verified = VerifiedEntry::check(signed).expect("verifies and validates");
        let Body::Sealed(envelope) = &verified.entry().body else {
            panic!("not sealed")
        };
        assert_eq!(envelope.suite, suite);
        assert_eq!(envelope.slots.len(), 8);
        if suite == ENVELOPE_SUITE {
            let tag: [u8; 16] = hex::decode(&on_disk.group_slot_tag)
                .expect("hex")
                .try_into()
                .expect("16 bytes");
            assert_eq!(envelope.tags.iter().filter(|t| **t == tag).count(), 1);
        }
        for key in &recipients[..2] {
            match open(envelope, &[key], &[], NETWORK, &aad) {
                Opened::Record(record) => assert_eq!(record.encode(), plaintext),
                other => panic!("a recipient could not open it: {other:?}"),
            }
        }
        match open(envelope, &[], &[&group], NETWORK, &aad) {
            Opened::Record(record) => assert_eq!(record.encode(), plaintext),
            other => panic!("the group could not open it: {other:?}"),
        }
        assert_eq!(
            open(envelope, &[&outsider], &[], NETWORK, &aad),
            Opened::NotForUs
        );
    }
}
