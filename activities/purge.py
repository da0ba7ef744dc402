"""The retention purge's activity: the studies kept past their site's retention are deleted,
files and index rows, each with an audit entry; never a study of an open case nor one under
legal hold.

One study at a time, in its own transaction: its row is locked and the rule checked again
under the lock (a request claiming the study meanwhile wins), its files are unlinked, then
its rows deleted (series, instances, share links go with it) and the transaction committed.
Stopped between the two, the rows stay and the next run finishes the study: no file is ever
left behind without the row that would have it purged. Safe to run twice.
"""

from __future__ import annotations

import contextlib
import logging
import os
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, delete, false, or_, select
from sqlalchemy.orm import Session
from temporalio import activity

from dicom.storage import Storage
from garde.db import SessionFactory
from garde.domain import CaseStatus
from garde.models import AuditEvent, Case, Instance, Series, Site, Study

log = logging.getLogger(__name__)

ACTOR = "retention purge"
FINAL = (CaseStatus.FINAL.value, CaseStatus.CANCELLED.value)


@dataclass(frozen=True)
class PurgeRun:
    at: datetime  # the run's instant (the workflow's clock): retention counts back from it


@dataclass(frozen=True)
class PurgeResult:
    studies: int
    instances: int
    size_bytes: int


def purgeable(session: Session, at: datetime) -> ColumnElement[bool]:
    """The rule, as a condition on a Study: last object older than its site's retention, no
    legal hold, no case or a case that is final or cancelled."""
    retention = session.execute(select(Site.id, Site.study_retention_days)).all()
    old = or_(
        false(),
        *(
            (Study.site_id == site_id) & (Study.last_arrival_at < at - timedelta(days=days))
            for site_id, days in retention
        ),
    )
    case_closed = or_(
        Study.case_id.is_(None),
        select(Case.id).where(Case.id == Study.case_id, Case.status.in_(FINAL)).exists(),
    )
    return old & Study.legal_hold.is_(False) & case_closed


class Purges:
    def __init__(self, sessions: SessionFactory, storage: Storage) -> None:
        self._sessions = sessions
        self._storage = storage

    @activity.defn
    def purge_studies(self, run: PurgeRun) -> PurgeResult:
        with self._sessions() as s:
            ids = list(s.scalars(select(Study.id).where(purgeable(s, run.at)).order_by(Study.id)))
        studies = instances = size = 0
        for study_id in ids:
            activity.heartbeat(study_id)
            done = self._purge(study_id, run.at)
            if done is not None:
                studies += 1
                instances += done[0]
                size += done[1]
        if studies:
            log.info("purged %d studies past their retention (%d objects)", studies, instances)
        return PurgeResult(studies, instances, size)

    def _purge(self, study_id: int, at: datetime) -> tuple[int, int] | None:
        """The study's objects and rows deleted, with the audit entry; None when it is no
        longer purgeable (claimed by a case, put under hold, received again)."""
        with self._sessions.begin() as s:
            study = s.scalars(
                select(Study)
                .where(Study.id == study_id, purgeable(s, at))
                .with_for_update(of=Study)
            ).one_or_none()
            if study is None:
                return None
            paths = list(
                s.scalars(
                    select(Instance.path)
                    .join(Series, Series.id == Instance.series_id)
                    .where(Series.study_id == study_id)
                )
            )
            for path in paths:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(self._storage.path(path))
            s.add(
                AuditEvent(
                    actor=ACTOR,
                    action="study.purge",
                    target=f"study:{study.id}",
                    detail=(
                        f"{study.study_instance_uid}, site {study.site.code}, "
                        f"case {study.case_id or 'none'}, "
                        f"{study.instance_count} objects, {study.size_bytes} bytes, last object "
                        f"{study.last_arrival_at:%Y-%m-%d}, retention "
                        f"{study.site.study_retention_days} days"
                    ),
                    address=None,
                )
            )
            counts = (study.instance_count, study.size_bytes)
            s.execute(delete(Study).where(Study.id == study_id))
        return counts
