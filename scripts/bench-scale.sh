#!/usr/bin/env bash
# Scale benchmark: deidfs against its ceiling (the mirror) and the disk, side by side, one run
# each, on trees of small CT files (so that the disk is not the limit).
#
#   scripts/bench-scale.sh [--sizes "10000 100000"] [--list-only "1000000"] [--flat 50000]
#                          [--work DIR]
#
#   --sizes      tree sizes in files (series folders of 40-80 files, as a PACS stores them)
#   --list-only  tree sizes for which only listings and memory are measured (1M files take
#                ~10 GB and ~15 minutes)
#   --flat       the size of the flat folder (one folder of that many files); 0 skips it
#   --work    work directory (default $DEIDFS_BENCH_DIR or /tmp/deidfs-scale): the generated
#             trees (made once per size, then reused), mount points, the report scale.md
#
# Needs root (it drops the page, dentry and inode caches) and FUSE. Every mount is undone on
# exit. Measures, per tree and filesystem (direct, mirror = examples/mirror.rs, deidfs-new = a
# mount with an empty listing index, as the first mount of an archive; deidfs = a later mount,
# whose listing index an earlier one made):
#   cold ls -lR, warm ls -lR, RSS of the daemon after listing (fresh mount, caches dropped)
#   cold find -type f, cold du -s (each on a fresh mount, caches dropped)
#   cold read, warm read: every file through cat (fresh mount, caches dropped)
#   export (deidfs export) against cp -r + sync, scan, on a cold cache
#   deidfs only: warm reads with open handles (--open-handles), and warm reads with a plan
#   cache of 1/1.5 and 1/3 of the tree's plans (page cache dropped between the two reads)
# for --list-only sizes: cold and warm ls -lR and RSS, deidfs with --cache-size 4M too;
# and for the flat folder: the first stat of one file, warm ls -f and ls -l.
# Cost per file (cold ls -lR) for every size goes to WORK/cost-per-file.tsv.
# Figures are printed as a markdown table (and written to WORK/scale.md); nothing is asserted.
set -euo pipefail

SIZES="10000 100000"
LIST_ONLY=""
FLAT=50000
WORK=${DEIDFS_BENCH_DIR:-/tmp/deidfs-scale}
while [[ $# -gt 0 ]]; do
    case $1 in
        --sizes) SIZES=$2; shift 2 ;;
        --list-only) LIST_ONLY=$2; shift 2 ;;
        --flat) FLAT=$2; shift 2 ;;
        --work) WORK=$2; shift 2 ;;
        -h|--help) sed -n 2,26p "$0"; exit 0 ;;
        *) echo "unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
done
[[ $(id -u) == 0 ]] || { echo "bench-scale.sh needs root (it drops the kernel caches)" >&2; exit 2; }
REPO=$(cd "$(dirname "$0")/.." && pwd)
cd "$REPO"
cargo build --release --bins --examples --quiet
DEIDFS=$REPO/target/release/deidfs
MIRROR=$REPO/target/release/examples/mirror
GEN=$REPO/target/release/examples/gen_corpus
mkdir -p "$WORK"
KEY=$WORK/bench.key
[[ -f $KEY ]] || "$DEIDFS" keygen "$KEY" >/dev/null
MNT=$WORK/mnt
mkdir -p "$MNT"
# The listing index: emptied before each deidfs-new mount, kept for the deidfs ones.
INDEX=$WORK/index
PID=
cleanup() {
    [[ -n $PID ]] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null || true
    mountpoint -q "$MNT" && fusermount3 -u "$MNT" 2>/dev/null || true
}
trap cleanup EXIT INT TERM

drop() { sync; echo 3 >/proc/sys/vm/drop_caches; }
secs() { local s e; s=$(date +%s.%N); "$@" >/dev/null 2>&1; e=$(date +%s.%N); printf '%.3f' "$(echo "$e - $s" | bc)"; }

# mount FS SRC: serve SRC at $MNT with FS (direct: a bind of nothing, the path itself)
mount_fs() {
    local fs=$1 src=$2
    cleanup; PID=
    case $fs in
        direct) return ;;
        mirror) "$MIRROR" "$src" "$MNT" >/dev/null 2>&1 & PID=$! ;;
        deidfs-new) rm -rf "$INDEX"
            "$DEIDFS" mount "$src" "$MNT" --key-file "$KEY" --foreground --index-dir "$INDEX" "${@:3}" >/dev/null 2>&1 & PID=$! ;;
        deidfs) "$DEIDFS" mount "$src" "$MNT" --key-file "$KEY" --foreground --index-dir "$INDEX" "${@:3}" >/dev/null 2>&1 & PID=$! ;;
    esac
    for _ in $(seq 100); do mountpoint -q "$MNT" && return; sleep 0.1; done
    echo "$fs did not mount" >&2; exit 1
}
root_of() { [[ $1 == direct ]] && echo "$2" || echo "$MNT"; }
rss() { [[ -n $PID ]] && ps -o rss= -p "$PID" | awk '{printf "%.0f MB", $1/1024}' || echo "-"; }

