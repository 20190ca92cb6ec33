//! Framing of the sync and blob protocols on a libp2p stream: a 4-byte big-endian length, then
//! the message (protocol/SPEC.md section 8). Sizes are checked before reading.

use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use customs_protocol::attachment::{
    BlobRequest, BlobResponse, MAX_BLOB_REQUEST_BYTES, MAX_BLOB_RESPONSE_BYTES,
};
use customs_protocol::limits::{MAX_SYNC_REQUEST_BYTES, MAX_SYNC_RESPONSE_BYTES};
use customs_protocol::wire::{SyncRequest, SyncResponse, SYNC_PROTOCOL};
use futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use libp2p::StreamProtocol;

pub const PROTOCOL: StreamProtocol = StreamProtocol::new(SYNC_PROTOCOL);

/// The codec also counts the sync bytes it reads (frames and their length prefixes),
/// for the status and the benchmarks.
#[derive(Debug, Clone, Default)]
pub struct SyncCodec {
    pub bytes_received: Arc<AtomicU64>,
}

impl SyncCodec {
    fn count(&self, frame: &[u8]) {
        self.bytes_received
            .fetch_add(4 + frame.len() as u64, Ordering::Relaxed);
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

fn invalid(error: impl ToString) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, error.to_string())
}

impl libp2p::request_response::Codec for SyncCodec {
    type Protocol = StreamProtocol;
    type Request = SyncRequest;
    type Response = SyncResponse;

    async fn read_request<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<SyncRequest>
    where
        T: AsyncRead + Unpin + Send,
    {
        let frame = read_frame(io, MAX_SYNC_REQUEST_BYTES).await?;
        self.count(&frame);
        SyncRequest::decode(&frame).map_err(invalid)
    }

    async fn read_response<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<SyncResponse>
    where
        T: AsyncRead + Unpin + Send,
    {
        let frame = read_frame(io, MAX_SYNC_RESPONSE_BYTES).await?;
        self.count(&frame);
        let response = SyncResponse::decode(&frame).map_err(invalid)?;
        response.validate().map_err(invalid)?;
        Ok(response)
    }

    async fn write_request<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        request: SyncRequest,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        write_frame(io, &request.encode()).await
    }

    async fn write_response<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        response: SyncResponse,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        write_frame(io, &response.encode()).await
    }
}

pub const BLOB_PROTOCOL: StreamProtocol =
    StreamProtocol::new(customs_protocol::attachment::BLOB_PROTOCOL);

/// The blob protocol's framing: the same length-prefixed frames as sync, with the
/// blob messages' own limits.
#[derive(Debug, Clone, Default)]
pub struct BlobCodec;

impl libp2p::request_response::Codec for BlobCodec {
    type Protocol = StreamProtocol;
    type Request = BlobRequest;
    type Response = BlobResponse;

    async fn read_request<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<BlobRequest>
    where
        T: AsyncRead + Unpin + Send,
    {
        let frame = read_frame(io, MAX_BLOB_REQUEST_BYTES).await?;
        BlobRequest::decode(&frame).map_err(invalid)
    }

    async fn read_response<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<BlobResponse>
    where
        T: AsyncRead + Unpin + Send,
    {
        let frame = read_frame(io, MAX_BLOB_RESPONSE_BYTES).await?;
        BlobResponse::decode(&frame).map_err(invalid)
    }

    async fn write_request<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        request: BlobRequest,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        write_frame(io, &request.encode()).await
    }

    async fn write_response<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        response: BlobResponse,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        write_frame(io, &response.encode()).await
    }
}
