//! What each source file becomes in the view and what every entry is called. The product is
//! [`Deidentify`]; [`Mirror`] is a benchmark ceiling that serves files unchanged.

use super::error::FsError;
use super::names::view_name;
use crate::cache::Verdict;
use crate::deid::{DeidError, EchoMemo, Engine, Faces};
use crate::pixels::frames::FrameCache;
use crate::policy::Policy;
use crate::pseudonym::Pseudonyms;
use crate::source::{Kind, SourceFile};
use std::ffi::OsStr;
use std::sync::Arc;

/// Decides what each source file becomes in the view and what every entry is called.
pub trait Planner: Send + Sync + 'static {
    /// Identifies everything the decisions depend on (part of the plan cache key).
    fn id(&self) -> String;
    /// The verdict on one file; `Err` only for I/O errors (transient: nothing is hidden).
    /// `faces` finds the series of a head slice among its neighbours.
    fn plan(&self, file: &dyn SourceFile, faces: &dyn Faces) -> Result<Verdict, FsError>;
    /// `(token, shown name)` of a source entry; the token names its children, and for a
    /// folder it is its shown name (the view keeps only the name). `chars` grows on a
    /// collision.
    fn name(&self, parent_token: &str, name: &OsStr, kind: Kind, chars: usize) -> (String, String);
    /// The secret that names and authenticates the listing index's records (`None`: this
    /// planner keeps no index).
    fn index_key(&self) -> Option<[u8; 32]> {
        None
    }
}

/// The product: PS3.15 de-identification and keyed pseudonymous names.
pub struct Deidentify {
    pub policy: Policy,
    pub keys: Pseudonyms,
    /// Decoded frames of every plan of the view (pixel data cleaned after decoding).
    pub frames: Arc<FrameCache>,
    /// Identifiers compiled once per series for every plan of the view.
    pub echoes: Arc<EchoMemo>,
}

impl Deidentify {
    /// A planner whose decoded frames share `frame_bytes` of memory.
    pub fn new(policy: Policy, keys: Pseudonyms, frame_bytes: u64) -> Self {
        Self {
            policy,
            keys,
            frames: FrameCache::new(frame_bytes),
            echoes: Arc::default(),
        }
    }
}

impl Planner for Deidentify {
    fn id(&self) -> String {
        format!("{}/{}", self.policy.id(), self.keys.key_id())
    }

    fn plan(&self, file: &dyn SourceFile, faces: &dyn Faces) -> Result<Verdict, FsError> {
        let mut engine = Engine::new(&self.policy, &self.keys);
        engine.frames = self.frames.clone();
        engine.echoes = self.echoes.clone();
        engine.faces = Some(faces);
        match engine.plan(file) {
            Ok(outcome) => Ok(Verdict::Served(
                Arc::new(outcome.plan),
                Arc::new(outcome.info),
            )),
            Err(DeidError::Refused(r)) => Ok(Verdict::Hidden(r.reason())),
            Err(DeidError::Io(e)) => Err(FsError::io(e)),
        }
    }

    fn name(&self, parent_token: &str, name: &OsStr, kind: Kind, chars: usize) -> (String, String) {
        view_name(
            &self.keys,
            parent_token,
            name.as_encoded_bytes(),
            kind,
            chars,
        )
    }

    fn index_key(&self) -> Option<[u8; 32]> {
        Some(*self.keys.index_key())
    }
}

/// A benchmark ceiling, never used by the product: every file served whole, unchanged,
/// under its own name (`examples/mirror.rs`).
pub struct Mirror;

impl Planner for Mirror {
    fn id(&self) -> String {
        "mirror".into()
    }

    fn plan(&self, file: &dyn SourceFile, _faces: &dyn Faces) -> Result<Verdict, FsError> {
        let mut out = crate::deid::plan::Out::new();
        out.source(0, file.len());
        Ok(Verdict::Served(Arc::new(out.finish()), Arc::default()))
    }

    fn name(
        &self,
        _parent_token: &str,
        name: &OsStr,
        _kind: Kind,
        _chars: usize,
    ) -> (String, String) {
        let shown = name.to_string_lossy().into_owned();
        (shown.clone(), shown)
    }
}
