//! Serving HTTP/1.1 connections: the accept loop, and the rules that keep the API
//! reachable when clients misbehave.
//!
//! - The loop never waits before accepting: a full table is resolved at once, so
//!   health checks and officers are not queued behind idle sockets in the kernel.
//! - A connection must send a complete request head within `header_read_timeout_ms`
//!   of opening or of its previous answer; this also ends idle keep-alive connections.
//! - One address holds at most `max_connections_per_address`, all together at most
//!   `max_connections`. At either cap a new connection displaces the connection that
//!   has been idle longest (no request in flight), of that address or of all; only
//!   when every one is busy is the new connection closed. Idle and slowloris
//!   connections are idle by this rule, so they can never keep anyone else out.
//! - Only HTTP/1.x is spoken: an HTTP/2 preface is refused. TLS belongs to the reverse
//!   proxy in front.
//! - The listener asks for the kernel's longest accept queue: in a burst of
//!   connections beyond the caps, the rules above must decide who gets in, not the
//!   kernel. A full queue drops the handshake's last packet, so the client holds a
//!   connection the node never sees (an officer's request on it times out).

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::{oneshot, watch};
use tokio::task::JoinSet;
use tower_service::Service as _;

use super::stopped;
use crate::limits::ACCEPT_ERROR_PAUSE;

/// The caps of the connection table.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionCaps {
    pub max_total: usize,
    pub max_per_address: usize,
}

/// How many connections are open and what the caps did, for the metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ConnectionStats {
    pub open: usize,
    /// Idle connections closed to make room for a new one.
    pub displaced: u64,
    /// New connections closed because every open one was busy.
    pub refused: u64,
}

/// The open connections. Its rules are pure (time is an argument) and tested below.
#[derive(Debug)]
pub struct Connections {
    caps: ConnectionCaps,
    table: Mutex<Table>,
}

#[derive(Debug, Default)]
struct Table {
    next_id: u64,
    open: HashMap<u64, Open>,
    per_address: HashMap<IpAddr, usize>,
    displaced: u64,
    refused: u64,
}

#[derive(Debug)]
struct Open {
    address: IpAddr,
    /// Requests whose answer is not yet fully sent.
    busy: usize,
    idle_since: Instant,
    /// Told when the connection is displaced.
    displace: Option<oneshot::Sender<()>>,
}

impl Connections {
    pub fn new(caps: ConnectionCaps) -> Connections {
        Connections {
            caps,
            table: Mutex::new(Table::default()),
        }
    }

    fn table(&self) -> std::sync::MutexGuard<'_, Table> {
        // A panic while holding this lock leaves counts that are still consistent
        // (every change is one statement), so a poisoned lock is used as it is.
        self.table.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn stats(&self) -> ConnectionStats {
        let table = self.table();
        ConnectionStats {
            open: table.open.len(),
            displaced: table.displaced,
            refused: table.refused,
        }
    }

    /// Makes room for a connection from `address` and registers it, or refuses it.
    /// The receiver completes when the connection is displaced.
    pub fn admit(&self, address: IpAddr, now: Instant) -> Option<(u64, oneshot::Receiver<()>)> {
        let mut table = self.table();
        let from_address = table.per_address.get(&address).copied().unwrap_or(0);
        let room = if from_address >= self.caps.max_per_address {
            table.displace_idlest(|open| open.address == address)
        } else if table.open.len() >= self.caps.max_total {
            table.displace_idlest(|_| true)
        } else {
            true
        };
        if !room {
            table.refused += 1;
            return None;
        }
        let (displace, displaced) = oneshot::channel();
        let id = table.next_id;
        table.next_id += 1;
        table.open.insert(
            id,
            Open {
                address,
                busy: 0,
                idle_since: now,
                displace: Some(displace),
            },
        );
        *table.per_address.entry(address).or_insert(0) += 1;
        Some((id, displaced))
    }

    /// A request on connection `id` started; it ends when the guard is dropped.
    fn busy(self: &Arc<Self>, id: u64) -> Busy {
        if let Some(open) = self.table().open.get_mut(&id) {
            open.busy += 1;
        }
        Busy {
            connections: self.clone(),
            id,
        }
    }

    fn idle(&self, id: u64, now: Instant) {
        if let Some(open) = self.table().open.get_mut(&id) {
            open.busy = open.busy.saturating_sub(1);
            open.idle_since = now;
        }
    }

