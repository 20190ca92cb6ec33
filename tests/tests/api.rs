//! The HTTP API of in-process nodes (real swarms, real stores, real HTTP over
//! loopback): every route, every error class, access by role, the live feed, metrics,
//! and the OpenAPI document against what the router serves.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::time::Duration;

use base64::Engine as _;
use customs_node::client::ApiClient;
use customs_node::tokens::{self, Role};
use customs_protocol::{samples, Body, Entry, EntryId, VerifiedEntry};
use customs_tests::cluster::{self, connect, eventually, wait_until};
use customs_tests::http::{json, sample_aeo, sample_alert, Http, Reply, Value};

const DEADLINE: Duration = Duration::from_secs(60);

fn id_of(reply: &Reply) -> String {
    assert_eq!(reply.status, 201, "{}", reply.text);
    reply.json["id"].as_str().expect("id").to_string()
}

async fn entries(http: &Http) -> u64 {
    let status = http.get("/api/v1/status").await;
    assert_eq!(status.status, 200, "{}", status.text);
    status.json["counts"]["entries"].as_u64().expect("count")
}

/// Every client mistake gets its status, its code and (where one applies) its field,
/// and nothing is stored or gossiped for it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_clear_errors_and_store_nothing() {
    let nodes = cluster::start(2).await;
    connect(&nodes, 1, 0).await;
    let a = nodes[0].http(Role::Publisher);
    let b = nodes[1].http(Role::Reader);

    let first = id_of(&a.post("/api/v1/alerts", &sample_alert()).await);
    wait_until("the first alert reaches B", DEADLINE, || {
        nodes[1].holds(&EntryId::from_hex(&first).expect("id"))
    })
    .await;

    let with = |change: &dyn Fn(&mut Value)| {
        let mut alert = sample_alert();
        change(&mut alert);
        alert
    };
    let invalid: Vec<(&str, Value, &str)> = vec![
        (
            "bad container check digit",
            with(&|a| a["conveyance"]["containers"][0] = json!("CSQU3054384")),
            "conveyance.containers[0]",
        ),
        (
            "unknown country",
            with(&|a| a["route"]["origin"] = json!("QQ")),
            "route.origin",
        ),
        (
            "bad IMO check digit",
            with(&|a| a["conveyance"]["vessel_imo"] = json!("9074720")),
            "conveyance.vessel_imo",
        ),
        (
            "impossible date",
            with(&|a| a["detected_on"] = json!("2026-02-30")),
            "detected_on",
        ),
        (
            "HS code of another shape",
            with(&|a| a["hs_code"] = json!("08")),
            "hs_code",
        ),
        (
            "wrong type",
            with(&|a| a["quantity"]["amount"] = json!(125.5)),
            "quantity.amount",
        ),
        (
            "unknown field",
            with(&|a| a["suspect_name"] = json!("J. Doe")),
            "suspect_name",
        ),
        (
            "missing field",
            with(&|a| {
                a.as_object_mut().expect("object").remove("severity");
            }),
            "severity",
        ),
        (
            "unknown category",
            with(&|a| a["category"] = json!("diamonds")),
            "category",
        ),
    ];
    for (what, body, field) in &invalid {
        let reply = a.post("/api/v1/alerts", body).await;
        assert_eq!(reply.status, 422, "{what}: {}", reply.text);
        assert_eq!(reply.error(), "invalid_field", "{what}");
        assert_eq!(reply.field(), *field, "{what}: {}", reply.text);
        assert!(!reply.json["message"].as_str().unwrap_or("").is_empty());
    }
    let mut aeo = sample_aeo();
    aeo["status"] = json!("revoked"); // a revocation needs a reason
    let reply = a.post("/api/v1/aeo", &aeo).await;
    assert_eq!(
        (reply.status, reply.field()),
        (422, "reason"),
        "{}",
        reply.text
    );

    let malformed = a
        .raw(
            "POST",
            "/api/v1/alerts",
            Some(("application/json", b"{\"reference\": \"NL-1\",".to_vec())),
        )
        .await;
    assert_eq!(
        (malformed.status, malformed.error()),
        (400, "malformed_json")
    );
    let not_json = a
        .raw(
            "POST",
            "/api/v1/alerts",
            Some(("text/plain", sample_alert().to_string().into_bytes())),
        )
        .await;
    assert_eq!(
        (not_json.status, not_json.error()),
        (415, "unsupported_media_type")
    );
    let mut huge = sample_alert();
    huge["description"] = json!("x".repeat(200 * 1024));
    let too_large = a.post("/api/v1/alerts", &huge).await;
    assert_eq!(
        (too_large.status, too_large.error()),
        (413, "payload_too_large"),
        "{}",
        too_large.text
    );

    // Access: no token, an unknown one, a role too weak.
    let anonymous = a
        .with_token(None)
        .post("/api/v1/alerts", &sample_alert())
        .await;
    assert_eq!((anonymous.status, anonymous.error()), (401, "unauthorized"));
    let wrong = a.with_token(Some("0123")).get("/api/v1/alerts").await;
    assert_eq!((wrong.status, wrong.error()), (401, "unauthorized"));
    let reader = nodes[0].http(Role::Reader);
    let weak = reader.post("/api/v1/alerts", &sample_alert()).await;
    assert_eq!((weak.status, weak.error()), (403, "forbidden"));
    let not_admin = a.get("/api/v1/export").await;
    assert_eq!(
        (not_admin.status, not_admin.error()),
        (403, "forbidden"),
        "export is for admins"
    );
    assert_eq!(reader.get("/api/v1/alerts").await.status, 200);

    // Unknown ids, routes and methods.
    let missing = a.get(&format!("/api/v1/entries/{}", "ab".repeat(32))).await;
    assert_eq!((missing.status, missing.error()), (404, "not_found"));
    let not_an_id = a.get("/api/v1/entries/xyz").await;
    assert_eq!((not_an_id.status, not_an_id.field()), (400, "id"));
    assert_eq!(a.get("/api/v1/nothing-here").await.status, 404);
    let method = a.raw("DELETE", "/api/v1/alerts", None).await;
    assert_eq!((method.status, method.error()), (405, "method_not_allowed"));

    // Nothing of the above was stored here, nor gossiped there: one more valid alert
    // reaches B, and both hold exactly the two alerts.
    let second = id_of(&a.post("/api/v1/alerts", &sample_alert()).await);
    wait_until("the second alert reaches B", DEADLINE, || {
        nodes[1].holds(&EntryId::from_hex(&second).expect("id"))
    })
    .await;
    assert_eq!(entries(&a).await, 2);
    assert_eq!(entries(&b).await, 2);
    let own_head = nodes[0]
        .node()
        .store
        .head(&nodes[0].public_key())
        .expect("head")
        .expect("own log");
    assert_eq!(own_head.seq, 2);
}

