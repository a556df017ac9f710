//! Defacing (`deidfs::deface`): the plane found on real head volumes removes the face and no
//! brain voxel, whatever plane the slices were acquired in; what cannot be defaced says why.
//!
//! The heads are pydeface's template (a mean T1 head, with its face mask) and a pseudo-CT
//! derived from it, sliced axially and sagittally by `scripts/head_volume.py`, with a
//! reference brain segmented there with scipy (independent of the code under test). The
//! face is judged as a viewer would see it: the skin surface rendered from the front (a depth
//! map), before and after.

mod common;

use deidfs::deface::{self, Cut, Geometry, Modality, Undefaceable, Vec3, Volume};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The head volumes, made once per test run.
fn heads() -> &'static Path {
    static DIR: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    &DIR.get_or_init(|| {
        common::require_tool("python3", "python3");
        let dir = tempfile::tempdir().unwrap();
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/head_volume.py");
        let out = Command::new("python3")
            .arg(&script)
            .arg(dir.path())
            .output()
            .expect("python3 runs");
        assert!(
            out.status.success(),
            "scripts/head_volume.py failed ({}): {}; it needs `python3 -m pip install nibabel \
             scipy` and `python3 -m pip install --no-deps pydeface` (or `scripts/test.sh \
             --deps-only`, which installs every tool the tests use)",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
        let path = dir.path().to_path_buf();
        (dir, path)
    })
    .1
}

struct Head {
    volume: Volume,
    /// Per voxel: bit 0 the reference brain, bit 1 pydeface's face mask, bit 2 the head.
    labels: Vec<u8>,
}

fn head(name: &str) -> Head {
    let dir = heads();
    let g: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join(format!("{name}.json"))).unwrap()).unwrap();
    let v3 = |v: &serde_json::Value| -> Vec3 { [0, 1, 2].map(|i| v[i].as_f64().unwrap()) };
    let geometry = Geometry {
        cols: g["cols"].as_u64().unwrap() as usize,
        rows: g["rows"].as_u64().unwrap() as usize,
        row_dir: v3(&g["row_dir"]),
        col_dir: v3(&g["col_dir"]),
        row_spacing: g["row_spacing"].as_f64().unwrap(),
        col_spacing: g["col_spacing"].as_f64().unwrap(),
        positions: g["positions"].as_array().unwrap().iter().map(v3).collect(),
    };
    let values = std::fs::read(dir.join(format!("{name}.f32")))
        .unwrap()
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
        .collect();
    let modality = match g["modality"].as_str().unwrap() {
        "CT" => Modality::Ct,
        _ => Modality::Mr,
    };
    Head {
        volume: Volume {
            geometry,
            modality,
            values,
        },
        labels: std::fs::read(dir.join(format!("{name}.labels"))).unwrap(),
    }
}

/// Which voxels the cut removes, as the view would: slice by slice, run by run.
fn removed(v: &Volume, cut: &Cut) -> Vec<bool> {
    let g = &v.geometry;
    let mut out = vec![false; v.values.len()];
    for k in 0..g.positions.len() {
        for (row, start, end) in cut.runs(g, k) {
            let at = (k * g.rows + row as usize) * g.cols;
            out[at + start as usize..at + end as usize].fill(true);
        }
    }
    out
}

fn patient(g: &Geometry, i: usize) -> Vec3 {
    let (c, r, k) = (i % g.cols, (i / g.cols) % g.rows, i / (g.cols * g.rows));
    let p = g.positions[k];
    [0, 1, 2].map(|a| {
        p[a] + g.row_dir[a] * g.col_spacing * c as f64 + g.col_dir[a] * g.row_spacing * r as f64
    })
}

