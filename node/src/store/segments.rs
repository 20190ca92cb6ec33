//! The signed log's bytes: append-only segment files beside the index.
//!
//! A segment is a file `segments/NNNNNNNN.log` of frames: the entry's length (4 bytes,
//! big endian), the CRC-32 of the entry bytes (4, BE), then the signed entry exactly as
//! signed. A frame never spans two segments: a new segment starts when the next frame
//! would take the current one past [`SEGMENT_BYTES`]. Frames are written in batches and
//! made durable (fdatasync) before the index rows that point at them are committed, so
//! the index never names a frame that is not on disk. What lies past the index's end
//! after a crash is read frame by frame at open (`Store::recover_tail`).

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use customs_protocol::limits::MAX_SIGNED_ENTRY_BYTES;

use super::StoreError;

/// A segment is closed once its next frame would pass this size.
pub const SEGMENT_BYTES: u32 = 64 << 20;
/// Length and checksum before each entry.
pub const FRAME_HEADER_BYTES: u32 = 8;
/// Open segment files kept; older ones are opened again when read.
const MAX_OPEN_SEGMENTS: usize = 64;

/// Where a frame starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Position {
    pub segment: u32,
    pub offset: u32,
}

impl Position {
    pub fn encode(self) -> [u8; 8] {
        let mut out = [0u8; 8];
        out[..4].copy_from_slice(&self.segment.to_be_bytes());
        out[4..].copy_from_slice(&self.offset.to_be_bytes());
        out
    }

    pub fn decode(bytes: &[u8]) -> Result<Position, StoreError> {
        let bytes: [u8; 8] = bytes.try_into().map_err(|_| StoreError::Corrupt {
            what: format!("a log position of {} bytes, not 8", bytes.len()),
        })?;
        Ok(Position {
            segment: u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]),
            offset: u32::from_be_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]),
        })
    }

    /// Where the frame of an entry of `entry_len` bytes goes when the log ends here:
    /// here, or at the start of the next segment when it would not fit.
    pub fn place(self, entry_len: usize) -> Position {
        let fits = u64::from(self.offset) + u64::from(FRAME_HEADER_BYTES) + entry_len as u64
            <= u64::from(SEGMENT_BYTES);
        if fits || self.offset == 0 {
            self
        } else {
            Position {
                segment: self.segment + 1,
                offset: 0,
            }
        }
    }

    /// The end of the frame of `entry_len` bytes that starts here.
    pub fn after(self, entry_len: usize) -> Position {
        Position {
            segment: self.segment,
            offset: self.offset + FRAME_HEADER_BYTES + entry_len as u32,
        }
    }
}

impl std::fmt::Display for Position {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "segment {} offset {}", self.segment, self.offset)
    }
}

/// An entry's frame: length, checksum, bytes.
pub fn frame(entry: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(FRAME_HEADER_BYTES as usize + entry.len());
    out.extend_from_slice(&(entry.len() as u32).to_be_bytes());
    out.extend_from_slice(&crc32fast::hash(entry).to_be_bytes());
    out.extend_from_slice(entry);
    out
}

/// The entry in a frame's header and what follows it, when the frame is whole and its
/// checksum holds.
fn unframe(header: [u8; 8], body: &[u8]) -> Option<&[u8]> {
    let len = u32::from_be_bytes([header[0], header[1], header[2], header[3]]) as usize;
    let crc = u32::from_be_bytes([header[4], header[5], header[6], header[7]]);
    let entry = body.get(..len)?;
    (len <= MAX_SIGNED_ENTRY_BYTES && crc32fast::hash(entry) == crc).then_some(entry)
}

/// The segment files of one store.
#[derive(Debug)]
pub struct Segments {
    dir: PathBuf,
    files: Mutex<HashMap<u32, Arc<File>>>,
}

impl Segments {
    /// The segments in `dir` (created, mode 0700, when missing).
    pub fn open(dir: &Path) -> io::Result<Segments> {
        crate::files::create_private_dir(dir)?;
        Ok(Segments {
            dir: dir.to_path_buf(),
            files: Mutex::new(HashMap::new()),
        })
    }

    fn path(&self, segment: u32) -> PathBuf {
        self.dir.join(format!("{segment:08}.log"))
    }

    fn file(&self, segment: u32, create: bool) -> io::Result<Arc<File>> {
        let mut files = super::lock(&self.files);
        if let Some(file) = files.get(&segment) {
            return Ok(file.clone());
        }
        let path = self.path(segment);
        let existed = path.exists();
        let file = Arc::new(
            OpenOptions::new()
                .read(true)
                .write(true)
                .create(create)
                .truncate(false)
                .mode(0o600)
                .open(&path)?,
        );
        if create && !existed {
            // The new file's name must be durable with its first frames.
            File::open(&self.dir)?.sync_all()?;
        }
        if files.len() >= MAX_OPEN_SEGMENTS {
            files.clear();
        }
        files.insert(segment, file.clone());
        Ok(file)
    }

