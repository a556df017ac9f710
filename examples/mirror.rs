//! A bare FUSE mirror with exactly deidfs's kernel-cache settings and read path, serving
//! every file unchanged under its own name: the ceiling `scripts/bench-mount.sh` measures
//! deidfs against. A benchmark instrument only; it de-identifies nothing.
//!
//! cargo run --release --example mirror -- SOURCE MOUNTPOINT

use deidfs::fs::{Config, DeidFs, Mirror};
use deidfs::fuse::{DEFAULT_TTL, FuseAdapter};
use std::sync::Arc;

fn main() -> Result<(), String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [source, mountpoint] = args.as_slice() else {
        return Err("usage: mirror SOURCE MOUNTPOINT".into());
    };
    let src = deidfs::source::LocalSource::new(source.as_ref()).map_err(|e| e.to_string())?;
    let cfg = Config {
        planner: Arc::new(Mirror),
        cache_bytes: 256 << 20,
        access: deidfs::access::Access::mounting_user(),
        time: std::time::SystemTime::now(),
        workers: 4,
        audit: None,
        open_handles: false,
        read_ahead: 0,
        index: None,
    };
    let adapter = FuseAdapter::new(Arc::new(DeidFs::new(Arc::new(src), cfg)), DEFAULT_TTL);
    let mut config = fuser::Config::default();
    config.mount_options.extend([
        fuser::MountOption::RO,
        fuser::MountOption::FSName("mirror".into()),
    ]);
    config.n_threads = Some(4);
    config.clone_fd = true;
    let session = fuser::spawn_mount(adapter, mountpoint, &config).map_err(|e| e.to_string())?;
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, stop.clone()).map_err(|e| e.to_string())?;
    }
    println!("READY");
    while !stop.load(std::sync::atomic::Ordering::Relaxed) && !session.guard.is_finished() {
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    session.umount_and_join().map_err(|e| e.to_string())
}
