use super::*;

const PHOTO: &[u8] = include_bytes!("../../../tests/fixtures/concealment-gps.jpg");
const XRAY: &[u8] = include_bytes!("../../../tests/fixtures/xray-text.png");
const SIDEWAYS: &[u8] = include_bytes!("../../../tests/fixtures/sideways-gps.jpg");

/// Offsets of every JPEG segment marker up to the start of scan, with its marker.
fn jpeg_markers(bytes: &[u8]) -> Vec<u8> {
    let mut markers = Vec::new();
    let mut at = 2;
    while at + 4 <= bytes.len() {
        let marker = bytes[at + 1];
        markers.push(marker);
        if marker == 0xDA {
            break;
        }
        at += 2 + usize::from(u16::from_be_bytes([bytes[at + 2], bytes[at + 3]]));
    }
    markers
}

fn scan_data(bytes: &[u8]) -> &[u8] {
    let sos = bytes.windows(2).position(|w| w == [0xFF, 0xDA]).unwrap();
    &bytes[sos..]
}

#[test]
fn a_phone_photo_loses_its_exif_gps_xmp_and_comment_and_keeps_its_pixels() {
    assert!(
        jpeg_markers(PHOTO).contains(&0xE1),
        "the fixture carries EXIF"
    );
    assert!(
        jpeg_markers(PHOTO).contains(&0xFE),
        "the fixture carries a comment"
    );
    assert!(PHOTO.windows(10).any(|w| w == b"SN-1234567"));
    let stripped = strip_metadata(MediaType::Jpeg, PHOTO).unwrap();
    let markers = jpeg_markers(&stripped);
    assert!(
        !markers.contains(&0xE1),
        "APP1 (EXIF, XMP) left: {markers:x?}"
    );
    assert!(!markers.contains(&0xFE), "COM left: {markers:x?}");
    assert!(markers.contains(&0xE0), "JFIF kept");
    for secret in [
        &b"SN-1234567"[..],
        b"officer 4711",
        b"Exif\0",
        b"GPSLatitude",
    ] {
        assert!(!stripped.windows(secret.len()).any(|w| w == secret));
    }
    // The compressed pixels are the same bytes.
    assert_eq!(scan_data(&stripped), scan_data(PHOTO));
    assert!(stripped.len() < PHOTO.len());
    // Stripping is idempotent: an upload of the stripped file gets the same hash.
    assert_eq!(
        strip_metadata(MediaType::Jpeg, &stripped).unwrap(),
        stripped
    );
}

#[test]
fn a_sideways_photo_keeps_only_its_orientation() {
    assert_eq!(exif_orientation(&SIDEWAYS[24..]), Some(6));
    let stripped = strip_metadata(MediaType::Jpeg, SIDEWAYS).unwrap();
    let markers = jpeg_markers(&stripped);
    assert_eq!(
        markers.iter().filter(|m| **m == 0xE1).count(),
        1,
        "{markers:x?}"
    );
    let app1 = stripped.windows(2).position(|w| w == [0xFF, 0xE1]).unwrap();
    assert_eq!(&stripped[app1..app1 + 36], &orientation_segment(6));
    assert_eq!(exif_orientation(&stripped[app1 + 4..app1 + 36]), Some(6));
    for secret in [&b"SN-7654321"[..], b"PhoneMaker"] {
        assert!(!stripped.windows(secret.len()).any(|w| w == secret));
    }
    assert_eq!(scan_data(&stripped), scan_data(SIDEWAYS));
    assert_eq!(
        strip_metadata(MediaType::Jpeg, &stripped).unwrap(),
        stripped
    );
    // An orientation of 1 (as stored) needs no EXIF at all.
    assert_eq!(exif_orientation(&orientation_segment(1)[4..]), None);
    // A damaged EXIF gives no orientation and no panic.
    for cut in 0..=32 {
        let _ = exif_orientation(&orientation_segment(3)[4..4 + cut]);
    }
}

#[test]
fn a_png_loses_its_text_xmp_and_exif_chunks() {
    let stripped = strip_metadata(MediaType::Png, XRAY).unwrap();
    for chunk in [&b"tEXt"[..], b"iTXt", b"eXIf", b"officer 4711"] {
        assert!(XRAY.windows(4).any(|w| w == &chunk[..4]) || chunk.len() > 4);
        assert!(!stripped.windows(chunk.len()).any(|w| w == chunk));
    }
    for chunk in [b"IHDR", b"IDAT", b"IEND"] {
        assert!(stripped.windows(4).any(|w| w == chunk));
    }
    assert_eq!(strip_metadata(MediaType::Png, &stripped).unwrap(), stripped);
}

#[test]
fn the_declared_type_must_match_the_bytes() {
    let error = strip_metadata(MediaType::Png, PHOTO).unwrap_err();
    assert_eq!(error.code(), "WrongType");
    assert!(error.to_string().contains("JPEG"), "{error}");
    let error = strip_metadata(MediaType::Jpeg, b"GIF89a....").unwrap_err();
    assert!(
        error.to_string().contains("not a JPEG, PNG or PDF"),
        "{error}"
    );
    assert_eq!(
        strip_metadata(MediaType::Pdf, b"").unwrap_err(),
        BlobError::Empty
    );
    let pdf = b"%PDF-1.7\n%\xe2\xe3\n1 0 obj\n<<>>\nendobj\n%%EOF\n";
    assert_eq!(strip_metadata(MediaType::Pdf, pdf).unwrap(), pdf.to_vec());
}

