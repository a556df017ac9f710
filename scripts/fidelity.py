#!/usr/bin/env python3
"""What a researcher's tools get from the view, against what they get from the source.

    fidelity.py --source SRC --view VIEW --paths path_mapping.csv [--json] [--simpleitk]

`path_mapping.csv` is the key holder's crosswalk (`deidfs crosswalk --out DIR SRC`): source
and view paths of every visible file. The MR files are grouped by their view series folder,
and each series is converted by dcm2niix (`-b y -ba n -z n -f x`) from the source files and
from the view files, each in a folder of its own. Compared, per output:

  names     the same NIfTI, .bval, .bvec and .json files are written
  voxels    dimensions, voxel sizes, datatype, scaling (scl_slope, scl_inter), qform and
            sform, and every voxel byte are identical
  diffusion .bval and .bvec hold the same numbers (to 1e-4)
  sidecar   every BIDS sidecar field is kept with its value, except the fields that identify
            (IDENTIFYING: they are removed, shifted or pseudonymised on purpose)

With --simpleitk, SimpleITK's ImageSeriesReader reads each series from both sides too: same
size, spacing, origin, direction and voxels.

One JSON line per series (--json), or a table; exit status 1 when any series differs.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import os
import struct
import subprocess
import sys
import tempfile
from collections import defaultdict

import pydicom

# Sidecar fields that identify the patient, the site, the device or the time: removed,
# pseudonymised, shifted or cleaned by the view on purpose.
IDENTIFYING = {
    "PatientName", "PatientID", "PatientBirthDate", "PatientSex", "PatientAge",
    "PatientWeight", "PatientSize", "AccessionNumber", "StudyID", "StudyInstanceUID",
    "SeriesInstanceUID", "FrameOfReferenceUID", "StudyDescription", "SeriesDescription",
    "ProtocolName", "ImageComments", "InstitutionName", "InstitutionAddress",
    "InstitutionalDepartmentName", "StationName", "DeviceSerialNumber",
    "ReferringPhysicianName", "PerformingPhysicianName", "OperatorsName",
    "ProcedureStepDescription", "RequestedProcedureDescription", "AcquisitionDateTime",
    "AcquisitionDate", "StudyDate", "SeriesDate", "ContentDate", "InstanceCreationDate",
    "ConversionSoftware", "ConversionSoftwareVersion",
}


def nifti(path: str) -> dict:
    """The header fields that matter and a hash of the voxels of an uncompressed NIfTI-1."""
    with open(path, "rb") as f:
        raw = f.read()
    endian = "<" if struct.unpack("<i", raw[:4])[0] == 348 else ">"
    u = lambda fmt, off: struct.unpack(endian + fmt, raw[off:off + struct.calcsize(fmt)])
    dim = u("8h", 40)
    vox_offset = int(u("f", 108)[0])
    return {
        "dim": list(dim[: dim[0] + 1]),
        "datatype": u("h", 70)[0],
        "bitpix": u("h", 72)[0],
        "pixdim": [round(x, 5) for x in u("8f", 76)[1: dim[0] + 1]],
        "scl_slope": u("f", 112)[0],
        "scl_inter": u("f", 116)[0],
        "qform_code": u("h", 252)[0],
        "sform_code": u("h", 254)[0],
        "quatern": [round(x, 4) for x in u("6f", 256)],
        "srow": [round(x, 4) for x in u("12f", 280)],
        "voxels": hashlib.blake2b(raw[vox_offset:], digest_size=16).hexdigest(),
    }


def numbers(path: str) -> list[float]:
    with open(path) as f:
        return [float(x) for x in f.read().split()]


def convert(files: list[str], work: str, side: str) -> tuple[str, dict[str, str]]:
    """dcm2niix on a folder holding `files` as symlinks numbered in the order given (a source
    file and its view have the same number); its outputs by name."""
    inp, out = os.path.join(work, side, "in"), os.path.join(work, side, "out")
    os.makedirs(inp)
    os.makedirs(out)
    for i, f in enumerate(files):
        os.symlink(os.path.abspath(f), os.path.join(inp, f"{i:05d}.dcm"))
    proc = subprocess.run(["dcm2niix", "-b", "y", "-ba", "n", "-z", "n", "-f", "x", "-o", out, inp],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    return proc.stdout, {n: os.path.join(out, n) for n in sorted(os.listdir(out))}


def stems(outputs: dict[str, str]) -> dict[str, dict[str, str]]:
    """dcm2niix's outputs by volume: stem -> {".nii": path, ".json": path, ...}."""
    out: dict[str, dict[str, str]] = defaultdict(dict)
    for name, path in outputs.items():
        stem, ext = os.path.splitext(name)
        out[stem][ext] = path
    return {k: v for k, v in out.items() if ".nii" in v}


