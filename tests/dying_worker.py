"""A worker that dies the instant its first report version is stored, before Temporal hears
of it: `python -m tests.dying_worker`, in the stack's environment. The version's transaction
has committed; the workflow task that ran it is never completed, so Temporal hands the
filing to the next worker (tests/test_restart.py, tests/test_temporal_down.py). Everything else
is the real worker; `filing_a_dying_worker_stores` stages it on a test stack."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import select
from temporalio import activity

import garde.worker
from activities.case_records import CaseRecords
from garde.messages import ReportRecord, StoredReport
from garde.models import Report
from garde.settings import Settings

if TYPE_CHECKING:
    import requests

    from tests.conftest import Region, Stack

DIED = 9


@dataclass
class Filing:
    """A final report sent to a worker that died once it had stored it."""

    case_id: int
    sent: float  # time.monotonic() when the web was sent it
    answer: Future[requests.Response]  # the web's answer to the expert, to come


@contextmanager
def filing_a_dying_worker_stores(region: Region) -> Iterator[Filing]:
    """alice holds a case and sends its final report to a dying worker in place of the
    stack's; inside, that worker has stored it and died. On leaving, the stack's worker runs
    again (and the dying one is stopped with the stack, whatever the test does)."""
    stack = region.stack
    alice = region.experts["alice"]
    case_id = region.submit()["id"]
    region.offer_sms("alice")
    assert stack.api(alice.token).post(f"/api/v1/cases/{case_id}/accept").status_code == 200
    stack.stop("worker")
    with (stack.logs / "dying-worker.log").open("ab") as log:
        dying = subprocess.Popen(
            [sys.executable, "-m", "tests.dying_worker"], env=stack.env, stdout=log, stderr=log
        )
    stack.processes["dying-worker"] = dying
    report = {"kind": "final", "findings": "No bleed.", "impression": "Normal."}
    with ThreadPoolExecutor(1) as pool:
        try:
            stack.agreed(case_id, timeout=90)  # the dying worker polls: it answered the query
            sent = time.monotonic()
            answer = pool.submit(
                stack.api(alice.token).post, f"/api/v1/cases/{case_id}/report", json=report
            )
            assert dying.wait(timeout=60) == DIED, "the worker was to die storing the report"
            yield Filing(case_id, sent, answer)
        finally:
            stack.stop("dying-worker", kill=True)  # when it never took the report
            stack.start("worker")


def filed_once(stack: Stack, filing: Filing) -> None:
    """The expert is answered that the report is filed, the case shows final, one version."""
    r = filing.answer.result(timeout=120)
    assert r.status_code == 201, r.text
    case, view = stack.agreed(filing.case_id, timeout=60)
    assert (case.status, view.status) == ("final", "final")
    with stack.sessions() as s:
        versions = s.scalars(select(Report.kind).where(Report.case_id == filing.case_id)).all()
    assert versions == ["final"]


class DyingRecords(CaseRecords):
    @activity.defn(name="file_report")
    def file_report(self, record: ReportRecord) -> StoredReport:
        super().file_report(record)
        os._exit(DIED)


if __name__ == "__main__":
    garde.worker.CaseRecords = DyingRecords  # type: ignore[misc]
    garde.worker.main(Settings.from_env())
