"""A case as FHIR R4 resources: the ServiceRequest the site ordered, the Task Garde works it
by, and the DiagnosticReport of its report. Each resource's id is the case's.

The Task's `status` follows the case: requested (requested, offered, to_validate), accepted
(accepted, validated), in-progress (a preliminary report, or an accepted case whose images
came), completed (final), rejected (refused: `statusReason` the reason), cancelled.
`businessStatus` is Garde's own status (system urn:garde:case-status), with the protocol
picked at validation in its text; `output` holds that protocol (type `protocol`) and, once
reported, the DiagnosticReport (type `report`).

The patient is only in what the site and the case's experts read (the ServiceRequest's
contained Patient); no id of the patient is in a URL or a reference.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from garde.domain import CaseStatus
from garde.models import Case, Report
from reports.fhir import clean as clean  # one rule for FHIR strings, the report's
from reports.fhir import fhir_instant as instant
from reports.fhir import report_bundle
from web.fhir.service_requests import DCM, IDENTIFIER_TYPES, SEXES

CASE_STATUS_SYSTEM = "urn:garde:case-status"
OUTPUT_SYSTEM = "urn:garde:fhir:task-output"
PROTOCOL_SYSTEM = "urn:garde:protocol"
TASK_STATUS = {
    CaseStatus.TO_VALIDATE: "requested",
    CaseStatus.REQUESTED: "requested",
    CaseStatus.OFFERED: "requested",
    CaseStatus.VALIDATED: "accepted",
    CaseStatus.ACCEPTED: "accepted",
    CaseStatus.PRELIMINARY: "in-progress",
    CaseStatus.FINAL: "completed",
    CaseStatus.REFUSED: "rejected",
    CaseStatus.CANCELLED: "cancelled",
}
_REQUEST_STATUS = {
    CaseStatus.FINAL: "completed",
    CaseStatus.CANCELLED: "revoked",
    CaseStatus.REFUSED: "revoked",
}
_MASKED = {
    "extension": [
        {
            "url": "http://hl7.org/fhir/StructureDefinition/data-absent-reason",
            "valueCode": "masked",
        }
    ]
}
_SEX_CODES = {letter: word for word, letter in SEXES.items()}


def service_request(case: Case) -> dict[str, Any]:
    """The order as Garde holds it: what the site asked for, and for whom."""
    status = CaseStatus(case.status)
    contained: list[dict[str, Any]] = []
    resource: dict[str, Any] = {
        "resourceType": "ServiceRequest",
        "id": str(case.id),
        "meta": {"versionId": str(case.status_seq), "lastUpdated": instant(_changed(case))},
        "identifier": _identifiers(case),
        "status": _REQUEST_STATUS.get(status, "active"),
        "intent": "order",
        "category": [{"coding": [{"system": DCM, "code": case.modality}]}],
        "priority": case.priority,  # stat, urgent, routine: FHIR's codes too
        "code": _code(case),
        "subject": _MASKED,
        "authoredOn": instant(case.requested_at),
    }
    patient = _patient(case)
    if patient is not None:
        contained.append(patient)
        resource["subject"] = {"reference": "#patient"}
    if case.body_part:
        resource["bodySite"] = [{"text": case.body_part}]
    if case.clinical_question.strip():
        resource["reasonCode"] = [{"text": case.clinical_question}]
    if case.requesting_physician.strip() or case.callback_phone:
        contained.append(
            {
                "resourceType": "Practitioner",
                "id": "requester",
                "name": [{"text": case.requesting_physician or case.site.name}],
                "telecom": [{"system": "phone", "value": case.callback_phone, "use": "work"}],
            }
        )
        resource["requester"] = {"reference": "#requester", "display": case.requesting_physician}
    if contained:
        resource["contained"] = contained
    return clean(resource)


def task(case: Case) -> dict[str, Any]:
    """The work Garde does on the order, as the RIS follows it."""
    status = CaseStatus(case.status)
    words = status.value
    if case.protocol is not None:
        words += f"; protocol {case.protocol.code} ({case.protocol.name})"
    resource: dict[str, Any] = {
        "resourceType": "Task",
        "id": str(case.id),
        "meta": {"versionId": str(case.status_seq), "lastUpdated": instant(_changed(case))},
        "identifier": [{"system": "urn:garde:case", "value": str(case.id)}],
        "basedOn": [{"reference": f"ServiceRequest/{case.id}"}],
        "status": _task_status(case),
        "businessStatus": {
            "coding": [{"system": CASE_STATUS_SYSTEM, "code": status.value}],
            "text": words,
        },
        "intent": "order",
        "priority": case.priority,
        "focus": {"reference": f"ServiceRequest/{case.id}"},
        "authoredOn": instant(case.requested_at),
        "lastModified": instant(_changed(case)),
        "requester": {"display": case.site.name},
    }
    if status is CaseStatus.REFUSED and case.refusal_reason.strip():
        resource["statusReason"] = {"text": case.refusal_reason}
    if case.assigned_expert is not None and status is not CaseStatus.CANCELLED:
        resource["owner"] = {"display": case.assigned_expert.name}
    if case.accepted_at is not None:
        period = {"start": instant(case.accepted_at)}
        if case.closed_at is not None:
            period["end"] = instant(case.closed_at)
        resource["executionPeriod"] = period
    outputs = _outputs(case)
    if outputs:
        resource["output"] = outputs
    return clean(resource)


def diagnostic_report(case: Case, report: Report) -> dict[str, Any]:
    """The report's DiagnosticReport, as the Bundle of reports/fhir.py holds it, on its own:
    what the Bundle's other entries were become contained resources (the expert, the site,
    the study) or the ServiceRequest of this API."""
    bundle = report_bundle(case, report)
    first, *others = bundle["entry"]
    local: dict[str, str] = {}
    contained = []
    for entry in others:
        kind = entry["resource"]["resourceType"]
        if kind == "ServiceRequest":
            local[entry["fullUrl"]] = f"ServiceRequest/{case.id}"
            continue
        local[entry["fullUrl"]] = f"#{kind.lower()}"
        contained.append({**entry["resource"], "id": kind.lower()})
    resource = _relinked({**first["resource"], "id": str(case.id)}, local)
    resource["contained"] = _relinked(contained, local)
    return dict(resource)


def search_bundle(resources: list[dict[str, Any]], base: str) -> dict[str, Any]:
    """A search's answer: a Bundle of type searchset with what matched."""
    return {
        "resourceType": "Bundle",
        "id": str(uuid.uuid4()),
        "type": "searchset",
        "total": len(resources),
        "entry": [
            {
                "fullUrl": f"{base}/{r['resourceType']}/{r['id']}",
                "resource": r,
                "search": {"mode": "match"},
            }
            for r in resources
        ],
    }


