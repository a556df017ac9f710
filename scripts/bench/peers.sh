# shellcheck shell=bash disable=SC2034  # sourced by scripts/bench.sh, which uses these
# The batch de-identifiers compared by scripts/bench.sh, as shell commands (sourced by it).
#
# Each tool reads a tree and writes a de-identified copy. One worker: the whole corpus in one
# process (or pipeline). Two workers: deidfs export uses --jobs 2; every other tool runs as two
# processes at once, each over half of the files (a hard-linked copy of every other file, same
# relative paths), writing to OUT/1 and OUT/2.
#
# Needs: CORPUS, HALF1, HALF2, DEIDFS, KEY, CERT, REDACT, PY (the venv's python), BENCH_DIR.

PEERS=(cp deidfs gdcmanon dcmodify pixelmed dicognito deid dicom-anonymizer)

# What each command is, for the report.
declare -A PEER_WHAT=(
    [cp]="cp -r: no de-identification, the I/O floor"
    [deidfs]="deidfs export, policy basic (Basic Profile; names and UIDs keyed pseudonyms, paths pseudonymised)"
    [gdcmanon]="GDCM gdcmanon -e: PS3.15 Basic Profile, originals encrypted into (0400,0500) with a throwaway certificate; directory mode"
    [dcmodify]="cp -r, then DCMTK dcmodify on every file (in place): the usual PHI tags replaced or erased at all levels, private tags erased"
    [pixelmed]="PixelMed DeidentifyAndRedact (defaults, an empty redaction file), headless Java"
    [dicognito]="dicognito --output-directory --seed 1 (defaults)"
    [deid]="pydicom/deid default recipe (replace_identifiers), tree mirrored by scripts/bench/deid_tree.py"
    [dicom-anonymizer]="dicom-anonymizer defaults (private tags deleted), tree mirrored by scripts/bench/dicom_anonymizer_tree.py"
)

# The usual PHI tags for dcmodify: names and IDs replaced (every occurrence, also nested), the
# rest erased wherever it occurs, then all private elements.
DCMODIFY_ARGS=(
    -nb -ie -imt -q
    -ma "(0010,0010)=ANONYMOUS" -ma "(0010,0020)=ANONYMOUS"
    -ea "(0010,0030)" -ea "(0010,1000)" -ea "(0010,1001)" -ea "(0010,1002)"
    -ea "(0010,1040)" -ea "(0010,1060)" -ea "(0010,2154)"
    -ea "(0008,0050)" -ea "(0008,0080)" -ea "(0008,0081)" -ea "(0008,0090)"
    -ea "(0008,1010)" -ea "(0008,1048)" -ea "(0008,1050)" -ea "(0008,1070)"
    -ea "(0018,1000)" -ea "(0020,0010)"
    -ep
)

q() { printf '%q' "$1"; }

# one_cmd TOOL IN OUT: one process (or pipeline) de-identifying the tree IN into OUT.
one_cmd() {
    local tool=$1 in=$2 out=$3 a
    case $tool in
        cp) echo "cp -r $(q "$in") $(q "$out")" ;;
        gdcmanon) echo "gdcmanon -e -c $(q "$CERT") --continue -r -i $(q "$in") -o $(q "$out")" ;;
        dcmodify)
            a=""
            for x in "${DCMODIFY_ARGS[@]}"; do a+=" $(q "$x")"; done
            echo "cp -r $(q "$in") $(q "$out") && find $(q "$out") -type f -print0 | xargs -0 dcmodify$a" ;;
        pixelmed)
            echo "mkdir -p $(q "$out") && java -Djava.awt.headless=true -cp /usr/share/java/pixelmed.jar com.pixelmed.apps.DeidentifyAndRedact $(q "$in") $(q "$out") $(q "$REDACT")" ;;
        dicognito) echo "$(q "$PY") -m dicognito --output-directory $(q "$out") --seed 1 --quiet $(q "$in")" ;;
        deid) echo "$(q "$PY") $(q "$BENCH_DIR/deid_tree.py") $(q "$in") $(q "$out")" ;;
        dicom-anonymizer) echo "$(q "$PY") $(q "$BENCH_DIR/dicom_anonymizer_tree.py") $(q "$in") $(q "$out")" ;;
        *) return 1 ;;
    esac
}

# tool_cmd TOOL WORKERS OUT [IN]: the measured command over the corpus (or the tree IN, one
# worker only).
tool_cmd() {
    local tool=$1 workers=$2 out=$3 in=${4:-}
    if [[ $tool == deidfs ]]; then
        echo "$(q "$DEIDFS") export $(q "${in:-$CORPUS}") $(q "$out") --key-file $(q "$KEY") --policy basic --jobs $workers"
    elif [[ $workers == 1 ]]; then
        one_cmd "$tool" "${in:-$CORPUS}" "$out"
    else
        echo "mkdir -p $(q "$out"); ( $(one_cmd "$tool" "$HALF1" "$out/1") ) & p1=\$!; ( $(one_cmd "$tool" "$HALF2" "$out/2") ) & p2=\$!; wait \$p1 && wait \$p2"
    fi
}

# peer_version TOOL: one line.
peer_version() {
    case $1 in
        cp) cp --version | head -1 ;;
        deidfs) echo "deidfs $(git -C "$REPO" rev-parse --short HEAD 2>/dev/null)$(git -C "$REPO" diff --quiet HEAD -- src Cargo.toml 2>/dev/null || echo '+uncommitted src changes')" ;;
        gdcmanon) echo "gdcmanon $(dpkg-query -W -f '${Version}' libgdcm-tools 2>/dev/null)" ;;
        dcmodify) echo "dcmodify $(dpkg-query -W -f '${Version}' dcmtk 2>/dev/null)" ;;
        pixelmed) echo "pixelmed $(dpkg-query -W -f '${Version}' libpixelmed-java 2>/dev/null), $(java -version 2>&1 | head -1)" ;;
        dicognito) echo "dicognito $("$PY" -c 'import importlib.metadata as m; print(m.version("dicognito"), "pydicom", m.version("pydicom"))')" ;;
        deid) echo "deid $("$PY" -c 'import importlib.metadata as m; print(m.version("deid"), "pydicom", m.version("pydicom"))')" ;;
        dicom-anonymizer) echo "dicom-anonymizer $("$PY" -c 'import importlib.metadata as m; print(m.version("dicom-anonymizer"), "pydicom", m.version("pydicom"))')" ;;
    esac
}
