#!/usr/bin/env python3
"""Generate src/policy/generated.rs from the shared PS3.15 reference CSVs.

Inputs (paths relative to the repository root):
  ../shared/reference/ps3.15-table-E.1-1.csv
      PS3.15 Table E.1-1 (Application Level Confidentiality Profile Attributes).
  ../shared/reference/ps3.15-table-E.3.10-1-safe-private.csv
      PS3.15 Table E.3.10-1 (Safe Private Attributes).

Output:
  src/policy/generated.rs  (PROFILE_TABLE and SAFE_PRIVATE; types live in
  src/policy/table_types.rs, which is hand-written).

Usage:
  python3 scripts/gen_profile_table.py            # (re)write generated.rs
  python3 scripts/gen_profile_table.py --check    # exit 1 if generated.rs is stale
  python3 scripts/gen_profile_table.py -v         # also list input oddities found

Only the Python standard library is used. Output is deterministic (no
timestamps); it depends only on the bytes of the two input files.

Exit status: 0 ok / up to date, 1 --check found a difference, 2 bad input.
"""

from __future__ import annotations

import argparse
import csv
import difflib
import hashlib
import io
import re
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent

PROFILE_CSV_REL = "../shared/reference/ps3.15-table-E.1-1.csv"
SAFE_PRIVATE_CSV_REL = "../shared/reference/ps3.15-table-E.3.10-1-safe-private.csv"
OUTPUT_REL = "src/policy/generated.rs"

# The 10 option columns, in the order they appear in Table E.1-1 and in
# ProfileRow::options.
OPTION_COLUMNS = [
    "rtnSafePrivOpt",
    "rtnUIDsOpt",
    "rtnDevIdOpt",
    "rtnInstIdOpt",
    "rtnPatCharsOpt",
    "rtnLongFullDatesOpt",
    "rtnLongModifDatesOpt",
    "cleanDescOpt",
    "cleanStructContOpt",
    "cleanGraphOpt",
]
PROFILE_REQUIRED_COLUMNS = ["tag", "name", "retired", "basicProfile", *OPTION_COLUMNS]
SAFE_PRIVATE_REQUIRED_COLUMNS = ["Data Element", "Private Creator", "VR"]

EXPECTED_PROFILE_ROWS = 649
EXPECTED_SAFE_PRIVATE_ROWS = 130

EXACT_TAG_RE = re.compile(r"^\(([0-9A-Fa-f]{4}),([0-9A-Fa-f]{4})\)$")
# (50xx,xxxx), (60xx,3000), (60xx,4000): repeating groups 50xx / 60xx.
REPEATING_TAG_RE = re.compile(r"^\(([0-9A-Fa-f]{2})xx,(xxxx|[0-9A-Fa-f]{4})\)$")
ALL_PRIVATE_TAG = "(gggg,eeee)odd"
# Safe private elements: (gggg,xxEE), EE the element's low byte.
SAFE_PRIVATE_TAG_RE = re.compile(r"^\(([0-9A-Fa-f]{4}),xx([0-9A-Fa-f]{2})\)$")

# Action codes that may appear in the action columns (PS3.15 E.1.1).
KNOWN_ACTIONS = {"", "D", "Z", "X", "K", "C", "U", "X/D", "X/Z", "X/Z/D", "Z/D", "X/Z/U*"}
KNOWN_VRS = {
    "AE", "AS", "AT", "CS", "DA", "DS", "DT", "FD", "FL", "IS", "LO", "LT",
    "OB", "OD", "OF", "OL", "OV", "OW", "PN", "SH", "SL", "SQ", "SS", "ST",
    "SV", "TM", "UC", "UI", "UL", "UN", "UR", "US", "UT", "UV",
}


class InputError(Exception):
    pass


def rust_str(s: str) -> str:
    """A Rust string literal for s."""
    out = ['"']
    for ch in s:
        if ch == "\\":
            out.append("\\\\")
        elif ch == '"':
            out.append('\\"')
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\r":
            out.append("\\r")
        elif ch == "\t":
            out.append("\\t")
        elif ord(ch) < 0x20 or ord(ch) == 0x7F or 0x80 <= ord(ch) < 0xA0:
            out.append("\\u{%x}" % ord(ch))
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def read_csv(path: Path, required: list[str]) -> tuple[list[dict[str, str]], str]:
    """Rows of a CSV file (dicts) and the sha256 of its bytes."""
    try:
        data = path.read_bytes()
    except OSError as e:
        raise InputError(f"cannot read {path}: {e}") from e
    sha = hashlib.sha256(data).hexdigest()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise InputError(f"{path}: not UTF-8: {e}") from e
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = [h.strip() for h in (reader.fieldnames or [])]
    missing = [c for c in required if c not in header]
    if missing:
        raise InputError(f"{path}: missing column(s) {missing}; header is {header}")
    reader.fieldnames = header
    rows = []
    for lineno, row in enumerate(reader, start=2):
        if None in row:
            raise InputError(f"{path}:{lineno}: more fields than the header")
        if any(v is None for v in row.values()):
            raise InputError(f"{path}:{lineno}: fewer fields than the header")
        row["__line__"] = str(lineno)
        rows.append(row)
    return rows, sha


