"""The activity that tells a case's status to the RIS that ordered it: one ORM^O01
(orders/order_status.py) to the site's MLLP listener (reports/mllp.py, as the ORU goes), its
ACK read back.

Sent only for a case ordered over HL7 to a site with an `hl7_endpoint` (read at each attempt:
a corrected address is used at once; removed, nothing more is sent). Sent once the case's
timeline holds the status (the workflow tells after writing it; until then the attempt fails
and is tried again), and no longer once the case has closed otherwise: an `accepted` the RIS
could not take before the case was cancelled or reported would only mislead it.

The timeline says so: the first failed attempt (`<status> not taken: <why>`), then the
delivery (`<status>: <ACK code>`), each entry once (kind `order_status_sent`). A status not
taken in time alerts the coordinators (workflows/endpoint_alert.py, as a report version's
delivery does); their alert is resolved here once the status is done.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.alerts import resolve_alert
from activities.case_records import add_event_once
from activities.errors import invalid_request, rows_must_exist
from garde.db import SessionFactory
from garde.domain import AlertKind, CaseStatus, EventKind, OrderSource
from garde.messages import OrderStatusStart
from garde.models import Case, CaseEvent, utcnow
from orders.order_status import TOLD, order_status
from reports import mllp

UNDELIVERED = "Undelivered"
NOT_RECORDED = "NotRecorded"
# Told while the case goes on; a case closed since has nothing of them left to tell.
STILL_OPEN = (CaseStatus.VALIDATED, CaseStatus.ACCEPTED)


def told_key(status: CaseStatus) -> str:
    """The timeline entry saying the RIS took the status."""
    return f"order-status-{status}"


def failed_key(status: CaseStatus) -> str:
    """The timeline entry saying the RIS did not take it at first."""
    return f"order-status-{status}-failed"


def alert_key(start: OrderStatusStart) -> str:
    """The coordinators' alert about a status the RIS has not taken in time: once per status."""
    return f"order-status-{start.case_id}-{start.status}"


class OrderStatuses:
    def __init__(self, sessions: SessionFactory) -> None:
        self._sessions = sessions

    @activity.defn
    def send_order_status(self, start: OrderStatusStart) -> None:
        """Send the status's ORM^O01 to the site's listener; raise when it did not take it,
        so that Temporal tries again."""
        status = CaseStatus(start.status)
        if status not in TOLD:
            raise invalid_request(f"a RIS is not told of {status}")
        with rows_must_exist(f"case {start.case_id}"), self._sessions() as s:
            case = s.get_one(Case, start.case_id)
            endpoint = case.site.hl7_endpoint
            if case.ordered_via != OrderSource.HL7 or not endpoint:
                return
            if _entry(s, case.id, told_key(status)) is not None:
                return  # an earlier attempt was taken and written down
            if not CaseStatus(case.status).is_open and status in STILL_OPEN:
                return
            reached = s.scalars(
                select(CaseEvent)
                .where(CaseEvent.case_id == case.id, CaseEvent.status == status)
                .order_by(CaseEvent.id.desc())
            ).first()
            if reached is None:
                raise ApplicationError(
                    f"case {case.id} is not recorded as {status} yet", type=NOT_RECORDED
                )
            message = order_status(case, status, reached.at, reached.expert)
        outcome = mllp.send(endpoint, message)  # outside any transaction
        with self._sessions.begin() as s:
            if outcome.delivered:
                detail, key = f"{status}: {outcome.detail}", told_key(status)
            else:
                detail, key = f"{status} not taken: {outcome.detail}", failed_key(status)
            add_event_once(s, start.case_id, key, utcnow(), EventKind.ORDER_STATUS_SENT, detail)
        if not outcome.delivered:
            raise ApplicationError(f"hl7: {outcome.detail}", type=UNDELIVERED)

    @activity.defn
    def resolve_order_status_alert(self, start: OrderStatusStart) -> None:
        """The status is done: the coordinators' alert about it is over, saying how (the RIS
        took it, the site removed its listener, or the case closed with nothing to tell)."""
        with rows_must_exist(f"case {start.case_id}"), self._sessions.begin() as s:
            case = s.get_one(Case, start.case_id)
            if _entry(s, case.id, told_key(CaseStatus(start.status))) is not None:
                how = "delivered"
            elif not case.site.hl7_endpoint:
                how = "removed"
            else:
                how = "not sent: the case closed"
            resolve_alert(s, alert_key(start), AlertKind.HL7_FAILING, f"hl7 {how}")


def _entry(s: Session, case_id: int, key: str) -> int | None:
    found: int | None = s.scalar(
        select(CaseEvent.id).where(CaseEvent.case_id == case_id, CaseEvent.key == key)
    )
    return found
