//! What is decided before a byte is rewritten: whether the file may be served at all (a
//! DICOMDIR, an encapsulated document; burned-in text is `burned_in`'s), who the patient is (the keyed token
//! and day shift), and which identifiers kept and cleaned values must not repeat (`echo`).
//! Reads a handful of top-level values; refuses with a reason that carries no value from the
//! file.

use super::complete;
use super::echo::{self, EchoMemo, Echoes};
use super::iod::Requires;
use super::layout::{Body, Element, Layout};
use super::read::Window;
use super::refusal::{DeidError, Refusal};
use super::rules::Object;
use super::values::{string_of, trim};
use crate::dicom::Tag;
use crate::dicom::VrExt;
use crate::dicom::tag::*;
use crate::policy::Policy;
use crate::pseudonym::Pseudonyms;
use std::io;
use std::sync::Arc;

const DICOMDIR_SOP_CLASS: &str = "1.2.840.10008.1.3.10";
/// Encapsulated PDF, CDA, STL, OBJ, MTL: documents whose content the engine cannot clean.
const DOCUMENT_SOP_CLASSES: &[&str] = &[
    "1.2.840.10008.5.1.4.1.1.104.1",
    "1.2.840.10008.5.1.4.1.1.104.2",
    "1.2.840.10008.5.1.4.1.1.104.3",
    "1.2.840.10008.5.1.4.1.1.104.4",
    "1.2.840.10008.5.1.4.1.1.104.5",
];
const ENCAPSULATED_DOCUMENT: Tag = Tag(0x0042, 0x0011);
/// Patient Species Description and Patient Species Code Sequence: the patient is an animal.
const SPECIES: [Tag; 2] = [Tag(0x0010, 0x2201), Tag(0x0010, 0x2202)];

/// Source file meta values the output needs.
pub(super) struct MetaFacts {
    /// Media Storage SOP Class UID (DICOMDIR detection, fallback SOP class).
    pub class: Option<String>,
    /// File Meta Information Version, carried over.
    pub version: Option<Vec<u8>>,
    /// Media Storage SOP Instance UID (fallback when the data set has none).
    pub instance: Option<Vec<u8>>,
    /// Every meta element's value as text (device rules may test them).
    pub texts: Vec<(Tag, String)>,
}

/// Reads the meta values the output needs; a value that is not all in the file reads empty.
pub(super) fn meta_facts(win: &mut Window, layout: &Layout) -> io::Result<MetaFacts> {
    let mut facts = MetaFacts {
        class: None,
        version: None,
        instance: None,
        texts: Vec::new(),
    };
    for el in layout.meta.iter().flat_map(|m| &m.elements) {
        let v = win
            .get(el.value_start, el.value_len() as usize)?
            .map(<[u8]>::to_vec)
            .unwrap_or_default();
        if el.vr.string_valued() {
            facts.texts.push((el.tag, string_of(&v)));
        }
        match el.tag {
            Tag(0x0002, 0x0002) => facts.class = Some(string_of(&v)),
            Tag(0x0002, 0x0001) => facts.version = Some(v),
            Tag(0x0002, 0x0003) => facts.instance = Some(trim(&v).to_vec()),
            _ => {}
        }
    }
    Ok(facts)
}

/// Everything decided before rewriting.
pub(super) struct Facts {
    pub sop_class: String,
    /// The data set's SOP Instance UID, else the meta's.
    pub sop_instance: Option<Vec<u8>>,
    pub modality: String,
    /// The patient's keyed token (pseudonymous, safe to show).
    pub patient_token: String,
    /// The patient's date shift in days (negative).
    pub day_shift: i64,
    /// The file's identifiers, which no kept or cleaned value may repeat.
    pub echoes: Arc<Echoes>,
    /// What the object is, for attributes its IOD requires.
    pub object: Object,
    pub meta_version: Option<Vec<u8>>,
    /// The source meta's values as text (for device rules; never written out).
    pub meta_texts: Vec<(Tag, String)>,
}

