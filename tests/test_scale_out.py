"""Scale-out on PostgreSQL (issue 10): two `garde worker` and two `garde web` processes share one
Temporal namespace and one database, and losing one of each mid-way loses nothing.

The protocol: start two of each -> drive 30 cases at once, each step through either web app
as a load balancer would (request, offer SMS, accept by SMS or on the web, final report) ->
kill -9 one worker and one web app while cases are being offered and accepted -> drive on
through the survivors -> check: every case final once, every offer texted once, every read
billed once, every workflow at its end and agreeing with the record.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import secrets
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
import requests
from sqlalchemy import select
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import WorkflowExecutionStatus

from garde.messages import CaseView
from garde.models import BillingLine, Case, CaseEvent, Offer, Report
from garde.temporal import TASK_QUEUE, case_workflow_id, wait_for_port
from tests.conftest import (
    OFFER_CODE,
    Region,
    Stack,
    case_request,
    free_port,
    make_region,
    postgres_database,
    start_stack,
    wait_for,
)

CASES = 30
AT_ONCE = 10  # cases driven side by side: when the kill comes, they stand at every step
KILL_AFTER_OFFERS = 8
# How long a request keeps being retried: a case whose worker was killed waits for Temporal
# to hand its tasks to the survivor (an activity the dead worker had started times out after
# its 30 s, workflows.policy).
RETRY_FOR = 60.0
FINAL = {"kind": "final", "findings": "No intracranial bleed.", "impression": "Normal CT."}


@pytest.fixture(scope="module")
def webs(temporal_address: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[Stack]]:
    """Two workers and two web apps on one PostgreSQL database: the one stack, seen through
    each web app. They share GARDE_PUBLIC_URL, the address Twilio signs, as behind a proxy."""
    with (
        contextlib.contextmanager(postgres_database)() as database_url,
        contextlib.contextmanager(start_stack)(
            tmp_path_factory.mktemp("stack-scale"),
            database_url,
            temporal_address,
            "garde-scale",
            twilio=True,
        ) as stack,
    ):
        port = free_port()
        stack.start("web-2", "web", {"GARDE_WEB_PORT": str(port)})
        stack.start("worker-2", "worker")
        wait_for_port("127.0.0.1", port, stack.processes["web-2"])
        wait_for(lambda: asyncio.run(_workers_polling(stack)) >= 2, 60, "both workers polling")
        yield [stack, dataclasses.replace(stack, url=f"http://127.0.0.1:{port}")]


class Balancer:
    """What a load balancer in front of the web apps does: a request goes to the web app its
    caller picks, and on to the next while the one asked is down (the connection refused or
    cut) or answers 503 (no worker took the action in time: the case's worker was just
    killed, and Temporal has not yet handed its tasks to the survivor)."""

    def __init__(self, webs: list[Stack]) -> None:
        self.webs = webs
        self.retried: list[str] = []  # what had to go again: proof the kill was felt

    def send(
        self, n: int, request: Callable[[Stack], requests.Response], what: str
    ) -> tuple[requests.Response, int]:
        """`request` through web app `n` (modulo their number) first: the answer, and the
        number of tries it took."""
        deadline = time.monotonic() + RETRY_FOR
        tries = 0
        while True:
            web = self.webs[(n + tries) % len(self.webs)]
            tries += 1
            try:
                response = request(web)
                if response.status_code != 503:
                    return response, tries
            except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError):
                pass
            self.retried.append(what)
            if time.monotonic() > deadline:
                raise AssertionError(f"{what}: no web app took it in {RETRY_FOR}s")
            time.sleep(0.2)  # as a balancer backs off, not to hammer a server coming back


def test_thirty_cases_survive_losing_a_worker_and_a_web_app(webs: list[Stack]) -> None:
    stack = webs[0]
    region = make_region(stack, max_concurrent=CASES)
    alice = region.experts["alice"]
    balancer = Balancer(webs)
    offered: list[int] = []

    def one_case(n: int) -> int:
        """A case from request to final report; `n` spreads its steps over both web apps
        and takes every other acceptance by SMS."""
        case_id = _submit(balancer, region, n)
        code = wait_for(lambda: _offer_code(stack, alice.phone, case_id), 60, "an offer SMS")
        offered.append(case_id)
        if n % 2:
            _accept_by_sms(balancer, region, n + 1, code)
        else:
            _accept_on_the_web(balancer, region, n + 1, case_id)
        wait_for(
            lambda: _status(balancer, region, n, case_id) == "accepted",
            RETRY_FOR,
            f"case {case_id} accepted",
        )
        _report(balancer, region, n + 1, case_id)
        return case_id

    # Drive the cases; kill a worker and a web app in the middle; the survivors carry on.
    with ThreadPoolExecutor(AT_ONCE) as pool:
        running = [pool.submit(one_case, n) for n in range(CASES)]
        wait_for(lambda: len(offered) >= KILL_AFTER_OFFERS, 60, "cases offered")
        stack.stop("worker", kill=True)
        stack.stop("web", kill=True)
        case_ids = [r.result() for r in running]
    assert len(set(case_ids)) == CASES
    assert balancer.retried, "no request met the killed web app or worker"

    # Every read billed once, to the expert who read it.
    wait_for(lambda: len(_billing_lines(stack, case_ids)) >= CASES, 60, "every read billed")
    lines = _billing_lines(stack, case_ids)
    assert Counter(line.case_id for line in lines) == Counter(case_ids)
    assert {line.expert_id for line in lines} == {alice.id}

    with stack.sessions() as s:
        # Every case final once: one final report, and one acceptance and one final status
        # on its timeline.
        finals = s.scalars(
            select(Report.case_id).where(Report.case_id.in_(case_ids), Report.kind == "final")
        ).all()
        assert Counter(finals) == Counter(case_ids)
        for status in ("accepted", "final"):
            events = s.scalars(
                select(CaseEvent.case_id).where(
                    CaseEvent.case_id.in_(case_ids), CaseEvent.status == status
                )
            ).all()
            assert Counter(events) == Counter(case_ids), status
        offers = s.execute(
            select(Offer.case_id, Offer.phone, Offer.code).where(Offer.case_id.in_(case_ids))
        ).all()

    # One offer a case (alice took each in time), each texted once; nor was anything else
    # texted twice (the confirmations to alice, the notices to the site).
    assert sorted(case_id for case_id, _, _ in offers) == sorted(case_ids)
    assert stack.twilio is not None
    for case_id, phone, code in offers:
        texts = [m for m in stack.twilio.to(phone) if code in OFFER_CODE.findall(m.body)]
        assert len(texts) == 1, f"case {case_id}: its offer was texted {len(texts)} times"
    sent = Counter((m.to, m.body) for m in stack.twilio.messages)
    assert [message for message, times in sent.items() if times > 1] == []

    # Every workflow at its end (final, billed, open for addenda only: not failed) and the
    # record caught up with it.
    workflows = asyncio.run(_workflows(stack, case_ids))
    with stack.sessions() as s:
        for case_id, (state, view) in workflows.items():
            case = s.get_one(Case, case_id)
            assert state == WorkflowExecutionStatus.RUNNING, case_id
            assert (view.status, view.holder, view.seq) == ("final", alice.id, case.status_seq)
            assert (case.status, case.assigned_expert_id) == ("final", alice.id)


# --- the steps of a case, each through the balancer ------------------------------------------


def _submit(balancer: Balancer, region: Region, n: int) -> int:
    """The site's request; sent again, the same accession number is the same case (200)."""
    request = case_request()
    response, tries = balancer.send(
        n, lambda web: web.api(region.site_token).post("/api/v1/cases", json=request), "request"
    )
    assert response.status_code == 201 or (tries > 1 and response.status_code == 200), response.text
    case_id: int = response.json()["id"]
    return case_id


