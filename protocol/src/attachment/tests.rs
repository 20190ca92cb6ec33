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

/// A JPEG segment: marker and payload with its length.
fn segment(marker: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = vec![0xFF, marker];
    out.extend_from_slice(&((payload.len() + 2) as u16).to_be_bytes());
    out.extend_from_slice(payload);
    out
}

/// A progressive-style JPEG as phones write MPO files: EXIF with GPS and a serial,
/// an MPF index (APP2), an ICC profile (APP2), a frame of `width` x `height`, two
/// scans with a comment and an XMP packet between them, stuffed bytes and restart
/// markers in the scan data, then `tail` after the end of the first image.
fn phone_like_jpeg(width: u16, height: u16, tail: &[u8]) -> Vec<u8> {
    let mut jpeg = vec![0xFF, 0xD8];
    jpeg.extend(segment(0xE1, b"Exif\0\0MM\0\x2a GPSLatitude 52.1 SN-98765"));
    jpeg.extend(segment(0xE2, b"MPF\0MM\0\x2a second image index"));
    jpeg.extend(segment(0xE2, b"ICC_PROFILE\0\x01\x01 sRGB profile bytes"));
    let mut frame = vec![8];
    frame.extend_from_slice(&height.to_be_bytes());
    frame.extend_from_slice(&width.to_be_bytes());
    frame.extend_from_slice(&[1, 1, 0x11, 0]);
    jpeg.extend(segment(0xC2, &frame));
    jpeg.extend(segment(0xC4, &[0, 1, 2, 3]));
    jpeg.extend(segment(0xDA, &[1, 1, 0, 0, 63, 0]));
    jpeg.extend_from_slice(&[0x12, 0xFF, 0x00, 0x34, 0xFF, 0xD0, 0x56]);
    jpeg.extend(segment(0xFE, b"officer 4711 between scans"));
    jpeg.extend(segment(
        0xE1,
        b"http://ns.adobe.com/xap/1.0/ serial SN-98765",
    ));
    jpeg.extend(segment(0xDA, &[1, 1, 0, 1, 63, 0]));
    jpeg.extend_from_slice(&[0x78, 0x9A, 0xFF, 0x00]);
    jpeg.extend_from_slice(&[0xFF, 0xD9]);
    jpeg.extend_from_slice(tail);
    jpeg
}

#[test]
fn a_phone_jpeg_loses_metadata_between_scans_its_second_image_and_its_tail() {
    // The second image of an MPO file carries its own EXIF (GPS, serial).
    let mut second = vec![0xFF, 0xD8];
    second.extend(segment(0xE1, b"Exif\0\0MM GPSLatitude 52.1 SN-98765"));
    second.extend_from_slice(&[0xFF, 0xD9]);
    for tail in [
        &second[..],
        b"MotionPhoto_Data ftypmp42 video bytes",
        b"\0\0trailer",
    ] {
        let jpeg = phone_like_jpeg(4000, 3000, tail);
        let stripped = strip_metadata(MediaType::Jpeg, &jpeg).unwrap();
        for secret in [
            &b"GPSLatitude"[..],
            b"SN-98765",
            b"officer 4711",
            b"MPF\0",
            b"ftyp",
            b"trailer",
        ] {
            assert!(
                !stripped.windows(secret.len()).any(|w| w == secret),
                "{:?} left",
                String::from_utf8_lossy(secret)
            );
        }
        assert!(
            stripped.windows(12).any(|w| w == b"ICC_PROFILE\0"),
            "the colour profile stays"
        );
        assert!(
            stripped.ends_with(&[0xFF, 0xD9]),
            "cut at the first image's end"
        );
        // Both scans' data, stuffed bytes and restart markers included, byte for byte.
        for scan in [
            &[0x12, 0xFF, 0x00, 0x34, 0xFF, 0xD0, 0x56][..],
            &[0x78, 0x9A, 0xFF, 0x00],
        ] {
            assert!(stripped.windows(scan.len()).any(|w| w == scan));
        }
        assert_eq!(
            strip_metadata(MediaType::Jpeg, &stripped).unwrap(),
            stripped,
            "idempotent"
        );
    }
}

#[test]
fn decompression_bombs_are_refused_whatever_their_file_size() {
    let bomb = phone_like_jpeg(65_500, 65_500, b"");
    let refused = strip_metadata(MediaType::Jpeg, &bomb).unwrap_err();
    assert_eq!(refused.code(), "TooManyPixels", "{refused}");
    assert!(check_image(MediaType::Jpeg, &bomb).is_err());
    // 10,000 x 10,000 is the limit exactly; one row more is not.
    assert!(strip_metadata(MediaType::Jpeg, &phone_like_jpeg(10_000, 10_000, b"")).is_ok());
    assert!(strip_metadata(MediaType::Jpeg, &phone_like_jpeg(10_000, 10_001, b"")).is_err());
    assert_eq!(
        strip_metadata(MediaType::Jpeg, &phone_like_jpeg(0, 10, b""))
            .unwrap_err()
            .code(),
        "Malformed"
    );
    // A PNG that says 60,000 x 60,000 in its header.
    let mut png = XRAY.to_vec();
    png[16..24].copy_from_slice(&[0, 0, 0xEA, 0x60, 0, 0, 0xEA, 0x60]);
    let crc = crc32fast::hash(&png[12..29]);
    png[29..33].copy_from_slice(&crc.to_be_bytes());
    assert_eq!(
        strip_metadata(MediaType::Png, &png).unwrap_err().code(),
        "TooManyPixels"
    );
    assert!(check_image(MediaType::Png, XRAY).is_ok());
    assert!(check_image(MediaType::Pdf, b"%PDF-1.7").is_ok());
}
