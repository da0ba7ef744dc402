"""Régulation in the browser, over real HTTP: the expert validates a request with a protocol
of the library (or refuses it), the site reads the protocol at once and says the scan is
done, the coordinators keep the library, the admin turns régulation on for a site."""

from __future__ import annotations

import contextlib
import html
import re
import secrets
from collections.abc import Iterator
from datetime import date

import pytest
import requests
from sqlalchemy import select, update

from garde.domain import Role
from garde.models import Case, Protocol, Site
from tests.conftest import Region, add_login, case_request, make_region, wait_for
from tests.web.test_pages import Browser, coordinator, flashes


@pytest.fixture
def regulated(region: Region) -> Iterator[Region]:
    """The region's site under régulation; its cases still open after the test cancelled
    (the region's clean-up cancels requested, offered and accepted ones only)."""
    with region.stack.sessions.begin() as s:
        s.execute(update(Site).where(Site.code == region.site).values(regulation=True))
    yield region
    with region.stack.sessions() as s:
        left = s.scalars(
            select(Case.id)
            .join(Site)
            .where(Site.code == region.site, Case.status.in_(("to_validate", "validated")))
        ).all()
    api = region.stack.api(region.coordinator_token)
    for case_id in left:
        with contextlib.suppress(requests.RequestException):
            api.post(f"/api/v1/cases/{case_id}/cancel", timeout=10)


def _text(page: str) -> str:
    return html.unescape(page)


def _held_to_validate(region: Region, **request: str) -> tuple[int, Browser]:
    """A régulation case the expert alice took from her offer: hers to validate."""
    case = region.submit(**request)
    assert case["status"] == "to_validate", case
    alice = Browser(region.stack).login(region.experts["alice"].username)
    path = f"/expert/cases/{case['id']}"
    wait_for(lambda: region.case(case["id"])["status"] in ("to_validate", "offered"))
    r = alice.submit("/expert/", path + "/accept", {})
    assert r.status_code == 302 and r.headers["Location"].endswith(path), r.text
    wait_for(lambda: region.case(case["id"])["assigned_expert"] == region.experts["alice"].code)
    return case["id"], alice


def test_expert_validates_with_a_protocol_and_the_site_scans(regulated: Region) -> None:
    region = regulated
    site = Browser(region.stack).login(region.site_username)
    case_id, alice = _held_to_validate(region)
    path = f"/expert/cases/{case_id}"
    with region.stack.sessions.begin() as s:
        s.execute(
            update(Case)
            .where(Case.id == case_id)
            .values(
                patient_name="DUPONT^JEANNE",
                patient_id="IPP-991",
                patient_birth_date=date(1950, 3, 2),
            )
        )

    page = _text(alice.get(path).text)
    # The clinical question, and the library for the case's modality first, the others apart.
    assert "Fall on anticoagulants" in page and "DUPONT^JEANNE" in page
    fitting, other = page.split('<optgroup label="For CT">')[1].split('<optgroup label="Other">')
    assert "CT angiography of the circle of Willis" in fitting
    assert "MR-STROKE" not in fitting and 'value="MR-STROKE"' in other
    assert 'name="findings"' not in page  # nothing to report before the scan

    # Refused for its fields, and what was typed stays.
    r = alice.submit(path, path + "/validate", {"note": "Bolus tracking on the ICA"})
    assert r.status_code == 400
    assert "Protocol is required" in _text(r.text) and "Bolus tracking on the ICA" in r.text
    r = alice.submit(path, path + "/validate", {"protocol": "NO-SUCH"})
    assert r.status_code == 400 and "Protocol unknown protocol NO-SUCH" in r.text

    r = alice.submit(
        path, path + "/validate", {"protocol": "CTA-WILLIS", "note": "Bolus tracking on the ICA"}
    )
    assert r.status_code == 302, r.text
    region.wait_status(case_id, "validated")

    # The site reads the protocol whole at once, the note, and says the scan is done.
    case_path = f"/site/cases/{case_id}"
    page = _text(site.get(case_path).text)
    with region.stack.sessions() as s:
        willis = s.scalars(select(Protocol).where(Protocol.code == "CTA-WILLIS")).one()
    assert willis.name in page and willis.text.splitlines()[0] in page
    assert "Bolus tracking on the ICA" in page and "DUPONT^JEANNE" in page
    assert "Scan done" in page and f"{case_path}/scanned" in page
    assert "Indication validated by Dr Alice" in page  # the timeline names who decided
    # The report is promised from the scan: no deadline ticks before it.
    assert "Report within 1 h 00 of the scan" in page and "counted from the scan" in page

    r = site.submit(case_path, case_path + "/scanned", {})
    assert r.status_code == 302, r.text
    held = region.wait_status(case_id, "accepted")
    assert held["assigned_expert"] == region.experts["alice"].code
    page = _text(site.get(case_path).text)
    assert "Scan done" in page and f"{case_path}/scanned" not in page
    assert "marked by the site" in page and "counted from the scan" not in page
    # Now alice reads it: the report form is hers.
    assert 'name="findings"' in alice.get(path).text