/// Publish, read, filter, page, look up, retract: the routes as an officer and a
/// national system use them, across two nodes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routes_publish_read_filter_and_retract() {
    let nodes = cluster::start(2).await;
    connect(&nodes, 1, 0).await;
    let a = nodes[0].http(Role::Publisher);
    let b = nodes[1].http(Role::Publisher);

    // Five alerts on A with different categories, HS codes, routes and dates.
    let variants = [
        ("drugs", "080390", "EC", "2026-11-20"),
        ("tobacco", "240220", "AE", "2026-11-18"),
        ("drugs", "090111", "CO", "2026-10-01"),
        ("counterfeits", "620342", "CN", "2026-11-02"),
        ("drugs", "080390", "EC", "2026-11-21"),
    ];
    let mut ids = Vec::new();
    for (i, (category, hs, origin, date)) in variants.iter().enumerate() {
        let mut alert = sample_alert();
        alert["reference"] = json!(format!("NA-2026-{i:06}"));
        alert["category"] = json!(category);
        alert["hs_code"] = json!(hs);
        alert["route"]["origin"] = json!(origin);
        alert["detected_on"] = json!(date);
        let reply = a.post("/api/v1/alerts", &alert).await;
        assert_eq!(reply.status, 201, "{}", reply.text);
        assert_eq!(reply.json["seq"], json!(i as u64 + 1));
        assert_eq!(
            reply.json["author"].as_str(),
            Some(nodes[0].public_key().to_hex().as_str())
        );
        let id = id_of(&reply);
        assert_eq!(
            reply.location.as_deref(),
            Some(format!("/api/v1/entries/{id}").as_str())
        );
        ids.push(id);
    }

    // B lists them once gossip delivered them, newest first, with the author's code.
    let listed = eventually("B lists A's five alerts", DEADLINE, || {
        let b = b.clone();
        async move {
            let reply = b.get("/api/v1/alerts").await;
            (reply.json["items"].as_array().map_or(0, Vec::len) == 5).then_some(reply)
        }
    })
    .await;
    let items = listed.json["items"].as_array().expect("items");
    let listed_ids: Vec<&str> = items.iter().filter_map(|i| i["id"].as_str()).collect();
    let newest_first: Vec<&str> = ids.iter().rev().map(String::as_str).collect();
    assert_eq!(listed_ids, newest_first);
    assert_eq!(items[0]["author_code"], json!(nodes[0].code));
    assert_eq!(items[0]["seq"], json!(5));
    assert_eq!(items[0]["alert"]["reference"], json!("NA-2026-000004"));
    assert!(items[0]["created_at"]
        .as_str()
        .expect("time")
        .ends_with('Z'));
    assert_eq!(listed.json["next"], Value::Null);

    // Filters.
    let count = |query: &'static str| {
        let b = b.clone();
        async move {
            let reply = b.get(&format!("/api/v1/alerts?{query}")).await;
            assert_eq!(reply.status, 200, "{query}: {}", reply.text);
            reply.json["items"].as_array().expect("items").len()
        }
    };
    assert_eq!(count("category=drugs").await, 3);
    assert_eq!(count("hs=0803").await, 2);
    assert_eq!(count("hs=24").await, 1);
    assert_eq!(count("country=EC").await, 2);
    assert_eq!(count("country=PA").await, 5, "transit counts");
    assert_eq!(count("from=2026-11-01&to=2026-11-20").await, 3);
    assert_eq!(count("author=NA").await, 5);
    assert_eq!(count("author=NB").await, 0);
    assert_eq!(count("category=drugs&country=CO").await, 1);

    // Pages of two chain to the end without repeats.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..5 {
        let path = match &cursor {
            Some(c) => format!("/api/v1/alerts?limit=2&cursor={c}"),
            None => "/api/v1/alerts?limit=2".to_string(),
        };
        let page = b.get(&path).await;
        for item in page.json["items"].as_array().expect("items") {
            seen.push(item["id"].as_str().expect("id").to_string());
        }
        cursor = page.json["next"].as_str().map(str::to_string);
        if cursor.is_none() {
            break;
        }
    }
    let newest_first: Vec<String> = ids.iter().rev().cloned().collect();
    assert_eq!(seen, newest_first);

    // Bad query values name the parameter.
    for (query, field) in [
        ("category=diamonds", "category"),
        ("hs=08a", "hs"),
        ("country=QQ", "country"),
        ("from=2026-13-01", "from"),
        ("from=2026-11-02&to=2026-11-01", "to"),
        ("author=ZZZ", "author"),
        ("limit=0", "limit"),
        ("limit=201", "limit"),
        ("cursor=abc", "cursor"),
        ("categroy=drugs", "categroy"),
        ("include_retracted=maybe", "include_retracted"),
    ] {
        let reply = b.get(&format!("/api/v1/alerts?{query}")).await;
        assert_eq!(
            (reply.status, reply.error(), reply.field()),
            (400, "bad_query", field),
            "{query}: {}",
            reply.text
        );
    }

    // One entry with its signed bytes, verifiable by anyone.
    let entry = b.get(&format!("/api/v1/entries/{}", ids[0])).await;
    assert_eq!(entry.status, 200, "{}", entry.text);
    assert_eq!(entry.json["type"], json!("risk_alert"));
    assert_eq!(entry.json["verification"]["status"], json!("valid"));
    assert_eq!(entry.json["verification"]["author_is_member"], json!(true));
    assert_eq!(entry.json["verification"]["forked"], json!(false));
    assert_eq!(entry.json["body"]["hs_code"], json!("080390"));
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(entry.json["signed_bytes"].as_str().expect("bytes"))
        .expect("base64");
    let verified = VerifiedEntry::from_bytes(&bytes).expect("the served bytes verify");
    assert_eq!(verified.id().to_hex(), ids[0]);

    // AEO: published on B, looked up on A, now and on a date.
    let reply = b.post("/api/v1/aeo", &sample_aeo()).await;
    let aeo_id = id_of(&reply);
    let status = eventually("A knows the operator's status", DEADLINE, || {
        let a = a.clone();
        async move {
            let reply = a.get("/api/v1/aeo/NL123456789").await;
            (reply.json["issuers"].as_array().map_or(0, Vec::len) == 1).then_some(reply)
        }
    })
    .await;
    let at = &status.json["issuers"][0];
    assert_eq!(at["issuer_code"], json!(nodes[1].code));
    assert_eq!(at["entry_id"], json!(aeo_id));
    assert_eq!(at["record"]["status"], json!("granted"));
    assert_eq!(at["record"]["mra_partners"], json!(["US", "JP", "CN"]));
    let before = a.get("/api/v1/aeo/NL123456789?as_of=2024-02-29").await;
    assert_eq!(before.json["issuers"], json!([]), "not yet effective then");
    let on = a.get("/api/v1/aeo/NL123456789?as_of=2024-03-01").await;
    assert_eq!(on.json["issuers"].as_array().map_or(0, Vec::len), 1);
    let unknown = a.get("/api/v1/aeo/NL999").await;
    assert_eq!(
        (unknown.status, unknown.json["issuers"].clone()),
        (200, json!([]))
    );
    let bad = a.get("/api/v1/aeo/not-an-id").await;
    assert_eq!((bad.status, bad.field()), (400, "operator_id"));
    let bad_date = a.get("/api/v1/aeo/NL123456789?as_of=yesterday").await;
    assert_eq!((bad_date.status, bad_date.field()), (400, "as_of"));

    // Retractions: own entry yes (once), another member's no, unknown 404.
    let retract = |target: &str| json!({"target": target, "reason": "false_positive"});
    let retraction = a.post("/api/v1/retractions", &retract(&ids[4])).await;
    assert_eq!(retraction.status, 201, "{}", retraction.text);
    let again = a.post("/api/v1/retractions", &retract(&ids[4])).await;
    assert_eq!((again.status, again.error()), (409, "conflict"));
    let foreign = a.post("/api/v1/retractions", &retract(&aeo_id)).await;
    assert_eq!(
        (foreign.status, foreign.error()),
        (403, "forbidden"),
        "{}",
        foreign.text
    );
    let nowhere = a
        .post("/api/v1/retractions", &retract(&"cd".repeat(32)))
        .await;
    assert_eq!((nowhere.status, nowhere.error()), (404, "not_found"));
    let bad_reason = a
        .post(
            "/api/v1/retractions",
            &json!({"target": ids[3], "reason": "oops"}),
        )
        .await;
    assert_eq!((bad_reason.status, bad_reason.field()), (422, "reason"));

    // B hides the retracted alert by default and marks it on request.
    let retraction_id = id_of(&retraction);
    wait_until("B stores the retraction", DEADLINE, || {
        nodes[1].holds(&EntryId::from_hex(&retraction_id).expect("id"))
    })
    .await;
    assert_eq!(count("").await, 4);
    let all = b.get("/api/v1/alerts?include_retracted=true").await;
    let first = &all.json["items"][0];
    assert_eq!(first["id"], json!(ids[4]));
    assert_eq!(first["retracted_by"], json!(retraction_id));
    let entry = b.get(&format!("/api/v1/entries/{}", ids[4])).await;
    assert_eq!(entry.json["retracted_by"], json!(retraction_id));

    // Status: this node, its peer, its frontier and counts.
    let status = a.get("/api/v1/status").await;
    assert_eq!(status.status, 200);
    let s = &status.json;
    assert_eq!(s["node"]["code"], json!(nodes[0].code));
    assert_eq!(s["node"]["network"], json!(cluster::NETWORK));
    assert_eq!(
        s["node"]["public_key"],
        json!(nodes[0].public_key().to_hex())
    );
    assert_eq!(s["node"]["your_role"], json!("publisher"));
    assert_eq!(s["node"]["can_publish"], json!(true));
    assert_eq!(s["peers"][0]["code"], json!(nodes[1].code));
    assert_eq!(s["peers"][0]["connected"], json!(true));
    let frontier = s["frontier"].as_array().expect("frontier");
    let heads: BTreeSet<(String, u64)> = frontier
        .iter()
        .map(|f| {
            (
                f["code"].as_str().expect("code").to_string(),
                f["seq"].as_u64().expect("seq"),
            )
        })
        .collect();
    assert_eq!(
        heads,
        [(nodes[0].code.clone(), 6), (nodes[1].code.clone(), 1)]
            .into_iter()
            .collect()
    );
    assert_eq!(s["counts"]["risk_alerts"], json!(5));
    assert_eq!(s["counts"]["aeo_records"], json!(1));
    assert_eq!(s["counts"]["retractions"], json!(1));
    assert_eq!(s["forks"], json!(0));
    assert_eq!(a.get("/api/v1/forks").await.json["forks"], json!([]));
}

