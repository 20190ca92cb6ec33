//! Attachment blobs on disk, beside the segment log (`store/blobs/`): content-
//! addressed files, each written whole and made durable before anything names it.
//!
//! | directory | what | served to members | removed |
//! |---|---|---|---|
//! | `uploads/` | uploaded through the API, in no record yet | no | once older than [`BlobLimits::upload_ttl_ms`]: at open, or when the upload budget is full |
//! | `own/` | listed by a record this node signed (an open record's blob, a sealed record's ciphertext) | yes | never |
//! | `fetched/` | fetched from a member for a record this node holds | yes | least recently read first, beyond [`BlobLimits::cache_bytes`] |
//! | `partial/` | a fetch in progress: the next one resumes at its length | no | when done, refused, or at open after a day |
//! | `tmp/` | a file being written | no | at open |
//!
//! A sealed record's blob is stored and served only as its ciphertext; the plaintext
//! is decrypted for the node's own API on each read and never kept in `fetched/`,
//! so a member that is not a recipient cannot confirm a guess of it.
//!
//! Architecture Invariant: everything here blocks (files); async callers run it on
//! blocking threads.

pub mod fetch;
pub mod prefetch;

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use customs_protocol::attachment::{sniff, strip_metadata, BlobError};
use customs_protocol::limits::MAX_ATTACHMENT_BYTES;
use customs_protocol::{BlobHash, MediaType};
use sha2::{Digest, Sha256};
use thiserror::Error;

use crate::files::{create_private_dir, PRIVATE_FILE_MODE};

/// The bounds of the blob store (the `[store]` section's `blob_*` settings).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobLimits {
    /// Bytes of blobs fetched from members kept on disk; beyond, the least recently
    /// read are removed (own blobs are never removed and do not count).
    pub cache_bytes: u64,
    /// Bytes of uploads waiting to be published; an upload beyond is refused.
    pub upload_bytes: u64,
    /// An upload no record lists is removed after this long.
    pub upload_ttl_ms: u64,
}

impl Default for BlobLimits {
    fn default() -> Self {
        BlobLimits {
            cache_bytes: 2 * 1024 * 1024 * 1024,
            upload_bytes: 512 * 1024 * 1024,
            upload_ttl_ms: 24 * 3600 * 1000,
        }
    }
}

#[derive(Debug, Error)]
pub enum BlobStoreError {
    #[error(transparent)]
    Invalid(#[from] BlobError),
    #[error("uploads waiting to be published take {used} bytes of the {limit} allowed (store.blob_upload_bytes): publish them or wait until they expire")]
    UploadsFull { used: u64, limit: u64 },
    #[error("blob {0} is not on this node: upload it first (POST /api/v1/attachments)")]
    Missing(BlobHash),
    #[error("the blob store at {path}: {reason}")]
    Io { path: PathBuf, reason: String },
}

/// Where a blob is kept; see the module's table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Upload,
    Own,
    Fetched,
}

impl Kind {
    fn dir(&self) -> &'static str {
        match self {
            Kind::Upload => "uploads",
            Kind::Own => "own",
            Kind::Fetched => "fetched",
        }
    }
}

/// A blob as stored: its hash, size and (sniffed) media type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stored {
    pub hash: BlobHash,
    pub size: u64,
    pub media_type: Option<MediaType>,
}

#[derive(Debug, Default)]
struct Usage {
    uploads: u64,
    fetched: u64,
}

/// The blob directory of one store.
#[derive(Debug)]
pub struct Blobs {
    root: PathBuf,
    limits: BlobLimits,
    usage: Mutex<Usage>,
    next_temporary: AtomicU64,
    /// Fetched blobs removed to keep the cache within its budget, since the start.
    evicted: AtomicU64,
}

/// Partial fetches older than this are removed at open.
const PARTIAL_MAX_AGE: Duration = Duration::from_secs(24 * 3600);

