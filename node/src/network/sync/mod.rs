//! Every sync, gossip and redial decision of a node, with no I/O.
//!
//! [`core::SyncCore`] is a state machine: the event loop turns libp2p events into
//! [`core::Input`]s (with the time and our frontier) and carries out the
//! [`core::Output`]s (send a request, answer one, store a batch, report a gossip
//! verdict, set a timer). Because it owns no socket, disk or clock, the seeded
//! simulator ([`sim`], test builds and the `sim` feature) drives whole networks of
//! cores through loss, reordering, duplication and partitions in milliseconds.
//!
//! Architecture Invariant: nothing under `sync/` touches libp2p, the store or a clock;
//! time and randomness come in as arguments (a seed), so a run replays exactly.

pub mod core;
pub mod plan;
pub mod redial;
#[cfg(any(test, feature = "sim"))]
pub mod sim;

pub use self::core::{Input, Output, SyncCore, Transport, Verdict};
pub use plan::{entries_request, lag, plan};
