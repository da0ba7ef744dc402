"""The admin's pages under /admin: logins and their API tokens, sites and experts, the audit
log. For admins alone (a coordinator runs the night; an admin decides who may log in): the
check is the blueprint's, so a page added here later is guarded too."""

from __future__ import annotations

from typing import Any

from flask import Blueprint

from garde.domain import Role
from web import display, services
from web.access import roles

bp = Blueprint("admin", __name__, url_prefix="/admin")
display.install(bp)


@bp.before_request
@roles(Role.ADMIN)
def admins_only() -> None:
    """401 (the login page) to anyone logged out, 403 to any other role."""


@bp.context_processor
def region_timezone() -> dict[str, Any]:
    """The zone the admin's pages show times in (GARDE_REGION_TIMEZONE)."""
    return {"region_timezone": services().settings.region_timezone}


# The pages register their routes on `bp` when imported.
from web.admin import audit_log, registry, users  # noqa: E402, F401