/// The skin seen from the front: per 1 mm square of the coronal plane (x, z), the most
/// anterior tissue voxel's y and whether it is on pydeface's face mask; `keep` says which
/// voxels are still there.
fn depth_map(
    h: &Head,
    keep: &dyn Fn(usize) -> bool,
) -> std::collections::HashMap<(i64, i64), (f64, bool)> {
    let skin = match h.volume.modality {
        Modality::Ct => -500.0,
        Modality::Mr => 60.0,
    };
    let mut map = std::collections::HashMap::new();
    for (i, &v) in h.volume.values.iter().enumerate() {
        if v <= skin || !keep(i) {
            continue;
        }
        let p = patient(&h.volume.geometry, i);
        let bin = (p[0].round() as i64, p[2].round() as i64);
        let face = h.labels[i] & 2 != 0;
        map.entry(bin)
            .and_modify(|e: &mut (f64, bool)| {
                if p[1] < e.0 {
                    *e = (p[1], face);
                }
            })
            .or_insert((p[1], face));
    }
    map
}

/// What a cut does to a head: the share of the facial surface removed (the skin under
/// pydeface's face mask moved back 5 mm or more, or gone) and the reference brain voxels
/// it removes.
fn judge(h: &Head, cut: &Cut) -> (f64, usize, usize) {
    let gone = removed(&h.volume, cut);
    let before = depth_map(h, &|_| true);
    let after = depth_map(h, &|i| !gone[i]);
    let facial: Vec<_> = before.iter().filter(|(_, (_, face))| *face).collect();
    let cut_away = facial
        .iter()
        .filter(|(bin, (y, _))| after.get(bin).is_none_or(|(y2, _)| y2 - y >= 5.0))
        .count();
    let brain = h.labels.iter().filter(|&&l| l & 1 != 0).count();
    let brain_removed = (0..gone.len())
        .filter(|&i| gone[i] && h.labels[i] & 1 != 0)
        .count();
    (cut_away as f64 / facial.len() as f64, brain_removed, brain)
}

/// The cut of `h` (called `what` in the report), checked: at least `face_at_least` of the
/// facial surface removed and no brain voxel.
fn defaces(what: &str, h: &Head, face_at_least: f64) -> Cut {
    let t = std::time::Instant::now();
    let cut = deface::cut(&h.volume).unwrap_or_else(|e| panic!("{what}: {e}"));
    let took = t.elapsed();
    let (face, brain_removed, brain) = judge(h, &cut);
    eprintln!(
        "{what}: facial surface removed {:.1}%, brain voxels removed {brain_removed} of \
         {brain}, plane {cut:?}, found in {took:.2?}",
        face * 100.0
    );
    assert!(
        face >= face_at_least,
        "{what}: only {:.1}% of the face removed",
        face * 100.0
    );
    assert_eq!(brain_removed, 0, "{what}: brain voxels removed");
    cut
}

fn same_plane(a: &Cut, b: &Cut) {
    let cos = deface::dot(a.normal, b.normal);
    assert!(cos > 0.999, "normals differ: {a:?} {b:?}");
    assert!(
        (a.offset - b.offset).abs() < 3.0,
        "offsets differ: {a:?} {b:?}"
    );
}

#[test]
fn a_head_mr_loses_its_face_and_no_brain_voxel_whatever_the_slicing() {
    let axial = defaces("mr-axial", &head("mr-axial"), 0.9);
    let sagittal = defaces("mr-sagittal", &head("mr-sagittal"), 0.9);
    same_plane(&axial, &sagittal);
}

#[test]
fn a_head_ct_loses_its_face_and_no_brain_voxel_whatever_the_slicing() {
    let axial = defaces("ct-axial", &head("ct-axial"), 0.9);
    let sagittal = defaces("ct-sagittal", &head("ct-sagittal"), 0.9);
    same_plane(&axial, &sagittal);
}

