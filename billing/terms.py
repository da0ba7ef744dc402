"""A site's price list, one version of it, as the pricing functions read it: typed, frozen and
free of the database, so that a test can price any read at any instant."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, time
from enum import StrEnum
from typing import Any


class Band(StrEnum):
    """When a read happens, as the tariff prices it. Night, Sunday and public holiday are the
    French emergency modifiers (U: 20:00-08:00; F: Sunday and public holiday), which exclude
    each other unless the tariff is cumulative; stat is the priority, and adds."""

    NIGHT = "night"
    SUNDAY = "sunday"
    HOLIDAY = "holiday"
    STAT = "stat"


# The time bands in the order that names a read's band when several hold (a holiday night is
# a "holiday" read), and that settles a tie between surcharges of the same amount.
TIME_BANDS = (Band.HOLIDAY, Band.SUNDAY, Band.NIGHT)
DAY = "day"


class PricedAt(StrEnum):
    """Which instant of a read its price is taken at, per contract."""

    ACCEPTANCE = "acceptance"
    FINAL = "final"


class Calendar(StrEnum):
    """Whose public holidays: France's, or France's with Alsace-Moselle's two more days (Good
    Friday and 26 December)."""

    FR = "FR"
    FR_ALSACE_MOSELLE = "FR-Alsace-Moselle"


@dataclass(frozen=True)
class Surcharge:
    """An amount, a percentage of the base price, or both (added)."""

    cents: int = 0
    percent: int = 0


@dataclass(frozen=True)
class Terms:
    """One version of a site's tariff. Money in integer cents; a percentage is rounded half
    up to the cent (billing.pricing.percent_of)."""

    version: int
    valid_from: date
    currency: str = "EUR"
    base_cents: dict[str, int] = field(default_factory=dict)  # per modality, and "default"
    exam_cents: dict[str, int] = field(default_factory=dict)  # per exam code, over the modality
    surcharges: dict[Band, Surcharge] = field(default_factory=dict)
    cumulative: bool = False
    expert_share_percent: int = 70
    holidays: Calendar = Calendar.FR
    night_start: time = time(20)
    night_end: time = time(8)
    priced_at: PricedAt = PricedAt.ACCEPTANCE
    cancellation_cents: int | None = None  # a case cancelled after acceptance: None, no line

    @staticmethod
    def surcharges_from_json(raw: dict[str, Any]) -> dict[Band, Surcharge]:
        return {
            Band(name): Surcharge(int(s.get("cents", 0)), int(s.get("percent", 0)))
            for name, s in raw.items()
        }

    def surcharges_json(self) -> dict[str, dict[str, int]]:
        return {
            str(b): {"cents": s.cents, "percent": s.percent} for b, s in self.surcharges.items()
        }
