"""FHIR R4 over real HTTP on the real stack: a RIS orders with a ServiceRequest and follows
its Task to the DiagnosticReport; bad orders get an OperationOutcome naming the field."""

from __future__ import annotations

import json
import secrets
from typing import Any

import pytest
import requests
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.capabilitystatement import CapabilityStatement
from fhir.resources.R4B.diagnosticreport import DiagnosticReport
from fhir.resources.R4B.operationoutcome import OperationOutcome
from fhir.resources.R4B.patient import Patient
from fhir.resources.R4B.servicerequest import ServiceRequest
from fhir.resources.R4B.task import Task
from pydicom.uid import generate_uid

from garde.models import Case
from tests.conftest import Region, Stack, on_sqlite_only, wait_for
from tests.web.test_dicomweb_stow import CT, client, instance

FHIR = "application/fhir+json"
DCM = "http://dicom.nema.org/resources/ontology/DCM"
V2_0203 = "http://terminology.hl7.org/CodeSystem/v2-0203"
PATIENT_ID, PATIENT_NAME = "IPP-4711", "Émilie Durand-Lefèvre"


def service_request(placer: str | None = None, **changes: Any) -> dict[str, Any]:
    """A RIS's order, as a client would post it, with the patient and the requester contained."""
    resource: dict[str, Any] = {
        "resourceType": "ServiceRequest",
        "contained": [
            {
                "resourceType": "Patient",
                "id": "pat",
                "identifier": [{"system": "urn:oid:1.2.250.1.71.4.2.7", "value": PATIENT_ID}],
                "name": [{"family": "Durand-Lefèvre", "given": ["Émilie"]}],
                "gender": "female",
                "birthDate": "1948-02-29",
            },
            {
                "resourceType": "Practitioner",
                "id": "dr",
                "name": [{"text": "Dr Urgences"}],
                "telecom": [{"system": "phone", "value": "04 71 00 00 99"}],
            },
        ],
        "identifier": [
            {
                "type": {"coding": [{"system": V2_0203, "code": "PLAC"}]},
                "value": placer or "ORD-" + secrets.token_hex(4),
            },
            {
                "type": {"coding": [{"system": V2_0203, "code": "ACSN"}]},
                "value": "ACC-" + secrets.token_hex(4),
            },
        ],
        "status": "active",
        "intent": "order",
        "category": [{"coding": [{"system": DCM, "code": "CT"}]}],
        "priority": "asap",
        "code": {"coding": [{"system": "urn:ris:codes", "code": "ZBQK002", "display": "CT head"}]},
        "bodySite": [{"text": "HEAD"}],
        "subject": {"reference": "#pat"},
        "requester": {"reference": "#dr"},
        "reasonCode": [{"text": "Fall on anticoagulants | rule out bleed"}],
        "note": [{"text": "GCS 14, été vu à 22h"}],
    }
    resource.update(changes)
    return resource


def fhir(stack: Stack, token: str | None) -> requests.Session:
    session = stack.api(token) if token else stack.api("")
    if not token:
        del session.headers["Authorization"]
    session.headers["Content-Type"] = FHIR
    session.headers["Accept"] = FHIR
    return session


def post(region: Region, resource: dict[str, Any]) -> requests.Response:
    return fhir(region.stack, region.site_token).post(
        "/fhir/ServiceRequest", data=json.dumps(resource)
    )


def task_of(region: Region, case_id: int) -> Task:
    r = fhir(region.stack, region.site_token).get(f"/fhir/Task?focus=ServiceRequest/{case_id}")
    assert r.status_code == 200, r.text
    bundle = Bundle.model_validate(r.json())
    assert bundle.type == "searchset" and bundle.total == 1
    found = bundle.entry[0].resource
    assert isinstance(found, Task)
    return found


def test_metadata_is_an_r4_capability_statement_read_without_a_token(stack: Stack) -> None:
    on_sqlite_only(stack.env["GARDE_DATABASE_URL"], "the statement reads no database")
    r = requests.get(stack.url + "/fhir/metadata", timeout=30)
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith(FHIR)
    statement = CapabilityStatement.model_validate(r.json())
    assert statement.fhirVersion == "4.0.1" and statement.kind == "instance"
    served = {res.type: {i.code for i in res.interaction} for res in statement.rest[0].resource}
    assert served == {
        "ServiceRequest": {"create", "read"},
        "Task": {"read", "search-type"},
        "DiagnosticReport": {"read"},
    }


