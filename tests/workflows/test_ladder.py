"""The escalation ladder on the time-skipping server: each step, its timeout, and again."""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from datetime import timedelta

from sqlalchemy import delete

from garde.domain import AlertKind, CaseStatus, OfferStatus, Priority
from garde.models import CaseEvent
from garde.temporal import start_case_workflow
from tests.workflows.harness import night, seed_region

MINUTE = timedelta(minutes=1)
SECOND = timedelta(seconds=1)


def test_unanswered_urgent_case_climbs_the_whole_ladder_then_starts_again(
    database_url: str,
) -> None:
    async def scenario() -> None:
        async with night(database_url) as n:
            region = seed_region(n.sessions, primary=("alice",), backup=("bruno",))
            alice, bruno = region.experts["alice"], region.experts["bruno"]
            case_id = await n.request(region, Priority.URGENT)

            first = await n.offers_made(case_id, 1)
            assert [(o.expert_id, o.step) for o in first] == [(alice.id, "primary")]
            await n.eventually(lambda: n.sms_to(alice, "Répondez OUI"), "the offer SMS")

            # Just before the five minutes nothing moves; just after, the backup is asked.
            await n.sleep(5 * MINUTE - timedelta(seconds=5))
            await asyncio.sleep(0.5)
            assert len(n.offers(case_id)) == 1
            await n.sleep(timedelta(seconds=6))
            offers = await n.offers_made(case_id, 2)
            assert offers[0].status == OfferStatus.EXPIRED
            assert (offers[1].expert_id, offers[1].step) == (bruno.id, "backup")

            # Then everyone at once.
            await n.sleep(5 * MINUTE)
            offers = await n.offers_made(case_id, 4)
            assert {(o.expert_id, o.step) for o in offers[2:]} == {
                (alice.id, "broadcast"),
                (bruno.id, "broadcast"),
            }

            # Then the coordinators, by SMS and on the board.
            await n.sleep(5 * MINUTE)
            await n.eventually(
                lambda: n.sms_to(region.coordinator, "toujours sans expert"), "the alert"
            )
            alerts = n.alerts(case_id)
            assert [a.kind for a in alerts] == [AlertKind.UNASSIGNED]
            assert alerts[0].resolved_at is None

            # And after a pause, again: with the accept deadline (20 min) too close for one
            # expert at a time, everyone is asked at once.
            await n.sleep(MINUTE + timedelta(seconds=1))
            offers = await n.offers_made(case_id, 6)
            assert {(o.expert_id, o.step, o.round) for o in offers[4:]} == {
                (alice.id, "broadcast", 2),
                (bruno.id, "broadcast", 2),
            }
            view = await n.settled(case_id)
            assert view.status == CaseStatus.OFFERED
            assert n.case(case_id).status == CaseStatus.OFFERED

            # The second round ends with the coordinators alerted again: another alert row
            # (on the board beside the first) and another SMS.
            await n.sleep(5 * MINUTE + 5 * SECOND)
            unassigned = await n.alerts_raised(case_id, AlertKind.UNASSIGNED, 2)
            assert len(unassigned) == 2
            assert len({a.key for a in unassigned}) == 2
            assert all(a.resolved_at is None for a in unassigned)
            assert len(await n.sms_seen(region.coordinator, "toujours sans expert", 2)) == 2
            rounds = [(o.round, o.step) for o in n.offers(case_id)]
            assert rounds.count((2, "broadcast")) == 2
            # ... and waits out the pause before round 3.
            view = await n.agrees(case_id)
            assert (view.status, view.round) == (CaseStatus.REQUESTED, 3)
            await n.record_history(case_id, "coordinator_alert")

    asyncio.run(scenario())


def test_second_primary_is_asked_after_the_first_and_before_the_backup(
    database_url: str,
) -> None:
    async def scenario() -> None:
        async with night(database_url) as n:
            region = seed_region(n.sessions, primary=("alice", "carla"), backup=("bruno",))
            alice, bruno, carla = (region.experts[x] for x in ("alice", "bruno", "carla"))
            # Alice already holds a case: with one case less, Carla ranks first.
            busy = await n.request(region, Priority.URGENT)
            await n.offers_made(busy, 1)
            await n.accept(busy, alice)
            await n.agrees(busy)

            case_id = await n.request(region, Priority.URGENT)
            offers = await n.offers_made(case_id, 1)
            assert [(o.expert_id, o.step, o.why["rank"]) for o in offers] == [
                (carla.id, "primary", 1)
            ]
            await n.sleep(5 * MINUTE - 5 * SECOND)
            await n.quiet()
            assert len(n.offers(case_id)) == 1

            await n.sleep(6 * SECOND)
            offers = await n.offers_made(case_id, 2)
            assert offers[0].status == OfferStatus.EXPIRED
            assert (offers[1].expert_id, offers[1].step) == (alice.id, "primary")
            assert offers[1].why["load"] == 1
            await n.sleep(5 * MINUTE - 5 * SECOND)
            await n.quiet()
            assert len(n.offers(case_id)) == 2

            await n.sleep(6 * SECOND)
            offers = await n.offers_made(case_id, 3)
            assert offers[1].status == OfferStatus.EXPIRED
            assert (offers[2].expert_id, offers[2].step) == (bruno.id, "backup")
            await n.offers_in_hand(case_id, [offers[2].id])

    asyncio.run(scenario())


