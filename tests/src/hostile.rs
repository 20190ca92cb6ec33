//! A hostile member: a member's own key signing entries with fields it chooses
//! (dates, heads, group ids, secrets) with the protocol crate, delivered as that
//! member's node would deliver its own entries: imported into its own (stopped) node
//! with `customs-node import`, which then serves them to the others by sync. It
//! writes and reads bundles with its own small encoder (as the review did, from
//! SPEC.md), not with the node's.

use std::path::{Path, PathBuf};

use customs_protocol::envelope::{envelope_aad, seal, Distribution, Recipient, Sealed};
use customs_protocol::samples::DeterministicRng;
use customs_protocol::{Body, Entry, EntryId, Markings, SecretKey, SignedEntry, VerifiedEntry};
use sha2::{Digest, Sha256};

use crate::governed::{cli, cli_json, Member};

const MAGIC: &[u8; 15] = b"CUSTOMS-BUNDLE\0";
const VERSION: u8 = 1;

/// A member's key in the hands of its (hostile) operator.
pub struct Hostile {
    pub key: SecretKey,
    pub network: String,
    dir: PathBuf,
    /// Seq and id of the last entry signed (what the node holds, then ours).
    head: (u64, Option<EntryId>),
    signed: Vec<SignedEntry>,
}

impl std::fmt::Debug for Hostile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hostile")
            .field("author", &self.key.public_key())
            .field("head", &self.head)
            .finish_non_exhaustive()
    }
}

impl Hostile {
    /// Takes over `member`'s key. The node must be stopped: its store is read for the
    /// key's last entry, and written by `deliver`.
    pub fn of(member: &Member) -> Hostile {
        assert!(member.child.is_none(), "stop {} first", member.code);
        let key = customs_node::identity::read_key_file(&member.dir.join("identity.key"))
            .expect("the member's key");
        let network = cli_json(&["charter", "--dir", member.path()])["network"]
            .as_str()
            .expect("network id")
            .to_string();
        let bundle = member.dir.with_extension("hostile-export");
        let _ = std::fs::remove_file(&bundle);
        cli(&[
            "export",
            "--dir",
            member.path(),
            "--out",
            bundle.to_str().expect("utf-8"),
        ]);
        let own = key.public_key();
        let head = read_bundle(&bundle)
            .into_iter()
            .filter(|e| e.entry().author == own)
            .map(|e| (e.entry().seq, Some(e.id())))
            .max_by_key(|(seq, _)| *seq)
            .unwrap_or((0, None));
        std::fs::remove_file(&bundle).expect("remove the export");
        Hostile {
            key,
            network,
            dir: member.dir.clone(),
            head,
            signed: Vec::new(),
        }
    }

    /// Signs the next entry of the key's chain with `body`, dated `created_at_ms`.
    pub fn sign(&mut self, created_at_ms: u64, markings: Markings, body: Body) -> VerifiedEntry {
        let entry = Entry {
            network: self.network.clone(),
            author: self.key.public_key(),
            seq: self.head.0 + 1,
            prev: self.head.1,
            created_at_ms,
            markings,
            body,
            attachments: Vec::new(),
        };
        let signed = VerifiedEntry::sign(entry, &self.key).expect("a valid entry");
        self.head = (signed.entry().seq, Some(signed.id()));
        self.signed.push(signed.signed().clone());
        signed
    }

    /// Signs `record` sealed to the X25519 `recipients`, as the next entry.
    pub fn sign_sealed(
        &mut self,
        created_at_ms: u64,
        record: &Sealed,
        recipients: &[[u8; 32]],
    ) -> VerifiedEntry {
        let aad = envelope_aad(&self.network, &self.key.public_key(), self.head.0 + 1);
        let mut rng = DeterministicRng::new(created_at_ms ^ self.head.0);
        let envelope = seal(
            record,
            &Recipient::nodes(recipients),
            &self.network,
            &aad,
            &mut rng,
        )
        .expect("sealed");
        self.sign(created_at_ms, Markings::default(), Body::Sealed(envelope))
    }

