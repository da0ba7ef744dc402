"""Rotations: recurring patterns that generate shifts; changing one regenerates the future."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from flask import Response, g, jsonify
from sqlalchemy import select

from garde.domain import STAFF
from garde.errors import NotFound
from garde.models import Rotation, utcnow
from rosters.rotations import (
    GenerationResult,
    RotationChange,
    RotationInput,
    create_rotation,
    delete_rotation,
    generate,
    rotation_input,
    update_rotation,
)
from web.access import roles
from web.api import body, bp
from web.api.describe import operation
from web.api.roster_models import Rotation as RotationAnswer
from web.api.roster_models import RotationDeleted, Rotations
from web.audit import audit
from web.roster_changes import roster_changed


@bp.post("/rotations")
@roles(*STAFF)
@operation(
    "rosters",
    "Add a rotation and generate its shifts from now on (admin, coordinator)",
    {201: ("the rotation and what was generated", RotationAnswer)},
    body=RotationInput,
)
def add_rotation() -> tuple[Response, int]:
    rotation = create_rotation(g.db, body())
    result = generate(g.db, rotation, utcnow())
    audit("rotation.create", f"rotation:{rotation.id}", _counts(result))
    roster_changed("rotation added")
    return jsonify(rotation_json(rotation, result)), 201


@bp.get("/rotations")
@roles(*STAFF)
@operation(
    "rosters",
    "The rotations by name (admin, coordinator)",
    {200: ("the rotations", Rotations)},
)
def list_rotations() -> Response:
    found = g.db.scalars(select(Rotation).order_by(Rotation.name))
    return jsonify([rotation_json(r) for r in found])


@bp.get("/rotations/<int:rotation_id>")
@roles(*STAFF)
@operation(
    "rosters",
    "A rotation (admin, coordinator)",
    {200: ("the rotation", RotationAnswer)},
    errors=(404,),
)
def get_rotation(rotation_id: int) -> Response:
    return jsonify(rotation_json(_rotation(rotation_id)))


@bp.patch("/rotations/<int:rotation_id>")
@roles(*STAFF)
@operation(
    "rosters",
    "Change a rotation; only the future is regenerated (admin, coordinator)",
    {200: ("the rotation and what was generated", RotationAnswer)},
    body=RotationChange,
    errors=(404,),
    description="""
        Shifts started before now, edited by hand or in skipped slots stay as they are; the
        others are created, updated or deleted to match.
    """,
)
def patch_rotation(rotation_id: int) -> Response:
    rotation = _rotation(rotation_id)
    data = body()
    result = update_rotation(g.db, rotation, data, utcnow())
    fields = ", ".join(sorted(data)) if isinstance(data, dict) else ""
    audit("rotation.update", f"rotation:{rotation.id}", f"{fields}; {_counts(result)}")
    roster_changed("rotation changed")
    return jsonify(rotation_json(rotation, result))


@bp.delete("/rotations/<int:rotation_id>")
@roles(*STAFF)
@operation(
    "rosters",
    "Delete a rotation and its unedited future shifts (admin, coordinator)",
    {200: ("how many shifts were deleted", RotationDeleted)},
    errors=(404,),
)
def remove_rotation(rotation_id: int) -> Response:
    rotation = _rotation(rotation_id)
    deleted = delete_rotation(g.db, rotation, utcnow())
    audit("rotation.delete", f"rotation:{rotation_id}", f"{deleted} future shifts deleted")
    roster_changed("rotation deleted")
    return jsonify({"id": rotation_id, "deleted_shifts": deleted})


def rotation_json(rotation: Rotation, result: GenerationResult | None = None) -> dict[str, Any]:
    answer = {"id": rotation.id, **rotation_input(g.db, rotation), "skipped": rotation.skipped}
    if result is not None:
        answer["generated"] = asdict(result)
    return answer


def _rotation(rotation_id: int) -> Rotation:
    rotation = g.db.get(Rotation, rotation_id)
    if rotation is None:
        raise NotFound(f"no rotation {rotation_id}")
    return rotation


def _counts(result: GenerationResult) -> str:
    return ", ".join(f"{k} {v}" for k, v in asdict(result).items())
