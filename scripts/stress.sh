#!/usr/bin/env bash
# Load test of a real mount: 16 readers at random offsets while source files are replaced.
# Usage: scripts/stress.sh [SECONDS] (default 60). Needs FUSE (root or fuse3).
set -euo pipefail
cd "$(dirname "$0")/.."
export DEIDFS_STRESS_SECS="${1:-60}"
cargo test --release --test stress -- --ignored --nocapture