def test_rounds_start_again_after_a_pause_of_1_2_4_8_then_at_most_15_minutes(
    database_url: str,
) -> None:
    async def scenario() -> None:
        async with night(database_url) as n:
            # The site's own ladder and offer timeout for urgent cases: all at once, one minute.
            region = seed_region(
                n.sessions,
                primary=("alice",),
                backup=("bruno",),
                service_levels={
                    "urgent": {
                        "offer_timeout_s": 60,
                        "accept_within_s": 3 * 3600,
                        "report_within_s": 6 * 3600,
                    }
                },
                escalation={"urgent": ["broadcast", "coordinator"]},
            )
            case_id = await n.request(region, Priority.URGENT)
            first = await n.offers_made(case_id, 2)
            start = first[0].sent_at
            # Round r + 1 begins one offer timeout and one pause after round r.
            pauses = [1, 2, 4, 8, 15, 15]
            await n.sleep_until(start + sum((MINUTE + p * MINUTE for p in pauses), 5 * SECOND))
            offers = await n.offers_made(case_id, 2 * (len(pauses) + 1))

            by_round: dict[int, list[int]] = {}
            sent: dict[int, list[float]] = {}
            for o in offers:
                assert o.step == "broadcast"
                assert (o.expires_at - o.sent_at).total_seconds() == 60
                by_round.setdefault(o.round, []).append(o.expert_id)
                sent.setdefault(o.round, []).append(o.sent_at.timestamp())
            assert list(by_round) == list(range(1, len(pauses) + 2))
            assert all(
                sorted(ids) == sorted(e.id for e in region.experts.values())
                for ids in by_round.values()
            )
            gaps = [min(sent[r + 1]) - min(sent[r]) for r in range(1, len(pauses) + 1)]
            assert [round((g - 60) / 60) for g in gaps] == pauses, gaps
            assert all(abs(g - 60 - p * 60) < 5 for g, p in zip(gaps, pauses, strict=True)), gaps

            # The coordinators were alerted at the end of every round before the last one:
            # one alert and one SMS each.
            unassigned = await n.alerts_raised(case_id, AlertKind.UNASSIGNED, len(pauses))
            assert len(unassigned) == len(pauses)
            assert len(n.sms_to(region.coordinator, "toujours sans expert")) == len(pauses)
            await n.agrees(case_id)

    asyncio.run(scenario())


def test_site_ladder_and_service_levels_are_followed_per_priority(database_url: str) -> None:
    async def scenario() -> None:
        async with night(database_url) as n:
            # Stat cases of this site go to the backup tier first, for two minutes, then the
            # coordinators; urgent cases keep the defaults.
            region = seed_region(
                n.sessions,
                primary=("alice",),
                backup=("bruno",),
                service_levels={
                    "stat": {
                        "offer_timeout_s": 120,
                        "accept_within_s": 600,
                        "report_within_s": 1800,
                    }
                },
                escalation={"stat": ["backup", "coordinator"]},
            )
            alice, bruno = region.experts["alice"], region.experts["bruno"]
            stat = await n.request(region, Priority.STAT)
            urgent = await n.request(region, Priority.URGENT)

            stat_case, urgent_case = n.case(stat), n.case(urgent)
            assert (stat_case.offer_timeout_s, stat_case.accept_within_s) == (120, 600)
            assert stat_case.report_within_s == 1800
            assert stat_case.escalation == ["backup", "coordinator"]
            assert (urgent_case.offer_timeout_s, urgent_case.accept_within_s) == (300, 1200)
            assert urgent_case.escalation == ["primary", "backup", "broadcast", "coordinator"]

            [stat_offer] = await n.offers_made(stat, 1)
            assert (stat_offer.expert_id, stat_offer.step) == (bruno.id, "backup")
            assert (stat_offer.expires_at - stat_offer.sent_at).total_seconds() == 120
            [urgent_offer] = await n.offers_made(urgent, 1)
            assert (urgent_offer.expert_id, urgent_offer.step) == (alice.id, "primary")
            assert (urgent_offer.expires_at - urgent_offer.sent_at).total_seconds() == 300

            # After the stat case's two minutes: no other tier, straight to the coordinators.
            await n.sleep_until(stat_offer.sent_at + 2 * MINUTE - 5 * SECOND)
            await n.quiet()
            assert n.alerts(stat) == []
            await n.sleep_until(stat_offer.sent_at + 2 * MINUTE + 5 * SECOND)
            [alert] = await n.alerts_raised(stat, AlertKind.UNASSIGNED)
            assert [(o.expert_id, o.step) for o in n.offers(stat)] == [(bruno.id, "backup")]
            assert n.offers(stat)[0].status == OfferStatus.EXPIRED
            # Meanwhile the urgent case still waits for Alice's answer.
            assert [o.status for o in n.offers(urgent)] == [OfferStatus.OPEN]
            assert n.alerts(urgent) == []
            await n.agrees(stat)
            await n.agrees(urgent)

    asyncio.run(scenario())


