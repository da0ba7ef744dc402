"""What the API answers about a case (web/case_views.py builds it): one model per shape, so
openapi.json describes exactly what a site, an expert or a coordinator is shown."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import Field, RootModel

from garde.domain import (
    CaseStatus,
    Discrepancy,
    EventKind,
    OfferStatus,
    OrderSource,
    Priority,
    ReportKind,
)
from garde.messages import Ranking
from web.api.describe import Answer


class Deadline(Answer):
    """One service-level deadline of the case, counted from the request; under régulation,
    the report's from the scan (before it, from now: it cannot be breached yet)."""

    due: datetime
    within_s: int
    done_at: datetime | None
    taken_s: int | None = Field(description="seconds from the request to done, or to now")
    met: bool | None = Field(description="null while it may still be met")
    breached: bool


class OwnOffer(Answer):
    """An offer as the expert it was made to sees it."""

    code: str = Field(description="the code the expert's SMS answer names")
    sent_at: datetime
    expires_at: datetime
    outcome: OfferStatus
    answered_at: datetime | None


class Offer(Answer):
    """An offer as a coordinator sees it: who, when, how it went and why this expert."""

    expert: str
    expert_name: str
    round: int
    step: str
    sent_at: datetime
    expires_at: datetime
    outcome: OfferStatus
    answered_at: datetime | None
    channel: str | None = Field(description="how it was answered: sms, web")
    decline_reason: str | None
    why: Ranking | None = Field(
        description="why this expert was asked: the ranking's reasons (null: none recorded)"
    )


class Report(Answer):
    """One version of the report, signed: `sha256` of its canonical content."""

    id: int
    version: int
    kind: ReportKind
    template: str | None
    technique: str
    findings: str
    impression: str
    recommendations: str
    critical: bool = Field(description="critical_category 1 or 2: the site must acknowledge")
    critical_category: int | None = Field(
        description="ACR: 1 immediate, 2 urgent, 3 significant; null: none"
    )
    discrepancy: Discrepancy | None
    expert: str
    expert_name: str
    created_at: datetime
    signed_by: str
    signed_at: datetime
    sha256: str


class ReportVersion(Answer):
    version: int
    kind: ReportKind
    signed_by: str
    signed_by_name: str
    signed_at: datetime
    sha256: str
    previous_sha256: str | None
    verified: bool = Field(
        description="its stored content still gives its digest, which follows the previous one"
    )


class ReportDocument(Report):
    """The report with its chain of versions and the acknowledgement the site owes or gave."""

    signature_verified: bool
    versions: list[ReportVersion]
    acknowledgement_required: bool
    acknowledgement_reason: Literal["critical", "discrepancy"] | None
    acknowledgement_due_at: datetime | None
    acknowledged_by: str | None
    acknowledged_at: datetime | None
    acknowledged_via: Literal["web", "api", "sms", "voice"] | None


class Delivery(Answer):
    """One attempt to push a report version to one of the site's endpoints."""

    version: int
    channel: Literal["webhook", "hl7"] = Field(
        description="the site's report_webhook_url (FHIR bundle) or hl7_endpoint (ORU^R01)"
    )
    attempt: int = Field(description="1, 2, ...: each version is tried until delivered")
    at: datetime
    outcome: Literal["delivered", "failed"]
    detail: str = Field(
        description="the HTTP status, the ACK's code and text, or the connection's error"
    )


class TimelineEntry(Answer):
    at: datetime
    kind: EventKind
    status: CaseStatus | None
    expert: str | None
    detail: str | None


class StudyArrived(Answer):
    """What arrived of the case's images, summed over its studies."""

    series: int
    instances: int
    stable: bool = Field(
        description="no image arrived for the site's quiet period: never proof that the "
        "study is complete"
    )
    first_arrival_at: datetime
    last_arrival_at: datetime
    new_images_at: datetime | None = Field(
        description="the latest batch that came after the images were called stable"
    )


class SeriesReceived(Answer):
    series_instance_uid: str
    series_number: int | None
    modality: str
    body_part: str
    series_description: str
    instance_count: int


