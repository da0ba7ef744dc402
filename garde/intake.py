"""Intake: a site's read request, validated, recorded once per site and accession number; or
a case opened by images that came with no request (dicom/arrivals.py), recorded the same way
with the site's promise, its clinical question left for the site to give."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Annotated, Any

from pydantic import ConfigDict
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from garde import phones, vocabulary
from garde.domain import CaseStatus, EventKind, OrderSource, Priority
from garde.messages import CaseStart, RegulationRecord
from garde.models import Case, CaseEvent, Site, Study, utcnow
from garde.service_levels import case_promise, site_promise
from garde.study_links import claim_waiting, study_arrival
from garde.validation import DICOM_UID, Input, choice, phone, text, validated, word

# The key of the timeline entry a case is recorded with (its workflow's own are "SEQ.N").
FIRST_ENTRY_KEY = "0.0"


class CaseRequest(Input):
    """A site's request for a read, as the API and the site's form take it."""

    model_config = ConfigDict(frozen=True)

    accession_number: Annotated[
        str,
        text(
            64,
            description="the site's own number for the study; the same number again from "
            "the same site answers the case already made",
        ),
    ]
    study_instance_uid: Annotated[str | None, text(64, pattern=DICOM_UID)] = None
    modality: Annotated[str, word(vocabulary.modality, vocabulary.MODALITIES)]
    body_part: Annotated[str, text(64)]
    study_description: Annotated[str, text(200)]
    priority: Annotated[Priority, choice()]
    clinical_question: Annotated[str, text(2000)]
    requesting_physician: Annotated[str, text(200)]
    callback_phone: Annotated[str, phone()]
    subspecialty: Annotated[
        str | None, word(vocabulary.subspecialty, vocabulary.SUBSPECIALTIES)
    ] = None
    exam_code: Annotated[
        str | None,
        text(32, description="the site's RIS procedure code; its tariff may price it"),
    ] = None

    @classmethod
    def parse(cls, data: Any, site: Site) -> CaseRequest:
        """The request as the site sent it; a callback phone without its country code is
        read in the site's country."""
        return validated(cls, data, region=phones.region_of_zone(site.timezone))


@dataclass(frozen=True)
class Patient:
    """The patient as an order names them (HL7 PID, FHIR Patient): stored with the case and
    shown to the site and its experts only, never in an SMS, a log line or a URL."""

    id: str | None = None
    name: str | None = None
    birth_date: date | None = None
    sex: str | None = None  # F, M, O or U (HL7 table 0001)


@dataclass(frozen=True)
class Order:
    """Where a request came from beyond its fields: a RIS's order carries its own number
    (the key that finds the case again when it is sent twice) and the patient."""

    via: OrderSource = OrderSource.WEB
    placer_order_number: str | None = None
    patient: Patient | None = None


def record_case(
    session: Session, site: Site, request: CaseRequest, order: Order = Order()
) -> tuple[Case, bool]:
    """The case for this request, and whether it was created now (False: sent before: the
    same order number, or accession number, from the same site)."""
    existing = (
        find_order(session, site.id, order.placer_order_number)
        or _find(session, site.id, request.accession_number)
        or _opened_by_images(session, site.id, request.study_instance_uid)
    )
    if existing is not None:
        if awaits_question(existing):
            _complete(existing, request)
        if order.placer_order_number and existing.placer_order_number is None:
            # The site asked first (its form, its images): the RIS's order is this case, and
            # its cancellation finds it by the order's number.
            existing.placer_order_number = order.placer_order_number
        session.commit()
        return existing, False
    case = _new_case(
        site,
        request.priority,
        accession_number=request.accession_number,
        study_instance_uid=request.study_instance_uid,
        modality=request.modality,
        body_part=request.body_part,
        study_description=request.study_description,
        clinical_question=request.clinical_question,
        requesting_physician=request.requesting_physician,
        callback_phone=request.callback_phone,
        subspecialty=request.subspecialty,
        exam_code=request.exam_code,
        ordered_via=order.via,
        placer_order_number=order.placer_order_number,
        **_patient_columns(order.patient),
    )
    case, created = _added(session, site, case)
    if created and claim_waiting(session, case):
        session.commit()
    return case, created


def open_from_images(session: Session, site: Site, study: Study, priority: Priority) -> Case:
    """A case for images that came with no request, from an AE title whose setting opens
    one: the expert may start at once; the clinical question (and who asks it) is left
    empty for the site to give by sending its request with the same accession number or
    Study Instance UID (`awaits_question`). Committed, like a request."""
    known = [m for m in study.modalities if m in vocabulary.MODALITIES]
    case = _new_case(
        site,
        priority,
        # The case is found again by its accession number; a study without one, by its UID.
        accession_number=study.accession_number or study.study_instance_uid,
        study_instance_uid=study.study_instance_uid,
        modality=(known or study.modalities or [""])[0][:8],
        body_part=study.body_part,
        study_description=study.study_description,
        clinical_question="",
        requesting_physician="",
        callback_phone=site.phone,
        subspecialty=None,
        ordered_via=OrderSource.IMAGES,
    )
    case, _ = _added(session, site, case)
    return case


def awaits_question(case: Case) -> bool:
    """A case opened by its images still waits for the site's clinical question."""
    return not case.clinical_question and not case.requesting_physician


