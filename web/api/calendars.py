"""Calendar feed URLs (per expert, for the region) and the import of shifts from .ics or CSV."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated

from flask import Response, g, jsonify, request
from pydantic import Field, ValidationInfo, field_validator
from sqlalchemy import select

from garde.domain import STAFF, Role, Tier
from garde.errors import Forbidden, InvalidInput, NotFound
from garde.models import CalendarFeed, Expert
from garde.validation import Input, choice, instant, text, validated
from rosters.ical import feed_url, new_feed, revoke_feed
from rosters.importing import Window, import_shifts
from web import services
from web.access import current_user, roles
from web.api import bp
from web.api.describe import Answer, operation
from web.audit import audit
from web.case_views import iso
from web.roster_changes import roster_changed

LONGEST_WINDOW = timedelta(days=3 * 366)


class CalendarFeedAnswer(Answer):
    url: str = Field(description="the secret URL, served without a login")
    expert: str | None = Field(description="null: the region's feed")
    created_at: datetime


class FeedRevoked(Answer):
    expert: str | None
    revoked: int = Field(description="how many feeds were revoked")


class ImportQuery(Input):
    expert: Annotated[
        str | None, text(32, description="the expert's code; required for a calendar file")
    ] = None
    tier: Annotated[Tier | None, choice(description="the tier of every shift")] = None
    dry_run: bool = Field(False, description="only say what would happen")
    start: Annotated[datetime, instant()] | None = Field(
        None,
        alias="from",
        description="expand recurring events from this instant; now − 1 day by default",
    )
    end: Annotated[datetime, instant()] | None = Field(
        None, alias="to", description="… until this instant; now + 1 year by default"
    )

    @field_validator("end")
    @classmethod
    def _window(cls, end: datetime | None, info: ValidationInfo) -> datetime | None:
        start = info.data.get("start") or Window.default().start
        if end is not None and not start < end <= start + LONGEST_WINDOW:
            raise ValueError("must be after from, and at most three years after it")
        return end


class ImportItem(Answer):
    """One event instance (`uid`, `summary`) or CSV line (`line`)."""

    uid: str | None
    summary: str
    line: int | None
    expert: str | None
    start: datetime | None
    end: datetime | None
    tier: str | None
    reason: str | None = Field(description="why it was refused or left")


class ImportReport(Answer):
    dry_run: bool
    written: bool
    created: list[ImportItem]
    changed: list[ImportItem]
    unchanged: list[ImportItem]
    refused: list[ImportItem]


@bp.post("/experts/<code>/feed")
@roles(Role.EXPERT, *STAFF)
@operation(
    "rosters",
    "A new secret calendar feed URL for the expert (the expert, coordinator)",
    {201: ("the feed", CalendarFeedAnswer)},
    errors=(404,),
    description="""
        A phone calendar subscribes to the URL without a login. The expert's previous feed
        URL stops working.
    """,
)
def new_expert_feed(code: str) -> tuple[Response, int]:
    expert = _expert_for_user(code)
    feed = new_feed(g.db, expert)
    audit("feed.create", f"expert:{expert.code}")
    g.db.commit()
    return _feed_json(feed), 201


@bp.delete("/experts/<code>/feed")
@roles(Role.EXPERT, *STAFF)
@operation(
    "rosters",
    "Revoke the expert's calendar feed URL (the expert, coordinator)",
    {200: ("how many feeds were revoked", FeedRevoked)},
    errors=(404,),
)
def revoke_expert_feed(code: str) -> Response:
    expert = _expert_for_user(code)
    revoked = revoke_feed(g.db, expert)
    audit("feed.revoke", f"expert:{expert.code}")
    g.db.commit()
    return jsonify({"expert": expert.code, "revoked": revoked})


@bp.post("/feeds/region")
@roles(*STAFF)
@operation(
    "rosters",
    "A new secret calendar feed URL for the whole region (coordinator)",
    {201: ("the feed", CalendarFeedAnswer)},
    description="""
        Every expert's shifts, in the zone of `GARDE_REGION_TIMEZONE`. The previous region
        feed URL stops working.
    """,
)
def new_region_feed() -> tuple[Response, int]:
    feed = new_feed(g.db, None)
    audit("feed.create", "region")
    g.db.commit()
    return _feed_json(feed), 201


@bp.delete("/feeds/region")
@roles(*STAFF)
@operation(
    "rosters",
    "Revoke the region's calendar feed URL (coordinator)",
    {200: ("how many feeds were revoked", FeedRevoked)},
)
def revoke_region_feed() -> Response:
    revoked = revoke_feed(g.db, None)
    audit("feed.revoke", "region")
    g.db.commit()
    return jsonify({"expert": None, "revoked": revoked})


@bp.post("/shifts/import")
@roles(*STAFF)
@operation(
    "rosters",
    "Import shifts from an .ics or CSV file (coordinator)",
    {200: ("what was (or would be) created, changed, left and refused", ImportReport)},
    query=ImportQuery,
    description="""
        The body is the file: `text/calendar` as Google Calendar, Outlook and Thunderbird
        export it (recurring events expanded over the window; floating times in the
        expert's zone; all-day events refused), or `text/csv` with a header line naming
        `start`, `end` (ISO 8601 with an offset, or local times with an IANA zone in a
        `timezone` column), `expert`, `tier`. Importing the same file again changes nothing.
        With `dry_run` nothing is written; without it, all or nothing: any refusal answers
        400 with the report in `detail`.
    """,
)
def import_shift_file() -> tuple[Response, int]:
    given = validated(ImportQuery, request.args)
    code, dry_run = given.expert, given.dry_run
    expert = g.db.scalar(select(Expert).where(Expert.code == code)) if code else None
    if code and expert is None:
        raise InvalidInput({"expert": f"no expert has the code {code}"})
    default = Window.default()
    report = import_shifts(
        g.db,
        expert=expert,
        tier=given.tier,
        content_type=request.mimetype,
        body=request.get_data(),
        dry_run=dry_run,
        window=Window(given.start or default.start, given.end or default.end),
    )
    answer = {"dry_run": dry_run, **report.as_json()}
    if dry_run:
        return jsonify(answer), 200
    if report.refused:
        g.db.rollback()
        error = f"nothing imported: {len(report.refused)} refused"
        return jsonify({"error": error, "detail": answer}), 400
    audit(
        "shift.import",
        f"expert:{code}" if code else "region",
        f"created {len(report.created)}, changed {len(report.changed)}",
    )
    g.db.commit()
    if report.created or report.changed:
        roster_changed("shifts imported")
    return jsonify(answer), 200


def _expert_for_user(code: str) -> Expert:
    expert = g.db.scalar(select(Expert).where(Expert.code == code))
    if expert is None:
        raise NotFound(f"no expert has the code {code}")
    user = current_user()
    if user.role == Role.EXPERT and user.expert_id != expert.id:
        raise Forbidden("an expert manages only their own calendar feed")
    return expert


def _feed_json(feed: CalendarFeed) -> Response:
    return jsonify(
        {
            "url": feed_url(feed, services().settings.public_url),
            "expert": feed.expert.code if feed.expert else None,
            "created_at": iso(feed.created_at),
        }
    )
