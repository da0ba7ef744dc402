"""What a site still owes an acknowledgement for: the report versions of its cases that carry
a category 1 or 2 finding or a major discrepancy (`ReportDraft.acknowledgement`) and are not
acknowledged yet.

A version's acknowledgement workflow is started before the expert's filing returns, but
writes its row a moment later: a version without its row counts for `ROW_GRACE` after it
was signed, so that a site acting at once (its webhook just received the report) is not told
that nothing waits; the signal waits in the workflow for the row. After that, a version with
no row has no workflow (filed before acknowledgements had theirs) and waits for nothing.

The web, the SMS and voice webhooks and the reconciler find here which workflows to signal.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import timedelta

from sqlalchemy import Select, or_, select
from sqlalchemy.orm import Session

from garde.models import Case, Report, ReportAcknowledgement, utcnow

ROW_GRACE = timedelta(minutes=1)


def pending(s: Session, case_id: int) -> list[Report]:
    """The case's versions waiting for the site's acknowledgement, oldest first."""
    return list(s.scalars(_waiting().where(Report.case_id == case_id).order_by(Report.id)))


def pending_in(s: Session, case_ids: Collection[int]) -> list[Report]:
    """The versions of these cases waiting for the site's acknowledgement (a page of cases)."""
    return list(s.scalars(_waiting().where(Report.case_id.in_(case_ids)).order_by(Report.id)))


def cases_waiting(s: Session, callback_phone: str) -> list[int]:
    """The cases with this callback phone that wait for an acknowledgement, by number."""
    waiting = _waiting().join(Case, Case.id == Report.case_id)
    found = s.scalars(waiting.where(Case.callback_phone == callback_phone))
    return sorted({report.case_id for report in found})


def _waiting() -> Select[Report]:
    owed = or_(Report.critical_category.in_((1, 2)), Report.discrepancy == "major")
    asked = ReportAcknowledgement.id.is_not(None)
    return (
        select(Report)
        .outerjoin(ReportAcknowledgement, ReportAcknowledgement.report_id == Report.id)
        .where(
            owed,
            ReportAcknowledgement.acknowledged_at.is_(None),
            or_(asked, Report.created_at > utcnow() - ROW_GRACE),
        )
    )