def test_the_last_offer_window_before_the_accept_deadline_goes_to_everyone(
    database_url: str,
) -> None:
    """Stat: 3-minute offers, accepted within 10. Three primaries one at a time would end at
    9 minutes; the third window is the broadcast's, so someone may still accept in time."""

    async def scenario() -> None:
        async with night(database_url) as n:
            region = seed_region(n.sessions, primary=("alice", "carla", "dora"), backup=())
            case_id = await n.request(region, Priority.STAT)
            await n.offers_made(case_id, 1)
            await n.sleep(3 * MINUTE + SECOND)
            offers = await n.offers_made(case_id, 2)
            assert [o.step for o in offers] == ["primary", "primary"]
            await n.sleep(3 * MINUTE + SECOND)
            offers = await n.offers_made(case_id, 5)
            assert [o.step for o in offers[2:]] == ["broadcast"] * 3
            assert offers[2].sent_at - offers[0].sent_at < timedelta(minutes=7)
            broadcast = offers[2:]
            third = next(
                o for o in broadcast if o.expert_id not in {x.expert_id for x in offers[:2]}
            )
            await n.accept(
                case_id, next(p for p in region.experts.values() if p.id == third.expert_id)
            )
            view = await n.agrees(case_id)
            assert view.holder == third.expert_id
            assert n.case(case_id).accepted_at - n.case(case_id).requested_at < timedelta(
                minutes=10
            )

    asyncio.run(scenario())


def test_a_new_case_reaches_its_first_offer_sms_in_two_steps(database_url: str) -> None:
    """The intake records the case with its first timeline entry, and the offers are opened
    in the transaction of the record saying so: from its start, the workflow reads the
    candidates, opens the offers and sends the SMS (bench/README.md, "Profile")."""

    async def scenario() -> None:
        async with night(database_url) as n:
            region = seed_region(n.sessions, primary=("alice",))
            alice = region.experts["alice"]
            case_id = await n.request(region)
            await n.texted_offer(case_id, alice)

            history = await n.handle(case_id).fetch_history()
            steps = []
            for event in history.events:
                marker = event.marker_recorded_event_attributes
                if marker.marker_name == "core_local_activity":
                    steps.append(json.loads(marker.details["data"].payloads[0].data))
                scheduled = event.activity_task_scheduled_event_attributes
                if scheduled.activity_type.name == "send_offer_sms":
                    break
            assert [s["activity_type"] for s in steps] == ["find_candidates", "open_offers"]

            # The record and its timeline say the same as before: requested, then offered.
            view = await n.settled(case_id)
            assert (view.status, view.seq, n.case(case_id).status) == (
                CaseStatus.OFFERED,
                1,
                CaseStatus.OFFERED,
            )
            timeline = [(e.seq, e.status, e.expert_id) for e in n.events(case_id)]
            assert timeline == [
                (0, CaseStatus.REQUESTED, None),
                (1, CaseStatus.OFFERED, alice.id),
            ]

    asyncio.run(scenario())


def test_a_case_recorded_without_its_first_entry_has_it_from_its_workflow(
    database_url: str,
) -> None:
    """A case recorded before intakes wrote the first timeline entry (started by the
    reconciler after an upgrade) is not left without it."""

    async def scenario() -> None:
        async with night(database_url) as n:
            region = seed_region(n.sessions, primary=("alice",))
            start = await n.record(region)
            with n.sessions.begin() as s:
                s.execute(delete(CaseEvent).where(CaseEvent.case_id == start.case_id))
            await start_case_workflow(n.client, replace(start, first_entry_recorded=False))
            await n.texted_offer(start.case_id, region.experts["alice"])
            statuses = [(e.seq, e.status) for e in n.events(start.case_id)]
            assert statuses == [(1, CaseStatus.REQUESTED), (2, CaseStatus.OFFERED)]

    asyncio.run(scenario())
