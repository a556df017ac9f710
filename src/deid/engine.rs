//! The engine: source bytes, a policy and a key in; a plan (or a refusal) out. It walks the
//! file without trusting it (`layout`), decides whether to serve it and who the patient is
//! (`screen`), rewrites every element by its rule (`rules`, `rewrite`), marks the result and
//! rebuilds the file meta (`meta`). The same source, policy and key always give the same plan.

use super::burned_in::{self, Encoded, PixelWork};
use super::deflate;
use super::echo::EchoMemo;
use super::head::{self, Defacing, HeadSlice};
use super::layout::{self, Layout, Limits};
use super::meta;
use super::pixel_screen;
use super::plan::{Out, Plan};
use super::read::{Head, Window};
use super::refusal::{DeidError, Refusal};
use super::rewrite::{INLINE_MAX, Rewriter};
use super::rules::Scope;
use super::screen::{self, Facts};
use super::trace::Change;
use crate::deface::Undefaceable;
use crate::deface::face::SeriesFace;
use crate::dicom::Encoding;
use crate::dicom::encoding::{TS_DEFLATED, TS_EXPLICIT_LE};
use crate::io::ReadAt;
use crate::pixels::frames::FrameCache;
use crate::policy::{Policy, ProfileOption};
use crate::pseudonym::Pseudonyms;
use std::sync::Arc;

/// Facts about a planned file (no PHI: pseudonymous values only).
#[derive(Debug, Clone, Default)]
pub struct FileInfo {
    pub sop_class: String,
    pub modality: String,
    pub transfer_syntax: String,
    pub patient_token: String,
    /// How burned-in text was located and blanked ("" when the pixels needed no work).
    pub pixels: String,
    /// Elements whose kept or cleaned value held an identifier of the file (echoes), by name:
    /// sorted, each once. Never a value.
    pub echoes: Vec<String>,
    /// Vendor blobs the research-safe dictionary would clean but that do not parse, removed:
    /// element and reason, never a value.
    pub blobs_removed: Vec<String>,
    /// A head slice served with its series' face removed.
    pub defaced: bool,
}

#[derive(Debug)]
pub struct Outcome {
    pub plan: Plan,
    pub info: FileInfo,
    /// What happened to each attribute; empty unless [`Engine::trace`] is set.
    pub trace: Vec<Change>,
}

/// The rewritten data set, what was traced, the elements that held echoes and the vendor
/// blobs removed because they do not parse.
struct Rewritten {
    dataset: Out,
    trace: Vec<Change>,
    echoes: Vec<String>,
    blobs_removed: Vec<String>,
}

/// What becomes of the top-level Pixel Data: pixel work, or screened frames; and whether
/// the face was removed.
struct PixelsOut<'p> {
    work: Option<&'p PixelWork>,
    screened: Option<Out>,
    defaced: bool,
}

/// Everything a plan depends on besides the source bytes.
pub struct Engine<'a> {
    pub policy: &'a Policy,
    pub keys: &'a Pseudonyms,
    pub limits: Limits,
    /// Record a [`Change`] per attribute (for `inspect` and the crosswalk).
    pub trace: bool,
    /// Where decoded frames are kept between reads (shared by every plan of a view).
    pub frames: Arc<FrameCache>,
    /// The series of head slices (a view, which knows a file's neighbours); without, a head
    /// slice is refused under the Clean Recognizable Visual Features option.
    pub faces: Option<&'a dyn Faces>,
    /// Files' identifiers compiled once per series (shared by every plan of a view).
    pub echoes: Arc<EchoMemo>,
}

/// The face of a head image's series and each of its frames' place in the volume, or why
/// the series cannot be defaced.
pub type HeadFace = Result<(Arc<SeriesFace>, Vec<usize>), Undefaceable>;

/// The series of a head image, as the view knows it (the engine sees one file).
pub trait Faces: Sync {
    /// The face of the series of `frames` (one slice of a series of files, or every frame
    /// of an enhanced multi-frame volume) and each frame's place in its volume, or why the
    /// series cannot be defaced.
    fn face(&self, frames: &[HeadSlice]) -> std::io::Result<HeadFace>;
}

/// Decoded frames kept by an engine made for one file or one export (each frame is read
/// about once there); a mount shares a larger cache between all its plans.
pub const DEFAULT_FRAME_CACHE: u64 = 64 << 20;

impl<'a> Engine<'a> {
    pub fn new(policy: &'a Policy, keys: &'a Pseudonyms) -> Self {
        Self {
            policy,
            keys,
            limits: Limits::default(),
            trace: false,
            frames: FrameCache::new(DEFAULT_FRAME_CACHE),
            faces: None,
            echoes: Arc::default(),
        }
    }

