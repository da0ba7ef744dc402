"""The simulator's own Temporal workflows: the night's arrivals and the experts' behaviour.

They run on the same time-skipping server as the case workflows, so every wait of the
simulation (the next arrival, an expert's answer delay, the time to read a study) is a
durable timer there, and the server skips the idle time between events:

- `SimulatedNight` sleeps until each study's arrival and admits it (the activity records the
  case through intake and starts its case workflow); after the last one it waits until every
  case is closed and billed, or gives up at a set instant.
- `SimulatedExpert`, one per expert, told by the expert's phone (bench/night_world.py):
  an offer SMS they will answer is answered after its delay, by signalling `sms_answer` to
  the case as the SMS webhook does; a "case N is yours" SMS puts the case on their desk,
  where they read the cases they hold one at a time, earliest report deadline first, and
  file each final report through the case's `file_report` update.

They are plain simulation code, so their worker runs them outside the workflow sandbox.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

from bench.night_messages import Admission, FinalReport, NightEnd, NightPlan, PlannedAnswer, Reading
from garde.messages import SmsAnswer
from garde.temporal import case_workflow_id

SIM_QUEUE = "night-simulator"
POLL = timedelta(minutes=5)  # after the last arrival: how often the night looks for open cases
CALL_TIMEOUT = timedelta(seconds=60)
CALL_RETRY = RetryPolicy(maximum_attempts=3)


def expert_workflow_id(expert_id: int) -> str:
    return f"expert-{expert_id}"


@workflow.defn(name="SimulatedNight")
class SimulatedNight:
    @workflow.run
    async def run(self, plan: NightPlan) -> NightEnd:
        admitted = 0
        for arrival in plan.arrivals:
            if (wait := arrival.at - workflow.now()) > timedelta(0):
                await workflow.sleep(wait)
            await self._admit(arrival)
            admitted += 1
        while True:
            still_open: int = await workflow.execute_activity(
                "open_cases",
                start_to_close_timeout=CALL_TIMEOUT,
                retry_policy=CALL_RETRY,
                result_type=int,
            )
            if still_open == 0 or workflow.now() >= plan.give_up_at:
                return NightEnd(admitted, still_open, workflow.now())
            await workflow.sleep(POLL)

    async def _admit(self, arrival: Admission) -> None:
        await workflow.execute_activity(
            "admit_study", arrival, start_to_close_timeout=CALL_TIMEOUT, retry_policy=CALL_RETRY
        )


@workflow.defn(name="SimulatedExpert")
class SimulatedExpert:
    def __init__(self) -> None:
        self._desk: list[Reading] = []
        self._held: set[int] = set()

    @workflow.signal
    async def offered(self, planned: PlannedAnswer) -> None:
        """An offer SMS this expert will answer: after the delay, YES or NO by SMS."""
        await workflow.sleep(timedelta(seconds=planned.delay_s))
        case = workflow.get_external_workflow_handle(case_workflow_id(planned.case_id))
        await case.signal(
            "sms_answer", SmsAnswer(planned.offer_id, planned.expert_id, planned.accept)
        )

    @workflow.signal
    def assign(self, reading: Reading) -> None:
        """The case is theirs: on the desk, once (the same SMS may come twice)."""
        if reading.case_id not in self._held:
            self._held.add(reading.case_id)
            self._desk.append(reading)

    @workflow.run
    async def run(self, expert_id: int) -> None:
        while True:
            await workflow.wait_condition(lambda: bool(self._desk))
            self._desk.sort(key=lambda r: (r.due, r.case_id))
            reading = self._desk.pop(0)
            await workflow.sleep(timedelta(seconds=reading.read_s))
            await workflow.execute_activity(
                "file_final_report",
                FinalReport(reading.case_id, expert_id),
                start_to_close_timeout=CALL_TIMEOUT,
                retry_policy=CALL_RETRY,
            )