def test_expert_refuses_with_a_reason_the_site_reads(regulated: Region) -> None:
    region = regulated
    case_id, alice = _held_to_validate(region)
    path = f"/expert/cases/{case_id}"
    r = alice.submit(path, path + "/refuse", {})
    assert r.status_code == 400 and "Reason is required" in _text(r.text)
    reason = "No indication for a CT: ultrasound first"
    r = alice.submit(path, path + "/refuse", {"reason": reason})
    assert r.status_code == 302 and r.headers["Location"].endswith("/expert/"), r.text
    region.wait_status(case_id, "refused")

    page = _text(
        Browser(region.stack).login(region.site_username).get(f"/site/cases/{case_id}").text
    )
    assert reason in page and "refused" in page
    assert "Scan done" not in page and "Cancel the request" not in page
    # A refused case is closed: off the board; its page says why.
    staff = coordinator(region.stack)
    assert reason in _text(staff.get(f"/coordinator/cases/{case_id}").text)
    board = staff.get("/coordinator/").text
    assert f'/coordinator/cases/{case_id}"' not in board


def test_worklist_and_site_page_show_a_request_to_validate(regulated: Region) -> None:
    region = regulated
    site = Browser(region.stack).login(region.site_username)
    form = _text(site.get("/site/cases/new").text)
    assert "Under régulation: a radiologist validates the indication" in form
    case = region.submit()
    wait_for(lambda: region.case(case["id"])["status"] in ("to_validate", "offered"))
    page = _text(site.get(f"/site/cases/{case['id']}").text)
    assert "to validate" in page and "waiting for an expert to validate it" in page
    worklist = _text(
        Browser(region.stack).login(region.experts["alice"].username).get("/expert/").text
    )
    assert f"/expert/cases/{case['id']}" in worklist and "to validate" in worklist


def test_coordinator_keeps_the_protocol_library(shared_region: Region) -> None:
    region = shared_region
    staff = coordinator(region.stack)
    page = _text(staff.get("/coordinator/protocols").text)
    assert "CT head without contrast" in page.lower() or "CT-HEAD-NC" in page
    assert 'href="/coordinator/protocols"' in staff.get("/coordinator/").text  # in the nav

    code = "CT-TEST-" + secrets.token_hex(3).upper()
    r = staff.submit(
        "/coordinator/protocols", "/coordinator/protocols", {"code": "bad code!", "modality": "CT"}
    )
    assert r.status_code == 400
    said = _text(r.text)
    assert "Code must be letters, digits" in said and "Name is required" in said
    fields = {
        "code": code,
        "name": "CT sinus",
        "modality": "CT",
        "body_part": "sinus",
        "text": "Bone window",
    }
    r = staff.submit("/coordinator/protocols", "/coordinator/protocols", fields)
    assert r.status_code == 302, r.text
    assert f"Protocol {code} added to the library." in flashes(
        staff.get("/coordinator/protocols").text
    )
    r = staff.submit("/coordinator/protocols", "/coordinator/protocols", fields)
    assert r.status_code == 400 and "is already used by another protocol" in _text(r.text)

    edit = f"/coordinator/protocols/{code}"
    r = staff.submit(edit, edit, {"name": "", "modality": "CT"})
    assert r.status_code == 400 and "Name is required" in _text(r.text)
    r = staff.submit(
        edit,
        edit,
        {
            "name": "CT paranasal sinuses",
            "modality": "CT",
            "body_part": "SINUS",
            "text": "Bone window, 0.6 mm",
        },
    )
    assert r.status_code == 302, r.text
    r = staff.submit("/coordinator/protocols", edit + "/active", {"active": "false"})
    assert r.status_code == 302
    with region.stack.sessions() as s:
        stored = s.scalars(select(Protocol).where(Protocol.code == code)).one()
        assert (stored.name, stored.body_part, stored.text, stored.active) == (
            "CT paranasal sinuses",
            "SINUS",
            "Bone window, 0.6 mm",
            False,
        )
    assert "Offer again" in staff.get("/coordinator/protocols").text
    assert staff.get("/coordinator/protocols/NO-SUCH-PROTOCOL").status_code == 404
    site = Browser(region.stack).login(region.site_username)
    assert site.get("/coordinator/protocols").status_code == 403


