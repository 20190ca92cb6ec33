//! Crash safety: a child process writes to a store and reports every acknowledged
//! write; the test kills it with SIGKILL at random moments, reopens the store and
//! checks that nothing acknowledged was lost, every chain verifies, the indexes agree
//! with the log, and no seq ever held two different entries.
//!
//! Rounds: CRASH_ROUNDS (default 24). The seed is printed so a failure can be replayed
//! with CRASH_SEED.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use customs_node::store::{Store, StoreConfig};
use customs_protocol::{EntryId, PublicKey};
use rand::{Rng, SeedableRng};

const NETWORK: &str = "customs-crash";

fn writer_binary() -> &'static str {
    env!("CARGO_BIN_EXE_crash-writer")
}

struct Ack {
    author: PublicKey,
    seq: u64,
    id: EntryId,
}

fn parse_ack(line: &str) -> Ack {
    let parts: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(parts.len(), 4, "unexpected line from the writer: {line:?}");
    assert_eq!(parts[0], "ack");
    Ack {
        author: PublicKey::from_hex(parts[1]).expect("author hex"),
        seq: parts[2].parse().expect("seq"),
        id: EntryId::from_hex(parts[3]).expect("id hex"),
    }
}

#[test]
fn acknowledged_writes_survive_sigkill() {
    let rounds: usize = std::env::var("CRASH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(24);
    let seed: u64 = std::env::var("CRASH_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(rand::random);
    println!("crash test: {rounds} rounds, CRASH_SEED={seed}");
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("store");

    // Every (author, seq) -> id ever acknowledged or seen in the store.
    let mut history: HashMap<(PublicKey, u64), EntryId> = HashMap::new();
    let mut acknowledged = 0usize;

    for round in 0..rounds {
        let mut child = Command::new(writer_binary())
            .arg(&path)
            .arg(rng.gen::<u64>().to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("writer starts");
        let stdout = child.stdout.take().expect("stdout");
        let (lines_tx, lines) = mpsc::channel::<String>();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if lines_tx.send(line).is_err() {
                    break;
                }
            }
        });

        // Kill right after a random number of acknowledgements: the writer is then
        // somewhere inside its next write.
        let kill_after = rng.gen_range(1..=60);
        let mut acks = Vec::new();
        while acks.len() < kill_after {
            match lines.recv_timeout(Duration::from_secs(60)) {
                Ok(line) => acks.push(parse_ack(&line)),
                Err(e) => panic!("round {round}: writer stopped acknowledging: {e}"),
            }
        }
        child.kill().expect("SIGKILL");
        child.wait().expect("reaped");
        reader.join().expect("reader");
        acks.extend(lines.try_iter().map(|l| parse_ack(&l)));
        acknowledged += acks.len();

        let store = Store::open(StoreConfig::new(&path, NETWORK))
            .unwrap_or_else(|e| panic!("round {round}: store does not reopen: {e}"));
        let report = store
            .check()
            .unwrap_or_else(|e| panic!("round {round}: store inconsistent after SIGKILL: {e}"));
        for ack in &acks {
            assert_eq!(
                store.id_at(&ack.author, ack.seq).expect("read"),
                Some(ack.id),
                "round {round}: acknowledged entry {} (seq {}) is lost",
                ack.id,
                ack.seq
            );
            let previous = history.insert((ack.author, ack.seq), ack.id);
            assert!(
                previous.is_none_or(|p| p == ack.id),
                "round {round}: seq {} of {} was acknowledged as two entries",
                ack.seq,
                ack.author
            );
        }
        for head in store.frontier().expect("frontier").heads() {
            let page = store
                .entries_from(&head.author, 1, usize::MAX, usize::MAX)
                .expect("log");
            for entry in page.entries {
                let key = (head.author, entry.entry().seq);
                let previous = history.insert(key, entry.id());
                assert!(
                    previous.is_none_or(|p| p == entry.id()),
                    "round {round}: seq {} of {} now holds a different entry",
                    key.1,
                    key.0
                );
            }
        }
        assert_eq!(report.entries, store.counts().entries);
    }
    println!("crash test: {rounds} rounds, {acknowledged} acknowledged writes, all present");
    assert!(acknowledged >= rounds);
}

/// A full disk makes writes return errors, never panics, and loses nothing
/// acknowledged before it. The disk is a real one: a 2 MiB tmpfs mounted in a mount
/// namespace of the writer's own (`unshare`, no privileges needed), copied out after
/// the writer is killed and reopened where there is space.
#[test]
fn a_full_disk_is_an_error_and_loses_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mount, out) = (dir.path().join("tmpfs"), dir.path().join("out"));
    std::fs::create_dir_all(&mount).expect("mount point");
    std::fs::create_dir_all(&out).expect("out");
    let path = out.join("store");
    let script = r#"mount -t tmpfs -o size=2m tmpfs "$1" || exit 90
"$0" "$1/store" 7 &
echo "writer $!" >&2
wait
cp -a "$1/store" "$2/store""#;
    let mut child = Command::new("unshare")
        .args(["--user", "--map-root-user", "--mount", "bash", "-c", script])
        .arg(writer_binary())
        .arg(&mount)
        .arg(&out)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("unshare (util-linux) starts");
    let (acks_tx, acks_rx) = mpsc::channel::<String>();
    let stdout = child.stdout.take().expect("stdout");
    let ack_reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = acks_tx.send(line);
        }
    });
    let (errors_tx, errors_rx) = mpsc::channel::<String>();
    let stderr = child.stderr.take().expect("stderr");
    let error_reader = std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = errors_tx.send(line);
        }
    });
    let first = errors_rx
        .recv_timeout(Duration::from_secs(60))
        .expect("the writer starts in its namespace");
    let writer: i32 = first
        .strip_prefix("writer ")
        .and_then(|pid| pid.parse().ok())
        .unwrap_or_else(|| panic!("no writer started (tmpfs mount refused?): {first}"));

    let mut errors = Vec::new();
    while errors.len() < 20 {
        match errors_rx.recv_timeout(Duration::from_secs(120)) {
            Ok(line) => errors.push(line),
            Err(e) => panic!("the writer never hit the size limit: {e}"),
        }
    }
    let alive = Command::new("kill")
        .args(["-0", &writer.to_string()])
        .status()
        .expect("kill -0");
    assert!(
        alive.success(),
        "the writer died on a full disk instead of reporting errors: {errors:?}"
    );
    let killed = Command::new("kill")
        .args(["-KILL", &writer.to_string()])
        .status()
        .expect("kill");
    assert!(killed.success(), "SIGKILL to the writer");
    let status = child.wait().expect("reaped");
    assert!(status.success(), "the store was not copied out: {status}");
    ack_reader.join().expect("reader");
    error_reader.join().expect("reader");
    // Only lines received before the kill: the last one after it may be cut short.
    for line in &errors {
        assert!(
            line.contains("store I/O error") && line.to_lowercase().contains("no space left"),
            "not a clear I/O error: {line}"
        );
    }
    let acks: Vec<Ack> = acks_rx.try_iter().map(|l| parse_ack(&l)).collect();
    assert!(
        !acks.is_empty(),
        "the writer wrote nothing before the disk filled"
    );

    let store = Store::open(StoreConfig::new(&path, NETWORK)).expect("reopens with space again");
    store.check().expect("consistent");
    for ack in &acks {
        assert_eq!(
            store.id_at(&ack.author, ack.seq).expect("read"),
            Some(ack.id)
        );
    }
}
