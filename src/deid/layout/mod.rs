//! The validating layout walker: reads a file's structure without trusting it and records the
//! byte offsets of every element, item and fragment. Values are not read here (except the few
//! meta values needed to know the encoding); the rewrite reads what it needs later.
//!
//! Everything a length field claims is checked against its container and the real file length
//! before it is believed, so a corrupt length is an error, never an allocation.
//!
//! `walker` reads; `error` says why a file is refused; this file holds what the walk finds.

mod error;
mod walker;

pub use error::LayoutError;
use walker::Walker;

use crate::dicom::encoding::{
    Encoding, TS_DEFLATED, TS_EXPLICIT_BE, TS_EXPLICIT_LE, TS_IMPLICIT_LE,
};
use crate::dicom::tag::{PIXEL_DATA, Tag};
use crate::dicom::vr::{Vr, dictionary_vr};
use crate::io::ReadAt;

/// Limits that bound work and memory on hostile input.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_depth: usize,
    pub max_elements: usize,
    pub max_fragments: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_depth: 32,
            max_elements: 1_000_000,
            max_fragments: 1_000_000,
        }
    }
}

#[derive(Debug, Clone)]
pub enum Body {
    /// A value of `len` bytes at `value_start`.
    Primitive,
    /// A sequence; `implicit_content` when its items were found encoded implicit VR.
    Sequence(Vec<Item>),
    /// Encapsulated (fragmented) data ending with a sequence delimiter: each item's value
    /// (the first is the Basic Offset Table, often empty).
    Fragments(Vec<Fragment>),
}

/// One item of encapsulated data: where its value starts and how long it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fragment {
    pub value_start: u64,
    pub len: u32,
}

#[derive(Debug, Clone)]
pub struct Element {
    pub tag: Tag,
    /// The VR written in the file (explicit), or the dictionary's (implicit; UN when unknown).
    pub vr: Vr,
    pub enc: Encoding,
    pub start: u64,
    pub value_start: u64,
    /// The length field: `None` for undefined length.
    pub len: Option<u32>,
    /// One past the last byte (after the sequence delimiter, if any).
    pub end: u64,
    pub body: Body,
}

impl Element {
    /// The VR that describes the value: the dictionary's when the file says UN for a public
    /// tag (implicit VR files, CP-246 content).
    pub fn value_vr(&self) -> Vr {
        if self.vr == Vr::UN && !self.tag.is_private() {
            dictionary_vr(self.tag)
        } else {
            self.vr
        }
    }
    pub fn header_len(&self) -> u64 {
        self.value_start - self.start
    }
    pub fn value_len(&self) -> u64 {
        match self.len {
            Some(n) => u64::from(n),
            None => self.end - self.value_start,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Item {
    pub start: u64,
    pub len: Option<u32>,
    /// Encoding of the elements inside (CP-246: implicit inside an explicit file).
    pub enc: Encoding,
    pub elements: Vec<Element>,
    pub end: u64,
}

#[derive(Debug, Clone)]
pub struct Meta {
    pub elements: Vec<Element>,
    pub transfer_syntax: Option<String>,
    pub end: u64,
}

#[derive(Debug, Clone)]
pub struct Layout {
    pub file_len: u64,
    /// 128-byte preamble and "DICM" present.
    pub preamble: bool,
    pub meta: Option<Meta>,
    pub dataset_start: u64,
    /// Encoding of the top-level data set as found (may differ from the declared one).
    pub enc: Encoding,
    /// Transfer syntax is Deflated Explicit VR Little Endian: the data set must be inflated.
    pub deflated: bool,
    pub elements: Vec<Element>,
}

impl Layout {
    /// Index of Pixel Data at the top level.
    pub fn pixel_data(&self) -> Option<&Element> {
        self.elements.iter().find(|e| e.tag == PIXEL_DATA)
    }
}

/// Walks a whole file (meta + data set). For deflated files the data set is not walked here:
/// `elements` is empty and the caller inflates `[dataset_start..]` and calls [`walk_dataset`].
pub fn walk(src: &dyn ReadAt, limits: Limits) -> Result<Layout, LayoutError> {
    let mut w = Walker::new(src, limits);
    let preamble = matches!(w.win.get(128, 4)?, Some(b"DICM"));
    let mut pos = if preamble { 132 } else { 0 };
    if !preamble && matches!(w.win.get(0, 4)?, Some(b"DICM")) {
        pos = 4; // "DICM" without preamble: seen from some writers
    }

    let meta = if w.peek_group(pos, false)? == Some(0x0002) {
        Some(w.meta(pos)?)
    } else {
        None
    };
    if preamble && meta.is_none() {
        return Err(LayoutError::BadMeta(
            "\"DICM\" is not followed by a file meta group".into(),
        ));
    }
    let dataset_start = meta.as_ref().map_or(pos, |m| m.end);
    let ts = meta.as_ref().and_then(|m| m.transfer_syntax.clone());
    let deflated = ts.as_deref() == Some(TS_DEFLATED);
    let declared = match ts.as_deref() {
        Some(TS_IMPLICIT_LE) => Some(Encoding::IMPLICIT_LE),
        Some(TS_EXPLICIT_BE) => Some(Encoding::EXPLICIT_BE),
        Some(_) => Some(Encoding::EXPLICIT_LE),
        None => None,
    };
    if deflated {
        return Ok(Layout {
            file_len: w.file_len,
            preamble,
            meta,
            dataset_start,
            enc: Encoding::EXPLICIT_LE,
            deflated,
            elements: Vec::new(),
        });
    }
    // Without a file meta group, a file shorter than one element header holds no data set:
    // it is no DICOM file (rather than a truncated one).
    if meta.is_none() && w.file_len < dataset_start + 8 {
        return Err(LayoutError::NotDicom("shorter than one data element"));
    }
    let enc = w.detect(dataset_start, declared)?;
    if !enc.explicit && enc.big_endian {
        return Err(LayoutError::NotDicom(
            "implicit VR big endian is not a DICOM encoding",
        ));
    }
    if let (Some(d), Some(ts)) = (declared, ts.as_deref())
        && d.explicit
        && !enc.explicit
        && ts != TS_EXPLICIT_LE
    {
        return Err(LayoutError::BadMeta(format!(
            "transfer syntax {ts} is declared but the data set is encoded implicit VR; only Explicit VR Little Endian files are corrected"
        )));
    }
    if meta.is_none() && w.file_len > dataset_start {
        w.check_plausible_start(dataset_start, enc)?;
    }
    let elements = w.top_level(dataset_start, enc)?;
    // A bare data set must hold at least one real attribute (not just group lengths or
    // command elements): a run of zeros is not a DICOM file.
    if meta.is_none() && !elements.iter().any(|e| e.tag.0 >= 0x0008) {
        return Err(LayoutError::NotDicom("no data elements"));
    }
    Ok(Layout {
        file_len: w.file_len,
        preamble,
        meta,
        dataset_start,
        enc,
        deflated,
        elements,
    })
}

/// Walks a bare data set (used for inflated deflate data); returns the encoding found.
pub fn walk_dataset(
    src: &dyn ReadAt,
    enc: Encoding,
    limits: Limits,
) -> Result<(Vec<Element>, Encoding), LayoutError> {
    let mut w = Walker::new(src, limits);
    let enc = w.detect(0, Some(enc))?;
    Ok((w.dataset(0, w.file_len, enc, 0)?, enc))
}
