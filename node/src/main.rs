use std::path::{Path, PathBuf};

use std::time::Duration;

mod exchange_cli;
mod governance_cli;
mod loop_cli;
use governance_cli as governance;
use loop_cli::{RequestCommand, ResultCommand, WatchCommand, WebhookCommand};

use anyhow::{bail, Context};
use clap::{Args, Parser, Subcommand};
use customs_node::admission::Admission;
use customs_node::api::views::{
    AeoStatusView, AlertList, EntryAnswer, EntryView, ForkList, GroupChanged, GroupList,
    OutboundAlertList, Published, StatusView,
};
use customs_node::cli::{self, print_json, read_json_file, CliError, Exit, Target};
use customs_node::clock::now_ms;
use customs_node::config::{
    ApiSection, AuditSection, ConfigError, MemberCard, NodeConfig, NodeSection, P2pSection,
    StoreSection, CONFIG_FILE, TOKEN_FILE,
};
use customs_node::identity::{generate_key, read_key_file, write_key_file};
use customs_node::node::NodeParams;
use customs_node::store::{Store, StoreError};
use customs_node::tokens::{self, Role, TOKENS_FILE};
use customs_node::{audit, bundle, demo, files, membership, out, outln, setup};
use customs_protocol::governance::Quorum;

/// A node of the customs information-sharing network.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    /// Print JSON instead of text (every command; the API's own JSON where it asks one).
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create a node directory. `--found NAME` founds a governed network (writes its
    /// charter); `--join CHARTER_FILE --bootstrap MULTIADDR` prepares a node to join
    /// one; `--network ID` makes a node of static member lists (before a network
    /// converts to a charter).
    Init {
        #[arg(long)]
        dir: PathBuf,
        /// This administration's member code (e.g. NL).
        #[arg(long)]
        code: String,
        /// This administration's name.
        #[arg(long)]
        name: String,
        /// Found a governed network of this name (the id adds the charter's hash).
        #[arg(long, conflicts_with_all = ["join", "network"])]
        found: Option<String>,
        /// With --found: `majority` (more than half of the members, the default) or
        /// `two-thirds`.
        #[arg(long, requires = "found", value_parser = parse_quorum)]
        quorum: Option<Quorum>,
        /// Join the governed network this charter file founds.
        #[arg(long, conflicts_with = "network", requires = "bootstrap")]
        join: Option<PathBuf>,
        /// With --join: a member's address to reach the network by (repeatable;
        /// `/p2p/PEER_ID` at the end lets that peer serve the network's entries).
        #[arg(long, requires = "join")]
        bootstrap: Vec<String>,
        /// With --join: an existing administration key (another node of the same
        /// administration) instead of a new one.
        #[arg(long, requires = "join")]
        admin_key: Option<PathBuf>,
        /// A network of static member lists: its id, the same on every member.
        #[arg(long, required_unless_present_any = ["found", "join"])]
        network: Option<String>,
        #[arg(long, default_value = "/ip4/0.0.0.0/tcp/7400")]
        p2p_listen: String,
        #[arg(long, default_value = "127.0.0.1:7480")]
        api_listen: String,
        /// An address other members dial, for the member card (repeatable; default:
        /// the listen address).
        #[arg(long = "external-address")]
        external_addresses: Vec<String>,
        /// Let this node publish before any member has synced with it: only for the
        /// first node of a brand-new network (spent once a member holds its entries).
        #[arg(long)]
        allow_publish_before_sync: bool,
    },
    /// Print the charter of this node's network: the file to hand to a joining
    /// administration.
    Charter {
        #[arg(long, default_value = ".", global = true)]
        dir: PathBuf,
        #[command(subcommand)]
        action: Option<CharterAction>,
    },
    /// Run the node until SIGINT or SIGTERM.
    Run {
        #[arg(long, default_value = ".")]
        dir: PathBuf,
    },
    /// Exchange member cards with other administrations.
    #[command(subcommand)]
    Member(MemberCommand),
    /// Manage the administration's ed25519 identity.
    #[command(subcommand)]
    Key(KeyCommand),
    /// Manage API tokens (stored hashed in DIR/tokens.toml; a running node confirms
    /// each change).
    #[command(subcommand)]
    Token(TokenCommand),
    /// Publish, list and show risk alerts (through the running node's API).
    #[command(subcommand)]
    Alert(AlertCommand),
    /// Attachments: upload a photo, X-ray image or PDF (image metadata removed), and
    /// read one by hash (fetched from members when this node does not hold it).
    #[command(subcommand)]
    Attachment(AttachmentCommand),
    /// Publish and look up AEO status records.
    #[command(subcommand)]
    Aeo(AeoCommand),
    /// Closed user groups: records addressed to one are readable by its members only.
    #[command(subcommand)]
    Group(GroupCommand),
    /// Requests for control: ask members to check a consignment, answer their asks.
    #[command(subcommand)]
    Request(RequestCommand),
    /// Results of control: what a check found, answering a request or an alert.
    #[command(subcommand)]
    Result(ResultCommand),
    /// Watch lists: rules matched against every record stored, with a retro-hunt.
    #[command(subcommand)]
    Watch(WatchCommand),
    /// Webhooks: push matches, requests and results to a national system.
    #[command(subcommand)]
    Webhook(WebhookCommand),
    /// Retract one of this node's own entries.
    Retract {
        /// The entry id (64 hex digits, or a prefix of at least 8 that one entry has).
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
    /// Write every entry of the store to a bundle file (`-`: standard output), for a
    /// backup or to carry entries to an isolated node; a running node is asked through
    /// its API (admin token). With --format stix, misp or cen: what may leave the
    /// network, in the field's formats (a reader token).
    Export {
        #[arg(long)]
        out: PathBuf,
        #[arg(long, value_enum, default_value = "bundle")]
        format: exchange_cli::ExportFormat,
        #[command(flatten)]
        formats: exchange_cli::FormatArgs,
        #[command(flatten)]
        api: ApiArgs,
    },
    /// Draft alerts imported from STIX indicators.
    #[command(subcommand)]
    Draft(exchange_cli::DraftCommand),
    /// Check a bundle whole, then store its entries (nothing is stored from a bundle
    /// that fails any check). Stop the node first.
    Import {
        #[arg(long, default_value = ".")]
        dir: PathBuf,
        /// The bundle (`-`: standard input).
        file: PathBuf,
        /// Only check the bundle (framing, checksum, every signature); write nothing.
        #[arg(long)]
        verify: bool,
    },
    /// This node, its peers and its counts.
    Status {
        /// Refresh every second until interrupted.
        #[arg(long, conflicts_with_all = ["wait_sync", "check"])]
        watch: bool,
        /// Wait (showing progress) until every connected peer is in sync and the
        /// node can publish.
        #[arg(long)]
        wait_sync: bool,
        /// Give up waiting after this many seconds.
        #[arg(long, default_value_t = 600)]
        timeout_s: u64,
        /// Exit with 10 when something needs attention: a fork, a member down for
        /// longer than --max-down-s, refusals by members, this node unable to publish
        /// or its store unable to write.
        #[arg(long)]
        check: bool,
        /// How long a member may be unreachable before --check reports it.
        #[arg(long, default_value_t = 600)]
        max_down_s: u64,
        #[command(flatten)]
        api: ApiArgs,
    },
    /// The member nodes: connected, last sync, lag.
    Peers {
        #[command(flatten)]
        api: ApiArgs,
    },
    /// Fork proofs: member keys that signed two entries with one seq. Exits with 10
    /// when there is any.
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
}

impl ApiArgs {
    fn target(&self) -> Result<Target, CliError> {
        Target::resolve(&self.dir, self.url.clone(), self.token.clone())
    }
}

#[derive(Debug, Subcommand)]
enum TokenCommand {
    /// Create a token and print it (it is shown only this once).
    Create {
        #[arg(long, default_value = ".")]
        dir: PathBuf,
        /// reader, publisher or admin.
        #[arg(long)]
        role: String,
        /// Who or what uses it (e.g. risk-engine, officer.jansen).
        #[arg(long)]
        name: String,
        /// Write the token into this new file (mode 0600) instead of standard output;
        /// `--out DIR/api-token` gives the CLI a new token.
        #[arg(long)]
        out: Option<PathBuf>,
        /// The running node's API, to confirm the change (default: DIR/api.url).
        #[arg(long)]
        url: Option<String>,
        /// An admin token to ask the node with (default: DIR/api-token).
        #[arg(long)]
        token: Option<String>,
    },
    /// List the tokens' names and roles.
    List {
        #[arg(long, default_value = ".")]
        dir: PathBuf,
    },
    /// Revoke a token by name; the running node confirms it no longer accepts it.
    Revoke {
        #[arg(long, default_value = ".")]
        dir: PathBuf,
        #[arg(long)]
        name: String,
        /// Revoke even the token the CLI itself uses (DIR/api-token).
        #[arg(long)]
        force: bool,
        /// The running node's API, to confirm the change (default: DIR/api.url).
        #[arg(long)]
        url: Option<String>,
        /// An admin token to ask the node with (default: DIR/api-token).
        #[arg(long)]
        token: Option<String>,
    },
}

/// Markings and distribution of a record to publish; each flag overrides the file's
/// `markings` and `distribution`.
#[derive(Debug, clap::Args)]
struct NeedToKnowArgs {
    /// Seal the record to these members (codes, comma-separated, e.g. BE,DE); this
    /// administration always reads its own.
    #[arg(long, value_delimiter = ',', conflicts_with = "group")]
    to: Vec<String>,
    /// Seal the record to a closed user group (its id: `customs-node group list`).
    #[arg(long)]
    group: Option<String>,
    /// clear, green, amber (the default), amber_strict or red.
    #[arg(long)]
    tlp: Option<String>,
    /// Handling codes, comma-separated: crime_prevention_only, no_judicial_use,
    /// no_onward_sharing.
    #[arg(long, value_delimiter = ',')]
    handling: Vec<String>,
    /// Source reliability: A, B, C or X (the default: cannot be judged).
    #[arg(long)]
    reliability: Option<String>,
    /// Information accuracy: 1 to 4 (the default, 4: cannot be judged).
    #[arg(long)]
    accuracy: Option<u8>,
    /// Attach a JPEG, PNG or PDF file, with an optional caption after `=`
    /// (`--attach floor.jpg="False floor"`; repeatable). The file is uploaded first
    /// (image metadata removed) and listed in the record.
    #[arg(long, value_name = "FILE[=CAPTION]")]
    attach: Vec<String>,
}

impl NeedToKnowArgs {
    /// `record` with the flags' markings and distribution set, and the files of
    /// `--attach` uploaded to `target` and listed.
    fn apply(
        &self,
        target: &cli::Target,
        mut record: serde_json::Value,
    ) -> anyhow::Result<serde_json::Value> {
        let Some(fields) = record.as_object_mut() else {
            anyhow::bail!("the record must be a JSON object");
        };
        for attach in &self.attach {
            let (file, caption) = attach.split_once('=').unwrap_or((attach, ""));
            let uploaded = upload_attachment(target, std::path::Path::new(file))?;
            let list = fields
                .entry("attachments")
                .or_insert_with(|| serde_json::json!([]));
            let Some(list) = list.as_array_mut() else {
                anyhow::bail!("the record's attachments must be a JSON array");
            };
            list.push(serde_json::json!({"hash": uploaded.hash, "caption": caption}));
        }
        let markings = fields
            .entry("markings")
            .or_insert_with(|| serde_json::json!({}));
        let Some(markings) = markings.as_object_mut() else {
            anyhow::bail!("the record's markings must be a JSON object");
        };
        if let Some(tlp) = &self.tlp {
            markings.insert("tlp".into(), tlp.clone().into());
        }
        if !self.handling.is_empty() {
            markings.insert("handling".into(), self.handling.clone().into());
        }
        if let Some(reliability) = &self.reliability {
            markings.insert("source_reliability".into(), reliability.clone().into());
        }
        if let Some(accuracy) = self.accuracy {
            markings.insert("accuracy".into(), accuracy.into());
        }
        if !self.to.is_empty() {
            fields.insert("distribution".into(), serde_json::json!({ "to": self.to }));
        } else if let Some(group) = &self.group {
            fields.insert(
                "distribution".into(),
                serde_json::json!({ "group": { "id": group } }),
            );
        }
        Ok(record)
    }
}

#[derive(Debug, Subcommand)]
enum GroupCommand {
    /// Create a closed user group; its key goes, sealed, to its members' nodes.
    Create {
        #[arg(long)]
        name: String,
        #[arg(long)]
        purpose: String,
        /// Member codes, comma-separated (this administration is added).
        #[arg(long, value_delimiter = ',', required = true)]
        members: Vec<String>,
        /// YYYY-MM-DD (default: today).
        #[arg(long)]
        starts: Option<String>,
        /// YYYY-MM-DD: after this day nothing new may be addressed to the group.
        #[arg(long)]
        ends: String,
        #[command(flatten)]
        api: ApiArgs,
    },
    /// The groups this node's administration belongs to.
    List {
        #[command(flatten)]
        api: ApiArgs,
    },
    /// Add a member to a group this administration owns (the group gets a new key).
    Add {
        id: String,
        code: String,
        #[command(flatten)]
        api: ApiArgs,
    },
    /// Remove a member from a group this administration owns (a new key: the member
    /// reads nothing addressed to the group from now on).
    Remove {
        id: String,
        code: String,
        #[command(flatten)]
        api: ApiArgs,
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
        need_to_know: NeedToKnowArgs,
        #[command(flatten)]
        api: ApiArgs,
    },
    /// The alerts that may leave the network (for a system outside it): those marked
    /// no_onward_sharing or TLP:RED, and restricted ones, are withheld.
    Outbound {
        #[arg(long, default_value_t = 50)]
        limit: usize,
        #[arg(long)]
        cursor: Option<String>,
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
    /// One entry in full, with its verification (an id or a prefix of at least 8).
    Show {
        id: String,
        #[command(flatten)]
        api: ApiArgs,
    },
    /// Print an example risk alert (JSON) that publishes as is: edit it, then
    /// `alert publish --file`.
    Template,
}

#[derive(Debug, Subcommand)]
enum AttachmentCommand {
    /// Upload a JPEG, PNG or PDF file; prints its hash (of the bytes as stored, with
    /// image metadata removed) for a record's `attachments`.
    Upload {
        file: PathBuf,
        #[command(flatten)]
        api: ApiArgs,
    },
    /// Write an attachment's bytes to FILE, fetched from members when this node
    /// does not hold them.
    Get {
        hash: String,
        #[arg(long)]
        out: PathBuf,
        #[command(flatten)]
        api: ApiArgs,
    },
}

/// Publishes the record in `file` at `path` with the flags' markings, distribution
/// and attachments.
fn publish_file(
    api: &ApiArgs,
    path: &str,
    file: &std::path::Path,
    need_to_know: &NeedToKnowArgs,
    idempotency_key: Option<String>,
) -> anyhow::Result<Published> {
    let target = api.target()?;
    let record = need_to_know.apply(&target, read_json_file(file)?)?;
    Ok(target.publish(path, &record, idempotency_key)?)
}

/// Uploads `file` (its type from its first bytes) through the API.
fn upload_attachment(
    target: &cli::Target,
    file: &std::path::Path,
) -> anyhow::Result<customs_node::api::views::UploadedAttachment> {
    let bytes = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
    let media_type = customs_protocol::attachment::sniff(&bytes).ok_or_else(|| {
        anyhow::anyhow!(
            "{} is not a JPEG, PNG or PDF file (by its first bytes)",
            file.display()
        )
    })?;
    let reply = target
        .client()
        .send(
            "POST",
            "/api/v1/attachments",
            Some((media_type.as_str(), &bytes)),
        )
        .map_err(cli::CliError::from)?;
    Ok(reply.into_typed().map_err(cli::CliError::from)?)
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
        need_to_know: NeedToKnowArgs,
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
    /// Print an example AEO record (JSON) that publishes as is.
    Template,
}

/// Converting a network of static member lists to a charter.
#[derive(Debug, Subcommand)]
enum CharterAction {
    /// On one member: print a charter that converts this network (same id, every
    /// member of members.toml and this node as founders, records kept). Hand it to
    /// every member, who adopts it.
    Convert {
        /// `majority` (default) or `two-thirds`.
        #[arg(long, value_parser = parse_quorum)]
        quorum: Option<Quorum>,
    },
    /// On every member: adopt the conversion charter in FILE. A running node takes it
    /// at once (it restarts in-process); a stopped one at its next start.
    Adopt {
        file: PathBuf,
        /// The running node's API (default: DIR/api.url).
        #[arg(long)]
        url: Option<String>,
        /// An admin token (default: DIR/api-token).
        #[arg(long)]
        token: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
enum MemberCommand {
    /// Print this node's member card (TOML) for the other administrations.
    Export {
        #[arg(long, default_value = ".")]
        dir: PathBuf,
    },
    /// Admit a member from its card (`-`: standard input) into a network of static
    /// member lists. A running node picks it up when restarted.
    Add {
        #[arg(long, default_value = ".")]
        dir: PathBuf,
        file: PathBuf,
    },
    /// Propose to admit the administration whose card (`member export` of its node)
    /// is in CARD_FILE (`-`: standard input). Prints the proposal id.
    Propose {
        card: PathBuf,
        #[command(flatten)]
        api: ApiArgs,
    },
    /// Approve a pending proposal.
    Approve {
        proposal: String,
        #[command(flatten)]
        api: ApiArgs,
    },
    /// Propose to remove a member. Prints the proposal id.
    Remove {
        code: String,
        #[arg(long)]
        reason: String,
        #[command(flatten)]
        api: ApiArgs,
    },
    /// The members (and former members) with their keys, and pending proposals.
    List {
        #[command(flatten)]
        api: ApiArgs,
    },
    /// Every proposal: pending first, with approvals and the quorum.
    Proposals {
        #[command(flatten)]
        api: ApiArgs,
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
    /// Hand this node's log over to a new node key certified by the administration
    /// key: the old key's last entry says so, and the running node carries on with
    /// the new key (it restarts itself in-process).
    Rotate {
        /// The administration key (default: DIR/admin.key).
        #[arg(long)]
        admin_key: Option<PathBuf>,
        #[command(flatten)]
        api: ApiArgs,
    },
    /// Revoke one of this administration's node keys from a seq on: every node
    /// refuses its entries from that seq (earlier ones stay).
    Revoke {
        /// The node key (hex).
        #[arg(long)]
        key: String,
        #[arg(long)]
        from_seq: u64,
        #[arg(long)]
        reason: String,
        /// The administration key (default: DIR/admin.key).
        #[arg(long)]
        admin_key: Option<PathBuf>,
        #[command(flatten)]
        api: ApiArgs,
    },
    /// Publish the certificate of another node of this administration (its
    /// DIR/certificate.toml) so that the network admits that node.
    Certify {
        certificate: PathBuf,
        #[command(flatten)]
        api: ApiArgs,
    },
}

fn main() -> std::process::ExitCode {
    files::make_private_by_default();
    let cli = Cli::parse();
    match dispatch(cli.command, cli.json) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            // One clear line (with its causes), never a backtrace.
            eprintln!("error: {error:#}");
            std::process::ExitCode::from(exit_of(&error) as u8)
        }
    }
}

/// The exit status of a failed command (see [`Exit`]).
fn exit_of(error: &anyhow::Error) -> Exit {
    for cause in error.chain() {
        if let Some(error) = cause.downcast_ref::<CliError>() {
            return error.exit();
        }
        if let Some(error) = cause.downcast_ref::<ConfigError>() {
            return match error {
                ConfigError::Read { source, .. }
                    if source.kind() == std::io::ErrorKind::NotFound =>
                {
                    Exit::Usage
                }
                _ => Exit::Invalid,
            };
        }
        if let Some(error) = cause.downcast_ref::<bundle::BundleError>() {
            use bundle::BundleError as B;
            return match error {
                B::NotABundle(_)
                | B::Version(_)
                | B::OtherNetwork { .. }
                | B::Truncated { .. }
                | B::Refused { .. }
                | B::Checksum => Exit::Invalid,
                B::Exists(_) => Exit::Conflict,
                _ => Exit::Failure,
            };
        }
        if let Some(StoreError::InUse { .. }) = cause.downcast_ref::<StoreError>() {
            return Exit::Conflict;
        }
    }
    Exit::Failure
}

fn dispatch(command: Command, json: bool) -> anyhow::Result<()> {
    match command {
        Command::Init {
            dir,
            code,
            name,
            found,
            quorum,
            join,
            bootstrap,
            admin_key,
            network,
            p2p_listen,
            api_listen,
            external_addresses,
            allow_publish_before_sync,
        } => {
            let node = NodeSection {
                code,
                name,
                network: network.clone().unwrap_or_default(),
                allow_publish_before_sync,
            };
            let p2p = P2pSection {
                listen: p2p_listen,
                external_addresses,
                bootstrap,
                ..P2pSection::default()
            };
            let how = match (found, join) {
                (Some(name), _) => Some(setup::Governed::Found {
                    name,
                    quorum: quorum.unwrap_or(Quorum::Majority),
                }),
                (None, Some(file)) => Some(setup::Governed::Join {
                    charter: Box::new(membership::parse_charter(&file, &cli::read_text(&file)?)?),
                }),
                (None, None) => None,
            };
            match how {
                Some(how) => init_governed(&dir, node, p2p, api_listen, how, admin_key, json),
                None => init(&dir, node, p2p, api_listen, json),
            }
        }
        Command::Charter {
            dir,
            action: Some(action),
        } => charter_action(&dir, action, json),
        Command::Charter { dir, action: None } => {
            let charter = membership::read_charter(&dir.join(membership::CHARTER_FILE))?;
            if json {
                print_json(
                    &serde_json::json!({"network": charter.network_id(), "charter": charter}),
                );
            } else {
                out!("{}", membership::charter_to_toml(&charter));
            }
            Ok(())
        }
        Command::Run { dir } => run(dir),
        Command::Member(MemberCommand::Export { dir })
            if dir.join(membership::CHARTER_FILE).exists() =>
        {
            let card = setup::own_join_card(&dir)?;
            if json {
                print_json(&card);
            } else {
                out!("{}", card.to_toml());
            }
            Ok(())
        }
        Command::Member(MemberCommand::Export { dir }) => {
            let card = setup::own_card(&dir)?;
            if json {
                print_json(&card);
            } else {
                out!("{}", card.to_toml());
            }
            Ok(())
        }
        Command::Member(MemberCommand::Add { dir, file }) => add_member(&dir, &file, json),
        Command::Member(command) => governance::member(command, json),
        Command::Key(
            command @ (KeyCommand::Rotate { .. }
            | KeyCommand::Revoke { .. }
            | KeyCommand::Certify { .. }),
        ) => governance::key(command, json),
        Command::Key(KeyCommand::Generate { out }) => {
            let key = generate_key()?;
            if cli::is_stdio(&out) {
                out!("{}", key.to_key_file());
            } else {
                write_key_file(&out, &key)?;
                show_line(
                    json,
                    serde_json::json!({"public_key": key.public_key()}),
                    || key.public_key().to_string(),
                );
            }
            Ok(())
        }
        Command::Key(KeyCommand::Public { file }) => {
            let key = read_key_file(&file).context("cannot load the identity")?;
            show_line(
                json,
                serde_json::json!({"public_key": key.public_key()}),
                || key.public_key().to_string(),
            );
            Ok(())
        }
        Command::Token(command) => token(command, json),
        Command::Demo { dir, keep } => demo(dir, keep),
        Command::Export {
            out,
            format: exchange_cli::ExportFormat::Bundle,
            api,
            ..
        } => export(&api, &out, json),
        Command::Export {
            out,
            format,
            formats,
            api,
        } => exchange_cli::export(format, &api, &out, &formats, json),
        Command::Draft(command) => exchange_cli::draft(command, json),
        Command::Import { dir, file, verify } => import(&dir, &file, verify, json),
        Command::Attachment(AttachmentCommand::Upload { file, api }) => {
            let uploaded = upload_attachment(&api.target()?, &file)?;
            show(json, &uploaded, |u| {
                outln!(
                    "{} ({}, {} bytes; {} bytes of image metadata removed)",
                    u.hash,
                    u.media_type,
                    u.size,
                    u.metadata_removed_bytes
                )
            });
            Ok(())
        }
        Command::Attachment(AttachmentCommand::Get { hash, out, api }) => {
            let mut file = std::fs::File::create(&out)
                .with_context(|| format!("creating {}", out.display()))?;
            let written = api
                .target()?
                .client()
                .download(&format!("/api/v1/attachments/{hash}"), &mut file)
                .map_err(cli::CliError::from)?;
            show_line(
                json,
                serde_json::json!({"hash": hash, "bytes": written, "out": out}),
                || format!("wrote {written} bytes to {}", out.display()),
            );
            Ok(())
        }
        Command::Alert(AlertCommand::Publish {
            file,
            idempotency_key,
            need_to_know,
            api,
        }) => {
            let published = publish_file(
                &api,
                "/api/v1/alerts",
                &file,
                &need_to_know,
                idempotency_key,
            )?;
            show(json, &published, |p| cli::print_published("alert", p));
            Ok(())
        }
        Command::Alert(AlertCommand::Outbound { limit, cursor, api }) => {
            let mut query = vec![("limit", limit.to_string())];
            query.extend(cursor.map(|c| ("cursor", c)));
            let list: OutboundAlertList = api
                .target()?
                .get(&format!("/api/v1/alerts/outbound?{}", encode_query(&query)))?;
            show(json, &list, |list| {
                cli::print_alerts(&list.items, list.next.as_deref());
                outln!(
                    "{} withheld on this page: their markings or distribution keep them inside the network",
                    list.withheld
                );
            });
            Ok(())
        }
        Command::Group(command) => group(command, json),
        Command::Request(command) => loop_cli::request(command, json),
        Command::Result(command) => loop_cli::result(command, json),
        Command::Watch(command) => loop_cli::watch(command, json),
        Command::Webhook(command) => loop_cli::webhook(command, json),
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
            show(json, &list, |list| {
                cli::print_alerts(&list.items, list.next.as_deref())
            });
            Ok(())
        }
        Command::Alert(AlertCommand::Show { id, api }) => {
            let entry: EntryAnswer = api
                .target()?
                .get(&format!("/api/v1/entries/{}", encode(&id)))?;
            show(json, &entry, cli::print_entry_answer);
            Ok(())
        }
        Command::Alert(AlertCommand::Template) => {
            print_json(&cli::alert_template(now_ms()));
            Ok(())
        }
        Command::Aeo(AeoCommand::Publish {
            file,
            idempotency_key,
            need_to_know,
            api,
        }) => {
            let published =
                publish_file(&api, "/api/v1/aeo", &file, &need_to_know, idempotency_key)?;
            show(json, &published, |p| cli::print_published("AEO record", p));
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
            show(json, &view, cli::print_aeo);
            Ok(())
        }
        Command::Aeo(AeoCommand::Template) => {
            print_json(&cli::aeo_template(now_ms()));
            Ok(())
        }
        Command::Retract {
            id,
            reason,
            note,
            idempotency_key,
            api,
        } => {
            let target = api.target()?;
            // A prefix (as the tables show ids) names the entry the node finds for it.
            let entry: EntryView = target.get(&format!("/api/v1/entries/{}", encode(&id)))?;
            let body = serde_json::json!({"target": entry.meta.id, "reason": reason, "note": note});
            let published: Published =
                target.publish("/api/v1/retractions", &body, idempotency_key)?;
            show(json, &published, |p| cli::print_published("retraction", p));
            Ok(())
        }
        Command::Status {
            watch,
            wait_sync,
            timeout_s,
            check,
            max_down_s,
            api,
        } => {
            let target = api.target()?;
            let status: StatusView = if wait_sync {
                cli::wait_for_sync(&target, Duration::from_secs(timeout_s))?
            } else {
                target.get("/api/v1/status")?
            };
            if watch {
                let mut status = status;
                loop {
                    if !json {
                        out!("\x1b[H\x1b[2J"); // clear the screen
                    }
                    show(json, &status, cli::print_status);
                    std::thread::sleep(cli::POLL_INTERVAL);
                    status = target.get("/api/v1/status")?;
                }
            }
            show(json, &status, cli::print_status);
            if check {
                let problems = cli::status_problems(&status, max_down_s * 1000, now_ms());
                if !problems.is_empty() {
                    return Err(CliError::Unhealthy(problems.join("; ")).into());
                }
            }
            Ok(())
        }
        Command::Peers { api } => {
            let status: StatusView = api.target()?.get("/api/v1/status")?;
            show(json, &status.peers, |_| cli::print_peers(&status));
            Ok(())
        }
        Command::Forks { api } => {
            let forks: ForkList = api.target()?.get("/api/v1/forks")?;
            show(json, &forks, cli::print_forks);
            if !forks.forks.is_empty() {
                return Err(CliError::Unhealthy(format!(
                    "{} fork proof(s) held",
                    forks.forks.len()
                ))
                .into());
            }
            Ok(())
        }
    }
}

/// Prints `value` as JSON with `--json`, else the readable form.
fn show<T: serde::Serialize>(json: bool, value: &T, readable: impl FnOnce(&T)) {
    if json {
        print_json(value);
    } else {
        readable(value);
    }
}

/// Prints `value` as JSON with `--json`, else the line `text` makes.
fn show_line(json: bool, value: serde_json::Value, text: impl FnOnce() -> String) {
    if json {
        print_json(&value);
    } else {
        outln!("{}", text());
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

fn token(command: TokenCommand, json: bool) -> anyhow::Result<()> {
    match command {
        TokenCommand::Create {
            dir,
            role,
            name,
            out,
            url,
            token: admin,
        } => {
            let role: Role = role.parse().map_err(|e: String| CliError::Usage(e))?;
            node_dir(&dir)?;
            let path = dir.join(TOKENS_FILE);
            // Refuse an --out that exists before any token is made.
            if let Some(out) = out.as_ref().filter(|o| o.exists() && !cli::is_stdio(o)) {
                return Err(CliError::Usage(format!(
                    "{} exists already; a token file is never overwritten",
                    out.display()
                ))
                .into());
            }
            let token = tokens::create(&path, &name, role, now_ms())?;
            match out.as_ref().filter(|o| !cli::is_stdio(o)) {
                Some(out) => {
                    setup::write_token_file(out, &token)?;
                    eprintln!("token {name:?} ({role}) written to {}", out.display());
                }
                None => {
                    eprintln!("token {name:?} ({role}); it is shown only now:");
                    show_line(
                        json,
                        serde_json::json!({"name": name, "role": role, "token": token}),
                        || token.clone(),
                    );
                }
            }
            cli::confirm_tokens(&dir, url, admin, &path, None)?;
        }
        TokenCommand::List { dir } => {
            node_dir(&dir)?;
            let records = tokens::list(&dir.join(TOKENS_FILE))?;
            if json {
                print_json(&records);
                return Ok(());
            }
            let mut rows = vec![vec!["NAME".into(), "ROLE".into(), "CREATED".into()]];
            for record in records {
                rows.push(vec![
                    record.name,
                    record.role.to_string(),
                    customs_node::clock::rfc3339(record.created_at_ms),
                ]);
            }
            out!("{}", cli::table(&rows));
        }
        TokenCommand::Revoke {
            dir,
            name,
            force,
            url,
            token: admin,
        } => {
            node_dir(&dir)?;
            let path = dir.join(TOKENS_FILE);
            let own = std::fs::read_to_string(dir.join(TOKEN_FILE))
                .ok()
                .is_some_and(|t| {
                    tokens::named(&path, t.trim()).ok().flatten().as_deref() == Some(name.as_str())
                });
            if own && !force {
                return Err(CliError::Usage(format!(
                    "token {name:?} is the one the CLI uses ({}): revoking it locks every CLI command out. Make the CLI another admin token first (`customs-node token create --dir {dir} --role admin --name cli-2 --out {dir}/api-token.new`, then move it over {dir}/api-token), or pass --force",
                    dir.join(TOKEN_FILE).display(),
                    dir = dir.display()
                ))
                .into());
            }
            tokens::revoke(&path, &name)?;
            let confirmed =
                cli::confirm_tokens(&dir, url, admin, &path, own.then_some(name.as_str()))?;
            show_line(
                json,
                serde_json::json!({"revoked": name, "confirmed_by_node": confirmed}),
                || format!("revoked token {name:?}"),
            );
            if own {
                eprintln!(
                    "the CLI's own token is revoked: give it a new one with `customs-node token create --dir {dir} --role admin --name cli --out FILE` and move FILE over {}",
                    dir.join(TOKEN_FILE).display(),
                    dir = dir.display()
                );
            }
        }
    }
    Ok(())
}

fn group(command: GroupCommand, json: bool) -> anyhow::Result<()> {
    match command {
        GroupCommand::Create {
            name,
            purpose,
            members,
            starts,
            ends,
            api,
        } => {
            let mut body = serde_json::json!({
                "name": name,
                "purpose": purpose,
                "members": members,
                "ends_on": ends,
            });
            if let Some(starts) = starts {
                body["starts_on"] = starts.into();
            }
            let changed: GroupChanged = api.target()?.post("/api/v1/groups", &body)?;
            show(json, &changed, cli::print_group_changed);
        }
        GroupCommand::List { api } => {
            let list: GroupList = api.target()?.get("/api/v1/groups")?;
            show(json, &list, cli::print_groups);
        }
        GroupCommand::Add { id, code, api } => {
            let changed: GroupChanged = api.target()?.post(
                &format!("/api/v1/groups/{}/members", encode(&id)),
                &serde_json::json!({ "code": code }),
            )?;
            show(json, &changed, cli::print_group_changed);
        }
        GroupCommand::Remove { id, code, api } => {
            let changed: GroupChanged = api.target()?.delete(&format!(
                "/api/v1/groups/{}/members/{}",
                encode(&id),
                encode(&code)
            ))?;
            show(json, &changed, cli::print_group_changed);
        }
    }
    Ok(())
}

fn export(api: &ApiArgs, out: &Path, json: bool) -> anyhow::Result<()> {
    let params = NodeParams::load(&api.dir)?;
    let to_stdout = cli::is_stdio(out);
    let count = match Store::open(params.store) {
        Ok(store) if to_stdout => bundle::write_bundle(&store, std::io::stdout().lock())?,
        Ok(store) => bundle::export(&store, out)?,
        // The node runs: ask it (an admin token, DIR/api-token).
        Err(StoreError::InUse { .. }) => {
            let target = api.target()?;
            if to_stdout {
                target.download_to("/api/v1/export", &mut std::io::stdout().lock())?;
                return Ok(());
            }
            target.download("/api/v1/export", out)?;
            let mut file = std::fs::File::open(out)
                .with_context(|| format!("cannot read {}", out.display()))?;
            bundle::read_header(&mut file, out)?.1
        }
        Err(error) => return Err(error.into()),
    };
    if to_stdout {
        eprintln!("exported {count} entries");
    } else {
        show_line(
            json,
            serde_json::json!({"entries": count, "file": out}),
            || format!("exported {count} entries to {}", out.display()),
        );
    }
    Ok(())
}

fn import(dir: &Path, file: &Path, verify_only: bool, json: bool) -> anyhow::Result<()> {
    let params = NodeParams::load(dir)?;
    let admission = Admission::of(&params.network);
    // A bundle is read twice (checked whole, then stored): standard input is kept in a
    // private file in the node directory meanwhile.
    let spooled;
    let file = if cli::is_stdio(file) {
        spooled = bundle::spool_stdin(dir)?;
        spooled.path()
    } else {
        file
    };
    // A governed network's entries are admitted by the membership that the store's
    // governance entries and the bundle's make together; `--verify` reads the store
    // too, so that it refuses exactly what the import would. Only while the node runs
    // (the store in use) does it check against the bundle's governance alone.
    let store = match Store::open(params.store.clone()) {
        Ok(store) => Some(store),
        Err(error) if verify_only => {
            eprintln!(
                "note: the store cannot be read ({error}); checking against the governance entries the bundle carries only. Stop the node to check exactly as `import` will."
            );
            None
        }
        Err(error) => return Err(error.into()),
    };
    if let Some(charter) = params.membership.charter() {
        let mut events = bundle::governance_events(file, &admission.network)?;
        if let Some(store) = &store {
            events.extend(store.governance_events()?);
        }
        admission
            .membership
            .set(customs_protocol::Membership::replay(charter, &events));
    }
    let interactive = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let mut last_tenth = (bundle::Pass::Checking, 0);
    let mut progress = |pass: bundle::Pass, done: u64, total: u64| {
        let verb = match pass {
            bundle::Pass::Checking => "checking",
            bundle::Pass::Storing => "importing",
        };
        let percent = done * 100 / total.max(1);
        if interactive {
            eprint!("\r{verb} {done} / {total} entries ({percent}%)\x1b[K");
        } else if (pass, percent / 10) != last_tenth || done == total {
            last_tenth = (pass, percent / 10);
            eprintln!("{verb} {done} / {total} entries ({percent}%)");
        }
    };
    if verify_only {
        let count = bundle::verify(&admission, file, |done, total| {
            progress(bundle::Pass::Checking, done, total)
        });
        if interactive {
            eprintln!();
        }
        let count = count?;
        show_line(
            json,
            serde_json::json!({"entries": count, "valid": true}),
            || {
                format!(
                    "{} is a valid bundle of {count} entries of network {}",
                    file.display(),
                    admission.network
                )
            },
        );
        return Ok(());
    }
    let store = store.context("the store is open")?;
    let report = bundle::import(&store, &admission, file, &mut progress);
    if interactive {
        eprintln!();
    }
    let report = report?;
    if json {
        print_json(&serde_json::json!({
            "entries": report.count,
            "applied": report.applied,
            "duplicates": report.duplicates,
            "pending": report.pending,
            "backdated": report.backdated,
        }));
        return Ok(());
    }
    outln!(
        "imported {} new entries ({} of {} held already)",
        report.applied,
        report.duplicates,
        report.count
    );
    if report.pending > 0 {
        outln!(
            "{} entries wait for earlier entries the bundle lacks; the next sync with a member fetches them",
            report.pending
        );
    }
    if report.backdated > 0 {
        outln!(
            "{} entries refused: dated before the entry they follow in their author's chain (members refuse them too)",
            report.backdated
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
        outln!(
            "demo network {} in {}: {} members on 127.0.0.1",
            demo::DEMO_NETWORK,
            base.display(),
            nodes.len()
        );
        for member in &nodes {
            outln!(
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
        outln!(
            "published {total} sample alerts and AEO records ({}); every node receives them all",
            published.join(", ")
        );
        outln!("open a console URL in a browser and sign in with its token; the CLI works too, e.g. `customs-node alert list --dir {}`", dirs[0].display());
        outln!("Ctrl-C stops the demo{}", if temporary && !keep { " and removes its directory" } else { "" });
        shutdown.await;
        demo::stop(nodes).await?;
        anyhow::Ok(())
    });
    if temporary && !keep {
        let _ = std::fs::remove_dir_all(&base);
    } else {
        outln!(
            "the node directories are kept in {}; run one with `customs-node run --dir {}/nl`",
            base.display(),
            base.display()
        );
    }
    result
}

/// Refuses a directory that is not a node directory.
fn node_dir(dir: &Path) -> Result<(), CliError> {
    if !dir.join(CONFIG_FILE).exists() {
        return Err(CliError::Usage(format!(
            "{} is not a node directory (no {CONFIG_FILE}; see `customs-node init`)",
            dir.display()
        )));
    }
    Ok(())
}

fn init(
    dir: &Path,
    node: NodeSection,
    p2p: P2pSection,
    api_listen: String,
    json: bool,
) -> anyhow::Result<()> {
    let config = new_config(node, p2p, api_listen);
    let key = setup::init_node_dir(dir, &config)?;
    if json {
        print_json(&serde_json::json!({
            "dir": dir,
            "code": config.node.code,
            "network": config.node.network,
            "public_key": key,
        }));
        return Ok(());
    }
    outln!(
        "initialised {} as member {} of network {}",
        dir.display(),
        config.node.code,
        config.node.network
    );
    outln!("public key {key}");
    outln!(
        "next: give `customs-node member export --dir {}` to the other members",
        dir.display()
    );
    Ok(())
}

fn charter_action(dir: &Path, action: CharterAction, json: bool) -> anyhow::Result<()> {
    match action {
        CharterAction::Convert { quorum } => {
            let charter = setup::conversion_charter(dir, quorum.unwrap_or(Quorum::Majority))?;
            if json {
                print_json(
                    &serde_json::json!({"network": charter.network_id(), "charter": charter}),
                );
            } else {
                out!("{}", membership::charter_to_toml(&charter));
            }
            Ok(())
        }
        CharterAction::Adopt { file, url, token } => {
            let charter = membership::parse_charter(&file, &cli::read_text(&file)?)?;
            setup::check_conversion(dir, &charter)?;
            let running = url.is_some() || dir.join(customs_node::node::API_URL_FILE).exists();
            let adopted_live = if running {
                let target = Target::resolve(dir, url, token)?;
                match target
                    .post::<serde_json::Value>("/api/v1/charter", &serde_json::to_value(&charter)?)
                {
                    Ok(_) => true,
                    // A stale api.url: the node is not running; adopt on disk.
                    Err(CliError::Unreachable { .. }) => false,
                    Err(error) => return Err(error.into()),
                }
            } else {
                false
            };
            if !adopted_live {
                customs_node::config::write_atomically(
                    &dir.join(membership::CHARTER_FILE),
                    &membership::charter_to_toml(&charter),
                )?;
            }
            audit::append(
                dir,
                &audit::Event::new("charter_adopt", "cli", "ok").with_detail(charter.network_id()),
            );
            show_line(
                json,
                serde_json::json!({"network": charter.network_id(), "live": adopted_live}),
                || {
                    if adopted_live {
                        format!("network {} is governed by its charter now (the node restarted in-process)", charter.network_id())
                    } else {
                        format!(
                            "network {} is governed by its charter from the node's next start",
                            charter.network_id()
                        )
                    }
                },
            );
            Ok(())
        }
    }
}

/// The configuration `init` writes: the given sections, every other value its default.
fn new_config(node: NodeSection, p2p: P2pSection, api_listen: String) -> NodeConfig {
    NodeConfig {
        node,
        p2p,
        api: ApiSection {
            listen: api_listen,
            ..ApiSection::default()
        },
        store: StoreSection::default(),
        audit: AuditSection::default(),
        notify: Default::default(),
    }
}

fn parse_quorum(text: &str) -> Result<Quorum, String> {
    match text {
        "majority" => Ok(Quorum::Majority),
        "two-thirds" => Ok(Quorum::TwoThirds),
        _ => Err(format!(
            "{text:?}: the quorum is `majority` or `two-thirds`"
        )),
    }
}

fn init_governed(
    dir: &Path,
    node: NodeSection,
    p2p: P2pSection,
    api_listen: String,
    how: setup::Governed,
    admin_key: Option<PathBuf>,
    json: bool,
) -> anyhow::Result<()> {
    let founding = matches!(how, setup::Governed::Found { .. });
    let admin = match &admin_key {
        Some(path) => Some(read_key_file(path).context("cannot load the administration key")?),
        None => None,
    };
    let config = new_config(node, p2p, api_listen);
    let made = setup::init_governed_dir(dir, &config, how, admin)?;
    if json {
        print_json(&serde_json::json!({
            "dir": dir,
            "code": config.node.code,
            "network": made.network,
            "admin_key": made.admin_key,
            "node_key": made.node_key,
        }));
        return Ok(());
    }
    let d = dir.display();
    if founding {
        outln!(
            "founded network {} with {} as its first member",
            made.network,
            config.node.code
        );
    } else {
        outln!(
            "initialised {d} to join network {} as {}",
            made.network,
            config.node.code
        );
    }
    outln!(
        "administration key {} (in {d}/{}: move it offline, see the README)",
        made.admin_key,
        membership::ADMIN_KEY_FILE
    );
    outln!("node key {}", made.node_key);
    if founding {
        outln!("next: `customs-node run --dir {d}`, then hand `customs-node charter --dir {d}` and this node's address to joining administrations");
    } else if admin_key.is_some() {
        outln!("next: on a running node of this administration, `customs-node key certify --dir NODE_DIR {d}/{}`; then `customs-node run --dir {d}`", membership::CERTIFICATE_FILE);
    } else {
        outln!("next: `customs-node run --dir {d}`, and give `customs-node member export --dir {d}` to a member, who proposes it");
    }
    Ok(())
}

fn add_member(dir: &Path, file: &Path, json: bool) -> anyhow::Result<()> {
    setup::check_static(dir)?;
    let text = cli::read_text(file)?;
    let card = MemberCard::parse(file, &text)?;
    let code = card.code.clone();
    let key = card.public_key;
    setup::admit_member(dir, card)?;
    audit::append(
        dir,
        &audit::Event::new("member_add", "cli", "ok").with_detail(format!("{code} {key}")),
    );
    show_line(
        json,
        serde_json::json!({"admitted": code, "public_key": key}),
        || format!("admitted member {code} (key {key}); a running node picks it up when restarted"),
    );
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
