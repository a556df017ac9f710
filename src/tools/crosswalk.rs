//! The crosswalk tables: for every visible file, its UIDs, patient ID and path as they are in
//! the source and in the view. For the key holder only (mode 0600).

use super::walk::visit;
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
    let rows = std::sync::Mutex::new((BTreeSet::new(), BTreeSet::new(), BTreeSet::new()));
    let failed = std::sync::Mutex::new(None);
    // Rows are sets: the order files come in does not matter.
    visit(fs, super::walk::JOBS, |f| {
        if let Err(e) = crosswalk_one(fs, policy, keys, &f, &rows) {
            crate::lock(&failed).get_or_insert(e);
        }
    })?;
    if let Some(e) = failed.into_inner().unwrap_or_else(|e| e.into_inner()) {
        return Err(e);
    }
    let (uids, pids, paths) = rows.into_inner().unwrap_or_else(|e| e.into_inner());
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

type Rows = BTreeSet<(String, String)>;

/// One visible file's rows: its paths, and its UIDs and Patient ID before and after.
fn crosswalk_one(
    fs: &KeyHolderView,
    policy: &Policy,
    keys: &Pseudonyms,
    f: &super::walk::ViewFile,
    rows: &std::sync::Mutex<(Rows, Rows, Rows)>,
) -> anyhow::Result<()> {
    let rel = fs.source_path(f.ino)?;
    // Through the source, confined to its root like every other open of the view.
    let src = fs.open_source(f.ino)?;
    let mut engine = Engine::new(policy, keys);
    engine.trace = true;
    crate::lock(rows)
        .2
        .insert((rel.display().to_string(), f.view_path.clone()));
    let Ok(outcome) = engine.plan(src.as_ref()) else {
        return Ok(());
    };
    let mut guard = crate::lock(rows);
    let (uids, pids, _) = &mut *guard;
    for c in outcome.trace.iter().filter(|c| c.depth == 0) {
        let (Some(before), Some(after)) = (Change::text_of(&c.before), Change::text_of(&c.after))
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
    Ok(())
}
