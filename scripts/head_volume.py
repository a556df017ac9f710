#!/usr/bin/env python3
"""Real head volumes for the defacing tests, from pydeface's template (PyPI `pydeface`,
MIT licence: `data/mean_reg2mean.nii.gz`, a mean T1 head, and `data/facemask.nii.gz`, 0 on
the face), written as slices in patient coordinates (LPS) the way a DICOM series holds them.

Usage: python3 scripts/head_volume.py OUT_DIR

Writes, for each of `mr-axial`, `mr-sagittal`, `ct-axial`, `ct-sagittal`:
  NAME.json   {"cols", "rows", "row_dir", "col_dir", "row_spacing", "col_spacing",
               "positions": [[x, y, z], ...], "modality": "MR"|"CT"}
  NAME.f32    the values, slice after slice, row after row (float32, little endian)
  NAME.labels one byte per voxel: bit 0 the brain, bit 1 the face (pydeface's mask), bit 2
              the head; a reference segmentation made here with scipy, independent of the
              Rust code under test
The CT is a pseudo-CT derived from the T1 and the labels, in Hounsfield units: air -1000,
brain 20-45 (from the T1 intensity), its ventricles 8, what is dark in the head bone (900),
fat -90, the rest soft tissue 40.
Exit 3 when pydeface, nibabel or scipy is missing (the caller skips the tier).
"""

import json
import os
import sys

try:
    import nibabel as nb
    import numpy as np
    import pydeface
    from scipy import ndimage
except ImportError as e:  # the test tier says it was skipped
    print(f"missing: {e.name}", file=sys.stderr)
    sys.exit(3)


def data(name):
    return os.path.join(os.path.dirname(pydeface.__file__), "data", name)


def labels_of(t1):
    head = t1 > 0.08 * np.percentile(t1, 99)
    lab, n = ndimage.label(head)
    head = lab == (np.argmax(np.bincount(lab.ravel())[1:]) + 1)
    head = ndimage.binary_fill_holes(head)
    # Tissue (grey and white matter, scalp) brighter than fluid and bone.
    tissue = head & (t1 > 0.4 * np.percentile(t1[head], 95))
    core = ndimage.binary_erosion(tissue, iterations=7)
    lab, n = ndimage.label(core)
    # The brain: the part at the middle of the head's upper half.
    zs = np.nonzero(head.any(axis=(0, 1)))[0]
    z = zs[-1] - (zs[-1] - zs[0]) // 4
    xs, ys = np.nonzero(head[:, :, z])
    seed = (int(xs.mean()), int(ys.mean()), int(z))
    part = lab == lab[seed]
    brain = ndimage.binary_dilation(part, iterations=7) & tissue
    brain = ndimage.binary_fill_holes(brain)
    # In this blurred mean head the cerebellum joins the neck's muscles: the brain ends at
    # its narrowest cross-section below its centre (the foramen magnum).
    # (Axial planes of this template: k; about 1 mm each; searched 115 to 150 mm below the top.)
    area = brain.sum(axis=(0, 1))
    top = int(np.nonzero(area)[0][-1])
    lo, hi = max(top - 150, 0), max(top - 115, 1)
    floor = lo + int(np.argmin(area[lo:hi]))
    brain[:, :, :floor] = False
    return head, brain


def pseudo_ct(t1, head, brain):
    """HU from the T1 classes: dark in the head is bone (the skull, whole around the brain as
    a real one is; sinuses too, which a CT would show as air), bright outside the brain fat,
    the rest soft tissue; the brain 20-45 by its T1, its dark parts (ventricles) fluid."""
    ct = np.full(t1.shape, -1000.0, dtype=np.float32)
    hi = np.percentile(t1[head], 95)
    dark = t1 < 0.35 * hi
    ct[head] = 40.0
    ct[head & dark] = 900.0
    ct[head & (t1 > 0.8 * hi) & ~brain] = -90.0
    ct[brain] = 20.0 + 25.0 * np.clip(t1[brain] / hi, 0, 1)
    ct[brain & dark] = 8.0
    return ct


def lps(v):
    return [-float(v[0]), -float(v[1]), float(v[2])]


def write(out, name, vol, labels, affine, modality, plane):
    """Slices of `vol` (RAS voxel axes i, j, k) in the given plane, with their geometry."""
    ni, nj, nk = vol.shape
    a = affine[:3, :3]
    o = affine[:3, 3]
    if plane == "axial":
        # Slices along k (inferior to superior); columns toward the patient's left (-i),
        # rows toward posterior (-j).
        order = lambda arr: arr[::-1, ::-1, :].transpose(2, 1, 0)
        first = lambda k: o + a @ np.array([ni - 1, nj - 1, k])
        row_dir, col_dir = -a[:, 0], -a[:, 1]
        count = nk
    else:
        # Sagittal: slices along i (right to left: -i), columns toward posterior (-j), rows
        # toward inferior (-k).
        order = lambda arr: arr[::-1, ::-1, ::-1].transpose(0, 2, 1)
        first = lambda s: o + a @ np.array([ni - 1 - s, nj - 1, nk - 1])
        row_dir, col_dir = -a[:, 1], -a[:, 2]
        count = ni
    col_spacing = float(np.linalg.norm(row_dir))
    row_spacing = float(np.linalg.norm(col_dir))
    slices = order(vol).astype("<f4")
    lab = order(labels).astype(np.uint8)
    geometry = {
        "cols": int(slices.shape[2]),
        "rows": int(slices.shape[1]),
        "row_dir": lps(row_dir / col_spacing),
        "col_dir": lps(col_dir / row_spacing),
        "row_spacing": row_spacing,
        "col_spacing": col_spacing,
        "positions": [lps(first(s)) for s in range(count)],
        "modality": modality,
    }
    with open(os.path.join(out, name + ".json"), "w") as f:
        json.dump(geometry, f)
    slices.tofile(os.path.join(out, name + ".f32"))
    lab.tofile(os.path.join(out, name + ".labels"))


def main():
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    img = nb.load(data("mean_reg2mean.nii.gz"))
    t1 = np.asanyarray(img.dataobj).astype(np.float32)
    face = np.asanyarray(nb.load(data("facemask.nii.gz")).dataobj) < 0.5
    head, brain = labels_of(t1)
    # pydeface's face mask holds no brain by design: what the segmentation took there is the
    # orbits' fat and muscles.
    brain &= ~face
    # Nor is there brain within 12 mm of the skin (scalp, skull): what is, is the temporal
    # muscles.
    brain &= ndimage.distance_transform_edt(head) > 12
    labels = brain.astype(np.uint8) | (face.astype(np.uint8) << 1) | (head.astype(np.uint8) << 2)
    ct = pseudo_ct(t1, head, brain)
    for plane in ("axial", "sagittal"):
        write(out, f"mr-{plane}", t1, labels, img.affine, "MR", plane)
        write(out, f"ct-{plane}", ct, labels, img.affine, "CT", plane)
    print(json.dumps({"brain_cc": float(brain.sum() * np.prod(img.header.get_zooms()) / 1000)}))


if __name__ == "__main__":
    main()
