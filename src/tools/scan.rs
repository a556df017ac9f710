//! What the view would show and hide, and why: counts by reason, modality and transfer
//! syntax. Needs no key: visibility does not depend on it.

use super::walk::visit;
use crate::fs::KeyHolderView;
use std::collections::BTreeMap;

#[derive(Debug, Default, serde::Serialize)]
pub struct ScanReport {
    pub visible: usize,
    pub hidden: BTreeMap<String, usize>,
    pub by_modality: BTreeMap<String, usize>,
    pub by_transfer_syntax: BTreeMap<String, usize>,
    /// Visible files whose burned-in text was blanked, by what located it.
    pub pixels_cleaned_by: BTreeMap<String, usize>,
    /// Visible files in which a kept or cleaned element held an identifier of the file (an
    /// echo, removed), by element.
    pub echoes_by_element: BTreeMap<String, usize>,
    /// Visible files with at least one echo.
    pub files_with_echoes: usize,
    /// Visible head slices served with their series' face removed.
    pub defaced: usize,
    /// Vendor blobs removed because they do not parse, by element.
    pub blobs_removed_by_element: BTreeMap<String, usize>,
    /// Source paths of hidden files with the reason: only with --show-paths (PHI).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub hidden_paths: Vec<(String, String)>,
}

/// What the view would show and hide, counted by reason, modality and transfer syntax.
/// `progress`: the source root, to show progress on a terminal.
pub fn scan(
    fs: &KeyHolderView,
    show_paths: bool,
    progress: Option<&std::path::Path>,
) -> anyhow::Result<ScanReport> {
    let bar = super::progress::Progress::new(progress);
    let report = std::sync::Mutex::new(ScanReport::default());
    // Head slices found hidden after their folder was listed, with the reason.
    let late = std::sync::Mutex::new(Vec::new());
    // Each file's facts are read while its plan is fresh in the cache.
    let hidden = visit(fs, super::walk::JOBS, |f| {
        bar.file_done(f.size);
        let info = fs.file_info(f.ino);
        // A head slice is shown only if its series' face can be removed, which its pixels
        // say (a mount finds out at the first read); a slice of a series found to have none
        // since it was listed has no facts.
        if info.as_ref().is_none_or(|i| i.defaced) {
            match fs.hidden_since(f.ino) {
                Ok(None) => {}
                Ok(Some(reason)) => {
                    let path = fs.source_path(f.ino).unwrap_or_default();
                    crate::lock(&late).push((path, reason));
                    return;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "a head slice could not be read");
                    crate::lock(&late).push((Default::default(), "unreadable"));
                    return;
                }
            }
        }
        let mut r = crate::lock(&report);
        r.visible += 1;
        if let Some(info) = info {
            let modality = if info.modality.is_empty() {
                "(none)".to_string()
            } else {
                info.modality.clone()
            };
            *r.by_modality.entry(modality).or_default() += 1;
            *r.by_transfer_syntax
                .entry(info.transfer_syntax.clone())
                .or_default() += 1;
            if !info.pixels.is_empty() {
                *r.pixels_cleaned_by.entry(info.pixels.clone()).or_default() += 1;
            }
            for element in &info.echoes {
                *r.echoes_by_element.entry(element.clone()).or_default() += 1;
            }
            r.files_with_echoes += usize::from(!info.echoes.is_empty());
            r.defaced += usize::from(info.defaced);
            for b in &info.blobs_removed {
                let element = b.split(" (").next().unwrap_or(b).to_string();
                *r.blobs_removed_by_element.entry(element).or_default() += 1;
            }
        }
    })?;
    bar.finish(true);
    let mut r = report.into_inner().unwrap_or_else(|e| e.into_inner());
    let mut hidden = hidden;
    hidden.extend(late.into_inner().unwrap_or_else(|e| e.into_inner()));
    hidden.sort();
    for (path, reason) in hidden {
        *r.hidden.entry(reason.to_string()).or_default() += 1;
        if show_paths {
            r.hidden_paths
                .push((path.display().to_string(), reason.to_string()));
        }
    }
    Ok(r)
}
