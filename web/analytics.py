"""The coordinator's analytics: the page (tables, a heat map, and canvases that
static/js/analytics.js fills) and the same numbers as JSON for its charts."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from flask import Blueprint, g, jsonify, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import select
from werkzeug.wrappers.response import Response

from garde.analytics import BUCKET_BOUNDS, Analytics, analytics
from garde.domain import STAFF
from garde.errors import InvalidInput
from garde.models import Site, utcnow
from garde.validation import validated
from web import display
from web.access import roles
from web.roster_pages import region_zone, site_arg
from web.roster_reports import SitePeriodQuery, local_days

bp = Blueprint("analytics", __name__, url_prefix="/coordinator")
display.install(bp)

LONGEST = 366  # days
DEFAULT_DAYS = 30  # ending today
A_MONDAY = date(2024, 1, 1)


@bp.get("/analytics")
@roles(*STAFF)
def page() -> str | tuple[str, int]:
    sites = g.db.scalars(select(Site).order_by(Site.code)).all()
    try:
        found = _found()
    except InvalidInput as e:
        values = request.args.to_dict()
        return render_template(
            "coordinator/analytics.html", sites=sites, values=values, errors=e.fields, a=None
        ), 400
    values = {
        "from": found.first.isoformat(),
        "to": found.last.isoformat(),
        "site": found.site or "",
    }
    filters: dict[str, Any] = {k: v for k, v in values.items() if v}
    return render_template(
        "coordinator/analytics.html",
        sites=sites,
        values=values,
        errors={},
        a=found,
        names=_names(found),
        buckets=bucket_labels(),
        weekdays=[display.day(A_MONDAY + timedelta(days=i), "EEE") for i in range(7)],
        busiest=max(max(row) for row in found.volume) or 1,
        data_url=url_for(".data", **filters),
    )


@bp.get("/analytics.json")
@roles(*STAFF)
def data() -> Response | tuple[Response, int]:
    """The page's numbers for its charts, with the words the charts show."""
    try:
        found = _found()
    except InvalidInput as e:
        return jsonify({"error": e.message, "detail": e.fields}), 400
    return jsonify(
        {
            **found.as_json(),
            "names": _names(found),
            "bucket_labels": bucket_labels(),
            "words": {
                "accept": _("Time to accept"),
                "report": _("Time to report"),
                "accept_met": _("Accepted in time (%)"),
                "report_met": _("Reported in time (%)"),
                "cases": _("Cases"),
                "reads": _("Final reports signed"),
            },
        }
    )


def _found() -> Analytics:
    """The filters read (`from`, `to`: local days of the region; `site`: a code) and the
    numbers for them; by default the last 30 days."""
    zone = region_zone()
    today = utcnow().astimezone(zone).date()
    query = validated(SitePeriodQuery, request.args)
    shown = local_days(
        query,
        today - timedelta(days=DEFAULT_DAYS - 1),
        lambda first: first + timedelta(days=DEFAULT_DAYS - 1),
        LONGEST,
    )
    site = site_arg(query.site)
    return analytics(g.db, shown.first, shown.last, zone, site.id if site else None)


def bucket_labels() -> list[str]:
    """'< 5 min', '5 min – 10 min', …, '≥ 1 d 0 h'."""
    bounds = [display.duration(b) for b in BUCKET_BOUNDS]
    return (
        [f"< {bounds[0]}"]
        + [f"{low} – {high}" for low, high in zip(bounds, bounds[1:], strict=False)]
        + [f"≥ {bounds[-1]}"]
    )


def _names(found: Analytics) -> dict[str, dict[str, str]]:
    """How each group's key reads: a priority in the reader's language, a month by name."""
    keys: dict[str, set[str]] = {"site": set(), "priority": set(), "month": set()}
    groups: list[dict[str, dict[str, Any]]] = [*found.times.values(), found.compliance]
    for by_grouping in groups:
        for grouping, by_key in by_grouping.items():
            keys[grouping] |= set(by_key)
    return {
        "site": {k: k for k in keys["site"]},
        "priority": {k: display.word(k, "priority") for k in keys["priority"]},
        "month": {k: display.day(date.fromisoformat(f"{k}-01"), "LLLL y") for k in keys["month"]},
    }
