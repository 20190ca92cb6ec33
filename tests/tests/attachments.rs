//! Attachments between `customs-node run` processes: NL uploads a phone photo that
//! carries EXIF GPS tags and publishes an alert with it; DE fetches it on demand and
//! gets the same hash and no GPS tag; FR fetches it from DE while NL is stopped; bytes
//! that do not match their hash are refused; an oversized upload stores nothing.

use std::path::Path;

use customs_protocol::BlobHash;
use customs_tests::governed::*;
use customs_tests::wait_for;
use serde_json::{json, Value};

const PHOTO: &[u8] = include_bytes!("../fixtures/concealment-gps.jpg");
const XRAY: &[u8] = include_bytes!("../fixtures/xray-text.png");
const WEAPON: &[u8] = include_bytes!("../fixtures/weapon-xray.png");
const SIDEWAYS: &[u8] = include_bytes!("../fixtures/sideways-gps.jpg");

/// What Pillow (an independent decoder) reads in an image file: its size, EXIF
/// orientation, whether it has GPS tags, and a digest of its decoded pixels.
fn pillow(path: &Path) -> Value {
    let script = "import json, sys, hashlib\n\
        from PIL import Image\n\
        im = Image.open(sys.argv[1]); exif = im.getexif()\n\
        print(json.dumps({'size': list(im.size), 'orientation': exif.get(0x0112),\n\
          'gps': bool(exif.get_ifd(0x8825)), 'make': exif.get(0x010F),\n\
          'pixels': hashlib.sha256(im.convert('RGB').tobytes()).hexdigest()}))";
    customs_tests::python_json(&["-c".as_ref(), script.as_ref(), path.as_os_str()])
}

/// Every tag exiftool (an independent metadata reader) finds in a file, by
/// `GROUP:TAG`, duplicates and unknown tags included.
fn exiftool(path: &Path) -> serde_json::Map<String, Value> {
    let output = std::process::Command::new("exiftool")
        .args(["-j", "-a", "-u", "-G1"])
        .arg(path)
        .output()
        .expect("exiftool runs (Debian's libimage-exiftool-perl)");
    let all: Value = serde_json::from_slice(&output.stdout).expect("exiftool's JSON");
    all[0].as_object().expect("one file").clone()
}

/// The tags of `tags` that give a place, a device or another image away.
fn revealing(tags: &serde_json::Map<String, Value>) -> Vec<String> {
    tags.keys()
        .filter(|k| {
            [
                "GPS", "Serial", "MPF", "MPImage", "Trailer", "Make", "Comment", "XMP",
            ]
            .iter()
            .any(|word| k.contains(word))
        })
        .cloned()
        .collect()
}

/// Uploads `bytes` as `media_type`; returns the status and the answer.
fn upload(on: &Member, media_type: &str, bytes: &[u8]) -> (u16, Value) {
    let reply = on
        .api()
        .send("POST", "/api/v1/attachments", Some((media_type, bytes)))
        .expect("the node answers");
    (reply.status, reply.json())
}

/// Reads an attachment through `on`'s API: the status, Content-Type and bytes.
fn download(on: &Member, hash: &str) -> (u16, String, Vec<u8>) {
    let reply = on
        .api()
        .send("GET", &format!("/api/v1/attachments/{hash}"), None)
        .expect("the node answers");
    (reply.status, reply.content_type.clone(), reply.bytes)
}

/// Announces an upload one byte over 10 MiB and sends none of it; returns the
/// node's answer as text.
fn oversized_upload(on: &Member) -> String {
    use std::io::{Read, Write};
    let url = customs_tests::process::api_url(&on.dir, DEADLINE);
    let address = url.trim_start_matches("http://");
    let mut socket = std::net::TcpStream::connect(address).expect("connects");
    socket
        .set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .expect("timeout");
    let token = customs_tests::process::admin_token(&on.dir);
    let request = format!(
        "POST /api/v1/attachments HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {token}\r\nContent-Type: image/jpeg\r\nContent-Length: {}\r\n\r\n",
        10 * 1024 * 1024 + 1
    );
    socket.write_all(request.as_bytes()).expect("sends");
    let mut answer = vec![0u8; 4096];
    let read = socket.read(&mut answer).expect("the node answers");
    String::from_utf8_lossy(&answer[..read]).into_owned()
}

