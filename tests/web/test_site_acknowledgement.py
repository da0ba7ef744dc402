"""What a site is asked to acknowledge, in the words of its reason (a critical finding or a
major discrepancy), and a site's acknowledgement call as the outbox, the voice webhook and the
coordinator's message log show it: the site by name, 1 its only key."""

from __future__ import annotations

import html
import re
import secrets
from datetime import UTC, datetime

from sqlalchemy import select

from garde.models import Report, Site, SmsMessage, VoiceCall
from tests.conftest import Region, Stack, make_region
from tests.twilio_double import PlacedCall
from tests.web.test_pages import Browser, coordinator, flashes
from web.site import owed_reason


def version(critical_category: int | None, discrepancy: str | None) -> Report:
    return Report(critical_category=critical_category, discrepancy=discrepancy)


def test_the_reason_owed_is_critical_when_any_waiting_version_carries_a_finding() -> None:
    assert owed_reason([]) is None
    assert owed_reason([version(None, "major")]) == "discrepancy"
    assert owed_reason([version(2, "major")]) == "critical"
    assert owed_reason([version(None, "major"), version(1, None)]) == "critical"


def test_a_major_discrepancy_is_asked_and_acknowledged_as_such(region: Region) -> None:
    case = region.submit(clinical_question="Chute de sa hauteur sous anticoagulant")
    alice = Browser(region.stack).login(region.experts["alice"].username)
    path = f"/expert/cases/{case['id']}"
    assert alice.submit("/expert/", path + "/accept", {}).status_code == 302
    prelim = {"kind": "preliminary", "findings": "Pas d'hémorragie.", "impression": "Normal."}
    assert alice.submit(path, path + "/report", prelim).status_code == 302
    # The final's form starts from the preliminary's text, to correct rather than type again.
    form = html.unescape(alice.get(path).text)
    assert re.search(r'name="findings"[^>]*>Pas d\'hémorragie\.</textarea>', form)
    assert re.search(r'name="kind" value="final" checked', form)
    final = {**prelim, "kind": "final", "findings": "Fracture du rocher.", "discrepancy": "major"}
    r = alice.submit(path, path + "/report", final)
    assert r.status_code == 302, r.text
    region.wait_status(case["id"], "final")

    site = Browser(region.stack).login(region.site_username)
    page_path = f"/site/cases/{case['id']}"
    text = " ".join(html.unescape(site.get(page_path).text).split())
    assert "Acknowledge major discrepancy" in text
    assert "differs in a major way from the preliminary one" in text
    assert "critical finding" not in text.lower()

    def listed() -> str:
        rows = site.get("/site/cases").text.split("<tr")
        return " ".join(next(r for r in rows if f'href="{page_path}"' in r).split())

    # The list of cases says which one waits, and why.
    assert "major discrepancy to acknowledge" in listed()
    assert "critical finding" not in listed()

    r = site.submit(page_path, page_path + "/acknowledge", {})
    assert r.status_code == 302
    page = site.get(page_path).text
    assert flashes(page) == ["Major discrepancy acknowledged."]
    assert "Acknowledge major discrepancy" not in page
    assert "Acknowledged (major discrepancy) by" in " ".join(html.unescape(page).split())
    assert "to acknowledge" not in listed()


def site_call(region: Region, case_id: int, status: str) -> VoiceCall:
    """A call to the region's site about the case, as the acknowledgement ladder places it."""
    with region.stack.sessions.begin() as s:
        site = s.scalars(select(Site).where(Site.code == region.site)).one()
        call = VoiceCall(
            case_id=case_id,
            idempotency_key="call-" + secrets.token_hex(4),
            to_number=site.phone or "+33471000099",
            from_number="+33700000000",
            site_id=site.id,
            language="en",
            provider_sid="CA" + secrets.token_hex(16),
            status=status,
            created_at=datetime.now(UTC),
        )
        s.add(call)
        s.flush()
        s.expunge(call)
    return call


def test_a_site_call_names_the_site_and_another_key_than_1_asks_again(region: Region) -> None:
    stack = region.stack
    assert stack.twilio is not None
    case = region.submit()
    call = site_call(region, case["id"], "in-progress")
    base = stack.env["GARDE_PUBLIC_URL"]
    url = f"{base}/voice/call/{call.id}"
    placed = PlacedCall(call.provider_sid or "", call.to_number, call.from_number, url, None, None)
    said = stack.twilio.voice.press(placed, "2")
    assert said.status_code == 200, said.text
    assert "<Gather" in said.text and "Press 1." in said.text  # the question again
    with stack.sessions() as s:
        assert s.get_one(VoiceCall, call.id).digits is None

    page = coordinator(stack).get(f"/coordinator/cases/{case['id']}").text
    calls = page.split('class="cards calls-log"', 1)[1].split("</table>", 1)[0]
    with stack.sessions() as s:
        name = s.get_one(Site, call.site_id).name
    assert f"{name} (site)" in html.unescape(calls)
    assert call.to_number not in calls


def test_the_dev_outbox_presses_only_1_on_a_site_call(outbox_stack: Stack) -> None:
    region = make_region(outbox_stack)
    case = region.submit()
    call = site_call(region, case["id"], "outbox")
    with outbox_stack.sessions.begin() as s:
        asked = SmsMessage(
            direction="out",
            to_number=call.to_number,
            from_number="+10000000000",
            body=f"Garde: asked, OK {case['id']}",
            status="outbox",
            kind="site_ack_request",
            case_id=case["id"],
        )
        s.add(asked)
    outbox = coordinator(outbox_stack)
    page = outbox.get("/dev/outbox").text
    # The site's SMS shows the answer it expects: OK and the case's number.
    assert f"reply as {call.to_number}, e.g. OK {case['id']}" in html.unescape(page)
    row = next(r for r in page.split("<tr") if f"/dev/outbox/calls/{call.id}/press" in r)
    with outbox_stack.sessions() as s:
        name = s.get_one(Site, call.site_id).name
    assert f"{name} (site)" in html.unescape(row)
    assert re.findall(r'name="digits" value="(\d)"', row) == ["1"]
    assert "<th>Phone</th><th>Callee</th>" in page and ">in the outbox<" in row

    press = f"/dev/outbox/calls/{call.id}/press"
    assert outbox.submit("/dev/outbox", press, {"digits": "2"}).status_code == 302
    assert flashes(outbox.get("/dev/outbox").text) == [
        "Not pressed: a site's call asks for 1 only, to acknowledge."
    ]
    with outbox_stack.sessions() as s:
        assert s.get_one(VoiceCall, call.id).digits is None
    region.cancel_open_cases()
