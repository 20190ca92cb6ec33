//! A cap on incoming connections still in their handshake, per IP address.
//!
//! `connection_limits` caps them in all; alone, that lets one host that opens idle
//! TCP connections take every slot and keep members out. With this cap a host holds a
//! few; and when a slot is refused anyway (many hosts), the event loop dials its
//! members itself (see `sync::redial`), which no stranger can block.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::IpAddr;
use std::task::{Context, Poll};

use libp2p::core::multiaddr::Protocol;
use libp2p::core::transport::PortUse;
use libp2p::core::Endpoint;
use libp2p::swarm::{
    dummy, ConnectionDenied, ConnectionId, FromSwarm, ListenFailure, NetworkBehaviour, THandler,
    THandlerInEvent, THandlerOutEvent, ToSwarm,
};
use libp2p::{Multiaddr, PeerId};

/// Why an incoming connection was refused by [`PerAddress`].
#[derive(Debug, thiserror::Error)]
#[error("{address} has {pending} incoming connections in their handshake already (the most one address may have)")]
pub struct TooManyFromAddress {
    pub address: IpAddr,
    pub pending: u32,
}

/// Caps the incoming connections in their handshake from each IP address.
#[derive(Debug)]
pub struct PerAddress {
    max_pending: u32,
    pending: HashMap<ConnectionId, IpAddr>,
    per_address: HashMap<IpAddr, u32>,
}

impl PerAddress {
    pub fn new(max_pending: u32) -> PerAddress {
        PerAddress {
            max_pending,
            pending: HashMap::new(),
            per_address: HashMap::new(),
        }
    }

    /// The connection left its handshake (established or failed).
    fn release(&mut self, connection: ConnectionId) {
        let Some(address) = self.pending.remove(&connection) else {
            return;
        };
        if let Some(count) = self.per_address.get_mut(&address) {
            *count -= 1;
            if *count == 0 {
                self.per_address.remove(&address);
            }
        }
    }
}

fn ip_of(addr: &Multiaddr) -> Option<IpAddr> {
    addr.iter().find_map(|p| match p {
        Protocol::Ip4(ip) => Some(IpAddr::V4(ip)),
        Protocol::Ip6(ip) => Some(IpAddr::V6(ip)),
        _ => None,
    })
}

impl NetworkBehaviour for PerAddress {
    type ConnectionHandler = dummy::ConnectionHandler;
    type ToSwarm = Infallible;

    fn handle_pending_inbound_connection(
        &mut self,
        connection: ConnectionId,
        _local: &Multiaddr,
        remote: &Multiaddr,
    ) -> Result<(), ConnectionDenied> {
        let Some(address) = ip_of(remote) else {
            return Ok(());
        };
        let pending = self.per_address.get(&address).copied().unwrap_or(0);
        if pending >= self.max_pending {
            return Err(ConnectionDenied::new(TooManyFromAddress {
                address,
                pending,
            }));
        }
        self.pending.insert(connection, address);
        *self.per_address.entry(address).or_insert(0) += 1;
        Ok(())
    }

    fn handle_established_inbound_connection(
        &mut self,
        connection: ConnectionId,
        _peer: PeerId,
        _local: &Multiaddr,
        _remote: &Multiaddr,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        self.release(connection);
        Ok(dummy::ConnectionHandler)
    }

    fn handle_established_outbound_connection(
        &mut self,
        _connection: ConnectionId,
        _peer: PeerId,
        _addr: &Multiaddr,
        _role: Endpoint,
        _port_use: PortUse,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        Ok(dummy::ConnectionHandler)
    }

    fn on_swarm_event(&mut self, event: FromSwarm) {
        match event {
            FromSwarm::ListenFailure(ListenFailure { connection_id, .. }) => {
                self.release(connection_id)
            }
            FromSwarm::ConnectionClosed(closed) => self.release(closed.connection_id),
            _ => {}
        }
    }

    fn on_connection_handler_event(
        &mut self,
        _peer: PeerId,
        _connection: ConnectionId,
        event: THandlerOutEvent<Self>,
    ) {
        match event {}
    }

    fn poll(&mut self, _cx: &mut Context<'_>) -> Poll<ToSwarm<Infallible, THandlerInEvent<Self>>> {
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(text: &str) -> Multiaddr {
        text.parse().unwrap()
    }

    #[test]
    fn one_address_holds_at_most_its_share_and_gets_it_back_on_release() {
        let mut cap = PerAddress::new(2);
        let local = addr("/ip4/127.0.0.1/tcp/7400");
        let attacker = addr("/ip4/10.0.0.9/tcp/5000");
        let member = addr("/ip4/10.0.0.1/tcp/5000");
        let a = ConnectionId::new_unchecked(1);
        let b = ConnectionId::new_unchecked(2);
        let c = ConnectionId::new_unchecked(3);
        assert!(cap
            .handle_pending_inbound_connection(a, &local, &attacker)
            .is_ok());
        assert!(cap
            .handle_pending_inbound_connection(b, &local, &attacker)
            .is_ok());
        let refused = cap
            .handle_pending_inbound_connection(c, &local, &attacker)
            .unwrap_err();
        assert!(refused.downcast_ref::<TooManyFromAddress>().is_some());
        assert!(cap
            .handle_pending_inbound_connection(ConnectionId::new_unchecked(4), &local, &member)
            .is_ok());
        let peer = libp2p::identity::Keypair::ed25519_from_bytes([7; 32])
            .unwrap()
            .public()
            .to_peer_id();
        // The handshake of `a` completes: its slot is free again.
        assert!(cap
            .handle_established_inbound_connection(a, peer, &local, &attacker)
            .is_ok());
        assert!(cap
            .handle_pending_inbound_connection(c, &local, &attacker)
            .is_ok());
        assert_eq!(cap.per_address.len(), 2);
    }
}
