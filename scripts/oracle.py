#!/usr/bin/env python3
"""Independent conformance oracle for de-identified DICOM files.

This script deliberately shares no code with the `deidfs` Rust crate: it
re-derives everything from the two files with pydicom (and, optionally,
dicom3tools' `dciodvfy`), so that the Rust conformance tests check the crate
against a second, unrelated implementation.

Usage:
  python3 scripts/oracle.py SOURCE OUTPUT [--profile basic|none] [--json]
                            [--compare-dciodvfy [--allow-dciodvfy-regressions]]
  python3 scripts/oracle.py --batch PAIRS.tsv [same options]

Single mode prints one JSON object on stdout:
  {"ok": bool, "failures": [str, ...], "checks": {...}}
and exits 0 iff ok (1 otherwise, 2 on usage errors).  Without --json a short
human-readable summary is also written to stderr.

Batch mode reads lines "SOURCE<TAB>OUTPUT" (blank lines and lines starting
with '#' are skipped; "-" reads stdin) and prints one JSON line per pair,
each with "source" and "output" keys added.  Exit status is 1 if any pair
failed.  Spawning python once for many files is much faster than once per
file.

Checks (see the individual check_* functions):
  output_parse    output reads with pydicom.dcmread() WITHOUT force; it has a
                  128-byte preamble + "DICM" and a file meta group whose
                  required elements are present and whose group length is
                  correct.
  values          every element value (any depth, incl. file meta) can be
                  accessed without an exception.
  pixel_data      if the source has Pixel Data (or Float/Double Float Pixel
                  Data) the output value bytes are byte-identical (native or
                  encapsulated).
  profile         --profile basic: no private (odd-group) elements at any
                  depth, no curve (50xx,xxxx) elements, no overlay data or
                  overlay comments (60xx,3000/4000), PatientIdentityRemoved is
                  "YES" and DeidentificationMethodCodeSequence has (113100,DCM).
  uids            output SOPInstanceUID differs from the source's, is a
                  syntactically valid UID, and equals the meta
                  MediaStorageSOPInstanceUID; MediaStorageSOPClassUID equals
                  SOPClassUID.
  phi_leak        identifying values collected from the source (see
                  PHI_KEYWORDS plus every private LO/SH/PN/LT/ST/UT value) do
                  not occur in the raw output bytes outside the Pixel Data
                  value.  Deflated outputs are inflated first.  The patient's
                  names are also looked for by component (family, given...),
                  and every date also as people write it (1948-07-13,
                  13/07/1948, 07/13/1948, 13.07.1948, 13-07-1948, 13-JUL-1948),
                  so a value copied into an element the profile keeps (an
                  "echo") is found wherever it went.  --retained KEYWORD,...
                  names attributes the policy under test keeps on purpose
                  (e.g. StudyDate under a full-dates option): their values are
                  not candidates.
  deflate         a deflated output is one raw DEFLATE stream (no zlib
                  wrapper) ending at the end of the file (one pad byte allowed).
  dciodvfy        (--compare-dciodvfy) no error message in the output that
                  is not in the source (multiset of normalised messages).
                  Deflated files (source and output) are validated inflated by
                  pydicom: this machine's dicom3tools has no zlib.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import select
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import warnings
import zlib
from collections import Counter

try:
    import pydicom
    from pydicom import config as pydicom_config
    from pydicom.charset import convert_encodings, encode_string
    from pydicom.datadict import tag_for_keyword
    from pydicom.dataelem import RawDataElement
    from pydicom.errors import InvalidDicomError
except ImportError:  # pragma: no cover - reported as JSON so callers see it
    print(json.dumps({"ok": False, "failures": ["pydicom is not installed"], "checks": {}}))
    sys.exit(3)

# Values collected from the source (at any depth) that must not survive.
PHI_KEYWORDS = [
    "PatientName",
    "PatientID",
    "OtherPatientIDs",
    "OtherPatientNames",
    "PatientBirthDate",
    "PatientAddress",
    "AccessionNumber",
    "InstitutionName",
    "InstitutionAddress",
    "ReferringPhysicianName",
    "PerformingPhysicianName",
    "OperatorsName",
    "StudyID",
    "StationName",
    "DeviceSerialNumber",
    "StudyInstanceUID",
    "SeriesInstanceUID",
    "SOPInstanceUID",
    "FrameOfReferenceUID",
    "StudyDate",
    "SeriesDate",
    "AcquisitionDate",
    "ContentDate",
]
PHI_KEYWORDS += [
    "PatientBirthName", "PatientMotherBirthName", "PatientTelephoneNumbers",
    "RequestingPhysician", "PhysiciansOfRecord", "NameOfPhysiciansReadingStudy",
    "RequestedProcedureID", "IssuerOfPatientID", "InstitutionalDepartmentName",
]
PHI_TAGS = {tag_for_keyword(k): k for k in PHI_KEYWORDS}

# The patient's own names, also hunted by component.
PATIENT_NAME_KEYWORDS = {"PatientName", "OtherPatientNames", "PatientBirthName",
                         "PatientMotherBirthName"}
# Name components that are placeholders, not names (compared upper-case).
PLACEHOLDER_WORDS = {"LAST", "FIRST", "NAME", "MIDDLE", "GIVEN", "FAMILY", "TEXT",
                     "ENTER", "PATIENT", "TEST", "ANONYMOUS", "ANONYMIZED", "UNKNOWN"}
MONTHS = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT",
          "NOV", "DEC"]
DATE_RE = re.compile(r"^(\d{4})(\d{2})(\d{2})")


def date_forms(text: str) -> list[str]:
    """The ways people write the date at the start of a DA/DT value."""
    m = DATE_RE.match(text)
    if not m:
        return []
    y, mo, d = m.groups()
    if not (1 <= int(mo) <= 12 and 1 <= int(d) <= 31):
        return []
    mon = MONTHS[int(mo) - 1]
    return [f"{y}-{mo}-{d}", f"{y}/{mo}/{d}", f"{d}/{mo}/{y}", f"{mo}/{d}/{y}",
            f"{d}.{mo}.{y}", f"{d}-{mo}-{y}", f"{d}-{mon}-{y}", f"{d} {mon} {y}"]
MEDIA_SOP_INSTANCE_UID = 0x00020003

PRIVATE_STRING_VRS = {"LO", "SH", "PN", "LT", "ST", "UT"}
PUBLIC_TEXT_VRS = {"AE", "AS", "CS", "DA", "DS", "DT", "IS", "LO", "LT", "PN",
                   "SH", "ST", "TM", "UC", "UI", "UR", "UT"}

# Compared case-insensitively after removing spaces, '^' and '='.
NON_IDENTIFYING = {
    "", "19000101", "ANONYMOUS", "ANONYMIZED", "ANONYMISED", "ANON", "ANONYMOUSPATIENT",
    "UNKNOWN", "NONE", "NULL", "N/A", "REMOVED", "DEIDENTIFIED",
    "DE-IDENTIFIED", "NOTAVAILABLE", "NOTSPECIFIED", "UNSPECIFIED",
}

# Phrases a conforming de-identifier may legitimately write (CID 7050 code
# meanings and common method descriptions).  A private source value that is
# a substring of one of these is not treated as identifying.
DEID_PHRASES = [
    "Basic Application Confidentiality Profile",
    "Clean Pixel Data Option", "Clean Recognizable Visual Features Option",
    "Clean Graphics Option", "Clean Structured Content Option",
    "Clean Descriptors Option", "Retain Longitudinal Temporal Information "
    "with Full Dates Option", "Retain Longitudinal Temporal Information with "
    "Modified Dates Option", "Retain Patient Characteristics Option",
    "Retain Device Identity Option", "Retain UIDs Option",
    "Retain Safe Private Option", "Retain Institution Identity Option",
    "De-identified", "DICOM PS3.15 Annex E",
]

# Attributes the Basic Profile retains (absent from Table E.1-1) whose values
# often coincide with an identifying value.  A match inside one of them is
# excused only if the output value is byte-identical to a value the source
# had for the same attribute.
RETAINED_TAGS = {tag_for_keyword(k) for k in (
    "Manufacturer", "ManufacturerModelName", "SoftwareVersions",
    "SecondaryCaptureDeviceManufacturer",
    "SecondaryCaptureDeviceManufacturerModelName",
    "SecondaryCaptureDeviceSoftwareVersions",
    "SeriesNumber", "InstanceNumber", "AcquisitionNumber", "EchoNumbers",
    "TemporalPositionIdentifier", "ImagesInAcquisition")}

PIXEL_TAGS = {0x7FE00010: "PixelData", 0x7FE00008: "FloatPixelData",
              0x7FE00009: "DoubleFloatPixelData"}
DEFLATED_TS = "1.2.840.10008.1.2.1.99"
UID_RE = re.compile(r"^(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))*$")
NUMERIC_RE = re.compile(r"^[0-9.]+$")
LONG_VRS = {b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV", b"UC",
            b"UN", b"UR", b"UT", b"UV"}

MAX_LISTED = 25  # cap on lists reported in JSON


def tag_str(tag: int) -> str:
    return f"({tag >> 16:04X},{tag & 0xFFFF:04X})"


class Result:
    def __init__(self) -> None:
        self.failures: list[str] = []
        self.checks: dict = {}

    def fail(self, check: str, msg: str) -> None:
        self.failures.append(f"{check}: {msg}")

    def as_dict(self) -> dict:
        return {"ok": not self.failures, "failures": self.failures, "checks": self.checks}


# ----------------------------------------------------------------------------
# Dataset walking (iterative, so that very deep sequences do not recurse here)
# ----------------------------------------------------------------------------

def walk(ds, on_error=None):
    """Yield (path, tag, raw_or_None, elem) for every element at any depth.

    `raw_or_None` is the RawDataElement as read from the file if the element
    had not been converted yet (it carries the undecoded value bytes).
    Touches elem.value of every element; conversion errors are passed to
    on_error(path, exc) and the element is skipped.
    """
    stack = [(ds, "")]
    while stack:
        d, prefix = stack.pop()
        try:
            tags = list(d.keys())
        except Exception as exc:  # noqa: BLE001
            if on_error:
                on_error(prefix or "/", exc)
            continue
        children = []
        for tag in tags:
            path = prefix + tag_str(tag)
            try:
                raw = d.get_item(tag)
                raw = raw if isinstance(raw, RawDataElement) else None
                elem = d[tag]
                value = elem.value
                if elem.VR == "PN" and value is not None:
                    # PersonName decodes lazily; force it.
                    for v in (value if _is_multi(value) else [value]):
                        str(v)
            except Exception as exc:  # noqa: BLE001
                if on_error:
                    on_error(path, exc)
                continue
            if elem.VR == "SQ" and value is not None:
                for i, item in enumerate(value):
                    children.append((item, f"{path}[{i}]/"))
            yield path, int(tag), raw, elem
        stack.extend(reversed(children))


def _is_multi(value) -> bool:
    return isinstance(value, (list, tuple)) or type(value).__name__ == "MultiValue"


def text_values(elem) -> list[str]:
    """Decoded string components of a text element (one per value)."""
    value = elem.value
    if value is None:
        return []
    values = list(value) if _is_multi(value) else [value]
    out = []
    for v in values:
        if isinstance(v, bytes):
            v = v.decode("latin-1")
        s = str(v)
        out.append(s)
        if elem.VR == "PN" and "=" in s:
            out.extend(s.split("="))
    return [s.strip(" \x00") for s in out]


def is_non_identifying(s: str) -> bool:
    s = s.strip(" \x00")
    if len(s) < 4:
        return True
    key = re.sub(r"[\s^=]", "", s).upper()
    if key in NON_IDENTIFYING:
        return True
    if not any(c.isalnum() for c in s):
        return True
    if len(set(key)) <= 1:  # "0000", "XXXX", "----"
        return True
    return False


# ----------------------------------------------------------------------------
# Raw byte helpers
# ----------------------------------------------------------------------------

def parse_meta_group(raw: bytes):
    """Walk the explicit-VR-LE group 0002 starting at offset 132.

    Returns (elements, meta_end, error) with elements a list of
    (element_number, vr, offset, header_len, value_len).
    """
    pos = 132
    elems = []
    while pos + 8 <= len(raw):
        group, elem = struct.unpack_from("<HH", raw, pos)
        if group != 0x0002:
            break
        vr = raw[pos + 4:pos + 6]
        if not (len(vr) == 2 and vr.isalpha() and vr.isupper()):
            return elems, pos, f"meta element (0002,{elem:04X}) at {pos} has no explicit VR"
        if vr in LONG_VRS:
            if pos + 12 > len(raw):
                return elems, pos, "truncated file meta"
            length = struct.unpack_from("<I", raw, pos + 8)[0]
            hdr = 12
        else:
            length = struct.unpack_from("<H", raw, pos + 6)[0]
            hdr = 8
        if length == 0xFFFFFFFF:
            return elems, pos, f"undefined length in file meta (0002,{elem:04X})"
        elems.append((elem, vr.decode(), pos, hdr, length))
        pos += hdr + length
    if pos > len(raw):
        return elems, len(raw), "truncated file meta"
    return elems, pos, None


# ----------------------------------------------------------------------------
# Checks
# ----------------------------------------------------------------------------

def read_source(path: str, res: Result):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            ds = pydicom.dcmread(path, force=True)
        except Exception as exc:  # noqa: BLE001
            res.fail("source", f"cannot read source with pydicom (force=True): {exc!r}")
            return None
    res.checks["source"] = {"read": True, "warnings": len(caught),
                            "has_file_meta": bool(getattr(ds, "file_meta", None))}
    return ds


def check_output_parse(path: str, res: Result):
    chk = {"parsed": False}
    res.checks["output_parse"] = chk
    try:
        with open(path, "rb") as fh:
            raw = fh.read()
    except OSError as exc:
        res.fail("output_parse", f"cannot open output: {exc}")
        return None, None
    chk["size"] = len(raw)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            ds = pydicom.dcmread(path)  # strict: no force
        except InvalidDicomError as exc:
            res.fail("output_parse", f"not a DICOM Part 10 file (strict read): {exc}")
            return None, raw
        except Exception as exc:  # noqa: BLE001
            res.fail("output_parse", f"strict pydicom read failed: {exc!r}")
            return None, raw
    chk["parsed"] = True
    chk["read_warnings"] = [str(w.message) for w in caught][:MAX_LISTED]

    if raw[128:132] != b"DICM":
        res.fail("output_parse", "no 'DICM' prefix at offset 128")
    if getattr(ds, "preamble", None) is None or len(ds.preamble) != 128:
        res.fail("output_parse", "no 128-byte preamble")

    meta = getattr(ds, "file_meta", None)
    if meta is None or len(meta) == 0:
        res.fail("output_parse", "no file meta information")
        return ds, raw
    required = {0x00020000: "FileMetaInformationGroupLength",
                0x00020001: "FileMetaInformationVersion",
                0x00020002: "MediaStorageSOPClassUID",
                0x00020003: "MediaStorageSOPInstanceUID",
                0x00020010: "TransferSyntaxUID",
                0x00020012: "ImplementationClassUID"}
    missing = [name for tag, name in required.items() if tag not in meta]
    if missing:
        res.fail("output_parse", f"file meta lacks {', '.join(missing)}")
    chk["transfer_syntax"] = str(meta.get("TransferSyntaxUID", ""))

    elems, meta_end, err = parse_meta_group(raw)
    chk["meta_end"] = meta_end
    if err:
        res.fail("output_parse", err)
    elif elems and elems[0][0] == 0x0000:
        _, vr, off, hdr, length = elems[0]
        if vr != "UL" or length != 4:
            res.fail("output_parse", f"(0002,0000) has VR {vr} length {length}, expected UL 4")
        else:
            declared = struct.unpack_from("<I", raw, off + hdr)[0]
            actual = meta_end - (off + hdr + length)
            chk["meta_group_length"] = {"declared": declared, "actual": actual}
            if declared != actual:
                res.fail("output_parse",
                         f"file meta group length is {declared} but group 0002 spans {actual} bytes")
    elif elems:
        res.fail("output_parse", "(0002,0000) is not the first file meta element")
    return ds, raw


def check_values(ds, res: Result):
    errors = []
    count = 0

    def on_error(path, exc):
        errors.append(f"{path}: {exc!r}"[:300])

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        meta = getattr(ds, "file_meta", None)
        if meta is not None:
            for _ in walk(meta, on_error):
                count += 1
        for _ in walk(ds, on_error):
            count += 1
    res.checks["values"] = {"elements": count, "errors": errors[:MAX_LISTED],
                            "warnings": len(caught),
                            "warning_samples": sorted({str(w.message)[:200] for w in caught})[:10]}
    for e in errors[:MAX_LISTED]:
        res.fail("values", f"value not accessible: {e}")
    if len(errors) > MAX_LISTED:
        res.fail("values", f"... and {len(errors) - MAX_LISTED} more inaccessible values")


def _value_bytes(ds, tag):
    if tag not in ds:
        return None
    v = ds[tag].value
    if v is None:
        return b""
    return bytes(v)


def check_pixel_data(src, out, res: Result):
    chk = {}
    res.checks["pixel_data"] = chk
    for tag, name in PIXEL_TAGS.items():
        try:
            sv = _value_bytes(src, tag)
        except Exception as exc:  # noqa: BLE001
            res.fail("pixel_data", f"source {name} unreadable: {exc!r}")
            continue
        if sv is None:
            continue
        info = {"source_len": len(sv)}
        chk[name] = info
        try:
            ov = _value_bytes(out, tag)
        except Exception as exc:  # noqa: BLE001
            res.fail("pixel_data", f"output {name} unreadable: {exc!r}")
            continue
        if ov is None:
            res.fail("pixel_data", f"source has {name} but output does not")
            continue
        info["output_len"] = len(ov)
        info["identical"] = sv == ov
        if sv != ov:
            first = next((i for i, (a, b) in enumerate(zip(sv, ov)) if a != b), min(len(sv), len(ov)))
            info["first_difference"] = first
            if len(sv) == len(ov) and len(sv) % 2 == 0:
                swapped = bytearray(sv)
                swapped[0::2], swapped[1::2] = sv[1::2], sv[0::2]
                info["identical_after_byteswap"] = bytes(swapped) == ov
            res.fail("pixel_data",
                     f"{name} differs (source {len(sv)} bytes, output {len(ov)} bytes, "
                     f"first difference at value offset {first})")
    chk["present_in_source"] = bool(chk)


def check_profile(out, res: Result, profile: str):
    chk = {"profile": profile}
    res.checks["profile"] = chk
    if profile == "none":
        return
    private, curves, overlays = [], [], []
    for path, tag, _raw, _elem in walk(out):
        group, element = tag >> 16, tag & 0xFFFF
        if group % 2 == 1:
            private.append(path)
        elif group & 0xFF00 == 0x5000:
            curves.append(path)
        elif group & 0xFF00 == 0x6000 and element in (0x3000, 0x4000):
            overlays.append(path)
    chk.update(private_elements=private[:MAX_LISTED], n_private=len(private),
               curve_elements=curves[:MAX_LISTED], overlay_elements=overlays[:MAX_LISTED])
    if private:
        res.fail("profile", f"{len(private)} private element(s) remain, e.g. {', '.join(private[:5])}")
    if curves:
        res.fail("profile", f"{len(curves)} curve element(s) remain, e.g. {', '.join(curves[:5])}")
    if overlays:
        res.fail("profile", f"overlay data/comments remain: {', '.join(overlays[:5])}")

    pir = out.get("PatientIdentityRemoved", None)
    chk["PatientIdentityRemoved"] = None if pir is None else str(pir)
    if pir is None or str(pir).strip() != "YES":
        res.fail("profile", f"PatientIdentityRemoved is {pir!r}, expected 'YES'")

    codes = []
    seq = out.get("DeidentificationMethodCodeSequence", None)
    for item in (seq or []):
        codes.append((str(item.get("CodeValue", "")).strip(),
                      str(item.get("CodingSchemeDesignator", "")).strip()))
    chk["DeidentificationMethodCodeSequence"] = [f"{v}^{s}" for v, s in codes]
    if not any(v == "113100" for v, _ in codes):
        res.fail("profile", "DeidentificationMethodCodeSequence lacks code 113100")
    elif not any(v == "113100" and s == "DCM" for v, s in codes):
        res.fail("profile", "code 113100 present but its CodingSchemeDesignator is not 'DCM'")


def check_uids(src, out, res: Result):
    chk = {}
    res.checks["uids"] = chk
    src_sop = str(src.get("SOPInstanceUID", "") or "").strip("\x00 ")
    out_sop = str(out.get("SOPInstanceUID", "") or "").strip("\x00 ")
    meta = getattr(out, "file_meta", None) or {}
    media = str(meta.get("MediaStorageSOPInstanceUID", "") or "").strip("\x00 ")
    chk.update(source_sop_instance_uid=src_sop, output_sop_instance_uid=out_sop,
               media_storage_sop_instance_uid=media)
    if not out_sop:
        if src_sop:
            res.fail("uids", "output has no SOPInstanceUID")
        else:  # e.g. a DICOMDIR: only the meta UID identifies the instance
            src_media = str((getattr(src, "file_meta", None) or {}).get(
                "MediaStorageSOPInstanceUID", "") or "").strip("\x00 ")
            if src_media and media == src_media:
                res.fail("uids", "MediaStorageSOPInstanceUID was not changed")
    elif src_sop and out_sop == src_sop:
        res.fail("uids", "SOPInstanceUID was not changed")
    if out_sop and media != out_sop:
        res.fail("uids", f"MediaStorageSOPInstanceUID {media!r} != SOPInstanceUID {out_sop!r}")

    for kw in ("SOPInstanceUID", "StudyInstanceUID", "SeriesInstanceUID", "FrameOfReferenceUID"):
        v = str(out.get(kw, "") or "").strip("\x00 ")
        if v and (len(v) > 64 or not UID_RE.match(v)):
            res.fail("uids", f"output {kw} {v!r} is not a valid UID")
    if media and (len(media) > 64 or not UID_RE.match(media)):
        res.fail("uids", f"MediaStorageSOPInstanceUID {media!r} is not a valid UID")

    # Meta SOP class must match the data set (unless the source itself was
    # already inconsistent; then it is only reported).
    out_cls = str(out.get("SOPClassUID", "") or "").strip("\x00 ")
    media_cls = str(meta.get("MediaStorageSOPClassUID", "") or "").strip("\x00 ")
    src_meta = getattr(src, "file_meta", None) or {}
    src_cls = str(src.get("SOPClassUID", "") or "").strip("\x00 ")
    src_media_cls = str(src_meta.get("MediaStorageSOPClassUID", "") or "").strip("\x00 ")
    chk["media_storage_sop_class_matches"] = media_cls == out_cls
    if out_cls and media_cls != out_cls:
        if src_media_cls and src_cls and src_media_cls != src_cls:
            chk["media_storage_sop_class_note"] = "mismatch inherited from source"
        else:
            res.fail("uids", f"MediaStorageSOPClassUID {media_cls!r} != SOPClassUID {out_cls!r}")


def collect_candidates(src, res: Result, kept_keywords=frozenset()):
    """Identifying strings from the source: {text: set(labels)}."""
    phi: dict[str, set] = {}
    private: dict[str, set] = {}
    public_texts: list[str] = []
    raw_forms: dict[str, set] = {}
    retained: dict[int, set] = {}
    errors = []

    def add(target, text, label, raw_piece=None):
        if is_non_identifying(text):
            return
        target.setdefault(text, set()).add(label)
        if raw_piece:
            raw_forms.setdefault(text, set()).add(raw_piece)

    def raw_pieces(raw):
        if raw is None or not isinstance(raw.value, (bytes, bytearray)):
            return []
        return [p.strip(b" \x00") for p in bytes(raw.value).split(b"\\")]

    meta = getattr(src, "file_meta", None)
    if (meta is not None and MEDIA_SOP_INSTANCE_UID in meta
            and "MediaStorageSOPInstanceUID" not in kept_keywords):
        for t in text_values(meta[MEDIA_SOP_INSTANCE_UID]):
            add(phi, t, "MediaStorageSOPInstanceUID")

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for path, tag, raw, elem in walk(src, lambda p, e: errors.append(f"{p}: {e!r}"[:200])):
            group, element = tag >> 16, tag & 0xFFFF
            if tag in PHI_TAGS and PHI_TAGS[tag] not in kept_keywords:
                pieces = raw_pieces(raw)
                keyword = PHI_TAGS[tag]
                for i, t in enumerate(text_values(elem)):
                    add(phi, t, keyword, pieces[i] if i < len(pieces) else None)
                    if elem.VR in ("DA", "DT"):
                        for form in date_forms(t):
                            add(phi, form, f"{keyword} as {form}")
                    if keyword in PATIENT_NAME_KEYWORDS:
                        for part in re.split(r"[\^= ,]+", t):
                            if part.upper() not in PLACEHOLDER_WORDS:
                                add(phi, part, f"{keyword} component")
            elif group % 2 == 1:
                if 0x0010 <= element <= 0x00FF or elem.VR not in PRIVATE_STRING_VRS:
                    continue  # private creator, or not a string VR
                pieces = raw_pieces(raw)
                for i, t in enumerate(text_values(elem)):
                    add(private, t, f"private {path}", pieces[i] if i < len(pieces) else None)
            if tag in RETAINED_TAGS and raw is not None and raw.value is not None:
                retained.setdefault(tag, set()).add(bytes(raw.value).strip(b" \x00"))
            if tag in PHI_TAGS or group % 2 == 1:
                continue
            if elem.VR in PUBLIC_TEXT_VRS:
                try:
                    public_texts.extend(text_values(elem))
                except Exception:  # noqa: BLE001
                    pass
    # A private value that merely repeats a public, non-PHI value of the
    # source (e.g. "SIEMENS", "ORIGINAL") or a de-identification phrase is
    # not treated as identifying.
    haystack = "\x00".join(public_texts + DEID_PHRASES)
    excluded = [t for t in private if t in haystack and t not in phi]
    for t in excluded:
        del private[t]
    for t, labels in private.items():
        phi.setdefault(t, set()).update(labels)
    res.checks.setdefault("phi_leak", {}).update(
        candidates=len(phi), private_candidates=len(private),
        private_excluded_as_public=len(excluded), source_walk_errors=errors[:10])
    return phi, raw_forms, retained


def encodings_of(ds) -> list[str]:
    try:
        return convert_encodings(ds.get("SpecificCharacterSet", None))
    except Exception:  # noqa: BLE001
        return ["iso8859"]


def byte_variants(text: str, raw_forms: set, encs: list[str]) -> set[bytes]:
    out = set(p for p in raw_forms if len(p) >= 4)
    for enc in ("latin-1", "utf-8"):
        try:
            out.add(text.encode(enc))
        except UnicodeError:
            pass
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out.add(encode_string(text, encs))
    except Exception:  # noqa: BLE001
        pass
    return {b for b in out if b}


def check_deflate(out, raw: bytes, meta_end: int, res: Result):
    """A deflated output is one raw DEFLATE stream (RFC 1951, no zlib or gzip
    wrapper, as PS3.5 A.5 says) that ends where the file ends, but for one
    trailing pad byte to even length."""
    ts = str(getattr(out, "file_meta", {}).get("TransferSyntaxUID", ""))
    if ts != DEFLATED_TS:
        return
    chk = {}
    res.checks["deflate"] = chk
    d = zlib.decompressobj(-zlib.MAX_WBITS)
    try:
        inflated = d.decompress(raw[meta_end:])
    except zlib.error as exc:
        res.fail("deflate", f"not a raw DEFLATE stream: {exc}")
        return
    chk.update(compressed=len(raw) - meta_end, inflated=len(inflated),
               trailing=len(d.unused_data))
    if not d.eof:
        res.fail("deflate", "the DEFLATE stream does not end (no final block)")
    elif d.unused_data not in (b"", b"\0") or (d.unused_data and len(raw) % 2 == 1):
        res.fail("deflate", f"{len(d.unused_data)} bytes after the DEFLATE stream")


def inflated_copy(path: str, tmpdir: str) -> str:
    """A deflated file rewritten as Explicit VR Little Endian (pydicom inflates
    it), for readers that cannot inflate: the Debian build of dicom3tools has
    no zlib, and reads no deflated file from any writer (dcmtk's included)."""
    ds = pydicom.dcmread(path, force=True)
    ds.file_meta.TransferSyntaxUID = pydicom.uid.ExplicitVRLittleEndian
    copy = os.path.join(tmpdir, os.path.basename(path) + ".inflated.dcm")
    ds.save_as(copy, enforce_file_format=True)
    return copy


def output_buffer(out, raw: bytes, meta_end: int, res: Result):
    """The output bytes to search (inflated if deflated) and pydicom's base
    offset for top-level value_tell values in that buffer."""
    ts = str(getattr(out, "file_meta", {}).get("TransferSyntaxUID", ""))
    if ts != DEFLATED_TS:
        return raw, 0
    try:
        return raw[:meta_end] + zlib.decompress(raw[meta_end:], -zlib.MAX_WBITS), meta_end
    except zlib.error as exc:
        res.fail("phi_leak", f"cannot inflate deflated output: {exc}")
        return raw, 0


def element_spans(out, buf: bytes, base: int, res: Result):
    """(start, end, path, tag) of the raw values of output elements, any depth.

    Must run before anything converts the output's elements (offsets are only
    known for raw elements); it converts every element itself.  pydicom's
    value_tell is relative to whatever buffer was being parsed: the file (or
    inflated stream) for top-level elements and for items of undefined-length
    sequences (parsed eagerly with the data set), the sequence's own value for
    items of defined-length sequences (parsed lazily from its bytes).  Every
    span is verified against the bytes; spans that do not verify are dropped.
    """
    spans = []
    truncated = []
    stack = [(out, base, "")]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        while stack:
            d, dbase, prefix = stack.pop()
            try:
                tags = list(d.keys())
            except Exception:  # noqa: BLE001
                continue
            for tag in tags:
                path = prefix + tag_str(tag)
                try:
                    item = d.get_item(tag)
                    raw = item if isinstance(item, RawDataElement) else None
                    elem = d[tag]
                    value = elem.value
                except Exception:  # noqa: BLE001
                    continue
                child_base = dbase
                if (raw is not None and raw.value is not None and raw.length != 0xFFFFFFFF
                        and len(raw.value) != raw.length):
                    truncated.append(f"{path} declares {raw.length} bytes, file has {len(raw.value)}")
                if raw is not None and raw.value is not None:
                    start = dbase + raw.value_tell
                    end = start + len(raw.value)
                    if buf[start:end] == bytes(raw.value):
                        spans.append((start, end, path, int(tag)))
                        child_base = start
                    else:
                        child_base = None
                if elem.VR == "SQ" and value is not None and child_base is not None:
                    for i, it in enumerate(value):
                        stack.append((it, child_base, f"{path}[{i}]/"))
    for t in truncated[:5]:
        res.fail("output_parse", f"truncated element: {t}")
    return spans


def pixel_ranges(out, buf: bytes, spans, res: Result):
    """[start, end) ranges in buf of the top-level pixel data values."""
    ranges = []
    located = {}
    for tag, name in PIXEL_TAGS.items():
        if tag not in out:
            continue
        value = bytes(out[tag].value or b"")
        if not value:
            continue
        start, how = None, "value_tell"
        for a, _b, path, _t in spans:
            if path == tag_str(tag):
                start = a
        if start is None:
            start, how = buf.rfind(value), "search"
        if start < 0:
            res.fail("phi_leak", f"cannot locate {name} value in output bytes")
            continue
        ranges.append((start, start + len(value)))
        located[name] = {"start": start, "end": start + len(value), "located_by": how}
    res.checks.setdefault("phi_leak", {})["excluded_ranges"] = located
    return sorted(ranges)


def check_phi_leak(candidates, src, out, buf: bytes, meta_end: int, res: Result, top_spans):
    phi, raw_forms, retained_source_values = candidates
    ranges = pixel_ranges(out, buf, top_spans, res)
    # Segments of the buffer outside pixel values.
    segments, pos = [], 0
    for a, b in ranges:
        if a > pos:
            segments.append((pos, buf[pos:a]))
        pos = max(pos, b)
    segments.append((pos, buf[pos:]))
    encs = encodings_of(src)

    def locate(pos):
        best = None
        for a, b, path, tag in top_spans:
            if a <= pos < b and (best is None or b - a < best[1] - best[0]):
                best = (a, b, path, tag)
        return best

    def excused(span):
        # A hit inside a retained attribute whose output value is one the
        # source already had for that attribute is a coincidence (e.g.
        # InstitutionName "TOSHIBA" inside Manufacturer "TOSHIBA_MEC", or
        # StudyID "4321" == InstanceNumber), not a leak.
        if span is None or span[3] not in RETAINED_TAGS:
            return False
        value = buf[span[0]:span[1]].strip(b" \x00")
        return value in retained_source_values.get(span[3], set())

    leaks, collisions = [], []
    for text, labels in sorted(phi.items()):
        short_numeric = bool(NUMERIC_RE.match(text)) and len(text) < 8
        # A name component alone is a word: found in any case, not inside another word
        # ("Profile" does not hold the name "File").
        word = all("component" in label for label in labels)
        leak = None
        for variant in sorted(byte_variants(text, raw_forms.get(text, set()), encs)):
            if word:
                pat = re.compile(rb"(?<![A-Za-z0-9\x80-\xff])" + re.escape(variant) +
                                 rb"(?![A-Za-z0-9\x80-\xff])", re.IGNORECASE)
            elif short_numeric:
                pat = re.compile(rb"(?<![0-9.])" + re.escape(variant) + rb"(?![0-9.])")
            else:
                pat = re.compile(re.escape(variant))
            for seg_start, seg in segments:
                for m in pat.finditer(seg):
                    hit = seg_start + m.start()
                    span = locate(hit)
                    if excused(span):
                        collisions.append({"value": text, "offset": hit, "in_element": span[2]})
                        continue
                    where = span[2] if span is not None else (
                        "preamble" if hit < 132 else "file meta" if hit < meta_end else None)
                    leak = {"value": text, "from": sorted(labels), "offset": hit, "in_element": where}
                    break
                if leak:
                    break
            if leak:
                break
        if leak:
            leaks.append(leak)
    chk = res.checks.setdefault("phi_leak", {})
    chk["leaks"] = leaks[:MAX_LISTED]
    chk["excused_collisions"] = collisions[:MAX_LISTED]
    for leak in leaks[:MAX_LISTED]:
        res.fail("phi_leak", f"{leak['value']!r} (from {', '.join(leak['from'][:3])}) found at "
                 f"byte {leak['offset']} in {leak['in_element'] or 'output'}")
    if len(leaks) > MAX_LISTED:
        res.fail("phi_leak", f"... and {len(leaks) - MAX_LISTED} more leaked values")


# ----------------------------------------------------------------------------
# dciodvfy
# ----------------------------------------------------------------------------

def normalise_dciodvfy(line: str) -> str:
    s = line.strip()
    s = re.sub(r"= <[^>]*>", "= <value>", s)            # "[1] = <value>", "attr <X> = <value>"
    s = re.sub(r"<[0-9.]+>", "<value>", s)               # numeric/UID in angle brackets
    # The same invalid code before and after (an echo masked in an enumerated CS).
    s = re.sub(r"(enumerated value|defined term) <[^>]*>", r"\1 <value>", s, flags=re.I)
    s = re.sub(r"\b[0-9]+(\.[0-9]+){2,}\b", "<uid>", s)  # bare UIDs
    s = re.sub(r"(Length invalid for this VR = )\d+", r"\1N", s)
    s = re.sub(r"\[\d+\]", "[n]", s)
    s = re.sub(r"\s+", " ", s)
    return s


def transfer_syntax(path: str) -> str:
    try:
        meta = pydicom.filereader.read_file_meta_info(path)
    except Exception:  # noqa: BLE001 - unreadable meta: dciodvfy reads it as it is
        return ""
    return str(meta.get("TransferSyntaxUID", ""))


def run_dciodvfy(path: str, timeout: float):
    try:
        proc = subprocess.run(["dciodvfy", path], stdin=subprocess.DEVNULL,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"rc": None, "timeout": True, "errors": []}
    text = proc.stdout.decode("latin-1")
    errors = [ln.rstrip() for ln in text.splitlines() if ln.startswith("Error")]
    return {"rc": proc.returncode, "timeout": False, "errors": errors}


def check_dciodvfy(source: str, output: str, res: Result, allow: bool, timeout: float):
    chk = {}
    res.checks["dciodvfy"] = chk
    if not shutil.which("dciodvfy"):
        chk["skipped"] = "dciodvfy not found"
        return
    with tempfile.TemporaryDirectory() as tmp:
        readable = [p if transfer_syntax(p) != DEFLATED_TS else inflated_copy(p, tmp)
                    for p in (source, output)]
        if readable != [source, output]:
            chk["note_deflate"] = "deflated files validated as inflated by pydicom"
        s = run_dciodvfy(readable[0], timeout)
        o = run_dciodvfy(readable[1], timeout)
    chk.update(source_rc=s["rc"], output_rc=o["rc"],
               source_error_count=len(s["errors"]), output_error_count=len(o["errors"]),
               source_errors=s["errors"][:100], output_errors=o["errors"][:100])
    source_broken = s["timeout"] or (s["rc"] is not None and s["rc"] < 0)
    output_broken = o["timeout"] or (o["rc"] is not None and o["rc"] < 0)
    if output_broken and not source_broken:
        res.fail("dciodvfy", f"dciodvfy crashed or timed out on output (rc={o['rc']})")
    new = Counter(normalise_dciodvfy(e) for e in o["errors"]) - \
        Counter(normalise_dciodvfy(e) for e in s["errors"])
    new_list = sorted(new.elements())
    chk["new_errors"] = new_list[:100]
    chk["n_new_errors"] = len(new_list)
    if source_broken:
        chk["note"] = "dciodvfy crashed or timed out on the source; new errors not enforced"
        return
    if new_list and not allow:
        for e in new_list[:10]:
            res.fail("dciodvfy", f"new error: {e}")
        if len(new_list) > 10:
            res.fail("dciodvfy", f"... and {len(new_list) - 10} more new errors")


# ----------------------------------------------------------------------------
# Driver
# ----------------------------------------------------------------------------

def check_pair(source: str, output: str, args) -> dict:
    res = Result()
    try:
        out, raw = check_output_parse(output, res)
        src = read_source(source, res)
        if out is not None:
            meta_end = res.checks["output_parse"].get("meta_end", 132)
            buf, base = output_buffer(out, raw, meta_end, res)
            # Raw spans (value offsets) and the source's raw value bytes must be
            # taken before anything converts the elements.
            spans = element_spans(out, buf, base, res)
            retained = frozenset(k for k in args.retained.split(",") if k)
            candidates = collect_candidates(src, res, retained) if src is not None else None
            check_values(out, res)
            check_deflate(out, raw, meta_end, res)
            if args.profile != "none":
                check_profile(out, res, args.profile)
            if src is not None:
                check_pixel_data(src, out, res)
                check_uids(src, out, res)
                check_phi_leak(candidates, src, out, buf, meta_end, res, spans)
        if args.compare_dciodvfy and os.path.exists(output):
            check_dciodvfy(source, output, res, args.allow_dciodvfy_regressions,
                           args.dciodvfy_timeout)
    except Exception as exc:  # noqa: BLE001 - an oracle bug must not look like a pass
        res.fail("oracle", f"internal error: {exc!r}")
        res.checks["oracle_traceback"] = traceback.format_exc()[-2000:]
    return res.as_dict()


def _summary(result: dict, label: str) -> str:
    if result["ok"]:
        return f"PASS {label}"
    return f"FAIL {label}\n" + "\n".join(f"  - {f}" for f in result["failures"])


def _in_big_stack(fn, *args):
    """Run fn(*args) in a thread with a large stack: pydicom parses
    undefined-length sequences recursively, so deeply nested inputs need far
    more than the default stack and recursion limit."""
    sys.setrecursionlimit(1_000_000)
    threading.stack_size(1 << 30)
    box = {}

    def target():
        try:
            box["value"] = fn(*args)
        except BaseException as exc:  # noqa: BLE001
            box["error"] = exc

    t = threading.Thread(target=target)
    t.start()
    t.join()
    if "error" in box:
        raise box["error"]
    return box["value"]


def _oracle_failure(msg: str, **checks) -> dict:
    return {"ok": False, "failures": [f"oracle: {msg}"], "checks": {"oracle": checks}}


def run_pair(source: str, output: str, args) -> dict:
    """check_pair in a forked child, so that a hang (pydicom is very slow on
    pathological nesting), a crash or runaway memory use of one pair cannot
    take the whole batch down.  Falls back to in-process without fork."""
    if args.timeout <= 0 or not hasattr(os, "fork"):
        return _in_big_stack(check_pair, source, output, args)
    rfd, wfd = os.pipe()
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:  # child
        os.close(rfd)
        try:
            result = _in_big_stack(check_pair, source, output, args)
        except BaseException as exc:  # noqa: BLE001
            result = _oracle_failure(f"internal error: {exc!r}")
        data = json.dumps(result, default=str).encode()
        with os.fdopen(wfd, "wb") as fh:
            fh.write(data)
        os._exit(0)
    os.close(wfd)
    chunks = []
    deadline = time.monotonic() + args.timeout
    timed_out = False
    with os.fdopen(rfd, "rb", buffering=0) as fh:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                timed_out = True
                break
            ready, _, _ = select.select([fh], [], [], left)
            if not ready:
                continue
            chunk = fh.read(1 << 16)
            if not chunk:
                break
            chunks.append(chunk)
    if timed_out:
        os.kill(pid, signal.SIGKILL)
    _, status = os.waitpid(pid, 0)
    if timed_out:
        return _oracle_failure(f"timed out after {args.timeout:g} s (pathological input?)",
                               timeout=True)
    try:
        return json.loads(b"".join(chunks))
    except ValueError:
        return _oracle_failure(f"checker process died (wait status {status})", crashed=True)


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("source", nargs="?")
    ap.add_argument("output", nargs="?")
    ap.add_argument("--batch", metavar="PAIRS.tsv",
                    help="read SOURCE<TAB>OUTPUT lines ('-' = stdin); print one JSON line per pair")
    ap.add_argument("--profile", choices=["basic", "none"], default="basic")
    ap.add_argument("--retained", default="", metavar="KEYWORD,...",
                    help="attributes the policy keeps on purpose: not PHI candidates")
    ap.add_argument("--json", action="store_true",
                    help="only print JSON (no human-readable summary on stderr)")
    ap.add_argument("--compare-dciodvfy", action="store_true")
    ap.add_argument("--allow-dciodvfy-regressions", action="store_true")
    ap.add_argument("--dciodvfy-timeout", type=float, default=120.0,
                    help="seconds per dciodvfy run (default 120)")
    ap.add_argument("--timeout", type=float, default=300.0,
                    help="seconds per pair, checked in a forked child; 0 = no child, "
                         "no limit (default 300)")
    args = ap.parse_args(argv)

    pydicom_config.settings.reading_validation_mode = pydicom_config.WARN

    if args.batch:
        if args.source or args.output:
            ap.error("--batch takes no positional arguments")
        fh = sys.stdin if args.batch == "-" else open(args.batch, encoding="utf-8")
        all_ok = True
        with fh:
            for lineno, line in enumerate(fh, 1):
                line = line.rstrip("\r\n")
                if not line.strip() or line.startswith("#"):
                    continue
                parts = line.split("\t")
                if len(parts) < 2:
                    result = {"ok": False, "failures": [f"batch line {lineno}: expected SOURCE<TAB>OUTPUT"],
                              "checks": {}}
                    parts = parts + [""]
                else:
                    result = run_pair(parts[0], parts[1], args)
                result = {"source": parts[0], "output": parts[1], **result}
                all_ok &= result["ok"]
                print(json.dumps(result, default=str), flush=True)
                if not args.json:
                    print(_summary(result, parts[1]), file=sys.stderr)
        return 0 if all_ok else 1

    if not (args.source and args.output):
        ap.error("SOURCE and OUTPUT are required (or use --batch)")
    result = run_pair(args.source, args.output, args)
    print(json.dumps(result, default=str), flush=True)
    if not args.json:
        print(_summary(result, args.output), file=sys.stderr)
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except BrokenPipeError:
        sys.exit(1)
