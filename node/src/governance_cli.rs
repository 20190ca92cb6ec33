//! The governance commands of the binary: proposals, approvals, removals, the member
//! list, and the administration key's acts (rotate, revoke, certify). Each talks to
//! the running node's API, which signs the governance entry; statements of the
//! administration key are signed here, where the key is, and never sent.

use std::path::{Path, PathBuf};

use anyhow::Context;
use customs_node::api::views::{GovernancePublished, MembersView, ProposalsView};
use customs_node::cli::{self, print_json, CliError, Target};
use customs_node::clock::now_ms;
use customs_node::config::NodeConfig;
use customs_node::identity::{generate_key, read_key_file, write_key_file};
use customs_node::membership::{self, JoinCard, ADMIN_KEY_FILE, NEXT_KEY_FILE};
use customs_node::{out, outln};
use customs_protocol::governance::{Certificate, KeyRevocation, NodeCertificate, Revocation};
use customs_protocol::PublicKey;

use super::{show, show_line, ApiArgs, KeyCommand, MemberCommand};

pub fn member(command: MemberCommand, json: bool) -> anyhow::Result<()> {
    match command {
        MemberCommand::Propose { card, api } => {
            let text = cli::read_text(&card)?;
            let card = JoinCard::parse(&card, &text)?;
            let target = api.target()?;
            let network = NodeConfig::load(&api.dir).map(|c| c.node.network).ok();
            if let Some(network) = network.filter(|n| *n != card.network) {
                return Err(CliError::Usage(format!(
                    "the card is for network {:?}, but this node is in network {network:?}",
                    card.network
                ))
                .into());
            }
            let body = serde_json::json!({
                "action": "propose_admission",
                "card": card.card,
                "nodes": card.nodes,
            });
            let published: GovernancePublished = target.post("/api/v1/proposals", &body)?;
            show_line(
                json,
                serde_json::json!({"proposal": published.proposal}),
                || {
                    format!(
                    "proposed to admit {}: proposal {}\nthe other members approve it with `customs-node member approve --dir DIR {}`",
                    card.card.code, published.proposal, published.proposal
                )
                },
            );
            Ok(())
        }
        MemberCommand::Remove { code, reason, api } => {
            let body =
                serde_json::json!({"action": "propose_removal", "code": code, "reason": reason});
            let published: GovernancePublished = api.target()?.post("/api/v1/proposals", &body)?;
            show_line(
                json,
                serde_json::json!({"proposal": published.proposal}),
                || format!("proposed to remove {code}: proposal {}", published.proposal),
            );
            Ok(())
        }
        MemberCommand::Approve { proposal, api } => {
            let published: GovernancePublished = api.target()?.post(
                &format!("/api/v1/proposals/{}/approvals", super::encode(&proposal)),
                &serde_json::json!({}),
            )?;
            show_line(
                json,
                serde_json::json!({"proposal": proposal, "approval": published.id}),
                || format!("approved proposal {proposal} (entry {})", published.id),
            );
            Ok(())
        }
        MemberCommand::List { api } => {
            let target = api.target()?;
            let members: MembersView = target.get("/api/v1/members")?;
            if json {
                print_json(&members);
                return Ok(());
            }
            let proposals: ProposalsView = target.get("/api/v1/proposals")?;
            out!("{}", cli::members_table(&members));
            let pending: Vec<_> = proposals
                .proposals
                .iter()
                .filter(|p| p.status == "pending")
                .collect();
            if !pending.is_empty() {
                outln!();
                outln!("pending proposals ({} approvals decide):", proposals.needed);
                for p in pending {
                    outln!(
                        "  {}  {} {} by {}, approved by {} ({}/{})",
                        p.id,
                        p.action,
                        p.subject,
                        p.proposer,
                        p.approvals.join(", "),
                        p.approvals.len(),
                        p.needed
                    );
                }
            }
            Ok(())
        }
        MemberCommand::Proposals { api } => {
            let proposals: ProposalsView = api.target()?.get("/api/v1/proposals")?;
            show(json, &proposals, |p| out!("{}", cli::proposals_table(p)));
            Ok(())
        }
        MemberCommand::Export { .. } | MemberCommand::Add { .. } => unreachable!("handled by main"),
    }
}

fn admin_key_of(
    api: &ApiArgs,
    file: Option<PathBuf>,
) -> anyhow::Result<customs_protocol::SecretKey> {
    let path = file.unwrap_or_else(|| api.dir.join(ADMIN_KEY_FILE));
    read_key_file(&path).with_context(|| {
        format!(
            "cannot load the administration key {} (give --admin-key FILE where it is kept offline)",
            path.display()
        )
    })
}

