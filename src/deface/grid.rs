//! The volume at about 2 mm, where the brain is looked for: the mean of each block of voxels,
//! and each voxel's place in patient coordinates. Masks on it are `Vec<bool>` in the same
//! order; morphology (boxes of a radius in millimetres) and connected parts are here too.

use super::{Geometry, Vec3, dot};

/// About the size of a working voxel, in millimetres.
const TARGET_MM: f64 = 2.0;

pub(super) struct Grid {
    pub nx: usize,
    pub ny: usize,
    pub nz: usize,
    /// Spacing between working columns, rows and slices (millimetres, slices along the
    /// normal; a negative slice step is kept as its size).
    pub spacing: [f64; 3],
    row_dir: Vec3,
    col_dir: Vec3,
    /// Patient position of each working slice's first voxel centre.
    origins: Vec<Vec3>,
    pub values: Vec<f32>,
}

impl Grid {
    /// The grid of the volume whose slice `k` (physical values, row after row) `slice`
    /// gives: asked for each slice once, in order, so one slice is held at a time.
    pub fn build<S: AsRef<[f32]>, E>(
        g: &Geometry,
        mut slice: impl FnMut(usize) -> Result<S, E>,
    ) -> Result<Grid, E> {
        let factor = |mm: f64| ((TARGET_MM / mm).round() as usize).max(1);
        let (fx, fy) = (factor(g.col_spacing), factor(g.row_spacing));
        let fz = factor(g.slice_spacing().abs().max(1e-3));
        let (nx, ny, nz) = (g.cols / fx, g.rows / fy, g.positions.len() / fz);
        let mut values = vec![0f32; nx * ny * nz];
        let plane = g.cols * g.rows;
        for z in 0..nz {
            let block = &mut values[z * ny * nx..][..ny * nx];
            for dz in 0..fz {
                let s = slice(z * fz + dz)?;
                let s = s.as_ref();
                if s.len() < plane {
                    // The caller checked the sizes: a short slice adds nothing.
                    continue;
                }
                for y in 0..ny {
                    for x in 0..nx {
                        let mut sum = 0f32;
                        for dy in 0..fy {
                            sum += s[(y * fy + dy) * g.cols + x * fx..][..fx]
                                .iter()
                                .sum::<f32>();
                        }
                        block[y * nx + x] += sum;
                    }
                }
            }
            let n = (fx * fy * fz) as f32;
            block.iter_mut().for_each(|v| *v /= n);
        }
        // A block's centre: half a block in from its first voxel, in each direction.
        let shift = |k: usize| {
            let mut p = g.positions[k * fz];
            let last = g.positions[k * fz + fz - 1];
            for a in 0..3 {
                p[a] = (p[a] + last[a]) / 2.0
                    + g.row_dir[a] * g.col_spacing * (fx - 1) as f64 / 2.0
                    + g.col_dir[a] * g.row_spacing * (fy - 1) as f64 / 2.0;
            }
            p
        };
        Ok(Grid {
            nx,
            ny,
            nz,
            spacing: [
                g.col_spacing * fx as f64,
                g.row_spacing * fy as f64,
                g.slice_spacing().abs() * fz as f64,
            ],
            row_dir: g.row_dir,
            col_dir: g.col_dir,
            origins: (0..nz).map(shift).collect(),
            values,
        })
    }

    pub fn len(&self) -> usize {
        self.nx * self.ny * self.nz
    }

    pub fn coords(&self, i: usize) -> (usize, usize, usize) {
        (
            i % self.nx,
            (i / self.nx) % self.ny,
            i / (self.nx * self.ny),
        )
    }

    /// The patient position of voxel `i`'s centre.
    pub fn patient(&self, i: usize) -> Vec3 {
        let (x, y, z) = self.coords(i);
        let o = self.origins[z];
        let (dx, dy) = (self.spacing[0] * x as f64, self.spacing[1] * y as f64);
        [0, 1, 2].map(|a| o[a] + self.row_dir[a] * dx + self.col_dir[a] * dy)
    }

    /// Of one voxel, in cubic centimetres.
    pub fn voxel_cc(&self) -> f64 {
        self.spacing.iter().product::<f64>() / 1000.0
    }

    /// Radii in voxels along x, y, z for `mm`.
    fn radii(&self, mm: f64) -> [usize; 3] {
        self.spacing.map(|s| (mm / s).round().max(0.0) as usize)
    }

    /// Voxels whose whole box of half-size `mm` is set (outside the grid counts as unset).
    pub fn erode(&self, mask: &[bool], mm: f64) -> Vec<bool> {
        self.boxed(mask, mm, true)
    }

    /// Voxels within a box of half-size `mm` of a set one.
    pub fn dilate(&self, mask: &[bool], mm: f64) -> Vec<bool> {
        self.boxed(mask, mm, false)
    }

