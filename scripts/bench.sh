#!/usr/bin/env bash
# The deidfs benchmark suite, in one command: batch de-identification (`deidfs export` against
# gdcmanon, dcmodify, PixelMed, dicognito, deid, dicom-anonymizer and `cp -r`, 1 and 2 workers,
# with the PHI each leaves), the mount (scripts/bench-mount.sh), memory (mount daemon, export)
# and the engine micro-benchmarks (cargo bench --bench plan). See docs/performance.md.
#
#   scripts/bench.sh                  2,000-file PACS-like corpus, 3 runs (~12 min here);
#                                     rewrites the results part of docs/performance.md
#   scripts/bench.sh --quick          300 files, 1 run, short micro-benchmarks (< 2 min once
#                                     the peers are installed; the first run installs them)
#   scripts/bench.sh --files 500 --runs 5 --seed 2 --work DIR
#   scripts/bench.sh --tools cp,deidfs,gdcmanon --workers 1 --no-mount --no-micro
#
# Options: --files N, --runs N, --seed S, --work DIR (default /tmp/deidfs-bench-suite),
#   --tools LIST (comma-separated; default all), --workers "1 2", --no-mount, --no-memory,
#   --no-micro, --no-remote (the S3 source against rclone mount: scripts/bench-remote.sh), --max-wait S (how long to wait for a quiet machine before each timed command,
#   default 300; 0 = never wait), --deidfs PATH (time this deidfs binary in the batch and
#   memory measures instead of the one built here: A/B of a change), --docs / --no-docs
#   (write the results, charts and JSON into docs/performance.md and docs/perf/; default: only
#   a full run with every measure, i.e. none of --quick --files --runs --tools --workers
#   --no-* --deidfs).
# Needs root (apt, dropping caches in the mount benchmark), FUSE, and on the first run the
# Debian and PyPI package indexes (scripts/bench/setup.sh installs into WORK/venv).
# Writes WORK/bench-<UTC>.json and bench-latest.json (command, machine, corpus, every run of
# every measure, min/median/max), a Markdown summary WORK/bench-<UTC>.md and SVG charts in
# WORK/charts/.
set -euo pipefail
shopt -s inherit_errexit

cd "$(dirname "${BASH_SOURCE[0]}")/.."
REPO=$PWD
BENCH_DIR=$REPO/scripts/bench
COMMAND="$0 $*"

FILES="" RUNS="" SEED=1 QUICK=0 TOOLS="" WORKERS="1 2" MAX_WAIT=300 DEIDFS_BIN=""
DO_MOUNT=1 DO_MEMORY=1 DO_MICRO=1 DO_REMOTE=1 DOCS="" SUBSET=0
WORK=${DEIDFS_BENCH_SUITE_DIR:-/tmp/deidfs-bench-suite}
usage() { awk 'NR > 1 && !/^#/ {exit} NR > 1 {sub(/^# ?/, ""); print}' "$0"; }
while [[ $# -gt 0 ]]; do
    case "$1" in
        --files) FILES=${2:?--files needs a number}; SUBSET=1; shift 2 ;;
        --runs) RUNS=${2:?--runs needs a number}; SUBSET=1; shift 2 ;;
        --seed) SEED=${2:?--seed needs a number}; shift 2 ;;
        --work) WORK=${2:?--work needs a directory}; shift 2 ;;
        --tools) TOOLS=${2:?--tools needs a list}; SUBSET=1; shift 2 ;;
        --workers) WORKERS=${2:?--workers needs a list}; SUBSET=1; shift 2 ;;
        --max-wait) MAX_WAIT=${2:?--max-wait needs seconds}; shift 2 ;;
        --deidfs) DEIDFS_BIN=${2:?--deidfs needs a path}; SUBSET=1; shift 2 ;;
        --no-mount) DO_MOUNT=0; SUBSET=1; shift ;;
        --no-memory) DO_MEMORY=0; SUBSET=1; shift ;;
        --no-micro) DO_MICRO=0; SUBSET=1; shift ;;
        --no-remote) DO_REMOTE=0; SUBSET=1; shift ;;
        --docs) DOCS=1; shift ;;
        --no-docs) DOCS=0; shift ;;
        --quick) QUICK=1; shift ;;
        -h|--help) usage; exit 0 ;;
        *) echo "bench: unknown argument $1" >&2; usage >&2; exit 2 ;;
    esac
