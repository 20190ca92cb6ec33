//! Need to know between `customs-node run` processes: markings on every record,
//! alerts sealed to named members and to closed user groups, what a non-recipient
//! holds (searched byte by byte on its disk and in its log), catch-up of a sealed
//! record from a non-recipient, a group member removed, and markings enforced on
//! the outbound list.

use std::path::Path;
use std::sync::{Arc, Mutex};

use customs_tests::browser::Browser;
use customs_tests::governed::*;
use customs_tests::process::{admin_token, api_url};
use customs_tests::wait_for;
use serde_json::{json, Value};

/// A phrase that appears nowhere but in the sealed alert's description.
const SECRET_PHRASE: &str = "heroin in marble slabs QXZV-7731";
const SECRET_REFERENCE: &str = "NL-SEALED-0001";

/// Writes an alert (from `alert template`) with `reference` and `description` to a
/// file for `alert publish --file`.
fn alert_file(dir: &Path, reference: &str, description: &str) -> String {
    let mut alert: Value = serde_json::from_str(&cli(&["alert", "template"])).expect("template");
    alert["reference"] = json!(reference);
    alert["description"] = json!(description);
    let path = dir.join(format!("{reference}.json"));
    std::fs::write(&path, alert.to_string()).expect("alert file");
    path.to_str().expect("utf-8").to_string()
}

/// Publishes through the CLI with `flags`; returns the new entry's id.
fn publish(by: &Member, file: &str, flags: &[&str]) -> String {
    let mut args = vec!["alert", "publish", "--dir", by.path(), "--file", file];
    args.extend_from_slice(flags);
    cli_json(&args)["id"]
        .as_str()
        .expect("entry id")
        .to_string()
}

fn entry(on: &Member, id: &str) -> Option<Value> {
    on.get(&format!("/api/v1/entries/{id}"))
}

/// Waits until `on` holds entry `id` and returns what its API shows.
fn wait_entry(on: &Member, id: &str) -> Value {
    wait_for(&format!("{} to hold {id}", on.code), DEADLINE, || {
        entry(on, id)
    })
}

/// Waits until `on` reads entry `id` (it opened it) and returns it.
fn wait_readable(on: &Member, id: &str) -> Value {
    wait_for(&format!("{} to read {id}", on.code), DEADLINE, || {
        entry(on, id).filter(|e| e["body"].is_object())
    })
}

fn references(on: &Member, path: &str) -> Vec<String> {
    on.get(path)
        .and_then(|v| v["items"].as_array().cloned())
        .unwrap_or_default()
        .iter()
        .filter_map(|a| a["alert"]["reference"].as_str().map(String::from))
        .collect()
}

/// Every file under `dir` that contains `needle`.
fn files_containing(dir: &Path, needle: &[u8]) -> Vec<String> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(path) = stack.pop() {
        if path.is_dir() {
            for child in std::fs::read_dir(&path).expect("read dir") {
                stack.push(child.expect("dir entry").path());
            }
        } else if let Ok(bytes) = std::fs::read(&path) {
            if bytes.windows(needle.len()).any(|w| w == needle) {
                found.push(path.display().to_string());
            }
        }
    }
    found
}

