//! The files in deploy/ agree with the binary: the configuration reference is what
//! `init` writes, the container and the systemd unit use the node's ports, paths and
//! routes, and the compose setup script works with the real binary.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use customs_node::client::ApiClient;
use customs_tests::faults::Running;
use customs_tests::process::admin_token;
use customs_tests::scenarios::lone_node;
use customs_tests::{free_port, wait_for};

use customs_node::config::{
    ApiSection, AuditSection, Members, NodeConfig, P2pSection, StoreSection,
};
use customs_tests::node_binary;

fn deploy_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../deploy")
        .join(name)
}

fn deploy_file(name: &str) -> String {
    std::fs::read_to_string(deploy_path(name)).unwrap_or_else(|e| panic!("deploy/{name}: {e}"))
}

fn port_of(address: &str) -> u16 {
    address
        .rsplit(['/', ':'])
        .next()
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no port in {address}"))
}

/// The lines of one service's block in compose.yaml.
fn compose_service<'a>(compose: &'a str, name: &str) -> Vec<&'a str> {
    let header = format!("  {name}:");
    compose
        .lines()
        .skip_while(|l| *l != header)
        .skip(1)
        .take_while(|l| l.starts_with("    ") || l.is_empty())
        .collect()
}

fn value_after<'a>(lines: &[&'a str], key: &str) -> &'a str {
    lines
        .iter()
        .find_map(|l| l.trim().strip_prefix(key))
        .unwrap_or_else(|| panic!("no {key} in {lines:?}"))
        .trim()
}

#[test]
fn the_configuration_reference_is_what_init_writes() {
    let text = deploy_file("node.toml.example");
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("node.toml"), &text).expect("copy");
    let config = NodeConfig::load(dir.path()).expect("the reference is a valid node.toml");
    if std::env::var_os("UPDATE_DEPLOY").is_some() {
        std::fs::write(
            deploy_path("node.toml.example"),
            config.to_documented_toml(),
        )
        .expect("rewrite");
        return;
    }
    assert_eq!(
        text,
        config.to_documented_toml(),
        "deploy/node.toml.example differs from what the binary writes (UPDATE_DEPLOY=1 rewrites it)"
    );
    // Every value but the administration's own is the default.
    assert_eq!(config.api, ApiSection::default());
    assert_eq!(config.store, StoreSection::default());
    assert_eq!(config.audit, AuditSection::default());
    assert_eq!(
        config.notify,
        customs_node::config::NotifySection::default()
    );
    assert_eq!(
        config.p2p,
        P2pSection {
            external_addresses: config.p2p.external_addresses.clone(),
            ..P2pSection::default()
        }
    );
}

