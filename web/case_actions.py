"""What people do to a case, turned into Temporal starts, signals and updates.

Refusals raised by the workflow (ApplicationError types) become Garde errors here, once.
"""

from __future__ import annotations

from typing import Any

from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from garde.errors import Conflict, Forbidden, GardeError
from garde.intake import case_start
from garde.messages import (
    Acceptance,
    Acknowledgement,
    Cancellation,
    Decline,
    Release,
    ReportDraft,
    ReportFiled,
    SmsAnswer,
)
from garde.models import Case
from garde.temporal import case_workflow_id, start_case_workflow
from web.temporal_bridge import TemporalBridge

_REFUSALS: dict[str, type[GardeError]] = {
    "AlreadyTaken": Conflict,
    "CaseClosed": Conflict,
    "NotHolder": Forbidden,
}


class CaseActions:
    def __init__(self, temporal: TemporalBridge) -> None:
        self._temporal = temporal

    def start(self, case: Case) -> None:
        """Start the case's workflow; starting it again is harmless."""
        start = case_start(case)

        async def go(client: Client) -> None:
            await start_case_workflow(client, start)

        self._temporal.run(go)

    def accept(self, case_id: int, expert_id: int) -> None:
        self._update(case_id, "accept", Acceptance(expert_id, "web"))

    def release(self, case_id: int, expert_id: int) -> None:
        self._update(case_id, "release", Release(expert_id))

    def file_report(self, case_id: int, draft: ReportDraft) -> ReportFiled:
        filed: ReportFiled = self._update(case_id, "file_report", draft, ReportFiled)
        return filed

    def decline(self, case_id: int, expert_id: int) -> None:
        self._signal(case_id, "decline", Decline(expert_id))

    def cancel(self, case_id: int, by: str) -> None:
        self._signal(case_id, "cancel", Cancellation(by))

    def acknowledge(self, case_id: int, by: str) -> None:
        self._signal(case_id, "acknowledge", Acknowledgement(by))

    def sms_answer(self, case_id: int, answer: SmsAnswer) -> None:
        self._signal(case_id, "sms_answer", answer)

    def _update(self, case_id: int, name: str, arg: Any, result_type: type | None = None) -> Any:
        async def go(client: Client) -> Any:
            handle = client.get_workflow_handle(case_workflow_id(case_id))
            return await handle.execute_update(name, arg, result_type=result_type)

        try:
            return self._temporal.run(go)
        except WorkflowUpdateFailedError as e:
            cause = e.cause
            if isinstance(cause, ApplicationError) and cause.type in _REFUSALS:
                raise _REFUSALS[cause.type](cause.message) from e
            raise
        except RPCError as e:
            raise _closed_or_missing(e) from e

    def _signal(self, case_id: int, name: str, arg: Any) -> None:
        async def go(client: Client) -> None:
            await client.get_workflow_handle(case_workflow_id(case_id)).signal(name, arg)

        try:
            self._temporal.run(go)
        except RPCError as e:
            raise _closed_or_missing(e) from e


def _closed_or_missing(e: RPCError) -> GardeError:
    if e.status == RPCStatusCode.NOT_FOUND:
        return Conflict("the case is closed")
    raise e
