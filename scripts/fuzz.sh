#!/usr/bin/env bash
# Coverage-guided fuzzing of the walker and the engine (cargo fuzz / libFuzzer), seeded with
# real files. Usage: scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...] (default 600 s, both
# targets, one after the other). Findings (crashes,
# timeouts, out-of-memory) land in fuzz/artifacts/<target>/; the corpus grows in fuzz/corpus/.
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-600}"
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(walker engine)

command -v cargo-fuzz >/dev/null || cargo install --quiet cargo-fuzz
# libFuzzer's sanitizer flags are unstable: allow them on the stable toolchain.
export RUSTC_BOOTSTRAP=1

for target in "${targets[@]}"; do
  seeds="fuzz/corpus/$target"
  mkdir -p "$seeds"
  if [ -d ../shared/corpus ] && [ -z "$(ls -A "$seeds")" ]; then
    # Real files as seeds (the 100,000-deep one too: it must be refused, fast).
    find ../shared/corpus -type f -size -2M \( -name '*.dcm' -o ! -name '*.*' \) -exec cp {} "$seeds"/ \; 2>/dev/null || true
  fi
  echo "==> fuzzing $target for ${secs}s ($(ls "$seeds" | wc -l) seeds)"
  cargo fuzz run "$target" "$seeds" -- \
    -max_total_time="$secs" -rss_limit_mb=2048 -timeout=10 -max_len=4194304 -print_final_stats=1
done
echo "==> done: any findings are in fuzz/artifacts/"
ls -R fuzz/artifacts 2>/dev/null || true
