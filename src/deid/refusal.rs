//! Why a file is not served, and the engine's error type: a refusal (the file is hidden and
//! its short reason counted) or an I/O error (transient: the read fails, nothing is hidden).
//! The short reasons (`reason()`, what the view logs and counts) never carry a value from the
//! file; the messages may name a SOP class, modality or pixel layout, and reach only the key
//! holder's one-file tools (`deid`, `inspect`).

use super::layout::LayoutError;
use crate::dicom::Tag;
use std::io;

/// Why a file is not served.
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    #[error("malformed: {0}")]
    Malformed(#[from] LayoutError),
    #[error("a DICOMDIR (media directory): it indexes the original names and IDs")]
    DicomDir,
    #[error("an encapsulated document (SOP Class {0}): its content cannot be de-identified")]
    Document(String),
    #[error("Burned In Annotation is YES: the pixels carry identifying text")]
    BurnedInAnnotation,
    #[error(
        "modality {modality} / SOP Class {sop_class} often carries burned-in text; allow it in the policy ([[allow]]) once checked"
    )]
    BurnedInRisk { modality: String, sop_class: String },
    #[error(
        "device rule {label:?} says this device burns text into these images; the clean-pixel-data option removes it"
    )]
    BurnedInRule { label: String },
    #[error(
        "the pixels may carry text, and neither a device rule nor the Sequence of Ultrasound Regions says where (text detection is not built yet)"
    )]
    PixelsUnsettled,
    #[error("the pixels may carry text and their compression cannot be decoded here: {0}")]
    PixelsCompressed(String),
    #[error("the pixels may carry text and a frame does not decode: {0}")]
    PixelsUndecodable(String),
    #[error("text is still found in the pixels after the device rule's rectangles were blanked")]
    TextRemains,
    #[error("the pixels may carry text and cannot be cleaned: {0}")]
    PixelLayout(String),
    #[error("deflated data set: {0}")]
    Deflate(String),
    #[error("incomplete: {0}")]
    Incomplete(String),
    #[error("{tag}: the new value does not fit its VR's length field")]
    ValueTooLong { tag: Tag },
    #[error(
        "a slice of a head CT or MR, whose face can be rendered: with the clean-recognizable-visual-features option its face is removed from the whole series, which a single file is not (mount or export the series' folder; docs/defacing.md)"
    )]
    HeadNotDefaced,
    #[error(
        "a slice of a head CT or MR whose face cannot be removed ({0}): hidden with the clean-recognizable-visual-features option (docs/defacing.md)"
    )]
    Undefaceable(crate::deface::Undefaceable),
}

impl Refusal {
    /// Short reason for counts and logs (never contains a value from the file).
    pub fn reason(&self) -> &'static str {
        match self {
            Refusal::Malformed(e) => e.reason(),
            Refusal::DicomDir => "dicomdir",
            Refusal::Document(_) => "document",
            Refusal::BurnedInAnnotation => "burned-in-annotation",
            Refusal::BurnedInRisk { .. } => "burned-in-risk",
            Refusal::BurnedInRule { .. } => "burned-in-rule",
            Refusal::PixelsUnsettled => "pixels-unsettled",
            Refusal::PixelsCompressed(_) => "pixels-compressed",
            Refusal::PixelsUndecodable(_) => "pixels-undecodable",
            Refusal::PixelLayout(_) => "pixels-layout",
            Refusal::TextRemains => "pixels-text-remains",
            Refusal::Deflate(_) => "deflate",
            Refusal::Incomplete(_) => "incomplete",
            Refusal::ValueTooLong { .. } => "value-too-long",
            Refusal::HeadNotDefaced => "head-not-defaced",
            Refusal::Undefaceable(why) => why.code(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DeidError {
    #[error("refused: {0}")]
    Refused(#[from] Refusal),
    #[error("I/O error reading the source: {0}")]
    Io(#[from] io::Error),
}

impl From<LayoutError> for DeidError {
    fn from(e: LayoutError) -> Self {
        match e {
            LayoutError::Io(io) => DeidError::Io(io),
            other => DeidError::Refused(Refusal::Malformed(other)),
        }
    }
}
