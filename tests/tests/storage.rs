//! Storage v2 between processes: node directories written by older nodes start with a
//! plain `customs-node run`; their stores are upgraded in place and nothing is lost.
//! The node of 2026-11-30 wrote format v2 (entries inside sled); the node of
//! 2026-12-01 wrote format v3 (segment files, an index with wider rows).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use customs_tests::governed::Member;
use customs_tests::scenarios::try_metric;
use customs_tests::wait_for;
use serde_json::Value;

const DEADLINE: Duration = Duration::from_secs(60);

/// The fixture's alerts and AEO record (written by `customs-node` of 2026-11-30: three
/// open alerts, FIXTURE-1 again sealed to NL at TLP:RED, an AEO record, and a
/// retraction of FIXTURE-2).
const SEALED_ALERT: &str = "6543bcb27232702984bf71cf239cde13aa82d4521031df79fd17884d63da4e10";
const RETRACTED_ALERT: &str = "89edb81e5de0c101867ebfed190aaa0659f8f235f7057b8e204b6c1e58cb846e";
const AEO_RECORD: &str = "10894af4d08f19592f243e50b181695f18feb9c5917cda12ea0d42c9e4d6996b";

fn references(node: &Member, query: &str) -> Vec<String> {
    let list = node
        .get(&format!("/api/v1/alerts?limit=200{query}"))
        .unwrap_or(Value::Null);
    let mut refs: Vec<String> = list["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|item| item["alert"]["reference"].as_str().map(String::from))
        .collect();
    refs.sort();
    refs
}

/// A node directory written by an older node, and what it holds.
struct Fixture {
    file: &'static str,
    /// Whether the extracted store is of the old format.
    is_old: fn(&std::path::Path) -> bool,
    /// What the upgrade leaves aside and must remove, inside the node directory.
    old_part: &'static str,
    entries: u64,
    /// Alerts not retracted, and all of them.
    visible: &'static [&'static str],
    all: &'static [&'static str],
    webhooks: usize,
}

#[test]
fn a_node_directory_of_2026_11_30_is_upgraded_in_place_by_run() {
    upgraded_in_place_by_run(Fixture {
        file: "node-2026-11-30.tar.gz",
        is_old: |store| store.join("db").exists() && !store.join("segments").exists(),
        old_part: "store.v2",
        entries: 6,
        visible: &["FIXTURE-1", "FIXTURE-1", "FIXTURE-3"],
        all: &["FIXTURE-1", "FIXTURE-1", "FIXTURE-2", "FIXTURE-3"],
        webhooks: 0,
    });
}

/// The same node after the node of 2026-12-01 ran it: one more alert (FIXTURE-4,
/// seq 7) and a webhook.
#[test]
fn a_node_directory_of_2026_12_01_is_upgraded_in_place_by_run() {
    upgraded_in_place_by_run(Fixture {
        file: "node-2026-12-01.tar.gz",
        is_old: |store| store.join("segments").exists() && store.join("index").exists(),
        old_part: "store/index.v3",
        entries: 7,
        visible: &["FIXTURE-1", "FIXTURE-1", "FIXTURE-3", "FIXTURE-4"],
        all: &[
            "FIXTURE-1",
            "FIXTURE-1",
            "FIXTURE-2",
            "FIXTURE-3",
            "FIXTURE-4",
        ],
        webhooks: 1,
    });
}