done
if [[ -z $DOCS ]]; then
    DOCS=0
    [[ $QUICK == 1 || $SUBSET == 1 ]] || DOCS=1
fi
if [[ $QUICK == 1 ]]; then
    FILES=${FILES:-300} RUNS=${RUNS:-1}
else
    FILES=${FILES:-2000} RUNS=${RUNS:-3}
fi
[[ $FILES =~ ^[1-9][0-9]*$ && $RUNS =~ ^[1-9][0-9]*$ && $SEED =~ ^[0-9]+$ && $MAX_WAIT =~ ^[0-9]+$ ]] || {
    echo "bench: --files, --runs, --seed and --max-wait take numbers" >&2; exit 2; }
for w in $WORKERS; do
    [[ $w == 1 || $w == 2 ]] || { echo "bench: --workers takes 1 and/or 2" >&2; exit 2; }
done

log() { printf '[%s] %s\n' "$(date +%T)" "$*" >&2; }
die() { echo "bench: $*" >&2; exit 1; }

# shellcheck source=scripts/bench/peers.sh
source "$BENCH_DIR/peers.sh"
# shellcheck source=scripts/bench/daemons.sh
source "$BENCH_DIR/daemons.sh"
if [[ -n $TOOLS ]]; then
    IFS=, read -r -a SELECTED <<<"$TOOLS"
    for t in "${SELECTED[@]}"; do
        [[ " ${PEERS[*]} " == *" $t "* ]] || die "unknown tool $t (known: ${PEERS[*]})"
    done
else
    SELECTED=("${PEERS[@]}")
fi

# ------------------------------------------------------------------ checks --
[[ $(id -u) == 0 ]] || die "run as root (apt-get, and the mount benchmark drops the page cache)"
if ! command -v cargo >/dev/null && [[ -x $HOME/.cargo/bin/cargo ]]; then
    export PATH="$HOME/.cargo/bin:$PATH"
fi
command -v cargo >/dev/null || die "cargo not found"
command -v python3 >/dev/null || die "python3 not found"

mkdir -p "$WORK"
WORK=$(cd "$WORK" && pwd)
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
LOGS=$WORK/logs/$STAMP
OUTS=$WORK/out
RECORDS=$WORK/records-$STAMP.tsv
META=$WORK/meta-$STAMP.tsv
PHI_DIR=$WORK/phi-$STAMP
mkdir -p "$LOGS" "$PHI_DIR"
: >"$RECORDS"
: >"$META"
meta() { printf '%s\t%s\n' "$1" "$2" >>"$META"; }
# When this run last deleted files (see settle, before the batch).
SETTLE=65
LAST_DELETE=0

MEM_MNT=$WORK/mnt-memory
KEY=$WORK/bench-$$.key
MEM_DAEMON=""
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    if mountpoint -q "$MEM_MNT" 2>/dev/null || [[ $(LC_ALL=C stat "$MEM_MNT" 2>&1) == *"not connected"* ]]; then
        fusermount3 -u "$MEM_MNT" 2>/dev/null || umount -l "$MEM_MNT" 2>/dev/null || true
    fi
    rm -f "$KEY" "$WORK/gdcmanon-key.pem"
    rm -rf "$OUTS"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ------------------------------------------------------------------- setup --
"$BENCH_DIR/setup.sh" "$WORK"
PY=$WORK/venv/bin/python
unset PYTHONDONTWRITEBYTECODE # the venv is byte-compiled; let the tools use it as users do

log "building (release, with examples)"
cargo build --release --bins --examples --quiet
DEIDFS=$REPO/target/release/deidfs
if [[ -n $DEIDFS_BIN ]]; then
    [[ -x $DEIDFS_BIN ]] || die "--deidfs $DEIDFS_BIN: not an executable"
    DEIDFS=$(cd "$(dirname "$DEIDFS_BIN")" && pwd)/$(basename "$DEIDFS_BIN")
