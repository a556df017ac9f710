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

use super::layout::{Body, Element};
use super::read::Window;
use super::refusal::{DeidError, Refusal};
use super::screen::Facts;
use super::values::string_of;
use crate::dicom::tag::{BURNED_IN, MANUFACTURER, MODEL, PIXEL_DATA};
use crate::dicom::{Encoding, Tag, Vr};
use crate::pixels::rules::Area;
use crate::pixels::{Geometry, Mask, Op, PixelHeader, Rect};
use crate::policy::{Policy, ProfileOption};
use std::collections::HashMap;
use std::io;
use std::sync::Arc;

const ULTRASOUND_REGIONS: Tag = Tag(0x0018, 0x6011);
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
}

/// The decision for one file: no pixel work (`None`), a mask, or a refusal.
pub(super) fn decide(
    win: &mut Window,
    policy: &Policy,
    elements: &[Element],
    facts: &Facts,
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
    // The first Burned In Annotation, unless a duplicate says YES: any YES counts.
    let mut flag: Option<String> = None;
    for el in elements.iter().filter(|e| e.tag == BURNED_IN) {
        let v = header_text(win, el)?.to_ascii_uppercase();
        if flag.is_none() || v == "YES" {
            flag = Some(v);
        }
    }
    let flag = flag.unwrap_or_default();
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
    let mut top: HashMap<Tag, &Element> = HashMap::new();
    for el in elements {
        if top.insert(el.tag, el).is_some()
            && (el.tag.0 == 0x0028 || el.tag == PIXEL_DATA || el.tag == ULTRASOUND_REGIONS)
        {
            return Err(Refusal::PixelLayout(format!("{} appears twice", el.tag)).into());
        }
    }
    let regions = match top.get(&ULTRASOUND_REGIONS) {
        Some(el) => ultrasound_regions(win, el)?,
        None => Vec::new(),
    };
    let geometry = |win: &mut Window| -> Result<Geometry, DeidError> {
        let pixel = pixel_header(win, &top)?;
        let big_endian = top.get(&PIXEL_DATA).is_some_and(|e| e.enc.big_endian);
        Geometry::new(&pixel, big_endian).map_err(|e| Refusal::PixelLayout(e.to_string()).into())
    };
    let Some(pixels) = top.get(&PIXEL_DATA) else {
        return Err(Refusal::PixelsUnsettled.into());
    };
    if !matches!(pixels.body, Body::Primitive) {
        return Err(Refusal::PixelsCompressed.into());
    }
    let g = geometry(win)?;
    if g.big_endian && g.bits_allocated == 8 && pixels.vr == Vr::OW {
        return Err(
            Refusal::PixelLayout(crate::pixels::GeometryError::SwappedBytes.to_string()).into(),
        );
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
    if ops.is_empty() {
        return Err(Refusal::PixelsUnsettled.into());
    }
    g.check_length(pixels.value_len())
        .map_err(|e| Refusal::PixelLayout(e.to_string()))?;
    let black = match g.photometric {
        crate::pixels::Photometric::Palette => palette_black(win, &top, pixels.enc)?,
        _ => None,
    };
    let mask = Mask::new(&g, &ops, black).map_err(|e| Refusal::PixelLayout(e.to_string()))?;
    if mask.is_empty() {
        // The regions or rules keep every pixel: nothing says where the text is.
        return Err(Refusal::PixelsUnsettled.into());
    }
    if regions.is_empty() {
        // Only device rules located the text: check that none is left elsewhere (a new
        // software version may write more). With regions, everything outside them is blank.
        verify(win, pixels, &g, &mask)?;
    }
    Ok(Some(PixelWork {
        mask: Arc::new(mask),
        frames: g.frames,
        settled_by: by.join(", "),
    }))
}

/// Fails closed when the detector still finds a line of text in the first or last frame as
/// served (PALETTE COLOR frames are not checked: their indices say nothing of brightness).
fn verify(win: &mut Window, pixels: &Element, g: &Geometry, mask: &Mask) -> Result<(), DeidError> {
    let frame = g.frame_bytes();
    let mut frames = vec![0];
    if g.frames > 1 {
        frames.push(u64::from(g.frames) - 1);
    }
    for f in frames {
        let mut bytes = win.exact(pixels.value_start + f * frame, frame as usize)?;
        mask.apply(0, &mut bytes);
        let Some(luma) = crate::pixels::detect::luminance(g, &bytes) else {
            return Ok(());
        };
        if !crate::pixels::detect::text_lines(&luma, g.cols as usize, g.rows as usize).is_empty() {
            return Err(Refusal::TextRemains.into());
        }
    }
    Ok(())
}

/// An attribute as rules see it: text trimmed, numbers in decimal, values joined by `\`;
/// a sequence is present with no text.
fn header_text(win: &mut Window, el: &Element) -> io::Result<String> {
    let vr = el.value_vr();
    let binary = matches!(
        vr,
        Vr::OB | Vr::OW | Vr::OF | Vr::OD | Vr::OL | Vr::OV | Vr::UN | Vr::FD | Vr::AT
    );
    if binary || !matches!(el.body, Body::Primitive) {
        return Ok(String::new());
    }
    let v = win.exact(el.value_start, el.value_len() as usize)?;
    let nums = |size: usize, f: &dyn Fn(&[u8]) -> String| -> String {
        v.chunks_exact(size).map(f).collect::<Vec<_>>().join("\\")
    };
    let e = el.enc;
    Ok(match vr {
        Vr::US => nums(2, &|b| e.u16(b).to_string()),
        Vr::SS => nums(2, &|b| (e.u16(b) as i16).to_string()),
        Vr::UL => nums(4, &|b| e.u32(b).to_string()),
        Vr::SL => nums(4, &|b| (e.u32(b) as i32).to_string()),
        Vr::FL => nums(4, &|b| f32::from_bits(e.u32(b)).to_string()),
        _ => string_of(&v),
    })
}

/// The first value of an integer attribute (US, UL, IS...), `None` if absent or unreadable.
fn number(win: &mut Window, el: Option<&&Element>) -> io::Result<Option<u32>> {
    let Some(el) = el else { return Ok(None) };
    let text = header_text(win, el)?;
    Ok(text.split('\\').next().and_then(|s| s.trim().parse().ok()))
}

/// The header's pixel description. A Number of Frames or Planar Configuration that is present
/// but not a number is an error, not a default: a wrong frame count leaves frames unmasked.
fn pixel_header(win: &mut Window, top: &HashMap<Tag, &Element>) -> Result<PixelHeader, DeidError> {
    let n =
        |win: &mut Window, g: u16, e: u16, name: &'static str| -> Result<Option<u32>, DeidError> {
            match top.get(&Tag(g, e)) {
                None => Ok(None),
                Some(el) => match number(win, Some(el))? {
                    Some(v) => Ok(Some(v)),
                    None => Err(Refusal::PixelLayout(
                        crate::pixels::GeometryError::Unreadable(name).to_string(),
                    )
                    .into()),
                },
            }
        };
    let small = |v: Option<u32>| v.and_then(|v| u16::try_from(v).ok());
    Ok(PixelHeader {
        rows: small(n(win, 0x0028, 0x0010, "Rows")?),
        cols: small(n(win, 0x0028, 0x0011, "Columns")?),
        samples: small(n(win, 0x0028, 0x0002, "Samples per Pixel")?),
        bits_allocated: small(n(win, 0x0028, 0x0100, "Bits Allocated")?),
        bits_stored: small(n(win, 0x0028, 0x0101, "Bits Stored")?),
        pixel_representation: small(n(win, 0x0028, 0x0103, "Pixel Representation")?),
        planar_configuration: small(n(win, 0x0028, 0x0006, "Planar Configuration")?),
        frames: n(win, 0x0028, 0x0008, "Number of Frames")?,
        photometric: match top.get(&Tag(0x0028, 0x0004)) {
            Some(el) => Some(header_text(win, el)?),
            None => None,
        },
    })
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
    top: &HashMap<Tag, &Element>,
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
