"""The audit log: who did what through the web or the API. Details never carry patient data."""

from __future__ import annotations

from flask import g, request

from garde.models import AuditEvent
from garde.validation import CONTROL
from web.access import current_user


def audit(action: str, target: str, detail: str = "") -> None:
    """Added to the request's session: it is stored with the change it describes. The detail
    may quote the request (the fields it named): control characters go, PostgreSQL refuses NUL."""
    g.db.add(
        AuditEvent(
            actor=current_user().username,
            action=action,
            target=target,
            detail=CONTROL.sub("", detail)[:500],
            address=(request.remote_addr or "")[:64] or None,
        )
    )
