//! Text burned into the pixels: whether a file is at risk, and, under the Clean Pixel Data
//! Option, where the text is and the mask that blanks it. Decided from the header alone,
//! before any pixel is read; a file at risk that cannot be cleaned is refused, never served
//! as it is.
//!
//! At risk: Burned In Annotation is YES; or the flag is not NO and the policy's refusal lists
//! name the modality or SOP class; or a device rule says where this device burns text. The
//! text is located by the Sequence of Ultrasound Regions (everything outside the union of
//! the regions is blanked, maxima inclusive as DICOM defines them) and by the device rules'
//! rectangles, which are applied after the regions so that text inside a region still goes.

use super::header::{ULTRASOUND_REGIONS, header_text, number, pixel_header, top_level};
use super::layout::{Body, Element, Fragment};
use super::read::Window;
use super::refusal::{DeidError, Refusal};
use super::screen::Facts;
use crate::deface::face::SliceFace;
use crate::dicom::tag::{BURNED_IN, MANUFACTURER, MODEL, PIXEL_DATA};
use crate::dicom::{Encoding, Tag, Vr};
use crate::pixels::decode::{Codec, MAX_FRAME_BYTES};
use crate::pixels::frames::{
    DecodedFrame, FrameCache, FrameError, Ranges, decode_ranges, frame_fragments,
};
use crate::pixels::rules::Area;
use crate::pixels::screen::margin;
use crate::pixels::{Geometry, GeometryError, Mask, Op, PixelHeader, Rect};
use crate::policy::{Policy, ProfileOption};
use std::io;
use std::sync::Arc;

const REGION_MIN_X0: Tag = Tag(0x0018, 0x6018);
const REGION_MIN_Y0: Tag = Tag(0x0018, 0x601A);
const REGION_MAX_X1: Tag = Tag(0x0018, 0x601C);
const REGION_MAX_Y1: Tag = Tag(0x0018, 0x601E);

/// How the pixels of a file at risk are cleaned.
#[derive(Debug, Clone)]
pub(super) struct PixelWork {
    pub mask: Arc<Mask>,
    pub frames: u32,
    /// What located the text, for `inspect`, `scan` and logs (no value from the file).
    pub settled_by: String,
    /// Encapsulated pixel data, served decoded (the file becomes Explicit VR Little Endian).
    pub decoded: Option<Decoded>,
    /// The image as served (native, or decoded).
    pub geometry: Geometry,
    /// Burned-in text was located and blanked (false: the work is the face's alone).
    pub text: bool,
    /// The face side of a head series' plane set to air too (`deface::face`), one per
    /// frame (none: no face to remove).
    pub faces: Vec<Arc<SliceFace>>,
}

/// The decoded image that replaces encapsulated pixel data.
#[derive(Debug, Clone)]
pub(super) struct Decoded {
    pub frames: Vec<Arc<DecodedFrame>>,
    pub geometry: Geometry,
    /// The source transfer syntax may have lost information (Lossy Image Compression 01).
    pub lossy: bool,
}

impl Decoded {
    /// The frames of `fragments` decoded (as `g` describes them) and masked by `mask`.
    fn new(
        fragments: Vec<Ranges>,
        header: &PixelHeader,
        g: &Geometry,
        mask: &Arc<Mask>,
        encoded: &Encoded,
    ) -> Decoded {
        let codec = encoded.codec.unwrap_or(Codec::Uncompressed);
        let source_photometric = header.photometric.clone().unwrap_or_default();
        Decoded {
            frames: fragments
                .into_iter()
                .map(|f| {
                    Arc::new(DecodedFrame::new(
                        codec,
                        source_photometric.clone(),
                        g.clone(),
                        f,
                        mask.clone(),
                        encoded.cache.clone(),
                    ))
                })
                .collect(),
            geometry: g.clone(),
            lossy: Codec::lossy(&encoded.transfer_syntax),
        }
    }
}

