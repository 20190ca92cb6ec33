//! The administration's key on disk: written with mode 0600, refused when other users
//! can read it. The format itself belongs to the protocol crate.

use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use customs_protocol::{KeyError, SecretKey};
use thiserror::Error;

#[derive(Debug, Error)]
pub enum KeyFileError {
    #[error("cannot read key file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write key file {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "key file {path} already exists; refusing to overwrite an identity (move it aside first)"
    )]
    Exists { path: PathBuf },
    #[error("key file {path} has mode {mode:o}: other users can read it; run `chmod 600 {path}`")]
    Exposed { path: PathBuf, mode: u32 },
    #[error("key file {path}: {source}")]
    Format { path: PathBuf, source: KeyError },
    #[error("the operating system's random source failed: {0}")]
    Random(String),
}

/// Bytes from the operating system's random source.
pub fn random_bytes<const N: usize>() -> Result<[u8; N], KeyFileError> {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).map_err(|e| KeyFileError::Random(e.to_string()))?;
    Ok(bytes)
}

/// A new identity from the operating system's random source.
pub fn generate_key() -> Result<SecretKey, KeyFileError> {
    Ok(SecretKey::from_seed(random_bytes()?))
}

/// Writes a new key file with mode 0600. Never overwrites an existing file.
pub fn write_key_file(path: &Path, key: &SecretKey) -> Result<(), KeyFileError> {
    write_secret_file(path, &key.to_key_file())
}

/// Writes `text` into the new file `path`, mode 0600 (never overwrites), synced.
fn write_secret_file(path: &Path, text: &str) -> Result<(), KeyFileError> {
    let write_error = |source| KeyFileError::Write {
        path: path.to_path_buf(),
        source,
    };
    let mut file =
        crate::files::create_new_private(path).map_err(|source| match source.kind() {
            std::io::ErrorKind::AlreadyExists => KeyFileError::Exists {
                path: path.to_path_buf(),
            },
            _ => write_error(source),
        })?;
    file.write_all(text.as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(write_error)
}

/// The first line of an encryption-key file (an X25519 secret, 64 hex digits below).
pub const ENCRYPTION_KEY_HEADER: &str = "customs-network x25519 secret key v1";

/// Generates this node's X25519 key pair into a new file `path` (mode 0600, never
/// overwrites) and returns the public key, which goes into its certificate.
pub fn generate_encryption_key(path: &Path) -> Result<[u8; 32], KeyFileError> {
    let secret = x25519_dalek::StaticSecret::from(random_bytes::<32>()?);
    let public = x25519_dalek::PublicKey::from(&secret);
    let text = format!(
        "{ENCRYPTION_KEY_HEADER}\n{}\n",
        hex::encode(secret.to_bytes())
    );
    write_secret_file(path, &text)?;
    Ok(public.to_bytes())
}

/// Reads this node's X25519 secret (DIR/encryption.key), refusing a file that group
/// or others can read.
pub fn read_encryption_key(path: &Path) -> Result<[u8; 32], KeyFileError> {
    let text = read_private_text(path)?;
    let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
    let mut secret = [0u8; 32];
    let well_formed = lines.next() == Some(ENCRYPTION_KEY_HEADER)
        && lines
            .next()
            .is_some_and(|hex_text| hex::decode_to_slice(hex_text, &mut secret).is_ok())
        && lines.next().is_none();
    if well_formed {
        Ok(secret)
    } else {
        Err(KeyFileError::Format {
            path: path.to_path_buf(),
            source: KeyError::KeyFileBody,
        })
    }
}

fn read_private_text(path: &Path) -> Result<String, KeyFileError> {
    let read_error = |source| KeyFileError::Read {
        path: path.to_path_buf(),
        source,
    };
    let mode = fs::metadata(path).map_err(read_error)?.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(KeyFileError::Exposed {
            path: path.to_path_buf(),
            mode,
        });
    }
    fs::read_to_string(path).map_err(read_error)
}

/// Reads a key file, refusing one that group or others can read.
pub fn read_key_file(path: &Path) -> Result<SecretKey, KeyFileError> {
    let text = read_private_text(path)?;
    SecretKey::from_key_file(&text).map_err(|source| KeyFileError::Format {
        path: path.to_path_buf(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_then_read_gives_the_same_key_with_mode_0600() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("identity.key");
        let key = SecretKey::from_seed([4; 32]);
        write_key_file(&path, &key).expect("writes");
        let mode = fs::metadata(&path).expect("exists").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(
            read_key_file(&path).expect("reads").public_key(),
            key.public_key()
        );
    }

    #[test]
    fn never_overwrites_an_identity() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("identity.key");
        write_key_file(&path, &SecretKey::from_seed([4; 32])).expect("writes");
        let second = write_key_file(&path, &SecretKey::from_seed([5; 32]));
        assert!(matches!(second, Err(KeyFileError::Exists { .. })));
        assert_eq!(
            read_key_file(&path).expect("reads").public_key(),
            SecretKey::from_seed([4; 32]).public_key()
        );
    }

    #[test]
    fn refuses_a_readable_key_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("identity.key");
        write_key_file(&path, &SecretKey::from_seed([4; 32])).expect("writes");
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).expect("chmod");
        let error = read_key_file(&path).expect_err("exposed");
        assert!(error.to_string().contains("chmod 600"), "{error}");
    }

    #[test]
    fn names_the_file_on_bad_content() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("identity.key");
        fs::write(&path, "not a key").expect("write");
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).expect("chmod");
        let error = read_key_file(&path).expect_err("bad content");
        assert!(error.to_string().contains("identity.key"), "{error}");
    }
}
