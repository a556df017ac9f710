//! The validating walker on arbitrary bytes: it must return a layout or an error, never
//! panic, never allocate by an unchecked length, never recurse without bound.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = deidfs::deid::layout::walk(&data.to_vec(), Default::default());
});
