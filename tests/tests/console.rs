//! The web console in headless Chromium against real running nodes: sign in, a live
//! alert from another member, publishing through the form (and a refused container
//! number that stores nothing), the server's own error on its field, an AEO lookup and
//! the network view. Screenshots land in target/console-screenshots/.

use std::time::Duration;

use customs_node::tokens::Role;
use customs_protocol::EntryId;
use customs_tests::browser::Browser;
use customs_tests::cluster::{self, connect, wait_until};
use customs_tests::http::{json, sample_aeo, sample_alert, Http};

const DEADLINE: Duration = Duration::from_secs(60);

/// Runs `future` to completion from the browser's (blocking) thread; the test's
/// runtime keeps the nodes going meanwhile.
fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(future)
}

fn entries(http: &Http) -> u64 {
    block_on(http.get("/api/v1/status")).json["counts"]["entries"]
        .as_u64()
        .expect("count")
}

fn publish(http: &Http, path: &str, body: serde_json::Value) -> String {
    let reply = block_on(http.post(path, &body));
    assert_eq!(reply.status, 201, "{}", reply.text);
    reply.json["id"].as_str().expect("id").to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn officers_use_the_console() {
    let nodes = cluster::start(2).await;
    connect(&nodes, 1, 0).await;
    let url = nodes[0].api_url();
    let a = nodes[0].http(Role::Publisher);
    let b = nodes[1].http(Role::Publisher);
    let token = a.token.clone().expect("token");
    let b_code = nodes[1].code.clone();

    let browser_run = tokio::task::spawn_blocking(move || {
        let browser = Browser::start();

        // Sign in: a wrong token is refused on the page, the right one opens the feed.
        browser.goto(&format!("{url}/"));
        browser.wait("the sign-in form", DEADLINE, |b| b.visible("#signin-token"));
        browser.screenshot("1-sign-in");
        browser.type_into("#signin-token", "not-a-token");
        browser.click("#signin-form button[type=submit]");
        browser.wait("the refusal", DEADLINE, |b| {
            b.text("#signin-error").contains("not valid")
        });
        browser.type_into("#signin-token", &token);
        browser.click("#signin-form button[type=submit]");
        browser.wait("the dashboard, where the console opens", DEADLINE, |b| {
            b.visible("#view-dashboard") && b.text("#node-code") == "NA"
        });
        browser.click("nav a[data-view=feed]");
        browser.wait("the feed", DEADLINE, |b| b.visible("#view-feed"));
        browser.wait("the live feed to connect", DEADLINE, |b| {
            b.text("#live") == "live"
        });

        // An alert published on node B appears without a reload.
        browser.run("window.notReloaded = true; return true;", json!([]));
        let mut alert = sample_alert();
        alert["reference"] = json!("NB-2026-000777");
        let from_b = publish(&b, "/api/v1/alerts", alert);
        let item = format!("#alerts [data-id='{from_b}']");
        browser.wait("B's alert in the feed", DEADLINE, |b| b.visible(&item));
        assert_eq!(
            browser.run("return window.notReloaded === true;", json!([])),
            json!(true),
            "the page was not reloaded"
        );
        assert!(browser.text(&item).contains("NB-2026-000777"));
        assert!(browser.text(&item).to_lowercase().contains("high"));
        browser.screenshot("2-feed");

        // Its detail: every field, the author, the signature status.
        browser.click(&item);
        browser.wait("the detail", DEADLINE, |b| {
            b.text("#detail").contains("valid (checked")
        });
        let detail = browser.text("#detail");
        assert!(detail.contains(&b_code), "{detail}");
        assert!(
            detail.contains("CSQU3054383") && detail.contains("NLRTM"),
            "{detail}"
        );
        browser.screenshot("3-detail");

        // The form: a bad container check digit is shown beside the field and nothing
        // is stored.
        let before = entries(&a);
        browser.click("nav a[data-view=publish]");
        browser.wait("the form", DEADLINE, |b| b.visible("#alert-form"));
        browser.fill_alert_form("NA-2026-000001", "CSQU3054384");
        browser.wait("the container error", DEADLINE, |b| {
            b.text("#a-containers-error").contains("check digit")
        });
        browser.click("#alert-form button[type=submit]");
        browser.wait("the form to refuse", DEADLINE, |b| {
            b.text("#alert-form-error").contains("correcting")
        });
        assert_eq!(
            browser.run(
                "return document.activeElement && document.activeElement.id;",
                json!([])
            ),
            json!("a-containers"),
            "focus moves to the field at fault"
        );
        browser.screenshot("4-form-error");
        assert_eq!(entries(&a), before, "nothing stored");

        // The server's own error lands on its field: valid until before detection.
        browser.type_into("#a-containers", "CSQU3054383");
        browser.wait("the container error to clear", DEADLINE, |b| {
            b.text("#a-containers-error").is_empty()
        });
        browser.set("#a-valid", "2026-01-01");
        browser.click("#alert-form button[type=submit]");
        browser.wait("the server's error on valid_until", DEADLINE, |b| {
            b.text("#a-valid-error").contains("before")
        });
        assert_eq!(entries(&a), before, "nothing stored");

        // A photo from an officer's phone: uploaded as it is chosen, its metadata
        // removed, with a caption.
        let photo = std::env::temp_dir().join(format!("console-photo-{}.jpg", std::process::id()));
        std::fs::write(&photo, include_bytes!("../fixtures/concealment-gps.jpg")).expect("photo");
        browser.choose_file("#a-files", &photo);
        browser.wait("the photo uploaded", DEADLINE, |b| {
            b.text("#a-uploads").contains("metadata removed")
        });
        browser.type_into("#a-caption-1", "False floor of the reefer");
        let _ = std::fs::remove_file(&photo);

        // Corrected, it is signed and stored; the answer is lost on the way back (the
        // page's fetch throws after the node answered), and submitting again reuses the
        // record's idempotency key: the node answers with the same alert, once stored.
        browser.set("#a-valid", "2027-05-20");
        browser.run(
            "const real = window.fetch; let lost = false;
             window.fetch = async (url, options) => {
               const response = await real(url, options);
               if (!lost && options && options.method === 'POST') {
                 lost = true;
                 throw new TypeError('the answer was lost');
               }
               return response;
             };",
            json!([]),
        );
        browser.click("#alert-form button[type=submit]");
        browser.wait("the lost answer to be reported", DEADLINE, |b| {
            b.text("#alert-form-error")
                .contains("will not be published twice")
        });
        assert_eq!(
            entries(&a),
            before + 1,
            "stored, though the answer was lost"
        );
        browser.click("#alert-form button[type=submit]");
        browser.wait("the confirmation", DEADLINE, |b| {
            b.text("#notice").contains("Published alert")
        });
        let notice = browser.text("#notice");
        let id = notice
            .split_whitespace()
            .nth(2)
            .expect("the notice names the id")
            .to_string();
        assert_eq!(entries(&a), before + 1);
        browser.wait("own alert in the feed", DEADLINE, |b| {
            b.visible(&format!("#alerts [data-id='{id}']"))
        });
        // Its detail shows the photo as a thumbnail, decoded from the node's bytes.
        browser.click(&format!("#alerts [data-id='{id}']"));
        browser.wait("the photo's thumbnail", DEADLINE, |b| {
            b.run(
                "const img = document.querySelector('#detail .attachments img');
                 return !!img && img.complete && img.naturalWidth === 96;",
                json!([]),
            ) == json!(true)
        });
        assert!(browser
            .text("#detail .attachments")
            .contains("False floor of the reefer"));
        browser.screenshot("3b-attachment");

        // AEO: B publishes a status; the lookup shows it with its partners.
        publish(&b, "/api/v1/aeo", sample_aeo());
        browser.click("nav a[data-view=aeo]");
        browser.wait("the AEO view", DEADLINE, |b| b.visible("#aeo-lookup"));
        browser.type_into("#l-operator", "NL123456789");
        browser.wait("the status", DEADLINE, |b| {
            b.click("#aeo-lookup button[type=submit]");
            b.text("#aeo-result").contains("granted")
        });
        let result = browser.text("#aeo-result");
        assert!(
            result.contains(&b_code) && result.contains("US, JP, CN"),
            "{result}"
        );
        browser.screenshot("5-aeo");

        // The network: B connected.
        browser.click("nav a[data-view=network]");
        browser.wait("the peers", DEADLINE, |b| {
            b.text("#peers").contains(&b_code)
        });
        assert!(browser.text("#peers").contains("connected"));
        browser.screenshot("6-network");
        id
    });
    let id = browser_run.await.expect("the browser session");
    let id = EntryId::from_hex(&id).expect("an entry id");
    wait_until(
        "B holds the alert published through the form",
        DEADLINE,
        || nodes[1].holds(&id),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_says_why_the_node_cannot_publish() {
    // A member that never comes: the node cannot confirm its own log.
    let mut nodes = cluster::start_some(2, 0).await;
    nodes[0].params.allow_publish_before_sync = false;
    nodes[0].restart().await;
    let url = nodes[0].api_url();
    let token = nodes[0].token(Role::Reader);
    tokio::task::spawn_blocking(move || {
        let browser = Browser::start();
        browser.goto(&format!("{url}/"));
        browser.wait("the sign-in form", DEADLINE, |b| b.visible("#signin-token"));
        browser.type_into("#signin-token", &token);
        browser.click("#signin-form button[type=submit]");
        browser.wait("the warning", DEADLINE, |b| b.visible("#node-warning"));
        let warning = browser.text("#node-warning");
        assert!(warning.contains("cannot publish"), "{warning}");
        assert!(warning.contains("no member has confirmed"), "{warning}");
        browser.screenshot("7-cannot-publish");
    })
    .await
    .expect("the browser session");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn officers_turn_imported_indicators_into_alerts_from_the_console() {
    let nodes = cluster::start(2).await;
    connect(&nodes, 1, 0).await;
    let url = nodes[0].api_url();
    let a = nodes[0].http(Role::Publisher);
    let token = a.token.clone().expect("token");
    let bundle = json!({
        "type": "bundle",
        "id": "bundle--5b0b7c41-7d0e-4c55-8f43-0f7b9c2d6e10",
        "objects": [{
            "type": "indicator", "spec_version": "2.1",
            "id": "indicator--0f1e2d3c-4b5a-4978-8a6b-5c4d3e2f1a00",
            "created": "2026-11-30T09:00:00.000Z", "modified": "2026-11-30T09:00:00.000Z",
            "name": "Heroin in marble tiles", "description": "Tiles hollowed out, refilled with resin.",
            "labels": ["drugs"], "pattern_type": "stix",
            "pattern": "[customs-consignment:hs_code = '680221']",
            "valid_from": "2026-11-30T09:00:00Z", "valid_until": "2027-05-31T00:00:00Z"
        }]
    });
    let file = std::env::temp_dir().join(format!("console-indicators-{}.json", std::process::id()));
    std::fs::write(&file, bundle.to_string()).expect("bundle file");

    tokio::task::spawn_blocking(move || {
        let browser = Browser::start();
        browser.goto(&format!("{url}/"));
        browser.wait("the sign-in form", DEADLINE, |b| b.visible("#signin-token"));
        browser.type_into("#signin-token", &token);
        browser.click("#signin-form button[type=submit]");
        browser.wait("the dashboard", DEADLINE, |b| b.visible("#view-dashboard"));
        let before = entries(&a);

        browser.click("nav a[data-view=exchange]");
        browser.wait("the exchange view", DEADLINE, |b| {
            b.text("#taxii-url").ends_with("/taxii2/")
        });
        // A wrong year is refused by the node, and said on the page.
        browser.type_into("#cen-year", "20x6");
        browser.click("#cen-form button[type=submit]");
        browser.wait("the refusal of the year", DEADLINE, |b| {
            b.text("#export-error").contains("not a year")
        });

        // The national system's bundle becomes a draft; nothing is signed.
        browser.choose_file("#import-file", &file);
        browser.click("#import-form button[type=submit]");
        browser.wait("the draft", DEADLINE, |b| {
            b.text("#drafts").contains("Heroin in marble tiles")
        });
        assert!(
            browser.text("#drafts").contains("location"),
            "{}",
            browser.text("#drafts")
        );
        assert_eq!(browser.text("#draft-badge"), "1");
        assert_eq!(entries(&a), before, "a draft signs nothing");
        browser.screenshot("8-drafts");

        // Reviewed, completed and published: the draft goes.
        browser.click("#drafts tr[data-draft] button");
        browser.wait("the form with the draft's fields", DEADLINE, |b| {
            b.visible("#alert-form")
                && b.run("return document.querySelector('#a-hs').value;", json!([]))
                    == json!("680221")
        });
        assert!(
            browser.text("#notice").contains("complete"),
            "{}",
            browser.text("#notice")
        );
        assert_eq!(
            browser.run(
                "return document.querySelector('#a-category').value;",
                json!([])
            ),
            json!("drugs")
        );
        browser.type_into("#a-reference", "NA-FROM-STIX-1");
        browser.set("#a-severity", "high");
        browser.set("#a-detected", "2026-11-28");
        browser.type_into("#a-unlocode", "NLRTM");
        browser.set("#a-place", "seaport");
        browser.set("#a-method", "xray");
        browser.set("#a-concealment", "in_cargo");
        browser.set("#a-mode", "sea");
        browser.click("#alert-form button[type=submit]");
        browser.wait("the confirmation", DEADLINE, |b| {
            b.text("#notice").contains("Published alert")
        });
        assert_eq!(entries(&a), before + 1);
        let drafts = block_on(a.get("/api/v1/drafts"));
        assert_eq!(
            drafts.json["items"],
            json!([]),
            "the published draft is deleted"
        );
    })
    .await
    .expect("the browser session");
    let _ = std::fs::remove_file(
        std::env::temp_dir().join(format!("console-indicators-{}.json", std::process::id())),
    );
}

/// Markup in every free-text field of another member's records is shown as text in
/// this node's console: nothing it carries runs or is drawn (a member signs whatever
/// it likes; the console must not trust it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_members_markup_is_shown_as_text() {
    let nodes = cluster::start(2).await;
    connect(&nodes, 1, 0).await;
    let url = nodes[0].api_url();
    let token = nodes[0].token(Role::Reader);
    let hostile = nodes[1].http(Role::Publisher);
    let markup = [
        "<img src=x onerror=\"window.pwned=1\">",
        "<script>window.pwned=2</script>",
        "\"><svg onload=window.pwned=3>",
        "<a href=\"javascript:window.pwned=4\">open</a>",
    ];
    let mut alert = sample_alert();
    alert["description"] = json!(markup.join(" "));
    alert["indicators"] = json!(markup);
    let reply = hostile.post("/api/v1/alerts", &alert).await;
    assert_eq!(reply.status, 201, "{}", reply.text);
    let id = reply.json["id"].as_str().expect("id").to_string();
    let mut aeo = sample_aeo();
    aeo["name"] = json!(markup[0]);
    let operator = aeo["operator_id"].as_str().expect("operator").to_string();
    let reply = hostile.post("/api/v1/aeo", &aeo).await;
    assert_eq!(reply.status, 201, "{}", reply.text);
    let a = nodes[0].http(Role::Reader);
    cluster::eventually("A holds the hostile records", DEADLINE, || {
        let a = a.clone();
        let path = format!("/api/v1/aeo/{operator}");
        async move {
            a.get(&path).await.json["issuers"]
                .as_array()
                .is_some_and(|i| !i.is_empty())
                .then_some(())
        }
    })
    .await;
    tokio::task::spawn_blocking(move || {
        let browser = Browser::start();
        browser.goto(&format!("{url}/"));
        browser.wait("the sign-in form", DEADLINE, |b| b.visible("#signin-token"));
        browser.type_into("#signin-token", &token);
        browser.click("#signin-form button[type=submit]");
        browser.click("nav a[data-view=feed]");
        let item = format!("#alerts [data-id='{id}']");
        browser.wait("the hostile alert in the feed", DEADLINE, |b| {
            b.visible(&item)
        });
        browser.click(&item);
        browser.wait("its detail", DEADLINE, |b| {
            b.text("#detail").contains("window.pwned=2")
        });
        browser.click("nav a[data-view=aeo]");
        browser.type_into("#l-operator", &operator);
        browser.click("#aeo-lookup button[type=submit]");
        browser.wait("the operator's status", DEADLINE, |b| {
            b.text("#aeo-result").contains("onerror")
        });
        browser.screenshot("hostile-markup-as-text");
        let injected = browser.run(
            "return { pwned: window.pwned === undefined ? null : window.pwned, \
             images: document.querySelectorAll('img[src=x]').length, \
             svgs: document.querySelectorAll('#alerts svg, #detail svg, #aeo-result svg').length, \
             scripts: [...document.scripts].filter((s) => s.textContent.includes('pwned')).length, \
             links: document.querySelectorAll('a[href^=javascript]').length };",
            json!([]),
        );
        assert_eq!(
            injected,
            json!({"pwned": null, "images": 0, "svgs": 0, "scripts": 0, "links": 0}),
            "markup from a member ran or was drawn"
        );
        let shown = browser.text("#detail");
        for text in markup {
            assert!(shown.contains(text), "{text} not shown as text: {shown}");
        }
    })
    .await
    .expect("the browser session");
}
