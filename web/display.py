"""How the HTML pages show times, waits, service levels and money, as Jinja filters."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel.dates import format_date, format_datetime
from babel.numbers import format_decimal
from flask import Blueprint
from flask_babel import LazyString, get_locale, gettext, lazy_gettext, lazy_pgettext, ngettext
from markupsafe import Markup
from sqlalchemy import select
from sqlalchemy.orm import object_session

from garde import phones
from garde.domain import (
    AlertKind,
    CaseStatus,
    EventKind,
    OfferStatus,
    OrderSource,
    Priority,
    ReportKind,
    Role,
    ShiftSource,
    Tier,
)
from garde.intake import awaits_question
from garde.models import Case, CaseEvent, ReportAcknowledgement, utcnow
from garde.service_levels import Deadline, LadderStep, deadlines
from reports.sheet import VIA
from web.case_views import arrived, iso, timeline


@lru_cache(maxsize=64)
def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def local_time(value: datetime | None, tz: str, with_date: bool = True) -> Markup:
    """The time in the zone the page is about, as the reader's language writes it (24 h in
    both: `08 nov. 23:34 CET`, `08 Nov 23:34 CET`), with the UTC instant on hover and for
    machines."""
    if value is None:
        return Markup('<span class="muted">—</span>')
    shown = zoned(value, zone(tz), "dd MMM HH:mm" if with_date else "HH:mm")
    utc = value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    return Markup('<time datetime="{}" title="{}">{}</time>').format(iso(value), utc, shown)


def zoned(value: datetime, where: ZoneInfo, pattern: str) -> str:
    """An instant's wall-clock time in `where`, by a CLDR `pattern` in the reader's language,
    with the zone's abbreviation: the one way pages write times."""
    local = value.astimezone(where)
    return f"{format_datetime(local, pattern, locale=get_locale())} {local.strftime('%Z')}"


def day(value: date, pattern: str = "dd MMM y") -> str:
    """A day (or with `LLLL y`, a month) as the reader's language writes it."""
    return format_date(value, pattern, locale=get_locale())


def duration(seconds: float) -> str:
    """A short human duration: '20 s', '4 min', '1 h 05', '2 d 3 h' ('2 j 3 h' in French)."""
    minutes = int(abs(seconds)) // 60
    if minutes < 1:
        return f"{int(abs(seconds))} s" if seconds else gettext("under a minute")
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes:02d}"
    days, hours = divmod(hours, 24)
    return gettext("%(days)s d %(hours)s h", days=days, hours=hours)


def waited(since: datetime) -> str:
    return duration((utcnow() - since).total_seconds())


def sla_state(deadline: Deadline) -> str:
    """'met', 'breached' or 'running': the CSS class and the word shown."""
    met = deadline.met(utcnow())
    if met is None:
        return "running"
    return "met" if met else "breached"


def countdown(due: datetime) -> Markup:
    """The time left until `due`, or past it, as a `<time>` that web/static/js/live.js keeps
    counting in the browser (in the words of the `live` macro, the same as these)."""
    left = (due - utcnow()).total_seconds()
    if left >= 0:
        text = gettext("in %(duration)s", duration=duration(left))
    else:
        text = gettext("overdue by %(duration)s", duration=duration(left))
    return Markup('<time datetime="{}" data-countdown class="sla {}">{}</time>').format(
        iso(due), "running" if left >= 0 else "breached", text
    )


def next_deadline(case: Case) -> tuple[str, Deadline]:
    """The deadline a site or a coordinator watches now: accept until taken, then (under
    régulation) validate until validated, then report."""
    found = deadlines(case)
    status = CaseStatus(case.status)
    if case.accepted_at is None and status.is_open:
        return "accept", found["accept"]
    if "validate" in found and status is CaseStatus.TO_VALIDATE:
        return "validate", found["validate"]
    return "report", found["report"]


