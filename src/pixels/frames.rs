//! Decoded frames as plan segments: one encapsulated frame of the source, decoded and masked
//! when first read, then kept in a cache bounded in bytes.
//!
//! The guarantee is a plan segment's: the length is the decoded frame size, fixed from the
//! header when the plan is made; the bytes depend only on the source ranges, the codec and
//! the mask; any sub-range can be read (the whole frame is decoded once and the range copied
//! out). A frame that does not decode to exactly that size fails the read: nothing is served
//! in its place. Concurrent first readers of a frame wait for one decode.

use super::decode::{self, Codec};
use super::geometry::Geometry;
use super::mask::Mask;
use crate::io::ReadAt;
use lru::LruCache;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// Decoded frames, least recently used first out, at most `budget` bytes in all.
#[derive(Debug)]
pub struct FrameCache {
    budget: u64,
    state: Mutex<Held>,
}

#[derive(Debug)]
struct Held {
    frames: LruCache<u64, Arc<[u8]>>,
    bytes: u64,
}

impl FrameCache {
    /// A cache of `budget` bytes; 0 keeps nothing (each read decodes).
    pub fn new(budget: u64) -> Arc<FrameCache> {
        Arc::new(FrameCache {
            budget,
            state: Mutex::new(Held {
                frames: LruCache::unbounded(),
                bytes: 0,
            }),
        })
    }

    /// Bytes held now.
    pub fn bytes(&self) -> u64 {
        crate::lock(&self.state).bytes
    }

    fn get(&self, id: u64) -> Option<Arc<[u8]>> {
        crate::lock(&self.state).frames.get(&id).cloned()
    }

    fn put(&self, id: u64, frame: Arc<[u8]>) {
        let len = frame.len() as u64;
        if len > self.budget {
            return;
        }
        let mut held = crate::lock(&self.state);
        if let Some(old) = held.frames.put(id, frame) {
            held.bytes -= old.len() as u64;
        }
        held.bytes += len;
        while held.bytes > self.budget {
            match held.frames.pop_lru() {
                Some((_, f)) => held.bytes -= f.len() as u64,
                None => break,
            }
        }
    }
}

/// The source ranges (offset, length) of one frame's fragment values, in order.
pub type Ranges = Vec<(u64, u64)>;

/// Why a frame cannot be served.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error(transparent)]
    Io(#[from] io::Error),
    #[error("the frame does not decode: {0}")]
    Decode(#[from] decode::DecodeError),
}

impl From<FrameError> for io::Error {
    fn from(e: FrameError) -> io::Error {
        match e {
            FrameError::Io(e) => e,
            FrameError::Decode(e) => io::Error::new(io::ErrorKind::InvalidData, e.to_string()),
        }
    }
}

/// Frames get process-unique ids: a re-made plan's frames are new entries, and the old ones
/// age out.
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// One encapsulated frame of a plan.
pub struct DecodedFrame {
    id: u64,
    codec: Codec,
    /// The header's Photometric Interpretation of the coded samples.
    source_photometric: String,
    /// The decoded image (little endian, interleaved, the codec's output photometric).
    geometry: Geometry,
    fragments: Ranges,
    mask: Arc<Mask>,
    cache: Arc<FrameCache>,
    /// Held while decoding: one decode per frame however many readers arrive at once.
    decoding: Mutex<()>,
}

impl std::fmt::Debug for DecodedFrame {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DecodedFrame")
            .field("codec", &self.codec)
            .field("fragments", &self.fragments)
            .finish_non_exhaustive()
    }
}

/// Two frames are the same segment when they decode the same bytes the same way.
impl PartialEq for DecodedFrame {
    fn eq(&self, other: &Self) -> bool {
        (self.codec, &self.source_photometric, &self.geometry)
            == (other.codec, &other.source_photometric, &other.geometry)
            && (&self.fragments, &self.mask) == (&other.fragments, &other.mask)
    }
}
impl Eq for DecodedFrame {}

impl DecodedFrame {
    pub fn new(
        codec: Codec,
        source_photometric: String,
        geometry: Geometry,
        fragments: Ranges,
        mask: Arc<Mask>,
        cache: Arc<FrameCache>,
    ) -> DecodedFrame {
        DecodedFrame {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            codec,
            source_photometric,
            geometry,
            fragments,
            mask,
            cache,
            decoding: Mutex::new(()),
        }
    }