impl Blobs {
    /// Opens (or creates) the blob directory `root`: removes what a crash left in
    /// `tmp/`, expired uploads and stale partial fetches, and counts the rest.
    pub fn open(root: &Path, limits: BlobLimits) -> Result<Blobs, BlobStoreError> {
        let blobs = Blobs {
            root: root.to_path_buf(),
            limits,
            usage: Mutex::new(Usage::default()),
            next_temporary: AtomicU64::new(0),
            evicted: AtomicU64::new(0),
        };
        for dir in ["uploads", "own", "fetched", "partial", "tmp"] {
            create_private_dir(&root.join(dir)).map_err(|e| blobs.io(&root.join(dir), e))?;
        }
        for (path, _, _) in blobs.list("tmp")? {
            fs::remove_file(&path).map_err(|e| blobs.io(&path, e))?;
        }
        let now = SystemTime::now();
        for (path, _, modified) in blobs.list("partial")? {
            if now.duration_since(modified).unwrap_or_default() > PARTIAL_MAX_AGE {
                fs::remove_file(&path).map_err(|e| blobs.io(&path, e))?;
            }
        }
        blobs.expire_uploads()?;
        let fetched = blobs.list("fetched")?.iter().map(|(_, size, _)| size).sum();
        blobs.usage().fetched = fetched;
        blobs.evict()?;
        Ok(blobs)
    }

    fn usage(&self) -> std::sync::MutexGuard<'_, Usage> {
        self.usage.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn io(&self, path: &Path, error: impl std::fmt::Display) -> BlobStoreError {
        BlobStoreError::Io {
            path: path.to_path_buf(),
            reason: error.to_string(),
        }
    }

    fn path(&self, kind: Kind, hash: &BlobHash) -> PathBuf {
        self.root.join(kind.dir()).join(hash.to_hex())
    }

    fn partial_path(&self, hash: &BlobHash) -> PathBuf {
        self.root.join("partial").join(hash.to_hex())
    }

    /// The files of `dir` with their sizes and modification times.
    fn list(&self, dir: &str) -> Result<Vec<(PathBuf, u64, SystemTime)>, BlobStoreError> {
        let dir = self.root.join(dir);
        let mut files = Vec::new();
        for item in fs::read_dir(&dir).map_err(|e| self.io(&dir, e))? {
            let item = item.map_err(|e| self.io(&dir, e))?;
            let meta = item.metadata().map_err(|e| self.io(&item.path(), e))?;
            if meta.is_file() {
                let modified = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
                files.push((item.path(), meta.len(), modified));
            }
        }
        Ok(files)
    }

    /// Removes uploads older than the TTL; counts the others.
    fn expire_uploads(&self) -> Result<(), BlobStoreError> {
        let ttl = Duration::from_millis(self.limits.upload_ttl_ms);
        let now = SystemTime::now();
        let mut kept = 0;
        for (path, size, modified) in self.list("uploads")? {
            if now.duration_since(modified).unwrap_or_default() > ttl {
                fs::remove_file(&path).map_err(|e| self.io(&path, e))?;
            } else {
                kept += size;
            }
        }
        self.usage().uploads = kept;
        Ok(())
    }

    /// Removes the least recently read fetched blobs until they fit the budget.
    fn evict(&self) -> Result<(), BlobStoreError> {
        if self.usage().fetched <= self.limits.cache_bytes {
            return Ok(());
        }
        let mut fetched = self.list("fetched")?;
        fetched.sort_by_key(|(_, _, modified)| *modified);
        let mut usage = self.usage();
        usage.fetched = fetched.iter().map(|(_, size, _)| size).sum();
        for (path, size, _) in fetched {
            if usage.fetched <= self.limits.cache_bytes {
                break;
            }
            fs::remove_file(&path).map_err(|e| self.io(&path, e))?;
            usage.fetched -= size;
            self.evicted.fetch_add(1, Ordering::Relaxed);
            tracing::info!(blob = %path.display(), size, "removed a fetched blob: the blob cache is over store.blob_cache_bytes");
        }
        Ok(())
    }

    /// Writes `bytes` as the blob `hash` of `kind`, durably (a temporary file, synced,
    /// renamed into place, the directory synced).
    fn write(&self, kind: Kind, hash: &BlobHash, bytes: &[u8]) -> Result<(), BlobStoreError> {
        // Every caller hashed `bytes` just before (hashing 10 MiB again costs more than
        // the write); every read checks the hash after.
        debug_assert_eq!(BlobHash::of(bytes), *hash);
        let number = self.next_temporary.fetch_add(1, Ordering::Relaxed);
        let temporary = self
            .root
            .join("tmp")
            .join(format!("{}-{number}", hash.to_hex()));
        let target = self.path(kind, hash);
        let result = (|| {
            let mut file = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(PRIVATE_FILE_MODE)
                .open(&temporary)?;
            file.write_all(bytes)?;
            file.sync_all()?;
            fs::rename(&temporary, &target)?;
            File::open(target.parent().unwrap_or(&self.root))?.sync_all()
        })();
        if let Err(error) = result {
            let _ = fs::remove_file(&temporary);
            return Err(self.io(&target, error));
        }
        Ok(())
    }

