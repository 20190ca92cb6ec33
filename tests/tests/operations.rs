//! What an administration's IT team relies on, as real processes: token changes that
//! take effect or fail loudly, a restore that cannot fork the node's key, refusals the
//! publisher sees, a clock that is off, a CLI scripts can rely on (exit codes, pipes,
//! standard input), private files whatever the umask, an audit log, and imports that
//! are all or nothing. Several tests need root (another user, chown), as CI has.

use std::io::Write as _;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use customs_node::client::ApiClient;
use customs_tests::faults::{sh, Running};
use customs_tests::process::{
    admin_token, admit, api_url, edit_config, init_process_node, init_process_node_at, spawn_logged,
};
use customs_tests::scenarios::{alert, client, lone_node, wait_ready};
use customs_tests::{free_port, node_binary, wait_for};
use serde_json::Value;

const DEADLINE: Duration = Duration::from_secs(60);

/// Runs the CLI with `args`.
fn cli(args: &[&str]) -> Output {
    Command::new(node_binary())
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("runs")
}

/// Runs the CLI with `stdin` as its standard input.
fn cli_with_input(args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(node_binary())
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("runs");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin)
        .expect("write stdin");
    child.wait_with_output().expect("output")
}

/// The exit status, with the output in the message when it is not `expected`.
fn expect_exit(output: &Output, expected: i32, what: &str) {
    assert_eq!(
        output.status.code(),
        Some(expected),
        "{what}: {}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("panicked"), "{what}: {stderr}");
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn s(path: &Path) -> &str {
    path.to_str().expect("utf-8")
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .expect("exists")
        .permissions()
        .mode()
        & 0o777
}

/// The node's status through the API.
fn status(api: &ApiClient) -> Value {
    api.send("GET", "/api/v1/status", None)
        .expect("status")
        .json()
}

fn publish_status(api: &ApiClient, reference: &str) -> (u16, Value) {
    let body = serde_json::to_vec(&alert(reference)).expect("JSON");
    let reply = api
        .send("POST", "/api/v1/alerts", Some(("application/json", &body)))
        .expect("answer");
    (reply.status, reply.json())
}

/// Starts `customs-node run` in `dir` as a [`Running`] child; returns it with its URL.
fn start(dir: &Path, label: &str) -> (Running, String) {
    let mut command = Command::new(node_binary());
    command.args(["run", "--dir", s(dir)]);
    start_command(command, dir, label)
}

fn start_command(command: Command, dir: &Path, label: &str) -> (Running, String) {
    let _ = std::fs::remove_file(dir.join("api.url"));
    let (child, _) = spawn_logged(command, label);
    let running = Running(Some(child));
    let url = api_url(dir, DEADLINE);
    wait_ready(&client(&url, dir));
    (running, url)
}

/// Two member nodes on fixed loopback ports (so that either can restart where the
/// other dials it): NL, the network's first node, and BE.
struct Pair {
    nl: PathBuf,
    be: PathBuf,
}

fn pair(base: &Path) -> Pair {
    let nl = base.join("nl");
    let be = base.join("be");
    let nl_addr = format!("/ip4/127.0.0.1/tcp/{}", free_port());
    let be_addr = format!("/ip4/127.0.0.1/tcp/{}", free_port());
    let nl_key = init_process_node_at(&nl, "NL", &nl_addr, "127.0.0.1:0");
    let be_key = init_process_node_at(&be, "BE", &be_addr, "127.0.0.1:0");
    edit_config(
        &nl,
        &[(
            "allow_publish_before_sync = false",
            "allow_publish_before_sync = true",
        )],
    );
    admit(&nl, "BE", &be_key, &[be_addr]);
    admit(&be, "NL", &nl_key, &[nl_addr]);
    Pair { nl, be }
}

/// The peer `code` as the status shows it.
fn peer<'a>(status: &'a Value, code: &str) -> &'a Value {
    status["peers"]
        .as_array()
        .and_then(|peers| peers.iter().find(|p| p["code"] == code))
        .unwrap_or_else(|| panic!("no peer {code} in {status}"))
}

fn own_seq(status: &Value) -> u64 {
    let key = status["node"]["public_key"].clone();
    status["frontier"]
        .as_array()
        .and_then(|f| f.iter().find(|h| h["author"] == key))
        .map_or(0, |h| h["seq"].as_u64().unwrap_or(0))
}

