use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use customs_node::identity::{read_key_file, write_key_file};

/// A node of the customs information-sharing network.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Manage the administration's ed25519 identity.
    #[command(subcommand)]
    Key(KeyCommand),
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

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Key(KeyCommand::Generate { out }) => {
            let key = customs_node::identity::generate_key()?;
            write_key_file(&out, &key)?;
            println!("{}", key.public_key());
        }
        Command::Key(KeyCommand::Public { file }) => {
            let key = read_key_file(&file).context("cannot load the identity")?;
            println!("{}", key.public_key());
        }
    }
    Ok(())
}
