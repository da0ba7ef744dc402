"""Texting people outside a case's ladder: a test message an expert asked for, coordinators
told that an expert's phone sent STOP. The web starts it (outbound SMS stay in activities);
its id is the texts' key, so a click repeated or a webhook retried texts nobody twice."""

from __future__ import annotations

import asyncio

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from activities.notifications import Notifications
    from garde.messages import PersonText
    from workflows.policy import MESSAGES


@workflow.defn(name="Texting")
class TextingWorkflow:
    @workflow.run
    async def run(self, texts: list[PersonText]) -> list[str]:
        """The keys of the texts that could not be sent (refused by the provider, or given up
        after MESSAGES' retries); each is tried on its own."""
        sent = await asyncio.gather(*(self._send(t) for t in texts))
        return [t.key for t, ok in zip(texts, sent, strict=True) if not ok]

    async def _send(self, text: PersonText) -> bool:
        try:
            await workflow.execute_activity_method(
                Notifications.text_person,
                text,
                start_to_close_timeout=MESSAGES.timeout,
                retry_policy=MESSAGES.retry,
            )
        except ActivityError:
            workflow.logger.warning("text %s could not be sent", text.key)
            return False
        return True
