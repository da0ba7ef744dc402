"""The baseline: a bare Temporal workflow with the shape of a Garde case, and its driver.

Nothing from Garde is imported here. The workflow runs the same twelve activities as a Garde
case accepted on the web then reported final (workflows/case.py), in the same order, each
doing nothing, and keeps the same timers:

    run:          record_case(requested), find_candidates, open_offers, record_case(offered),
                  send_offer_sms, [wait for the accept, with the offer timeout as a timer],
                  close_offers, [wait for the final report], record_billing_line
    beside it:    the service-level timer (the accept deadline), as Garde's promise task
    accept:       an update that runs check_eligibility, then record_case(accepted), and
                  starts notify_site (the site's SMS: who holds its case) without waiting
    file_report:  an update that runs record_report, then record_case(final), and starts
                  notify_site (the report is there) without waiting

It completes after billing instead of staying open seven days for addenda. The gap between
this and Garde is what Garde adds on top of Temporal: HTTP, authorisation, SQL, routing.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from itertools import count
from typing import TypeVar

from temporalio import activity, workflow
from temporalio.client import Client, WorkflowHandle
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError
from temporalio.worker import Worker

from garde.worker import ACTIVITY_SLOTS, WORKFLOW_RUNNER

T = TypeVar("T")
TASK_QUEUE = "bench-bare-cases"
ACTIVITY_TIMEOUT = timedelta(seconds=30)
ACTIVITY_RETRY = RetryPolicy(  # as Garde's RECORDS (workflows/policy.py)
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=30),
    maximum_attempts=6,
)
OFFER_TIMEOUT = timedelta(minutes=5)  # Garde's offer timeout for an urgent case
ACCEPT_WITHIN = timedelta(minutes=20)  # and its accept deadline
EXPERT_ID = 1
WAIT_S = 60  # for an offer

# When open_offers ran for each workflow id, by time.monotonic(), and send_offer_sms by
# time.time() (bench.open_loop's clock): the activities run in this process.
offers_opened: dict[str, float] = {}
offer_sms_sent: dict[str, float] = {}


@dataclass(frozen=True)
class BareStart:
    key: str
    # Its record steps as local activities, as Garde's case workflow runs them (the SMS
    # stays remote): bench.open_bare's second baseline. The closed loop runs Temporal's
    # defaults, every activity through the task queue.
    local: bool = False


@dataclass(frozen=True)
class BareAcceptance:
    expert_id: int


@dataclass(frozen=True)
class BareReport:
    expert_id: int
    kind: str
    findings: str
    impression: str


# --- activities: the same names and count as Garde's, doing nothing -----------------------


@activity.defn
async def record_case(key: str) -> None:
    return None


@activity.defn
async def find_candidates(key: str) -> list[int]:
    return [EXPERT_ID]


@activity.defn
async def check_eligibility(key: str) -> bool:
    return True


@activity.defn
async def open_offers(key: str) -> int:
    offers_opened.setdefault(key, time.monotonic())
    return 1


@activity.defn
async def send_offer_sms(key: str) -> None:
    offer_sms_sent.setdefault(key, time.time())


@activity.defn
async def close_offers(key: str) -> None:
    return None


@activity.defn
async def record_report(key: str) -> int:
    return 1


@activity.defn
async def record_billing_line(key: str) -> None:
    return None


@activity.defn
async def notify_site(key: str) -> None:
    return None


ACTIVITIES = [
    record_case,
    find_candidates,
    check_eligibility,
    open_offers,
    send_offer_sms,
    close_offers,
    record_report,
    record_billing_line,
    notify_site,
]


@workflow.defn(name="BareCase")
class BareCase:
    def __init__(self) -> None:
        self.key = ""
        self.local = False
        self.holder: int | None = None
        self.final = False
        self.telling: set[asyncio.Task[None]] = set()  # the site's SMS, beside the handlers

    @workflow.run
    async def run(self, start: BareStart) -> str:
        self.key, self.local = start.key, start.local
        promise = asyncio.create_task(self._keep_the_promise())
        await self._activity(record_case)
        candidates = await self._activity(find_candidates)
        await self._activity(open_offers)
        await self._activity(record_case)
        await self._activity(send_offer_sms)
        try:  # as in Garde, the offer waits with a timer that the acceptance cancels
            await workflow.wait_condition(lambda: self.holder in candidates, timeout=OFFER_TIMEOUT)
        except TimeoutError as e:
            raise ApplicationError("nobody accepted the offer", non_retryable=True) from e
        await self._activity(close_offers)
        await workflow.wait_condition(lambda: self.final)
        await self._activity(record_billing_line)
        await workflow.wait_condition(lambda: workflow.all_handlers_finished() and not self.telling)
        promise.cancel()
        return "final"

    async def _keep_the_promise(self) -> None:
        with contextlib.suppress(TimeoutError):
            await workflow.wait_condition(lambda: self.final, timeout=ACCEPT_WITHIN)

    @workflow.update
    async def accept(self, acceptance: BareAcceptance) -> None:
        self._check_can_accept(acceptance.expert_id)
        await self._activity(check_eligibility)
        self.holder = acceptance.expert_id
        await self._activity(record_case)
        self._tell_site()

    @accept.validator
    def _validate_accept(self, acceptance: BareAcceptance) -> None:
        self._check_can_accept(acceptance.expert_id)

    @workflow.update
    async def file_report(self, report: BareReport) -> int:
        self._check_report(report)
        report_id = await self._activity(record_report)
        self.final = True
        await self._activity(record_case)
        self._tell_site()
        return report_id

    @file_report.validator
    def _validate_report(self, report: BareReport) -> None:
        self._check_report(report)

    def _check_can_accept(self, expert_id: int) -> None:
        if self.holder is not None and self.holder != expert_id:
            raise ApplicationError("another expert holds the case", type="AlreadyTaken")

    def _check_report(self, report: BareReport) -> None:
        if self.final:
            raise ApplicationError("the final report is already filed", type="CaseClosed")
        if self.holder != report.expert_id:
            raise ApplicationError("you do not hold this case", type="NotHolder")

    def _tell_site(self) -> None:
        """As Garde's `_tell_site`: a remote activity the update does not wait for."""
        task = asyncio.create_task(self._activity(notify_site))
        self.telling.add(task)
        task.add_done_callback(self.telling.discard)

    async def _activity(self, fn: Callable[[str], Awaitable[T]]) -> T:
        if self.local and fn not in (send_offer_sms, notify_site):
            return await workflow.execute_local_activity(
                fn,
                self.key,
                start_to_close_timeout=ACTIVITY_TIMEOUT,
                retry_policy=ACTIVITY_RETRY,
            )
        return await workflow.execute_activity(
            fn,
            self.key,
            start_to_close_timeout=ACTIVITY_TIMEOUT,
            retry_policy=ACTIVITY_RETRY,
        )


