//! Governed membership between `customs-node run` processes, driven through the CLI
//! as an IT team would: a network founded by one node, administrations joining by
//! proposal and quorum, a second node of one administration, a key rotation, a
//! revocation from a seq and a removal, every step applied live (no process is
//! restarted by the test).

use customs_tests::browser::Browser;
use customs_tests::governed::*;
use customs_tests::process::{admin_token, api_url, edit_config};
use customs_tests::{free_port, wait_for};
use serde_json::json;

/// An admin approves a pending admission on the console's Members page, which shows
/// who proposed and approved it.
fn approve_in_console(member: &Member, subject: &str, approved_by: &str) {
    let browser = Browser::start();
    browser.goto(&format!("{}/", api_url(&member.dir, DEADLINE)));
    browser.wait("the sign-in form", DEADLINE, |b| b.visible("#signin-token"));
    browser.type_into("#signin-token", &admin_token(&member.dir));
    browser.click("#signin-form button[type=submit]");
    let wanted = format!("Admit {subject}");
    browser.wait("the pending proposal", DEADLINE, |b| {
        b.click("nav a[data-view=members]");
        b.text("#proposals").contains(&wanted)
    });
    let row = browser.text("#proposals");
    assert!(row.contains(approved_by) && row.contains("1 of 2"), "{row}");
    assert!(
        browser.visible("#proposal-badge"),
        "the nav shows a proposal waits"
    );
    browser.screenshot("8-members-pending");
    browser.click("#proposals button[data-proposal]");
    browser.wait("the proposal decided", DEADLINE, |b| {
        b.text("#proposals").contains("No proposal is pending")
            && b.text("#members").contains(subject)
    });
    let decided = browser.text("#decided");
    assert!(
        decided.contains(&format!("{wanted} ({subject}): decided")),
        "{decided}"
    );
    browser.screenshot("9-members");
}

