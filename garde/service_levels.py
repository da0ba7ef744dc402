"""What a site is promised per priority, and how a case keeps score of it.

A site's contract holds the service levels and the escalation ladder per priority; at intake
(and on a priority change) they are copied onto the case, which from then on owns them: the
workflow's timers, the API and the pages all read them from the case.

Annotations are types, not strings (no `from __future__ import annotations`): a
`ServiceLevel` crosses the workflow boundary in every case record, and Temporal's converter
reads its type hints for every value it decodes (garde/messages.py).
"""

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from garde.domain import CaseStatus, Priority

if TYPE_CHECKING:
    from garde.models import Case, Site


@dataclass(frozen=True)
class ServiceLevel:
    """Seconds, so that the level crosses the workflow boundary and JSON columns as it is."""

    offer_timeout_s: int
    accept_within_s: int
    report_within_s: int
    # Régulation: the indication validated within this long of the request; the report
    # deadline then counts from the scan. 0 in a level carried by an older workflow.
    validate_within_s: int = 0

    @property
    def validate_within(self) -> timedelta:
        return timedelta(seconds=self.validate_within_s)

    @property
    def offer_timeout(self) -> timedelta:
        return timedelta(seconds=self.offer_timeout_s)

    @property
    def accept_within(self) -> timedelta:
        return timedelta(seconds=self.accept_within_s)

    @property
    def report_within(self) -> timedelta:
        return timedelta(seconds=self.report_within_s)


class LadderStep(StrEnum):
    """One rung of the escalation ladder (design.md, the case workflow, step 4)."""

    PRIMARY = "primary"  # primary tier, one expert at a time, best first
    BACKUP = "backup"  # backup tier, the same way
    BROADCAST = "broadcast"  # every eligible expert at once, the first to accept wins
    COORDINATOR = "coordinator"  # the coordinators are alerted


DEFAULT_SERVICE_LEVELS: dict[Priority, ServiceLevel] = {
    Priority.STAT: ServiceLevel(3 * 60, 10 * 60, 30 * 60, 5 * 60),
    Priority.URGENT: ServiceLevel(5 * 60, 20 * 60, 60 * 60, 10 * 60),
    Priority.ROUTINE: ServiceLevel(15 * 60, 2 * 3600, 24 * 3600, 60 * 60),
}

DEFAULT_LADDER: tuple[LadderStep, ...] = (
    LadderStep.PRIMARY,
    LadderStep.BACKUP,
    LadderStep.BROADCAST,
    LadderStep.COORDINATOR,
)

# The reminder to the holder goes out at this share of the time allowed to report.
REMINDER_SHARE = 0.75


@dataclass(frozen=True)
class Promise:
    """The service level and the escalation ladder of one priority, as a case carries them."""

    level: ServiceLevel
    ladder: tuple[LadderStep, ...]


def site_promise(site: "Site", priority: Priority) -> Promise:
    """The site's contract for this priority, the defaults where the site says nothing."""
    level = site.service_levels.get(priority.value)
    ladder = site.escalation.get(priority.value)
    default = DEFAULT_SERVICE_LEVELS[priority]
    return Promise(
        # A level stored before validation deadlines existed takes the default's.
        level=ServiceLevel(**{**vars(default), **level}) if level else default,
        ladder=tuple(LadderStep(s) for s in ladder) if ladder else DEFAULT_LADDER,
    )


def case_promise(case: "Case") -> Promise:
    return Promise(
        level=ServiceLevel(
            case.offer_timeout_s,
            case.accept_within_s,
            case.report_within_s,
            case.validate_within_s or 0,
        ),
        ladder=tuple(LadderStep(s) for s in case.escalation),
    )


# --- the site's contract, from outside ---------------------------------------------------------