class StudyReceived(Answer):
    """One study linked to the case, as the index counts it."""

    study_instance_uid: str
    accession_number: str
    study_date: date | None
    study_description: str
    modalities: list[str]
    series_count: int
    instance_count: int
    size_bytes: int
    first_arrival_at: datetime
    last_arrival_at: datetime
    stable: bool = Field(
        description="no image arrived for the site's quiet period: never proof that the "
        "study is complete"
    )
    stable_at: datetime | None
    viewer_url: str | None = Field(
        description="where a viewer opens the study: GARDE_VIEWER_URL_TEMPLATE, or Garde's own "
        "OHIF at /ohif, reading a DICOMweb root signed for this case and the caller (read-only, "
        "valid 8 hours: ask again for a fresh one); null when Garde knows no viewer"
    )
    series: list[SeriesReceived] = Field(description="its series, by number")


class CaseStudies(Answer):
    """The studies linked to a case, oldest first (none while no image arrived)."""

    case_id: int
    studies: list[StudyReceived]


class Patient(Answer):
    """The patient as the site's order named them (HL7 PID, FHIR Patient)."""

    id: str | None = Field(description="the site's patient identifier")
    name: str | None
    birth_date: date | None
    sex: Literal["F", "M", "O", "U"] | None


class ProtocolPicked(Answer):
    code: str
    name: str
    text: str = Field(description="what the technologist does")


class Regulation(Answer):
    """Régulation: an expert validates the indication with a protocol (or refuses it)
    before the scan; the report is due from the scan."""

    validate_within_s: int
    validate_by: datetime = Field(description="the validation's deadline")
    reroute_after_scan: bool = Field(
        description="the scan sends the case up the ladder again, not to its validator"
    )
    protocol: ProtocolPicked | None = Field(description="the protocol validated; null before")
    note: str = Field(description="the validating expert's note for the technologist")
    validated_at: datetime | None
    validated_by: str | None = Field(description="the validating expert's code")
    refusal_reason: str = Field(description="why the indication was refused; empty: it was not")
    scanned_at: datetime | None = Field(
        description="when the site said the scan was done, or its first images arrived"
    )


class CaseSummary(Answer):
    """A case merely offered to an expert: what the offer SMS says, its times, their offers;
    never the clinical question or a report."""

    id: int
    sight: Literal["summary"]
    status: CaseStatus
    priority: Priority
    site: str
    site_name: str
    modality: str
    subspecialty: str | None
    requested_at: datetime
    sla: dict[str, Deadline] = Field(description="by name: accept, validate (régulation), report")
    study: StudyArrived | None = Field(description="null while no image arrived")
    offers: list[OwnOffer]


class CaseRecord(Answer):
    """The case for its site, an expert who holds or held it (`record`), and coordinators and
    admins (`all`, with every offer)."""

    id: int
    sight: Literal["record", "all"]
    status: CaseStatus
    priority: Priority
    site: str
    site_name: str
    accession_number: str
    study_instance_uid: str | None
    modality: str
    body_part: str
    study_description: str
    exam_code: str | None = Field(description="the site's RIS procedure code, if it gave one")
    clinical_question: str
    requesting_physician: str
    callback_phone: str
    subspecialty: str | None
    assigned_expert: str | None
    requested_at: datetime
    ordered_via: OrderSource = Field(description="the API or the site's form, HL7, FHIR, images")
    placer_order_number: str | None = Field(
        description="the RIS's number for the order (HL7 ORC-2, FHIR identifier PLAC)"
    )
    patient: Patient | None = Field(description="null: the order named no patient")
    regulation: Regulation | None = Field(description="null: not under régulation")
    timeline: list[TimelineEntry]
    sla: dict[str, Deadline] = Field(description="by name: accept, validate (régulation), report")
    study: StudyArrived | None = Field(description="null while no image arrived")
    report: Report | None = Field(description="the final report, else the newest preliminary")
    addenda: list[Report]
    deliveries: list[Delivery] = Field(
        description="every attempt to push each report version to the site's endpoints, "
        "oldest first"
    )
    offers: list[Offer] | None = Field(None, description="coordinators and admins only")


class Case(RootModel[Annotated[CaseSummary | CaseRecord, Field(discriminator="sight")]]):
    """A case as this user may see it; `sight` says how much."""


class Cases(RootModel[list[Case]]):
    """Cases, newest first."""


class OfferedCase(Answer):
    case: Case
    code: str = Field(description="the code the expert's SMS answer names")
    expires_at: datetime


class Worklist(Answer):
    """An expert's worklist."""

    offered: list[OfferedCase] = Field(description="offers waiting for this expert's answer")
    open: list[Case] = Field(description="cases this expert may take from the worklist")
    held: list[Case] = Field(description="cases this expert holds")
    reported: list[Case] = Field(description="reported in the last 7 days, for an addendum")
