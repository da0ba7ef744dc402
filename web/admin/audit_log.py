"""The audit log in the browser: who did what, to what, when and from where; newest first,
a page at a time, filtered by actor, action, target and days (in the region's zone)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, time, timedelta
from typing import Annotated

from flask import g, render_template, request
from pydantic import Field, ValidationInfo, field_validator
from sqlalchemy import select

from garde.errors import InvalidInput
from garde.models import AuditEvent
from garde.validation import Input, between, day, text, validated
from web import display, services
from web.admin import bp

PER_PAGE = 100
FILTERS = ("actor", "action", "target", "from", "until")


class AuditQuery(Input):
    """The filters: who, what (an action or its start: `user` finds user.disable), to what,
    and the days (in the region's zone), both included."""

    actor: Annotated[str | None, text(64)] = None
    action: Annotated[str | None, text(64)] = None
    target: Annotated[str | None, text(64)] = None
    first_day: Annotated[date | None, day()] = Field(None, alias="from")
    last_day: Annotated[date | None, day()] = Field(None, alias="until")
    page: Annotated[int, between(1, 1_000_000)] = 1

    @field_validator("last_day")
    @classmethod
    def _after_first(cls, last: date | None, info: ValidationInfo) -> date | None:
        first = info.data.get("first_day")
        if last is not None and first is not None and last < first:
            raise ValueError("must be on or after the first day")
        return last


@bp.get("/audit")
def audit() -> str | tuple[str, int]:
    values = {k: request.args.get(k, "") for k in FILTERS}
    try:
        asked = validated(AuditQuery, request.args)
    except InvalidInput as e:
        return _page(values, e.fields, [], 1, False), 400
    actor, action, target = asked.actor, asked.action, asked.target
    first_day, last_day, page = asked.first_day, asked.last_day, asked.page
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
