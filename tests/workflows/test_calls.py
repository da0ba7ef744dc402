"""Voice for stat cases: at the coordinator step the experts on duty, then the coordinators, are
phoned in turn (Twilio's webhooks to Garde's web app, the double playing the phone network)
until someone accepts or the list is done."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any
from xml.etree import ElementTree

import pytest
from sqlalchemy import select, update

from garde.domain import AlertKind, CaseStatus, EventKind, Priority
from garde.messages import CallEnded
from garde.models import Coordinator, Expert, VoiceCall
from garde.reconciler import Reconciler, mark_started, pending_call_answers
from garde.temporal import TASK_QUEUE, case_workflow_id
from tests.conftest import on_sqlite_only
from tests.phones import mobile
from tests.twilio_double import PlacedCall
from tests.workflows.harness import Night, Region, night, seed_region
from workflows.policy import CALLING
from workflows.state import Callee, CallLadder, CaseState, Ringing
from workflows.state import PlacedCall as StatePlacedCall

MINUTE = timedelta(minutes=1)
SECOND = timedelta(seconds=1)
# Cases are offered to everyone at once, for a minute, then the coordinators are alerted.
OFFER = timedelta(seconds=60)
LEVELS = {"offer_timeout_s": 60, "accept_within_s": 600, "report_within_s": 1800}
LADDER = ["broadcast", "coordinator"]


@pytest.fixture(autouse=True)
def _once(database_url: str) -> None:
    on_sqlite_only(
        database_url,
        "the call ladder's logic; calls are recorded on both databases by tests/test_voice_calls.py",
    )


def stat_region(n: Night, **kw: Any) -> Region:
    """Alice (primary, ranked first) and Bruno (backup), asked by SMS all at once for a
    minute, then the coordinator step (unless told otherwise)."""
    return seed_region(
        n.sessions,
        service_levels={p: LEVELS for p in ("stat", "urgent")},
        escalation=kw.pop("escalation", {p: LADDER for p in ("stat", "urgent")}),
        **kw,
    )


async def unanswered(n: Night, region: Region, priority: Priority = Priority.STAT) -> int:
    """A case whose SMS offers nobody answers: at the coordinator step a minute later."""
    case_id = await n.request(region, priority)
    await n.offers_made(case_id, len(region.experts))
    await n.sleep(OFFER + SECOND)
    await n.alerts_raised(case_id, AlertKind.UNASSIGNED)
    return case_id


def row(n: Night, call: PlacedCall) -> VoiceCall:
    with n.sessions() as s:
        found = s.scalar(select(VoiceCall).where(VoiceCall.provider_sid == call.sid))
        assert found is not None
        return found


def gather_of(twiml: str) -> tuple[ElementTree.Element, list[ElementTree.Element]]:
    """The `<Gather>` of a call's TwiML and every `<Say>` of it, in order."""
    root = ElementTree.fromstring(twiml)
    gather = root.find("Gather")
    assert gather is not None, twiml
    return gather, list(root.iter("Say"))


