#!/usr/bin/env bash
# Mount benchmark: deidfs against its ceilings, side by side, in one run.
#
#   scripts/bench-mount.sh [--files N] [--runs R] [--quick] [--seed S] [--work DIR]
#
#   --files N   corpus size (default 2000 files, ~800 MB; --quick: 300)
#   --runs R    repetitions; the median is reported (default 3; --quick: 1)
#   --seed S    corpus seed (default 1)
#   --work DIR  work directory (default $DEIDFS_BENCH_DIR or /tmp/deidfs-bench): the corpus
#               (DEIDFS_BIN=PATH times that deidfs binary instead of the one built here)
#               (generated once per N and seed, then reused), mount points, results JSON
#
# Needs root (it drops the page cache), FUSE, bindfs and fusermount3 (installed with
# apt-get when missing). Runs non-interactively; every mount is undone on exit, even on
# failure or Ctrl-C.
#
# Filesystems, each over the same corpus:
#   direct   the corpus directory itself (no FUSE)
#   bindfs   `bindfs -r SRC MNT`: a generic read-only FUSE pass-through
#   mirror   examples/mirror.rs: deidfs's own FUSE layer and cache settings, files unchanged
#            (the ceiling for deidfs)
#   deidfs   `deidfs mount SRC MNT --key-file K` with a key made for this run
#   unscreened  the same with a policy that extends basic and sets `screen_pixels = false`:
#            the cost of searching every frame for burned-in text when first read
# Measures, per filesystem and run:
#   cold ls     `ls -lR MNT`, after a fresh mount and dropping the page/dentry/inode caches
#   warm ls     the same again at once, on the same mount
#   cold stat   `find MNT -type f -printf '%s'` (a stat of every file, no ls formatting),
#               after a fresh mount and dropping the caches
#   first byte  `head -c 1` of one file four directories deep (the first in sorted order),
#               after a fresh mount and dropping the caches: lookups of its path, listing
#               (for deidfs: planning) of the directories on the way, open, one read
#   cold read   `find MNT -type f -print0 | xargs -0 cat > /dev/null`, after a fresh mount
#               and dropping the caches (includes the listing `find` does)
#   warm read   the same again at once, on the same mount (page cache hot)
# Targets (printed, not asserted): cold and warm read >= 0.9x the mirror's throughput,
# cold ls time <= 2x the mirror's, warm read >= 0.9x direct, cold read (first read, where
# screening runs) >= 0.8x unscreened, cold ls unchanged by screening.
set -euo pipefail
shopt -s inherit_errexit

cd "$(dirname "${BASH_SOURCE[0]}")/.."
REPO=$PWD
COMMAND="$0 $*"

FILES="" RUNS="" SEED=1 QUICK=0
WORK=${DEIDFS_BENCH_DIR:-/tmp/deidfs-bench}
usage() { sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; }
while [[ $# -gt 0 ]]; do
    case "$1" in
        --files) FILES=${2:?--files needs a number}; shift 2 ;;
        --runs) RUNS=${2:?--runs needs a number}; shift 2 ;;
        --seed) SEED=${2:?--seed needs a number}; shift 2 ;;
        --work) WORK=${2:?--work needs a directory}; shift 2 ;;
        --quick) QUICK=1; shift ;;
        -h|--help) usage; exit 0 ;;
        *) echo "bench-mount: unknown argument $1" >&2; usage >&2; exit 2 ;;
    esac
done
if [[ $QUICK == 1 ]]; then
    FILES=${FILES:-300} RUNS=${RUNS:-1}
else
    FILES=${FILES:-2000} RUNS=${RUNS:-3}
fi
[[ $FILES =~ ^[1-9][0-9]*$ && $RUNS =~ ^[1-9][0-9]*$ && $SEED =~ ^[0-9]+$ ]] || {
    echo "bench-mount: --files, --runs and --seed take positive numbers" >&2; exit 2; }

log() { printf '[%s] %s\n' "$(date +%T)" "$*" >&2; }
die() { echo "bench-mount: $*" >&2; exit 1; }

