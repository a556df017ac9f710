//! The plane (after quickshear): the brain's voxels seen from the side (projected on the
//! sagittal plane: anterior-posterior, inferior-superior, in millimetres), the lower edge of
//! their convex hull under the frontal lobes, and that edge's line, moved `MARGIN_MM` away
//! from the brain. Every brain voxel is on the far side of a hull edge's line, so the plane
//! passes through none; it runs below the frontal lobes and rises in front of them, so what
//! is in front of and below it is the face. Checked: most of the front of the head below the
//! brain's centre is removed.

use super::grid::Grid;
use super::{Geometry, Undefaceable, Vec3, dot};
use std::collections::HashSet;

/// How far the plane is moved from the brain's hull (millimetres): the mask is found at
/// 2 mm, and the cortex's outer edge is blurred in the images.
pub const MARGIN_MM: f64 = 10.0;
/// The face, for the check: the head's front this deep (millimetres)...
const FACE_DEPTH_MM: f64 = 25.0;
/// ...this far below the brain's centre and lower...
const FACE_BELOW_CENTRE_MM: f64 = 40.0;
/// ...of which the plane must remove at least this share.
const FACE_REMOVED_AT_LEAST: f64 = 0.8;
/// Below this much tissue there (cubic centimetres) the volume holds no face to check.
const FACE_CC_AT_LEAST: f64 = 20.0;

/// Everything on the face side of a plane: points `p` with `normal . p < offset`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Cut {
    pub normal: Vec3,
    pub offset: f64,
}

impl Cut {
    /// Whether the point `p` (patient coordinates) is removed.
    pub fn removes(&self, p: Vec3) -> bool {
        dot(self.normal, p) < self.offset
    }

    /// For slice `k` of `g`: each row's run of pixels to set to air, as (row, first column,
    /// end column); rows with nothing to remove are left out. The face side of a plane meets
    /// a row in one run.
    pub fn runs(&self, g: &Geometry, k: usize) -> Vec<(u32, u32, u32)> {
        let n = self.normal;
        let (b, step) = (
            g.col_spacing * dot(n, g.row_dir),
            g.row_spacing * dot(n, g.col_dir),
        );
        let a0 = dot(n, g.positions[k]) - self.offset;
        let cols = g.cols as f64;
        let mut out = Vec::new();
        for j in 0..g.rows {
            // Removed: a + b i < 0.
            let a = a0 + step * j as f64;
            let (start, end) = if b == 0.0 {
                if a < 0.0 { (0.0, cols) } else { (0.0, 0.0) }
            } else if b > 0.0 {
                (0.0, (-a / b).ceil().clamp(0.0, cols))
            } else {
                (((-a / b).floor() + 1.0).clamp(0.0, cols), cols)
            };
            if end > start {
                out.push((j as u32, start as u32, end as u32));
            }
        }
        out
    }
}

pub(super) fn fit(g: &Grid, brain: &[bool], head: &[bool]) -> Result<Cut, Undefaceable> {
    // The side view: posterior (y) and superior (z), on a 1 mm raster.
    let mut seen = HashSet::new();
    let mut centre = [0.0; 2];
    let mut count = 0.0;
    for i in (0..g.len()).filter(|&i| brain[i]) {
        let p = g.patient(i);
        seen.insert((p[1].round() as i64, p[2].round() as i64));
        centre[0] += p[1];
        centre[1] += p[2];
        count += 1.0;
    }
    let centre = [centre[0] / count, centre[1] / count];
    let mut pts: Vec<(i64, i64)> = seen.into_iter().collect();
    pts.sort_unstable();
    // The brain's base: from its front (the lower hull's first point) to its lowest point.
    // The cut runs parallel to it, touching the hull where the hull is furthest below it (the
    // temporal poles, or the frontal lobes' floor): on a raster the hull's edges at the
    // rounded front are short and steep, and would cut the forehead; parallel to the base,
    // the cut meets the face at about the brow whatever the head's pitch.
    let hull = lower_hull(&pts);
    // (Of points as low, the furthest back: a flat floor is the base, not its front.)
    let lowest = hull
        .iter()
        .enumerate()
        .min_by_key(|(_, p)| (p.1, std::cmp::Reverse(p.0)))
        .map(|(i, _)| i);
    let Some(lowest) = lowest.filter(|&i| i > 0) else {
        return Err(Undefaceable::NoBrain);
    };
    let base = (hull[lowest].0 - hull[0].0, hull[lowest].1 - hull[0].1);
    // Furthest below the base: the smallest cross product with it.
    let below = |p: &(i64, i64)| base.0 * (p.1 - hull[0].1) - base.1 * (p.0 - hull[0].0);
    let touch = hull[..=lowest]
        .iter()
        .min_by_key(|p| (below(p), p.0))
        .copied();
    let Some((ty, tz)) = touch else {
        return Err(Undefaceable::NoBrain);
    };
    let (y0, z0) = (ty as f64, tz as f64);
    let (by, bz) = (base.0 as f64, base.1 as f64);
    let len = by.hypot(bz);
    let mut n = [-bz / len, by / len];
    if n[0] * (centre[0] - y0) + n[1] * (centre[1] - z0) < 0.0 {
        n = [-n[0], -n[1]];
    }
    // The face side must be below: a plane steeper than 60 degrees is no face cut.
    if n[1] < 0.5 {
        return Err(Undefaceable::FaceNotRemoved);
    }
    let cut = Cut {
        normal: [0.0, n[0], n[1]],
        offset: n[0] * y0 + n[1] * z0 - MARGIN_MM,
    };
    // The face, found from the head alone (a brain mask that strayed into the face would
    // move anything found from it): the head's front 25 mm, from 40 mm below the brain's
    // centre down. Most of what is there must go.
    let front = (0..g.len())
        .filter(|&i| head[i])
        .map(|i| g.patient(i)[1])
        .fold(f64::INFINITY, f64::min);
    let (mut face, mut removed) = (0usize, 0usize);
    for i in (0..g.len()).filter(|&i| head[i]) {
        let p = g.patient(i);
        if p[1] < front + FACE_DEPTH_MM && p[2] < centre[1] - FACE_BELOW_CENTRE_MM {
            face += 1;
            removed += cut.removes(p) as usize;
        }
    }
    let enough = face as f64 * g.voxel_cc() < FACE_CC_AT_LEAST
        || removed as f64 >= FACE_REMOVED_AT_LEAST * face as f64;
    if !enough {
        return Err(Undefaceable::FaceNotRemoved);
    }
    Ok(cut)
}

/// The lower hull of points sorted by (y, z), from the smallest y (Andrew's monotone chain).
fn lower_hull(pts: &[(i64, i64)]) -> Vec<(i64, i64)> {
    let cross = |o: (i64, i64), a: (i64, i64), b: (i64, i64)| {
        (a.0 - o.0) * (b.1 - o.1) - (a.1 - o.1) * (b.0 - o.0)
    };
    let mut hull: Vec<(i64, i64)> = Vec::new();
    for &p in pts {
        while hull.len() >= 2 && cross(hull[hull.len() - 2], hull[hull.len() - 1], p) <= 0 {
            hull.pop();
        }
        hull.push(p);
    }
    hull
}
