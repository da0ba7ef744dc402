"""Calendar feed URLs (per expert, for the region) and the import of shifts from .ics or CSV."""

from __future__ import annotations

from datetime import timedelta

from flask import Response, g, jsonify, request
from sqlalchemy import select

from garde.domain import STAFF, Role, Tier
from garde.errors import Forbidden, NotFound
from garde.models import CalendarFeed, Expert
from garde.validation import Fields
from rosters.ical import feed_url, new_feed, revoke_feed
from rosters.importing import Window, import_shifts
from web import services
from web.access import current_user, roles
from web.api import bp
from web.audit import audit
from web.case_views import iso
from web.roster_changes import roster_changed

LONGEST_WINDOW = timedelta(days=3 * 366)


@bp.post("/experts/<code>/feed")
@roles(Role.EXPERT, *STAFF)
def new_expert_feed(code: str) -> tuple[Response, int]:
    expert = _expert_for_user(code)
    feed = new_feed(g.db, expert)
    audit("feed.create", f"expert:{expert.code}")
    g.db.commit()
    return _feed_json(feed), 201


@bp.delete("/experts/<code>/feed")
@roles(Role.EXPERT, *STAFF)
def revoke_expert_feed(code: str) -> Response:
    expert = _expert_for_user(code)
    revoked = revoke_feed(g.db, expert)
    audit("feed.revoke", f"expert:{expert.code}")
    g.db.commit()
    return jsonify({"expert": expert.code, "revoked": revoked})


@bp.post("/feeds/region")
@roles(*STAFF)
def new_region_feed() -> tuple[Response, int]:
    feed = new_feed(g.db, None)
    audit("feed.create", "region")
    g.db.commit()
    return _feed_json(feed), 201


@bp.delete("/feeds/region")
@roles(*STAFF)
def revoke_region_feed() -> Response:
    revoked = revoke_feed(g.db, None)
    audit("feed.revoke", "region")
    g.db.commit()
    return jsonify({"expert": None, "revoked": revoked})


@bp.post("/shifts/import")
@roles(*STAFF)
def import_shift_file() -> tuple[Response, int]:
    f = Fields(request.args)
    code = f.optional_text("expert", max_len=32)
    tier = f.choice("tier", Tier, required=False)
    dry_run = f.boolean("dry_run")
    default = Window.default()
    start = f.instant("from") if request.args.get("from") else default.start
    end = f.instant("to") if request.args.get("to") else default.end
    if start and end and not start < end <= start + LONGEST_WINDOW:
        f.fail("to", "must be after from, and at most three years after it")
    expert = g.db.scalar(select(Expert).where(Expert.code == code)) if code else None
    if code and expert is None:
        f.fail("expert", f"no expert has the code {code}")
    f.check()
    assert start and end
    report = import_shifts(
        g.db,
        expert=expert,
        tier=tier,
        content_type=request.mimetype,
        body=request.get_data(),
        dry_run=dry_run,
        window=Window(start, end),
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
