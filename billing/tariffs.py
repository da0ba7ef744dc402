"""A site's tariff versions in the database: the one in force on a day or at an instant, and
adding a version (a version is never changed)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from garde.models import Site, Tariff, utcnow

# The first version of a site created with its prices holds for every read it will ever have.
ALWAYS = date(2000, 1, 1)


class NoTariff(LookupError):
    """The site has no tariff version in force then."""


def local_today(timezone: str) -> date:
    return utcnow().astimezone(ZoneInfo(timezone)).date()


def in_force_on(versions: Iterable[Tariff], day: date) -> Tariff | None:
    """The version with the latest `valid_from` on or before `day`; of two from the same day,
    the later version."""
    due = [t for t in versions if t.valid_from <= day]
    return max(due, key=lambda t: (t.valid_from, t.version), default=None)


def in_force_at(session: Session, site: Site, at: datetime) -> Tariff:
    day = at.astimezone(ZoneInfo(site.timezone)).date()
    found = session.scalar(
        select(Tariff)
        .where(Tariff.site_id == site.id, Tariff.valid_from <= day)
        .order_by(Tariff.valid_from.desc(), Tariff.version.desc())
        .limit(1)
    )
    if found is None:
        raise NoTariff(f"site {site.code} has no tariff in force on {day.isoformat()}")
    return found


def add_version(session: Session, site: Site, valid_from: date, **fields: Any) -> Tariff:
    """A new version from `valid_from`: the fields given, the others as in the version in force
    that day (or the defaults for a site's first)."""
    base = in_force_on(site.tariffs, valid_from)
    carried = {} if base is None else _fields(base)
    last = session.scalar(select(func.max(Tariff.version)).where(Tariff.site_id == site.id))
    tariff = Tariff(
        site_id=site.id, version=(last or 0) + 1, valid_from=valid_from, **(carried | fields)
    )
    session.add(tariff)
    session.flush()
    session.refresh(site, ["tariffs"])
    return tariff


_CARRIED = (
    "currency",
    "base_cents",
    "exam_cents",
    "surcharges",
    "cumulative",
    "expert_share_percent",
    "holidays",
    "night_start",
    "night_end",
    "priced_at",
    "cancellation_cents",
)


def _fields(tariff: Tariff) -> dict[str, Any]:
    return {name: getattr(tariff, name) for name in _CARRIED}
