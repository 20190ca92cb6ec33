//! The node's command line as an administrator uses it: init, member cards, run and
//! stop. Real processes.

use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Output};

use customs_tests::node_binary;

fn node(args: &[&str]) -> Output {
    Command::new(node_binary())
        .args(args)
        .output()
        .expect("runs")
}

fn ok(output: &Output) -> String {
    assert!(output.status.success(), "{output:?}");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn refused(output: &Output) -> String {
    assert!(!output.status.success(), "should have failed: {output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(
        !stderr.contains("panicked") && !stderr.contains("backtrace"),
        "{stderr}"
    );
    assert_eq!(stderr.trim().lines().count(), 1, "one clear line: {stderr}");
    stderr
}

fn mode(path: &std::path::Path) -> u32 {
    std::fs::metadata(path)
        .expect("exists")
        .permissions()
        .mode()
        & 0o777
}

#[test]
fn init_writes_a_private_identity_and_a_documented_config() {
    let dir = tempfile::tempdir().expect("tempdir");
    let nl = dir.path().join("nl");
    let nl_str = nl.to_str().expect("utf-8");
    ok(&node(&[
        "init",
        "--dir",
        nl_str,
        "--code",
        "NL",
        "--name",
        "Netherlands Customs",
        "--network",
        "customs-eu",
    ]));
    assert_eq!(mode(&nl.join("identity.key")), 0o600);
    assert_eq!(mode(&nl.join("api-token")), 0o600);
    let config = std::fs::read_to_string(nl.join("node.toml")).expect("config");
    for key in [
        "code",
        "network",
        "listen",
        "sync_interval_ms",
        "max_pending_incoming",
        "cache_capacity_bytes",
    ] {
        assert!(
            config.contains(&format!("{key} =")),
            "node.toml shows {key}"
        );
    }
    assert!(
        config.lines().filter(|l| l.starts_with('#')).count() >= 10,
        "documented"
    );

    let again = refused(&node(&[
        "init",
        "--dir",
        nl_str,
        "--code",
        "NL",
        "--name",
        "x",
        "--network",
        "customs-eu",
    ]));
    assert!(again.contains("already"), "{again}");
    let bad = dir.path().join("bad");
    let message = refused(&node(&[
        "init",
        "--dir",
        bad.to_str().expect("utf-8"),
        "--code",
        "nl",
        "--name",
        "x",
        "--network",
        "customs-eu",
    ]));
    assert!(message.contains("node.code"), "{message}");
    assert!(!bad.exists(), "nothing written for a refused init");
}

#[test]
fn member_cards_are_exchanged_and_checked() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = |name: &str| dir.path().join(name).to_str().expect("utf-8").to_string();
    for (name, code, network) in [
        ("nl", "NL", "customs-eu"),
        ("be", "BE", "customs-eu"),
        ("us", "US", "customs-us"),
    ] {
        ok(&node(&[
            "init",
            "--dir",
            &path(name),
            "--code",
            code,
            "--name",
            name,
            "--network",
            network,
        ]));
    }
    let card = ok(&node(&["member", "export", "--dir", &path("nl")]));
    assert!(
        card.contains("code = \"NL\"") && card.contains("public_key = "),
        "{card}"
    );
    std::fs::write(path("nl.card"), &card).expect("write card");

    let admitted = ok(&node(&[
        "member",
        "add",
        "--dir",
        &path("be"),
        &path("nl.card"),
    ]));
    assert!(
        admitted.contains("restart"),
        "says when it takes effect: {admitted}"
    );
    let duplicate = refused(&node(&[
        "member",
        "add",
        "--dir",
        &path("be"),
        &path("nl.card"),
    ]));
    assert!(duplicate.contains("already admitted"), "{duplicate}");
    let other_network = refused(&node(&[
        "member",
        "add",
        "--dir",
        &path("us"),
        &path("nl.card"),
    ]));
    assert!(other_network.contains("customs-eu"), "{other_network}");

    let weak = card.lines().map(|l| {
        if l.starts_with("public_key") {
            format!("public_key = \"01{}\"", "00".repeat(31))
        } else if l.starts_with("code") {
            "code = \"DE\"".to_string()
        } else {
            l.to_string()
        }
    });
    std::fs::write(path("weak.card"), weak.collect::<Vec<_>>().join("\n")).expect("write");
    let message = refused(&node(&[
        "member",
        "add",
        "--dir",
        &path("be"),
        &path("weak.card"),
    ]));
    assert!(message.contains("weak"), "{message}");
    let members = std::fs::read_to_string(path("be/members.toml")).expect("members");
    assert_eq!(members.matches("[[member]]").count(), 1, "only NL admitted");
}
