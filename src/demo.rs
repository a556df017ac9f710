//! Synthetic DICOM files with obviously fake PHI, for the demo and for benchmarks.
//! Written with a minimal explicit-VR-little-endian encoder of their own.

/// Fake PHI put into every demo file; the demo shows none of it survives.
pub const FAKE_PATIENTS: &[(&str, &str, &str)] = &[
    ("DOE^JANE^DEMO", "MRN-DEMO-0001", "19450317"),
    ("ROE^RICHARD^DEMO", "MRN-DEMO-0002", "19620704"),
];

/// Appends one explicit-VR-little-endian element, its value padded to an even length (also
/// used by the benchmarks and the corpus generator).
pub fn el(out: &mut Vec<u8>, g: u16, e: u16, vr: &str, value: &[u8]) {
    let mut v = value.to_vec();
    if v.len() % 2 == 1 {
        v.push(if vr == "UI" || vr == "OB" { 0 } else { b' ' });
    }
    out.extend(g.to_le_bytes());
    out.extend(e.to_le_bytes());
    out.extend(vr.as_bytes());
    if matches!(vr, "OB" | "OW" | "SQ" | "UN" | "UT") {
        out.extend([0, 0]);
        out.extend((v.len() as u32).to_le_bytes());
    } else {
        assert!(v.len() <= 0xFFFF, "({g:04X},{e:04X}) too long for {vr}");
        out.extend((v.len() as u16).to_le_bytes());
    }
    out.extend(v);
}

/// One sequence item with an explicit length.
pub fn item(content: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    v.extend(0xFFFEu16.to_le_bytes());
    v.extend(0xE000u16.to_le_bytes());
    v.extend((content.len() as u32).to_le_bytes());
    v.extend(content);
    v
}

