"""After each batch the index commits: the studies it touched are linked to their cases, and
each case's workflow is told what arrived (one signal per study per batch, never per
instance).

A study is matched to a case of its site by accession number, else by Study Instance UID.
With no case, an AE title whose setting says `open_cases` opens one (intake's path, so it
carries the site's promise; its clinical question left for the site to give); otherwise the
study waits, and a request sent later with its accession number or UID claims it (intake).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import replace

from sqlalchemy import select
from sqlalchemy.orm import Session
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from dicom.index import StudyBatch
from garde.domain import Priority
from garde.intake import case_start, open_from_images
from garde.messages import StudyArrival
from garde.models import Case, Site, SiteAeTitle, Study
from garde.study_links import attach, study_arrival
from garde.temporal import case_workflow_id, start_case_workflow

log = logging.getLogger(__name__)


def link(session: Session, batch: Sequence[StudyBatch]) -> list[StudyArrival]:
    """Link each study of the batch to its case (found, or opened by its AE title's setting)
    and say what its workflow is to be told; a study with no case waits for its request."""
    arrivals: list[StudyArrival] = []
    for item in _by_study(batch):
        study = session.get_one(Study, item.study_id)
        opened = None
        if study.case_id is None:
            case = _matching_case(session, study)
            if case is None:
                case = opened = _open_case(session, study, item.calling_ae)
            if case is None:
                continue
            attach(session, study, case, opened=opened is not None)
            session.commit()
        arrival = study_arrival(study, item.new_series, item.new_instances)
        if opened is not None:
            # Its workflow starts with the study (case_start reads the linked studies).
            arrival = replace(arrival, case_start=case_start(opened))
        arrivals.append(arrival)
    return arrivals


async def announce(client: Client, arrivals: Sequence[StudyArrival]) -> None:
    """Tell each case's workflow what arrived; a case the images opened is started instead,
    with them. A workflow not started yet learns of its studies when it starts; one that is
    over needs nothing more."""
    await asyncio.gather(*(_announce(client, a) for a in arrivals))


async def _announce(client: Client, arrival: StudyArrival) -> None:
    if arrival.case_start is not None:
        await start_case_workflow(client, arrival.case_start)
        return
    try:
        await client.get_workflow_handle(case_workflow_id(arrival.case_id)).signal(
            "study_arrived", arrival
        )
    except RPCError as e:
        if e.status != RPCStatusCode.NOT_FOUND:
            raise
        log.info("case %s: no running workflow to tell of its images", arrival.case_id)


def _by_study(batch: Sequence[StudyBatch]) -> list[StudyBatch]:
    """One entry per study, in the order first seen: what a batch added, summed."""
    merged: dict[int, StudyBatch] = {}
    for item in batch:
        seen = merged.get(item.study_id)
        merged[item.study_id] = (
            item
            if seen is None
            else replace(
                seen,
                new_series=seen.new_series + item.new_series,
                new_instances=seen.new_instances + item.new_instances,
            )
        )
    return list(merged.values())


def _matching_case(session: Session, study: Study) -> Case | None:
    """The site's case with the study's accession number, else with its Study Instance UID
    (the newest, should several name it)."""
    if study.accession_number:
        found = session.scalar(
            select(Case).where(
                Case.site_id == study.site_id, Case.accession_number == study.accession_number
            )
        )
        if found is not None:
            return found
    return session.scalar(
        select(Case)
        .where(Case.site_id == study.site_id, Case.study_instance_uid == study.study_instance_uid)
        .order_by(Case.id.desc())
        .limit(1)
    )


def _open_case(session: Session, study: Study, calling_ae: str) -> Case | None:
    """A case for the study when the AE title it came from opens cases; else None."""
    setting = session.scalar(
        select(SiteAeTitle).where(
            SiteAeTitle.ae_title == calling_ae, SiteAeTitle.site_id == study.site_id
        )
    )
    if setting is None or not setting.open_cases:
        return None
    site = session.get_one(Site, study.site_id)
    return open_from_images(session, site, study, Priority(setting.priority))
