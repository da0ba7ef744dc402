"""A case's message log on the coordinator's case page: the offer SMS, the expert's reply and
the notices, by kind, party and status, with their words for coordinators only."""

from __future__ import annotations

import html
import re
import secrets

from sqlalchemy import or_, select

from garde.domain import Role
from garde.models import Case, Expert, Offer, SmsMessage, VoiceCall
from tests.conftest import Region, add_login, wait_for
from tests.web.test_pages import Browser, coordinator

# What the log says of the stored kinds and statuses, in English (web/display.py `word`).
KIND_WORDS = {
    "offer": "offer",
    "yours": "case assigned",
    "reassigned": "reassigned away",
    "site_accepted": "site: accepted",
    "answer_accept": "answer: accept",
}
STATUS_WORDS = {
    "queued": "queued",
    "accepted": "queued",
    "sending": "sending",
    "sent": "sent",
    "delivered": "delivered",
    "received": "received",
}


def case_sms(region: Region, case_id: int) -> list[SmsMessage]:
    with region.stack.sessions() as s:
        answers = select(Offer.id).where(Offer.case_id == case_id)
        return list(
            s.scalars(
                select(SmsMessage)
                .where(or_(SmsMessage.case_id == case_id, SmsMessage.offer_id.in_(answers)))
                .order_by(SmsMessage.id)
            )
        )


def log_rows(page: str) -> list[str]:
    """The rows of the page's message log, as text."""
    table = page.split('class="cards messages-log"', 1)[1].split("</table>", 1)[0]
    rows = table.split("<tr")[2:]  # the header row first
    return [html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", r))) for r in rows]


def test_the_coordinator_reads_a_case_sms_by_kind_party_and_status(region: Region) -> None:
    stack = region.stack
    alice, bruno = region.experts["alice"], region.experts["bruno"]
    case = region.submit()
    code = region.offer_sms("alice")
    assert stack.sms_reply(alice.phone, f"oui {code}").status_code == 200
    region.wait_status(case["id"], "accepted")
    r = stack.api(region.coordinator_token).post(
        f"/api/v1/cases/{case['id']}/reassign", json={"expert": bruno.code, "reason": "load"}
    )
    assert r.status_code == 200, r.text
    messages = wait_for(
        lambda: (
            (m := case_sms(region, case["id"]))
            and {"reassigned", "yours"} <= {x.kind for x in m}
            and m
        ),
        what="the reassignment notices",
    )
    with stack.sessions.begin() as s:
        s.add(
            VoiceCall(
                case_id=case["id"],
                idempotency_key="call-" + secrets.token_hex(4),
                to_number=bruno.phone,
                from_number="+33700000000",
                expert_id=bruno.id,
                language="fr",
                status="completed",
                digits="1",
            )
        )

    board = coordinator(stack)
    page = board.get(f"/coordinator/cases/{case['id']}").text
    rows = log_rows(page)
    assert len(rows) == len(messages)
    offer = next(m for m in messages if m.kind == "offer" and m.to_number == alice.phone)
    reply = next(m for m in messages if m.direction == "in")
    assert (reply.from_number, reply.answer) == (alice.phone, "accept")
    for message, who in (
        (offer, "Dr Alice (expert)"),
        (reply, "Dr Alice (expert)"),
        (next(m for m in messages if m.kind == "reassigned"), "Dr Alice (expert)"),
        (next(m for m in messages if m.to_number == bruno.phone), "Dr Bruno (expert)"),
    ):
        body = " ".join(message.body.split())
        row = next((r for r in rows if body in r and who in r), None)
        assert row is not None, f"no row shows {message.body!r} with {who}"
        assert STATUS_WORDS[message.status] in row
        assert ("→ out" if message.direction == "out" else "← in") in row
        assert KIND_WORDS[message.kind or "answer_accept"] in row
        if message is offer:
            assert f" {offer.segments} " in row
    assert alice.phone not in " ".join(rows)  # people by name, not by number
    calls = page.split('class="cards calls-log"', 1)[1].split("</table>", 1)[0]
    assert "Dr Bruno (expert)" in calls and "completed" in calls and ">1<" in calls


def test_experts_and_sites_never_see_the_words_of_a_case_sms(region: Region) -> None:
    stack = region.stack
    alice = region.experts["alice"]
    case = region.submit()
    code = region.offer_sms("alice")
    assert stack.sms_reply(alice.phone, f"YES {code}").status_code == 200
    region.wait_status(case["id"], "accepted")
    bodies = [" ".join(m.body.split()) for m in case_sms(region, case["id"])]
    assert len(bodies) >= 2
    with stack.sessions() as s:
        assert s.get_one(Case, case["id"]).assigned_expert_id == s.scalar(
            select(Expert.id).where(Expert.code == alice.code)
        )
    for username, own_page in (
        (alice.username, f"/expert/cases/{case['id']}"),
        (region.site_username, f"/site/cases/{case['id']}"),
    ):
        browser = Browser(stack).login(username)
        page = browser.get(own_page)
        assert page.status_code == 200
        text = " ".join(html.unescape(page.text).split())
        assert not [b for b in bodies if b in text]
        assert browser.get(f"/coordinator/cases/{case['id']}").status_code == 403


def test_a_french_coordinator_reads_kinds_statuses_and_people_in_french(region: Region) -> None:
    stack = region.stack
    alice = region.experts["alice"]
    case = region.submit()
    code = region.offer_sms("alice")
    assert stack.sms_reply(alice.phone, f"oui {code}").status_code == 200
    wait_for(
        lambda: any(m.direction == "in" for m in case_sms(region, case["id"])),
        what="the reply in the log",
    )
    username = "coord-fr-" + secrets.token_hex(3)
    with stack.sessions.begin() as s:
        add_login(s, username, Role.COORDINATOR).language = "fr"
    page = Browser(stack).login(username).get(f"/coordinator/cases/{case['id']}").text
    rows = log_rows(page)
    offer = next(r for r in rows if " proposition " in r)
    assert "Dr Alice (radiologue)" in offer
    assert any(f" {status} " in offer for status in ("en attente", "envoyé", "distribué"))
    answer = next(r for r in rows if " réponse : accepte " in r)
    assert " reçu " in answer and "Dr Alice (radiologue)" in answer
    # The stored values are never shown as they are.
    for raw in ("offer", "answer_accept", "received", "queued", "sent", "delivered"):
        assert f'<span class="badge">{raw}</span>' not in page
        assert f">{raw}</span>" not in page
    assert "(expert)" not in " ".join(rows)
