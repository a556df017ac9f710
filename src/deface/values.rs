//! Between a slice's native pixel bytes and what the method needs: physical values (stored
//! values through Rescale Slope and Intercept) to find the plane, and air in stored units to
//! fill the face side with. Only single-sample greyscale images are volumes of a head (CT, MR):
//! anything else is refused by returning `None`.

use super::Modality;
use crate::pixels::geometry::{Geometry, Photometric};

/// Rescale Slope and Intercept (1 and 0 when absent).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rescale {
    pub slope: f64,
    pub intercept: f64,
}

impl Default for Rescale {
    fn default() -> Self {
        Rescale {
            slope: 1.0,
            intercept: 0.0,
        }
    }
}

/// Whether a frame of `g` can be a slice of a volume here (single-sample greyscale, 8, 16 or
/// 32 bits).
pub fn volume_pixels(g: &Geometry) -> bool {
    greyscale(g)
}

fn greyscale(g: &Geometry) -> bool {
    g.samples == 1
        && matches!(
            g.photometric,
            Photometric::Monochrome1 | Photometric::Monochrome2
        )
        && matches!(g.bits_allocated, 8 | 16 | 32)
        && g.bits_stored >= 1
        && g.bits_stored <= g.bits_allocated
}

/// The stored values of one frame's bytes (Bits Stored taken, sign extended when signed).
fn stored(frame: &[u8], g: &Geometry) -> Option<Vec<i64>> {
    if !greyscale(g) {
        return None;
    }
    let bytes = usize::from(g.bits_allocated / 8);
    let count = g.rows as usize * g.cols as usize;
    if frame.len() < count * bytes {
        return None;
    }
    let bits = u32::from(g.bits_stored);
    Some(
        frame
            .chunks_exact(bytes)
            .take(count)
            .map(|b| {
                let mut raw = 0u64;
                for (k, &byte) in b.iter().enumerate() {
                    let shift = if g.big_endian { bytes - 1 - k } else { k };
                    raw |= u64::from(byte) << (8 * shift);
                }
                let value = raw & ((1u64 << bits) - 1);
                if g.signed && value >> (bits - 1) & 1 == 1 {
                    value as i64 - (1i64 << bits)
                } else {
                    value as i64
                }
            })
            .collect(),
    )
}

/// One frame's physical values, row after row; `None` unless single-sample greyscale.
pub fn physical(frame: &[u8], g: &Geometry, r: Rescale) -> Option<Vec<f32>> {
    Some(
        stored(frame, g)?
            .into_iter()
            .map(|v| (v as f64 * r.slope + r.intercept) as f32)
            .collect(),
    )
}

/// Air in stored units: -1000 HU for CT, 0 for MR, clamped to what Bits Stored can hold.
pub fn air(g: &Geometry, r: Rescale, modality: Modality) -> i64 {
    let physical = match modality {
        Modality::Ct => -1000.0,
        Modality::Mr => 0.0,
    };
    let slope = if r.slope == 0.0 { 1.0 } else { r.slope };
    let bits = u32::from(g.bits_stored.clamp(1, 32));
    let (lo, hi) = if g.signed {
        (-(1i64 << (bits - 1)), (1i64 << (bits - 1)) - 1)
    } else {
        (0, (1i64 << bits) - 1)
    };
    (((physical - r.intercept) / slope).round() as i64).clamp(lo, hi)
}

/// Sets the pixels of `runs` (row, first column, end column) of one frame to `value`: over
/// the whole of Bits Allocated, in two's complement when signed (a reader that ignores Bits
/// Stored reads the same value). Nothing is done unless single-sample greyscale.
pub fn fill(frame: &mut [u8], g: &Geometry, runs: &[(u32, u32, u32)], value: i64) {
    fill_at(frame, 0, g, runs, value);
}

