//! Files the node and the CLI write. Private by default whatever the operator's umask
//! (directories 0700, files 0600), and replaced atomically: a configuration or token
//! file rewritten by another user (root editing the service user's tokens) keeps its
//! owner and mode, so the node can still read it.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// The mode of every directory the node creates.
pub const PRIVATE_DIR_MODE: u32 = 0o700;
/// The mode of every file the node creates.
pub const PRIVATE_FILE_MODE: u32 = 0o600;

/// Makes everything this process creates from now on private to its user (umask 077):
/// the store's files, bundles and logs included, whoever creates them.
pub fn make_private_by_default() {
    rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o077));
}

/// Creates `dir` (and its parents) and makes it 0700.
pub fn create_private_dir(dir: &Path) -> io::Result<()> {
    fs::create_dir_all(dir)?;
    fs::set_permissions(dir, fs::Permissions::from_mode(PRIVATE_DIR_MODE))
}

/// Creates the new file `path`, mode 0600; an existing file is an error
/// (`AlreadyExists`), never overwritten.
pub fn create_new_private(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(PRIVATE_FILE_MODE)
        .open(path)
}

/// Whether group or others may read or enter `path`.
pub fn is_exposed(path: &Path) -> io::Result<bool> {
    Ok(fs::metadata(path)?.permissions().mode() & 0o077 != 0)
}

/// Replaces `path` with `bytes` atomically (a temporary file, synced, renamed over it).
/// A new file is 0600; an existing one keeps its mode and owner. Changing the owner
/// needs privileges: a user who may not keep the owner gets an error and the file is
/// left as it was.
pub fn replace_file(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let existing = fs::metadata(path).ok();
    let mode = existing
        .as_ref()
        .map_or(PRIVATE_FILE_MODE, |m| m.permissions().mode() & 0o7777);
    let file_name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "not a file path"))?;
    let mut temporary_name = file_name.to_os_string();
    temporary_name.push(format!(".{}.tmp", std::process::id()));
    let temporary = path.with_file_name(temporary_name);
    let result = (|| {
        let mut file = create_new_private(&temporary)?;
        file.write_all(bytes)?;
        if let Some(meta) = &existing {
            keep_owner(&file, meta)?;
        }
        // After the owner: chown clears set-id bits.
        file.set_permissions(fs::Permissions::from_mode(mode))?;
        file.sync_all()?;
        fs::rename(&temporary, path)?;
        sync_parent(path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&temporary);
    }
    result
}

fn keep_owner(file: &File, original: &fs::Metadata) -> io::Result<()> {
    let ours = file.metadata()?;
    if ours.uid() == original.uid() && ours.gid() == original.gid() {
        return Ok(());
    }
    std::os::unix::fs::fchown(file, Some(original.uid()), Some(original.gid())).map_err(|e| {
        io::Error::new(
            e.kind(),
            format!(
                "cannot give the new file the owner of the old one (uid {}, gid {}): {e}; run this as that user or as root",
                original.uid(),
                original.gid()
            ),
        )
    })
}

/// Makes a rename in `path`'s directory durable.
fn sync_parent(path: &Path) -> io::Result<()> {
    match path.parent().filter(|p| !p.as_os_str().is_empty()) {
        Some(parent) => File::open(parent)?.sync_all(),
        None => File::open(".")?.sync_all(),
    }
}

/// Descriptors the node needs besides its connections: the store's files, logs,
/// bundles being read, the runtime's own.
pub const OPEN_FILES_RESERVE: u64 = 256;

/// Bytes allocated on disk to the files under `path` (a sparse file counts what it
/// holds, not its length).
pub fn allocated_bytes(path: &Path) -> io::Result<u64> {
    let mut total = 0;
    for item in fs::read_dir(path)? {
        let item = item?;
        let meta = item.metadata()?;
        total += if meta.is_dir() {
            allocated_bytes(&item.path())?
        } else {
            meta.blocks() * 512
        };
    }
    Ok(total)
}

/// Raises this process's soft limit of open files to `wanted` (never above the hard
/// limit, never lowering it) and returns the limit now in force. Many systems start
/// processes with a soft limit of 1,024, less than the connection caps allow: the
/// accept loop would fail with EMFILE before a cap is ever reached.
pub fn raise_open_files_limit(wanted: u64) -> u64 {
    use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
    let limit = getrlimit(Resource::Nofile);
    let current = limit.current.unwrap_or(u64::MAX);
    if current >= wanted {
        return current;
    }
    let raised = limit.maximum.map_or(wanted, |hard| wanted.min(hard));
    let new = Rlimit {
        current: Some(raised),
        maximum: limit.maximum,
    };
    match setrlimit(Resource::Nofile, new) {
        Ok(()) => raised,
        Err(_) => current,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_open_files_limit_is_raised_within_the_hard_limit_and_never_lowered() {
        use rustix::process::{getrlimit, Resource};
        let before = getrlimit(Resource::Nofile);
        let current = before.current.unwrap_or(u64::MAX);
        assert_eq!(raise_open_files_limit(1), current, "never lowered");
        let wanted = current.saturating_add(1);
        let now = raise_open_files_limit(wanted);
        match before.maximum {
            Some(hard) if hard < wanted => assert_eq!(now, current),
            _ => assert_eq!(now, wanted),
        }
        assert_eq!(getrlimit(Resource::Nofile).current.unwrap_or(u64::MAX), now);
    }

    #[test]
    fn a_replaced_file_keeps_its_mode_and_a_new_one_is_private() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("tokens.toml");
        replace_file(&path, b"one").expect("write");
        assert_eq!(
            fs::metadata(&path).expect("meta").permissions().mode() & 0o777,
            0o600
        );
        fs::set_permissions(&path, fs::Permissions::from_mode(0o640)).expect("chmod");
        replace_file(&path, b"two").expect("rewrite");
        assert_eq!(fs::read(&path).expect("read"), b"two");
        assert_eq!(
            fs::metadata(&path).expect("meta").permissions().mode() & 0o777,
            0o640
        );
        let leftovers = fs::read_dir(dir.path()).expect("list").count();
        assert_eq!(leftovers, 1, "no temporary file is left behind");
    }

    #[test]
    fn a_replaced_file_keeps_its_owner() {
        assert!(
            rustix::process::geteuid().is_root(),
            "this test changes a file's owner: run the tests as root (as CI does)"
        );
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("tokens.toml");
        replace_file(&path, b"one").expect("write");
        std::os::unix::fs::chown(&path, Some(65534), Some(65534)).expect("chown");
        replace_file(&path, b"two").expect("rewrite");
        let meta = fs::metadata(&path).expect("meta");
        assert_eq!((meta.uid(), meta.gid()), (65534, 65534));
    }
}
