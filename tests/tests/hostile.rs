//! A hostile member between `customs-node run` processes: the security review's
//! attacks, each signed with the member's own key and fields it chose, delivered by
//! its own node, and shown to change nothing on the others (membership, group
//! ownership, who reads what) while the refusals are raised.

use customs_protocol::governance::{
    AdminCard, CausalGovernance, Certificate, EncryptionKey, Governance, NodeCertificate,
};
use customs_protocol::{Body, GroupId, GroupUpdate, Markings, SecretKey};
use customs_tests::governed::*;
use customs_tests::hostile::{encryption_keys, sealed_to, write_bundle, Hostile};
use customs_tests::wait_for;
use serde_json::{json, Value};

/// An administration that does not exist, for a sock-puppet admission.
fn puppet(code: &str, seed: u8) -> Governance {
    let admin = SecretKey::from_seed([seed; 32]);
    let node = SecretKey::from_seed([seed + 1; 32]);
    Governance::ProposeAdmission {
        card: AdminCard {
            code: code.into(),
            name: format!("{code} puppet"),
            admin_key: admin.public_key(),
        },
        nodes: vec![Certificate::sign(
            NodeCertificate {
                code: code.into(),
                admin_key: admin.public_key(),
                node_key: node.public_key(),
                encryption_key: EncryptionKey([seed; 32]),
                addresses: Vec::new(),
                issued_at_ms: 1_000,
            },
            &admin,
        )],
    }
}

/// This machine's clock (Unix ms): what the hostile member dates "now" entries with.
fn clock_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis() as u64
}

fn members_of(on: &Member) -> Vec<(String, String)> {
    let mut standings = on.standings();
    standings.sort();
    standings
}

/// Waits until `on` holds entry `id` (by sync), and returns its view.
fn wait_entry(on: &Member, id: &str) -> Value {
    wait_for(&format!("{} to hold {id}", on.code), DEADLINE, || {
        on.get(&format!("/api/v1/entries/{id}"))
    })
}

