//! Hostile input, bounded for the normal test run (long runs: scripts/fuzz.sh). Mutations of
//! synthetic and real files (truncations, bit flips, length fields set huge) must never panic
//! or hang: every outcome is a refusal or a file that parses and holds none of the PHI. The
//! real files come from ../shared/corpus; their tests are ignored, with the reason, without it.

mod common;

use common::fixtures as fx;
use deidfs::deid::{DeidError, Engine};
use deidfs::dicom::VrExt;
use deidfs::policy;
use deidfs::pseudonym::{Pseudonyms, SecretKey};
use proptest::prelude::*;
use std::time::{Duration, Instant};

fn synthetic_seeds() -> Vec<Vec<u8>> {
    vec![
        fx::ct_default().build(),
        fx::ct_implicit_undefined_lengths().build(),
        fx::ct_explicit_be().build(),
        fx::cp246_private_un_sequence().build(),
        fx::jpeg_baseline().build(),
        fx::nested(8).build(),
        fx::ct_deflated().build(),
    ]
}

/// A few real files from the shared corpus: private, UN and nested sequences (fragments
/// without SOP UIDs, refused whole as incomplete: they exercise the walker), JPEG 2000, big
/// endian, and CT and MR slices the view serves.
fn corpus_seeds() -> Vec<Vec<u8>> {
    let dir = common::corpus().join("pydicom_test_files");
    [
        "UN_sequence.dcm",
        "priv_SQ.dcm",
        "nested_priv_SQ.dcm",
        "JPEG2000.dcm",
        "MR_small_bigendian.dcm",
        "CT_small.dcm",
        "MR_small.dcm",
    ]
    .iter()
    .map(|name| {
        let path = dir.join(name);
        std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    })
    .collect()
}

#[derive(Debug, Clone)]
enum Mutation {
    Truncate(usize),
    FlipBit(usize, u8),
    /// Overwrite four bytes with 0xFF (an undefined or huge length wherever it lands).
    Huge(usize),
    /// Overwrite two bytes (a 16-bit length or a VR code).
    Set16(usize, u16),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        any::<usize>().prop_map(Mutation::Truncate),
        (any::<usize>(), 0u8..8).prop_map(|(a, b)| Mutation::FlipBit(a, b)),
        any::<usize>().prop_map(Mutation::Huge),
        (any::<usize>(), any::<u16>()).prop_map(|(a, b)| Mutation::Set16(a, b)),
    ]
}

fn apply(src: &[u8], muts: &[Mutation]) -> Vec<u8> {
    let mut v = src.to_vec();
    for m in muts {
        if v.is_empty() {
            break;
        }
        // Bias positions towards the header, where lengths and tags live.
        let pos = |p: &usize, len: usize| p % len.min(4096);
        match m {
            Mutation::Truncate(p) => v.truncate(p % v.len()),
            Mutation::FlipBit(p, b) => {
                let i = pos(p, v.len());
                v[i] ^= 1 << b;
            }
            Mutation::Huge(p) => {
                let i = pos(p, v.len());
                for b in v.iter_mut().skip(i).take(4) {
                    *b = 0xFF;
                }
            }
            Mutation::Set16(p, x) => {
                let i = pos(p, v.len());
                for (b, n) in v.iter_mut().skip(i).take(2).zip(x.to_le_bytes()) {
                    *b = n;
                }
            }
        }
    }
    v
}

