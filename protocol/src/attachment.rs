//! Attachments: photos, X-ray images and documents a record lists by the SHA-256 of
//! their bytes, so that the author's signature covers them. The bytes (blobs) travel
//! apart from the entries, fetched on demand (SPEC.md section 15).
//!
//! What a blob may be is decided here, without I/O: its media type by its first
//! bytes ([`sniff`]), and the image metadata a node removes before hashing
//! ([`strip_metadata`]).

use std::fmt;

use bincode::{Decode, Encode};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};

use crate::body::check_text;
use crate::error::{Rule, ValidationError};
use crate::limits::{
    MAX_ATTACHMENTS, MAX_ATTACHMENT_BYTES, MAX_BLOB_CHUNK_BYTES, MAX_CAPTION_BYTES,
    MAX_IMAGE_PIXELS, MAX_RECORD_ATTACHMENT_BYTES,
};

/// SHA-256 of a blob's bytes, as stored and served.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Encode, Decode)]
pub struct BlobHash(pub [u8; 32]);

impl BlobHash {
    pub fn of(bytes: &[u8]) -> BlobHash {
        BlobHash(Sha256::digest(bytes).into())
    }

    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    pub fn from_hex(text: &str) -> Option<BlobHash> {
        let mut bytes = [0u8; 32];
        (text.len() == 64 && hex::decode_to_slice(text, &mut bytes).is_ok())
            .then_some(BlobHash(bytes))
    }
}

impl fmt::Display for BlobHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for BlobHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BlobHash({})", self.to_hex())
    }
}

impl Serialize for BlobHash {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_hex())
    }
}

impl<'de> Deserialize<'de> for BlobHash {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        BlobHash::from_hex(&text).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "blob hash {text:?} must be 64 lowercase hex digits (SHA-256)"
            ))
        })
    }
}

/// The media types an attachment may have.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Encode, Decode)]
pub enum MediaType {
    Jpeg,
    Png,
    Pdf,
}

impl MediaType {
    pub const ALL: [MediaType; 3] = [MediaType::Jpeg, MediaType::Png, MediaType::Pdf];

    /// The IANA media type, as in a Content-Type header.
    pub fn as_str(&self) -> &'static str {
        match self {
            MediaType::Jpeg => "image/jpeg",
            MediaType::Png => "image/png",
            MediaType::Pdf => "application/pdf",
        }
    }

    /// From a Content-Type value (parameters such as `; charset=` ignored).
    pub fn parse(content_type: &str) -> Option<MediaType> {
        let essence = content_type.split(';').next()?.trim();
        MediaType::ALL
            .into_iter()
            .find(|t| t.as_str().eq_ignore_ascii_case(essence))
    }

    pub fn is_image(&self) -> bool {
        matches!(self, MediaType::Jpeg | MediaType::Png)
    }
}

impl fmt::Display for MediaType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for MediaType {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for MediaType {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        MediaType::parse(&text).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "media type {text:?} is not accepted: image/jpeg, image/png or application/pdf"
            ))
        })
    }
}

/// One attachment of a record: which blob, how large, what it is, what it shows.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Attachment {
    /// SHA-256 of the blob's bytes (for a sealed record: of the plaintext).
    #[cfg_attr(feature = "openapi", schema(value_type = String, pattern = "^[0-9a-f]{64}$"))]
    pub hash: BlobHash,
    /// The blob's size in bytes (for a sealed record: of the plaintext).
    pub size: u64,
    #[cfg_attr(
        feature = "openapi",
        schema(value_type = String, example = "image/jpeg")
    )]
    pub media_type: MediaType,
    /// What the attachment shows; may be empty.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(max_length = 200))]
    pub caption: String,
    /// Only in a sealed record: the key the blob travels encrypted under and the hash
    /// of that ciphertext (what peers store, serve and are asked for).
    #[serde(skip)]
    pub sealed: Option<SealedBlob>,
}

/// How the blob of a sealed record's attachment travels: ChaCha20-Poly1305 under a
/// key of its own, named by the hash of the ciphertext (SPEC.md section 15).
#[derive(Clone, PartialEq, Eq, Encode, Decode)]
pub struct SealedBlob {
    pub key: [u8; 32],
    pub ciphertext: BlobHash,
}

impl fmt::Debug for SealedBlob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The key is a secret of the record's recipients.
        write!(f, "SealedBlob {{ ciphertext: {} }}", self.ciphertext)
    }
}

/// Associated data of a sealed blob's encryption.
pub const BLOB_DOMAIN: &[u8] = b"customs-network/blob/v1\0";

