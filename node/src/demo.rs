//! `customs-node demo`: three member nodes (NL, BE, DE) on 127.0.0.1, each a normal node
//! directory, admitted to one another, with a realistic set of clearly fictional alerts
//! and AEO records published from each.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use customs_protocol::codes::iso6346_check_digit;
use customs_protocol::{
    AeoRecord, Attachment, Body, Date, Distribution, Markings, MediaType, RiskAlert,
};
use serde_json::{json, Value};
use thiserror::Error;

use crate::clock::now_ms;
use crate::config::{ApiSection, NodeConfig, NodeSection, P2pSection, StoreSection, TOKEN_FILE};
use crate::node::{Node, NodeError, NodeParams};
use crate::setup::{admit_member, init_node_dir, own_card, SetupError};

/// The demo's members: code, name, directory name.
pub const DEMO_MEMBERS: [(&str, &str); 3] = [
    ("NL", "Netherlands Customs (demo)"),
    ("BE", "Belgian Customs (demo)"),
    ("DE", "German Customs (demo)"),
];
pub const DEMO_NETWORK: &str = "customs-demo";
/// How long a member may take to confirm another's (empty) log before it publishes.
pub const DEMO_SYNC_TIMEOUT: Duration = Duration::from_secs(60);
/// How often the demo looks whether a node may publish yet.
const DEMO_POLL_INTERVAL: Duration = Duration::from_millis(100);

