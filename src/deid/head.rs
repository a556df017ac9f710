//! Whether a file is an image of a head CT or MR, whose face can be rendered (PS3.15 E.3.2),
//! from its header alone: a CT or MR image (a slice, an enhanced multi-frame volume, or a
//! rendering saved as a secondary capture) whose Body Part Examined, anatomic region code or
//! descriptions name the head, the brain, the neck or a part of the face. Read only where the
//! Clean Recognizable Visual Features option is asked for; nothing here reads pixels. It
//! errs towards the head: what it takes for one is defaced with the option (or hidden when
//! it cannot be), never served as it is.
//!
//! Also what defacing needs of a head slice from its header ([`HeadSlice`]: where it is, what
//! its values mean, where its pixels are), for the engine planning it and for the view
//! finding the other slices of its series ([`head_slice`]).

use super::burned_in::{Encoded, frames_of};
use super::header::{header_text, pixel_header, top_level};
use super::layout::{self, Body, Element, Limits};
use super::meta;
use super::read::{Head, Window};
use super::refusal::DeidError;
use super::values::string_of;
use crate::deface::face::{SeriesFace, SliceFace};
use crate::deface::values::{Rescale, physical};
use crate::deface::{Modality, SliceFacts, Undefaceable};
use crate::dicom::Tag;
use crate::dicom::tag::{MODALITY, PIXEL_DATA};
use crate::io::ReadAt;
use crate::pixels::Geometry;
use crate::pixels::decode::Codec;
use crate::pixels::frames::{FrameCache, Ranges, decode_ranges};
use std::io;
use std::sync::Arc;

const BODY_PART: Tag = Tag(0x0018, 0x0015);
const ANATOMIC_REGION: Tag = Tag(0x0008, 0x2218);
const CODE_VALUE: Tag = Tag(0x0008, 0x0100);
const DESCRIPTIONS: [Tag; 3] = [
    Tag(0x0008, 0x1030), // Study Description
    Tag(0x0008, 0x103E), // Series Description
    Tag(0x0018, 0x1030), // Protocol Name
];

/// Beginnings of words (upper case; a value's words are split at anything not a letter or
/// digit) that place an image in the head: body parts of CID 4031, what protocols are
/// called (in English, German, French and Spanish), and the brain sequences named after it.
/// ("FACE" must begin a word: "SURFACE" is a coil; "EAR" and "ORAL" are left out: "EARLY
/// PHASE", "ORAL CONTRAST".)
const HEAD_WORDS: [&str; 40] = [
    "HEAD",
    "BRAIN",
    "SKULL",
    "CRANI",
    "CEREB",
    "NEURO",
    "ORBIT",
    "SINUS",
    "FACE",
    "FACIAL",
    "IAC",
    "PETROUS",
    "MASTOID",
    "TEMPORALBONE",
    "SELLA",
    "PITUITARY",
    "MAXILL",
    "MANDIB",
    "DENTAL",
    "JAW",
    "TMJ",
    "NASAL",
    "NASO",
    "NECK",
    "CAROTID",
    "STROKE",
    "MPRAGE",
    "MP2RAGE",
    "MEMPRAGE",
    "BRAVO",
    "SCHAEDEL",
    "SCHADEL",
    "KOPF",
    "GEHIRN",
    "HIRN",
    "CRANE",
    "CRANEO",
    "TETE",
    "CABEZA",
    "CERVEAU",
];

/// Whether `text` has a word beginning with one of [`HEAD_WORDS`].
fn names_the_head(text: &str) -> bool {
    let text = text
        .to_uppercase()
        .replace("MP-RAGE", "MPRAGE")
        .replace("MP_RAGE", "MPRAGE");
    text.split(|c: char| !c.is_ascii_alphanumeric())
        .any(|word| HEAD_WORDS.iter().any(|w| word.starts_with(w)))
}

/// Anatomic Region codes of the head (SNOMED CT and the older SNOMED RT forms): head, brain,
/// skull, head and neck, face, neck.
const HEAD_CODES: [&str; 12] = [
    "69536005", "12738006", "89546000", "774007", "89545001", "45048000", "T-D1100", "T-A0100",
    "T-11100", "T-D1000", "T-D1200", "T-D1600",
];