def _task_status(case: Case) -> str:
    status = CaseStatus(case.status)
    if status is CaseStatus.ACCEPTED and case.studies:
        return "in-progress"  # the images came: the expert may be reading
    return TASK_STATUS[status]


def _outputs(case: Case) -> list[dict[str, Any]]:
    outputs = []
    if case.protocol is not None:
        protocol = {"system": PROTOCOL_SYSTEM, "code": case.protocol.code}
        outputs.append(
            {
                "type": _output_type("protocol", "Acquisition protocol"),
                "valueCodeableConcept": {
                    "coding": [protocol | {"display": case.protocol.name}],
                    "text": case.protocol.text or case.protocol.name,
                },
            }
        )
    if case.reports:
        outputs.append(
            {
                "type": _output_type("report", "Report"),
                "valueReference": {"reference": f"DiagnosticReport/{case.id}"},
            }
        )
    return outputs


def _output_type(code: str, display: str) -> dict[str, Any]:
    return {"coding": [{"system": OUTPUT_SYSTEM, "code": code, "display": display}]}


def _identifiers(case: Case) -> list[dict[str, Any]]:
    site = f"urn:garde:site:{case.site.code}"
    found = []
    if case.placer_order_number:
        found.append(
            _identifier("PLAC", "Placer Identifier", f"{site}:placer", case.placer_order_number)
        )
    found.append(_identifier("ACSN", "Accession ID", f"{site}:accession", case.accession_number))
    return found


def _identifier(kind: str, display: str, system: str, value: str) -> dict[str, Any]:
    return {
        "type": {"coding": [{"system": IDENTIFIER_TYPES, "code": kind, "display": display}]},
        "system": system,
        "value": value,
    }


def _code(case: Case) -> dict[str, Any]:
    code: dict[str, Any] = {"text": case.study_description or case.modality}
    if case.exam_code:
        exam = {"code": case.exam_code}
        if case.study_description:
            exam["display"] = case.study_description
        code["coding"] = [exam]
    return code


def _patient(case: Case) -> dict[str, Any] | None:
    if not any((case.patient_id, case.patient_name, case.patient_birth_date, case.patient_sex)):
        return None
    patient: dict[str, Any] = {"resourceType": "Patient", "id": "patient"}
    if case.patient_id:
        patient["identifier"] = [{"value": case.patient_id}]
    if case.patient_name:
        patient["name"] = [{"text": case.patient_name}]
    if case.patient_sex in _SEX_CODES:
        patient["gender"] = _SEX_CODES[case.patient_sex]
    if case.patient_birth_date is not None:
        patient["birthDate"] = case.patient_birth_date.isoformat()
    return patient


def _changed(case: Case) -> datetime:
    """When the case last changed: its newest timeline entry, else its request."""
    return max((e.at for e in case.events), default=case.requested_at)


def _relinked(value: Any, local: dict[str, str]) -> Any:
    """`value` with each Bundle reference replaced by its local one."""
    if isinstance(value, dict):
        return {
            k: local.get(v, v) if k == "reference" else _relinked(v, local)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_relinked(v, local) for v in value]
    return value
