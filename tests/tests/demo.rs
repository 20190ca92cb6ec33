//! The demo network as a process, and bundles (export, import, and what import refuses)
//! through the binary and the library.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use customs_node::admission::Admission;
use customs_node::bundle::{self, BundleError};
use customs_node::store::{Store, StoreConfig};
use customs_protocol::{samples, Body};
use customs_tests::cluster::{self, connect, wait_until};
use customs_tests::http::Http;
use customs_tests::{node_binary, wait_for};

const DEADLINE: Duration = Duration::from_secs(90);

/// A running `customs-node demo`, with the URL and token it printed for each member.
struct Demo {
    /// `None` once interrupted.
    child: Option<Child>,
    base: PathBuf,
    members: Vec<(String, Http)>,
}

fn start_demo(dir: Option<&Path>) -> Demo {
    let mut command = Command::new(node_binary());
    command.arg("demo");
    if let Some(dir) = dir {
        command.arg("--dir").arg(dir);
    }
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("demo starts");
    let stdout = child.stdout.take().expect("stdout");
    let (lines_tx, lines) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            eprintln!("[demo] {line}");
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut base = None;
    let mut members = Vec::new();
    wait_for("the demo's members", DEADLINE, || {
        while let Ok(line) = lines.try_recv() {
            if let Some(rest) = line.strip_prefix("demo network customs-demo in ") {
                base = rest.split(": ").next().map(PathBuf::from);
            }
            let words: Vec<&str> = line.split_whitespace().collect();
            if let ["NL" | "BE" | "DE", "console", url, "token", token] = words[..] {
                members.push((
                    words[0].to_string(),
                    Http {
                        base: url.trim_end_matches('/').to_string(),
                        token: Some(token.to_string()),
                    },
                ));
            }
        }
        (members.len() == 3).then_some(())
    });
    Demo {
        child: Some(child),
        base: base.expect("the demo names its directory"),
        members,
    }
}

impl Demo {
    /// Ctrl-C, then the demo must exit cleanly.
    fn interrupt(&mut self) {
        if let Some(child) = self.child.take() {
            interrupt(child);
        }
    }
}

impl Drop for Demo {
    /// A failed test must not leave the demo running.
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn interrupt(mut child: Child) {
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let exit = child.wait().expect("exits");
    assert!(exit.success(), "the demo did not stop cleanly: {exit:?}");
}

async fn wait_all_hold(demo: &Demo, entries: u64) {
    for (code, http) in &demo.members {
        cluster::eventually(
            &format!("{code} holds every member's entries"),
            DEADLINE,
            || {
                let http = http.clone();
                async move {
                    let status = http.get("/api/v1/status").await;
                    (status.json["counts"]["entries"].as_u64() == Some(entries)).then_some(())
                }
            },
        )
        .await;
    }
}

fn demo_total() -> u64 {
    customs_node::demo::DEMO_MEMBERS
        .iter()
        .map(|(code, _)| customs_node::demo::samples(code, 0).expect("samples").len() as u64)
        .sum()
}

fn cli(args: &[&str]) -> std::process::Output {
    Command::new(node_binary())
        .args(args)
        .output()
        .expect("runs")
}

fn demo_store(dir: &Path) -> Store {
    Store::open(StoreConfig::new(dir.join("store"), "customs-demo")).expect("store opens")
}

/// A fresh member directory of the demo network that admits the three demo members.
fn fresh_member(root: &Path, demo_base: &Path, name: &str) -> PathBuf {
    let dir = root.join(name);
    let path = dir.to_str().expect("utf-8");
    let output = cli(&[
        "init",
        "--dir",
        path,
        "--code",
        "LU",
        "--name",
        "LU",
        "--network",
        "customs-demo",
        "--p2p-listen",
        "/ip4/127.0.0.1/tcp/0",
        "--api-listen",
        "127.0.0.1:0",
    ]);
    assert!(output.status.success(), "{output:?}");
    for member in ["nl", "be", "de"] {
        let card = cli(&[
            "member",
            "export",
            "--dir",
            demo_base.join(member).to_str().expect("utf-8"),
        ]);
        let card_file = root.join(format!("{name}-{member}.card"));
        std::fs::write(&card_file, &card.stdout).expect("card");
        let added = cli(&[
            "member",
            "add",
            "--dir",
            path,
            card_file.to_str().expect("utf-8"),
        ]);
        assert!(added.status.success(), "{added:?}");
    }
    dir
}

/// `customs-node demo` without --dir: every node holds every member's records, and
/// Ctrl-C stops it and removes its temporary directory.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_runs_and_cleans_up() {
    let mut demo = start_demo(None);
    let codes: Vec<&str> = demo.members.iter().map(|(c, _)| c.as_str()).collect();
    assert_eq!(codes, ["NL", "BE", "DE"]);
    wait_all_hold(&demo, demo_total()).await;
    // The console is served, and an AEO operator shows its status at two issuers.
    let (_, nl) = &demo.members[0];
    let console = nl.with_token(None).get("/").await;
    assert_eq!(console.status, 200);
    assert!(console.text.contains("Customs network console"));
    let aeo = nl.get("/api/v1/aeo/NL800765432").await;
    assert_eq!(
        aeo.json["issuers"].as_array().map(Vec::len),
        Some(2),
        "{}",
        aeo.text
    );
    // NL's first alert carries a sample photo; BE fetches it from NL when asked.
    let (_, be) = &demo.members[1];
    let alerts = be.get("/api/v1/alerts?author=NL&limit=50").await;
    let mut photo = None;
    for item in alerts.json["items"].as_array().expect("alerts") {
        let id = item["id"].as_str().expect("id");
        let entry = be.get(&format!("/api/v1/entries/{id}")).await;
        if let Some(attachment) = entry.json["attachments"].get(0) {
            photo = Some(attachment.clone());
        }
    }
    let photo = photo.expect("an NL alert with a photo");
    let hash = photo["hash"].as_str().expect("hash");
    let fetched = be.get(&format!("/api/v1/attachments/{hash}")).await;
    assert_eq!(fetched.status, 200, "{}", fetched.text);
    assert_eq!(
        customs_protocol::BlobHash::of(&fetched.bytes).to_hex(),
        hash
    );
    assert!(demo.base.exists());
    let base = demo.base.clone();
    demo.interrupt();
    assert!(!base.exists(), "the temporary directory is removed");
}

