"""The worker runs workflows outside Temporal's sandbox (garde/worker.py); the tests run them in
it, so that a workflow reaching for what it must not (here the machine's clock, where
`workflow.now()` is the replayable one) fails in the suite rather than in a replay at night."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

from temporalio import workflow
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker, WorkflowRunner

# The sandbox imports this module again for the workflow: these are only for the test.
with workflow.unsafe.imports_passed_through():
    from garde.temporal import venv_binary
    from garde.worker import WORKFLOW_RUNNER
    from tests.workflows.harness import SANDBOX

QUEUE = "sandbox-check"


@workflow.defn(name="ReadsTheMachinesClock")
class ReadsTheMachinesClock:
    @workflow.run
    async def run(self) -> str:
        return datetime.now(UTC).isoformat()


async def _outcome(client: Client, runner: WorkflowRunner) -> str:
    """The workflow's result, or the failure of its first workflow task."""
    async with Worker(
        client, task_queue=QUEUE, workflows=[ReadsTheMachinesClock], workflow_runner=runner
    ):
        handle = await client.start_workflow(
            ReadsTheMachinesClock.run,
            id=f"clock-{uuid.uuid4()}",
            task_queue=QUEUE,
            execution_timeout=timedelta(minutes=1),
        )
        for _ in range(200):
            async for event in handle.fetch_history_events():
                if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED:
                    return event.workflow_task_failed_event_attributes.failure.message
                if event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED:
                    return "completed"
            await asyncio.sleep(0.05)
        raise AssertionError("the workflow neither completed nor failed a task")


def test_the_tests_sandbox_refuses_what_the_worker_lets_through() -> None:
    async def scenario() -> None:
        async with await WorkflowEnvironment.start_time_skipping(
            test_server_existing_path=venv_binary("temporal-test-server")
        ) as env:
            assert await _outcome(env.client, WORKFLOW_RUNNER) == "completed"
            refused = await _outcome(env.client, SANDBOX)
            assert "datetime.datetime.now" in refused, refused

    asyncio.run(scenario())
