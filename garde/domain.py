"""Domain vocabulary shared by the database, the workflows, the rosters and the web."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum


class Priority(StrEnum):
    STAT = "stat"
    URGENT = "urgent"
    ROUTINE = "routine"


class CaseStatus(StrEnum):
    REQUESTED = "requested"
    OFFERED = "offered"
    ACCEPTED = "accepted"
    PRELIMINARY = "preliminary"
    FINAL = "final"
    CANCELLED = "cancelled"

    @property
    def is_open(self) -> bool:
        return self not in (CaseStatus.FINAL, CaseStatus.CANCELLED)

    @property
    def is_held(self) -> bool:
        return self in (CaseStatus.ACCEPTED, CaseStatus.PRELIMINARY)


HELD_STATUSES = (CaseStatus.ACCEPTED.value, CaseStatus.PRELIMINARY.value)


class Tier(StrEnum):
    PRIMARY = "primary"
    BACKUP = "backup"


class ReportKind(StrEnum):
    PRELIMINARY = "preliminary"
    FINAL = "final"
    ADDENDUM = "addendum"


class OfferStatus(StrEnum):
    OPEN = "open"
    ACCEPTED = "accepted"
    DECLINED = "declined"
    EXPIRED = "expired"
    WITHDRAWN = "withdrawn"


class Role(StrEnum):
    SITE = "site"
    EXPERT = "expert"
    COORDINATOR = "coordinator"
    ADMIN = "admin"


STAFF = (Role.COORDINATOR, Role.ADMIN)


MODALITIES = ("CT", "MR", "CR", "DX", "US", "NM", "PT", "XA", "MG")


@dataclass(frozen=True)
class ServiceLevel:
    """What a site is promised for one priority (design.md, service levels)."""

    offer_timeout: timedelta
    accept_within: timedelta
    report_within: timedelta


DEFAULT_SERVICE_LEVELS: dict[Priority, ServiceLevel] = {
    Priority.STAT: ServiceLevel(timedelta(minutes=3), timedelta(minutes=10), timedelta(minutes=30)),
    Priority.URGENT: ServiceLevel(
        timedelta(minutes=5), timedelta(minutes=20), timedelta(minutes=60)
    ),
    Priority.ROUTINE: ServiceLevel(timedelta(minutes=15), timedelta(hours=2), timedelta(hours=24)),
}
