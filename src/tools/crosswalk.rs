//! The crosswalk tables: for every visible file, its UIDs, patient ID and path as they are in
//! the source and in the view. For the key holder only (mode 0600).

use super::walk::walk;
use crate::deid::{Change, Engine};
use crate::dicom::Tag;
use crate::dicom::tag::{PATIENT_ID, SOP_INSTANCE_UID, STUDY_INSTANCE_UID};
use crate::fs::KeyHolderView;
use crate::policy::Policy;
use crate::pseudonym::Pseudonyms;
use anyhow::Context;
use std::collections::BTreeSet;
use std::io::Write;
use std::path::Path;

/// Study, Series and SOP Instance UIDs and the Frame of Reference UID.
const CROSSWALK_UIDS: [Tag; 4] = [
    STUDY_INSTANCE_UID,
    Tag(0x0020, 0x000E),
    SOP_INSTANCE_UID,
    Tag(0x0020, 0x0052),
];

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

fn write_private(
    path: &Path,
    header: &str,
    rows: &BTreeSet<(String, String)>,
) -> std::io::Result<()> {
    let _ = std::fs::remove_file(path);
    let mut f = crate::io::create_private(path, crate::io::Private::New)?;
    writeln!(f, "{header}")?;
    for (a, b) in rows {
        writeln!(f, "{},{}", csv_field(a), csv_field(b))?;
    }
    f.sync_all()
}

pub struct CrosswalkCounts {
    pub uids: usize,
    pub patients: usize,
    pub paths: usize,
}

/// Writes `uid_mapping.csv`, `patid_mapping.csv` and `path_mapping.csv` (mode 0600) for every
/// visible file: the values as they are in the source and in the view.
pub fn crosswalk(
    fs: &KeyHolderView,
    policy: &Policy,
    keys: &Pseudonyms,
    out: &Path,
) -> anyhow::Result<CrosswalkCounts> {
    std::fs::create_dir_all(out).with_context(|| out.display().to_string())?;
    let (files, _) = walk(fs)?;
    let (mut uids, mut pids, mut paths) = (BTreeSet::new(), BTreeSet::new(), BTreeSet::new());
    for f in &files {
        let rel = fs.source_path(f.ino)?;
        paths.insert((rel.display().to_string(), f.view_path.clone()));
        // Through the source, confined to its root like every other open of the view.
        let src = fs.open_source(f.ino)?;
        let mut engine = Engine::new(policy, keys);
        engine.trace = true;
        let Ok(outcome) = engine.plan(src.as_ref()) else {
            continue;
        };
        for c in outcome.trace.iter().filter(|c| c.depth == 0) {
            let (Some(before), Some(after)) =
                (Change::text_of(&c.before), Change::text_of(&c.after))
            else {
                continue; // removed, or not a value that was read
            };
            if before.is_empty() {
                continue;
            }
            if CROSSWALK_UIDS.contains(&c.tag) {
                uids.insert((before, after));
            } else if c.tag == PATIENT_ID {
                pids.insert((before, after));
            }
        }
    }
    let w = |name: &str, header: &str, rows: &BTreeSet<(String, String)>| {
        write_private(&out.join(name), header, rows)
            .with_context(|| out.join(name).display().to_string())
    };
    w("uid_mapping.csv", "id_old,id_new", &uids)?;
    w("patid_mapping.csv", "id_old,id_new", &pids)?;
    w("path_mapping.csv", "path_old,path_new", &paths)?;
    Ok(CrosswalkCounts {
        uids: uids.len(),
        patients: pids.len(),
        paths: paths.len(),
    })
}
