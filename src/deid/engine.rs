//! The de-identification engine: a validated layout in, a plan out. One mechanism for every
//! element at every depth: look up the rule, apply it, re-encode only what changed.

use super::layout::{self, Body, Element, Layout, LayoutError, Limits};
use super::plan::{Out, Plan};
use super::read::Window;
use super::values::{self, trim};
use crate::dicom::encode::{delimiter, header, item_header};
use crate::dicom::encoding::{
    Encoding, TS_DEFLATED, TS_EXPLICIT_BE, TS_EXPLICIT_LE, TS_IMPLICIT_LE,
};
use crate::dicom::tag::*;
use crate::dicom::vr::{Vr, VrExt, dictionary_vr, keyword};
use crate::io::ReadAt;
use crate::policy::{Action, Policy, ProfileOption, Rule, Source};
use crate::pseudonym::Pseudonyms;
use std::collections::{BTreeSet, HashMap};
use std::io::{self, Read, Write};

/// Values copied verbatim up to this size are held in memory; larger ones are served from
/// the source by offset.
const INLINE_MAX: u64 = 4096;
/// A deflated data set may not inflate beyond this.
const MAX_INFLATED: u64 = 1 << 30;

const DICOMDIR_SOP_CLASS: &str = "1.2.840.10008.1.3.10";
/// Encapsulated PDF, CDA, STL, OBJ, MTL: documents whose content the engine cannot clean.
const DOCUMENT_SOP_CLASSES: &[&str] = &[
    "1.2.840.10008.5.1.4.1.1.104.1",
    "1.2.840.10008.5.1.4.1.1.104.2",
    "1.2.840.10008.5.1.4.1.1.104.3",
    "1.2.840.10008.5.1.4.1.1.104.4",
    "1.2.840.10008.5.1.4.1.1.104.5",
];

/// A fixed implementation class UID for files deidfs writes (derived, not registered).
pub const IMPLEMENTATION_CLASS_UID: &str = "2.25.263870945318617044402106284961457061219";
pub const IMPLEMENTATION_VERSION: &str = concat!("DEIDFS_", env!("CARGO_PKG_VERSION"));

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
    #[error("deflated data set: {0}")]
    Deflate(String),
    #[error("{tag}: the new value does not fit its VR's length field")]
    ValueTooLong { tag: Tag },
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
            Refusal::Deflate(_) => "deflate",
            Refusal::ValueTooLong { .. } => "value-too-long",
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

/// One attribute's fate, for `inspect` (holds PHI: for the key holder only).
#[derive(Debug, Clone)]
pub struct Change {
    pub path: String,
    pub tag: Tag,
    pub keyword: &'static str,
    pub action: &'static str,
    pub why: String,
    pub before: String,
    pub after: String,
}

/// Facts about a planned file (no PHI: pseudonymous values only).
#[derive(Debug, Clone, Default)]
pub struct FileInfo {
    pub sop_class: String,
    pub modality: String,
    pub transfer_syntax: String,
    pub patient_token: String,
}

#[derive(Debug)]
pub struct Outcome {
    pub plan: Plan,
    pub info: FileInfo,
    pub trace: Vec<Change>,
}

/// Everything a plan depends on besides the source bytes.
pub struct Engine<'a> {
    pub policy: &'a Policy,
    pub keys: &'a Pseudonyms,
    pub limits: Limits,
    /// Record a [`Change`] per attribute (for `inspect`).
    pub trace: bool,
}

impl<'a> Engine<'a> {
    pub fn new(policy: &'a Policy, keys: &'a Pseudonyms) -> Self {
        Self {
            policy,
            keys,
            limits: Limits::default(),
            trace: false,
        }
    }