#[test]
fn a_member_that_lies_about_time_or_claims_a_group_changes_nothing() {
    let root = tempfile::tempdir().expect("tempdir");
    let mut nl = found(root.path(), "NL");
    let charter = charter_file(root.path(), &nl);
    nl.start();
    let mut de = joiner(root.path(), "de", "DE", &charter, &nl.p2p, None);
    de.start();
    propose(&nl, &card_of(&de));
    wait_member(&de, "DE", "member");
    let mut be = joiner(root.path(), "be", "BE", &charter, &nl.p2p, None);
    be.start();
    admit(&[&nl, &de], &be);
    for node in [&nl, &de, &be] {
        wait_member(node, "BE", "member");
    }
    let three = members_of(&nl);
    assert_eq!(three.len(), 3);

    // Finding 1: the founder signs admissions as if it alone were the quorum: one
    // naming no heads (hiding what it saw), one in the old layout, and one dated one
    // second after the charter, before everything else it signed.
    nl.stop();
    let mut founder = Hostile::of(&nl);
    let now_ms = clock_ms();
    let causal = founder.sign(
        now_ms,
        Markings::default(),
        Body::CausalGovernance(CausalGovernance {
            heads: Vec::new(),
            cuts: Vec::new(),
            act: puppet("XX", 40),
        }),
    );
    let legacy = founder.sign(
        now_ms,
        Markings::default(),
        Body::Governance(puppet("YY", 50)),
    );
    let dated_early = founder.sign(
        1_000,
        Markings::default(),
        Body::CausalGovernance(CausalGovernance {
            heads: Vec::new(),
            cuts: Vec::new(),
            act: puppet("ZZ", 60),
        }),
    );
    founder.deliver();
    nl.start();
    for node in [&nl, &de, &be] {
        wait_for(
            &format!("{} to hold the proposal that names no heads", node.code),
            DEADLINE,
            || {
                let proposals = node.get("/api/v1/proposals")?;
                let found = proposals["proposals"]
                    .as_array()?
                    .iter()
                    .find(|p| p["id"] == json!(causal.id().to_hex()))?
                    .clone();
                Some(found)
            },
        );
        wait_entry(node, &legacy.id().to_hex());
        assert!(
            node.get(&format!("/api/v1/entries/{}", dated_early.id()))
                .is_none(),
            "{} took an entry dated before its author's previous one",
            node.code
        );
        assert_eq!(members_of(node), three, "{} changed its members", node.code);
        let proposals = node.get("/api/v1/proposals").expect("proposals");
        let list = proposals["proposals"].as_array().expect("list");
        let x = list
            .iter()
            .find(|p| p["id"] == json!(causal.id().to_hex()))
            .expect("XX's proposal");
        assert_eq!(x["status"], "pending", "judged against three members");
        assert_eq!(x["needed"], 2);
        assert!(
            list.iter().all(|p| p["id"] != json!(legacy.id().to_hex())),
            "the old layout after the move counts for nothing"
        );
    }

    // Finding 2: NL makes a group, then removes BE from it; BE signs a first
    // definition of the group (dated now), with a secret it chose.
    let created = nl
        .api()
        .post::<Value>(
            "/api/v1/groups",
            &json!({"name": "Operation Marble", "purpose": "cocaine in reefers",
                    "members": ["DE", "BE"], "ends_on": "2027-12-31"}),
        )
        .expect("group created");
    let group = created["group"]["id"]
        .as_str()
        .expect("group id")
        .to_string();
    nl.api()
        .send(
            "DELETE",
            &format!("/api/v1/groups/{group}/members/BE"),
            None,
        )
        .expect("BE removed from the group");
    for node in [&de, &nl] {
        wait_for("the group at epoch 1", DEADLINE, || {
            let groups = node.get("/api/v1/groups")?;
            groups["groups"]
                .as_array()?
                .iter()
                .any(|g| g["id"] == json!(group) && g["epoch"] == 1)
                .then_some(())
        });
    }
    let recipients: Vec<[u8; 32]> = ["NL", "DE", "BE"]
        .iter()
        .flat_map(|code| encryption_keys(code, &nl))
        .collect();
    be.stop();
    let mut removed = Hostile::of(&be);
    let id = GroupId::from_hex(&group).expect("a group id");
    let takeover = GroupUpdate {
        id,
        epoch: 0,
        name: "Operation Marble".into(),
        purpose: "cocaine in reefers".into(),
        members: vec!["BE".into(), "NL".into(), "DE".into()],
        starts_on: customs_protocol::Date::new(2026, 1, 1),
        ends_on: customs_protocol::Date::new(2027, 12, 31),
        secret: [66; 32],
    };
    // Dated now: an earlier date would be refused by the chain rule before the
    // group rule is even asked (the first half of this test shows that).
    let claim = removed.sign_sealed(
        now_ms + 1,
        &sealed_to(&["NL", "DE"], Body::Group(takeover.clone())),
        &recipients,
    );
    let next = GroupUpdate {
        epoch: 2,
        secret: [67; 32],
        ..takeover
    };
    removed.sign_sealed(
        now_ms + 2,
        &sealed_to(&["NL", "DE"], Body::Group(next)),
        &recipients,
    );
    removed.deliver();
    be.start();
    for node in [&nl, &de] {
        let groups = wait_for(
            &format!("{} to raise the claim", node.code),
            DEADLINE,
            || {
                let groups = node.get("/api/v1/groups")?;
                (!groups["claims"].as_array()?.is_empty()).then_some(groups)
            },
        );
        let claim_view = &groups["claims"][0];
        assert_eq!(claim_view["claimant"], "BE");
        assert_eq!(claim_view["entry"], json!(claim.id().to_hex()));
        let g = groups["groups"]
            .as_array()
            .expect("groups")
            .iter()
            .find(|g| g["id"] == json!(group))
            .expect("the group")
            .clone();
        assert_eq!(g["owner"], "NL", "{} gave the group away", node.code);
        assert_eq!(g["epoch"], 1);
        assert_eq!(g["members"], json!(["NL", "DE"]));
    }
    let metrics = nl
        .api()
        .send("GET", "/metrics", None)
        .expect("metrics")
        .text();
    assert!(metrics.contains("customs_group_claims 1"), "{metrics}");
    wait_for("the claim in NL's audit log", DEADLINE, || {
        let audit = std::fs::read_to_string(nl.dir.join("audit.log")).ok()?;
        audit.contains("group_claim").then_some(())
    });

    // NL's next TLP:RED record to its group: DE reads it, BE holds ciphertext only.
    let mut alert: Value = serde_json::from_str(&cli(&["alert", "template"])).expect("template");
    alert["reference"] = json!("NL-RED-1");
    alert["markings"] = json!({"tlp": "red"});
    alert["distribution"] = json!({"group": {"id": group}});
    let published: Value = nl.api().post("/api/v1/alerts", &alert).expect("published");
    let red = published["id"].as_str().expect("id").to_string();
    assert_eq!(wait_entry(&de, &red)["type"], "risk_alert");
    let on_be = wait_entry(&be, &red);
    assert!(
        on_be["restricted"] == json!(true) && on_be.get("body").is_none(),
        "BE must not read it: {on_be}"
    );

    // Finding 1, removal: NL and DE remove BE; the removal cuts BE's key at the last
    // seq they hold. BE then signs an alert dated before everything: refused.
    let p_rm = cli_json(&[
        "member",
        "remove",
        "--dir",
        nl.path(),
        "BE",
        "--reason",
        "left the agreement",
    ])["proposal"]
        .as_str()
        .expect("proposal")
        .to_string();
    approve(&de, &p_rm);
    for node in [&nl, &de] {
        wait_member(node, "BE", "removed");
    }
    let cut = nl.members()["members"]
        .as_array()
        .expect("members")
        .iter()
        .find(|m| m["code"] == "BE")
        .and_then(|m| m["nodes"][0]["last_seq"].as_u64())
        .expect("BE's key is cut at a seq");
    be.stop();
    let mut late = Hostile::of(&be);
    // 2026-11-21: after the sample's detection date, before the network existed.
    let backdated = late.sign(
        1_795_219_200_000,
        Markings::default(),
        Body::RiskAlert(customs_protocol::samples::risk_alert()),
    );
    assert!(
        backdated.entry().seq > cut,
        "{} over {cut}",
        backdated.entry().seq
    );
    let bundle = root.path().join("be-late.bundle");
    write_bundle(&bundle, &late.network, &[backdated.signed().clone()]);
    de.stop();
    for verify in [true, false] {
        let mut args = vec![
            "import",
            "--dir",
            de.path(),
            bundle.to_str().expect("utf-8"),
        ];
        if verify {
            args.insert(1, "--verify");
        }
        let (ok, _, err) = run_cli(&args);
        assert!(!ok, "DE took BE's backdated entry (verify: {verify})");
        assert!(err.contains("KeyClosed"), "{err}");
    }
    de.start();
    assert!(de
        .get(&format!("/api/v1/entries/{}", backdated.id()))
        .is_none());
}

