"""What Garde does with an order from a site's RIS, and the acknowledgement it answers.

A new order (NW) is recorded as the site's request (garde.intake.record_case), then its
workflow started; with Temporal away the case stays recorded, answered AA, and the
reconciler starts it. The same order again answers AA and makes nothing new. A
cancellation (CA) is the case workflow's "cancel" signal, by "RIS"; it needs Temporal, so
without it the answer is AR: the RIS sends it again.

The site is the one whose hl7_facility is MSH-4. Logs name cases by id, never the order's
values (its PID, its clinical question).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session
from temporalio.client import Client

from garde.db import SessionFactory
from garde.domain import CaseStatus, OrderSource
from garde.errors import InvalidInput
from garde.intake import CaseRequest, Order, case_start, find_order, record_case
from garde.messages import CANCELLED_BY_RIS, Cancellation, CaseStart
from garde.models import AuditEvent, Site
from garde.reconciler import mark_started
from garde.temporal import case_workflow_id, start_case_workflow
from orders import acks
from orders.hl7_orders import (
    APPLICATION_INTERNAL_ERROR,
    UNKNOWN_KEY_IDENTIFIER,
    Cancel,
    Header,
    Location,
    NewOrder,
    Problem,
    Refused,
    read,
)

log = logging.getLogger(__name__)

# Reaching Temporal to start or signal a case: the RIS waits for its acknowledgement.
TEMPORAL_WAIT_S = 5.0
NOT_NOW = "Garde cannot take this order now: send it again"


@dataclass(frozen=True)
class _Recorded:
    case_id: int
    start: CaseStart | None  # the workflow to start (None: started before)


class OrderDesk:
    """Takes one MLLP message's content and answers its ACK (never raises)."""

    def __init__(self, sessions: SessionFactory, connect: Callable[[], Awaitable[Client]]):
        self._sessions = sessions
        self._connect = connect
        self._client: Client | None = None

    async def take(self, raw: bytes, peer: str) -> bytes:
        header = Header()
        try:
            order = read(raw)
            header = order.header
            if isinstance(order, NewOrder):
                await self._new(order, peer)
            else:
                await self._cancel(order, peer)
        except Refused as refused:
            code = acks.REJECTED if refused.reject else acks.ERROR
            return acks.ack(refused.header, code, refused.problems)
        except SQLAlchemyError as e:
            log.error("an HL7 order was not taken: the database failed (%s)", type(e).__name__)
            return acks.ack(header, acks.REJECTED, [_not_now()])
        except Exception as e:  # the message may be quoted by the error: its type alone
            log.error("an HL7 order was not taken (%s)", type(e).__name__)
            return acks.ack(header, acks.REJECTED, [_not_now()])
        return acks.ack(header, acks.ACCEPTED)

    async def _new(self, order: NewOrder, peer: str) -> None:
        recorded = await asyncio.to_thread(self._record, order, peer)
        if recorded.start is None:
            return
        try:
            await start_case_workflow(await self._temporal(), recorded.start)
        except Exception as e:
            self._client = None
            log.warning(
                "case %s recorded from HL7; routing waits for Temporal (%s)",
                recorded.case_id,
                type(e).__name__,
            )
            return
        await asyncio.to_thread(mark_started, self._sessions, recorded.case_id)

    def _record(self, order: NewOrder, peer: str) -> _Recorded:
        with self._sessions() as s:
            site = _site(s, order.header)
            fields = dict(order.request)
            if not fields.get("callback_phone") and site.phone:
                fields["callback_phone"] = site.phone  # no call-back given: the site's phone
            try:
                request = CaseRequest.parse(fields, site)
            except InvalidInput as e:
                raise order.refusal(e.fields) from None
            how = Order(OrderSource.HL7, order.placer_order_number, order.patient)
            case, created = record_case(s, site, request, how)
            if created:
                _audit(s, order.header, "case.submit", case.id, peer)
                s.commit()
                log.info("case %s ordered over HL7 by site %s", case.id, site.code)
            return _Recorded(case.id, None if case.workflow_started_at else case_start(case))

    async def _cancel(self, order: Cancel, peer: str) -> None:
        recorded = await asyncio.to_thread(self._cancellable, order, peer)
        if recorded is None:
            return
        try:
            client = await self._temporal()
            if recorded.start is not None:
                await start_case_workflow(client, recorded.start)
            handle = client.get_workflow_handle(case_workflow_id(recorded.case_id))
            await handle.signal("cancel", Cancellation(CANCELLED_BY_RIS))
        except Exception as e:
            self._client = None
            log.warning(
                "cancelling case %s from HL7 failed (%s)", recorded.case_id, type(e).__name__
            )
            raise Refused(order.header, [_not_now()], reject=True) from None
        if recorded.start is not None:
            await asyncio.to_thread(mark_started, self._sessions, recorded.case_id)
        log.info("case %s cancelled over HL7", recorded.case_id)

    def _cancellable(self, order: Cancel, peer: str) -> _Recorded | None:
        """The case to cancel; None when there is nothing to do (cancelled already, or
        refused by its expert)."""
        with self._sessions() as s:
            site = _site(s, order.header)
            case = find_order(s, site.id, order.placer_order_number)
            if case is None:
                problem = Problem(
                    Location("ORC", 2), UNKNOWN_KEY_IDENTIFIER, "no order of this site has it"
                )
                raise Refused(order.header, [problem])
            if case.status in (CaseStatus.CANCELLED, CaseStatus.REFUSED):
                return None
            if case.reports:
                problem = Problem(
                    Location("ORC", 1),
                    APPLICATION_INTERNAL_ERROR,
                    "a report was filed for this order: it can no longer be cancelled",
                )
                raise Refused(order.header, [problem])
            _audit(s, order.header, "case.cancel", case.id, peer)
            s.commit()
            return _Recorded(case.id, None if case.workflow_started_at else case_start(case))

    async def _temporal(self) -> Client:
        if self._client is None:
            self._client = await asyncio.wait_for(self._connect(), TEMPORAL_WAIT_S)
        return self._client


def _site(s: Session, header: Header) -> Site:
    site = s.scalar(select(Site).where(Site.hl7_facility == header.facility))
    if site is None or not header.facility:
        problem = Problem(
            Location("MSH", 4), UNKNOWN_KEY_IDENTIFIER, "no site has this HL7 facility"
        )
        raise Refused(header, [problem], reject=True)
    return site


def _audit(s: Session, header: Header, action: str, case_id: int, peer: str) -> None:
    """As the web's audit log says who did what: here the site's RIS, by its facility."""
    s.add(
        AuditEvent(
            actor=f"hl7:{header.facility}"[:64],
            action=action,
            target=f"case:{case_id}",
            address=peer[:64] or None,
        )
    )


def _not_now() -> Problem:
    return Problem(None, APPLICATION_INTERNAL_ERROR, NOT_NOW)
