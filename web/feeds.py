"""Calendar feeds: a phone calendar subscribes to a secret URL and reads it without a login."""

from __future__ import annotations

from flask import Blueprint, Response, g

from garde.errors import NotFound
from rosters.ical import feed_calendar
from web import services

bp = Blueprint("feeds", __name__)


@bp.get("/feeds/<token>.ics")
def feed(token: str) -> Response:
    calendar = feed_calendar(g.db, token, region_timezone=services().settings.region_timezone)
    if calendar is None:
        # Unknown and revoked tokens look alike: the answer tells a guesser nothing.
        raise NotFound("no such calendar feed")
    return Response(calendar, mimetype="text/calendar")