/// Whether the top-level `elements` describe a slice of a head CT or MR.
pub(super) fn is_head(win: &mut Window, elements: &[Element], modality: &str) -> io::Result<bool> {
    if !matches!(modality, "CT" | "MR") {
        return Ok(false);
    }
    if !elements.iter().any(|e| e.tag == PIXEL_DATA) {
        return Ok(false);
    }
    for el in elements.iter().filter(|e| {
        (e.tag == BODY_PART || DESCRIPTIONS.contains(&e.tag)) && matches!(e.body, Body::Primitive)
    }) {
        if names_the_head(&string_of(
            win.value(el.value_start, el.value_len() as usize)?,
        )) {
            return Ok(true);
        }
    }
    for el in regions(elements) {
        let Body::Sequence(items) = &el.body else {
            continue;
        };
        for code in items
            .iter()
            .flat_map(|i| &i.elements)
            .filter(|e| e.tag == CODE_VALUE)
        {
            let v = string_of(win.value(code.value_start, code.value_len() as usize)?);
            if HEAD_CODES.contains(&v.trim()) {
                return Ok(true);
            }
        }
    }
    Ok(false)
}

const SERIES_UID: Tag = Tag(0x0020, 0x000E);
const FRAME_OF_REFERENCE: Tag = Tag(0x0020, 0x0052);
const POSITION: Tag = Tag(0x0020, 0x0032);
const ORIENTATION: Tag = Tag(0x0020, 0x0037);
const PIXEL_SPACING: Tag = Tag(0x0028, 0x0030);
const HIGH_BIT: Tag = Tag(0x0028, 0x0102);
const INTERCEPT: Tag = Tag(0x0028, 0x1052);
const SLOPE: Tag = Tag(0x0028, 0x1053);

/// What defacing needs of one slice of a head series, from its header.
#[derive(Debug, Clone)]
pub struct HeadSlice {
    pub facts: SliceFacts,
    pub modality: Modality,
    pub rescale: Rescale,
    pub pixels: SlicePixels,
}

/// Where a slice's pixels are and what they are as served.
#[derive(Debug, Clone)]
pub struct SlicePixels {
    /// The image as served: the native frame, or the frame decoded from its fragments.
    pub geometry: Geometry,
    pub at: PixelsAt,
}

#[derive(Debug, Clone)]
pub enum PixelsAt {
    /// The native frame starts at this offset of the file.
    Native { offset: u64 },
    /// The frame is decoded from these fragment values.
    Encoded {
        codec: Codec,
        source_photometric: String,
        ranges: Ranges,
    },
}

impl HeadSlice {
    /// The slice's physical values (row after row), read from its file.
    pub fn physical(&self, src: &dyn ReadAt) -> io::Result<Vec<f32>> {
        let g = &self.pixels.geometry;
        let frame = match &self.pixels.at {
            PixelsAt::Native { offset } => {
                let mut b = vec![0u8; g.frame_bytes() as usize];
                src.read_exact_at(&mut b, *offset)?;
                b
            }
            PixelsAt::Encoded {
                codec,
                source_photometric,
                ranges,
            } => decode_ranges(src, *codec, g, source_photometric, ranges)
                .map_err(io::Error::from)?,
        };
        physical(&frame, g, self.rescale)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "not a greyscale slice"))
    }
}

/// A head image to deface: its series' face, and each frame's place in the volume and
/// rescale (one of each for a slice).
pub(super) struct Defacing {
    pub series: Arc<SeriesFace>,
    pub index: Vec<usize>,
    pub rescale: Vec<Rescale>,
}

impl Defacing {
    /// Each frame's face, for its pixels as served (`g`).
    pub fn frames(&self, g: &Geometry) -> Vec<Arc<SliceFace>> {
        self.index
            .iter()
            .zip(&self.rescale)
            .map(|(&k, &r)| Arc::new(SliceFace::new(self.series.clone(), k, g.clone(), r)))
            .collect()
    }
}

/// The functional groups of an enhanced (multi-frame) image: the shared item and one item
/// per frame (PS3.3 C.7.6.16), where each frame's place, orientation, spacing and rescale are.
struct Groups<'e> {
    shared: Option<&'e [Element]>,
    per_frame: Option<&'e [super::layout::Item]>,
}

const SHARED_GROUPS: Tag = Tag(0x5200, 0x9229);
const PER_FRAME_GROUPS: Tag = Tag(0x5200, 0x9230);
const FRAME_ANATOMY: Tag = Tag(0x0020, 0x9071);

/// The functional group macro (a sequence of one item) that holds `tag`.
fn macro_of(tag: Tag) -> Option<Tag> {
    Some(match tag {
        POSITION => Tag(0x0020, 0x9113),          // Plane Position Sequence
        ORIENTATION => Tag(0x0020, 0x9116),       // Plane Orientation Sequence
        PIXEL_SPACING => Tag(0x0028, 0x9110),     // Pixel Measures Sequence
        SLOPE | INTERCEPT => Tag(0x0028, 0x9145), // Pixel Value Transformation Sequence
        _ => return None,
    })
}

