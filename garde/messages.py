"""Typed messages crossing the workflow boundary: workflow input, signals, updates, activities.

Each is a dataclass so that fields can be added later without breaking callers or histories.
An update's argument carries `not_after`: the web stops waiting for a worker after a few
seconds and answers 503, and the update's fate is decided once, in the database, by the first
of the worker admitting it (in time by `not_after`) and the web giving up on it
(garde/admission.py): an action the user was told failed never happens later behind their back.
"""

from dataclasses import dataclass, field
from datetime import datetime

from garde.domain import (
    AlertKind,
    CaseStatus,
    EventKind,
    NoticeKind,
    OfferStatus,
    Priority,
    ReportKind,
    SiteNoticeKind,
    Tier,
)
from garde.service_levels import LadderStep, ServiceLevel


@dataclass(frozen=True)
class StudyArrival:
    """Images of one study for a case, as one association or batch of the index brought them
    (one signal per batch, never per instance): the study's counts so far, what this batch
    added, when it came, and the site's quiet period after which the study is called stable.
    Stable is never proof of completeness. `case_start`: set only when these images opened
    the case; `dicom.arrivals.announce` starts its workflow with it."""

    case_id: int
    study_id: int
    study_instance_uid: str
    series: int
    instances: int
    new_series: int
    new_instances: int
    at: datetime
    quiet_s: int
    # Quoted: a case's start carries its studies, and a study may carry the case's start.
    case_start: "CaseStart | None" = None


@dataclass(frozen=True)
class RegulationRecord:
    """A régulation case's decision and scan as the workflow holds them, written with its
    status."""

    validated_at: datetime | None = None
    validated_by: int | None = None
    protocol_id: int | None = None
    note: str = ""
    refusal_reason: str = ""
    scanned_at: datetime | None = None


@dataclass(frozen=True)
class CaseStart:
    """Workflow input: the case and the promise it carries (copied from the site at intake),
    and the studies that had arrived for it when its workflow was started (images sent before
    the request, or images that opened the case): later ones come as `study_arrived`.

    A case under way whose workflow Temporal lost (Garde 0.1's, which do not replay; a
    Temporal set up afresh) is started again from its record (garde/reconciler.py): the last
    write's sequence number and the offers made go on from there, and its holder keeps it."""

    case_id: int
    requested_at: datetime
    priority: Priority
    level: ServiceLevel
    ladder: list[LadderStep]
    studies: list[StudyArrival] = field(default_factory=list)
    seq: int = 0
    offers_made: int = 0
    holder: int | None = None
    accepted_at: datetime | None = None
    preliminary: bool = False  # the holder filed a preliminary report
    # Régulation (garde.domain.CaseStatus): validated before the scan; for a case under way,
    # its decision and scan as recorded; whether the scan sends it up the ladder again
    # rather than to its validator.
    regulation: bool = False
    decision: RegulationRecord | None = None
    reroute_after_scan: bool = False
    # Ordered by the site's RIS over HL7: each status is told back to it (OrderStatus).
    tell_ris: bool = False
    # The intake wrote the case's status with its first timeline entry: the workflow starts
    # from there. False for a case under way, and one recorded before intakes wrote it.
    first_entry_recorded: bool = False


# --- signals and updates -------------------------------------------------------------------


@dataclass(frozen=True)
class Acceptance:
    expert_id: int
    via: str = "web"
    not_after: datetime | None = None


@dataclass(frozen=True)
class SmsAnswer:
    """An expert's SMS reply, already matched to its offer and sender by the webhook."""

    offer_id: int
    expert_id: int
    accept: bool
    reason: str = ""  # what the expert wrote after NO CODE


@dataclass(frozen=True)
class Decline:
    expert_id: int
    reason: str = ""


@dataclass(frozen=True)
class Release:
    expert_id: int
    not_after: datetime | None = None


@dataclass(frozen=True)
class ReportDraft:
    """A report version as the expert files it (web/inputs.py checks it). `critical` is
    "ACR category 1 or 2": the site must acknowledge; so must it a major `discrepancy`
    between the preliminary and the final."""

    expert_id: int
    kind: ReportKind
    findings: str
    impression: str
    critical: bool = False
    not_after: datetime | None = None
    critical_category: int | None = None
    discrepancy: str | None = None
    technique: str = ""
    recommendations: str = ""
    template: str | None = None

    @property
    def acknowledgement(self) -> tuple[str, int] | None:
        """Why and at which category the site must acknowledge this version; None: it need
        not. A major discrepancy is acknowledged as an urgent (category 2) finding unless
        the version also carries an immediate one."""
        if self.critical_category in (1, 2):
            return "critical", self.critical_category
        if self.discrepancy == "major":
            return "discrepancy", 2
        return None


@dataclass(frozen=True)
class AcknowledgementStart:
    """A report version the site must acknowledge: the acknowledgement workflow's input."""

    case_id: int
    report_id: int
    reason: str  # "critical" or "discrepancy"
    category: int  # 1 or 2: the deadline and the wording follow from it


@dataclass(frozen=True)
class DeliveryStart:
    """A report version to push to the site's endpoints: the delivery workflow's input."""

    case_id: int
    report_id: int