    /// The decoded frame's size in bytes.
    pub fn len(&self) -> u64 {
        self.geometry.frame_bytes()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The frame as served: decoded, masked.
    pub fn bytes(&self, src: &dyn ReadAt) -> Result<Arc<[u8]>, FrameError> {
        if let Some(f) = self.cache.get(self.id) {
            return Ok(f);
        }
        let _one = crate::lock(&self.decoding);
        if let Some(f) = self.cache.get(self.id) {
            return Ok(f);
        }
        let mut frame = decode_ranges(
            src,
            self.codec,
            &self.geometry,
            &self.source_photometric,
            &self.fragments,
        )?;
        self.mask.apply(0, &mut frame);
        let frame: Arc<[u8]> = frame.into();
        self.cache.put(self.id, frame.clone());
        Ok(frame)
    }

    /// Fills `dst` from `within` bytes into the served frame.
    pub fn read(&self, src: &dyn ReadAt, within: u64, dst: &mut [u8]) -> io::Result<()> {
        let frame = self.bytes(src).map_err(io::Error::from)?;
        let at = within as usize;
        dst.copy_from_slice(&frame[at..at + dst.len()]);
        Ok(())
    }
}

/// One frame decoded from the fragment values at `ranges` of `src` (no mask applied).
pub fn decode_ranges(
    src: &dyn ReadAt,
    codec: Codec,
    geometry: &Geometry,
    source_photometric: &str,
    ranges: &[(u64, u64)],
) -> Result<Vec<u8>, FrameError> {
    let total: u64 = ranges.iter().map(|(_, len)| len).sum();
    let mut data = Vec::with_capacity(usize::try_from(total).unwrap_or(0));
    for (offset, len) in ranges {
        let at = data.len();
        data.resize(at + *len as usize, 0);
        src.read_exact_at(&mut data[at..], *offset)?;
    }
    Ok(decode::decode(codec, geometry, source_photometric, &data)?)
}

/// Which fragments make each frame, as (source offset, length) of their values:
/// `fragments` are the items after the Basic Offset Table, `offset_table` its entries. One
/// frame takes every fragment; as many fragments as frames, one each; otherwise the table
/// says where each frame starts (offsets from the first fragment's item header, as PS3.5
/// A.4 defines them), and each must fall on a fragment.
pub fn frame_fragments(
    fragments: &[(u64, u64)],
    offset_table: &[u32],
    frames: u32,
) -> Result<Vec<Ranges>, String> {
    let n = frames as usize;
    if fragments.is_empty() {
        return Err("encapsulated pixel data without fragments".into());
    }
    if n == 1 {
        return Ok(vec![fragments.to_vec()]);
    }
    if fragments.len() == n {
        return Ok(fragments.iter().map(|f| vec![*f]).collect());
    }
    if offset_table.len() != n {
        return Err(format!(
            "{} fragments for {n} frames and no offset table to group them",
            fragments.len()
        ));
    }
    let mut starts = Vec::with_capacity(fragments.len());
    let mut at = 0u64;
    for (_, len) in fragments {
        starts.push(at);
        at += 8 + len;
    }
    let mut out = Vec::with_capacity(n);
    for (f, &offset) in offset_table.iter().enumerate() {
        let first = starts
            .binary_search(&u64::from(offset))
            .map_err(|_| format!("frame {f}'s offset {offset} is not at a fragment"))?;
        let end = match offset_table.get(f + 1) {
            Some(&next) if next > offset => starts
                .binary_search(&u64::from(next))
                .map_err(|_| format!("frame {}'s offset {next} is not at a fragment", f + 1))?,
            Some(_) => return Err("the offset table is not increasing".into()),
            None => fragments.len(),
        };
        if (f == 0 && first != 0) || first >= end {
            return Err(format!("frame {f} has no fragments of its own"));
        }
        out.push(fragments[first..end].to_vec());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fragments_group_into_frames_by_count_or_by_the_offset_table() {
        let frags = [(100, 10), (118, 20), (146, 30)];
        assert_eq!(
            frame_fragments(&frags, &[], 1).unwrap(),
            vec![frags.to_vec()]
        );
        assert_eq!(frame_fragments(&frags, &[], 3).unwrap().len(), 3);
        // Two frames: the first is fragments 0 and 1 (offset 0), the second starts at 18 + 28.
        let two = frame_fragments(&frags, &[0, 46], 2).unwrap();
        assert_eq!(two, vec![vec![(100, 10), (118, 20)], vec![(146, 30)]]);
        assert!(
            frame_fragments(&frags, &[], 2).is_err(),
            "no table to group by"
        );
        assert!(
            frame_fragments(&frags, &[0, 40], 2).is_err(),
            "not at a fragment"
        );
        assert!(
            frame_fragments(&frags, &[18, 46], 2).is_err(),
            "frame 0 must start first"
        );
        assert!(frame_fragments(&frags, &[46, 0], 2).is_err(), "decreasing");
        assert!(frame_fragments(&[], &[], 1).is_err());
    }

    #[test]
    fn the_cache_keeps_at_most_its_budget_dropping_the_least_recently_used() {
        let c = FrameCache::new(10);
        c.put(1, vec![0u8; 4].into());
        c.put(2, vec![0u8; 4].into());
        assert!(c.get(1).is_some()); // 1 is now the most recent
        c.put(3, vec![0u8; 4].into());
        assert_eq!(c.bytes(), 8);
        assert!(c.get(2).is_none());
        assert!(c.get(1).is_some() && c.get(3).is_some());
        c.put(4, vec![0u8; 11].into());
        assert!(
            c.get(4).is_none(),
            "a frame larger than the budget is not kept"
        );
        let none = FrameCache::new(0);
        none.put(1, vec![0u8; 1].into());
        assert_eq!(none.bytes(), 0);
    }
}
