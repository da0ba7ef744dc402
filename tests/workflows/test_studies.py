"""The case's images on the time-skipping server: a study is stable after the site's quiet
period without a batch; a batch after that reopens it, is recorded, and tells the holder
that new images arrived; a case opened by images starts with its study."""

from __future__ import annotations

import asyncio
import secrets
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from dicom.arrivals import announce, link
from garde.domain import EventKind
from garde.models import Case, CaseEvent, SiteAeTitle, Study
from garde.reconciler import Reconciler, unsettled_studies
from tests.dicom.conftest import batch as batch_of
from tests.workflows.harness import Night, night, seed_region

QUIET = timedelta(seconds=30)  # the sites' default quiet period (sites.study_quiet_s)


def new_study(n: Night, site_id: int, accession: str) -> int:
    now = datetime.now(UTC)
    with n.sessions.begin() as s:
        study = Study(
            site_id=site_id,
            study_instance_uid=f"1.2.826.0.9.{secrets.randbelow(10**12)}",
            accession_number=accession,
            modalities=["CT"],
            first_arrival_at=now,
            last_arrival_at=now,
            series_count=2,
            instance_count=40,
        )
        s.add(study)
        s.flush()
        return study.id


async def batch(n: Night, study_id: int, title: str, series: int, instances: int) -> list[int]:
    """The index committed a batch that brought the study to these counts; it is announced.
    The cases told."""
    with n.sessions() as s:
        study = s.get_one(Study, study_id)
        added = (series - study.series_count, instances - study.instance_count)
        study.series_count, study.instance_count = series, instances
        study.last_arrival_at = datetime.now(UTC)
        s.commit()
        arrivals = link(s, [batch_of(study, title, *added)])
    await announce(n.client, arrivals)
    return [a.case_id for a in arrivals]


def study(n: Night, study_id: int) -> Study:
    with n.sessions() as s:
        return s.get_one(Study, study_id)


def entries(n: Night, case_id: int, kind: EventKind) -> list[CaseEvent]:
    return [e for e in n.events(case_id) if e.kind == kind]


def test_a_study_is_stable_after_the_quiet_period_and_reopened_by_a_later_batch(
    database_url: str,
) -> None:
    async def scenario() -> None:
        async with night(database_url) as n:
            region = seed_region(n.sessions)
            alice = region.experts["alice"]
            case_id = await n.request(region)
            await n.accept(case_id, alice)
            study_id = new_study(n, region.site_id, n.case(case_id).accession_number)
            assert await batch(n, study_id, "ANY", 2, 40) == [case_id]

            # Batches inside the quiet period keep it receiving.
            await n.sleep(QUIET / 2)
            await batch(n, study_id, "ANY", 2, 50)
            await n.sleep(QUIET * 3 / 4)
            await n.quiet()
            assert study(n, study_id).stable_at is None
            assert not entries(n, case_id, EventKind.STUDY_STABLE)

            await n.sleep(QUIET / 2)
            await n.event_seen(case_id, EventKind.STUDY_STABLE, "2 series, 50 instances")
            assert study(n, study_id).stable_at is not None
            assert not n.sms_to(alice, "nouvelles images")

            # A batch after stable: recorded, receiving again, the holder told.
            await batch(n, study_id, "ANY", 3, 70)
            await n.event_seen(case_id, EventKind.STUDY_REOPENED, "1 series, 20 instances")
            [told] = await n.sms_seen(alice, "nouvelles images")
            assert f"cas {case_id}" in told.body
            case = n.case(case_id)
            for field in (case.accession_number, case.clinical_question, case.body_part):
                assert field not in told.body
            await n.eventually(lambda: study(n, study_id).stable_at is None, "receiving again")

            await n.sleep(QUIET + timedelta(seconds=1))
            await n.eventually(
                lambda: len(entries(n, case_id, EventKind.STUDY_STABLE)) == 2, "stable again"
            )
            assert study(n, study_id).stable_at is not None
            # The same batch told twice (a retry) reopens nothing.
            await batch(n, study_id, "ANY", 3, 70)
            await n.quiet()
            assert len(entries(n, case_id, EventKind.STUDY_REOPENED)) == 1
            await n.record_history(case_id, "study_arrivals")

    asyncio.run(scenario())


def test_a_case_opened_by_images_starts_with_its_study(database_url: str) -> None:
    async def scenario() -> None:
        async with night(database_url) as n:
            region = seed_region(n.sessions)
            title = "OPEN" + secrets.token_hex(3).upper()
            with n.sessions.begin() as s:
                s.add(
                    SiteAeTitle(
                        ae_title=title, site_id=region.site_id, open_cases=True, priority="stat"
                    )
                )
            accession = "ACC-" + secrets.token_hex(4)
            study_id = new_study(n, region.site_id, accession)

            [case_id] = await batch(n, study_id, title, 2, 40)

            with n.sessions() as s:
                case = s.scalar(select(Case).where(Case.id == case_id))
                assert case is not None and case.accession_number == accession
            # Routed like any case, at the AE title's priority.
            await n.offers_made(case_id, 1)
            assert n.case(case_id).priority == "stat"
            await n.sleep(QUIET + timedelta(seconds=1))
            await n.event_seen(case_id, EventKind.STUDY_STABLE, "2 series, 40 instances")

    asyncio.run(scenario())


def test_a_batch_whose_signal_was_lost_is_told_again_by_the_reconciler(
    database_url: str,
) -> None:
    async def scenario() -> None:
        async with night(database_url) as n:
            region = seed_region(n.sessions)
            case_id = await n.request(region)
            study_id = new_study(n, region.site_id, n.case(case_id).accession_number)
            # Indexed and linked while Temporal was away: the case never heard of it.
            with n.sessions() as s:
                study = s.get_one(Study, study_id)
                study.last_arrival_at = datetime.now(UTC) - QUIET - timedelta(minutes=2)
                s.commit()
                link(s, [batch_of(study, "ANY", 2, 40)])

            done = await Reconciler(n.client, n.sessions).once()

            assert done.delivered >= 1
            await n.sleep(QUIET + timedelta(seconds=1))
            await n.event_seen(case_id, EventKind.STUDY_STABLE, "2 series, 40 instances")
            # Once stable, it is not told again.
            assert study_id not in [a.study_id for a in unsettled_studies(n.sessions)]

    asyncio.run(scenario())
