//! The whole engine on arbitrary bytes: a refusal, or a plan whose bytes are exactly its
//! length, walk cleanly again, and re-plan to a refusal or a plan (never a crash).
#![no_main]

use deidfs::deid::Engine;
use deidfs::pseudonym::{Pseudonyms, SecretKey};
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

fn setup() -> &'static (deidfs::policy::Policy, Pseudonyms) {
    static S: OnceLock<(deidfs::policy::Policy, Pseudonyms)> = OnceLock::new();
    S.get_or_init(|| {
        let mut p = deidfs::policy::load_builtin("basic").expect("built-in policy");
        // Exercise every file kind, including those refused for burned-in risk.
        p.refuse_modalities.clear();
        p.refuse_sop_classes.clear();
        (p, Pseudonyms::new(&SecretKey::from_bytes([7; 32])))
    })
}

fuzz_target!(|data: &[u8]| {
    let (policy, keys) = setup();
    let src = data.to_vec();
    if let Ok(outcome) = Engine::new(policy, keys).plan(&src) {
        let out = outcome.plan.to_vec(&src).expect("in-memory reads cannot fail");
        assert_eq!(out.len() as u64, outcome.plan.len());
        assert!(deidfs::deid::layout::walk(&out, Default::default()).is_ok(), "output does not walk");
        let _ = Engine::new(policy, keys).plan(&out);
    }
});
