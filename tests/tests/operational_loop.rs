//! The operational loop between `customs-node run` processes: a request for control
//! sent, listed in the addressee's inbox, acknowledged and answered with a seizure;
//! the result seen on the request and on the alert it relates to, and by nobody
//! else; a watch list that fires on a new alert and finds an old one (retro-hunt),
//! pushed to a webhook whose target is down for a while (every delivery arrives once,
//! with a signature checked by Python's own hmac module); an overdue request; the
//! loop's figures; and AEO records as MRA partners exchange them.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use customs_tests::browser::Browser;
use customs_tests::governed::*;
use customs_tests::process::{admin_token, api_url, edit_config};
use customs_tests::wait_for;
use serde_json::{json, Value};

const SECRET: &str = "risk-engine-shared-secret-0042";
/// The container of the request and of the alert the watch list fires on.
const WATCHED: &str = "MSCU1234566";
/// The container of an alert published before the watch list existed.
const OLD: &str = "TGHU7654320";

/// What a webhook target received: each request's headers (names in lower case)
/// and body.
type Received = Arc<Mutex<Vec<(BTreeMap<String, String>, Vec<u8>)>>>;

/// A webhook target: one HTTP request per connection, answered 200; what it got.
struct Receiver {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
    address: SocketAddr,
}

impl Receiver {
    fn listen(address: SocketAddr, received: Received) -> Receiver {
        let listener = TcpListener::bind(address).expect("the webhook target binds its port again");
        let address = listener.local_addr().expect("address");
        listener.set_nonblocking(true).expect("nonblocking");
        let stop = Arc::new(AtomicBool::new(false));
        let (stop_flag, sink) = (stop.clone(), received.clone());
        let thread = std::thread::spawn(move || {
            while !stop_flag.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        stream.set_nonblocking(false).expect("blocking");
                        if let Some(request) = read_request(&stream) {
                            sink.lock().expect("lock").push(request);
                        }
                        let mut stream = stream;
                        let _ = stream.write_all(
                            b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                        );
                    }
                    Err(_) => std::thread::sleep(std::time::Duration::from_millis(20)),
                }
            }
        });
        Receiver {
            stop,
            thread: Some(thread),
            address,
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn read_request(stream: &std::net::TcpStream) -> Option<(BTreeMap<String, String>, Vec<u8>)> {
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .ok()?;
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let mut headers = BTreeMap::new();
    loop {
        line.clear();
        reader.read_line(&mut line).ok()?;
        let trimmed = line.trim_end();
        if trimmed.is_empty() {
            break;
        }
        let (name, value) = trimmed.split_once(':')?;
        headers.insert(name.trim().to_ascii_lowercase(), value.trim().to_string());
    }
    let length: usize = headers.get("content-length")?.parse().ok()?;
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    Some((headers, body))
}

/// The signature header of a delivery as Python's standard library computes it over
/// `TIMESTAMP.BODY`: an independent check of the node's signature. Also checks the
/// timestamp is within the documented 5 minutes of this clock.
fn python_signature(headers: &BTreeMap<String, String>, body: &[u8]) -> String {
    let timestamp = headers
        .get("x-customs-timestamp")
        .expect("X-Customs-Timestamp")
        .as_str();
    let sent: u64 = timestamp.parse().expect("Unix seconds");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs();
    assert!(sent.abs_diff(now) <= 300, "timestamp {sent} against {now}");
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("body");
    std::fs::write(&path, body).expect("body file");
    let output = std::process::Command::new("python3")
        .args([
            "-c",
            "import hmac, hashlib, sys; print('sha256=' + hmac.new(sys.argv[1].encode(), sys.argv[2].encode() + b'.' + open(sys.argv[3], 'rb').read(), hashlib.sha256).hexdigest())",
            SECRET,
            timestamp,
            path.to_str().expect("utf-8"),
        ])
        .output()
        .expect("python3 runs");
    assert!(
        output.status.success(),
        "python3: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_string()
}

/// The webhook targets of these tests are plain HTTP servers on loopback, which a
/// node refuses unless told (both settings).
fn allow_loopback_targets(member: &Member) {
    edit_config(
        &member.dir,
        &[
            (
                "webhook_allow_private_targets = false",
                "webhook_allow_private_targets = true",
            ),
            (
                "webhook_allow_plain_http = false",
                "webhook_allow_plain_http = true",
            ),
        ],
    );
}

/// A CA and a certificate it issued for localhost and 127.0.0.1, made by openssl:
/// (CA certificate, leaf certificate, leaf key).
fn test_pki(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let path = |name: &str| dir.join(name);
    let openssl = |args: &[&str]| {
        let out = std::process::Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("openssl runs");
        assert!(out.status.success(), "openssl {args:?}: {out:?}");
    };
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/CN=Customs test CA",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
    ]);
    openssl(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=localhost",
        "-keyout",
        "leaf.key",
        "-out",
        "leaf.csr",
    ]);
    std::fs::write(
        path("leaf.ext"),
        "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n",
    )
    .expect("ext file");
    openssl(&[
        "x509",
        "-req",
        "-in",
        "leaf.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        "leaf.ext",
        "-out",
        "leaf.pem",
    ]);
    (path("ca.pem"), path("leaf.pem"), path("leaf.key"))
}