# ------------------------------------------------------------------ checks --
[[ $(id -u) == 0 ]] || die "run as root (it writes /proc/sys/vm/drop_caches)"
[[ -e /dev/fuse ]] || die "no /dev/fuse: load the FUSE module (modprobe fuse)"
if ! command -v bindfs >/dev/null || ! command -v fusermount3 >/dev/null; then
    log "installing bindfs and fuse3"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q bindfs fuse3 >/dev/null \
        || die "bindfs/fuse3 missing and apt-get install failed"
fi
if ! command -v cargo >/dev/null && [[ -x $HOME/.cargo/bin/cargo ]]; then
    export PATH="$HOME/.cargo/bin:$PATH"
fi
command -v cargo >/dev/null || die "cargo not found"

# ------------------------------------------------------------------- build --
log "building (release, with examples)"
cargo build --release --bins --examples --quiet
DEIDFS=${DEIDFS_BIN:-$REPO/target/release/deidfs} # DEIDFS_BIN: time another build (A/B)
MIRROR=$REPO/target/release/examples/mirror
GEN=$REPO/target/release/examples/gen_corpus

# ------------------------------------------------------------------ corpus --
mkdir -p "$WORK"
WORK=$(cd "$WORK" && pwd)
CORPUS=$WORK/corpus-n$FILES-s$SEED
if [[ -f $CORPUS.ok && -d $CORPUS ]]; then
    log "reusing corpus $CORPUS ($(cat "$CORPUS.ok"))"
else
    log "generating corpus: $FILES files, seed $SEED -> $CORPUS"
    rm -rf "$CORPUS" "$CORPUS.ok"
    "$GEN" "$CORPUS" --files "$FILES" --seed "$SEED" >"$CORPUS.gen"
    mv "$CORPUS.gen" "$CORPUS.ok"
    log "$(cat "$CORPUS.ok")"
fi
SRC_BYTES=$(find "$CORPUS" -type f -printf '%s\n' | awk '{s += $1} END {printf "%d", s}')

# ------------------------------------------------------------------ mounts --
MNT=$WORK/mnt
# Mounts left by a run that was killed (-9) would stack under ours or break mkdir.
stale() { # mounted, or a dead FUSE mount ("Transport endpoint is not connected")
    if stat "$1" >/dev/null 2>&1; then
        mountpoint -q "$1"
    else
        [[ $(LC_ALL=C stat "$1" 2>&1) == *"not connected"* ]]
    fi
}
for m in bindfs mirror deidfs unscreened; do
    for _ in 1 2 3 4 5; do
        stale "$MNT/$m" || break
        log "unmounting $MNT/$m, left over from an interrupted run"
        fusermount3 -u "$MNT/$m" 2>/dev/null || umount -l "$MNT/$m" 2>/dev/null || break
    done
done
mkdir -p "$MNT/bindfs" "$MNT/mirror" "$MNT/deidfs" "$MNT/unscreened"
KEY=$WORK/bench-$$.key
MIRROR_PID="" DAEMON=""

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    if [[ -n $MIRROR_PID ]] && kill -0 "$MIRROR_PID" 2>/dev/null; then
        kill -TERM "$MIRROR_PID" 2>/dev/null || true
        wait "$MIRROR_PID" 2>/dev/null || true
    fi
    for m in bindfs mirror deidfs unscreened; do
        if stale "$MNT/$m"; then
            fusermount3 -u "$MNT/$m" 2>/dev/null || umount "$MNT/$m" 2>/dev/null \
                || umount -l "$MNT/$m" 2>/dev/null || true
        fi
    done
    rm -f "$KEY" "$WORK/mirror.out"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

rm -f "$KEY"
"$DEIDFS" keygen "$KEY" >/dev/null
UNSCREENED_POLICY=$WORK/unscreened.toml
printf 'name = "unscreened"\nextends = "basic"\nscreen_pixels = false\n' >"$UNSCREENED_POLICY"

drop_caches() {
    sync
    echo 3 >/proc/sys/vm/drop_caches
}

# shellcheck source=scripts/bench/daemons.sh
source "$REPO/scripts/bench/daemons.sh"

wait_unmounted() {
    local m=$1 i
    for i in $(seq 100); do
        mountpoint -q "$m" 2>/dev/null || return 0
        sleep 0.1
    done
    die "$m: still mounted after unmounting"
}