# What each timeline entry says, beside its time: with the expert it is about, and without
# (a broadcast names none). One text alone: the entry never names an expert.
_EVENT_LABELS: dict[str, tuple[LazyString, LazyString]] = {
    EventKind.DECLINED: (lazy_gettext("Declined by %(expert)s"), lazy_gettext("Declined")),
    EventKind.OFFER_EXPIRED: (lazy_gettext("No answer from %(expert)s"), lazy_gettext("No answer")),
    EventKind.OFFER_UNDELIVERABLE: (
        lazy_gettext("SMS to %(expert)s could not be delivered"),
        lazy_gettext("SMS could not be delivered"),
    ),
    EventKind.OFFER_WITHDRAWN: (
        lazy_gettext("Offer to %(expert)s withdrawn"),
        lazy_gettext("Offer withdrawn"),
    ),
    EventKind.RELEASED: (lazy_gettext("Released by %(expert)s"), lazy_gettext("Released")),
    EventKind.REASSIGNED: (lazy_gettext("Reassigned to %(expert)s"), lazy_gettext("Reassigned")),
    EventKind.REMINDER_SENT: (
        lazy_gettext("Report reminder sent to %(expert)s"),
        lazy_gettext("Report reminder sent"),
    ),
    EventKind.REPORT: (lazy_gettext("Addendum by %(expert)s"), lazy_gettext("Addendum")),
    EventKind.VALIDATED: (
        lazy_gettext("Indication validated by %(expert)s"),
        lazy_gettext("Indication validated"),
    ),
    EventKind.REFUSED: (
        lazy_gettext("Indication refused by %(expert)s"),
        lazy_gettext("Indication refused"),
    ),
}
_EVENT_TEXTS: dict[str, LazyString] = {
    EventKind.PRIORITY_CHANGED: lazy_gettext("Priority changed"),
    EventKind.COORDINATORS_ALERTED: lazy_gettext("Coordinators alerted"),
    EventKind.SLA_BREACH: lazy_gettext("Service level breached"),
    EventKind.ACK_REQUESTED: lazy_gettext("Acknowledgement requested from the site"),
    EventKind.SITE_TEXTED: lazy_gettext("Site texted to acknowledge"),
    EventKind.SITE_CALLED: lazy_gettext("Site phoned to acknowledge"),
    EventKind.COORDINATOR_ON_IT: lazy_gettext("A coordinator is on it"),
    EventKind.STUDY_ARRIVED: lazy_gettext("Images arrived"),
    EventKind.STUDY_STABLE: lazy_gettext("Images stable: nothing new for a while"),
    EventKind.STUDY_REOPENED: lazy_gettext("New images arrived"),
    EventKind.SCANNED: lazy_gettext("Scan done"),
    EventKind.ORDER_STATUS_SENT: lazy_gettext("Status sent to the site's RIS"),
}
_STATUS_LABELS: dict[str, tuple[LazyString, LazyString]] = {
    CaseStatus.OFFERED: (lazy_gettext("Offered to %(expert)s"), lazy_gettext("Offered")),
    CaseStatus.ACCEPTED: (lazy_gettext("Accepted by %(expert)s"), lazy_gettext("Accepted")),
    CaseStatus.PRELIMINARY: (
        lazy_gettext("Preliminary report by %(expert)s"),
        lazy_gettext("Preliminary report"),
    ),
    CaseStatus.FINAL: (lazy_gettext("Final report by %(expert)s"), lazy_gettext("Final report")),
    CaseStatus.VALIDATED: _EVENT_LABELS[EventKind.VALIDATED],
    CaseStatus.REFUSED: _EVENT_LABELS[EventKind.REFUSED],
}
_STATUS_TEXTS: dict[str, LazyString] = {
    CaseStatus.REQUESTED: lazy_gettext("Requested"),
    CaseStatus.TO_VALIDATE: lazy_gettext("Requested, indication to validate"),
    CaseStatus.CANCELLED: lazy_gettext("Cancelled"),
}
ALERT_TEXTS: dict[str, LazyString] = {
    AlertKind.UNASSIGNED: lazy_gettext("still unassigned after the whole ladder"),
    AlertKind.NOBODY_ELIGIBLE: lazy_gettext("nobody on duty may read it"),
    AlertKind.ACCEPT_BREACH: lazy_gettext("not accepted in time"),
    AlertKind.VALIDATE_BREACH: lazy_gettext("indication not validated in time"),
    AlertKind.REPORT_BREACH: lazy_gettext("not reported in time"),
    AlertKind.UNREACHABLE: lazy_gettext("an expert's phone could not be reached"),
    AlertKind.STUCK: lazy_gettext("its progress cannot be saved; it keeps retrying"),
    AlertKind.ACK_OVERDUE: lazy_gettext("a critical finding not acknowledged in time"),
    AlertKind.WEBHOOK_FAILING: lazy_gettext(
        "a report version has not reached the site's webhook yet; still trying"
    ),
    AlertKind.HL7_FAILING: lazy_gettext(
        "a report or an order status has not reached the site's HL7 listener yet; still trying"
    ),
}
_DISCREPANCY_OVERDUE = lazy_gettext("a major discrepancy not acknowledged in time")
BREACHES = {
    "accept": lazy_gettext("accept deadline passed"),
    "validate": lazy_gettext("validation deadline passed"),
    "report": lazy_gettext("report deadline passed"),
}


