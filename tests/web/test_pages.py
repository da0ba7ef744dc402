"""The HTML pages, driven like a browser against the real web server: forms, CSRF, roles."""

from __future__ import annotations

import html
import re
import secrets
from typing import Any

import requests
from sqlalchemy import select

from garde.domain import Role
from garde.models import SmsMessage
from garde.texts import render
from tests.conftest import (
    OFFER_CODE,
    Region,
    Stack,
    add_login,
    case_request,
    make_region,
    wait_for,
)

PASSWORD = "correct horse battery"
TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')
FLASH = re.compile(r'class="flash[^"]*"[^>]*>(.*?)</p>', re.S)


class Browser:
    """A cookie-keeping client that fills forms the way a person's browser does."""

    def __init__(self, stack: Stack) -> None:
        self.base = stack.url
        self.http = requests.Session()

    def get(self, path: str, **kw: Any) -> requests.Response:
        return self.http.get(self.base + path, timeout=60, **kw)

    def submit(self, page: str, action: str, data: dict[str, str]) -> requests.Response:
        """Load `page` for its CSRF token, then post the form to `action` without following."""
        token = csrf_token(self.get(page).text)
        return self.http.post(
            self.base + action,
            data={"csrf_token": token, **data},
            allow_redirects=False,
            timeout=60,
        )

    def login(self, username: str, password: str = PASSWORD) -> Browser:
        r = self.submit("/login", "/login", {"username": username, "password": password})
        assert r.status_code == 302, r.text
        return self


def csrf_token(page: str) -> str:
    found = TOKEN.search(page)
    assert found, "the page has no CSRF token"
    return found.group(1)


def flashes(page: str) -> list[str]:
    return [html.unescape(re.sub(r"<[^>]+>", "", m)).strip() for m in FLASH.findall(page)]


def coordinator(stack: Stack) -> Browser:
    username = "coord-" + secrets.token_hex(3)
    with stack.sessions.begin() as s:
        add_login(s, username, Role.COORDINATOR)
    return Browser(stack).login(username)


def test_a_form_posted_without_its_csrf_token_gets_400(region: Region) -> None:
    browser = Browser(region.stack)
    r = browser.http.post(
        browser.base + "/login",
        data={"username": region.site_username, "password": PASSWORD},
        allow_redirects=False,
        timeout=60,
    )
    assert r.status_code == 400
    assert "the form expired, reload the page" in r.text
    site = Browser(region.stack).login(region.site_username)
    r = site.http.post(
        site.base + "/site/cases/new",
        data={**case_request(), "csrf_token": "forged"},
        allow_redirects=False,
        timeout=60,
    )
    assert r.status_code == 400
    assert region.stack.api(region.site_token).get("/api/v1/cases").json() == []


def test_site_request_form_says_what_is_wrong_and_takes_a_national_phone(region: Region) -> None:
    site = Browser(region.stack).login(region.site_username)
    entered = case_request(callback_phone="04 71 00 00", body_part="")
    r = site.submit("/site/cases/new", "/site/cases/new", entered)
    assert r.status_code == 400
    assert "must be a phone number, e.g. +33 6 12 34 56 78 or 06 12 34 56 78" in r.text
    assert "Body part is required" in r.text
    assert html.escape(entered["clinical_question"]) in r.text
    assert f'value="{entered["accession_number"]}"' in r.text
    api = region.stack.api(region.site_token)
    assert api.get("/api/v1/cases").json() == []
    # Corrected in the national form, as the site writes it: stored in E.164.
    fixed = entered | {"callback_phone": "04 71 00 00 00", "body_part": "HEAD"}
    r = site.submit("/site/cases/new", "/site/cases/new", fixed)
    assert r.status_code == 302, r.text
    assert ">+33 4 71 00 00 00</a>" in site.get(r.headers["Location"]).text  # read as written
    r = api.post("/api/v1/cases", json=case_request(callback_phone="04 71 00 00 01"))
    assert r.status_code == 201, r.text
    assert {c["callback_phone"] for c in api.get("/api/v1/cases").json()} == {
        "+33471000000",
        "+33471000001",
    }


