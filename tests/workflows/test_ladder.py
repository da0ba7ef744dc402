"""The escalation ladder on the time-skipping server: each step, its timeout, and again."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from garde.domain import AlertKind, CaseStatus, OfferStatus, Priority
from tests.workflows.harness import night, seed_region

MINUTE = timedelta(minutes=1)


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
            await n.eventually(lambda: n.sms_to(alice, "Reply YES"), "the offer SMS")

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
            await n.eventually(lambda: n.sms_to(region.coordinator, "unassigned"), "the alert")
            alerts = n.alerts(case_id)
            assert [a.kind for a in alerts] == [AlertKind.UNASSIGNED]
            assert alerts[0].resolved_at is None

            # And after a pause, from the top again.
            await n.sleep(MINUTE + timedelta(seconds=1))
            offers = await n.offers_made(case_id, 5)
            assert (offers[4].expert_id, offers[4].step, offers[4].round) == (
                alice.id,
                "primary",
                2,
            )
            view = await n.settled(case_id)
            assert view.status == CaseStatus.OFFERED
            assert n.case(case_id).status == CaseStatus.OFFERED

    asyncio.run(scenario())