def alert_text(kind: str, case: Case | None = None, report_id: int | None = None) -> str:
    """What an alert of `kind` says about its case: an acknowledgement overdue, in the words
    of its reason (the version `report_id`'s, else the case's oldest still waiting)."""
    if kind == AlertKind.ACK_OVERDUE and case and _reason(case, report_id) == "discrepancy":
        return str(_DISCREPANCY_OVERDUE)
    found = ALERT_TEXTS.get(kind)
    return str(found) if found is not None else kind


def _reason(case: Case, report_id: int | None = None) -> str:
    """Why a version of `case` is owed an acknowledgement: `report_id`'s, else the oldest
    still waiting's, else the latest's; "critical" when none is known (an acknowledgement
    of the case workflow's own, before each version had its workflow)."""
    rows = [r for r in _acknowledgements(case) if report_id in (None, r.report_id)]
    waiting = [r for r in rows if r.acknowledged_at is None]
    row = waiting[0] if waiting else rows[-1] if rows else None
    return row.reason if row is not None else "critical"


def _acknowledgements(case: Case) -> list[ReportAcknowledgement]:
    """The case's acknowledgement rows, oldest first (none when the case is not in a session)."""
    s = object_session(case)
    if s is None:
        return []
    found = s.scalars(
        select(ReportAcknowledgement)
        .where(ReportAcknowledgement.case_id == case.id)
        .order_by(ReportAcknowledgement.report_id)
    )
    return list(found)


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
        count = int(many.group(2))
        return ngettext("Offered to %(num)d expert", "Offered to %(num)d experts", count)
    if event.kind == EventKind.ACKNOWLEDGED:
        reported = _report_of(event)
        reason = _reason(event.case, reported) if reported is not None else "critical"
        return str(_ACKNOWLEDGED.get(reason, _ACKNOWLEDGED["critical"]))
    if event.kind == EventKind.STATUS and event.status:
        labels, text = _STATUS_LABELS.get(event.status), _STATUS_TEXTS.get(event.status)
        fallback = event.status.capitalize()
    else:
        labels, text = _EVENT_LABELS.get(event.kind), _EVENT_TEXTS.get(event.kind)
        fallback = event.kind.replace("_", " ").capitalize()
    if labels is None:
        return str(text) if text is not None else fallback
    if event.expert is None:
        return str(labels[1])
    held = event.status in _NAMED_TO_SITE or event.kind in _NAMED_TO_SITE
    who = event.expert.name if show_experts or held else gettext("an expert")
    return str(labels[0]) % {"expert": who}


# The holder's steps a site and an expert see named: who took it, who decided, who wrote.
_NAMED_TO_SITE = {
    CaseStatus.ACCEPTED,
    CaseStatus.PRELIMINARY,
    CaseStatus.FINAL,
    CaseStatus.VALIDATED,
    CaseStatus.REFUSED,
    EventKind.VALIDATED,
    EventKind.REFUSED,
}


