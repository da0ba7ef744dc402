"""An expert's own roster: upcoming shifts in their zone, swap requests (asking, answering)
and their calendar feed's secret URL (made, renewed, revoked). Their zone is set with their
other settings (web/expert_settings.py)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import or_, select
from sqlalchemy.orm import Session
from werkzeug.wrappers.response import Response

from garde.domain import Role, SwapStatus
from garde.errors import Conflict, Forbidden, InvalidInput, NotFound
from garde.models import Expert, Shift, SwapRequest, User, utcnow
from rosters.ical import expert_feed_url, new_feed, revoke_feed
from rosters.swaps import accept_swap, cancel_swap, refuse_swap, request_swap
from web import display, services
from web.access import current_user, roles
from web.audit import audit
from web.reasons import translated
from web.roster_changes import roster_changed

bp = Blueprint("my_roster", __name__, url_prefix="/expert")
display.install(bp)

AHEAD = timedelta(days=62)
OPEN_SWAPS = (SwapStatus.PENDING.value, SwapStatus.ACCEPTED.value)


@bp.get("/roster")
@roles(Role.EXPERT)
def roster() -> str:
    return _roster_page({})


@bp.post("/swaps")
@roles(Role.EXPERT)
def ask_swap() -> Response | tuple[str, int]:
    values = request.form.to_dict()
    try:
        swap = request_swap(g.db, values, current_user(), utcnow())
    except InvalidInput as e:
        g.db.rollback()
        return _roster_page(values, e.fields), 400
    audit("swap.request", f"swap:{swap.id}", f"to {swap.other.code}")
    g.db.commit()
    flash(_("Swap asked: %(name)s is told and may accept.", name=swap.other.name), "info")
    return redirect(url_for("my_roster.roster"))


Decision = Callable[[Session, SwapRequest, User, datetime], SwapRequest]


@bp.post("/swaps/<int:swap_id>/<any(accept, refuse, cancel):decision>")
@roles(Role.EXPERT)
def decide_swap(swap_id: int, decision: str) -> Response:
    swap = g.db.get(SwapRequest, swap_id)
    if swap is None:
        raise NotFound(f"no swap request {swap_id}")
    needs_approval = services().settings.swap_needs_approval
    decisions: dict[str, Decision] = {
        "accept": lambda s, w, a, n: accept_swap(s, w, a, n, needs_approval=needs_approval),
        "refuse": refuse_swap,
        "cancel": cancel_swap,
    }
    try:
        decisions[decision](g.db, swap, current_user(), utcnow())
    except (Conflict, Forbidden, InvalidInput) as e:
        g.db.rollback()
        flash(_("Swap not changed: %(reason)s.", reason=translated(e.message)), "error")
        return redirect(url_for("my_roster.roster"))
    audit(f"swap.{decision}", f"swap:{swap_id}", swap.status)
    g.db.commit()
    if swap.status == SwapStatus.APPLIED:
        roster_changed("swap applied")
        flash(_("Swap accepted and applied: the roster shows it now."), "info")
    elif swap.status == SwapStatus.ACCEPTED:
        flash(_("Swap accepted; it applies once a coordinator approves it."), "info")
    else:
        flash(
            _("Swap refused.") if swap.status == SwapStatus.REFUSED else _("Swap cancelled."),
            "info",
        )
    return redirect(url_for("my_roster.roster"))


@bp.post("/feed")
@roles(Role.EXPERT)
def make_feed() -> Response:
    """A new secret URL; the previous one, if any, stops working."""
    me = _me()
    new_feed(g.db, me)
    audit("feed.create", f"expert:{me.code}")
    g.db.commit()
    flash(_("Your calendar link is ready. Any previous link no longer works."), "info")
    return redirect(url_for("my_roster.roster", _anchor="feed"))


@bp.post("/feed/revoke")
@roles(Role.EXPERT)
def revoke() -> Response:
    me = _me()
    revoke_feed(g.db, me)
    audit("feed.revoke", f"expert:{me.code}")
    g.db.commit()
    flash(_("Your calendar link no longer works."), "info")
    return redirect(url_for("my_roster.roster", _anchor="feed"))


def _me() -> Expert:
    expert = current_user().expert
    assert expert is not None, "an expert login always has an expert"
    return expert


def _roster_page(values: dict[str, Any], errors: dict[str, str] | None = None) -> str:
    me = _me()
    now = utcnow()
    shifts = g.db.scalars(
        select(Shift)
        .where(Shift.expert_id == me.id, Shift.end > now, Shift.start < now + AHEAD)
        .order_by(Shift.start)
    ).all()
    swaps = g.db.scalars(
        select(SwapRequest)
        .where(
            or_(SwapRequest.requester_id == me.id, SwapRequest.other_id == me.id),
            SwapRequest.status.in_(OPEN_SWAPS),
        )
        .order_by(SwapRequest.created_at)
    ).all()
    asked = {s.shift_id for s in swaps}
    colleagues = g.db.scalars(
        select(Expert)
        .where(Expert.active.is_(True), Expert.id != me.id)
        .order_by(Expert.name, Expert.code)
    ).all()
    return render_template(
        "expert/roster.html",
        me=me,
        tz=me.timezone,
        shifts=shifts,
        asked=asked,
        incoming=[s for s in swaps if s.other_id == me.id and s.status == SwapStatus.PENDING],
        outgoing=[s for s in swaps if s.requester_id == me.id],
        colleagues=colleagues,
        feed_url=expert_feed_url(g.db, me, services().settings.public_url),
        values=values,
        errors=errors or {},
    )
