"""The checks every received object passes, and what the index keeps of it.

An object is a DICOM file (PS3.10: preamble, File Meta Information, data set) that is whole,
parsable, and names its Study, Series and SOP Instance by valid UIDs. Its text is decoded in
its character set ((0008,0005); none means Latin-1, a misspelled term such as `ISO IR 192`
is read as meant). A refusal carries the C-STORE status and a reason fit for a log line:
it never quotes the object's values, which may name the patient.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from pydicom import dcmread
from pydicom.dataset import FileDataset
from pydicom.errors import InvalidDicomError
from pydicom.multival import MultiValue
from pydicom.uid import (
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ImplicitVRLittleEndian,
)

from dicom.whole import Broken, check_whole, data_set_start
from garde.validation import DICOM_UID

# C-STORE statuses (PS3.4 B.2.3).
DOES_NOT_MATCH = 0xA900  # the data set does not match the SOP class, or cannot be parsed
CANNOT_UNDERSTAND = 0xC000
OUT_OF_RESOURCES = 0xA700
UID_LENGTH = 64


class Refused(Exception):
    """The object is not stored: `status` for the sender, `reason` for the log; its UIDs
    when it was read far enough to name them (a STOW-RS answer lists them)."""

    def __init__(
        self, status: int, reason: str, sop_class_uid: str = "", sop_instance_uid: str = ""
    ) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.sop_class_uid = sop_class_uid
        self.sop_instance_uid = sop_instance_uid


@dataclass(frozen=True)
class DicomObject:
    """What the index keeps of one object (patient data included: the database only)."""

    sop_class_uid: str
    sop_instance_uid: str
    study_instance_uid: str
    series_instance_uid: str
    transfer_syntax_uid: str
    character_set: str
    patient_id: str
    patient_name: str
    accession_number: str
    study_date: date | None
    study_description: str
    modality: str
    body_part: str
    series_description: str
    series_number: int | None
    size_bytes: int


def read_object(
    path: Path,
    sop_class_uid: str | None = None,
    sop_instance_uid: str | None = None,
    study_instance_uid: str | None = None,
) -> DicomObject:
    """Check the file at `path` and read it; Refused when it fails a check. A C-STORE passes
    the UIDs its command named, a STOW-RS to a study that study's: the data set must carry
    the same."""
    size = path.stat().st_size
    try:
        with warnings.catch_warnings(), path.open("rb") as fp:
            warnings.simplefilter("ignore")  # pydicom's warnings may quote values
            ds = dcmread(fp, stop_before_pixels=True, defer_size=4096)
            syntax = str(ds.file_meta.get("TransferSyntaxUID", ""))
            if not syntax:
                raise Refused(DOES_NOT_MATCH, "no transfer syntax in the file meta information")
            check_whole(
                fp,
                data_set_start(fp),
                size,
                explicit=syntax != ImplicitVRLittleEndian,
                deflated=syntax == DeflatedExplicitVRLittleEndian,
                big_endian=syntax == ExplicitVRBigEndian,
            )
            found = _read(ds, syntax, size)
    except Refused:
        raise
    except Broken as e:
        raise Refused(DOES_NOT_MATCH, f"not whole: {e}") from None
    except InvalidDicomError:
        raise Refused(DOES_NOT_MATCH, "not a DICOM file") from None
    except Exception as e:  # pydicom raises many kinds on a malformed file
        raise Refused(DOES_NOT_MATCH, f"cannot be parsed ({type(e).__name__})") from None
    uids = (found.sop_class_uid, found.sop_instance_uid)
    if sop_class_uid is not None and found.sop_class_uid != sop_class_uid:
        raise Refused(DOES_NOT_MATCH, "SOP Class UID differs from the C-STORE request's", *uids)
    if sop_instance_uid is not None and found.sop_instance_uid != sop_instance_uid:
        raise Refused(DOES_NOT_MATCH, "SOP Instance UID differs from the C-STORE request's", *uids)
    if study_instance_uid is not None and found.study_instance_uid != study_instance_uid:
        raise Refused(DOES_NOT_MATCH, "Study Instance UID differs from the study posted to", *uids)
    return found


def _read(ds: FileDataset, syntax: str, size: int) -> DicomObject:
    uids = {
        "SOP Class UID": _text(ds, "SOPClassUID"),
        "SOP Instance UID": _text(ds, "SOPInstanceUID"),
        "Study Instance UID": _text(ds, "StudyInstanceUID"),
        "Series Instance UID": _text(ds, "SeriesInstanceUID"),
    }
    for name, value in uids.items():
        if not value:
            raise Refused(CANNOT_UNDERSTAND, f"no {name}")
        if len(value) > UID_LENGTH or not DICOM_UID.match(value):
            raise Refused(CANNOT_UNDERSTAND, f"{name} is not a valid UID")
    charset = ds.get("SpecificCharacterSet")
    return DicomObject(
        sop_class_uid=uids["SOP Class UID"],
        sop_instance_uid=uids["SOP Instance UID"],
        study_instance_uid=uids["Study Instance UID"],
        series_instance_uid=uids["Series Instance UID"],
        transfer_syntax_uid=syntax,
        character_set="\\".join(_values(charset)) if charset is not None else "",
        patient_id=_text(ds, "PatientID", 64),
        patient_name=_text(ds, "PatientName", 324),
        accession_number=_text(ds, "AccessionNumber", 64),
        study_date=_date(_text(ds, "StudyDate")),
        study_description=_text(ds, "StudyDescription", 200),
        modality=_text(ds, "Modality", 16),
        body_part=_text(ds, "BodyPartExamined", 64),
        series_description=_text(ds, "SeriesDescription", 200),
        series_number=_integer(ds.get("SeriesNumber")),
        size_bytes=size,
    )


def _values(value: Any) -> list[str]:
    return [str(value)] if isinstance(value, str | bytes) else [str(v) for v in value]


def _text(ds: FileDataset, keyword: str, limit: int = UID_LENGTH) -> str:
    """A value as text in the object's character set, without padding or NUL, cut to the
    column's length."""
    value = ds.get(keyword)
    if value is None:
        return ""
    text = "\\".join(_values(value)) if isinstance(value, MultiValue) else str(value)
    return text.replace("\x00", "").strip()[:limit]


def _date(value: str) -> date | None:
    try:
        return date(int(value[:4]), int(value[4:6]), int(value[6:8])) if len(value) == 8 else None
    except ValueError:
        return None


def _integer(value: Any) -> int | None:
    try:
        return int(value) if value is not None and value != "" else None
    except (TypeError, ValueError):
        return None
