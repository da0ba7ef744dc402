"""Domain vocabulary shared by the database, the workflows, the rosters and the web."""

from __future__ import annotations

from enum import StrEnum


class Priority(StrEnum):
    STAT = "stat"
    URGENT = "urgent"
    ROUTINE = "routine"


class CaseStatus(StrEnum):
    # Régulation (a site whose `regulation` is on): the request comes before the scan. An
    # expert takes it from the ladder and validates the indication with a protocol (or
    # refuses it); the site scans, and the case goes on to reading as any other.
    TO_VALIDATE = "to_validate"
    VALIDATED = "validated"
    REFUSED = "refused"
    REQUESTED = "requested"
    OFFERED = "offered"
    ACCEPTED = "accepted"
    PRELIMINARY = "preliminary"
    FINAL = "final"
    CANCELLED = "cancelled"

    @property
    def is_open(self) -> bool:
        return self not in (CaseStatus.FINAL, CaseStatus.CANCELLED, CaseStatus.REFUSED)

    @property
    def is_held(self) -> bool:
        """An expert holds the case in this status: while it is to be validated, only when
        its `assigned_expert` is set (the ladder may still be offering it)."""
        return self in (
            CaseStatus.ACCEPTED,
            CaseStatus.PRELIMINARY,
            CaseStatus.TO_VALIDATE,
            CaseStatus.VALIDATED,
        )


# An expert's load: the cases assigned to them in these statuses.
HELD_STATUSES = tuple(s.value for s in CaseStatus if s.is_held)


class Tier(StrEnum):
    PRIMARY = "primary"
    BACKUP = "backup"


class ShiftSource(StrEnum):
    """Where a shift came from."""

    MANUAL = "manual"
    ROTATION = "rotation"
    IMPORT = "import"
    OVERRIDE = "override"


class SwapStatus(StrEnum):
    PENDING = "pending"  # waiting for the other expert
    ACCEPTED = "accepted"  # the other expert said yes; waiting for a coordinator
    APPLIED = "applied"
    REFUSED = "refused"
    CANCELLED = "cancelled"


class ReportKind(StrEnum):
    PRELIMINARY = "preliminary"
    FINAL = "final"
    ADDENDUM = "addendum"


class Discrepancy(StrEnum):
    """How the final differs from the preliminary report, as its expert marks it."""

    NONE = "none"
    MINOR = "minor"
    MAJOR = "major"  # the site is told at once and acknowledges, as for a critical finding


class OfferStatus(StrEnum):
    OPEN = "open"
    ACCEPTED = "accepted"
    DECLINED = "declined"
    EXPIRED = "expired"
    WITHDRAWN = "withdrawn"  # the case was taken by someone else, reassigned or cancelled
    UNDELIVERABLE = "undeliverable"  # the SMS could not reach the phone


class Role(StrEnum):
    SITE = "site"
    EXPERT = "expert"
    COORDINATOR = "coordinator"
    ADMIN = "admin"


STAFF = (Role.COORDINATOR, Role.ADMIN)


class EventKind(StrEnum):
    """What a timeline entry records; a status change carries its new status beside it."""

    STATUS = "status"
    DECLINED = "declined"
    OFFER_EXPIRED = "offer_expired"
    OFFER_UNDELIVERABLE = "offer_undeliverable"
    OFFER_WITHDRAWN = "offer_withdrawn"
    RELEASED = "released"
    REASSIGNED = "reassigned"
    PRIORITY_CHANGED = "priority_changed"
    COORDINATORS_ALERTED = "coordinators_alerted"
    REMINDER_SENT = "reminder_sent"
    SLA_BREACH = "sla_breach"
    REPORT = "report"
    ACKNOWLEDGED = "acknowledged"
    COORDINATOR_ON_IT = "coordinator_on_it"  # a coordinator pressed 1 on a call: calls stop
    # The case's images (dicom/arrivals.py, the workflow's quiet period): the first arrival of
    # a study with its counts, the study quiet for the site's period, and an arrival after.
    STUDY_ARRIVED = "study_arrived"
    STUDY_STABLE = "study_stable"
    STUDY_REOPENED = "study_reopened"
    # A report version the site must acknowledge (workflows/acknowledgement.py): asked, then
    # each step of its ladder (the site texted, called); the coordinators alerted and the
    # acknowledgement itself are the kinds above.
    ACK_REQUESTED = "ack_requested"
    SITE_TEXTED = "site_texted"
    SITE_CALLED = "site_called"
    # Régulation: the indication validated with a protocol, or refused, by the holder; the
    # scan done (marked by the site, or the first images' arrival).
    VALIDATED = "validated"
    REFUSED = "refused"
    SCANNED = "scanned"
    # A status told back to the site's RIS (HL7 order status), or a failed attempt.
    ORDER_STATUS_SENT = "order_status_sent"


