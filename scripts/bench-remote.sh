#!/usr/bin/env bash
# Remote-source benchmark: the same corpus read through deidfs from local disk, through
# deidfs from a real S3 server on loopback (SeaweedFS), and through `rclone mount` of the same
# bucket (the user's alternative: files as stored, nothing de-identified), side by side.
#
#   scripts/bench-remote.sh [--files N] [--runs R] [--seed S] [--work DIR] [--quick]
#
#   --files N   corpus size (default 2000, the benchmark corpus of scripts/bench.sh; --quick 300)
#   --runs R    repetitions, the median reported (default 3; --quick 1)
#   --seed S    corpus seed (default 1)
#   --work DIR  work directory (default $DEIDFS_BENCH_DIR or /tmp/deidfs-bench), shared with
#               scripts/bench-mount.sh: the corpus is generated once per N and seed
#
# Measures, per filesystem and run, each on a fresh mount after dropping the page, dentry and
# inode caches:
#   cold ls     `ls -lR MNT`
#   cold read   every file read once (`find MNT -type f -exec cat {} +`), MB/s of bytes served
#   requests    LIST, HEAD and GET requests per source file, and bytes received per byte
#               served, for deidfs's S3 source (from its own count, logged at unmount)
# Needs root (drops caches), FUSE, and the test venv's `weed` and `rclone` (scripts/test.sh
# --deps-only installs them). Every server and mount is stopped on exit. Loopback only.
# Writes WORK/remote-latest.md (a Markdown table) and prints it.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
REPO=$PWD

FILES=2000 RUNS=3 SEED=1 WORK=${DEIDFS_BENCH_DIR:-/tmp/deidfs-bench}
while [[ $# -gt 0 ]]; do
    case "$1" in
        --files) FILES=$2; shift 2 ;;
        --runs) RUNS=$2; shift 2 ;;
        --seed) SEED=$2; shift 2 ;;
        --work) WORK=$2; shift 2 ;;
        --quick) FILES=300 RUNS=1; shift ;;
        -h|--help) awk 'NR > 1 && !/^#/ {exit} NR > 1 {sub(/^# ?/, ""); print}' "$0"; exit 0 ;;
        *) echo "bench-remote: unknown argument $1" >&2; exit 2 ;;
    esac
done
log() { printf '[%s] %s\n' "$(date +%T)" "$*" >&2; }
die() { echo "bench-remote: $*" >&2; exit 1; }
[[ $(id -u) == 0 ]] || die "needs root (it drops the page cache)"
VENV=${DEIDFS_VENV:-$REPO/target/test-venv}
export PATH=$VENV/bin:$PATH
command -v weed >/dev/null && command -v rclone >/dev/null \
    || die "weed and rclone are missing: run scripts/test.sh --deps-only"

cargo build --release --quiet --bin deidfs --example gen_corpus
DEIDFS=$REPO/target/release/deidfs GEN=$REPO/target/release/examples/gen_corpus
mkdir -p "$WORK"
CORPUS=$WORK/corpus-n$FILES-s$SEED
if [[ ! -f $CORPUS.ok ]]; then
    log "generating corpus: $FILES files, seed $SEED -> $CORPUS"
    rm -rf "$CORPUS"
    "$GEN" "$CORPUS" --files "$FILES" --seed "$SEED" --mix pacs >"$CORPUS.gen"
    mv "$CORPUS.gen" "$CORPUS.ok"
fi
SRC_FILES=$(find "$CORPUS" -type f | wc -l)

RUN=$(mktemp -d "$WORK/remote.XXXXXX")
: >"$RUN/rclone.conf"
KEY=$RUN/k.key MNT=$RUN/mnt
mkdir -p "$MNT"
"$DEIDFS" keygen "$KEY" >/dev/null
SERVER_PID=""
cleanup() {
    mountpoint -q "$MNT" && { fusermount3 -u "$MNT" 2>/dev/null || umount -l "$MNT"; }
    [[ -z $SERVER_PID ]] || kill -- -"$SERVER_PID" 2>/dev/null || true
    rm -rf "$RUN"
}
trap cleanup EXIT

# SeaweedFS on loopback ports of its own (gRPC ports 10,000 up), no telemetry.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
port_pair() { local p; while p=$(free_port); (( p >= 55000 )) || ! python3 -c "import socket; socket.socket().bind(('127.0.0.1',$((p + 10000))))" 2>/dev/null; do :; done; echo "$p"; }
P=(); for _ in 1 2 3 4 5; do P+=("$(port_pair)"); done
S3=${P[3]}
cat >"$RUN/s3.json" <<EOF
{"identities":[{"name":"bench","credentials":[{"accessKey":"bench","secretKey":"bench-secret"}],"actions":["Admin","Read","List","Write"]}]}
EOF
mkdir -p "$RUN/weed"
setsid weed mini -dir="$RUN/weed" -ip=127.0.0.1 -ip.bind=127.0.0.1 -master.telemetry=false \
    -admin.ui=false -webdav=false -s3.port.iceberg=0 -s3.port.lance=0 \
    -master.port="${P[0]}" -volume.port="${P[1]}" -filer.port="${P[2]}" -s3.port="$S3" \
    -admin.port="${P[4]}" -s3.config="$RUN/s3.json" -bucket=bench >"$RUN/weed.log" 2>&1 &