fi
GEN=$REPO/target/release/examples/gen_corpus

# ------------------------------------------------------------------ corpus --
# Named as scripts/bench-mount.sh names its corpus, so that it measures this one.
CORPUS=$WORK/corpus-n$FILES-s$SEED
TOKENS=$CORPUS.tokens
GEN_SRC=$(sha256sum examples/gen_corpus.rs | cut -c1-16)
if [[ -f $CORPUS.ok && -d $CORPUS && -f $TOKENS && $(cat "$CORPUS.src" 2>/dev/null) == "$GEN_SRC" ]]; then
    log "reusing corpus $CORPUS ($(cat "$CORPUS.ok"))"
else
    log "generating corpus: $FILES files, seed $SEED, mix pacs -> $CORPUS"
    [[ ! -e $CORPUS ]] || LAST_DELETE=$(date +%s)
    rm -rf "$CORPUS" "$CORPUS.ok" "$TOKENS" "$WORK/split-n$FILES-s$SEED"* "$WORK/smoke-n$FILES-s$SEED"*
    "$GEN" "$CORPUS" --files "$FILES" --seed "$SEED" --mix pacs --phi-tokens "$TOKENS" >"$CORPUS.gen"
    echo "$GEN_SRC" >"$CORPUS.src"
    mv "$CORPUS.gen" "$CORPUS.ok"
    log "$(cat "$CORPUS.ok")"
fi
SRC_BYTES=$(find "$CORPUS" -type f -printf '%s\n' | awk '{s += $1} END {printf "%d", s}')
SRC_FILES=$(find "$CORPUS" -type f | wc -l)

# Two halves (every other file, same relative paths, hard links) for two-process runs, and a
# small tree with one file of each kind for the smoke test.
SPLIT=$WORK/split-n$FILES-s$SEED
HALF1=$SPLIT/1 HALF2=$SPLIT/2 SMOKE=$WORK/smoke-n$FILES-s$SEED
if [[ ! -f $SPLIT.ok ]]; then
    rm -rf "$SPLIT" "$SMOKE"
    python3 - "$CORPUS" "$SPLIT" "$SMOKE" <<'EOF'
import os, sys
corpus, split, smoke = sys.argv[1:]
files = sorted(os.path.relpath(os.path.join(d, f), corpus)
               for d, _, fs in os.walk(corpus) for f in fs)
def link(rel, root):
    os.makedirs(os.path.join(root, os.path.dirname(rel)), exist_ok=True)
    os.link(os.path.join(corpus, rel), os.path.join(root, rel))
for i, rel in enumerate(files):
    link(rel, os.path.join(split, str(i % 2 + 1)))
kinds = {}
for rel in files:
    name = os.path.basename(rel)
    kind = name[:2] + ("-ct" if "_CT_" in rel else "-mr")
    kinds.setdefault(kind, rel)
for rel in kinds.values():
    link(rel, smoke)
EOF
    touch "$SPLIT.ok"
fi

# Keys: deidfs's for this run; a throwaway certificate for gdcmanon (its private key, needed
# only to re-identify, is deleted at once); PixelMed's redaction file lists no regions.
rm -f "$KEY"
"$DEIDFS" keygen "$KEY" >/dev/null
CERT=$WORK/gdcmanon-cert.pem
if [[ ! -s $CERT ]]; then
    openssl req -x509 -newkey rsa:2048 -nodes -keyout "$WORK/gdcmanon-key.pem" -out "$CERT" \
        -days 3650 -subj "/CN=deidfs-bench" 2>/dev/null
    rm -f "$WORK/gdcmanon-key.pem"
fi
REDACT=$WORK/redact-none.txt
: >"$REDACT"

