"""An acceptance or a reassignment that arrives twice is applied once. A web app whose update
got no answer in time (the case's worker was killed: tests/test_scale_out.py) answers 503, and
its caller sends it again: both may reach the workflow together."""

from __future__ import annotations

import asyncio

import pytest

from garde.domain import CaseStatus, EventKind, Priority
from garde.messages import Reassignment
from tests.conftest import on_sqlite_only
from tests.workflows.harness import Night, Person, night, seed_region


@pytest.fixture(autouse=True)
def _once(database_url: str) -> None:
    on_sqlite_only(
        database_url,
        "the workflow's guard; a case taken once is checked on both databases by tests/test_races.py",
    )


def test_the_same_acceptance_twice_at_once_takes_the_case_once(database_url: str) -> None:
    async def scenario() -> None:
        async with night(database_url) as n:
            region = seed_region(n.sessions)
            alice = region.experts["alice"]
            case_id = await n.request(region, Priority.URGENT)
            await n.offers_made(case_id, 1)

            await asyncio.gather(n.accept(case_id, alice), n.accept(case_id, alice))
            view = await n.settled(case_id)
            assert (view.status, view.holder) == (CaseStatus.ACCEPTED, alice.id)
            taken = [e for e in n.events(case_id) if e.status == CaseStatus.ACCEPTED]
            assert len(taken) == 1
            # The site's callback phone hears it once.
            told = f"cas {case_id} (CT) accepté par"
            await n.eventually(
                lambda: [m for m in n.twilio.messages if told in m.body], "the site's SMS"
            )
            await n.quiet()
            assert len([m for m in n.twilio.messages if told in m.body]) == 1

    asyncio.run(scenario())


def test_the_same_reassignment_twice_at_once_moves_the_case_once(database_url: str) -> None:
    async def scenario() -> None:
        async with night(database_url) as n:
            region = seed_region(n.sessions, primary=("alice",), backup=("bruno",))
            alice, bruno = region.experts["alice"], region.experts["bruno"]
            case_id = await n.request(region, Priority.URGENT)
            await n.offers_made(case_id, 1)
            await n.accept(case_id, alice)

            change = Reassignment(bruno.id, "coord-1", "Alice is unwell")
            handle = n.handle(case_id)
            await asyncio.gather(
                handle.execute_update("reassign", change), handle.execute_update("reassign", change)
            )
            view = await n.settled(case_id)
            assert (view.status, view.holder) == (CaseStatus.ACCEPTED, bruno.id)
            moved = [e for e in n.events(case_id) if e.kind == EventKind.REASSIGNED]
            assert len(moved) == 1
            # Alice hears she lost it, Bruno that it is his: once each, and Bruno nothing else.
            await n.sms_seen(bruno, "est à vous")
            await n.quiet()
            assert _texts(n, alice, "a été réattribué") == 1
            assert _texts(n, bruno, "est à vous") == 1
            assert _texts(n, bruno, "a été réattribué") == 0

    asyncio.run(scenario())


def _texts(n: Night, person: Person, containing: str) -> int:
    return len(n.sms_to(person, containing))


def test_a_yes_by_sms_racing_the_same_experts_web_acceptance_is_not_told_taken(
    database_url: str,
) -> None:
    """Alice accepts on the web and answers YES by SMS at once: the case is hers, and she is
    never told it is 'already taken or closed'."""

    async def scenario() -> None:
        async with night(database_url) as n:
            region = seed_region(n.sessions)
            alice = region.experts["alice"]
            case_id = await n.request(region, Priority.URGENT)
            [offer] = await n.offers_made(case_id, 1)

            await asyncio.gather(n.accept(case_id, alice), n.answer_sms(case_id, offer, True))
            view = await n.settled(case_id)
            assert (view.status, view.holder) == (CaseStatus.ACCEPTED, alice.id)
            await n.quiet()
            assert _texts(n, alice, "déjà pris ou clos") == 0

    asyncio.run(scenario())
