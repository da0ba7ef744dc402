"""Sending exactly once: a worker that died between writing its message ("sending") and
hearing Twilio's answer does not text the expert twice when the activity runs again; Twilio
busy is asked again, Twilio refusing a number is not, and the number's owner is marked
unreachable. The real `twilio` client against the Twilio double, on both databases."""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
import requests
from sqlalchemy import select
from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client

from activities.sms import HTTP_TIMEOUT, Sms, TwilioSms, Undeliverable
from garde.db import SessionFactory
from garde.models import Coordinator, Expert, SmsMessage
from garde.settings import Settings
from garde.texts import LANGUAGES, kinds, render, segments
from tests.conftest import on_sqlite_only
from tests.phones import mobile
from tests.test_sms_texts import sample
from tests.twilio_double import TwilioDouble
from workflows.policy import MESSAGES

SENDER = "+33900000000"


@pytest.fixture(scope="module")
def double() -> Iterator[TwilioDouble]:
    double = TwilioDouble("AC" + secrets.token_hex(16), secrets.token_hex(16)).start()
    yield double
    double.stop()


@pytest.fixture
def sms(double: TwilioDouble, sessions: SessionFactory, tmp_path: object) -> TwilioSms:
    settings = Settings.from_env(
        {
            "GARDE_DATA_DIR": str(tmp_path),
            "TWILIO_ACCOUNT_SID": double.account_sid,
            "TWILIO_AUTH_TOKEN": double.auth_token,
            "TWILIO_FROM_NUMBER": SENDER,
            "GARDE_TWILIO_API_URL": double.url,
        }
    )
    return TwilioSms(sessions, settings)


def left_sending(sessions: SessionFactory, to: str, body: str, key: str, at: datetime) -> None:
    """What a worker killed while waiting for Twilio leaves behind."""
    with sessions.begin() as s:
        s.add(
            SmsMessage(
                direction="out",
                to_number=to,
                from_number=SENDER,
                body=body,
                idempotency_key=key,
                status="sending",
                created_at=at,
            )
        )


def row(sessions: SessionFactory, key: str) -> SmsMessage:
    with sessions() as s:
        found = s.scalar(select(SmsMessage).where(SmsMessage.idempotency_key == key))
        assert found is not None
        return found


def test_a_message_twilio_took_before_the_crash_is_not_sent_again(
    sms: TwilioSms, double: TwilioDouble, sessions: SessionFactory
) -> None:
    to, key = mobile(), f"offer:{secrets.token_hex(4)}"
    body = f"Garde: offer {secrets.token_hex(3)}"
    # An older message to the same phone, another offer's: not this one.
    twilio = Client(double.account_sid, double.auth_token)
    twilio.api.base_url = double.url
    twilio.messages.create(to=to, from_=SENDER, body="Garde: an earlier offer")
    left_sending(sessions, to, body, key, datetime.now(UTC))
    taken = twilio.messages.create(to=to, from_=SENDER, body=body)  # then the worker died

    sms.send(Sms(to, body, key, "offer"))

    assert [m.body for m in double.to(to)] == ["Garde: an earlier offer", body]
    stored = row(sessions, key)
    assert (stored.provider_sid, stored.status) == (taken.sid, "queued")
    sms.send(Sms(to, body, key, "offer"))  # and once recorded, never again
    assert len(double.to(to)) == 2


def test_a_message_twilio_never_got_is_sent_once(
    sms: TwilioSms, double: TwilioDouble, sessions: SessionFactory
) -> None:
    to, key = mobile(), f"offer:{secrets.token_hex(4)}"
    body = f"Garde: offer {secrets.token_hex(3)}"
    # The same text went to this phone the day before: an older message, not this attempt.
    twilio = Client(double.account_sid, double.auth_token)
    twilio.api.base_url = double.url
    twilio.messages.create(to=to, from_=SENDER, body=body)
    yesterday = datetime.now(UTC) - timedelta(days=1)
    double.messages[-1] = replace(double.messages[-1], date_created=yesterday)
    left_sending(sessions, to, body, key, datetime.now(UTC))

    sms.send(Sms(to, body, key, "offer"))
    sms.send(Sms(to, body, key, "offer"))

    assert len(double.to(to)) == 2
    stored = row(sessions, key)
    assert stored.status == "queued"
    assert stored.provider_sid == double.to(to)[-1].sid


