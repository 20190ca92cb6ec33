//! Upgrades older stores in place, at the first open:
//!
//! - format v2 (a sled database, entries inside its log rows) to the current one
//!   (entries in segment files, an index database beside them): the new store is
//!   built beside the old one (`DIR.upgrading`), entries checked against their ids
//!   on the way;
//! - format v3 (the current layout but for three kinds of index rows: log rows that
//!   repeat the entry's id, alert summaries that name their author by key, arrival
//!   rows that name an id) to v4: a new index is built beside the old one
//!   (`index.upgrading`), the segment files stay as they are.
//!
//! Either way the new part is swapped in only once it is complete and durable: a
//! failed or interrupted upgrade leaves the old store as it was, and the next start
//! tries again. Every other row is copied as it is.

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
        reason: format!("upgrading the store to format v4 failed ({why}); the old store is untouched and the next start tries again"),
    }
}

/// Removes what an interrupted upgrade of the store at `path` left at `upgrading`.
fn clear_leftover(path: &Path, upgrading: &Path) -> Result<(), StoreError> {
    if upgrading.exists() {
        std::fs::remove_dir_all(upgrading).map_err(|e| failed(path, e))?;
    }
    Ok(())
}

/// The entry count of an old store's counts row (none: an empty store).
fn counted_entries(row: Option<impl AsRef<[u8]>>) -> Result<u64, StoreError> {
    row.map_or(Ok(0), |row| Ok(Counts::decode(row.as_ref())?.entries))
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
    clear_leftover(path, &upgrading)?;
    let started = Instant::now();
    let entries = counted_entries(db.get(META_COUNTS)?)?;
    tracing::info!(entries, path = %path.display(), "upgrading the store to segment files (format v4)");
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
                "the store was upgraded to format v4"
            );
            Ok(())
        }
        Err(error) => {
            let _ = std::fs::remove_dir_all(&upgrading);
            Err(failed(path, error))
        }
    }
}