#[test]
fn a_series_missing_a_slice_or_too_thin_is_refused() {
    let mut h = head("ct-axial");
    let g = &mut h.volume.geometry;
    let plane = g.cols * g.rows;
    // A slice gone from the middle.
    let k = g.positions.len() / 2;
    g.positions.remove(k);
    h.volume.values.drain(k * plane..(k + 1) * plane);
    assert_eq!(deface::cut(&h.volume), Err(Undefaceable::UnevenSpacing));
    // Twelve slices: too few to deface (or to render a face from).
    h.volume.geometry.positions.truncate(12);
    h.volume.values.truncate(12 * plane);
    assert_eq!(deface::cut(&h.volume), Err(Undefaceable::TooSmall));
}

#[test]
fn a_volume_without_a_head_is_refused() {
    // A chest-like CT: an ellipse of soft tissue with lungs of air and no skull or brain
    // where a head's would be.
    let (cols, rows, slices) = (128usize, 96usize, 60usize);
    let mut values = vec![-1000f32; cols * rows * slices];
    for k in 0..slices {
        for r in 0..rows {
            for c in 0..cols {
                let (x, y) = ((c as f64 - 64.0) / 60.0, (r as f64 - 48.0) / 40.0);
                let lung = ((x.abs() - 0.45) / 0.3).powi(2) + (y / 0.7).powi(2) < 1.0;
                if x * x + y * y < 1.0 {
                    values[(k * rows + r) * cols + c] = if lung { -850.0 } else { 40.0 };
                }
            }
        }
    }
    let volume = Volume {
        geometry: Geometry {
            cols,
            rows,
            row_dir: [1.0, 0.0, 0.0],
            col_dir: [0.0, 1.0, 0.0],
            row_spacing: 3.0,
            col_spacing: 3.0,
            positions: (0..slices)
                .map(|k| [-192.0, -144.0, -300.0 + 3.0 * k as f64])
                .collect(),
        },
        modality: Modality::Ct,
        values,
    };
    assert_eq!(deface::cut(&volume), Err(Undefaceable::NoBrain));
}

/// The head with every `n`th slice only (thicker slices, as clinical head CT has).
fn every(mut h: Head, n: usize) -> Head {
    let g = &mut h.volume.geometry;
    let plane = g.cols * g.rows;
    let keep: Vec<usize> = (0..g.positions.len()).step_by(n).collect();
    g.positions = keep.iter().map(|&k| g.positions[k]).collect();
    fn take<T: Copy>(v: &[T], keep: &[usize], plane: usize) -> Vec<T> {
        keep.iter()
            .flat_map(|&k| v[k * plane..][..plane].to_vec())
            .collect()
    }
    h.volume.values = take(&h.volume.values, &keep, plane);
    h.labels = take(&h.labels, &keep, plane);
    h
}

#[test]
fn thick_slices_lose_the_face_as_well() {
    for (name, n) in [("ct-axial", 5), ("mr-axial", 3)] {
        defaces(
            &format!("{name}, {n} mm slices"),
            &every(head(name), n),
            0.85,
        );
    }
}

/// The head volumes as DICOM series (`scripts/head_series.py`), one folder each.
fn series(specs: &[&str]) -> tempfile::TempDir {
    series_of(heads(), specs)
}

/// The volumes of `volumes` (as `scripts/head_volume.py` writes them) as DICOM series.
fn series_of(volumes: &Path, specs: &[&str]) -> tempfile::TempDir {
    common::require_pydicom();
    let out = tempfile::tempdir().unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/head_series.py");
    let run = Command::new("python3")
        .arg(&script)
        .arg(volumes)
        .arg(out.path())
        .args(specs)
        .output()
        .expect("python3 runs");
    assert!(
        run.status.success(),
        "scripts/head_series.py: {}",
        String::from_utf8_lossy(&run.stderr).trim()
    );
    out
}

/// A new key, in a folder of its own.
fn new_key() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("k.key");
    let made = Command::new(env!("CARGO_BIN_EXE_deidfs"))
        .arg("keygen")
        .arg(&key)
        .output()
        .unwrap();
    assert!(made.status.success());
    (dir, key)
}

