"""Pricing one read from the site's contract: a flat price per modality, and the time band."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from garde.models import Site


@dataclass(frozen=True)
class ReadPrice:
    amount_cents: int
    expert_share_cents: int
    currency: str
    time_band: str


def time_band(at: datetime, timezone: str) -> str:
    """day, night (20:00-08:00) or weekend, in the site's local time."""
    local = at.astimezone(ZoneInfo(timezone))
    if local.weekday() >= 5:
        return "weekend"
    if local.hour < 8 or local.hour >= 20:
        return "night"
    return "day"


def price_read(site: Site, modality: str, priority: str, read_at: datetime) -> ReadPrice:
    amount = int(site.prices.get(modality, site.prices.get("default", 0)))
    return ReadPrice(
        amount_cents=amount,
        expert_share_cents=amount * site.expert_share_percent // 100,
        currency=site.currency,
        time_band=time_band(read_at, site.timezone),
    )
