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
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal, TypeVar
from urllib.parse import urlsplit

from sqlalchemy import delete, func, select, update
from temporalio.client import Client, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner
from werkzeug.serving import make_server

from activities.calls import TwilioCalls
from activities.links import Links
from activities.sms import TwilioSms
from billing.tariffs import ALWAYS
from garde.db import SessionFactory, make_engine, make_session_factory, upgrade
from garde.domain import CaseStatus, Priority, Tier
from garde.intake import CaseRequest, case_start, record_case
from garde.messages import Acceptance, CaseStart, CaseView, ReportDraft, ReportFiled, SmsAnswer
from garde.models import (
    Alert,
    BillingLine,
    Case,
    CaseEvent,
    Coordinator,
    Expert,
    Offer,
    Report,
    Shift,
    Site,
    Tariff,
    VoiceCall,
)
from garde.reconciler import mark_started
from garde.settings import Settings
from garde.temporal import case_workflow_id, data_converter, start_case_workflow, venv_binary
from garde.worker import activity_executor, build_worker
from tests.conftest import free_port
from tests.phones import mobile
from tests.twilio_double import PlacedCall, SentMessage, TwilioDouble
from web import create_app

DAY = timedelta(days=1)

T = TypeVar("T")
HISTORIES = Path(__file__).parent / "histories"
# The nights' payload key, known to the replay test: the histories recorded here are encrypted
# with it (those recorded before encryption are not, and replay as they are).
PAYLOAD_KEYS = "recorded:" + "A" * 43 + "="


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


