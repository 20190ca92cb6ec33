//! The customs network node. Each concern has one home: `identity` (the key file on
//! disk). The store (sled), network (libp2p), api (HTTP) and cli modules follow.

pub mod identity;
