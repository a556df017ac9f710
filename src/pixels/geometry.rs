//! An image's pixel layout as its header describes it, and rectangles on it.
//!
//! Coordinates are pixel columns (x) and rows (y) from the top-left corner, with exclusive
//! maxima: `Rect { x0: 0, y0: 0, x1: 10, y1: 2 }` is the first ten pixels of the first two
//! rows. DICOM's Sequence of Ultrasound Regions gives inclusive maxima; they are converted
//! where they are read.

/// A rectangle with exclusive maxima.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Rect {
    pub x0: u32,
    pub y0: u32,
    pub x1: u32,
    pub y1: u32,
}

impl Rect {
    /// Clipped to an image of `cols` x `rows`; `None` when nothing is left.
    pub fn clip(self, cols: u32, rows: u32) -> Option<Rect> {
        let r = Rect {
            x0: self.x0.min(cols),
            y0: self.y0.min(rows),
            x1: self.x1.min(cols),
            y1: self.y1.min(rows),
        };
        (r.x0 < r.x1 && r.y0 < r.y1).then_some(r)
    }

    pub fn whole(cols: u32, rows: u32) -> Rect {
        Rect {
            x0: 0,
            y0: 0,
            x1: cols,
            y1: rows,
        }
    }
}

/// Photometric Interpretation, as far as filling is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Photometric {
    Monochrome1,
    Monochrome2,
    Rgb,
    /// YBR_FULL: one Y, Cb and Cr per pixel.
    YbrFull,
    /// YBR_FULL_422 (native): two Y then Cb, Cr for each pair of pixels.
    YbrFull422,
    Palette,
}

impl Photometric {
    /// The Photometric Interpretation value.
    pub fn name(self) -> &'static str {
        match self {
            Photometric::Monochrome1 => "MONOCHROME1",
            Photometric::Monochrome2 => "MONOCHROME2",
            Photometric::Rgb => "RGB",
            Photometric::YbrFull => "YBR_FULL",
            Photometric::YbrFull422 => "YBR_FULL_422",
            Photometric::Palette => "PALETTE COLOR",
        }
    }

    pub fn parse(s: &str) -> Option<Photometric> {
        Some(match s.trim() {
            "MONOCHROME1" => Photometric::Monochrome1,
            "MONOCHROME2" => Photometric::Monochrome2,
            "RGB" => Photometric::Rgb,
            "YBR_FULL" => Photometric::YbrFull,
            "YBR_FULL_422" => Photometric::YbrFull422,
            "PALETTE COLOR" => Photometric::Palette,
            _ => return None,
        })
    }
}

/// Why an image's pixels cannot be cleaned as described.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GeometryError {
    #[error("{0} is missing or invalid")]
    Missing(&'static str),
    #[error("photometric interpretation {0:?} cannot be cleaned")]
    Photometric(String),
    #[error("{bits} bits allocated cannot be cleaned (8, 16 and 32 can)")]
    Bits { bits: u16 },
    #[error("{samples} samples per pixel do not fit photometric interpretation {photometric}")]
    Samples { samples: u16, photometric: String },
    #[error("YBR_FULL_422 with an odd number of columns ({cols})")]
    OddWidth { cols: u32 },
    #[error("YBR_FULL_422 with Planar Configuration 1 is not a valid layout")]
    PlanarSubsampled,
    #[error("8-bit pixels in an OW value in big endian: byte pairs are swapped")]
    SwappedBytes,
    #[error("{0} is present but not a valid number")]
    Unreadable(&'static str),
    #[error(
        "the pixel data holds {have} bytes; the header describes {want} (frames x rows x columns x samples x bytes)"
    )]
    Length { have: u64, want: u64 },
}

/// The layout of native (uncompressed) pixel data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Geometry {
    pub rows: u32,
    pub cols: u32,
    pub samples: u16,
    pub bits_allocated: u16,
    pub bits_stored: u16,
    pub signed: bool,
    /// Planar Configuration 1: all of one sample's values, then the next sample's.
    pub planar: bool,
    pub frames: u32,
    pub photometric: Photometric,
    pub big_endian: bool,
}

/// The header values a geometry is built from (as read; `None` when absent).
#[derive(Debug, Clone, Default)]
pub struct PixelHeader {
    pub rows: Option<u16>,
    pub cols: Option<u16>,
    pub samples: Option<u16>,
    pub bits_allocated: Option<u16>,
    pub bits_stored: Option<u16>,
    pub pixel_representation: Option<u16>,
    pub planar_configuration: Option<u16>,
    pub frames: Option<u32>,
    pub photometric: Option<String>,
}

