"""What a new user tripped on, walking the README in a browser (issue 8), each as it was found:
no link to the report's formats, a page acknowledged and still asking for it, timeline words
said twice, a reported case gone from the worklist (and with it the way to an addendum), a
cancellation after a report, an outbox in UTC with bare numbers and without
Garde's answers, and no favicon."""

from __future__ import annotations

import asyncio
import html
import re
import secrets
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select, update

from garde.domain import Role
from garde.messages import Cancellation
from garde.models import Case, SmsMessage
from garde.temporal import case_workflow_id
from garde.texts import render
from tests.conftest import OFFER_CODE, Region, Stack, add_login, make_region, wait_for
from tests.web.test_pages import Browser, coordinator, flashes

FORMATS = {
    "pdf": "application/pdf",
    "html": "text/html",
    "fhir": "application/fhir+json",
    "hl7": "application/hl7-v2",
}
TIMELINE_ENTRY = re.compile(r"<li class=\"event-[^\"]*\">(.*?)</li>", re.S)


def _text(fragment: str) -> str:
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", fragment))).strip()


def _timeline(page: str) -> list[str]:
    """Each entry of the page's timeline as read, without its time."""
    return [re.sub(r"^.*?\b(?:CET|CEST)\b ", "", _text(e)) for e in TIMELINE_ENTRY.findall(page)]


def _taken_by_alice(region: Region) -> tuple[int, Browser]:
    case = region.submit()
    region.wait_status(case["id"], "offered")  # taken once offered, as on a real night
    alice = Browser(region.stack).login(region.experts["alice"].username)
    assert alice.submit("/expert/", f"/expert/cases/{case['id']}/accept", {}).status_code == 302
    region.wait_status(case["id"], "accepted")
    return case["id"], alice


def _file(alice: Browser, region: Region, case_id: int, kind: str, **extra: str) -> None:
    path = f"/expert/cases/{case_id}"
    report = {"kind": kind, "findings": f"{kind} findings.", "impression": "Impression.", **extra}
    r = alice.submit(path, path + "/report", report)
    assert r.status_code == 302, r.text


def test_every_case_page_links_the_report_as_pdf_html_fhir_and_hl7(region: Region) -> None:
    case_id, alice = _taken_by_alice(region)
    site = Browser(region.stack).login(region.site_username)
    staff = coordinator(region.stack)
    pages = {
        site: f"/site/cases/{case_id}",
        alice: f"/expert/cases/{case_id}",
        staff: f"/coordinator/cases/{case_id}",
    }
    for browser, path in pages.items():
        assert "report?format=pdf" not in browser.get(path).text  # nothing to link yet
    _file(alice, region, case_id, "final")
    region.wait_status(case_id, "final")
    for browser, path in pages.items():
        page = browser.get(path).text
        for fmt, mimetype in FORMATS.items():
            link = re.search(rf'href="([^"]*report\?format={fmt})"', page)
            assert link, f"{path} has no link to the report as {fmt}"
            got = browser.get(html.unescape(link.group(1)))
            assert got.status_code == 200 and got.headers["Content-Type"].startswith(mimetype)


def test_the_page_after_acknowledge_shows_it_acknowledged_without_the_button(
    region: Region,
) -> None:
    case_id, alice = _taken_by_alice(region)
    _file(alice, region, case_id, "final", critical="on")
    region.wait_status(case_id, "final")
    site = Browser(region.stack).login(region.site_username)
    path = f"/site/cases/{case_id}"
    assert "Acknowledge critical finding" in site.get(path).text
    r = site.submit(path, path + "/acknowledge", {})
    assert r.status_code == 302
    page = site.get(r.headers["Location"]).text  # what the browser shows next, at once
    assert "Critical finding acknowledged." in flashes(page)
    assert "Acknowledge critical finding" not in page
    assert "Please read it and acknowledge it" not in page