def shifts(expert_id: int, start: datetime, end: datetime, tier: Tier) -> list[Shift]:
    """On duty from `start` to `end` as a roster has it: back-to-back day-long shifts (a
    shift lasts at most 48 hours)."""
    found = []
    while start < end:
        found.append(Shift(expert_id=expert_id, start=start, end=min(end, start + DAY), tier=tier))
        start += DAY
    return found


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
            tariffs=[Tariff(version=1, valid_from=ALWAYS, base_cents={"CT": 9000})],
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
                    phone=mobile(),
                    modalities=["CT"],
                    subspecialties=["neuro"],
                    max_concurrent=max_concurrent,
                    sites=[site],
                )
                s.add(expert)
                s.flush()
                if tier is not None:
                    s.add_all(shifts(expert.id, now - timedelta(hours=1), now + on_duty_for, tier))
                experts[name] = Person(expert.id, expert.code, expert.phone)
        coordinator = Coordinator(code=f"COORD-{tag}", name="Coordination", phone=mobile())
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

    async def record(self, region: Region, priority: Priority = Priority.URGENT) -> CaseStart:
        """A site's read request through intake; its workflow not started yet.

        Requested at the server's time, the workflows' `now`: intake takes the machine's,
        which falls behind once the test has skipped time, and a case requested in the
        server's past is born with its deadlines due. The test server then loses a task
        that cancels a timer fired meanwhile (temporalio/sdk-java#2606): the race of a
        report with a report deadline a few milliseconds away hung a test."""
        at = await self.now()
        with self.sessions() as s:
            site = s.get_one(Site, region.site_id)
            case, _ = record_case(s, site, _request(priority))
            case.requested_at = at
            for event in case.events:
                event.at = at
            s.commit()
            return case_start(case)

    async def request(self, region: Region, priority: Priority = Priority.URGENT) -> int:
        """A site's read request through intake, and its workflow started."""
        start = await self.record(region, priority)
        await start_case_workflow(self.client, start)
        mark_started(self.sessions, start.case_id)
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

        # `critical` alone is category 1, as the report form and the API have it.
        draft = ReportDraft(
            expert.id,
            ReportKind(kind),
            "Findings.",
            "Impression.",
            critical,
            critical_category=1 if critical else None,
        )
        filed: ReportFiled = await self.handle(case_id).execute_update(
            "file_report", draft, result_type=ReportFiled
        )
        return filed

    async def refused(self, update: Awaitable[Any]) -> ApplicationError:
        """The error an update was refused with (the test fails if it was not)."""
        try:
            await update
        except WorkflowUpdateFailedError as e:
            assert isinstance(e.cause, ApplicationError), e.cause
            return e.cause
        raise AssertionError("the update was not refused")

    def end_shift(self, expert: Person, at: datetime) -> None:
        """The expert's duty ends at `at` (the roster was edited)."""
        with self.sessions.begin() as s:
            s.execute(delete(Shift).where(Shift.expert_id == expert.id, Shift.start >= at))
            s.execute(
                update(Shift).where(Shift.expert_id == expert.id, Shift.end > at).values(end=at)
            )

    def add_shift(self, expert: Person, tier: Tier = Tier.PRIMARY) -> None:
        """The expert is on duty from an hour ago, for ten days."""
        now = datetime.now(UTC)
        with self.sessions.begin() as s:
            s.add_all(shifts(expert.id, now - timedelta(hours=1), now + timedelta(days=10), tier))

    async def sleep(self, delta: timedelta) -> None:
        """Let `delta` of workflow time pass (and what it triggers run)."""
        await self.env.sleep(delta)

    async def now(self) -> datetime:
        """The time-skipping server's clock: the workflows' `now`."""
        return await self.env.get_current_time()

    async def sleep_until(self, at: datetime) -> None:
        """Let workflow time pass until `at` (nothing if it has passed)."""
        left = at - await self.now()
        if left > timedelta(0):
            await self.sleep(left)

    async def quiet(self) -> None:
        """A short real pause: what the workflow would do at once, it has done by then."""
        await asyncio.sleep(0.5)

    # --- watching ------------------------------------------------------------------------

    async def eventually(
        self, probe: Callable[[], T | None | Literal[False]], what: str, timeout: float = 20.0
    ) -> T:
        """Poll in real time until `probe()` is truthy; its value."""
        deadline = time.monotonic() + timeout
        while True:
            value = probe()
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout}s waiting for {what}")
            await asyncio.sleep(0.05)

    async def texted_offer(self, case_id: int, expert: Person) -> Offer:
        """The case's one offer, once its SMS reached the expert's phone."""
        [offer] = await self.offers_made(case_id, 1)
        await self.sms_seen(expert, "Répondez OUI")
        return offer

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

    async def sms_seen(self, person: Person, containing: str, count: int = 1) -> list[SentMessage]:
        """Wait for `count` SMS to this person containing the text; all of them."""
        return await self.eventually(
            lambda: (found := self.sms_to(person, containing)) and len(found) >= count and found,
            f"{count} SMS to {person.code} containing {containing!r}",
        )

    def calls_to(self, person: Person) -> list[PlacedCall]:
        """The calls Twilio was asked to place to this person's phone, oldest first."""
        return self.twilio.voice.to(person.phone)

    async def called(self, person: Person, count: int = 1) -> list[PlacedCall]:
        """Wait for `count` calls to this person, each recorded by Garde with its CallSid
        (Twilio's webhooks about it are believed from then on); all of them."""

        def recorded() -> list[PlacedCall] | None:
            found = self.calls_to(person)
            with self.sessions() as s:
                sids = set(
                    s.scalars(
                        select(VoiceCall.provider_sid).where(VoiceCall.to_number == person.phone)
                    )
                )
            return found if len(found) >= count and {c.sid for c in found} <= sids else None

        return await self.eventually(recorded, f"{count} calls to {person.code}")

    async def alerts_raised(self, case_id: int, kind: str, count: int = 1) -> list[Alert]:
        return await self.eventually(
            lambda: (
                (found := [a for a in self.alerts(case_id) if a.kind == kind])
                and len(found) >= count
                and found
            ),
            f"{count} {kind} alerts for case {case_id}",
        )

    async def event_seen(self, case_id: int, kind: str, detail: str | None = None) -> CaseEvent:
        return await self.eventually(
            lambda: next(
                (
                    e
                    for e in self.events(case_id)
                    if e.kind == kind and (detail is None or e.detail == detail)
                ),
                None,
            ),
            f"a {kind} event for case {case_id}",
        )

    def reports(self, case_id: int) -> list[Report]:
        with self.sessions() as s:
            return list(
                s.scalars(select(Report).where(Report.case_id == case_id).order_by(Report.id))
            )

    def billing_lines(self, case_id: int) -> list[BillingLine]:
        with self.sessions() as s:
            return list(s.scalars(select(BillingLine).where(BillingLine.case_id == case_id)))

    async def agrees(self, case_id: int) -> CaseView:
        """The workflow's view, once the record caught up, and the record agreeing with it."""
        view = await self.settled(case_id)
        case = self.case(case_id)
        assert (case.status, case.assigned_expert_id) == (view.status, view.holder), (
            f"record {case.status}/{case.assigned_expert_id}, workflow {view.status}/{view.holder}"
        )
        return view

    async def offers_in_hand(self, case_id: int, offer_ids: list[int]) -> CaseView:
        """Once the workflow holds these offers open and has said so (an offer's row is
        written before the workflow has it in hand and records the case offered), its view,
        the record agreeing with it."""
        deadline = time.monotonic() + 20
        while True:
            view = await self.agrees(case_id)
            if view.open_offers == offer_ids and view.status == CaseStatus.OFFERED:
                return view
            if time.monotonic() > deadline:
                raise AssertionError(f"open offers {view.open_offers}, expected {offer_ids}")
            await asyncio.sleep(0.05)

    async def record_history(self, case_id: int, name: str) -> None:
        """With GARDE_RECORD_HISTORIES=1, keep this case's history for the replay test."""
        await self.record_workflow_history(self.handle(case_id), name)

    async def record_workflow_history(self, handle: WorkflowHandle[Any, Any], name: str) -> None:
        """With GARDE_RECORD_HISTORIES=1, keep this workflow's history for the replay test."""
        if not os.environ.get("GARDE_RECORD_HISTORIES"):
            return
        history = await handle.fetch_history()
        HISTORIES.mkdir(exist_ok=True)
        (HISTORIES / f"{name}.json").write_text(
            json.dumps(json.loads(history.to_json()), indent=1) + "\n"
        )