impl PixelHeader {
    /// Bytes of native pixel data this header describes, for any layout: `bits` per sample
    /// (1 is packed, eight pixels a byte), two samples per pixel for YBR_FULL_422 and
    /// YBR_PARTIAL_422, one frame when Number of Frames is absent. `None` when Rows, Columns
    /// or the bits are missing or zero, or the product overflows.
    pub fn native_len(&self, bits: Option<u16>) -> Option<u64> {
        let rows = u64::from(self.rows.filter(|r| *r > 0)?);
        let cols = u64::from(self.cols.filter(|c| *c > 0)?);
        let bits = u64::from(bits.filter(|b| *b > 0)?);
        let subsampled = self
            .photometric
            .as_deref()
            .is_some_and(|p| matches!(p.trim(), "YBR_FULL_422" | "YBR_PARTIAL_422"));
        let samples = if subsampled {
            2
        } else {
            u64::from(self.samples.unwrap_or(1).max(1))
        };
        let frames = u64::from(self.frames.unwrap_or(1).max(1));
        // A header describing more than 2^64 bits describes no pixel data a file can hold.
        let total = [cols, samples, bits, frames]
            .into_iter()
            .try_fold(rows, |acc, x| acc.checked_mul(x))?;
        Some(total.div_ceil(8))
    }
}

impl Geometry {
    pub fn new(h: &PixelHeader, big_endian: bool) -> Result<Geometry, GeometryError> {
        let rows = u32::from(
            h.rows
                .filter(|r| *r > 0)
                .ok_or(GeometryError::Missing("Rows"))?,
        );
        let cols = u32::from(
            h.cols
                .filter(|c| *c > 0)
                .ok_or(GeometryError::Missing("Columns"))?,
        );
        let text = h
            .photometric
            .clone()
            .ok_or(GeometryError::Missing("Photometric Interpretation"))?;
        let photometric =
            Photometric::parse(&text).ok_or_else(|| GeometryError::Photometric(text.clone()))?;
        let samples = h.samples.unwrap_or(1);
        let want_samples = match photometric {
            Photometric::Rgb | Photometric::YbrFull | Photometric::YbrFull422 => 3,
            _ => 1,
        };
        if samples != want_samples {
            return Err(GeometryError::Samples {
                samples,
                photometric: text,
            });
        }
        if photometric == Photometric::YbrFull422 && cols % 2 == 1 {
            return Err(GeometryError::OddWidth { cols });
        }
        if photometric == Photometric::YbrFull422 && h.planar_configuration == Some(1) {
            return Err(GeometryError::PlanarSubsampled);
        }
        let bits_allocated = h
            .bits_allocated
            .ok_or(GeometryError::Missing("Bits Allocated"))?;
        if !matches!(bits_allocated, 8 | 16 | 32) {
            return Err(GeometryError::Bits {
                bits: bits_allocated,
            });
        }
        let bits_stored = h
            .bits_stored
            .unwrap_or(bits_allocated)
            .clamp(1, bits_allocated);
        Ok(Geometry {
            rows,
            cols,
            samples,
            bits_allocated,
            bits_stored,
            signed: h.pixel_representation == Some(1),
            planar: samples > 1 && h.planar_configuration == Some(1),
            frames: h.frames.unwrap_or(1).max(1),
            photometric,
            big_endian,
        })
    }

    /// Bytes of one sample value.
    pub fn sample_bytes(&self) -> u64 {
        u64::from(self.bits_allocated / 8)
    }

    /// Bytes of one frame (YBR_FULL_422 stores two samples per pixel: Y for each, Cb and Cr
    /// shared by a pair). Rows and columns are 16-bit, so this cannot overflow.
    pub fn frame_bytes(&self) -> u64 {
        let samples = match self.photometric {
            Photometric::YbrFull422 => 2,
            _ => u64::from(self.samples),
        };
        u64::from(self.rows) * u64::from(self.cols) * samples * self.sample_bytes()
    }

    /// Checks the pixel data value holds exactly every frame (one padding byte allowed, to
    /// even length): bytes beyond the frames the header describes would be served unmasked.
    pub fn check_length(&self, have: u64) -> Result<(), GeometryError> {
        let Some(want) = self.frame_bytes().checked_mul(u64::from(self.frames)) else {
            return Err(GeometryError::Length {
                have,
                want: u64::MAX,
            });
        };
        if have != want && have != want.saturating_add(want % 2) {
            return Err(GeometryError::Length { have, want });
        }
        Ok(())
    }
}

#[cfg(test)]
mod native_len_tests {
    use super::*;

    #[test]
    fn the_described_length_counts_packed_bits_subsampling_and_refuses_overflow() {
        let h = |rows, cols, samples, photometric: &str, frames| PixelHeader {
            rows: Some(rows),
            cols: Some(cols),
            samples: Some(samples),
            photometric: Some(photometric.into()),
            frames,
            ..Default::default()
        };
        assert_eq!(h(3, 3, 1, "MONOCHROME2", None).native_len(Some(1)), Some(2));
        assert_eq!(
            h(2, 4, 3, "YBR_FULL_422", None).native_len(Some(8)),
            Some(16)
        );
        assert_eq!(
            h(2, 2, 1, "MONOCHROME2", Some(3)).native_len(Some(32)),
            Some(48)
        );
        // 2^15 rows, columns, samples and bits, 16 frames: 2^64 bits, not 0.
        let huge = h(32768, 32768, 32768, "RGB", Some(16));
        assert_eq!(huge.native_len(Some(32768)), None);
    }
}
