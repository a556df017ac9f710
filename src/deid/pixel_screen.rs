//! Screening: the Pixel Data of an image nobody marked at risk (CT, MR, XA... without a rule
//! or a flag), planned as screened frames. Planning reads nothing but the header; each frame
//! is searched for burned-in text when it is first read (`pixels::screen`), so listing and
//! `stat` stay header-only and the size is the source's.
//!
//! Images screening cannot read (PALETTE COLOR, 1-bit, a compression without a decoder here,
//! a layout whose frames cannot be told apart, deflated data sets) are planned as before:
//! the header did not mark them at risk, and screening is a second line, not the first.
//! A native slice of a head series being defaced is screened first, then defaced; an
//! encapsulated one is not screened (its face is removed from the decoded pixels).

use super::burned_in::{Encoded, frames_of};
use super::head::Defacing;
use super::header::{pixel_header, top_level};
use super::layout::{Body, Element};
use super::plan::{Out, Segment};
use super::read::Window;
use super::refusal::DeidError;
use crate::dicom::tag::PIXEL_DATA;
use crate::pixels::screen::{Pixels, ScreenedFrame};
use std::sync::Arc;

/// The top-level Pixel Data element as screened frames, or `None` when screening cannot
/// read it. `clean`: native frames with text are blanked (the Clean Pixel Data Option)
/// rather than refused.
pub(super) fn plan(
    win: &mut Window,
    elements: &[Element],
    encoded: &Encoded,
    clean: bool,
    face: Option<&Defacing>,
) -> Result<Option<Out>, DeidError> {
    let Ok(top) = top_level(elements) else {
        return Ok(None);
    };
    let Some(el) = top.get(&PIXEL_DATA).copied() else {
        return Ok(None);
    };
    let Ok(header) = pixel_header(win, &top) else {
        return Ok(None);
    };
    // What cleaning would read the pixels as; what it would refuse, screening cannot read.
    let (g, fragments) = match frames_of(win, &header, el, encoded) {
        Ok(found) => found,
        Err(DeidError::Io(e)) => return Err(e.into()),
        Err(DeidError::Refused(_)) => return Ok(None),
    };
    let mut out = Out::new();
    match fragments {
        None => {
            let frame = g.frame_bytes();
            out.source(el.start, el.header_len());
            let mut at = el.value_start;
            let faces = face.map(|d| d.frames(&g)).unwrap_or_default();
            for f in 0..g.frames {
                let s = ScreenedFrame::new(f, at, frame, g.clone(), Pixels::Native, clean);
                // Screened, then defaced.
                out.segment(Segment::Screened(Arc::new(s)).defaced(faces.get(f as usize)));
                at += frame;
            }
            out.source(at, el.end - at);
        }
        // A face is removed from decoded pixels, which screening does not serve.
        Some(_) if face.is_some() => return Ok(None),
        Some(frames) => {
            let (Body::Fragments(items), Some(codec)) = (&el.body, encoded.codec) else {
                return Ok(None);
            };
            let source_photometric = header.photometric.clone().unwrap_or_default();
            // The element's header and offset table, then each frame's items (item headers
            // included: the bytes are served as they are), then the delimiter.
            let mut at = items[0].value_start + u64::from(items[0].len);
            out.source(el.start, at - el.start);
            for (f, ranges) in frames.into_iter().enumerate() {
                let (Some(first), Some(last)) = (ranges.first(), ranges.last()) else {
                    return Ok(None);
                };
                let (start, end) = (first.0 - 8, last.0 + last.1);
                if start != at {
                    return Ok(None);
                }
                let pixels = Pixels::Encoded {
                    codec,
                    source_photometric: source_photometric.clone(),
                    ranges,
                };
                let s = ScreenedFrame::new(f as u32, start, end - start, g.clone(), pixels, false);
                out.segment(Segment::Screened(Arc::new(s)));
                at = end;
            }
            out.source(at, el.end - at);
        }
    }
    Ok(Some(out))
}
