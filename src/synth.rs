//! Synthetic DICOM files with obviously fake PHI: the demo's archive, the benchmarks' and the
//! corpus generator's files, and the tests' CT slices. A minimal explicit VR little endian
//! writer of its own, so that what it writes does not depend on the engine it feeds.
//!
//! (The tests' independent oracle, `tests/common/fixtures`, shares no code with this either.)

/// A value that does not fit the element's length field.
#[derive(Debug, thiserror::Error)]
#[error("({group:04X},{element:04X}): a {len}-byte value does not fit a {vr} length field")]
pub struct TooLong {
    pub group: u16,
    pub element: u16,
    pub vr: String,
    pub len: usize,
}

impl From<TooLong> for std::io::Error {
    fn from(e: TooLong) -> Self {
        std::io::Error::new(std::io::ErrorKind::InvalidInput, e)
    }
}

/// Fake PHI put into every demo file; the demo shows none of it survives.
pub const FAKE_PATIENTS: &[(&str, &str, &str)] = &[
    ("DOE^JANE^DEMO", "MRN-DEMO-0001", "19450317"),
    ("ROE^RICHARD^DEMO", "MRN-DEMO-0002", "19620704"),
];

/// Appends one explicit-VR-little-endian element, its value padded to an even length (also
/// used by the benchmarks and the corpus generator).
pub fn el(out: &mut Vec<u8>, g: u16, e: u16, vr: &str, value: &[u8]) -> Result<(), TooLong> {
    let mut v = value.to_vec();
    if v.len() % 2 == 1 {
        v.push(if vr == "UI" || vr == "OB" { 0 } else { b' ' });
    }
    let long = matches!(vr, "OB" | "OW" | "SQ" | "UN" | "UT");
    let too_long = || TooLong {
        group: g,
        element: e,
        vr: vr.to_string(),
        len: v.len(),
    };
    let len = u32::try_from(v.len()).map_err(|_| too_long())?;
    if !long && len > 0xFFFF {
        return Err(too_long());
    }
    out.extend(g.to_le_bytes());
    out.extend(e.to_le_bytes());
    out.extend(vr.as_bytes());
    if long {
        out.extend([0, 0]);
        out.extend(len.to_le_bytes());
    } else {
        out.extend((len as u16).to_le_bytes());
    }
    out.extend(v);
    Ok(())
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
) -> Result<Vec<u8>, TooLong> {
    let (name, id, birth) = FAKE_PATIENTS[patient % FAKE_PATIENTS.len()];
    let root = format!("1.2.826.0.1.3680043.10.1047.{patient}.{study}");
    let study_uid = root.clone();
    let series_uid = format!("{root}.{series}");
    let sop_uid = format!("{root}.{series}.{instance}");
    let class = "1.2.840.10008.5.1.4.1.1.2";
    let mut ds = Vec::new();
    el(&mut ds, 0x0008, 0x0005, "CS", b"ISO_IR 100")?;
    el(&mut ds, 0x0008, 0x0008, "CS", b"ORIGINAL\\PRIMARY\\AXIAL")?;
    el(&mut ds, 0x0008, 0x0016, "UI", class.as_bytes())?;
    el(&mut ds, 0x0008, 0x0018, "UI", sop_uid.as_bytes())?;
    el(&mut ds, 0x0008, 0x0020, "DA", b"20240311")?;
    el(&mut ds, 0x0008, 0x0021, "DA", b"20240311")?;
    el(&mut ds, 0x0008, 0x0023, "DA", b"20240311")?;
    el(&mut ds, 0x0008, 0x0030, "TM", b"101502")?;
    el(
        &mut ds,
        0x0008,
        0x0050,
        "SH",
        format!("ACC{patient}{study:04}").as_bytes(),
    )?;
    el(&mut ds, 0x0008, 0x0060, "CS", b"CT")?;
    el(&mut ds, 0x0008, 0x0070, "LO", b"ACME MEDICAL")?;
    el(
        &mut ds,
        0x0008,
        0x0080,
        "LO",
        b"ST. EXAMPLE GENERAL HOSPITAL",
    )?;
    el(&mut ds, 0x0008, 0x0081, "ST", b"1 Fake Street, Springfield")?;
    el(&mut ds, 0x0008, 0x0090, "PN", b"HOUSE^GREGORY^DEMO")?;
    el(&mut ds, 0x0008, 0x1010, "SH", b"CT-ROOM-7")?;
    el(
        &mut ds,
        0x0008,
        0x1030,
        "LO",
        format!("CT CHEST for {name} 2024-03-11").as_bytes(),
    )?;
    el(&mut ds, 0x0008, 0x103E, "LO", b"AXIAL 1.25mm")?;
    el(&mut ds, 0x0008, 0x1070, "PN", b"TECH^TERRY^DEMO")?;
    el(&mut ds, 0x0008, 0x1090, "LO", b"SCANMASTER 3000")?;
    let mut refd = Vec::new();
    el(&mut refd, 0x0008, 0x1150, "UI", class.as_bytes())?;
    el(
        &mut refd,
        0x0008,
        0x1155,
        "UI",
        format!("{root}.{series}.1").as_bytes(),
    )?;
    el(&mut ds, 0x0008, 0x1140, "SQ", &item(&refd))?;
    el(&mut ds, 0x0009, 0x0010, "LO", b"ACME PRIVATE")?;
    el(
        &mut ds,
        0x0009,
        0x1001,
        "LO",
        format!("operator note: {name}").as_bytes(),
    )?;
    el(&mut ds, 0x0010, 0x0010, "PN", name.as_bytes())?;
    el(&mut ds, 0x0010, 0x0020, "LO", id.as_bytes())?;
    el(&mut ds, 0x0010, 0x0030, "DA", birth.as_bytes())?;
    el(&mut ds, 0x0010, 0x0040, "CS", b"F")?;
    el(&mut ds, 0x0010, 0x1010, "AS", b"079Y")?;
    el(
        &mut ds,
        0x0010,
        0x1040,
        "LO",
        b"12 Imaginary Road, Springfield",
    )?;
    el(&mut ds, 0x0018, 0x0050, "DS", b"1.25")?;
    el(&mut ds, 0x0018, 0x1000, "LO", b"SN-998877")?;
    el(&mut ds, 0x0018, 0x1030, "LO", b"CHEST ROUTINE")?;
    el(&mut ds, 0x0020, 0x000D, "UI", study_uid.as_bytes())?;
    el(&mut ds, 0x0020, 0x000E, "UI", series_uid.as_bytes())?;
    el(
        &mut ds,
        0x0020,
        0x0010,
        "SH",
        format!("S{study}").as_bytes(),
    )?;
    el(&mut ds, 0x0020, 0x0011, "IS", series.to_string().as_bytes())?;
    el(
        &mut ds,
        0x0020,
        0x0013,
        "IS",
        instance.to_string().as_bytes(),
    )?;
    el(
        &mut ds,
        0x0020,
        0x0032,
        "DS",
        format!("-200\\-200\\{}", instance as f32 * 1.25).as_bytes(),
    )?;
    el(&mut ds, 0x0020, 0x0037, "DS", b"1\\0\\0\\0\\1\\0")?;
    el(
        &mut ds,
        0x0020,
        0x0052,
        "UI",
        format!("{root}.9").as_bytes(),
    )?;
    el(&mut ds, 0x0028, 0x0002, "US", &1u16.to_le_bytes())?;
    el(&mut ds, 0x0028, 0x0004, "CS", b"MONOCHROME2")?;
    el(&mut ds, 0x0028, 0x0010, "US", &rows.to_le_bytes())?;
    el(&mut ds, 0x0028, 0x0011, "US", &cols.to_le_bytes())?;
    el(&mut ds, 0x0028, 0x0030, "DS", b"0.78\\0.78")?;
    el(&mut ds, 0x0028, 0x0100, "US", &16u16.to_le_bytes())?;
    el(&mut ds, 0x0028, 0x0101, "US", &12u16.to_le_bytes())?;
    el(&mut ds, 0x0028, 0x0102, "US", &11u16.to_le_bytes())?;
    el(&mut ds, 0x0028, 0x0103, "US", &0u16.to_le_bytes())?;
    el(&mut ds, 0x0028, 0x1050, "DS", b"40")?;
    el(&mut ds, 0x0028, 0x1051, "DS", b"400")?;
    el(&mut ds, 0x0028, 0x1052, "DS", b"-1024")?;
    el(&mut ds, 0x0028, 0x1053, "DS", b"1")?;
    let n = usize::from(rows) * usize::from(cols);
    let mut pixels = Vec::with_capacity(n * 2);
    for i in 0..n {
        let (y, x) = (i / usize::from(cols), i % usize::from(cols));
        let v = ((x * 7 + y * 13 + instance as usize * 31) % 4096) as u16;
        pixels.extend(v.to_le_bytes());
    }
    el(&mut ds, 0x7FE0, 0x0010, "OW", &pixels)?;

    file(class, &sop_uid, EXPLICIT_LE, &ds)
}