def sidecar(paths: dict[str, str]) -> dict:
    if ".json" not in paths:
        return {}
    with open(paths[".json"]) as f:
        return {k: v for k, v in json.load(f).items() if k not in IDENTIFYING}


def pair(s: dict, v: dict) -> list[tuple[str, str]]:
    """Source and view volumes paired (dcm2niix names volumes in the order it meets them,
    which may differ): identical voxels, header and sidecar first; then identical voxels and
    header; then identical voxels; the rest by name."""
    sv = {k: (nifti(x[".nii"]), sidecar(x)) for k, x in s.items()}
    vv = {k: (nifti(x[".nii"]), sidecar(x)) for k, x in v.items()}
    same = [
        lambda a, b: a == b,
        lambda a, b: a[0] == b[0],
        lambda a, b: a[0]["voxels"] == b[0]["voxels"],
    ]
    pairs, left_s, left_v = [], sorted(s), sorted(v)
    for test in same:
        for a in list(left_s):
            match = next((b for b in left_v if test(sv[a], vv[b])), None)
            if match:
                pairs.append((a, match))
                left_s.remove(a)
                left_v.remove(match)
    return pairs + list(zip(left_s, left_v))


def compare_series(src_files: list[str], view_files: list[str], simpleitk: bool) -> dict:
    r: dict = {"files": len(src_files), "differences": [], "sidecar_lost": [],
               "sidecar_changed": [], "volumes": 0}
    with tempfile.TemporaryDirectory() as work:
        _, s = convert(src_files, work, "src")
        _, v = convert(view_files, work, "view")
        s, v = stems(s), stems(v)
        r["volumes"] = len(s)
        if len(s) != len(v):
            r["differences"].append(f"volumes: source {len(s)}, view {len(v)}")
        lost, changed = set(), set()
        for a, b in pair(s, v):
            x, y = s[a], v[b]
            na, nb = nifti(x[".nii"]), nifti(y[".nii"])
            for k in na:
                if na[k] != nb[k]:
                    r["differences"].append(f"{a}: {k} {na[k]} -> {nb[k]}")
            for ext in (".bval", ".bvec"):
                if (ext in x) != (ext in y):
                    r["differences"].append(f"{a}{ext}: {'lost' if ext in x else 'added'}")
                elif ext in x:
                    p, q = numbers(x[ext]), numbers(y[ext])
                    if len(p) != len(q) or any(abs(m - n) > 1e-4 for m, n in zip(p, q)):
                        r["differences"].append(f"{a}{ext}: diffusion table differs")
            if ".json" in x and ".json" in y:
                with open(x[".json"]) as f:
                    ja = json.load(f)
                with open(y[".json"]) as f:
                    jb = json.load(f)
                lost |= {f"{k} ({a})" for k in ja if k not in IDENTIFYING and k not in jb}
                changed |= {f"{k} ({a}: {ja[k]!r} -> {jb[k]!r})"[:160] for k in ja
                            if k not in IDENTIFYING and k in jb and ja[k] != jb[k]}
        r["sidecar_lost"], r["sidecar_changed"] = sorted(lost), sorted(changed)
        if simpleitk:
            r["differences"] += compare_simpleitk(src_files, view_files, work)
    r["same"] = not (r["differences"] or r["sidecar_lost"] or r["sidecar_changed"])
    return r


