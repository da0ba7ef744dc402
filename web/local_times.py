"""Wall-clock times typed in a form, read in a zone and handed on as UTC instants.

A browser's `datetime-local` field has no zone: the page says which one it means (the
region's, the expert's), and this module turns the typed value into the exact instant,
refusing the hour that a spring change skips. In the autumn hour that happens twice, the
first occurrence (still summer time) is meant, as a person reading a clock would.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

LOCAL_FORMAT = "%Y-%m-%dT%H:%M"


def local_instant(raw: str, zone: ZoneInfo) -> datetime:
    """The UTC instant of a typed local time; ValueError with the reason if there is none."""
    try:
        naive = datetime.fromisoformat(raw.strip())
    except ValueError:
        raise ValueError("must be a date and a time, e.g. 2026-03-28T20:00") from None
    if naive.tzinfo is not None or not 1900 <= naive.year <= 2200:
        raise ValueError("must be a date and a time, e.g. 2026-03-28T20:00")
    aware = naive.replace(tzinfo=zone)
    instant = aware.astimezone(UTC)
    if instant.astimezone(zone).replace(tzinfo=None) != naive:
        raise ValueError(f"does not exist in {zone.key}: the clocks go forward at that hour")
    return instant


def as_local_field(value: datetime, zone: ZoneInfo) -> str:
    """A stored instant as the value of a `datetime-local` field in `zone`."""
    return value.astimezone(zone).strftime(LOCAL_FORMAT)


def to_utc(
    values: Mapping[str, Any], names: Iterable[str], zone: ZoneInfo
) -> tuple[dict[str, Any], dict[str, str]]:
    """`values` with each of `names` turned into an ISO UTC instant, and the errors of those
    that are not valid local times (an empty field is left to the domain to refuse)."""
    converted = dict(values)
    errors: dict[str, str] = {}
    for name in names:
        raw = values.get(name)
        if not isinstance(raw, str) or not raw.strip():
            continue
        try:
            converted[name] = local_instant(raw, zone).isoformat()
        except ValueError as e:
            errors[name] = str(e)
    return converted, errors
