"""Shifts, the on-call list at an instant, an expert's roster as iCalendar."""

from __future__ import annotations

from typing import Any

from flask import Response, g, jsonify, request
from sqlalchemy import select

from garde import vocabulary
from garde.domain import STAFF, Role
from garde.errors import Forbidden, NotFound
from garde.models import Expert, Shift, Site, utcnow
from garde.validation import Fields
from rosters.eligibility import on_duty_experts
from rosters.ical import roster_calendar
from rosters.shifts import create_shift, delete_shift, update_shift
from web.access import current_user, roles
from web.api import body, bp
from web.audit import audit
from web.case_views import iso
from web.roster_changes import roster_changed


@bp.post("/shifts")
@roles(*STAFF)
def add_shift() -> tuple[Response, int]:
    shift = create_shift(g.db, body())
    audit("shift.create", f"shift:{shift.id}")
    roster_changed("shift added")
    return jsonify(shift_json(shift)), 201


@bp.patch("/shifts/<int:shift_id>")
@roles(*STAFF)
def patch_shift(shift_id: int) -> Response:
    shift = _shift(shift_id)
    data = body()
    update_shift(g.db, shift, data)
    audit("shift.update", f"shift:{shift.id}", ", ".join(sorted(data or {})))
    roster_changed("shift changed")
    return jsonify(shift_json(shift))


@bp.delete("/shifts/<int:shift_id>")
@roles(*STAFF)
def remove_shift(shift_id: int) -> tuple[str, int]:
    shift = _shift(shift_id)
    delete_shift(g.db, shift)
    audit("shift.delete", f"shift:{shift_id}")
    roster_changed("shift deleted")
    return "", 204


def _shift(shift_id: int) -> Shift:
    shift = g.db.get(Shift, shift_id)
    if shift is None:
        raise NotFound(f"no shift {shift_id}")
    return shift


@bp.get("/shifts")
@roles(*STAFF)
def list_shifts() -> Response:
    f = Fields(request.args)
    query = select(Shift).order_by(Shift.start)
    if request.args.get("from"):
        start = f.instant("from")
        if start:
            query = query.where(Shift.end > start)
    if request.args.get("to"):
        end = f.instant("to")
        if end:
            query = query.where(Shift.start < end)
    if request.args.get("expert"):
        query = query.join(Expert).where(Expert.code == request.args["expert"])
    f.check()
    return jsonify([shift_json(s) for s in g.db.scalars(query.limit(5000))])


@bp.get("/oncall")
@roles(Role.COORDINATOR, Role.ADMIN, Role.SITE)
def oncall() -> Response:
    user = current_user()
    f = Fields(request.args)
    site_code = f.text("site", max_len=32, required=user.site_id is None)
    modality = f.word("modality", vocabulary.modality)
    subspecialty = f.word("subspecialty", vocabulary.subspecialty, required=False)
    at = f.instant("at") if request.args.get("at") else utcnow()
    site = user.site if user.site_id else g.db.scalar(select(Site).where(Site.code == site_code))
    if site is None and "site" not in f.errors:
        f.fail("site", f"no site has the code {site_code}")
    if user.site and site_code and site_code != user.site.code:
        raise Forbidden("a site sees only its own on-call list")
    f.check()
    assert site is not None and at is not None and modality is not None
    ranked = on_duty_experts(
        g.db, site_id=site.id, modality=modality, at=at, subspecialty=subspecialty
    )
    return jsonify(
        [
            {
                "expert": c.code,
                "name": c.name,
                "tier": c.tier,
                "load": c.load,
                "max_concurrent": c.max_concurrent,
                "reads_this_shift": c.reads_this_shift,
                "last_offer_at": iso(c.last_offer_at),
                "shift_end": iso(c.shift_end),
            }
            for c in ranked
        ]
    )


@bp.get("/experts/<code>/roster.ics")
@roles(Role.EXPERT, *STAFF)
def roster_ics(code: str) -> Response:
    expert = g.db.scalar(select(Expert).where(Expert.code == code))
    if expert is None:
        raise NotFound(f"no expert has the code {code}")
    user = current_user()
    if user.role == Role.EXPERT and user.expert_id != expert.id:
        raise Forbidden("an expert sees only their own roster")
    return Response(roster_calendar(g.db, expert), mimetype="text/calendar")


def shift_json(shift: Shift) -> dict[str, Any]:
    return {
        "id": shift.id,
        "expert": shift.expert.code,
        "start": iso(shift.start),
        "end": iso(shift.end),
        "tier": shift.tier,
        "source": shift.source,
        "rotation": shift.rotation_id,
        "slot": shift.slot.isoformat() if shift.slot else None,
        "edited": shift.edited,
        "override": shift.override_id,
    }
