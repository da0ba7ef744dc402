"""Offer timeouts on Temporal's time-skipping test server: minutes pass in milliseconds.

The real worker (workflow and activities) runs in-process against a real SQLite database.
"""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select
from temporalio.testing import WorkflowEnvironment

from garde.db import SessionFactory, make_engine, make_session_factory, upgrade
from garde.domain import CaseStatus, OfferStatus, Priority, Tier
from garde.intake import case_start
from garde.models import Case, Expert, Offer, Shift, Site
from garde.settings import Settings
from garde.temporal import TASK_QUEUE, venv_binary
from garde.worker import build_worker


def _seed(sessions: SessionFactory, priority: Priority) -> tuple[int, int, int]:
    now = datetime.now(UTC)
    with sessions.begin() as s:
        site = Site(code="CH-T", name="CH Test", prices={"CT": 9000})
        alice = Expert(code="DR-A", name="A", phone="+33600000001", modalities=["CT"], sites=[site])
        bruno = Expert(code="DR-B", name="B", phone="+33600000002", modalities=["CT"], sites=[site])
        s.add_all([site, alice, bruno])
        s.flush()
        for expert, tier in ((alice, Tier.PRIMARY), (bruno, Tier.BACKUP)):
            s.add(
                Shift(
                    expert_id=expert.id,
                    start=now - timedelta(hours=1),
                    end=now + timedelta(days=1),
                    tier=tier,
                )
            )
        case = Case(
            site_id=site.id,
            accession_number="A1",
            modality="CT",
            body_part="HEAD",
            study_description="CT head",
            priority=priority,
            clinical_question="q",
            requesting_physician="p",
            callback_phone="+33471000000",
            status=CaseStatus.REQUESTED,
            requested_at=now,
        )
        s.add(case)
        s.flush()
        return case.id, alice.id, bruno.id


async def _offers(sessions: SessionFactory, case_id: int, count: int) -> list[Offer]:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with sessions() as s:
            offers = list(
                s.scalars(select(Offer).where(Offer.case_id == case_id).order_by(Offer.sequence))
            )
        if len(offers) >= count:
            return offers
        await asyncio.sleep(0.1)
    raise AssertionError(f"expected {count} offers, got {len(offers)}")


async def _scenario(tmp_path: Path, priority: Priority, timeout: timedelta) -> None:
    url = f"sqlite:///{tmp_path / 'garde.db'}"
    upgrade(url)
    sessions = make_session_factory(make_engine(url))
    case_id, alice, bruno = _seed(sessions, priority)
    settings = Settings.from_env({"GARDE_DATA_DIR": str(tmp_path), "GARDE_DATABASE_URL": url})
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=venv_binary("temporal-test-server")
    )
    async with env:
        with ThreadPoolExecutor(16) as executor:
            async with build_worker(env.client, settings, executor):
                with sessions() as s:
                    start = case_start(s.get_one(Case, case_id))
                await env.client.start_workflow(
                    "Case", start, id=f"case-{case_id}", task_queue=TASK_QUEUE
                )
                first = await _offers(sessions, case_id, 1)
                assert first[0].expert_id == alice

                # Just before the timeout nothing moves; just after, the backup is asked.
                await env.sleep(timeout - timedelta(seconds=5))
                await asyncio.sleep(0.5)
                assert len(await _offers(sessions, case_id, 1)) == 1
                await env.sleep(timedelta(seconds=6))
                offers = await _offers(sessions, case_id, 2)
                assert offers[0].status == OfferStatus.EXPIRED
                assert offers[1].expert_id == bruno
                assert offers[1].sent_at - offers[0].sent_at >= timeout

                # Nobody answers: the ladder starts again from the top.
                await env.sleep(timeout + timedelta(seconds=1))
                offers = await _offers(sessions, case_id, 3)
                assert offers[2].expert_id == alice
    with sessions() as s:
        events = [e.kind for e in s.get_one(Case, case_id).events]
    assert events.count("offer_expired") >= 2


def test_unanswered_urgent_offer_goes_to_next_expert_after_five_minutes(tmp_path: Path) -> None:
    asyncio.run(_scenario(tmp_path, Priority.URGENT, timedelta(minutes=5)))


def test_unanswered_stat_offer_goes_to_next_expert_after_three_minutes(tmp_path: Path) -> None:
    asyncio.run(_scenario(tmp_path, Priority.STAT, timedelta(minutes=3)))
