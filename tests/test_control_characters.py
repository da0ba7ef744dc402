"""Control characters in text (NUL, the MLLP framing bytes 0x0B and 0x1C) are refused at the
door with a 400 naming the field, and can never close a case with a report that cannot be
stored: PostgreSQL refuses NUL in text, and HL7 and FHIR would carry the framing bytes."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError

from garde.domain import ReportKind
from garde.messages import Decline, ReportDraft
from garde.temporal import case_workflow_id
from tests.conftest import Region, case_request, wait_for
from tests.web.test_pages import Browser, coordinator

FORBIDDEN = ["\x00", "\x0b", "\x1c"]


def _accepted_case(region: Region) -> int:
    case_id: int = region.submit()["id"]
    r = region.stack.api(region.experts["alice"].token).post(f"/api/v1/cases/{case_id}/accept")
    assert r.status_code == 200, r.text
    return case_id


def _refused(r: Any, field: str) -> None:
    assert r.status_code == 400, r.text
    body = r.json()
    assert set(body) == {"error", "detail"}
    assert "control character" in body["detail"][field], body


def _still_reportable(region: Region, case_id: int) -> None:
    """The case is open and a clean report files and shows: nothing was stored, nothing locked."""
    assert region.case(case_id)["status"] == "accepted"
    clean = {"kind": "final", "findings": "No bleed.\tNo fracture.\r\nNormal.", "impression": "OK"}
    r = region.stack.api(region.experts["alice"].token).post(
        f"/api/v1/cases/{case_id}/report", json=clean
    )
    assert r.status_code == 201, r.text
    shown = region.wait_status(case_id, "final")
    assert shown["report"]["findings"] == clean["findings"]


@pytest.mark.parametrize("char", FORBIDDEN, ids=["nul", "vt", "fs"])
def test_a_report_with_a_control_character_is_refused_through_the_api(
    region: Region, char: str
) -> None:
    case_id = _accepted_case(region)
    report = {"kind": "final", "findings": f"Subdural{char} haematoma", "impression": "SDH"}
    r = region.stack.api(region.experts["alice"].token).post(
        f"/api/v1/cases/{case_id}/report", json=report
    )
    _refused(r, "findings")
    _still_reportable(region, case_id)


@pytest.mark.parametrize("char", FORBIDDEN, ids=["nul", "vt", "fs"])
def test_a_report_with_a_control_character_is_refused_on_the_experts_page(
    region: Region, char: str
) -> None:
    case_id = _accepted_case(region)
    alice = Browser(region.stack).login(region.experts["alice"].username)
    page = f"/expert/cases/{case_id}"
    report = {"kind": "final", "findings": "Normal.", "impression": f"SDH{char}"}
    r = alice.submit(page, f"{page}/report", report)
    assert r.status_code == 400, r.text
    assert "Impression must not contain control characters" in r.text
    _still_reportable(region, case_id)


def test_a_case_request_with_a_nul_is_refused(region: Region) -> None:
    api = region.stack.api(region.site_token)
    r = api.post("/api/v1/cases", json=case_request(clinical_question="Fall\x00, bleed?"))
    _refused(r, "clinical_question")
    assert api.get("/api/v1/cases").json() == []


def test_the_sites_request_form_names_the_field_and_stores_nothing(region: Region) -> None:
    site = Browser(region.stack).login(region.site_username)
    entered = case_request(clinical_question="Fall\x1c, bleed?")
    r = site.submit("/site/cases/new", "/site/cases/new", entered)
    assert r.status_code == 400
    assert "Clinical question must not contain control characters" in r.text
    assert region.stack.api(region.site_token).get("/api/v1/cases").json() == []


def test_tab_and_line_breaks_are_kept(region: Region) -> None:
    question = "Fall on anticoagulants.\r\nGCS 14.\tHeadache."
    case = region.submit(clinical_question=question)
    assert region.case(case["id"])["clinical_question"] == question


def test_a_decline_signalled_with_one_is_recorded_without_it(region: Region) -> None:
    """A signal cannot be refused: the workflow drops the character rather than retry for ever
    a write PostgreSQL refuses; the decline is recorded and the ladder moves on."""
    case_id = region.submit()["id"]
    region.wait_status(case_id, "offered")
    alice = region.experts["alice"]
    _send(region, case_id, "decline", Decline(alice.id, "busy\x00 tonight"))
    wait_for(
        lambda: any(
            e["kind"] == "declined" and e["expert"] == alice.code and e["detail"] == "busy tonight"
            for e in region.case(case_id)["timeline"]
        ),
        what="the decline in the record",
    )
    region.offer_sms("bruno")


def _send(region: Region, case_id: int, signal: str, arg: Any) -> None:
    async def send() -> None:
        client = await region.stack.client()
        await client.get_workflow_handle(case_workflow_id(case_id)).signal(signal, arg)

    asyncio.run(send())


def test_the_workflow_refuses_a_report_it_could_not_store(region: Region) -> None:
    """Sent to the workflow directly (not through the web's checks): refused by the update's
    validator, so the case is not closed by a report the record cannot hold."""
    case_id = _accepted_case(region)
    draft = ReportDraft(region.experts["alice"].id, ReportKind.FINAL, "Bleed\x00", "SDH", False)

    async def file() -> None:
        client = await region.stack.client()
        handle = client.get_workflow_handle(case_workflow_id(case_id))
        await handle.execute_update("file_report", draft)

    with pytest.raises(WorkflowUpdateFailedError) as refused:
        asyncio.run(file())
    cause = refused.value.cause
    assert isinstance(cause, ApplicationError) and cause.type == "InvalidInput", cause
    assert "findings" in cause.message
    _still_reportable(region, case_id)


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("/api/v1/sites", "name"),
        ("/api/v1/sites", "ae_titles"),
        ("/api/v1/experts", "name"),
        ("/api/v1/experts", "subspecialties"),
        ("/api/v1/coordinators", "name"),
        ("/api/v1/rotations", "name"),
        ("/api/v1/shifts", "expert"),
        ("/api/v1/unavailability", "reason"),
        ("/api/v1/swaps", "note"),
    ],
)
def test_every_text_field_of_the_registry_and_rosters_refuses_them(
    shared_region: Region, path: str, field: str
) -> None:
    region = shared_region
    value: Any = ["A\x00"] if field in ("ae_titles", "subspecialties") else "A\x00"
    _refused(region.stack.api(region.admin_token).post(path, json={field: value}), field)


def test_decline_and_reassignment_reasons_refuse_them(region: Region) -> None:
    case_id = region.submit()["id"]
    region.wait_status(case_id, "offered")
    alice = region.stack.api(region.experts["alice"].token)
    _refused(alice.post(f"/api/v1/cases/{case_id}/decline", json={"reason": "busy\x00"}), "reason")
    coordinator = region.stack.api(region.coordinator_token)
    r = coordinator.post(
        f"/api/v1/cases/{case_id}/reassign",
        json={"expert": region.experts["bruno"].code, "reason": "\x1c", "force": True},
    )
    _refused(r, "reason")
    assert region.case(case_id)["status"] == "offered"


def test_an_imported_roster_file_with_them_is_refused(region: Region) -> None:
    alice = region.experts["alice"].code
    csv = f"expert,start,end\n{alice},2031-01-06T20:00+01:00,2031-01-07T08:00+01:00\x1c\n"
    r = region.stack.api(region.coordinator_token).post(
        "/api/v1/shifts/import", data=csv.encode(), headers={"Content-Type": "text/csv"}
    )
    _refused(r, "body")


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("/api/v1/cases?status=final%00", "status"),
        ("/api/v1/billing/lines?site=A%00", "site"),
        ("/api/v1/shifts?expert=A%00", "expert"),
        ("/api/v1/sites/A%00", "code"),
        ("/api/v1/experts/A%1C/roster.ics", "code"),
    ],
)
def test_a_lookup_with_one_in_the_address_is_refused(
    shared_region: Region, path: str, field: str
) -> None:
    """A code looked up is no text to store, but PostgreSQL refuses a NUL even in a query."""
    region = shared_region
    _refused(region.stack.api(region.admin_token).get(path), field)


def test_a_coordinator_form_naming_an_expert_refuses_them(region: Region) -> None:
    browser = coordinator(region.stack)
    r = browser.submit("/coordinator/feeds", "/coordinator/feeds/new", {"expert": "DR\x00"})
    assert r.status_code == 400 and "control characters" in r.text
    r = browser.submit(
        "/coordinator/import", "/coordinator/import", {"expert": "DR\x00", "tier": "primary"}
    )
    assert r.status_code == 400 and "control characters" in r.text


def test_an_sms_answer_with_one_is_kept_and_acted_on(region: Region) -> None:
    """Twilio's webhook cannot be asked to type again: the control character is dropped, the
    message stored and the answer taken (PostgreSQL refused the row, and the answer was lost)."""
    case_id = region.submit()["id"]
    code = region.offer_sms("alice")
    r = region.stack.sms_reply(region.experts["alice"].phone, f"YES {code}\x00")
    assert r.status_code == 200, r.text
    region.wait_status(case_id, "accepted")


def test_a_login_with_one_is_refused_not_a_crash(region: Region) -> None:
    r = Browser(region.stack).submit("/login", "/login", {"username": "a\x00", "password": "x"})
    assert r.status_code in (400, 401), r.status_code
