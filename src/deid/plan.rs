//! A plan is the de-identified file as a list of segments: bytes made in memory, or a byte
//! range of the source (Pixel Data, large kept values). Its length is the exact file size,
//! known when it is made.
//!
//! Every segment kind guarantees three things, so that a plan can be served from any offset
//! by any number of readers: its length is fixed when the plan is made; its bytes depend
//! only on the source version the plan was made from (deterministic); and any sub-range can
//! be read without reading the rest. A new kind (bytes computed from source ranges, such as
//! masked pixels) is a new variant with its arms in `Segment`'s four methods: `len`, `held`,
//! `read` and `write_to`. `Plan` itself never looks inside a segment.

use crate::deface::face::SliceFace;
use crate::io::ReadAt;
use crate::pixels::Mask;
use crate::pixels::frames::DecodedFrame;
use crate::pixels::screen::ScreenedFrame;
use std::io::{self, Write};
use std::sync::Arc;

/// The plan format: what segments mean. Part of every plan cache key and of the export
/// manifest's digests; raise it whenever a change makes an old plan's bytes wrong (a new
/// segment kind, a changed meaning of an old one).
pub const FORMAT: u32 = 5;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    /// Bytes made while planning, held in memory.
    Inline(Arc<[u8]>),
    /// A byte range of the source, read when served.
    Source { offset: u64, len: u64 },
    /// One native frame: a byte range of the source with the mask's bytes overwritten
    /// (burned-in text blanked). Same length as the range.
    Masked {
        offset: u64,
        len: u64,
        mask: Arc<Mask>,
    },
    /// One encapsulated frame, decoded to native little-endian samples and masked when first
    /// read (then cached). Its length is the decoded frame size, known from the header.
    Decoded(Arc<DecodedFrame>),
    /// One frame of an image nobody marked at risk: a source range served only once the
    /// screening detector found no text in it (or, where it may clean, with the text
    /// blanked). Same length as the range.
    Screened(Arc<ScreenedFrame>),
    /// One frame of a head series' slice (`inner`: its native or decoded pixels) with the
    /// face side of the series' plane set to air (`deface::face`), found when any slice of
    /// the series is first read. Same length as `inner`.
    Defaced {
        inner: Box<Segment>,
        face: Arc<SliceFace>,
    },
}

