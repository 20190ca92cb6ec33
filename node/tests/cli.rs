//! The binary's command line: errors are one clear line and a non-zero exit.

use std::process::Command;

#[test]
fn missing_key_file_is_a_clear_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = dir.path().join("nope.key");
    let output = Command::new(env!("CARGO_BIN_EXE_customs-node"))
        .args(["key", "public", "--file"])
        .arg(&missing)
        .output()
        .expect("runs");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("nope.key"), "names the file: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn unknown_command_fails_with_usage() {
    let output = Command::new(env!("CARGO_BIN_EXE_customs-node"))
        .arg("frobnicate")
        .output()
        .expect("runs");
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("Usage"));
}
