"""Activities that write what a version's acknowledgement workflow decides: the request with
its deadline, each step of its ladder on the case's timeline, and the site's acknowledgement.

Each is one transaction and idempotent: the request is one row per report version, a step is
one timeline entry per key, and an acknowledgement already recorded is not recorded again.
The case's status is not theirs to write (the case workflow's alone).
"""

from __future__ import annotations

from sqlalchemy import select, update
from temporalio import activity

from activities.case_records import add_event_once
from activities.errors import rows_must_exist
from garde.critical import ack_within
from garde.db import SessionFactory
from garde.domain import AlertKind, EventKind
from garde.messages import (
    AcknowledgementAsked,
    AcknowledgementDue,
    AcknowledgementGiven,
    AcknowledgementStep,
)
from garde.models import Alert, Case, ReportAcknowledgement


def step_key(report_id: int, step: str) -> str:
    """A step's key on the case's timeline, and of what it sends: `ack-12-sms-1`."""
    return f"ack-{report_id}-{step}"


class Acknowledgements:
    def __init__(self, sessions: SessionFactory) -> None:
        self._sessions = sessions

    @activity.defn
    def record_request(self, asked: AcknowledgementAsked) -> AcknowledgementDue:
        """The version must be acknowledged within the site's deadline for its category."""
        start = asked.start
        with rows_must_exist(f"case {start.case_id}"), self._sessions.begin() as s:
            case = s.get_one(Case, start.case_id)
            row = s.scalar(
                select(ReportAcknowledgement).where(
                    ReportAcknowledgement.report_id == start.report_id
                )
            )
            if row is None:
                due = asked.at + ack_within(case.site.critical_ack_within_s, start.category)
                row = ReportAcknowledgement(
                    case_id=start.case_id,
                    report_id=start.report_id,
                    reason=start.reason,
                    category=start.category,
                    requested_at=asked.at,
                    due_at=due,
                )
                s.add(row)
                detail = f"{start.reason} category {start.category}, report {start.report_id}"
                add_event_once(
                    s,
                    start.case_id,
                    step_key(start.report_id, "requested"),
                    asked.at,
                    EventKind.ACK_REQUESTED,
                    detail,
                )
            return AcknowledgementDue(row.requested_at, row.due_at, case.site_id)

    @activity.defn
    def record_step(self, step: AcknowledgementStep) -> None:
        with rows_must_exist(f"case {step.case_id}"), self._sessions.begin() as s:
            s.get_one(Case, step.case_id)
            add_event_once(s, step.case_id, step.key, step.at, step.kind, step.detail)

    @activity.defn
    def record_acknowledgement(self, given: AcknowledgementGiven) -> None:
        """Who, when and how on the version's row and the timeline; the coordinators' alert
        about it resolved."""
        ack = given.acknowledgement
        with rows_must_exist(f"report {given.report_id}"), self._sessions.begin() as s:
            row = s.scalars(
                select(ReportAcknowledgement).where(
                    ReportAcknowledgement.report_id == given.report_id
                )
            ).one()
            if row.acknowledged_at is None:
                row.acknowledged_at = given.at
                row.acknowledged_by = ack.by[:200]
                row.acknowledged_via = ack.via
            add_event_once(
                s,
                given.case_id,
                step_key(given.report_id, "acknowledged"),
                given.at,
                EventKind.ACKNOWLEDGED,
                f"by {ack.by} via {ack.via}",
            )
            s.execute(
                update(Alert)
                .where(
                    Alert.key == overdue_alert_key(given.report_id),
                    Alert.kind == AlertKind.ACK_OVERDUE,
                    Alert.resolved_at.is_(None),
                )
                .values(resolved_at=given.at, resolved_by=f"acknowledged via {ack.via}")
                .execution_options(synchronize_session=False)
            )


def overdue_alert_key(report_id: int) -> str:
    """The coordinators' alert about a version not acknowledged in time."""
    return step_key(report_id, "overdue")