/// Field checks for forms apply the protocol's own rules, one value at a time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn field_checks_apply_the_protocol_rules() {
    let nodes = cluster::start(1).await;
    let reader = nodes[0].http(Role::Reader);
    let check = |kind: &'static str, value: &'static str| {
        let reader = reader.clone();
        async move {
            reader
                .get(&format!("/api/v1/check?kind={kind}&value={value}"))
                .await
        }
    };
    for (kind, good, bad, says) in [
        ("container", "CSQU3054383", "CSQU3054384", "check digit"),
        ("imo", "9074729", "9074720", "check digit"),
        ("country", "EC", "QQ", "QQ"),
        ("hs_code", "080390", "7700000", "chapter"),
        ("unlocode", "NLRTM", "NLRT1", "NLRT1"),
        ("date", "2026-11-20", "2026-02-30", "2026-02-30"),
        ("operator_id", "NL123456789", "nl-123", "nl-123"),
        ("amount", "125.5", "-1", "-1"),
    ] {
        let ok = check(kind, good).await;
        assert_eq!(
            (ok.status, ok.json["valid"].clone()),
            (200, json!(true)),
            "{kind} {good}"
        );
        let refused = check(kind, bad).await;
        assert_eq!(refused.json["valid"], json!(false), "{kind} {bad}");
        let message = refused.json["message"].as_str().unwrap_or("");
        assert!(message.contains(says), "{kind} {bad}: {message}");
    }
    // One rule for a reference, whether checked or published.
    let long_reference = "A".repeat(65);
    for (value, says) in [("", "empty"), (long_reference.as_str(), "64")] {
        let refused = reader
            .get(&format!("/api/v1/check?kind=reference&value={value}"))
            .await;
        assert_eq!(refused.json["valid"], json!(false), "reference {value:?}");
        let message = refused.json["message"].as_str().unwrap_or("");
        assert!(message.contains(says), "reference {value:?}: {message}");
    }
    let unknown = check("colour", "red").await;
    assert_eq!((unknown.status, unknown.field()), (400, "kind"));
    let long = reader
        .get(&format!(
            "/api/v1/check?kind=reference&value={}",
            "A".repeat(2000)
        ))
        .await;
    assert_eq!((long.status, long.field()), (400, "value"));
    let missing = reader.get("/api/v1/check?kind=imo").await;
    assert_eq!(
        (missing.status, missing.field()),
        (400, "value"),
        "{}",
        missing.text
    );
}