@dataclass(frozen=True)
class ReportFiled:
    report_id: int
    status: CaseStatus


@dataclass(frozen=True)
class Cancellation:
    by: str


# Who a cancellation names when the site's RIS sent it (HL7 ORC-1 CA): the RIS is not told
# its own cancellation back.
CANCELLED_BY_RIS = "RIS"


@dataclass(frozen=True)
class Validation:
    """Régulation: the holder validates the indication with a protocol of the library."""

    expert_id: int
    protocol_id: int
    note: str = ""
    not_after: datetime | None = None


@dataclass(frozen=True)
class Refusal:
    """Régulation: the holder refuses the indication, saying why (the site is told)."""

    expert_id: int
    reason: str
    not_after: datetime | None = None


@dataclass(frozen=True)
class ScanDone:
    """Régulation: the site's technologist did the scan (`via` "site"), or its first images
    arrived ("images")."""

    by: str
    via: str = "site"
    not_after: datetime | None = None


@dataclass(frozen=True)
class OrderStatusStart:
    """A status of a case ordered over HL7, to tell the site's RIS (the OrderStatus
    workflow's input): `status` is the case's (accepted, validated, refused, cancelled)."""

    case_id: int
    status: CaseStatus


@dataclass(frozen=True)
class Acknowledgement:
    """The site acknowledges what it was asked to: `by` whom (a login, or the phone it came
    from), `via` web, api, sms or voice."""

    by: str
    via: str = "web"


# How a site may acknowledge a report version (ReportAcknowledgement.acknowledged_via).
ACKNOWLEDGED_VIA = ("web", "api", "sms", "voice")


@dataclass(frozen=True)
class AcknowledgementAsked:
    """Record that the site must acknowledge a report version, asked at `at`."""

    start: AcknowledgementStart
    at: datetime


@dataclass(frozen=True)
class AcknowledgementDue:
    """Since when the site was asked, by when it must have acknowledged, which site to call."""

    requested_at: datetime
    due_at: datetime
    site_id: int


@dataclass(frozen=True)
class AcknowledgementStep:
    """One step of a version's acknowledgement ladder, on the case's timeline once (`key`)."""

    case_id: int
    key: str
    at: datetime
    kind: EventKind
    detail: str = ""


@dataclass(frozen=True)
class AcknowledgementGiven:
    """The site acknowledged the version at `at`: on its row, its timeline, its alert."""

    case_id: int
    report_id: int
    at: datetime
    acknowledgement: Acknowledgement


@dataclass(frozen=True)
class Reassignment:
    """A coordinator gives the case to a named expert; `force` skips the acceptance rule."""

    expert_id: int
    by: str
    reason: str = ""
    force: bool = False
    not_after: datetime | None = None


@dataclass(frozen=True)
class PriorityChange:
    """A new priority and the site's promise for it; deadlines count from the request time."""

    priority: Priority
    level: ServiceLevel
    ladder: list[LadderStep]
    by: str
    not_after: datetime | None = None


@dataclass(frozen=True)
class OfferUndeliverable:
    """Twilio reported that the offer's SMS did not reach the phone."""

    offer_id: int


@dataclass(frozen=True)
class CallAnswer:
    """A key pressed on a call of a stat case's call ladder, stored by the voice webhook first:
    from an expert, 1 accepts and 2 declines; from a coordinator, 1 says "I am on it" (the
    calls stop) and 2 passes to the next callee. `by` names the coordinator on the timeline."""

    call_id: int
    digits: str
    expert_id: int | None = None
    coordinator_id: int | None = None
    by: str = ""


@dataclass(frozen=True)
class CallEnded:
    """Twilio's status callback: the call ended with no key pressed (no answer, busy, ...)."""

    call_id: int
    status: str


@dataclass(frozen=True)
class RosterChange:
    """The rosters changed: a case waiting for someone eligible looks again."""

    reason: str = ""


@dataclass(frozen=True)
class CaseView:
    """What the workflow holds true now (a query), to compare with the record."""

    status: CaseStatus
    holder: int | None
    seq: int
    round: int
    open_offers: list[int] = field(default_factory=list)


# --- activities ----------------------------------------------------------------------------


@dataclass(frozen=True)
class TimelineEntry:
    kind: EventKind
    status: CaseStatus | None = None
    expert_id: int | None = None
    detail: str = ""


@dataclass(frozen=True)
class CaseRecord:
    """The case as the workflow sees it after write number `seq`, and what it adds to the
    timeline. A record older than the one stored is refused; its timeline entries are kept."""

    case_id: int
    seq: int
    at: datetime
    status: CaseStatus
    holder: int | None
    priority: Priority
    level: ServiceLevel
    ladder: list[LadderStep]
    accepted_at: datetime | None
    reported_at: datetime | None
    closed_at: datetime | None
    entries: list[TimelineEntry] = field(default_factory=list)
    regulation: RegulationRecord | None = None


