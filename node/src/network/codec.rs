//! Framing of the request-response protocols (sync and blobs) on a libp2p stream: a
//! 4-byte big-endian length, then the message (protocol/SPEC.md sections 8 and 15).
//! Sizes are checked before reading.

use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use customs_protocol::attachment::{
    BlobRequest, BlobResponse, BLOB_PROTOCOL as BLOB_PROTOCOL_NAME, MAX_BLOB_REQUEST_BYTES,
    MAX_BLOB_RESPONSE_BYTES,
};
use customs_protocol::limits::{MAX_SYNC_REQUEST_BYTES, MAX_SYNC_RESPONSE_BYTES};
use customs_protocol::wire::{SyncRequest, SyncResponse, SYNC_PROTOCOL};
use futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use libp2p::StreamProtocol;

pub const PROTOCOL: StreamProtocol = StreamProtocol::new(SYNC_PROTOCOL);
pub const BLOB_PROTOCOL: StreamProtocol = StreamProtocol::new(BLOB_PROTOCOL_NAME);

/// What one request-response protocol sends: its two messages, their size limits and
/// their encodings.
pub trait Messages: Clone + Send + 'static {
    type Request: Send;
    type Response: Send;
    const MAX_REQUEST_BYTES: usize;
    const MAX_RESPONSE_BYTES: usize;
    fn encode_request(request: &Self::Request) -> Vec<u8>;
    fn decode_request(frame: &[u8]) -> Result<Self::Request, String>;
    fn encode_response(response: &Self::Response) -> Vec<u8>;
    /// Decodes an answer and checks what the asking node can check before using it.
    fn decode_response(frame: &[u8]) -> Result<Self::Response, String>;
    /// Sees every frame read (for counters).
    fn read(&self, _frame: &[u8]) {}
}

/// A libp2p codec for the messages `M`.
#[derive(Debug, Clone, Default)]
pub struct FramedCodec<M>(pub M);

/// The sync protocol's messages. The codec counts the sync bytes it reads (frames and
/// their length prefixes), for the status and the benchmarks.
#[derive(Debug, Clone, Default)]
pub struct SyncMessages {
    pub bytes_received: Arc<AtomicU64>,
}

pub type SyncCodec = FramedCodec<SyncMessages>;

impl Messages for SyncMessages {
    type Request = SyncRequest;
    type Response = SyncResponse;
    const MAX_REQUEST_BYTES: usize = MAX_SYNC_REQUEST_BYTES;
    const MAX_RESPONSE_BYTES: usize = MAX_SYNC_RESPONSE_BYTES;

    fn encode_request(request: &SyncRequest) -> Vec<u8> {
        request.encode()
    }

    fn decode_request(frame: &[u8]) -> Result<SyncRequest, String> {
        SyncRequest::decode(frame).map_err(|e| e.to_string())
    }

    fn encode_response(response: &SyncResponse) -> Vec<u8> {
        response.encode()
    }

    fn decode_response(frame: &[u8]) -> Result<SyncResponse, String> {
        let response = SyncResponse::decode(frame).map_err(|e| e.to_string())?;
        response.validate().map_err(|e| e.to_string())?;
        Ok(response)
    }

    fn read(&self, frame: &[u8]) {
        self.bytes_received
            .fetch_add(4 + frame.len() as u64, Ordering::Relaxed);
    }
}

/// The blob protocol's messages.
#[derive(Debug, Clone, Default)]
pub struct BlobMessages;

pub type BlobCodec = FramedCodec<BlobMessages>;

impl Messages for BlobMessages {
    type Request = BlobRequest;
    type Response = BlobResponse;
    const MAX_REQUEST_BYTES: usize = MAX_BLOB_REQUEST_BYTES;
    const MAX_RESPONSE_BYTES: usize = MAX_BLOB_RESPONSE_BYTES;

    fn encode_request(request: &BlobRequest) -> Vec<u8> {
        request.encode()
    }

    fn decode_request(frame: &[u8]) -> Result<BlobRequest, String> {
        BlobRequest::decode(frame).map_err(|e| e.to_string())
    }

    fn encode_response(response: &BlobResponse) -> Vec<u8> {
        response.encode()
    }

    fn decode_response(frame: &[u8]) -> Result<BlobResponse, String> {
        BlobResponse::decode(frame).map_err(|e| e.to_string())
    }
}

async fn read_frame<T: AsyncRead + Unpin + Send>(io: &mut T, limit: usize) -> io::Result<Vec<u8>> {
    let mut len = [0u8; 4];
    io.read_exact(&mut len).await?;
    let len = u32::from_be_bytes(len) as usize;
    if len > limit {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("frame of {len} bytes is over the limit of {limit}"),
        ));
    }
    let mut frame = vec![0u8; len];
    io.read_exact(&mut frame).await?;
    Ok(frame)
}

async fn write_frame<T: AsyncWrite + Unpin + Send>(io: &mut T, bytes: &[u8]) -> io::Result<()> {
    io.write_all(&(bytes.len() as u32).to_be_bytes()).await?;
    io.write_all(bytes).await?;
    io.close().await
}

fn invalid(error: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, error)
}

impl<M: Messages> libp2p::request_response::Codec for FramedCodec<M> {
    type Protocol = StreamProtocol;
    type Request = M::Request;
    type Response = M::Response;

    async fn read_request<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<M::Request>
    where
        T: AsyncRead + Unpin + Send,
    {
        let frame = read_frame(io, M::MAX_REQUEST_BYTES).await?;
        self.0.read(&frame);
        M::decode_request(&frame).map_err(invalid)
    }

    async fn read_response<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<M::Response>
    where
        T: AsyncRead + Unpin + Send,
    {
        let frame = read_frame(io, M::MAX_RESPONSE_BYTES).await?;
        self.0.read(&frame);
        M::decode_response(&frame).map_err(invalid)
    }

    async fn write_request<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        request: M::Request,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        write_frame(io, &M::encode_request(&request)).await
    }

    async fn write_response<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        response: M::Response,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        write_frame(io, &M::encode_response(&response)).await
    }
}
