#!/usr/bin/env bash
# The before/after renderings of docs/defacing.md: pydeface's template head (MR) and the
# pseudo-CT derived from it (scripts/head_volume.py), written as DICOM series
# (scripts/head_series.py), mounted with clean-recognizable-visual-features, and each
# series' skin rendered from the front as the source holds it and as the view serves it
# (scripts/render_face.py), side by side, into docs/figures/deface-NAME.png.
# Needs nibabel, scipy, pydeface and pydicom in python3 (scripts/test.sh --deps-only
# installs them into target/test-venv).
#
#   scripts/deface-figures.sh [OUT_DIR]
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
cd "$REPO"
OUT=${1:-$REPO/docs/figures}
PY=${DEIDFS_PYTHON:-$REPO/target/test-venv/bin/python3}
[[ -x $PY ]] || PY=python3
cargo build --release --bin deidfs --quiet
WORK=$(mktemp -d)
cleanup() {
    target/release/deidfs unmount "$WORK/view" 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT
"$PY" scripts/head_volume.py "$WORK" >/dev/null
mkdir -p "$WORK/src" "$WORK/view" "$OUT"
series=(ct-axial:native mr-sagittal:native mr-axial:echoes)
"$PY" scripts/head_series.py "$WORK" "$WORK/src" "${series[@]}"
target/release/deidfs keygen "$WORK/k.key" >/dev/null
target/release/deidfs mount "$WORK/src" "$WORK/view" --key-file "$WORK/k.key" \
    --option clean-recognizable-visual-features --log-file "$WORK/log"
# Each view folder is the pseudonym of one source folder: the key holder resolves it.
for shown in "$WORK"/view/*/; do
    folder=$(basename "$(target/release/deidfs resolve --source "$WORK/src" \
        --key-file "$WORK/k.key" "${shown#"$WORK/view/"}")")
    "$PY" scripts/render_face.py "$OUT/deface-$folder.png" "$WORK/src/$folder" "$shown"
    echo "$OUT/deface-$folder.png: $folder as the source holds it (left) and as the view serves it (right)"
done
