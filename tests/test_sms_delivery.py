"""Offers on the real stack (`garde web` and `garde worker` processes, the real `twilio`
client against the Twilio double): one message per offer when the worker is killed while
Twilio answers, and Twilio's signed status callbacks, which only move a message forward and
move the case on when an offer never reached the phone."""

from __future__ import annotations

import asyncio
import threading
import time
from datetime import timedelta

from sqlalchemy import select
from temporalio.api.enums.v1 import EventType

from garde.models import Offer, SmsMessage
from garde.temporal import case_workflow_id
from tests.conftest import Region, on_sqlite_only, wait_for


def offer_message(region: Region, case_id: int, sent: bool = True) -> SmsMessage:
    """Garde's record of the case's first offer SMS (once Twilio's answer is in, if `sent`)."""

    def found() -> SmsMessage | None:
        with region.stack.sessions() as s:
            row = s.scalar(
                select(SmsMessage)
                .where(SmsMessage.case_id == case_id, SmsMessage.kind == "offer")
                .order_by(SmsMessage.id)
            )
        return row if row is not None and (row.provider_sid or not sent) else None

    return wait_for(found, 90, f"the offer SMS of case {case_id}")


def test_a_worker_killed_while_twilio_answers_sends_the_offer_once(region: Region) -> None:
    stack = region.stack
    # 30 s of waiting for the attempt to time out: once is enough.
    on_sqlite_only(stack.env["GARDE_DATABASE_URL"], "Twilio's log decides, not the database")
    assert stack.twilio is not None
    alice = region.experts["alice"]
    held = stack.twilio.hold(alice.phone)
    case = region.submit()
    assert held.arrived.wait(30), "the offer never reached Twilio"
    stack.stop("worker", kill=True)  # SIGKILL while the worker waits for Twilio's answer
    try:
        assert offer_message(region, case["id"], sent=False).status == "sending"
        held.release()  # Twilio took the message; nobody hears it
    finally:
        stack.start("worker")

    # The activity's attempt times out (30 s) and the next one finds the message in
    # Twilio's log instead of sending it again.
    reconciled = offer_message(region, case["id"])
    [message] = stack.twilio.to(alice.phone)
    assert (reconciled.provider_sid, reconciled.status) == (message.sid, "queued")
    assert stack.twilio.posts_to(alice.phone) == [201]
    code = region.offer_sms("alice")
    stack.sms_reply(alice.phone, f"YES {code}")
    region.wait_status(case["id"], "accepted", timeout=60)


def offer_sends(region: Region, case_id: int) -> list[str]:
    """How each attempt of the case's offer-SMS activity ended, from its Temporal history:
    e.g. ["completed on attempt 1"]."""

    async def read() -> list[str]:
        client = await region.stack.client()
        history = await client.get_workflow_handle(case_workflow_id(case_id)).fetch_history()
        scheduled = {
            e.event_id
            for e in history.events
            if e.activity_task_scheduled_event_attributes.activity_type.name == "send_offer_sms"
        }
        attempts = {
            e.event_id: e.activity_task_started_event_attributes.attempt
            for e in history.events
            if e.activity_task_started_event_attributes.scheduled_event_id in scheduled
        }
        return [
            f"completed on attempt {attempts[e.activity_task_completed_event_attributes.started_event_id]}"
            for e in history.events
            if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED
            and e.activity_task_completed_event_attributes.scheduled_event_id in scheduled
        ]

    return asyncio.run(read())


def test_a_worker_stopped_while_twilio_answers_finishes_the_send_first(region: Region) -> None:
    """A restart or an upgrade (SIGTERM) lets the offer in hand go out and be reported, instead
    of leaving it to time out and be retried by the next worker 30 s later."""
    stack = region.stack
    assert stack.twilio is not None
    alice = region.experts["alice"]
    held = stack.twilio.hold(alice.phone)
    case = region.submit()
    assert held.arrived.wait(30), "the offer never reached Twilio"
    threading.Timer(1.0, held.release).start()  # Twilio answers while the worker stops
    stack.stop("worker")
    try:
        assert offer_sends(region, case["id"]) == ["completed on attempt 1"]
    finally:
        stack.start("worker")
    assert stack.twilio.posts_to(alice.phone) == [201]


def test_signed_status_callbacks_only_move_a_message_forward(region: Region) -> None:
    twilio = region.stack.twilio
    assert twilio is not None
    case = region.submit()
    region.offer_sms("alice")
    sid = offer_message(region, case["id"]).provider_sid
    assert sid is not None

    def status() -> str:
        with region.stack.sessions() as s:
            return s.scalar(select(SmsMessage.status).where(SmsMessage.provider_sid == sid)) or ""

    assert status() == "queued"
    # Callbacks arrive out of order: a late "sent" or "queued" does not undo "delivered".
    for reported, recorded in [
        ("sent", "sent"),
        ("delivered", "delivered"),
        ("sent", "delivered"),
        ("queued", "delivered"),
    ]:
        assert twilio.report(sid, reported) == 200
        assert status() == recorded


def test_an_offer_twilio_reports_undelivered_moves_on_long_before_its_timeout(
    region: Region,
) -> None:
    twilio = region.stack.twilio
    assert twilio is not None
    r = region.stack.api(region.admin_token).patch(
        f"/api/v1/sites/{region.site}",
        json={"service_levels": {"urgent": {"offer_timeout_s": 600}}},
    )
    assert r.status_code == 200, r.text
    case = region.submit(priority="urgent")
    region.offer_sms("alice")
    sid = offer_message(region, case["id"]).provider_sid
    assert sid is not None

    reported = time.monotonic()
    assert twilio.report(sid, "undelivered", error_code=30003) == 200
    region.offer_sms("bruno", timeout=20)
    assert time.monotonic() - reported < 20  # not the ten minutes of alice's offer

    with region.stack.sessions() as s:
        offers = s.scalars(
            select(Offer).where(Offer.case_id == case["id"]).order_by(Offer.sequence)
        ).all()
        message = s.scalar(select(SmsMessage).where(SmsMessage.provider_sid == sid))
    assert [o.status for o in offers] == ["undeliverable", "open"]
    assert offers[0].expires_at - offers[0].sent_at == timedelta(minutes=10)
    assert message is not None
    assert (message.status, message.error_code) == ("undelivered", "30003")
    assert region.case(case["id"])["assigned_expert"] is None