#[test]
fn the_container_and_the_unit_use_the_nodes_ports_paths_and_routes() {
    let p2p_port = port_of(&P2pSection::default().listen);
    let api_port = port_of(&ApiSection::default().listen);
    let routes = customs_node::api::openapi();

    let dockerfile = deploy_file("Dockerfile");
    assert!(
        dockerfile.contains(&format!("EXPOSE {p2p_port} {api_port}")),
        "the image exposes the default ports"
    );
    let health = format!("http://127.0.0.1:{api_port}/readyz");
    assert!(
        dockerfile.contains(&health),
        "the health check asks {health}"
    );
    assert!(routes.paths.paths.contains_key("/readyz"));
    assert!(dockerfile.contains(r#"CMD ["run", "--dir", "/data"]"#));
    assert!(dockerfile.contains(r#"VOLUME ["/data"]"#));
    assert!(dockerfile.contains(&format!("--api-listen 0.0.0.0:{api_port}")));
    assert!(dockerfile.contains("USER customs"), "not root");

    let unit = deploy_file("customs-node.service");
    let exec = value_after(&unit.lines().collect::<Vec<_>>(), "ExecStart=");
    let state = value_after(&unit.lines().collect::<Vec<_>>(), "StateDirectory=");
    assert_eq!(
        exec,
        format!("/usr/local/bin/customs-node run --dir /var/lib/{state}")
    );
    for hardening in [
        "DynamicUser=yes",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "Restart=on-failure",
    ] {
        assert!(unit.contains(hardening), "{hardening}");
    }

    // The commands the files use exist with these flags.
    for args in [
        vec!["run", "--help"],
        vec!["init", "--help"],
        vec!["member", "add", "--help"],
    ] {
        let output = Command::new(node_binary())
            .args(&args)
            .output()
            .expect("runs");
        assert!(output.status.success(), "{args:?}");
        let help = String::from_utf8_lossy(&output.stdout);
        if args[0] == "init" {
            for flag in [
                "--p2p-listen",
                "--api-listen",
                "--external-address",
                "--allow-publish-before-sync",
            ] {
                assert!(help.contains(flag), "init has {flag}");
            }
        }
    }
}

#[test]
fn the_compose_setup_makes_three_members_that_know_each_other() {
    let compose = deploy_file("compose.yaml");
    let root = tempfile::tempdir().expect("tempdir");
    let setup = || {
        let output = Command::new("sh")
            .arg(deploy_path("compose-setup.sh"))
            .arg(node_binary())
            .arg(root.path())
            .output()
            .expect("runs");
        assert!(output.status.success(), "{output:?}");
    };
    setup();
    setup(); // a second run changes nothing and does not fail

    let api_port = port_of(&ApiSection::default().listen);
    let p2p_port = port_of(&P2pSection::default().listen);
    for member in ["nl", "be", "de"] {
        let service = compose_service(&compose, member);
        assert!(!service.is_empty(), "compose has service {member}");
        assert_eq!(
            value_after(&service, "command:"),
            r#"["run", "--dir", "/data"]"#
        );
        let ports = value_after(&service, "ports:");
        assert!(
            ports.ends_with(&format!(":{api_port}\"]")),
            "{member} publishes the API port: {ports}"
        );
        let ip = value_after(&service, "ipv4_address:");

        let dir = root.path().join(member);
        let config = NodeConfig::load(&dir).expect("a node directory");
        assert_eq!(config.node.code, member.to_uppercase());
        assert_eq!(config.api.listen, format!("0.0.0.0:{api_port}"));
        assert_eq!(port_of(&config.p2p.listen), p2p_port);
        assert_eq!(
            config.p2p.external_addresses,
            vec![format!("/ip4/{ip}/tcp/{p2p_port}")],
            "{member}'s card names the address compose gives it"
        );
        assert_eq!(config.node.allow_publish_before_sync, member == "nl");
        let members = Members::load(&dir).expect("members");
        let mut codes: Vec<String> = members.members.iter().map(|m| m.code.clone()).collect();
        codes.sort();
        let mut expected: Vec<String> = ["NL", "BE", "DE"]
            .into_iter()
            .filter(|c| *c != member.to_uppercase())
            .map(String::from)
            .collect();
        expected.sort();
        assert_eq!(codes, expected, "{member} admits the two others once");
    }
}

/// The metric names a text names (`customs_...`).
fn metric_names(text: &str) -> std::collections::BTreeSet<String> {
    let mut names = std::collections::BTreeSet::new();
    let mut rest = text;
    while let Some(at) = rest.find("customs_") {
        let name: String = rest[at..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        rest = &rest[at + name.len()..];
        names.insert(name);
    }
    names
}

#[test]
fn the_alert_rules_pass_promtool_and_name_metrics_the_node_exports() {
    let rules = deploy_path("prometheus-alerts.yml");
    let checked = Command::new("promtool")
        .args(["check", "rules"])
        .arg(&rules)
        .output()
        .expect("promtool (apt-get install prometheus)");
    assert!(checked.status.success(), "{checked:?}");

    let dir = tempfile::tempdir().expect("tempdir");
    let (mut node, url) = lone_node(&dir.path().join("nl"), &[]);
    let metrics = ApiClient::new(&url, None, None)
        .send("GET", "/metrics", None)
        .expect("metrics")
        .text();
    let exported: std::collections::BTreeSet<String> = metrics
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_string)
        .collect();
    let named = metric_names(&deploy_file("prometheus-alerts.yml"));
    assert!(named.len() >= 8, "{named:?}");
    for name in &named {
        // A histogram's series are its family's name with a suffix.
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|suffix| name.strip_suffix(suffix))
            .filter(|family| exported.contains(*family));
        assert!(
            exported.contains(name) || family.is_some(),
            "the rules name {name}, which the node does not export"
        );
    }

    // The exposition itself, as Prometheus's own linter reads it.
    let mut lint = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("promtool");
    {
        use std::io::Write as _;
        let mut stdin = lint.stdin.take().expect("stdin");
        stdin.write_all(metrics.as_bytes()).expect("write");
    }
    let linted = lint.wait_with_output().expect("promtool");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&linted.stdout),
        String::from_utf8_lossy(&linted.stderr)
    );
    // Exit 3 is lint problems only (1 would be text Prometheus cannot parse). One is
    // known and wrong: the linter reads the "us" of `customs_proposals_awaiting_us`
    // (proposals waiting for this administration's vote) as microseconds.
    let problems: Vec<&str> = said
        .lines()
        .filter(|l| {
            !l.starts_with("customs_proposals_awaiting_us ") || !l.contains("abbreviated units")
        })
        .collect();
    assert!(
        linted.status.success() || (linted.status.code() == Some(3) && problems.is_empty()),
        "promtool check metrics: {said}"
    );
    node.terminate(Duration::from_secs(20));
}

#[test]
fn the_tls_proxy_example_passes_nginx_and_carries_the_api_and_the_live_feed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let nl = dir.path().join("nl");
    let (mut node, url) = lone_node(&nl, &[]);
    let api_addr = url.trim_start_matches("http://").to_string();
    let conf_dir = dir.path().join("nginx");
    std::fs::create_dir(&conf_dir).expect("mkdir");
    let (cert, key) = (conf_dir.join("cert.pem"), conf_dir.join("key.pem"));
    let made = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
        ])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl");
    assert!(made.status.success(), "{made:?}");

    // The example as it is, but for where this test puts the node, the certificate
    // and the listening ports.
    let tls_port = free_port();
    let http_port = free_port();
    let example = deploy_file("nginx-customs-node.conf");
    let site = example
        .replace("server 127.0.0.1:7480;", &format!("server {api_addr};"))
        .replace(
            "listen 443 ssl;",
            &format!("listen 127.0.0.1:{tls_port} ssl;"),
        )
        .replace("listen 80;", &format!("listen 127.0.0.1:{http_port};"))
        .replace("listen [::]:443 ssl;", "")
        .replace("listen [::]:80;", "")
        .replace(
            "/etc/ssl/certs/customs-node.example.org.pem",
            cert.to_str().expect("utf-8"),
        )
        .replace(
            "/etc/ssl/private/customs-node.example.org.key",
            key.to_str().expect("utf-8"),
        );
    assert_ne!(site, example);
    std::fs::write(conf_dir.join("site.conf"), site).expect("write");
    let main = format!(
        "pid {d}/nginx.pid;\nerror_log {d}/error.log;\nevents {{}}\nhttp {{\n  access_log off;\n  client_body_temp_path {d}/body;\n  proxy_temp_path {d}/proxy;\n  include {d}/site.conf;\n}}\n",
        d = conf_dir.display()
    );
    let main_conf = conf_dir.join("nginx.conf");
    std::fs::write(&main_conf, main).expect("write");
    let tested = Command::new("nginx")
        .arg("-t")
        .arg("-c")
        .arg(&main_conf)
        .output()
        .expect("nginx (apt-get install nginx-light)");
    assert!(tested.status.success(), "nginx -t: {tested:?}");
    let proxy = Running(Some(
        Command::new("nginx")
            .arg("-c")
            .arg(&main_conf)
            .args(["-g", "daemon off; master_process off;"])
            .spawn()
            .expect("nginx runs"),
    ));

    let https = format!("https://localhost:{tls_port}");
    let token = admin_token(&nl);
    let curl = |args: &[&str]| {
        Command::new("curl")
            .args([
                "-sS",
                "-k",
                "--resolve",
                &format!("localhost:{tls_port}:127.0.0.1"),
            ])
            .args(args)
            .output()
            .expect("curl")
    };
    let ready = wait_for("nginx to answer", Duration::from_secs(30), || {
        let out = curl(&[&format!("{https}/readyz")]);
        out.status.success().then_some(out)
    });
    assert_eq!(String::from_utf8_lossy(&ready.stdout).trim(), "ready");

    // The live feed through the proxy: an entry published afterwards arrives as it
    // is stored, not when a buffer fills.
    let mut feed = Command::new("curl")
        .args([
            "-sS",
            "-N",
            "-k",
            "--resolve",
            &format!("localhost:{tls_port}:127.0.0.1"),
        ])
        .args(["-H", &format!("Authorization: Bearer {token}")])
        .arg(format!("{https}/api/v1/events"))
        .stdout(Stdio::piped())
        .spawn()
        .expect("curl");
    let lines = std::sync::mpsc::channel();
    let stdout = feed.stdout.take().expect("stdout");
    let sender = lines.0;
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if sender.send(line).is_err() {
                return;
            }
        }
    });
    let metrics = ApiClient::new(&url, None, None);
    wait_for(
        "the feed to reach the node",
        Duration::from_secs(30),
        || {
            let text = metrics.send("GET", "/metrics", None).ok()?.text();
            text.lines()
                .any(|l| l == "customs_event_streams 1")
                .then_some(())
        },
    );
    let alert_file = dir.path().join("alert.json");
    std::fs::write(&alert_file, deploy_file("examples/alert.json")).expect("write");
    let published = wait_for(
        "a publish through the proxy",
        Duration::from_secs(30),
        || {
            let out = curl(&[
                "-H",
                &format!("Authorization: Bearer {token}"),
                "-H",
                "Content-Type: application/json",
                "--data-binary",
                &format!("@{}", alert_file.display()),
                &format!("{https}/api/v1/alerts"),
            ]);
            let answer: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
            answer["id"].as_str().map(str::to_string)
        },
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let mut seen = false;
    while let Some(left) = deadline.checked_duration_since(std::time::Instant::now()) {
        match lines.1.recv_timeout(left) {
            Ok(line) if line.contains(&published) => {
                seen = true;
                break;
            }
            Ok(_) => {}
            Err(_) => break,
        }
    }
    let _ = feed.kill();
    let _ = feed.wait();
    assert!(
        seen,
        "the published entry came through the proxy's live feed"
    );
    // Metrics stay off the public side; an attachment of several MiB passes.
    let status = |out: std::process::Output| String::from_utf8_lossy(&out.stdout).to_string();
    let metrics_through = curl(&[
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        &format!("{https}/metrics"),
    ]);
    assert_eq!(status(metrics_through), "403");
    let photo = dir.path().join("large.png");
    let png: &[u8] = include_bytes!("../fixtures/xray-text.png");
    // A valid PNG padded to 3 MiB with a private chunk (removed with the metadata).
    let mut large = png[..png.len() - 12].to_vec();
    let padding = vec![b'x'; 3 << 20];
    large.extend_from_slice(&(padding.len() as u32).to_be_bytes());
    let mut chunk = b"prVt".to_vec();
    chunk.extend_from_slice(&padding);
    large.extend_from_slice(&chunk);
    large.extend_from_slice(&crc32fast::hash(&chunk).to_be_bytes());
    large.extend_from_slice(&png[png.len() - 12..]);
    std::fs::write(&photo, &large).expect("write");
    let uploaded = curl(&[
        "-w",
        "\n%{http_code}",
        "-H",
        &format!("Authorization: Bearer {token}"),
        "-H",
        "Content-Type: image/png",
        "--data-binary",
        &format!("@{}", photo.display()),
        &format!("{https}/api/v1/attachments"),
    ]);
    let answer = status(uploaded);
    assert!(answer.ends_with("201"), "{answer}");
    drop(proxy);
    node.terminate(Duration::from_secs(20));
}