/// Export from a demo node, import into a fresh node: the same frontier. A tampered
/// bundle is refused whole: nothing of it is imported.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_then_import_gives_the_same_frontier_and_tampering_is_refused() {
    let root = tempfile::tempdir().expect("tempdir");
    let base = root.path().join("demo");
    let mut demo = start_demo(Some(&base));
    wait_all_hold(&demo, demo_total()).await;
    let nl = base.join("nl");
    let nl_arg = nl.to_str().expect("utf-8");
    let exported = format!("exported {} entries", demo_total());

    // While the node runs, export asks it through its API (admin token).
    let online = root.path().join("online.bundle");
    let online_arg = online.to_str().expect("utf-8");
    let output = cli(&["export", "--dir", nl_arg, "--out", online_arg]);
    assert!(output.status.success(), "{output:?}");
    assert!(String::from_utf8_lossy(&output.stdout).contains(&exported));
    demo.interrupt();

    // Stopped, it reads the store itself: the very same bytes.
    let bundle_path = root.path().join("nl.bundle");
    let bundle_arg = bundle_path.to_str().expect("utf-8");
    let output = cli(&["export", "--dir", nl_arg, "--out", bundle_arg]);
    assert!(output.status.success(), "{output:?}");
    assert!(String::from_utf8_lossy(&output.stdout).contains(&exported));
    assert_eq!(
        std::fs::read(&online).expect("online bundle"),
        std::fs::read(&bundle_path).expect("bundle"),
        "the online and the offline export are the same bundle"
    );
    let again = cli(&[
        "export",
        "--dir",
        nl.to_str().expect("utf-8"),
        "--out",
        bundle_arg,
    ]);
    assert!(
        !again.status.success(),
        "an existing bundle is never overwritten"
    );

    let fresh = fresh_member(root.path(), &base, "fresh");
    let output = cli(&[
        "import",
        "--dir",
        fresh.to_str().expect("utf-8"),
        bundle_arg,
    ]);
    assert!(output.status.success(), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!("importing {0} / {0} entries (100%)", demo_total())),
        "{stderr}"
    );
    {
        let source = demo_store(&nl);
        let copy = demo_store(&fresh);
        assert_eq!(
            copy.frontier().expect("frontier"),
            source.frontier().expect("frontier")
        );
        assert_eq!(copy.counts(), source.counts());
        copy.check().expect("the imported store is consistent");
    }

    // One flipped byte in the middle of the bundle: refused whole, nothing imported.
    let mut bytes = std::fs::read(&bundle_path).expect("bundle");
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    let tampered = root.path().join("tampered.bundle");
    std::fs::write(&tampered, &bytes).expect("write");
    let victim = fresh_member(root.path(), &base, "victim");
    let output = cli(&[
        "import",
        "--dir",
        victim.to_str().expect("utf-8"),
        tampered.to_str().expect("utf-8"),
    ]);
    assert_eq!(output.status.code(), Some(8), "invalid input: {output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    let error_line = stderr.lines().last().unwrap_or("");
    assert!(
        error_line.starts_with("error: ") && error_line.contains("nothing was imported"),
        "{stderr}"
    );
    let store = demo_store(&victim);
    store.check().expect("consistent after a refused bundle");
    assert_eq!(store.counts().entries, 0);
}

