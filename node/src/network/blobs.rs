//! The event loop's side of the blob protocol: chunk requests this node sends for
//! its fetcher, and chunks it serves to members from its own and cached blobs.
//!
//! Serving reads files, so it runs on blocking threads, at most
//! [`MAX_BLOB_READS_IN_FLIGHT`] at once; a request beyond is dropped (the asking
//! node's fetch tries another member or asks again).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use customs_protocol::attachment::{BlobRequest, BlobResponse};
use libp2p::request_response::{self, OutboundRequestId, ProtocolSupport, ResponseChannel};
use libp2p::PeerId;
use tokio::sync::{mpsc, oneshot};

use super::codec::{BlobCodec, BLOB_PROTOCOL};
use super::NetworkError;
use crate::blobs::Blobs;

/// Chunk reads served at once.
pub const MAX_BLOB_READS_IN_FLIGHT: usize = 8;
/// One chunk (256 KiB) must arrive within this.
pub const BLOB_REQUEST_TIMEOUT: Duration = Duration::from_secs(20);

pub type Behaviour = request_response::Behaviour<BlobCodec>;
type Reply = oneshot::Sender<Result<BlobResponse, NetworkError>>;

pub fn behaviour() -> Behaviour {
    request_response::Behaviour::with_codec(
        BlobCodec::default(),
        [(BLOB_PROTOCOL, ProtocolSupport::Full)],
        request_response::Config::default()
            .with_request_timeout(BLOB_REQUEST_TIMEOUT)
            .with_max_concurrent_streams(MAX_BLOB_READS_IN_FLIGHT * 2),
    )
}

/// What the event loop keeps for the blob protocol.
pub struct BlobSide {
    blobs: Option<Arc<Blobs>>,
    waiting: HashMap<OutboundRequestId, Reply>,
    reads_in_flight: usize,
    pub served: mpsc::Receiver<(ResponseChannel<BlobResponse>, BlobResponse)>,
    served_tx: mpsc::Sender<(ResponseChannel<BlobResponse>, BlobResponse)>,
}

impl BlobSide {
    pub fn new(blobs: Option<Arc<Blobs>>) -> BlobSide {
        let (served_tx, served) = mpsc::channel(MAX_BLOB_READS_IN_FLIGHT);
        BlobSide {
            blobs,
            waiting: HashMap::new(),
            reads_in_flight: 0,
            served,
            served_tx,
        }
    }

    pub fn send(
        &mut self,
        behaviour: &mut Behaviour,
        peer: PeerId,
        request: BlobRequest,
        reply: Reply,
    ) {
        let id = behaviour.send_request(&peer, request);
        self.waiting.insert(id, reply);
    }

    /// A served chunk is on its way out.
    pub fn sent(&mut self) {
        self.reads_in_flight = self.reads_in_flight.saturating_sub(1);
    }

    pub fn on_event(&mut self, event: request_response::Event<BlobRequest, BlobResponse>) {
        match event {
            request_response::Event::Message { peer, message, .. } => match message {
                request_response::Message::Request {
                    request, channel, ..
                } => self.serve(peer, request, channel),
                request_response::Message::Response {
                    request_id,
                    response,
                } => {
                    if let Some(reply) = self.waiting.remove(&request_id) {
                        let _ = reply.send(Ok(response));
                    }
                }
            },
            request_response::Event::OutboundFailure {
                request_id,
                error,
                peer,
                ..
            } => {
                if let Some(reply) = self.waiting.remove(&request_id) {
                    let _ = reply.send(Err(NetworkError::Request {
                        peer: peer.to_string(),
                        reason: error.to_string(),
                    }));
                }
            }
            _ => {}
        }
    }

    fn serve(
        &mut self,
        peer: PeerId,
        request: BlobRequest,
        channel: ResponseChannel<BlobResponse>,
    ) {
        let Some(blobs) = self.blobs.clone() else {
            return;
        };
        if let Err(error) = request.validate() {
            tracing::debug!(%peer, %error, "refused a blob request");
            return;
        }
        if self.reads_in_flight >= MAX_BLOB_READS_IN_FLIGHT {
            tracing::debug!(%peer, "dropped a blob request: too many reads in flight");
            return;
        }
        self.reads_in_flight += 1;
        let served = self.served_tx.clone();
        tokio::spawn(async move {
            let response = tokio::task::spawn_blocking(move || {
                match blobs.read_chunk(&request.hash, request.offset, request.max_len) {
                    Ok(Some((size, bytes))) => BlobResponse::Chunk { size, bytes },
                    Ok(None) => BlobResponse::NotFound,
                    Err(error) => {
                        tracing::warn!(%error, "cannot read a blob a member asked for");
                        BlobResponse::NotFound
                    }
                }
            })
            .await
            .unwrap_or(BlobResponse::NotFound);
            let _ = served.send((channel, response)).await;
        });
    }
}