/// Planning `src` never panics, hangs or errs on memory input: it is refused, or its output is
/// exact, re-walks cleanly and holds no value the engine replaced.
fn refused_or_clean(src: Vec<u8>) -> Result<(), TestCaseError> {
    let mut p = policy::load_builtin("basic").unwrap();
    p.refuse_modalities.clear();
    p.refuse_sop_classes.clear();
    let keys = Pseudonyms::new(&SecretKey::from_bytes([3; 32]));
    let start = Instant::now();
    let mut engine = Engine::new(&p, &keys);
    engine.trace = true;
    let result = engine.plan(&src);
    prop_assert!(
        start.elapsed() < Duration::from_secs(2),
        "planning took {:?}",
        start.elapsed()
    );
    match result {
        Err(DeidError::Refused(_)) => {}
        Err(DeidError::Io(e)) => prop_assert!(false, "I/O error on memory input: {e}"),
        Ok(o) => {
            let out = o.plan.to_vec(&src).unwrap();
            prop_assert_eq!(out.len() as u64, o.plan.len());
            // The output is itself a file the engine accepts (it re-walks cleanly).
            prop_assert!(deidfs::deid::layout::walk(&out, Default::default()).is_ok());
            // No value the engine replaced survives in the new header bytes. A value that
            // occurs more than once in the source may survive legitimately (in another,
            // kept element, or swallowed by one through a corrupted length: the walker
            // cannot tell), so only values unique in the source are checked.
            let inline: Vec<u8> = o
                .plan
                .segments()
                .iter()
                .filter_map(|s| match s {
                    deidfs::deid::Segment::Inline(b) => Some(b.to_vec()),
                    _ => None,
                })
                .flatten()
                .collect();
            let count = |hay: &[u8], v: &[u8]| hay.windows(v.len()).filter(|w| *w == v).count();
            for c in o
                .trace
                .iter()
                .filter(|c| !matches!(c.action, "keep" | "recurse"))
            {
                // String values only: binary ones are not searched for.
                if !(c.vr.string_valued() || c.vr == deidfs::dicom::Vr::PN) {
                    continue;
                }
                let Some(v) = deidfs::deid::Change::text_of(&c.before) else {
                    continue;
                };
                // Well-known DICOM UIDs (transfer syntaxes, SOP classes) identify nothing.
                if v.len() < 8 || v.starts_with("1.2.840.10008.") {
                    continue;
                }
                if count(&src, v.as_bytes()) == 1 {
                    prop_assert!(
                        count(&inline, v.as_bytes()) == 0,
                        "{} {:?} survived ({})",
                        c.path,
                        v,
                        c.action
                    );
                }
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn mutated_synthetic_files_are_refused_or_clean(seed in 0usize..64, muts in proptest::collection::vec(mutation(), 1..4)) {
        let seeds = synthetic_seeds();
        refused_or_clean(apply(&seeds[seed % seeds.len()], &muts))?;
    }

    #[test]
    #[cfg_attr(not(deidfs_corpus), ignore = "skipped: no ../shared/corpus")]
    fn mutated_corpus_files_are_refused_or_clean(seed in 0usize..64, muts in proptest::collection::vec(mutation(), 1..4)) {
        let seeds = corpus_seeds();
        refused_or_clean(apply(&seeds[seed % seeds.len()], &muts))?;
    }
}

/// The cases proptest once shrank failures to (tests/mutations.proptest-regressions). Their
/// `seed` picked from the synthetic and corpus files together, so each runs on every file.
fn past_failures() -> [Vec<Mutation>; 3] {
    [
        vec![Mutation::Set16(18402023162106257732, 55076)],
        vec![
            Mutation::FlipBit(476522276534573322, 0),
            Mutation::Truncate(7340911086854779202),
        ],
        vec![
            Mutation::Truncate(1876832302563812283),
            Mutation::FlipBit(1891335620460745761, 2),
        ],
    ]
}

#[test]
fn past_failures_are_refused_or_clean_on_synthetic_files() {
    for (i, seed) in synthetic_seeds().iter().enumerate() {
        for muts in past_failures() {
            refused_or_clean(apply(seed, &muts)).unwrap_or_else(|e| panic!("seed {i}: {e}"));
        }
    }
}

#[test]
#[cfg_attr(not(deidfs_corpus), ignore = "skipped: no ../shared/corpus")]
fn past_failures_are_refused_or_clean_on_corpus_files() {
    for (i, seed) in corpus_seeds().iter().enumerate() {
        for muts in past_failures() {
            refused_or_clean(apply(seed, &muts)).unwrap_or_else(|e| panic!("seed {i}: {e}"));
        }
    }
}