/// `deidfs scan --json` of `source` with the option.
fn scan_report(source: &Path) -> serde_json::Value {
    let scan = Command::new(env!("CARGO_BIN_EXE_deidfs"))
        .arg("scan")
        .arg(source)
        .args(OPTION)
        .arg("--json")
        .output()
        .unwrap();
    serde_json::from_slice(&scan.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&scan.stderr)))
}

/// `deidfs export` of `source` with the option into `x` of a new folder, and what it said.
fn export_of(source: &Path, key: &Path) -> (tempfile::TempDir, std::process::Output) {
    let out = tempfile::tempdir().unwrap();
    let export = Command::new(env!("CARGO_BIN_EXE_deidfs"))
        .arg("export")
        .arg(source)
        .arg(out.path().join("x"))
        .arg("--key-file")
        .arg(key)
        .args(OPTION)
        .output()
        .unwrap();
    (out, export)
}

/// A live mount of `source` with the option, unmounted on drop.
struct Mount {
    child: std::process::Child,
    view: PathBuf,
    _dir: tempfile::TempDir,
}

impl Drop for Mount {
    fn drop(&mut self) {
        // SAFETY: kill with a pid we own.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let _ = self.child.wait();
        if deidfs::mount::is_mountpoint(&self.view) {
            let _ = Command::new(env!("CARGO_BIN_EXE_deidfs"))
                .arg("unmount")
                .arg(&self.view)
                .status();
        }
    }
}

const OPTION: [&str; 2] = ["--option", "clean-recognizable-visual-features"];

fn mount(source: &Path, key: &Path) -> Mount {
    let dir = tempfile::tempdir().unwrap();
    let view = dir.path().join("view");
    std::fs::create_dir_all(&view).unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_deidfs"))
        .arg("mount")
        .arg(source)
        .arg(&view)
        .arg("--key-file")
        .arg(key)
        .arg("--foreground")
        .args(OPTION)
        .arg("--log-file")
        .arg(dir.path().join("log"))
        .spawn()
        .unwrap();
    common::wait_mounted(&view);
    Mount {
        child,
        view,
        _dir: dir,
    }
}

/// The frames of one served file: each frame's Image Position (at the top level for a
/// slice, in the per-frame functional groups of an enhanced image) and stored values (16-bit,
/// little endian as served), or why it could not be read.
fn served_frames(path: &Path) -> std::io::Result<Vec<(Vec3, Vec<u16>)>> {
    use dicom_dictionary_std::tags;
    let bytes = std::fs::read(path)?;
    let obj = dicom_object::from_reader(&bytes[128..]).expect("a served file parses");
    let position = |e: &dicom_object::mem::InMemElement| {
        let p = e.to_multi_float64().unwrap();
        [p[0], p[1], p[2]]
    };
    let positions: Vec<Vec3> = match obj.element(tags::PER_FRAME_FUNCTIONAL_GROUPS_SEQUENCE) {
        Ok(groups) => groups
            .items()
            .unwrap()
            .iter()
            .map(|frame| {
                let plane = frame.element(tags::PLANE_POSITION_SEQUENCE).unwrap();
                position(
                    plane.items().unwrap()[0]
                        .element(tags::IMAGE_POSITION_PATIENT)
                        .unwrap(),
                )
            })
            .collect(),
        Err(_) => vec![position(obj.element(tags::IMAGE_POSITION_PATIENT).unwrap())],
    };
    let pixels = obj.element(tags::PIXEL_DATA).unwrap().to_bytes().unwrap();
    let values: Vec<u16> = pixels
        .chunks_exact(2)
        .map(|b| u16::from_le_bytes([b[0], b[1]]))
        .collect();
    let frame = values.len() / positions.len();
    Ok(positions
        .into_iter()
        .zip(values.chunks_exact(frame).map(<[u16]>::to_vec))
        .collect())
}