SERVER_PID=$!
export AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench-secret AWS_REGION=us-east-1
export AWS_ENDPOINT_URL=http://127.0.0.1:$S3
export RCLONE_CONFIG=$RUN/rclone.conf RCLONE_CONFIG_S3_TYPE=s3 RCLONE_CONFIG_S3_PROVIDER=Other
export RCLONE_CONFIG_S3_ENDPOINT=$AWS_ENDPOINT_URL RCLONE_CONFIG_S3_ACCESS_KEY_ID=bench
export RCLONE_CONFIG_S3_SECRET_ACCESS_KEY=bench-secret
for _ in $(seq 300); do rclone lsf s3:bench >/dev/null 2>&1 && break; sleep 0.2; done
rclone lsf s3:bench >/dev/null 2>&1 || die "SeaweedFS did not come up: $(tail -5 "$RUN/weed.log")"
log "uploading $SRC_FILES files to SeaweedFS (127.0.0.1:$S3)"
rclone copy --transfers 8 "$CORPUS" s3:bench/corpus

drop_caches() { sync; echo 3 >/proc/sys/vm/drop_caches; }
wait_mounted() { for _ in $(seq 200); do mountpoint -q "$MNT" && return; sleep 0.05; done; die "no mount at $MNT"; }
unmount() { fusermount3 -u "$MNT" 2>/dev/null || "$DEIDFS" unmount "$MNT"; for _ in $(seq 200); do mountpoint -q "$MNT" || return 0; sleep 0.05; done; }
mount_fs() {
    case "$1" in
        local) "$DEIDFS" mount "$CORPUS" "$MNT" --key-file "$KEY" --no-index --log-file "$RUN/local.log" >/dev/null ;;
        s3) "$DEIDFS" mount s3://bench/corpus "$MNT" --key-file "$KEY" --no-index --log-file "$RUN/s3.log" >/dev/null ;;
        rclone) rclone mount s3:bench/corpus "$MNT" --read-only --daemon --dir-cache-time 1h ;;
    esac
    wait_mounted
}
secs() { local t0 t1; t0=$(date +%s.%N); "$@" >/dev/null; t1=$(date +%s.%N); echo "$t1 - $t0" | bc -l; }
median() { sort -g | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }

declare -A LS READ MB
for fs in local s3 rclone; do
    ls_runs=() read_runs=()
    for r in $(seq "$RUNS"); do
        drop_caches; mount_fs "$fs"
        ls_runs+=("$(secs ls -lR "$MNT")")
        unmount
        drop_caches; mount_fs "$fs"
        bytes=$(find "$MNT" -type f -printf '%s\n' | awk '{s += $1} END {print s}')
        drop_caches
        read_runs+=("$(secs sh -c "find '$MNT' -type f -exec cat {} + >/dev/null")")
        unmount
        log "$fs run $r: cold ls ${ls_runs[-1]} s, cold read ${read_runs[-1]} s ($bytes bytes)"
    done
    LS[$fs]=$(printf '%s\n' "${ls_runs[@]}" | median)
    READ[$fs]=$(printf '%s\n' "${read_runs[@]}" | median)
    MB[$fs]=$(echo "$bytes / 1000000" | bc -l)
done

# The S3 source's own request count, from its last mount (a read run: list, plan, read).
sleep 0.5
counts=$(grep -o 'made=[^"]*LIST[^"]*received' "$RUN/s3.log" | tail -1 | sed 's/made=//')
read -r lists _ heads _ gets _ recv _ <<<"$(echo "$counts" | tr -d ',')"
served_mb=${MB[s3]}
OUT=$WORK/remote-latest.md
{
    echo "Remote sources, $SRC_FILES files ($(printf '%.0f' "${MB[local]}") MB served), median of $RUNS, $(date -u +%F):"
    echo
    echo "| | cold \`ls -lR\` | x local view | cold read | x local view |"
    echo "|---|---:|---:|---:|---:|"
    for fs in local s3 rclone; do
        name=$([[ $fs == local ]] && echo "deidfs, local disk" || { [[ $fs == s3 ]] && echo "deidfs, S3 (SeaweedFS)" || echo "rclone mount, S3 (not de-identified)"; })
        printf '| %s | %.2f s | %.2fx | %.0f MB/s | %.2fx |\n' "$name" "${LS[$fs]}" \
            "$(echo "${LS[$fs]} / ${LS[local]}" | bc -l)" \
            "$(echo "${MB[$fs]} / ${READ[$fs]}" | bc -l)" \
            "$(echo "${READ[$fs]} / ${READ[local]}" | bc -l)"
    done
    echo
    printf 'deidfs S3 source, one cold mount that lists, plans and reads every file: %s LIST, %s HEAD, %s GET (%.2f GET per file), %s MB received for %.0f MB served (%.2fx).\n' \
        "$lists" "$heads" "$gets" "$(echo "$gets / $SRC_FILES" | bc -l)" "$recv" "$served_mb" "$(echo "$recv / $served_mb" | bc -l)"
} >"$OUT"
cat "$OUT"
