//! The field's formats on the command line: `export --format stix|misp|cen` and the
//! draft alerts imported from STIX (`draft import|list|show|delete`). Each asks the
//! running node's API.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use clap::Subcommand;
use customs_node::api::formats::drafts::{Draft, DraftList, Imported};
use customs_node::api::formats::stix;
use customs_node::cli::{self, CliError, Target};
use customs_node::outln;
use serde_json::Value;

use super::{encode, encode_query, show, show_line, ApiArgs};

/// What `export --format` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ExportFormat {
    /// The node's own signed entries (a backup; `import` reads it).
    Bundle,
    /// A STIX 2.1 bundle of what may leave the network.
    Stix,
    /// A MISP feed directory: manifest.json and one EVENT_UUID.json per alert.
    Misp,
    /// A CEN-style reporting CSV of one area and year (--year, --area).
    Cen,
}

/// The options of the exports other than the bundle.
#[derive(Debug, clap::Args)]
pub struct FormatArgs {
    /// Only records this node stored since (stix): YYYY-MM-DD or an RFC 3339 UTC time.
    #[arg(long)]
    pub since: Option<String>,
    /// The year of detection (cen).
    #[arg(long)]
    pub year: Option<u16>,
    /// The commodity area (cen): drugs, revenue, environment, ipr, security,
    /// cultural_heritage, currency or other.
    #[arg(long)]
    pub area: Option<String>,
    /// The reporting member (cen; default: this node's administration).
    #[arg(long)]
    pub member: Option<String>,
}

/// A STIX bundle of every record that may leave, from as many pages as the node
/// sends (each object once), written to `out`.
fn export_stix(
    target: &Target,
    since: Option<&str>,
    out: &mut impl std::io::Write,
) -> anyhow::Result<usize> {
    let client = target.client();
    let mut objects: Vec<Value> = Vec::new();
    let mut bundle_id = None;
    let mut after: Option<String> = None;
    loop {
        let mut query = Vec::new();
        query.extend(since.map(|s| ("since", s.to_string())));
        query.extend(after.clone().map(|a| ("after", a)));
        let reply = client
            .send(
                "GET",
                &format!("/api/v1/export/stix?{}", encode_query(&query)),
                None,
            )?
            .into_ok()
            .map_err(CliError::from)?;
        after = reply.header("x-next-after").map(String::from);
        let mut page: Value =
            serde_json::from_slice(&reply.bytes).context("the node's bundle is not JSON")?;
        bundle_id.get_or_insert_with(|| page["id"].clone());
        if let Value::Array(page_objects) = &mut page["objects"] {
            objects.append(page_objects);
        }
        if after.is_none() {
            break;
        }
    }
    // The objects records share (author, places, markings) come with every page.
    let objects = stix::dedup(objects);
    let count = objects.len();
    let bundle = serde_json::json!({"type": "bundle", "id": bundle_id, "objects": objects});
    serde_json::to_writer_pretty(&mut *out, &bundle)?;
    out.write_all(b"\n")?;
    Ok(count)
}

/// A MISP feed directory that any web server can serve: manifest.json and the events.
fn export_misp(target: &Target, dir: &Path) -> anyhow::Result<usize> {
    let manifest: serde_json::Map<String, Value> = target.get("/misp-feed/manifest.json")?;
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    for uuid in manifest.keys() {
        let event: Value = target.get(&format!("/misp-feed/{}.json", encode(uuid)))?;
        write_new(
            &dir.join(format!("{uuid}.json")),
            &serde_json::to_vec_pretty(&event)?,
        )?;
    }
    // The manifest last: a feed directory with a manifest is complete.
    write_new(
        &dir.join("manifest.json"),
        &serde_json::to_vec_pretty(&manifest)?,
    )?;
    Ok(manifest.len())
}