    /// Signs an envelope that opens for no one: `slots` random slots with random
    /// tags and random ciphertext, the shape a node cannot tell from a real one
    /// until it has tried its keys (what the review's 256-slot flood was).
    pub fn sign_forged_envelope(&mut self, created_at_ms: u64, slots: usize) -> VerifiedEntry {
        use customs_protocol::envelope::{rand_core::Rng, Envelope, Slot, ENVELOPE_SUITE};
        let mut rng = DeterministicRng::new(created_at_ms ^ (self.head.0 << 20));
        let mut bytes = |n: usize| {
            let mut out = vec![0u8; n];
            rng.fill_bytes(&mut out);
            out
        };
        let slot_list = (0..slots)
            .map(|_| Slot {
                enc: bytes(32).try_into().expect("32 bytes"),
                wrapped: bytes(48).try_into().expect("48 bytes"),
            })
            .collect();
        let tags = (0..slots)
            .map(|_| bytes(16).try_into().expect("16 bytes"))
            .collect();
        let envelope = Envelope {
            suite: ENVELOPE_SUITE,
            slots: slot_list,
            ciphertext: bytes(64),
            tags,
        };
        self.sign(created_at_ms, Markings::default(), Body::Sealed(envelope))
    }

    /// Imports what was signed into the member's own (stopped) node, as a bundle,
    /// after `import --verify` said it would (the two must agree: a bundle of a
    /// member admitted by the store's governance entries alone passes both).
    pub fn deliver(&mut self) {
        let file = self.dir.with_extension("hostile.bundle");
        let _ = std::fs::remove_file(&file);
        write_bundle(&file, &self.network, &self.signed);
        cli(&[
            "import",
            "--verify",
            "--dir",
            self.dir.to_str().expect("utf-8"),
            file.to_str().expect("utf-8"),
        ]);
        cli(&[
            "import",
            "--dir",
            self.dir.to_str().expect("utf-8"),
            file.to_str().expect("utf-8"),
        ]);
        std::fs::remove_file(&file).expect("remove the bundle");
        self.signed.clear();
    }
}

/// A member's node's X25519 keys, from another member's API.
pub fn encryption_keys(of: &str, on: &Member) -> Vec<[u8; 32]> {
    on.members()["members"]
        .as_array()
        .expect("members")
        .iter()
        .filter(|m| m["code"] == of)
        .flat_map(|m| m["nodes"].as_array().cloned().unwrap_or_default())
        .filter_map(|n| {
            let mut key = [0u8; 32];
            hex::decode_to_slice(n["encryption_key"].as_str()?, &mut key).ok()?;
            Some(key)
        })
        .collect()
}

/// A sealed record as the hostile member builds it.
pub fn sealed_to(codes: &[&str], body: Body) -> Sealed {
    Sealed {
        distribution: Distribution::To(codes.iter().map(|c| c.to_string()).collect()),
        markings: Markings::default(),
        body,
        attachments: Vec::new(),
    }
}

/// SPEC.md section 8, "Bundle files": magic, version, network, count, frames
/// (u32 length + signed entry), SHA-256 of all before.
pub fn write_bundle(file: &Path, network: &str, entries: &[SignedEntry]) {
    let mut bytes = MAGIC.to_vec();
    bytes.push(VERSION);
    bytes.push(network.len() as u8);
    bytes.extend_from_slice(network.as_bytes());
    bytes.extend_from_slice(&(entries.len() as u64).to_be_bytes());
    for entry in entries {
        let frame = entry.encode();
        bytes.extend_from_slice(&(frame.len() as u32).to_be_bytes());
        bytes.extend_from_slice(&frame);
    }
    let checksum = Sha256::digest(&bytes);
    bytes.extend_from_slice(&checksum);
    std::fs::write(file, bytes).expect("write the bundle");
}

/// Every entry of a bundle (decoded, not checked: the node wrote it).
pub fn read_bundle(file: &Path) -> Vec<SignedEntry> {
    let bytes = std::fs::read(file).expect("read the bundle");
    assert!(bytes.starts_with(MAGIC), "not a bundle");
    let network_len = bytes[MAGIC.len() + 1] as usize;
    let mut at = MAGIC.len() + 2 + network_len;
    let count = u64::from_be_bytes(bytes[at..at + 8].try_into().expect("count"));
    at += 8;
    (0..count)
        .map(|_| {
            let len = u32::from_be_bytes(bytes[at..at + 4].try_into().expect("length")) as usize;
            at += 4;
            let entry = SignedEntry::decode(&bytes[at..at + len]).expect("an entry");
            at += len;
            entry
        })
        .collect()
}