/// What the mount did to the head `name` served in `folder`: the share of the facial
/// surface removed and the reference brain voxels changed (of all of them), judged on the
/// served pixels.
fn judge_served(name: &str, folder: &Path) -> (f64, usize, usize) {
    let h = head(name);
    let g = &h.volume.geometry;
    let plane = g.cols * g.rows;
    let ct = h.volume.modality == Modality::Ct;
    // As head_series.py stores the values (numpy rounds ties to even).
    let stored = |v: f32| -> u16 {
        if ct {
            (v + 1024.0).round_ties_even().clamp(0.0, 4095.0) as u16
        } else {
            v.round_ties_even().clamp(0.0, 65535.0) as u16
        }
    };
    let air = if ct { 24 } else { 0 };
    let mut gone = vec![false; h.volume.values.len()];
    let mut seen = vec![false; g.positions.len()];
    let mut brain_changed = 0;
    let mut unreadable = 0;
    let mut echoes = std::collections::HashMap::new();
    let frames = std::fs::read_dir(folder).unwrap().flat_map(|entry| {
        match served_frames(&entry.unwrap().path()) {
            Ok(frames) => frames.into_iter().map(Some).collect(),
            // The screening detector takes the pseudo-CT's bone for text in a few slices
            // (without the option too): they fail every read. Counted as kept here.
            Err(_) => vec![None],
        }
    });
    for frame in frames {
        let Some((position, values)) = frame else {
            unreadable += 1;
            continue;
        };
        let k = (0..g.positions.len())
            .min_by(|&a, &b| {
                let d = |p: Vec3| (0..3).map(|i| (p[i] - position[i]).powi(2)).sum::<f64>();
                d(g.positions[a]).total_cmp(&d(g.positions[b]))
            })
            .unwrap();
        if seen[k] {
            // A second echo (head_series.py's `echoes`, of the same values) at a position
            // is served as the first was.
            assert_eq!(
                Some(&values),
                echoes.get(&k),
                "{name}: two frames at one position served apart"
            );
            continue;
        }
        seen[k] = true;
        echoes.insert(k, values.clone());
        assert_eq!(values.len(), plane, "{name}: slice size");
        for (j, &v) in values.iter().enumerate() {
            let i = k * plane + j;
            let source = stored(h.volume.values[i]);
            gone[i] = v != source || (v == air && source != air);
            if v != source && v != air {
                panic!("{name}: a pixel changed to something else than air");
            }
            if h.labels[i] & 1 != 0 && v != source {
                brain_changed += 1;
            }
        }
    }
    assert_eq!(
        seen.iter().filter(|s| **s).count() + unreadable,
        g.positions.len(),
        "{name}: every slice listed"
    );
    assert!(
        unreadable * 50 <= g.positions.len(),
        "{name}: {unreadable} slices unreadable"
    );
    let before = depth_map(&h, &|_| true);
    let after = depth_map(&h, &|i| !gone[i]);
    let facial: Vec<_> = before.iter().filter(|(_, (_, face))| *face).collect();
    let cut_away = facial
        .iter()
        .filter(|(bin, (y, _))| after.get(bin).is_none_or(|(y2, _)| y2 - y >= 5.0))
        .count();
    let brain = h.labels.iter().filter(|&&l| l & 1 != 0).count();
    (cut_away as f64 / facial.len() as f64, brain_changed, brain)
}

/// The folder of the view holding the series `folder` of the source (by pseudonym).
fn view_folder(view: &Path, key: &Path, folder: &str) -> PathBuf {
    let keys =
        deidfs::pseudonym::Pseudonyms::new(&deidfs::pseudonym::SecretKey::load(key).unwrap());
    view.join(deidfs::fs::view_path(&keys, Path::new(folder), false).trim_start_matches('/'))
}

