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
use crate::deid::{DeidError, HeadFace, HeadSlice, head_slice};
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
    /// Enhanced multi-frame volumes, by file, for the version found.
    volumes: Mutex<LruCache<PathBuf, (Stamp, HeadFace)>>,
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
            volumes: Mutex::new(LruCache::new(
                NonZeroUsize::new(FOLDERS).unwrap_or(NonZeroUsize::MIN),
            )),
        }
    }

    /// The face of the series of `frames`, the head frames of the file at `rel`, and each
    /// frame's place in the volume: a slice's series is found in its folder, an enhanced
    /// multi-frame image is a volume of its own.
    pub fn face(&self, rel: &Path, frames: &[HeadSlice]) -> io::Result<HeadFace> {
        match frames {
            [slice] => Ok(self.slice(rel, slice)?.map(|(face, k)| (face, vec![k]))),
            _ => self.volume(rel, frames),
        }
    }

    /// The face of the series of `slice`, the file at `rel`, and its place in the volume.
    fn slice(
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

    /// The face of the enhanced multi-frame image at `rel`, whose frames are `frames`, and
    /// each frame's place in the volume (kept for the file's version). The volume is made of
    /// one frame per position (the first in the file): frames at one position (echoes,
    /// phases) are one slice of it, defaced alike.
    fn volume(&self, rel: &Path, frames: &[HeadSlice]) -> io::Result<HeadFace> {
        let (_, stamp) = self.source.open_stamped(rel)?;
        if let Some((seen, found)) = lock(&self.volumes).get(rel)
            && *seen == stamp
        {
            return Ok(found.clone());
        }
        let found = self.volume_of(rel, &stamp, frames);
        lock(&self.volumes).put(rel.to_path_buf(), (stamp, found.clone()));
        Ok(found)
    }

    fn volume_of(&self, rel: &Path, stamp: &Stamp, frames: &[HeadSlice]) -> HeadFace {
        let first = frames.first().ok_or(Undefaceable::TooSmall)?;
        let alike = |f: &HeadSlice| {
            key(f) == key(first)
                && (0..2).all(|i| (f.facts.spacing[i] - first.facts.spacing[i]).abs() < 1e-3)
        };
        if !frames.iter().all(alike) {
            return Err(Undefaceable::BadGeometry);
        }
        // The first frame at each position (to a thousandth of a millimetre).
        let mut at: HashMap<[i64; 3], usize> = HashMap::new();
        let mut distinct: Vec<usize> = Vec::new();
        let place: Vec<usize> = (0..frames.len())
            .map(|f| {
                let p = frames[f]
                    .facts
                    .position
                    .map(|v| (v * 1000.0).round() as i64);
                *at.entry(p).or_insert_with(|| {
                    distinct.push(f);
                    distinct.len() - 1
                })
            })
            .collect();
        let facts: Vec<_> = distinct.iter().map(|&f| frames[f].facts.clone()).collect();
        let (geometry, order) = volume_of(&facts)?;
        let mut rank = vec![0; distinct.len()];
        for (k, &i) in order.iter().enumerate() {
            rank[i] = k;
        }
        let index = place.iter().map(|&d| rank[d]).collect();
        let in_order: Vec<HeadSlice> = order.iter().map(|&i| frames[distinct[i]].clone()).collect();
        let (source, rel, stamp) = (self.source.clone(), rel.to_path_buf(), *stamp);
        let read = move |k: usize| -> io::Result<Vec<f32>> {
            let (file, opened) = source.open_stamped(&rel)?;
            if opened != stamp {
                return Err(io::Error::other("the volume changed since it was planned"));
            }
            in_order[k].physical(file.as_ref())
        };
        let face = SeriesFace::new(geometry, first.modality, Box::new(read));
        Ok((Arc::new(face), index))
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
            let Ok((file, stamp)) = self.source.open_stamped(&rel) else {
                continue;
            };
            match head_slice(file.as_ref()) {
                // A multi-frame image is a volume of its own.
                Ok(Some(Ok(mut frames))) if frames.len() == 1 => {
                    let slice = frames.swap_remove(0);
                    groups
                        .entry(key(&slice))
                        .or_default()
                        .push((entry.name, stamp, slice));
                }
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
                    let (file, opened) = source.open_stamped(rel)?;
                    if opened != *stamp {
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
    fn face(&self, frames: &[HeadSlice]) -> io::Result<HeadFace> {
        self.faces.face(self.rel, frames)
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
