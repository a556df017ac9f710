//! Removing the face from a head volume (PS3.15 E.3.2, Clean Recognizable Visual Features).
//!
//! The guarantee: given the slices of one series (one orientation, evenly spaced along its
//! normal), [`cut`] either finds the brain and returns a plane below and in front of it, or
//! says why the volume cannot be defaced ([`Undefaceable`]). The plane never passes through
//! the brain it found: it is a supporting line of the brain's side profile (the lower edge of
//! the convex hull of its projection on the sagittal plane, starting at its most anterior
//! point), moved a margin further from it: the quickshear construction (Schimke and Hale,
//! 2011), here in patient coordinates, whatever plane the slices were acquired in. Everything
//! in front of and below the plane (eyes, nose, mouth, chin; the neck behind) is then set to
//! air, never blurred: [`Cut::runs`] gives, for one slice, the run of each row to fill.
//!
//! The slices' headers make the volume (`series`: one series, orientation and size, evenly
//! spaced); their pixels become physical values, and air stored values (`values`). The work
//! is done on a copy of the volume at about 2 mm (`grid`); the brain is found by intensity and
//! morphology (`brain`: the tissue inside the skull, cut off from the scalp and the face by an
//! erosion); the plane and its check are in `shear`. Pure functions of the volume: same
//! voxels, same plane, on any machine.

mod brain;
pub mod face;
mod grid;
pub mod series;
mod shear;
pub mod values;

pub use series::{SliceFacts, volume_of};
pub use shear::Cut;

/// A point or direction in patient coordinates (LPS, millimetres).
pub type Vec3 = [f64; 3];

/// Fewer slices than this cannot render a face worth removing, nor be checked: refused.
pub const MIN_SLICES: usize = 20;
/// Nor a volume thinner than this along its slices (millimetres).
pub const MIN_EXTENT_MM: f64 = 60.0;
/// Pixels or slices further apart than this are no head image (millimetres).
pub const MAX_SPACING_MM: f64 = 20.0;

/// Where the slices of one series are.
#[derive(Debug, Clone, PartialEq)]
pub struct Geometry {
    pub cols: usize,
    pub rows: usize,
    /// Image Orientation (Patient), first triplet: along a row (column index increasing).
    pub row_dir: Vec3,
    /// Second triplet: down a column (row index increasing).
    pub col_dir: Vec3,
    /// Pixel Spacing: between rows, then between columns (millimetres).
    pub row_spacing: f64,
    pub col_spacing: f64,
    /// Image Position (Patient) of each slice, in the order of the volume's slices.
    pub positions: Vec<Vec3>,
}

/// What the values are: CT in Hounsfield units, MR in the scanner's units (any contrast).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Modality {
    Ct,
    Mr,
}

/// One series' voxels in physical units (Rescale Slope and Intercept applied), slice after
/// slice, each row after row.
#[derive(Debug, Clone)]
pub struct Volume {
    pub geometry: Geometry,
    pub modality: Modality,
    pub values: Vec<f32>,
}

/// Why a volume cannot be defaced (the series is then hidden). The text names the problem
/// and holds no value from the images.
#[derive(Debug, Clone, PartialEq)]
pub enum Undefaceable {
    /// Fewer slices or a thinner volume than a face needs.
    TooSmall,
    /// The orientation is not two perpendicular unit directions, or the values do not fit it.
    BadGeometry,
    /// The slices are not evenly spaced along their normal (a slice missing, or two series).
    UnevenSpacing,
    /// No brain of a plausible size where a head's brain is.
    NoBrain,
    /// The plane would leave most of the tissue in front of and below the brain.
    FaceNotRemoved,
}

impl Undefaceable {
    pub fn reason(&self) -> &'static str {
        match self {
            Undefaceable::TooSmall => "deface: volume too small to deface",
            Undefaceable::BadGeometry => "deface: slice geometry inconsistent",
            Undefaceable::UnevenSpacing => "deface: slices missing or unevenly spaced",
            Undefaceable::NoBrain => "deface: no head found",
            Undefaceable::FaceNotRemoved => "deface: face not removable by a plane",
        }
    }
}

