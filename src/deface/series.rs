//! From the slices' headers to one volume: every slice of the same series, frame of
//! reference, orientation and size, in order along the normal. A series that mixes others in
//! (a localizer, a second orientation, another size) is not one volume and is refused whole:
//! its slices cannot all be defaced by one plane, and none is served unless all are.

use super::{Geometry, Undefaceable, Vec3, cross, dot};

/// What the view knows of one slice from its header.
#[derive(Debug, Clone, PartialEq)]
pub struct SliceFacts {
    pub series_uid: String,
    pub frame_of_reference: String,
    /// Image Orientation (Patient): along a row, then down a column.
    pub orientation: [f64; 6],
    /// Image Position (Patient).
    pub position: Vec3,
    pub rows: usize,
    pub cols: usize,
    /// Pixel Spacing: between rows, between columns.
    pub spacing: [f64; 2],
}

/// Orientations this close (cosines) are the same.
const SAME_ORIENTATION: f64 = 1e-3;
/// Spacings this close (millimetres) are the same.
const SAME_SPACING: f64 = 1e-3;

/// The volume the slices make: its geometry and, for each of its slices in order, the index
/// of the slice in `slices`. `Undefaceable::BadGeometry` when they are not all of one
/// series, frame of reference, orientation and size; what `Geometry` refuses otherwise (too
/// few, unevenly spaced, two at one position).
pub fn volume_of(slices: &[SliceFacts]) -> Result<(Geometry, Vec<usize>), Undefaceable> {
    let first = slices.first().ok_or(Undefaceable::TooSmall)?;
    let same = |s: &SliceFacts| {
        s.series_uid == first.series_uid
            && s.frame_of_reference == first.frame_of_reference
            && (s.rows, s.cols) == (first.rows, first.cols)
            && (0..6).all(|i| (s.orientation[i] - first.orientation[i]).abs() < SAME_ORIENTATION)
            && (0..2).all(|i| (s.spacing[i] - first.spacing[i]).abs() < SAME_SPACING)
    };
    if !slices.iter().all(same) {
        return Err(Undefaceable::BadGeometry);
    }
    let o = first.orientation;
    let (row_dir, col_dir) = ([o[0], o[1], o[2]], [o[3], o[4], o[5]]);
    let normal = cross(row_dir, col_dir);
    let mut order: Vec<usize> = (0..slices.len()).collect();
    order.sort_by(|&a, &b| {
        dot(slices[a].position, normal).total_cmp(&dot(slices[b].position, normal))
    });
    let geometry = Geometry {
        cols: first.cols,
        rows: first.rows,
        row_dir,
        col_dir,
        row_spacing: first.spacing[0],
        col_spacing: first.spacing[1],
        positions: order.iter().map(|&i| slices[i].position).collect(),
    };
    geometry.check(geometry.cols * geometry.rows * geometry.positions.len())?;
    Ok((geometry, order))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn axial(n: usize, step: f64) -> Vec<SliceFacts> {
        (0..n)
            .map(|k| SliceFacts {
                series_uid: "1.2.3".into(),
                frame_of_reference: "1.2.4".into(),
                orientation: [1.0, 0.0, 0.0, 0.0, 1.0, 0.0],
                position: [-120.0, -120.0, 10.0 + step * k as f64],
                rows: 64,
                cols: 64,
                spacing: [0.9, 0.9],
            })
            .collect()
    }

    #[test]
    fn slices_in_any_order_make_one_volume_ordered_along_the_normal() {
        let mut slices = axial(40, 2.5);
        slices.reverse();
        slices.swap(3, 17);
        let (g, order) = volume_of(&slices).unwrap();
        assert_eq!(order.len(), 40);
        let z: Vec<f64> = g.positions.iter().map(|p| p[2]).collect();
        assert!(z.windows(2).all(|w| w[1] > w[0]), "ordered: {z:?}");
        assert_eq!(slices[order[0]].position[2], 10.0);
        assert!((g.slice_spacing() - 2.5).abs() < 1e-9);
    }

    #[test]
    fn a_localizer_or_another_size_in_the_series_is_refused() {
        let mut slices = axial(40, 2.5);
        slices[5].orientation = [0.0, 1.0, 0.0, 0.0, 0.0, -1.0];
        assert_eq!(volume_of(&slices), Err(Undefaceable::BadGeometry));
        let mut slices = axial(40, 2.5);
        slices[5].rows = 32;
        assert_eq!(volume_of(&slices), Err(Undefaceable::BadGeometry));
    }

    #[test]
    fn a_missing_slice_or_two_at_one_place_is_refused() {
        let mut slices = axial(40, 2.5);
        slices.remove(20);
        assert_eq!(volume_of(&slices), Err(Undefaceable::UnevenSpacing));
        let mut slices = axial(40, 2.5);
        slices[21].position = slices[20].position;
        assert_eq!(volume_of(&slices), Err(Undefaceable::UnevenSpacing));
    }

    #[test]
    fn a_gantry_tilt_shifts_slices_in_their_plane_and_is_one_volume() {
        let mut slices = axial(40, 2.5);
        for (k, s) in slices.iter_mut().enumerate() {
            s.position[1] += 0.4 * k as f64;
        }
        assert!(volume_of(&slices).is_ok());
    }
}