/// Fork proofs show in /forks, the status and the metrics.
/// A seq-1 alert with `reference` signed by `node`'s key, as another machine holding
/// that key (or the node restored without its store) would sign it.
fn first_entry_of(node: &cluster::TestNode, reference: &str) -> VerifiedEntry {
    let mut alert = samples::risk_alert();
    alert.reference = reference.to_string();
    VerifiedEntry::sign(
        Entry {
            network: cluster::NETWORK.into(),
            author: node.public_key(),
            seq: 1,
            prev: None,
            created_at_ms: customs_node::clock::now_ms(),
            markings: Default::default(),
            body: Body::RiskAlert(alert),
            attachments: Vec::new(),
        },
        &node.key,
    )
    .expect("signs")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forks_are_exposed() {
    let nodes = cluster::start(2).await;
    let a = nodes[0].http(Role::Reader);
    // Member B's key signs two different entries with seq 1 (as a node restored
    // without its store might); A receives both.
    let (first, second) = (
        first_entry_of(&nodes[1], "NB-1"),
        first_entry_of(&nodes[1], "NB-1-again"),
    );
    nodes[0]
        .node()
        .store
        .ingest(vec![first.clone(), second.clone()])
        .expect("ingest");

    let forks = a.get("/api/v1/forks").await;
    assert_eq!(forks.status, 200);
    let list = forks.json["forks"].as_array().expect("forks");
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["author_code"], json!(nodes[1].code));
    assert_eq!(list[0]["seq"], json!(1));
    let pair: BTreeSet<&str> = list[0]["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .filter_map(|e| e["id"].as_str())
        .collect();
    let expected: BTreeSet<String> = [first.id().to_hex(), second.id().to_hex()].into();
    assert_eq!(pair, expected.iter().map(String::as_str).collect());
    assert_eq!(list[0]["entries"][0]["verification"]["forked"], json!(true));
    assert_eq!(forks.json["more"], json!(false));
    assert_eq!(a.get("/api/v1/status").await.json["forks"], json!(1));
    let metrics = a.get("/metrics").await;
    assert!(
        metrics.text.contains("\ncustoms_forks 1\n"),
        "{}",
        metrics.text
    );
    let audit = nodes[0].dir.path().join("audit.log");
    let code = format!("\"actor\":\"{}\"", nodes[1].code);
    wait_until("the audit log to record the fork", DEADLINE, || {
        std::fs::read_to_string(&audit).is_ok_and(|a| {
            a.lines()
                .any(|l| l.contains("\"action\":\"fork\"") && l.contains(&code))
        })
    })
    .await;
}

/// A node whose own key signed twice with one seq (another machine with its key) learns
/// it through sync and stops publishing, and says so everywhere.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_whose_own_key_is_forked_stops_publishing() {
    let nodes = cluster::start(2).await;
    let b = nodes[1].http(Role::Publisher);
    let mine = b.post("/api/v1/alerts", &sample_alert()).await;
    assert_eq!(mine.status, 201, "{}", mine.text);
    // The other machine's entry for the same seq reaches A first.
    let elsewhere = first_entry_of(&nodes[1], "NB-from-elsewhere");
    nodes[0]
        .node()
        .store
        .ingest(vec![elsewhere])
        .expect("ingest");
    connect(&nodes, 1, 0).await;
    let status = eventually("B to learn its key is forked", DEADLINE, || {
        let b = b.clone();
        async move {
            let status = b.get("/api/v1/status").await;
            (status.json["node"]["own_key_forked_at"] == json!(1)).then_some(status)
        }
    })
    .await;
    assert_eq!(status.json["node"]["can_publish"], json!(false));
    assert_eq!(
        status.json["node"]["cannot_publish"],
        json!("own_key_forked")
    );
    let refused = b.post("/api/v1/alerts", &sample_alert()).await;
    assert_eq!(
        (refused.status, refused.error()),
        (503, "own_key_forked"),
        "{}",
        refused.text
    );
    let metrics = b.get("/metrics").await;
    assert!(
        metrics.text.contains("\ncustoms_own_key_forked 1\n"),
        "{}",
        metrics.text
    );
    let audit = nodes[1].dir.path().join("audit.log");
    wait_until("the audit log to record it", DEADLINE, || {
        std::fs::read_to_string(&audit).is_ok_and(|a| a.contains("\"own_key_forked\""))
    })
    .await;
}

/// The live feed streams entries as they are stored: own and received.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_feed_streams_own_and_received_entries() {
    let nodes = cluster::start(2).await;
    connect(&nodes, 1, 0).await;
    let a = nodes[0].http(Role::Publisher);
    let b = nodes[1].http(Role::Publisher);

    let base = a.base.clone();
    let token = a.token.clone().expect("token");
    let (lines_tx, lines) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        let stream = ApiClient::new(&base, Some(&token), None)
            .stream("/api/v1/events")
            .expect("stream opens");
        assert_eq!(stream.content_type, "text/event-stream");
        for line in BufReader::new(stream).lines() {
            let Ok(line) = line else { break };
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });
    // The stream is open once the node counts it.
    eventually("the stream is open", DEADLINE, || {
        let a = a.clone();
        async move {
            a.get("/metrics")
                .await
                .text
                .contains("\ncustoms_event_streams 1\n")
                .then_some(())
        }
    })
    .await;

    let own = id_of(&a.post("/api/v1/alerts", &sample_alert()).await);
    let received = id_of(&b.post("/api/v1/aeo", &sample_aeo()).await);
    let mut events: Vec<(String, Value)> = Vec::new();
    let mut event_name = String::new();
    let deadline = std::time::Instant::now() + DEADLINE;
    while events.len() < 2 {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        let line = lines.recv_timeout(left).expect("events arrive in time");
        if let Some(name) = line.strip_prefix("event: ") {
            event_name = name.to_string();
        } else if let Some(data) = line.strip_prefix("data: ") {
            events.push((
                event_name.clone(),
                serde_json::from_str(data).expect("json"),
            ));
        }
    }
    assert_eq!(events[0].0, "entry");
    assert_eq!(events[0].1["id"], json!(own));
    assert_eq!(events[0].1["type"], json!("risk_alert"));
    assert_eq!(events[0].1["author_code"], json!(nodes[0].code));
    assert_eq!(events[0].1["body"]["reference"], json!("NL-2026-000123"));
    assert_eq!(events[1].1["id"], json!(received));
    assert_eq!(events[1].1["type"], json!("aeo_record"));
    assert_eq!(events[1].1["author_code"], json!(nodes[1].code));
}