impl Segment {
    pub fn len(&self) -> u64 {
        match self {
            Segment::Inline(b) => b.len() as u64,
            Segment::Source { len, .. } | Segment::Masked { len, .. } => *len,
            Segment::Decoded(f) => f.len(),
            Segment::Screened(f) => f.len(),
            Segment::Defaced { inner, .. } => inner.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes the segment holds in memory (what the plan cache accounts for).
    pub fn held(&self) -> u64 {
        match self {
            Segment::Inline(b) => b.len() as u64,
            // Decoded frames are held by the frame cache, which has its own budget.
            Segment::Source { .. }
            | Segment::Masked { .. }
            | Segment::Decoded(_)
            | Segment::Screened(_) => 0,
            Segment::Defaced { inner, .. } => inner.held(),
        }
    }

    /// Fills `dst` with the segment's bytes from `within` on (`within + dst.len()` is at
    /// most `len()`).
    fn read(&self, src: &dyn ReadAt, within: u64, dst: &mut [u8]) -> io::Result<()> {
        match self {
            Segment::Inline(b) => {
                let at = within as usize;
                dst.copy_from_slice(&b[at..at + dst.len()]);
                Ok(())
            }
            Segment::Source { offset, .. } => src.read_exact_at(dst, offset + within),
            Segment::Masked { offset, mask, .. } => {
                src.read_exact_at(dst, offset + within)?;
                mask.apply(within, dst);
                Ok(())
            }
            Segment::Decoded(f) => f.read(src, within, dst),
            Segment::Screened(f) => f.read(src, within, dst),
            Segment::Defaced { inner, face } => {
                inner.read(src, within, dst)?;
                face.apply(within, dst)
            }
        }
    }

    /// This segment with the face side of its series' plane set to air (`face`), or as it
    /// is (`None`).
    pub fn defaced(self, face: Option<&Arc<SliceFace>>) -> Segment {
        match face {
            Some(face) => Segment::Defaced {
                inner: Box::new(self),
                face: face.clone(),
            },
            None => self,
        }
    }

    /// Whether something found after planning voids the segment (a head series with no
    /// plane to remove its face by): a plan holding it is made again.
    fn withdrawn(&self) -> bool {
        matches!(self, Segment::Defaced { face, .. } if face.withdrawn())
    }

    /// Appends the whole segment to `out`; source ranges are copied by the source
    /// (`ReadAt::copy_to`: in the kernel, for files), never through this process.
    fn write_to(&self, src: &dyn ReadAt, out: &mut std::fs::File) -> io::Result<()> {
        match self {
            Segment::Inline(b) => out.write_all(b),
            Segment::Source { offset, len } => src.copy_to(*offset, *len, out),
            Segment::Masked { .. } | Segment::Screened(_) | Segment::Defaced { .. } => {
                let len = usize::try_from(self.len()).map_err(|_| io::ErrorKind::OutOfMemory)?;
                let mut buf = vec![0u8; len];
                self.read(src, 0, &mut buf)?;
                out.write_all(&buf)
            }
            Segment::Decoded(f) => out.write_all(&f.bytes(src).map_err(io::Error::from)?),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    segments: Vec<Segment>,
    /// Output offset where each segment starts (same length as `segments`).
    starts: Vec<u64>,
    len: u64,
    /// The first `Defaced` segment, if any: most plans have none, and a cache hit asks
    /// whether the plan was withdrawn.
    first_defaced: Option<usize>,
}

impl Plan {
    pub fn segments(&self) -> &[Segment] {
        &self.segments
    }

    /// The exact size of the de-identified file.
    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether the plan is void since it was made (`Segment::withdrawn`): it must be made
    /// again, and will not be served.
    pub fn withdrawn(&self) -> bool {
        self.first_defaced
            .is_some_and(|i| self.segments[i..].iter().any(Segment::withdrawn))
    }

    /// Where the first defaced frame starts, if the plan has one (a head slice's).
    pub fn defaced_at(&self) -> Option<u64> {
        Some(self.starts[self.first_defaced?])
    }

    /// Bytes held in memory (for cache accounting).
    pub fn inline_bytes(&self) -> u64 {
        self.segments.iter().map(Segment::held).sum()
    }

    /// Fills `buf` from output offset `offset`; returns the count (short only at the end).
    pub fn read_at(&self, src: &dyn ReadAt, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
        if offset >= self.len {
            return Ok(0);
        }
        let want = buf.len().min((self.len - offset) as usize);
        let mut idx = self.starts.partition_point(|s| *s <= offset) - 1;
        let mut done = 0;
        while done < want {
            let seg_start = self.starts[idx];
            let within = offset + done as u64 - seg_start;
            let n = ((self.segments[idx].len() - within) as usize).min(want - done);
            self.segments[idx].read(src, within, &mut buf[done..done + n])?;
            done += n;
            idx += 1;
        }
        Ok(want)
    }

    /// Writes the whole file to a file, segment by segment. Runs of decoded frames are
    /// decoded in parallel, a few at a time (as many as rayon has threads), and written in
    /// order.
    pub fn write_to_file(&self, src: &dyn ReadAt, out: &mut std::fs::File) -> io::Result<()> {
        use rayon::prelude::*;
        let batch = rayon::current_num_threads().max(1);
        let mut rest = &self.segments[..];
        while let Some(first) = rest.first() {
            let run: Vec<&Arc<DecodedFrame>> = rest
                .iter()
                .map_while(|s| match s {
                    Segment::Decoded(f) => Some(f),
                    _ => None,
                })
                .collect();
            if run.is_empty() {
                first.write_to(src, out)?;
                rest = &rest[1..];
                continue;
            }
            for chunk in run.chunks(batch) {
                let frames: Vec<io::Result<Arc<[u8]>>> = chunk
                    .par_iter()
                    .map(|f| f.bytes(src).map_err(io::Error::from))
                    .collect();
                for f in frames {
                    out.write_all(&f?)?;
                }
            }
            rest = &rest[run.len()..];
        }
        Ok(())
    }

    /// The whole file in memory (tests, small files, deflate).
    pub fn to_vec(&self, src: &dyn ReadAt) -> io::Result<Vec<u8>> {
        let len = usize::try_from(self.len)
            .map_err(|_| io::Error::new(io::ErrorKind::OutOfMemory, "plan too large"))?;
        let mut v = vec![0u8; len];
        self.read_at(src, 0, &mut v)?;
        Ok(v)
    }
}

/// Builds segment lists: coalesces adjacent bytes and contiguous source ranges. The bytes
/// written are kept in one buffer until `finish`.
#[derive(Debug, Default)]
pub struct Out {
    segs: Vec<PendingSeg>,
    /// Every byte written, in order; `PendingSeg::Bytes` ranges point into it.
    data: Vec<u8>,
    len: u64,
    /// The next write starts a segment of its own (`split`).
    sealed: bool,
}

#[derive(Debug)]
enum PendingSeg {
    Bytes(std::ops::Range<usize>),
    Source { offset: u64, len: u64 },
    Done(Segment),
}

impl Out {
    pub fn new() -> Self {
        Self::default()
    }

    /// An output with room for `bytes` bytes in `segments` segments (planning writes a file's
    /// header in a few hundred small writes: sized once, it is not grown by copying).
    pub fn with_capacity(bytes: usize, segments: usize) -> Self {
        Self {
            segs: Vec::with_capacity(segments),
            data: Vec::with_capacity(bytes),
            ..Self::default()
        }
    }

    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn bytes(&mut self, b: &[u8]) {
        if b.is_empty() {
            return;
        }
        self.len += b.len() as u64;
        let end = self.data.len() + b.len();
        match self.segs.last_mut() {
            Some(PendingSeg::Bytes(r)) if !self.sealed => r.end = end,
            _ => self.segs.push(PendingSeg::Bytes(self.data.len()..end)),
        }
        self.data.extend_from_slice(b);
        self.sealed = false;
    }

    pub fn source(&mut self, offset: u64, len: u64) {
        if len == 0 {
            return;
        }
        self.len += len;
        if let Some(PendingSeg::Source { offset: o, len: l }) = self.segs.last_mut()
            && *o + *l == offset
            && !self.sealed
        {
            *l += len;
            return;
        }
        self.segs.push(PendingSeg::Source { offset, len });
        self.sealed = false;
    }

    /// A segment made elsewhere (masked or decoded frames), never merged.
    pub fn segment(&mut self, seg: Segment) {
        if seg.is_empty() {
            return;
        }
        self.len += seg.len();
        self.segs.push(PendingSeg::Done(seg));
        self.sealed = false;
    }

    /// Where the next write goes: it starts a segment of its own, so what is written from
    /// here can be taken out whole (`splice`).
    pub fn split(&mut self) -> usize {
        self.sealed = true;
        self.segs.len()
    }

    /// This output's pieces (each from its `split` to the next) and `parts`, in key order
    /// (a stable sort: pieces of one key keep their order); every piece with the key of one
    /// of `parts` is replaced by it.
    pub fn splice<K: Ord + Copy>(self, starts: &[(K, usize)], parts: Vec<(K, Out)>) -> Out {
        self.splice_onto(Out::new(), starts, parts)
    }

    /// [`Out::splice`], written after what `onto` holds already.
    pub fn splice_onto<K: Ord + Copy>(
        self,
        mut onto: Out,
        starts: &[(K, usize)],
        parts: Vec<(K, Out)>,
    ) -> Out {
        enum Piece {
            Mine(std::ops::Range<usize>),
            Part(Out),
        }
        let replaced: Vec<K> = parts.iter().map(|p| p.0).collect();
        let mut pieces: Vec<(K, Piece)> = starts
            .iter()
            .enumerate()
            .map(|(k, &(key, start))| {
                let end = starts.get(k + 1).map_or(self.segs.len(), |next| next.1);
                (key, Piece::Mine(start..end))
            })
            .filter(|(key, _)| !replaced.contains(key))
            .collect();
        pieces.extend(parts.into_iter().map(|(key, p)| (key, Piece::Part(p))));
        pieces.sort_by_key(|p| p.0);
        let mut segs: Vec<Option<PendingSeg>> = self.segs.into_iter().map(Some).collect();
        let added: usize = pieces
            .iter()
            .map(|(_, p)| match p {
                Piece::Part(o) => o.data.len(),
                Piece::Mine(_) => 0,
            })
            .sum();
        onto.data.reserve(self.data.len() + added);
        onto.segs.reserve(segs.len() + pieces.len());
        let mut out = onto;
        for (_, piece) in pieces {
            match piece {
                Piece::Mine(r) => {
                    for s in segs[r].iter_mut().filter_map(Option::take) {
                        out.push(s, &self.data);
                    }
                }
                Piece::Part(p) => out.append(p),
            }
        }
        out
    }

    /// A segment of another output, whose bytes are in `data`.
    fn push(&mut self, s: PendingSeg, data: &[u8]) {
        match s {
            PendingSeg::Bytes(r) => self.bytes(&data[r]),
            PendingSeg::Source { offset, len } => self.source(offset, len),
            PendingSeg::Done(seg) => self.segment(seg),
        }
    }

    pub fn append(&mut self, other: Out) {
        for s in other.segs {
            self.push(s, &other.data);
        }
    }

    pub fn finish(self) -> Plan {
        let mut starts = Vec::with_capacity(self.segs.len());
        let mut segments = Vec::with_capacity(self.segs.len());
        let mut at = 0;
        for s in self.segs {
            starts.push(at);
            let seg = match s {
                PendingSeg::Bytes(r) => Segment::Inline(self.data[r].into()),
                PendingSeg::Source { offset, len } => Segment::Source { offset, len },
                PendingSeg::Done(seg) => seg,
            };
            at += seg.len();
            segments.push(seg);
        }
        let first_defaced = segments
            .iter()
            .position(|s| matches!(s, Segment::Defaced { .. }));
        Plan {
            segments,
            starts,
            len: at,
            first_defaced,
        }
    }

    /// Resolves source ranges against `src` into bytes (for data that must be re-encoded).
    pub fn materialize(self, src: &dyn ReadAt) -> io::Result<Vec<u8>> {
        self.finish().to_vec(src)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes_out(b: &[u8]) -> Out {
        let mut p = Out::new();
        p.bytes(b);
        p
    }

    #[test]
    fn splice_replaces_parts_by_key_and_puts_new_ones_in_order() {
        let src: Vec<u8> = (0..=255u8).collect();
        let mut o = Out::new();
        let mut starts = Vec::new();
        starts.push((10, o.split()));
        o.bytes(b"ab");
        starts.push((20, o.split()));
        o.source(100, 3);
        o.bytes(b"c");
        starts.push((30, o.split()));
        o.bytes(b"de");
        // 5 goes first, 20 is replaced, 25 goes between, 40 goes last.
        let parts = vec![
            (40, bytes_out(b"Z")),
            (20, bytes_out(b"X")),
            (5, bytes_out(b"W")),
            (25, bytes_out(b"Y")),
        ];
        let out = o.splice(&starts, parts);
        assert_eq!(out.len(), 8);
        let plan = out.finish();
        assert_eq!(plan.to_vec(&src).unwrap(), b"WabXYdeZ");
        assert_eq!(
            plan.segments.len(),
            1,
            "bytes written apart are joined again"
        );
    }

    #[test]
    fn splice_onto_writes_the_pieces_after_what_the_output_holds() {
        let src: Vec<u8> = (0..=255u8).collect();
        let mut o = Out::with_capacity(4, 2);
        let mut starts = Vec::new();
        starts.push((10, o.split()));
        o.bytes(b"ab");
        starts.push((20, o.split()));
        o.source(100, 2);
        let out = o.splice_onto(bytes_out(b"HEAD"), &starts, vec![(15, bytes_out(b"X"))]);
        assert_eq!(out.len(), 9);
        let mut want = b"HEADabX".to_vec();
        want.extend_from_slice(&src[100..102]);
        assert_eq!(out.finish().to_vec(&src).unwrap(), want);
    }

    #[test]
    fn splice_sorts_pieces_out_of_order_and_replaces_every_piece_of_a_replaced_key() {
        let src: Vec<u8> = (0..=255u8).collect();
        // The source's elements out of tag order, one tag twice.
        let mut o = Out::new();
        let mut starts = Vec::new();
        for (key, b) in [(30, b"c"), (10, b"a"), (20, b"b"), (10, b"A")] {
            starts.push((key, o.split()));
            o.bytes(b);
        }
        let plan = o.splice(&starts, vec![(20, bytes_out(b"X"))]).finish();
        assert_eq!(plan.to_vec(&src).unwrap(), b"aAXc");
        let mut o = Out::new();
        let mut starts = Vec::new();
        for b in [b"a", b"A"] {
            starts.push((10, o.split()));
            o.bytes(b);
        }
        let plan = o.splice(&starts, vec![(10, bytes_out(b"Y"))]).finish();
        assert_eq!(
            plan.to_vec(&src).unwrap(),
            b"Y",
            "both pieces of key 10 replaced"
        );
    }

    #[test]
    fn reads_across_segments() {
        let src: Vec<u8> = (0..=255u8).collect();
        let mut o = Out::new();
        o.bytes(b"AB");
        o.source(10, 3);
        o.source(13, 2); // coalesces
        o.bytes(b"Z");
        let plan = o.finish();
        assert_eq!(plan.segments().len(), 3);
        assert_eq!(plan.len(), 8);
        let all = plan.to_vec(&src).unwrap();
        assert_eq!(all, [b'A', b'B', 10, 11, 12, 13, 14, b'Z']);
        for off in 0..9u64 {
            for n in 0..10usize {
                let mut buf = vec![0; n];
                let got = plan.read_at(&src, off, &mut buf).unwrap();
                let end = (off as usize + n).min(all.len());
                let exp = &all[(off as usize).min(all.len())..end];
                assert_eq!(&buf[..got], exp, "off {off} n {n}");
            }
        }
    }
}