/// The library's refusals: a bundle that is cut, altered or foreign imports nothing,
/// and the store stays consistent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bundles_that_are_cut_altered_or_foreign_are_refused() {
    let mut nodes = cluster::start(2).await;
    connect(&nodes, 1, 0).await;
    let mut last = None;
    for i in 0..300 {
        let mut alert = samples::risk_alert();
        alert.reference = format!("NA-{i:06}");
        let node = &nodes[i % 2];
        last = Some(
            node.node()
                .publish(Body::RiskAlert(alert))
                .await
                .expect("publish")
                .id(),
        );
    }
    let last = last.expect("published");
    wait_until("A holds everything", DEADLINE, || nodes[0].holds(&last)).await;
    wait_until("A holds B's 150", DEADLINE, || {
        nodes[0].node().store.counts().entries == 300
    })
    .await;
    nodes[0].stop().await;
    let source = Store::open(nodes[0].params.store.clone()).expect("A's store");
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("a.bundle");
    assert_eq!(bundle::export(&source, &file).expect("export"), 300);
    let admission = Admission::of(&nodes[0].params.network);
    let fresh_store = |name: &str| {
        Store::open(StoreConfig::new(dir.path().join(name), cluster::NETWORK)).expect("store")
    };

    // A whole bundle: everything, with progress up to the count.
    let copy = fresh_store("whole");
    let mut seen = Vec::new();
    let report = bundle::import(&copy, &admission, &file, |pass, done, total| {
        seen.push((pass, done, total))
    })
    .expect("import");
    assert_eq!(
        (report.count, report.applied, report.duplicates),
        (300, 300, 0)
    );
    assert_eq!(
        seen.first().map(|s| s.0),
        Some(bundle::Pass::Checking),
        "checked whole first"
    );
    assert_eq!(seen.last(), Some(&(bundle::Pass::Storing, 300, 300)));
    assert_eq!(copy.frontier().expect("f"), source.frontier().expect("f"));
    // Importing it again adds nothing.
    let again = bundle::import(&copy, &admission, &file, |_, _, _| {}).expect("again");
    assert_eq!((again.applied, again.duplicates), (0, 300));

    let bytes = std::fs::read(&file).expect("bundle");
    let variant = |name: &str, bytes: &[u8]| {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).expect("write");
        path
    };

    // Cut short in the middle of an entry: nothing is imported.
    let cut = variant("cut.bundle", &bytes[..bytes.len() * 2 / 3]);
    let store = fresh_store("cut");
    match bundle::import(&store, &admission, &cut, |_, _, _| {}) {
        Err(BundleError::Truncated { read, count }) => {
            assert_eq!(count, 300);
            assert!(read < 300, "{read}");
        }
        other => panic!("expected Truncated, got {other:?}"),
    }
    assert_eq!(
        store.counts().entries,
        0,
        "a truncated bundle imports nothing"
    );
    store.check().expect("consistent");

    // An altered signature byte in the last entry: refused, nothing imported.
    let mut altered = bytes.clone();
    let at = altered.len() - 32 - 10;
    altered[at] ^= 0x80;
    let altered = variant("altered.bundle", &altered);
    let store = fresh_store("altered");
    match bundle::import(&store, &admission, &altered, |_, _, _| {}) {
        Err(BundleError::Refused { index, .. }) => assert_eq!(index, 299),
        other => panic!("expected Refused, got {other:?}"),
    }
    assert_eq!(store.counts().entries, 0);
    assert!(
        matches!(
            bundle::verify(&admission, &altered, |_, _| {}),
            Err(BundleError::Refused { index: 299, .. })
        ),
        "verify finds what import would refuse"
    );

    // A changed checksum: every entry is valid, the bundle is not.
    let mut trailer = bytes.clone();
    let end = trailer.len() - 1;
    trailer[end] ^= 0x01;
    let trailer = variant("trailer.bundle", &trailer);
    let store = fresh_store("trailer");
    assert!(matches!(
        bundle::import(&store, &admission, &trailer, |_, _, _| {}),
        Err(BundleError::Checksum)
    ));
    assert_eq!(store.counts().entries, 0);
    assert_eq!(
        bundle::verify(&admission, &file, |_, _| {}).expect("verify"),
        300
    );

    // Another network's store imports nothing.
    let other =
        Store::open(StoreConfig::new(dir.path().join("other"), "elsewhere")).expect("store");
    assert!(matches!(
        bundle::import(&other, &admission, &file, |_, _, _| {}),
        Err(BundleError::OtherNetwork { .. })
    ));
    assert_eq!(other.counts().entries, 0);

    // Not a bundle at all.
    let junk = variant("junk.bundle", b"hello");
    assert!(matches!(
        bundle::import(&fresh_store("junk"), &admission, &junk, |_, _, _| {}),
        Err(BundleError::NotABundle(_))
    ));
    drop(source);
    nodes[0].restart().await;
}