def test_stat_case_calls_the_experts_then_the_coordinator_in_turn(database_url: str) -> None:
    async def scenario() -> None:
        async with night(database_url) as n:
            region = stat_region(n, escalation={"stat": ["primary", "coordinator"]})
            alice, bruno = region.experts["alice"], region.experts["bruno"]
            case_id = await n.request(region, Priority.STAT)
            [offer] = await n.offers_made(case_id, 1)
            await n.sms_seen(alice, offer.code)
            await n.quiet()
            assert n.calls_to(alice) == []  # the ladder first

            # Nobody answers the SMS: at the coordinator step, the coordinators are alerted
            # and the experts phoned, best first.
            await n.sleep_until(offer.expires_at + SECOND)
            await n.alerts_raised(case_id, AlertKind.UNASSIGNED)
            [first] = await n.called(alice)
            assert first.timeout == int(CALLING.ring.total_seconds())
            assert first.url.endswith(f"/voice/call/{row(n, first).id}")
            assert first.status_callback
            assert first.status_callback.endswith(f"/voice/status/{row(n, first).id}")
            assert n.calls_to(bruno) == []

            # Alice's phone rings out: Bruno is called at once, no time passing.
            assert n.twilio.voice.end(first, "no-answer").status_code == 200
            [second] = await n.called(bruno)
            assert row(n, first).status == "no-answer"

            # Bruno picks up and presses nothing: the coordinator is called at the per-call
            # timeout, not before.
            assert n.twilio.voice.pick_up(second).status_code == 200
            await n.sleep(CALLING.per_call - 5 * SECOND)
            await n.quiet()
            assert n.calls_to(region.coordinator) == []
            await n.sleep(10 * SECOND)
            [third] = await n.called(region.coordinator)

            # The coordinator passes: the list is done, nobody else is called this round.
            assert n.twilio.voice.press(third, "2").status_code == 200
            await n.quiet()
            assert [len(n.calls_to(p)) for p in (alice, bruno, region.coordinator)] == [1, 1, 1]

    asyncio.run(scenario())


def test_an_expert_pressing_1_holds_the_case_and_the_calls_stop(database_url: str) -> None:
    async def scenario() -> None:
        async with night(database_url) as n:
            region = stat_region(n)
            alice, bruno = region.experts["alice"], region.experts["bruno"]
            case_id = await unanswered(n, region)
            [first] = await n.called(alice)
            n.twilio.voice.end(first, "busy")
            [second] = await n.called(bruno)

            pressed = n.twilio.voice.press(second, "1")
            assert pressed.status_code == 200
            assert "<Say" in pressed.text
            accepted = await n.event_seen(case_id, EventKind.STATUS, "via voice")
            assert accepted.expert_id == bruno.id
            view = await n.agrees(case_id)
            assert (view.status, view.holder) == (CaseStatus.ACCEPTED, bruno.id)
            stored = row(n, second)
            assert (stored.digits, stored.answered_at is not None) == ("1", True)
            assert stored.signalled_at is not None

            # No more calls, however long the case waits.
            await n.sleep(CALLING.per_call * 3)
            await n.quiet()
            assert n.calls_to(region.coordinator) == []
            assert [len(n.calls_to(p)) for p in (alice, bruno)] == [1, 1]

            # The same key again (Twilio retrying) is answered, and has no second effect.
            again = n.twilio.voice.post(
                pressed.url, {"CallSid": second.sid, "Digits": "2", "To": second.to}
            )
            assert again.status_code == 200
            assert row(n, second).digits == "1"
            assert [e for e in n.events(case_id) if e.kind == EventKind.DECLINED] == []
            await n.record_history(case_id, "stat_calls")

    asyncio.run(scenario())


def test_an_expert_pressing_2_declines_by_voice_and_the_next_is_called_at_once(
    database_url: str,
) -> None:
    async def scenario() -> None:
        async with night(database_url) as n:
            region = stat_region(n)
            alice, bruno = region.experts["alice"], region.experts["bruno"]
            case_id = await unanswered(n, region)
            [first] = await n.called(alice)

            assert n.twilio.voice.press(first, "2").status_code == 200
            declined = await n.event_seen(case_id, EventKind.DECLINED)
            assert declined.expert_id == alice.id
            await n.called(bruno)
            assert (await n.agrees(case_id)).holder is None

    asyncio.run(scenario())


