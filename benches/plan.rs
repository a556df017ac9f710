//! Per-file cost of planning: a 512x512 CT slice, from memory and from a file on disk.
//! Run: cargo bench --bench plan

use criterion::{Criterion, criterion_group, criterion_main};
use deidfs::deid::{Engine, FileAt};
use deidfs::policy;
use deidfs::pseudonym::{Pseudonyms, SecretKey};
use std::hint::black_box;

fn plan(c: &mut Criterion) {
    let keys = Pseudonyms::new(&SecretKey::from_bytes([9; 32]));
    let basic = policy::load_builtin("basic").unwrap();
    let research = policy::load_builtin("research").unwrap();
    let ct = deidfs::demo::ct_slice(0, 1, 2, 3, 512, 512);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ct.dcm");
    std::fs::write(&path, &ct).unwrap();

    c.bench_function("plan CT 512x512 header, basic, in memory", |b| {
        b.iter(|| Engine::new(&basic, &keys).plan(black_box(&ct)).unwrap())
    });
    c.bench_function("plan CT 512x512 header, research, in memory", |b| {
        b.iter(|| Engine::new(&research, &keys).plan(black_box(&ct)).unwrap())
    });
    c.bench_function(
        "plan CT 512x512 header, basic, open + pread from file",
        |b| {
            b.iter(|| {
                let src = FileAt::open(&path).unwrap();
                Engine::new(&basic, &keys).plan(&src).unwrap()
            })
        },
    );
}

criterion_group!(benches, plan);
criterion_main!(benches);