def _new_case(site: Site, priority: Priority, **request: Any) -> Case:
    # The case carries its promise from now on: a later change of the contract is not its.
    # So does régulation: a case asked for before the site turned it on is read as asked.
    promise = site_promise(site, priority)
    regulation = site.regulation and request.get("ordered_via") != OrderSource.IMAGES
    status = CaseStatus.TO_VALIDATE if regulation else CaseStatus.REQUESTED
    requested_at = utcnow()
    return Case(
        site_id=site.id,
        priority=priority,
        status=status,
        # The timeline's first entry, written with the case: its workflow starts from it
        # rather than writing it again (`CaseStart.first_entry_recorded`).
        events=[
            CaseEvent(
                key=FIRST_ENTRY_KEY, seq=0, at=requested_at, kind=EventKind.STATUS, status=status
            )
        ],
        regulation=regulation,
        reroute_after_scan=regulation and site.reroute_after_scan,
        validate_within_s=promise.level.validate_within_s if regulation else None,
        offer_timeout_s=promise.level.offer_timeout_s,
        accept_within_s=promise.level.accept_within_s,
        report_within_s=promise.level.report_within_s,
        escalation=[str(step) for step in promise.ladder],
        requested_at=requested_at,
        **request,
    )


def _patient_columns(patient: Patient | None) -> dict[str, Any]:
    if patient is None:
        return {}
    return {
        "patient_id": patient.id,
        "patient_name": patient.name,
        "patient_birth_date": patient.birth_date,
        "patient_sex": patient.sex,
    }


def find_order(session: Session, site_id: int, placer_order_number: str | None) -> Case | None:
    """The site's case for its RIS's order number (HL7 ORC-2, FHIR PLAC identifier)."""
    if not placer_order_number:
        return None
    return session.scalar(
        select(Case).where(Case.site_id == site_id, Case.placer_order_number == placer_order_number)
    )


def _complete(case: Case, request: CaseRequest) -> None:
    """The site's request for a case its images opened: its words fill in what the images
    could not say. The priority stays the case's: a change goes through its workflow."""
    case.clinical_question = request.clinical_question
    case.requesting_physician = request.requesting_physician
    case.callback_phone = request.callback_phone
    case.subspecialty = request.subspecialty
    case.exam_code = request.exam_code or case.exam_code
    case.body_part = request.body_part or case.body_part
    case.study_description = request.study_description or case.study_description


def _added(session: Session, site: Site, case: Case) -> tuple[Case, bool]:
    accession_number, placer = case.accession_number, case.placer_order_number
    session.add(case)
    try:
        session.commit()
    except IntegrityError:  # the same request raced in from another process
        session.rollback()
        again = find_order(session, site.id, placer) or _find(session, site.id, accession_number)
        assert again is not None
        return again, False
    return case, True


def case_start(case: Case) -> CaseStart:
    """The workflow's input, from the case as recorded (at intake, or under way when its
    workflow is started again), with the studies linked to it by then (images that came
    before the request or opened the case)."""
    promise = case_promise(case)
    held = CaseStatus(case.status).is_held
    return CaseStart(
        case.id,
        case.requested_at,
        Priority(case.priority),
        promise.level,
        list(promise.ladder),
        [study_arrival(s, s.series_count, s.instance_count) for s in case.studies],
        seq=case.status_seq,
        offers_made=max((o.sequence for o in case.offers), default=0),
        holder=case.assigned_expert_id if held else None,
        accepted_at=case.accepted_at if held else None,
        preliminary=case.status == CaseStatus.PRELIMINARY,
        regulation=case.regulation,
        decision=regulation_record(case) if case.regulation else None,
        reroute_after_scan=case.reroute_after_scan,
        tell_ris=case.ordered_via == OrderSource.HL7,
        first_entry_recorded=case.status_seq == 0
        and any(e.key == FIRST_ENTRY_KEY for e in case.events),
    )


def regulation_record(case: Case) -> RegulationRecord:
    """A régulation case's decision and scan as recorded."""
    return RegulationRecord(
        validated_at=case.validated_at,
        validated_by=case.validated_by_id,
        protocol_id=case.protocol_id,
        note=case.validation_note,
        refusal_reason=case.refusal_reason,
        scanned_at=case.scanned_at,
    )


def regulation_columns(decision: RegulationRecord | None) -> dict[str, Any]:
    """The case's columns for a régulation decision the workflow hands over (none: none)."""
    if decision is None:
        return {}
    return {
        "validated_at": decision.validated_at,
        "validated_by_id": decision.validated_by,
        "protocol_id": decision.protocol_id,
        "validation_note": decision.note,
        "refusal_reason": decision.refusal_reason,
        "scanned_at": decision.scanned_at,
    }


def _opened_by_images(session: Session, site_id: int, uid: str | None) -> Case | None:
    """A case opened by images of this Study Instance UID, still waiting for its request."""
    if not uid:
        return None
    found = session.scalars(
        select(Case)
        .where(Case.site_id == site_id, Case.study_instance_uid == uid)
        .order_by(Case.id.desc())
    )
    return next((c for c in found if awaits_question(c)), None)


def _find(session: Session, site_id: int, accession_number: str) -> Case | None:
    return session.scalar(
        select(Case).where(Case.site_id == site_id, Case.accession_number == accession_number)
    )