def compare_simpleitk(src_files: list[str], view_files: list[str], work: str) -> list[str]:
    """SimpleITK's ImageSeriesReader on every GDCM series of the folder, source against view
    (a series is known by the numbers of its files, the same on both sides)."""
    import SimpleITK as sitk  # noqa: PLC0415 - optional

    def series(side: str) -> dict:
        folder = os.path.join(work, side, "in")
        reader = sitk.ImageSeriesReader()
        out = {}
        for sid in reader.GetGDCMSeriesIDs(folder):
            names = reader.GetGDCMSeriesFileNames(folder, sid)
            key = tuple(sorted(os.path.basename(n) for n in names))
            try:
                reader.SetFileNames(names)
                img = reader.Execute()
                out[key] = {
                    "size": img.GetSize(), "spacing": [round(x, 5) for x in img.GetSpacing()],
                    "origin": [round(x, 4) for x in img.GetOrigin()],
                    "direction": [round(x, 5) for x in img.GetDirection()],
                    "voxels": hashlib.blake2b(sitk.GetArrayViewFromImage(img).tobytes(),
                                              digest_size=16).hexdigest(),
                }
            except RuntimeError as exc:
                out[key] = {"error": str(exc).strip().splitlines()[-1][:120]}
        return out

    sitk.ProcessObject.SetGlobalWarningDisplay(False)
    a, b = series("src"), series("view")
    diffs = []
    if sorted(a) != sorted(b):
        diffs.append(f"simpleitk: series {sorted(a)} -> {sorted(b)}")
    for key in sorted(set(a) & set(b)):
        for k in a[key]:
            if a[key][k] != b[key].get(k):
                diffs.append(f"simpleitk {','.join(key)}: {k} {a[key][k]} -> {b[key].get(k)}")
    return diffs


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--source", required=True)
    ap.add_argument("--view", required=True)
    ap.add_argument("--paths", required=True, help="path_mapping.csv from deidfs crosswalk")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--simpleitk", action="store_true")
    args = ap.parse_args()
    series: dict[str, list[tuple[str, str]]] = defaultdict(list)
    with open(args.paths, newline="") as f:
        for row in csv.DictReader(f):
            src = os.path.join(args.source, row["path_old"])
            view = os.path.join(args.view, row["path_new"])
            try:
                ds = pydicom.dcmread(src, stop_before_pixels=True)
            except Exception:  # noqa: BLE001 - not for dcm2niix
                continue
            if str(ds.get("Modality", "")) != "MR":
                continue
            series[os.path.dirname(row["path_new"])].append((src, view))
    failed = 0
    for folder, pairs in sorted(series.items(), key=lambda kv: sorted(kv[1])[0][0]):
        r = compare_series([p[0] for p in pairs], [p[1] for p in pairs], args.simpleitk)
        r["series"] = os.path.relpath(os.path.dirname(sorted(pairs)[0][0]), args.source) + \
            "/" + os.path.basename(sorted(pairs)[0][0])
        failed += not r["same"]
        if args.json:
            print(json.dumps(r), flush=True)
        else:
            status = "same" if r["same"] else "DIFFERS"
            print(f"{status:8} {r['series']} ({r['files']} files, {r['volumes']} volumes)")
            for d in r["differences"]:
                print(f"         {d}")
            if r["sidecar_lost"]:
                print(f"         sidecar lost: {', '.join(r['sidecar_lost'])}")
            if r["sidecar_changed"]:
                print(f"         sidecar changed: {', '.join(r['sidecar_changed'])}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