def test_a_ris_orders_and_follows_its_task_to_the_final_report(region: Region) -> None:
    stack, alice = region.stack, region.experts["alice"]
    order = service_request()
    r = post(region, order)
    assert r.status_code == 201, r.text
    assert r.headers["Content-Type"].startswith(FHIR)
    created = ServiceRequest.model_validate(r.json())
    case_id = int(created.id)
    location = r.headers["Location"]
    assert location == f"{stack.env['GARDE_PUBLIC_URL']}/fhir/ServiceRequest/{case_id}"
    # What the order said is the case's, the patient with it.
    with stack.sessions() as s:
        case = s.get_one(Case, case_id)
        assert case.ordered_via == "fhir"
        assert case.placer_order_number == order["identifier"][0]["value"]
        assert case.accession_number == order["identifier"][1]["value"]
        assert (case.modality, case.body_part, case.priority) == ("CT", "HEAD", "urgent")
        assert (case.exam_code, case.study_description) == ("ZBQK002", "CT head")
        assert case.clinical_question == (
            "Fall on anticoagulants | rule out bleed\nGCS 14, été vu à 22h"
        )
        assert case.requesting_physician == "Dr Urgences"
        assert case.callback_phone == "+33471000099"
        assert (case.patient_id, case.patient_name, case.patient_sex) == (
            PATIENT_ID,
            PATIENT_NAME,
            "F",
        )
        assert case.patient_birth_date is not None
        assert case.patient_birth_date.isoformat() == "1948-02-29"
    # The ServiceRequest read back names the same order and patient, only in what it holds.
    read = fhir(stack, region.site_token).get(f"/fhir/ServiceRequest/{case_id}")
    assert read.status_code == 200, read.text
    again = ServiceRequest.model_validate(read.json())
    assert {i.value for i in again.identifier} == {i["value"] for i in order["identifier"]}
    patient = next(c for c in again.contained if isinstance(c, Patient))
    assert patient.name[0].text == PATIENT_NAME and again.subject.reference == "#patient"
    # The same order again is the same case: 200 with the same resource.
    r = post(region, order)
    assert r.status_code == 200, r.text
    assert r.json()["id"] == str(case_id)

    assert task_of(region, case_id).status == "requested"
    region.offer_sms("alice")
    api = stack.api(alice.token)
    assert api.post(f"/api/v1/cases/{case_id}/accept").status_code == 200
    region.wait_status(case_id, "accepted")
    accepted = task_of(region, case_id)
    assert accepted.status == "accepted" and accepted.owner.display == "Dr Alice"
    assert accepted.businessStatus.coding[0].code == "accepted"
    assert not accepted.output
    # The images come: the expert may be reading.
    study = generate_uid()
    ct = instance(CT, study, generate_uid(), AccessionNumber=order["identifier"][1]["value"])
    assert "FailedSOPSequence" not in client(stack, region.site_token).store_instances([ct])
    assert task_of(region, case_id).status == "in-progress"
    # No report yet: the DiagnosticReport is not there.
    r = fhir(stack, region.site_token).get(f"/fhir/DiagnosticReport/{case_id}")
    assert r.status_code == 404
    assert OperationOutcome.model_validate(r.json()).issue[0].code == "not-found"

    r = api.post(
        f"/api/v1/cases/{case_id}/report",
        json={"kind": "preliminary", "findings": "No bleed seen.", "impression": "Prelim"},
    )
    assert r.status_code == 201, r.text
    assert task_of(region, case_id).status == "in-progress"
    r = api.post(
        f"/api/v1/cases/{case_id}/report",
        json={"kind": "final", "findings": "No intracranial bleed.", "impression": "Normal CT."},
    )
    assert r.status_code == 201, r.text
    region.wait_status(case_id, "final")
    done = task_of(region, case_id)
    assert done.status == "completed"
    report_ref = next(o.valueReference.reference for o in done.output if o.valueReference)
    assert report_ref == f"DiagnosticReport/{case_id}"
    # The expert who read it reads the Task too; the DiagnosticReport answers the order.
    assert fhir(stack, alice.token).get(f"/fhir/Task/{case_id}").json()["status"] == "completed"
    r = fhir(stack, region.site_token).get(f"/fhir/{report_ref}")
    assert r.status_code == 200, r.text
    report = DiagnosticReport.model_validate(r.json())
    assert report.status == "final" and report.conclusion == "Normal CT."
    assert report.basedOn[0].reference == f"ServiceRequest/{case_id}"
    assert report.performer[0].reference == "#practitioner"
    assert report.imagingStudy[0].reference == "#imagingstudy"
    # No patient data in any URL or reference the client was given.
    for said in (location, report_ref):
        assert PATIENT_ID not in said and "Durand" not in said
    for resource in (done, report):
        text = resource.model_dump_json()
        assert PATIENT_ID not in text and "Durand" not in text
    # Nor in the logs of the web app and the worker that handled it.
    for log in stack.logs.glob("*.log"):
        text = log.read_text(errors="replace")
        assert PATIENT_ID not in text and "Durand" not in text, log.name