impl SealedBlob {
    /// The blob as it travels: ChaCha20-Poly1305 under `key` with a zero nonce (each
    /// key encrypts exactly one blob), tag last. A plaintext over the attachment
    /// limit is refused.
    pub fn encrypt(key: [u8; 32], plaintext: &[u8]) -> Result<(SealedBlob, Vec<u8>), BlobError> {
        use chacha20poly1305::aead::{Aead, KeyInit, Payload};
        let size = plaintext.len() as u64;
        if size > MAX_ATTACHMENT_BYTES {
            return Err(BlobError::TooLarge {
                size,
                max: MAX_ATTACHMENT_BYTES,
            });
        }
        let cipher = chacha20poly1305::ChaCha20Poly1305::new(&key.into());
        let payload = Payload {
            msg: plaintext,
            aad: BLOB_DOMAIN,
        };
        // The cipher refuses only messages of 256 GiB and more.
        let ciphertext =
            cipher
                .encrypt(&[0u8; 12].into(), payload)
                .map_err(|_| BlobError::TooLarge {
                    size,
                    max: MAX_ATTACHMENT_BYTES,
                })?;
        let sealed = SealedBlob {
            key,
            ciphertext: BlobHash::of(&ciphertext),
        };
        Ok((sealed, ciphertext))
    }

    /// The plaintext of this blob's ciphertext, or None when it does not open.
    pub fn decrypt(&self, ciphertext: &[u8]) -> Option<Vec<u8>> {
        use chacha20poly1305::aead::{Aead, KeyInit, Payload};
        let cipher = chacha20poly1305::ChaCha20Poly1305::new(&self.key.into());
        cipher
            .decrypt(
                &[0u8; 12].into(),
                Payload {
                    msg: ciphertext,
                    aad: BLOB_DOMAIN,
                },
            )
            .ok()
    }

    /// The size of the ciphertext of a plaintext of `size` bytes.
    pub fn ciphertext_size(size: u64) -> u64 {
        size + 16
    }
}

impl Attachment {
    /// The blob peers are asked for: the ciphertext's hash and size for a sealed
    /// record, the blob's own otherwise.
    pub fn stored_as(&self) -> (BlobHash, u64) {
        match &self.sealed {
            Some(sealed) => (sealed.ciphertext, SealedBlob::ciphertext_size(self.size)),
            None => (self.hash, self.size),
        }
    }
}

/// The rules of a record's attachment list: at most [`MAX_ATTACHMENTS`], each of 1 to
/// [`MAX_ATTACHMENT_BYTES`] bytes, all together at most
/// [`MAX_RECORD_ATTACHMENT_BYTES`], no blob twice, captions of one line, and a
/// [`SealedBlob`] exactly when `sealed` (the record travels in an envelope).
pub fn validate_attachments(list: &[Attachment], sealed: bool) -> Result<(), ValidationError> {
    if list.len() > MAX_ATTACHMENTS {
        return Err(ValidationError::new(
            "attachments",
            Rule::TooMany {
                count: list.len(),
                max: MAX_ATTACHMENTS,
            },
        ));
    }
    let mut total: u64 = 0;
    for (i, attachment) in list.iter().enumerate() {
        let field = |name: &str| format!("attachments[{i}].{name}");
        if attachment.size == 0 || attachment.size > MAX_ATTACHMENT_BYTES {
            return Err(ValidationError::new(
                field("size"),
                Rule::OutOfRange {
                    value: attachment.size,
                    min: 1,
                    max: MAX_ATTACHMENT_BYTES,
                },
            ));
        }
        total = total.saturating_add(attachment.size);
        if !attachment.caption.is_empty() {
            check_text(&attachment.caption, MAX_CAPTION_BYTES, false)
                .map_err(|rule| ValidationError::new(field("caption"), rule))?;
        }
        if list[..i].iter().any(|a| a.hash == attachment.hash) {
            return Err(ValidationError::new(
                field("hash"),
                Rule::Duplicate {
                    value: attachment.hash.to_hex(),
                },
            ));
        }
        if attachment.sealed.is_some() != sealed {
            return Err(ValidationError::new(
                field("sealed"),
                Rule::Placement {
                    reason: if sealed {
                        "an attachment of a sealed record carries its blob's key"
                    } else {
                        "only an attachment of a sealed record carries a key"
                    },
                },
            ));
        }
    }
    if total > MAX_RECORD_ATTACHMENT_BYTES {
        return Err(ValidationError::new(
            "attachments",
            Rule::OutOfRange {
                value: total,
                min: 1,
                max: MAX_RECORD_ATTACHMENT_BYTES,
            },
        ));
    }
    Ok(())
}

