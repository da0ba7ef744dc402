"""A night on Temporal's time-skipping test server: minutes pass in milliseconds.

The real case workflow and its real activities run in-process against a real database (the
suite's SQLite or PostgreSQL), and SMS go through the real `twilio` client to the Twilio
double on loopback. Time moves only when a test says so (`Night.sleep`): between two sleeps
the test watches the database and the double, in real time, for what the workflow did.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import time
from collections.abc import AsyncIterator, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import select
from temporalio.client import Client, WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from activities.sms import TwilioSms
from garde.db import SessionFactory, make_engine, make_session_factory, upgrade
from garde.domain import Priority, Tier
from garde.intake import CaseRequest, case_start, record_case
from garde.messages import Acceptance, CaseView, ReportDraft, ReportFiled, SmsAnswer
from garde.models import Alert, Case, CaseEvent, Coordinator, Expert, Offer, Shift, Site
from garde.settings import Settings
from garde.temporal import case_workflow_id, start_case_workflow, venv_binary
from garde.worker import build_worker
from tests.twilio_double import SentMessage, TwilioDouble

T = TypeVar("T")
HISTORIES = Path(__file__).parent / "histories"


@dataclass(frozen=True)
class Person:
    id: int
    code: str
    phone: str


@dataclass(frozen=True)
class Region:
    """One site, its experts on duty (by name) and one coordinator, alone on their rosters."""

    site_id: int
    site_code: str
    experts: dict[str, Person]
    coordinator: Person


def phone() -> str:
    return "+336" + "".join(secrets.choice("0123456789") for _ in range(8))


def seed_region(
    sessions: SessionFactory,
    *,
    primary: Sequence[str] = ("alice",),
    backup: Sequence[str] = ("bruno",),
    off_duty: Sequence[str] = (),
    service_levels: dict[str, Any] | None = None,
    escalation: dict[str, Any] | None = None,
    max_concurrent: int = 3,
    on_duty_for: timedelta = timedelta(days=10),
) -> Region:
    """A site with its experts credentialed for CT, on duty from an hour ago; `off_duty`
    experts are credentialed but have no shift."""
    tag = secrets.token_hex(3).upper()
    now = datetime.now(UTC)
    with sessions.begin() as s:
        site = Site(
            code=f"SITE-{tag}",
            name=f"CH {tag}",
            prices={"CT": 9000},
            service_levels=service_levels or {},
            escalation=escalation or {},
        )
        s.add(site)
        s.flush()
        experts: dict[str, Person] = {}
        for names, tier in ((primary, Tier.PRIMARY), (backup, Tier.BACKUP), (off_duty, None)):
            for name in names:
                expert = Expert(
                    code=f"DR-{name.upper()}-{tag}",
                    name=f"Dr {name.title()}",
                    phone=phone(),
                    modalities=["CT"],
                    subspecialties=["neuro"],
                    max_concurrent=max_concurrent,
                    sites=[site],
                )
                s.add(expert)
                s.flush()
                if tier is not None:
                    s.add(
                        Shift(
                            expert_id=expert.id,
                            start=now - timedelta(hours=1),
                            end=now + on_duty_for,
                            tier=tier,
                        )
                    )
                experts[name] = Person(expert.id, expert.code, expert.phone)
        coordinator = Coordinator(code=f"COORD-{tag}", name="Coordination", phone=phone())
        s.add(coordinator)
        s.flush()
        return Region(
            site.id,
            site.code,
            experts,
            Person(coordinator.id, coordinator.code, coordinator.phone),
        )


class Night:
    def __init__(
        self, env: WorkflowEnvironment, sessions: SessionFactory, twilio: TwilioDouble
    ) -> None:
        self.env = env
        self.sessions = sessions
        self.twilio = twilio

    @property
    def client(self) -> Client:
        return self.env.client

    # --- acting --------------------------------------------------------------------------

    async def request(self, region: Region, priority: Priority = Priority.URGENT) -> int:
        """A site's read request through intake, and its workflow started."""
        with self.sessions() as s:
            site = s.get_one(Site, region.site_id)
            case, _ = record_case(s, site, _request(priority))
            start = case_start(case)
        await start_case_workflow(self.client, start)
        return start.case_id

    def handle(self, case_id: int) -> WorkflowHandle[Any, Any]:
        return self.client.get_workflow_handle(case_workflow_id(case_id))

    async def accept(self, case_id: int, expert: Person) -> None:
        await self.handle(case_id).execute_update("accept", Acceptance(expert.id))

    async def answer_sms(self, case_id: int, offer: Offer, accept: bool) -> None:
        answer = SmsAnswer(offer.id, offer.expert_id, accept)
        await self.handle(case_id).signal("sms_answer", answer)

    async def report(
        self, case_id: int, expert: Person, kind: str = "final", critical: bool = False
    ) -> ReportFiled:
        from garde.domain import ReportKind

        draft = ReportDraft(expert.id, ReportKind(kind), "Findings.", "Impression.", critical)
        filed: ReportFiled = await self.handle(case_id).execute_update(
            "file_report", draft, result_type=ReportFiled
        )
        return filed

    async def sleep(self, delta: timedelta) -> None:
        """Let `delta` of workflow time pass (and what it triggers run)."""
        await self.env.sleep(delta)

    # --- watching ------------------------------------------------------------------------

    async def eventually(self, probe: Callable[[], T], what: str, timeout: float = 20.0) -> T:
        """Poll in real time until `probe()` is truthy; its value."""
        deadline = time.monotonic() + timeout
        while True:
            value = probe()
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout}s waiting for {what}")
            await asyncio.sleep(0.05)

    async def offers_made(self, case_id: int, count: int) -> list[Offer]:
        return await self.eventually(
            lambda: (found := self.offers(case_id)) and len(found) >= count and found,
            f"{count} offers for case {case_id}",
        )

    async def settled(self, case_id: int) -> CaseView:
        """The workflow's view, once the record has caught up with it."""

        async def agree() -> CaseView | None:
            view: CaseView = await self.handle(case_id).query("view", result_type=CaseView)
            return view if self.case(case_id).status_seq == view.seq else None

        deadline = time.monotonic() + 20
        while (view := await agree()) is None:
            if time.monotonic() > deadline:
                raise AssertionError(f"the record of case {case_id} never caught up")
            await asyncio.sleep(0.05)
        return view

    def offers(self, case_id: int) -> list[Offer]:
        with self.sessions() as s:
            return list(
                s.scalars(select(Offer).where(Offer.case_id == case_id).order_by(Offer.sequence))
            )

    def case(self, case_id: int) -> Case:
        with self.sessions() as s:
            return s.get_one(Case, case_id)

    def events(self, case_id: int) -> list[CaseEvent]:
        with self.sessions() as s:
            return list(
                s.scalars(
                    select(CaseEvent)
                    .where(CaseEvent.case_id == case_id)
                    .order_by(CaseEvent.at, CaseEvent.seq, CaseEvent.id)
                )
            )

    def alerts(self, case_id: int) -> list[Alert]:
        with self.sessions() as s:
            return list(s.scalars(select(Alert).where(Alert.case_id == case_id).order_by(Alert.id)))

    def sms_to(self, person: Person, containing: str = "") -> list[SentMessage]:
        return [m for m in self.twilio.to(person.phone) if containing in m.body]

    async def record_history(self, case_id: int, name: str) -> None:
        """With GARDE_RECORD_HISTORIES=1, keep this case's history for the replay test."""
        if not os.environ.get("GARDE_RECORD_HISTORIES"):
            return
        history = await self.handle(case_id).fetch_history()
        HISTORIES.mkdir(exist_ok=True)
        (HISTORIES / f"{name}.json").write_text(
            json.dumps(json.loads(history.to_json()), indent=1) + "\n"
        )