fn upgraded_in_place_by_run(fixture: Fixture) {
    let root = tempfile::tempdir().expect("tempdir");
    let file = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(fixture.file);
    let status = std::process::Command::new("tar")
        .args(["xzf"])
        .arg(&file)
        .arg("-C")
        .arg(root.path())
        .status()
        .expect("tar runs");
    assert!(status.success());
    let dir = root.path().join("nl");
    // The fixture's API listened on a fixed port: any free one here.
    let config = std::fs::read_to_string(dir.join("node.toml")).expect("node.toml");
    std::fs::write(
        dir.join("node.toml"),
        config.replace("127.0.0.1:17999", "127.0.0.1:0"),
    )
    .expect("node.toml");
    assert!(
        (fixture.is_old)(&dir.join("store")),
        "the fixture {} is of the old format",
        fixture.file
    );

    let log = Arc::new(Mutex::new(Vec::new()));
    let mut nl = Member {
        code: "NL".into(),
        dir: dir.clone(),
        p2p: String::new(),
        child: None,
    };
    nl.start_logging(Some(log.clone()));
    assert!(
        log.lock()
            .expect("log")
            .iter()
            .any(|line| line.contains("the store was upgraded to format v4")),
        "the upgrade is logged"
    );
    assert!(dir.join("store/segments/00000000.log").exists());
    assert!(!dir.join(fixture.old_part).exists());

    // Everything the old store held is served: open alerts, the retraction, the sealed
    // record (opened again with the node's key), the AEO record.
    let visible = wait_for("the upgraded node's alerts", DEADLINE, || {
        let refs = references(&nl, "");
        (refs.len() == fixture.visible.len()).then_some(refs)
    });
    assert_eq!(visible, fixture.visible);
    assert_eq!(references(&nl, "&include_retracted=true"), fixture.all);
    let sealed = nl
        .get(&format!("/api/v1/entries/{SEALED_ALERT}"))
        .expect("sealed entry");
    assert_eq!(sealed["markings"]["tlp"], "red", "{sealed}");
    assert_eq!(sealed["body"]["reference"], "FIXTURE-1", "{sealed}");
    let retracted = nl
        .get(&format!("/api/v1/entries/{RETRACTED_ALERT}"))
        .expect("retracted entry");
    assert!(retracted["retracted_by"].is_string(), "{retracted}");
    let aeo = nl
        .get(&format!("/api/v1/entries/{AEO_RECORD}"))
        .expect("AEO entry");
    assert_eq!(aeo["type"], "aeo_record", "{aeo}");
    // Node-local state (the notifier's webhooks) is kept.
    let webhooks = nl.get("/api/v1/webhooks").expect("webhooks");
    assert_eq!(
        webhooks["items"].as_array().map(Vec::len),
        Some(fixture.webhooks),
        "{webhooks}"
    );

    // The log goes on after the upgrade, and survives a restart.
    let published = nl.publish_when_ready("AFTER-UPGRADE");
    let first = fixture.entries + 1;
    assert_eq!(published["seq"], first, "{published}");
    // Eight clients at once: each publish is answered once durable, every one with
    // its own seq (signed in sequence, committed in groups).
    let template: Value =
        serde_json::from_str(&customs_tests::governed::cli(&["alert", "template"]))
            .expect("template");
    let seqs: Vec<u64> = std::thread::scope(|scope| {
        let clients: Vec<_> = (0..8)
            .map(|client| {
                let (api, mut alert) = (nl.api(), template.clone());
                scope.spawn(move || {
                    (0..10)
                        .map(|n| {
                            alert["reference"] = format!("CONCURRENT-{client}-{n}").into();
                            let answer: Value =
                                api.post("/api/v1/alerts", &alert).expect("published");
                            answer["seq"].as_u64().expect("seq")
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        clients
            .into_iter()
            .flat_map(|c| c.join().expect("client"))
            .collect()
    });
    let mut sorted = seqs.clone();
    sorted.sort_unstable();
    assert_eq!(
        sorted,
        (first + 1..first + 81).collect::<Vec<u64>>(),
        "one seq each, none lost"
    );
    let api = nl.api();
    assert_eq!(try_metric(&api, "customs_store_published_total"), Some(81));
    let batches = try_metric(&api, "customs_store_publish_batches_total").expect("batches");
    assert!((1..=81).contains(&batches), "{batches} batches");

    nl.stop();
    nl.start();
    let status = wait_for("the restarted node's status", DEADLINE, || {
        nl.get("/api/v1/status")
    });
    assert_eq!(
        status["counts"]["entries"],
        fixture.entries + 81,
        "{status}"
    );
    let after = references(&nl, "");
    assert_eq!(after.len(), fixture.visible.len() + 81);
    assert!(after.contains(&"AFTER-UPGRADE".to_string()));
    assert!(after.contains(&"CONCURRENT-7-9".to_string()));
    nl.stop();
}