    /// Plans the de-identified form of `src`, or refuses it.
    pub fn plan(&self, src: &dyn ReadAt) -> Result<Outcome, DeidError> {
        let head = super::read::Head::read(src)?;
        let src: &dyn ReadAt = &head;
        let layout = layout::walk(src, self.limits)?;
        if layout.deflated {
            return self.plan_deflated(src, &layout);
        }
        let mut rw = Rewriter::new(self, src, layout.enc);
        let facts = rw.facts(meta_facts(src, &layout)?, &layout.elements)?;
        let dataset = rw.top(&layout.elements)?;
        let ts = output_transfer_syntax(&layout);
        let mut out = Out::new();
        out.bytes(&rw.file_head(&facts, &ts)?);
        out.append(dataset);
        Ok(Outcome {
            plan: out.finish(),
            info: facts.info(ts),
            trace: rw.trace.unwrap_or_default(),
        })
    }

    fn plan_deflated(&self, src: &dyn ReadAt, layout: &Layout) -> Result<Outcome, DeidError> {
        let inflated = inflate(src, layout.dataset_start)?;
        let (elements, enc) = layout::walk_dataset(&inflated, Encoding::EXPLICIT_LE, self.limits)?;
        let mut rw = Rewriter::new(self, &inflated, enc);
        let facts = rw.facts(meta_facts(src, layout)?, &elements)?;
        let dataset = rw.top(&elements)?.materialize(&inflated)?;
        let head = rw.file_head(&facts, TS_DEFLATED)?;
        let mut enc = flate2::write::DeflateEncoder::new(head, flate2::Compression::default());
        enc.write_all(&dataset)?;
        let mut bytes = enc.finish()?;
        if bytes.len() % 2 == 1 {
            bytes.push(0);
        }
        let mut out = Out::new();
        out.bytes(&bytes);
        Ok(Outcome {
            plan: out.finish(),
            info: facts.info(TS_DEFLATED.into()),
            trace: rw.trace.unwrap_or_default(),
        })
    }
}

fn inflate(src: &dyn ReadAt, start: u64) -> Result<Vec<u8>, DeidError> {
    let mut compressed = vec![0u8; (src.len() - start) as usize];
    src.read_exact_at(&mut compressed, start)?;
    let mut inflated = Vec::new();
    flate2::read::DeflateDecoder::new(&compressed[..])
        .take(MAX_INFLATED + 1)
        .read_to_end(&mut inflated)
        .map_err(|e| Refusal::Deflate(e.to_string()))?;
    if inflated.len() as u64 > MAX_INFLATED {
        return Err(Refusal::Deflate(format!("inflates beyond {MAX_INFLATED} bytes")).into());
    }
    Ok(inflated)
}

struct MetaFacts {
    class: Option<String>,
    version: Option<Vec<u8>>,
    instance: Option<Vec<u8>>,
}

/// Meta values needed for the output: SOP class (DICOMDIR detection) and meta version.
fn meta_facts(src: &dyn ReadAt, layout: &Layout) -> io::Result<MetaFacts> {
    let (mut class, mut version, mut instance) = (None, None, None);
    let mut win = Window::new(src);
    for el in layout.meta.iter().flat_map(|m| &m.elements) {
        let v = win
            .get(el.value_start, el.value_len() as usize)?
            .map(<[u8]>::to_vec)
            .unwrap_or_default();
        match el.tag {
            Tag(0x0002, 0x0002) => class = Some(string_of(&v)),
            Tag(0x0002, 0x0001) => version = Some(v),
            Tag(0x0002, 0x0003) => instance = Some(trim(&v).to_vec()),
            _ => {}
        }
    }
    Ok(MetaFacts {
        class,
        version,
        instance,
    })
}

/// The transfer syntax of the output: the source's, corrected when the data set was found
/// encoded otherwise than declared, and detected for bare data sets.
fn output_transfer_syntax(layout: &Layout) -> String {
    let detected = match (layout.enc.explicit, layout.enc.big_endian) {
        (false, _) => TS_IMPLICIT_LE,
        (true, true) => TS_EXPLICIT_BE,
        (true, false) => TS_EXPLICIT_LE,
    };
    match layout.meta.as_ref().and_then(|m| m.transfer_syntax.clone()) {
        Some(ts) if !layout.enc.explicit && ts != TS_IMPLICIT_LE => detected.to_string(),
        Some(ts) => ts,
        None => detected.to_string(),
    }
}