    /// The entry bytes of the frame at `at`, checked against the frame's checksum.
    pub fn read(&self, at: Position) -> Result<Vec<u8>, StoreError> {
        let damaged = |why: &str| StoreError::Corrupt {
            what: format!("the log frame at {at} {why}"),
        };
        let file = self.file(at.segment, false).map_err(io_error)?;
        let mut header = [0u8; 8];
        file.read_exact_at(&mut header, u64::from(at.offset))
            .map_err(|_| damaged("is cut short"))?;
        let len = u32::from_be_bytes([header[0], header[1], header[2], header[3]]) as usize;
        if len > MAX_SIGNED_ENTRY_BYTES {
            return Err(damaged("claims more bytes than an entry may have"));
        }
        let mut body = vec![0u8; len];
        file.read_exact_at(&mut body, u64::from(at.offset + FRAME_HEADER_BYTES))
            .map_err(|_| damaged("is cut short"))?;
        if unframe(header, &body).is_none() {
            return Err(damaged("fails its checksum"));
        }
        Ok(body)
    }

    /// A reader of frames in log order: one read brings many consecutive frames.
    pub fn reader(&self) -> Reader<'_> {
        Reader {
            segments: self,
            at: Position::default(),
            buffer: Vec::new(),
        }
    }

    /// Writes framed bytes at `at` (not yet durable: see [`Segments::sync`]).
    pub fn write(&self, at: Position, bytes: &[u8]) -> io::Result<()> {
        self.file(at.segment, true)?
            .write_all_at(bytes, u64::from(at.offset))
    }

    /// Makes what was written to `segment` durable.
    pub fn sync(&self, segment: u32) -> io::Result<()> {
        self.file(segment, true)?.sync_data()
    }

    /// The whole frames from `from` on, in order, up to the first incomplete or damaged
    /// one or the end of the log: a segment is followed into the next only when it
    /// ends exactly after a whole frame.
    pub fn tail(&self, from: Position) -> io::Result<Vec<(Position, Vec<u8>)>> {
        let mut frames = Vec::new();
        let mut at = from;
        loop {
            // Only what lies past `at` is read.
            let bytes = match File::open(self.path(at.segment)) {
                Ok(mut file) => {
                    use std::io::{Read, Seek};
                    let mut bytes = Vec::new();
                    file.seek(io::SeekFrom::Start(u64::from(at.offset)))?;
                    file.read_to_end(&mut bytes)?;
                    bytes
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(frames),
                Err(e) => return Err(e),
            };
            let mut read = 0usize;
            while let Some(header) = bytes.get(read..read + 8) {
                let header: [u8; 8] = header.try_into().unwrap_or_default();
                let Some(entry) = unframe(header, &bytes[read + 8..]) else {
                    return Ok(frames);
                };
                let position = Position {
                    segment: at.segment,
                    offset: at.offset + read as u32,
                };
                frames.push((position, entry.to_vec()));
                read += 8 + entry.len();
            }
            if read != bytes.len() {
                return Ok(frames);
            }
            at = Position {
                segment: at.segment + 1,
                offset: 0,
            };
        }
    }

    /// Cuts the log at `at`: the segment is truncated there and later segments are
    /// removed (what lies past the index's end was never acknowledged).
    pub fn cut(&self, at: Position) -> io::Result<()> {
        super::lock(&self.files).clear();
        let mut removed = false;
        for entry in std::fs::read_dir(&self.dir)? {
            let entry = entry?;
            let name = entry.file_name();
            let Some(segment) = name
                .to_str()
                .and_then(|n| n.strip_suffix(".log"))
                .and_then(|n| n.parse::<u32>().ok())
            else {
                continue;
            };
            if segment > at.segment {
                std::fs::remove_file(entry.path())?;
                removed = true;
            }
        }
        match OpenOptions::new().write(true).open(self.path(at.segment)) {
            Ok(file) => {
                if file.metadata()?.len() > u64::from(at.offset) {
                    file.set_len(u64::from(at.offset))?;
                    file.sync_all()?;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        if removed {
            File::open(&self.dir)?.sync_all()?;
        }
        Ok(())
    }

    /// Bytes the segment files take.
    pub fn size_on_disk(&self) -> io::Result<u64> {
        let mut total = 0;
        for entry in std::fs::read_dir(&self.dir)? {
            total += entry?.metadata()?.len();
        }
        Ok(total)
    }

    /// Closes the open files (before the store is reopened).
    pub fn close_files(&self) {
        super::lock(&self.files).clear();
    }
}

/// Reads frames through a window of the segment: a frame inside the window is taken
/// from it, any other one moves the window there.
pub struct Reader<'a> {
    segments: &'a Segments,
    /// Where the window starts, and its bytes.
    at: Position,
    buffer: Vec<u8>,
}

/// Bytes read at once.
const READ_WINDOW_BYTES: usize = 256 << 10;

impl Reader<'_> {
    /// The entry bytes of the frame at `at`, checked against the frame's checksum.
    pub fn read(&mut self, at: Position) -> Result<Vec<u8>, StoreError> {
        if let Some(entry) = self.in_window(at) {
            return Ok(entry);
        }
        let file = self.segments.file(at.segment, false).map_err(io_error)?;
        self.buffer.resize(READ_WINDOW_BYTES, 0);
        let mut filled = 0;
        while filled < self.buffer.len() {
            let offset = u64::from(at.offset) + filled as u64;
            match file.read_at(&mut self.buffer[filled..], offset) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(io_error(e)),
            }
        }
        self.buffer.truncate(filled);
        self.at = at;
        match self.in_window(at) {
            Some(entry) => Ok(entry),
            // A frame larger than the window, or a damaged one: read it alone.
            None => self.segments.read(at),
        }
    }

    fn in_window(&self, at: Position) -> Option<Vec<u8>> {
        if at.segment != self.at.segment || at.offset < self.at.offset {
            return None;
        }
        let start = (at.offset - self.at.offset) as usize;
        let header: [u8; 8] = self.buffer.get(start..start + 8)?.try_into().ok()?;
        unframe(header, self.buffer.get(start + 8..)?).map(<[u8]>::to_vec)
    }
}

