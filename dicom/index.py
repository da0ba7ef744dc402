"""The study index: studies, series and instances received, written in batches.

A CT series is hundreds of objects a second: indexing one by one would cost a database round
trip each. The gateway collects what an association stored and writes it in one transaction
when the association ends, every `most` objects, or a second after the first one waiting,
whichever comes first: a dozen statements per batch, whatever its size. Rows are upserted
(an object indexed already, by this or another process, is left alone) and the counts are
summed from the rows, so a batch written twice counts once. After each commit `on_batch` hears
what the batch did to each study (dicom.arrivals links studies to cases and tells workflows).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, tuple_, update
from sqlalchemy.orm import Session

from dicom.objects import DicomObject
from garde.db import insert_for
from garde.models import Instance, Series, Study


@dataclass(frozen=True)
class Received:
    """An object stored for a site, waiting to be indexed. `calling_ae` is empty when it
    came another way than C-STORE (STOW-RS, an upload)."""

    object: DicomObject
    site_id: int
    calling_ae: str
    path: str  # under the data folder (Storage.relative_path)
    received_at: datetime


@dataclass(frozen=True)
class StudyBatch:
    """What one committed batch did to one study: its counts after the batch, what the batch
    added (nothing when every object was indexed already: such a study is not listed), and
    when its objects arrived."""

    study_id: int
    site_id: int
    study_instance_uid: str
    accession_number: str
    calling_ae: str
    series_count: int
    instance_count: int
    new_series: int
    new_instances: int
    first_at: datetime
    last_at: datetime


OnBatch = Callable[[list[StudyBatch]], None]


def index(session: Session, received: list[Received]) -> list[StudyBatch]:
    """Write `received` into the index in the session's transaction (not committed here)."""
    known = set(
        session.scalars(
            select(Instance.sop_instance_uid).where(
                Instance.sop_instance_uid.in_({r.object.sop_instance_uid for r in received})
            )
        )
    )
    fresh: dict[str, Received] = {}
    for r in received:
        if r.object.sop_instance_uid not in known:
            fresh.setdefault(r.object.sop_instance_uid, r)
    if not fresh:
        return []
    items = list(fresh.values())
    studies = _upsert_studies(session, items)
    series = _upsert_series(session, items, studies)
    session.execute(
        insert_for(session, Instance).on_conflict_do_nothing(index_elements=["sop_instance_uid"]),
        [
            {
                "sop_instance_uid": r.object.sop_instance_uid,
                "series_id": series[(studies[_study_key(r)].id, r.object.series_instance_uid)],
                "sop_class_uid": r.object.sop_class_uid,
                "transfer_syntax_uid": r.object.transfer_syntax_uid,
                "size_bytes": r.object.size_bytes,
                "path": r.path,
                "received_at": r.received_at,
            }
            for r in items
        ],
    )
    return _count(session, items, studies)


@dataclass(frozen=True)
class _StudyRow:
    id: int
    series_count: int
    instance_count: int
    last_arrival_at: datetime


def _study_key(r: Received) -> tuple[int, str]:
    return (r.site_id, r.object.study_instance_uid)


def _upsert_studies(session: Session, items: list[Received]) -> dict[tuple[int, str], _StudyRow]:
    """Each study of the batch as it stands, locked for the batch (PostgreSQL: another gateway
    process counting the same study waits). A new study takes its first object's details."""
    first: dict[tuple[int, str], Received] = {}
    for r in items:
        first.setdefault(_study_key(r), r)
    session.execute(
        insert_for(session, Study).on_conflict_do_nothing(
            index_elements=["site_id", "study_instance_uid"]
        ),
        [
            {
                "site_id": r.site_id,
                "study_instance_uid": r.object.study_instance_uid,
                "patient_id": r.object.patient_id,
                "patient_name": r.object.patient_name,
                "accession_number": r.object.accession_number,
                "study_date": r.object.study_date,
                "study_description": r.object.study_description,
                "modalities": [],
                "body_part": r.object.body_part,
                "character_set": r.object.character_set,
                "calling_ae": r.calling_ae,
                "first_arrival_at": min(i.received_at for i in items if _study_key(i) == key),
                "last_arrival_at": r.received_at,
                "series_count": 0,
                "instance_count": 0,
                "size_bytes": 0,
            }
            for key, r in first.items()
        ],
    )
    rows = session.execute(
        select(
            Study.site_id,
            Study.study_instance_uid,
            Study.id,
            Study.series_count,
            Study.instance_count,
            Study.last_arrival_at,
        )
        .where(tuple_(Study.site_id, Study.study_instance_uid).in_(list(first)))
        .order_by(Study.id)
        .with_for_update()
    )
    return {
        (site, uid): _StudyRow(id, n_series, n, last) for site, uid, id, n_series, n, last in rows
    }