def test_a_cancelled_order_is_a_cancelled_task(region: Region) -> None:
    r = post(region, service_request())
    assert r.status_code == 201, r.text
    case_id = int(r.json()["id"])
    cancel = region.stack.api(region.site_token).post(f"/api/v1/cases/{case_id}/cancel")
    assert cancel.status_code == 200, cancel.text
    region.wait_status(case_id, "cancelled")
    assert task_of(region, case_id).status == "cancelled"
    read = fhir(region.stack, region.site_token).get(f"/fhir/ServiceRequest/{case_id}")
    assert read.json()["status"] == "revoked"


def _issues(r: requests.Response) -> dict[str, str]:
    assert r.headers["Content-Type"].startswith(FHIR), r.text
    found = OperationOutcome.model_validate(r.json())
    return {
        (issue.expression or [""])[0]: f"{issue.code}: {issue.diagnostics}" for issue in found.issue
    }


@pytest.mark.parametrize(
    ("change", "path", "words"),
    [
        ({"identifier": []}, "ServiceRequest.identifier", "PLAC"),
        ({"category": None, "code": {"text": "Head scan"}}, "ServiceRequest.category", "required"),
        ({"priority": "whenever"}, "ServiceRequest.priority", "stat"),
        ({"bodySite": None}, "ServiceRequest.bodySite", "required"),
        ({"status": "draft"}, "ServiceRequest.status", "active"),
        ({"subject": {"reference": "#nobody"}}, "ServiceRequest.subject", "no contained Patient"),
        ({"subject": None}, "ServiceRequest.subject", "required"),
        ({"spin": 1}, "ServiceRequest.spin", "not a field"),
        ({"resourceType": "Patient"}, "ServiceRequest.resourceType", "ServiceRequest"),
        (
            {"reasonCode": None, "note": None},
            "ServiceRequest.reasonCode",
            "required",
        ),
    ],
)
def test_a_bad_order_gets_an_operation_outcome_naming_the_field(
    shared_region: Region, change: dict[str, Any], path: str, words: str
) -> None:
    region = shared_region
    on_sqlite_only(region.stack.env["GARDE_DATABASE_URL"], "refused before the database")
    order = {k: v for k, v in (service_request() | change).items() if v is not None}
    r = post(region, order)
    assert r.status_code == 400, r.text
    issues = _issues(r)
    assert path in issues, issues
    assert issues[path].startswith("invalid: ") and words in issues[path], issues
    with region.stack.sessions() as s:
        placer = order["identifier"][0]["value"] if order.get("identifier") else None
        assert placer is None or s.query(Case).filter_by(placer_order_number=placer).count() == 0


def test_what_the_case_keeps_as_it_came_is_refused_not_cut(shared_region: Region) -> None:
    region = shared_region
    on_sqlite_only(region.stack.env["GARDE_DATABASE_URL"], "refused before the database")
    order = service_request(placer="P" * 65)
    order["contained"][0]["birthDate"] = "1948"
    order["contained"][0]["name"] = [{"text": "Durand\x1cEmilie"}]
    issues = _issues(post(region, order))
    patient = "ServiceRequest.contained.ofType(Patient)"
    assert "whole date" in issues[f"{patient}.birthDate"]
    assert "control characters" in issues[f"{patient}.name"]
    assert "at most 64" in issues["ServiceRequest.identifier"]


