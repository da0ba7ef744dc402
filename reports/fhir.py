"""A report version as FHIR R4: a Bundle of the DiagnosticReport and what it references.

The Bundle (type `collection`) holds the DiagnosticReport, the ServiceRequest it answers
(`basedOn`: the site's request), the ImagingStudy it reads (`imagingStudy`, once the case has
a study), the expert as Practitioner (`performer`, `resultsInterpreter`) and the site as
Organization (the request's `requester`, the accession number's `assigner`). Every
reference is the `urn:uuid:` `fullUrl` of an entry of the same Bundle; the uuids derive from
Garde's ids, so the same version always gives the same Bundle.

The case holds no patient identity: the DiagnosticReport names no subject (optional in R4);
ServiceRequest and ImagingStudy must name one, so theirs is a data-absent-reason `masked`
(Garde withholds it by design; the site finds its patient by the accession number).

Choices a receiving system may rely on:
- `status`: preliminary, final, or appended for an addendum; `meta.versionId` is the
  version's number, the resource id the case's (each version is a new version of one report).
- The signature: an identifier of system `urn:garde:report:sha256` whose value is the
  version's SHA-256 (reports/signing.py), and `urn:garde:report:previous-sha256` for the
  digest it chains to. A digest identifies one signed content; it is not a digital signature,
  so it is not put in `Bundle.signature`.
- The ACR critical result category: a `conclusionCode` with a coding of system
  `urn:garde:acr-critical-category` (1 immediate, 2 urgent, 3 significant) and the HL7
  interpretation `AA` (critical abnormal) for 1 and 2, `A` (abnormal) for 3.
- The discrepancy with the preliminary: extension `urn:garde:fhir:discrepancy`, valueCode
  none, minor or major.

Machines read it: English, whoever asks.
"""

from __future__ import annotations

import base64
import uuid
from datetime import UTC, datetime
from html import escape
from typing import Any

from garde.domain import ReportKind
from garde.models import Case, Report
from garde.validation import CONTROL

_NAMESPACE = uuid.UUID("2f0e4a53-7c55-4a43-9f59-6b8f3f0b6a11")

STATUS = {
    ReportKind.PRELIMINARY.value: "preliminary",
    ReportKind.FINAL.value: "final",
    ReportKind.ADDENDUM.value: "appended",
}
TITLES = {
    ReportKind.PRELIMINARY.value: "Preliminary report",
    ReportKind.FINAL.value: "Final report",
    ReportKind.ADDENDUM.value: "Addendum",
}
CRITICAL_SYSTEM = "urn:garde:acr-critical-category"
CRITICAL_WORDS = {1: "Immediate", 2: "Urgent", 3: "Significant"}
SHA256_SYSTEM = "urn:garde:report:sha256"
PREVIOUS_SHA256_SYSTEM = "urn:garde:report:previous-sha256"
DISCREPANCY_URL = "urn:garde:fhir:discrepancy"
_INTERPRETATION = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
_ABSENT = {
    "extension": [
        {
            "url": "http://hl7.org/fhir/StructureDefinition/data-absent-reason",
            "valueCode": "masked",
        }
    ]
}
# The report's sections, in the order they are read, with their LOINC codes.
SECTIONS = (
    ("technique", "Technique", "55111-9", "Current imaging procedure descriptions"),
    ("findings", "Findings", "59776-5", "Procedure findings Narrative"),
    ("impression", "Impression", "19005-8", "Radiology Imaging study [Impression] (narrative)"),
    ("recommendations", "Recommendations", "18783-1", "Radiology Study recommendation"),
)


def report_bundle(case: Case, report: Report) -> dict[str, Any]:
    """The FHIR R4 Bundle of `report` (one version of `case`'s report), as JSON."""
    site, expert = _url("site", case.site.code), _url("expert", report.expert.code)
    request = _url("case", str(case.id))
    study_uid = _study_uid(case)
    study = _url("study", study_uid) if study_uid is not None else None
    entries = [
        (
            _url("report", f"{case.id}/{report.version}"),
            _diagnostic_report(case, report, request, study, expert, site),
        ),
        (request, _service_request(case, report, site)),
    ]
    if study_uid is not None:
        entries.append((_url("study", study_uid), _imaging_study(case, study_uid, request)))
    entries.append((expert, _practitioner(report)))
    entries.append((site, _organization(case)))
    return clean(
        {
            "resourceType": "Bundle",
            "identifier": {"system": "urn:garde:report", "value": f"{case.id}/{report.version}"},
            "type": "collection",
            "timestamp": fhir_instant(report.created_at),
            "entry": [{"fullUrl": url, "resource": resource} for url, resource in entries],
        }
    )


def _sections(report: Report) -> list[tuple[str, str]]:
    """The report's sections that have text, as (English title, text)."""
    return [
        (title, CONTROL.sub("", getattr(report, name)))
        for name, title, _, _ in SECTIONS
        if getattr(report, name).strip()
    ]


