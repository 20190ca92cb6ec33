//! The operational loop's commands of the binary: requests for control, results of
//! control, watch lists and webhooks. Each talks to the running node's API.

use std::path::PathBuf;

use clap::Subcommand;
use customs_node::api::views::{
    Deliveries, Matches, Published, RequestList, RequestView, WatchListSaved, WatchLists, Webhooks,
};
use customs_node::cli;
use customs_node::notify::Webhook;
use customs_node::outln;

use super::{encode, encode_query, publish_file, show, ApiArgs, NeedToKnowArgs};

#[derive(Debug, Subcommand)]
pub enum RequestCommand {
    /// Send the request for control in FILE (JSON; `-` for standard input). Sealed to
    /// its addressees unless --to, --group or the file's `distribution` say otherwise.
    Send {
        #[arg(long)]
        file: PathBuf,
        /// Send at most once under this key (default: a new one).
        #[arg(long)]
        idempotency_key: Option<String>,
        #[command(flatten)]
        need_to_know: NeedToKnowArgs,
        #[command(flatten)]
        api: ApiArgs,
    },
    /// List requests (newest first) with their state.
    List {
        /// inbound (addressed to this administration) or outbound (sent by it).
        #[arg(long)]
        direction: Option<String>,
        /// open, acknowledged, answered or overdue.
        #[arg(long)]
        state: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: usize,
        #[command(flatten)]
        api: ApiArgs,
    },
    /// Show one request with its acknowledgements and results.
    Show {
        id: String,
        #[command(flatten)]
        api: ApiArgs,
    },
    /// Acknowledge a request addressed to this administration.
    Ack {
        id: String,
        #[arg(long)]
        note: Option<String>,
        #[command(flatten)]
        api: ApiArgs,
    },
    /// Print an example request to edit.
    Template,
}

#[derive(Debug, Subcommand)]
pub enum ResultCommand {
    /// Report the result of a control in FILE (JSON; `-` for standard input): it
    /// answers the request or alert its `subject` names.
    Send {
        #[arg(long)]
        file: PathBuf,
        #[arg(long)]
        idempotency_key: Option<String>,
        #[command(flatten)]
        need_to_know: Box<NeedToKnowArgs>,
        #[command(flatten)]
        api: ApiArgs,
    },
    /// Print an example result to edit.
    Template,
}

#[derive(Debug, Subcommand)]
pub enum WatchCommand {
    /// Create a watch list (or replace one with --id); it hunts through what is
    /// already stored at once.
    Add {
        #[arg(long)]
        name: String,
        /// FIELD=VALUE, repeatable: container, vessel_imo, vehicle, operator_id,
        /// hs_prefix, unlocode, country or category.
        #[arg(long = "rule", required = true)]
        rules: Vec<String>,
        /// Replace this list.
        #[arg(long)]
        id: Option<String>,
        #[command(flatten)]
        api: ApiArgs,
    },
    /// The watch lists, with their number of matches.
    List {
        #[command(flatten)]
        api: ApiArgs,
    },
    /// The records that matched a list.
    Matches {
        id: String,
        #[arg(long, default_value_t = 100)]
        limit: usize,
        #[command(flatten)]
        api: ApiArgs,
    },
    /// Remove a watch list and its matches.
    Delete {
        id: String,
        #[command(flatten)]
        api: ApiArgs,
    },
}

#[derive(Debug, Subcommand)]
pub enum WebhookCommand {
    /// Register a webhook (admin token) that POSTs to TARGET_URL.
    Add {
        /// The http:// or https:// URL deliveries go to.
        target_url: String,
        /// A file holding the HMAC secret (16 to 256 bytes; a trailing newline is
        /// dropped), so that it stays out of the shell history.
        #[arg(long)]
        secret_file: PathBuf,
        /// match, request, result (comma-separated).
        #[arg(long, value_delimiter = ',', required = true)]
        events: Vec<String>,
        /// `withhold` (default: a restricted, TLP:RED or no_onward_sharing record is
        /// named, not delivered) or `deliver_all`.
        #[arg(long, default_value = "withhold")]
        markings: String,
        #[command(flatten)]
        api: ApiArgs,
    },
    /// The webhooks (their secrets are never shown).
    List {
        #[command(flatten)]
        api: ApiArgs,
    },
    /// A webhook's delivery log, newest first.
    Deliveries {
        id: String,
        #[arg(long, default_value_t = 100)]
        limit: usize,
        #[command(flatten)]
        api: ApiArgs,
    },
    /// Remove a webhook, its queued deliveries and its log.
    Delete {
        id: String,
        #[command(flatten)]
        api: ApiArgs,
    },
}