/// Why bytes are not an acceptable blob.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BlobError {
    #[error("the bytes are not {declared}: {found}")]
    WrongType {
        declared: MediaType,
        found: &'static str,
    },
    #[error("the {media_type} is malformed at byte {offset}: {reason}")]
    Malformed {
        media_type: MediaType,
        offset: usize,
        reason: &'static str,
    },
    #[error("the blob is empty")]
    Empty,
    #[error("the blob is {size} bytes, over the limit of {max} bytes")]
    TooLarge { size: u64, max: u64 },
    #[error("the image is {width}x{height} pixels, over the limit of {max} pixels")]
    TooManyPixels { width: u32, height: u32, max: u64 },
}

impl BlobError {
    pub fn code(&self) -> &'static str {
        match self {
            BlobError::WrongType { .. } => "WrongType",
            BlobError::Malformed { .. } => "Malformed",
            BlobError::Empty => "Empty",
            BlobError::TooLarge { .. } => "TooLarge",
            BlobError::TooManyPixels { .. } => "TooManyPixels",
        }
    }
}

/// The media type `bytes` start like, if any we accept.
pub fn sniff(bytes: &[u8]) -> Option<MediaType> {
    if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some(MediaType::Jpeg)
    } else if bytes.starts_with(PNG_SIGNATURE) {
        Some(MediaType::Png)
    } else if bytes.starts_with(b"%PDF-") {
        Some(MediaType::Pdf)
    } else {
        None
    }
}

const PNG_SIGNATURE: &[u8] = b"\x89PNG\r\n\x1a\n";

/// Checks that `bytes` are a `declared` blob within the size limit (an image also
/// within [`MAX_IMAGE_PIXELS`]), and returns them without image metadata: for JPEG
/// the EXIF and XMP segments (APP1), IPTC (APP13), comments (COM) and every other
/// application segment except JFIF (APP0), an ICC colour profile (APP2 named
/// `ICC_PROFILE`) and Adobe's colour transform (APP14), which decoding needs (an EXIF
/// orientation other than 1 is written back alone, in place of the EXIF), before the
/// first scan and between scans, and everything after the first image's end (a
/// phone's second image, a motion photo's video, a trailer);
/// for PNG every chunk but those that make the pixels (IHDR, PLTE, IDAT, IEND) and
/// the colour and transparency chunks (tRNS, gAMA, cHRM, sRGB, iCCP, sBIT). The
/// compressed image data is copied byte for byte: the pixels do not change. A PDF is
/// checked by its header only and kept as it is.
pub fn strip_metadata(declared: MediaType, bytes: &[u8]) -> Result<Vec<u8>, BlobError> {
    if bytes.is_empty() {
        return Err(BlobError::Empty);
    }
    if bytes.len() as u64 > MAX_ATTACHMENT_BYTES {
        return Err(BlobError::TooLarge {
            size: bytes.len() as u64,
            max: MAX_ATTACHMENT_BYTES,
        });
    }
    match sniff(bytes) {
        Some(found) if found == declared => {}
        found => {
            return Err(BlobError::WrongType {
                declared,
                found: match found {
                    Some(MediaType::Jpeg) => "they are a JPEG image",
                    Some(MediaType::Png) => "they are a PNG image",
                    Some(MediaType::Pdf) => "they are a PDF document",
                    None => "their first bytes are not a JPEG, PNG or PDF signature",
                },
            })
        }
    }
    match declared {
        MediaType::Jpeg => strip_jpeg(bytes),
        MediaType::Png => strip_png(bytes),
        MediaType::Pdf => Ok(bytes.to_vec()),
    }
}