#[test]
fn a_governed_network_admits_rotates_revokes_and_removes_live() {
    let root = tempfile::tempdir().expect("tempdir");
    let mut nl = found(root.path(), "NL");
    let charter = charter_file(root.path(), &nl);
    let network = cli_json(&["charter", "--dir", nl.path()])["network"]
        .as_str()
        .expect("network id")
        .to_string();
    assert!(network.starts_with("customs-test-"), "{network}");
    nl.start();
    // The founder publishes at once.
    nl.publish_alert("NL-1")
        .expect("the founding node publishes at once");

    // DE joins: the founder alone is the quorum.
    let mut de = joiner(root.path(), "de", "DE", &charter, &nl.p2p, None);
    de.start();
    let refused = de.publish_alert("DE-early").expect_err("not admitted yet");
    assert!(refused.contains("not_admitted"), "{refused}");
    // A governed network admits by proposal only: `member add` says so.
    let (ok, _, err) = run_cli(&[
        "member",
        "add",
        "--dir",
        nl.path(),
        card_of(&de).to_str().expect("utf-8"),
    ]);
    assert!(!ok && err.contains("member propose"), "{err}");
    let p = propose(&nl, &card_of(&de));
    wait_member(&de, "DE", "member");
    de.publish_when_ready("DE-1");
    nl.wait_alert("DE-1", "DE");
    de.wait_alert("NL-1", "NL");

    // BE joins through DE (not the founder): two members, both must agree.
    let mut be = joiner(root.path(), "be", "BE", &charter, &de.p2p, None);
    be.start();
    let p_be = propose(&de, &card_of(&be));
    wait_for("NL to hold BE's proposal", DEADLINE, || {
        let proposals = nl.get("/api/v1/proposals")?;
        let pending = proposals["proposals"]
            .as_array()?
            .iter()
            .find(|x| x["id"] == json!(p_be))?
            .clone();
        (pending["status"] == json!("pending") && pending["needed"] == json!(2)).then_some(())
    });
    assert_ne!(p, p_be);
    approve_in_console(&nl, "BE", "DE");
    wait_member(&be, "BE", "member");
    be.wait_alert("DE-1", "DE");

    // A fourth administration is admitted by quorum (two of three) while every node
    // keeps running, and publishes within seconds; everyone gets its alert.
    let mut fr = joiner(root.path(), "fr", "FR", &charter, &nl.p2p, None);
    fr.start();
    let p_fr = propose(&nl, &card_of(&fr));
    approve(&be, &p_fr);
    let admitted = std::time::Instant::now();
    let fr1 = fr.publish_when_ready("FR-1");
    eprintln!("FR published {:?} after its admission", admitted.elapsed());
    for node in [&nl, &de, &be] {
        node.wait_alert("FR-1", "FR");
    }

    // A second node of NL, certified by NL's administration key, publishes under NL
    // with its own log: no fork anywhere.
    let mut nl2 = joiner(
        root.path(),
        "nl2",
        "NL",
        &charter,
        &nl.p2p,
        Some(&nl.dir.join("admin.key")),
    );
    cli(&[
        "key",
        "certify",
        "--dir",
        nl.path(),
        nl2.dir.join("certificate.toml").to_str().expect("utf-8"),
    ]);
    nl2.start();
    nl2.publish_when_ready("NL2-1");
    nl2.publish_when_ready("NL2-2");
    nl2.publish_when_ready("NL2-3");
    for node in [&de, &be, &fr] {
        node.wait_alert("NL2-3", "NL");
    }

    // DE rotates its node key: its old log closes, the node carries on with the new
    // key, and its records stay attributed to DE everywhere.
    let rotated = cli_json(&["key", "rotate", "--dir", de.path()]);
    let old_key = rotated["old_key"].as_str().expect("old key").to_string();
    let new_key = rotated["new_key"].as_str().expect("new key").to_string();
    de.publish_when_ready("DE-2");
    be.wait_alert("DE-2", "DE");
    be.wait_alert("DE-1", "DE");
    // Filtering by member code finds the records of both keys.
    let by_de: Vec<String> = be
        .get("/api/v1/alerts?author=DE")
        .and_then(|v| v["items"].as_array().cloned())
        .unwrap_or_default()
        .iter()
        .filter_map(|a| a["alert"]["reference"].as_str().map(str::to_string))
        .collect();
    assert!(
        by_de.contains(&"DE-1".to_string()) && by_de.contains(&"DE-2".to_string()),
        "{by_de:?}"
    );
    let de_nodes = wait_for("BE to see DE's two keys", DEADLINE, || {
        let members = be.members();
        let de_entry = members["members"]
            .as_array()?
            .iter()
            .find(|m| m["code"] == json!("DE"))?
            .clone();
        let nodes = de_entry["nodes"].as_array()?.clone();
        (nodes.len() == 2).then_some(nodes)
    });
    let old = de_nodes
        .iter()
        .find(|n| n["node_key"] == json!(old_key))
        .expect("old key listed");
    assert_eq!(old["open"], json!(false));
    assert_eq!(old["last_seq"], rotated["last_seq"]);
    assert!(de_nodes
        .iter()
        .any(|n| n["node_key"] == json!(new_key) && n["open"] == json!(true)));

    // NL revokes its second node's key from seq 3: that entry is refused everywhere
    // (hidden from lists, shown as refused), the earlier ones stay; the revoked node
    // stops signing.
    let nl2_key = nl2.members()["members"]
        .as_array()
        .and_then(|m| m.iter().find(|m| m["code"] == json!("NL")).cloned())
        .and_then(|m| {
            m["nodes"]
                .as_array()?
                .iter()
                .find(|n| n["this_node"] == json!(true))
                .cloned()
        })
        .and_then(|n| n["node_key"].as_str().map(str::to_string))
        .expect("nl2's key");
    cli(&[
        "key",
        "revoke",
        "--dir",
        nl.path(),
        "--key",
        &nl2_key,
        "--from-seq",
        "3",
        "--reason",
        "laptop stolen",
    ]);
    for node in [&nl, &de, &be, &fr] {
        wait_for(&format!("{} to hide NL2-3", node.code), DEADLINE, || {
            let alerts = node.alerts();
            (!alerts.iter().any(|(r, _)| r == "NL2-3") && alerts.iter().any(|(r, _)| r == "NL2-2"))
                .then_some(())
        });
    }
    let refused = wait_for("nl2 to refuse to sign", DEADLINE, || {
        nl2.publish_alert("NL2-4")
            .err()
            .filter(|e| e.contains("not_admitted"))
    });
    assert!(refused.contains("revoked from seq 3"), "{refused}");

    // FR is removed by quorum (three of four): it is disconnected (after a grace of
    // 5 s), and what it signs afterwards is refused by every node; its earlier alert
    // stays, from a former member.
    let removal = cli_json(&[
        "member",
        "remove",
        "--dir",
        nl.path(),
        "FR",
        "--reason",
        "left the agreement",
    ]);
    let p_rm = removal["proposal"].as_str().expect("proposal").to_string();
    approve(&de, &p_rm);
    approve(&be, &p_rm);
    for node in [&nl, &de, &be] {
        wait_member(node, "FR", "removed");
        wait_for(&format!("{} to drop FR", node.code), DEADLINE, || {
            let status = node.get("/api/v1/status")?;
            let peers = status["peers"].as_array()?.clone();
            (!peers
                .iter()
                .any(|p| p["code"] == json!("FR") && p["connected"] == json!(true)))
            .then_some(())
        });
        node.wait_alert("FR-1", "FR");
    }
    // FR's own node hears of its removal before the members let it go (they keep
    // its connection for a grace of 5 s), and stops signing.
    let refused = wait_for("fr to refuse to sign", DEADLINE, || {
        fr.publish_alert("FR-2")
            .err()
            .filter(|e| e.contains("not_admitted"))
    });
    assert!(refused.contains("signs nothing valid"), "{refused}");
    nl.publish_when_ready("NL-2");
    for node in [&de, &be] {
        node.wait_alert("NL-2", "NL");
        assert!(
            !node.alerts().iter().any(|(r, _)| r == "FR-2"),
            "{} lists FR-2",
            node.code
        );
    }
    let fr1 = fr1["id"].as_str().expect("id");
    let entry = nl
        .get(&format!("/api/v1/entries/{fr1}"))
        .expect("FR's alert");
    assert_eq!(entry["verification"]["standing"], json!("former_member"));
    assert_eq!(entry["verification"]["author_is_member"], json!(false));
    let proposal = nl
        .get(&format!("/api/v1/entries/{p_fr}"))
        .expect("the proposal entry");
    assert_eq!(proposal["verification"]["standing"], json!("member"));

    for node in [&nl, &de, &be, &nl2] {
        assert_eq!(node.forks(), 0, "{} holds fork proofs", node.code);
    }
    // The membership is the same on every member.
    let codes = nl.standings();
    for node in [&de, &be] {
        assert_eq!(node.standings(), codes, "{} disagrees", node.code);
    }
}