/// Writes a file whole (a temporary file renamed over it).
fn write_new(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let temporary = path.with_extension("partial");
    std::fs::write(&temporary, bytes)
        .with_context(|| format!("cannot write {}", temporary.display()))?;
    std::fs::rename(&temporary, path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

/// `export` in one of the field's formats.
pub fn export(
    format: ExportFormat,
    api: &ApiArgs,
    out: &Path,
    args: &FormatArgs,
    json: bool,
) -> anyhow::Result<()> {
    let target = api.target()?;
    let to_stdout = cli::is_stdio(out);
    let (count, what) = match format {
        ExportFormat::Bundle => {
            anyhow::bail!("the bundle export is `export --out FILE` without --format")
        }
        ExportFormat::Stix if to_stdout => (
            export_stix(
                &target,
                args.since.as_deref(),
                &mut std::io::stdout().lock(),
            )?,
            "STIX objects",
        ),
        ExportFormat::Stix => {
            let mut bytes = Vec::new();
            let count = export_stix(&target, args.since.as_deref(), &mut bytes)?;
            write_new(out, &bytes)?;
            (count, "STIX objects")
        }
        ExportFormat::Misp if to_stdout => {
            anyhow::bail!("a MISP feed is a directory: give --out DIR");
        }
        ExportFormat::Misp => (export_misp(&target, out)?, "MISP events"),
        ExportFormat::Cen => {
            let (Some(year), Some(area)) = (args.year, &args.area) else {
                anyhow::bail!("--format cen needs --year YYYY and --area AREA");
            };
            let mut query = vec![("year", year.to_string()), ("area", area.clone())];
            query.extend(args.member.clone().map(|m| ("member", m)));
            let path = format!("/api/v1/export/cen?{}", encode_query(&query));
            if to_stdout {
                target.download_to(&path, &mut std::io::stdout().lock())?;
                return Ok(());
            }
            target.download(&path, out)?;
            let lines = std::fs::read_to_string(out)?
                .lines()
                .count()
                .saturating_sub(1);
            (lines, "seizures")
        }
    };
    if to_stdout {
        eprintln!("exported {count} {what}");
    } else {
        show_line(
            json,
            serde_json::json!({"count": count, "file": out}),
            || format!("exported {count} {what} to {}", out.display()),
        );
    }
    Ok(())
}

#[derive(Debug, Subcommand)]
pub enum DraftCommand {
    /// Import a STIX 2.1 bundle's indicators (FILE; `-` for standard input) as draft
    /// alerts, for an officer to complete and publish.
    Import {
        file: PathBuf,
        #[command(flatten)]
        api: ApiArgs,
    },
    /// The drafts waiting on this node.
    List {
        #[command(flatten)]
        api: ApiArgs,
    },
    /// One draft: its alert fields as JSON (complete them, then `alert publish`).
    Show {
        id: u64,
        #[command(flatten)]
        api: ApiArgs,
    },
    /// Delete a draft.
    Delete {
        id: u64,
        #[command(flatten)]
        api: ApiArgs,
    },
}

fn print_draft_line(draft: &Draft) {
    let name = draft
        .source
        .name
        .as_deref()
        .unwrap_or(&draft.source.object_id);
    if draft.missing.is_empty() {
        outln!("{:>5}  {name}  (complete)", draft.id);
    } else {
        outln!(
            "{:>5}  {name}  (missing: {})",
            draft.id,
            draft.missing.join(", ")
        );
    }
}

pub fn draft(command: DraftCommand, json: bool) -> anyhow::Result<()> {
    match command {
        DraftCommand::Import { file, api } => {
            let bundle = cli::read_json_file(&file)?;
            let imported: Imported = api.target()?.post("/api/v1/import/stix", &bundle)?;
            show(json, &imported, |imported| {
                outln!("{} drafts", imported.drafts.len());
                imported.drafts.iter().for_each(print_draft_line);
                for skipped in &imported.skipped {
                    outln!("skipped {}: {}", skipped.object_id, skipped.reason);
                }
            });
        }
        DraftCommand::List { api } => {
            let list: DraftList = api.target()?.get("/api/v1/drafts")?;
            show(json, &list, |list| {
                list.items.iter().for_each(print_draft_line)
            });
        }
        DraftCommand::Show { id, api } => {
            let draft: Draft = api.target()?.get(&format!("/api/v1/drafts/{id}"))?;
            if json {
                cli::print_json(&draft);
            } else {
                outln!("{}", serde_json::to_string_pretty(&draft.alert)?);
                if !draft.missing.is_empty() {
                    eprintln!(
                        "missing before it can be published: {}",
                        draft.missing.join(", ")
                    );
                }
            }
        }
        DraftCommand::Delete { id, api } => {
            api.target()?
                .client()
                .send("DELETE", &format!("/api/v1/drafts/{id}"), None)?
                .into_ok()
                .map_err(CliError::from)?;
            show_line(json, serde_json::json!({"deleted": id}), || {
                format!("deleted draft {id}")
            });
        }
    }
    Ok(())
}