# ----------------------------------------------------------------- machine --
meta command "$COMMAND"
meta date "$(date -u +%FT%TZ)"
meta stamp "$STAMP"
meta work "$WORK"
meta files "$FILES"
meta runs "$RUNS"
meta seed "$SEED"
meta quick "$QUICK"
meta workers "$WORKERS"
meta corpus "$CORPUS"
meta corpus_files "$SRC_FILES"
meta corpus_bytes "$SRC_BYTES"
meta corpus_summary "$(cat "$CORPUS.ok")"
meta tokens "$TOKENS"
meta git_commit "$(git rev-parse HEAD 2>/dev/null || echo unknown)"
meta deidfs_binary "$DEIDFS"
[[ -z $DEIDFS_BIN ]] || meta deidfs_override "$DEIDFS"
meta git_dirty "$(git status --porcelain -- src Cargo.toml Cargo.lock examples benches 2>/dev/null | tr '\n' ';')"
meta nproc "$(nproc)"
meta cpu "$(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)"
meta mem_total_kb "$(awk '/MemTotal/ {print $2}' /proc/meminfo)"
meta kernel "$(uname -r)"
meta work_fs "$(df -PT "$WORK" | awk 'NR == 2 {print $1 " " $2}') $(findmnt -no OPTIONS --target "$WORK" 2>/dev/null | cut -c1-80)"
dev=$(basename "$(df -P "$WORK" | awk 'NR == 2 {print $1}')")
meta disk "$dev scheduler=$(tr -d '\n' <"/sys/block/$dev/queue/scheduler" 2>/dev/null) read_ahead_kb=$(cat "/sys/block/$dev/queue/read_ahead_kb" 2>/dev/null)"

# ---------------------------------------------------------- quiet machine --
# /proc/stat: busy jiffies at normal priority (user, system, irq, softirq, steal), niced
# (nice column), and idle (idle, iowait).
cpu_sample() { awk '/^cpu / {print $2 + $4 + $7 + $8 + $9, $3, $5 + $6}' /proc/stat; }
# Busy CPUs at normal priority, and niced, over the last second.
busy_cpus() {
    local b0 n0 i0 b1 n1 i1
    read -r b0 n0 i0 < <(cpu_sample)
    sleep 1
    read -r b1 n1 i1 < <(cpu_sample)
    awk -v b="$((b1 - b0))" -v n="$((n1 - n0))" -v i="$((i1 - i0))" -v c="$(nproc)" \
        'BEGIN {t = b + n + i; if (t <= 0) t = 1; printf "%.2f %.2f\n", c * b / t, c * n / t}'
}
# Waits (up to --max-wait seconds) until other work at normal priority uses under 0.3 CPU;
# sets WAITED, BUSY_BEFORE and NICED_BEFORE (the last reading). Niced work (a `nice -n 19`
# fuzzer, say) does not hold the benchmark up: it yields the CPU to the measured tools. It is
# recorded with each measure.
quiet_gate() {
    local t0 now
    t0=$(date +%s)
    WAITED=0
    while :; do
        read -r BUSY_BEFORE NICED_BEFORE < <(busy_cpus)
        awk -v b="$BUSY_BEFORE" 'BEGIN {exit !(b < 0.3)}' && break
        now=$(date +%s)
        WAITED=$((now - t0))
        [[ $WAITED -lt $MAX_WAIT ]] || { log "machine still busy ($BUSY_BEFORE CPU) after ${WAITED}s: measuring anyway"; break; }
        [[ $((WAITED % 15)) -lt 2 ]] && log "waiting for a quiet machine ($BUSY_BEFORE CPU busy with other work)"
        sleep 1
    done
    awk -v n="$NICED_BEFORE" 'BEGIN {exit !(n >= 0.3)}' \
        && log "note: $NICED_BEFORE CPU busy with niced work (it yields to the measured tools)"
    return 0
}

