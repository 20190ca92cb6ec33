//! Upgrades a store of format v2 (a sled database, entries inside its log rows) to v3
//! (entries in segment files, an index database beside them), in place, at the
//! first open.
//!
//! The new store is built beside the old one (`DIR.upgrading`) and swapped in only
//! once it is complete and durable: a failed or interrupted upgrade leaves the old
//! store as it was, and the next start tries again. Every index row but the log's is
//! copied as it is; entries are checked against their ids on the way.

use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use customs_protocol::{EntryId, PublicKey, SignedEntry};

use super::index::{Batch, Db};
use super::layout::*;
use super::segments::{frame, Position, Segments};
use super::{open_db, panic_text, StoreConfig, StoreError};
use crate::limits::{LOCK_RETRY_PAUSE, OPEN_LOCK_WAIT};

/// Rows written to the new index per batch.
const ROWS_PER_BATCH: usize = 10_000;
/// Frames gathered before they are written.
const WRITE_BYTES: usize = 4 << 20;
/// Marks a finished new store, before the swap.
const COMPLETE: &str = "upgrade-complete";

/// `DIR.NAME`, beside the store.
fn beside(path: &Path, name: &str) -> PathBuf {
    let mut sibling = path.as_os_str().to_owned();
    sibling.push(format!(".{name}"));
    PathBuf::from(sibling)
}

fn failed(path: &Path, why: impl std::fmt::Display) -> StoreError {
    StoreError::Open {
        path: path.to_path_buf(),
        reason: format!("upgrading the store to format v3 failed ({why}); the old store is untouched and the next start tries again"),
    }
}

/// Whether the store at `path` is of format v2 (it has a database and no segments).
/// Only such a store is opened to read its format.
pub fn upgrade_needed(path: &Path) -> bool {
    path.join("db").exists() && !path.join("segments").exists()
}

/// Upgrades the store of `config` if it is of format v2; finishes an upgrade that was
/// interrupted between its two renames.
pub(super) fn upgrade_if_needed(config: &StoreConfig) -> Result<(), StoreError> {
    let path = &config.path;
    let upgrading = beside(path, "upgrading");
    let old = beside(path, "v2");
    if !path.exists() && old.exists() {
        if upgrading.join(COMPLETE).exists() {
            swap_in(path, &upgrading, &old).map_err(|e| failed(path, e))?;
            return Ok(());
        }
        std::fs::rename(&old, path).map_err(|e| failed(path, e))?;
    }
    if !upgrade_needed(path) {
        return Ok(());
    }
    let db = open_v2(path)?;
    if db.get(META_FORMAT)?.as_deref() != Some(FORMAT_V2) {
        return Ok(());
    }
    if upgrading.exists() {
        std::fs::remove_dir_all(&upgrading).map_err(|e| failed(path, e))?;
    }
    let started = Instant::now();
    let entries = match db.get(META_COUNTS)? {
        Some(counts) => Counts::decode(&counts)?.entries,
        None => 0,
    };
    tracing::info!(entries, path = %path.display(), "upgrading the store to segment files (format v3)");
    let mut new_config = config.clone();
    new_config.path = upgrading.clone();
    let copied = copy(&db, &new_config, entries);
    drop(db);
    match copied {
        Ok(()) => {
            swap_in(path, &upgrading, &old).map_err(|e| failed(path, e))?;
            tracing::info!(
                entries,
                seconds = started.elapsed().as_secs_f64(),
                "the store was upgraded to format v3"
            );
            Ok(())
        }
        Err(error) => {
            let _ = std::fs::remove_dir_all(&upgrading);
            Err(failed(path, error))
        }
    }
}

/// Builds the v3 store at `new_config.path` from the v2 database `old`.
fn copy(old: &sled::Db, new_config: &StoreConfig, entries: u64) -> Result<(), StoreError> {
    let new = open_db(new_config, OPEN_LOCK_WAIT)?;
    let segments =
        Segments::open(&new_config.path.join("segments")).map_err(super::segments::io_error)?;
    let progress = Progress::new(entries);
    let mut numbers: HashMap<PublicKey, u32> = HashMap::new();
    let mut batch = Batch::default();
    let mut rows = 0usize;
    let mut copied = 0u64;
    let mut end = Position::default();
    let mut run: (Position, Vec<u8>) = (end, Vec::new());
    // The last arrival row (rows come in key order).
    let mut next_arrival: Option<u64> = None;
    let write = |run: &mut (Position, Vec<u8>)| -> Result<(), StoreError> {
        if !run.1.is_empty() {
            segments
                .write(run.0, &run.1)
                .map_err(super::segments::io_error)?;
        }
        run.1.clear();
        Ok(())
    };
    for row in old.iter() {
        let (key, value) = row?;
        match key.first() {
            Some(&LOG) => {
                let (author, seq, id, bytes) = old_log_row(&key, &value)?;
                let next = numbers.len() as u32;
                let number = *numbers.entry(author).or_insert_with(|| {
                    batch.insert(&author_key(&author)[..], &next.to_be_bytes()[..]);
                    next
                });
                let at = end.place(bytes.len());
                if at.segment != run.0.segment || run.1.len() >= WRITE_BYTES {
                    write(&mut run)?;
                    run.0 = at;
                }
                run.1.extend_from_slice(&frame(bytes));
                end = at.after(bytes.len());
                batch.insert(&log_key(number, seq)[..], &log_value(at, &id)[..]);
                batch.insert(&entry_key(&id)[..], &at.encode()[..]);
                copied += 1;
                progress.show(copied);
            }
            // Rebuilt from the log rows; the format is written last.
            Some(&ENTRY) => {}
            Some(&ARRIVAL) => {
                next_arrival = Some(parse_u64(key.get(1..).unwrap_or_default(), "arrival key")?);
                batch.insert(key, value);
            }
            _ if key.as_ref() == META_FORMAT => {}
            _ => batch.insert(key, value),
        }
        rows += 1;
        if rows.is_multiple_of(ROWS_PER_BATCH) {
            new.apply_batch(std::mem::take(&mut batch))?;
        }
    }
    write(&mut run)?;
    progress.done(copied);
    copy_local_trees(old, &new)?;
    if copied != entries {
        return Err(StoreError::Corrupt {
            what: format!("the old store counts {entries} entries but its log holds {copied}"),
        });
    }
    for segment in 0..=end.segment {
        segments.sync(segment).map_err(super::segments::io_error)?;
    }
    batch.insert(META_LOG_END, &end.encode()[..]);
    if let Some(next) = next_arrival {
        batch.insert(META_NEXT_ARRIVAL, &(next + 1).to_be_bytes()[..]);
    }
    new.apply_batch(batch)?;
    // The format last: a store without it is not a finished one.
    new.insert(META_FORMAT, FORMAT)?;
    new.flush()?;
    drop(new);
    std::fs::File::create(new_config.path.join(COMPLETE))
        .and_then(|file| file.sync_all())
        .map_err(super::segments::io_error)?;
    Ok(())
}

