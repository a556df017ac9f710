#!/usr/bin/env bash
# Installs what scripts/bench.sh runs, when missing: Debian packages (GDCM's gdcmanon, DCMTK's
# dcmodify, PixelMed, a headless Java, GNU time, openssl, grep with PCRE) and, in WORK/venv,
# the PyPI peers pinned in requirements.txt (dicognito, deid, dicom-anonymizer) plus
# matplotlib for the charts. Idempotent: a second call installs nothing.
#
#   scripts/bench/setup.sh WORK
set -euo pipefail
WORK=${1:?usage: setup.sh WORK}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
log() { printf '[%s] setup: %s\n' "$(date +%T)" "$*" >&2; }

pkgs=()
command -v gdcmanon >/dev/null || pkgs+=(libgdcm-tools)
command -v dcmodify >/dev/null || pkgs+=(dcmtk)
[[ -r /usr/share/java/pixelmed.jar ]] || pkgs+=(pixelmed-apps)
command -v java >/dev/null || pkgs+=(default-jre-headless)
[[ -x /usr/bin/time ]] || pkgs+=(time)
command -v openssl >/dev/null || pkgs+=(openssl)
command -v python3 >/dev/null || pkgs+=(python3 python3-venv)
echo x | grep -qP 'x(?!y)' 2>/dev/null || pkgs+=(grep)
if [[ ${#pkgs[@]} -gt 0 ]]; then
    log "apt-get install ${pkgs[*]}"
    export DEBIAN_FRONTEND=noninteractive
    if ! apt-get install -y -q --no-install-recommends "${pkgs[@]}" >"$WORK/apt.log" 2>&1; then
        apt-get update -q >>"$WORK/apt.log" 2>&1 || true
        apt-get install -y -q --no-install-recommends "${pkgs[@]}" >>"$WORK/apt.log" 2>&1 \
            || { tail -5 "$WORK/apt.log" >&2; log "apt-get install failed (log: $WORK/apt.log)"; exit 1; }
    fi
fi

VENV=$WORK/venv
if [[ -x $VENV/bin/python ]] && cmp -s "$HERE/requirements.txt" "$VENV/requirements.installed"; then
    exit 0
fi
log "creating $VENV (pip install -r scripts/bench/requirements.txt)"
rm -rf "$VENV"
if ! python3 -m venv "$VENV" 2>"$WORK/venv.log"; then
    # Debian's own python3 needs python3-venv for ensurepip.
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q python3-venv >>"$WORK/apt.log" 2>&1
    rm -rf "$VENV"
    python3 -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install -q --disable-pip-version-check -r "$HERE/requirements.txt" \
    >>"$WORK/venv.log" 2>&1 || { tail -5 "$WORK/venv.log" >&2; log "pip install failed (log: $WORK/venv.log)"; exit 1; }
# Byte-compile once, so that no timed run pays for compiling the tools' modules (this
# environment may set PYTHONDONTWRITEBYTECODE, under which nothing would be cached).
"$VENV/bin/python" -m compileall -q "$VENV/lib" >/dev/null 2>&1 || true
cp "$HERE/requirements.txt" "$VENV/requirements.installed"
