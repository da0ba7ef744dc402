"""The Twilio webhook: signatures, who may answer, and Twilio's retries."""

from __future__ import annotations

import secrets
import time

import pytest
from sqlalchemy import func, select

from garde.models import SmsMessage
from tests.conftest import Region
from web.sms import ParsedReply, parse_reply


@pytest.mark.parametrize(
    ("body", "accept"),
    [
        ("YES K7P2Q", True),
        ("yes k7p2q", True),
        ("Y K7P2Q", True),
        ("ok K7P2Q.", True),
        ("OUI K7P2Q", True),
        ("oui k7p2q", True),
        ("O K7P2Q", True),
        (" Oui  K7P2Q ! ", True),
        ("NO K7P2Q", False),
        ("n k7p2q", False),
        ("NON K7P2Q", False),
        ("non k7p2q.", False),
    ],
)
def test_replies_in_english_and_french(body: str, accept: bool) -> None:
    assert parse_reply(body) == ParsedReply(accept, "K7P2Q")


@pytest.mark.parametrize("body", ["OUIK7P2Q", "PEUT-ETRE K7P2Q", "OUI", "", "NONE K7P2Q"])
def test_anything_else_is_no_answer(body: str) -> None:
    assert parse_reply(body) is None


def test_a_french_expert_accepts_with_oui(region: Region) -> None:
    case = region.submit()
    code = region.offer_sms("alice")
    r = region.stack.sms_reply(region.experts["alice"].phone, f"oui {code.lower()}")
    assert r.status_code == 200 and "confirming" in r.text
    region.wait_status(case["id"], "accepted")


def _inbound_count(region: Region) -> int:
    with region.stack.sessions() as s:
        return int(
            s.scalar(
                select(func.count()).select_from(SmsMessage).where(SmsMessage.direction == "in")
            )
            or 0
        )


def test_forged_signature_gets_403_and_changes_nothing(region: Region) -> None:
    case = region.submit()
    code = region.offer_sms("alice")
    before = _inbound_count(region)
    r = region.stack.sms_reply(region.experts["alice"].phone, f"YES {code}", signature="forged=")
    assert r.status_code == 403
    time.sleep(1)
    assert region.case(case["id"])["status"] == "offered"
    assert _inbound_count(region) == before


def test_signature_over_other_params_is_refused(region: Region) -> None:
    """A valid signature for one body does not cover another (the params are signed)."""
    region.submit()
    code = region.offer_sms("alice")
    from twilio.request_validator import RequestValidator

    stack = region.stack
    assert stack.twilio is not None
    url = stack.env["GARDE_PUBLIC_URL"] + "/sms/inbound"
    signed_for = {"From": region.experts["alice"].phone, "Body": f"NO {code}", "MessageSid": "SMx"}
    signature = RequestValidator(stack.twilio.auth_token).compute_signature(url, signed_for)
    r = stack.sms_reply(
        region.experts["alice"].phone, f"YES {code}", sid="SMx", signature=signature
    )
    assert r.status_code == 403


def test_reply_from_another_phone_is_ignored(region: Region) -> None:
    case = region.submit()
    code = region.offer_sms("alice")
    r = region.stack.sms_reply(region.experts["bruno"].phone, f"YES {code}")
    assert r.status_code == 200
    assert "no offer" in r.text
    time.sleep(1.5)
    current = region.case(case["id"])
    assert current["status"] == "offered" and current["assigned_expert"] is None
    # The right phone still can.
    region.stack.sms_reply(region.experts["alice"].phone, f"YES {code}")
    region.wait_status(case["id"], "accepted")


def test_repeated_message_sid_has_no_second_effect(region: Region) -> None:
    case = region.submit()
    code = region.offer_sms("alice")
    alice = region.experts["alice"]
    sid = "SM" + secrets.token_hex(16)
    first = region.stack.sms_reply(alice.phone, f"NO {code}", sid=sid)
    assert first.status_code == 200 and "declined" in first.text
    again = region.stack.sms_reply(alice.phone, f"NO {code}", sid=sid)
    assert again.status_code == 200 and "<Message>" not in again.text
    with region.stack.sessions() as s:
        stored = s.scalar(
            select(func.count()).select_from(SmsMessage).where(SmsMessage.provider_sid == sid)
        )
    assert stored == 1
    # The decline moved the case to the next expert exactly once.
    region.offer_sms("bruno")
    events = [e for e in region.case(case["id"])["timeline"] if e["kind"] == "declined"]
    assert len(events) == 1