/// A network of static member lists, running today, converts to a charter without a
/// restart and without losing a record; then it admits a member by quorum.
#[test]
fn a_static_network_converts_to_a_charter_and_keeps_every_record() {
    use customs_tests::process::{admit, init_process_node_at};
    let root = tempfile::tempdir().expect("tempdir");
    let mut nodes: Vec<Member> = ["NL", "BE"]
        .iter()
        .map(|code| {
            let p2p = format!("/ip4/127.0.0.1/tcp/{}", free_port());
            let dir = root.path().join(code.to_lowercase());
            init_process_node_at(&dir, code, &p2p, "127.0.0.1:0");
            Member {
                code: code.to_string(),
                dir,
                p2p,
                child: None,
            }
        })
        .collect();
    edit_config(
        &nodes[0].dir,
        &[(
            "allow_publish_before_sync = false",
            "allow_publish_before_sync = true",
        )],
    );
    let keys: Vec<String> = nodes
        .iter()
        .map(|n| {
            cli_json(&["member", "export", "--dir", n.path()])["public_key"]
                .as_str()
                .expect("key")
                .to_string()
        })
        .collect();
    for (i, j) in [(0, 1), (1, 0)] {
        let key = customs_protocol::PublicKey::from_hex(&keys[j]).expect("key");
        admit(&nodes[i].dir, &nodes[j].code, &key, &[nodes[j].p2p.clone()]);
    }
    for node in &mut nodes {
        node.start();
    }
    nodes[0].publish_when_ready("NL-static");
    nodes[1].publish_when_ready("BE-static");
    nodes[0].wait_alert("BE-static", "BE");
    nodes[1].wait_alert("NL-static", "NL");
    let static_members = nodes[0].members();
    assert_eq!(static_members["governed"], json!(false));
    let network = static_members["network"]
        .as_str()
        .expect("network")
        .to_string();

    // One member writes the conversion charter; every member adopts it, live.
    let charter = root.path().join("conversion.toml");
    std::fs::write(
        &charter,
        cli(&["charter", "convert", "--dir", nodes[0].path()]),
    )
    .expect("charter");
    for node in &nodes {
        let adopted = cli_json(&[
            "charter",
            "adopt",
            "--dir",
            node.path(),
            charter.to_str().expect("utf-8"),
        ]);
        assert_eq!(adopted["live"], json!(true), "{adopted}");
        assert_eq!(adopted["network"], json!(network), "the id stays");
    }
    for node in &nodes {
        wait_for(
            &format!("{} to run under the charter", node.code),
            DEADLINE,
            || {
                let members = node.get("/api/v1/members")?;
                (members["governed"] == json!(true)).then_some(())
            },
        );
        assert_eq!(
            node.standings(),
            [
                ("BE".to_string(), "member".to_string()),
                ("NL".to_string(), "member".to_string())
            ]
        );
        node.wait_alert("NL-static", "NL");
        node.wait_alert("BE-static", "BE");
    }
    // A third administration joins the converted network by quorum (two of two).
    let mut de = joiner(root.path(), "de", "DE", &charter, &nodes[0].p2p, None);
    de.start();
    let p = propose(&nodes[0], &card_of(&de));
    approve(&nodes[1], &p);
    de.publish_when_ready("DE-governed");
    for node in &nodes {
        node.wait_alert("DE-governed", "DE");
    }
    de.wait_alert("NL-static", "NL");
    de.wait_alert("BE-static", "BE");
    // A node the charter does not list cannot adopt it.
    let (ok, _, err) = run_cli(&[
        "charter",
        "adopt",
        "--dir",
        de.path(),
        charter.to_str().expect("utf-8"),
    ]);
    assert!(
        !ok && err.contains("does not list this node's key"),
        "{err}"
    );
}
