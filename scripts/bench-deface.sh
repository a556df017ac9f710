#!/usr/bin/env bash
# Defacing benchmark: the time to find the face plane of a head CT the size of a clinical
# series (512 x 512 x 200 by default), and to work out one slice's runs to fill; made from
# pydeface's template head (scripts/head_volume.py, which needs nibabel, scipy and pydeface
# in python3: scripts/test.sh --deps-only installs them into target/test-venv).
#
#   scripts/bench-deface.sh [COLS ROWS SLICES]
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
cd "$REPO"
PY=${DEIDFS_PYTHON:-$REPO/target/test-venv/bin/python3}
[[ -x $PY ]] || PY=python3
cargo build --release --example deface_time --quiet
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
"$PY" scripts/head_volume.py "$WORK" >/dev/null
for size in "${@:-512 512 200}"; do
    # shellcheck disable=SC2086
    target/release/examples/deface_time "$WORK" $size
done