impl Undefaceable {
    /// The short reason a view counts and logs for a series it hides.
    pub fn code(&self) -> &'static str {
        match self {
            Undefaceable::TooSmall => "deface-too-small",
            Undefaceable::BadGeometry => "deface-geometry",
            Undefaceable::UnevenSpacing => "deface-uneven-slices",
            Undefaceable::NoBrain => "deface-no-head",
            Undefaceable::FaceNotRemoved => "deface-face-remains",
        }
    }
}

impl std::error::Error for Undefaceable {}

impl std::fmt::Display for Undefaceable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.reason())
    }
}

/// The plane that removes the face of `volume`, or why there is none.
pub fn cut(volume: &Volume) -> Result<Cut, Undefaceable> {
    volume.geometry.check(volume.values.len())?;
    let plane = volume.geometry.cols * volume.geometry.rows;
    let slice = |k: usize| Ok::<_, std::convert::Infallible>(&volume.values[k * plane..][..plane]);
    match cut_slices(&volume.geometry, volume.modality, slice) {
        Ok(found) => found,
        Err(never) => match never {},
    }
}

/// The plane that removes the face of the volume whose slice `k` (physical values, row
/// after row, `cols * rows` of them) `slice` gives, or why there is none. Each slice is asked
/// for once, in order, and only one is held at a time; an error of `slice` (the pixels could
/// not be read) is returned as it is.
pub fn cut_slices<S: AsRef<[f32]>, E>(
    geometry: &Geometry,
    modality: Modality,
    slice: impl FnMut(usize) -> Result<S, E>,
) -> Result<Result<Cut, Undefaceable>, E> {
    if let Err(why) = geometry.check(geometry.cols * geometry.rows * geometry.positions.len()) {
        return Ok(Err(why));
    }
    let grid = grid::Grid::build(geometry, slice)?;
    Ok(brain::find(&grid, modality).and_then(|(brain, head)| shear::fit(&grid, &brain, &head)))
}

/// The dot product.
pub fn dot(a: Vec3, b: Vec3) -> f64 {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}

pub(crate) fn cross(a: Vec3, b: Vec3) -> Vec3 {
    [
        a[1] * b[2] - a[2] * b[1],
        a[2] * b[0] - a[0] * b[2],
        a[0] * b[1] - a[1] * b[0],
    ]
}

impl Geometry {
    /// The slices' normal (row direction x column direction).
    pub fn normal(&self) -> Vec3 {
        cross(self.row_dir, self.col_dir)
    }

    /// The distance between slices along their normal (checked even by `check`).
    pub fn slice_spacing(&self) -> f64 {
        let n = self.normal();
        let at = |k: usize| dot(self.positions[k], n);
        match self.positions.len() {
            0 | 1 => 0.0,
            len => (at(len - 1) - at(0)) / (len - 1) as f64,
        }
    }

    /// Refuses what the method cannot deface safely. Slices shifted within their plane (a
    /// gantry tilt) are fine: each voxel is placed by its own slice's position.
    fn check(&self, values: usize) -> Result<(), Undefaceable> {
        let unit = |v: Vec3| (dot(v, v).sqrt() - 1.0).abs() < 1e-3;
        let fits = self.cols >= 16
            && self.rows >= 16
            && values == self.cols * self.rows * self.positions.len()
            && unit(self.row_dir)
            && unit(self.col_dir)
            && dot(self.row_dir, self.col_dir).abs() < 1e-3
            && (0.01..=MAX_SPACING_MM).contains(&self.row_spacing)
            && (0.01..=MAX_SPACING_MM).contains(&self.col_spacing);
        if !fits {
            return Err(Undefaceable::BadGeometry);
        }
        let spacing = self.slice_spacing();
        let extent = spacing.abs() * (self.positions.len().max(1) - 1) as f64;
        if self.positions.len() < MIN_SLICES || extent < MIN_EXTENT_MM {
            return Err(Undefaceable::TooSmall);
        }
        if spacing.is_nan() || spacing.abs() > MAX_SPACING_MM {
            return Err(Undefaceable::BadGeometry);
        }
        let n = self.normal();
        let even = self.positions.windows(2).all(|w| {
            let step = dot(w[1], n) - dot(w[0], n);
            (step - spacing).abs() <= 0.1 * spacing.abs().max(0.1)
        });
        if !even {
            return Err(Undefaceable::UnevenSpacing);
        }
        Ok(())
    }
}