# Mounts filesystem $1 fresh; sets ROOT to the path to measure.
mount_fs() {
    case "$1" in
        direct) ROOT=$CORPUS ;;
        bindfs)
            ROOT=$MNT/bindfs
            bindfs -r "$CORPUS" "$ROOT"
            DAEMON=$(daemon_of "bindfs -r" "$ROOT") ;;
        mirror)
            ROOT=$MNT/mirror
            : >"$WORK/mirror.out"
            "$MIRROR" "$CORPUS" "$ROOT" >"$WORK/mirror.out" 2>&1 &
            MIRROR_PID=$!
            local i
            for i in $(seq 300); do
                grep -q READY "$WORK/mirror.out" && break
                kill -0 "$MIRROR_PID" 2>/dev/null || die "mirror failed: $(cat "$WORK/mirror.out")"
                sleep 0.1
            done
            grep -q READY "$WORK/mirror.out" || die "mirror not ready after 30 s" ;;
        deidfs)
            ROOT=$MNT/deidfs
            "$DEIDFS" mount "$CORPUS" "$ROOT" --key-file "$KEY" --no-index >/dev/null
            DAEMON=$(daemon_of "deidfs mount" "$ROOT") ;;
        unscreened)
            ROOT=$MNT/unscreened
            "$DEIDFS" mount "$CORPUS" "$ROOT" --key-file "$KEY" --no-index --policy "$UNSCREENED_POLICY" >/dev/null
            DAEMON=$(daemon_of "deidfs mount" "$ROOT") ;;
    esac
}

umount_fs() {
    case "$1" in
        direct) ;;
        bindfs) fusermount3 -u "$MNT/bindfs"; wait_unmounted "$MNT/bindfs"; wait_gone "$DAEMON" ;;
        mirror)
            kill -TERM "$MIRROR_PID"
            wait "$MIRROR_PID" || die "mirror exited with an error: $(cat "$WORK/mirror.out")"
            MIRROR_PID=""
            wait_unmounted "$MNT/mirror" ;;
        deidfs|unscreened) "$DEIDFS" unmount "$MNT/$1"; wait_unmounted "$MNT/$1"; wait_gone "$DAEMON" ;;
    esac
}

# Runs "$@" and prints the elapsed seconds.
timed() {
    local t0 t1
    t0=$(date +%s.%N)
    timeout 3600 "$@"
    t1=$(date +%s.%N)
    awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.3f", b - a}'
}
list_all() { ls -lR "$1" >/dev/null; }
stat_all() { find "$1" -type f -printf '%s\n' >/dev/null; }
read_all() { find "$1" -type f -print0 | xargs -0 cat >/dev/null; }
first_byte() { head -c 1 "$1" >/dev/null; }
export -f list_all stat_all read_all first_byte

FSS=(direct bindfs mirror deidfs unscreened)
MEASURES=(cold_ls warm_ls cold_stat first_byte cold_read warm_read)
# Measures timed in seconds only (the others also as MB/s of the bytes read).
is_time() { [[ $1 != cold_read && $1 != warm_read ]]; }
declare -A T BYTES COUNT

# ------------------------------------------------------------------ measure --
log "corpus: $FILES files, $SRC_BYTES bytes; $RUNS run(s); filesystems: ${FSS[*]}"
for run in $(seq "$RUNS"); do
    for fs in "${FSS[@]}"; do
        mount_fs "$fs"
        drop_caches
        s=$(timed bash -c 'list_all "$0"' "$ROOT")
        T[$fs.cold_ls]+="$s "
        s2=$(timed bash -c 'list_all "$0"' "$ROOT")
        T[$fs.warm_ls]+="$s2 "
        log "run $run/$RUNS $fs: cold ls -lR ${s}s, warm ${s2}s"
        # The file whose first byte is timed: the first in sorted order (same depth in every
        # view; deidfs's is another source file, under its pseudonymous name).
        FIRST=$(find "$ROOT" -mindepth 4 -type f | LC_ALL=C sort | awk 'NR == 1')
        [[ -n $FIRST ]] || die "$fs: no file four directories deep"
        umount_fs "$fs"

        mount_fs "$fs"
        drop_caches
        s=$(timed bash -c 'stat_all "$0"' "$ROOT")
        T[$fs.cold_stat]+="$s "
        umount_fs "$fs"

        mount_fs "$fs"
        drop_caches
        s2=$(timed bash -c 'first_byte "$0"' "$FIRST")
        T[$fs.first_byte]+="$s2 "
        log "run $run/$RUNS $fs: cold stat of every file ${s}s, first byte of a cold file ${s2}s"
        umount_fs "$fs"

        mount_fs "$fs"
        drop_caches
        s=$(timed bash -c 'read_all "$0"' "$ROOT")
        T[$fs.cold_read]+="$s "
        s2=$(timed bash -c 'read_all "$0"' "$ROOT")
        T[$fs.warm_read]+="$s2 "
        # What was read (deidfs's files differ slightly in size from the source's).
        BYTES[$fs]=$(find "$ROOT" -type f -printf '%s\n' | awk '{s += $1} END {printf "%d", s}')
        COUNT[$fs]=$(find "$ROOT" -type f | wc -l)
        [[ ${COUNT[$fs]} -gt 0 ]] || die "$fs: no files visible at $ROOT (did the mount vanish?)"
        log "run $run/$RUNS $fs: cold read ${s}s, warm read ${s2}s (${COUNT[$fs]} files, ${BYTES[$fs]} bytes)"
        umount_fs "$fs"
    done
