"""What a site still owes an acknowledgement for: the report versions of its cases whose
acknowledgement workflow waits (rows written by that workflow, not yet acknowledged).

The web, the SMS and voice webhooks and the reconciler find here which workflows to signal.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from garde.models import Case, ReportAcknowledgement


def pending(s: Session, case_id: int) -> list[ReportAcknowledgement]:
    """The case's versions waiting for the site's acknowledgement, oldest first."""
    return list(
        s.scalars(
            select(ReportAcknowledgement)
            .where(
                ReportAcknowledgement.case_id == case_id,
                ReportAcknowledgement.acknowledged_at.is_(None),
            )
            .order_by(ReportAcknowledgement.id)
        )
    )


def cases_waiting(s: Session, callback_phone: str) -> list[int]:
    """The cases with this callback phone that wait for an acknowledgement, by number."""
    return list(
        s.scalars(
            select(Case.id)
            .join(ReportAcknowledgement, ReportAcknowledgement.case_id == Case.id)
            .where(
                Case.callback_phone == callback_phone,
                ReportAcknowledgement.acknowledged_at.is_(None),
            )
            .distinct()
            .order_by(Case.id)
        )
    )
