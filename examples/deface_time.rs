//! Time to find the face plane of a head volume the size of a clinical head CT (512 x 512 x
//! 200 slices by default), made from `scripts/head_volume.py`'s pseudo-CT resampled (nearest
//! voxel) to that size: a benchmark instrument (`scripts/bench-deface.sh`).
//!
//! cargo run --release --example deface_time -- HEADS_DIR [COLS ROWS SLICES [WRITE_DIR]]
//!
//! With WRITE_DIR, the resampled volume is also written there as `ct-clinical.json` and
//! `ct-clinical.f32` (the layout of `scripts/head_volume.py`), for `scripts/head_series.py`.

use deidfs::deface::{self, Geometry, Modality, Volume};
use std::time::Instant;

fn main() -> Result<(), String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let dir = std::path::Path::new(args.first().ok_or("usage: deface_time HEADS_DIR")?);
    let size = |i: usize, d: usize| args.get(i).and_then(|v| v.parse().ok()).unwrap_or(d);
    let (cols, rows, slices) = (size(1, 512), size(2, 512), size(3, 200));
    let g: serde_json::Value = serde_json::from_slice(
        &std::fs::read(dir.join("ct-axial.json")).map_err(|e| e.to_string())?,
    )
    .map_err(|e| e.to_string())?;
    let num = |v: &serde_json::Value| v.as_f64().unwrap_or(0.0);
    let v3 = |v: &serde_json::Value| [num(&v[0]), num(&v[1]), num(&v[2])];
    let (c0, r0) = (
        g["cols"].as_u64().unwrap_or(0) as usize,
        g["rows"].as_u64().unwrap_or(0) as usize,
    );
    let positions: Vec<[f64; 3]> = g["positions"]
        .as_array()
        .ok_or("positions")?
        .iter()
        .map(v3)
        .collect();
    let values: Vec<f32> = std::fs::read(dir.join("ct-axial.f32"))
        .map_err(|e| e.to_string())?
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    // The same head, resampled: the field of view kept, the voxels smaller.
    let (fx, fy, fz) = (
        c0 as f64 / cols as f64,
        r0 as f64 / rows as f64,
        positions.len() as f64 / slices as f64,
    );
    let mut big = vec![0f32; cols * rows * slices];
    for k in 0..slices {
        let k0 = ((k as f64 * fz) as usize).min(positions.len() - 1);
        for r in 0..rows {
            let r1 = ((r as f64 * fy) as usize).min(r0 - 1);
            for c in 0..cols {
                let c1 = ((c as f64 * fx) as usize).min(c0 - 1);
                big[(k * rows + r) * cols + c] = values[(k0 * r0 + r1) * c0 + c1];
            }
        }
    }
    let step = {
        let (a, b) = (positions[0], positions[positions.len() - 1]);
        [0, 1, 2].map(|i| (b[i] - a[i]) / (slices - 1) as f64)
    };
    let volume = Volume {
        geometry: Geometry {
            cols,
            rows,
            row_dir: v3(&g["row_dir"]),
            col_dir: v3(&g["col_dir"]),
            row_spacing: num(&g["row_spacing"]) * fy,
            col_spacing: num(&g["col_spacing"]) * fx,
            positions: (0..slices)
                .map(|k| [0, 1, 2].map(|i| positions[0][i] + step[i] * k as f64))
                .collect(),
        },
        modality: Modality::Ct,
        values: big,
    };
    if let Some(out) = args.get(4) {
        let out = std::path::Path::new(out);
        let json = serde_json::json!({
            "cols": cols, "rows": rows,
            "row_dir": volume.geometry.row_dir, "col_dir": volume.geometry.col_dir,
            "row_spacing": volume.geometry.row_spacing,
            "col_spacing": volume.geometry.col_spacing,
            "positions": volume.geometry.positions, "modality": "CT",
        });
        std::fs::write(out.join("ct-clinical.json"), json.to_string())
            .map_err(|e| e.to_string())?;
        let bytes: Vec<u8> = volume.values.iter().flat_map(|v| v.to_le_bytes()).collect();
        std::fs::write(out.join("ct-clinical.f32"), bytes).map_err(|e| e.to_string())?;
    }
    let t = Instant::now();
    let cut = deface::cut(&volume).map_err(|e| e.to_string())?;
    let found = t.elapsed();
    let t = Instant::now();
    let runs: usize = (0..slices)
        .map(|k| cut.runs(&volume.geometry, k).len())
        .sum();
    let per_slice = t.elapsed() / slices as u32;
    println!(
        "{cols}x{rows}x{slices}: plane found in {found:.2?} ({:.0} MB of values in), a slice's runs in {per_slice:.2?} ({runs} runs in all)",
        (cols * rows * slices * 4) as f64 / 1e6
    );
    Ok(())
}
