//! When to dial the members the node is not connected to.
//!
//! A member that disconnects is dialled at once (a restart is usually over within a
//! second), then after 250 ms, 500 ms, 1 s ... up to the configured longest wait,
//! each wait jittered by ±20% so that the members of a network that healed from a
//! partition do not all dial each other in the same instant. The longest wait is what
//! bounds how long a healed partition stays apart, so it is seconds, not minutes: a
//! dial to an unreachable member is one refused or unanswered connection attempt.
//!
//! When the node refuses an incoming connection for want of handshake slots (strangers
//! may hold them all), the member that was trying to get in may be among the refused:
//! every disconnected member is then dialled at once, at most once a second.

use std::collections::HashMap;
use std::hash::Hash;

use super::core::SplitMix;
use crate::limits::{FIRST_REDIAL_BACKOFF_MS, MIN_DIAL_ALL_INTERVAL_MS};

/// The redial schedule of every member (time is an argument; jitter is seeded).
#[derive(Debug, Clone)]
pub struct Redial<P> {
    /// Members not connected: when to dial next, and how many dials failed so far.
    waiting: HashMap<P, Backoff>,
    max_backoff_ms: u64,
    rng: SplitMix,
    last_dial_all_ms: Option<u64>,
    /// Members connected: since when, and the dials before it.
    up: HashMap<P, (u64, u32)>,
}

/// A connection closed sooner than this after it came up does not reset the backoff.
pub const MIN_CONNECTION_LIFE_MS: u64 = 1_000;

#[derive(Debug, Clone, Copy)]
struct Backoff {
    next_ms: u64,
    dials: u32,
}

impl<P: Clone + Eq + Hash + Ord> Redial<P> {
    /// Every member starts disconnected and due at `now_ms`.
    pub fn new(
        members: impl IntoIterator<Item = P>,
        max_backoff_ms: u64,
        seed: u64,
        now_ms: u64,
    ) -> Self {
        Redial {
            waiting: members
                .into_iter()
                .map(|p| {
                    (
                        p,
                        Backoff {
                            next_ms: now_ms,
                            dials: 0,
                        },
                    )
                })
                .collect(),
            max_backoff_ms: max_backoff_ms.max(FIRST_REDIAL_BACKOFF_MS),
            rng: SplitMix(seed),
            last_dial_all_ms: None,
            up: HashMap::new(),
        }
    }

    /// A connection to `peer` is up: no more dials until it goes down.
    pub fn connected(&mut self, peer: &P, now_ms: u64) {
        let dials = self.waiting.remove(peer).map_or(0, |b| b.dials);
        self.up.insert(peer.clone(), (now_ms, dials));
    }

    /// `peer` is no longer a member: never dialled again.
    pub fn forget(&mut self, peer: &P) {
        self.waiting.remove(peer);
        self.up.remove(peer);
    }

    /// The last connection to `peer` closed: dial it at once, then back off afresh;
    /// unless the connection lasted less than [`MIN_CONNECTION_LIFE_MS`] (the peer
    /// closes us right away, as a member does to a node it has not admitted yet):
    /// then the backoff goes on where it was, so that nobody is dialled ten times a
    /// second.
    pub fn disconnected(&mut self, peer: P, now_ms: u64) {
        let (next_ms, dials) = match self.up.remove(&peer) {
            Some((since, dials)) if now_ms.saturating_sub(since) < MIN_CONNECTION_LIFE_MS => {
                let dials = dials.saturating_add(1);
                (now_ms.saturating_add(self.backoff_ms(dials)), dials)
            }
            _ => (now_ms, 0),
        };
        self.waiting.insert(peer, Backoff { next_ms, dials });
    }

    /// The members to dial now (sorted); each is rescheduled after its next backoff.
    pub fn due(&mut self, now_ms: u64) -> Vec<P> {
        let mut due: Vec<P> = self
            .waiting
            .iter()
            .filter(|(_, b)| b.next_ms <= now_ms)
            .map(|(p, _)| p.clone())
            .collect();
        due.sort();
        for peer in &due {
            let dials = self.waiting[peer].dials.saturating_add(1);
            let wait = self.jittered(self.backoff_ms(dials));
            self.waiting.insert(
                peer.clone(),
                Backoff {
                    next_ms: now_ms.saturating_add(wait),
                    dials,
                },
            );
        }
        due
    }

