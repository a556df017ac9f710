//! The rewrite: one mechanism for every element at every depth. Each element's rule (from
//! `rules`) is carried out: kept elements are copied verbatim (from memory, or as a source
//! range when large), changed ones get a new header and value, removed ones emit nothing, and
//! sequences are re-emitted around their rewritten items with recomputed defined lengths.

use super::burned_in::PixelWork;
use super::echo::{self, Removed};
use super::layout::{Body, Element, Item};
use super::plan::{Out, Segment};
use super::read::Window;
use super::refusal::{DeidError, Refusal};
use super::rules::{self, Creators, Scope};
use super::screen::Facts;
use super::trace::{self, Trace, Traced};
use super::values::{self, string_of, trim};
use super::vendor;
use crate::dicom::encode::{delimiter, header, item_header};
use crate::dicom::tag::{ITEM_END, PIXEL_DATA, SEQ_END};
use crate::dicom::{Encoding, Tag, Vr, VrExt};
use crate::policy::{Action, Blob, Policy, ProfileOption, Rule, Source};
use crate::pseudonym::Pseudonyms;
use std::io;

/// Values copied verbatim up to this size (header included) are held in memory; larger ones
/// are served from the source by offset.
pub(super) const INLINE_MAX: u64 = 4096;

pub(super) struct Rewriter<'a, 's> {
    pub policy: &'a Policy,
    pub keys: &'a Pseudonyms,
    pub facts: &'a Facts,
    /// How the top-level Pixel Data is cleaned, if it must be.
    pixels: Option<&'a PixelWork>,
    /// Or the top-level Pixel Data as screened frames (images not at risk).
    pub screened: Option<Out>,
    pub win: Window<'s>,
    /// Set when a date was shifted (the output is marked MODIFIED).
    pub dates_shifted: bool,
    /// Sequence nesting depth of the data set being rewritten (0: top level).
    depth: usize,
    /// Elements whose kept or cleaned value held an identifier of the file (by name; no value).
    pub echoes: Vec<String>,
    /// Vendor blobs removed because they do not parse: element and reason (no value).
    pub blobs_removed: Vec<String>,
    pub trace: Option<Trace>,
}

impl<'a, 's> Rewriter<'a, 's> {
    pub fn new(
        policy: &'a Policy,
        keys: &'a Pseudonyms,
        facts: &'a Facts,
        pixels: Option<&'a PixelWork>,
        win: Window<'s>,
        trace: bool,
    ) -> Self {
        Self {
            policy,
            keys,
            facts,
            pixels,
            screened: None,
            win,
            dates_shifted: false,
            depth: 0,
            echoes: Vec::new(),
            blobs_removed: Vec::new(),
            trace: trace.then(Trace::default),
        }
    }

    fn value(&mut self, el: &Element) -> io::Result<Vec<u8>> {
        self.win.exact(el.value_start, el.value_len() as usize)
    }

    /// Rewrites one data set (top level or an item) into `out`. At the top level, returns
    /// where each element's bytes start (`Out::split`), so elements can be replaced after.
    pub fn dataset(
        &mut self,
        elements: &[Element],
        scope: Scope,
        path: &str,
        out: &mut Out,
    ) -> Result<Vec<(Tag, usize)>, DeidError> {
        let mut creators = Creators::default();
        for el in elements.iter().filter(|e| e.tag.is_private_creator()) {
            let v = self.win.value(el.value_start, el.value_len() as usize)?;
            creators.insert((el.tag.0, el.tag.1 as u8), string_of(v));
        }
        let object = if self.depth == 0 {
            self.facts.object
        } else {
            rules::Object::default()
        };
        let rules = rules::rules(elements, &creators, scope, object, self.policy);
        let mut starts = Vec::with_capacity(if self.depth == 0 { elements.len() } else { 0 });
        for (el, rule) in elements.iter().zip(rules) {
            let el_path = if self.trace.is_some() {
                format!("{path}{}", el.tag)
            } else {
                String::new()
            };
            if self.depth == 0 {
                starts.push((el.tag, out.split()));
            }
            self.apply(el, &rule, scope, &el_path, out)?;
        }
        Ok(starts)
    }

    fn record(
        &mut self,
        el: &Element,
        path: &str,
        rule: &Rule,
        action: &'static str,
        before: Traced,
        after: Traced,
    ) {
        let depth = self.depth;
        if let Some(t) = self.trace.as_mut() {
            t.record(el, path, depth, rule, action, (before, after));
        }
    }

