//! Whether a file is an image of a head CT or MR, whose face can be rendered (PS3.15 E.3.2),
//! from its header alone: a CT or MR image (a slice, an enhanced multi-frame volume, or a
//! rendering saved as a secondary capture) whose Body Part Examined, anatomic region code or
//! descriptions name the head, the brain, the neck or a part of the face. Read only where the
//! Clean Recognizable Visual Features option is asked for; nothing here reads pixels. It
//! errs towards the head: what it takes for one is hidden with the option, not served.

use super::layout::{Body, Element};
use super::read::Window;
use super::values::string_of;
use crate::dicom::Tag;
use crate::dicom::tag::PIXEL_DATA;
use std::io;

const BODY_PART: Tag = Tag(0x0018, 0x0015);
const ANATOMIC_REGION: Tag = Tag(0x0008, 0x2218);
const CODE_VALUE: Tag = Tag(0x0008, 0x0100);
const DESCRIPTIONS: [Tag; 3] = [
    Tag(0x0008, 0x1030), // Study Description
    Tag(0x0008, 0x103E), // Series Description
    Tag(0x0018, 0x1030), // Protocol Name
];

/// Beginnings of words (upper case; a value's words are split at anything not a letter or
/// digit) that place an image in the head: body parts of CID 4031, what protocols are
/// called (in English, German, French and Spanish), and the brain sequences named after it.
/// ("FACE" must begin a word: "SURFACE" is a coil; "EAR" and "ORAL" are left out: "EARLY
/// PHASE", "ORAL CONTRAST".)
const HEAD_WORDS: [&str; 40] = [
    "HEAD",
    "BRAIN",
    "SKULL",
    "CRANI",
    "CEREB",
    "NEURO",
    "ORBIT",
    "SINUS",
    "FACE",
    "FACIAL",
    "IAC",
    "PETROUS",
    "MASTOID",
    "TEMPORALBONE",
    "SELLA",
    "PITUITARY",
    "MAXILL",
    "MANDIB",
    "DENTAL",
    "JAW",
    "TMJ",
    "NASAL",
    "NASO",
    "NECK",
    "CAROTID",
    "STROKE",
    "MPRAGE",
    "MP2RAGE",
    "MEMPRAGE",
    "BRAVO",
    "SCHAEDEL",
    "SCHADEL",
    "KOPF",
    "GEHIRN",
    "HIRN",
    "CRANE",
    "CRANEO",
    "TETE",
    "CABEZA",
    "CERVEAU",
];

/// Whether `text` has a word beginning with one of [`HEAD_WORDS`].
fn names_the_head(text: &str) -> bool {
    let text = text
        .to_uppercase()
        .replace("MP-RAGE", "MPRAGE")
        .replace("MP_RAGE", "MPRAGE");
    text.split(|c: char| !c.is_ascii_alphanumeric())
        .any(|word| HEAD_WORDS.iter().any(|w| word.starts_with(w)))
}

/// Anatomic Region codes of the head (SNOMED CT and the older SNOMED RT forms): head, brain,
/// skull, head and neck, face, neck.
const HEAD_CODES: [&str; 12] = [
    "69536005", "12738006", "89546000", "774007", "89545001", "45048000", "T-D1100", "T-A0100",
    "T-11100", "T-D1000", "T-D1200", "T-D1600",
];

/// Whether the top-level `elements` describe a slice of a head CT or MR.
pub(super) fn is_head(win: &mut Window, elements: &[Element], modality: &str) -> io::Result<bool> {
    if !matches!(modality, "CT" | "MR") {
        return Ok(false);
    }
    if !elements.iter().any(|e| e.tag == PIXEL_DATA) {
        return Ok(false);
    }
    for el in elements.iter().filter(|e| {
        (e.tag == BODY_PART || DESCRIPTIONS.contains(&e.tag)) && matches!(e.body, Body::Primitive)
    }) {
        if names_the_head(&string_of(
            &win.exact(el.value_start, el.value_len() as usize)?,
        )) {
            return Ok(true);
        }
    }
    let regions = elements.iter().filter(|e| e.tag == ANATOMIC_REGION);
    for el in regions {
        let Body::Sequence(items) = &el.body else {
            continue;
        };
        for code in items
            .iter()
            .flat_map(|i| &i.elements)
            .filter(|e| e.tag == CODE_VALUE)
        {
            let v = string_of(&win.exact(code.value_start, code.value_len() as usize)?);
            if HEAD_CODES.contains(&v.trim()) {
                return Ok(true);
            }
        }
    }
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::names_the_head;

    #[test]
    fn words_of_the_head_begin_a_word_of_the_value() {
        for yes in [
            "HEAD",
            "CT Head w/o",
            "BRAIN_ROUTINE",
            "t1_mprage_sag_p2",
            "T1 MP-RAGE",
            "HEAD_NECK",
            "Neuro^Brain",
            "CT SINUSES",
            "Orbits",
            "MAXILLOFACIAL",
            "sag BRAVO",
        ] {
            assert!(names_the_head(yes), "{yes}");
        }
        for no in [
            "CHEST",
            "ABDOMEN PELVIS",
            "SURFACE COIL",
            "KNEE",
            "L-SPINE",
            "",
            "CARDIAC",
        ] {
            assert!(!names_the_head(no), "{no}");
        }
    }
}
