"""A site's tariff, version by version, and what a read would cost at any instant."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from flask import Response, g, jsonify, request
from pydantic import Field, RootModel
from sqlalchemy import select

from billing.pricing import NoPrice, quote
from billing.tariff_input import TariffInput, create_tariff
from billing.tariffs import NoTariff, in_force_at, in_force_on, local_today
from billing.terms import Calendar, PricedAt
from garde import vocabulary
from garde.domain import STAFF, Priority, Role
from garde.errors import InvalidInput, NotFound
from garde.models import Site, Tariff
from garde.validation import Input, choice, instant, text, validated, word
from web.access import current_user, roles
from web.api import body, bp
from web.api.billing import PricePart
from web.api.describe import Answer, operation
from web.audit import audit
from web.case_views import iso
from web.registry_changes import site_coded

BandName = Literal["night", "sunday", "holiday", "stat"]


class TariffVersion(Answer):
    """One version of a site's tariff (money in cents)."""

    version: int
    valid_from: date = Field(description="the first day it prices, in the site's zone")
    currency: str
    base_cents: dict[str, int] = Field(description="per modality, and 'default'")
    exam_cents: dict[str, int] = Field(description="per exam code, over the modality's")
    surcharge_cents: dict[BandName, int]
    surcharge_percent: dict[BandName, int]
    cumulative: bool
    expert_share_percent: int
    holidays: Calendar
    night_start: str
    night_end: str
    priced_at: PricedAt
    cancellation_cents: int | None
    created_at: datetime
    created_by: str
    in_force: bool = Field(description="the version that prices today's reads")


class TariffVersions(RootModel[list[TariffVersion]]):
    """The versions, oldest first."""


class QuoteQuery(Input):
    site: Annotated[str | None, text(32, description="the site's code; required for staff")] = None
    modality: Annotated[
        str, word(vocabulary.modality, vocabulary.MODALITIES, description="the modality read")
    ]
    priority: Annotated[Priority, choice(description="stat adds its surcharge")] = Priority.ROUTINE
    at: Annotated[datetime, instant(description="the priced instant (ISO 8601 with offset)")]
    exam_code: Annotated[
        str | None, text(32, description="the site's RIS procedure code, priced over the modality")
    ] = None


class QuoteAnswer(Answer):
    """What a read would cost: the base price, the surcharges that apply, the expert's share."""

    site: str
    modality: str
    priority: Priority
    exam_code: str | None
    at: datetime = Field(description="the instant asked about, in UTC")
    local_time: datetime = Field(description="the same instant in the site's zone")
    amount_cents: int
    expert_share_cents: int
    currency: str
    tariff_version: int
    bands: list[str] = Field(description="every band that holds, priced or not (stat included)")
    time_band: str = Field(examples=["day", "night", "sunday", "holiday"])
    breakdown: list[PricePart] = Field(description="the terms of the sum, base first")


@bp.put("/sites/<code>/tariff")
@roles(*STAFF)
@operation(
    "billing",
    "Add a version of a site's tariff (admin, coordinator)",
    {201: ("the new version", TariffVersion)},
    body=TariffInput,
    errors=(404,),
    description="""
        A version is whole: a field left out takes its default, not the previous version's.
        It prices the reads whose priced instant falls on `valid_from` (the site's zone) or
        later, until a later version; of two from the same day, the later one.
    """,
)
def put_tariff(code: str) -> tuple[Response, int]:
    site = site_coded(code)
    tariff = create_tariff(g.db, site, body(), current_user().username)
    audit("tariff.create", f"site:{site.code}", f"version {tariff.version}")
    g.db.commit()
    return jsonify(tariff_json(tariff, _in_force(site))), 201


@bp.get("/sites/<code>/tariff")
@roles(*STAFF)
@operation(
    "billing",
    "A site's tariff versions (admin, coordinator)",
    {200: ("the versions, oldest first", TariffVersions)},
    errors=(404,),
)
def get_tariff(code: str) -> Response:
    site = site_coded(code)
    today = _in_force(site)
    return jsonify([tariff_json(t, today) for t in sorted(site.tariffs, key=lambda t: t.version)])


@bp.get("/billing/quote")
@roles(Role.COORDINATOR, Role.ADMIN, Role.SITE)
@operation(
    "billing",
    "What a read would cost at an instant (coordinator, admin, site)",
    {200: ("the price and its breakdown", QuoteAnswer)},
    query=QuoteQuery,
    errors=(404,),
    description="""
        Priced by the site's tariff version in force at `at`, in the site's zone. A site
        user sees only its own site and may omit `site`.
    """,
)
def billing_quote() -> Response:
    given = validated(QuoteQuery, request.args)
    site = _quoted_site(given.site)
    try:
        tariff = in_force_at(g.db, site, given.at)
    except NoTariff as e:
        raise InvalidInput({"at": str(e)}) from None
    try:
        price = quote(
            tariff.terms(),
            modality=given.modality,
            priority=given.priority,
            at=given.at,
            timezone=site.timezone,
            exam_code=given.exam_code,
        )
    except NoPrice as e:
        raise InvalidInput({"modality": str(e)}) from None
    return jsonify(
        {
            "site": site.code,
            "modality": given.modality,
            "priority": given.priority,
            "exam_code": given.exam_code,
            "at": iso(given.at.astimezone(UTC)),
            "local_time": given.at.astimezone(ZoneInfo(site.timezone)).isoformat(),
            "amount_cents": price.amount_cents,
            "expert_share_cents": price.expert_share_cents,
            "currency": price.currency,
            "tariff_version": price.tariff_version,
            "bands": list(price.bands),
            "time_band": price.time_band,
            "breakdown": [{"what": p.what, "cents": p.cents} for p in price.parts],
        }
    )


def _quoted_site(code: str | None) -> Site:
    """A site user's own site (another's is not found); the one named, for staff."""
    user = current_user()
    if user.site is not None:
        if code is not None and code != user.site.code:
            raise NotFound(f"no site has the code {code}")
        return user.site
    if code is None:
        raise InvalidInput({"site": "is required"})
    found = g.db.scalar(select(Site).where(Site.code == code))
    if found is None:
        raise NotFound(f"no site has the code {code}")
    return found


def _in_force(site: Site) -> Tariff | None:
    return in_force_on(site.tariffs, local_today(site.timezone))


def tariff_json(tariff: Tariff, in_force: Tariff | None) -> dict[str, Any]:
    terms = tariff.terms()
    return {
        "version": tariff.version,
        "valid_from": tariff.valid_from.isoformat(),
        "currency": tariff.currency,
        "base_cents": terms.base_cents,
        "exam_cents": terms.exam_cents,
        "surcharge_cents": {str(b): s.cents for b, s in terms.surcharges.items() if s.cents},
        "surcharge_percent": {str(b): s.percent for b, s in terms.surcharges.items() if s.percent},
        "cumulative": tariff.cumulative,
        "expert_share_percent": tariff.expert_share_percent,
        "holidays": tariff.holidays,
        "night_start": tariff.night_start,
        "night_end": tariff.night_end,
        "priced_at": tariff.priced_at,
        "cancellation_cents": tariff.cancellation_cents,
        "created_at": iso(tariff.created_at),
        "created_by": tariff.created_by,
        "in_force": in_force is not None and tariff.id == in_force.id,
    }
