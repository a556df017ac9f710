//! Independent, std-only DICOM Part 10 *writer* for synthetic test fixtures.
//!
//! This module is deliberately an "oracle": it shares no code with the
//! `deidfs` crate (nor with any DICOM library) and depends only on `std`, so
//! tests can build realistic DICOM files in memory on machines that have no
//! DICOM corpus, and a bug in the engine's codec cannot be masked by the same
//! bug in the fixture writer.
//!
//! Validated against pydicom 3.0 and DCMTK `dcmdump` (every fixture from
//! [`all_fixtures`] parses cleanly with both, values / nested sequences /
//! pixel bytes round-trip, and every public tag's VR matches the standard
//! data dictionary).
//!
//! # Encoding rules implemented
//! * Part 10 framing: 128-byte preamble (zeros unless [`FileBuilder::preamble`]),
//!   `"DICM"`, File Meta Information group (always Explicit VR Little Endian)
//!   with a computed (0002,0000) group length. [`FileBuilder::without_meta`]
//!   emits a bare data set instead.
//! * Elements are sorted by tag at every nesting level (stable; the top level
//!   holds at most one element per tag, later `elem` calls replace earlier ones).
//! * Odd-length values are padded to even length: `Str` with NUL for `UI`
//!   (and the binary VRs `OB`/`UN`), with a space otherwise; binary values
//!   with a zero byte.
//! * Explicit VR: 4-byte length form for OB OD OF OL OV OW SQ SV UC UN UR UT UV.
//! * Sequences / items may use defined or undefined length (with
//!   (FFFE,E00D) / (FFFE,E0DD) delimiters).
//! * A `Value::Seq` under VR `UN` is encoded per CP-246: its whole content
//!   (items, nested elements, delimiters) is Implicit VR Little Endian,
//!   regardless of the surrounding transfer syntax. (For the retired Explicit
//!   VR *Big* Endian TS, DCMTK reads this as written; pydicom 3.0 instead
//!   reads the UN content with the enclosing byte order and fails.)
//! * Big endian: `Value::U16`/`U32`/... are serialised big endian; `Value::Bytes`
//!   is interpreted as the *little-endian* encoding of the value and is
//!   byte-swapped per the VR's word size (OW/US/SS/AT: 2, OL/UL/SL/FL/OF: 4,
//!   OD/FD/OV/SV/UV: 8). So the same fixture has the same *values* in every
//!   transfer syntax. Item / delimiter tags follow the data set byte order.
//! * Deflated Explicit VR LE: the data set (not the meta group) is compressed
//!   with a small std-only raw DEFLATE encoder (RFC 1951, one fixed-Huffman
//!   block with greedy LZ77 matching, no zlib header), padded to even length.
//! * Encapsulated pixel data: (7FE0,0010) OB undefined length, Basic Offset
//!   Table item, one item per fragment (odd fragments zero-padded), sequence
//!   delimiter.
#![allow(dead_code)]

use std::path::Path;

// ---------------------------------------------------------------------------
// Transfer syntaxes
// ---------------------------------------------------------------------------

/// Transfer syntaxes the builder can produce.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Ts {
    /// 1.2.840.10008.1.2.1
    ExplicitLE,
    /// 1.2.840.10008.1.2
    ImplicitLE,
    /// 1.2.840.10008.1.2.2 (retired, but still found in archives)
    ExplicitBE,
    /// 1.2.840.10008.1.2.1.99 — data set compressed with the std-only raw
    /// DEFLATE encoder in this module.
    DeflatedExplicitLE,
    /// 1.2.840.10008.1.2.4.50 — data set is Explicit VR LE; use
    /// `Value::Encapsulated` for the pixel data.
    JpegBaseline,
}

impl Ts {
    pub const ALL: [Ts; 5] = [
        Ts::ExplicitLE,
        Ts::ImplicitLE,
        Ts::ExplicitBE,
        Ts::DeflatedExplicitLE,
        Ts::JpegBaseline,
    ];

    pub fn uid(self) -> &'static str {
        match self {
            Ts::ExplicitLE => "1.2.840.10008.1.2.1",
            Ts::ImplicitLE => "1.2.840.10008.1.2",
            Ts::ExplicitBE => "1.2.840.10008.1.2.2",
            Ts::DeflatedExplicitLE => "1.2.840.10008.1.2.1.99",
            Ts::JpegBaseline => "1.2.840.10008.1.2.4.50",
        }
    }

    fn enc(self) -> Enc {
        match self {
            Ts::ImplicitLE => IMPLICIT_LE,
            Ts::ExplicitBE => EXPLICIT_BE,
            Ts::ExplicitLE | Ts::DeflatedExplicitLE | Ts::JpegBaseline => EXPLICIT_LE,
        }
    }

    fn deflated(self) -> bool {
        matches!(self, Ts::DeflatedExplicitLE)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Enc {
    explicit: bool,
    big: bool,
}

const EXPLICIT_LE: Enc = Enc {
    explicit: true,
    big: false,
};
const IMPLICIT_LE: Enc = Enc {
    explicit: false,
    big: false,
};
const EXPLICIT_BE: Enc = Enc {
    explicit: true,
    big: true,
};

// ---------------------------------------------------------------------------
// Elements and values
// ---------------------------------------------------------------------------

/// One data element. `vr` is used for explicit-VR encodings (and to decide
/// padding / byte swapping); it is not written in implicit VR.
#[derive(Clone, Debug, PartialEq)]
pub struct Elem {
    pub tag: (u16, u16),
    pub vr: [u8; 2],
    pub value: Value,
}

/// An element value.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// Raw value bytes (little-endian form for multi-byte VRs; swapped for BE).
    Bytes(Vec<u8>),
    /// Text; padded to even length with NUL for UI, space otherwise.
    /// Multiple values are separated with `\` by the caller.
    Str(String),
    U16(Vec<u16>),
    U32(Vec<u32>),
    I16(Vec<i16>),
    I32(Vec<i32>),
    F32(Vec<f32>),
    F64(Vec<f64>),
    /// AT values: each tag is written as group, element.
    Tags(Vec<(u16, u16)>),
    /// A sequence. Each item is a list of elements (sorted on output).
    Seq {
        items: Vec<Vec<Elem>>,
        undefined_len: bool,
        items_undefined_len: bool,
    },
    /// Encapsulated pixel data: Basic Offset Table entries and fragments.
    Encapsulated {
        offset_table: Vec<u32>,
        fragments: Vec<Vec<u8>>,
    },
}

impl Value {
    /// Sequence with defined-length sequence and items.
    pub fn seq(items: Vec<Vec<Elem>>) -> Value {
        Value::Seq {
            items,
            undefined_len: false,
            items_undefined_len: false,
        }
    }

    /// Sequence with undefined-length sequence and items.
    pub fn seq_undefined(items: Vec<Vec<Elem>>) -> Value {
        Value::Seq {
            items,
            undefined_len: true,
            items_undefined_len: true,
        }
    }

    pub fn str(s: &str) -> Value {
        Value::Str(s.to_string())
    }
}

fn vr_bytes(vr: &str) -> [u8; 2] {
    let b = vr.as_bytes();
    assert!(
        b.len() == 2 && b.iter().all(|c| c.is_ascii_uppercase()),
        "invalid VR {vr:?}"
    );
    [b[0], b[1]]
}

impl Elem {
    pub fn new(tag: (u16, u16), vr: &str, value: Value) -> Elem {
        Elem {
            tag,
            vr: vr_bytes(vr),
            value,
        }
    }
    pub fn str(tag: (u16, u16), vr: &str, s: &str) -> Elem {
        Elem::new(tag, vr, Value::Str(s.to_string()))
    }
    /// US with one value.
    pub fn us(tag: (u16, u16), v: u16) -> Elem {
        Elem::new(tag, "US", Value::U16(vec![v]))
    }
    /// UL with one value.
    pub fn ul(tag: (u16, u16), v: u32) -> Elem {
        Elem::new(tag, "UL", Value::U32(vec![v]))
    }
    /// SQ with defined lengths.
    pub fn seq(tag: (u16, u16), items: Vec<Vec<Elem>>) -> Elem {
        Elem::new(tag, "SQ", Value::seq(items))
    }
    /// SQ with undefined lengths (sequence and items).
    pub fn seq_undefined(tag: (u16, u16), items: Vec<Vec<Elem>>) -> Elem {
        Elem::new(tag, "SQ", Value::seq_undefined(items))
    }
    pub fn vr_str(&self) -> &str {
        std::str::from_utf8(&self.vr).unwrap_or("??")
    }
}

// ---------------------------------------------------------------------------
// Low-level encoder
// ---------------------------------------------------------------------------

const ITEM: (u16, u16) = (0xFFFE, 0xE000);
const ITEM_DELIM: (u16, u16) = (0xFFFE, 0xE00D);
const SEQ_DELIM: (u16, u16) = (0xFFFE, 0xE0DD);
const UNDEFINED: u32 = 0xFFFF_FFFF;

fn put_u16(out: &mut Vec<u8>, v: u16, big: bool) {
    out.extend_from_slice(&if big {
        v.to_be_bytes()
    } else {
        v.to_le_bytes()
    });
}

fn put_u32(out: &mut Vec<u8>, v: u32, big: bool) {
    out.extend_from_slice(&if big {
        v.to_be_bytes()
    } else {
        v.to_le_bytes()
    });
}

fn put_tag(out: &mut Vec<u8>, tag: (u16, u16), enc: Enc) {
    put_u16(out, tag.0, enc.big);
    put_u16(out, tag.1, enc.big);
}

fn is_long_vr(vr: &[u8; 2]) -> bool {
    matches!(
        vr,
        b"OB"
            | b"OD"
            | b"OF"
            | b"OL"
            | b"OV"
            | b"OW"
            | b"SQ"
            | b"SV"
            | b"UC"
            | b"UN"
            | b"UR"
            | b"UT"
            | b"UV"
    )
}

/// Size of the unit to byte-swap for big endian, per VR.
fn swap_unit(vr: &[u8; 2]) -> usize {
    match vr {
        b"OW" | b"US" | b"SS" | b"AT" => 2,
        b"OL" | b"UL" | b"SL" | b"FL" | b"OF" => 4,
        b"OD" | b"FD" | b"OV" | b"SV" | b"UV" => 8,
        _ => 1,
    }
}

fn put_header(out: &mut Vec<u8>, tag: (u16, u16), vr: &[u8; 2], len: u32, enc: Enc) {
    put_tag(out, tag, enc);
    if enc.explicit {
        out.extend_from_slice(vr);
        if is_long_vr(vr) {
            put_u16(out, 0, enc.big);
            put_u32(out, len, enc.big);
        } else {
            assert!(
                len <= 0xFFFF,
                "value of ({:04X},{:04X}) too long ({len}) for 2-byte length VR {}",
                tag.0,
                tag.1,
                String::from_utf8_lossy(vr)
            );
            put_u16(out, len as u16, enc.big);
        }
    } else {
        put_u32(out, len, enc.big);
    }
}

