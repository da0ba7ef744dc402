"""Shifts, the on-call list at an instant, an expert's roster as iCalendar."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from flask import Response, g, jsonify, request
from pydantic import Field, RootModel
from sqlalchemy import select

from garde import vocabulary
from garde.domain import STAFF, Role, Tier
from garde.errors import Forbidden, InvalidInput, NotFound
from garde.models import Expert, Shift, Site, utcnow
from garde.validation import Input, instant, text, validated, word
from rosters.eligibility import on_duty_experts
from rosters.ical import roster_calendar
from rosters.shifts import ShiftChange, ShiftInput, create_shift, delete_shift, update_shift
from web.access import current_user, roles
from web.api import body, bp
from web.api.describe import Answer, Reply, operation
from web.api.roster_models import Shift as ShiftAnswer
from web.api.roster_models import Shifts, WindowQuery
from web.audit import audit
from web.case_views import iso
from web.roster_changes import roster_changed


class ShiftsQuery(WindowQuery):
    expert: Annotated[str | None, text(32, description="an expert's code")] = None


class OnCallQuery(Input):
    site: Annotated[str | None, text(32, description="the site's code; required for staff")] = None
    modality: Annotated[
        str, word(vocabulary.modality, vocabulary.MODALITIES, description="the modality to read")
    ]
    subspecialty: Annotated[
        str | None,
        word(
            vocabulary.subspecialty,
            vocabulary.SUBSPECIALTIES,
            description="only experts with this subspecialty",
        ),
    ] = None
    at: Annotated[
        datetime | None, instant(description="the instant (ISO 8601 with offset); now by default")
    ] = None


class OnCallExpert(Answer):
    """An eligible expert."""

    expert: str = Field(description="the expert's code")
    name: str
    tier: Tier
    load: int = Field(description="cases held now")
    max_concurrent: int
    reads_this_shift: int
    last_offer_at: datetime | None
    shift_end: datetime


class OnCall(RootModel[list[OnCallExpert]]):
    """The eligible experts, ranked best first."""


@bp.post("/shifts")
@roles(*STAFF)
@operation(
    "rosters",
    "Add a shift (admin, coordinator)",
    {201: ("the new shift", ShiftAnswer)},
    body=ShiftInput,
    description="Refused when the expert has another shift then.",
)
def add_shift() -> tuple[Response, int]:
    shift = create_shift(g.db, body())
    audit("shift.create", f"shift:{shift.id}")
    roster_changed("shift added")
    return jsonify(shift_json(shift)), 201


@bp.patch("/shifts/<int:shift_id>")
@roles(*STAFF)
@operation(
    "rosters",
    "Change a shift (admin, coordinator)",
    {200: ("the shift", ShiftAnswer)},
    body=ShiftChange,
    errors=(404, 409),
    description="""
        A rotation's shift is marked edited: generating leaves it alone. An override's shifts
        change with their override (409). Refused when the expert has another shift then.
    """,
)
def patch_shift(shift_id: int) -> Response:
    shift = _shift(shift_id)
    data = body()
    update_shift(g.db, shift, data)
    audit("shift.update", f"shift:{shift.id}", ", ".join(sorted(data or {})))
    roster_changed("shift changed")
    return jsonify(shift_json(shift))


@bp.delete("/shifts/<int:shift_id>")
@roles(*STAFF)
@operation(
    "rosters",
    "Delete a shift (admin, coordinator)",
    {204: Reply("deleted")},
    errors=(404, 409),
    description="A rotation's slot stays empty: generating does not bring it back.",
)
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
@operation(
    "rosters",
    "List shifts by start (admin, coordinator); at most 5000",
    {200: ("the shifts", Shifts)},
    query=ShiftsQuery,
)
def list_shifts() -> Response:
    given = validated(ShiftsQuery, request.args)
    query = select(Shift).order_by(Shift.start)
    if given.from_ is not None:
        query = query.where(Shift.end > given.from_)
    if given.to is not None:
        query = query.where(Shift.start < given.to)
    if given.expert is not None:
        query = query.join(Expert).where(Expert.code == given.expert)
    return jsonify([shift_json(s) for s in g.db.scalars(query.limit(5000))])


@bp.get("/oncall")
@roles(Role.COORDINATOR, Role.ADMIN, Role.SITE)
@operation(
    "rosters",
    "The experts eligible at an instant, ranked (coordinator, admin, site)",
    {200: ("eligible experts, best first", OnCall)},
    query=OnCallQuery,
    description="A site user sees only its own site and may omit `site`.",
)
def oncall() -> Response:
    user = current_user()
    given = validated(OnCallQuery, request.args)
    if user.site is not None:
        if given.site is not None and given.site != user.site.code:
            raise Forbidden("a site sees only its own on-call list")
        site = user.site
    elif given.site is None:
        raise InvalidInput({"site": "is required"})
    else:
        found = g.db.scalar(select(Site).where(Site.code == given.site))
        if found is None:
            raise InvalidInput({"site": f"no site has the code {given.site}"})
        site = found
    ranked = on_duty_experts(
        g.db,
        site_id=site.id,
        modality=given.modality,
        at=given.at or utcnow(),
        subspecialty=given.subspecialty,
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
@operation(
    "rosters",
    "An expert's shifts as iCalendar (the expert, admin, coordinator)",
    {200: Reply("an iCalendar VCALENDAR", media={"text/calendar": {"type": "string"}})},
    errors=(404,),  # 400: control characters in the code (web/url_controls.py)
    description="""
        Shifts from 30 days ago onwards, one VEVENT each (UID `shift-ID@garde`), times in the
        expert's zone with its VTIMEZONE.
    """,
)
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
