"""C-FIND over the study index, and the instances a C-GET or C-MOVE identifier names, for one
site: a site's PACS restoring from Garde sees its own studies only.

The matching is QIDO-RS's (dicom.search: PS3.4 C.2.2.2 on the index's keys, person names in
any case): a C-FIND identifier is read as the query string QIDO-RS would be given, its empty
keys as `includefield`. Answers hold the keys asked for, from the index or a stored header,
empty when Garde has no value. The PATIENT level of the Patient Root model, which QIDO-RS has
not, groups the studies by patient.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from enum import StrEnum
from pathlib import Path
from typing import Any

from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from dicom.search import MATCHERS, Found, Query, data_sets, parse_query, search
from dicom.search import Level as QidoLevel
from garde.errors import InvalidInput
from garde.models import Study

# Failure statuses of PS3.4 C.4.1.1.4 (C-FIND) and C.4.2.1.5/C.4.3.1.4 (C-MOVE, C-GET).
IDENTIFIER_DOES_NOT_MATCH = 0xA900
UNABLE_TO_PROCESS = 0xC000
# Answers are written in UTF-8 whatever the stored objects' character sets were.
UTF8 = "ISO_IR 192"
# Not keys to match nor to answer: they frame the request.
FRAMING = {"QueryRetrieveLevel", "SpecificCharacterSet", "RetrieveAETitle"}


class Level(StrEnum):
    PATIENT = "PATIENT"
    STUDY = "STUDY"
    SERIES = "SERIES"
    IMAGE = "IMAGE"


# QIDO-RS's name of each level but PATIENT.
QIDO: dict[Level, QidoLevel] = {
    Level.STUDY: "study",
    Level.SERIES: "series",
    Level.IMAGE: "instance",
}
# The key naming one entity at each level: a retrieve must give the one of its level.
UNIQUE = {
    Level.PATIENT: "PatientID",
    Level.STUDY: "StudyInstanceUID",
    Level.SERIES: "SeriesInstanceUID",
    Level.IMAGE: "SOPInstanceUID",
}


class BadIdentifier(ValueError):
    """A query or retrieve identifier Garde cannot answer; `status` is the DIMSE failure."""

    def __init__(self, reason: str, status: int = IDENTIFIER_DOES_NOT_MATCH) -> None:
        super().__init__(reason)
        self.status = status


@dataclass(frozen=True)
class Stored:
    """An instance to send, as the index knows it (`path` under the data folder)."""

    sop_class_uid: str
    sop_instance_uid: str
    transfer_syntax_uid: str
    path: str


def level_of(identifier: Dataset, *, patient_root: bool) -> Level:
    """The identifier's Query/Retrieve Level; PATIENT only in the Patient Root model."""
    given = str(identifier.get("QueryRetrieveLevel", "")).strip().upper()
    try:
        level = Level(given)
    except ValueError:
        raise BadIdentifier(
            f"QueryRetrieveLevel {given[:16]!r} is not one of PATIENT, STUDY, SERIES, IMAGE"
        ) from None
    if level is Level.PATIENT and not patient_root:
        raise BadIdentifier("QueryRetrieveLevel PATIENT is for the Patient Root model")
    return level


def find(
    session: Session,
    site_id: int,
    identifier: Dataset,
    level: Level,
    retrieve_ae: str,
    file: Callable[[str], Path],
) -> Iterator[Dataset]:
    """The site's matches of a C-FIND identifier at `level`, each with the keys it asked for
    (`file` turns an index path into a file, for keys read from a stored header)."""
    asked = [e for e in identifier if e.keyword and e.keyword not in FRAMING]
    found: Iterator[Any]
    if level is Level.PATIENT:
        found = _patients(session, site_id, identifier)
    else:
        query = _query(level, identifier, include=tuple(e.keyword for e in asked))
        found = (
            ds
            for page in _pages(session, site_id, query)
            for ds in data_sets(session, query, page, file)
        )
    for values in found:
        answer = Dataset()
        answer.SpecificCharacterSet = UTF8
        answer.QueryRetrieveLevel = level.value
        for element in asked:
            if element.keyword in values:
                answer[element.tag] = values[element.keyword]
            else:
                answer[element.tag] = DataElement(
                    element.tag, element.VR, [] if element.VR == "SQ" else None
                )
        answer.RetrieveAETitle = retrieve_ae
        yield answer


