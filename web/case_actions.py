"""What people do to a case, turned into Temporal starts, signals and updates.

Refusals raised by the workflow (ApplicationError types) become Garde errors here, once.
An update waits at most `WORKER_WAIT` for a worker to take it. Then the web gives up on it in
the database, where the first of the web and a worker decides the update's fate once
(garde/admission.py): not taken, the caller gets a clear 503 (saying whether no worker runs or
the workers are behind, by their heartbeats) and the update never happens later behind their
back; taken meanwhile, its outcome is waited for. A server that could not be reached is
given up on the same way, and one that restarted and forgot an update a worker had admitted
is sent it again under its own id. The update also carries a `not_after` instant past which
a worker refuses it, for a web that died before giving up.
"""

from __future__ import annotations

import asyncio
import dataclasses
import secrets
import time
from collections.abc import Callable, Sequence
from datetime import timedelta
from functools import partial
from typing import Any

from sqlalchemy.orm import Session
from temporalio.client import (
    Client,
    WorkflowHandle,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
    WorkflowUpdateStage,
)
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from garde.acknowledgements import pending
from garde.admission import give_up
from garde.db import SessionFactory
from garde.errors import Conflict, Forbidden, GardeError, InvalidInput, Unavailable
from garde.heartbeats import ProcessRole, fresh
from garde.intake import case_start
from garde.messages import (
    Acceptance,
    Acknowledgement,
    CallAnswer,
    CallEnded,
    Cancellation,
    Decline,
    OfferUndeliverable,
    PriorityChange,
    Reassignment,
    Refusal,
    Release,
    ReportDraft,
    ReportFiled,
    RosterChange,
    ScanDone,
    SmsAnswer,
    Validation,
)
from garde.models import Case, utcnow
from garde.reconciler import deliver_answer, deliver_call_answer
from garde.temporal import acknowledgement_workflow_id, case_workflow_id, start_case_workflow
from web.temporal_bridge import TemporalBridge

# How long a web action waits for a worker to take its update (a busy worker can take a few
# seconds: it is not "no worker"), and the margin after which a worker refuses an update no
# web gave up on (clock differences between machines).
WORKER_WAIT = timedelta(seconds=10)
LATE_MARGIN = timedelta(seconds=5)
# How long the outcome of an update a worker took is waited for, once the web stopped waiting
# for it to be taken (a worker that died after admitting it is taken over in seconds).
OUTCOME_WAIT = timedelta(seconds=30)
# Starting a workflow or sending a signal needs only the Temporal server.
SERVER_WAIT = 5.0
# The Temporal server is down, restarting or too slow to answer.
_AWAY = (RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED)
UNREACHABLE = "Temporal cannot be reached right now; try again in a moment"

_REFUSALS: dict[str, type[GardeError]] = {
    "AlreadyTaken": Conflict,
    "CaseClosed": Conflict,
    "NotHolder": Forbidden,
    "NotEligible": Forbidden,
    "NotToValidate": Conflict,
    "NotValidated": Conflict,
    "Stale": Unavailable,
    "Unavailable": Unavailable,
}


