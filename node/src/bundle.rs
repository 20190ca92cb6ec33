//! Bundles: every entry of a store in one file, for backups and for carrying entries to
//! a node that cannot reach the network (air-gapped catch-up).
//!
//! Layout (integers big-endian):
//!
//! ```text
//! magic    "CUSTOMS-BUNDLE\0"              15 bytes
//! version  1                               1 byte
//! network  length (1 byte) + UTF-8 bytes
//! count    number of entries               8 bytes
//! entries  count x (length, 4 bytes + signed entry bytes exactly as signed)
//! checksum SHA-256 of every byte before it 32 bytes
//! ```
//!
//! Entries are in chain order (author by author, seq ascending), then the second
//! halves of fork proofs. Every entry is verified on import like one from the network;
//! the checksum catches a bundle cut short or altered outside the signed bytes.

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use customs_protocol::limits::{MAX_NETWORK_ID_BYTES, MAX_SIGNED_ENTRY_BYTES};
use sha2::{Digest, Sha256};
use thiserror::Error;

use crate::admission::Admission;
use crate::clock::now_ms;
use crate::store::{Outcome, Store, StoreError};

pub const BUNDLE_MAGIC: &[u8; 15] = b"CUSTOMS-BUNDLE\0";
pub const BUNDLE_VERSION: u8 = 1;
use crate::limits::EXPORT_PAGE_BYTES;
use crate::limits::EXPORT_PAGE_ENTRIES;
pub use crate::limits::IMPORT_BATCH_ENTRIES;

#[derive(Debug, Error)]
pub enum BundleError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write the bundle: {0}")]
    Output(std::io::Error),
    #[error("{0} exists already; choose another file (a bundle is never overwritten)")]
    Exists(PathBuf),
    #[error("{0} is not a bundle: it does not start with the bundle header")]
    NotABundle(PathBuf),
    #[error("bundle version {0} is not supported (this node reads version {BUNDLE_VERSION})")]
    Version(u8),
    #[error("the bundle belongs to network {found:?}, not {expected:?}; nothing was imported")]
    OtherNetwork { expected: String, found: String },
    #[error("the bundle is cut short after {read} of {count} entries; nothing was imported")]
    Truncated { read: u64, count: u64 },
    #[error("entry {index} of the bundle is refused ({reason}: {message}); nothing was imported")]
    Refused {
        index: u64,
        reason: &'static str,
        message: String,
    },
    #[error("the bundle's checksum does not match: it was altered or damaged after export; nothing was imported")]
    Checksum,
    #[error(
        "the store changed during the export ({expected} entries expected, {written} written)"
    )]
    Changed { expected: u64, written: u64 },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A writer that hashes what it writes.