/// The elements of the first item of sequence `tag` among `elements`.
fn first_item(elements: &[Element], tag: Tag) -> Option<&[Element]> {
    match &elements.iter().find(|e| e.tag == tag)?.body {
        Body::Sequence(items) => items.first().map(|i| i.elements.as_slice()),
        _ => None,
    }
}

impl<'e> Groups<'e> {
    fn of(elements: &'e [Element]) -> Groups<'e> {
        let per_frame = match elements.iter().find(|e| e.tag == PER_FRAME_GROUPS) {
            Some(Element {
                body: Body::Sequence(items),
                ..
            }) => Some(items.as_slice()),
            _ => None,
        };
        Groups {
            shared: first_item(elements, SHARED_GROUPS),
            per_frame,
        }
    }

    /// `tag` for frame `frame`: in the frame's own groups, else in the shared ones, else at
    /// the top level (`top`).
    fn find(&self, top: &'e [Element], tag: Tag, frame: usize) -> Option<&'e Element> {
        let in_group = |group: &'e [Element]| {
            first_item(group, macro_of(tag)?)?
                .iter()
                .find(|e| e.tag == tag)
        };
        self.per_frame
            .and_then(|items| items.get(frame))
            .and_then(|item| in_group(&item.elements))
            .or_else(|| self.shared.and_then(in_group))
            .or_else(|| top.iter().find(|e| e.tag == tag))
    }
}

/// The Anatomic Region Sequences of an image: at the top level, and in the Frame Anatomy
/// of its shared and first frame's functional groups (enhanced images).
fn regions(elements: &[Element]) -> Vec<&Element> {
    let groups = Groups::of(elements);
    let anatomy = [
        groups.shared,
        groups
            .per_frame
            .and_then(|f| f.first())
            .map(|i| i.elements.as_slice()),
    ]
    .into_iter()
    .flatten()
    .filter_map(|g| first_item(g, FRAME_ANATOMY));
    elements
        .iter()
        .chain(anatomy.flatten())
        .filter(|e| e.tag == ANATOMIC_REGION)
        .collect()
}

/// What defacing needs of each frame of an image of a head CT or MR (`modality`), or why
/// it cannot be defaced: greyscale frames whose place, orientation, spacing and rescale the
/// header gives as numbers (at the top level for a slice; in the functional groups of an
/// enhanced multi-frame image, one volume in one file). Refused (`Err`) where its pixels
/// cannot be read exactly.
pub(super) fn slice_of(
    win: &mut Window,
    elements: &[Element],
    modality: &str,
    encoded: &Encoded,
) -> Result<Result<Vec<HeadSlice>, Undefaceable>, DeidError> {
    let modality = match modality {
        "CT" => Modality::Ct,
        "MR" => Modality::Mr,
        _ => return Ok(Err(Undefaceable::BadGeometry)),
    };
    let top = top_level(elements)?;
    let Some(pixels) = top.get(&PIXEL_DATA).copied() else {
        return Ok(Err(Undefaceable::BadGeometry));
    };
    let header = pixel_header(win, &top)?;
    let (g, fragments) = frames_of(win, &header, pixels, encoded)?;
    let mut text = |tag: Tag| -> io::Result<String> {
        match top.get(&tag) {
            Some(el) => header_text(win, el),
            None => Ok(String::new()),
        }
    };
    let (series_uid, frame_of_reference) = (text(SERIES_UID)?, text(FRAME_OF_REFERENCE)?);
    let groups = Groups::of(elements);
    let frames = g.frames as usize;
    if frames > 1 && groups.per_frame.is_some_and(|items| items.len() != frames) {
        return Ok(Err(Undefaceable::BadGeometry));
    }
    let mut numbers = |tag: Tag, frame: usize| -> io::Result<Option<Vec<f64>>> {
        let Some(el) = groups.find(elements, tag, frame) else {
            return Ok(None);
        };
        let text = header_text(win, el)?;
        Ok(text
            .split('\\')
            .map(|v| v.trim().parse::<f64>().ok().filter(|n| n.is_finite()))
            .collect())
    };
    let fixed = |v: Option<Vec<f64>>, n: usize| v.filter(|v| v.len() == n);
    let one = |v: Option<Vec<f64>>, default: f64| match v {
        None => Some(default),
        Some(v) if v.len() == 1 => Some(v[0]),
        Some(_) => None,
    };
    let Some(high_bit) = one(numbers(HIGH_BIT, 0)?, f64::from(g.bits_stored) - 1.0) else {
        return Ok(Err(Undefaceable::BadGeometry));
    };
    // Values read another way than the one filled in would miss the face.
    if !crate::deface::values::volume_pixels(&g) || high_bit != f64::from(g.bits_stored) - 1.0 {
        return Ok(Err(Undefaceable::BadGeometry));
    }
    let one_frame = Geometry {
        frames: 1,
        ..g.clone()
    };
    let mut ranges = fragments.map(|f| f.into_iter());
    let mut out = Vec::with_capacity(frames);
    for f in 0..frames {
        let (Some(position), Some(orientation), Some(spacing)) = (
            fixed(numbers(POSITION, f)?, 3),
            fixed(numbers(ORIENTATION, f)?, 6),
            fixed(numbers(PIXEL_SPACING, f)?, 2),
        ) else {
            return Ok(Err(Undefaceable::BadGeometry));
        };
        let (Some(slope), Some(intercept)) = (
            one(numbers(SLOPE, f)?, 1.0),
            one(numbers(INTERCEPT, f)?, 0.0),
        ) else {
            return Ok(Err(Undefaceable::BadGeometry));
        };
        if slope == 0.0 {
            return Ok(Err(Undefaceable::BadGeometry));
        }
        let facts = SliceFacts {
            series_uid: series_uid.clone(),
            frame_of_reference: frame_of_reference.clone(),
            orientation: [0, 1, 2, 3, 4, 5].map(|i| orientation[i]),
            position: [position[0], position[1], position[2]],
            rows: g.rows as usize,
            cols: g.cols as usize,
            spacing: [spacing[0], spacing[1]],
        };
        let at = match ranges.as_mut().map(|r| r.next()) {
            None => PixelsAt::Native {
                offset: pixels.value_start + f as u64 * g.frame_bytes(),
            },
            Some(Some(ranges)) => PixelsAt::Encoded {
                codec: encoded.codec.unwrap_or(Codec::Uncompressed),
                source_photometric: header.photometric.clone().unwrap_or_default(),
                ranges,
            },
            Some(None) => return Ok(Err(Undefaceable::BadGeometry)),
        };
        out.push(HeadSlice {
            facts,
            modality,
            rescale: Rescale { slope, intercept },
            pixels: SlicePixels {
                geometry: one_frame.clone(),
                at,
            },
        });
    }
    Ok(Ok(out))
}

/// The head frames a file holds (`None`: not an image of a head CT or MR, or not readable
/// as one), from its header: what the view reads of every file in a head slice's folder to
/// find the rest of its series.
pub fn head_slice(
    src: &dyn ReadAt,
) -> Result<Option<Result<Vec<HeadSlice>, Undefaceable>>, DeidError> {
    let head = Head::read(src)?;
    let src: &dyn ReadAt = &head;
    let layout = layout::walk(src, Limits::default())?;
    if layout.deflated {
        return Ok(None);
    }
    let mut win = Window::new(src);
    let modality = match top_level(&layout.elements)?.get(&MODALITY) {
        Some(el) => header_text(&mut win, el)?,
        None => return Ok(None),
    };
    if !is_head(&mut win, &layout.elements, &modality)? {
        return Ok(None);
    }
    let encoded = Encoded::new(meta::output_transfer_syntax(&layout), FrameCache::new(0));
    Ok(Some(slice_of(
        &mut win,
        &layout.elements,
        &modality,
        &encoded,
    )?))
}

#[cfg(test)]
mod tests {
    use super::names_the_head;

    #[test]
    fn words_of_the_head_begin_a_word_of_the_value() {
        for yes in [
            "HEAD",
            "CT Head w/o",
            "BRAIN_ROUTINE",
            "t1_mprage_sag_p2",
            "T1 MP-RAGE",
            "HEAD_NECK",
            "Neuro^Brain",
            "CT SINUSES",
            "Orbits",
            "MAXILLOFACIAL",
            "sag BRAVO",
        ] {
            assert!(names_the_head(yes), "{yes}");
        }
        for no in [
            "CHEST",
            "ABDOMEN PELVIS",
            "SURFACE COIL",
            "KNEE",
            "L-SPINE",
            "",
            "CARDIAC",
        ] {
            assert!(!names_the_head(no), "{no}");
        }
    }
}