fn files_in(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|items| {
            items
                .filter_map(|i| i.ok()?.file_name().into_string().ok())
                .collect()
        })
        .unwrap_or_default()
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn attachments_are_stripped_signed_and_fetched_from_whichever_member_holds_them() {
    let root = tempfile::tempdir().expect("tempdir");
    let mut nl = found(root.path(), "NL");
    let charter = charter_file(root.path(), &nl);
    nl.start();
    let mut de = joiner(root.path(), "de", "DE", &charter, &nl.p2p, None);
    // DE's policy: attachments of weapons alerts as soon as they arrive.
    customs_tests::process::edit_config(
        &de.dir,
        &[(
            "prefetch_categories = []",
            "prefetch_categories = [\"weapons\"]",
        )],
    );
    de.start();
    admit(&[&nl], &de);
    wait_member(&nl, "DE", "member");
    // FR reaches the network through DE, so it still can when NL is stopped.
    let de_address = de.bootstrap_address();
    let mut fr = joiner(root.path(), "fr", "FR", &charter, &de_address, None);
    fr.start();
    admit(&[&nl, &de], &fr);
    for node in [&nl, &de, &fr] {
        wait_member(node, "FR", "member");
    }
    nl.publish_when_ready("NL-READY");

    // An oversized upload: 413 on its Content-Length, before the body is read, and
    // nothing stored.
    let nl_uploads = nl.dir.join("store/blobs/uploads");
    let answer = oversized_upload(&nl);
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains("payload_too_large"), "{answer}");
    assert!(files_in(&nl_uploads).is_empty());
    // A file that is not what its Content-Type says: 415, nothing stored.
    let (status, answer) = upload(&nl, "image/png", PHOTO);
    assert_eq!(status, 415, "{answer}");
    assert!(answer["message"]
        .as_str()
        .unwrap_or_default()
        .contains("JPEG"));
    assert!(files_in(&nl_uploads).is_empty());

    // The photo: its EXIF (GPS, serial), XMP and comment are removed before hashing.
    assert!(contains(PHOTO, b"Exif\0\0") && contains(PHOTO, b"SN-1234567"));
    let (status, photo) = upload(&nl, "image/jpeg", PHOTO);
    assert_eq!(status, 201, "{photo}");
    let photo_hash = photo["hash"].as_str().expect("hash").to_string();
    assert!(
        photo["metadata_removed_bytes"].as_u64().unwrap() > 0,
        "{photo}"
    );
    let (status, xray) = upload(&nl, "image/png", XRAY);
    assert_eq!(status, 201, "{xray}");
    let xray_hash = xray["hash"].as_str().expect("hash").to_string();

    // Published with the CLI, as an officer would: `--attach FILE=CAPTION` uploads
    // each file again (the same hash) and lists it.
    let photo_file = root.path().join("floor.jpg");
    let xray_file = root.path().join("xray.png");
    std::fs::write(&photo_file, PHOTO).expect("photo file");
    std::fs::write(&xray_file, XRAY).expect("x-ray file");
    let mut alert: Value = serde_json::from_str(&cli(&["alert", "template"])).expect("template");
    alert["reference"] = json!("NL-PHOTO-0001");
    let alert_file = root.path().join("alert.json");
    std::fs::write(&alert_file, alert.to_string()).expect("alert file");
    let published = cli_json(&[
        "alert",
        "publish",
        "--dir",
        nl.path(),
        "--file",
        alert_file.to_str().expect("utf-8"),
        "--attach",
        &format!("{}=False floor of the reefer", photo_file.display()),
        "--attach",
        &format!("{}=X-ray of the false floor", xray_file.display()),
    ]);
    let id = published["id"].as_str().expect("id").to_string();
    // Published: the uploads are now NL's own blobs.
    assert!(files_in(&nl_uploads).is_empty());

    // DE holds the alert with its signed attachment list, not the bytes.
    let on_de = wait_for("DE to hold the alert", DEADLINE, || {
        de.get(&format!("/api/v1/entries/{id}"))
    });
    assert_eq!(on_de["attachments"][0]["hash"], json!(photo_hash));
    assert_eq!(on_de["attachments"][0]["size"], photo["size"]);
    assert_eq!(
        on_de["attachments"][0]["caption"],
        json!("False floor of the reefer")
    );
    assert_eq!(on_de["attachments"][1]["media_type"], json!("image/png"));
    assert_eq!(on_de["attachments"][1]["hash"], json!(xray_hash));
    assert!(files_in(&de.dir.join("store/blobs/fetched")).is_empty());

    // DE fetches the photo on demand (through the CLI): the same hash, no GPS tag.
    let out = root.path().join("from-de.jpg");
    cli(&[
        "attachment",
        "get",
        &photo_hash,
        "--dir",
        de.path(),
        "--out",
        out.to_str().expect("utf-8"),
    ]);
    let bytes = std::fs::read(&out).expect("the CLI wrote the photo");
    let (status, content_type, _) = download(&de, &photo_hash);
    assert_eq!((status, content_type.as_str()), (200, "image/jpeg"));
    assert_eq!(BlobHash::of(&bytes).to_hex(), photo_hash);
    for secret in [
        &b"Exif\0\0"[..],
        b"SN-1234567",
        b"GPSLatitude",
        b"officer 4711",
    ] {
        assert!(
            !contains(&bytes, secret),
            "{:?} left in the photo",
            String::from_utf8_lossy(secret)
        );
    }
    // Pillow decodes the same pixels from what DE got as from the phone's file,
    // without GPS or camera make; a photo stored sideways keeps its orientation.
    let original = root.path().join("original.jpg");
    std::fs::write(&original, PHOTO).expect("write");
    let (before, after) = (pillow(&original), pillow(&out));
    assert_eq!(
        (before["gps"].clone(), after["gps"].clone()),
        (json!(true), json!(false))
    );
    assert_eq!(after["make"], Value::Null);
    assert_eq!(after["pixels"], before["pixels"]);
    let (status, sideways) = upload(&de, "image/jpeg", SIDEWAYS);
    assert_eq!(status, 201, "{sideways}");
    let (_, _, upright) = download(&de, sideways["hash"].as_str().expect("hash"));
    std::fs::write(root.path().join("sideways.jpg"), SIDEWAYS).expect("write");
    std::fs::write(root.path().join("upright.jpg"), &upright).expect("write");
    let (before, after) = (
        pillow(&root.path().join("sideways.jpg")),
        pillow(&root.path().join("upright.jpg")),
    );
    assert_eq!(
        (after["orientation"].clone(), after["gps"].clone()),
        (json!(6), json!(false))
    );
    assert_eq!(after["pixels"], before["pixels"]);
    let (status, _, xray_bytes) = download(&de, &xray_hash);
    assert_eq!(status, 200);
    assert_eq!(BlobHash::of(&xray_bytes).to_hex(), xray_hash);

    // Phone-like files, read by exiftool: an MPO (a second image with its own GPS
    // after the first), a motion photo's video tail, a trailer. Nothing revealing is
    // left, and the pixels Pillow decodes are the first image's.
    let phone_files: [(&str, Vec<u8>); 3] = [
        ("mpo", [PHOTO, SIDEWAYS].concat()),
        (
            "motion",
            [PHOTO, b"\0\0\0\x18ftypmp42MotionPhoto_Data video"].concat(),
        ),
        (
            "trailer",
            [PHOTO, b"\0\0\0\0trailer of a camera app"].concat(),
        ),
    ];
    for (name, bytes) in &phone_files {
        let original = root.path().join(format!("{name}-original.jpg"));
        std::fs::write(&original, bytes).expect("write");
        assert!(
            !revealing(&exiftool(&original)).is_empty(),
            "exiftool finds what the {name} file gives away"
        );
        let (status, answer) = upload(&de, "image/jpeg", bytes);
        assert_eq!(status, 201, "{name}: {answer}");
        let (status, _, stored) = download(&de, answer["hash"].as_str().expect("hash"));
        assert_eq!(status, 200);
        let kept = root.path().join(format!("{name}-kept.jpg"));
        std::fs::write(&kept, &stored).expect("write");
        let tags = exiftool(&kept);
        assert_eq!(revealing(&tags), Vec::<String>::new(), "{name}: {tags:?}");
        assert!(!contains(&stored, b"ftyp") && !contains(&stored, b"trailer"));
        assert_eq!(
            pillow(&kept)["pixels"],
            pillow(&root.path().join("original.jpg"))["pixels"]
        );
    }
    // A decompression bomb: a PNG that says it is 60,000 x 60,000 pixels.
    let mut bomb = XRAY.to_vec();
    bomb[16..24].copy_from_slice(&[0, 0, 0xEA, 0x60, 0, 0, 0xEA, 0x60]);
    let crc = crc32fast::hash(&bomb[12..29]);
    bomb[29..33].copy_from_slice(&crc.to_be_bytes());
    let before = files_in(&de.dir.join("store/blobs/uploads"));
    let (status, answer) = upload(&de, "image/png", &bomb);
    assert_eq!(status, 422, "{answer}");
    assert!(
        answer["message"]
            .as_str()
            .unwrap_or_default()
            .contains("pixels"),
        "{answer}"
    );
    assert_eq!(
        files_in(&de.dir.join("store/blobs/uploads")),
        before,
        "nothing stored"
    );

    // A weapons alert: DE's policy fetches its X-ray as it arrives, unasked.
    let (status, weapon) = upload(&nl, "image/png", WEAPON);
    assert_eq!(status, 201, "{weapon}");
    let weapon_hash = weapon["hash"].as_str().expect("hash").to_string();
    let mut weapons: Value = serde_json::from_str(&cli(&["alert", "template"])).expect("template");
    weapons["reference"] = json!("NL-WEAPON-0001");
    weapons["category"] = json!("weapons");
    weapons["attachments"] = json!([{"hash": weapon_hash, "caption": "Pistol in the spare tyre"}]);
    nl.api()
        .post::<Value>("/api/v1/alerts", &weapons)
        .expect("the weapons alert publishes");
    wait_for("DE to prefetch the weapons X-ray", DEADLINE, || {
        files_in(&de.dir.join("store/blobs/fetched"))
            .contains(&weapon_hash)
            .then_some(())
    });

    // A sealed alert for DE only, with a scanned report: it travels encrypted, and
    // only its recipients can read it or its attachment.
    let report: &[u8] = b"%PDF-1.4\n% seizure report NL-SEALED-77 heroin in marble slabs\n%%EOF\n";
    let (status, pdf) = upload(&nl, "application/pdf", report);
    assert_eq!(status, 201, "{pdf}");
    let pdf_hash = pdf["hash"].as_str().expect("hash").to_string();
    let mut sealed: Value = serde_json::from_str(&cli(&["alert", "template"])).expect("template");
    sealed["reference"] = json!("NL-SEALED-77");
    sealed["distribution"] = json!({"to": ["DE"]});
    sealed["attachments"] = json!([{"hash": pdf_hash, "caption": "Seizure report"}]);
    let sealed_id = nl
        .api()
        .post::<Value>("/api/v1/alerts", &sealed)
        .expect("the sealed alert publishes")["id"]
        .as_str()
        .expect("id")
        .to_string();
    let on_de = wait_for("DE to read the sealed alert", DEADLINE, || {
        de.get(&format!("/api/v1/entries/{sealed_id}"))
            .filter(|e| e["attachments"].is_array())
    });
    assert_eq!(on_de["attachments"][0]["hash"], json!(pdf_hash));
    let (status, content_type, opened) = download(&de, &pdf_hash);
    assert_eq!((status, content_type.as_str()), (200, "application/pdf"));
    assert_eq!(opened, report);
    // DE keeps only the ciphertext; FR, not a recipient, cannot even name it.
    let de_fetched = de.dir.join("store/blobs/fetched");
    assert!(!files_in(&de_fetched).contains(&pdf_hash));
    for file in files_in(&de_fetched) {
        let bytes = std::fs::read(de_fetched.join(file)).expect("read");
        assert!(!contains(&bytes, b"marble slabs"), "plaintext on DE's disk");
    }
    wait_for("FR to hold the sealed alert", DEADLINE, || {
        fr.get(&format!("/api/v1/entries/{sealed_id}"))
    });
    let (status, _, _) = download(&fr, &pdf_hash);
    assert_eq!(
        status, 404,
        "a non-recipient reads no attachment of a sealed record"
    );

    // A second report sealed to DE, not opened yet: once NL (its author) stops, DE
    // asks no one else for it. FR, connected but not a recipient, never learns its
    // hash (before 2026-12-08 DE asked every member, FR included).
    let second: &[u8] = b"%PDF-1.4\n% second report NL-SEALED-78\n%%EOF\n";
    let (status, pdf2) = upload(&nl, "application/pdf", second);
    assert_eq!(status, 201, "{pdf2}");
    let pdf2_hash = pdf2["hash"].as_str().expect("hash").to_string();
    sealed["reference"] = json!("NL-SEALED-78");
    sealed["attachments"] = json!([{"hash": pdf2_hash, "caption": "Second report"}]);
    let sealed2 = nl
        .api()
        .post::<Value>("/api/v1/alerts", &sealed)
        .expect("the second sealed alert publishes")["id"]
        .as_str()
        .expect("id")
        .to_string();
    wait_for("DE to read the second sealed alert", DEADLINE, || {
        de.get(&format!("/api/v1/entries/{sealed2}"))
            .filter(|e| e["attachments"].is_array())
    });

    // NL stops; FR fetches the photo from DE.
    nl.stop();
    let (status, _, answer) = download(&de, &pdf2_hash);
    let answer = String::from_utf8_lossy(&answer).to_string();
    assert_eq!(status, 504, "{answer}");
    assert!(answer.contains("no_peers"), "FR was asked: {answer}");
    wait_for("FR to hold the alert", DEADLINE, || {
        fr.get(&format!("/api/v1/entries/{id}"))
    });
    // As if an earlier fetch had broken off after 1,000 bytes: FR asks DE only for
    // the rest.
    let fr_partial = fr.dir.join("store/blobs/partial");
    std::fs::write(fr_partial.join(&photo_hash), &bytes[..1000]).expect("partial");
    let (status, _, from_de) = download(&fr, &photo_hash);
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&from_de));
    assert_eq!(from_de, bytes);
    // That the fetch resumes, shown by a partial fetch whose first bytes are wrong:
    // the blob assembled from them fails its hash and is thrown away (a fetch that
    // started over would have succeeded); the next request starts from nothing.
    std::fs::write(fr_partial.join(&weapon_hash), [0u8; 50]).expect("partial");
    let (status, _, answer) = download(&fr, &weapon_hash);
    assert_eq!(status, 504, "{}", String::from_utf8_lossy(&answer));
    assert!(files_in(&fr_partial).is_empty());
    let (status, _, weapon_bytes) = download(&fr, &weapon_hash);
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&weapon_bytes));
    assert_eq!(BlobHash::of(&weapon_bytes).to_hex(), weapon_hash);

    // DE's copy of the X-ray is damaged on disk: FR refuses what DE serves.
    let damaged = de.dir.join("store/blobs/fetched").join(&xray_hash);
    let mut on_disk = std::fs::read(&damaged).expect("DE holds the X-ray");
    let middle = on_disk.len() / 2;
    on_disk[middle] ^= 0x01;
    std::fs::write(&damaged, &on_disk).expect("damage DE's copy");
    let (status, _, answer) = download(&fr, &xray_hash);
    let answer: Value = serde_json::from_slice(&answer).unwrap_or_default();
    assert_eq!(status, 504, "{answer}");
    assert_eq!(answer["error"], json!("blob_mismatch"), "{answer}");
    assert!(
        answer["message"]
            .as_str()
            .unwrap_or_default()
            .contains("DE"),
        "{answer}"
    );
    // The operators see it: fetches by outcome.
    let metrics = fr
        .api()
        .send("GET", "/metrics", None)
        .expect("metrics")
        .text();
    assert!(
        metrics.contains("customs_blob_fetches_total{outcome=\"mismatch\"} 2"),
        "{metrics}"
    );
    assert!(
        metrics.contains("customs_blob_fetches_total{outcome=\"fetched\"} 2"),
        "{metrics}"
    );
    let fr_blobs = fr.dir.join("store/blobs");
    assert!(!files_in(&fr_blobs.join("fetched")).contains(&xray_hash));
    assert!(files_in(&fr_blobs.join("partial")).is_empty());

    // A hash no readable record lists: 404, nothing asked of anyone.
    let (status, _, _) = download(&fr, &"ab".repeat(32));
    assert_eq!(status, 404);
}
