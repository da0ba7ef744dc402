"""How the HTML pages show times, waits, service levels and money, as Jinja filters."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flask import Blueprint
from markupsafe import Markup

from garde.domain import AlertKind, CaseStatus, EventKind, Priority
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
    """A short human duration: '20 s', '4 min', '1 h 05', '2 d 3 h'."""
    minutes = int(abs(seconds)) // 60
    if minutes < 1:
        return f"{int(abs(seconds))} s" if seconds else "under a minute"
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


# What each timeline entry says, beside its time; `{expert}` is the expert it is about.
_EVENT_LABELS: dict[str, str] = {
    EventKind.DECLINED: "Declined by {expert}",
    EventKind.OFFER_EXPIRED: "No answer from {expert}",
    EventKind.OFFER_UNDELIVERABLE: "SMS to {expert} could not be delivered",
    EventKind.OFFER_WITHDRAWN: "Offer to {expert} withdrawn",
    EventKind.RELEASED: "Released by {expert}",
    EventKind.REASSIGNED: "Reassigned to {expert}",
    EventKind.PRIORITY_CHANGED: "Priority changed",
    EventKind.COORDINATORS_ALERTED: "Coordinators alerted",
    EventKind.REMINDER_SENT: "Report reminder sent to {expert}",
    EventKind.SLA_BREACH: "Service level breached",
    EventKind.REPORT: "Addendum by {expert}",
    EventKind.ACKNOWLEDGED: "Critical finding acknowledged",
    EventKind.COORDINATOR_ON_IT: "A coordinator is on it",
}
_STATUS_LABELS: dict[str, str] = {
    CaseStatus.REQUESTED: "Requested",
    CaseStatus.OFFERED: "Offered to {expert}",
    CaseStatus.ACCEPTED: "Accepted by {expert}",
    CaseStatus.PRELIMINARY: "Preliminary report by {expert}",
    CaseStatus.FINAL: "Final report by {expert}",
    CaseStatus.CANCELLED: "Cancelled",
}
ALERT_TEXTS: dict[str, str] = {
    AlertKind.UNASSIGNED: "still unassigned after the whole ladder",
    AlertKind.NOBODY_ELIGIBLE: "nobody on duty may read it",
    AlertKind.ACCEPT_BREACH: "not accepted in time",
    AlertKind.REPORT_BREACH: "not reported in time",
    AlertKind.UNREACHABLE: "an expert's phone could not be reached",
    AlertKind.STUCK: "its progress cannot be saved; it keeps retrying",
}
BREACHES = {"accept": "accept deadline passed", "report": "report deadline passed"}


# The routing's own traffic: a site or an expert needs the steps, not every unanswered offer.
_ROUTING_DETAIL = {
    EventKind.OFFER_EXPIRED,
    EventKind.OFFER_UNDELIVERABLE,
    EventKind.OFFER_WITHDRAWN,
    EventKind.DECLINED,
    EventKind.REMINDER_SENT,
}


def events_shown(case: Case, show_experts: bool = True) -> list[CaseEvent]:
    """The timeline in order; without `show_experts` (a site, an expert), the routing's
    traffic is left out and successive offers read as one."""
    events = timeline(case)
    if show_experts:
        return events
    shown: list[CaseEvent] = []
    for event in events:
        if event.kind in _ROUTING_DETAIL:
            continue
        offered = event.status == CaseStatus.OFFERED
        if offered and shown and shown[-1].status == CaseStatus.OFFERED:
            continue
        shown.append(event)
    return shown


# A broadcast's entry names no expert: its detail says the step and how many were asked.
_MANY_OFFERED = re.compile(r"^(\w+) to (\d+) experts$")


def event_label(event: CaseEvent, show_experts: bool = True) -> str:
    """'Accepted by Dr Claire Martin', 'Offered to an expert' (for a site), 'Requested'.
    What happened and to or by whom, once: the detail beside it never says it again."""
    many = _MANY_OFFERED.match(event.detail or "")
    if event.status == CaseStatus.OFFERED and event.expert is None and many:
        return f"Offered to {many.group(2)} experts"
    if event.kind == EventKind.STATUS and event.status:
        template = _STATUS_LABELS.get(event.status, event.status.capitalize())
    else:
        template = _EVENT_LABELS.get(event.kind, event.kind.replace("_", " ").capitalize())
    if event.expert is None:
        template = template.replace(" to {expert}", "").replace(" by {expert}", "")
        template = template.replace(" from {expert}", "").replace("{expert}", "an expert")
    held = event.status in (CaseStatus.ACCEPTED, CaseStatus.PRELIMINARY, CaseStatus.FINAL)
    who = event.expert.name if event.expert and (show_experts or held) else "an expert"
    return template.format(expert=who)


def event_detail(event: CaseEvent, show_experts: bool = True) -> str:
    """The muted words after the label: the step, the channel, the alert, the reason."""
    if event.kind == EventKind.COORDINATORS_ALERTED:
        return ALERT_TEXTS.get(event.detail, event.detail)
    if event.kind == EventKind.SLA_BREACH:
        return BREACHES.get(event.detail, event.detail)
    if event.status == CaseStatus.OFFERED:
        # The step of the ladder ("primary", "broadcast to 3 experts"): for coordinators.
        many = _MANY_OFFERED.match(event.detail or "")
        step = many.group(1) if many else event.detail
        return f"{step} step" if show_experts and step else ""
    if event.kind == EventKind.DECLINED and not show_experts:
        return ""
    if event.kind == EventKind.REPORT:
        return ""  # "addendum": the label says it
    return event.detail


def why(ranking: dict[str, Any]) -> list[str]:
    """The ranking's reasons for an offer, as short phrases a coordinator reads at a glance."""
    if not ranking:
        return []
    since = ranking.get("minutes_since_last_offer")
    phrases = [
        f"#{ranking.get('rank')} of the eligible",
        f"{ranking.get('tier')} tier",
        f"{ranking.get('load')} of {ranking.get('max_concurrent')} cases held",
        f"{ranking.get('reads_this_shift')} reads this shift",
        "never offered before" if since is None else f"last offer {duration(since * 60)} before",
    ]
    if ranking.get("open_offers"):
        phrases.append(f"{ranking['open_offers']} other offers open")
    if ranking.get("reachable") is False:
        phrases.append("SMS failed lately")
    if ranking.get("subspecialty_match"):
        phrases.append("subspecialty matches")
    return phrases


def money(cents: int, currency: str) -> str:
    return f"{cents / 100:,.2f} {currency}".replace(",", "\u202f")


def install(bp: Blueprint) -> None:
    """Make the helpers available to every template; registering twice is harmless."""
    for name, f in (
        ("local_time", local_time),
        ("waited", waited),
        ("money", money),
        ("event_label", event_label),
        ("event_detail", event_detail),
        ("why", why),
        ("duration", duration),
    ):
        bp.add_app_template_filter(f, name)
    for name, g in (
        ("sla", deadlines),
        ("events_shown", events_shown),
        ("sla_state", sla_state),
        ("due_in", due_in),
        ("next_deadline", next_deadline),
        ("alert_text", ALERT_TEXTS.get),
        ("now", utcnow),
    ):
        bp.add_app_template_global(g, name)
    bp.app_context_processor(lambda: {"priorities": [p.value for p in Priority]})