/// The decision for one file: no pixel work (`None`), a mask, or a refusal.
pub(super) fn decide(
    win: &mut Window,
    policy: &Policy,
    elements: &[Element],
    facts: &Facts,
    encoded: &Encoded,
) -> Result<Option<PixelWork>, DeidError> {
    let sop_class = facts.sop_class.as_str();
    // A few dozen lookups per file: a scan costs less than building a map.
    let text_of = |win: &mut Window, tag: Tag| -> io::Result<Option<String>> {
        if tag.0 == 0x0002 {
            // File meta attributes (Implementation Version Name...), as the source had them.
            return Ok(facts
                .meta_texts
                .iter()
                .find(|(t, _)| *t == tag)
                .map(|(_, v)| v.clone()));
        }
        match elements.iter().find(|e| e.tag == tag) {
            Some(el) => Ok(Some(header_text(win, el)?)),
            None => Ok(None),
        }
    };
    // Burned In Annotation appears once: a second one was refused with the file (`complete`).
    let flag = text_of(win, BURNED_IN)?
        .unwrap_or_default()
        .to_ascii_uppercase();
    let modality = facts.modality.clone();
    let manufacturer = text_of(win, MANUFACTURER)?.unwrap_or_default();
    let model = text_of(win, MODEL)?.unwrap_or_default();
    // The risk lists apply when the flag is absent: an explicit NO is the device's word.
    let listed = flag != "NO" && policy.burned_in_risk(&modality, sop_class, &manufacturer, &model);

    // Device rules with somewhere to act.
    let set = &policy.pixel_rules;
    let mut values = Vec::with_capacity(set.tags().len());
    for t in set.tags() {
        values.push(text_of(win, *t)?);
    }
    let matching = set.matching(&values);
    let rules: Vec<_> = matching.iter().map(|i| &set.rules()[*i]).collect();

    if flag != "YES" && !listed && rules.is_empty() {
        return Ok(None);
    }
    if !policy.has(ProfileOption::CleanPixelData) {
        return Err(if flag == "YES" {
            Refusal::BurnedInAnnotation
        } else if listed {
            Refusal::BurnedInRisk {
                modality,
                sop_class: sop_class.to_string(),
            }
        } else {
            Refusal::BurnedInRule {
                label: rules[0].label.clone(),
            }
        }
        .into());
    }

    // What the pixels are is read from attributes that must each appear once: a viewer shows
    // the first of two Columns, and a mask built for another would miss text.
    let top = top_level(elements)?;
    let regions = match top.get(&ULTRASOUND_REGIONS) {
        Some(el) => ultrasound_regions(win, el)?,
        None => Vec::new(),
    };
    let Some(pixels) = top.get(&PIXEL_DATA) else {
        return Err(Refusal::PixelsUnsettled.into());
    };
    let header = pixel_header(win, &top)?;
    let layout_error =
        |e: &dyn std::fmt::Display| DeidError::from(Refusal::PixelLayout(e.to_string()));
    // The image the mask is built for: the native pixels, or the decoded frames.
    let (g, fragments) = frames_of(win, &header, pixels, encoded)?;
    if fragments.is_none() && g.big_endian && g.bits_allocated == 8 && pixels.vr == Vr::OW {
        return Err(layout_error(&GeometryError::SwappedBytes));
    }
    let whole = Rect::whole(g.cols, g.rows);
    let mut ops: Vec<(Rect, Op)> = Vec::new();
    let mut by: Vec<String> = Vec::new();
    if !regions.is_empty() {
        ops.push((whole, Op::Blank));
        ops.extend(regions.iter().map(|r| (*r, Op::Keep)));
        by.push("ultrasound regions".into());
    }
    for rule in &rules {
        for area in &rule.areas {
            match area {
                Area::Rect(r, op) => ops.push((*r, *op)),
                Area::BlankAll => ops.push((whole, Op::Blank)),
                Area::KeepUltrasoundRegions => ops.extend(regions.iter().map(|r| (*r, Op::Keep))),
            }
        }
        by.push(format!("rule {:?}", rule.label));
    }
    let codec = encoded.codec.unwrap_or(Codec::Uncompressed);
    let source_photometric = header.photometric.clone().unwrap_or_default();
    // A frame as the source holds it (decoded, not masked), read while planning.
    let frame_at = |win: &mut Window, f: u32| -> Result<Vec<u8>, DeidError> {
        match &fragments {
            Some(frames) => {
                let ranges = &frames[f as usize];
                match decode_ranges(win.source(), codec, &g, &source_photometric, ranges) {
                    Ok(b) => Ok(b),
                    Err(FrameError::Io(e)) => Err(e.into()),
                    Err(FrameError::Decode(e)) => {
                        Err(Refusal::PixelsUndecodable(format!("frame {f}: {e}")).into())
                    }
                }
            }
            None => {
                let len = g.frame_bytes();
                Ok(win.exact(pixels.value_start + u64::from(f) * len, len as usize)?)
            }
        }
    };
    // What is checked once cleaned: with regions, nothing (everything outside them is blank
    // by construction); after device rules, the first and last frames (a new software
    // version may write text elsewhere); after the detector, every frame it looked at.
    let mut checked: Vec<u32> = Vec::new();
    if ops.is_empty() {
        // Nothing in the header says where the text is: the detector looks in every frame.
        if g.frames > MAX_DETECTED_FRAMES {
            return Err(Refusal::PixelsUnsettled.into());
        }
        let mut lines = Vec::new();
        for f in 0..g.frames {
            let frame = frame_at(win, f)?;
            let Some(luma) = crate::pixels::detect::luminance(&g, &frame) else {
                return Err(Refusal::PixelsUnsettled.into());
            };
            lines.extend(crate::pixels::detect::text_lines(
                &luma,
                g.cols as usize,
                g.rows as usize,
            ));
            checked.push(f);
        }
        if lines.is_empty() {
            // No text found is not proof of none: the header said this image is at risk.
            return Err(Refusal::PixelsUnsettled.into());
        }
        ops.extend(lines.iter().map(|r| (margin(*r), Op::Blank)));
        by.push("text detector".into());
    } else if regions.is_empty() {
        checked.push(0);
        if g.frames > 1 {
            checked.push(g.frames - 1);
        }
    }
    let black = match g.photometric {
        crate::pixels::Photometric::Palette => palette_black(win, &top, pixels.enc)?,
        _ => None,
    };
    let mask = Arc::new(Mask::new(&g, &ops, black).map_err(|e| layout_error(&e))?);
    if mask.is_empty() {
        // The regions or rules keep every pixel: nothing says where the text is.
        return Err(Refusal::PixelsUnsettled.into());
    }
    // One frame in memory at a time: read again rather than kept from the search.
    for f in checked {
        let mut frame = frame_at(win, f)?;
        mask.apply(0, &mut frame);
        verify(&g, &frame)?;
    }
    let decoded = fragments.map(|frames| Decoded::new(frames, &header, &g, &mask, encoded));
    Ok(Some(PixelWork {
        mask,
        frames: g.frames,
        settled_by: by.join(", "),
        decoded,
        geometry: g,
        text: true,
        faces: Vec::new(),
    }))
}