@asynccontextmanager
async def night(database_url: str) -> AsyncIterator[Night]:
    """A fresh time-skipping server with the case worker on it."""
    upgrade(database_url)
    sessions = make_session_factory(make_engine(database_url))
    double = TwilioDouble("AC" + secrets.token_hex(16), secrets.token_hex(16)).start()
    settings = Settings.from_env(
        {
            "GARDE_DATABASE_URL": database_url,
            "TWILIO_ACCOUNT_SID": double.account_sid,
            "TWILIO_AUTH_TOKEN": double.auth_token,
            "TWILIO_FROM_NUMBER": "+33700000000",
            "GARDE_TWILIO_API_URL": double.url,
            "GARDE_SECRET_KEY": "test",
        }
    )
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=venv_binary("temporal-test-server")
    )
    try:
        async with env:
            with ThreadPoolExecutor(16) as executor:
                worker = build_worker(env.client, sessions, TwilioSms(sessions, settings), executor)
                async with worker:
                    yield Night(env, sessions, double)
    finally:
        double.stop()


def _request(priority: Priority) -> CaseRequest:
    return CaseRequest(
        accession_number="ACC-" + secrets.token_hex(5),
        study_instance_uid=None,
        modality="CT",
        body_part="HEAD",
        study_description="CT head without contrast",
        priority=priority,
        clinical_question="Fall on anticoagulants, rule out intracranial bleed",
        requesting_physician="Dr Urgences",
        callback_phone="+33471000000",
        subspecialty=None,
    )
