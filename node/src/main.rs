use std::path::{Path, PathBuf};

use std::time::Duration;

use anyhow::{bail, Context};
use clap::{Args, Parser, Subcommand};
use customs_node::admission::Admission;
use customs_node::api::views::{AeoStatusView, AlertList, ForkList, Published, StatusView};
use customs_node::cli::{self, print_json, read_json_file, Target};
use customs_node::clock::now_ms;
use customs_node::config::{
    ApiSection, MemberCard, NodeConfig, NodeSection, P2pSection, StoreSection, CONFIG_FILE,
};
use customs_node::identity::{generate_key, read_key_file, write_key_file};
use customs_node::node::NodeParams;
use customs_node::store::{Store, StoreError};
use customs_node::tokens::{self, Role, TOKENS_FILE};
use customs_node::{bundle, demo, setup};

/// A node of the customs information-sharing network.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create a node directory: node.toml, identity.key and api-token.
    Init {
        #[arg(long)]
        dir: PathBuf,
        /// This administration's member code (e.g. NL).
        #[arg(long)]
        code: String,
        /// This administration's name.
        #[arg(long)]
        name: String,
        #[arg(long, default_value = "customs")]
        network: String,
        #[arg(long, default_value = "/ip4/0.0.0.0/tcp/7400")]
        p2p_listen: String,
        #[arg(long, default_value = "127.0.0.1:7480")]
        api_listen: String,
        /// An address other members dial, for the member card (repeatable; default:
        /// the listen address).
        #[arg(long = "external-address")]
        external_addresses: Vec<String>,
        /// Let this node publish before any member has synced with it: only for the
        /// first node of a brand-new network.
        #[arg(long)]
        allow_publish_before_sync: bool,
    },
    /// Run the node until SIGINT or SIGTERM.
    Run {
        #[arg(long)]
        dir: PathBuf,
    },
    /// Exchange member cards with other administrations.
    #[command(subcommand)]
    Member(MemberCommand),
    /// Manage the administration's ed25519 identity.
    #[command(subcommand)]
    Key(KeyCommand),
    /// Manage API tokens (stored hashed in DIR/tokens.toml; a running node sees
    /// changes at once).
    #[command(subcommand)]
    Token(TokenCommand),
    /// Publish and list risk alerts (through the running node's API).
    #[command(subcommand)]
    Alert(AlertCommand),
    /// Publish and look up AEO status records.
    #[command(subcommand)]
    Aeo(AeoCommand),
    /// Retract one of this node's own entries.
    Retract {
        /// The entry id (64 hex digits).
        id: String,
        /// false_positive, superseded, legal_hold, data_protection or error.
        #[arg(long)]
        reason: String,
        #[arg(long)]
        note: Option<String>,
        /// Retract at most once under this key (default: a new one); see `alert publish`.
        #[arg(long)]
        idempotency_key: Option<String>,
        #[command(flatten)]
        api: ApiArgs,
    },
    /// A local network of three nodes (NL, BE, DE) with sample records, until Ctrl-C.
    Demo {
        /// Where to put the node directories (default: a new temporary directory).
        #[arg(long)]
        dir: Option<PathBuf>,
        /// Keep the temporary directory when the demo stops.
        #[arg(long)]
        keep: bool,
    },
    /// Write every entry of the store to a bundle file (backup, or carrying entries to
    /// an isolated node). A running node is asked through its API (admin token).
    Export {
        #[arg(long)]
        dir: PathBuf,
        #[arg(long)]
        out: PathBuf,
    },
    /// Verify and store the entries of a bundle file. Stop the node first.
    Import {
        #[arg(long)]
        dir: PathBuf,
        file: PathBuf,
    },
    /// This node, its peers and its counts.
    Status {
        /// Refresh every second until interrupted.
        #[arg(long, conflicts_with = "wait_sync")]
        watch: bool,
        /// Wait (showing progress) until every connected peer is in sync.
        #[arg(long)]
        wait_sync: bool,
        /// Give up waiting after this many seconds.
        #[arg(long, default_value_t = 600)]
        timeout_s: u64,
        #[command(flatten)]
        api: ApiArgs,
    },
    /// The member nodes: connected, last sync, lag.
    Peers {
        #[command(flatten)]
        api: ApiArgs,
    },
    /// Fork proofs: member keys that signed two entries with one seq.
    Forks {
        #[command(flatten)]
        api: ApiArgs,
    },
}

