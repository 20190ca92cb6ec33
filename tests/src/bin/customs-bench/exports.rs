//! Benchmark 11, the field's formats: one `customs-node run` process holding the
//! records of 10 member authors (3 in 4 alerts). Each export is read whole through
//! the API as a client would (the STIX bundle following `X-Next-After`, the TAXII
//! alerts collection page by page, the MISP manifest, a CEN file) and the dashboard's
//! figures (GET /api/v1/stats), beside the
//! ceiling of reading the same alerts as the node's own JSON list.

use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use serde_json::Value;

use crate::data::Scale;
use crate::nodes::{self, Env, NodeProcess};
use crate::report::{ms, per_second, ratio, thousands, Report, Row};

const AUTHORS: usize = 10;

/// GET `path` (200 expected); its answer and how long it took.
fn timed(
    node: &NodeProcess,
    path: &str,
) -> anyhow::Result<(customs_node::client::Reply, Duration)> {
    let started = Instant::now();
    let reply = node.client().send("GET", path, None)?;
    let took = started.elapsed();
    if reply.status != 200 {
        bail!("GET {path}: status {}: {}", reply.status, reply.text());
    }
    Ok((reply, took))
}

pub fn run(env: &Env, scale: &Scale, report: &mut Report) -> anyhow::Result<()> {
    let per_author = scale.export_entries / AUTHORS;
    let code = crate::data::member_code('N', 0);
    let dir = env.dir("exports")?.join(&code);
    let own = nodes::init_node(&dir, &code, 30_000)?;
    let authors = nodes::author_members(AUTHORS);
    nodes::write_members(&dir, &own, &authors)?;
    let entries = crate::data::signed_entries(AUTHORS, per_author)?;
    nodes::fill_store(&dir, &entries)?;
    report.section(
        "11. Exports (STIX, TAXII, MISP, CEN) and the dashboard's figures",
        &[format!(
            "one `customs-node run` process holding {} entries of {AUTHORS} member authors (3 in 4 the documented alert, 1 in 4 an AEO record without consent); each export read whole through the API on 127.0.0.1",
            thousands(entries.len() as f64)
        ),
        "ceiling: the same alerts read as the node's own JSON list (GET /api/v1/alerts, pages of 200)".into()],
    );
    let node = NodeProcess::start(env, &dir)?;

    // The ceiling: the alert list, page by page.
    let started = Instant::now();
    let (mut alerts, mut cursor) = (0usize, None::<String>);
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/v1/alerts?limit=200&cursor={c}"),
            None => "/api/v1/alerts?limit=200".into(),
        };
        let page = timed(&node, &path)?.0.json();
        alerts += page["items"].as_array().map_or(0, Vec::len);
        match page["next"].as_str() {
            Some(next) => cursor = Some(next.to_string()),
            None => break,
        }
    }
    let list = started.elapsed();
    let list_rate = per_second(alerts, list);

    // The STIX bundle, as `export --format stix` reads it.
    let started = Instant::now();
    let (mut objects, mut bytes, mut after) = (0usize, 0usize, None::<String>);
    loop {
        let path = match &after {
            Some(a) => format!("/api/v1/export/stix?after={a}"),
            None => "/api/v1/export/stix".into(),
        };
        let (reply, _) = timed(&node, &path)?;
        bytes += reply.bytes.len();
        after = reply.header("x-next-after").map(String::from);
        let bundle: Value = serde_json::from_slice(&reply.bytes).context("bundle")?;
        objects += bundle["objects"].as_array().map_or(0, Vec::len);
        if after.is_none() {
            break;
        }
    }
    let stix = started.elapsed();

    // The TAXII alerts collection, 1000 objects a page.
    let collections = timed(&node, "/taxii2/api/collections/")?.0.json();
    let id = collections["collections"][0]["id"]
        .as_str()
        .context("collection")?
        .to_string();
    let started = Instant::now();
    let (mut taxii_objects, mut next) = (0usize, None::<String>);
    loop {
        let path = match &next {
            Some(n) => format!("/taxii2/api/collections/{id}/objects/?limit=1000&next={n}"),
            None => format!("/taxii2/api/collections/{id}/objects/?limit=1000"),
        };
        let page = timed(&node, &path)?.0.json();
        taxii_objects += page["objects"].as_array().map_or(0, Vec::len);
        match page["next"].as_str() {
            Some(n) => next = Some(n.to_string()),
            None => break,
        }
    }
    let taxii = started.elapsed();
    // A client polling for what is new, with nothing new: a binary search, no scan.
    let now = customs_node::clock::rfc3339(customs_node::clock::now_ms());
    let (_, poll) = timed(
        &node,
        &format!("/taxii2/api/collections/{id}/objects/?added_after={now}"),
    )?;

    // The dashboard's figures over the same alerts (the year to today).
    let (stats, dashboard) = timed(&node, "/api/v1/stats")?;
    let counted = stats.json()["alerts"].as_u64().unwrap_or(0) as usize;
    let (manifest, misp) = timed(&node, "/misp-feed/manifest.json")?;
    let events = manifest.json().as_object().map_or(0, |m| m.len());
    let author = &authors[0].code;
    let year = &customs_protocol::samples::risk_alert()
        .detected_on
        .to_string()[..4];
    let (csv, cen) = timed(
        &node,
        &format!("/api/v1/export/cen?year={year}&area=drugs&member={author}"),
    )?;
    let lines = csv.text().lines().count().saturating_sub(1);

    let row = |measure: &str, count: usize, what: &str, took: Duration| {
        Row::new(
            measure,
            format!(
                "{} ({} {what}/s)",
                ms(took),
                thousands(per_second(count, took))
            ),
            format!(
                "alert list {} ({} alerts/s)",
                ms(list),
                thousands(list_rate)
            ),
            format!(
                "{} of the list's rate",
                ratio(per_second(count, took), list_rate)
            ),
        )
    };
    report.row(row(
        &format!(
            "STIX bundle of {} alerts ({} objects, {:.1} MiB)",
            thousands(alerts as f64),
            thousands(objects as f64),
            bytes as f64 / 1048576.0
        ),
        alerts,
        "alerts",
        stix,
    ));
    report.row(row(
        &format!(
            "TAXII alerts collection, 1000 objects a page ({} objects)",
            thousands(taxii_objects as f64)
        ),
        alerts,
        "alerts",
        taxii,
    ));
    report.row(Row::new(
        "TAXII poll with added_after = now (nothing new)",
        ms(poll),
        "-",
        "-",
    ));
    report.row(row(
        &format!(
            "dashboard figures, GET /api/v1/stats ({} alerts counted)",
            thousands(counted as f64)
        ),
        counted,
        "alerts",
        dashboard,
    ));
    report.row(row(
        &format!("MISP manifest ({} events)", thousands(events as f64)),
        events,
        "events",
        misp,
    ));
    report.row(row(
        &format!(
            "CEN file of one member's drug seizures ({} lines)",
            thousands(lines as f64)
        ),
        lines,
        "lines",
        cen,
    ));
    node.stop()?;
    std::fs::remove_dir_all(dir.parent().context("dir")?)?;
    Ok(())
}