    /// The connection closed (or was displaced, in which case it is gone already).
    pub fn remove(&self, id: u64) {
        self.table().remove(id);
    }
}

impl Table {
    fn remove(&mut self, id: u64) -> Option<Open> {
        let open = self.open.remove(&id)?;
        if let Some(count) = self.per_address.get_mut(&open.address) {
            *count -= 1;
            if *count == 0 {
                self.per_address.remove(&open.address);
            }
        }
        Some(open)
    }

    /// Closes the idle connection that matches `which` and has been idle longest.
    fn displace_idlest(&mut self, which: impl Fn(&Open) -> bool) -> bool {
        let victim = self
            .open
            .iter()
            .filter(|(_, open)| open.busy == 0 && which(open))
            .min_by_key(|(id, open)| (open.idle_since, **id))
            .map(|(id, _)| *id);
        let Some(mut open) = victim.and_then(|id| self.remove(id)) else {
            return false;
        };
        if let Some(displace) = open.displace.take() {
            let _ = displace.send(());
        }
        self.displaced += 1;
        true
    }
}

/// Marks a connection busy while a request is answered: held by the response body,
/// so a streaming answer (the live feed, an export) keeps its connection busy.
struct Busy {
    connections: Arc<Connections>,
    id: u64,
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.connections.idle(self.id, Instant::now());
    }
}

/// A response body that holds its connection's [`Busy`] guard until it is sent.
struct BusyBody {
    body: axum::body::Body,
    _busy: Busy,
}

impl http_body::Body for BusyBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}

/// The accept queue asked for; the kernel caps it (`net.core.somaxconn`, 4096 by
/// default on Linux).
const ACCEPT_BACKLOG: u32 = 65_535;

/// Listens on `listen` (HOST:PORT, the first address it resolves to that binds) with
/// the longest accept queue the kernel allows.
pub async fn bind(listen: &str) -> std::io::Result<TcpListener> {
    let mut last_error = None;
    for address in tokio::net::lookup_host(listen).await? {
        let socket = if address.is_ipv4() {
            tokio::net::TcpSocket::new_v4()?
        } else {
            tokio::net::TcpSocket::new_v6()?
        };
        // As std and tokio's own bind do: a restarted node can listen again at once.
        socket.set_reuseaddr(true)?;
        match socket.bind(address) {
            Ok(()) => return socket.listen(ACCEPT_BACKLOG),
            Err(error) => last_error = Some(error),
        }
    }
    Err(last_error.unwrap_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "the address resolves to nothing",
        )
    }))
}

/// Serves `app` on `listener` until `stop` is set; then stops accepting, lets every
/// connection finish the request it is answering, and returns when all have closed.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    connections: Arc<Connections>,
    header_read_timeout: Duration,
    stop: watch::Receiver<bool>,
) {
    let mut tasks = JoinSet::new();
    let shutdown = stopped(&stop);
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            _ = &mut shutdown => break,
            Some(_) = tasks.join_next(), if !tasks.is_empty() => continue,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors, mostly: the kernel's backlog holds
                    // the next connections until one closes.
                    tracing::warn!(%error, "cannot accept an HTTP connection");
                    tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
                    continue;
                }
            },
        };
        let Some((id, displaced)) = connections.admit(peer.ip(), Instant::now()) else {
            tracing::debug!(%peer, "HTTP connection refused: every connection is busy");
            continue;
        };
        let _ = stream.set_nodelay(true);
        let connection = Connection {
            id,
            peer,
            app: app.clone(),
            connections: connections.clone(),
            header_read_timeout,
        };
        tasks.spawn(connection.serve(TokioIo::new(stream), displaced, stop.clone()));
    }
    while tasks.join_next().await.is_some() {}
}

struct Connection {
    id: u64,
    /// The client's address, for handlers (axum's `ConnectInfo`): the audit log.
    peer: std::net::SocketAddr,
    app: Router,
    connections: Arc<Connections>,
    header_read_timeout: Duration,
}