/// An I/O failure of the segment files, reported like the index's own.
pub fn io_error(error: io::Error) -> StoreError {
    StoreError::Io(error.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_round_trip_and_roll_over() {
        let at = Position {
            segment: 3,
            offset: 77,
        };
        assert_eq!(Position::decode(&at.encode()).ok(), Some(at));
        assert!(Position::decode(&[0; 7]).is_err());
        let near_end = Position {
            segment: 3,
            offset: SEGMENT_BYTES - 100,
        };
        assert_eq!(near_end.place(92), near_end);
        assert_eq!(
            near_end.place(93),
            Position {
                segment: 4,
                offset: 0
            }
        );
        // A frame is never refused for its size: an empty segment takes any.
        let empty = Position::default();
        assert_eq!(empty.place(SEGMENT_BYTES as usize), empty);
    }

    #[test]
    fn the_reader_serves_frames_in_and_out_of_order_across_windows() {
        let dir = tempfile::tempdir().expect("tempdir");
        let segments = Segments::open(dir.path()).expect("open");
        let mut at = Position::default();
        let mut written = Vec::new();
        let mut run = Vec::new();
        // About 2.5 windows of frames of varied sizes.
        for n in 0..2_000usize {
            let entry = vec![(n % 251) as u8; 200 + n % 200];
            run.extend_from_slice(&frame(&entry));
            written.push((at, entry.clone()));
            at = at.after(entry.len());
        }
        segments.write(Position::default(), &run).expect("write");
        let mut reader = segments.reader();
        for (at, entry) in &written {
            assert_eq!(&reader.read(*at).expect("read"), entry, "{at}");
        }
        for (at, entry) in written.iter().rev().step_by(97) {
            assert_eq!(&reader.read(*at).expect("read"), entry, "{at}");
        }
        let past_the_end = at;
        assert!(reader.read(past_the_end).is_err());
    }

    #[test]
    fn tail_stops_at_the_first_damaged_frame() {
        let dir = tempfile::tempdir().expect("tempdir");
        let segments = Segments::open(dir.path()).expect("open");
        let first = frame(b"first entry");
        let second = frame(b"second");
        segments.write(Position::default(), &first).expect("write");
        let second_at = Position::default().after(11);
        segments.write(second_at, &second).expect("write");
        let tail = segments.tail(Position::default()).expect("tail");
        assert_eq!(tail.len(), 2);
        assert_eq!(tail[1], (second_at, b"second".to_vec()));
        assert_eq!(segments.read(second_at).ok(), Some(b"second".to_vec()));
        // A flipped byte in the first frame ends the tail before it.
        let mut damaged = first.clone();
        damaged[10] ^= 1;
        segments
            .write(Position::default(), &damaged)
            .expect("write");
        assert!(segments.tail(Position::default()).expect("tail").is_empty());
        assert!(segments.read(Position::default()).is_err());
        segments.cut(Position::default()).expect("cut");
        assert_eq!(segments.size_on_disk().expect("size"), 0);
    }

    #[test]
    fn the_tail_goes_on_into_the_next_segment_only_after_a_whole_one() {
        let dir = tempfile::tempdir().expect("tempdir");
        let segments = Segments::open(dir.path()).expect("open");
        let next = Position {
            segment: 1,
            offset: 0,
        };
        segments
            .write(Position::default(), &frame(b"one"))
            .expect("write");
        segments.write(next, &frame(b"two")).expect("write");
        let tail = segments.tail(Position::default()).expect("tail");
        assert_eq!(
            tail,
            [
                (Position::default(), b"one".to_vec()),
                (next, b"two".to_vec())
            ]
        );
        // Segment 0 torn: segment 1 is not reached, and a cut removes it.
        segments
            .write(Position::default().after(3), b"\0\0")
            .expect("write");
        assert_eq!(segments.tail(Position::default()).expect("tail").len(), 1);
        segments.cut(Position::default().after(3)).expect("cut");
        assert!(!dir.path().join("00000001.log").exists());
        assert_eq!(segments.size_on_disk().expect("size"), 11);
    }
}