fn seq_of(status: &Value, author: &Value) -> u64 {
    status["frontier"]
        .as_array()
        .and_then(|f| f.iter().find(|h| &h["author"] == author))
        .map_or(0, |h| h["seq"].as_u64().unwrap_or(0))
}

/// Copies a stopped node's directory: what a file-level backup holds.
fn copy_dir(from: &Path, to: &Path) {
    sh("cp", &["-a", s(from), s(to)]);
}

#[test]
fn every_failure_has_its_exit_code_and_the_cli_works_in_pipes() {
    let base = tempfile::tempdir().expect("tempdir");
    let nl = base.path().join("nl");
    let (_node, _url) = lone_node(&nl, &[]);
    let dir = s(&nl);

    // Templates publish as they are, from a file and from standard input.
    let template = cli(&["alert", "template"]);
    expect_exit(&template, 0, "alert template");
    let file = base.path().join("alert.json");
    std::fs::write(&file, &template.stdout).expect("write");
    let published = cli(&[
        "alert",
        "publish",
        "--dir",
        dir,
        "--file",
        s(&file),
        "--json",
    ]);
    expect_exit(&published, 0, "the alert template publishes");
    let id = serde_json::from_slice::<Value>(&published.stdout).expect("JSON")["id"]
        .as_str()
        .expect("id")
        .to_string();
    let aeo = cli(&["aeo", "template"]);
    expect_exit(&aeo, 0, "aeo template");
    expect_exit(
        &cli_with_input(
            &["aeo", "publish", "--dir", dir, "--file", "-"],
            &aeo.stdout,
        ),
        0,
        "the AEO template publishes from standard input",
    );

    // A prefix as the tables show it finds the entry (show, retract).
    let shown = cli(&["alert", "show", &id[..12], "--dir", dir]);
    expect_exit(&shown, 0, "alert show with a 12-digit prefix");
    assert!(stdout(&shown).contains(&id), "{}", stdout(&shown));
    let retract = ["retract", &id[..12], "--reason", "error", "--dir", dir];
    expect_exit(&cli(&retract), 0, "retract by prefix");

    // One exit status per class of failure.
    let reader = cli(&[
        "token", "create", "--dir", dir, "--role", "reader", "--name", "r",
    ]);
    expect_exit(&reader, 0, "token create");
    let reader = stdout(&reader).trim().to_string();
    let bad = base.path().join("bad.json");
    std::fs::write(&bad, r#"{"reference": ""}"#).expect("write");
    let not_json = base.path().join("not.json");
    std::fs::write(&not_json, "reference: x").expect("write");
    let nowhere = format!("http://127.0.0.1:{}", free_port());
    let missing = base.path().join("nothing-here");
    let zeros = "0".repeat(64);
    let cases: Vec<(Vec<&str>, i32, &str)> = vec![
        (vec!["alert", "list", "--bogus"], 2, "an unknown flag"),
        (
            vec!["alert", "list", "--dir", s(&missing)],
            2,
            "not a node directory",
        ),
        (
            vec!["token", "list", "--dir", s(&missing)],
            2,
            "not a node directory (local)",
        ),
        (
            vec!["status", "--url", &nowhere, "--token", "x"],
            3,
            "no node there",
        ),
        (
            vec!["status", "--dir", dir, "--token", "wrong"],
            4,
            "a wrong token",
        ),
        (
            vec![
                "alert",
                "publish",
                "--dir",
                dir,
                "--token",
                &reader,
                "--file",
                s(&file),
            ],
            5,
            "a reader publishing",
        ),
        (
            vec!["alert", "show", &zeros, "--dir", dir],
            6,
            "no such entry",
        ),
        (
            vec!["retract", &id, "--reason", "error", "--dir", dir],
            7,
            "retracted already",
        ),
        (
            vec!["alert", "publish", "--dir", dir, "--file", s(&bad)],
            8,
            "an invalid alert",
        ),
        (
            vec!["alert", "publish", "--dir", dir, "--file", s(&not_json)],
            8,
            "not JSON",
        ),
        (vec!["alert", "show", "abc", "--dir", dir], 8, "not an id"),
        (
            vec!["status", "--dir", dir, "--wait-sync", "--timeout-s", "1"],
            9,
            "no member to sync with",
        ),
        (vec!["forks", "--dir", dir], 0, "no forks"),
        (
            vec!["status", "--dir", dir, "--check"],
            0,
            "a lone node is healthy",
        ),
    ];
    for (args, code, what) in &cases {
        expect_exit(&cli(args), *code, what);
    }

    // --json everywhere, local commands included.
    let tokens: Value =
        serde_json::from_slice(&cli(&["token", "list", "--dir", dir, "--json"]).stdout)
            .expect("token list --json");
    assert_eq!(tokens.as_array().map(Vec::len), Some(2), "{tokens}");
    let key: Value = serde_json::from_slice(
        &cli(&[
            "key",
            "public",
            "--file",
            s(&nl.join("identity.key")),
            "--json",
        ])
        .stdout,
    )
    .expect("key public --json");
    assert!(key["public_key"].is_string());

    // A closed pipe ends the command quietly with success: a listing bigger than a
    // pipe's buffer, and a watch that writes again after its reader left.
    let api = client(&api_url(&nl, DEADLINE), &nl);
    for n in 0..60 {
        assert_eq!(publish_status(&api, &format!("PIPE-{n}")).0, 201);
    }
    let node = node_binary();
    for command in [
        format!(
            "{} alert list --json --limit 200 --dir {dir} | head -c 1",
            node.display()
        ),
        format!(
            "{} status --watch --json --dir {dir} | head -c 1",
            node.display()
        ),
    ] {
        let piped = Command::new("bash")
            .args(["-c", &format!("set -o pipefail; {command}")])
            .output()
            .expect("bash");
        assert!(
            piped.status.success(),
            "{command}: {:?} {}",
            piped.status,
            stderr(&piped)
        );
        assert_eq!(piped.stdout.len(), 1);
    }

    // Export to standard output, checked from standard input.
    let exported = cli(&["export", "--dir", dir, "--out", "-"]);
    expect_exit(&exported, 0, "export --out -");
    let verified = cli_with_input(&["import", "--verify", "--dir", dir, "-"], &exported.stdout);
    expect_exit(&verified, 0, "import --verify -");
    assert!(
        stdout(&verified).contains("63 entries"),
        "{}",
        stdout(&verified)
    );
}

#[test]
fn a_node_that_cannot_publish_says_why_with_its_exit_codes() {
    let base = tempfile::tempdir().expect("tempdir");
    let be = base.path().join("be");
    init_process_node(&be, "BE");
    // NL is a member nobody can reach: BE cannot know its own log is complete.
    let nl_key = init_process_node(&base.path().join("nl"), "NL");
    admit(
        &be,
        "NL",
        &nl_key,
        &[format!("/ip4/127.0.0.1/tcp/{}", free_port())],
    );
    let (_node, _url) = start(&be, "be");
    let dir = s(&be);
    let template = cli(&["alert", "template"]);
    let refused = cli_with_input(
        &["alert", "publish", "--dir", dir, "--file", "-"],
        &template.stdout,
    );
    expect_exit(&refused, 9, "not synced");
    assert!(
        stderr(&refused).contains("not_synced"),
        "{}",
        stderr(&refused)
    );
    let check = cli(&["status", "--check", "--max-down-s", "0", "--dir", dir]);
    expect_exit(&check, 10, "status --check");
    assert!(
        stderr(&check).contains("cannot publish"),
        "{}",
        stderr(&check)
    );
    assert!(
        stderr(&check).contains("member NL unreachable"),
        "{}",
        stderr(&check)
    );
}

/// Runs `command` as user and group 65534 (nobody), the node's service user here.
fn as_service_user(mut command: Command) -> Command {
    command.uid(65534).gid(65534);
    command
}

fn chown(path: &Path, owner: &str) {
    sh("chown", &["-R", owner, s(path)]);
}

#[test]
fn a_token_change_takes_effect_on_the_running_node_or_the_command_fails() {
    let base = tempfile::tempdir().expect("tempdir");
    // The service user must reach the node directory inside the test's directory.
    std::fs::set_permissions(base.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let nl = base.path().join("nl");
    init_process_node(&nl, "NL");
    chown(&nl, "65534:65534");
    // The service user must be able to run the binary: a copy beside the node, since
    // the build's own directory may be private to root (a clone in a 0700 directory).
    let binary = base.path().join("customs-node");
    std::fs::copy(node_binary(), &binary).expect("copy the binary");
    std::fs::set_permissions(&binary, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let mut command = Command::new(&binary);
    command.args(["run", "--dir", s(&nl)]);
    let (_node, url) = start_command(as_service_user(command), &nl, "nl");
    let dir = s(&nl);
    let tokens_file = nl.join("tokens.toml");
    let api_as = |token: &str| ApiClient::new(&url, Some(token), Some(Duration::from_secs(10)));
    let status_with = |token: &str| {
        api_as(token)
            .send("GET", "/api/v1/status", None)
            .expect("answer")
            .status
    };

    // Root (this test) edits the service user's tokens: the file keeps its owner and
    // mode, and the node confirms the change before the command returns.
    let created = cli(&[
        "token",
        "create",
        "--dir",
        dir,
        "--role",
        "publisher",
        "--name",
        "p1",
    ]);
    expect_exit(&created, 0, "token create");
    let p1 = stdout(&created).trim().to_string();
    assert_eq!(status_with(&p1), 200);
    let revoked = cli(&["token", "revoke", "--dir", dir, "--name", "p1"]);
    expect_exit(&revoked, 0, "token revoke");
    assert_eq!(status_with(&p1), 401, "revoked before the command returned");
    let meta = std::fs::metadata(&tokens_file).expect("tokens.toml");
    assert_eq!(
        (meta.uid(), meta.gid()),
        (65534, 65534),
        "the owner is kept"
    );
    assert_eq!(mode(&tokens_file), 0o600);

    // A token file the node cannot read: every token is refused (fail closed), the
    // node says so, and a token command fails instead of claiming success.
    let admin = admin_token(&nl);
    chown(&tokens_file, "0:0");
    assert_eq!(status_with(&admin), 401, "fail closed");
    let ready = ApiClient::new(&url, None, None)
        .send("GET", "/readyz", None)
        .expect("readyz");
    assert_eq!(ready.status, 503);
    assert!(ready.text().contains("tokens"), "{}", ready.text());
    let unconfirmed = cli(&[
        "token", "create", "--dir", dir, "--role", "reader", "--name", "p2",
    ]);
    expect_exit(&unconfirmed, 1, "a change the node cannot read");
    assert!(
        stderr(&unconfirmed).contains("refuses"),
        "{}",
        stderr(&unconfirmed)
    );
    chown(&tokens_file, "65534:65534");
    wait_for("the node to read its tokens again", DEADLINE, || {
        (status_with(&admin) == 200).then_some(())
    });

    // The CLI's own token: only with --force, and the CLI says how to recover.
    let own = cli(&["token", "revoke", "--dir", dir, "--name", "admin"]);
    expect_exit(&own, 2, "revoking the CLI's own token");
    assert!(stderr(&own).contains("--force"), "{}", stderr(&own));
    let forced = cli(&[
        "token", "revoke", "--dir", dir, "--name", "admin", "--force",
    ]);
    expect_exit(&forced, 0, "revoke --force");
    assert!(
        stderr(&forced).contains("token create"),
        "{}",
        stderr(&forced)
    );
    expect_exit(&cli(&["status", "--dir", dir]), 4, "the CLI is locked out");
    let fresh = base.path().join("api-token.new");
    expect_exit(
        &cli(&[
            "token",
            "create",
            "--dir",
            dir,
            "--role",
            "admin",
            "--name",
            "cli",
            "--out",
            s(&fresh),
            "--url",
            &url,
        ]),
        1,
        "cannot be confirmed with the revoked token",
    );
    std::fs::rename(&fresh, nl.join("api-token")).expect("move the new token");
    expect_exit(&cli(&["status", "--dir", dir]), 0, "the CLI works again");
}

#[test]
fn a_node_restored_from_an_old_backup_waits_for_its_log_and_never_forks() {
    let base = tempfile::tempdir().expect("tempdir");
    let Pair { nl, be } = pair(base.path());
    let (mut nl_node, nl_url) = start(&nl, "nl");
    let nl_api = client(&nl_url, &nl);
    // The first node publishes before anyone synced: its permission.
    for n in 0..3 {
        assert_eq!(publish_status(&nl_api, &format!("NL-{n}")).0, 201);
    }
    let (mut be_node, be_url) = start(&be, "be");
    let be_api = client(&be_url, &be);
    let nl_key = status(&nl_api)["node"]["public_key"].clone();
    wait_for("BE to hold NL's entries", DEADLINE, || {
        (seq_of(&status(&be_api), &nl_key) == 3).then_some(())
    });
    // Spent once a member holds its entries (recorded in the store).
    wait_for("the first node's permission to be spent", DEADLINE, || {
        (status(&nl_api)["node"]["publish_before_sync_allowed"] == false).then_some(())
    });
    nl_node.terminate(DEADLINE);
    let backup = base.path().join("nl-backup");
    copy_dir(&nl, &backup);
    let (mut nl_node, nl_url) = start(&nl, "nl");
    let nl_api = client(&nl_url, &nl);
    wait_for("NL to be able to publish", DEADLINE, || {
        (status(&nl_api)["node"]["can_publish"] == true).then_some(())
    });
    for n in 3..5 {
        assert_eq!(publish_status(&nl_api, &format!("NL-{n}")).0, 201);
    }
    wait_for("BE to hold NL's 5 entries", DEADLINE, || {
        (seq_of(&status(&be_api), &nl_key) == 5).then_some(())
    });
    nl_node.terminate(DEADLINE);
    be_node.terminate(DEADLINE);

    // The restore: the old backup (3 entries of its own, allow_publish_before_sync
    // still true in its node.toml) while its member is down.
    std::fs::remove_dir_all(&nl).expect("remove");
    copy_dir(&backup, &nl);
    let (_nl_node, nl_url) = start(&nl, "nl");
    let nl_api = client(&nl_url, &nl);
    let (code, body) = publish_status(&nl_api, "NL-would-fork");
    assert_eq!(
        (code, body["error"].as_str()),
        (503, Some("not_synced")),
        "{body}"
    );
    assert_eq!(status(&nl_api)["node"]["cannot_publish"], "not_synced");
    let (_be_node, be_url) = start(&be, "be");
    let be_api = client(&be_url, &be);
    wait_for(
        "NL to fetch its own log and be able to publish",
        DEADLINE,
        || {
            let s = status(&nl_api);
            (s["node"]["can_publish"] == true && own_seq(&s) == 5).then_some(())
        },
    );
    let (code, body) = publish_status(&nl_api, "NL-5");
    assert_eq!(code, 201, "{body}");
    assert_eq!(body["seq"], 6, "continues after its highest seq");
    wait_for("BE to hold NL's 6th entry", DEADLINE, || {
        (seq_of(&status(&be_api), &nl_key) == 6).then_some(())
    });
    for api in [&nl_api, &be_api] {
        assert_eq!(status(api)["forks"], 0, "no fork anywhere");
    }
}

/// libfaketime's library, wherever the faketime package put it for this machine.
fn libfaketime() -> PathBuf {
    std::fs::read_dir("/usr/lib")
        .expect("/usr/lib")
        .filter_map(Result::ok)
        .map(|dir| dir.path().join("faketime/libfaketime.so.1"))
        .find(|lib| lib.exists())
        .expect("libfaketime (apt-get install faketime)")
}

#[test]
fn a_node_with_a_clock_ahead_stops_signing_and_sees_its_members_refusals() {
    let base = tempfile::tempdir().expect("tempdir");
    let Pair { nl, be } = pair(base.path());
    // NL's clock runs 10 minutes ahead: libfaketime (Debian's faketime package),
    // preloaded into the node itself so that the child is the node; its timers keep
    // the real monotonic clock.
    let mut command = Command::new(node_binary());
    command
        .env("LD_PRELOAD", libfaketime())
        .env("FAKETIME", "+10m")
        .env("FAKETIME_DONT_FAKE_MONOTONIC", "1")
        .args(["run", "--dir", s(&nl)]);
    let (_nl_node, nl_url) = start_command(command, &nl, "nl+10m");
    let nl_api = client(&nl_url, &nl);
    // Alone, the first node may publish: its alert carries its clock's time.
    assert_eq!(publish_status(&nl_api, "NL-early").0, 201);
    let (_be_node, be_url) = start(&be, "be");
    let be_api = client(&be_url, &be);
    let refusal = wait_for("NL to see BE refuse its entry", DEADLINE, || {
        let s = status(&nl_api);
        let refused = peer(&s, "BE")["refused_ours"].as_array()?.first()?.clone();
        Some(refused)
    });
    assert_eq!(refusal["reason"], "InFuture", "{refusal}");
    assert_eq!(refusal["last_seq"], 1);
    let s = status(&nl_api);
    assert_eq!(s["node"]["cannot_publish"], "clock_off", "{s}");
    let offset = s["node"]["clock_offset_ms"].as_i64().expect("an offset");
    assert!((-605_000..=-595_000).contains(&offset), "{offset}");
    let (code, body) = publish_status(&nl_api, "NL-late");
    assert_eq!(
        (code, body["error"].as_str()),
        (503, Some("clock_off")),
        "{body}"
    );
    let message = body["message"].as_str().unwrap_or_default();
    assert!(message.contains("600 s ahead"), "{message}");
    let metrics = nl_api
        .send("GET", "/metrics", None)
        .expect("metrics")
        .text();
    assert!(
        metrics.contains("customs_peer_refused_ours{peer=\"BE\",reason=\"InFuture\"} 1"),
        "{metrics}"
    );
    // BE, whose clock is right, publishes on.
    wait_for("BE to be able to publish", DEADLINE, || {
        (status(&be_api)["node"]["can_publish"] == true).then_some(())
    });
    assert_eq!(publish_status(&be_api, "BE-1").0, 201);
    let audit = std::fs::read_to_string(nl.join("audit.log")).expect("audit.log");
    assert!(
        audit
            .lines()
            .any(|l| l.contains("\"refused_by_member\"") && l.contains("InFuture")),
        "{audit}"
    );
    assert!(audit.contains("\"clock_refusal\""), "{audit}");
}

#[test]
fn files_are_private_whatever_the_umask_and_the_audit_log_records_who_did_what() {
    let base = tempfile::tempdir().expect("tempdir");
    let nl = base.path().join("nl");
    let binary = node_binary();
    let in_umask_022 = |args: &str| {
        let output = Command::new("bash")
            .args(["-c", &format!("umask 022; {} {args}", binary.display())])
            .output()
            .expect("bash");
        assert!(output.status.success(), "{args}: {output:?}");
        output
    };
    in_umask_022(&format!(
        "init --dir {} --code NL --name NL --network customs-test --p2p-listen /ip4/127.0.0.1/tcp/0 --api-listen 127.0.0.1:0 --allow-publish-before-sync",
        s(&nl)
    ));
    edit_config(&nl, &[("reads = false", "reads = true")]);
    let mut command = Command::new("bash");
    command.args([
        "-c",
        &format!("umask 022; exec {} run --dir {}", binary.display(), s(&nl)),
    ]);
    let (mut node, url) = start_command(command, &nl, "nl");
    let api = client(&url, &nl);
    let (code, body) = publish_status(&api, "NL-1");
    assert_eq!(code, 201);
    let id = body["id"].as_str().expect("id").to_string();
    let listed = api.send("GET", "/api/v1/alerts", None).expect("list");
    assert_eq!(listed.status, 200);
    let wrong = ApiClient::new(&url, Some("not-a-token"), None);
    assert_eq!(
        wrong
            .send("GET", "/api/v1/status", None)
            .expect("answer")
            .status,
        401
    );
    let reader = stdout(&in_umask_022(&format!(
        "token create --dir {} --role reader --name officer.jansen",
        s(&nl)
    )))
    .trim()
    .to_string();
    let officer = ApiClient::new(&url, Some(&reader), None);
    assert_eq!(publish_status(&officer, "NL-2").0, 403);
    let bundle = base.path().join("backup.bundle");
    in_umask_022(&format!("export --dir {} --out {}", s(&nl), s(&bundle)));
    node.terminate(DEADLINE);

    assert_eq!(mode(&nl), 0o700, "the node directory");
    let mut files = vec![bundle.clone()];
    for entry in walk(&nl) {
        if entry.is_dir() {
            assert_eq!(mode(&entry), 0o700, "{}", entry.display());
        } else {
            files.push(entry);
        }
    }
    assert!(
        files.iter().any(|f| f.ends_with("store/index/lock")),
        "{files:?}"
    );
    assert!(
        files
            .iter()
            .any(|f| f.ends_with("store/segments/00000000.log")),
        "{files:?}"
    );
    assert!(files.iter().any(|f| f.ends_with("audit.log")), "{files:?}");
    for file in &files {
        assert_eq!(mode(file), 0o600, "{}", file.display());
    }

    // Who did what: JSON lines, with names and ids, never a token or a record.
    let audit = std::fs::read_to_string(nl.join("audit.log")).expect("audit.log");
    let events: Vec<Value> = audit
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    let has = |action: &str, actor: &str, outcome: &str| {
        events
            .iter()
            .any(|e| e["action"] == action && e["actor"] == actor && e["outcome"] == outcome)
    };
    assert!(has("publish_alert", "admin", "ok"), "{audit}");
    assert!(events
        .iter()
        .any(|e| e["action"] == "publish_alert" && e["id"] == id.as_str()));
    assert!(has("unauthorized", "unknown", "401"), "{audit}");
    assert!(has("forbidden", "officer.jansen", "403"), "{audit}");
    assert!(has("tokens_changed", "node", "ok"), "{audit}");
    assert!(
        events.iter().any(|e| e["action"] == "read"
            && e["actor"] == "admin"
            && e["detail"] == "GET /api/v1/alerts"),
        "audit.reads = true records reads: {audit}"
    );
    assert!(has("node_start", "node", "ok"), "{audit}");
    for event in &events {
        for field in ["time", "action", "actor", "outcome"] {
            assert!(event[field].is_string(), "{event}");
        }
    }
    for secret in [admin_token(&nl), reader] {
        assert!(!audit.contains(&secret), "the audit log holds no token");
    }
    assert!(
        !audit.contains("NL-1"),
        "the audit log holds no record content"
    );
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).expect("list") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            found.extend(walk(&path));
        }
        found.push(path);
    }
    found
}