/// Top-level facts read before rewriting.
struct Facts {
    sop_class: String,
    sop_instance: Option<Vec<u8>>,
    modality: String,
    patient_token: String,
    meta_version: Option<Vec<u8>>,
}

impl Facts {
    fn info(&self, transfer_syntax: String) -> FileInfo {
        FileInfo {
            sop_class: self.sop_class.clone(),
            modality: self.modality.clone(),
            transfer_syntax,
            patient_token: self.patient_token.clone(),
        }
    }
}

/// How unlisted free text is treated inside a sequence: kept, replaced (inside a sequence
/// whose action is D, e.g. Content Sequence) or cleaned (inside a C sequence).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scope {
    Plain,
    Dummy,
    Clean,
}

struct Rewriter<'e, 's> {
    engine: &'e Engine<'e>,
    win: Window<'s>,
    enc: Encoding,
    day_shift: i64,
    patient_token: String,
    identifiers: Vec<Vec<u8>>,
    /// Set when a date was shifted (marks the output MODIFIED).
    dates_shifted: bool,
    /// Sequence nesting depth of the data set being rewritten (0: top level).
    depth: usize,
    trace: Option<Vec<Change>>,
}

fn string_of(v: &[u8]) -> String {
    String::from_utf8_lossy(trim(v)).into_owned()
}

impl<'e, 's> Rewriter<'e, 's> {
    fn new(engine: &'e Engine<'e>, src: &'s dyn ReadAt, enc: Encoding) -> Self {
        Self {
            engine,
            win: Window::new(src),
            enc,
            day_shift: 0,
            patient_token: String::new(),
            identifiers: Vec::new(),
            dates_shifted: false,
            depth: 0,
            trace: engine.trace.then(Vec::new),
        }
    }

