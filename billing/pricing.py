"""What a read costs: the base price (the exam's, else the modality's, else the default), the
surcharges that apply, and the expert's share. Pure: the same terms, read and instant give
the same price, whatever today is.

The rule when several time bands hold: the highest surcharge of night, Sunday and holiday
applies, as the French modifiers U and F exclude each other; with `cumulative` every one
adds. Stat adds in both. Percentages and the share are rounded half up to the cent."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal

from billing.calendar import time_bands
from billing.terms import DAY, TIME_BANDS, Band, Terms


class NoPrice(ValueError):
    """The tariff prices neither this exam nor this modality, and has no default."""


@dataclass(frozen=True)
class Part:
    """One term of the sum: `base`, or a band's surcharge."""

    what: str
    cents: int


@dataclass(frozen=True)
class Quote:
    amount_cents: int
    expert_share_cents: int
    currency: str
    tariff_version: int
    bands: tuple[str, ...]  # every band that holds (stat included), priced or not
    time_band: str  # the band the read is counted in: day, night, sunday or holiday
    parts: tuple[Part, ...]


def percent_of(cents: int, percent: int) -> int:
    exact = Decimal(cents) * Decimal(percent) / Decimal(100)
    return int(exact.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def base_price(terms: Terms, modality: str, exam_code: str | None) -> int:
    if exam_code and exam_code in terms.exam_cents:
        return terms.exam_cents[exam_code]
    if modality in terms.base_cents:
        return terms.base_cents[modality]
    if "default" in terms.base_cents:
        return terms.base_cents["default"]
    raise NoPrice(f"the tariff (version {terms.version}) has no price for {modality}")


def quote(
    terms: Terms,
    *,
    modality: str,
    priority: str,
    at: datetime,
    timezone: str,
    exam_code: str | None = None,
) -> Quote:
    base = base_price(terms, modality, exam_code)
    holding = time_bands(at, timezone, terms)

    def surcharge(band: Band) -> Part:
        s = terms.surcharges.get(band)
        return Part(str(band), 0 if s is None else s.cents + percent_of(base, s.percent))

    time_parts = [surcharge(b) for b in holding]
    if not terms.cumulative and time_parts:
        # max keeps the first of equals: TIME_BANDS order settles a tie.
        time_parts = [max(time_parts, key=lambda p: p.cents)]
    parts = [Part("base", base), *(p for p in time_parts if p.cents)]
    bands = [str(b) for b in holding]
    if priority == Band.STAT:
        bands.append(str(Band.STAT))
        if (stat := surcharge(Band.STAT)).cents:
            parts.append(stat)
    amount = sum(p.cents for p in parts)
    priced = [p.what for p in time_parts if p.cents]
    named = priced[0] if priced else next((str(b) for b in TIME_BANDS if b in holding), DAY)
    return Quote(
        amount_cents=amount,
        expert_share_cents=percent_of(amount, terms.expert_share_percent),
        currency=terms.currency,
        tariff_version=terms.version,
        bands=tuple(bands),
        time_band=named,
        parts=tuple(parts),
    )
