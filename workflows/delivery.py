"""One report version pushed to the site's endpoints (its webhook, its MLLP listener), each
on its own and each until it is delivered. Started by the case workflow for every version,
as its own workflow: an endpoint down for days holds up neither the case nor the other
endpoint, nor any other case's delivery.

    per endpoint: sent, and tried again until it takes the version -> still not taken after
    an hour: the coordinators alerted, once, while the tries go on (workflows/endpoint_alert.py)
    -> taken (or the endpoint removed by the site): their alert resolved.
"""

from __future__ import annotations

import asyncio

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.delivery import FAILING, ChannelDelivery, Deliveries
    from garde.messages import DeliveryStart
    from reports.endpoints import HL7, WEBHOOK
    from workflows.endpoint_alert import alert_until_done
    from workflows.policy import DELIVERIES


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

        async def resolve() -> None:
            await workflow.execute_activity_method(
                Deliveries.resolve_delivery_alert,
                part,
                start_to_close_timeout=DELIVERIES.timeout,
                retry_policy=DELIVERIES.retry,  # a banner left up would cry wolf
            )

        await alert_until_done(
            sending, part.alert_key, part.case_id, FAILING[part.channel], resolve
        )
