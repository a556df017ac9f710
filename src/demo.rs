//! The demo: a fake archive (`synth`) mounted de-identified, both trees shown side by side
//! and one header before and after; it stays mounted until Ctrl-C.

use crate::synth::write_archive;
use std::path::Path;

fn tree(root: &Path) -> Vec<String> {
    fn walk(dir: &Path, depth: usize, out: &mut Vec<String>) {
        let mut entries: Vec<_> = std::fs::read_dir(dir)
            .map(|r| r.flatten().collect())
            .unwrap_or_default();
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            let path = e.path();
            let is_dir = path.is_dir();
            let size = if is_dir {
                String::new()
            } else {
                format!(" ({} B)", e.metadata().map(|m| m.len()).unwrap_or(0))
            };
            out.push(format!(
                "{}{}{}{}",
                "  ".repeat(depth),
                e.file_name().to_string_lossy(),
                if is_dir { "/" } else { "" },
                size
            ));
            if is_dir {
                walk(&path, depth + 1, out);
            }
        }
    }
    let mut out = Vec::new();
    walk(root, 0, &mut out);
    out
}

fn header_lines(path: &Path) -> Vec<(String, String)> {
    use crate::dicom::Tag;
    const SHOWN: &[(&str, Tag)] = &[
        ("PatientName", Tag(0x0010, 0x0010)),
        ("PatientID", Tag(0x0010, 0x0020)),
        ("PatientBirthDate", Tag(0x0010, 0x0030)),
        ("StudyDate", Tag(0x0008, 0x0020)),
        ("AccessionNumber", Tag(0x0008, 0x0050)),
        ("InstitutionName", Tag(0x0008, 0x0080)),
        ("ReferringPhysicianName", Tag(0x0008, 0x0090)),
        ("StudyDescription", Tag(0x0008, 0x1030)),
        ("(0009,1001) private", Tag(0x0009, 0x1001)),
        ("StudyInstanceUID", Tag(0x0020, 0x000D)),
        ("SOPInstanceUID", Tag(0x0008, 0x0018)),
        ("PatientIdentityRemoved", Tag(0x0012, 0x0062)),
        ("DeidentificationMethod", Tag(0x0012, 0x0063)),
    ];
    let tags: Vec<Tag> = SHOWN.iter().map(|(_, t)| *t).collect();
    let values = match crate::io::FileAt::open(path) {
        Ok(f) => crate::deid::peek::top_level_text(&f, &tags),
        Err(_) => vec![None; tags.len()],
    };
    SHOWN
        .iter()
        .zip(values)
        .map(|((k, _), v)| (k.to_string(), v.unwrap_or_else(|| "(absent)".into())))
        .collect()
}

/// The demo: a fake archive, mounted de-identified, shown side by side; stays mounted until
/// Ctrl-C unless `exit`. Falls back to a one-file demo where FUSE is not available.
pub fn run(exit: bool) -> anyhow::Result<()> {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    let work = tempfile::Builder::new().prefix("deidfs-demo-").tempdir()?;
    let (source, mountpoint) = (work.path().join("archive"), work.path().join("view"));
    std::fs::create_dir_all(&mountpoint)?;
    let files = write_archive(&source)?;
    let keys = crate::pseudonym::Pseudonyms::new(&crate::pseudonym::SecretKey::generate());
    let policy = crate::policy::load_builtin("basic")?;
    let cfg = crate::run::view_config(policy, keys.clone(), 64 << 20, 4, None);
    let archive = Arc::new(crate::source::LocalSource::new(&source)?);
    let spec = crate::mount::MountSpec {
        mountpoint: mountpoint.clone(),
        allow_other: false,
        threads: 4,
        ttl: crate::fuse::DEFAULT_TTL,

        metrics: None,
    };
    let stop = Arc::new(AtomicBool::new(false));
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let server = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            crate::mount::serve(&spec, archive, cfg, stop, move || {
                ready_tx.send(()).unwrap_or(())
            })
        })
    };
    if ready_rx.recv().is_err() {
        let err = match server.join() {
            Ok(Err(e)) => format!("{e:#}"),
            Ok(Ok(())) => "the mount ended".into(),
            Err(_) => "the mount thread panicked".into(),
        };
        println!("deidfs demo: cannot mount here ({err}); showing the one-file demo instead\n");
        print!("{}", crate::run::one_file_demo()?);
        return Ok(());
    }

    println!(
        "deidfs demo: a fake archive mounted de-identified (policy 'basic', a throwaway key)\n"
    );
    println!(
        "source: {}\nview:   {}\n",
        source.display(),
        mountpoint.display()
    );
    let (left, right) = (tree(&source), tree(&mountpoint));
    let width = left
        .iter()
        .map(|l| l.chars().count())
        .max()
        .unwrap_or(0)
        .max(30)
        + 4;
    println!(
        "{:<width$}VIEW (what analysts read)",
        "SOURCE (the archive, full of PHI)"
    );
    for i in 0..left.len().max(right.len()) {
        println!(
            "{:<width$}{}",
            left.get(i).map_or("", String::as_str),
            right.get(i).map_or("", String::as_str)
        );
    }
    let first = &files[0];
    let view_file =
        mountpoint.join(crate::fs::view_path(&keys, first, true).trim_start_matches('/'));
    println!(
        "\none header, before and after ({} -> {}):\n",
        first.display(),
        view_file
            .strip_prefix(&mountpoint)
            .unwrap_or(&view_file)
            .display()
    );
    for ((k, before), (_, after)) in header_lines(&source.join(first))
        .into_iter()
        .zip(header_lines(&view_file))
    {
        println!("  {k:<24} {before:<44} {after}");
    }
    if exit {
        stop.store(true, Ordering::Relaxed);
    } else {
        println!(
            "\nmounted until Ctrl-C: try `ls -lR {}` or `dcmdump` on any file",
            mountpoint.display()
        );
    }
    server
        .join()
        .unwrap_or_else(|_| Err(anyhow::anyhow!("the mount thread panicked")))
}