class AlertKind(StrEnum):
    """Why the coordinators are alerted (SMS and a banner on the board)."""

    UNASSIGNED = "unassigned"  # the ladder ran out and nobody took the case
    NOBODY_ELIGIBLE = "nobody_eligible"  # nobody on duty may read it
    ACCEPT_BREACH = "accept_breach"
    VALIDATE_BREACH = "validate_breach"  # régulation: the indication not validated in time
    REPORT_BREACH = "report_breach"
    UNREACHABLE = "unreachable"  # an expert's phone could not be reached: about the expert
    STUCK = "stuck"  # a write keeps failing; the case waits for it
    COVERAGE_GAP = "coverage_gap"  # no primary on duty ahead: about the roster, no case
    # The site let a critical finding (or a major discrepancy) pass its deadline unacknowledged:
    # resolved when it acknowledges, whatever the case's status.
    ACK_OVERDUE = "ack_overdue"
    # A report version has not reached one of the site's endpoints within the bound: one kind
    # per endpoint, so that the banner and the SMS name it. Resolved when it is delivered (or
    # the site removes the endpoint), whatever the case's status.
    WEBHOOK_FAILING = "webhook_failing"
    HL7_FAILING = "hl7_failing"

    @property
    def settled_by_holder(self) -> bool:
        """Alerts that lose their point once an expert holds the case."""
        return self in (AlertKind.UNASSIGNED, AlertKind.NOBODY_ELIGIBLE, AlertKind.ACCEPT_BREACH)

    @property
    def settled_by_closing(self) -> bool:
        """Alerts about the case itself, over when it is; an unreachable phone is not, nor a
        finding the site has not acknowledged, nor a version the site has not received (the
        case is final by then)."""
        return self not in (
            AlertKind.UNREACHABLE,
            AlertKind.ACK_OVERDUE,
            AlertKind.WEBHOOK_FAILING,
            AlertKind.HL7_FAILING,
        )


class NoticeKind(StrEnum):
    """A short message to an expert about a case; activities turn it into words."""

    YOURS = "yours"  # you now hold the case
    TAKEN = "taken"  # your YES came after someone else's
    NOT_ELIGIBLE = "not_eligible"  # your YES came when you may no longer take it
    WITHDRAWN = "withdrawn"  # the offer to you is withdrawn
    CANCELLED = "cancelled"  # the site cancelled the case you hold
    REASSIGNED = "reassigned"  # a coordinator gave the case you held to someone else
    REMINDER = "reminder"  # the report is due soon
    NEW_IMAGES = "new_images"  # images arrived for the case you hold after it seemed stable
    SCANNED = "scanned"  # régulation: the case you validated is scanned, to be read
    VALIDATE_REMINDER = "validate_reminder"  # régulation: the validation is due soon


class SiteNoticeKind(StrEnum):
    """A short message to the site's callback phone about its case; activities word it."""

    ACCEPTED = "accepted"  # an expert holds the case: who, and when the report is expected
    REPORT_READY = "report_ready"  # the final report is there to read
    CRITICAL = "critical"  # a critical final report, before patch "report-followups"
    ACK_REQUEST = "ack_request"  # a version the site must acknowledge: reply OK N
    ACK_REMINDER = "ack_reminder"  # still not acknowledged
    VALIDATED = "validated"  # régulation: the indication validated, with the protocol to scan
    REFUSED = "refused"  # régulation: the indication refused, with the expert's reason


class OrderSource(StrEnum):
    """How a case was asked for."""

    WEB = "web"  # the API or the site's form
    HL7 = "hl7"  # an ORM^O01 over MLLP from the site's RIS
    FHIR = "fhir"  # a FHIR ServiceRequest
    IMAGES = "images"  # images that came with no request
