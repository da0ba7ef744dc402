"""Overrides (one expert takes over from another) and unavailability (leave, sickness)."""

from __future__ import annotations

from typing import Any

from flask import Response, g, jsonify, request
from sqlalchemy import ColumnElement, or_, select

from garde.domain import STAFF, Role
from garde.errors import NotFound
from garde.models import Override, Unavailability, User
from garde.validation import validated
from rosters.overrides import (
    OverrideInput,
    UnavailabilityInput,
    create_override,
    create_unavailability,
    delete_override,
    delete_unavailability,
    is_staff,
    override_shifts,
    uncovered_shifts,
)
from web.access import current_user, roles
from web.api import body, bp
from web.api.describe import Reply, operation
from web.api.roster_models import Override as OverrideAnswer
from web.api.roster_models import Overrides, Unavailabilities, WindowQuery
from web.api.roster_models import Unavailability as UnavailabilityAnswer
from web.api.rosters import shift_json
from web.audit import audit
from web.case_views import iso
from web.roster_changes import roster_changed


@bp.post("/overrides")
@roles(Role.EXPERT, *STAFF)
@operation(
    "rosters",
    "One expert takes over from another (coordinator, either expert)",
    {201: ("the override", OverrideAnswer)},
    body=OverrideInput,
    description="""
        Refused when the replaced expert has no shift in the interval or is already replaced
        then.
    """,
)
def add_override() -> tuple[Response, int]:
    override = create_override(g.db, body(), current_user())
    audit("override.create", f"override:{override.id}")
    roster_changed("override added")
    return jsonify(override_json(override)), 201


@bp.get("/overrides")
@roles(Role.EXPERT, *STAFF)
@operation(
    "rosters",
    "Overrides (coordinator: all; an expert: theirs); at most 1000",
    {200: ("by start", Overrides)},
    query=WindowQuery,
)
def list_overrides() -> Response:
    query = select(Override).where(*_window(Override.start, Override.end)).order_by(Override.start)
    user = current_user()
    if not is_staff(user):
        query = query.where(
            or_(Override.expert_id == user.expert_id, Override.replaces_id == user.expert_id)
        )
    return jsonify([override_json(o) for o in g.db.scalars(query.limit(1000))])


@bp.delete("/overrides/<int:override_id>")
@roles(Role.EXPERT, *STAFF)
@operation(
    "rosters",
    "Delete an override and its shifts (coordinator, whoever set it)",
    {204: Reply("deleted")},
    errors=(404,),
)
def remove_override(override_id: int) -> tuple[str, int]:
    override = g.db.get(Override, override_id)
    if override is None or not _sees(current_user(), override.expert_id, override.replaces_id):
        raise NotFound(f"no override {override_id}")
    delete_override(g.db, override, current_user())
    audit("override.delete", f"override:{override_id}")
    roster_changed("override deleted")
    return "", 204


@bp.post("/unavailability")
@roles(Role.EXPERT, *STAFF)
@operation(
    "rosters",
    "An expert is off duty for an interval (coordinator, the expert)",
    {201: ("the unavailability", UnavailabilityAnswer)},
    body=UnavailabilityInput,
)
def add_unavailability() -> tuple[Response, int]:
    unavailability = create_unavailability(g.db, body(), current_user())
    audit("unavailability.create", f"unavailability:{unavailability.id}")
    roster_changed("unavailability added")
    return jsonify(unavailability_json(unavailability)), 201


@bp.get("/unavailability")
@roles(Role.EXPERT, *STAFF)
@operation(
    "rosters",
    "Unavailability (coordinator: all; an expert: theirs); at most 1000",
    {200: ("by start", Unavailabilities)},
    query=WindowQuery,
)
def list_unavailability() -> Response:
    query = (
        select(Unavailability)
        .where(*_window(Unavailability.start, Unavailability.end))
        .order_by(Unavailability.start)
    )
    user = current_user()
    if not is_staff(user):
        query = query.where(Unavailability.expert_id == user.expert_id)
    return jsonify([unavailability_json(u) for u in g.db.scalars(query.limit(1000))])


@bp.delete("/unavailability/<int:unavailability_id>")
@roles(Role.EXPERT, *STAFF)
@operation(
    "rosters",
    "Delete an unavailability (coordinator, the expert)",
    {204: Reply("deleted")},
    errors=(404,),
)
def remove_unavailability(unavailability_id: int) -> tuple[str, int]:
    found = g.db.get(Unavailability, unavailability_id)
    if found is None or not _sees(current_user(), found.expert_id):
        raise NotFound(f"no unavailability {unavailability_id}")
    delete_unavailability(g.db, found, current_user())
    audit("unavailability.delete", f"unavailability:{unavailability_id}")
    roster_changed("unavailability deleted")
    return "", 204


def override_json(override: Override) -> dict[str, Any]:
    return {
        "id": override.id,
        "expert": override.expert.code,
        "replaces": override.replaces.code,
        "start": iso(override.start),
        "end": iso(override.end),
        "created_by": override.created_by,
        "shifts": [shift_json(s) for s in override_shifts(g.db, override)],
    }


def unavailability_json(unavailability: Unavailability) -> dict[str, Any]:
    return {
        "id": unavailability.id,
        "expert": unavailability.expert.code,
        "start": iso(unavailability.start),
        "end": iso(unavailability.end),
        "reason": unavailability.reason,
        "created_by": unavailability.created_by,
        "uncovers": [s.id for s in uncovered_shifts(g.db, unavailability)],
    }


def _window(start_column: Any, end_column: Any) -> list[ColumnElement[bool]]:
    """Conditions keeping only those sharing time with `from`..`to`, when given."""
    window = validated(WindowQuery, request.args)
    conditions = []
    if window.from_ is not None:
        conditions.append(end_column > window.from_)
    if window.to is not None:
        conditions.append(start_column < window.to)
    return conditions


def _sees(user: User, *expert_ids: int) -> bool:
    """A coordinator sees every one; an expert those they take part in (others are 404)."""
    return is_staff(user) or user.expert_id in expert_ids