/// This node's certificate (DIR/certificate.toml).
fn own_certificate(dir: &Path) -> anyhow::Result<Certificate> {
    let path = dir.join(membership::CERTIFICATE_FILE);
    let text = std::fs::read_to_string(&path).with_context(|| {
        format!(
            "cannot read {} (is this a node of a governed network?)",
            path.display()
        )
    })?;
    toml::from_str(&text).with_context(|| format!("{} is not a certificate", path.display()))
}

pub fn key(command: KeyCommand, json: bool) -> anyhow::Result<()> {
    match command {
        KeyCommand::Rotate { admin_key, api } => {
            let admin = admin_key_of(&api, admin_key)?;
            let old = own_certificate(&api.dir)?;
            if old.node.admin_key != admin.public_key() {
                anyhow::bail!(
                    "the administration key {} did not certify this node (its certificate names {})",
                    admin.public_key(),
                    old.node.admin_key
                );
            }
            let target: Target = api.target()?;
            let next_path = api.dir.join(NEXT_KEY_FILE);
            // A key left by an interrupted rotation is used again, not replaced.
            let next = match read_key_file(&next_path) {
                Ok(key) => key,
                Err(_) => {
                    let key = generate_key()?;
                    write_key_file(&next_path, &key)?;
                    key
                }
            };
            // A new encryption key too, so that a key stolen later opens nothing
            // sealed after the rotation.
            let next_encryption_path = api.dir.join(membership::NEXT_ENCRYPTION_KEY_FILE);
            let next_encryption = match membership::encryption_public(&next_encryption_path) {
                Ok(public) => public,
                Err(_) => customs_node::identity::generate_encryption_key(&next_encryption_path)?,
            };
            let certificate = Certificate::sign(
                NodeCertificate {
                    node_key: next.public_key(),
                    encryption_key: customs_protocol::governance::EncryptionKey(next_encryption),
                    issued_at_ms: now_ms(),
                    ..old.node.clone()
                },
                &admin,
            );
            let published: GovernancePublished = target.post(
                "/api/v1/keys/rotation",
                &serde_json::to_value(&certificate)?,
            )?;
            show_line(
                json,
                serde_json::json!({"old_key": old.node.node_key, "new_key": next.public_key(), "last_seq": published.seq, "entry": published.id}),
                || {
                    format!(
                    "rotated: key {} signs nothing after seq {}; the node carries on with key {}",
                    old.node.node_key,
                    published.seq,
                    next.public_key()
                )
                },
            );
            Ok(())
        }
        KeyCommand::Revoke {
            key,
            from_seq,
            reason,
            admin_key,
            api,
        } => {
            let node_key = PublicKey::from_hex(&key)
                .map_err(|e| CliError::Usage(format!("--key {key:?}: {e}")))?;
            if from_seq == 0 {
                return Err(CliError::Usage("--from-seq starts at 1".into()).into());
            }
            let admin = admin_key_of(&api, admin_key)?;
            let code = NodeConfig::load(&api.dir)?.node.code;
            let revocation = Revocation::sign(
                KeyRevocation {
                    code: code.clone(),
                    admin_key: admin.public_key(),
                    node_key,
                    from_seq,
                    reason: reason.clone(),
                    issued_at_ms: now_ms(),
                },
                &admin,
            );
            let published: GovernancePublished = api.target()?.post(
                "/api/v1/keys/revocations",
                &serde_json::to_value(&revocation)?,
            )?;
            show_line(
                json,
                serde_json::json!({"revoked": node_key, "from_seq": from_seq, "entry": published.id}),
                || {
                    format!("revoked {code}'s node key {node_key} from seq {from_seq}: every node refuses its entries from there (entry {})", published.id)
                },
            );
            Ok(())
        }
        KeyCommand::Certify { certificate, api } => {
            let text = cli::read_text(&certificate)?;
            let certificate: Certificate = toml::from_str(&text)
                .with_context(|| format!("{} is not a certificate", certificate.display()))?;
            let published: GovernancePublished = api.target()?.post(
                "/api/v1/keys/certificates",
                &serde_json::to_value(&certificate)?,
            )?;
            show_line(
                json,
                serde_json::json!({"certified": certificate.node.node_key, "entry": published.id}),
                || {
                    format!(
                        "certified node key {} of {}",
                        certificate.node.node_key, certificate.node.code
                    )
                },
            );
            Ok(())
        }
        KeyCommand::Generate { .. } | KeyCommand::Public { .. } => unreachable!("handled by main"),
    }
}