/// How to reach a running node's API.
#[derive(Debug, Args)]
struct ApiArgs {
    /// The node directory: its api.url (written by `run`), node.toml and api-token.
    #[arg(long, default_value = ".")]
    dir: PathBuf,
    /// The API's URL, instead of the one the node directory names.
    #[arg(long)]
    url: Option<String>,
    /// The API token, instead of DIR/api-token.
    #[arg(long)]
    token: Option<String>,
    /// Print the API's JSON instead of a table.
    #[arg(long)]
    json: bool,
}

impl ApiArgs {
    fn target(&self) -> anyhow::Result<Target> {
        Ok(Target::resolve(
            &self.dir,
            self.url.clone(),
            self.token.clone(),
        )?)
    }
}

#[derive(Debug, Subcommand)]
enum TokenCommand {
    /// Create a token and print it (it is shown only this once).
    Create {
        #[arg(long)]
        dir: PathBuf,
        /// reader, publisher or admin.
        #[arg(long)]
        role: String,
        /// Who or what uses it (e.g. risk-engine, officer.jansen).
        #[arg(long)]
        name: String,
    },
    /// List the tokens' names and roles.
    List {
        #[arg(long)]
        dir: PathBuf,
    },
    /// Revoke a token by name.
    Revoke {
        #[arg(long)]
        dir: PathBuf,
        #[arg(long)]
        name: String,
    },
}

#[derive(Debug, Subcommand)]
enum AlertCommand {
    /// Publish the risk alert in FILE (JSON; `-` for standard input).
    Publish {
        #[arg(long)]
        file: PathBuf,
        /// Publish at most once under this key (default: a new one). A lost answer is
        /// retried with it; to retry a run that lost every answer, pass the key it printed.
        #[arg(long)]
        idempotency_key: Option<String>,
        #[command(flatten)]
        api: ApiArgs,
    },
    /// List alerts, newest first.
    List {
        #[arg(long)]
        category: Option<String>,
        /// HS code prefix.
        #[arg(long)]
        hs: Option<String>,
        /// A country anywhere on the route.
        #[arg(long)]
        country: Option<String>,
        /// Detected on or after (YYYY-MM-DD).
        #[arg(long)]
        from: Option<String>,
        /// Detected on or before (YYYY-MM-DD).
        #[arg(long)]
        to: Option<String>,
        /// The publishing member's code.
        #[arg(long)]
        author: Option<String>,
        #[arg(long)]
        include_retracted: bool,
        #[arg(long, default_value_t = 50)]
        limit: usize,
        /// Continue after a previous page.
        #[arg(long)]
        cursor: Option<String>,
        #[command(flatten)]
        api: ApiArgs,
    },
}

#[derive(Debug, Subcommand)]
enum AeoCommand {
    /// Publish the AEO record in FILE (JSON; `-` for standard input).
    Publish {
        #[arg(long)]
        file: PathBuf,
        /// Publish at most once under this key (default: a new one). A lost answer is
        /// retried with it; to retry a run that lost every answer, pass the key it printed.
        #[arg(long)]
        idempotency_key: Option<String>,
        #[command(flatten)]
        api: ApiArgs,
    },
    /// An operator's status at every issuer.
    Status {
        operator_id: String,
        /// The status on this date (YYYY-MM-DD).
        #[arg(long)]
        as_of: Option<String>,
        #[command(flatten)]
        api: ApiArgs,
    },
}