/// Pixel work with nothing to blank (a head slice only defaced): the native frames as they
/// are, or encapsulated ones decoded (the face is removed from decoded pixels).
pub(super) fn plain(
    win: &mut Window,
    elements: &[Element],
    encoded: &Encoded,
) -> Result<PixelWork, DeidError> {
    let top = top_level(elements)?;
    let Some(pixels) = top.get(&PIXEL_DATA).copied() else {
        return Err(Refusal::PixelLayout("no Pixel Data".into()).into());
    };
    let header = pixel_header(win, &top)?;
    let (g, fragments) = frames_of(win, &header, pixels, encoded)?;
    let mask = Arc::new(Mask::new(&g, &[], None).map_err(|e| Refusal::PixelLayout(e.to_string()))?);
    let decoded = fragments.map(|frames| Decoded::new(frames, &header, &g, &mask, encoded));
    Ok(PixelWork {
        mask,
        frames: g.frames,
        settled_by: String::new(),
        decoded,
        geometry: g,
        text: false,
        faces: Vec::new(),
    })
}

/// What the engine knows of the encoding of the pixels: the transfer syntax, its codec, and
/// the cache decoded frames go to.
pub(super) struct Encoded {
    pub transfer_syntax: String,
    pub codec: Option<Codec>,
    pub cache: Arc<FrameCache>,
}

