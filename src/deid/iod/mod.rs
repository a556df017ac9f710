//! What an object's IOD requires, by its SOP class: pixel data, a report's content, a
//! presentation state's identification. The tables (`tables`, generated from PS3.3 by
//! scripts/gen-iod-tables.py) decide for every class they know; for a class they do not
//! (retired, or newer than the tables) the standard's own name for it decides, from
//! dicom-rs's registry of PS3.6 UIDs; a private class requires none of them.

mod tables;

use dicom_core::dictionary::UidDictionary;
use dicom_dictionary_std::StandardSopClassDictionary;

/// What must be in an object of a SOP class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Requires {
    /// Pixel Data, Float Pixel Data or Double Float Pixel Data.
    pub pixels: bool,
    /// A root Content Sequence (a structured report's content).
    pub content: bool,
    /// The Presentation State Identification module (Presentation Creation Date and Time).
    pub presentation: bool,
}

impl Requires {
    pub fn of(sop_class: &str) -> Requires {
        let has = |t: &[&str]| t.binary_search(&sop_class).is_ok();
        if has(tables::KNOWN) {
            return Requires {
                pixels: has(tables::PIXELS),
                content: has(tables::CONTENT),
                presentation: has(tables::PRESENTATION),
            };
        }
        let Some(entry) = StandardSopClassDictionary.by_uid(sop_class) else {
            return Requires::default();
        };
        let name = entry.name;
        Requires {
            pixels: name.contains("Image Storage"),
            content: name.contains("SR Storage"),
            presentation: name.contains("Presentation State Storage"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tables_are_sorted_for_binary_search() {
        for t in [
            tables::KNOWN,
            tables::PIXELS,
            tables::CONTENT,
            tables::PRESENTATION,
        ] {
            assert!(t.windows(2).all(|w| w[0] < w[1]));
        }
    }

    #[test]
    fn classes_are_told_by_the_tables_else_by_their_standard_name() {
        let (pixels, content, presentation) = (
            Requires {
                pixels: true,
                ..Default::default()
            },
            Requires {
                content: true,
                ..Default::default()
            },
            Requires {
                presentation: true,
                ..Default::default()
            },
        );
        for (uid, want) in [
            ("1.2.840.10008.5.1.4.1.1.2", pixels),                  // CT
            ("1.2.840.10008.5.1.4.1.1.4.1", pixels),                // Enhanced MR
            ("1.2.840.10008.5.1.4.1.1.66.4", pixels),               // Segmentation
            ("1.2.840.10008.5.1.4.1.1.30", pixels),                 // Parametric Map (one of three)
            ("1.2.840.10008.5.1.4.1.1.2.3", pixels),                // CT For Processing: by name
            ("1.2.840.10008.5.1.4.1.1.6", pixels),                  // retired Ultrasound: by name
            ("1.2.840.10008.5.1.4.1.1.481.2", Requires::default()), // RT Dose: pixels optional
            ("1.2.840.10008.5.1.4.1.1.88.22", content),             // Enhanced SR
            ("1.2.840.10008.5.1.4.1.1.88.59", content),             // Key Object Selection
            ("1.2.840.10008.5.1.4.1.1.11.1", presentation),         // Grayscale Softcopy PS
            ("1.2.840.10008.5.1.4.1.1.11.6", presentation),         // a volumetric PS
            ("1.2.840.10008.5.1.4.1.1.481.5", Requires::default()), // RT Plan
            ("1.2.3.4", Requires::default()),                       // private
        ] {
            assert_eq!(Requires::of(uid), want, "{uid}");
        }
    }
}
