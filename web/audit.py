"""The audit log: who did what through the web or the API. Details never carry patient data."""

from __future__ import annotations

from flask import g, request

from garde.models import AuditEvent
from web.access import current_user


def audit(action: str, target: str, detail: str = "") -> None:
    """Added to the request's session: it is stored with the change it describes."""
    g.db.add(
        AuditEvent(
            actor=current_user().username,
            action=action,
            target=target,
            detail=detail[:500],
            address=(request.remote_addr or "")[:64] or None,
        )
    )