/// A child process killed when dropped (a failing test leaves no server behind).
struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// An HTTPS webhook target in Python's standard library (an independent TLS
/// server): answers 200 and appends each request body, one per line, to `log`.
/// Returns the process and its port.
fn python_https_target(cert: &Path, key: &Path, log: &Path) -> (Killed, u16) {
    const SERVER: &str = r#"
import http.server, ssl, sys
cert, key, log = sys.argv[1:4]
class Hook(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        with open(log, "ab") as f:
            f.write(body + b"\n")
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()
    def log_message(self, *args):
        pass
server = http.server.HTTPServer(("127.0.0.1", 0), Hook)
context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
context.load_cert_chain(cert, key)
server.socket = context.wrap_socket(server.socket, server_side=True)
print(server.server_address[1], flush=True)
server.serve_forever()
"#;
    let mut child = std::process::Command::new("python3")
        .args(["-c", SERVER])
        .arg(cert)
        .arg(key)
        .arg(log)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python3 runs");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("the target's port");
    let port = line.trim().parse().expect("a port");
    (Killed(child), port)
}

/// Webhooks go over https:// by default: a plain http:// target is refused unless
/// node.toml allows it, and deliveries reach an https target whose certificate
/// chains to the CA file node.toml names, not one it does not trust.
#[test]
fn webhooks_deliver_over_https_to_targets_the_ca_file_vouches_for() {
    let root = tempfile::tempdir().expect("tempdir");
    let files = root.path();
    let (ca, leaf, leaf_key) = test_pki(files);
    let mut nl = found(files, "NL");
    let charter = files.join("charter.toml");
    std::fs::write(&charter, cli(&["charter", "--dir", nl.path()])).expect("charter");
    nl.start();
    // DE's node delivers what NL publishes (nothing its own nodes sign is news to it).
    let mut de = joiner(files, "de", "DE", &charter, &nl.p2p, None);
    std::fs::copy(&ca, de.dir.join("webhook-ca.pem")).expect("copy the CA");
    edit_config(
        &de.dir,
        &[
            (
                "webhook_allow_private_targets = false",
                "webhook_allow_private_targets = true",
            ),
            (
                "webhook_ca_file = \"\"",
                "webhook_ca_file = \"webhook-ca.pem\"",
            ),
        ],
    );
    de.start();
    admit(&[&nl], &de);
    let secret_file = files.join("secret");
    std::fs::write(&secret_file, format!("{SECRET}\n")).expect("secret");
    let add = |url: &str| {
        run_cli(&[
            "--json",
            "webhook",
            "add",
            "--dir",
            de.path(),
            url,
            "--secret-file",
            secret_file.to_str().expect("utf-8"),
            "--events",
            "match",
        ])
    };
    let (ok, _, err) = add("http://127.0.0.1:9/hooks");
    assert!(!ok && err.contains("webhook_allow_plain_http"), "{err}");

    let log = files.join("received.log");
    let (_target, port) = python_https_target(&leaf, &leaf_key, &log);
    // A second target with a certificate from a CA the node does not trust.
    let rogue_dir = files.join("rogue");
    std::fs::create_dir(&rogue_dir).expect("mkdir");
    let (_, rogue_leaf, rogue_key) = test_pki(&rogue_dir);
    let rogue_log = files.join("rogue.log");
    let (_rogue, rogue_port) = python_https_target(&rogue_leaf, &rogue_key, &rogue_log);
    let (ok, out, err) = add(&format!("https://127.0.0.1:{port}/hooks"));
    assert!(ok, "{err}");
    let trusted: Value = serde_json::from_str(&out).expect("json");
    let (ok, out, err) = add(&format!("https://127.0.0.1:{rogue_port}/hooks"));
    assert!(ok, "{err}");
    let untrusted: Value = serde_json::from_str(&out).expect("json");
    cli_json(&[
        "watch",
        "add",
        "--dir",
        de.path(),
        "--name",
        "Containers of interest",
        "--rule",
        &format!("container={WATCHED}"),
    ]);
    nl.publish_when_ready("NL-READY");
    let published = publish_file(
        &nl,
        "alert",
        &alert_with_container(files, "NL-TLS-1", WATCHED),
    );
    let received = wait_for("the https target to receive the match", DEADLINE, || {
        let text = std::fs::read_to_string(&log).ok()?;
        text.contains(&published).then_some(text)
    });
    assert!(received.contains("NL-TLS-1"), "{received}");
    let failed = wait_for("the untrusted target's delivery to fail", DEADLINE, || {
        let id = untrusted["id"].as_str()?;
        let deliveries = cli_json(&["webhook", "deliveries", id, "--dir", de.path()]);
        let first = deliveries["items"].as_array()?.first()?.clone();
        (first["attempts"].as_u64() >= Some(1)).then_some(first)
    });
    assert_eq!(failed["status"], "pending", "{failed}");
    assert_eq!(failed["last_error"], "tls", "{failed}");
    assert!(
        !rogue_log.exists(),
        "nothing reached a target whose certificate the node does not trust"
    );
    let ok_log = cli_json(&[
        "webhook",
        "deliveries",
        trusted["id"].as_str().expect("id"),
        "--dir",
        de.path(),
    ]);
    assert_eq!(ok_log["items"][0]["status"], "delivered", "{ok_log}");
}

fn write_json(dir: &Path, name: &str, value: &Value) -> String {
    let path = dir.join(name);
    std::fs::write(&path, value.to_string()).expect("write");
    path.to_str().expect("utf-8").to_string()
}

fn alert_with_container(dir: &Path, reference: &str, container: &str) -> String {
    let mut alert: Value = serde_json::from_str(&cli(&["alert", "template"])).expect("template");
    alert["reference"] = json!(reference);
    alert["conveyance"]["containers"] = json!([container]);
    alert["direction"] = json!("import");
    alert["estimated_value"] = json!({"amount": "2500000", "currency": "EUR"});
    write_json(dir, &format!("{reference}.json"), &alert)
}

fn publish_file(by: &Member, what: &str, file: &str) -> String {
    cli_json(&[what, "publish", "--dir", by.path(), "--file", file])["id"]
        .as_str()
        .expect("id")
        .to_string()
}

/// Opens `member`'s console in `browser` and signs in with its admin token.
fn sign_in(browser: &Browser, member: &Member) {
    browser.goto(&format!("{}/", api_url(&member.dir, DEADLINE)));
    browser.wait("the sign-in form", DEADLINE, |b| b.visible("#signin-token"));
    browser.type_into("#signin-token", &admin_token(&member.dir));
    browser.click("#signin-form button[type=submit]");
    browser.wait("the console", DEADLINE, |b| b.visible("nav"));
}

fn request_state(on: &Member, id: &str) -> Option<String> {
    on.get(&format!("/api/v1/requests/{id}"))
        .and_then(|r| r["state"].as_str().map(String::from))
}

#[test]
fn a_request_is_answered_watch_lists_fire_and_webhooks_deliver_once() {
    let root = tempfile::tempdir().expect("tempdir");
    let files = root.path();
    let mut nl = found(files, "NL");
    let charter = files.join("charter.toml");
    std::fs::write(&charter, cli(&["charter", "--dir", nl.path()])).expect("charter");
    // The webhook targets of this test listen on loopback, which a node refuses
    // unless told (DE is told after showing the refusal).
    allow_loopback_targets(&nl);
    nl.start();
    let mut de = joiner(files, "de", "DE", &charter, &nl.p2p, None);
    de.start();
    let secret_file = files.join("secret");
    std::fs::write(&secret_file, format!("{SECRET}\n")).expect("secret");
    for target in [
        "http://127.0.0.1:9/hooks",
        "http://[::1]:9/hooks",
        "http://169.254.169.254/latest",
    ] {
        let (ok, _, err) = run_cli(&[
            "webhook",
            "add",
            "--dir",
            de.path(),
            target,
            "--secret-file",
            secret_file.to_str().expect("utf-8"),
            "--events",
            "match",
        ]);
        assert!(
            !ok && err.contains("webhook_allow_private_targets"),
            "{target}: {err}"
        );
    }
    de.stop();
    allow_loopback_targets(&de);
    de.start();
    admit(&[&nl], &de);
    let mut be = joiner(files, "be", "BE", &charter, &nl.p2p, None);
    allow_loopback_targets(&be);
    be.start();
    admit(&[&nl, &de], &be);
    for node in [&nl, &de] {
        wait_member(node, "BE", "member");
    }
    nl.publish_when_ready("NL-READY");

    // An alert from before any watch list: the retro-hunt must find it.
    let old_alert = publish_file(&nl, "alert", &alert_with_container(files, "NL-OLD-1", OLD));
    wait_for("DE to hold the old alert", DEADLINE, || {
        de.get(&format!("/api/v1/entries/{old_alert}"))
    });

    // The webhook target is down: its port is reserved, then released.
    let address = {
        let probe = TcpListener::bind("127.0.0.1:0").expect("bind");
        probe.local_addr().expect("addr")
    };
    let webhook = cli_json(&[
        "webhook",
        "add",
        "--dir",
        de.path(),
        &format!("http://{address}/hooks/customs"),
        "--secret-file",
        secret_file.to_str().expect("utf-8"),
        "--events",
        "match,request,result",
    ]);
    let webhook_id = webhook["id"].as_str().expect("webhook id").to_string();
    assert!(
        webhook.get("secret").is_none(),
        "the secret is never shown: {webhook}"
    );

    let saved = cli_json(&[
        "watch",
        "add",
        "--dir",
        de.path(),
        "--name",
        "Containers of interest",
        "--rule",
        &format!("container={WATCHED}"),
        "--rule",
        &format!("container={OLD}"),
    ]);
    assert_eq!(
        saved["retro_matches"],
        json!(1),
        "the retro-hunt finds the old alert: {saved}"
    );
    let list_id = saved["id"].as_str().expect("list id").to_string();

    // A new alert naming the watched container fires the list.
    let new_alert = publish_file(
        &nl,
        "alert",
        &alert_with_container(files, "NL-NEW-1", WATCHED),
    );
    let matches = wait_for("DE's watch list to match the new alert", DEADLINE, || {
        let m = cli_json(&["watch", "matches", &list_id, "--dir", de.path()]);
        (m["items"].as_array().map_or(0, Vec::len) == 2).then_some(m)
    });
    let matched: Vec<(&str, bool)> = matches["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|m| {
            (
                m["entry"].as_str().unwrap_or(""),
                m["retro"].as_bool().unwrap_or(false),
            )
        })
        .collect();
    assert!(matched.contains(&(old_alert.as_str(), true)), "{matched:?}");
    assert!(
        matched.contains(&(new_alert.as_str(), false)),
        "{matched:?}"
    );

    // The target is down: the deliveries fail and wait for their retry.
    let failing = wait_for(
        "DE to fail a delivery while the target is down",
        DEADLINE,
        || {
            let log = cli_json(&["webhook", "deliveries", &webhook_id, "--dir", de.path()]);
            let items = log["items"].as_array().cloned().unwrap_or_default();
            (items.len() == 2
                && items
                    .iter()
                    .all(|d| d["status"] == "pending" && d["attempts"].as_u64() >= Some(1)))
            .then_some(items)
        },
    );
    assert!(failing[0]["last_error"].is_string(), "{failing:?}");
    let failed_attempts =
        customs_tests::scenarios::try_metric(&de.api(), "customs_webhook_failed_attempts_total");
    assert!(failed_attempts >= Some(2), "{failed_attempts:?}");

    // The target comes up on the same port: every delivery arrives, once.
    let received = Arc::new(Mutex::new(Vec::new()));
    let receiver = Receiver::listen(address, received.clone());
    wait_for("both deliveries to arrive", DEADLINE, || {
        (received.lock().expect("lock").len() >= 2).then_some(())
    });
    wait_for("the log to say delivered", DEADLINE, || {
        let log = cli_json(&["webhook", "deliveries", &webhook_id, "--dir", de.path()]);
        log["items"]
            .as_array()
            .is_some_and(|items| items.iter().all(|d| d["status"] == "delivered"))
            .then_some(())
    });
    {
        let got = received.lock().expect("lock");
        let mut ids: Vec<&str> = got
            .iter()
            .map(|(h, _)| h["x-customs-delivery"].as_str())
            .collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), got.len(), "a delivery arrived twice");
        for (headers, body) in got.iter() {
            let expected = python_signature(headers, body);
            assert_eq!(headers["x-customs-signature"], expected, "signature");
            assert_eq!(headers["x-customs-event"], "match");
            let payload: Value = serde_json::from_slice(body).expect("JSON body");
            assert_eq!(payload["event"], "match");
            assert_eq!(payload["watchlist"], json!(list_id));
            assert!(
                payload["entry"]["body"]["conveyance"]["containers"].is_array(),
                "{payload}"
            );
        }
    }

    // BE's and NL's own systems: BE is told of requests addressed to it, NL of the
    // answers to its records.
    let own_systems = Arc::new(Mutex::new(Vec::new()));
    let own_target = Receiver::listen("127.0.0.1:0".parse().expect("addr"), own_systems.clone());
    for (member, event, markings) in [(&be, "request", "withhold"), (&nl, "result", "deliver_all")]
    {
        cli_json(&[
            "webhook",
            "add",
            &format!("http://{}/{}", own_target.address, member.code),
            "--secret-file",
            secret_file.to_str().expect("utf-8"),
            "--events",
            event,
            "--markings",
            markings,
            "--dir",
            member.path(),
        ]);
    }

    // A request must name alerts this node holds.
    let mut dangling: Value =
        serde_json::from_str(&cli(&["request", "template"])).expect("template");
    dangling["related"] = json!(["42".repeat(32)]);
    let (ok, _, err) = run_cli(&[
        "request",
        "send",
        "--dir",
        nl.path(),
        "--file",
        &write_json(files, "dangling.json", &dangling),
    ]);
    assert!(!ok && err.contains("related[0]"), "{err}");

    // NL asks BE to check the container; the request names the new alert.
    let mut request: Value =
        serde_json::from_str(&cli(&["request", "template"])).expect("template");
    request["related"] = json!([new_alert]);
    request["consignment"]["containers"] = json!([WATCHED]);
    let request_id = cli_json(&[
        "request",
        "send",
        "--dir",
        nl.path(),
        "--file",
        &write_json(files, "request.json", &request),
    ])["id"]
        .as_str()
        .expect("id")
        .to_string();
    let inbox = wait_for("BE's inbox to list the request", DEADLINE, || {
        let list = cli_json(&[
            "request",
            "list",
            "--direction",
            "inbound",
            "--dir",
            be.path(),
        ]);
        list["items"]
            .as_array()
            .and_then(|items| items.iter().find(|r| r["id"] == json!(request_id)).cloned())
    });
    assert_eq!(inbox["state"], "open");
    assert_eq!(inbox["direction"], "inbound");
    assert_eq!(
        inbox["distribution"],
        json!({"to": ["BE"]}),
        "sealed to its addressee"
    );
    // DE is not addressed: it holds the entry, reads nothing, and no webhook fires
    // for it (the request names the watched container).
    wait_for("DE to hold the request's entry", DEADLINE, || {
        de.get(&format!("/api/v1/entries/{request_id}"))
            .filter(|e| e["restricted"] == json!(true))
    });
    assert!(de.get(&format!("/api/v1/requests/{request_id}")).is_none());

    // BE's officer acknowledges from the console's inbox.
    let browser = Browser::start();
    sign_in(&browser, &be);
    browser.click("nav a[data-view=requests]");
    browser.wait("BE's console inbox to list the request", DEADLINE, |b| {
        b.text("#inbox").contains("NL-REQ-2027-0042") && b.text("#inbox").contains("open")
    });
    browser.screenshot("13-inbox");
    browser.click(&format!("tr[data-request='{request_id}'] button.secondary"));
    wait_for("NL to see the acknowledgement", DEADLINE, || {
        (request_state(&nl, &request_id).as_deref() == Some("acknowledged")).then_some(())
    });
    let (ok, _, err) = run_cli(&["request", "ack", &request_id, "--dir", be.path()]);
    assert!(!ok && err.contains("already acknowledged"), "{err}");
    // An administration not addressed may not answer.
    let (ok, _, err) = run_cli(&["request", "ack", &request_id, "--dir", nl.path()]);
    assert!(!ok && err.contains("not to NL"), "{err}");

    // BE seizes, publishes its seizure alert and reports the result.
    be.publish_when_ready("BE-READY");
    let seizure = publish_file(
        &be,
        "alert",
        &alert_with_container(files, "BE-SEIZ-1", WATCHED),
    );
    let mut result: Value = serde_json::from_str(&cli(&["result", "template"])).expect("template");
    result["subject"] = json!(request_id);
    result["seizure_alert"] = json!(seizure);
    let result_id = cli_json(&[
        "result",
        "send",
        "--dir",
        be.path(),
        "--file",
        &write_json(files, "result.json", &result),
    ])["id"]
        .as_str()
        .expect("id")
        .to_string();
    let answered = wait_for("NL to see the request answered", DEADLINE, || {
        nl.get(&format!("/api/v1/requests/{request_id}"))
            .filter(|r| r["state"] == "answered")
    });
    assert_eq!(answered["results"][0]["id"], json!(result_id));
    assert_eq!(answered["results"][0]["body"]["outcome"], "seized");
    assert_eq!(answered["results"][0]["counts"], json!(true));
    let on_alert = wait_for("NL to see the result on its alert", DEADLINE, || {
        nl.get(&format!("/api/v1/entries/{new_alert}")).filter(|a| {
            a["answers"]
                .as_array()
                .is_some_and(|answers| answers.iter().any(|x| x["id"] == json!(result_id)))
        })
    });
    assert!(on_alert["answers"]
        .as_array()
        .expect("answers")
        .iter()
        .any(|x| x["id"] == json!(request_id)));
    // NL's console shows the result on its sent request, and the figures.
    sign_in(&browser, &nl);
    browser.click("nav a[data-view=requests]");
    browser.wait("NL's sent requests to show BE's seizure", DEADLINE, |b| {
        b.text("#sent").contains("BE: seized (drugs)")
            && b.text("#figures").contains("1 of 1 (100 %)")
    });
    browser.screenshot("14-sent-and-figures");
    // BE's system was told of the request, NL's of the acknowledgement and the result.
    let pushed = wait_for("the own systems to be told", DEADLINE, || {
        let got: Vec<(String, String, String)> = own_systems
            .lock()
            .expect("lock")
            .iter()
            .map(|(headers, body)| {
                let p: Value = serde_json::from_slice(body).expect("JSON");
                assert_eq!(
                    headers["x-customs-signature"],
                    python_signature(headers, body)
                );
                // BE's system takes what may leave the network only: the request
                // is sealed, so it is named, not delivered.
                let kind = match p["withheld"].as_str() {
                    Some(why) => {
                        assert!(p["entry"].get("body").is_none(), "{p}");
                        assert!(p.get("rules").is_none(), "{p}");
                        assert!(p["entry"]["id"].is_string(), "{p}");
                        format!("withheld: {why}")
                    }
                    None => p["entry"]["type"].as_str().unwrap_or("").to_string(),
                };
                (
                    p["node"].as_str().unwrap_or("").to_string(),
                    p["event"].as_str().unwrap_or("").to_string(),
                    kind,
                )
            })
            .collect();
        (got.len() >= 3).then_some(got)
    });
    let mut pushed = pushed;
    pushed.sort();
    assert_eq!(
        pushed,
        vec![
            (
                "BE".to_string(),
                "request".to_string(),
                "withheld: addressed to named members or a group: read it on the node".to_string()
            ),
            (
                "NL".to_string(),
                "result".to_string(),
                "acknowledgement".to_string()
            ),
            (
                "NL".to_string(),
                "result".to_string(),
                "control_result".to_string()
            ),
        ]
    );
    drop(own_target);
    // DE sees neither: not on the request, not on the alert.
    wait_for("DE to hold the result's entry", DEADLINE, || {
        de.get(&format!("/api/v1/entries/{result_id}"))
            .filter(|e| e["restricted"] == json!(true))
    });
    let de_alert = de
        .get(&format!("/api/v1/entries/{new_alert}"))
        .expect("DE reads the open alert");
    assert!(
        de_alert.get("answers").is_none(),
        "DE sees no answer: {de_alert}"
    );
    // Nor did DE's webhook: it got matches only (BE's seizure alert names the
    // watched container too), never the request or its result.
    wait_for("DE to match BE's seizure alert", DEADLINE, || {
        let m = cli_json(&["watch", "matches", &list_id, "--dir", de.path()]);
        m["items"]
            .as_array()
            .and_then(|items| items.iter().find(|x| x["entry"] == json!(seizure)).cloned())
    });
    for (headers, body) in received.lock().expect("lock").iter() {
        let payload: Value = serde_json::from_slice(body).expect("JSON");
        assert_eq!(headers["x-customs-event"], "match");
        assert!(
            payload["entry"]["id"] != json!(request_id)
                && payload["entry"]["id"] != json!(result_id)
        );
    }

    // DE's console lists the watch list, its matches and the webhook's delivery log.
    sign_in(&browser, &de);
    browser.click("nav a[data-view=watch]");
    browser.wait("DE's watch lists", DEADLINE, |b| {
        b.text("#watchlists").contains("Containers of interest")
            && b.text("#webhooks").contains("/hooks/customs")
    });
    browser.click("#watchlists button");
    browser.wait("the list's matches", DEADLINE, |b| {
        b.text("#matches").contains("NL-NEW-1")
            && b.text("#matches")
                .contains("by the hunt through stored records")
    });
    browser.click("#webhooks button");
    browser.wait("the delivery log", DEADLINE, |b| {
        b.text("#deliveries").contains("delivered")
    });
    browser.screenshot("15-watch-lists");
    drop(browser);

    // A request past its arrival with no result is overdue.
    let mut late = request.clone();
    late["reference"] = json!("NL-REQ-LATE-1");
    late["related"] = json!([]);
    late["arrival"]["eta"] = json!("2026-01-01T08:00:00Z");
    let late_id = cli_json(&[
        "request",
        "send",
        "--dir",
        nl.path(),
        "--file",
        &write_json(files, "late.json", &late),
    ])["id"]
        .as_str()
        .expect("id")
        .to_string();
    // BE acknowledges it through the CLI once it has it: it stays overdue, with the note.
    wait_for("BE to receive the late request", DEADLINE, || {
        be.get(&format!("/api/v1/requests/{late_id}"))
    });
    cli_json(&[
        "request",
        "ack",
        &late_id,
        "--note",
        "will check on arrival",
        "--dir",
        be.path(),
    ]);
    wait_for("NL to see the late request acknowledged", DEADLINE, || {
        nl.get(&format!("/api/v1/requests/{late_id}"))
            .filter(|r| r["acknowledgements"][0]["body"]["note"] == "will check on arrival")
    });
    let overdue = cli_json(&["request", "list", "--state", "overdue", "--dir", nl.path()]);
    let overdue_ids: Vec<&str> = overdue["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|r| r["id"].as_str())
        .collect();
    assert_eq!(overdue_ids, vec![late_id.as_str()]);
    let outbound = cli_json(&[
        "request",
        "list",
        "--direction",
        "outbound",
        "--dir",
        nl.path(),
    ]);
    assert_eq!(outbound["counts"], json!({"answered": 1, "overdue": 1}));

    // The loop's figures on NL: BE got two drugs requests, answered one, a hit.
    let figures = nl.get("/api/v1/effectiveness").expect("effectiveness");
    assert_eq!(
        figures["rows"],
        json!([{"member": "BE", "category": "drugs", "requests": 2, "answered": 1, "hits": 1}])
    );

    // NL's officer sends a request from the console, BE's reports its result there.
    let browser = Browser::start();
    sign_in(&browser, &nl);
    browser.click("nav a[data-view=requests]");
    browser.wait("the request form's addressees", DEADLINE, |b| {
        b.text("#q-to").contains("BE")
    });
    browser.type_into("#q-reference", "NL-REQ-CONSOLE-1");
    browser.set("#q-to", "BE");
    browser.set("#q-action", "sighting_report");
    browser.set("#q-category", "tobacco");
    browser.type_into("#q-containers", WATCHED);
    browser.type_into("#q-unlocode", "BEANR");
    browser.set("#q-eta", "2027-02-01T10:00");
    browser.type_into("#q-reason", "Same consignee as NL-NEW-1");
    browser.screenshot("16-request-form");
    browser.click("#request-form button[type=submit]");
    browser.wait("the request to be sent", DEADLINE, |b| {
        b.text("#notice").contains("only BE can read it")
    });
    let sent = cli_json(&[
        "request",
        "list",
        "--direction",
        "outbound",
        "--dir",
        nl.path(),
    ]);
    let console_request = sent["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|r| r["request"]["reference"] == "NL-REQ-CONSOLE-1")
        .expect("the console's request")
        .clone();
    assert_eq!(
        console_request["request"]["arrival"]["eta"],
        "2027-02-01T10:00:00Z"
    );
    assert_eq!(
        console_request["request"]["consignment"]["containers"],
        json!([WATCHED])
    );
    let console_id = console_request["id"].as_str().expect("id").to_string();
    sign_in(&browser, &be);
    browser.click("nav a[data-view=requests]");
    browser.wait("BE's inbox to list the console's request", DEADLINE, |b| {
        b.text("#inbox").contains("NL-REQ-CONSOLE-1")
    });
    browser.click(&format!(
        "tr[data-request='{console_id}'] button:not(.secondary)"
    ));
    browser.set("#x-outcome", "controlled_nothing_found");
    browser.set("#x-date", "2027-02-01");
    browser.type_into("#x-unlocode", "BEANR");
    browser.set("#x-place", "seaport");
    browser.type_into("#x-notes", "documents in order, nothing found");
    browser.screenshot("17-result-form");
    browser.click("#result-form button[type=submit]");
    browser.wait("the result to be sent", DEADLINE, |b| {
        b.text("#notice").contains("sees it on its request")
    });
    drop(browser);
    let answered = wait_for("NL to see the console's result", DEADLINE, || {
        nl.get(&format!("/api/v1/requests/{console_id}"))
            .filter(|r| r["state"] == "answered")
    });
    assert_eq!(
        answered["results"][0]["body"]["outcome"],
        "controlled_nothing_found"
    );
    assert_eq!(
        answered["results"][0]["body"]["location"]["unlocode"],
        "BEANR"
    );

    // AEO records as MRA partners exchange them.
    let mut consented: Value = serde_json::from_str(&cli(&["aeo", "template"])).expect("template");
    consented["operator_id"] = json!("NL123456789");
    consented["name"] = json!("Example Logistics B.V.");
    consented["address"] = json!("Havenstraat 1, 3011 AA Rotterdam");
    consented["authorised_on"] = json!("2020-06-01");
    consented["identifiers"] = json!([{"scheme": "US_MID", "value": "NLEXALOG1234ROT"}]);
    consented["exchange_consent"] = json!(true);
    consented["status"] = json!("reinstated");
    publish_file(&nl, "aeo", &write_json(files, "aeo1.json", &consented));
    let mut withheld = consented.clone();
    withheld["operator_id"] = json!("NL987654321");
    withheld["name"] = json!("Private Forwarding B.V.");
    withheld["identifiers"] = json!([]);
    withheld["exchange_consent"] = json!(false);
    publish_file(&nl, "aeo", &write_json(files, "aeo2.json", &withheld));
    // Consented, but marked to stay in the network, or sealed to DE: the daily file
    // leaves the network and passes the one outbound rule (DE reads all three).
    let kept_in = [
        ("NL111111111", json!({"tlp": "red"}), json!({"to": ["DE"]})),
        (
            "NL222222222",
            json!({"handling": ["no_onward_sharing"]}),
            json!("all"),
        ),
        ("NL333333333", json!({}), json!({"to": ["DE"]})),
    ];
    for (i, (operator, markings, distribution)) in kept_in.iter().enumerate() {
        let mut record = consented.clone();
        record["operator_id"] = json!(operator);
        record["identifiers"] = json!([]);
        record["markings"] = markings.clone();
        record["distribution"] = distribution.clone();
        publish_file(
            &nl,
            "aeo",
            &write_json(files, &format!("aeo-kept-{i}.json"), &record),
        );
    }
    for (operator, _, _) in &kept_in {
        wait_for(
            "DE to read the record kept in the network",
            DEADLINE,
            || {
                de.get(&format!("/api/v1/aeo/{operator}"))
                    .filter(|v| v["issuers"].as_array().is_some_and(|i| !i.is_empty()))
            },
        );
    }
    let by_mid = wait_for("DE to find the operator by its US MID", DEADLINE, || {
        de.get("/api/v1/aeo/US_MID:NLEXALOG1234ROT")
            .filter(|v| v["issuers"].as_array().is_some_and(|i| !i.is_empty()))
    });
    assert_eq!(by_mid["issuers"][0]["record"]["operator_id"], "NL123456789");
    assert_eq!(by_mid["issuers"][0]["record"]["status"], "reinstated");
    wait_for("DE to hold both AEO records", DEADLINE, || {
        de.get("/api/v1/aeo/NL987654321")
            .filter(|v| v["issuers"].as_array().is_some_and(|i| !i.is_empty()))
    });
    let snapshot = de
        .get("/api/v1/aeo?issuer=NL&format=json")
        .expect("snapshot");
    assert_eq!(snapshot["withheld_without_consent"], json!(1));
    assert_eq!(snapshot["withheld_by_markings"], json!(3));
    let operators: Vec<&str> = snapshot["operators"]
        .as_array()
        .expect("operators")
        .iter()
        .filter_map(|o| o["record"]["operator_id"].as_str())
        .collect();
    assert_eq!(operators, vec!["NL123456789"]);
    let csv = de
        .api()
        .send("GET", "/api/v1/aeo?issuer=NL&format=csv", None)
        .expect("csv")
        .text();
    let mut lines = csv.lines();
    assert!(lines
        .next()
        .expect("header")
        .starts_with("operator_id,name,address,"));
    let row = lines.next().expect("one operator");
    assert!(row.starts_with("NL123456789,Example Logistics B.V.,\"Havenstraat 1, 3011 AA Rotterdam\",NL,aeo_s,reinstated,2020-06-01,"), "{row}");
    assert!(row.contains("US_MID:NLEXALOG1234ROT"), "{row}");
    assert!(
        lines.next().is_none(),
        "only the consenting operator: {csv}"
    );

    // The webhook queue survives a restart: stop DE's target and node, publish, start.
    drop(receiver);
    de.stop();
    let third = publish_file(
        &nl,
        "alert",
        &alert_with_container(files, "NL-NEW-2", WATCHED),
    );
    de.start();
    wait_for("DE to match the alert it caught up", DEADLINE, || {
        let m = cli_json(&["watch", "matches", &list_id, "--dir", de.path()]);
        m["items"]
            .as_array()
            .and_then(|items| items.iter().find(|x| x["entry"] == json!(third)).cloned())
    });
    let received_after = Arc::new(Mutex::new(Vec::new()));
    let _receiver = Receiver::listen(address, received_after.clone());
    wait_for(
        "the match caught up after the restart to be delivered",
        DEADLINE,
        || {
            let got = received_after.lock().expect("lock");
            got.iter()
                .any(|(_, body)| {
                    serde_json::from_slice::<Value>(body)
                        .is_ok_and(|p| p["entry"]["id"] == json!(third))
                })
                .then_some(())
        },
    );
    let before_restart: Vec<String> = received
        .lock()
        .expect("lock")
        .iter()
        .map(|(h, _)| h["x-customs-delivery"].clone())
        .collect();
    for (headers, _) in received_after.lock().expect("lock").iter() {
        assert!(
            !before_restart.contains(&headers["x-customs-delivery"]),
            "delivered again after the restart"
        );
    }

    // A webhook and a watch list are removed, with their logs and matches.
    let removed = cli_json(&["webhook", "delete", &webhook_id, "--dir", de.path()]);
    assert_eq!(removed["deleted"], json!(webhook_id));
    let hooks = cli_json(&["webhook", "list", "--dir", de.path()]);
    assert_eq!(hooks["items"], json!([]), "{hooks}");
    let (ok, _, err) = run_cli(&["webhook", "deliveries", &webhook_id, "--dir", de.path()]);
    assert!(!ok && err.contains("not_found"), "{err}");
    cli_json(&["watch", "delete", &list_id, "--dir", de.path()]);
    let (ok, _, err) = run_cli(&["watch", "matches", &list_id, "--dir", de.path()]);
    assert!(!ok && err.contains("not_found"), "{err}");
    let (ok, _, err) = run_cli(&["watch", "delete", &list_id, "--dir", de.path()]);
    assert!(!ok && err.contains("not_found"), "a second delete: {err}");
    for member in [&mut nl, &mut de, &mut be] {
        member.stop();
    }
}
