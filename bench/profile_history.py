"""Temporal's own timing of each case, read from its workflow's history and its children's.

Every activity is scheduled, started by a worker polling the task queue, and closed: the
first interval is the wait in the queue (a round trip through the server), the second its run.
Workflow tasks the same. A local activity runs inside the worker during a workflow task and
leaves only a `core_local_activity` marker, whose data (JSON written by the SDK's core) holds
its completion time in the workflow's clock: the time the workflow had when it was scheduled
(its workflow task's start, moved forward by each local activity completed before it in the
task) plus its run. So its run is its completion less the previous one's, or the task's start.
"""

from __future__ import annotations

import json
import textwrap
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from temporalio.api.enums.v1 import EventType, TaskQueueKind
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import Client

from bench.results import percentile
from garde.temporal import case_workflow_id

LOCAL_ACTIVITY_MARKER = "core_local_activity"
FIRST_OFFER_ACTIVITY = "send_offer_sms"

ACTIVITY, LOCAL_ACTIVITY, WORKFLOW_TASK = "activity", "local activity", "workflow task"
ACTIVITY_CLOSED = (
    EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED,
    EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED,
    EventType.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT,
    EventType.EVENT_TYPE_ACTIVITY_TASK_CANCELED,
)
TASK_CLOSED = (
    EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED,
    EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED,
    EventType.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT,
)


@dataclass(frozen=True)
class Step:
    """One activity, local activity or workflow task of one workflow, times in ms."""

    workflow: str  # the workflow type
    kind: str
    name: str  # the activity type; for a workflow task, the queue it went through
    scheduled_at_ms: float  # since the epoch
    started_at_ms: float | None  # None for a local activity: never in a queue
    closed_at_ms: float

    @property
    def queued_ms(self) -> float | None:
        return None if self.started_at_ms is None else self.started_at_ms - self.scheduled_at_ms

    @property
    def ran_ms(self) -> float:
        start = self.scheduled_at_ms if self.started_at_ms is None else self.started_at_ms
        return self.closed_at_ms - start


@dataclass(frozen=True)
class CaseTiming:
    steps: list[Step]  # the case workflow's and its children's
    started_at_ms: float  # the case workflow's start
    first_offer: Step | None  # its first send_offer_sms

    def path(self) -> list[Step]:
        """The case workflow's steps up to scheduling its first offer's SMS, and that SMS.
        (The simulated expert accepts as soon as the offer is in the database, so the accept's
        steps may close while the SMS is still being sent: they are not on the path.)"""
        sms = self.first_offer
        if sms is None:
            return []
        before = [
            s for s in self.steps if s.workflow == "Case" and s.closed_at_ms <= sms.scheduled_at_ms
        ]
        return [*before, sms]


async def case_timings(client: Client, case_ids: Sequence[int]) -> list[CaseTiming]:
    """Each case's timing; its child workflows (delivery, acknowledgement, order statuses)
    are read too, from the ids the case's history started them under."""
    timings = []
    for case_id in case_ids:
        events = await _events(client, case_workflow_id(case_id))
        steps = steps_of("Case", events)
        for child_id, child_type in _children(events):
            steps += steps_of(child_type, await _events(client, child_id))
        sms = [s for s in steps if s.workflow == "Case" and s.name == FIRST_OFFER_ACTIVITY]
        first = min(sms, key=lambda s: s.closed_at_ms, default=None)
        timings.append(CaseTiming(steps, _ms(events[0]), first))
    return timings


async def _events(client: Client, workflow_id: str) -> list[HistoryEvent]:
    return list((await client.get_workflow_handle(workflow_id).fetch_history()).events)


def _children(events: list[HistoryEvent]) -> list[tuple[str, str]]:
    kind = EventType.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED
    return [
        (
            e.start_child_workflow_execution_initiated_event_attributes.workflow_id,
            e.start_child_workflow_execution_initiated_event_attributes.workflow_type.name,
        )
        for e in events
        if e.event_type == kind
    ]


