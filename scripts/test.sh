#!/usr/bin/env bash
# The whole test suite, on a fresh Debian/Ubuntu machine: installs what the tests use
# (FUSE, DICOM validators and readers), then runs formatting, lints, the generated-table
# check and every test. Usage: scripts/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."

section() { printf '\n==> %s\n' "$*"; }

section "system packages"
missing=()
command -v fusermount3 >/dev/null || missing+=(fuse3)
command -v dcmdump >/dev/null || missing+=(dcmtk)
command -v dciodvfy >/dev/null || missing+=(dicom3tools)
command -v dcm2niix >/dev/null || missing+=(dcm2niix)
if ((${#missing[@]})); then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
  echo "installed: ${missing[*]}"
else
  echo "all present"
fi

section "python packages"
if ! python3 -c 'import pydicom' 2>/dev/null; then
  python3 -m pip install --quiet pydicom
fi
python3 -c 'import pydicom; print("pydicom", pydicom.__version__)'

section "cargo fmt --check"
cargo fmt --check

section "cargo clippy"
cargo clippy --release --all-targets --quiet -- -D warnings

section "generated table matches the standard's CSV"
if [ -f ../shared/reference/ps3.15-table-E.1-1.csv ]; then
  python3 scripts/gen_profile_table.py --check
else
  echo "skipped: ../shared/reference not present"
fi

section "cargo test"
cargo test --release
