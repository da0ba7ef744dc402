"""Cases driven through Garde's whole lifecycle by simulated sites and experts over HTTP.

Each case is one client thread: as the site it submits the case; as the expert the case was
first offered to it accepts and files the final report; the case is done when the API shows
it final. Which expert got the offer is read from the database (the Offer row), standing in
for the SMS that a real expert would receive: one thread reads the first offers of every case
waiting for one, so that the benchmark's own polling costs the same whatever the clients (the
bare workflow's clients read a dictionary).
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, func, select

from bench.api import Api
from bench.region import Region
from bench.stack import GardeStack
from garde.models import BillingLine, Case, Offer

WAIT_S = 60  # for an offer, or for the final status after the report


class Stopped(Exception):
    """The run is being stopped (Ctrl-C): the client thread gives up its case."""


@dataclass(frozen=True)
class GardeRun:
    cases: int
    seconds: float
    first_offer_ms: list[float]
    failures: list[str]


def case_request(accession_number: str) -> dict[str, str]:
    return {
        "accession_number": accession_number,
        "modality": "CT",
        "body_part": "HEAD",
        "study_description": "CT head without contrast",
        "priority": "urgent",
        "clinical_question": "Fall on anticoagulants, rule out intracranial bleed",
        "requesting_physician": "Dr Urgences",
        "callback_phone": "+33471000000",
    }


class OfferWatch:
    """One reader of the database for every client waiting for its case's first offer."""

    def __init__(self, stack: GardeStack, poll_s: float, stop: threading.Event) -> None:
        self._stack = stack
        self._poll_s = poll_s
        self._stop = stop
        self._changed = threading.Condition()
        self._waiting: set[int] = set()
        self._offered: dict[int, int] = {}  # case id: the expert first offered it
        threading.Thread(target=self._read, name="offer-watch", daemon=True).start()

    def first_offer_expert(self, case_id: int, timeout: float) -> int:
        deadline = time.monotonic() + timeout
        with self._changed:
            self._waiting.add(case_id)
            try:
                while case_id not in self._offered:
                    left = deadline - time.monotonic()
                    if self._stop.is_set():
                        raise Stopped()
                    if left <= 0:
                        raise TimeoutError(f"waited {timeout}s for case {case_id} to be offered")
                    self._changed.wait(min(left, self._poll_s * 5))
                return self._offered.pop(case_id)
            finally:
                self._waiting.discard(case_id)

    def _read(self) -> None:
        while not self._stop.wait(self._poll_s):
            with self._changed:
                waiting = list(self._waiting)
            if not waiting:
                continue
            with self._stack.sessions() as s:
                rows = s.execute(
                    select(Offer.case_id, Offer.expert_id).where(
                        Offer.case_id.in_(waiting), Offer.sequence == 1
                    )
                ).all()
            if rows:
                with self._changed:
                    self._offered.update({case_id: expert_id for case_id, expert_id in rows})
                    self._changed.notify_all()


class GardeDriver:
    def __init__(
        self,
        stack: GardeStack,
        api: Api,
        region: Region,
        poll_s: float,
        health: Callable[[], None],
    ) -> None:
        self._stack = stack
        self._health = health
        self._api = api
        self._region = region
        self._poll_s = poll_s
        self._tag = secrets.token_hex(3).upper()
        self.stop = threading.Event()
        self._offers = OfferWatch(stack, poll_s, self.stop)

    def run(self, cases: int, concurrency: int, warmup: int) -> GardeRun:
        """`cases` cases by `concurrency` clients, timed; `warmup` cases before, untimed."""
        for i in range(warmup):
            self.one_case(f"WARMUP-{self._tag}-{i}")
        accessions = [f"ACC-{self._tag}-{i:05d}" for i in range(cases)]
        done: list[int] = []
        failures: list[str] = []
        executor = ThreadPoolExecutor(concurrency, thread_name_prefix="simulated-client")
        try:
            started = time.monotonic()
            futures = {executor.submit(self.one_case, a): a for a in accessions}
            pending = set(futures)
            while pending:
                finished, pending = wait(pending, timeout=1, return_when=FIRST_COMPLETED)
                for future in finished:
                    try:
                        done.append(future.result())
                    except Exception as e:  # counted and shown; the run goes on
                        failures.append(f"{futures[future]}: {type(e).__name__}: {e}")
                self._health()
            seconds = time.monotonic() - started
        finally:
            self.stop.set()
            executor.shutdown(wait=True, cancel_futures=True)
        return GardeRun(len(done), seconds, self.first_offer_ms(done), failures)

    def one_case(self, accession_number: str) -> int:
        """Submit, wait for the first offer, accept as its expert, file the final report."""
        if self.stop.is_set():
            raise Stopped()
        site_token = self._region.site_token
        case = self._api.call(
            "POST", "/api/v1/cases", site_token, case_request(accession_number), expect=201
        )
        case_id: int = case["id"]
        expert = self._region.experts[self._offers.first_offer_expert(case_id, WAIT_S)]
        # One client per case: a 409 here would be a bug, not a race lost, so it is a failure.
        self._api.call("POST", f"/api/v1/cases/{case_id}/accept", expert.token)
        self._api.call(
            "POST",
            f"/api/v1/cases/{case_id}/report",
            expert.token,
            {
                "kind": "final",
                "findings": "No bleed.",
                "impression": "Normal CT.",
                "critical": False,
            },
            expect=201,
        )
        deadline = time.monotonic() + WAIT_S
        while self._api.call("GET", f"/api/v1/cases/{case_id}", site_token)["status"] != "final":
            self._sleep(deadline, f"case {case_id} to be final")
        return case_id

    def _sleep(self, deadline: float, what: str) -> None:
        if time.monotonic() > deadline:
            raise TimeoutError(f"waited {WAIT_S}s for {what}")
        if self.stop.wait(self._poll_s):
            raise Stopped()

    def first_offer_ms(self, case_ids: list[int]) -> list[float]:
        """Submission (Case.requested_at) to the first offer (Offer.sent_at), per case."""
        with self._stack.sessions() as s:
            rows = s.execute(
                select(Case.requested_at, Offer.sent_at)
                .join(Offer, and_(Offer.case_id == Case.id, Offer.sequence == 1))
                .where(Case.id.in_(case_ids))
            ).all()
        return [_ms(requested, offered) for requested, offered in rows]

    def wait_for_billing(self, expected: int, timeout: float = 60) -> int:
        """Untimed check that the final cases went on to billing; how many billing lines."""
        deadline = time.monotonic() + timeout
        while True:
            with self._stack.sessions() as s:
                billed = s.scalar(select(func.count(BillingLine.id))) or 0
            if billed >= expected or time.monotonic() > deadline:
                return billed
            time.sleep(0.2)


def _ms(start: datetime, end: datetime) -> float:
    return (end - start).total_seconds() * 1000
