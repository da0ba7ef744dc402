"""What the case workflow knows, in one place: the state that continue-as-new carries over.

It lives outside the workflow module and is imported through the sandbox: a class defined
inside the sandbox sees the sandbox's restricted `datetime`, which Temporal's converter does
not recognise, so a carried `CaseState` could not be decoded by the next run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from garde.domain import OfferStatus, Priority
from garde.messages import CaseStart, RegulationRecord
from garde.service_levels import LadderStep, ServiceLevel


@dataclass
class OpenOffer:
    offer_id: int
    expert_id: int
    outcome: OfferStatus | None = None
    channel: str | None = None
    reason: str = ""
    sent: bool = False


@dataclass
class DeclineMark:
    """An expert said no (or released the case) in this round of the ladder."""

    expert_id: int
    round: int
    channel: str = ""
    reason: str = ""


@dataclass
class Callee:
    """One person a stat case's call ladder rings: an expert, or a coordinator."""

    expert_id: int | None = None
    coordinator_id: int | None = None


@dataclass
class PlacedCall:
    call_id: int
    callee: Callee


@dataclass
class Ringing:
    """The call the ladder waits on, until its answer, its end, or `until`."""

    call_id: int
    until: datetime


@dataclass
class CallLadder:
    """A stat case's phone calls of one round, one callee at a time, beside the ladder: where
    they stand, so that continue-as-new carries a running call ladder over."""

    round: int
    callees: list[Callee]
    next: int = 0  # the index of the next callee to ring
    ringing: Ringing | None = None
    calls: list[PlacedCall] = field(default_factory=list)
    ended: list[int] = field(default_factory=list)  # calls over: answered, or ended
    answered: list[int] = field(default_factory=list)  # calls whose key was acted on
    on_it: int | None = None  # the coordinator who pressed 1: the calls stop
    done: bool = False


@dataclass
class StudyWatch:
    """A study of the case as the workflow follows it: stable once no batch came for its
    site's quiet period after `last_batch` (the workflow's clock); a later batch reopens it."""

    study_id: int
    series: int
    instances: int
    quiet_s: int
    last_batch: datetime
    stable: bool = False

    @property
    def quiet_until(self) -> datetime:
        return self.last_batch + timedelta(seconds=self.quiet_s)


@dataclass
class CaseState:
    """Everything the workflow knows, in one place: what continue-as-new carries over."""

    case_id: int
    requested_at: datetime
    priority: Priority
    level: ServiceLevel
    ladder: list[LadderStep]
    seq: int = 0  # the sequence number of the last write of the case record
    written: str = ""  # the status and holder of the last write, to skip empty ones
    holder: int | None = None
    accepted_at: datetime | None = None  # the first acceptance: what the promise measures
    reported_at: datetime | None = None
    closed_at: datetime | None = None
    # The ladder: where it stands, who was asked in this step, what is open.
    round: int = 1
    step: int = 0
    tried: list[int] = field(default_factory=list)
    offers_made: int = 0
    open_offers: list[OpenOffer] = field(default_factory=list)
    offers_sent_at: datetime | None = None
    answered_offers: list[int] = field(default_factory=list)
    declines: list[DeclineMark] = field(default_factory=list)
    nobody_eligible_since: datetime | None = None
    roster_version: int = 0  # counts the signals that the rosters changed
    roster_read: int = 0  # the roster_version when the eligible experts were last read
    levels_version: int = 0
    # Reporting.
    preliminary_by: int | None = None
    report_filed: bool = False  # any report, ever: from then on the case is not cancelled
    filing_final: bool = False
    final_report_id: int | None = None
    final_by: int | None = None
    cancelled_by: str | None = None
    acknowledged: bool = False
    # The promise's timers: each fires once.
    accept_breached: bool = False
    reminded: bool = False
    report_breached: bool = False
    billed: bool = False
    addenda_until: datetime | None = None
    notices: int = 0  # numbers the notices and alerts, for their idempotency keys
    # The phone calls of a stat case, the latest call ladder (voice-calls).
    calling: CallLadder | None = None
    # The case's studies as they arrive; `batches` counts the arrivals, to wake the watch.
    studies: list[StudyWatch] = field(default_factory=list)
    batches: int = 0
    # Régulation: the holder's decision on the indication, then the scan; its timers.
    regulation: bool = False
    reroute_after_scan: bool = False
    decision: RegulationRecord = field(default_factory=RegulationRecord)
    validate_breached: bool = False
    validate_reminded: bool = False
    # Ordered over HL7: the statuses told to the site's RIS (each once).
    tell_ris: bool = False
    ris_told: list[str] = field(default_factory=list)

    @property
    def refused(self) -> bool:
        """The holder refused the indication: a refusal always says why."""
        return bool(self.decision.refusal_reason)

    @property
    def validating(self) -> bool:
        """A régulation case whose indication waits for the holder's decision."""
        return self.regulation and self.decision.validated_at is None and not self.refused

    @property
    def awaiting_scan(self) -> bool:
        return self.regulation and self.decision.scanned_at is None

    @classmethod
    def at_intake(cls, start: CaseStart) -> CaseState:
        return cls(
            case_id=start.case_id,
            requested_at=start.requested_at,
            priority=start.priority,
            level=start.level,
            ladder=list(start.ladder),
            seq=start.seq,
            offers_made=start.offers_made,
            holder=start.holder,
            accepted_at=start.accepted_at,
            preliminary_by=start.holder if start.preliminary else None,
            report_filed=start.preliminary,
            regulation=start.regulation,
            reroute_after_scan=start.reroute_after_scan,
            decision=start.decision or RegulationRecord(),
            tell_ris=start.tell_ris,
        )