    fn boxed(&self, mask: &[bool], mm: f64, all: bool) -> Vec<bool> {
        let mut m = mask.to_vec();
        for (axis, r) in self.radii(mm).into_iter().enumerate() {
            m = self.along(&m, axis, r, all);
        }
        m
    }

    /// One pass of a box filter along `axis`: every voxel within `r` set (`all`) or any.
    fn along(&self, m: &[bool], axis: usize, r: usize, all: bool) -> Vec<bool> {
        let dims = [self.nx, self.ny, self.nz];
        let stride = [1, self.nx, self.nx * self.ny][axis];
        let n = dims[axis];
        let mut out = vec![false; m.len()];
        let mut prefix = vec![0u32; n + 1];
        for start in 0..m.len() {
            // Each line once: from the voxels whose coordinate on `axis` is 0.
            if (start / stride) % n != 0 {
                continue;
            }
            for k in 0..n {
                prefix[k + 1] = prefix[k] + m[start + k * stride] as u32;
            }
            for k in 0..n {
                let (lo, hi) = (k.saturating_sub(r), (k + r + 1).min(n));
                let set = prefix[hi] - prefix[lo];
                out[start + k * stride] = if all {
                    // Outside the grid is unset.
                    k >= r && k + r < n && set as usize == hi - lo
                } else {
                    set > 0
                };
            }
        }
        out
    }

    /// Connected parts of `mask` (faces touching): a label per voxel (0: unset) and the
    /// size of each label (index 0 unused).
    pub fn parts(&self, mask: &[bool]) -> (Vec<u32>, Vec<usize>) {
        let mut labels = vec![0u32; mask.len()];
        let mut sizes = vec![0usize];
        let mut stack = Vec::new();
        for seed in 0..mask.len() {
            if !mask[seed] || labels[seed] != 0 {
                continue;
            }
            let label = sizes.len() as u32;
            sizes.push(0);
            labels[seed] = label;
            stack.push(seed);
            while let Some(i) = stack.pop() {
                sizes[label as usize] += 1;
                let (x, y, z) = self.coords(i);
                let plane = self.nx * self.ny;
                let mut visit = |j: usize| {
                    if mask[j] && labels[j] == 0 {
                        labels[j] = label;
                        stack.push(j);
                    }
                };
                if x > 0 {
                    visit(i - 1);
                }
                if x + 1 < self.nx {
                    visit(i + 1);
                }
                if y > 0 {
                    visit(i - self.nx);
                }
                if y + 1 < self.ny {
                    visit(i + self.nx);
                }
                if z > 0 {
                    visit(i - plane);
                }
                if z + 1 < self.nz {
                    visit(i + plane);
                }
            }
        }
        (labels, sizes)
    }

    /// The largest connected part of `mask`.
    pub fn largest(&self, mask: &[bool]) -> Vec<bool> {
        let (labels, sizes) = self.parts(mask);
        let Some(best) = (1..sizes.len()).max_by_key(|&l| sizes[l]) else {
            return vec![false; mask.len()];
        };
        labels.iter().map(|&l| l == best as u32).collect()
    }

    /// The distance of voxel `i`'s centre from `p`, squared.
    pub fn distance2(&self, i: usize, p: Vec3) -> f64 {
        let q = self.patient(i);
        let d = [q[0] - p[0], q[1] - p[1], q[2] - p[2]];
        dot(d, d)
    }
}

/// The threshold that best splits `values` in two (Otsu), over 256 bins between the
/// smallest value and the 99.5th percentile.
pub(super) fn otsu(values: &[f32]) -> f32 {
    let mut sorted: Vec<f32> = values.iter().copied().filter(|v| v.is_finite()).collect();
    if sorted.is_empty() {
        return 0.0;
    }
    sorted.sort_by(f32::total_cmp);
    let lo = sorted[0];
    let hi = sorted[(sorted.len() - 1) * 995 / 1000];
    if hi <= lo {
        return lo;
    }
    let bin = |v: f32| (((v - lo) / (hi - lo) * 255.0) as usize).min(255);
    let mut hist = [0f64; 256];
    for &v in &sorted {
        hist[bin(v)] += 1.0;
    }
    let total: f64 = hist.iter().sum();
    let sum: f64 = hist.iter().enumerate().map(|(i, h)| i as f64 * h).sum();
    let (mut w0, mut sum0, mut best, mut at) = (0.0, 0.0, -1.0, 0);
    for (i, h) in hist.iter().enumerate() {
        w0 += h;
        sum0 += i as f64 * h;
        let w1 = total - w0;
        if w0 == 0.0 || w1 == 0.0 {
            continue;
        }
        let (m0, m1) = (sum0 / w0, (sum - sum0) / w1);
        let between = w0 * w1 * (m0 - m1) * (m0 - m1);
        if between > best {
            best = between;
            at = i;
        }
    }
    lo + (at as f32 + 1.0) / 256.0 * (hi - lo)
}
