"""The simulated world around the real case workflow: the region in the database, the
experts' phones (an SmsPort), the simulator's activities, and the "random pick" baseline.

Nothing here decides anything about a case: the real workflow and its real activities do.
The phones only pass an offer SMS on to the expert (their `SimulatedExpert` workflow), with
the answer the expert will give, and a "case N is yours" SMS with the time it takes to read.
"""

from __future__ import annotations

import asyncio
import random
import threading
from collections import Counter
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from temporalio import activity
from temporalio.client import Client, WorkflowUpdateFailedError

from activities.offers import Offers
from activities.sms import Sms, Undeliverable
from bench.night_messages import Admission, FinalReport, PlannedAnswer, Reading
from bench.night_plan import CREW, SITES, ExpertSpec, answer, read_seconds
from bench.night_workflows import expert_workflow_id
from billing.tariffs import ALWAYS
from garde.db import SessionFactory
from garde.domain import CaseStatus, Priority, ReportKind
from garde.intake import CaseRequest, case_start, record_case
from garde.messages import (
    CandidateQuery,
    CaseStart,
    CaseView,
    RankedExpert,
    ReportDraft,
    ReportFiled,
)
from garde.models import BillingLine, Case, Coordinator, Expert, Offer, Shift, Site, Tariff
from garde.temporal import case_workflow_id, start_case_workflow

COORDINATOR_PHONE = "+33611000099"
OPEN_STATUSES = [s.value for s in CaseStatus if s.is_open]
STUDIES = {
    "CT": ("HEAD", "CT head without contrast", "Fall on anticoagulants, rule out a bleed"),
    "MR": ("BRAIN", "MR brain, stroke protocol", "Sudden aphasia, rule out a stroke"),
}


@dataclass(frozen=True)
class OnDuty:
    expert_id: int
    spec: ExpertSpec


@dataclass(frozen=True)
class Region:
    """What the seeding created: experts by id and by phone, sites by code."""

    experts: dict[int, OnDuty]
    sites: dict[str, int]

    def by_phone(self, phone: str) -> OnDuty | None:
        return next((e for e in self.experts.values() if e.spec.phone == phone), None)


def seed_region(
    sessions: SessionFactory,
    escalation: dict[str, list[str]],
    on_duty_from: datetime,
    on_duty_until: datetime,
) -> Region:
    """The sites (with this policy's ladder), the crew credentialed for all of them and on
    duty for the night at their tier, and one coordinator."""
    with sessions.begin() as s:
        sites = [
            Site(
                code=spec.code,
                name=spec.name,
                timezone="Europe/Paris",
                tariffs=[
                    Tariff(version=1, valid_from=ALWAYS, base_cents={"CT": 9000, "MR": 12000})
                ],
                escalation=escalation,
            )
            for spec in SITES
        ]
        s.add_all(sites)
        s.flush()
        experts: dict[int, OnDuty] = {}
        for spec in CREW:
            expert = Expert(
                code=spec.code,
                name=spec.name,
                phone=spec.phone,
                modalities=["CT", "MR"],
                subspecialties=["neuro"],
                max_concurrent=2,
                sites=sites,
            )
            s.add(expert)
            s.flush()
            s.add(Shift(expert_id=expert.id, start=on_duty_from, end=on_duty_until, tier=spec.tier))
            experts[expert.id] = OnDuty(expert.id, spec)
        s.add(Coordinator(code="COORD-NUIT", name="Coordination de nuit", phone=COORDINATOR_PHONE))
        return Region(experts, {site.code: site.id for site in sites})


class SimulatedPhones:
    """The SmsPort of the simulation: every phone of the night, and what its owner does.

    Called from the case worker's activity threads. An offer SMS is passed on to the expert's
    workflow with the answer they will give (or none); a "case N is yours" SMS with the time
    they take to read it; the SMS counts as sent once the expert's workflow has the signal.
    Every message to the unreachable phone raises `Undeliverable`, as Twilio's refusal of a
    number does. The rest (notices, coordinators' alerts) are only counted.
    """

    sender = "+33700000000"

    def __init__(
        self,
        client: Client,
        loop: asyncio.AbstractEventLoop,
        sessions: SessionFactory,
        region: Region,
        seed: int,
    ) -> None:
        self._client = client
        self._loop = loop
        self._sessions = sessions
        self._region = region
        self._seed = seed
        self._lock = threading.Lock()
        self._done: set[str] = set()
        self.sent: Counter[str] = Counter()

    def send(self, sms: Sms) -> None:
        expert = self._region.by_phone(sms.to)
        if expert is not None and not expert.spec.habit.reachable:
            with self._lock:
                self.sent["undeliverable"] += 1
            raise Undeliverable(f"{expert.spec.code}: the number cannot be reached")
        with self._lock:
            if sms.key in self._done:
                return
        if sms.kind == "offer":
            kind = "offer"
            self._offered(int(sms.key.removeprefix("offer:")))
        elif sms.kind == "yours" and expert is not None and sms.case_id is not None:
            kind = "yours"
            self._yours(sms.case_id, expert)
        else:
            kind = "coordinator" if sms.to == COORDINATOR_PHONE else "notice"
        with self._lock:
            self._done.add(sms.key)
            self.sent[kind] += 1

    def _offered(self, offer_id: int) -> None:
        with self._sessions() as s:
            offer = s.get_one(Offer, offer_id)
            attempt = s.scalar(
                select(func.count(Offer.id)).where(
                    Offer.case_id == offer.case_id,
                    Offer.expert_id == offer.expert_id,
                    Offer.sequence <= offer.sequence,
                )
            )
            case_id, expert_id = offer.case_id, offer.expert_id
            accession = offer.case.accession_number
        spec = self._region.experts[expert_id].spec
        planned = answer(self._seed, spec, accession, int(attempt or 1))
        if planned is None:  # this one will never be answered
            return
        self._tell(
            expert_id,
            "offered",
            PlannedAnswer(case_id, offer_id, expert_id, planned.delay_s, planned.accept),
        )

    def _yours(self, case_id: int, expert: OnDuty) -> None:
        with self._sessions() as s:
            case = s.get_one(Case, case_id)
            due = case.requested_at + timedelta(seconds=case.report_within_s)
            accession, priority = case.accession_number, Priority(case.priority)
        read_s = read_seconds(self._seed, expert.spec, accession, priority)
        self._tell(expert.expert_id, "assign", Reading(case_id, due, read_s))

    def _tell(self, expert_id: int, signal: str, arg: Any) -> None:
        """Signal the expert's workflow from this activity thread, and wait until it has it."""
        handle = self._client.get_workflow_handle(expert_workflow_id(expert_id))
        asyncio.run_coroutine_threadsafe(handle.signal(signal, arg), self._loop).result(60)