fn strip_jpeg(bytes: &[u8]) -> Result<Vec<u8>, BlobError> {
    let malformed = |offset: usize, reason: &'static str| BlobError::Malformed {
        media_type: MediaType::Jpeg,
        offset,
        reason,
    };
    let mut out = Vec::with_capacity(bytes.len());
    out.extend_from_slice(&bytes[..2]); // SOI
    let mut at = 2;
    let mut oriented = false;
    let mut scanned = false;
    loop {
        // Markers may be padded with any number of 0xFF bytes.
        if bytes.get(at) != Some(&0xFF) {
            return Err(malformed(at, "a marker was expected"));
        }
        while bytes.get(at) == Some(&0xFF) {
            at += 1;
        }
        let Some(&marker) = bytes.get(at) else {
            return Err(malformed(at, "the file ends inside a marker"));
        };
        at += 1;
        match marker {
            // Markers without a length: RSTn, TEM (SOI again is malformed).
            0xD0..=0xD7 | 0x01 => {
                out.extend_from_slice(&[0xFF, marker]);
                continue;
            }
            0xD8 => return Err(malformed(at - 1, "a second start of image")),
            0xD9 if !scanned => return Err(malformed(at - 1, "the image ends before its scan")),
            0xD9 => {
                // The end of the first image: what follows (a phone's second image
                // in an MPO file, a motion photo's video, any trailer) is cut.
                out.extend_from_slice(&[0xFF, 0xD9]);
                return Ok(out);
            }
            _ => {}
        }
        let length = match bytes.get(at..at + 2) {
            Some(&[hi, lo]) => usize::from(u16::from_be_bytes([hi, lo])),
            _ => return Err(malformed(at, "the file ends inside a segment length")),
        };
        if length < 2 {
            return Err(malformed(at, "a segment length below 2"));
        }
        let end = at + length;
        if end > bytes.len() {
            return Err(malformed(at, "a segment runs past the end of the file"));
        }
        let payload = &bytes[at + 2..end];
        if is_frame_header(marker) {
            check_pixels(MediaType::Jpeg, at, frame_size(payload))?;
        }
        let keep = match marker {
            // APP0 (JFIF) and APP14 (Adobe colour transform): decoding needs them.
            0xE0 | 0xEE => true,
            // APP2 only for an ICC colour profile (not MPF, FlashPix or others).
            0xE2 => payload.starts_with(b"ICC_PROFILE\0"),
            // Every other application segment (EXIF, XMP, IPTC, maker data) and
            // comments, before the first scan or between scans.
            0xE1 | 0xE3..=0xED | 0xEF | 0xFE => false,
            _ => true,
        };
        // The EXIF orientation says how to turn the pixels to show them: it alone is
        // written back (as the only tag of a minimal EXIF), so a photo taken sideways
        // still shows upright.
        if marker == 0xE1 && !oriented && !scanned {
            if let Some(orientation) = exif_orientation(payload) {
                out.extend_from_slice(&orientation_segment(orientation));
                oriented = true;
            }
        }
        if keep {
            out.extend_from_slice(&[0xFF, marker]);
            out.extend_from_slice(&bytes[at..end]);
        }
        at = end;
        if marker == 0xDA {
            // Start of scan: the entropy-coded data runs to the next marker that is
            // not a stuffed 0xFF00 or a restart marker; it is copied byte for byte.
            let scan_end =
                scan_end(bytes, at).ok_or_else(|| malformed(at, "the file ends inside a scan"))?;
            out.extend_from_slice(&bytes[at..scan_end]);
            at = scan_end;
            scanned = true;
        }
    }
}

/// Where the entropy-coded data that starts at `from` ends: the offset of the first
/// marker in it other than a stuffed byte (0xFF00), a restart marker (0xFFD0 to
/// 0xFFD7) or fill bytes. `None` when the data runs to the end of the file.
fn scan_end(bytes: &[u8], from: usize) -> Option<usize> {
    let mut at = from;
    loop {
        at += bytes.get(at..)?.iter().position(|&b| b == 0xFF)?;
        let mut next = at + 1;
        while bytes.get(next) == Some(&0xFF) {
            next += 1;
        }
        match bytes.get(next)? {
            0x00 | 0xD0..=0xD7 => at = next + 1,
            _ => return Some(at),
        }
    }
}

/// Start-of-frame markers (SOF0 to SOF15 but DHT, JPG and DAC), whose segment gives
/// the image's height and width.
fn is_frame_header(marker: u8) -> bool {
    matches!(marker, 0xC0..=0xC3 | 0xC5..=0xC7 | 0xC9..=0xCB | 0xCD..=0xCF)
}

/// Width and height from a JPEG frame header's payload (precision, height, width).
fn frame_size(payload: &[u8]) -> Option<(u32, u32)> {
    let height = u16::from_be_bytes(payload.get(1..3)?.try_into().ok()?);
    let width = u16::from_be_bytes(payload.get(3..5)?.try_into().ok()?);
    Some((u32::from(width), u32::from(height)))
}