@contextmanager
def serving(settings: Settings) -> Iterator[None]:
    """Garde's web app at GARDE_PUBLIC_URL, in a thread of this process."""
    url = urlsplit(settings.public_url)
    assert url.hostname and url.port
    server = make_server(url.hostname, url.port, create_app(settings), threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()


# The worker runs workflows outside Temporal's sandbox, for speed (garde/worker.py); here they
# run in it, which refuses what a workflow must not call (the machine's clock, randomness,
# I/O): every scenario and every recorded history is checked. With its default restrictions:
# a module passed through is imported outside it, where nothing it calls is checked.
SANDBOX = SandboxedWorkflowRunner()


@asynccontextmanager
async def night(database_url: str) -> AsyncIterator[Night]:
    """A fresh time-skipping server with the case worker on it."""
    upgrade(database_url)
    engine = make_engine(database_url)
    sessions = make_session_factory(engine)
    with sessions() as s:
        coordinators_before = s.scalar(select(func.max(Coordinator.id))) or 0
    double = TwilioDouble("AC" + secrets.token_hex(16), secrets.token_hex(16)).start()
    settings = Settings.from_env(
        {
            "GARDE_DATABASE_URL": database_url,
            "TWILIO_ACCOUNT_SID": double.account_sid,
            "TWILIO_AUTH_TOKEN": double.auth_token,
            "TWILIO_FROM_NUMBER": "+33700000000",
            "GARDE_TWILIO_API_URL": double.url,
            "GARDE_SECRET_KEY": "test",
            "GARDE_PAYLOAD_KEYS": PAYLOAD_KEYS,
            # Garde's web app, for Twilio's webhooks (the double plays the phone network).
            "GARDE_PUBLIC_URL": f"http://127.0.0.1:{free_port()}",
        }
    )
    # The worker here and the web app's client encrypt alike, as deployed.
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=data_converter(settings),
        test_server_existing_path=venv_binary("temporal-test-server"),
    )
    settings = replace(
        settings,
        temporal_address=env.client.service_client.config.target_host,
        temporal_namespace=env.client.namespace,
    )
    try:
        async with env:
            with activity_executor() as executor, serving(settings):
                worker = build_worker(
                    env.client,
                    sessions,
                    TwilioSms(sessions, settings),
                    TwilioCalls(sessions, settings),
                    executor,
                    links=Links(settings.public_url),
                    workflow_runner=SANDBOX,
                )
                async with worker:
                    yield Night(env, sessions, double)
    finally:
        double.stop()
        # Every active coordinator is texted about every alert: this night's coordinators
        # retire with it, so that later nights text only their own.
        with sessions.begin() as s:
            s.execute(
                update(Coordinator).where(Coordinator.id > coordinators_before).values(active=False)
            )
        engine.dispose()


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