#[test]
fn sealed_alerts_reach_only_their_recipients_and_markings_hold() {
    let root = tempfile::tempdir().expect("tempdir");
    let mut nl = found(root.path(), "NL");
    let charter = charter_file(root.path(), &nl);
    nl.start();
    let mut de = joiner(root.path(), "de", "DE", &charter, &nl.p2p, None);
    let de_log = Arc::new(Mutex::new(Vec::new()));
    de.start_logging(Some(de_log.clone()));
    admit(&[&nl], &de);
    let mut fr = joiner(root.path(), "fr", "FR", &charter, &nl.p2p, None);
    fr.start();
    admit(&[&nl, &de], &fr);
    // BE is admitted while its node is not running; it will catch up from DE alone.
    let de_address = de.bootstrap_address();
    let mut be = joiner(root.path(), "be", "BE", &charter, &de_address, None);
    admit(&[&nl, &de], &be);
    for node in [&nl, &de, &fr] {
        wait_member(node, "BE", "member");
    }

    // A red, no-onward-sharing alert for BE only.
    let secret_file = alert_file(root.path(), SECRET_REFERENCE, SECRET_PHRASE);
    nl.publish_when_ready("NL-READY");
    let sealed = publish(
        &nl,
        &secret_file,
        &[
            "--to",
            "BE",
            "--tlp",
            "red",
            "--handling",
            "no_onward_sharing,no_judicial_use",
            "--reliability",
            "B",
            "--accuracy",
            "2",
        ],
    );
    // The author reads its own, with its markings and distribution.
    let own = wait_readable(&nl, &sealed);
    assert_eq!(own["body"]["description"], json!(SECRET_PHRASE));
    assert_eq!(own["distribution"], json!({"to": ["BE"]}));
    assert_eq!(own["markings"]["tlp"], json!("red"));
    // TLP:RED to every member is refused, and nothing is signed.
    let open_red = alert_file(root.path(), "NL-RED-OPEN", "red but open");
    let (ok, _, err) = run_cli(&[
        "alert",
        "publish",
        "--dir",
        nl.path(),
        "--file",
        &open_red,
        "--tlp",
        "red",
    ]);
    assert!(!ok && err.contains("TLP:RED"), "{err}");

    // An open alert that must not leave the network, and one that may.
    let kept_file = alert_file(root.path(), "NL-KEEP-0001", "cigarettes in a reefer");
    let kept = publish(&nl, &kept_file, &["--handling", "no_onward_sharing"]);
    let shared_file = alert_file(root.path(), "NL-SHARE-0001", "counterfeit watches");
    publish(
        &nl,
        &shared_file,
        &["--tlp", "green", "--reliability", "A", "--accuracy", "1"],
    );

    // DE and FR hold the sealed entry (it replicates to every member) but read none
    // of it: the API shows its place in NL's log and nothing else.
    for node in [&de, &fr] {
        let view = wait_entry(node, &sealed);
        assert_eq!(view["restricted"], json!(true), "{view}");
        let mut keys: Vec<&String> = view.as_object().expect("object").keys().collect();
        keys.sort();
        assert_eq!(
            keys,
            [
                "author",
                "author_code",
                "created_at",
                "created_at_ms",
                "id",
                "restricted",
                "seq"
            ],
            "{view}"
        );
        node.wait_alert("NL-SHARE-0001", "NL");
        assert!(!references(node, "/api/v1/alerts?limit=200").contains(&SECRET_REFERENCE.into()));
    }
    // Markings round-trip and are enforced on the outbound list.
    let de_kept = wait_readable(&de, &kept);
    assert_eq!(
        de_kept["markings"]["handling"],
        json!(["no_onward_sharing"])
    );
    let outbound = de
        .get("/api/v1/alerts/outbound?limit=200")
        .expect("outbound");
    let out_refs = references(&de, "/api/v1/alerts/outbound?limit=200");
    assert!(out_refs.contains(&"NL-SHARE-0001".into()), "{outbound}");
    assert!(!out_refs.contains(&"NL-KEEP-0001".into()), "{outbound}");
    assert!(outbound["withheld"].as_u64() >= Some(1), "{outbound}");
    let listed = de.get("/api/v1/alerts?limit=200").expect("alerts");
    let shared = listed["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|a| a["alert"]["reference"] == json!("NL-SHARE-0001"))
        .expect("listed")
        .clone();
    assert_eq!(
        shared["markings"],
        json!({"tlp": "green", "handling": [], "source_reliability": "A", "accuracy": 1})
    );

    // A closed user group of NL, DE and FR; FR is removed from it later.
    let group = cli_json(&[
        "group",
        "create",
        "--dir",
        nl.path(),
        "--name",
        "Operation Marble",
        "--purpose",
        "Heroin in stone shipments",
        "--members",
        "DE,FR",
        "--ends",
        "2099-12-31",
    ]);
    let group_id = group["group"]["id"].as_str().expect("group id").to_string();
    let before_file = alert_file(root.path(), "NL-GROUP-0001", "first group alert");
    let before = publish(&nl, &before_file, &["--group", &group_id]);
    for node in [&de, &fr] {
        let read = wait_readable(node, &before);
        assert_eq!(read["distribution"]["group"]["id"], json!(group_id));
        assert_eq!(read["group_name"], json!("Operation Marble"));
    }
    let groups = cli_json(&["group", "list", "--dir", fr.path()]);
    assert_eq!(groups["groups"][0]["members"], json!(["NL", "DE", "FR"]));
    cli_json(&["group", "remove", "--dir", nl.path(), &group_id, "FR"]);
    // Only the owner changes the members.
    let (ok, _, err) = run_cli(&["group", "add", "--dir", de.path(), &group_id, "BE"]);
    assert!(!ok, "a member that is not the owner changed the group");
    wait_for("DE to hold the group without FR", DEADLINE, || {
        let list = de.get("/api/v1/groups")?;
        (list["groups"][0]["members"] == json!(["NL", "DE"])).then_some(())
    });
    assert!(err.contains("owner"), "{err}");
    let after_file = alert_file(root.path(), "NL-GROUP-0002", "after FR left");
    let after = publish(&nl, &after_file, &["--group", &group_id]);
    // A member other than the owner addresses the group too.
    let de_file = alert_file(root.path(), "DE-GROUP-0001", "DE to the group");
    let de_group = publish(&de, &de_file, &["--group", &group_id]);
    wait_readable(&de, &after);
    wait_readable(&nl, &de_group);
    for id in [&after, &de_group] {
        let view = wait_entry(&fr, id);
        assert_eq!(
            view["restricted"],
            json!(true),
            "FR read {id} after its removal: {view}"
        );
    }
    assert!(
        wait_readable(&fr, &before)["body"].is_object(),
        "FR keeps what it was sent"
    );

    // NL's console: the Groups page lists the group and its members; an officer
    // publishes an alert sealed to DE with markings, and the detail view shows them.
    let browser = Browser::start();
    browser.goto(&format!("{}/", api_url(&nl.dir, DEADLINE)));
    browser.wait("the sign-in form", DEADLINE, |b| b.visible("#signin-token"));
    browser.type_into("#signin-token", &admin_token(&nl.dir));
    browser.click("#signin-form button[type=submit]");
    browser.wait("the groups page", DEADLINE, |b| {
        b.click("nav a[data-view=groups]");
        b.text("#groups").contains("Operation Marble")
    });
    let groups_page = browser.text("#groups");
    assert!(
        groups_page.contains("NL, DE") && groups_page.contains("Remove DE"),
        "{groups_page}"
    );
    browser.screenshot("10-groups");
    browser.click("nav a[data-view=publish]");
    browser.wait("the recipient list", DEADLINE, |b| {
        b.text("#a-dist-to").contains("DE")
    });
    browser.fill_alert_form("NL-CONSOLE-0001", "CSQU3054383");
    browser.set("#a-tlp", "amber_strict");
    browser.click("#a-h-onward");
    browser.set("#a-dist", "to");
    assert!(browser.visible("#a-dist-to"), "the member picker shows");
    browser.set("#a-dist-to", "DE");
    // What seizure reports carry: direction, transport documents, value.
    browser.set("#a-direction", "import");
    browser.type_into("#a-bl", "MEDUAB123456");
    browser.type_into("#a-value", "2500000");
    browser.type_into("#a-currency", "eur");
    browser.screenshot("11-publish-need-to-know");
    browser.click("#alert-form button[type=submit]");
    browser.wait("the published notice", DEADLINE, |b| {
        b.text("#notice").contains("only its recipients")
    });
    let on_de = wait_for("DE to list the console's alert", DEADLINE, || {
        de.get("/api/v1/alerts?limit=200")?["items"]
            .as_array()?
            .iter()
            .find(|a| a["alert"]["reference"] == json!("NL-CONSOLE-0001"))
            .cloned()
    });
    assert_eq!(on_de["markings"]["tlp"], json!("amber_strict"));
    assert_eq!(on_de["markings"]["handling"], json!(["no_onward_sharing"]));
    assert_eq!(on_de["distribution"], json!({"to": ["DE"]}));
    assert_eq!(on_de["alert"]["direction"], json!("import"));
    assert_eq!(
        on_de["alert"]["consignment"]["bill_of_lading"],
        json!("MEDUAB123456")
    );
    assert_eq!(
        on_de["alert"]["estimated_value"],
        json!({"amount": "2500000", "currency": "EUR"})
    );
    assert_eq!(on_de["alert"]["consignment"]["mrn"], json!(null));
    browser.wait("the detail's markings", DEADLINE, |b| {
        b.click_first("#alerts [data-id]")
            && b.text("#detail-markings").contains("TLP:AMBER+STRICT")
    });
    assert!(browser.text("#detail").contains("Who may read it"));
    browser.screenshot("12-detail-markings");
    drop(browser);

    // BE starts with DE as its only reachable peer (NL and FR are stopped), catches up
    // from DE alone, and reads every field of the alert sealed to it.
    nl.stop();
    fr.stop();
    be.start();
    let read = wait_readable(&be, &sealed);
    assert_eq!(read["body"], own["body"]);
    assert_eq!(read["markings"], own["markings"]);
    assert_eq!(read["distribution"], json!({"to": ["BE"]}));
    assert_eq!(read["verification"]["status"], json!("valid"));
    assert!(references(&be, "/api/v1/alerts?limit=200").contains(&SECRET_REFERENCE.into()));
    assert!(
        !references(&be, "/api/v1/alerts/outbound?limit=200").contains(&SECRET_REFERENCE.into())
    );
    // BE is not in the group: the group's records stay closed to it.
    assert_eq!(wait_entry(&be, &before)["restricted"], json!(true));

    // Nothing of the sealed record is on DE's disk or in its log: not the plaintext,
    // not the recipient list (the record's distribution as encoded inside the envelope).
    de.stop();
    let recipient_list = [1u8, 1, 2, b'B', b'E'];
    for needle in [
        SECRET_PHRASE.as_bytes(),
        SECRET_REFERENCE.as_bytes(),
        &recipient_list,
    ] {
        let found = files_containing(&de.dir, needle);
        assert!(
            found.is_empty(),
            "DE's files hold {:?}: {found:?}",
            String::from_utf8_lossy(needle)
        );
    }
    // The author's own store does hold it (the check is not vacuous).
    assert!(!files_containing(&nl.dir, SECRET_PHRASE.as_bytes()).is_empty());
    let log = de_log.lock().unwrap_or_else(|e| e.into_inner()).join("\n");
    assert!(!log.is_empty());
    assert!(!log.contains(SECRET_PHRASE) && !log.contains(SECRET_REFERENCE));
}
