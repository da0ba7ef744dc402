"""Logins, as an admin manages them: disable one (its sessions and tokens stop at once) or
let it in again. Passwords are never set through the API."""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify

from garde.domain import Role
from garde.models import User
from web import user_admin
from web.access import roles
from web.api import bp
from web.api.describe import Answer, operation


class UserAnswer(Answer):
    username: str
    role: Role
    disabled: bool


@bp.post("/users/<username>/disable")
@roles(Role.ADMIN)
@operation(
    "registry",
    "Disable a login: its sessions and API tokens stop working at once (admin; not one's own)",
    {200: ("the login", UserAnswer)},
    errors=(404, 409),
)
def disable_user(username: str) -> Response:
    return jsonify(user_json(user_admin.set_disabled(username, True)))


@bp.post("/users/<username>/enable")
@roles(Role.ADMIN)
@operation(
    "registry",
    "Let a disabled login in again (admin)",
    {200: ("the login", UserAnswer)},
    errors=(404,),
)
def enable_user(username: str) -> Response:
    return jsonify(user_json(user_admin.set_disabled(username, False)))


def user_json(user: User) -> dict[str, Any]:
    return {"username": user.username, "role": user.role, "disabled": user.disabled_at is not None}
