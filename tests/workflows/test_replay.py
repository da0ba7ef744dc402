"""Every recorded path of the case workflow (and of a report version's acknowledgement
workflow) replays against the workflow as it is now, in Temporal's sandbox: a call that is
not deterministic on a recorded path fails here.

The histories in `histories/` were recorded by the time-skipping scenarios of this folder
(`GARDE_RECORD_HISTORIES=1 pytest tests/workflows -k sqlite`); those named `local_records_*`
were copied from such a recording once the record writes had become local activities, those
named `first_offer_*` once the offers were opened with their record, the others kept as
they ran before. A change to the workflow that
would take another step on one of these paths fails here: put it behind `workflow.patched`
(see the module docstring of `workflows/case.py`), or record the histories again when no
case in flight can be affected.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from garde.settings import Settings
from garde.temporal import data_converter
from tests.workflows.harness import PAYLOAD_KEYS, SANDBOX
from workflows.acknowledgement import AcknowledgementWorkflow
from workflows.case import CaseWorkflow

HISTORIES = Path(__file__).parent / "histories"
PATHS = (
    "sms_accept",
    "web_accept",
    "decline_then_next",
    "release",
    "broadcast",
    "coordinator_alert",
    "cancel",
    "cancel_after_report",
    "preliminary_final_addendum",
    "stat_calls",
    "site_notices",
    "study_arrivals",
    "acknowledgement_ladder",
    "regulation_validated_scanned_read",
    "regulation_refused",
    # The case's paths since its record writes became local activities (patch "local-records").
    "local_records_sms_accept",
    "local_records_decline_then_next",
    "local_records_preliminary_final_addendum",
    "local_records_regulation_validated_scanned_read",
    # Since the intake writes the first entry and the offers are opened with their record
    # (patch "offers-opened-with-their-record").
    "first_offer_sms_accept",
    "first_offer_broadcast",
    "first_offer_decline_then_next",
    "first_offer_preliminary_final_addendum",
    "first_offer_regulation_validated_scanned_read",
    # Since a report version is stored with its record (patch "report-filed-with-its-record").
    "filed_report_cancel_after_report",
    "filed_report_preliminary_final_addendum",
    "filed_report_regulation_validated_scanned_read",
    "filed_report_site_notices",
    # Since an update is admitted before it changes anything (patch "updates-admitted").
    "admitted_release",
)
RECORDED = sorted(HISTORIES.glob("*.json"))
# Garde's converter with the nights' key: encrypted histories open, those recorded before
# encryption pass through it as they are.
CONVERTER = data_converter(
    Settings.from_env({"GARDE_PAYLOAD_KEYS": PAYLOAD_KEYS, "GARDE_SECRET_KEY": "test"})
)


def test_every_path_has_a_recorded_history() -> None:
    assert RECORDED, f"no history recorded in {HISTORIES}"
    assert sorted(PATHS) == sorted(p.stem for p in RECORDED)


@pytest.mark.parametrize("path", RECORDED, ids=[p.stem for p in RECORDED])
def test_recorded_history_replays(path: Path) -> None:
    # A history names its workflow's type, not its id; the replayer only needs some id.
    history = WorkflowHistory.from_json(f"case-{path.stem}", path.read_text())
    assert len(history.events) > 10
    replayer = Replayer(
        workflows=[CaseWorkflow, AcknowledgementWorkflow],
        data_converter=CONVERTER,
        workflow_runner=SANDBOX,
    )
    result = asyncio.run(replayer.replay_workflow(history))
    assert result.replay_failure is None  # raised above already; said here for the reader