class CaseActions:
    def __init__(self, temporal: TemporalBridge, sessions: SessionFactory) -> None:
        self._temporal = temporal
        self._sessions = sessions

    def start(self, case: Case) -> None:
        """Start the case's workflow; starting it again is harmless. Unavailable when
        Temporal cannot be reached: the case stays recorded and the reconciler starts it."""
        start = case_start(case)

        async def go(client: Client) -> None:
            await start_case_workflow(client, start)

        try:
            self._temporal.run(go, timeout=SERVER_WAIT)
        except RPCError as e:
            raise _closed_or_missing(e) from e

    def accept(self, case_id: int, expert_id: int) -> None:
        self._update(case_id, "accept", Acceptance(expert_id, "web"))

    def release(self, case_id: int, expert_id: int) -> None:
        self._update(case_id, "release", Release(expert_id))

    def file_report(self, case_id: int, draft: ReportDraft) -> ReportFiled:
        filed: ReportFiled = self._update(case_id, "file_report", draft, ReportFiled)
        return filed

    def validate(self, case_id: int, validation: Validation) -> None:
        """Régulation: the holder validates the indication with a protocol."""
        self._update(case_id, "validate", validation)

    def refuse(self, case_id: int, refusal: Refusal) -> None:
        """Régulation: the holder refuses the indication, with a reason."""
        self._update(case_id, "refuse", refusal)

    def scanned(self, case_id: int, scan: ScanDone) -> None:
        """Régulation: the site did the scan; the case goes on to reading."""
        self._update(case_id, "scanned", scan)

    def reassign(self, case_id: int, change: Reassignment) -> None:
        self._update(case_id, "reassign", change)

    def change_priority(self, case_id: int, change: PriorityChange) -> None:
        self._update(case_id, "change_priority", change)

    def decline(self, case_id: int, expert_id: int, reason: str = "") -> None:
        self._signal(case_id, "decline", Decline(expert_id, reason))

    def cancel(self, case: Case, by: str) -> None:
        """Only before any report: a read under way ends with its report (the workflow
        ignores a cancellation that comes after one)."""
        if case.reports:
            raise Conflict(
                "a report was filed for this case: it can be cancelled only before any report"
            )
        self._signal(case.id, "cancel", Cancellation(by))

    def acknowledge(self, db: Session, case_id: int, ack: Acknowledgement) -> bool:
        """The site acknowledges every version of the case that waits for it (web, API, SMS,
        voice): each version's workflow is told (one that ended meanwhile, acknowledged
        another way, is passed over). True once they have recorded it; False when not yet,
        within WORKER_WAIT (the next page shows it once it is). Conflict when nothing waits."""
        waiting = [report.id for report in pending(db, case_id)]
        if not waiting:
            raise Conflict(
                "nothing waits for an acknowledgement on this case: no critical finding or "
                "major discrepancy, or it was acknowledged already"
            )

        async def go(client: Client) -> None:
            for report_id in waiting:
                workflow_id = acknowledgement_workflow_id(case_id, report_id)
                try:
                    await client.get_workflow_handle(workflow_id).signal("acknowledge", ack)
                except RPCError as e:
                    if e.status != RPCStatusCode.NOT_FOUND:
                        raise

        try:
            self._temporal.run(go, timeout=SERVER_WAIT)
        except RPCError as e:
            raise _closed_or_missing(e) from e
        deadline = time.monotonic() + WORKER_WAIT.total_seconds()
        while True:
            db.rollback()  # end the read transaction: the next query sees the workflow's write
            if not pending(db, case_id):
                return True
            if time.monotonic() > deadline:
                return False
            time.sleep(0.1)

    def offer_undeliverable(self, case_id: int, offer_id: int) -> None:
        self._signal(case_id, "offer_undeliverable", OfferUndeliverable(offer_id))

    def sms_answer(self, case_id: int, answer: SmsAnswer) -> bool:
        """False when the case's workflow is already over."""

        async def go(client: Client) -> bool:
            return await deliver_answer(client, case_id, answer)

        try:
            delivered: bool = self._temporal.run(go, timeout=SERVER_WAIT)
        except RPCError as e:
            raise _closed_or_missing(e) from e
        return delivered

    def call_answered(self, case_id: int, answer: CallAnswer) -> bool:
        """A key pressed on a call; False when the case's workflow is already over."""

        async def go(client: Client) -> bool:
            return await deliver_call_answer(client, case_id, answer)

        try:
            delivered: bool = self._temporal.run(go, timeout=SERVER_WAIT)
        except RPCError as e:
            raise _closed_or_missing(e) from e
        return delivered

    def call_ended(self, case_id: int, ended: CallEnded) -> None:
        self._signal(case_id, "call_ended", ended)

    def roster_changed(self, case_ids: Sequence[int], reason: str) -> None:
        """Tell waiting cases to look again at who is eligible; best effort (they also look
        at a bounded interval), so a case that cannot be told is skipped."""

        async def go(client: Client) -> None:
            async def tell(case_id: int) -> None:
                handle = client.get_workflow_handle(case_workflow_id(case_id))
                await handle.signal("roster_changed", RosterChange(reason))

            await asyncio.gather(*(tell(i) for i in case_ids), return_exceptions=True)

        if case_ids:
            self._temporal.run(go, timeout=SERVER_WAIT)

    def _update(self, case_id: int, name: str, arg: Any, result_type: type | None = None) -> Any:
        """Send the update and answer its outcome. Without a clean answer from Temporal (no
        worker took it in time, or the server could not be reached), the database decides
        the update's fate once: not admitted, it never happens and the caller is told; admitted
        by a worker, its outcome is waited for (`outcome`)."""
        arg = dataclasses.replace(arg, not_after=utcnow() + WORKER_WAIT + LATE_MARGIN)
        update_id = secrets.token_hex(16)

        async def send(handle: WorkflowHandle[Any, Any], taken: timedelta, done: timedelta) -> Any:
            """The update under its id: taken by a worker within `taken`, done within `done`."""
            update = await handle.start_update(
                name,
                arg,
                id=update_id,
                wait_for_stage=WorkflowUpdateStage.ACCEPTED,
                result_type=result_type,
                rpc_timeout=taken,
            )
            return await update.result(rpc_timeout=done)

        async def go(client: Client) -> Any:
            handle = client.get_workflow_handle(case_workflow_id(case_id))
            return await send(handle, WORKER_WAIT, OUTCOME_WAIT)

        async def outcome(client: Client, left: timedelta) -> Any:
            """The admitted update's outcome. A server that restarted before any worker
            completed it has forgotten it: it is sent again under its own id, and the worker
            that takes it finds it admitted and each write it made already by its key."""
            handle = client.get_workflow_handle(case_workflow_id(case_id))
            try:
                waiting = handle.get_update_handle(update_id, result_type=result_type)
                return await waiting.result(rpc_timeout=left)
            except RPCError as e:
                if e.status != RPCStatusCode.NOT_FOUND:
                    raise
            return await send(handle, left, left)

        wait = (WORKER_WAIT + OUTCOME_WAIT).total_seconds() + SERVER_WAIT
        try:
            return self._answer(lambda: self._temporal.run(go, timeout=wait))
        except WorkflowUpdateRPCTimeoutOrCancelledError:
            not_taken = self._not_taken()  # no worker took it in time
        except _Unreachable:
            not_taken = UNREACHABLE  # the server may have handed it to a worker, or not
        with self._sessions.begin() as s:
            taken = give_up(s, case_id, update_id, utcnow())
        if not taken:
            raise Unavailable(not_taken)
        deadline = time.monotonic() + OUTCOME_WAIT.total_seconds()
        while True:  # through a restart of the server
            left = timedelta(seconds=max(1.0, deadline - time.monotonic()))
            try:
                waited = partial(self._temporal.run, partial(outcome, left=left), timeout=wait)
                return self._answer(waited)
            except (WorkflowUpdateRPCTimeoutOrCancelledError, _Unreachable) as e:
                if time.monotonic() + 0.5 > deadline:
                    raise Unavailable(
                        "this was taken but has not finished yet; reload the case in a moment "
                        "to see it"
                    ) from e
                time.sleep(0.5)

    @staticmethod
    def _answer(run: Callable[[], Any]) -> Any:
        """An update's result, or the workflow's refusal as a Garde error."""
        try:
            return run()
        except WorkflowUpdateFailedError as e:
            cause = e.cause
            if isinstance(cause, ApplicationError) and cause.type == "InvalidInput":
                raise InvalidInput(dict(cause.details[0])) from e
            if isinstance(cause, ApplicationError) and cause.type in _REFUSALS:
                raise _REFUSALS[cause.type](cause.message) from e
            raise
        except RPCError as e:
            if e.status in _AWAY:
                raise _Unreachable from e
            raise _closed_or_missing(e) from e

    def _not_taken(self) -> str:
        """Why no worker took an update in time: none runs, or those that run are behind."""
        if fresh(self._sessions, ProcessRole.WORKER):
            return (
                "the workers are busy and did not take this in time; nothing was changed, "
                "try again in a moment"
            )
        return "no worker is handling cases right now; nothing was changed, try again in a moment"

    def _signal(self, case_id: int, name: str, arg: Any) -> None:
        async def go(client: Client) -> None:
            await client.get_workflow_handle(case_workflow_id(case_id)).signal(name, arg)

        try:
            self._temporal.run(go, timeout=SERVER_WAIT)
        except RPCError as e:
            raise _closed_or_missing(e) from e


class _Unreachable(Exception):
    """The Temporal server could not be reached while an update was under way."""


def _closed_or_missing(e: RPCError) -> GardeError:
    if e.status == RPCStatusCode.NOT_FOUND:
        return Conflict("the case is closed")
    if e.status in _AWAY:
        return Unavailable(UNREACHABLE)
    raise e