def field(row: dict[str, str], col: str, notes: list[str], where: str) -> str:
    raw = row[col]
    v = raw.strip()
    if v != raw:
        notes.append(f"{where}: column {col!r}: trimmed whitespace from {raw!r}")
    return v


def tag_pattern(tag: str, where: str) -> str:
    """Rust TagPattern expression for a Table E.1-1 tag string."""
    m = EXACT_TAG_RE.match(tag)
    if m:
        return "TagPattern::Exact(0x%04X, 0x%04X)" % (int(m[1], 16), int(m[2], 16))
    m = REPEATING_TAG_RE.match(tag)
    if m:
        base = int(m[1], 16) << 8
        if base % 2:
            raise InputError(f"{where}: repeating group {tag!r} has an odd base group")
        element = "None" if m[2] == "xxxx" else "Some(0x%04X)" % int(m[2], 16)
        return "TagPattern::RepeatingGroup { base: 0x%04X, element: %s }" % (base, element)
    if tag == ALL_PRIVATE_TAG:
        return "TagPattern::AllPrivate"
    raise InputError(f"{where}: unrecognised tag {tag!r}")


def profile_rows(path: Path, notes: list[str]) -> tuple[list[str], str]:
    rows, sha = read_csv(path, PROFILE_REQUIRED_COLUMNS)
    out = []
    seen: dict[str, str] = {}
    for row in rows:
        where = f"{path.name}:{row['__line__']}"
        tag = field(row, "tag", notes, where)
        if tag in seen:
            raise InputError(f"{where}: duplicate tag {tag} (first at line {seen[tag]})")
        seen[tag] = row["__line__"]
        name = field(row, "name", notes, where)
        retired_s = field(row, "retired", notes, where)
        if retired_s not in ("Y", "N"):
            raise InputError(f"{where}: retired must be Y or N, got {retired_s!r}")
        basic = field(row, "basicProfile", notes, where)
        if not basic:
            raise InputError(f"{where}: empty basicProfile action for {tag}")
        options = [field(row, c, notes, where) for c in OPTION_COLUMNS]
        for col, v in zip(["basicProfile", *OPTION_COLUMNS], [basic, *options]):
            if v not in KNOWN_ACTIONS:
                notes.append(f"{where}: {tag} column {col}: unusual action code {v!r} (kept verbatim)")
        out.append(
            "    ProfileRow { tag: %s, name: %s, retired: %s, basic: %s, options: [%s] },"
            % (
                tag_pattern(tag, where),
                rust_str(name),
                "true" if retired_s == "Y" else "false",
                rust_str(basic),
                ", ".join(rust_str(o) for o in options),
            )
        )
    if len(out) != EXPECTED_PROFILE_ROWS:
        notes.append(f"{path.name}: {len(out)} rows (expected {EXPECTED_PROFILE_ROWS})")
    return out, sha


def safe_private_rows(path: Path, notes: list[str]) -> tuple[list[str], str]:
    rows, sha = read_csv(path, SAFE_PRIVATE_REQUIRED_COLUMNS)
    out = []
    # (group, element, creator) -> (vr, line)
    seen: dict[tuple[int, int, str], tuple[str, str]] = {}
    lowercase_hex = []
    empty_vr = []
    for row in rows:
        where = f"{path.name}:{row['__line__']}"
        elem = field(row, "Data Element", notes, where)
        creator = field(row, "Private Creator", notes, where)
        vr = field(row, "VR", notes, where)
        m = SAFE_PRIVATE_TAG_RE.match(elem)
        if not m:
            raise InputError(f"{where}: data element {elem!r} is not of the form (gggg,xxEE)")
        if (m[1] + m[2]) != (m[1] + m[2]).upper():
            lowercase_hex.append(elem)
        group, element = int(m[1], 16), int(m[2], 16)
        if group % 2 == 0 or group <= 0x0008 or group == 0xFFFF:
            raise InputError(f"{where}: {elem} is not in a private (odd) group")
        if not creator:
            raise InputError(f"{where}: {elem} has an empty private creator")
        if vr == "":
            empty_vr.append(f"{elem} {creator}")
        elif vr not in KNOWN_VRS:
            raise InputError(f"{where}: {elem}: unknown VR {vr!r}")
        key = (group, element, creator)
        if key in seen:
            prev_vr, prev_line = seen[key]
            if prev_vr != vr:
                raise InputError(
                    f"{where}: {elem} {creator!r} duplicates line {prev_line} with a different VR "
                    f"({vr!r} vs {prev_vr!r})"
                )
            notes.append(f"{where}: {elem} {creator!r} duplicates line {prev_line}; dropped")
            continue
        seen[key] = (vr, row["__line__"])
        out.append(
            "    SafePrivateRow { group: 0x%04X, element: 0x%02X, creator: %s, vr: %s },"
            % (group, element, rust_str(creator), rust_str(vr))
        )
    if lowercase_hex:
        notes.append(
            f"{path.name}: {len(lowercase_hex)} data element(s) written with lower-case hex "
            f"(parsed case-insensitively): {', '.join(lowercase_hex)}"
        )
    if empty_vr:
        notes.append(
            f"{path.name}: {len(empty_vr)} row(s) have no VR in the standard's table "
            f"(emitted as vr: \"\"): {'; '.join(empty_vr)}"
        )
    if len(out) != EXPECTED_SAFE_PRIVATE_ROWS:
        notes.append(f"{path.name}: {len(out)} rows (expected {EXPECTED_SAFE_PRIVATE_ROWS})")
    return out, sha


