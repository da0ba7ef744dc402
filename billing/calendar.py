"""The time bands a read falls in, in the site's zone: night between `night_start` and
`night_end` (across midnight when the start is later), Sunday, and public holidays from the
`holidays` package. Instants are aware; a local time is only ever derived from one, so the
two nights a year when clocks change need nothing special."""

from __future__ import annotations

from datetime import date, datetime, time
from functools import cache
from zoneinfo import ZoneInfo

import holidays

from billing.terms import TIME_BANDS, Band, Calendar, Terms

# `holidays` names Moselle "57" (Alsace, "6AE", has the same two extra days).
_SUBDIVISIONS = {Calendar.FR: None, Calendar.FR_ALSACE_MOSELLE: "57"}


@cache
def public_holidays(calendar: Calendar, year: int) -> frozenset[date]:
    return frozenset(holidays.France(years=year, subdiv=_SUBDIVISIONS[calendar]))


def holiday_names(calendar: Calendar, year: int, language: str) -> dict[date, str]:
    """Each public holiday of the year with its name in `language` (fr, or English)."""
    spoken = "fr" if language == "fr" else "en_US"
    return dict(holidays.France(years=year, subdiv=_SUBDIVISIONS[calendar], language=spoken))


def is_night(at: time, start: time, end: time) -> bool:
    if start <= end:
        return start <= at < end
    return at >= start or at < end


def time_bands(at: datetime, timezone: str, terms: Terms) -> tuple[Band, ...]:
    """Every time band that holds at `at`, in TIME_BANDS order."""
    local = at.astimezone(ZoneInfo(timezone))
    holding = {
        Band.NIGHT: is_night(local.time(), terms.night_start, terms.night_end),
        Band.SUNDAY: local.weekday() == 6,
        Band.HOLIDAY: local.date() in public_holidays(terms.holidays, local.year),
    }
    return tuple(b for b in TIME_BANDS if holding[b])
