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