const EXPLICIT_LE: &str = "1.2.840.10008.1.2.1";

/// A Part 10 file: preamble, file meta (transfer syntax `ts`, a group length, and a sending AE
/// title) and `dataset`.
pub fn file(class: &str, sop_uid: &str, ts: &str, dataset: &[u8]) -> Result<Vec<u8>, TooLong> {
    let mut meta = Vec::new();
    el(&mut meta, 0x0002, 0x0001, "OB", &[0, 1])?;
    el(&mut meta, 0x0002, 0x0002, "UI", class.as_bytes())?;
    el(&mut meta, 0x0002, 0x0003, "UI", sop_uid.as_bytes())?;
    el(&mut meta, 0x0002, 0x0010, "UI", ts.as_bytes())?;
    el(
        &mut meta,
        0x0002,
        0x0012,
        "UI",
        b"1.2.826.0.1.3680043.10.1047",
    )?;
    el(&mut meta, 0x0002, 0x0016, "AE", b"HOSPITAL_PACS")?;
    let mut out = vec![0u8; 128];
    out.extend(b"DICM");
    el(
        &mut out,
        0x0002,
        0x0000,
        "UL",
        &(meta.len() as u32).to_le_bytes(),
    )?;
    out.extend(meta);
    out.extend(dataset);
    Ok(out)
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
            std::fs::write(root.join(&rel), ct_slice(p, 1, 2, i, 64, 64)?)?;
            written.push(rel);
        }
    }
    std::fs::write(
        root.join("notes for DOE JANE.txt"),
        b"not DICOM: hidden from the view\n",
    )?;
    Ok(written)
}
