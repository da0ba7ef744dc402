"""QIDO-RS over the study index (PS3.18 10.6, matching as PS3.4 C.2.2.2): studies, series and
instances found by the index's columns, answered as DICOM JSON data sets.

The index holds what a worklist and a viewer's study list need (patient, accession number,
date, description, modalities, counts), so a study search never opens a file. An attribute
the index does not hold is read from one stored file's header, and only when a client names
it in `includefield` (or asks for `all`): a study list of a thousand rows stays a query.

Matching: UIDs as lists (backslashes, commas or the key repeated), `*` and `?` wildcards on
text (a pattern ignores case: SQLite's LIKE does), person names case-insensitive (PS3.4 lets
a PN match ignore case) and, with `fuzzymatching=true`, by each word of the query being the
start of a part of the name; dates
as single values or ranges (`A-B`, `A-`, `-B`). A DICOM attribute Garde cannot match on is
left out and named in a `Warning` (PS3.18 8.3.4.1); a key that is no DICOM attribute nor a
query parameter, or a value of the wrong form, is a 400 naming it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, Literal

from pydicom import dcmread
from pydicom.datadict import dictionary_VR, keyword_for_tag, tag_for_keyword
from pydicom.dataset import Dataset
from sqlalchemy import ColumnElement, Select, and_, exists, func, or_, select
from sqlalchemy.orm import Session

from garde.errors import InvalidInput
from garde.models import Instance, Series, Study
from garde.validation import DICOM_UID

Level = Literal["study", "series", "instance"]
LEVELS: tuple[Level, ...] = ("study", "series", "instance")

# Beyond it a client pages with limit and offset (and is told so in a Warning).
MOST_RESULTS = 5000
PARAMETERS = ("limit", "offset", "fuzzymatching", "includefield")
UID_KEYS = ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID", "SOPClassUID")


@dataclass(frozen=True)
class Found:
    """One result: its study, and its series and instance at the lower levels."""

    study: Study
    series: Series | None = None
    instance: Instance | None = None


def _date(value: date | None) -> str:
    return value.strftime("%Y%m%d") if value else ""


def _series(found: Found) -> Series:
    assert found.series is not None
    return found.series


def _instance(found: Found) -> Instance:
    assert found.instance is not None
    return found.instance


# What the index answers, by keyword: the level it belongs to, and its value for a result.
INDEXED: dict[str, tuple[Level, Callable[[Found], Any]]] = {
    "StudyInstanceUID": ("study", lambda f: f.study.study_instance_uid),
    "PatientName": ("study", lambda f: f.study.patient_name),
    "PatientID": ("study", lambda f: f.study.patient_id),
    "AccessionNumber": ("study", lambda f: f.study.accession_number),
    "StudyDate": ("study", lambda f: _date(f.study.study_date)),
    "StudyDescription": ("study", lambda f: f.study.study_description),
    "ModalitiesInStudy": ("study", lambda f: list(f.study.modalities)),
    "NumberOfStudyRelatedSeries": ("study", lambda f: f.study.series_count),
    "NumberOfStudyRelatedInstances": ("study", lambda f: f.study.instance_count),
    "SeriesInstanceUID": ("series", lambda f: _series(f).series_instance_uid),
    "Modality": ("series", lambda f: _series(f).modality),
    "SeriesDescription": ("series", lambda f: _series(f).series_description),
    "SeriesNumber": ("series", lambda f: _series(f).series_number),
    "BodyPartExamined": ("series", lambda f: _series(f).body_part),
    "NumberOfSeriesRelatedInstances": ("series", lambda f: _series(f).instance_count),
    "SOPInstanceUID": ("instance", lambda f: _instance(f).sop_instance_uid),
    "SOPClassUID": ("instance", lambda f: _instance(f).sop_class_uid),
}
# Returned unless asked otherwise: the index's attributes of the level (and the UIDs above).
DEFAULTS: dict[Level, tuple[str, ...]] = {
    "study": (
        "StudyInstanceUID", "PatientName", "PatientID", "AccessionNumber", "StudyDate",
        "StudyDescription", "ModalitiesInStudy", "NumberOfStudyRelatedSeries",
        "NumberOfStudyRelatedInstances",
    ),
    "series": (
        "StudyInstanceUID", "SeriesInstanceUID", "Modality", "SeriesDescription", "SeriesNumber",
        "BodyPartExamined", "NumberOfSeriesRelatedInstances",
    ),
    "instance": ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID", "SOPClassUID"),
}  # fmt: skip
# Added by `includefield=all`: PS3.18 Table 10.6.3-3 to -5's attributes the index lacks, read
# from a stored file's header.
FROM_HEADER: dict[Level, tuple[str, ...]] = {
    "study": (
        "StudyTime", "ReferringPhysicianName", "PatientBirthDate", "PatientSex", "StudyID",
        "TimezoneOffsetFromUTC",
    ),
    "series": ("SeriesDate", "SeriesTime", "PerformedProcedureStepStartDate",
               "PerformedProcedureStepStartTime", "Laterality"),
    "instance": ("InstanceNumber", "Rows", "Columns", "BitsAllocated", "NumberOfFrames"),
}  # fmt: skip


@dataclass(frozen=True)
class Query:
    """A QIDO-RS request, checked: what to match, what to return, which page."""

    level: Level
    match: dict[str, list[str]]  # keyword -> values (several: a UID list)
    include: tuple[str, ...]  # keywords beyond the level's defaults
    include_all: bool = False
    fuzzy: bool = False
    limit: int = MOST_RESULTS
    offset: int = 0
    ignored: tuple[str, ...] = field(default=())  # attributes not matched on

    def returned(self) -> list[str]:
        wanted = list(DEFAULTS[self.level])
        if self.include_all:
            for level in LEVELS[: LEVELS.index(self.level) + 1]:
                wanted += [k for k in DEFAULTS[level] if k not in wanted]
            wanted += FROM_HEADER[self.level]
        return wanted + [k for k in self.include if k not in wanted]


def parse_query(level: Level, args: Iterable[tuple[str, str]]) -> Query:
    """Read a QIDO-RS query string; InvalidInput names each bad parameter and why."""
    errors: dict[str, str] = {}
    match: dict[str, list[str]] = {}
    include: list[str] = []
    include_all = fuzzy = False
    limit, offset = MOST_RESULTS, 0
    ignored: list[str] = []
    seen: set[str] = set()
    for name, value in args:
        if name in PARAMETERS and name != "includefield" and name in seen:
            errors[name] = "is given twice"
            continue
        seen.add(name)
        if name == "limit" or name == "offset":
            number = _count(value)
            if number is None:
                errors[name] = "must be a whole number, 0 or more"
            elif name == "limit":
                limit = min(number, MOST_RESULTS) if number else MOST_RESULTS
            else:
                offset = number
        elif name == "fuzzymatching":
            if value not in ("true", "false"):
                errors[name] = "must be true or false"
            fuzzy = value == "true"
        elif name == "includefield":
            for item in filter(None, (v.strip() for v in value.split(","))):
                if item == "all":
                    include_all = True
                elif (keyword := attribute(item)) is None:
                    errors[name] = f"{item[:64]!r} is no DICOM attribute (a keyword or a tag)"
                else:
                    include.append(keyword)
        elif (keyword := attribute(name)) is None:
            errors[name[:64]] = "is no DICOM attribute nor a QIDO-RS parameter"
        elif keyword not in MATCHERS or _level(keyword) > LEVELS.index(level):
            ignored.append(keyword)
        elif keyword in match and keyword not in UID_KEYS:
            errors[name] = "is given twice"
        elif problem := _check(keyword, value):
            errors[name] = problem
        else:
            match.setdefault(keyword, []).extend(_values(keyword, value))
    if errors:
        raise InvalidInput(errors)
    return Query(level, match, tuple(include), include_all, fuzzy, limit, offset, tuple(ignored))


def attribute(name: str) -> str | None:
    """The keyword of a DICOM attribute given by keyword or by tag (`00100010`)."""
    if re.fullmatch(r"[0-9A-Fa-f]{8}", name):
        return keyword_for_tag(int(name, 16)) or None
    return name if tag_for_keyword(name) is not None else None


def _count(value: str) -> int | None:
    return int(value) if value.isdigit() and len(value) < 10 else None


def _level(keyword: str) -> int:
    return LEVELS.index(MATCHERS[keyword][0])


def _values(keyword: str, value: str) -> list[str]:
    if keyword in UID_KEYS:
        return [v for v in re.split(r"[\\,]", value) if v]
    if keyword in ("ModalitiesInStudy", "Modality"):
        return [v for v in value.split("\\") if v]
    return [value]


DATE = r"\d{8}"


def _check(keyword: str, value: str) -> str | None:
    """Why this value cannot be matched on, or None."""
    if len(value) > 324:
        return "is too long"
    if keyword in UID_KEYS:
        if any(len(v) > 64 or not DICOM_UID.match(v) for v in _values(keyword, value)):
            return "must be DICOM UIDs (digits and dots), separated by backslashes"
    elif keyword == "StudyDate":
        if not re.fullmatch(rf"{DATE}|{DATE}-|-{DATE}|{DATE}-{DATE}", value) or any(
            _day(d) is None for d in value.split("-") if d
        ):
            return "must be a date YYYYMMDD or a range A-B, A- or -B"
    elif keyword == "SeriesNumber" and not re.fullmatch(r"-?\d{1,10}", value):
        return "must be a whole number"
    return None


def _day(text: str) -> date | None:
    try:
        return date(int(text[:4]), int(text[4:6]), int(text[6:]))
    except ValueError:
        return None


# Matching, by keyword: its level, and the condition for the values given.
Matcher = Callable[[list[str], bool], ColumnElement[bool]]


def _uids(column: Any) -> Matcher:
    return lambda values, _fuzzy: column.in_(values)


def _text(column: Any, person: bool = False) -> Matcher:
    def condition(values: list[str], fuzzy: bool) -> ColumnElement[bool]:
        [value] = values
        if fuzzy and person:
            return _fuzzy(column, value)
        return _wildcard(column, value, fold=person)

    return condition


def _wildcard(column: Any, value: str, fold: bool) -> ColumnElement[bool]:
    """Exact, or with `*` and `?`. A pattern ignores case whatever the column: SQLite's LIKE
    does for ASCII, so PostgreSQL is made to as well, and a query answers alike on both."""
    if value in ("", "*"):  # universal matching
        return and_(True)
    if "*" in value or "?" in value:
        pattern = _escape(value.lower()).replace("*", "%").replace("?", "_")
        return func.lower(column).like(pattern, escape="\\")
    if fold:
        return func.lower(column) == value.lower()
    return column == value


def _fuzzy(column: Any, value: str) -> ColumnElement[bool]:
    """Each word of the query starts a part of the name (family, given, middle ...)."""
    words = [w for w in re.split(r"[\^\s,=*?]+", value.lower()) if w]
    lowered = func.lower(column)
    return and_(
        True,
        *(
            or_(*(lowered.like(f"{sep}{_escape(w)}%", escape="\\") for sep in ("", "%^", "% ")))
            for w in words
        ),
    )


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _dates(values: list[str], _fuzzy: bool) -> ColumnElement[bool]:
    [value] = values
    low, _, high = value.partition("-")
    if "-" not in value:
        return Study.study_date == _day(value)
    conditions = []
    if low:
        conditions.append(Study.study_date >= _day(low))
    if high:
        conditions.append(Study.study_date <= _day(high))
    return and_(*conditions)


def _modalities_in_study(values: list[str], _fuzzy: bool) -> ColumnElement[bool]:
    return exists().where(Series.study_id == Study.id, Series.modality.in_(values))


MATCHERS: dict[str, tuple[Level, Matcher]] = {
    "StudyInstanceUID": ("study", _uids(Study.study_instance_uid)),
    "PatientName": ("study", _text(Study.patient_name, person=True)),
    "PatientID": ("study", _text(Study.patient_id)),
    "AccessionNumber": ("study", _text(Study.accession_number)),
    "StudyDate": ("study", _dates),
    "StudyDescription": ("study", _text(Study.study_description)),
    "ModalitiesInStudy": ("study", _modalities_in_study),
    "SeriesInstanceUID": ("series", _uids(Series.series_instance_uid)),
    "Modality": ("series", lambda values, _f: Series.modality.in_(values)),
    "SeriesDescription": ("series", _text(Series.series_description)),
    "SeriesNumber": ("series", lambda values, _f: Series.series_number == int(values[0])),
    "BodyPartExamined": ("series", _text(Series.body_part)),
    "SOPInstanceUID": ("instance", _uids(Instance.sop_instance_uid)),
    "SOPClassUID": ("instance", _uids(Instance.sop_class_uid)),
}


@dataclass(frozen=True)
class Page:
    """The data sets found, and whether more matched than this page holds."""

    found: list[Found]
    more: bool


def search(session: Session, query: Query, readable: ColumnElement[bool]) -> Page:
    """The results of `query` among the studies `readable` selects (the asker's scope)."""
    statement: Select[Any]
    if query.level == "study":
        statement = select(Study).order_by(Study.id)
    elif query.level == "series":
        statement = (
            select(Study, Series)  # type: ignore[assignment]
            .join(Series, Series.study_id == Study.id)
            .order_by(Study.id, Series.series_number.is_(None), Series.series_number, Series.id)
        )
    else:
        statement = (
            select(Study, Series, Instance)  # type: ignore[assignment]
            .join(Series, Series.study_id == Study.id)
            .join(Instance, Instance.series_id == Series.id)
            .order_by(Study.id, Series.id, Instance.id)
        )
    conditions = [readable]
    for keyword, values in query.match.items():
        conditions.append(MATCHERS[keyword][1](values, query.fuzzy))
    statement = statement.where(*conditions).offset(query.offset).limit(query.limit + 1)
    rows = list(session.execute(statement))
    found = [Found(*row) for row in rows[: query.limit]]
    return Page(found, more=len(rows) > query.limit)


def data_sets(
    session: Session,
    query: Query,
    found: Sequence[Found],
    file: Callable[[str], Path],
) -> list[Dataset]:
    """Each result as a data set of the attributes `query` returns: from the index, and from
    one stored file's header for the others (`file` turns an index path into a file). The
    caller adds the RetrieveURL, under the root the client came through."""
    wanted = query.returned()
    from_header = [
        k for k in wanted if k not in INDEXED or _level_of(k) > LEVELS.index(query.level)
    ]
    answers = []
    for result in found:
        ds = Dataset()
        for keyword in wanted:
            if keyword not in from_header:
                _set(ds, keyword, INDEXED[keyword][1](result))
        if from_header:
            header = _header(session, result, from_header, file)
            for keyword in from_header:
                element = header.get(keyword)
                if element is not None:
                    ds[tag_for_keyword(keyword)] = header[keyword]  # type: ignore[index]
        ds.InstanceAvailability = "ONLINE"
        answers.append(ds)
    return answers


def _level_of(keyword: str) -> int:
    return LEVELS.index(INDEXED[keyword][0])


def _set(ds: Dataset, keyword: str, value: Any) -> None:
    tag = tag_for_keyword(keyword)
    assert tag is not None
    vr = dictionary_VR(tag)
    if value is None or value == "" or value == []:
        ds.add_new(tag, vr, None)
    else:
        ds.add_new(tag, vr, value)


def _header(
    session: Session,
    result: Found,
    keywords: list[str],
    file: Callable[[str], Path],
) -> Dataset:
    """The header of the result's instance, or of its study's or series' first one."""
    if result.instance is not None:
        path = result.instance.path
    else:
        statement = select(Instance.path).join(Series).order_by(Instance.id).limit(1)
        if result.series is not None:
            statement = statement.where(Instance.series_id == result.series.id)
        else:
            statement = statement.where(Series.study_id == result.study.id)
        found = session.scalar(statement)
        if found is None:
            return Dataset()
        path = found
    tags = [t for t in map(tag_for_keyword, keywords) if t is not None]
    return dcmread(file(path), stop_before_pixels=True, specific_tags=tags)
