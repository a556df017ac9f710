//! Head series of the view (the Clean Recognizable Visual Features option): which slices of
//! a folder make one volume, found once per folder version when the first head slice in it
//! is planned, and the series' face shared by every plan of its slices.
//!
//! The guarantee: a head slice is served defaced only as one slice of a volume made of every
//! head slice of its folder with the same series, frame of reference, orientation, size and
//! modality (a series' slices in other folders are other volumes), evenly spaced along their
//! normal; otherwise every slice of it is hidden with the reason. The grouping reads headers
//! only: listing and `stat` never read pixels. What is kept per folder is each head slice's
//! header facts, never pixels; at most [`FOLDERS`] folders (a folder dropped is found again,
//! the same way, when next planned).

use crate::deface::face::SeriesFace;
use crate::deface::{Undefaceable, volume_of};
use crate::deid::{DeidError, HeadSlice, head_slice};
use crate::lock;
use crate::source::{Kind, Source, Stamp};
use lru::LruCache;
use std::collections::{BTreeMap, HashMap};
use std::ffi::OsString;
use std::io;
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// Folders whose series are kept.
pub const FOLDERS: usize = 256;

pub(super) struct Faces {
    source: Arc<dyn Source>,
    folders: Mutex<LruCache<PathBuf, Arc<Folder>>>,
}

/// One version of a folder: its series, found by the first planner to ask (the others wait).
struct Folder {
    stamp: Option<Stamp>,
    found: Mutex<Option<Arc<Series>>>,
}

/// The head series of a folder.
struct Series {
    /// By file name: its series, its place in that volume, and its facts when found.
    slices: HashMap<OsString, (usize, usize, HeadSlice)>,
    faces: Vec<Result<Arc<SeriesFace>, Undefaceable>>,
}

impl Faces {
    pub fn new(source: Arc<dyn Source>) -> Faces {
        Faces {
            source,
            folders: Mutex::new(LruCache::new(
                NonZeroUsize::new(FOLDERS).unwrap_or(NonZeroUsize::MIN),
            )),
        }
    }

    /// The face of the series of `slice`, the file at `rel`, and its place in the volume.
    pub fn face(
        &self,
        rel: &Path,
        slice: &HeadSlice,
    ) -> io::Result<Result<(Arc<SeriesFace>, usize), Undefaceable>> {
        let (Some(dir), Some(name)) = (rel.parent(), rel.file_name()) else {
            return Ok(Err(Undefaceable::BadGeometry));
        };
        // A slice not found as it is now (written since the folder was read in the same
        // stamp's second) has the folder read again, once.
        for again in [false, true] {
            let series = self.series(dir, again)?;
            if let Some((s, k, seen)) = series.slices.get(name)
                && seen.facts == slice.facts
            {
                return Ok(series.faces[*s].clone().map(|f| (f, *k)));
            }
        }
        Err(io::Error::other(
            "a head slice changed while its series was read: try again",
        ))
    }

    /// The series of folder `dir` (read again when it changed, or when `fresh`).
    fn series(&self, dir: &Path, fresh: bool) -> io::Result<Arc<Series>> {
        let stamp = self.source.stamp(dir).ok();
        let folder = {
            let mut folders = lock(&self.folders);
            match folders.get(dir) {
                Some(f) if f.stamp == stamp && !fresh => f.clone(),
                _ => {
                    let f = Arc::new(Folder {
                        stamp,
                        found: Mutex::new(None),
                    });
                    folders.put(dir.to_path_buf(), f.clone());
                    f
                }
            }
        };
        let mut found = lock(&folder.found);
        if let Some(s) = found.as_ref() {
            return Ok(s.clone());
        }
        let s = Arc::new(self.read(dir)?);
        *found = Some(s.clone());
        Ok(s)
    }

    /// Every head slice of `dir`, grouped into volumes. A file that cannot be read or is not
    /// a head slice is no slice of any volume (a series missing it is then uneven, and
    /// hidden).
    fn read(&self, dir: &Path) -> io::Result<Series> {
        let mut entries = self.source.list(dir)?;
        entries.sort_by(|a, b| a.name.cmp(&b.name));
        let mut groups: BTreeMap<String, Vec<(OsString, Stamp, HeadSlice)>> = BTreeMap::new();
        for entry in entries.into_iter().filter(|e| e.kind == Kind::File) {
            let rel = dir.join(&entry.name);
            let Ok(file) = self.source.open(&rel) else {
                continue;
            };
            let Ok(stamp) = file.stamp() else { continue };
            match head_slice(file.as_ref()) {
                Ok(Some(Ok(slice))) => groups
                    .entry(key(&slice))
                    .or_default()
                    .push((entry.name, stamp, slice)),
                Ok(_) | Err(DeidError::Refused(_)) => {}
                Err(DeidError::Io(e)) => {
                    tracing::debug!(error = %e, "a file of a head series' folder could not be read");
                }
            }
        }
        let mut series = Series {
            slices: HashMap::new(),
            faces: Vec::new(),
        };
        for (s, members) in groups.into_values().enumerate() {
            let facts: Vec<_> = members.iter().map(|m| m.2.facts.clone()).collect();
            let volume = volume_of(&facts);
            let order = match &volume {
                Ok((_, order)) => order.clone(),
                Err(_) => (0..members.len()).collect(),
            };
            let mut rank = vec![0; members.len()];
            for (k, &i) in order.iter().enumerate() {
                rank[i] = k;
            }
            let modality = members[0].2.modality;
            let mut reads: Vec<(PathBuf, Stamp, HeadSlice)> = Vec::with_capacity(members.len());
            for (i, (name, stamp, slice)) in members.into_iter().enumerate() {
                series
                    .slices
                    .insert(name.clone(), (s, rank[i], slice.clone()));
                reads.push((dir.join(name), stamp, slice));
            }
            series.faces.push(volume.map(|(geometry, order)| {
                let source = self.source.clone();
                let in_order: Vec<_> = order.iter().map(|&i| reads[i].clone()).collect();
                let read = move |k: usize| -> io::Result<Vec<f32>> {
                    let (rel, stamp, slice) = &in_order[k];
                    let file = source.open(rel)?;
                    if file.stamp()? != *stamp {
                        return Err(io::Error::other(
                            "a slice of the series changed since it was planned",
                        ));
                    }
                    slice.physical(file.as_ref())
                };
                Arc::new(SeriesFace::new(geometry, modality, Box::new(read)))
            }));
        }
        Ok(series)
    }
}

/// The series of one file, for the engine planning it.
pub(super) struct FileFaces<'a> {
    pub faces: &'a Faces,
    pub rel: &'a Path,
}

impl crate::deid::Faces for FileFaces<'_> {
    fn face(
        &self,
        slice: &HeadSlice,
    ) -> io::Result<Result<(Arc<SeriesFace>, usize), Undefaceable>> {
        self.faces.face(self.rel, slice)
    }
}

/// What the slices of one volume share: series, frame of reference, orientation (to a
/// thousandth), size and modality.
fn key(s: &HeadSlice) -> String {
    let f = &s.facts;
    // Rounded, and -0 made 0: one orientation, one key.
    let o: Vec<String> = f
        .orientation
        .iter()
        .map(|v| format!("{:.3}", (v * 1000.0).round() / 1000.0 + 0.0))
        .collect();
    format!(
        "{}|{}|{}|{}x{}|{:?}",
        f.series_uid,
        f.frame_of_reference,
        o.join(","),
        f.rows,
        f.cols,
        s.modality
    )
}