# What was acknowledged, by the reason the version owed it (ReportAcknowledgement.reason).
_ACKNOWLEDGED: dict[str, LazyString] = {
    "critical": lazy_gettext("Critical finding acknowledged"),
    "discrepancy": lazy_gettext("Major discrepancy acknowledged"),
}
# The acknowledgement workflow's keys on the timeline (activities.acknowledgements.step_key).
_ACK_KEY = re.compile(r"^ack-(\d+)-")


def _report_of(event: CaseEvent) -> int | None:
    """The version an entry of the acknowledgement workflow is about."""
    keyed = _ACK_KEY.match(event.key or "")
    return int(keyed.group(1)) if keyed else None


# An entry about images says its counts (garde.study_links.counts).
_IMAGES = re.compile(r"^(\d+) series, (\d+) instances(; opened the case)?$")


def images(series: int, instances: int) -> str:
    """ "2 series, 120 images", as the reader's language says it."""
    return ", ".join(
        (
            ngettext("%(num)d series", "%(num)d series", series),
            ngettext("%(num)d image", "%(num)d images", instances),
        )
    )


def event_detail(event: CaseEvent, show_experts: bool = True) -> str:
    """The muted words after the label: the step, the channel, the alert, the reason."""
    counted = _IMAGES.match(event.detail or "")
    if event.kind.startswith("study_") and counted:
        said = images(int(counted.group(1)), int(counted.group(2)))
        return said + ("; " + gettext("the images opened the case") if counted.group(3) else "")
    if event.kind == EventKind.COORDINATORS_ALERTED:
        return alert_text(event.detail, event.case, _report_of(event))
    if event.kind == EventKind.SLA_BREACH:
        found = BREACHES.get(event.detail)
        return str(found) if found is not None else event.detail
    if event.status == CaseStatus.OFFERED:
        # The step of the ladder ("primary", "broadcast to 3 experts"): for coordinators.
        many = _MANY_OFFERED.match(event.detail or "")
        step = many.group(1) if many else event.detail
        return gettext("%(step)s step", step=word(step, "step")) if show_experts and step else ""
    if event.kind in _ACK_STEPS:
        return acknowledgement_detail(event.detail)
    if event.kind == EventKind.DECLINED and not show_experts:
        return ""
    if event.kind == EventKind.REPORT:
        return ""  # "addendum": the label says it
    if _is(event, CaseStatus.VALIDATED, EventKind.VALIDATED):
        # The protocol to scan with, by its name in the library (the entry may keep its code).
        protocol = event.case.protocol
        return protocol.name if protocol is not None else event.detail
    if _is(event, CaseStatus.REFUSED, EventKind.REFUSED):
        return event.case.refusal_reason or event.detail
    if event.kind == EventKind.SCANNED:
        return str(_SCANNED_BY.get(event.detail, event.detail))
    return event.detail


# How the scan was known (workflows/case.py `_scanned`).
_SCANNED_BY = {
    "site": lazy_gettext("marked by the site"),
    "images": lazy_gettext("the images arrived"),
}


def _is(event: CaseEvent, status: CaseStatus, kind: EventKind) -> bool:
    """The entry says this step, as a status the workflow wrote or an event of its own."""
    return event.kind == kind or (event.kind == EventKind.STATUS and event.status == status)


# The acknowledgement's steps (activities/acknowledgements.py, workflows/acknowledgement.py)
# and the case's status entries (workflows/case.py: a report's `critical finding`, a
# cancellation's `by someone`) store their details in fixed English forms.
_ACK_STEPS = {
    EventKind.ACK_REQUESTED,
    EventKind.SITE_TEXTED,
    EventKind.SITE_CALLED,
    EventKind.ACKNOWLEDGED,
    EventKind.STATUS,
}
_ASKED = re.compile(r"^(critical|discrepancy) category (\d+), report \d+$")
_BY = re.compile(r"^by (.+?)(?: via (\w+))?$")
_ACK_WORDS: dict[str, LazyString] = {
    "critical finding": lazy_gettext("critical finding"),
    "asked": lazy_gettext("asked"),
    "reminded": lazy_gettext("reminded"),
    "skipped: no phone": lazy_gettext("skipped: no phone"),
    "not sent": lazy_gettext("not sent"),
}


