"""Billing lines, one per read, as JSON or CSV."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from typing import Annotated, Any

from flask import Response, g, jsonify, request
from pydantic import AfterValidator, Field, RootModel
from sqlalchemy import select

from garde.domain import STAFF, Priority
from garde.models import BillingLine, Site
from garde.validation import Input, text, validated
from web.access import roles
from web.api import bp
from web.api.describe import Answer, Reply, operation
from web.case_views import iso


def _month(raw: str) -> str:
    try:
        start = datetime.strptime(raw, "%Y-%m")
        if not 1900 <= start.year <= 2200:
            raise ValueError
    except ValueError:
        raise ValueError("must be YYYY-MM") from None
    return raw


class BillingQuery(Input):
    site: Annotated[str | None, text(32, description="a site's code")] = None
    month: Annotated[
        str | None,
        text(7),
        AfterValidator(lambda v: v if v is None else _month(v)),
        Field(description="YYYY-MM (UTC)", json_schema_extra={"pattern": r"^\d{4}-\d{2}$"}),
    ] = None


class BillingLineAnswer(Answer):
    case_id: int
    site: str
    expert: str
    modality: str
    priority: Priority
    time_band: str = Field(examples=["day", "night", "weekend", "public_holiday"])
    amount_cents: int
    expert_share_cents: int
    currency: str
    read_at: datetime


class BillingLines(RootModel[list[BillingLineAnswer]]):
    """Billing lines by time of read."""


@bp.get("/billing/lines")
@roles(*STAFF)
@operation(
    "billing",
    "Billing lines, one per read (admin, coordinator)",
    {
        200: Reply(
            "the lines by time of read",
            BillingLines,
            media={"text/csv": {"type": "string"}},
        )
    },
    query=BillingQuery,
    description="JSON by default; CSV with `Accept: text/csv`.",
)
def billing_lines() -> Response:
    given = validated(BillingQuery, request.args)
    query = select(BillingLine).order_by(BillingLine.read_at)
    if given.site:
        query = query.join(Site, BillingLine.site_id == Site.id).where(Site.code == given.site)
    if given.month:
        start = datetime.strptime(given.month, "%Y-%m").replace(tzinfo=UTC)
        end = (
            start.replace(year=start.year + 1, month=1)
            if start.month == 12
            else start.replace(month=start.month + 1)
        )
        query = query.where(BillingLine.read_at >= start, BillingLine.read_at < end)
    lines = [billing_json(line) for line in g.db.scalars(query)]
    if "text/csv" in request.headers.get("Accept", ""):
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=list(BILLING_FIELDS))
        writer.writeheader()
        writer.writerows(lines)
        return Response(out.getvalue(), mimetype="text/csv")
    return jsonify(lines)


BILLING_FIELDS = tuple(BillingLineAnswer.model_fields)


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
