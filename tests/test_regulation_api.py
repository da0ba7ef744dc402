"""Régulation over HTTP (api.md): the protocol library, read by whoever validates or scans and
kept by coordinators; a site's HL7 facility and régulation; a case's order, patient and
decision in its JSON; validate, refuse and scanned, their bad input named by field."""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from typing import Any

from garde.models import Case, Protocol
from tests.conftest import Region


def _iso(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _new_code() -> str:
    return "T-" + secrets.token_hex(4).upper()


def test_protocol_library_is_read_by_all_and_kept_by_staff(shared_region: Region) -> None:
    region = shared_region
    staff = region.stack.api(region.coordinator_token)
    code = _new_code()
    r = staff.post(
        "/api/v1/protocols",
        json={
            "code": code,
            "name": "  CT chest, arterial phase ",
            "modality": "tdm",
            "body_part": "chest",
            "text": "80 mL at 4 mL/s, bolus tracking on the aorta.",
        },
    )
    assert r.status_code == 201, r.text
    made = r.json()
    assert (made["name"], made["modality"], made["body_part"], made["active"]) == (
        "CT chest, arterial phase",
        "CT",
        "CHEST",
        True,
    )
    # Whoever validates or scans reads it: experts pick from it, sites see what they scan.
    for token in (region.site_token, region.experts["alice"].token, region.admin_token):
        r = region.stack.api(token).get("/api/v1/protocols", params={"modality": "ct"})
        assert r.status_code == 200, r.text
        codes = [p["code"] for p in r.json()]
        assert {code, "CT-HEAD-NC", "CTPA"} <= set(codes) and "MR-STROKE" not in codes
        assert all(p["modality"] == "CT" for p in r.json())
    assert region.stack.api(region.site_token).get(f"/api/v1/protocols/{code}").json() == made

    r = staff.patch(f"/api/v1/protocols/{code}", json={"active": False, "text": ""})
    assert r.status_code == 200, r.text
    assert (r.json()["active"], r.json()["text"], r.json()["name"]) == (
        False,
        "",
        "CT chest, arterial phase",
    )
    active = staff.get("/api/v1/protocols", params={"active": "true"}).json()
    inactive = staff.get("/api/v1/protocols", params={"active": "false"}).json()
    assert code not in {p["code"] for p in active} and code in {p["code"] for p in inactive}

    # Only staff keep it.
    for token in (region.site_token, region.experts["alice"].token):
        api = region.stack.api(token)
        assert api.post("/api/v1/protocols", json={"code": _new_code()}).status_code == 403
        assert api.patch(f"/api/v1/protocols/{code}", json={"name": "x"}).status_code == 403
    assert staff.patch("/api/v1/protocols/NOPE-X", json={"name": "x"}).status_code == 404


def test_bad_protocols_are_refused_naming_each_field_and_nothing_changes(
    shared_region: Region,
) -> None:
    region = shared_region
    staff = region.stack.api(region.coordinator_token)
    r = staff.post(
        "/api/v1/protocols",
        json={"code": "CT-HEAD-NC", "name": "", "modality": "XR", "text": "a\x00b"},
    )
    assert r.status_code == 400, r.text
    detail = r.json()["detail"]
    assert detail["code"] == "is already used by another protocol"
    assert detail["name"] == "is required"
    assert detail["modality"].startswith("unknown modality XR")
    assert "control characters" in detail["text"]

    before = staff.get("/api/v1/protocols/CTPA").json()
    r = staff.patch(
        "/api/v1/protocols/CTPA", json={"code": "CTPA-2", "name": "", "active": "maybe"}
    )
    assert r.status_code == 400, r.text
    assert r.json()["detail"] == {
        "code": "cannot change: cases and messages name the protocol by it",
        "name": "is required",
        "active": "must be true or false",
    }
    assert staff.get("/api/v1/protocols/CTPA").json() == before
    r = staff.get("/api/v1/protocols", params={"modality": "ZZ"})
    assert r.status_code == 400 and "modality" in r.json()["detail"]


def test_a_sites_hl7_facility_and_regulation_are_set_read_and_unique(region: Region) -> None:
    admin = region.stack.api(region.admin_token)
    facility = "FAC-" + secrets.token_hex(3).upper()
    r = admin.patch(
        f"/api/v1/sites/{region.site}",
        json={
            "hl7_facility": f" {facility} ",
            "regulation": True,
            "reroute_after_scan": True,
            "service_levels": {"stat": {"validate_within_s": 240}},
        },
    )
    assert r.status_code == 200, r.text
    site = admin.get(f"/api/v1/sites/{region.site}").json()
    assert (site["hl7_facility"], site["regulation"], site["reroute_after_scan"]) == (
        facility,
        True,
        True,
    )
    assert site["service_levels"]["stat"]["validate_within_s"] == 240
    assert site["service_levels"]["urgent"]["validate_within_s"] == 600  # the default's
    # The site's own facility again is no conflict.
    assert admin.patch(f"/api/v1/sites/{region.site}", json={"hl7_facility": facility}).ok

    # A facility names one site: a new site or another site's change may not take it.
    other = "SITE-" + secrets.token_hex(3).upper()
    r = admin.post(
        "/api/v1/sites",
        json={"code": other, "name": "CH other", "hl7_facility": facility, "regulation": "x"},
    )
    assert r.status_code == 400, r.text
    assert r.json()["detail"] == {
        "hl7_facility": f"is already the facility of site {region.site}",
        "regulation": "must be true or false",
    }
    r = admin.post("/api/v1/sites", json={"code": other, "name": "CH other", "hl7_facility": "A|B"})
    assert r.json()["detail"] == {"hl7_facility": "must not contain | or \\ (HL7 separators)"}
    r = admin.post("/api/v1/sites", json={"code": other, "name": "CH other", "regulation": True})
    assert r.status_code == 201, r.text
    assert (r.json()["hl7_facility"], r.json()["regulation"]) == (None, True)
    r = admin.patch(f"/api/v1/sites/{other}", json={"hl7_facility": facility})
    assert r.status_code == 400
    assert r.json()["detail"] == {"hl7_facility": f"is already the facility of site {region.site}"}
    r = admin.patch(
        f"/api/v1/sites/{region.site}", json={"service_levels": {"stat": {"validate_within_s": 0}}}
    )
    assert r.json()["detail"] == {
        "service_levels.stat.validate_within_s": "must be between 1 second and 30 days"
    }

    # Empty: no HL7 orders; the facility is free again.
    r = admin.patch(f"/api/v1/sites/{region.site}", json={"hl7_facility": "", "regulation": False})
    assert (r.json()["hl7_facility"], r.json()["regulation"]) == (None, False)
    assert admin.patch(f"/api/v1/sites/{other}", json={"hl7_facility": facility}).ok


def test_a_plain_case_says_how_it_was_ordered_and_has_no_regulation(region: Region) -> None:
    case = region.submit()
    assert (case["ordered_via"], case["placer_order_number"]) == ("web", None)
    assert case["patient"] is None and case["regulation"] is None
    assert set(case["sla"]) == {"accept", "report"}
    requested = _iso(case["requested_at"])
    assert _iso(case["sla"]["report"]["due"]) == requested + timedelta(
        seconds=case["sla"]["report"]["within_s"]
    )


def test_a_regulation_case_shows_its_validation_deadline_and_the_patient_to_its_readers(
    region: Region,
) -> None:
    admin = region.stack.api(region.admin_token)
    r = admin.patch(
        f"/api/v1/sites/{region.site}",
        json={"regulation": True, "service_levels": {"urgent": {"validate_within_s": 420}}},
    )
    assert r.status_code == 200, r.text
    case = region.submit(priority="urgent")
    assert case["status"] == "to_validate"
    requested = _iso(case["requested_at"])
    regulation = case["regulation"]
    assert regulation == {
        "validate_within_s": 420,
        "validate_by": regulation["validate_by"],
        "reroute_after_scan": False,
        "protocol": None,
        "note": "",
        "validated_at": None,
        "validated_by": None,
        "refusal_reason": "",
        "scanned_at": None,
    }
    assert _iso(regulation["validate_by"]) == requested + timedelta(seconds=420)
    validate = case["sla"]["validate"]
    assert (validate["within_s"], validate["met"], validate["done_at"]) == (420, None, None)
    # The report is due from the scan: not yet, so not breached however long it waits.
    assert case["sla"]["report"]["met"] is None and case["sla"]["report"]["taken_s"] == 0

    # An order's patient: the site and staff see them; an expert only offered it does not.
    with region.stack.sessions.begin() as s:
        row = s.get_one(Case, case["id"])
        row.patient_id, row.patient_name, row.patient_sex = "IPP-123", "DUPONT^JEANNE", "F"
        row.patient_birth_date = datetime(1950, 3, 4).date()
        row.placer_order_number, row.ordered_via = "ORD-9", "hl7"
    patient = {"id": "IPP-123", "name": "DUPONT^JEANNE", "birth_date": "1950-03-04", "sex": "F"}
    for token in (region.site_token, region.coordinator_token):
        seen = region.stack.api(token).get(f"/api/v1/cases/{case['id']}").json()
        assert seen["patient"] == patient
        assert (seen["ordered_via"], seen["placer_order_number"]) == ("hl7", "ORD-9")
    r = region.stack.api(region.experts["alice"].token).get(f"/api/v1/cases/{case['id']}")
    if r.status_code == 200:  # offered or open to her: a summary, never the patient
        assert r.json()["sight"] == "summary" and "patient" not in r.json()
    else:
        assert r.status_code == 404


def test_validate_refuse_and_scanned_name_the_bad_field_before_asking_the_workflow(
    region: Region,
) -> None:
    case = region.submit()
    alice = region.stack.api(region.experts["alice"].token)
    url = f"/api/v1/cases/{case['id']}"
    with region.stack.sessions.begin() as s:
        retired = Protocol(code=_new_code(), name="retired", modality="CT", active=False)
        s.add(retired)
        s.flush()
        retired_code = retired.code

    bad: list[tuple[str, Any, dict[str, str]]] = [
        ("validate", {}, {"protocol": "is required"}),
        ("validate", {"protocol": "NOPE-1"}, {"protocol": "unknown protocol NOPE-1"}),
        (
            "validate",
            {"protocol": retired_code},
            {"protocol": f"{retired_code} is no longer in use"},
        ),
        (
            "validate",
            {"protocol": "CT-HEAD-NC", "note": "x" * 2001},
            {"note": "must be at most 2000 characters"},
        ),
        ("refuse", {"reason": "   "}, {"reason": "is required"}),
        ("refuse", None, {"reason": "is required"}),
    ]
    for action, data, reasons in bad:
        r = (
            alice.post(f"{url}/{action}", json=data)
            if data is not None
            else alice.post(f"{url}/{action}")
        )
        assert (r.status_code, r.json().get("detail")) == (400, reasons), (action, data, r.text)
    # Each action is its role's: an expert decides, the site says the scan is done.
    site = region.stack.api(region.site_token)
    assert site.post(f"{url}/validate", json={"protocol": "CT-HEAD-NC"}).status_code == 403
    assert site.post(f"{url}/refuse", json={"reason": "no"}).status_code == 403
    assert alice.post(f"{url}/scanned").status_code == 403
    coordinator = region.stack.api(region.coordinator_token)
    assert coordinator.post(f"{url}/scanned").status_code == 403
    # Nothing was decided.
    seen = region.case(case["id"])
    assert seen["status"] in ("requested", "offered") and seen["regulation"] is None


def _regulated(region: Region) -> None:
    r = region.stack.api(region.admin_token).patch(
        f"/api/v1/sites/{region.site}", json={"regulation": True}
    )
    assert r.status_code == 200, r.text


def _accepted(region: Region, case_id: int) -> None:
    r = region.stack.api(region.experts["alice"].token).post(f"/api/v1/cases/{case_id}/accept")
    assert r.status_code == 200, r.text
    assert (r.json()["status"], r.json()["assigned_expert"]) == (
        "to_validate",
        region.experts["alice"].code,
    )


def test_the_holder_validates_with_a_protocol_then_the_site_scans_and_the_report_counts_from_it(
    region: Region,
) -> None:
    _regulated(region)
    case = region.submit()
    url = f"/api/v1/cases/{case['id']}"
    alice = region.stack.api(region.experts["alice"].token)
    site = region.stack.api(region.site_token)
    # Not the holder: the workflow refuses (403); nothing to scan before a protocol (409).
    r = region.stack.api(region.experts["bruno"].token).post(
        f"{url}/validate", json={"protocol": "CTA-WILLIS"}
    )
    assert r.status_code == 403, r.text
    assert site.post(f"{url}/scanned").status_code == 409
    _accepted(region, case["id"])
    r = alice.post(f"{url}/validate", json={"protocol": "CTA-WILLIS", "note": "Arterial phase"})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "validated"
    seen = site.get(url).json()
    assert seen["status"] == "validated" and seen["assigned_expert"] == region.experts["alice"].code
    regulation = seen["regulation"]
    assert regulation["protocol"]["code"] == "CTA-WILLIS"
    assert regulation["protocol"]["name"] == "CT angiography of the circle of Willis"
    assert "bolus tracking" in regulation["protocol"]["text"]
    assert regulation["validated_by"] == region.experts["alice"].code
    assert regulation["validated_at"] is not None and regulation["scanned_at"] is None
    assert regulation["note"] == "Arterial phase"
    assert seen["sla"]["validate"]["met"] is True
    assert seen["sla"]["validate"]["done_at"] == regulation["validated_at"]
    # Validated once: again is a conflict.
    r = alice.post(f"{url}/validate", json={"protocol": "CT-HEAD-NC"})
    assert r.status_code == 409, r.text
    assert region.case(case["id"])["regulation"]["protocol"]["code"] == "CTA-WILLIS"

    r = site.post(f"{url}/scanned")
    assert r.status_code == 200, r.text
    scanned = r.json()
    assert scanned["status"] == "accepted"  # back to the expert who validated it
    assert scanned["assigned_expert"] == region.experts["alice"].code
    scanned_at = _iso(scanned["regulation"]["scanned_at"])
    report = scanned["sla"]["report"]
    assert _iso(report["due"]) == scanned_at + timedelta(seconds=report["within_s"])
    assert "scanned" in {e["kind"] for e in scanned["timeline"]}


def test_the_holder_refuses_with_a_reason_and_the_case_is_closed(region: Region) -> None:
    _regulated(region)
    case = region.submit()
    url = f"/api/v1/cases/{case['id']}"
    alice = region.stack.api(region.experts["alice"].token)
    _accepted(region, case["id"])
    assert alice.post(f"{url}/refuse", json={}).status_code == 400
    r = alice.post(f"{url}/refuse", json={"reason": "  No indication for CT: ultrasound first. "})
    assert r.status_code == 200, r.text
    refused = r.json()
    assert refused["status"] == "refused"
    assert refused["regulation"]["refusal_reason"] == "No indication for CT: ultrasound first."
    assert refused["regulation"]["protocol"] is None
    assert refused["sla"]["validate"]["met"] is True
    # Closed: nothing more to decide or scan.
    assert alice.post(f"{url}/validate", json={"protocol": "CT-HEAD-NC"}).status_code == 409
    site = region.stack.api(region.site_token)
    assert site.post(f"{url}/scanned").status_code == 409
    seen = site.get(url).json()
    assert seen["regulation"]["refusal_reason"] == "No indication for CT: ultrasound first."


def test_a_case_not_under_regulation_has_nothing_to_validate_or_scan(region: Region) -> None:
    case = region.submit()
    url = f"/api/v1/cases/{case['id']}"
    alice = region.stack.api(region.experts["alice"].token)
    assert alice.post(f"/api/v1/cases/{case['id']}/accept").status_code == 200
    r = alice.post(f"{url}/validate", json={"protocol": "CT-HEAD-NC"})
    assert r.status_code == 409 and "waiting for validation" in r.json()["error"]
    assert alice.post(f"{url}/refuse", json={"reason": "no"}).status_code == 409
    r = region.stack.api(region.site_token).post(f"{url}/scanned")
    assert r.status_code == 409 and "not under régulation" in r.json()["error"]
    assert region.case(case["id"])["status"] == "accepted"