/// [`fill`] for the part of a frame that starts `within` bytes into it: `part` holds the
/// frame's bytes `within..within + part.len()` (a read of any range gets the bytes the
/// whole frame filled would have there).
pub fn fill_at(part: &mut [u8], within: u64, g: &Geometry, runs: &[(u32, u32, u32)], value: i64) {
    if !greyscale(g) {
        return;
    }
    let bytes = usize::from(g.bits_allocated / 8);
    let width = if g.signed {
        g.bits_allocated
    } else {
        g.bits_stored
    };
    let raw = (value as u64) & (u64::MAX >> (64 - u32::from(width)));
    let mut sample = [0u8; 4];
    for (k, s) in sample.iter_mut().enumerate().take(bytes) {
        let shift = if g.big_endian { bytes - 1 - k } else { k };
        *s = (raw >> (8 * shift)) as u8;
    }
    let (lo, hi) = (within, within + part.len() as u64);
    for &(row, start, end) in runs {
        let at = (u64::from(row) * u64::from(g.cols) + u64::from(start)) * bytes as u64;
        let to = at + u64::from(end - start) * bytes as u64;
        for p in at.max(lo)..to.min(hi) {
            part[(p - lo) as usize] = sample[((p - at) % bytes as u64) as usize];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ct(bits_stored: u16, signed: bool) -> Geometry {
        Geometry {
            rows: 2,
            cols: 3,
            samples: 1,
            bits_allocated: 16,
            bits_stored,
            signed,
            planar: false,
            frames: 1,
            photometric: Photometric::Monochrome2,
            big_endian: false,
        }
    }

    #[test]
    fn stored_values_go_through_the_rescale_with_the_sign_of_bits_stored() {
        // 12 bits stored, signed: 0x0FFF is -1; bits above 12 are not the value's.
        let g = ct(12, true);
        let frame: Vec<u8> = [0x0FFFu16, 0xF800, 24, 0, 1, 2]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        let r = Rescale {
            slope: 1.0,
            intercept: -1024.0,
        };
        let v = physical(&frame, &g, r).unwrap();
        assert_eq!(
            v,
            vec![-1025.0, -3072.0, -1000.0, -1024.0, -1023.0, -1022.0]
        );
    }

    #[test]
    fn air_is_minus_1000_hu_for_ct_and_0_for_mr_in_stored_units_clamped() {
        let r = Rescale {
            slope: 1.0,
            intercept: -1024.0,
        };
        assert_eq!(air(&ct(12, false), r, Modality::Ct), 24);
        assert_eq!(air(&ct(12, false), Rescale::default(), Modality::Ct), 0);
        assert_eq!(air(&ct(16, true), Rescale::default(), Modality::Ct), -1000);
        assert_eq!(air(&ct(12, false), r, Modality::Mr), 1024);
        let half = Rescale {
            slope: 0.5,
            intercept: 0.0,
        };
        assert_eq!(air(&ct(16, true), half, Modality::Ct), -2000);
    }

    #[test]
    fn fill_sets_exactly_the_runs_and_nothing_else() {
        let g = ct(16, true);
        let mut frame = vec![7u8; 12];
        fill(&mut frame, &g, &[(1, 1, 3)], -1000);
        let v = physical(&frame, &g, Rescale::default()).unwrap();
        assert_eq!(v, vec![1799.0, 1799.0, 1799.0, 1799.0, -1000.0, -1000.0]);
    }

    #[test]
    fn a_fill_of_any_part_of_a_frame_gives_the_bytes_of_the_whole_frame_filled() {
        let g = ct(16, true);
        let source: Vec<u8> = (0..12u8).collect();
        let mut whole = source.clone();
        let runs = [(0, 1, 3), (1, 0, 1)];
        fill(&mut whole, &g, &runs, -1000);
        for from in 0..12 {
            for to in from..=12 {
                let mut part = source[from..to].to_vec();
                fill_at(&mut part, from as u64, &g, &runs, -1000);
                assert_eq!(part, whole[from..to], "{from}..{to}");
            }
        }
    }

    #[test]
    fn a_signed_fill_is_sign_extended_over_bits_allocated() {
        let g = ct(12, true);
        let mut frame = vec![0u8; 12];
        fill(&mut frame, &g, &[(0, 0, 1)], -1000);
        assert_eq!(i16::from_le_bytes([frame[0], frame[1]]), -1000);
    }

    #[test]
    fn colour_images_are_no_volume() {
        let mut g = ct(8, false);
        g.samples = 3;
        g.photometric = Photometric::Rgb;
        assert!(physical(&[0; 18], &g, Rescale::default()).is_none());
    }
}