def test_site_requests_a_read_and_follows_it_to_the_report(region: Region) -> None:
    site = Browser(region.stack).login(region.site_username)
    entered = case_request(priority="stat")
    r = site.submit("/site/cases/new", "/site/cases/new", entered)
    assert r.status_code == 302, r.text
    case_path = r.headers["Location"]
    case_id = int(case_path.rstrip("/").rsplit("/", 1)[1])
    assert entered["accession_number"] not in case_path and "Fall" not in case_path
    region.wait_status(case_id, "offered")

    page = site.get(case_path).text
    assert "Offered" in page and "Cancel the request" in page
    assert "js/live.js" in page  # the page keeps itself up to date
    assert entered["accession_number"] in site.get("/site/cases").text

    alice = Browser(region.stack).login(region.experts["alice"].username)
    worklist = alice.get("/expert/").text
    assert f"/expert/cases/{case_id}" in worklist
    r = alice.submit("/expert/", f"/expert/cases/{case_id}/accept", {})
    assert r.status_code == 302 and r.headers["Location"].endswith(f"/expert/cases/{case_id}")
    region.wait_status(case_id, "accepted")

    bruno = Browser(region.stack).login(region.experts["bruno"].username)
    r = bruno.submit("/expert/", f"/expert/cases/{case_id}/accept", {})
    assert r.status_code == 302 and r.headers["Location"].endswith("/expert/")
    assert "already taken by another expert" in " ".join(flashes(bruno.get("/expert/").text))

    report = {"kind": "final", "findings": "Left subdural haematoma.", "impression": "SDH"}
    r = alice.submit(f"/expert/cases/{case_id}", f"/expert/cases/{case_id}/report", report)
    assert r.status_code == 302, r.text
    region.wait_status(case_id, "final")
    # The checkbox was left unticked: no critical finding, so nothing to acknowledge.
    page = site.get(case_path).text
    assert "Left subdural haematoma." in page
    assert "Acknowledge critical finding" not in page


def test_critical_finding_is_acknowledged_from_the_case_page(region: Region) -> None:
    case = region.submit()
    alice = Browser(region.stack).login(region.experts["alice"].username)
    r = alice.submit("/expert/", f"/expert/cases/{case['id']}/accept", {})
    assert r.status_code == 302
    report = {
        "kind": "final",
        "findings": "Free air.",
        "impression": "Perforation",
        "critical": "on",
    }
    path = f"/expert/cases/{case['id']}"
    assert alice.submit(path, path + "/report", report).status_code == 302
    region.wait_status(case["id"], "final")

    site = Browser(region.stack).login(region.site_username)
    page = site.get(f"/site/cases/{case['id']}").text
    assert "Acknowledge critical finding" in page
    r = site.submit(f"/site/cases/{case['id']}", f"/site/cases/{case['id']}/acknowledge", {})
    assert r.status_code == 302
    wait_for(
        lambda: any(e["kind"] == "acknowledged" for e in region.case(case["id"])["timeline"]),
        30,
        "the acknowledgement on the timeline",
    )
    assert "Acknowledge critical finding" not in site.get(f"/site/cases/{case['id']}").text


def test_expert_report_form_keeps_the_text_when_a_field_is_missing(region: Region) -> None:
    case = region.submit()
    alice = Browser(region.stack).login(region.experts["alice"].username)
    assert alice.submit("/expert/", f"/expert/cases/{case['id']}/accept", {}).status_code == 302
    path = f"/expert/cases/{case['id']}"
    r = alice.submit(path, path + "/report", {"kind": "final", "findings": "Long text typed."})
    assert r.status_code == 400
    assert "Long text typed." in r.text and "Impression is required" in r.text
    assert region.case(case["id"])["status"] == "accepted"


def test_site_cancels_from_the_case_page(region: Region) -> None:
    case = region.submit()
    site = Browser(region.stack).login(region.site_username)
    path = f"/site/cases/{case['id']}"
    assert site.submit(path, path + "/cancel", {}).status_code == 302
    region.wait_status(case["id"], "cancelled")
    assert "Cancel the request" not in site.get(path).text


def test_pages_are_refused_to_other_roles_and_other_sites(stack: Stack, region: Region) -> None:
    case = region.submit()
    site = Browser(stack).login(region.site_username)
    assert site.get("/coordinator/").status_code == 403
    assert site.get("/expert/").status_code == 403
    other = make_region(stack, on_duty=())
    stranger = Browser(stack).login(other.site_username)
    assert stranger.get(f"/site/cases/{case['id']}").status_code == 404
    chloe = Browser(stack).login(region.experts["chloe"].username)  # not credentialed here
    assert chloe.get(f"/expert/cases/{case['id']}").status_code == 404
    anonymous = Browser(stack).get("/site/cases", allow_redirects=False)
    assert anonymous.status_code == 302 and "/login" in anonymous.headers["Location"]


def test_coordinator_board_shows_open_cases_and_their_service_levels(region: Region) -> None:
    case = region.submit(priority="stat")
    board = coordinator(region.stack)
    page = board.get("/coordinator/").text
    assert f"/coordinator/cases/{case['id']}" in page and region.site in page
    detail = board.get(f"/coordinator/cases/{case['id']}")
    assert detail.status_code == 200 and "Timeline" in detail.text
    assert "Accept within 10 min" in detail.text and "Report within 30 min" in detail.text