def parse_service_levels(
    raw: Any, current: Mapping[str, Any], problems: dict[str, str]
) -> dict[str, dict[str, int]]:
    """`service_levels`: per priority, any of the three numbers; the rest kept as they were
    (or the defaults). Absent: the current levels, unchanged. What is wrong goes to
    `problems`, by field."""
    if raw is None:
        return dict(current)
    merged = {
        p.value: {**vars(DEFAULT_SERVICE_LEVELS[p]), **(current.get(p.value) or {})}
        for p in Priority
    }
    if not isinstance(raw, Mapping):
        problems.setdefault(
            "service_levels", "must map stat, urgent or routine to their service levels"
        )
        return merged
    for priority, given in raw.items():
        name = f"service_levels.{priority}"
        if priority not in merged:
            problems.setdefault(name, "is not a priority (stat, urgent, routine)")
            continue
        if not isinstance(given, Mapping):
            problems.setdefault(
                name,
                "must be an object with offer_timeout_s, accept_within_s, report_within_s, "
                "validate_within_s",
            )
            continue
        for key, value in given.items():
            if key not in merged[priority]:
                problems.setdefault(
                    f"{name}.{key}",
                    "is not known; use offer_timeout_s, accept_within_s, report_within_s "
                    "or validate_within_s",
                )
            elif isinstance(value, bool) or not isinstance(value, int):
                problems.setdefault(f"{name}.{key}", "must be a whole number of seconds")
            elif not 1 <= value <= 30 * 24 * 3600:
                problems.setdefault(f"{name}.{key}", "must be between 1 second and 30 days")
            else:
                merged[priority][key] = value
        level = merged[priority]
        if level["accept_within_s"] > level["report_within_s"]:
            problems.setdefault(
                f"{name}.report_within_s", "must not be shorter than accept_within_s"
            )
    return merged


def parse_escalation(
    raw: Any, current: Mapping[str, Any], problems: dict[str, str]
) -> dict[str, list[str]]:
    """`escalation`: per priority, the ladder's steps in order, each at most once."""
    if raw is None:
        return dict(current)
    merged = {p.value: [str(s) for s in current.get(p.value) or DEFAULT_LADDER] for p in Priority}
    known = ", ".join(s.value for s in LadderStep)
    if not isinstance(raw, Mapping):
        problems.setdefault("escalation", "must map stat, urgent or routine to a list of steps")
        return merged
    for priority, steps in raw.items():
        name = f"escalation.{priority}"
        if priority not in merged:
            problems.setdefault(name, "is not a priority (stat, urgent, routine)")
        elif not isinstance(steps, list) or not steps:
            problems.setdefault(name, f"must be a non-empty list of steps from {known}")
        elif any(not isinstance(s, str) or s not in set(LadderStep) for s in steps):
            problems.setdefault(name, f"must be a list of steps from {known}")
        elif len(set(steps)) != len(steps):
            problems.setdefault(name, "names a step twice")
        elif steps == [LadderStep.COORDINATOR.value]:
            problems.setdefault(
                name, "must offer the case to someone before alerting the coordinators"
            )
        else:
            merged[priority] = list(steps)
    return merged


# --- keeping score -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Deadline:
    """One promise of a case: due at `due`, kept when done at or before it."""

    due: datetime
    within_s: int
    started: datetime
    done_at: datetime | None

    def met(self, now: datetime) -> bool | None:
        """True or False once known; None while the clock is still running."""
        if self.done_at is not None:
            return self.done_at <= self.due
        return False if now > self.due else None

    def taken_s(self, now: datetime) -> int:
        """Seconds from the request to done, or to now while it is not done."""
        return int(((self.done_at or now) - self.started).total_seconds())


def deadlines(case: "Case") -> dict[str, Deadline]:
    """The case's accept and report deadlines, from the levels it carries; under régulation,
    its validate deadline too (a refusal decides it as well as a validation), and the report
    counts from the scan: before it, as if the scan were now (never breached)."""
    found = {
        "accept": Deadline(
            case.requested_at + timedelta(seconds=case.accept_within_s),
            case.accept_within_s,
            case.requested_at,
            case.accepted_at,
        ),
    }
    reading_from = case.requested_at
    if case.regulation:
        within = case.validate_within_s or 0
        refused = case.closed_at if case.status == CaseStatus.REFUSED else None
        found["validate"] = Deadline(
            case.requested_at + timedelta(seconds=within),
            within,
            case.requested_at,
            case.validated_at or refused,
        )
        reading_from = case.scanned_at or case.closed_at or datetime.now(UTC)
    found["report"] = Deadline(
        reading_from + timedelta(seconds=case.report_within_s),
        case.report_within_s,
        reading_from,
        case.reported_at,
    )
    return found
