"""Logins, as an admin manages them: disable one (its sessions and tokens stop at once) or
let it in again. Passwords are never set through the API."""

from __future__ import annotations

from typing import Any

from flask import Response, g, jsonify

from garde.accounts import set_disabled
from garde.domain import Role
from garde.errors import Conflict
from garde.models import User
from web.access import current_user, roles
from web.api import bp
from web.audit import audit


@bp.post("/users/<username>/disable")
@roles(Role.ADMIN)
def disable_user(username: str) -> Response:
    if username == current_user().username:
        raise Conflict("an admin cannot disable their own login", {"username": "is yours"})
    return _set(username, True)


@bp.post("/users/<username>/enable")
@roles(Role.ADMIN)
def enable_user(username: str) -> Response:
    return _set(username, False)


def _set(username: str, disabled: bool) -> Response:
    user = set_disabled(g.db, username, disabled)
    audit("user.disable" if disabled else "user.enable", f"user:{username}")
    g.db.commit()
    return jsonify(user_json(user))


def user_json(user: User) -> dict[str, Any]:
    return {"username": user.username, "role": user.role, "disabled": user.disabled_at is not None}
