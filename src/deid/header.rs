//! The header values that decide what happens to the pixels: the top-level elements by tag
//! (a pixel attribute that appears twice is refused), an attribute as text the way rules see
//! it, and the pixel description. Read from the layout and the source; nothing here decides.

use super::layout::{Body, Element};
use super::read::Window;
use super::refusal::{DeidError, Refusal};
use super::values::string_of;
use crate::dicom::tag::PIXEL_DATA;
use crate::dicom::{Tag, Vr};
use crate::pixels::PixelHeader;
use std::io;

pub(super) const ULTRASOUND_REGIONS: Tag = Tag(0x0018, 0x6011);

/// The top-level elements by tag (of a tag that appears twice, the last); refused when a
/// pixel attribute, Pixel Data or the ultrasound regions appear twice.
pub(super) fn top_level(elements: &[Element]) -> Result<TopLevel<'_>, DeidError> {
    let mut by_tag: Vec<&Element> = elements.iter().collect();
    // Usually in order already: the stable sort then only checks it.
    by_tag.sort_by_key(|e| e.tag);
    for pair in by_tag.windows(2) {
        let tag = pair[1].tag;
        if pair[0].tag == tag && (tag.0 == 0x0028 || tag == PIXEL_DATA || tag == ULTRASOUND_REGIONS)
        {
            return Err(Refusal::PixelLayout(format!("{tag} appears twice")).into());
        }
    }
    Ok(TopLevel { by_tag })
}

/// The top-level elements, looked up by tag (a sorted list: planning makes one per file, and
/// a hash map of a hundred elements cost more than the searches).
pub(super) struct TopLevel<'a> {
    by_tag: Vec<&'a Element>,
}

impl<'a> TopLevel<'a> {
    pub fn get(&self, tag: &Tag) -> Option<&&'a Element> {
        let after = self.by_tag.partition_point(|e| e.tag <= *tag);
        after
            .checked_sub(1)
            .map(|i| &self.by_tag[i])
            .filter(|e| e.tag == *tag)
    }

    pub fn contains_key(&self, tag: &Tag) -> bool {
        self.get(tag).is_some()
    }
}

/// An attribute as rules see it: text trimmed, numbers in decimal, values joined by `\`;
/// a sequence is present with no text.
pub(super) fn header_text(win: &mut Window, el: &Element) -> io::Result<String> {
    let vr = el.value_vr();
    let binary = matches!(
        vr,
        Vr::OB | Vr::OW | Vr::OF | Vr::OD | Vr::OL | Vr::OV | Vr::UN | Vr::FD | Vr::AT
    );
    if binary || !matches!(el.body, Body::Primitive) {
        return Ok(String::new());
    }
    let v = win.value(el.value_start, el.value_len() as usize)?;
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
        _ => string_of(v),
    })
}

/// The first value of an integer attribute (US, UL, IS...), `None` if absent or unreadable.
pub(super) fn number(win: &mut Window, el: Option<&&Element>) -> io::Result<Option<u32>> {
    let Some(el) = el else { return Ok(None) };
    // Unsigned binary values are read as they are (the text form is for rules and traces).
    let size = match el.value_vr() {
        Vr::US => 2,
        Vr::UL => 4,
        _ => 0,
    };
    if size > 0 && matches!(el.body, Body::Primitive) {
        let Some(b) = win.get(el.value_start, (el.value_len() as usize).min(size))? else {
            return Ok(None);
        };
        return Ok(match b.len() {
            2 => Some(u32::from(el.enc.u16(b))),
            4 => Some(el.enc.u32(b)),
            _ => None,
        });
    }
    let text = header_text(win, el)?;
    Ok(text.split('\\').next().and_then(|s| s.trim().parse().ok()))
}

/// The header's pixel description. A Number of Frames or Planar Configuration that is present
/// but not a number is an error, not a default: a wrong frame count leaves frames unmasked.
pub(super) fn pixel_header(win: &mut Window, top: &TopLevel) -> Result<PixelHeader, DeidError> {
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