    /// The kind a blob is kept as, if this node holds it.
    fn find(&self, hash: &BlobHash) -> Option<Kind> {
        [Kind::Own, Kind::Fetched, Kind::Upload]
            .into_iter()
            .find(|kind| self.path(*kind, hash).is_file())
    }

    /// Stores an upload: checks it is a `declared` file, removes its image metadata,
    /// and keeps it under the hash of what is left (until a record lists it or it
    /// expires). Nothing is stored for a refused upload.
    pub fn upload(&self, declared: MediaType, raw: &[u8]) -> Result<Stored, BlobStoreError> {
        let bytes = strip_metadata(declared, raw)?;
        let hash = BlobHash::of(&bytes);
        let size = bytes.len() as u64;
        let stored = Stored {
            hash,
            size,
            media_type: Some(declared),
        };
        match self.find(&hash) {
            Some(Kind::Upload) => {
                // Uploaded again: its time to live starts again.
                let path = self.path(Kind::Upload, &hash);
                let file = File::options()
                    .write(true)
                    .open(&path)
                    .map_err(|e| self.io(&path, e))?;
                file.set_modified(SystemTime::now())
                    .map_err(|e| self.io(&path, e))?;
                return Ok(stored);
            }
            Some(_) => return Ok(stored),
            None => {}
        }
        // Expired uploads are counted until a full budget looks for them (and at open).
        if self.usage().uploads + size > self.limits.upload_bytes {
            self.expire_uploads()?;
        }
        let used = self.usage().uploads;
        if used + size > self.limits.upload_bytes {
            return Err(BlobStoreError::UploadsFull {
                used,
                limit: self.limits.upload_bytes,
            });
        }
        self.write(Kind::Upload, &hash, &bytes)?;
        self.usage().uploads += size;
        Ok(stored)
    }

    /// The blob `hash` for a record this node signs: its size and media type, and it
    /// is kept from now on as the node's own (moved from the uploads or the cache).
    pub fn adopt(&self, hash: &BlobHash) -> Result<Stored, BlobStoreError> {
        let kind = self.find(hash).ok_or(BlobStoreError::Missing(*hash))?;
        let from = self.path(kind, hash);
        let size = fs::metadata(&from).map_err(|e| self.io(&from, e))?.len();
        let media_type = self.media_type(&from)?;
        if kind != Kind::Own {
            let to = self.path(Kind::Own, hash);
            fs::rename(&from, &to).map_err(|e| self.io(&to, e))?;
            File::open(self.root.join("own"))
                .and_then(|dir| dir.sync_all())
                .map_err(|e| self.io(&to, e))?;
            let mut usage = self.usage();
            match kind {
                Kind::Upload => usage.uploads = usage.uploads.saturating_sub(size),
                _ => usage.fetched = usage.fetched.saturating_sub(size),
            }
        }
        Ok(Stored {
            hash: *hash,
            size,
            media_type,
        })
    }

    /// The media type a stored file starts like.
    fn media_type(&self, path: &Path) -> Result<Option<MediaType>, BlobStoreError> {
        let mut head = [0u8; 8];
        let mut file = File::open(path).map_err(|e| self.io(path, e))?;
        let read = file.read(&mut head).map_err(|e| self.io(path, e))?;
        Ok(sniff(&head[..read]))
    }

    /// Keeps `bytes` (a sealed record's ciphertext) as the node's own blob.
    pub fn put_own(&self, bytes: &[u8]) -> Result<BlobHash, BlobStoreError> {
        let hash = BlobHash::of(bytes);
        if self.find(&hash) != Some(Kind::Own) {
            self.write(Kind::Own, &hash, bytes)?;
        }
        Ok(hash)
    }