#[test]
#[cfg_attr(not(deidfs_fuse), ignore = "skipped: no FUSE (see build.rs)")]
fn through_a_mount_head_series_lose_their_face_and_no_brain_voxel_and_a_broken_series_is_hidden() {
    let src = series(&[
        "ct-axial:native",
        "mr-sagittal:native",
        "mr-axial:rle",
        "ct-axial:missing",
    ]);
    let (_keydir, key) = new_key();
    let m = mount(src.path(), &key);
    for (name, folder) in [
        ("ct-axial", "ct-axial-native"),
        ("mr-sagittal", "mr-sagittal-native"),
        ("mr-axial", "mr-axial-rle"),
    ] {
        let shown = view_folder(&m.view, &key, folder);
        let t = std::time::Instant::now();
        let first = std::fs::read_dir(&shown).unwrap().next().unwrap().unwrap();
        let mut byte = [0u8; 1];
        use std::os::unix::fs::FileExt;
        std::fs::File::open(first.path())
            .unwrap()
            .read_exact_at(&mut byte, 4096)
            .unwrap();
        let first_byte = t.elapsed();
        let (face, brain_changed, brain) = judge_served(name, &shown);
        eprintln!(
            "{folder} through the mount: facial surface removed {:.1}%, brain voxels changed \
             {brain_changed} of {brain}; first byte of the first slice read in {first_byte:.2?}",
            face * 100.0
        );
        assert!(
            face >= 0.85,
            "{folder}: only {:.1}% of the face removed",
            face * 100.0
        );
        assert_eq!(brain_changed, 0, "{folder}: brain voxels changed");
        let log = std::fs::read_to_string(m._dir.path().join("log")).unwrap();
        for line in log.lines().filter(|l| l.contains("op=\"read\"")) {
            assert!(
                line.contains("pixels-text-found"),
                "only screening fails reads: {line}"
            );
        }
        // Marked as cleaned (PS3.15 E.3.2).
        let obj = dicom_object::open_file(first.path()).unwrap();
        assert!(common::method_codes(&obj).contains(&"113102".to_string()));
        let features = obj
            .element(dicom_dictionary_std::tags::RECOGNIZABLE_VISUAL_FEATURES)
            .unwrap()
            .to_str()
            .unwrap();
        assert_eq!(features.trim(), "NO");
    }
    // No identifier head_series.py planted is in any served slice.
    for folder in ["ct-axial-native", "mr-sagittal-native", "mr-axial-rle"] {
        for entry in std::fs::read_dir(view_folder(&m.view, &key, folder)).unwrap() {
            let Ok(bytes) = std::fs::read(entry.unwrap().path()) else {
                continue; // refused by the text screening (see judge_served)
            };
            for planted in [&b"Doe^Jane"[..], b"HEAD-0001", b"19700101"] {
                assert!(
                    !bytes.windows(planted.len()).any(|w| w == planted),
                    "{folder}: {} served",
                    String::from_utf8_lossy(planted)
                );
            }
        }
    }
    // A research tool reads the defaced series as the volume it was: dcm2niix makes one
    // NIfTI of every slice.
    common::require_tool("dcm2niix", "dcm2niix");
    let nifti = tempfile::tempdir().unwrap();
    let converted = Command::new("dcm2niix")
        .arg("-o")
        .arg(nifti.path())
        .arg("-f")
        .arg("mr")
        .arg(view_folder(&m.view, &key, "mr-sagittal-native"))
        .output()
        .unwrap();
    assert!(
        converted.status.success(),
        "dcm2niix: {}",
        String::from_utf8_lossy(&converted.stdout)
    );
    let shape = Command::new("python3")
        .arg("-c")
        .arg("import nibabel, sys; print(*nibabel.load(sys.argv[1]).shape)")
        .arg(nifti.path().join("mr.nii"))
        .output()
        .unwrap();
    let mut dims: Vec<u64> = String::from_utf8_lossy(&shape.stdout)
        .split_whitespace()
        .map(|d| d.parse().unwrap())
        .collect();
    dims.sort_unstable();
    let g = &head("mr-sagittal").volume.geometry;
    let mut want = vec![g.cols as u64, g.rows as u64, g.positions.len() as u64];
    want.sort_unstable();
    assert_eq!(dims, want, "dcm2niix: every slice in one volume");
    // scan counts what the mount shows: the three series defaced, the broken one hidden.
    let report = scan_report(src.path());
    assert_eq!(report["hidden"]["deface-uneven-slices"], 255, "{report}");
    assert_eq!(report["defaced"], report["visible"], "{report}");
    assert!(report["defaced"].as_u64().unwrap() > 600, "{report}");
    // A slice missing: the whole series is hidden.
    let broken = view_folder(&m.view, &key, "ct-axial-missing");
    assert_eq!(
        std::fs::read_dir(&broken).unwrap().count(),
        0,
        "missing-slice series hidden"
    );
    // Export writes what the mount shows, byte for byte.
    let (out, export) = export_of(src.path(), &key);
    let said = String::from_utf8_lossy(&export.stdout).to_string()
        + &String::from_utf8_lossy(&export.stderr);
    assert!(
        said.contains("deface-uneven-slices"),
        "export says why: {said}"
    );
    let mut compared = 0;
    for folder in ["ct-axial-native", "mr-axial-rle"] {
        let shown = view_folder(&m.view, &key, folder);
        let written = view_folder(&out.path().join("x"), &key, folder);
        for entry in std::fs::read_dir(&shown).unwrap() {
            let entry = entry.unwrap();
            let exported = written.join(entry.file_name());
            match std::fs::read(entry.path()) {
                Ok(b) => assert!(
                    b == std::fs::read(&exported).unwrap(),
                    "export equals the mount"
                ),
                // What no read serves (the screening's false positives) is not written.
                Err(_) => assert!(!exported.exists(), "an unreadable slice exported"),
            }
            compared += 1;
        }
    }
    assert!(compared > 400);
    assert!(
        !view_folder(&out.path().join("x"), &key, "ct-axial-missing")
            .read_dir()
            .is_ok_and(|mut d| d.next().is_some()),
        "the broken series is not exported"
    );
}

