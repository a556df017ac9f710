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
use std::collections::HashMap;
use std::io;

pub(super) const ULTRASOUND_REGIONS: Tag = Tag(0x0018, 0x6011);

/// The top-level elements by tag; refused when a pixel attribute, Pixel Data or the
/// ultrasound regions appear twice.
pub(super) fn top_level(elements: &[Element]) -> Result<HashMap<Tag, &Element>, DeidError> {
    let mut top: HashMap<Tag, &Element> = HashMap::new();
    for el in elements {
        if top.insert(el.tag, el).is_some()
            && (el.tag.0 == 0x0028 || el.tag == PIXEL_DATA || el.tag == ULTRASOUND_REGIONS)
        {
            return Err(Refusal::PixelLayout(format!("{} appears twice", el.tag)).into());
        }
    }
    Ok(top)
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
pub(super) fn number(win: &mut Window, el: Option<&&Element>) -> io::Result<Option<u32>> {
    let Some(el) = el else { return Ok(None) };
    let text = header_text(win, el)?;
    Ok(text.split('\\').next().and_then(|s| s.trim().parse().ok()))
}

/// The header's pixel description. A Number of Frames or Planar Configuration that is present
/// but not a number is an error, not a default: a wrong frame count leaves frames unmasked.
pub(super) fn pixel_header(
    win: &mut Window,
    top: &HashMap<Tag, &Element>,
) -> Result<PixelHeader, DeidError> {
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