pub fn request(command: RequestCommand, json: bool) -> anyhow::Result<()> {
    match command {
        RequestCommand::Send {
            file,
            idempotency_key,
            need_to_know,
            api,
        } => {
            let published = publish_file(
                &api,
                "/api/v1/requests",
                &file,
                &need_to_know,
                idempotency_key,
            )?;
            show(json, &published, |p| cli::print_published("request", p));
        }
        RequestCommand::List {
            direction,
            state,
            limit,
            api,
        } => {
            let mut query = vec![("limit", limit.to_string())];
            query.extend(direction.map(|d| ("direction", d)));
            query.extend(state.map(|s| ("state", s)));
            let list: RequestList = api
                .target()?
                .get(&format!("/api/v1/requests?{}", encode_query(&query)))?;
            show(json, &list, |list| {
                for view in &list.items {
                    print_request_line(view);
                }
                let counts: Vec<String> = list
                    .counts
                    .iter()
                    .map(|(s, n)| format!("{s} {n}"))
                    .collect();
                outln!("{} listed ({})", list.items.len(), counts.join(", "));
            });
        }
        RequestCommand::Show { id, api } => {
            let view: RequestView = api
                .target()?
                .get(&format!("/api/v1/requests/{}", encode(&id)))?;
            show(json, &view, print_request);
        }
        RequestCommand::Ack { id, note, api } => {
            let mut body = serde_json::json!({});
            if let Some(note) = note {
                body["note"] = note.into();
            }
            let published: Published = api.target()?.publish(
                &format!("/api/v1/requests/{}/acknowledgement", encode(&id)),
                &body,
                None,
            )?;
            show(json, &published, |p| {
                cli::print_published("acknowledgement", p)
            });
        }
        RequestCommand::Template => cli::print_json(&customs_protocol::samples::control_request()),
    }
    Ok(())
}

pub fn result(command: ResultCommand, json: bool) -> anyhow::Result<()> {
    match command {
        ResultCommand::Send {
            file,
            idempotency_key,
            need_to_know,
            api,
        } => {
            let published = publish_file(
                &api,
                "/api/v1/results",
                &file,
                &need_to_know,
                idempotency_key,
            )?;
            show(json, &published, |p| cli::print_published("result", p));
        }
        ResultCommand::Template => cli::print_json(&customs_protocol::samples::control_result()),
    }
    Ok(())
}

pub fn watch(command: WatchCommand, json: bool) -> anyhow::Result<()> {
    match command {
        WatchCommand::Add {
            name,
            rules,
            id,
            api,
        } => {
            let rules = rules
                .iter()
                .map(|rule| {
                    let (field, value) = rule.split_once('=').ok_or_else(|| {
                        cli::CliError::Usage(format!("--rule {rule:?} must be FIELD=VALUE"))
                    })?;
                    Ok(serde_json::json!({"field": field.trim(), "value": value.trim()}))
                })
                .collect::<Result<Vec<_>, cli::CliError>>()?;
            let mut body = serde_json::json!({"name": name, "rules": rules});
            if let Some(id) = id {
                body["id"] = id.into();
            }
            let saved: WatchListSaved = api.target()?.post("/api/v1/watchlists", &body)?;
            show(json, &saved, |s| {
                outln!(
                    "watch list {} \"{}\" saved: {} rule(s); the hunt through stored records found {} new match(es)",
                    s.watchlist.id,
                    s.watchlist.name,
                    s.watchlist.rules.len(),
                    s.retro_matches
                )
            });
        }
        WatchCommand::List { api } => {
            let lists: WatchLists = api.target()?.get("/api/v1/watchlists")?;
            show(json, &lists, |lists| {
                for list in &lists.items {
                    let rules: Vec<String> = list
                        .rules
                        .iter()
                        .map(|r| {
                            let field = serde_json::to_value(r.field).unwrap_or_default();
                            format!("{}={}", field.as_str().unwrap_or("?"), r.value)
                        })
                        .collect();
                    outln!(
                        "{}  {}  {} match(es)  {}",
                        list.id,
                        list.name,
                        list.matches,
                        rules.join(" ")
                    );
                }
                if lists.items.is_empty() {
                    outln!("no watch lists");
                }
            });
        }
        WatchCommand::Matches { id, limit, api } => {
            let matches: Matches = api.target()?.get(&format!(
                "/api/v1/watchlists/{}/matches?limit={limit}",
                encode(&id)
            ))?;
            show(json, &matches, |m| {
                for found in &m.items {
                    outln!(
                        "{}  {} {} seq {}{}",
                        found.entry,
                        found.record.meta.author_code.as_deref().unwrap_or("?"),
                        found.record.kind.as_str(),
                        found.record.meta.seq,
                        if found.retro { "  (retro-hunt)" } else { "" }
                    );
                }
                outln!("{} match(es)", m.items.len());
            });
        }
        WatchCommand::Delete { id, api } => {
            api.target()?
                .remove(&format!("/api/v1/watchlists/{}", encode(&id)))?;
            show(json, &serde_json::json!({"deleted": id}), |_| {
                outln!("watch list {id} removed, with its matches")
            });
        }
    }
    Ok(())
}