# --- the driver -------------------------------------------------------------------------------


@dataclass(frozen=True)
class BareRun:
    cases: int
    seconds: float
    first_offer_ms: list[float]
    failures: list[str]


def bare_worker(client: Client) -> Worker:
    """The bare workflow's worker, with the settings of Garde's that apply to it."""
    return Worker(
        client,
        task_queue=TASK_QUEUE,
        workflows=[BareCase],
        activities=ACTIVITIES,
        max_concurrent_activities=ACTIVITY_SLOTS,
        workflow_runner=WORKFLOW_RUNNER,
    )


async def run_bare(
    address: str,
    namespace: str,
    cases: int,
    concurrency: int,
    warmup: int,
    poll_s: float,
    health: Callable[[], None],
) -> BareRun:
    """Run the bare workflow for `cases` cases with `concurrency` clients; warm-up excluded.

    `health` raises when the Temporal server has died, which ends the run at once.
    """
    client = await Client.connect(address, namespace=namespace)
    async with bare_worker(client):
        for i in range(warmup):
            await _one_case(client, f"bare-warmup-{i}", poll_s)
        keys = [f"bare-case-{i}" for i in range(cases)]
        handles: list[WorkflowHandle[BareCase, str]] = []
        latencies: list[float] = []
        failures: list[str] = []
        next_index = count()

        async def simulated_client() -> None:
            while (i := next(next_index)) < cases:
                try:
                    handle, latency = await _one_case(client, keys[i], poll_s)
                except Exception as e:  # counted and shown; the run goes on
                    failures.append(f"{keys[i]}: {type(e).__name__}: {e}")
                    continue
                handles.append(handle)
                latencies.append(latency)

        started = time.monotonic()
        await _watched(asyncio.gather(*(simulated_client() for _ in range(concurrency))), health)
        seconds = time.monotonic() - started
        # Untimed check that every workflow went on to bill and complete.
        for handle in handles:
            await handle.result()
    return BareRun(len(latencies), seconds, latencies, failures)


async def _watched(clients: asyncio.Future[list[None]], health: Callable[[], None]) -> None:
    """Await the clients, checking `health` every second; its exception cancels them."""
    while not clients.done():
        try:
            health()
        except BaseException:
            clients.cancel()
            raise
        await asyncio.wait([clients], timeout=1)
    clients.result()


async def _one_case(
    client: Client, key: str, poll_s: float
) -> tuple[WorkflowHandle[BareCase, str], float]:
    """Submit, wait for the offer like an expert polling, accept, file the final report."""
    submitted = time.monotonic()
    handle = await client.start_workflow(
        BareCase.run, BareStart(key), id=key, task_queue=TASK_QUEUE
    )
    deadline = time.monotonic() + WAIT_S
    while key not in offers_opened:
        if time.monotonic() > deadline:
            raise TimeoutError(f"waited {WAIT_S}s for {key} to be offered")
        await asyncio.sleep(poll_s)
    await handle.execute_update(BareCase.accept, BareAcceptance(EXPERT_ID))
    await handle.execute_update(
        BareCase.file_report, BareReport(EXPERT_ID, "final", "No bleed.", "Normal CT.")
    )
    return handle, (offers_opened[key] - submitted) * 1000