/// One CT slice of a fake patient: explicit VR little endian, `rows` x `cols` 16-bit pixels.
pub fn ct_slice(
    patient: usize,
    study: u32,
    series: u32,
    instance: u32,
    rows: u16,
    cols: u16,
) -> Vec<u8> {
    let (name, id, birth) = FAKE_PATIENTS[patient % FAKE_PATIENTS.len()];
    let root = format!("1.2.826.0.1.3680043.10.1047.{patient}.{study}");
    let study_uid = root.clone();
    let series_uid = format!("{root}.{series}");
    let sop_uid = format!("{root}.{series}.{instance}");
    let class = "1.2.840.10008.5.1.4.1.1.2";
    let mut ds = Vec::new();
    el(&mut ds, 0x0008, 0x0005, "CS", b"ISO_IR 100");
    el(&mut ds, 0x0008, 0x0008, "CS", b"ORIGINAL\\PRIMARY\\AXIAL");
    el(&mut ds, 0x0008, 0x0016, "UI", class.as_bytes());
    el(&mut ds, 0x0008, 0x0018, "UI", sop_uid.as_bytes());
    el(&mut ds, 0x0008, 0x0020, "DA", b"20240311");
    el(&mut ds, 0x0008, 0x0021, "DA", b"20240311");
    el(&mut ds, 0x0008, 0x0023, "DA", b"20240311");
    el(&mut ds, 0x0008, 0x0030, "TM", b"101502");
    el(
        &mut ds,
        0x0008,
        0x0050,
        "SH",
        format!("ACC{patient}{study:04}").as_bytes(),
    );
    el(&mut ds, 0x0008, 0x0060, "CS", b"CT");
    el(&mut ds, 0x0008, 0x0070, "LO", b"ACME MEDICAL");
    el(
        &mut ds,
        0x0008,
        0x0080,
        "LO",
        b"ST. EXAMPLE GENERAL HOSPITAL",
    );
    el(&mut ds, 0x0008, 0x0081, "ST", b"1 Fake Street, Springfield");
    el(&mut ds, 0x0008, 0x0090, "PN", b"HOUSE^GREGORY^DEMO");
    el(&mut ds, 0x0008, 0x1010, "SH", b"CT-ROOM-7");
    el(
        &mut ds,
        0x0008,
        0x1030,
        "LO",
        format!("CT CHEST for {name} 2024-03-11").as_bytes(),
    );
    el(&mut ds, 0x0008, 0x103E, "LO", b"AXIAL 1.25mm");
    el(&mut ds, 0x0008, 0x1070, "PN", b"TECH^TERRY^DEMO");
    el(&mut ds, 0x0008, 0x1090, "LO", b"SCANMASTER 3000");
    let mut refd = Vec::new();
    el(&mut refd, 0x0008, 0x1150, "UI", class.as_bytes());
    el(
        &mut refd,
        0x0008,
        0x1155,
        "UI",
        format!("{root}.{series}.1").as_bytes(),
    );
    el(&mut ds, 0x0008, 0x1140, "SQ", &item(&refd));
    el(&mut ds, 0x0009, 0x0010, "LO", b"ACME PRIVATE");
    el(
        &mut ds,
        0x0009,
        0x1001,
        "LO",
        format!("operator note: {name}").as_bytes(),
    );
    el(&mut ds, 0x0010, 0x0010, "PN", name.as_bytes());
    el(&mut ds, 0x0010, 0x0020, "LO", id.as_bytes());
    el(&mut ds, 0x0010, 0x0030, "DA", birth.as_bytes());
    el(&mut ds, 0x0010, 0x0040, "CS", b"F");
    el(&mut ds, 0x0010, 0x1010, "AS", b"079Y");
    el(
        &mut ds,
        0x0010,
        0x1040,
        "LO",
        b"12 Imaginary Road, Springfield",
    );
    el(&mut ds, 0x0018, 0x0050, "DS", b"1.25");
    el(&mut ds, 0x0018, 0x1000, "LO", b"SN-998877");
    el(&mut ds, 0x0018, 0x1030, "LO", b"CHEST ROUTINE");
    el(&mut ds, 0x0020, 0x000D, "UI", study_uid.as_bytes());
    el(&mut ds, 0x0020, 0x000E, "UI", series_uid.as_bytes());
    el(
        &mut ds,
        0x0020,
        0x0010,
        "SH",
        format!("S{study}").as_bytes(),
    );
    el(&mut ds, 0x0020, 0x0011, "IS", series.to_string().as_bytes());
    el(
        &mut ds,
        0x0020,
        0x0013,
        "IS",
        instance.to_string().as_bytes(),
    );
    el(
        &mut ds,
        0x0020,
        0x0032,
        "DS",
        format!("-200\\-200\\{}", instance as f32 * 1.25).as_bytes(),
    );
    el(&mut ds, 0x0020, 0x0037, "DS", b"1\\0\\0\\0\\1\\0");
    el(
        &mut ds,
        0x0020,
        0x0052,
        "UI",
        format!("{root}.9").as_bytes(),
    );
    el(&mut ds, 0x0028, 0x0002, "US", &1u16.to_le_bytes());
    el(&mut ds, 0x0028, 0x0004, "CS", b"MONOCHROME2");
    el(&mut ds, 0x0028, 0x0010, "US", &rows.to_le_bytes());
    el(&mut ds, 0x0028, 0x0011, "US", &cols.to_le_bytes());
    el(&mut ds, 0x0028, 0x0030, "DS", b"0.78\\0.78");
    el(&mut ds, 0x0028, 0x0100, "US", &16u16.to_le_bytes());
    el(&mut ds, 0x0028, 0x0101, "US", &12u16.to_le_bytes());
    el(&mut ds, 0x0028, 0x0102, "US", &11u16.to_le_bytes());
    el(&mut ds, 0x0028, 0x0103, "US", &0u16.to_le_bytes());
    el(&mut ds, 0x0028, 0x1050, "DS", b"40");
    el(&mut ds, 0x0028, 0x1051, "DS", b"400");
    el(&mut ds, 0x0028, 0x1052, "DS", b"-1024");
    el(&mut ds, 0x0028, 0x1053, "DS", b"1");
    let n = usize::from(rows) * usize::from(cols);
    let mut pixels = Vec::with_capacity(n * 2);
    for i in 0..n {
        let (y, x) = (i / usize::from(cols), i % usize::from(cols));
        let v = ((x * 7 + y * 13 + instance as usize * 31) % 4096) as u16;
        pixels.extend(v.to_le_bytes());
    }
    el(&mut ds, 0x7FE0, 0x0010, "OW", &pixels);

    file(class, &sop_uid, EXPLICIT_LE, &ds)
}

const EXPLICIT_LE: &str = "1.2.840.10008.1.2.1";