    /// The value before, as the trace shows it (read only when tracing, and only if small).
    fn before(&mut self, el: &Element) -> io::Result<Traced> {
        if self.trace.is_none() {
            return Ok(Traced::Absent);
        }
        if matches!(el.body, Body::Primitive) && el.value_len() <= INLINE_MAX {
            Ok(Traced::Value(self.value(el)?))
        } else {
            Ok(trace::unread(el))
        }
    }

    /// Writes what becomes of one element to `out` (nothing, if it is removed).
    fn apply(
        &mut self,
        el: &Element,
        rule: &Rule,
        scope: Scope,
        path: &str,
        out: &mut Out,
    ) -> Result<(), DeidError> {
        let tag = el.tag;
        if rule.action == Action::Remove {
            let before = self.before(el)?;
            self.record(el, path, rule, "remove", before, Traced::Absent);
            return Ok(());
        }
        if let Body::Sequence(items) = &el.body {
            return self.sequence(el, items, rule, scope, path, out);
        }
        if let (Some(work), PIXEL_DATA, 0, Action::Keep) =
            (self.pixels, tag, self.depth, rule.action)
        {
            return self.masked_pixels(el, path, work, out);
        }
        if (tag, self.depth, rule.action) == (PIXEL_DATA, 0, Action::Keep)
            && let Some(screened) = self.screened.take()
        {
            let shown = trace::unread(el);
            self.record(el, path, rule, "keep", shown.clone(), shown);
            out.append(screened);
            return Ok(());
        }
        let vr = el.value_vr();
        let mut echo_why = None;
        // A vendor blob is cleaned by its structure; one that does not parse is removed.
        let blob = match (rule.action, &rule.source, &el.body) {
            (Action::Clean, &Source::Vendor(Some(blob)), Body::Primitive) => {
                match self.vendor_blob(el, blob)? {
                    Ok(v) => Some(v),
                    Err(why) => {
                        let before = self.before(el)?;
                        self.record(el, path, rule, "remove", before, Traced::Absent);
                        if let Some(c) = self.trace.as_mut().and_then(|t| t.changes.last_mut()) {
                            c.why = format!("{} does not parse: {why}", blob.name());
                        }
                        self.blobs_removed.push(format!(
                            "{} ({}): {why}",
                            element_name(tag),
                            blob.name()
                        ));
                        return Ok(());
                    }
                }
            }
            _ => None,
        };
        let new_value: Option<Vec<u8>> = match (rule.action, &el.body) {
            (Action::Clean, _) if blob.is_some() => blob,
            (Action::Keep, Body::Primitive) => self.echo(el)?.map(|r| {
                echo_why = Some(echo_reason(&r));
                r.value
            }),
            (Action::Keep, _) => None,
            (_, Body::Fragments(_)) => Some(Vec::new()),
            (Action::Empty, _) => Some(Vec::new()),
            (Action::Uid, _) | (Action::Dummy, _) if vr == Vr::UI => {
                let v = self.win.value(el.value_start, el.value_len() as usize)?;
                Some(values::map_uids(self.keys, v))
            }
            (Action::Uid, _) => Some(Vec::new()),
            (Action::Dummy, _) => Some(values::pad(vr, values::dummy(vr, el.value_len() as usize))),
            (Action::Pseudonym, _) => Some(self.pseudonym(el, vr)?),
            (Action::Clean, _) => Some(self.clean(el, vr)?),
            (Action::Remove, _) => unreachable!("handled above"),
        };
        let before = self.before(el)?;
        match new_value {
            None => {
                // Verbatim: the element's own bytes, from memory or by source offset.
                self.record(el, path, rule, "keep", before.clone(), before);
                let whole = el.end - el.start;
                if whole <= INLINE_MAX {
                    if let Some(b) = self.win.get(el.start, whole as usize)? {
                        out.bytes(b);
                    }
                } else {
                    out.source(el.start, whole);
                }
            }
            Some(v) => {
                let action = if echo_why.is_some() {
                    "echo"
                } else {
                    rule.action.name()
                };
                let h = header(tag, el.vr, el.enc, Some(v.len() as u64))
                    .ok_or(Refusal::ValueTooLong { tag })?;
                out.bytes(&h);
                out.bytes(&v);
                self.record(el, path, rule, action, before, Traced::Value(v));
                if let (Some(why), Some(t)) = (echo_why, self.trace.as_mut())
                    && let Some(c) = t.changes.last_mut()
                {
                    c.why = why;
                }
            }
        }
        Ok(())
    }