    /// The bytes of the blob `hash`, whichever way this node holds it (for its own
    /// API). A read counts as a use for the cache's order.
    pub fn read(&self, hash: &BlobHash) -> Result<Option<Vec<u8>>, BlobStoreError> {
        let Some(kind) = self.find(hash) else {
            return Ok(None);
        };
        let path = self.path(kind, hash);
        let bytes = match fs::read(&path) {
            Ok(bytes) => bytes,
            // Evicted or expired since `find`.
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(self.io(&path, e)),
        };
        if kind == Kind::Fetched {
            if let Ok(file) = File::options().write(true).open(&path) {
                let _ = file.set_modified(SystemTime::now());
            }
        }
        Ok(Some(bytes))
    }

    /// Up to `max_len` bytes of a blob this node may serve to members (its own or
    /// fetched ones, never uploads) from `offset`, with the blob's size.
    pub fn read_chunk(
        &self,
        hash: &BlobHash,
        offset: u64,
        max_len: u32,
    ) -> Result<Option<(u64, Vec<u8>)>, BlobStoreError> {
        for kind in [Kind::Own, Kind::Fetched] {
            let path = self.path(kind, hash);
            let mut file = match File::open(&path) {
                Ok(file) => file,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(self.io(&path, e)),
            };
            let size = file.metadata().map_err(|e| self.io(&path, e))?.len();
            let len = size.saturating_sub(offset).min(u64::from(max_len));
            let mut bytes = vec![0u8; len as usize];
            file.seek(SeekFrom::Start(offset.min(size)))
                .and_then(|_| file.read_exact(&mut bytes))
                .map_err(|e| self.io(&path, e))?;
            return Ok(Some((size, bytes)));
        }
        Ok(None)
    }

    /// How many bytes of `hash` an earlier fetch left.
    pub fn partial_len(&self, hash: &BlobHash) -> u64 {
        fs::metadata(self.partial_path(hash)).map_or(0, |m| m.len())
    }

    /// Appends `bytes` at `offset` of the partial fetch of `hash` (which must be its
    /// length: chunks arrive in order).
    pub fn append_partial(
        &self,
        hash: &BlobHash,
        offset: u64,
        bytes: &[u8],
    ) -> Result<(), BlobStoreError> {
        let path = self.partial_path(hash);
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .mode(PRIVATE_FILE_MODE)
            .open(&path)
            .map_err(|e| self.io(&path, e))?;
        let len = file.metadata().map_err(|e| self.io(&path, e))?.len();
        if len != offset {
            return Err(self.io(
                &path,
                format!("a chunk for offset {offset} came to a partial blob of {len} bytes"),
            ));
        }
        file.write_all(bytes).map_err(|e| self.io(&path, e))
    }

    /// Ends a fetch whose partial file holds the whole blob: keeps it in the cache if
    /// its bytes hash to `hash`, removes it otherwise. Returns whether they matched.
    pub fn finish_partial(&self, hash: &BlobHash) -> Result<bool, BlobStoreError> {
        let path = self.partial_path(hash);
        let mut file = File::open(&path).map_err(|e| self.io(&path, e))?;
        let mut hasher = Sha256::new();
        let size = io::copy(&mut file, &mut hasher).map_err(|e| self.io(&path, e))?;
        if BlobHash(hasher.finalize().into()) != *hash || size > MAX_ATTACHMENT_BYTES + 16 {
            self.discard_partial(hash);
            return Ok(false);
        }
        file.sync_all().map_err(|e| self.io(&path, e))?;
        let target = self.path(Kind::Fetched, hash);
        fs::rename(&path, &target).map_err(|e| self.io(&target, e))?;
        File::open(self.root.join("fetched"))
            .and_then(|dir| dir.sync_all())
            .map_err(|e| self.io(&target, e))?;
        self.usage().fetched += size;
        self.evict()?;
        Ok(true)
    }

    /// Forgets a partial fetch (its bytes were refused).
    pub fn discard_partial(&self, hash: &BlobHash) {
        let _ = fs::remove_file(self.partial_path(hash));
    }

    /// Bytes of fetched blobs and of uploads now held.
    pub fn usage_bytes(&self) -> (u64, u64) {
        let usage = self.usage();
        (usage.fetched, usage.uploads)
    }

    /// Fetched blobs evicted since the start.
    pub fn evicted(&self) -> u64 {
        self.evicted.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests;
