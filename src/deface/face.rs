//! A series' face in the view: the plane found once, from every slice, the first time any
//! slice is read, and each slice served as its own pixels with the face side set to air.
//!
//! The guarantee: a slice's bytes are a pure function of its own pixels, its place in the
//! volume and the series' plane; nothing of a slice is served before the plane is found, and
//! if there is none ([`Undefaceable`]) no read of any slice of the series succeeds, ever.
//! Concurrent first readers of a series wait for one search; an I/O error reading the slices
//! is not kept (the next read searches again). What is kept is the plane (two numbers and a
//! direction), never the volume: the search holds one slice at a time.

use super::values::{Rescale, air, fill_at};
use super::{Cut, Geometry, Modality, Undefaceable, cut_slices};
use crate::pixels::geometry::Geometry as Pixels;
use std::io;
use std::sync::{Arc, Mutex, OnceLock};

/// Reads slice `k` of the volume (in volume order) as physical values, row after row.
pub type ReadSlice = Box<dyn Fn(usize) -> io::Result<Vec<f32>> + Send + Sync>;

/// One series of a view whose face is removed.
pub struct SeriesFace {
    geometry: Geometry,
    modality: Modality,
    read: ReadSlice,
    /// The search's result, once made.
    found: Mutex<Option<Result<Cut, Undefaceable>>>,
    /// Set with `found` when there is no plane: read without waiting for a search.
    failed: OnceLock<Undefaceable>,
}

impl std::fmt::Debug for SeriesFace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SeriesFace")
            .field("slices", &self.geometry.positions.len())
            .field("modality", &self.modality)
            .finish_non_exhaustive()
    }
}

impl SeriesFace {
    /// The series of `geometry`, whose slices `read` gives.
    pub fn new(geometry: Geometry, modality: Modality, read: ReadSlice) -> SeriesFace {
        SeriesFace {
            geometry,
            modality,
            read,
            found: Mutex::new(None),
            failed: OnceLock::new(),
        }
    }

    pub fn geometry(&self) -> &Geometry {
        &self.geometry
    }

    pub fn modality(&self) -> Modality {
        self.modality
    }

    /// The plane, searched for on the first call (concurrent callers wait for it).
    pub fn cut(&self) -> io::Result<Result<Cut, Undefaceable>> {
        let mut found = crate::lock(&self.found);
        if let Some(f) = found.as_ref() {
            return Ok(f.clone());
        }
        let slices = self.geometry.positions.len();
        let result = cut_slices(&self.geometry, self.modality, |k| {
            let values = (self.read)(k)?;
            if values.len() != self.geometry.cols * self.geometry.rows {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("slice {k} of {slices} is not the series' size"),
                ));
            }
            Ok(values)
        })?;
        if let Err(why) = &result {
            let _ = self.failed.set(why.clone());
        }
        *found = Some(result.clone());
        Ok(result)
    }

    /// Why the series has no plane, once a search found none.
    pub fn failed(&self) -> Option<&Undefaceable> {
        self.failed.get()
    }
}

/// One slice of a defaced series as served.
pub struct SliceFace {
    series: Arc<SeriesFace>,
    /// The slice's place in the volume.
    index: usize,
    /// The pixels as served (the native frame, or the decoded one).
    pixels: Pixels,
    /// Air in the slice's stored units.
    air: i64,
    /// Each row's run to fill, from the plane.
    runs: OnceLock<Vec<(u32, u32, u32)>>,
}

impl std::fmt::Debug for SliceFace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SliceFace")
            .field("index", &self.index)
            .field("air", &self.air)
            .finish_non_exhaustive()
    }
}

/// Two slices are the same segment when they fill the same pixels of the same series alike.
impl PartialEq for SliceFace {
    fn eq(&self, o: &Self) -> bool {
        (self.index, &self.pixels, self.air) == (o.index, &o.pixels, o.air)
            && (Arc::ptr_eq(&self.series, &o.series)
                || (self.series.geometry == o.series.geometry
                    && self.series.modality == o.series.modality))
    }
}
impl Eq for SliceFace {}

impl SliceFace {
    /// Slice `index` of `series`, its pixels served as `pixels` describes them, with
    /// `rescale` to physical values.
    pub fn new(series: Arc<SeriesFace>, index: usize, pixels: Pixels, rescale: Rescale) -> Self {
        let air = air(&pixels, rescale, series.modality);
        SliceFace {
            series,
            index,
            pixels,
            air,
            runs: OnceLock::new(),
        }
    }

    /// Sets the face side of `part`, the frame's bytes from `within` on, to air. Fails
    /// (`InvalidData`, carrying the [`Undefaceable`]) when the series has no plane.
    pub fn apply(&self, within: u64, part: &mut [u8]) -> io::Result<()> {
        let runs = match self.runs.get() {
            Some(r) => r,
            None => {
                let cut = self
                    .series
                    .cut()?
                    .map_err(|why| io::Error::new(io::ErrorKind::InvalidData, why))?;
                self.runs
                    .get_or_init(|| cut.runs(&self.series.geometry, self.index))
            }
        };
        fill_at(part, within, &self.pixels, runs, self.air);
        Ok(())
    }

    /// Whether the series turned out to have no plane (plans holding the slice are void).
    pub fn withdrawn(&self) -> bool {
        self.series.failed().is_some()
    }
}