/// Builds the current store at `new_config.path` from the v2 database `old`.
fn copy(old: &sled::Db, new_config: &StoreConfig, entries: u64) -> Result<(), StoreError> {
    let new = open_db(new_config, OPEN_LOCK_WAIT)?;
    let segments =
        Segments::open(&new_config.path.join("segments")).map_err(super::segments::io_error)?;
    let progress = Progress::new(entries);
    let mut numbers: HashMap<PublicKey, u32> = HashMap::new();
    let mut batch = Batch::default();
    // Authors numbered up front (in key order, as their log rows come), since the
    // alert rows that name them come first.
    for row in old.scan_prefix([HEAD]) {
        let (key, _) = row?;
        let author = parse_author_key(&key)?;
        let next = numbers.len() as u32;
        numbers.insert(author, next);
        batch.insert(&author_key(&author)[..], &next.to_be_bytes()[..]);
    }
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
                batch.insert(&log_key(number, seq)[..], &at.encode()[..]);
                batch.insert(&entry_key(&id)[..], &at.encode()[..]);
                copied += 1;
                progress.show(copied);
            }
            // Rebuilt from the log rows; the format is written last.
            Some(&ENTRY) => {}
            Some(&ALERT) => batch.insert(key, summary_by_number(&value, &numbers)?),
            Some(&ARRIVAL) => {
                next_arrival = Some(parse_arrival_key(&key)?);
                // The entry rows come before the arrival rows: all are staged.
                if !batch.is_empty() {
                    new.apply_batch(std::mem::take(&mut batch))?;
                }
                batch.insert(key, arrival_by_position(&value, &new)?);
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

/// Finishes an upgrade of the index that was interrupted between its two renames
/// (or puts the old index back when the new one was not complete).
pub(super) fn finish_index_swap(path: &Path) -> Result<(), StoreError> {
    let index = path.join(super::index::DIRECTORY);
    let upgrading = beside(&index, "upgrading");
    let old_index = beside(&index, "v3");
    if !index.exists() && old_index.exists() {
        if upgrading.join(COMPLETE).exists() {
            swap_in(&index, &upgrading, &old_index).map_err(|e| failed(path, e))?;
        } else {
            std::fs::rename(&old_index, &index).map_err(|e| failed(path, e))?;
        }
    } else if index.exists() && old_index.exists() {
        // Both renames were done (the old index is put back only in place of a
        // missing one): a crash came before the old one was removed.
        let _ = std::fs::remove_file(index.join(COMPLETE));
        std::fs::remove_dir_all(&old_index).map_err(|e| failed(path, e))?;
    }
    Ok(())
}

/// Whether the open index `db` is of format v3.
pub(super) fn index_upgrade_needed(db: &Db) -> Result<bool, StoreError> {
    Ok(db.get(META_FORMAT)?.as_deref() == Some(FORMAT_V3))
}

/// Upgrades the index `old` of format v3 to v4, and opens the upgraded one.
pub(super) fn upgrade_index(config: &StoreConfig, old: Db) -> Result<Db, StoreError> {
    let path = &config.path;
    let index = path.join(super::index::DIRECTORY);
    let upgrading = beside(&index, "upgrading");
    clear_leftover(path, &upgrading)?;
    let started = Instant::now();
    let entries = counted_entries(old.get(META_COUNTS)?)?;
    tracing::info!(entries, path = %path.display(), "upgrading the store's index to format v4");
    let copied = copy_index(&old, &upgrading, config.cache_capacity_bytes, entries);
    drop(old);
    if let Err(error) = copied {
        let _ = std::fs::remove_dir_all(&upgrading);
        return Err(failed(path, error));
    }
    swap_in(&index, &upgrading, &beside(&index, "v3")).map_err(|e| failed(path, e))?;
    tracing::info!(
        entries,
        seconds = started.elapsed().as_secs_f64(),
        "the store was upgraded to format v4"
    );
    open_db(config, OPEN_LOCK_WAIT)
}

/// Builds a v4 index in the directory `to` from the v3 index `old`.
fn copy_index(old: &Db, to: &Path, cache_bytes: u64, entries: u64) -> Result<(), StoreError> {
    let new = Db::open_dir(to, cache_bytes).map_err(|e| StoreError::Open {
        path: to.to_path_buf(),
        reason: match e {
            super::index::OpenError::InUse => "in use".into(),
            super::index::OpenError::Failed(why) => why,
        },
    })?;
    let mut numbers: HashMap<PublicKey, u32> = HashMap::new();
    for row in old.scan_prefix([AUTHOR]) {
        let (key, value) = row?;
        numbers.insert(parse_author_key(&key)?, parse_author_number(&value)?);
    }
    let progress = Progress::new(entries);
    let mut batch = Batch::default();
    let mut copied = 0u64;
    for (rows, row) in old.scan_prefix([]).enumerate() {
        let (key, value) = row?;
        match key.first() {
            Some(&LOG) => {
                let value: [u8; 40] =
                    value.as_ref().try_into().map_err(|_| StoreError::Corrupt {
                        what: format!("v3 log row of {} bytes, not 40", value.len()),
                    })?;
                batch.insert(key, &value[..8]);
                copied += 1;
                progress.show(copied);
            }
            Some(&ALERT) => batch.insert(key, summary_by_number(&value, &numbers)?),
            Some(&ARRIVAL) => batch.insert(key, arrival_by_position(&value, old)?),
            _ if key.as_ref() == META_FORMAT => {}
            _ => batch.insert(key, value),
        }
        if (rows + 1) % ROWS_PER_BATCH == 0 {
            new.apply_batch(std::mem::take(&mut batch))?;
        }
    }
    new.apply_batch(batch)?;
    progress.done(copied);
    for name in old.tree_names() {
        let from = old.open_tree(&name)?;
        let to = new.open_tree(&name)?;
        let mut batch = Batch::default();
        for (n, row) in from.scan_prefix([]).enumerate() {
            let (key, value) = row?;
            batch.insert(key, value);
            if (n + 1) % ROWS_PER_BATCH == 0 {
                to.apply_batch(std::mem::take(&mut batch))?;
            }
        }
        to.apply_batch(batch)?;
    }
    if copied != entries {
        return Err(StoreError::Corrupt {
            what: format!("the old index counts {entries} entries but has {copied} log rows"),
        });
    }
    // The format last: an index without it is not a finished one.
    new.insert(META_FORMAT, FORMAT)?;
    new.flush()?;
    drop(new);
    std::fs::File::create(to.join(COMPLETE))
        .and_then(|file| file.sync_all())
        .map_err(super::segments::io_error)?;
    Ok(())
}

/// An alert summary of v2 or v3 (its author by key) as v4 has it (by number).
fn summary_by_number(
    value: &[u8],
    numbers: &HashMap<PublicKey, u32>,
) -> Result<Vec<u8>, StoreError> {
    let author = value
        .get(..32)
        .and_then(|a| <[u8; 32]>::try_from(a).ok())
        .map(PublicKey)
        .ok_or_else(|| StoreError::Corrupt {
            what: "an alert summary is shorter than its author".into(),
        })?;
    let number = numbers.get(&author).ok_or_else(|| StoreError::Corrupt {
        what: format!("an alert summary names {author}, who has no entries"),
    })?;
    let mut summary = number.to_be_bytes().to_vec();
    summary.extend_from_slice(&value[32..]);
    // Asserted before writing, as it is after reading.
    AlertSummary::decode(&summary)?;
    Ok(summary)
}

/// An arrival row's value of v2 or v3 (an entry id) as v4 has it: the entry's
/// position, from the entry rows of `index`.
fn arrival_by_position(value: &[u8], index: &Db) -> Result<Vec<u8>, StoreError> {
    let id = parse_id(value, "arrival value")?;
    let position = index
        .get(entry_key(&id))?
        .ok_or_else(|| StoreError::Corrupt {
            what: format!("arrival row names {id}, which is not stored"),
        })?;
    Ok(Position::decode(&position)?.encode().to_vec())
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
