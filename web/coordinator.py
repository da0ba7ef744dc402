"""The coordinator's pages: the board of open cases and service levels, and recent billing."""

from __future__ import annotations

from flask import Blueprint, g, render_template
from sqlalchemy import select

from garde.domain import STAFF, CaseStatus
from garde.models import BillingLine, Case, Offer
from web import display
from web.access import case_for, current_user, roles
from web.case_views import deadlines

bp = Blueprint("coordinator", __name__, url_prefix="/coordinator")
display.install(bp)

CLOSED = [CaseStatus.FINAL.value, CaseStatus.CANCELLED.value]
BILLING_LINES_SHOWN = 50


@bp.get("/")
@roles(*STAFF)
def board() -> str:
    open_cases = g.db.scalars(
        select(Case).where(Case.status.not_in(CLOSED)).order_by(Case.requested_at)
    ).all()
    breached = sum(
        1
        for case in open_cases
        if any(display.sla_state(d) == "breached" for d in deadlines(case).values())
    )
    lines = g.db.scalars(
        select(BillingLine).order_by(BillingLine.read_at.desc()).limit(BILLING_LINES_SHOWN)
    ).all()
    return render_template(
        "coordinator/board.html",
        cases=open_cases,
        breached=breached,
        unassigned=sum(1 for c in open_cases if c.assigned_expert_id is None),
        lines=lines,
        lines_shown=BILLING_LINES_SHOWN,
    )


@bp.get("/cases/<int:case_id>")
@roles(*STAFF)
def case(case_id: int) -> str:
    found = case_for(g.db, current_user(), case_id)
    offers = g.db.scalars(
        select(Offer).where(Offer.case_id == found.id).order_by(Offer.sequence)
    ).all()
    return render_template(
        "coordinator/case.html", case=found, tz=found.site.timezone, offers=offers
    )