def test_twilio_busy_is_asked_again_and_the_message_goes_once(
    sms: TwilioSms, double: TwilioDouble, sessions: SessionFactory
) -> None:
    to, key = mobile(), f"offer:{secrets.token_hex(4)}"
    double.fail(to, 429, 20429, times=2)
    for _ in range(2):
        with pytest.raises(TwilioRestException):
            sms.send(Sms(to, "Garde: offer", key, "offer"))
        stored = row(sessions, key)
        assert (stored.status, stored.error_code) == ("sending", "20429")

    sms.send(Sms(to, "Garde: offer", key, "offer"))  # the activity's third attempt

    assert double.posts_to(to) == [429, 429, 201]
    stored = row(sessions, key)
    assert (stored.status, stored.error_code) == ("queued", None)
    assert stored.provider_sid == double.to(to)[0].sid


@pytest.mark.parametrize("code", [21211, 21610])
def test_a_number_refused_for_good_is_not_asked_again_and_its_owners_are_flagged(
    sms: TwilioSms, double: TwilioDouble, sessions: SessionFactory, code: int
) -> None:
    to, key = mobile(), f"offer:{secrets.token_hex(4)}"
    tag = secrets.token_hex(4)
    with sessions.begin() as s:
        s.add(Expert(code=f"DR-{tag}", name="Dr Refused", phone=to))
        s.add(Coordinator(code=f"CO-{tag}", name="Refused too", phone=to))
    double.fail(to, 400, code)

    with pytest.raises(Undeliverable, match=str(code)):
        sms.send(Sms(to, "Garde: offer", key, "offer"))
    with pytest.raises(Undeliverable, match=str(code)):  # a retry is refused without a call
        sms.send(Sms(to, "Garde: offer", key, "offer"))

    assert double.posts_to(to) == [400]
    stored = row(sessions, key)
    assert (stored.status, stored.error_code) == ("failed", str(code))
    with sessions() as s:
        expert = s.scalar(select(Expert).where(Expert.code == f"DR-{tag}"))
        coordinator = s.scalar(select(Coordinator).where(Coordinator.code == f"CO-{tag}"))
        assert expert is not None and coordinator is not None
        for person in (expert, coordinator):
            assert person.sms_unreachable_since is not None
            assert person.sms_unreachable_reason == f"twilio {code}"
        assert not expert.textable


def test_twilio_silent_is_given_up_before_the_activity_times_out(
    sms: TwilioSms, double: TwilioDouble, sessions: SessionFactory, database_url: str
) -> None:
    """Twilio busy, then Twilio taking the message but never answering: the call ends within
    the HTTP timeout, well inside the activity's, and the next attempt finds the message in
    Twilio's log instead of sending it again."""
    on_sqlite_only(database_url, "Twilio's timeout and log decide, not the database")
    assert MESSAGES.timeout > HTTP_TIMEOUT * 2
    to, key = mobile(), f"offer:{secrets.token_hex(4)}"
    double.fail(to, 429, 20429, times=1)
    with pytest.raises(TwilioRestException):
        sms.send(Sms(to, "Garde: offer", key, "offer"))
    held = double.hold(to)
    started = time.monotonic()
    with pytest.raises(requests.exceptions.Timeout):
        sms.send(Sms(to, "Garde: offer", key, "offer"))
    waited = time.monotonic() - started
    assert held.arrived.is_set()
    assert HTTP_TIMEOUT.total_seconds() <= waited < HTTP_TIMEOUT.total_seconds() + 5
    held.release()
    assert row(sessions, key).status == "sending"

    sms.send(Sms(to, "Garde: offer", key, "offer"))

    assert len(double.to(to)) == 1 and double.posts_to(to) == [429, 201]
    stored = row(sessions, key)
    assert (stored.status, stored.provider_sid) == ("queued", double.to(to)[0].sid)
    assert stored.error_code is None  # the 429 of an earlier attempt is no longer the news


def test_every_kind_in_both_languages_goes_through_the_real_client_intact(
    sms: TwilioSms, double: TwilioDouble, sessions: SessionFactory
) -> None:
    """What Twilio receives is the rendered text to the letter (accents, `€`, links), and the
    record says which kind, language and how many parts it was."""
    to = mobile()
    sent = []
    for kind in (k for k in kinds() if not k.startswith("voice_")):  # spoken, not texted
        for language in LANGUAGES:
            body = render(kind, language, **sample(kind))
            key = f"every-kind:{to}:{kind}:{language}"
            sms.send(Sms(to, body, key, kind, language))
            sent.append((key, kind, language, body))

    assert [m.body for m in double.to(to)] == [body for *_, body in sent]
    with sessions() as s:
        rows = {
            m.idempotency_key: m
            for m in s.scalars(select(SmsMessage).where(SmsMessage.to_number == to))
        }
    for key, kind, language, body in sent:
        row = rows[key]
        assert (row.kind, row.language, row.status) == (kind, language, "queued")
        assert row.segments == segments(body).count