/// The dashboard draws the demo's alerts: weeks by category, the route map and the
/// rankings, the loop's figures; a click on a route in the map opens exactly the
/// alerts on that route.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_draws_the_demo_data() {
    let demo = start_demo(None);
    wait_all_hold(&demo, demo_total()).await;
    let (_, nl) = &demo.members[0];
    let stats = nl.get("/api/v1/stats").await;
    assert_eq!(stats.status, 200, "{}", stats.text);
    let listed = nl.get("/api/v1/alerts?limit=200").await.json["items"]
        .as_array()
        .map_or(0, Vec::len);
    assert_eq!(
        stats.json["alerts"],
        serde_json::json!(listed),
        "every demo alert counted"
    );
    let route = stats.json["routes"][0].clone();
    let on_route = nl
        .get(&format!(
            "/api/v1/alerts?origin={}&destination={}&limit=200",
            route["origin"].as_str().expect("an origin"),
            route["destination"].as_str().expect("a destination")
        ))
        .await
        .json["items"]
        .as_array()
        .map_or(0, Vec::len);
    assert_eq!(serde_json::json!(on_route), route["alerts"]);
    let (url, token) = (nl.base.clone(), nl.token.clone().expect("token"));
    tokio::task::spawn_blocking(move || {
        use customs_tests::browser::Browser;
        let browser = Browser::start();
        browser.goto(&format!("{url}/"));
        browser.wait("the sign-in form", DEADLINE, |b| b.visible("#signin-token"));
        // The accessibility audit (axe-core) on every page: no serious or critical
        // violation.
        let mut problems: Vec<String> = browser
            .audit()
            .into_iter()
            .map(|v| format!("sign-in: {v}"))
            .collect();
        browser.type_into("#signin-token", &token);
        browser.click("#signin-form button[type=submit]");
        browser.wait("the dashboard, where the demo lands", DEADLINE, |b| {
            b.visible("#view-dashboard") && b.visible("#route-map svg")
        });
        for view in [
            "feed",
            "publish",
            "requests",
            "watch",
            "aeo",
            "groups",
            "members",
            "exchange",
            "network",
            "dashboard",
        ] {
            browser.click(&format!("nav a[data-view={view}]"));
            browser.wait(&format!("the {view} page"), DEADLINE, |b| {
                b.visible(&format!("#view-{view}"))
                    && (view != "feed" || b.visible("#alerts [data-id]"))
                    && (view != "dashboard" || b.visible("#route-map svg"))
            });
            if view == "feed" {
                browser.click_first("#alerts [data-id]");
                browser.wait("an alert's detail", DEADLINE, |b| {
                    b.text("#detail").contains("Detection method")
                });
                let detail = browser.text("#detail");
                assert!(!detail.contains("null"), "{detail}");
                // Printed, the alert is the page: no header, navigation, list or forms.
                browser.emulate_media("print");
                assert!(browser.visible("#detail"), "the alert prints");
                for chrome in ["nav", "header", "#filters", "#alerts", "#detail button"] {
                    assert!(!browser.visible(chrome), "{chrome} is printed");
                }
                browser.screenshot("14-print-alert");
                browser.emulate_media("");
            }
            browser.screenshot(&format!("13-{view}-en"));
            problems.extend(browser.audit().into_iter().map(|v| format!("{view}: {v}")));
        }
        assert!(
            problems.is_empty(),
            "accessibility violations:\n{}",
            problems.join("\n")
        );
        let count = |b: &Browser, css: &str| {
            b.run(
                "return document.querySelectorAll(arguments[0]).length;",
                serde_json::json!([css]),
            )
            .as_u64()
            .unwrap_or(0)
        };
        browser.wait("the charts and the map", DEADLINE, |b| {
            count(b, "#chart-weeks svg g.week") > 50
                && count(b, "#chart-weeks svg rect") > 0
                && count(b, "#route-map svg .land path") > 150
                && count(b, "#route-map svg .route") > 0
                && count(b, "#route-map svg .place") > 0
        });
        assert!(browser.text("#stats-requests").contains("Sent"));
        assert!(browser.text("#stats-results").contains("Hit rate"));
        assert!(browser.text("#top-routes").contains("→"));
        browser.screenshot("9-dashboard");
        browser.run(
            "document.querySelector('#route-map').scrollIntoView(); return true;",
            serde_json::json!([]),
        );
        browser.screenshot("9b-route-map");
        // The busiest route, clicked on the map: the feed shows its alerts only.
        let route_key = browser.run(
            "const line = document.querySelector('#route-map .route');
             line.dispatchEvent(new MouseEvent('click', {bubbles: true}));
             return line.dataset.route;",
            serde_json::json!([]),
        );
        browser.wait("the route's alerts", DEADLINE, |b| {
            b.visible("#view-feed")
                && b.visible("#route-filter")
                && count(b, "#alerts [data-id]") == on_route as u64
        });
        assert!(
            browser.text("#route-filter").contains("route"),
            "{}",
            browser.text("#route-filter")
        );
        let expected_key = format!(
            "{}-{}",
            route["origin"].as_str().unwrap_or_default(),
            route["destination"].as_str().unwrap_or_default()
        );
        assert_eq!(
            route_key,
            serde_json::json!(expected_key),
            "the busiest route is drawn first"
        );
        browser.screenshot("10-route-alerts");
        browser.click("#route-filter-clear");
        browser.wait("every alert again", DEADLINE, |b| {
            !b.visible("#route-filter")
        });

        // In French and in Spanish: the switch stays (the page reloads in the chosen
        // language, the session with it); labels, code lists and dates follow, the
        // records' own text does not; the audit passes again.
        for (code, dashboard, drugs, feed_title) in [
            (
                "fr",
                "Tableau de bord",
                "stupéfiants",
                "Alertes de tous les membres",
            ),
            ("es", "Panel", "drogas", "Alertas de todos los miembros"),
        ] {
            browser.set("#language", code);
            browser.wait(&format!("the console in {code}"), DEADLINE, |b| {
                b.text("nav a[data-view=dashboard]") == dashboard
            });
            browser.click("nav a[data-view=dashboard]");
            browser.wait(&format!("the dashboard in {code}"), DEADLINE, |b| {
                b.visible("#route-map svg") && b.text("#chart-legend").contains(drugs)
            });
            assert_eq!(
                browser.run(
                    "return document.documentElement.lang;",
                    serde_json::json!([])
                ),
                serde_json::json!(code)
            );
            browser.screenshot(&format!("11-dashboard-{code}"));
            let audit: Vec<String> = browser.audit();
            assert!(audit.is_empty(), "{code}: {audit:?}");
            browser.click("nav a[data-view=feed]");
            browser.wait(&format!("the feed in {code}"), DEADLINE, |b| {
                b.text("#feed-title") == feed_title && b.visible("#alerts [data-id]")
            });
            let feed = browser.text("#alerts");
            assert!(feed.contains(drugs), "{code}: {feed}");
            // A record's own words stay as written.
            assert!(feed.contains("Cocaine bricks"), "{code}: {feed}");
            browser.screenshot(&format!("12-feed-{code}"));
            // An alert's detail: field names and code lists translated.
            browser.click_first("#alerts [data-id]");
            let method = if code == "fr" {
                "Méthode de détection"
            } else {
                "Método de detección"
            };
            browser.wait(&format!("an alert's detail in {code}"), DEADLINE, |b| {
                b.visible("#detail") && b.text("#detail").contains(method)
            });
            browser.screenshot(&format!("12b-detail-{code}"));
            // Every other page in this language: a screenshot, and the audit.
            for view in [
                "publish", "requests", "watch", "aeo", "groups", "members", "exchange", "network",
            ] {
                browser.click(&format!("nav a[data-view={view}]"));
                browser.wait(&format!("the {view} page in {code}"), DEADLINE, |b| {
                    b.visible(&format!("#view-{view}"))
                        && b.text("nav a[data-view=dashboard]") == dashboard
                });
                browser.screenshot(&format!("13-{view}-{code}"));
                let audit = browser.audit();
                assert!(audit.is_empty(), "{code} {view}: {audit:?}");
            }
            browser.click("nav a[data-view=dashboard]");
        }
    })
    .await
    .expect("the browser session");
}
