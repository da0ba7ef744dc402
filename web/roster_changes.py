"""A roster edit (from a page or the API) is committed, then cases waiting for an expert look
again: one call, so no edit is stored without telling them."""

from __future__ import annotations

import logging

from flask import g
from sqlalchemy import select

from garde.errors import Unavailable
from garde.models import Case
from rosters.eligibility import TAKEABLE_STATUSES
from web import services

log = logging.getLogger(__name__)


def roster_changed(reason: str) -> None:
    """Commit the edit in hand; cases waiting for an expert look again at once (if Temporal
    is away, on their own within minutes)."""
    g.db.commit()
    waiting = g.db.scalars(
        select(Case.id).where(
            Case.assigned_expert_id.is_(None),
            Case.status.in_(TAKEABLE_STATUSES),
            Case.workflow_started_at.is_not(None),
        )
    ).all()
    try:
        services().cases.roster_changed(waiting, reason)
    except Unavailable:
        log.warning("roster changed; %s waiting cases will look again on their own", len(waiting))