def steps_of(workflow: str, events: list[HistoryEvent]) -> list[Step]:
    """The activities, local activities and workflow tasks of one history, as they closed."""
    by_id = {e.event_id: e for e in events}
    steps: list[Step] = []
    task_started_ms = 0.0  # the current workflow task's start, for local activities
    for e in events:
        if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED:
            task_started_ms = _ms(e)
        elif e.event_type in TASK_CLOSED:
            scheduled, started = _opened(e, by_id)
            queue = scheduled.workflow_task_scheduled_event_attributes.task_queue.kind
            name = "sticky queue" if queue == TaskQueueKind.TASK_QUEUE_KIND_STICKY else "task queue"
            steps.append(_step(workflow, WORKFLOW_TASK, name, scheduled, started, e))
        elif e.event_type in ACTIVITY_CLOSED:
            scheduled, started = _opened(e, by_id)
            name = scheduled.activity_task_scheduled_event_attributes.activity_type.name
            steps.append(_step(workflow, ACTIVITY, name, scheduled, started, e))
        elif e.event_type == EventType.EVENT_TYPE_MARKER_RECORDED:
            marker = _local_activity(e)
            if marker is not None:
                name, completed_ms = marker
                steps.append(
                    Step(workflow, LOCAL_ACTIVITY, name, task_started_ms, None, completed_ms)
                )
                task_started_ms = completed_ms  # the workflow's clock, moved forward
    return steps


def _opened(
    closed: HistoryEvent, by_id: dict[int, HistoryEvent]
) -> tuple[HistoryEvent, HistoryEvent]:
    """The scheduled and started events that a task's closing event names."""
    kind = closed.WhichOneof("attributes")
    assert kind is not None
    attributes = getattr(closed, kind)
    return by_id[attributes.scheduled_event_id], by_id[attributes.started_event_id]


def _step(
    workflow: str,
    kind: str,
    name: str,
    scheduled: HistoryEvent,
    started: HistoryEvent,
    closed: HistoryEvent,
) -> Step:
    return Step(workflow, kind, name, _ms(scheduled), _ms(started), _ms(closed))


def _local_activity(e: HistoryEvent) -> tuple[str, float] | None:
    """A local activity marker's activity type and completion time (ms since the epoch)."""
    a = e.marker_recorded_event_attributes
    if a.marker_name != LOCAL_ACTIVITY_MARKER or not a.details["data"].payloads:
        return None
    data = json.loads(a.details["data"].payloads[0].data)
    complete = data["complete_time"]
    if isinstance(complete, dict):  # {"seconds": ..., "nanos": ...}
        ms = int(complete.get("seconds", 0)) * 1000 + int(complete.get("nanos", 0)) / 1e6
    else:  # RFC 3339
        ms = datetime.fromisoformat(complete.replace("Z", "+00:00")).timestamp() * 1000
    return str(data["activity_type"]), ms


def _ms(e: HistoryEvent) -> float:
    return float(e.event_time.ToMicroseconds()) / 1000


# --- tables -----------------------------------------------------------------------------------


def steps_table(timings: list[CaseTiming]) -> str:
    """Per workflow type and step: how many per case, queue wait and run, p50 and p95."""
    groups: dict[tuple[str, str, str], list[Step]] = defaultdict(list)
    for t in timings:
        for s in t.steps:
            groups[(s.workflow, s.kind, s.name)].append(s)
    header = (
        f"{'workflow':<22}{'step':<34}{'/case':>6}"
        f"{'queue p50':>11}{'p95':>7}{'run p50':>9}{'p95':>7}"
    )
    lines = [f"Temporal's timing over {len(timings)} cases (ms)", header, "-" * len(header)]
    order = {WORKFLOW_TASK: 0, ACTIVITY: 1, LOCAL_ACTIVITY: 2}
    for (workflow, kind, name), steps in sorted(
        groups.items(), key=lambda g: (g[0][0] != "Case", g[0][0], order[g[0][1]], g[0][2])
    ):
        label = f"{name} (local)" if kind == LOCAL_ACTIVITY else name
        if kind == WORKFLOW_TASK:
            label = f"workflow task ({name})"
        queued = [s.queued_ms for s in steps if s.queued_ms is not None]
        ran = [s.ran_ms for s in steps]
        queue = (
            f"{percentile(queued, 50):>11.1f}{percentile(queued, 95):>7.1f}"
            if queued
            else f"{'-':>11}{'-':>7}"
        )
        lines.append(
            f"{workflow[:21]:<22}{label[:33]:<34}{len(steps) / len(timings):>6.1f}"
            f"{queue}{percentile(ran, 50):>9.1f}{percentile(ran, 95):>7.1f}"
        )
    return "\n".join(lines)


