"""The activity that raises an alert for the coordinators: the banner on their board.

It answers whom to text; the texts themselves are one activity each (notifications).
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session
from temporalio import activity

from garde.db import SessionFactory
from garde.messages import AlertRequest
from garde.models import Alert, Coordinator


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
