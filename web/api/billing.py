"""Billing lines, one per read (or billed cancellation), as JSON or CSV, by month of the
site's zone."""

from __future__ import annotations

import csv
import io
from datetime import datetime
from typing import Annotated, Any, Literal

from flask import Response, g, jsonify, request
from pydantic import AfterValidator, Field, RootModel
from sqlalchemy import ColumnElement, and_, false, or_, select

from billing.months import month_window
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
        Field(
            description="YYYY-MM, by the priced instant in the site's zone (each line's own "
            "site's zone when no site is named)",
            json_schema_extra={"pattern": r"^\d{4}-\d{2}$"},
        ),
    ] = None


class PricePart(Answer):
    what: str = Field(examples=["base", "night", "holiday", "stat", "cancellation"])
    cents: int


class BillingLineAnswer(Answer):
    case_id: int
    site: str
    expert: str
    modality: str
    priority: Priority
    kind: Literal["read", "cancellation"] = Field(
        description="a read, or a case cancelled after its acceptance that the tariff bills"
    )
    time_band: str = Field(examples=["day", "night", "sunday", "holiday"])
    bands: list[str] = Field(description="every band that held (stat included), priced or not")
    breakdown: list[PricePart] = Field(description="the terms of the sum, base first")
    amount_cents: int
    expert_share_cents: int
    currency: str
    tariff_version: int | None = Field(description="the site's tariff version that priced it")
    priced_at: datetime = Field(description="the instant priced: acceptance or final report")
    read_at: datetime = Field(description="the final report's instant (or the cancellation's)")


class BillingLines(RootModel[list[BillingLineAnswer]]):
    """Billing lines by priced instant."""


@bp.get("/billing/lines")
@roles(*STAFF)
@operation(
    "billing",
    "Billing lines, one per read (admin, coordinator)",
    {
        200: Reply(
            "the lines by priced instant",
            BillingLines,
            media={"text/csv": {"type": "string"}},
        )
    },
    query=BillingQuery,
    description="""
        JSON by default; CSV with `Accept: text/csv` (`bands` there are space-separated, the
        breakdown `what:cents` pairs). A month is the site's: a read at 23:30 UTC on
        31 January is February's in Paris.
    """,
)
def billing_lines() -> Response:
    given = validated(BillingQuery, request.args)
    query = select(BillingLine).join(Site, BillingLine.site_id == Site.id)
    if given.site:
        query = query.where(Site.code == given.site)
    if given.month:
        query = query.where(_in_month(given.month, given.site))
    lines = [billing_json(line) for line in g.db.scalars(query.order_by(BillingLine.priced_at))]
    if "text/csv" in request.headers.get("Accept", ""):
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=list(BILLING_FIELDS))
        writer.writeheader()
        writer.writerows(_flat(line) for line in lines)
        return Response(out.getvalue(), mimetype="text/csv")
    return jsonify(lines)


BILLING_FIELDS = tuple(BillingLineAnswer.model_fields)


def _in_month(month: str, site_code: str | None) -> ColumnElement[bool]:
    """Priced in `month` of the line's site's zone: one UTC window per zone in use."""
    zones = select(Site.timezone).distinct()
    if site_code:
        zones = zones.where(Site.code == site_code)
    windows = []
    for zone in g.db.scalars(zones):
        start, end = month_window(month, zone)
        windows.append(
            and_(
                Site.timezone == zone,
                BillingLine.priced_at >= start,
                BillingLine.priced_at < end,
            )
        )
    return or_(false(), *windows)


def _flat(line: dict[str, Any]) -> dict[str, Any]:
    """A line as one CSV row: its lists written out in a cell each."""
    return line | {
        "bands": " ".join(line["bands"]),
        "breakdown": " ".join(f"{p['what']}:{p['cents']}" for p in line["breakdown"]),
    }


def billing_json(line: BillingLine) -> dict[str, Any]:
    return {
        "case_id": line.case_id,
        "site": line.site.code,
        "expert": line.expert.code,
        "modality": line.modality,
        "priority": line.priority,
        "kind": line.kind,
        "time_band": line.time_band,
        "bands": list(line.bands),
        "breakdown": [{"what": p["what"], "cents": p["cents"]} for p in line.parts],
        "amount_cents": line.amount_cents,
        "expert_share_cents": line.expert_share_cents,
        "currency": line.currency,
        "tariff_version": line.tariff_version,
        "priced_at": iso(line.priced_at),
        "read_at": iso(line.read_at),
    }
