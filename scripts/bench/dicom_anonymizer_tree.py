#!/usr/bin/env python3
"""dicom-anonymizer over a tree: `dicom_anonymizer_tree.py IN_DIR OUT_DIR` (bench venv python).

Calls `anonymize_dicom_file(in, out, {}, True)` for every file under IN_DIR, saving it at the
same relative path under OUT_DIR: exactly what the `dicom-anonymizer IN OUT` command does for
each file of a folder (default actions, private tags deleted), except that the command does not
descend into sub-folders. Folder and file names are kept, as the command keeps them.
"""

import os
import sys


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__.split("\n\n")[0])
    src, dst = sys.argv[1:]
    from dicomanonymizer.simpledicomanonymizer import anonymize_dicom_file

    count = 0
    for dirpath, dirnames, filenames in os.walk(src):
        dirnames.sort()
        out = os.path.join(dst, os.path.relpath(dirpath, src))
        os.makedirs(out, exist_ok=True)
        for f in sorted(filenames):
            anonymize_dicom_file(os.path.join(dirpath, f), os.path.join(out, f), {}, True)
            count += 1
    print(f"dicom-anonymizer: {count} files -> {dst}")


if __name__ == "__main__":
    main()
