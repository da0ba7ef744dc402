"""The activity that raises an alert for the coordinators: the banner on their board.

It answers whom to text; the texts themselves are one activity each (notifications). An
alert about a site's endpoint that has not taken something in time (a report version, an
order status) also goes on the case's timeline, and is resolved once the endpoint is done.
"""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.orm import Session
from temporalio import activity

from activities.case_records import add_event_once
from activities.errors import rows_must_exist
from garde.db import SessionFactory
from garde.domain import AlertKind, EventKind
from garde.messages import AlertRequest
from garde.models import Alert, Case, Coordinator, utcnow


class Alerts:
    def __init__(self, sessions: SessionFactory) -> None:
        self._sessions = sessions

    @activity.defn
    def raise_alert(self, request: AlertRequest) -> list[int]:
        """Show the alert on the board (once per key); the coordinators to text about it."""
        with self._sessions.begin() as s:
            if s.scalar(select(Alert.id).where(Alert.key == request.key)) is None:
                s.add(
                    Alert(
                        key=request.key,
                        case_id=request.case_id,
                        kind=request.kind,
                        expert_id=request.expert_id,
                        raised_at=request.at,
                    )
                )
            return coordinators_to_text(s)

    # Its type keeps the name it had when only report deliveries recorded their alert: a
    # delivery alerted before, still trying, replays its scheduled activity under that name.
    @activity.defn(name="record_delivery_alert")
    def record_alert(self, request: AlertRequest) -> None:
        """On the case's timeline: the coordinators were alerted (once: the alert's key is the
        entry's)."""
        with rows_must_exist(f"case {request.case_id}"), self._sessions.begin() as s:
            s.get_one(Case, request.case_id)
            add_event_once(
                s,
                request.case_id,
                request.key,
                request.at,
                EventKind.COORDINATORS_ALERTED,
                request.kind,
            )


def resolve_alert(s: Session, key: str, kind: AlertKind, resolved_by: str) -> None:
    """The alert is over (if it was raised and still stands), saying how."""
    s.execute(
        update(Alert)
        .where(Alert.key == key, Alert.kind == kind, Alert.resolved_at.is_(None))
        .values(resolved_at=utcnow(), resolved_by=resolved_by)
        .execution_options(synchronize_session=False)
    )


def coordinators_to_text(s: Session) -> list[int]:
    """The coordinators an alert is texted to: the active ones with a phone SMS reach (one
    Twilio refused sees the alert on the board only)."""
    return list(
        s.scalars(
            select(Coordinator.id)
            .where(
                Coordinator.active.is_(True),
                Coordinator.phone != "",
                Coordinator.sms_unreachable_since.is_(None),
            )
            .order_by(Coordinator.id)
        )
    )
