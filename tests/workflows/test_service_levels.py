"""The case's promise: the reminder at 75% of the report deadline, breach alerts, and a
priority change that moves every deadline and the offer timeout."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from garde.domain import AlertKind, CaseStatus, EventKind, OfferStatus, Priority
from garde.messages import PriorityChange
from garde.service_levels import DEFAULT_LADDER, ServiceLevel
from tests.workflows.harness import night, seed_region

MINUTE = timedelta(minutes=1)
SECOND = timedelta(seconds=1)


def test_holder_is_reminded_at_75_percent_then_the_report_breach_alerts_the_coordinators(
    database_url: str,
) -> None:
    async def scenario() -> None:
        async with night(database_url) as n:
            region = seed_region(n.sessions)
            alice = region.experts["alice"]
            case_id = await n.request(region, Priority.URGENT)  # report within 60 minutes
            await n.offers_made(case_id, 1)
            await n.accept(case_id, alice)
            requested = n.case(case_id).requested_at

            # Not before 45 minutes...
            await n.sleep_until(requested + 45 * MINUTE - 10 * SECOND)
            await n.quiet()
            assert n.sms_to(alice, "attendu avant") == []
            # ... at 45 minutes.
            await n.sleep_until(requested + 45 * MINUTE + 5 * SECOND)
            await n.sms_seen(alice, "attendu avant")
            reminder = await n.event_seen(case_id, EventKind.REMINDER_SENT)
            assert reminder.expert_id == alice.id
            assert n.alerts(case_id) == []

            # At 60 minutes without a final report: recorded and the coordinators alerted.
            await n.sleep_until(requested + 60 * MINUTE - 10 * SECOND)
            await n.quiet()
            assert n.alerts(case_id) == []
            await n.sleep_until(requested + 60 * MINUTE + 5 * SECOND)
            breach = await n.event_seen(case_id, EventKind.SLA_BREACH, "report")
            assert breach.at >= requested + 60 * MINUTE
            [alert] = await n.alerts_raised(case_id, AlertKind.REPORT_BREACH)
            assert alert.resolved_at is None  # a holder does not settle a late report
            await n.sms_seen(region.coordinator, "délai de compte rendu")
            assert len(n.sms_to(alice, "attendu avant")) == 1

            # Accepted in time (the accept deadline was 20 minutes): no accept breach.
            assert not [e for e in n.events(case_id) if e.detail == "accept"]
            assert [a.kind for a in n.alerts(case_id)] == [AlertKind.REPORT_BREACH]
            assert n.sms_to(region.coordinator, "délai d'acceptation") == []
            view = await n.agrees(case_id)
            assert (view.status, view.holder) == (CaseStatus.ACCEPTED, alice.id)

    asyncio.run(scenario())


def test_accept_breach_alerts_the_coordinators_when_nobody_accepts_in_time(
    database_url: str,
) -> None:
    async def scenario() -> None:
        async with night(database_url) as n:
            region = seed_region(n.sessions)
            alice = region.experts["alice"]
            case_id = await n.request(region, Priority.URGENT)  # accept within 20 minutes
            await n.offers_made(case_id, 1)
            requested = n.case(case_id).requested_at

            await n.sleep_until(requested + 20 * MINUTE - 10 * SECOND)
            await n.quiet()
            assert not [e for e in n.events(case_id) if e.kind == EventKind.SLA_BREACH]
            assert [a.kind for a in n.alerts(case_id)] == [AlertKind.UNASSIGNED]

            await n.sleep_until(requested + 20 * MINUTE + 5 * SECOND)
            breach = await n.event_seen(case_id, EventKind.SLA_BREACH, "accept")
            assert breach.at >= requested + 20 * MINUTE
            [alert] = await n.alerts_raised(case_id, AlertKind.ACCEPT_BREACH)
            await n.sms_seen(region.coordinator, "délai d'acceptation")

            # Once someone holds the case, the banner goes.
            await n.accept(case_id, alice)
            await n.agrees(case_id)
            await n.eventually(
                lambda: [a for a in n.alerts(case_id) if a.id == alert.id and a.resolved_at],
                "the accept-breach alert resolved",
            )

    asyncio.run(scenario())


def test_priority_change_moves_the_deadlines_from_the_request_and_the_offer_timeout(
    database_url: str,
) -> None:
    async def scenario() -> None:
        async with night(database_url) as n:
            region = seed_region(n.sessions, primary=("alice",), backup=("bruno",))
            alice, bruno = region.experts["alice"], region.experts["bruno"]
            case_id = await n.request(region, Priority.URGENT)  # offers of 5 min, accept 20
            [first] = await n.offers_made(case_id, 1)
            assert first.expert_id == alice.id
            requested = n.case(case_id).requested_at

            # A minute later the site says it is stat: 3-minute offers, accept within 10.
            await n.sleep(MINUTE)
            stat = ServiceLevel(offer_timeout_s=180, accept_within_s=600, report_within_s=1800)
            await n.handle(case_id).execute_update(
                "change_priority",
                PriorityChange(Priority.STAT, stat, list(DEFAULT_LADDER), "coord-1"),
            )
            await n.agrees(case_id)
            case = n.case(case_id)
            assert case.priority == Priority.STAT
            assert (case.offer_timeout_s, case.accept_within_s, case.report_within_s) == (
                180,
                600,
                1800,
            )
            assert case.requested_at == requested
            event = await n.event_seen(case_id, EventKind.PRIORITY_CHANGED)
            assert event.detail == "urgent to stat by coord-1"

            # Alice's offer now lasts three minutes from when it was sent, not five.
            await n.sleep_until(first.sent_at + 3 * MINUTE - 10 * SECOND)
            await n.quiet()
            assert len(n.offers(case_id)) == 1
            await n.sleep_until(first.sent_at + 3 * MINUTE + 5 * SECOND)
            offers = await n.offers_made(case_id, 2)
            assert offers[0].status == OfferStatus.EXPIRED
            assert (offers[1].expert_id, offers[1].step) == (bruno.id, "backup")
            assert (offers[1].expires_at - offers[1].sent_at).total_seconds() == 180

            # The accept deadline is now 10 minutes after the request, not 20.
            await n.sleep_until(requested + 10 * MINUTE - 10 * SECOND)
            await n.quiet()
            assert not [e for e in n.events(case_id) if e.kind == EventKind.SLA_BREACH]
            await n.sleep_until(requested + 10 * MINUTE + 5 * SECOND)
            breach = await n.event_seen(case_id, EventKind.SLA_BREACH, "accept")
            assert requested + 10 * MINUTE <= breach.at < requested + 11 * MINUTE
            await n.alerts_raised(case_id, AlertKind.ACCEPT_BREACH)
            await n.agrees(case_id)

    asyncio.run(scenario())


def test_a_case_requested_late_in_the_night_has_its_whole_promise(database_url: str) -> None:
    """Requested hours into the night, a case counts its deadlines from its request, on the
    workflows' clock: no deadline is due at birth. (The harness requests cases at the
    server's time; at the machine's, a case came behind the skipped clock with its
    deadlines passed, and its report deadline raced its report.)"""

    async def scenario() -> None:
        async with night(database_url) as n:
            region = seed_region(n.sessions)
            await n.sleep(timedelta(hours=3))
            case_id = await n.request(region, Priority.URGENT)  # accept within 20 minutes
            await n.offers_made(case_id, 1)
            await n.quiet()
            requested = n.case(case_id).requested_at
            assert abs(requested - await n.now()) < 10 * SECOND
            assert n.alerts(case_id) == []
            assert not [e for e in n.events(case_id) if e.kind == EventKind.SLA_BREACH]

    asyncio.run(scenario())
