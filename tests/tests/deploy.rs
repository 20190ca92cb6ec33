//! The files in deploy/ agree with the binary: the configuration reference is what
//! `init` writes, the container and the systemd unit use the node's ports, paths and
//! routes, and the compose setup script works with the real binary.

use std::path::PathBuf;
use std::process::Command;

use customs_node::config::{ApiSection, Members, NodeConfig, P2pSection, StoreSection};
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
