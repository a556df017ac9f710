#!/usr/bin/env python3
"""pydicom/deid over a tree: `deid_tree.py IN_DIR OUT_DIR` (run with the bench venv's python).

Applies deid's default recipe (`replace_identifiers` with no recipe, as `deid identifiers
--action put` does) to every file under IN_DIR, directory by directory, and saves each file at
the same relative path under OUT_DIR. deid's own command line writes every file flat into one
folder under its base name, so same-named files of different series would collide; mirroring
the tree is the smallest change that keeps every file (folder names are kept as they are, as
deid would keep them). The identifier `get` pass of `--action all` is skipped: the default
recipe does not need it (skipping it only makes deid faster).
"""

import logging
import os
import sys


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__.split("\n\n")[0])
    src, dst = sys.argv[1:]
    from deid.dicom import replace_identifiers
    from deid.logger import bot

    bot.level = 0  # quiet: no per-file warnings on the terminal
    logging.disable(logging.WARNING)
    count = 0
    for dirpath, dirnames, filenames in os.walk(src):
        dirnames.sort()
        files = [os.path.join(dirpath, f) for f in sorted(filenames)]
        if not files:
            continue
        out = os.path.join(dst, os.path.relpath(dirpath, src))
        os.makedirs(out, exist_ok=True)
        replace_identifiers(dicom_files=files, save=True, overwrite=True, output_folder=out)
        count += len(files)
    print(f"deid: {count} files -> {dst}")


if __name__ == "__main__":
    main()