    /// An incoming connection was refused for want of slots: every member not
    /// connected is due now, unless that was done less than a second ago.
    pub fn incoming_refused(&mut self, now_ms: u64) {
        if self
            .last_dial_all_ms
            .is_some_and(|last| now_ms < last.saturating_add(MIN_DIAL_ALL_INTERVAL_MS))
        {
            return;
        }
        self.last_dial_all_ms = Some(now_ms);
        for backoff in self.waiting.values_mut() {
            backoff.next_ms = backoff.next_ms.min(now_ms);
        }
    }

    /// When the next member is due, if any is waiting.
    pub fn next_due_ms(&self) -> Option<u64> {
        self.waiting.values().map(|b| b.next_ms).min()
    }

    pub fn is_waiting(&self, peer: &P) -> bool {
        self.waiting.contains_key(peer)
    }

    /// The wait after the `dials`-th dial: 0 after none, then doubling from the first
    /// backoff up to the longest.
    fn backoff_ms(&self, dials: u32) -> u64 {
        let doublings = dials.saturating_sub(1).min(20);
        FIRST_REDIAL_BACKOFF_MS
            .saturating_mul(1 << doublings)
            .min(self.max_backoff_ms)
    }

    /// `ms` ± 20%.
    fn jittered(&mut self, ms: u64) -> u64 {
        let spread = ms * 2 / 5;
        ms - ms / 5 + self.rng.below(spread + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_member_is_due_at_start_and_a_connected_one_never() {
        let mut redial = Redial::new([1u8, 2, 3], 2_000, 7, 0);
        redial.connected(&2, 0);
        assert_eq!(redial.due(0), vec![1, 3]);
        assert!(redial.due(0).is_empty(), "rescheduled, not due twice");
    }

    #[test]
    fn waits_double_with_jitter_up_to_the_longest() {
        for seed in 0..200 {
            let mut redial = Redial::new([1u8], 2_000, seed, 0);
            let mut now = 0;
            let mut waits = Vec::new();
            for _ in 0..8 {
                assert_eq!(redial.due(now), vec![1]);
                let next = redial.next_due_ms().expect("waiting");
                waits.push(next - now);
                now = next;
            }
            let expected = [250u64, 500, 1_000, 2_000, 2_000, 2_000, 2_000, 2_000];
            for (wait, base) in waits.iter().zip(expected) {
                assert!(
                    (base * 4 / 5..=base * 6 / 5).contains(wait),
                    "seed {seed}: waits {waits:?}"
                );
            }
        }
    }

    #[test]
    fn a_disconnect_makes_the_member_due_at_once_with_a_fresh_backoff() {
        let mut redial = Redial::new([1u8], 2_000, 1, 0);
        for now in [0, 300, 900, 2_000, 4_500] {
            redial.due(now);
        }
        redial.connected(&1, 5_000);
        assert!(!redial.is_waiting(&1));
        redial.disconnected(1, 10_000);
        assert_eq!(redial.due(10_000), vec![1]);
        let wait = redial.next_due_ms().unwrap() - 10_000;
        assert!((200..=300).contains(&wait), "{wait}");
    }

    #[test]
    fn a_connection_closed_at_once_does_not_reset_the_backoff() {
        let mut redial = Redial::new([1u8], 2_000, 1, 0);
        let mut now = 0;
        let mut waits = Vec::new();
        for _ in 0..5 {
            assert_eq!(redial.due(now), vec![1]);
            // It connects, and is closed 2 ms later (not admitted there).
            redial.connected(&1, now + 1);
            redial.disconnected(1, now + 3);
            let next = redial.next_due_ms().expect("waiting");
            waits.push(next - now);
            now = next;
        }
        assert!(waits.iter().skip(2).all(|w| *w >= 1_000), "{waits:?}");
    }

    #[test]
    fn a_refused_incoming_connection_makes_everyone_due_at_most_once_a_second() {
        let mut redial = Redial::new([1u8, 2], 10_000, 1, 0);
        assert_eq!(redial.due(0), vec![1, 2]);
        redial.incoming_refused(100);
        assert_eq!(redial.due(100), vec![1, 2], "due at once, not after 250 ms");
        // Next natural dial at 500 to 700 ms.
        redial.incoming_refused(450);
        assert!(
            redial.due(450).is_empty(),
            "less than a second after the last"
        );
        assert_eq!(redial.due(700), vec![1, 2]);
        // Next natural dial at 1.5 to 1.9 s; a refusal a second after the last counts.
        redial.incoming_refused(1_150);
        assert_eq!(redial.due(1_150), vec![1, 2]);
    }
}