    /// Pixel Data with burned-in text blanked. Native: the element's own header, then each
    /// frame as a masked source range, then any bytes after the last frame as they are.
    /// Encapsulated: a defined-length OB (8 bits) or OW value of the decoded frames, padded
    /// to even length.
    fn masked_pixels(
        &mut self,
        el: &Element,
        path: &str,
        work: &PixelWork,
        out: &mut Out,
    ) -> Result<(), DeidError> {
        if let Some(d) = &work.decoded {
            let len: u64 = d.frames.iter().map(|f| f.len()).sum();
            let vr = if d.geometry.bits_allocated == 8 {
                Vr::OB
            } else {
                Vr::OW
            };
            let h = header(el.tag, vr, el.enc, Some(len + len % 2))
                .ok_or(Refusal::ValueTooLong { tag: el.tag })?;
            out.bytes(&h);
            for (k, f) in d.frames.iter().enumerate() {
                out.segment(Segment::Decoded(f.clone()).defaced(work.faces.get(k)));
            }
            out.bytes(&vec![0u8; (len % 2) as usize]);
        } else {
            let head = self.win.exact(el.start, el.header_len() as usize)?;
            out.bytes(&head);
            let frame = work.mask.frame_len();
            let mut at = el.value_start;
            for k in 0..work.frames as usize {
                let seg = if work.mask.is_empty() {
                    Segment::Source {
                        offset: at,
                        len: frame,
                    }
                } else {
                    Segment::Masked {
                        offset: at,
                        len: frame,
                        mask: work.mask.clone(),
                    }
                };
                out.segment(seg.defaced(work.faces.get(k)));
                at += frame;
            }
            out.source(at, el.end - at);
        }
        let shown = trace::unread(el);
        if let Some(t) = self.trace.as_mut() {
            use crate::policy::ProfileOption::{CleanPixelData, CleanRecognizableVisualFeatures};
            let mut done = Vec::new();
            if work.text {
                done.push(format!("clean-pixel-data: {}", work.settled_by));
            }
            if !work.faces.is_empty() {
                done.push("clean-recognizable-visual-features: face removed".to_string());
            }
            let option = if work.text {
                CleanPixelData
            } else {
                CleanRecognizableVisualFeatures
            };
            let why = Rule {
                action: Action::Clean,
                source: Source::Option(option),
            };
            t.record(el, path, self.depth, &why, "clean", (shown.clone(), shown));
            if let Some(c) = t.changes.last_mut() {
                c.why = done.join("; ");
            }
        }
        Ok(())
    }

    /// The file's patient at the top level; a nested ID or name (other patient records) gets
    /// the token of its own value, never this patient's.
    fn pseudonym(&mut self, el: &Element, vr: Vr) -> io::Result<Vec<u8>> {
        let token = if self.depth == 0 {
            self.facts.patient_token.clone()
        } else {
            let v = self.value(el)?;
            let kind: &[u8] = if vr == Vr::PN { b"name\0" } else { b"id\0\0" };
            self.keys.patient_token(&[kind, trim(&v)].concat())
        };
        let v = if vr == Vr::PN {
            format!("ANON^{token}")
        } else {
            token
        };
        Ok(values::pad(vr, v.into_bytes()))
    }

    fn clean(&mut self, el: &Element, vr: Vr) -> Result<Vec<u8>, DeidError> {
        let v = self.value(el)?;
        Ok(match vr {
            Vr::DA | Vr::DT => {
                self.dates_shifted = true;
                values::shift_dates(vr, &v, self.facts.day_shift)
            }
            // The file's identifiers first, then every long number (a shifted date too: cleaned
            // text keeps no number of four digits or more).
            _ if vr.free_text() => {
                let text = match self.echo(el)? {
                    Some(r) => r.value,
                    None => v,
                };
                values::pad(vr, values::mask_numbers(trim(&text)))
            }
            // Values C leaves as they are (whole-day shifts keep the time of day) are searched
            // like kept ones.
            Vr::TM | Vr::DS | Vr::IS | Vr::AS | Vr::CS => self.echo(el)?.map_or(v, |r| r.value),
            Vr::US | Vr::SS | Vr::UL | Vr::SL | Vr::FL | Vr::FD | Vr::SV | Vr::UV | Vr::AT => v,
            _ => values::pad(vr, values::dummy(vr, v.len())),
        })
    }

