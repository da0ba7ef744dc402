"""An endpoint that does not take a report version within the bound is somebody's problem, on
the time-skipping server: the coordinators are alerted once for that version and endpoint (a
banner naming it, an SMS each, an entry on the case's timeline), the alert is resolved when
the endpoint takes the version; an endpoint back before the bound raises nothing. A site with
no endpoint gets no delivery workflow at all.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import select
from temporalio.service import RPCError, RPCStatusCode

from garde.domain import AlertKind, EventKind, Priority
from garde.models import ReportDelivery, Site
from garde.temporal import delivery_workflow_id
from reports.endpoints import HL7, WEBHOOK
from tests.conftest import on_sqlite_only
from tests.reports.site_endpoints import MllpListener, Webhook
from tests.workflows.harness import Night, night, seed_region
from workflows.policy import DELIVERIES, DELIVERY_ALERT_AFTER

SECRET = "site-secret-" + "0123456789"
DOWN = 1000  # more failed answers than the attempts of the test's hours


def _outcomes(n: Night, report_id: int, channel: str) -> list[str]:
    with n.sessions() as s:
        return list(
            s.scalars(
                select(ReportDelivery.outcome)
                .where(ReportDelivery.report_id == report_id, ReportDelivery.channel == channel)
                .order_by(ReportDelivery.attempt)
            )
        )


def test_an_endpoint_down_past_the_bound_alerts_the_coordinators_once_until_it_takes_it(
    database_url: str,
) -> None:
    async def scenario() -> None:
        webhook, listener = Webhook(SECRET).start(), MllpListener().start()
        webhook.answers.extend([503] * DOWN)
        listener.answers.extend([("AE", "Down for maintenance")] * DOWN)
        try:
            async with night(database_url) as n:
                region = seed_region(n.sessions)
                alice = region.experts["alice"]
                with n.sessions.begin() as s:
                    site = s.get_one(Site, region.site_id)
                    site.report_webhook_url = webhook.url
                    site.report_webhook_secret = SECRET
                    site.hl7_endpoint = listener.endpoint
                case_id = await n.request(region, Priority.URGENT)
                await n.offers_made(case_id, 1)
                await n.accept(case_id, alice)
                filed = await n.report(case_id, alice)
                report_id = filed.report_id
                filed_at = await n.now()
                await n.eventually(
                    lambda: _outcomes(n, report_id, HL7), "the first attempt by MLLP"
                )

                # The MLLP listener is back after 5 minutes: its next attempt delivers.
                await n.sleep(timedelta(minutes=5))
                listener.answers.clear()
                await n.sleep_until(filed_at + DELIVERY_ALERT_AFTER - timedelta(minutes=1))
                await n.eventually(
                    lambda: _outcomes(n, report_id, HL7)[-1] == "delivered", "HL7 delivered"
                )
                assert n.alerts(case_id) == []
                assert n.sms_to(region.coordinator) == []

                # The webhook still refuses at the bound: one banner naming it, one SMS each.
                await n.sleep_until(filed_at + DELIVERY_ALERT_AFTER + timedelta(seconds=1))
                [alert] = await n.alerts_raised(case_id, AlertKind.WEBHOOK_FAILING)
                [sms] = await n.sms_seen(region.coordinator, "webhook")
                assert f"cas {case_id}" in sms.body and region.site_code in sms.body
                assert "Findings" not in sms.body
                await n.event_seen(
                    case_id, EventKind.COORDINATORS_ALERTED, AlertKind.WEBHOOK_FAILING
                )
                # Final: the case's end does not settle it.
                assert n.case(case_id).status == "final" and alert.resolved_at is None

                # The webhook comes back: the version goes, the alert is resolved.
                await n.sleep(timedelta(minutes=30))
                await n.quiet()
                assert len(n.sms_to(region.coordinator)) == 1
                webhook.answers.clear()
                await n.sleep(DELIVERIES.retry.maximum_interval or timedelta(0))
                [alert] = await n.eventually(
                    lambda: all(a.resolved_at for a in n.alerts(case_id)) and n.alerts(case_id),
                    "the alert resolved",
                )
                assert _outcomes(n, report_id, WEBHOOK)[-1] == "delivered"
                assert (alert.kind, alert.resolved_by) == (
                    AlertKind.WEBHOOK_FAILING,
                    "webhook delivered",
                )
                assert alert.resolved_at is not None
                assert len(n.sms_to(region.coordinator)) == 1
        finally:
            webhook.stop()
            listener.stop()

    asyncio.run(scenario())


def test_a_site_without_endpoints_gets_no_delivery_workflow(database_url: str) -> None:
    on_sqlite_only(database_url, "which workflows start is Temporal's; the reads are any case's")

    async def scenario() -> None:
        async with night(database_url) as n:
            region = seed_region(n.sessions)  # no webhook, no MLLP listener
            alice = region.experts["alice"]
            case_id = await n.request(region, Priority.URGENT)
            await n.offers_made(case_id, 1)
            await n.accept(case_id, alice)
            filed = await n.report(case_id, alice)
            await n.agrees(case_id)
            delivery = n.client.get_workflow_handle(delivery_workflow_id(case_id, filed.report_id))
            with pytest.raises(RPCError) as raised:
                await delivery.describe()
            assert raised.value.status is RPCStatusCode.NOT_FOUND

    asyncio.run(scenario())