#[test]
fn a_damaged_bundle_imports_nothing_and_the_restore_drill_works() {
    let base = tempfile::tempdir().expect("tempdir");
    let nl = base.path().join("nl");
    let (mut node, url) = lone_node(&nl, &[]);
    let api = client(&url, &nl);
    for n in 0..5 {
        assert_eq!(publish_status(&api, &format!("NL-{n}")).0, 201);
    }
    let bundle = base.path().join("nl.bundle");
    expect_exit(
        &cli(&["export", "--dir", s(&nl), "--out", s(&bundle)]),
        0,
        "export",
    );
    node.terminate(DEADLINE);

    // The documented restore: the configuration files in an empty directory, then
    // the bundle.
    let restored = base.path().join("restored");
    std::fs::create_dir(&restored).expect("mkdir");
    for file in [
        "node.toml",
        "identity.key",
        "members.toml",
        "tokens.toml",
        "api-token",
    ] {
        if nl.join(file).exists() {
            std::fs::copy(nl.join(file), restored.join(file)).expect("copy");
        }
    }
    let bytes = std::fs::read(&bundle).expect("bundle");
    let truncated = base.path().join("cut.bundle");
    std::fs::write(&truncated, &bytes[..bytes.len() - 100]).expect("write");
    let refused = cli(&["import", "--dir", s(&restored), s(&truncated)]);
    expect_exit(&refused, 8, "a truncated bundle");
    assert!(
        stderr(&refused).contains("nothing was imported"),
        "{}",
        stderr(&refused)
    );
    let verified = cli(&["import", "--verify", "--dir", s(&restored), s(&bundle)]);
    expect_exit(&verified, 0, "import --verify");
    // Neither wrote anything: an export of the restored store is empty.
    let empty = base.path().join("empty.bundle");
    let exported = cli(&[
        "export",
        "--dir",
        s(&restored),
        "--out",
        s(&empty),
        "--json",
    ]);
    expect_exit(&exported, 0, "export of the restored store");
    assert_eq!(
        serde_json::from_slice::<Value>(&exported.stdout).expect("JSON")["entries"],
        0
    );

    expect_exit(
        &cli(&["import", "--dir", s(&restored), s(&bundle)]),
        0,
        "import",
    );
    let (_node, url) = start(&restored, "restored");
    let restored_api = client(&url, &restored);
    let s = status(&restored_api);
    assert_eq!(own_seq(&s), 5, "{s}");
    let (code, body) = publish_status(&restored_api, "NL-5");
    assert_eq!((code, body["seq"].as_u64()), (201, Some(6)), "{body}");
}