def _site_form(page: str) -> dict[str, str]:
    """The site form's fields as the page fills them: what a browser would post back."""
    values = {n: html.unescape(v) for n, v in FIELD.findall(page)}
    values["language"] = "fr"
    values.update({n: "true" for n in CHECKED.findall(page)})
    return values


FIELD = re.compile(r'<input name="([^"]+)" type="[^"]*" value="([^"]*)"')
CHECKED = re.compile(r'<input type="checkbox" name="([^"]+)" value="true" checked>')


def test_admin_turns_regulation_on_for_a_site(shared_region: Region) -> None:
    region = shared_region
    login = "admin-" + secrets.token_hex(3)
    with region.stack.sessions.begin() as s:
        add_login(s, login, Role.ADMIN)
    admin = Browser(region.stack).login(login)
    made = make_region(region.stack, on_duty=())
    path = f"/admin/sites/{made.site}"
    form = _site_form(admin.get(path).text)
    assert "hl7_facility" in form and "regulation" not in form  # off, unticked

    facility = "RIS-" + secrets.token_hex(3).upper()
    r = admin.submit(
        path,
        path,
        form | {"hl7_facility": facility, "regulation": "true", "reroute_after_scan": "true"},
    )
    assert r.status_code == 302, r.text
    with region.stack.sessions() as s:
        site = s.scalars(select(Site).where(Site.code == made.site)).one()
        assert (site.hl7_facility, site.regulation, site.reroute_after_scan) == (
            facility,
            True,
            True,
        )
        assert site.ae_titles  # the fields not touched are kept
    form = _site_form(admin.get(path).text)
    assert form["hl7_facility"] == facility and form["regulation"] == "true"

    # Another site may not take the same facility: refused by its field, nothing changed.
    other = f"/admin/sites/{region.site}"
    r = admin.submit(other, other, _site_form(admin.get(other).text) | {"hl7_facility": facility})
    assert r.status_code == 400 and "HL7 sending facility" in html.unescape(r.text)
    with region.stack.sessions() as s:
        assert s.scalar(select(Site.hl7_facility).where(Site.code == region.site)) is None


def test_board_filters_by_status(regulated: Region) -> None:
    region = regulated
    case = region.submit()
    wait_for(lambda: region.case(case["id"])["status"] in ("to_validate", "offered"))
    other = region.stack.api(region.site_token)
    staff = coordinator(region.stack)
    board = staff.get("/coordinator/?status=to_validate").text
    assert f'/coordinator/cases/{case["id"]}"' in board
    assert "?status=to_validate" in staff.get("/coordinator/").text
    with region.stack.sessions.begin() as s:
        s.execute(update(Site).where(Site.code == region.site).values(regulation=False))
    plain = other.post("/api/v1/cases", json=case_request()).json()
    board = staff.get("/coordinator/?status=to_validate").text
    assert f'/coordinator/cases/{plain["id"]}"' not in board
