"""An action sent to a case is decided once, in the database: admitted by the worker that takes
it (in time by its `not_after`), or given up by the web first (garde/admission.py). The
scenarios send updates as the web does, with an id and a `not_after`."""

from __future__ import annotations

import asyncio
import dataclasses
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from garde.admission import admit, give_up
from garde.domain import CaseStatus, Priority, ReportKind
from garde.messages import Acceptance, Release, ReportDraft, ReportFiled
from garde.models import CaseUpdate
from tests.workflows.harness import Night, Person, night, seed_region

SOON = timedelta(seconds=15)


def test_an_action_in_time_is_admitted_once_and_applied(database_url: str) -> None:
    async def scenario() -> None:
        async with night(database_url) as n:
            region = seed_region(n.sessions, primary=("alice",), backup=("bruno",))
            alice = region.experts["alice"]
            case_id = await n.request(region, Priority.URGENT)
            await n.offers_made(case_id, 1)
            await send(n, case_id, "accept", Acceptance(alice.id))
            await send(n, case_id, "release", Release(alice.id))
            await n.offers_made(case_id, 2)
            view = await n.agrees(case_id)
            assert view.holder is None
            assert list(verdicts(n, case_id).values()) == [True, True]
            await n.record_history(case_id, "admitted_release")

    asyncio.run(scenario())


def test_an_action_the_web_gave_up_on_is_never_applied(database_url: str) -> None:
    """The web stopped waiting and told the user nothing was changed before any worker took
    the update: the worker that takes it later, even in time, refuses it."""

    async def scenario() -> None:
        async with night(database_url) as n:
            region = seed_region(n.sessions)
            alice = region.experts["alice"]
            case_id = await n.request(region, Priority.URGENT)
            await n.offers_made(case_id, 1)
            update_id = secrets.token_hex(16)
            with n.sessions.begin() as s:
                assert give_up(s, case_id, update_id, datetime.now(UTC)) is False
            refusal = await n.refused(send(n, case_id, "accept", Acceptance(alice.id), update_id))
            assert refusal.type == "Stale"
            view = await n.agrees(case_id)
            assert (view.status, view.holder) == (CaseStatus.OFFERED, None)
            assert n.case(case_id).assigned_expert_id is None
            assert verdicts(n, case_id) == {update_id: False}

    asyncio.run(scenario())


def test_an_action_past_its_deadline_is_refused_and_the_refusal_kept(database_url: str) -> None:
    """No web gave up on it (one that died, say), but its `not_after` is past: refused, and
    the refusal is stored, so no other worker judges it otherwise."""

    async def scenario() -> None:
        async with night(database_url) as n:
            alice, case_id = await held_by_alice(n)
            draft = ReportDraft(alice.id, ReportKind.FINAL, "Findings.", "Impression.")
            late = datetime.now(UTC) - timedelta(seconds=1)
            filing = send(n, case_id, "file_report", draft, not_after=late)
            refusal = await n.refused(filing)
            assert refusal.type == "Stale"
            assert n.reports(case_id) == []
            view = await n.agrees(case_id)
            assert view.status == CaseStatus.ACCEPTED
            assert list(verdicts(n, case_id).values()) == [False]
            # The expert sends it again, in time: filed.
            filed = await send(n, case_id, "file_report", draft)
            assert filed.status == CaseStatus.FINAL
            assert [r.kind for r in n.reports(case_id)] == [ReportKind.FINAL]

    asyncio.run(scenario())


def test_an_action_a_worker_admitted_before_dying_is_applied_even_past_its_deadline(
    database_url: str,
) -> None:
    """A worker admitted the update (its row says so) and died before Temporal heard: the
    next worker, taking it past its `not_after`, goes on with it."""

    async def scenario() -> None:
        async with night(database_url) as n:
            alice, case_id = await held_by_alice(n)
            update_id = secrets.token_hex(16)
            late = datetime.now(UTC) - timedelta(seconds=1)
            with n.sessions.begin() as s:
                assert admit(s, case_id, update_id, late + SOON, late) is True
            draft = ReportDraft(alice.id, ReportKind.FINAL, "Findings.", "Impression.")
            filed = await send(n, case_id, "file_report", draft, update_id, late)
            assert filed.status == CaseStatus.FINAL
            assert [r.kind for r in n.reports(case_id)] == [ReportKind.FINAL]

    asyncio.run(scenario())


async def held_by_alice(n: Night) -> tuple[Person, int]:
    """A case alice accepted (with no deadline: nothing to admit)."""
    region = seed_region(n.sessions)
    alice = region.experts["alice"]
    case_id = await n.request(region, Priority.URGENT)
    await n.offers_made(case_id, 1)
    await n.accept(case_id, alice)
    return alice, case_id


async def send(
    n: Night,
    case_id: int,
    name: str,
    arg: Any,
    update_id: str | None = None,
    not_after: datetime | None = None,
) -> Any:
    """An update as the web sends it: its own id, and a deadline (in 15 s unless given)."""
    arg = dataclasses.replace(arg, not_after=not_after or datetime.now(UTC) + SOON)
    return await n.handle(case_id).execute_update(
        name,
        arg,
        id=update_id or secrets.token_hex(16),
        result_type=ReportFiled if name == "file_report" else None,
    )


def verdicts(n: Night, case_id: int) -> dict[str, bool]:
    with n.sessions() as s:
        rows = s.execute(
            select(CaseUpdate.update_id, CaseUpdate.admitted).where(CaseUpdate.case_id == case_id)
        )
        return {update_id: admitted for update_id, admitted in rows}