def test_coordinator_sees_each_offer_with_its_reasons_and_reassigns_from_the_page(
    region: Region,
) -> None:
    case = region.submit()
    path = f"/coordinator/cases/{case['id']}"
    bruno = region.experts["bruno"]
    board = coordinator(region.stack)
    page = wait_for(lambda: (p := board.get(path).text) and "#1 of the eligible" in p and p)
    assert "#1 of the eligible" in page and "primary tier" in page
    assert "0 of 3 cases held" in page and "never offered before" in page
    r = board.submit(path, path + "/reassign", {"expert": bruno.code, "reason": ""})
    assert r.status_code == 302, r.text
    assert any(f"now with {bruno.code}" in m for m in flashes(board.get(path).text))
    assert region.case(case["id"])["assigned_expert"] == bruno.code
    # An ineligible expert without force: the form says why and keeps what was typed.
    chloe = region.experts["chloe"]
    r = board.submit(path, path + "/reassign", {"expert": chloe.code, "reason": "covering"})
    assert r.status_code == 403
    assert "not eligible" in html.unescape(r.text) and 'value="covering"' in r.text
    r = board.submit(path, path + "/reassign", {"expert": chloe.code, "force": "true"})
    assert r.status_code == 400 and "Reason is required to force" in html.unescape(r.text)
    assert region.case(case["id"])["assigned_expert"] == bruno.code


def test_board_shows_an_alert_until_a_coordinator_dismisses_it(stack: Stack) -> None:
    lonely = make_region(stack, on_duty=())  # nobody on duty may read its cases
    case = lonely.submit()
    board = coordinator(stack)
    shown = f"<b>Case #{case['id']}</b>"
    page = wait_for(
        lambda: (p := board.get("/coordinator/").text) and shown in p and p,
        what="the alert on the board",
    )
    banner = page[page.index(shown) :]
    assert "nobody on duty may read it" in banner[: banner.index("</li>")]
    case_page = board.get(f"/coordinator/cases/{case['id']}").text
    assert "Alert:" in case_page and "Coordinators alerted" in case_page
    from garde.models import Alert

    with stack.sessions() as s:
        alert = s.scalars(select(Alert).where(Alert.case_id == case["id"])).one()
    r = board.submit("/coordinator/", f"/coordinator/alerts/{alert.id}/dismiss", {})
    assert r.status_code == 302
    assert f"<b>Case #{case['id']}</b>" not in board.get("/coordinator/").text
    with stack.sessions() as s:
        assert s.get_one(Alert, alert.id).resolved_at is not None


def test_priority_is_changed_from_the_site_and_coordinator_pages(region: Region) -> None:
    case = region.submit(priority="routine")
    site = Browser(region.stack).login(region.site_username)
    path = f"/site/cases/{case['id']}"
    assert "Accept within 2 h 00" in site.get(path).text
    r = site.submit(path, path + "/priority", {"priority": "stat"})
    assert r.status_code == 302
    page = site.get(path).text
    assert any("now stat" in m for m in flashes(page))
    assert "Accept within 10 min" in page
    assert region.case(case["id"])["sla"]["accept"]["within_s"] == 600
    board = coordinator(region.stack)
    cpath = f"/coordinator/cases/{case['id']}"
    assert board.submit(cpath, cpath + "/priority", {"priority": "urgent"}).status_code == 302
    assert region.case(case["id"])["priority"] == "urgent"


def test_expert_declines_from_the_case_page_with_a_reason(region: Region) -> None:
    case = region.submit()
    region.offer_sms("alice")
    alice = Browser(region.stack).login(region.experts["alice"].username)
    path = f"/expert/cases/{case['id']}"
    r = alice.submit(path, path + "/decline", {"reason": "reading a stroke CT"})
    assert r.status_code == 302
    offers = wait_for(lambda: len(o := region.case(case["id"])["offers"]) > 1 and o)
    assert (offers[0]["outcome"], offers[0]["decline_reason"]) == (
        "declined",
        "reading a stroke CT",
    )
    # The coordinator reads who declined and why; the site reads that its case was offered.
    board = coordinator(region.stack).get(f"/coordinator/cases/{case['id']}").text
    assert "Declined by Dr Alice" in board and "reading a stroke CT" in board
    site = Browser(region.stack).login(region.site_username).get(f"/site/cases/{case['id']}").text
    assert "Offered to an expert" in site
    assert "Declined" not in site and "Dr Alice" not in site and "stroke" not in site


def test_dev_outbox_reply_accepts_an_offer_like_a_phone(outbox_stack: Stack) -> None:
    region = make_region(outbox_stack)
    case = region.submit()
    alice = region.experts["alice"]

    def offer_code() -> str | None:
        with outbox_stack.sessions() as s:
            bodies = s.scalars(
                select(SmsMessage.body).where(
                    SmsMessage.direction == "out", SmsMessage.to_number == alice.phone
                )
            ).all()
        found = [c for b in bodies for c in OFFER_CODE.findall(b)[:1]]
        return found[-1] if found else None

    code = wait_for(offer_code, 30, "an offer in the outbox")
    outbox = coordinator(outbox_stack)  # staff only: a reply accepts in the expert's name
    page = outbox.get("/dev/outbox").text
    assert f"reply as {alice.phone}" in page and code in page
    r = outbox.submit(
        "/dev/outbox", "/dev/outbox/reply", {"from_number": alice.phone, "body": f"YES {code}"}
    )
    assert r.status_code == 302
    assert any(
        render("reply_accepted", "fr", case=case["id"]) in html.unescape(m)
        for m in flashes(outbox.get("/dev/outbox").text)
    )
    assert region.wait_status(case["id"], "accepted")["assigned_expert"] == alice.code