def test_who_may_order_and_read(shared_region: Region) -> None:
    region = shared_region
    on_sqlite_only(region.stack.env["GARDE_DATABASE_URL"], "who may is decided alike")
    stack = region.stack
    r = fhir(stack, None).get("/fhir/Task/1")
    assert r.status_code == 401 and r.headers["WWW-Authenticate"].startswith("Bearer")
    assert list(_issues(r).values())[0].startswith("login: ")
    r = fhir(stack, region.experts["alice"].token).post(
        "/fhir/ServiceRequest", data=json.dumps(service_request())
    )
    assert r.status_code == 403 and list(_issues(r).values())[0].startswith("forbidden: ")
    r = post(region, service_request())
    assert r.status_code == 201, r.text
    case_id = r.json()["id"]
    try:
        # Staff read every order; an expert it is nothing to finds none; nor does a search.
        coordinator = fhir(stack, region.coordinator_token)
        assert coordinator.get(f"/fhir/ServiceRequest/{case_id}").status_code == 200
        chloe = fhir(stack, region.experts["chloe"].token)
        assert chloe.get(f"/fhir/Task/{case_id}").status_code == 404
        found = chloe.get(f"/fhir/Task?focus=ServiceRequest/{case_id}").json()
        assert found["total"] == 0
        r = coordinator.get("/fhir/Task?focus=Patient/1")
        assert r.status_code == 400 and "focus" in _issues(r)
        # The cookie of a logged-in page counts for nothing here.
        assert fhir(stack, None).get(f"/fhir/ServiceRequest/{case_id}").status_code == 401
    finally:
        region.cancel_open_cases()


def _regulated(region: Region) -> None:
    r = region.stack.api(region.admin_token).patch(
        f"/api/v1/sites/{region.site}", json={"regulation": True}
    )
    assert r.status_code == 200, r.text


def _held_to_validate(region: Region) -> int:
    """An order of a régulation site, held by alice: to be validated before its scan."""
    r = post(region, service_request())
    assert r.status_code == 201, r.text
    case_id = int(r.json()["id"])
    assert task_of(region, case_id).businessStatus.coding[0].code == "to_validate"
    region.offer_sms("alice")
    api = region.stack.api(region.experts["alice"].token)
    assert api.post(f"/api/v1/cases/{case_id}/accept").status_code == 200
    wait_for(lambda: region.case(case_id)["assigned_expert"], what="alice to hold the case")
    assert task_of(region, case_id).status == "requested"
    return case_id


def test_a_validated_order_is_an_accepted_task_with_its_protocol(region: Region) -> None:
    _regulated(region)
    case_id = _held_to_validate(region)
    r = region.stack.api(region.experts["alice"].token).post(
        f"/api/v1/cases/{case_id}/validate", json={"protocol": "CTA-WILLIS", "note": "arterial"}
    )
    assert r.status_code == 200, r.text
    region.wait_status(case_id, "validated")
    validated = task_of(region, case_id)
    assert validated.status == "accepted"
    assert validated.businessStatus.coding[0].code == "validated"
    assert "CTA-WILLIS" in validated.businessStatus.text
    protocol = next(o.valueCodeableConcept for o in validated.output if o.valueCodeableConcept)
    assert (protocol.coding[0].system, protocol.coding[0].code) == (
        "urn:garde:protocol",
        "CTA-WILLIS",
    )


def test_a_refused_order_is_a_rejected_task_with_the_reason(region: Region) -> None:
    _regulated(region)
    case_id = _held_to_validate(region)
    reason = "No indication for CT: MRI first"
    r = region.stack.api(region.experts["alice"].token).post(
        f"/api/v1/cases/{case_id}/refuse", json={"reason": reason}
    )
    assert r.status_code == 200, r.text
    region.wait_status(case_id, "refused")
    refused = task_of(region, case_id)
    assert refused.status == "rejected" and refused.statusReason.text == reason
    read = fhir(region.stack, region.site_token).get(f"/fhir/ServiceRequest/{case_id}")
    assert read.json()["status"] == "revoked"


def test_what_fhir_does_not_serve_is_an_operation_outcome(shared_region: Region) -> None:
    region = shared_region
    on_sqlite_only(region.stack.env["GARDE_DATABASE_URL"], "routing reads no database")
    api = fhir(region.stack, region.coordinator_token)
    r = api.get("/fhir/Patient/1")
    assert r.status_code == 404 and list(_issues(r).values())[0].startswith("not-found: ")
    r = api.delete("/fhir/Task/1")
    assert r.status_code == 405 and list(_issues(r).values())[0].startswith("not-supported: ")
