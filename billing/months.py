"""A billing month is a month of the site's calendar, not of UTC: a read at 23:30 UTC on
31 January is one of February's in Paris. These turn a month into the instants it spans and
an instant into its month, in a zone."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo


def month_window(month: str, timezone: str) -> tuple[datetime, datetime]:
    """The first instant of `month` (YYYY-MM) in `timezone` and the first of the next, in UTC."""
    zone = ZoneInfo(timezone)
    start = datetime.strptime(month, "%Y-%m")
    after = start.replace(year=start.year + start.month // 12, month=start.month % 12 + 1)
    return (
        start.replace(tzinfo=zone).astimezone(UTC),
        after.replace(tzinfo=zone).astimezone(UTC),
    )


def month_of(at: datetime, timezone: str) -> str:
    """The month (YYYY-MM) an aware instant falls in, in `timezone`."""
    return at.astimezone(ZoneInfo(timezone)).strftime("%Y-%m")