def test_a_coordinator_pressing_1_stops_the_calls_with_a_timeline_entry(
    database_url: str,
) -> None:
    async def scenario() -> None:
        async with night(database_url) as n:
            region = stat_region(n, backup=())
            alice = region.experts["alice"]
            with n.sessions.begin() as s:
                other = Coordinator(
                    code=region.coordinator.code + "-2", name="Nuit", phone=mobile()
                )
                s.add(other)
            case_id = await unanswered(n, region)
            [first] = await n.called(alice)
            n.twilio.voice.end(first, "completed")  # picked up by voicemail: no key
            [call] = await n.called(region.coordinator)

            assert n.twilio.voice.press(call, "1").status_code == 200
            entry = await n.event_seen(case_id, EventKind.COORDINATOR_ON_IT)
            assert entry.detail == f"{region.coordinator.code}, by phone"
            await n.sleep(CALLING.per_call * 3)
            await n.quiet()
            # Not in this round, nor in the next ones (the alerts by SMS go on).
            await n.sleep(5 * MINUTE)
            await n.alerts_raised(case_id, AlertKind.UNASSIGNED, 3)
            assert n.twilio.voice.to(other.phone) == []
            assert [len(n.calls_to(p)) for p in (alice, region.coordinator)] == [1, 1]
            assert (await n.agrees(case_id)).holder is None  # the ladder itself goes on

    asyncio.run(scenario())


def test_an_urgent_case_at_the_coordinator_step_calls_nobody(database_url: str) -> None:
    async def scenario() -> None:
        async with night(database_url) as n:
            region = stat_region(n)
            case_id = await unanswered(n, region, Priority.URGENT)
            await n.sleep(5 * MINUTE)
            await n.alerts_raised(case_id, AlertKind.UNASSIGNED, 2)  # a second round
            await n.quiet()
            assert n.twilio.voice.calls == []

    asyncio.run(scenario())


def test_the_call_says_the_case_in_the_callee_language_and_gathers_one_key(
    database_url: str,
) -> None:
    async def scenario() -> None:
        async with night(database_url) as n:
            region = stat_region(n, backup=())
            alice = region.experts["alice"]
            with n.sessions.begin() as s:
                s.execute(update(Expert).where(Expert.id == alice.id).values(language="en"))
                s.execute(
                    update(Coordinator)
                    .where(Coordinator.id == region.coordinator.id)
                    .values(language="fr")
                )
            case_id = await unanswered(n, region)
            case = n.case(case_id)
            [first] = await n.called(alice)

            answered = n.twilio.voice.pick_up(first)
            assert answered.status_code == 200
            assert answered.headers["Content-Type"].startswith("application/xml")
            gather, says = gather_of(answered.text)
            assert gather.attrib["numDigits"] == "1"
            public_url = first.url.split("/voice/")[0]
            assert gather.attrib["action"] == f"{public_url}/voice/gather/{row(n, first).id}"
            prompt, goodbye = says
            assert [s.attrib["language"] for s in says] == ["en-GB", "en-GB"]
            assert prompt in list(gather)  # said while the key is awaited; goodbye after
            assert "Press 1" in (prompt.text or "") and str(case_id) in (prompt.text or "")
            assert "CT" in (prompt.text or "") and "No key" in (goodbye.text or "")
            for secret in (case.accession_number, "anticoagulants", "Urgences", "HEAD"):
                assert secret not in answered.text

            n.twilio.voice.end(first, "no-answer")
            [call] = await n.called(region.coordinator)
            _, says = gather_of(n.twilio.voice.pick_up(call).text)
            assert [s.attrib["language"] for s in says] == ["fr-FR", "fr-FR"]
            assert "Appuyez sur 1" in (says[0].text or "")

    asyncio.run(scenario())


