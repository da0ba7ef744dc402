"""Intake: a site's read request, validated, recorded once per site and accession number."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import ConfigDict
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from garde import phones, vocabulary
from garde.domain import CaseStatus, Priority
from garde.messages import CaseStart
from garde.models import Case, Site, utcnow
from garde.service_levels import case_promise, site_promise
from garde.validation import DICOM_UID, Input, choice, phone, text, validated, word


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

    @classmethod
    def parse(cls, data: Any, site: Site) -> CaseRequest:
        """The request as the site sent it; a callback phone without its country code is
        read in the site's country."""
        return validated(cls, data, region=phones.region_of_zone(site.timezone))


def record_case(session: Session, site: Site, request: CaseRequest) -> tuple[Case, bool]:
    """The case for this request, and whether it was created now (False: sent before)."""
    existing = _find(session, site.id, request.accession_number)
    if existing is not None:
        return existing, False
    # The case carries its promise from now on: a later change of the contract is not its.
    promise = site_promise(site, request.priority)
    case = Case(
        site_id=site.id,
        accession_number=request.accession_number,
        study_instance_uid=request.study_instance_uid,
        modality=request.modality,
        body_part=request.body_part,
        study_description=request.study_description,
        priority=request.priority,
        clinical_question=request.clinical_question,
        requesting_physician=request.requesting_physician,
        callback_phone=request.callback_phone,
        subspecialty=request.subspecialty,
        status=CaseStatus.REQUESTED,
        offer_timeout_s=promise.level.offer_timeout_s,
        accept_within_s=promise.level.accept_within_s,
        report_within_s=promise.level.report_within_s,
        escalation=[str(step) for step in promise.ladder],
        requested_at=utcnow(),
    )
    session.add(case)
    try:
        session.commit()
    except IntegrityError:  # the same request raced in from another process
        session.rollback()
        again = _find(session, site.id, request.accession_number)
        assert again is not None
        return again, False
    return case, True


def case_start(case: Case) -> CaseStart:
    """The workflow's input, from the case as recorded at intake."""
    promise = case_promise(case)
    return CaseStart(
        case.id, case.requested_at, Priority(case.priority), promise.level, list(promise.ladder)
    )


def _find(session: Session, site_id: int, accession_number: str) -> Case | None:
    return session.scalar(
        select(Case).where(Case.site_id == site_id, Case.accession_number == accession_number)
    )
