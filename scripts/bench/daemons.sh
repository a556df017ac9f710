# shellcheck shell=bash
# Finding and waiting for detached FUSE daemons; sourced by scripts/bench.sh and
# scripts/bench-mount.sh (which define CORPUS and die).

# The daemon serving mount point $2 with command prefix $1 (bindfs and deidfs detach; we only
# ever wait on it).
daemon_of() { pgrep -f -- "$1 $CORPUS $2( |\$)" | head -1 || true; }

# Waits until process $1 is gone (a zombie counts as gone: detached daemons are reaped by
# init, sometimes late). A daemon still tearing down may unmount whatever is mounted at its
# old mount point by then (fuser umounts the path on exit), so never mount over it early.
wait_gone() {
    local pid=$1 i
    [[ -n $pid ]] || return 0
    for i in $(seq 300); do
        [[ -r /proc/$pid/stat ]] || return 0
        [[ $(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null) != Z ]] || return 0
        sleep 0.05
    done
    die "daemon $pid still running 15 s after unmounting"
}
