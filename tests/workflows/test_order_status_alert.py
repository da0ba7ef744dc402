"""A RIS that does not take a case's status within the bound is somebody's problem, as a report
version's endpoint is (test_delivery_alert.py), on the time-skipping server: the coordinators
are alerted once (a banner naming the HL7 listener, an SMS each, an entry on the case's
timeline) while the status is tried again, and the alert is resolved when the RIS takes it.
"""

from __future__ import annotations

import asyncio
import secrets
from datetime import timedelta

from sqlalchemy import select

from garde.domain import AlertKind, EventKind, OrderSource
from garde.intake import CaseRequest, Order, case_start, record_case
from garde.models import CaseEvent, Site
from garde.reconciler import mark_started
from garde.temporal import start_case_workflow
from tests.conftest import case_request, free_port, on_sqlite_only
from tests.reports.site_endpoints import MllpListener
from tests.workflows.harness import Night, Region, night, seed_region
from workflows.policy import DELIVERIES, DELIVERY_ALERT_AFTER


async def _ordered_over_hl7(n: Night, region: Region) -> int:
    """A case as the HL7 intake records it (the RIS's placer number), its workflow started."""
    with n.sessions() as s:
        site = s.get_one(Site, region.site_id)
        request = CaseRequest.parse(case_request(priority="routine"), site)
        placer = "PL-" + secrets.token_hex(4)
        case, _ = record_case(s, site, request, Order(OrderSource.HL7, placer, None))
        start = case_start(case)
    await start_case_workflow(n.client, start)
    mark_started(n.sessions, start.case_id)
    return start.case_id


def _told(n: Night, case_id: int) -> list[str]:
    """The case's timeline entries about its RIS, oldest first."""
    with n.sessions() as s:
        return list(
            s.scalars(
                select(CaseEvent.detail)
                .where(CaseEvent.case_id == case_id, CaseEvent.kind == EventKind.ORDER_STATUS_SENT)
                .order_by(CaseEvent.id)
            )
        )


def _set_endpoint(n: Night, region: Region, endpoint: str) -> None:
    with n.sessions.begin() as s:
        s.get_one(Site, region.site_id).hl7_endpoint = endpoint


def test_a_ris_away_past_the_bound_alerts_the_coordinators_once_until_it_takes_the_status(
    database_url: str,
) -> None:
    on_sqlite_only(database_url, "the status workflow's timer and retries, whatever stores them")

    async def scenario() -> None:
        listener = MllpListener().start()
        try:
            async with night(database_url) as n:
                region = seed_region(n.sessions)
                _set_endpoint(n, region, f"127.0.0.1:{free_port()}")  # nothing listens there
                case_id = await _ordered_over_hl7(n, region)
                await n.offers_made(case_id, 1)
                await n.accept(case_id, region.experts["alice"])
                accepted_at = await n.now()
                [failed] = await n.eventually(lambda: _told(n, case_id), "the first attempt")
                assert failed.startswith("accepted not taken: ConnectionRefusedError")

                # Still away just before the bound: nobody alerted yet.
                await n.sleep_until(accepted_at + DELIVERY_ALERT_AFTER - timedelta(minutes=1))
                await n.quiet()
                assert [a for a in n.alerts(case_id) if a.kind == AlertKind.HL7_FAILING] == []
                assert n.sms_to(region.coordinator) == []

                # Past it: one banner naming the HL7 listener, one SMS each, on the timeline.
                await n.sleep_until(accepted_at + DELIVERY_ALERT_AFTER + timedelta(seconds=1))
                [alert] = await n.alerts_raised(case_id, AlertKind.HL7_FAILING)
                [sms] = await n.sms_seen(region.coordinator, "HL7")
                assert f"cas {case_id}" in sms.body and region.site_code in sms.body
                assert "un compte rendu ou un statut" in sms.body
                await n.event_seen(case_id, EventKind.COORDINATORS_ALERTED, AlertKind.HL7_FAILING)
                assert alert.resolved_at is None

                # Another half hour away: no second alert, no second SMS.
                await n.sleep(timedelta(minutes=30))
                await n.quiet()
                assert len(n.sms_to(region.coordinator)) == 1
                assert len(n.alerts(case_id)) == 1

                # The RIS listens again (at the address the site gives now): it takes the
                # status, the alert is resolved.
                _set_endpoint(n, region, listener.endpoint)
                await n.sleep(DELIVERIES.retry.maximum_interval or timedelta(0))
                [alert] = await n.eventually(
                    lambda: all(a.resolved_at for a in n.alerts(case_id)) and n.alerts(case_id),
                    "the alert resolved",
                )
                assert (alert.kind, alert.resolved_by) == (AlertKind.HL7_FAILING, "hl7 delivered")
                assert [m for m in listener.received if "ORM^O01" in m]
                assert _told(n, case_id)[-1] == "accepted: AA"
                assert len(n.sms_to(region.coordinator)) == 1
        finally:
            listener.stop()

    asyncio.run(scenario())