class NightActivities:
    """The simulator's activities: a site sending a study, an expert filing a report, and
    the night looking for cases still open."""

    def __init__(self, client: Client, sessions: SessionFactory, region: Region) -> None:
        self._client = client
        self._sessions = sessions
        self._region = region
        self.refused_reports: list[str] = []

    @activity.defn
    async def admit_study(self, arrival: Admission) -> int:
        start = await asyncio.to_thread(self._record, arrival)
        await start_case_workflow(self._client, start)
        return start.case_id

    def _record(self, arrival: Admission) -> CaseStart:
        body_part, description, question = STUDIES[arrival.modality]
        request = CaseRequest(
            accession_number=arrival.accession,
            study_instance_uid=None,
            modality=arrival.modality,
            body_part=body_part,
            study_description=description,
            priority=Priority(arrival.priority),
            clinical_question=question,
            requesting_physician="Dr Urgences",
            callback_phone="+33475000000",
            subspecialty=None,
        )
        with self._sessions() as s:
            site = s.get_one(Site, self._region.sites[arrival.site])
            case, _ = record_case(s, site, request)
            # Intake stamps the wall clock; the study arrives at the simulated instant.
            case.requested_at = arrival.at
            s.commit()
            return case_start(case)

    @activity.defn
    async def file_final_report(self, report: FinalReport) -> str:
        handle = self._client.get_workflow_handle(case_workflow_id(report.case_id))
        draft = ReportDraft(
            report.expert_id, ReportKind.FINAL, "No acute finding.", "Normal study."
        )
        try:
            filed = await handle.execute_update("file_report", draft, result_type=ReportFiled)
        except WorkflowUpdateFailedError as e:
            self.refused_reports.append(f"case {report.case_id}: {e.cause}")
            return "refused"
        return str(filed.status)

    @activity.defn
    async def open_cases(self) -> int:
        """Cases not yet closed, and final cases not yet billed."""
        return await asyncio.to_thread(self._open_cases)

    def _open_cases(self) -> int:
        with self._sessions() as s:
            still_open = s.scalar(select(func.count(Case.id)).where(Case.status.in_(OPEN_STATUSES)))
            unbilled = s.scalar(
                select(func.count(Case.id))
                .outerjoin(BillingLine, BillingLine.case_id == Case.id)
                .where(Case.status == CaseStatus.FINAL, BillingLine.id.is_(None))
            )
            return int(still_open or 0) + int(unbilled or 0)


async def disagreements(client: Client, sessions: SessionFactory) -> list[str]:
    """Cases whose record (status, holder, sequence number) differs from what their
    workflow holds true: there should be none."""
    with sessions() as s:
        records = list(
            s.execute(select(Case.id, Case.status, Case.assigned_expert_id, Case.status_seq))
        )
    found = []
    for case_id, status, holder, seq in records:
        handle = client.get_workflow_handle(case_workflow_id(case_id))
        view = await handle.query("view", result_type=CaseView)
        if (str(view.status), view.holder, view.seq) != (status, holder, seq):
            found.append(
                f"case {case_id}: workflow {view.status}/{view.holder}/#{view.seq}, "
                f"record {status}/{holder}/#{seq}"
            )
    return found


class RandomPick(Offers):
    """Baseline: the eligible experts in a seeded random order instead of Garde's ranking.
    The ladder still takes the primary tier before the backup tier."""

    def __init__(self, sessions: SessionFactory, seed: int) -> None:
        super().__init__(sessions)
        self._seed = seed

    @activity.defn
    def find_candidates(self, query: CandidateQuery) -> list[RankedExpert]:
        eligible = super().find_candidates(query)
        rng = random.Random(f"{self._seed}:pick:{query.case_id}:{query.at:%Y%m%d%H%M}")
        rng.shuffle(eligible)
        return [
            RankedExpert(c.expert_id, replace(c.ranking, rank=rank))
            for rank, c in enumerate(eligible, start=1)
        ]