def acknowledgement_detail(detail: str) -> str:
    """An acknowledgement step's detail in the reader's words: `critical category 1, report
    8`, `asked; not sent`, `by +33612345678 via voice` (a phone shown as stored: the site's
    call-back phone). A form not known shows as it is."""
    asked = _ASKED.match(detail)
    if asked:
        if asked.group(1) == "discrepancy":
            return gettext("major discrepancy, category %(category)s", category=asked.group(2))
        return gettext("critical finding, category %(category)s", category=asked.group(2))
    by = _BY.match(detail)
    if by:
        who, via = by.group(1), by.group(2)
        if via is None:
            return gettext("by %(who)s", who=who)
        channel = VIA.get(via)
        return gettext(
            "by %(who)s %(via)s", who=who, via=str(channel) if channel is not None else via
        )
    parts = detail.split("; ") if detail else []
    return "; ".join(str(_ACK_WORDS[p]) if p in _ACK_WORDS else p for p in parts)


def why(ranking: dict[str, Any]) -> list[str]:
    """The ranking's reasons for an offer, as short phrases a coordinator reads at a glance."""
    if not ranking:
        return []
    since = ranking.get("minutes_since_last_offer")
    reads = int(ranking.get("reads_this_shift") or 0)
    phrases = [
        gettext("#%(rank)s of the eligible", rank=ranking.get("rank")),
        gettext("%(tier)s tier", tier=word(str(ranking.get("tier")), "tier")),
        gettext(
            "%(load)s of %(most)s cases held",
            load=ranking.get("load"),
            most=ranking.get("max_concurrent"),
        ),
        ngettext("%(num)d read this shift", "%(num)d reads this shift", reads),
        gettext("never offered before")
        if since is None
        else gettext("last offer %(duration)s before", duration=duration(since * 60)),
    ]
    if ranking.get("open_offers"):
        phrases.append(
            ngettext(
                "%(num)d other offer open", "%(num)d other offers open", ranking["open_offers"]
            )
        )
    if ranking.get("reachable") is False:
        phrases.append(gettext("SMS failed lately"))
    if ranking.get("subspecialty_match"):
        phrases.append(gettext("subspecialty matches"))
    return phrases


