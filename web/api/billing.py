"""Billing lines, one per read, as JSON or CSV."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from typing import Any

from flask import Response, g, jsonify, request
from sqlalchemy import select

from garde.domain import STAFF
from garde.models import BillingLine, Site
from garde.validation import Fields
from web.access import roles
from web.api import bp
from web.case_views import iso


@bp.get("/billing/lines")
@roles(*STAFF)
def billing_lines() -> Response:
    f = Fields(request.args)
    query = select(BillingLine).order_by(BillingLine.read_at)
    if request.args.get("site"):
        query = query.join(Site, BillingLine.site_id == Site.id).where(
            Site.code == request.args["site"]
        )
    if request.args.get("month"):
        start, end = _month(f, request.args["month"])
        if start and end:
            query = query.where(BillingLine.read_at >= start, BillingLine.read_at < end)
    f.check()
    lines = [billing_json(line) for line in g.db.scalars(query)]
    if "text/csv" in request.headers.get("Accept", ""):
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=list(BILLING_FIELDS))
        writer.writeheader()
        writer.writerows(lines)
        return Response(out.getvalue(), mimetype="text/csv")
    return jsonify(lines)


def _month(f: Fields, raw: str) -> tuple[datetime | None, datetime | None]:
    try:
        start = datetime.strptime(raw, "%Y-%m").replace(tzinfo=UTC)
        if not 1900 <= start.year <= 2200:
            raise ValueError
    except ValueError:
        f.fail("month", "must be YYYY-MM")
        return None, None
    end = (
        start.replace(year=start.year + 1, month=1)
        if start.month == 12
        else start.replace(month=start.month + 1)
    )
    return start, end


BILLING_FIELDS = (
    "case_id",
    "site",
    "expert",
    "modality",
    "priority",
    "time_band",
    "amount_cents",
    "expert_share_cents",
    "currency",
    "read_at",
)


def billing_json(line: BillingLine) -> dict[str, Any]:
    return {
        "case_id": line.case_id,
        "site": line.site.code,
        "expert": line.expert.code,
        "modality": line.modality,
        "priority": line.priority,
        "time_band": line.time_band,
        "amount_cents": line.amount_cents,
        "expert_share_cents": line.expert_share_cents,
        "currency": line.currency,
        "read_at": iso(line.read_at),
    }