def generate(notes: list[str]) -> str:
    profile_path = (REPO_ROOT / PROFILE_CSV_REL).resolve()
    safe_path = (REPO_ROOT / SAFE_PRIVATE_CSV_REL).resolve()
    profile, profile_sha = profile_rows(profile_path, notes)
    safe, safe_sha = safe_private_rows(safe_path, notes)
    lines = [
        "// @generated by scripts/gen_profile_table.py -- DO NOT EDIT.",
        "// Regenerate with `python3 scripts/gen_profile_table.py`; CI runs it with `--check`.",
        "//",
        "// Inputs (relative to the repository root):",
        f"//   {PROFILE_CSV_REL}",
        f"//     sha256 {profile_sha}",
        f"//   {SAFE_PRIVATE_CSV_REL}",
        f"//     sha256 {safe_sha}",
        "//",
        f"// PROFILE_TABLE: PS3.15 Table E.1-1, {len(profile)} rows in CSV order. `options` are the",
        "// 10 option columns in CSV order: " + ", ".join(OPTION_COLUMNS[:3]) + ",",
        "// " + ", ".join(OPTION_COLUMNS[3:7]) + ",",
        "// " + ", ".join(OPTION_COLUMNS[7:]) + ".",
        f"// SAFE_PRIVATE: PS3.15 Table E.3.10-1, {len(safe)} rows in CSV order; `element` is the low",
        "// byte EE of (gggg,xxEE). An empty `vr` means the standard's table gives none.",
        "",
        "use super::table_types::{ProfileRow, SafePrivateRow, TagPattern};",
        "",
        "#[rustfmt::skip]",
        "pub static PROFILE_TABLE: &[ProfileRow] = &[",
        *profile,
        "];",
        "",
        "#[rustfmt::skip]",
        "pub static SAFE_PRIVATE: &[SafePrivateRow] = &[",
        *safe,
        "];",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--check", action="store_true",
                    help=f"do not write; exit 1 if {OUTPUT_REL} differs from what would be generated")
    ap.add_argument("-v", "--verbose", action="store_true", help="list oddities found in the inputs")
    args = ap.parse_args(argv)

    notes: list[str] = []
    try:
        text = generate(notes)
    except InputError as e:
        print(f"gen_profile_table: error: {e}", file=sys.stderr)
        return 2
    if args.verbose:
        for n in notes:
            print(f"gen_profile_table: note: {n}", file=sys.stderr)

    out_path = REPO_ROOT / OUTPUT_REL
    if args.check:
        try:
            current = out_path.read_text(encoding="utf-8")
        except FileNotFoundError:
            print(f"gen_profile_table: {OUTPUT_REL} does not exist; "
                  f"run python3 scripts/gen_profile_table.py", file=sys.stderr)
            return 1
        if current == text:
            return 0
        diff = list(difflib.unified_diff(
            current.splitlines(keepends=True), text.splitlines(keepends=True),
            fromfile=f"{OUTPUT_REL} (committed)", tofile=f"{OUTPUT_REL} (regenerated)", n=1))
        print(f"gen_profile_table: {OUTPUT_REL} is out of date; "
              f"run python3 scripts/gen_profile_table.py", file=sys.stderr)
        limit = 60
        sys.stderr.writelines(diff[:limit])
        if len(diff) > limit:
            print(f"... ({len(diff) - limit} more diff lines)", file=sys.stderr)
        return 1

    out_path.parent.mkdir(parents=True, exist_ok=True)
    if out_path.exists() and out_path.read_text(encoding="utf-8") == text:
        print(f"gen_profile_table: {OUTPUT_REL} already up to date")
    else:
        out_path.write_text(text, encoding="utf-8", newline="\n")
        print(f"gen_profile_table: wrote {OUTPUT_REL}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
