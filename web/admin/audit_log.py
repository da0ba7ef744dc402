"""The audit log in the browser: who did what, to what, when and from where; newest first,
a page at a time, filtered by actor, action, target and days (in the region's zone)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, time, timedelta

from flask import g, render_template, request
from sqlalchemy import select

from garde.models import AuditEvent
from garde.validation import Fields
from web import display, services
from web.admin import bp

PER_PAGE = 100
FILTERS = ("actor", "action", "target", "from", "until")


@bp.get("/audit")
def audit() -> str | tuple[str, int]:
    f = Fields(request.args)
    actor = f.optional_text("actor", max_len=64)
    action = f.optional_text("action", max_len=64)
    target = f.optional_text("target", max_len=64)
    first_day = f.day("from", required=False)
    last_day = f.day("until", required=False)
    page = f.integer("page", default=1, minimum=1, maximum=1_000_000)
    if first_day and last_day and last_day < first_day:
        f.fail("until", "must be on or after the first day")
    values = {k: request.args.get(k, "") for k in FILTERS}
    if f.errors:
        return _page(values, f.errors, [], page, False), 400
    zone = display.zone(services().settings.region_timezone)
    query = select(AuditEvent).order_by(AuditEvent.at.desc(), AuditEvent.id.desc())
    if actor:
        query = query.where(AuditEvent.actor == actor)
    if action:  # `user` finds user.create, user.disable...; `user.disable` that one
        query = query.where(AuditEvent.action.startswith(action, autoescape=True))
    if target:
        query = query.where(AuditEvent.target == target)
    if first_day:
        query = query.where(AuditEvent.at >= datetime.combine(first_day, time(), zone))
    if last_day:
        next_day = datetime.combine(last_day + timedelta(days=1), time(), zone)
        query = query.where(AuditEvent.at < next_day)
    found = g.db.scalars(query.offset((page - 1) * PER_PAGE).limit(PER_PAGE + 1)).all()
    return _page(values, {}, found[:PER_PAGE], page, len(found) > PER_PAGE)


def _page(
    values: dict[str, str],
    errors: dict[str, str],
    events: Sequence[AuditEvent],
    page: int,
    more: bool,
) -> str:
    filters = {k: v for k, v in values.items() if v}
    return render_template(
        "admin/audit.html",
        values=values,
        errors=errors,
        events=events,
        page=page,
        more=more,
        filters=filters,
    )
