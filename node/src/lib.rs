//! The customs network node. Each concern has one home: `identity` (the key file on
//! disk), `store` (the replicated log on sled), `verify` (checking entries from
//! outside, on every core). `network` (libp2p), `api` (HTTP, JSON and the
//! live feed), `node` (all of them started together) and `cli` (the commands that talk
//! to a running node's API).

pub mod admission;
pub mod api;
pub mod bundle;
pub mod cli;
pub mod config;
pub mod demo;
pub mod identity;
pub mod network;
pub mod node;
pub mod setup;
pub mod store;
pub mod verify;