/// A chest-like CT (no skull, no brain) written as `NAME.json` and `NAME.f32` the way
/// `scripts/head_volume.py` writes heads, so that `head_series.py` can make a series of it
/// that says HEAD in every header.
fn write_chest(dir: &Path, name: &str) {
    let (cols, rows, slices) = (128usize, 96usize, 60usize);
    let mut values = Vec::with_capacity(cols * rows * slices);
    for _ in 0..slices {
        for r in 0..rows {
            for c in 0..cols {
                let (x, y) = ((c as f64 - 64.0) / 60.0, (r as f64 - 48.0) / 40.0);
                let lung = ((x.abs() - 0.45) / 0.3).powi(2) + (y / 0.7).powi(2) < 1.0;
                let v: f32 = match (x * x + y * y < 1.0, lung) {
                    (false, _) => -1000.0,
                    (true, true) => -850.0,
                    (true, false) => 40.0,
                };
                values.extend(v.to_le_bytes());
            }
        }
    }
    let positions: Vec<[f64; 3]> = (0..slices)
        .map(|k| [-192.0, -144.0, -300.0 + 3.0 * k as f64])
        .collect();
    let json = serde_json::json!({
        "cols": cols, "rows": rows, "row_dir": [1.0, 0.0, 0.0], "col_dir": [0.0, 1.0, 0.0],
        "row_spacing": 3.0, "col_spacing": 3.0, "positions": positions, "modality": "CT",
    });
    std::fs::write(dir.join(format!("{name}.json")), json.to_string()).unwrap();
    std::fs::write(dir.join(format!("{name}.f32")), values).unwrap();
}

