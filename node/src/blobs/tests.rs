use super::*;

const PHOTO: &[u8] = include_bytes!("../../../tests/fixtures/concealment-gps.jpg");
const XRAY: &[u8] = include_bytes!("../../../tests/fixtures/xray-text.png");

fn limits() -> BlobLimits {
    BlobLimits {
        cache_bytes: 4096,
        upload_bytes: 3000,
        upload_ttl_ms: 3_600_000,
    }
}

/// Sets a file's modification time to `seconds` ago (the blob store's clock for
/// expiry and for the cache's order).
fn set_age(path: &Path, seconds: u64) {
    let file = File::options().write(true).open(path).unwrap();
    file.set_modified(SystemTime::now() - Duration::from_secs(seconds))
        .unwrap();
}

fn files(dir: &Path, kind: &str) -> usize {
    fs::read_dir(dir.join(kind)).unwrap().count()
}

#[test]
fn an_upload_is_stored_stripped_under_its_hash_and_served_only_once_a_record_names_it() {
    let dir = tempfile::tempdir().unwrap();
    let blobs = Blobs::open(dir.path(), limits()).unwrap();
    let stored = blobs.upload(MediaType::Jpeg, PHOTO).unwrap();
    let bytes = blobs.read(&stored.hash).unwrap().unwrap();
    assert_eq!(BlobHash::of(&bytes), stored.hash);
    assert_eq!(bytes.len() as u64, stored.size);
    assert!(!bytes.windows(10).any(|w| w == b"SN-1234567"));
    // An upload is not for members until a record lists it.
    assert_eq!(blobs.read_chunk(&stored.hash, 0, 1024).unwrap(), None);
    let adopted = blobs.adopt(&stored.hash).unwrap();
    assert_eq!(adopted.media_type, Some(MediaType::Jpeg));
    assert_eq!(adopted.size, stored.size);
    let (size, chunk) = blobs.read_chunk(&stored.hash, 10, 100).unwrap().unwrap();
    assert_eq!((size, chunk.as_slice()), (stored.size, &bytes[10..110]));
    // The same upload again finds the blob where it is.
    assert_eq!(
        blobs.upload(MediaType::Jpeg, PHOTO).unwrap().hash,
        stored.hash
    );
    assert_eq!(files(dir.path(), "uploads"), 0);
    assert_eq!(blobs.usage_bytes().1, 0);
}

#[test]
fn a_refused_upload_stores_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let blobs = Blobs::open(
        dir.path(),
        BlobLimits {
            upload_bytes: 2000,
            ..limits()
        },
    )
    .unwrap();
    let error = blobs.upload(MediaType::Png, PHOTO).unwrap_err();
    assert!(matches!(error, BlobStoreError::Invalid(_)), "{error}");
    // Over the upload budget (2000 bytes): the PNG fits, the photo then does not.
    blobs.upload(MediaType::Png, XRAY).unwrap();
    let error = blobs.upload(MediaType::Jpeg, PHOTO).unwrap_err();
    assert!(
        matches!(error, BlobStoreError::UploadsFull { .. }),
        "{error}"
    );
    assert_eq!(files(dir.path(), "uploads"), 1);
    assert_eq!(files(dir.path(), "tmp"), 0);
    assert!(matches!(
        blobs.adopt(&BlobHash([7; 32])),
        Err(BlobStoreError::Missing(_))
    ));
}

#[test]
fn a_fetch_resumes_checks_its_hash_and_the_cache_evicts_the_least_recently_read() {
    let dir = tempfile::tempdir().unwrap();
    let blobs = Blobs::open(dir.path(), limits()).unwrap();
    let a = vec![1u8; 2000];
    let b = vec![2u8; 2000];
    let c = vec![3u8; 2000];
    for (bytes, age_s) in [(&a, 20), (&b, 10)] {
        let hash = BlobHash::of(bytes);
        blobs.append_partial(&hash, 0, &bytes[..700]).unwrap();
        assert_eq!(blobs.partial_len(&hash), 700);
        // A chunk for the wrong offset is refused.
        assert!(blobs.append_partial(&hash, 100, &bytes[100..200]).is_err());
        blobs.append_partial(&hash, 700, &bytes[700..]).unwrap();
        assert!(blobs.finish_partial(&hash).unwrap());
        // Last read `age_s` ago: `a` before `b`.
        set_age(&dir.path().join("fetched").join(hash.to_hex()), age_s);
    }
    // Reading `a` makes `b` the least recently used.
    assert!(blobs.read(&BlobHash::of(&a)).unwrap().is_some());
    // Bytes that do not match their hash are thrown away.
    let hash_c = BlobHash::of(&c);
    blobs.append_partial(&hash_c, 0, &b).unwrap();
    assert!(!blobs.finish_partial(&hash_c).unwrap());
    assert_eq!(blobs.partial_len(&hash_c), 0);
    assert_eq!(blobs.read(&hash_c).unwrap(), None);
    // The third blob puts the cache (4096 bytes) over: `b` goes.
    blobs.append_partial(&hash_c, 0, &c).unwrap();
    assert!(blobs.finish_partial(&hash_c).unwrap());
    assert!(blobs.read(&BlobHash::of(&a)).unwrap().is_some());
    assert_eq!(blobs.read(&BlobHash::of(&b)).unwrap(), None);
    assert_eq!(blobs.usage_bytes().0, 4000);
    // Own blobs are never evicted and do not count.
    let own = blobs.put_own(&[9u8; 5000]).unwrap();
    assert!(blobs.read_chunk(&own, 0, 10).unwrap().is_some());
    assert_eq!(blobs.usage_bytes().0, 4000);
    // Reopened: the same blobs, counted again.
    drop(blobs);
    let blobs = Blobs::open(dir.path(), limits()).unwrap();
    assert_eq!(blobs.usage_bytes().0, 4000);
    assert!(blobs.read(&own).unwrap().is_some());
}

#[test]
fn expired_uploads_and_crash_leftovers_are_removed_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let blobs = Blobs::open(dir.path(), limits()).unwrap();
    blobs.upload(MediaType::Png, XRAY).unwrap();
    fs::write(dir.path().join("tmp").join("half-written"), b"x").unwrap();
    drop(blobs);
    // Still within its time to live: kept.
    let blobs = Blobs::open(dir.path(), limits()).unwrap();
    assert_eq!(files(dir.path(), "uploads"), 1);
    assert_eq!(files(dir.path(), "tmp"), 0);
    drop(blobs);
    // Uploaded two hours ago, against a time to live of one.
    for name in fs::read_dir(dir.path().join("uploads")).unwrap() {
        set_age(&name.unwrap().path(), 7200);
    }
    let expired = limits();
    let blobs = Blobs::open(dir.path(), expired).unwrap();
    assert_eq!(files(dir.path(), "uploads"), 0);
    assert_eq!(files(dir.path(), "tmp"), 0);
    assert_eq!(blobs.usage_bytes().1, 0);
}