    /// A vendor blob cleaned by its structure (`vendor`), then searched for the file's
    /// identifiers as bytes; `Err` says why it does not parse.
    fn vendor_blob(&mut self, el: &Element, blob: Blob) -> io::Result<Result<Vec<u8>, String>> {
        let v = self.value(el)?;
        let keep = vendor::Keep {
            characteristics: self.policy.has(ProfileOption::RetainPatientCharacteristics),
        };
        let (echoes, tag) = (&self.facts.echoes, el.tag);
        let mut found = false;
        let mut scrub = |text: &[u8]| {
            let r = echo::scrub(echoes, tag, Vr::UN, text)?;
            found = true;
            Some(r.value)
        };
        let cleaned = vendor::clean(blob, &v, keep, &mut scrub);
        if found {
            self.echoes.push(element_name(tag));
        }
        Ok(cleaned)
    }

    /// A kept value without the file's identifiers, or `None` when it holds none (or is not
    /// text). Searched in place: a value is copied only when it changes.
    fn echo(&mut self, el: &Element) -> io::Result<Option<Removed>> {
        let echoes = &self.facts.echoes;
        // No identifier is shorter than 3 bytes.
        if echoes.is_empty() || el.value_len() < 3 {
            return Ok(None);
        }
        let Some(vr) = echo::search_vr(el.tag, el.value_vr()) else {
            return Ok(None);
        };
        let Some(v) = self.win.get(el.value_start, el.value_len() as usize)? else {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "source changed while planning",
            ));
        };
        let r = echo::scrub(echoes, el.tag, vr, v);
        if r.is_some() {
            self.echoes.push(element_name(el.tag));
        }
        Ok(r)
    }

    fn sequence(
        &mut self,
        el: &Element,
        items: &[Item],
        rule: &Rule,
        scope: Scope,
        path: &str,
        out: &mut Out,
    ) -> Result<(), DeidError> {
        // Z empties a sequence. X/Z is Z's dummy form for sequences: a Type 3 sequence may
        // not be empty, so its items stay, de-identified, with free text replaced.
        let empties = rule.action == Action::Empty && rule.source != Source::Basic("X/Z");
        let inner_scope = match rule.action {
            Action::Dummy | Action::Empty => Scope::Dummy,
            Action::Clean => Scope::Clean,
            _ => scope,
        };
        let after = Traced::Items(if empties { 0 } else { items.len() });
        let action = if empties { "empty" } else { "recurse" };
        self.record(el, path, rule, action, Traced::Items(items.len()), after);
        let mut body = Out::new();
        self.depth += 1;
        if !empties {
            for (i, item) in items.iter().enumerate() {
                let item_path = if self.trace.is_some() {
                    format!("{path}[{}]/", i + 1)
                } else {
                    String::new()
                };
                let mut content = Out::new();
                self.dataset(&item.elements, inner_scope, &item_path, &mut content)?;
                let len = item.len.map(|_| content.len());
                body.bytes(&item_header(item.enc, len));
                body.append(content);
                if item.len.is_none() {
                    body.bytes(&delimiter(item.enc, ITEM_END));
                }
            }
        }
        self.depth -= 1;
        let len = el.len.map(|_| body.len());
        out.bytes(
            &header(el.tag, el.vr, el.enc, len).ok_or(Refusal::ValueTooLong { tag: el.tag })?,
        );
        out.append(body);
        if el.len.is_none() {
            // A UN sequence (CP-246) is implicit little endian inside, delimiter included.
            let end_enc = if el.vr == Vr::UN {
                Encoding::IMPLICIT_LE
            } else {
                el.enc
            };
            out.bytes(&delimiter(end_enc, SEQ_END));
        }
        Ok(())
    }
}

/// Why a kept value changed, for the trace: each kind of identifier and where it came from.
fn echo_reason(r: &Removed) -> String {
    let what: Vec<String> = r
        .found
        .iter()
        .map(|(kind, source)| format!("{} ({})", kind.label(), element_name(*source)))
        .collect();
    format!("echo of {}", what.join(", "))
}

/// An element as `scan` and the trace name it: its keyword, or its tag with the private
/// block left out (`(0019,xx10)`: blocks differ between files).
pub(super) fn element_name(tag: Tag) -> String {
    match crate::dicom::vr::keyword(tag) {
        Some(k) if !tag.is_private() => k.to_string(),
        _ if tag.is_private() && tag.1 >= 0x1000 => {
            format!("({:04X},xx{:02X}) private", tag.0, tag.1 & 0xFF)
        }
        _ => tag.to_string(),
    }
}
