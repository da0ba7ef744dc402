"""Typed messages crossing the workflow boundary: workflow input, signals, updates, activities.

Each is a dataclass so that fields can be added later without breaking callers or histories.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from garde.domain import CaseStatus, OfferStatus, Priority, ReportKind, ServiceLevel


@dataclass(frozen=True)
class CaseStart:
    """Workflow input. Service levels travel in seconds so a site contract can override them."""

    case_id: int
    priority: Priority
    offer_timeout_s: int
    accept_within_s: int
    report_within_s: int

    @classmethod
    def for_case(cls, case_id: int, priority: Priority, level: ServiceLevel) -> CaseStart:
        return cls(
            case_id=case_id,
            priority=priority,
            offer_timeout_s=int(level.offer_timeout.total_seconds()),
            accept_within_s=int(level.accept_within.total_seconds()),
            report_within_s=int(level.report_within.total_seconds()),
        )


# --- signals and updates -------------------------------------------------------------------


@dataclass(frozen=True)
class Acceptance:
    expert_id: int
    via: str = "web"


@dataclass(frozen=True)
class SmsAnswer:
    """An expert's SMS reply, already matched to its offer and sender by the webhook."""

    offer_id: int
    expert_id: int
    accept: bool


@dataclass(frozen=True)
class Decline:
    expert_id: int


@dataclass(frozen=True)
class Release:
    expert_id: int


@dataclass(frozen=True)
class ReportDraft:
    expert_id: int
    kind: ReportKind
    findings: str
    impression: str
    critical: bool = False


@dataclass(frozen=True)
class ReportFiled:
    report_id: int
    status: CaseStatus


@dataclass(frozen=True)
class Cancellation:
    by: str


@dataclass(frozen=True)
class Acknowledgement:
    by: str


# --- activities ----------------------------------------------------------------------------


@dataclass(frozen=True)
class StatusChange:
    """A status change and its timeline event; `key` makes the write idempotent."""

    case_id: int
    key: str
    at: datetime
    status: CaseStatus
    expert_id: int | None = None
    detail: str = ""


@dataclass(frozen=True)
class TimelineNote:
    """A timeline event that does not change the status (a decline, an acknowledgement)."""

    case_id: int
    key: str
    at: datetime
    kind: str
    expert_id: int | None = None
    detail: str = ""


@dataclass(frozen=True)
class CandidateQuery:
    case_id: int
    at: datetime
    exclude_expert_ids: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class OfferRequest:
    case_id: int
    expert_id: int
    sequence: int
    at: datetime
    expires_at: datetime


@dataclass(frozen=True)
class OpenedOffer:
    offer_id: int
    expert_id: int


@dataclass(frozen=True)
class OfferClosing:
    offer_id: int
    status: OfferStatus
    at: datetime


@dataclass(frozen=True)
class ExpertNotice:
    """A short SMS to an expert about a case; never carries patient data."""

    expert_id: int
    case_id: int
    key: str
    text: str


@dataclass(frozen=True)
class ReportRecord:
    case_id: int
    request_key: str
    at: datetime
    draft: ReportDraft


@dataclass(frozen=True)
class BillingRequest:
    case_id: int
    at: datetime