/// Metrics, health and readiness need no token; the metrics count what happened.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_health_and_readiness() {
    let nodes = cluster::start(2).await;
    connect(&nodes, 1, 0).await;
    let a = nodes[0].http(Role::Publisher);
    let open = a.with_token(None);
    assert_eq!(open.get("/healthz").await.status, 200);
    assert_eq!(open.get("/readyz").await.status, 200);

    id_of(&a.post("/api/v1/alerts", &sample_alert()).await);
    let mut bad = sample_alert();
    bad["hs_code"] = json!("7700000");
    assert_eq!(a.post("/api/v1/alerts", &bad).await.status, 422);
    let b = nodes[1].http(Role::Publisher);
    id_of(&b.post("/api/v1/aeo", &sample_aeo()).await);
    wait_until("A stores B's record", DEADLINE, || {
        nodes[0].node().store.counts().entries == 2
    })
    .await;

    let metrics = eventually("a completed sync round", DEADLINE, || {
        let open = open.clone();
        async move {
            let reply = open.get("/metrics").await;
            (!reply.text.contains("\ncustoms_sync_rounds_total 0\n")).then_some(reply)
        }
    })
    .await;
    assert_eq!(metrics.status, 200);
    assert!(metrics.content_type.starts_with("text/plain"));
    let text = &metrics.text;
    let has = |line: &str| text.lines().any(|l| l == line);
    assert!(has(r#"customs_entries{type="risk_alert"} 1"#), "{text}");
    assert!(has(r#"customs_entries{type="aeo_record"} 1"#), "{text}");
    let own = nodes[0].public_key().to_hex();
    assert!(
        has(&format!(
            r#"customs_author_entries{{author_code="NA",author="{own}"}} 1"#
        )),
        "{text}"
    );
    assert!(has("customs_peers_connected 1"), "{text}");
    // B's record came by gossip or, when the mesh was not formed yet, by catch-up.
    let accepted = text
        .lines()
        .find_map(|l| l.strip_prefix("customs_gossip_accepted_total "))
        .and_then(|v| v.parse::<u64>().ok())
        .expect("gossip counter");
    assert!(accepted <= 1, "{text}");
    assert!(
        has(r#"customs_http_requests_total{route="/api/v1/alerts",method="POST",status="201"} 1"#),
        "{text}"
    );
    assert!(
        has(r#"customs_http_requests_total{route="/api/v1/alerts",method="POST",status="422"} 1"#),
        "{text}"
    );
    let size_line = text
        .lines()
        .find(|l| l.starts_with("customs_store_size_bytes "))
        .expect("store size");
    let size: u64 = size_line["customs_store_size_bytes ".len()..]
        .parse()
        .expect("number");
    assert!(size > 0);
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let value = line.rsplit(' ').next().expect("value");
        assert!(value.parse::<f64>().is_ok(), "not a sample: {line}");
    }
    // A's syncs: its own alert's and (at least) the one that stored B's record, each
    // timed once, in cumulative buckets that end at the count.
    let sample = |name: &str| -> f64 {
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or_else(|| panic!("no {name}: {text}"))
    };
    let buckets = customs_tests::histogram_buckets(text, "customs_store_log_sync_seconds");
    let count = sample("customs_store_log_sync_seconds_count");
    assert!(count >= 2.0, "{text}");
    assert!(
        buckets
            .windows(2)
            .all(|w| w[0].0 < w[1].0 && w[0].1 <= w[1].1),
        "bounds rise and counts are cumulative: {buckets:?}"
    );
    assert_eq!(
        buckets.last().copied(),
        Some((f64::INFINITY, count)),
        "+Inf, last, holds every sync"
    );
    assert!(sample("customs_store_log_sync_seconds_sum") > 0.0);
}

/// Tokens created or revoked while the node runs take effect at once; the file keeps
/// only hashes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_are_hashed_and_take_effect_without_restart() {
    let nodes = cluster::start(1).await;
    let path = &nodes[0].params.tokens_path;
    let token =
        tokens::create(path, "risk-engine", Role::Reader, 1).expect("created while running");
    let http = Http {
        base: nodes[0].api_url(),
        token: Some(token.clone()),
    };
    assert_eq!(http.get("/api/v1/status").await.status, 200);
    let file = std::fs::read_to_string(path).expect("tokens file");
    assert!(!file.contains(&token), "the token itself is never stored");
    assert!(file.contains("risk-engine"));
    tokens::revoke(path, "risk-engine").expect("revoked");
    assert_eq!(http.get("/api/v1/status").await.status, 401);
}

/// Invariant 7: a node that lost its store does not sign again from seq 1; it waits
/// until a member shows it its own log, then continues after it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_without_its_own_log_waits_for_a_member_before_signing() {
    let mut nodes = cluster::start(2).await;
    connect(&nodes, 1, 0).await;
    let a = nodes[0].http(Role::Publisher);
    let first = id_of(&a.post("/api/v1/alerts", &sample_alert()).await);
    let second = id_of(&a.post("/api/v1/alerts", &sample_alert()).await);
    wait_until("B holds both", DEADLINE, || {
        [&first, &second]
            .iter()
            .all(|id| nodes[1].holds(&EntryId::from_hex(id).expect("id")))
    })
    .await;

    // A loses its store and comes back with the same key, the guard on, and B away.
    nodes[0].stop().await;
    nodes[1].stop().await;
    std::fs::remove_dir_all(&nodes[0].params.store.path).expect("store removed");
    nodes[0].params.allow_publish_before_sync = false;
    nodes[0].restart().await;
    let a = nodes[0].http(Role::Publisher);
    let refused = a.post("/api/v1/alerts", &sample_alert()).await;
    assert_eq!(
        (refused.status, refused.error()),
        (503, "not_synced"),
        "{}",
        refused.text
    );
    assert_eq!(nodes[0].node().store.counts().entries, 0, "nothing signed");
    let status = a.get("/api/v1/status").await;
    assert_eq!(status.json["node"]["can_publish"], json!(false));

    // B returns; after the sync A holds its own two entries and signs seq 3.
    nodes[1].restart().await;
    connect(&nodes, 1, 0).await;
    let reply = eventually("A may publish again", DEADLINE, || {
        let a = a.clone();
        async move {
            let reply = a.post("/api/v1/alerts", &sample_alert()).await;
            (reply.status != 503).then_some(reply)
        }
    })
    .await;
    assert_eq!(reply.status, 201, "{}", reply.text);
    assert_eq!(reply.json["seq"], json!(3), "continues after its own log");
    assert!(nodes[0].holds(&EntryId::from_hex(&second).expect("id")));
    assert!(nodes[0].node().store.forks().expect("forks").is_empty());
}

/// The OpenAPI document lists exactly the routes the router serves, with their
/// methods: each listed (path, method) is served, every other method on a listed path
/// is 405, and the routes the API promises are all listed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openapi_lists_every_route_with_its_methods() {
    let nodes = cluster::start(1).await;
    let admin = nodes[0].http(Role::Admin);
    let doc = admin.get("/api/v1/openapi.json").await;
    assert_eq!(doc.status, 200);
    assert_eq!(doc.json["openapi"].as_str().map(|v| &v[..2]), Some("3."));
    let paths = doc.json["paths"].as_object().expect("paths");

    let mut listed = BTreeSet::new();
    for (path, item) in paths {
        for method in item.as_object().expect("path item").keys() {
            listed.insert((path.clone(), method.to_uppercase()));
        }
    }
    let promised = [
        ("/api/v1/alerts", "POST"),
        ("/api/v1/alerts", "GET"),
        ("/api/v1/entries/{id}", "GET"),
        ("/api/v1/aeo", "POST"),
        ("/api/v1/aeo/{operator_id}", "GET"),
        ("/api/v1/retractions", "POST"),
        ("/api/v1/status", "GET"),
        ("/api/v1/forks", "GET"),
        ("/api/v1/tokens", "GET"),
        ("/api/v1/events", "GET"),
        ("/api/v1/openapi.json", "GET"),
        ("/metrics", "GET"),
        ("/healthz", "GET"),
        ("/readyz", "GET"),
        ("/api/v1/check", "GET"),
        ("/api/v1/export", "GET"),
        ("/api/v1/members", "GET"),
        ("/api/v1/proposals", "GET"),
        ("/api/v1/proposals", "POST"),
        ("/api/v1/proposals/{id}/approvals", "POST"),
        ("/api/v1/keys/certificates", "POST"),
        ("/api/v1/keys/revocations", "POST"),
        ("/api/v1/keys/rotation", "POST"),
        ("/api/v1/charter", "POST"),
        ("/api/v1/alerts/outbound", "GET"),
        ("/api/v1/groups", "GET"),
        ("/api/v1/groups", "POST"),
        ("/api/v1/groups/{id}/members", "POST"),
        ("/api/v1/groups/{id}/members/{code}", "DELETE"),
        ("/api/v1/aeo", "GET"),
        ("/api/v1/requests", "POST"),
        ("/api/v1/requests", "GET"),
        ("/api/v1/requests/{id}", "GET"),
        ("/api/v1/requests/{id}/acknowledgement", "POST"),
        ("/api/v1/results", "POST"),
        ("/api/v1/effectiveness", "GET"),
        ("/api/v1/watchlists", "GET"),
        ("/api/v1/watchlists", "POST"),
        ("/api/v1/watchlists/{id}/matches", "GET"),
        ("/api/v1/watchlists/{id}", "DELETE"),
        ("/api/v1/webhooks", "GET"),
        ("/api/v1/webhooks", "POST"),
        ("/api/v1/webhooks/{id}", "DELETE"),
        ("/api/v1/webhooks/{id}/deliveries", "GET"),
        ("/api/v1/attachments", "POST"),
        ("/api/v1/attachments/{hash}", "GET"),
        ("/api/v1/stats", "GET"),
        ("/api/v1/export/stix", "GET"),
        ("/api/v1/export/cen", "GET"),
        ("/api/v1/import/stix", "POST"),
        ("/api/v1/drafts", "GET"),
        ("/api/v1/drafts/{id}", "GET"),
        ("/api/v1/drafts/{id}", "DELETE"),
        ("/misp-feed/manifest.json", "GET"),
        ("/misp-feed/{file}", "GET"),
        ("/taxii2/", "GET"),
        ("/taxii2/api/", "GET"),
        ("/taxii2/api/collections/", "GET"),
        ("/taxii2/api/collections/{id}/", "GET"),
        ("/taxii2/api/collections/{id}/objects/", "GET"),
        ("/taxii2/api/collections/{id}/objects/{object_id}/", "GET"),
        ("/taxii2/api/collections/{id}/manifest/", "GET"),
        ("/", "GET"),
        ("/console/app.js", "GET"),
        ("/console/style.css", "GET"),
        ("/console/world.json", "GET"),
        ("/console/i18n.js", "GET"),
    ];
    let promised: BTreeSet<(String, String)> = promised
        .iter()
        .map(|(p, m)| (p.to_string(), m.to_string()))
        .collect();
    assert_eq!(
        listed, promised,
        "the document lists exactly the API's routes"
    );

    let concrete = |path: &str| {
        path.replace("{id}", &"ab".repeat(32))
            .replace("{operator_id}", "NL123456789")
    };
    for (path, method) in &listed {
        if path == "/api/v1/events" {
            continue; // an endless stream: served, checked by the live-feed test
        }
        let body = (method == "POST").then(|| ("application/json", b"{}".to_vec()));
        let reply = admin.raw(method, &concrete(path), body).await;
        assert!(
            reply.status != 404
                || reply.json["message"]
                    .as_str()
                    .is_some_and(|m| !m.starts_with("no route")),
            "{method} {path} is listed but not served: {}",
            reply.text
        );
        assert_ne!(reply.status, 405, "{method} {path} is listed but refused");
    }
    for path in paths.keys() {
        for method in ["GET", "POST", "PUT", "DELETE", "PATCH"] {
            if listed.contains(&(path.clone(), method.to_string())) {
                continue;
            }
            let reply = admin.raw(method, &concrete(path), None).await;
            assert_eq!(
                reply.status, 405,
                "{method} {path} is not listed but answered {}",
                reply.status
            );
        }
    }
}

/// Open connections and live-feed streams are bounded: the stream beyond the limit
/// gets 503; at the connection cap a new connection displaces the one idle longest,
/// and is refused only while every connection is busy.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_and_streams_are_bounded() {
    let mut nodes = cluster::start(1).await;
    nodes[0].stop().await;
    nodes[0].params.api.max_event_streams = 1;
    nodes[0].params.api.max_connections = 3;
    // Requests whose body never comes stay busy for the whole test.
    nodes[0].params.api.body_read_timeout_ms = 600_000;
    nodes[0].restart().await;
    let http = nodes[0].http(Role::Publisher);
    let token = http.token.clone().expect("token");
    let addr = nodes[0].node().api_addr();

    // One stream is allowed; the second is refused while the first is open.
    let first = std::net::TcpStream::connect(addr).expect("connects");
    let request =
        format!("GET /api/v1/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\r\n");
    std::io::Write::write_all(&mut &first, request.as_bytes()).expect("request");
    let mut reader = BufReader::new(first.try_clone().expect("clone"));
    let mut status_line = String::new();
    reader.read_line(&mut status_line).expect("status line");
    assert!(status_line.starts_with("HTTP/1.1 200"), "{status_line}");
    let second = http.get("/api/v1/events").await;
    assert_eq!(
        (second.status, second.error()),
        (503, "unavailable"),
        "{}",
        second.text
    );

    // The stream and two idle connections fill the cap of three; a fourth is served
    // at once, the connection idle longest closed for it (which one: the unit tests of
    // api/serve.rs; that one was: the displaced count, at the end).
    let idle: Vec<std::net::TcpStream> = (0..2)
        .map(|_| std::net::TcpStream::connect(addr).expect("connects"))
        .collect();
    let served = tokio::time::timeout(DEADLINE, http.get("/healthz"))
        .await
        .expect("served while the cap was reached");
    assert_eq!(served.status, 200);

    // Two requests whose bodies never come keep their connections busy; with the
    // stream, every connection is busy and a newcomer is refused (closed unanswered).
    drop(idle);
    // (Each sends `Expect: 100-continue`: the node's interim answer shows that the
    // request reached its handler, so the connection counts as busy.)
    let busy = tokio::task::spawn_blocking(move || {
        (1..=2)
            .map(|n| {
                let stream = std::net::TcpStream::connect(addr).expect("connects");
                let head = format!(
                    "POST /api/v1/alerts HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: 100\r\nExpect: 100-continue\r\nX-N: {n}\r\n\r\n"
                );
                std::io::Write::write_all(&mut &stream, head.as_bytes()).expect("head");
                stream.set_read_timeout(Some(DEADLINE)).expect("timeout");
                let mut interim = Vec::new();
                let mut byte = [0u8; 1];
                while !interim.ends_with(b"\r\n\r\n") {
                    std::io::Read::read_exact(&mut &stream, &mut byte).expect("interim answer");
                    interim.push(byte[0]);
                }
                assert!(interim.starts_with(b"HTTP/1.1 100"), "{interim:?}");
                stream
            })
            .collect::<Vec<_>>()
    })
    .await
    .expect("busy requests");
    eventually(
        "a newcomer to be refused while all are busy",
        DEADLINE,
        || async move {
            let refused = tokio::task::spawn_blocking(move || {
                std::net::TcpStream::connect(addr)
                    .ok()
                    .is_some_and(|stream| {
                        let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
                        let _ = std::io::Write::write_all(
                            &mut &stream,
                            b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                        );
                        let mut answer = Vec::new();
                        let _ = std::io::Read::read_to_end(&mut &stream, &mut answer);
                        answer.is_empty()
                    })
            })
            .await
            .expect("probe");
            refused.then_some(())
        },
    )
    .await;
    drop(busy);
    drop(reader);
    drop(first);
    // The node frees the busy connections once it sees them closed; until then a
    // newcomer may still be refused.
    let base = nodes[0].api_url();
    let metrics = eventually("the node to answer again", DEADLINE, || {
        let client = ApiClient::new(&base, None, Some(DEADLINE));
        async move {
            tokio::task::spawn_blocking(move || client.send("GET", "/metrics", None).ok())
                .await
                .ok()
                .flatten()
                .filter(|reply| reply.status == 200)
                .map(|reply| reply.text())
        }
    })
    .await;
    for family in [
        "customs_http_connections_displaced_total",
        "customs_http_connections_refused_total",
    ] {
        let value: u64 = metrics
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{family} ")))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("no {family}"));
        assert!(value >= 1, "{family} = {value}");
    }
}

