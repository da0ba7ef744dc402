"""One status of a case told to the RIS that ordered it over HL7 (accepted, validated,
refused, cancelled), started by the case workflow as a child it does not wait for: a RIS
down for days holds up neither the case nor its other statuses. Its id
(garde.temporal.order_status_workflow_id) makes each status told once.

    sent to the site's MLLP listener -> tried again until its ACK accepts it (or there is
    nothing to tell: no listener, not an HL7 order, the case closed since) -> not taken after
    an hour: the coordinators alerted, once, while the tries go on, and their alert resolved
    once it is done (workflows/endpoint_alert.py, as a report version's delivery).
"""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.order_status import OrderStatuses, alert_key
    from garde.domain import AlertKind
    from garde.messages import OrderStatusStart
    from workflows.endpoint_alert import alert_until_done
    from workflows.policy import DELIVERIES


@workflow.defn(name="OrderStatus")
class OrderStatusWorkflow:
    @workflow.run
    async def run(self, start: OrderStatusStart) -> None:
        """Ends when the RIS took the status, or when there is none to tell it."""
        sending = workflow.start_activity_method(
            OrderStatuses.send_order_status,
            start,
            start_to_close_timeout=DELIVERIES.timeout,
            retry_policy=DELIVERIES.retry,  # UNTIL_DONE: however long the RIS is away
        )

        async def resolve() -> None:
            await workflow.execute_activity_method(
                OrderStatuses.resolve_order_status_alert,
                start,
                start_to_close_timeout=DELIVERIES.timeout,
                retry_policy=DELIVERIES.retry,  # a banner left up would cry wolf
            )

        await alert_until_done(
            sending, alert_key(start), start.case_id, AlertKind.HL7_FAILING, resolve
        )
