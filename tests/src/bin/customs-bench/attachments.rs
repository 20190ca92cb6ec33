//! Benchmark 10, attachments: two `customs-node run` processes on loopback. NL uploads
//! 10 MiB photos (metadata removed, hashed, synced) and publishes an alert listing
//! them; DE fetches each on its first read, over the blob protocol in 256 KiB chunks,
//! hash-checked. Beside each: the same machine's ceiling (a 10 MiB write + fsync; NL
//! serving the bytes it holds).

use std::io::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use customs_tests::http::sample_alert;
use serde_json::{json, Value};

use crate::data::Scale;
use crate::nodes::{self, Env, NodeProcess};
use crate::report::{ms, ratio, Report, Row};

/// Blobs per run: three of 10 MiB fit one record (32 MiB).
const BLOBS: usize = 3;
/// Each blob's size: the largest an attachment may be, less its JPEG framing.
const BLOB_BYTES: usize = 10 * 1024 * 1024 - 4096;

pub fn run(env: &Env, _scale: &Scale, report: &mut Report) -> anyhow::Result<()> {
    let dir = env.dir("attachments")?;
    report.section(
        "10. Attachments: upload, and the first read on another member",
        &[
            "two `customs-node run` processes on 127.0.0.1 (NL, DE), connected; NL uploads three JPEGs of 10 MiB (each with a 60 KiB EXIF segment to remove) and publishes one alert listing them".into(),
            "upload: POST /api/v1/attachments until 201 (metadata removed, SHA-256, written and synced); first read: DE's GET /api/v1/attachments/{hash} while DE does not hold the blob (fetched from NL in 256 KiB chunks, hash-checked, kept, served)".into(),
            "ceilings: a 10 MiB write + fsync on the same file system; NL's GET of a blob it holds (the same HTTP path, no fetch)".into(),
        ],
    );
    let mut running = nodes::start_mesh(env, &dir, 2)?;
    let fsync = write_and_sync(&dir.join("fsync-probe"))?;

    let mut uploads = Vec::new();
    let mut hashes = Vec::new();
    for i in 0..BLOBS {
        let photo = synthetic_jpeg(i as u64);
        let started = Instant::now();
        let reply = running[0].client().send(
            "POST",
            "/api/v1/attachments",
            Some(("image/jpeg", &photo)),
        )?;
        uploads.push(started.elapsed());
        if reply.status != 201 {
            bail!("upload: status {}: {}", reply.status, reply.text());
        }
        hashes.push(reply.json()["hash"].as_str().context("hash")?.to_string());
    }
    let mut alert = sample_alert();
    alert["attachments"] = Value::Array(hashes.iter().map(|h| json!({ "hash": h })).collect());
    let reply = running[0].client().send(
        "POST",
        "/api/v1/alerts",
        Some(("application/json", alert.to_string().as_bytes())),
    )?;
    if reply.status != 201 {
        bail!("publish: status {}: {}", reply.status, reply.text());
    }
    let id = reply.json()["id"].as_str().context("id")?.to_string();
    running[1].wait("the alert", Duration::from_secs(60), |de| {
        Ok(de
            .get_json(&format!("/api/v1/entries/{id}"))
            .ok()
            .map(|_| ()))
    })?;

    let (mut fetches, mut local) = (Vec::new(), Vec::new());
    for hash in &hashes {
        fetches.push(timed_get(&running[1], hash)?);
        local.push(timed_get(&running[0], hash)?);
    }
    let median = |mut v: Vec<Duration>| {
        v.sort();
        v[v.len() / 2]
    };
    let (upload, fetch, served) = (median(uploads), median(fetches), median(local));
    let mib_per_s = |d: Duration| BLOB_BYTES as f64 / (1024.0 * 1024.0) / d.as_secs_f64();
    report.row(Row::new(
        "upload of 10 MiB (median of 3)",
        format!("{} ({:.0} MiB/s)", ms(upload), mib_per_s(upload)),
        format!("write + fsync {}", ms(fsync)),
        format!(
            "{:.1}x the write",
            upload.as_secs_f64() / fsync.as_secs_f64()
        ),
    ));
    report.row(Row::new(
        "first read on DE of 10 MiB (median of 3)",
        format!("{} ({:.0} MiB/s)", ms(fetch), mib_per_s(fetch)),
        format!("NL serving it {}", ms(served)),
        format!(
            "{} of the local read's rate",
            ratio(served.as_secs_f64(), fetch.as_secs_f64())
        ),
    ));
    for node in running {
        node.stop()?;
    }
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}

/// A GET of an attachment, checked whole; how long it took.
fn timed_get(node: &NodeProcess, hash: &str) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let reply = node
        .client()
        .send("GET", &format!("/api/v1/attachments/{hash}"), None)?;
    let took = started.elapsed();
    if reply.status != 200 || customs_protocol::BlobHash::of(&reply.bytes).to_hex() != hash {
        bail!(
            "GET {hash}: status {}, {} bytes",
            reply.status,
            reply.bytes.len()
        );
    }
    Ok(took)
}

/// A JPEG's framing around pseudo-random "scan" bytes, with an EXIF segment that the
/// node removes: the node walks segments, it does not decode.
fn synthetic_jpeg(seed: u64) -> Vec<u8> {
    let mut bytes = vec![0xFF, 0xD8];
    // APP1 EXIF, 60 KiB.
    let exif_len: u16 = 60 * 1024;
    bytes.extend_from_slice(&[0xFF, 0xE1]);
    bytes.extend_from_slice(&exif_len.to_be_bytes());
    bytes.extend_from_slice(b"Exif\0\0");
    bytes.resize(bytes.len() + usize::from(exif_len) - 8, 0x11);
    // A frame of 4000 x 3000 (a phone photo), start of scan, then the entropy-coded
    // data: pseudo-random, with no 0xFF byte (a real encoder stuffs each as FF 00), so
    // the node walks the scan as it walks a camera's.
    bytes.extend_from_slice(&[0xFF, 0xC0, 0x00, 0x0B, 0x08, 0x0B, 0xB8, 0x0F, 0xA0, 0x01]);
    bytes.extend_from_slice(&[0x01, 0x11, 0x00]);
    bytes.extend_from_slice(&[0xFF, 0xDA, 0x00, 0x08, 0x01, 0x01, 0x00, 0x00, 0x3F, 0x00]);
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    while bytes.len() < BLOB_BYTES - 2 {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        bytes.extend(state.to_le_bytes().map(|b| b.min(0xFE)));
    }
    bytes.truncate(BLOB_BYTES - 2);
    bytes.extend_from_slice(&[0xFF, 0xD9]);
    bytes
}

/// One 10 MiB write + fsync on the benchmark's file system.
fn write_and_sync(path: &Path) -> anyhow::Result<Duration> {
    let bytes = vec![0x5a; BLOB_BYTES];
    let started = Instant::now();
    let mut file = std::fs::File::create(path)?;
    file.write_all(&bytes)?;
    file.sync_all()?;
    let took = started.elapsed();
    std::fs::remove_file(path)?;
    Ok(took)
}
