"""Placing a call exactly once: a worker that died between writing its call ("placing") and
hearing Twilio's answer does not ring the expert twice when the activity runs again. The real
`twilio` client against the Twilio double, on both databases."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import select
from twilio.rest import Client

from activities.calls import Call, DevCallOutbox, TwilioCalls
from billing.tariffs import ALWAYS
from garde.db import SessionFactory
from garde.domain import Priority
from garde.intake import CaseRequest, record_case
from garde.models import Site, Tariff, VoiceCall
from garde.settings import Settings
from tests.phones import mobile
from tests.twilio_double import TwilioDouble

SENDER = "+33900000001"
PUBLIC_URL = "https://garde.example.org"


@pytest.fixture(scope="module")
def double() -> Iterator[TwilioDouble]:
    double = TwilioDouble("AC" + secrets.token_hex(16), secrets.token_hex(16)).start()
    yield double
    double.stop()


@pytest.fixture
def calls(double: TwilioDouble, sessions: SessionFactory, tmp_path: object) -> TwilioCalls:
    settings = Settings.from_env(
        {
            "GARDE_DATA_DIR": str(tmp_path),
            "GARDE_PUBLIC_URL": PUBLIC_URL,
            "TWILIO_ACCOUNT_SID": double.account_sid,
            "TWILIO_AUTH_TOKEN": double.auth_token,
            "TWILIO_FROM_NUMBER": SENDER,
            "GARDE_TWILIO_API_URL": double.url,
        }
    )
    return TwilioCalls(sessions, settings)


@pytest.fixture
def case_id(sessions: SessionFactory) -> int:
    tag = secrets.token_hex(3).upper()
    with sessions() as s:  # record_case commits
        site = Site(
            code=f"VOICE-{tag}",
            name=f"CH {tag}",
            tariffs=[Tariff(version=1, valid_from=ALWAYS, base_cents={"CT": 9000})],
        )
        s.add(site)
        s.flush()
        request = CaseRequest(
            accession_number="ACC-" + secrets.token_hex(5),
            study_instance_uid=None,
            modality="CT",
            body_part="HEAD",
            study_description="CT head",
            priority=Priority.STAT,
            clinical_question="Fall on anticoagulants",
            requesting_physician="Dr Urgences",
            callback_phone="+33471000000",
            subspecialty=None,
        )
        case, _ = record_case(s, site, request)
        return case.id


def a_call(case_id: int) -> Call:
    to = mobile()
    return Call(to, f"case-{case_id}:call:1:{secrets.token_hex(3)}", case_id, "fr", 30)


def left_placing(sessions: SessionFactory, call: Call) -> int:
    """What a worker killed while waiting for Twilio leaves behind."""
    with sessions.begin() as s:
        row = call.row(SENDER, "placing")
        row.created_at = datetime.now(UTC)
        s.add(row)
        s.flush()
        return row.id


def stored(sessions: SessionFactory, key: str) -> VoiceCall:
    with sessions() as s:
        found = s.scalar(select(VoiceCall).where(VoiceCall.idempotency_key == key))
        assert found is not None
        return found


def test_a_call_is_placed_with_its_webhooks_and_once_per_key(
    calls: TwilioCalls, double: TwilioDouble, sessions: SessionFactory, case_id: int
) -> None:
    call = a_call(case_id)
    call_id = calls.place(call)
    assert calls.place(call) == call_id
    [placed] = double.voice.to(call.to)
    assert placed.url == f"{PUBLIC_URL}/voice/call/{call_id}"
    assert placed.status_callback == f"{PUBLIC_URL}/voice/status/{call_id}"
    assert (placed.from_, placed.timeout) == (SENDER, 30)
    row = stored(sessions, call.key)
    assert (row.provider_sid, row.status) == (placed.sid, "queued")


def test_a_call_twilio_placed_before_the_crash_is_not_placed_again(
    calls: TwilioCalls, double: TwilioDouble, sessions: SessionFactory, case_id: int
) -> None:
    call = a_call(case_id)
    call_id = left_placing(sessions, call)
    twilio = Client(double.account_sid, double.auth_token)
    twilio.api.base_url = double.url
    taken = twilio.calls.create(  # then the worker died
        to=call.to, from_=SENDER, url=f"{PUBLIC_URL}/voice/call/{call_id}"
    )

    assert calls.place(call) == call_id
    assert calls.place(call) == call_id
    assert [c.sid for c in double.voice.to(call.to)] == [taken.sid]
    assert stored(sessions, call.key).provider_sid == taken.sid


def test_a_call_twilio_never_got_is_placed_once(
    calls: TwilioCalls, double: TwilioDouble, sessions: SessionFactory, case_id: int
) -> None:
    # An earlier call to the same phone, for another round, is recorded as its own.
    earlier = a_call(case_id)
    calls.place(earlier)
    call = Call(earlier.to, earlier.key + ":next", case_id, "fr", 30)
    call_id = left_placing(sessions, call)

    assert calls.place(call) == call_id
    assert calls.place(call) == call_id
    placed = double.voice.to(call.to)
    assert len(placed) == 2
    assert stored(sessions, call.key).provider_sid == placed[-1].sid


def test_the_dev_outbox_keeps_the_call_once(sessions: SessionFactory, case_id: int) -> None:
    outbox = DevCallOutbox(sessions)
    call = a_call(case_id)
    call_id = outbox.place(call)
    assert outbox.place(call) == call_id
    row = stored(sessions, call.key)
    assert (row.id, row.status, row.provider_sid) == (call_id, "outbox", None)
