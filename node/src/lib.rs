//! The customs network node. Each concern has one home: `identity` (the key file on
//! disk), `store` (the replicated log on sled), `verify` (checking entries from
//! outside, on every core). The network (libp2p), api (HTTP) and cli modules follow.

pub mod admission;
pub mod config;
pub mod identity;
pub mod network;
pub mod node;
pub mod store;
pub mod verify;