def test_a_reported_case_stays_on_the_worklist_a_week_for_its_addendum_timelines_say_it_once(
    region: Region,
) -> None:
    case_id, alice = _taken_by_alice(region)
    _file(alice, region, case_id, "preliminary")
    region.wait_status(case_id, "preliminary")
    _file(alice, region, case_id, "final", discrepancy="none")
    region.wait_status(case_id, "final")
    # Closed, the case leaves "Held by me"; "Recently reported" leads to its addendum form.
    reported = alice.get("/expert/").text.split("Recently reported", 1)[1]
    assert f'href="/expert/cases/{case_id}#report"' in reported
    assert 'name="kind" value="addendum"' in alice.get(f"/expert/cases/{case_id}").text
    worklists = {
        name: region.stack.api(region.experts[name].token).get("/api/v1/worklist").json()
        for name in ("alice", "bruno")
    }
    assert [c["id"] for c in worklists["alice"]["reported"]] == [case_id]
    assert worklists["alice"]["held"] == worklists["bruno"]["reported"] == []
    _file(alice, region, case_id, "addendum")
    wait_for(lambda: len(region.case(case_id)["addenda"]) == 1, what="the addendum on the record")
    staff = _timeline(coordinator(region.stack).get(f"/coordinator/cases/{case_id}").text)
    site = _timeline(
        Browser(region.stack).login(region.site_username).get(f"/site/cases/{case_id}").text
    )
    assert staff == [
        "Requested",
        "Offered to Dr Alice primary step",
        "Accepted by Dr Alice via web",
        "Preliminary report by Dr Alice",
        "Final report by Dr Alice",
        "Addendum by Dr Alice",
    ]
    assert site[:2] == ["Requested", "Offered to an expert"]
    for entry in staff + site:
        repeated = re.search(r"\b(\w+)\W+\1\b", entry, re.I)
        assert repeated is None, f"{entry!r} says {repeated.group(1)!r} twice"
    # Eight days after the final report, it is no longer recent. (The case's record is
    # backdated: a signed report cannot be.)
    with region.stack.sessions.begin() as s:
        s.execute(
            update(Case)
            .where(Case.id == case_id)
            .values(reported_at=datetime.now(UTC) - timedelta(days=8))
        )
    worklist = region.stack.api(region.experts["alice"].token).get("/api/v1/worklist").json()
    assert worklist["reported"] == []


def test_a_case_with_a_report_is_not_cancelled_by_the_site_nor_by_its_workflow(
    region: Region,
) -> None:
    case_id, alice = _taken_by_alice(region)
    _file(alice, region, case_id, "preliminary")
    region.wait_status(case_id, "preliminary")
    site = Browser(region.stack).login(region.site_username)
    path = f"/site/cases/{case_id}"
    assert "Cancel the request" not in site.get(path).text
    r = site.submit(path, path + "/cancel", {})
    assert r.status_code == 409
    assert any("only before any report" in f for f in flashes(r.text))
    r = region.stack.api(region.site_token).post(f"/api/v1/cases/{case_id}/cancel")
    assert r.status_code == 409 and "only before any report" in r.json()["error"], r.text

    async def cancel_behind_the_webs_back() -> None:
        client = await region.stack.client()
        handle = client.get_workflow_handle(case_workflow_id(case_id))
        await handle.signal("cancel", Cancellation(region.site_username))

    asyncio.run(cancel_behind_the_webs_back())
    _file(alice, region, case_id, "final", discrepancy="none")
    assert region.wait_status(case_id, "final")["report"]["kind"] == "final"
    assert not any(e["status"] == "cancelled" for e in region.case(case_id)["timeline"])


def test_outbox_shows_local_times_who_each_number_is_and_gardes_replies(
    outbox_stack: Stack,
) -> None:
    region = make_region(outbox_stack)
    case = region.submit()
    alice = region.experts["alice"]

    def offer_code() -> str | None:
        with outbox_stack.sessions() as s:
            bodies = s.scalars(
                select(SmsMessage.body).where(SmsMessage.to_number == alice.phone)
            ).all()
        found = [c for b in bodies for c in OFFER_CODE.findall(b)[:1]]
        return found[-1] if found else None

    code = wait_for(offer_code, 30, "an offer in the outbox")
    staff = coordinator(outbox_stack)
    page = staff.get("/dev/outbox").text
    assert "to Dr Alice (expert)" in _text(page)
    zone = datetime.now(ZoneInfo("Europe/Paris")).strftime("%Z")  # GARDE_REGION_TIMEZONE
    shown = re.findall(r"<time [^>]*>([^<]*)</time>", page)
    assert shown and all(t.endswith(zone) for t in shown), shown

    r = staff.submit(
        "/dev/outbox", "/dev/outbox/reply", {"from_number": alice.phone, "body": f"YES {code}"}
    )
    assert r.status_code == 302
    said = render("reply_accepted", "fr", case=case["id"])
    with outbox_stack.sessions() as s:
        reply = s.scalars(
            select(SmsMessage)
            .where(SmsMessage.direction == "out", SmsMessage.kind == "reply")
            .where(SmsMessage.to_number == alice.phone)
        ).one()
    assert reply.body == said and reply.case_id == case["id"]
    conversation = _text(staff.get("/dev/outbox").text)
    # Newest first: Garde's answer above the expert's YES, above the offer.
    offer = OFFER_CODE.search(conversation)
    assert offer is not None
    assert conversation.index(said) < conversation.index(f"YES {code}") < offer.start()
    log = _text(staff.get(f"/coordinator/cases/{case['id']}").text)
    assert said in log


def test_favicon_is_served_and_named_by_every_page(stack: Stack) -> None:
    icon = Browser(stack).get("/favicon.ico")
    assert icon.status_code == 200 and icon.content[:4] == b"\x00\x00\x01\x00"  # an ICO
    assert 'rel="icon" href="/favicon.ico"' in Browser(stack).get("/login").text
    username = "admin-" + secrets.token_hex(3)
    with stack.sessions.begin() as s:
        add_login(s, username, Role.ADMIN)
    assert 'rel="icon"' in Browser(stack).login(username).get("/coordinator/").text