# ---------------------------------------------------------------- measure --
CLK_TCK=$(getconf CLK_TCK)
# measure TOOL WORKERS RUN OUT COMMAND: times COMMAND (wall clock), then `sync` (the dirty data
# it left), with GNU time for CPU and peak RSS; appends a record.
measure() {
    local tool=$1 workers=$2 run=$3 out=$4 cmd=$5 tf rc=0 t0 t1 t2 b0 b1 n0 n1
    tf=$(mktemp)
    quiet_gate
    read -r b0 n0 _ < <(cpu_sample)
    t0=$(date +%s.%N)
    /usr/bin/time -o "$tf" -f '%e %U %S %M' bash -c "$cmd" \
        >"$LOGS/$tool-w$workers-r$run.log" 2>&1 || rc=$?
    t1=$(date +%s.%N)
    sync
    t2=$(date +%s.%N)
    read -r b1 n1 _ < <(cpu_sample)
    local wall sync_s user sys rss files_out bytes_out other niced
    wall=$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.3f", b - a}')
    sync_s=$(awk -v a="$t1" -v b="$t2" 'BEGIN {printf "%.3f", b - a}')
    read -r _ user sys rss < <(tail -1 "$tf")
    rm -f "$tf"
    files_out=0 bytes_out=0
    if [[ -d $out ]]; then
        files_out=$(find "$out" -type f ! -name '.*' | wc -l)
        bytes_out=$(find "$out" -type f ! -name '.*' -printf '%s\n' | awk '{s += $1} END {printf "%d", s}')
    fi
    # CPU used by anything but the measured command during its run and sync, in CPUs: at
    # normal priority (kernel writeback threads count here too), and niced.
    other=$(awk -v b="$((b1 - b0))" -v u="$user" -v s="$sys" -v hz="$CLK_TCK" -v a="$t0" -v c="$t2" \
        'BEGIN {o = b / hz - u - s; if (o < 0) o = 0; printf "%.2f", o / (c - a)}')
    niced=$(awk -v n="$((n1 - n0))" -v hz="$CLK_TCK" -v a="$t0" -v c="$t2" \
        'BEGIN {printf "%.2f", n / hz / (c - a)}')
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' \
        batch "$tool" "$workers" "$run" "$wall" "$sync_s" "$user" "$sys" "$rss" "$rc" \
        "$files_out" "$bytes_out" "$other" "$niced" "$WAITED" "$cmd" >>"$RECORDS"
    local note=""
    [[ $rc == 0 ]] || note=" EXIT $rc (log: $LOGS/$tool-w$workers-r$run.log)"
    log "run $run/$RUNS $tool, $workers worker(s): ${wall}s + sync ${sync_s}s, $(awk -v n="$SRC_FILES" -v w="$wall" 'BEGIN {printf "%.0f", n / w}') files/s, peak RSS $((rss / 1024)) MB, $files_out files out$note"
}

warm_corpus() { find "$CORPUS" -type f -print0 | xargs -0 cat >/dev/null; }

# Before each timed command: the page cache holds the corpus and the tool's own files, and
# nothing else. How much else is cached changes write speed here by several times (cp -r of
# the corpus: 1.7-2.0 s with 11 GB of earlier outputs cached, 0.28 s after drop_caches), so
# the cache is dropped, the corpus read back, and the tool run once, untimed, over one file of
# each kind (its binary, JVM or Python modules come back too).
prepare() {
    local tool=$1 warm=$WORK/warm-out
    sync
    echo 1 >/proc/sys/vm/drop_caches
    warm_corpus
    rm -rf "$warm"
    mkdir -p "$warm"
    timeout 600 bash -c "$(tool_cmd "$tool" 1 "$warm/out" "$SMOKE")" >/dev/null 2>&1 || true
    rm -rf "$warm"
    sync
}

# ------------------------------------------------------------------ smoke --
# Each tool once over one file of each kind (untimed): proves it runs here, warms its own
# files (JVM, Python modules) into the page cache, and drops a tool that cannot run.
TOOLS_OK=()
for t in "${SELECTED[@]}"; do
    meta "version.$t" "$(peer_version "$t" 2>/dev/null || echo unknown)"
    meta "what.$t" "${PEER_WHAT[$t]}"
    out=$WORK/smoke-out/$t
    rm -rf "$WORK/smoke-out/$t"
    mkdir -p "$WORK/smoke-out"
    cmd=$(tool_cmd "$t" 1 "$out" "$SMOKE")
    rc=0
    timeout 600 bash -c "$cmd" >"$LOGS/smoke-$t.log" 2>&1 || rc=$?
    n=$(find "$out" -type f ! -name '.*' 2>/dev/null | wc -l)
    want=$(find "$SMOKE" -type f | wc -l)
    if [[ $rc == 0 && $n -gt 0 ]]; then
        TOOLS_OK+=("$t")
        [[ $n == "$want" ]] || log "smoke: $t wrote $n of $want files (see $LOGS/smoke-$t.log)"
    else
        why=$(grep -v '^\s*$' "$LOGS/smoke-$t.log" | tail -3 | tr '\n' ' ' | cut -c1-300)
        log "smoke: $t cannot run here (exit $rc, $n files): $why; left out"
        meta "unusable.$t" "exit $rc, $n of $want files written: $why"
    fi