def _offer_code(stack: Stack, phone: str, case_id: int) -> str | None:
    """The case's offer code, once its SMS reached the expert's phone."""
    assert stack.twilio is not None
    with stack.sessions() as s:
        code = s.scalar(select(Offer.code).where(Offer.case_id == case_id))
    texted = code and any(code in OFFER_CODE.findall(m.body) for m in stack.twilio.to(phone))
    return code if texted else None


def _accept_by_sms(balancer: Balancer, region: Region, n: int, code: str) -> None:
    """YES CODE, signed as Twilio signs it; Twilio retries a webhook with the same SID."""
    sid = "SM" + secrets.token_hex(16)
    phone = region.experts["alice"].phone
    response, _ = balancer.send(
        n, lambda web: web.sms_reply(phone, f"YES {code}", sid=sid), "SMS answer"
    )
    assert response.status_code == 200, response.text


def _accept_on_the_web(balancer: Balancer, region: Region, n: int, case_id: int) -> None:
    """Accepting again a case one holds is harmless (200): a retry is safe."""
    token = region.experts["alice"].token
    response, _ = balancer.send(
        n, lambda web: web.api(token).post(f"/api/v1/cases/{case_id}/accept"), "acceptance"
    )
    assert response.status_code == 200, response.text


def _status(balancer: Balancer, region: Region, n: int, case_id: int) -> str:
    response, _ = balancer.send(
        n, lambda web: web.api(region.site_token).get(f"/api/v1/cases/{case_id}"), "case"
    )
    assert response.status_code == 200, response.text
    status: str = response.json()["status"]
    return status


def _report(balancer: Balancer, region: Region, n: int, case_id: int) -> None:
    """The final report; sent again after an answer lost with its web app, it is refused
    (409): the first one was filed."""
    token = region.experts["alice"].token
    response, tries = balancer.send(
        n,
        lambda web: web.api(token).post(f"/api/v1/cases/{case_id}/report", json=FINAL),
        "report",
    )
    assert response.status_code == 201 or (tries > 1 and response.status_code == 409), response.text


# --- what the record and Temporal hold ---------------------------------------------------------


def _billing_lines(stack: Stack, case_ids: list[int]) -> list[BillingLine]:
    with stack.sessions() as s:
        return list(s.scalars(select(BillingLine).where(BillingLine.case_id.in_(case_ids))))


async def _workers_polling(stack: Stack) -> int:
    """The workers polling the case task queue for workflow tasks. (A worker polls for its
    activities too from its start, but the server may list those pollers a minute late.)"""
    client = await stack.client()
    answer = await client.workflow_service.describe_task_queue(
        DescribeTaskQueueRequest(
            namespace=client.namespace,
            task_queue=TaskQueue(name=TASK_QUEUE),
            task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
            report_stats=True,  # every partition's pollers, not the root's alone
        )
    )
    return len({poller.identity for poller in answer.pollers})


async def _workflows(
    stack: Stack, case_ids: list[int]
) -> dict[int, tuple[WorkflowExecutionStatus | None, CaseView]]:
    """Each case's workflow: its execution status, and what it holds true (`view`)."""
    client = await stack.client()

    async def one(case_id: int) -> tuple[WorkflowExecutionStatus | None, CaseView]:
        handle = client.get_workflow_handle(case_workflow_id(case_id))
        described = await handle.describe()
        view = await handle.query("view", result_type=CaseView, rpc_timeout=timedelta(seconds=10))
        return described.status, view

    found = await asyncio.gather(*(one(i) for i in case_ids))
    return dict(zip(case_ids, found, strict=True))
