//! The one place that calls bincode. The layout it produces is written down in SPEC.md
//! (varint integers, little endian), so the format does not depend on the crate.

use bincode::config::{self, Configuration, Limit, LittleEndian, Varint};
use bincode::de::read::Reader;
use bincode::de::{Decoder, DecoderImpl};
use bincode::{Decode, Encode};

use crate::error::DecodeError;

fn limited<const LIMIT: usize>() -> Configuration<LittleEndian, Varint, Limit<LIMIT>> {
    config::standard().with_limit::<LIMIT>()
}

/// Encodes a value in the canonical layout.
pub(crate) fn encode<T: Encode>(value: &T) -> Vec<u8> {
    // Writing to a Vec with no limit and derived Encode impls has no failure path.
    bincode::encode_to_vec(value, config::standard())
        .expect("encoding to a Vec without a limit cannot fail")
}

/// Appends the canonical encoding of `value` to `out`.
pub(crate) fn encode_into<T: Encode>(value: &T, out: &mut Vec<u8>) {
    out.extend_from_slice(&encode(value));
}

/// A slice reader that remembers how far it got, so errors can name a byte offset.
struct OffsetReader<'a> {
    bytes: &'a [u8],
    offset: usize,
}

impl Reader for OffsetReader<'_> {
    fn read(&mut self, out: &mut [u8]) -> Result<(), bincode::error::DecodeError> {
        let end = self.offset.saturating_add(out.len());
        match self.bytes.get(self.offset..end) {
            Some(src) => {
                out.copy_from_slice(src);
                self.offset = end;
                Ok(())
            }
            None => Err(bincode::error::DecodeError::UnexpectedEnd {
                additional: end - self.bytes.len(),
            }),
        }
    }
}

/// The length prefix at the start of `bytes` (a varint, as before a byte string) and
/// how many bytes it takes.
pub(crate) fn length_prefix(what: &'static str, bytes: &[u8]) -> Result<(u64, usize), DecodeError> {
    let mut decoder = DecoderImpl::new(OffsetReader { bytes, offset: 0 }, config::standard(), ());
    let decoded = u64::decode(&mut decoder);
    let offset = decoder.reader().offset;
    let length = decoded.map_err(|e| DecodeError::from_bincode(what, offset, e))?;
    Ok((length, offset))
}

/// Decodes exactly one `T` from untrusted bytes.
///
/// The size is checked before anything is allocated (and bincode's limit bounds every
/// length prefix to `LIMIT`), trailing bytes are rejected, and so is any encoding that
/// differs from the canonical one (decode then encode must give the same bytes).
/// `base_offset` is added to the offsets in errors when `bytes` is a part of a larger
/// buffer.
pub(crate) fn decode_canonical<T, const LIMIT: usize>(
    what: &'static str,
    bytes: &[u8],
    base_offset: usize,
) -> Result<T, DecodeError>
where
    T: Decode<()> + Encode,
{
    if bytes.len() > LIMIT {
        return Err(DecodeError::TooLarge {
            what,
            size: bytes.len(),
            limit: LIMIT,
        });
    }
    let mut decoder = DecoderImpl::new(OffsetReader { bytes, offset: 0 }, limited::<LIMIT>(), ());
    let decoded = T::decode(&mut decoder);
    let offset = decoder.reader().offset;
    let value = decoded.map_err(|e| DecodeError::from_bincode(what, base_offset + offset, e))?;
    if offset != bytes.len() {
        return Err(DecodeError::TrailingBytes {
            what,
            offset: base_offset + offset,
            count: bytes.len() - offset,
        });
    }
    let canonical = encode(&value);
    if canonical != bytes {
        let first_difference = canonical
            .iter()
            .zip(bytes)
            .position(|(a, b)| a != b)
            .unwrap_or(canonical.len().min(bytes.len()));
        return Err(DecodeError::NonCanonical {
            what,
            offset: base_offset + first_difference,
        });
    }
    Ok(value)
}