/// Refuses an image whose header is short, names no pixels, or more than
/// [`MAX_IMAGE_PIXELS`]: a small file that would take gigabytes to decode (a
/// decompression bomb) is never stored or shown.
fn check_pixels(
    media_type: MediaType,
    offset: usize,
    size: Option<(u32, u32)>,
) -> Result<(), BlobError> {
    let Some((width, height)) = size else {
        return Err(BlobError::Malformed {
            media_type,
            offset,
            reason: "an image header too short for its size",
        });
    };
    let pixels = u64::from(width) * u64::from(height);
    if pixels == 0 {
        return Err(BlobError::Malformed {
            media_type,
            offset,
            reason: "an image of no pixels",
        });
    }
    if pixels > MAX_IMAGE_PIXELS {
        return Err(BlobError::TooManyPixels {
            width,
            height,
            max: MAX_IMAGE_PIXELS,
        });
    }
    Ok(())
}

/// Checks an image already held (an upload of an earlier version, a blob fetched
/// from a member) by the rules an upload meets now, before it is served to a
/// browser: a well-formed JPEG or PNG of at most [`MAX_IMAGE_PIXELS`]. A PDF passes.
pub fn check_image(media_type: MediaType, bytes: &[u8]) -> Result<(), BlobError> {
    if media_type.is_image() {
        strip_metadata(media_type, bytes)?;
    }
    Ok(())
}

/// The orientation (2 to 8) an EXIF segment's first image directory gives, if it
/// gives one other than 1 (as stored). `payload` is the APP1 segment after its length.
fn exif_orientation(payload: &[u8]) -> Option<u16> {
    let tiff = payload.strip_prefix(b"Exif\0\0")?;
    let big_endian = match tiff.get(..2)? {
        b"MM" => true,
        b"II" => false,
        _ => return None,
    };
    let u16_at = |at: usize| -> Option<u16> {
        let b: [u8; 2] = tiff.get(at..at.checked_add(2)?)?.try_into().ok()?;
        Some(if big_endian {
            u16::from_be_bytes(b)
        } else {
            u16::from_le_bytes(b)
        })
    };
    let u32_at = |at: usize| -> Option<u32> {
        let b: [u8; 4] = tiff.get(at..at.checked_add(4)?)?.try_into().ok()?;
        Some(if big_endian {
            u32::from_be_bytes(b)
        } else {
            u32::from_le_bytes(b)
        })
    };
    if u16_at(2)? != 42 {
        return None;
    }
    let ifd = usize::try_from(u32_at(4)?).ok()?;
    let entries = usize::from(u16_at(ifd)?);
    (0..entries).find_map(|i| {
        let entry = ifd.checked_add(2 + 12 * i)?;
        // Tag 0x0112, type SHORT, one value, stored in the entry itself.
        let is_orientation =
            u16_at(entry)? == 0x0112 && u16_at(entry + 2)? == 3 && u32_at(entry + 4)? == 1;
        let value = u16_at(entry + 8)?;
        (is_orientation && (2..=8).contains(&value)).then_some(value)
    })
}

/// An APP1 segment holding a minimal EXIF: one image directory with the orientation
/// only (big-endian TIFF).
fn orientation_segment(orientation: u16) -> [u8; 36] {
    let mut segment = [0u8; 36];
    segment[..4].copy_from_slice(&[0xFF, 0xE1, 0x00, 34]);
    segment[4..10].copy_from_slice(b"Exif\0\0");
    // TIFF header: big endian, 42, first directory at offset 8.
    segment[10..18].copy_from_slice(&[b'M', b'M', 0, 42, 0, 0, 0, 8]);
    // One entry: tag 0x0112, type 3 (SHORT), count 1, the value; no next directory.
    segment[18..20].copy_from_slice(&[0, 1]);
    segment[20..28].copy_from_slice(&[0x01, 0x12, 0, 3, 0, 0, 0, 1]);
    segment[28..30].copy_from_slice(&orientation.to_be_bytes());
    segment
}

/// PNG chunks kept: the image and how to show its colours. Any other chunk (text,
/// XMP in iTXt, eXIf, time, private chunks) is dropped.
const PNG_KEPT: [&[u8; 4]; 10] = [
    b"IHDR", b"PLTE", b"IDAT", b"IEND", b"tRNS", b"gAMA", b"cHRM", b"sRGB", b"iCCP", b"sBIT",
];