def to_retrieve(session: Session, site_id: int, identifier: Dataset, level: Level) -> list[Stored]:
    """The site's instances a C-GET or C-MOVE identifier names by its unique keys, down to
    its level's, which it must give (no wildcards: a retrieve names what it wants)."""
    keys = [UNIQUE[upper] for upper in list(Level)[: list(Level).index(level) + 1]]
    given = _text(identifier.get(UNIQUE[level]))
    if given == "" or "*" in given or "?" in given:
        raise BadIdentifier(f"a retrieve at level {level} must give {UNIQUE[level]}")
    query = _query(Level.IMAGE, identifier, only=keys)
    return [
        Stored(i.sop_class_uid, i.sop_instance_uid, i.transfer_syntax_uid, i.path)
        for page in _pages(session, site_id, query)
        for i in (found.instance for found in page)
        if i is not None
    ]


def _query(
    level: Level,
    identifier: Dataset,
    include: tuple[str, ...] = (),
    only: list[str] | None = None,
) -> Query:
    """The identifier as QIDO-RS's query: its keys with a value to match, `include` to
    return; `only` keeps these keys alone (a retrieve names its entities by UID)."""
    args = [
        (e.keyword, _text(e.value))
        for e in identifier
        if e.keyword  # a private attribute is matched on by nobody
        and e.keyword not in FRAMING
        and (only is None or e.keyword in only)
        and e.VR != "SQ"
        and _text(e.value) != ""
    ]
    args += [("includefield", keyword) for keyword in include]
    try:
        return parse_query(QIDO[level], args)
    except InvalidInput as e:
        raise BadIdentifier(
            "; ".join(f"{name} {reason}" for name, reason in e.fields.items())
        ) from None


def _pages(session: Session, site_id: int, query: Query) -> Iterator[list[Found]]:
    """Every result of `query` among the site's studies, a page at a time."""
    offset = 0
    while True:
        page = search(session, replace(query, offset=offset), Study.site_id == site_id)
        yield page.found
        if not page.more:
            return
        offset += len(page.found)


def _patients(session: Session, site_id: int, identifier: Dataset) -> Iterator[dict[str, Any]]:
    """Patients as their studies name them (the index keeps no patient rows)."""
    conditions = [Study.site_id == site_id]
    for keyword in ("PatientID", "PatientName"):
        value = _text(identifier.get(keyword))
        if value:
            conditions.append(MATCHERS[keyword][1]([value], False))
    rows = session.execute(
        select(
            Study.patient_id,
            Study.patient_name,
            func.count(Study.id),
            func.sum(Study.series_count),
            func.sum(Study.instance_count),
        )
        .where(*conditions)
        .group_by(Study.patient_id, Study.patient_name)
        .order_by(Study.patient_id, Study.patient_name)
    )
    for patient_id, name, studies, series, instances in rows:
        yield {
            keyword: DataElement(tag, vr, value)
            for keyword, tag, vr, value in (
                ("PatientID", 0x00100020, "LO", patient_id),
                ("PatientName", 0x00100010, "PN", name),
                ("NumberOfPatientRelatedStudies", 0x00201200, "IS", studies),
                ("NumberOfPatientRelatedSeries", 0x00201202, "IS", series),
                ("NumberOfPatientRelatedInstances", 0x00201204, "IS", instances),
            )
        }


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, MultiValue | list):
        return "\\".join(str(v) for v in value).strip()
    return str(value).strip()
