#!/usr/bin/env python3
"""The skin surface of DICOM head series seen from the front, side by side in one PNG: what
anyone holding the slices can render and show to face-recognition software.

Usage: python3 scripts/render_face.py OUT.png FOLDER [FOLDER ...]

Each FOLDER holds one series (slices, or one enhanced multi-frame file); read with pydicom.
Every voxel above the skin threshold (CT: -500 HU; MR: 60) is placed in patient coordinates
(Image Position and Orientation, Pixel Spacing); per 1 mm square of the coronal plane the
most anterior one is kept (a depth map), shaded by its depth and lit from the front-left, so
a face reads as a face. Files the view refuses to read are left out (said on stderr).
Exit 3 when pydicom or numpy is missing.
"""

import os
import struct
import sys
import zlib

try:
    import numpy as np
    import pydicom
except ImportError as e:
    print(f"missing: {e.name}", file=sys.stderr)
    sys.exit(3)


def frames(ds):
    """(position, row_dir, col_dir, (row_spacing, col_spacing), values) of each frame."""
    pixels = ds.pixel_array.astype(np.float32)
    if int(getattr(ds, "NumberOfFrames", 1) or 1) == 1:
        pixels = pixels[None]
    shared = ds.SharedFunctionalGroupsSequence[0] if "SharedFunctionalGroupsSequence" in ds else None
    per_frame = ds.get("PerFrameFunctionalGroupsSequence")

    def find(k, macro, name):
        for group in ([per_frame[k]] if per_frame else []) + ([shared] if shared else []):
            if macro in group and name in group[macro][0]:
                return group[macro][0][name].value
        return ds.get(name)

    for k, values in enumerate(pixels):
        o = [float(v) for v in find(k, "PlaneOrientationSequence", "ImageOrientationPatient")]
        p = [float(v) for v in find(k, "PlanePositionSequence", "ImagePositionPatient")]
        s = [float(v) for v in find(k, "PixelMeasuresSequence", "PixelSpacing")]
        slope = float(find(k, "PixelValueTransformationSequence", "RescaleSlope") or 1)
        intercept = float(find(k, "PixelValueTransformationSequence", "RescaleIntercept") or 0)
        yield np.array(p), np.array(o[:3]), np.array(o[3:]), s, values * slope + intercept


REACH = 200  # millimetres either side of the origin, in x and z


def depth_map(folder):
    """Per (z, x) millimetre (z from the top of the grid) the most anterior skin y (LPS:
    anterior is -y); inf where there is none."""
    side = 2 * REACH + 1
    best = np.full(side * side, np.inf)
    for name in sorted(os.listdir(folder)):
        try:
            ds = pydicom.dcmread(os.path.join(folder, name))
        except OSError as e:
            print(f"{name}: not read ({e.strerror})", file=sys.stderr)
            continue
        skin = -500.0 if ds.Modality == "CT" else 60.0
        for p, row_dir, col_dir, (rs, cs), values in frames(ds):
            r, c = np.nonzero(values > skin)
            xyz = p + np.outer(c * cs, row_dir) + np.outer(r * rs, col_dir)
            x = np.clip(np.round(xyz[:, 0]).astype(np.int64) + REACH, 0, side - 1)
            z = np.clip(REACH - np.round(xyz[:, 2]).astype(np.int64), 0, side - 1)
            np.minimum.at(best, z * side + x, xyz[:, 1])
    return best.reshape(side, side)


def render(depth, rows, cols):
    """A grey image of the depth map (rows top to bottom = head to neck; columns = the
    patient's right to left as seen from the front), cropped to `rows` and `cols`."""
    depth = depth[rows, cols]
    known = np.isfinite(depth)
    near, far = depth[known].min(), depth[known].max()
    filled = np.where(known, depth, far)
    gy, gx = np.gradient(filled)
    normal = np.stack([-gx, -gy, np.ones_like(gx)])
    normal /= np.linalg.norm(normal, axis=0)
    light = np.array([-0.4, -0.4, 0.82])
    lambert = np.clip(np.tensordot(light, normal, axes=1), 0, 1)
    shade = 0.35 + 0.65 * (far - filled) / max(far - near, 1e-6)
    image = np.where(known, 255 * shade * (0.3 + 0.7 * lambert), 0)
    return np.clip(image, 0, 255).astype(np.uint8)


def write_png(path, image):
    height, width = image.shape
    raw = b"".join(b"\x00" + image[r].tobytes() for r in range(height))

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n")
        f.write(chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)))
        f.write(chunk(b"IDAT", zlib.compress(raw, 9)))
        f.write(chunk(b"IEND", b""))


def main():
    if len(sys.argv) < 3:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    maps = [depth_map(folder) for folder in sys.argv[2:]]
    seen = np.any([np.isfinite(m) for m in maps], axis=0)
    zs, xs = np.nonzero(seen)
    rows, cols = slice(zs.min(), zs.max() + 1), slice(xs.min(), xs.max() + 1)
    gap = np.zeros((zs.max() - zs.min() + 1, 8), dtype=np.uint8)
    panels = []
    for m in maps:
        panels += [render(m, rows, cols), gap]
    write_png(sys.argv[1], np.hstack(panels[:-1]))


if __name__ == "__main__":
    main()