# The words of the domain's values as a page shows them (a badge, a choice), by kind: an
# offer is feminine in French, a case masculine. A value not listed shows as it is.
_WORDS: dict[str, dict[str, LazyString]] = {
    "status": {
        CaseStatus.TO_VALIDATE: lazy_pgettext("case", "to validate"),
        CaseStatus.VALIDATED: lazy_pgettext("case", "validated"),
        CaseStatus.REFUSED: lazy_pgettext("case", "refused"),
        CaseStatus.REQUESTED: lazy_pgettext("case", "requested"),
        CaseStatus.OFFERED: lazy_pgettext("case", "offered"),
        CaseStatus.ACCEPTED: lazy_pgettext("case", "accepted"),
        CaseStatus.PRELIMINARY: lazy_pgettext("case", "preliminary"),
        CaseStatus.FINAL: lazy_pgettext("case", "final"),
        CaseStatus.CANCELLED: lazy_pgettext("case", "cancelled"),
    },
    "priority": {
        Priority.STAT: lazy_gettext("stat"),
        Priority.URGENT: lazy_gettext("urgent"),
        Priority.ROUTINE: lazy_gettext("routine"),
    },
    "tier": {Tier.PRIMARY: lazy_gettext("primary"), Tier.BACKUP: lazy_gettext("backup")},
    "step": {
        LadderStep.PRIMARY: lazy_pgettext("step", "primary"),
        LadderStep.BACKUP: lazy_pgettext("step", "backup"),
        LadderStep.BROADCAST: lazy_pgettext("step", "broadcast"),
        LadderStep.COORDINATOR: lazy_pgettext("step", "coordinator"),
    },
    "source": {
        ShiftSource.MANUAL: lazy_gettext("added by hand"),
        ShiftSource.ROTATION: lazy_gettext("from a rotation"),
        ShiftSource.IMPORT: lazy_gettext("imported"),
        ShiftSource.OVERRIDE: lazy_gettext("override"),
    },
    "report": {
        ReportKind.PRELIMINARY: lazy_pgettext("report", "preliminary"),
        ReportKind.FINAL: lazy_pgettext("report", "final"),
        ReportKind.ADDENDUM: lazy_pgettext("report", "addendum"),
    },
    "offer": {
        OfferStatus.OPEN: lazy_pgettext("offer", "open"),
        OfferStatus.ACCEPTED: lazy_pgettext("offer", "accepted"),
        OfferStatus.DECLINED: lazy_pgettext("offer", "declined"),
        OfferStatus.EXPIRED: lazy_pgettext("offer", "expired"),
        OfferStatus.WITHDRAWN: lazy_pgettext("offer", "withdrawn"),
        OfferStatus.UNDELIVERABLE: lazy_pgettext("offer", "undeliverable"),
    },
    "deadline": {
        "accept": lazy_gettext("accept"),
        "validate": lazy_gettext("validate"),
        "report": lazy_gettext("report"),
    },
    # A patient's sex as an order gives it (HL7 table 0001).
    "sex": {
        "F": lazy_pgettext("sex", "female"),
        "M": lazy_pgettext("sex", "male"),
        "O": lazy_pgettext("sex", "other"),
        "U": lazy_pgettext("sex", "unknown"),
    },
    # How a case was asked for (garde.domain.OrderSource).
    "ordered_via": {
        OrderSource.WEB: lazy_pgettext("ordered", "the site's form or the API"),
        OrderSource.HL7: lazy_pgettext("ordered", "the RIS, over HL7"),
        OrderSource.FHIR: lazy_pgettext("ordered", "FHIR"),
        OrderSource.IMAGES: lazy_pgettext("ordered", "its images"),
    },
    "role": {
        Role.SITE: lazy_pgettext("role", "site"),
        Role.EXPERT: lazy_pgettext("role", "expert"),
        Role.COORDINATOR: lazy_pgettext("role", "coordinator"),
        Role.ADMIN: lazy_pgettext("role", "admin"),
    },
    # The message log (web/message_log.py): what each SMS was, and how far it went.
    "sms": {
        "offer": lazy_pgettext("sms", "offer"),
        "yours": lazy_pgettext("sms", "case assigned"),
        "reassigned": lazy_pgettext("sms", "reassigned away"),
        "reminder": lazy_pgettext("sms", "report reminder"),
        "validate_reminder": lazy_pgettext("sms", "validation reminder"),
        "new_images": lazy_pgettext("sms", "new images"),
        "taken": lazy_pgettext("sms", "taken by another"),
        "withdrawn": lazy_pgettext("sms", "offer withdrawn"),
        "cancelled": lazy_pgettext("sms", "case cancelled"),
        "not_eligible": lazy_pgettext("sms", "no longer eligible"),
        "site_accepted": lazy_pgettext("sms", "site: accepted"),
        "site_critical": lazy_pgettext("sms", "site: critical finding"),
        "site_report_ready": lazy_pgettext("sms", "site: report ready"),
        "site_validated": lazy_pgettext("sms", "site: indication validated"),
        "site_refused": lazy_pgettext("sms", "site: indication refused"),
        "scanned": lazy_pgettext("sms", "scan done"),
        "site_ack_request": lazy_pgettext("sms", "site: acknowledge, please"),
        "site_ack_reminder": lazy_pgettext("sms", "site: acknowledgement reminder"),
        "alert_unassigned": lazy_pgettext("sms", "alert: unassigned"),
        "alert_nobody_eligible": lazy_pgettext("sms", "alert: nobody eligible"),
        "alert_accept_breach": lazy_pgettext("sms", "alert: accept deadline"),
        "alert_validate_breach": lazy_pgettext("sms", "alert: validation deadline"),
        "alert_report_breach": lazy_pgettext("sms", "alert: report deadline"),
        "alert_unreachable": lazy_pgettext("sms", "alert: unreachable"),
        "alert_stuck": lazy_pgettext("sms", "alert: stuck"),
        "alert_coverage_gap": lazy_pgettext("sms", "alert: coverage gap"),
        "alert_sms_stopped": lazy_pgettext("sms", "alert: SMS stopped"),
        "alert_webhook_failing": lazy_pgettext("sms", "alert: webhook failing"),
        "alert_hl7_failing": lazy_pgettext("sms", "alert: HL7 failing"),
        "alert_ack_overdue": lazy_pgettext("sms", "alert: not acknowledged"),
        "test_message": lazy_pgettext("sms", "test message"),
        "answer_accept": lazy_pgettext("sms", "answer: accept"),
        "answer_decline": lazy_pgettext("sms", "answer: decline"),
        "answer": lazy_pgettext("sms", "answer"),
        "message": lazy_pgettext("sms", "message"),
    },
    "sms_status": {
        "outbox": lazy_pgettext("sms", "in the outbox"),
        "sending": lazy_pgettext("sms", "sending"),
        "accepted": lazy_pgettext("sms", "queued"),
        "scheduled": lazy_pgettext("sms", "queued"),
        "queued": lazy_pgettext("sms", "queued"),
        "sent": lazy_pgettext("sms", "sent"),
        "delivered": lazy_pgettext("sms", "delivered"),
        "read": lazy_pgettext("sms", "read"),
        "undelivered": lazy_pgettext("sms", "undelivered"),
        "failed": lazy_pgettext("sms", "failed"),
        "canceled": lazy_pgettext("sms", "cancelled"),
        "received": lazy_pgettext("sms", "received"),
    },
    "call_status": {
        "outbox": lazy_pgettext("call", "in the outbox"),
        "placing": lazy_pgettext("call", "placing"),
        "queued": lazy_pgettext("call", "queued"),
        "ringing": lazy_pgettext("call", "ringing"),
        "in-progress": lazy_pgettext("call", "in progress"),
        "completed": lazy_pgettext("call", "completed"),
        "busy": lazy_pgettext("call", "busy"),
        "no-answer": lazy_pgettext("call", "no answer"),
        "failed": lazy_pgettext("call", "failed"),
        "canceled": lazy_pgettext("call", "cancelled"),
    },
}


