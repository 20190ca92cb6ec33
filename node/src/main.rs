use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use clap::{Parser, Subcommand};
use customs_node::config::{
    write_atomically, ApiSection, MemberCard, Members, NodeConfig, NodeSection, P2pSection,
    StoreSection, CONFIG_FILE, KEY_FILE, TOKEN_FILE,
};
use customs_node::identity::{generate_key, random_bytes, read_key_file, write_key_file};

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
        } => init(&dir, code, name, network, p2p_listen, api_listen),
        Command::Run { dir } => run(dir),
        Command::Member(MemberCommand::Export { dir }) => {
            print!("{}", own_card(&dir)?.to_toml());
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
    }
}

fn init(
    dir: &Path,
    code: String,
    name: String,
    network: String,
    p2p_listen: String,
    api_listen: String,
) -> anyhow::Result<()> {
    let config_path = dir.join(CONFIG_FILE);
    if config_path.exists() {
        bail!(
            "{} already exists: this directory is already a node",
            config_path.display()
        );
    }
    let config = NodeConfig {
        node: NodeSection {
            code,
            name,
            network,
        },
        p2p: P2pSection {
            listen: p2p_listen,
            ..P2pSection::default()
        },
        api: ApiSection { listen: api_listen },
        store: StoreSection::default(),
    };
    // Nothing is written for a configuration the node would refuse.
    config.validate(&config_path)?;
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    write_atomically(&config_path, &config.to_documented_toml())?;
    let key = generate_key()?;
    write_key_file(&dir.join(KEY_FILE), &key)?;
    write_token_file(&dir.join(TOKEN_FILE))?;
    println!(
        "initialised {} as member {} of network {}",
        dir.display(),
        config.node.code,
        config.node.network
    );
    println!("public key {}", key.public_key());
    println!(
        "next: give `customs-node member export --dir {}` to the other members",
        dir.display()
    );
    Ok(())
}

/// A new admin API token, written with mode 0600.
fn write_token_file(path: &Path) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let bytes: [u8; 32] = random_bytes()?;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    writeln!(file, "{}", hex(&bytes))?;
    file.sync_all()?;
    Ok(())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn own_card(dir: &Path) -> anyhow::Result<MemberCard> {
    let config = NodeConfig::load(dir)?;
    let key = read_key_file(&dir.join(KEY_FILE))?;
    let addresses = if config.p2p.external_addresses.is_empty() {
        vec![config.p2p.listen.clone()]
    } else {
        config.p2p.external_addresses.clone()
    };
    Ok(MemberCard {
        network: config.node.network,
        code: config.node.code,
        name: config.node.name,
        public_key: key.public_key(),
        addresses,
    })
}

fn add_member(dir: &Path, file: &Path) -> anyhow::Result<()> {
    let config = NodeConfig::load(dir)?;
    let own = read_key_file(&dir.join(KEY_FILE))?.public_key();
    let text =
        std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
    let card = MemberCard::parse(file, &text)?;
    card.check(&config, &own)?;
    let mut members = Members::load(dir)?;
    let code = card.code.clone();
    let key = card.public_key;
    members.admit(card)?;
    members.save(dir)?;
    println!("admitted member {code} (key {key}); a running node picks it up when restarted");
    Ok(())
}

fn run(dir: PathBuf) -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async move {
        customs_node::node::run(dir, shutdown_signal()).await?;
        Ok(())
    })
}

/// Completes on SIGINT or SIGTERM.
async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    match signal(SignalKind::terminate()) {
        Ok(mut terminate) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = terminate.recv() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
