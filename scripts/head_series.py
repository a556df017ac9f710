#!/usr/bin/env python3
"""Head volumes (from scripts/head_volume.py) written as DICOM series, one folder each, the
way a scanner writes them: one CT or MR Image Storage file per slice, Image Position and
Orientation (Patient), Pixel Spacing, 16-bit stored values (CT: unsigned with Rescale
Intercept -1024; MR: unsigned, no rescale), Body Part Examined HEAD.

Usage: python3 scripts/head_series.py VOLUMES_DIR OUT_DIR NAME[:VARIANT] ...

VARIANT: `native` (Explicit VR Little Endian, the default), `rle` (RLE Lossless, encoded
by pydicom), `missing` (native, one slice in the middle left out), `enhanced` (one Enhanced
CT or MR Image Storage file of every slice, frames in reverse order, each frame's place in
the per-frame functional groups and the spacing, orientation and rescale in the shared
ones, as enhanced scanners write them), `echoes` (enhanced, with every position twice: a
second echo, here of the same values, after the first). Each NAME:VARIANT goes to OUT_DIR/NAME-VARIANT/
(NNNN.dcm, or volume.dcm). Exit 3 when pydicom or numpy is missing.
"""

import json
import os
import sys

try:
    import numpy as np
    import pydicom
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, RLELossless
except ImportError as e:  # the test tier says it was skipped
    print(f"missing: {e.name}", file=sys.stderr)
    sys.exit(3)

CT_IMAGE = "1.2.840.10008.5.1.4.1.1.2"
MR_IMAGE = "1.2.840.10008.5.1.4.1.1.4"
ENHANCED_CT = "1.2.840.10008.5.1.4.1.1.2.1"
ENHANCED_MR = "1.2.840.10008.5.1.4.1.1.4.1"


def uid(*parts):
    # Deterministic UIDs under the 2.25 root: the same series every run.
    n = int.from_bytes(repr(parts).encode()[:15].ljust(15, b"0"), "big")
    return f"2.25.{n}"


def write_series(volumes, out, name, variant):
    with open(os.path.join(volumes, name + ".json")) as f:
        g = json.load(f)
    cols, rows, n = g["cols"], g["rows"], len(g["positions"])
    values = np.fromfile(os.path.join(volumes, name + ".f32"), dtype="<f4").reshape(n, rows, cols)
    ct = g["modality"] == "CT"
    if ct:
        stored = np.clip(np.round(values + 1024.0), 0, 4095).astype(np.uint16)
    else:
        stored = np.clip(np.round(values), 0, 65535).astype(np.uint16)
    folder = os.path.join(out, f"{name}-{variant}")
    os.makedirs(folder, exist_ok=True)
    study, series, frame = uid(name, "study"), uid(name, variant, "series"), uid(name, "for")
    if variant in ("enhanced", "echoes"):
        echoes = 2 if variant == "echoes" else 1
        path = os.path.join(folder, "volume.dcm")
        write_enhanced(g, stored, ct, path, (study, series, frame), echoes)
        return
    skip = n // 2 if variant == "missing" else None
    for k in range(n):
        if k == skip:
            continue
        ds = head_dataset(g, (study, series, frame), "axial" if "axial" in name else "sagittal")
        ds.SOPClassUID = CT_IMAGE if ct else MR_IMAGE
        ds.SOPInstanceUID = uid(name, variant, k)
        ds.SeriesNumber = 2
        ds.InstanceNumber = k + 1
        ds.ImagePositionPatient = [f"{v:.4f}" for v in g["positions"][k]]
        ds.ImageOrientationPatient = [f"{v:.6f}" for v in g["row_dir"] + g["col_dir"]]
        ds.PixelSpacing = [f"{g['row_spacing']:.6f}", f"{g['col_spacing']:.6f}"]
        ds.SliceThickness = "1.0"
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.Rows, ds.Columns = rows, cols
        ds.BitsAllocated, ds.BitsStored, ds.HighBit = 16, 12 if ct else 16, 11 if ct else 15
        ds.PixelRepresentation = 0
        if ct:
            ds.RescaleIntercept, ds.RescaleSlope, ds.RescaleType = "-1024", "1", "HU"
        ds.PixelData = stored[k].tobytes()
        ds.file_meta = FileMetaDataset()
        ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        if variant == "rle":
            ds.compress(RLELossless, stored[k])
        ds.save_as(os.path.join(folder, f"{k:04d}.dcm"), enforce_file_format=True)


def head_dataset(g, uids, description):
    """What every file of a test head series says of the patient, the study and the series
    (the identifiers the tests look for in the view)."""
    study, series, frame = uids
    ds = Dataset()
    ds.StudyDate = "20240102"
    ds.Modality = g["modality"]
    ds.Manufacturer = "deidfs test"
    ds.StudyDescription = "HEAD ROUTINE"
    ds.SeriesDescription = description
    ds.PatientName = "Doe^Jane"
    ds.PatientID = "HEAD-0001"
    ds.PatientBirthDate = "19700101"
    ds.PatientSex = "F"
    ds.BodyPartExamined = "HEAD"
    ds.StudyInstanceUID = study
    ds.SeriesInstanceUID = series
    ds.FrameOfReferenceUID = frame
    ds.StudyID = "1"
    return ds


def item(**values):
    ds = Dataset()
    for k, v in values.items():
        setattr(ds, k, v)
    return ds


def write_enhanced(g, stored, ct, path, uids, echoes):
    n = len(g["positions"])
    order = list(range(n))[::-1] * echoes
    ds = head_dataset(g, uids, "enhanced")
    ds.SOPClassUID = ENHANCED_CT if ct else ENHANCED_MR
    ds.SOPInstanceUID = uid(path, "enhanced")
    ds.ContentDate, ds.ContentTime, ds.AcquisitionDateTime = "20240102", "101010", "20240102101010"
    ds.SeriesNumber = 3
    ds.InstanceNumber = 1
    ds.ImageType = ["ORIGINAL", "PRIMARY", "VOLUME", "NONE"]
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows, ds.Columns = stored.shape[1], stored.shape[2]
    ds.NumberOfFrames = len(order)
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 16, 12 if ct else 16, 11 if ct else 15
    ds.PixelRepresentation = 0
    shared = item(
        PixelMeasuresSequence=[
            item(
                PixelSpacing=[f"{g['row_spacing']:.6f}", f"{g['col_spacing']:.6f}"],
                SliceThickness="1.0",
            )
        ],
        PlaneOrientationSequence=[
            item(ImageOrientationPatient=[f"{v:.6f}" for v in g["row_dir"] + g["col_dir"]])
        ],
    )
    if ct:
        shared.PixelValueTransformationSequence = [
            item(RescaleIntercept="-1024", RescaleSlope="1", RescaleType="HU")
        ]
    ds.SharedFunctionalGroupsSequence = [shared]
    ds.PerFrameFunctionalGroupsSequence = [
        item(
            PlanePositionSequence=[
                item(ImagePositionPatient=[f"{v:.4f}" for v in g["positions"][k]])
            ],
            FrameContentSequence=[
                item(InStackPositionNumber=k + 1, StackID="1", TemporalPositionIndex=e + 1)
            ],
        )
        for e in range(echoes)
        for k in order[:n]
    ]
    ds.PixelData = stored[order].tobytes()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.save_as(path, enforce_file_format=True)


def main():
    if len(sys.argv) < 4:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    volumes, out = sys.argv[1], sys.argv[2]
    for spec in sys.argv[3:]:
        name, _, variant = spec.partition(":")
        write_series(volumes, out, name, variant or "native")


if __name__ == "__main__":
    main()
