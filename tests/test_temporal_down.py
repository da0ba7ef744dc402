"""Outside input is stored before it is acted on: with the Temporal server stopped, a site's
request and an expert's SMS answer are both kept, and both acted on once it is back."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from garde.models import Case, SmsMessage
from garde.temporal import start_dev_server
from garde.texts import render
from tests.conftest import (
    Region,
    Stack,
    free_port,
    make_region,
    on_sqlite_only,
    postgres_database,
    start_stack,
    wait_for,
)
from tests.dying_worker import filed_once, filing_a_dying_worker_stores

NAMESPACE = "garde-down"


class TemporalServer:
    """A Temporal dev server of this test's own, to stop and start again on the same port."""

    def __init__(self, data: Path) -> None:
        self.data = data
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        self.process = start_dev_server(self.data, port=self.port, namespaces=(NAMESPACE,))

    def stop(self) -> None:
        assert self.process is not None
        self.process.terminate()
        self.process.wait(timeout=30)
        self.process = None


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database of this test's own: the shared stack's reconciler must not see its cases."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'garde.db'}"
    else:
        on_sqlite_only("postgresql", "Temporal away; the reconciler's queries run on every stack")
        yield from postgres_database()


@pytest.fixture
def temporal(tmp_path: Path) -> Iterator[TemporalServer]:
    server = TemporalServer(tmp_path / "temporal")
    server.start()
    yield server
    if server.process is not None:
        server.stop()


@pytest.fixture
def stack_on_own_temporal(
    temporal: TemporalServer, database_url: str, tmp_path: Path
) -> Iterator[Stack]:
    yield from start_stack(tmp_path, database_url, temporal.address, NAMESPACE, twilio=True)


def test_request_and_sms_answer_while_temporal_is_down_are_acted_on_when_it_is_back(
    temporal: TemporalServer, stack_on_own_temporal: Stack
) -> None:
    stack = stack_on_own_temporal
    region: Region = make_region(stack)
    alice = region.experts["alice"]
    first = region.submit()
    code = region.offer_sms("alice")

    temporal.stop()
    try:
        # The site is answered as usual; the case is kept, its routing waits.
        started = time.monotonic()
        second = region.submit()
        assert time.monotonic() - started < 15
        assert second["status"] == "requested"
        # The expert's YES is kept and Twilio is answered.
        reply = stack.sms_reply(alice.phone, f"YES {code}")
        assert reply.status_code == 200 and render("reply_received", "fr") in reply.text
        with stack.sessions() as s:
            kept = s.scalar(select(SmsMessage).where(SmsMessage.body == f"YES {code}"))
            assert kept is not None and kept.offer_id is not None and kept.signalled_at is None
            assert s.get_one(Case, second["id"]).workflow_started_at is None
        assert region.case(first["id"])["status"] == "offered"
    finally:
        temporal.start()

    # Back: the reconciler delivers the answer and starts the waiting case.
    accepted = region.wait_status(first["id"], "accepted", timeout=90)
    assert accepted["assigned_expert"] == alice.code
    region.wait_status(second["id"], "offered", timeout=90)
    with stack.sessions() as s:
        assert s.get_one(Case, second["id"]).workflow_started_at is not None
        kept = s.scalar(select(SmsMessage).where(SmsMessage.body == f"YES {code}"))
        assert kept is not None and kept.signalled_at is not None
    wait_for(
        lambda: [m for m in stack.twilio.to(alice.phone) if "est à vous" in m.body],  # type: ignore[union-attr]
        60,
        "the confirmation SMS",
    )


def test_a_report_admitted_before_its_worker_died_and_temporal_restarted_is_filed_once(
    temporal: TemporalServer, stack_on_own_temporal: Stack
) -> None:
    """A worker stored a final report and died before Temporal heard of it; then the
    Temporal server restarted, forgetting the filing no worker had completed. The web,
    waiting for the outcome of a filing the database says a worker admitted, sends it again
    under its own id: the next worker finishes it, finding the version already stored, and
    the case shows final with one version."""
    stack = stack_on_own_temporal
    with filing_a_dying_worker_stores(make_region(stack)) as filing:
        # The web stops waiting for a worker to take the filing (10 s), finds it admitted
        # and waits for its outcome: then the server restarts.
        time.sleep(max(0.0, filing.sent + 12 - time.monotonic()))
        temporal.stop()
        temporal.start()
    filed_once(stack, filing)
