"""A study and its case: the link, the first arrival on the case's timeline, and what the
case's workflow is told of the study. Used by the gateway's arrivals (dicom/arrivals.py) and
by intake, for images that came before their request."""

from __future__ import annotations

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from garde.domain import EventKind
from garde.messages import StudyArrival
from garde.models import Case, CaseEvent, Study


def attach(session: Session, study: Study, case: Case, opened: bool = False) -> None:
    """Link the study to its case and record its first arrival, with the counts so far, on
    the case's timeline (once: the entry's key is the study's); `opened`: the images opened
    the case."""
    study.case_id = case.id
    key = f"study-{study.id}"
    if session.scalar(
        select(CaseEvent.id).where(CaseEvent.case_id == case.id, CaseEvent.key == key)
    ):
        return
    detail = counts(study.series_count, study.instance_count)
    session.add(
        CaseEvent(
            case_id=case.id,
            key=key,
            at=study.first_arrival_at,
            kind=EventKind.STUDY_ARRIVED,
            detail=detail + ("; opened the case" if opened else ""),
        )
    )


def claim_waiting(session: Session, case: Case) -> list[Study]:
    """Studies of the case's site that arrived before it, with its accession number or its
    Study Instance UID, linked to it now (not committed)."""
    match = [Study.accession_number == case.accession_number]
    if case.study_instance_uid:
        match.append(Study.study_instance_uid == case.study_instance_uid)
    waiting = list(
        session.scalars(
            select(Study)
            .where(Study.site_id == case.site_id, Study.case_id.is_(None), or_(*match))
            .order_by(Study.id)
        )
    )
    for study in waiting:
        attach(session, study, case)
    return waiting


def study_arrival(study: Study, new_series: int, new_instances: int) -> StudyArrival:
    """What the case's workflow is told of its study: the counts so far, what came now."""
    assert study.case_id is not None
    return StudyArrival(
        case_id=study.case_id,
        study_id=study.id,
        study_instance_uid=study.study_instance_uid,
        series=study.series_count,
        instances=study.instance_count,
        new_series=new_series,
        new_instances=new_instances,
        at=study.last_arrival_at,
        quiet_s=study.site.study_quiet_s,
    )


def counts(series: int, instances: int) -> str:
    """A timeline entry's detail about images (web/display.py reads it back in words)."""
    return f"{series} series, {instances} instances"
