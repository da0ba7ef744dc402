"""A worker that dies the instant its first report version is stored, before Temporal hears
of it: `python -m tests.dying_worker`, in the stack's environment. The version's transaction
has committed; the workflow task that ran it is never completed, so Temporal hands the
filing to the next worker (tests/test_restart.py). Everything else is the real worker."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import TYPE_CHECKING

from temporalio import activity

import garde.worker
from activities.case_records import CaseRecords
from garde.messages import ReportRecord, StoredReport
from garde.settings import Settings

if TYPE_CHECKING:
    from tests.conftest import Stack

DIED = 9


def start_dying_worker(stack: Stack) -> subprocess.Popen[bytes]:
    """In place of the stack's worker; stopped with the stack, whatever the test does."""
    stack.stop("worker")
    with (stack.logs / "dying-worker.log").open("ab") as log:
        dying = subprocess.Popen(
            [sys.executable, "-m", "tests.dying_worker"], env=stack.env, stdout=log, stderr=log
        )
    stack.processes["dying-worker"] = dying
    return dying


class DyingRecords(CaseRecords):
    @activity.defn(name="file_report")
    def file_report(self, record: ReportRecord) -> StoredReport:
        super().file_report(record)
        os._exit(DIED)


if __name__ == "__main__":
    garde.worker.CaseRecords = DyingRecords  # type: ignore[misc]
    garde.worker.main(Settings.from_env())