#[test]
#[cfg_attr(not(deidfs_fuse), ignore = "skipped: no FUSE (see build.rs)")]
fn a_series_whose_headers_say_head_but_whose_pixels_hold_none_fails_its_first_read_and_is_hidden() {
    let volumes = tempfile::tempdir().unwrap();
    write_chest(volumes.path(), "chest");
    let src = series_of(volumes.path(), &["chest:native"]);
    let (_keydir, key) = new_key();
    // scan finds out from the pixels, and says why.
    let report = scan_report(src.path());
    assert_eq!(report["visible"], 0, "{report}");
    assert_eq!(report["hidden"]["deface-no-head"], 60, "{report}");

    let m = mount(src.path(), &key);
    let folder = view_folder(&m.view, &key, "chest-native");
    // Listing reads headers only: the series is shown until a slice is read.
    let files: Vec<PathBuf> = std::fs::read_dir(&folder)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 60);
    let err = std::fs::read(&files[7]).expect_err("no slice of it is served");
    // EIO, or ENOENT when the kernel tries the read again once the file is hidden.
    assert!(
        [Some(libc::EIO), Some(libc::ENOENT)].contains(&err.raw_os_error()),
        "{err}"
    );
    // From then on the whole series is hidden.
    assert_eq!(std::fs::read_dir(&folder).unwrap().count(), 0);
    for f in &files {
        assert!(std::fs::read(f).is_err(), "no slice served");
    }
    let log = std::fs::read_to_string(m._dir.path().join("log")).unwrap();
    assert!(log.contains("deface-no-head"), "the log says why");
}

#[test]
#[cfg_attr(not(deidfs_fuse), ignore = "skipped: no FUSE (see build.rs)")]
fn through_a_mount_an_enhanced_multi_frame_head_volume_loses_its_face_frame_by_frame() {
    let specs = [
        ("mr-axial", "mr-axial-echoes"),
        ("ct-sagittal", "ct-sagittal-enhanced"),
    ];
    let src = series(&["mr-axial:echoes", "ct-sagittal:enhanced"]);
    let (_keydir, key) = new_key();
    let m = mount(src.path(), &key);
    for (name, folder) in specs {
        let shown = view_folder(&m.view, &key, folder);
        let (face, brain_changed, brain) = judge_served(name, &shown);
        eprintln!(
            "{folder} through the mount: facial surface removed {:.1}%, brain voxels changed \
             {brain_changed} of {brain}",
            face * 100.0
        );
        assert!(face >= 0.85, "{folder}: only {:.1}% removed", face * 100.0);
        assert_eq!(brain_changed, 0, "{folder}: brain voxels changed");
        let file = std::fs::read_dir(&shown).unwrap().next().unwrap().unwrap();
        let obj = dicom_object::open_file(file.path()).unwrap();
        assert!(common::method_codes(&obj).contains(&"113102".to_string()));
        // No identifier head_series.py planted, in the shared or the per-frame groups.
        let bytes = std::fs::read(file.path()).unwrap();
        for planted in [&b"Doe^Jane"[..], b"HEAD-0001", b"19700101"] {
            assert!(
                !bytes.windows(planted.len()).any(|w| w == planted),
                "{folder}: {} served",
                String::from_utf8_lossy(planted)
            );
        }
    }
    // scan counts them defaced; export writes what the mount shows.
    let report = scan_report(src.path());
    assert_eq!(report["defaced"], 2, "{report}");
    assert_eq!(report["visible"], 2, "{report}");
    let (out, export) = export_of(src.path(), &key);
    assert!(export.status.success(), "{export:?}");
    for (_, folder) in specs {
        let shown = view_folder(&m.view, &key, folder);
        let written = view_folder(&out.path().join("x"), &key, folder);
        for entry in std::fs::read_dir(&shown).unwrap() {
            let entry = entry.unwrap();
            assert!(
                std::fs::read(entry.path()).unwrap()
                    == std::fs::read(written.join(entry.file_name())).unwrap(),
                "{folder}: export equals the mount"
            );
        }
    }
}