def _diagnostic_report(
    case: Case, report: Report, request: str, study: str | None, expert: str, site: str
) -> dict[str, Any]:
    text = "".join(f"{title}:\n{body}\n\n" for title, body in _sections(report))
    resource: dict[str, Any] = {
        "resourceType": "DiagnosticReport",
        "id": f"garde-case-{case.id}-report",
        "meta": {"versionId": str(report.version)},
        "identifier": [
            _accession(case, site),
            {"system": SHA256_SYSTEM, "value": report.sha256},
        ],
        "basedOn": [{"reference": request}],
        "status": STATUS.get(report.kind, "final"),
        "category": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/v2-0074",
                        "code": "RAD",
                        "display": "Radiology",
                    }
                ]
            }
        ],
        "code": {"text": case.study_description or case.modality},
        "issued": fhir_instant(report.created_at),
        "performer": [_reference(expert, report.expert.name)],
        "resultsInterpreter": [_reference(expert, report.expert.name)],
        "presentedForm": [
            {
                "contentType": "text/plain; charset=utf-8",
                "language": "en",
                "data": base64.b64encode(text.encode("utf-8")).decode("ascii"),
                "title": f"{TITLES.get(report.kind, 'Report')}: {case.study_description}",
                "creation": fhir_instant(report.created_at),
            }
        ],
        "text": {"status": "generated", "div": _div(report)},
    }
    if report.previous_sha256:
        resource["identifier"].append(
            {"system": PREVIOUS_SHA256_SYSTEM, "value": report.previous_sha256}
        )
    if report.discrepancy:
        resource["extension"] = [{"url": DISCREPANCY_URL, "valueCode": report.discrepancy}]
    if study is not None:
        resource["imagingStudy"] = [{"reference": study}]
    if report.impression.strip():
        resource["conclusion"] = report.impression
    if report.critical_category in CRITICAL_WORDS:
        resource["conclusionCode"] = [_critical_code(report.critical_category)]
    return resource


def _critical_code(category: int) -> dict[str, Any]:
    words = CRITICAL_WORDS[category]
    interpretation = ("AA", "Critical abnormal") if category in (1, 2) else ("A", "Abnormal")
    return {
        "coding": [
            {"system": CRITICAL_SYSTEM, "code": str(category), "display": words},
            {
                "system": _INTERPRETATION,
                "code": interpretation[0],
                "display": interpretation[1],
            },
        ],
        "text": f"ACR critical result category {category}: {words.lower()}",
    }


def _service_request(case: Case, report: Report, site: str) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "ServiceRequest",
        "id": f"garde-case-{case.id}",
        "identifier": [_accession(case, site)],
        "status": "completed" if report.kind != ReportKind.PRELIMINARY else "active",
        "intent": "order",
        "priority": case.priority,  # stat, urgent, routine: FHIR's codes too
        "code": {"text": case.study_description or case.modality},
        "subject": _ABSENT,
        "authoredOn": fhir_instant(case.requested_at),
        "requester": _reference(site, case.site.name),
    }
    if case.clinical_question.strip():
        note: dict[str, Any] = {"text": case.clinical_question}
        if case.requesting_physician.strip():
            note["authorString"] = case.requesting_physician
        resource["note"] = [note]
    return resource


def _imaging_study(case: Case, study_uid: str, request: str) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "ImagingStudy",
        "id": f"garde-case-{case.id}-study",
        "identifier": [{"system": "urn:dicom:uid", "value": f"urn:oid:{study_uid}"}],
        "status": "available",
        "modality": [
            {"system": "http://dicom.nema.org/resources/ontology/DCM", "code": case.modality}
        ],
        "subject": _ABSENT,
        "basedOn": [{"reference": request}],
    }
    if case.study_description.strip():
        resource["description"] = case.study_description
    studies = [s for s in case.studies if s.study_instance_uid == study_uid]
    if studies:
        dates = [s.study_date for s in studies if s.study_date is not None]
        if dates:
            resource["started"] = min(dates).isoformat()
        resource["numberOfSeries"] = sum(s.series_count for s in studies)
        resource["numberOfInstances"] = sum(s.instance_count for s in studies)
    return resource


def _practitioner(report: Report) -> dict[str, Any]:
    return {
        "resourceType": "Practitioner",
        "identifier": [{"system": "urn:garde:expert", "value": report.expert.code}],
        "name": [{"text": report.expert.name}],
    }


def _organization(case: Case) -> dict[str, Any]:
    return {
        "resourceType": "Organization",
        "identifier": [{"system": "urn:garde:site", "value": case.site.code}],
        "name": case.site.name,
    }


def _accession(case: Case, site: str) -> dict[str, Any]:
    return {
        "use": "usual",
        "type": {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/v2-0203",
                    "code": "ACSN",
                    "display": "Accession ID",
                }
            ]
        },
        "system": f"urn:garde:site:{case.site.code}:accession",
        "value": case.accession_number,
        "assigner": _reference(site, case.site.name),
    }


def clean(value: Any) -> Any:
    """Every string without control characters (but tab and line breaks): FHIR strings and
    XHTML refuse them; input refuses them too, but a row stored before it did may hold some."""
    if isinstance(value, str):
        return CONTROL.sub("", value)
    if isinstance(value, dict):
        return {k: clean(v) for k, v in value.items()}
    if isinstance(value, list):
        return [clean(v) for v in value]
    return value


def _study_uid(case: Case) -> str | None:
    """The case's study: the one the request named, else the first received."""
    if case.study_instance_uid:
        return case.study_instance_uid
    received = case.studies
    return received[0].study_instance_uid if received else None


def _reference(url: str, display: str) -> dict[str, str]:
    return {"reference": url, "display": display} if display.strip() else {"reference": url}


def _url(kind: str, key: str) -> str:
    return f"urn:uuid:{uuid.uuid5(_NAMESPACE, f'{kind}:{key}')}"


def _div(report: Report) -> str:
    """The narrative: each section a heading and its lines, XHTML-escaped."""
    parts = []
    for title, body in _sections(report):
        lines = "<br/>".join(escape(line, quote=False) for line in body.splitlines())
        parts.append(f"<p><b>{title}</b></p><p>{lines}</p>")
    return '<div xmlns="http://www.w3.org/1999/xhtml">' + "".join(parts) + "</div>"


def fhir_instant(value: datetime) -> str:
    """A FHIR instant in UTC, to the second."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