    /// Plans the de-identified form of `src`, or refuses it.
    pub fn plan(&self, src: &dyn ReadAt) -> Result<Outcome, DeidError> {
        let head = Head::read(src)?;
        let src: &dyn ReadAt = &head;
        let layout = layout::walk(src, self.limits)?;
        if layout.deflated {
            return self.plan_deflated(src, &layout);
        }
        let mut win = Window::new(src);
        let meta_facts = screen::meta_facts(&mut Window::new(src), &layout)?;
        let facts = screen::screen(
            &mut win,
            self.policy,
            self.keys,
            meta_facts,
            &layout.elements,
            &self.echoes,
        )?;
        let source_ts = meta::output_transfer_syntax(&layout);
        let encoded = Encoded::new(source_ts.clone(), self.frames.clone());
        let defacing = self.defacing(&mut win, &layout.elements, &facts, &encoded)?;
        let mut pixels =
            burned_in::decide(&mut win, self.policy, &layout.elements, &facts, &encoded)?;
        // Images not at risk: their frames are screened for text when read.
        let screened = match pixels {
            None if self.policy.screen_pixels => pixel_screen::plan(
                &mut win,
                &layout.elements,
                &encoded,
                self.policy.has(ProfileOption::CleanPixelData),
                defacing.as_ref(),
            )?,
            _ => None,
        };
        // A head slice not defaced by its screened frames is by its pixel work.
        if let Some(d) = &defacing
            && screened.is_none()
        {
            let mut work = match pixels.take() {
                Some(w) => w,
                None => burned_in::plain(&mut win, &layout.elements, &encoded)?,
            };
            work.faces = d.frames(&work.geometry);
            pixels = Some(work);
        }
        let ts = match pixels.as_ref().and_then(|p| p.decoded.as_ref()) {
            // Encapsulated transfer syntaxes are all explicit little endian: only the pixel
            // data changes.
            Some(_) if layout.enc == Encoding::EXPLICIT_LE => TS_EXPLICIT_LE.to_string(),
            Some(_) => {
                return Err(Refusal::PixelLayout(
                    "encapsulated pixel data in a data set that is not explicit little endian"
                        .into(),
                )
                .into());
            }
            None => source_ts,
        };
        let defaced = defacing.is_some();
        let Rewritten {
            dataset,
            trace,
            echoes,
            blobs_removed,
        } = self.rewrite(
            &facts,
            PixelsOut {
                work: pixels.as_ref(),
                screened,
                defaced,
            },
            win,
            layout.enc,
            &layout.elements,
            &meta::file_head(self.policy, self.keys, &facts, &ts)?,
        )?;
        Ok(Outcome {
            plan: dataset.finish(),
            info: info(&facts, pixels.as_ref(), defaced, ts, echoes, blobs_removed),
            trace,
        })
    }

    /// Deflated data sets are inflated, rewritten in memory and compressed again: the plan is
    /// one inline segment.
    fn plan_deflated(&self, src: &dyn ReadAt, layout: &Layout) -> Result<Outcome, DeidError> {
        let inflated = deflate::inflate(src, layout.dataset_start)?;
        let (elements, enc) = layout::walk_dataset(&inflated, Encoding::EXPLICIT_LE, self.limits)?;
        let meta_facts = screen::meta_facts(&mut Window::new(src), layout)?;
        let mut win = Window::new(&inflated);
        let facts = screen::screen(
            &mut win,
            self.policy,
            self.keys,
            meta_facts,
            &elements,
            &self.echoes,
        )?;
        self.no_face(&mut win, &elements, &facts)?;
        // Deflate compresses native pixel data only: there is nothing to decode.
        let encoded = Encoded {
            codec: None,
            transfer_syntax: TS_DEFLATED.into(),
            cache: self.frames.clone(),
        };
        let pixels = burned_in::decide(&mut win, self.policy, &elements, &facts, &encoded)?;
        // Not screened: the data set is materialised while planning.
        let Rewritten {
            dataset,
            trace,
            echoes,
            blobs_removed,
        } = self.rewrite(
            &facts,
            PixelsOut {
                work: pixels.as_ref(),
                screened: None,
                defaced: false,
            },
            win,
            enc,
            &elements,
            &[],
        )?;
        let dataset = dataset.materialize(&inflated)?;
        let head = meta::file_head(self.policy, self.keys, &facts, TS_DEFLATED)?;
        let mut out = Out::new();
        out.bytes(&deflate::deflate_after(head, &dataset)?);
        Ok(Outcome {
            plan: out.finish(),
            info: info(
                &facts,
                pixels.as_ref(),
                false,
                TS_DEFLATED.into(),
                echoes,
                blobs_removed,
            ),
            trace,
        })
    }