impl Encoded {
    /// Pixels in `transfer_syntax`, decoded (when they must be) into `cache`.
    pub fn new(transfer_syntax: String, cache: Arc<FrameCache>) -> Encoded {
        Encoded {
            codec: Codec::of(&transfer_syntax),
            transfer_syntax,
            cache,
        }
    }
}

/// The image the Pixel Data element `pixels` holds: native frames as the header describes
/// them (`None` for the fragments), or the decoded image of encapsulated ones and the
/// fragments of each frame. Refused when the layout cannot be read exactly, a frame is over
/// `MAX_FRAME_BYTES`, or the compression is not one this build decodes.
pub(super) fn frames_of(
    win: &mut Window,
    header: &PixelHeader,
    pixels: &Element,
    encoded: &Encoded,
) -> Result<(Geometry, Option<Vec<Ranges>>), DeidError> {
    let layout_error =
        |e: &dyn std::fmt::Display| DeidError::from(Refusal::PixelLayout(e.to_string()));
    match &pixels.body {
        Body::Primitive => {
            let g = Geometry::new(header, pixels.enc.big_endian).map_err(|e| layout_error(&e))?;
            if g.frame_bytes() > MAX_FRAME_BYTES {
                return Err(layout_error(&format!(
                    "{} bytes per frame: more than {MAX_FRAME_BYTES} are not searched",
                    g.frame_bytes()
                )));
            }
            g.check_length(pixels.value_len())
                .map_err(|e| layout_error(&e))?;
            Ok((g, None))
        }
        Body::Fragments(items) => {
            let (g, frames) = encapsulated(win, header, items, encoded)?;
            Ok((g, Some(frames)))
        }
        Body::Sequence(_) => Err(layout_error(&"Pixel Data is a sequence")),
    }
}

/// The decoded image of encapsulated pixel data, and the fragments of each frame; refused
/// when the codec or the layout is not one this build decodes.
fn encapsulated(
    win: &mut Window,
    header: &PixelHeader,
    items: &[Fragment],
    encoded: &Encoded,
) -> Result<(Geometry, Vec<Ranges>), DeidError> {
    let compressed = |why: String| DeidError::from(Refusal::PixelsCompressed(why));
    let codec = encoded.codec.ok_or_else(|| {
        let ts = &encoded.transfer_syntax;
        // The UID only when it is one (a value from the file is never logged otherwise).
        let ts = if ts.chars().all(|c| c.is_ascii_digit() || c == '.') {
            ts.as_str()
        } else {
            "(not a UID)"
        };
        compressed(format!("transfer syntax {ts} has no decoder here"))
    })?;
    if codec == Codec::Uncompressed && header.planar_configuration == Some(1) {
        // Served as interleaved, these planes would be masked in the wrong places.
        return Err(compressed(
            "encapsulated uncompressed pixel data in Planar Configuration 1".into(),
        ));
    }
    let source = header.photometric.clone().unwrap_or_default();
    let bits_stored = header.bits_stored.or(header.bits_allocated).unwrap_or(0);
    let out = codec
        .output_photometric(&source, bits_stored)
        .map_err(compressed)?;
    let decoded = PixelHeader {
        photometric: Some(out.name().to_string()),
        planar_configuration: Some(0),
        ..header.clone()
    };
    let g = Geometry::new(&decoded, false).map_err(|e| Refusal::PixelLayout(e.to_string()))?;
    if g.frame_bytes() > MAX_FRAME_BYTES {
        return Err(Refusal::PixelLayout(format!(
            "{} bytes per decoded frame: more than {MAX_FRAME_BYTES} are not decoded",
            g.frame_bytes()
        ))
        .into());
    }
    let Some((table, rest)) = items.split_first() else {
        return Err(Refusal::PixelLayout("no Basic Offset Table item".into()).into());
    };
    let offsets = offset_table(win, table)?
        .ok_or_else(|| Refusal::PixelLayout("a Basic Offset Table not of 4-byte entries".into()))?;
    let fragments: Vec<(u64, u64)> = rest
        .iter()
        .map(|f| (f.value_start, u64::from(f.len)))
        .collect();
    let frames = frame_fragments(&fragments, &offsets, g.frames).map_err(Refusal::PixelLayout)?;
    Ok((g, frames))
}