done
for fs in "${FSS[@]}"; do
    [[ ${COUNT[$fs]} == "$FILES" ]] || log "WARNING: $fs shows ${COUNT[$fs]} files, not $FILES"
done

# ------------------------------------------------------------------ report --
# stats "t1 t2 ..." -> "min median max"
stats() {
    tr ' ' '\n' <<<"$1" | grep . | sort -g | awk '
        {v[NR] = $1}
        END {m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
             printf "%.3f %.3f %.3f", v[1], m, v[NR]}'
}
declare -A MIN MED MAX
for fs in "${FSS[@]}"; do
    for m in "${MEASURES[@]}"; do
        read -r MIN[$fs.$m] MED[$fs.$m] MAX[$fs.$m] <<<"$(stats "${T[$fs.$m]}")"
    done
done
calc() { awk "BEGIN {printf \"%.${2:-2}f\", $1}"; }
mbps() { calc "${BYTES[$1]} / 1e6 / ${MED[$1.$2]}" 0; }
# Speed ratio a/b: throughput for reads, time ratio for the others (their targets are on time).
ratio() {
    local a=$1 b=$2 m=$3
    if is_time "$m"; then
        calc "${MED[$a.$m]} / ${MED[$b.$m]}" 3
    else
        calc "(${BYTES[$a]} / ${MED[$a.$m]}) / (${BYTES[$b]} / ${MED[$b.$m]})" 3
    fi
}
declare -A LABEL=([cold_ls]="cold ls -lR" [warm_ls]="warm ls -lR" [cold_stat]="cold stat (all)"
    [first_byte]="first byte (cold)" [cold_read]="cold read (cat all)" [warm_read]="warm read (cat all)")

echo
echo "deidfs mount benchmark: $FILES files, $(calc "$SRC_BYTES / 1e6" 0) MB, median of $RUNS run(s)"
echo "machine: $(nproc) CPU, $(uname -r), $(date -u +%FT%TZ)"
echo
printf '%-22s' "seconds | MB/s"
for fs in "${FSS[@]}"; do printf '%20s' "$fs"; done
echo
for m in "${MEASURES[@]}"; do
    printf '%-22s' "${LABEL[$m]}"
    for fs in "${FSS[@]}"; do
        if is_time "$m"; then
            printf '%20s' "${MED[$fs.$m]} s"
        else
            printf '%20s' "${MED[$fs.$m]} s $(mbps "$fs" "$m") MB/s"
        fi
    done
    echo
done
echo
echo "ratios (reads: throughput ratio, higher is better; the others: time ratio, lower is better)"
PAIRS=("deidfs mirror" "deidfs bindfs" "deidfs direct" "mirror direct" "deidfs unscreened")
printf '%-22s' ""
for p in "${PAIRS[@]}"; do printf '%16s' "${p/ //}"; done
echo
for m in "${MEASURES[@]}"; do
    printf '%-22s' "${LABEL[$m]}"
    for p in "${PAIRS[@]}"; do
        read -r a b <<<"$p"
        printf '%16s' "$(ratio "$a" "$b" "$m")"
    done
    echo
