#!/usr/bin/env python3
"""How much of the corpus' fake PHI a de-identified copy still holds.

    phi_scan.py TOKENS DIR [--json OUT.json] [--label NAME]

TOKENS is the generator's list (`gen_corpus --mix pacs --phi-tokens`): lines of
`category<TAB>kind<TAB>value`. Every file under DIR is searched byte for byte (headers, pixel
data, anything a tool wrote), and so is every file and folder name under DIR. Kind `text`
matches anywhere; kind `number` (MRNs, dates) only with no digit or '.' on either side, so that
a date inside a UID's digits does not count. The search is GNU grep (-F for text, -P for
numbers) in the C locale, which reads ~1 GB/s; stdlib Python only.

Prints one line, and writes the full result as JSON: tokens left of all (by category), files
holding any, names holding any, and which values were found (they are fake).
"""

import argparse
import collections
import json
import os
import re
import subprocess
import sys
import tempfile


def load_tokens(path):
    tokens = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            if not line:
                continue
            category, kind, value = line.split("\t")
            if kind not in ("text", "number"):
                sys.exit(f"phi_scan: {path}: unknown kind {kind!r}")
            tokens.append((category, kind, value))
    return tokens


def number_regex(values):
    return "(?<![0-9.])(?:" + "|".join(re.escape(v) for v in sorted(values)) + ")(?![0-9.])"


def grep(argv, text=None):
    """grep's output (C locale); exit 1 (no match) is not an error."""
    p = subprocess.run(
        ["grep", "-a", "-o", *argv],
        input=None if text is None else text.encode(errors="surrogateescape"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=dict(os.environ, LC_ALL="C"),
    )
    if p.returncode not in (0, 1):
        sys.exit(f"phi_scan: grep failed: {p.stderr.decode(errors='replace')}")
    return p.stdout


def grep_tree(args, root):
    """(file, token) pairs from `grep -r -o -Z ARGS root`."""
    hits = []
    for line in grep(["-r", "-Z", *args, "--", root]).split(b"\n"):
        if not line:
            continue
        name, _, token = line.partition(b"\0")
        hits.append((name.decode(errors="replace"), token.decode(errors="replace")))
    return hits


def grep_lines(args, text):
    """Tokens found in `text` (one name per line) by `grep -o ARGS`."""
    out = []
    for line in grep(["-n", *args], text).decode(errors="replace").splitlines():
        n, _, token = line.partition(":")
        out.append((int(n), token))
    return out


def scan(tokens, root):
    text = sorted({v for _, k, v in tokens if k == "text"})
    numbers = sorted({v for _, k, v in tokens if k == "number"})
    with tempfile.NamedTemporaryFile("w", suffix=".tokens", delete=False) as f:
        f.write("\n".join(text) + "\n")
        text_file = f.name
    try:
        searches = []
        if text:
            searches.append(["-F", "-f", text_file])
        if numbers:
            searches.append(["-P", "-e", number_regex(numbers)])
        content = []
        for s in searches:
            content += grep_tree(s, root)
        names = []
        for dirpath, dirnames, filenames in os.walk(root):
            for n in dirnames + filenames:
                names.append(os.path.relpath(os.path.join(dirpath, n), root))
        listing = "\n".join(names) + "\n"
        in_names = []
        for s in searches:
            in_names += grep_lines(s, listing)
    finally:
        os.unlink(text_file)

    files, size = 0, 0
    for dirpath, _, filenames in os.walk(root):
        for n in filenames:
            files += 1
            size += os.lstat(os.path.join(dirpath, n)).st_size

    category_of = collections.defaultdict(set)
    for c, _, v in tokens:
        category_of[v].add(c)
    total_by_cat = collections.Counter(c for c, _, _ in tokens)

    def summary(found_values):
        by_cat = {}
        for c in sorted(total_by_cat):
            vals = sorted(v for v in found_values if c in category_of[v])
            by_cat[c] = {"found": len(vals), "total": total_by_cat[c], "values": vals}
        return by_cat

    content_values = {t for _, t in content}
    name_values = {t for _, t in in_names}
    all_values = content_values | name_values
    return {
        "dir": root,
        "files": files,
        "bytes": size,
        "tokens_total": len({v for _, _, v in tokens}),
        "tokens_left": len(all_values),
        "content": {
            "tokens_found": len(content_values),
            "files_with_phi": len({f for f, _ in content}),
            "matches": len(content),
            "by_category": summary(content_values),
        },
        "names": {
            "tokens_found": len(name_values),
            "entries": len(names),
            "entries_with_phi": len({n for n, _ in in_names}),
            "by_category": summary(name_values),
        },
        "by_category": summary(all_values),
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("tokens")
    ap.add_argument("dir")
    ap.add_argument("--json")
    ap.add_argument("--label", default="")
    a = ap.parse_args()
    if not os.path.isdir(a.dir):
        sys.exit(f"phi_scan: {a.dir}: not a directory")
    r = scan(load_tokens(a.tokens), a.dir)
    r["label"] = a.label
    if a.json:
        with open(a.json, "w") as f:
            json.dump(r, f, indent=1)
    left = [c for c, v in r["by_category"].items() if v["found"]]
    print(
        f"{a.label or a.dir}: {r['files']} files; PHI tokens left {r['tokens_left']}/{r['tokens_total']} "
        f"(contents {r['content']['tokens_found']}, in {r['content']['files_with_phi']} files; "
        f"names {r['names']['tokens_found']}, in {r['names']['entries_with_phi']} of {r['names']['entries']} entries)"
        + (f"; categories: {', '.join(left)}" if left else "")
    )


if __name__ == "__main__":
    main()