struct Hashing<W> {
    inner: W,
    hash: Sha256,
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hash.update(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Writes every entry of `store`, as of now, as a bundle into `out`: entries stored
/// while it writes are left for the next bundle, so the count in the header holds even
/// on a running node. Returns the number of entries.
pub fn write_bundle(store: &Store, out: impl Write) -> Result<u64, BundleError> {
    let frontier = store.frontier()?;
    let fork_count = store.fork_proof_count()?;
    // Chains are complete from seq 1 (the store's invariant): a head's seq is its count.
    let count: u64 = frontier.heads().map(|h| h.seq).sum::<u64>() + fork_count;
    let write_error = BundleError::Output;
    let mut writer = Hashing {
        inner: out,
        hash: Sha256::new(),
    };
    let network = store.network().as_bytes();
    let header = [
        &BUNDLE_MAGIC[..],
        &[BUNDLE_VERSION, network.len() as u8],
        network,
        &count.to_be_bytes(),
    ];
    for part in header {
        writer.write_all(part).map_err(write_error)?;
    }
    let mut written = 0u64;
    let mut put = |bytes: &[u8], writer: &mut Hashing<_>| {
        written += 1;
        writer
            .write_all(&(bytes.len() as u32).to_be_bytes())
            .and_then(|()| writer.write_all(bytes))
            .map_err(write_error)
    };
    for head in frontier.heads() {
        let mut from_seq = 1;
        while from_seq <= head.seq {
            let page = store.entries_from(
                &head.author,
                from_seq,
                EXPORT_PAGE_ENTRIES,
                EXPORT_PAGE_BYTES,
            )?;
            let in_snapshot = page.entries.iter().filter(|e| e.entry().seq <= head.seq);
            for entry in in_snapshot {
                put(&entry.encode(), &mut writer)?;
                from_seq = entry.entry().seq + 1;
            }
            if !page.more || page.entries.is_empty() {
                break;
            }
        }
    }
    // Proofs stored since the count are left for the next bundle, like entries.
    for proof in store.fork_proofs().take(fork_count as usize) {
        put(&proof?.second.encode(), &mut writer)?;
    }
    if written != count {
        return Err(BundleError::Changed {
            expected: count,
            written,
        });
    }
    let checksum: [u8; 32] = writer.hash.clone().finalize().into();
    writer.inner.write_all(&checksum).map_err(write_error)?;
    writer.inner.flush().map_err(write_error)?;
    Ok(count)
}

/// Writes a bundle of `store` to a new file `out` (a temporary file, synced, then
/// renamed into place). Returns the number of entries.
pub fn export(store: &Store, out: &Path) -> Result<u64, BundleError> {
    write_file(out, |writer| write_bundle(store, writer))
}

/// Creates the new file `out` from what `fill` writes: into `out.partial`, synced, then
/// renamed, so that `out` is either complete or absent. Never overwrites.
pub fn write_file<T>(
    out: &Path,
    fill: impl FnOnce(&mut BufWriter<File>) -> Result<T, BundleError>,
) -> Result<T, BundleError> {
    if out.exists() {
        return Err(BundleError::Exists(out.to_path_buf()));
    }
    let write_error = |source| BundleError::Write {
        path: out.to_path_buf(),
        source,
    };
    let temporary = out.with_extension("partial");
    let mut writer = BufWriter::new(File::create(&temporary).map_err(write_error)?);
    let result = fill(&mut writer).and_then(|value| {
        let file = writer
            .into_inner()
            .map_err(|e| write_error(e.into_error()))?;
        file.sync_all().map_err(write_error)?;
        std::fs::rename(&temporary, out).map_err(write_error)?;
        Ok(value)
    });
    if result.is_err() {
        let _ = std::fs::remove_file(&temporary);
    }
    result
}

/// A bundle read from standard input into a private file in the node directory
/// (an import reads a bundle twice); removed when dropped.
#[derive(Debug)]
pub struct Spooled(PathBuf);

impl Spooled {
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Spooled {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Copies standard input into `DIR/import-PID.bundle` (mode 0600).
pub fn spool_stdin(dir: &Path) -> Result<Spooled, BundleError> {
    let path = dir.join(format!("import-{}.bundle", std::process::id()));
    let write_error = |source| BundleError::Write {
        path: path.clone(),
        source,
    };
    let mut file = crate::files::create_new_private(&path).map_err(write_error)?;
    let spooled = Spooled(path.clone());
    std::io::copy(&mut std::io::stdin().lock(), &mut file).map_err(write_error)?;
    file.sync_all().map_err(write_error)?;
    Ok(spooled)
}

/// What an import did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ImportReport {
    /// Entries in the bundle.
    pub count: u64,
    /// Newly stored (fork proofs included).
    pub applied: u64,
    /// Held already.
    pub duplicates: u64,
    /// Waiting for an earlier entry the bundle did not carry (kept in memory only, so
    /// lost when the command ends; a sync fetches them).
    pub pending: u64,
    /// Dated before the entry they follow in their author's chain: refused, as every
    /// member refuses them (SPEC.md section 7).
    pub backdated: u64,
}

/// A reader that hashes what it reads.
struct HashingReader<R> {
    inner: R,
    hash: Sha256,
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hash.update(&buf[..n]);
        Ok(n)
    }
}

/// Reads the bundle `file` whole, handing its entries to `each_batch` in batches of
/// [`IMPORT_BATCH_ENTRIES`] (with the bundle index of the batch's first entry), and
/// checks its framing, network and checksum. Returns the entry count.
fn read_entries(
    file: &Path,
    network: &str,
    mut each_batch: impl FnMut(&[Vec<u8>], u64) -> Result<(), BundleError>,
) -> Result<u64, BundleError> {
    let read_error = |source| BundleError::Read {
        path: file.to_path_buf(),
        source,
    };
    let opened = File::open(file).map_err(read_error)?;
    let mut reader = HashingReader {
        inner: BufReader::new(opened),
        hash: Sha256::new(),
    };
    let (found, count) = read_header(&mut reader, file)?;
    if found != network {
        return Err(BundleError::OtherNetwork {
            expected: network.to_string(),
            found,
        });
    }
    let truncated = |read| BundleError::Truncated { read, count };
    let mut index = 0u64;
    let mut batch: Vec<Vec<u8>> = Vec::new();
    while index < count {
        batch.clear();
        while batch.len() < IMPORT_BATCH_ENTRIES && index + (batch.len() as u64) < count {
            let at = index + batch.len() as u64;
            let mut length = [0u8; 4];
            reader.read_exact(&mut length).map_err(|_| truncated(at))?;
            let length = u32::from_be_bytes(length) as usize;
            if length > MAX_SIGNED_ENTRY_BYTES {
                return Err(BundleError::Refused {
                    index: at,
                    reason: "TooLarge",
                    message: format!("{length} bytes, more than {MAX_SIGNED_ENTRY_BYTES}"),
                });
            }
            let mut entry = vec![0u8; length];
            reader.read_exact(&mut entry).map_err(|_| truncated(at))?;
            batch.push(entry);
        }
        each_batch(&batch, index)?;
        index += batch.len() as u64;
    }
    let expected: [u8; 32] = reader.hash.clone().finalize().into();
    let mut checksum = [0u8; 32];
    reader
        .inner
        .read_exact(&mut checksum)
        .map_err(|_| truncated(index))?;
    let mut rest = [0u8; 1];
    if checksum != expected || reader.inner.read(&mut rest).map_err(read_error)? != 0 {
        return Err(BundleError::Checksum);
    }
    Ok(count)
}

/// Checks the bundle `file` whole, as an import would, without writing anything: its
/// framing and checksum, and every entry's signature and admission to this network.
/// `progress(done, total)` is called after each batch. Returns the entry count.
pub fn verify(
    admission: &Admission,
    file: &Path,
    mut progress: impl FnMut(u64, u64),
) -> Result<u64, BundleError> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let total = peek_count(file)?;
    read_entries(file, &admission.network, |batch, first_index| {
        let checked = admission.check_all(batch, threads, now_ms());
        if let Some((offset, Err(rejection))) =
            checked.into_iter().enumerate().find(|(_, r)| r.is_err())
        {
            return Err(BundleError::Refused {
                index: first_index + offset as u64,
                reason: rejection.reason,
                message: rejection.message,
            });
        }
        progress(first_index + batch.len() as u64, total);
        Ok(())
    })
}

/// The governance entries a bundle carries (signatures checked; whether their
/// authors may act is the membership rule's to judge). An import admits entries by
/// the membership these and the store's own make, so that a bundle restores a
/// governed network's members along with their records.
pub fn governance_events(
    file: &Path,
    network: &str,
) -> Result<Vec<customs_protocol::governance::GovernanceEvent>, BundleError> {
    let mut events = Vec::new();
    read_entries(file, network, |batch, _| {
        for bytes in batch {
            let Ok(entry) = customs_protocol::VerifiedEntry::from_bytes(bytes) else {
                continue;
            };
            events.extend(customs_protocol::governance::GovernanceEvent::of_entry(
                entry.id(),
                entry.entry(),
            ));
        }
        Ok(())
    })?;
    Ok(events)
}

/// The entry count a bundle's header announces.
fn peek_count(file: &Path) -> Result<u64, BundleError> {
    let mut opened = BufReader::new(File::open(file).map_err(|source| BundleError::Read {
        path: file.to_path_buf(),
        source,
    })?);
    Ok(read_header(&mut opened, file)?.1)
}

/// The two passes of an import, for progress reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pass {
    Checking,
    Storing,
}

