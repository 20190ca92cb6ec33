//! The customs network node. Each concern has one home: `identity` (the key file on
//! disk), `store` (the replicated log on sled), `verify` (checking entries from
//! outside, on every core), `network` (libp2p; its decisions in `network::sync`),
//! `api` (HTTP, JSON and the live feed), `tokens` (who may use the API), `audit` (who did what, in DIR/audit.log), `files` (private files replaced atomically), `clock` (the
//! one wall clock), `node` (all of them started together) and `cli` (the commands
//! that talk to a running node's API).

pub mod admission;
pub mod api;
pub mod audit;
pub mod blobs;
pub mod bundle;
pub mod cli;
pub mod client;
pub mod clock;
pub mod config;
pub mod demo;
pub mod files;
pub mod identity;
pub mod limits;
pub mod logging;
pub mod membership;
pub mod network;
pub mod node;
pub mod notify;
pub mod publish;
pub mod setup;
pub mod store;
pub mod tokens;
pub mod verify;

/// Every binary that links the node allocates with jemalloc: the store alone ingests
/// about a third more entries a second than under glibc's malloc. mimalloc hands
/// freed pages back to the OS so soon that a catch-up spent a tenth of its CPU
/// zeroing them again (BENCHMARKS.md, ARCHITECTURE.md's decisions).
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;