def path_table(
    timings: list[CaseTiming], recorded_at_ms: dict[int, float], case_ids: Sequence[int]
) -> str:
    """Submission to the first offer's SMS: the web's part (the case recorded, to its
    workflow started), then the workflow's, split by where the time went. Local activities
    run inside a workflow task: their time is part of the task's."""
    ms: dict[str, list[float]] = defaultdict(list)
    counts: dict[str, list[float]] = defaultdict(list)
    for case_id, t in zip(case_ids, timings, strict=True):
        if t.first_offer is None:
            continue
        path = t.path()
        total = t.first_offer.closed_at_ms - t.started_at_ms
        ms["case recorded by the web -> workflow started"].append(
            t.started_at_ms - recorded_at_ms[case_id]
        )
        ms["workflow started -> first offer SMS sent"].append(total)
        tasks = [s for s in path if s.kind == WORKFLOW_TASK]
        activities = [s for s in path if s.kind == ACTIVITY]
        parts = {
            "  workflow tasks waiting in the queue": sum(s.queued_ms or 0 for s in tasks),
            "  workflow tasks running": sum(s.ran_ms for s in tasks),
            "  activities waiting in the queue": sum(s.queued_ms or 0 for s in activities),
            "  activities running": sum(s.ran_ms for s in activities),
        }
        for label, value in parts.items():
            ms[label].append(value)
        ms["  the rest (the server between steps)"].append(total - sum(parts.values()))
        ms["  (local activities, within the tasks' running)"].append(
            sum(s.ran_ms for s in path if s.kind == LOCAL_ACTIVITY)
        )
        counts["workflow tasks on the path"].append(len(tasks))
        counts["activities on the path"].append(len(activities))
        counts["local activities on the path"].append(len(path) - len(tasks) - len(activities))
    header = f"{'submission -> first offer SMS, per case':<50}{'p50':>9}{'p95':>9}"
    lines = [header, "-" * len(header)]
    for label, values in ms.items():
        lines.append(f"{label:<50}{percentile(values, 50):>9.1f}{percentile(values, 95):>9.1f} ms")
    for label, values in counts.items():
        lines.append(f"{label:<50}{percentile(values, 50):>9.0f}{percentile(values, 95):>9.0f}")
    offered = sorted(
        (t for t in timings if t.first_offer is not None),
        key=lambda t: (t.first_offer.closed_at_ms if t.first_offer else 0) - t.started_at_ms,
    )
    if offered:
        median = offered[len(offered) // 2]
        steps = ", ".join(_on_path(s) for s in sorted(median.path(), key=lambda s: s.closed_at_ms))
        lines.append(
            "the median case's path as its steps closed (ms waiting in the queue + running):"
        )
        lines.append(textwrap.fill(steps, 100, initial_indent="  ", subsequent_indent="  "))
    return "\n".join(lines)


def _on_path(step: Step) -> str:
    if step.kind == LOCAL_ACTIVITY:
        return f"{step.name} (local) {step.ran_ms:.0f}"
    name = f"workflow task ({step.name})" if step.kind == WORKFLOW_TASK else step.name
    return f"{name} {step.queued_ms or 0:.0f}+{step.ran_ms:.0f}"