#[derive(Debug, Subcommand)]
enum MemberCommand {
    /// Print this node's member card (TOML) for the other administrations.
    Export {
        #[arg(long)]
        dir: PathBuf,
    },
    /// Admit a member from its card. A running node picks it up when restarted.
    Add {
        #[arg(long)]
        dir: PathBuf,
        file: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
enum KeyCommand {
    /// Generate a new identity into FILE (mode 0600; never overwrites).
    Generate {
        #[arg(long)]
        out: PathBuf,
    },
    /// Print the public key (lowercase hex) of the identity in FILE.
    Public {
        #[arg(long)]
        file: PathBuf,
    },
}

fn main() -> std::process::ExitCode {
    match dispatch(Cli::parse().command) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            // One clear line (with its causes), never a backtrace.
            eprintln!("error: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn dispatch(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Init {
            dir,
            code,
            name,
            network,
            p2p_listen,
            api_listen,
            external_addresses,
            allow_publish_before_sync,
        } => init(
            &dir,
            NodeSection {
                code,
                name,
                network,
                allow_publish_before_sync,
            },
            P2pSection {
                listen: p2p_listen,
                external_addresses,
                ..P2pSection::default()
            },
            api_listen,
        ),
        Command::Run { dir } => run(dir),
        Command::Member(MemberCommand::Export { dir }) => {
            print!("{}", setup::own_card(&dir)?.to_toml());
            Ok(())
        }
        Command::Member(MemberCommand::Add { dir, file }) => add_member(&dir, &file),
        Command::Key(KeyCommand::Generate { out }) => {
            let key = generate_key()?;
            write_key_file(&out, &key)?;
            println!("{}", key.public_key());
            Ok(())
        }
        Command::Key(KeyCommand::Public { file }) => {
            let key = read_key_file(&file).context("cannot load the identity")?;
            println!("{}", key.public_key());
            Ok(())
        }
        Command::Token(command) => token(command),
        Command::Demo { dir, keep } => demo(dir, keep),
        Command::Export { dir, out } => {
            let params = NodeParams::load(&dir)?;
            let count = match Store::open(params.store) {
                Ok(store) => bundle::export(&store, &out)?,
                // The node runs: ask it (an admin token, DIR/api-token).
                Err(StoreError::InUse { .. }) => {
                    Target::resolve(&dir, None, None)?.download("/api/v1/export", &out)?;
                    let mut file = std::fs::File::open(&out)
                        .with_context(|| format!("cannot read {}", out.display()))?;
                    bundle::read_header(&mut file, &out)?.1
                }
                Err(error) => return Err(error.into()),
            };
            println!("exported {count} entries to {}", out.display());
            Ok(())
        }
        Command::Import { dir, file } => import(&dir, &file),
        Command::Alert(AlertCommand::Publish {
            file,
            idempotency_key,
            api,
        }) => {
            let published: Published = api.target()?.publish(
                "/api/v1/alerts",
                &read_json_file(&file)?,
                idempotency_key,
            )?;
            show(&api, &published, |p| cli::print_published("alert", p));
            Ok(())
        }
        Command::Alert(AlertCommand::List {
            category,
            hs,
            country,
            from,
            to,
            author,
            include_retracted,
            limit,
            cursor,
            api,
        }) => {
            let mut query = vec![("limit", limit.to_string())];
            let optional = [
                ("category", category),
                ("hs", hs),
                ("country", country),
                ("from", from),
                ("to", to),
                ("author", author),
                ("cursor", cursor),
            ];
            query.extend(optional.into_iter().filter_map(|(k, v)| v.map(|v| (k, v))));
            if include_retracted {
                query.push(("include_retracted", "true".into()));
            }
            let list: AlertList = api
                .target()?
                .get(&format!("/api/v1/alerts?{}", encode_query(&query)))?;
            show(&api, &list, cli::print_alerts);
            Ok(())
        }
        Command::Aeo(AeoCommand::Publish {
            file,
            idempotency_key,
            api,
        }) => {
            let published: Published =
                api.target()?
                    .publish("/api/v1/aeo", &read_json_file(&file)?, idempotency_key)?;
            show(&api, &published, |p| cli::print_published("AEO record", p));
            Ok(())
        }
        Command::Aeo(AeoCommand::Status {
            operator_id,
            as_of,
            api,
        }) => {
            let mut path = format!("/api/v1/aeo/{}", encode(&operator_id));
            if let Some(date) = as_of {
                path.push_str(&format!("?as_of={}", encode(&date)));
            }
            let view: AeoStatusView = api.target()?.get(&path)?;
            show(&api, &view, cli::print_aeo);
            Ok(())
        }
        Command::Retract {
            id,
            reason,
            note,
            idempotency_key,
            api,
        } => {
            let body = serde_json::json!({"target": id, "reason": reason, "note": note});
            let published: Published =
                api.target()?
                    .publish("/api/v1/retractions", &body, idempotency_key)?;
            show(&api, &published, |p| cli::print_published("retraction", p));
            Ok(())
        }
        Command::Status {
            watch,
            wait_sync,
            timeout_s,
            api,
        } => {
            let target = api.target()?;
            if wait_sync {
                let status = cli::wait_for_sync(&target, Duration::from_secs(timeout_s))?;
                show(&api, &status, cli::print_status);
                return Ok(());
            }
            loop {
                let status: StatusView = target.get("/api/v1/status")?;
                if watch && !api.json {
                    print!("\x1b[H\x1b[2J"); // clear the screen
                }
                show(&api, &status, cli::print_status);
                if !watch {
                    return Ok(());
                }
                std::thread::sleep(cli::POLL_INTERVAL);
            }
        }
        Command::Peers { api } => {
            let status: StatusView = api.target()?.get("/api/v1/status")?;
            show(&api, &status.peers, |_| cli::print_peers(&status));
            Ok(())
        }
        Command::Forks { api } => {
            let forks: ForkList = api.target()?.get("/api/v1/forks")?;
            show(&api, &forks, cli::print_forks);
            Ok(())
        }
    }
}

/// Prints the API's JSON with `--json`, else the readable form.
fn show<T: serde::Serialize>(api: &ApiArgs, value: &T, readable: impl FnOnce(&T)) {
    if api.json {
        print_json(value);
    } else {
        readable(value);
    }
}

/// Percent-encodes a query or path value.
fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn encode_query(pairs: &[(&str, String)]) -> String {
    let pairs: Vec<String> = pairs
        .iter()
        .map(|(k, v)| format!("{k}={}", encode(v)))
        .collect();
    pairs.join("&")
}

fn token(command: TokenCommand) -> anyhow::Result<()> {
    match command {
        TokenCommand::Create { dir, role, name } => {
            let role: Role = role.parse().map_err(anyhow::Error::msg)?;
            node_dir(&dir)?;
            let token = tokens::create(&dir.join(TOKENS_FILE), &name, role, now_ms())?;
            eprintln!("token {name:?} ({role}); it is shown only now:");
            println!("{token}");
        }
        TokenCommand::List { dir } => {
            node_dir(&dir)?;
            let mut rows = vec![vec!["NAME".into(), "ROLE".into(), "CREATED".into()]];
            for record in tokens::list(&dir.join(TOKENS_FILE))? {
                rows.push(vec![
                    record.name,
                    record.role.to_string(),
                    customs_node::clock::rfc3339(record.created_at_ms),
                ]);
            }
            print!("{}", cli::table(&rows));
        }
        TokenCommand::Revoke { dir, name } => {
            node_dir(&dir)?;
            tokens::revoke(&dir.join(TOKENS_FILE), &name)?;
            println!("revoked token {name:?}");
        }
    }
    Ok(())
}

fn import(dir: &Path, file: &Path) -> anyhow::Result<()> {
    let params = NodeParams::load(dir)?;
    let admission = Admission::of(&params.network);
    let store = Store::open(params.store)?;
    let interactive = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let mut last_tenth = 0;
    let report = bundle::import(&store, &admission, file, |done, total| {
        let percent = done * 100 / total.max(1);
        if interactive {
            eprint!("\rimporting {done} / {total} entries ({percent}%)\x1b[K");
        } else if percent / 10 > last_tenth || done == total {
            last_tenth = percent / 10;
            eprintln!("importing {done} / {total} entries ({percent}%)");
        }
    });
    if interactive {
        eprintln!();
    }
    let report = report?;
    println!(
        "imported {} new entries from {} ({} of {} held already)",
        report.applied,
        file.display(),
        report.duplicates,
        report.count
    );
    if report.pending > 0 {
        println!(
            "{} entries wait for earlier entries the bundle lacks; the next sync with a member fetches them",
            report.pending
        );
    }
    Ok(())
}

fn demo(dir: Option<PathBuf>, keep: bool) -> anyhow::Result<()> {
    customs_node::logging::init("warn");
    let temporary = dir.is_none();
    let base = match dir {
        Some(dir) => dir,
        None => {
            std::env::temp_dir().join(format!("customs-demo-{}-{}", std::process::id(), now_ms()))
        }
    };
    for (code, _) in demo::DEMO_MEMBERS {
        let member_dir = base.join(code.to_lowercase());
        if member_dir.exists() {
            bail!(
                "{} exists already: choose another --dir, or run its nodes with `customs-node run --dir {}`",
                member_dir.display(),
                member_dir.display()
            );
        }
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let result = runtime.block_on(async {
        let shutdown = shutdown_signal()?;
        let dirs = demo::create(&base)?;
        let nodes = demo::start(&dirs).await?;
        println!(
            "demo network {} in {}: {} members on 127.0.0.1",
            demo::DEMO_NETWORK,
            base.display(),
            nodes.len()
        );
        for member in &nodes {
            println!(
                "  {}  console {}  token {}",
                member.code,
                member.console_url(),
                member.token
            );
        }
        let published: Vec<String> = nodes
            .iter()
            .map(|n| format!("{} {}", n.code, n.published))
            .collect();
        let total: usize = nodes.iter().map(|n| n.published).sum();
        println!(
            "published {total} sample alerts and AEO records ({}); every node receives them all",
            published.join(", ")
        );
        println!("open a console URL in a browser and sign in with its token; the CLI works too, e.g. `customs-node alert list --dir {}`", dirs[0].display());
        println!("Ctrl-C stops the demo{}", if temporary && !keep { " and removes its directory" } else { "" });
        shutdown.await;
        demo::stop(nodes).await?;
        anyhow::Ok(())
    });
    if temporary && !keep {
        let _ = std::fs::remove_dir_all(&base);
    } else {
        println!(
            "the node directories are kept in {}; run one with `customs-node run --dir {}/nl`",
            base.display(),
            base.display()
        );
    }
    result
}

/// Refuses a directory that is not a node directory.
fn node_dir(dir: &Path) -> anyhow::Result<()> {
    if !dir.join(CONFIG_FILE).exists() {
        bail!(
            "{} is not a node directory (no {CONFIG_FILE}; see `customs-node init`)",
            dir.display()
        );
    }
    Ok(())
}

fn init(dir: &Path, node: NodeSection, p2p: P2pSection, api_listen: String) -> anyhow::Result<()> {
    let config = NodeConfig {
        node,
        p2p,
        api: ApiSection {
            listen: api_listen,
            ..ApiSection::default()
        },
        store: StoreSection::default(),
    };
    let key = setup::init_node_dir(dir, &config)?;
    println!(
        "initialised {} as member {} of network {}",
        dir.display(),
        config.node.code,
        config.node.network
    );
    println!("public key {key}");
    println!(
        "next: give `customs-node member export --dir {}` to the other members",
        dir.display()
    );
    Ok(())
}

fn add_member(dir: &Path, file: &Path) -> anyhow::Result<()> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
    let card = MemberCard::parse(file, &text)?;
    let code = card.code.clone();
    let key = card.public_key;
    setup::admit_member(dir, card)?;
    println!("admitted member {code} (key {key}); a running node picks it up when restarted");
    Ok(())
}

fn run(dir: PathBuf) -> anyhow::Result<()> {
    customs_node::logging::init("info");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let result = runtime.block_on(async move {
        let shutdown = shutdown_signal()?;
        customs_node::node::run(dir, shutdown).await?;
        anyhow::Ok(())
    });
    // Blocking work still running (a write to a failing disk) must not hold the exit.
    runtime.shutdown_timeout(RUNTIME_STOP_GRACE);
    result
}

/// How long the process waits for blocking work after the node has stopped.
const RUNTIME_STOP_GRACE: std::time::Duration = std::time::Duration::from_millis(500);

/// Registers for SIGINT and SIGTERM now (a signal that arrives while the node is still
/// starting is kept, and stops it as soon as it has started); the future completes on
/// the first of them.
fn shutdown_signal() -> anyhow::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut terminate = signal(SignalKind::terminate()).context("cannot handle SIGTERM")?;
    let mut interrupt = signal(SignalKind::interrupt()).context("cannot handle SIGINT")?;
    Ok(async move {
        tokio::select! {
            _ = terminate.recv() => {}
            _ = interrupt.recv() => {}
        }
    })
}