fn value_bytes(vr: &[u8; 2], value: &Value, big: bool) -> Vec<u8> {
    let mut b = Vec::new();
    match value {
        Value::Bytes(raw) => {
            b.extend_from_slice(raw);
            let unit = swap_unit(vr);
            if big && unit > 1 {
                assert!(
                    raw.len() % unit == 0,
                    "Bytes length not a multiple of {unit} for BE swap"
                );
                for chunk in b.chunks_mut(unit) {
                    chunk.reverse();
                }
            }
        }
        Value::Str(s) => {
            b.extend_from_slice(s.as_bytes());
            if b.len() % 2 == 1 {
                let pad = if matches!(vr, b"UI" | b"OB" | b"UN") {
                    0u8
                } else {
                    b' '
                };
                b.push(pad);
            }
        }
        Value::U16(v) => v.iter().for_each(|x| put_u16(&mut b, *x, big)),
        Value::U32(v) => v.iter().for_each(|x| put_u32(&mut b, *x, big)),
        Value::I16(v) => v.iter().for_each(|x| put_u16(&mut b, *x as u16, big)),
        Value::I32(v) => v.iter().for_each(|x| put_u32(&mut b, *x as u32, big)),
        Value::F32(v) => v.iter().for_each(|x| put_u32(&mut b, x.to_bits(), big)),
        Value::F64(v) => v.iter().for_each(|x| {
            b.extend_from_slice(&if big {
                x.to_be_bytes()
            } else {
                x.to_le_bytes()
            })
        }),
        Value::Tags(v) => v.iter().for_each(|t| {
            put_u16(&mut b, t.0, big);
            put_u16(&mut b, t.1, big);
        }),
        Value::Seq { .. } | Value::Encapsulated { .. } => unreachable!(),
    }
    if b.len() % 2 == 1 {
        b.push(0);
    }
    b
}

fn encode_dataset(out: &mut Vec<u8>, elems: &[Elem], enc: Enc) {
    let mut sorted: Vec<&Elem> = elems.iter().collect();
    sorted.sort_by_key(|e| e.tag);
    for e in sorted {
        encode_elem(out, e, enc);
    }
}

fn encode_elem(out: &mut Vec<u8>, e: &Elem, enc: Enc) {
    match &e.value {
        Value::Seq {
            items,
            undefined_len,
            items_undefined_len,
        } => {
            // CP-246: the content of a UN "sequence" is implicit VR LE.
            let inner = if &e.vr == b"UN" { IMPLICIT_LE } else { enc };
            let mut body = Vec::new();
            for item in items {
                let mut ib = Vec::new();
                encode_dataset(&mut ib, item, inner);
                put_tag(&mut body, ITEM, inner);
                if *items_undefined_len {
                    put_u32(&mut body, UNDEFINED, inner.big);
                    body.extend_from_slice(&ib);
                    put_tag(&mut body, ITEM_DELIM, inner);
                    put_u32(&mut body, 0, inner.big);
                } else {
                    put_u32(&mut body, ib.len() as u32, inner.big);
                    body.extend_from_slice(&ib);
                }
            }
            if *undefined_len {
                put_header(out, e.tag, &e.vr, UNDEFINED, enc);
                out.extend_from_slice(&body);
                put_tag(out, SEQ_DELIM, inner);
                put_u32(out, 0, inner.big);
            } else {
                put_header(out, e.tag, &e.vr, body.len() as u32, enc);
                out.extend_from_slice(&body);
            }
        }
        Value::Encapsulated {
            offset_table,
            fragments,
        } => {
            put_header(out, e.tag, &e.vr, UNDEFINED, enc);
            put_tag(out, ITEM, enc);
            put_u32(out, (offset_table.len() * 4) as u32, enc.big);
            for o in offset_table {
                put_u32(out, *o, enc.big);
            }
            for f in fragments {
                let padded = f.len() + f.len() % 2;
                put_tag(out, ITEM, enc);
                put_u32(out, padded as u32, enc.big);
                out.extend_from_slice(f);
                if f.len() % 2 == 1 {
                    out.push(0);
                }
            }
            put_tag(out, SEQ_DELIM, enc);
            put_u32(out, 0, enc.big);
        }
        v => {
            let b = value_bytes(&e.vr, v, enc.big);
            put_header(out, e.tag, &e.vr, b.len() as u32, enc);
            out.extend_from_slice(&b);
        }
    }
}

/// Encode a list of elements as a bare data set (sorted, no meta) in `ts`'s
/// encoding (never deflated). Handy for unit-testing a parser on fragments.
pub fn encode_elements(elems: &[Elem], ts: Ts) -> Vec<u8> {
    let mut out = Vec::new();
    encode_dataset(&mut out, elems, ts.enc());
    out
}

