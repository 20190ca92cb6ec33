//! The identity commands, run as a real process.

use std::os::unix::fs::PermissionsExt;
use std::process::Command;

use customs_protocol::{PublicKey, SecretKey};
use customs_tests::node_binary;

#[test]
fn generated_identity_is_private_and_reports_its_public_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let key_path = dir.path().join("identity.key");

    let generated = Command::new(node_binary())
        .args(["key", "generate", "--out"])
        .arg(&key_path)
        .output()
        .expect("runs");
    assert!(generated.status.success(), "{generated:?}");
    let printed = String::from_utf8(generated.stdout).expect("utf-8");
    let public = PublicKey::from_hex(printed.trim()).expect("prints a public key");
    assert_eq!(printed.trim(), printed.trim().to_lowercase());

    let mode = std::fs::metadata(&key_path)
        .expect("file")
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600);
    let text = std::fs::read_to_string(&key_path).expect("read");
    assert_eq!(
        SecretKey::from_key_file(&text)
            .expect("parses")
            .public_key(),
        public
    );

    let shown = Command::new(node_binary())
        .args(["key", "public", "--file"])
        .arg(&key_path)
        .output()
        .expect("runs");
    assert!(shown.status.success(), "{shown:?}");
    assert_eq!(
        String::from_utf8_lossy(&shown.stdout).trim(),
        public.to_hex()
    );

    let again = Command::new(node_binary())
        .args(["key", "generate", "--out"])
        .arg(&key_path)
        .output()
        .expect("runs");
    assert!(!again.status.success(), "must not overwrite an identity");
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));
}
