"""A FHIR R4 ServiceRequest read as a site's request for a read: the same CaseRequest the API
and the form take, and the order's own number and patient (garde.intake.Order).

Where each field is read (a bad or missing value is a 400 naming that FHIRPath):
- the placer order number, the key that finds the case again: the identifier of type PLAC
  (HL7 table 0203), required; the accession number: the identifier of type ACSN, else PLAC's;
- the modality: a coding of the DICOM system (DCM) in `code` or `category`, else the first
  word of `code`'s display or text when it is a known modality;
- the exam: `code`'s first other coding, its code the exam code and its display (else
  `code.text`) the study description; the body part: `bodySite` (text, display or code);
- the priority: stat, asap or urgent (urgent), routine (the default);
- the clinical question: `reasonCode` (text or display) and `note`, one per line;
- the requesting physician: `requester.display`, else the contained Practitioner's name; the
  callback phone: that Practitioner's phone, else the site's;
- the patient: `subject`'s contained Patient (identifier, name, birthDate, gender), else what
  the reference itself says (its identifier and display).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import date
from typing import Any

from fhir.resources.R4B.codeableconcept import CodeableConcept
from fhir.resources.R4B.coding import Coding
from fhir.resources.R4B.humanname import HumanName
from fhir.resources.R4B.patient import Patient as FhirPatient
from fhir.resources.R4B.practitioner import Practitioner
from fhir.resources.R4B.reference import Reference
from fhir.resources.R4B.servicerequest import ServiceRequest
from pydantic import ValidationError

from garde import vocabulary
from garde.domain import OrderSource
from garde.errors import InvalidInput
from garde.intake import CaseRequest, Order, Patient
from garde.models import Site
from garde.validation import CONTROL, CONTROL_REASON

DCM = "http://dicom.nema.org/resources/ontology/DCM"
IDENTIFIER_TYPES = "http://terminology.hl7.org/CodeSystem/v2-0203"
PRIORITIES = {"stat": "stat", "asap": "urgent", "urgent": "urgent", "routine": "routine"}
INTENTS = ("order", "original-order", "instance-order")
SEXES = {"female": "F", "male": "M", "other": "O", "unknown": "U"}
_SR = "ServiceRequest"
_PRACTITIONER = f"{_SR}.contained.ofType(Practitioner)"
_PATIENT = f"{_SR}.contained.ofType(Patient)"


def read_order(data: Any, site: Site) -> tuple[CaseRequest, Order]:
    """The request and the order a ServiceRequest makes for `site`; every bad field at once."""
    resource = _resource(data)
    fields, paths, problems = _fields(resource, site)
    request = None
    try:
        request = CaseRequest.parse(fields, site)
    except InvalidInput as e:
        for name, reason in e.fields.items():
            # What is already said of a path says more than the field's "is required".
            problems.setdefault(paths.get(name, _SR), reason)
    patient = _patient(resource, problems)
    if problems or request is None:
        raise InvalidInput(problems)
    return request, Order(OrderSource.FHIR, _identifier(resource, "PLAC"), patient)


def _resource(data: Any) -> ServiceRequest:
    if not isinstance(data, dict):
        raise InvalidInput({_SR: "the body must be a ServiceRequest resource (a JSON object)"})
    if data.get("resourceType") != _SR:
        raise InvalidInput({f"{_SR}.resourceType": "must be ServiceRequest"})
    try:
        return ServiceRequest.model_validate(data)
    except ValidationError as e:
        problems: dict[str, str] = {}
        for error in e.errors():
            _add(problems, _path(error["loc"]), _reason(error))
        raise InvalidInput(problems) from None


def _fields(
    resource: ServiceRequest, site: Site
) -> tuple[dict[str, Any], dict[str, str], dict[str, str]]:
    """CaseRequest's fields, the FHIRPath each was read from, and what is wrong already."""
    problems: dict[str, str] = {}
    placer = _identifier(resource, "PLAC")
    if not placer:
        problems[f"{_SR}.identifier"] = (
            "must hold the placer order number: an identifier with type PLAC "
            f"({IDENTIFIER_TYPES}) and a value"
        )
    _check(problems, f"{_SR}.identifier", placer, 64)
    if resource.status != "active":
        problems[f"{_SR}.status"] = "must be active: Garde reads orders to act on"
    if resource.intent not in INTENTS:
        problems[f"{_SR}.intent"] = "must be one of " + ", ".join(INTENTS)
    exam = _exam_coding(resource.code)
    practitioner = _contained(resource, resource.requester, Practitioner)
    fields: dict[str, Any] = {
        "accession_number": _identifier(resource, "ACSN") or placer,
        "modality": _modality(resource),
        "body_part": _concept_words(resource.bodySite),
        "study_description": (exam.display if exam else None)
        or (resource.code.text if resource.code else None),
        "exam_code": exam.code if exam else None,
        "priority": PRIORITIES.get(resource.priority or "routine", resource.priority),
        "clinical_question": "\n".join(
            [*_texts(resource.reasonCode), *(n.text for n in resource.note or () if n.text)]
        ),
        "requesting_physician": (resource.requester.display if resource.requester else None)
        or (_name(practitioner.name) if practitioner else None),
        "callback_phone": _phone(practitioner) or site.phone,
    }
    paths = {
        "accession_number": f"{_SR}.identifier",
        "modality": f"{_SR}.category",
        "body_part": f"{_SR}.bodySite",
        "study_description": f"{_SR}.code",
        "exam_code": f"{_SR}.code.coding.code",
        "priority": f"{_SR}.priority",
        "clinical_question": f"{_SR}.reasonCode",
        "requesting_physician": f"{_SR}.requester",
        "callback_phone": f"{_PRACTITIONER}.telecom",
    }
    return fields, paths, problems