done
echo
echo "targets (reported, not asserted)"
TARGETS=(
    "cold_read deidfs mirror >= 0.9"
    "warm_read deidfs mirror >= 0.9"
    "cold_ls deidfs mirror <= 2"
    "warm_read deidfs direct >= 0.9"
    "cold_read deidfs unscreened >= 0.8"
    "cold_ls deidfs unscreened <= 1.1"
)
TARGET_JSON=""
for t in "${TARGETS[@]}"; do
    read -r m a b op lim <<<"$t"
    r=$(ratio "$a" "$b" "$m")
    ok=$(awk -v r="$r" -v l="$lim" -v op="$op" 'BEGIN {print ((op == ">=") ? (r >= l) : (r <= l)) ? "met" : "MISSED"}')
    printf '  %-22s %s/%s = %-6s (target %s %s): %s\n' "${LABEL[$m]}" "$a" "$b" "$r" "$op" "$lim" "$ok"
    TARGET_JSON+="${TARGET_JSON:+,}
    {\"measure\": \"$m\", \"ratio\": \"$a/$b\", \"kind\": \"$(is_time "$m" && echo time || echo throughput)\", \"value\": $r, \"target\": \"$op $lim\", \"met\": $([[ $ok == met ]] && echo true || echo false)}"
done

# -------------------------------------------------------------------- JSON --
json_escape() { sed 's/\\/\\\\/g; s/"/\\"/g' <<<"$1"; }
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
OUT=$WORK/results-$STAMP.json
{
    echo "{"
    echo "  \"command\": \"$(json_escape "$COMMAND")\","
    echo "  \"date\": \"$(date -u +%FT%TZ)\","
    echo "  \"machine\": {\"nproc\": $(nproc), \"kernel\": \"$(uname -r)\", \"cpu\": \"$(json_escape "$(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)")\", \"mem_total_kb\": $(awk '/MemTotal/ {print $2}' /proc/meminfo)},"
    echo "  \"corpus\": {\"path\": \"$(json_escape "$CORPUS")\", \"files\": $FILES, \"seed\": $SEED, \"bytes\": $SRC_BYTES},"
    echo "  \"runs\": $RUNS,"
    echo "  \"unit\": \"seconds\","
    echo "  \"results\": {"
    for i in "${!FSS[@]}"; do
        fs=${FSS[$i]}
        echo "    \"$fs\": {"
        echo "      \"files\": ${COUNT[$fs]}, \"bytes_read\": ${BYTES[$fs]},"
        for j in "${!MEASURES[@]}"; do
            m=${MEASURES[$j]}
            all=$(tr ' ' '\n' <<<"${T[$fs.$m]}" | grep . | paste -sd, -)
            mb=""
            is_time "$m" || mb=", \"median_mb_per_s\": $(mbps "$fs" "$m")"
            printf '      "%s": {"min": %s, "median": %s, "max": %s, "all": [%s]%s}%s\n' \
                "$m" "${MIN[$fs.$m]}" "${MED[$fs.$m]}" "${MAX[$fs.$m]}" "$all" "$mb" \
                "$([[ $j -lt $((${#MEASURES[@]} - 1)) ]] && echo ,)"
        done
        echo "    }$([[ $i -lt $((${#FSS[@]} - 1)) ]] && echo ,)"
    done
    echo "  },"
    echo "  \"ratios\": {"
    first=1
    for m in "${MEASURES[@]}"; do
        for p in "${PAIRS[@]}"; do
            read -r a b <<<"$p"
            [[ $first == 1 ]] || echo ","
            first=0
            printf '    "%s %s/%s": %s' "$m" "$a" "$b" "$(ratio "$a" "$b" "$m")"
        done
    done
    echo
    echo "  },"
    kinds=""
    for m in "${MEASURES[@]}"; do
        kinds+="${kinds:+, }\"$m\": \"$(is_time "$m" && echo "time (lower is better)" || echo "throughput (higher is better)")\""
    done
    echo "  \"ratio_kinds\": {$kinds},"
    echo "  \"targets\": [$TARGET_JSON"
    echo "  ]"
    echo "}"
} >"$OUT"
cp "$OUT" "$WORK/results-latest.json"
if command -v jq >/dev/null; then
    jq -e . "$OUT" >/dev/null || log "WARNING: $OUT is not valid JSON"
fi
echo
echo "results: $OUT"