done
rm -rf "$WORK/smoke-out"
[[ ${#TOOLS_OK[@]} -gt 0 ]] || die "no tool ran"

# ------------------------------------------------------------------ batch --
# Outputs are not deleted between timed commands. On a journal-less ext4 (this machine's root
# file system) a new inode skips every inode freed in the last 60 s (ext4's recently_deleted,
# 360 s while the inode table block is dirty): right after the previous tool's 2,000 files were
# deleted, half of a cp -r's time went to that scan (perf: find_get_block_common +
# recently_deleted), so each tool would pay for its predecessor. Instead each output stays on
# disk (out of the page cache: see prepare), a round's outputs are deleted together, and no
# timed command starts within SETTLE seconds of a deletion. Without room for a round's
# outputs, each is deleted at once and the next command waits out the window (slow, but
# still fair).
delete_outputs() {
    if [[ -d $OUTS ]]; then
        rm -rf "$OUTS"
        sync
        LAST_DELETE=$(date +%s)
    fi
}
settle() {
    local left=$((LAST_DELETE + SETTLE - $(date +%s)))
    if [[ $left -gt 0 ]]; then
        log "waiting ${left}s: no inode freed in the last ${SETTLE}s (ext4 skips them when allocating)"
        sleep "$left"
    fi
}
delete_outputs
n_outputs=$((${#TOOLS_OK[@]} * $(wc -w <<<"$WORKERS")))
need_kb=$((SRC_BYTES * 11 * n_outputs / 10240 + 1048576))
free_kb=$(df -Pk "$WORK" | awk 'NR == 2 {print $4}')
KEEP=1
if [[ $free_kb -lt $need_kb ]]; then
    KEEP=0
    log "disk: no room for a round's $n_outputs outputs ($((need_kb / 1024)) MB): each is deleted at once and the next command waits ${SETTLE}s"
    [[ $free_kb -gt $((SRC_BYTES * 2 / 1024 + 1048576)) ]] || die "not enough free space in $WORK for one output"
fi

log "batch: ${TOOLS_OK[*]}; workers: $WORKERS; $RUNS run(s); corpus $SRC_FILES files, $SRC_BYTES bytes"
# Same order every round, one worker count at a time: cp, deidfs, then the peers. Each ratio
# in the report is also taken within a round (export against the cp -r just before it), which
# cancels the drift of this VM's speed over minutes.
for run in $(seq "$RUNS"); do
    log "round $run/$RUNS"
    for w in $WORKERS; do
        for t in "${TOOLS_OK[@]}"; do
            out=$OUTS/$t-w$w-r$run
            mkdir -p "$OUTS"
            prepare "$t"
            settle
            measure "$t" "$w" "$run" "$out" "$(tool_cmd "$t" "$w" "$out")"
            if [[ $run == 1 ]]; then
                python3 "$BENCH_DIR/phi_scan.py" "$TOKENS" "$out" --label "$t, $w worker(s)" \
                    --json "$PHI_DIR/$t-w$w.json" >&2 || log "PHI scan of $t failed"
            fi
            [[ $KEEP == 1 ]] || delete_outputs
        done
    done
    delete_outputs
done

# ------------------------------------------------------------------ memory --
status_kb() { awk -v k="$2:" '$1 == k {print $2}' "/proc/$1/status"; }
if [[ $DO_MEMORY == 1 ]]; then
    mkdir -p "$MEM_MNT"
    for run in $(seq "$RUNS"); do
        quiet_gate
        "$DEIDFS" mount "$CORPUS" "$MEM_MNT" --key-file "$KEY" --no-index >/dev/null
        MEM_DAEMON=$(daemon_of "deidfs mount" "$MEM_MNT")
        [[ -n $MEM_DAEMON ]] || die "memory: no daemon found for $MEM_MNT"
        start_kb=$(status_kb "$MEM_DAEMON" VmHWM)
        ls -lR "$MEM_MNT" >/dev/null
        ls_kb=$(status_kb "$MEM_DAEMON" VmHWM)
        find "$MEM_MNT" -type f -print0 | xargs -0 cat >/dev/null
        read_kb=$(status_kb "$MEM_DAEMON" VmHWM)
        rss_kb=$(status_kb "$MEM_DAEMON" VmRSS)
        n=$(find "$MEM_MNT" -type f | wc -l)
        printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' memory "$run" "$start_kb" "$ls_kb" "$read_kb" "$rss_kb" "$n" \
            "$(q "$DEIDFS") mount $(q "$CORPUS") $(q "$MEM_MNT") --key-file $(q "$KEY"); ls -lR; find -type f | xargs cat; VmHWM of the daemon" >>"$RECORDS"
        log "memory run $run: mount daemon VmHWM $((start_kb / 1024)) MB at start, $((ls_kb / 1024)) MB after ls -lR, $((read_kb / 1024)) MB after reading $n files"
        "$DEIDFS" unmount "$MEM_MNT"
        wait_gone "$MEM_DAEMON"
        MEM_DAEMON=""
    done
fi

# ------------------------------------------------------------------- mount --
if [[ $DO_MOUNT == 1 ]]; then
    quiet_gate
    log "mount benchmark: scripts/bench-mount.sh --work $WORK --files $FILES --seed $SEED --runs $RUNS"
    rm -f "$WORK/results-latest.json"
    "$REPO/scripts/bench-mount.sh" --work "$WORK" --files "$FILES" --seed "$SEED" --runs "$RUNS" \
        | tee "$LOGS/bench-mount.txt" >&2
    cp "$WORK/results-latest.json" "$WORK/mount-$STAMP.json"
    meta mount_json "$WORK/mount-$STAMP.json"
fi

# ------------------------------------------------------------------ remote --
# The same corpus through deidfs's S3 source (SeaweedFS on loopback) and `rclone mount`.
if [[ $DO_REMOTE == 1 ]]; then
    quiet_gate
    log "remote benchmark: scripts/bench-remote.sh --work $WORK --files $FILES --seed $SEED --runs $RUNS"
    "$REPO/scripts/bench-remote.sh" --work "$WORK" --files "$FILES" --seed "$SEED" --runs "$RUNS" \
        | tee "$LOGS/bench-remote.txt" >&2
    cp "$WORK/remote-latest.md" "$WORK/remote-$STAMP.md"
    meta remote_md "$WORK/remote-$STAMP.md"
fi

# ------------------------------------------------------------------- micro --
if [[ $DO_MICRO == 1 ]]; then
    quiet_gate
    CRIT=$WORK/criterion-$STAMP
    args=(--noplot)
    [[ $QUICK == 1 ]] && args+=(--warm-up-time 0.5 --measurement-time 1.5 --sample-size 10)
    log "micro-benchmarks: cargo bench --bench plan -- ${args[*]}"
    CRITERION_HOME=$CRIT cargo bench --quiet --bench plan -- "${args[@]}" >"$LOGS/criterion.txt" 2>&1 \
        || { tail -20 "$LOGS/criterion.txt" >&2; die "cargo bench failed"; }
    grep -E '^(plan |skipped|\s+time:)' "$LOGS/criterion.txt" >&2 || true
    meta criterion_home "$CRIT"
    meta criterion_log "$LOGS/criterion.txt"
    meta criterion_command "CRITERION_HOME=$CRIT cargo bench --bench plan -- ${args[*]}"
    { grep '^skipped' "$LOGS/criterion.txt" || true; } | while read -r line; do meta micro_skipped "$line"; done
fi

# ------------------------------------------------------------------ report --
docs=()
[[ $DOCS == 0 ]] || docs=(--docs "$REPO/docs/performance.md")
"$PY" "$BENCH_DIR/report.py" --meta "$META" --records "$RECORDS" --phi "$PHI_DIR" --out "$WORK" "${docs[@]}"
