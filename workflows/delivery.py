"""One report version pushed to the site's endpoints (its webhook, its MLLP listener), each
on its own and each until it is delivered. Started by the case workflow for every version,
as its own workflow: an endpoint down for days holds up neither the case nor the other
endpoint, nor any other case's delivery."""

from __future__ import annotations

import asyncio

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.delivery import HL7, WEBHOOK, Deliveries
    from garde.messages import DeliveryStart
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
        await asyncio.gather(*(self._deliver(start, channel) for channel in channels))

    async def _deliver(self, start: DeliveryStart, channel: str) -> None:
        send = {WEBHOOK: Deliveries.post_to_webhook, HL7: Deliveries.send_to_hl7_listener}
        await workflow.execute_activity_method(
            send[channel],
            start,
            start_to_close_timeout=DELIVERIES.timeout,
            retry_policy=DELIVERIES.retry,
        )