def _upsert_series(
    session: Session, items: list[Received], studies: dict[tuple[int, str], _StudyRow]
) -> dict[tuple[int, str], int]:
    first: dict[tuple[int, str], Received] = {}
    for r in items:
        first.setdefault((studies[_study_key(r)].id, r.object.series_instance_uid), r)
    session.execute(
        insert_for(session, Series).on_conflict_do_nothing(
            index_elements=["study_id", "series_instance_uid"]
        ),
        [
            {
                "study_id": study_id,
                "series_instance_uid": uid,
                "modality": r.object.modality,
                "body_part": r.object.body_part,
                "series_description": r.object.series_description,
                "series_number": r.object.series_number,
                "instance_count": 0,
                "size_bytes": 0,
            }
            for (study_id, uid), r in first.items()
        ],
    )
    rows = session.execute(
        select(Series.study_id, Series.series_instance_uid, Series.id).where(
            Series.study_id.in_({s.id for s in studies.values()})
        )
    )
    return {(study_id, uid): id for study_id, uid, id in rows}


def _count(
    session: Session, items: list[Received], studies: dict[tuple[int, str], _StudyRow]
) -> list[StudyBatch]:
    """Sum the rows into the series and the studies; what the batch did to each study."""
    ids = [s.id for s in studies.values()]
    instances = select(Instance.series_id).where(Instance.series_id == Series.id)
    session.execute(
        update(Series)
        .where(Series.study_id.in_(ids))
        .values(
            instance_count=instances.with_only_columns(func.count()).scalar_subquery(),
            size_bytes=instances.with_only_columns(
                func.coalesce(func.sum(Instance.size_bytes), 0)
            ).scalar_subquery(),
        )
        .execution_options(synchronize_session=False)
    )
    sums: dict[int, tuple[int, int, int]] = {}
    modalities: dict[int, set[str]] = {}
    for study_id, modality, count, size in session.execute(
        select(Series.study_id, Series.modality, Series.instance_count, Series.size_bytes).where(
            Series.study_id.in_(ids)
        )
    ):
        n_series, n, total = sums.get(study_id, (0, 0, 0))
        sums[study_id] = (n_series + 1, n + count, total + size)
        if modality:
            modalities.setdefault(study_id, set()).add(modality)
    done: list[StudyBatch] = []
    for key, study in studies.items():
        mine = [r for r in items if _study_key(r) == key]
        n_series, n, total = sums[study.id]
        last = max(r.received_at for r in mine)
        values: dict[str, Any] = {
            "series_count": n_series,
            "instance_count": n,
            "size_bytes": total,
            "modalities": sorted(modalities.get(study.id, set())),
            "last_arrival_at": max(last, study.last_arrival_at),
        }
        if n > study.instance_count:
            values["stable_at"] = None  # receiving again, until its workflow says otherwise
        session.execute(
            update(Study)
            .where(Study.id == study.id)
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        if n > study.instance_count:
            done.append(
                StudyBatch(
                    study_id=study.id,
                    site_id=key[0],
                    study_instance_uid=key[1],
                    accession_number=mine[0].object.accession_number,
                    calling_ae=mine[0].calling_ae,
                    series_count=n_series,
                    instance_count=n,
                    new_series=n_series - study.series_count,
                    new_instances=n - study.instance_count,
                    first_at=min(r.received_at for r in mine),
                    last_at=last,
                )
            )
    return done
