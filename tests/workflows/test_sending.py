"""Sending offers when Twilio is busy, unwell or refuses a number for good, and not sending
to an expert SMS cannot reach: on the time-skipping server, the real `twilio` client against
the Twilio double."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update

from garde.domain import AlertKind, CaseStatus, OfferStatus, Priority
from garde.models import Coordinator, Expert, SmsMessage
from tests.conftest import on_sqlite_only
from tests.workflows.harness import Night, Person, night, seed_region

SECOND = timedelta(seconds=1)
MINUTE = timedelta(minutes=1)


@pytest.fixture(autouse=True)
def _once(database_url: str) -> None:
    on_sqlite_only(
        database_url,
        "the workflow's sending; SMS are sent and recorded on both databases by tests/test_sms_sending.py",
    )


def messages_to(n: Night, person: Person) -> list[SmsMessage]:
    """What Garde recorded of its messages to this person, oldest first."""
    with n.sessions() as s:
        return list(
            s.scalars(
                select(SmsMessage)
                .where(SmsMessage.direction == "out", SmsMessage.to_number == person.phone)
                .order_by(SmsMessage.id)
            )
        )


def test_twilio_busy_twice_then_the_offer_goes_once(database_url: str) -> None:
    async def scenario() -> None:
        async with night(database_url) as n:
            region = seed_region(n.sessions, primary=("alice",), backup=("bruno",))
            alice = region.experts["alice"]
            n.twilio.fail(alice.phone, 429, 20429, times=2)
            case_id = await n.request(region, Priority.URGENT)
            [offer] = await n.offers_made(case_id, 1)
            await n.eventually(lambda: n.twilio.posts_to(alice.phone), "a first try")
            await n.sleep(20 * SECOND)  # the policy's pauses: 2 s, then 4 s

            await n.eventually(lambda: n.twilio.to(alice.phone), "the offer SMS")
            assert n.twilio.posts_to(alice.phone) == [429, 429, 201]
            assert len(n.twilio.to(alice.phone)) == 1
            [sent] = messages_to(n, alice)
            assert (sent.kind, sent.status, sent.error_code) == ("offer", "queued", None)
            assert sent.provider_sid == n.twilio.to(alice.phone)[0].sid
            assert n.offers(case_id)[0].status == OfferStatus.OPEN
            await n.offers_in_hand(case_id, [offer.id])

    asyncio.run(scenario())


def test_twilio_unwell_past_the_bound_gives_up_and_the_next_expert_is_offered(
    database_url: str,
) -> None:
    async def scenario() -> None:
        async with night(database_url) as n:
            region = seed_region(n.sessions, primary=("alice",), backup=("bruno",))
            alice, bruno = region.experts["alice"], region.experts["bruno"]
            n.twilio.fail(alice.phone, 503, 20503)  # for as long as anyone asks
            case_id = await n.request(region, Priority.URGENT)
            await n.offers_made(case_id, 1)
            for _ in range(4):
                await n.sleep(10 * SECOND)
                await n.quiet()

            offers = await n.offers_made(case_id, 2)
            assert offers[0].status == OfferStatus.UNDELIVERABLE
            assert (offers[1].expert_id, offers[1].step) == (bruno.id, "backup")
            # Well before alice's five minutes ran out.
            assert offers[1].sent_at - offers[0].sent_at < MINUTE
            await n.sms_seen(bruno, "")
            # The bound: the policy's four attempts, and no more while bruno is asked.
            await n.sleep(2 * MINUTE)
            await n.quiet()
            assert n.twilio.posts_to(alice.phone) == [503] * 4
            [failed] = messages_to(n, alice)
            assert (failed.status, failed.error_code) == ("sending", "20503")
            # Busy is not refused: alice is not marked unreachable.
            with n.sessions() as s:
                assert s.get_one(Expert, alice.id).sms_unreachable_since is None

    asyncio.run(scenario())


@pytest.mark.parametrize("code", [21211, 21610])
def test_a_number_twilio_refuses_for_good_is_asked_once_flagged_and_passed_over(
    database_url: str, code: int
) -> None:
    async def scenario() -> None:
        async with night(database_url) as n:
            region = seed_region(n.sessions, primary=("alice",), backup=("bruno",))
            alice, bruno = region.experts["alice"], region.experts["bruno"]
            n.twilio.fail(alice.phone, 400, code)
            case_id = await n.request(region, Priority.URGENT)

            offers = await n.offers_made(case_id, 2)
            assert offers[0].status == OfferStatus.UNDELIVERABLE
            assert (offers[1].expert_id, offers[1].step) == (bruno.id, "backup")
            assert offers[1].sent_at - offers[0].sent_at < 10 * SECOND
            assert n.twilio.posts_to(alice.phone) == [400]  # no retry loop
            [refused] = messages_to(n, alice)
            assert (refused.status, refused.error_code) == ("failed", str(code))
            with n.sessions() as s:
                flagged = s.get_one(Expert, alice.id)
                assert flagged.sms_unreachable_since is not None
                assert flagged.sms_unreachable_reason == f"twilio {code}"
            # The coordinators are told, by SMS.
            [alert] = await n.alerts_raised(case_id, AlertKind.UNREACHABLE)
            assert alert.expert_id == alice.id
            await n.eventually(
                lambda: [m for m in messages_to(n, region.coordinator) if m.status == "queued"],
                "the unreachable alert texted to the coordinator",
            )
            assert [m.kind for m in messages_to(n, region.coordinator)] == ["alert_unreachable"]
            assert len(n.twilio.to(region.coordinator.phone)) == 1

            # The next case does not try her phone again: bruno is asked, alice only in the
            # broadcast, on the web.
            second = await n.request(region, Priority.URGENT)
            [first] = await n.offers_made(second, 1)
            assert first.expert_id == bruno.id
            assert n.twilio.posts_to(alice.phone) == [400]

    asyncio.run(scenario())


def test_a_coordinator_whose_phone_is_refused_sees_alerts_on_the_board_only(
    database_url: str,
) -> None:
    async def scenario() -> None:
        async with night(database_url) as n:
            region = seed_region(n.sessions, primary=(), backup=(), off_duty=("alice",))
            coordinator = region.coordinator
            n.twilio.fail(coordinator.phone, 400, 21610)
            first = await n.request(region, Priority.URGENT)
            await n.alerts_raised(first, AlertKind.NOBODY_ELIGIBLE)
            await n.eventually(
                lambda: [m for m in messages_to(n, coordinator) if m.status == "failed"],
                "the alert refused",
            )
            with n.sessions() as s:
                refused = s.get_one(Coordinator, coordinator.id)
                assert refused.sms_unreachable_reason == "twilio 21610"

            second = await n.request(region, Priority.URGENT)
            await n.alerts_raised(second, AlertKind.NOBODY_ELIGIBLE)  # on the board
            await n.quiet()
            assert n.twilio.posts_to(coordinator.phone) == [400]
            assert len(messages_to(n, coordinator)) == 1

    asyncio.run(scenario())


@pytest.mark.parametrize("why", ["sms off", "flagged"])
def test_an_expert_sms_cannot_reach_is_never_texted_and_asked_on_the_web_in_the_broadcast(
    database_url: str, why: str
) -> None:
    async def scenario() -> None:
        async with night(database_url) as n:
            region = seed_region(n.sessions, primary=("alice",), backup=("bruno",))
            alice, bruno = region.experts["alice"], region.experts["bruno"]
            change = (
                {"sms_enabled": False}
                if why == "sms off"
                else {
                    "sms_unreachable_since": datetime.now(UTC),
                    "sms_unreachable_reason": "STOP",
                }
            )
            with n.sessions.begin() as s:
                s.execute(update(Expert).where(Expert.id == alice.id).values(**change))
            case_id = await n.request(region, Priority.URGENT)

            # Her turn as primary is skipped: bruno is asked first.
            [first] = await n.offers_made(case_id, 1)
            assert (first.expert_id, first.step) == (bruno.id, "backup")
            await n.sms_seen(bruno, "")
            await n.sleep(5 * MINUTE + SECOND)
            offers = await n.offers_made(case_id, 3)
            broadcast = {o.expert_id: o for o in offers[1:]}
            assert set(broadcast) == {alice.id, bruno.id}
            offer = broadcast[alice.id]
            assert (offer.step, offer.why["reachable"]) == ("broadcast", False)
            await n.offers_in_hand(case_id, sorted(o.id for o in offers[1:]))
            assert n.twilio.posts_to(alice.phone) == []

            await n.accept(case_id, alice)  # on the web
            view = await n.agrees(case_id)
            assert (view.status, view.holder) == (CaseStatus.ACCEPTED, alice.id)
            await n.quiet()
            assert n.twilio.posts_to(alice.phone) == []
            assert messages_to(n, alice) == []

    asyncio.run(scenario())
