"""One report version pushed to the site's endpoints (its webhook, its MLLP listener), each
on its own and each until it is delivered. Started by the case workflow for every version,
as its own workflow: an endpoint down for days holds up neither the case nor the other
endpoint, nor any other case's delivery.

    per endpoint: sent, and tried again until it takes the version -> still not taken after
    an hour (DELIVERY_ALERT_AFTER): the coordinators alerted, once (a banner naming the
    endpoint, an SMS to each, an entry on the case's timeline), while the tries go on ->
    taken (or the endpoint removed by the site): their alert resolved.
"""

from __future__ import annotations

import asyncio

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from activities.alerts import Alerts
    from activities.delivery import (
        FAILING,
        HL7,
        WEBHOOK,
        ChannelAlerted,
        ChannelDelivery,
        Deliveries,
    )
    from activities.notifications import Notifications
    from garde.messages import AlertRequest, CoordinatorNotice, DeliveryStart
    from workflows.policy import DELIVERIES, DELIVERY_ALERT_AFTER, MESSAGES


@workflow.defn(name="ReportDelivery")
class DeliveryWorkflow:
    @workflow.run
    async def run(self, start: DeliveryStart) -> None:
        """Ends when every endpoint of the site took the version (or was removed from it)."""
        channels = await workflow.execute_activity_method(
            Deliveries.delivery_channels,
            start,
            start_to_close_timeout=DELIVERIES.timeout,
            retry_policy=DELIVERIES.retry,  # a database away for a while loses no version
        )
        await asyncio.gather(
            *(self._deliver(ChannelDelivery(start.case_id, start.report_id, c)) for c in channels)
        )

    async def _deliver(self, part: ChannelDelivery) -> None:
        send = {WEBHOOK: Deliveries.post_to_webhook, HL7: Deliveries.send_to_hl7_listener}
        sending = workflow.start_activity_method(
            send[part.channel],
            DeliveryStart(part.case_id, part.report_id),
            start_to_close_timeout=DELIVERIES.timeout,
            retry_policy=DELIVERIES.retry,
        )
        try:
            await workflow.wait_condition(sending.done, timeout=DELIVERY_ALERT_AFTER)
        except TimeoutError:  # not taken yet: the coordinators are told, until it is
            await self._alert_coordinators(part)
            await sending
            await workflow.execute_activity_method(
                Deliveries.resolve_delivery_alert,
                part,
                start_to_close_timeout=DELIVERIES.timeout,
                retry_policy=DELIVERIES.retry,  # a banner left up would cry wolf
            )
        else:
            await sending

    async def _alert_coordinators(self, part: ChannelDelivery) -> None:
        """A banner on the board naming the endpoint, raised however long the database is
        away; an SMS to each coordinator, best effort; the case's timeline says so."""
        kind, now = FAILING[part.channel], workflow.now()
        coordinators: list[int] = await workflow.execute_activity_method(
            Alerts.raise_alert,
            AlertRequest(part.alert_key, part.case_id, kind, now),
            start_to_close_timeout=DELIVERIES.timeout,
            retry_policy=DELIVERIES.retry,
        )
        await asyncio.gather(
            *(
                self._text(CoordinatorNotice(c, part.alert_key, part.case_id, kind))
                for c in coordinators
            )
        )
        await workflow.execute_activity_method(
            Deliveries.record_delivery_alert,
            ChannelAlerted(part, now),
            start_to_close_timeout=DELIVERIES.timeout,
            retry_policy=DELIVERIES.retry,
        )

    async def _text(self, notice: CoordinatorNotice) -> None:
        try:
            await workflow.execute_activity_method(
                Notifications.notify_coordinator,
                notice,
                start_to_close_timeout=MESSAGES.timeout,
                retry_policy=MESSAGES.retry,
            )
        except ActivityError:
            workflow.logger.warning("case %s: a coordinator was not texted", notice.case_id)
