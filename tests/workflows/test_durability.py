"""A case nobody can take, a case nobody takes for three days, and a write that keeps failing:
never silent, never stuck."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy import delete
from temporalio.api.enums.v1 import EventType

from garde.domain import AlertKind, CaseStatus, Priority
from garde.messages import RosterChange
from garde.models import Tariff
from tests.conftest import on_sqlite_only
from tests.workflows.harness import night, seed_region
from workflows.policy import POLICY

MINUTE = timedelta(minutes=1)
SECOND = timedelta(seconds=1)
HOUR = timedelta(hours=1)


def test_nobody_eligible_alerts_at_once_and_a_roster_change_offers_at_once(
    database_url: str,
) -> None:
    async def scenario() -> None:
        async with night(database_url) as n:
            region = seed_region(n.sessions, primary=(), backup=(), off_duty=("alice",))
            alice = region.experts["alice"]
            case_id = await n.request(region, Priority.URGENT)

            # No time passes: the coordinators learn at once that nobody may read it.
            [alert] = await n.alerts_raised(case_id, AlertKind.NOBODY_ELIGIBLE)
            await n.sms_seen(region.coordinator, "personne de garde")
            assert n.offers(case_id) == []

            # Re-checking every five minutes does not alert again.
            await n.sleep(7 * MINUTE)
            await n.quiet()
            assert [a.kind for a in n.alerts(case_id)] == [AlertKind.NOBODY_ELIGIBLE]
            assert len(n.sms_to(region.coordinator, "personne de garde")) == 1
            assert n.offers(case_id) == []
            view = await n.agrees(case_id)
            assert view.status == CaseStatus.REQUESTED

            # A shift is added and the roster edit signals the case: offered at once.
            n.add_shift(alice)
            await n.handle(case_id).signal("roster_changed", RosterChange("shift added"))
            [offer] = await n.offers_made(case_id, 1)
            assert (offer.expert_id, offer.step) == (alice.id, "primary")
            await n.sms_seen(alice, "Répondez OUI")
            view = await n.agrees(case_id)
            assert view.status == CaseStatus.OFFERED

    asyncio.run(scenario())


def test_nobody_eligible_looks_again_within_five_minutes_without_a_signal(
    database_url: str,
) -> None:
    async def scenario() -> None:
        async with night(database_url) as n:
            region = seed_region(n.sessions, primary=(), backup=(), off_duty=("alice",))
            alice = region.experts["alice"]
            case_id = await n.request(region, Priority.URGENT)
            await n.alerts_raised(case_id, AlertKind.NOBODY_ELIGIBLE)

            n.add_shift(alice)  # no signal this time
            await n.quiet()
            assert n.offers(case_id) == []
            await n.sleep(5 * MINUTE + SECOND)
            [offer] = await n.offers_made(case_id, 1)
            assert offer.expert_id == alice.id
            await n.agrees(case_id)

    asyncio.run(scenario())


def test_a_case_nobody_takes_for_three_days_continues_as_new_and_can_still_be_taken(
    database_url: str,
) -> None:
    on_sqlite_only(database_url, "continuing as new is Temporal's; the writes are any case's")

    async def scenario() -> None:
        async with night(database_url) as n:
            # A round takes about an hour: three offers of 15 minutes, the alert, a pause of at
            # most 15 minutes. Three days are some seventy rounds and 6,000 history events
            # (the record writes are local activities: a marker each, no task-queue events).
            region = seed_region(
                n.sessions,
                primary=("alice",),
                backup=("bruno",),
                service_levels={
                    "routine": {
                        "offer_timeout_s": 15 * 60,
                        "accept_within_s": 2 * 3600,
                        "report_within_s": 24 * 3600,
                    }
                },
            )
            alice = region.experts["alice"]
            case_id = await n.request(region, Priority.ROUTINE)
            await n.offers_made(case_id, 1)
            handle = n.handle(case_id)
            first_run = (await handle.describe()).run_id
            for _ in range(12):  # a whole day in one call outlasts the server's RPC timeout
                await n.sleep(6 * HOUR)

            # It continued as new at least once, and no run's history grew past the bound.
            lengths = []
            run_id: str | None = first_run
            while run_id:
                history = await n.client.get_workflow_handle(
                    handle.id, run_id=run_id
                ).fetch_history()
                lengths.append(len(history.events))
                last = history.events[-1]
                run_id = (
                    last.workflow_execution_continued_as_new_event_attributes.new_execution_run_id
                    if last.HasField("workflow_execution_continued_as_new_event_attributes")
                    else None
                )
            assert len(lengths) >= 2, lengths
            assert max(lengths) < POLICY.history_events_before_continue_as_new + 500, lengths
            assert (await handle.describe()).run_id != first_run
            # It kept climbing the ladder all along, every offer and alert a new one.
            offers = n.offers(case_id)
            assert [o.sequence for o in offers] == list(range(1, len(offers) + 1))
            assert len({o.code for o in offers}) == len(offers)
            rounds = [o.round for o in offers]
            assert rounds == sorted(rounds)
            assert rounds[-1] >= 60
            assert offers[-1].sent_at > await n.now() - 3 * HOUR
            unassigned = [a for a in n.alerts(case_id) if a.kind == AlertKind.UNASSIGNED]
            assert len(unassigned) >= rounds[-1] - 1
            # The deadlines' alerts came once each, whatever run was current.
            kinds = [a.kind for a in n.alerts(case_id)]
            assert kinds.count(AlertKind.ACCEPT_BREACH) == 1
            assert kinds.count(AlertKind.REPORT_BREACH) == 1

            # After three days, an acceptance still works, and the record agrees.
            await n.accept(case_id, alice)
            view = await n.agrees(case_id)
            assert (view.status, view.holder) == (CaseStatus.ACCEPTED, alice.id)
            assert view.round in (rounds[-1], rounds[-1] + 1)  # in a round, or its pause
            assert n.case(case_id).accepted_at is not None

    asyncio.run(scenario())


def test_a_write_that_keeps_failing_waits_for_its_next_attempt_on_a_workflow_timer(
    database_url: str,
) -> None:
    on_sqlite_only(database_url, "how a retry waits is Temporal's; the failing write is any case's")

    async def scenario() -> None:
        async with night(database_url) as n:
            region = seed_region(n.sessions)
            alice = region.experts["alice"]
            with n.sessions.begin() as s:  # billing cannot price the read: its write fails
                s.execute(delete(Tariff).where(Tariff.site_id == region.site_id))
            case_id = await n.request(region, Priority.URGENT)
            await n.offers_made(case_id, 1)
            await n.accept(case_id, alice)
            await n.report(case_id, alice)
            await n.sleep(40 * SECOND)  # its six attempts, 31 s of waits between them

            # Between attempts the workflow waited on timers (2, 4, 8, 16 s of backoff), its
            # workflow task completed: it answered updates meanwhile, and a worker stopping
            # did not wait for the attempts to run out.
            async def backoffs() -> list[timedelta]:
                history = await n.handle(case_id).fetch_history()
                return [
                    e.timer_started_event_attributes.start_to_fire_timeout.ToTimedelta()
                    for e in history.events
                    if e.event_type == EventType.EVENT_TYPE_TIMER_STARTED
                    and e.timer_started_event_attributes.start_to_fire_timeout.ToTimedelta()
                    < MINUTE
                ]

            expected = [timedelta(seconds=s) for s in (2, 4, 8, 16)]
            await n.quiet()
            assert await backoffs() == expected

    asyncio.run(scenario())
