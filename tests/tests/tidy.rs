//! The architecture invariants of ARCHITECTURE.md, made executable: which module may
//! name which dependency, and a code map that names every source file.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the tests crate sits in the workspace")
        .to_path_buf()
}

/// Every `.rs` file under `dir`, relative to the workspace root, with its text.
fn sources(dir: &str) -> Vec<(String, String)> {
    fn walk(path: &Path, out: &mut Vec<PathBuf>) {
        let Ok(entries) = fs::read_dir(path) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    let root = root();
    let mut files = Vec::new();
    walk(&root.join(dir), &mut files);
    files.sort();
    files
        .into_iter()
        .map(|path| {
            let text = fs::read_to_string(&path).expect("readable source");
            let relative = path
                .strip_prefix(&root)
                .expect("under the root")
                .to_string_lossy()
                .replace('\\', "/");
            (relative, text)
        })
        .collect()
}

/// Lines of code that name `krate` (a path `krate::` or a `use krate`), comments aside.
fn names(text: &str, krate: &str) -> bool {
    text.lines()
        .map(str::trim_start)
        .filter(|line| !line.starts_with("//"))
        .any(|line| {
            line.contains(&format!("{krate}::"))
                && !line.contains(&format!("_{krate}::"))
                && !line.contains(&format!("{krate}_"))
                || line.starts_with(&format!("use {krate}"))
        })
}

/// The files of `dirs` that name `krate` but are not allowed to.
fn offenders(dirs: &[&str], krate: &str, allowed: impl Fn(&str) -> bool) -> Vec<String> {
    dirs.iter()
        .flat_map(|dir| sources(dir))
        .filter(|(path, text)| names(text, krate) && !allowed(path))
        .map(|(path, _)| path)
        .collect()
}

/// A dependency, which files may name it, and why.
type Rule<'a> = (&'a str, &'a dyn Fn(&str) -> bool, &'a str);

#[test]
fn each_dependency_stays_in_its_module() {
    let everything = ["protocol/src", "node/src"];
    let rules: [Rule; 7] = [
        (
            "sled",
            &|p: &str| p.starts_with("node/src/store/"),
            "only the store knows sled",
        ),
        (
            "libp2p",
            &|p: &str| p.starts_with("node/src/network/"),
            "only the network knows libp2p",
        ),
        (
            "axum",
            &|p: &str| p.starts_with("node/src/api/"),
            "only the api knows HTTP",
        ),
        (
            "hyper",
            &|p: &str| p == "node/src/api/serve.rs",
            "one accept loop drives hyper (api/serve.rs); handlers see only axum",
        ),
        (
            "hyper_util",
            &|p: &str| p == "node/src/api/serve.rs",
            "one accept loop drives hyper (api/serve.rs); handlers see only axum",
        ),
        (
            "tokio",
            &|p: &str| !p.starts_with("protocol/") && !p.starts_with("node/src/network/sync/"),
            "the protocol and the sync core do no I/O",
        ),
        (
            "anyhow",
            &|p: &str| {
                [
                    "node/src/main.rs",
                    "node/src/governance_cli.rs",
                    "node/src/loop_cli.rs",
                    "node/src/exchange_cli.rs",
                ]
                .contains(&p)
            },
            "anyhow lives only in the binary (main.rs and its governance_cli.rs, loop_cli.rs and exchange_cli.rs modules)",
        ),
    ];
    let mut broken = Vec::new();
    for (krate, allowed, why) in rules {
        let found = offenders(&everything, krate, allowed);
        if !found.is_empty() {
            broken.push(format!("{why}: {krate} is named in {found:?}"));
        }
    }
    // One client of the node's API, for the CLI, the tests and the harness (the
    // browser tests' WebDriver client talks to chromedriver, not to a node).
    let found = offenders(&["node/src", "tests/src", "tests/tests"], "ureq", |p| {
        p == "node/src/client.rs" || p == "tests/src/browser.rs"
    });
    if !found.is_empty() {
        broken.push(format!(
            "one HTTP client (node/src/client.rs): ureq is named in {found:?}"
        ));
    }
    // bincode: its functions are called only in the codec; elsewhere in the protocol
    // only its derive traits (and the error conversion) appear, and never in the node.
    for (path, text) in sources("protocol/src")
        .into_iter()
        .chain(sources("node/src"))
    {
        let calls = text
            .lines()
            .filter(|l| !l.trim_start().starts_with("//"))
            .any(|l| {
                l.contains("bincode::encode")
                    || l.contains("bincode::decode")
                    || l.contains("bincode::config")
            });
        let in_node = path.starts_with("node/") && names(&text, "bincode");
        if (calls && path != "protocol/src/codec.rs") || in_node {
            broken.push(format!("bincode is used in {path} (only codec.rs encodes)"));
        }
    }
    // The API sits on the publisher, the store and the network, never on the node
    // that starts it; and only the publisher signs (its not-synced guard first).
    for (path, text) in sources("node/src") {
        if path.starts_with("node/src/api/") && names(&text, "crate::node") {
            broken.push(format!("{path} depends on crate::node (a cycle)"));
        }
        let signs = text.contains(".append_own");
        if signs && path != "node/src/publish.rs" && !path.starts_with("node/src/store/") {
            broken.push(format!("{path} signs around the publisher (append_own)"));
        }
    }
    assert!(broken.is_empty(), "{}", broken.join("\n"));
}

#[test]
fn the_code_map_names_every_source_file() {
    let map = fs::read_to_string(root().join("ARCHITECTURE.md")).expect("ARCHITECTURE.md");
    let named: BTreeSet<&str> = map
        .split(|c: char| c.is_whitespace() || c == '`' || c == ',' || c == '(' || c == ')')
        .filter(|w| w.ends_with(".rs") || w.ends_with('/'))
        .collect();
    let mut missing = Vec::new();
    for dir in ["protocol/src", "node/src", "tests/src", "tests/tests"] {
        for (path, _) in sources(dir) {
            // Named when some `….rs` in the map is a suffix of its path on a segment
            // boundary (`src/body.rs`, `tests/api.rs`, or a bare `mod.rs` under its
            // folder's line).
            let named_here = named
                .iter()
                .filter(|w| w.ends_with(".rs"))
                .any(|w| path == *w || path.ends_with(&format!("/{w}")));
            if !named_here {
                missing.push(path);
            }
        }
    }
    assert!(
        missing.is_empty(),
        "ARCHITECTURE.md's code map does not name: {missing:?}"
    );
}
