"""How the HTML pages show times, waits, service levels and money, as Jinja filters."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flask import Blueprint
from markupsafe import Markup

from garde.domain import CaseStatus
from garde.models import Case, CaseEvent, utcnow
from garde.service_levels import Deadline, deadlines
from web.case_views import iso, timeline


@lru_cache(maxsize=64)
def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def local_time(value: datetime | None, tz: str, with_date: bool = True) -> Markup:
    """The time in the site's zone, with the UTC instant on hover and for machines."""
    if value is None:
        return Markup('<span class="muted">—</span>')
    local = value.astimezone(zone(tz))
    shown = local.strftime("%d %b %H:%M %Z" if with_date else "%H:%M %Z")
    utc = value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    return Markup('<time datetime="{}" title="{}">{}</time>').format(iso(value), utc, shown)


def duration(seconds: float) -> str:
    """A short human duration: '4 min', '1 h 05', '2 d 3 h'."""
    minutes = int(abs(seconds)) // 60
    if minutes < 1:
        return "under a minute"
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes:02d}"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h"


def waited(since: datetime) -> str:
    return duration((utcnow() - since).total_seconds())


def sla_state(deadline: Deadline) -> str:
    """'met', 'breached' or 'running': the CSS class and the word shown."""
    met = deadline.met(utcnow())
    if met is None:
        return "running"
    return "met" if met else "breached"


def due_in(deadline: Deadline) -> str:
    left = (deadline.due - utcnow()).total_seconds()
    return f"in {duration(left)}" if left >= 0 else f"overdue by {duration(left)}"


def next_deadline(case: Case) -> tuple[str, Deadline]:
    """The deadline a site or a coordinator watches now: accept until taken, then report."""
    found = deadlines(case)
    if case.accepted_at is None and CaseStatus(case.status).is_open:
        return "accept", found["accept"]
    return "report", found["report"]


def event_label(event: CaseEvent) -> str:
    name = event.status if event.kind == "status" and event.status else event.kind
    return name.replace("_", " ").capitalize()


def money(cents: int, currency: str) -> str:
    return f"{cents / 100:,.2f} {currency}".replace(",", "\u202f")


def install(bp: Blueprint) -> None:
    """Make the helpers available to every template; registering twice is harmless."""
    for name, f in (
        ("local_time", local_time),
        ("waited", waited),
        ("money", money),
        ("event_label", event_label),
    ):
        bp.add_app_template_filter(f, name)
    for name, g in (
        ("sla", deadlines),
        ("events_in_order", timeline),
        ("sla_state", sla_state),
        ("due_in", due_in),
        ("next_deadline", next_deadline),
    ):
        bp.add_app_template_global(g, name)