/// A publish retried with its Idempotency-Key gets the first answer and stores
/// nothing new; keys belong to their token; a key reused for another body is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_publish_with_an_idempotency_key_happens_once() {
    let nodes = cluster::start(1).await;
    let officer = nodes[0].http(Role::Publisher);
    let key = [("Idempotency-Key", "8d0e5a54-retry-1")];

    let first = officer
        .post_with("/api/v1/alerts", &sample_alert(), &key)
        .await;
    let id = id_of(&first);
    assert_eq!(first.header("idempotent-replayed"), None);
    let stored = entries(&officer).await;
    let again = officer
        .post_with("/api/v1/alerts", &sample_alert(), &key)
        .await;
    assert_eq!(again.status, 201, "{}", again.text);
    assert_eq!(again.json, first.json);
    assert_eq!(again.location, first.location);
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert_eq!(entries(&officer).await, stored);

    let mut other = sample_alert();
    other["reference"] = json!("NL-2026-000999");
    let reused = officer.post_with("/api/v1/alerts", &other, &key).await;
    assert_eq!(
        (reused.status, reused.error(), reused.field()),
        (422, "idempotency_key_reused", "Idempotency-Key"),
        "{}",
        reused.text
    );
    assert!(reused.text.contains(&id), "{}", reused.text);
    assert_eq!(entries(&officer).await, stored);

    // Another token's key is its own.
    let colleague = nodes[0].http(Role::Publisher);
    let theirs = colleague
        .post_with("/api/v1/alerts", &sample_alert(), &key)
        .await;
    assert_ne!(id_of(&theirs), id);
    // Without a key, the same body twice is two alerts.
    let one = id_of(&officer.post("/api/v1/alerts", &sample_alert()).await);
    let two = id_of(&officer.post("/api/v1/alerts", &sample_alert()).await);
    assert_ne!(one, two);
    assert_eq!(entries(&officer).await, stored + 3);

    // A retried retraction gets its first answer, not "already retracted".
    let retraction = json!({"target": id, "reason": "error"});
    let retract_key = [("Idempotency-Key", "retract-1")];
    let retracted = officer
        .post_with("/api/v1/retractions", &retraction, &retract_key)
        .await;
    let retraction_id = id_of(&retracted);
    let retried = officer
        .post_with("/api/v1/retractions", &retraction, &retract_key)
        .await;
    assert_eq!(id_of(&retried), retraction_id);
    assert_eq!(retried.header("idempotent-replayed"), Some("true"));

    let count = entries(&officer).await;
    let long = "k".repeat(256);
    for bad in ["", "has space", long.as_str()] {
        let reply = officer
            .post_with(
                "/api/v1/alerts",
                &sample_alert(),
                &[("Idempotency-Key", bad)],
            )
            .await;
        assert_eq!(
            (reply.status, reply.error(), reply.field()),
            (400, "bad_idempotency_key", "Idempotency-Key"),
            "{bad:?}: {}",
            reply.text
        );
    }
    assert_eq!(
        entries(&officer).await,
        count,
        "nothing stored for bad keys"
    );

    // The document names the header on every publishing route.
    let document = officer.get("/api/v1/openapi.json").await.json;
    for path in ["/api/v1/alerts", "/api/v1/aeo", "/api/v1/retractions"] {
        let parameters = document["paths"][path]["post"]["parameters"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        assert!(
            parameters
                .iter()
                .any(|p| p["name"] == "Idempotency-Key" && p["in"] == "header"),
            "{path}: {parameters:?}"
        );
    }
}

