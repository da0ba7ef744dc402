"""Sending exactly once: a worker that died between writing its message ("sending") and
hearing Twilio's answer does not text the expert twice when the activity runs again. The real
`twilio` client against the Twilio double, on both databases."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from twilio.rest import Client

from activities.sms import Sms, TwilioSms
from garde.db import SessionFactory
from garde.models import SmsMessage
from garde.settings import Settings
from tests.twilio_double import TwilioDouble

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


def phone() -> str:
    return "+336" + str(secrets.randbelow(10**8)).zfill(8)


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
    to, key = phone(), f"offer:{secrets.token_hex(4)}"
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
    to, key = phone(), f"offer:{secrets.token_hex(4)}"
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