fn strip_png(bytes: &[u8]) -> Result<Vec<u8>, BlobError> {
    let malformed = |offset: usize, reason: &'static str| BlobError::Malformed {
        media_type: MediaType::Png,
        offset,
        reason,
    };
    let mut out = Vec::with_capacity(bytes.len());
    out.extend_from_slice(PNG_SIGNATURE);
    let mut at = PNG_SIGNATURE.len();
    let mut first = true;
    loop {
        let Some(header) = bytes.get(at..at + 8) else {
            return Err(malformed(at, "the file ends before its IEND chunk"));
        };
        let length = u32::from_be_bytes([header[0], header[1], header[2], header[3]]) as usize;
        let kind: [u8; 4] = [header[4], header[5], header[6], header[7]];
        let end = at
            .checked_add(12)
            .and_then(|e| e.checked_add(length))
            .filter(|&e| e <= bytes.len())
            .ok_or_else(|| malformed(at, "a chunk runs past the end of the file"))?;
        let crc = u32::from_be_bytes([
            bytes[end - 4],
            bytes[end - 3],
            bytes[end - 2],
            bytes[end - 1],
        ]);
        if crc32fast::hash(&bytes[at + 4..end - 4]) != crc {
            return Err(malformed(at, "a chunk's CRC does not match its bytes"));
        }
        if first && &kind != b"IHDR" {
            return Err(malformed(at, "the first chunk is not IHDR"));
        }
        if first {
            let size = bytes.get(at + 8..at + 16).map(|d| {
                let word = |i: usize| u32::from_be_bytes([d[i], d[i + 1], d[i + 2], d[i + 3]]);
                (word(0), word(4))
            });
            check_pixels(MediaType::Png, at, size.filter(|_| length >= 8))?;
        }
        first = false;
        if PNG_KEPT.iter().any(|k| **k == kind) {
            out.extend_from_slice(&bytes[at..end]);
        }
        at = end;
        if &kind == b"IEND" {
            if at != bytes.len() {
                return Err(malformed(at, "bytes follow the IEND chunk"));
            }
            return Ok(out);
        }
    }
}

/// The protocol blobs are fetched over (request-response, one chunk per request).
pub const BLOB_PROTOCOL: &str = "/customs-network/blob/1";

/// "Send me `max_len` bytes (at most [`MAX_BLOB_CHUNK_BYTES`]) of the blob `hash`
/// from byte `offset`."
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct BlobRequest {
    pub hash: BlobHash,
    pub offset: u64,
    pub max_len: u32,
}

/// The answer to a [`BlobRequest`].
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub enum BlobResponse {
    /// Bytes from the asked offset (fewer than asked only at the blob's end), and the
    /// blob's whole size.
    Chunk { size: u64, bytes: Vec<u8> },
    /// This node holds no blob of that hash that it may serve.
    NotFound,
}

/// Largest encoded blob request.
pub const MAX_BLOB_REQUEST_BYTES: usize = 64;
/// Largest encoded blob response: a full chunk and its framing.
pub const MAX_BLOB_RESPONSE_BYTES: usize = MAX_BLOB_CHUNK_BYTES as usize + 32;

impl BlobRequest {
    pub fn encode(&self) -> Vec<u8> {
        crate::codec::encode(self)
    }

    pub fn decode(bytes: &[u8]) -> Result<BlobRequest, crate::DecodeError> {
        let request = crate::codec::decode_canonical::<BlobRequest, MAX_BLOB_REQUEST_BYTES>(
            "blob request",
            bytes,
            0,
        )?;
        Ok(request)
    }

    /// The bounds a server enforces before reading anything.
    pub fn validate(&self) -> Result<(), ValidationError> {
        if self.max_len == 0 || self.max_len > MAX_BLOB_CHUNK_BYTES {
            return Err(ValidationError::new(
                "max_len",
                Rule::OutOfRange {
                    value: self.max_len.into(),
                    min: 1,
                    max: MAX_BLOB_CHUNK_BYTES.into(),
                },
            ));
        }
        if self.offset >= MAX_ATTACHMENT_BYTES + 16 {
            return Err(ValidationError::new(
                "offset",
                Rule::OutOfRange {
                    value: self.offset,
                    min: 0,
                    max: MAX_ATTACHMENT_BYTES + 15,
                },
            ));
        }
        Ok(())
    }
}

impl BlobResponse {
    pub fn encode(&self) -> Vec<u8> {
        crate::codec::encode(self)
    }

    pub fn decode(bytes: &[u8]) -> Result<BlobResponse, crate::DecodeError> {
        crate::codec::decode_canonical::<BlobResponse, MAX_BLOB_RESPONSE_BYTES>(
            "blob response",
            bytes,
            0,
        )
    }
}

#[cfg(test)]
mod tests;