/// Copies the node-local trees (the notifier's watch lists, matches, webhooks and
/// queue) as they are.
fn copy_local_trees(old: &sled::Db, new: &Db) -> Result<(), StoreError> {
    let default = old.name();
    for name in old.tree_names() {
        if name == default {
            continue;
        }
        let from = old.open_tree(&name)?;
        let name = std::str::from_utf8(&name).map_err(|_| StoreError::Corrupt {
            what: format!("a local tree of the v2 store is named {name:?}"),
        })?;
        let to = new.open_tree(name)?;
        let mut batch = Batch::default();
        for (n, row) in from.iter().enumerate() {
            let (key, value) = row?;
            batch.insert(key, value);
            if (n + 1) % ROWS_PER_BATCH == 0 {
                to.apply_batch(std::mem::take(&mut batch))?;
            }
        }
        to.apply_batch(batch)?;
    }
    Ok(())
}

/// Opens the v2 store's sled database, waiting a moment for its lock like the store's
/// own open; a damaged database is an error, not a panic.
fn open_v2(path: &Path) -> Result<sled::Db, StoreError> {
    let deadline = Instant::now() + OPEN_LOCK_WAIT;
    loop {
        let opened = std::panic::catch_unwind(|| sled::Config::new().path(path).open());
        match opened {
            Ok(Ok(db)) => return Ok(db),
            // sled locks its directory: another process (a running node) has it.
            Ok(Err(sled::Error::Io(e)))
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.to_string().contains("could not acquire lock") =>
            {
                if Instant::now() >= deadline {
                    return Err(StoreError::InUse {
                        path: path.to_path_buf(),
                    });
                }
                std::thread::sleep(LOCK_RETRY_PAUSE);
            }
            Ok(Err(e)) => return Err(failed(path, e)),
            Err(panic) => return Err(failed(path, format!("sled failed: {}", panic_text(&panic)))),
        }
    }
}

/// (author, seq, id, signed entry bytes) of a v2 log row, the bytes checked against
/// the id.
fn old_log_row<'a>(
    key: &[u8],
    value: &'a [u8],
) -> Result<(PublicKey, u64, EntryId, &'a [u8]), StoreError> {
    let corrupt = |what: &str| StoreError::Corrupt {
        what: format!("v2 log row: {what}"),
    };
    let author: [u8; 32] = key
        .get(1..33)
        .and_then(|k| k.try_into().ok())
        .ok_or_else(|| corrupt("key too short"))?;
    let seq = parse_u64(key.get(33..).unwrap_or_default(), "v2 log key seq")?;
    let id = parse_id(value.get(..32).unwrap_or_default(), "v2 log row id")?;
    let bytes = &value[32..];
    let signed = SignedEntry::decode(bytes).map_err(|e| corrupt(&e.to_string()))?;
    if signed.id() != id {
        return Err(corrupt(&format!(
            "entry stored as {id} hashes to {}",
            signed.id()
        )));
    }
    Ok((PublicKey(author), seq, id, bytes))
}

/// Puts the finished new store in place of the old one, then removes the old one.
fn swap_in(path: &Path, upgrading: &Path, old: &Path) -> std::io::Result<()> {
    if path.exists() {
        std::fs::rename(path, old)?;
    }
    std::fs::rename(upgrading, path)?;
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::File::open(parent)?.sync_all()?;
    }
    std::fs::remove_file(path.join(COMPLETE))?;
    std::fs::remove_dir_all(old)
}

/// "upgrading the store: N of M entries" on a terminal, now and then.
struct Progress {
    total: u64,
    terminal: bool,
}

impl Progress {
    fn new(total: u64) -> Progress {
        Progress {
            total,
            terminal: std::io::stderr().is_terminal(),
        }
    }

    fn show(&self, done: u64) {
        if self.terminal && done.is_multiple_of(10_000) {
            let mut err = std::io::stderr();
            let _ = write!(
                err,
                "\rupgrading the store: {done} of {} entries",
                self.total
            );
            let _ = err.flush();
        }
    }

    fn done(&self, done: u64) {
        if self.terminal {
            eprintln!(
                "\rupgrading the store: {done} of {} entries, done",
                self.total
            );
        }
    }
}
