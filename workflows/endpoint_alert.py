"""A site's endpoint that has not taken something in time (a report version, a status for its
RIS) is somebody's problem: shared by the workflows that send to it (delivery, order status).

    sending, tried again until the endpoint takes it -> not taken after DELIVERY_ALERT_AFTER:
    the coordinators alerted, once (a banner naming the endpoint, an SMS to each, an entry on
    the case's timeline), while the tries go on -> done: their alert resolved.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from activities.alerts import Alerts
    from activities.notifications import Notifications
    from garde.domain import AlertKind
    from garde.messages import AlertRequest, CoordinatorNotice
    from workflows.policy import DELIVERIES, DELIVERY_ALERT_AFTER, MESSAGES


async def alert_until_done(
    sending: workflow.ActivityHandle[Any],
    key: str,
    case_id: int,
    kind: AlertKind,
    resolve: Callable[[], Awaitable[None]],
) -> None:
    """Wait for `sending`; past the bound, alert the coordinators under `key` and, once it is
    done, `resolve` their alert."""
    try:
        await workflow.wait_condition(sending.done, timeout=DELIVERY_ALERT_AFTER)
    except TimeoutError:  # not taken yet: the coordinators are told, until it is
        await _alert_coordinators(AlertRequest(key, case_id, kind, workflow.now()))
        await sending
        await resolve()
    else:
        await sending


async def _alert_coordinators(request: AlertRequest) -> None:
    """A banner on the board naming the endpoint, raised however long the database is away;
    an SMS to each coordinator, best effort; the case's timeline says so."""
    coordinators: list[int] = await workflow.execute_activity_method(
        Alerts.raise_alert,
        request,
        start_to_close_timeout=DELIVERIES.timeout,
        retry_policy=DELIVERIES.retry,
    )
    await asyncio.gather(
        *(
            _text(CoordinatorNotice(c, request.key, request.case_id, request.kind))
            for c in coordinators
        )
    )
    await workflow.execute_activity_method(
        Alerts.record_alert,
        request,
        start_to_close_timeout=DELIVERIES.timeout,
        retry_policy=DELIVERIES.retry,
    )


async def _text(notice: CoordinatorNotice) -> None:
    try:
        await workflow.execute_activity_method(
            Notifications.notify_coordinator,
            notice,
            start_to_close_timeout=MESSAGES.timeout,
            retry_policy=MESSAGES.retry,
        )
    except ActivityError:
        workflow.logger.warning("case %s: a coordinator was not texted", notice.case_id)
