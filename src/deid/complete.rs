//! Whether a file holds what every object of its kind holds. A file cut exactly on an element
//! boundary walks as a well-formed data set, so the walker cannot tell it from a whole one;
//! served, it would look complete to every reader. A file is refused as `incomplete` when
//!
//! - it has no SOP Class UID (in the data set, or the meta's Media Storage SOP Class UID), or
//!   no SOP Instance UID, Study Instance UID or Series Instance UID in the data set (Type 1 in
//!   the SOP Common, General Study and every series module: every composite object has them);
//! - its IOD requires pixels (`iod`: every image, segmentation, parametric map...) and it has
//!   no Pixel Data, Float Pixel Data or Double Float Pixel Data;
//! - it has Rows (an Image Pixel module) but neither Pixel Data nor a Pixel Data Provider URL,
//!   whatever its class;
//! - its IOD is a structured report's (SR, Key Object Selection, Procedure Log...) and its
//!   root has no Content Sequence: the document's content;
//! - its native pixel data does not hold the rows x columns x samples x bits x frames its
//!   header describes (one padding byte to even length allowed), or the header does not
//!   describe them. Encapsulated pixel data must end with its sequence delimiter: the walker
//!   already refuses it as `truncated` when it does not.

use super::header::{pixel_header, top_level};
use super::iod::Requires;
use super::layout::{Body, Element};
use super::read::Window;
use super::refusal::{DeidError, Refusal};
use crate::dicom::Tag;
use crate::dicom::tag::{PIXEL_DATA, SERIES_INSTANCE_UID, SOP_INSTANCE_UID, STUDY_INSTANCE_UID};

const CONTENT_SEQUENCE: Tag = Tag(0x0040, 0xA730);
const ROWS: Tag = Tag(0x0028, 0x0010);
const PIXEL_DATA_PROVIDER_URL: Tag = Tag(0x0028, 0x7FE0);
const FLOAT_PIXEL_DATA: Tag = Tag(0x7FE0, 0x0008);
const DOUBLE_PIXEL_DATA: Tag = Tag(0x7FE0, 0x0009);

/// Refuses a file that lacks what its SOP class requires; `sop_class` is the data set's, else
/// the meta's ("" when neither has one).
pub(super) fn check(
    win: &mut Window,
    elements: &[Element],
    sop_class: &str,
) -> Result<(), DeidError> {
    let missing = |what: &str| Err(Refusal::Incomplete(what.to_string()).into());
    if sop_class.is_empty() {
        return missing("no SOP Class UID, in the data set or the file meta");
    }
    let top = top_level(elements)?;
    for (tag, name) in [
        (SOP_INSTANCE_UID, "SOP Instance UID"),
        (STUDY_INSTANCE_UID, "Study Instance UID"),
        (SERIES_INSTANCE_UID, "Series Instance UID"),
    ] {
        if top.get(&tag).is_none_or(|e| e.value_len() == 0) {
            return missing(&format!("no {name} in the data set"));
        }
    }
    let requires = Requires::of(sop_class);
    if requires.content && !top.contains_key(&CONTENT_SEQUENCE) {
        return missing("a structured report without its Content Sequence");
    }
    let pixels = [PIXEL_DATA, FLOAT_PIXEL_DATA, DOUBLE_PIXEL_DATA]
        .iter()
        .find_map(|t| top.get(t).copied());
    let Some(pixels) = pixels else {
        if requires.pixels {
            return missing("no Pixel Data, which its IOD requires");
        }
        // Whatever the class (a private one too): an Image Pixel module holds its pixels, or
        // says where they are (Pixel Data Provider URL, JPIP).
        if top.contains_key(&ROWS) && !top.contains_key(&PIXEL_DATA_PROVIDER_URL) {
            return missing("Rows and Columns without the Pixel Data they describe");
        }
        return Ok(());
    };
    if !matches!(pixels.body, Body::Primitive) {
        return Ok(()); // encapsulated: complete once the walker found its delimiter
    }
    // A header value that is not a number (Number of Frames "1A") describes no layout.
    let header = pixel_header(win, &top).map_err(|e| match e {
        DeidError::Refused(Refusal::PixelLayout(why)) => Refusal::Incomplete(why).into(),
        other => other,
    })?;
    let bits = match pixels.tag {
        FLOAT_PIXEL_DATA => Some(32),
        DOUBLE_PIXEL_DATA => Some(64),
        _ => header.bits_allocated,
    };
    let Some(want) = header.native_len(bits) else {
        return missing(
            "pixel data whose Rows, Columns or Bits Allocated is missing, zero or beyond 16 bits",
        );
    };
    let have = pixels.value_len();
    if have != want && have != want + want % 2 {
        return missing(&format!(
            "the pixel data holds {have} bytes; its header describes {want} (rows x columns x samples x bits x frames)"
        ));
    }
    Ok(())
}