REPORT=$WORK/scale.md
: >"$REPORT"
COST=$WORK/cost-per-file.tsv
printf 'files\tfs\tcold ls -lR us/file\n' >"$COST"
per_file() { echo "$1 * 1000000 / $2" | bc; }
# cache_for N F: a --cache-size (MB) whose plans' share (3/4, less 400 bytes per node held)
# holds 1/F of the plans of N small files (~2 KB each)
cache_for() { echo "($1 * 2 / 1000 / $2 + $1 * 400 / 1000000) * 4 / 3" | bc; }
out() { echo "$*" | tee -a "$REPORT"; }
out "| tree | fs | cold ls -lR | warm ls -lR | RSS after listing | cold find | cold du | cold read | warm read |"
out "|---|---|---|---|---|---|---|---|---|"
for n in $SIZES; do
    src=$WORK/small-$n
    [[ -f $src.ok ]] || { rm -rf "$src"; "$GEN" "$src" --files "$n" --mix small >/dev/null; touch "$src.ok"; }
    for fs in direct mirror deidfs-new deidfs; do
        mount_fs $fs "$src"; r=$(root_of $fs "$src"); drop
        cold=$(secs ls -lR "$r"); warm=$(secs ls -lR "$r"); mem=$(rss)
        mount_fs $fs "$src"; r=$(root_of $fs "$src"); drop; find_t=$(secs find "$r" -type f)
        mount_fs $fs "$src"; r=$(root_of $fs "$src"); drop; du_t=$(secs du -s "$r")
        mount_fs $fs "$src"; r=$(root_of $fs "$src"); drop
        cread=$(secs sh -c "find '$r' -type f -print0 | xargs -0 cat > /dev/null")
        wread=$(secs sh -c "find '$r' -type f -print0 | xargs -0 cat > /dev/null")
        out "| $n | $fs | $cold s | $warm s | $mem | $find_t s | $du_t s | $cread s | $wread s |"
        printf '%s\t%s\t%s\n' "$n" "$fs" "$(per_file "$cold" "$n")" >>"$COST"
    done
    # deidfs: warm reads (a second pass) with open handles, and with the tree's plans (~2 KB
    # each) 1.5x and 3x the plans' share of --cache-size, without and with open handles.
    small=$(cache_for "$n" 3)
    extra=""
    for opt in "--open-handles" "--cache-size $(cache_for "$n" 1.5)M" "--cache-size ${small}M" \
        "--open-handles --cache-size ${small}M"; do
        # shellcheck disable=SC2086
        mount_fs deidfs "$src" $opt; r=$MNT
        secs sh -c "find '$r' -type f -print0 | xargs -0 cat > /dev/null" >/dev/null
        w=$(secs sh -c "find '$r' -type f -print0 | xargs -0 cat > /dev/null")
        extra="$extra; $opt: $w s"
    done
    out ""
    out "$n files, deidfs warm read$extra"
    cleanup; PID=
    rm -rf "$WORK/export" "$WORK/copy"; drop
    exp=$(secs "$DEIDFS" export --key-file "$KEY" "$src" "$WORK/export")
    drop; cpy=$(secs sh -c "cp -r '$src' '$WORK/copy' && sync")
    drop; scan=$(secs "$DEIDFS" scan "$src")
    out ""
    out "$n files: export $exp s, cp -r + sync $cpy s, scan $scan s"
    out ""
    rm -rf "$WORK/export" "$WORK/copy"
done

if [[ -n $LIST_ONLY ]]; then
    out ""
    out "| tree | fs | cold ls -lR | warm ls -lR | RSS after listing |"
    out "|---|---|---|---|---|"
fi
for n in $LIST_ONLY; do
    src=$WORK/small-$n
    [[ -f $src.ok ]] || { rm -rf "$src"; "$GEN" "$src" --files "$n" --mix small >/dev/null; touch "$src.ok"; }
    for fs in direct mirror deidfs-new deidfs "deidfs --cache-size 4M"; do
        read -r name opts <<<"$fs"
        # shellcheck disable=SC2086
        mount_fs "$name" "$src" $opts; r=$(root_of "$name" "$src"); drop
        cold=$(secs ls -lR "$r"); warm=$(secs ls -lR "$r"); mem=$(rss)
        out "| $n | $fs | $cold s | $warm s | $mem |"
        [[ $fs == *4M ]] || printf '%s\t%s\t%s\n' "$n" "$fs" "$(per_file "$cold" "$n")" >>"$COST"
    done
done
cleanup; PID=

if [[ $FLAT -gt 0 ]]; then
    src=$WORK/flat-$FLAT
    [[ -f $src.ok ]] || { rm -rf "$src"; "$GEN" "$src" --files "$FLAT" --mix flat >/dev/null; touch "$src.ok"; }
    [[ -f $src.paths ]] || { rm -rf "$WORK/cw"; "$DEIDFS" crosswalk --key-file "$KEY" --out "$WORK/cw" "$src" >/dev/null; cp "$WORK/cw/path_mapping.csv" "$src.paths"; }
    one=$(grep "^FLAT/IM$(printf %06d $((FLAT / 2)))" "$src.paths" | cut -d, -f1,2)
    out "| flat folder | fs | first stat of one file | first ls -f | warm ls -f | warm ls -l |"
    out "|---|---|---|---|---|---|"
    for fs in direct mirror deidfs-new deidfs; do
        name=${one%%,*}; [[ $fs == deidfs* ]] && name=${one##*,}
        mount_fs $fs "$src"; r=$(root_of $fs "$src"); drop
        st=$(secs stat "$r/$name")
        mount_fs $fs "$src"; r=$(root_of $fs "$src"); drop
        first=$(secs ls -f "$r/$(dirname "$name")"); lsf=$(secs ls -f "$r/$(dirname "$name")"); lsl=$(secs ls -l "$r/$(dirname "$name")")
        out "| $FLAT | $fs | $st s | $first s | $lsf s | $lsl s |"
    done
fi
echo "report: $REPORT"