/// Finding 3: a member makes others try keys. DE signs 70 groups of its own, each
/// addressed to NL (a group key NL's node would keep), and 40 envelopes of 256
/// random slots that open for no one. NL keeps the keys of 64 of DE's groups only,
/// tries each forged envelope within DE's decryption budget and defers the rest
/// (stored, not refused), and an open alert DE publishes afterwards still arrives.
/// DE's own node refuses a 65th group through its API.
#[test]
fn a_member_that_floods_groups_and_forged_envelopes_spends_only_its_budget() {
    let root = tempfile::tempdir().expect("tempdir");
    let mut nl = found(root.path(), "NL");
    // A small budget, so that the flood goes past it: 16 full envelopes an hour.
    let toml = nl.dir.join("node.toml");
    let text = std::fs::read_to_string(&toml).expect("node.toml");
    assert!(text.contains("decrypt_trials_per_author_per_hour = 65536"));
    std::fs::write(
        &toml,
        text.replace(
            "decrypt_trials_per_author_per_hour = 65536",
            "decrypt_trials_per_author_per_hour = 4096",
        ),
    )
    .expect("write node.toml");
    let charter = charter_file(root.path(), &nl);
    nl.start();
    let mut de = joiner(root.path(), "de", "DE", &charter, &nl.p2p, None);
    de.start();
    propose(&nl, &card_of(&de));
    wait_member(&de, "DE", "member");
    wait_member(&nl, "DE", "member");
    let recipients: Vec<[u8; 32]> = ["NL", "DE"]
        .iter()
        .flat_map(|code| encryption_keys(code, &nl))
        .collect();
    assert_eq!(recipients.len(), 2);

    de.stop();
    let mut flood = Hostile::of(&de);
    let now_ms = clock_ms();
    for n in 0..70u8 {
        let secret = [n.wrapping_add(100); 32];
        let update = GroupUpdate {
            id: GroupId::bound(&flood.key.public_key(), &secret),
            epoch: 0,
            name: format!("Group {n}"),
            purpose: "flood".into(),
            members: vec!["DE".into(), "NL".into()],
            starts_on: customs_protocol::Date::new(2026, 1, 1),
            ends_on: customs_protocol::Date::new(2099, 12, 31),
            secret,
        };
        flood.sign_sealed(
            now_ms + u64::from(n),
            &sealed_to(&["NL"], Body::Group(update)),
            &recipients,
        );
    }
    let mut last = None;
    for n in 0..40 {
        last = Some(flood.sign_forged_envelope(now_ms + 100 + n, 256));
    }
    flood.deliver();
    de.start();
    wait_entry(&nl, &last.expect("signed").id().to_hex());

    let metric = |name: &str| -> Option<u64> {
        let text = nl.api().send("GET", "/metrics", None).ok()?.text();
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.trim().parse().ok())
    };
    wait_for("NL to keep 64 of DE's group keys", DEADLINE, || {
        (metric("customs_group_keys{kind=\"current\"}")? == 64).then_some(())
    });
    let deferred = metric("customs_sealed_deferred_total").expect("the metric");
    assert!(
        (20..=40).contains(&deferred),
        "DE's budget (4096 operations) covers its groups and about 9 forged envelopes of 320 operations; {deferred} deferred"
    );
    assert_eq!(
        nl.get("/api/v1/groups").expect("groups")["groups"]
            .as_array()
            .expect("groups")
            .len(),
        70,
        "NL lists every group addressed to it; it keeps the keys of 64"
    );

    // DE's node refuses its 65th open group.
    let refused = de
        .api()
        .post::<Value>(
            "/api/v1/groups",
            &json!({"name": "one more", "purpose": "flood", "members": ["NL"], "ends_on": "2099-12-31"}),
        )
        .expect_err("a 65th open group");
    assert!(refused.to_string().contains("too_many_groups"), "{refused}");

    // What DE publishes in the open afterwards still reaches NL.
    de.publish_when_ready("DE-AFTER-FLOOD");
    nl.wait_alert("DE-AFTER-FLOOD", "DE");

    // Time never goes back within a chain (SPEC section 7): DE signs an alert, then
    // one dated a minute before it. NL's node stores the first and refuses the
    // second, on import as from sync.
    de.stop();
    let mut liar = Hostile::of(&de);
    let now_ms = clock_ms();
    let alert = || Body::RiskAlert(customs_protocol::samples::risk_alert());
    let honest = liar.sign(now_ms, Markings::default(), alert());
    let backdated = liar.sign(now_ms - 60_000, Markings::default(), alert());
    let bundle = root.path().join("de-backdated.bundle");
    write_bundle(
        &bundle,
        &liar.network,
        &[honest.signed().clone(), backdated.signed().clone()],
    );
    nl.stop();
    let report = cli_json(&[
        "import",
        "--dir",
        nl.path(),
        bundle.to_str().expect("utf-8"),
    ]);
    assert_eq!(report["applied"], 1, "{report}");
    assert_eq!(report["backdated"], 1, "{report}");
    nl.start();
    assert!(nl
        .get(&format!("/api/v1/entries/{}", honest.id()))
        .is_some());
    assert!(nl
        .get(&format!("/api/v1/entries/{}", backdated.id()))
        .is_none());
}