@dataclass(frozen=True)
class Ranking:
    """Why an expert was chosen: what the ranking weighed, shown beside each offer."""

    rank: int
    tier: Tier
    load: int
    max_concurrent: int
    reads_this_shift: int
    minutes_since_last_offer: int | None
    subspecialty_match: bool | None
    open_offers: int = 0  # offers of other cases waiting for this expert's answer
    # False: SMS do not reach them (turned off, refused, STOP, or the latest offer undelivered)
    reachable: bool = True


@dataclass(frozen=True)
class RankedExpert:
    expert_id: int
    ranking: Ranking


@dataclass(frozen=True)
class CandidateQuery:
    case_id: int
    at: datetime


@dataclass(frozen=True)
class Admission:
    """An update to admit in the first transaction of its handler (garde/admission.py)."""

    update_id: str
    not_after: datetime


@dataclass(frozen=True)
class AdmissionRequest:
    case_id: int
    admission: Admission


@dataclass(frozen=True)
class EligibilityQuery:
    """`admission`: an acceptance's, decided in the same transaction as its eligibility."""

    case_id: int
    expert_id: int
    at: datetime
    admission: Admission | None = None


@dataclass(frozen=True)
class NewOffer:
    expert_id: int
    sequence: int
    ranking: Ranking


@dataclass(frozen=True)
class OffersToOpen:
    """Offers to open at once, and the case's record that says so (written in the same
    transaction; None in histories from before it was)."""

    case_id: int
    round: int
    step: LadderStep
    at: datetime
    expires_at: datetime
    offers: list[NewOffer]
    record: CaseRecord | None = None


@dataclass(frozen=True)
class OpenedOffer:
    offer_id: int
    expert_id: int


@dataclass(frozen=True)
class OfferClosing:
    offer_id: int
    status: OfferStatus
    at: datetime
    channel: str | None = None
    reason: str = ""


@dataclass(frozen=True)
class OffersClosing:
    closings: list[OfferClosing]


@dataclass(frozen=True)
class ExpertNotice:
    """A short SMS to an expert about a case; never carries patient data."""

    expert_id: int
    case_id: int
    key: str
    kind: NoticeKind


@dataclass(frozen=True)
class SiteNotice:
    """A short SMS to the site's callback phone about its case; never carries patient data.
    `expert_id`: who now holds the case (accepted)."""

    case_id: int
    key: str
    kind: SiteNoticeKind
    expert_id: int | None = None
    # A version to acknowledge: its ACR category and why ("critical" or "discrepancy").
    category: int | None = None
    reason: str = ""


# The text an expert asks for from their Notifications page, to check that SMS reach them.
TEST_MESSAGE = "test_message"


@dataclass(frozen=True)
class PersonText:
    """An SMS to one person, outside a case's ladder (a test message, coordinators told that
    an expert sent STOP): rendered from the template `kind` in the person's language, with
    `params` (never patient data). Exactly one of `expert_id` and `coordinator_id`."""

    key: str
    kind: str
    expert_id: int | None = None
    coordinator_id: int | None = None
    params: dict[str, str] = field(default_factory=dict)
    case_id: int | None = None


@dataclass(frozen=True)
class CallRequest:
    """Phone one person about a stat case, once per `key`; Twilio gives up after
    `ring_seconds` of ringing. Exactly one of `expert_id`, `coordinator_id` and `site_id`
    (the site's phone, about a finding it has not acknowledged)."""

    key: str
    case_id: int
    ring_seconds: int
    expert_id: int | None = None
    coordinator_id: int | None = None
    site_id: int | None = None


@dataclass(frozen=True)
class AlertRequest:
    """Raise an alert for the coordinators: a banner on the board; answers whom to text."""

    key: str
    case_id: int
    kind: AlertKind
    at: datetime
    expert_id: int | None = None


@dataclass(frozen=True)
class CoordinatorNotice:
    coordinator_id: int
    alert_key: str
    case_id: int
    kind: AlertKind


@dataclass(frozen=True)
class ReportRecord:
    """A report version to store; `record`, the case record as it is once the version is
    stored, written in the same transaction (None: the workflow writes it afterwards), as
    is the filing update's `admission`."""

    case_id: int
    request_key: str
    at: datetime
    draft: ReportDraft
    record: CaseRecord | None = None
    admission: Admission | None = None


@dataclass(frozen=True)
class StoredReport:
    """A version stored with its case record, and the site's endpoints it is to go to."""

    report_id: int
    channels: list[str]


@dataclass(frozen=True)
class StudyStability:
    """Record a study stable at `stable_at` (while it still holds `instances`: a batch indexed
    meanwhile keeps it receiving), or receiving again (`stable_at` None)."""

    study_id: int
    instances: int
    stable_at: datetime | None


@dataclass(frozen=True)
class BillingRequest:
    """Bill the read of `expert_id`, reported at `read_at` and first accepted at `accepted_at`
    (the workflow knows all three; the site's tariff says which instant is priced). With
    `cancelled`, the case was cancelled at `read_at` after `expert_id` accepted it: billed
    when the tariff in force at the acceptance bills a cancellation."""

    case_id: int
    expert_id: int
    read_at: datetime
    accepted_at: datetime | None = None
    cancelled: bool = False