def _identifier(resource: ServiceRequest, kind: str) -> str | None:
    for identifier in resource.identifier or ():
        codings = identifier.type.coding if identifier.type and identifier.type.coding else ()
        if any(c.code == kind for c in codings) and identifier.value:
            return str(identifier.value).strip() or None
    return None


def _codings(resource: ServiceRequest) -> Iterator[Coding]:
    for concept in [resource.code, *(resource.category or ())]:
        if concept is not None:
            yield from concept.coding or ()


def _modality(resource: ServiceRequest) -> str | None:
    for coding in _codings(resource):
        if coding.system == DCM and coding.code:
            return str(coding.code)
    code = resource.code
    words = [c.display for c in (code.coding or ()) if c.display] if code else []
    for said in [*words, code.text if code else None]:
        first = (said or "").split(maxsplit=1)[:1]
        if first and first[0].upper() in vocabulary.MODALITIES:
            return first[0].upper()
    return None


def _exam_coding(code: CodeableConcept | None) -> Coding | None:
    """The exam's own coding (the RIS's procedure code): the first that is not a modality."""
    return next((c for c in (code.coding or ()) if c.system != DCM), None) if code else None


def _texts(concepts: Iterable[CodeableConcept] | None) -> list[str]:
    found = []
    for concept in concepts or ():
        said = concept.text or next((c.display for c in concept.coding or () if c.display), None)
        if said:
            found.append(said)
    return found


def _concept_words(concepts: list[CodeableConcept] | None) -> str | None:
    for concept in concepts or ():
        if concept.text:
            return str(concept.text)
        for coding in concept.coding or ():
            if coding.display or coding.code:
                return str(coding.display or coding.code)
    return None


def _contained(resource: ServiceRequest, reference: Reference | None, kind: type) -> Any:
    """The contained resource of this kind a local reference ("#id") points at, if any."""
    target = reference.reference if reference is not None else None
    if not target or not target.startswith("#"):
        return None
    return next(
        (r for r in resource.contained or () if isinstance(r, kind) and r.id == target[1:]),
        None,
    )


def _phone(practitioner: Practitioner | None) -> str | None:
    if practitioner is None:
        return None
    return next((t.value for t in practitioner.telecom or () if t.system == "phone"), None)


def _name(names: list[HumanName] | None) -> str | None:
    for name in names or ():
        if name.text:
            return str(name.text)
        parts = [*(name.given or ()), name.family or ""]
        if any(parts):
            return " ".join(p for p in parts if p)
    return None


def _patient(resource: ServiceRequest, problems: dict[str, str]) -> Patient | None:
    """The patient the subject names: its contained Patient, else the reference's own words."""
    subject = resource.subject
    contained = _contained(resource, subject, FhirPatient)
    if subject.reference and subject.reference.startswith("#") and contained is None:
        problems[f"{_SR}.subject"] = f"names {subject.reference}, which is no contained Patient"
        return None
    if contained is None:
        patient_id = subject.identifier.value if subject.identifier else None
        name, born, sex = subject.display, None, None
    else:
        patient_id = next((i.value for i in contained.identifier or () if i.value), None)
        name, born = _name(contained.name), contained.birthDate
        sex = SEXES.get(contained.gender) if contained.gender else None
        if born is not None and not isinstance(born, date):
            problems[f"{_PATIENT}.birthDate"] = "must be a whole date (YYYY-MM-DD)"
            born = None
    _check(problems, f"{_PATIENT}.identifier", patient_id, 64)
    _check(problems, f"{_PATIENT}.name", name, 200)
    if not any((patient_id, name, born, sex)):
        return None
    return Patient(patient_id, name, born, sex)


def _check(problems: dict[str, str], path: str, value: str | None, longest: int) -> None:
    """What the case keeps as it came, so refused rather than cut: the RIS must find its
    order and its patient again."""
    if value and len(value) > longest:
        _add(problems, path, f"must be at most {longest} characters")
    if value and CONTROL.search(value):
        _add(problems, path, CONTROL_REASON)


def _add(problems: dict[str, str], path: str, reason: str) -> None:
    problems[path] = f"{problems[path]}; {reason}" if path in problems else reason


def _path(location: tuple[int | str, ...]) -> str:
    """pydantic's location of an error as a FHIRPath: ('note', 0, 'text') is
    ServiceRequest.note[0].text."""
    path = _SR
    for part in location:
        if part == "resource_type":
            part = "resourceType"
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return path


def _reason(error: Any) -> str:
    if error["type"] == "missing":
        return "is required"
    if error["type"] == "extra_forbidden":
        return "is not a field of this resource (FHIR R4)"
    return " ".join(str(error["msg"]).removeprefix("Value error, ").split())