#[test]
fn every_truncation_of_an_image_is_refused_or_stripped_without_a_panic() {
    for cut in 0..PHOTO.len() {
        let _ = strip_metadata(MediaType::Jpeg, &PHOTO[..cut]);
    }
    for cut in 0..XRAY.len() {
        let result = strip_metadata(MediaType::Png, &XRAY[..cut]);
        assert!(result.is_err(), "a PNG cut at {cut} was accepted");
    }
    // A flipped byte in a PNG chunk fails its CRC.
    let mut bad = XRAY.to_vec();
    bad[40] ^= 0x01;
    assert_eq!(
        strip_metadata(MediaType::Png, &bad).unwrap_err().code(),
        "Malformed"
    );
}

#[test]
fn an_oversized_blob_is_refused_before_it_is_parsed() {
    let mut big = PHOTO.to_vec();
    big.resize(MAX_ATTACHMENT_BYTES as usize + 1, 0);
    assert_eq!(
        strip_metadata(MediaType::Jpeg, &big).unwrap_err(),
        BlobError::TooLarge {
            size: MAX_ATTACHMENT_BYTES + 1,
            max: MAX_ATTACHMENT_BYTES
        }
    );
}

fn attachment(byte: u8, size: u64) -> Attachment {
    Attachment {
        hash: BlobHash([byte; 32]),
        size,
        media_type: MediaType::Jpeg,
        caption: "false floor of the reefer".into(),
        sealed: None,
    }
}

#[test]
fn attachment_lists_are_bounded_and_distinct() {
    let one = attachment(1, 1000);
    assert!(validate_attachments(std::slice::from_ref(&one), false).is_ok());
    let error = validate_attachments(&[one.clone(), one.clone()], false).unwrap_err();
    assert_eq!(
        (error.field.as_str(), error.code()),
        ("attachments[1].hash", "Duplicate")
    );
    let error = validate_attachments(&[attachment(1, 0)], false).unwrap_err();
    assert_eq!(error.field, "attachments[0].size");
    let error =
        validate_attachments(&[attachment(1, MAX_ATTACHMENT_BYTES + 1)], false).unwrap_err();
    assert_eq!(error.code(), "OutOfRange");
    let many: Vec<_> = (0..=MAX_ATTACHMENTS as u8)
        .map(|i| attachment(i, 10))
        .collect();
    assert_eq!(
        validate_attachments(&many, false).unwrap_err().code(),
        "TooMany"
    );
    let full: Vec<_> = (0..MAX_ATTACHMENTS as u8)
        .map(|i| attachment(i, MAX_ATTACHMENT_BYTES))
        .collect();
    let error = validate_attachments(&full, false).unwrap_err();
    assert_eq!(
        (error.field.as_str(), error.code()),
        ("attachments", "OutOfRange")
    );
    let mut captioned = attachment(1, 10);
    captioned.caption = "line\nbreak".into();
    assert_eq!(
        validate_attachments(&[captioned], false)
            .unwrap_err()
            .code(),
        "ControlCharacter"
    );
    // A key belongs in a sealed record's attachments, and only there.
    assert_eq!(
        validate_attachments(std::slice::from_ref(&one), true)
            .unwrap_err()
            .code(),
        "Placement"
    );
    let (sealed, _) = SealedBlob::encrypt([7; 32], b"x").unwrap();
    let mut keyed = one;
    keyed.sealed = Some(sealed);
    assert!(validate_attachments(&[keyed.clone()], true).is_ok());
    assert_eq!(
        validate_attachments(&[keyed], false).unwrap_err().code(),
        "Placement"
    );
}

#[test]
fn a_sealed_blob_opens_with_its_key_only() {
    let (sealed, ciphertext) = SealedBlob::encrypt([9; 32], PHOTO).unwrap();
    assert_eq!(
        ciphertext.len() as u64,
        SealedBlob::ciphertext_size(PHOTO.len() as u64)
    );
    assert_eq!(sealed.ciphertext, BlobHash::of(&ciphertext));
    assert_eq!(sealed.decrypt(&ciphertext).as_deref(), Some(PHOTO));
    let other = SealedBlob {
        key: [8; 32],
        ciphertext: sealed.ciphertext,
    };
    assert_eq!(other.decrypt(&ciphertext), None);
    let mut flipped = ciphertext.clone();
    flipped[0] ^= 1;
    assert_eq!(sealed.decrypt(&flipped), None);
    assert!(
        !format!("{sealed:?}").contains("09"),
        "the key stays out of logs"
    );
}

#[test]
fn media_types_parse_from_content_type_headers() {
    assert_eq!(MediaType::parse("image/jpeg"), Some(MediaType::Jpeg));
    assert_eq!(
        MediaType::parse("IMAGE/PNG; charset=binary"),
        Some(MediaType::Png)
    );
    assert_eq!(MediaType::parse("application/pdf"), Some(MediaType::Pdf));
    assert_eq!(MediaType::parse("image/gif"), None);
    assert_eq!(MediaType::parse(""), None);
}