#[derive(Debug, Error)]
pub enum DemoError {
    #[error(transparent)]
    Setup(#[from] SetupError),
    #[error(transparent)]
    Node(#[from] NodeError),
    #[error("no free port on 127.0.0.1: {0}")]
    Port(std::io::Error),
    #[error("a sample record is invalid (a bug in the demo): {0}")]
    Sample(String),
    #[error("node {0} did not sync with another member within {1:?}")]
    NotSynced(String, Duration),
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// A running demo member.
#[derive(Debug)]
pub struct DemoNode {
    pub code: String,
    pub dir: PathBuf,
    pub node: Node,
    /// The admin token of DIR/api-token.
    pub token: String,
    /// Sample records this member published.
    pub published: usize,
}

impl DemoNode {
    pub fn console_url(&self) -> String {
        format!("http://{}/", self.node.api_addr())
    }
}

fn free_port() -> Result<u16, DemoError> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(DemoError::Port)
}

/// Creates the three node directories under `base` (base/nl, base/be, base/de) and
/// admits every member to every other.
pub fn create(base: &Path) -> Result<Vec<PathBuf>, DemoError> {
    let mut dirs = Vec::new();
    for (i, (code, name)) in DEMO_MEMBERS.iter().enumerate() {
        let dir = base.join(code.to_lowercase());
        let config = NodeConfig {
            node: NodeSection {
                code: code.to_string(),
                name: name.to_string(),
                network: DEMO_NETWORK.into(),
                // The first node of a new network has nobody to confirm its log.
                allow_publish_before_sync: i == 0,
            },
            p2p: P2pSection {
                listen: format!("/ip4/127.0.0.1/tcp/{}", free_port()?),
                sync_interval_ms: 5_000,
                redial_interval_ms: 2_000,
                ..P2pSection::default()
            },
            api: ApiSection {
                // Port 0: the console's address is the one bound (a port picked here
                // could be taken by another process before the node binds it).
                listen: "127.0.0.1:0".into(),
                ..ApiSection::default()
            },
            store: StoreSection::default(),
            audit: Default::default(),
            notify: Default::default(),
        };
        init_node_dir(&dir, &config)?;
        dirs.push(dir);
    }
    for dir in &dirs {
        for other in dirs.iter().filter(|d| *d != dir) {
            admit_member(dir, own_card(other)?)?;
        }
    }
    Ok(dirs)
}

/// Starts the nodes in `dirs` and publishes the sample records from each (waiting,
/// for the members after the first, until another member has confirmed their log).
pub async fn start(dirs: &[PathBuf]) -> Result<Vec<DemoNode>, DemoError> {
    let mut nodes = Vec::new();
    for dir in dirs {
        let params = NodeParams::load(dir)?;
        let code = params.network.code.clone();
        let node = Node::start(params).await?;
        // As `run` does: the CLI finds the API (bound to port 0) through DIR/api.url.
        crate::config::write_atomically(
            &dir.join(crate::node::API_URL_FILE),
            &format!("http://{}\n", node.api_addr()),
        )
        .map_err(NodeError::from)?;
        let token_path = dir.join(TOKEN_FILE);
        let token = std::fs::read_to_string(&token_path)
            .map_err(|source| DemoError::Read {
                path: token_path,
                source,
            })?
            .trim()
            .to_string();
        nodes.push(DemoNode {
            code,
            dir: dir.clone(),
            node,
            token,
            published: 0,
        });
    }
    let nodes_first_code = nodes.first().map(|n| n.code.clone()).unwrap_or_default();
    for member in &mut nodes {
        let started = Instant::now();
        while !member
            .node
            .handle
            .publisher
            .can_publish()
            .map_err(NodeError::from)?
        {
            if started.elapsed() > DEMO_SYNC_TIMEOUT {
                return Err(DemoError::NotSynced(member.code.clone(), DEMO_SYNC_TIMEOUT));
            }
            tokio::time::sleep(DEMO_POLL_INTERVAL).await;
        }
        // The first member's first alert carries a photo: the console shows it, and
        // the others fetch it when someone opens it.
        let mut photo = match member.code == nodes_first_code {
            true => demo_photo(&member.node).await?,
            false => Vec::new(),
        };
        for body in samples(&member.code, now_ms())? {
            let publisher = &member.node.handle.publisher;
            let attachments = match body {
                Body::RiskAlert(_) => std::mem::take(&mut photo),
                _ => Vec::new(),
            };
            let draft = publisher
                .draft(body, Markings::default(), Distribution::All, attachments)
                .map_err(NodeError::from)?;
            publisher
                .publish_draft(draft, None)
                .await
                .map_err(NodeError::from)?;
            member.published += 1;
        }
    }
    Ok(nodes)
}

/// A sample photo of a concealment (fictional, like every demo record), uploaded as
/// an officer would: its metadata removed, kept as the node's own.
const DEMO_PHOTO: &[u8] = include_bytes!("demo-photo.jpg");

async fn demo_photo(node: &Node) -> Result<Vec<Attachment>, DemoError> {
    let blobs = node.handle.attachments.blobs().clone();
    let stored = tokio::task::spawn_blocking(move || {
        let uploaded = blobs.upload(MediaType::Jpeg, DEMO_PHOTO)?;
        blobs.adopt(&uploaded.hash)
    })
    .await
    .map_err(|e| DemoError::Sample(e.to_string()))?
    .map_err(|e| DemoError::Sample(e.to_string()))?;
    Ok(vec![Attachment {
        hash: stored.hash,
        size: stored.size,
        media_type: MediaType::Jpeg,
        caption: "Boxes opened after the X-ray (sample photo)".into(),
        sealed: None,
    }])
}

/// A container number with its ISO 6346 check digit.
fn container(owner_and_category: &str, serial: u32) -> String {
    let first_ten = format!("{owner_and_category}{serial:06}");
    let mut bytes = [0u8; 10];
    bytes.copy_from_slice(first_ten.as_bytes());
    format!("{first_ten}{}", iso6346_check_digit(&bytes))
}

/// An IMO ship number with its check digit.
fn imo(first_six: u32) -> String {
    let digits = format!("{first_six:06}");
    let sum: u32 = digits
        .bytes()
        .zip((2..=7).rev())
        .map(|(d, weight)| u32::from(d - b'0') * weight)
        .sum();
    format!("{digits}{}", sum % 10)
}

/// The date `days` before `now_ms`, as YYYY-MM-DD.
fn days_ago(now_ms: u64, days: u64) -> String {
    Date::from_unix_ms(now_ms.saturating_sub(days * 86_400_000)).to_string()
}

fn alert(value: Value) -> Result<Body, DemoError> {
    let alert: RiskAlert =
        serde_json::from_value(value).map_err(|e| DemoError::Sample(e.to_string()))?;
    alert
        .validate()
        .map_err(|e| DemoError::Sample(e.to_string()))?;
    Ok(Body::RiskAlert(alert))
}

fn aeo(value: Value) -> Result<Body, DemoError> {
    let record: AeoRecord =
        serde_json::from_value(value).map_err(|e| DemoError::Sample(e.to_string()))?;
    record
        .validate()
        .map_err(|e| DemoError::Sample(e.to_string()))?;
    Ok(Body::AeoRecord(record))
}

/// The records member `code` publishes: realistic goods, places, routes and valid
/// identifiers; every case and company is fictional.
pub fn samples(code: &str, now_ms: u64) -> Result<Vec<Body>, DemoError> {
    let day = |n| days_ago(now_ms, n);
    let until = |n: u64| Date::from_unix_ms(now_ms + n * 86_400_000).to_string();
    let year = &day(0)[..4];
    match code {
        "NL" => Ok(vec![
            alert(
                json!({"reference": format!("NL-{year}-000481"), "category": "drugs", "hs_code": "080390",
                "description": "Cocaine bricks hidden among banana boxes in a reefer container",
                "quantity": {"amount": "212.4", "unit": "KGM"}, "detected_on": day(6),
                "location": {"unlocode": "NLRTM", "place_type": "seaport"}, "detection_method": "xray",
                "concealment": "in_cargo", "conveyance": {"mode": "sea", "containers": [container("MSKU", 481_205)], "vessel_imo": imo(939_512)},
                "route": {"origin": "EC", "transit": ["PA"], "destination": "NL"},
                "indicators": ["reefer container", "consignee registered less than 3 months ago", "freight paid in cash"],
                "severity": "critical", "valid_until": until(180)}),
            )?,
            alert(
                json!({"reference": format!("NL-{year}-000502"), "category": "counterfeits", "hs_code": "640399",
                "description": "Counterfeit branded sports shoes declared as unbranded footwear",
                "quantity": {"amount": "3400", "unit": "PR"}, "detected_on": day(3),
                "location": {"unlocode": "NLRTM", "place_type": "seaport"}, "detection_method": "documentary_check",
                "concealment": "misdeclared", "conveyance": {"mode": "sea", "containers": [container("CMAU", 775_310), container("CMAU", 775_311)]},
                "route": {"origin": "CN", "destination": "NL"},
                "indicators": ["declared value far below market price", "trademark holder alert"],
                "severity": "medium", "valid_until": until(90)}),
            )?,
            alert(
                json!({"reference": format!("NL-{year}-000517"), "category": "currency", "hs_code": "490700",
                "description": "Undeclared euro banknotes in a false bottom of a suitcase",
                "quantity": {"amount": "184000", "unit": "C62"}, "detected_on": day(1),
                "location": {"unlocode": "NLAMS", "place_type": "airport"}, "detection_method": "canine",
                "concealment": "luggage", "conveyance": {"mode": "air", "flight": "KL592"},
                "route": {"origin": "NL", "destination": "ZA"},
                "indicators": ["one-way ticket bought the day before", "cash courier pattern"],
                "severity": "high"}),
            )?,
            aeo(
                json!({"operator_id": "NL800123456", "name": "Polder Forwarding B.V. (fictional)", "country": "NL",
                "programme": "aeo_f", "status": "granted", "effective_from": "2023-05-15",
                "mra_partners": ["US", "JP", "CN", "CH", "NO"]}),
            )?,
            aeo(
                json!({"operator_id": "NL800765432", "name": "Maasvlakte Reefer Logistics B.V. (fictional)", "country": "NL",
                "programme": "aeo_s", "status": "suspended", "effective_from": day(10),
                "reason": "open investigation into reefer container misuse"}),
            )?,
        ]),
        "BE" => Ok(vec![
            alert(
                json!({"reference": format!("BE-{year}-AN-0193"), "category": "drugs", "hs_code": "200990",
                "description": "Liquid cocaine dissolved in fruit juice concentrate drums",
                "quantity": {"amount": "860", "unit": "LTR"}, "detected_on": day(5),
                "location": {"unlocode": "BEANR", "place_type": "seaport"}, "detection_method": "risk_profiling",
                "concealment": "in_cargo", "conveyance": {"mode": "sea", "containers": [container("HLXU", 310_094)], "vessel_imo": imo(948_133)},
                "route": {"origin": "CO", "transit": ["PA"], "destination": "BE"},
                "indicators": ["juice concentrate from a new supplier", "same consignee as an earlier seizure in Rotterdam"],
                "severity": "critical", "valid_until": until(180)}),
            )?,
            alert(
                json!({"reference": format!("BE-{year}-ZE-0044"), "category": "tobacco", "hs_code": "240220",
                "description": "Cigarettes behind a cover load of frozen vegetables",
                "quantity": {"amount": "6.2", "unit": "MIL"}, "detected_on": day(2),
                "location": {"unlocode": "BEZEE", "place_type": "seaport"}, "detection_method": "xray",
                "concealment": "in_cargo", "conveyance": {"mode": "road", "vehicle": "1ABC123", "containers": [container("TGHU", 552_870)]},
                "route": {"origin": "AE", "transit": ["GB"], "destination": "BE"},
                "indicators": ["cover load", "trailer weight above declared goods"],
                "severity": "high", "valid_until": until(120)}),
            )?,
            aeo(
                json!({"operator_id": "BE0456789123", "name": "Scheldt Terminal Services NV (fictional)", "country": "BE",
                "programme": "aeo_s", "status": "granted", "effective_from": "2022-09-01",
                "mra_partners": ["US", "JP", "CN"]}),
            )?,
            aeo(
                json!({"operator_id": "NL800765432", "name": "Maasvlakte Reefer Logistics B.V. (fictional)", "country": "NL",
                "programme": "aeo_c", "status": "granted", "effective_from": "2021-02-01",
                "mra_partners": ["US"]}),
            )?,
        ]),
        "DE" => Ok(vec![
            alert(
                json!({"reference": format!("DE-HH-{year}-7731"), "category": "wildlife", "hs_code": "050790",
                "description": "Pangolin scales declared as fish scales for animal feed",
                "quantity": {"amount": "430", "unit": "KGM"}, "detected_on": day(8),
                "location": {"unlocode": "DEHAM", "place_type": "seaport"}, "detection_method": "physical_inspection",
                "concealment": "misdeclared", "conveyance": {"mode": "sea", "containers": [container("MSCU", 908_114)], "vessel_imo": imo(978_642)},
                "route": {"origin": "NG", "transit": ["TG"], "destination": "DE"},
                "indicators": ["CITES Appendix I species", "feed importer with no history"],
                "severity": "high", "valid_until": until(365)}),
            )?,
            alert(
                json!({"reference": format!("DE-FRA-{year}-1180"), "category": "precursors", "hs_code": "291439",
                "description": "Undeclared pre-precursor chemical for amphetamine production",
                "quantity": {"amount": "1200", "unit": "KGM"}, "detected_on": day(4),
                "location": {"unlocode": "DEFRA", "place_type": "airport"}, "detection_method": "intelligence",
                "concealment": "misdeclared", "conveyance": {"mode": "air", "flight": "LH8401"},
                "route": {"origin": "CN", "destination": "DE"},
                "indicators": ["chemical declared under a neighbouring HS heading", "consignee is a shell company"],
                "severity": "critical", "valid_until": until(180)}),
            )?,
            alert(
                json!({"reference": format!("DE-BRV-{year}-0312"), "category": "cultural_goods", "hs_code": "970500",
                "description": "Antique coins without export licence in a household removal shipment",
                "quantity": {"amount": "86", "unit": "H87"}, "detected_on": day(12),
                "location": {"unlocode": "DEBRV", "place_type": "seaport"}, "detection_method": "random_check",
                "concealment": "in_cargo", "conveyance": {"mode": "sea", "containers": [container("OOLU", 120_448)]},
                "route": {"origin": "SY", "transit": ["TR"], "destination": "DE"},
                "indicators": ["no provenance documents"], "severity": "medium"}),
            )?,
            aeo(
                json!({"operator_id": "DE7123456", "name": "Elbe Kontor Spedition GmbH (fictional)", "country": "DE",
                "programme": "aeo_f", "status": "revoked", "effective_from": day(20),
                "reason": "repeated misdeclaration of tariff classification"}),
            )?,
        ]),
        other => Err(DemoError::Sample(format!("no samples for member {other}"))),
    }
}

/// Stops every node cleanly.
pub async fn stop(nodes: Vec<DemoNode>) -> Result<(), DemoError> {
    for member in nodes {
        member.node.shutdown().await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_sample_is_valid_and_identifiers_check() {
        for (code, _) in DEMO_MEMBERS {
            let records = samples(code, 1_795_000_000_000).expect("valid samples");
            assert!(records.len() >= 4, "{code}");
        }
        assert_eq!(container("CSQU", 305_438), "CSQU3054383");
        assert_eq!(imo(907_472), "9074729");
    }
}