/// The authorization matrix over every route the OpenAPI document lists: without a
/// token, with an unknown one, with a role too weak and with the right one; and
/// paths dressed up to slip past the check. What a hostile-member review found
/// holding, kept so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_listed_route_needs_its_role_and_path_tricks_do_not_help() {
    let nodes = cluster::start(1).await;
    let admin = nodes[0].http(Role::Admin);
    let doc = admin.get("/api/v1/openapi.json").await;
    let paths = doc.json["paths"].as_object().expect("paths").clone();
    let open = [
        "/healthz",
        "/readyz",
        "/metrics",
        "/",
        "/console/app.js",
        "/console/style.css",
        "/console/world.json",
        "/console/i18n.js",
    ];
    // The role each route needs, written here independently of the node's rule.
    let needed = |path: &str, method: &str| -> Role {
        let reading = method == "GET";
        let admin_only = path == "/api/v1/export"
            || path == "/api/v1/tokens"
            || path.starts_with("/api/v1/webhooks")
            || (!reading
                && (path.starts_with("/api/v1/proposals")
                    || path.starts_with("/api/v1/keys/")
                    || path == "/api/v1/charter"));
        if admin_only {
            Role::Admin
        } else if reading {
            Role::Reader
        } else {
            Role::Publisher
        }
    };
    let concrete = |path: &str| {
        path.replace("{id}", &"ab".repeat(32))
            .replace("{hash}", &"cd".repeat(32))
            .replace("{operator_id}", "NL123456789")
            .replace("{code}", "DE")
            .replace("{file}", "manifest.json")
            .replace(
                "{object_id}",
                "indicator--00000000-0000-4000-8000-000000000000",
            )
    };
    let weaker = |role: Role| match role {
        Role::Admin => Some(Role::Publisher),
        Role::Publisher => Some(Role::Reader),
        Role::Reader => None,
    };
    let mut checked = 0;
    for (path, item) in &paths {
        for method in item.as_object().expect("item").keys() {
            let method = method.to_uppercase();
            if open.contains(&path.as_str()) || path == "/api/v1/events" {
                continue;
            }
            let target = concrete(path);
            let body = (method == "POST").then(|| ("application/json", b"{}".to_vec()));
            for token in [None, Some("not-a-token")] {
                let reply = admin
                    .with_token(token)
                    .raw(&method, &target, body.clone())
                    .await;
                assert_eq!(
                    reply.status, 401,
                    "{method} {path} with token {token:?}: {}",
                    reply.text
                );
            }
            let role = needed(path, &method);
            if let Some(weak) = weaker(role) {
                let reply = nodes[0]
                    .http(weak)
                    .raw(&method, &target, body.clone())
                    .await;
                assert_eq!(
                    reply.status, 403,
                    "{method} {path} as {weak:?}: {}",
                    reply.text
                );
            }
            let reply = nodes[0]
                .http(role)
                .raw(&method, &target, body.clone())
                .await;
            assert!(
                reply.status != 401 && reply.status != 403,
                "{method} {path} as {role:?}: {} {}",
                reply.status,
                reply.text
            );
            checked += 1;
        }
    }
    assert!(checked >= 50, "only {checked} routes checked");
    // The live feed too, without reading it.
    let feed = admin
        .with_token(None)
        .raw("GET", "/api/v1/events", None)
        .await;
    assert_eq!(feed.status, 401);

    // No CSRF surface: the token rides in a header only (a cookie is no token), no
    // answer sets a cookie, and no answer lets another origin read it (no CORS), even
    // to a preflight.
    let evil = [("Origin", "https://evil.example"), ("Cookie", "token=x")];
    let with_cookie = admin
        .with_token(None)
        .raw_with(
            "POST",
            "/api/v1/alerts",
            Some(("application/json", b"{}".to_vec())),
            &evil,
        )
        .await;
    assert_eq!(with_cookie.status, 401);
    for (method, path) in [
        ("GET", "/"),
        ("GET", "/api/v1/alerts"),
        ("OPTIONS", "/api/v1/alerts"),
        ("GET", "/api/v1/status"),
    ] {
        let reply = admin.raw_with(method, path, None, &evil).await;
        for (name, value) in &reply.headers {
            assert!(
                name != "set-cookie" && !name.starts_with("access-control-"),
                "{method} {path} answered {name}: {value}"
            );
        }
    }

    // Paths dressed up to pass for open ones, or to dodge the prefix check.
    for trick in [
        "//api/v1/alerts",
        "/api/v1//alerts",
        "/api/v1/./alerts",
        "/api/v1/x/../alerts",
        "/console/../api/v1/alerts",
        "/healthz/../api/v1/alerts",
        "/API/v1/alerts",
        "/api/v1/alerts/",
        "/api/v1/%61lerts",
        "/api%2Fv1%2Falerts",
        "/taxii2/../api/v1/alerts",
        "/misp-feed/..%2Fapi/v1/export",
    ] {
        let reply = admin.with_token(None).raw("GET", trick, None).await;
        assert!(
            !(200..300).contains(&reply.status),
            "{trick} answered {} without a token: {}",
            reply.status,
            reply.text
        );
    }
}