pub fn webhook(command: WebhookCommand, json: bool) -> anyhow::Result<()> {
    match command {
        WebhookCommand::Add {
            target_url: url,
            secret_file,
            events,
            markings,
            api,
        } => {
            let secret = cli::read_text(&secret_file)?;
            let secret = secret.strip_suffix('\n').unwrap_or(&secret);
            let body = serde_json::json!({"url": url, "secret": secret, "events": events, "markings": markings});
            let webhook: Webhook = api.target()?.post("/api/v1/webhooks", &body)?;
            show(json, &webhook, |w| {
                outln!(
                    "webhook {} registered: {} for {}",
                    w.id,
                    w.url,
                    event_names(w)
                )
            });
        }
        WebhookCommand::List { api } => {
            let hooks: Webhooks = api.target()?.get("/api/v1/webhooks")?;
            show(json, &hooks, |hooks| {
                for w in &hooks.items {
                    outln!("{}  {}  {}", w.id, w.url, event_names(w));
                }
                if hooks.items.is_empty() {
                    outln!("no webhooks");
                }
            });
        }
        WebhookCommand::Deliveries { id, limit, api } => {
            let log: Deliveries = api.target()?.get(&format!(
                "/api/v1/webhooks/{}/deliveries?limit={limit}",
                encode(&id)
            ))?;
            show(json, &log, |log| {
                for d in &log.items {
                    outln!(
                        "{}  {}  {:?}  {} attempt(s){}",
                        d.id,
                        d.event.as_str(),
                        d.status,
                        d.attempts,
                        d.last_error
                            .as_deref()
                            .map(|e| format!("  last error: {e}"))
                            .unwrap_or_default()
                    );
                }
                outln!("{} deliveries", log.items.len());
            });
        }
        WebhookCommand::Delete { id, api } => {
            api.target()?
                .remove(&format!("/api/v1/webhooks/{}", encode(&id)))?;
            show(json, &serde_json::json!({"deleted": id}), |_| {
                outln!("webhook {id} removed, with its queued deliveries and its log")
            });
        }
    }
    Ok(())
}

fn event_names(webhook: &Webhook) -> String {
    let names: Vec<&str> = webhook.events.iter().map(|e| e.as_str()).collect();
    names.join(", ")
}

fn print_request_line(view: &RequestView) {
    let r = &view.request;
    outln!(
        "{}  {:<12}  {:<8}  {}  {} -> {}  {} {}",
        view.meta.id,
        view.state.as_str(),
        view.direction,
        r.reference,
        view.meta.author_code.as_deref().unwrap_or("?"),
        r.addressed_to.join(","),
        r.arrival.unlocode,
        r.arrival.eta
    );
}

fn print_request(view: &RequestView) {
    print_request_line(view);
    let r = &view.request;
    let action = serde_json::to_value(r.requested_action).unwrap_or_default();
    outln!(
        "  action {}  reason: {}",
        action.as_str().unwrap_or("?"),
        r.reason
    );
    outln!("  {}", cli::markings_line(&view.markings));
    for ack in &view.acknowledgements {
        outln!(
            "  acknowledged by {} at {}",
            ack.meta.author_code.as_deref().unwrap_or("?"),
            ack.meta.created_at
        );
    }
    for result in &view.results {
        outln!(
            "  result from {}: {}{}",
            result.meta.author_code.as_deref().unwrap_or("?"),
            result.body["outcome"].as_str().unwrap_or("?"),
            if result.counts {
                ""
            } else {
                " (not an addressee: not counted)"
            }
        );
    }
}