def word(value: str, kind: str) -> str:
    """`urgent` as the reader's language says it, for a value of `kind` (see _WORDS)."""
    return str(_WORDS[kind].get(value, value))


def money(cents: int, currency: str) -> str:
    return f"{number(cents / 100, 2)} {currency}"


def number(value: float, decimals: int = 1, fixed: bool = True) -> str:
    """`1,234.5` or `1 234,5`: as the reader's language writes numbers; not `fixed`, the
    decimals that are zero are left out (`28`, `12,5`)."""
    pattern = "#,##0." + ("0" if fixed else "#") * decimals if decimals else "#,##0"
    return format_decimal(value, pattern, locale=get_locale())


def install(bp: Blueprint) -> None:
    """Make the helpers available to every template; registering twice is harmless."""
    for name, f in (
        ("local_time", local_time),
        ("day", day),
        ("word", word),
        ("waited", waited),
        ("money", money),
        ("number", number),
        ("event_label", event_label),
        ("event_detail", event_detail),
        ("why", why),
        ("duration", duration),
        ("countdown", countdown),
        ("phone", phones.readable),
        ("images", images),
    ):
        bp.add_app_template_filter(f, name)
    for name, g in (
        ("sla", deadlines),
        ("events_shown", events_shown),
        ("sla_state", sla_state),
        ("next_deadline", next_deadline),
        ("alert_text", alert_text),
        ("arrived", arrived),
        ("awaits_question", awaits_question),
        ("now", utcnow),
    ):
        bp.add_app_template_global(g, name)
    bp.app_context_processor(lambda: {"priorities": [p.value for p in Priority]})
