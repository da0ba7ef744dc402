"""Answers to offers: YES by SMS or on the web, NO with a reason, a phone that cannot be
reached, two YES at once in a broadcast, and a YES that comes too late."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError

from garde.domain import AlertKind, CaseStatus, EventKind, OfferStatus, Priority
from garde.messages import Acceptance, Decline, OfferUndeliverable
from tests.conftest import on_sqlite_only
from tests.workflows.harness import night, seed_region

MINUTE = timedelta(minutes=1)
SECOND = timedelta(seconds=1)
BROADCAST_FIRST = {"urgent": ["broadcast", "coordinator"]}


@pytest.fixture(autouse=True)
def _once(database_url: str) -> None:
    on_sqlite_only(
        database_url,
        "the workflow's answers; SMS answers are recorded on both databases by tests/test_sms_inbound.py",
    )


def test_sms_yes_takes_the_case_and_tells_the_expert(database_url: str) -> None:
    async def scenario() -> None:
        async with night(database_url) as n:
            region = seed_region(n.sessions)
            alice = region.experts["alice"]
            case_id = await n.request(region, Priority.URGENT)
            offer = await n.texted_offer(case_id, alice)

            await n.answer_sms(case_id, offer, accept=True)
            await n.sms_seen(alice, "est à vous")
            view = await n.agrees(case_id)
            assert (view.status, view.holder) == (CaseStatus.ACCEPTED, alice.id)
            [offer] = n.offers(case_id)
            assert (offer.status, offer.channel) == (OfferStatus.ACCEPTED, "sms")
            assert n.case(case_id).accepted_at is not None
            await n.record_history(case_id, "sms_accept")

    asyncio.run(scenario())


def test_a_report_does_not_wait_for_the_sms_telling_the_expert_the_case_is_theirs(
    database_url: str,
) -> None:
    """An update that comes while a YES is decided waits for the decision (the record may
    be ahead of a replayed history, tests/test_restart.py), not for the SMS that tells the
    expert: Twilio slow or away would hold their report back for minutes of retries."""

    async def scenario() -> None:
        async with night(database_url) as n:
            region = seed_region(n.sessions)
            alice = region.experts["alice"]
            case_id = await n.request(region, Priority.URGENT)
            offer = await n.texted_offer(case_id, alice)
            await n.offers_in_hand(case_id, [offer.id])

            held = n.twilio.hold(alice.phone)  # "the case is yours" reaches Twilio, no answer
            try:
                await n.answer_sms(case_id, offer, accept=True)
                assert await asyncio.to_thread(held.arrived.wait, 20)
                filed = await asyncio.wait_for(n.report(case_id, alice), 10)
            finally:
                held.release()
            assert filed.status == CaseStatus.FINAL
            await n.sms_seen(alice, "est à vous")

    asyncio.run(scenario())


def test_web_accept_takes_the_case_at_once(database_url: str) -> None:
    async def scenario() -> None:
        async with night(database_url) as n:
            region = seed_region(n.sessions)
            alice = region.experts["alice"]
            case_id = await n.request(region, Priority.URGENT)
            await n.offers_made(case_id, 1)

            await n.accept(case_id, alice)
            view = await n.agrees(case_id)
            assert (view.status, view.holder) == (CaseStatus.ACCEPTED, alice.id)
            [offer] = await n.eventually(
                lambda: (o := n.offers(case_id)) and o[0].status != OfferStatus.OPEN and o,
                "the offer closed",
            )
            assert (offer.status, offer.channel) == (OfferStatus.ACCEPTED, "web")
            await n.record_history(case_id, "web_accept")

    asyncio.run(scenario())


def test_two_acceptances_of_a_broadcast_at_once_make_exactly_one_holder(
    database_url: str,
) -> None:
    async def scenario() -> None:
        async with night(database_url) as n:
            region = seed_region(
                n.sessions,
                primary=("alice", "carla"),
                backup=("bruno",),
                escalation=BROADCAST_FIRST,
            )
            alice, bruno, carla = (region.experts[x] for x in ("alice", "bruno", "carla"))
            case_id = await n.request(region, Priority.URGENT)
            offers = await n.offers_made(case_id, 3)
            assert {o.step for o in offers} == {"broadcast"}
            for expert in (alice, bruno, carla):
                await n.sms_seen(expert, "Répondez OUI")

            handle = n.handle(case_id)
            results = await asyncio.gather(
                handle.execute_update("accept", Acceptance(alice.id)),
                handle.execute_update("accept", Acceptance(bruno.id)),
                return_exceptions=True,
            )
            won = [r is None for r in results]
            assert sorted(won) == [False, True], results
            [error] = [r for r in results if r is not None]
            assert isinstance(error, WorkflowUpdateFailedError), error
            assert isinstance(error.cause, ApplicationError)
            assert error.cause.type == "AlreadyTaken"
            winner, loser = (alice, bruno) if won[0] else (bruno, alice)

            view = await n.agrees(case_id)
            assert (view.status, view.holder) == (CaseStatus.ACCEPTED, winner.id)
            # The others' offers are withdrawn and they are told; the winner is not.
            for expert in (loser, carla):
                await n.sms_seen(expert, "est retirée")
            assert n.sms_to(winner, "est retirée") == []
            statuses = await n.eventually(
                lambda: (
                    (s := {o.expert_id: o.status for o in n.offers(case_id)})
                    and OfferStatus.OPEN not in s.values()
                    and s
                ),
                "every offer closed",
            )
            assert statuses == {
                winner.id: OfferStatus.ACCEPTED,
                loser.id: OfferStatus.WITHDRAWN,
                carla.id: OfferStatus.WITHDRAWN,
            }
            await n.record_history(case_id, "broadcast")

    asyncio.run(scenario())


def test_a_decline_with_a_reason_moves_on_at_once(database_url: str) -> None:
    async def scenario() -> None:
        async with night(database_url) as n:
            region = seed_region(n.sessions, primary=("alice", "carla"), backup=("bruno",))
            case_id = await n.request(region, Priority.URGENT)
            [first] = await n.offers_made(case_id, 1)
            alice, carla = region.experts["alice"], region.experts["carla"]
            other = carla.id if first.expert_id == alice.id else alice.id

            # No time passes: the next primary is asked as soon as the first says no.
            await n.handle(case_id).signal("decline", Decline(first.expert_id, "in theatre"))
            offers = await n.offers_made(case_id, 2)
            assert (offers[1].expert_id, offers[1].step, offers[1].round) == (other, "primary", 1)
            assert offers[1].sent_at - offers[0].sent_at < 10 * SECOND
            declined = offers[0]
            assert declined.status == OfferStatus.DECLINED
            assert (declined.channel, declined.decline_reason) == ("web", "in theatre")
            event = await n.event_seen(case_id, EventKind.DECLINED)
            assert (event.expert_id, event.detail) == (first.expert_id, "in theatre")
            await n.offers_in_hand(case_id, [offers[1].id])
            await n.record_history(case_id, "decline_then_next")

    asyncio.run(scenario())


def test_a_decliner_is_skipped_for_the_round_and_asked_again_only_when_nobody_else_is(
    database_url: str,
) -> None:
    async def scenario() -> None:
        async with night(database_url) as n:
            # An accept deadline far enough not to turn round 2 into a broadcast.
            region = seed_region(
                n.sessions,
                primary=("alice",),
                backup=("bruno",),
                service_levels={
                    "urgent": {
                        "offer_timeout_s": 300,
                        "accept_within_s": 3600,
                        "report_within_s": 7200,
                    }
                },
            )
            alice, bruno = region.experts["alice"], region.experts["bruno"]
            case_id = await n.request(region, Priority.URGENT)
            [offer] = await n.offers_made(case_id, 1)
            assert offer.expert_id == alice.id

            # NO by SMS: the backup is asked at once.
            await n.answer_sms(case_id, offer, accept=False)
            offers = await n.offers_made(case_id, 2)
            assert (offers[0].status, offers[0].channel) == (OfferStatus.DECLINED, "sms")
            assert (offers[1].expert_id, offers[1].step) == (bruno.id, "backup")
            assert offers[1].sent_at - offers[0].sent_at < 10 * SECOND

            # The broadcast of this round leaves Alice out.
            await n.sleep(5 * MINUTE + SECOND)
            offers = await n.offers_made(case_id, 3)
            assert [(o.expert_id, o.step) for o in offers[2:]] == [(bruno.id, "broadcast")]

            # Round 2 asks Bruno first, Alice having said no before...
            await n.sleep(5 * MINUTE + MINUTE + 2 * SECOND)
            offers = await n.offers_made(case_id, 4)
            assert [(o.expert_id, o.step, o.round) for o in offers[3:]] == [(bruno.id, "backup", 2)]
            await n.quiet()
            assert len(n.offers(case_id)) == 4

            # ... and Alice again only once Bruno says no too: nobody else is eligible.
            await n.handle(case_id).signal("decline", Decline(bruno.id, "at my limit"))
            offers = await n.offers_made(case_id, 5)
            assert [(o.expert_id, o.round) for o in offers[4:]] == [(alice.id, 2)]
            assert offers[4].sent_at - offers[3].sent_at < 10 * SECOND
            assert offers[3].decline_reason == "at my limit"
            await n.offers_in_hand(case_id, [offers[4].id])

    asyncio.run(scenario())


def test_an_offer_twilio_refuses_moves_on_at_once_and_alerts_the_coordinators(
    database_url: str,
) -> None:
    async def scenario() -> None:
        async with night(database_url) as n:
            region = seed_region(n.sessions, primary=("alice",), backup=("bruno",))
            alice, bruno = region.experts["alice"], region.experts["bruno"]
            n.twilio.fail(alice.phone, 400, 21211)  # not a valid phone number, like Twilio
            case_id = await n.request(region, Priority.URGENT)

            offers = await n.offers_made(case_id, 2)
            assert (offers[0].expert_id, offers[0].status) == (alice.id, OfferStatus.UNDELIVERABLE)
            assert (offers[1].expert_id, offers[1].step) == (bruno.id, "backup")
            assert offers[1].sent_at - offers[0].sent_at < 10 * SECOND
            [alert] = await n.alerts_raised(case_id, AlertKind.UNREACHABLE)
            assert alert.expert_id == alice.id
            [sms] = await n.sms_seen(region.coordinator, "injoignable par SMS")
            assert alice.code in sms.body
            await n.event_seen(case_id, EventKind.OFFER_UNDELIVERABLE)
            await n.sms_seen(bruno, "Répondez OUI")
            assert n.sms_to(alice) == []
            await n.offers_in_hand(case_id, [offers[1].id])

    asyncio.run(scenario())


def test_an_undelivered_status_callback_moves_on_at_once(database_url: str) -> None:
    async def scenario() -> None:
        async with night(database_url) as n:
            region = seed_region(n.sessions, primary=("alice",), backup=("bruno",))
            alice, bruno = region.experts["alice"], region.experts["bruno"]
            case_id = await n.request(region, Priority.URGENT)
            [offer] = await n.offers_made(case_id, 1)
            await n.sms_seen(alice, "Répondez OUI")

            await n.handle(case_id).signal("offer_undeliverable", OfferUndeliverable(offer.id))
            offers = await n.offers_made(case_id, 2)
            assert offers[0].status == OfferStatus.UNDELIVERABLE
            assert (offers[1].expert_id, offers[1].step) == (bruno.id, "backup")
            assert offers[1].sent_at - offers[0].sent_at < 10 * SECOND
            [alert] = await n.alerts_raised(case_id, AlertKind.UNREACHABLE)
            assert alert.expert_id == alice.id
            await n.sms_seen(region.coordinator, "injoignable par SMS")
            await n.agrees(case_id)

    asyncio.run(scenario())


def test_a_late_sms_yes_after_the_shift_ended_is_refused(database_url: str) -> None:
    async def scenario() -> None:
        async with night(database_url) as n:
            region = seed_region(n.sessions, primary=("alice",), backup=("bruno",))
            alice, bruno = region.experts["alice"], region.experts["bruno"]
            case_id = await n.request(region, Priority.URGENT)
            [offer] = await n.offers_made(case_id, 1)
            await n.sms_seen(alice, "Répondez OUI")

            n.end_shift(alice, await n.now() - MINUTE)
            await n.answer_sms(case_id, offer, accept=True)
            await n.sms_seen(alice, "ne pouvez plus le prendre")
            offers = await n.offers_made(case_id, 2)
            # Withdrawn, not declined: alice said yes, she is not passed over for it later.
            assert (offers[0].status, offers[0].decline_reason) == (
                OfferStatus.WITHDRAWN,
                "no longer eligible when answered",
            )
            kinds = [e.kind for e in n.events(case_id)]
            assert "offer_withdrawn" in kinds and "declined" not in kinds
            assert (offers[1].expert_id, offers[1].step) == (bruno.id, "backup")
            assert n.sms_to(alice, "est à vous") == []
            # Bruno's offer row is written before the workflow holds it: wait for that.
            view = await n.offers_in_hand(case_id, [offers[1].id])
            assert (view.status, view.holder) == (CaseStatus.OFFERED, None)
            assert n.case(case_id).accepted_at is None

    asyncio.run(scenario())


def test_a_phone_that_failed_is_asked_only_in_the_broadcast_and_alerted_once_a_day(
    database_url: str,
) -> None:
    async def scenario() -> None:
        async with night(database_url) as n:
            region = seed_region(n.sessions, primary=("alice", "carla"), backup=())
            alice, carla = region.experts["alice"], region.experts["carla"]
            # Twilio took alice's offer but her phone never got it (a status callback): her
            # number is not refused for good, only failed lately.
            first = await n.request(region, Priority.URGENT)
            [dead] = await n.offers_made(first, 1)
            assert dead.expert_id == alice.id
            await n.sms_seen(alice, "")
            await n.handle(first).signal("offer_undeliverable", OfferUndeliverable(dead.id))
            await n.offers_made(first, 2)
            await n.accept(first, carla)
            await n.agrees(first)

            # The next case goes to carla alone first, busy as she is: alice's phone failed.
            second = await n.request(region, Priority.URGENT)
            [offer] = await n.offers_made(second, 1)
            assert (offer.expert_id, offer.step) == (carla.id, "primary")
            assert offer.why["reachable"] is True
            # Then the broadcast tries everyone, alice's phone too, and it fails again.
            await n.sleep(5 * MINUTE + SECOND)
            offers = await n.offers_made(second, 3)
            assert {o.expert_id for o in offers[1:]} == {alice.id, carla.id}
            assert {o.step for o in offers[1:]} == {"broadcast"}
            failed = next(o for o in offers[1:] if o.expert_id == alice.id)
            assert failed.why["reachable"] is False
            await n.sms_seen(alice, "", count=2)
            await n.handle(second).signal("offer_undeliverable", OfferUndeliverable(failed.id))
            # The broadcast ends at its timeout (carla does not answer): alice's offer closes
            # as undeliverable.
            await n.sleep(5 * MINUTE + SECOND)
            await n.eventually(
                lambda: any(
                    o.id == failed.id and o.status == OfferStatus.UNDELIVERABLE
                    for o in n.offers(second)
                ),
                "the broadcast to alice closed as undeliverable",
            )
            # One alert and one SMS about alice's phone for both cases: one a day (UTC), so two
            # when the server's skipped clock crossed midnight between the cases.
            alerts = [a for c in (first, second) for a in n.alerts(c)]
            unreachable = [a for a in alerts if a.kind == AlertKind.UNREACHABLE]
            days = {a.key.rsplit(":", 1)[1] for a in unreachable}
            assert len(unreachable) == len(days) and {a.expert_id for a in unreachable} == {
                alice.id
            }
            assert len(n.sms_to(region.coordinator, "injoignable par SMS")) == len(days)

    asyncio.run(scenario())


def test_cases_arriving_together_go_to_different_experts(database_url: str) -> None:
    async def scenario() -> None:
        async with night(database_url) as n:
            region = seed_region(n.sessions, primary=("alice", "carla"), backup=())
            first = await n.request(region, Priority.URGENT)
            [one] = await n.offers_made(first, 1)
            second = await n.request(region, Priority.URGENT)
            [two] = await n.offers_made(second, 1)
            assert one.expert_id != two.expert_id
            assert two.why["open_offers"] == 0
            assert two.why["rank"] == 1

    asyncio.run(scenario())
