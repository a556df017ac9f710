//! The identifiers of files already planned, by what they were gathered from. The files of
//! a series repeat the same patient, physicians, institution and dates, so compiling them
//! once per series (not once per file) is most of what a listing's echo search costs.
//!
//! The guarantee: a file gets exactly the identifiers it would get alone. The key is a hash
//! of every input the compiled identifiers depend on (the character set, the makers' names,
//! each gathered value with its tag, VR, kind and action, the day shift), so two files share
//! an entry only when compiling either gives the same result. Bounded: [`MEMO_SERIES`]
//! entries, least recently used dropped; held in memory only, never written anywhere.

use super::find::Echoes;
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex};

/// Sets of identifiers kept: series planned at once by a listing (planners work folder by
/// folder) are far fewer. A few KB each.
pub const MEMO_SERIES: usize = 256;

/// Compiled identifiers by the hash of their inputs; shared by every plan of a view.
pub struct EchoMemo {
    entries: Mutex<lru::LruCache<blake3::Hash, Arc<Echoes>>>,
}

impl Default for EchoMemo {
    fn default() -> Self {
        Self {
            entries: Mutex::new(lru::LruCache::new(
                NonZeroUsize::new(MEMO_SERIES).expect("non-zero"),
            )),
        }
    }
}

impl EchoMemo {
    /// The identifiers compiled from the inputs hashed as `key`, compiling them with
    /// `compile` the first time. Two planners may both compile a new key: the result is
    /// the same.
    pub fn get_or_compile(
        &self,
        key: blake3::Hash,
        compile: impl FnOnce() -> Echoes,
    ) -> Arc<Echoes> {
        if let Some(e) = self.lock().get(&key) {
            return e.clone();
        }
        let echoes = Arc::new(compile());
        self.lock().put(key, echoes.clone());
        echoes
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, lru::LruCache<blake3::Hash, Arc<Echoes>>> {
        // A panic while holding the lock leaves a consistent cache (put and get are whole).
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }
}