def test_an_offer_is_answered_only_once(region: Region) -> None:
    case = region.submit()
    code = region.offer_sms("alice")
    alice = region.experts["alice"]
    assert "declined" in region.stack.sms_reply(alice.phone, f"N {code}").text
    second = region.stack.sms_reply(alice.phone, f"YES {code}")
    assert "already answered" in second.text
    region.offer_sms("bruno")
    assert region.case(case["id"])["assigned_expert"] is None


def test_unparseable_reply_gets_help(region: Region) -> None:
    r = region.stack.sms_reply(region.experts["alice"].phone, "what is this?")
    assert r.status_code == 200
    assert "reply YES CODE" in r.text


def test_status_callback_updates_the_message(region: Region) -> None:
    region.submit()
    region.offer_sms("alice")
    stack = region.stack
    assert stack.twilio is not None
    sent = stack.twilio.to(region.experts["alice"].phone)[-1]
    from twilio.request_validator import RequestValidator

    url = stack.env["GARDE_PUBLIC_URL"] + "/sms/status"
    params = {"MessageSid": sent.sid, "MessageStatus": "delivered"}
    import requests

    r = requests.post(
        stack.url + "/sms/status",
        data=params,
        headers={
            "X-Twilio-Signature": RequestValidator(stack.twilio.auth_token).compute_signature(
                url, params
            )
        },
        timeout=10,
    )
    assert r.status_code == 200
    with stack.sessions() as s:
        assert s.scalar(select(SmsMessage.status).where(SmsMessage.provider_sid == sent.sid)) == (
            "delivered"
        )
    # Callbacks arrive out of order: a late "sent" or "queued" does not undo "delivered".
    for late in ("sent", "queued", "sending"):
        params = {"MessageSid": sent.sid, "MessageStatus": late}
        signature = RequestValidator(stack.twilio.auth_token).compute_signature(url, params)
        r = requests.post(
            stack.url + "/sms/status",
            data=params,
            headers={"X-Twilio-Signature": signature},
            timeout=10,
        )
        assert r.status_code == 200
    with stack.sessions() as s:
        assert s.scalar(select(SmsMessage.status).where(SmsMessage.provider_sid == sent.sid)) == (
            "delivered"
        )


def test_yes_and_no_to_one_offer_arriving_together_honour_exactly_one(region: Region) -> None:
    from concurrent.futures import ThreadPoolExecutor

    case = region.submit()
    code = region.offer_sms("alice")
    alice = region.experts["alice"]
    with ThreadPoolExecutor(2) as pool:
        answers = list(
            pool.map(
                lambda body: region.stack.sms_reply(alice.phone, body).text,
                ["YES " + code, "NO " + code],
            )
        )
    honoured = [a for a in answers if "confirming" in a or "declined" in a]
    assert len(honoured) == 1, answers
    assert any("already answered" in a for a in answers), answers
    with region.stack.sessions() as s:
        stored = s.scalars(
            select(SmsMessage).where(
                SmsMessage.direction == "in", SmsMessage.from_number == alice.phone
            )
        ).all()
    assert len(stored) == 2  # both kept; one answers the offer
    assert len([m for m in stored if m.offer_id is not None]) == 1
    if "confirming" in honoured[0]:
        region.wait_status(case["id"], "accepted")
    else:
        region.offer_sms("bruno")


def test_an_offer_twilio_reports_undelivered_moves_on_at_once(region: Region) -> None:
    import requests
    from twilio.request_validator import RequestValidator

    case = region.submit()
    region.offer_sms("alice")
    stack = region.stack
    assert stack.twilio is not None
    sent = stack.twilio.to(region.experts["alice"].phone)[-1]
    url = stack.env["GARDE_PUBLIC_URL"] + "/sms/status"
    params = {"MessageSid": sent.sid, "MessageStatus": "undelivered", "ErrorCode": "30003"}
    signature = RequestValidator(stack.twilio.auth_token).compute_signature(url, params)
    r = requests.post(
        stack.url + "/sms/status",
        data=params,
        headers={"X-Twilio-Signature": signature},
        timeout=10,
    )
    assert r.status_code == 200
    # Bruno is asked without waiting the five minutes of alice's offer.
    region.offer_sms("bruno", timeout=20)
    offers = region.case(case["id"])
    assert offers["assigned_expert"] is None
    with stack.sessions() as s:
        from garde.models import Offer

        statuses = s.scalars(
            select(Offer.status).where(Offer.case_id == case["id"]).order_by(Offer.sequence)
        ).all()
    assert statuses[:2] == ["undeliverable", "open"]