    fn value(&mut self, el: &Element) -> io::Result<Vec<u8>> {
        let len = el.value_len() as usize;
        match self.win.get(el.value_start, len)? {
            Some(b) => Ok(b.to_vec()),
            None => Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "source changed while planning",
            )),
        }
    }

    fn top_value(&mut self, elements: &[Element], tag: Tag) -> io::Result<Option<Vec<u8>>> {
        match elements
            .iter()
            .find(|e| e.tag == tag && matches!(e.body, Body::Primitive))
        {
            Some(el) => Ok(Some(trim(&self.value(el)?).to_vec())),
            None => Ok(None),
        }
    }

    /// Reads what decides refusal and the per-patient derivations; refuses if needed.
    fn facts(&mut self, meta: MetaFacts, elements: &[Element]) -> Result<Facts, DeidError> {
        let policy = self.engine.policy;
        let MetaFacts {
            class: meta_class,
            version: meta_version,
            instance: meta_instance,
        } = meta;
        let text = |v: Option<Vec<u8>>| v.map(|v| string_of(&v)).unwrap_or_default();
        let sop_class = text(self.top_value(elements, SOP_CLASS_UID)?);
        let sop_class = if sop_class.is_empty() {
            meta_class.clone().unwrap_or_default()
        } else {
            sop_class
        };
        let modality = text(self.top_value(elements, MODALITY)?).to_ascii_uppercase();

        if meta_class.as_deref() == Some(DICOMDIR_SOP_CLASS)
            || elements.iter().any(|e| e.tag == DIRECTORY_RECORDS)
        {
            return Err(Refusal::DicomDir.into());
        }
        if DOCUMENT_SOP_CLASSES.contains(&sop_class.as_str())
            || elements.iter().any(|e| e.tag == Tag(0x0042, 0x0011))
        {
            return Err(Refusal::Document(sop_class).into());
        }
        let burned_in = text(self.top_value(elements, BURNED_IN)?).to_ascii_uppercase();
        if burned_in == "YES" {
            return Err(Refusal::BurnedInAnnotation.into());
        }
        let manufacturer = text(self.top_value(elements, MANUFACTURER)?);
        let model = text(self.top_value(elements, MODEL)?);
        // The risk lists apply when the flag is absent: an explicit NO is the device's word.
        if burned_in != "NO" && policy.burned_in_risk(&modality, &sop_class, &manufacturer, &model)
        {
            return Err(Refusal::BurnedInRisk {
                modality,
                sop_class,
            }
            .into());
        }

        // The patient: issuer + ID when there is an ID, else the name, else the study.
        let id = self.top_value(elements, PATIENT_ID)?.unwrap_or_default();
        let patient_identity = if !id.is_empty() {
            let issuer = self
                .top_value(elements, ISSUER_OF_PATIENT_ID)?
                .unwrap_or_default();
            [b"id\0".as_slice(), &issuer, b"\0", &id].concat()
        } else if let Some(name) = self
            .top_value(elements, PATIENT_NAME)?
            .filter(|n| !n.is_empty())
        {
            [b"name\0".as_slice(), &name].concat()
        } else {
            [
                b"study\0".as_slice(),
                &self
                    .top_value(elements, STUDY_INSTANCE_UID)?
                    .unwrap_or_default(),
            ]
            .concat()
        };
        let keys = self.engine.keys;
        self.patient_token = keys.patient_token(&patient_identity);
        self.day_shift = keys.day_shift(&patient_identity);

        // Identifiers that cleaned free text must not repeat: every top-level text value
        // the policy does not keep.
        let mut identifiers = Vec::new();
        for el in elements {
            if el.tag.is_private() || !matches!(el.body, Body::Primitive) {
                continue;
            }
            let vr = value_vr(el);
            // Values that are kept or themselves cleaned are not identifiers to hunt for.
            let action = policy.public_rule(el.tag).action;
            if !(vr.free_text() || vr == Vr::DA) || matches!(action, Action::Keep | Action::Clean) {
                continue;
            }
            let v = self.value(el)?;
            identifiers.extend(values::identifier_parts(vr, &v));
        }
        identifiers.sort();
        identifiers.dedup();
        self.identifiers = identifiers;

        Ok(Facts {
            sop_class,
            sop_instance: self
                .top_value(elements, SOP_INSTANCE_UID)?
                .filter(|v| !v.is_empty())
                .or(meta_instance),
            modality,
            patient_token: self.patient_token.clone(),
            meta_version,
        })
    }

    /// The top-level data set plus the conformance attributes of PS3.15 E.1.1.
    fn top(&mut self, elements: &[Element]) -> Result<Out, DeidError> {
        let mut parts = self.dataset(elements, Scope::Plain, "")?;
        let marks = self.marking_elements()?;
        let replaced: BTreeSet<Tag> = marks.iter().map(|(t, _)| *t).collect();
        parts.retain(|(t, _)| !replaced.contains(t));
        parts.extend(marks);
        parts.sort_by_key(|(t, _)| *t);
        let mut out = Out::new();
        for (_, o) in parts {
            out.append(o);
        }
        Ok(out)
    }

    fn marking_elements(&mut self) -> Result<Vec<(Tag, Out)>, DeidError> {
        let policy = self.engine.policy;
        let mut v = vec![(
            PATIENT_IDENTITY_REMOVED,
            self.new_element(PATIENT_IDENTITY_REMOVED, Vr::CS, b"YES")?,
        )];
        let method = format!(
            "deidfs {} policy {}",
            env!("CARGO_PKG_VERSION"),
            policy.name
        );
        let method: String = method
            .chars()
            .filter(|c| c.is_ascii() && *c != '\\')
            .take(64)
            .collect();
        v.push((
            DEID_METHOD,
            self.new_element(DEID_METHOD, Vr::LO, method.as_bytes())?,
        ));

        let mut codes = vec![("113100", "Basic Application Confidentiality Profile")];
        codes.extend(policy.options.iter().map(|o| o.code()));
        let mut items = Out::new();
        for (value, meaning) in codes {
            let mut item = Out::new();
            item.append(self.new_element(Tag(0x0008, 0x0100), Vr::SH, value.as_bytes())?);
            item.append(self.new_element(Tag(0x0008, 0x0102), Vr::SH, b"DCM")?);
            item.append(self.new_element(Tag(0x0008, 0x0104), Vr::LO, meaning.as_bytes())?);
            items.bytes(&item_header(self.enc, Some(item.len())));
            items.append(item);
        }
        let mut seq = Out::new();
        seq.bytes(
            &header(DEID_METHOD_CODES, Vr::SQ, self.enc, Some(items.len())).ok_or(
                Refusal::ValueTooLong {
                    tag: DEID_METHOD_CODES,
                },
            )?,
        );
        seq.append(items);
        v.push((DEID_METHOD_CODES, seq));

        let longitudinal =
            if policy.has(ProfileOption::RetainLongitudinalModifiedDates) || self.dates_shifted {
                Some("MODIFIED")
            } else if policy.has(ProfileOption::RetainLongitudinalFullDates) {
                Some("UNMODIFIED")
            } else {
                None
            };
        if let Some(l) = longitudinal {
            v.push((
                LONGITUDINAL_MODIFIED,
                self.new_element(LONGITUDINAL_MODIFIED, Vr::CS, l.as_bytes())?,
            ));
        }
        Ok(v)
    }

    fn new_element(&self, tag: Tag, vr: Vr, value: &[u8]) -> Result<Out, DeidError> {
        let v = values::pad(vr, value.to_vec());
        let mut o = Out::new();
        o.bytes(
            &header(tag, vr, self.enc, Some(v.len() as u64))
                .ok_or(Refusal::ValueTooLong { tag })?,
        );
        o.bytes(&v);
        Ok(o)
    }

    /// Rewrites one data set (top level or an item). Returns each surviving element's bytes.
    fn dataset(
        &mut self,
        elements: &[Element],
        scope: Scope,
        path: &str,
    ) -> Result<Vec<(Tag, Out)>, DeidError> {
        let policy = self.engine.policy;
        // Private creators of this data set: block (group, xx) -> creator string.
        let mut creators: HashMap<(u16, u8), String> = HashMap::new();
        for el in elements.iter().filter(|e| e.tag.is_private_creator()) {
            let v = self.value(el)?;
            creators.insert((el.tag.0, el.tag.1 as u8), string_of(&v));
        }
        let mut rules = Vec::with_capacity(elements.len());
        let mut kept_blocks = BTreeSet::new();
        for el in elements {
            let rule = if el.tag.1 == 0x0000
                || el.tag.0 == 0x0002
                || el.tag == TRAILING_PADDING
                || el.tag == DIGITAL_SIGNATURES
            {
                // Group lengths are retired and stale after edits; file meta elements in a
                // data set are misplaced (the meta is rebuilt); padding and signatures go.
                Rule {
                    action: Action::Remove,
                    source: Source::Basic("-"),
                }
            } else if el.tag.is_private_creator() {
                Rule {
                    action: Action::Keep,
                    source: Source::SafePrivate,
                } // decided below
            } else if el.tag.is_private() {
                let block = (el.tag.0, (el.tag.1 >> 8) as u8);
                let creator = (el.tag.1 >= 0x1000).then(|| creators.get(&block)).flatten();
                let r = policy.private_rule(el.tag, creator.map(String::as_str));
                if r.action != Action::Remove {
                    kept_blocks.insert(block);
                }
                r
            } else if is_overlay_group(el.tag.0)
                && policy.public_rule(Tag(el.tag.0, 0x3000)).action == Action::Remove
            {
                // An overlay without its Overlay Data is invalid: the whole group goes.
                Rule {
                    action: Action::Remove,
                    source: Source::Basic("X"),
                }
            } else {
                let mut r = policy.public_rule(el.tag);
                let vr = value_vr(el);
                if r.source == Source::NotListed && matches!(vr, Vr::ST | Vr::LT | Vr::UT) {
                    r.action = match scope {
                        Scope::Plain => Action::Keep,
                        Scope::Dummy => Action::Dummy,
                        Scope::Clean => Action::Clean,
                    };
                }
                r
            };
            rules.push(rule);
        }
        let mut out = Vec::new();
        for (el, mut rule) in elements.iter().zip(rules) {
            if el.tag.is_private_creator() && !kept_blocks.contains(&(el.tag.0, el.tag.1 as u8)) {
                rule = Rule {
                    action: Action::Remove,
                    source: Source::Basic("X"),
                };
            }
            let el_path = if self.trace.is_some() {
                format!("{path}{}", el.tag)
            } else {
                String::new()
            };
            if let Some(o) = self.apply(el, &rule, scope, &el_path)? {
                out.push((el.tag, o));
            }
        }
        Ok(out)
    }

    fn record(
        &mut self,
        el: &Element,
        path: &str,
        rule: &Rule,
        action: &'static str,
        before: Option<&[u8]>,
        after: Option<&[u8]>,
    ) {
        let Some(trace) = self.trace.as_mut() else {
            return;
        };
        let show = |v: Option<&[u8]>| -> String {
            match v {
                None => "(removed)".into(),
                Some(b) if value_vr(el).string_valued() || value_vr(el) == Vr::PN => {
                    let s = string_of(b);
                    if s.chars().count() > 64 {
                        format!("{}…", s.chars().take(64).collect::<String>())
                    } else {
                        s
                    }
                }
                Some(b) => format!("<{} bytes>", b.len()),
            }
        };
        let why = why(&rule.source);
        trace.push(Change {
            path: path.to_string(),
            tag: el.tag,
            keyword: keyword(el.tag).unwrap_or(if el.tag.is_private() { "(private)" } else { "" }),
            action,
            why,
            before: show(before),
            after: show(after),
        });
    }

    fn before(&mut self, el: &Element) -> io::Result<Option<Vec<u8>>> {
        if self.trace.is_some()
            && matches!(el.body, Body::Primitive)
            && el.value_len() <= INLINE_MAX
        {
            Ok(Some(self.value(el)?))
        } else {
            Ok(None)
        }
    }

    fn apply(
        &mut self,
        el: &Element,
        rule: &Rule,
        scope: Scope,
        path: &str,
    ) -> Result<Option<Out>, DeidError> {
        let tag = el.tag;
        if rule.action == Action::Remove {
            let before = self.before(el)?;
            self.record(el, path, rule, "remove", before.as_deref(), None);
            return Ok(None);
        }
        if let Body::Sequence(items) = &el.body {
            return self.sequence(el, items, rule, scope, path).map(Some);
        }
        let vr = value_vr(el);
        let new_value: Option<Vec<u8>> = match (rule.action, &el.body) {
            (Action::Keep, _) => None,
            (_, Body::Fragments(_)) => Some(Vec::new()),
            (Action::Empty, _) => Some(Vec::new()),
            (Action::Uid, _) | (Action::Dummy, _) if vr == Vr::UI => {
                let v = self.value(el)?;
                Some(values::map_uids(self.engine.keys, &v))
            }
            (Action::Uid, _) => Some(Vec::new()),
            (Action::Dummy, _) => Some(values::pad(vr, values::dummy(vr, el.value_len() as usize))),
            (Action::Pseudonym, _) => {
                // The file's patient at the top level; a nested ID or name (other patient
                // records) gets the token of its own value, never this patient's.
                let token = if self.depth == 0 {
                    self.patient_token.clone()
                } else {
                    let v = self.value(el)?;
                    let kind: &[u8] = if vr == Vr::PN { b"name\0" } else { b"id\0\0" };
                    self.engine.keys.patient_token(&[kind, trim(&v)].concat())
                };
                let token = &token;
                let v = if vr == Vr::PN {
                    format!("ANON^{token}")
                } else {
                    token.clone()
                };
                Some(values::pad(vr, v.into_bytes()))
            }
            (Action::Clean, _) => Some(self.clean(el, vr)?),
            (Action::Remove, _) => unreachable!("handled above"),
        };
        let mut out = Out::new();
        match new_value {
            None => {
                // Verbatim: the element's own bytes, from memory or by source offset.
                let before = self.before(el)?;
                self.record(el, path, rule, "keep", before.as_deref(), before.as_deref());
                let whole = el.end - el.start;
                if whole <= INLINE_MAX {
                    let b = self
                        .win
                        .get(el.start, whole as usize)?
                        .map(<[u8]>::to_vec)
                        .unwrap_or_default();
                    out.bytes(&b);
                } else {
                    out.source(el.start, whole);
                }
            }
            Some(v) => {
                let before = self.before(el)?;
                self.record(
                    el,
                    path,
                    rule,
                    rule.action.name(),
                    before.as_deref(),
                    Some(&v),
                );
                let h = header(tag, el.vr, el.enc, Some(v.len() as u64))
                    .ok_or(Refusal::ValueTooLong { tag })?;
                out.bytes(&h);
                out.bytes(&v);
            }
        }
        Ok(Some(out))
    }

    fn clean(&mut self, el: &Element, vr: Vr) -> Result<Vec<u8>, DeidError> {
        let v = self.value(el)?;
        Ok(match vr {
            Vr::DA | Vr::DT => {
                self.dates_shifted = true;
                values::shift_dates(vr, &v, self.day_shift)
            }
            // Whole-day shifts keep the time of day.
            Vr::TM => v,
            _ if vr.free_text() => values::pad(vr, values::clean_text(trim(&v), &self.identifiers)),
            Vr::US
            | Vr::SS
            | Vr::UL
            | Vr::SL
            | Vr::FL
            | Vr::FD
            | Vr::SV
            | Vr::UV
            | Vr::AT
            | Vr::DS
            | Vr::IS
            | Vr::AS
            | Vr::CS => v,
            _ => values::pad(vr, values::dummy(vr, v.len())),
        })
    }

    fn sequence(
        &mut self,
        el: &Element,
        items: &[layout::Item],
        rule: &Rule,
        scope: Scope,
        path: &str,
    ) -> Result<Out, DeidError> {
        // Z empties a sequence. X/Z is Z's dummy form for sequences: a Type 3 sequence may
        // not be empty, so its items stay, de-identified, with free text replaced.
        let empties = rule.action == Action::Empty && rule.source != Source::Basic("X/Z");
        let inner_scope = match rule.action {
            Action::Dummy | Action::Empty => Scope::Dummy,
            Action::Clean => Scope::Clean,
            _ => scope,
        };
        let shape = format!("<{} items>", items.len());
        let after = if empties {
            "<0 items>".to_string()
        } else {
            shape.clone()
        };
        if let Some(trace) = self.trace.as_mut() {
            trace.push(Change {
                path: path.to_string(),
                tag: el.tag,
                keyword: keyword(el.tag).unwrap_or(if el.tag.is_private() {
                    "(private)"
                } else {
                    ""
                }),
                action: if empties { "empty" } else { "recurse" },
                why: why(&rule.source),
                before: shape,
                after,
            });
        }
        let mut body = Out::new();
        self.depth += 1;
        if !empties {
            for (i, item) in items.iter().enumerate() {
                let item_path = if self.trace.is_some() {
                    format!("{path}[{}]/", i + 1)
                } else {
                    String::new()
                };
                let parts = self.dataset(&item.elements, inner_scope, &item_path)?;
                let mut content = Out::new();
                for (_, o) in parts {
                    content.append(o);
                }
                match item.len {
                    Some(_) => body.bytes(&item_header(item.enc, Some(content.len()))),
                    None => body.bytes(&item_header(item.enc, None)),
                }
                body.append(content);
                if item.len.is_none() {
                    body.bytes(&delimiter(item.enc, ITEM_END));
                }
            }
        }
        self.depth -= 1;
        let mut out = Out::new();
        let seq_enc = el.enc;
        if el.len.is_some() {
            out.bytes(
                &header(el.tag, el.vr, seq_enc, Some(body.len()))
                    .ok_or(Refusal::ValueTooLong { tag: el.tag })?,
            );
            out.append(body);
        } else {
            out.bytes(
                &header(el.tag, el.vr, seq_enc, None)
                    .ok_or(Refusal::ValueTooLong { tag: el.tag })?,
            );
            out.append(body);
            // A UN sequence (CP-246) is implicit little endian inside, delimiter included.
            let end_enc = if el.vr == Vr::UN {
                Encoding::IMPLICIT_LE
            } else {
                seq_enc
            };
            out.bytes(&delimiter(end_enc, SEQ_END));
        }
        Ok(out)
    }

    /// Preamble, "DICM" and a rebuilt file meta group: version, SOP class, the (mapped) SOP
    /// instance, transfer syntax and deidfs's implementation identity. Source AE titles and
    /// private meta information are not carried over.
    fn file_head(&self, facts: &Facts, ts: &str) -> Result<Vec<u8>, DeidError> {
        let instance = match &facts.sop_instance {
            // The meta follows the data set's SOP Instance UID: kept only where that is kept,
            // otherwise mapped (never the original, whatever the data set's action).
            Some(uid)
                if self.engine.policy.public_rule(SOP_INSTANCE_UID).action == Action::Keep =>
            {
                values::pad(Vr::UI, uid.clone())
            }
            Some(uid) => values::map_uids(self.engine.keys, uid),
            None => Vec::new(),
        };
        let mut meta = Vec::new();
        let mut put = |tag: Tag, vr: Vr, v: &[u8]| -> Result<(), DeidError> {
            let v = values::pad(vr, v.to_vec());
            meta.extend(
                header(tag, vr, Encoding::EXPLICIT_LE, Some(v.len() as u64))
                    .ok_or(Refusal::ValueTooLong { tag })?,
            );
            meta.extend(v);
            Ok(())
        };
        put(
            Tag(0x0002, 0x0001),
            Vr::OB,
            facts.meta_version.as_deref().unwrap_or(&[0, 1]),
        )?;
        if !facts.sop_class.is_empty() {
            put(Tag(0x0002, 0x0002), Vr::UI, facts.sop_class.as_bytes())?;
        }
        if !instance.is_empty() {
            put(Tag(0x0002, 0x0003), Vr::UI, trim(&instance))?;
        }
        put(Tag(0x0002, 0x0010), Vr::UI, ts.as_bytes())?;
        put(
            Tag(0x0002, 0x0012),
            Vr::UI,
            IMPLEMENTATION_CLASS_UID.as_bytes(),
        )?;
        put(
            Tag(0x0002, 0x0013),
            Vr::SH,
            IMPLEMENTATION_VERSION.as_bytes(),
        )?;
        let mut head = vec![0u8; 128];
        head.extend_from_slice(b"DICM");
        head.extend(
            header(Tag(0x0002, 0x0000), Vr::UL, Encoding::EXPLICIT_LE, Some(4)).unwrap_or_default(),
        );
        head.extend((meta.len() as u32).to_le_bytes());
        head.extend(meta);
        Ok(head)
    }
}

fn is_overlay_group(group: u16) -> bool {
    group & 0xFF00 == 0x6000 && group % 2 == 0
}

fn why(source: &Source) -> String {
    match source {
        Source::Basic(code) => format!("basic {code}"),
        Source::Option(o) => format!("option {}", o.name()),
        Source::Override => "override".into(),
        Source::NotListed => "not in E.1-1".into(),
        Source::Unknown => "not in PS3.6".into(),
        Source::SafePrivate => "safe private".into(),
    }
}

/// The VR that describes an element's value: the dictionary's when the file says UN.
fn value_vr(el: &Element) -> Vr {
    if el.vr == Vr::UN && !el.tag.is_private() {
        dictionary_vr(el.tag)
    } else {
        el.vr
    }
}
