"""A worker that dies the instant its first report version is stored, before Temporal hears
of it: `python -m tests.dying_worker`, in the stack's environment. The version's transaction
has committed; the workflow task that ran it is never completed, so Temporal hands the
filing to the next worker (tests/test_restart.py). Everything else is the real worker."""

from __future__ import annotations

import os

from temporalio import activity

import garde.worker
from activities.case_records import CaseRecords
from garde.messages import ReportRecord, StoredReport
from garde.settings import Settings

DIED = 9


class DyingRecords(CaseRecords):
    @activity.defn(name="file_report")
    def file_report(self, record: ReportRecord) -> StoredReport:
        super().file_report(record)
        os._exit(DIED)


if __name__ == "__main__":
    garde.worker.CaseRecords = DyingRecords  # type: ignore[misc]
    garde.worker.main(Settings.from_env())
