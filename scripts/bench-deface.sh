#!/usr/bin/env bash
# Defacing benchmark, made from pydeface's template head (scripts/head_volume.py, which needs
# nibabel, scipy and pydeface in python3: scripts/test.sh --deps-only installs them into
# target/test-venv):
# 1. the time to find the face plane of a head CT the size of a clinical series (512 x 512 x
#    200 by default) and to work out one slice's runs to fill (examples/deface_time.rs);
# 2. through a real mount with clean-recognizable-visual-features: that series written as
#    DICOM slices (scripts/head_series.py), the page cache dropped, the time to the first
#    byte of the first slice's pixels (the plane's search: every slice read), then of the
#    rest of the slices, and the daemon's memory before and after.
#
#   scripts/bench-deface.sh [COLS ROWS SLICES]
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
cd "$REPO"
PY=${DEIDFS_PYTHON:-$REPO/target/test-venv/bin/python3}
[[ -x $PY ]] || PY=python3
cargo build --release --example deface_time --bin deidfs --quiet
WORK=$(mktemp -d)
cleanup() {
    target/release/deidfs unmount "$WORK/view" 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT
"$PY" scripts/head_volume.py "$WORK" >/dev/null
if [[ $# -ge 3 ]]; then SIZE=("$1" "$2" "$3"); else SIZE=(512 512 200); fi
target/release/examples/deface_time "$WORK" "${SIZE[@]}" "$WORK"
mkdir -p "$WORK/src" "$WORK/view"
"$PY" scripts/head_series.py "$WORK" "$WORK/src" ct-clinical:native
target/release/deidfs keygen "$WORK/k.key" >/dev/null
target/release/deidfs mount "$WORK/src" "$WORK/view" --key-file "$WORK/k.key" \
    --option clean-recognizable-visual-features --log-file "$WORK/log"
folder=$(ls -d "$WORK"/view/*/)
files=("$folder"*)
rss() { awk '/VmRSS/ {print $2 / 1024 " MiB"}' "/proc/$(pgrep -n -f "deidfs mount $WORK/src")/status"; }
echo "daemon after listing ${#files[@]} slices: $(rss)"
sync
echo 3 >/proc/sys/vm/drop_caches 2>/dev/null || echo "(page cache not dropped: not root)"
t0=$(date +%s.%N)
tail -c 1 "${files[0]}" >/dev/null
t1=$(date +%s.%N)
# A few slices of the pseudo-CT fail their reads as they do without the option: the text
# screening takes their bone for text (counted below).
cat "${files[@]:1}" >/dev/null 2>&1 || true
t2=$(date +%s.%N)
awk -v a="$t0" -v b="$t1" -v c="$t2" -v n="$((${#files[@]} - 1))" 'BEGIN {
    printf "first byte of the first slice (cold, the plane searched): %.2f s\n", b - a
    printf "the other %d slices: %.2f s (%.1f ms each)\n", n, c - b, (c - b) * 1000 / n }'
echo "daemon after reading them: $(rss); reads failed by the text screening: $(grep -c pixels-text-found "$WORK/log" || true)"