/// A Part 10 file: preamble, file meta (transfer syntax `ts`, a group length, and a sending AE
/// title) and `dataset`.
pub fn file(class: &str, sop_uid: &str, ts: &str, dataset: &[u8]) -> Vec<u8> {
    let mut meta = Vec::new();
    el(&mut meta, 0x0002, 0x0001, "OB", &[0, 1]);
    el(&mut meta, 0x0002, 0x0002, "UI", class.as_bytes());
    el(&mut meta, 0x0002, 0x0003, "UI", sop_uid.as_bytes());
    el(&mut meta, 0x0002, 0x0010, "UI", ts.as_bytes());
    el(
        &mut meta,
        0x0002,
        0x0012,
        "UI",
        b"1.2.826.0.1.3680043.10.1047",
    );
    el(&mut meta, 0x0002, 0x0016, "AE", b"HOSPITAL_PACS");
    let mut out = vec![0u8; 128];
    out.extend(b"DICM");
    el(
        &mut out,
        0x0002,
        0x0000,
        "UL",
        &(meta.len() as u32).to_le_bytes(),
    );
    out.extend(meta);
    out.extend(dataset);
    out
}

/// Writes a small archive whose folder names and headers are full of fake PHI, plus a file
/// that is not DICOM. Returns the relative paths of the DICOM files written.
pub fn write_archive(root: &std::path::Path) -> std::io::Result<Vec<std::path::PathBuf>> {
    let mut written = Vec::new();
    for (p, (name, id, _)) in FAKE_PATIENTS.iter().enumerate() {
        let folder = format!("{}_{id}", name.replace("^DEMO", ""));
        let series = root
            .join(&folder)
            .join(format!("2024031{p}_CT_CHEST"))
            .join("SE2_AXIAL");
        std::fs::create_dir_all(&series)?;
        for i in 1..=3u32 {
            let rel = std::path::Path::new(&folder)
                .join(format!("2024031{p}_CT_CHEST"))
                .join("SE2_AXIAL")
                .join(format!("IM{i:04}.dcm"));
            std::fs::write(root.join(&rel), ct_slice(p, 1, 2, i, 64, 64))?;
            written.push(rel);
        }
    }
    std::fs::write(
        root.join("notes for DOE JANE.txt"),
        b"not DICOM: hidden from the view\n",
    )?;
    Ok(written)
}

fn tree(root: &std::path::Path) -> Vec<String> {
    fn walk(dir: &std::path::Path, depth: usize, out: &mut Vec<String>) {
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

fn header_lines(path: &std::path::Path) -> Vec<(String, String)> {
    use dicom_core::Tag;
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
    let obj = dicom_object::open_file(path).ok();
    SHOWN
        .iter()
        .map(|(k, t)| {
            let v = obj
                .as_ref()
                .and_then(|o| o.element_opt(*t).ok().flatten())
                .map(|e| e.to_str().map(|s| s.trim().to_string()).unwrap_or_default())
                .unwrap_or_else(|| "(absent)".into());
            (k.to_string(), v)
        })
        .collect()
}

/// The demo: a fake archive, mounted de-identified, shown side by side; stays mounted until
/// Ctrl-C unless `exit`. Falls back to a one-file demo where FUSE is not available.
pub fn run(exit: bool) -> Result<(), String> {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    let work = tempfile::Builder::new()
        .prefix("deidfs-demo-")
        .tempdir()
        .map_err(|e| e.to_string())?;
    let (source, mountpoint) = (work.path().join("archive"), work.path().join("view"));
    std::fs::create_dir_all(&mountpoint).map_err(|e| e.to_string())?;
    let files = write_archive(&source).map_err(|e| e.to_string())?;
    let keys = crate::pseudonym::Pseudonyms::new(&crate::pseudonym::SecretKey::generate());
    let policy = crate::policy::load_builtin("basic").map_err(|e| e.to_string())?;
    let cfg = crate::commands::view_config(policy, keys.clone(), 64 << 20, 4, None);
    let spec = crate::mount::MountSpec {
        source: source.clone(),
        mountpoint: mountpoint.clone(),
        allow_other: false,
        threads: 4,
        ttl: crate::fuse::DEFAULT_TTL,
    };
    let stop = Arc::new(AtomicBool::new(false));
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let server = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            crate::mount::serve(&spec, cfg, stop, move || ready_tx.send(()).unwrap_or(()))
        })
    };
    if ready_rx.recv().is_err() {
        let err = server
            .join()
            .unwrap_or_else(|_| Err("the mount thread panicked".into()))
            .err()
            .unwrap_or_default();
        println!("deidfs demo: cannot mount here ({err}); showing the one-file demo instead\n");
        print!("{}", crate::commands::demo().map_err(|e| e.to_string())?);
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
        .unwrap_or_else(|_| Err("the mount thread panicked".into()))
}
