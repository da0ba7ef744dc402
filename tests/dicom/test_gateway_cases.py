"""A study pushed to the gateway reaches its case: linked by its accession number, on the
case's timeline, and its workflow told (a study_arrived signal)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from pydicom import dcmread
from pydicom.data import get_testdata_file
from pydicom.uid import generate_uid
from sqlalchemy import select
from temporalio.api.enums.v1 import EventType

from garde.domain import EventKind
from garde.models import CaseEvent, Study
from garde.temporal import case_workflow_id
from tests.conftest import Region, Stack, wait_for
from tests.dicom.conftest import GatewayProcess, with_new_uids

pytestmark = pytest.mark.usefixtures("dcmtk")


def _signals(stack: Stack, case_id: int) -> list[str]:
    async def history() -> list[str]:
        handle = (await stack.client()).get_workflow_handle(case_workflow_id(case_id))
        events = (await handle.fetch_history()).events
        return [
            e.workflow_execution_signaled_event_attributes.signal_name
            for e in events
            if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED
        ]

    return asyncio.run(history())


def test_a_study_pushed_reaches_its_case_and_its_workflow(
    stack: Stack, region: Region, stack_gateway: GatewayProcess, tmp_path: Path
) -> None:
    case = region.submit()
    study_uid, series_uid = generate_uid(), generate_uid()
    files = [
        with_new_uids(
            get_testdata_file("CT_small.dcm") or "",
            tmp_path,
            study_uid=study_uid,
            series_uid=series_uid,
            AccessionNumber=case["accession_number"],
        )
        for _ in range(3)
    ]
    sent = stack_gateway.send(region.site[:16], *files)
    assert sent.returncode == 0, sent.stderr

    def linked() -> Study | None:
        with stack.sessions() as s:
            study = s.scalar(select(Study).where(Study.study_instance_uid == study_uid))
            return study if study is not None and study.case_id == case["id"] else None

    study = wait_for(linked, what="the study linked to its case")
    assert (study.series_count, study.instance_count) == (1, 3)
    with stack.sessions() as s:
        kinds = s.scalars(select(CaseEvent.kind).where(CaseEvent.case_id == case["id"])).all()
    assert EventKind.STUDY_ARRIVED in kinds
    wait_for(
        lambda: "study_arrived" in _signals(stack, case["id"]),
        what="the workflow told of the study",
    )
    assert str(dcmread(files[0]).PatientName) not in stack_gateway.log_text()
