"""One status of a case told to the RIS that ordered it over HL7 (accepted, validated,
refused, cancelled), started by the case workflow as a child it does not wait for: a RIS
down for days holds up neither the case nor its other statuses. Its id
(garde.temporal.order_status_workflow_id) makes each status told once.

    sent to the site's MLLP listener -> tried again until its ACK accepts it (or there is
    nothing to tell: no listener, not an HL7 order, the case closed since).
"""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.order_status import OrderStatuses
    from garde.messages import OrderStatusStart
    from workflows.policy import DELIVERIES


@workflow.defn(name="OrderStatus")
class OrderStatusWorkflow:
    @workflow.run
    async def run(self, start: OrderStatusStart) -> None:
        """Ends when the RIS took the status, or when there is none to tell it."""
        await workflow.execute_activity_method(
            OrderStatuses.send_order_status,
            start,
            start_to_close_timeout=DELIVERIES.timeout,
            retry_policy=DELIVERIES.retry,  # UNTIL_DONE: however long the RIS is away
        )