fn set_lengths_recursive(elems: &mut [Elem], seq_undef: bool, items_undef: bool) {
    for e in elems {
        if let Value::Seq {
            items,
            undefined_len,
            items_undefined_len,
        } = &mut e.value
        {
            *undefined_len = seq_undef;
            *items_undefined_len = items_undef;
            for item in items.iter_mut() {
                set_lengths_recursive(item, seq_undef, items_undef);
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Raw DEFLATE (RFC 1951), fixed Huffman, std only
// ---------------------------------------------------------------------------

struct BitWriter {
    out: Vec<u8>,
    acc: u64,
    n: u32,
}

impl BitWriter {
    fn bits(&mut self, v: u32, n: u32) {
        self.acc |= (v as u64) << self.n;
        self.n += n;
        while self.n >= 8 {
            self.out.push(self.acc as u8);
            self.acc >>= 8;
            self.n -= 8;
        }
    }
    /// Huffman codes are packed most-significant bit first.
    fn huff(&mut self, code: u32, len: u32) {
        let mut rev = 0;
        for i in 0..len {
            rev |= ((code >> i) & 1) << (len - 1 - i);
        }
        self.bits(rev, len);
    }
    fn lit(&mut self, sym: u32) {
        match sym {
            0..=143 => self.huff(0x30 + sym, 8),
            144..=255 => self.huff(0x190 + sym - 144, 9),
            256..=279 => self.huff(sym - 256, 7),
            _ => self.huff(0xC0 + sym - 280, 8),
        }
    }
    fn finish(mut self) -> Vec<u8> {
        if self.n > 0 {
            self.out.push(self.acc as u8);
        }
        self.out
    }
}

const LEN_BASE: [u32; 29] = [
    3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131,
    163, 195, 227, 258,
];
const LEN_EXTRA: [u32; 29] = [
    0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0,
];
const DIST_BASE: [u32; 30] = [
    1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537,
    2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577,
];
const DIST_EXTRA: [u32; 30] = [
    0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13,
    13,
];

/// Raw DEFLATE stream (no zlib/gzip wrapper), single fixed-Huffman block with
/// greedy LZ77 matching. Decodable by any inflater (e.g. zlib with wbits=-15).
pub fn deflate_raw(data: &[u8]) -> Vec<u8> {
    const WINDOW: usize = 32768;
    const HASH_BITS: u32 = 15;
    let hash = |i: usize| -> usize {
        let v = (data[i] as u32) << 16 | (data[i + 1] as u32) << 8 | data[i + 2] as u32;
        (v.wrapping_mul(2_654_435_761) >> (32 - HASH_BITS)) as usize
    };
    let mut head = vec![usize::MAX; 1 << HASH_BITS];
    let mut w = BitWriter {
        out: Vec::with_capacity(data.len() / 2 + 16),
        acc: 0,
        n: 0,
    };
    w.bits(1, 1); // BFINAL
    w.bits(1, 2); // BTYPE = 01 (fixed Huffman)
    let mut i = 0;
    while i < data.len() {
        let mut best = 0usize;
        let mut dist = 0usize;
        if i + 3 <= data.len() {
            let h = hash(i);
            let p = head[h];
            if p != usize::MAX && i - p <= WINDOW {
                let mut l = 0;
                while l < 258 && i + l < data.len() && data[p + l] == data[i + l] {
                    l += 1;
                }
                if l >= 3 {
                    best = l;
                    dist = i - p;
                }
            }
            head[h] = i;
        }
        if best >= 3 {
            let li = LEN_BASE.iter().rposition(|&b| b as usize <= best).unwrap();
            w.lit(257 + li as u32);
            w.bits(best as u32 - LEN_BASE[li], LEN_EXTRA[li]);
            let di = DIST_BASE.iter().rposition(|&b| b as usize <= dist).unwrap();
            w.huff(di as u32, 5);
            w.bits(dist as u32 - DIST_BASE[di], DIST_EXTRA[di]);
            for j in i + 1..i + best {
                if j + 3 <= data.len() {
                    head[hash(j)] = j;
                }
            }
            i += best;
        } else {
            w.lit(data[i] as u32);
            i += 1;
        }
    }
    w.lit(256); // end of block
    w.finish()
}

// ---------------------------------------------------------------------------
// File builder
// ---------------------------------------------------------------------------

/// Implementation Class UID written in (0002,0012).
pub const IMPLEMENTATION_CLASS_UID: &str = "2.25.314159265358979323846264338327950288";
/// Implementation Version Name written in (0002,0013).
pub const IMPLEMENTATION_VERSION_NAME: &str = "DEIDFS_FIXTURE";

/// Builds a DICOM file (or bare data set) in memory.
#[derive(Clone, Debug)]
pub struct FileBuilder {
    ts: Ts,
    body_ts: Option<Ts>,
    ts_uid: Option<String>,
    with_meta: bool,
    preamble: [u8; 128],
    meta: Vec<Elem>,
    elems: Vec<Elem>,
    sop: Option<(String, String)>,
}

impl FileBuilder {
    /// Preamble + "DICM" + meta on by default.
    pub fn new(ts: Ts) -> Self {
        FileBuilder {
            ts,
            body_ts: None,
            ts_uid: None,
            with_meta: true,
            preamble: [0; 128],
            meta: Vec::new(),
            elems: Vec::new(),
            sop: None,
        }
    }

    /// Bare data set: no preamble, no "DICM", no meta group.
    pub fn without_meta(mut self) -> Self {
        self.with_meta = false;
        self
    }

    /// Sets meta (0002,0002)/(0002,0003) and adds (0008,0016)/(0008,0018).
    pub fn sop(mut self, class_uid: &str, instance_uid: &str) -> Self {
        self.sop = Some((class_uid.to_string(), instance_uid.to_string()));
        self.str((0x0008, 0x0016), "UI", class_uid)
            .str((0x0008, 0x0018), "UI", instance_uid)
    }

    /// Adds (or replaces) a top-level element. Group 0002 tags go to the meta
    /// group (see [`FileBuilder::meta_elem`]).
    pub fn elem(mut self, tag: (u16, u16), vr: &str, value: Value) -> Self {
        if tag.0 == 0x0002 {
            return self.meta_elem(tag, vr, value);
        }
        let e = Elem::new(tag, vr, value);
        match self.elems.iter_mut().find(|x| x.tag == tag) {
            Some(slot) => *slot = e,
            None => self.elems.push(e),
        }
        self
    }

    /// Convenience for string-valued elements.
    pub fn str(self, tag: (u16, u16), vr: &str, s: &str) -> Self {
        self.elem(tag, vr, Value::Str(s.to_string()))
    }

    /// Adds a pre-built element (replacing one with the same tag).
    pub fn push(self, e: Elem) -> Self {
        let Elem { tag, vr, value } = e;
        let vr = String::from_utf8(vr.to_vec()).expect("VR");
        self.elem(tag, &vr, value)
    }

    /// Adds or overrides a meta element (group 0002). Overrides the default
    /// (0002,0001), (0002,0002), (0002,0003), (0002,0010), (0002,0012),
    /// (0002,0013); (0002,0000) is always computed. Useful for e.g.
    /// (0002,0016) SourceApplicationEntityTitle.
    pub fn meta_elem(mut self, tag: (u16, u16), vr: &str, value: Value) -> Self {
        assert_eq!(tag.0, 0x0002, "meta_elem only takes group 0002");
        assert_ne!(tag.1, 0x0000, "(0002,0000) is computed");
        let e = Elem::new(tag, vr, value);
        match self.meta.iter_mut().find(|x| x.tag == tag) {
            Some(slot) => *slot = e,
            None => self.meta.push(e),
        }
        self
    }

    /// Removes a top-level (or meta) element.
    pub fn remove(mut self, tag: (u16, u16)) -> Self {
        self.elems.retain(|e| e.tag != tag);
        self.meta.retain(|e| e.tag != tag);
        self
    }

    /// Changes the transfer syntax (declared and used for the data set).
    pub fn with_ts(mut self, ts: Ts) -> Self {
        self.ts = ts;
        self
    }

    /// Encode the data set with `ts` while the meta still declares the
    /// builder's own transfer syntax (for "lying" files).
    pub fn body_encoding(mut self, ts: Ts) -> Self {
        self.body_ts = Some(ts);
        self
    }

    /// Declare an arbitrary Transfer Syntax UID in (0002,0010) (the data set
    /// is still encoded per the builder's `Ts`).
    pub fn transfer_syntax_uid(mut self, uid: &str) -> Self {
        self.ts_uid = Some(uid.to_string());
        self
    }

    /// Custom 128-byte preamble (default all zeros).
    pub fn preamble(mut self, p: [u8; 128]) -> Self {
        self.preamble = p;
        self
    }

    /// Make every sequence and item (recursively) undefined length.
    pub fn undefined_lengths(mut self) -> Self {
        set_lengths_recursive(&mut self.elems, true, true);
        self
    }

    /// Make every sequence and item (recursively) defined length.
    pub fn defined_lengths(mut self) -> Self {
        set_lengths_recursive(&mut self.elems, false, false);
        self
    }

    pub fn ts(&self) -> Ts {
        self.ts
    }

    pub fn has_meta(&self) -> bool {
        self.with_meta
    }

    /// Top-level data set elements (unsorted, insertion order).
    pub fn elems(&self) -> &[Elem] {
        &self.elems
    }

    pub fn get(&self, tag: (u16, u16)) -> Option<&Elem> {
        self.elems
            .iter()
            .find(|e| e.tag == tag)
            .or_else(|| self.meta.iter().find(|e| e.tag == tag))
    }

    /// Meta elements as they will be written (without (0002,0000)), sorted.
    pub fn meta_elems(&self) -> Vec<Elem> {
        let mut m: Vec<Elem> = Vec::new();
        let mut add = |e: Elem| {
            if !m.iter().any(|x| x.tag == e.tag) {
                m.push(e);
            }
        };
        for e in &self.meta {
            add(e.clone());
        }
        add(Elem::new(
            (0x0002, 0x0001),
            "OB",
            Value::Bytes(vec![0x00, 0x01]),
        ));
        if let Some((class, inst)) = &self.sop {
            add(Elem::str((0x0002, 0x0002), "UI", class));
            add(Elem::str((0x0002, 0x0003), "UI", inst));
        }
        let ts_uid = self
            .ts_uid
            .clone()
            .unwrap_or_else(|| self.ts.uid().to_string());
        add(Elem::str((0x0002, 0x0010), "UI", &ts_uid));
        add(Elem::str((0x0002, 0x0012), "UI", IMPLEMENTATION_CLASS_UID));
        add(Elem::str(
            (0x0002, 0x0013),
            "SH",
            IMPLEMENTATION_VERSION_NAME,
        ));
        m.sort_by_key(|e| e.tag);
        m
    }

    /// The data set bytes exactly as they appear after the meta group
    /// (deflated for `DeflatedExplicitLE`).
    pub fn build_dataset(&self) -> Vec<u8> {
        let body_ts = self.body_ts.unwrap_or(self.ts);
        let mut body = Vec::new();
        encode_dataset(&mut body, &self.elems, body_ts.enc());
        if body_ts.deflated() {
            body = deflate_raw(&body);
            if body.len() % 2 == 1 {
                body.push(0);
            }
        }
        body
    }

    /// The data set bytes before any deflate step.
    pub fn build_dataset_uncompressed(&self) -> Vec<u8> {
        let body_ts = self.body_ts.unwrap_or(self.ts);
        encode_elements(&self.elems, body_ts)
    }

    /// Serialise. Elements are sorted by tag at each level; the meta group
    /// length is computed; the meta group is always explicit VR LE.
    pub fn build(&self) -> Vec<u8> {
        let mut out = Vec::new();
        if self.with_meta {
            out.extend_from_slice(&self.preamble);
            out.extend_from_slice(b"DICM");
            let mut meta = Vec::new();
            encode_dataset(&mut meta, &self.meta_elems(), EXPLICIT_LE);
            encode_elem(
                &mut out,
                &Elem::new((0x0002, 0x0000), "UL", Value::U32(vec![meta.len() as u32])),
                EXPLICIT_LE,
            );
            out.extend_from_slice(&meta);
        }
        out.extend_from_slice(&self.build_dataset());
        out
    }

    /// Build and write to `path`.
    pub fn write_to(&self, path: impl AsRef<Path>) -> std::io::Result<()> {
        std::fs::write(path, self.build())
    }
}

// ---------------------------------------------------------------------------
// Fake PHI (all distinctive, greppable)
// ---------------------------------------------------------------------------

pub const PATIENT_NAME: &str = "DOE^JANE^FIXTURE";
pub const PATIENT_ID: &str = "PID-FIXTURE-0001";
pub const PATIENT_BIRTH_DATE: &str = "19450317";
pub const PATIENT_SEX: &str = "F";
pub const PATIENT_AGE: &str = "078Y";
pub const OTHER_PATIENT_IDS: &str = "OPID-FIXTURE-0002";
pub const OTHER_PATIENT_NAMES: &str = "ROE^JANE^FIXTURE";
pub const PATIENT_ADDRESS: &str = "42 FIXTURE LANE, SPRINGFIELD ZZ 99999";
pub const ADDITIONAL_PATIENT_HISTORY: &str = "FIXTURE-HISTORY: FALL AT HOME 2023";
pub const ACCESSION_NUMBER: &str = "ACC-FIXTURE-0001";
pub const INSTITUTION_NAME: &str = "FIXTURE GENERAL HOSPITAL";
pub const INSTITUTION_ADDRESS: &str = "1 FIXTURE PLAZA, SPRINGFIELD ZZ 99998";
pub const REFERRING_PHYSICIAN_NAME: &str = "REFERRER^ROBERT^FIXTURE";
pub const REQUESTING_PHYSICIAN: &str = "REQUESTER^RITA^FIXTURE";
pub const OPERATORS_NAME: &str = "OPERATOR^OLIVE^FIXTURE";
pub const PERFORMING_PHYSICIAN_NAME: &str = "PERFORMER^PAUL^FIXTURE";
pub const STUDY_DATE: &str = "20230914";
pub const STUDY_TIME: &str = "101530";
pub const SERIES_TIME: &str = "101612";
pub const ACQUISITION_TIME: &str = "101644.250000";
pub const CONTENT_TIME: &str = "101645";
pub const ACQUISITION_DATETIME: &str = "20230914101644.250000";
pub const STUDY_DESCRIPTION: &str = "FIXTURE-STUDY-DESC CHEST";
pub const SERIES_DESCRIPTION: &str = "FIXTURE-SERIES-DESC AXIAL";
pub const PROTOCOL_NAME: &str = "FIXTURE-PROTOCOL-NAME";
pub const STATION_NAME: &str = "FIXTURE-STN-01";
pub const DEVICE_SERIAL_NUMBER: &str = "SN-FIXTURE-98765";
pub const STUDY_ID: &str = "SID-FIXTURE-1";
pub const REQUESTED_PROCEDURE_ID: &str = "RPID-FIXTURE-01";
pub const REQUESTED_PROCEDURE_DESCRIPTION: &str = "FIXTURE-RP-DESC";
pub const SCHEDULED_PROCEDURE_STEP_ID: &str = "SPSID-FIXTURE-1";
pub const SCHEDULED_PROCEDURE_STEP_DESCRIPTION: &str = "FIXTURE-SPS-DESC";
pub const IMAGE_COMMENTS: &str = "FIXTURE-IMAGE-COMMENT FOR DOE";
/// Text written inside the Encapsulated PDF document (deliberate PHI in a blob).
pub const PDF_DOCUMENT_TITLE: &str = "FIXTURE-REPORT-TITLE";
pub const OVERLAY_DESCRIPTION: &str = "FIXTURE-OVERLAY-DESC";
pub const CURVE_DESCRIPTION: &str = "FIXTURE-CURVE-DESC";
pub const DICOMDIR_FILE_SET_ID: &str = "FIXTURE_FSET";

/// Private creator used by the fixture private block.
pub const PRIVATE_CREATOR: &str = "ACME PRIVATE";

/// Every fake PHI string (names, identifiers, dates, addresses, free text)
/// written by the fixtures. Each is distinctive enough to grep raw bytes for.
/// Times and UIDs are listed separately ([`PHI_TIMES`], [`PHI_UIDS`]).
pub const PHI_STRINGS: &[&str] = &[
    PATIENT_NAME,
    PATIENT_ID,
    PATIENT_BIRTH_DATE,
    PATIENT_AGE,
    OTHER_PATIENT_IDS,
    OTHER_PATIENT_NAMES,
    PATIENT_ADDRESS,
    ADDITIONAL_PATIENT_HISTORY,
    ACCESSION_NUMBER,
    INSTITUTION_NAME,
    INSTITUTION_ADDRESS,
    REFERRING_PHYSICIAN_NAME,
    REQUESTING_PHYSICIAN,
    OPERATORS_NAME,
    PERFORMING_PHYSICIAN_NAME,
    STUDY_DATE,
    STUDY_DESCRIPTION,
    SERIES_DESCRIPTION,
    PROTOCOL_NAME,
    STATION_NAME,
    DEVICE_SERIAL_NUMBER,
    STUDY_ID,
    REQUESTED_PROCEDURE_ID,
    REQUESTED_PROCEDURE_DESCRIPTION,
    SCHEDULED_PROCEDURE_STEP_ID,
    SCHEDULED_PROCEDURE_STEP_DESCRIPTION,
    IMAGE_COMMENTS,
];

/// Times written by the fixtures (short; grep with care).
pub const PHI_TIMES: &[&str] = &[STUDY_TIME, SERIES_TIME, ACQUISITION_TIME, CONTENT_TIME];

// UIDs: all the same length, so none is a prefix/substring of another.
pub const STUDY_INSTANCE_UID: &str = "2.25.123400000000000000000000000000000001";
pub const SERIES_INSTANCE_UID: &str = "2.25.123400000000000000000000000000000002";
pub const FRAME_OF_REFERENCE_UID: &str = "2.25.123400000000000000000000000000000003";
pub const CT_SOP_INSTANCE_UID: &str = "2.25.123400000000000000000000000000000004";
pub const REFERENCED_IMAGE_UID_1: &str = "2.25.123400000000000000000000000000000005";
pub const REFERENCED_IMAGE_UID_2: &str = "2.25.123400000000000000000000000000000006";
pub const REFERENCED_STUDY_UID: &str = "2.25.123400000000000000000000000000000007";
pub const MR_SERIES_INSTANCE_UID: &str = "2.25.123400000000000000000000000000000008";
pub const MR_SOP_INSTANCE_UID: &str = "2.25.123400000000000000000000000000000009";
pub const US_SERIES_INSTANCE_UID: &str = "2.25.123400000000000000000000000000000010";
pub const US_SOP_INSTANCE_UID: &str = "2.25.123400000000000000000000000000000011";
pub const PDF_SERIES_INSTANCE_UID: &str = "2.25.123400000000000000000000000000000012";
pub const PDF_SOP_INSTANCE_UID: &str = "2.25.123400000000000000000000000000000013";
pub const DICOMDIR_INSTANCE_UID: &str = "2.25.123400000000000000000000000000000014";
pub const DIGITAL_SIGNATURE_UID: &str = "2.25.123400000000000000000000000000000015";
pub const NESTED_UID_PREFIX: &str = "2.25.1234000000000000000000000000000002"; // + 2 digits

/// Instance UIDs that de-identification must replace.
pub const PHI_UIDS: &[&str] = &[
    STUDY_INSTANCE_UID,
    SERIES_INSTANCE_UID,
    FRAME_OF_REFERENCE_UID,
    CT_SOP_INSTANCE_UID,
    REFERENCED_IMAGE_UID_1,
    REFERENCED_IMAGE_UID_2,
    REFERENCED_STUDY_UID,
    MR_SERIES_INSTANCE_UID,
    MR_SOP_INSTANCE_UID,
    US_SERIES_INSTANCE_UID,
    US_SOP_INSTANCE_UID,
    PDF_SERIES_INSTANCE_UID,
    PDF_SOP_INSTANCE_UID,
    DICOMDIR_INSTANCE_UID,
    DIGITAL_SIGNATURE_UID,
];

// SOP classes.
pub const CT_IMAGE_STORAGE: &str = "1.2.840.10008.5.1.4.1.1.2";
pub const MR_IMAGE_STORAGE: &str = "1.2.840.10008.5.1.4.1.1.4";
pub const US_IMAGE_STORAGE: &str = "1.2.840.10008.5.1.4.1.1.6.1";
pub const US_MULTIFRAME_IMAGE_STORAGE: &str = "1.2.840.10008.5.1.4.1.1.3.1";
pub const ENCAPSULATED_PDF_STORAGE: &str = "1.2.840.10008.5.1.4.1.1.104.1";
pub const MEDIA_STORAGE_DIRECTORY_STORAGE: &str = "1.2.840.10008.1.3.10";
pub const SECONDARY_CAPTURE_IMAGE_STORAGE: &str = "1.2.840.10008.5.1.4.1.1.7";

// ---------------------------------------------------------------------------
// Tags used by the fixtures (public dictionary names)
// ---------------------------------------------------------------------------

pub mod tags {
    pub const SPECIFIC_CHARACTER_SET: (u16, u16) = (0x0008, 0x0005);
    pub const IMAGE_TYPE: (u16, u16) = (0x0008, 0x0008);
    pub const INSTANCE_CREATION_DATE: (u16, u16) = (0x0008, 0x0012);
    pub const INSTANCE_CREATION_TIME: (u16, u16) = (0x0008, 0x0013);
    pub const SOP_CLASS_UID: (u16, u16) = (0x0008, 0x0016);
    pub const SOP_INSTANCE_UID: (u16, u16) = (0x0008, 0x0018);
    pub const STUDY_DATE: (u16, u16) = (0x0008, 0x0020);
    pub const SERIES_DATE: (u16, u16) = (0x0008, 0x0021);
    pub const ACQUISITION_DATE: (u16, u16) = (0x0008, 0x0022);
    pub const CONTENT_DATE: (u16, u16) = (0x0008, 0x0023);
    pub const ACQUISITION_DATETIME: (u16, u16) = (0x0008, 0x002A);
    pub const STUDY_TIME: (u16, u16) = (0x0008, 0x0030);
    pub const SERIES_TIME: (u16, u16) = (0x0008, 0x0031);
    pub const ACQUISITION_TIME: (u16, u16) = (0x0008, 0x0032);
    pub const CONTENT_TIME: (u16, u16) = (0x0008, 0x0033);
    pub const ACCESSION_NUMBER: (u16, u16) = (0x0008, 0x0050);
    pub const MODALITY: (u16, u16) = (0x0008, 0x0060);
    pub const CONVERSION_TYPE: (u16, u16) = (0x0008, 0x0064);
    pub const MANUFACTURER: (u16, u16) = (0x0008, 0x0070);
    pub const INSTITUTION_NAME: (u16, u16) = (0x0008, 0x0080);
    pub const INSTITUTION_ADDRESS: (u16, u16) = (0x0008, 0x0081);
    pub const REFERRING_PHYSICIAN_NAME: (u16, u16) = (0x0008, 0x0090);
    pub const CODE_VALUE: (u16, u16) = (0x0008, 0x0100);
    pub const CODING_SCHEME_DESIGNATOR: (u16, u16) = (0x0008, 0x0102);
    pub const CODE_MEANING: (u16, u16) = (0x0008, 0x0104);
    pub const STATION_NAME: (u16, u16) = (0x0008, 0x1010);
    pub const STUDY_DESCRIPTION: (u16, u16) = (0x0008, 0x1030);
    pub const SERIES_DESCRIPTION: (u16, u16) = (0x0008, 0x103E);
    pub const PERFORMING_PHYSICIAN_NAME: (u16, u16) = (0x0008, 0x1050);
    pub const OPERATORS_NAME: (u16, u16) = (0x0008, 0x1070);
    pub const MANUFACTURER_MODEL_NAME: (u16, u16) = (0x0008, 0x1090);
    pub const REFERENCED_STUDY_SEQUENCE: (u16, u16) = (0x0008, 0x1110);
    pub const REFERENCED_IMAGE_SEQUENCE: (u16, u16) = (0x0008, 0x1140);
    pub const REFERENCED_SOP_CLASS_UID: (u16, u16) = (0x0008, 0x1150);
    pub const REFERENCED_SOP_INSTANCE_UID: (u16, u16) = (0x0008, 0x1155);
    pub const PATIENT_NAME: (u16, u16) = (0x0010, 0x0010);
    pub const PATIENT_ID: (u16, u16) = (0x0010, 0x0020);
    pub const PATIENT_BIRTH_DATE: (u16, u16) = (0x0010, 0x0030);
    pub const PATIENT_SEX: (u16, u16) = (0x0010, 0x0040);
    pub const OTHER_PATIENT_IDS: (u16, u16) = (0x0010, 0x1000);
    pub const OTHER_PATIENT_NAMES: (u16, u16) = (0x0010, 0x1001);
    pub const PATIENT_AGE: (u16, u16) = (0x0010, 0x1010);
    pub const PATIENT_ADDRESS: (u16, u16) = (0x0010, 0x1040);
    pub const ADDITIONAL_PATIENT_HISTORY: (u16, u16) = (0x0010, 0x21B0);
    pub const BODY_PART_EXAMINED: (u16, u16) = (0x0018, 0x0015);
    pub const SCANNING_SEQUENCE: (u16, u16) = (0x0018, 0x0020);
    pub const SEQUENCE_VARIANT: (u16, u16) = (0x0018, 0x0021);
    pub const SCAN_OPTIONS: (u16, u16) = (0x0018, 0x0022);
    pub const MR_ACQUISITION_TYPE: (u16, u16) = (0x0018, 0x0023);
    pub const SEQUENCE_NAME: (u16, u16) = (0x0018, 0x0024);
    pub const SLICE_THICKNESS: (u16, u16) = (0x0018, 0x0050);
    pub const KVP: (u16, u16) = (0x0018, 0x0060);
    pub const REPETITION_TIME: (u16, u16) = (0x0018, 0x0080);
    pub const ECHO_TIME: (u16, u16) = (0x0018, 0x0081);
    pub const IMAGED_NUCLEUS: (u16, u16) = (0x0018, 0x0085);
    pub const MAGNETIC_FIELD_STRENGTH: (u16, u16) = (0x0018, 0x0087);
    pub const DEVICE_SERIAL_NUMBER: (u16, u16) = (0x0018, 0x1000);
    pub const SOFTWARE_VERSIONS: (u16, u16) = (0x0018, 0x1020);
    pub const PROTOCOL_NAME: (u16, u16) = (0x0018, 0x1030);
    pub const FLIP_ANGLE: (u16, u16) = (0x0018, 0x1314);
    pub const PATIENT_POSITION: (u16, u16) = (0x0018, 0x5100);
    pub const SEQUENCE_OF_ULTRASOUND_REGIONS: (u16, u16) = (0x0018, 0x6011);
    pub const STUDY_INSTANCE_UID: (u16, u16) = (0x0020, 0x000D);
    pub const SERIES_INSTANCE_UID: (u16, u16) = (0x0020, 0x000E);
    pub const STUDY_ID: (u16, u16) = (0x0020, 0x0010);
    pub const SERIES_NUMBER: (u16, u16) = (0x0020, 0x0011);
    pub const INSTANCE_NUMBER: (u16, u16) = (0x0020, 0x0013);
    pub const IMAGE_POSITION_PATIENT: (u16, u16) = (0x0020, 0x0032);
    pub const IMAGE_ORIENTATION_PATIENT: (u16, u16) = (0x0020, 0x0037);
    pub const FRAME_OF_REFERENCE_UID: (u16, u16) = (0x0020, 0x0052);
    pub const POSITION_REFERENCE_INDICATOR: (u16, u16) = (0x0020, 0x1040);
    pub const SLICE_LOCATION: (u16, u16) = (0x0020, 0x1041);
    pub const IMAGE_COMMENTS: (u16, u16) = (0x0020, 0x4000);
    pub const SAMPLES_PER_PIXEL: (u16, u16) = (0x0028, 0x0002);
    pub const PHOTOMETRIC_INTERPRETATION: (u16, u16) = (0x0028, 0x0004);
    pub const PLANAR_CONFIGURATION: (u16, u16) = (0x0028, 0x0006);
    pub const NUMBER_OF_FRAMES: (u16, u16) = (0x0028, 0x0008);
    pub const ROWS: (u16, u16) = (0x0028, 0x0010);
    pub const COLUMNS: (u16, u16) = (0x0028, 0x0011);
    pub const PIXEL_SPACING: (u16, u16) = (0x0028, 0x0030);
    pub const BITS_ALLOCATED: (u16, u16) = (0x0028, 0x0100);
    pub const BITS_STORED: (u16, u16) = (0x0028, 0x0101);
    pub const HIGH_BIT: (u16, u16) = (0x0028, 0x0102);
    pub const PIXEL_REPRESENTATION: (u16, u16) = (0x0028, 0x0103);
    pub const BURNED_IN_ANNOTATION: (u16, u16) = (0x0028, 0x0301);
    pub const WINDOW_CENTER: (u16, u16) = (0x0028, 0x1050);
    pub const WINDOW_WIDTH: (u16, u16) = (0x0028, 0x1051);
    pub const RESCALE_INTERCEPT: (u16, u16) = (0x0028, 0x1052);
    pub const RESCALE_SLOPE: (u16, u16) = (0x0028, 0x1053);
    pub const RESCALE_TYPE: (u16, u16) = (0x0028, 0x1054);
    pub const REQUESTING_PHYSICIAN: (u16, u16) = (0x0032, 0x1032);
    pub const REQUESTED_PROCEDURE_DESCRIPTION: (u16, u16) = (0x0032, 0x1060);
    pub const SCHEDULED_PROCEDURE_STEP_DESCRIPTION: (u16, u16) = (0x0040, 0x0007);
    pub const SCHEDULED_PROCEDURE_STEP_ID: (u16, u16) = (0x0040, 0x0009);
    pub const REQUEST_ATTRIBUTES_SEQUENCE: (u16, u16) = (0x0040, 0x0275);
    pub const REQUESTED_PROCEDURE_ID: (u16, u16) = (0x0040, 0x1001);
    pub const RELATIONSHIP_TYPE: (u16, u16) = (0x0040, 0xA010);
    pub const VALUE_TYPE: (u16, u16) = (0x0040, 0xA040);
    pub const CONCEPT_NAME_CODE_SEQUENCE: (u16, u16) = (0x0040, 0xA043);
    pub const TEXT_VALUE: (u16, u16) = (0x0040, 0xA160);
    pub const CONTENT_SEQUENCE: (u16, u16) = (0x0040, 0xA730);
    pub const DOCUMENT_TITLE: (u16, u16) = (0x0042, 0x0010);
    pub const ENCAPSULATED_DOCUMENT: (u16, u16) = (0x0042, 0x0011);
    pub const MIME_TYPE_OF_ENCAPSULATED_DOCUMENT: (u16, u16) = (0x0042, 0x0012);
    pub const PIXEL_DATA: (u16, u16) = (0x7FE0, 0x0010);
    pub const DIGITAL_SIGNATURES_SEQUENCE: (u16, u16) = (0xFFFA, 0xFFFA);
    pub const DATA_SET_TRAILING_PADDING: (u16, u16) = (0xFFFC, 0xFFFC);
    /// Fixture private block: creator element, LO (patient name), SQ (patient id).
    pub const PRIVATE_CREATOR_0009: (u16, u16) = (0x0009, 0x0010);
    pub const PRIVATE_NAME_0009: (u16, u16) = (0x0009, 0x1001);
    pub const PRIVATE_SEQ_0009: (u16, u16) = (0x0009, 0x1002);
    pub const PRIVATE_ID_IN_SEQ_0009: (u16, u16) = (0x0009, 0x1003);
}

use tags as t;

// ---------------------------------------------------------------------------
// Deterministic payloads
// ---------------------------------------------------------------------------

/// Deterministic, non-trivial 12-bit monochrome pattern, little-endian u16,
/// `rows*cols*2` bytes. High bytes are always <= 0x0F, so no ASCII text
/// (and thus no PHI string) can occur inside it.
pub fn pixel_pattern(rows: u16, cols: u16) -> Vec<u8> {
    let mut v = Vec::with_capacity(rows as usize * cols as usize * 2);
    for r in 0..rows as u32 {
        for c in 0..cols as u32 {
            let x = (r * 37 + c * 11 + (r ^ c) * 5 + (r * c) % 13) % 4096;
            v.extend_from_slice(&(x as u16).to_le_bytes());
        }
    }
    v
}

/// Deterministic 8-bit RGB (PlanarConfiguration 0) pattern, `rows*cols*3`
/// bytes, every byte >= 0x80 (no ASCII).
pub fn rgb_pattern(rows: u16, cols: u16) -> Vec<u8> {
    let mut v = Vec::with_capacity(rows as usize * cols as usize * 3);
    for r in 0..rows as u32 {
        for c in 0..cols as u32 {
            v.push((0x80 | ((r * 3 + c) & 0x7F)) as u8);
            v.push((0x80 | ((r + c * 5) & 0x7F)) as u8);
            v.push((0x80 | ((r * c + 7) & 0x7F)) as u8);
        }
    }
    v
}

/// Two arbitrary "JPEG" fragments: the first starts with SOI (FFD8), the
/// second ends with EOI (FFD9). Not decodable; lengths 1001 and 600
/// (the odd one gets a zero pad byte on output). No ASCII runs.
pub fn jpeg_fragments() -> (Vec<u8>, Vec<u8>) {
    let body = |seed: u32, n: usize| -> Vec<u8> {
        (0..n as u32)
            .map(|i| (0x80 | (i.wrapping_mul(seed).wrapping_add(seed >> 3) & 0x7F)) as u8)
            .collect()
    };
    let mut f1 = vec![0xFF, 0xD8, 0xFF, 0xDB];
    f1.extend(body(97, 997));
    let mut f2 = body(61, 598);
    f2.extend_from_slice(&[0xFF, 0xD9]);
    (f1, f2)
}

/// Minimal PDF embedding the patient name, document title and MRN as text
/// (deliberate PHI inside an opaque blob). Odd length (padded on output).
pub fn pdf_bytes() -> Vec<u8> {
    let content = format!(
        "BT /F1 12 Tf 72 720 Td ({PDF_DOCUMENT_TITLE}) Tj 0 -16 Td (Patient: {PATIENT_NAME} MRN {PATIENT_ID}) Tj ET"
    );
    let objs = [
        "<< /Type /Catalog /Pages 2 0 R >>".to_string(),
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_string(),
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>".to_string(),
        format!("<< /Length {} >>\nstream\n{content}\nendstream", content.len()),
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>".to_string(),
    ];
    let mut pdf = b"%PDF-1.4\n".to_vec();
    let mut offsets = Vec::new();
    for (i, o) in objs.iter().enumerate() {
        offsets.push(pdf.len());
        pdf.extend_from_slice(format!("{} 0 obj\n{o}\nendobj\n", i + 1).as_bytes());
    }
    let xref = pdf.len();
    let mut x = format!("xref\n0 {}\n0000000000 65535 f \n", objs.len() + 1);
    for o in offsets {
        x.push_str(&format!("{o:010} 00000 n \n"));
    }
    x.push_str(&format!(
        "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF",
        objs.len() + 1
    ));
    pdf.extend_from_slice(x.as_bytes());
    if pdf.len() % 2 == 0 {
        pdf.push(b'\n'); // keep it odd so the NUL-padding path is exercised
    }
    pdf
}

// ---------------------------------------------------------------------------
// Fixture modules
// ---------------------------------------------------------------------------

fn s(tag: (u16, u16), vr: &str, v: &str) -> Elem {
    Elem::str(tag, vr, v)
}

/// Patient / study / equipment / general series attributes shared by all
/// image-like fixtures (without Modality, SeriesInstanceUID and SOP).
fn patient_study(name: &str, id: &str) -> Vec<Elem> {
    vec![
        s(t::SPECIFIC_CHARACTER_SET, "CS", "ISO_IR 100"),
        s(t::INSTANCE_CREATION_DATE, "DA", STUDY_DATE),
        s(t::INSTANCE_CREATION_TIME, "TM", CONTENT_TIME),
        s(t::STUDY_DATE, "DA", STUDY_DATE),
        s(t::SERIES_DATE, "DA", STUDY_DATE),
        s(t::ACQUISITION_DATE, "DA", STUDY_DATE),
        s(t::CONTENT_DATE, "DA", STUDY_DATE),
        s(t::ACQUISITION_DATETIME, "DT", ACQUISITION_DATETIME),
        s(t::STUDY_TIME, "TM", STUDY_TIME),
        s(t::SERIES_TIME, "TM", SERIES_TIME),
        s(t::ACQUISITION_TIME, "TM", ACQUISITION_TIME),
        s(t::CONTENT_TIME, "TM", CONTENT_TIME),
        s(t::ACCESSION_NUMBER, "SH", ACCESSION_NUMBER),
        s(t::MANUFACTURER, "LO", "ACME MEDICAL SYSTEMS"),
        s(t::INSTITUTION_NAME, "LO", INSTITUTION_NAME),
        s(t::INSTITUTION_ADDRESS, "ST", INSTITUTION_ADDRESS),
        s(t::REFERRING_PHYSICIAN_NAME, "PN", REFERRING_PHYSICIAN_NAME),
        s(t::STATION_NAME, "SH", STATION_NAME),
        s(t::STUDY_DESCRIPTION, "LO", STUDY_DESCRIPTION),
        s(t::SERIES_DESCRIPTION, "LO", SERIES_DESCRIPTION),
        s(
            t::PERFORMING_PHYSICIAN_NAME,
            "PN",
            PERFORMING_PHYSICIAN_NAME,
        ),
        s(t::OPERATORS_NAME, "PN", OPERATORS_NAME),
        s(t::PATIENT_NAME, "PN", name),
        s(t::PATIENT_ID, "LO", id),
        s(t::PATIENT_BIRTH_DATE, "DA", PATIENT_BIRTH_DATE),
        s(t::PATIENT_SEX, "CS", PATIENT_SEX),
        s(t::OTHER_PATIENT_IDS, "LO", OTHER_PATIENT_IDS),
        s(t::OTHER_PATIENT_NAMES, "PN", OTHER_PATIENT_NAMES),
        s(t::PATIENT_AGE, "AS", PATIENT_AGE),
        s(t::PATIENT_ADDRESS, "LO", PATIENT_ADDRESS),
        s(
            t::ADDITIONAL_PATIENT_HISTORY,
            "LT",
            ADDITIONAL_PATIENT_HISTORY,
        ),
        s(t::DEVICE_SERIAL_NUMBER, "LO", DEVICE_SERIAL_NUMBER),
        s(t::SOFTWARE_VERSIONS, "LO", "FIXTURE-SW 1.0"),
        s(t::PROTOCOL_NAME, "LO", PROTOCOL_NAME),
        s(t::STUDY_INSTANCE_UID, "UI", STUDY_INSTANCE_UID),
        s(t::STUDY_ID, "SH", STUDY_ID),
        s(t::SERIES_NUMBER, "IS", "3"),
        s(t::INSTANCE_NUMBER, "IS", "17"),
        s(t::REQUESTING_PHYSICIAN, "PN", REQUESTING_PHYSICIAN),
        s(
            t::REQUESTED_PROCEDURE_DESCRIPTION,
            "LO",
            REQUESTED_PROCEDURE_DESCRIPTION,
        ),
        request_attributes_sequence(),
    ]
}

/// (0040,0275) RequestAttributesSequence: one item with IDs, accession,
/// study UID and a nested ReferencedStudySequence.
fn request_attributes_sequence() -> Elem {
    Elem::seq(
        t::REQUEST_ATTRIBUTES_SEQUENCE,
        vec![vec![
            s(t::ACCESSION_NUMBER, "SH", ACCESSION_NUMBER),
            Elem::seq(
                t::REFERENCED_STUDY_SEQUENCE,
                vec![vec![
                    s(t::REFERENCED_SOP_CLASS_UID, "UI", "1.2.840.10008.3.1.2.3.1"),
                    s(t::REFERENCED_SOP_INSTANCE_UID, "UI", REFERENCED_STUDY_UID),
                ]],
            ),
            s(t::STUDY_INSTANCE_UID, "UI", STUDY_INSTANCE_UID),
            s(
                t::REQUESTED_PROCEDURE_DESCRIPTION,
                "LO",
                REQUESTED_PROCEDURE_DESCRIPTION,
            ),
            s(
                t::SCHEDULED_PROCEDURE_STEP_DESCRIPTION,
                "LO",
                SCHEDULED_PROCEDURE_STEP_DESCRIPTION,
            ),
            s(
                t::SCHEDULED_PROCEDURE_STEP_ID,
                "SH",
                SCHEDULED_PROCEDURE_STEP_ID,
            ),
            s(t::REQUESTED_PROCEDURE_ID, "SH", REQUESTED_PROCEDURE_ID),
        ]],
    )
}

/// (0008,1140) ReferencedImageSequence with two items.
fn referenced_image_sequence(class_uid: &str) -> Elem {
    Elem::seq(
        t::REFERENCED_IMAGE_SEQUENCE,
        vec![
            vec![
                s(t::REFERENCED_SOP_CLASS_UID, "UI", class_uid),
                s(t::REFERENCED_SOP_INSTANCE_UID, "UI", REFERENCED_IMAGE_UID_1),
            ],
            vec![
                s(t::REFERENCED_SOP_CLASS_UID, "UI", class_uid),
                s(t::REFERENCED_SOP_INSTANCE_UID, "UI", REFERENCED_IMAGE_UID_2),
            ],
        ],
    )
}

/// Private block: (0009,0010) "ACME PRIVATE", (0009,1001) LO patient name,
/// (0009,1002) SQ whose item has its own creator, (0009,1003) LO patient id,
/// and a public (0010,0020) PatientID.
fn private_block(name: &str, id: &str) -> Vec<Elem> {
    vec![
        s(t::PRIVATE_CREATOR_0009, "LO", PRIVATE_CREATOR),
        s(t::PRIVATE_NAME_0009, "LO", name),
        Elem::seq(t::PRIVATE_SEQ_0009, vec![private_seq_item(id)]),
    ]
}

fn private_seq_item(id: &str) -> Vec<Elem> {
    vec![
        s(t::PRIVATE_CREATOR_0009, "LO", PRIVATE_CREATOR),
        s(t::PRIVATE_ID_IN_SEQ_0009, "LO", id),
        s(t::PATIENT_ID, "LO", id),
    ]
}

fn with_all(mut b: FileBuilder, elems: Vec<Elem>) -> FileBuilder {
    for e in elems {
        b = b.push(e);
    }
    b
}

/// Realistic single-frame CT (Explicit VR LE) full of obvious fake PHI; see
/// the `PHI_*` constants. Pixel Data is OW [`pixel_pattern`]`(rows, cols)`.
pub fn ct_like(patient_name: &str, patient_id: &str, rows: u16, cols: u16) -> FileBuilder {
    let b = FileBuilder::new(Ts::ExplicitLE).sop(CT_IMAGE_STORAGE, CT_SOP_INSTANCE_UID);
    let b = with_all(b, patient_study(patient_name, patient_id));
    let b = with_all(b, private_block(patient_name, patient_id));
    with_all(
        b,
        vec![
            s(t::IMAGE_TYPE, "CS", "ORIGINAL\\PRIMARY\\AXIAL"),
            s(t::MODALITY, "CS", "CT"),
            s(t::MANUFACTURER_MODEL_NAME, "LO", "FIXTURESCAN 64"),
            referenced_image_sequence(CT_IMAGE_STORAGE),
            s(t::BODY_PART_EXAMINED, "CS", "CHEST"),
            s(t::SLICE_THICKNESS, "DS", "1.25"),
            s(t::KVP, "DS", "120"),
            s(t::PATIENT_POSITION, "CS", "HFS"),
            s(t::SERIES_INSTANCE_UID, "UI", SERIES_INSTANCE_UID),
            s(t::IMAGE_POSITION_PATIENT, "DS", "-125.0\\-130.5\\-200.25"),
            s(t::IMAGE_ORIENTATION_PATIENT, "DS", "1\\0\\0\\0\\1\\0"),
            s(t::FRAME_OF_REFERENCE_UID, "UI", FRAME_OF_REFERENCE_UID),
            s(t::POSITION_REFERENCE_INDICATOR, "LO", ""),
            s(t::SLICE_LOCATION, "DS", "-200.25"),
            s(t::IMAGE_COMMENTS, "LT", IMAGE_COMMENTS),
            Elem::us(t::SAMPLES_PER_PIXEL, 1),
            s(t::PHOTOMETRIC_INTERPRETATION, "CS", "MONOCHROME2"),
            Elem::us(t::ROWS, rows),
            Elem::us(t::COLUMNS, cols),
            s(t::PIXEL_SPACING, "DS", "0.703125\\0.703125"),
            Elem::us(t::BITS_ALLOCATED, 16),
            Elem::us(t::BITS_STORED, 12),
            Elem::us(t::HIGH_BIT, 11),
            Elem::us(t::PIXEL_REPRESENTATION, 0),
            s(t::BURNED_IN_ANNOTATION, "CS", "NO"),
            s(t::WINDOW_CENTER, "DS", "40"),
            s(t::WINDOW_WIDTH, "DS", "400"),
            s(t::RESCALE_INTERCEPT, "DS", "-1024"),
            s(t::RESCALE_SLOPE, "DS", "1"),
            s(t::RESCALE_TYPE, "LO", "HU"),
            Elem::new(t::PIXEL_DATA, "OW", Value::Bytes(pixel_pattern(rows, cols))),
        ],
    )
}

/// Realistic single-frame MR (Explicit VR LE), same PHI as [`ct_like`] but
/// MR-specific series/SOP UIDs and acquisition attributes.
pub fn mr_like(patient_name: &str, patient_id: &str, rows: u16, cols: u16) -> FileBuilder {
    ct_like(patient_name, patient_id, rows, cols)
        .sop(MR_IMAGE_STORAGE, MR_SOP_INSTANCE_UID)
        .remove(t::KVP)
        .remove(t::RESCALE_INTERCEPT)
        .remove(t::RESCALE_SLOPE)
        .remove(t::RESCALE_TYPE)
        .push(referenced_image_sequence(MR_IMAGE_STORAGE))
        .str(t::IMAGE_TYPE, "CS", "ORIGINAL\\PRIMARY\\M\\ND")
        .str(t::MODALITY, "CS", "MR")
        .str(t::MANUFACTURER_MODEL_NAME, "LO", "FIXTUREMAG 3T")
        .str(t::BODY_PART_EXAMINED, "CS", "BRAIN")
        .str(t::SCANNING_SEQUENCE, "CS", "SE")
        .str(t::SEQUENCE_VARIANT, "CS", "SK\\SP")
        .str(t::SCAN_OPTIONS, "CS", "PFP")
        .str(t::MR_ACQUISITION_TYPE, "CS", "2D")
        .str(t::SEQUENCE_NAME, "SH", "*tse2d1_5")
        .str(t::SLICE_THICKNESS, "DS", "5")
        .str(t::REPETITION_TIME, "DS", "4000")
        .str(t::ECHO_TIME, "DS", "98")
        .str(t::IMAGED_NUCLEUS, "SH", "1H")
        .str(t::MAGNETIC_FIELD_STRENGTH, "DS", "3")
        .str(t::FLIP_ANGLE, "DS", "150")
        .str(t::SERIES_INSTANCE_UID, "UI", MR_SERIES_INSTANCE_UID)
        .str(t::IMAGE_ORIENTATION_PATIENT, "DS", "1\\0\\0\\0\\0\\-1")
        .str(t::PIXEL_SPACING, "DS", "0.5\\0.5")
        .str(t::WINDOW_CENTER, "DS", "600")
        .str(t::WINDOW_WIDTH, "DS", "1200")
}

/// Default-size CT with the canonical fake patient.
pub fn ct_default() -> FileBuilder {
    ct_like(PATIENT_NAME, PATIENT_ID, 16, 16)
}

/// Implicit VR LE with every sequence and item of undefined length.
pub fn ct_implicit_undefined_lengths() -> FileBuilder {
    ct_default().with_ts(Ts::ImplicitLE).undefined_lengths()
}

/// Explicit VR Big Endian (retired TS). Pixel data words are byte-swapped.
pub fn ct_explicit_be() -> FileBuilder {
    ct_default().with_ts(Ts::ExplicitBE)
}

/// Deflated Explicit VR LE (std-only raw DEFLATE of the data set).
pub fn ct_deflated() -> FileBuilder {
    ct_default().with_ts(Ts::DeflatedExplicitLE)
}

/// Bare data set (no preamble / "DICM" / meta), Implicit VR LE.
pub fn bare_implicit() -> FileBuilder {
    ct_default().with_ts(Ts::ImplicitLE).without_meta()
}

/// Bare data set (no preamble / "DICM" / meta), Explicit VR LE.
pub fn bare_explicit() -> FileBuilder {
    ct_default().with_ts(Ts::ExplicitLE).without_meta()
}

/// JPEG Baseline (encapsulated) CT, single frame split over the two
/// [`jpeg_fragments`]; Basic Offset Table `[0]`. 8-bit monochrome.
pub fn jpeg_baseline() -> FileBuilder {
    let (f1, f2) = jpeg_fragments();
    ct_default()
        .with_ts(Ts::JpegBaseline)
        .elem(t::BITS_ALLOCATED, "US", Value::U16(vec![8]))
        .elem(t::BITS_STORED, "US", Value::U16(vec![8]))
        .elem(t::HIGH_BIT, "US", Value::U16(vec![7]))
        .remove(t::RESCALE_INTERCEPT)
        .remove(t::RESCALE_SLOPE)
        .remove(t::RESCALE_TYPE)
        .elem(
            t::PIXEL_DATA,
            "OB",
            Value::Encapsulated {
                offset_table: vec![0],
                fragments: vec![f1, f2],
            },
        )
}

/// JPEG Baseline US multi-frame: 2 frames, one fragment each, Basic Offset
/// Table `[0, 8 + padded len(fragment 1)]`, RGB-ish YBR_FULL_422.
pub fn jpeg_baseline_two_frames() -> FileBuilder {
    let (f1, f2) = jpeg_fragments();
    let second = 8 + (f1.len() + f1.len() % 2) as u32;
    us_image()
        .with_ts(Ts::JpegBaseline)
        .sop(US_MULTIFRAME_IMAGE_STORAGE, US_SOP_INSTANCE_UID)
        .str(t::PHOTOMETRIC_INTERPRETATION, "CS", "YBR_FULL_422")
        .str(t::NUMBER_OF_FRAMES, "IS", "2")
        .elem(
            t::PIXEL_DATA,
            "OB",
            Value::Encapsulated {
                offset_table: vec![0, second],
                fragments: vec![f1, f2],
            },
        )
}

/// CT with elements after Pixel Data: (FFFA,FFFA) Digital Signatures
/// Sequence, (FFFC,FFFC) Data Set Trailing Padding, plus the usual
/// (4FFE,0001) MAC Parameters Sequence.
pub fn trailing_after_pixel_data() -> FileBuilder {
    ct_default()
        .push(Elem::seq(
            (0x4FFE, 0x0001),
            vec![vec![
                Elem::us((0x0400, 0x0005), 1),
                s((0x0400, 0x0010), "UI", Ts::ExplicitLE.uid()),
                s((0x0400, 0x0015), "CS", "RIPEMD160"),
                Elem::new(
                    (0x0400, 0x0020),
                    "AT",
                    Value::Tags(vec![t::PATIENT_NAME, t::PATIENT_ID, t::PIXEL_DATA]),
                ),
            ]],
        ))
        .push(Elem::seq(
            t::DIGITAL_SIGNATURES_SEQUENCE,
            vec![vec![
                Elem::us((0x0400, 0x0005), 1),
                s((0x0400, 0x0100), "UI", DIGITAL_SIGNATURE_UID),
                s((0x0400, 0x0105), "DT", ACQUISITION_DATETIME),
                s((0x0400, 0x0110), "CS", "X509_1993_SIG"),
                Elem::new((0x0400, 0x0115), "OB", Value::Bytes(vec![0xA5; 32])),
                Elem::new(
                    (0x0400, 0x0120),
                    "OB",
                    Value::Bytes((0..64u8).map(|i| i | 0x80).collect()),
                ),
            ]],
        ))
        .elem(
            t::DATA_SET_TRAILING_PADDING,
            "OB",
            Value::Bytes(vec![0u8; 64]),
        )
}

/// CP-246: Explicit VR LE file whose private sequence (0009,1002) is written
/// with VR "UN", undefined length, and items (undefined length) encoded in
/// Implicit VR LE.
pub fn cp246_private_un_sequence() -> FileBuilder {
    ct_default().elem(
        t::PRIVATE_SEQ_0009,
        "UN",
        Value::Seq {
            items: vec![private_seq_item(PATIENT_ID)],
            undefined_len: true,
            items_undefined_len: true,
        },
    )
}

/// CP-246 with a *public* sequence, (0040,0275) RequestAttributesSequence
/// (containing a nested SQ), written as UN / undefined length / implicit LE
/// content — as produced by a node whose dictionary lacked the tag.
pub fn cp246_public_un_sequence() -> FileBuilder {
    let Value::Seq { items, .. } = request_attributes_sequence().value else {
        unreachable!()
    };
    ct_default().elem(
        t::REQUEST_ATTRIBUTES_SEQUENCE,
        "UN",
        Value::Seq {
            items,
            undefined_len: true,
            items_undefined_len: true,
        },
    )
}

/// Meta declares Explicit VR LE but the data set is encoded Implicit VR LE.
pub fn explicit_meta_implicit_body() -> FileBuilder {
    ct_default().body_encoding(Ts::ImplicitLE)
}

/// Secondary-capture-like file with `depth` levels of nested
/// (0040,A730) ContentSequence. Level k (1-based) item holds
/// RelationshipType, ValueType TEXT, TextValue "FIXTURE-NESTED-k DOE^JANE^FIXTURE",
/// ReferencedSOPInstanceUID NESTED_UID_PREFIX + k (2 digits, k < 100 — beyond
/// that the UID is reused) and the next level. Odd levels use undefined
/// lengths, even levels defined.
pub fn nested(depth: usize) -> FileBuilder {
    fn level(k: usize, depth: usize) -> Elem {
        let mut item = vec![
            s(t::RELATIONSHIP_TYPE, "CS", "CONTAINS"),
            s(t::VALUE_TYPE, "CS", "TEXT"),
            s(t::TEXT_VALUE, "UT", &nested_text(k)),
            s(t::REFERENCED_SOP_INSTANCE_UID, "UI", &nested_uid(k)),
        ];
        if k < depth {
            item.push(level(k + 1, depth));
        }
        let undef = k % 2 == 1;
        Elem::new(
            t::CONTENT_SEQUENCE,
            "SQ",
            Value::Seq {
                items: vec![item],
                undefined_len: undef,
                items_undefined_len: undef,
            },
        )
    }
    let b =
        FileBuilder::new(Ts::ExplicitLE).sop(SECONDARY_CAPTURE_IMAGE_STORAGE, CT_SOP_INSTANCE_UID);
    let b = with_all(b, patient_study(PATIENT_NAME, PATIENT_ID));
    let b = b
        .str(t::MODALITY, "CS", "OT")
        .str(t::SERIES_INSTANCE_UID, "UI", SERIES_INSTANCE_UID)
        .str(t::CONVERSION_TYPE, "CS", "WSD");
    if depth == 0 {
        b
    } else {
        b.push(level(1, depth))
    }
}

/// TextValue used at nesting level `k` by [`nested`].
pub fn nested_text(k: usize) -> String {
    format!("FIXTURE-NESTED-{k} {PATIENT_NAME}")
}

/// ReferencedSOPInstanceUID used at nesting level `k` by [`nested`].
pub fn nested_uid(k: usize) -> String {
    format!("{NESTED_UID_PREFIX}{:02}", k % 100)
}

/// Packs a rows x cols overlay bitmap (bit = 1 on the border and diagonal),
/// DICOM bit order (LSB first), padded to an even number of bytes.
pub fn overlay_bits(rows: u16, cols: u16) -> Vec<u8> {
    let n = rows as usize * cols as usize;
    let mut v = vec![0u8; n.div_ceil(8)];
    for r in 0..rows as usize {
        for c in 0..cols as usize {
            if r == 0 || c == 0 || r + 1 == rows as usize || c + 1 == cols as usize || r == c {
                let i = r * cols as usize + c;
                v[i / 8] |= 1 << (i % 8);
            }
        }
    }
    if v.len() % 2 == 1 {
        v.push(0);
    }
    v
}

/// CT with two overlay planes (groups 6000 and 6002; OverlayData OW) and a
/// retired curve (group 5000; CurveData OW).
pub fn overlays_and_curves() -> FileBuilder {
    let (rows, cols) = (16u16, 16u16);
    let mut b = ct_like(PATIENT_NAME, PATIENT_ID, rows, cols);
    for g in [0x6000u16, 0x6002] {
        b = b
            .elem((g, 0x0010), "US", Value::U16(vec![rows]))
            .elem((g, 0x0011), "US", Value::U16(vec![cols]))
            .str((g, 0x0022), "LO", OVERLAY_DESCRIPTION)
            .str((g, 0x0040), "CS", "G")
            .elem((g, 0x0050), "SS", Value::I16(vec![1, 1]))
            .elem((g, 0x0100), "US", Value::U16(vec![1]))
            .elem((g, 0x0102), "US", Value::U16(vec![0]))
            .str((g, 0x1500), "LO", "FIXTURE-OVERLAY-LABEL")
            .elem((g, 0x3000), "OW", Value::Bytes(overlay_bits(rows, cols)));
    }
    let points: Vec<u16> = (0..8u16).flat_map(|i| [i * 10, 100 + i * i]).collect();
    b.elem((0x5000, 0x0005), "US", Value::U16(vec![2]))
        .elem((0x5000, 0x0010), "US", Value::U16(vec![8]))
        .str((0x5000, 0x0020), "CS", "TAC")
        .str((0x5000, 0x0022), "LO", CURVE_DESCRIPTION)
        .str((0x5000, 0x0030), "SH", "SEC\\HU")
        .elem((0x5000, 0x0103), "US", Value::U16(vec![0]))
        .str((0x5000, 0x2500), "LO", "FIXTURE-CURVE-LABEL")
        .elem((0x5000, 0x3000), "OW", Value::U16(points))
}

/// Ultrasound image (US Image Storage 1.2.840.10008.5.1.4.1.1.6.1), 8-bit
/// RGB, BurnedInAnnotation YES, with a SequenceOfUltrasoundRegions.
pub fn us_image() -> FileBuilder {
    let (rows, cols) = (12u16, 16u16);
    let b = FileBuilder::new(Ts::ExplicitLE).sop(US_IMAGE_STORAGE, US_SOP_INSTANCE_UID);
    let b = with_all(b, patient_study(PATIENT_NAME, PATIENT_ID));
    let b = with_all(b, private_block(PATIENT_NAME, PATIENT_ID));
    with_all(
        b,
        vec![
            s(t::IMAGE_TYPE, "CS", "ORIGINAL\\PRIMARY\\ABDOMINAL\\0001"),
            s(t::MODALITY, "CS", "US"),
            s(t::MANUFACTURER_MODEL_NAME, "LO", "FIXTURESOUND 9"),
            s(t::BODY_PART_EXAMINED, "CS", "ABDOMEN"),
            Elem::seq(
                t::SEQUENCE_OF_ULTRASOUND_REGIONS,
                vec![vec![
                    Elem::us((0x0018, 0x6012), 1),
                    Elem::us((0x0018, 0x6014), 1),
                    Elem::ul((0x0018, 0x6016), 0),
                    Elem::ul((0x0018, 0x6018), 1),
                    Elem::ul((0x0018, 0x601A), 1),
                    Elem::ul((0x0018, 0x601C), cols as u32 - 2),
                    Elem::ul((0x0018, 0x601E), rows as u32 - 2),
                    Elem::us((0x0018, 0x6024), 3),
                    Elem::us((0x0018, 0x6026), 3),
                    Elem::new((0x0018, 0x602C), "FD", Value::F64(vec![0.0125])),
                    Elem::new((0x0018, 0x602E), "FD", Value::F64(vec![0.0125])),
                ]],
            ),
            s(t::SERIES_INSTANCE_UID, "UI", US_SERIES_INSTANCE_UID),
            Elem::us(t::SAMPLES_PER_PIXEL, 3),
            s(t::PHOTOMETRIC_INTERPRETATION, "CS", "RGB"),
            Elem::us(t::PLANAR_CONFIGURATION, 0),
            Elem::us(t::ROWS, rows),
            Elem::us(t::COLUMNS, cols),
            Elem::us(t::BITS_ALLOCATED, 8),
            Elem::us(t::BITS_STORED, 8),
            Elem::us(t::HIGH_BIT, 7),
            Elem::us(t::PIXEL_REPRESENTATION, 0),
            s(t::BURNED_IN_ANNOTATION, "CS", "YES"),
            Elem::new(t::PIXEL_DATA, "OB", Value::Bytes(rgb_pattern(rows, cols))),
        ],
    )
}

/// The default CT but with BurnedInAnnotation (0028,0301) = "YES".
pub fn ct_burned_in_annotation() -> FileBuilder {
    ct_default().str(t::BURNED_IN_ANNOTATION, "CS", "YES")
}

/// Encapsulated PDF (1.2.840.10008.5.1.4.1.1.104.1) whose PDF text contains
/// the patient name / ID (see [`pdf_bytes`]).
pub fn encapsulated_pdf() -> FileBuilder {
    let b = FileBuilder::new(Ts::ExplicitLE).sop(ENCAPSULATED_PDF_STORAGE, PDF_SOP_INSTANCE_UID);
    let b = with_all(b, patient_study(PATIENT_NAME, PATIENT_ID));
    with_all(
        b,
        vec![
            s(t::MODALITY, "CS", "DOC"),
            s(t::CONVERSION_TYPE, "CS", "WSD"),
            s(t::SERIES_INSTANCE_UID, "UI", PDF_SERIES_INSTANCE_UID),
            s(t::BURNED_IN_ANNOTATION, "CS", "YES"),
            Elem::seq(
                t::CONCEPT_NAME_CODE_SEQUENCE,
                vec![vec![
                    s(t::CODE_VALUE, "SH", "18748-4"),
                    s(t::CODING_SCHEME_DESIGNATOR, "SH", "LN"),
                    s(t::CODE_MEANING, "LO", "Diagnostic Imaging Report"),
                ]],
            ),
            s(t::DOCUMENT_TITLE, "ST", PDF_DOCUMENT_TITLE),
            Elem::new(t::ENCAPSULATED_DOCUMENT, "OB", Value::Bytes(pdf_bytes())),
            s(
                t::MIME_TYPE_OF_ENCAPSULATED_DOCUMENT,
                "LO",
                "application/pdf",
            ),
        ],
    )
}

/// DICOMDIR-like file (MediaStorageSOPClassUID 1.2.840.10008.1.3.10,
/// Explicit VR LE, no (0008,0016)/(0008,0018)) with PATIENT / STUDY / SERIES /
/// IMAGE records carrying PHI. Record offsets ((0004,1200), (0004,1202),
/// (0004,1400), (0004,1420)) are real byte offsets from the start of the
/// file *as built by this builder unchanged*; modifying the builder
/// invalidates them.
pub fn dicomdir_like() -> FileBuilder {
    fn records(off: [u32; 4]) -> Vec<Vec<Elem>> {
        let hdr = |next: u32, lower: u32, kind: &str| {
            vec![
                Elem::ul((0x0004, 0x1400), next),
                Elem::us((0x0004, 0x1410), 0xFFFF),
                Elem::ul((0x0004, 0x1420), lower),
                s((0x0004, 0x1430), "CS", kind),
            ]
        };
        let mut patient = hdr(0, off[1], "PATIENT");
        patient.extend([
            s(t::SPECIFIC_CHARACTER_SET, "CS", "ISO_IR 100"),
            s(t::PATIENT_NAME, "PN", PATIENT_NAME),
            s(t::PATIENT_ID, "LO", PATIENT_ID),
            s(t::PATIENT_BIRTH_DATE, "DA", PATIENT_BIRTH_DATE),
        ]);
        let mut study = hdr(0, off[2], "STUDY");
        study.extend([
            s(t::STUDY_DATE, "DA", STUDY_DATE),
            s(t::STUDY_TIME, "TM", STUDY_TIME),
            s(t::ACCESSION_NUMBER, "SH", ACCESSION_NUMBER),
            s(t::STUDY_DESCRIPTION, "LO", STUDY_DESCRIPTION),
            s(t::STUDY_INSTANCE_UID, "UI", STUDY_INSTANCE_UID),
            s(t::STUDY_ID, "SH", STUDY_ID),
        ]);
        let mut series = hdr(0, off[3], "SERIES");
        series.extend([
            s(t::MODALITY, "CS", "CT"),
            s(t::SERIES_INSTANCE_UID, "UI", SERIES_INSTANCE_UID),
            s(t::SERIES_NUMBER, "IS", "3"),
        ]);
        let mut image = hdr(0, 0, "IMAGE");
        image.extend([
            s((0x0004, 0x1500), "CS", "IMAGES\\IM000001"),
            s((0x0004, 0x1510), "UI", CT_IMAGE_STORAGE),
            s((0x0004, 0x1511), "UI", CT_SOP_INSTANCE_UID),
            s((0x0004, 0x1512), "UI", Ts::ExplicitLE.uid()),
            s(t::INSTANCE_NUMBER, "IS", "17"),
        ]);
        vec![patient, study, series, image]
    }
    let make = |off: [u32; 4]| {
        FileBuilder::new(Ts::ExplicitLE)
            .meta_elem(
                (0x0002, 0x0002),
                "UI",
                Value::str(MEDIA_STORAGE_DIRECTORY_STORAGE),
            )
            .meta_elem((0x0002, 0x0003), "UI", Value::str(DICOMDIR_INSTANCE_UID))
            .str((0x0004, 0x1130), "CS", DICOMDIR_FILE_SET_ID)
            .elem((0x0004, 0x1200), "UL", Value::U32(vec![off[0]]))
            .elem((0x0004, 0x1202), "UL", Value::U32(vec![off[0]]))
            .elem((0x0004, 0x1212), "US", Value::U16(vec![0]))
            .elem((0x0004, 0x1220), "SQ", Value::seq(records(off)))
    };
    // Pass 1: lay out with zero offsets, then locate the record items.
    let draft = make([0; 4]).build();
    let mut offs = [0u32; 4];
    let seq_hdr = [0x04, 0x00, 0x20, 0x12, b'S', b'Q', 0, 0];
    let p = draft
        .windows(8)
        .position(|w| w == seq_hdr)
        .expect("DirectoryRecordSequence");
    let mut pos = p + 12;
    for o in offs.iter_mut() {
        assert_eq!(&draft[pos..pos + 4], &[0xFE, 0xFF, 0x00, 0xE0]);
        *o = pos as u32;
        let len = u32::from_le_bytes(draft[pos + 4..pos + 8].try_into().unwrap()) as usize;
        pos += 8 + len;
    }
    let b = make(offs);
    assert_eq!(b.build().len(), draft.len());
    b
}

/// Every named fixture, built. Names are stable and usable as file stems.
pub fn all_fixtures() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("ct_explicit_le", ct_default().build()),
        (
            "mr_explicit_le",
            mr_like(PATIENT_NAME, PATIENT_ID, 16, 12).build(),
        ),
        (
            "ct_implicit_le_undefined",
            ct_implicit_undefined_lengths().build(),
        ),
        ("ct_explicit_be", ct_explicit_be().build()),
        ("ct_deflated", ct_deflated().build()),
        ("bare_implicit", bare_implicit().build()),
        ("bare_explicit", bare_explicit().build()),
        ("jpeg_baseline", jpeg_baseline().build()),
        (
            "jpeg_baseline_two_frames",
            jpeg_baseline_two_frames().build(),
        ),
        (
            "trailing_after_pixel_data",
            trailing_after_pixel_data().build(),
        ),
        ("cp246_private_un", cp246_private_un_sequence().build()),
        ("cp246_public_un", cp246_public_un_sequence().build()),
        (
            "explicit_meta_implicit_body",
            explicit_meta_implicit_body().build(),
        ),
        ("nested_8", nested(8).build()),
        ("overlays_curves", overlays_and_curves().build()),
        ("dicomdir", dicomdir_like().build()),
        ("encapsulated_pdf", encapsulated_pdf().build()),
        ("us_image", us_image().build()),
        ("ct_burned_in", ct_burned_in_annotation().build()),
    ]
}