/// The Basic Offset Table's entries; `None` when its length is not a multiple of 4.
fn offset_table(win: &mut Window, table: &Fragment) -> io::Result<Option<Vec<u32>>> {
    if table.len % 4 != 0 {
        return Ok(None);
    }
    Ok(Some(
        win.exact(table.value_start, table.len as usize)?
            .chunks_exact(4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect(),
    ))
}

/// Images the detector settles have at most this many frames: each is searched while
/// planning (a cine loop without regions stays refused).
const MAX_DETECTED_FRAMES: u32 = 8;

/// Fails closed when the sensitive detector still finds a line of text in a frame as served
/// (PALETTE COLOR frames are not checked: their indices say nothing of brightness).
fn verify(g: &Geometry, served: &[u8]) -> Result<(), DeidError> {
    match crate::pixels::detect::text_remains(g, served) {
        Some(true) => Err(Refusal::TextRemains.into()),
        _ => Ok(()),
    }
}

/// The union of the Sequence of Ultrasound Regions, as rectangles with exclusive maxima
/// (the attributes' maxima are inclusive). Items lacking a coordinate are skipped.
fn ultrasound_regions(win: &mut Window, seq: &Element) -> io::Result<Vec<Rect>> {
    let Body::Sequence(items) = &seq.body else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for item in items {
        let find = |t: Tag| item.elements.iter().find(|e| e.tag == t);
        let mut v = [0u32; 4];
        let mut complete = true;
        for (i, t) in [REGION_MIN_X0, REGION_MIN_Y0, REGION_MAX_X1, REGION_MAX_Y1]
            .into_iter()
            .enumerate()
        {
            match find(t) {
                Some(el) => match number(win, Some(&el))? {
                    Some(n) => v[i] = n,
                    None => complete = false,
                },
                None => complete = false,
            }
        }
        if complete && v[0] <= v[2] && v[1] <= v[3] {
            out.push(Rect {
                x0: v[0],
                y0: v[1],
                x1: v[2].saturating_add(1),
                y1: v[3].saturating_add(1),
            });
        }
    }
    Ok(out)
}

/// The palette index that shows darkest (smallest red + green + blue), from the 16-bit
/// palette LUTs; `None` when they cannot be read (the file is then refused).
fn palette_black(
    win: &mut Window,
    top: &super::header::TopLevel,
    enc: Encoding,
) -> io::Result<Option<u32>> {
    let mut luts = Vec::new();
    for (d, data) in [(0x1101, 0x1201), (0x1102, 0x1202), (0x1103, 0x1203)] {
        let (Some(desc), Some(lut)) = (top.get(&Tag(0x0028, d)), top.get(&Tag(0x0028, data)))
        else {
            return Ok(None);
        };
        let desc = win.exact(desc.value_start, desc.value_len() as usize)?;
        if desc.len() < 6 {
            return Ok(None);
        }
        let first = u32::from(enc.u16(&desc[2..4]));
        let bytes = win.exact(lut.value_start, lut.value_len() as usize)?;
        // Entries come in 16-bit words whatever the descriptor's bit depth; only their order
        // matters here.
        let values: Vec<u32> = bytes
            .chunks_exact(2)
            .map(|b| u32::from(enc.u16(b)))
            .collect();
        luts.push((first, values));
    }
    let n = luts.iter().map(|(_, v)| v.len()).min().unwrap_or(0);
    let darkest = (0..n).min_by_key(|i| luts.iter().map(|(_, v)| u64::from(v[*i])).sum::<u64>());
    Ok(darkest.map(|i| luts[0].0 + i as u32))
}