    /// A slice of a head CT or MR, with the Clean Recognizable Visual Features option: its
    /// series' face, or the reason it is refused (its series cannot be defaced, or the view
    /// gave no series: a file alone is not defaced). `None` for every other file.
    fn defacing(
        &self,
        win: &mut Window,
        elements: &[layout::Element],
        facts: &Facts,
        encoded: &Encoded,
    ) -> Result<Option<Defacing>, DeidError> {
        if !self.face_to_remove(win, elements, facts)? {
            return Ok(None);
        }
        let frames = head::slice_of(win, elements, &facts.modality, encoded)?
            .map_err(Refusal::Undefaceable)?;
        let faces = self.faces.ok_or(Refusal::HeadNotDefaced)?;
        let (series, index) = faces.face(&frames)?.map_err(Refusal::Undefaceable)?;
        // Found by a read of another slice since the series was grouped.
        if let Some(why) = series.failed() {
            return Err(Refusal::Undefaceable(why.clone()).into());
        }
        Ok(Some(Defacing {
            series,
            index,
            rescale: frames.iter().map(|f| f.rescale).collect(),
        }))
    }

    /// A head CT or MR renders the face: with the Clean Recognizable Visual Features option,
    /// a deflated one is not served (its pixels are not defaced: docs/defacing.md).
    fn no_face(
        &self,
        win: &mut Window,
        elements: &[layout::Element],
        facts: &Facts,
    ) -> Result<(), DeidError> {
        if self.face_to_remove(win, elements, facts)? {
            return Err(Refusal::HeadNotDefaced.into());
        }
        Ok(())
    }

    /// Whether the file is a head CT or MR image under the Clean Recognizable Visual
    /// Features option.
    fn face_to_remove(
        &self,
        win: &mut Window,
        elements: &[layout::Element],
        facts: &Facts,
    ) -> std::io::Result<bool> {
        Ok(self
            .policy
            .has(ProfileOption::CleanRecognizableVisualFeatures)
            && head::is_head(win, elements, &facts.modality)?)
    }

    /// The top-level data set rewritten, with the conformance marking in tag order, after
    /// `head` (the file's preamble and meta, or nothing).
    #[allow(clippy::too_many_arguments)]
    fn rewrite(
        &self,
        facts: &Facts,
        pixels: PixelsOut,
        win: Window,
        enc: Encoding,
        elements: &[layout::Element],
        head: &[u8],
    ) -> Result<Rewritten, DeidError> {
        let PixelsOut {
            work: pixels,
            screened,
            defaced,
        } = pixels;
        let mut rw = Rewriter::new(self.policy, self.keys, facts, pixels, win, self.trace);
        rw.screened = screened;
        let mut body = Out::with_capacity(held_size(elements), elements.len() + 8);
        let starts = rw.dataset(elements, Scope::Plain, "", &mut body)?;
        // The marks replace the elements of their tags, or go in at their place.
        let marks = meta::marking(self.policy, enc, rw.dates_shifted, pixels, defaced)?;
        let mut onto = Out::new();
        onto.bytes(head);
        let out = body.splice_onto(onto, &starts, marks);
        let mut echoes = std::mem::take(&mut rw.echoes);
        echoes.sort();
        echoes.dedup();
        Ok(Rewritten {
            dataset: out,
            blobs_removed: std::mem::take(&mut rw.blobs_removed),
            trace: rw.trace.map(|t| t.changes).unwrap_or_default(),
            echoes,
        })
    }
}

/// About what the rewritten data set holds in memory: its elements small enough to be copied
/// (larger ones are served from the source), and room for the marking.
fn held_size(elements: &[layout::Element]) -> usize {
    let small = elements
        .iter()
        .map(|e| e.end - e.start)
        .filter(|n| *n <= INLINE_MAX);
    (small.sum::<u64>() as usize).saturating_add(512)
}

fn info(
    facts: &Facts,
    pixels: Option<&PixelWork>,
    defaced: bool,
    transfer_syntax: String,
    echoes: Vec<String>,
    blobs_removed: Vec<String>,
) -> FileInfo {
    FileInfo {
        echoes,
        blobs_removed,
        pixels: pixels
            .filter(|p| p.text)
            .map(|p| p.settled_by.clone())
            .unwrap_or_default(),
        defaced,
        sop_class: facts.sop_class.clone(),
        modality: facts.modality.clone(),
        transfer_syntax,
        patient_token: facts.patient_token.clone(),
    }
}