impl Connection {
    async fn serve(
        self,
        io: TokioIo<tokio::net::TcpStream>,
        displaced: oneshot::Receiver<()>,
        stop: watch::Receiver<bool>,
    ) {
        let Connection {
            id,
            peer,
            app,
            connections,
            header_read_timeout,
        } = self;
        let table = connections.clone();
        let service = hyper::service::service_fn(move |mut request: hyper::Request<_>| {
            let busy = connections.busy(id);
            let mut app = app.clone();
            request
                .extensions_mut()
                .insert(axum::extract::ConnectInfo(peer));
            async move {
                let response = app.call(request).await?;
                Ok::<_, Infallible>(
                    response.map(|body| axum::body::Body::new(BusyBody { body, _busy: busy })),
                )
            }
        });
        let mut builder = hyper::server::conn::http1::Builder::new();
        builder
            .timer(TokioTimer::new())
            .header_read_timeout(header_read_timeout)
            .keep_alive(true);
        let connection = builder.serve_connection(io, service);
        tokio::pin!(connection);
        tokio::select! {
            result = connection.as_mut() => {
                if let Err(error) = result {
                    tracing::debug!(%error, "HTTP connection ended");
                }
            }
            // Displaced: dropping the connection closes it.
            _ = displaced => {}
            _ = stopped(&stop) => {
                connection.as_mut().graceful_shutdown();
                let _ = connection.await;
            }
        }
        table.remove(id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caps(max_total: usize, max_per_address: usize) -> Connections {
        Connections::new(ConnectionCaps {
            max_total,
            max_per_address,
        })
    }

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([127, 0, 0, last])
    }

    #[tokio::test]
    async fn the_listener_binds_what_resolves_and_names_what_does_not() {
        let listener = bind("localhost:0").await.expect("binds");
        assert!(listener.local_addr().expect("address").ip().is_loopback());
        bind("256.0.0.1:80").await.expect_err("no such address");
    }

    #[test]
    fn a_full_address_displaces_its_own_longest_idle_connection() {
        let connections = caps(100, 2);
        let t0 = Instant::now();
        let (first, mut first_rx) = connections.admit(ip(2), t0).unwrap();
        let (_, mut second_rx) = connections
            .admit(ip(2), t0 + Duration::from_secs(1))
            .unwrap();
        let (_, _) = connections.admit(ip(1), t0).unwrap();
        let (_, _) = connections
            .admit(ip(2), t0 + Duration::from_secs(2))
            .unwrap();
        assert_eq!(
            first_rx.try_recv(),
            Ok(()),
            "the oldest idle of 127.0.0.2 goes"
        );
        assert!(second_rx.try_recv().is_err(), "the younger one stays");
        assert_eq!(connections.stats().open, 3);
        assert_eq!(connections.stats().displaced, 1);
        // Removing a displaced connection again changes nothing.
        connections.remove(first);
        assert_eq!(connections.stats().open, 3);
    }

    #[test]
    fn a_full_table_displaces_the_longest_idle_of_any_address() {
        let connections = caps(2, 2);
        let t0 = Instant::now();
        let (_, mut a) = connections
            .admit(ip(2), t0 + Duration::from_secs(5))
            .unwrap();
        let (_, mut b) = connections.admit(ip(3), t0).unwrap();
        assert!(connections
            .admit(ip(1), t0 + Duration::from_secs(6))
            .is_some());
        assert_eq!(b.try_recv(), Ok(()));
        assert!(a.try_recv().is_err());
    }

    #[test]
    fn busy_connections_are_never_displaced_and_the_newcomer_is_refused() {
        let connections = Arc::new(caps(2, 2));
        let t0 = Instant::now();
        let (a, mut a_rx) = connections.admit(ip(2), t0).unwrap();
        let (b, _) = connections.admit(ip(2), t0).unwrap();
        let busy_a = connections.busy(a);
        let busy_b = connections.busy(b);
        assert!(connections.admit(ip(2), t0).is_none());
        assert!(connections.admit(ip(1), t0).is_none());
        assert_eq!(connections.stats().refused, 2);
        // Once a's answer is sent, it is idle again and may be displaced.
        drop(busy_a);
        assert!(connections.admit(ip(1), Instant::now()).is_some());
        assert_eq!(a_rx.try_recv(), Ok(()));
        drop(busy_b);
        assert_eq!(connections.stats().open, 2);
    }

    #[test]
    fn closing_frees_the_address_slot() {
        let connections = caps(10, 1);
        let t0 = Instant::now();
        let (a, _) = connections.admit(ip(2), t0).unwrap();
        connections.remove(a);
        let (_, mut b) = connections.admit(ip(2), t0).unwrap();
        assert!(b.try_recv().is_err(), "nothing was displaced");
        assert_eq!(connections.stats().displaced, 0);
    }
}