def test_webhooks_are_signed_and_bound_to_their_call(database_url: str) -> None:
    async def scenario() -> None:
        async with night(database_url) as n:
            region = stat_region(n)
            alice, bruno = region.experts["alice"], region.experts["bruno"]
            case_id = await unanswered(n, region)
            [first] = await n.called(alice)
            n.twilio.voice.end(first, "no-answer")
            [second] = await n.called(bruno)
            voice = n.twilio.voice
            gather = second.url.replace("/voice/call/", "/voice/gather/")
            assert second.status_callback
            pressed = {"CallSid": second.sid, "Digits": "1"}

            # A forged signature, on every webhook.
            for url in (second.url, gather, second.status_callback):
                assert voice.post(url, pressed, signature="forged=").status_code == 403
            # Signed, but naming another call: Alice's CallSid on Bruno's call.
            for url in (second.url, gather, second.status_callback):
                assert voice.post(url, {**pressed, "CallSid": first.sid}).status_code == 403
            await n.quiet()
            assert row(n, second).digits is None
            assert (await n.agrees(case_id)).holder is None

            assert voice.post(gather, pressed).status_code == 200  # the right call may
            await n.event_seen(case_id, EventKind.STATUS, "via voice")
            assert (await n.agrees(case_id)).holder == bruno.id

    asyncio.run(scenario())


def test_a_key_stored_while_temporal_was_away_is_signalled_by_the_reconciler(
    database_url: str,
) -> None:
    async def scenario() -> None:
        async with night(database_url) as n:
            region = stat_region(n)
            alice = region.experts["alice"]
            case_id = await unanswered(n, region)
            [call] = await n.called(alice)
            # The webhook stored the key, and could not reach Temporal.
            with n.sessions.begin() as s:
                s.execute(
                    update(VoiceCall).where(VoiceCall.provider_sid == call.sid).values(digits="1")
                )

            done = await Reconciler(n.client, n.sessions).once()
            assert done.delivered >= 1
            await n.event_seen(case_id, EventKind.STATUS, "via voice")
            view = await n.agrees(case_id)
            assert (view.status, view.holder) == (CaseStatus.ACCEPTED, alice.id)
            assert row(n, call).signalled_at is not None
            pending = {p.answer.call_id for p in pending_call_answers(n.sessions)}
            assert row(n, call).id not in pending

    asyncio.run(scenario())


def test_a_call_ladder_carried_over_by_continue_as_new_goes_on(database_url: str) -> None:
    """A new run given the state of one that stopped while Alice's phone rang (what
    continue-as-new hands over): it waits for that call, then rings Bruno."""

    async def scenario() -> None:
        async with night(database_url) as n:
            region = stat_region(n)
            alice, bruno = region.experts["alice"], region.experts["bruno"]
            start = await n.record(region, Priority.STAT)
            with n.sessions.begin() as s:
                ringing = VoiceCall(
                    case_id=start.case_id,
                    idempotency_key=f"case-{start.case_id}:call:1:0",
                    to_number=alice.phone,
                    from_number="+33700000000",
                    expert_id=alice.id,
                    language="fr",
                    provider_sid="CA" + "0" * 32,
                    status="ringing",
                )
                s.add(ringing)
                s.flush()
                call_id = ringing.id
            carried = CaseState.at_intake(start)
            carried.step = len(carried.ladder)  # the ladder's round is over; the calls go on
            carried.calling = CallLadder(
                1,
                [Callee(expert_id=alice.id), Callee(expert_id=bruno.id)],
                next=1,
                ringing=Ringing(call_id, await n.now() + CALLING.per_call),
                calls=[StatePlacedCall(call_id, Callee(expert_id=alice.id))],
            )
            await n.client.start_workflow(
                "Case",
                args=[start, carried],
                id=case_workflow_id(start.case_id),
                task_queue=TASK_QUEUE,
            )
            mark_started(n.sessions, start.case_id)
            await n.quiet()
            assert n.calls_to(bruno) == []  # Alice's call still rings

            await n.handle(start.case_id).signal("call_ended", CallEnded(call_id, "no-answer"))
            [call] = await n.called(bruno)
            n.twilio.voice.press(call, "1")
            await n.event_seen(start.case_id, EventKind.STATUS, "via voice")
            assert (await n.agrees(start.case_id)).holder == bruno.id
            assert n.calls_to(alice) == []  # never placed again

    asyncio.run(scenario())
