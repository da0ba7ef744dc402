"""The coordinator's pages: the board (alerts, open cases, service levels) and a
case with its offers and their reasons and its message log, where a coordinator reassigns,
reprioritises or cancels."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import select
from werkzeug.wrappers.response import Response

from garde.domain import STAFF, CaseStatus
from garde.errors import Conflict, Forbidden, InvalidInput, NotFound, Unavailable
from garde.models import Alert, Case, Expert, utcnow
from garde.service_levels import deadlines
from rosters.eligibility import on_duty_experts
from web import display, services
from web.access import case_for, current_user, roles
from web.audit import audit
from web.case_views import deliveries
from web.inputs import parse_priority_change, parse_reassignment
from web.live_events import live_page
from web.message_log import case_calls, case_messages
from web.reasons import translated

bp = Blueprint("coordinator", __name__, url_prefix="/coordinator")
display.install(bp)

CLOSED = [s.value for s in CaseStatus if not s.is_open]
OPEN = [s.value for s in CaseStatus if s.is_open]
ALERTS_SHOWN = 50


@bp.get("/")
@roles(*STAFF)
@live_page
def board() -> str:
    """Every open case, or those of one status (`?status=to_validate`)."""
    query = select(Case).where(Case.status.not_in(CLOSED)).order_by(Case.requested_at)
    shown = request.args.get("status")
    if shown in OPEN:
        query = query.where(Case.status == shown)
    open_cases = g.db.scalars(query).all()
    breached = sum(
        1
        for case in open_cases
        if any(display.sla_state(d) == "breached" for d in deadlines(case).values())
    )
    return render_template(
        "coordinator/board.html",
        alerts=_open_alerts(),
        cases=open_cases,
        breached=breached,
        unassigned=sum(1 for c in open_cases if c.assigned_expert_id is None),
        statuses=OPEN,
        shown=shown if shown in OPEN else None,
    )


@bp.post("/alerts/<int:alert_id>/dismiss")
@roles(*STAFF)
def dismiss(alert_id: int) -> Response:
    """The coordinator has seen it and acts outside Garde: the banner goes."""
    alert = g.db.get(Alert, alert_id)
    if alert is None:
        raise NotFound(f"no alert {alert_id}")
    if alert.resolved_at is None:
        alert.resolved_at = utcnow()
        alert.resolved_by = current_user().username
        audit("alert.dismiss", f"alert:{alert.id}", alert.kind)
        g.db.commit()
    return redirect(url_for("coordinator.board"))


@bp.get("/cases/<int:case_id>")
@roles(*STAFF)
@live_page
def case(case_id: int) -> str:
    return _case_page(case_for(g.db, current_user(), case_id))


@bp.post("/cases/<int:case_id>/reassign")
@roles(*STAFF)
def reassign(case_id: int) -> Response | tuple[str, int]:
    user = current_user()
    found = case_for(g.db, user, case_id)
    values = request.form.to_dict()
    try:
        change = parse_reassignment(g.db, values, user.username)
        services().cases.reassign(found.id, change)
    except InvalidInput as e:
        return _case_page(found, values, e.fields), 400
    except (Conflict, Forbidden, Unavailable) as e:
        flash(_("Not reassigned: %(reason)s.", reason=translated(e.message)), "error")
        return _case_page(found, values), e.status
    detail = f"to {values['expert']}" + (f", forced: {change.reason}" if change.force else "")
    audit("case.reassign", f"case:{found.id}", detail)
    g.db.commit()
    if found.assigned_expert_id:
        told = _(
            "Case #%(id)s is now with %(expert)s; both experts are told.",
            id=found.id,
            expert=values["expert"],
        )
    else:
        told = _(
            "Case #%(id)s is now with %(expert)s; the expert is told.",
            id=found.id,
            expert=values["expert"],
        )
    flash(told, "info")
    return redirect(url_for("coordinator.case", case_id=found.id))


@bp.post("/cases/<int:case_id>/priority")
@roles(*STAFF)
def change_priority(case_id: int) -> Response:
    user = current_user()
    found = case_for(g.db, user, case_id)
    try:
        change = parse_priority_change(found, request.form, user.username)
        services().cases.change_priority(found.id, change)
    except (InvalidInput, Conflict, Unavailable) as e:
        flash(_("Priority not changed: %(reason)s.", reason=translated(e.message)), "error")
    else:
        audit("case.priority", f"case:{found.id}", f"{found.priority} to {change.priority}")
        g.db.commit()
        flash(
            _(
                "Case #%(id)s is now %(priority)s; its deadlines follow.",
                id=found.id,
                priority=display.word(change.priority, "priority"),
            ),
            "info",
        )
    return redirect(url_for("coordinator.case", case_id=found.id))


@bp.post("/cases/<int:case_id>/cancel")
@roles(*STAFF)
def cancel(case_id: int) -> Response:
    user = current_user()
    found = case_for(g.db, user, case_id)
    try:
        services().cases.cancel(found, user.username)
    except (Conflict, Unavailable) as e:
        flash(_("Not cancelled: %(reason)s.", reason=translated(e.message)), "error")
    else:
        audit("case.cancel", f"case:{found.id}")
        g.db.commit()
        flash(_("Cancellation sent. Every offered expert and the holder are told."), "info")
    return redirect(url_for("coordinator.case", case_id=found.id))


def _case_page(
    case: Case, values: dict[str, Any] | None = None, errors: dict[str, str] | None = None
) -> str:
    eligible = on_duty_experts(
        g.db,
        site_id=case.site_id,
        modality=case.modality,
        at=utcnow(),
        subspecialty=case.subspecialty,
    )
    shown = {c.expert_id for c in eligible} | {case.assigned_expert_id}
    others = [
        e
        for e in g.db.scalars(select(Expert).where(Expert.active.is_(True)).order_by(Expert.name))
        if e.id not in shown
    ]
    return render_template(
        "coordinator/case.html",
        case=case,
        tz=case.site.timezone,
        offers=sorted(case.offers, key=lambda o: o.sequence),
        alerts=_open_alerts(case.id),
        messages=case_messages(g.db, case),
        calls=case_calls(g.db, case),
        deliveries=deliveries(case),
        is_open=CaseStatus(case.status).is_open,
        eligible=[c for c in eligible if c.expert_id != case.assigned_expert_id],
        others=others,
        values=values or {},
        errors=errors or {},
    )


def _open_alerts(case_id: int | None = None) -> list[Alert]:
    query = select(Alert).where(Alert.resolved_at.is_(None))
    if case_id is not None:
        query = query.where(Alert.case_id == case_id)
    # Alerts about a case first: a long list of coverage gaps must not push them off the board.
    order = (Alert.case_id.is_(None), Alert.raised_at.desc())
    return list(g.db.scalars(query.order_by(*order).limit(ALERTS_SHOWN)))


# The protocol library registers its routes on `bp` when imported.
from web import protocol_library  # noqa: E402, F401
