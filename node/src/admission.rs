//! Whether an entry from outside (gossip, sync, a bundle) may enter the store:
//! decode, verify, validate (the protocol's rules), then what needs this node's context:
//! the author is a member, the entry is of this network, and not from the future.

use customs_protocol::{PublicKey, VerifiedEntry};

use crate::membership::MembershipView;

/// Why an entry was refused; `reason` is a stable name for metrics and logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub reason: &'static str,
    pub message: String,
    /// The refused entry's author and seq, when its signature held (so that the
    /// author's node can be told).
    pub entry: Option<(PublicKey, u64)>,
}

/// The rejection of bytes that did not verify or validate. Only an entry whose
/// signature held but which breaks a rule is attributed to its author (anyone can
/// send bytes claiming to be anyone's).
fn refused(error: customs_protocol::EntryError, bytes: &[u8]) -> Rejection {
    let entry = match &error {
        customs_protocol::EntryError::Invalid(_) => customs_protocol::SignedEntry::decode(bytes)
            .ok()
            .map(|s| (s.entry().author, s.entry().seq)),
        _ => None,
    };
    Rejection {
        reason: error.code(),
        message: error.to_string(),
        entry,
    }
}

#[derive(Debug, Clone)]
pub struct Admission {
    pub network: String,
    /// Who may sign what (this node's own key included), replaced live.
    pub membership: MembershipView,
    pub max_clock_skew_ms: u64,
}

impl Admission {
    /// What a node configured by `config` admits: entries of its network by its
    /// members or itself.
    pub fn of(config: &crate::network::NetworkConfig) -> Admission {
        Admission {
            network: config.network.clone(),
            membership: config.membership.clone(),
            max_clock_skew_ms: config.max_clock_skew_ms,
        }
    }

    pub fn check(&self, bytes: &[u8], now_ms: u64) -> Result<VerifiedEntry, Rejection> {
        let entry = VerifiedEntry::from_bytes(bytes).map_err(|e| refused(e, bytes))?;
        self.check_context(entry, now_ms)
    }

    /// The context checks for an entry that is already verified.
    pub fn check_context(
        &self,
        entry: VerifiedEntry,
        now_ms: u64,
    ) -> Result<VerifiedEntry, Rejection> {
        let e = entry.entry();
        let signed = Some((e.author, e.seq));
        e.check_network(&self.network).map_err(|error| Rejection {
            reason: "WrongNetwork",
            message: error.to_string(),
            entry: signed,
        })?;
        let membership = self.membership.get();
        // Stored unless the key is unknown or the seq beyond its last one; what a key
        // closed by time (a removed member) signed later is stored but never shown as
        // valid (see `Membership::stores`).
        if let Err(refusal) = membership.stores(&e.author, e.seq) {
            // A new node of a member introduces itself with its certificate.
            let introduced = e
                .body
                .governance()
                .is_some_and(|g| membership.admits_introduction(&e.author, e.seq, g));
            if !introduced {
                return Err(Rejection {
                    reason: refusal.reason,
                    message: refusal.message,
                    entry: signed,
                });
            }
        }
        e.check_not_in_future(now_ms, self.max_clock_skew_ms)
            .map_err(|error| Rejection {
                reason: "InFuture",
                message: error.to_string(),
                entry: signed,
            })?;
        Ok(entry)
    }

    /// Checks every item on up to `threads` threads; results in input order.
    pub fn check_all(
        &self,
        items: &[Vec<u8>],
        threads: usize,
        now_ms: u64,
    ) -> Vec<Result<VerifiedEntry, Rejection>> {
        verify_all(items, threads)
            .into_iter()
            .map(|result| result.and_then(|entry| self.check_context(entry, now_ms)))
            .collect()
    }
}

/// Decodes, verifies and validates every item on up to `threads` threads, without
/// the context checks ([`Admission::check_context`]); results in input order.
pub fn verify_all(items: &[Vec<u8>], threads: usize) -> Vec<Result<VerifiedEntry, Rejection>> {
    crate::verify::verify_all(items, threads)
        .into_iter()
        .zip(items)
        .map(|(result, bytes)| result.map_err(|e| refused(e, bytes)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use customs_protocol::{samples, Body, Entry, SecretKey};

    fn signed(key: &SecretKey, network: &str, created_at_ms: u64) -> Vec<u8> {
        let entry = Entry {
            network: network.into(),
            author: key.public_key(),
            seq: 1,
            prev: None,
            created_at_ms,
            markings: Default::default(),
            body: Body::RiskAlert(samples::risk_alert()),
            attachments: Vec::new(),
        };
        VerifiedEntry::sign(entry, key).expect("signs").encode()
    }

    #[test]
    fn refuses_non_members_other_networks_and_the_future() {
        let member = SecretKey::from_seed([1; 32]);
        let stranger = SecretKey::from_seed([2; 32]);
        let now = 1_795_830_600_000;
        let admission = Admission {
            network: "customs".into(),
            membership: MembershipView::new(customs_protocol::Membership::fixed(
                "customs",
                [(
                    "NL".to_string(),
                    "NL".to_string(),
                    member.public_key(),
                    Vec::new(),
                )],
            )),
            max_clock_skew_ms: 60_000,
        };
        assert!(admission
            .check(&signed(&member, "customs", now), now)
            .is_ok());
        let reason = |bytes: Vec<u8>| {
            admission
                .check(&bytes, now)
                .map(|_| ())
                .map_err(|r| r.reason)
        };
        assert_eq!(reason(signed(&stranger, "customs", now)), Err("NotMember"));
        assert_eq!(
            reason(signed(&member, "elsewhere", now)),
            Err("WrongNetwork")
        );
        assert_eq!(
            reason(signed(&member, "customs", now + 120_000)),
            Err("InFuture")
        );
        let mut forged = signed(&member, "customs", now);
        let last = forged.len() - 1;
        forged[last] ^= 1;
        assert_eq!(reason(forged), Err("BadSignature"));
        assert_eq!(reason(vec![1, 2, 3]), Err("Truncated"));
    }
}