/// Refuses the file, or returns its facts.
pub(super) fn screen(
    win: &mut Window,
    policy: &Policy,
    keys: &Pseudonyms,
    meta: MetaFacts,
    elements: &[Element],
    memo: &EchoMemo,
) -> Result<Facts, DeidError> {
    let mut top = |tag: Tag| top_value(win, elements, tag);
    let text = |v: Option<Vec<u8>>| v.map(|v| string_of(&v)).unwrap_or_default();
    let sop_class = text(top(SOP_CLASS_UID)?);
    let sop_class = if sop_class.is_empty() {
        meta.class.clone().unwrap_or_default()
    } else {
        sop_class
    };
    let modality = text(top(MODALITY)?).to_ascii_uppercase();

    if meta.class.as_deref() == Some(DICOMDIR_SOP_CLASS)
        || elements.iter().any(|e| e.tag == DIRECTORY_RECORDS)
    {
        return Err(Refusal::DicomDir.into());
    }
    if DOCUMENT_SOP_CLASSES.contains(&sop_class.as_str())
        || elements.iter().any(|e| e.tag == ENCAPSULATED_DOCUMENT)
    {
        return Err(Refusal::Document(sop_class).into());
    }

    let identity = patient_identity(&mut top, &policy.patient_identity)?;
    let sop_instance = top(SOP_INSTANCE_UID)?
        .filter(|v| !v.is_empty())
        .or(meta.instance);
    complete::check(win, elements, &sop_class)?;
    let day_shift = keys.day_shift(&identity);
    let object = Object {
        presentation_state: Requires::of(&sop_class).presentation,
        animal: elements.iter().any(|e| SPECIES.contains(&e.tag)),
    };
    Ok(Facts {
        sop_class,
        sop_instance,
        modality,
        patient_token: keys.patient_token(&identity),
        day_shift,
        echoes: echo::collect(win, policy, elements, day_shift, memo)?,
        object,
        meta_version: meta.version,
        meta_texts: meta.texts,
    })
}

/// The patient: the values of the policy's `patient_identity` attributes when each has one
/// (Issuer of Patient ID may be empty: it qualifies an ID that many devices send alone), else
/// the name, else the study. The default (issuer and ID) keeps the encoding of earlier
/// versions, so existing pseudonyms stay. Values are trimmed; person names are compared in
/// ASCII upper case without trailing empty components (`Doe^John^` is `DOE^JOHN`).
fn patient_identity(
    top: &mut impl FnMut(Tag) -> io::Result<Option<Vec<u8>>>,
    attributes: &[Tag],
) -> io::Result<Vec<u8>> {
    let fallback =
        |top: &mut dyn FnMut(Tag) -> io::Result<Option<Vec<u8>>>| -> io::Result<Vec<u8>> {
            Ok(match top(PATIENT_NAME)?.filter(|n| !n.is_empty()) {
                Some(name) => [b"name\0".as_slice(), &name].concat(),
                None => {
                    let study = top(STUDY_INSTANCE_UID)?.unwrap_or_default();
                    [b"study\0".as_slice(), &study].concat()
                }
            })
        };
    if attributes == crate::policy::DEFAULT_PATIENT_IDENTITY {
        let id = top(PATIENT_ID)?.unwrap_or_default();
        if id.is_empty() {
            return fallback(top);
        }
        let issuer = top(ISSUER_OF_PATIENT_ID)?.unwrap_or_default();
        return Ok([b"id\0".as_slice(), &issuer, b"\0", &id].concat());
    }
    let mut identity = b"attributes".to_vec();
    for &tag in attributes {
        let mut v = top(tag)?.unwrap_or_default();
        if crate::dicom::vr::dictionary_vr(tag) == crate::dicom::Vr::PN {
            v.make_ascii_uppercase();
            while v.last() == Some(&b'^') {
                v.pop();
            }
        }
        if v.is_empty() && tag != ISSUER_OF_PATIENT_ID {
            return fallback(top);
        }
        identity.extend_from_slice(format!("\0{tag}=").as_bytes());
        identity.extend_from_slice(&v);
    }
    Ok(identity)
}

/// A top-level primitive value, trimmed; `None` when absent.
fn top_value(win: &mut Window, elements: &[Element], tag: Tag) -> io::Result<Option<Vec<u8>>> {
    match elements
        .iter()
        .find(|e| e.tag == tag && matches!(e.body, Body::Primitive))
    {
        Some(el) => Ok(Some(
            trim(win.value(el.value_start, el.value_len() as usize)?).to_vec(),
        )),
        None => Ok(None),
    }
}