/// Imports the bundle `file`: first checks it whole ([`verify`]), so that a damaged,
/// cut short or refused bundle imports nothing; then stores its entries in batches.
/// `progress(pass, done, total)` is called after each batch of either pass.
pub fn import(
    store: &Store,
    admission: &Admission,
    file: &Path,
    mut progress: impl FnMut(Pass, u64, u64),
) -> Result<ImportReport, BundleError> {
    let count = verify(admission, file, |done, total| {
        progress(Pass::Checking, done, total)
    })?;
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut report = ImportReport {
        count,
        ..ImportReport::default()
    };
    // The file was checked whole: only a file changed since can fail now.
    read_entries(file, store.network(), |batch, first_index| {
        store_batch(store, admission, batch, first_index, threads, &mut report)?;
        progress(Pass::Storing, first_index + batch.len() as u64, count);
        Ok(())
    })?;
    store.flush()?;
    report.pending = store.pending_len() as u64;
    Ok(report)
}

/// Reads a bundle's header: its network and its entry count.
pub fn read_header(reader: &mut impl Read, file: &Path) -> Result<(String, u64), BundleError> {
    let mut magic = [0u8; 15];
    let mut byte = [0u8; 1];
    if reader.read_exact(&mut magic).is_err() || &magic != BUNDLE_MAGIC {
        return Err(BundleError::NotABundle(file.to_path_buf()));
    }
    reader
        .read_exact(&mut byte)
        .map_err(|_| BundleError::NotABundle(file.to_path_buf()))?;
    if byte[0] != BUNDLE_VERSION {
        return Err(BundleError::Version(byte[0]));
    }
    let cut = || BundleError::Truncated { read: 0, count: 0 };
    reader.read_exact(&mut byte).map_err(|_| cut())?;
    let mut network = vec![0u8; usize::from(byte[0]).min(MAX_NETWORK_ID_BYTES)];
    reader.read_exact(&mut network).map_err(|_| cut())?;
    let mut count = [0u8; 8];
    reader.read_exact(&mut count).map_err(|_| cut())?;
    Ok((
        String::from_utf8_lossy(&network).into_owned(),
        u64::from_be_bytes(count),
    ))
}

/// Checks a batch (`first_index` is the bundle index of its first entry) and stores
/// it; an entry refused now (the file changed since it was verified) stops the import.
fn store_batch(
    store: &Store,
    admission: &Admission,
    batch: &[Vec<u8>],
    first_index: u64,
    threads: usize,
    report: &mut ImportReport,
) -> Result<(), BundleError> {
    let mut good = Vec::with_capacity(batch.len());
    for (offset, result) in admission
        .check_all(batch, threads, now_ms())
        .into_iter()
        .enumerate()
    {
        match result {
            Ok(entry) => good.push(entry),
            Err(rejection) => {
                return Err(BundleError::Refused {
                    index: first_index + offset as u64,
                    reason: rejection.reason,
                    message: rejection.message,
                })
            }
        }
    }
    let ingested = store.ingest(good)?;
    // `applied` includes entries released from the pending buffer by this batch.
    report.applied += (ingested.applied.len() + ingested.count(Outcome::Fork)) as u64;
    report.duplicates += ingested.count(Outcome::Duplicate) as u64;
    report.backdated += ingested.count(Outcome::Backdated) as u64;
    Ok(())
}
