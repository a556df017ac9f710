//! What the commands print: the inspect table, the scan summary and the one-file demo. Plain
//! functions from results to text; nothing here decides anything.

use crate::deid::{Outcome, Refusal};
use crate::policy::Policy;
use crate::pseudonym::Pseudonyms;
use crate::tools::scan::ScanReport;
use std::fmt::Write as _;
use std::path::Path;

/// `inspect`: the file, policy and key, the result, and per attribute the action, why, and
/// the value before and after (PHI: for the key holder).
pub fn inspect(
    path: &Path,
    keys: &Pseudonyms,
    policy: &Policy,
    source_len: u64,
    result: &Result<Outcome, Refusal>,
) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "file: {}\npolicy: {} (id {})\nkey id: {}",
        path.display(),
        policy.name,
        policy.id(),
        keys.key_id()
    );
    match result {
        Ok(outcome) => {
            let _ = writeln!(
                out,
                "result: de-identified, {} bytes ({} in memory, the rest served from the source; source {} bytes)",
                outcome.plan.len(),
                outcome.plan.inline_bytes(),
                source_len
            );
            let _ = writeln!(
                out,
                "{:<34} {:<36} {:<9} {:<32} BEFORE -> AFTER",
                "ELEMENT", "KEYWORD", "ACTION", "WHY"
            );
            for c in &outcome.trace {
                let _ = writeln!(
                    out,
                    "{:<34} {:<36} {:<9} {:<32} {:?} -> {:?}",
                    c.path,
                    c.keyword,
                    c.action,
                    c.why,
                    c.before_text(),
                    c.after_text()
                );
            }
        }
        Err(r) => {
            let _ = writeln!(out, "result: refused ({}): {r}", r.reason());
        }
    }
    out
}

/// `scan` as text: totals, counts by reason, modality and transfer syntax, and the hidden
/// paths when asked for.
pub fn scan(r: &ScanReport) -> String {
    let mut out = format!(
        "visible: {}\nhidden: {}\n",
        r.visible,
        r.hidden.values().sum::<usize>()
    );
    if r.defaced > 0 {
        out += &format!("visible with the face removed: {}\n", r.defaced);
    }
    for (title, map) in [
        ("hidden by reason", &r.hidden),
        ("visible by modality", &r.by_modality),
        ("visible by transfer syntax", &r.by_transfer_syntax),
        ("pixels cleaned, located by", &r.pixels_cleaned_by),
        ("echoes removed (files), by element", &r.echoes_by_element),
        (
            "vendor data removed, does not parse (files), by element",
            &r.blobs_removed_by_element,
        ),
    ] {
        if map.is_empty()
            && (title.starts_with("pixels")
                || title.starts_with("echoes")
                || title.starts_with("vendor"))
        {
            continue;
        }
        if title.starts_with("echoes") {
            let _ = writeln!(out, "files with echoes: {}", r.files_with_echoes);
        }
        let _ = writeln!(out, "{title}:");
        for (k, v) in map {
            let _ = writeln!(out, "  {k:<40} {v}");
        }
    }
    for (p, reason) in &r.hidden_paths {
        let _ = writeln!(out, "hidden {reason:<22} {p}");
    }
    out
}

/// The one-file demo: what changed in a synthetic CT slice.
pub fn one_file_demo(
    outcome: &Outcome,
    source_len: usize,
    result_len: usize,
    pixels_same: bool,
) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "deidfs demo: a synthetic CT slice with fake PHI, de-identified with policy 'basic' and a throwaway key\n"
    );
    let _ = writeln!(
        out,
        "{:<36} {:<9} {:<38} AFTER",
        "ATTRIBUTE", "ACTION", "BEFORE"
    );
    for c in outcome
        .trace
        .iter()
        .filter(|c| c.action != "keep" || c.keyword == "Modality")
    {
        let _ = writeln!(
            out,
            "{:<36} {:<9} {:<38} {}",
            c.keyword,
            c.action,
            c.before_text(),
            c.after_text()
        );
    }
    let _ = writeln!(
        out,
        "\nsource {} bytes -> de-identified {} bytes; Pixel Data byte-identical: {}; plan: {} segments, {} bytes from the source",
        source_len,
        result_len,
        pixels_same,
        outcome.plan.segments().len(),
        outcome.plan.len() - outcome.plan.inline_bytes()
    );
    out
}
